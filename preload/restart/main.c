/* SPDX-License-Identifier: MIT */
/*
 * crest-restart: turns itself into the process of an image.
 *
 *   crest-restart --image PATH [--dir DIR] [--generation N] [--restart-count N]
 *
 * Linked static at a fixed address without libc (see Makefile), it runs on
 * a stack in its own .bss.  Steps, in order:
 *   read and check the image (header, process, regions, files, CPU, vdso)
 *   unmap everything of its own but itself and the vdso
 *   move [vvar], [vvar_vclock] and [vdso] to where the image had them
 *   map every region, fill it from the memory chunks (checksums verified)
 *   set the protections, brk and the other mm fields (PR_SET_MM_MAP)
 *   jump into libcrest's crest_restart_entry on the image's restart stack
 * Any error before the jump exits with status 1 and a message; nothing of
 * the application has run, and nothing on disk has been touched.
 */
#include <linux/prctl.h>
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include "crest/crc32c.h"
#include "crest/image.h"
#include "crest/restart.h"
#include "rt.h"

#define MAX_REGIONS 16384
#define PROT_READ 1
#define PROT_WRITE 2
#define MAP_SHARED 0x01
#define MAP_PRIVATE 0x02
#define MAP_FIXED 0x10
#define MAP_ANONYMOUS 0x20
#define MAP_GROWSDOWN 0x100
#define MAP_NORESERVE 0x4000
#define MAP_FIXED_NOREPLACE 0x100000
#define MREMAP_MAYMOVE 1
#define MREMAP_FIXED 2
#define O_RDONLY 0
#define O_RDWR 2
#define O_DIRECT 040000
#define O_CLOEXEC 02000000
#define F_DUPFD 0
#define TEMP_AREA 0x110000000000ull	/* where the vdso waits while being moved */

extern char __executable_start[], _end[];

static struct crest_restart_info rinfo;
static struct crest_img_header hdr;
static struct crest_img_process proc;
static struct crest_img_region regions[MAX_REGIONS];
static uint64_t nregions;
static uint64_t fake_tcb[512] __attribute__((aligned(64)));
static char mapsbuf[1 << 20];
static const char *image_path;
static const char *allow_changed[64];
static unsigned nallow;
static char no_truncate[4096];
static size_t no_truncate_len;
static int image_fd = -1, direct_fd = -1;

static long sys_open(const char *p, int flags) { return raw_syscall3(NR_open, p, flags, 0); }

/* ---- reading the image ------------------------------------------------ */

static void read_at(void *buf, size_t len, uint64_t off, const char *what)
{
	int rc = rt_read_full(image_fd, buf, len, off);
	if (rc)
		rt_die("image %s: cannot read %s at offset %lu: %s (truncated or damaged image; try an older "
		       "--generation)", image_path, what, (unsigned long)off, rt_strerror(rc));
}

static void check_header(void)
{
	read_at(&hdr, sizeof(hdr), 0, "the header");
	if (memcmp(hdr.magic, CREST_IMG_MAGIC, 8))
		rt_die("image %s: not a crest image, or its writing never finished (no header)", image_path);
	if (hdr.version < CREST_IMG_VERSION_MIN || hdr.version > CREST_IMG_VERSION)
		rt_die("image %s: written by image format version %u; this crest reads versions %u to %u",
		       image_path, hdr.version, CREST_IMG_VERSION_MIN, CREST_IMG_VERSION);
	uint32_t crc = hdr.crc;
	hdr.crc = 0;
	if (crc32c(0, &hdr, sizeof(hdr)) != crc)
		rt_die("image %s: header checksum mismatch; the image is damaged, try an older --generation",
		       image_path);
	if (hdr.arch != CREST_ARCH_X86_64)
		rt_die("image %s: written on architecture %u, this machine is x86_64 (62)", image_path, hdr.arch);
	if (hdr.page_size != 4096)
		rt_die("image %s: page size %u, this machine uses 4096", image_path, hdr.page_size);
	if (!(hdr.flags & CREST_IMGF_COMPLETE))
		rt_die("image %s is incomplete", image_path);
}

static int next_section(uint64_t *off, struct crest_sec_hdr *sh)
{
	read_at(sh, sizeof(*sh), *off, "a section header");
	uint32_t crc = sh->hdr_crc;
	sh->hdr_crc = 0;
	if (sh->magic != CREST_SEC_MAGIC || crc32c(0, sh, sizeof(*sh)) != crc)
		rt_die("image %s: damaged section header at offset %lu; try an older --generation", image_path,
		       (unsigned long)*off);
	sh->hdr_crc = crc;
	if (*off + CREST_IMG_ALIGN + sh->length > hdr.file_size)
		rt_die("image %s: section at offset %lu runs past the end of the image (truncated?)",
		       image_path, (unsigned long)*off);
	uint64_t payload = *off + CREST_IMG_ALIGN;
	*off = payload + ((sh->length + CREST_IMG_ALIGN - 1) & ~(uint64_t)(CREST_IMG_ALIGN - 1));
	return sh->type != CREST_SEC_END;
}

static void read_payload(const struct crest_sec_hdr *sh, uint64_t payload_off, void *dst, size_t max,
			 const char *what)
{
	if (sh->length > max)
		rt_die("image %s: %s section too large (%lu bytes)", image_path, what, (unsigned long)sh->length);
	read_at(dst, sh->length, payload_off, what);
	if (crc32c(0, dst, sh->length) != sh->payload_crc)
		rt_die("image %s: checksum mismatch in the %s section; the image is damaged, try an older "
		       "--generation", image_path, what);
}

