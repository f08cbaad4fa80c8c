/* SPDX-License-Identifier: MIT */
/*
 * Authentication of a connection by challenge-response (common/auth.h,
 * docs/protocol.md "Authentication").  No malloc, no stdio.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "auth.h"
#include "proto.h"
#include "sha256.h"

_Static_assert(sizeof(struct crest_msg_challenge) == 56, "CHALLENGE size");
_Static_assert(sizeof(struct crest_msg_auth) == 88, "AUTH size");
_Static_assert(sizeof(struct crest_msg_auth_ok) == 48, "AUTH_OK size");
_Static_assert(CREST_AUTH_MAC == CREST_SHA256_LEN, "mac is an HMAC-SHA256");

/* the MACs' first bytes, without a NUL: which side computed it */
#define LABEL_CONNECTOR	"crest-auth-1 connector"
#define LABEL_ACCEPTOR	"crest-auth-1 acceptor"

/* seq of each handshake frame (the first frames of the connection) */
#define SEQ_CHALLENGE	1
#define SEQ_AUTH	1
#define SEQ_AUTH_OK	2

/* HMAC(secret, label || first || second || version (u16 le) || role (u16 le)) */
static void auth_mac(const uint8_t secret[CREST_SECRET_LEN], const char *label,
		     const uint8_t first[CREST_AUTH_NONCE], const uint8_t second[CREST_AUTH_NONCE],
		     uint16_t version, uint16_t role, uint8_t out[CREST_AUTH_MAC])
{
	uint8_t tail[4] = { version & 0xff, version >> 8, role & 0xff, role >> 8 };
	struct crest_hmac_sha256 h;

	crest_hmac_sha256_init(&h, secret, CREST_SECRET_LEN);
	crest_hmac_sha256_update(&h, label, strlen(label));
	crest_hmac_sha256_update(&h, first, CREST_AUTH_NONCE);
	crest_hmac_sha256_update(&h, second, CREST_AUTH_NONCE);
	crest_hmac_sha256_update(&h, tail, sizeof(tail));
	crest_hmac_sha256_final(&h, out);
}

/* does `mac` match the one computed from these inputs?  (constant time) */
static bool mac_matches(const uint8_t mac[CREST_AUTH_MAC], const uint8_t secret[CREST_SECRET_LEN],
			const char *label, const uint8_t first[CREST_AUTH_NONCE],
			const uint8_t second[CREST_AUTH_NONCE], uint16_t version, uint16_t role)
{
	uint8_t want[CREST_AUTH_MAC];

	auth_mac(secret, label, first, second, version, role, want);
	return crest_mac_equal(want, mac, CREST_AUTH_MAC);
}

/* if this frame is the handshake step we wait for, its payload into msg */
static int take_step(const struct crest_frame *hdr, const void *payload, uint16_t type,
		     uint32_t seq, void *msg, size_t size)
{
	if (hdr->type != type || hdr->seq != seq)
		return -EPROTO;
	if (hdr->length != size)
		return -EBADMSG;
	memcpy(msg, payload, size);
	return 0;
}

void crest_auth_challenge_init(struct crest_auth_hs *hs, const uint8_t nonce[CREST_AUTH_NONCE])
{
	memset(hs, 0, sizeof(*hs));
	hs->ch.version_min = CREST_AUTH_VERSION_MIN;
	hs->ch.version_max = CREST_AUTH_VERSION_MAX;
	memcpy(hs->ch.nonce, nonce, CREST_AUTH_NONCE);
}

int crest_auth_verify(struct crest_auth_hs *hs, const uint8_t secret[CREST_SECRET_LEN],
		      const struct crest_frame *hdr, const void *payload,
		      struct crest_msg_auth_ok *ok)
{
	struct crest_msg_auth a;
	int rc;

