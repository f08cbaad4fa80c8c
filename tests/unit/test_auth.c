/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of connection authentication (common/auth.c).  One side runs
 * crest_auth_accept() or crest_auth_connect() in a thread on one end of a
 * socketpair; the test plays the other side, honestly or not.  The test's
 * MACs are built as docs/protocol.md lays them out, byte by byte.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

#include "auth.h"
#include "harness.h"
#include "proto.h"
#include "sha256.h"

static uint8_t secret[CREST_SECRET_LEN], other_secret[CREST_SECRET_LEN];

__attribute__((constructor)) static void fill_secrets(void)
{
	for (int i = 0; i < CREST_SECRET_LEN; i++) {
		secret[i] = (uint8_t)(i * 37 + 1);
		other_secret[i] = secret[i];
	}
	other_secret[31] ^= 1;
}

/* one side of the handshake, run by crest_auth_* in a thread */
struct side {
	int fd;
	const uint8_t *secret;
	uint16_t role;
	int timeout_ms;
	int rc;
	struct crest_auth_result res;
	uint16_t version;
	pthread_t thread;
};

static void *accept_thread(void *arg)
{
	struct side *s = arg;

	s->rc = crest_auth_accept(s->fd, s->secret, s->timeout_ms, &s->res);
	if (s->rc)
		close(s->fd);	/* as a caller must */
	return NULL;
}

static void *connect_thread(void *arg)
{
	struct side *s = arg;

	s->rc = crest_auth_connect(s->fd, s->secret, s->role, s->timeout_ms, &s->version);
	if (s->rc)
		close(s->fd);
	return NULL;
}

static void start(struct side *s, void *(*fn)(void *), int fd, const uint8_t *key, int timeout_ms)
{
	memset(&s->res, 0, sizeof(s->res));
	s->fd = fd;
	s->secret = key;
	s->role = CREST_ROLE_SUBCOORD;
	s->timeout_ms = timeout_ms;
	s->rc = 1;
	s->version = 0;
	EXPECT(pthread_create(&s->thread, NULL, fn, s) == 0);
}

static int finish(struct side *s)
{
	EXPECT(pthread_join(s->thread, NULL) == 0);
	return s->rc;
}

