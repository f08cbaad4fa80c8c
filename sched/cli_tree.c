/* SPDX-License-Identifier: MIT */
/*
 * crest restart of a process tree: reads every image of the generation,
 * recreates what the processes share (pipes, with their data in flight),
 * then forks the tree the way it was — each process is forked by the
 * process that becomes its parent, joins its session and process group —
 * and each one execs crest-restart on its own image with its pipes already
 * at their fd numbers.  The process running `crest restart` becomes the
 * root (the process `crest launch` started): same pid, stdio, exit status.
 *
 * New pids go into a shared table (a memfd, include/crest/restart.h) as
 * the tree is forked; the restored libcrest waits for it to be complete and
 * translates pids with it (preload/vpid_load.c).
 *
 * Policy for pipes (docs/architecture.md):
 *   - both ends in the computation: recreated, data in flight put back;
 *   - only reading ends (the writer exited, or is outside): recreated with
 *     the data, write end closed, so the reader sees the data then EOF —
 *     except when every reader is an fd 0-2 (e.g. `echo x | crest launch`):
 *     then those are the restarting shell's, like other stdio;
 *   - only writing ends: fds 0-2 are the restarting shell's, others are
 *     /dev/null (a warning says so).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "cli_tree.h"
#include "cli_tree_int.h"
#include "crest/restart.h"
#include "image_read.h"
#include "node_folders.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif


int tree_find_proc(const struct tree *t, uint32_t vpid)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->p[i].proc.pid == vpid)
			return (int)i;
	return -1;
}

/* where a node-local path goes: under the TMPDIR of this restart when its
 * first tl bytes were the program's TMPDIR (which libcrest maps to this
 * one) */
static const char *tmpdir_moved(const char *path, size_t tl, char *buf, size_t size)
{
	static char now[PATH_MAX];
	static bool known;
	if (!known) {
		const char *env = getenv("TMPDIR");
		if (!env || !realpath(env, now) || !strcmp(now, "/"))
			now[0] = 0;
		known = true;
	}
	if (!tl || tl >= strlen(path) || !now[0] || snprintf(buf, size, "%s%s", now, path + tl) >= (int)size)
		snprintf(buf, size, "%s", path);
	return buf;
}

/*
 * The FIFO of pipe record f, where the program will open it by name after
 * the restart (under this restart's TMPDIR when it was under the
 * program's).  One of this node made again where it is not (another node,
 * or removed), with its folders (node_folders.h), so that every process
 * holding an end gets that FIFO, and one that opens it by name later
 * meets them.  NULL (an anonymous pipe between them, as for a FIFO
 * removed from a shared place) if it cannot be.
 */
static char *fifo_place(const struct crest_img_fd *f)
{
	char path[PATH_MAX], why[160];
	struct stat st;
	tmpdir_moved(f->path, f->pos & CREST_FD_FIFO_NODE_LOCAL ? CREST_FD_FIFO_TMPDIR_LEN(f) : 0, path,
		     sizeof(path));
	if (!stat(path, &st))
		return S_ISFIFO(st.st_mode) ? strdup(path) : NULL;
	if (errno != ENOENT || !(f->pos & CREST_FD_FIFO_NODE_LOCAL))
		return NULL;
	const char *name;
	int dfd = crest_node_parent_open(path, &name, why, sizeof(why));
	if (dfd >= 0 && mkfifoat(dfd, name, f->mode & 0777) < 0 && errno != EEXIST)
		snprintf(why, sizeof(why), "%s", strerror(errno));
	else if (dfd >= 0 && (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISFIFO(st.st_mode) ||
			      st.st_uid != geteuid()))
		snprintf(why, sizeof(why), "something else is there");
	else if (dfd >= 0) {
		close(dfd);
		return strdup(path);
	}
	if (dfd >= 0)
		close(dfd);
	fprintf(stderr, "crest: restart: cannot make the FIFO %s again on this node (%s): the processes that held it "
		"keep a pipe between them, one that opens it by name does not meet them\n", path, why);
	return NULL;
}

static struct tpipe *find_pipe(struct tree *t, uint64_t ino, bool add)
{
	for (size_t i = 0; i < t->npipes; i++)
		if (t->pipes[i].ino == ino)
			return &t->pipes[i];
	if (!add)
		return NULL;
	struct tpipe *np = realloc(t->pipes, (t->npipes + 1) * sizeof(*np));
	if (!np)
		return NULL;
	t->pipes = np;
	struct tpipe *p = &t->pipes[t->npipes++];
	memset(p, 0, sizeof(*p));
	p->ino = ino;
	p->fd[0] = p->fd[1] = p->fifo_fd = -1;
	return p;
}

static struct tshm *find_shm(struct tree *t, const struct crest_img_region *r, bool add)
{
	for (size_t i = 0; i < t->nshm; i++)
		if (t->shm[i].ino == r->ino && !strncmp(t->shm[i].path, r->path, sizeof(t->shm[i].path)))
			return &t->shm[i];
	if (!add)
		return NULL;
	struct tshm *n = realloc(t->shm, (t->nshm + 1) * sizeof(*n));
	if (!n)
		return NULL;
	t->shm = n;
	struct tshm *o = &t->shm[t->nshm++];
	memset(o, 0, sizeof(*o));
	o->ino = r->ino;
	memcpy(o->path, r->path, sizeof(o->path));
	o->fd = -1;
	o->sysv_id = -1;
	return o;
}

