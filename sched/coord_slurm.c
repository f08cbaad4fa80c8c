/* SPDX-License-Identifier: MIT */
/*
 * What the root coordinator of a Slurm step asks Slurm, and what it does
 * with the answer (docs/slurm.md, "Why the job ends" and "Time limit").
 *
 * - A SIGTERM reaches the tasks for several reasons; one query of the job
 *   (`scontrol show job -o`) tells them apart: preemption (the job is still
 *   RUNNING, its EndTime moved to the end of the grace time), a requeue
 *   (Restarts went up: `scontrol requeue`, a node failure), the time limit
 *   (Reason=TimeLimit), or a cancel (anything else).  A final checkpoint is
 *   taken only if it fits the time left (the last checkpoint's duration,
 *   with a margin), and after a cancel only with --on-cancel checkpoint;
 *   otherwise every process gets TERM_ACTION: act now (cancel), or go on
 *   until the next TERM (the rerun uses the newest generation).
 * - --timelimit checkpoint|checkpoint-requeue: the job's EndTime is queried
 *   at start and every QUERY_EVERY_MS; a final checkpoint starts
 *   max(--timelimit-margin, 2 x the last checkpoint + 10 s) before it, and
 *   with checkpoint-requeue the root then requeues its own job.
 *
 * Only the root queries, never one query per node.
 */
#define LOG_MODULE "coord"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coord.h"
#include "log.h"
#include "run_capture.h"
#include "slurm_text.h"

#define QUERY_TIMEOUT_MS	10000		/* one scontrol */
#define QUERY_EVERY_MS		(600 * 1000LL)	/* the end time may be changed (scontrol update) */
#define RETRY_MS		10000		/* a time-limit checkpoint that failed */

int coord_slurm_parse_job(const char *text, struct coord_slurm_job *j)
{
	char restarts[16], end[32];
	memset(j, 0, sizeof(*j));
	if (crest_slurm_field(text, "JobState", j->state, sizeof(j->state)) ||
	    crest_slurm_field(text, "Restarts", restarts, sizeof(restarts)))
		return -EINVAL;
	if (crest_slurm_field(text, "Reason", j->reason, sizeof(j->reason)))
		j->reason[0] = 0;
	char *e;
	j->restarts = (unsigned)strtoul(restarts, &e, 10);
	if (*e || e == restarts)
		return -EINVAL;
	char limit[32];
	bool unlimited = !crest_slurm_field(text, "TimeLimit", limit, sizeof(limit)) && !strcmp(limit, "UNLIMITED");
	if (!unlimited && !crest_slurm_field(text, "EndTime", end, sizeof(end))) {	/* else a year away */
		struct tm tm = { .tm_isdst = -1 };
		const char *rest = strptime(end, "%Y-%m-%dT%H:%M:%S", &tm);
		if (rest && !*rest)
			j->end_s = (long long)mktime(&tm);	/* local time, as scontrol prints it */
	}
	j->known = true;
	return 0;
}

int coord_slurm_parse_killwait(const char *text, unsigned *sec)
{
	char v[64], *e;	/* "10 sec" */

	if (crest_slurm_config(text, "KillWait", v, sizeof(v)))
		return -EINVAL;
	unsigned long x = strtoul(v, &e, 10);
	if (e == v)
		return -EINVAL;
	*sec = (unsigned)x;
	return 0;
}

