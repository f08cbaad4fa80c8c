/* SPDX-License-Identifier: MIT */
/*
 * Is a generation whole?  Every image its MANIFEST lists exists, has the
 * size the MANIFEST records and a header whose checksum is the recorded
 * one.  `crest restart` checks a node's images before it starts anything
 * (cli_restart.c); `crest step-start` on node 0 checks every node's, so
 * that all nodes of a step restart from the same generation, the newest
 * whole one (cli_step.c).
 */
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ckdir.h"
#include "cli.h"
#include "image_read.h"

int cli_image_check(const char *image, const struct ckdir_image *rec, char *why, size_t whylen)
{
	struct stat st;
	struct crest_ir ir;
	char err[1024];

	if (stat(image, &st) < 0) {
		snprintf(why, whylen, "is damaged: image %s: %s", image, strerror(errno));
		return -1;
	}
	if ((uint64_t)st.st_size != rec->size) {
		snprintf(why, whylen, "is damaged: image %s is %lld bytes, MANIFEST says %" PRIu64, image,
			 (long long)st.st_size, rec->size);
		return -1;
	}
	if (crest_ir_open(&ir, image, err, sizeof(err))) {
		snprintf(why, whylen, "is damaged: %s", err);
		return -1;
	}
	uint32_t crc = ir.hdr.crc;
	crest_ir_close(&ir);
	if (crc != rec->crc) {
		snprintf(why, whylen, "is damaged: the header of image %s has checksum %08x, MANIFEST says %08x",
			 image, crc, rec->crc);
		return -1;
	}
	return 0;
}

int cli_gen_check(const char *abs, uint64_t gen, char *why, size_t whylen)
{
	struct ckdir_manifest man;
	char gdir[PATH_MAX], image[PATH_MAX * 2];

	int r = ckdir_manifest_read(abs, gen, &man);
	if (r) {
		snprintf(why, whylen, "is incomplete (%s)", r == -ENOENT ? "no MANIFEST" : "damaged MANIFEST");
		return -1;
	}
	if (man.nimages == 0) {
		snprintf(why, whylen, "is damaged: its MANIFEST lists no image");
		ckdir_manifest_free(&man);
		return -1;
	}
	ckdir_gen_path(gdir, sizeof(gdir), abs, gen);
	for (size_t i = 0; i < man.nimages; i++) {
		snprintf(image, sizeof(image), "%s/%s", gdir, man.images[i].path);
		if (cli_image_check(image, &man.images[i], why, whylen)) {
			ckdir_manifest_free(&man);
			return -1;
		}
	}
	ckdir_manifest_free(&man);
	return 0;
}

int cli_newest_whole(const char *abs, const char *shown, const char *who, uint64_t *gen,
		     int (*also)(uint64_t gen, void *arg, char *why, size_t whylen), void *arg)
{
	uint64_t *gens = NULL;
	size_t n = 0;
	char why[3 * PATH_MAX];
	int tried = 0;
	bool refused = false;

	*gen = 0;
	if (ckdir_list_gens(abs, &gens, &n) < 0)
		n = 0;
	for (size_t i = n; i-- > 0;) {
		if (!ckdir_gen_complete(abs, gens[i]))
			continue;
		int r = cli_gen_check(abs, gens[i], why, sizeof(why));
		if (!r && also && (r = also(gens[i], arg, why, sizeof(why))) == -2) {
			/* whole, but not for this one: an older one would part it
			 * from the others, which take this one */
			fprintf(stderr, "crest: %s: generation %" PRIu64 " in %s %s; the other nodes restart from it: "
				"restart every node with --generation N to use an older one\n", who, gens[i], shown, why);
			refused = true;
			break;
		}
		if (!r) {
			if (tried)
				fprintf(stderr, "crest: %s: restarting from generation %" PRIu64 " instead\n", who, gens[i]);
			*gen = gens[i];
			break;
		}
		fprintf(stderr, "crest: %s: generation %" PRIu64 " in %s %s%s\n", who, gens[i], shown, why,
			tried ? "" : "; trying older generations");
		tried++;
	}
	free(gens);
	if (refused)
		return -1;
	if (!*gen && tried) {
		fprintf(stderr, "crest: %s: no complete generation in %s can be restarted; the checkpoint is "
			"damaged\n", who, shown);
		return -1;
	}
	return 0;
}
