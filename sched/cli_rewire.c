/* SPDX-License-Identifier: MIT */
/*
 * crest restart: TCP connections whose other end is a process of the
 * computation that this restart does not restore (another node, another
 * Slurm task) are connected again to that end, wherever it restarts now
 * (docs/architecture.md, "Connections between nodes").
 *
 * gen-N/ENDPOINTS lists the local end and the peer of every connected TCP
 * socket of the generation; a socket whose other end is there (addresses
 * swapped) and not among this restart's own sockets is rewired:
 *
 *   - both ends name the connection alike: "tcp/gen-N/<A>|<B>", A < B the
 *     endpoint names of its two ends (common/endpoint.c);
 *   - end A listens on a new port of its node and publishes ":PORT TOKEN"
 *     with CREST_NS_ADDR (its coordinator puts the node's address in
 *     front); end B looks the name up (waiting for it) and connects;
 *   - B sends "CRWR", the 16-byte token, the length and the bytes that were
 *     waiting in B's receive queue at the checkpoint; A checks the token
 *     (another connection is closed, A keeps listening), sends "CRWR", its
 *     own length and bytes, and B's bytes back; B sends A's bytes back.
 *     What each end sends back lands in the other's receive queue, where
 *     the application finds it, ahead of anything the application sends;
 *     each end reads exactly the handshake, never into that data.
 *
 * Every connection of this restart advances at once in one poll loop
 * (non-blocking), so that no order between nodes can deadlock.  A peer
 * that does not come within REWIRE_TIMEOUT_MS stops the restart before
 * anything is forked, naming the connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_tree_int.h"
#include "endpoint.h"
#include "proto.h"

#define REWIRE_TIMEOUT_MS	120000
#define REWIRE_RETRY_MS		200	/* a published address that refused: look again */
#define REWIRE_TRY_MS		5000	/* one connect, or one accepted connection's handshake */
#define REWIRE_MAGIC		"CRWR"
#define TOKEN_LEN		16

enum rw_state { RW_LISTEN, RW_LOOKUP, RW_CONNECT, RW_TALK, RW_DONE };

struct rw {
	struct tsock *s;
	char name[CREST_NS_KEY_MAX];	/* the connection's key */
	char mine[CREST_EP_KEY_MAX], theirs[CREST_EP_KEY_MAX];
	bool listener;
	enum rw_state st;
	int lfd, fd;
	uint32_t ns_id;
	bool asked;			/* a LOOKUP is out */
	long long retry_ms;
	long long try_ms;		/* when this connect or accepted try began */
	unsigned char token[TOKEN_LEN];
	/* what goes out: the handshake, then the peer's bytes back */
	unsigned char *out;
	size_t outlen, outoff;
	bool echoed;
	/* what comes in: a header, then the peer's bytes */
	unsigned char hdr[4 + TOKEN_LEN + 4];
	size_t hdrwant, hdrgot;
	unsigned char *peer;
	uint32_t peerlen, peergot;
	char where[80];			/* the peer's address, for messages */
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static int unhex(const char *s, unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		b[i] = (unsigned char)v;
	}
	return 0;
}

static int add_out(struct rw *r, const void *d, size_t n)
{
	unsigned char *o = realloc(r->out, r->outlen + n + 1);
	if (!o)
		return -ENOMEM;
	r->out = o;
	memcpy(r->out + r->outlen, d, n);
	r->outlen += n;
	return 0;
}

/* my handshake: "CRWR" [token] length bytes */
static int queue_hello(struct rw *r)
{
	uint32_t len = r->s->data ? r->s->rec->queued : 0;
	int rc = add_out(r, REWIRE_MAGIC, 4);
	if (!rc && !r->listener)
		rc = add_out(r, r->token, TOKEN_LEN);
	if (!rc)
		rc = add_out(r, &len, 4);
	if (!rc && len)
		rc = add_out(r, r->s->data, len);
	return rc;
}

/*
 * The bytes that waited in this end come back into its receive queue from
 * the peer, and stay there until the application reads them: a queue
 * larger than a new socket holds gets room before connect/listen (the
 * kernel caps it at net.core.rmem_max).
 */
