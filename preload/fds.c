/* SPDX-License-Identifier: MIT */
/*
 * File descriptors: classified at PREPARE (unsupported kinds fail the
 * checkpoint before anything is stopped), recorded while threads are
 * stopped, restored by the checkpoint thread of a restarted process.
 *
 * Policy (docs/architecture.md): fds 0-2 are always taken from the process
 * that runs `crest restart`; regular files are reopened by path at the saved
 * offset; files deleted while open have their content saved; pipes are
 * recorded with their inode (which identifies them across the processes of
 * the computation) and a copy of the data in flight (tee(2): nothing is
 * consumed, so nothing has to be put back); `crest restart` recreates them
 * and puts them in place before libcrest runs again.  eventfd, timerfd,
 * signalfd and epoll fds are fds_event.c's.  Anything else makes the
 * checkpoint fail naming the fd.
 */
#define LOG_MODULE "fds"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "crest.h"
#include "fd_own.h"
#include "crest/crc32c.h"
#include "dirents.h"
#include "log.h"
#include "node_folders.h"
#include "path_map.h"
#include "vpid.h"

unsigned char crest_pipe_data[CREST_PIPE_BUF_MAX];
static uint64_t own_fds[65536 / 64];	/* crest's own fds: never saved */
/* what crest's fds CREST_FD_BASE.. are (crest_fd_unprotect_lost) */
#define OWN_IDENT_MAX 256
static struct {
	uint64_t dev, ino;
} own_ident[OWN_IDENT_MAX];

/* application threads (created_record.c) and the checkpoint thread mark
 * and unmark at once: atomic */
static void own_set(int fd, bool on)
{
	if (fd < 0 || fd >= (int)(sizeof(own_fds) * 8))
		return;
	uint64_t bit = 1ull << (fd % 64);
	if (on)
		__atomic_fetch_or(&own_fds[fd / 64], bit, __ATOMIC_RELAXED);
	else
		__atomic_fetch_and(&own_fds[fd / 64], ~bit, __ATOMIC_RELAXED);
}

int crest_fd_protect(int fd)
{
	struct stat own;
	bool known = false;
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, CREST_FD_BASE);
	if (nfd >= 0) {
		known = crest_fd_mark(nfd, &own);
		if (known)
			crest_fd_close_own(fd, &own);	/* unless the application dup2()ed onto it */
		else
			close(fd);
		fd = nfd;
	}	/* else (RLIMIT_NOFILE <= 900) it stays where it is, still ours */
	if (fd >= CREST_FD_BASE && fd - CREST_FD_BASE < OWN_IDENT_MAX) {
		own_ident[fd - CREST_FD_BASE].dev = known ? own.st_dev : 0;
		own_ident[fd - CREST_FD_BASE].ino = known ? own.st_ino : 0;
	}
	own_set(fd, true);
	return fd;
}

bool crest_fd_is_own(int fd)
{
	return fd >= 0 && fd < (int)(sizeof(own_fds) * 8) &&
	       (__atomic_load_n(&own_fds[fd / 64], __ATOMIC_RELAXED) >> (fd % 64) & 1);
}

int crest_fd_next_own(unsigned int from)
{
	for (unsigned int w = from / 64; w < sizeof(own_fds) / sizeof(own_fds[0]); w++) {
		uint64_t bits = __atomic_load_n(&own_fds[w], __ATOMIC_RELAXED);
		if (w == from / 64)
			bits &= ~0ull << (from % 64);
		if (bits)
			return (int)(w * 64 + (unsigned int)__builtin_ctzll(bits));
	}
	return -1;
}

/* a restored process: the numbers crest had at the checkpoint name nothing
 * of this run (or the application's) */
void crest_fd_own_forget_all(void)
{
	memset(own_fds, 0, sizeof(own_fds));
}

void crest_fd_unprotect(int fd)
{
	own_set(fd, false);
}

void crest_fd_unprotect_lost(int fd, const struct stat *was)
{
	if (fd >= CREST_FD_BASE && fd - CREST_FD_BASE < OWN_IDENT_MAX &&
	    (own_ident[fd - CREST_FD_BASE].dev != (uint64_t)was->st_dev ||
	     own_ident[fd - CREST_FD_BASE].ino != (uint64_t)was->st_ino))
		return;	/* crest made another of its own there since */
	own_set(fd, false);
}

