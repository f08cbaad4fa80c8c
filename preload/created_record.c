/* SPDX-License-Identifier: MIT */
/*
 * The record of what this process creates (common/created.h): the open,
 * fopen, mkstemp, mkdir, mkfifo, mknod, rename, unlink and rmdir wrappers
 * (path_wrappers.c) tell it what they made or removed, and it appends one
 * record each to RUNDIR/CREATED through a descriptor of crest's own (opened
 * on first use, never saved in an image, shared with forked children:
 * O_APPEND keeps their records whole).
 *
 * A call that makes something and its record are one step for a
 * checkpoint: the wrapper holds the checkpoint lock around both (as exec
 * does), so a record always lands in the journal of the generation whose
 * processes saw the file made.
 *
 * Left out: crest's own files (anything under the checkpoint folder, and
 * whatever the checkpoint thread makes), and every process when
 * CREST_UNDO_CREATED=0.  The calls below go to the kernel directly:
 * libcrest's own wrappers would translate paths for the application (a
 * path map) and record again.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "crest.h"
#include "created.h"
#include "created_record.h"
#include "rawsys.h"

__thread bool crest_thread_is_ckpt __attribute__((tls_model("initial-exec")));

static int journal_fd = -1;
static dev_t journal_dev;
static ino_t journal_ino;
static int wanted = -1;		/* CREST_UNDO_CREATED, read once */
static bool journal_failed;	/* cannot open it: not tried again */
static char base[sizeof(crest.dir)];	/* the checkpoint folder: crest's, not recorded */
static size_t base_len;

static bool on(void)
{
	if (__builtin_expect(wanted < 0, 0)) {
		const char *v = crest_getenv("CREST_UNDO_CREATED");
		wanted = !(v && !strcmp(v, "0"));
	}
	return wanted && crest.active && crest.dir[0] && !crest_thread_is_ckpt;
}

bool crest_created_want(void)
{
	return on();
}

/* RUNDIR is DIR or DIR/nodes/nN: DIR is crest's, as the kernel names it
 * (an open's record is the kernel's name: no symbolic link in it) */
static void set_base(void)
{
	char dir[sizeof(base)], lpath[64];
	snprintf(dir, sizeof(dir), "%s", crest.dir);
	char *s = strrchr(dir, '/');
	if (s && s[1] == 'n' && s[2] && strspn(s + 2, "0123456789") == strlen(s + 2) && s - dir >= 6 &&
	    !strncmp(s - 6, "/nodes", 6))
		s[-6] = 0;
	snprintf(base, sizeof(base), "%s", dir);
	int fd = (int)syscall(SYS_openat, AT_FDCWD, dir, O_PATH | O_CLOEXEC);
	if (fd >= 0) {
		snprintf(lpath, sizeof(lpath), "/proc/self/fd/%d", fd);
		ssize_t n = syscall(SYS_readlinkat, AT_FDCWD, lpath, base, sizeof(base) - 1);
		base[n > 0 ? n : 0] = 0;
		if (n <= 0)
			snprintf(base, sizeof(base), "%s", dir);
		close(fd);
	}
	base_len = strlen(base);
}

/* the journal's descriptor, still ours (an application that closed every
 * descriptor and opened its own files may have its file at our number) */
