/* SPDX-License-Identifier: MIT */
/*
 * Stopping and resuming the application's threads.
 *
 * The checkpoint thread lists /proc/self/task, records for each thread the
 * system call it is blocked in (/proc/self/task/T/syscall), and sends it the
 * suspend signal.  The handler saves a resume point (crest_ctx_save) and
 * waits on a futex until the suspension's epoch is resumed.  At restart the
 * recreated threads jump to that resume point and wait on the same futex,
 * so both paths leave the handler the same way: through rt_sigreturn on the
 * kernel's signal frame, which restores every register, the FPU/AVX state,
 * the signal mask and the alternate stack.
 */
#define LOG_MODULE "suspend"
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "crest.h"
#include "created_record.h"
#include "log.h"
#include "rawsys.h"
#include "vpid.h"

uint64_t crest_now_ns(void)
{
	struct timespec ts;
	raw_syscall2(NR_clock_gettime, CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static struct crest_thread *slot_of(uint32_t tid)
{
	uint32_t n = __atomic_load_n(&crest.nthreads, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; i < n; i++)
		if (crest.threads[i].tid == tid)
			return &crest.threads[i];
	return NULL;
}

/* Blocking calls that return EINTR to the application when our signal
 * interrupts them (they are not restarted by SA_RESTART).  Re-execute them. */
static void restart_interrupted_call(struct crest_thread *t, ucontext_t *uc)
{
	greg_t *g = uc->uc_mcontext.gregs;
	long nr = t->sc_nr;

	t->sc_nr = -1;
	if (g[REG_RAX] != -EINTR)
		return;
	const unsigned char *ip = (const unsigned char *)g[REG_RIP];
	if (ip[-2] != 0x0f || ip[-1] != 0x05)	/* not right after `syscall` */
		return;
	if (nr < 0 || (uint64_t)g[REG_RIP] != t->sc_pc) {
		/* The thread entered the call after /proc was read.  glibc's
		 * wrappers load the number right before: `mov $nr,%eax; syscall`. */
		uintptr_t at = (uintptr_t)ip - 7;
		if ((at >> 12) != (((uintptr_t)ip - 2) >> 12) || ip[-7] != 0xb8)
			return;
		int32_t imm;
		memcpy(&imm, ip - 6, sizeof(imm));
		nr = imm;
	}
	switch (nr) {
	case SYS_nanosleep:
		if (g[REG_RSI])			/* continue with the time left */
			g[REG_RDI] = g[REG_RSI];
		break;
	case SYS_clock_nanosleep:
		if (!(g[REG_RSI] & TIMER_ABSTIME) && g[REG_R10])
			g[REG_RDX] = g[REG_R10];
		break;
	case SYS_pause:
	case SYS_rt_sigsuspend:
	case SYS_poll:
	case SYS_ppoll:
	case SYS_select:
	case SYS_pselect6:
	case SYS_epoll_wait:
	case SYS_epoll_pwait:
	case SYS_rt_sigtimedwait:
		break;
	default:
		return;
	}
	g[REG_RAX] = nr;
	g[REG_RIP] -= 2;
}

/* A thread stopped in wait4/waitid for one pid or group restarts the call
 * with the same registers: after a restart, that pid is another process's.
 * The argument is kept as a virtual pid and turned into the current real
 * one when the thread goes on (the identity when nothing was restarted). */
#define NR_wait4	61
#define NR_waitid	247

static greg_t *pid_arg(ucontext_t *uc)
{
	greg_t *g = uc->uc_mcontext.gregs;
	const unsigned char *ip = (const unsigned char *)g[REG_RIP];
	if (ip[0] != 0x0f || ip[1] != 0x05)	/* not about to issue a system call again */
		return NULL;
	if (g[REG_RAX] == NR_wait4 && (int)g[REG_RDI] != 0 && (int)g[REG_RDI] != -1)
		return &g[REG_RDI];
	if (g[REG_RAX] == NR_waitid && (g[REG_RDI] == P_PID || g[REG_RDI] == P_PGID))
		return &g[REG_RSI];
	return NULL;
}

static int32_t pid_to_virtual(greg_t *arg)
{
	int pid = (int)*arg;
	return pid < 0 ? -crest_real_to_vpid(-pid) : crest_real_to_vpid(pid);
}

static void pid_to_real(greg_t *arg, int32_t vpid)
{
	*arg = vpid < 0 ? -crest_vpid_to_real(-vpid) : crest_vpid_to_real(vpid);
}

static void suspend_handler(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	(void)si;
	int saved_errno = errno;
	uint32_t epoch = __atomic_load_n(&crest.suspend_epoch, __ATOMIC_ACQUIRE);
	ucontext_t *uc = ucv;

	if (epoch == __atomic_load_n(&crest.resume_epoch, __ATOMIC_ACQUIRE))
		goto out;	/* late signal of an aborted suspension */
	uint32_t tid = (uint32_t)raw_syscall0(NR_gettid);
	struct crest_thread *t = slot_of(tid);
	if (!t || t->flags & CREST_THR_DEAD ||
	    epoch != __atomic_load_n(&crest.suspend_epoch, __ATOMIC_ACQUIRE))
		goto out;	/* not (or no longer) part of this suspension */
	t->fs = raw_get_fs();
	t->sigmask = uc->uc_sigmask.__val[0];
	t->epoch = epoch;
	/* this thread's own pending signals, kept with their siginfo */
	t->pending = crest_sig_pending_mask("/proc/thread-self/status", "SigPnd:");
	t->nsigq = t->pending ? crest_sig_take(t->pending, t->sigq, CREST_SIGQ_MAX) : 0;
	crest_sig_requeue(tid, t->sigq, t->nsigq);
	greg_t *parg = pid_arg(uc);
	int32_t vpid = parg ? pid_to_virtual(parg) : 0;
	if (crest_ctx_save(&t->ctx) == 0) {
		__atomic_add_fetch(&crest.nstopped, 1, __ATOMIC_RELEASE);
		raw_futex_wake(&crest.nstopped);
	}
	/* Here both after a checkpoint and in a restored thread. */
	for (;;) {
		uint32_t r = __atomic_load_n(&crest.resume_epoch, __ATOMIC_ACQUIRE);
		if (r == epoch)
			break;
		raw_futex_wait(&crest.resume_epoch, r);
	}
	if (parg)
		pid_to_real(parg, vpid);
	restart_interrupted_call(t, uc);
out:
	errno = saved_errno;
}

/* libc's sigaction, resolved once at start: ours refuses crest's signal */
static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);

int crest_suspend_install(void)
{
	if (!real_sigaction)
		real_sigaction = dlsym(RTLD_NEXT, "sigaction");
	if (!real_sigaction)
		return -ENOSYS;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = suspend_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigfillset(&sa.sa_mask);
	if (real_sigaction(crest.sig, &sa, NULL) < 0)
		return -errno;
	return 0;
}

/* Reads a small /proc file into buf with open/read: no malloc. */
static int read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n, got = 0;
	while ((size_t)got < size - 1 && (n = read(fd, buf + got, size - 1 - got)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -errno;
		}
		got += n;
	}
	buf[got] = 0;
	close(fd);
	return (int)got;
}

