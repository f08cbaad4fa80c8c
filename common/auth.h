/* SPDX-License-Identifier: MIT */
/*
 * Authentication of a connection (docs/protocol.md, "Authentication").
 * Both sides prove they hold the computation's 32-byte secret with
 * HMAC-SHA256 over two fresh nonces:
 *
 *   acceptor -> connector  CHALLENGE  versions, nonce_a            seq 1
 *   connector -> acceptor  AUTH       version, role, nonce_c, mac  seq 1
 *   acceptor -> connector  AUTH_OK    mac                          seq 2
 *
 * These are the first frames of the connection; afterwards the acceptor's
 * next frame is seq CREST_AUTH_ACCEPTOR_FRAMES + 1, the connector's
 * CREST_AUTH_CONNECTOR_FRAMES + 1.
 *
 * Errors (-errno; crest_auth_strerror() says them for a log line):
 *   -EACCES           the peer's mac does not match our secret, or it sent
 *                     back our own nonce
 *   -EPROTONOSUPPORT  no protocol version in common
 *   -EPROTO           a frame other than the next one of the handshake
 *                     (type, or seq not as above)
 *   -ETIMEDOUT        the handshake did not end within timeout_ms
 *   -ECONNRESET       the peer closed; the connector gets this when the
 *                     acceptor rejected its mac
 *   -EBADMSG, -EMSGSIZE, other -errno: from crest_frame_recv(), the
 *                     socket, getrandom(2)
 * After any error the caller closes the connection.
 *
 * No malloc, no stdio: usable in libcrest.  The secret is never copied.
 */
#ifndef CREST_COMMON_AUTH_H
#define CREST_COMMON_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "crest/proto.h"

#define CREST_SECRET_LEN	32
#define CREST_SECRET_HEX_LEN	64	/* digits, without the NUL */

/* protocol versions this build speaks */
#define CREST_AUTH_VERSION_MIN	CREST_PROTO_VERSION
#define CREST_AUTH_VERSION_MAX	CREST_PROTO_VERSION

/* frames each side sends during the handshake */
#define CREST_AUTH_ACCEPTOR_FRAMES	2
#define CREST_AUTH_CONNECTOR_FRAMES	1

struct crest_auth_result {
	uint16_t version;		/* negotiated protocol version */
	uint16_t role;			/* enum crest_auth_role the connector gave;
					 * the caller checks it is one it serves */
};

/*
 * Run the handshake on a connected, blocking stream socket.  timeout_ms
 * bounds the whole handshake (-1: no limit).  0 or an error above.
 */
int crest_auth_accept(int fd, const uint8_t secret[CREST_SECRET_LEN], int timeout_ms,
		      struct crest_auth_result *out);
int crest_auth_connect(int fd, const uint8_t secret[CREST_SECRET_LEN], uint16_t role,
		       int timeout_ms, uint16_t *version_out);

/* "wrong secret ..." for -EACCES and so on; never NULL */
const char *crest_auth_strerror(int err);

/*
 * The same steps without I/O, for an event loop and for the fuzzers.  Each
 * check takes one received frame that passed crest_frame_recv() or
 * crest_frame_check(): its header, and its payload (hdr->length bytes, any
 * alignment).
 */
struct crest_auth_hs {
	struct crest_msg_challenge ch;	/* sent (acceptor) or received (connector) */
	struct crest_msg_auth auth;	/* received and verified (acceptor) or sent (connector) */
};

/* acceptor: hs->ch is the CHALLENGE to send; nonce must be fresh random */
void crest_auth_challenge_init(struct crest_auth_hs *hs, const uint8_t nonce[CREST_AUTH_NONCE]);

/* acceptor: check the AUTH; on 0, *ok is the AUTH_OK to send.
 * -EPROTO, -EBADMSG, -EPROTONOSUPPORT, -EACCES */
int crest_auth_verify(struct crest_auth_hs *hs, const uint8_t secret[CREST_SECRET_LEN],
		      const struct crest_frame *hdr, const void *payload,
		      struct crest_msg_auth_ok *ok);

/* connector: read the CHALLENGE, choose the highest version both speak;
 * on 0, hs->auth is the AUTH to send (nonce must be fresh random).
 * -EPROTO, -EBADMSG, -EPROTONOSUPPORT */
int crest_auth_answer(struct crest_auth_hs *hs, const uint8_t secret[CREST_SECRET_LEN],
		      uint16_t role, const uint8_t nonce[CREST_AUTH_NONCE],
		      const struct crest_frame *hdr, const void *payload);

/* connector: check the AUTH_OK.  0, -EPROTO, -EBADMSG, -EACCES */
int crest_auth_confirm(const struct crest_auth_hs *hs, const uint8_t secret[CREST_SECRET_LEN],
		       const struct crest_frame *hdr, const void *payload);

/* the secret: 32 bytes from getrandom(2); 0 or -errno */
int crest_secret_generate(uint8_t secret[CREST_SECRET_LEN]);
/* 64 lowercase hex digits and a NUL; 0 */
int crest_secret_to_hex(const uint8_t secret[CREST_SECRET_LEN], char out[CREST_SECRET_HEX_LEN + 1]);
/* exactly 64 hex digits (either case) then the NUL, nothing else (no
 * newline); 0, or -EINVAL with secret untouched */
int crest_secret_from_hex(const char *hex, uint8_t secret[CREST_SECRET_LEN]);
/* clear memory that held a secret (not optimised away) */
void crest_secret_wipe(void *p, size_t n);

#endif
