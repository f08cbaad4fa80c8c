/* SPDX-License-Identifier: MIT */
/*
 * The links of the coordinator tree (docs/protocol.md, "The coordinator
 * tree"): the root listens on TCP and authenticates every connection with
 * the computation's secret before anything else (common/auth.c, one step
 * per frame so that the event loop never blocks on a peer); a
 * sub-coordinator connects to its parent, authenticates as
 * CREST_ROLE_SUBCOORD, says HELLO for its node, and reconnects with
 * backoff when the link drops.
 */
#define LOG_MODULE "tree"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coord.h"
#include "log.h"
#include "tcp_link.h"

#define AUTH_TIMEOUT_MS		10000	/* a TCP peer has this long to authenticate */
#define AUTH_SCAN_MS		500	/* how often the root looks for one that did not */
#define CONNECT_TIMEOUT_MS	3000
#define BACKOFF_MIN_MS		500
#define BACKOFF_MAX_MS		8000

/* 64 hex digits, optionally followed by one newline */
static int secret_read(const char *path, uint8_t secret[CREST_SECRET_LEN])
{
	char buf[CREST_SECRET_HEX_LEN + 8];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = 0;
	n = crest_secret_from_hex(buf, secret);
	crest_secret_wipe(buf, sizeof(buf));
	return (int)n;
}

static int secret_create(const char *path, uint8_t secret[CREST_SECRET_LEN])
{
	char hex[CREST_SECRET_HEX_LEN + 1];
	int rc = crest_secret_generate(secret);

	if (rc)
		return rc;
	crest_secret_to_hex(secret, hex);
	rc = ckdir_write_atomic(path, hex, CREST_SECRET_HEX_LEN, 0600);
	crest_secret_wipe(hex, sizeof(hex));
	return rc;
}

static const char *secret_path(const struct coord *c, char *buf, size_t size)
{
	if (c->o.secret_file[0])
		return c->o.secret_file;
	snprintf(buf, size, "%s/SECRET", c->o.dir);
	return buf;
}

static void addr_text(const struct sockaddr_in *sa, char *buf, size_t size);

static int listen_tcp(struct coord *c)
{
	struct sockaddr_in sa;
	int one = 1, fd, rc;

	if (crest_tcp_parse(c->o.listen, &sa)) {
		pr_err("--listen %s: expected an IPv4 ADDRESS:PORT", c->o.listen);
		return -EINVAL;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, SOMAXCONN) < 0) {
		rc = -errno;
		pr_perror("cannot listen on %s", c->o.listen);
		close(fd);
		return rc;
	}
	c->tfd = fd;
	if (c->o.addr_file[0]) {
		socklen_t len = sizeof(sa);
		char text[64];
		getsockname(fd, (struct sockaddr *)&sa, &len);
		addr_text(&sa, text, sizeof(text));
		snprintf(c->o.listen, sizeof(c->o.listen), "%s", text);
		strcat(text, "\n");
		rc = ckdir_write_atomic(c->o.addr_file, text, strlen(text), 0600);
		if (rc) {
			pr_err("cannot write %s: %s", c->o.addr_file, strerrordesc_np(-rc));
			return rc;
		}
	}
	return 0;
}

/* the secret, the TCP listener of the root; a sub-coordinator tries its
 * parent once now and keeps trying from coord_tree_tick */
