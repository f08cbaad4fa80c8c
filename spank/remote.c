/* SPDX-License-Identifier: MIT */
/*
 * slurmstepd (remote context): the node's coordinator of a checkpointed
 * step.  user_init decides the step's directory and runs
 * `crest step-start` there, as the job's user with its groups, with signals
 * unblocked (slurmstepd blocks many) and a clean environment; exit runs
 * `crest step-stop`, which stops it (a daemon started here outlives the
 * step otherwise).  Nothing of the user's is touched as root.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <slurm/slurm.h>

#include "plugin.h"
#include "run_capture.h"

#define NORMAL_STEP_MAX 0xfffffff0u	/* batch, extern, interactive steps are above */
#define RUN_TIMEOUT_MS 60000


/* crest's prefix: this plugin is <prefix>/lib/crest/spank_crest.so */
static int find_prefix(char *buf, size_t size)
{
	Dl_info info;
	if (!dladdr((void *)find_prefix, &info) || !info.dli_fname)
		return -1;
	char *p = realpath(info.dli_fname, NULL);
	if (!p)
		return -1;
	for (int i = 0; i < 3; i++) {
		char *slash = strrchr(p, '/');
		if (!slash) {
			free(p);
			return -1;
		}
		*slash = 0;
	}
	snprintf(buf, size, "%s", p[0] ? p : "/");
	free(p);
	return 0;
}

/* in the child: become the job's user for good, signals as at login */
static void become_user(void *arg)
{
	(void)arg;
	sigset_t none;
	/* slurmstepd runs user_init with the user's euid: become root to
	 * drop everything for good */
	if (seteuid(0) && geteuid() != 0 && geteuid() != crest_step.uid)
		_exit(126);
	if ((getuid() == 0 || geteuid() == 0) &&
	    (setgroups((size_t)crest_step.ngids, crest_step.gids) ||
	     setresgid(crest_step.gid, crest_step.gid, crest_step.gid) ||
	     setresuid(crest_step.uid, crest_step.uid, crest_step.uid))) {
		dprintf(2, "cannot become user %u: %s\n", (unsigned)crest_step.uid, strerror(errno));
		_exit(126);
	}
	if (getuid() != crest_step.uid || geteuid() != crest_step.uid)
		_exit(126);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (chdir("/"))
		_exit(126);
}

/*
 * Runs argv as the job's user, in a clean environment (PATH, and the
 * job's SLURM_CONF for the root's scontrol); its stdout and stderr in out.
 * The exit status (0..255), or -1 if it could not run or took over
 * RUN_TIMEOUT_MS.
 */
static int run_as_user_for(char *const argv[], char *out, size_t size, int timeout_ms)
{
	char *env[] = { "PATH=/usr/local/bin:/usr/bin:/bin", crest_step.slurm_conf[0] ? crest_step.slurm_conf : NULL,
			NULL };
	return crest_run_capture(argv, env, become_user, NULL, out, size, timeout_ms);
}

static int run_as_user(char *const argv[], char *out, size_t size)
{
	return run_as_user_for(argv, out, size, RUN_TIMEOUT_MS);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(crest_step.err, sizeof(crest_step.err), fmt, ap);
	va_end(ap);
	slurm_error("crest: %s", crest_step.err);	/* slurmd's log; task_init tells srun */
}

static uint32_t item_u32(spank_t sp, spank_item_t item)
{
	uint32_t v = 0;
	spank_get_item(sp, item, &v);
	return v;
}

/* "2,3": the global rank of each of this node's `local` tasks; -1 if an
 * id is unknown or the list does not fit */
static int local_ranks(spank_t sp, uint32_t local, char *buf, size_t size)
{
	size_t used = 0;

	for (uint32_t i = 0; i < local; i++) {
		uint32_t global;
		if (spank_get_item(sp, S_JOB_LOCAL_TO_GLOBAL_ID, i, &global) != ESPANK_SUCCESS)
			return -1;
		int w = snprintf(buf + used, size - used, "%s%u", i ? "," : "", global);
		if (w < 0 || used + (size_t)w >= size)
			return -1;
		used += (size_t)w;
	}
	return local ? 0 : -1;
}