/* [lo, hi) of node-local file o lies in what the processes that map it
 * writable (saved) mapped */
static bool node_file_saved(const struct tree *t, const struct tshm *o, uint64_t lo, uint64_t hi)
{
	for (bool moved = true; lo < hi && moved;) {
		moved = false;
		for (size_t i = 0; i < t->n; i++)
			for (size_t k = 0; k < t->p[i].nregions; k++) {
				const struct crest_img_region *q = &t->p[i].regions[k];
				uint64_t end = q->offset + (q->end - q->start);
				if (q->kind == CREST_REG_SHARED_ANON && (q->flags & CREST_REGF_NODE_FILE) &&
				    (q->prot & PROT_WRITE) && q->ino == o->ino &&
				    !strncmp(q->path, o->path, sizeof(o->path)) && q->offset <= lo && lo < end) {
					lo = end;
					moved = true;
				}
			}
	}
	return lo >= hi;
}

static void *read_array(struct crest_ir *r, const struct crest_sec_hdr *sh, uint64_t off, size_t rec,
			size_t *n, char *err, size_t errlen)
{
	void *buf = calloc(1, sh->raw_length ? sh->raw_length : 1);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (crest_ir_read_payload(r, sh, off, buf, sh->raw_length, err, errlen)) {
		free(buf);
		return NULL;
	}
	*n = sh->raw_length / rec;
	return buf;
}

static int load_image(struct tree *t, struct tproc *tp, char *err, size_t errlen)
{
	struct crest_ir r;
	struct crest_sec_hdr sh;
	uint64_t off;
	int rc;
	bool have_proc = false;

	rc = crest_ir_open(&r, tp->image, err, errlen);
	if (rc)
		return rc;
	while ((rc = crest_ir_next(&r, &sh, &off, err, errlen)) == 1) {
		rc = 0;
		switch (sh.type) {
		case CREST_SEC_PROCESS:
			rc = crest_ir_read_payload(&r, &sh, off, &tp->proc, sizeof(tp->proc), err, errlen);
			have_proc = !rc;
			break;
		case CREST_SEC_FDS:
			tp->fds = read_array(&r, &sh, off, sizeof(*tp->fds), &tp->nfds, err, errlen);
			rc = tp->fds ? 0 : -EBADMSG;
			break;
		case CREST_SEC_REGIONS:
			tp->regions = read_array(&r, &sh, off, sizeof(*tp->regions), &tp->nregions, err, errlen);
			rc = tp->regions ? 0 : -EBADMSG;
			break;
		case CREST_SEC_CHILDREN:
			tp->kids = read_array(&r, &sh, off, sizeof(*tp->kids), &tp->nkids, err, errlen);
			rc = tp->kids ? 0 : -EBADMSG;
			break;
		case CREST_SEC_SOCKETS:
			tp->socks = read_array(&r, &sh, off, sizeof(*tp->socks), &tp->nsocks, err, errlen);
			rc = tp->socks ? 0 : -EBADMSG;
			if (!rc && !(tp->sockdata = calloc(tp->nsocks + 1, sizeof(*tp->sockdata))))
				rc = -ENOMEM;
			break;
		case CREST_SEC_FILEDATA: {
			if (tp->fds && sh.index < tp->nfds && tp->fds[sh.index].kind == CREST_FD_SOCKET) {
				for (size_t k = 0; k < tp->nsocks; k++) {	/* the next record of the fd with data */
					if (tp->socks[k].fd_index != sh.index || !tp->socks[k].queued || tp->sockdata[k])
						continue;
					size_t n;
					tp->sockdata[k] = read_array(&r, &sh, off, 1, &n, err, errlen);
					if (!tp->sockdata[k] || n < tp->socks[k].queued)
						rc = -EBADMSG;
					break;
				}
				break;
			}
			if (tp->fds && sh.index < tp->nfds && tp->fds[sh.index].kind == CREST_FD_PTY_MASTER) {
				size_t n;
				unsigned char *d = read_array(&r, &sh, off, 1, &n, err, errlen);
				rc = d ? tree_pty_saved(t, &tp->fds[sh.index], d, n) : -EBADMSG;
				if (rc == -EBADMSG)
					snprintf(err, errlen, "image %s: the saved state of pty %lu is damaged", tp->image,
						 (unsigned long)tp->fds[sh.index].pos);
				break;
			}
			if (!tp->fds || sh.index >= tp->nfds || tp->fds[sh.index].kind != CREST_FD_PIPE)
				break;
			struct tpipe *p = find_pipe(t, tp->fds[sh.index].ino, true);
			if (!p) {
				rc = -ENOMEM;
				break;
			}
			if (p->have_data)
				break;	/* every process holding the pipe saved the same bytes */
			size_t n;
			p->data = read_array(&r, &sh, off, 1, &n, err, errlen);
			if (!p->data) {
				rc = -EBADMSG;
				break;
			}
			p->len = n;
			p->have_data = true;
			break;
		}
		default:
			break;
		}
		if (rc)
			break;
	}
	crest_ir_close(&r);
	if (rc < 0)
		return rc;
	if (!have_proc) {
		snprintf(err, errlen, "image %s has no PROCESS section", tp->image);
		return -EBADMSG;
	}
	if (!tp->proc.pid)	/* an image from before process trees */
		tp->proc.pid = tp->proc.real_pid;
	return 0;
}

