/* SPDX-License-Identifier: MIT */
/*
 * eventfd, timerfd, signalfd and epoll fds (anon_inode:[...]): classified by
 * scan_fds in fds.c, their kernel state recorded here while every thread is
 * stopped, and re-created by crest_fds_restore at the same fd number.
 *
 * Where the state comes from (/proc/self/fdinfo/N, checked on 6.x kernels):
 *   eventfd   "eventfd-count:" (hex), "eventfd-semaphore:" (absent on older
 *             kernels: the fd then comes back without EFD_SEMAPHORE)
 *   timerfd   timerfd_gettime (time left, relative, and the interval; it
 *             also folds the expirations of a periodic timer into ticks),
 *             then "clockid:", "ticks:", "settime flags:" (octal)
 *   signalfd  "sigmask:" (hex, bit n-1 = signal n)
 *   epoll     one "tfd: N events: X data: X pos:P ino:I sdev:D" per target
 *   inotify   one "inotify wd:W ino:I sdev:D mask:M ..." per watch
 *             (fds_inotify.c)
 *
 * The records live in a table of our own, indexed like crest.fds, in
 * libcrest's .bss: it comes back with the memory image, like crest.fds.
 *
 * An epoll target is named by the fd number it was added with; the program
 * may have closed or dup2'ed that number since.  kcmp(KCMP_EPOLL_TFD) tells
 * which of the process's fds is the target's file; without kcmp, the inode
 * at that number must match.  A target that is none of the saved fds is
 * dropped with a warning.
 */
#define LOG_MODULE "fds"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <linux/kcmp.h>

#include "crest.h"
#include "log.h"

#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS	_IOW('T', 0, uint64_t)	/* CONFIG_CHECKPOINT_RESTORE */
#endif
#define EPOLL_TARGETS_MAX	8192

struct ev_timer {
	int32_t clockid;
	uint32_t settime_flags;		/* TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET */
	uint64_t ticks;			/* expirations not read yet */
	struct itimerspec left;		/* it_value: time left, relative */
	struct timespec abs;		/* absolute CLOCK_REALTIME timers: when */
};

struct ev_target {
	int32_t fd;			/* the fd it comes back at, -1: dropped */
	int32_t tfd;			/* as fdinfo gave it */
	uint32_t events;
	uint64_t data;
};

static struct crest_ev_rec {
	union {
		struct { uint64_t count; bool semaphore; } efd;
		struct ev_timer tfd;
		uint64_t sigmask;
		struct { uint32_t first, n; } ep;	/* into targets[] */
		struct { uint32_t first, n; } ino;	/* fds_inotify.c's watches */
	};
} recs[CREST_MAX_FDS];
static struct ev_target targets[EPOLL_TARGETS_MAX];
static uint32_t ntargets;

uint32_t crest_fd_event_kind(const char *path)
{
	static const struct { const char *path; uint32_t kind; } k[] = {
		{ "anon_inode:[eventfd]", CREST_FD_EVENTFD },
		{ "anon_inode:[timerfd]", CREST_FD_TIMERFD },
		{ "anon_inode:[signalfd]", CREST_FD_SIGNALFD },
		{ "anon_inode:[eventpoll]", CREST_FD_EPOLL },
		{ "anon_inode:inotify", CREST_FD_INOTIFY },
	};
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		if (!strcmp(path, k[i].path))
			return k[i].kind;
	return 0;
}

/* the number after "key" at the start of a line; false if no such line */
static bool field(const char *buf, const char *key, int base, uint64_t *v)
{
	size_t kl = strlen(key);
	for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, key, kl)) {
			*v = strtoull(p + kl, NULL, base);
			return true;
		}
	}
	return false;
}

static int save_timer(int fd, struct ev_timer *t, char *err, size_t errlen)
{
	char info[1024];
	uint64_t v;
	/* first: it brings ticks and it_value of a periodic timer up to date */
	if (timerfd_gettime(fd, &t->left) < 0) {
		snprintf(err, errlen, "timerfd_gettime of fd %d: %s", fd, strerrordesc_np(errno));
		return -errno;
	}
	if (crest_fdinfo_read(fd, info, sizeof(info)) < 0)
		info[0] = 0;
	if (!field(info, "clockid:", 10, &v)) {
		snprintf(err, errlen, "fd %d is a timerfd but its fdinfo has no clockid", fd);
		return -ENOTSUP;
	}
	t->clockid = (int32_t)v;
	t->ticks = field(info, "ticks:", 10, &v) ? v : 0;
	t->settime_flags = field(info, "settime flags:", 8, &v) ? (uint32_t)v : 0;
	memset(&t->abs, 0, sizeof(t->abs));
	if ((t->settime_flags & TFD_TIMER_ABSTIME) &&
	    (t->clockid == CLOCK_REALTIME || t->clockid == CLOCK_REALTIME_ALARM) &&
	    (t->left.it_value.tv_sec || t->left.it_value.tv_nsec)) {
		clock_gettime(CLOCK_REALTIME, &t->abs);
		t->abs.tv_sec += t->left.it_value.tv_sec;
		t->abs.tv_nsec += t->left.it_value.tv_nsec;
		if (t->abs.tv_nsec >= 1000000000L) {
			t->abs.tv_sec++;
			t->abs.tv_nsec -= 1000000000L;
		}
	}
	return 0;
}

