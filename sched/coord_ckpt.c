/* SPDX-License-Identifier: MIT */
/*
 * The checkpoint state machine of crest-coord:
 *
 *   start:   gen = next number, mkdir gen-N/n0
 *   PREPARE  -> every member PHASE_OK
 *   SUSPEND  -> every member PHASE_OK (threads stopped)
 *   WRITE    -> every member PHASE_OK (image written), PROGRESS meanwhile
 *   COMMIT   MANIFEST, fsync, latest -> gen-N
 *   RESUME   (CREST_CKPT_EXIT if asked to kill), prune, CKPT_RESULT
 *
 * Any PHASE_FAIL, timeout or disconnection of a suspended member aborts:
 * ABORT to every member still connected, gen-N removed, latest untouched.
 *
 * Process trees (docs/protocol.md, "membership"): every process connected
 * when the checkpoint starts is a member; a process that registers during
 * PREPARE or SUSPEND (a new child, a program just exec'ed) joins and is
 * sent PREPARE then SUSPEND.  Each suspended member lists its children;
 * WRITE starts only when every child is a suspended member, a zombie or
 * gone.  A member that disconnects before it is suspended (exec or exit)
 * is waited for the same way: an exec'ed program registers again with the
 * same pid.  A pid that stays alive without joining for --timeout fails the
 * checkpoint, naming it (a static binary, a setuid program, a cleared
 * environment: libcrest is not in it).
 *
 * A sub-coordinator (docs/protocol.md, "The coordinator tree") runs the
 * same machine for its node's processes, but each step is started by its
 * parent's message (coord_ckpt_from_parent) and, once every local member
 * answered, it answers its parent once (report_up) instead of moving on.
 * The root sees it as one member; its images come in IMAGES messages.
 */
#define LOG_MODULE "ckpt"
#include <errno.h>
#include <signal.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "created.h"
#include "fault.h"
#include "signame.h"
#include "log.h"

#define SCAN_MS 250	/* members looked at for timeouts this often */

const char *coord_step_name(enum ckpt_step step)
{
	switch (step) {
	case CK_IDLE: return "IDLE";
	case CK_PREPARE: return "PREPARE";
	case CK_SUSPEND: return "SUSPEND";
	case CK_WRITE: return "WRITE";
	case CK_COMMIT: return "COMMIT";
	}
	return "?";
}