/* the step's folder (len bytes of dir) and this node's runtime folder in it */
static int set_stepdir(const char *dir, size_t len)
{
	if (len >= sizeof(crest_step.stepdir))
		return -1;
	memcpy(crest_step.stepdir, dir, len);
	crest_step.stepdir[len] = 0;
	int w = crest_step.node ? snprintf(crest_step.rundir, sizeof(crest_step.rundir), "%s/nodes/n%u", crest_step.stepdir,
					   crest_step.node)
				: snprintf(crest_step.rundir, sizeof(crest_step.rundir), "%s", crest_step.stepdir);
	return w < (int)sizeof(crest_step.rundir) ? 0 : -1;
}

/* who the job's user is, and where crest is: what run_as_user needs; 0,
 * or -1 after fail() */
static int job_user(spank_t sp)
{
	spank_get_item(sp, S_JOB_UID, &crest_step.uid);
	spank_get_item(sp, S_JOB_GID, &crest_step.gid);
	if (spank_get_item(sp, S_JOB_SUPPLEMENTARY_GIDS, &crest_step.gids, &crest_step.ngids) != ESPANK_SUCCESS) {
		crest_step.gids = &crest_step.gid;
		crest_step.ngids = 1;
	}
	if (find_prefix(crest_step.prefix, sizeof(crest_step.prefix))) {
		fail("cannot find where crest is installed (dladdr of spank_crest.so)");
		return -1;
	}
	snprintf(crest_step.bin, sizeof(crest_step.bin), "%s/bin/crest", crest_step.prefix);
	return 0;
}

/* the job's checkpoint folder: --restart-from DIR, or <dir>/<jobid>; 0, or
 * -1 after fail() */
static int job_dir(uint32_t jobid, char *jobdir, size_t size)
{
	if (crest_opts.restart_from[0] && strcmp(crest_opts.restart_from, "auto")) {
		snprintf(jobdir, size, "%s", crest_opts.restart_from);
		return 0;
	}
	struct passwd pw, *res = NULL;
	char pwbuf[4096];
	if (getpwuid_r(crest_step.uid, &pw, pwbuf, sizeof(pwbuf), &res) || !res) {
		fail("user %u has no passwd entry on this node", (unsigned)crest_step.uid);
		return -1;
	}
	const char *tmpl = crest_opts.dir[0] ? crest_opts.dir : crest_conf.dir;
	if (crest_spank_job_dir(tmpl, pw.pw_name, pw.pw_dir, jobid, jobdir, size)) {
		fail("checkpoint directory %s: too long or not absolute", tmpl);
		return -1;
	}
	return 0;
}

/*
 * The batch step: when its script ends with status 0 the job is over (not
 * requeued), and `crest job-end` removes the job's folder if every step in
 * it ended with status 0 too.  Not with --checkpoint-keep, nor for
 * --restart-from DIR (an earlier job's folder: crest gc).
 */
static void batch_init(spank_t sp, uint32_t jobid)
{
	if (crest_spank_env_opts(sp) || crest_opts.no_checkpoint || crest_opts.keep ||
	    (crest_opts.restart_from[0] && strcmp(crest_opts.restart_from, "auto")))
		return;
	if (job_user(sp) || job_dir(jobid, crest_step.jobdir, sizeof(crest_step.jobdir))) {
		crest_step.err[0] = 0;	/* nothing to report: no task of crest's here */
		return;
	}
	crest_step.batch = true;
}

