/* SPDX-License-Identifier: MIT */
/*
 * The name service (docs/protocol.md, "Name service"): a key-value store
 * of the computation in the root coordinator.  A local connection (the
 * crest command, a process) publishes and looks up through its node's
 * coordinator; a sub-coordinator passes each request up under an id of its
 * own and the reply back down.  A lookup of a key nobody has published yet
 * waits for it, up to its timeout.  Restarting ends use it to find each
 * other (cli_rewire.c): what one publishes before the other looks it up is
 * seen, whatever the order in which they come.
 *
 * CREST_NS_ADDR: the value of a PUBLISH starts with ":PORT"; the first
 * coordinator puts its node's address in front, the one other nodes reach
 * it at (a sub: the local address of its link up; the root: its --listen
 * address, or that of a sub's link to it).
 *
 * The store lives as long as the root; a value published again replaces
 * the old one.
 */
#define LOG_MODULE "ns"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "coord.h"
#include "log.h"

#define NS_UP_TIMEOUT_MS	60000	/* a PUBLISH passed up is answered within this */
#define NS_ENTRIES_MAX		65536

struct ns_entry {
	char key[CREST_NS_KEY_MAX];
	char value[CREST_NS_VALUE_MAX];
};

/* root: a lookup waiting for its key; sub: a request passed up */
struct ns_wait {
	struct ns_wait *next;
	struct conn *conn;		/* who asked */
	uint32_t id;			/* its id */
	uint32_t up_id;			/* sub: the id it has above */
	uint16_t type;
	bool sent;			/* sub: went up on the current link */
	long long deadline_ms;
	struct crest_msg_ns msg;	/* sub: as passed up (again after a reconnect) */
};

struct coord_ns {
	struct ns_entry *e;
	size_t n, cap;
	struct ns_wait *waits;
	uint32_t next_id;
};

static struct coord_ns *ns_of(struct coord *c)
{
	if (!c->ns)
		c->ns = calloc(1, sizeof(*c->ns));
	return c->ns;
}

static void reply(struct coord *c, struct conn *to, uint32_t id, int error, const char *key, const char *value)
{
	struct crest_msg_ns r = { .id = id, .error = error };

	snprintf(r.key, sizeof(r.key), "%s", key);
	snprintf(r.value, sizeof(r.value), "%s", value ? value : "");
	coord_send(c, to, CREST_MSG_NS_REPLY, &r, sizeof(r));
}

static struct ns_entry *find(struct coord_ns *ns, const char *key)
{
	for (size_t i = 0; i < ns->n; i++)
		if (!strcmp(ns->e[i].key, key))
			return &ns->e[i];
	return NULL;
}

/* this node's address, as other nodes reach it */
static void node_addr(struct coord *c, char *buf, size_t size)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = -1;

	if (coord_is_sub(c)) {
		fd = c->parent ? c->parent->fd : -1;
	} else {
		char host[64];
		snprintf(host, sizeof(host), "%s", c->o.listen);
		char *colon = strrchr(host, ':');
		if (colon)
			*colon = 0;
		if (host[0] && strcmp(host, "0.0.0.0")) {
			snprintf(buf, size, "%s", host);
			return;
		}
		for (struct conn *p = c->conns; p && fd < 0; p = p->next)
			if (p->tcp && !p->dead && p->kind != CONN_AUTH)
				fd = p->fd;
	}
	if (fd >= 0 && !getsockname(fd, (struct sockaddr *)&sa, &len) && sa.sin_family == AF_INET &&
	    inet_ntop(AF_INET, &sa.sin_addr, buf, size))
		return;
	snprintf(buf, size, "127.0.0.1");	/* one node: loopback reaches it */
}

/* CREST_NS_ADDR: ":PORT..." -> "ADDR:PORT..." */
static int fill_addr(struct coord *c, struct crest_msg_ns *m)
{
	char addr[64], value[CREST_NS_VALUE_MAX];

	if (!(m->flags & CREST_NS_ADDR))
		return 0;
	if (m->value[0] != ':')
		return -EINVAL;
	node_addr(c, addr, sizeof(addr));
	if (snprintf(value, sizeof(value), "%s%s", addr, m->value) >= (int)sizeof(value))
		return -ENAMETOOLONG;
	memcpy(m->value, value, sizeof(value));
	m->flags &= ~CREST_NS_ADDR;
	return 0;
}

