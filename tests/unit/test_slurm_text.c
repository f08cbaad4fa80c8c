/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of what `crest checkpoint --job` and the root coordinator read
 * from Slurm and from the step's folder (common/slurm_text.c), and of the
 * claim a munge credential carries (common/munge_cred.c).  The records are
 * what Slurm 22.05 printed on the test cluster.
 */
#include <errno.h>
#include <string.h>

#include "harness.h"
#include "munge_cred.h"
#include "proto.h"
#include "slurm_text.h"

static const char job_rec[] =
	"JobId=7 JobName=job.sh UserId=crest-test(1001) GroupId=crest-test(1001) MCS_label=N/A "
	"Priority=4294901754 Nice=0 Account=(null) QOS=(null) JobState=RUNNING Reason=None Dependency=(null) "
	"Requeue=1 Restarts=2 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:05 TimeLimit=UNLIMITED "
	"Command=/tmp/w/job.sh WorkDir=/tmp/w StdOut=/tmp/w/out.7 Power= \n";

static const char config[] =
	"Configuration data as of 2026-12-03T19:20:01\n"
	"AccountingStorageBackupHost = (null)\n"
	"AuthAltTypes            = (null)\n"
	"AuthInfo                = socket=/tmp/crest-slurm.x/cluster/munge-sock/munge.socket\n"
	"AuthType                = auth/munge\n"
	"SlurmUserId             = 0\n"
	"SlurmUser               = slurm(64030)\n"
	"SlurmctldAddr           = (null)\n";

TEST(field_of_a_job_record)
{
	char v[64];

	EXPECT_EQ(crest_slurm_field(job_rec, "UserId", v, sizeof(v)), 0);
	EXPECT(!strcmp(v, "crest-test(1001)"));
	EXPECT_EQ(crest_slurm_field(job_rec, "Restarts", v, sizeof(v)), 0);
	EXPECT(!strcmp(v, "2"));
	EXPECT_EQ(crest_slurm_field(job_rec, "JobState", v, sizeof(v)), 0);
	EXPECT(!strcmp(v, "RUNNING"));
	/* "Id" is in JobId, UserId: only a key of its own counts */
	EXPECT_EQ(crest_slurm_field(job_rec, "Id", v, sizeof(v)), -ENOENT);
	EXPECT_EQ(crest_slurm_field(job_rec, "Power", v, sizeof(v)), 0);
	EXPECT(!strcmp(v, ""));
	EXPECT_EQ(crest_slurm_field(job_rec, "Command", v, 5), -ENAMETOOLONG);
}

TEST(name_and_id)
{
	char name[32];
	uint32_t id = 7;

	EXPECT_EQ(crest_slurm_name_id("crest-test(1001)", name, sizeof(name), &id), 0);
	EXPECT(!strcmp(name, "crest-test"));
	EXPECT_EQ(id, 1001);
	EXPECT_EQ(crest_slurm_name_id("root(0)", name, sizeof(name), &id), 0);
	EXPECT_EQ(id, 0);
	EXPECT(!strcmp(name, "root"));
	EXPECT_EQ(crest_slurm_name_id("a(b)(12)", name, sizeof(name), &id), 0);
	EXPECT(!strcmp(name, "a(b)"));
	const char *bad[] = { "", "root", "(0)", "root()", "root(0", "root(x)", "root(-1)", "root(4294967296)",
			      "root(0) " };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_EQ(crest_slurm_name_id(bad[i], name, sizeof(name), &id), -EINVAL);
	EXPECT_EQ(crest_slurm_name_id("crest-test(1001)", name, 4, &id), -EINVAL);
}

TEST(config_lines)
{
	char v[256], name[32];
	uint32_t uid;

	EXPECT_EQ(crest_slurm_config(config, "AuthInfo", v, sizeof(v)), 0);
	EXPECT(!strcmp(v, "socket=/tmp/crest-slurm.x/cluster/munge-sock/munge.socket"));
	/* SlurmUser, not SlurmUserId, nor AuthAltTypes for AuthType */
	EXPECT_EQ(crest_slurm_config(config, "SlurmUser", v, sizeof(v)), 0);
	EXPECT_EQ(crest_slurm_name_id(v, name, sizeof(name), &uid), 0);
	EXPECT_EQ(uid, 64030);
	EXPECT_EQ(crest_slurm_config(config, "AuthType", v, sizeof(v)), 0);
	EXPECT(!strcmp(v, "auth/munge"));
	EXPECT_EQ(crest_slurm_config(config, "KillWait", v, sizeof(v)), -ENOENT);
	EXPECT_EQ(crest_slurm_config("AuthInfo=socket=/x\n", "AuthInfo", v, sizeof(v)), 0);
	EXPECT(!strcmp(v, "socket=/x"));
}

