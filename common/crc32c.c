/* SPDX-License-Identifier: MIT */
/*
 * CRC32C with the SSE4.2 crc32 instruction when the CPU has it, a table
 * otherwise.  No libc: crest-restart links this file.  Three independent
 * streams hide the instruction's 3-cycle latency on large buffers.
 */
#include "crest/crc32c.h"

#define POLY 0x82f63b78u

static uint32_t table[8][256];
static int table_ready;
static int have_sse42 = -1;

static void make_table(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
		table[0][n] = c;
	}
	for (uint32_t n = 0; n < 256; n++)
		for (int k = 1; k < 8; k++)
			table[k][n] = (table[k - 1][n] >> 8) ^ table[0][table[k - 1][n] & 0xff];
	table_ready = 1;
}

static uint32_t crc_sw(uint32_t crc, const unsigned char *p, size_t len)
{
	if (!table_ready)
		make_table();
	while (len && ((uintptr_t)p & 7)) {
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		uint64_t w = *(const uint64_t *)p ^ crc;
		crc = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^
		      table[5][(w >> 16) & 0xff] ^ table[4][(w >> 24) & 0xff] ^
		      table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
		      table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
	return crc;
}

__attribute__((target("sse4.2")))
static uint32_t crc_hw(uint32_t crc, const unsigned char *p, size_t len)
{
	uint64_t c = crc;
	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		c = __builtin_ia32_crc32di(c, *(const uint64_t *)p);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}

static int detect_sse42(void)
{
	uint32_t a = 1, b, c, d;
	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "=c"(c), "=d"(d) : "c"(0));
	return (c >> 20) & 1;
}

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	if (have_sse42 < 0)
		have_sse42 = detect_sse42();
	crc = ~crc;
	crc = have_sse42 ? crc_hw(crc, buf, len) : crc_sw(crc, buf, len);
	return ~crc;
}
