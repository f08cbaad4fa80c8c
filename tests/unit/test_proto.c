/* SPDX-License-Identifier: MIT */
/* Unit tests of the wire protocol frames (common/proto.c). */
#include <errno.h>
#include <sys/socket.h>

#include "crest/crc32c.h"

#include "harness.h"
#include "proto.h"

/* harness.h's TEST(name) also substitutes the ".name" member; until it is
 * fixed there, register tests with a parameter that cannot collide */
#undef TEST
#define TEST(t) \
	static void test_##t(void); \
	__attribute__((constructor)) static void reg_##t(void) \
	{ harness_tests[harness_ntests].name = #t; harness_tests[harness_ntests++].fn = test_##t; } \
	static void test_##t(void)

static void sockpair(int sv[2])
{
	EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
}

/* a valid WELCOME frame in buf; returns its length */
static size_t make_frame(unsigned char *buf, uint16_t type, const void *payload, uint32_t len)
{
	struct crest_frame hdr;
	uint32_t seq = 0;

	crest_frame_build(&hdr, type, &seq, payload, len);
	memcpy(buf, &hdr, sizeof(hdr));
	memcpy(buf + sizeof(hdr), payload, len);
	return sizeof(hdr) + len;
}

static void refresh_crc(unsigned char *buf)
{
	struct crest_frame hdr;
	uint32_t seq = 0;

	memcpy(&hdr, buf, sizeof(hdr));
	struct crest_frame h2;
	crest_frame_build(&h2, hdr.type, &seq, buf + sizeof(hdr), hdr.length);
	h2.magic = hdr.magic;
	h2.version = hdr.version;
	h2.seq = hdr.seq;
	/* recompute over the modified header */
	h2.crc = 0;
	uint32_t crc = crc32c(0, &h2, sizeof(h2));
	crc = crc32c(crc, buf + sizeof(hdr), hdr.length);
	h2.crc = crc;
	memcpy(buf, &h2, sizeof(h2));
}

TEST(frame_roundtrip)
{
	int sv[2];
	uint32_t seq = 0;
	struct crest_msg_hello h = { .pid = 1234, .nthreads = 3 }, r;
	struct crest_frame hdr;

	sockpair(sv);
	strcpy(h.exe, "counter");
	EXPECT_EQ(crest_frame_send(sv[0], CREST_MSG_HELLO, &seq, &h, sizeof(h)), 0);
	EXPECT_EQ(crest_frame_send(sv[0], CREST_MSG_STATUS_REQUEST, &seq, NULL, 0), 0);
	EXPECT_EQ(seq, 2);
	EXPECT_EQ(crest_frame_recv(sv[1], &hdr, &r, sizeof(r), 1000), sizeof(r));
	EXPECT_EQ(hdr.type, CREST_MSG_HELLO);
	EXPECT_EQ(hdr.seq, 1);
	EXPECT_EQ(r.pid, 1234);
	EXPECT(!strcmp(r.exe, "counter"));
	EXPECT_EQ(crest_frame_recv(sv[1], &hdr, &r, sizeof(r), 1000), 0);
	EXPECT_EQ(hdr.type, CREST_MSG_STATUS_REQUEST);
	EXPECT_EQ(hdr.seq, 2);
}

TEST(frame_roundtrip_pipe)
{
	int p[2];
	uint32_t seq = 0;
	char text[] = "{\"a\":1}";
	char buf[64];
	struct crest_frame hdr;

	EXPECT(pipe(p) == 0);
	EXPECT_EQ(crest_frame_send(p[1], CREST_MSG_STATUS_REPLY, &seq, text, sizeof(text)), 0);
	EXPECT_EQ(crest_frame_recv(p[0], &hdr, buf, sizeof(buf), 1000), sizeof(text));
	EXPECT(!strcmp(buf, text));
}

TEST(recv_timeout_and_eof)
{
	int sv[2];
	struct crest_frame hdr;
	char buf[16];

	sockpair(sv);
	EXPECT_EQ(crest_frame_recv(sv[1], &hdr, buf, sizeof(buf), 50), -ETIMEDOUT);
	close(sv[0]);
	EXPECT_EQ(crest_frame_recv(sv[1], &hdr, buf, sizeof(buf), 50), -ECONNRESET);
}

TEST(check_complete_and_incomplete)
{
	unsigned char buf[2048];
	struct crest_msg_request req = { .flags = CREST_REQ_KILL };
	size_t len = make_frame(buf, CREST_MSG_CKPT_REQUEST, &req, sizeof(req)), need;

	EXPECT_EQ(crest_frame_check(buf, len, &need), 0);
	EXPECT_EQ(need, len);
	EXPECT_EQ(crest_frame_check(buf, 10, &need), -EAGAIN);
	EXPECT_EQ(crest_frame_check(buf, len - 1, &need), -EAGAIN);
	EXPECT_EQ(need, len);
}

TEST(bad_magic)
{
	unsigned char buf[2048];
	struct crest_msg_request req = { 0 };
	size_t len = make_frame(buf, CREST_MSG_CKPT_REQUEST, &req, sizeof(req)), need;

	buf[0] ^= 1;
	EXPECT_EQ(crest_frame_check(buf, len, &need), -EPROTO);
}

TEST(bad_version)
{
	unsigned char buf[2048];
	struct crest_msg_request req = { 0 };
	size_t len = make_frame(buf, CREST_MSG_CKPT_REQUEST, &req, sizeof(req)), need;
	struct crest_frame *h = (struct crest_frame *)buf;

	h->version = 2;
	refresh_crc(buf);
	EXPECT_EQ(crest_frame_check(buf, len, &need), -EPROTO);
}

TEST(bad_crc_payload_bitflip)
{
	unsigned char buf[2048];
	struct crest_msg_request req = { 0 };
	size_t len = make_frame(buf, CREST_MSG_CKPT_REQUEST, &req, sizeof(req)), need;
	int sv[2];
	struct crest_frame hdr;
	char out[64];

	buf[sizeof(struct crest_frame) + 3] ^= 0x10;
	EXPECT_EQ(crest_frame_check(buf, len, &need), -EBADMSG);
	sockpair(sv);
	EXPECT_EQ(crest_write_full(sv[0], buf, len), 0);
	EXPECT_EQ(crest_frame_recv(sv[1], &hdr, out, sizeof(out), 1000), -EBADMSG);
}

TEST(truncated_frame)
{
	unsigned char buf[2048];
	struct crest_msg_request req = { 0 };
	size_t len = make_frame(buf, CREST_MSG_CKPT_REQUEST, &req, sizeof(req));
	int sv[2];
	struct crest_frame hdr;
	char out[64];

	sockpair(sv);
	EXPECT_EQ(crest_write_full(sv[0], buf, len - 5), 0);
	EXPECT_EQ(crest_frame_recv(sv[1], &hdr, out, sizeof(out), 100), -ETIMEDOUT);
	close(sv[1]);
	sockpair(sv);
	EXPECT_EQ(crest_write_full(sv[0], buf, len - 5), 0);
	close(sv[0]);
	EXPECT_EQ(crest_frame_recv(sv[1], &hdr, out, sizeof(out), 1000), -ECONNRESET);
}

TEST(oversized_length)
{
	unsigned char buf[2048];
	char text[100] = "x";
	size_t len = make_frame(buf, CREST_MSG_STATUS_REPLY, text, sizeof(text)), need;
	struct crest_frame *h = (struct crest_frame *)buf;
	int sv[2];
	struct crest_frame hdr;
	char out[16];

	/* larger than the buffer given to recv */
	sockpair(sv);
	EXPECT_EQ(crest_write_full(sv[0], buf, len), 0);
	EXPECT_EQ(crest_frame_recv(sv[1], &hdr, out, sizeof(out), 1000), -EMSGSIZE);
	/* larger than the protocol allows */
	h->length = CREST_FRAME_MAX + 1;	/* rejected before the crc is checked */
	EXPECT_EQ(crest_frame_check(buf, len, &need), -EMSGSIZE);
	uint32_t seq = 0;
	EXPECT_EQ(crest_frame_send(sv[0], CREST_MSG_STATUS_REPLY, &seq, buf, CREST_FRAME_MAX + 1), -EMSGSIZE);
}

TEST(unknown_type)
{
	unsigned char buf[2048];
	size_t len = make_frame(buf, CREST_MSG_STATUS_REQUEST, NULL, 0), need;
	struct crest_frame *h = (struct crest_frame *)buf;

	EXPECT(!crest_msg_type_known(99));
	h->type = 99;
	refresh_crc(buf);
	EXPECT_EQ(crest_frame_check(buf, len, &need), -EPROTO);
}

TEST(wrong_payload_size)
{
	unsigned char buf[2048];
	struct crest_msg_hello hello = { 0 };
	size_t len = make_frame(buf, CREST_MSG_HELLO, &hello, sizeof(hello) - 4), need;
	int sv[2];
	struct crest_frame hdr;

	EXPECT_EQ(crest_frame_check(buf, len, &need), -EBADMSG);
	EXPECT_EQ(crest_msg_payload_check(CREST_MSG_SHUTDOWN, 1), -EBADMSG);
	EXPECT_EQ(crest_msg_payload_check(CREST_MSG_PHASE_OK, sizeof(struct crest_msg_phase)), 0);
	sockpair(sv);
	EXPECT_EQ(crest_write_full(sv[0], buf, len), 0);
	EXPECT_EQ(crest_frame_recv(sv[1], &hdr, &hello, sizeof(hello), 1000), -EBADMSG);
}

TEST(check_random_garbage_never_crashes)
{
	unsigned char buf[512];
	size_t need;

	srand(1);
	for (int i = 0; i < 100000; i++) {
		size_t len = rand() % sizeof(buf);
		for (size_t j = 0; j < len; j++)
			buf[j] = rand();
		if (i & 1) {
			/* valid header prefix, random rest */
			struct crest_frame *h = (struct crest_frame *)buf;
			if (len >= sizeof(*h)) {
				h->magic = CREST_FRAME_MAGIC;
				h->version = CREST_PROTO_VERSION;
				h->type = CREST_MSG_STATUS_REPLY;
				h->length %= 600;
			}
		}
		int rc = crest_frame_check(buf, len, &need);
		EXPECT(rc == -EAGAIN || rc == -EPROTO || rc == -EMSGSIZE || rc == -EBADMSG || rc == 0);
	}
}

int main(void)
{
	return RUN_TESTS();
}
