/* SPDX-License-Identifier: MIT */
/*
 * A coordinator that died is started again by the processes it served
 * (docs/protocol.md, "A coordinator that dies").  The checkpoint thread
 * calls crest_respawn_check() while it cannot reach its coordinator; after
 * RESPAWN_AFTER_DOWN_MS without one, if COORD names no live coordinator
 * and the dead one left RUNDIR/RESPAWN (it removes it when it ends on its
 * own) written at least CREST_RESPAWN_AFTER seconds ago (default 30; 0:
 * never; a coordinator that dies young is not started in a loop), the
 * process that holds the lock on RESPAWN runs the same command again.
 *
 * The new coordinator is not the application's child, and the
 * application's memory is not copied: a first clone(CLONE_VM|CLONE_VFORK)
 * with no exit signal (the application's wait(-1) and SIGCHLD see nothing;
 * crest reaps it with __WCLONE) makes a second the same way and exits once
 * that one has exec'd, so the coordinator is adopted by init (an exec gives
 * a process the exit signal SIGCHLD again: it must not be the
 * application's child when it ends).  The clones run on stacks of their
 * own with raw system calls only: they share the memory of a process whose
 * other threads run on.  The second sets every signal to its default,
 * unblocks them (the checkpoint thread blocks all, and an exec keeps the
 * mask), keeps only /dev/null as 0-2 and execs.
 *
 * The lock is a POSIX write lock on RESPAWN (a forked child does not
 * inherit it), and its holder first sets the file's time to now, so that
 * no other process starts one for the next CREST_RESPAWN_AFTER seconds
 * even if this one fails to start.  `crest step-stop` takes the same lock
 * and removes the file (crest_respawn_cancel): a step that ended is not
 * brought back.
 */
#define LOG_MODULE "libcrest"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ckdir.h"
#include "crest.h"
#include "log.h"
#include "rawsys.h"
#include "respawn.h"

#define RESPAWN_AFTER_DOWN_MS	2000	/* without a coordinator before trying */
#define RESPAWN_WAIT_MS		5000	/* for the new one to serve, lock held */
#define RESPAWN_AFTER_DEFAULT	30

#define NR_dup2		33
#define NR_wait4	61
#define NR_chdir	80
#define NR_execve	59
#define NR_close_range	436
#define NR_prlimit64	302
#define CLONE_STACK	(64 * 1024)

static long respawn_after_s = -1;	/* from CREST_RESPAWN_AFTER, read once */
static uint64_t down_since_ms;
static pthread_mutex_t *fd_lock;	/* coord_link.c's: fork waits while crest opens files */
static int held_fd = -1;		/* RESPAWN while a respawn runs */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void crest_respawn_init(pthread_mutex_t *lock)
{
	fd_lock = lock;
	const char *s = crest_getenv("CREST_RESPAWN_AFTER");
	char *e;

	respawn_after_s = RESPAWN_AFTER_DEFAULT;
	if (s && *s) {
		long v = strtol(s, &e, 10);
		if (*e || v < 0)
			pr_warn("CREST_RESPAWN_AFTER=%s is not a number of seconds; using %d", s,
				RESPAWN_AFTER_DEFAULT);
		else
			respawn_after_s = v;
	}
}