ssize_t crest_fdinfo_read(int fd, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	int f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return -errno;
	size_t got = 0;
	while (got < len - 1) {	/* /proc may hand it out a page at a time */
		ssize_t n = read(f, buf + got, len - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	close(f);
	buf[got] = 0;
	return (ssize_t)got;
}

/* offset and flags from fdinfo; the whole text (its lock lines are read
 * by fds_lock.c), valid until the next call, or NULL */
static const char *fdinfo(int fd, uint64_t *pos, uint32_t *flags)
{
	static char buf[65536];
	*pos = 0;
	*flags = 0;
	if (crest_fdinfo_read(fd, buf, sizeof(buf)) <= 0)
		return NULL;
	char *p = strstr(buf, "pos:");
	if (p)
		*pos = strtoull(p + 4, NULL, 10);
	p = strstr(buf, "flags:");
	if (p)
		*flags = (uint32_t)strtoul(p + 6, NULL, 8);
	return buf;
}

#define SMALL_FILE_MAX (4u << 20)

/* readlink's mark of a file or folder deleted while open */
static bool deleted_path(const char *path)
{
	size_t pl = strlen(path);
	return pl > 10 && !strcmp(path + pl - 10, " (deleted)");
}

static bool under(const char *path, const char *dir, size_t len)
{
	while (len > 1 && dir[len - 1] == '/')
		len--;
	return len > 1 && !strncmp(path, dir, len) && path[len] == '/';
}

/* Node-local places, whose files would be gone on another node: the
 * ':'-separated directories of CREST_NODE_LOCAL, by default /tmp, /dev/shm
 * and $TMPDIR. */
/* where the program's $TMPDIR is since a restart: the TMPDIR of `crest
 * restart`, where the path map leads the old one (the program's fds read
 * back in its old terms, its mappings in /proc show the new place) */
static const char *tmpdir_moved(void)
{
	return crest.restart_count && crest.rinfo.tmpdir[0] == '/' ? crest.rinfo.tmpdir : NULL;
}

/* the length of dir, without trailing slashes, when path is under it */
static size_t under_dir(const char *path, const char *dir)
{
	size_t len = dir ? strlen(dir) : 0;
	while (len > 1 && dir[len - 1] == '/')
		len--;
	return len > 1 && under(path, dir, len) ? len : 0;
}

bool crest_node_local(const char *path)
{
	const char *list = crest_getenv("CREST_NODE_LOCAL");
	if (!list)
		return under(path, "/tmp", 4) || under(path, "/dev/shm", 8) || crest_tmpdir_prefix(path);
	for (const char *p = list; *p;) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (under(path, p, len))
			return true;
		p += len + (end ? 1 : 0);
	}
	return false;
}

size_t crest_tmpdir_prefix(const char *path)
{
	size_t len = under_dir(path, crest_getenv("TMPDIR"));
	return len ? len : under_dir(path, tmpdir_moved());
}

static bool is_devnull_like(const char *path)
{
	static const char *const ok[] = { "/dev/null", "/dev/zero", "/dev/full", "/dev/random",
					  "/dev/urandom", NULL };
	for (int i = 0; ok[i]; i++)
		if (!strcmp(path, ok[i]))
			return true;
	return false;
}

static uint64_t mtime_ns(const struct stat *st)
{
	return (uint64_t)st->st_mtim.tv_sec * 1000000000ull + st->st_mtim.tv_nsec;
}

static int find_pipe(uint64_t ino)
{
	for (uint32_t i = 0; i < crest.npipes; i++)
		if (crest.pipes[i].ino == ino)
			return (int)i;
	if (crest.npipes >= sizeof(crest.pipes) / sizeof(crest.pipes[0]))
		return -1;
	struct crest_pipe *p = &crest.pipes[crest.npipes];
	memset(p, 0, sizeof(*p));
	p->ino = ino;
	p->rfd = p->wfd = -1;
	return (int)crest.npipes++;
}

/* kcmp(KCMP_FILE) of a and b (in processes pa, pb): 0 when one description;
 * a kernel or seccomp profile without kcmp is said once */
static long same_file(pid_t pa, pid_t pb, int a, int b)
{
	static bool said;
	long r = syscall(SYS_kcmp, pa, pb, KCMP_FILE, a, b);
	if (r < 0 && (errno == ENOSYS || errno == EPERM) && !said) {
		said = true;
		pr_warn("kcmp is not available here (%s): fds that share an open file description come back "
			"with one each", strerrordesc_np(errno));
	}
	return r;
}

/*
 * A file fd that shares its open file description with a lower fd of this
 * process (dup, a shell's 2>&1) is recorded as such (CREST_FD_SAME_AS), so
 * that the restart gives both one description again: one offset, not two
 * that would write over each other.  kcmp(KCMP_FILE) tells; without it
 * (a kernel without CONFIG_KCMP) each fd keeps its own, as before.
 */
static void mark_shared_descriptions(void)
{
	pid_t self = (pid_t)syscall(SYS_getpid);
	for (uint32_t j = 0; j < crest.nfds; j++) {
		struct crest_img_fd *b = &crest.fds[j].img;
		if (b->kind != CREST_FD_FILE && b->kind != CREST_FD_DELETED)
			continue;
		for (uint32_t i = 0; i < crest.nfds; i++) {
			const struct crest_img_fd *a = &crest.fds[i].img;
			if (a->fd >= b->fd || a->kind != b->kind || a->dev != b->dev || a->ino != b->ino ||
			    CREST_FD_SAME_AS(a) >= 0 || same_file(self, self, a->fd, b->fd) != 0)
				continue;
			b->fd_flags |= (uint32_t)(a->fd + 1) << CREST_FD_SAME_SHIFT;
			break;
		}
	}
}

/*
 * The same across processes: a file fd that shares its description with an
 * fd of the parent (inherited through fork: a file a shell opened for a
 * group of commands) is recorded with the parent's fd (CREST_FD_SAME_PARENT),
 * so that crest restart hands the parent's description to it again
 * (sched/cli_tree_files.c).  Every process of the computation is stopped:
 * the parent's fds stay as they are while they are compared.  Not for the
 * root, whose parent is outside the computation.
 */
static void mark_parent_descriptions(void)
{
	char path[64];
	pid_t self = (pid_t)syscall(SYS_getpid), parent = (pid_t)syscall(SYS_getppid);
	bool any = false;

	for (uint32_t j = 0; j < crest.nfds && !any; j++)
		any = crest.fds[j].img.kind == CREST_FD_FILE && CREST_FD_SAME_AS(&crest.fds[j].img) < 0;
	if (!any || parent <= 1 || crest_real_to_vpid(self) == crest.root_vpid)
		return;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)parent);
	struct crest_dirents d = { .fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) };
	if (d.fd < 0)
		return;
	for (long pfd; (pfd = crest_dirents_next(&d)) >= 0;) {
		struct stat st;
		if (fstatat(d.fd, d.name, &st, 0) < 0 || !S_ISREG(st.st_mode))
			continue;
		for (uint32_t j = 0; j < crest.nfds; j++) {
			struct crest_img_fd *b = &crest.fds[j].img;
			int had = CREST_FD_PARENT_FD(b);
			if (b->kind != CREST_FD_FILE || CREST_FD_SAME_AS(b) >= 0 || (had >= 0 && had < pfd) ||
			    b->dev != st.st_dev || b->ino != st.st_ino ||
			    same_file(self, parent, b->fd, pfd) != 0)
				continue;
			/* the parent's lowest such fd */
			b->fd_flags = (b->fd_flags & ((1u << CREST_FD_SAME_SHIFT) - 1)) | CREST_FD_SAME_PARENT |
				      (uint32_t)(pfd + 1) << CREST_FD_SAME_SHIFT;
		}
	}
	close(d.fd);
}

