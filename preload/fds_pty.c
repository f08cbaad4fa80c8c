/* SPDX-License-Identifier: MIT */
/*
 * Pseudo-terminal pairs inside the computation (docs/architecture.md,
 * "Pseudo-terminals"): a process holding a pty's master (posix_openpt: an
 * mpirun forwarding its ranks' output, script, expect) and processes
 * holding its slave (/dev/pts/N) come back with a new pair, which `crest
 * restart` makes and puts in place (sched/cli_tree_pty.c), with the
 * settings the pair had and the output in flight: what the slave side had
 * written and the master side not read yet.
 *
 * That output is read at the checkpoint by every process holding the
 * master, one at a time (an exclusive flock on a slave fd of its own,
 * TIOCGPTPEER), and written back through that slave fd with output
 * processing off, so that the computation, which runs on, reads the same
 * bytes: each holder saves the same copy, as with pipes.  Runs while every
 * thread is stopped: no malloc, static buffers.
 */
#define LOG_MODULE "libcrest"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include "crest.h"
#include "log.h"
#include "pty_inject.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

#define PTY_MAX		16		/* masters per process */
#define PTY_DATA_MAX	65536		/* output in flight, all of them */
#define UNIX98_PTY_SLAVE_MAJOR	136	/* .. + 7 */

static struct {
	uint32_t fd_index;
	uint32_t off, len;		/* in buf: struct crest_img_pty, then the bytes */
} saved[PTY_MAX];
static uint32_t nsaved, used;
static unsigned char buf[PTY_MAX * sizeof(struct crest_img_pty) + PTY_DATA_MAX];

uint32_t crest_pty_kind(int fd, const struct stat *st, uint64_t *index)
{
	unsigned n;

	if (major(st->st_rdev) == 5 && minor(st->st_rdev) == 2 && !ioctl(fd, TIOCGPTN, &n)) {
		*index = n;
		return CREST_FD_PTY_MASTER;
	}
	if (major(st->st_rdev) >= UNIX98_PTY_SLAVE_MAJOR && major(st->st_rdev) < UNIX98_PTY_SLAVE_MAJOR + 8) {
		*index = (uint64_t)(major(st->st_rdev) - UNIX98_PTY_SLAVE_MAJOR) * 256 + minor(st->st_rdev);
		return CREST_FD_PTY_SLAVE;
	}
	return 0;
}

void crest_pty_reset(void)
{
	nsaved = used = 0;
}

/* the master fd's bytes waiting to be read, drained into dst (at most max) */
static int drain(int mfd, unsigned char *dst, uint32_t max, uint32_t *got)
{
	int avail = 0, fl = fcntl(mfd, F_GETFL);

	*got = 0;
	if (ioctl(mfd, FIONREAD, &avail) < 0 || avail <= 0)
		return 0;
	if ((uint32_t)avail > max)
		return -ENOBUFS;
	fcntl(mfd, F_SETFL, fl | O_NONBLOCK);
	while (*got < (uint32_t)avail) {
		ssize_t n = read(mfd, dst + *got, (uint32_t)avail - *got);
		if (n <= 0)
			break;
		*got += (uint32_t)n;
	}
	fcntl(mfd, F_SETFL, fl);
	return 0;
}

int crest_pty_save(uint32_t fd_index, char *err, size_t errlen)
{
	struct crest_img_fd *r = &crest.fds[fd_index].img;
	struct crest_img_pty *h;
	struct termios tio;
	struct winsize ws;
	uint32_t got = 0;
	int rc = 0;

	if (nsaved == PTY_MAX || used + sizeof(*h) > sizeof(buf)) {
		snprintf(err, errlen, "more than %d pseudo-terminal masters in one process", PTY_MAX);
		return -ENOBUFS;
	}
	int sfd = ioctl(r->fd, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (sfd < 0) {
		snprintf(err, errlen, "cannot open the slave of the pseudo-terminal at fd %d (pty %lu): %s", r->fd,
			 (unsigned long)r->pos, strerrordesc_np(errno));
		return -errno;
	}
	flock(sfd, LOCK_EX);
	h = (struct crest_img_pty *)(buf + used);
	memset(h, 0, sizeof(*h));
	if (tcgetattr(sfd, &tio) < 0 || ioctl(sfd, TIOCGWINSZ, &ws) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot read the settings of pty %lu (fd %d): %s", (unsigned long)r->pos,
			 r->fd, strerrordesc_np(errno));
		goto out;
	}
	_Static_assert(sizeof(tio) <= sizeof(h->termios), "struct termios");
	memcpy(h->termios, &tio, sizeof(tio));
	h->ws_row = ws.ws_row;
	h->ws_col = ws.ws_col;
	h->ws_xpixel = ws.ws_xpixel;
	h->ws_ypixel = ws.ws_ypixel;
	unsigned char *data = buf + used + sizeof(*h);
	rc = drain(r->fd, data, (uint32_t)(sizeof(buf) - used - sizeof(*h)), &got);
	if (!rc && got)
		rc = crest_pty_inject(r->fd, sfd, &tio, data, got);
	if (rc) {
		snprintf(err, errlen, "cannot copy the %u bytes in flight in pty %lu (fd %d): %s", got,
			 (unsigned long)r->pos, r->fd, strerrordesc_np(-rc));
		goto out;
	}
	h->pending = got;
	saved[nsaved].fd_index = fd_index;
	saved[nsaved].off = used;
	saved[nsaved].len = (uint32_t)sizeof(*h) + got;
	used += saved[nsaved++].len;
	r->content_saved = 1;
out:
	flock(sfd, LOCK_UN);
	close(sfd);
	return rc;
}

const unsigned char *crest_pty_data(uint32_t fd_index, uint32_t *len)
{
	for (uint32_t i = 0; i < nsaved; i++)
		if (saved[i].fd_index == fd_index) {
			*len = saved[i].len;
			return buf + saved[i].off;
		}
	return NULL;
}