static long kcmp_tfd(int fd, int epfd, int tfd, uint32_t toff)
{
	struct kcmp_epoll_slot slot = { .efd = (uint32_t)epfd, .tfd = (uint32_t)tfd, .toff = toff };
	pid_t pid = (pid_t)syscall(SYS_getpid);
	return syscall(SYS_kcmp, pid, pid, KCMP_EPOLL_TFD, fd, &slot);
}

/* Which saved fd is the target (tfd, toff, ino) of epoll fd epfd, or -1. */
static int resolve_target(int epfd, int tfd, uint32_t toff, uint64_t ino)
{
	long k = kcmp_tfd(tfd, epfd, tfd, toff);
	if (k == 0)
		return tfd;
	if (k < 0 && (errno == ENOSYS || errno == EPERM || errno == EACCES)) {
		/* no kcmp: the number, if the inode there is the same */
		for (uint32_t j = 0; j < crest.nfds; j++)
			if (crest.fds[j].img.fd == tfd)
				return crest.fds[j].img.ino == ino ? tfd : -1;
		return -1;
	}
	/* closed or reused since it was added: look for its file elsewhere */
	for (uint32_t j = 0; j < crest.nfds; j++)
		if (crest.fds[j].img.ino == ino && kcmp_tfd(crest.fds[j].img.fd, epfd, tfd, toff) == 0)
			return crest.fds[j].img.fd;
	return -1;
}

static int save_epoll(int fd, const char *info, struct crest_ev_rec *e, char *err, size_t errlen)
{
	e->ep.first = ntargets;
	e->ep.n = 0;
	for (const char *p = strstr(info, "tfd:"); p; p = strstr(p + 4, "tfd:")) {
		if (ntargets >= EPOLL_TARGETS_MAX) {
			snprintf(err, errlen, "more than %d fds watched by epoll", EPOLL_TARGETS_MAX);
			return -E2BIG;
		}
		char *q;
		int tfd = (int)strtol(p + 4, &q, 10);
		const char *ev = strstr(q, "events:"), *data = strstr(q, "data:"), *pos = strstr(q, "pos:"),
			   *ino = strstr(q, "ino:"), *eol = strchr(q, '\n');
		if (!ev || !data || !pos || !ino || (eol && ino > eol)) {
			snprintf(err, errlen, "epoll fd %d: cannot read its targets from /proc/self/fdinfo/%d", fd, fd);
			return -ENOTSUP;
		}
		struct ev_target *t = &targets[ntargets++];
		t->tfd = tfd;
		t->events = (uint32_t)strtoul(ev + 7, NULL, 16);
		t->data = strtoull(data + 5, NULL, 16);
		t->fd = resolve_target(fd, tfd, (uint32_t)strtoul(pos + 4, NULL, 10),
				       strtoull(ino + 4, NULL, 16));
		if (t->fd < 0)
			pr_warn("epoll fd %d watches a file added as fd %d that is none of the program's open fds "
				"now; it will not be watched after a restart", fd, tfd);
		else if (t->fd != tfd)
			pr_info("epoll fd %d: the target added as fd %d is fd %d now", fd, tfd, t->fd);
		e->ep.n++;
	}
	return 0;
}

int crest_fds_event_save(char *err, size_t errlen)
{
	static char info[EPOLL_TARGETS_MAX * 80];	/* an epoll target's line is < 80 bytes */
	ntargets = 0;
	crest_inotify_reset();
	for (uint32_t i = 0; i < crest.nfds; i++) {
		const struct crest_img_fd *r = &crest.fds[i].img;
		struct crest_ev_rec *e = &recs[i];
		uint64_t v;
		int rc = 0;
		if (r->kind < CREST_FD_EVENTFD || r->kind > CREST_FD_INOTIFY)
			continue;
		memset(e, 0, sizeof(*e));
		ssize_t n = crest_fdinfo_read(r->fd, info, sizeof(info));
		if (n < 0) {
			snprintf(err, errlen, "cannot read /proc/self/fdinfo/%d: %s", r->fd, strerrordesc_np(-n));
			return (int)n;
		}
		if ((r->kind == CREST_FD_EPOLL || r->kind == CREST_FD_INOTIFY) && (size_t)n >= sizeof(info) - 1) {
			snprintf(err, errlen, "%s fd %d watches too many files (fdinfo over %zu bytes)",
				 r->kind == CREST_FD_EPOLL ? "epoll" : "inotify", r->fd, sizeof(info));
			return -E2BIG;
		}
		switch (r->kind) {
		case CREST_FD_EVENTFD:
			if (!field(info, "eventfd-count:", 16, &e->efd.count)) {
				snprintf(err, errlen, "fd %d is an eventfd but its fdinfo has no count", r->fd);
				return -ENOTSUP;
			}
			e->efd.semaphore = field(info, "eventfd-semaphore:", 10, &v) && v;
			break;
		case CREST_FD_TIMERFD:
			rc = save_timer(r->fd, &e->tfd, err, errlen);
			break;
		case CREST_FD_SIGNALFD:
			if (!field(info, "sigmask:", 16, &e->sigmask)) {
				snprintf(err, errlen, "fd %d is a signalfd but its fdinfo has no sigmask", r->fd);
				return -ENOTSUP;
			}
			break;
		case CREST_FD_EPOLL:
			rc = save_epoll(r->fd, info, e, err, errlen);
			break;
		case CREST_FD_INOTIFY:
			rc = crest_inotify_save(r->fd, info, &e->ino.first, &e->ino.n, err, errlen);
			break;
		}
		if (rc)
			return rc;
	}
	return 0;
}

