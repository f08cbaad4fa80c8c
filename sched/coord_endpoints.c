/* SPDX-License-Identifier: MIT */
/*
 * The connected TCP sockets of a checkpoint (docs/protocol.md,
 * "ENDPOINTS").  Every process lists its own in ENDPOINTS messages before
 * its PHASE_OK of WRITE; a sub-coordinator puts its node in and passes them
 * up as they come; the root keeps them as the lines of gen-N/ENDPOINTS,
 * written and synced before MANIFEST.  At restart, a socket whose peer is
 * a local end in that list is connected again to it (cli_rewire.c).
 */
#define LOG_MODULE "ckpt"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"
#include "endpoint.h"
#include "log.h"

void coord_endpoints_clear(struct coord *c)
{
	free(c->eps.buf);
	memset(&c->eps, 0, sizeof(c->eps));
}

void coord_endpoints_add(struct coord *c, struct conn *from, const struct crest_msg_endpoints *m)
{
	static struct crest_msg_endpoints up;

	if (c->ck.step != CK_WRITE || !from->member || m->generation != c->ck.gen || m->n > CREST_ENDPOINTS_MAX) {
		pr_debug("ENDPOINTS for generation %" PRIu64 " ignored", m->generation);
		return;
	}
	if (coord_is_sub(c)) {
		/* this node's: up at once, ahead of the node's PHASE_OK; those of
		 * the nodes below as they came */
		up = *m;
		for (uint32_t i = 0; i < up.n; i++) {
			if (!from->sub) {
				up.ep[i].node = c->o.node;
				up.ep[i].flags = 0;
			} else if (!coord_sub_has(from, up.ep[i].node)) {
				coord_ckpt_abort(c, -EPROTO, "checkpoint aborted: node %u reported a connection of node %u, "
						 "which it does not answer for", from->node, up.ep[i].node);
				return;
			}
		}
		if (c->parent)
			coord_send(c, c->parent, CREST_MSG_ENDPOINTS, &up, sizeof(up));
		return;
	}
	for (uint32_t i = 0; i < m->n; i++) {
		/* a sub-coordinator speaks only for the nodes it answers for */
		uint32_t node = from->sub ? m->ep[i].node : c->o.node;
		if (from->sub && !coord_sub_has(from, node)) {
			coord_ckpt_abort(c, -EPROTO, "checkpoint aborted: node %u reported a connection of node %u, "
					 "which it does not answer for", from->node, node);
			return;
		}
		int rc;
		if (from->sub && (m->ep[i].flags & CREST_EP_NODE_ADDR)) {
			if (node == from->node)
				continue;	/* its own: the address of its link, below */
			/* where a node below a sub-coordinator reached it from */
			struct sockaddr_in sa;
			char ip[INET_ADDRSTRLEN];
			memcpy(&sa, m->ep[i].local, sizeof(sa));
			if (sa.sin_family != AF_INET || !inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip)))
				continue;
			rc = crest_eps_append_node(&c->eps.buf, &c->eps.len, &c->eps.cap, node, ip);
		} else {
			rc = crest_eps_append(&c->eps.buf, &c->eps.len, &c->eps.cap, m->ep[i].local, m->ep[i].peer,
					      node);
		}
		if (rc == -ENOMEM) {
			coord_ckpt_abort(c, rc, "checkpoint aborted: out of memory");
			return;
		}
		if (rc)
			pr_warn("a process of node %u reported a TCP connection of an unknown family: left out", node);
	}
}

/* root, at COMMIT: gen-N/ENDPOINTS, durable before MANIFEST names the
 * generation complete */
int coord_endpoints_write(struct coord *c)
{
	char gdir[CKDIR_PATH_MAX], path[CKDIR_PATH_MAX + 16];
	size_t hl = strlen(CREST_EPS_HEADER);
	int rc = ckdir_gen_path(gdir, sizeof(gdir), c->o.dir, c->ck.gen);

	if (rc)
		return rc;
	/* the address each node's sub-coordinator reached us from: where the
	 * node's processes were (restarting elsewhere, they say where they
	 * are now: old peers' addresses keep working, preload/net_wrappers.c) */
	for (struct conn *p = c->conns; p; p = p->next) {
		struct sockaddr_in sa;
		socklen_t len = sizeof(sa);
		char ip[INET_ADDRSTRLEN];
		if (!p->member || !p->sub || getpeername(p->fd, (struct sockaddr *)&sa, &len) ||
		    sa.sin_family != AF_INET || !inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip)))
			continue;
		if (crest_eps_append_node(&c->eps.buf, &c->eps.len, &c->eps.cap, p->node, ip) == -ENOMEM)
			return -ENOMEM;
	}
	char host[sizeof(c->o.listen)];
	snprintf(host, sizeof(host), "%s", c->o.listen);
	if (strrchr(host, ':'))
		*strrchr(host, ':') = 0;
	if (host[0] && strcmp(host, "0.0.0.0") &&
	    crest_eps_append_node(&c->eps.buf, &c->eps.len, &c->eps.cap, c->o.node, host) == -ENOMEM)
		return -ENOMEM;
	char *text = malloc(hl + c->eps.len + 1);
	if (!text)
		return -ENOMEM;
	memcpy(text, CREST_EPS_HEADER, hl);
	if (c->eps.len)
		memcpy(text + hl, c->eps.buf, c->eps.len);
	snprintf(path, sizeof(path), "%s/ENDPOINTS", gdir);
	rc = ckdir_write_atomic(path, text, hl + c->eps.len, 0600);
	free(text);
	return rc;
}