/* Lists and classifies every fd into crest.fds. */
static int scan_fds(char *err, size_t errlen)
{
	int rc = 0;
	int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct crest_dirents d = { .fd = dfd };
	if (dfd < 0) {
		snprintf(err, errlen, "cannot list /proc/self/fd: %s", strerrordesc_np(errno));
		return -errno;
	}
	crest.nfds = 0;
	crest.npipes = 0;
	crest_sock_reset();
	crest_locks_reset();
	for (long entry; (entry = crest_dirents_next(&d)) >= 0;) {
		int fd = (int)entry;
		if (fd == dfd || crest_fd_is_own(fd))
			continue;
		if (crest.nfds >= CREST_MAX_FDS) {
			snprintf(err, errlen, "more than %d open files", CREST_MAX_FDS);
			rc = -EMFILE;
			goto out;
		}
		struct crest_fd *f = &crest.fds[crest.nfds];
		struct crest_img_fd *r = &f->img;
		memset(f, 0, sizeof(*f));
		f->pipe = -1;
		r->fd = fd;
		char lpath[64];
		snprintf(lpath, sizeof(lpath), "/proc/self/fd/%d", fd);
		ssize_t l = readlink(lpath, r->path, sizeof(r->path) - 1);
		if (l < 0)
			continue;	/* closed meanwhile */
		r->path[l] = 0;
		struct stat st;
		if (fstat(fd, &st) < 0)
			continue;
		r->dev = st.st_dev;
		r->ino = st.st_ino;
		r->size = st.st_size;
		r->mode = st.st_mode;
		r->mtime_ns = mtime_ns(&st);
		const char *info = fdinfo(fd, &r->pos, &r->flags);
		int fdfl = fcntl(fd, F_GETFD);
		r->fd_flags = fdfl > 0 ? (uint32_t)fdfl : 0;
		bool deleted = deleted_path(r->path);
		if (S_ISFIFO(st.st_mode)) {	/* a pipe, or a FIFO (named: path kept) */
			int pi = find_pipe(st.st_ino);
			if (pi < 0) {
				snprintf(err, errlen, "more than %zu pipes",
					 sizeof(crest.pipes) / sizeof(crest.pipes[0]));
				rc = -EMFILE;
				goto out;
			}
			f->pipe = pi;
			if ((r->flags & O_ACCMODE) == O_WRONLY)
				crest.pipes[pi].wfd = fd;
			else
				crest.pipes[pi].rfd = fd;
			int psz = fcntl(fd, F_GETPIPE_SZ);
			r->size = psz > 0 ? (uint64_t)psz : 0;
			r->kind = CREST_FD_PIPE;
			/* a FIFO of this node: where crest restart makes it again
			 * on another node (a pipe has no position) */
			r->pos = 0;
			if (r->path[0] == '/' && !deleted && crest_node_local(r->path))
				r->pos = CREST_FD_FIFO_NODE_LOCAL | crest_tmpdir_prefix(r->path);
		} else if (S_ISREG(st.st_mode)) {
			r->kind = deleted || st.st_nlink == 0 ? CREST_FD_DELETED : CREST_FD_FILE;
			/* files whose content comes back with the image: small
			 * written ones, and every node-local one, read-only too
			 * (another process of the computation may delete it after
			 * the checkpoint: gcc's /tmp/cc*.s read by as) */
			if (r->kind == CREST_FD_DELETED || crest_node_local(r->path) ||
			    ((r->flags & O_ACCMODE) != O_RDONLY &&
			     (uint64_t)st.st_size <= SMALL_FILE_MAX))
				r->content_saved = 1;
			if (info)
				crest_locks_scan(crest.nfds, info);
		} else if (S_ISDIR(st.st_mode)) {
			r->kind = CREST_FD_DIR;
		} else if (S_ISCHR(st.st_mode) && is_devnull_like(r->path)) {
			r->kind = CREST_FD_DEVNULL;
		} else if (S_ISCHR(st.st_mode) && (r->kind = crest_pty_kind(fd, &st, &r->pos))) {
			/* a pseudo-terminal's master or slave: fds_pty.c */
		} else if (S_ISCHR(st.st_mode) && (major(st.st_rdev) == 136 || major(st.st_rdev) == 4 ||
						   major(st.st_rdev) == 5)) {
			r->kind = CREST_FD_TTY;
		} else if (S_ISSOCK(st.st_mode) && fd > 2) {
			r->kind = CREST_FD_SOCKET;
			rc = crest_sock_scan(fd, crest.nfds, err, errlen);
			if (rc)
				goto out;
		} else if ((r->kind = crest_fd_event_kind(r->path))) {
			/* eventfd, timerfd, signalfd, epoll: fds_event.c */
		} else if (fd <= 2) {
			/* the restarting shell's, like the root process's 0-2 */
			r->kind = CREST_FD_STDIO;
		} else {
			snprintf(err, errlen,
				 "fd %d is %s, which crest cannot checkpoint (docs/unsupported.md lists "
				 "what it cannot and why); close it before checkpoints, or leave that "
				 "program out of the computation",
				 fd, r->path);
			rc = -ENOTSUP;
			goto out;
		}
		crest.nfds++;
	}
out:
	close(dfd);
	return rc;
}