int crest_remote_user_init(spank_t sp)
{
	uint32_t stepid = item_u32(sp, S_JOB_STEPID), jobid = item_u32(sp, S_JOB_ID);
	char buf[64];

	if (stepid == SLURM_BATCH_SCRIPT)
		batch_init(sp, jobid);
	if (stepid >= NORMAL_STEP_MAX)
		return 0;	/* the batch script itself is not checkpointed: its steps are */
	if (crest_spank_env_opts(sp)) {
		fail("a CREST_* variable of the job is not valid; see srun's message");
		crest_step.active = true;
		return 0;
	}
	if (crest_opts.no_checkpoint || (!crest_opts.checkpoint && !crest_opts.restart_from[0]))
		return 0;
	crest_step.active = true;
	crest_step.tasks_ok = crest_step.tasks_zero = true;
	/* --mpi=pmix (or a site's MpiDefault): every step has it, MPI or
	 * not; a process that is an MPI rank of it refuses each checkpoint,
	 * saying why on its stderr (preload/dump.c, slurm_pmi_client) */
	/* mpirun of several nodes starts its daemons with an srun of its own:
	 * this step, apart from mpirun's, and tied to it and to Slurm by
	 * connections a restart cannot give back */
	int sargc = 0;
	char **sargv = NULL;
	const char *daemon = NULL;
	if (spank_get_item(sp, S_JOB_ARGV, &sargc, &sargv) == ESPANK_SUCCESS && sargc > 0)
		daemon = crest_spank_mpi_daemon(sargv[0]);
	if (daemon) {
		fail("this step runs %s, the daemons that an mpirun of several nodes starts with srun: crest cannot "
		     "checkpoint that; run Open MPI inside a step with `srun --ntasks-per-node=1 crest mpirun ARGS` "
		     "instead of mpirun, or export CREST_NO_CHECKPOINT=1 before mpirun to run it without "
		     "checkpoints", daemon);
		return 0;
	}
	crest_step.node = item_u32(sp, S_JOB_NODEID);
	crest_step.nnodes = item_u32(sp, S_JOB_NNODES);
	uint32_t ntasks = item_u32(sp, S_JOB_TOTAL_TASK_COUNT), local = item_u32(sp, S_JOB_LOCAL_TASK_COUNT);
	unsigned restart_count = 0;
	if (spank_getenv(sp, "SLURM_RESTART_COUNT", buf, sizeof(buf)) == ESPANK_SUCCESS)
		restart_count = (unsigned)strtoul(buf, NULL, 10);	/* the item says 0 after a requeue */
	char conf[PATH_MAX];
	crest_step.slurm_conf[0] = 0;
	if (spank_getenv(sp, "SLURM_CONF", conf, sizeof(conf)) == ESPANK_SUCCESS && conf[0] == '/')
		snprintf(crest_step.slurm_conf, sizeof(crest_step.slurm_conf), "SLURM_CONF=%s", conf);
	if (!strcmp(crest_opts.restart_from, "auto") && restart_count == 0) {
		fail("--restart-from=auto continues a requeued run of this job (SLURM_RESTART_COUNT > 0), and this "
		     "is its first run: leave it out (a requeued job continues by itself), or give the folder of an "
		     "earlier job: --restart-from=DIR");
		return 0;
	}
	if (job_user(sp))
		return 0;
	char jobdir[PATH_MAX], key[128];
	if (job_dir(jobid, jobdir, sizeof(jobdir)))
		return 0;
	if (crest_opts.name[0]) {
		snprintf(key, sizeof(key), "%s", crest_opts.name);
	} else {
		int argc = 0;
		char **argv = NULL;
		spank_get_item(sp, S_JOB_ARGV, &argc, &argv);
		crest_spank_step_key(key, sizeof(key), argc, argv, ntasks, crest_step.nnodes);
	}
	char stepdir[sizeof(crest_step.stepdir)];
	if (snprintf(stepdir, sizeof(stepdir), "%s/%s", jobdir, key) >= (int)sizeof(stepdir) ||
	    set_stepdir(stepdir, strlen(stepdir))) {
		fail("checkpoint directory %s/%s: too long", jobdir, key);
		return 0;
	}

	unsigned interval = crest_opts.interval;
	if (interval && interval < crest_conf.interval_min) {
		if (crest_step.node == 0)
			slurm_info("crest: --checkpoint interval %u s is below this site's minimum; using %u s",
				   interval, crest_conf.interval_min);
		interval = crest_conf.interval_min;
	}
	char nodes[16], node[16], tasks[16], ival[16], keep[16], tmo[16];
	snprintf(node, sizeof(node), "%u", crest_step.node);
	snprintf(nodes, sizeof(nodes), "%u", crest_step.nnodes);
	snprintf(tasks, sizeof(tasks), "%u", local);
	snprintf(ival, sizeof(ival), "%u", interval);
	snprintf(keep, sizeof(keep), "%u", crest_conf.keep);
	snprintf(tmo, sizeof(tmo), "%u", crest_conf.timeout);
	bool restart = crest_opts.restart_from[0] || restart_count > 0;
	/* a derived key: the how-manieth step of this run with it (the same
	 * command line twice) decides its folder */
	char occ[64];
	snprintf(occ, sizeof(occ), "%u.%u.%u", jobid, restart_count, stepid);
	char job[16], run[16], margin[16];
	snprintf(job, sizeof(job), "%u", jobid);
	snprintf(run, sizeof(run), "%u", restart_count);
	snprintf(margin, sizeof(margin), "%u", crest_conf.timelimit_margin);
	/* the root asks Slurm why a SIGTERM came and when the job ends */
	char *argv[44] = { crest_step.bin, "step-start", "--dir", crest_step.stepdir, "--node", node, "--nodes", nodes,
			   "--tasks", tasks, "--interval", ival, "--keep", keep, "--compress", crest_conf.compress,
			   "--timeout", tmo, "--slurm-job", job, "--slurm-run", run, "--on-cancel", crest_conf.cancel,
			   "--timelimit", crest_conf.timelimit, "--timelimit-margin", margin };
	int na = 28;
	if (!crest_opts.name[0]) {
		argv[na++] = "--occurrence";
		argv[na++] = occ;
	}
	char rwait[16];
	snprintf(rwait, sizeof(rwait), "%u", crest_conf.register_wait);
	argv[na++] = "--tasks-wait";
	argv[na++] = rwait;
	/* this node's global ranks, so that a notice names the missing ones */
	static char ranks[4096];
	if (!local_ranks(sp, local, ranks, sizeof(ranks))) {
		argv[na++] = "--task-ranks";
		argv[na++] = ranks;
	}
	argv[na++] = "--run-id";	/* the nodes check that they share the folder */
	argv[na++] = occ;
	if (crest_conf.local_ok)
		argv[na++] = "--local-ok";
	char fanout[16];
	snprintf(fanout, sizeof(fanout), "%u", crest_conf.fanout);
	argv[na++] = "--fanout";
	argv[na++] = fanout;
	if (restart)
		argv[na++] = "--restart";
	argv[na] = NULL;
	/* step-start waits up to register_wait for node 0 (its STARTED and
	 * its choice of generation); what it says on the way (a damaged
	 * generation passed over) comes before its answer, the last line */
	static char out[16384];
	int rc = run_as_user_for(argv, out, sizeof(out), (int)(crest_conf.register_wait + 30) * 1000);
	const char *last = strrchr(out, '\n');
	last = last ? last + 1 : out;
	if (rc != 0) {
		fail("cannot start checkpointing on node %u: %s", crest_step.node,
		     out[0] ? out : "crest step-start failed");
		return 0;
	}
	const char *dl = !strncmp(out, "dir ", 4) ? out : strstr(out, "\ndir ");
	if (dl) {
		/* the folder of this occurrence: STEPDIR, or STEPDIR.2 ... */
		dl += *dl == '\n';
		size_t l = strcspn(dl + 4, "\n");
		if (set_stepdir(dl + 4, l)) {
			fail("checkpoint directory %.*s: too long", (int)l, dl + 4);
			return 0;
		}
	}
	if (!strncmp(last, "restart ", 8)) {
		crest_step.restart_gen = strtoull(last + 8, NULL, 10);
	} else if (strcmp(last, "launch")) {
		fail("crest step-start said: %s", out);
		return 0;
	}
	crest_step.started = true;
	/* what step-start said on the way (a damaged generation passed over) */
	for (char *line = out, *end; *line; line = end + (*end != 0)) {
		end = line + strcspn(line, "\n");
		char said[512];
		if (!strncmp(line, "crest: ", 7)) {
			snprintf(said, sizeof(said), "%.*s", (int)(end - line), line);
			slurm_info("%s", said);
		}
	}
	if (crest_step.restart_gen)	/* every node: each restores its own images */
		slurm_info("crest: step %u.%u restarts from generation %" PRIu64 " of %s", jobid, stepid,
			   crest_step.restart_gen, crest_step.stepdir);
	else if (crest_step.node == 0)
		slurm_info("crest: step %u.%u is checkpointed to %s", jobid, stepid, crest_step.stepdir);
	return 0;
}

