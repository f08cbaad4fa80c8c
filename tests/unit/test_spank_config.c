/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the Slurm plugin's logic that needs no Slurm
 * (spank/config.c): plugstack.conf arguments, --checkpoint intervals,
 * checkpoint names, job directories and step keys.
 */
#include "harness.h"
#include "../../spank/config.c"

static int parse(struct crest_spank_conf *c, const char *a, const char *b, char *err)
{
	char *av[2] = { (char *)a, (char *)b };
	crest_spank_conf_init(c);
	return crest_spank_conf_parse(c, b ? 2 : 1, av, err, 256);
}

TEST(conf_defaults_and_keys)
{
	struct crest_spank_conf c;
	char err[256] = "";
	EXPECT_EQ(parse(&c, "keep=3", "compress=zstd", err), 0);
	EXPECT_EQ(c.keep, 3);
	EXPECT(!strcmp(c.compress, "zstd"));
	EXPECT(!strcmp(c.dir, "%h/crest"));
	EXPECT(c.preempt);
	EXPECT_EQ(parse(&c, "dir=/scratch/%u/crest", "preempt=ignore", err), 0);
	EXPECT(!strcmp(c.dir, "/scratch/%u/crest"));
	EXPECT(!c.preempt);
	EXPECT_EQ(parse(&c, "interval_min=5m", "signal=USR1", err), 0);
	EXPECT_EQ(c.interval_min, 300);
	EXPECT(!strcmp(c.signal, "USR1"));
	EXPECT(!strcmp(c.cancel, "exit"));
	EXPECT(!strcmp(c.timelimit, "checkpoint"));
	EXPECT_EQ(c.timelimit_margin, 60);
	EXPECT_EQ(parse(&c, "cancel=checkpoint", "timelimit=checkpoint-requeue", err), 0);
	EXPECT(!strcmp(c.cancel, "checkpoint"));
	EXPECT(!strcmp(c.timelimit, "checkpoint-requeue"));
	EXPECT_EQ(parse(&c, "timelimit_margin=5m", NULL, err), 0);
	EXPECT_EQ(c.timelimit_margin, 300);
	EXPECT(!c.local_ok);
	EXPECT_EQ(parse(&c, "local_ok=yes", NULL, err), 0);
	EXPECT(c.local_ok);
	EXPECT_EQ(c.fanout, 32);
	EXPECT_EQ(parse(&c, "fanout=2", NULL, err), 0);
	EXPECT_EQ(c.fanout, 2);
}

TEST(conf_rejects_bad_input_naming_it)
{
	struct crest_spank_conf c;
	char err[256] = "";
	EXPECT_EQ(parse(&c, "colour=blue", NULL, err), -1);
	EXPECT(strstr(err, "unknown key 'colour'"));
	EXPECT(strstr(err, "keys: dir"));
	EXPECT_EQ(parse(&c, "keep=0", NULL, err), -1);
	EXPECT(strstr(err, "keep=0"));
	EXPECT_EQ(parse(&c, "compress=lz4", NULL, err), -1);
	EXPECT(strstr(err, "none or zstd"));
	EXPECT_EQ(parse(&c, "dir=relative/path", NULL, err), -1);
	EXPECT(strstr(err, "absolute"));
	EXPECT_EQ(parse(&c, "keep", NULL, err), -1);
	EXPECT(strstr(err, "key=value"));
	EXPECT_EQ(parse(&c, "preempt=maybe", NULL, err), -1);
	EXPECT_EQ(parse(&c, "interval_min=soon", NULL, err), -1);
	EXPECT_EQ(parse(&c, "cancel=later", NULL, err), -1);
	EXPECT(strstr(err, "cancel=later") && strstr(err, "exit or checkpoint"));
	EXPECT_EQ(parse(&c, "timelimit=requeue", NULL, err), -1);
	EXPECT(strstr(err, "checkpoint-requeue"));
	EXPECT_EQ(parse(&c, "timelimit_margin=2d", NULL, err), -1);
	EXPECT_EQ(parse(&c, "local_ok=maybe", NULL, err), -1);
	EXPECT(strstr(err, "yes or no"));
	EXPECT_EQ(parse(&c, "fanout=0", NULL, err), -1);
	EXPECT(strstr(err, "fanout=0: expected how many nodes"));
	EXPECT_EQ(parse(&c, "fanout=1025", NULL, err), -1);
}

