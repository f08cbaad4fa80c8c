/* SPDX-License-Identifier: MIT */
/*
 * SysV shared memory ids across restarts (docs/architecture.md, "SysV
 * shared memory").
 *
 * At a checkpoint every attached segment is a shared region of the image
 * (dump.c); crest_sysv_describe() adds what the restart needs: the id the
 * program knows (the region's ino), the segment's size and its mode, with
 * SHM_DEST when the program had removed it (IPC_RMID) and it lived on only
 * through its attachments.  `crest restart` makes one new segment per id
 * (with the same key, unless removed), fills it, has every process attach
 * it at its old address, and writes DIR/SYSV: "OLD NEW" per segment
 * (sched/cli_tree_sysv.c).  Here, the program's shmget, shmat and shmctl
 * go through that table: the program keeps using the ids it had.
 *
 * Before the first restart there is no table: each wrapper is one load and
 * a branch.  The table is read once per incarnation (the restart count;
 * a program exec'ed after a restart starts from its CREST_RESTART_COUNT).
 * Not covered: segments no process had attached at the checkpoint (they
 * are not saved), ids passed through raw system calls, a segment created
 * after a restart that the kernel gives an id some restored segment had.
 */
#define LOG_MODULE "sysv"
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ckdir.h"
#include "crest.h"
#include "log.h"
#include "vpid.h"

#define EXPORT __attribute__((visibility("default")))
#define SYSV_MAX 256

static struct { int old, now; } map[SYSV_MAX];
static uint32_t nmap;
static uint32_t loaded_for;	/* the restart count the table was read for; 0: none */

static __typeof__(shmget) *real_shmget;
static __typeof__(shmat) *real_shmat;
static __typeof__(shmctl) *real_shmctl;

static void resolve(void)
{
	if (__builtin_expect(!real_shmctl, 0)) {
		real_shmget = (__typeof__(shmget) *)dlsym(RTLD_NEXT, "shmget");
		real_shmat = (__typeof__(shmat) *)dlsym(RTLD_NEXT, "shmat");
		real_shmctl = (__typeof__(shmctl) *)dlsym(RTLD_NEXT, "shmctl");
	}
}

/* resolved at load, not while the other threads are stopped (dlsym takes
 * the loader's lock, which one of them may hold) */
__attribute__((constructor)) static void sysv_shm_init(void)
{
	resolve();
}

/* restarts this process went through (a program exec'ed after one: its
 * CREST_RESTART_COUNT, read at start) */
static uint32_t incarnation(void)
{
	return crest.restart_count;
}

/* DIR/SYSV of this incarnation, once; a missing file: no segment moved.
 * Raw reads, no malloc: also called while the program's threads are
 * stopped (one may hold malloc's lock). */
static void load(void)
{
	uint32_t inc = incarnation();
	if (__builtin_expect(inc == __atomic_load_n(&loaded_for, __ATOMIC_ACQUIRE), 1))
		return;
	char path[4200];
	static char buf[SYSV_MAX * 24];
	uint32_t n = 0;
	ckdir_tree_file(path, sizeof(path), crest.dir, "SYSV", crest.task);
	int fd = crest.dir[0] ? (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC) : -1;
	ssize_t len = 0;
	if (fd >= 0) {
		for (ssize_t r; len < (ssize_t)sizeof(buf) - 1 &&
				(r = syscall(SYS_read, fd, buf + len, sizeof(buf) - 1 - len)) > 0;)
			len += r;
		close(fd);
	}
	buf[len > 0 ? len : 0] = 0;
	for (char *p = buf, *e; n < SYSV_MAX; p = e) {
		long old = strtol(p, &e, 10);
		if (e == p)
			break;
		p = e;
		long now = strtol(p, &e, 10);
		if (e == p)
			break;
		if (old != now) {
			map[n].old = (int)old;
			map[n].now = (int)now;
			n++;
		}
	}
	nmap = n;
	__atomic_store_n(&loaded_for, inc, __ATOMIC_RELEASE);
}

static int to_real(int id)
{
	load();
	for (uint32_t i = 0; i < nmap; i++)
		if (map[i].old == id)
			return map[i].now;
	return id;
}

static int to_virtual(int id)
{
	load();
	for (uint32_t i = 0; i < nmap; i++)
		if (map[i].now == id)
			return map[i].old;
	return id;
}

/* dump.c: a /SYSV region of the image, while the program's threads are
 * stopped: the id the program knows, the size and mode of the segment */
void crest_sysv_describe(struct crest_img_region *r)
{
	struct shmid_ds ds;	/* the kernel's shmid64_ds on x86_64 */
	if (syscall(SYS_shmctl, (int)r->ino, IPC_STAT, &ds) == 0) {
		r->file_size = ds.shm_segsz;
		r->sysv_mode = ds.shm_perm.mode;
	}
	if (incarnation())
		r->ino = (uint64_t)(uint32_t)to_virtual((int)r->ino);
}

EXPORT int shmget(key_t key, size_t size, int flags)
{
	resolve();
	int r = real_shmget(key, size, flags);
	return r >= 0 && incarnation() ? to_virtual(r) : r;
}

EXPORT void *shmat(int id, const void *addr, int flags)
{
	resolve();
	return real_shmat(incarnation() ? to_real(id) : id, addr, flags);
}

static void virtual_pids(struct shmid_ds *buf)
{
	buf->shm_cpid = crest_real_to_vpid(buf->shm_cpid);
	buf->shm_lpid = crest_real_to_vpid(buf->shm_lpid);
}

EXPORT int shmctl(int id, int cmd, struct shmid_ds *buf)
{
	resolve();
	if (!incarnation())
		return real_shmctl(id, cmd, buf);
	switch (cmd) {
	case IPC_INFO:
	case SHM_INFO:	/* no id */
		return real_shmctl(id, cmd, buf);
	case SHM_STAT:
	case SHM_STAT_ANY: {	/* an index in, an id out */
		int r = real_shmctl(id, cmd, buf);
		if (r >= 0 && buf)
			virtual_pids(buf);
		return r >= 0 ? to_virtual(r) : r;
	}
	}
	int r = real_shmctl(to_real(id), cmd, buf);
	if (r == 0 && cmd == IPC_STAT && buf)
		virtual_pids(buf);
	return r;
}
