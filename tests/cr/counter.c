/*
 * counter: one counter in a global and one on the stack, advanced in small
 * steps with sleeps in between.  A checkpoint may land at any moment; the
 * result depends only on the number of steps, never on time.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define STEPS 400
#define STEP_MS 18

static volatile uint64_t g_counter;
static volatile uint64_t g_hash = 0xcbf29ce484222325ull;

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void fail(const char *why, uint64_t a, uint64_t b)
{
	printf("FAIL counter: %s (%llu != %llu)\n", why,
	       (unsigned long long)a, (unsigned long long)b);
	exit(1);
}

int main(void)
{
	volatile uint64_t local = 0;
	volatile uint64_t local_hash = 0xcbf29ce484222325ull;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("counter: start, %d steps\n", STEPS);
	for (uint64_t step = 1; step <= STEPS; step++) {
		uint64_t before = g_counter;

		g_counter += step;
		local += step;
		g_hash = (g_hash ^ g_counter) * 0x100000001b3ull;
		local_hash = (local_hash ^ local) * 0x100000001b3ull;
		if (g_counter != local)
			fail("global and stack counters differ", g_counter, local);
		if (g_hash != local_hash)
			fail("global and stack hashes differ", g_hash, local_hash);
		if (g_counter != step * (step + 1) / 2)
			fail("counter is not the sum of the steps", g_counter, step * (step + 1) / 2);
		if (g_counter - before != step)
			fail("counter jumped within a step", g_counter - before, step);
		if (step % 100 == 0)
			printf("counter: step %llu\n", (unsigned long long)step);
		sleep_ms(STEP_MS);
	}
	printf("RESULT counter %llu checksum 0x%016llx\n",
	       (unsigned long long)g_counter, (unsigned long long)g_hash);
	printf("PASS\n");
	return 0;
}
