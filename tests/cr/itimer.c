/*
 * itimer: setitimer(ITIMER_REAL) every 10 ms with a SIGALRM handler that
 * counts ticks, while the program does a fixed number of work steps.  The
 * result counts steps, not ticks (ticks depend on time); ticks are only
 * required to keep coming: every window of steps must see some, so a timer
 * lost at restart is caught, and the interval must stay 10 ms.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

#define STEPS 400
#define STEP_MS 18
#define WINDOW 50
#define INTERVAL_US 10000

static volatile sig_atomic_t ticks;

static void fail(const char *why, long a)
{
	printf("FAIL itimer: %s (%ld)\n", why, a);
	fflush(stdout);
	exit(1);
}

static void on_alarm(int sig)
{
	if (sig == SIGALRM)
		ticks++;
}

/* sleeps the full time even though SIGALRM interrupts it */
static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int main(void)
{
	struct sigaction sa = { 0 };
	struct itimerval it = { { 0, INTERVAL_US }, { 0, INTERVAL_US } }, cur;
	uint64_t acc = 1;
	long window_start = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("itimer: start, %d steps\n", STEPS);
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL) != 0 || setitimer(ITIMER_REAL, &it, NULL) != 0)
		fail("cannot set up the timer", errno);

	for (int step = 0; step < STEPS; step++) {
		for (int i = 0; i < 1000; i++)
			acc = acc * 6364136223846793005ull + (uint64_t)step;
		if (getitimer(ITIMER_REAL, &cur) != 0)
			fail("getitimer failed", errno);
		if (cur.it_interval.tv_sec != 0 || cur.it_interval.tv_usec != INTERVAL_US)
			fail("timer interval changed (usec)", cur.it_interval.tv_usec);
		if (cur.it_value.tv_sec == 0 && cur.it_value.tv_usec == 0) {
			/* it reads so, natively too, between its expiry and the
			 * delivery of its SIGALRM (the timer is re-armed when the
			 * signal is taken): expiry during getitimer itself.  A
			 * timer that stays disarmed after 2 ms is the failure. */
			struct timespec ms2 = { 0, 2000000 };
			nanosleep(&ms2, NULL);
			if (getitimer(ITIMER_REAL, &cur) != 0)
				fail("getitimer failed", errno);
			if (cur.it_value.tv_sec == 0 && cur.it_value.tv_usec == 0)
				fail("timer is disarmed at step", step);
		}
		if (step % WINDOW == WINDOW - 1) {
			if (ticks == window_start)
				fail("no SIGALRM during a window of steps ending at step", step);
			window_start = ticks;
		}
		if (step % 100 == 99)
			printf("itimer: step %d\n", step + 1);
		sleep_ms(STEP_MS);
	}
	it.it_value.tv_usec = 0;
	it.it_interval.tv_usec = 0;
	setitimer(ITIMER_REAL, &it, NULL);
	if (ticks <= 0)
		fail("no ticks at all", ticks);
	printf("RESULT itimer steps %d work 0x%016llx ticks>0\n", STEPS, (unsigned long long)acc);
	printf("PASS\n");
	return 0;
}
