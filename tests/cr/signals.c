/*
 * signals: SA_SIGINFO handlers for SIGUSR1 and SIGRTMIN+1.  Every step
 * queues SIGUSR1 to itself with a value (sigqueue) and checks the handler
 * saw that signal, value and SI_QUEUE.  Now and then SIGRTMIN+1 is blocked,
 * three values are queued, and it stays blocked and pending for many steps
 * (across any checkpoint that lands there) before it is unblocked and all
 * three must arrive in order.  SIGUSR2 is raised at the start while blocked
 * and stays pending for the whole run; it is delivered at the end.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define STEPS 400
#define STEP_MS 18
#define RT_PERIOD 40		/* block SIGRTMIN+1 at step % RT_PERIOD == 0 ... */
#define RT_HOLD 25		/* ... and unblock RT_HOLD steps later */
#define RT_QUEUED 3

static volatile sig_atomic_t usr1_count, usr1_bad;
static volatile int usr1_last_value;
static volatile sig_atomic_t rt_count, rt_bad;
static volatile int rt_values[64];
static volatile sig_atomic_t usr2_count;

static void fail(const char *why, long a, long b)
{
	printf("FAIL signals: %s (%ld, expected %ld)\n", why, a, b);
	fflush(stdout);
	exit(1);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (sig != SIGUSR1 || si->si_signo != SIGUSR1 || si->si_code != SI_QUEUE)
		usr1_bad = 1;
	usr1_last_value = si->si_value.sival_int;
	usr1_count++;
}

static void on_rt(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (sig != SIGRTMIN + 1 || si->si_signo != SIGRTMIN + 1 || si->si_code != SI_QUEUE)
		rt_bad = 1;
	if (rt_count < 64)
		rt_values[rt_count] = si->si_value.sival_int;
	rt_count++;
}

static void on_usr2(int sig)
{
	if (sig == SIGUSR2)
		usr2_count++;
}

static void set_blocked(int sig, int how)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, sig);
	if (sigprocmask(how, &s, NULL) != 0)
		fail("sigprocmask failed", errno, 0);
}

static int is_pending(int sig)
{
	sigset_t s;

	sigpending(&s);
	return sigismember(&s, sig);
}

int main(void)
{
	struct sigaction sa = { 0 };
	uint64_t hash = 0xcbf29ce484222325ull;
	long rt_total = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("signals: start, %d steps\n", STEPS);
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sa.sa_sigaction = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_sigaction = on_rt;
	sigaction(SIGRTMIN + 1, &sa, NULL);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_usr2;
	sigaction(SIGUSR2, &sa, NULL);

	set_blocked(SIGUSR2, SIG_BLOCK);
	kill(getpid(), SIGUSR2);

	for (int step = 0; step < STEPS; step++) {
		union sigval v = { .sival_int = step * 7 + 3 };
		long before = usr1_count;

		if (sigqueue(getpid(), SIGUSR1, v) != 0)
			fail("sigqueue SIGUSR1 failed", errno, 0);
		/* a signal sent to oneself, unblocked, is delivered before
		 * sigqueue returns; allow a moment in case it is not */
		for (int i = 0; i < 100 && usr1_count == before; i++)
			sleep_ms(1);
		if (usr1_count != before + 1)
			fail("SIGUSR1 not delivered exactly once", usr1_count - before, 1);
		if (usr1_bad)
			fail("SIGUSR1 handler saw a wrong siginfo", 0, 0);
		if (usr1_last_value != v.sival_int)
			fail("SIGUSR1 carried a wrong value", usr1_last_value, v.sival_int);

		if (step % RT_PERIOD == 0) {
			set_blocked(SIGRTMIN + 1, SIG_BLOCK);
			for (int i = 0; i < RT_QUEUED; i++) {
				union sigval rv = { .sival_int = step * 100 + i };
				if (sigqueue(getpid(), SIGRTMIN + 1, rv) != 0)
					fail("sigqueue SIGRTMIN+1 failed", errno, 0);
			}
		}
		if (step % RT_PERIOD > 0 && step % RT_PERIOD < RT_HOLD) {
			if (!is_pending(SIGRTMIN + 1))
				fail("blocked SIGRTMIN+1 is no longer pending", step, 0);
			if (rt_count != 0)
				fail("blocked SIGRTMIN+1 was delivered", rt_count, 0);
		}
		if (step % RT_PERIOD == RT_HOLD) {
			set_blocked(SIGRTMIN + 1, SIG_UNBLOCK);
			for (int i = 0; i < 100 && rt_count < RT_QUEUED; i++)
				sleep_ms(1);
			if (rt_count != RT_QUEUED)
				fail("queued SIGRTMIN+1 count wrong after unblocking", rt_count, RT_QUEUED);
			if (rt_bad)
				fail("SIGRTMIN+1 handler saw a wrong siginfo", 0, 0);
			for (int i = 0; i < RT_QUEUED; i++) {
				int want = (step - RT_HOLD) * 100 + i;
				if (rt_values[i] != want)
					fail("SIGRTMIN+1 values out of order", rt_values[i], want);
				hash = (hash ^ (uint64_t)rt_values[i]) * 0x100000001b3ull;
			}
			rt_total += rt_count;
			rt_count = 0;
		}

		if (!is_pending(SIGUSR2))
			fail("SIGUSR2 raised at start is no longer pending", step, 0);
		if (usr2_count != 0)
			fail("blocked SIGUSR2 was delivered", usr2_count, 0);
		hash = (hash ^ (uint64_t)usr1_last_value) * 0x100000001b3ull;
		if (step % 100 == 99)
			printf("signals: step %d\n", step + 1);
		sleep_ms(STEP_MS);
	}

	set_blocked(SIGUSR2, SIG_UNBLOCK);
	for (int i = 0; i < 100 && usr2_count == 0; i++)
		sleep_ms(1);
	if (usr2_count != 1)
		fail("SIGUSR2 pending since the start not delivered once", usr2_count, 1);
	printf("RESULT signals usr1 %ld rt %ld usr2 %ld checksum 0x%016llx\n",
	       (long)usr1_count, rt_total, (long)usr2_count, (unsigned long long)hash);
	printf("PASS\n");
	return 0;
}