/* Files the process had open must still be what they were. */
static void rt_vfmt_1(char *buf, size_t size, int v)
{
	char tmp[16];
	int i = 0, j = 0;
	unsigned u = v < 0 ? -(unsigned)v : (unsigned)v;
	do
		tmp[i++] = '0' + u % 10;
	while (u /= 10);
	if (v < 0 && j + 1 < (int)size)
		buf[j++] = '-';
	while (i && j + 1 < (int)size)
		buf[j++] = tmp[--i];
	buf[j] = 0;
}

/* --path-map OLD=NEW: the files the process had are somewhere else now */
#define MAX_PATH_MAP 32
static struct { const char *old, *new_; size_t olen, nlen; } pmap[MAX_PATH_MAP];
static unsigned npmap;

/* `in` with the longest matching OLD prefix (whole components) replaced;
 * 1 if it was mapped (out holds it), 0 if not (out untouched) */
static int map_path(const char *in, char *out, size_t size)
{
	int best = -1;
	for (unsigned i = 0; i < npmap; i++) {
		size_t l = pmap[i].olen;
		if (!strncmp(in, pmap[i].old, l) && (in[l] == '/' || in[l] == 0 || l == 1) &&
		    (best < 0 || l > pmap[best].olen))
			best = (int)i;
	}
	if (best < 0)
		return 0;
	const char *rest = in + pmap[best].olen;
	if (pmap[best].nlen + strlen(rest) + 1 > size)
		return 0;
	strncpy_z(out, pmap[best].new_, size);
	strncpy_z(out + pmap[best].nlen, rest, size - pmap[best].nlen);
	return 1;
}

static void check_file(const struct crest_img_fd *fin)
{
	static struct crest_img_fd mapped;
	const struct crest_img_fd *f = fin;
	mapped = *fin;
	if (map_path(fin->path, mapped.path, sizeof(mapped.path))) {
		mapped.dev = mapped.ino = 0;	/* a copy somewhere else: only its size is checked */
		f = &mapped;
	}
	char what[32];
	if (f->fd >= 0) {
		char n[16];
		rt_vfmt_1(n, sizeof(n), f->fd);
		strncpy_z(what, "fd ", sizeof(what));
		strncpy_z(what + 3, n, sizeof(what) - 3);
	} else {
		strncpy_z(what, "mapped shared", sizeof(what));
	}
	for (unsigned i = 0; i < nallow; i++)
		if (!strcmp(allow_changed[i], f->path))
			return;
	if (f->content_saved)
		return;	/* put back from the image by libcrest */
	struct {
		uint64_t dev, ino, nlink;
		uint32_t mode, uid, gid, pad;
		uint64_t rdev;
		int64_t size, blksize, blocks;
		uint64_t atime, atime_ns, mtime, mtime_ns, ctime, ctime_ns;
		int64_t unused[3];
	} st;
	long rc = raw_syscall2(NR_stat, f->path, &st);
	if (rc < 0)
		rt_die("file %s (%s) is gone: %s; restore it, restart from an older --generation, or "
		       "with --allow-changed %s", f->path, what, rt_strerror(rc), f->path);
	if (f->ino && (st.ino != f->ino || st.dev != f->dev))
		rt_die("file %s (%s) was replaced since the checkpoint (different inode); restore it, "
		       "restart with --allow-changed %s, or from an older --generation", f->path, what, f->path);
	if ((uint64_t)st.size < f->size)
		rt_die("file %s (%s) shrank from %lu to %lu bytes since the checkpoint; restore it, restart "
		       "with --allow-changed %s, or from an older --generation", f->path, what,
		       (unsigned long)f->size, (unsigned long)st.size, f->path);
}

/* A file mapped shared is mapped again: it must be the same file, no shorter. */
static void check_shared_file(const struct crest_img_region *r)
{
	struct crest_img_fd f;
	memset(&f, 0, sizeof(f));
	f.fd = -1;
	f.dev = r->dev;
	f.ino = r->ino;
	f.size = r->file_size;
	strncpy_z(f.path, r->path, sizeof(f.path));
	check_file(&f);
}

static uint32_t inherit_fds = 7;	/* fds 0-2 the shell's: not checked, not restored */

/* Shared memory objects `crest restart` created and filled once for all the
 * processes that share them (--shm-fds REGION:FD,...): mapped from the fd,
 * their chunks in this image are not loaded again. */
#define MAX_SHM 1024
#define SHM_SYSV (-2)	/* shm_fd_of: a SysV segment, attached by id */
static struct {
	uint32_t region;
	int fd;
	int sysv_id;			/* SHM_SYSV: the segment */
	uint32_t attaches;		/* removed: remove again at the N-th attachment (0: never) */
	int count_fd;			/* ... counted in a shared memfd */
	uint32_t count_slot;
} shm_fds[MAX_SHM];
static uint32_t nshm;

static int shm_fd_of(uint64_t region)
{
	for (uint32_t i = 0; i < nshm; i++)
		if (shm_fds[i].region == region)
			return shm_fds[i].fd;
	return -1;
}

/* IPC_STAT's shmid64_ds on x86_64, up to shm_nattch */
struct rt_shmid_ds {
	uint32_t key, uid, gid, cuid, cgid, mode;
	uint16_t seq, pad1;
	uint32_t pad2;
	uint64_t unused1, unused2;
	uint64_t segsz;
	int64_t atime, dtime, ctime;
	int32_t cpid, lpid;
	uint64_t nattch;
	uint64_t unused4, unused5;
};
_Static_assert(sizeof(struct rt_shmid_ds) == 112, "struct shmid64_ds of x86_64");

/*
 * A SysV segment (--shm-fds REGION:sID:N:FD:SLOT): attached whole at the
 * address the process had it at (start - offset), once for all the regions
 * of that attachment (read-only only if its mode allows nothing else); the
 * parts no region covers are unmapped again.  N > 0: the program had
 * removed it: this attachment is counted in slot SLOT of the memfd FD, and
 * the N-th removes it again (sched/cli_tree_sysv.c).
 */
