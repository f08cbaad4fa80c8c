/* SPDX-License-Identifier: MIT */
/*
 * crest ls [--checkpoint-dir BASE | --dir DIR] [--json]
 *
 * The job folders under BASE (or the one folder DIR): each step's state,
 * newest complete generation and when it was taken, size on disk and last
 * modification; what is not crest's is named, never entered.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_jobdirs.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: crest ls [--checkpoint-dir BASE | --dir DIR] [--json]\n"
		"Lists the job folders under BASE (BASE/<jobid>/<step key>/), one line per step:\n"
		"its state, newest complete generation and when it was taken, its size on disk\n"
		"and how long ago anything in it changed.\n"
		"  --checkpoint-dir BASE  where the job folders are (%%u: user name, %%h: home);\n"
		"                   default: the dir= (default %%h/crest) of the spank_crest.so line\n"
		"                   of Slurm's plugstack.conf (slurm.conf's PlugStackConfig, or next\n"
		"                   to $SLURM_CONF, /etc/slurm/slurm.conf), or plugstack.conf.d/\n"
		"  --dir DIR        only DIR: a job folder, or one step's (crest launch --dir DIR)\n"
		"  --json           one JSON object\n"
		"States: running (its coordinator answers), unreachable (a COORD file names a\n"
		"coordinator that does not answer from this host: another node, or it died),\n"
		"done (DONE: the step ended), restartable (a complete generation), incomplete\n"
		"(generations, none complete), empty.  Symbolic links are never followed.\n");
}

static void print_time(int64_t t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	if (t > 0 && localtime_r(&tt, &tm) && strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M", &tm))
		printf("%-16s", buf);
	else
		printf("%-16s", "-");
}

static void json_usage_fields(const struct jobdir_usage *u)
{
	printf("\"bytes\":%" PRIu64 ",\"modified\":%" PRId64 ",\"unreadable\":", u->bytes, u->newest);
	if (u->err) {
		printf("{\"path\":");
		cli_json_put(u->unreadable, sizeof(u->unreadable));
		printf(",\"error\":");
		cli_json_put(strerror(-u->err), SIZE_MAX);
		printf("}");
	} else {
		printf("null");
	}
}

static void json_step(const struct jobdir *d, const struct jobdir_step *s)
{
	printf("{\"step\":");
	cli_json_put(s->name, sizeof(s->name));
	printf(",\"state\":\"%s\",\"generation\":", jobdir_state_name(s->state));
	if (s->gen)
		printf("%" PRIu64 ",\"taken\":%" PRId64, s->gen, s->taken);
	else
		printf("null,\"taken\":null");
	printf(",\"coordinator_pid\":");
	if (s->use.coords && s->use.coord)
		printf("%d", (int)s->use.coord);
	else
		printf("null");
	char path[sizeof(d->path) + sizeof(s->name) + 1];
	snprintf(path, sizeof(path), "%s%s%s", d->path, d->is_step ? "" : "/", d->is_step ? "" : s->name);
	printf(",\"path\":");
	cli_json_put(path, sizeof(path));
	printf(",");
	json_usage_fields(&s->use);
	printf("}");
}

static void print_json(const struct jobdir_list *l, bool whole_base)
{
	printf("{\"base\":");
	if (whole_base)
		cli_json_put(l->parent, SIZE_MAX);
	else
		printf("null");
	printf(",\"folders\":[");
	for (size_t i = 0; i < l->ndirs; i++) {
		const struct jobdir *d = &l->dirs[i];
		printf("%s{\"job\":", i ? "," : "");
		if (d->is_step)
			printf("null");
		else
			cli_json_put(d->name, sizeof(d->name));
		printf(",\"path\":");
		cli_json_put(d->path, sizeof(d->path));
		printf(",\"owner\":%u,", (unsigned)d->uid);
		json_usage_fields(&d->use);
		printf(",\"steps\":[");
		for (size_t k = 0; k < d->nsteps; k++) {
			printf("%s", k ? "," : "");
			json_step(d, &d->steps[k]);
		}
		printf("]}");
	}
	printf("],\"skipped\":[");
	for (size_t i = 0; i < l->nskips; i++) {
		printf("%s{\"path\":", i ? "," : "");
		cli_json_put(l->skips[i].path, sizeof(l->skips[i].path));
		printf(",\"reason\":");
		cli_json_put(l->skips[i].why, sizeof(l->skips[i].why));
		printf("}");
	}
	printf("]}\n");
}

static void print_row(const struct jobdir *d, const struct jobdir_step *s, int jw, int sw, int64_t now)
{
	char gen[24] = "-", size[32], age[32];

	if (s && s->gen)
		snprintf(gen, sizeof(gen), "%" PRIu64, s->gen);
	const struct jobdir_usage *u = s ? &s->use : &d->use;
	printf("%-*s  %-*s  %-11s  %6s  ", jw, d->is_step ? "-" : d->name, sw, s ? s->name : "-",
	       s ? jobdir_state_name(s->state) : "-", gen);
	print_time(s ? s->taken : 0);
	printf("  %10s  %s ago\n", jobdir_size_str(u->bytes, size), jobdir_age_str(now - u->newest, age));
}

/* what the table cannot say: unreadable parts, coordinators that do not answer */
static void print_notes(const struct jobdir *d)
{
	const struct jobdir_usage *u = &d->use;

	if (u->coords == 1)
		printf("note: %s: %s/COORD names coordinator pid %d, which does not answer from this host "
		       "(it runs on another node, or it died)\n", d->path, u->coord_at, (int)u->coord);
	if (u->err)
		printf("note: %s: cannot read %s: %s\n", d->path, u->unreadable, strerror(-u->err));
}

