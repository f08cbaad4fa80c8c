/* SPDX-License-Identifier: MIT */
/*
 * The path map (path_map.h) at the libc entry points: absolute paths the
 * application passes in are translated OLD -> NEW; paths libc gives back
 * (getcwd, realpath, readlink) NEW -> OLD.  With an empty map (no restart
 * with --path-map) a wrapper is the real call plus one predictable branch;
 * the translated path lives in a PATH_MAX buffer on the stack, nothing is
 * allocated that glibc would not allocate itself.
 *
 * The calls that make files and folders (open, openat, creat with O_CREAT,
 * fopen and freopen in a "w" or "a" mode, mkdir, mkdirat, the rename
 * family, and the mkstemp family and mkdtemp, which are not mapped) also
 * tell created_record.c what they made (OPEN_CALL: an O_CREAT open is
 * first tried without O_CREAT; fopen: one fstatat before; a statx and a
 * readlink after a file was made), and unlink, unlinkat and rmdir what
 * they removed.
 *
 * Covered:
 *   open open64 openat openat64 creat creat64 fopen fopen64 freopen
 *   freopen64 stat stat64 lstat lstat64 fstatat fstatat64 statx statfs
 *   statfs64 statvfs statvfs64 access faccessat euidaccess eaccess opendir
 *   chdir mkdir mkdirat rmdir unlink unlinkat rename renameat renameat2
 *   link linkat symlink symlinkat readlink readlinkat realpath
 *   canonicalize_file_name getcwd get_current_dir_name truncate truncate64
 *   chmod fchmodat chown lchown fchownat utime utimes lutimes futimesat
 *   utimensat mkfifo mkfifoat mknod mknodat dlopen;
 *   _FORTIFY_SOURCE entry points: __open_2 __open64_2 __openat_2
 *   __openat64_2 __readlink_chk __readlinkat_chk __realpath_chk
 *   __getcwd_chk;
 *   entry points of programs built before glibc 2.33: __xstat __xstat64
 *   __lxstat __lxstat64 __fxstatat __fxstatat64 __xmknod __xmknodat.
 *   Results translated back: getcwd, get_current_dir_name (an inherited
 *   $PWD naming the cwd in old terms is kept, as glibc keeps it), realpath,
 *   canonicalize_file_name, and readlink/readlinkat whenever the link's
 *   content is absolute: /proc/self/cwd, /proc/<pid>/cwd, /proc/self/fd/N
 *   (also "... (deleted)"), /proc/self/exe, and links whose absolute
 *   target symlink() mapped on the way in.
 *   exec: exec_wrappers.c translates with crest_path_for_exec.
 *   libcrest's own calls to these functions go through the wrappers too
 *   (the symbols are exported, calls bind to them): the cwd and fd paths a
 *   later checkpoint records are in the application's terms.
 *
 * Not covered:
 *   - raw system calls (syscall(SYS_open, ...), Go, static programs) and
 *     glibc's internal calls: nftw/ftw/fts, scandir, glob, mkstemp and
 *     mkdtemp (the template is the application's: recorded, not mapped),
 *     tmpfile, getwd,
 *     posix_spawn file actions, system/popen (paths in the shell command);
 *   - paths inside other calls: AF_UNIX socket addresses (bind, connect),
 *     xattrs, chroot, mount, name_to_handle_at,
 *     pathconf, fanotify; paths read from or written to files and messages
 *     (other processes, config files, /proc/self/maps or mountinfo);
 *   - paths already consumed before the restart (argv, open fds: those are
 *     reopened at restart by the map);
 *   - openat, fstatat ... with a dirfd: only absolute paths are mapped (a
 *     dirfd opened at restart already points to the new place); relative
 *     paths never are (the cwd was moved);
 *   - paths with "..", "." or "//" before the end of an OLD prefix do not
 *     match it ("/old/../old/x" is not mapped);
 *   - dlopen: a bare name or relative path is passed on as a sibling call
 *     (jmp, at -O2) so that glibc still searches the caller's RUNPATH; a
 *     build at -O0 makes libcrest the caller.  A mapped absolute path is
 *     loaded in the base namespace (dlmopen is not wrapped).
 */
#undef _FORTIFY_SOURCE		/* we define the functions it redirects */
#undef _FILE_OFFSET_BITS	/* ... and the 64-bit names ourselves */
#define LOG_MODULE "path"
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>
#include <utime.h>

#include "created_record.h"
#include "log.h"
#include "crest.h"
#include "path_map.h"

#define EXPORT __attribute__((visibility("default")))

