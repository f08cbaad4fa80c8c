/* SPDX-License-Identifier: MIT */
/*
 * Each task, before slurmstepd execs it (task_init, as the user): the
 * environment that makes it checkpointable — libcrest prepended to
 * LD_PRELOAD, the node's coordinator, the task's rank — and, when the step
 * restarts, CREST_RESTART_GEN, on which libcrest's constructor turns the
 * task into `crest restart --task` (preload/task_restart.c).  The task
 * execs normally: TaskProlog, limits and TMPDIR are Slurm's as always.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"
#include "signame.h"

static int set(spank_t sp, const char *var, const char *val)
{
	if (spank_setenv(sp, var, val, 1) != ESPANK_SUCCESS) {
		slurm_error("crest: cannot set %s in the task's environment", var);
		return -1;
	}
	return 0;
}

int crest_task_init(spank_t sp)
{
	char buf[PATH_MAX + 64], old[8192];
	uint32_t rank = 0;

	if (!crest_step.active)
		return 0;
	if (crest_step.err[0]) {
		slurm_error("crest: %s", crest_step.err);	/* user_init's errors do not reach srun */
		return -1;
	}
	if (!crest_step.started)
		return 0;
	spank_get_item(sp, S_TASK_GLOBAL_ID, &rank);
	snprintf(buf, sizeof(buf), "%s/lib/libcrest.so", crest_step.prefix);
	if (spank_getenv(sp, "LD_PRELOAD", old, sizeof(old)) == ESPANK_SUCCESS && old[0] &&
	    !strstr(old, "libcrest.so")) {
		char *both;
		if (asprintf(&both, "%s:%s", buf, old) < 0)
			return -1;
		int rc = set(sp, "LD_PRELOAD", both);
		free(both);
		if (rc)
			return -1;
	} else if (set(sp, "LD_PRELOAD", buf)) {
		return -1;
	}
	int sig = crest_signal_parse(crest_conf.signal);
	if (sig < 0) {
		slurm_error("crest: plugstack.conf signal=%s: not a signal crest can use; using USR2", crest_conf.signal);
		sig = crest_signal_parse("USR2");
	}
	char num[32];
	if (set(sp, "CREST_DIR", crest_step.rundir) || set(sp, "CREST_STEP_DIR", crest_step.stepdir))
		return -1;
	snprintf(num, sizeof(num), "%u", crest_step.node);
	if (set(sp, "CREST_NODE", num))
		return -1;
	snprintf(num, sizeof(num), "%u", rank);
	if (set(sp, "CREST_TASK", num))
		return -1;
	snprintf(num, sizeof(num), "%d", (int)getpid());	/* this process is the task */
	if (set(sp, "CREST_ROOT_PID", num))
		return -1;
	snprintf(num, sizeof(num), "%d", sig);
	if (set(sp, "CREST_CKPT_SIGNAL", num) || set(sp, "CREST_ON_TERM", crest_conf.preempt ? "hold" : "exit"))
		return -1;
	if (set(sp, "CREST_BIN", crest_step.bin))
		return -1;
	if (crest_step.restart_gen) {
		snprintf(num, sizeof(num), "%" PRIu64, crest_step.restart_gen);
		if (set(sp, "CREST_RESTART_GEN", num))
			return -1;
	}
	return 0;
}