static void print_human(const struct jobdir_list *l, bool whole_base)
{
	int64_t now = (int64_t)time(NULL);
	int jw = 3, sw = 4;

	if (whole_base)
		printf("base: %s\n", l->parent);
	if (l->missing)
		printf("no checkpoint folders: %s does not exist\n", l->parent);
	else if (!l->ndirs && whole_base)
		printf("no checkpoint folders in %s\n", l->parent);
	for (size_t i = 0; i < l->ndirs; i++) {
		const struct jobdir *d = &l->dirs[i];
		int n = (int)strlen(d->name);
		if (!d->is_step && n > jw)
			jw = n;
		for (size_t k = 0; k < d->nsteps; k++)
			if ((n = (int)strlen(d->steps[k].name)) > sw)
				sw = n;
	}
	if (l->ndirs)
		printf("%-*s  %-*s  %-11s  %6s  %-16s  %10s  %s\n", jw, "JOB", sw, "STEP", "STATE", "GEN", "TAKEN",
		       "SIZE", "MODIFIED");
	for (size_t i = 0; i < l->ndirs; i++) {
		const struct jobdir *d = &l->dirs[i];
		for (size_t k = 0; k < d->nsteps; k++)
			print_row(d, &d->steps[k], jw, sw, now);
		if (!d->nsteps)
			print_row(d, NULL, jw, sw, now);
	}
	for (size_t i = 0; i < l->ndirs; i++)
		print_notes(&l->dirs[i]);
	for (size_t i = 0; i < l->nskips; i++)
		printf("left alone: %s: %s\n", l->skips[i].path, l->skips[i].why);
}

int cmd_ls(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "checkpoint-dir", required_argument, NULL, 'b' },
		{ "dir", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *base = NULL, *dir = NULL;
	struct jobdir_list l;
	bool json = false;
	int ch;

	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'b': base = optarg; break;
		case 'd': dir = optarg; break;
		case 'j': json = true; break;
		case 'h': usage(stdout); return 0;
		default: return cli_opt_error("ls", ch, argv);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "crest: ls: unexpected argument %s; see crest ls --help\n", argv[optind]);
		return 2;
	}
	if (base && dir) {
		fprintf(stderr, "crest: ls: --checkpoint-dir and --dir go one at a time; see crest ls --help\n");
		return 2;
	}
	if (jobdir_open("ls", base, dir, &l))
		return 1;
	if (json)
		print_json(&l, !dir);
	else
		print_human(&l, !dir);
	int rc = dir && !l.ndirs ? 1 : 0;	/* --dir of something that is not crest's */
	jobdir_list_free(&l);
	return fflush(stdout) ? 1 : rc;
}
