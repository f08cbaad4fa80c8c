/* SPDX-License-Identifier: MIT */
/*
 * Image reader.  Every number read from the file is checked before it is
 * used as a length, an offset or a count: a damaged image gives an error
 * message, never a crash.  Format: docs/image-format.md.
 */
#define LOG_MODULE "image"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "crest/crc32c.h"
#include "image_read.h"

#define BLK CREST_IMG_ALIGN

static inline uint64_t round_up(uint64_t v)
{
	return (v + BLK - 1) & ~(uint64_t)(BLK - 1);
}

const char *crest_sec_name(uint32_t type)
{
	switch (type) {
	case CREST_SEC_PROCESS: return "PROCESS";
	case CREST_SEC_THREADS: return "THREADS";
	case CREST_SEC_REGIONS: return "REGIONS";
	case CREST_SEC_MEMORY: return "MEMORY";
	case CREST_SEC_FDS: return "FDS";
	case CREST_SEC_FILEDATA: return "FILEDATA";
	case CREST_SEC_MODULE: return "MODULE";
	case CREST_SEC_CHILDREN: return "CHILDREN";
	case CREST_SEC_SOCKETS: return "SOCKETS";
	case CREST_SEC_END: return "END";
	}
	return "unknown";
}

static void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* What to do about a damaged image. */
static void advice(const struct crest_ir *r, char *buf, size_t len)
{
	if (r->hdr.generation > 1)
		snprintf(buf, len, "the image is damaged, restart from an older generation with --generation %llu",
			 (unsigned long long)r->hdr.generation - 1);
	else
		snprintf(buf, len, "the image is damaged, restart from an older generation if there is one");
}

