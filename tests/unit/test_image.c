/* SPDX-License-Identifier: MIT */
/*
 * Image writer and reader: round trips (raw and zstd), every kind of
 * damage rejected with a message, ENOSPC, and random mutations that must
 * never crash the reader.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "harness.h"
#include "crest/crc32c.h"
#include "image_read.h"
#include "image_write.h"

/* harness.h's TEST(name) also replaces the ".name" member it assigns;
 * until harness.h is fixed, register tests with a parameter of another name. */
#undef TEST
#define TEST(t) \
	static void test_##t(void); \
	__attribute__((constructor)) static void reg_##t(void) \
	{ harness_tests[harness_ntests].name = #t; harness_tests[harness_ntests++].fn = test_##t; } \
	static void test_##t(void)

#define PG 4096u

static char tmpdir[256];
static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void mkdir_tmp(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/crest-test-image-XXXXXX");
	EXPECT(mkdtemp(tmpdir));
}

static char *tpath(const char *name)
{
	static char p[512];
	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	return p;
}

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	EXPECT(p != MAP_FAILED);
	return p;
}

/* The memory an image holds, by region. */
#define NREG 4
struct content {
	unsigned char *mem[NREG];
	size_t len[NREG];
	struct crest_img_process proc;
	struct crest_img_thread thr[2];
	struct crest_img_region reg[NREG];
	struct crest_img_fd fds[2];
	unsigned char filedata[10000];
	unsigned char module[100];
};

static void fill(struct content *c, int big)
{
	memset(c, 0, sizeof(*c));
	c->len[0] = big ? CREST_CHUNK_MAX + 3 * PG : 5 * PG;	/* low entropy */
	c->len[1] = 16 * PG;					/* zeros */
	c->len[2] = 8 * PG;					/* random */
	c->len[3] = 2 * PG;					/* half random, half text */
	for (int i = 0; i < NREG; i++) {
		c->mem[i] = map(c->len[i]);
		c->reg[i].start = (uint64_t)(uintptr_t)c->mem[i];
		c->reg[i].end = c->reg[i].start + c->len[i];
		c->reg[i].prot = 3;
		c->reg[i].kind = CREST_REG_ANON;
		c->reg[i].saved_bytes = c->len[i];
		snprintf(c->reg[i].path, sizeof(c->reg[i].path), "region-%d", i);
	}
	for (size_t i = 0; i < c->len[0]; i++)
		c->mem[0][i] = (unsigned char)(i / 64 % 7);
	for (size_t i = 0; i < c->len[2]; i += 8) {
		uint64_t v = rnd();
		memcpy(c->mem[2] + i, &v, 8);
	}
	for (size_t i = 0; i < PG; i++)
		c->mem[3][i] = (unsigned char)rnd();
	for (size_t i = PG; i < 2 * PG; i++)
		c->mem[3][i] = "hello crest "[i % 12];
	c->proc.pid = 1234;
	c->proc.nthreads = 2;
	c->proc.nregions = NREG;
	c->proc.nfds = 2;
	strcpy(c->proc.exe, "/usr/bin/app");
	strcpy(c->proc.cwd, "/home/u");
	c->thr[0].tid = 1234;
	c->thr[0].flags = CREST_THR_MAIN;
	c->thr[1].tid = 1235;
	c->thr[1].flags = CREST_THR_CKPT;
	strcpy(c->thr[1].name, "crest-ckpt");
	c->fds[0].fd = 3;
	c->fds[0].kind = CREST_FD_FILE;
	strcpy(c->fds[0].path, "/etc/hostname");
	c->fds[1].fd = 4;
	c->fds[1].kind = CREST_FD_DELETED;
	c->fds[1].content_saved = 1;
	for (size_t i = 0; i < sizeof(c->filedata); i++)
		c->filedata[i] = (unsigned char)rnd();
	memcpy(c->module, "ib\0", 3);
	memset(c->module + 32, 0x5a, sizeof(c->module) - 32);
}

static unsigned nthreads = 1;	/* compression workers of write_image */