int coord_tree_setup(struct coord *c)
{
	char buf[CKDIR_PATH_MAX + 16];
	const char *path = secret_path(c, buf, sizeof(buf));
	int rc;

	if (c->o.listen[0] && !coord_is_sub(c)) {
		rc = c->o.secret_file[0] ? secret_read(path, c->secret) : secret_create(path, c->secret);
		if (rc) {
			pr_err("secret %s: %s", path, strerrordesc_np(-rc));
			return rc;
		}
		c->secret_ok = true;
	} else if (c->o.listen[0]) {
		/* a sub-coordinator that is a parent too checks its children
		 * with the secret it reaches its own parent with: read at each
		 * connection up (the root may not have written it yet) */
		c->secret_ok = !secret_read(path, c->secret);
	}
	if (c->o.listen[0]) {
		rc = listen_tcp(c);
		if (rc)
			return rc;
		if (coord_is_sub(c))
			pr_info("sub-coordinator of node %u: the sub-coordinators below it connect to %s", c->o.node,
				c->o.listen);
		else
			pr_info("root coordinator: sub-coordinators connect to %s (secret in %s)", c->o.listen, path);
	}
	if (coord_is_sub(c)) {
		struct sockaddr_in sa;
		if (!c->o.parent_file[0] && crest_tcp_parse(c->o.parent, &sa)) {
			pr_err("--parent %s: expected an IPv4 ADDRESS:PORT", c->o.parent);
			return -EINVAL;
		}
		c->parent_backoff_ms = BACKOFF_MIN_MS;
		c->parent_retry_ms = 0;
		coord_tree_tick(c);
	}
	return 0;
}

static void addr_text(const struct sockaddr_in *sa, char *buf, size_t size)
{
	char ip[INET_ADDRSTRLEN] = "?";

	inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof(ip));
	snprintf(buf, size, "%s:%u", ip, ntohs(sa->sin_port));
}

/* root: a TCP connection; it gets CHALLENGE at once and must answer AUTH.
 * 1: one taken (or refused), 0: none waits, -1: out of descriptors */
int coord_tree_accept(struct coord *c)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	uint8_t nonce[CREST_AUTH_NONCE];
	struct conn *conn;
	int fd;

	fd = accept4(c->tfd, (struct sockaddr *)&sa, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		return coord_accept_failed(c, e, c->o.listen) ? -1 : e == EINTR || e == ECONNABORTED;
	}
	crest_tcp_link_options(fd);
	conn = calloc(1, sizeof(*conn));
	if (!conn || getrandom(nonce, sizeof(nonce), 0) != sizeof(nonce)) {
		pr_err("cannot serve a TCP connection: %s", conn ? "no random bytes" : "out of memory");
		free(conn);
		close(fd);
		return 1;
	}
	conn->fd = fd;
	conn->kind = CONN_AUTH;
	conn->tcp = true;
	conn->asked_ms = coord_now_ms();
	addr_text(&sa, conn->peer, sizeof(conn->peer));
	crest_auth_challenge_init(&conn->hs, nonce);
	if (coord_conn_add(c, conn))
		return 1;
	coord_send(c, conn, CREST_MSG_CHALLENGE, &conn->hs.ch, sizeof(conn->hs.ch));
	return 1;
}

/* root: the first frame of a TCP connection: AUTH from a sub-coordinator,
 * or a munge-signed checkpoint request (crest checkpoint --job) */
void coord_tree_auth(struct coord *c, struct conn *conn, const struct crest_frame *hdr, const void *payload)
{
	struct crest_msg_auth_ok ok;
	int rc;

	if (hdr->type == CREST_MSG_CKPT_MUNGE && hdr->seq == 1 && !coord_is_sub(c)) {
		coord_munge_request(c, conn, hdr, payload);
		return;
	}
	if (!c->secret_ok) {
		pr_warn("%s: no secret to check it with yet (the root has not written %s/SECRET); connection dropped",
			conn->peer, c->o.dir);
		conn->dead = true;
		return;
	}
	rc = crest_auth_verify(&conn->hs, c->secret, hdr, payload, &ok);
	if (!rc && conn->hs.auth.role != CREST_ROLE_SUBCOORD)
		rc = -EPERM;
	if (rc) {
		pr_warn("authentication failed from %s: %s; connection dropped", conn->peer,
			rc == -EPERM ? "only sub-coordinators may connect over TCP" : crest_auth_strerror(rc));
		conn->dead = true;
		return;
	}
	pr_debug("%s authenticated as a sub-coordinator", conn->peer);
	conn->kind = CONN_NEW;
	coord_send(c, conn, CREST_MSG_AUTH_OK, &ok, sizeof(ok));
}