static void sockpair(int sv[2])
{
	EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* the MAC exactly as docs/protocol.md gives it: label (no NUL), two nonces,
 * version and role as u16 little-endian, in one buffer */
static void doc_mac(const uint8_t *key, const char *label, const uint8_t *n1, const uint8_t *n2,
		    uint16_t version, uint16_t role, uint8_t out[32])
{
	uint8_t m[128];
	size_t n = strlen(label);

	memcpy(m, label, n);
	memcpy(m + n, n1, 32);
	memcpy(m + n + 32, n2, 32);
	m[n + 64] = version & 0xff;
	m[n + 65] = version >> 8;
	m[n + 66] = role & 0xff;
	m[n + 67] = role >> 8;
	crest_hmac_sha256(key, 32, m, n + 68, out);
}

static void recv_expect(int fd, uint16_t type, void *payload, uint32_t size)
{
	struct crest_frame hdr;

	EXPECT_EQ(crest_frame_recv(fd, &hdr, payload, size, 5000), size);
	EXPECT_EQ(hdr.type, type);
}

/* the test as connector: an AUTH answering ch, valid for key */
static void send_auth(int fd, const struct crest_msg_challenge *ch, const uint8_t *key,
		      uint16_t version, const uint8_t *nonce)
{
	struct crest_msg_auth a = { .version = version, .role = CREST_ROLE_PROCESS };
	uint32_t seq = 0;

	memcpy(a.nonce, nonce, sizeof(a.nonce));
	doc_mac(key, "crest-auth-1 connector", ch->nonce, a.nonce, a.version, a.role, a.mac);
	EXPECT_EQ(crest_frame_send(fd, CREST_MSG_AUTH, &seq, &a, sizeof(a)), 0);
}

static const uint8_t nonce_c[32] = { 0xc0, 0xc1, 0xc2, 3, 4, 5, 6, 7, 8, 9 };

/* the test as acceptor: a CHALLENGE with versions [min, max] */
static void send_challenge(int fd, uint16_t min, uint16_t max, struct crest_msg_challenge *ch)
{
	uint32_t seq = 0;

	memset(ch, 0, sizeof(*ch));
	ch->version_min = min;
	ch->version_max = max;
	memset(ch->nonce, 0xa7, sizeof(ch->nonce));
	EXPECT_EQ(crest_frame_send(fd, CREST_MSG_CHALLENGE, &seq, ch, sizeof(*ch)), 0);
}

/* crest_auth_accept() in a thread on sv[0] of a new socketpair, the test
 * on sv[1]; with ch, the test reads the CHALLENGE into it */
static void acceptor_up(struct side *s, int sv[2], int timeout_ms, struct crest_msg_challenge *ch)
{
	sockpair(sv);
	start(s, accept_thread, sv[0], secret, timeout_ms);
	if (ch)
		recv_expect(sv[1], CREST_MSG_CHALLENGE, ch, sizeof(*ch));
}

/* crest_auth_connect() in a thread on sv[1], the test on sv[0]; with ch,
 * the test sends a CHALLENGE offering [min, max] */
static void connector_up(struct side *s, int sv[2], int timeout_ms, uint16_t min, uint16_t max,
			 struct crest_msg_challenge *ch)
{
	sockpair(sv);
	start(s, connect_thread, sv[1], secret, timeout_ms);
	if (ch)
		send_challenge(sv[0], min, max, ch);
}

/* the side under test gets a frame of `type` numbered seq where the next
 * frame of the handshake belongs; its result */
static int side_gets(bool acceptor, uint16_t type, const void *payload, uint32_t len, uint32_t seq)
{
	struct crest_msg_challenge ch;
	struct side s;
	int sv[2], peer;

	if (acceptor)
		acceptor_up(&s, sv, 5000, &ch);
	else
		connector_up(&s, sv, 5000, 0, 0, NULL);
	peer = acceptor ? sv[1] : sv[0];
	seq--;
	EXPECT_EQ(crest_frame_send(peer, type, &seq, payload, len), 0);
	close(peer);
	return finish(&s);
}

TEST(right_secret_both_succeed)
{
	struct side acc, con;
	struct crest_msg_hello hello = { .pid = 42 };
	struct crest_frame hdr;
	uint32_t seq = CREST_AUTH_CONNECTOR_FRAMES;
	int sv[2];

	sockpair(sv);
	start(&acc, accept_thread, sv[0], secret, 5000);
	start(&con, connect_thread, sv[1], secret, 5000);
	EXPECT_EQ(finish(&acc), 0);
	EXPECT_EQ(finish(&con), 0);
	EXPECT_EQ(acc.res.version, CREST_PROTO_VERSION);
	EXPECT_EQ(con.version, CREST_PROTO_VERSION);
	EXPECT_EQ(acc.res.role, CREST_ROLE_SUBCOORD);
	/* the connection goes on, numbered after the handshake frames */
	EXPECT_EQ(crest_frame_send(sv[1], CREST_MSG_HELLO, &seq, &hello, sizeof(hello)), 0);
	EXPECT_EQ(crest_frame_recv(sv[0], &hdr, &hello, sizeof(hello), 1000), sizeof(hello));
	EXPECT_EQ(hdr.seq, CREST_AUTH_CONNECTOR_FRAMES + 1);
	EXPECT_EQ(hello.pid, 42);
}

TEST(wrong_secret_both_fail)
{
	struct side acc, con;
	int sv[2];

	sockpair(sv);
	start(&acc, accept_thread, sv[0], secret, 5000);
	start(&con, connect_thread, sv[1], other_secret, 5000);
	EXPECT_EQ(finish(&acc), -EACCES);
	EXPECT_EQ(finish(&con), -ECONNRESET);
}

/* the MACs of docs/protocol.md are the ones the code computes */
TEST(macs_as_documented)
{
	struct side acc, con;
	struct crest_msg_challenge ch;
	struct crest_msg_auth a;
	struct crest_msg_auth_ok ok;
	uint8_t want[32];
	uint32_t seq = 1;
	int sv[2];

	/* the test as connector */
	acceptor_up(&acc, sv, 5000, &ch);
	EXPECT_EQ(ch.version_min, CREST_PROTO_VERSION);
	EXPECT_EQ(ch.version_max, CREST_PROTO_VERSION);
	send_auth(sv[1], &ch, secret, CREST_PROTO_VERSION, nonce_c);
	recv_expect(sv[1], CREST_MSG_AUTH_OK, &ok, sizeof(ok));
	EXPECT_EQ(finish(&acc), 0);
	EXPECT_EQ(acc.res.role, CREST_ROLE_PROCESS);
	doc_mac(secret, "crest-auth-1 acceptor", nonce_c, ch.nonce, CREST_PROTO_VERSION,
		CREST_ROLE_PROCESS, want);
	EXPECT(!memcmp(ok.mac, want, 32));
	close(sv[0]);
	close(sv[1]);

	/* the test as acceptor */
	connector_up(&con, sv, 5000, CREST_PROTO_VERSION, CREST_PROTO_VERSION, &ch);
	recv_expect(sv[0], CREST_MSG_AUTH, &a, sizeof(a));
	EXPECT_EQ(a.version, CREST_PROTO_VERSION);
	EXPECT_EQ(a.role, CREST_ROLE_SUBCOORD);
	doc_mac(secret, "crest-auth-1 connector", ch.nonce, a.nonce, a.version, a.role, want);
	EXPECT(!memcmp(a.mac, want, 32));
	memset(&ok, 0, sizeof(ok));
	doc_mac(secret, "crest-auth-1 acceptor", a.nonce, ch.nonce, a.version, a.role, ok.mac);
	EXPECT_EQ(crest_frame_send(sv[0], CREST_MSG_AUTH_OK, &seq, &ok, sizeof(ok)), 0);
	EXPECT_EQ(finish(&con), 0);
}

/* an acceptor that does not hold the secret cannot pass itself off */
TEST(impostor_acceptor_rejected)
{
	struct side con;
	struct crest_msg_challenge ch;
	struct crest_msg_auth a;
	struct crest_msg_auth_ok ok = { 0 };
	uint32_t seq = 1;
	int sv[2];

	connector_up(&con, sv, 5000, 1, 1, &ch);
	recv_expect(sv[0], CREST_MSG_AUTH, &a, sizeof(a));
	doc_mac(other_secret, "crest-auth-1 acceptor", a.nonce, ch.nonce, a.version, a.role, ok.mac);
	EXPECT_EQ(crest_frame_send(sv[0], CREST_MSG_AUTH_OK, &seq, &ok, sizeof(ok)), 0);
	EXPECT_EQ(finish(&con), -EACCES);
}

/* copy one frame from `from` to `to` byte for byte; keep it in saved */
static size_t relay(int from, int to, uint8_t *saved)
{
	struct crest_frame hdr;
	uint8_t payload[256];
	int n = crest_frame_recv(from, &hdr, payload, sizeof(payload), 5000);

	EXPECT(n >= 0);
	memcpy(saved, &hdr, sizeof(hdr));
	memcpy(saved + sizeof(hdr), payload, n);
	EXPECT_EQ(crest_write_full(to, saved, sizeof(hdr) + n), 0);
	return sizeof(hdr) + n;
}

TEST(replayed_auth_rejected)
{
	struct side acc, con;
	struct crest_msg_challenge ch;
	uint8_t frame[512], auth_frame[512];
	size_t auth_len;
	int p[2], q[2];

	/* a successful handshake, watched by the test in the middle */
	sockpair(p);
	sockpair(q);
	start(&acc, accept_thread, q[0], secret, 5000);
	start(&con, connect_thread, p[0], secret, 5000);
	relay(q[1], p[1], frame);			/* CHALLENGE */
	auth_len = relay(p[1], q[1], auth_frame);	/* AUTH */
	relay(q[1], p[1], frame);			/* AUTH_OK */
	EXPECT_EQ(finish(&acc), 0);
	EXPECT_EQ(finish(&con), 0);

	/* its AUTH sent again to a new challenge */
	close(q[0]);
	close(q[1]);
	acceptor_up(&acc, q, 5000, &ch);
	EXPECT_EQ(crest_write_full(q[1], auth_frame, auth_len), 0);
	EXPECT_EQ(finish(&acc), -EACCES);
}

/* the acceptor's own nonce sent back, even with a mac that would verify */
TEST(reflected_nonce_rejected)
{
	struct side acc;
	struct crest_msg_challenge ch;
	int sv[2];

	acceptor_up(&acc, sv, 5000, &ch);
	send_auth(sv[1], &ch, secret, CREST_PROTO_VERSION, ch.nonce);
	EXPECT_EQ(finish(&acc), -EACCES);
}

/* a version the acceptor did not offer, with a valid mac */
TEST(acceptor_version_out_of_range)
{
	uint16_t bad[] = { 0, CREST_PROTO_VERSION + 1, 0xffff };

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct side acc;
		struct crest_msg_challenge ch;
		int sv[2];

		acceptor_up(&acc, sv, 5000, &ch);
		send_auth(sv[1], &ch, secret, bad[i], nonce_c);
		EXPECT_EQ(finish(&acc), -EPROTONOSUPPORT);
		close(sv[1]);
	}
}

