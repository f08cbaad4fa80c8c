/* SPDX-License-Identifier: MIT */
/*
 * Writing a process image.  Reads top to bottom as the list of steps:
 * PREPARE checks for what cannot be checkpointed while nothing is stopped;
 * WRITE (threads stopped) saves kernel state and fds, lists memory, sets the
 * checkpoint thread's own resume point, and writes the sections.
 */
#define LOG_MODULE "dump"
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <gnu/libc-version.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "crest.h"
#include "crest/crc32c.h"
#include "image_write.h"
#include "log.h"
#include "maps.h"
#include "rawsys.h"
#include "vpid.h"

#define MAX_REGIONS 16384
#define MAX_RUNS (1u << 20)

extern void crest_restart_entry(struct crest_restart_info *ri);
extern unsigned char crest_restart_stack[];
extern const size_t crest_restart_stack_size;

struct run {
	uint64_t addr, len;
	uint32_t region;
	bool changes;		/* written to by this thread while the image is written */
	void *snap;		/* stable copy taken at the resume point */
};

/* Scratch memory of one checkpoint, mmap'd and left out of the image. */
struct scratch {
	void *base;
	size_t len;
	struct crest_map *maps;
	struct crest_img_region *regions;
	struct run *runs;
	size_t nruns;
	struct crest_img_fd *fds;
	void *iw;
	size_t iw_len;
	struct crest_img_process *proc;
	struct crest_img_thread *threads;
	unsigned char *snap;
	size_t snap_len;
};

#define SNAP_MAX (512ul << 20)

static struct crest_iw writer;

static bool map_unsupported(const struct crest_map *e, char *err, size_t errlen)
{
	static const char *const bad[] = { "/dev/nvidia", "/dev/dri", "/dev/infiniband", "/dev/kfd",
					   "anon_inode:[perf_event]", "anon_inode:[io_uring]",
					   "anon_inode:[userfaultfd]", "[uprobes]", NULL };
	for (int i = 0; bad[i]; i++)
		if (!strncmp(e->path, bad[i], strlen(bad[i]))) {
			snprintf(err, errlen,
				 "it maps %s at 0x%lx, which crest cannot checkpoint (see docs/unsupported.md)",
				 e->path, (unsigned long)e->start);
			return true;
		}
	if (e->shared && !strncmp(e->path, "/dev/", 5) && strncmp(e->path, "/dev/zero", 9) &&
	    strncmp(e->path, "/dev/shm/", 9)) {
		snprintf(err, errlen, "it maps device %s at 0x%lx; device mappings cannot be "
			 "checkpointed (see docs/unsupported.md)", e->path, (unsigned long)e->start);
		return true;
	}
	return false;
}

/*
 * An MPI rank of an `srun --mpi=...` step: its MPI library talks to
 * slurmstepd's PMI server, a connection outside the computation that crest
 * cannot save yet: the restarted rank could not finish (nor one taken
 * before its MPI_Init: it would call the old step's server).  PMIx: Slurm's
 * namespace (slurm.pmix.J.S) in PMIX_NAMESPACE and an MPI library mapped
 * (an mpirun in such a step maps none, and its ranks have its namespace);
 * PMI-2: SLURM_MPI_TYPE pmi2, the socket PMI_FD names open, and a PMI or
 * MPI library mapped.  The environment is read once, before main (the
 * program may change it while this runs).  Said once on the process's
 * stderr too, where the job's output shows it.
 */
static char pmi_type[32];	/* SLURM_MPI_TYPE when it may be a rank, else "" */
static bool pmi_pmix;
static int pmi_fd = -1;

__attribute__((constructor)) static void pmi_env_read(void)
{
	const char *mpi = crest_getenv("SLURM_MPI_TYPE"), *ns = crest_getenv("PMIX_NAMESPACE");
	const char *fd = crest_getenv("PMI_FD");
	if (!mpi || !strcmp(mpi, "none"))
		return;
	pmi_pmix = ns && !strncmp(ns, "slurm.pmix.", 11);
	if (fd && !strncmp(mpi, "pmi2", 4))
		pmi_fd = atoi(fd);
	if (pmi_pmix || pmi_fd >= 0)
		snprintf(pmi_type, sizeof(pmi_type), "%s", mpi);
}

