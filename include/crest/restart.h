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
#define CREST_RINFO_VERSION	2	/* 2: fd_links */
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
	int32_t vpid_fd;		/* the pid table of the restarted tree, or -1 */
	uint32_t inherit_fds;		/* bit n: fd n (0-2) is the restarting shell's, keep it */
	uint32_t reserved[14];
	char path_map[8192];		/* "OLD\0NEW\0...\0" from --path-map, empty-terminated */
	char env[4096];			/* "NAME=VALUE\0...\0" from --env, empty-terminated */
	char tmpdir[1024];		/* TMPDIR of `crest restart` ("" if unset) */
	/* open file descriptions shared with the parent or children, handed
	 * over through sockets crest restart made (sched/cli_tree_files.c):
	 * lines "i SOCK PFD:FD,..." (receive from the parent: its fd PFD
	 * becomes fd FD here) and "o SOCK PFD,..." (send these fds to a
	 * child); "" when none */
	char fd_links[2048];
};

/* The pid table of a restarted process tree: `crest restart` creates it
 * (a memfd) before it forks the tree; each parent records its children's
 * new pids as it forks them (`filled` counts the entries done); every
 * restored process waits until filled == n, then loads it.  The same bytes
 * are kept in DIR/VPIDS, which a program exec'ed later loads. */
#define CREST_VPIDS_MAGIC	0x53444950u	/* "PIDS" */

struct crest_vpids_hdr {
	uint32_t magic;
	uint32_t n;
	uint32_t filled;
	uint32_t reserved;
};

struct crest_vpid_pair {
	int32_t virt, real;
};

#endif
