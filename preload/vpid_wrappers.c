/* SPDX-License-Identifier: MIT */
/*
 * Virtual pids at the libc entry points (the table is vpid_table.c): every
 * pid, tid, process group or session id an application passes in is
 * translated virtual -> real, every one it gets back real -> virtual.  With
 * an empty table (no restart yet) a wrapper is the real call plus one
 * predictable branch.
 *
 * Covered:
 *   getpid getppid gettid getpgrp getpgid setpgid setsid getsid tcgetpgrp
 *   tcsetpgrp tcgetsid kill killpg tgkill sigqueue wait waitpid wait3 wait4
 *   waitid sched_{set,get}affinity sched_{set,get}scheduler
 *   sched_{set,get}param sched_rr_get_interval getpriority setpriority
 *   prlimit prlimit64 pidfd_open process_vm_readv process_vm_writev
 *   clock_getcpuclockid fork posix_spawn posix_spawnp
 *   posix_spawnattr_{set,get}pgroup;
 *   in sig_wrappers.c: si_pid of SA_SIGINFO handlers, sigwaitinfo and
 *   sigtimedwait.
 *
 * Not covered:
 *   - vfork: a C wrapper cannot return twice on a shared stack; a vforked
 *     child sees real pids (it can only exec or _exit anyway).  Nor _Fork,
 *     clone() called directly, or the __fork/__getpid/__wait aliases.
 *   - syscall(SYS_getpid, ...) and other raw system calls.
 *   - /proc/<pid> and /proc/self/task/<tid> paths (to do).
 *   - pids inside other calls: fcntl F_SETOWN/F_GETOWN(_EX), ioctl
 *     TIOCGPGRP/TIOCSPGRP/TIOCGSID, SO_PEERCRED and SCM_CREDENTIALS, ptrace,
 *     capget/capset, signalfd's ssi_pid, /proc readers.
 *   - glibc's own internal calls (system, popen, raise, abort, pthread_kill,
 *     pthread_join, pthread_getcpuclockid ...) use real pids on both sides
 *     and stay consistent; they are not translated.
 *   - the pid of a child a restarted process gets from posix_spawn (or fork
 *     after 100 tries) may equal a virtual pid in use: it is then ambiguous.
 *     The same holds for the tid of a thread created after a restart.
 *   - an exec'd program starts with an empty table: it sees real pids.
 */
#define LOG_MODULE "vpid"
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "rawsys.h"
#include "vpid.h"

#define EXPORT __attribute__((visibility("default")))

/* exec_wrappers.c: the real posix_spawn[p] with libcrest kept in the
 * child's environment */
int crest_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
		const posix_spawnattr_t *attr, char *const argv[], char *const envp[]);
int crest_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
		 const posix_spawnattr_t *attr, char *const argv[], char *const envp[]);

/* what a missing libc function becomes: every wrapped function returns an
 * int or pid_t, -1 with errno on failure */
static long enosys(void)
{
	errno = ENOSYS;
	return -1;
}

static void *resolve(const char *name)
{
	int e = errno;
	void *p = dlsym(RTLD_NEXT, name);
	if (!p) {
		pr_err("libc has no %s; calls to it fail with ENOSYS", name);
		p = (void *)enosys;
	}
	errno = e;
	return p;
}

