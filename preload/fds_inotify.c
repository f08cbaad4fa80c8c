/* SPDX-License-Identifier: MIT */
/*
 * inotify fds (anon_inode:inotify): their watches saved and made again, each
 * with the watch descriptor (wd) the program knows.
 *
 * The kernel tells, in /proc/self/fdinfo/N, every watch of an inotify fd:
 * "inotify wd:W ino:I sdev:D mask:M ..." (hex; D in the kernel's dev_t
 * encoding), but not the path it was added with.  The inotify_add_watch
 * wrapper below keeps, for every inode the program watched, the path it
 * named, absolute, in the program's terms (those of the first run: a path
 * map at a restart translates them); the checkpoint looks each watch's
 * inode up there (device and inode, or the inode alone where it is the
 * only one: btrfs's subvolumes report another device in stat than in
 * fdinfo).  A watch whose inode is not there (added by a raw system call)
 * fails the checkpoint (WRITE), naming the fd.
 *
 * At restart the fd is made again (inotify_init1, same O_NONBLOCK) and its
 * watches added in the order of their wds.  The kernel gives wds in a
 * cycle (1, 2, 3 ... whatever was removed), so a watch added and removed
 * again on a path none of the fd's watches names moves it to the next
 * wd, until the wanted one; the events of these spare watches are read
 * away.  Events waiting in the fd at the checkpoint are lost
 * (docs/unsupported.md).
 */
#define LOG_MODULE "fds"
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "crest.h"
#include "log.h"
#include "path_map.h"

#define EXPORT __attribute__((visibility("default")))
#define KNOWN_MAX	16384	/* inodes the program watched, with their path */
#define WATCHES_MAX	16384	/* watches of all inotify fds at a checkpoint */
#define WD_STEPS_MAX	(1u << 24)

/* written by the wrapper (under `lock`), read at the checkpoint with every
 * thread stopped: an entry is whole before nknown counts it */
static struct known {
	uint64_t dev, ino;
	char *path;
} known[KNOWN_MAX];
static uint32_t nknown;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static struct watch {
	int32_t wd;
	uint32_t mask;
	uint32_t known;		/* index into known[] */
} watches[WATCHES_MAX];
static uint32_t nwatches;

static __typeof__(inotify_add_watch) *real_add;

static void resolve(void)
{
	if (__builtin_expect(!real_add, 0))
		real_add = (__typeof__(inotify_add_watch) *)dlsym(RTLD_NEXT, "inotify_add_watch");
}

/* with `lock` held, or with every other thread stopped (a restart) */
static void remember(uint64_t dev, uint64_t ino, const char *path, bool may_alloc)
{
	uint32_t n = __atomic_load_n(&nknown, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; i < n; i++) {
		if (known[i].dev != dev || known[i].ino != ino)
			continue;
		if (strcmp(known[i].path, path) && may_alloc) {
			char *p = strdup(path);	/* the old one is left: a stopped reader may hold it */
			if (p)
				__atomic_store_n(&known[i].path, p, __ATOMIC_RELEASE);
		}
		return;
	}
	if (n >= KNOWN_MAX)
		return;	/* the checkpoint will say so */
	/* at a restart the path is one known[] holds already: no malloc while
	 * the program's threads are stopped (one may hold malloc's lock) */
	char *p = may_alloc ? strdup(path) : (char *)path;
	if (!p)
		return;
	known[n] = (struct known){ .dev = dev, .ino = ino, .path = p };
	__atomic_store_n(&nknown, n + 1, __ATOMIC_RELEASE);
}

static void atfork_child(void)
{
	pthread_mutex_init(&lock, NULL);	/* a thread of the parent may have held it */
}

/* resolved at load, not at a restart with the other threads stopped
 * (dlsym takes the loader's lock, which one of them may hold) */
__attribute__((constructor)) static void inotify_init_lock(void)
{
	resolve();
	pthread_atfork(NULL, NULL, atfork_child);
}

EXPORT int inotify_add_watch(int fd, const char *path, uint32_t mask)
{
	resolve();
	char buf[PATH_MAX], abs[PATH_MAX];
	const char *p = path;
	if (path && crest_path_map_active() && !(p = crest_path_to_new(path, buf, sizeof(buf))))
		return -1;
	int wd = real_add(fd, p, mask);
	if (wd < 0 || !crest.active)
		return wd;
	int e = errno;
	struct stat st;
	/* the path in the program's terms, absolute (libcrest's getcwd answers
	 * in them); stat of the path now (the kernel's call: libcrest's stat
	 * would map it again) */
	const char *prog = path;
	if (path[0] != '/' && getcwd(abs, sizeof(abs)) &&
	    (size_t)snprintf(abs + strlen(abs), sizeof(abs) - strlen(abs), "/%s", path) < sizeof(abs) - strlen(abs))
		prog = abs;
	if (prog[0] == '/' &&
	    !syscall(SYS_newfstatat, AT_FDCWD, p, &st, (mask & IN_DONT_FOLLOW) ? AT_SYMLINK_NOFOLLOW : 0)) {
		pthread_mutex_lock(&lock);
		remember(st.st_dev, st.st_ino, prog, true);
		pthread_mutex_unlock(&lock);
	}
	errno = e;
	return wd;
}

/* the device and inode match, or the inode alone if only one has it */
static const struct known *known_of(uint64_t dev, uint64_t ino)
{
	uint32_t n = __atomic_load_n(&nknown, __ATOMIC_ACQUIRE);
	const struct known *only = NULL;
	int same_ino = 0;
	for (uint32_t i = n; i-- > 0;) {
		if (known[i].ino != ino)
			continue;
		if (known[i].dev == dev)
			return &known[i];
		if (!same_ino++)
			only = &known[i];
	}
	return same_ino == 1 ? only : NULL;
}

