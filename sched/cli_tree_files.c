/* SPDX-License-Identifier: MIT */
/*
 * Open file descriptions a parent shares with its children.  A file a
 * process opened before it forked is one description in both: one offset,
 * so that a shell's `{ a; b & c; } > log` writes each line after the last.
 * The checkpoint records a child's fd that is its parent's description
 * with the parent's fd (CREST_FD_SAME_PARENT, preload/fds.c).  Each process
 * reopens its files in its own libcrest, through its own path map, so here
 * only the way is made: one socket pair per parent and child that share
 * some, over which the parent's libcrest, once its own fds are back, sends
 * those fds (SCM_RIGHTS) and the child's receives them at its fds
 * (preload/fds_share.c).  A grandchild that shares it too gets it from the
 * child in turn.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli_tree_int.h"

static struct tlink *find_link(struct tree *t, int parent, int child)
{
	for (size_t i = 0; i < t->nlinks; i++)
		if (t->links[i].parent == parent && t->links[i].child == child)
			return &t->links[i];
	struct tlink *nl = realloc(t->links, (t->nlinks + 1) * sizeof(*nl));
	if (!nl)
		return NULL;
	t->links = nl;
	struct tlink *l = &t->links[t->nlinks++];
	*l = (struct tlink){ .parent = parent, .child = child, .sock = { -1, -1 } };
	return l;
}

int tree_files_plan(struct tree *t)
{
	for (size_t c = 0; c < t->n; c++) {
		const struct tproc *tp = &t->p[c];
		if (tp->parent < 0 || tp->orphan)
			continue;
		for (size_t k = 0; k < tp->nfds; k++) {
			const struct crest_img_fd *r = &tp->fds[k];
			int pfd = CREST_FD_PARENT_FD(r);
			const struct crest_img_fd *in_parent = pfd < 0 ? NULL : tree_fd_rec(&t->p[tp->parent], pfd);
			/* a child's 0-2 that get the restarting shell's: nothing to hand over */
			if (r->kind != CREST_FD_FILE || !in_parent || in_parent->kind != CREST_FD_FILE ||
			    (r->fd <= 2 && tree_root_stdio(t, r) >= 0))
				continue;
			struct tlink *l = find_link(t, tp->parent, (int)c);
			if (!l)
				return -1;
			if (l->n < TLINK_MAX) {
				l->pfd[l->n] = pfd;
				l->cfd[l->n++] = r->fd;
			}
		}
	}
	return 0;
}

int tree_files_make(struct tree *t, char *err, size_t errlen)
{
	for (size_t i = 0; i < t->nlinks; i++) {
		struct tlink *l = &t->links[i];
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
			snprintf(err, errlen, "cannot make a socket pair to hand over shared files: %m");
			return -1;
		}
		for (int e = 0; e < 2; e++) {
			l->sock[e] = fcntl(sv[e], F_DUPFD_CLOEXEC, t->fd_base);
			close(sv[e]);
			if (l->sock[e] < 0) {
				snprintf(err, errlen, "cannot move a socket above fd %d: %m", t->fd_base);
				return -1;
			}
		}
	}
	return 0;
}

bool tree_files_keep(const struct tree *t, int i, int fd)
{
	for (size_t k = 0; k < t->nlinks; k++) {
		const struct tlink *l = &t->links[k];
		if ((l->parent == i && l->sock[0] == fd) || (l->child == i && l->sock[1] == fd))
			return true;
	}
	return false;
}

size_t tree_files_arg(const struct tree *t, int i, char *buf, size_t size)
{
	size_t used = 0;
	buf[0] = 0;
	for (size_t k = 0; k < t->nlinks; k++) {
		const struct tlink *l = &t->links[k];
		bool out = l->parent == i;
		if (!out && l->child != i)
			continue;
		char line[TLINK_MAX * 24 + 32];
		size_t len = (size_t)snprintf(line, sizeof(line), "%c %d ", out ? 'o' : 'i', l->sock[out ? 0 : 1]);
		for (int j = 0; j < l->n; j++)
			len += (size_t)(out ? snprintf(line + len, sizeof(line) - len, "%s%d", j ? "," : "", l->pfd[j])
					    : snprintf(line + len, sizeof(line) - len, "%s%d:%d", j ? "," : "", l->pfd[j],
						       l->cfd[j]));
		if (used + len + 2 > size)
			continue;	/* does not fit: the child reopens those files on its own */
		memcpy(buf + used, line, len);
		used += len;
		buf[used++] = '\n';
		buf[used] = 0;
		fcntl(l->sock[out ? 0 : 1], F_SETFD, 0);	/* through exec into crest-restart */
	}
	return used;
}
