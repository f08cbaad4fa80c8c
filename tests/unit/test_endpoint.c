/* SPDX-License-Identifier: MIT */
/* Unit tests of endpoint names and gen-N/ENDPOINTS (common/endpoint.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "ckdir.h"
#include "endpoint.h"
#include "harness.h"

static void v4(struct sockaddr_in *a, const char *ip, unsigned port)
{
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	EXPECT_EQ(inet_pton(AF_INET, ip, &a->sin_addr), 1);
}

static void v6(struct sockaddr_in6 *a, const char *ip, unsigned port)
{
	memset(a, 0, sizeof(*a));
	a->sin6_family = AF_INET6;
	a->sin6_port = htons(port);
	EXPECT_EQ(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
}

TEST(keys)
{
	struct sockaddr_in a;
	struct sockaddr_in6 b;
	char k[CREST_EP_KEY_MAX];

	v4(&a, "10.0.0.2", 5000);
	EXPECT_EQ(crest_ep_key(&a, sizeof(a), 3, k, sizeof(k)), 0);
	EXPECT(!strcmp(k, "10.0.0.2:5000"));
	/* loopback is per node */
	v4(&a, "127.0.0.1", 80);
	EXPECT_EQ(crest_ep_key(&a, sizeof(a), 3, k, sizeof(k)), 0);
	EXPECT(!strcmp(k, "n3/127.0.0.1:80"));
	/* a dual-stack socket names an IPv4 peer as IPv4 */
	v6(&b, "::ffff:10.0.0.2", 5000);
	EXPECT_EQ(crest_ep_key(&b, sizeof(b), 0, k, sizeof(k)), 0);
	EXPECT(!strcmp(k, "10.0.0.2:5000"));
	v6(&b, "::ffff:127.0.0.1", 5000);
	EXPECT_EQ(crest_ep_key(&b, sizeof(b), 1, k, sizeof(k)), 0);
	EXPECT(!strcmp(k, "n1/127.0.0.1:5000"));
	v6(&b, "fd00::1", 7);
	EXPECT_EQ(crest_ep_key(&b, sizeof(b), 0, k, sizeof(k)), 0);
	EXPECT(!strcmp(k, "[fd00::1]:7"));
	v6(&b, "::1", 7);
	EXPECT_EQ(crest_ep_key(&b, sizeof(b), 2, k, sizeof(k)), 0);
	EXPECT(!strcmp(k, "n2/[::1]:7"));
	/* unknown family; too small a buffer */
	a.sin_family = AF_UNIX;
	EXPECT_EQ(crest_ep_key(&a, sizeof(a), 0, k, sizeof(k)), -EAFNOSUPPORT);
	v4(&a, "10.0.0.2", 5000);
	EXPECT_EQ(crest_ep_key(&a, sizeof(a), 0, k, 8), -ENAMETOOLONG);
}

static char dir[64];

static void put(const char *text)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/ENDPOINTS", dir);
	FILE *f = fopen(p, "w");
	EXPECT(f);
	fputs(text, f);
	fclose(f);
}

