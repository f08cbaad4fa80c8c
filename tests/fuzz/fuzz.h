/* SPDX-License-Identifier: MIT */
/*
 * Shared by the libFuzzer targets (fuzz_*.c, built with clang) and the seed
 * generator (mkseeds.c, built with gcc): the fixed keys and nonces, and the
 * layout of fuzz_auth's inputs.
 */
#ifndef CREST_FUZZ_H
#define CREST_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* a property that must hold for every input: abort, libFuzzer reports it */
#define FUZZ_CHECK(c) do { if (!(c)) { \
	fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #c); \
	abort(); } } while (0)

/* the computation's secret in fuzz_auth; inputs never contain it */
static const uint8_t fuzz_secret[32] = "fuzz_auth secret, 32 bytes long";
/* the secret a stranger uses for the seeds */
static const uint8_t fuzz_stranger_secret[32] = "a stranger's guess at it.......";
static const uint8_t fuzz_nonce_a[32] = "acceptor's nonce in fuzz_auth..";
static const uint8_t fuzz_nonce_c[32] = "connector's nonce in fuzz_auth.";

/*
 * fuzz_auth input: byte 0 even, a stranger: the rest is bytes on the wire,
 * cut into frames: the 1st is given to the acceptor (after its CHALLENGE
 * with fuzz_nonce_a), the 2nd to a connector as its CHALLENGE, the 3rd to
 * that connector as AUTH_OK.  No frame may authenticate.
 *
 * byte 0 odd, an insider: the rest is struct fuzz_auth_insider (zero
 * padded): an acceptor offering [version_min, version_max] and an honest
 * connector run the handshake; an optional bit flip in AUTH or AUTH_OK.
 */
#define FUZZ_TAMPER_NONE	0
#define FUZZ_TAMPER_AUTH	1
#define FUZZ_TAMPER_AUTH_OK	2

struct fuzz_auth_insider {
	uint16_t version_min;
	uint16_t version_max;
	uint16_t role;
	uint8_t tamper;			/* FUZZ_TAMPER_*, modulo 3 */
	uint8_t tamper_bit;		/* which bit of the byte, modulo 8 */
	uint16_t tamper_byte;		/* which byte of the payload, modulo its size */
	uint8_t nonce_a[32];
	uint8_t nonce_c[32];
};

#endif
