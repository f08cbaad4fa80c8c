/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the handshake steps of common/auth.c without I/O
 * (crest_auth_verify on the acceptor side, crest_auth_answer and
 * crest_auth_confirm on the connector side).  Input layout in fuzz.h.
 *
 * A stranger (bytes on the wire, no secret) must never authenticate.  An
 * insider (an honest connector) always does, with the highest common
 * version, unless there is none, it reflected the acceptor's nonce, or a
 * bit the macs cover was flipped on the way.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "auth.h"
#include "fuzz.h"
#include "proto.h"

/* the next complete, valid frame in *p, or false */
static bool next_frame(const uint8_t **p, size_t *left, struct crest_frame *hdr,
		       const uint8_t **payload)
{
	size_t flen;

	if (crest_frame_check(*p, *left, &flen))
		return false;
	memcpy(hdr, *p, sizeof(*hdr));
	*payload = *p + sizeof(*hdr);
	*p += flen;
	*left -= flen;
	return true;
}

static void stranger(const uint8_t *p, size_t left)
{
	struct crest_auth_hs acc, con;
	struct crest_msg_auth_ok ok;
	struct crest_frame hdr;
	const uint8_t *payload;
	int rc;

	crest_auth_challenge_init(&acc, fuzz_nonce_a);
	if (!next_frame(&p, &left, &hdr, &payload))
		return;
	rc = crest_auth_verify(&acc, fuzz_secret, &hdr, payload, &ok);
	FUZZ_CHECK(rc == -EPROTO || rc == -EBADMSG || rc == -EPROTONOSUPPORT || rc == -EACCES);

	if (!next_frame(&p, &left, &hdr, &payload))
		return;
	rc = crest_auth_answer(&con, fuzz_secret, CREST_ROLE_PROCESS, fuzz_nonce_c, &hdr, payload);
	FUZZ_CHECK(rc == 0 || rc == -EPROTO || rc == -EBADMSG || rc == -EPROTONOSUPPORT);
	if (rc)
		return;
	FUZZ_CHECK(con.auth.version >= con.ch.version_min && con.auth.version <= con.ch.version_max);
	FUZZ_CHECK(con.auth.version >= CREST_AUTH_VERSION_MIN &&
		   con.auth.version <= CREST_AUTH_VERSION_MAX);

	if (!next_frame(&p, &left, &hdr, &payload))
		return;
	rc = crest_auth_confirm(&con, fuzz_secret, &hdr, payload);
	FUZZ_CHECK(rc == -EPROTO || rc == -EBADMSG || rc == -EACCES);
}

/* is byte `i` of an AUTH payload covered by its mac? */
static bool auth_byte_covered(size_t i)
{
	return i < offsetof(struct crest_msg_auth, reserved) ||
	       (i >= offsetof(struct crest_msg_auth, nonce) &&
		i < offsetof(struct crest_msg_auth, reserved2));
}

static void insider(const struct fuzz_auth_insider *in)
{
	struct crest_auth_hs acc, con;
	struct crest_msg_auth auth;
	struct crest_msg_auth_ok ok;
	struct crest_frame hdr;
	unsigned tamper = in->tamper % 3, bit = 1u << (in->tamper_bit % 8);
	uint16_t lo, hi;
	uint32_t seq = 0;
	size_t byte;
	bool flipped_covered;
	int rc;

	crest_auth_challenge_init(&acc, in->nonce_a);
	acc.ch.version_min = in->version_min;
	acc.ch.version_max = in->version_max;
	crest_frame_build(&hdr, CREST_MSG_CHALLENGE, &seq, &acc.ch, sizeof(acc.ch));
	rc = crest_auth_answer(&con, fuzz_secret, in->role, in->nonce_c, &hdr, &acc.ch);
	lo = in->version_min > CREST_AUTH_VERSION_MIN ? in->version_min : CREST_AUTH_VERSION_MIN;
	hi = in->version_max < CREST_AUTH_VERSION_MAX ? in->version_max : CREST_AUTH_VERSION_MAX;
	if (lo > hi) {
		FUZZ_CHECK(rc == -EPROTONOSUPPORT);
		return;
	}
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(con.auth.version == hi);

	auth = con.auth;
	byte = in->tamper_byte % sizeof(auth);
	flipped_covered = tamper == FUZZ_TAMPER_AUTH && auth_byte_covered(byte);
	if (tamper == FUZZ_TAMPER_AUTH)
		((uint8_t *)&auth)[byte] ^= bit;
	seq = 0;
	crest_frame_build(&hdr, CREST_MSG_AUTH, &seq, &auth, sizeof(auth));
	rc = crest_auth_verify(&acc, fuzz_secret, &hdr, &auth, &ok);
	if (flipped_covered) {
		FUZZ_CHECK(rc == -EACCES || rc == -EPROTONOSUPPORT);
		return;
	}
	if (!memcmp(in->nonce_a, in->nonce_c, sizeof(in->nonce_a))) {
		FUZZ_CHECK(rc == -EACCES);
		return;
	}
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(acc.auth.version == hi && acc.auth.role == in->role);

	byte = in->tamper_byte % sizeof(ok);
	if (tamper == FUZZ_TAMPER_AUTH_OK)
		((uint8_t *)&ok)[byte] ^= bit;
	seq = 1;
	crest_frame_build(&hdr, CREST_MSG_AUTH_OK, &seq, &ok, sizeof(ok));
	rc = crest_auth_confirm(&con, fuzz_secret, &hdr, &ok);
	if (tamper == FUZZ_TAMPER_AUTH_OK && byte < offsetof(struct crest_msg_auth_ok, reserved2))
		FUZZ_CHECK(rc == -EACCES);
	else
		FUZZ_CHECK(rc == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_auth_insider in = { 0 };

	if (size == 0)
		return 0;
	if (!(data[0] & 1)) {
		stranger(data + 1, size - 1);
		return 0;
	}
	memcpy(&in, data + 1, size - 1 < sizeof(in) ? size - 1 : sizeof(in));
	insider(&in);
	return 0;
}
