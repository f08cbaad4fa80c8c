/* SPDX-License-Identifier: MIT */
/*
 * spank_crest.so (docs/slurm.md).  spank_crest.c is the dispatcher: the
 * options and the callbacks Slurm looks up; one file per context does the
 * work: remote.c (slurmstepd: the node's coordinator, started and stopped
 * as the job's user), task.c (each task before its exec: the environment
 * that preloads libcrest).  config.c holds what needs no Slurm.
 */
#ifndef CREST_SPANK_PLUGIN_H
#define CREST_SPANK_PLUGIN_H

#include <limits.h>
#include <slurm/spank.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"

#define CREST_SPANK_ERR_MAX 1024

/* what the user asked for (options, or CREST_* variables) */
struct crest_spank_opts {
	bool checkpoint;		/* --checkpoint given */
	unsigned interval;		/* its value, s (0: on demand only) */
	bool no_checkpoint;
	bool keep;			/* --checkpoint-keep */
	char dir[PATH_MAX];		/* --checkpoint-dir */
	char restart_from[PATH_MAX];	/* --restart-from DIR | auto */
	char name[80];			/* --checkpoint-name */
};

/* one step on this node, from user_init on (task_init inherits it) */
struct crest_spank_step {
	bool active;			/* this step is checkpointed */
	bool started;			/* its coordinator runs */
	char err[CREST_SPANK_ERR_MAX];	/* user_init's failure, reported by task_init */
	char prefix[PATH_MAX];		/* crest's install prefix */
	char bin[PATH_MAX + 16];	/* <prefix>/bin/crest */
	char stepdir[PATH_MAX];
	char rundir[PATH_MAX + 32];	/* stepdir, or stepdir/nodes/n<node> */
	uint32_t node, nnodes;
	uint64_t restart_gen;		/* 0: the step starts afresh */
	bool tasks_ok;			/* every local task so far ended by exit() */
	bool tasks_zero;		/* ... with status 0 */
	/* the batch step of a checkpointed job: at its end, the job's folder
	 * is removed if every step in it ended well (crest job-end) */
	bool batch;
	bool batch_ok;			/* the batch script exited 0 */
	char jobdir[PATH_MAX];
	char slurm_conf[PATH_MAX + 16];	/* "SLURM_CONF=..." of the job, for the root's scontrol */
	uid_t uid;
	gid_t gid;
	gid_t *gids;
	int ngids;
};

extern struct crest_spank_conf crest_conf;
extern struct crest_spank_opts crest_opts;
extern struct crest_spank_step crest_step;

/* spank_crest.c: CREST_* variables for options not given; 0 or -1 */
int crest_spank_env_opts(spank_t sp);
/* remote.c */
int crest_remote_user_init(spank_t sp);
int crest_remote_task_exit(spank_t sp);
int crest_remote_exit(spank_t sp);
/* task.c */
int crest_task_init(spank_t sp);

#endif