int crest_fds_prepare(char *err, size_t errlen)
{
	return scan_fds(err, errlen);
}

/* A copy of the bytes in flight in pipe p, without consuming them: every
 * process of the computation is stopped, so the content is stable and each
 * process holding an end copies the same bytes. */
static int copy_pipe(struct crest_pipe *p, char *err, size_t errlen)
{
	int src = p->rfd, own = -1, sp[2] = { -1, -1 }, avail = 0, rc = 0;
	if (src < 0) {	/* only the write end here: a reading fd of our own */
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", p->wfd);
		own = src = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (src < 0 && (errno == EACCES || errno == EPERM))
			return 0;	/* another user's pipe (its reader is not ours): nothing to copy */
		if (src < 0) {
			snprintf(err, errlen, "cannot open a reading end of pipe fd %d: %s", p->wfd,
				 strerrordesc_np(errno));
			return -errno;
		}
	}
	if (ioctl(src, FIONREAD, &avail) < 0 || avail <= 0)
		goto out;
	if (crest.pipe_data_len + (uint32_t)avail > CREST_PIPE_BUF_MAX) {
		snprintf(err, errlen, "more than %u bytes in flight in pipes", CREST_PIPE_BUF_MAX);
		rc = -ENOBUFS;
		goto out;
	}
	if (pipe2(sp, O_CLOEXEC | O_NONBLOCK) < 0 ||
	    (avail > 65536 && fcntl(sp[1], F_SETPIPE_SZ, avail) < 0)) {
		rc = -errno;
		snprintf(err, errlen, "cannot copy the %d bytes in flight in pipe:[%lu]: %s", avail,
			 (unsigned long)p->ino, strerrordesc_np(errno));
		goto out;
	}
	ssize_t n = tee(src, sp[1], avail, SPLICE_F_NONBLOCK);
	if (n != avail) {
		rc = n < 0 ? -errno : -EIO;
		snprintf(err, errlen, "copying the %d bytes in flight in pipe:[%lu] got %zd: %s", avail,
			 (unsigned long)p->ino, n, n < 0 ? strerrordesc_np(errno) : "short copy");
		goto out;
	}
	p->off = crest.pipe_data_len;
	for (int got = 0; got < avail;) {
		n = read(sp[0], crest_pipe_data + p->off + got, avail - got);
		if (n <= 0) {
			rc = -EIO;
			snprintf(err, errlen, "reading the copy of pipe:[%lu]", (unsigned long)p->ino);
			goto out;
		}
		got += n;
	}
	p->len = avail;
	crest.pipe_data_len += avail;
out:
	if (own >= 0)
		close(own);
	if (sp[0] >= 0) {
		close(sp[0]);
		close(sp[1]);
	}
	return rc;
}