TEST(connector_version_negotiation)
{
	struct side con;
	struct crest_msg_challenge ch;
	struct crest_msg_auth a;
	struct crest_frame hdr;
	int sv[2];

	/* nothing in common: the connector sends nothing and gives up */
	connector_up(&con, sv, 5000, CREST_PROTO_VERSION + 1, CREST_PROTO_VERSION + 5, &ch);
	EXPECT_EQ(finish(&con), -EPROTONOSUPPORT);
	EXPECT_EQ(crest_frame_recv(sv[0], &hdr, &a, sizeof(a), 1000), -ECONNRESET);
	close(sv[0]);

	/* min > max */
	connector_up(&con, sv, 5000, CREST_PROTO_VERSION, 0, &ch);
	EXPECT_EQ(finish(&con), -EPROTONOSUPPORT);
	close(sv[0]);

	/* a wide range: the highest version both speak */
	connector_up(&con, sv, 5000, 0, 9, &ch);
	recv_expect(sv[0], CREST_MSG_AUTH, &a, sizeof(a));
	EXPECT_EQ(a.version, CREST_AUTH_VERSION_MAX);
	close(sv[0]);
	EXPECT_EQ(finish(&con), -ECONNRESET);
}

TEST(acceptor_other_frame_first)
{
	struct crest_msg_hello hello = { 0 };
	struct crest_msg_challenge ch = { 0 };
	struct crest_msg_auth a = { 0 };

	EXPECT_EQ(side_gets(true, CREST_MSG_HELLO, &hello, sizeof(hello), 1), -EPROTO);
	EXPECT_EQ(side_gets(true, CREST_MSG_STATUS_REQUEST, NULL, 0, 1), -EPROTO);
	EXPECT_EQ(side_gets(true, CREST_MSG_CHALLENGE, &ch, sizeof(ch), 1), -EPROTO);
	/* an AUTH, but not the connection's first frame */
	EXPECT_EQ(side_gets(true, CREST_MSG_AUTH, &a, sizeof(a), 2), -EPROTO);
}

