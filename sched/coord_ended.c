/* SPDX-License-Identifier: MIT */
/*
 * The Slurm tasks of a node that ended while the step runs on
 * (docs/slurm.md, "A task that ends before the others").  Restart needs
 * every task of the step: one that ended has no image, so a generation
 * records it with its wait status instead, and a restart from that
 * generation ends it again at once with the same status.
 *
 * A node's coordinator learns that a task ended twice: its first process's
 * connection closes (c->ntasks falls), and the plugin, once slurmstepd has
 * reaped the task, sends its status (TASK_ENDED, `crest step-task-end`).
 * Only a task whose status is known and none of whose processes still run
 * can be recorded; until then no generation is committed.  A restarted
 * step's coordinator starts with the ended tasks of the generation it
 * restarts from (--ended-tasks).  A sub-coordinator sends its node's list
 * to the root at WRITE (TASKS_ENDED), which writes them all in MANIFEST.
 *
 * What a coordinator learns here is also appended to RUNDIR/ENDED, which a
 * coordinator started again after this one died (preload/respawn.c) reads
 * when it starts (coord_ended_load): "task RANK STATUS" (this node's),
 * "node NODE RANK STATUS" and "done NODE" (the root, or a sub-coordinator
 * with nodes below it: a node whose tasks all ended), "back NODE" (served
 * again); not the --ended-tasks, which the
 * new one gets with the same command line.  crest step-start and launch
 * remove an earlier run's (ckdir_runtime_clear).
 */
#define LOG_MODULE "coord"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"
#include "log.h"

static bool replaying;	/* what ENDED or --ended-tasks already hold: no new lines */

/* one line appended to RUNDIR/ENDED */
static void note(const struct coord *c, const char *fmt, ...)
{
	char path[CKDIR_PATH_MAX + 16], line[96];
	va_list ap;

	if (replaying)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/ENDED", c->o.rundir);
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	ssize_t w = fd < 0 ? -1 : write(fd, line, (size_t)n);
	if (w != n)
		pr_warn("cannot append to %s (%s): a coordinator started again after this one died would not "
			"know it", path, w < 0 ? strerror(errno) : "short write");
	if (fd >= 0)
		close(fd);
}

static struct ckdir_ended *find(struct ckdir_ended *e, size_t n, uint32_t rank)
{
	for (size_t i = 0; i < n; i++)
		if (e[i].rank == rank)
			return &e[i];
	return NULL;
}