/* Threads are stopped: record offsets, sync written files, copy pipes. */
int crest_fds_save(char *err, size_t errlen)
{
	int rc = scan_fds(err, errlen);
	if (rc)
		return rc;
	/* what the image records, not what PREPARE checks: only here */
	mark_shared_descriptions();
	mark_parent_descriptions();
	for (uint32_t i = 0; i < crest.nfds; i++) {
		struct crest_img_fd *r = &crest.fds[i].img;
		if ((r->kind == CREST_FD_FILE) && (r->flags & O_ACCMODE) != O_RDONLY)
			fdatasync(r->fd);
	}
	rc = crest_fds_event_save(err, errlen);
	if (rc)
		return rc;
	rc = crest_sock_save(err, errlen);
	if (rc)
		return rc;
	crest_pty_reset();
	for (uint32_t i = 0; i < crest.nfds; i++)
		if (crest.fds[i].img.kind == CREST_FD_PTY_MASTER && (rc = crest_pty_save(i, err, errlen)))
			return rc;
	crest.pipe_data_len = 0;
	for (uint32_t i = 0; i < crest.npipes; i++) {
		struct crest_pipe *p = &crest.pipes[i];
		p->len = 0;
		rc = copy_pipe(p, err, errlen);
		if (rc)
			return rc;
	}
	/* the data goes with the first record of each pipe */
	for (uint32_t i = 0; i < crest.nfds; i++) {
		struct crest_fd *f = &crest.fds[i];
		if (f->pipe < 0)
			continue;
		bool first = true;
		for (uint32_t j = 0; j < i && first; j++)
			first = crest.fds[j].pipe != f->pipe;
		f->img.content_saved = first && crest.pipes[f->pipe].len;
	}
	return 0;
}

/* The pipe data to save with fd record `index`, or NULL. */
const unsigned char *crest_fds_pipe_data(uint32_t index, uint32_t *len)
{
	const struct crest_fd *f = &crest.fds[index];
	if (f->pipe < 0 || !f->img.content_saved)
		return NULL;
	*len = crest.pipes[f->pipe].len;
	return crest_pipe_data + crest.pipes[f->pipe].off;
}

static void write_all(int fd, const unsigned char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			pr_perror("putting %lu bytes back into fd %d (they are lost)", (unsigned long)len, fd);
			return;
		}
		buf += n;
		len -= n;
	}
}

/* Finds the FILEDATA section of fd record `index` and copies it into fd `out`. */
static int copy_filedata(int image_fd, uint32_t index, int out)
{
	uint64_t off = CREST_IMG_ALIGN;
	struct crest_sec_hdr sh;
	static unsigned char buf[1 << 16];
	for (;;) {
		if (pread(image_fd, &sh, sizeof(sh), off) != sizeof(sh) || sh.magic != CREST_SEC_MAGIC)
			return -EBADMSG;
		if (sh.type == CREST_SEC_END)
			return -ENOENT;
		uint64_t payload = off + CREST_IMG_ALIGN;
		if (sh.type == CREST_SEC_FILEDATA && sh.index == index) {
			uint32_t crc = 0;
			for (uint64_t done = 0; done < sh.length;) {
				size_t want = sh.length - done < sizeof(buf) ? sh.length - done : sizeof(buf);
				ssize_t n = pread(image_fd, buf, want, payload + done);
				if (n <= 0)
					return -EIO;
				crc = crc32c(crc, buf, n);
				write_all(out, buf, n);
				done += n;
			}
			return crc == sh.payload_crc ? 0 : -EBADMSG;
		}
		off = payload + ((sh.length + CREST_IMG_ALIGN - 1) & ~(uint64_t)(CREST_IMG_ALIGN - 1));
	}
}