/* the connector gets another frame where CHALLENGE or AUTH_OK belongs */
TEST(connector_other_frame_first)
{
	struct crest_msg_welcome w = { 0 };
	struct crest_msg_auth_ok ok = { 0 };
	struct crest_msg_challenge ch;
	struct crest_msg_auth a;
	struct side con;
	uint32_t seq = 1;
	int sv[2];

	EXPECT_EQ(side_gets(false, CREST_MSG_WELCOME, &w, sizeof(w), 1), -EPROTO);
	EXPECT_EQ(side_gets(false, CREST_MSG_AUTH_OK, &ok, sizeof(ok), 1), -EPROTO);

	/* a second CHALLENGE instead of AUTH_OK */
	connector_up(&con, sv, 5000, 1, 1, &ch);
	recv_expect(sv[0], CREST_MSG_AUTH, &a, sizeof(a));
	EXPECT_EQ(crest_frame_send(sv[0], CREST_MSG_CHALLENGE, &seq, &ch, sizeof(ch)), 0);
	EXPECT_EQ(finish(&con), -EPROTO);
}

TEST(garbage_instead_of_frame)
{
	struct side acc;
	struct crest_msg_challenge ch;
	char junk[64];
	int sv[2];

	memset(junk, 'G', sizeof(junk));
	acceptor_up(&acc, sv, 5000, &ch);
	EXPECT_EQ(crest_write_full(sv[1], junk, sizeof(junk)), 0);
	EXPECT_EQ(finish(&acc), -EPROTO);
}