static void record_syscall(struct crest_thread *t)
{
	char path[64], buf[512];
	t->sc_nr = -1;
	snprintf(path, sizeof(path), "/proc/self/task/%u/syscall", t->tid);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return;
	if (!strncmp(buf, "running", 7))
		return;
	char *p = buf;
	long nr = strtol(p, &p, 10);
	if (nr < 0)
		return;
	for (int i = 0; i < 6; i++)
		t->sc_args[i] = (long)strtoul(p, &p, 16);
	t->sc_sp = strtoull(p, &p, 16);
	t->sc_pc = strtoull(p, &p, 16);
	t->sc_nr = nr;
}

static void record_name(struct crest_thread *t)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%u/comm", t->tid);
	int n = read_small(path, t->name, sizeof(t->name));
	if (n > 0 && t->name[n - 1] == '\n')
		t->name[n - 1] = 0;
}

/* Adds every thread not yet listed and signals it.  Returns how many new. */
static int signal_new_threads(char *err, size_t errlen)
{
	char buf[4096];
	int added = 0;
	int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot list /proc/self/task: %s", strerrordesc_np(errno));
		return -errno;
	}
	for (;;) {
		long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			off += d->d_reclen;
			if (d->d_name[0] < '0' || d->d_name[0] > '9')
				continue;
			uint32_t tid = (uint32_t)strtoul(d->d_name, NULL, 10);
			if (tid == crest.ckpt_tid || slot_of(tid))
				continue;
			uint32_t i = crest.nthreads;
			if (i >= CREST_MAX_THREADS) {
				close(fd);
				snprintf(err, errlen, "more than %d threads", CREST_MAX_THREADS);
				return -E2BIG;
			}
			struct crest_thread *t = &crest.threads[i];
			memset(t, 0, sizeof(*t));
			t->tid = tid;
			t->flags = tid == (uint32_t)crest.pid ? CREST_THR_MAIN : 0;
			record_syscall(t);
			record_name(t);
			__atomic_store_n(&crest.nthreads, i + 1, __ATOMIC_RELEASE);
			if (raw_syscall3(NR_tgkill, crest.pid, tid, crest.sig) < 0) {
				/* exited meanwhile: forget it */
				__atomic_store_n(&crest.nthreads, i, __ATOMIC_RELEASE);
				continue;
			}
			added++;
		}
	}
	close(fd);
	return added;
}