static int plan(struct tree *t, char *err, size_t errlen)
{
	/* the root: the process crest launch started; else the one whose parent
	 * is outside, lowest pid first */
	t->root = -1;
	for (size_t i = 0; i < t->n; i++)
		if (t->p[i].proc.root_pid && t->p[i].proc.pid == t->p[i].proc.root_pid)
			t->root = (int)i;
	for (size_t i = 0; i < t->n && t->root < 0; i++)
		if (tree_find_proc(t, t->p[i].proc.ppid) < 0 &&
		    (t->root < 0 || t->p[i].proc.pid < t->p[t->root].proc.pid))
			t->root = (int)i;
	if (t->root < 0)
		t->root = 0;
	int slot = 0;
	for (size_t i = 0; i < t->n; i++) {
		struct tproc *tp = &t->p[i];
		for (size_t j = 0; j < i; j++)
			if (t->p[j].proc.pid == tp->proc.pid) {
				snprintf(err, errlen, "images %s and %s both are process %u", t->p[j].image,
					 tp->image, tp->proc.pid);
				return -EBADMSG;
			}
		tp->slot = slot++;
		tp->parent = (int)i == t->root ? -1 : tree_find_proc(t, tp->proc.ppid);
		if ((int)i != t->root && tp->parent < 0) {
			tp->parent = t->root;	/* an orphan: its parent had exited */
			tp->orphan = true;
		}
	}
	for (size_t i = 0; i < t->n; i++) {
		struct tproc *tp = &t->p[i];
		for (size_t k = 0; k < tp->nkids; k++) {
			struct crest_img_child *c = &tp->kids[k];
			if (!c->zombie) {
				if (tree_find_proc(t, c->pid) < 0) {
					snprintf(err, errlen,
						 "process %u (%s) had a child %u, which has no image in this generation: the checkpoint is incomplete",
						 tp->proc.pid, tp->image, c->pid);
					return -ENOENT;
				}
				continue;
			}
			struct tzombie *nz = realloc(t->z, (t->nz + 1) * sizeof(*nz));
			if (!nz)
				return -ENOMEM;
			t->z = nz;
			t->z[t->nz++] = (struct tzombie){ (int)i, *c, slot++ };
		}
	}
	if (tree_groups_plan(t, &slot) || tree_files_plan(t) || tree_pty_plan(t))
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		struct tproc *tp = &t->p[i];
		for (size_t k = 0; k < tp->nregions; k++) {
			struct crest_img_region *r = &tp->regions[k];
			if (r->kind != CREST_REG_SHARED_ANON)
				continue;
			struct tshm *o = find_shm(t, r, true);
			if (!o)
				return -ENOMEM;
			if (r->offset + (r->end - r->start) > o->size)
				o->size = r->offset + (r->end - r->start);
			if (r->flags & CREST_REGF_NODE_FILE) {
				o->file = true;
				if (r->file_size > o->file_size)
					o->file_size = r->file_size;
				if (r->mtime_ns > o->mtime_ns)
					o->mtime_ns = r->mtime_ns;
				if (CREST_REGF_TMPDIR_LEN(r->flags))
					o->tmpdir_len = CREST_REGF_TMPDIR_LEN(r->flags);
			}
			if (tree_shm_is_sysv(o) && r->file_size > o->segsz)
				o->segsz = r->file_size;	/* version 4 on */
			if (tree_shm_is_sysv(o) && r->sysv_mode)
				o->mode = r->sysv_mode;
		}
	}
	/* a node-local file one process maps writable (saved, put back) and
	 * others read-only (PMIx's store: its server writes, the ranks read)
	 * is one object: the readers map the file put back, not a path that
	 * on another node is gone, or is the new file */
	for (size_t i = 0; i < t->n; i++) {
		struct tproc *tp = &t->p[i];
		for (size_t k = 0; k < tp->nregions; k++) {
			struct crest_img_region *r = &tp->regions[k];
			struct tshm *o = r->kind == CREST_REG_FILE_SHARED ? find_shm(t, r, false) : NULL;
			if (!o || !o->file || !node_file_saved(t, o, r->offset, r->offset + (r->end - r->start)))
				continue;	/* a part no writer mapped: mapped by path (refused if gone) */
			r->kind = CREST_REG_SHARED_ANON;	/* crest-restart maps it from the fd */
			r->flags |= CREST_REGF_NODE_FILE;
		}
	}
	for (size_t i = 0; i < t->n; i++) {
		struct tproc *tp = &t->p[i];
		for (size_t k = 0; k < tp->nfds; k++) {
			struct crest_img_fd *f = &tp->fds[k];
			if (f->kind != CREST_FD_PIPE)
				continue;
			struct tpipe *p = find_pipe(t, f->ino, true);
			if (!p)
				return -ENOMEM;
			if (f->size > p->size)
				p->size = f->size;
			if (strncmp(f->path, "pipe:[", 6) && !p->fifo && !p->fifo_tried) {
				p->fifo = fifo_place(f);	/* else (unlinked): an anonymous pipe */
				p->fifo_tried = true;
			}
			bool w = (f->flags & O_ACCMODE) == O_WRONLY;
			if (w) {
				p->writers++;
				p->writers_hi += f->fd > 2;
			} else {
				p->readers++;
				p->readers_hi += f->fd > 2;
			}
		}
	}
	return tree_sockets_plan(t, err, errlen);
}

