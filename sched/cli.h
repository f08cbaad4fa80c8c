/* SPDX-License-Identifier: MIT */
/*
 * The crest command: cli_main.c dispatches to one file per verb
 * (cli_launch.c, cli_checkpoint.c, cli_restart.c, cli_status.c,
 * cli_inspect.c, cli_ls.c, cli_gc.c).  cli_util.c holds what they share;
 * cli_jobdirs.h the job folders under a base that ls and gc look at.
 *
 * Verbs return the process exit status: 0 ok, 1 failure, 2 usage error,
 * 127 program not found.
 */
#ifndef CREST_CLI_H
#define CREST_CLI_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#define CREST_VERSION		"0.1.0"
#define CLI_DEFAULT_DIR		"crest-ckpt"

int cmd_launch(int argc, char **argv);
int cmd_checkpoint(int argc, char **argv);
int cmd_restart(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_inspect(int argc, char **argv);	/* cli_inspect.c */
int cmd_step_start(int argc, char **argv);	/* cli_step.c: for spank/ */
int cmd_step_stop(int argc, char **argv);
int cmd_step_task_end(int argc, char **argv);
int cmd_job_end(int argc, char **argv);	/* cli_job_end.c: for spank/ */
int cmd_ls(int argc, char **argv);		/* cli_ls.c */
int cmd_gc(int argc, char **argv);		/* cli_gc.c */
int cmd_mpirun(int argc, char **argv);	/* cli_mpirun.c */
int cmd_rsh(int argc, char **argv);

/* siblings of the crest binary, from /proc/self/exe */
struct cli_paths {
	char bindir[PATH_MAX];
	char coord[PATH_MAX];		/* <bindir>/crest-coord */
	char libcrest[PATH_MAX];	/* <bindir>/../lib/libcrest.so */
	char restart[PATH_MAX];		/* <bindir>/../libexec/crest/crest-restart */
};
int cli_find_paths(struct cli_paths *p);

/* options passed through to crest-coord */
struct cli_coord_args {
	char *argv[48];
	int argc;
	char buf[4][32];
	/* --node N --coord ADDR:PORT (launch, restart): a sub-coordinator;
	 * --listen ADDR:PORT: the parent of other sub-coordinators too */
	unsigned node;
	const char *node_arg, *parent, *listen;
};
void cli_coord_args_init(struct cli_coord_args *a);
/* handles --interval/--keep/--compress/--timeout/--min-spacing; 1 if `ch` was one, 0 if
 * not, -1 on a bad value (message printed) */
int cli_coord_opt(struct cli_coord_args *a, const char *verb, int ch, const char *arg);

/* --node N, --coord ADDR:PORT and --listen ADDR:PORT of launch and
 * restart, as getopt characters 'n', 'C' and 'L'; 1 if `ch` was one, -1 on
 * a bad value */
int cli_node_opt(struct cli_coord_args *a, const char *verb, int ch, const char *arg);
/* the runtime folder of the node given (absdir itself without --node),
 * created; both --node and --coord or neither.  0, or an error printed */
int cli_node_dir(const char *verb, const struct cli_coord_args *a, const char *absdir, char *buf, size_t size);

/* getopt_long error for verb: prints the message, returns 2 */
int cli_opt_error(const char *verb, int ch, char **argv);

/* DIR made absolute (it must exist) */
int cli_abs_dir(const char *verb, const char *dir, char *abs, size_t size);

/* start crest-coord --dir absdir <args> (with --node/--parent: the
 * sub-coordinator of that node); returns when it is ready */
int cli_start_coord(const char *verb, const struct cli_paths *p, const char *absdir,
		    const struct cli_coord_args *a);

/* connect to the coordinator of dir: fd, or -ENOENT (no COORD / dead pid),
 * -ECONNREFUSED ... */
int cli_connect(const char *dir);

/* SHUTDOWN to the coordinator of dir, if one answers (the application is untouched) */
void cli_shutdown_coord(const char *dir);

/* STATUS_REQUEST on a new connection; the JSON text in buf */
int cli_status_fetch(const char *dir, char *buf, size_t size);

/* cli_ckpt_munge.c: crest checkpoint --job through munge */
struct cli_ckpt_job {
	const char *job;		/* JOBID[.STEP] */
	const char *base;		/* --checkpoint-dir BASE, or NULL: plugstack.conf's */
	const char *root_addr;		/* --root-addr ADDR:PORT (tests): the folder is not read */
	unsigned flags;			/* CREST_REQ_* */
	unsigned compress;		/* enum crest_comp, ~0u the default */
};
#define CLI_FALLBACK	(-1)
/* 0 every step checkpointed (generations printed), 1 a failure, 2 bad
 * input (printed); CLI_FALLBACK: munge cannot be used, nothing printed,
 * why says why */
int cli_ckpt_munge(const struct cli_ckpt_job *j, char *why, size_t size);

struct ckdir_image;
/* cli_gen_check.c: "is damaged: ..." in why unless every image of
 * generation gen (or the one image) is there with its MANIFEST size and
 * header checksum */
int cli_image_check(const char *image, const struct ckdir_image *rec, char *why, size_t whylen);
int cli_gen_check(const char *abs, uint64_t gen, char *why, size_t whylen);
/* the newest complete generation of abs (`shown` in messages) that
 * cli_gen_check passes, and also() when given, in *gen (0: none); a
 * damaged one is reported (prefixed "crest: WHO: ") and older ones tried,
 * unless also() returned -2 (whole, but not usable here: no older one
 * either); -1 when there were complete ones and none passes */
int cli_newest_whole(const char *abs, const char *shown, const char *who, uint64_t *gen,
		     int (*also)(uint64_t gen, void *arg, char *why, size_t whylen), void *arg);

/* cli_undo.c: what the computation created after generation `gen`,
 * journaled in SRC_RUN/CREATED and in node src_node's copies in later
 * generations (common/created.h), removed before a restart */
struct cli_undo {
	const char *abs;		/* the checkpoint folder */
	const char *src_run;		/* the runtime folder of the node that made them */
	unsigned src_node;
	uint64_t gen;			/* 0: a fresh start, nothing removed */
	int64_t taken;			/* the generation's MANIFEST time, seconds */
	const char *run;		/* this restart's runtime folder: REMOVED */
	char *const *maps;		/* --path-map OLD=NEW values */
	int nmaps;
	bool keep;			/* --keep-created: nothing removed */
	bool slurm;			/* an 'e' record does not keep them */
	const char *who;		/* "restart", "step-start" */
};
/* The list in RUN/REMOVED, one line on stderr; the journal emptied.  0, or
 * -errno when something could not be read or removed (said on stderr). */
int cli_undo_created(const struct cli_undo *u);

/* tiny readers for the coordinator's own JSON (flat keys, first match after `from`) */
bool cli_json_num(const char *json, const char *key, long long *v);
bool cli_json_str(const char *json, const char *key, char *out, size_t size);
/* s (at most max bytes of it) as a JSON string on stdout */
void cli_json_put(const char *s, size_t max);

#endif
