/* SPDX-License-Identifier: MIT */
/* Unit tests of the virtual pid table (preload/vpid_table.c), compiled in. */
#include <errno.h>

#include "harness.h"

#include "../../preload/vpid_table.c"

/* harness.h's TEST(name) also substitutes the ".name" member; until it is
 * fixed there, register tests with a parameter that cannot collide */
#undef TEST
#define TEST(t) \
	static void test_##t(void); \
	__attribute__((constructor)) static void reg_##t(void) \
	{ harness_tests[harness_ntests].name = #t; harness_tests[harness_ntests++].fn = test_##t; } \
	static void test_##t(void)

static siginfo_t info(int signo, int code, pid_t pid)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_signo = signo;
	si.si_code = code;
	si.si_pid = pid;
	return si;
}

TEST(empty_is_identity)
{
	EXPECT(!crest_vpid_active());
	EXPECT_EQ(crest_vpid_to_real(1234), 1234);
	EXPECT_EQ(crest_real_to_vpid(1234), 1234);
	EXPECT(!crest_vpid_taken(1234));
	siginfo_t si = info(SIGCHLD, CLD_EXITED, 77);
	crest_vpid_fix_siginfo(&si);
	EXPECT_EQ(si.si_pid, 77);
}

TEST(add_and_lookup)
{
	EXPECT_EQ(crest_vpid_add(100, 5000), 0);
	EXPECT_EQ(crest_vpid_add(101, 5001), 0);
	EXPECT_EQ(crest_vpid_add(102, 102), 0);	/* same pid again after the restart */
	EXPECT(crest_vpid_active());
	EXPECT_EQ(crest_vpid_to_real(100), 5000);
	EXPECT_EQ(crest_vpid_to_real(101), 5001);
	EXPECT_EQ(crest_vpid_to_real(102), 102);
	EXPECT_EQ(crest_real_to_vpid(5000), 100);
	EXPECT_EQ(crest_real_to_vpid(5001), 101);
	EXPECT_EQ(crest_real_to_vpid(102), 102);
	/* absent: identity */
	EXPECT_EQ(crest_vpid_to_real(200), 200);
	EXPECT_EQ(crest_real_to_vpid(200), 200);
	/* the lookups are one way each: a real pid is not a virtual key */
	EXPECT_EQ(crest_vpid_to_real(5000), 5000);
	EXPECT_EQ(crest_real_to_vpid(100), 100);
}

TEST(bad_input)
{
	EXPECT_EQ(crest_vpid_add(0, 10), -EINVAL);
	EXPECT_EQ(crest_vpid_add(10, 0), -EINVAL);
	EXPECT_EQ(crest_vpid_add(-5, 10), -EINVAL);
	EXPECT_EQ(crest_vpid_add(10, -5), -EINVAL);
	EXPECT(!crest_vpid_active());
	EXPECT_EQ(crest_vpid_add(10, 20), 0);
	EXPECT_EQ(crest_vpid_add(10, 30), -EEXIST);
	EXPECT_EQ(crest_vpid_add(11, 20), -EEXIST);
	/* zero and negative pass through: "self", "any child", groups */
	EXPECT_EQ(crest_vpid_to_real(0), 0);
	EXPECT_EQ(crest_vpid_to_real(-1), -1);
	EXPECT_EQ(crest_vpid_to_real(-10), -10);
	EXPECT_EQ(crest_real_to_vpid(0), 0);
	EXPECT_EQ(crest_real_to_vpid(-20), -20);
	EXPECT(!crest_vpid_taken(0));
	EXPECT(!crest_vpid_taken(-10));
}

TEST(taken)
{
	EXPECT_EQ(crest_vpid_add(300, 900), 0);
	EXPECT_EQ(crest_vpid_add(301, 301), 0);
	EXPECT(crest_vpid_taken(300));		/* a new process 300 would be ambiguous */
	EXPECT(!crest_vpid_taken(301));		/* that is the process itself */
	EXPECT(!crest_vpid_taken(900));
	EXPECT(!crest_vpid_taken(302));
}

TEST(capacity)
{
	const pid_t base = 1000000;
	for (pid_t i = 1; i <= CREST_VPID_MAX; i++)
		EXPECT_EQ(crest_vpid_add(i, base + i), 0);
	EXPECT_EQ(crest_vpid_add(CREST_VPID_MAX + 1, 7), -ENOSPC);
	for (pid_t i = 1; i <= CREST_VPID_MAX; i++) {
		EXPECT_EQ(crest_vpid_to_real(i), base + i);
		EXPECT_EQ(crest_real_to_vpid(base + i), i);
	}
	EXPECT_EQ(crest_vpid_to_real(CREST_VPID_MAX + 1), CREST_VPID_MAX + 1);
	EXPECT_EQ(crest_real_to_vpid(base), base);
	/* full, then reset and full again with other pids */
	crest_vpid_reset();
	EXPECT(!crest_vpid_active());
	for (pid_t i = 1; i <= CREST_VPID_MAX; i++)
		EXPECT_EQ(crest_vpid_add(base + i, 3 * i), 0);
	for (pid_t i = 1; i <= CREST_VPID_MAX; i++) {
		EXPECT_EQ(crest_vpid_to_real(base + i), 3 * i);
		EXPECT_EQ(crest_real_to_vpid(3 * i), base + i);
		EXPECT_EQ(crest_vpid_to_real(i), i);
	}
}

