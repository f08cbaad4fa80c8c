/*
 * stuck_thread: a thread that no signal can reach.  It blocks every signal
 * with the raw rt_sigprocmask system call (so no libc or crest wrapper can
 * filter the mask), then counts for about 12 s.  A checkpoint cannot stop
 * this thread: it must fail cleanly and leave the program running.  Not a
 * checkpoint/restart cycle program: tests/bats/core.bats runs it.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define STEPS 600
#define STEP_MS 20

static volatile uint64_t g_counter;
static volatile int g_blocked;

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	/* raw nanosleep: with every signal blocked, nothing can interrupt it */
	while (syscall(SYS_nanosleep, &ts, &ts) == -1 && errno == EINTR)
		;
}

static void *stuck(void *arg)
{
	uint64_t all = ~0ULL;

	(void)arg;
	if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, 8) != 0) {
		perror("FAIL stuck_thread: rt_sigprocmask");
		exit(1);
	}
	g_blocked = 1;
	for (int i = 0; i < STEPS; i++) {
		g_counter++;
		sleep_ms(STEP_MS);
	}
	return NULL;
}

int main(void)
{
	pthread_t t;
	uint64_t start;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("stuck_thread: start, %d steps of %d ms\n", STEPS, STEP_MS);
	if (pthread_create(&t, NULL, stuck, NULL) != 0) {
		printf("FAIL stuck_thread: pthread_create\n");
		return 1;
	}
	while (!g_blocked)
		usleep(1000);
	start = g_counter;
	printf("stuck_thread: all signals blocked in the thread\n");
	pthread_join(t, NULL);
	printf("RESULT stuck_thread %llu steps\n", (unsigned long long)g_counter);
	if (g_counter <= start || g_counter != STEPS) {
		printf("FAIL stuck_thread: counter %llu, expected %d\n",
		       (unsigned long long)g_counter, STEPS);
		return 1;
	}
	printf("PASS\n");
	return 0;
}