bool coord_sub_has(const struct conn *p, uint32_t node)
{
	if (!p->sub)
		return false;
	if (p->node == node)
		return true;
	for (size_t i = 0; i < p->nsubtree; i++)
		if (p->subtree[i] == node)
			return true;
	return false;
}

struct conn *coord_sub_of(const struct coord *c, uint32_t node)
{
	for (struct conn *p = c->conns; p; p = p->next)
		if (p->sub && !p->dead && coord_sub_has(p, node))
			return p;
	return NULL;
}

static int nodes_push(uint32_t **list, size_t *n, size_t *cap, uint32_t node)
{
	if (*n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 16;
		uint32_t *l = realloc(*list, ncap * sizeof(*l));
		if (!l)
			return -ENOMEM;
		*list = l;
		*cap = ncap;
	}
	(*list)[(*n)++] = node;
	return 0;
}

/* what this coordinator answers for: its node, and every one below it */
static size_t subtree_count(const struct coord *c)
{
	return 1 + c->nsubnodes;
}

/* sub: the set of nodes it answers for, to the parent (after HELLO) */
static int subtree_up(struct coord *c)
{
	static struct crest_msg_subtree m;

	if (!c->parent || !c->hello_sent)
		return 0;
	memset(&m, 0, sizeof(m));
	m.node[m.n++] = c->o.node;
	for (const struct conn *p = c->conns; p; p = p->next) {
		if (!p->sub || p->dead)
			continue;
		for (size_t i = 0; i < p->nsubtree; i++) {
			if (m.n == CREST_SUBTREE_MAX) {
				m.more = 1;
				if (coord_send(c, c->parent, CREST_MSG_SUBTREE, &m, sizeof(m)))
					return -ENOTCONN;
				memset(&m, 0, sizeof(m));
			}
			m.node[m.n++] = p->subtree[i];
		}
	}
	return coord_send(c, c->parent, CREST_MSG_SUBTREE, &m, sizeof(m));
}

void coord_tree_subtree_changed(struct coord *c)
{
	if (coord_is_sub(c))
		subtree_up(c);
	coord_step_started(c, NULL, 0);	/* logs the moment it is complete */
}

/* SUBTREE from the sub-coordinator p: the last message of a set replaces
 * what p answered for; a node another sub-coordinator (or this one) serves
 * already drops p, as a second HELLO for a node does */
static bool in_list(const uint32_t *l, size_t n, uint32_t node)
{
	for (size_t i = 0; i < n; i++)
		if (l[i] == node)
			return true;
	return false;
}

/* what is wrong with the set p sent (p->subtree_in), or NULL */
static const char *subtree_wrong(const struct coord *c, const struct conn *p, uint32_t *bad)
{
	if (!p->nsubtree_in || p->subtree_in[0] != p->node) {
		*bad = p->nsubtree_in ? p->subtree_in[0] : 0;
		return "does not begin with its own node";
	}
	for (size_t i = 0; i < p->nsubtree_in; i++) {
		uint32_t node = *bad = p->subtree_in[i];
		struct conn *o = coord_sub_of(c, node);
		if (!node || node == c->o.node)
			return "is this coordinator's or the root's";
		if (o && o != p)
			return "another sub-coordinator serves already";
		if (in_list(p->subtree_in, i, node))
			return "it named twice";
	}
	return NULL;
}

/* SUBTREE from the sub-coordinator p: the last message of a set replaces
 * what p answered for; a node another sub-coordinator (or this one) serves
 * already drops p, as a second HELLO for a node does */
