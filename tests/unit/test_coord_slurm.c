/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of what the root of a Slurm step reads from scontrol and
 * decides about a SIGTERM (sched/coord_slurm.c).  The records are the ones
 * Slurm 22.05 printed on the test cluster (docs/slurm.md, "Why the job
 * ends"): a preempted job, a requeued one, a cancelled one, one at its
 * time limit.
 */
#include "harness.h"
#include "../../sched/coord_slurm.c"

/* the rest of the coordinator, which these tests do not reach */
long long coord_now_ms(void) { return 0; }
int coord_send(struct coord *c, struct conn *conn, uint16_t type, const void *payload, uint32_t len)
{
	(void)c, (void)conn, (void)type, (void)payload, (void)len;
	return 0;
}
bool coord_step_started(struct coord *c, char *why, size_t size)
{
	(void)c, (void)why, (void)size;
	return true;
}
int coord_ckpt_start_final(struct coord *c, const char *reason)
{
	(void)c, (void)reason;
	return -1;
}

#define REC(state, reason, restarts, end)                                                                     \
	"JobId=3 JobName=probe.sh UserId=crest-test(1001) GroupId=crest-test(1001) MCS_label=N/A "            \
	"Priority=4294901757 Nice=0 Account=(null) QOS=(null) JobState=" state " Reason=" reason              \
	" Dependency=(null) Requeue=1 Restarts=" restarts " BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:09:29 " \
	"TimeLimit=00:01:00 TimeMin=N/A SubmitTime=2026-12-03T14:40:35 EligibleTime=2026-12-03T14:42:36 "       \
	"StartTime=2026-12-03T14:42:36 EndTime=" end " Deadline=N/A PreemptEligibleTime=2026-12-03T14:42:36 "  \
	"Command=/tmp/a b/probe.sh WorkDir=/tmp/probe/w StdOut=/tmp/probe/w/o.3 Power= \n"

static long long local_epoch(const char *iso)
{
	struct tm tm = { .tm_isdst = -1 };
	strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm);
	return (long long)mktime(&tm);
}

TEST(reads_a_job_record)
{
	struct coord_slurm_job j;
	EXPECT_EQ(coord_slurm_parse_job(REC("RUNNING", "None", "0", "2026-12-03T14:40:23"), &j), 0);
	EXPECT(j.known);
	EXPECT(!strcmp(j.state, "RUNNING"));
	EXPECT(!strcmp(j.reason, "None"));
	EXPECT_EQ(j.restarts, 0);
	EXPECT_EQ(j.end_s, local_epoch("2026-12-03T14:40:23"));
	EXPECT_EQ(coord_slurm_parse_job(REC("COMPLETING", "None", "1", "Unknown"), &j), 0);
	EXPECT_EQ(j.restarts, 1);
	EXPECT_EQ(j.end_s, 0);
	/* no time limit: Slurm prints an EndTime a year away */
	EXPECT_EQ(coord_slurm_parse_job("JobId=4 JobState=RUNNING Reason=None Restarts=0 TimeLimit=UNLIMITED "
					"EndTime=2027-12-03T14:40:23 Power=", &j), 0);
	EXPECT_EQ(j.end_s, 0);
	/* an error message, or a record without the fields */
	EXPECT(coord_slurm_parse_job("slurm_load_jobs error: Invalid job id specified\n", &j) < 0);
	EXPECT(!j.known);
	EXPECT(coord_slurm_parse_job("JobState=RUNNING Restarts=x", &j) < 0);
	/* a key inside another key's name or value does not count */
	EXPECT_EQ(coord_slurm_parse_job("JobId=1 XJobState=FOO JobState=PENDING Restarts=2 Comment=Restarts=9", &j), 0);
	EXPECT(!strcmp(j.state, "PENDING"));
	EXPECT_EQ(j.restarts, 2);
}

TEST(reads_killwait)
{
	unsigned kw = 0;
	EXPECT_EQ(coord_slurm_parse_killwait("JobRequeue              = 1\nKillWait                = 10 sec\n", &kw), 0);
	EXPECT_EQ(kw, 10);
	EXPECT(coord_slurm_parse_killwait("JobRequeue = 1\n", &kw) < 0);
}

static struct coord_opts opts(unsigned run, bool cancel_ckpt, enum coord_timelimit tl)
{
	struct coord_opts o = { .slurm_run = run, .cancel_checkpoint = cancel_ckpt, .timelimit = tl };
	return o;
}