/* appended to *list unless there; -ENOMEM */
static int add(struct ckdir_ended **list, size_t *n, size_t *cap, uint32_t node, uint32_t rank, int32_t status)
{
	if (find(*list, *n, rank))
		return 0;
	if (*n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 16;
		struct ckdir_ended *e = realloc(*list, ncap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		*list = e;
		*cap = ncap;
	}
	(*list)[(*n)++] = (struct ckdir_ended){ .node = node, .rank = rank, .status = status };
	return 0;
}

/* rank is one of this node's (--task-ranks), or nothing says otherwise */
static bool rank_is_ours(const struct coord *c, uint32_t rank)
{
	const char *s = c->o.task_ranks;

	if (!s)
		return true;
	for (; *s; s += strcspn(s, ","), s += *s == ',')
		if (strtoul(s, NULL, 10) == rank)
			return true;
	return false;
}

int coord_ended_add(struct coord *c, uint32_t rank, int32_t status, const char *from)
{
	char how[32];

	if (!c->o.tasks || !rank_is_ours(c, rank)) {
		pr_warn("%s says task %" PRIu32 " ended, which is not a task of node %u; ignored", from, rank,
			c->o.node);
		return -EINVAL;
	}
	if (find(c->ended, c->nended, rank))
		return 0;	/* a restarted one ending again */
	if (add(&c->ended, &c->nended, &c->ended_cap, c->o.node, rank, status)) {
		pr_err("out of memory recording that task %" PRIu32 " ended", rank);
		return -ENOMEM;
	}
	ckdir_status_text(status, how, sizeof(how));
	pr_info("task %" PRIu32 " ended (%s), said by %s", rank, how, from);
	note(c, "task %" PRIu32 " %" PRId32 "\n", rank, status);
	return 0;
}

int coord_ended_parse(struct coord *c, const char *s)
{
	char *end;
	int rc = 0;

	replaying = true;	/* in argv: a coordinator started again has them there */
	for (const char *p = s; !rc && *p; p = end + (*end == ',')) {
		unsigned long rank = strtoul(p, &end, 10);
		if (end == p || *end != ':' || rank > UINT32_MAX) {
			rc = -EINVAL;
			break;
		}
		p = end + 1;
		long status = strtol(p, &end, 10);
		if (end == p || (*end && *end != ',') || status < 0 || status > 0xffff ||
		    coord_ended_add(c, (uint32_t)rank, (int32_t)status, "the generation restarted from"))
			rc = -EINVAL;
	}
	replaying = false;
	return rc;
}

bool coord_ended_has(const struct coord *c, uint32_t rank)
{
	return find(c->ended, c->nended, rank) != NULL;
}

bool coord_ended_unrecordable(struct coord *c, char *why, size_t size)
{
	if (!c->o.tasks || !c->started)
		return false;
	unsigned gone = c->ntasks + c->nended < c->o.tasks ? c->o.tasks - c->ntasks - (unsigned)c->nended : 0;
	if (gone) {
		snprintf(why, size, "%u of the %u tasks on node %u ended after the step started and how they ended "
			 "(their exit status, which the Slurm plugin sends when slurmstepd has reaped them) has not "
			 "reached crest: a generation without them could not be restarted", gone, c->o.tasks,
			 c->o.node);
		return true;
	}
	for (const struct conn *p = c->conns; p; p = p->next) {
		if (p->kind != CONN_PROC || p->dead || p->sub || !p->task_id || !coord_ended_has(c, p->task_id - 1))
			continue;
		snprintf(why, size, "task %u on node %u ended, but process %d (%s) it started still runs: a restart "
			 "could not give it back its task, so no generation is taken until it ends", p->task_id - 1,
			 c->o.node, (int)p->pid, p->exe);
		return true;
	}
	return false;
}

/* entries to the parent, each message of one node (as the entries are) */
static int send_entries(struct coord *c, const struct ckdir_ended *e, size_t n, uint64_t gen, uint32_t flags)
{
	static struct crest_msg_tasks_ended m;
	size_t i = 0;

	if (!c->parent)
		return -ENOTCONN;
	while (i < n) {
		memset(&m, 0, sizeof(m));
		m.generation = gen;
		m.node = e[i].node;
		for (; i < n && m.n < CREST_ENDED_MAX && e[i].node == m.node; i++, m.n++) {
			m.t[m.n].rank = e[i].rank;
			m.t[m.n].status = e[i].status;
		}
		m.more = (i < n && e[i].node == m.node ? CREST_ENDED_MORE : 0) | flags;
		int rc = coord_send(c, c->parent, CREST_MSG_TASKS_ENDED, &m, sizeof(m));
		if (rc)
			return rc;
	}
	return 0;
}

int coord_ended_send_up(struct coord *c)
{
	int rc = send_entries(c, c->ended, c->nended, c->ck.gen, 0);

	/* and those of the nodes below, as their sub-coordinators sent them */
	for (const struct conn *p = c->conns; !rc && p; p = p->next)
		if (p->member && p->sub)
			rc = send_entries(c, p->ended, p->nended, c->ck.gen, 0);
	return rc;
}

/* sub: the nodes below whose tasks all ended, to a parent it said HELLO
 * to again (a new root does not know them) */
void coord_ended_done_up(struct coord *c)
{
	for (size_t d = 0; d < c->ndone_nodes; d++) {
		size_t k = 0;
		struct ckdir_ended *e = malloc((c->ndone_ended ? c->ndone_ended : 1) * sizeof(*e));
		if (!e)
			return;
		for (size_t i = 0; i < c->ndone_ended; i++)
			if (c->done_ended[i].node == c->done_nodes[d])
				e[k++] = c->done_ended[i];
		if (k && send_entries(c, e, k, 0, CREST_ENDED_NODE_DONE))
			pr_warn("cannot tell the parent that every task of node %u ended", c->done_nodes[d]);
		free(e);
	}
}

/*
 * Slurm ends a step on a node once the node's tasks have all ended, and
 * the plugin then stops its coordinator while the other nodes run on.  A
 * sub-coordinator says so first, with the tasks' statuses, so that the
 * root goes on taking generations (which record them) without the node.
 */
void coord_ended_node_done(struct coord *c)
{
	if (!coord_is_sub(c) || !c->o.tasks || c->nended < c->o.tasks)
		return;
	coord_tree_leaving(c);
	/* a restarted node whose tasks had all ended may not have reached its
	 * parent yet */
	coord_tree_up_now(c);
	if (!c->parent || !c->hello_sent) {
		pr_warn("every task of node %u ended, but the root %s cannot be told: the step's later checkpoints "
			"will miss this node", c->o.node, c->o.parent);
		return;
	}
	if (send_entries(c, c->ended, c->nended, 0, CREST_ENDED_NODE_DONE))
		pr_warn("cannot tell the root that every task of node %u ended: the step's later checkpoints "
			"will miss this node", c->o.node);
	else
		pr_info("every task of node %u ended: told the root%s, which goes on without this node", c->o.node,
			c->o.root_file[0] ? " (through the parent)" : "");
}

/*
 * The plugin sends each task's status (task_exit) before it stops the
 * coordinator (exit), but on connections of their own: the SHUTDOWN may be
 * read first.  A sub-coordinator none of whose task processes is connected
 * any more waits up to STOP_WAIT_ENDED_MS for the statuses still missing.
 */
#define STOP_WAIT_ENDED_MS 2000

void coord_ended_shutdown(struct coord *c)
{
	if (coord_is_sub(c) && c->o.tasks && c->nended < c->o.tasks && !c->ntasks) {
		pr_info("%zu of the %u tasks' statuses are here: waiting up to %d ms for the others before "
			"stopping", c->nended, c->o.tasks, STOP_WAIT_ENDED_MS);
		c->stop_wait_ms = coord_now_ms();
		return;
	}
	coord_ended_node_done(c);
	coord_stop = 1;
}

void coord_ended_stop_tick(struct coord *c)
{
	if (!c->stop_wait_ms ||
	    (c->nended < c->o.tasks && coord_now_ms() - c->stop_wait_ms < STOP_WAIT_ENDED_MS))
		return;
	c->stop_wait_ms = 0;
	coord_ended_node_done(c);
	coord_stop = 1;
}

static bool node_is_done(const struct coord *c, uint32_t node)
{
	for (size_t i = 0; i < c->ndone_nodes; i++)
		if (c->done_nodes[i] == node)
			return true;
	return false;
}

static bool node_served(const struct coord *c, uint32_t node)
{
	return coord_sub_of(c, node) != NULL;
}

unsigned coord_ended_nodes_away(const struct coord *c)
{
	unsigned n = 0;

	for (size_t i = 0; i < c->ndone_nodes; i++)
		n += !node_served(c, c->done_nodes[i]);
	return n;
}

void coord_ended_node_back(struct coord *c, uint32_t node)
{
	size_t k = 0;

	if (!node_is_done(c, node))
		return;
	for (size_t i = 0; i < c->ndone_nodes; i++)
		if (c->done_nodes[i] != node)
			c->done_nodes[k++] = c->done_nodes[i];
	c->ndone_nodes = k;
	k = 0;
	for (size_t i = 0; i < c->ndone_ended; i++)
		if (c->done_ended[i].node != node)
			c->done_ended[k++] = c->done_ended[i];
	c->ndone_ended = k;
	pr_info("node %u, whose tasks had all ended, is served by a sub-coordinator again", node);
	note(c, "back %u\n", node);
}

/* root: node's task rank ended with status, as node-done said */
static int done_add(struct coord *c, uint32_t node, uint32_t rank, int32_t status)
{
	if (add(&c->done_ended, &c->ndone_ended, &c->done_ended_cap, node, rank, status)) {
		pr_err("out of memory recording the ended tasks of node %u", node);
		return -ENOMEM;
	}
	note(c, "node %u %" PRIu32 " %" PRId32 "\n", node, rank, status);
	return 0;
}

/* root: every task of node ended (its entries are in done_ended) */
static int done_mark(struct coord *c, uint32_t node)
{
	if (c->ndone_nodes == c->done_nodes_cap) {
		size_t ncap = c->done_nodes_cap ? 2 * c->done_nodes_cap : 8;
		uint32_t *d = realloc(c->done_nodes, ncap * sizeof(*d));
		if (!d) {
			pr_err("out of memory recording that node %u is done", node);
			return -ENOMEM;
		}
		c->done_nodes = d;
		c->done_nodes_cap = ncap;
	}
	c->done_nodes[c->ndone_nodes++] = node;
	note(c, "done %u\n", node);
	return 0;
}

/* NODE_DONE of m->node from the sub-coordinator p (of that node, or of
 * one above it); a sub-coordinator records it too (it counts the node as
 * there) and passes it up */
static void node_done_from_sub(struct coord *c, struct conn *p, const struct crest_msg_tasks_ended *m)
{
	struct conn *o = coord_sub_of(c, m->node);

	if (!m->node || m->node == c->o.node || (o && o != p) || (c->o.nodes && !o && m->node >= c->o.nodes &&
								     !coord_is_sub(c))) {
		pr_warn("the sub-coordinator of node %u said that the tasks of node %u ended, which it does not "
			"answer for; ignored", p->node, m->node);
		return;
	}
	if (coord_is_sub(c) && c->parent && c->hello_sent)
		coord_send(c, c->parent, CREST_MSG_TASKS_ENDED, m, sizeof(*m));
	if (node_is_done(c, m->node)) {
		pr_warn("node %u said twice that its tasks ended; ignored", m->node);
		return;
	}
	for (uint32_t i = 0; i < m->n; i++)
		if (done_add(c, m->node, m->t[i].rank, m->t[i].status))
			return;
	if (m->more & CREST_ENDED_MORE || done_mark(c, m->node))
		return;
	pr_info("every task of node %u ended (%zu recorded); later generations record them and do not wait "
		"for the node", m->node, c->ndone_ended);
}

void coord_ended_from_sub(struct coord *c, struct conn *p, const struct crest_msg_tasks_ended *m)
{
	if (m->n > CREST_ENDED_MAX)
		return;
	for (uint32_t i = 0; i < m->n; i++)
		if (m->t[i].status < 0 || m->t[i].status > 0xffff) {
			pr_warn("node %u sent an ended task %" PRIu32 " with status %" PRId32 ", which is no wait "
				"status; ignored", p->node, m->t[i].rank, m->t[i].status);
			if (c->ck.step != CK_IDLE)
				coord_ckpt_abort(c, -EPROTO, "checkpoint aborted: node %u sent a task status that is "
						 "no wait status", p->node);
			return;
		}
	if (m->more & CREST_ENDED_NODE_DONE) {
		node_done_from_sub(c, p, m);
		return;
	}
	if (c->ck.step != CK_WRITE || !p->member || m->generation != c->ck.gen) {
		pr_debug("node %u: TASKS_ENDED for generation %" PRIu64 " ignored", p->node, m->generation);
		return;
	}
	if (!coord_sub_has(p, m->node)) {
		coord_ckpt_abort(c, -EPROTO, "checkpoint aborted: node %u sent the ended tasks of node %u, which it "
				 "does not answer for", p->node, m->node);
		return;
	}
	for (uint32_t i = 0; i < m->n; i++)
		if (add(&p->ended, &p->nended, &p->ended_cap, m->node, m->t[i].rank, m->t[i].status)) {
			coord_ckpt_abort(c, -ENOMEM, "checkpoint aborted: out of memory");
			return;
		}
}

int coord_ended_collect(const struct coord *c, struct ckdir_manifest *man)
{
	size_t n = c->nended + c->ndone_ended;

	for (const struct conn *p = c->conns; p; p = p->next)
		if (p->member && p->sub)
			n += p->nended;
	man->nended = 0;
	man->ended = n ? calloc(n, sizeof(*man->ended)) : NULL;
	if (n && !man->ended)
		return -ENOMEM;
	for (size_t i = 0; i < c->nended; i++)
		man->ended[man->nended++] = c->ended[i];
	for (size_t i = 0; i < c->ndone_ended; i++)
		man->ended[man->nended++] = c->done_ended[i];
	for (const struct conn *p = c->conns; p; p = p->next)
		if (p->member && p->sub)
			for (size_t i = 0; i < p->nended; i++)
				man->ended[man->nended++] = p->ended[i];
	return 0;
}

int coord_ended_load(struct coord *c)
{
	char path[CKDIR_PATH_MAX + 16], line[96];
	unsigned long a, b;
	long st;
	int rc = 0, lineno = 0;

	snprintf(path, sizeof(path), "%s/ENDED", c->o.rundir);
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	replaying = true;
	while (!rc && fgets(line, sizeof(line), f)) {
		lineno++;
		if (sscanf(line, "task %lu %ld", &a, &st) == 2 && a <= UINT32_MAX && st >= 0 && st <= 0xffff)
			rc = coord_ended_add(c, (uint32_t)a, (int32_t)st, "the coordinator that ran before this one");
		else if (sscanf(line, "node %lu %lu %ld", &a, &b, &st) == 3 && a <= UINT32_MAX && b <= UINT32_MAX &&
			 st >= 0 && st <= 0xffff)
			rc = done_add(c, (uint32_t)a, (uint32_t)b, (int32_t)st);
		else if (sscanf(line, "done %lu", &a) == 1 && a <= UINT32_MAX)
			rc = node_is_done(c, (uint32_t)a) ? 0 : done_mark(c, (uint32_t)a);
		else if (sscanf(line, "back %lu", &a) == 1 && a <= UINT32_MAX)
			coord_ended_node_back(c, (uint32_t)a);
		else
			rc = -EBADMSG;
	}
	replaying = false;
	fclose(f);
	if (rc)
		pr_err("%s, line %d: %s; a coordinator that ran here before this one died, and what it knew of "
		       "tasks that ended is lost", path, lineno, rc == -EBADMSG ? "not understood" : strerror(-rc));
	else if (c->nended || c->ndone_nodes)
		pr_info("%s: %zu of this node's tasks had ended, and %zu whole nodes (a coordinator ran here "
			"before this one)", path, c->nended, c->ndone_nodes);
	return rc;
}
