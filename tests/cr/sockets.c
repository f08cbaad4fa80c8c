/* SPDX-License-Identifier: MIT */
/*
 * sockets: processes talking over sockets while checkpoints and restarts
 * happen.
 *   - a stream socketpair and a datagram socketpair between the parent and
 *     child A: ping-pong of numbered messages (A answers n with n+1);
 *   - TCP: the parent listens on 127.0.0.1 (any port); child B connects,
 *     sends numbered lines and reads each echo; half-way through B opens a
 *     second connection to the same listener (which must still listen after
 *     a restart) and finishes on it;
 *   - a seqpacket socketpair where the parent sends bursts of messages that
 *     child A reads only later (data waiting in the queue at a checkpoint).
 * Prints `RESULT stream=.. dgram=.. tcp=.. seq=..` and PASS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 5000
#define TCP_LINES 5000

static void die(const char *who, const char *what)
{
	printf("FAIL sockets: %s: %s: %s\n", who, what, strerror(errno));
	fflush(stdout);
	_exit(1);
}

static void nap(long us)
{
	struct timespec ts = { 0, us * 1000 };
	nanosleep(&ts, NULL);
}

static void xsend(int fd, const void *b, size_t n, const char *who)
{
	const char *p = b;
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die(who, "send");
		p += w;
		n -= w;
	}
}

static void xrecv(int fd, void *b, size_t n, const char *who)
{
	char *p = b;
	while (n) {
		ssize_t r = recv(fd, p, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = ECONNRESET;
			die(who, "recv");
		}
		p += r;
		n -= r;
	}
}

static void child_a(int st, int dg, int sq)
{
	long seqsum = 0;
	int seqn = 0;
	for (int i = 0; i < ROUNDS; i++) {
		uint32_t v;
		xrecv(st, &v, 4, "A stream");
		v++;
		xsend(st, &v, 4, "A stream");
		if (recv(dg, &v, 4, 0) != 4)
			die("A", "dgram recv");
		v += 2;
		if (send(dg, &v, 4, 0) != 4)
			die("A", "dgram send");
		if (i % 100 == 99) {	/* the burst the parent sent 100 rounds ago */
			for (int k = 0; k < 10; k++) {
				uint32_t m[3];
				if (recv(sq, m, sizeof(m), 0) != sizeof(m))
					die("A", "seqpacket recv");
				if ((int)m[0] != seqn)
					die("A", "seqpacket out of order");
				seqn++;
				seqsum += m[1];
			}
		}
	}
	xsend(st, &seqsum, sizeof(seqsum), "A stream");
	_exit(0);
}

static int tcp_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("B", "connect");
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void child_b(int port)
{
	int fd = tcp_connect(port);
	for (int i = 0; i < TCP_LINES; i++) {
		if (i == TCP_LINES / 2) {
			uint32_t bye = 0xffffffff;
			xsend(fd, &bye, 4, "B tcp");
			close(fd);
			fd = tcp_connect(port);
		}
		uint32_t v = (uint32_t)i, r;
		xsend(fd, &v, 4, "B tcp");
		xrecv(fd, &r, 4, "B tcp");
		if (r != 3 * v + 1)
			die("B", "wrong echo");
		nap(1500);
	}
	uint32_t bye = 0xffffffff;
	xsend(fd, &bye, 4, "B tcp");
	close(fd);
	_exit(0);
}

int main(void)
{
	int st[2], dg[2], sq[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, st) || socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sq))
		die("parent", "socketpair");
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t al = sizeof(a);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 4) ||
	    getsockname(l, (struct sockaddr *)&a, &al))
		die("parent", "listen");
	int port = ntohs(a.sin_port);
	printf("sockets: start, %d rounds, %d tcp lines\n", ROUNDS, TCP_LINES);
	fflush(stdout);
	pid_t pa = fork();
	if (pa == 0) {
		close(st[0]);
		close(dg[0]);
		close(sq[0]);
		close(l);
		child_a(st[1], dg[1], sq[1]);
	}
	pid_t pb = fork();
	if (pb == 0) {
		/* B keeps A's seqpacket end open (a socket shared by two
		 * processes, which both save); the others it closes */
		close(st[0]);
		close(dg[0]);
		close(sq[0]);
		close(st[1]);
		close(dg[1]);
		close(l);
		child_b(port);
	}
	close(st[1]);
	close(dg[1]);
	close(sq[1]);

	long stream_sum = 0, dgram_sum = 0, tcp_sum = 0, seq_sent = 0;
	int seq_no = 0, conns = 0, tcp_done = 0, round = 0;
	int c = -1;
	while (round < ROUNDS || !tcp_done) {
		if (round < ROUNDS) {
			uint32_t v = (uint32_t)round, r;
			if (round % 100 == 0) {	/* a burst A reads 99 rounds later */
				for (int k = 0; k < 10; k++) {
					uint32_t m[3] = { (uint32_t)seq_no++, (uint32_t)(round + k), 0 };
					if (send(sq[0], m, sizeof(m), 0) != sizeof(m))
						die("parent", "seqpacket send");
					seq_sent += m[1];
				}
			}
			xsend(st[0], &v, 4, "parent stream");
			xrecv(st[0], &r, 4, "parent stream");
			if (r != v + 1)
				die("parent", "stream answer");
			stream_sum += r;
			if (send(dg[0], &v, 4, 0) != 4 || recv(dg[0], &r, 4, 0) != 4)
				die("parent", "dgram");
			if (r != v + 2)
				die("parent", "dgram answer");
			dgram_sum += r;
			round++;
		}
		/* TCP: accept, echo */
		struct pollfd p = { c >= 0 ? c : l, POLLIN, 0 };
		if (poll(&p, 1, round < ROUNDS ? 1 : 100) > 0) {
			if (c < 0) {
				c = accept(l, NULL, NULL);
				if (c < 0)
					die("parent", "accept");
				conns++;
			} else {
				uint32_t v;
				xrecv(c, &v, 4, "parent tcp");
				if (v == 0xffffffff) {
					close(c);
					c = -1;
					if (conns == 2)
						tcp_done = 1;
				} else {
					uint32_t r = 3 * v + 1;
					xsend(c, &r, 4, "parent tcp");
					tcp_sum += v;
				}
			}
		}
		if (round < ROUNDS)
			nap(2000);
	}
	long seqsum = -1;
	xrecv(st[0], &seqsum, sizeof(seqsum), "parent stream");
	int bad = 0, status;
	for (int k = 0; k < 2; k++) {
		pid_t w = wait(&status);
		if (w != pa && w != pb) {
			printf("FAIL sockets: wait returned %d, children are %d and %d\n", (int)w, (int)pa, (int)pb);
			bad = 1;
		} else if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			printf("FAIL sockets: child %d ended with status %#x\n", (int)w, status);
			bad = 1;
		}
	}
	if (seqsum != seq_sent) {
		printf("FAIL sockets: A read seqpacket sum %ld, sent %ld\n", seqsum, seq_sent);
		bad = 1;
	}
	printf("RESULT stream=%ld dgram=%ld tcp=%ld seq=%ld conns=%d\n", stream_sum, dgram_sum, tcp_sum, seqsum, conns);
	if (bad)
		return 1;
	printf("PASS\n");
	return 0;
}
