/* SPDX-License-Identifier: MIT */
/*
 * The plugin's logic that does not need Slurm, unit-tested in
 * tests/unit/test_spank_config.c: plugstack.conf arguments, option values,
 * the checkpoint directory of a job and the key of a step.
 */
#ifndef CREST_SPANK_CONFIG_H
#define CREST_SPANK_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* plugstack.conf: `required .../spank_crest.so key=value ...` */
struct crest_spank_conf {
	char dir[PATH_MAX];	/* dir=: base of job directories; %u user, %h home */
	unsigned keep;		/* keep=: complete generations kept (2) */
	char compress[8];	/* compress=none|zstd */
	char signal[16];	/* signal=: the checkpoint signal (USR2), or none */
	bool preempt;		/* preempt=checkpoint (true) | ignore */
	unsigned interval_min;	/* interval_min=: shortest --checkpoint interval, s (60) */
	unsigned timeout;	/* timeout=: s the threads have to stop (30) */
	char cancel[16];	/* cancel=exit (default) | checkpoint: after scancel */
	char timelimit[24];	/* timelimit=checkpoint (default) | checkpoint-requeue | ignore */
	unsigned timelimit_margin;	/* timelimit_margin=: s before the end, at least (60) */
	unsigned register_wait;	/* register_wait=: s for a node's tasks to register (60) */
	bool local_ok;		/* local_ok=yes: a checkpoint folder in memory (tmpfs) is allowed */
	unsigned fanout;	/* fanout=: nodes below each coordinator of a step's tree (32) */
};

void crest_spank_conf_init(struct crest_spank_conf *c);
/* 0, or -1 with what was wrong in err */
int crest_spank_conf_parse(struct crest_spank_conf *c, int ac, char **av, char *err, size_t errlen);

/* --checkpoint=INTERVAL: 90s, 30m, 2h, 1d, a bare number of minutes, 0
 * (only on demand and at preemption).  0 or -1. */
int crest_spank_interval(const char *s, unsigned *sec);

/* a --checkpoint-name: 1..64 of [A-Za-z0-9._-], not starting with '.' */
bool crest_spank_name_ok(const char *name);

/* dir= with %u and %h replaced, then /<jobid>: the job's directory.
 * 0 or -1 (too long, or not absolute) */
int crest_spank_job_dir(const char *tmpl, const char *user, const char *home, uint32_t jobid, char *out,
			size_t size);

/* the step's key when the user gave no --checkpoint-name: the program's
 * base name and a hash of the command line and the step's shape, the same
 * on every node and in every run of the job script */
void crest_spank_step_key(char *out, size_t size, int argc, char **argv, uint32_t ntasks, uint32_t nnodes);

/* an MPI launcher's daemon that mpirun starts on the allocation's nodes
 * with an srun of its own (Open MPI's orted, PRRTE's prted, MPICH's and
 * Intel MPI's hydra proxies): its base name, or NULL for any other program */
const char *crest_spank_mpi_daemon(const char *argv0);

#endif