/* snprintf that may truncate: messages are cut, never overflow */
static void settext(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void settext(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

static void reply_waiters(struct coord *c, int error, const char *text)
{
	struct crest_msg_result res = { .error = error, .generation = c->ck.gen };

	settext(res.text, sizeof(res.text), "%s", text ? text : "");
	for (struct conn *p = c->conns; p; p = p->next) {
		if (p->kind != CONN_CLIENT || !p->waiting || p->dead)
			continue;
		p->waiting = false;
		coord_send(c, p, CREST_MSG_CKPT_RESULT, &res, sizeof(res));
	}
}

static void send_one(struct coord *c, struct conn *p, uint16_t type, const struct crest_msg_ckpt *m)
{
	p->answered = false;
	p->asked_ms = coord_now_ms();
	coord_send(c, p, type, m, sizeof(*m));
}

static void send_all(struct coord *c, uint16_t type, const struct crest_msg_ckpt *m)
{
	for (struct conn *p = c->conns; p; p = p->next) {
		if (p->kind != CONN_PROC || !p->member || p->dead)
			continue;
		send_one(c, p, type, m);
	}
}

static void ckpt_msg(const struct coord *c, struct crest_msg_ckpt *m)
{
	memset(m, 0, sizeof(*m));
	m->generation = c->ck.gen;
	m->compress = c->ck.compress;
	m->timeout_ms = c->o.timeout * 1000;
	m->threads = 2;
}

/* CREST_FAULT=coord:<phase>[:die|drop] (docs/testing.md): die, or drop
 * the links to the other coordinators as a failing network would */
static void fault_point(struct coord *c, const char *phase)
{
	const char *action = crest_fault("coord", phase);

	if (!action)
		return;
	if (!strcmp(action, "drop")) {
		pr_warn("CREST_FAULT=coord:%s:drop: dropping the links to the other coordinators", phase);
		for (struct conn *p = c->conns; p; p = p->next)
			if (p->tcp)
				coord_conn_drop(c, p);
		return;
	}
	pr_warn("CREST_FAULT=coord:%s: dying", phase);
	kill(getpid(), SIGKILL);
}

/* a live member that has not answered the current step counts in
 * ck.behind: the step is complete at 0, without a look at every member */
static bool lagging(const struct coord *c, const struct conn *p)
{
	return c->ck.step != CK_IDLE && p->member && !p->dead && p->done < (int)c->ck.step;
}

/* after a change of p's member, done or dead */
static void settle(struct coord *c, struct conn *p)
{
	bool b = lagging(c, p);

	if (b == p->behind)
		return;
	p->behind = b;
	if (b)
		c->ck.behind++;
	else
		c->ck.behind--;
}

/* the whole count: at each step, and a few times a second for any change
 * made without settle() (a connection marked dead by hand) */
static void recount(struct coord *c)
{
	c->ck.behind = 0;
	for (struct conn *p = c->conns; p; p = p->next) {
		p->behind = lagging(c, p);
		c->ck.behind += p->behind;
	}
}

static void enter(struct coord *c, enum ckpt_step step)
{
	c->ck.step = step;
	recount(c);
	c->ck.step_ms = c->ck.progress_ms = coord_now_ms();
	pr_info("generation %" PRIu64 ": %s", c->ck.gen, coord_step_name(step));
	fault_point(c, coord_step_name(step));
}

static void finish(struct coord *c)
{
	c->ck.step = CK_IDLE;
	c->last_end_ms = coord_now_ms();
	memcpy(c->last.reason, c->ck.reason, sizeof(c->last.reason));
	free(c->ck.wanted);
	c->ck.wanted = NULL;
	c->ck.nwanted = c->ck.wanted_cap = 0;
	for (struct conn *p = c->conns; p; p = p->next) {
		p->member = p->answered = p->behind = false;
		p->done = CK_IDLE;
		p->nimgs = p->nended = 0;
	}
	c->ck.behind = 0;
	if (c->o.interval)
		c->next_interval_ms = coord_now_ms() + c->o.interval * 1000LL;
}

static uint32_t step_phase(enum ckpt_step step)
{
	switch (step) {
	case CK_PREPARE: return CREST_PHASE_PREPARE;
	case CK_SUSPEND: return CREST_PHASE_SUSPEND;
	default: return CREST_PHASE_WRITE;
	}
}

/* ABORT to every member; the root also removes gen-N and answers its
 * clients, a sub-coordinator tells its parent (unless the parent asked) */
static void abort_text(struct coord *c, int error, const char *text, bool tell_parent)
{
	struct crest_msg_ckpt m;

	if (c->ck.step == CK_IDLE)
		return;
	pr_err("generation %" PRIu64 ": %s", c->ck.gen, text);
	ckpt_msg(c, &m);
	send_all(c, CREST_MSG_ABORT, &m);
	if (coord_is_sub(c)) {
		if (tell_parent) {
			struct crest_msg_phase f = { .generation = c->ck.gen, .phase = step_phase(c->ck.step),
						     .error = error ? error : -EIO };
			const char *why = text;
			if (!strncmp(why, "checkpoint aborted: ", 20))
				why += 20;
			settext(f.text, sizeof(f.text), "%s", why);
			coord_up(c, CREST_MSG_PHASE_FAIL, &f);
		}
		finish(c);
		return;
	}
	ckdir_remove_gen(c->o.dir, c->ck.gen);
	c->last.gen = c->ck.gen;
	c->last.stopped_ms = 0;
	c->last.error = error ? error : -EIO;
	settext(c->last.text, sizeof(c->last.text), "%s", text);
	reply_waiters(c, c->last.error, text);
	finish(c);
}

void coord_ckpt_abort(struct coord *c, int error, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	if (c->ck.step == CK_IDLE)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	abort_text(c, error, text, true);
}

/* the members of a new checkpoint: every process (and sub-coordinator)
 * connected now */
static void members_init(struct coord *c)
{
	for (struct conn *p = c->conns; p; p = p->next) {
		p->member = p->kind == CONN_PROC && !p->dead;
		p->answered = false;
		p->done = CK_IDLE;
		p->bytes = 0;
		p->image_crc = 0;
		p->image[0] = 0;
		p->nimgs = p->nended = 0;
	}
}

bool coord_owns_dir(struct coord *c)
{
	char now[CKDIR_INCARNATION_LEN + 1];

	if (coord_is_sub(c) || !c->incarnation[0])
		return true;
	int rc = ckdir_incarnation_read(c->o.dir, now);
	if (!rc && !strcmp(now, c->incarnation))
		return true;
	if (rc == -ENOENT || (rc && rc != -EBADMSG)) {
		/* gone or unreadable (a file server hiccup): not a newer run's */
		pr_warn("%s/INCARNATION: %s", c->o.dir, strerrordesc_np(-rc));
		return rc != -ENOENT;
	}
	pr_err("%s belongs to a newer run of the computation (its INCARNATION is %s, this coordinator's %s): "
	       "this coordinator is left over from an older run and stops; its processes keep running",
	       c->o.dir, rc ? "damaged" : now, c->incarnation);
	coord_stop = 1;
	return false;
}

static int start(struct coord *c, uint32_t compress, uint32_t flags, const char *reason)
{
	struct crest_msg_ckpt m;
	uint64_t gen;
	int rc;

	if (!coord_owns_dir(c))
		return -ESTALE;

	/* what an aborted one left: images its processes finished after the
	 * abort removed their generation (no other checkpoint runs now) */
	ckdir_remove_incomplete(c->o.dir);
	rc = ckdir_next_gen(c->o.dir, &gen);
	if (rc)
		return rc;
	rc = ckdir_make_gen(c->o.dir, gen);
	if (rc)
		return rc;
	memset(&c->ck, 0, sizeof(c->ck));
	coord_endpoints_clear(c);
	c->ck.gen = gen;
	c->ck.compress = compress;
	c->ck.flags = flags & CREST_REQ_KILL ? CREST_CKPT_EXIT : 0;
	c->ck.start_ms = coord_now_ms();
	snprintf(c->ck.reason, sizeof(c->ck.reason), "%s", reason);
	pr_info("generation %" PRIu64 ": started by %s", gen, reason);
	members_init(c);
	enter(c, CK_PREPARE);
	ckpt_msg(c, &m);
	send_all(c, CREST_MSG_PREPARE, &m);
	return 0;
}

void coord_ckpt_request(struct coord *c, struct conn *client, const struct crest_msg_request *req)
{
	struct crest_msg_result res = { 0 };
	uint32_t compress = req->compress == ~0u ? c->o.compress : req->compress;
	int rc;

	if (coord_is_sub(c)) {
		res.error = -EOPNOTSUPP;
		settext(res.text, sizeof(res.text),
			"this is the sub-coordinator of node %u: ask the root coordinator (crest checkpoint --dir DIR)",
			c->o.node);
		goto out_reply;
	}
	if (compress != CREST_COMP_NONE && compress != CREST_COMP_ZSTD) {
		res.error = -EINVAL;
		settext(res.text, sizeof(res.text), "unknown compression %u", compress);
		goto out_reply;
	}
	client->waiting = true;
	if (c->ck.step != CK_IDLE) {
		/* joins the running checkpoint and gets its result */
		if (req->flags & CREST_REQ_KILL)
			c->ck.flags |= CREST_CKPT_EXIT;
		pr_info("checkpoint request joins generation %" PRIu64, c->ck.gen);
		return;
	}
	if (!coord_nprocs(c)) {
		client->waiting = false;
		res.error = -ESRCH;
		settext(res.text, sizeof(res.text), "no process of the computation is connected");
		goto out_reply;
	}
	if (!coord_step_started(c, res.text, sizeof(res.text))) {
		client->waiting = false;
		res.error = -EAGAIN;
		goto out_reply;
	}
	if (c->final_gen) {
		client->waiting = false;
		res.error = -ECANCELED;
		settext(res.text, sizeof(res.text), "the computation is ending: its final checkpoint is generation %" PRIu64,
			c->final_gen);
		goto out_reply;
	}
	rc = start(c, compress, req->flags, "a request (crest checkpoint)");
	if (rc) {
		client->waiting = false;
		res.error = rc;
		if (rc == -ESTALE)
			settext(res.text, sizeof(res.text), "%s belongs to a newer run of the computation (INCARNATION "
				"changed); this coordinator, of an older run, stops", c->o.dir);
		else
			settext(res.text, sizeof(res.text), "cannot create a generation directory in %s: %s",
				c->o.dir, strerrordesc_np(-rc));
		goto out_reply;
	}
	return;
out_reply:
	coord_send(c, client, CREST_MSG_CKPT_RESULT, &res, sizeof(res));
}

static bool all_answered(const struct coord *c)
{
	return c->ck.behind == 0;
}

static struct conn *member_of(struct coord *c, pid_t pid)
{
	for (struct conn *p = c->conns; p; p = p->next)
		if (p->kind == CONN_PROC && !p->sub && !p->dead && p->pid == pid)	/* a sub's pid is another node's */
			return p;
	return NULL;
}

static void want(struct coord *c, pid_t pid)
{
	for (size_t i = 0; i < c->ck.nwanted; i++)
		if (c->ck.wanted[i].pid == pid)
			return;
	if (c->ck.nwanted == c->ck.wanted_cap) {
		size_t cap = c->ck.wanted_cap ? 2 * c->ck.wanted_cap : 64;
		struct wanted *w = realloc(c->ck.wanted, cap * sizeof(*w));
		if (!w) {
			coord_ckpt_abort(c, -ENOMEM, "checkpoint aborted: out of memory");
			return;
		}
		c->ck.wanted = w;
		c->ck.wanted_cap = cap;
	}
	c->ck.wanted[c->ck.nwanted++] = (struct wanted){ pid, coord_now_ms() };
}

/* 1 when every wanted process is suspended, a zombie or gone; 0 while
 * waiting; -1 when the checkpoint was aborted (one never joined) */
static int wanted_resolved(struct coord *c)
{
	long long now = coord_now_ms();
	int waiting = 0;
	for (size_t i = 0; i < c->ck.nwanted;) {
		struct wanted *w = &c->ck.wanted[i];
		struct conn *p = member_of(c, w->pid);
		char comm[64] = "?";
		char st = ckdir_proc_state(w->pid, comm, sizeof(comm));
		if ((p && p->member && p->done >= CK_SUSPEND) || st == 0 || st == 'Z' || st == 'X') {
			*w = c->ck.wanted[--c->ck.nwanted];
			continue;
		}
		if (!p && now - w->since_ms > c->o.timeout * 1000LL) {
			coord_ckpt_abort(c, -ESRCH,
					 "checkpoint aborted: process %d (%s) belongs to the computation but did not join the checkpoint within %u s: libcrest is not loaded in it (a static binary, a setuid program, or a program started with a cleared environment; see docs/unsupported.md)",
					 (int)w->pid, comm, c->o.timeout);
			return -1;
		}
		waiting++;
		i++;
	}
	return waiting ? 0 : 1;
}

/* The images this node's processes wrote, appended to man->images (room
 * for them allocated by the caller), each fsynced, then n<node>/.  0, or
 * an error after aborting the checkpoint. */
static int local_images(struct coord *c, struct ckdir_manifest *man)
{
	char gdir[CKDIR_PATH_MAX], path[CKDIR_PATH_MAX * 2];
	int rc;

	rc = ckdir_gen_path(gdir, sizeof(gdir), c->o.dir, c->ck.gen);
	if (rc)
		goto out_abort;
	for (struct conn *p = c->conns; p; p = p->next) {
		struct ckdir_image *im;
		struct stat st;

		if (!p->member || p->sub)
			continue;
		im = &man->images[man->nimages++];
		settext(im->path, sizeof(im->path), "%s", p->image);
		settext(path, sizeof(path), "%s/%s", gdir, p->image);
		if (stat(path, &st) < 0) {
			rc = -errno;
			coord_ckpt_abort(c, rc, "checkpoint aborted: process %d reported its image written, but %s: %s",
					 (int)p->pid, path, strerrordesc_np(-rc));
			return rc;
		}
		im->size = st.st_size;
		im->crc = p->image_crc;
		rc = ckdir_fsync_file(path);
		if (rc)
			goto out_abort;
	}
	/* what the processes created since the generation before: a restart
	 * from that one or older takes it away (common/created.h) */
	settext(path, sizeof(path), "%s/n%u/" CREST_CREATED_NAME, gdir, c->o.node);
	rc = crest_created_copy(c->o.rundir, path);
	if (rc)
		pr_warn("cannot copy %s/" CREST_CREATED_NAME " to %s: %s; a restart from an older generation "
			"will leave what the computation created since", c->o.rundir, path, strerrordesc_np(-rc));
	settext(path, sizeof(path), "%s/n%u", gdir, c->o.node);
	rc = ckdir_fsync_dir(path);
	if (rc)
		goto out_abort;
	return 0;
out_abort:
	coord_ckpt_abort(c, rc, "checkpoint aborted: cannot write the images of generation %" PRIu64 " in %s: %s",
			 c->ck.gen, c->o.dir, strerrordesc_np(-rc));
	return rc;
}

static size_t count_images(const struct coord *c)
{
	size_t n = 0;

	for (const struct conn *p = c->conns; p; p = p->next)
		if (p->member)
			n += p->sub ? p->nimgs : 1;
	return n;
}

/* the images of the nodes below, as their sub-coordinators reported them */
static void sub_images(const struct coord *c, struct ckdir_manifest *man)
{
	for (const struct conn *p = c->conns; p; p = p->next)
		if (p->member && p->sub)
			for (size_t i = 0; i < p->nimgs; i++)
				man->images[man->nimages++] = p->imgs[i];
}

static int commit(struct coord *c)
{
	struct ckdir_manifest man = { .generation = c->ck.gen, .created = time(NULL) };
	size_t n = count_images(c);
	int rc = -ENOMEM;

	man.images = calloc(n ? n : 1, sizeof(*man.images));
	if (!man.images)
		goto out_abort;
	gethostname(man.hostname, sizeof(man.hostname) - 1);
	rc = local_images(c, &man);
	if (rc)
		goto out_free;
	sub_images(c, &man);
	rc = coord_ended_collect(c, &man);
	if (rc)
		goto out_abort;
	/* every process ended meanwhile: nothing to restart from */
	if (!man.nimages) {
		coord_ckpt_abort(c, -ESRCH, "checkpoint aborted: no process of the computation is left in it");
		rc = -ESRCH;
		goto out_free;
	}
	if (!coord_owns_dir(c)) {
		coord_ckpt_abort(c, -ESTALE, "checkpoint aborted: %s belongs to a newer run of the computation",
				 c->o.dir);
		rc = -ESTALE;
		goto out_free;
	}
	rc = coord_endpoints_write(c);
	if (!rc)
		rc = ckdir_manifest_write(c->o.dir, &man);
	if (rc)
		goto out_abort;
	rc = ckdir_set_latest(c->o.dir, c->ck.gen);
	if (rc)
		goto out_abort;
	if (man.nended)
		pr_info("generation %" PRIu64 ": records %zu ended task(s)", c->ck.gen, man.nended);
	ckdir_manifest_free(&man);
	return 0;
out_abort:
	coord_ckpt_abort(c, rc, "checkpoint aborted: cannot commit generation %" PRIu64 " in %s: %s",
			 c->ck.gen, c->o.dir, strerrordesc_np(-rc));
out_free:
	ckdir_manifest_free(&man);
	return rc;
}

/* WRITE to every member: a process gets the absolute path of its image in
 * gen-N/n<node>/, a sub-coordinator none (it names its node's images) */
static void send_write(struct coord *c)
{
	struct crest_msg_ckpt m;

	ckpt_msg(c, &m);
	for (struct conn *p = c->conns; p; p = p->next) {
		if (!p->member || p->dead)
			continue;
		p->image[0] = m.image[0] = 0;
		if (!p->sub) {
			snprintf(p->image, sizeof(p->image), "n%u/p-%u-%u.img", c->o.node, p->rank, p->vpid);
			int len = snprintf(m.image, sizeof(m.image), "%s/gen-%06" PRIu64 "/%s",
					   c->o.dir, c->ck.gen, p->image);
			if (len >= (int)sizeof(m.image)) {
				coord_ckpt_abort(c, -ENAMETOOLONG,
						 "checkpoint aborted: image path in %s longer than %zu bytes; use a shorter --dir",
						 c->o.dir, sizeof(m.image) - 1);
				return;
			}
		}
		send_one(c, p, CREST_MSG_WRITE, &m);
	}
}

/* generation committed, processes still stopped: what they created is
 * older than the newest generation now, and in its copy */
static void forget_created(struct coord *c)
{
	int rc = crest_created_reset(c->o.rundir);
	if (rc)
		pr_warn("cannot empty %s/" CREST_CREATED_NAME ": %s; a restart from generation %" PRIu64
			" would remove what the computation created before it", c->o.rundir, strerrordesc_np(-rc),
			c->ck.gen);
}

static void next_step(struct coord *c)
{
	struct crest_msg_ckpt m;

	ckpt_msg(c, &m);
	switch (c->ck.step) {
	case CK_PREPARE:
		enter(c, CK_SUSPEND);
		send_all(c, CREST_MSG_SUSPEND, &m);
		break;
	case CK_SUSPEND:
		enter(c, CK_WRITE);
		send_write(c);
		break;
	case CK_WRITE: {
		enter(c, CK_COMMIT);
		if (commit(c))
			return;
		uint64_t gen = c->ck.gen;
		m.flags = c->ck.flags;
		forget_created(c);
		send_all(c, CREST_MSG_RESUME, &m);
		pr_info("generation %" PRIu64 " committed (%" PRIu64 " bytes, %lld ms)%s", gen, c->ck.bytes,
			coord_now_ms() - c->ck.start_ms, m.flags & CREST_CKPT_EXIT ? "; the computation ends" : "");
		ckdir_prune(c->o.dir, c->o.keep);
		if (c->ck.final)
			c->final_gen = gen;
		c->last.gen = gen;
		c->last.duration_ms = coord_now_ms() - c->ck.start_ms;
		c->last.error = 0;
		c->last.text[0] = 0;
		c->last.stopped_ms = 0;
		reply_waiters(c, 0, "");
		finish(c);
		coord_slurm_committed(c, gen);
		break;
	}
	default:
		break;
	}
}

static enum ckpt_step phase_step(uint32_t phase)
{
	switch (phase) {
	case CREST_PHASE_PREPARE: return CK_PREPARE;
	case CREST_PHASE_SUSPEND: return CK_SUSPEND;
	case CREST_PHASE_WRITE: return CK_WRITE;
	default: return CK_IDLE;
	}
}

/* sub-coordinator: every local member answered the current step; answer
 * the parent once (after WRITE: the images, fsynced, then the byte sum) */
static void report_up(struct coord *c)
{
	struct crest_msg_phase r = { .generation = c->ck.gen, .phase = step_phase(c->ck.step) };

	if (c->ck.reported >= (int)c->ck.step)
		return;
	if (c->ck.step == CK_WRITE) {
		struct ckdir_manifest man = { 0 };
		man.images = calloc(count_images(c) + 1, sizeof(*man.images));
		if (!man.images) {
			coord_ckpt_abort(c, -ENOMEM, "checkpoint aborted: out of memory on node %u", c->o.node);
			return;
		}
		int rc = local_images(c, &man);
		sub_images(c, &man);
		if (!rc)
			rc = coord_ended_send_up(c);
		if (!rc && c->nsubs)
			rc = coord_tree_send_node_addrs(c);
		if (!rc)
			rc = coord_tree_send_images(c, man.images, man.nimages);
		free(man.images);
		if (rc)
			return;
		r.bytes = c->ck.bytes;
	}
	c->ck.reported = c->ck.step;
	coord_up(c, CREST_MSG_PHASE_OK, &r);
}

/* moves on when every member answered the current step (and, before
 * WRITE, every wanted process is in) */
static void maybe_next(struct coord *c)
{
	if (c->ck.step == CK_IDLE)
		return;
	/* at the start and before the images count: a task that ended since
	 * (restart needs every task: an image, or how it ended) */
	char why[400];
	if ((c->ck.step == CK_PREPARE || c->ck.step == CK_WRITE) && coord_ended_unrecordable(c, why, sizeof(why))) {
		coord_ckpt_abort(c, -ESRCH, "checkpoint aborted: %s, so the newest complete generation stays the one "
				 "to restart from", why);
		return;
	}
	if (!all_answered(c))
		return;
	if (c->ck.step == CK_SUSPEND && wanted_resolved(c) != 1)
		return;
	if (coord_is_sub(c))
		report_up(c);
	else
		next_step(c);
}

/* sub-coordinator: the parent starts each step; a message out of place
 * (a late one, or one for a checkpoint this node already aborted) is
 * ignored */
void coord_ckpt_from_parent(struct coord *c, uint16_t type, const struct crest_msg_ckpt *m)
{
	bool ours = c->ck.step != CK_IDLE && m->generation == c->ck.gen;
	char path[CKDIR_PATH_MAX + 32];
	struct crest_msg_ckpt d;

	switch (type) {
	case CREST_MSG_PREPARE:
		if (c->ck.step != CK_IDLE)
			abort_text(c, -EBUSY, "checkpoint aborted: the root started another one", false);
		memset(&c->ck, 0, sizeof(c->ck));
		c->ck.gen = m->generation;
		c->ck.compress = m->compress;
		c->ck.start_ms = coord_now_ms();
		if (m->timeout_ms >= 1000)
			c->o.timeout = m->timeout_ms / 1000;
		snprintf(c->ck.reason, sizeof(c->ck.reason), "the root coordinator");
		members_init(c);
		enter(c, CK_PREPARE);
		if (!coord_nprocs(c) && !(c->o.tasks && c->nended >= c->o.tasks)) {
			/* a node whose processes all ended, not as tasks that ended, takes no part */
			abort_text(c, -ESRCH, "checkpoint aborted: no process is left on this node", true);
			return;
		}
		/* a node below left since this one said what it answers for
		 * (the parent may not have heard yet) */
		char why[160];
		if (c->o.nodes && !coord_step_started(c, why, sizeof(why))) {
			abort_text(c, -EAGAIN, why, true);
			return;
		}
		ckpt_msg(c, &d);
		send_all(c, CREST_MSG_PREPARE, &d);
		maybe_next(c);
		return;
	case CREST_MSG_SUSPEND:
		if (!ours || c->ck.reported != CK_PREPARE)
			break;
		enter(c, CK_SUSPEND);
		ckpt_msg(c, &d);
		send_all(c, CREST_MSG_SUSPEND, &d);
		maybe_next(c);
		return;
	case CREST_MSG_WRITE:
		if (!ours || c->ck.reported != CK_SUSPEND)
			break;
		snprintf(path, sizeof(path), "%s/gen-%06" PRIu64 "/n%u", c->o.dir, c->ck.gen, c->o.node);
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			int e = errno;
			enter(c, CK_WRITE);
			coord_ckpt_abort(c, -e, "checkpoint aborted: cannot create %s on node %u: %s", path,
					 c->o.node, strerrordesc_np(e));
			return;
		}
		enter(c, CK_WRITE);
		send_write(c);
		maybe_next(c);
		return;
	case CREST_MSG_RESUME:
		if (!ours || c->ck.reported != CK_WRITE)
			break;
		fault_point(c, "RESUME");	/* the root has committed */
		ckpt_msg(c, &d);
		d.flags = m->flags;
		forget_created(c);
		send_all(c, CREST_MSG_RESUME, &d);
		pr_info("generation %" PRIu64 " committed by the root (%" PRIu64 " bytes on node %u)",
			c->ck.gen, c->ck.bytes, c->o.node);
		c->last.gen = c->ck.gen;
		c->last.error = 0;
		c->last.text[0] = 0;
		finish(c);
		return;
	case CREST_MSG_ABORT:
		if (!ours)
			break;
		abort_text(c, -ECANCELED, "checkpoint aborted by the root coordinator", false);
		return;
	default:
		break;
	}
	pr_debug("%s from the parent for generation %" PRIu64 " ignored", crest_msg_type_name(type),
		 m->generation);
}

void coord_ckpt_answer(struct coord *c, struct conn *p, uint16_t type, const struct crest_msg_phase *m)
{
	/* the process's reply to RESUME/ABORT comes after the checkpoint ended */
	if (type == CREST_MSG_PHASE_OK && m->phase == CREST_PHASE_RESUME) {
		if (m->stopped_ns) {
			long long ms = (long long)(m->stopped_ns / 1000000);
			if (m->generation == c->last.gen)
				c->last.stopped_ms = ms > c->last.stopped_ms ? ms : c->last.stopped_ms;
			/* one line per process is too many at scale: the longest is in
			 * status (last.stopped_ms), each at debug level */
			pr_debug("process %d: threads were stopped for %lld ms (generation %" PRIu64 ")",
				 (int)p->pid, ms, m->generation);
		}
		return;
	}
	enum ckpt_step ps = phase_step(m->phase);
	/* a failure of this generation counts whenever it comes (a sub-coordinator
	 * may fail after it answered its step) */
	if (type == CREST_MSG_PHASE_FAIL && c->ck.step != CK_IDLE && p->member && m->generation == c->ck.gen) {
		if (p->sub)
			coord_ckpt_abort(c, m->error ? m->error : -EIO, "checkpoint aborted: node %u: %s",
					 p->node, m->text[0] ? m->text : "failed without saying why");
		else
			coord_ckpt_abort(c, m->error ? m->error : -EIO, "checkpoint aborted: process %d: %s",
					 (int)p->pid, m->text[0] ? m->text : "failed without saying why");
		return;
	}
	/* a member that joined late answers PREPARE while the others are in SUSPEND */
	if (c->ck.step == CK_IDLE || !p->member || m->generation != c->ck.gen || ps == CK_IDLE ||
	    ps > c->ck.step || (int)ps != p->done + 1) {
		pr_debug("process %d: %s for generation %" PRIu64 " phase %u ignored", (int)p->pid,
			 crest_msg_type_name(type), m->generation, m->phase);
		return;
	}
	switch (type) {
	case CREST_MSG_PROGRESS:
		c->ck.progress_ms = coord_now_ms();
		c->ck.bytes += m->bytes > p->bytes ? m->bytes - p->bytes : 0;
		p->bytes = m->bytes;
		if (coord_is_sub(c)) {
			struct crest_msg_phase up = { .generation = c->ck.gen, .phase = CREST_PHASE_WRITE,
						      .bytes = c->ck.bytes };
			coord_up(c, CREST_MSG_PROGRESS, &up);
		}
		return;
	case CREST_MSG_PHASE_OK:
		p->answered = true;
		p->done = ps;
		settle(c, p);
		if (c->ck.step == CK_WRITE) {
			c->ck.bytes += m->bytes > p->bytes ? m->bytes - p->bytes : 0;
			p->bytes = m->bytes;
			p->image_crc = m->image_crc;
		}
		if (ps == CK_PREPARE && c->ck.step == CK_SUSPEND) {
			struct crest_msg_ckpt s;
			ckpt_msg(c, &s);
			send_one(c, p, CREST_MSG_SUSPEND, &s);
		}
		maybe_next(c);
		return;
	}
}

void coord_ckpt_children(struct coord *c, struct conn *p, const struct crest_msg_children *m)
{
	if (c->ck.step != CK_SUSPEND || !p->member || m->generation != c->ck.gen)
		return;
	for (uint32_t i = 0; i < m->n && i < CREST_CHILDREN_MAX; i++)
		if (!(m->c[i].state & CREST_CHILD_ZOMBIE))
			want(c, (pid_t)m->c[i].pid);
}

void coord_ckpt_joined(struct coord *c, struct conn *p)
{
	struct crest_msg_ckpt m;

	if (c->ck.step == CK_IDLE)
		return;
	/* on a sub-coordinator that answered SUSPEND, every member is stopped */
	if ((c->ck.step != CK_PREPARE && c->ck.step != CK_SUSPEND) || c->ck.reported >= CK_SUSPEND) {
		pr_info("process %d (%s) registered during %s of generation %" PRIu64 "; it is not in it",
			(int)p->pid, p->exe, coord_step_name(c->ck.step), c->ck.gen);
		return;
	}
	pr_info("process %d (%s) joins generation %" PRIu64, (int)p->pid, p->exe, c->ck.gen);
	p->member = true;
	p->done = CK_IDLE;
	p->bytes = 0;
	p->image_crc = 0;
	p->image[0] = 0;
	p->nimgs = 0;
	settle(c, p);
	ckpt_msg(c, &m);
	send_one(c, p, CREST_MSG_PREPARE, &m);
}

void coord_ckpt_gone(struct coord *c, struct conn *p)
{
	if (c->ck.step == CK_IDLE || p->kind != CONN_PROC || !p->member)
		return;
	p->member = false;
	settle(c, p);
	if (p->sub) {
		coord_ckpt_abort(c, -ECONNRESET, "checkpoint aborted: the sub-coordinator of node %u disconnected during %s",
				 p->node, coord_step_name(c->ck.step));
		return;
	}
	if (p->done < CK_SUSPEND) {
		/* never stopped, so not in this generation: it exits or execs (an
		 * exec'ed program comes back); a zombie or gone pid is resolved.  The
		 * loop may have noticed its end only after WRITE began. */
		pr_info("process %d left before it was suspended (exit or exec)", (int)p->pid);
		if (c->ck.step == CK_PREPARE || c->ck.step == CK_SUSPEND) {
			want(c, p->pid);
			coord_conn_drop(c, p);
			settle(c, p);
			maybe_next(c);
		}
		return;
	}
	coord_ckpt_abort(c, -ECONNRESET, "checkpoint aborted: process %d disconnected during %s",
			 (int)p->pid, coord_step_name(c->ck.step));
}

/* a signal may not start a checkpoint within --min-spacing of the end of
 * the last one (the interval counts from that end itself) */
static bool too_soon(const struct coord *c, long long now)
{
	return c->last_end_ms && now - c->last_end_ms < c->o.min_spacing * 1000LL;
}

void coord_ckpt_trigger(struct coord *c, struct conn *p, const struct crest_msg_trigger *t)
{
	char reason[96], name[16];
	bool term = t->reason == CREST_TRIGGER_TERM;
	long long now = coord_now_ms();

	if (coord_is_sub(c)) {
		/* the root decides; it sees the trigger as coming from this node */
		if (c->parent)
			coord_send(c, c->parent, CREST_MSG_TRIGGER, t, sizeof(*t));
		return;
	}
	char from[64];
	if (p->sub)
		snprintf(from, sizeof(from), "a process of node %u", p->node);
	else
		snprintf(from, sizeof(from), "process %d (rank %u)", (int)p->pid, p->rank);
	snprintf(reason, sizeof(reason), "SIG%s to %s%s", crest_signal_name((int)t->signo, name), from,
		 term ? ", a final checkpoint" : "");
	if (c->final_gen) {
		pr_info("%s: ignored, the computation is ending (its final checkpoint is generation %" PRIu64 ")",
			reason, c->final_gen);
		return;
	}
	/* a Slurm job: why does it end, and is there time for a checkpoint */
	if (term && !coord_slurm_term(c, from))
		return;
	if (c->ck.step != CK_IDLE) {
		pr_info("%s: joins generation %" PRIu64 ", which is running", reason, c->ck.gen);
		c->ck.final |= term;
		return;
	}
	char why[128];
	if (!coord_step_started(c, why, sizeof(why))) {
		pr_warn("%s: ignored, %s", reason, why);
		if (term)
			coord_slurm_term_not_taken(c, why);
		return;
	}
	/* a termination is never delayed: it is the last chance */
	if (!term && too_soon(c, now)) {
		pr_info("%s: ignored, the last checkpoint ended %lld ms ago (--min-spacing %u s)",
			reason, now - c->last_end_ms, c->o.min_spacing);
		return;
	}
	int rc = start(c, c->o.compress, 0, reason);
	if (rc && rc != -ESTALE) {	/* -ESTALE: said by coord_owns_dir */
		pr_err("%s: cannot create a generation directory in %s: %s", reason, c->o.dir,
		       strerrordesc_np(-rc));
		if (term)
			coord_slurm_term_not_taken(c, "no generation folder could be created");
	} else {
		c->ck.final = term;
	}
}

int coord_ckpt_start_final(struct coord *c, const char *reason)
{
	int rc = start(c, c->o.compress, 0, reason);
	if (rc) {
		if (rc != -ESTALE)
			pr_err("%s: cannot create a generation directory in %s: %s", reason, c->o.dir,
			       strerrordesc_np(-rc));
		return rc;
	}
	c->ck.final = true;
	c->ck.flags |= CREST_CKPT_FINAL;
	return 0;
}

void coord_ckpt_tick(struct coord *c)
{
	long long now = coord_now_ms(), limit;
	const char *what;

	if (c->ck.step == CK_IDLE) {
		char why[128];
		if (!coord_is_sub(c))
			coord_slurm_tick(c);
		if (c->ck.step != CK_IDLE)
			return;
		if (c->o.interval && c->next_interval_ms && now >= c->next_interval_ms && coord_nprocs(c) &&
		    !c->final_gen) {
			if (!coord_step_started(c, why, sizeof(why))) {
				/* once per reason, not every second */
				if (strcmp(why, c->put_off)) {
					pr_info("interval checkpoint put off: %s", why);
					snprintf(c->put_off, sizeof(c->put_off), "%s", why);
				}
				c->next_interval_ms = now + 1000;
			} else if (start(c, c->o.compress, 0, "the interval"))
				c->next_interval_ms = now + c->o.interval * 1000LL;
		}
		return;
	}
	if (c->ck.step == CK_SUSPEND) {
		maybe_next(c);	/* wanted processes that died meanwhile */
		if (c->ck.step != CK_SUSPEND)
			return;
	}
	/* the limits are seconds: a look at every member a few times a second */
	if (now < c->ck.next_scan_ms)
		return;
	c->ck.next_scan_ms = now + SCAN_MS;
	recount(c);
	maybe_next(c);
	switch (c->ck.step) {
	case CK_PREPARE:
		limit = c->o.timeout * 1000LL;
		what = "within";
		break;
	case CK_SUSPEND:
		limit = c->o.timeout * 1000LL + 5000;
		what = "within --timeout + 5 s,";
		break;
	case CK_WRITE:
		limit = COORD_WRITE_STALL_MS;
		what = "with no progress for";
		break;
	default:
		return;
	}
	for (struct conn *p = c->conns; p; p = p->next) {
		long long since = c->ck.step == CK_WRITE ? c->ck.progress_ms : p->asked_ms;
		if (now - since < limit)
			continue;
		if (p->member && !p->dead && p->done < (int)c->ck.step) {
			coord_ckpt_abort(c, -ETIMEDOUT, "checkpoint aborted: process %d did not answer %s %s %lld s",
					 (int)p->pid, coord_step_name(c->ck.step), what, limit / 1000);
			return;
		}
	}
}
