/* SPDX-License-Identifier: MIT */
/*
 * What crest reads from Slurm's commands and its own step files, for
 * `crest checkpoint --job` and the root coordinator that answers it
 * (docs/slurm.md, "On demand"): pure parsers, unit-tested on what Slurm
 * 22.05 printed (tests/unit/test_slurm_text.c).
 */
#ifndef CREST_SLURM_TEXT_H
#define CREST_SLURM_TEXT_H

#include <stddef.h>
#include <stdint.h>

/*
 * The value of " KEY=" in a one-line record (`scontrol show job -o`), up to
 * the next space or newline.  0, -ENOENT (no such key), -ENAMETOOLONG
 * (does not fit in size).
 */
int crest_slurm_field(const char *rec, const char *key, char *out, size_t size);

/* "name(123)" (UserId=, SlurmUser=): the name and the number.  0 or -EINVAL */
int crest_slurm_name_id(const char *s, char *name, size_t size, uint32_t *id);

/*
 * The value of a "Key = value" line of `scontrol show config` (the key at
 * the start of its line, any spaces around '='), to the end of the line.
 * 0, -ENOENT, -ENAMETOOLONG.
 */
int crest_slurm_config(const char *text, const char *key, char *out, size_t size);

/*
 * The munge socket of AuthInfo ("socket=/run/m.sock", or among other
 * comma-separated options: "cred_expire=120,socket=/x").  0, -ENOENT (none
 * given: libmunge's default), -ENAMETOOLONG.
 */
int crest_slurm_authinfo_socket(const char *authinfo, char *out, size_t size);

/*
 * A step's run id as crest step-start writes it in STEPDIR/STARTED
 * ("JOB.RUN.STEP", the job id, SLURM_RESTART_COUNT and the step id): its
 * first line, read alone (nothing may follow the newline in s).  0 or -EINVAL.
 */
struct crest_slurm_runid {
	uint32_t job, run, step;
};
int crest_slurm_runid_parse(const char *s, struct crest_slurm_runid *r);

/* "JOBID" or "JOBID.STEP" (crest checkpoint --job): 0 or -EINVAL;
 * *has_step says whether the step was given */
int crest_slurm_jobstep_parse(const char *s, uint32_t *job, uint32_t *step, int *has_step);

#endif