static int new_socket(const struct rw *r)
{
	int fd = socket(r->s->rec->domain == AF_INET6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	uint32_t mine = r->s->data ? r->s->rec->queued : 0;
	if (mine > (64u << 10)) {
		int want = mine > (1u << 30) ? 1 << 30 : (int)mine * 2;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));
	}
	return fd;
}

static int start_listen(struct rw *r, int ns, uint32_t *seq, char *err, size_t errlen)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	char value[CREST_NS_VALUE_MAX], tok[2 * TOKEN_LEN + 1];

	r->lfd = new_socket(r);
	if (r->lfd < 0)
		goto fail;
	if (r->s->rec->domain == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_any;
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_ANY);
		len = sizeof(*a);
	}
	if (bind(r->lfd, (struct sockaddr *)&ss, len) < 0 || listen(r->lfd, 4) < 0 ||
	    getsockname(r->lfd, (struct sockaddr *)&ss, &len) < 0)
		goto fail;
	unsigned port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						       : ((struct sockaddr_in *)&ss)->sin_port);
	if (getrandom(r->token, TOKEN_LEN, 0) != TOKEN_LEN)
		goto fail;
	hex(r->token, TOKEN_LEN, tok);
	snprintf(value, sizeof(value), ":%u %s", port, tok);
	struct crest_msg_ns m = { .id = r->ns_id, .flags = CREST_NS_ADDR };
	snprintf(m.key, sizeof(m.key), "%s", r->name);
	snprintf(m.value, sizeof(m.value), "%s", value);
	int rc = crest_frame_send(ns, CREST_MSG_NS_PUBLISH, seq, &m, sizeof(m));
	if (rc) {
		snprintf(err, errlen, "cannot reach the coordinator's name service: %s", strerror(-rc));
		return rc;
	}
	r->st = RW_LISTEN;
	r->hdrwant = 4 + TOKEN_LEN + 4;
	return 0;
fail:;
	int e = errno;
	snprintf(err, errlen, "cannot listen for the TCP connection %s <-> %s: %s", r->mine, r->theirs, strerror(e));
	return -e;
}

static int ask(struct rw *r, int ns, uint32_t *seq, long long deadline, char *err, size_t errlen)
{
	struct crest_msg_ns m = { .id = r->ns_id };
	long long left = deadline - now_ms();

	snprintf(m.key, sizeof(m.key), "%s", r->name);
	m.timeout_ms = left > 0 ? (uint32_t)left : 1;
	int rc = crest_frame_send(ns, CREST_MSG_NS_LOOKUP, seq, &m, sizeof(m));
	if (rc) {
		snprintf(err, errlen, "cannot reach the coordinator's name service: %s", strerror(-rc));
		return rc;
	}
	r->asked = true;
	return 0;
}

/* "10.0.0.2:PORT TOKEN" from the name service: connect */
static int start_connect(struct rw *r, const char *value)
{
	char ip[64], tok[2 * TOKEN_LEN + 1];
	unsigned port;
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	struct in_addr v4;

	const char *colon = strrchr(value, ':');
	const char *sp = strchr(value, ' ');
	if (!colon || !sp || colon > sp || (size_t)(colon - value) >= sizeof(ip) ||
	    sscanf(colon + 1, "%u %32s", &port, tok) != 2 || strlen(tok) != 2 * TOKEN_LEN ||
	    unhex(tok, r->token, TOKEN_LEN))
		return -EBADMSG;
	memcpy(ip, value, colon - value);
	ip[colon - value] = 0;
	if (inet_pton(AF_INET, ip, &v4) != 1 || !port || port > 65535)
		return -EBADMSG;
	snprintf(r->where, sizeof(r->where), "%s:%u", ip, port);
	if (r->s->rec->domain == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		a->sin6_addr.s6_addr[10] = a->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&a->sin6_addr.s6_addr[12], &v4, 4);
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		a->sin_addr = v4;
		len = sizeof(*a);
	}
	if (r->fd >= 0)
		close(r->fd);
	r->fd = new_socket(r);
	if (r->fd < 0)
		return r->fd;
	if (connect(r->fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS)
		return -errno;
	r->st = RW_CONNECT;
	r->try_ms = now_ms();
	return 0;
}