int crest_remote_task_exit(spank_t sp)
{
	int status = 0;
	if ((!crest_step.started && !crest_step.batch) ||
	    spank_get_item(sp, S_TASK_EXIT_STATUS, &status) != ESPANK_SUCCESS)
		return 0;
	if (crest_step.batch) {
		crest_step.batch_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
		return 0;
	}
	if (!WIFEXITED(status))
		crest_step.tasks_ok = false;	/* killed: preempted, requeued, failed */
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		crest_step.tasks_zero = false;
	/* the node's coordinator records how it ended, so that the step's
	 * later generations can be taken without it (sched/coord_ended.c) */
	uint32_t rank;
	if (spank_get_item(sp, S_TASK_GLOBAL_ID, &rank) != ESPANK_SUCCESS)
		return 0;
	char node[16], num[16], st[16], out[CREST_SPANK_ERR_MAX];
	snprintf(node, sizeof(node), "%u", crest_step.node);
	snprintf(num, sizeof(num), "%u", rank);
	snprintf(st, sizeof(st), "%d", status & 0xffff);
	char *argv[] = { crest_step.bin, "step-task-end", "--dir", crest_step.stepdir, "--node", node, "--rank", num,
			 "--status", st, NULL };
	if (run_as_user(argv, out, sizeof(out)) != 0)
		slurm_info("crest: task %u of %s: %s", rank, crest_step.stepdir,
			   out[0] ? out : "crest step-task-end failed");
	return 0;
}

