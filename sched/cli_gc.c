/* SPDX-License-Identifier: MIT */
/*
 * crest gc --older-than AGE [--checkpoint-dir BASE | --dir DIR] [--dry-run]
 *          [--include-restartable]
 *
 * Removes the job folders under BASE (or the folder DIR) in which nothing
 * changed for AGE and whose steps are done or hold no complete generation;
 * restartable ones only with --include-restartable.  Never one whose
 * coordinator answers or whose COORD names one that does not answer from
 * here, never one that is not the caller's or holds another file system,
 * never anything that does not look like crest's, never through a link.
 * Each folder is looked at again right before it goes.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_jobdirs.h"
#include "duration.h"

#define AGE_MAX (100ULL * 366 * 86400)

struct gc_opts {
	uint64_t age;		/* seconds */
	const char *age_arg;
	bool dry_run, restartable;
	int64_t now;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: crest gc --older-than AGE [--checkpoint-dir BASE | --dir DIR] [--dry-run]\n"
		"                [--include-restartable]\n"
		"Removes the job folders under BASE (BASE/<jobid>/, see crest ls) in which nothing\n"
		"changed for AGE (7d, 12h, 30m, 90s) and whose steps are all done or hold no\n"
		"complete generation.  One line per folder removed or kept, and why.\n"
		"  --checkpoint-dir BASE  where the job folders are (default: as crest ls)\n"
		"  --dir DIR        only DIR: a job folder, or one step's (crest launch --dir DIR)\n"
		"  --dry-run        say what would be removed, remove nothing\n"
		"  --include-restartable  also folders with a step that can restart (a complete\n"
		"                   generation and no DONE): its checkpoints are lost\n"
		"Never removes a folder whose coordinator runs (or whose COORD names one that does\n"
		"not answer from this host), that is not yours, or that does not look like crest's;\n"
		"never follows a symbolic link.  Exit status 1 if a folder could not be removed.\n");
}

/* the first step in state st, or NULL */
static const struct jobdir_step *step_in(const struct jobdir *d, enum jobdir_state st)
{
	for (size_t i = 0; i < d->nsteps; i++)
		if (d->steps[i].state == st)
			return &d->steps[i];
	return NULL;
}

/* why d stays, in buf; NULL when it may go */
static const char *keep_reason(const struct jobdir *d, const struct gc_opts *o, char *buf, size_t size)
{
	const struct jobdir_usage *u = &d->use;
	const struct jobdir_step *s;
	char age[32];

	if (u->coords == 2)
		snprintf(buf, size, "its coordinator (pid %d, in %s) is running", (int)u->coord, u->coord_at);
	else if (u->coords)
		snprintf(buf, size, "%s/COORD names coordinator pid %d, which does not answer from this host (it "
			 "runs on another node, or it died): remove the folder by hand once its job is over",
			 u->coord_at, (int)u->coord);
	else if (d->uid != getuid())
		snprintf(buf, size, "owned by uid %u, not by you", (unsigned)d->uid);
	else if (u->foreign[0] && u->other_fs)
		snprintf(buf, size, "%s is another file system (a mount point)", u->foreign);
	else if (u->foreign[0])
		snprintf(buf, size, "%s is owned by uid %u, not by you", u->foreign, (unsigned)u->foreign_uid);
	else if (u->err)
		snprintf(buf, size, "cannot read %s: %s", u->unreadable, strerror(-u->err));
	else if (o->now - u->newest < (int64_t)o->age)
		snprintf(buf, size, "modified %s ago, not older than %s", jobdir_age_str(o->now - u->newest, age),
			 o->age_arg);
	else if (!o->restartable && (s = step_in(d, JOBDIR_RESTARTABLE)))
		snprintf(buf, size, "step %s can restart from generation %" PRIu64 "; --include-restartable "
			 "removes it", s->name, s->gen);
	else
		return NULL;
	return buf;
}

/* "done, 1.2 MiB, modified 9d ago" */
static const char *summary(const struct jobdir *d, const struct gc_opts *o, char *buf, size_t size)
{
	char states[96] = "", sz[32], age[32];
	size_t n = 0;

	for (int st = JOBDIR_EMPTY; st <= JOBDIR_RUNNING; st++)
		if (step_in(d, (enum jobdir_state)st))
			n += (size_t)snprintf(states + n, n < sizeof(states) ? sizeof(states) - n : 0, "%s%s",
					      n ? "+" : "", jobdir_state_name((enum jobdir_state)st));
	snprintf(buf, size, "%s, %s, modified %s ago", n ? states : "no steps", jobdir_size_str(d->use.bytes, sz),
		 jobdir_age_str(o->now - d->use.newest, age));
	return buf;
}