/* forgets the connection of a try that failed */
static void reset(struct rw *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	free(r->out);
	r->out = NULL;
	r->outlen = r->outoff = 0;
	r->hdrgot = 0;
	free(r->peer);
	r->peer = NULL;
	r->peerlen = r->peergot = 0;
	r->echoed = false;
}

/* back to asking the name service: the address refused, or was stale */
static void again(struct rw *r)
{
	reset(r);
	r->st = RW_LOOKUP;
	r->asked = false;
	r->retry_ms = now_ms() + REWIRE_RETRY_MS;
}

/* the listener dropped a stranger or a dead try: listen on */
static void relisten(struct rw *r)
{
	reset(r);
	r->st = RW_LISTEN;
}

/* reads what the handshake still wants; 1 when all of it is in */
static int read_in(struct rw *r)
{
	while (r->hdrgot < r->hdrwant) {
		ssize_t n = recv(r->fd, r->hdr + r->hdrgot, r->hdrwant - r->hdrgot, 0);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		if (n == 0)
			return -ECONNRESET;
		r->hdrgot += n;
		if (r->hdrgot < r->hdrwant)
			return 0;
		if (memcmp(r->hdr, REWIRE_MAGIC, 4))
			return -EPROTO;
		if (r->listener && memcmp(r->hdr + 4, r->token, TOKEN_LEN))
			return -EACCES;
		memcpy(&r->peerlen, r->hdr + r->hdrwant - 4, 4);
		if (r->peerlen > (64u << 20))
			return -EPROTO;
		r->peer = r->peerlen ? malloc(r->peerlen) : NULL;
		if (r->peerlen && !r->peer)
			return -ENOMEM;
	}
	while (r->peergot < r->peerlen) {
		ssize_t n = recv(r->fd, r->peer + r->peergot, r->peerlen - r->peergot, 0);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		if (n == 0)
			return -ECONNRESET;
		r->peergot += n;
	}
	return 1;
}

/* one step of a connection after poll said it may go on */
static int talk(struct rw *r, short revents)
{
	if (r->st == RW_LISTEN) {
		if (!(revents & POLLIN))
			return 0;
		int fd = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return 0;
		if (r->fd >= 0)
			close(fd);	/* one at a time: a stranger is dropped below */
		else
			r->fd = fd;
		r->st = RW_TALK;
		r->try_ms = now_ms();
		return 0;
	}
	if (r->st == RW_CONNECT) {
		int e = 0;
		socklen_t l = sizeof(e);
		if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
			return 0;
		if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0 || e)
			return -(e ? e : errno);
		r->st = RW_TALK;
		return queue_hello(r);
	}
	if (r->st != RW_TALK)
		return 0;
	if (!r->echoed && (revents & (POLLIN | POLLHUP | POLLERR))) {
		int rc = read_in(r);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			if (r->listener)
				rc = queue_hello(r);
			else
				rc = 0;
			if (!rc && r->peerlen)
				rc = add_out(r, r->peer, r->peerlen);	/* its bytes, back */
			r->echoed = true;
			if (rc)
				return rc;
		}
	}
	while (r->outoff < r->outlen) {
		ssize_t n = send(r->fd, r->out + r->outoff, r->outlen - r->outoff, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		r->outoff += n;
	}
	if (r->echoed && r->outoff == r->outlen)
		r->st = RW_DONE;
	return 0;
}

static int on_reply(struct rw *rws, size_t n, const struct crest_msg_ns *m, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		struct rw *r = &rws[i];
		if (r->ns_id != m->id)
			continue;
		if (r->listener) {
			if (m->error) {
				snprintf(err, errlen, "the name service refused to publish %s: %s", r->name,
					 strerror(-m->error));
				return m->error;
			}
			return 0;
		}
		r->asked = false;
		if (m->error == -ETIMEDOUT)
			return 0;	/* the deadline below says it */
		if (m->error) {
			snprintf(err, errlen, "the name service cannot look up %s: %s", r->name, strerror(-m->error));
			return m->error;
		}
		char value[CREST_NS_VALUE_MAX];
		snprintf(value, sizeof(value), "%.*s", (int)sizeof(m->value), m->value);
		int rc = start_connect(r, value);
		if (rc == -EBADMSG) {
			snprintf(err, errlen, "the name service has a damaged address for %s: %s", r->name, value);
			return rc;
		}
		if (rc)
			again(r);
		return 0;
	}
	return 0;
}