TEST(silent_peer_times_out)
{
	struct side s;
	long long t0;
	int sv[2];

	t0 = now_ms();
	acceptor_up(&s, sv, 300, NULL);
	EXPECT_EQ(finish(&s), -ETIMEDOUT);
	EXPECT(now_ms() - t0 >= 290);
	EXPECT(now_ms() - t0 < 1500);
	close(sv[1]);

	t0 = now_ms();
	connector_up(&s, sv, 300, 0, 0, NULL);
	EXPECT_EQ(finish(&s), -ETIMEDOUT);
	EXPECT(now_ms() - t0 >= 290);
	EXPECT(now_ms() - t0 < 1500);
}

/* the bound is for the whole handshake, not for each frame */
TEST(slow_peer_bounded_overall)
{
	struct side con;
	struct crest_msg_challenge ch;
	struct crest_msg_auth a;
	long long t0;
	int sv[2];

	t0 = now_ms();
	connector_up(&con, sv, 1000, 0, 0, NULL);
	usleep(700 * 1000);
	send_challenge(sv[0], 1, 1, &ch);
	recv_expect(sv[0], CREST_MSG_AUTH, &a, sizeof(a));
	/* no AUTH_OK: the connector gives up 1 s after it started, not 1 s
	 * after the CHALLENGE */
	EXPECT_EQ(finish(&con), -ETIMEDOUT);
	EXPECT(now_ms() - t0 < 1500);
}

TEST(truncated_frame_then_close)
{
	struct side acc;
	struct crest_msg_challenge ch;
	struct crest_msg_auth a = { .version = 1 };
	struct crest_frame hdr;
	uint8_t frame[sizeof(hdr) + sizeof(a)];
	uint32_t seq = 0;
	long long t0;
	int sv[2];

	crest_frame_build(&hdr, CREST_MSG_AUTH, &seq, &a, sizeof(a));
	memcpy(frame, &hdr, sizeof(hdr));
	memcpy(frame + sizeof(hdr), &a, sizeof(a));

	/* the header and part of the payload */
	t0 = now_ms();
	acceptor_up(&acc, sv, 10000, &ch);
	EXPECT_EQ(crest_write_full(sv[1], frame, 40), 0);
	close(sv[1]);
	EXPECT_EQ(finish(&acc), -ECONNRESET);
	EXPECT(now_ms() - t0 < 2000);

	/* part of the header */
	acceptor_up(&acc, sv, 10000, &ch);
	EXPECT_EQ(crest_write_full(sv[1], frame, 10), 0);
	close(sv[1]);
	EXPECT_EQ(finish(&acc), -ECONNRESET);
	EXPECT(now_ms() - t0 < 4000);
}

