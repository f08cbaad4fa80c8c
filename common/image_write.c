/* SPDX-License-Identifier: MIT */
/*
 * Image writer.  Runs inside the application while its threads are
 * suspended: no malloc, no stdio, no pthread; only syscalls and the
 * caller's scratch area.  Format: docs/image-format.md.
 *
 * Scratch layout:
 *	[0, 4096)			header block (section or file header)
 *	[4096, 4096 + buf_len)		staging buffer: copies of small payloads,
 *					file data, compressed chunks
 *	[..., + cctx)			static zstd compression context
 *	[..., ...)			threads > 1: the slots, then for each worker
 *					its header block + output buffer, cctx, stack
 *
 * The header block sits right before the staging buffer, so a compressed
 * chunk goes out with its header in one write.  Raw memory is written
 * straight from its pages (pwritev of header block + memory): no copy.
 * Everything written is a multiple of 4096 at a multiple of 4096, as
 * O_DIRECT wants; the file header at offset 0 is written last.
 */
#define LOG_MODULE "image"
#define ZSTD_STATIC_LINKING_ONLY
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zstd.h>

#include "crest/crc32c.h"
#include "image_write.h"
#include "log.h"
#include "rawthread.h"

#define BLK		CREST_IMG_ALIGN
#ifndef ZSTD_LEVEL
#define ZSTD_LEVEL	1	/* see docs/image-format.md, "Compression" */
#endif

static inline uint64_t round_up(uint64_t v)
{
	return (v + BLK - 1) & ~(uint64_t)(BLK - 1);
}

static size_t stage_len(unsigned compress)
{
	if (compress == CREST_COMP_ZSTD)
		return round_up(ZSTD_COMPRESSBOUND(CREST_CHUNK_MAX));
	return CREST_CHUNK_MAX;
}

static size_t cctx_len(unsigned compress)
{
	if (compress != CREST_COMP_ZSTD)
		return 0;
	return round_up(ZSTD_estimateCCtxSize(ZSTD_LEVEL));
}

#define WORKER_STACK	(256u << 10)

enum { SLOT_IDLE, SLOT_BUSY, SLOT_DONE, SLOT_EXIT };

/* One compression worker and the chunk it holds. */
struct iw_slot {
	volatile uint32_t state;	/* SLOT_*: futex word */
	uint32_t region;
	uint64_t addr;
	uint64_t src;			/* where the bytes are read (addr unless snapshotted) */
	size_t n;			/* raw bytes */
	size_t clen;			/* compressed bytes, 0 = store raw */
	unsigned char *blk;		/* header block, output right after it */
	size_t out_len;
	void *cctx;
	int level;
	int started;
	struct crest_rt rt;
};

static int pool_start(struct crest_iw *w);
static void pool_stop(struct crest_iw *w);
static int drain(struct crest_iw *w);

static size_t worker_len(unsigned compress)
{
	return BLK + stage_len(compress) + cctx_len(compress) + WORKER_STACK;
}

static size_t slots_len(unsigned threads)
{
	return round_up(threads * sizeof(struct iw_slot));
}

size_t crest_iw_scratch_size(unsigned compress, unsigned threads)
{
	size_t n = BLK + stage_len(compress) + cctx_len(compress);

	if (threads > CREST_IW_THREADS_MAX)
		threads = CREST_IW_THREADS_MAX;
	if (compress == CREST_COMP_ZSTD && threads > 1)
		n += slots_len(threads) + threads * worker_len(compress);
	return n;
}