/* Pipes recreated in this process, at fds >= fd_base. */
static int make_pipes(struct tree *t, char *err, size_t errlen)
{

	for (size_t i = 0; i < t->npipes; i++) {
		struct tpipe *p = &t->pipes[i];
		int fd[2];
		if (p->fifo) {
			/* reading and writing: opening it never blocks, and the data
			 * stays while the processes open their own ends */
			int ffd = open(p->fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC);
			if (ffd < 0) {
				snprintf(err, errlen, "cannot open FIFO %s: %s", p->fifo, strerror(errno));
				return -errno;
			}
			if (p->len && write(ffd, p->data, p->len) != (ssize_t)p->len) {
				snprintf(err, errlen, "cannot put the %zu bytes in flight back into FIFO %s",
					 p->len, p->fifo);
				close(ffd);
				return -EIO;
			}
			p->fifo_fd = fcntl(ffd, F_DUPFD_CLOEXEC, t->fd_base);
			close(ffd);
			continue;
		}
		if (!p->readers || (!p->writers && !p->readers_hi))
			continue;	/* no reader, or a pipe from outside to stdio: the shell's */
		if (pipe2(fd, O_CLOEXEC) < 0) {
			snprintf(err, errlen, "cannot create a pipe: %s", strerror(errno));
			return -errno;
		}
		if (p->size > 65536)
			fcntl(fd[1], F_SETPIPE_SZ, (int)p->size);
		if (p->len) {
			fcntl(fd[1], F_SETFL, O_NONBLOCK);
			ssize_t n = write(fd[1], p->data, p->len);
			if (n != (ssize_t)p->len) {
				snprintf(err, errlen, "cannot put the %zu bytes in flight back into pipe:[%" PRIu64 "] (%zd written)",
					 p->len, p->ino, n);
				close(fd[0]);
				close(fd[1]);
				return -EIO;
			}
			fcntl(fd[1], F_SETFL, 0);
		}
		for (int e = 0; e < 2; e++) {
			p->fd[e] = fcntl(fd[e], F_DUPFD_CLOEXEC, t->fd_base);
			close(fd[e]);
			if (p->fd[e] < 0) {
				snprintf(err, errlen, "cannot move a pipe above fd %d: %s", t->fd_base, strerror(errno));
				return -errno;
			}
		}
		if (!p->writers) {	/* the writer is gone: EOF after the data */
			close(p->fd[1]);
			p->fd[1] = -1;
		}
	}
	return 0;
}

/* Creates each shared object and writes into it what every process that
 * mapped it saved (the same pages, as far as they overlap). */
/* A node-local file mapped shared, at its path, to be filled as it was:
 * its folders made where this node has not got them (node_folders.h), and
 * only a file of the user: another user's file in /tmp must not get the
 * computation's memory.  The fd, or -1 with why. */
