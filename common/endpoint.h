/* SPDX-License-Identifier: MIT */
/*
 * TCP endpoints of a computation (docs/protocol.md, "ENDPOINTS"): the text
 * name of one end of a connection, and gen-N/ENDPOINTS, the list of every
 * connected TCP socket of a generation, which `crest restart` reads to tell
 * a peer on another node of the computation from one outside it.
 */
#ifndef CREST_ENDPOINT_H
#define CREST_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>

#define CREST_EP_KEY_MAX	64

/*
 * "10.0.0.1:5000", "[fd00::1]:5000" (an IPv4-mapped IPv6 address is written
 * as IPv4, so both ends of a dual-stack connection name it alike); a
 * loopback address belongs to its node: "n3/127.0.0.1:5000".  0, or
 * -EAFNOSUPPORT for anything but AF_INET/AF_INET6.
 */
int crest_ep_key(const void *sockaddr, size_t len, uint32_t node, char *buf, size_t size);

/* the connections listed in gen-N/ENDPOINTS ("LOCAL PEER", one per
 * connected end), sorted for crest_eps_has(), and the address of each node
 * ("node N ADDRESS" lines) */
struct crest_eps {
	char **ends;
	size_t n;
	struct crest_eps_node { uint32_t node; char addr[CREST_EP_KEY_MAX]; } *nodes;
	size_t nnodes;
};

/* gen_dir/ENDPOINTS: 0, -ENOENT (a generation of an older crest: no
 * record), -EBADMSG naming the line in err */
int crest_eps_read(const char *gen_dir, struct crest_eps *eps, char *err, size_t errlen);
/* is an end listed whose local address is `local` and whose peer is
 * `peer` (keys of crest_ep_key)?  The other end of a connection, asked with
 * its addresses swapped: a listener's address alone (the peer of a client
 * whose connection was never accepted, or was closed by the server) does
 * not match another accepted connection of the listener */
int crest_eps_has(const struct crest_eps *eps, const char *local, const char *peer);
/* the address node had at the checkpoint, or NULL */
const char *crest_eps_node_addr(const struct crest_eps *eps, uint32_t node);
void crest_eps_free(struct crest_eps *eps);

/* one line "LOCAL PEER\n" of ENDPOINTS appended to *buf (grown) */
int crest_eps_append(char **buf, size_t *len, size_t *cap, const void *local, const void *peer, uint32_t node);
/* one line "node N ADDRESS\n" (an IPv4 address, the one other nodes reached
 * node N at) */
int crest_eps_append_node(char **buf, size_t *len, size_t *cap, uint32_t node, const char *addr);

#define CREST_EPS_HEADER	"crest-endpoints 1\n"

#endif