/* the pure steps: any change to what the mac covers breaks it; the
 * reserved fields are not covered */
TEST(pure_steps_detect_tampering)
{
	static const uint8_t nonce_a[32] = { 0xaa, 1 };
	struct crest_auth_hs acc, con;
	struct crest_msg_auth_ok ok;
	struct crest_msg_auth t;
	struct crest_frame hdr;
	uint32_t seq;

	crest_auth_challenge_init(&acc, nonce_a);
	seq = 0;
	crest_frame_build(&hdr, CREST_MSG_CHALLENGE, &seq, &acc.ch, sizeof(acc.ch));
	EXPECT_EQ(crest_auth_answer(&con, secret, CREST_ROLE_CLIENT, nonce_c, &hdr, &acc.ch), 0);
	seq = 0;
	crest_frame_build(&hdr, CREST_MSG_AUTH, &seq, &con.auth, sizeof(con.auth));
	hdr.length--;	/* a header nobody checked */
	EXPECT_EQ(crest_auth_verify(&acc, secret, &hdr, &con.auth, &ok), -EBADMSG);
	hdr.length++;
	EXPECT_EQ(crest_auth_verify(&acc, secret, &hdr, &con.auth, &ok), 0);
	EXPECT_EQ(acc.auth.role, CREST_ROLE_CLIENT);
	seq = 1;
	crest_frame_build(&hdr, CREST_MSG_AUTH_OK, &seq, &ok, sizeof(ok));
	EXPECT_EQ(crest_auth_confirm(&con, secret, &hdr, &ok), 0);
	EXPECT_EQ(crest_auth_confirm(&con, other_secret, &hdr, &ok), -EACCES);

	/* every bit of version, role, nonce and mac of the AUTH (every
	 * version is in the range here, so only the mac can reject it) */
	acc.ch.version_min = 0;
	acc.ch.version_max = 0xffff;
	seq = 0;
	crest_frame_build(&hdr, CREST_MSG_AUTH, &seq, &con.auth, sizeof(con.auth));
	for (size_t byte = offsetof(struct crest_msg_auth, version);
	     byte < offsetof(struct crest_msg_auth, reserved2); byte++) {
		if (byte >= offsetof(struct crest_msg_auth, reserved) &&
		    byte < offsetof(struct crest_msg_auth, nonce))
			continue;
		for (int bit = 0; bit < 8; bit++) {
			t = con.auth;
			((uint8_t *)&t)[byte] ^= 1u << bit;
			EXPECT_EQ(crest_auth_verify(&acc, secret, &hdr, &t, &ok), -EACCES);
		}
	}
	/* every bit of the AUTH_OK's mac */
	seq = 1;
	crest_frame_build(&hdr, CREST_MSG_AUTH_OK, &seq, &ok, sizeof(ok));
	for (int byte = 0; byte < CREST_AUTH_MAC; byte++) {
		struct crest_msg_auth_ok t = ok;

		t.mac[byte] ^= 0x10;
		EXPECT_EQ(crest_auth_confirm(&con, secret, &hdr, &t), -EACCES);
	}
	/* reserved fields: ignored */
	t = con.auth;
	t.reserved = 7;
	t.reserved2[1] = 9;
	EXPECT_EQ(crest_auth_verify(&acc, secret, &hdr, &t, &ok), -EPROTO);	/* hdr is AUTH_OK's */
	seq = 0;
	crest_frame_build(&hdr, CREST_MSG_AUTH, &seq, &t, sizeof(t));
	EXPECT_EQ(crest_auth_verify(&acc, secret, &hdr, &t, &ok), 0);
}