void coord_tree_subtree(struct coord *c, struct conn *p, const struct crest_msg_subtree *m)
{
	const char *wrong = NULL;
	uint32_t bad = 0;

	if (m->n > CREST_SUBTREE_MAX)
		wrong = "a SUBTREE message with too many nodes", bad = m->n;
	for (uint32_t i = 0; !wrong && i < m->n; i++)
		if (nodes_push(&p->subtree_in, &p->nsubtree_in, &p->subtree_in_cap, m->node[i]))
			wrong = "out of memory", bad = m->node[i];
	if (!wrong && m->more)
		return;
	if (!wrong)
		wrong = subtree_wrong(c, p, &bad);
	if (wrong) {
		pr_err("%s (node %u) says which nodes it answers for; node %u: %s; dropping it", p->peer, p->node,
		       bad, wrong);
		p->nsubtree_in = 0;
		coord_conn_drop(c, p);
		return;
	}
	/* nodes that had all ended and are served again (new in the set: one
	 * still in it may have said it is done and not left yet) */
	for (size_t i = 1; i < p->nsubtree_in; i++)
		if (!in_list(p->subtree, p->nsubtree, p->subtree_in[i]))
			coord_ended_node_back(c, p->subtree_in[i]);
	uint32_t *t = p->subtree;
	size_t tc = p->subtree_cap;
	if (!p->sub_gone)
		c->nsubnodes = c->nsubnodes - (unsigned)p->nsubtree + (unsigned)p->nsubtree_in;
	p->subtree = p->subtree_in;
	p->subtree_cap = p->subtree_in_cap;
	p->nsubtree = p->nsubtree_in;
	p->subtree_in = t;
	p->subtree_in_cap = tc;
	p->nsubtree_in = 0;
	pr_info("the sub-coordinator of node %u answers for %zu node%s", p->node, p->nsubtree,
		p->nsubtree == 1 ? "" : "s");
	coord_tree_subtree_changed(c);
}

/* sub: where the sub-coordinators below it reached it from, as ENDPOINTS
 * node lines: the root writes them to gen-N/ENDPOINTS with its own */
int coord_tree_send_node_addrs(struct coord *c)
{
	static struct crest_msg_endpoints m;

	memset(&m, 0, sizeof(m));
	m.generation = c->ck.gen;
	for (struct conn *p = c->conns; p; p = p->next) {
		struct sockaddr_in sa;
		socklen_t len = sizeof(sa);
		if (!p->member || !p->sub || p->dead || getpeername(p->fd, (struct sockaddr *)&sa, &len) ||
		    sa.sin_family != AF_INET)
			continue;
		m.ep[m.n].node = p->node;
		m.ep[m.n].flags = CREST_EP_NODE_ADDR;
		memcpy(m.ep[m.n].local, &sa, sizeof(sa));
		if (++m.n == CREST_ENDPOINTS_MAX) {
			m.more = 1;
			if (coord_send(c, c->parent, CREST_MSG_ENDPOINTS, &m, sizeof(m)))
				return -ENOTCONN;
			memset(&m, 0, sizeof(m));
			m.generation = c->ck.gen;
		}
	}
	if (m.n && coord_send(c, c->parent, CREST_MSG_ENDPOINTS, &m, sizeof(m)))
		return -ENOTCONN;
	return 0;
}

/* IMAGES from a sub-coordinator during WRITE */
void coord_tree_images(struct coord *c, struct conn *p, const struct crest_msg_images *m)
{
	if (c->ck.step != CK_WRITE || !p->member || m->generation != c->ck.gen || m->n > CREST_IMAGES_MAX) {
		pr_debug("node %u: IMAGES for generation %" PRIu64 " ignored", p->node, m->generation);
		return;
	}
	if (p->nimgs + m->n > p->imgs_cap) {
		size_t cap = (p->nimgs + m->n) * 2;
		struct ckdir_image *im = realloc(p->imgs, cap * sizeof(*im));
		if (!im) {
			coord_ckpt_abort(c, -ENOMEM, "checkpoint aborted: out of memory");
			return;
		}
		p->imgs = im;
		p->imgs_cap = cap;
	}
	for (uint32_t i = 0; i < m->n; i++) {
		struct ckdir_image *im = &p->imgs[p->nimgs];
		char path[sizeof(m->im[i].path) + 1], prefix[16];
		memcpy(path, m->im[i].path, sizeof(m->im[i].path));
		path[sizeof(m->im[i].path)] = 0;
		/* only the folders of the nodes it answers for, nothing that
		 * leaves the generation */
		unsigned long node = path[0] == 'n' ? strtoul(path + 1, NULL, 10) : 0;
		int pl = snprintf(prefix, sizeof(prefix), "n%lu/", node);
		if (!node || node > UINT32_MAX || !coord_sub_has(p, (uint32_t)node) || strncmp(path, prefix, pl) ||
		    strstr(path, "..") || strchr(path + pl, '/') || strchr(path, ' ')) {
			coord_ckpt_abort(c, -EPROTO, "checkpoint aborted: node %u reported an image outside the "
					 "folders of the nodes it answers for: %s", p->node, path);
			return;
		}
		snprintf(im->path, sizeof(im->path), "%s", path);
		im->size = m->im[i].size;
		im->crc = m->im[i].crc;
		p->nimgs++;
	}
}