int tree_publish_addr(const char *run, const char *old, char *err, size_t errlen)
{
	static unsigned char buf[4096];
	struct crest_msg_ns m = { .id = 1, .flags = CREST_NS_ADDR };
	struct crest_frame hdr;
	uint32_t seq = 0;
	int ns = cli_connect(run), rc;

	if (ns < 0) {
		snprintf(err, errlen, "no coordinator runs for %s: %s", run, strerror(-ns));
		return ns;
	}
	snprintf(m.key, sizeof(m.key), "addr/%s", old);
	snprintf(m.value, sizeof(m.value), ":0");
	rc = crest_frame_send(ns, CREST_MSG_NS_PUBLISH, &seq, &m, sizeof(m));
	if (!rc) {
		rc = crest_frame_recv(ns, &hdr, buf, sizeof(buf), 3000);
		if (rc == (int)sizeof(m) && hdr.type == CREST_MSG_NS_REPLY) {
			memcpy(&m, buf, sizeof(m));
			rc = m.error;
		} else if (rc >= 0) {
			rc = -EPROTO;
		}
	}
	close(ns);
	if (rc)
		snprintf(err, errlen, "the name service did not take it: %s", strerror(-rc));
	return rc;
}

int tree_rewire(struct tree *t, struct tsock **socks, size_t n, const char *gen, const char *run, char *err,
		size_t errlen)
{
	struct rw *rws = calloc(n, sizeof(*rws));
	struct pollfd *pfd = calloc(n + 1, sizeof(*pfd));
	uint32_t seq = 0;
	long long deadline = now_ms() + REWIRE_TIMEOUT_MS;
	int ns = -1, rc = -ENOMEM;

	if (!rws || !pfd)
		goto out;
	ns = cli_connect(run);
	if (ns < 0) {
		rc = ns;
		snprintf(err, errlen, "%zu TCP connection(s) go to other nodes of the computation, but no coordinator "
			 "runs for %s to find them: %s", n, run, strerror(-rc));
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct rw *r = &rws[i];
		const struct crest_img_socket *rec = socks[i]->rec;
		unsigned node = tree_image_node(t->p[socks[i]->proc].image);
		r->s = socks[i];
		r->lfd = r->fd = -1;
		r->ns_id = (uint32_t)i + 1;
		crest_ep_key(rec->local, rec->local_len, node, r->mine, sizeof(r->mine));
		crest_ep_key(rec->peer, rec->peer_len, node, r->theirs, sizeof(r->theirs));
		r->listener = strcmp(r->mine, r->theirs) < 0;
		snprintf(r->name, sizeof(r->name), "tcp/%s/%s|%s", gen,
			 r->listener ? r->mine : r->theirs, r->listener ? r->theirs : r->mine);
		if (r->listener) {
			rc = start_listen(r, ns, &seq, err, errlen);
			if (rc)
				goto out;
		} else {
			r->st = RW_LOOKUP;
			r->hdrwant = 4 + 4;
		}
	}
	for (;;) {
		size_t left = 0, np = 0;
		long long now = now_ms();
		for (size_t i = 0; i < n; i++) {
			struct rw *r = &rws[i];
			if (r->st == RW_DONE)
				continue;
			left++;
			if (r->st == RW_LOOKUP && !r->asked && now >= r->retry_ms) {
				rc = ask(r, ns, &seq, deadline, err, errlen);
				if (rc)
					goto out;
			}
		}
		if (!left)
			break;
		/* a connect that hangs (a stale address of a host that is gone), or
		 * an accepted connection that says nothing (not our peer): next try */
		for (size_t i = 0; i < n; i++) {
			struct rw *r = &rws[i];
			if (r->st == RW_CONNECT && now - r->try_ms > REWIRE_TRY_MS)
				again(r);
			else if (r->st == RW_TALK && r->listener && !r->hdrgot && now - r->try_ms > REWIRE_TRY_MS)
				relisten(r);
		}
		if (now >= deadline) {
			for (size_t i = 0; i < n; i++)
				if (rws[i].st != RW_DONE) {
					snprintf(err, errlen,
						 "the TCP connection %s <-> %s (fd %d of a process) goes to another node of "
						 "the computation, which did not restart within %d s%s%s; restart every node "
						 "from the same generation",
						 rws[i].mine, rws[i].theirs, t->p[rws[i].s->proc].fds[rws[i].s->rec->fd_index].fd,
						 REWIRE_TIMEOUT_MS / 1000, rws[i].where[0] ? ": no answer from " : "",
						 rws[i].where);
					break;
				}
			rc = -ETIMEDOUT;
			goto out;
		}
		pfd[np++] = (struct pollfd){ .fd = ns, .events = POLLIN };
		for (size_t i = 0; i < n; i++) {
			struct rw *r = &rws[i];
			short ev = 0;
			int fd = -1;
			if (r->st == RW_LISTEN) {
				fd = r->lfd;
				ev = POLLIN;
			} else if (r->st == RW_CONNECT) {
				fd = r->fd;
				ev = POLLOUT;
			} else if (r->st == RW_TALK) {
				fd = r->fd;
				ev = (r->echoed ? 0 : POLLIN) | (r->outoff < r->outlen ? POLLOUT : 0);
			}
			pfd[np++] = (struct pollfd){ .fd = fd, .events = ev };
		}
		int pr = poll(pfd, np, REWIRE_RETRY_MS);
		if (pr < 0 && errno != EINTR) {
			rc = -errno;
			snprintf(err, errlen, "poll: %s", strerror(errno));
			goto out;
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			static unsigned char buf[CREST_FRAME_MAX];
			struct crest_frame hdr;
			rc = crest_frame_recv(ns, &hdr, buf, sizeof(buf), 5000);
			if (rc < 0 || hdr.type != CREST_MSG_NS_REPLY) {
				snprintf(err, errlen, "the coordinator of %s went away while the connections to other nodes "
					 "were made%s%s", run, rc < 0 ? ": " : "", rc < 0 ? strerror(-rc) : "");
				rc = rc < 0 ? rc : -EPROTO;
				goto out;
			}
			struct crest_msg_ns m;
			memcpy(&m, buf, sizeof(m));
			rc = on_reply(rws, n, &m, err, errlen);
			if (rc)
				goto out;
		}
		for (size_t i = 0; i < n; i++) {
			struct rw *r = &rws[i];
			if (!pfd[i + 1].revents)
				continue;
			rc = talk(r, pfd[i + 1].revents);
			if (!rc)
				continue;
			if (r->listener) {
				relisten(r);	/* a stranger, or a try that died: the peer comes again */
			} else if (r->st == RW_CONNECT || (rc != -EPROTO && !r->hdrgot)) {
				again(r);	/* an old address, or a listener of an earlier try */
			} else {
				snprintf(err, errlen, "the TCP connection %s <-> %s: the handshake with %s failed: %s",
					 r->mine, r->theirs, r->where, strerror(-rc));
				goto out;
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		int fd = rws[i].fd;
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		socks[i]->fd = fcntl(fd, F_DUPFD_CLOEXEC, t->fd_base);
		close(fd);
		rws[i].fd = -1;
		if (socks[i]->fd < 0) {
			rc = -EMFILE;
			snprintf(err, errlen, "cannot move a socket above fd %d", t->fd_base);
			goto out;
		}
	}
	rc = 0;
out:
	for (size_t i = 0; rws && i < n; i++) {
		if (rws[i].lfd >= 0)
			close(rws[i].lfd);
		if (rws[i].fd >= 0)
			close(rws[i].fd);
		free(rws[i].out);
		free(rws[i].peer);
	}
	if (ns >= 0)
		close(ns);
	free(rws);
	free(pfd);
	return rc;
}