TEST(reset)
{
	EXPECT_EQ(crest_vpid_add(400, 401), 0);
	EXPECT_EQ(crest_vpid_add(401, 400), 0);	/* swapped */
	EXPECT_EQ(crest_vpid_to_real(400), 401);
	EXPECT_EQ(crest_vpid_to_real(401), 400);
	crest_vpid_reset();
	EXPECT(!crest_vpid_active());
	EXPECT_EQ(crest_vpid_to_real(400), 400);
	EXPECT_EQ(crest_real_to_vpid(401), 401);
	EXPECT(!crest_vpid_taken(400));
	/* every slot is empty again */
	for (uint32_t i = 0; i < NSLOTS; i++)
		EXPECT(!by_virt[i] && !by_real[i]);
	/* the same pids can come back with other partners (a second restart) */
	EXPECT_EQ(crest_vpid_add(400, 600), 0);
	EXPECT_EQ(crest_vpid_to_real(400), 600);
	EXPECT_EQ(crest_real_to_vpid(401), 401);
	crest_vpid_reset();
	crest_vpid_reset();
	EXPECT(!crest_vpid_active());
}

/* many keys on one probe chain: reset must find each over emptied slots */
TEST(collisions)
{
	for (pid_t i = 1; i <= 2000; i++)
		EXPECT_EQ(crest_vpid_add(i << SLOT_BITS, i), 0);	/* same slot: 0 */
	for (pid_t i = 1; i <= 2000; i++) {
		EXPECT_EQ(crest_vpid_to_real(i << SLOT_BITS), i);
		EXPECT_EQ(crest_real_to_vpid(i), i << SLOT_BITS);
	}
	crest_vpid_reset();
	for (uint32_t i = 0; i < NSLOTS; i++)
		EXPECT(!by_virt[i] && !by_real[i]);
}

TEST(fix_siginfo)
{
	EXPECT_EQ(crest_vpid_add(100, 5000), 0);
	const struct { int signo, code; bool fix; } cases[] = {
		{ SIGCHLD, CLD_EXITED, true },
		{ SIGCHLD, CLD_KILLED, true },
		{ SIGCHLD, CLD_DUMPED, true },
		{ SIGCHLD, CLD_STOPPED, true },
		{ SIGCHLD, CLD_CONTINUED, true },
		{ SIGUSR1, SI_USER, true },
		{ SIGRTMIN, SI_QUEUE, true },
		{ SIGUSR2, SI_TKILL, true },
		{ SIGRTMIN, SI_MESGQ, true },
		{ SIGRTMIN, SI_ASYNCIO, true },
		{ SIGTERM, SI_KERNEL, false },
		{ SIGSEGV, SEGV_MAPERR, false },
		{ SIGIO, POLL_IN, false },	/* si_band is where si_pid is */
		{ SIGALRM, SI_TIMER, false },
		{ SIGIO, SI_SIGIO, false },
		{ SIGCHLD, SI_KERNEL, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		siginfo_t si = info(cases[i].signo, cases[i].code, 5000);
		crest_vpid_fix_siginfo(&si);
		if (si.si_pid != (cases[i].fix ? 100 : 5000))
			fprintf(stderr, "  case %zu: signal %d code %d\n", i, cases[i].signo, cases[i].code);
		EXPECT_EQ(si.si_pid, cases[i].fix ? 100 : 5000);
	}
	/* a pid not in the table, and 0 (a sender in another namespace) */
	siginfo_t si = info(SIGUSR1, SI_USER, 5001);
	crest_vpid_fix_siginfo(&si);
	EXPECT_EQ(si.si_pid, 5001);
	si = info(SIGUSR1, SI_USER, 0);
	crest_vpid_fix_siginfo(&si);
	EXPECT_EQ(si.si_pid, 0);
	crest_vpid_fix_siginfo(NULL);
}

/* the wrappers, in a helper that has them compiled in */
TEST(wrappers)
{
	char path[4096];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 32);
	EXPECT(n > 0);
	path[n] = 0;
	char *slash = strrchr(path, '/');
	EXPECT(slash);
	strcpy(slash + 1, "vpid_child");
	if (access(path, X_OK))
		SKIP("vpid_child not built");
	pid_t pid = fork();
	EXPECT(pid >= 0);
	if (pid == 0) {
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	int st;
	EXPECT_EQ(waitpid(pid, &st, 0), pid);
	EXPECT(WIFEXITED(st));
	EXPECT_EQ(WEXITSTATUS(st), 0);
}

int main(void)
{
	return RUN_TESTS();
}
