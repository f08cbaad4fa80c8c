/* SPDX-License-Identifier: MIT */
/*
 * Sockets: what a checkpoint records about each one, and what the restored
 * process does with the socket `crest restart` handed over in its place.
 *
 * Supported: AF_UNIX (stream, seqpacket, datagram; socketpair, path and
 * abstract names, listening), TCP over AF_INET/AF_INET6 (listening and
 * connected), and UDP (bound, connected; what waits in it is not saved).
 * Recorded: the socket's and (AF_UNIX) its peer's inode, from the kernel's
 * sock_diag, which is how `crest restart` finds the two ends of
 * a connection among the processes; names and addresses; a few options; and
 * the data waiting in the receive queue, read with MSG_PEEK (stepping with
 * SO_PEEK_OFF), so nothing is consumed and nothing has to be put back when
 * the application goes on.  Every process of the computation is stopped at
 * that point, so the queues are stable.
 *
 * TCP data still in the sender's queue (not yet in the receiver's) cannot be
 * read without privileges (TCP_REPAIR): the checkpoint fails, naming the
 * connection, when a connected TCP socket still has unsent data after a
 * short wait.  On loopback this only happens when the receiver's buffer is
 * full.
 */
#define LOG_MODULE "sockets"
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "crest.h"
#include "log.h"

#define SOCK_DATA_MAX	(4u << 20)	/* bytes in flight saved, all sockets together */

static struct crest_img_socket socks[CREST_MAX_FDS];
static uint32_t nsocks;
static unsigned char sock_data[SOCK_DATA_MAX];
static uint32_t data_off[CREST_MAX_FDS];	/* per socket record */
static uint32_t data_used;

/* ---- AF_UNIX peers, from sock_diag ----------------------------------- */

static struct { uint32_t ino, peer; } upeers[4096];
static uint32_t nupeers;
static bool upeers_loaded;	/* this scan: dumped at the first AF_UNIX socket */

static void unix_peers_load(void)
{
	static unsigned char buf[32768];
	nupeers = 0;
	int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return;
	struct {
		struct nlmsghdr nh;
		struct unix_diag_req req;
	} q;
	memset(&q, 0, sizeof(q));
	q.nh.nlmsg_len = sizeof(q);
	q.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	q.req.sdiag_family = AF_UNIX;
	q.req.udiag_states = ~0u;
	q.req.udiag_show = UDIAG_SHOW_PEER;
	if (send(nl, &q, sizeof(q), 0) != sizeof(q))
		goto out;
	for (;;) {
		ssize_t n = recv(nl, buf, sizeof(buf), 0);
		if (n <= 0)
			goto out;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR)
				goto out;
			struct unix_diag_msg *m = NLMSG_DATA(h);
			struct rtattr *a = (struct rtattr *)(m + 1);
			int alen = h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
			for (; RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
				if (a->rta_type != UNIX_DIAG_PEER || nupeers >= sizeof(upeers) / sizeof(upeers[0]))
					continue;
				upeers[nupeers].ino = m->udiag_ino;
				upeers[nupeers].peer = *(uint32_t *)RTA_DATA(a);
				nupeers++;
			}
		}
	}
out:
	close(nl);
}

static uint32_t unix_peer_of(uint32_t ino)
{
	for (uint32_t i = 0; i < nupeers; i++)
		if (upeers[i].ino == ino)
			return upeers[i].peer;
	return 0;
}

/* ---- classification (PREPARE and WRITE) ------------------------------- */

static int sockopt_int(int fd, int level, int name)
{
	int v = 0;
	socklen_t l = sizeof(v);
	return getsockopt(fd, level, name, &v, &l) < 0 ? -1 : v;
}