static bool slurm_pmi_client(const struct crest_maps *m, char *err, size_t errlen)
{
	static bool told;
	struct stat st;
	if (!pmi_type[0])
		return false;
	bool pmi = pmi_fd >= 0 && !fstat(pmi_fd, &st) && S_ISSOCK(st.st_mode), lib = false;
	for (size_t i = 0; i < m->n && !lib; i++) {
		const char *base = strrchr(m->e[i].path, '/');
		base = base ? base + 1 : m->e[i].path;
		lib = !strncmp(base, "libmpi", 6) || (pmi && !strncmp(base, "libpmi", 6));
	}
	if (!lib || (!pmi_pmix && !pmi))
		return false;
	snprintf(err, errlen, "it is an MPI rank of Slurm's PMI (srun --mpi=%s): its MPI library talks to slurmstepd, "
		 "which crest cannot checkpoint yet; run Open MPI inside the step with `crest mpirun` (srun "
		 "--ntasks-per-node=1 ... crest mpirun ARGS, docs/slurm.md \"MPI\"), or this step with "
		 "--no-checkpoint", pmi_type);
	if (!told)
		pr_err("checkpoint refused: %s", err);
	told = true;
	return true;
}

static long status_field(const char *key)
{
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *p = strstr(buf, key);
	return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

/* Nothing is stopped yet: fail fast on what we cannot restore. */
int crest_checkpoint_prepare(char *err, size_t errlen)
{
	static struct crest_map maps[MAX_REGIONS];
	struct crest_maps m = { maps, 0, MAX_REGIONS };
	int rc;

	long tracer = status_field("TracerPid:");
	if (tracer > 0) {
		snprintf(err, errlen, "it is being traced by pid %ld (a debugger or strace); "
			 "detach it and try again", tracer);
		return -EBUSY;
	}
	rc = crest_maps_read(&m, err, errlen);
	if (rc)
		return rc;
	for (size_t i = 0; i < m.n; i++)
		if (map_unsupported(&m.e[i], err, errlen))
			return -ENOTSUP;
	if (slurm_pmi_client(&m, err, errlen))
		return -ENOTSUP;
	return crest_fds_prepare(err, errlen);
}

static int scratch_alloc(struct scratch *s, unsigned compress, unsigned threads)
{
	size_t maps = MAX_REGIONS * sizeof(struct crest_map);
	size_t regions = MAX_REGIONS * sizeof(struct crest_img_region);
	size_t runs = MAX_RUNS * sizeof(struct run);
	size_t fds = CREST_MAX_FDS * sizeof(struct crest_img_fd);
	size_t proc = 4096 + sizeof(struct crest_img_process);
	size_t thr = CREST_MAX_THREADS * sizeof(struct crest_img_thread);
	s->iw_len = crest_iw_scratch_size(compress, threads);
	s->iw_len = (s->iw_len + 4095) & ~4095ul;
	s->snap_len = SNAP_MAX;
	s->len = s->iw_len + maps + regions + runs + fds + proc + thr + 4096 + s->snap_len;
	s->len = (s->len + 4095) & ~4095ul;
	s->base = mmap(NULL, s->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (s->base == MAP_FAILED)
		return -errno;
	char *p = s->base;
	s->iw = p;
	p += s->iw_len;
	s->maps = (void *)p;
	p += maps;
	s->regions = (void *)p;
	p += regions;
	s->runs = (void *)p;
	p += runs;
	s->fds = (void *)p;
	p += fds;
	s->proc = (void *)p;
	p += proc;
	s->threads = (void *)p;
	p += thr;
	s->snap = (void *)(((uintptr_t)p + 4095) & ~4095ul);	/* O_DIRECT writes from it */
	return 0;
}

static int pagemap_fd = -1;

static int add_run(struct scratch *s, uint32_t region, uint64_t addr, uint64_t len)
{
	if (s->nruns && s->runs[s->nruns - 1].region == region &&
	    s->runs[s->nruns - 1].addr + s->runs[s->nruns - 1].len == addr) {
		s->runs[s->nruns - 1].len += len;
		return 0;
	}
	if (s->nruns >= MAX_RUNS)
		return -E2BIG;
	s->runs[s->nruns++] = (struct run){ addr, len, region, false, NULL };
	return 0;
}

/* Private memory: pages present or swapped out (pagemap bits 63, 62). */
static int runs_pagemap(struct scratch *s, uint32_t region, uint64_t start, uint64_t end)
{
	uint64_t pm[4096];
	for (uint64_t a = start; a < end;) {
		uint64_t npages = (end - a) / 4096;
		if (npages > 4096)
			npages = 4096;
		ssize_t n = pread(pagemap_fd, pm, npages * 8, (a / 4096) * 8);
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		npages = n / 8;
		for (uint64_t i = 0; i < npages; i++)
			if (pm[i] & (3ull << 62)) {
				int rc = add_run(s, region, a + i * 4096, 4096);
				if (rc)
					return rc;
			}
		a += npages * 4096;
	}
	return 0;
}

/* Shared memory: pages resident in the object (mincore). */
static int runs_mincore(struct scratch *s, uint32_t region, uint64_t start, uint64_t end)
{
	unsigned char vec[4096];
	for (uint64_t a = start; a < end;) {
		uint64_t npages = (end - a) / 4096;
		if (npages > sizeof(vec))
			npages = sizeof(vec);
		if (mincore((void *)a, npages * 4096, vec) < 0)
			return runs_pagemap(s, region, a, end);
		for (uint64_t i = 0; i < npages; i++)
			if (vec[i] & 1) {
				int rc = add_run(s, region, a + i * 4096, 4096);
				if (rc)
					return rc;
			}
		a += npages * 4096;
	}
	return 0;
}

/* Identity and size of a mapped file: through /proc/self/map_files (the
 * mapping itself, right even for deleted files or odd paths; needs
 * CAP_CHECKPOINT_RESTORE or root), else by path.  false if unknown. */
static bool fill_identity(struct crest_img_region *r, const char *path)
{
	struct stat st;
	char mf[64];
	snprintf(mf, sizeof(mf), "/proc/self/map_files/%lx-%lx", (unsigned long)r->start,
		 (unsigned long)r->end);
	if (stat(mf, &st) < 0 && (!path || stat(path, &st) < 0 || st.st_ino != r->ino))
		return false;
	r->dev = st.st_dev;
	r->ino = st.st_ino;
	r->file_size = st.st_size;
	r->mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + st.st_mtim.tv_nsec;
	return true;
}

/* where the pages of mapping e that lie in its file (identified in r)
 * end: those past it would fault with SIGBUS */
static uint64_t file_end(const struct crest_img_region *r, const struct crest_map *e)
{
	uint64_t in_file = r->file_size > e->offset ? r->file_size - e->offset : 0;
	in_file = (in_file + 4095) & ~4095ull;
	return e->start + in_file < e->end ? e->start + in_file : e->end;
}

/* Is the file of mapping r (identified by fill_identity) on tmpfs?  As
 * fill_identity found it: through /proc/self/map_files (root,
 * CAP_CHECKPOINT_RESTORE), else by path, which it found to be that file;
 * when neither tells, yes: only its pages in memory are saved, as before. */
static bool on_tmpfs(const struct crest_img_region *r, const char *path)
{
	struct statfs sf;
	char mf[64];
	snprintf(mf, sizeof(mf), "/proc/self/map_files/%lx-%lx", (unsigned long)r->start, (unsigned long)r->end);
	if (syscall(SYS_statfs, mf, &sf) == 0 || syscall(SYS_statfs, path, &sf) == 0)
		return sf.f_type == TMPFS_MAGIC;
	return true;
}

/* A node-local file this process maps shared comes back from its mapping's
 * pages (crest restart puts them into the file before any process runs),
 * not also from a copy of the file that one process would write back
 * while the others may already run on it. */
static void node_files_not_twice(const struct scratch *s)
{
	for (uint32_t i = 0; i < crest.nfds; i++) {
		struct crest_img_fd *f = &crest.fds[i].img;
		if (f->kind != CREST_FD_FILE || !f->content_saved)
			continue;
		for (uint32_t k = 0; k < s->proc->nregions; k++) {
			const struct crest_img_region *r = &s->regions[k];
			if ((r->flags & CREST_REGF_NODE_FILE) && r->ino == f->ino && r->dev == f->dev) {
				f->content_saved = 0;
				break;
			}
		}
	}
}

/* Classifies every mapping and lists the pages to save. */
static int list_memory(struct scratch *s, struct crest_img_process *proc, char *err, size_t errlen)
{
	struct crest_maps m = { s->maps, 0, MAX_REGIONS };
	int rc = crest_maps_read(&m, err, errlen);
	if (rc)
		return rc;
	uint64_t skip_lo = (uint64_t)s->base, skip_hi = skip_lo + s->len;
	size_t nreg = 0;
	s->nruns = 0;
	for (size_t i = 0; i < m.n; i++) {
		struct crest_map *e = &m.e[i];
		if (e->start >= skip_lo && e->end <= skip_hi)
			continue;
		if (!strcmp(e->path, "[vvar]")) {
			proc->vvar_start = e->start;
			proc->vvar_size = e->end - e->start;
			continue;
		}
		if (!strcmp(e->path, "[vvar_vclock]")) {
			proc->vclock_start = e->start;
			proc->vclock_size = e->end - e->start;
			continue;
		}
		if (!strcmp(e->path, "[vdso]")) {
			proc->vdso_start = e->start;
			proc->vdso_size = e->end - e->start;
			proc->vdso_crc = crc32c(0, (void *)e->start, e->end - e->start);
			continue;
		}
		if (!strcmp(e->path, "[vsyscall]"))
			continue;
		if (map_unsupported(e, err, errlen))
			return -ENOTSUP;
		struct crest_img_region *r = &s->regions[nreg];
		memset(r, 0, sizeof(*r));
		r->start = e->start;
		r->end = e->end;
		r->prot = e->prot;
		r->offset = e->offset;
		r->ino = e->inode;
		snprintf(r->path, sizeof(r->path), "%s", e->path);
		bool deleted = crest_path_deleted(e->path);
		if (deleted)
			r->flags |= CREST_REGF_DELETED;
		uint64_t save_end = e->end;
		bool known_size = false, whole_file = false;
		if (!strcmp(e->path, "[heap]")) {
			r->kind = CREST_REG_HEAP;
		} else if (!strcmp(e->path, "[stack]")) {
			r->kind = CREST_REG_STACK;
			r->flags |= CREST_REGF_GROWSDOWN;
		} else if (e->path[0] == '/' && e->shared && !deleted && strncmp(e->path, "/dev/zero", 9) &&
			   strncmp(e->path, "/SYSV", 5) && strncmp(e->path, "/memfd:", 7)) {
			r->kind = CREST_REG_FILE_SHARED;
			if (!fill_identity(r, e->path)) {
				snprintf(err, errlen, "cannot identify the file mapped shared at 0x%lx (%s)",
					 (unsigned long)e->start, e->path);
				return -ENOENT;
			}
			if (e->prot & PROT_WRITE)
				msync((void *)e->start, e->end - e->start, MS_SYNC);
			/* a node-local file (Open MPI's shared memory segments in
			 * /dev/shm, its session folder in /tmp): another node has
			 * not got it, and on this one the run that goes on after
			 * the checkpoint changes it; saved, and put back at
			 * restart (sched/cli_tree.c).  Read-only ones are not
			 * copied into the image: mapped by path again, their
			 * identity checked */
			if ((e->prot & PROT_WRITE) && crest_node_local(e->path)) {
				size_t tl = crest_tmpdir_prefix(e->path);
				r->kind = CREST_REG_SHARED_ANON;
				r->flags |= CREST_REGF_NODE_FILE;
				if (tl < 65536)
					r->flags |= (uint32_t)tl << CREST_REGF_TMPDIR_SHIFT;
				/* on a disk, a page not in memory is in the file,
				 * which another node has not got: every page of
				 * the file (on tmpfs such a page was a hole) */
				whole_file = !on_tmpfs(r, e->path);
				save_end = file_end(r, e);
			}
		} else if (e->shared) {
			r->kind = CREST_REG_SHARED_ANON;
			if (!strncmp(e->path, "/SYSV", 5) && deleted)	/* "/SYSV<key> (deleted)" */
				crest_sysv_describe(r);
		} else if (e->path[0] == '/') {
			r->kind = CREST_REG_FILE_PRIVATE;
			known_size = fill_identity(r, deleted ? NULL : e->path);
			if (known_size)
				save_end = file_end(r, e);
		} else {
			r->kind = e->prot ? CREST_REG_ANON : CREST_REG_GUARD;
		}
		size_t first_run = s->nruns;
		switch (r->kind) {
		case CREST_REG_FILE_SHARED:
			break;
		case CREST_REG_FILE_PRIVATE:
			/* every page up to the end of the file when its size is known
			 * (never touched pages come from the file: the restart must not
			 * need it); else only the pages present, which cannot fault */
			if (known_size && (e->prot & PROT_READ))
				rc = save_end > e->start ? add_run(s, nreg, e->start, save_end - e->start) : 0;
			else
				rc = runs_pagemap(s, nreg, e->start, save_end);
			break;
		case CREST_REG_SHARED_ANON:
			if (whole_file)
				rc = save_end > e->start ? add_run(s, nreg, e->start, save_end - e->start) : 0;
			else
				rc = runs_mincore(s, nreg, e->start, save_end);
			break;
		default:
			rc = runs_pagemap(s, nreg, e->start, e->end);
		}
		if (rc) {
			snprintf(err, errlen, "cannot list the pages of %lx-%lx %s: %s", (unsigned long)e->start,
				 (unsigned long)e->end, e->path, strerrordesc_np(-rc));
			return rc;
		}
		/* memory this thread changes while writing: its stack, libcrest's data */
		uint64_t here = (uint64_t)__builtin_frame_address(0);
		const uint64_t hot[] = { here, (uint64_t)&crest, (uint64_t)&writer, (uint64_t)&pagemap_fd,
					 (uint64_t)crest_pipe_data, (uint64_t)&errno };
		bool changes = !(e->prot & PROT_READ);	/* copied with PROT_READ added, see below */
		for (size_t k = 0; k < sizeof(hot) / sizeof(hot[0]); k++)
			changes |= hot[k] >= e->start && hot[k] < e->end;
		for (size_t k = first_run; k < s->nruns; k++) {
			r->saved_bytes += s->runs[k].len;
			s->runs[k].changes = changes;
		}
		if (r->kind == CREST_REG_GUARD && r->saved_bytes)
			r->kind = CREST_REG_ANON;
		nreg++;
	}
	proc->nregions = nreg;
	return 0;
}

static void fill_mm(struct crest_img_process *p)
{
	char buf[2048];
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	char *s = strrchr(buf, ')');
	if (!s)
		return;
	uint64_t f[64] = { 0 };
	s += 2;	/* field 3 */
	for (int i = 3; i < 60 && *s; i++) {
		char *end;
		f[i] = strtoull(s, &end, 10);
		if (end == s) {	/* the state letter */
			while (*s && *s != ' ')
				s++;
		} else {
			s = end;
		}
		while (*s == ' ')
			s++;
	}
	p->ppid = (uint32_t)f[4];
	p->start_code = f[26];
	p->end_code = f[27];
	p->start_stack = f[28];
	p->start_data = f[45];
	p->end_data = f[46];
	p->start_brk = f[47];
	p->arg_start = f[48];
	p->arg_end = f[49];
	p->env_start = f[50];
	p->env_end = f[51];
}

static void fill_process(struct crest_img_process *p)
{
	memset(p, 0, sizeof(*p));
	p->pid = crest.pid;
	p->uid = getuid();
	p->gid = getgid();
	p->umask = crest.umask;
	fill_mm(p);
	p->brk = crest.brk;
	p->restart_entry = (uint64_t)crest_restart_entry;
	p->restart_stack = ((uint64_t)crest_restart_stack + crest_restart_stack_size) & ~15ull;
	crest_cpu_features(&p->cpu);
	ssize_t l = readlink("/proc/self/exe", p->exe, sizeof(p->exe) - 1);
	if (l > 0)
		p->exe[l] = 0;
	snprintf(p->cwd, sizeof(p->cwd), "%s", crest.cwd);
	p->sig_suspend = crest.sig;
	crest_tree_fill(p);
}

/* Children at the checkpoint, zombies with their exit status. */
static struct crest_img_child img_kids[4096];

static int fill_children(struct crest_img_process *p, char *err, size_t errlen)
{
	static struct crest_child kids[4096];
	int n = crest_children(kids, sizeof(kids) / sizeof(kids[0]));
	if (n < 0) {
		snprintf(err, errlen, "more than %zu child processes", sizeof(kids) / sizeof(kids[0]));
		return n;
	}
	for (int i = 0; i < n; i++) {
		struct crest_img_child *c = &img_kids[i];
		memset(c, 0, sizeof(*c));
		c->pid = (uint32_t)crest_real_to_vpid(kids[i].pid);
		c->zombie = kids[i].zombie;
		c->code = kids[i].code;
		c->status = kids[i].status;
	}
	p->nchildren = (uint32_t)n;
	return 0;
}

static void progress_cb(void *arg, uint64_t bytes)
{
	(void)arg;
	crest_link_progress(bytes);
}

static int write_sections(struct scratch *s, const char *image, unsigned compress, unsigned threads,
			  char *err, size_t errlen)
{
	struct crest_img_process *proc = s->proc;
	int rc = crest_iw_open(&writer, image, compress, threads, s->iw, s->iw_len);
	if (rc) {
		snprintf(err, errlen, "cannot create image %s: %s", image, strerrordesc_np(-rc));
		return rc;
	}
	writer.progress = progress_cb;
	uint32_t nthr = 0;
	for (uint32_t i = 0; i < crest.nthreads; i++) {
		struct crest_thread *t = &crest.threads[i];
		if (t->flags & CREST_THR_DEAD)
			continue;
		struct crest_img_thread *it = &s->threads[nthr++];
		memset(it, 0, sizeof(*it));
		it->tid = t->tid;
		it->flags = t->flags;
		it->fs_base = t->fs;
		it->sigmask = t->sigmask;
		it->sigpending = t->pending;
		memcpy(it->name, t->name, sizeof(it->name));
	}
	for (uint32_t i = 0; i < crest.nfds; i++)
		s->fds[i] = crest.fds[i].img;
	proc->nthreads = nthr;
	proc->nfds = crest.nfds;

	rc = crest_iw_section(&writer, CREST_SEC_PROCESS, 0, 1, proc, sizeof(*proc));
	if (!rc)
		rc = crest_iw_section(&writer, CREST_SEC_THREADS, 0, nthr, s->threads,
				      nthr * sizeof(struct crest_img_thread));
	if (!rc)
		rc = crest_iw_section(&writer, CREST_SEC_REGIONS, 0, proc->nregions, s->regions,
				      proc->nregions * sizeof(struct crest_img_region));
	if (!rc)
		rc = crest_iw_section(&writer, CREST_SEC_FDS, 0, crest.nfds, s->fds,
				      crest.nfds * sizeof(struct crest_img_fd));
	if (!rc && proc->nchildren)
		rc = crest_iw_section(&writer, CREST_SEC_CHILDREN, 0, proc->nchildren, img_kids,
				      proc->nchildren * sizeof(struct crest_img_child));
	uint32_t nsocks;
	const struct crest_img_socket *socks = crest_sock_records(&nsocks);
	if (!rc && nsocks)
		rc = crest_iw_section(&writer, CREST_SEC_SOCKETS, 0, nsocks, socks,
				      nsocks * sizeof(struct crest_img_socket));
	for (uint32_t i = 0; !rc && i < crest.nfds; i++) {
		if (!crest.fds[i].img.content_saved)
			continue;
		uint32_t plen;
		const unsigned char *pdata = crest_fds_pipe_data(i, &plen);
		if (pdata) {
			rc = crest_iw_section(&writer, CREST_SEC_FILEDATA, i, 0, pdata, plen);
			continue;
		}
		if ((pdata = crest_pty_data(i, &plen))) {
			rc = crest_iw_section(&writer, CREST_SEC_FILEDATA, i, 0, pdata, plen);
			continue;
		}
		if (crest.fds[i].img.kind == CREST_FD_SOCKET) {	/* the fd's, then its pending connections' */
			for (uint32_t nth = 0; !rc && (pdata = crest_sock_data(i, nth, &plen)); nth++)
				rc = crest_iw_section(&writer, CREST_SEC_FILEDATA, i, 0, pdata, plen);
			continue;
		}
		/* the application's fd if it can read (pread: its offset stays);
		 * else a reading fd of its own, whose close() drops every POSIX
		 * lock this process holds on the file: they are taken again */
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", crest.fds[i].img.fd);
		bool own = (crest.fds[i].img.flags & O_ACCMODE) == O_WRONLY;
		int rfd = own ? open(path, O_RDONLY | O_CLOEXEC) : crest.fds[i].img.fd;
		if (rfd < 0) {
			rc = -errno;
			snprintf(err, errlen, "cannot read %s (fd %d) to save it: %s", crest.fds[i].img.path,
				 crest.fds[i].img.fd, strerrordesc_np(errno));
			crest_iw_abort(&writer);
			return rc;
		}
		rc = crest_iw_section_fd(&writer, CREST_SEC_FILEDATA, i, rfd, crest.fds[i].img.size);
		if (own) {
			close(rfd);
			crest_locks_keep(i);
		}
	}
	for (size_t i = 0; !rc && i < s->nruns; i++) {
		struct run *r = &s->runs[i];
		if (r->snap)
			rc = crest_iw_memory_from(&writer, r->region, r->addr, r->snap, r->len);
		else
			rc = crest_iw_memory(&writer, r->region, r->addr, r->len);
	}
	if (rc) {
		snprintf(err, errlen, "writing image %s: %s", image, strerrordesc_np(-rc));
		crest_iw_abort(&writer);
	}
	return rc;
}

/* Refuses before writing anything when the image cannot fit (uncompressed
 * size: compression may save space, but nothing is promised). */
static int check_space(const struct scratch *s, const char *image, char *err, size_t errlen)
{
	struct statvfs vfs;
	char dir[4096];
	uint64_t need = 64 * 4096ull * (s->proc->nregions / 64 + 4);
	for (size_t i = 0; i < s->nruns; i++)
		need += s->runs[i].len + 4096 * (s->runs[i].len / CREST_CHUNK_MAX + 1);
	for (uint32_t i = 0; i < crest.nfds; i++)
		if (crest.fds[i].img.content_saved)
			need += crest.fds[i].img.size + 8192;
	snprintf(dir, sizeof(dir), "%s", image);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	if (statvfs(dir, &vfs) < 0)
		return 0;	/* the write itself will tell */
	uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	if (avail < need) {
		snprintf(err, errlen, "not enough space for the image in %s: %lu MiB needed, %lu MiB free; "
			 "free some space or checkpoint to another --dir", dir, (unsigned long)(need >> 20),
			 (unsigned long)(avail >> 20));
		return -ENOSPC;
	}
	return 0;
}

static void fill_header(struct crest_img_header *h, uint64_t generation)
{
	struct utsname u;
	struct timespec ts;
	memset(h, 0, sizeof(*h));
	if (uname(&u) == 0)
		snprintf(h->kernel_release, sizeof(h->kernel_release), "%s", u.release);
	snprintf(h->glibc_version, sizeof(h->glibc_version), "%s", gnu_get_libc_version());
	clock_gettime(CLOCK_REALTIME, &ts);
	h->created_ns = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
	h->pid = crest.pid;
	h->nthreads = crest.nthreads;
	h->generation = generation;
}

/*
 * Threads are stopped.  Returns 0 after writing the image, 1 when the
 * process has just been restored from it (this is where the checkpoint
 * thread resumes), or -errno.
 */
int crest_checkpoint_write(const char *image, uint64_t generation, unsigned compress, unsigned threads,
			   uint64_t *bytes, uint64_t *memory_bytes, uint32_t *hdr_crc, char *err,
			   size_t errlen)
{
	struct scratch s;
	struct crest_img_header h;
	int rc;

	if (crest.nthreads >= CREST_MAX_THREADS) {
		snprintf(err, errlen, "too many threads");
		return -E2BIG;
	}
	rc = scratch_alloc(&s, compress, threads);
	if (rc) {
		snprintf(err, errlen, "cannot allocate checkpoint buffers: %s", strerrordesc_np(-rc));
		return rc;
	}
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pagemap_fd >= 0)
		pagemap_fd = crest_fd_protect(pagemap_fd);	/* not an fd of the application */
	if (pagemap_fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open /proc/self/pagemap: %s", strerrordesc_np(errno));
		goto out_scratch;
	}
	rc = crest_state_save(err, errlen);
	if (rc)
		goto out_pagemap;
	rc = crest_fds_save(err, errlen);
	if (rc)
		goto out_pagemap;
	fill_process(s.proc);
	rc = fill_children(s.proc, err, errlen);
	if (rc)
		goto out_pagemap;
	/* the checkpoint thread's own slot: touched before memory is listed, so
	 * its page is saved (it holds the resume point) */
	struct crest_thread *self = &crest.threads[crest.nthreads];
	memset(self, 0, sizeof(*self));
	self->tid = crest.ckpt_tid;
	self->flags = CREST_THR_CKPT;
	self->fs = raw_get_fs();
	self->sc_nr = -1;
	snprintf(self->name, sizeof(self->name), "crest-ckpt");
	rc = list_memory(&s, s.proc, err, errlen);
	if (rc)
		goto out_refill;
	node_files_not_twice(&s);

	rc = check_space(&s, image, err, errlen);
	if (rc)
		goto out_refill;

	/* the checkpoint thread itself: resumes right here after a restart */
	crest.nthreads++;
	if (crest_ctx_save(&self->ctx) != 0)
		return 1;	/* restored: nothing here is valid but crest's memory */
	/* from here on this thread changes memory it is saving: copy that first */
	size_t used = 0;
	for (size_t i = 0; i < s.nruns; i++) {
		struct run *r = &s.runs[i];
		if (!r->changes)
			continue;
		if (used + r->len > s.snap_len) {
			snprintf(err, errlen, "crest's own memory is larger than %lu MiB", SNAP_MAX >> 20);
			rc = -E2BIG;
			crest.nthreads--;
			goto out_refill;
		}
		struct crest_img_region *reg = &s.regions[r->region];
		bool unreadable = !(reg->prot & PROT_READ);
		if (unreadable)
			mprotect((void *)reg->start, reg->end - reg->start, reg->prot | PROT_READ);
		memcpy(s.snap + used, (void *)r->addr, r->len);
		if (unreadable)
			mprotect((void *)reg->start, reg->end - reg->start, reg->prot);
		r->snap = s.snap + used;
		used += r->len;
	}

	rc = write_sections(&s, image, compress, threads, err, errlen);
	crest.nthreads--;
	if (rc)
		goto out_refill;
	fill_header(&h, generation);
	h.nthreads = s.proc->nthreads;
	rc = crest_iw_finish(&writer, &h);
	if (rc) {
		snprintf(err, errlen, "finishing image %s: %s", image, strerrordesc_np(-rc));
		crest_iw_abort(&writer);
		goto out_refill;
	}
	*bytes = h.file_size;
	*memory_bytes = h.memory_bytes;
	*hdr_crc = h.crc;
out_refill:
out_pagemap:
	crest_fd_unprotect(pagemap_fd);
	close(pagemap_fd);
	pagemap_fd = -1;
out_scratch:
	munmap(s.base, s.len);
	return rc;
}
