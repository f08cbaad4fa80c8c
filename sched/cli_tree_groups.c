/* SPDX-License-Identifier: MIT */
/*
 * Process groups whose leader is gone.  A group outlives its leader: when
 * the process that made it (its id is the leader's pid) exits, the other
 * members stay in it, and kill(-id), getpgid and waitpid(-id) still name
 * it.  At a restart there is no process to make it again, so a holder
 * does: forked through a go-between (it is no restored process's child),
 * it makes a group of its own and stays in it until every process of the
 * tree has exec'ed crest-restart, by which time each member has joined it
 * (cli_tree.c join_groups).  The holder's pid is the group's id from then
 * on: the pid table maps the old id to it.
 *
 * Only in a session that comes back: the root's (the restarting shell's
 * now) and those a restored process leads.  A group the root is in stays
 * the shell's job; a group whose leader is a zombie is not made.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_tree_int.h"

static bool restored(const struct tree *t, uint32_t vpid)
{
	if (tree_find_proc(t, vpid) >= 0)
		return true;
	for (size_t k = 0; k < t->nz; k++)
		if (t->z[k].c.pid == vpid)
			return true;
	return false;
}

/* sid's session comes back: the root's, or one a restored process leads */
static bool session_back(const struct tree *t, uint32_t sid)
{
	int leader = tree_find_proc(t, sid);
	return sid == t->p[t->root].proc.sid || (leader >= 0 && t->p[leader].proc.sid == sid);
}

int tree_groups_plan(struct tree *t, int *slot)
{
	const struct crest_img_process *root = &t->p[t->root].proc;
	for (size_t i = 0; i < t->n; i++) {
		const struct crest_img_process *p = &t->p[i].proc;
		bool known = false;
		if ((int)i == t->root || p->pgid == p->pid || p->pgid == root->pgid || restored(t, p->pgid) ||
		    !session_back(t, p->sid))
			continue;
		for (size_t k = 0; k < t->ngroups && !known; k++)
			known = t->groups[k].pgid == p->pgid;
		if (known)
			continue;
		struct tgroup *ng = realloc(t->groups, (t->ngroups + 1) * sizeof(*ng));
		if (!ng)
			return -ENOMEM;
		t->groups = ng;
		t->groups[t->ngroups++] = (struct tgroup){ p->pgid, p->sid, (*slot)++ };
	}
	return 0;
}

/* the holder: waits for the end of `hold`, in a group of its own, deaf to
 * what the program may send the group meanwhile */
static void holder(int hold) __attribute__((noreturn));
static void holder(int hold)
{
	char c;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_IGN);
	if (dup2(hold, 0) != 0)
		_exit(1);
	/* nothing of the restart kept open (its pipes' ends, the shell's
	 * stdout, the write end of `hold`): glibc's closefrom falls back to
	 * /proc/self/fd where close_range is missing */
	closefrom(1);
	while (read(0, &c, 1) != 0 && errno == EINTR)
		;
	_exit(0);
}

void tree_groups_hold(struct tree *t, uint32_t sid)
{
	for (size_t k = 0; k < t->ngroups; k++) {
		struct tgroup *g = &t->groups[k];
		int hold[2], ready[2];
		pid_t h = 0;
		if (g->sid != sid)
			continue;
		if (pipe2(hold, O_CLOEXEC) < 0) {
			tree_record(t, g->slot, 0, 0);	/* every slot is filled: the processes wait for that */
			fprintf(stderr, "crest: restart: cannot make process group %u again: %m\n", g->pgid);
			continue;
		}
		if (pipe2(ready, O_CLOEXEC) < 0) {
			close(hold[0]);
			close(hold[1]);
			tree_record(t, g->slot, 0, 0);
			fprintf(stderr, "crest: restart: cannot make process group %u again: %m\n", g->pgid);
			continue;
		}
		pid_t mid = fork();
		if (mid == 0) {
			h = fork();
			if (h == 0)
				holder(hold[0]);
			if (h > 0 && setpgid(h, h) == 0 && write(ready[1], &h, sizeof(h)) == sizeof(h))
				_exit(0);
			_exit(1);
		}
		close(ready[1]);
		close(hold[0]);
		if (mid > 0) {
			if (read(ready[0], &h, sizeof(h)) != sizeof(h))
				h = 0;
			waitpid(mid, NULL, 0);
		}
		close(ready[0]);
		/* the write end, close-on-exec, at a high fd: every process forked
		 * from here on holds it until its exec */
		int w = h > 0 ? fcntl(hold[1], F_DUPFD_CLOEXEC, t->fd_base) : -1;
		close(hold[1]);
		/* without a holder the members stay in their parent's group, and
		 * the slot is an identity that translates nothing */
		if (w >= 0) {
			tree_record(t, g->slot, g->pgid, h);
		} else {
			tree_record(t, g->slot, 0, 0);
			fprintf(stderr, "crest: restart: cannot make process group %u again (its leader had exited); "
				"its processes join their parent's\n", g->pgid);
		}
	}
}
