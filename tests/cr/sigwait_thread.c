/*
 * sigwait_thread: the "signal thread" pattern.  Every thread blocks all
 * signals (sigfillset + pthread_sigmask); one thread takes them with
 * sigwait on a full set.  Main sends SIGUSR1 to the process each step and
 * the signal thread counts them.  Checkpoints must still stop every thread
 * (crest's own signal must reach them) and the count must be exact.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define STEPS 300

static volatile int received;
static volatile int stop;

static void *signal_thread(void *arg)
{
	(void)arg;
	sigset_t all;
	sigfillset(&all);
	while (!stop) {
		int sig = 0;
		if (sigwait(&all, &sig) != 0) {
			printf("FAIL sigwait_thread: sigwait failed\n");
			exit(1);
		}
		if (sig == SIGUSR1)
			__atomic_add_fetch(&received, 1, __ATOMIC_SEQ_CST);
		else if (sig == SIGUSR2)
			break;
		else {
			printf("FAIL sigwait_thread: sigwait returned signal %d\n", sig);
			exit(1);
		}
	}
	return NULL;
}

static void *worker(void *arg)
{
	volatile unsigned long *n = arg;
	while (!stop)
		(*n)++;
	return NULL;
}

int main(void)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_t st, wt;
	unsigned long spins = 0;
	pthread_create(&st, NULL, signal_thread, NULL);
	pthread_create(&wt, NULL, worker, &spins);
	printf("sigwait_thread: start, %d steps\n", STEPS);
	fflush(stdout);
	for (int step = 1; step <= STEPS; step++) {
		kill(getpid(), SIGUSR1);
		/* wait until the signal thread has taken it: the count stays exact */
		while (__atomic_load_n(&received, __ATOMIC_SEQ_CST) < step)
			usleep(1000);
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		if (step % 50 == 0) {
			printf("sigwait_thread: step %d\n", step);
			fflush(stdout);
		}
	}
	stop = 1;
	kill(getpid(), SIGUSR2);
	pthread_join(st, NULL);
	pthread_join(wt, NULL);
	printf("RESULT sigwait_thread received %d\n", received);
	printf(received == STEPS ? "PASS\n" : "FAIL sigwait_thread: count\n");
	return received == STEPS ? 0 : 1;
}