/* exported by glibc, declared only by _FORTIFY_SOURCE or not any more */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
ssize_t __readlink_chk(const char *path, char *buf, size_t len, size_t buflen);
ssize_t __readlinkat_chk(int dirfd, const char *path, char *buf, size_t len, size_t buflen);
char *__realpath_chk(const char *path, char *resolved, size_t resolvedlen);
char *__getcwd_chk(char *buf, size_t size, size_t buflen);
int __xstat(int ver, const char *path, struct stat *st);
int __xstat64(int ver, const char *path, struct stat64 *st);
int __lxstat(int ver, const char *path, struct stat *st);
int __lxstat64(int ver, const char *path, struct stat64 *st);
int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags);
int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags);
int __xmknod(int ver, const char *path, mode_t mode, dev_t *dev);
int __xmknodat(int ver, int dirfd, const char *path, mode_t mode, dev_t *dev);

/* what a missing libc function becomes */
static long enosys(void)
{
	errno = ENOSYS;
	return -1;
}

static void *enosys_ptr(void)
{
	errno = ENOSYS;
	return NULL;
}

static void *resolve(const char *name, void *fallback)
{
	int e = errno;
	void *p = dlsym(RTLD_NEXT, name);
	if (!p) {
		pr_err("libc has no %s; calls to it fail with ENOSYS", name);
		p = fallback;
	}
	errno = e;
	return p;
}

/* the real function, resolved once (at load by path_wrappers_init); REALP
 * for those that return a pointer */
#define REAL_DECL(name) static __typeof__(name) *real_##name
#define REAL_FB(name, fb) ({ \
	if (__builtin_expect(!real_##name, 0)) \
		real_##name = (__typeof__(name) *)resolve(#name, (void *)(fb)); \
	real_##name; })
#define REAL(name) REAL_FB(name, enosys)
#define REALP(name) REAL_FB(name, enosys_ptr)

/*
 * *path OLD -> NEW in buf (PATH_MAX bytes): false with errno = ENAMETOOLONG
 * when it does not fit.  A NULL path stays NULL, for the real function to
 * answer (EFAULT, or freopen's "same file"): glibc declares most path
 * arguments nonnull, and the empty asm keeps the compiler from assuming it.
 */
static inline bool map_in(const char **path, char *buf)
{
	const char *in = *path;
	__asm__("" : "+r"(in));
	*path = crest_path_to_new(in, buf, PATH_MAX);
	return *path || !in;
}

/*
 * The body of a wrapper whose one path argument is `path`: the real call
 * with the arguments given, in which P names the path, translated when the
 * map is not empty.  `fail` is what the function returns on error.
 */
#define PATH_CALL_(real, fail, path, ...) do { \
	const char *P = (path); \
	if (!crest_path_map_active()) \
		return real(__VA_ARGS__); \
	char P_buf[PATH_MAX]; \
	if (!map_in(&P, P_buf)) \
		return fail; \
	return real(__VA_ARGS__); \
} while (0)
#define PATH_CALL(name, path, ...) PATH_CALL_(REAL(name), -1, path, __VA_ARGS__)
#define PATH_CALL_P(name, path, ...) PATH_CALL_(REALP(name), NULL, path, __VA_ARGS__)

/* mkdir, mkfifo, mknod: what was made is recorded (created_record.c) */
#define MADE_CALL(name, dirfd, path, ...) do { \
	const char *P = (path); \
	char P_buf[PATH_MAX]; \
	if (crest_path_map_active() && !map_in(&P, P_buf)) \
		return -1; \
	bool note_ = crest_created_want(); \
	int held_ = note_ ? crest_ckpt_hold() : CREST_NOT_HELD; \
	int r_ = REAL(name)(__VA_ARGS__); \
	if (!r_ && note_) \
		crest_created_at((dirfd), P, 'f', false); \
	crest_ckpt_release(held_); \
	return r_; \
} while (0)

/* unlink, unlinkat, rmdir: that something is gone is recorded */
#define GONE_CALL(name, dirfd, path, ...) do { \
	const char *P = (path); \
	char P_buf[PATH_MAX]; \
	if (crest_path_map_active() && !map_in(&P, P_buf)) \
		return -1; \
	int r_ = REAL(name)(__VA_ARGS__); \
	if (!r_) \
		crest_created_removed((dirfd), P); \
	return r_; \
} while (0)

/* the rename family: that the source's path is empty now, and where the
 * file went, with whether it replaced something there (created_record.c);
 * not for an exchange of two */
#define MOVE_CALL(name, fromfd, tofd, from, to, flags, ...) do { \
	const char *P = (from), *Q = (to); \
	char P_buf[PATH_MAX], Q_buf[PATH_MAX]; \
	if (crest_path_map_active() && (!map_in(&P, P_buf) || !map_in(&Q, Q_buf))) \
		return -1; \
	bool note_ = !((flags) & RENAME_EXCHANGE) && crest_created_want(); \
	bool was_ = note_ && crest_created_exists((tofd), Q); \
	int held_ = note_ ? crest_ckpt_hold() : CREST_NOT_HELD; \
	int r_ = REAL(name)(__VA_ARGS__); \
	if (!r_ && note_) { \
		crest_created_removed((fromfd), P); \
		crest_created_at((tofd), Q, 'm', was_); \
	} \
	crest_ckpt_release(held_); \
	return r_; \
} while (0)

