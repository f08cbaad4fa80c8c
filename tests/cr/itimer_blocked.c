/*
 * itimer_blocked: a periodic ITIMER_REAL whose SIGALRM is blocked most of
 * the time, so that at a checkpoint the signal is pending and the kernel
 * reports the timer as disarmed (it re-arms it only when the signal is
 * taken).  After each blocked window the program unblocks SIGALRM and
 * checks that ticks keep coming: a restart that forgot the timer stops them.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

#define STEPS 40
#define INTERVAL_US 5000

static volatile long ticks;

static void on_alarm(int sig)
{
	(void)sig;
	ticks++;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int main(void)
{
	struct sigaction sa = { 0 };
	struct itimerval it = { { 0, INTERVAL_US }, { 0, INTERVAL_US } };
	sigset_t alrm;
	uint64_t acc = 7;

	setvbuf(stdout, NULL, _IOLBF, 0);
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	printf("itimer_blocked: start, %d steps\n", STEPS);
	for (int step = 0; step < STEPS; step++) {
		/* blocked: the signal becomes pending, the timer reads disarmed */
		sigprocmask(SIG_BLOCK, &alrm, NULL);
		sleep_ms(150);
		for (int i = 0; i < 1000; i++)
			acc = acc * 6364136223846793005ull + (uint64_t)step;
		long before = ticks;
		sigprocmask(SIG_UNBLOCK, &alrm, NULL);
		sleep_ms(60);	/* a dozen intervals: ticks must come */
		if (ticks - before < 2) {
			printf("FAIL itimer_blocked: only %ld ticks after unblocking at step %d\n", ticks - before, step);
			return 1;
		}
		if (step % 10 == 9)
			printf("itimer_blocked: step %d\n", step + 1);
	}
	printf("RESULT itimer_blocked steps %d work 0x%016llx\n", STEPS, (unsigned long long)acc);
	printf("PASS\n");
	return 0;
}