/* SO_RCVTIMEO / SO_SNDTIMEO in ms, rounded up; 0: none */
static uint32_t sockopt_ms(int fd, int name)
{
	struct timeval tv = { 0, 0 };
	socklen_t l = sizeof(tv);
	if (getsockopt(fd, SOL_SOCKET, name, &tv, &l) < 0 || tv.tv_sec < 0)
		return 0;
	uint64_t ms = (uint64_t)tv.tv_sec * 1000 + ((uint64_t)tv.tv_usec + 999) / 1000;
	return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

static void set_timeout(int fd, int name, uint32_t ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	if (ms)
		setsockopt(fd, SOL_SOCKET, name, &tv, sizeof(tv));
}

void crest_sock_reset(void)
{
	nsocks = 0;
	data_used = 0;
	upeers_loaded = false;	/* a process without AF_UNIX sockets never asks */
}

/* what the image says of a socket of a kind crest_sock_scan accepts */
static int describe(int fd, uint32_t index, struct crest_img_socket *s)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	int domain = sockopt_int(fd, SOL_SOCKET, SO_DOMAIN);
	int type = sockopt_int(fd, SOL_SOCKET, SO_TYPE);
	int proto = sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL);
	bool inet = domain == AF_INET || domain == AF_INET6;
	memset(s, 0, sizeof(*s));
	s->fd_index = index;
	s->domain = domain;
	s->type = type;
	s->protocol = proto;
	s->ino = st.st_ino;
	socklen_t l = sizeof(s->local);
	if (getsockname(fd, (struct sockaddr *)s->local, &l) == 0)
		s->local_len = l < sizeof(s->local) ? l : sizeof(s->local);
	l = sizeof(s->peer);
	if (crest_getpeername_real(fd, (struct sockaddr *)s->peer, &l) == 0) {	/* not as the program sees it */
		s->peer_len = l < sizeof(s->peer) ? l : sizeof(s->peer);
		s->state = CREST_SOCK_CONNECTED;
	}
	if (sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN) == 1) {
		s->state = CREST_SOCK_LISTENING;
		s->backlog = 128;
	}
	if (domain == AF_UNIX) {
		if (!upeers_loaded) {
			unix_peers_load();
			upeers_loaded = true;
		}
		s->peer_ino = unix_peer_of((uint32_t)st.st_ino);
		if (s->peer_ino && s->state == CREST_SOCK_UNCONNECTED)
			s->state = CREST_SOCK_CONNECTED;
	}
	s->opt_reuseaddr = sockopt_int(fd, SOL_SOCKET, SO_REUSEADDR);
	s->opt_keepalive = sockopt_int(fd, SOL_SOCKET, SO_KEEPALIVE);
	s->opt_peek_off = sockopt_int(fd, SOL_SOCKET, SO_PEEK_OFF);
	s->opt_nodelay = crest_sock_is_tcp(s) ? sockopt_int(fd, IPPROTO_TCP, TCP_NODELAY) : -1;
	s->opt_broadcast = crest_sock_is_udp(s) ? sockopt_int(fd, SOL_SOCKET, SO_BROADCAST) : 0;
	s->opt_reuseport = inet ? sockopt_int(fd, SOL_SOCKET, SO_REUSEPORT) : 0;
	s->opt_v6only = domain == AF_INET6 ? sockopt_int(fd, IPPROTO_IPV6, IPV6_V6ONLY) : 0;
	s->rcvtimeo_ms = sockopt_ms(fd, SO_RCVTIMEO);
	s->sndtimeo_ms = sockopt_ms(fd, SO_SNDTIMEO);
	return 0;
}

int crest_sock_scan(int fd, uint32_t index, char *err, size_t errlen)
{
	int domain = sockopt_int(fd, SOL_SOCKET, SO_DOMAIN);
	int type = sockopt_int(fd, SOL_SOCKET, SO_TYPE);
	int proto = sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL);

	bool inet = domain == AF_INET || domain == AF_INET6;
	if (!(domain == AF_UNIX && (type == SOCK_STREAM || type == SOCK_DGRAM || type == SOCK_SEQPACKET)) &&
	    !(inet && type == SOCK_STREAM && proto == IPPROTO_TCP) && !(inet && type == SOCK_DGRAM && proto == IPPROTO_UDP)) {
		snprintf(err, errlen,
			 "fd %d is a socket of family %d, type %d, which crest cannot checkpoint yet (AF_UNIX, TCP and "
			 "UDP are supported; netlink, raw and packet sockets are not, see docs/unsupported.md)",
			 fd, domain, type);
		return -ENOTSUP;
	}
	if (nsocks >= CREST_MAX_FDS || describe(fd, index, &socks[nsocks])) {
		snprintf(err, errlen, "fd %d: cannot describe the socket", fd);
		return -EMFILE;
	}
	nsocks++;
	return 0;
}


/* ---- the receive queue ------------------------------------------------- */