static int restore_timer(int fd, int orig, const struct ev_timer *t)
{
	struct itimerspec its = t->left;
	int flags = 0;
	if (t->abs.tv_sec || t->abs.tv_nsec) {	/* absolute CLOCK_REALTIME: same time */
		its.it_value = t->abs;
		flags = t->settime_flags & (TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET);
	}
	if ((its.it_value.tv_sec || its.it_value.tv_nsec) && timerfd_settime(fd, flags, &its, NULL) < 0)
		return -errno;
	/* after settime, which zeroes the count */
	if (!t->ticks || !ioctl(fd, TFD_IOC_SET_TICKS, &t->ticks))
		return 0;
	/* no way to set the count: expire at once, counted once */
	if (t->ticks > 1)
		pr_warn("restart: timerfd %d: %lu expirations not read at the checkpoint come back as 1 (%s)",
			orig, (unsigned long)t->ticks, strerrordesc_np(errno));
	its = t->left;
	its.it_value.tv_sec = 0;
	its.it_value.tv_nsec = 1;
	return timerfd_settime(fd, 0, &its, NULL) < 0 ? -errno : 0;
}

int crest_fd_event_open(uint32_t index)
{
	const struct crest_img_fd *r = &crest.fds[index].img;
	const struct crest_ev_rec *e = &recs[index];
	int nb = r->flags & O_NONBLOCK, fd = -1, rc;

	switch (r->kind) {
	case CREST_FD_EVENTFD:
		fd = eventfd(0, EFD_CLOEXEC | nb | (e->efd.semaphore ? EFD_SEMAPHORE : 0));
		/* the counter may exceed eventfd's unsigned int initval */
		if (fd >= 0 && e->efd.count && write(fd, &e->efd.count, sizeof(e->efd.count)) != 8) {
			pr_perror("restart: eventfd %d: cannot set its counter to %lu", r->fd,
				  (unsigned long)e->efd.count);
		}
		break;
	case CREST_FD_TIMERFD:
		fd = timerfd_create(e->tfd.clockid, TFD_CLOEXEC | nb);
		if (fd >= 0 && (rc = restore_timer(fd, r->fd, &e->tfd)) < 0) {
			close(fd);
			errno = -rc;
			return -1;
		}
		break;
	case CREST_FD_SIGNALFD:
		fd = (int)syscall(SYS_signalfd4, -1, &e->sigmask, sizeof(e->sigmask), SFD_CLOEXEC | nb);
		break;
	case CREST_FD_EPOLL:
		fd = epoll_create1(EPOLL_CLOEXEC);	/* targets: crest_fds_event_restore_epoll */
		break;
	case CREST_FD_INOTIFY:
		fd = crest_inotify_open(nb, e->ino.first, e->ino.n, r->fd);
		break;
	default:
		errno = EINVAL;
	}
	return fd;
}

/* Once every other fd is back: what each epoll fd watched. */
void crest_fds_event_restore_epoll(void)
{
	for (uint32_t i = 0; i < crest.nfds; i++) {
		const struct crest_img_fd *r = &crest.fds[i].img;
		if (r->kind != CREST_FD_EPOLL)
			continue;
		for (uint32_t k = 0; k < recs[i].ep.n; k++) {
			const struct ev_target *t = &targets[recs[i].ep.first + k];
			if (t->fd < 0) {
				pr_warn("restart: epoll fd %d: the file added as fd %d was not saved; not watched",
					r->fd, t->tfd);
				continue;
			}
			struct epoll_event ev = { .events = t->events, .data.u64 = t->data };
			if (epoll_ctl(r->fd, EPOLL_CTL_ADD, t->fd, &ev) < 0)
				pr_warn("restart: epoll fd %d: cannot watch fd %d again (events 0x%x): %s; "
					"not watched", r->fd, t->fd, t->events, strerrordesc_np(errno));
		}
	}
}