static int write_image(const char *path, struct content *c, unsigned compress, uint64_t gen)
{
	static struct crest_iw w;
	struct crest_img_header h;
	size_t slen = crest_iw_scratch_size(compress, nthreads);
	void *s = map(slen);
	char fdpath[600];
	int rc, fd;

	snprintf(fdpath, sizeof(fdpath), "%s.filedata", path);
	fd = open(fdpath, O_CREAT | O_RDWR | O_TRUNC, 0600);
	EXPECT(fd >= 0);
	EXPECT_EQ(write(fd, c->filedata, sizeof(c->filedata)), sizeof(c->filedata));

	rc = crest_iw_open(&w, path, compress, nthreads, s, slen);
	if (rc)
		goto out;
	if ((rc = crest_iw_section(&w, CREST_SEC_PROCESS, 0, 1, &c->proc, sizeof(c->proc))) ||
	    (rc = crest_iw_section(&w, CREST_SEC_THREADS, 0, 2, c->thr, sizeof(c->thr))) ||
	    (rc = crest_iw_section(&w, CREST_SEC_REGIONS, 0, NREG, c->reg, sizeof(c->reg))) ||
	    (rc = crest_iw_section(&w, CREST_SEC_FDS, 0, 2, c->fds, sizeof(c->fds))))
		goto out_abort;
	for (int i = 0; i < NREG; i++)
		if ((rc = crest_iw_memory(&w, (uint32_t)i, c->reg[i].start, c->len[i])))
			goto out_abort;
	/* after memory: with workers, chunks in flight are written first */
	if ((rc = crest_iw_section_fd(&w, CREST_SEC_FILEDATA, 1, fd, sizeof(c->filedata))) ||
	    (rc = crest_iw_section(&w, CREST_SEC_MODULE, 0, 0, c->module, sizeof(c->module))))
		goto out_abort;
	memset(&h, 0, sizeof(h));
	h.pid = 1234;
	h.nthreads = 2;
	h.generation = gen;
	strcpy(h.kernel_release, "6.1.0-test");
	strcpy(h.glibc_version, "2.36");
	h.created_ns = 1700000000000000000ull;
	rc = crest_iw_finish(&w, &h);
	if (rc == 0)
		goto out;
out_abort:
	crest_iw_abort(&w);
out:
	close(fd);
	unlink(fdpath);
	munmap(s, slen);
	return rc;
}

/* Read everything back and compare with c. */
static void check_image(const char *path, struct content *c, unsigned compress)
{
	struct crest_ir r;
	struct crest_sec_hdr sh;
	uint64_t off, got[NREG] = { 0 };
	char err[512] = "";
	unsigned char *buf = map(CREST_CHUNK_MAX);
	int rc, nsec = 0, nzstd = 0, nmem = 0;

	rc = crest_ir_open(&r, path, err, sizeof(err));
	if (rc)
		fprintf(stderr, "  %s\n", err);
	EXPECT_EQ(rc, 0);
	EXPECT_EQ(r.hdr.pid, 1234);
	EXPECT_EQ(r.hdr.generation, 7);
	EXPECT_EQ(r.hdr.compress, compress);
	while ((rc = crest_ir_next(&r, &sh, &off, err, sizeof(err))) == 1) {
		nsec++;
		rc = crest_ir_read_payload(&r, &sh, off, buf, CREST_CHUNK_MAX, err, sizeof(err));
		if (rc)
			fprintf(stderr, "  %s\n", err);
		EXPECT_EQ(rc, 0);
		switch (sh.type) {
		case CREST_SEC_PROCESS:
			EXPECT(!memcmp(buf, &c->proc, sizeof(c->proc)));
			break;
		case CREST_SEC_THREADS:
			EXPECT_EQ(sh.count, 2);
			EXPECT(!memcmp(buf, c->thr, sizeof(c->thr)));
			break;
		case CREST_SEC_REGIONS:
			EXPECT(!memcmp(buf, c->reg, sizeof(c->reg)));
			break;
		case CREST_SEC_FDS:
			EXPECT(!memcmp(buf, c->fds, sizeof(c->fds)));
			break;
		case CREST_SEC_FILEDATA:
			EXPECT_EQ(sh.index, 1);
			EXPECT_EQ(sh.length, sizeof(c->filedata));
			EXPECT(!memcmp(buf, c->filedata, sizeof(c->filedata)));
			break;
		case CREST_SEC_MODULE:
			EXPECT(!memcmp(buf, c->module, sizeof(c->module)));
			break;
		case CREST_SEC_MEMORY:
			nmem++;
			EXPECT(sh.index < NREG);
			EXPECT(sh.raw_length <= CREST_CHUNK_MAX);
			EXPECT_EQ(sh.addr, c->reg[sh.index].start + got[sh.index]);
			EXPECT(!memcmp(buf, c->mem[sh.index] + got[sh.index], sh.raw_length));
			got[sh.index] += sh.raw_length;
			if (sh.compress == CREST_COMP_ZSTD) {
				nzstd++;
				EXPECT(sh.length < sh.raw_length);
			}
			if (compress == CREST_COMP_NONE)
				EXPECT_EQ(sh.compress, CREST_COMP_NONE);
			break;
		default:
			EXPECT(0);
		}
	}
	if (rc)
		fprintf(stderr, "  %s\n", err);
	EXPECT_EQ(rc, 0);
	for (int i = 0; i < NREG; i++)
		EXPECT_EQ(got[i], c->len[i]);
	EXPECT_EQ(r.hdr.nsections, (uint64_t)nsec + 1);
	if (compress == CREST_COMP_ZSTD)
		EXPECT(nzstd >= 2 && nzstd < nmem);	/* random pages stay raw */
	crest_ir_close(&r);
	rc = crest_ir_verify_all(path, NULL, 0, err, sizeof(err));
	if (rc)
		fprintf(stderr, "  %s\n", err);
	EXPECT_EQ(rc, 0);
	munmap(buf, CREST_CHUNK_MAX);
}