/* Datagrams are stepped through with SO_PEEK_OFF, which belongs to the
 * socket, not to the process: two processes sharing a socket (inherited
 * through fork) must not step through it at the same time.  A lock file of
 * the computation serializes them (a flock on the socket itself would not:
 * both hold the same open file description). */
static int peek_lock(void)
{
	char path[sizeof(crest.dir) + 16];
	snprintf(path, sizeof(path), "%s/.peek.lock", crest.dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		flock(fd, LOCK_EX);
	return fd;
}

static int peek_queue(int fd, struct crest_img_socket *s, char *err, size_t errlen)
{
	bool msgs = s->type != SOCK_STREAM;
	int zero = 0;
	/* a stream is read in one peek; messages one by one */
	bool stepping = msgs && setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)) == 0;
	data_off[s - socks] = data_used;
	for (;;) {
		uint32_t room = SOCK_DATA_MAX - data_used - (msgs ? 4 : 0);
		if (!msgs) {	/* everything waiting, at once */
			int avail = 0;
			if (ioctl(fd, FIONREAD, &avail) < 0 || avail <= 0)
				break;
			if ((uint32_t)avail < room)
				room = (uint32_t)avail;
		}
		if (data_used + (msgs ? 4 : 0) >= SOCK_DATA_MAX) {
			snprintf(err, errlen, "more than %u MiB waiting in sockets", SOCK_DATA_MAX >> 20);
			return -ENOBUFS;
		}
		unsigned char *dst = sock_data + data_used + (msgs ? 4 : 0);
		ssize_t n = recv(fd, dst, room, MSG_PEEK | MSG_DONTWAIT | (msgs ? MSG_TRUNC : 0));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (n == 0 && !msgs))
			break;	/* EAGAIN: nothing (more) waiting; 0: end of stream */
		if ((size_t)n > room) {
			snprintf(err, errlen, "a %zd-byte message waits in socket fd %d: too large to save", n,
				 crest.fds[s->fd_index].img.fd);
			return -ENOBUFS;
		}
		if (msgs) {
			uint32_t len = (uint32_t)n;
			memcpy(sock_data + data_used, &len, 4);
			data_used += 4;
			s->nmsgs++;
		}
		data_used += (uint32_t)n;
		s->queued += (uint32_t)n + (msgs ? 4 : 0);
		if (!stepping)
			break;	/* a stream: one peek; messages without SO_PEEK_OFF: the first only */
		if (msgs && n == 0) {	/* an empty datagram: SO_PEEK_OFF does not move */
			snprintf(err, errlen, "an empty datagram waits in socket fd %d: cannot be saved",
				 crest.fds[s->fd_index].img.fd);
			return -ENOTSUP;
		}
	}
	if (stepping) {
		int off = s->opt_peek_off;	/* the application's own setting (-1: none) */
		setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off));
	}
	if (s->type == SOCK_STREAM) {
		int avail = 0;
		if (!ioctl(fd, FIONREAD, &avail) && (uint32_t)avail > s->queued) {
			snprintf(err, errlen, "socket fd %d: cannot read all %d bytes waiting in it", 
				 crest.fds[s->fd_index].img.fd, avail);
			return -EIO;
		}
	}
	return 0;
}

/* what waits in one socket, for its record */
static int save_queue(int fd, struct crest_img_socket *s, char *err, size_t errlen)
{
	if (crest_sock_is_tcp(s) && s->state == CREST_SOCK_CONNECTED) {
		int unsent = 0;
		for (int tries = 0; tries < 20; tries++) {
			if (ioctl(fd, SIOCOUTQ, &unsent) < 0 || unsent == 0)
				break;
			struct timespec ts = { 0, 10000000 };
			nanosleep(&ts, NULL);
		}
		if (unsent > 0) {
			snprintf(err, errlen,
				 "TCP socket fd %d still has %d bytes its peer has not received (its receive buffer "
				 "is full); crest cannot save them without privileges, try again later",
				 fd, unsent);
			return -EAGAIN;
		}
	}
	int lock = s->type != SOCK_STREAM ? peek_lock() : -1;
	int rc = peek_queue(fd, s, err, errlen);
	if (lock >= 0)
		close(lock);
	return rc;
}

/* The connections waiting in listener s to be accepted (sock_pending.c):
 * a CREST_SOCK_PENDING record each, after every record of an fd. */
