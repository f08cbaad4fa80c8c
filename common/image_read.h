/* SPDX-License-Identifier: MIT */
/*
 * Image reader: validates and reads a crest process image
 * (include/crest/image.h, docs/image-format.md).  Ordinary libc code, for
 * `crest inspect`, the checks before a restart and tests.
 *
 * Damaged input never crashes the reader: every length, offset and count is
 * checked against the file before it is used.  Functions return 0 (or 1 for
 * crest_ir_next "got a section") or -errno: -EBADMSG for a damaged or
 * incomplete image, -EPROTONOSUPPORT for another version or architecture,
 * and write a message for the user into err: the image, the section, its
 * offset, what is wrong and what to do.
 *
 *	struct crest_ir r;
 *	struct crest_sec_hdr sh;
 *	uint64_t off;
 *	if (crest_ir_open(&r, path, err, sizeof(err))) ...
 *	while ((rc = crest_ir_next(&r, &sh, &off, err, sizeof(err))) == 1)
 *		if (sh.type == CREST_SEC_PROCESS)
 *			rc = crest_ir_read_payload(&r, &sh, off, &proc, sizeof(proc), err, sizeof(err));
 *	crest_ir_close(&r);
 */
#ifndef CREST_IMAGE_READ_H
#define CREST_IMAGE_READ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "crest/image.h"

struct crest_ir {
	int fd;
	int done;			/* END seen */
	char path[4096];
	struct crest_img_header hdr;	/* verified file header */
	uint64_t file_size;
	uint64_t off;			/* next section header */
	uint64_t secno;			/* number of the next section, from 0 */
	uint64_t memno;			/* memory chunks seen so far */
	uint64_t cur_secno;		/* the section last returned by next */
	uint64_t cur_memno;
	void *dctx;			/* ZSTD_DCtx, created on first use */
	void *cbuf;			/* compressed payload */
	size_t cbuf_len;
};

int crest_ir_open(struct crest_ir *r, const char *path, char *err, size_t errlen);

/* 1 = *sh holds the next section, its payload at *payload_off; 0 = END. */
int crest_ir_next(struct crest_ir *r, struct crest_sec_hdr *sh, uint64_t *payload_off,
		  char *err, size_t errlen);

/* Read the payload of the section next returned, verify its crc and
 * decompress it: sh->raw_length bytes land in buf (buflen >= raw_length). */
int crest_ir_read_payload(struct crest_ir *r, const struct crest_sec_hdr *sh, uint64_t off,
			  void *buf, size_t buflen, char *err, size_t errlen);

/* Verify every checksum of the image, decompressing each chunk.  With a
 * report stream: one line per section if verbose, a summary line anyway. */
int crest_ir_verify_all(const char *path, FILE *report, int verbose, char *err, size_t errlen);

void crest_ir_close(struct crest_ir *r);

/* "PROCESS", "MEMORY", ... or "unknown" */
const char *crest_sec_name(uint32_t type);

#endif