/* sub-coordinator: the images of this node, to the parent */
int coord_tree_send_images(struct coord *c, const struct ckdir_image *im, size_t n)
{
	static struct crest_msg_images m;
	size_t i = 0;

	if (!c->parent)
		return -ENOTCONN;
	do {
		memset(&m, 0, sizeof(m));
		m.generation = c->ck.gen;
		for (; i < n && m.n < CREST_IMAGES_MAX; i++, m.n++) {
			if (strlen(im[i].path) >= sizeof(m.im[0].path)) {
				coord_ckpt_abort(c, -ENAMETOOLONG, "checkpoint aborted: image name %s too long", im[i].path);
				return -ENAMETOOLONG;
			}
			strcpy(m.im[m.n].path, im[i].path);
			m.im[m.n].size = im[i].size;
			m.im[m.n].crc = im[i].crc;
		}
		m.more = i < n;
		int rc = coord_send(c, c->parent, CREST_MSG_IMAGES, &m, sizeof(m));
		if (rc)
			return rc;
	} while (i < n);
	return 0;
}

void coord_up(struct coord *c, uint16_t type, const struct crest_msg_phase *m)
{
	if (c->parent)
		coord_send(c, c->parent, type, m, sizeof(*m));
}

/* the first line of an address file (--addr-file of a parent) */
static int addr_file_read(const char *path, char *text, size_t size)
{
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	if (!fgets(text, (int)size, f))
		text[0] = 0;
	fclose(f);
	text[strcspn(text, "\n")] = 0;
	return 0;
}

/* a sub-coordinator that is a parent too leaves for good (every task of
 * its node ended): the nodes below it read "done" in its address file and
 * go to the root (--root-file) */
void coord_tree_leaving(struct coord *c)
{
	if (!coord_is_sub(c) || !c->o.addr_file[0] || c->tfd < 0)
		return;
	int rc = ckdir_write_atomic(c->o.addr_file, "done\n", 5, 0600);
	if (rc)
		pr_warn("cannot write %s: %s; the nodes below this one will not find the root", c->o.addr_file,
			strerrordesc_np(-rc));
}

