/*
 * manythreads: 64 threads, each with its own TLS counter and a small stack
 * (64 KiB), meeting at a barrier every round; the result is the sum of
 * their deterministic work.  Exercises thread tables past one page and
 * threads with little stack room for crest's signal handler.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NTHREADS 64
#define ROUNDS 200

static pthread_barrier_t barrier;
static __thread uint64_t tls_acc;
static uint64_t results[NTHREADS];

static void *run(void *arg)
{
	long id = (long)arg;
	tls_acc = (uint64_t)id * 1000003u;
	for (int r = 0; r < ROUNDS; r++) {
		tls_acc = tls_acc * 6364136223846793005ull + (uint64_t)(r + id);
		pthread_barrier_wait(&barrier);
		if (id == 0) {
			struct timespec ts = { 0, 25 * 1000 * 1000 };
			nanosleep(&ts, NULL);
			if (r % 50 == 0) {
				printf("manythreads: round %d\n", r);
				fflush(stdout);
			}
		}
		pthread_barrier_wait(&barrier);
	}
	results[id] = tls_acc;
	return NULL;
}

int main(void)
{
	pthread_t t[NTHREADS];
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	pthread_barrier_init(&barrier, NULL, NTHREADS);
	printf("manythreads: start, %d threads, %d rounds\n", NTHREADS, ROUNDS);
	fflush(stdout);
	for (long i = 0; i < NTHREADS; i++)
		if (pthread_create(&t[i], &attr, run, (void *)i)) {
			printf("FAIL manythreads: pthread_create\n");
			return 1;
		}
	uint64_t sum = 0;
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		sum ^= results[i] + (uint64_t)i;
	}
	printf("RESULT manythreads 0x%016llx\n", (unsigned long long)sum);
	printf("PASS\n");
	return 0;
}
