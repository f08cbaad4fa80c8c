/*
 * blocking: threads parked in calls the kernel does not restart after a
 * signal handler (poll, select, sigsuspend, nanosleep), one of them taking
 * its signals on an alternate stack.  A checkpoint interrupts them all; the
 * program must never see EINTR from crest (only from its own SIGUSR1, in
 * sigsuspend, where it is expected), and every SIGUSR1 must be handled on
 * the alternate stack exactly once.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#define STEPS 300

static int pipefd[2];
static volatile int stop;
static volatile int handled, off_stack;
static char *alt_lo, *alt_hi;
static pthread_t waiter;
static volatile int waiter_ready;

static void fail(const char *what, int e)
{
	printf("FAIL blocking: %s (%s)\n", what, strerror(e));
	fflush(stdout);
	exit(1);
}

static void on_usr1(int sig)
{
	(void)sig;
	char here;
	if (&here < alt_lo || &here >= alt_hi)
		off_stack++;
	handled++;
}

static void *poller(void *arg)
{
	(void)arg;
	struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
	while (!stop) {
		int r = poll(&p, 1, 40);
		if (r < 0)
			fail("poll", errno);
	}
	return NULL;
}

static void *selecter(void *arg)
{
	(void)arg;
	while (!stop) {
		struct timeval tv = { 0, 30000 };
		if (select(0, NULL, NULL, NULL, &tv) < 0)
			fail("select", errno);
	}
	return NULL;
}

static void *sleeper(void *arg)
{
	(void)arg;
	while (!stop) {
		struct timespec ts = { 0, 70 * 1000 * 1000 };
		if (nanosleep(&ts, NULL) < 0)
			fail("nanosleep", errno);
	}
	return NULL;
}

/* waits for SIGUSR1 in sigsuspend, with its handler on an alternate stack */
static void *suspender(void *arg)
{
	(void)arg;
	static char alt[64 * 1024];
	stack_t ss = { .ss_sp = alt, .ss_size = sizeof(alt) };
	alt_lo = alt;
	alt_hi = alt + sizeof(alt);
	if (sigaltstack(&ss, NULL) < 0)
		fail("sigaltstack", errno);
	sigset_t none;
	sigemptyset(&none);
	int seen = 0;
	waiter_ready = 1;
	while (!stop || seen < STEPS) {
		int before = handled;
		if (sigsuspend(&none) != -1 || errno != EINTR)
			fail("sigsuspend returned without EINTR", errno);
		if (handled == before)
			fail("sigsuspend returned though no SIGUSR1 was handled", EINTR);
		seen = handled;
		if (seen >= STEPS)
			break;
	}
	return NULL;
}

int main(void)
{
	if (pipe(pipefd) < 0)
		fail("pipe", errno);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_ONSTACK;
	sigaction(SIGUSR1, &sa, NULL);
	/* only the suspender takes SIGUSR1 */
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	pthread_t t[3];
	pthread_create(&t[0], NULL, poller, NULL);
	pthread_create(&t[1], NULL, selecter, NULL);
	pthread_create(&t[2], NULL, sleeper, NULL);
	pthread_create(&waiter, NULL, suspender, NULL);
	while (!waiter_ready)
		usleep(1000);
	printf("blocking: start, %d steps\n", STEPS);
	fflush(stdout);
	for (int step = 1; step <= STEPS; step++) {
		pthread_kill(waiter, SIGUSR1);
		while (handled < step)
			usleep(500);
		usleep(20000);
		if (step % 50 == 0) {
			printf("blocking: step %d\n", step);
			fflush(stdout);
		}
	}
	stop = 1;
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	pthread_join(waiter, NULL);
	printf("RESULT blocking handled %d off-stack %d\n", handled, off_stack);
	if (handled != STEPS || off_stack)
		fail("SIGUSR1 count or stack", 0);
	printf("PASS\n");
	return 0;
}
