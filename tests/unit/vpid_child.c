/* SPDX-License-Identifier: MIT */
/*
 * Helper of test_vpid: the pid wrappers (preload/vpid_wrappers.c and
 * preload/sig_wrappers.c) compiled into this program, so that its own calls
 * go through them, with a vpid table as a restart would leave it: this
 * process's real pid and one thread's real tid mapped to other virtual ones.
 * Exits 0 when every check passed, 1 at the first that failed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "../../preload/vpid_table.c"
#include "../../preload/vpid_wrappers.c"
#undef LOG_MODULE
#undef REAL
#undef REAL_DECL
#undef EXPORT
#include "../../preload/sig_wrappers.c"

struct crest_state crest;	/* inactive: the sig wrappers pass through */

/* exec_wrappers.c's, without the environment fix */
int crest_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
		const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	__typeof__(posix_spawn) *real = dlsym(RTLD_NEXT, "posix_spawn");
	return real(pid, path, fa, attr, argv, envp);
}

int crest_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
		 const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	__typeof__(posix_spawnp) *real = dlsym(RTLD_NEXT, "posix_spawnp");
	return real(pid, file, fa, attr, argv, envp);
}

#define CHECK(c) do { if (!(c)) { \
	fprintf(stderr, "  vpid_child:%d: expected %s (errno %d)\n", __LINE__, #c, errno); \
	exit(1); } } while (0)
#define CHECK_EQ(a, b) do { long _a = (long)(a), _b = (long)(b); if (_a != _b) { \
	fprintf(stderr, "  vpid_child:%d: %s == %ld, expected %s == %ld\n", __LINE__, #a, _a, #b, _b); \
	exit(1); } } while (0)

static pid_t raw_pid(void)
{
	return (pid_t)syscall(SYS_getpid);
}

static volatile pid_t seen_pid;
static volatile int seen_sig;

static void on_siginfo(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	seen_sig = sig;
	seen_pid = si->si_pid;
}

/* a second thread whose tid gets a virtual one too */
static pid_t thr_real, thr_virt;
static volatile int thr_go;

static void *thread_main(void *arg)
{
	(void)arg;
	thr_real = (pid_t)syscall(SYS_gettid);
	__atomic_store_n(&thr_go, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&thr_go, __ATOMIC_SEQ_CST) != 2)
		usleep(1000);
	CHECK_EQ(gettid(), thr_virt);
	return NULL;
}