static void map_sysv(uint64_t i)
{
	struct crest_img_region *r = &regions[i];
	uint32_t k = 0;
	while (shm_fds[k].region != i)
		k++;
	uint64_t base = r->start - r->offset;
	for (uint64_t j = 0; j < i; j++)	/* attached already, with an earlier region */
		if (shm_fd_of(j) == SHM_SYSV && regions[j].start - regions[j].offset == base &&
		    regions[j].ino == r->ino)
			return;
	long m = raw_syscall3(NR_shmat, shm_fds[k].sysv_id, base, 0);
	if (m == -13 /* EACCES */)
		m = raw_syscall3(NR_shmat, shm_fds[k].sysv_id, base, 010000 /* SHM_RDONLY */);
	if (m < 0 || (uint64_t)m != base)
		rt_die("cannot attach SysV segment %d at 0x%lx: %s", shm_fds[k].sysv_id, (unsigned long)base,
		       rt_strerror(m < 0 ? m : -17 /* EEXIST */));
	struct rt_shmid_ds ds;
	if (raw_syscall3(NR_shmctl, shm_fds[k].sysv_id, 2 /* IPC_STAT */, &ds) < 0)
		rt_die("cannot look at SysV segment %d", shm_fds[k].sysv_id);
	/* the holes of this attachment (the program unmapped them) */
	uint64_t end = base + ((ds.segsz + 4095) & ~4095ull);
	for (uint64_t at = base; at < end;) {
		uint64_t next = end;
		int covered = 0;
		for (uint64_t j = 0; j < nregions; j++) {
			struct crest_img_region *q = &regions[j];
			if (shm_fd_of(j) != SHM_SYSV || q->ino != r->ino || q->start - q->offset != base)
				continue;
			if (q->start <= at && at < q->end) {
				covered = 1;
				next = q->end;
				break;
			}
			if (q->start > at && q->start < next)
				next = q->start;
		}
		if (!covered)
			raw_syscall2(NR_munmap, at, next - at);
		at = next;
	}
	if (shm_fds[k].attaches && shm_fds[k].count_fd >= 0) {
		long c = raw_syscall6(NR_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, shm_fds[k].count_fd, 0);
		if (c < 0)
			rt_die("cannot map the SysV attachment counters: %s", rt_strerror(c));
		uint32_t *slot = (uint32_t *)c + shm_fds[k].count_slot;
		if (__atomic_add_fetch(slot, 1, __ATOMIC_SEQ_CST) == shm_fds[k].attaches)
			raw_syscall3(NR_shmctl, shm_fds[k].sysv_id, 0 /* IPC_RMID */, 0);
		raw_syscall2(NR_munmap, c, 4096);
	}
}

static void parse_shm_fds(const char *v)
{
	while (*v) {
		const char *p = v;
		if (nshm == MAX_SHM)
			rt_die("--shm-fds: more than %d shared memory regions in one process", MAX_SHM);
		uint64_t region = rt_strtou(p, &p, 10);
		if (*p != ':')
			rt_die("--shm-fds %s: expected REGION:FD,...", v);
		shm_fds[nshm].region = (uint32_t)region;
		if (p[1] == 's') {	/* REGION:sID:N:FD:SLOT (FD -1: none) */
			shm_fds[nshm].sysv_id = (int)rt_strtou(p + 2, &p, 10);
			if (*p != ':')
				rt_die("--shm-fds %s: expected REGION:sID:N:FD:SLOT", v);
			shm_fds[nshm].attaches = (uint32_t)rt_strtou(p + 1, &p, 10);
			if (*p != ':')
				rt_die("--shm-fds %s: expected REGION:sID:N:FD:SLOT", v);
			if (p[1] == '-') {
				shm_fds[nshm].count_fd = -1;
				p += 2;
				rt_strtou(p, &p, 10);
			} else {
				shm_fds[nshm].count_fd = (int)rt_strtou(p + 1, &p, 10);
			}
			if (*p != ':')
				rt_die("--shm-fds %s: expected REGION:sID:N:FD:SLOT", v);
			shm_fds[nshm].count_slot = (uint32_t)rt_strtou(p + 1, &p, 10);
			shm_fds[nshm].fd = SHM_SYSV;
		} else {
			shm_fds[nshm].fd = (int)rt_strtou(p + 1, &p, 10);
		}
		nshm++;
		v = *p == ',' ? p + 1 : p;
		if (*p && *p != ',')
			rt_die("--shm-fds: unexpected %s", p);
	}
}

static uint64_t read_metadata(void)
{
	struct crest_sec_hdr sh;
	uint64_t off = CREST_IMG_ALIGN, at;
	int have_proc = 0;
	for (;;) {
		at = off;
		if (!next_section(&off, &sh))
			rt_die("image %s has no memory", image_path);
		uint64_t payload = at + CREST_IMG_ALIGN;
		switch (sh.type) {
		case CREST_SEC_PROCESS:
			read_payload(&sh, payload, &proc, sizeof(proc), "process");
			have_proc = 1;
			break;
		case CREST_SEC_REGIONS:
			read_payload(&sh, payload, regions, sizeof(regions), "regions");
			nregions = sh.length / sizeof(struct crest_img_region);
			for (uint64_t i = 0; i < nregions; i++) {
				if (regions[i].kind != CREST_REG_FILE_SHARED)
					continue;
				if (shm_fd_of(i) >= 0) {
					/* a node-local file another process wrote: crest
					 * restart put it back, mapped from its fd */
					regions[i].kind = CREST_REG_SHARED_ANON;
					continue;
				}
				check_shared_file(&regions[i]);
				static char np[CREST_IMG_PATH_MAX];
				if (map_path(regions[i].path, np, sizeof(np)))	/* mapped from there */
					strncpy_z(regions[i].path, np, sizeof(regions[i].path));
			}
			break;
		case CREST_SEC_FDS: {
			uint64_t n = sh.length / sizeof(struct crest_img_fd);
			for (uint64_t i = 0; i < n; i++) {
				static struct crest_img_fd f;
				read_at(&f, sizeof(f), payload + i * sizeof(f), "fds");
				if (f.kind == CREST_FD_FILE && !(f.fd <= 2 && (inherit_fds >> f.fd & 1)))
					check_file(&f);
			}
			break;
		}
		case CREST_SEC_MEMORY:
			if (!have_proc || !nregions)
				rt_die("image %s: memory before process and regions sections", image_path);
			return at;
		default:
			break;
		}
	}
}

