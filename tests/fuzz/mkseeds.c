/* SPDX-License-Identifier: MIT */
/*
 * Seed corpus for the fuzz targets: mkseeds DIR writes DIR/frame/ (valid
 * frames of several types, and two in a row) and DIR/auth/ (inputs in
 * fuzz_auth's layout, fuzz.h).  Built from the structs of this tree, so the
 * seeds always have the current sizes.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "fuzz.h"
#include "proto.h"

static const char *top;

static void put(const char *sub, const char *name, const void *a, size_t alen,
		const void *b, size_t blen)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", top, sub);
	if (mkdir(path, 0755) && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/seed-%s", top, sub, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || crest_write_full(fd, a, alen) || crest_write_full(fd, b, blen) || close(fd)) {
		perror(path);
		exit(1);
	}
}

/* one frame (seq 1..) into buf; returns its length */
static size_t frame(uint8_t *buf, uint16_t type, uint32_t seq, const void *payload, uint32_t len)
{
	struct crest_frame hdr;

	seq--;
	crest_frame_build(&hdr, type, &seq, payload, len);
	memcpy(buf, &hdr, sizeof(hdr));
	memcpy(buf + sizeof(hdr), payload, len);
	return sizeof(hdr) + len;
}

static uint8_t buf[2][8192];

static void frame_seed(const char *name, uint16_t type, const void *payload, uint32_t len)
{
	put("frame", name, buf[0], frame(buf[0], type, 1, payload, len), NULL, 0);
}

static void frame_seeds(void)
{
	struct crest_msg_hello hello = { .pid = 1234, .nthreads = 2, .vpid = 1234, .ppid = 1 };
	struct crest_msg_phase phase = { .generation = 3, .phase = CREST_PHASE_WRITE, .bytes = 4096 };
	struct crest_msg_children ch = { .generation = 3, .n = 2, .c = { { 100, 0 }, { 101, CREST_CHILD_ZOMBIE } } };
	struct crest_msg_trigger trig = { .reason = CREST_TRIGGER_SIGNAL, .signo = 12 };
	struct crest_msg_welcome welcome = { .rank = 1 };
	struct crest_msg_ckpt ckpt = { .generation = 3, .threads = 2, .image = "/ck/gen-000003/n0/p-0-1234.img" };
	struct crest_msg_request req = { .compress = ~0u };
	struct crest_msg_result res = { .error = -EIO, .generation = 3, .text = "checkpoint aborted" };
	static const char status[] = "{\"coordinator_pid\":123,\"processes\":[]}";
	struct crest_msg_challenge chal = { .version_min = 1, .version_max = 1 };
	struct crest_msg_auth auth = { .version = 1, .role = CREST_ROLE_PROCESS };
	struct crest_msg_auth_ok ok = { 0 };
	size_t a, b;

	strcpy(hello.exe, "counter");
	frame_seed("hello", CREST_MSG_HELLO, &hello, sizeof(hello));
	frame_seed("phase_ok", CREST_MSG_PHASE_OK, &phase, sizeof(phase));
	frame_seed("children", CREST_MSG_CHILDREN, &ch, sizeof(ch));
	frame_seed("trigger", CREST_MSG_TRIGGER, &trig, sizeof(trig));
	frame_seed("welcome", CREST_MSG_WELCOME, &welcome, sizeof(welcome));
	frame_seed("write", CREST_MSG_WRITE, &ckpt, sizeof(ckpt));
	frame_seed("ckpt_request", CREST_MSG_CKPT_REQUEST, &req, sizeof(req));
	frame_seed("ckpt_result", CREST_MSG_CKPT_RESULT, &res, sizeof(res));
	frame_seed("status_request", CREST_MSG_STATUS_REQUEST, NULL, 0);
	frame_seed("status_reply", CREST_MSG_STATUS_REPLY, status, sizeof(status));
	frame_seed("shutdown", CREST_MSG_SHUTDOWN, NULL, 0);
	frame_seed("challenge", CREST_MSG_CHALLENGE, &chal, sizeof(chal));
	frame_seed("auth", CREST_MSG_AUTH, &auth, sizeof(auth));
	frame_seed("auth_ok", CREST_MSG_AUTH_OK, &ok, sizeof(ok));
	a = frame(buf[0], CREST_MSG_HELLO, 1, &hello, sizeof(hello));
	b = frame(buf[1], CREST_MSG_PHASE_OK, 2, &phase, sizeof(phase));
	put("frame", "hello_phase_ok", buf[0], a, buf[1], b);
}

/* a stranger's three frames: an AUTH with a wrong mac, a CHALLENGE, an AUTH_OK */
static void stranger_seed(void)
{
	struct crest_auth_hs acc, con;
	struct crest_frame hdr;
	struct crest_msg_auth_ok ok = { 0 };
	uint8_t mode = 0;
	size_t n = 0;
	uint32_t seq = 0;

	crest_auth_challenge_init(&acc, fuzz_nonce_a);
	crest_frame_build(&hdr, CREST_MSG_CHALLENGE, &seq, &acc.ch, sizeof(acc.ch));
	crest_auth_answer(&con, fuzz_stranger_secret, CREST_ROLE_PROCESS, fuzz_nonce_c, &hdr, &acc.ch);
	n += frame(buf[0] + n, CREST_MSG_AUTH, 1, &con.auth, sizeof(con.auth));
	n += frame(buf[0] + n, CREST_MSG_CHALLENGE, 1, &acc.ch, sizeof(acc.ch));
	n += frame(buf[0] + n, CREST_MSG_AUTH_OK, 2, &ok, sizeof(ok));
	put("auth", "stranger", &mode, 1, buf[0], n);
}

static void insider_seed(const char *name, uint16_t min, uint16_t max, uint8_t tamper,
			 uint16_t byte, bool reflect)
{
	struct fuzz_auth_insider in = {
		.version_min = min, .version_max = max, .role = CREST_ROLE_SUBCOORD,
		.tamper = tamper, .tamper_bit = 3, .tamper_byte = byte,
	};
	uint8_t mode = 1;

	memcpy(in.nonce_a, fuzz_nonce_a, sizeof(in.nonce_a));
	memcpy(in.nonce_c, reflect ? fuzz_nonce_a : fuzz_nonce_c, sizeof(in.nonce_c));
	put("auth", name, &mode, 1, &in, sizeof(in));
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: mkseeds DIR\n");
		return 2;
	}
	top = argv[1];
	if (mkdir(top, 0755) && errno != EEXIST) {
		perror(top);
		return 1;
	}
	frame_seeds();
	stranger_seed();
	insider_seed("insider", 1, 1, FUZZ_TAMPER_NONE, 0, false);
	insider_seed("insider_wide", 0, 9, FUZZ_TAMPER_NONE, 0, false);
	insider_seed("insider_no_common", 2, 5, FUZZ_TAMPER_NONE, 0, false);
	insider_seed("insider_reflect", 1, 1, FUZZ_TAMPER_NONE, 0, true);
	insider_seed("insider_tamper_mac", 1, 1, FUZZ_TAMPER_AUTH,
		     offsetof(struct crest_msg_auth, mac), false);
	insider_seed("insider_tamper_reserved", 1, 1, FUZZ_TAMPER_AUTH,
		     offsetof(struct crest_msg_auth, reserved2), false);
	insider_seed("insider_tamper_ok", 1, 1, FUZZ_TAMPER_AUTH_OK, 5, false);
	return 0;
}