TEST(secret_hex_round_trip)
{
	uint8_t s[CREST_SECRET_LEN], back[CREST_SECRET_LEN];
	char hex[CREST_SECRET_HEX_LEN + 1];

	EXPECT_EQ(crest_secret_generate(s), 0);
	EXPECT_EQ(crest_secret_to_hex(s, hex), 0);
	EXPECT_EQ(strlen(hex), 64);
	EXPECT_EQ(strspn(hex, "0123456789abcdef"), 64);
	EXPECT_EQ(crest_secret_from_hex(hex, back), 0);
	EXPECT(!memcmp(s, back, sizeof(s)));

	EXPECT_EQ(crest_secret_to_hex(secret, hex), 0);
	EXPECT(!strcmp(hex, "01264b7095badf04294e7398bde2072c51769bc0e50a2f54799ec3e80d32577c"));
	/* upper case is accepted */
	EXPECT_EQ(crest_secret_from_hex("01264B7095BADF04294E7398BDE2072C51769BC0E50A2F54799EC3E80D32577C",
					 back), 0);
	EXPECT(!memcmp(secret, back, sizeof(back)));
}

TEST(secret_bad_hex_rejected)
{
	const char *good = "01264b7095badf04294e7398bde2072c51769bc0e50a2f54799ec3e80d32577c";
	const char *bad[] = {
		"",
		"0",
		"01264b7095badf04294e7398bde2072c51769bc0e50a2f54799ec3e80d32577",	/* 63 */
		"01264b7095badf04294e7398bde2072c51769bc0e50a2f54799ec3e80d32577c0",	/* 65 */
		"01264b7095badf04294e7398bde2072c51769bc0e50a2f54799ec3e80d32577c\n",
		" 01264b7095badf04294e7398bde2072c51769bc0e50a2f54799ec3e80d32577c",
		"g1264b7095badf04294e7398bde2072c51769bc0e50a2f54799ec3e80d32577c",
		"01264b7095badf04294e7398bde2072c51769bc0e50a2f54799ec3e80d32577x",
		"01264b7095badf04294e7398bde2072 51769bc0e50a2f54799ec3e80d32577c",
		"0x264b7095badf04294e7398bde2072c51769bc0e50a2f54799ec3e80d32577c",
	};
	uint8_t s[CREST_SECRET_LEN];

	memset(s, 0x55, sizeof(s));
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT_EQ(crest_secret_from_hex(bad[i], s), -EINVAL);
		for (int j = 0; j < CREST_SECRET_LEN; j++)
			EXPECT_EQ(s[j], 0x55);	/* untouched */
	}
	EXPECT_EQ(crest_secret_from_hex(good, s), 0);
}

TEST(secret_generate_and_wipe)
{
	uint8_t a[CREST_SECRET_LEN], b[CREST_SECRET_LEN], zero[CREST_SECRET_LEN] = { 0 };

	EXPECT_EQ(crest_secret_generate(a), 0);
	EXPECT_EQ(crest_secret_generate(b), 0);
	EXPECT(memcmp(a, b, sizeof(a)));
	EXPECT(memcmp(a, zero, sizeof(a)));
	crest_secret_wipe(a, sizeof(a));
	EXPECT(!memcmp(a, zero, sizeof(a)));
}

TEST(strerror_says_what_failed)
{
	int errs[] = { -EACCES, -EPROTONOSUPPORT, -EPROTO, -ETIMEDOUT, -ECONNRESET, -EBADMSG };

	EXPECT(strstr(crest_auth_strerror(-EACCES), "wrong secret"));
	for (unsigned i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		EXPECT(crest_auth_strerror(errs[i])[0]);
		for (unsigned j = 0; j < i; j++)
			EXPECT(strcmp(crest_auth_strerror(errs[i]), crest_auth_strerror(errs[j])));
	}
	EXPECT(!strcmp(crest_auth_strerror(-ENOENT), "No such file or directory"));
	EXPECT(crest_auth_strerror(-100000)[0]);
}

int main(void)
{
	return RUN_TESTS();
}