/* in the second clone: never returns */
static __attribute__((noreturn)) void exec_coordinator(const struct crest_respawn *r)
{
	struct {
		uint64_t handler, flags, restorer, mask;
	} dfl = { 0 };	/* SIG_DFL: an ignored SIGCHLD would break the coordinator's waitpid */
	uint64_t none = 0;
	char devnull[] = "/dev/null";

	for (long sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			raw_syscall4(NR_rt_sigaction, sig, &dfl, 0, 8);
	raw_syscall4(NR_rt_sigprocmask, SIG_SETMASK, &none, 0, 8);	/* the checkpoint thread blocks all */
	long fd = raw_syscall3(NR_open, devnull, O_RDWR, 0);
	if (fd >= 0) {
		for (long i = 0; i < 3; i++)
			if (fd != i)
				raw_syscall2(NR_dup2, fd, i);
		if (fd > 2)
			raw_syscall1(NR_close, fd);
	}
	if (raw_syscall3(NR_close_range, 3, ~0u, 0) < 0) {	/* before Linux 5.9, or a seccomp filter */
		struct rlimit rl = { 0, 0 };
		raw_syscall4(NR_prlimit64, 0, RLIMIT_NOFILE, 0, &rl);
		unsigned long max = rl.rlim_cur > (1ul << 20) ? 1ul << 20 : rl.rlim_cur;
		for (unsigned long i = 3; i < max; i++)
			raw_syscall1(NR_close, i);
	}
	raw_syscall1(NR_chdir, r->cwd);
	raw_syscall3(NR_execve, r->argv[0], r->argv, r->envp);
	raw_syscall1(NR_exit_group, 127);
	__builtin_unreachable();
}

struct spawn {
	const struct crest_respawn *r;
	char *stack2;			/* top of the second clone's stack */
};

static int second_clone(void *arg)
{
	exec_coordinator(((struct spawn *)arg)->r);
}

/* the first clone: makes the second, which execs; returns (exits) once
 * the second has exec'd or failed.  glibc's clone() runs each on its own
 * stack (it writes errno on failure: the checkpoint thread's, which waits) */
static int first_clone(void *arg)
{
	struct spawn *sp = arg;
	return clone(second_clone, sp->stack2, CLONE_VM | CLONE_VFORK | SIGCHLD, sp) < 0 ? 1 : 0;
}

/* starts the coordinator of r, detached; 0 or -errno */
static int spawn_detached(const struct crest_respawn *r)
{
	char *stacks = mmap(NULL, 2 * CLONE_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
			    -1, 0);
	if (stacks == MAP_FAILED)
		return -errno;
	struct spawn sp = { .r = r, .stack2 = stacks + 2 * CLONE_STACK };
	int pid = clone(first_clone, stacks + CLONE_STACK, CLONE_VM | CLONE_VFORK /* no exit signal */, &sp);
	int rc = pid < 0 ? -errno : 0;
	if (pid > 0) {
		int st = 0;
		long w;
		do
			w = raw_syscall4(NR_wait4, pid, &st, __WCLONE, 0);
		while (w == -EINTR);
		if (w < 0)
			rc = (int)w;
		else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			rc = -ECHILD;
	}
	munmap(stacks, 2 * CLONE_STACK);	/* both clones are past it: exec'd or gone */
	return rc;
}

/* closes RESPAWN, and with it the lock */
static void drop_held(void)
{
	if (held_fd >= 0) {
		crest_fd_unprotect(held_fd);
		close(held_fd);
		held_fd = -1;
	}
}

/* RESPAWN, opened above the application's descriptors and write-locked,
 * or -errno */
static int open_locked(char *path, size_t size, struct stat *st)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	struct stat now;

	if (snprintf(path, size, "%s/RESPAWN", crest.dir) >= (int)size)
		return -ENAMETOOLONG;
	pthread_mutex_lock(fd_lock);
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0)
		held_fd = fd = crest_fd_protect(fd);
	pthread_mutex_unlock(fd_lock);
	if (fd < 0)
		return -errno;
	int rc = 0;
	if (fstat(fd, st))
		rc = -errno;
	else if (!S_ISREG(st->st_mode) || st->st_uid != geteuid() || (st->st_mode & 022))
		rc = -EPERM;	/* only the user's own command, as written by crest */
	else if (fcntl(fd, F_SETLK, &fl))
		rc = -errno;	/* another process of the node does it */
	else if (stat(path, &now) || now.st_ino != st->st_ino || now.st_dev != st->st_dev)
		rc = -ESTALE;	/* removed meanwhile (crest step-stop, a new coordinator) */
	if (rc) {
		drop_held();
		return rc;
	}
	return fd;
}

/* a forked child leaves a RESPAWN its parent had open (the lock, a POSIX
 * one, stays the parent's) */
void crest_respawn_atfork_child(void)
{
	drop_held();
}