TEST(file_roundtrip_and_damage)
{
	struct sockaddr_in6 l = { 0 }, p = { 0 };
	struct sockaddr_in *l4 = (struct sockaddr_in *)&l, *p4 = (struct sockaddr_in *)&p;
	struct crest_eps eps;
	char *buf = NULL, err[256];
	size_t len = 0, cap = 0;

	strcpy(dir, "/tmp/crest-test-ep-XXXXXX");
	EXPECT(mkdtemp(dir));
	EXPECT_EQ(crest_eps_read(dir, &eps, err, sizeof(err)), -ENOENT);
	v4(l4, "10.0.0.2", 5000);
	v4(p4, "10.0.0.3", 6000);
	EXPECT_EQ(crest_eps_append(&buf, &len, &cap, &l, &p, 1), 0);
	EXPECT_EQ(crest_eps_append(&buf, &len, &cap, &p, &l, 2), 0);
	v4(l4, "127.0.0.1", 1);
	v4(p4, "127.0.0.1", 2);
	EXPECT_EQ(crest_eps_append(&buf, &len, &cap, &l, &p, 4), 0);
	char text[1024];
	snprintf(text, sizeof(text), "%s%.*s", CREST_EPS_HEADER, (int)len, buf);
	put(text);
	EXPECT_EQ(crest_eps_read(dir, &eps, err, sizeof(err)), 0);
	EXPECT_EQ(eps.n, 3);
	EXPECT(crest_eps_has(&eps, "10.0.0.2:5000", "10.0.0.3:6000"));
	EXPECT(crest_eps_has(&eps, "10.0.0.3:6000", "10.0.0.2:5000"));
	EXPECT(crest_eps_has(&eps, "n4/127.0.0.1:1", "n4/127.0.0.1:2"));
	EXPECT(!crest_eps_has(&eps, "n4/127.0.0.1:2", "n4/127.0.0.1:1"));	/* a peer, not a local end */
	EXPECT(!crest_eps_has(&eps, "127.0.0.1:1", "127.0.0.1:2"));
	/* the listener's address with another peer: another connection of it */
	EXPECT(!crest_eps_has(&eps, "10.0.0.2:5000", "10.0.0.3:6001"));
	crest_eps_free(&eps);
	free(buf);
	/* node addresses, beside the connections */
	buf = NULL;
	len = cap = 0;
	EXPECT_EQ(crest_eps_append_node(&buf, &len, &cap, 2, "10.0.0.12"), 0);
	EXPECT_EQ(crest_eps_append_node(&buf, &len, &cap, 0, "10.0.0.1"), 0);
	EXPECT_EQ(crest_eps_append_node(&buf, &len, &cap, 3, "node3"), -EINVAL);
	snprintf(text, sizeof(text), "%s10.0.0.2:5000 10.0.0.3:6000\n%.*s", CREST_EPS_HEADER, (int)len, buf);
	free(buf);
	put(text);
	EXPECT_EQ(crest_eps_read(dir, &eps, err, sizeof(err)), 0);
	EXPECT_EQ(eps.n, 1);
	EXPECT(!strcmp(crest_eps_node_addr(&eps, 2), "10.0.0.12"));
	EXPECT(!strcmp(crest_eps_node_addr(&eps, 0), "10.0.0.1"));
	EXPECT(crest_eps_node_addr(&eps, 1) == NULL);
	EXPECT(!crest_eps_has(&eps, "node", "2"));
	crest_eps_free(&eps);
	put(CREST_EPS_HEADER "node 2 nowhere\n");
	EXPECT_EQ(crest_eps_read(dir, &eps, err, sizeof(err)), -EBADMSG);
	/* header alone: no connection */
	put(CREST_EPS_HEADER);
	EXPECT_EQ(crest_eps_read(dir, &eps, err, sizeof(err)), 0);
	EXPECT_EQ(eps.n, 0);
	EXPECT(!crest_eps_has(&eps, "10.0.0.2:5000", "10.0.0.3:6000"));
	crest_eps_free(&eps);
	/* damaged: refused, naming the line */
	put("something else\n");
	EXPECT_EQ(crest_eps_read(dir, &eps, err, sizeof(err)), -EBADMSG);
	put(CREST_EPS_HEADER "10.0.0.2:5000\n");
	EXPECT_EQ(crest_eps_read(dir, &eps, err, sizeof(err)), -EBADMSG);
	EXPECT(strstr(err, "line 2"));
	put(CREST_EPS_HEADER "a b c\n");
	EXPECT_EQ(crest_eps_read(dir, &eps, err, sizeof(err)), -EBADMSG);
	put(CREST_EPS_HEADER "a b");	/* cut short */
	EXPECT_EQ(crest_eps_read(dir, &eps, err, sizeof(err)), -EBADMSG);
	put("");
	EXPECT_EQ(crest_eps_read(dir, &eps, err, sizeof(err)), -EBADMSG);
	ckdir_rmtree(dir);
}

int main(void)
{
	return RUN_TESTS();
}
