/*
 * malloc_churn: 4 threads (so glibc uses several malloc arenas) allocate,
 * realloc and free blocks of 16 B .. 4 MiB chosen by a seeded generator.
 * Every block carries a pattern derived from its tag and offset, checked
 * before it is freed or resized, and all live blocks are checked now and
 * then.  Large blocks come from mmap, small ones from the arenas' heaps.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NTHREADS 4
#define SLOTS 48
#define STEPS 500
#define STEP_MS 12
#define MIN_SHIFT 4		/* 16 B */
#define MAX_SHIFT 22		/* 4 MiB */
#define STRIDE 64		/* pattern word every STRIDE bytes */

struct block {
	unsigned char *p;
	size_t size;
	uint64_t tag;
};

struct worker {
	int idx;
	uint64_t rng;
	struct block slot[SLOTS];
	uint64_t hash;
	uint64_t ops[3];	/* malloc, realloc, free */
};

static struct worker workers[NTHREADS];

static void fail(int idx, const char *why, size_t size)
{
	printf("FAIL malloc_churn: thread %d: %s (block of %zu bytes)\n", idx, why, size);
	fflush(stdout);
	exit(1);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static uint64_t next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t word(uint64_t tag, size_t off)
{
	return (tag * 0x9e3779b97f4a7c15ull) ^ (off * 0x2545f4914f6cdd1dull);
}

/* the pattern from `from` on: a word every STRIDE bytes (never over the
 * last byte), and the last byte */
static void fill(struct block *b, size_t from)
{
	for (size_t off = from - from % STRIDE; off + 9 <= b->size; off += STRIDE) {
		if (off < from)
			continue;
		uint64_t w = word(b->tag, off);
		memcpy(b->p + off, &w, 8);
	}
	b->p[b->size - 1] = (unsigned char)b->tag;
}

static void check(int idx, const struct block *b, size_t upto)
{
	for (size_t off = 0; off + 8 <= upto && off + 9 <= b->size; off += STRIDE) {
		uint64_t w;
		memcpy(&w, b->p + off, 8);
		if (w != word(b->tag, off))
			fail(idx, "pattern word damaged", b->size);
	}
	if (upto == b->size && b->size > 0 && b->p[b->size - 1] != (unsigned char)b->tag)
		fail(idx, "last byte damaged", b->size);
}

static size_t pick_size(uint64_t *rng)
{
	unsigned shift = MIN_SHIFT + next(rng) % (MAX_SHIFT - MIN_SHIFT + 1);
	size_t size = (size_t)1 << shift;

	return size + next(rng) % size;		/* up to 2x: 16 B .. 8 MiB - 1 */
}

static void *run(void *arg)
{
	struct worker *w = arg;

	for (int step = 0; step < STEPS; step++) {
		for (int k = 0; k < 4; k++) {
			struct block *b = &w->slot[next(&w->rng) % SLOTS];
			uint64_t op = next(&w->rng) % 3;

			if (!b->p) {
				b->size = pick_size(&w->rng) / 2;
				if (b->size < 16)
					b->size = 16;
				b->tag = next(&w->rng);
				b->p = malloc(b->size);
				if (!b->p)
					fail(w->idx, "malloc failed", b->size);
				fill(b, 0);
				w->ops[0]++;
			} else if (op == 0) {
				size_t nsize = pick_size(&w->rng) / 2, keep;
				if (nsize < 16)
					nsize = 16;
				check(w->idx, b, b->size);
				keep = nsize < b->size ? nsize : b->size;
				unsigned char *np = realloc(b->p, nsize);
				if (!np)
					fail(w->idx, "realloc failed", nsize);
				b->p = np;
				/* the kept prefix must have moved intact */
				check(w->idx, b, keep - keep % STRIDE);
				b->size = nsize;
				fill(b, keep - keep % STRIDE);
				w->ops[1]++;
			} else {
				check(w->idx, b, b->size);
				free(b->p);
				b->p = NULL;
				w->ops[2]++;
			}
			w->hash = (w->hash ^ b->size ^ op) * 0x100000001b3ull;
		}
		if (step % 50 == 49)
			for (int i = 0; i < SLOTS; i++)
				if (w->slot[i].p)
					check(w->idx, &w->slot[i], w->slot[i].size);
		sleep_ms(STEP_MS);
	}
	for (int i = 0; i < SLOTS; i++) {
		if (w->slot[i].p) {
			check(w->idx, &w->slot[i], w->slot[i].size);
			free(w->slot[i].p);
			w->slot[i].p = NULL;
		}
	}
	return NULL;
}

int main(void)
{
	pthread_t th[NTHREADS];
	uint64_t hash = 0, ops[3] = { 0, 0, 0 };

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("malloc_churn: start, %d threads, %d steps\n", NTHREADS, STEPS);
	for (int i = 0; i < NTHREADS; i++) {
		workers[i].idx = i;
		workers[i].rng = 0x1234567ull * (i + 1);
		workers[i].hash = 0xcbf29ce484222325ull;
		if (pthread_create(&th[i], NULL, run, &workers[i]) != 0)
			fail(i, "pthread_create failed", 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		hash = hash * 31 + workers[i].hash;
		for (int k = 0; k < 3; k++)
			ops[k] += workers[i].ops[k];
	}
	printf("RESULT malloc_churn malloc %llu realloc %llu free %llu checksum 0x%016llx\n",
	       (unsigned long long)ops[0], (unsigned long long)ops[1],
	       (unsigned long long)ops[2], (unsigned long long)hash);
	printf("PASS\n");
	return 0;
}