/* ---- checks against this machine ------------------------------------- */

static void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

static void check_bits(const char *what, uint32_t had, uint32_t now)
{
	if (had & ~now)
		rt_die("this CPU lacks features the process may use (%s: missing bits 0x%x); restart on a "
		       "machine with the same CPU type", what, had & ~now);
}

static void check_cpu(void)
{
	const struct crest_img_cpu *c = &proc.cpu;
	uint32_t r[4];
	cpuid(0, 0, r);
	uint32_t max = r[0];
	cpuid(1, 0, r);
	check_bits("cpuid 1 ecx", c->leaf1_ecx, r[2]);
	check_bits("cpuid 1 edx", c->leaf1_edx, r[3]);
	if (max >= 7) {
		cpuid(7, 0, r);
		check_bits("cpuid 7 ebx", c->leaf7_ebx, r[1]);
		check_bits("cpuid 7 ecx", c->leaf7_ecx, r[2]);
		check_bits("cpuid 7 edx", c->leaf7_edx, r[3]);
	}
	if (c->xcr0) {
		uint32_t lo, hi;
		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		uint64_t xcr0 = ((uint64_t)hi << 32) | lo;
		if (xcr0 != c->xcr0)
			rt_die("the kernel enables different extended CPU state (XCR0 0x%lx, image 0x%lx); restart "
			       "on a machine of the same type", (unsigned long)xcr0, (unsigned long)c->xcr0);
		cpuid(0xd, 0, r);
		if (r[1] != c->xsave_size)
			rt_die("XSAVE area size differs (%u here, %u in the image)", r[1], c->xsave_size);
	}
}

struct own {
	uint64_t vvar, vvar_size, vclock, vclock_size, vdso, vdso_size;
};

static void read_own_maps(struct own *o, int unmap_others)
{
	long fd = sys_open("/proc/self/maps", O_RDONLY);
	if (fd < 0)
		rt_die("cannot read /proc/self/maps: %s", rt_strerror(fd));
	size_t len = 0;
	for (;;) {
		long n = raw_syscall3(NR_read, fd, mapsbuf + len, sizeof(mapsbuf) - 1 - len);
		if (n <= 0)
			break;
		len += n;
	}
	raw_syscall1(NR_close, fd);
	mapsbuf[len] = 0;
	uint64_t lo = (uint64_t)__executable_start, hi = ((uint64_t)_end + 4095) & ~4095ull;
	for (char *line = mapsbuf; *line;) {
		char *nl = line;
		while (*nl && *nl != '\n')
			nl++;
		const char *p;
		uint64_t s = rt_strtou(line, &p, 16);
		uint64_t e = rt_strtou(p + 1, &p, 16);
		const char *name = nl;
		while (name > line && name[-1] != ' ')
			name--;
		size_t nlen = nl - name;
		if (nlen == 6 && !strncmp(name, "[vvar]", 6)) {
			o->vvar = s;
			o->vvar_size = e - s;
		} else if (nlen == 13 && !strncmp(name, "[vvar_vclock]", 13)) {
			o->vclock = s;
			o->vclock_size = e - s;
		} else if (nlen == 6 && !strncmp(name, "[vdso]", 6)) {
			o->vdso = s;
			o->vdso_size = e - s;
		} else if (nlen == 11 && !strncmp(name, "[vsyscall]", 10)) {
		} else if (unmap_others && !(s >= lo && e <= hi)) {
			raw_syscall2(NR_munmap, s, e - s);
		}
		line = *nl ? nl + 1 : nl;
	}
}

