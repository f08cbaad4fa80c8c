/* SPDX-License-Identifier: MIT */
/*
 * crest restart: the sockets of the computation, created before the tree
 * is forked and put in place like pipes (cli_tree.c).
 *
 * Policy (docs/architecture.md, "Sockets"):
 *   - both ends of a connection in the computation (AF_UNIX: the peer inode
 *     of one is the other; TCP: one's local address is the other's peer):
 *     a new connected pair (socketpair, or a TCP connection over loopback:
 *     new ports), each end's waiting data sent again from the other end;
 *   - listening: bound again to the same name (a stale AF_UNIX socket file
 *     is removed first) or the same address and port, and listening;
 *   - a connection that waited in a listener's queue, not yet accepted
 *     (CREST_SOCK_PENDING, preload/sock_pending.c): its client's new socket
 *     connects to the new listener and sends what waited in it, so that
 *     it waits there again; a client outside the computation (or on
 *     another node): the same from a socket crest closes, the program
 *     accepts it, reads what waited, then end of stream;
 *   - connected to a process outside the computation: the application reads
 *     what was waiting, then end of stream, as if the peer had closed;
 *   - an AF_UNIX datagram socket bound to a name gets its name back and its
 *     waiting datagrams (their sender addresses are lost);
 *   - UDP: a new socket bound to the same address and port (the port on
 *     every address if the address is not here, another port if it is
 *     taken), connected to the same peer address if it was; datagrams that
 *     waited are lost, as a network may lose them;
 *   - anything else: a new socket of the same kind.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli_tree_int.h"
#include "endpoint.h"

static int find_sock(const struct tree *t, uint64_t ino)
{
	for (size_t i = 0; i < t->nsocks; i++)
		if (t->socks[i].rec->ino == ino)
			return (int)i;
	return -1;
}

static bool tcp_mirror(const struct crest_img_socket *a, const struct crest_img_socket *b)
{
	return a->local_len && a->peer_len && a->local_len == b->peer_len && a->peer_len == b->local_len &&
	       !memcmp(a->local, b->peer, a->local_len) && !memcmp(a->peer, b->local, a->peer_len);
}

int tree_sockets_plan(struct tree *t, char *err, size_t errlen)
{
	for (size_t i = 0; i < t->n; i++) {
		struct tproc *tp = &t->p[i];
		for (size_t k = 0; k < tp->nsocks; k++) {
			const struct crest_img_socket *s = &tp->socks[k];
			if (s->fd_index >= tp->nfds) {
				snprintf(err, errlen, "image %s: socket record %zu names fd record %u of %zu", tp->image,
					 k, s->fd_index, tp->nfds);
				return -EBADMSG;
			}
			if (find_sock(t, s->ino) >= 0)
				continue;	/* shared with a process seen before */
			struct tsock *n = realloc(t->socks, (t->nsocks + 1) * sizeof(*n));
			if (!n)
				return -ENOMEM;
			t->socks = n;
			t->socks[t->nsocks++] = (struct tsock){ s, (int)i, tp->sockdata ? tp->sockdata[k] : NULL, -1, -1 };
		}
	}
	for (size_t i = 0; i < t->nsocks; i++) {
		struct tsock *a = &t->socks[i];
		if (a->peer >= 0 || a->rec->state != CREST_SOCK_CONNECTED)
			continue;
		for (size_t j = 0; j < t->nsocks && a->peer < 0; j++) {
			struct tsock *b = &t->socks[j];
			if (j == i || b->peer >= 0 || b->rec->domain != a->rec->domain ||
			    b->rec->type != a->rec->type || crest_sock_is_udp(a->rec) ||
			    (b->rec->state != CREST_SOCK_CONNECTED && b->rec->state != CREST_SOCK_PENDING))
				continue;	/* UDP has no pairs: each is made alone */
			/* a client's peer not yet accepted had no inode (0) at its
			 * process's scan: the accepted end's peer tells */
			bool pair = a->rec->domain == AF_UNIX
				    ? b->rec->peer_ino == a->rec->ino &&
				      (a->rec->peer_ino == b->rec->ino ||
				       (!a->rec->peer_ino && b->rec->state == CREST_SOCK_PENDING))
				    : tcp_mirror(a->rec, b->rec);
			if (pair) {
				a->peer = (int)j;
				b->peer = (int)i;
			}
		}
	}
	return 0;
}

/* Sends s's saved queue from `from`, so that it waits in s's new socket. */
static int refill(const struct tsock *s, int from, char *err, size_t errlen)
{
	const unsigned char *d = s->data;
	uint32_t left = s->rec->queued;
	while (d && left) {
		uint32_t len = left;
		if (s->rec->type != SOCK_STREAM) {
			memcpy(&len, d, 4);
			d += 4;
			left -= 4;
			if (len > left)
				break;
		}
		ssize_t n = send(from, d, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n != (ssize_t)len) {
			snprintf(err, errlen, "cannot put %u bytes back into a socket: %s", len,
				 n < 0 ? strerror(errno) : "short write");
			return -EIO;
		}
		d += len;
		left -= len;
	}
	return 0;
}

