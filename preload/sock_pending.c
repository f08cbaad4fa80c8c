/* SPDX-License-Identifier: MIT */
/*
 * Connections waiting in a listener's queue at a checkpoint: made by a
 * client (connect() returned) but not yet accepted by the program.
 *
 * What a client sent on such a connection waits in the kernel, in a socket
 * only accept() can reach.  So the checkpoint accepts them itself (every
 * thread of the computation is stopped), and the image records each as a
 * CREST_SOCK_PENDING socket of the listener, with its waiting data
 * (fds_socket.c).  At a restart `crest restart` connects the client's new
 * socket to the new listener and sends that data again: the connection
 * waits in the new listener's queue, not yet accepted, as it did
 * (sched/cli_tree_sockets.c).
 *
 * When the computation goes on after the checkpoint, the program must
 * still find those connections in its listener, and poll/select/epoll must
 * still say it is readable.  The accepted sockets are held here, at crest's
 * own fds, and for each one a "stand-in" connection from crest to the
 * listener takes its place in the kernel's queue.  accept()/accept4() of
 * that listener, when the kernel hands it a stand-in, closes the stand-in
 * and gives the held socket instead, at the same fd number: the program
 * sees the connection it would have seen, with what its client sent.  A
 * listener with nothing held costs accept() one load and a branch.
 *
 * Entries are matched by the listener's inode, not its fd number (a
 * listener dup()ed to several fds, or moved).  A thread blocked in accept()
 * across the checkpoint is covered: what the kernel returns is checked
 * whenever something is held when accept returns.
 *
 * Left as it was (docs/unsupported.md): a listener open in another process
 * too (a pre-forked server, or one shared with a process outside the
 * computation), or with SO_REUSEPORT, is not touched, since another
 * process or socket could get the stand-in.  A child forked before the
 * program accepted what is held here closes its copies: if it accepts a
 * stand-in, it gets a connection that sends nothing and its parent never
 * gets the one held.  exec closes what is held (a program exec'ed reads
 * end of stream on the stand-ins, and the clients see theirs closed).  A
 * raw accept system call (Go, io_uring) gets the stand-in itself.
 */
#define LOG_MODULE "sockets"
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "created_record.h"
#include "crest.h"
#include "log.h"

#define EXPORT __attribute__((visibility("default")))
#define HELD_MAX	CREST_PENDING_MAX	/* connections held, all listeners together */

struct held {
	int lfd;			/* an fd of the program's listener, at the last checkpoint */
	uint64_t lino;			/* the listener's inode: what entries are matched by */
	int fd;				/* the accepted connection, a crest fd */
	int standin;			/* crest's end of the stand-in connection, or -1 */
	struct sockaddr_storage name;	/* the stand-in's address, as the listener's side sees its peer */
	socklen_t namelen;
};

static struct held held[HELD_MAX];
static uint32_t nheld;
static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;

static __typeof__(accept) *real_accept;
static __typeof__(accept4) *real_accept4;
static __typeof__(connect) *real_connect;	/* not libcrest's: no name service lookup */

static void resolve(void)
{
	if (__builtin_expect(!real_accept4, 0)) {
		real_accept = (__typeof__(accept) *)dlsym(RTLD_NEXT, "accept");
		real_connect = (__typeof__(connect) *)dlsym(RTLD_NEXT, "connect");
		real_accept4 = (__typeof__(accept4) *)dlsym(RTLD_NEXT, "accept4");
	}
}

static void close_own(int fd)
{
	if (fd < 0)
		return;
	crest_fd_unprotect(fd);
	close(fd);
}

static void drop(uint32_t i)
{
	close_own(held[i].fd);
	close_own(held[i].standin);
	memmove(&held[i], &held[i + 1], (nheld - i - 1) * sizeof(held[0]));
	nheld--;
}


/* Is the socket inode open in another process (one we may read)?  Only
 * asked when a listener has connections waiting: a few readlinks per
 * process of the user on the node. */