static void move_one(uint64_t from, uint64_t size, uint64_t to, const char *what)
{
	if (!size || from == to)
		return;
	long r = raw_syscall5(NR_mremap, from, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	if (r < 0)
		rt_die("cannot move %s to 0x%lx: %s", what, (unsigned long)to, rt_strerror(r));
}

static void place_vdso(struct own *o)
{
	if (o->vdso_size != proc.vdso_size || o->vvar_size != proc.vvar_size ||
	    o->vclock_size != proc.vclock_size)
		rt_die("the kernel's vdso layout differs from the image's (vdso %lu/%lu bytes, vvar %lu/%lu); "
		       "restart on a machine running the same kernel", (unsigned long)o->vdso_size,
		       (unsigned long)proc.vdso_size, (unsigned long)o->vvar_size, (unsigned long)proc.vvar_size);
	if (proc.vdso_crc && crc32c(0, (void *)o->vdso, o->vdso_size) != proc.vdso_crc)
		rt_die("the kernel's vdso differs from the one the image was written with (another kernel "
		       "build); restart on a machine running the same kernel");
	if (o->vdso == proc.vdso_start && o->vvar == proc.vvar_start)
		return;
	/* through a fixed temporary area, so no move lands on another part */
	move_one(o->vvar, o->vvar_size, TEMP_AREA, "[vvar]");
	move_one(o->vclock, o->vclock_size, TEMP_AREA + 0x100000, "[vvar_vclock]");
	move_one(o->vdso, o->vdso_size, TEMP_AREA + 0x200000, "[vdso]");
	move_one(TEMP_AREA, o->vvar_size, proc.vvar_start, "[vvar]");
	move_one(TEMP_AREA + 0x100000, o->vclock_size, proc.vclock_start, "[vvar_vclock]");
	move_one(TEMP_AREA + 0x200000, o->vdso_size, proc.vdso_start, "[vdso]");
}

static void check_overlap(void)
{
	uint64_t lo = (uint64_t)__executable_start, hi = ((uint64_t)_end + 4095) & ~4095ull;
	for (uint64_t i = 0; i < nregions; i++) {
		struct crest_img_region *r = &regions[i];
		if (r->start < hi && r->end > lo)
			rt_die("the image has memory at 0x%lx-0x%lx, where crest-restart itself lives; "
			       "this image cannot be restarted by this build", (unsigned long)r->start,
			       (unsigned long)r->end);
		if (r->start < TEMP_AREA + 0x400000 && r->end > TEMP_AREA)
			rt_die("the image has memory at 0x%lx, crest-restart's temporary area", (unsigned long)r->start);
		if (r->start >= r->end || (r->start | r->end) & 4095)
			rt_die("image %s: region %lu has a bad range; the image is damaged", image_path,
			       (unsigned long)i);
	}
}

/* ---- memory ------------------------------------------------------------ */

static void map_regions(void)
{
	for (uint64_t i = 0; i < nregions; i++) {
		struct crest_img_region *r = &regions[i];
		uint64_t len = r->end - r->start;
		long m;
		if (r->kind == CREST_REG_FILE_SHARED) {
			long fd = sys_open(r->path, ((r->prot & PROT_WRITE) ? O_RDWR : O_RDONLY) | O_CLOEXEC);
			if (fd < 0)
				rt_die("cannot open %s, mapped shared at 0x%lx: %s", r->path, (unsigned long)r->start,
				       rt_strerror(fd));
			m = raw_syscall6(NR_mmap, r->start, len, r->prot, MAP_SHARED | MAP_FIXED_NOREPLACE, fd,
					 r->offset);
			raw_syscall1(NR_close, fd);
		} else if (r->kind == CREST_REG_SHARED_ANON && shm_fd_of(i) == SHM_SYSV) {
			map_sysv(i);
			continue;
		} else if (r->kind == CREST_REG_SHARED_ANON && shm_fd_of(i) >= 0) {
			m = raw_syscall6(NR_mmap, r->start, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE,
					 shm_fd_of(i), r->offset);
		} else {
			int flags = MAP_FIXED_NOREPLACE | MAP_ANONYMOUS;
			flags |= r->kind == CREST_REG_SHARED_ANON ? MAP_SHARED : MAP_PRIVATE;
			if (r->kind == CREST_REG_STACK)
				flags |= MAP_GROWSDOWN;
			/* the process may have had it MAP_NORESERVE (sparse arenas):
			 * never fail a restart on overcommit accounting */
			flags |= MAP_NORESERVE;
			int prot = r->kind == CREST_REG_GUARD ? 0 : PROT_READ | PROT_WRITE;
			m = raw_syscall6(NR_mmap, r->start, len, prot, flags, -1, 0);
		}
		if (m < 0 || (uint64_t)m != r->start)
			rt_die("cannot map 0x%lx-0x%lx (%s): %s", (unsigned long)r->start, (unsigned long)r->end,
			       r->path, rt_strerror(m < 0 ? m : -17));
	}
}

/*
 * Memory is loaded by several threads, each taking the next chunk: while one
 * waits for the disk (O_DIRECT straight into the target pages), another
 * faults pages in, checksums or decompresses.  The chunk list is read first
 * from the section headers.
 */
#define MAX_CHUNKS (1u << 18)
#define MAX_LOADERS 4

struct chunk {
	uint64_t payload;
	struct crest_sec_hdr sh;
};

struct loader {
	ZSTD_DCtx *dctx;
	unsigned char *zbuf;
	unsigned char work[1 << 18] __attribute__((aligned(64)));
};

static struct chunk chunks[MAX_CHUNKS];
static uint32_t nchunks;
static volatile uint32_t next_chunk, loaders_done;
static volatile uint32_t loader_tids[MAX_LOADERS];	/* cleared by the kernel when a loader exits */
static struct loader loaders[MAX_LOADERS];
static unsigned char zbufs[MAX_LOADERS][CREST_CHUNK_MAX + (1 << 20)] __attribute__((aligned(4096)));
static unsigned char loader_stacks[MAX_LOADERS][64 * 1024] __attribute__((aligned(16)));

static void load_chunk(struct loader *l, const struct chunk *c, uint64_t chunk)
{
	const struct crest_sec_hdr *sh = &c->sh;
	if (sh->index >= nregions)
		rt_die("image %s: memory chunk %lu names region %u of %lu; the image is damaged", image_path,
		       (unsigned long)chunk, sh->index, (unsigned long)nregions);
	struct crest_img_region *r = &regions[sh->index];
	if (sh->addr < r->start || sh->addr + sh->raw_length > r->end || r->kind == CREST_REG_FILE_SHARED ||
	    sh->addr & 4095)
		rt_die("image %s: memory chunk %lu (0x%lx+%lu) is outside its region; the image is damaged",
		       image_path, (unsigned long)chunk, (unsigned long)sh->addr, (unsigned long)sh->raw_length);
	void *dst = (void *)sh->addr;
	if (sh->compress == CREST_COMP_NONE) {
		if (sh->length != sh->raw_length)
			rt_die("image %s: memory chunk %lu has inconsistent lengths", image_path, (unsigned long)chunk);
		int rc = -1;
		if (direct_fd >= 0 && !(sh->length & 4095))
			rc = rt_read_full(direct_fd, dst, sh->length, c->payload);
		if (rc)
			read_at(dst, sh->length, c->payload, "memory");
		if (crc32c(0, dst, sh->length) != sh->payload_crc)
			rt_die("image %s: checksum mismatch in memory chunk %lu (0x%lx-0x%lx, %s); the image is "
			       "damaged, try an older --generation", image_path, (unsigned long)chunk,
			       (unsigned long)sh->addr, (unsigned long)(sh->addr + sh->length), r->path);
	} else if (sh->compress == CREST_COMP_ZSTD) {
		if (sh->length > sizeof(zbufs[0]) - 4096)
			rt_die("image %s: compressed chunk %lu too large", image_path, (unsigned long)chunk);
		uint64_t padded = (sh->length + 4095) & ~4095ull;
		int rc = -1;
		if (direct_fd >= 0)
			rc = rt_read_full(direct_fd, l->zbuf, padded, c->payload);
		if (rc)
			read_at(l->zbuf, sh->length, c->payload, "memory");
		if (crc32c(0, l->zbuf, sh->length) != sh->payload_crc)
			rt_die("image %s: checksum mismatch in compressed memory chunk %lu (0x%lx-0x%lx, %s); "
			       "the image is damaged, try an older --generation", image_path, (unsigned long)chunk,
			       (unsigned long)sh->addr, (unsigned long)(sh->addr + sh->raw_length), r->path);
		if (!l->dctx)
			l->dctx = ZSTD_initStaticDCtx(l->work, sizeof(l->work));
		if (!l->dctx)
			rt_die("zstd: cannot set up decompression");
		size_t got = ZSTD_decompressDCtx(l->dctx, dst, sh->raw_length, l->zbuf, sh->length);
		if (ZSTD_isError(got) || got != sh->raw_length)
			rt_die("image %s: memory chunk %lu does not decompress (%s); the image is damaged", image_path,
			       (unsigned long)chunk, ZSTD_getErrorName(got));
	} else {
		rt_die("image %s: memory chunk %lu uses unknown compression %u", image_path, (unsigned long)chunk,
		       sh->compress);
	}
}

static void loader_run(void *arg)
{
	struct loader *l = arg;
	for (;;) {
		uint32_t i = __atomic_fetch_add(&next_chunk, 1, __ATOMIC_ACQ_REL);
		if (i >= nchunks)
			break;
		load_chunk(l, &chunks[i], i);
	}
	__atomic_add_fetch(&loaders_done, 1, __ATOMIC_RELEASE);
	raw_futex_wake(&loaders_done);
}

/* clone(flags, stack, ptid = 0, ctid, tls = 0) running fn(arg) on the new stack */
long restart_clone(unsigned long flags, void *stack, void (*fn)(void *), void *arg, volatile uint32_t *ctid);
__asm__(".text\n"
	"restart_clone:\n"
	"	subq $16, %rsi\n"
	"	movq %rdx, 0(%rsi)\n"	/* fn */
	"	movq %rcx, 8(%rsi)\n"	/* arg */
	"	movq %r8, %r10\n"	/* ctid */
	"	xorl %edx, %edx\n"
	"	xorl %r8d, %r8d\n"
	"	movl $56, %eax\n"
	"	syscall\n"
	"	testq %rax, %rax\n"
	"	jnz 1f\n"
	"	popq %rax\n"
	"	popq %rdi\n"
	"	call *%rax\n"
	"	movl $60, %eax\n"
	"	xorl %edi, %edi\n"
	"	syscall\n"
	"	hlt\n"
	"1:	ret\n");

static unsigned loader_count(void)
{
	uint64_t set[16] = { 0 };
	long n = raw_syscall3(204 /* sched_getaffinity */, 0, sizeof(set), set);
	unsigned cpus = 0;
	for (long i = 0; i < n / 8; i++)
		cpus += __builtin_popcountll(set[i]);
	/* at least 2 so the disk and the CPU work overlap even on one core */
	return cpus < 2 ? 2 : cpus > MAX_LOADERS ? MAX_LOADERS : cpus;
}

static void load_memory(uint64_t off)
{
	struct crest_sec_hdr sh;
	nchunks = 0;
	for (;;) {
		uint64_t at = off;
		if (!next_section(&off, &sh))
			break;
		if (sh.type != CREST_SEC_MEMORY || shm_fd_of(sh.index) != -1)
			continue;	/* (a shared object's content is in place already) */
		if (nchunks >= MAX_CHUNKS)
			rt_die("image %s has more than %u memory chunks", image_path, MAX_CHUNKS);
		chunks[nchunks].payload = at + CREST_IMG_ALIGN;
		chunks[nchunks].sh = sh;
		nchunks++;
	}
	if (sh.count + 1 != hdr.nsections)
		rt_die("image %s: %u sections before END, the header says %lu; the image is damaged", image_path,
		       sh.count, (unsigned long)hdr.nsections - 1);
	unsigned n = loader_count();
	for (unsigned i = 0; i < n; i++)
		loaders[i].zbuf = zbufs[i];
	/* VM FS FILES SIGHAND THREAD SYSVSEM CHILD_CLEARTID */
	unsigned long flags = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000 | 0x200000;
	for (unsigned i = 1; i < n; i++) {
		loader_tids[i] = 1;
		long r = restart_clone(flags, loader_stacks[i] + sizeof(loader_stacks[i]), loader_run, &loaders[i],
				       &loader_tids[i]);
		if (r < 0) {
			loader_tids[i] = 0;
			__atomic_add_fetch(&loaders_done, 1, __ATOMIC_RELEASE);	/* do with fewer */
		}
	}
	loader_run(&loaders[0]);
	for (;;) {
		uint32_t d = __atomic_load_n(&loaders_done, __ATOMIC_ACQUIRE);
		if (d >= n)
			break;
		raw_futex_wait(&loaders_done, d);
	}
	/* the loaders must be gone before this memory is given up */
	for (unsigned i = 1; i < n; i++)
		while (__atomic_load_n(&loader_tids[i], __ATOMIC_ACQUIRE))
			raw_syscall4(NR_futex, &loader_tids[i], 0 /* FUTEX_WAIT, shared word */, 1, 0);
}

static void set_protections(void)
{
	for (uint64_t i = 0; i < nregions; i++) {
		struct crest_img_region *r = &regions[i];
		if (r->kind == CREST_REG_FILE_SHARED || r->kind == CREST_REG_GUARD)
			continue;
		long rc = raw_syscall3(NR_mprotect, r->start, r->end - r->start, r->prot);
		if (rc < 0)
			rt_die("cannot set protection of 0x%lx-0x%lx: %s", (unsigned long)r->start,
			       (unsigned long)r->end, rt_strerror(rc));
	}
}

static void set_mm(void)
{
	struct prctl_mm_map m = {
		.start_code = proc.start_code, .end_code = proc.end_code,
		.start_data = proc.start_data, .end_data = proc.end_data,
		.start_brk = proc.start_brk, .brk = proc.brk,
		.start_stack = proc.start_stack,
		.arg_start = proc.arg_start, .arg_end = proc.arg_end,
		.env_start = proc.env_start, .env_end = proc.env_end,
		.auxv = 0, .auxv_size = 0, .exe_fd = (uint32_t)-1,
	};
	long rc = raw_syscall5(NR_prctl, PR_SET_MM, PR_SET_MM_MAP, &m, sizeof(m), 0);
	if (rc < 0)
		rt_print("warning: cannot restore the heap break (PR_SET_MM_MAP: %s); malloc will use mmap",
			 rt_strerror(rc));
}

/* ---- the jump ------------------------------------------------------------ */

__attribute__((noreturn)) static void jump(uint64_t entry, uint64_t stack, void *arg)
{
	__asm__ volatile("movq %0, %%rsp\n"
			 "xorl %%ebp, %%ebp\n"
			 "movq %2, %%rdi\n"
			 "jmpq *%1\n"
			 :
			 : "r"(stack), "r"(entry), "r"(arg)
			 : "memory");
	__builtin_unreachable();
}

static uint64_t now_ns(void)
{
	struct { long s, ns; } ts;
	raw_syscall2(NR_clock_gettime, 1, &ts);
	return (uint64_t)ts.s * 1000000000ull + ts.ns;
}

__attribute__((noreturn, used)) void restart_main(uint64_t *sp)
{
	int argc = (int)sp[0];
	char **argv = (char **)(sp + 1);
	static char image[4096], dir[4096];
	uint64_t generation = 0, restart_count = 0;
	long vpid_fd = -1;
	size_t env_len = 0, pm_len = 0;
	int keep_fds = 0;

	fake_tcb[0] = (uint64_t)fake_tcb;	/* fs:0 self pointer, canary at fs:0x28 */
	fake_tcb[2] = (uint64_t)fake_tcb;
	raw_syscall2(NR_arch_prctl, RAW_ARCH_SET_FS, fake_tcb);
	/* Until the jump into the image, a termination signal (the job is
	 * cancelled, the user presses ^C) ends the restart with its default
	 * action: nothing has been written, the checkpoint is as it was.
	 * Everything else waits. */
	uint64_t loading = ~0ull & ~(1ull << (1 - 1)) & ~(1ull << (2 - 1)) & ~(1ull << (3 - 1)) &
			   ~(1ull << (15 - 1));	/* HUP INT QUIT TERM */
	raw_syscall4(NR_rt_sigprocmask, 2 /* SIG_SETMASK */, &loading, 0, 8);
	uint64_t t0 = now_ns();

	/* the fault injection of the tests (docs/testing.md) */
	int fault_stall = 0;
	for (char **e = argv + argc + 1; *e; e++)
		if (!strcmp(*e, "CREST_FAULT=restart:load:stall"))
			fault_stall = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : 0;
		if (!strcmp(a, "--image") && v)
			strncpy_z(image, v, sizeof(image)), i++;
		else if (!strcmp(a, "--dir") && v)
			strncpy_z(dir, v, sizeof(dir)), i++;
		else if (!strcmp(a, "--generation") && v)
			generation = rt_strtou(v, 0, 10), i++;
		else if (!strcmp(a, "--vpid-fd") && v)
			vpid_fd = (long)rt_strtou(v, 0, 10), i++;
		else if (!strcmp(a, "--inherit-fds") && v)
			inherit_fds = (uint32_t)rt_strtou(v, 0, 10), i++;
		else if (!strcmp(a, "--shm-fds") && v)
			parse_shm_fds(v), i++;
		else if (!strcmp(a, "--path-map") && v) {
			/* copied into rinfo at once: argv goes away with the old stack */
			const char *eq = v;
			while (*eq && *eq != '=')
				eq++;
			size_t ol = (size_t)(eq - v), nl = *eq ? strlen(eq + 1) : 0;
			if (!*eq || npmap >= MAX_PATH_MAP || v[0] != '/' || eq[1] != '/' ||
			    pm_len + ol + nl + 3 > sizeof(rinfo.path_map))
				rt_die("--path-map %s: expected /OLD=/NEW (at most %d)", v, MAX_PATH_MAP);
			char *o = rinfo.path_map + pm_len;
			memcpy(o, v, ol);
			o[ol] = 0;
			char *n = o + ol + 1;
			memcpy(n, eq + 1, nl);
			n[nl] = 0;
			pm_len += ol + nl + 2;
			pmap[npmap].old = o;
			pmap[npmap].olen = ol;
			pmap[npmap].new_ = n;
			pmap[npmap].nlen = nl;
			npmap++;
			i++;
		} else if (!strcmp(a, "--env") && v && env_len + strlen(v) + 2 < sizeof(rinfo.env)) {
			strncpy_z(rinfo.env + env_len, v, sizeof(rinfo.env) - env_len);
			env_len += strlen(v) + 1;
			i++;
		} else if (!strcmp(a, "--tmpdir") && v)
			strncpy_z(rinfo.tmpdir, v, sizeof(rinfo.tmpdir)), i++;
		else if (!strcmp(a, "--fd-links") && v)	/* for libcrest: preload/fds_share.c */
			strncpy_z(rinfo.fd_links, v, sizeof(rinfo.fd_links)), i++;
		else if (!strcmp(a, "--keep-fds"))
			keep_fds = 1;
		else if (!strcmp(a, "--restart-count") && v)
			restart_count = rt_strtou(v, 0, 10), i++;
		else if (!strcmp(a, "--allow-changed") && v && nallow < 64)
			allow_changed[nallow++] = argv[++i];
		else if (!strcmp(a, "--no-truncate") && v && no_truncate_len + strlen(v) + 2 < sizeof(no_truncate)) {
			strncpy_z(no_truncate + no_truncate_len, v, sizeof(no_truncate) - no_truncate_len);
			no_truncate_len += strlen(v) + 1;
			i++;
		}
		else
			rt_die("usage: crest-restart --image PATH [--dir DIR] [--generation N] "
			       "[--restart-count N] (unknown argument %s); use `crest restart`", a);
	}
	if (!image[0])
		rt_die("usage: crest-restart --image PATH; use `crest restart`");
	image_path = image;

	/* `crest restart` hands over exactly the fds the process needs (pipes
	 * in place, the pid table) with --keep-fds; else nothing but 0-2 */
	if (!keep_fds)
		raw_syscall3(436 /* close_range */, 3, ~0u, 0);
	long fd = sys_open(image, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		rt_die("cannot open image %s: %s", image, rt_strerror(fd));
	image_fd = (int)raw_syscall3(NR_fcntl, fd, F_DUPFD, CREST_RESTART_IMAGE_FD);
	raw_syscall1(NR_close, fd);
	fd = sys_open(image, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd >= 0) {
		direct_fd = (int)raw_syscall3(NR_fcntl, fd, 1030 /* F_DUPFD_CLOEXEC */, CREST_RESTART_IMAGE_FD);
		raw_syscall1(NR_close, fd);
	}

	check_header();
	uint64_t mem_off = read_metadata();
	check_cpu();
	check_overlap();

	struct own own = { 0 };
	read_own_maps(&own, 0);
	place_vdso(&own);	/* refuses before anything is unmapped */
	read_own_maps(&own, 1);	/* unmaps the old stack, heap, ... */
	map_regions();
	for (uint32_t k = 0; k < nshm; k++) {
		if (shm_fds[k].fd >= 0)
			raw_syscall1(NR_close, shm_fds[k].fd);
		if (shm_fds[k].fd == SHM_SYSV && shm_fds[k].count_fd >= 0)
			raw_syscall1(NR_close, shm_fds[k].count_fd);	/* (shared by entries: closed once) */
	}
	load_memory(mem_off);
	set_protections();
	set_mm();
	if (direct_fd >= 0)
		raw_syscall1(NR_close, direct_fd);

	rinfo.magic = CREST_RINFO_MAGIC;
	rinfo.version = CREST_RINFO_VERSION;
	rinfo.image_fd = image_fd;
	rinfo.vpid_fd = (int32_t)vpid_fd;
	rinfo.inherit_fds = inherit_fds;

	rinfo.generation = generation ? generation : hdr.generation;
	rinfo.restart_count = (uint32_t)restart_count;
	rinfo.self_lo = (uint64_t)__executable_start;
	rinfo.self_hi = ((uint64_t)_end + 4095) & ~4095ull;
	rinfo.restart_ns = t0;
	strncpy_z(rinfo.image, image, sizeof(rinfo.image));
	strncpy_z(rinfo.dir, dir, sizeof(rinfo.dir));
	memcpy(rinfo.no_truncate, no_truncate, sizeof(rinfo.no_truncate));
	if (fault_stall) {
		/* CREST_FAULT=restart:load:stall (tests): everything is loaded,
		 * nothing is running yet; a termination signal must end it here */
		rt_print("CREST_FAULT restart:load:stall: stalling before the jump into the image");
		for (int k = 0; k < 600; k++) {
			struct { long s, ns; } ts = { 0, 100000000 };
			raw_syscall2(35 /* nanosleep */, &ts, 0);
		}
	}
	/* every restored thread starts with all signals blocked; each gets its
	 * own mask back when it returns from the suspend handler (rt_sigreturn);
	 * a TERM from now on is the restored application's (a final checkpoint) */
	uint64_t all = ~0ull;
	raw_syscall4(NR_rt_sigprocmask, 2 /* SIG_SETMASK */, &all, 0, 8);
	jump(proc.restart_entry, proc.restart_stack, &rinfo);
}

/* Entry: switch to a stack in .bss before anything else. */
static unsigned char boot_stack[256 * 1024] __attribute__((aligned(16), used));
__asm__(".text\n"
	".globl _start\n"
	"_start:\n"
	"	movq %rsp, %rdi\n"
	"	leaq boot_stack+262144(%rip), %rsp\n"
	"	andq $-16, %rsp\n"
	"	xorl %ebp, %ebp\n"
	"	call restart_main\n"
	"	hlt\n");
