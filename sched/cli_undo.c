/* SPDX-License-Identifier: MIT */
/*
 * A restart takes away what the computation created after the generation
 * it restarts from (common/created.h): the node's journal copies of every
 * later generation, then its current journal, replayed and undone; the
 * paths removed are listed in RUN/REMOVED, and one line says how many.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckdir.h"
#include "cli.h"
#include "created.h"

/* the journal's paths in the terms of this restart: --path-map /OLD=/NEW
 * (the longest OLD that is a whole-component prefix) */
static int map_paths(struct crest_created_set *s, char *const *maps, int nmaps)
{
	for (size_t i = 0; i < s->n; i++) {
		const char *p = s->e[i].path, *best = NULL;
		size_t blen = 0;
		for (int m = 0; m < nmaps; m++) {
			const char *eq = strchr(maps[m], '=');
			size_t ol = eq ? (size_t)(eq - maps[m]) : 0;
			while (ol > 1 && maps[m][ol - 1] == '/')
				ol--;
			if (eq && ol > blen && !strncmp(p, maps[m], ol) && (p[ol] == '/' || !p[ol])) {
				best = maps[m];
				blen = ol;
			}
		}
		if (!best)
			continue;
		const char *now = strchr(best, '=') + 1;
		char *np = malloc(strlen(now) + strlen(p + blen) + 1);
		if (!np)
			return -ENOMEM;
		strcpy(np, now);
		strcat(np, p + blen);
		free(s->e[i].path);
		s->e[i].path = np;
	}
	return 0;
}

int cli_undo_created(const struct cli_undo *u)
{
	struct crest_created_set s = { 0 };
	char path[PATH_MAX + 64], before[PATH_MAX + 64] = "";
	uint64_t *gens = NULL;
	size_t ngens = 0;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/REMOVED", u->run);
	unlink(path);	/* an earlier restart's list */
	if (!u->keep && u->gen) {
		char gdir[PATH_MAX];
		if (!ckdir_gen_path(gdir, sizeof(gdir), u->abs, u->gen))
			snprintf(before, sizeof(before), "%s/n%u/" CREST_CREATED_NAME, gdir, u->src_node);
		rc = ckdir_list_gens(u->abs, &gens, &ngens);
		for (size_t i = 0; !rc && i < ngens; i++) {
			if (gens[i] <= u->gen || ckdir_gen_path(gdir, sizeof(gdir), u->abs, gens[i]))
				continue;
			snprintf(path, sizeof(path), "%s/n%u/" CREST_CREATED_NAME, gdir, u->src_node);
			rc = crest_created_load(&s, path, before[0] ? before : NULL);
			snprintf(before, sizeof(before), "%s", path);
		}
		snprintf(path, sizeof(path), "%s/" CREST_CREATED_NAME, u->src_run);
		if (!rc)
			rc = crest_created_load(&s, path, before[0] ? before : NULL);
		if (!rc)
			rc = map_paths(&s, u->maps, u->nmaps);
	}
	if (rc) {
		fprintf(stderr, "crest: %s: cannot read %s: %s; what the computation created after generation %"
			PRIu64 " stays\n", u->who, path, strerror(-rc), u->gen);
	} else if (s.ended && !u->slurm) {
		fprintf(stderr, "crest: %s: the computation ended on its own after generation %" PRIu64
			"; what it created since stays\n", u->who, u->gen);
	} else if (s.n) {
		struct crest_created_counts c;
		unsigned failed;
		char who[64];
		snprintf(path, sizeof(path), "%s/REMOVED", u->run);
		FILE *list = fopen(path, "w");
		snprintf(who, sizeof(who), "crest: %s", u->who);
		failed = crest_created_undo(&s, u->taken, list, who, &c);
		if (list && (fclose(list) || !(c.files + c.dirs)))
			unlink(path);
		if (c.files || c.dirs)
			fprintf(stderr, "crest: %s: removed %u file%s and %u folder%s the computation created after "
				"generation %" PRIu64 " (the list: %s; --keep-created keeps them)\n", u->who, c.files,
				c.files == 1 ? "" : "s", c.dirs, c.dirs == 1 ? "" : "s", u->gen, path);
		if (c.unsure)
			fprintf(stderr, "crest: %s: kept %u file%s the computation created after generation %" PRIu64
				": their file system keeps no birth time, so they cannot be told from files made "
				"there since\n", u->who, c.unsure, c.unsure == 1 ? "" : "s", u->gen);
		if (failed)
			rc = -EPERM;
	}
	crest_created_free(&s);
	free(gens);
	/* the run from here creates anew */
	int r = crest_created_reset(u->src_run);
	if (r)
		fprintf(stderr, "crest: %s: cannot empty %s/" CREST_CREATED_NAME ": %s\n", u->who, u->src_run,
			strerror(-r));
	return rc;
}