static int open_node_file(const char *path, char *why, size_t size)
{
	const char *name;
	struct stat st;
	int dfd = crest_node_parent_open(path, &name, why, size);
	if (dfd < 0)
		return -1;
	int fd = openat(dfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	close(dfd);
	if (fd < 0 || fstat(fd, &st) < 0)
		snprintf(why, size, "%s", strerror(errno));
	else if (st.st_uid != geteuid() || !S_ISREG(st.st_mode))
		snprintf(why, size, "it is %s of uid %u, not the user's file",
			 S_ISREG(st.st_mode) ? "a file" : "not a regular file", (unsigned)st.st_uid);
	else
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

/* where a node-local file goes */
static const char *moved_path(const struct tshm *o, char *buf, size_t size)
{
	return tmpdir_moved(o->path, o->tmpdir_len, buf, size);
}

/* ... unless another file, from another TMPDIR (a wrapper that set one
 * per rank), would go to the same place: then both stay where they were */
static const char *node_file_path(const struct tree *t, const struct tshm *o, char *buf, size_t size)
{
	char other[PATH_MAX];
	moved_path(o, buf, size);
	for (size_t i = 0; i < t->nshm; i++) {
		const struct tshm *q = &t->shm[i];
		if (q != o && q->file && strcmp(q->path, o->path) && !strcmp(moved_path(q, other, sizeof(other)), buf)) {
			snprintf(buf, size, "%s", o->path);
			break;
		}
	}
	return buf;
}

/* a node-local file on tmpfs, emptied first: a page not saved was a hole
 * (not swapped out: swap is rare on compute nodes), not what the killed
 * run wrote after the checkpoint */
static int node_file_size(int fd, const struct tshm *o)
{
	struct statfs sf;
	if (!fstatfs(fd, &sf) && sf.f_type == TMPFS_MAGIC && ftruncate(fd, 0) < 0)
		return -1;
	return ftruncate(fd, o->file_size > o->size ? o->file_size : o->size);
}

static int make_shm(struct tree *t, char *err, size_t errlen)
{
	for (size_t i = 0; i < t->nshm; i++) {
		struct tshm *o = &t->shm[i];
		if (tree_shm_is_sysv(o)) {
			int rc = tree_sysv_make(t, o, err, errlen);
			if (rc)
				return rc;
			continue;
		}
		char why[160] = "", path[PATH_MAX];
		int fd = o->file ? open_node_file(node_file_path(t, o, path, sizeof(path)), why, sizeof(why))
				 : memfd_create("crest-shm", 0);
		if (fd < 0 && o->file) {
			snprintf(err, errlen, "cannot put back %s, a node-local file the computation mapped shared: %s",
				 path, why);
			return -EPERM;
		}
		if (fd < 0 || (o->file ? node_file_size(fd, o) : ftruncate(fd, o->size)) < 0) {
			snprintf(err, errlen, "cannot create shared memory %s (%" PRIu64 " bytes): %s", o->path,
				 o->file && o->file_size > o->size ? o->file_size : o->size, strerror(errno));
			return -errno;
		}
		o->fd = fcntl(fd, F_DUPFD_CLOEXEC, t->fd_base);
		close(fd);
		if (o->fd < 0) {
			snprintf(err, errlen, "cannot move shared memory above fd %d: %s", t->fd_base, strerror(errno));
			return -errno;
		}
	}
	if (!t->nshm)
		return tree_sysv_done(t, err, errlen);	/* (an older table removed) */
	void *buf = malloc(CREST_CHUNK_MAX);
	if (!buf)
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < t->n && !rc; i++) {
		struct tproc *tp = &t->p[i];
		struct crest_ir r;
		struct crest_sec_hdr sh;
		uint64_t off;
		rc = crest_ir_open(&r, tp->image, err, errlen);
		if (rc)
			break;
		while ((rc = crest_ir_next(&r, &sh, &off, err, errlen)) == 1) {
			rc = 0;
			if (sh.type != CREST_SEC_MEMORY || sh.index >= tp->nregions ||
			    tp->regions[sh.index].kind != CREST_REG_SHARED_ANON)
				continue;
			struct crest_img_region *reg = &tp->regions[sh.index];
			struct tshm *o = find_shm(t, reg, false);
			if (!o || sh.raw_length > CREST_CHUNK_MAX)
				continue;
			rc = crest_ir_read_payload(&r, &sh, off, buf, CREST_CHUNK_MAX, err, errlen);
			if (rc)
				break;
			uint64_t at = reg->offset + (sh.addr - reg->start);
			if (o->map && at + sh.raw_length <= o->size) {
				memcpy((char *)o->map + at, buf, sh.raw_length);
				continue;
			}
			if (pwrite(o->fd, buf, sh.raw_length, at) != (ssize_t)sh.raw_length) {
				rc = -errno;
				snprintf(err, errlen, "cannot fill shared memory %s: %s", o->path, strerror(errno));
				break;
			}
		}
		crest_ir_close(&r);
	}
	free(buf);
	/* the modification time they had: a process holding the file open
	 * too finds it as it was (preload/fds.c leaves such a file alone) */
	for (size_t i = 0; i < t->nshm && rc >= 0; i++)
		if (t->shm[i].file && t->shm[i].mtime_ns) {
			struct timespec ts[2] = { { 0, UTIME_OMIT },
						  { (time_t)(t->shm[i].mtime_ns / 1000000000ull),
						    (long)(t->shm[i].mtime_ns % 1000000000ull) } };
			futimens(t->shm[i].fd, ts);
		}
	if (rc >= 0)
		rc = tree_sysv_done(t, err, errlen);
	return rc < 0 ? rc : 0;
}

static int make_table(struct tree *t, char *err, size_t errlen)
{
	size_t n = t->n + t->nz + t->ngroups;
	size_t len = sizeof(struct crest_vpids_hdr) + n * sizeof(struct crest_vpid_pair);
	int fd = memfd_create("crest-vpids", 0);
	if (fd < 0 || ftruncate(fd, len) < 0) {
		snprintf(err, errlen, "cannot create the pid table: %s", strerror(errno));
		return -errno;
	}
	t->vpid_fd = fcntl(fd, F_DUPFD, t->fd_base);
	close(fd);
	if (t->vpid_fd < 0) {
		snprintf(err, errlen, "cannot move the pid table above fd %d: %s", t->fd_base, strerror(errno));
		return -errno;
	}
	t->tab = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, t->vpid_fd, 0);
	if (t->tab == MAP_FAILED) {
		snprintf(err, errlen, "cannot map the pid table: %s", strerror(errno));
		return -errno;
	}
	t->tab->magic = CREST_VPIDS_MAGIC;
	t->tab->n = (uint32_t)n;
	return 0;
}

void tree_record(struct tree *t, int slot, uint32_t vpid, pid_t real)
{
	struct crest_vpid_pair *e = (struct crest_vpid_pair *)(t->tab + 1);
	e[slot].virt = (int32_t)vpid;
	e[slot].real = (int32_t)real;
	__atomic_add_fetch(&t->tab->filled, 1, __ATOMIC_RELEASE);
}

static pid_t real_of(const struct tree *t, uint32_t vpid)
{
	const struct crest_vpid_pair *e = (const struct crest_vpid_pair *)(t->tab + 1);
	uint32_t filled = __atomic_load_n(&t->tab->filled, __ATOMIC_ACQUIRE);
	(void)filled;
	for (uint32_t i = 0; i < t->tab->n; i++)
		if ((uint32_t)e[i].virt == vpid && e[i].real)
			return e[i].real;
	return 0;
}

