/* SPDX-License-Identifier: MIT */
/*
 * udp: a UDP server and two clients, processes of one computation, while
 * checkpoints and restarts happen.
 *   - the server (the parent) binds 127.0.0.1 to a port the kernel picks
 *     and answers each request "n" with "n*n" to the address it came from
 *     (recvfrom/sendto);
 *   - client A connect()s its socket to the server and uses send and a
 *     recv that SO_RCVTIMEO (100 ms) ends;
 *   - client B, unconnected, uses sendto and poll (100 ms) with recv; it set
 *     SO_BROADCAST;
 *   - the server's socket has SO_REUSEPORT.
 * Each option must still be set after every restart (each is checked at
 * every question).  A datagram in flight at a checkpoint may be lost
 * (crest drops what waits in a UDP socket, as a network may): a client that
 * hears nothing within 100 ms asks again, and takes only the answer to its
 * current question.
 * Each client sums n*n over ROUNDS questions; prints
 * `RESULT udp a=.. b=..` and PASS, or FAIL and why.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 5000

static void die(const char *who, const char *what)
{
	printf("FAIL udp: %s: %s: %s\n", who, what, strerror(errno));
	fflush(stdout);
	_exit(1);
}

static void nap(long us)
{
	struct timespec ts = { 0, us * 1000 };
	nanosleep(&ts, NULL);
}

/* the int option `name` is set on s (its value is not 0) */
static int opt_on(int s, int level, int name)
{
	int v = 0;
	socklen_t l = sizeof(v);
	return !getsockopt(s, level, name, &v, &l) && v;
}

static void check_options(int s, const char *who, unsigned long long q, int rcvtimeo, int broadcast, int reuseport)
{
	const char *lost = NULL;
	if (rcvtimeo) {
		struct timeval tv = { 0, 0 };
		socklen_t l = sizeof(tv);
		if (getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, &l) || tv.tv_sec != 0 || tv.tv_usec != 100000)
			lost = "SO_RCVTIMEO of 100 ms";
	}
	if (broadcast && !opt_on(s, SOL_SOCKET, SO_BROADCAST))
		lost = "SO_BROADCAST";
	if (reuseport && !opt_on(s, SOL_SOCKET, SO_REUSEPORT))
		lost = "SO_REUSEPORT";
	if (lost) {
		printf("FAIL udp: %s: %s is no longer set at question %llu\n", who, lost, q);
		fflush(stdout);
		_exit(1);
	}
}

/* answers until it got "0" from each of the two clients (one that asks
 * again, its answer lost, is counted once) */
static void serve(int s)
{
	unsigned long long served = 0;
	in_port_t done_port[2];
	int done = 0;
	while (done < 2) {
		char buf[64];
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(s, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&from, &fl);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("server", "recvfrom");
		buf[n] = 0;
		check_options(s, "server", ++served, 0, 0, 1);
		unsigned long long q = strtoull(buf, NULL, 10), a = q * q;
		if (q == 0 && !(done == 1 && done_port[0] == from.sin_port))
			done_port[done++] = from.sin_port;
		int l = snprintf(buf, sizeof(buf), "%llu %llu", q, a);
		if (sendto(s, buf, (size_t)l, 0, (struct sockaddr *)&from, fl) < 0 && errno != EINTR)
			die("server", "sendto");
	}
}

/* asks q until the answer to q comes (at most `tries` times, 0: no
 * limit); connected: send/recv */
static unsigned long long ask(int s, const struct sockaddr_in *to, unsigned long long q, const char *who,
			      int tries)
{
	char buf[64], want[32];
	int l = snprintf(buf, sizeof(buf), "%llu", q);
	snprintf(want, sizeof(want), "%llu ", q);
	for (int t = 0; !tries || t < tries; t++) {
		ssize_t w = to ? sendto(s, buf, (size_t)l, 0, (const struct sockaddr *)to, sizeof(*to))
			       : send(s, buf, (size_t)l, 0);
		if (w < 0 && errno != EINTR && errno != ECONNREFUSED)
			die(who, "send");
		struct pollfd p = { .fd = s, .events = POLLIN };
		while (!to || poll(&p, 1, 100) > 0) {	/* A: SO_RCVTIMEO ends recv */
			char in[64];
			ssize_t n = recv(s, in, sizeof(in) - 1, 0);
			if (n < 0 && (errno == EINTR || errno == ECONNREFUSED))
				continue;
			if (n < 0 && !to && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;	/* 100 ms without an answer: ask again */
			if (n < 0)
				die(who, "recv");
			in[n] = 0;
			if (!strncmp(in, want, strlen(want)))
				return strtoull(in + strlen(want), NULL, 10);
			/* an answer to an earlier question, asked twice: skip it */
		}
	}
	return 0;
}

static void client(const struct sockaddr_in *srv, int connected, const char *who, int out)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0), one = 1;
	struct timeval tmo = { 0, 100000 };
	if (s < 0)
		die(who, "socket");
	if (connected && setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo)))
		die(who, "SO_RCVTIMEO");
	if (!connected && setsockopt(s, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)))
		die(who, "SO_BROADCAST");
	if (connected && connect(s, (const struct sockaddr *)srv, sizeof(*srv)))
		die(who, "connect");
	unsigned long long sum = 0;
	for (unsigned long long q = 1; q <= ROUNDS; q++) {
		unsigned long long a = ask(s, connected ? NULL : srv, q, who, 0);
		if (a != q * q) {
			printf("FAIL udp: %s: %llu answered %llu\n", who, q, a);
			fflush(stdout);
			_exit(1);
		}
		sum += a;
		check_options(s, who, q, connected, !connected, 0);
		nap(2000);
	}
	ask(s, connected ? NULL : srv, 0, who, 20);	/* done (the server may have ended: the answer lost) */
	if (write(out, &sum, sizeof(sum)) != sizeof(sum))
		die(who, "write");
	_exit(0);
}

int main(void)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in srv = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(srv);
	int pa[2], pb[2];

	int one = 1;
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    bind(s, (struct sockaddr *)&srv, sizeof(srv)) || getsockname(s, (struct sockaddr *)&srv, &sl))
		die("server", "bind");
	if (pipe(pa) || pipe(pb))
		die("main", "pipe");
	printf("udp: server on port %u, %d questions per client\n", ntohs(srv.sin_port), ROUNDS);
	fflush(stdout);
	pid_t a = fork();
	if (a == 0) {
		close(s);
		client(&srv, 1, "client A", pa[1]);
	}
	pid_t b = fork();
	if (b == 0) {
		close(s);
		client(&srv, 0, "client B", pb[1]);
	}
	serve(s);
	unsigned long long sa = 0, sb = 0;
	if (read(pa[0], &sa, sizeof(sa)) != sizeof(sa) || read(pb[0], &sb, sizeof(sb)) != sizeof(sb))
		die("main", "a client's sum");
	int st;
	for (int i = 0; i < 2; i++)
		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
			printf("FAIL udp: a client ended badly (status %d)\n", st);
			return 1;
		}
	unsigned long long want = 0;
	for (unsigned long long q = 1; q <= ROUNDS; q++)
		want += q * q;
	if (sa != want || sb != want) {
		printf("FAIL udp: sums %llu and %llu, want %llu\n", sa, sb, want);
		return 1;
	}
	printf("RESULT udp a=%llu b=%llu\n", sa, sb);
	printf("PASS\n");
	return 0;
}
