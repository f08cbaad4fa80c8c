/*
 * bigmem: a large malloc'd buffer (argv[1] MiB, default 1024) filled with a
 * deterministic pattern.  Every step rewrites some pages with a new
 * generation and checks others; at the end every page is checked and a
 * checksum of the whole buffer printed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define PAGE 4096u
#define WORDS (PAGE / 8)
#define STEPS 300
#define STEP_MS 15
#define WRITES_PER_STEP 64
#define CHECKS_PER_STEP 64

static uint64_t *buf;
static uint16_t *gen;
static size_t npages;

static void fail(const char *why, size_t page)
{
	printf("FAIL bigmem: %s (page %zu)\n", why, page);
	fflush(stdout);
	exit(1);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static inline uint64_t pattern(size_t page, size_t w, uint16_t g)
{
	uint64_t z = ((uint64_t)page << 20) ^ ((uint64_t)g << 9) ^ w;

	z *= 0x9e3779b97f4a7c15ull;
	return z ^ (z >> 29);
}

static void write_page(size_t p)
{
	uint64_t *q = buf + p * WORDS;

	for (size_t w = 0; w < WORDS; w++)
		q[w] = pattern(p, w, gen[p]);
}

static uint64_t check_page(size_t p)
{
	const uint64_t *q = buf + p * WORDS;
	uint64_t sum = 0;

	for (size_t w = 0; w < WORDS; w++) {
		if (q[w] != pattern(p, w, gen[p]))
			fail("page content is wrong", p);
		sum += q[w];
	}
	return sum;
}

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
	uint64_t rng = 0x2545f4914f6cdd1dull, sum = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("bigmem: start, %zu MiB, %d steps\n", mib, STEPS);
	npages = mib * (1u << 20) / PAGE;
	buf = malloc(npages * PAGE);
	gen = calloc(npages, sizeof(*gen));
	if (!buf || !gen || npages == 0)
		fail("cannot allocate the buffer", npages);
	for (size_t p = 0; p < npages; p++)
		write_page(p);
	printf("bigmem: filled\n");

	for (int step = 0; step < STEPS; step++) {
		for (int i = 0; i < WRITES_PER_STEP; i++) {
			size_t p = next(&rng) % npages;
			gen[p]++;
			write_page(p);
		}
		for (int i = 0; i < CHECKS_PER_STEP; i++)
			check_page(next(&rng) % npages);
		if (step % 100 == 99)
			printf("bigmem: step %d\n", step + 1);
		sleep_ms(STEP_MS);
	}
	for (size_t p = 0; p < npages; p++)
		sum = sum * 31 + check_page(p);
	printf("RESULT bigmem %zu MiB checksum 0x%016llx\n", mib, (unsigned long long)sum);
	printf("PASS\n");
	return 0;
}