void crest_inotify_reset(void)
{
	nwatches = 0;
}

static int by_wd(const void *a, const void *b)
{
	const struct watch *x = a, *y = b;
	return x->wd < y->wd ? -1 : x->wd > y->wd;
}

int crest_inotify_save(int fd, const char *info, uint32_t *first, uint32_t *n, char *err, size_t errlen)
{
	*first = nwatches;
	*n = 0;
	for (const char *l = strstr(info, "inotify wd:"); l; l = strstr(l + 1, "\ninotify wd:")) {
		unsigned wd, mask;
		unsigned long ino, sdev;
		const char *s = l[0] == '\n' ? l + 1 : l;
		if (sscanf(s, "inotify wd:%x ino:%lx sdev:%lx mask:%x", &wd, &ino, &sdev, &mask) != 4) {
			snprintf(err, errlen, "fd %d is an inotify fd whose fdinfo crest cannot read", fd);
			return -ENOTSUP;
		}
		/* the kernel's dev_t: major in the bits above 20 */
		const struct known *k = known_of(makedev(sdev >> 20, sdev & 0xfffff), ino);
		if (!k && __atomic_load_n(&nknown, __ATOMIC_ACQUIRE) >= KNOWN_MAX) {
			snprintf(err, errlen, "inotify fd %d watches inode %lu (wd %u), one of more than %d "
				 "files the program watched: crest keeps the paths of %d", fd, ino, wd, KNOWN_MAX,
				 KNOWN_MAX);
			return -E2BIG;
		}
		if (!k) {
			snprintf(err, errlen, "inotify fd %d watches inode %lu (wd %u), added without "
				 "inotify_add_watch (a raw system call?): its path is not known", fd, ino, wd);
			return -ENOTSUP;
		}
		if (nwatches >= WATCHES_MAX) {
			snprintf(err, errlen, "inotify fd %d: more than %d watches in all", fd, WATCHES_MAX);
			return -E2BIG;
		}
		watches[nwatches++] = (struct watch){ .wd = (int32_t)wd, .mask = mask,
						      .known = (uint32_t)(k - known) };
		++*n;
	}
	qsort(&watches[*first], *n, sizeof(watches[0]), by_wd);
	return 0;
}

/* a watch's path now: the program's, through the path map */
static const char *path_now(const struct watch *w, char *buf, size_t size)
{
	const char *p = known[w->known].path;
	if (crest_path_map_active())
		p = crest_path_to_new(p, buf, size);
	return p;
}

/* a path on which none of `fd`'s watches is (as the files are now), to
 * move the wd counter on */
static const char *spare_path(uint32_t first, uint32_t n)
{
	static const char *const candidates[] = { "/", "/proc", "/dev", "/sys", "/tmp", "/etc" };
	char buf[PATH_MAX];
	for (size_t c = 0; c < sizeof(candidates) / sizeof(candidates[0]); c++) {
		struct stat st, ws;
		bool used = syscall(SYS_newfstatat, AT_FDCWD, candidates[c], &st, 0) < 0;
		for (uint32_t i = 0; !used && i < n; i++) {
			const char *p = path_now(&watches[first + i], buf, sizeof(buf));
			used = p && !syscall(SYS_newfstatat, AT_FDCWD, p, &ws, 0) && ws.st_dev == st.st_dev &&
			       ws.st_ino == st.st_ino;
		}
		if (!used)
			return candidates[c];
	}
	return NULL;
}

/* at a restart, the program's threads stopped: no lock, no malloc */
int crest_inotify_open(int nonblock, uint32_t first, uint32_t n, int orig)
{
	resolve();
	int fd = inotify_init1(IN_CLOEXEC | (nonblock ? IN_NONBLOCK : 0));
	if (fd < 0 || !n)
		return fd;
	const char *spare = spare_path(first, n);
	int next = 1;		/* the wd the kernel gives next */
	for (uint32_t i = 0; i < n; i++) {
		const struct watch *w = &watches[first + i];
		char buf[PATH_MAX];
		const char *path = path_now(w, buf, sizeof(buf));
		for (uint32_t steps = 0; spare && next < w->wd && steps < WD_STEPS_MAX; steps++) {
			int d = real_add(fd, spare, IN_ATTRIB);
			if (d < 0)
				break;
			inotify_rm_watch(fd, d);
			next = d + 1;
		}
		int wd = path ? real_add(fd, path, w->mask) : -1;
		if (wd < 0) {
			pr_warn("restart: inotify fd %d: cannot watch %s again (wd %d): %s; its events are lost",
				orig, known[w->known].path, w->wd, strerrordesc_np(errno));
			continue;
		}
		next = wd + 1;
		if (wd != w->wd)
			pr_warn("restart: inotify fd %d: %s is watched as wd %d now, not %d", orig, path, wd, w->wd);
		/* its inode here, for the next checkpoint */
		struct stat st;
		if (!syscall(SYS_newfstatat, AT_FDCWD, path, &st, (w->mask & IN_DONT_FOLLOW) ? AT_SYMLINK_NOFOLLOW : 0))
			remember(st.st_dev, st.st_ino, known[w->known].path, false);
	}
	/* the IN_IGNORED events of the spare watches are not the program's */
	int fl = fcntl(fd, F_GETFL);
	char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	if (fl >= 0 && !fcntl(fd, F_SETFL, fl | O_NONBLOCK)) {
		while (read(fd, ev, sizeof(ev)) > 0)
			;
		fcntl(fd, F_SETFL, fl);
	}
	return fd;
}