static int parent_connect(struct coord *c)
{
	struct sockaddr_in sa;
	char buf[CKDIR_PATH_MAX + 16];
	const char *path = secret_path(c, buf, sizeof(buf));
	struct conn *conn;
	int fd, rc;

	/* read again each time: a restarted root makes a new secret */
	uint8_t secret[CREST_SECRET_LEN];
	rc = secret_read(path, secret);
	if (rc) {
		pr_warn("cannot read the secret %s: %s", path, strerrordesc_np(-rc));
		return rc;
	}
	memcpy(c->secret, secret, sizeof(secret));
	crest_secret_wipe(secret, sizeof(secret));
	c->secret_ok = true;
	if (c->o.parent_file[0]) {
		char text[sizeof(c->o.parent)] = "";
		const char *file = c->o.parent_file;
		rc = addr_file_read(file, text, sizeof(text));
		/* the parent's node is done and its sub-coordinator gone: the
		 * nodes below it go to the root */
		if (!rc && !strcmp(text, "done") && c->o.root_file[0]) {
			if (!c->parent_done_told)
				pr_info("the parent sub-coordinator left (%s: every task of its node ended): connecting "
					"to the root (%s) instead", file, c->o.root_file);
			c->parent_done_told = true;
			file = c->o.root_file;
			rc = addr_file_read(file, text, sizeof(text));
		}
		if (rc)
			return rc;
		if (crest_tcp_parse(text, &sa)) {
			pr_warn("%s: %s is not an IPv4 ADDRESS:PORT", file, text);
			return -EINVAL;
		}
		snprintf(c->o.parent, sizeof(c->o.parent), "%s", text);
	}
	crest_tcp_parse(c->o.parent, &sa);
	fd = crest_tcp_connect(&sa, CONNECT_TIMEOUT_MS);
	if (fd < 0)
		return fd;
	rc = crest_auth_connect(fd, c->secret, CREST_ROLE_SUBCOORD, AUTH_TIMEOUT_MS, NULL);
	if (rc) {
		pr_warn("authentication with the parent %s failed: %s", c->o.parent, crest_auth_strerror(rc));
		close(fd);
		return rc;
	}
	crest_tcp_link_options(fd);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	conn = calloc(1, sizeof(*conn));
	if (!conn) {
		close(fd);
		return -ENOMEM;
	}
	conn->fd = fd;
	conn->kind = CONN_PARENT;
	conn->tcp = true;
	conn->tx_seq = CREST_AUTH_CONNECTOR_FRAMES;
	conn->rx_seq = CREST_AUTH_ACCEPTOR_FRAMES;
	snprintf(conn->peer, sizeof(conn->peer), "%s", c->o.parent);
	rc = coord_conn_add(c, conn);
	if (rc)
		return rc;
	c->parent = conn;
	c->hello_sent = false;
	coord_ns_parent_up(c);
	return c->parent ? 0 : -ECONNRESET;
}

/*
 * HELLO makes the node part of the computation for the root.  A node of a
 * Slurm step says it only once every task of the node is there (it answers
 * for all its tasks, or not at all); until then the link carries only the
 * name service, which the restarting tasks need to find their peers.
 */
static void hello_up(struct coord *c)
{
	struct crest_msg_hello h = { 0 };

	if (!c->parent || c->hello_sent || !coord_step_started(c, NULL, 0))
		return;
	h.pid = (uint32_t)getpid();
	h.vpid = h.pid;
	h.flags = CREST_HELLO_SUBCOORD;
	h.node = c->o.node;
	ckdir_incarnation_pack(c->incarnation, h.run);
	snprintf(h.exe, sizeof(h.exe), "crest-coord (node %u)", c->o.node);
	c->hello_sent = !coord_send(c, c->parent, CREST_MSG_HELLO, &h, sizeof(h));
	if (!c->hello_sent)
		return;
	/* the nodes below: those there, and those whose tasks all ended
	 * (a new parent does not know them) */
	if (c->nsubs)
		subtree_up(c);
	coord_ended_done_up(c);
	if (c->nsubs)
		pr_info("node %u is complete: joined the computation at %s, answering for %zu nodes", c->o.node,
			c->o.parent, subtree_count(c));
	else
		pr_info("node %u is complete: joined the computation at %s", c->o.node, c->o.parent);
}

/* 1 if DIR/INCARNATION names run, 0 if another, -1 if it cannot be read */
int coord_run_of_dir(const struct coord *c, const char *run)
{
	char now[CKDIR_INCARNATION_LEN + 1];
	if (ckdir_incarnation_read(c->o.dir, now))
		return -1;
	return !strcmp(now, run);
}

/* WELCOME again to every process and sub-coordinator below, now that this
 * one knows its run (they may have come before it did) */
static void welcome_again(struct coord *c)
{
	struct crest_msg_welcome w = { 0 };

	ckdir_incarnation_pack(c->incarnation, w.run);
	for (struct conn *p = c->conns; p; p = p->next) {
		if (p->kind != CONN_PROC || p->dead)
			continue;
		w.node = p->sub ? p->node : c->o.node;
		w.rank = p->sub ? 0 : p->rank;
		coord_send(c, p, CREST_MSG_WELCOME, &w, sizeof(w));
	}
}

