/* SPDX-License-Identifier: MIT */
/*
 * Helper of test_path_map: the path wrappers (preload/path_wrappers.c)
 * compiled into this program, so that its own calls go through them, with
 * the map a restart with --path-map /tmp/crest-pm-old.P=/tmp/crest-pm-new.P.d
 * would leave (P: this process's pid).  Only the new directory exists; the
 * program uses old paths throughout and must see them back.
 * Exits 0 when every check passed, 1 at the first that failed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../../preload/path_map.c"
#include "../../preload/path_wrappers.c"

/* the record of created files (preload/created_record.c) is not what this
 * helper tests: nothing is recorded */
int crest_ckpt_hold(void)
{
	return CREST_NOT_HELD;
}
void crest_ckpt_release(int held)
{
	(void)held;
}
bool crest_created_want(void)
{
	return false;
}
void crest_created_removed(int dirfd, const char *path)
{
	(void)dirfd, (void)path;
}
bool crest_created_missing(int dirfd, const char *path, int flags)
{
	(void)dirfd, (void)path, (void)flags;
	return false;
}
void crest_created_fd(int fd)
{
	(void)fd;
}
bool crest_created_exists(int dirfd, const char *path)
{
	(void)dirfd, (void)path;
	return false;
}
void crest_created_at(int dirfd, const char *path, char kind, bool replaced)
{
	(void)dirfd, (void)path, (void)kind, (void)replaced;
}

#define CHECK(c) do { if (!(c)) { \
	fprintf(stderr, "  path_map_child:%d: expected %s (errno %d)\n", __LINE__, #c, errno); \
	exit(1); } } while (0)
