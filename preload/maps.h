/* SPDX-License-Identifier: MIT */
#ifndef CREST_MAPS_H
#define CREST_MAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crest/image.h"

struct crest_map {
	uint64_t start, end, offset, inode;
	uint32_t prot;
	bool shared;
	char path[CREST_IMG_PATH_MAX];
};

struct crest_maps {
	struct crest_map *e;
	size_t n, max;
};

int crest_maps_read(struct crest_maps *m, char *err, size_t errlen);
bool crest_path_deleted(const char *path);

#endif