/* the same with two paths, P and Q */
#define PATH2_CALL(name, path1, path2, ...) do { \
	const char *P = (path1), *Q = (path2); \
	if (!crest_path_map_active()) \
		return REAL(name)(__VA_ARGS__); \
	char P_buf[PATH_MAX], Q_buf[PATH_MAX]; \
	if (!map_in(&P, P_buf) || !map_in(&Q, Q_buf)) \
		return -1; \
	return REAL(name)(__VA_ARGS__); \
} while (0)

/* open's mode, present only when the flags create a file */
#define OPEN_MODE(flags, mode) do { \
	if (__OPEN_NEEDS_MODE(flags)) { \
		va_list ap; \
		va_start(ap, flags); \
		mode = va_arg(ap, mode_t); \
		va_end(ap); \
	} \
} while (0)

/*
 * An fopen that may create a file: the real call with P mapped, then, if
 * the call made the file, a record of it (created_record.c), the two under
 * the checkpoint lock.  `fail` is the call's error value, FD(result) the
 * descriptor.
 */
#define CREATE_CALL_(real, fail, FD, dirfd, path, flags, ...) do { \
	const char *P = (path); \
	char P_buf[PATH_MAX]; \
	if (crest_path_map_active() && !map_in(&P, P_buf)) \
		return fail; \
	bool made_ = crest_created_missing((dirfd), P, (flags)); \
	int held_ = made_ ? crest_ckpt_hold() : CREST_NOT_HELD; \
	__typeof__(real(__VA_ARGS__)) r_ = real(__VA_ARGS__); \
	if (made_ && r_ != fail) \
		crest_created_fd(FD(r_)); \
	crest_ckpt_release(held_); \
	return r_; \
} while (0)
#define FOPEN_CALL(name, path, mode, ...) \
	CREATE_CALL_(REALP(name), NULL, fileno, AT_FDCWD, path, fopen_flags(mode), __VA_ARGS__)

/*
 * The open family, as openat or openat64 (open is openat at AT_FDCWD).  An
 * O_CREAT open for writing (not O_DIRECTORY) is first tried without
 * O_CREAT: for a file that exists that is the same call, so opening one
 * costs nothing more, unless the file is not ours (the kernel refuses
 * O_CREAT on another user's file in a sticky folder, protected_regular):
 * then the call is made again as asked.  When the try finds no file, the
 * file is made, and recorded, under the checkpoint lock.  Other O_CREAT
 * opens (read-only, O_DIRECTORY: the kernel answers differently without
 * O_CREAT) ask fstatat first whether the file is there.
 */
#define OPEN_CALL(name, dirfd, path, flags, mode) do { \
	const char *P = (path); \
	char P_buf[PATH_MAX]; \
	if (crest_path_map_active() && !map_in(&P, P_buf)) \
		return -1; \
	if (!((flags) & O_CREAT) || !crest_created_want()) \
		return REAL(name)((dirfd), P, (flags), (mode)); \
	bool made_ = true; \
	if (((flags) & O_EXCL) == O_EXCL) { \
		/* it makes the file, or fails */ \
	} else if (((flags) & O_ACCMODE) == O_RDONLY || ((flags) & O_DIRECTORY)) { \
		made_ = crest_created_missing((dirfd), P, (flags)); \
	} else { \
		int e_ = errno; \
		int fd_ = REAL(name)((dirfd), P, (flags) & ~O_CREAT, (mode)); \
		if (fd_ >= 0 && crest_created_ours(fd_)) \
			return fd_; \
		if (fd_ >= 0) \
			close(fd_); \
		made_ = fd_ < 0 && errno == ENOENT; \
		errno = e_; \
	} \
	int held_ = made_ ? crest_ckpt_hold() : CREST_NOT_HELD; \
	int fd_ = REAL(name)((dirfd), P, (flags), (mode)); \
	if (made_ && fd_ >= 0) \
		crest_created_fd(fd_); \
	crest_ckpt_release(held_); \
	return fd_; \
} while (0)

/* the flags of an fopen mode that matter here: does it create, exclusively */
static int fopen_flags(const char *mode)
{
	int f = 0;
	if (mode && (mode[0] == 'w' || mode[0] == 'a'))
		f = O_CREAT;
	for (const char *m = mode; f && *m && *m != ','; m++)
		if (*m == 'x')
			f |= O_EXCL;
	return f;
}

const char *crest_path_for_exec(const char *path, char *buf, size_t len)
{
	return crest_path_to_new(path, buf, len);
}

