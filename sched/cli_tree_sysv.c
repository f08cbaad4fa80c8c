/* SPDX-License-Identifier: MIT */
/*
 * crest restart: SysV shared memory segments (preload/sysv_shm.c says what
 * the checkpoint records and how the program keeps its ids).
 *
 * For each segment (a shared object whose path is /SYSV<key>):
 *   - a new segment of the saved size and mode: with its key again, unless
 *     the program had removed it (SHM_DEST) or had none (IPC_PRIVATE); a
 *     segment that still has that key (the killed run's, never removed) is
 *     used again when it is large enough, else a private one is made and a
 *     line says so;
 *   - `crest restart` attaches it to write the saved pages in, and detaches
 *     before it forks the tree: only the restored processes are attached;
 *   - each restored process attaches it at its old address (crest-restart,
 *     `--shm-fds REGION:sID:N`); a removed one is removed again by the
 *     process that sees all N attachments made;
 *   - DIR/SYSV lists "OLD NEW" for libcrest (made again at every restart,
 *     so a later program exec'ed loads the table of this incarnation).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include "ckdir.h"
#include "cli_tree_int.h"

bool tree_shm_is_sysv(const struct tshm *o)
{
	return !strncmp(o->path, "/SYSV", 5);
}

/* how many attachments of o the tree makes: one per process and address */
static uint32_t attachments(const struct tree *t, const struct tshm *o)
{
	uint32_t n = 0;
	for (size_t i = 0; i < t->n; i++) {
		const struct tproc *tp = &t->p[i];
		for (size_t k = 0; k < tp->nregions; k++) {
			const struct crest_img_region *r = &tp->regions[k];
			if (r->kind != CREST_REG_SHARED_ANON || r->ino != o->ino || strcmp(r->path, o->path))
				continue;
			bool seen = false;	/* another region of the same attachment */
			for (size_t j = 0; j < k && !seen; j++)
				seen = tp->regions[j].kind == CREST_REG_SHARED_ANON && tp->regions[j].ino == r->ino &&
				       !strcmp(tp->regions[j].path, r->path) &&
				       tp->regions[j].start - tp->regions[j].offset == r->start - r->offset;
			n += !seen;
		}
	}
	return n;
}

int tree_sysv_make(struct tree *t, struct tshm *o, char *err, size_t errlen)
{
	key_t key = (key_t)strtoul(o->path + 5, NULL, 16);
	uint64_t size = o->segsz ? o->segsz : o->size;
	int mode = o->mode ? (int)(o->mode & 0777) : 0600;
	bool removed = o->mode & SHM_DEST;
	int id = -1;

	if (key != IPC_PRIVATE && !removed) {
		id = shmget(key, size, IPC_CREAT | IPC_EXCL | mode);
		if (id < 0 && errno == EEXIST) {
			id = shmget(key, 0, 0);	/* the killed run's, or another program's */
			struct shmid_ds ds;
			if (id >= 0 && (shmctl(id, IPC_STAT, &ds) || ds.shm_segsz < size)) {
				fprintf(stderr, "crest: restart: SysV key 0x%x belongs to a smaller segment now: the "
					"program's segment %" PRIu64 " comes back without its key\n", (unsigned)key,
					o->ino);
				id = -1;
			}
		}
	}
	if (id < 0)
		id = shmget(IPC_PRIVATE, size, IPC_CREAT | mode | 0600);
	if (id < 0) {
		snprintf(err, errlen, "cannot create SysV shared memory of %" PRIu64 " bytes (segment %" PRIu64
			 "): %s", size, o->ino, strerror(errno));
		return -errno;
	}
	void *p = shmat(id, NULL, 0);
	if (p == (void *)-1) {
		snprintf(err, errlen, "cannot attach the new SysV segment %d: %s", id, strerror(errno));
		return -errno;
	}
	o->sysv_id = id;
	o->map = p;
	o->attaches = removed ? attachments(t, o) : 0;
	return 0;
}

/* after the pages are in: detach, and tell libcrest the new ids */
int tree_sysv_done(struct tree *t, char *err, size_t errlen)
{
	char path[4200], tmp[4300];
	bool any = false;

	for (size_t i = 0; i < t->nshm; i++)
		if (t->shm[i].map) {
			shmdt(t->shm[i].map);
			t->shm[i].map = NULL;
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