static void job_end(void)
{
	char out[CREST_SPANK_ERR_MAX];
	char *argv[] = { crest_step.bin, "job-end", "--dir", crest_step.jobdir, NULL };
	crest_step.batch = false;
	if (!crest_step.batch_ok)
		return;	/* failed, or killed (a requeue): the checkpoints may be needed */
	int rc = run_as_user(argv, out, sizeof(out));
	if (rc != 0)
		slurm_error("crest: the job's checkpoints in %s: %s", crest_step.jobdir,
			    out[0] ? out : "crest job-end failed");
	else if (out[0])
		slurm_info("crest: %s", out);
}

int crest_remote_exit(spank_t sp)
{
	(void)sp;
	if (crest_step.batch)
		job_end();
	if (!crest_step.started)
		return 0;
	char node[16], nodes[16], out[CREST_SPANK_ERR_MAX];
	snprintf(node, sizeof(node), "%u", crest_step.node);
	snprintf(nodes, sizeof(nodes), "%u", crest_step.nnodes);
	char *argv[] = { crest_step.bin, "step-stop", "--dir", crest_step.stepdir, "--node", node, "--nodes", nodes,
			 crest_step.tasks_ok ? "--ok" : NULL, crest_step.tasks_ok && crest_step.tasks_zero ? "--zero" : NULL,
			 NULL };
	if (run_as_user(argv, out, sizeof(out)) != 0)
		slurm_error("crest: stopping the coordinator of node %u of %s: %s", crest_step.node,
			    crest_step.stepdir, out[0] ? out : "crest step-stop failed");
	crest_step.started = false;
	return 0;
}
