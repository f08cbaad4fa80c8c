/* SPDX-License-Identifier: MIT */
/*
 * spank_crest.so: transparent checkpoint-restart of Slurm job steps.
 * The options, and the callbacks Slurm calls, each handing over to the file
 * of its context (plugin.h).  Messages start with "crest:" and say what to
 * do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

SPANK_PLUGIN(crest, 1);

struct crest_spank_conf crest_conf;
struct crest_spank_opts crest_opts;
struct crest_spank_step crest_step;

static int opt_cb(int val, const char *optarg, int remote);

static struct spank_option options[] = {
	{ "checkpoint", "INTERVAL",
	  "crest: checkpoint every task of the step every INTERVAL (90s, 30m, 2h; "
	  "0 = only on demand and at preemption) [CREST_CHECKPOINT]", 1, 'c', opt_cb },
	{ "checkpoint-dir", "DIR",
	  "crest: keep the job's checkpoints in DIR/<jobid> [CREST_CHECKPOINT_DIR]", 1, 'd', opt_cb },
	{ "checkpoint-name", "NAME",
	  "crest: the step's name in the checkpoint directory (default: from its "
	  "command line) [CREST_CHECKPOINT_NAME]", 1, 'n', opt_cb },
	{ "restart-from", "DIR|auto",
	  "crest: restart each step from its checkpoint in the job directory DIR "
	  "(auto: this job's own) [CREST_RESTART_FROM]", 1, 'r', opt_cb },
	{ "checkpoint-keep", NULL,
	  "crest: keep the job's checkpoints when it ends (by default they are removed once every "
	  "checkpointed step and the job ended with exit status 0) [CREST_CHECKPOINT_KEEP]", 0, 'k', opt_cb },
	{ "no-checkpoint", NULL, "crest: do not checkpoint this job or step [CREST_NO_CHECKPOINT]", 0, 'x',
	  opt_cb },
	SPANK_OPTIONS_TABLE_END
};

/* an option's value; 0, or -1 after an error message (srun and sbatch stop) */
static int set_opt(int val, const char *arg)
{
	switch (val) {
	case 'c':
		if (!arg || crest_spank_interval(arg, &crest_opts.interval)) {
			slurm_error("crest: --checkpoint=%s: expected an interval such as 90s, 30m or 2h, "
				    "or 0 (only on demand and at preemption)", arg ? arg : "");
			return -1;
		}
		crest_opts.checkpoint = true;
		return 0;
	case 'd':
	case 'r': {
		char *to = val == 'd' ? crest_opts.dir : crest_opts.restart_from;
		if (!arg || (arg[0] != '/' && !(val == 'r' && !strcmp(arg, "auto")))) {
			slurm_error("crest: --%s=%s: expected an absolute path%s", val == 'd' ? "checkpoint-dir" : "restart-from",
				    arg ? arg : "", val == 'r' ? " or auto" : "");
			return -1;
		}
		if (snprintf(to, PATH_MAX, "%s", arg) >= PATH_MAX) {
			slurm_error("crest: --%s: path too long", val == 'd' ? "checkpoint-dir" : "restart-from");
			return -1;
		}
		return 0;
	}
	case 'n':
		if (!arg || !crest_spank_name_ok(arg)) {
			slurm_error("crest: --checkpoint-name=%s: expected 1 to 64 letters, digits, '.', '_' or '-'",
				    arg ? arg : "");
			return -1;
		}
		snprintf(crest_opts.name, sizeof(crest_opts.name), "%s", arg);
		return 0;
	case 'x':
		crest_opts.no_checkpoint = true;
		return 0;
	case 'k':
		crest_opts.keep = true;
		return 0;
	}
	return -1;
}

static int opt_cb(int val, const char *optarg, int remote)
{
	(void)remote;
	return set_opt(val, optarg);
}

int slurm_spank_init(spank_t sp, int ac, char **av)
{
	char err[CREST_SPANK_ERR_MAX];

	crest_spank_conf_init(&crest_conf);
	if (crest_spank_conf_parse(&crest_conf, ac, av, err, sizeof(err))) {
		slurm_error("crest: %s", err);
		return -1;
	}
	if (spank_context() == S_CTX_SLURMD || spank_context() == S_CTX_JOB_SCRIPT)
		return 0;
	for (struct spank_option *o = options; o->name; o++)
		if (spank_option_register(sp, o) != ESPANK_SUCCESS) {
			slurm_error("crest: cannot register --%s", o->name);
			return -1;
		}
	return 0;
}

/* the variables stand in for options not given (scripts without #SBATCH) */
int crest_spank_env_opts(spank_t sp)
{
	static const struct { const char *var; int val; } vars[] = {
		{ "CREST_CHECKPOINT", 'c' }, { "CREST_CHECKPOINT_DIR", 'd' },
		{ "CREST_CHECKPOINT_NAME", 'n' }, { "CREST_RESTART_FROM", 'r' },
		{ "CREST_NO_CHECKPOINT", 'x' }, { "CREST_CHECKPOINT_KEEP", 'k' },
	};
	char buf[PATH_MAX];

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		bool given = vars[i].val == 'c' ? crest_opts.checkpoint :
			     vars[i].val == 'd' ? crest_opts.dir[0] :
			     vars[i].val == 'n' ? crest_opts.name[0] :
			     vars[i].val == 'r' ? crest_opts.restart_from[0] :
			     vars[i].val == 'k' ? crest_opts.keep : crest_opts.no_checkpoint;
		if (given)
			continue;
		const char *v = NULL;
		if (spank_remote(sp)) {
			if (spank_getenv(sp, vars[i].var, buf, sizeof(buf)) == ESPANK_SUCCESS)
				v = buf;
		} else {
			v = getenv(vars[i].var);
		}
		if (v && *v && set_opt(vars[i].val, v))
			return -1;
	}
	return 0;
}

int slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	/* srun and sbatch: a bad variable stops them before the job exists */
	if (spank_context() == S_CTX_LOCAL || spank_context() == S_CTX_ALLOCATOR)
		return crest_spank_env_opts(sp);
	return 0;
}

int slurm_spank_user_init(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	if (!spank_remote(sp))
		return 0;
	return crest_remote_user_init(sp);
}

int slurm_spank_task_init(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	return crest_task_init(sp);
}

int slurm_spank_task_exit(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	return crest_remote_task_exit(sp);
}

int slurm_spank_exit(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	if (!spank_remote(sp))
		return 0;
	return crest_remote_exit(sp);
}