REAL_DECL(open);
REAL_DECL(open64);
REAL_DECL(openat);
REAL_DECL(openat64);
REAL_DECL(__open_2);
REAL_DECL(__open64_2);
REAL_DECL(__openat_2);
REAL_DECL(__openat64_2);
REAL_DECL(creat);
REAL_DECL(creat64);
REAL_DECL(fopen);
REAL_DECL(fopen64);
REAL_DECL(freopen);
REAL_DECL(freopen64);
REAL_DECL(mkstemp);
REAL_DECL(mkstemp64);
REAL_DECL(mkostemp);
REAL_DECL(mkostemp64);
REAL_DECL(mkstemps);
REAL_DECL(mkstemps64);
REAL_DECL(mkostemps);
REAL_DECL(mkostemps64);
REAL_DECL(mkdtemp);
REAL_DECL(stat);
REAL_DECL(stat64);
REAL_DECL(lstat);
REAL_DECL(lstat64);
REAL_DECL(fstatat);
REAL_DECL(fstatat64);
REAL_DECL(__xstat);
REAL_DECL(__xstat64);
REAL_DECL(__lxstat);
REAL_DECL(__lxstat64);
REAL_DECL(__fxstatat);
REAL_DECL(__fxstatat64);
REAL_DECL(statx);
REAL_DECL(statfs);
REAL_DECL(statfs64);
REAL_DECL(statvfs);
REAL_DECL(statvfs64);
REAL_DECL(access);
REAL_DECL(faccessat);
REAL_DECL(euidaccess);
REAL_DECL(eaccess);
REAL_DECL(opendir);
REAL_DECL(chdir);
REAL_DECL(mkdir);
REAL_DECL(mkdirat);
REAL_DECL(rmdir);
REAL_DECL(unlink);
REAL_DECL(unlinkat);
REAL_DECL(rename);
REAL_DECL(renameat);
REAL_DECL(renameat2);
REAL_DECL(link);
REAL_DECL(linkat);
REAL_DECL(symlink);
REAL_DECL(symlinkat);
REAL_DECL(readlink);
REAL_DECL(readlinkat);
REAL_DECL(__readlink_chk);
REAL_DECL(__readlinkat_chk);
REAL_DECL(realpath);
REAL_DECL(__realpath_chk);
REAL_DECL(canonicalize_file_name);
REAL_DECL(getcwd);
REAL_DECL(__getcwd_chk);
REAL_DECL(get_current_dir_name);
REAL_DECL(truncate);
REAL_DECL(truncate64);
REAL_DECL(chmod);
REAL_DECL(fchmodat);
REAL_DECL(chown);
REAL_DECL(lchown);
REAL_DECL(fchownat);
REAL_DECL(utime);
REAL_DECL(utimes);
REAL_DECL(lutimes);
REAL_DECL(futimesat);
REAL_DECL(utimensat);
REAL_DECL(mkfifo);
REAL_DECL(mkfifoat);
REAL_DECL(mknod);
REAL_DECL(mknodat);
REAL_DECL(__xmknod);
REAL_DECL(__xmknodat);
REAL_DECL(dlopen);

/* ---- open */

EXPORT int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	OPEN_MODE(flags, mode);
	OPEN_CALL(openat, AT_FDCWD, path, flags, mode);
}

EXPORT int open64(const char *path, int flags, ...)
{
	mode_t mode = 0;
	OPEN_MODE(flags, mode);
	OPEN_CALL(openat64, AT_FDCWD, path, flags, mode);
}

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	OPEN_MODE(flags, mode);
	OPEN_CALL(openat, dirfd, path, flags, mode);
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	OPEN_MODE(flags, mode);
	OPEN_CALL(openat64, dirfd, path, flags, mode);
}

EXPORT int __open_2(const char *path, int flags)
{
	PATH_CALL(__open_2, path, P, flags);
}

EXPORT int __open64_2(const char *path, int flags)
{
	PATH_CALL(__open64_2, path, P, flags);
}

EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	PATH_CALL(__openat_2, path, dirfd, P, flags);
}

EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	PATH_CALL(__openat64_2, path, dirfd, P, flags);
}

EXPORT int creat(const char *path, mode_t mode)
{
	OPEN_CALL(openat, AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);	/* what creat is */
}