/*
 * A sub-coordinator belongs to one run of the computation.  A parent of
 * another run (a new root after a requeue, while this node was cut off)
 * shares DIR, SECRET and ROOT with this run's, but this node's processes
 * are not part of it: this coordinator stops (its processes go on, without
 * checkpoints, and do not start it again: RESPAWN says its run).  Unless
 * DIR says that this one's run is the newer: then the parent is the one
 * left over (a sub-coordinator of the older run below which this node was
 * put: its address file was still there), and this one tries again later.
 * The first run it hears of is its own, when it was not told
 * (--incarnation).
 */
void coord_tree_welcome(struct coord *c, const struct crest_msg_welcome *w)
{
	char its[CKDIR_INCARNATION_LEN + 1];

	ckdir_incarnation_unpack(w->run, its);
	if (!its[0] || !strcmp(its, c->incarnation))
		return;
	if (!c->incarnation[0]) {
		snprintf(c->incarnation, sizeof(c->incarnation), "%s", its);
		pr_info("run %s (the parent's)", its);
		coord_respawn_write(c);
		welcome_again(c);
		return;
	}
	if (coord_run_of_dir(c, c->incarnation) == 1) {
		pr_warn("the parent %s serves an older run of the computation (%s; %s/INCARNATION is this "
			"coordinator's, %s): trying again later", c->o.parent, its, c->o.dir, c->incarnation);
		if (c->parent)
			coord_conn_drop(c, c->parent);
		return;
	}
	pr_err("the parent %s serves another run of the computation (%s; this coordinator's is %s): this node is left "
	       "over from an older run; stopping (its processes go on without checkpoints)", c->o.parent, its,
	       c->incarnation);
	if (c->parent)
		coord_conn_drop(c, c->parent);
	coord_stop = 1;
}

/* sub-coordinator: the link up dropped (called before the conn is freed) */
void coord_tree_parent_gone(struct coord *c)
{
	c->parent = NULL;
	c->hello_sent = false;
	pr_warn("lost the parent coordinator %s%s", c->o.parent,
		c->ck.step != CK_IDLE ? " during a checkpoint: aborting it here" : "");
	if (c->ck.step != CK_IDLE)
		coord_ckpt_abort(c, -ECONNRESET, "checkpoint aborted: the link to the parent coordinator dropped");
	c->parent_backoff_ms = BACKOFF_MIN_MS;
	c->parent_retry_ms = coord_now_ms() + c->parent_backoff_ms;
}

/*
 * A Slurm node whose tasks are not all registered --tasks-wait s after its
 * coordinator started: one of them cannot be checkpointed (a static
 * binary, a container image without crest, an environment without
 * LD_PRELOAD), so no checkpoint of the step can be taken.  Only the
 * application's output reaches the user: the node's registered processes
 * print it (NOTICE), once.
 */
/* 1 if a task process of rank r is connected here */
static bool rank_registered(const struct coord *c, unsigned r)
{
	for (const struct conn *p = c->conns; p; p = p->next)
		if (p->kind == CONN_PROC && !p->dead && p->task && !p->sub && p->task_rank == r)
			return true;
	return false;
}

/* "; missing: 1 3" from --task-ranks, at most what fits in size */
static void missing_ranks(const struct coord *c, char *buf, size_t size)
{
	size_t used = 0;
	const char *s = c->o.task_ranks;

	buf[0] = 0;
	if (!s)
		return;
	for (; *s; s += strcspn(s, ","), s += *s == ',') {
		unsigned r = (unsigned)strtoul(s, NULL, 10);
		if (rank_registered(c, r) || coord_ended_has(c, r))
			continue;
		int w = snprintf(buf + used, size - used, "%s%u", used ? " " : "; missing: ", r);
		if (w < 0 || used + (size_t)w >= size) {
			if (used + 4 < size)
				strcpy(buf + used, " ...");
			return;
		}
		used += (size_t)w;
	}
}

