/* SPDX-License-Identifier: MIT */
/*
 * Pseudo-terminal pairs at restart (preload/fds_pty.c): for each pty whose
 * master a process of this restart held, a new pair, set as the old one
 * was (termios, window size), with the output that was in flight written
 * through the slave with output processing off, for the master side to
 * read first.  Each process gets the master, or a slave of its own, at
 * the fd it had.  A slave whose master is not in this restart (a terminal
 * outside the computation) is left to libcrest, which reopens it by path.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "cli_tree_int.h"
#include "pty_inject.h"

static struct tpty *find_pty(struct tree *t, uint64_t index, bool create)
{
	for (size_t i = 0; i < t->nptys; i++)
		if (t->ptys[i].index == index)
			return &t->ptys[i];
	if (!create)
		return NULL;
	struct tpty *np = realloc(t->ptys, (t->nptys + 1) * sizeof(*np));
	if (!np)
		return NULL;
	t->ptys = np;
	struct tpty *p = &t->ptys[t->nptys++];
	*p = (struct tpty){ .index = index, .master = -1, .slave = -1 };
	return p;
}

int tree_pty_saved(struct tree *t, const struct crest_img_fd *f, unsigned char *data, size_t n)
{
	struct tpty *p = find_pty(t, f->pos, true);

	if (!p) {
		free(data);
		return -ENOMEM;
	}
	struct crest_img_pty h;
	if (n < sizeof(h)) {
		free(data);
		return -EBADMSG;
	}
	memcpy(&h, data, sizeof(h));
	if (n - sizeof(h) < h.pending) {
		free(data);
		return -EBADMSG;
	}
	/* every holder saved the same, but one that looked while another had
	 * the output out saved none: the record with the most */
	if (p->have && p->hdr.pending >= h.pending) {
		free(data);
		return 0;
	}
	free(p->data);
	p->hdr = h;
	p->data = data;
	p->have = true;
	return 0;
}

int tree_pty_plan(struct tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		for (size_t k = 0; k < t->p[i].nfds; k++)
			if (t->p[i].fds[k].kind == CREST_FD_PTY_MASTER && !find_pty(t, t->p[i].fds[k].pos, true))
				return -ENOMEM;
	return 0;
}

/* the settings and the output in flight of p, on its new pair */
static int set_up(struct tpty *p)
{
	struct termios tio;
	memcpy(&tio, p->hdr.termios, sizeof(tio));
	struct winsize ws = { p->hdr.ws_row, p->hdr.ws_col, p->hdr.ws_xpixel, p->hdr.ws_ypixel };

	if (tcsetattr(p->slave, TCSANOW, &tio) < 0 || ioctl(p->slave, TIOCSWINSZ, &ws) < 0)
		return -errno;
	return crest_pty_inject(p->master, p->slave, &tio, p->data + sizeof(p->hdr), p->hdr.pending);
}

int tree_pty_make(struct tree *t, char *err, size_t errlen)
{
	for (size_t i = 0; i < t->nptys; i++) {
		struct tpty *p = &t->ptys[i];
		int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, p->path, sizeof(p->path))) {
			snprintf(err, errlen, "cannot make a pseudo-terminal again (it was /dev/pts/%lu): %m",
				 (unsigned long)p->index);
			if (m >= 0)
				close(m);
			return -1;
		}
		p->master = fcntl(m, F_DUPFD_CLOEXEC, t->fd_base);
		close(m);
		int s = open(p->path, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
		p->slave = s < 0 ? -1 : fcntl(s, F_DUPFD_CLOEXEC, t->fd_base);
		if (s >= 0)
			close(s);
		if (p->master < 0 || p->slave < 0) {
			snprintf(err, errlen, "cannot open the new pseudo-terminal %s above fd %d: %m", p->path,
				 t->fd_base);
			return -1;
		}
		int rc = p->have ? set_up(p) : 0;
		if (rc) {
			snprintf(err, errlen, "cannot set up the new pseudo-terminal %s as /dev/pts/%lu was: %s",
				 p->path, (unsigned long)p->index, strerror(-rc));
			return -1;
		}
	}
	return 0;
}

int tree_pty_fd(struct tree *t, const struct crest_img_fd *f)
{
	if (f->kind != CREST_FD_PTY_MASTER && f->kind != CREST_FD_PTY_SLAVE)
		return -1;
	struct tpty *p = find_pty(t, f->pos, false);
	if (!p)
		return -1;	/* a terminal outside: libcrest reopens it */
	if (f->kind == CREST_FD_PTY_MASTER)
		return fcntl(p->master, F_DUPFD_CLOEXEC, t->fd_base);
	/* above every fd to put in place: an open that returned f->fd itself
	 * would stay close-on-exec */
	int s = open(p->path, (int)(f->flags & O_ACCMODE) | O_NOCTTY | O_CLOEXEC);
	int hi = s < 0 ? -1 : fcntl(s, F_DUPFD_CLOEXEC, t->fd_base);
	if (s >= 0)
		close(s);
	return hi;
}

bool tree_pty_placed(const struct tree *t, const struct crest_img_fd *f)
{
	if (f->kind != CREST_FD_PTY_MASTER && f->kind != CREST_FD_PTY_SLAVE)
		return false;
	for (size_t i = 0; i < t->nptys; i++)
		if (t->ptys[i].index == f->pos)
			return true;
	return false;
}