/* The session and process group of process i, in the forked child. */
static void join_groups(struct tree *t, int i)
{
	const struct crest_img_process *p = &t->p[i].proc;
	if (i == t->root)
		return;	/* stays in the restarting shell's session and job */
	if (p->sid == p->pid) {
		setsid();
		tree_groups_hold(t, p->sid);	/* before any process of the session */
		return;
	}
	pid_t leader = p->pgid == p->pid ? 0 : real_of(t, p->pgid);
	if (p->pgid == p->pid || leader)
		setpgid(0, leader);	/* fails when the leader is elsewhere: stays in the parent's */
}

static void die_like(const struct crest_img_child *c)
{
	if (c->code == 2 /* CLD_KILLED */ || c->code == 3 /* CLD_DUMPED */) {
		signal(c->status, SIG_DFL);
		sigset_t s;
		sigemptyset(&s);
		sigaddset(&s, c->status);
		sigprocmask(SIG_UNBLOCK, &s, NULL);
		raise(c->status);
	}
	_exit(c->status);
}

static void become(struct tree *t, int i, char **args) __attribute__((noreturn));

static void build(struct tree *t, int i, char **args)
{
	/* children in pid order: a process group's leader comes first */
	for (;;) {
		int next = -1;
		uint32_t best = UINT32_MAX;
		for (size_t j = 0; j < t->n; j++)
			if (t->p[j].parent == i && !real_of(t, t->p[j].proc.pid) &&
			    t->p[j].proc.pid < best)
				next = (int)j, best = t->p[j].proc.pid;
		if (next < 0)
			break;
		/* an orphan is forked by a process that exits at once: it goes
		 * to init (or the nearest subreaper), as it had */
		pid_t mid = t->p[next].orphan ? fork() : 0;
		if (mid < 0) {
			fprintf(stderr, "crest: restart: cannot fork process %u: %s\n", best, strerror(errno));
			_exit(1);
		}
		if (mid > 0) {
			int st;
			if (waitpid(mid, &st, 0) != mid || !WIFEXITED(st) || WEXITSTATUS(st))
				_exit(1);	/* it said why */
			continue;
		}
		pid_t pid = fork();
		if (pid < 0) {
			fprintf(stderr, "crest: restart: cannot fork process %u: %s\n", best, strerror(errno));
			_exit(1);
		}
		if (pid == 0) {
			join_groups(t, next);
			build(t, next, args);
			become(t, next, args);
		}
		tree_record(t, t->p[next].slot, best, pid);
		const struct crest_img_process *cp = &t->p[next].proc;
		if (cp->sid != cp->pid && cp->pgid != cp->pid && real_of(t, cp->pgid))
			setpgid(pid, real_of(t, cp->pgid));	/* either side may win the race */
		if (t->p[next].orphan)
			_exit(0);	/* the process between */
	}
	for (size_t k = 0; k < t->nz; k++) {
		if (t->z[k].parent != i)
			continue;
		pid_t pid = fork();
		if (pid == 0)
			die_like(&t->z[k].c);
		if (pid > 0)
			tree_record(t, t->z[k].slot, t->z[k].c.pid, pid);
	}
}

static bool is_target(const struct tree *t, const struct tproc *tp, int fd)
{
	for (size_t k = 0; k < tp->nfds; k++)
		if (tp->fds[k].fd == fd && (tp->fds[k].kind == CREST_FD_PIPE || tp->fds[k].kind == CREST_FD_SOCKET ||
					    tree_pty_placed(t, &tp->fds[k])))
			return true;
	return false;
}

const struct crest_img_fd *tree_fd_rec(const struct tproc *tp, int fd)
{
	for (size_t k = 0; k < tp->nfds; k++)
		if (tp->fds[k].fd == fd)
			return &tp->fds[k];
	return NULL;
}

/* fds 0-2 of a process: the root's are the restarting shell's; another
 * process's fd that was the same file as one of the root's 0-2 becomes the
 * shell's matching fd; the others libcrest reopens from the image (a child
 * writing into its own file keeps writing into it).  Returns the mask of
 * fds libcrest must leave alone. */
int tree_root_stdio(const struct tree *t, const struct crest_img_fd *f)
{
	for (int r = 0; r <= 2; r++) {
		const struct crest_img_fd *rf = tree_fd_rec(&t->p[t->root], r);
		if (rf && rf->dev == f->dev && rf->ino == f->ino)
			return r;
	}
	return -1;
}

static unsigned stdio_fds(struct tree *t, int i)
{
	const struct tproc *tp = &t->p[i];
	unsigned inherit = 0;
	if (i == t->root)
		return 7;
	for (int n = 0; n <= 2; n++) {
		const struct crest_img_fd *f = tree_fd_rec(tp, n);
		if (!f) {
			close(n);	/* it had none */
			continue;
		}
		if (f->kind == CREST_FD_PIPE || tree_pty_placed(t, f))
			continue;	/* placed with the pipes and ptys */
		int m = tree_root_stdio(t, f);
		if (m >= 0 && t->shell_fd[m] >= 0)
			dup2(t->shell_fd[m], n);
		if (m >= 0 || f->kind == CREST_FD_STDIO)
			inherit |= 1u << n;
		else if (f->kind == CREST_FD_PTY_SLAVE)
			close(n);	/* not crest restart's: libcrest reopens the terminal */
	}
	return inherit;
}