EXPORT int creat64(const char *path, mode_t mode)
{
	OPEN_CALL(openat64, AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

EXPORT FILE *fopen(const char *restrict path, const char *restrict mode)
{
	FOPEN_CALL(fopen, path, mode, P, mode);
}

EXPORT FILE *fopen64(const char *restrict path, const char *restrict mode)
{
	FOPEN_CALL(fopen64, path, mode, P, mode);
}

/* a NULL path (reopen with another mode) stays NULL */
EXPORT FILE *freopen(const char *restrict path, const char *restrict mode, FILE *restrict stream)
{
	FOPEN_CALL(freopen, path, mode, P, mode, stream);
}

EXPORT FILE *freopen64(const char *restrict path, const char *restrict mode, FILE *restrict stream)
{
	FOPEN_CALL(freopen64, path, mode, P, mode, stream);
}

/* ---- temporary files: not mapped (the template is the application's),
 * recorded (glibc makes them with its internal open) */

#define TEMP_FILE_CALL(name, ...) do { \
	int held_ = crest_created_want() ? crest_ckpt_hold() : CREST_NOT_HELD; \
	int fd_ = REAL(name)(__VA_ARGS__); \
	if (fd_ >= 0) \
		crest_created_fd(fd_); \
	crest_ckpt_release(held_); \
	return fd_; \
} while (0)

EXPORT int mkstemp(char *tmpl)
{
	TEMP_FILE_CALL(mkstemp, tmpl);
}

EXPORT int mkstemp64(char *tmpl)
{
	TEMP_FILE_CALL(mkstemp64, tmpl);
}

EXPORT int mkostemp(char *tmpl, int flags)
{
	TEMP_FILE_CALL(mkostemp, tmpl, flags);
}

EXPORT int mkostemp64(char *tmpl, int flags)
{
	TEMP_FILE_CALL(mkostemp64, tmpl, flags);
}

EXPORT int mkstemps(char *tmpl, int suffixlen)
{
	TEMP_FILE_CALL(mkstemps, tmpl, suffixlen);
}

EXPORT int mkstemps64(char *tmpl, int suffixlen)
{
	TEMP_FILE_CALL(mkstemps64, tmpl, suffixlen);
}

EXPORT int mkostemps(char *tmpl, int suffixlen, int flags)
{
	TEMP_FILE_CALL(mkostemps, tmpl, suffixlen, flags);
}

EXPORT int mkostemps64(char *tmpl, int suffixlen, int flags)
{
	TEMP_FILE_CALL(mkostemps64, tmpl, suffixlen, flags);
}

EXPORT char *mkdtemp(char *tmpl)
{
	int held = crest_created_want() ? crest_ckpt_hold() : CREST_NOT_HELD;
	char *r = REALP(mkdtemp)(tmpl);
	if (r)
		crest_created_at(AT_FDCWD, r, 'd', false);
	crest_ckpt_release(held);
	return r;
}

EXPORT DIR *opendir(const char *path)
{
	PATH_CALL_P(opendir, path, P);
}

/* ---- stat */

EXPORT int stat(const char *restrict path, struct stat *restrict st)
{
	PATH_CALL(stat, path, P, st);
}

EXPORT int stat64(const char *restrict path, struct stat64 *restrict st)
{
	PATH_CALL(stat64, path, P, st);
}

EXPORT int lstat(const char *restrict path, struct stat *restrict st)
{
	PATH_CALL(lstat, path, P, st);
}

EXPORT int lstat64(const char *restrict path, struct stat64 *restrict st)
{
	PATH_CALL(lstat64, path, P, st);
}

EXPORT int fstatat(int dirfd, const char *restrict path, struct stat *restrict st, int flags)
{
	PATH_CALL(fstatat, path, dirfd, P, st, flags);
}

EXPORT int fstatat64(int dirfd, const char *restrict path, struct stat64 *restrict st, int flags)
{
	PATH_CALL(fstatat64, path, dirfd, P, st, flags);
}

EXPORT int __xstat(int ver, const char *path, struct stat *st)
{
	PATH_CALL(__xstat, path, ver, P, st);
}

EXPORT int __xstat64(int ver, const char *path, struct stat64 *st)
{
	PATH_CALL(__xstat64, path, ver, P, st);
}

EXPORT int __lxstat(int ver, const char *path, struct stat *st)
{
	PATH_CALL(__lxstat, path, ver, P, st);
}

EXPORT int __lxstat64(int ver, const char *path, struct stat64 *st)
{
	PATH_CALL(__lxstat64, path, ver, P, st);
}

EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
	PATH_CALL(__fxstatat, path, ver, dirfd, P, st, flags);
}

EXPORT int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags)
{
	PATH_CALL(__fxstatat64, path, ver, dirfd, P, st, flags);
}

EXPORT int statx(int dirfd, const char *restrict path, int flags, unsigned int mask,
		 struct statx *restrict stx)
{
	PATH_CALL(statx, path, dirfd, P, flags, mask, stx);
}

EXPORT int statfs(const char *path, struct statfs *st)
{
	PATH_CALL(statfs, path, P, st);
}

EXPORT int statfs64(const char *path, struct statfs64 *st)
{
	PATH_CALL(statfs64, path, P, st);
}

EXPORT int statvfs(const char *restrict path, struct statvfs *restrict st)
{
	PATH_CALL(statvfs, path, P, st);
}

EXPORT int statvfs64(const char *restrict path, struct statvfs64 *restrict st)
{
	PATH_CALL(statvfs64, path, P, st);
}

/* ---- access */

EXPORT int access(const char *path, int how)
{
	PATH_CALL(access, path, P, how);
}

EXPORT int faccessat(int dirfd, const char *path, int how, int flags)
{
	PATH_CALL(faccessat, path, dirfd, P, how, flags);
}

EXPORT int euidaccess(const char *path, int how)
{
	PATH_CALL(euidaccess, path, P, how);
}

EXPORT int eaccess(const char *path, int how)
{
	PATH_CALL(eaccess, path, P, how);
}

