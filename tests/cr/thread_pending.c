/*
 * thread_pending: signals pending on one thread (pthread_kill / tgkill,
 * SI_TKILL) and on the process (sigqueue, SI_QUEUE), blocked for the whole
 * run in a worker thread that runs on a small (32 KiB) stack; at the end
 * they are unblocked and each must be delivered exactly once, to the right
 * thread, with its value.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STEPS 200

static pthread_t worker_t;
static volatile int usr1_in_worker, usr1_elsewhere, rt_value = -1, rt_count;
static volatile int stop;

static void on_usr1(int sig)
{
	(void)sig;
	if (pthread_equal(pthread_self(), worker_t))
		usr1_in_worker++;
	else
		usr1_elsewhere++;
}

static void on_rt(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	rt_value = si->si_value.sival_int;
	rt_count++;
}

static void *worker(void *arg)
{
	(void)arg;
	while (!stop) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	sigaddset(&s, SIGRTMIN + 3);
	pthread_sigmask(SIG_UNBLOCK, &s, NULL);	/* delivered here, now */
	return NULL;
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_sigaction = on_rt;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGRTMIN + 3, &sa, NULL);
	/* every thread blocks both; only the worker unblocks them at the end */
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	sigaddset(&s, SIGRTMIN + 3);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 32 * 1024);
	pthread_create(&worker_t, &attr, worker, NULL);
	pthread_kill(worker_t, SIGUSR1);		/* thread-directed */
	union sigval v = { .sival_int = 4242 };
	sigqueue(getpid(), SIGRTMIN + 3, v);		/* process-directed */
	printf("thread_pending: start, %d steps\n", STEPS);
	fflush(stdout);
	for (int step = 1; step <= STEPS; step++) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		if (step % 50 == 0) {
			printf("thread_pending: step %d\n", step);
			fflush(stdout);
		}
	}
	stop = 1;
	pthread_join(worker_t, NULL);
	printf("RESULT thread_pending usr1 %d/%d rt %d value %d\n", usr1_in_worker, usr1_elsewhere, rt_count,
	       rt_value);
	int ok = usr1_in_worker == 1 && !usr1_elsewhere && rt_count == 1 && rt_value == 4242;
	printf(ok ? "PASS\n" : "FAIL thread_pending\n");
	return ok ? 0 : 1;
}
