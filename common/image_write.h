/* SPDX-License-Identifier: MIT */
/*
 * Image writer: writes a crest process image (include/crest/image.h,
 * docs/image-format.md) from inside the checkpointed process while every
 * other application thread is suspended.
 *
 * Rules that follow from where it runs: no malloc, no stdio, no pthread.
 * Only system calls through their libc wrappers, and memory that the caller
 * gives: a scratch area of crest_iw_scratch_size() bytes, page aligned
 * (mmap it), that must stay mapped until crest_iw_finish/abort returns.
 *
 *	static struct crest_iw w;
 *	size_t n = crest_iw_scratch_size(CREST_COMP_ZSTD, 1);
 *	void *s = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
 *	rc = crest_iw_open(&w, path, CREST_COMP_ZSTD, 1, s, n);
 *	rc = crest_iw_section(&w, CREST_SEC_PROCESS, 0, 1, &proc, sizeof(proc));
 *	rc = crest_iw_memory(&w, region_index, start, end - start);
 *	... hdr.pid = ...; rc = crest_iw_finish(&w, &hdr);
 *	if (rc) crest_iw_abort(&w);
 *
 * Every function returns 0 or -errno (ENOSPC and EDQUOT come back as such).
 * After any error the image is unusable: call crest_iw_abort().
 *
 * With compression and threads > 1, that many raw threads (rawthread.h)
 * compress chunks while the caller writes; crest_iw_memory returns with
 * chunks still in flight: the memory must stay unchanged until the next
 * crest_iw_section*, crest_iw_finish or crest_iw_abort.
 */
#ifndef CREST_IMAGE_WRITE_H
#define CREST_IMAGE_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "crest/image.h"

#define CREST_IW_THREADS_MAX	64

struct iw_slot;

struct crest_iw {			/* caller allocates; fields are private */
	int fd;
	int direct;			/* 1 if the file is open with O_DIRECT */
	uint64_t off;			/* where the next section goes */
	unsigned compress;		/* CREST_COMP_* for memory */
	unsigned threads;		/* compression workers (1 = caller only) */
	int level;			/* zstd level */
	uint64_t nsections;
	uint64_t memory_bytes;		/* raw memory bytes saved */
	uint64_t stored_bytes;		/* memory payload bytes written */
	char path[4096];
	void *scratch;
	size_t scratch_len;
	unsigned char *blk;		/* 4096-byte header block, in scratch */
	unsigned char *buf;		/* staging buffer, right after blk */
	size_t buf_len;
	void *zctx;			/* static ZSTD_CCtx in scratch */
	struct iw_slot *slots;		/* compression workers, in scratch */
	unsigned next_slot;		/* the slot that gets the next chunk */
	/* called after each memory chunk and each staged write with the raw bytes done */
	void (*progress)(void *arg, uint64_t bytes);
	void *progress_arg;
	uint64_t src_delta;		/* crest_iw_memory_from: content at addr + src_delta */
};

/* Bytes of scratch crest_iw_open needs for this compression and thread count. */
size_t crest_iw_scratch_size(unsigned compress, unsigned threads);

/* Create path (O_EXCL, mode 0600), O_DIRECT when the file system allows it. */
int crest_iw_open(struct crest_iw *w, const char *path, unsigned compress, unsigned threads,
		  void *scratch, size_t len);

/* A section whose payload is in memory (len <= CREST_SEC_PAYLOAD_MAX). */
int crest_iw_section(struct crest_iw *w, uint32_t type, uint32_t index, uint32_t count,
		     const void *payload, size_t len);

/* A FILEDATA section: len bytes read from srcfd at offset 0 (pread). */
int crest_iw_section_fd(struct crest_iw *w, uint32_t type, uint32_t index, int srcfd, uint64_t len);

/* Memory [addr, addr+len) of this process, both page aligned, in chunks of
 * at most CREST_CHUNK_MAX raw bytes, compressed when the image is. */
int crest_iw_memory(struct crest_iw *w, uint32_t region, uint64_t addr, uint64_t len);

/* Like crest_iw_memory, but the bytes for [addr, addr+len) are read from src
 * (a stable copy of memory that changes while the image is written). */
int crest_iw_memory_from(struct crest_iw *w, uint32_t region, uint64_t addr, const void *src, uint64_t len);

/* END section, then the file header (caller fills pid, nthreads, generation,
 * kernel_release, glibc_version, created_ns), fdatasync, close. */
int crest_iw_finish(struct crest_iw *w, struct crest_img_header *h);

/* Close and unlink a partial image.  Harmless after a successful finish. */
void crest_iw_abort(struct crest_iw *w);

#endif