static int journal(void)
{
	int fd = __atomic_load_n(&journal_fd, __ATOMIC_ACQUIRE);
	struct stat st;
	/* a vfork child shares our memory, not our descriptors: it records
	 * through ours, and changes nothing */
	bool vforked = raw_syscall0(NR_getpid) != crest.pid;
	if (fd >= 0) {
		if (!syscall(SYS_fstat, fd, &st) && st.st_dev == journal_dev && st.st_ino == journal_ino)
			return fd;
		if (vforked)
			return -1;
		crest_fd_unprotect(fd);	/* not ours any more: left alone */
		__atomic_store_n(&journal_fd, -1, __ATOMIC_RELEASE);
	}
	if (journal_failed || vforked)
		return -1;
	char path[sizeof(crest.dir) + 16];
	if (snprintf(path, sizeof(path), "%s/" CREST_CREATED_NAME, crest.dir) >= (int)sizeof(path))
		return -1;
	if (!base_len)
		set_base();	/* before anyone records through the descriptor */
	fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || syscall(SYS_fstat, fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		journal_failed = true;
		return -1;
	}
	fd = crest_fd_protect(fd);
	int none = -1;
	if (!__atomic_compare_exchange_n(&journal_fd, &none, fd, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		crest_fd_unprotect(fd);
		close(fd);	/* another thread opened it first */
		return none;
	}
	journal_dev = st.st_dev;
	journal_ino = st.st_ino;
	return fd;
}

/* what identifies a file made: device, inode, birth time (0: unknown) */
struct made {
	uint64_t dev, ino, born;
	bool dir;
};

static bool identify(int dirfd, const char *path, int flags, struct made *m)
{
	struct statx stx;
	if (syscall(SYS_statx, dirfd, path, flags, STATX_TYPE | STATX_INO | STATX_BTIME, &stx) < 0)
		return false;
	m->dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
	m->ino = stx.stx_ino;
	m->born = stx.stx_mask & STATX_BTIME ? (uint64_t)stx.stx_btime.tv_sec * 1000000000ull + stx.stx_btime.tv_nsec : 0;
	m->dir = S_ISDIR(stx.stx_mode);
	return true;
}

static void note(char kind, const struct made *m, bool replaced, const char *path)
{
	int fd = journal();
	if (fd < 0 || (base_len && !strncmp(path, base, base_len) && (path[base_len] == '/' || !path[base_len])))
		return;
	char rec[CREST_CREATED_REC_MAX];
	size_t n = crest_created_format(rec, sizeof(rec), kind, m ? m->dev : 0, m ? m->ino : 0, m ? m->born : 0,
					replaced, path);
	if (n && write(fd, rec, n) < 0)
		return;	/* a record lost: that file stays after a restart, as without crest */
}

/* is something at path: 0, or -errno; errno left as it was */
static int lookup(int dirfd, const char *path, int at_flags)
{
	int e = errno;
	struct stat st;
	int rc = syscall(SYS_newfstatat, dirfd, path, &st, at_flags) < 0 ? -errno : 0;
	errno = e;
	return rc;
}

bool crest_created_missing(int dirfd, const char *path, int flags)
{
	if (!(flags & O_CREAT) || !path || !on())
		return false;
	if ((flags & O_EXCL) == O_EXCL)
		return true;
	return lookup(dirfd, path, 0) == -ENOENT;
}

/* the file's owner is the effective uid, asked once: a program that
 * changes it later is compared with its first one (a root program that
 * became a user could then open a world-writable file of root's in a
 * sticky folder, which protected_regular refuses with O_CREAT) */
bool crest_created_ours(int fd)
{
	static uid_t euid = (uid_t)-1;
	struct stat st;
	if (euid == (uid_t)-1)
		euid = geteuid();
	return !syscall(SYS_fstat, fd, &st) && st.st_uid == euid;
}

void crest_created_fd(int fd)
{
	if (!on())
		return;
	int e = errno;
	struct made m;
	char lpath[64], path[4096];
	snprintf(lpath, sizeof(lpath), "/proc/self/fd/%d", fd);
	ssize_t n = syscall(SYS_readlinkat, AT_FDCWD, lpath, path, sizeof(path) - 1);
	if (n > 0 && path[0] == '/' && identify(fd, "", AT_EMPTY_PATH, &m)) {
		path[n] = 0;
		note(m.dir ? 'd' : 'f', &m, false, path);
	}
	errno = e;
}

/* the absolute path of `path` relative to dirfd, in buf, as the kernel
 * names it (the records of opens are the kernel's names: a path through a
 * symbolic link, with "..", or with a trailing "/" must read the same):
 * its folder opened and named by the kernel, then its last component.
 * False for a last component "." or "..", or a folder that cannot be
 * opened. */
static bool absolute(int dirfd, const char *path, char *buf, size_t size)
{
	char dir[4096], lpath[64];
	size_t len = strnlen(path, sizeof(dir));
	if (!len || len >= sizeof(dir))
		return false;
	memcpy(dir, path, len + 1);
	while (len > 1 && dir[len - 1] == '/')
		dir[--len] = 0;
	char *slash = strrchr(dir, '/');
	const char *name = slash ? slash + 1 : dir;
	if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	int fd;
	if (!slash)
		fd = (int)syscall(SYS_openat, dirfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	else if (slash == dir)
		fd = (int)syscall(SYS_openat, AT_FDCWD, "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	else {
		*slash = 0;
		fd = (int)syscall(SYS_openat, dirfd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		return false;
	snprintf(lpath, sizeof(lpath), "/proc/self/fd/%d", fd);
	ssize_t n = syscall(SYS_readlinkat, AT_FDCWD, lpath, buf, size - 1);
	close(fd);
	if (n <= 0 || buf[0] != '/')
		return false;
	buf[n] = 0;
	return (size_t)snprintf(buf + n, size - (size_t)n, "%s%s", n > 1 ? "/" : "", name) < size - (size_t)n;
}

bool crest_created_exists(int dirfd, const char *path)
{
	if (!path || !on())
		return false;
	return !lookup(dirfd, path, AT_SYMLINK_NOFOLLOW);
}

void crest_created_at(int dirfd, const char *path, char kind, bool replaced)
{
	if (!path || !on())
		return;
	int e = errno;
	struct made m;
	char abs[4096];
	if (absolute(dirfd, path, abs, sizeof(abs)) && identify(AT_FDCWD, abs, AT_SYMLINK_NOFOLLOW, &m))
		note(kind == 'f' && m.dir ? 'd' : kind, &m, replaced, abs);
	errno = e;
}

void crest_created_removed(int dirfd, const char *path)
{
	if (!path || !on())
		return;
	int e = errno;
	char abs[4096];
	if (absolute(dirfd, path, abs, sizeof(abs)))
		note('u', NULL, false, abs);
	errno = e;
}

/* a restored process: the descriptor is not there any more (never saved) */
void crest_created_after_restart(void)
{
	if (journal_fd >= 0)
		crest_fd_unprotect(journal_fd);
	journal_fd = -1;
	journal_failed = false;
}

/* The process `crest launch` started ends on its own (exit, _exit, or the
 * end of main; not a signal): the computation ended, and a restart keeps
 * what it made (common/created.h, record 'e').  Not under Slurm: a step's
 * ending is the plugin's to judge. */
void crest_created_ended(void)
{
	if (!on() || crest.task || !crest.root_vpid || getpid() != crest.root_vpid ||
	    raw_syscall0(NR_getpid) != crest.pid)
		return;
	note('e', NULL, false, "/");
}

__attribute__((destructor)) static void ended(void)
{
	crest_created_ended();
}

/* _exit and _Exit end the process without its destructors */
__attribute__((visibility("default"), noreturn)) void _exit(int status)
{
	static void (*real)(int);
	crest_created_ended();
	if (!real)
		real = (void (*)(int))dlsym(RTLD_NEXT, "_exit");
	if (real)
		real(status);
	syscall(SYS_exit_group, status);
	__builtin_unreachable();
}

__attribute__((visibility("default"), noreturn)) void _Exit(int status)
{
	_exit(status);
}