/* ---- directories and names */

EXPORT int chdir(const char *path)
{
	PATH_CALL(chdir, path, P);
}

EXPORT int mkdir(const char *path, mode_t mode)
{
	MADE_CALL(mkdir, AT_FDCWD, path, P, mode);
}

EXPORT int mkdirat(int dirfd, const char *path, mode_t mode)
{
	MADE_CALL(mkdirat, dirfd, path, dirfd, P, mode);
}

EXPORT int rmdir(const char *path)
{
	GONE_CALL(rmdir, AT_FDCWD, path, P);
}

EXPORT int unlink(const char *path)
{
	GONE_CALL(unlink, AT_FDCWD, path, P);
}

EXPORT int unlinkat(int dirfd, const char *path, int flags)
{
	GONE_CALL(unlinkat, dirfd, path, dirfd, P, flags);
}

EXPORT int rename(const char *from, const char *to)
{
	MOVE_CALL(rename, AT_FDCWD, AT_FDCWD, from, to, 0, P, Q);
}

EXPORT int renameat(int fromfd, const char *from, int tofd, const char *to)
{
	MOVE_CALL(renameat, fromfd, tofd, from, to, 0, fromfd, P, tofd, Q);
}

EXPORT int renameat2(int fromfd, const char *from, int tofd, const char *to, unsigned int flags)
{
	MOVE_CALL(renameat2, fromfd, tofd, from, to, flags, fromfd, P, tofd, Q, flags);
}

EXPORT int link(const char *from, const char *to)
{
	PATH2_CALL(link, from, to, P, Q);
}

EXPORT int linkat(int fromfd, const char *from, int tofd, const char *to, int flags)
{
	PATH2_CALL(linkat, from, to, fromfd, P, tofd, Q, flags);
}

/* The link's content is mapped only when absolute (crest_path_to_new
 * leaves a relative one alone: it is relative to the link's directory,
 * which moved with it). */
EXPORT int symlink(const char *target, const char *linkpath)
{
	PATH2_CALL(symlink, target, linkpath, P, Q);
}

EXPORT int symlinkat(const char *target, int dirfd, const char *linkpath)
{
	PATH2_CALL(symlinkat, target, linkpath, P, dirfd, Q);
}

/* ---- paths given back: readlink, realpath, getcwd */

/*
 * readlink's semantics on the translated link `n` bytes in tmp (PATH_MAX
 * bytes): an absolute content goes back to old terms, then at most bufsiz
 * bytes of it are copied, without a NUL.
 */
static ssize_t readlink_back(ssize_t n, char *tmp, char *buf, size_t bufsiz)
{
	if (n < 0)
		return n;
	tmp[n] = 0;
	if (tmp[0] == '/' && !crest_path_to_old(tmp, PATH_MAX))
		n = (ssize_t)strlen(tmp);
	if ((size_t)n > bufsiz)
		n = (ssize_t)bufsiz;
	memcpy(buf, tmp, (size_t)n);
	return n;
}

static ssize_t readlinkat_mapped(int dirfd, const char *path, char *buf, size_t bufsiz)
{
	char P_buf[PATH_MAX], tmp[PATH_MAX];
	const char *P = path;
	if (!map_in(&P, P_buf))
		return -1;
	if (!bufsiz)		/* EINVAL, from the kernel */
		return REAL(readlinkat)(dirfd, P, buf, bufsiz);
	return readlink_back(REAL(readlinkat)(dirfd, P, tmp, sizeof(tmp) - 1), tmp, buf, bufsiz);
}

EXPORT ssize_t readlink(const char *restrict path, char *restrict buf, size_t bufsiz)
{
	if (!crest_path_map_active())
		return REAL(readlink)(path, buf, bufsiz);
	return readlinkat_mapped(AT_FDCWD, path, buf, bufsiz);
}

EXPORT ssize_t readlinkat(int dirfd, const char *restrict path, char *restrict buf, size_t bufsiz)
{
	if (!crest_path_map_active())
		return REAL(readlinkat)(dirfd, path, buf, bufsiz);
	return readlinkat_mapped(dirfd, path, buf, bufsiz);
}

EXPORT ssize_t __readlink_chk(const char *path, char *buf, size_t len, size_t buflen)
{
	if (!crest_path_map_active() || len > buflen)	/* the real one aborts */
		return REAL(__readlink_chk)(path, buf, len, buflen);
	return readlinkat_mapped(AT_FDCWD, path, buf, len);
}

EXPORT ssize_t __readlinkat_chk(int dirfd, const char *path, char *buf, size_t len, size_t buflen)
{
	if (!crest_path_map_active() || len > buflen)
		return REAL(__readlinkat_chk)(dirfd, path, buf, len, buflen);
	return readlinkat_mapped(dirfd, path, buf, len);
}

