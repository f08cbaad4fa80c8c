/* SPDX-License-Identifier: MIT */
/*
 * Minimal unit-test harness.  A test file is one program:
 *
 *   #include "harness.h"
 *   TEST(frame_roundtrip) { EXPECT_EQ(1, 1); }
 *   ... 
 *   int main(void) { return RUN_TESTS(); }
 *
 * Each test runs in its own forked process with a 30 s alarm, so a crash or
 * hang fails that test only; it is a process group of its own, killed when
 * the test ends, with whatever the test left running in it.
 * harness_tmpdir() is a folder of the test's own, made before it starts
 * and removed with what is in it when it ends.  Output ends with
 * "N passed, N failed".
 */
#ifndef CREST_HARNESS_H
#define CREST_HARNESS_H

#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct harness_test { const char *name; void (*fn)(void); };
extern struct harness_test harness_tests[256];
extern int harness_ntests;

#define TEST(tname) \
	static void test_##tname(void); \
	__attribute__((constructor)) static void reg_##tname(void) \
	{ harness_tests[harness_ntests].name = #tname; harness_tests[harness_ntests++].fn = test_##tname; } \
	static void test_##tname(void)

#define EXPECT(c) do { if (!(c)) { fprintf(stderr, "  %s:%d: expected %s\n", __FILE__, __LINE__, #c); exit(1); } } while (0)
#define EXPECT_EQ(a, b) do { long long _a = (long long)(a), _b = (long long)(b); if (_a != _b) { \
	fprintf(stderr, "  %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a, _a, #b, _b); exit(1); } } while (0)
#define SKIP(why) do { fprintf(stderr, "  skip: %s\n", why); exit(77); } while (0)

struct harness_test harness_tests[256];
int harness_ntests;
static char harness_dir[64];

static inline char *harness_tmpdir(void)
{
	if (!harness_dir[0]) {
		fprintf(stderr, "  no folder of the test's own under /tmp\n");
		exit(1);
	}
	return harness_dir;
}

static inline int harness_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static inline int harness_run(void)
{
	int pass = 0, fail = 0, skip = 0;
	for (int i = 0; i < harness_ntests; i++) {
		snprintf(harness_dir, sizeof(harness_dir), "/tmp/crest-test.XXXXXX");
		if (!mkdtemp(harness_dir))
			harness_dir[0] = 0;
		fflush(NULL);
		pid_t pid = fork();
		if (pid == 0) {
			setpgid(0, 0);	/* what the test starts and leaves is killed with it */
			alarm(30);
			harness_tests[i].fn();
			exit(0);
		}
		setpgid(pid, pid);
		int st = 0;
		waitpid(pid, &st, 0);
		kill(-pid, SIGKILL);	/* a failed test's helpers (fake_proc ...) */
		if (harness_dir[0])
			nftw(harness_dir, harness_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
			printf("ok   %s\n", harness_tests[i].name);
			pass++;
		} else if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
			printf("skip %s\n", harness_tests[i].name);
			skip++;
		} else {
			printf("FAIL %s (%s %d)\n", harness_tests[i].name,
			       WIFSIGNALED(st) ? "signal" : "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
			fail++;
		}
	}
	printf("%d passed, %d failed, %d skipped\n", pass, fail, skip);
	return fail ? 1 : 0;
}
#define RUN_TESTS() harness_run()

#endif
