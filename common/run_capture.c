/* SPDX-License-Identifier: MIT */
/* A program's exit status and output, with a time limit (run_capture.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run_capture.h"

static long long ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000LL + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

int crest_run_capture(char *const argv[], char *const envp[], void (*setup)(void *), void *arg, char *out,
		      size_t size, int timeout_ms)
{
	int pfd[2];
	out[0] = 0;
	if (pipe2(pfd, O_CLOEXEC))
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		if (setup)
			setup(arg);
		int null = open("/dev/null", O_RDONLY);
		dup2(null, 0);
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		closefrom(3);
		execvpe(argv[0], argv, envp);	/* PATH is searched for a bare name */
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	size_t used = 0;
	bool killed = false;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		long long left = timeout_ms - ms_since(&t0);
		if (left <= 0) {
			kill(pid, SIGKILL);
			killed = true;
			snprintf(out + used, size - used, "%s took more than %d s\n", argv[0], timeout_ms / 1000);
			break;
		}
		int r = poll(&p, 1, (int)left);
		if (r <= 0)
			continue;	/* EINTR, or the time is up */
		char scratch[512];	/* once out is full: read on, so the child never blocks */
		bool room = used < size - 1;
		ssize_t n = room ? read(pfd[0], out + used, size - 1 - used) : read(pfd[0], scratch, sizeof(scratch));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (room) {
			used += (size_t)n;
			out[used] = 0;
		}
	}
	close(pfd[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	used = strlen(out);
	while (used && out[used - 1] == '\n')
		out[--used] = 0;
	return !killed && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