TEST(a_sigterm_is_told_apart)
{
	struct coord_slurm_job j;
	char why[200];
	struct coord_opts o = opts(0, false, COORD_TIMELIMIT_CHECKPOINT);
	long long now = local_epoch("2026-12-03T14:40:03");

	/* preemption: still RUNNING, EndTime = the end of the grace time (20 s) */
	coord_slurm_parse_job(REC("RUNNING", "None", "0", "2026-12-03T14:40:23"), &j);
	EXPECT_EQ(coord_slurm_term_plan(&j, &o, now, 10, 0, why, sizeof(why)), TERM_PLAN_CHECKPOINT);
	EXPECT(strstr(why, "preempted") && strstr(why, "20 s left"));
	/* ... too short for the last checkpoint's time: none, the rerun uses the last one */
	EXPECT_EQ(coord_slurm_term_plan(&j, &o, now, 10, 15000, why, sizeof(why)), TERM_PLAN_KEEP);
	EXPECT(strstr(why, "about 15 s"));
	EXPECT_EQ(coord_slurm_term_plan(&j, &o, now, 10, 5000, why, sizeof(why)), TERM_PLAN_CHECKPOINT);

	/* scontrol requeue (or a node failure): Restarts went past this run's */
	coord_slurm_parse_job(REC("COMPLETING", "None", "1", "Unknown"), &j);
	EXPECT_EQ(coord_slurm_term_plan(&j, &o, now, 10, 0, why, sizeof(why)), TERM_PLAN_CHECKPOINT);
	EXPECT(strstr(why, "requeued"));
	EXPECT_EQ(coord_slurm_term_plan(&j, &o, now, 10, 9000, why, sizeof(why)), TERM_PLAN_KEEP);
	/* the same record in the rerun (run 1) is not a requeue of it: a cancel */
	struct coord_opts rerun = opts(1, false, COORD_TIMELIMIT_CHECKPOINT);
	EXPECT_EQ(coord_slurm_term_plan(&j, &rerun, now, 10, 0, why, sizeof(why)), TERM_PLAN_EXIT);

	/* scancel: no final checkpoint unless cancel=checkpoint */
	coord_slurm_parse_job(REC("COMPLETING", "None", "0", "2026-12-03T14:40:03"), &j);
	EXPECT_EQ(coord_slurm_term_plan(&j, &o, now, 10, 0, why, sizeof(why)), TERM_PLAN_EXIT);
	EXPECT(strstr(why, "cancelled") && strstr(why, "cancel=checkpoint"));
	struct coord_opts cc = opts(0, true, COORD_TIMELIMIT_CHECKPOINT);
	EXPECT_EQ(coord_slurm_term_plan(&j, &cc, now, 10, 0, why, sizeof(why)), TERM_PLAN_CHECKPOINT);
	EXPECT_EQ(coord_slurm_term_plan(&j, &cc, now, 10, 60000, why, sizeof(why)), TERM_PLAN_EXIT);

	/* the time limit: KillWait is what is left */
	coord_slurm_parse_job(REC("COMPLETING", "TimeLimit", "0", "2026-12-03T14:40:03"), &j);
	EXPECT_EQ(coord_slurm_term_plan(&j, &o, now, 30, 0, why, sizeof(why)), TERM_PLAN_CHECKPOINT);
	EXPECT(strstr(why, "time limit"));
	struct coord_opts ign = opts(0, false, COORD_TIMELIMIT_IGNORE);
	EXPECT_EQ(coord_slurm_term_plan(&j, &ign, now, 30, 0, why, sizeof(why)), TERM_PLAN_EXIT);

	/* Slurm did not answer: checkpoint, it may be the last chance */
	memset(&j, 0, sizeof(j));
	EXPECT_EQ(coord_slurm_term_plan(&j, &o, now, 10, 99000, why, sizeof(why)), TERM_PLAN_CHECKPOINT);
}

TEST(the_time_limit_checkpoint_starts_early_enough)
{
	struct coord c;
	memset(&c, 0, sizeof(c));
	c.o.timelimit_margin = 60;
	long long now_s = (long long)time(NULL);
	/* coord_now_ms() is 0 here: the deadline is in ms from now */
	long long d = limit_deadline_ms(&c, now_s + 600);
	EXPECT(d >= 539000 && d <= 541000);
	c.last.duration_ms = 50000;	/* slow checkpoints: 2 x 50 s + 10 s */
	d = limit_deadline_ms(&c, now_s + 600);
	EXPECT(d >= 489000 && d <= 491000);
}

int main(void)
{
	return RUN_TESTS();
}
