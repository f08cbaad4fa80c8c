/* SPDX-License-Identifier: MIT */
/*
 * File locks held at the checkpoint are held again after a restart:
 * flock(2) locks, POSIX record locks (fcntl F_SETLK, lockf) and
 * open-file-description locks (F_OFD_SETLK).
 *
 * While every process of the computation is stopped (WRITE), each regular
 * file fd's /proc/self/fdinfo lists the locks this process holds through
 * it ("lock:\t1: POSIX  ADVISORY  WRITE 1234 fe:00:5678 5 14"); they are
 * kept in a table of libcrest's own, which comes back with the memory.
 * After the fds are reopened at restart, each is taken again without
 * waiting (LOCK_NB, F_SETLK).  The processes that held them are gone, so
 * a lock that cannot be had is held by a process outside the computation
 * that took it meanwhile: a warning names the file and the lock, and the
 * program runs without it.
 *
 * A flock or OFD lock on a description several processes share comes
 * back with the description: one for a parent and its children
 * (fds_share.c), so each takes it again on the same description; where
 * crest restores the description once per process (docs/unsupported.md:
 * siblings whose parent closed it, one passed over a Unix socket), in
 * one of them only.  Leases and mandatory locks are not restored (a
 * warning at restart).
 */
#define LOG_MODULE "locks"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "crest.h"
#include "log.h"

#define LOCKS_MAX	256

enum lock_kind { LK_FLOCK = 1, LK_POSIX, LK_OFD, LK_OTHER };

static struct lock_rec {
	uint32_t fd_index;
	uint8_t kind;			/* enum lock_kind */
	bool write;
	uint64_t start, len;		/* POSIX/OFD: len 0 = to the end of the file */
	char what[48];			/* LK_OTHER: its name, for the warning */
} locks[LOCKS_MAX];
static uint32_t nlocks;

static bool same_lock(const struct lock_rec *a, const struct lock_rec *b)
{
	const struct crest_img_fd *fa = &crest.fds[a->fd_index].img, *fb = &crest.fds[b->fd_index].img;
	return fa->dev == fb->dev && fa->ino == fb->ino && a->kind == b->kind && a->write == b->write &&
	       a->start == b->start && a->len == b->len;
}

/* "1: POSIX  ADVISORY  WRITE 1234 fe:00:5678 5 14" */
static void parse_line(uint32_t index, const char *line)
{
	char type[24], mode[24], rw[16], dev[64], end[32];
	long long pid;
	unsigned long long start;
	struct lock_rec r = { .fd_index = index };

	if (sscanf(line, "%*d: %23s %23s %15s %lld %63s %llu %31s", type, mode, rw, &pid, dev, &start, end) != 7)
		return;
	if (!strcmp(type, "FLOCK"))
		r.kind = LK_FLOCK;
	else if (!strcmp(type, "POSIX"))
		r.kind = LK_POSIX;
	else if (!strcmp(type, "OFDLCK"))
		r.kind = LK_OFD;
	else
		r.kind = LK_OTHER;
	if (strcmp(mode, "ADVISORY"))
		r.kind = LK_OTHER;
	if (r.kind == LK_OTHER)
		snprintf(r.what, sizeof(r.what), "%s %s", type, mode);
	r.write = !strcmp(rw, "WRITE");
	r.start = start;
	r.len = strcmp(end, "EOF") ? strtoull(end, NULL, 10) - start + 1 : 0;
	for (uint32_t i = 0; i < nlocks; i++)
		if (same_lock(&locks[i], &r))
			return;	/* the same description through another fd (dup) */
	if (nlocks < LOCKS_MAX)
		locks[nlocks++] = r;
	else
		pr_warn("more than %d file locks: the one on %s will not be held after a restart", LOCKS_MAX,
			crest.fds[index].img.path);
}

void crest_locks_reset(void)
{
	nlocks = 0;
}

/* fd record `index`'s fdinfo text, read by the fd scan (fds.c): its locks.
 * The scan at WRITE, every process stopped, is the one the image keeps. */
void crest_locks_scan(uint32_t index, const char *info)
{
	const struct crest_img_fd *r = &crest.fds[index].img;

	/* whole lines only: one cut at the end of the buffer is not a lock */
	for (const char *p = strstr(info, "\nlock:"); p; p = strstr(p + 1, "\nlock:"))
		if (strchr(p + 1, '\n'))
			parse_line(index, p + 6);
		else
			pr_warn("fd %d (%s): more locks than crest reads; some will not be held after a restart",
				r->fd, r->path);
}

/* fds reopened, threads not running yet */
void crest_locks_keep(uint32_t fd_index)
{
	for (uint32_t i = 0; i < nlocks; i++) {
		const struct lock_rec *l = &locks[i];
		if (l->kind != LK_POSIX || l->fd_index != fd_index)
			continue;
		const struct crest_img_fd *r = &crest.fds[l->fd_index].img;
		struct flock fl = { .l_type = l->write ? F_WRLCK : F_RDLCK, .l_whence = SEEK_SET,
				    .l_start = (off_t)l->start, .l_len = (off_t)l->len };
		if (fcntl(r->fd, F_SETLK, &fl) < 0)
			pr_warn("fd %d (%s): the POSIX %s lock on bytes %" PRIu64 "... was lost while its content was "
				"saved, and another process took it: %s", r->fd, r->path, l->write ? "write" : "read",
				l->start, strerrordesc_np(errno));
	}
}

void crest_locks_restore(void)
{
	for (uint32_t i = 0; i < nlocks; i++) {
		const struct lock_rec *l = &locks[i];
		const struct crest_img_fd *r = &crest.fds[l->fd_index].img;
		int rc;
		if (l->kind == LK_OTHER) {
			pr_warn("fd %d (%s) held a %s lock at the checkpoint; crest does not take it again", r->fd,
				r->path, l->what);
			continue;
		}
		if (l->kind == LK_FLOCK) {
			rc = flock(r->fd, (l->write ? LOCK_EX : LOCK_SH) | LOCK_NB);
		} else {
			struct flock fl = { .l_type = l->write ? F_WRLCK : F_RDLCK, .l_whence = SEEK_SET,
					    .l_start = (off_t)l->start, .l_len = (off_t)l->len };
			rc = fcntl(r->fd, l->kind == LK_OFD ? F_OFD_SETLK : F_SETLK, &fl);
		}
		if (rc < 0)
			pr_warn("fd %d (%s): cannot take again the %s %s lock it held at the checkpoint (bytes %" PRIu64
				"%s): %s; another process holds it now, the program goes on without it",
				r->fd, r->path, l->kind == LK_FLOCK ? "flock" : l->kind == LK_OFD ? "OFD" : "POSIX",
				l->write ? "write" : "read", l->start, l->len ? "..." : " to the end", strerrordesc_np(errno));
		else
			pr_debug("fd %d (%s): lock taken again", r->fd, r->path);
	}
}
