/* SPDX-License-Identifier: MIT */
/*
 * orphan DIR: a process whose parent exited (tests/bats/tree.bats).
 *
 * The root forks a child that forks a grandchild and exits; the root reaps
 * the child.  The grandchild, an orphan now, notes its parent (init, or
 * the nearest subreaper), prints "orphan ready", and adds up STEPS numbers,
 * one every 20 ms, checking at each step that its parent is still the one
 * it had; after the file DIR/go appears it finishes and prints its sum.
 * The root waits for the end of a pipe the orphan holds, then checks that
 * it has no child at all (wait() gives ECHILD): an orphan must not come
 * back as its child.  Prints "RESULT sum=..." and PASS, or FAIL and why.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STEPS 300

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static int orphan(const char *dir, int out)
{
	char go[4096];
	struct stat st;
	snprintf(go, sizeof(go), "%s/go", dir);
	pid_t first = getppid();
	printf("orphan ready\n");
	long sum = 0;
	for (int i = 0; i < STEPS || stat(go, &st); i++) {
		pid_t now = getppid();
		if (now != first) {
			printf("FAIL orphan: its parent was %d, is %d now\n", (int)first, (int)now);
			return 1;
		}
		if (i < STEPS)
			sum += i;
		nap_ms(20);
	}
	printf("RESULT sum=%ld\n", sum);
	close(out);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: orphan DIR\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	int p[2];
	if (pipe(p)) {
		perror("pipe");
		return 1;
	}
	pid_t child = fork();
	if (child < 0) {
		perror("fork");
		return 1;
	}
	if (child == 0) {
		close(p[0]);
		pid_t me = getpid();
		pid_t g = fork();
		if (g == 0) {
			while (getppid() == me)	/* until its parent has gone */
				nap_ms(1);
			_exit(orphan(argv[1], p[1]));
		}
		_exit(g < 0 ? 1 : 0);
	}
	close(p[1]);
	int st;
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st)) {
		printf("FAIL orphan: the child did not exit 0\n");
		return 1;
	}
	for (;;) {	/* until the orphan has ended */
		char c;
		ssize_t n = read(p[0], &c, 1);
		if (n > 0 || (n < 0 && errno == EINTR))
			continue;
		break;
	}
	pid_t w = wait(&st);
	if (w >= 0 || errno != ECHILD) {
		printf("FAIL orphan: the root has a child %d it never made (the orphan came back as its child?)\n",
		       (int)w);
		return 1;
	}
	printf("PASS\n");
	return 0;
}