/* "memory chunk 12 (0x7f00-0x7f80) of region 3, section 40 at offset 1234" */
static void where(const struct crest_ir *r, const struct crest_sec_hdr *sh, uint64_t secno,
		  uint64_t memno, uint64_t off, char *buf, size_t len)
{
	if (sh && sh->type == CREST_SEC_MEMORY)
		snprintf(buf, len, "memory chunk %llu (0x%llx-0x%llx) of region %u, section %llu at offset %llu",
			 (unsigned long long)memno, (unsigned long long)sh->addr,
			 (unsigned long long)(sh->addr + sh->raw_length), sh->index,
			 (unsigned long long)secno, (unsigned long long)off);
	else if (sh)
		snprintf(buf, len, "section %llu (%s) at offset %llu", (unsigned long long)secno,
			 crest_sec_name(sh->type), (unsigned long long)off);
	else
		snprintf(buf, len, "section %llu at offset %llu", (unsigned long long)secno,
			 (unsigned long long)off);
	(void)r;
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ENODATA;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int all_zero(const void *buf, size_t len)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

int crest_ir_open(struct crest_ir *r, const char *path, char *err, size_t errlen)
{
	struct crest_img_header *h = &r->hdr;
	struct stat st;
	uint32_t crc;
	int rc;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	snprintf(r->path, sizeof(r->path), "%s", path);
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		rc = -errno;
		seterr(err, errlen, "image %s: cannot open: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(r->fd, &st)) {
		rc = -errno;
		seterr(err, errlen, "image %s: cannot stat: %s", path, strerror(errno));
		goto out_close;
	}
	rc = -EBADMSG;
	if (!S_ISREG(st.st_mode)) {
		seterr(err, errlen, "image %s is not a regular file", path);
		goto out_close;
	}
	r->file_size = (uint64_t)st.st_size;
	if (r->file_size < 2 * BLK) {
		seterr(err, errlen, "image %s is %llu bytes, too small to be a crest image (at least %u): it is incomplete or not an image",
		       path, (unsigned long long)r->file_size, 2 * BLK);
		goto out_close;
	}
	rc = pread_full(r->fd, h, sizeof(*h), 0);
	if (rc) {
		seterr(err, errlen, "image %s: cannot read the header: %s", path, strerror(-rc));
		goto out_close;
	}
	rc = -EBADMSG;
	if (memcmp(h->magic, CREST_IMG_MAGIC, sizeof(h->magic))) {
		if (all_zero(h, sizeof(*h)))
			seterr(err, errlen, "image %s is incomplete: it has no header, the checkpoint that wrote it did not finish", path);
		else
			seterr(err, errlen, "image %s is not a crest image (bad magic at offset 0)", path);
		goto out_close;
	}
	crc = h->crc;
	h->crc = 0;
	if (crc32c(0, h, sizeof(*h)) != crc) {
		h->crc = crc;
		seterr(err, errlen, "image %s: header checksum mismatch; the image is damaged, restart from an older generation",
		       path);
		goto out_close;
	}
	h->crc = crc;
	rc = -EPROTONOSUPPORT;
	if (h->version < CREST_IMG_VERSION_MIN || h->version > CREST_IMG_VERSION) {
		seterr(err, errlen, "image %s: written by crest image version %u, this crest reads %u..%u; restart with the crest that wrote it",
		       path, h->version, CREST_IMG_VERSION_MIN, CREST_IMG_VERSION);
		goto out_close;
	}
	if (h->arch != CREST_ARCH_X86_64) {
		seterr(err, errlen, "image %s: architecture %u, this machine is x86_64 (%u)", path, h->arch,
		       CREST_ARCH_X86_64);
		goto out_close;
	}
	if (h->page_size != BLK) {
		seterr(err, errlen, "image %s: page size %u, this crest supports %u", path, h->page_size, BLK);
		goto out_close;
	}
	rc = -EBADMSG;
	if (h->header_size != sizeof(*h)) {
		seterr(err, errlen, "image %s: header size %u, version %u has %zu; the image is damaged",
		       path, h->header_size, h->version, sizeof(*h));
		goto out_close;
	}
	if (!(h->flags & CREST_IMGF_COMPLETE)) {
		seterr(err, errlen, "image %s is incomplete: the checkpoint that wrote it did not finish", path);
		goto out_close;
	}
	if (h->file_size != r->file_size) {
		if (r->file_size < h->file_size)
			seterr(err, errlen, "image %s is truncated: %llu bytes, its header says %llu; copy it again or restart from an older generation",
			       path, (unsigned long long)r->file_size, (unsigned long long)h->file_size);
		else
			seterr(err, errlen, "image %s has %llu bytes, its header says %llu: something was appended; the image is damaged",
			       path, (unsigned long long)r->file_size, (unsigned long long)h->file_size);
		goto out_close;
	}
	if (h->compress > CREST_COMP_ZSTD || h->nsections < 1 || h->nsections > r->file_size / BLK) {
		seterr(err, errlen, "image %s: header has compression %u and %llu sections, impossible for %llu bytes; the image is damaged",
		       path, h->compress, (unsigned long long)h->nsections, (unsigned long long)r->file_size);
		goto out_close;
	}
	r->off = BLK;
	return 0;

out_close:
	close(r->fd);
	r->fd = -1;
out:
	return rc;
}

/* Size of one record of an array section, 0 if the section is no array. */
static uint64_t rec_size(uint32_t type)
{
	switch (type) {
	case CREST_SEC_PROCESS: return sizeof(struct crest_img_process);
	case CREST_SEC_THREADS: return sizeof(struct crest_img_thread);
	case CREST_SEC_REGIONS: return sizeof(struct crest_img_region);
	case CREST_SEC_FDS: return sizeof(struct crest_img_fd);
	case CREST_SEC_CHILDREN: return sizeof(struct crest_img_child);
	case CREST_SEC_SOCKETS: return sizeof(struct crest_img_socket);
	}
	return 0;
}

/* The reason a section header is impossible, or NULL. */
static const char *check_sec(const struct crest_ir *r, const struct crest_sec_hdr *sh, uint64_t off)
{
	uint64_t room = r->file_size - off - BLK;	/* off + BLK <= file_size checked */

	switch (sh->type) {
	case CREST_SEC_PROCESS:
	case CREST_SEC_THREADS:
	case CREST_SEC_REGIONS:
	case CREST_SEC_FDS:
	case CREST_SEC_CHILDREN:
	case CREST_SEC_SOCKETS:
	case CREST_SEC_FILEDATA:
	case CREST_SEC_MODULE:
	case CREST_SEC_MEMORY:
	case CREST_SEC_END:
		break;
	default:
		return "unknown section type";
	}
	if (sh->compress > CREST_COMP_ZSTD)
		return "unknown compression";
	if (sh->length > room || round_up(sh->length) > room)
		return "payload goes beyond the end of the file";
	if (sh->type == CREST_SEC_MEMORY) {
		if (!sh->raw_length || sh->raw_length > CREST_CHUNK_MAX || (sh->raw_length | sh->addr) & (BLK - 1) ||
		    sh->addr + sh->raw_length < sh->addr)
			return "impossible memory chunk address or size";
		if (sh->compress == CREST_COMP_NONE ? sh->length != sh->raw_length
		    : !sh->length || sh->length > ZSTD_COMPRESSBOUND(sh->raw_length))
			return "impossible stored length for the chunk";
		return NULL;
	}
	if (sh->compress != CREST_COMP_NONE || sh->length != sh->raw_length)
		return "only memory chunks may be compressed";
	if (sh->length > CREST_SEC_PAYLOAD_MAX)
		return "payload larger than the format allows";
	if (rec_size(sh->type) && sh->length != sh->count * rec_size(sh->type))
		return "payload length does not match its record count";
	if (sh->type == CREST_SEC_MODULE && sh->length < 32)
		return "module section shorter than its name";
	if (sh->type == CREST_SEC_END) {
		if (sh->length)
			return "END section with a payload";
		if (sh->count != r->secno)
			return "END section count does not match the sections before it";
		if (off + BLK != r->file_size || r->secno + 1 != r->hdr.nsections)
			return "END section is not at the end of the image";
	}
	return NULL;
}

int crest_ir_next(struct crest_ir *r, struct crest_sec_hdr *sh, uint64_t *payload_off,
		  char *err, size_t errlen)
{
	char wh[160], adv[128];
	const char *why;
	uint32_t crc;
	int rc;

	if (r->fd < 0)
		return -EBADF;
	if (r->done)
		return 0;
	advice(r, adv, sizeof(adv));
	where(r, NULL, r->secno, 0, r->off, wh, sizeof(wh));
	if (r->off > r->file_size || r->file_size - r->off < BLK || r->secno >= r->hdr.nsections) {
		seterr(err, errlen, "image %s: %s: no END section before the end of the file; %s", r->path, wh, adv);
		return -EBADMSG;
	}
	rc = pread_full(r->fd, sh, sizeof(*sh), r->off);
	if (rc) {
		seterr(err, errlen, "image %s: %s: cannot read: %s", r->path, wh, strerror(-rc));
		return rc;
	}
	if (sh->magic != CREST_SEC_MAGIC) {
		seterr(err, errlen, "image %s: %s: bad section magic; %s", r->path, wh, adv);
		return -EBADMSG;
	}
	crc = sh->hdr_crc;
	sh->hdr_crc = 0;
	if (crc32c(0, sh, sizeof(*sh)) != crc) {
		seterr(err, errlen, "image %s: %s: section header checksum mismatch; %s", r->path, wh, adv);
		return -EBADMSG;
	}
	sh->hdr_crc = crc;
	why = check_sec(r, sh, r->off);
	if (why) {
		seterr(err, errlen, "image %s: %s (type %u): %s; %s", r->path, wh, sh->type, why, adv);
		return -EBADMSG;
	}
	r->cur_secno = r->secno;
	r->cur_memno = r->memno;
	*payload_off = r->off + BLK;
	r->off += BLK + round_up(sh->length);
	r->secno++;
	if (sh->type == CREST_SEC_MEMORY)
		r->memno++;
	if (sh->type == CREST_SEC_END) {
		r->done = 1;
		return 0;
	}
	return 1;
}

int crest_ir_read_payload(struct crest_ir *r, const struct crest_sec_hdr *sh, uint64_t off,
			  void *buf, size_t buflen, char *err, size_t errlen)
{
	char wh[160], adv[128];
	void *src = buf;
	size_t got;
	int rc;

	if (r->fd < 0)
		return -EBADF;
	advice(r, adv, sizeof(adv));
	where(r, sh, r->cur_secno, r->cur_memno, off - BLK, wh, sizeof(wh));
	if (off < BLK || off > r->file_size || sh->length > r->file_size - off || sh->raw_length > buflen ||
	    (sh->compress == CREST_COMP_NONE && sh->length != sh->raw_length) || sh->compress > CREST_COMP_ZSTD) {
		seterr(err, errlen, "image %s: %s: payload of %llu bytes (%llu raw) does not fit the file or the %zu-byte buffer",
		       r->path, wh, (unsigned long long)sh->length, (unsigned long long)sh->raw_length, buflen);
		return -EINVAL;
	}
	if (sh->compress == CREST_COMP_ZSTD) {
		if (r->cbuf_len < sh->length) {
			void *p = realloc(r->cbuf, sh->length);
			if (!p) {
				seterr(err, errlen, "image %s: %s: out of memory for %llu bytes", r->path, wh,
				       (unsigned long long)sh->length);
				return -ENOMEM;
			}
			r->cbuf = p;
			r->cbuf_len = sh->length;
		}
		src = r->cbuf;
	}
	rc = pread_full(r->fd, src, sh->length, off);
	if (rc) {
		seterr(err, errlen, "image %s: %s: cannot read the payload: %s", r->path, wh, strerror(-rc));
		return rc;
	}
	if (crc32c(0, src, sh->length) != sh->payload_crc) {
		seterr(err, errlen, "image %s: checksum mismatch in %s; %s", r->path, wh, adv);
		return -EBADMSG;
	}
	if (sh->compress == CREST_COMP_NONE)
		return 0;
	if (!r->dctx) {
		r->dctx = ZSTD_createDCtx();
		if (!r->dctx) {
			seterr(err, errlen, "image %s: out of memory for a zstd context", r->path);
			return -ENOMEM;
		}
	}
	got = ZSTD_decompressDCtx(r->dctx, buf, sh->raw_length, src, sh->length);
	if (ZSTD_isError(got) || got != sh->raw_length) {
		seterr(err, errlen, "image %s: %s: cannot decompress: %s; %s", r->path, wh,
		       ZSTD_isError(got) ? ZSTD_getErrorName(got) : "wrong size", adv);
		return -EBADMSG;
	}
	return 0;
}

void crest_ir_close(struct crest_ir *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	ZSTD_freeDCtx(r->dctx);
	r->dctx = NULL;
	free(r->cbuf);
	r->cbuf = NULL;
	r->cbuf_len = 0;
}

int crest_ir_verify_all(const char *path, FILE *report, int verbose, char *err, size_t errlen)
{
	struct crest_ir r;
	struct crest_sec_hdr sh;
	uint64_t off, nregions = 0, memory = 0;
	int have_regions = 0;
	void *buf = NULL;
	size_t buflen = 0;
	int rc;

	rc = crest_ir_open(&r, path, err, errlen);
	if (rc)
		return rc;
	while ((rc = crest_ir_next(&r, &sh, &off, err, errlen)) == 1) {
		if (sh.raw_length > buflen) {
			void *p = realloc(buf, sh.raw_length);
			if (!p) {
				seterr(err, errlen, "image %s: out of memory for %llu bytes", path,
				       (unsigned long long)sh.raw_length);
				rc = -ENOMEM;
				break;
			}
			buf = p;
			buflen = sh.raw_length;
		}
		rc = crest_ir_read_payload(&r, &sh, off, buf, buflen, err, errlen);
		if (rc)
			break;
		if (sh.type == CREST_SEC_REGIONS) {
			nregions = sh.count;
			have_regions = 1;
		}
		if (sh.type == CREST_SEC_MEMORY) {
			memory += sh.raw_length;
			if (have_regions && sh.index >= nregions) {
				char adv[128];
				advice(&r, adv, sizeof(adv));
				seterr(err, errlen, "image %s: memory chunk %llu (0x%llx) names region %u, the image has %llu; %s",
				       path, (unsigned long long)r.cur_memno, (unsigned long long)sh.addr, sh.index,
				       (unsigned long long)nregions, adv);
				rc = -EBADMSG;
				break;
			}
		}
		if (report && verbose)
			fprintf(report, "  section %4llu %-8s offset %12llu stored %10llu raw %10llu%s ok\n",
				(unsigned long long)r.cur_secno, crest_sec_name(sh.type), (unsigned long long)off - BLK,
				(unsigned long long)sh.length, (unsigned long long)sh.raw_length,
				sh.compress == CREST_COMP_ZSTD ? " zstd" : "");
	}
	if (rc == 0 && memory != r.hdr.memory_bytes) {
		seterr(err, errlen, "image %s: memory chunks hold %llu bytes, the header says %llu; the image is damaged",
		       path, (unsigned long long)memory, (unsigned long long)r.hdr.memory_bytes);
		rc = -EBADMSG;
	}
	if (rc == 0 && report)
		fprintf(report, "image %s: ok, %llu sections, %llu memory chunks, %llu bytes of memory in %llu bytes\n",
			path, (unsigned long long)r.secno, (unsigned long long)r.memno,
			(unsigned long long)memory, (unsigned long long)r.file_size);
	free(buf);
	crest_ir_close(&r);
	return rc;
}
