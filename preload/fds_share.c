/* SPDX-License-Identifier: MIT */
/*
 * After a restart: open file descriptions shared with the parent and the
 * children are handed over (sched/cli_tree_files.c made the sockets; the
 * lines are in crest.rinfo.fd_links).  A child first receives its parent's
 * fds, in one message: an int32 array of the parent's fd numbers, and the
 * fds in SCM_RIGHTS, in that order.  A parent, once its own fds are back,
 * sends the fds each child asked for that it has open.  A child whose
 * parent sends nothing (it failed) reopens those files on its own, as every
 * file was before.
 */
#define LOG_MODULE "fds"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crest.h"
#include "log.h"

#define SHARE_MAX 64		/* TLINK_MAX of cli_tree_files.c */
#define SHARE_WAIT_MS 600000	/* the parent restores its memory first: it may be large */
_Static_assert(sizeof(int) == sizeof(int32_t), "an fd number is the int SCM_RIGHTS carries");

/* the next line of the links: its kind, socket and the rest; false at the end */
static bool next_line(const char **at, char *kind, int *sock, const char **rest)
{
	const char *p = *at;
	if (!*p)
		return false;
	*kind = *p;
	*sock = (int)strtol(p + 1, (char **)rest, 10);
	while (**rest == ' ')
		(*rest)++;
	const char *nl = strchr(p, '\n');
	*at = nl ? nl + 1 : p + strlen(p);
	return true;
}

static int record_of(int fd)
{
	for (uint32_t i = 0; i < crest.nfds; i++)
		if (crest.fds[i].img.fd == fd)
			return (int)i;
	return -1;
}

void crest_fds_share_receive(uint8_t *received, int base)
{
	const char *at = crest.rinfo.fd_links, *rest;
	char kind;
	int sock;
	while (next_line(&at, &kind, &sock, &rest)) {
		if (kind != 'i')
			continue;
		int pfd[SHARE_MAX], cfd[SHARE_MAX], n = 0;
		while (n < SHARE_MAX && *rest >= '0' && *rest <= '9') {
			char *e;
			pfd[n] = (int)strtol(rest, &e, 10);
			if (*e != ':')
				break;
			cfd[n++] = (int)strtol(e + 1, &e, 10);
			rest = *e == ',' ? e + 1 : e;
		}
		int32_t got[SHARE_MAX];
		union {
			char buf[CMSG_SPACE(SHARE_MAX * sizeof(int))];
			struct cmsghdr align;
		} c;
		struct iovec iov = { got, sizeof(got) };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
				    .msg_controllen = sizeof(c.buf) };
		struct pollfd p = { sock, POLLIN, 0 };
		ssize_t len = -1;
		if (poll(&p, 1, SHARE_WAIT_MS) == 1)
			len = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
		close(sock);
		struct cmsghdr *h = len > 0 ? CMSG_FIRSTHDR(&m) : NULL;
		int nfds = h && h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS ?
				   (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int)) : 0;
		int fds[SHARE_MAX];
		if (nfds > (int)(len / (ssize_t)sizeof(int32_t)))
			nfds = (int)(len / (ssize_t)sizeof(int32_t));
		/* the kernel put them at the lowest free fds, where this process's
		 * own fds go: above them all first */
		for (int j = 0; j < nfds; j++) {
			int fd;
			memcpy(&fd, CMSG_DATA(h) + j * sizeof(int), sizeof(int));
			fds[j] = fcntl(fd, F_DUPFD_CLOEXEC, base);
			close(fd);
		}
		int placed = 0;
		for (int j = 0; j < nfds; j++) {
			for (int k = 0; k < n && fds[j] >= 0; k++) {
				int r = got[j] == pfd[k] ? record_of(cfd[k]) : -1;
				if (r < 0 || received[r])
					continue;
				const struct crest_img_fd *rec = &crest.fds[r].img;
				if (rec->fd <= 2 && (crest.rinfo.inherit_fds >> rec->fd & 1)) {
					placed++;	/* the restarting shell's already, as the parent's is */
					continue;
				}
				if (dup3(fds[j], rec->fd, (rec->fd_flags & FD_CLOEXEC) ? O_CLOEXEC : 0) == rec->fd) {
					received[r] = 1;
					placed++;
				}
			}
			if (fds[j] >= 0)
				close(fds[j]);
		}
		if (placed < n)
			pr_warn("restart: %d of %d files shared with the parent did not come from it (%s); "
				"they are reopened on their own, their offsets no longer shared", n - placed, n,
				len < 0 ? "no message" : len == 0 ? "it ended" : "not sent or not placed");
	}
}

void crest_fds_share_send(void)
{
	const char *at = crest.rinfo.fd_links, *rest;
	char kind;
	int sock;
	while (next_line(&at, &kind, &sock, &rest)) {
		if (kind != 'o')
			continue;
		/* their numbers are the message, and the fds its SCM_RIGHTS */
		int32_t fds[SHARE_MAX];
		int n = 0;
		while (n < SHARE_MAX && *rest >= '0' && *rest <= '9') {
			char *e;
			fds[n] = (int32_t)strtol(rest, &e, 10);
			rest = *e == ',' ? e + 1 : e;
			if (fcntl(fds[n], F_GETFD) >= 0)
				n++;	/* else not back: the child reopens it */
		}
		union {
			char buf[CMSG_SPACE(SHARE_MAX * sizeof(int))];
			struct cmsghdr align;
		} c;
		memset(&c, 0, sizeof(c));
		struct iovec iov = { fds, n * sizeof(int32_t) };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
		if (n) {
			m.msg_control = c.buf;
			m.msg_controllen = CMSG_SPACE(n * sizeof(int));
			struct cmsghdr *h = CMSG_FIRSTHDR(&m);
			h->cmsg_level = SOL_SOCKET;
			h->cmsg_type = SCM_RIGHTS;
			h->cmsg_len = CMSG_LEN(n * sizeof(int));
			memcpy(CMSG_DATA(h), fds, n * sizeof(int));
		} else {
			static int32_t none = -1;
			iov.iov_base = &none;	/* a message all the same: the child stops waiting */
			iov.iov_len = sizeof(none);
		}
		if (sendmsg(sock, &m, MSG_NOSIGNAL) < 0)
			pr_warn("restart: cannot hand shared files to a child: %s", strerrordesc_np(errno));
		close(sock);
	}
}