/* key = value in the store (a value published again replaces the old
 * one), and the lookups that waited for it answered; the entry, or NULL
 * with *err */
static struct ns_entry *store(struct coord *c, const char *key, const char *value, int *err)
{
	struct coord_ns *ns = ns_of(c);
	struct ns_entry *e = find(ns, key);

	if (!e) {
		if (ns->n >= NS_ENTRIES_MAX) {
			*err = -ENOSPC;
			return NULL;
		}
		if (ns->n == ns->cap) {
			size_t cap = ns->cap ? ns->cap * 2 : 64;
			struct ns_entry *n = realloc(ns->e, cap * sizeof(*n));
			if (!n) {
				*err = -ENOMEM;
				return NULL;
			}
			ns->e = n;
			ns->cap = cap;
		}
		e = &ns->e[ns->n++];
		snprintf(e->key, sizeof(e->key), "%s", key);
	}
	snprintf(e->value, sizeof(e->value), "%s", value);
	pr_debug("published %s = %s", e->key, e->value);
	for (struct ns_wait **pp = &ns->waits; *pp;) {
		struct ns_wait *w = *pp;
		if (strcmp(w->msg.key, e->key)) {
			pp = &w->next;
			continue;
		}
		reply(c, w->conn, w->id, 0, e->key, e->value);
		*pp = w->next;
		free(w);
	}
	return e;
}

/*
 * addr/<old> = <now>:PORT (a node restarted elsewhere says where it is)
 * also makes was/<now> = <old>: a process that gets a connection from
 * <now> (accept, getpeername) is told <old>, the address it knew that
 * node's processes by (preload/net_wrappers.c).
 */
static void root_publish(struct coord *c, struct conn *from, const struct crest_msg_ns *m)
{
	int err = 0;
	struct ns_entry *e = store(c, m->key, m->value, &err);

	if (!e) {
		reply(c, from, m->id, err, m->key, NULL);
		return;
	}
	reply(c, from, m->id, 0, e->key, e->value);
	if (strncmp(m->key, "addr/", 5))
		return;
	char key[CREST_NS_KEY_MAX], now[CREST_NS_VALUE_MAX];
	snprintf(now, sizeof(now), "%s", m->value);
	char *colon = strrchr(now, ':');
	if (colon)
		*colon = 0;
	if (!now[0] || snprintf(key, sizeof(key), "was/%s", now) >= (int)sizeof(key))
		return;
	if (!store(c, key, m->key + 5, &err))
		pr_warn("cannot keep %s = %s: %s", key, m->key + 5, strerrordesc_np(-err));
}

static void root_lookup(struct coord *c, struct conn *from, const struct crest_msg_ns *m)
{
	struct coord_ns *ns = ns_of(c);
	struct ns_entry *e = find(ns, m->key);

	if (e || !m->timeout_ms) {
		reply(c, from, m->id, e ? 0 : -ENOENT, m->key, e ? e->value : NULL);
		return;
	}
	struct ns_wait *w = calloc(1, sizeof(*w));
	if (!w) {
		reply(c, from, m->id, -ENOMEM, m->key, NULL);
		return;
	}
	w->conn = from;
	w->id = m->id;
	w->type = CREST_MSG_NS_LOOKUP;
	w->deadline_ms = coord_now_ms() + m->timeout_ms;
	w->msg = *m;
	w->next = ns->waits;
	ns->waits = w;
}

static void send_up(struct coord *c, struct ns_wait *w)
{
	if (!c->parent || w->sent)
		return;
	if (fill_addr(c, &w->msg)) {
		/* checked when it came in: cannot happen */
		return;
	}
	w->msg.id = w->up_id;
	w->sent = !coord_send(c, c->parent, w->type, &w->msg, sizeof(w->msg));
}

