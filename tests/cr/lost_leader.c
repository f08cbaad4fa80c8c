/* SPDX-License-Identifier: MIT */
/*
 * lost_leader: a process group whose leader has exited.
 *
 * A parent forks A, which makes a process group of its own, and B, which
 * joins A's group; then A exits and the parent reaps it.  The group lives
 * on with B alone in it, still named by A's pid.  ROUNDS times the parent
 * signals the group (kill(-A, SIGUSR1)) and tells B through a pipe; B
 * waits for that signal, checks that its group is still A's (getpgrp,
 * getpgid), and answers; the parent checks getpgid(B) too.  At the end B
 * prints how many signals it got, the parent waits for it as the group's
 * (waitpid(-A)).
 *
 * Twice at once: the first process does it in its own session, and a child
 * S that made a session of its own (setsid) does it in S's.  Prints
 * "RESULT rounds=..." and PASS, or FAIL and why.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 200

static volatile sig_atomic_t got;

static void on_usr1(int sig)
{
	(void)sig;
	got++;
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static ssize_t read_full(int fd, void *buf, size_t len)
{
	ssize_t r;
	do
		r = read(fd, buf, len);
	while (r < 0 && errno == EINTR);
	return r;
}

static ssize_t write_full(int fd, const void *buf, size_t len)
{
	ssize_t r;
	do
		r = write(fd, buf, len);
	while (r < 0 && errno == EINTR);
	return r;
}

/* B: in A's group; a round at each byte on `go`, answered on `ack` */
static int member(pid_t group, int go, int ack)
{
	sigset_t usr1, old;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, &old);
	for (int round = 1;; round++) {
		char c;
		ssize_t r = read_full(go, &c, 1);
		if (r == 0)
			break;
		if (r < 0) {
			printf("FAIL B: read: %s\n", strerror(errno));
			return 1;
		}
		while (got < round)
			sigsuspend(&old);
		if (getpgrp() != group || getpgid(0) != group) {
			printf("FAIL B: round %d: its process group is %d (getpgid %d), not %d\n", round,
			       (int)getpgrp(), (int)getpgid(0), (int)group);
			return 1;
		}
		if (write_full(ack, "k", 1) != 1) {
			printf("FAIL B: write: %s\n", strerror(errno));
			return 1;
		}
	}
	printf("B got %d signals\n", (int)got);
	return got == ROUNDS ? 0 : 1;
}

/* the parent's side: 0, or 1 after a FAIL line */
static int scenario(const char *who)
{
	int go[2], ack[2], bye[2];
	if (pipe(go) || pipe(ack) || pipe(bye)) {
		printf("FAIL %s: pipe: %s\n", who, strerror(errno));
		return 1;
	}
	pid_t a = fork();
	if (a == 0) {
		char c;
		setpgid(0, 0);
		close(bye[1]);
		read_full(bye[0], &c, 1);	/* until the parent lets it go */
		_exit(0);
	}
	if (a < 0 || (setpgid(a, a) && errno != EACCES)) {
		printf("FAIL %s: fork or setpgid of A: %s\n", who, strerror(errno));
		return 1;
	}
	close(bye[0]);
	pid_t b = fork();
	if (b == 0) {
		close(go[1]);
		close(ack[0]);
		close(bye[1]);
		setpgid(0, a);
		_exit(member(a, go[0], ack[1]));
	}
	if (b < 0 || (setpgid(b, a) && errno != EACCES)) {
		printf("FAIL %s: fork or setpgid of B: %s\n", who, strerror(errno));
		return 1;
	}
	close(go[0]);
	close(ack[1]);
	while (getpgid(b) != a)
		nap_ms(1);
	/* A goes: B is alone in A's group */
	close(bye[1]);
	int st;
	if (waitpid(a, &st, 0) != a || !WIFEXITED(st)) {
		printf("FAIL %s: A did not end well\n", who);
		return 1;
	}
	printf("%s: leader gone\n", who);
	int rounds = 0;
	for (int round = 1; round <= ROUNDS; round++) {
		char c;
		if (kill(-a, SIGUSR1)) {
			printf("FAIL %s: round %d: kill(-%d): %s\n", who, round, (int)a, strerror(errno));
			return 1;
		}
		if (write_full(go[1], "g", 1) != 1 || read_full(ack[0], &c, 1) != 1) {
			printf("FAIL %s: round %d: B does not answer\n", who, round);
			return 1;
		}
		if (getpgid(b) != a) {
			printf("FAIL %s: round %d: B's process group is %d, not %d\n", who, round, (int)getpgid(b),
			       (int)a);
			return 1;
		}
		rounds++;
		nap_ms(20);
	}
	close(go[1]);
	pid_t w = waitpid(-a, &st, 0);	/* any child in A's group: B */
	if (w != b || !WIFEXITED(st) || WEXITSTATUS(st)) {
		printf("FAIL %s: waitpid(-%d) gave %d (B is %d), status %d\n", who, (int)a, (int)w, (int)b, st);
		return 1;
	}
	printf("%s: %d rounds\n", who, rounds);
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGUSR1, on_usr1);	/* B's, before the fork: no signal is lost */
	pid_t s = fork();
	if (s == 0) {
		if (setsid() < 0) {
			printf("FAIL S: setsid: %s\n", strerror(errno));
			_exit(1);
		}
		_exit(scenario("S"));
	}
	if (s < 0) {
		perror("fork");
		return 1;
	}
	int rc = scenario("P"), st;
	if (waitpid(s, &st, 0) != s || !WIFEXITED(st) || WEXITSTATUS(st))
		rc = 1;
	if (rc)
		return 1;
	printf("RESULT rounds=%d\n", 2 * ROUNDS);
	printf("PASS\n");
	return 0;
}