enum coord_term_plan coord_slurm_term_plan(const struct coord_slurm_job *j, const struct coord_opts *o,
					   long long now_s, unsigned killwait, long long estimate_ms, char *why,
					   size_t size)
{
	const char *kind;
	long long left;
	bool cancel = false;

	if (!j->known) {
		snprintf(why, size, "Slurm did not say why the job ends: a final checkpoint");
		return TERM_PLAN_CHECKPOINT;
	}
	if (!strcmp(j->state, "RUNNING")) {
		kind = "preempted";	/* the grace time: EndTime is its end */
		left = j->end_s > now_s ? j->end_s - now_s : -1;
	} else if (j->restarts > o->slurm_run) {
		kind = "requeued";
		left = killwait;
	} else if (!strcmp(j->reason, "TimeLimit") || !strcmp(j->state, "TIMEOUT")) {
		kind = "at its time limit";
		left = killwait;
		if (o->timelimit == COORD_TIMELIMIT_IGNORE) {
			snprintf(why, size, "the job is at its time limit: no final checkpoint (timelimit=ignore)");
			return TERM_PLAN_EXIT;
		}
	} else {
		kind = "cancelled";
		left = killwait;
		cancel = true;
		if (!o->cancel_checkpoint) {
			snprintf(why, size, "the job is cancelled (JobState=%s Reason=%s): no final checkpoint (the "
				 "site's cancel=checkpoint would take one)", j->state, j->reason[0] ? j->reason : "None");
			return TERM_PLAN_EXIT;
		}
	}
	if (estimate_ms > 0 && left >= 0 && estimate_ms * 3 / 2 + 2000 > left * 1000) {
		snprintf(why, size, "the job is %s and ends in %lld s: no final checkpoint, it would take about %lld s",
			 kind, left, (estimate_ms + 999) / 1000);
		return cancel ? TERM_PLAN_EXIT : TERM_PLAN_KEEP;
	}
	if (left >= 0)
		snprintf(why, size, "the job is %s: a final checkpoint (%lld s left)", kind, left);
	else
		snprintf(why, size, "the job is %s: a final checkpoint", kind);
	return TERM_PLAN_CHECKPOINT;
}

static int scontrol(char *const argv[], char *out, size_t size)
{
	extern char **environ;
	int rc = crest_run_capture(argv, environ, NULL, NULL, out, size, QUERY_TIMEOUT_MS);
	if (rc)
		pr_warn("%s %s %s: %s", argv[0], argv[1], argv[2] ? argv[2] : "",
			out[0] ? out : rc < 0 ? "could not run it" : "failed");
	return rc;
}

static void query_job(struct coord *c, struct coord_slurm_job *j)
{
	char out[8192];
	char *argv[] = { "scontrol", "show", "job", "-o", c->o.slurm_job, NULL };
	memset(j, 0, sizeof(*j));
	if (scontrol(argv, out, sizeof(out)) == 0 && coord_slurm_parse_job(out, j))
		pr_warn("scontrol show job %s: cannot read its answer: %.200s", c->o.slurm_job, out);
}

const char *coord_slurm_config(struct coord *c)
{
	static char out[65536];
	char *argv[] = { "scontrol", "show", "config", NULL };

	if (!c->slurm.config_asked) {
		c->slurm.config_asked = true;
		if (scontrol(argv, out, sizeof(out)) == 0)
			c->slurm.config = out;
	}
	return c->slurm.config;
}

static unsigned killwait(struct coord *c)
{
	if (!c->slurm.killwait) {
		const char *cfg = coord_slurm_config(c);
		c->slurm.killwait = 30;	/* Slurm's default */
		if (cfg && coord_slurm_parse_killwait(cfg, &c->slurm.killwait))
			pr_warn("scontrol show config: no KillWait; taking %u s", c->slurm.killwait);
	}
	return c->slurm.killwait;
}

/* the time a checkpoint takes here: the last one's, 0 if none yet */
static long long last_duration_ms(const struct coord *c)
{
	return c->last.duration_ms;
}

static void send_term_action(struct coord *c)
{
	struct crest_msg_term m = { .action = c->slurm.plan == TERM_PLAN_EXIT ? CREST_TERM_EXIT : CREST_TERM_KEEP };
	uint64_t gen = 0;
	if (ckdir_latest_complete(c->o.dir, &gen))
		gen = 0;
	m.generation = gen;
	int n = snprintf(m.text, sizeof(m.text), "crest: %.200s", c->slurm.why);
	if (m.action == CREST_TERM_KEEP && gen)
		snprintf(m.text + n, sizeof(m.text) - (size_t)n, "; the rerun continues from generation %" PRIu64, gen);
	coord_slurm_term_broadcast(c, &m);
}

void coord_slurm_term_broadcast(struct coord *c, const struct crest_msg_term *m)
{
	for (struct conn *p = c->conns; p; p = p->next)
		if (p->kind == CONN_PROC && !p->dead)
			coord_send(c, p, CREST_MSG_TERM_ACTION, m, sizeof(*m));
}

