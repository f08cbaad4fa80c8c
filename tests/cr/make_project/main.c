/*
 * main.c of the make_build project: calls every module's function and
 * checks it against the same computation done with a loop, then prints
 * one line per module, `checksum 0x<16 hex digits>` and `ok` (or
 * `FAIL ...` and exit 1).  Deterministic: the same output every run.
 */
#include <inttypes.h>
#include <stdio.h>

#include "gen.h"

#define NMOD 12

uint64_t mod01(uint64_t), mod02(uint64_t), mod03(uint64_t), mod04(uint64_t),
	mod05(uint64_t), mod06(uint64_t), mod07(uint64_t), mod08(uint64_t),
	mod09(uint64_t), mod10(uint64_t), mod11(uint64_t), mod12(uint64_t);

static uint64_t (*const mods[NMOD])(uint64_t) = {
	mod01, mod02, mod03, mod04, mod05, mod06,
	mod07, mod08, mod09, mod10, mod11, mod12,
};

/* what module `seed` computes: ids p d1 d2 d3 d4 (hex digits, p 1-4,
 * d 0-3) in increasing order */
static uint64_t gen_ref(uint64_t seed, uint64_t x)
{
	for (uint64_t p = 1; p <= 4; p++)
		for (uint64_t n = 0; n < 256; n++) {
			uint64_t id = p << 16 | (n >> 6 & 3) << 12 |
				      (n >> 4 & 3) << 8 | (n >> 2 & 3) << 4 | (n & 3);
			for (unsigned i = 0; i < GEN_ROUNDS; i++)
				STEP(x, id * seed + i);
		}
	return x;
}

int main(void)
{
	uint64_t sum = 0;
	int bad = 0;

	for (int m = 0; m < NMOD; m++) {
		uint64_t in = 0x9e3779b97f4a7c15ULL * (uint64_t)(m + 1);
		uint64_t got = mods[m](in);
		uint64_t want = gen_ref((uint64_t)(m + 1), in);

		printf("module %02d 0x%016" PRIx64 "\n", m + 1, got);
		if (got != want) {
			printf("FAIL module %02d: 0x%016" PRIx64 ", want 0x%016" PRIx64 "\n",
			       m + 1, got, want);
			bad = 1;
		}
		sum = (sum ^ got) * 0x100000001b3ULL + (uint64_t)m;
	}
	printf("checksum 0x%016" PRIx64 "\n", sum);
	if (bad)
		return 1;
	printf("ok\n");
	return 0;
}