static bool open_elsewhere(uint64_t ino)
{
	char want[48], link[48], path[300], buf[4096];
	snprintf(want, sizeof(want), "socket:[%lu]", (unsigned long)ino);
	pid_t self = (pid_t)syscall(SYS_getpid);
	int proc = (int)syscall(SYS_openat, AT_FDCWD, "/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool found = false;
	if (proc < 0)
		return true;	/* cannot tell: leave it alone */
	for (;;) {
		long n = syscall(SYS_getdents64, proc, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (long off = 0; off < n && !found;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			off += d->d_reclen;
			if (d->d_name[0] < '1' || d->d_name[0] > '9' || atoi(d->d_name) == self)
				continue;
			snprintf(path, sizeof(path), "%s/fd", d->d_name);
			int dfd = (int)syscall(SYS_openat, proc, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (dfd < 0)
				continue;	/* gone, or another user's */
			char fbuf[4096];
			long m;
			while (!found && (m = syscall(SYS_getdents64, dfd, fbuf, sizeof(fbuf))) > 0)
				for (long o = 0; o < m && !found;) {
					struct dirent64 *f = (struct dirent64 *)(fbuf + o);
					o += f->d_reclen;
					long l = syscall(SYS_readlinkat, dfd, f->d_name, link, sizeof(link) - 1);
					found = l == (long)strlen(want) && !memcmp(link, want, (size_t)l);
				}
			close(dfd);
		}
		if (found)
			break;
	}
	close(proc);
	return found;
}

/* where a stand-in connects: the listener's address, loopback for "any" */
static socklen_t listener_target(int lfd, struct sockaddr_storage *to)
{
	socklen_t len = sizeof(*to);
	if (getsockname(lfd, (struct sockaddr *)to, &len) < 0)
		return 0;
	if (to->ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)to;
		if (a->sin_addr.s_addr == htonl(INADDR_ANY))
			a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else if (to->ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)to;
		if (IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr))
			a->sin6_addr = in6addr_loopback;
	}
	return len;
}

/* a connection from crest to the listener, waiting in its queue */
static void make_standin(struct held *h, int type)
{
	struct sockaddr_storage to;
	socklen_t tolen = listener_target(h->lfd, &to);
	h->standin = -1;
	if (!tolen)
		return;
	int s = socket(to.ss_family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return;
	if (to.ss_family == AF_UNIX) {	/* a name of its own (autobind), so the listener's side can tell it */
		struct sockaddr_un self = { .sun_family = AF_UNIX };
		if (bind(s, (struct sockaddr *)&self, sizeof(sa_family_t)) < 0)
			goto fail;
	}
	if (real_connect(s, (struct sockaddr *)&to, tolen) < 0 && errno != EINPROGRESS)
		goto fail;
	h->namelen = sizeof(h->name);
	if (getsockname(s, (struct sockaddr *)&h->name, &h->namelen) < 0)
		goto fail;
	h->standin = crest_fd_protect(s);
	return;
fail:
	pr_debug("no stand-in for a connection held for fd %d: %s", h->lfd, strerrordesc_np(errno));
	close(s);
}

static int standin_of(uint64_t lino, const struct sockaddr_storage *peer, socklen_t len)
{
	for (uint32_t i = 0; i < nheld; i++)
		if (held[i].lino == lino && held[i].standin >= 0 && held[i].namelen == len &&
		    !memcmp(&held[i].name, peer, len))
			return (int)i;
	return -1;
}

/* Every thread of the computation is stopped: what is held for a listener
 * that is no longer open (inos: the listeners this scan found) is closed. */
void crest_pending_keep(const uint64_t *inos, uint32_t n)
{
	for (uint32_t i = 0; i < nheld;) {
		bool open = false;
		for (uint32_t k = 0; k < n && !open; k++)
			open = inos[k] == held[i].lino;
		if (open)
			i++;
		else
			drop(i);
	}
}

/* Every thread of the computation is stopped.  Takes what waits in the
 * listener's queue (lfd, one of its fds; once per listener), stand-ins of
 * an earlier checkpoint dropped, and gives a stand-in to each connection
 * held for it that has none.  *out: the held connections, in the order the
 * program will get them. */
uint32_t crest_pending_collect(int lfd, uint64_t lino, int type, int *out, uint32_t max)
{
	uint32_t n = 0;
	bool asked = false;
	resolve();
	int fl = fcntl(lfd, F_GETFL);	/* an acceptor we cannot see must not block us */
	if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(lfd, F_SETFL, fl | O_NONBLOCK) < 0))
		return 0;
	for (;;) {
		struct pollfd p = { lfd, POLLIN, 0 };
		if (poll(&p, 1, 0) != 1 || !(p.revents & POLLIN))
			break;
		if (nheld >= HELD_MAX) {
			pr_warn("more than %d connections wait to be accepted; those after are lost at a restart",
				HELD_MAX);
			break;
		}
		if (!asked && (asked = true) && open_elsewhere(lino)) {
			pr_info("listener fd %d is open in another process too: the connections waiting in it are "
				"lost at a restart (docs/unsupported.md)", lfd);
			break;
		}
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int c = real_accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
		if (c < 0)
			break;
		int k = standin_of(lino, &peer, plen);
		if (k >= 0) {	/* ours: its connection gets a new one below */
			close(c);
			close_own(held[k].standin);
			held[k].standin = -1;
			continue;
		}
		held[nheld++] = (struct held){ .lfd = lfd, .lino = lino, .fd = crest_fd_protect(c), .standin = -1 };
	}
	if (!(fl & O_NONBLOCK))
		fcntl(lfd, F_SETFL, fl);
	for (uint32_t i = 0; i < nheld; i++) {
		if (held[i].lino != lino)
			continue;
		held[i].lfd = lfd;
		if (held[i].standin < 0)	/* one still queued, or held by a thread in accept(), stays */
			make_standin(&held[i], type);
		if (n < max)
			out[n++] = held[i].fd;
	}
	return n;
}

/* After a restart: what was held is not (the restored memory says it is;
 * `crest restart` put those connections back in the listeners' queues). */
