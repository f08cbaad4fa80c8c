/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104).  No malloc, no stdio:
 * linked into libcrest.  The final steps wipe their context (it holds
 * state derived from the key).
 */
#ifndef CREST_COMMON_SHA256_H
#define CREST_COMMON_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CREST_SHA256_LEN	32	/* digest bytes */
#define CREST_SHA256_BLOCK	64	/* block bytes */

struct crest_sha256 {
	uint32_t h[8];
	uint64_t bytes;			/* message bytes so far */
	uint8_t buf[CREST_SHA256_BLOCK];	/* a partial block: bytes % 64 of them */
};

void crest_sha256_init(struct crest_sha256 *c);
void crest_sha256_update(struct crest_sha256 *c, const void *p, size_t n);
void crest_sha256_final(struct crest_sha256 *c, uint8_t out[CREST_SHA256_LEN]);
void crest_sha256(const void *p, size_t n, uint8_t out[CREST_SHA256_LEN]);

struct crest_hmac_sha256 {
	struct crest_sha256 inner;	/* has absorbed key ^ ipad */
	struct crest_sha256 outer;	/* has absorbed key ^ opad */
};

/* keys longer than a block are hashed first (RFC 2104) */
void crest_hmac_sha256_init(struct crest_hmac_sha256 *c, const uint8_t *key, size_t keylen);
void crest_hmac_sha256_update(struct crest_hmac_sha256 *c, const void *p, size_t n);
void crest_hmac_sha256_final(struct crest_hmac_sha256 *c, uint8_t out[CREST_SHA256_LEN]);
void crest_hmac_sha256(const uint8_t *key, size_t keylen, const void *msg, size_t n,
		       uint8_t out[CREST_SHA256_LEN]);

/* a[0..n) == b[0..n), in a time that depends on n only */
bool crest_mac_equal(const uint8_t *a, const uint8_t *b, size_t n);

#endif