bool coord_slurm_term(struct coord *c, const char *from)
{
	if (!c->o.slurm_job[0])
		return true;
	if (!c->slurm.plan_made) {
		struct coord_slurm_job j;
		query_job(c, &j);
		unsigned kw = j.known && !strcmp(j.state, "RUNNING") ? 0 : killwait(c);
		c->slurm.plan = coord_slurm_term_plan(&j, &c->o, (long long)time(NULL), kw, last_duration_ms(c),
						      c->slurm.why, sizeof(c->slurm.why));
		c->slurm.plan_made = true;
		pr_info("SIGTERM to %s: %s (JobState=%s Reason=%s Restarts=%u)", from, c->slurm.why, j.known ? j.state : "?",
			j.known ? j.reason : "?", j.restarts);
	}
	if (c->slurm.plan == TERM_PLAN_CHECKPOINT)
		return true;
	send_term_action(c);	/* again for each TERM: a task may get it later */
	return false;
}

void coord_slurm_term_not_taken(struct coord *c, const char *why)
{
	if (!c->o.slurm_job[0] || c->slurm.plan != TERM_PLAN_CHECKPOINT)
		return;
	c->slurm.plan = TERM_PLAN_KEEP;
	snprintf(c->slurm.why, sizeof(c->slurm.why), "no final checkpoint: %s", why);
	send_term_action(c);
}

/* when the time-limit checkpoint starts, from the job's end */
static long long limit_deadline_ms(const struct coord *c, long long end_s)
{
	long long margin = c->o.timelimit_margin * 1000LL, need = 2 * last_duration_ms(c) + 10000;
	long long now_ms = coord_now_ms(), now_s = (long long)time(NULL);
	return now_ms + (end_s - now_s) * 1000 - (need > margin ? need : margin);
}

void coord_slurm_tick(struct coord *c)
{
	struct coord_slurm_state *s = &c->slurm;
	long long now = coord_now_ms();

	if (!c->o.slurm_job[0] || c->o.timelimit == COORD_TIMELIMIT_IGNORE || c->final_gen || s->plan_made)
		return;
	if (now >= s->next_query_ms) {
		struct coord_slurm_job j;
		query_job(c, &j);
		s->next_query_ms = now + QUERY_EVERY_MS;
		s->deadline_ms = j.known && j.end_s && !strcmp(j.state, "RUNNING") ? limit_deadline_ms(c, j.end_s) : 0;
		if (s->deadline_ms) {
			s->end_s = j.end_s;
			if (s->deadline_ms > now)
				pr_info("the job ends at its time limit in %lld s: a final checkpoint in %lld s",
					j.end_s - (long long)time(NULL), (s->deadline_ms - now) / 1000);
			/* ask again just before acting: the limit may have moved */
			if (s->deadline_ms - 30000 > now && s->deadline_ms - 30000 < s->next_query_ms)
				s->next_query_ms = s->deadline_ms - 30000;
		}
	}
	if (!s->deadline_ms || now < s->deadline_ms || now < s->retry_ms || c->ck.step != CK_IDLE)
		return;
	char why[128], reason[96];
	if (!coord_step_started(c, why, sizeof(why)))
		return;
	if ((long long)time(NULL) >= s->end_s) {
		pr_warn("the time limit passed before a checkpoint could be taken");
		s->deadline_ms = 0;
		return;
	}
	struct tm tm;
	time_t end = (time_t)s->end_s;
	localtime_r(&end, &tm);
	snprintf(reason, sizeof(reason), "the time limit (the job ends at %02d:%02d:%02d)", tm.tm_hour, tm.tm_min,
		 tm.tm_sec);
	s->retry_ms = now + RETRY_MS;
	if (coord_ckpt_start_final(c, reason) == 0)
		s->limit_gen = c->ck.gen;
}

void coord_slurm_committed(struct coord *c, uint64_t gen)
{
	struct coord_slurm_state *s = &c->slurm;
	if (!s->limit_gen || gen != s->limit_gen)
		return;
	if (c->o.timelimit != COORD_TIMELIMIT_REQUEUE) {
		pr_info("generation %" PRIu64 " is the final checkpoint before the time limit; continue the job with "
			"sbatch --restart-from", gen);
		return;
	}
	char out[1024];
	char *argv[] = { "scontrol", "requeue", c->o.slurm_job, NULL };
	if (scontrol(argv, out, sizeof(out)) == 0)
		pr_info("generation %" PRIu64 " taken before the time limit: job %s requeued, its rerun continues",
			gen, c->o.slurm_job);
	else
		pr_err("cannot requeue job %s after its checkpoint before the time limit: it ends at the limit; "
		       "continue it with sbatch --restart-from", c->o.slurm_job);
}
