/*
 * threads: 8 pthreads working in rounds.  Each round every thread waits at a
 * barrier, then takes its turn (a token passed through a mutex and condvar
 * in thread order), updating shared state and its own __thread variables.
 * Each thread sets errno to its own value and checks it is unchanged after
 * blocking calls (errno is thread-local: a checkpoint that clobbers it, or
 * restores one thread's TLS into another, is caught).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NTHREADS 8
#define ROUNDS 220
#define STEP_MS 25

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t turn_cv = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t barrier;
static int turn;			/* whose turn, under lock */
static uint64_t shared_sum;		/* under lock */
static uint64_t shared_hash = 1469598103934665603ull;
static uint64_t thread_result[NTHREADS];

static __thread uint64_t tls_acc;
static __thread int tls_index = -1;
static __thread char tls_name[24];

static void fail(int idx, const char *why)
{
	printf("FAIL threads: thread %d: %s\n", idx, why);
	fflush(stdout);
	exit(1);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void *worker(void *arg)
{
	int idx = (int)(intptr_t)arg;
	uint64_t shadow = 0;

	tls_index = idx;
	snprintf(tls_name, sizeof(tls_name), "worker-%d", idx);
	for (int round = 0; round < ROUNDS; round++) {
		errno = 1000 + idx;
		int rc = pthread_barrier_wait(&barrier);
		if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD)
			fail(idx, "pthread_barrier_wait failed");
		if (errno != 1000 + idx)
			fail(idx, "errno changed across pthread_barrier_wait");

		pthread_mutex_lock(&lock);
		while (turn != idx)
			pthread_cond_wait(&turn_cv, &lock);
		if (errno != 1000 + idx)
			fail(idx, "errno changed across pthread_cond_wait");
		shared_sum += (uint64_t)round * NTHREADS + idx;
		shared_hash = (shared_hash ^ shared_sum) * 1099511628211ull;
		turn = (idx + 1) % NTHREADS;
		pthread_cond_broadcast(&turn_cv);
		pthread_mutex_unlock(&lock);

		tls_acc += (uint64_t)(round + 1) * (idx + 1);
		shadow += (uint64_t)(round + 1) * (idx + 1);
		if (tls_acc != shadow)
			fail(idx, "__thread accumulator differs from its stack copy");
		if (tls_index != idx)
			fail(idx, "__thread index belongs to another thread");
		char want[24];
		snprintf(want, sizeof(want), "worker-%d", idx);
		for (int i = 0; i < 24 && (want[i] || tls_name[i]); i++)
			if (want[i] != tls_name[i])
				fail(idx, "__thread name corrupted");

		errno = 2000 + idx;
		sleep_ms(STEP_MS);
		if (errno != 2000 + idx && errno != EINTR)
			fail(idx, "errno changed across nanosleep");
	}
	thread_result[idx] = tls_acc;
	return NULL;
}

int main(void)
{
	pthread_t th[NTHREADS];
	uint64_t want_sum = 0, combined = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("threads: start, %d threads, %d rounds\n", NTHREADS, ROUNDS);
	if (pthread_barrier_init(&barrier, NULL, NTHREADS) != 0)
		fail(-1, "pthread_barrier_init");
	for (int i = 0; i < NTHREADS; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) != 0)
			fail(i, "pthread_create");
	for (int i = 0; i < NTHREADS; i++)
		if (pthread_join(th[i], NULL) != 0)
			fail(i, "pthread_join");

	for (int r = 0; r < ROUNDS; r++)
		for (int i = 0; i < NTHREADS; i++)
			want_sum += (uint64_t)r * NTHREADS + i;
	if (shared_sum != want_sum)
		fail(-1, "shared sum is wrong");
	for (int i = 0; i < NTHREADS; i++) {
		uint64_t want = (uint64_t)ROUNDS * (ROUNDS + 1) / 2 * (i + 1);
		if (thread_result[i] != want)
			fail(i, "thread result is wrong");
		combined = combined * 31 + thread_result[i];
	}
	printf("RESULT threads sum %llu order 0x%016llx tls 0x%016llx\n",
	       (unsigned long long)shared_sum, (unsigned long long)shared_hash,
	       (unsigned long long)combined);
	printf("PASS\n");
	return 0;
}