static struct crest_respawn *read_respawn(int fd, const struct stat *st)
{
	if (st->st_size <= 0 || st->st_size > CREST_RESPAWN_MAX) {
		errno = EBADMSG;
		return NULL;
	}
	char *buf = malloc((size_t)st->st_size);
	if (!buf)
		return NULL;
	size_t got = 0;
	while (got < (size_t)st->st_size) {
		ssize_t n = pread(fd, buf + got, (size_t)st->st_size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	struct crest_respawn *r = crest_respawn_parse(buf, got);
	int saved = errno;
	free(buf);
	errno = saved;
	return r;
}

/* the coordinator RESPAWN would start is of this process's run (its
 * --incarnation, the run WELCOME named): a newer run's, written in the
 * same folder after this process's job ended, is not this process's to
 * start (it would serve that run from a node cut off from it) */
static struct {
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
} refused;	/* the RESPAWN same_run refused: not read again while unchanged */

static bool same_run(const struct crest_respawn *r)
{
	static bool told;
	char mine[CKDIR_INCARNATION_LEN + 1];

	ckdir_incarnation_unpack(crest.run, mine);
	if (!mine[0])
		return true;	/* not told (a coordinator older than runs) */
	for (int i = 1; r->argv[i]; i++)
		if (!strcmp(r->argv[i - 1], "--incarnation") && strcmp(r->argv[i], mine)) {
			if (!told)
				pr_warn("the coordinator of %s is gone and RESPAWN is another run's (%s; this process's "
					"is %s): not started; this process goes on without checkpoints", crest.dir,
					r->argv[i], mine);
			told = true;
			return false;
		}
	return true;
}

bool crest_respawn_check(bool connected)
{
	char path[sizeof(crest.dir) + 16];
	struct stat st;
	bool started = false;

	if (connected) {
		down_since_ms = 0;
		return false;
	}
	uint64_t now = now_ms();
	if (!down_since_ms)
		down_since_ms = now;
	if (respawn_after_s <= 0 || now - down_since_ms < RESPAWN_AFTER_DOWN_MS)
		return false;
	/* RESPAWN first: gone (the coordinator ended on its own) is the usual
	 * case, and the cheapest to see; whether it lives, under the lock.
	 * Another run's, refused before and unchanged: not even locked (its
	 * own processes may be looking at it) */
	if (refused.ino && snprintf(path, sizeof(path), "%s/RESPAWN", crest.dir) < (int)sizeof(path) &&
	    !stat(path, &st) && st.st_dev == refused.dev && st.st_ino == refused.ino &&
	    st.st_mtim.tv_sec == refused.mtime.tv_sec && st.st_mtim.tv_nsec == refused.mtime.tv_nsec)
		return false;
	int fd = open_locked(path, sizeof(path), &st);
	if (fd < 0)
		return false;	/* none left, or not ours to do */
	time_t age = time(NULL) - st.st_mtime;
	if (age < respawn_after_s || ckdir_coord_alive(crest.dir))
		goto out_close;
	struct crest_respawn *r = read_respawn(fd, &st);
	if (!r) {
		pr_warn("%s: %s: the coordinator is not started again", path, strerror(errno));
		goto out_close;
	}
	if (!same_run(r)) {
		refused.dev = st.st_dev;
		refused.ino = st.st_ino;
		refused.mtime = st.st_mtim;
		free(r);
		goto out_close;
	}
	/* the next try, this process's or another's, only after the full
	 * time again, whether this one starts or not */
	if (futimens(fd, NULL))
		pr_warn("%s: cannot set its time: %s", path, strerror(errno));
	int rc = spawn_detached(r);
	if (rc) {
		pr_warn("the coordinator of %s (pid %d) is gone; starting it again failed: %s", crest.dir,
			(int)r->pid, strerror(-rc));
		free(r);
		goto out_close;
	}
	/* lock held until it serves: the other processes find it alive */
	pid_t now_pid = 0;
	for (int i = 0; i < RESPAWN_WAIT_MS / 50 && !(now_pid = ckdir_coord_alive(crest.dir)); i++)
		usleep(50000);
	started = now_pid != 0;
	if (now_pid)
		pr_warn("the coordinator of %s (pid %d) was gone for %llu s; started it again: pid %d", crest.dir,
			(int)r->pid, (unsigned long long)((now_ms() - down_since_ms) / 1000), (int)now_pid);
	else
		pr_warn("the coordinator of %s (pid %d) is gone; the one started again does not serve after %d s "
			"(see its coord.log)", crest.dir, (int)r->pid, RESPAWN_WAIT_MS / 1000);
	free(r);
out_close:
	pthread_mutex_lock(fd_lock);
	drop_held();
	pthread_mutex_unlock(fd_lock);
	return started;
}
