/* SPDX-License-Identifier: MIT */
/*
 * libcrest stays in programs run with an environment of their own
 * (preload/exec_wrappers.c): each exec function, through
 * build/tests/unit/exec_env_child, and env -i, run under
 * LD_PRELOAD=build/lib/libcrest.so with CREST_DIR set.  The new program's
 * environment must name libcrest in LD_PRELOAD and carry CREST_DIR.
 * Without CREST_DIR, libcrest changes nothing.  No coordinator runs: the
 * active libcrest retries quietly in the background.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>

#include "harness.h"

static char lib[PATH_MAX + 32], child[PATH_MAX + 32], *dir;

/* build/tests/unit/<this> -> build/lib/libcrest.so, build/tests/unit/exec_env_child */
static void paths(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	EXPECT(n > 0);
	exe[n] = 0;
	*strrchr(exe, '/') = 0;
	snprintf(child, sizeof(child), "%s/exec_env_child", exe);
	snprintf(lib, sizeof(lib), "%s/../../lib/libcrest.so", exe);
	if (!realpath(lib, exe))
		SKIP("build build/lib/libcrest.so first (make)");
	snprintf(lib, sizeof(lib), "%s", exe);
	if (access(child, X_OK))
		SKIP("build build/tests/unit/exec_env_child first (make)");
	if (access("/usr/bin/env", X_OK))
		SKIP("no /usr/bin/env");
	dir = harness_tmpdir();
}

/* runs argv with envp, returns its stdout ("\n" first, for line matching) */
static char *run(char *const argv[], char *const envp[])
{
	static char out[1 << 20];
	size_t len = 1;
	int p[2], st;

	EXPECT(pipe(p) == 0);
	pid_t pid = fork();
	EXPECT(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	close(p[1]);
	out[0] = '\n';
	for (;;) {
		ssize_t n = read(p[0], out + len, sizeof(out) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	out[len] = 0;
	close(p[0]);
	EXPECT(waitpid(pid, &st, 0) == pid);
	EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return out;
}

static bool has_line(const char *out, const char *name, const char *value)
{
	char line[2 * PATH_MAX];

	snprintf(line, sizeof(line), "\n%s=%s\n", name, value);
	return strstr(out, line) != NULL;
}

/* exec_env_child MODE under an active libcrest */
static char *run_mode(const char *mode)
{
	char preload[PATH_MAX + 64], crest_dir[128];
	char *argv[] = { child, (char *)mode, NULL };
	char *envp[] = { preload, crest_dir, "PATH=/usr/bin:/bin", NULL };

	paths();
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", lib);
	snprintf(crest_dir, sizeof(crest_dir), "CREST_DIR=%s", dir);
	return run(argv, envp);
}

static void expect_kept(const char *mode)
{
	char *out = run_mode(mode);

	if (!has_line(out, "LD_PRELOAD", lib) || !has_line(out, "CREST_DIR", dir)) {
		fprintf(stderr, "  %s: the new program's environment:%s", mode, out);
		exit(1);
	}
}

TEST(execve) { expect_kept("execve"); }
TEST(execv) { expect_kept("execv"); }
TEST(execvp) { expect_kept("execvp"); }
TEST(execvpe) { expect_kept("execvpe"); }
TEST(execl) { expect_kept("execl"); }
TEST(execlp) { expect_kept("execlp"); }
TEST(execle) { expect_kept("execle"); }
TEST(fexecve) { expect_kept("fexecve"); }
TEST(execveat) { expect_kept("execveat"); }
TEST(posix_spawn) { expect_kept("posix_spawn"); }
TEST(posix_spawnp) { expect_kept("posix_spawnp"); }
TEST(vfork_execve) { expect_kept("vfork"); }

TEST(big_environment)
{
	expect_kept("big");
	EXPECT(has_line(run_mode("big"), "V39999", "x"));
}

/* a CREST_* variable the program set is left as it set it */
TEST(other_value_kept)
{
	char *out = run_mode("other");

	EXPECT(has_line(out, "CREST_DIR", "/other"));
	EXPECT(has_line(out, "LD_PRELOAD", lib));
}

/* a program nobody here wrote: env -i */
TEST(env_i)
{
	char preload[PATH_MAX + 64], crest_dir[128];
	char *argv[] = { "/usr/bin/env", "-i", "/usr/bin/env", NULL };
	char *envp[] = { preload, crest_dir, NULL };

	paths();
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", lib);
	snprintf(crest_dir, sizeof(crest_dir), "CREST_DIR=%s", dir);
	char *out = run(argv, envp);
	EXPECT(has_line(out, "LD_PRELOAD", lib));
	EXPECT(has_line(out, "CREST_DIR", dir));
}

/* without CREST_DIR libcrest passes everything through */
TEST(inactive_passes_through)
{
	char preload[PATH_MAX + 64];
	char *argv[] = { child, "execve", NULL };
	char *envp[] = { preload, NULL };

	paths();
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", lib);
	EXPECT(strcmp(run(argv, envp), "\n") == 0);
}

int main(void)
{
	return RUN_TESTS();
}