/* alive and not a zombie leader (main() called pthread_exit) */
static bool thread_alive(uint32_t tid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/self/task/%u/stat", tid);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return false;
	const char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static void describe_stuck(char *err, size_t errlen, uint32_t timeout_ms)
{
	size_t off = snprintf(err, errlen, "threads did not stop within %u ms:", timeout_ms);
	for (uint32_t i = 0; i < crest.nthreads && off < errlen; i++) {
		struct crest_thread *t = &crest.threads[i];
		if (t->epoch == crest.suspend_epoch || t->flags & CREST_THR_DEAD)
			continue;
		char path[64], wchan[64] = "?", sc[64] = "?";
		snprintf(path, sizeof(path), "/proc/self/task/%u/wchan", t->tid);
		read_small(path, wchan, sizeof(wchan));
		snprintf(path, sizeof(path), "/proc/self/task/%u/syscall", t->tid);
		read_small(path, sc, sizeof(sc));
		char *sp = strchr(sc, ' ');
		if (sp)
			*sp = 0;
		off += snprintf(err + off, errlen - off, " tid %u (%s, syscall %s, waiting in %s)",
				t->tid, t->name, sc, wchan);
	}
	if (off < errlen)
		snprintf(err + off, errlen - off,
			 "; a thread in an uninterruptible system call (e.g. I/O on a hung file system) "
			 "cannot be stopped; the application keeps running");
}

int crest_suspend_all(uint32_t timeout_ms, char *err, size_t errlen)
{
	uint64_t deadline = crest_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	crest.nthreads = 0;
	crest.nstopped = 0;
	crest.ckpt_tid = (uint32_t)raw_syscall0(NR_gettid);
	__atomic_add_fetch(&crest.suspend_epoch, 1, __ATOMIC_ACQ_REL);
	crest.stopped_at_ns = crest_now_ns();

	for (;;) {
		int added = signal_new_threads(err, errlen);
		if (added < 0)
			goto fail;
		uint32_t stopped = __atomic_load_n(&crest.nstopped, __ATOMIC_ACQUIRE);
		if (stopped == crest.nthreads) {
			/* all listed threads are stopped: a final listing finds no new one */
			added = signal_new_threads(err, errlen);
			if (added < 0)
				goto fail;
			if (added == 0 && __atomic_load_n(&crest.nstopped, __ATOMIC_ACQUIRE) == crest.nthreads)
				return 0;
			continue;
		}
		/* threads that exited before stopping: counted as stopped and marked
		 * dead (tid 0), never moved, since a handler may be using its slot */
		for (uint32_t i = 0; i < crest.nthreads; i++) {
			struct crest_thread *t = &crest.threads[i];
			if (t->tid && t->epoch != crest.suspend_epoch && !thread_alive(t->tid)) {
				t->flags |= CREST_THR_DEAD;
				__atomic_add_fetch(&crest.nstopped, 1, __ATOMIC_RELEASE);
			}
		}
		if (crest_now_ns() > deadline) {
			describe_stuck(err, errlen, timeout_ms);
			errno = ETIMEDOUT;
			goto fail;
		}
		struct timespec ts = { 0, 5 * 1000000 };
		syscall(SYS_futex, &crest.nstopped, 128 /* FUTEX_WAIT_PRIVATE */, stopped, &ts);
	}
fail:
	crest_resume_all();
	return -ETIMEDOUT;
}

void crest_resume_all(void)
{
	__atomic_store_n(&crest.resume_epoch, crest.suspend_epoch, __ATOMIC_RELEASE);
	raw_futex_wake(&crest.resume_epoch);
}

/* The checkpoint lock between exec and the checkpoint thread (Dekker-style,
 * both sides sequentially consistent): exec announces itself, then checks
 * that no checkpoint started; the checkpoint thread announces the checkpoint,
 * then waits for execs in flight to finish (a successful one replaces the
 * process, this thread with it: the coordinator sees the link close). */
static bool lock_take(void)
{
	if (!crest.active || raw_syscall0(NR_getpid) != crest.pid)
		return false;	/* a vfork child shares our memory: not our lock */
	for (;;) {
		while (__atomic_load_n(&crest.ckpt_busy, __ATOMIC_SEQ_CST)) {
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
		}
		__atomic_add_fetch(&crest.exec_count, 1, __ATOMIC_SEQ_CST);
		if (!__atomic_load_n(&crest.ckpt_busy, __ATOMIC_SEQ_CST))
			return true;
		__atomic_sub_fetch(&crest.exec_count, 1, __ATOMIC_SEQ_CST);
	}
}

static void lock_drop(void)
{
	if (crest.active && raw_syscall0(NR_getpid) == crest.pid)
		__atomic_sub_fetch(&crest.exec_count, 1, __ATOMIC_SEQ_CST);
}

void crest_exec_begin(void)
{
	crest_sig_exec(false);	/* a trigger signal the program ignores stays ignored */
	lock_take();
}

void crest_exec_end(void)
{
	crest_sig_exec(true);
	lock_drop();
}

/* The same lock for any call that must not be cut in two by a checkpoint
 * (a file made and its record written: created_record.c), with the
 * thread's cancellation off meanwhile (a thread cancelled inside would
 * keep the lock, and every later checkpoint would wait for it in vain).
 * CREST_NOT_HELD when the lock is not this process's to take (a vfork
 * child shares our memory); else the cancel state to give back. */
int crest_ckpt_hold(void)
{
	int old;
	if (pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old))
		old = PTHREAD_CANCEL_ENABLE;
	if (lock_take())
		return old;
	pthread_setcancelstate(old, NULL);
	return CREST_NOT_HELD;
}

void crest_ckpt_release(int held)
{
	if (held == CREST_NOT_HELD)
		return;
	lock_drop();
	pthread_setcancelstate(held, NULL);
}

void crest_ckpt_busy(bool busy)
{
	__atomic_store_n(&crest.ckpt_busy, busy ? 1u : 0u, __ATOMIC_SEQ_CST);
}

int crest_exec_quiesce(uint32_t timeout_ms)
{
	uint64_t deadline = crest_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	while (__atomic_load_n(&crest.exec_count, __ATOMIC_SEQ_CST)) {
		if (crest_now_ns() > deadline)
			return -EBUSY;
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	return 0;
}
