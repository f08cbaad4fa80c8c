/* SPDX-License-Identifier: MIT */
/*
 * TCP endpoint names and gen-N/ENDPOINTS (endpoint.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "endpoint.h"

int crest_ep_key(const void *sockaddr, size_t len, uint32_t node, char *buf, size_t size)
{
	struct sockaddr_storage ss = { 0 };
	char ip[INET6_ADDRSTRLEN + 2], where[16] = "";
	unsigned port;
	bool loop;

	memcpy(&ss, sockaddr, len < sizeof(ss) ? len : sizeof(ss));
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
		port = ntohs(a->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
			inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], ip, sizeof(ip));
			loop = a->sin6_addr.s6_addr[12] == 127;
		} else {
			ip[0] = '[';
			inet_ntop(AF_INET6, &a->sin6_addr, ip + 1, sizeof(ip) - 2);
			strcat(ip, "]");
			loop = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
		}
	} else if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
		port = ntohs(a->sin_port);
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		loop = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	} else {
		return -EAFNOSUPPORT;
	}
	if (loop)	/* the same address on every node: only the node tells them apart */
		snprintf(where, sizeof(where), "n%u/", node);
	int w = snprintf(buf, size, "%s%s:%u", where, ip, port);
	return w > 0 && (size_t)w < size ? 0 : -ENAMETOOLONG;
}

static int append_line(char **buf, size_t *len, size_t *cap, const char *line)
{
	size_t need = *len + strlen(line) + 1;
	if (need > *cap) {
		size_t ncap = need * 2 > 4096 ? need * 2 : 4096;
		char *n = realloc(*buf, ncap);
		if (!n)
			return -ENOMEM;
		*buf = n;
		*cap = ncap;
	}
	*len += sprintf(*buf + *len, "%s", line);
	return 0;
}

int crest_eps_append(char **buf, size_t *len, size_t *cap, const void *local, const void *peer, uint32_t node)
{
	char l[CREST_EP_KEY_MAX], p[CREST_EP_KEY_MAX], line[2 * CREST_EP_KEY_MAX + 2];
	int rc = crest_ep_key(local, sizeof(struct sockaddr_in6), node, l, sizeof(l));

	if (!rc)
		rc = crest_ep_key(peer, sizeof(struct sockaddr_in6), node, p, sizeof(p));
	if (rc)
		return rc;
	snprintf(line, sizeof(line), "%s %s\n", l, p);
	return append_line(buf, len, cap, line);
}

int crest_eps_append_node(char **buf, size_t *len, size_t *cap, uint32_t node, const char *addr)
{
	char line[CREST_EP_KEY_MAX + 32];
	struct in_addr a;

	if (inet_pton(AF_INET, addr, &a) != 1)
		return -EINVAL;
	snprintf(line, sizeof(line), "node %u %s\n", node, addr);
	return append_line(buf, len, cap, line);
}

const char *crest_eps_node_addr(const struct crest_eps *eps, uint32_t node)
{
	for (size_t i = 0; i < eps->nnodes; i++)
		if (eps->nodes[i].node == node)
			return eps->nodes[i].addr;
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int crest_eps_read(const char *gen_dir, struct crest_eps *eps, char *err, size_t errlen)
{
	char path[4096 + 16], line[2 * CREST_EP_KEY_MAX + 8];
	size_t cap = 0, lineno = 0;
	int rc = 0;

	memset(eps, 0, sizeof(*eps));
	snprintf(path, sizeof(path), "%s/ENDPOINTS", gen_dir);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char l[CREST_EP_KEY_MAX], p[CREST_EP_KEY_MAX], extra;
		lineno++;
		if (lineno == 1) {
			if (strcmp(line, CREST_EPS_HEADER)) {
				snprintf(err, errlen, "%s: not a crest ENDPOINTS file (first line)", path);
				rc = -EBADMSG;
				break;
			}
			continue;
		}
		unsigned node;
		struct in_addr a;
		if (!strncmp(line, "node ", 5) && strchr(line, '\n') &&
		    sscanf(line, "node %u %63s %c", &node, p, &extra) == 2 && inet_pton(AF_INET, p, &a) == 1) {
			struct crest_eps_node *nn = realloc(eps->nodes, (eps->nnodes + 1) * sizeof(*nn));
			if (!nn) {
				rc = -ENOMEM;
				break;
			}
			eps->nodes = nn;
			eps->nodes[eps->nnodes].node = node;
			snprintf(eps->nodes[eps->nnodes].addr, sizeof(eps->nodes[0].addr), "%s", p);
			eps->nnodes++;
			continue;
		}
		if (!strchr(line, '\n') || sscanf(line, "%63s %63s %c", l, p, &extra) != 2 || !strcmp(l, "node")) {
			snprintf(err, errlen, "%s: line %zu is damaged", path, lineno);
			rc = -EBADMSG;
			break;
		}
		if (eps->n == cap) {
			cap = cap ? cap * 2 : 64;
			char **n = realloc(eps->ends, cap * sizeof(*n));
			if (!n) {
				rc = -ENOMEM;
				break;
			}
			eps->ends = n;
		}
		char pair[2 * CREST_EP_KEY_MAX + 2];
		snprintf(pair, sizeof(pair), "%s %s", l, p);
		if (!(eps->ends[eps->n] = strdup(pair))) {
			rc = -ENOMEM;
			break;
		}
		eps->n++;
	}
	if (!rc && lineno == 0) {
		snprintf(err, errlen, "%s is empty", path);
		rc = -EBADMSG;
	}
	fclose(f);
	if (rc) {
		crest_eps_free(eps);
		return rc;
	}
	qsort(eps->ends, eps->n, sizeof(*eps->ends), cmp_str);
	return 0;
}

int crest_eps_has(const struct crest_eps *eps, const char *local, const char *peer)
{
	char pair[2 * CREST_EP_KEY_MAX + 2];
	const char *key = pair;
	snprintf(pair, sizeof(pair), "%s %s", local, peer);
	return eps->n && bsearch(&key, eps->ends, eps->n, sizeof(*eps->ends), cmp_str) != NULL;
}

void crest_eps_free(struct crest_eps *eps)
{
	for (size_t i = 0; i < eps->n; i++)
		free(eps->ends[i]);
	free(eps->ends);
	free(eps->nodes);
	memset(eps, 0, sizeof(*eps));
}