static int high(const struct tree *t, int fd)
{
	if (fd < 0)
		return fd;
	int h = fcntl(fd, F_DUPFD_CLOEXEC, t->fd_base);
	close(fd);
	return h;
}

/* A connected TCP pair over loopback, of the record's family. */
static int tcp_pair(int family, int sv[2])
{
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	}
	int l = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&ss, len) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&ss, &len) < 0)
		goto fail;
	sv[0] = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sv[0] < 0 || connect(sv[0], (struct sockaddr *)&ss, len) < 0)
		goto fail;
	sv[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (sv[1] < 0)
		goto fail;
	close(l);
	return 0;
fail:
	if (l >= 0)
		close(l);
	return -errno;
}

static int make_pair(struct tree *t, struct tsock *a, struct tsock *b, char *err, size_t errlen)
{
	int sv[2];
	int rc = a->rec->domain == AF_UNIX ? (socketpair(AF_UNIX, a->rec->type | SOCK_CLOEXEC, 0, sv) ? -errno : 0)
					   : tcp_pair(a->rec->domain, sv);
	if (rc) {
		snprintf(err, errlen, "cannot create a connected socket pair: %s", strerror(-rc));
		return rc;
	}
	rc = refill(a, sv[1], err, errlen);
	if (!rc && b)
		rc = refill(b, sv[0], err, errlen);
	a->fd = high(t, sv[0]);
	if (b)
		b->fd = high(t, sv[1]);
	else
		close(sv[1]);	/* the peer was outside: end of stream after the data */
	return rc;
}

/* binds an IP socket to the record's address again, with the options
 * that must come before bind: on another node (the address is not here)
 * the same port on every address of this one; a port that is taken:
 * another port (peers that remember it will fail) */
static void bind_inet_again(int fd, const struct crest_img_socket *r, const char *what)
{
	int one = 1;
	if (r->opt_reuseport > 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (r->domain == AF_INET6 && r->opt_v6only >= 0)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &r->opt_v6only, sizeof(r->opt_v6only));
	if (!bind(fd, (const struct sockaddr *)r->local, r->local_len))
		return;
	struct sockaddr_storage any;
	char was[CREST_EP_KEY_MAX] = "?";
	crest_ep_key(r->local, r->local_len, 0, was, sizeof(was));
	memcpy(&any, r->local, r->local_len);
	if (errno == EADDRNOTAVAIL) {
		if (r->domain == AF_INET6)
			((struct sockaddr_in6 *)&any)->sin6_addr = in6addr_any;
		else
			((struct sockaddr_in *)&any)->sin_addr.s_addr = htonl(INADDR_ANY);
		if (!bind(fd, (struct sockaddr *)&any, r->local_len)) {
			fprintf(stderr, "crest: restart: the %s %s is on another node now: it is bound to the same port "
				"of every address here\n", what, was);
			return;
		}
	}
	fprintf(stderr, "crest: restart: the %s %s cannot be bound to its port here (%s): it gets another port\n",
		what, was, strerror(errno));
	((struct sockaddr_in *)&any)->sin_port = 0;	/* sin6_port is at the same place */
	if (bind(fd, (struct sockaddr *)&any, r->local_len))
		fprintf(stderr, "crest: restart: the %s %s cannot be bound at all here (%s): it is left unbound\n",
			what, was, strerror(errno));
}

/* UDP: bound and connected again, empty */
static int make_udp(struct tree *t, struct tsock *s, char *err, size_t errlen)
{
	const struct crest_img_socket *r = s->rec;
	int fd = socket(r->domain, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP), one = 1;
	if (fd < 0) {
		snprintf(err, errlen, "cannot create a UDP socket: %s", strerror(errno));
		return -errno;
	}
	if (r->opt_reuseaddr > 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (r->opt_broadcast > 0)
		setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one));
	const struct sockaddr_in *in = (const struct sockaddr_in *)r->local;	/* the port: same place in _in6 */
	if (r->local_len > sizeof(sa_family_t) && in->sin_port)
		bind_inet_again(fd, r, "UDP socket");
	if (r->state == CREST_SOCK_CONNECTED && r->peer_len &&
	    connect(fd, (const struct sockaddr *)r->peer, r->peer_len) < 0) {
		char peer[CREST_EP_KEY_MAX] = "?";
		crest_ep_key(r->peer, r->peer_len, 0, peer, sizeof(peer));
		fprintf(stderr, "crest: restart: a UDP socket cannot be connected to %s again (%s): it is left "
			"unconnected\n", peer, strerror(errno));
	}
	s->fd = high(t, fd);
	return 0;
}