TEST(intervals)
{
	unsigned s = 99;
	EXPECT_EQ(crest_spank_interval("90s", &s), 0);
	EXPECT_EQ(s, 90);
	EXPECT_EQ(crest_spank_interval("30m", &s), 0);
	EXPECT_EQ(s, 1800);
	EXPECT_EQ(crest_spank_interval("2h", &s), 0);
	EXPECT_EQ(s, 7200);
	EXPECT_EQ(crest_spank_interval("1d", &s), 0);
	EXPECT_EQ(s, 86400);
	EXPECT_EQ(crest_spank_interval("5", &s), 0);	/* minutes, like --time */
	EXPECT_EQ(s, 300);
	EXPECT_EQ(crest_spank_interval("0", &s), 0);
	EXPECT_EQ(s, 0);
	EXPECT_EQ(crest_spank_interval("", &s), -1);
	EXPECT_EQ(crest_spank_interval("-5m", &s), -1);
	EXPECT_EQ(crest_spank_interval("5x", &s), -1);
	EXPECT_EQ(crest_spank_interval("m", &s), -1);
	EXPECT_EQ(crest_spank_interval("99999999999h", &s), -1);
}

TEST(names)
{
	EXPECT(crest_spank_name_ok("md-run_2.b"));
	EXPECT(!crest_spank_name_ok(""));
	EXPECT(!crest_spank_name_ok("../x"));
	EXPECT(!crest_spank_name_ok(".hidden"));
	EXPECT(!crest_spank_name_ok("a/b"));
	EXPECT(!crest_spank_name_ok("a b"));
}

TEST(job_dir)
{
	char out[256];
	EXPECT_EQ(crest_spank_job_dir("%h/crest", "ann", "/home/ann", 42, out, sizeof(out)), 0);
	EXPECT(!strcmp(out, "/home/ann/crest/42"));
	EXPECT_EQ(crest_spank_job_dir("/scratch/%u/c%%", "ann", "/home/ann", 7, out, sizeof(out)), 0);
	EXPECT(!strcmp(out, "/scratch/ann/c%/7"));
	EXPECT_EQ(crest_spank_job_dir("%u/x", "ann", "/home/ann", 7, out, sizeof(out)), -1);
	EXPECT_EQ(crest_spank_job_dir("/a/very/long/path", "ann", "/h", 7, out, 10), -1);
}

TEST(step_keys_depend_on_command_and_shape_only)
{
	char a[128], b[128], c[128], d[128];
	char *argv1[] = { "/usr/bin/python3", "sim.py", "--steps", "100" };
	char *argv2[] = { "/usr/bin/python3", "sim.py", "--steps", "200" };
	crest_spank_step_key(a, sizeof(a), 4, argv1, 4, 2);
	crest_spank_step_key(b, sizeof(b), 4, argv1, 4, 2);
	crest_spank_step_key(c, sizeof(c), 4, argv2, 4, 2);
	crest_spank_step_key(d, sizeof(d), 4, argv1, 8, 2);
	EXPECT(!strcmp(a, b));
	EXPECT(strcmp(a, c));
	EXPECT(strcmp(a, d));
	EXPECT(!strncmp(a, "python3-4x2-", 12));
	char *odd[] = { "./we ird/pr*g" };
	crest_spank_step_key(a, sizeof(a), 1, odd, 1, 1);
	EXPECT(!strncmp(a, "pr_g-1x1-", 9));
	EXPECT(crest_spank_name_ok(a));
}

TEST(mpi_launcher_daemons_are_known_by_base_name)
{
	EXPECT(!strcmp(crest_spank_mpi_daemon("/usr/bin/orted"), "orted"));
	EXPECT(!strcmp(crest_spank_mpi_daemon("orted"), "orted"));
	EXPECT(!strcmp(crest_spank_mpi_daemon("/opt/mpich/bin/hydra_pmi_proxy"), "hydra_pmi_proxy"));
	EXPECT(!strcmp(crest_spank_mpi_daemon("prted"), "prted"));
	EXPECT(!strcmp(crest_spank_mpi_daemon("hydra_bstrap_proxy"), "hydra_bstrap_proxy"));
	EXPECT(!crest_spank_mpi_daemon("/usr/bin/mpirun"));
	EXPECT(!crest_spank_mpi_daemon("./orted2"));
	EXPECT(!crest_spank_mpi_daemon("python3"));
	EXPECT(!crest_spank_mpi_daemon(NULL));
}

int main(void)
{
	return RUN_TESTS();
}
