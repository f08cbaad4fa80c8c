/* SPDX-License-Identifier: MIT */
/*
 * crest restart: SysV shared memory segments (preload/sysv_shm.c says what
 * the checkpoint records and how the program keeps its ids).
 *
 * For each segment (a shared object whose path is "/SYSV<key> (deleted)"):
 *   - a new segment of the saved size: with its key again, unless the
 *     program had removed it (SHM_DEST) or had none (IPC_PRIVATE).  A
 *     segment that still has that key is used again only if nobody is
 *     attached to it, it is ours and it has the same size (the killed run's
 *     own, never removed); else a private one is made and a line says so;
 *   - `crest restart` attaches it, zeroes it (pages not saved were never
 *     touched), writes the saved pages in, gives it its saved mode and
 *     detaches before it forks the tree;
 *   - each restored process attaches it at its old address (crest-restart,
 *     `--shm-fds REGION:sID:N:FD:IDX`).  A removed segment is removed again
 *     by the process whose attachment is the N-th: a counter per segment
 *     in a memfd (FD, slot IDX) that every crest-restart increments;
 *   - RUNDIR/SYSV lists "OLD NEW" for libcrest (written at every restart,
 *     removed when there is no segment, so no older table is read);
 *   - a restart that fails before the tree is forked removes the segments
 *     it made.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#include "ckdir.h"
#include "cli_tree_int.h"

bool tree_shm_is_sysv(const struct tshm *o)
{
	const char *tail = " (deleted)";
	size_t n = strlen(o->path);
	return !strncmp(o->path, "/SYSV", 5) && n > strlen(tail) && !strcmp(o->path + n - strlen(tail), tail);
}

static bool same_object(const struct crest_img_region *r, const struct tshm *o)
{
	return r->kind == CREST_REG_SHARED_ANON && r->ino == o->ino && !strcmp(r->path, o->path);
}

/* how many attachments of o the tree makes: one per process and address */
static uint32_t attachments(const struct tree *t, const struct tshm *o)
{
	uint32_t n = 0;
	for (size_t i = 0; i < t->n; i++) {
		const struct tproc *tp = &t->p[i];
		for (size_t k = 0; k < tp->nregions; k++) {
			const struct crest_img_region *r = &tp->regions[k];
			if (!same_object(r, o))
				continue;
			bool seen = false;	/* another region of the same attachment */
			for (size_t j = 0; j < k && !seen; j++)
				seen = same_object(&tp->regions[j], o) &&
				       tp->regions[j].start - tp->regions[j].offset == r->start - r->offset;
			n += !seen;
		}
	}
	return n;
}

/* the segment that has key now, if it may be used again: nobody attached,
 * ours, the same size; else -1 */
static int reusable(key_t key, uint64_t size)
{
	struct shmid_ds ds;
	int id = shmget(key, 0, 0);
	if (id < 0 || shmctl(id, IPC_STAT, &ds) || ds.shm_nattch || ds.shm_perm.cuid != geteuid() ||
	    ds.shm_segsz != size)
		return -1;
	return id;
}

int tree_sysv_make(struct tree *t, struct tshm *o, char *err, size_t errlen)
{
	key_t key = (key_t)strtoul(o->path + 5, NULL, 16);
	uint64_t size = o->segsz ? o->segsz : o->size;
	bool removed = o->mode & SHM_DEST;
	int id = -1;

	if (key != IPC_PRIVATE && !removed) {
		id = shmget(key, size, IPC_CREAT | IPC_EXCL | 0600);
		o->created = id >= 0;
		if (id < 0 && (id = reusable(key, size)) < 0)
			fprintf(stderr, "crest: restart: SysV key 0x%x is taken by another segment: the program's "
				"segment %" PRIu64 " comes back without its key\n", (unsigned)key, o->ino);
	}
	if (id < 0) {
		id = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
		o->created = id >= 0;
	}
	if (id < 0) {
		snprintf(err, errlen, "cannot create SysV shared memory of %" PRIu64 " bytes (segment %" PRIu64
			 "): %s", size, o->ino, strerror(errno));
		return -errno;
	}
	o->sysv_id = id;
	void *p = shmat(id, NULL, 0);
	if (p == (void *)-1) {
		snprintf(err, errlen, "cannot attach the new SysV segment %d: %s", id, strerror(errno));
		return -errno;
	}
	memset(p, 0, size);
	o->map = p;
	o->attaches = removed ? attachments(t, o) : 0;
	if (removed) {	/* its slot in the counters every crest-restart adds its attachment to */
		if (t->sysv_count_fd < 0) {
			int fd = memfd_create("crest-sysv-attach", MFD_CLOEXEC);
			t->sysv_count_fd = fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, t->fd_base);
			if (fd >= 0)
				close(fd);
			if (t->sysv_count_fd < 0 || ftruncate(t->sysv_count_fd, 4096) < 0) {
				snprintf(err, errlen, "cannot make the SysV attachment counters: %s", strerror(errno));
				return -errno;
			}
		}
		o->count_slot = t->sysv_nslots++;
		if (o->count_slot >= 4096 / sizeof(uint32_t)) {
			snprintf(err, errlen, "more than %zu removed SysV segments", 4096 / sizeof(uint32_t));
			return -E2BIG;
		}
	}
	return 0;
}

/* after the pages are in: the saved mode, detached, and the new ids told
 * to libcrest */
int tree_sysv_done(struct tree *t, char *err, size_t errlen)
{
	char path[4200], tmp[4300];
	bool any = false;

	for (size_t i = 0; i < t->nshm; i++) {
		struct tshm *o = &t->shm[i];
		if (!o->map)
			continue;
		struct shmid_ds ds;
		if (o->mode && !shmctl(o->sysv_id, IPC_STAT, &ds)) {
			ds.shm_perm.mode = (ds.shm_perm.mode & ~0777u) | (o->mode & 0777u);
			shmctl(o->sysv_id, IPC_SET, &ds);
		}
		shmdt(o->map);
		o->map = NULL;
		any = true;
	}
	if (!t->run)
		return 0;
	ckdir_tree_file(path, sizeof(path), t->run, "SYSV", t->task);
	if (!any) {
		unlink(path);	/* an older incarnation's must not be read */
		return 0;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "we");
	if (!f) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		return -errno;
	}
	for (size_t i = 0; i < t->nshm; i++)
		if (t->shm[i].sysv_id >= 0)
			fprintf(f, "%" PRIu64 " %d\n", t->shm[i].ino, t->shm[i].sysv_id);
	if (fclose(f) || rename(tmp, path)) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		return -errno;
	}
	return 0;
}

void tree_sysv_abort(struct tree *t)
{
	for (size_t i = 0; i < t->nshm; i++) {
		struct tshm *o = &t->shm[i];
		if (o->map)
			shmdt(o->map);
		o->map = NULL;
		if (o->created && o->sysv_id >= 0)
			shmctl(o->sysv_id, IPC_RMID, NULL);
		o->sysv_id = -1;
	}
}

int tree_sysv_arg(const struct tree *t, const struct tshm *o, size_t region, char *buf, size_t size)
{
	if (o->attaches)
		return snprintf(buf, size, "%zu:s%d:%u:%d:%u", region, o->sysv_id, o->attaches, t->sysv_count_fd,
				o->count_slot);
	return snprintf(buf, size, "%zu:s%d:0:-1:0", region, o->sysv_id);
}
