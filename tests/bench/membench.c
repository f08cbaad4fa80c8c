/* SPDX-License-Identifier: MIT */
/*
 * membench MIB KIND: the program `make bench` checkpoints and restarts.
 *
 * Holds MIB MiB of anonymous memory, every page resident, filled as KIND:
 *   random   xorshift64 output: incompressible
 *   lowent   90% zero pages (written, so resident), every tenth page a
 *            repeated line of text
 * then prints "READY <bytes>" and loops forever: sleep 10 ms, read
 * CLOCK_REALTIME.  When two iterations are more than 50 ms apart the
 * program was stopped (a checkpoint) or killed and restarted; it prints
 *   RESUMED gap_ns=<ns the loop did not run> at_ns=<CLOCK_REALTIME now>
 * and carries on.  tests/bench/run.sh reads these lines: after a
 * checkpoint, gap_ns is how long the threads were stopped (as the
 * application saw it, to within one 10 ms sleep); after a restart, at_ns
 * is when the program ran again.
 *
 * Output goes through write(2), not stdio: a line is in the file the
 * moment it is printed, and nothing is left in a buffer at a checkpoint.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u
#define PERIOD_NS 10000000ll	/* heartbeat */
#define GAP_NS 50000000ll	/* a longer pause is reported */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n, off = 0;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n >= (int)sizeof(line))
		n = sizeof(line) - 1;
	while (off < n) {
		ssize_t w = write(1, line + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += w;
	}
}

static void fill_random(uint64_t *p, size_t words)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < words; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = x;
	}
}

static void fill_lowent(unsigned char *p, size_t bytes)
{
	static const char text[] = "crest bench: the same line of text, again and again. ";
	const size_t tl = sizeof(text) - 1;

	for (size_t page = 0; page < bytes / PAGE; page++) {
		unsigned char *q = p + page * PAGE;
		if (page % 10) {
			memset(q, 0, PAGE);	/* a write: a real page, not the zero page */
			continue;
		}
		for (size_t i = 0; i < PAGE; i++)
			q[i] = text[i % tl];
	}
}

int main(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[2], "random") && strcmp(argv[2], "lowent"))) {
		fprintf(stderr, "usage: membench MIB random|lowent\n");
		return 2;
	}
	size_t bytes = strtoull(argv[1], NULL, 10) << 20;
	if (!bytes) {
		fprintf(stderr, "membench: %s: expected a size in MiB >= 1\n", argv[1]);
		return 2;
	}
	void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		fprintf(stderr, "membench: mmap %zu bytes: %s\n", bytes, strerror(errno));
		return 1;
	}
	/* 4 KiB pages, as most HPC heaps: no THP surprises between runs */
	madvise(mem, bytes, MADV_NOHUGEPAGE);
	if (!strcmp(argv[2], "random"))
		fill_random(mem, bytes / 8);
	else
		fill_lowent(mem, bytes);
	say("READY %zu\n", bytes);

	int64_t last = now_ns();
	for (;;) {
		struct timespec ts = { 0, PERIOD_NS };
		nanosleep(&ts, NULL);	/* EINTR: just a shorter beat */
		int64_t t = now_ns();
		if (t - last > GAP_NS)
			say("RESUMED gap_ns=%lld at_ns=%lld\n", (long long)(t - last - PERIOD_NS), (long long)t);
		last = t;
	}
}
