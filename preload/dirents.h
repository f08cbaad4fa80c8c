/* SPDX-License-Identifier: MIT */
/* Numbered entries of a /proc folder (fd, task), read with the raw
 * getdents64 system call: no malloc (the checkpoint runs it while the
 * program's threads are stopped, one of them maybe inside malloc). */
#ifndef CREST_DIRENTS_H
#define CREST_DIRENTS_H

struct crest_dirents {
	int fd;			/* the open folder, the caller's */
	long n, off;
	char name[32];		/* the entry last returned */
	char buf[4096];
};

/* the next entry whose name is a number: that number, or -1 at the end */
long crest_dirents_next(struct crest_dirents *d);

#endif
