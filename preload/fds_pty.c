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
 * bytes: each holder saves the same copy, as with pipes (a holder that
 * looked while another had it out saves none: crest restart takes the
 * record with the most).  Runs while every
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
#include <time.h>
#include <unistd.h>

#include "crest.h"
#include "log.h"
#include "pty_inject.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

#define PTY_MAX		512		/* masters per process (mpirun: one per local rank) */
#define PTY_DATA_MAX	(1u << 20)	/* output in flight, all of them */
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

static void pause_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000 };
	nanosleep(&ts, NULL);
}

/* Everything waiting to be read at the master, into dst: its read buffer
 * (at most 4 KiB) and what the kernel holds behind it, which it moves on
 * asynchronously as the buffer empties: read until nothing came for a few
 * ms.  -ENOBUFS with *got = max when there is more than max. */
static int drain(int mfd, unsigned char *dst, uint32_t max, uint32_t *got)
{
	int fl = fcntl(mfd, F_GETFL), rc = 0;

	*got = 0;
	fcntl(mfd, F_SETFL, fl | O_NONBLOCK);
	for (int quiet = 0; quiet < 3;) {
		if (*got == max) {
			rc = -ENOBUFS;
			break;
		}
		ssize_t n = read(mfd, dst + *got, max - *got);
		if (n > 0) {
			*got += (uint32_t)n;
			quiet = 0;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EIO) {	/* EIO: no slave open, nothing left */
			rc = -errno;
			break;
		}
		quiet++;
		pause_ms(2);
	}
	fcntl(mfd, F_SETFL, fl);
	return rc;
}

/* an exclusive flock on fd, waiting at most 5 s (the application could
 * hold one on the terminal) */
static int lock_peer(int fd)
{
	for (int i = 0; i < 5000; i++) {
		if (!flock(fd, LOCK_EX | LOCK_NB))
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		pause_ms(1);
	}
	return -ETIMEDOUT;
}

/* The output in flight of the pty of master mfd, into data (at most max):
 * taken out and written back through a slave fd of our own, under its
 * flock, so that the running computation reads the same bytes.  Only when
 * there is some: opening the slave of a pty whose slave was never opened
 * (or before unlockpt) would make the master read EIO, or fail. */
static int copy_in_flight(int mfd, const struct termios *tio, unsigned char *data, uint32_t max, uint32_t *got)
{
	int avail = 0, pkt = 0, rc;

	*got = 0;
	if (ioctl(mfd, FIONREAD, &avail) < 0 || avail <= 0)
		return 0;
	if (!ioctl(mfd, TIOCGPKT, &pkt) && pkt)
		return 0;	/* packet mode: not kept (docs/unsupported.md) */
	int sfd = ioctl(mfd, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (sfd < 0)
		return -errno;
	rc = lock_peer(sfd);
	if (!rc) {
		rc = drain(mfd, data, max, got);
		/* what was read goes back in any case: the program must find it */
		int put = *got ? crest_pty_inject(mfd, sfd, tio, data, *got) : 0;
		rc = rc ? rc : put;
		flock(sfd, LOCK_UN);
	}
	close(sfd);
	return rc;
}

int crest_pty_save(uint32_t fd_index, char *err, size_t errlen)
{
	struct crest_img_fd *r = &crest.fds[fd_index].img;
	struct crest_img_pty *h;
	struct termios tio;
	struct winsize ws;
	uint32_t got = 0;

	if (nsaved == PTY_MAX || used + sizeof(*h) > sizeof(buf)) {
		snprintf(err, errlen, "more than %d pseudo-terminal masters in one process", PTY_MAX);
		return -ENOBUFS;
	}
	h = (struct crest_img_pty *)(buf + used);
	memset(h, 0, sizeof(*h));
	/* a master's termios and window size are its slave's */
	if (tcgetattr(r->fd, &tio) < 0 || ioctl(r->fd, TIOCGWINSZ, &ws) < 0) {
		snprintf(err, errlen, "cannot read the settings of pty %lu (fd %d): %s", (unsigned long)r->pos,
			 r->fd, strerrordesc_np(errno));
		return -errno;
	}
	_Static_assert(sizeof(tio) <= sizeof(h->termios), "struct termios");
	memcpy(h->termios, &tio, sizeof(tio));
	h->ws_row = ws.ws_row;
	h->ws_col = ws.ws_col;
	h->ws_xpixel = ws.ws_xpixel;
	h->ws_ypixel = ws.ws_ypixel;
	unsigned char *data = buf + used + sizeof(*h);
	int rc = copy_in_flight(r->fd, &tio, data, (uint32_t)(sizeof(buf) - used - sizeof(*h)), &got);
	if (rc) {
		snprintf(err, errlen, "cannot copy the output in flight in pty %lu (fd %d, %u bytes read): %s",
			 (unsigned long)r->pos, r->fd, got,
			 rc == -ENOBUFS ? "more than crest keeps" : strerrordesc_np(-rc));
		return rc;
	}
	h->pending = got;
	saved[nsaved].fd_index = fd_index;
	saved[nsaved].off = used;
	saved[nsaved].len = (uint32_t)sizeof(*h) + got;
	used += saved[nsaved++].len;
	r->content_saved = 1;
	return 0;
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