static int make_listener(struct tree *t, struct tsock *s, char *err, size_t errlen)
{
	const struct crest_img_socket *r = s->rec;
	int fd = socket(r->domain, r->type | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create a socket: %s", strerror(errno));
		return -errno;
	}
	if (r->domain == AF_UNIX) {
		const struct sockaddr_un *un = (const struct sockaddr_un *)r->local;
		struct stat st;
		if (r->local_len > sizeof(sa_family_t) && un->sun_path[0] && !stat(un->sun_path, &st) &&
		    S_ISSOCK(st.st_mode))
			unlink(un->sun_path);	/* left behind by the killed process */
		if (r->local_len > sizeof(sa_family_t) &&
		    bind(fd, (const struct sockaddr *)r->local, r->local_len) < 0) {
			snprintf(err, errlen, "cannot bind a socket to its name again: %s", strerror(errno));
			close(fd);
			return -errno;
		}
	} else {
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (r->local_len > sizeof(sa_family_t))
			bind_inet_again(fd, r, "TCP listener");
	}
	if (r->state == CREST_SOCK_LISTENING && listen(fd, r->backlog ? (int)r->backlog : 128) < 0) {
		snprintf(err, errlen, "cannot listen again: %s", strerror(errno));
		close(fd);
		return -errno;
	}
	if (r->domain == AF_UNIX && r->type == SOCK_DGRAM && s->data && r->queued) {
		int from = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		int rc = from >= 0 && !connect(from, (const struct sockaddr *)r->local, r->local_len)
				 ? refill(s, from, err, errlen) : -errno;
		if (from >= 0)
			close(from);
		if (rc) {
			close(fd);
			return rc;
		}
	}
	s->fd = high(t, fd);
	return 0;
}

/* the listener a pending connection waited in: the LISTENING record of
 * the same fd in the same process (the tree has it under its inode) */
static struct tsock *listener_of(struct tree *t, const struct tsock *p)
{
	const struct tproc *tp = &t->p[p->proc];
	for (size_t k = 0; k < tp->nsocks; k++) {
		const struct crest_img_socket *r = &tp->socks[k];
		if (r->fd_index == p->rec->fd_index && r->state == CREST_SOCK_LISTENING) {
			int i = find_sock(t, r->ino);
			return i >= 0 ? &t->socks[i] : NULL;
		}
	}
	return NULL;
}

/*
 * Pending connection p waits again in its new listener: a new socket
 * connects to it and sends what waited in p.  That socket becomes the
 * client's (a) end, or, with no client here, is closed: the program reads
 * what waited, then end of stream.
 */
static int make_pending(struct tree *t, struct tsock *p, struct tsock *a, char *err, size_t errlen)
{
	struct tsock *l = listener_of(t, p);
	struct sockaddr_storage to;
	socklen_t len = sizeof(to);
	int rc;

	if (!l) {
		snprintf(err, errlen, "image %s: a connection waits in fd record %u, which is no listener",
			 t->p[p->proc].image, p->rec->fd_index);
		return -EBADMSG;
	}
	if (l->fd < 0 && (rc = make_listener(t, l, err, errlen)))
		return rc;
	if (getsockname(l->fd, (struct sockaddr *)&to, &len) < 0) {
		rc = -errno;
		snprintf(err, errlen, "a listener made again has no address: %s", strerror(errno));
		return rc;
	}
	if (to.ss_family == AF_INET && ((struct sockaddr_in *)&to)->sin_addr.s_addr == htonl(INADDR_ANY))
		((struct sockaddr_in *)&to)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (to.ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&to)->sin6_addr))
		((struct sockaddr_in6 *)&to)->sin6_addr = in6addr_loopback;
	int c = socket(to.ss_family, p->rec->type | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&to, len) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot connect to a listener again for a connection that waited in it: %s",
			 strerror(errno));
		if (c >= 0)
			close(c);
		return rc;
	}
	rc = refill(p, c, err, errlen);
	if (a)
		a->fd = high(t, c);
	else
		close(c);
	return rc;
}

unsigned tree_image_node(const char *image)
{
	const char *slash = strrchr(image, '/'), *p = slash;

	while (p && p > image && p[-1] != '/')
		p--;
	return p && *p == 'n' ? (unsigned)strtoul(p + 1, NULL, 10) : 0;
}

/* the generation folder of an image .../gen-N/n<M>/p-....img */
static void gen_dir_of(const char *image, char *buf, size_t size)
{
	snprintf(buf, size, "%s", image);
	for (int k = 0; k < 2; k++) {
		char *slash = strrchr(buf, '/');
		if (slash)
			*slash = 0;
	}
}