static int reopen_deleted(struct crest_img_fd *r, uint32_t index, int image_fd)
{
	char path[CREST_FD_PATH_MAX];
	snprintf(path, sizeof(path), "%s", r->path);
	if (deleted_path(path))
		path[strlen(path) - 10] = 0;
	int acc = r->flags & O_ACCMODE;
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	bool named = fd >= 0;
	if (!named)
		fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int rc = copy_filedata(image_fd, index, fd);
	if (rc) {
		close(fd);
		if (named)
			unlink(path);
		return rc;
	}
	int nfd = fd;
	if (acc != O_RDWR && named) {
		nfd = open(path, (r->flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_CLOEXEC);
		close(fd);
	}
	if (named)
		unlink(path);
	return nfd;
}

/* '*' and '?' glob, no malloc (fnmatch may allocate) */
static bool glob_match(const char *g, const char *s)
{
	for (; *g; g++, s++) {
		if (*g == '*') {
			for (const char *t = s;; t++) {
				if (glob_match(g + 1, t))
					return true;
				if (!*t)
					return false;
			}
		}
		if (!*s || (*g != '?' && *g != *s))
			return false;
	}
	return !*s;
}

static bool no_truncate(const char *path)
{
	const char *g = crest.rinfo.no_truncate;
	const char *end = g + sizeof(crest.rinfo.no_truncate);
	while (g < end && *g) {
		if (glob_match(g, path))
			return true;
		g += strlen(g) + 1;
	}
	return false;
}

/* A node-local path whose folders this node has not got (a restart on
 * another node): they are made (node_folders.h), and with `itself` the
 * path too, as a folder.  True when the caller may try again. */
static bool node_folders_made(const char *path, bool itself)
{
	char buf[PATH_MAX], why[160];
	const char *name;
	if (!crest_node_local(path) || deleted_path(path))
		return false;	/* a deleted folder is not made again */
	const char *now = crest_path_to_new(path, buf, sizeof(buf));
	int dfd = now ? crest_node_parent_open(now, &name, why, sizeof(why)) : -1;
	if (dfd < 0) {
		pr_warn("restart: cannot make the folders of %s on this node: %s", now ? now : path,
			now ? why : "its path is too long");
		return false;
	}
	if (itself && mkdirat(dfd, name, 0700) < 0 && errno != EEXIST)
		pr_warn("restart: cannot make the folder %s: %s", now, strerrordesc_np(errno));
	close(dfd);
	return true;
}

/* A file saved in the image: put its content back as it was, with the
 * modification time it had, so that programs comparing times (make) see
 * the file of the checkpoint.  A file still as it was (the same file, with
 * the same size and time) is left alone: rewriting it would only make it
 * look newer. */
static int rewrite_saved(struct crest_img_fd *r, uint32_t index, int image_fd)
{
	struct stat st;
	if (!stat(r->path, &st) && S_ISREG(st.st_mode) && (uint64_t)st.st_dev == r->dev &&
	    (uint64_t)st.st_ino == r->ino && (uint64_t)st.st_size == r->size && mtime_ns(&st) == r->mtime_ns)
		return 0;
	int fd = open(r->path, O_WRONLY | O_CREAT | O_CLOEXEC, r->mode & 07777);
	if (fd < 0 && errno == ENOENT && node_folders_made(r->path, false))
		fd = open(r->path, O_WRONLY | O_CREAT | O_CLOEXEC, r->mode & 07777);
	if (fd < 0)
		return -errno;
	int rc = copy_filedata(image_fd, index, fd);
	if (!rc && ftruncate(fd, r->size) < 0)
		rc = -errno;
	struct timespec times[2] = {
		{ .tv_nsec = UTIME_OMIT },
		{ .tv_sec = (time_t)(r->mtime_ns / 1000000000ull), .tv_nsec = (long)(r->mtime_ns % 1000000000ull) },
	};
	if (!rc && r->mtime_ns && futimens(fd, times) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static void warn_changed(const struct crest_img_fd *r, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return;
	if ((uint64_t)st.st_size != r->size || mtime_ns(&st) != r->mtime_ns)
		pr_warn("%s (fd %d, open read-only) changed since the checkpoint (%lu bytes then, %lu now); "
			"the program reads the new content", r->path, r->fd, (unsigned long)r->size,
			(unsigned long)st.st_size);
}

/* A FIFO's path on a node that has not got it: made again (with its
 * folders), so that a program that opens it by name again finds one.  A
 * process that held it for reading and writing (a mailbox: mpirun's
 * debugger FIFO) gets that FIFO at its fd, with what waited in the pipe
 * crest restart made, so that it is the FIFO at its path again (also at
 * the next checkpoint).  A reader or a writer keeps the pipe, with the
 * data in flight; a process that opens the path gets the new FIFO. */
static void fifo_path_back(const struct crest_img_fd *r)
{
	struct stat st, now;
	if (r->path[0] != '/' || deleted_path(r->path) || !S_ISFIFO(r->mode))
		return;
	if (stat(r->path, &st) < 0) {
		if (errno != ENOENT || !node_folders_made(r->path, false))
			return;
		if (mkfifo(r->path, r->mode & 0777) < 0 && errno != EEXIST) {
			pr_warn("restart: cannot make the FIFO %s (fd %d) again: %s", r->path, r->fd,
				strerrordesc_np(errno));
			return;
		}
		if (stat(r->path, &st) < 0)
			return;
	}
	if (!S_ISFIFO(st.st_mode) || (r->flags & O_ACCMODE) != O_RDWR || fstat(r->fd, &now) < 0 ||
	    (now.st_dev == st.st_dev && now.st_ino == st.st_ino))
		return;
	int nfd = open(r->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (nfd < 0)
		return;
	static char buf[4096];
	fcntl(r->fd, F_SETFL, O_NONBLOCK);
	for (ssize_t n; (n = read(r->fd, buf, sizeof(buf))) > 0;)
		if (write(nfd, buf, (size_t)n) != n) {
			pr_warn("restart: the FIFO %s (fd %d) lost data in flight", r->path, r->fd);
			break;
		}
	if (dup3(nfd, r->fd, (r->fd_flags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
		pr_warn("restart: the FIFO %s cannot be put at fd %d: %s", r->path, r->fd, strerrordesc_np(errno));
	close(nfd);
	fcntl(r->fd, F_SETFL, r->flags & (O_NONBLOCK | O_APPEND));
}

/* Moves a temporary fd out of the range the application's fds come back to. */
static int restore_base;	/* above every fd to restore */

static int high_fd(int fd)
{
	if (fd < 0)
		return fd;
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, restore_base);
	if (nfd < 0)
		return fd;
	close(fd);
	return nfd;
}

/* record i shares its description with a lower fd whose record came
 * before it and is open now (put back, or the restarting shell's) */
static bool same_as_restored(uint32_t i)
{
	const struct crest_img_fd *r = &crest.fds[i].img;
	int lower = CREST_FD_SAME_AS(r);
	if (lower < 0)
		return false;
	for (uint32_t k = 0; k < i; k++)
		if (crest.fds[k].img.fd == lower)
			return crest.fds[k].img.kind == r->kind && fcntl(lower, F_GETFD) >= 0;
	return false;
}

int crest_fds_restore(int image_fd, char *err, size_t errlen)
{
	int rc = 0;
	crest_pending_forget();	/* crest restart queued them in the new listeners */
	restore_base = CREST_FD_BASE;
	for (uint32_t i = 0; i < crest.nfds; i++)
		if (crest.fds[i].img.fd >= restore_base)
			restore_base = crest.fds[i].img.fd + 1;
	/* the image fd must not be in the way of the application's */
	image_fd = high_fd(image_fd);
	crest.rinfo.image_fd = image_fd;
	static uint8_t received[CREST_MAX_FDS];	/* from the parent: one description with its fd */
	memset(received, 0, sizeof(received));
	crest_fds_share_receive(received, restore_base);
	for (uint32_t i = 0; i < crest.nfds; i++) {
		struct crest_fd *f = &crest.fds[i];
		struct crest_img_fd *r = &f->img;
		int nfd = -1;
		int oflags = (r->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY)) | O_CLOEXEC;

		if (r->fd <= 2 && (crest.rinfo.inherit_fds >> r->fd & 1) && r->kind != CREST_FD_PIPE)
			continue;	/* the restarting shell's (crest restart decides) */
		if (received[i])
			continue;	/* the parent's description: content, size and offset are its */
		if (same_as_restored(i)) {
			/* one description with a lower fd, put back already */
			if (dup3(CREST_FD_SAME_AS(r), r->fd, (r->fd_flags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
				snprintf(err, errlen, "cannot restore fd %d (%s) as a copy of fd %d: %s", r->fd,
					 r->path, CREST_FD_SAME_AS(r), strerrordesc_np(errno));
				pr_err("restart: %s", err);
				rc = -errno;
			}
			continue;
		}
		switch (r->kind) {
		case CREST_FD_STDIO:
			continue;
		case CREST_FD_FILE:
			if (r->content_saved) {
				int rc = rewrite_saved(r, i, image_fd);
				if (rc < 0)
					pr_err("restart: cannot put back the content of %s (fd %d): %s", r->path,
					       r->fd, strerrordesc_np(-rc));
			}
			nfd = open(r->path, oflags);
			if (nfd >= 0 && (r->flags & O_ACCMODE) == O_RDONLY && !r->content_saved)
				warn_changed(r, nfd);
			if (nfd >= 0 && (r->flags & O_ACCMODE) != O_RDONLY && !no_truncate(r->path)) {
				struct stat st;
				if (!fstat(nfd, &st) && (uint64_t)st.st_size > r->size &&
				    ftruncate(nfd, r->size) < 0)
					pr_warn("cannot cut %s back to its %lu bytes at the checkpoint: %s", r->path,
						(unsigned long)r->size, strerrordesc_np(errno));
			}
			break;
		case CREST_FD_DIR:
			nfd = open(r->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (nfd < 0 && errno == ENOENT && node_folders_made(r->path, true))
				nfd = open(r->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			break;
		case CREST_FD_PTY_MASTER:
		case CREST_FD_PTY_SLAVE:
			if (fcntl(r->fd, F_GETFD) >= 0) {	/* a new pair, made by crest restart */
				fcntl(r->fd, F_SETFD, r->fd_flags & FD_CLOEXEC);
				fcntl(r->fd, F_SETFL, r->flags & (O_NONBLOCK | O_APPEND));
				continue;
			}
			if (r->kind == CREST_FD_PTY_MASTER) {
				pr_warn("fd %d was the master of pseudo-terminal %lu, which crest restart did not make "
					"again; it is closed", r->fd, (unsigned long)r->pos);
				continue;
			}
			/* a terminal outside the computation: by path */
			__attribute__((fallthrough));
		case CREST_FD_DEVNULL:
		case CREST_FD_TTY:
			nfd = open(r->path, oflags | O_NOCTTY);
			break;
		case CREST_FD_EXTERNAL:
			pr_warn("fd %d was %s, a pipe to a process outside the computation; it is /dev/null now",
				r->fd, r->path);
			nfd = open("/dev/null", (r->flags & O_ACCMODE) | O_CLOEXEC);
			break;
		case CREST_FD_DELETED:
			nfd = reopen_deleted(r, i, image_fd);
			if (nfd < 0)
				errno = -nfd;
			break;
		case CREST_FD_SOCKET:
			if (fcntl(r->fd, F_GETFD) < 0) {
				pr_warn("fd %d (socket) was not handed over by crest restart; it is closed", r->fd);
				continue;
			}
			fcntl(r->fd, F_SETFD, r->fd_flags & FD_CLOEXEC);
			fcntl(r->fd, F_SETFL, r->flags & (O_NONBLOCK | O_APPEND));
			crest_sock_restore(i);
			continue;
		case CREST_FD_PIPE:
			/* put in place by `crest restart` (a pipe to outside the
			 * computation: /dev/null, or for 0-2 the restarting shell's) */
			if (fcntl(r->fd, F_GETFD) < 0) {
				pr_warn("fd %d (%s) was not handed over by crest restart; it is closed", r->fd,
					r->path);
				continue;
			}
			fcntl(r->fd, F_SETFD, r->fd_flags & FD_CLOEXEC);
			if (r->fd > 2)
				fcntl(r->fd, F_SETFL, r->flags & (O_NONBLOCK | O_APPEND));
			fifo_path_back(r);
			continue;
		case CREST_FD_EVENTFD:
		case CREST_FD_TIMERFD:
		case CREST_FD_SIGNALFD:
		case CREST_FD_EPOLL:
		case CREST_FD_INOTIFY:
			nfd = crest_fd_event_open(i);
			break;
		default:
			pr_warn("fd %d (%s): unknown kind %u in the image; it is closed", r->fd, r->path, r->kind);
			continue;
		}
		nfd = high_fd(nfd);
		if (nfd < 0) {	/* the others still come back */
			snprintf(err, errlen, "cannot reopen fd %d (%s): %s", r->fd, r->path, strerrordesc_np(errno));
			pr_err("restart: %s; the program finds fd %d closed", err, r->fd);
			rc = -errno;
			continue;
		}
		if (nfd != r->fd) {
			if (dup3(nfd, r->fd, (r->fd_flags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
				snprintf(err, errlen, "cannot restore fd %d (%s): %s", r->fd, r->path,
					 strerrordesc_np(errno));
				pr_err("restart: %s", err);
				rc = -errno;
			}
			close(nfd);
		} else if (!(r->fd_flags & FD_CLOEXEC)) {
			fcntl(nfd, F_SETFD, 0);
		}
		if (r->kind == CREST_FD_FILE || r->kind == CREST_FD_DELETED)
			lseek(r->fd, r->pos, SEEK_SET);
	}
	crest_fds_event_restore_epoll();
	crest_locks_restore();
	crest_fds_share_send();
	return rc;
}