TEST(authinfo_socket)
{
	char s[64];

	EXPECT_EQ(crest_slurm_authinfo_socket("socket=/run/m.sock", s, sizeof(s)), 0);
	EXPECT(!strcmp(s, "/run/m.sock"));
	EXPECT_EQ(crest_slurm_authinfo_socket("cred_expire=120,socket=/x/y,ttl=3", s, sizeof(s)), 0);
	EXPECT(!strcmp(s, "/x/y"));
	EXPECT_EQ(crest_slurm_authinfo_socket("(null)", s, sizeof(s)), -ENOENT);
	EXPECT_EQ(crest_slurm_authinfo_socket("", s, sizeof(s)), -ENOENT);
	EXPECT_EQ(crest_slurm_authinfo_socket("socket=", s, sizeof(s)), -ENOENT);
	EXPECT_EQ(crest_slurm_authinfo_socket("socket=/a/very/long/path", s, 8), -ENAMETOOLONG);
}

TEST(runid_of_started)
{
	struct crest_slurm_runid r;

	EXPECT_EQ(crest_slurm_runid_parse("7.2.0\n", &r), 0);
	EXPECT_EQ(r.job, 7);
	EXPECT_EQ(r.run, 2);
	EXPECT_EQ(r.step, 0);
	EXPECT_EQ(crest_slurm_runid_parse("123.0.4", &r), 0);
	EXPECT_EQ(r.step, 4);
	const char *bad[] = { "", "7", "7.2", "7.2.", ".2.0", "7..0", "7.2.0.1", "7.2.x", "7.2.0\nmore", " 7.2.0" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_EQ(crest_slurm_runid_parse(bad[i], &r), -EINVAL);
}

TEST(job_and_step)
{
	uint32_t job, step;
	int has;

	EXPECT_EQ(crest_slurm_jobstep_parse("42", &job, &step, &has), 0);
	EXPECT_EQ(job, 42);
	EXPECT(!has);
	EXPECT_EQ(crest_slurm_jobstep_parse("42.3", &job, &step, &has), 0);
	EXPECT_EQ(step, 3);
	EXPECT(has);
	const char *bad[] = { "", ".", "42.", ".3", "42.3.1", "x", "42x", "-1", "42.batch", "99999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_EQ(crest_slurm_jobstep_parse(bad[i], &job, &step, &has), -EINVAL);
}

TEST(claim_roundtrip)
{
	struct crest_ckpt_claim c = { .job = 7, .run = 2, .step = 0, .flags = CREST_REQ_KILL, .compress = ~0u }, d;
	char buf[256];

	EXPECT(crest_ckpt_claim_format(&c, buf, sizeof(buf)) > 0);
	EXPECT(!strcmp(buf, "crest-checkpoint 1 job=7 run=2 step=0 flags=1 compress=4294967295"));
	EXPECT_EQ(crest_ckpt_claim_parse(buf, &d), 0);
	EXPECT(!memcmp(&c, &d, sizeof(c)));
	EXPECT_EQ(crest_ckpt_claim_format(&c, buf, 20), -ENAMETOOLONG);
}

TEST(claim_rejects_anything_else)
{
	struct crest_ckpt_claim d;
	const char *bad[] = {
		"",
		"crest-checkpoint 2 job=7 run=2 step=0 flags=0 compress=0",
		"crest-checkpoint 1 job=7 run=2 step=0 flags=0 compress=0\n",
		"crest-checkpoint 1 job=7 run=2 step=0 flags=0 compress=0 more=1",
		"crest-checkpoint 1 job=7 run=2 step=0 flags=0",
		"crest-checkpoint 1 run=2 job=7 step=0 flags=0 compress=0",
		"crest-checkpoint 1 job=07 run=2 step=0 flags=0 compress=0",
		"crest-checkpoint 1 job= run=2 step=0 flags=0 compress=0",
		"crest-checkpoint 1 job=4294967296 run=2 step=0 flags=0 compress=0",
		"crest-checkpoint 1  job=7 run=2 step=0 flags=0 compress=0",
		"crest-checkpoint 1 job=-7 run=2 step=0 flags=0 compress=0",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_EQ(crest_ckpt_claim_parse(bad[i], &d), -EINVAL);
}

TEST(ckpt_munge_frame)
{
	EXPECT(crest_msg_type_known(CREST_MSG_CKPT_MUNGE));
	EXPECT(!strcmp(crest_msg_type_name(CREST_MSG_CKPT_MUNGE), "CKPT_MUNGE"));
	EXPECT_EQ(sizeof(struct crest_msg_ckpt_munge), 1048);
	EXPECT_EQ(crest_msg_payload_check(CREST_MSG_CKPT_MUNGE, sizeof(struct crest_msg_ckpt_munge)), 0);
	EXPECT_EQ(crest_msg_payload_check(CREST_MSG_CKPT_MUNGE, 100), -EBADMSG);
}

int main(void)
{
	return RUN_TESTS();
}
