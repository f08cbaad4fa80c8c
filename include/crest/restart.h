/* SPDX-License-Identifier: MIT */
/*
 * Hand-over from crest-restart to libcrest.  crest-restart maps the image's
 * memory back and calls the image's restart_entry (an address inside the
 * restored libcrest) on the image's restart_stack with a pointer to this
 * struct, which lives in crest-restart's memory: libcrest copies it first,
 * then unmaps [self_lo, self_hi).
 */
#ifndef CREST_RESTART_H
#define CREST_RESTART_H

#include <stdint.h>

#define CREST_RINFO_MAGIC	0x4f464e49u	/* "INFO" */
#define CREST_RINFO_VERSION	1
#define CREST_RESTART_IMAGE_FD	990	/* image fd in the restored process */

struct crest_restart_info {
	uint32_t magic;
	uint32_t version;
	int32_t image_fd;		/* open image, closed by libcrest */
	uint32_t restart_count;
	uint64_t generation;
	uint64_t self_lo, self_hi;	/* crest-restart's own mappings */
	uint64_t restart_ns;		/* CLOCK_MONOTONIC when crest-restart started */
	char image[4096];		/* absolute path of the image */
	char dir[4096];			/* checkpoint directory of this run */
	char no_truncate[4096];		/* NUL-separated globs, empty-terminated */
};

#endif
