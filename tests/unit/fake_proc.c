/* SPDX-License-Identifier: MIT */
/*
 * A fake libcrest checkpoint thread: speaks the process side of the
 * protocol so crest-coord and the crest command can be tested before (and
 * without) libcrest.
 *
 *   fake_proc --dir DIR [--fail prepare|suspend|write] [--silent PHASE]
 *             [--lifetime SEC] [--restarted] [--task N] [--member-of N]
 *
 * Connects to the socket named in DIR/COORD (retrying every second), sends
 * HELLO, answers PREPARE/SUSPEND/WRITE with PHASE_OK (WRITE: writes a small
 * file at the image path, with PROGRESS first), exits on RESUME with
 * CREST_CKPT_EXIT or after --lifetime seconds.  --fail answers PHASE_FAIL at
 * that phase; --silent never answers it.  Included by test_coord.c with
 * FAKE_PROC_NO_MAIN.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ckdir.h"
#include "proto.h"

struct fake_opts {
	const char *dir;
	uint32_t fail_phase;	/* CREST_PHASE_* or 0 */
	uint32_t silent_phase;
	int lifetime;		/* s; 0 = until RESUME+EXIT or the coordinator is gone for good */
	bool restarted;
	uint32_t task;		/* --task N: the first process of Slurm task N - 1 */
	uint32_t member_of;	/* --member-of N: another process of that task (a child) */
};

static int fake_connect(const char *dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char sock[CKDIR_PATH_MAX];
	pid_t pid;
	int fd;

	if (ckdir_coord_read(dir, &pid, sock, sizeof(sock)) || strlen(sock) >= sizeof(sa.sun_path))
		return -ENOENT;
	strcpy(sa.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static void fake_answer(int fd, uint32_t *seq, uint16_t type, uint64_t gen, uint32_t phase,
			uint64_t bytes, const char *text)
{
	struct crest_msg_phase m = { .generation = gen, .phase = phase, .bytes = bytes };

	if (type == CREST_MSG_PHASE_FAIL)
		m.error = -EIO;
	if (text)
		snprintf(m.text, sizeof(m.text), "%s", text);
	crest_frame_send(fd, type, seq, &m, sizeof(m));
}

static int fake_write_image(const char *path, uint64_t *bytes)
{
	char buf[8192];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		return -errno;
	memset(buf, 'i', sizeof(buf));
	int rc = crest_write_full(fd, buf, sizeof(buf));
	fsync(fd);
	close(fd);
	*bytes = sizeof(buf);
	return rc;
}

/* one session with a coordinator; 1 = exit asked, 0 = connection lost */
static int fake_session(const struct fake_opts *o, int fd, time_t end)
{
	union {
		struct crest_msg_welcome w;
		struct crest_msg_ckpt ck;
	} u;
	struct crest_msg_hello h = { .pid = (uint32_t)getpid(), .nthreads = 1 };
	struct crest_frame hdr;
	uint32_t seq = 0;

	if (o->restarted) {
		h.flags = CREST_HELLO_RESTARTED;
		h.restart_count = 1;
	}
	if (o->task) {
		h.task = o->task;
		h.flags |= CREST_HELLO_TASK;
	} else if (o->member_of) {
		h.task = o->member_of;
	}
	snprintf(h.exe, sizeof(h.exe), "fake_proc");
	if (crest_frame_send(fd, CREST_MSG_HELLO, &seq, &h, sizeof(h)))
		return 0;
	for (;;) {
		int wait = end ? (int)(end - time(NULL)) * 1000 : -1;
		if (end && wait <= 0)
			return 1;
		int n = crest_frame_recv(fd, &hdr, &u, sizeof(u), wait);
		if (n == -ETIMEDOUT)
			return 1;
		if (n < 0)
			return 0;
		uint32_t phase = hdr.type == CREST_MSG_PREPARE ? CREST_PHASE_PREPARE :
				 hdr.type == CREST_MSG_SUSPEND ? CREST_PHASE_SUSPEND :
				 hdr.type == CREST_MSG_WRITE ? CREST_PHASE_WRITE : 0;
		if (hdr.type == CREST_MSG_RESUME && (u.ck.flags & CREST_CKPT_EXIT))
			return 1;
		if (!phase)
			continue;
		if (phase == o->silent_phase)
			continue;
		if (phase == o->fail_phase) {
			fake_answer(fd, &seq, CREST_MSG_PHASE_FAIL, u.ck.generation, phase, 0,
				    "fake failure injected by --fail");
			continue;
		}
		uint64_t bytes = 0;
		if (phase == CREST_PHASE_WRITE) {
			fake_answer(fd, &seq, CREST_MSG_PROGRESS, u.ck.generation, phase, 4096, NULL);
			if (fake_write_image(u.ck.image, &bytes)) {
				fake_answer(fd, &seq, CREST_MSG_PHASE_FAIL, u.ck.generation, phase, 0,
					    "cannot write the image");
				continue;
			}
		}
		fake_answer(fd, &seq, CREST_MSG_PHASE_OK, u.ck.generation, phase, bytes, NULL);
	}
}

static int fake_run(const struct fake_opts *o)
{
	time_t end = o->lifetime ? time(NULL) + o->lifetime : 0;
	int misses = 0;

	for (;;) {
		int fd = fake_connect(o->dir);
		if (fd >= 0) {
			misses = 0;
			int done = fake_session(o, fd, end);
			close(fd);
			if (done)
				return 0;
		} else if (++misses > 30 && !end) {
			return 1;
		}
		if (end && time(NULL) >= end)
			return 0;
		sleep(1);	/* like libcrest: reconnect every second */
	}
}

static uint32_t fake_phase(const char *s)
{
	if (!strcmp(s, "prepare"))
		return CREST_PHASE_PREPARE;
	if (!strcmp(s, "suspend"))
		return CREST_PHASE_SUSPEND;
	if (!strcmp(s, "write"))
		return CREST_PHASE_WRITE;
	fprintf(stderr, "fake_proc: unknown phase %s\n", s);
	exit(2);
}

#ifndef FAKE_PROC_NO_MAIN
int main(int argc, char **argv)
{
	struct fake_opts o = { 0 };

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			o.dir = argv[++i];
		else if (!strcmp(argv[i], "--fail") && i + 1 < argc)
			o.fail_phase = fake_phase(argv[++i]);
		else if (!strcmp(argv[i], "--silent") && i + 1 < argc)
			o.silent_phase = fake_phase(argv[++i]);
		else if (!strcmp(argv[i], "--lifetime") && i + 1 < argc)
			o.lifetime = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--restarted"))
			o.restarted = true;
		else if (!strcmp(argv[i], "--task") && i + 1 < argc)
			o.task = (uint32_t)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--member-of") && i + 1 < argc)
			o.member_of = (uint32_t)atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: fake_proc --dir DIR [--fail PHASE] [--silent PHASE] [--lifetime SEC] [--restarted] [--task N] [--member-of N]\n");
			return 2;
		}
	}
	if (!o.dir)
		o.dir = getenv("CREST_DIR");
	if (!o.dir) {
		fprintf(stderr, "fake_proc: --dir DIR or CREST_DIR is required\n");
		return 2;
	}
	return fake_run(&o);
}
#endif