void crest_pending_forget(void)
{
	for (uint32_t i = 0; i < nheld; i++) {
		crest_fd_unprotect(held[i].fd);
		crest_fd_unprotect(held[i].standin);
	}
	nheld = 0;
}

static void atfork_prepare(void)
{
	pthread_mutex_lock(&held_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&held_lock);
}

static void atfork_child(void)
{
	pthread_mutex_init(&held_lock, NULL);
	while (nheld)
		drop(nheld - 1);
}

/* resolved when libcrest is loaded: crest_pending_collect runs while the
 * other threads are stopped, one of them maybe inside the dynamic loader,
 * whose lock dlsym takes (an Open MPI rank's checkpoint hung there) */
__attribute__((constructor)) static void pending_init(void)
{
	resolve();
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* the held connection at fd `at` (or the lowest free fd when at < 0), as
 * accept4() would give it */
static int hand_out(uint32_t i, int at, struct sockaddr *addr, socklen_t *alen, socklen_t cap, int flags)
{
	int fd = held[i].fd;
	int r = at >= 0 ? dup3(fd, at, flags & SOCK_CLOEXEC ? O_CLOEXEC : 0)
			: fcntl(fd, flags & SOCK_CLOEXEC ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
	if (r < 0)
		return -1;
	int fl = fcntl(r, F_GETFL);
	if (fl >= 0)
		fcntl(r, F_SETFL, (flags & SOCK_NONBLOCK) ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
	if (addr && alen) {
		*alen = cap;
		crest_getpeername_real(r, addr, alen);	/* accept4 says it as the program knows it */
	}
	drop(i);
	return r;
}

/* Before the kernel is asked: a connection held for this listener without
 * a stand-in (none could be made) is given at once. */
static int held_first(int lfd, struct sockaddr *addr, socklen_t *alen, int flags)
{
	socklen_t cap = alen ? *alen : 0;
	struct stat st;
	int r = -2;
	if (fstat(lfd, &st))
		return r;
	int hold = crest_ckpt_hold();
	pthread_mutex_lock(&held_lock);
	for (uint32_t i = 0; i < nheld; i++)
		if (held[i].lino == st.st_ino && held[i].standin < 0) {
			r = hand_out(i, -1, addr, alen, cap, flags);
			break;
		}
	pthread_mutex_unlock(&held_lock);
	crest_ckpt_release(hold);
	return r;
}

/* After it: the kernel gave r; a stand-in is replaced by what it stood for.
 * Asked whenever something is held when accept returns, also if nothing
 * was when it was called (a thread blocked in accept() across a checkpoint). */
static int swap_standin(int lfd, int r, struct sockaddr *addr, socklen_t *alen, socklen_t cap, int flags)
{
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	struct stat st;
	int saved = errno;
	if (crest_getpeername_real(r, (struct sockaddr *)&peer, &plen) < 0 || fstat(lfd, &st)) {
		errno = saved;
		return r;	/* a connection already reset: not a stand-in */
	}
	int hold = crest_ckpt_hold();
	pthread_mutex_lock(&held_lock);
	int k = standin_of(st.st_ino, &peer, plen);
	if (k >= 0) {
		int fd = r;
		r = hand_out((uint32_t)k, fd, addr, alen, cap, flags);
		if (r < 0) {
			saved = errno;
			close(fd);	/* the stand-in: its connection stays held, without one */
			close_own(held[k].standin);
			held[k].standin = -1;
		}
	}
	pthread_mutex_unlock(&held_lock);
	crest_ckpt_release(hold);
	errno = saved;
	return r;
}

EXPORT int accept4(int lfd, struct sockaddr *addr, socklen_t *alen, int flags)
{
	resolve();
	socklen_t cap = alen ? *alen : 0;
	int r = -2;
	if (__builtin_expect(__atomic_load_n(&nheld, __ATOMIC_RELAXED) != 0, 0))
		r = held_first(lfd, addr, alen, flags);
	if (r == -2) {
		r = real_accept4(lfd, addr, alen, flags);
		if (__builtin_expect(r >= 0 && __atomic_load_n(&nheld, __ATOMIC_RELAXED) != 0, 0))
			r = swap_standin(lfd, r, addr, alen, cap, flags);
	}
	if (r >= 0 && alen)
		crest_peer_as_before(addr, cap, *alen);
	return r;
}

EXPORT int accept(int lfd, struct sockaddr *addr, socklen_t *alen)
{
	resolve();
	socklen_t cap = alen ? *alen : 0;
	int r = -2;
	if (__builtin_expect(__atomic_load_n(&nheld, __ATOMIC_RELAXED) != 0, 0))
		r = held_first(lfd, addr, alen, 0);
	if (r == -2) {
		r = real_accept(lfd, addr, alen);
		if (__builtin_expect(r >= 0 && __atomic_load_n(&nheld, __ATOMIC_RELAXED) != 0, 0))
			r = swap_standin(lfd, r, addr, alen, cap, 0);
	}
	if (r >= 0 && alen)
		crest_peer_as_before(addr, cap, *alen);
	return r;
}