static void missing_tasks(struct coord *c, long long now)
{
	char ranks[128] = "", missing[128], text[sizeof(((struct crest_msg_notice *)0)->text)];
	unsigned n = 0;
	size_t used = 0;

	/* a look at the connections once a second, not every loop turn */
	if (!c->o.tasks || c->missing_told || now < c->missing_next_ms)
		return;
	c->missing_next_ms = now + 1000;
	for (const struct conn *p = c->conns; p; p = p->next)
		if (p->kind == CONN_PROC && !p->dead && p->task && !p->sub) {
			n++;
			int w = snprintf(ranks + used, sizeof(ranks) - used, "%s%u", used ? " " : "", p->task_rank);
			if (w > 0 && used + (size_t)w < sizeof(ranks))
				used += (size_t)w;
		}
	/* all there once is enough: tasks may end early later (a restarted
	 * step's tasks that had ended do not register) */
	if (n + c->nended >= c->o.tasks) {
		c->missing_told = true;
		return;
	}
	if (now - c->start_ms < c->o.tasks_wait * 1000LL)
		return;
	c->missing_told = true;	/* once: a task that comes late changes nothing said */
	missing_ranks(c, missing, sizeof(missing));
	snprintf(text, sizeof(text),
		 "crest: this step is NOT checkpointed: on node %u only %u of its %u tasks registered with crest "
		 "within %d s (ranks registered: %s%s); a task without crest's library (a static binary, a container "
		 "without crest, an environment without LD_PRELOAD) cannot be checkpointed, so every checkpoint of "
		 "the step fails", c->o.node, n, c->o.tasks, c->o.tasks_wait, used ? ranks : "none", missing);
	pr_warn("%s", text + strlen("crest: "));
	struct crest_msg_notice m;
	memset(&m, 0, sizeof(m));
	memcpy(m.text, text, sizeof(m.text));
	for (struct conn *p = c->conns; p; p = p->next)
		if (p->kind == CONN_PROC && !p->dead && !p->sub)
			coord_send(c, p, CREST_MSG_NOTICE, &m, sizeof(m));
}

void coord_tree_up_now(struct coord *c)
{
	if (!coord_is_sub(c))
		return;
	if (!c->parent && !parent_connect(c))
		pr_info("connected to the parent coordinator %s as node %u", c->o.parent, c->o.node);
	hello_up(c);
}

void coord_tree_tick(struct coord *c)
{
	long long now = coord_now_ms();

	missing_tasks(c, now);
	/* a look at every connection a few times a second, not every turn */
	if (c->tfd >= 0 && now >= c->auth_scan_ms) {
		c->auth_scan_ms = now + AUTH_SCAN_MS;
		for (struct conn *p = c->conns; p; p = p->next)
			if (p->kind == CONN_AUTH && !p->dead && now - p->asked_ms > AUTH_TIMEOUT_MS) {
				pr_warn("authentication failed from %s: %s; connection dropped", p->peer,
					crest_auth_strerror(-ETIMEDOUT));
				coord_conn_drop(c, p);
			}
	}
	if (!coord_is_sub(c))
		return;
	hello_up(c);
	if (c->parent || now < c->parent_retry_ms)
		return;
	int rc = parent_connect(c);
	if (!rc) {
		pr_info("connected to the parent coordinator %s as node %u", c->o.parent, c->o.node);
		c->parent_backoff_ms = BACKOFF_MIN_MS;
		hello_up(c);
		return;
	}
	pr_debug("cannot reach the parent %s: %s; again in %u ms",
		 c->o.parent_file[0] ? c->o.parent_file : c->o.parent, strerrordesc_np(-rc),
		 c->parent_backoff_ms);
	c->parent_retry_ms = coord_now_ms() + c->parent_backoff_ms;
	if (c->parent_backoff_ms < BACKOFF_MAX_MS)
		c->parent_backoff_ms *= 2;
}
