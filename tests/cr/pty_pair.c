/* SPDX-License-Identifier: MIT */
/*
 * A pseudo-terminal between two processes of the computation, as mpirun
 * forwards its ranks' output, or script(1): the parent holds the master,
 * the child (a session leader whose controlling terminal is the slave)
 * writes numbered lines to it as its stdout, through the terminal's
 * output processing (\n becomes \r\n).  The parent reads them from the
 * master, slowly (the child writes faster: kilobytes wait in the
 * terminal), and checks that each comes once, in order, whole (the output
 * in flight at a checkpoint is kept): a line lost or
 * doubled at a checkpoint-restart, or settings not kept (raw \n), is a
 * FAIL.  RESULT: the number of lines and a checksum of their text.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define LINES	600

static void child(const char *slave)
{
	setsid();
	int s = open(slave, O_RDWR);	/* its controlling terminal */
	if (s < 0) {
		perror("open slave");
		_exit(2);
	}
	dup2(s, 1);
	close(s);
	uint64_t v = 7;
	struct timespec ts = { 0, 1 * 1000 * 1000 };
	for (int i = 0; i < LINES; i++) {
		v = v * 6364136223846793005ULL + 1442695040888963407ULL;
		printf("line %d %016llx\n", i, (unsigned long long)v);
		fflush(stdout);
		nanosleep(&ts, NULL);
	}
	_exit(0);
}

int main(void)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) || unlockpt(m)) {
		perror("posix_openpt");
		return 1;
	}
	struct winsize ws = { .ws_row = 33, .ws_col = 111 };
	ioctl(m, TIOCSWINSZ, &ws);
	char *slave = ptsname(m);
	pid_t pid = fork();
	if (pid == 0) {
		close(m);
		child(slave);
	}
	char buf[4096], line[256];
	size_t ll = 0;
	int next = 0, fail = 0;
	uint64_t sum = 0;
	/* read slowly, little at a time: the child writes faster, so up to
	 * ~18 KiB wait in the terminal, more than its read buffer's 4 KiB,
	 * and a checkpoint finds that output in flight */
	struct timespec slow = { 0, 20 * 1000 * 1000 };
	for (;;) {
		nanosleep(&slow, NULL);
		ssize_t n = read(m, buf, 128);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;	/* EIO: the child closed the slave */
		for (ssize_t k = 0; k < n; k++) {
			if (ll + 1 >= sizeof(line)) {
				printf("FAIL a line longer than %zu bytes\n", sizeof(line));
				return 1;
			}
			line[ll++] = buf[k];
			if (buf[k] != '\n')
				continue;
			line[ll] = 0;
			int no = -1;
			unsigned long long v;
			if (ll < 2 || line[ll - 2] != '\r' || sscanf(line, "line %d %llx", &no, &v) != 2 || no != next) {
				line[ll - 1] = 0;
				printf("FAIL expected line %d (ending in \\r\\n), got '%s'\n", next, line);
				fail = 1;
			}
			next = no + 1;
			for (size_t j = 0; j < ll; j++)
				sum = sum * 131 + (unsigned char)line[j];
			ll = 0;
		}
	}
	int st = 0;
	waitpid(pid, &st, 0);
	struct winsize now;
	if (!ioctl(m, TIOCGWINSZ, &now) && (now.ws_row != 33 || now.ws_col != 111)) {
		printf("FAIL the window size is %ux%u, not 33x111\n", now.ws_row, now.ws_col);
		fail = 1;
	}
	printf("RESULT lines %d sum %016llx child %d\n", next, (unsigned long long)sum, WEXITSTATUS(st));
	printf("%s\n", fail || next != LINES ? "FAIL" : "PASS");
	return fail;
}