/* realpath with the map not empty: resolved is NULL or PATH_MAX bytes */
static char *realpath_mapped(const char *path, char *resolved)
{
	char P_buf[PATH_MAX], tmp[PATH_MAX];
	const char *P = path;
	if (!map_in(&P, P_buf))
		return NULL;
	char *r = REALP(realpath)(P, resolved ? resolved : tmp);
	if (!r)
		return NULL;
	crest_path_to_old(r, PATH_MAX);		/* too long: stays new */
	return resolved ? r : strdup(r);	/* glibc allocates as much */
}

EXPORT char *realpath(const char *restrict path, char *restrict resolved)
{
	if (!crest_path_map_active())
		return REALP(realpath)(path, resolved);
	return realpath_mapped(path, resolved);
}

EXPORT char *__realpath_chk(const char *path, char *resolved, size_t resolvedlen)
{
	if (!crest_path_map_active() || resolvedlen < PATH_MAX)	/* the real one aborts */
		return REALP(__realpath_chk)(path, resolved, resolvedlen);
	return realpath_mapped(path, resolved);
}

EXPORT char *canonicalize_file_name(const char *path)
{
	if (!crest_path_map_active())
		return REALP(canonicalize_file_name)(path);
	return realpath_mapped(path, NULL);
}

/*
 * getcwd with the map not empty, with glibc's semantics: buf NULL allocates
 * `size` bytes, or as many as needed when size is 0; ERANGE when the result
 * does not fit, EINVAL for a buf of size 0.  A cwd that getcwd cannot give
 * in PATH_MAX bytes (too long, unreachable) is left to the real call, as
 * is.
 */
static char *getcwd_mapped(char *buf, size_t size)
{
	char tmp[PATH_MAX];
	int e = errno;

	if (!REALP(getcwd)(tmp, sizeof(tmp)))
		return REALP(getcwd)(buf, size);
	errno = e;
	crest_path_to_old(tmp, sizeof(tmp));	/* too long: stays new */
	size_t len = strlen(tmp) + 1;
	if (buf && !size) {
		errno = EINVAL;
		return NULL;
	}
	if (size && size < len) {
		errno = ERANGE;
		return NULL;
	}
	if (!buf && !(buf = malloc(size ? size : len)))
		return NULL;
	return memcpy(buf, tmp, len);
}

EXPORT char *getcwd(char *buf, size_t size)
{
	if (!crest_path_map_active())
		return REALP(getcwd)(buf, size);
	return getcwd_mapped(buf, size);
}

EXPORT char *__getcwd_chk(char *buf, size_t size, size_t buflen)
{
	if (!crest_path_map_active() || size > buflen)	/* the real one aborts */
		return REALP(__getcwd_chk)(buf, size, buflen);
	return getcwd_mapped(buf, size);
}

/* glibc's: $PWD when it names the cwd (here: once translated), else getcwd */
EXPORT char *get_current_dir_name(void)
{
	if (!crest_path_map_active())
		return REALP(get_current_dir_name)();
	int e = errno;
	const char *pwd = crest_getenv("PWD");
	char P_buf[PATH_MAX];
	const char *P = pwd && pwd[0] == '/' ? crest_path_to_new(pwd, P_buf, sizeof(P_buf)) : NULL;
	struct stat a, b;
	if (P && !REAL(stat)(P, &a) && !REAL(stat)(".", &b) &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
		errno = e;
		return strdup(pwd);
	}
	errno = e;
	return getcwd_mapped(NULL, 0);
}

/* ---- attributes */

EXPORT int truncate(const char *path, off_t length)
{
	PATH_CALL(truncate, path, P, length);
}

EXPORT int truncate64(const char *path, off64_t length)
{
	PATH_CALL(truncate64, path, P, length);
}

EXPORT int chmod(const char *path, mode_t mode)
{
	PATH_CALL(chmod, path, P, mode);
}

EXPORT int fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
	PATH_CALL(fchmodat, path, dirfd, P, mode, flags);
}

EXPORT int chown(const char *path, uid_t owner, gid_t group)
{
	PATH_CALL(chown, path, P, owner, group);
}

EXPORT int lchown(const char *path, uid_t owner, gid_t group)
{
	PATH_CALL(lchown, path, P, owner, group);
}

EXPORT int fchownat(int dirfd, const char *path, uid_t owner, gid_t group, int flags)
{
	PATH_CALL(fchownat, path, dirfd, P, owner, group, flags);
}

EXPORT int utime(const char *path, const struct utimbuf *times)
{
	PATH_CALL(utime, path, P, times);
}

EXPORT int utimes(const char *path, const struct timeval times[2])
{
	PATH_CALL(utimes, path, P, times);
}

EXPORT int lutimes(const char *path, const struct timeval times[2])
{
	PATH_CALL(lutimes, path, P, times);
}

EXPORT int futimesat(int dirfd, const char *path, const struct timeval times[2])
{
	PATH_CALL(futimesat, path, dirfd, P, times);
}