static void roundtrip(unsigned compress, int big)
{
	static struct content c;
	struct stat st;

	mkdir_tmp();
	fill(&c, big);
	EXPECT_EQ(write_image(tpath("a.img"), &c, compress, 7), 0);
	EXPECT_EQ(stat(tpath("a.img"), &st), 0);
	EXPECT_EQ(st.st_size % PG, 0);
	EXPECT_EQ(st.st_mode & 0777, 0600);
	check_image(tpath("a.img"), &c, compress);
	/* O_EXCL: never overwrite an image */
	EXPECT_EQ(write_image(tpath("a.img"), &c, compress, 7), -EEXIST);
	check_image(tpath("a.img"), &c, compress);
}

TEST(roundtrip_raw) { roundtrip(CREST_COMP_NONE, 0); }
TEST(roundtrip_zstd) { roundtrip(CREST_COMP_ZSTD, 0); }
TEST(roundtrip_raw_split) { roundtrip(CREST_COMP_NONE, 1); }
TEST(roundtrip_zstd_split) { roundtrip(CREST_COMP_ZSTD, 1); }

TEST(roundtrip_zstd_threads)
{
	nthreads = 3;
	roundtrip(CREST_COMP_ZSTD, 0);
	roundtrip(CREST_COMP_ZSTD, 1);
}

TEST(threads_abort_in_flight)
{
	static struct crest_iw w;
	size_t slen = crest_iw_scratch_size(CREST_COMP_ZSTD, 4), len = 6 * CREST_CHUNK_MAX;
	void *s = map(slen);
	unsigned char *m = map(len);
	struct stat st;

	mkdir_tmp();
	for (int round = 0; round < 20; round++) {
		EXPECT_EQ(crest_iw_open(&w, tpath("t.img"), CREST_COMP_ZSTD, 4, s, slen), 0);
		EXPECT_EQ(crest_iw_memory(&w, 0, (uint64_t)(uintptr_t)m, len), 0);
		crest_iw_abort(&w);	/* workers still compressing */
		EXPECT_EQ(stat(tpath("t.img"), &st), -1);
	}
}

TEST(abort_unlinks)
{
	static struct crest_iw w;
	size_t slen = crest_iw_scratch_size(CREST_COMP_NONE, 1);
	void *s = map(slen);
	char x[100] = "x";
	struct stat st;

	mkdir_tmp();
	EXPECT_EQ(crest_iw_open(&w, tpath("p.img"), CREST_COMP_NONE, 1, s, slen), 0);
	EXPECT_EQ(crest_iw_section(&w, CREST_SEC_MODULE, 0, 0, x, sizeof(x)), 0);
	EXPECT_EQ(crest_iw_section(&w, CREST_SEC_MEMORY, 0, 0, x, sizeof(x)), -EINVAL);
	EXPECT_EQ(crest_iw_memory(&w, 0, (uint64_t)(uintptr_t)s + 1, PG), -EINVAL);
	crest_iw_abort(&w);
	EXPECT_EQ(stat(tpath("p.img"), &st), -1);
	/* scratch too small or unaligned */
	EXPECT_EQ(crest_iw_open(&w, tpath("p.img"), CREST_COMP_NONE, 1, s, slen - PG), -EINVAL);
	EXPECT_EQ(crest_iw_open(&w, tpath("p.img"), CREST_COMP_NONE, 1, (char *)s + 8, slen - PG), -EINVAL);
	EXPECT_EQ(stat(tpath("p.img"), &st), -1);
}