	rc = take_step(hdr, payload, CREST_MSG_AUTH, SEQ_AUTH, &a, sizeof(a));
	if (rc)
		return rc;
	if (a.version < hs->ch.version_min || a.version > hs->ch.version_max)
		return -EPROTONOSUPPORT;
	/* our own challenge sent back: whatever its mac, not a proof */
	if (!memcmp(a.nonce, hs->ch.nonce, CREST_AUTH_NONCE))
		return -EACCES;
	if (!mac_matches(a.mac, secret, LABEL_CONNECTOR, hs->ch.nonce, a.nonce, a.version, a.role))
		return -EACCES;
	hs->auth = a;
	memset(ok, 0, sizeof(*ok));
	auth_mac(secret, LABEL_ACCEPTOR, a.nonce, hs->ch.nonce, a.version, a.role, ok->mac);
	return 0;
}

int crest_auth_answer(struct crest_auth_hs *hs, const uint8_t secret[CREST_SECRET_LEN],
		      uint16_t role, const uint8_t nonce[CREST_AUTH_NONCE],
		      const struct crest_frame *hdr, const void *payload)
{
	uint16_t lo, hi;
	int rc;

	memset(hs, 0, sizeof(*hs));
	rc = take_step(hdr, payload, CREST_MSG_CHALLENGE, SEQ_CHALLENGE, &hs->ch, sizeof(hs->ch));
	if (rc)
		return rc;
	lo = hs->ch.version_min > CREST_AUTH_VERSION_MIN ? hs->ch.version_min : CREST_AUTH_VERSION_MIN;
	hi = hs->ch.version_max < CREST_AUTH_VERSION_MAX ? hs->ch.version_max : CREST_AUTH_VERSION_MAX;
	if (hi < lo)
		return -EPROTONOSUPPORT;
	hs->auth.version = hi;
	hs->auth.role = role;
	memcpy(hs->auth.nonce, nonce, CREST_AUTH_NONCE);
	auth_mac(secret, LABEL_CONNECTOR, hs->ch.nonce, hs->auth.nonce, hi, role, hs->auth.mac);
	return 0;
}

int crest_auth_confirm(const struct crest_auth_hs *hs, const uint8_t secret[CREST_SECRET_LEN],
		       const struct crest_frame *hdr, const void *payload)
{
	struct crest_msg_auth_ok ok;
	int rc;

	rc = take_step(hdr, payload, CREST_MSG_AUTH_OK, SEQ_AUTH_OK, &ok, sizeof(ok));
	if (rc)
		return rc;
	if (!mac_matches(ok.mac, secret, LABEL_ACCEPTOR, hs->auth.nonce, hs->ch.nonce,
			 hs->auth.version, hs->auth.role))
		return -EACCES;
	return 0;
}

static int random_fill(void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += r;
		n -= r;
	}
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* receive the next frame of the handshake, `type`, into payload (its size) */
static int recv_step(int fd, struct crest_frame *hdr, void *payload, uint32_t size,
		     uint16_t type, long long deadline)
{
	int wait = -1, rc;

	if (deadline >= 0) {
		long long left = deadline - now_ms();

		if (left <= 0)
			return -ETIMEDOUT;
		wait = left > INT_MAX ? INT_MAX : (int)left;
	}
	rc = crest_frame_recv(fd, hdr, payload, size, wait);
	/* a frame of another, larger type did not fit: it is out of place */
	if (rc == -EMSGSIZE && hdr->type != type)
		return -EPROTO;
	return rc < 0 ? rc : 0;
}

int crest_auth_accept(int fd, const uint8_t secret[CREST_SECRET_LEN], int timeout_ms,
		      struct crest_auth_result *out)
{
	long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	uint8_t nonce[CREST_AUTH_NONCE];
	struct crest_auth_hs hs;
	struct crest_msg_auth auth;
	struct crest_msg_auth_ok ok;
	struct crest_frame hdr;
	uint32_t seq = 0;
	int rc;