/* the real function, resolved once (at load by vpid_wrappers_init) */
#define REAL_DECL(name) static __typeof__(name) *real_##name
#define REAL(name) ({ \
	if (__builtin_expect(!real_##name, 0)) \
		real_##name = (__typeof__(name) *)resolve(#name); \
	real_##name; })

/* a single pid (or tid, pgid, sid) */
static inline pid_t v2r(pid_t p)
{
	return crest_vpid_active() ? crest_vpid_to_real(p) : p;
}

static inline pid_t r2v(pid_t p)
{
	return crest_vpid_active() ? crest_real_to_vpid(p) : p;
}

/* kill/waitpid style: > 0 a process, < -1 a process group, 0 and -1 as is */
static pid_t v2r_target(pid_t p)
{
	if (p > 0)
		return crest_vpid_to_real(p);
	if (p < -1 && p != INT_MIN)
		return -crest_vpid_to_real(-p);
	return p;
}

REAL_DECL(getpid);
REAL_DECL(getppid);
REAL_DECL(gettid);
REAL_DECL(getpgrp);
REAL_DECL(getpgid);
REAL_DECL(setpgid);
REAL_DECL(setsid);
REAL_DECL(getsid);
REAL_DECL(tcgetpgrp);
REAL_DECL(tcsetpgrp);
REAL_DECL(tcgetsid);
REAL_DECL(kill);
REAL_DECL(killpg);
REAL_DECL(tgkill);
REAL_DECL(sigqueue);
REAL_DECL(wait);
REAL_DECL(waitpid);
REAL_DECL(wait3);
REAL_DECL(wait4);
REAL_DECL(waitid);
REAL_DECL(sched_setaffinity);
REAL_DECL(sched_getaffinity);
REAL_DECL(sched_setscheduler);
REAL_DECL(sched_getscheduler);
REAL_DECL(sched_setparam);
REAL_DECL(sched_getparam);
REAL_DECL(sched_rr_get_interval);
REAL_DECL(getpriority);
REAL_DECL(setpriority);
REAL_DECL(prlimit);
REAL_DECL(prlimit64);
REAL_DECL(pidfd_open);
REAL_DECL(process_vm_readv);
REAL_DECL(process_vm_writev);
REAL_DECL(clock_getcpuclockid);
REAL_DECL(fork);
REAL_DECL(posix_spawnattr_setpgroup);
REAL_DECL(posix_spawnattr_getpgroup);

/* ---- identities */

EXPORT pid_t getpid(void)
{
	return r2v(REAL(getpid)());
}

EXPORT pid_t getppid(void)
{
	return r2v(REAL(getppid)());
}

EXPORT pid_t gettid(void)
{
	return r2v(REAL(gettid)());
}

/* ---- process groups and sessions */

EXPORT pid_t getpgrp(void)
{
	return r2v(REAL(getpgrp)());
}

EXPORT pid_t getpgid(pid_t pid)
{
	if (!crest_vpid_active())
		return REAL(getpgid)(pid);
	return crest_real_to_vpid(REAL(getpgid)(crest_vpid_to_real(pid)));
}

EXPORT int setpgid(pid_t pid, pid_t pgid)
{
	if (!crest_vpid_active())
		return REAL(setpgid)(pid, pgid);
	return REAL(setpgid)(crest_vpid_to_real(pid), crest_vpid_to_real(pgid));
}

EXPORT pid_t setsid(void)
{
	return r2v(REAL(setsid)());
}

EXPORT pid_t getsid(pid_t pid)
{
	if (!crest_vpid_active())
		return REAL(getsid)(pid);
	return crest_real_to_vpid(REAL(getsid)(crest_vpid_to_real(pid)));
}

EXPORT pid_t tcgetpgrp(int fd)
{
	return r2v(REAL(tcgetpgrp)(fd));
}

EXPORT int tcsetpgrp(int fd, pid_t pgrp)
{
	return REAL(tcsetpgrp)(fd, v2r(pgrp));
}

EXPORT pid_t tcgetsid(int fd)
{
	return r2v(REAL(tcgetsid)(fd));
}

/* ---- signals */

EXPORT int kill(pid_t pid, int sig)
{
	if (!crest_vpid_active())
		return REAL(kill)(pid, sig);
	return REAL(kill)(v2r_target(pid), sig);
}

EXPORT int killpg(pid_t pgrp, int sig)
{
	return REAL(killpg)(v2r(pgrp), sig);
}

EXPORT int tgkill(pid_t tgid, pid_t tid, int sig)
{
	if (!crest_vpid_active())
		return REAL(tgkill)(tgid, tid, sig);
	return REAL(tgkill)(crest_vpid_to_real(tgid), crest_vpid_to_real(tid), sig);
}

EXPORT int sigqueue(pid_t pid, int sig, const union sigval value)
{
	return REAL(sigqueue)(v2r(pid), sig, value);
}

/* ---- waiting */

EXPORT pid_t wait(int *status)
{
	return r2v(REAL(wait)(status));
}

/* The wait calls block: a checkpoint and restart may happen inside them,
 * so the result is translated by what is true when they return. */
EXPORT pid_t waitpid(pid_t pid, int *status, int options)
{
	if (crest_vpid_active())
		pid = v2r_target(pid);
	return r2v(REAL(waitpid)(pid, status, options));
}

EXPORT pid_t wait3(int *status, int options, struct rusage *usage)
{
	return r2v(REAL(wait3)(status, options, usage));
}

EXPORT pid_t wait4(pid_t pid, int *status, int options, struct rusage *usage)
{
	if (crest_vpid_active())
		pid = v2r_target(pid);
	return r2v(REAL(wait4)(pid, status, options, usage));
}

EXPORT int waitid(idtype_t idtype, id_t id, siginfo_t *info, int options)
{
	if (crest_vpid_active() && (idtype == P_PID || idtype == P_PGID))
		id = (id_t)crest_vpid_to_real((pid_t)id);
	int rc = REAL(waitid)(idtype, id, info, options);
	if (rc == 0 && info && crest_vpid_active())
		crest_vpid_fix_siginfo(info);
	return rc;
}

/* ---- scheduling and resources (a pid or a tid; 0 is the caller) */

EXPORT int sched_setaffinity(pid_t pid, size_t size, const cpu_set_t *set)
{
	return REAL(sched_setaffinity)(v2r(pid), size, set);
}

EXPORT int sched_getaffinity(pid_t pid, size_t size, cpu_set_t *set)
{
	return REAL(sched_getaffinity)(v2r(pid), size, set);
}

EXPORT int sched_setscheduler(pid_t pid, int policy, const struct sched_param *param)
{
	return REAL(sched_setscheduler)(v2r(pid), policy, param);
}

EXPORT int sched_getscheduler(pid_t pid)
{
	return REAL(sched_getscheduler)(v2r(pid));
}

EXPORT int sched_setparam(pid_t pid, const struct sched_param *param)
{
	return REAL(sched_setparam)(v2r(pid), param);
}

EXPORT int sched_getparam(pid_t pid, struct sched_param *param)
{
	return REAL(sched_getparam)(v2r(pid), param);
}

EXPORT int sched_rr_get_interval(pid_t pid, struct timespec *t)
{
	return REAL(sched_rr_get_interval)(v2r(pid), t);
}

/* PRIO_PROCESS: a pid or tid; PRIO_PGRP: a group; PRIO_USER: a uid */
static inline id_t prio_who(int which, id_t who)
{
	if (!crest_vpid_active() || (which != PRIO_PROCESS && which != PRIO_PGRP))
		return who;
	return (id_t)crest_vpid_to_real((pid_t)who);
}

EXPORT int getpriority(__priority_which_t which, id_t who)
{
	return REAL(getpriority)(which, prio_who(which, who));
}

EXPORT int setpriority(__priority_which_t which, id_t who, int prio)
{
	return REAL(setpriority)(which, prio_who(which, who), prio);
}

EXPORT int prlimit(pid_t pid, __rlimit_resource_t resource, const struct rlimit *new_limit,
		   struct rlimit *old_limit)
{
	return REAL(prlimit)(v2r(pid), resource, new_limit, old_limit);
}

EXPORT int prlimit64(pid_t pid, __rlimit_resource_t resource, const struct rlimit64 *new_limit,
		     struct rlimit64 *old_limit)
{
	return REAL(prlimit64)(v2r(pid), resource, new_limit, old_limit);
}

EXPORT int pidfd_open(pid_t pid, unsigned int flags)
{
	return REAL(pidfd_open)(v2r(pid), flags);
}

EXPORT ssize_t process_vm_readv(pid_t pid, const struct iovec *local, unsigned long nlocal,
				const struct iovec *remote, unsigned long nremote, unsigned long flags)
{
	return REAL(process_vm_readv)(v2r(pid), local, nlocal, remote, nremote, flags);
}

EXPORT ssize_t process_vm_writev(pid_t pid, const struct iovec *local, unsigned long nlocal,
				 const struct iovec *remote, unsigned long nremote, unsigned long flags)
{
	return REAL(process_vm_writev)(v2r(pid), local, nlocal, remote, nremote, flags);
}

EXPORT int clock_getcpuclockid(pid_t pid, clockid_t *clock)
{
	return REAL(clock_getcpuclockid)(v2r(pid), clock);
}

/* ---- new processes */

#define FORK_TRIES 100

static void reap(pid_t pid)
{
	int e = errno;
	while (REAL(waitpid)(pid, NULL, __WALL) < 0 && errno == EINTR)
		;
	errno = e;
}

/*
 * fork in a restarted process.  A child whose real pid is the virtual pid of
 * another process would be ambiguous: that child exits at once, before it
 * returns to the application, and the parent reaps it and forks again.
 * SIGCHLD stays blocked in this thread meanwhile, so an application handler
 * does not run here and reap the discarded child; it may still see one
 * spurious SIGCHLD.  Known limit: pthread_atfork handlers run for each try,
 * in the discarded children too.
 */
static pid_t fork_restarted(void)
{
	uint64_t chld = 1ull << (SIGCHLD - 1), old;
	pid_t pid;
	int tries = 0;

	raw_syscall4(NR_rt_sigprocmask, SIG_BLOCK, &chld, &old, 8);
	for (;;) {
		bool last = ++tries > FORK_TRIES;
		pid = REAL(fork)();
		if (pid == 0) {
			if (!last && crest_vpid_taken((pid_t)raw_syscall0(NR_getpid)))
				raw_syscall1(NR_exit_group, 0);
			break;
		}
		if (pid < 0 || !crest_vpid_taken(pid))
			break;
		if (last) {
			pr_warn("fork: child pid %d is also the virtual pid of a restarted process; "
				"returning it after %d tries: kill/wait on it are ambiguous", pid, FORK_TRIES);
			break;
		}
		reap(pid);
	}
	raw_syscall4(NR_rt_sigprocmask, SIG_SETMASK, &old, NULL, 8);
	return pid > 0 ? crest_real_to_vpid(pid) : pid;
}

EXPORT pid_t fork(void)
{
	if (!crest_vpid_active())
		return REAL(fork)();
	return fork_restarted();
}

EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *file_actions,
		       const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	int rc = crest_spawn(pid, path, file_actions, attr, argv, envp);
	if (crest_vpid_active() && rc == 0 && pid)
		*pid = crest_real_to_vpid(*pid);
	return rc;
}

EXPORT int posix_spawnp(pid_t *pid, const char *file,
			const posix_spawn_file_actions_t *file_actions,
			const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	int rc = crest_spawnp(pid, file, file_actions, attr, argv, envp);
	if (crest_vpid_active() && rc == 0 && pid)
		*pid = crest_real_to_vpid(*pid);
	return rc;
}

/* the group is stored in the attribute and used by glibc itself: real */
EXPORT int posix_spawnattr_setpgroup(posix_spawnattr_t *attr, pid_t pgroup)
{
	return REAL(posix_spawnattr_setpgroup)(attr, v2r(pgroup));
}

EXPORT int posix_spawnattr_getpgroup(const posix_spawnattr_t *restrict attr, pid_t *restrict pgroup)
{
	int rc = REAL(posix_spawnattr_getpgroup)(attr, pgroup);
	if (crest_vpid_active() && rc == 0)
		*pgroup = crest_real_to_vpid(*pgroup);
	return rc;
}

/* Resolved when libcrest is loaded, not later in a signal handler (dlsym
 * takes the loader lock); a call before this ran resolves lazily. */
__attribute__((constructor)) static void vpid_wrappers_init(void)
{
	(void)REAL(getpid);
	(void)REAL(getppid);
	(void)REAL(gettid);
	(void)REAL(getpgrp);
	(void)REAL(getpgid);
	(void)REAL(setpgid);
	(void)REAL(setsid);
	(void)REAL(getsid);
	(void)REAL(tcgetpgrp);
	(void)REAL(tcsetpgrp);
	(void)REAL(tcgetsid);
	(void)REAL(kill);
	(void)REAL(killpg);
	(void)REAL(tgkill);
	(void)REAL(sigqueue);
	(void)REAL(wait);
	(void)REAL(waitpid);
	(void)REAL(wait3);
	(void)REAL(wait4);
	(void)REAL(waitid);
	(void)REAL(sched_setaffinity);
	(void)REAL(sched_getaffinity);
	(void)REAL(sched_setscheduler);
	(void)REAL(sched_getscheduler);
	(void)REAL(sched_setparam);
	(void)REAL(sched_getparam);
	(void)REAL(sched_rr_get_interval);
	(void)REAL(getpriority);
	(void)REAL(setpriority);
	(void)REAL(prlimit);
	(void)REAL(prlimit64);
	(void)REAL(pidfd_open);
	(void)REAL(process_vm_readv);
	(void)REAL(process_vm_writev);
	(void)REAL(clock_getcpuclockid);
	(void)REAL(fork);
	(void)REAL(posix_spawnattr_setpgroup);
	(void)REAL(posix_spawnattr_getpgroup);
}
