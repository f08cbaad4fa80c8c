/* SPDX-License-Identifier: MIT */
/*
 * late_accept tcp|unix DIR [N]: connections that wait in a listener's
 * queue, not yet accepted, while checkpoints and restarts happen
 * (tests/bats/sockets.bats).
 *
 * The parent listens (TCP on 127.0.0.1, any port; or AF_UNIX at DIR/sock)
 * and forks N clients (default 3).  Each connects, sends "hello I", and
 * tells the parent over a pipe.  When all have, the parent prints "ready"
 * and waits for the file DIR/go, accepting nothing meanwhile.  Then, for
 * each client: poll() must say the listener is readable within 10 s, then
 * accept (accept() for the first, accept4(SOCK_CLOEXEC | SOCK_NONBLOCK) for
 * the others, whose flags are checked), read "hello I" and answer "ok I".
 * Each client checks its answer.  Prints "RESULT accepted=N" and PASS, or
 * FAIL and why.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void fail(const char *who, const char *what)
{
	printf("FAIL late_accept: %s: %s: %s\n", who, what, strerror(errno));
	fflush(stdout);
	_exit(1);
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* reads one line (without its newline) from a stream socket */
static int read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;
	while (n + 1 < size) {
		ssize_t r = read(fd, buf + n, 1);
		if (r < 0 && (errno == EINTR || errno == EAGAIN)) {
			struct pollfd p = { fd, POLLIN, 0 };
			poll(&p, 1, 1000);
			continue;
		}
		if (r <= 0)
			return -1;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = 0;
	return (int)n;
}

static void client(int i, const struct sockaddr *to, socklen_t tolen, int told)
{
	char msg[64], want[64], got[64];
	int s = socket(to->sa_family, SOCK_STREAM, 0);
	if (s < 0 || connect(s, to, tolen) < 0)
		fail("client", "connect");
	snprintf(msg, sizeof(msg), "hello %d\n", i);
	if (write(s, msg, strlen(msg)) != (ssize_t)strlen(msg))
		fail("client", "write");
	if (write(told, "c", 1) != 1)
		fail("client", "tell the parent");
	if (read_line(s, got, sizeof(got)) < 0)
		fail("client", "no answer");
	snprintf(want, sizeof(want), "ok %d", i);
	if (strcmp(got, want)) {
		printf("FAIL late_accept: client %d got '%s', not '%s'\n", i, got, want);
		fflush(stdout);
		_exit(1);
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	if (argc < 3 || (strcmp(argv[1], "tcp") && strcmp(argv[1], "unix"))) {
		fprintf(stderr, "usage: late_accept tcp|unix DIR [N]\n");
		return 2;
	}
	const char *dir = argv[2];
	int n = argc > 3 ? atoi(argv[3]) : 3;
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof(ss));
	setvbuf(stdout, NULL, _IOLBF, 0);

	int l;
	if (!strcmp(argv[1], "tcp")) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	} else {
		struct sockaddr_un *a = (struct sockaddr_un *)&ss;
		a->sun_family = AF_UNIX;
		snprintf(a->sun_path, sizeof(a->sun_path), "%s/sock", dir);
		unlink(a->sun_path);
		len = sizeof(*a);
	}
	l = socket(ss.ss_family, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&ss, len) < 0 || listen(l, 16) < 0 ||
	    getsockname(l, (struct sockaddr *)&ss, &len) < 0)
		fail("parent", "listen");
	int told[2];
	if (pipe(told) < 0)
		fail("parent", "pipe");
	pid_t kids[64];
	for (int i = 0; i < n && i < 64; i++) {
		kids[i] = fork();
		if (kids[i] < 0)
			fail("parent", "fork");
		if (!kids[i]) {
			close(l);
			close(told[0]);
			client(i, (struct sockaddr *)&ss, len, told[1]);
		}
	}
	close(told[1]);
	for (int i = 0; i < n; i++) {
		char c;
		if (read(told[0], &c, 1) != 1)
			fail("parent", "a client did not connect");
	}
	printf("ready\n");

	char go[4096];
	struct stat st;
	snprintf(go, sizeof(go), "%s/go", dir);
	while (stat(go, &st))
		nap_ms(50);

	int accepted = 0;
	for (int i = 0; i < n; i++) {
		struct pollfd p = { l, POLLIN, 0 };
		int r = poll(&p, 1, 10000);
		if (r < 0)
			fail("parent", "poll");
		if (r == 0) {
			printf("FAIL late_accept: the listener is not readable with %d connections still waiting\n",
			       n - i);
			return 1;
		}
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int c = i == 0 ? accept(l, (struct sockaddr *)&peer, &plen)
			       : accept4(l, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (c < 0)
			fail("parent", "accept");
		if (peer.ss_family != ss.ss_family)
			fail("parent", "accept gave an address of another family");
		int fdfl = fcntl(c, F_GETFD), fl = fcntl(c, F_GETFL);
		if (i == 0 ? (fdfl & FD_CLOEXEC) || (fl & O_NONBLOCK) : !(fdfl & FD_CLOEXEC) || !(fl & O_NONBLOCK)) {
			printf("FAIL late_accept: accepted fd %d has FD_CLOEXEC %d, O_NONBLOCK %d\n", c,
			       !!(fdfl & FD_CLOEXEC), !!(fl & O_NONBLOCK));
			return 1;
		}
		char line[64], answer[64];
		if (read_line(c, line, sizeof(line)) < 0 || strncmp(line, "hello ", 6))
			fail("parent", "no hello");
		snprintf(answer, sizeof(answer), "ok %s\n", line + 6);
		if (write(c, answer, strlen(answer)) != (ssize_t)strlen(answer))
			fail("parent", "answer");
		close(c);
		accepted++;
	}
	int bad = 0;
	for (int i = 0; i < n; i++) {
		int status;
		if (waitpid(kids[i], &status, 0) != kids[i] || !WIFEXITED(status) || WEXITSTATUS(status))
			bad = 1;
	}
	if (bad) {
		printf("FAIL late_accept: a client failed\n");
		return 1;
	}
	printf("RESULT accepted=%d\n", accepted);
	printf("PASS\n");
	return 0;
}