/* A small valid image in memory, and its file. */
static unsigned char *img;
static size_t img_len;

static void small_image(unsigned compress)
{
	static struct content c;
	struct stat st;
	int fd;

	mkdir_tmp();
	fill(&c, 0);
	EXPECT_EQ(write_image(tpath("ok.img"), &c, compress, 5), 0);
	fd = open(tpath("ok.img"), O_RDONLY);
	EXPECT(fd >= 0);
	EXPECT_EQ(fstat(fd, &st), 0);
	img_len = (size_t)st.st_size;
	img = malloc(img_len);
	EXPECT_EQ(read(fd, img, img_len), img_len);
	close(fd);
}

static void put(const char *name, const void *data, size_t len)
{
	int fd = open(tpath(name), O_CREAT | O_TRUNC | O_WRONLY, 0600);
	EXPECT(fd >= 0);
	EXPECT_EQ(write(fd, data, len), len);
	close(fd);
}

/* The image with buf must be rejected with a message containing want. */
static void expect_bad(const void *data, size_t len, const char *want)
{
	char err[512] = "";
	int rc;

	put("bad.img", data, len);
	rc = crest_ir_verify_all(tpath("bad.img"), NULL, 0, err, sizeof(err));
	if (rc >= 0 || !strstr(err, want) || !strstr(err, "bad.img")) {
		fprintf(stderr, "  rc %d, message \"%s\", wanted \"%s\"\n", rc, err, want);
		exit(1);
	}
}

static void rehash_header(unsigned char *b)
{
	struct crest_img_header *h = (struct crest_img_header *)b;
	h->crc = 0;
	h->crc = crc32c(0, h, sizeof(*h));
}

/* Offset of the first section of type t (and compression comp, or any if < 0). */
static size_t find_sec(uint32_t t, int comp)
{
	for (size_t off = PG; off + PG <= img_len;) {
		struct crest_sec_hdr *sh = (struct crest_sec_hdr *)(img + off);
		if (sh->type == t && (comp < 0 || sh->compress == (uint32_t)comp))
			return off;
		off += PG + ((sh->length + PG - 1) & ~(uint64_t)(PG - 1));
	}
	EXPECT(0);
	return 0;
}

TEST(damage_detected)
{
	unsigned char *b;
	size_t off;

	small_image(CREST_COMP_ZSTD);
	b = malloc(img_len);

	memcpy(b, img, img_len);
	b[40] ^= 4;				/* kernel_release */
	expect_bad(b, img_len, "header checksum mismatch");

	memcpy(b, img, img_len);
	off = find_sec(CREST_SEC_REGIONS, -1);
	b[off + 16] ^= 1;			/* raw_length */
	expect_bad(b, img_len, "section header checksum mismatch");

	memcpy(b, img, img_len);
	b[off] ^= 1;				/* magic */
	expect_bad(b, img_len, "bad section magic");

	memcpy(b, img, img_len);
	b[off + PG + 100] ^= 0x80;		/* region payload */
	expect_bad(b, img_len, "checksum mismatch in section");

	memcpy(b, img, img_len);
	off = find_sec(CREST_SEC_MEMORY, CREST_COMP_NONE);
	b[off + PG + 5000] ^= 2;		/* raw memory */
	expect_bad(b, img_len, "checksum mismatch in memory chunk");
	expect_bad(b, img_len, "--generation 4");

	memcpy(b, img, img_len);
	off = find_sec(CREST_SEC_MEMORY, CREST_COMP_ZSTD);
	b[off + PG + 10] ^= 0x10;		/* compressed memory */
	expect_bad(b, img_len, "checksum mismatch in memory chunk");

	/* wrong version, wrong arch, incomplete: with a valid header crc */
	memcpy(b, img, img_len);
	((struct crest_img_header *)b)->version = CREST_IMG_VERSION + 1;
	rehash_header(b);
	char want[96];
	snprintf(want, sizeof(want), "written by crest image version %d, this crest reads %d..%d", CREST_IMG_VERSION + 1,
		 CREST_IMG_VERSION_MIN, CREST_IMG_VERSION);
	expect_bad(b, img_len, want);
	/* the version before (no UDP sockets, no socket options) is read */
	memcpy(b, img, img_len);
	((struct crest_img_header *)b)->version = CREST_IMG_VERSION_MIN;
	rehash_header(b);
	{
		char err[512] = "";
		put("v1.img", b, img_len);
		EXPECT(crest_ir_verify_all(tpath("v1.img"), NULL, 0, err, sizeof(err)) >= 0);
	}
	memcpy(b, img, img_len);
	((struct crest_img_header *)b)->version = 0;
	rehash_header(b);
	expect_bad(b, img_len, "version 0");
	memcpy(b, img, img_len);
	((struct crest_img_header *)b)->arch = 183;
	rehash_header(b);
	expect_bad(b, img_len, "architecture 183, this machine is x86_64");
	memcpy(b, img, img_len);
	((struct crest_img_header *)b)->flags = 0;
	rehash_header(b);
	expect_bad(b, img_len, "is incomplete");
	memcpy(b, img, img_len);
	memset(b, 0, PG);			/* killed before the header was written */
	expect_bad(b, img_len, "is incomplete");
	memcpy(b, img, img_len);
	((struct crest_img_header *)b)->nsections++;
	rehash_header(b);
	expect_bad(b, img_len, "END section");

	/* truncation, at the end, in the middle, at a section boundary, in a header */
	expect_bad(img, img_len - PG, "truncated");
	expect_bad(img, img_len - 1, "truncated");
	expect_bad(img, img_len / 2, "truncated");
	expect_bad(img, 3 * PG, "truncated");
	expect_bad(img, PG + 10, "too small");
	expect_bad(img, 100, "too small");
	expect_bad(img, 0, "too small");
	memcpy(b, img, img_len);
	expect_bad(b, img_len + PG, "something was appended");

	/* garbage */
	for (size_t i = 0; i < img_len; i++)
		b[i] = (unsigned char)rnd();
	expect_bad(b, img_len, "not a crest image");
	free(b);
}