void coord_ns_request(struct coord *c, struct conn *from, uint16_t type, const struct crest_msg_ns *in)
{
	struct coord_ns *ns = ns_of(c);
	struct crest_msg_ns m = *in;

	m.key[sizeof(m.key) - 1] = 0;
	m.value[sizeof(m.value) - 1] = 0;
	if (!ns) {
		reply(c, from, m.id, -ENOMEM, m.key, NULL);
		return;
	}
	/* room for an address in front (fill_addr) */
	if (!m.key[0] || ((m.flags & CREST_NS_ADDR) && (type != CREST_MSG_NS_PUBLISH || m.value[0] != ':' ||
							strlen(m.value) + 64 >= sizeof(m.value)))) {
		reply(c, from, m.id, -EINVAL, m.key, NULL);
		return;
	}
	if (!coord_is_sub(c)) {
		/* only the first coordinator fills in an address: its node's */
		if (!from->tcp && fill_addr(c, &m)) {
			reply(c, from, m.id, -ENAMETOOLONG, m.key, NULL);
			return;
		}
		if (type == CREST_MSG_NS_PUBLISH)
			root_publish(c, from, &m);
		else
			root_lookup(c, from, &m);
		return;
	}
	struct ns_wait *w = calloc(1, sizeof(*w));
	if (!w) {
		reply(c, from, m.id, -ENOMEM, m.key, NULL);
		return;
	}
	w->conn = from;
	w->id = m.id;
	w->up_id = ++ns->next_id;
	w->type = type;
	w->msg = m;
	/* the root answers a lookup by its deadline; this one is for a root
	 * that cannot be reached */
	w->deadline_ms = coord_now_ms() + (type == CREST_MSG_NS_LOOKUP ? m.timeout_ms + 5000LL : NS_UP_TIMEOUT_MS);
	w->next = ns->waits;
	ns->waits = w;
	send_up(c, w);
}

void coord_ns_reply_from_parent(struct coord *c, const struct crest_msg_ns *m)
{
	struct coord_ns *ns = ns_of(c);

	for (struct ns_wait **pp = ns ? &ns->waits : NULL; pp && *pp; pp = &(*pp)->next) {
		struct ns_wait *w = *pp;
		if (w->up_id != m->id)
			continue;
		struct crest_msg_ns r = *m;
		r.id = w->id;
		r.key[sizeof(r.key) - 1] = 0;
		r.value[sizeof(r.value) - 1] = 0;
		coord_send(c, w->conn, CREST_MSG_NS_REPLY, &r, sizeof(r));
		*pp = w->next;
		free(w);
		return;
	}
	pr_debug("a name service reply nobody waits for (id %u)", m->id);
}

/* a sub's link up is (again) there: what has not gone up on it goes now */
void coord_ns_parent_up(struct coord *c)
{
	if (!c->ns)
		return;
	for (struct ns_wait *w = c->ns->waits; w; w = w->next)
		w->sent = false;
	for (struct ns_wait *w = c->ns->waits; w; w = w->next)
		send_up(c, w);
}

void coord_ns_gone(struct coord *c, struct conn *conn)
{
	if (!c->ns)
		return;
	for (struct ns_wait **pp = &c->ns->waits; *pp;) {
		struct ns_wait *w = *pp;
		if (w->conn != conn) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		free(w);
	}
}

void coord_ns_tick(struct coord *c)
{
	long long now = coord_now_ms();

	if (!c->ns)
		return;
	for (struct ns_wait **pp = &c->ns->waits; *pp;) {
		struct ns_wait *w = *pp;
		if (now < w->deadline_ms) {
			pp = &w->next;
			continue;
		}
		reply(c, w->conn, w->id, coord_is_sub(c) && !w->sent ? -EHOSTUNREACH : -ETIMEDOUT, w->msg.key, NULL);
		*pp = w->next;
		free(w);
	}
}

bool coord_ns_busy(const struct coord *c)
{
	return c->ns && c->ns->waits;
}

void coord_ns_free(struct coord *c)
{
	if (!c->ns)
		return;
	while (c->ns->waits) {
		struct ns_wait *w = c->ns->waits;
		c->ns->waits = w->next;
		free(w);
	}
	free(c->ns->e);
	free(c->ns);
	c->ns = NULL;
}
