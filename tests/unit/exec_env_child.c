/* SPDX-License-Identifier: MIT */
/*
 * Helper of test_exec_env: runs /usr/bin/env through one exec function
 * with an environment that lacks libcrest, the way programs do it.
 *
 *   exec_env_child MODE
 *
 * MODE: execve execv execvp execvpe execl execlp execle fexecve execveat
 * posix_spawn posix_spawnp vfork big other.  execv, execvp, execl and
 * execlp take no environment: environ is cleared first.  big: execve with
 * an environment too large for the stack.  other: execve with CREST_DIR
 * set to another value, which must be kept.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ENV "/usr/bin/env"

static int spawned(int rc, pid_t pid)
{
	int st;

	if (rc) {
		fprintf(stderr, "exec_env_child: posix_spawn: %s\n", strerror(rc));
		return 1;
	}
	if (waitpid(pid, &st, 0) != pid)
		return 1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

static int big(char *argv[])
{
	enum { N = 40000 };
	char **envp = calloc(N + 1, sizeof(char *));
	char *strs = malloc((size_t)N * 16);

	if (!envp || !strs)
		return 1;
	for (int i = 0; i < N; i++) {
		envp[i] = strs + (size_t)i * 16;
		snprintf(envp[i], 16, "V%d=x", i);
	}
	execve(ENV, argv, envp);
	return 1;
}

int main(int ac, char **av)
{
	char *argv[] = { "env", NULL };
	char *empty[] = { NULL };
	char *other[] = { "CREST_DIR=/other", NULL };
	const char *mode = ac > 1 ? av[1] : "";
	pid_t pid;

	fflush(stdout);
	if (!strcmp(mode, "execve")) {
		execve(ENV, argv, empty);
	} else if (!strcmp(mode, "execvpe")) {
		execvpe("env", argv, empty);
	} else if (!strcmp(mode, "execle")) {
		execle(ENV, "env", (char *)NULL, empty);
	} else if (!strcmp(mode, "fexecve")) {
		int fd = open(ENV, O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			fexecve(fd, argv, empty);
	} else if (!strcmp(mode, "execveat")) {
		execveat(AT_FDCWD, ENV, argv, empty, 0);
	} else if (!strcmp(mode, "posix_spawn")) {
		int rc = posix_spawn(&pid, ENV, NULL, NULL, argv, empty);
		return spawned(rc, pid);
	} else if (!strcmp(mode, "posix_spawnp")) {
		int rc = posix_spawnp(&pid, "env", NULL, NULL, argv, empty);
		return spawned(rc, pid);
	} else if (!strcmp(mode, "vfork")) {
		pid = vfork();
		if (pid == 0) {
			execve(ENV, argv, empty);
			_exit(127);
		}
		int rc = pid < 0 ? errno : 0;
		return spawned(rc, pid);
	} else if (!strcmp(mode, "big")) {
		return big(argv);
	} else if (!strcmp(mode, "other")) {
		execve(ENV, argv, other);
	} else {
		/* the PATH search of execvp and execlp needs PATH: keep only it */
		char path[4096];
		snprintf(path, sizeof(path), "%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
		clearenv();
		if (!strcmp(mode, "execv")) {
			execv(ENV, argv);
		} else if (!strcmp(mode, "execl")) {
			execl(ENV, "env", (char *)NULL);
		} else if (!strcmp(mode, "execvp") || !strcmp(mode, "execlp")) {
			setenv("PATH", path, 1);
			if (!strcmp(mode, "execvp"))
				execvp("env", argv);
			else
				execlp("env", "env", (char *)NULL);
		} else {
			fprintf(stderr, "exec_env_child: unknown mode %s\n", mode);
			return 2;
		}
	}
	fprintf(stderr, "exec_env_child: %s: %s\n", mode, strerror(errno));
	return 1;
}
