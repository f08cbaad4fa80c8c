/* SPDX-License-Identifier: MIT */
/* TCP links between crest's own programs (tcp_link.h) */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tcp_link.h"

#define LINK_IDLE_S		5
#define LINK_INTVL_S		2
#define LINK_PROBES		3
#define LINK_USER_TIMEOUT_MS	15000

int crest_tcp_parse(const char *text, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(text, ':');
	char *e;
	unsigned long port;

	if (!colon || (size_t)(colon - text) >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, colon - text);
	host[colon - text] = 0;
	errno = 0;
	port = strtoul(colon + 1, &e, 10);
	if (errno || e == colon + 1 || *e || port > 65535)
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

void crest_tcp_link_options(int fd)
{
	int one = 1, idle = LINK_IDLE_S, intvl = LINK_INTVL_S, probes = LINK_PROBES;
	unsigned tmo = LINK_USER_TIMEOUT_MS;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof(probes));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &tmo, sizeof(tmo));
}

int crest_tcp_connect(const struct sockaddr_in *sa, int timeout_ms)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), rc, err = 0;
	socklen_t len = sizeof(err);

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
		if (errno != EINPROGRESS) {
			rc = -errno;
			goto out_close;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		struct timespec t0, now;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		/* a signal (crest's own, when this runs in a checkpointed
		 * process) is no reason to give up: wait the time left */
		for (int left = timeout_ms; (rc = poll(&pfd, 1, left)) < 0 && errno == EINTR;) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			left = timeout_ms - (int)((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000);
			if (left < 0)
				left = 0;
		}
		if (rc <= 0) {
			rc = rc ? -errno : -ETIMEDOUT;
			goto out_close;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
			rc = err ? -err : -errno;
			goto out_close;
		}
	}
	if (fcntl(fd, F_SETFL, 0) < 0) {
		rc = -errno;
		goto out_close;
	}
	crest_tcp_link_options(fd);
	return fd;
out_close:
	close(fd);
	return rc;
}