TEST(fuzz_mutations)
{
	unsigned char *b, *buf;
	int bad = 0;

	small_image(CREST_COMP_ZSTD);
	b = malloc(img_len);
	buf = malloc(CREST_CHUNK_MAX);
	for (int i = 0; i < 2000; i++) {
		struct crest_ir r;
		struct crest_sec_hdr sh;
		uint64_t off;
		char err[512];
		int rc;
		/* mostly headers: that is where the lengths and offsets are */
		size_t pos = i % 2 ? rnd() % img_len : (rnd() % (img_len / PG)) * PG + rnd() % 64;

		memcpy(b, img, img_len);
		b[pos] = (unsigned char)rnd();
		if (i % 5 == 0)		/* some with a valid header crc to get further */
			rehash_header(b);
		put("fuzz.img", b, img_len);
		rc = crest_ir_open(&r, tpath("fuzz.img"), err, sizeof(err));
		if (rc == 0) {
			while ((rc = crest_ir_next(&r, &sh, &off, err, sizeof(err))) == 1)
				if ((rc = crest_ir_read_payload(&r, &sh, off, buf, CREST_CHUNK_MAX, err, sizeof(err))))
					break;
			crest_ir_close(&r);
		}
		if (rc < 0) {
			EXPECT(err[0]);
			bad++;
		}
		rc = crest_ir_verify_all(tpath("fuzz.img"), NULL, 0, err, sizeof(err));
		if (rc < 0)
			EXPECT(err[0]);
	}
	EXPECT(bad > 1000);
	free(b);
	free(buf);
}

TEST(enospc)
{
	static struct content c;
	int rc;

	if (geteuid() != 0)
		SKIP("not root: cannot mount a small tmpfs");
	mkdir_tmp();
	if (mount("crest-test", tmpdir, "tmpfs", 0, "size=1m"))
		SKIP("cannot mount tmpfs");
	fill(&c, 0);
	c.len[1] = 2 << 20;		/* 2 MiB of zeros does not fit raw */
	c.mem[1] = map(c.len[1]);
	c.reg[1].start = (uint64_t)(uintptr_t)c.mem[1];
	c.reg[1].end = c.reg[1].start + c.len[1];
	rc = write_image(tpath("full.img"), &c, CREST_COMP_NONE, 1);
	EXPECT_EQ(rc, -ENOSPC);
	EXPECT(access(tpath("full.img"), F_OK) && errno == ENOENT);	/* aborted */
	/* compressed, the same fits */
	rc = write_image(tpath("full.img"), &c, CREST_COMP_ZSTD, 1);
	EXPECT_EQ(rc, 0);
	umount(tmpdir);
}

int main(void)
{
	int rc = RUN_TESTS();
	char cmd[400];

	/* each test made its own directory in its own process */
	snprintf(cmd, sizeof(cmd), "rm -rf /tmp/crest-test-image-*");
	if (system(cmd))
		return 1;
	return rc;
}