/* one folder of l: 0 removed or kept, 1 it could not be removed */
static int gc_one(const struct jobdir_list *l, const struct jobdir *seen, const struct gc_opts *o,
		  uint64_t *freed)
{
	char why[512], sum[160], what[256];
	struct jobdir d;

	if (keep_reason(seen, o, why, sizeof(why))) {
		printf("kept %s: %s\n", seen->path, why);
		return 0;
	}
	if (o->dry_run) {
		printf("would remove %s (%s)\n", seen->path, summary(seen, o, sum, sizeof(sum)));
		*freed += seen->use.bytes;
		return 0;
	}
	/* again, right before: a step may have started since */
	int rc = jobdir_load(l->parent_fd, l->parent, seen->name, &d, why, sizeof(why));
	if (rc) {
		fprintf(stderr, "crest: gc: could not remove %s: %s\n", seen->path, rc == -ENOTDIR ? why : strerror(-rc));
		return 1;
	}
	if (keep_reason(&d, o, why, sizeof(why))) {
		printf("kept %s: %s\n", d.path, why);
		jobdir_free(&d);
		return 0;
	}
	summary(&d, o, sum, sizeof(sum));
	rc = jobdir_remove(l->parent_fd, d.name, what, sizeof(what));
	if (rc) {
		fprintf(stderr, "crest: gc: could not remove %s: %s: %s\n", d.path, what[0] ? what : ".",
			strerror(-rc));
	} else {
		printf("removed %s (%s)\n", d.path, sum);
		*freed += d.use.bytes;
	}
	jobdir_free(&d);
	return rc ? 1 : 0;
}

int cmd_gc(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "older-than", required_argument, NULL, 'o' },
		{ "checkpoint-dir", required_argument, NULL, 'b' },
		{ "dir", required_argument, NULL, 'd' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "include-restartable", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct gc_opts o = { .now = (int64_t)time(NULL) };
	const char *base = NULL, *dir = NULL;
	struct jobdir_list l;
	uint64_t freed = 0;
	int ch, rc = 0;
	char sz[32];

	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'o': o.age_arg = optarg; break;
		case 'b': base = optarg; break;
		case 'd': dir = optarg; break;
		case 'n': o.dry_run = true; break;
		case 'r': o.restartable = true; break;
		case 'h': usage(stdout); return 0;
		default: return cli_opt_error("gc", ch, argv);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "crest: gc: unexpected argument %s; see crest gc --help\n", argv[optind]);
		return 2;
	}
	if (!o.age_arg) {
		fprintf(stderr, "crest: gc: needs --older-than AGE, such as 7d, 12h, 30m or 90s; see crest gc --help\n");
		return 2;
	}
	if (crest_duration_parse(o.age_arg, 0, AGE_MAX, &o.age)) {
		fprintf(stderr, "crest: gc: --older-than %s: expected an age with its unit, such as 7d, 12h, 30m "
			"or 90s\n", o.age_arg);
		return 2;
	}
	if (base && dir) {
		fprintf(stderr, "crest: gc: --checkpoint-dir and --dir go one at a time; see crest gc --help\n");
		return 2;
	}
	if (jobdir_open("gc", base, dir, &l))
		return 1;
	if (l.missing)
		printf("no checkpoint folders: %s does not exist\n", l.parent);
	for (size_t i = 0; i < l.ndirs; i++)
		rc |= gc_one(&l, &l.dirs[i], &o, &freed);
	for (size_t i = 0; i < l.nskips; i++)
		printf("left alone %s: %s\n", l.skips[i].path, l.skips[i].why);
	if (dir && !l.ndirs)
		rc = 1;	/* the folder asked for is not crest's */
	if (l.ndirs)
		printf("%s %s\n", o.dry_run ? "would free" : "freed", jobdir_size_str(freed, sz));
	jobdir_list_free(&l);
	return fflush(stdout) ? 1 : rc;
}