/* path NULL: the file of dirfd itself (stays NULL) */
EXPORT int utimensat(int dirfd, const char *path, const struct timespec times[2], int flags)
{
	PATH_CALL(utimensat, path, dirfd, P, times, flags);
}

/* ---- special files */

EXPORT int mkfifo(const char *path, mode_t mode)
{
	MADE_CALL(mkfifo, AT_FDCWD, path, P, mode);
}

EXPORT int mkfifoat(int dirfd, const char *path, mode_t mode)
{
	MADE_CALL(mkfifoat, dirfd, path, dirfd, P, mode);
}

EXPORT int mknod(const char *path, mode_t mode, dev_t dev)
{
	MADE_CALL(mknod, AT_FDCWD, path, P, mode, dev);
}

EXPORT int mknodat(int dirfd, const char *path, mode_t mode, dev_t dev)
{
	MADE_CALL(mknodat, dirfd, path, dirfd, P, mode, dev);
}

EXPORT int __xmknod(int ver, const char *path, mode_t mode, dev_t *dev)
{
	PATH_CALL(__xmknod, path, ver, P, mode, dev);
}

EXPORT int __xmknodat(int ver, int dirfd, const char *path, mode_t mode, dev_t *dev)
{
	PATH_CALL(__xmknodat, path, ver, dirfd, P, mode, dev);
}

/* ---- dlopen */

/* glibc takes the caller from the return address and searches a bare name
 * in the caller's RUNPATH: anything not mapped leaves as a sibling call,
 * before this frame has anything of its own. */
static __attribute__((noinline)) void *dlopen_mapped(const char *file, int mode)
{
	char P_buf[PATH_MAX];
	const char *P = file;
	if (!map_in(&P, P_buf))
		return NULL;
	return REALP(dlopen)(P, mode);
}

EXPORT void *dlopen(const char *file, int mode)
{
	if (!crest_path_map_active() || !file || file[0] != '/')
		return REALP(dlopen)(file, mode);
	return dlopen_mapped(file, mode);
}

/* Resolved when libcrest is loaded, not later in a signal handler or a
 * vfork child (dlsym takes the loader lock); a call before this ran
 * resolves lazily. */
__attribute__((constructor)) static void path_wrappers_init(void)
{
	(void)REAL(open);
	(void)REAL(open64);
	(void)REAL(openat);
	(void)REAL(openat64);
	(void)REAL(__open_2);
	(void)REAL(__open64_2);
	(void)REAL(__openat_2);
	(void)REAL(__openat64_2);
	(void)REAL(creat);
	(void)REAL(creat64);
	(void)REALP(fopen);
	(void)REALP(fopen64);
	(void)REALP(freopen);
	(void)REALP(freopen64);
	(void)REAL(stat);
	(void)REAL(stat64);
	(void)REAL(lstat);
	(void)REAL(lstat64);
	(void)REAL(fstatat);
	(void)REAL(fstatat64);
	(void)REAL(__xstat);
	(void)REAL(__xstat64);
	(void)REAL(__lxstat);
	(void)REAL(__lxstat64);
	(void)REAL(__fxstatat);
	(void)REAL(__fxstatat64);
	(void)REAL(statx);
	(void)REAL(statfs);
	(void)REAL(statfs64);
	(void)REAL(statvfs);
	(void)REAL(statvfs64);
	(void)REAL(access);
	(void)REAL(faccessat);
	(void)REAL(euidaccess);
	(void)REAL(eaccess);
	(void)REALP(opendir);
	(void)REAL(chdir);
	(void)REAL(mkdir);
	(void)REAL(mkdirat);
	(void)REAL(rmdir);
	(void)REAL(unlink);
	(void)REAL(unlinkat);
	(void)REAL(rename);
	(void)REAL(renameat);
	(void)REAL(renameat2);
	(void)REAL(link);
	(void)REAL(linkat);
	(void)REAL(symlink);
	(void)REAL(symlinkat);
	(void)REAL(readlink);
	(void)REAL(readlinkat);
	(void)REAL(__readlink_chk);
	(void)REAL(__readlinkat_chk);
	(void)REALP(realpath);
	(void)REALP(__realpath_chk);
	(void)REALP(canonicalize_file_name);
	(void)REALP(getcwd);
	(void)REALP(__getcwd_chk);
	(void)REALP(get_current_dir_name);
	(void)REAL(truncate);
	(void)REAL(truncate64);
	(void)REAL(chmod);
	(void)REAL(fchmodat);
	(void)REAL(chown);
	(void)REAL(lchown);
	(void)REAL(fchownat);
	(void)REAL(utime);
	(void)REAL(utimes);
	(void)REAL(lutimes);
	(void)REAL(futimesat);
	(void)REAL(utimensat);
	(void)REAL(mkfifo);
	(void)REAL(mkfifoat);
	(void)REAL(mknod);
	(void)REAL(mknodat);
	(void)REAL(__xmknod);
	(void)REAL(__xmknodat);
	(void)REALP(dlopen);
}