	rc = random_fill(nonce, sizeof(nonce));
	if (rc)
		return rc;
	crest_auth_challenge_init(&hs, nonce);
	rc = crest_frame_send(fd, CREST_MSG_CHALLENGE, &seq, &hs.ch, sizeof(hs.ch));
	if (rc)
		return rc;
	rc = recv_step(fd, &hdr, &auth, sizeof(auth), CREST_MSG_AUTH, deadline);
	if (rc)
		return rc;
	rc = crest_auth_verify(&hs, secret, &hdr, &auth, &ok);
	if (rc)
		return rc;
	rc = crest_frame_send(fd, CREST_MSG_AUTH_OK, &seq, &ok, sizeof(ok));
	if (rc)
		return rc;
	out->version = hs.auth.version;
	out->role = hs.auth.role;
	return 0;
}

int crest_auth_connect(int fd, const uint8_t secret[CREST_SECRET_LEN], uint16_t role,
		       int timeout_ms, uint16_t *version_out)
{
	long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	uint8_t nonce[CREST_AUTH_NONCE];
	struct crest_auth_hs hs;
	struct crest_msg_challenge ch;
	struct crest_msg_auth_ok ok;
	struct crest_frame hdr;
	uint32_t seq = 0;
	int rc;

	rc = recv_step(fd, &hdr, &ch, sizeof(ch), CREST_MSG_CHALLENGE, deadline);
	if (rc)
		return rc;
	rc = random_fill(nonce, sizeof(nonce));
	if (rc)
		return rc;
	rc = crest_auth_answer(&hs, secret, role, nonce, &hdr, &ch);
	if (rc)
		return rc;
	rc = crest_frame_send(fd, CREST_MSG_AUTH, &seq, &hs.auth, sizeof(hs.auth));
	if (rc)
		return rc;
	rc = recv_step(fd, &hdr, &ok, sizeof(ok), CREST_MSG_AUTH_OK, deadline);
	if (rc)
		return rc;
	rc = crest_auth_confirm(&hs, secret, &hdr, &ok);
	if (rc)
		return rc;
	if (version_out)
		*version_out = hs.auth.version;
	return 0;
}

const char *crest_auth_strerror(int err)
{
	const char *s;

	switch (err) {
	case 0:
		return "authenticated";
	case -EACCES:
		return "wrong secret: the peer could not prove it holds the computation's secret";
	case -EPROTONOSUPPORT:
		return "no protocol version in common with the peer";
	case -EPROTO:
		return "the peer sent a message out of place";
	case -ETIMEDOUT:
		return "the peer did not complete the handshake in time";
	case -ECONNRESET:
	case -EPIPE:
		return "the peer closed the connection (it may have rejected our secret)";
	case -EBADMSG:
		return "damaged frame (checksum or size)";
	case -EMSGSIZE:
		return "frame too large";
	}
	s = err < 0 ? strerrordesc_np(-err) : NULL;
	return s ? s : "unknown error";
}

int crest_secret_generate(uint8_t secret[CREST_SECRET_LEN])
{
	return random_fill(secret, CREST_SECRET_LEN);
}

int crest_secret_to_hex(const uint8_t secret[CREST_SECRET_LEN], char out[CREST_SECRET_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < CREST_SECRET_LEN; i++) {
		out[2 * i] = digits[secret[i] >> 4];
		out[2 * i + 1] = digits[secret[i] & 15];
	}
	out[CREST_SECRET_HEX_LEN] = '\0';
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int crest_secret_from_hex(const char *hex, uint8_t secret[CREST_SECRET_LEN])
{
	uint8_t tmp[CREST_SECRET_LEN];
	int rc = -EINVAL;

	/* stops at the first non-digit, so never reads past a short string's NUL */
	for (int i = 0; i < CREST_SECRET_LEN; i++) {
		int hi = hex_digit(hex[2 * i]), lo;

		if (hi < 0)
			goto out_wipe;
		lo = hex_digit(hex[2 * i + 1]);
		if (lo < 0)
			goto out_wipe;
		tmp[i] = hi << 4 | lo;
	}
	if (hex[CREST_SECRET_HEX_LEN] != '\0')
		goto out_wipe;
	memcpy(secret, tmp, sizeof(tmp));
	rc = 0;
out_wipe:
	crest_secret_wipe(tmp, sizeof(tmp));
	return rc;
}

void crest_secret_wipe(void *p, size_t n)
{
	explicit_bzero(p, n);
}