static void become(struct tree *t, int i, char **args)
{
	struct tproc *tp = &t->p[i];
	unsigned inherit = stdio_fds(t, i);
	for (size_t k = 0; k < tp->nfds; k++) {
		struct crest_img_fd *f = &tp->fds[k];
		if (f->kind == CREST_FD_SOCKET) {
			int src = tree_socket_fd(t, i, k);
			if (src < 0 || dup2(src, f->fd) < 0)
				fprintf(stderr, "crest: restart: process %u: cannot put its socket at fd %d\n",
					tp->proc.pid, f->fd);
			continue;
		}
		if (tree_pty_placed(t, f)) {
			int src = tree_pty_fd(t, f);
			if (src < 0 || (src != f->fd && dup2(src, f->fd) < 0))
				fprintf(stderr, "crest: restart: process %u: cannot put its pseudo-terminal at fd %d: %s\n",
					tp->proc.pid, f->fd, strerror(errno));
			if (src >= 0 && src != f->fd)
				close(src);
			continue;
		}
		if (f->kind != CREST_FD_PIPE)
			continue;
		struct tpipe *p = find_pipe(t, f->ino, false);
		bool w = (f->flags & O_ACCMODE) == O_WRONLY;
		int src = p ? p->fd[w] : -1;
		if (p && p->fifo) {
			int ffd = open(p->fifo, (f->flags & O_ACCMODE) | O_NONBLOCK);
			if (ffd < 0 || (ffd != f->fd && dup2(ffd, f->fd) < 0))
				fprintf(stderr, "crest: restart: process %u: cannot open FIFO %s as fd %d: %s\n",
					tp->proc.pid, p->fifo, f->fd, strerror(errno));
			if (ffd >= 0 && ffd != f->fd)
				close(ffd);
			fcntl(f->fd, F_SETFL, f->flags & (O_NONBLOCK | O_APPEND));
			continue;
		}
		if (src < 0 && f->fd <= 2) {	/* to outside: the restarting shell's */
			if (i != t->root && t->shell_fd[f->fd] >= 0)
				dup2(t->shell_fd[f->fd], f->fd);
			continue;
		}
		if (src < 0) {
			fprintf(stderr, "crest: restart: process %u: fd %d was a pipe to a process outside the computation; it is /dev/null now\n",
				tp->proc.pid, f->fd);
			int nul = open("/dev/null", w ? O_WRONLY : O_RDONLY);
			if (nul >= 0 && nul != f->fd) {
				dup2(nul, f->fd);
				close(nul);
			}
			continue;
		}
		if (dup2(src, f->fd) < 0)
			fprintf(stderr, "crest: restart: process %u: cannot put its pipe at fd %d: %s\n",
				tp->proc.pid, f->fd, strerror(errno));
	}
	/* nothing else of ours goes into the restored process */
	int open_fds[4096];
	size_t nopen = 0;
	DIR *d = opendir("/proc/self/fd");
	for (struct dirent *e; d && (e = readdir(d)) && nopen < 4096;)
		if (e->d_name[0] >= '0' && e->d_name[0] <= '9')
			open_fds[nopen++] = atoi(e->d_name);
	if (d)
		closedir(d);
	static char shmarg[16384];
	size_t used = 0;
	shmarg[0] = 0;
	for (size_t k = 0; k < tp->nregions; k++) {
		struct tshm *o = tp->regions[k].kind == CREST_REG_SHARED_ANON ? find_shm(t, &tp->regions[k], false) : NULL;
		if (!o)
			continue;
		if (used + 64 >= sizeof(shmarg)) {
			fprintf(stderr, "crest: restart: process %u has too many shared memory regions (%zu)\n",
				tp->proc.pid, tp->nregions);
			_exit(127);
		}
		if (o->sysv_id >= 0) {	/* attached by id (cli_tree_sysv.c) */
			if (used)
				shmarg[used++] = ',';
			used += tree_sysv_arg(t, o, k, shmarg + used, sizeof(shmarg) - used);
			if (t->sysv_count_fd >= 0)
				fcntl(t->sysv_count_fd, F_SETFD, 0);
			continue;
		}
		used += snprintf(shmarg + used, sizeof(shmarg) - used, "%s%zu:%d", used ? "," : "", k, o->fd);
		fcntl(o->fd, F_SETFD, 0);	/* through exec into crest-restart */
	}
	for (size_t k = 0; k < nopen; k++) {
		bool keep = false;
		for (size_t j = 0; j < t->nshm && !keep; j++)
			keep = open_fds[k] == t->shm[j].fd;
		if (open_fds[k] > 2 && open_fds[k] != t->vpid_fd && open_fds[k] != t->sysv_count_fd &&
		    !is_target(t, tp, open_fds[k]) && !keep && !tree_files_keep(t, i, open_fds[k]))
			close(open_fds[k]);
	}
	static char links[2048];
	tree_files_arg(t, i, links, sizeof(links));
	char vfd[16], inh[16];
	snprintf(vfd, sizeof(vfd), "%d", t->vpid_fd);
	snprintf(inh, sizeof(inh), "%u", inherit);
	/* args: restart --image IMG ... --vpid-fd N --keep-fds, see cli_restart.c */
	for (int a = 0; args[a]; a++) {
		if (!strcmp(args[a], "@IMAGE@"))
			args[a] = tp->image;
		else if (!strcmp(args[a], "@VPIDFD@"))
			args[a] = vfd;
		else if (!strcmp(args[a], "@INHERIT@"))
			args[a] = inh;
		else if (!strcmp(args[a], "@SHM@"))
			args[a] = shmarg;
		else if (!strcmp(args[a], "@FDLINKS@"))
			args[a] = links;
	}
	execv(args[0], args);
	fprintf(stderr, "crest: restart: cannot run %s: %s\n", args[0], strerror(errno));
	_exit(127);
}