#define CHECK_STR(a, b) do { const char *_a = (a), *_b = (b); if (!_a || strcmp(_a, _b)) { \
	fprintf(stderr, "  path_map_child:%d: %s == \"%s\", expected \"%s\" (errno %d)\n", \
		__LINE__, #a, _a ? _a : "(null)", _b, errno); exit(1); } } while (0)

static char oldd[128], newd[128];

/* what the kernel says, without the wrappers */
static bool raw_exists(const char *path)
{
	struct stat st;
	return syscall(SYS_newfstatat, AT_FDCWD, path, &st, 0) == 0;
}

static void cleanup(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", oldd, newd);
	if (system(cmd))
		fprintf(stderr, "  path_map_child: cannot remove %s\n", newd);
}

static void empty_map(void)
{
	char b[64];
	CHECK(!crest_path_map_active());
	/* a pass-through: the old directory does not exist */
	errno = 0;
	CHECK(open(oldd, O_RDONLY | O_DIRECTORY) < 0 && errno == ENOENT);
	CHECK(getcwd(b, sizeof(b)));
}

int main(void)
{
	char p[PATH_MAX], q[PATH_MAX], r[PATH_MAX];

	snprintf(oldd, sizeof(oldd), "/tmp/crest-pm-old.%d", (int)getpid());
	snprintf(newd, sizeof(newd), "/tmp/crest-pm-new.%d.d", (int)getpid());
	if (mkdir(newd, 0700) < 0) {
		perror(newd);
		return 1;
	}
	atexit(cleanup);
	empty_map();

	char spec[300];
	int len = snprintf(spec, sizeof(spec), "%s%c%s%c", oldd, 0, newd, 0);
	CHECK(crest_path_map_set(spec, (size_t)len + 1) == 0);
	CHECK(crest_path_map_active());

	/* open, creat, fopen: the files land in the new directory */
	snprintf(p, sizeof(p), "%s/f", oldd);
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0640);
	CHECK(fd >= 0);
	CHECK(write(fd, "hello\n", 6) == 6);
	snprintf(q, sizeof(q), "%s/f", newd);
	CHECK(raw_exists(q));
	CHECK(!raw_exists(p));
	struct stat st;
	CHECK(fstat(fd, &st) == 0 && (st.st_mode & 0777) == 0640);

	/* /proc/self/fd/N: back in old terms */
	char lnk[64];
	snprintf(lnk, sizeof(lnk), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(lnk, r, sizeof(r));
	CHECK(n == (ssize_t)strlen(p) && !memcmp(r, p, (size_t)n));
	/* readlink truncates without a NUL */
	memset(r, 'z', sizeof(r));
	CHECK(readlink(lnk, r, 5) == 5 && !memcmp(r, oldd, 5) && r[5] == 'z');
	errno = 0;
	CHECK(readlink(lnk, r, 0) < 0 && errno == EINVAL);
	CHECK(close(fd) == 0);

	FILE *f = fopen(p, "r");
	CHECK(f);
	CHECK(fgets(r, sizeof(r), f) && !strcmp(r, "hello\n"));
	fclose(f);
	int fd2 = openat(AT_FDCWD, p, O_RDONLY);
	CHECK(fd2 >= 0);
	close(fd2);

	/* stat and friends */
	struct stat a, b;
	CHECK(stat(p, &a) == 0 && lstat(p, &b) == 0 && a.st_ino == b.st_ino);
	CHECK(fstatat(AT_FDCWD, p, &b, 0) == 0 && a.st_ino == b.st_ino);
	CHECK(access(p, R_OK) == 0);
	CHECK(chmod(p, 0600) == 0 && stat(p, &a) == 0 && (a.st_mode & 0777) == 0600);
	CHECK(truncate(p, 2) == 0 && stat(p, &a) == 0 && a.st_size == 2);

	/* directories, names */
	snprintf(p, sizeof(p), "%s/sub", oldd);
	CHECK(mkdir(p, 0700) == 0);
	DIR *d = opendir(oldd);
	CHECK(d);
	int seen = 0;
	for (struct dirent *e; (e = readdir(d));)
		seen += !strcmp(e->d_name, "f") || !strcmp(e->d_name, "sub");
	closedir(d);
	CHECK(seen == 2);
	snprintf(q, sizeof(q), "%s/g", oldd);
	snprintf(r, sizeof(r), "%s/f", oldd);
	CHECK(rename(r, q) == 0);
	CHECK(link(q, r) == 0);
	/* an absolute target is mapped, a relative one is not */
	char l1[PATH_MAX], l2[PATH_MAX];
	snprintf(l1, sizeof(l1), "%s/abs", oldd);
	snprintf(l2, sizeof(l2), "%s/rel", oldd);
	CHECK(symlink(q, l1) == 0 && symlink("g", l2) == 0);
	char t[PATH_MAX];
	CHECK(!raw_exists(l1));		/* the link is in the new directory */
	snprintf(t, sizeof(t), "%s/abs", newd);
	n = syscall(SYS_readlinkat, AT_FDCWD, t, r, sizeof(r));
	CHECK(n > 0 && !strncmp(r, newd, strlen(newd)));	/* stored new */
	n = readlink(l1, r, sizeof(r) - 1);
	CHECK(n > 0);
	r[n] = 0;
	CHECK_STR(r, q);			/* shown old */
	n = readlink(l2, r, sizeof(r) - 1);
	CHECK(n == 1 && r[0] == 'g');
	CHECK(stat(l1, &a) == 0 && stat(l2, &b) == 0 && a.st_ino == b.st_ino);
	CHECK(unlink(l1) == 0 && unlink(l2) == 0 && unlink(q) == 0);

	/* cwd: chdir to the old name, see it back */
	CHECK(chdir(p) == 0);
	CHECK(getcwd(r, sizeof(r)));
	CHECK_STR(r, p);
	char *g = getcwd(NULL, 0);
	CHECK_STR(g, p);
	free(g);
	g = getcwd(NULL, sizeof(r));
	CHECK_STR(g, p);
	free(g);
	errno = 0;
	CHECK(!getcwd(r, strlen(p)) && errno == ERANGE);	/* no room for the NUL */
	errno = 0;
	CHECK(!getcwd(NULL, strlen(p)) && errno == ERANGE);
	errno = 0;
	CHECK(!getcwd(r, 0) && errno == EINVAL);
	CHECK(getcwd(r, strlen(p) + 1));
	n = readlink("/proc/self/cwd", r, sizeof(r) - 1);
	CHECK(n > 0);
	r[n] = 0;
	CHECK_STR(r, p);
	snprintf(t, sizeof(t), "/proc/%d/cwd", (int)getpid());
	n = readlink(t, r, sizeof(r) - 1);
	CHECK(n > 0);
	r[n] = 0;
	CHECK_STR(r, p);
	setenv("PWD", p, 1);
	g = get_current_dir_name();
	CHECK_STR(g, p);
	free(g);
	setenv("PWD", "/nonexistent", 1);
	g = get_current_dir_name();
	CHECK_STR(g, p);
	free(g);

	/* realpath, relative and absolute, with and without a buffer */
	CHECK_STR(realpath(".", r), p);
	g = realpath("..", NULL);
	CHECK_STR(g, oldd);
	free(g);
	snprintf(q, sizeof(q), "%s/sub/../f", oldd);
	snprintf(t, sizeof(t), "%s/f", oldd);
	CHECK_STR(realpath(q, r), t);
	g = canonicalize_file_name(q);
	CHECK_STR(g, t);
	free(g);
	errno = 0;
	CHECK(!realpath("/tmp/crest-pm-nothing/x", r) && errno == ENOENT);

	/* relative paths are left alone: they resolve in the new cwd */
	fd = open("../f", O_RDONLY);
	CHECK(fd >= 0);
	close(fd);
	CHECK(chdir("/") == 0);
	CHECK(rmdir(p) == 0);

	/* too long once mapped: ENAMETOOLONG, the real function not called */
	static char big[PATH_MAX];
	memset(big, 'x', sizeof(big) - 1);	/* fits old, not new (2 longer) */
	memcpy(big, oldd, strlen(oldd));
	big[strlen(oldd)] = '/';
	errno = 0;
	CHECK(open(big, O_RDONLY) < 0 && errno == ENAMETOOLONG);
	errno = 0;
	CHECK(stat(big, &a) < 0 && errno == ENAMETOOLONG);

	/* NULL stays NULL for the real function */
	errno = 0;
	const char *nul = NULL;
	__asm__("" : "+r"(nul));
	CHECK(access(nul, F_OK) < 0 && errno == EFAULT);

	/* exec's helper */
	CHECK_STR(crest_path_for_exec(t, q, sizeof(q)), q);
	snprintf(r, sizeof(r), "%s/f", newd);
	CHECK_STR(q, r);

	/* and empty again: pass-through */
	CHECK(crest_path_map_set("", 1) == 0);
	snprintf(p, sizeof(p), "%s/f", oldd);
	errno = 0;
	CHECK(stat(p, &a) < 0 && errno == ENOENT);
	return 0;
}
