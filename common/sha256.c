/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 as specified in FIPS 180-4 (sections 4.1.2, 4.2.2, 5.1.1, 5.3.3,
 * 6.2) and HMAC as specified in RFC 2104.  Portable C: big-endian words are
 * built byte by byte.
 */
#include <string.h>

#include "sha256.h"

/* FIPS 180-4 4.2.2: first 32 bits of the fractional parts of the cube roots
 * of the first 64 primes */
static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* FIPS 180-4 5.3.3: first 32 bits of the fractional parts of the square
 * roots of the first 8 primes */
static const uint32_t H0[8] = {
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

static inline uint32_t rotr(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static inline uint32_t load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void store_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* FIPS 180-4 6.2.2: one 64-byte block into the hash value h */
static void compress(uint32_t h[8], const uint8_t *block)
{
	uint32_t w[64];
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];

	for (int t = 0; t < 16; t++)
		w[t] = load_be32(block + 4 * t);
	for (int t = 16; t < 64; t++) {
		uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
		uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);

		w[t] = w[t - 16] + s0 + w[t - 7] + s1;
	}
	for (int t = 0; t < 64; t++) {
		uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
		uint32_t ch = (e & f) ^ (~e & g);
		uint32_t t1 = k + S1 + ch + K[t] + w[t];
		uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
		uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
		uint32_t t2 = S0 + maj;

		k = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
	h[5] += f;
	h[6] += g;
	h[7] += k;
}

void crest_sha256_init(struct crest_sha256 *c)
{
	memcpy(c->h, H0, sizeof(c->h));
	c->bytes = 0;
}

void crest_sha256_update(struct crest_sha256 *c, const void *p, size_t n)
{
	const uint8_t *in = p;
	size_t used = c->bytes % CREST_SHA256_BLOCK;

	if (n == 0)
		return;
	c->bytes += n;
	if (used) {
		size_t take = CREST_SHA256_BLOCK - used;

		if (take > n)
			take = n;
		memcpy(c->buf + used, in, take);
		in += take;
		n -= take;
		if (used + take < CREST_SHA256_BLOCK)
			return;
		compress(c->h, c->buf);
	}
	for (; n >= CREST_SHA256_BLOCK; in += CREST_SHA256_BLOCK, n -= CREST_SHA256_BLOCK)
		compress(c->h, in);
	if (n)
		memcpy(c->buf, in, n);
}

/* FIPS 180-4 5.1.1: 0x80, zeros, the message length in bits (64-bit big-endian) */
void crest_sha256_final(struct crest_sha256 *c, uint8_t out[CREST_SHA256_LEN])
{
	uint64_t bits = c->bytes * 8;
	size_t used = c->bytes % CREST_SHA256_BLOCK;

	c->buf[used++] = 0x80;
	if (used > CREST_SHA256_BLOCK - 8) {
		memset(c->buf + used, 0, CREST_SHA256_BLOCK - used);
		compress(c->h, c->buf);
		used = 0;
	}
	memset(c->buf + used, 0, CREST_SHA256_BLOCK - 8 - used);
	store_be32(c->buf + CREST_SHA256_BLOCK - 8, bits >> 32);
	store_be32(c->buf + CREST_SHA256_BLOCK - 4, bits);
	compress(c->h, c->buf);
	for (int i = 0; i < 8; i++)
		store_be32(out + 4 * i, c->h[i]);
	explicit_bzero(c, sizeof(*c));
}

void crest_sha256(const void *p, size_t n, uint8_t out[CREST_SHA256_LEN])
{
	struct crest_sha256 c;

	crest_sha256_init(&c);
	crest_sha256_update(&c, p, n);
	crest_sha256_final(&c, out);
}

/* RFC 2104: H((K0 ^ opad) || H((K0 ^ ipad) || text)) */
void crest_hmac_sha256_init(struct crest_hmac_sha256 *c, const uint8_t *key, size_t keylen)
{
	uint8_t k0[CREST_SHA256_BLOCK] = { 0 }, pad[CREST_SHA256_BLOCK];

	if (keylen > CREST_SHA256_BLOCK)
		crest_sha256(key, keylen, k0);
	else if (keylen)
		memcpy(k0, key, keylen);
	for (int i = 0; i < CREST_SHA256_BLOCK; i++)
		pad[i] = k0[i] ^ 0x36;
	crest_sha256_init(&c->inner);
	crest_sha256_update(&c->inner, pad, sizeof(pad));
	for (int i = 0; i < CREST_SHA256_BLOCK; i++)
		pad[i] = k0[i] ^ 0x5c;
	crest_sha256_init(&c->outer);
	crest_sha256_update(&c->outer, pad, sizeof(pad));
	explicit_bzero(k0, sizeof(k0));
	explicit_bzero(pad, sizeof(pad));
}

void crest_hmac_sha256_update(struct crest_hmac_sha256 *c, const void *p, size_t n)
{
	crest_sha256_update(&c->inner, p, n);
}

void crest_hmac_sha256_final(struct crest_hmac_sha256 *c, uint8_t out[CREST_SHA256_LEN])
{
	uint8_t inner[CREST_SHA256_LEN];

	crest_sha256_final(&c->inner, inner);
	crest_sha256_update(&c->outer, inner, sizeof(inner));
	crest_sha256_final(&c->outer, out);
	explicit_bzero(inner, sizeof(inner));
}

void crest_hmac_sha256(const uint8_t *key, size_t keylen, const void *msg, size_t n,
		       uint8_t out[CREST_SHA256_LEN])
{
	struct crest_hmac_sha256 c;

	crest_hmac_sha256_init(&c, key, keylen);
	crest_hmac_sha256_update(&c, msg, n);
	crest_hmac_sha256_final(&c, out);
}

bool crest_mac_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	/* no early exit: the time must not tell how many bytes matched */
	volatile uint8_t diff = 0;

	for (size_t i = 0; i < n; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}
