/* SPDX-License-Identifier: MIT */
/*
 * The checkpoint folders under a base, for `crest ls` and `crest gc`
 * (docs/slurm.md, "Managing checkpoint folders: crest ls, crest gc"):
 *
 *   BASE/<jobid>/               a job folder: step folders, and .steps/ (claims)
 *   BASE/<jobid>/<step key>/    a step folder: gen-NNNNNN/, latest, INCARNATION,
 *                               DONE, COORD, nodes/n<N>/ ...
 *
 * The folder of a plain `crest launch --dir DIR` is a step folder by itself.
 * Nothing here follows a symbolic link below the folder it was given, or
 * enters another file system: folders are opened with O_NOFOLLOW relative
 * to their parent, entries looked at with fstatat(AT_SYMLINK_NOFOLLOW) and
 * removed with unlinkat().
 *
 * cli_jobdirs.c scans and removes; cli_base.c finds BASE.
 */
#ifndef CREST_CLI_JOBDIRS_H
#define CREST_CLI_JOBDIRS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum jobdir_state {
	JOBDIR_EMPTY,		/* no generation */
	JOBDIR_INCOMPLETE,	/* generations, none complete */
	JOBDIR_RESTARTABLE,	/* a complete generation, no DONE */
	JOBDIR_DONE,		/* DONE: the step ended, its checkpoints are of no use */
	JOBDIR_UNREACHABLE,	/* a COORD file (node 0's or any node's), its coordinator
				 * does not answer from here: another host, or it died */
	JOBDIR_RUNNING,		/* a live coordinator answers */
};

/* what a folder and everything below it hold; paths relative to the
 * folder under the base (truncated) */
struct jobdir_usage {
	uint64_t bytes;		/* on disk: st_blocks * 512 */
	int64_t newest;		/* newest modification time of anything in it */
	char foreign[256];	/* the first entry that is not the caller's ... */
	uid_t foreign_uid;	/* ... and its owner */
	bool other_fs;		/* foreign is a mount point, not another owner's */
	char unreadable[256];	/* the first entry that could not be read ... */
	int err;		/* ... and why (-errno); 0: all read */
	int coords;		/* COORD files: 2 a coordinator answers, 1 none of them does, 0 none */
	pid_t coord;		/* the pid such a COORD names */
	char coord_at[256];	/* and the folder it is in */
};

struct jobdir_step {
	char name[NAME_MAX + 1];
	enum jobdir_state state;
	uint64_t gen;		/* newest complete generation, 0: none */
	int64_t taken;		/* its MANIFEST's time */
	struct jobdir_usage use;
};

struct jobdir {
	char path[PATH_MAX];	/* absolute */
	char name[NAME_MAX + 1];
	bool is_step;		/* a step folder itself: steps[0] is the folder */
	uid_t uid;		/* the folder's owner */
	struct jobdir_step *steps;
	size_t nsteps;
	struct jobdir_usage use;	/* of the whole folder */
};

/* something that is not a crest folder, or could not be read */
struct jobdir_skip {
	char path[PATH_MAX];
	char why[160];
};

struct jobdir_list {
	char parent[PATH_MAX];	/* the folder they are in: the base, or the parent of --dir */
	int parent_fd;		/* open on it; -1 when missing */
	bool missing;		/* the base found in plugstack.conf does not exist (yet) */
	struct jobdir *dirs;
	size_t ndirs;
	struct jobdir_skip *skips;
	size_t nskips;
};

/*
 * Every job folder (or step folder) directly under the base folder base
 * (absolute), sorted by name; the rest under it goes to skips.  0, or
 * -errno when base cannot be read (a message printed, verb in it).
 */
int jobdir_scan_base(const char *verb, const char *base, struct jobdir_list *l);
/*
 * The folder dir alone (--dir), a job folder or a step folder: one entry
 * in l->dirs, or its reason in l->skips.  0, or -errno when dir cannot be
 * opened or is a symbolic link (a message printed).
 */
int jobdir_scan_dir(const char *verb, const char *dir, struct jobdir_list *l);
void jobdir_list_free(struct jobdir_list *l);

/*
 * Looks at name in the folder parent (parent_path its path) again: 0 and
 * *d filled (free with jobdir_free), -ENOTDIR when it is not a job or step
 * folder (why says what it is), or -errno.  What gc checks right before it
 * removes.
 */
int jobdir_load(int parent, const char *parent_path, const char *name, struct jobdir *d, char *why,
		size_t whylen);
void jobdir_free(struct jobdir *d);

/*
 * Removes name and everything below it from the folder parent, never
 * following a symbolic link nor entering another file system.  0, or the
 * first error, and the entry it was about (relative to name) in what.
 */
int jobdir_remove(int parent, const char *name, char *what, size_t whatlen);

const char *jobdir_state_name(enum jobdir_state s);
/* "12.3 MiB"; "3d", "5h", "12m", "40s" */
const char *jobdir_size_str(uint64_t bytes, char buf[32]);
const char *jobdir_age_str(int64_t seconds, char buf[32]);

/*
 * The base of the caller's job folders in out (absolute): given (the
 * --checkpoint-dir value, %u and %h expanded), or else the dir= of the line
 * of Slurm's plugstack.conf that loads spank_crest.so (default %h/crest).
 * 0; -ENOENT when it does not exist (out is set); another -errno with a
 * message printed (verb in it).
 */
int cli_base_find(const char *verb, const char *given, char *out, size_t size);
/* the same for the user pw (crest checkpoint --job: the job's owner's
 * base); pw NULL: as for a user without a passwd entry */
struct passwd;
int cli_base_find_for(const char *verb, const char *given, const struct passwd *pw, char *out, size_t size);

/*
 * What ls and gc look at: the folder dir (--dir) if given, else the job
 * folders under the base (--checkpoint-dir given, or plugstack.conf's).
 * A base found in plugstack.conf that does not exist is an empty list with
 * l->missing.  0, or -errno with a message printed.
 */
int jobdir_open(const char *verb, const char *given, const char *dir, struct jobdir_list *l);

#endif
