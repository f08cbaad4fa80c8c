/* SPDX-License-Identifier: MIT */
/*
 * The program cannot close crest's own descriptors (docs/architecture.md,
 * "crest's own descriptors").
 *
 * Programs close every descriptor they do not know: daemons, a forked
 * child before it execs (Python's close_fds and os.closerange, Open MPI's
 * daemons, OpenSSH's closefrom).  Among them are crest's, kept at 900 and
 * up: the link to the coordinator and the checkpoint thread's eventfd.
 * Without them the process cannot answer a checkpoint, and the whole
 * computation's checkpoint fails for as long as it runs so.
 *
 * close() of one of crest's descriptors fails with EBADF (it is not one of
 * the program's), and close_range() and closefrom() close every other
 * descriptor of the range.  A read of the bitmap and a branch: these run
 * in vfork children and signal handlers as libc's do.
 *
 * Not covered: the close_range, close or dup2 system calls made without
 * libc (Go, raw syscall()), dup2()/dup3() onto one of crest's numbers.
 * libcrest notices a descriptor of its own that was closed and makes it
 * again (coord_link.c, trigger.c); a checkpoint that comes meanwhile may
 * wait for that process until the coordinator's timeout.
 */
#define LOG_MODULE "fds"
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <sched.h>
#include <unistd.h>

#include "crest.h"
#include "dirents.h"
#include "rawsys.h"

#define EXPORT __attribute__((visibility("default")))
#define NR_close_range	436
#define NR_unshare	272

static __typeof__(close) *real_close;

__attribute__((constructor)) static void fd_wrappers_init(void)
{
	real_close = (__typeof__(close) *)dlsym(RTLD_NEXT, "close");
}

/* one of crest's, moved up where the program's are not (one that stayed
 * below, RLIMIT_NOFILE <= 900, shares the program's numbers: not kept) */
static bool kept(int fd)
{
	return fd >= CREST_FD_BASE && crest_fd_is_own(fd);
}

EXPORT int close(int fd)
{
	if (kept(fd)) {
		errno = EBADF;
		return -1;
	}
	if (real_close)
		return real_close(fd);	/* a cancellation point, as libc's */
	return (int)crest_sys_ret(raw_syscall1(NR_close, fd));	/* before the constructor ran */
}

static int close_range_raw(unsigned int first, unsigned int last, int flags)
{
	return (int)crest_sys_ret(raw_syscall3(NR_close_range, first, last, flags));
}

/* the range in pieces, around crest's descriptors */
EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	unsigned int from = first;
	if (first > last || (flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC)))
		return close_range_raw(first, last, flags);	/* EINVAL, as the kernel says */
	for (int own = crest_fd_next_own(first > CREST_FD_BASE ? first : CREST_FD_BASE);
	     own >= 0 && (unsigned int)own <= last; own = crest_fd_next_own((unsigned int)own + 1)) {
		if ((unsigned int)own > from) {
			if (close_range_raw(from, (unsigned int)own - 1, flags) < 0)
				return -1;
			flags &= ~CLOSE_RANGE_UNSHARE;	/* done */
		}
		from = (unsigned int)own + 1;
	}
	if (from <= last)
		return close_range_raw(from, last, flags);
	if (flags & CLOSE_RANGE_UNSHARE)	/* the range was crest's only: the table all the same */
		return (int)crest_sys_ret(raw_syscall1(NR_unshare, CLONE_FILES));
	return 0;
}

/* Without close_range (before Linux 5.9, a seccomp filter): every number
 * /proc/self/fd lists, as libc does; libc aborts the program if it cannot
 * close them all, this leaves the rest open. */
static void close_listed(int lowfd)
{
	for (int pass = 0; pass < 16; pass++) {
		int dfd = (int)raw_syscall4(NR_openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
		if (dfd < 0)
			return;
		struct crest_dirents d = { .fd = dfd };
		int closed = 0;
		for (long fd; (fd = crest_dirents_next(&d)) >= 0;)
			if (fd >= lowfd && fd != dfd && !kept((int)fd) &&
			    raw_syscall1(NR_close, fd) == 0)
				closed++;
		raw_syscall1(NR_close, dfd);
		if (!closed)
			return;	/* a pass that found nothing: done */
	}
}

EXPORT void closefrom(int lowfd)
{
	if (lowfd < 0)
		lowfd = 0;
	if (close_range((unsigned int)lowfd, ~0u, 0) < 0)
		close_listed(lowfd);
}