/*
 * The TCP sockets whose peer is not restored here but is a process of the
 * computation (its end is in gen-N/ENDPOINTS): on another node, or in
 * another Slurm task.  A generation of an older crest has no ENDPOINTS:
 * every such peer counts as outside.
 */
static int remote_peers(struct tree *t, struct tsock ***out, size_t *nout, char *old_addr, size_t addrlen,
			char *gdir, size_t gdirlen, char *err, size_t errlen)
{
	struct crest_eps eps;
	size_t n = 0;

	*out = NULL;
	*nout = 0;
	old_addr[0] = 0;
	if (!t->n)
		return 0;
	gen_dir_of(t->p[0].image, gdir, gdirlen);
	int rc = crest_eps_read(gdir, &eps, err, errlen);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	const char *a = crest_eps_node_addr(&eps, tree_image_node(t->p[0].image));
	if (a)
		snprintf(old_addr, addrlen, "%s", a);
	struct tsock **v = calloc(t->nsocks ? t->nsocks : 1, sizeof(*v));
	if (!v) {
		crest_eps_free(&eps);
		return -ENOMEM;
	}
	for (size_t i = 0; i < t->nsocks; i++) {
		struct tsock *s = &t->socks[i];
		char mine[CREST_EP_KEY_MAX], theirs[CREST_EP_KEY_MAX];
		if (s->peer >= 0 || !crest_sock_is_tcp(s->rec) || s->rec->state != CREST_SOCK_CONNECTED)
			continue;
		unsigned node = tree_image_node(t->p[s->proc].image);
		if (!crest_ep_key(s->rec->peer, s->rec->peer_len, node, theirs, sizeof(theirs)) &&
		    !crest_ep_key(s->rec->local, s->rec->local_len, node, mine, sizeof(mine)) &&
		    crest_eps_has(&eps, theirs, mine))
			v[n++] = s;
	}
	crest_eps_free(&eps);
	*out = v;
	*nout = n;
	return 0;
}

int tree_sockets_make(struct tree *t, char *err, size_t errlen)
{
	struct tsock **remote;
	size_t nremote;
	char old_addr[CREST_EP_KEY_MAX], why[256], gdir[PATH_MAX];
	int rc = remote_peers(t, &remote, &nremote, old_addr, sizeof(old_addr), gdir, sizeof(gdir), err, errlen);

	if (rc)
		return rc;
	/* the node moved: its old address is this one now, for old peers */
	if (old_addr[0] && t->run && tree_publish_addr(t->run, old_addr, why, sizeof(why)))
		fprintf(stderr, "crest: restart: warning: connections made later to %s (this node's address at the "
			"checkpoint) will not be sent here: %s\n", old_addr, why);
	if (nremote) {
		const char *slash = strrchr(gdir, '/');
		rc = tree_rewire(t, remote, nremote, slash ? slash + 1 : gdir, t->run, err, errlen);
	}
	free(remote);
	if (rc)
		return rc;
	/* first what waited in listeners, in the order it waited (its clients'
	 * ends with it) */
	for (size_t i = 0; i < t->nsocks; i++) {
		struct tsock *s = &t->socks[i];
		if (s->rec->state == CREST_SOCK_PENDING &&
		    (rc = make_pending(t, s, s->peer >= 0 ? &t->socks[s->peer] : NULL, err, errlen)))
			return rc;
	}
	for (size_t i = 0; i < t->nsocks; i++) {
		struct tsock *s = &t->socks[i];
		struct tsock *peer = s->peer >= 0 ? &t->socks[s->peer] : NULL;
		if (s->fd >= 0 || s->rec->state == CREST_SOCK_PENDING)
			continue;	/* made, or has no fd of its own */
		if (crest_sock_is_udp(s->rec))
			rc = make_udp(t, s, err, errlen);
		else if (s->rec->state == CREST_SOCK_CONNECTED)
			rc = make_pair(t, s, peer, err, errlen);
		else
			rc = make_listener(t, s, err, errlen);
		if (rc)
			return rc;
		if (s->fd < 0) {
			snprintf(err, errlen, "cannot move a socket above fd %d", t->fd_base);
			return -EMFILE;
		}
	}
	return 0;
}

int tree_socket_fd(const struct tree *t, int i, size_t k)
{
	const struct tproc *tp = &t->p[i];
	for (size_t j = 0; j < tp->nsocks; j++) {
		if (tp->socks[j].fd_index != k || tp->socks[j].state == CREST_SOCK_PENDING)
			continue;
		int s = find_sock(t, tp->socks[j].ino);
		return s >= 0 ? t->socks[s].fd : -1;
	}
	return -1;
}