/* pwritev until done: retries EINTR and short writes.  Consumes iov. */
static int writev_full(int fd, struct iovec *iov, int n, uint64_t off)
{
	while (n > 0) {
		ssize_t r = pwritev(fd, iov, n, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		off += (uint64_t)r;
		while (n > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len, uint64_t off)
{
	struct iovec iov = { (void *)buf, len };

	return writev_full(fd, &iov, 1, off);
}

static int write_err(struct crest_iw *w, int rc, const char *what, uint64_t off)
{
	if (rc == -ENOSPC || rc == -EDQUOT)
		pr_err("image %s: %s at offset %lu: %s; free space or raise the quota on the checkpoint directory",
		       w->path, what, (unsigned long)off, rc == -ENOSPC ? "no space left on device" : "disk quota exceeded");
	else
		pr_err("image %s: %s at offset %lu failed (errno %d)", w->path, what, (unsigned long)off, -rc);
	return rc;
}

/* Fill the header block with a section header and its crc. */
static void make_sec_hdr(struct crest_iw *w, uint32_t type, uint64_t length, uint64_t raw_length,
			 uint64_t addr, uint32_t compress, uint32_t crc, uint32_t index, uint32_t count)
{
	struct crest_sec_hdr *sh = (struct crest_sec_hdr *)w->blk;

	memset(w->blk, 0, BLK);
	sh->magic = CREST_SEC_MAGIC;
	sh->type = type;
	sh->length = length;
	sh->raw_length = raw_length;
	sh->addr = addr;
	sh->compress = compress;
	sh->payload_crc = crc;
	sh->index = index;
	sh->count = count;
	sh->hdr_crc = crc32c(0, sh, sizeof(*sh));
}

static void progress(struct crest_iw *w, uint64_t bytes)
{
	if (w->progress)
		w->progress(w->progress_arg, bytes);
}

int crest_iw_open(struct crest_iw *w, const char *path, unsigned compress, unsigned threads,
		  void *scratch, size_t len)
{
	size_t plen = strlen(path);
	int rc = -EINVAL;

	memset(w, 0, sizeof(*w));
	w->fd = -1;
	if (plen >= sizeof(w->path)) {
		pr_err("image path is %zu bytes long, the limit is %zu", plen, sizeof(w->path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(w->path, path, plen + 1);
	if (compress != CREST_COMP_NONE && compress != CREST_COMP_ZSTD) {
		pr_err("image %s: unknown compression %u (0 = none, 1 = zstd)", path, compress);
		goto out;
	}
	if (threads == 0)
		threads = 1;
	if (threads > CREST_IW_THREADS_MAX)
		threads = CREST_IW_THREADS_MAX;
	if (compress == CREST_COMP_NONE)
		threads = 1;
	if (((uintptr_t)scratch & (BLK - 1)) || len < crest_iw_scratch_size(compress, threads)) {
		pr_err("image %s: scratch area %p of %zu bytes must be page aligned and at least %zu bytes",
		       path, scratch, len, crest_iw_scratch_size(compress, threads));
		goto out;
	}
	w->compress = compress;
	w->threads = threads;
	w->level = ZSTD_LEVEL;
	w->scratch = scratch;
	w->scratch_len = len;
	w->blk = scratch;
	w->buf = w->blk + BLK;
	w->buf_len = stage_len(compress);
	w->off = BLK;		/* the file header goes to offset 0 at the end */
	if (compress == CREST_COMP_ZSTD) {
		w->zctx = ZSTD_initStaticCCtx(w->buf + w->buf_len, cctx_len(compress));
		if (!w->zctx) {
			pr_err("image %s: zstd cannot use the %zu-byte scratch context", path, cctx_len(compress));
			goto out;
		}
	}
	/* O_DIRECT is set after the open: an open(O_DIRECT) refused with EINVAL
	 * would already have created the file, and O_EXCL forbids a retry. */
	w->fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		rc = -errno;
		pr_perror("cannot create image %s", path);
		goto out;
	}
	if (fcntl(w->fd, F_SETFL, O_DIRECT) == 0)
		w->direct = 1;
	else if (errno != EINVAL) {
		rc = -errno;
		pr_perror("image %s: fcntl(O_DIRECT)", path);
		goto out_unlink;
	}
	if (threads > 1) {
		rc = pool_start(w);
		if (rc) {
			pr_err("image %s: cannot start %u compression threads (errno %d)", path, threads, -rc);
			goto out_unlink;
		}
	}
	return 0;

out_unlink:
	close(w->fd);
	w->fd = -1;
	unlink(path);
out:
	return rc;
}

/*
 * Payload bytes go through the staging buffer; the section header block is
 * written after the payload, once its crc is known.
 */
struct stage {
	uint64_t sec_off;	/* offset of the header block */
	uint64_t pos;		/* file offset of buf[0] */
	size_t fill;
	uint32_t crc;
};

static int stage_flush(struct crest_iw *w, struct stage *s)
{
	size_t n = round_up(s->fill);
	int rc;

	if (!s->fill)
		return 0;
	memset(w->buf + s->fill, 0, n - s->fill);
	rc = write_full(w->fd, w->buf, n, s->pos);
	if (rc)
		return write_err(w, rc, "writing section data", s->pos);
	progress(w, s->fill);
	s->pos += n;
	s->fill = 0;
	return 0;
}

static int stage_end(struct crest_iw *w, struct stage *s, uint32_t type, uint64_t len,
		     uint32_t index, uint32_t count)
{
	int rc = stage_flush(w, s);

	if (rc)
		return rc;
	make_sec_hdr(w, type, len, len, 0, CREST_COMP_NONE, s->crc, index, count);
	rc = write_full(w->fd, w->blk, BLK, s->sec_off);
	if (rc)
		return write_err(w, rc, "writing section header", s->sec_off);
	w->off = s->pos;
	w->nsections++;
	return 0;
}

static int check_type(struct crest_iw *w, uint32_t type)
{
	if (type == CREST_SEC_MEMORY || type == CREST_SEC_END || type == 0) {
		pr_err("image %s: section type %u cannot be written with crest_iw_section; use crest_iw_memory/finish",
		       w->path, type);
		return -EINVAL;
	}
	if (w->fd < 0)
		return -EBADF;
	return drain(w);
}

int crest_iw_section(struct crest_iw *w, uint32_t type, uint32_t index, uint32_t count,
		     const void *payload, size_t len)
{
	const unsigned char *p = payload;
	int rc = check_type(w, type);	/* also writes the chunks in flight */
	struct stage s = { w->off, w->off + BLK, 0, 0 };

	if (rc)
		return rc;
	if (len > CREST_SEC_PAYLOAD_MAX) {
		pr_err("image %s: section type %u has %zu bytes, the limit is %llu", w->path, type, len,
		       (unsigned long long)CREST_SEC_PAYLOAD_MAX);
		return -EFBIG;
	}
	s.crc = crc32c(0, p, len);
	while (len) {
		size_t n = w->buf_len - s.fill;
		if (n > len)
			n = len;
		memcpy(w->buf + s.fill, p, n);
		s.fill += n;
		p += n;
		len -= n;
		if (s.fill == w->buf_len && (rc = stage_flush(w, &s)))
			return rc;
	}
	return stage_end(w, &s, type, (uint64_t)(p - (const unsigned char *)payload), index, count);
}

int crest_iw_section_fd(struct crest_iw *w, uint32_t type, uint32_t index, int srcfd, uint64_t len)
{
	uint64_t done = 0;
	int rc = check_type(w, type);	/* also writes the chunks in flight */
	struct stage s = { w->off, w->off + BLK, 0, 0 };

	if (rc)
		return rc;
	while (done < len) {
		size_t n = w->buf_len - s.fill;
		ssize_t r;

		if (n > len - done)
			n = len - done;
		r = pread(srcfd, w->buf + s.fill, n, (off_t)done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			pr_perror("image %s: reading file data of fd record %u at offset %lu", w->path, index,
				  (unsigned long)done);
			return rc;
		}
		if (r == 0) {
			pr_err("image %s: file of fd record %u ended at %lu bytes, expected %lu; was it truncated during the checkpoint?",
			       w->path, index, (unsigned long)done, (unsigned long)len);
			return -EIO;
		}
		s.crc = crc32c(s.crc, w->buf + s.fill, (size_t)r);
		s.fill += (size_t)r;
		done += (uint64_t)r;
		if (s.fill == w->buf_len && (rc = stage_flush(w, &s)))
			return rc;
	}
	return stage_end(w, &s, type, len, index, 0);
}

/* Write one raw chunk: header block + the pages themselves. */
static int chunk_raw(struct crest_iw *w, uint32_t region, uint64_t addr, uint64_t src, size_t n)
{
	struct iovec iov[2];
	int rc;

	make_sec_hdr(w, CREST_SEC_MEMORY, n, n, addr, CREST_COMP_NONE,
		     crc32c(0, (const void *)(uintptr_t)src, n), region, 0);
	iov[0].iov_base = w->blk;
	iov[0].iov_len = BLK;
	iov[1].iov_base = (void *)(uintptr_t)src;
	iov[1].iov_len = n;
	rc = writev_full(w->fd, iov, 2, w->off);
	if (rc)
		return write_err(w, rc, "writing memory chunk", w->off);
	w->off += BLK + n;
	w->stored_bytes += n;
	return 0;
}

/*
 * Write one chunk whose compressed form (clen bytes) is at blk + BLK, right
 * after the header block.  When compression saves nothing, the raw pages go
 * out instead.
 */
static int put_chunk(struct crest_iw *w, unsigned char *blk, size_t clen, uint32_t region,
		       uint64_t addr, uint64_t src, size_t n)
{
	struct crest_sec_hdr *sh = (struct crest_sec_hdr *)blk;
	size_t padded = round_up(clen);
	int rc;

	if (!clen || padded >= n)
		return chunk_raw(w, region, addr, src, n);
	memset(blk + BLK + clen, 0, padded - clen);
	memset(blk, 0, BLK);
	sh->magic = CREST_SEC_MAGIC;
	sh->type = CREST_SEC_MEMORY;
	sh->length = clen;
	sh->raw_length = n;
	sh->addr = addr;
	sh->compress = CREST_COMP_ZSTD;
	sh->payload_crc = crc32c(0, blk + BLK, clen);
	sh->index = region;
	sh->hdr_crc = crc32c(0, sh, sizeof(*sh));
	rc = write_full(w->fd, blk, BLK + padded, w->off);
	if (rc)
		return write_err(w, rc, "writing memory chunk", w->off);
	w->off += BLK + padded;
	w->stored_bytes += clen;
	return 0;
}

/* ---- compression workers ---- */

static void worker(void *arg)
{
	struct iw_slot *s = arg;
	uint32_t st;

	for (;;) {
		while ((st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE)) != SLOT_BUSY && st != SLOT_EXIT)
			crest_rt_wait(&s->state, st);
		if (st == SLOT_EXIT)
			break;
		size_t r = ZSTD_compressCCtx(s->cctx, s->blk + BLK, s->out_len,
					     (const void *)(uintptr_t)s->src, s->n, s->level);
		s->clen = ZSTD_isError(r) ? 0 : r;
		__atomic_store_n(&s->state, SLOT_DONE, __ATOMIC_RELEASE);
		crest_rt_wake(&s->state);
	}
}

static void pool_stop(struct crest_iw *w)
{
	for (unsigned i = 0; i < w->threads; i++) {
		struct iw_slot *s = &w->slots[i];
		uint32_t st;

		if (!s->started)
			continue;
		while ((st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE)) == SLOT_BUSY)
			crest_rt_wait(&s->state, st);
		__atomic_store_n(&s->state, SLOT_EXIT, __ATOMIC_RELEASE);
		crest_rt_wake(&s->state);
		crest_rt_join(&s->rt);
		s->started = 0;
	}
	w->slots = NULL;
}

static int pool_start(struct crest_iw *w)
{
	unsigned char *p = (unsigned char *)w->zctx + cctx_len(w->compress);
	int rc = 0;

	w->slots = (struct iw_slot *)p;
	memset(p, 0, slots_len(w->threads));
	p += slots_len(w->threads);
	for (unsigned i = 0; i < w->threads; i++, p += worker_len(w->compress)) {
		struct iw_slot *s = &w->slots[i];

		s->blk = p;
		s->out_len = stage_len(w->compress);
		s->level = w->level;
		s->cctx = ZSTD_initStaticCCtx(p + BLK + s->out_len, cctx_len(w->compress));
		if (!s->cctx) {
			rc = -ENOMEM;
			break;
		}
		rc = crest_rt_start(&s->rt, p + BLK + s->out_len + cctx_len(w->compress), WORKER_STACK,
				    worker, s);
		if (rc)
			break;
		s->started = 1;
	}
	if (rc)
		pool_stop(w);
	return rc;
}

/* Wait for the chunk of slot s and write it. */
static int slot_flush(struct crest_iw *w, struct iw_slot *s)
{
	uint32_t st;
	int rc;

	while ((st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE)) == SLOT_BUSY)
		crest_rt_wait(&s->state, st);
	if (st != SLOT_DONE)
		return 0;
	s->state = SLOT_IDLE;
	rc = put_chunk(w, s->blk, s->clen, s->region, s->addr, s->src, s->n);
	if (rc)
		return rc;
	w->nsections++;
	w->memory_bytes += s->n;
	progress(w, s->n);
	return 0;
}

/* Write every chunk in flight, in the order they were given. */
static int drain(struct crest_iw *w)
{
	int rc = 0;

	if (!w->slots)
		return 0;
	for (unsigned i = 0; i < w->threads && !rc; i++) {
		rc = slot_flush(w, &w->slots[w->next_slot]);
		w->next_slot = (w->next_slot + 1) % w->threads;
	}
	return rc;
}

static int pool_memory(struct crest_iw *w, uint32_t region, uint64_t addr, uint64_t len)
{
	int rc = 0;

	while (len) {
		struct iw_slot *s = &w->slots[w->next_slot];
		size_t n = len > CREST_CHUNK_MAX ? CREST_CHUNK_MAX : (size_t)len;

		rc = slot_flush(w, s);
		if (rc)
			break;
		s->region = region;
		s->addr = addr;
		s->src = addr + w->src_delta;
		s->n = n;
		__atomic_store_n(&s->state, SLOT_BUSY, __ATOMIC_RELEASE);
		crest_rt_wake(&s->state);
		w->next_slot = (w->next_slot + 1) % w->threads;
		addr += n;
		len -= n;
	}
	return rc;
}

int crest_iw_memory(struct crest_iw *w, uint32_t region, uint64_t addr, uint64_t len)
{
	int rc = 0;

	if (w->fd < 0)
		return -EBADF;
	if ((addr | len) & (BLK - 1) || addr + len < addr) {
		pr_err("image %s: memory 0x%lx+0x%lx of region %u is not page aligned", w->path,
		       (unsigned long)addr, (unsigned long)len, region);
		return -EINVAL;
	}
	if (w->slots)
		return pool_memory(w, region, addr, len);
	while (len) {
		size_t n = len > CREST_CHUNK_MAX ? CREST_CHUNK_MAX : (size_t)len;
		size_t clen = 0;

		uint64_t src = addr + w->src_delta;
		if (w->compress == CREST_COMP_ZSTD) {
			size_t r = ZSTD_compressCCtx(w->zctx, w->buf, w->buf_len,
						     (const void *)(uintptr_t)src, n, w->level);
			if (!ZSTD_isError(r))
				clen = r;
			rc = put_chunk(w, w->blk, clen, region, addr, src, n);
		} else {
			rc = chunk_raw(w, region, addr, src, n);
		}
		if (rc)
			break;
		w->nsections++;
		w->memory_bytes += n;
		progress(w, n);
		addr += n;
		len -= n;
	}
	return rc;
}

int crest_iw_finish(struct crest_iw *w, struct crest_img_header *h)
{
	struct stat st;
	int rc;

	if (w->fd < 0)
		return -EBADF;
	rc = drain(w);
	if (w->slots)
		pool_stop(w);
	if (rc)
		return rc;
	make_sec_hdr(w, CREST_SEC_END, 0, 0, 0, CREST_COMP_NONE, crc32c(0, "", 0), 0,
		     (uint32_t)w->nsections);
	rc = write_full(w->fd, w->blk, BLK, w->off);
	if (rc)
		return write_err(w, rc, "writing END section", w->off);
	w->off += BLK;
	w->nsections++;

	memcpy(h->magic, CREST_IMG_MAGIC, sizeof(h->magic));
	h->version = CREST_IMG_VERSION;
	h->header_size = sizeof(*h);
	h->arch = CREST_ARCH_X86_64;
	h->page_size = BLK;
	h->flags |= CREST_IMGF_COMPLETE;
	h->nsections = w->nsections;
	h->file_size = w->off;
	h->memory_bytes = w->memory_bytes;
	h->compress = w->compress;
	h->crc = 0;
	h->crc = crc32c(0, h, sizeof(*h));
	memset(w->blk, 0, BLK);
	memcpy(w->blk, h, sizeof(*h));
	rc = write_full(w->fd, w->blk, BLK, 0);
	if (rc)
		return write_err(w, rc, "writing file header", 0);
	if (fstat(w->fd, &st) == 0 && (uint64_t)st.st_size != w->off && ftruncate(w->fd, (off_t)w->off)) {
		rc = -errno;
		pr_perror("image %s: ftruncate to %lu", w->path, (unsigned long)w->off);
		return rc;
	}
	while (fdatasync(w->fd)) {
		if (errno == EINTR)
			continue;
		rc = -errno;
		return write_err(w, rc, "fdatasync", w->off);
	}
	rc = close(w->fd);
	w->fd = -1;
	if (rc && errno != EINTR) {
		rc = -errno;
		pr_perror("image %s: close", w->path);
		return rc;
	}
	w->path[0] = '\0';	/* complete: abort must not remove it */
	return 0;
}

void crest_iw_abort(struct crest_iw *w)
{
	if (w->slots)
		pool_stop(w);
	if (w->fd >= 0) {
		close(w->fd);
		w->fd = -1;
	}
	if (w->path[0]) {
		unlink(w->path);
		w->path[0] = '\0';
	}
}

int crest_iw_memory_from(struct crest_iw *w, uint32_t region, uint64_t addr, const void *src, uint64_t len)
{
	w->src_delta = (uint64_t)(uintptr_t)src - addr;
	int rc = crest_iw_memory(w, region, addr, len);
	w->src_delta = 0;
	return rc;
}