static void empty_table(void)
{
	CHECK(!crest_vpid_active());
	CHECK_EQ(getpid(), raw_pid());
	CHECK_EQ(gettid(), raw_pid());
	CHECK_EQ(getppid(), syscall(SYS_getppid));
	CHECK_EQ(kill(getpid(), 0), 0);
	pid_t parent = raw_pid();
	pid_t c = fork();
	CHECK(c >= 0);
	if (c == 0)
		_exit(getppid() == parent && getpid() == raw_pid() ? 0 : 1);
	int st;
	CHECK_EQ(waitpid(c, &st, 0), c);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
	empty_table();

	pid_t real = raw_pid();
	pid_t virt = real + 1000000;	/* any pid no process has */

	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, thread_main, NULL), 0);
	while (!__atomic_load_n(&thr_go, __ATOMIC_SEQ_CST))
		usleep(1000);
	thr_virt = thr_real + 1000000;

	/* as the restarted libcrest does it */
	crest_vpid_reset();
	CHECK_EQ(crest_vpid_add(virt, real), 0);
	CHECK_EQ(crest_vpid_add(thr_virt, thr_real), 0);
	__atomic_store_n(&thr_go, 2, __ATOMIC_SEQ_CST);
	CHECK_EQ(pthread_join(th, NULL), 0);	/* glibc's real tid: not translated */

	/* identities */
	CHECK_EQ(getpid(), virt);
	CHECK_EQ(gettid(), virt);
	CHECK_EQ(getppid(), syscall(SYS_getppid));
	CHECK_EQ(kill(virt, 0), 0);
	CHECK_EQ(tgkill(virt, virt, 0), 0);
	CHECK(kill(real + 2000000, 0) < 0 && errno == ESRCH);

	/* groups and sessions */
	if (setpgid(0, 0) == 0) {
		CHECK_EQ(getpgrp(), virt);
		CHECK_EQ(getpgid(0), virt);
		CHECK_EQ(getpgid(virt), virt);
		CHECK_EQ(kill(-virt, 0), 0);
		CHECK_EQ(killpg(virt, 0), 0);
		CHECK_EQ(setpgid(virt, virt), 0);
	}
	/* 0 when the session leader is outside this pid namespace (CI runs in
	 * a container), so compared with the kernel's answer, not with > 0 */
	CHECK_EQ(getsid(virt), crest_real_to_vpid((pid_t)syscall(SYS_getsid, 0)));
	CHECK_EQ(getsid(virt), getsid(0));

	/* scheduling and resources */
	cpu_set_t set;
	CHECK_EQ(sched_getaffinity(virt, sizeof(set), &set), 0);
	CHECK_EQ(sched_setaffinity(virt, sizeof(set), &set), 0);
	CHECK(sched_getscheduler(virt) >= 0);
	struct sched_param sp;
	CHECK_EQ(sched_getparam(virt, &sp), 0);
	struct timespec ts;
	CHECK_EQ(sched_rr_get_interval(virt, &ts), 0);
	errno = 0;
	int prio = getpriority(PRIO_PROCESS, virt);
	CHECK(errno == 0);
	CHECK_EQ(setpriority(PRIO_PROCESS, virt, prio), 0);
	struct rlimit rl;
	CHECK_EQ(prlimit(virt, RLIMIT_NOFILE, NULL, &rl), 0);
	clockid_t clk;
	CHECK_EQ(clock_getcpuclockid(virt, &clk), 0);
	int pfd = pidfd_open(virt, 0);
	if (pfd < 0)
		CHECK(errno == ENOSYS);
	else
		close(pfd);
	char a = 'x', b = 0;
	struct iovec lo = { &b, 1 }, re = { &a, 1 };
	ssize_t n = process_vm_readv(virt, &lo, 1, &re, 1, 0);
	CHECK(n == 1 ? b == 'x' : errno == EPERM || errno == ENOSYS);

	/* si_pid behind the trampoline; the application's handler reported */
	struct sigaction sa, old;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_siginfo;
	sa.sa_flags = SA_SIGINFO;
	CHECK_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
	CHECK_EQ(sigaction(SIGUSR1, NULL, &old), 0);
	CHECK(old.sa_sigaction == on_siginfo);
	CHECK(raw_syscall4(NR_rt_sigaction, SIGUSR1, NULL, &old, 8) == 0);
	CHECK(old.sa_sigaction == vpid_trampoline);
	CHECK_EQ(kill(virt, SIGUSR1), 0);
	CHECK_EQ(seen_sig, SIGUSR1);
	CHECK_EQ(seen_pid, virt);
	seen_pid = 0;
	CHECK_EQ(sigqueue(virt, SIGUSR1, (union sigval){ .sival_int = 1 }), 0);
	CHECK_EQ(seen_pid, virt);
	seen_pid = 0;
	CHECK_EQ(tgkill(virt, virt, SIGUSR1), 0);
	CHECK_EQ(seen_pid, virt);
	CHECK(signal(SIGUSR1, SIG_DFL) == (sighandler_t)(void *)on_siginfo);
	CHECK(signal(SIGUSR1, SIG_IGN) == SIG_DFL);
	CHECK_EQ(sigaction(SIGUSR1, &sa, &old), 0);
	CHECK(old.sa_handler == SIG_IGN);
	CHECK_EQ(sigaction(SIGUSR1, &sa, &old), 0);
	CHECK(old.sa_sigaction == on_siginfo && (old.sa_flags & SA_SIGINFO));

	/* sigtimedwait */
	sigset_t usr2;
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	CHECK_EQ(sigprocmask(SIG_BLOCK, &usr2, NULL), 0);
	CHECK_EQ(kill(virt, SIGUSR2), 0);
	siginfo_t si;
	struct timespec zero = { 1, 0 };
	CHECK_EQ(sigtimedwait(&usr2, &si, &zero), SIGUSR2);
	CHECK_EQ(si.si_pid, virt);
	CHECK_EQ(sigqueue(virt, SIGUSR2, (union sigval){ .sival_int = 2 }), 0);
	CHECK_EQ(sigwaitinfo(&usr2, &si), SIGUSR2);
	CHECK_EQ(si.si_pid, virt);

	/* fork: the child sees its parent's virtual pid and its own real one */
	seen_pid = 0;
	CHECK_EQ(sigaction(SIGCHLD, &sa, NULL), 0);
	int pfds[2];
	CHECK_EQ(pipe(pfds), 0);
	pid_t c = fork();
	CHECK(c >= 0);
	if (c == 0) {
		pid_t me = raw_pid();
		if (write(pfds[1], &me, sizeof(me)) != sizeof(me))
			_exit(2);
		_exit(getppid() == virt && getpid() == me ? 0 : 1);
	}
	pid_t child_real;
	CHECK_EQ(read(pfds[0], &child_real, sizeof(child_real)), sizeof(child_real));
	CHECK_EQ(c, child_real);
	CHECK_EQ(waitid(P_PID, c, &si, WEXITED | WNOWAIT), 0);
	CHECK_EQ(si.si_pid, c);
	int st;
	CHECK_EQ(waitpid(c, &st, 0), c);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	while (!seen_pid)
		usleep(1000);
	CHECK_EQ(seen_pid, c);

	/* fork when the next real pids are virtual pids of restarted processes:
	 * the ambiguous children are discarded, the one returned is not */
	pid_t next = c + 1;
	for (int i = 0; i < 20; i++)
		CHECK_EQ(crest_vpid_add(next + i, 3000000 + i), 0);
	seen_pid = 0;
	c = fork();
	CHECK(c >= 0);
	if (c == 0) {
		pid_t me = raw_pid();
		if (write(pfds[1], &me, sizeof(me)) != sizeof(me))
			_exit(2);
		sigset_t mask;
		sigprocmask(SIG_BLOCK, NULL, &mask);
		_exit(sigismember(&mask, SIGCHLD) ? 3 : 0);
	}
	CHECK_EQ(read(pfds[0], &child_real, sizeof(child_real)), sizeof(child_real));
	CHECK_EQ(c, child_real);
	CHECK(!crest_vpid_taken(c));
	CHECK_EQ(waitpid(c, &st, 0), c);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	sigset_t mask;
	CHECK_EQ(sigprocmask(SIG_BLOCK, NULL, &mask), 0);
	CHECK(!sigismember(&mask, SIGCHLD));
	CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);	/* all reaped */
	fprintf(stderr, "  vpid_child: fork returned %d, %s\n", c,
		c > next + 19 ? "after discarding ambiguous children" : "pids not sequential here");

	/* posix_spawn */
	char *argv[] = { "true", NULL };
	CHECK_EQ(posix_spawnp(&c, "true", NULL, NULL, argv, NULL), 0);
	CHECK_EQ(waitpid(c, &st, 0), c);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	/* after a reset: identity again */
	crest_vpid_reset();
	CHECK_EQ(getpid(), real);
	return 0;
}
