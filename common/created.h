/* SPDX-License-Identifier: MIT */
/*
 * What a computation created since its last checkpoint, so that a restart
 * can take it away (docs/architecture.md, "Files made after the
 * checkpoint").  A restarted computation continues from the moment of its
 * checkpoint; a file one of its processes created after that moment, in a
 * run that was then killed, would otherwise be waiting for it: `make` takes
 * the empty object of a killed `as` for an up-to-date one, a script's
 * `mkdir out` fails on the directory it made the first time.
 *
 * The journal, RUNDIR/CREATED, is a sequence of records, each
 *
 *     KIND ' ' DEV ' ' INO ' ' BORN ' ' FLAG ' ' PATH '\0'
 *
 * DEV, INO and BORN (its birth time in ns, 0 where the file system keeps
 * none) in decimal, PATH absolute.  KIND is 'f' (a file, FIFO or device
 * node was made), 'd' (a folder was made), 'm' (the file or folder now at
 * PATH, DEV:INO, was renamed there; FLAG '1': something was at PATH
 * before), 'u' (what was at PATH was unlinked or removed; DEV, INO, BORN
 * 0) or 'e' (the process `crest launch` started ended on its own; PATH
 * "/", the rest 0).  FLAG is '0' but in an 'm'.  Processes append records
 * (one write(2) each, O_APPEND); a last record cut short (a process
 * killed mid-write cannot cut it, but a full disk can) is ignored.

 * The coordinator of each node copies RUNDIR/CREATED into every generation
 * it writes (gen-N/n<node>/CREATED: what was made between generation N-1
 * and N) and empties it when the generation is committed, while the
 * processes are still stopped.  A restart from generation K replays the
 * copies of the generations after K, then RUNDIR/CREATED, and removes each
 * file and empty directory that is still the one created (same device,
 * inode and birth time: an inode number is soon used again) and that did
 * not take the place of something older (renamed over it, or made where
 * an older one was unlinked).
 */
#ifndef CREST_CREATED_H
#define CREST_CREATED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CREST_CREATED_NAME	"CREATED"
#define CREST_CREATED_REC_MAX	(4096 + 64)

/* one record in buf; its length with the NUL, or 0 if it does not fit */
size_t crest_created_format(char *buf, size_t size, char kind, uint64_t dev, uint64_t ino, uint64_t born,
			    bool replaced, const char *path);

struct crest_created {
	char kind;			/* 'f' or 'd' */
	bool replaced;			/* renamed over an older one: kept */
	uint64_t dev, ino, born;	/* born: ns, 0 unknown */
	char *path;			/* where it is now, as far as the journal knows */
};

struct crest_created_set {
	struct crest_created *e;
	size_t n;
	char **gone;			/* paths where something older was removed */
	size_t ngone;
	bool ended;			/* an 'e' record: the computation ended on its own */
};

/* Replays the journal at `path` into s (records after those already in it).
 * When the file begins with the whole content of the file `before` (the
 * copy of the generation before, a journal that was not emptied at its
 * commit), that part is skipped.  A missing file is an empty journal.
 * 0 or -errno. */
int crest_created_load(struct crest_created_set *s, const char *path, const char *before);
void crest_created_free(struct crest_created_set *s);

struct crest_created_counts {
	unsigned files, dirs;		/* removed */
	unsigned unsure;		/* kept: the file system keeps no birth time */
};

/* Removes what s lists that is still there, the same file (device, inode,
 * kind, birth time) and born at `not_before` (seconds) or later: files
 * first, then directories, deepest first, only if empty.  Where the file
 * system keeps no birth time nothing is removed (c->unsure counts them).
 * Each path removed is written to `removed` (one per line) when it is not
 * NULL.  Returns how many it could not remove for another reason than
 * their being gone or changed (and says so on stderr, prefixed with
 * `who`). */
unsigned crest_created_undo(const struct crest_created_set *s, int64_t not_before, FILE *removed, const char *who,
			    struct crest_created_counts *c);

/* The coordinator's part: RUNDIR/CREATED copied to `to` and fsynced (no
 * journal: nothing written), and emptied.  0 or -errno. */
int crest_created_copy(const char *rundir, const char *to);
int crest_created_reset(const char *rundir);

#endif