static int save_pending(const struct crest_img_socket *l, char *err, size_t errlen)
{
	int fds[CREST_PENDING_MAX];
	struct crest_fd *lf = &crest.fds[l->fd_index];
	uint32_t n = crest_pending_collect(lf->img.fd, l->ino, l->type, fds, CREST_PENDING_MAX);
	if (n && l->domain == AF_UNIX)
		unix_peers_load();	/* the accepted ends' peers */
	for (uint32_t k = 0; k < n; k++) {
		if (nsocks >= CREST_MAX_FDS) {
			snprintf(err, errlen, "more than %d sockets", CREST_MAX_FDS);
			return -EMFILE;
		}
		struct crest_img_socket *s = &socks[nsocks];
		if (describe(fds[k], l->fd_index, s))
			continue;	/* reset meanwhile: it stays with the program, as a reset connection */
		nsocks++;
		s->state = CREST_SOCK_PENDING;
		int rc = save_queue(fds[k], s, err, errlen);
		if (rc)
			return rc;
		if (s->queued) {
			lf->img.content_saved = 1;
			lf->img.size += s->queued;
		}
	}
	return 0;
}

/* Threads of every process are stopped: copy what waits in each socket. */
int crest_sock_save(char *err, size_t errlen)
{
	uint32_t scanned = nsocks, nlisten = 0;
	static uint64_t listeners[CREST_MAX_FDS];
	for (uint32_t i = 0; i < scanned; i++)
		if (socks[i].state == CREST_SOCK_LISTENING && socks[i].type != SOCK_DGRAM)
			listeners[nlisten++] = socks[i].ino;
	crest_pending_keep(listeners, nlisten);
	for (uint32_t i = 0; i < scanned; i++) {
		struct crest_img_socket *s = &socks[i];
		int fd = crest.fds[s->fd_index].img.fd;
		int rc;
		if (s->state == CREST_SOCK_LISTENING && s->type != SOCK_DGRAM) {
			bool first = true;	/* a listener at several fds: its first */
			for (uint32_t k = 0; k < i && first; k++)
				first = socks[k].ino != s->ino;
			/* SO_REUSEPORT: the kernel may queue a stand-in in another
			 * socket of the group: left as it is (docs/unsupported.md) */
			if (first && s->opt_reuseport <= 0 && (rc = save_pending(s, err, errlen)))
				return rc;
			continue;
		}
		if (s->state == CREST_SOCK_LISTENING || crest_sock_is_udp(s))
			continue;	/* UDP: what waits is dropped, as a network may (docs/unsupported.md) */
		rc = save_queue(fd, s, err, errlen);
		if (rc)
			return rc;
		crest.fds[s->fd_index].img.content_saved = s->queued > 0;
		crest.fds[s->fd_index].img.size = s->queued;
	}
	return 0;
}

const struct crest_img_socket *crest_sock_records(uint32_t *n)
{
	*n = nsocks;
	return socks;
}

const unsigned char *crest_sock_data(uint32_t fd_index, uint32_t nth, uint32_t *len)
{
	for (uint32_t i = 0; i < nsocks; i++)
		if (socks[i].fd_index == fd_index && socks[i].queued && !nth--) {
			*len = socks[i].queued;
			return sock_data + data_off[i];
		}
	return NULL;
}

/* ---- after a restart ---------------------------------------------------- */

static void setopt(int fd, int level, int name, int v)
{
	if (v >= 0)
		setsockopt(fd, level, name, &v, sizeof(v));
}

/* The socket crest restart put at the record's fd: the options back. */
void crest_sock_restore(uint32_t fd_index)
{
	for (uint32_t i = 0; i < nsocks; i++) {
		struct crest_img_socket *s = &socks[i];
		if (s->fd_index != fd_index)
			continue;
		int fd = crest.fds[fd_index].img.fd;
		setopt(fd, SOL_SOCKET, SO_KEEPALIVE, s->opt_keepalive);
		if (s->opt_peek_off >= 0)
			setopt(fd, SOL_SOCKET, SO_PEEK_OFF, s->opt_peek_off);
		if (crest_sock_is_tcp(s))
			setopt(fd, IPPROTO_TCP, TCP_NODELAY, s->opt_nodelay);
		set_timeout(fd, SO_RCVTIMEO, s->rcvtimeo_ms);
		set_timeout(fd, SO_SNDTIMEO, s->sndtimeo_ms);
		return;
	}
}
