/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the frame parser, crest_frame_check() (common/proto.c),
 * on arbitrary bytes cut into frames as the coordinator's event loop does.
 * Properties: only the documented results; a frame it accepts is complete,
 * of a known type with the right payload size and crc; and
 * crest_frame_recv() on the same bytes through a pipe agrees frame by
 * frame.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "crest/crc32c.h"
#include "fuzz.h"
#include "proto.h"

#define PIPE_BYTES	65536		/* what a pipe takes without a reader */

static uint8_t payload[CREST_FRAME_MAX];

static void check_accepted(const uint8_t *p, size_t flen)
{
	struct crest_frame h;
	uint32_t crc;

	FUZZ_CHECK(flen >= sizeof(h));
	memcpy(&h, p, sizeof(h));
	FUZZ_CHECK(h.magic == CREST_FRAME_MAGIC && h.version == CREST_PROTO_VERSION);
	FUZZ_CHECK(crest_msg_type_known(h.type));
	FUZZ_CHECK(strcmp(crest_msg_type_name(h.type), "?") != 0);
	FUZZ_CHECK(crest_msg_payload_check(h.type, h.length) == 0);
	FUZZ_CHECK(flen == sizeof(h) + h.length);
	crc = h.crc;
	h.crc = 0;
	FUZZ_CHECK(crc32c(crc32c(0, &h, sizeof(h)), p + sizeof(h), h.length) == crc);
}

/* crest_frame_recv() reading the same stream must see the same frame */
static void check_recv_agrees(int fd, int rc, const uint8_t *p, size_t flen)
{
	struct crest_frame hdr;
	int n = crest_frame_recv(fd, &hdr, payload, sizeof(payload), 1000);

	if (rc == 0) {
		FUZZ_CHECK(n >= 0 && (size_t)n == flen - sizeof(hdr));
		FUZZ_CHECK(!memcmp(&hdr, p, sizeof(hdr)));
		FUZZ_CHECK(!memcmp(payload, p + sizeof(hdr), n));
	} else if (rc == -EAGAIN) {
		FUZZ_CHECK(n == -ECONNRESET);	/* the stream ends there */
	} else {
		FUZZ_CHECK(n == rc);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data;
	size_t left = size;
	int pfd[2] = { -1, -1 };

	if (size <= PIPE_BYTES) {
		FUZZ_CHECK(pipe2(pfd, O_CLOEXEC) == 0);
		FUZZ_CHECK(crest_write_full(pfd[1], data, size) == 0);
		close(pfd[1]);
	}
	for (;;) {
		size_t flen = 0;
		int rc = crest_frame_check(p, left, &flen);

		FUZZ_CHECK(rc == 0 || rc == -EAGAIN || rc == -EPROTO || rc == -EMSGSIZE ||
			   rc == -EBADMSG);
		if (rc == -EAGAIN)
			FUZZ_CHECK(flen > left && flen >= sizeof(struct crest_frame));
		if (pfd[0] >= 0)
			check_recv_agrees(pfd[0], rc, p, flen);
		if (rc)
			break;
		check_accepted(p, flen);
		p += flen;
		left -= flen;
	}
	if (pfd[0] >= 0)
		close(pfd[0]);
	return 0;
}