static void proc_free(struct tproc *tp)
{
	free(tp->fds);
	free(tp->kids);
	free(tp->regions);
	for (size_t k = 0; tp->sockdata && k < tp->nsocks; k++)
		free(tp->sockdata[k]);
	free(tp->sockdata);
	free(tp->socks);
	memset(tp, 0, sizeof(*tp));
}

void cli_tree_free(struct tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		proc_free(&t->p[i]);
	for (size_t i = 0; i < t->nsocks; i++)
		if (t->socks[i].fd >= 0)
			close(t->socks[i].fd);
	free(t->socks);
	for (size_t i = 0; i < t->nshm; i++)
		if (t->shm[i].fd >= 0)
			close(t->shm[i].fd);
	free(t->shm);
	for (size_t i = 0; i < t->npipes; i++) {
		free(t->pipes[i].data);
		free(t->pipes[i].fifo);
	}
	for (size_t i = 0; i < t->nlinks; i++)
		for (int e = 0; e < 2; e++)
			if (t->links[i].sock[e] >= 0)
				close(t->links[i].sock[e]);
	free(t->links);
	for (size_t i = 0; i < t->nptys; i++) {
		free(t->ptys[i].data);
		for (int e = 0; e < 2; e++) {
			int fd = e ? t->ptys[i].slave : t->ptys[i].master;
			if (fd >= 0)
				close(fd);
		}
	}
	free(t->ptys);
	free(t->p);
	free(t->z);
	free(t->groups);
	free(t->pipes);
	free(t);
}

struct tree *cli_tree_load(char **images, size_t n, uint32_t task, char *err, size_t errlen)
{
	struct tree *t = calloc(1, sizeof(*t));
	if (!t || !(t->p = calloc(n, sizeof(*t->p)))) {
		snprintf(err, errlen, "out of memory");
		free(t);
		return NULL;
	}
	t->vpid_fd = -1;
	t->sysv_count_fd = -1;
	for (size_t i = 0; i < n; i++) {
		struct tproc *tp = &t->p[t->n++];
		snprintf(tp->image, sizeof(tp->image), "%s", images[i]);
		if (load_image(t, tp, err, errlen))
			goto fail;
		if (task && tp->proc.task != task) {
			proc_free(tp);	/* another task's process */
			t->n--;
		}
	}
	if (!t->n) {
		snprintf(err, errlen, "has no image of task %u", task - 1);
		goto fail;
	}
	if (plan(t, err, errlen))
		goto fail;
	return t;
fail:
	cli_tree_free(t);
	return NULL;
}

void cli_tree_set_run(struct tree *t, const char *run, uint32_t task)
{
	t->run = run;
	t->task = task;
}

size_t cli_tree_size(const struct tree *t)
{
	return t->n;
}

int cli_tree_start(struct tree *t, char **args, char *err, size_t errlen)
{
	/* above every fd any process had */
	int top = 2;
	for (size_t i = 0; i < t->n; i++)
		for (size_t k = 0; k < t->p[i].nfds; k++)
			if (t->p[i].fds[k].fd > top)
				top = t->p[i].fds[k].fd;
	t->fd_base = top + 1 > 1000 ? top + 1 : 1000;
	struct rlimit rl;
	if (!getrlimit(RLIMIT_NOFILE, &rl) &&
	    rl.rlim_cur < (rlim_t)t->fd_base + 2 * t->npipes + t->ngroups + 2 * t->nlinks + 2 * t->nptys + 16) {
		rl.rlim_cur = rl.rlim_max;	/* libcrest restores the process's own limits */
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (int n = 0; n <= 2; n++)
		t->shell_fd[n] = fcntl(n, F_DUPFD_CLOEXEC, t->fd_base);
	int rc = make_pipes(t, err, errlen);
	if (!rc)
		rc = tree_pty_make(t, err, errlen);
	if (!rc)
		rc = tree_files_make(t, err, errlen);
	if (!rc)
		rc = tree_sockets_make(t, err, errlen);
	if (!rc)
		rc = make_shm(t, err, errlen);
	if (!rc)
		rc = make_table(t, err, errlen);
	if (rc) {
		tree_sysv_abort(t);	/* the segments made, not left behind */
		return rc;
	}
	tree_record(t, t->p[t->root].slot, t->p[t->root].proc.pid, getpid());
	/* an orphan's go-between is waited for (a shell that ignored SIGCHLD
	 * would have it reaped unseen); each process's own dispositions come
	 * back from its image */
	signal(SIGCHLD, SIG_DFL);
	fflush(NULL);
	tree_groups_hold(t, t->p[t->root].proc.sid);
	build(t, t->root, args);
	become(t, t->root, args);
}
