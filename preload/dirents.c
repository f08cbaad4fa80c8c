/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dirents.h"

long crest_dirents_next(struct crest_dirents *d)
{
	for (;;) {
		if (d->off >= d->n) {
			d->n = syscall(SYS_getdents64, d->fd, d->buf, sizeof(d->buf));
			d->off = 0;
			if (d->n <= 0)
				return -1;
		}
		struct dirent64 { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; };
		const struct dirent64 *e = (const struct dirent64 *)(d->buf + d->off);
		d->off += e->reclen;
		if (e->name[0] < '0' || e->name[0] > '9' || strlen(e->name) >= sizeof(d->name))
			continue;
		strcpy(d->name, e->name);
		return strtol(e->name, NULL, 10);
	}
}
