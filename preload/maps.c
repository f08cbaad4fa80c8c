/* SPDX-License-Identifier: MIT */
/*
 * Reading /proc/self/maps into image region records, and finding which
 * pages of a region hold data (pagemap for private memory, mincore for
 * shared memory).  No malloc: records go to a caller-provided array.
 */
#define LOG_MODULE "maps"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crest.h"
#include "log.h"
#include "maps.h"

static const char *parse_hex(const char *p, uint64_t *v)
{
	*v = strtoull(p, (char **)&p, 16);
	return p;
}

int crest_maps_read(struct crest_maps *m, char *err, size_t errlen)
{
	char buf[8192];
	size_t have = 0;
	int rc = 0;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot read /proc/self/maps: %s", strerrordesc_np(errno));
		return -errno;
	}
	m->n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			goto out;
		}
		have += r;
		buf[have] = 0;
		char *line = buf, *nl;
		while ((nl = strchr(line, '\n'))) {
			*nl = 0;
			if (m->n >= m->max) {
				snprintf(err, errlen, "more than %zu memory regions", m->max);
				rc = -E2BIG;
				goto out;
			}
			struct crest_map *e = &m->e[m->n];
			memset(e, 0, sizeof(*e));
			const char *p = parse_hex(line, &e->start);
			p = parse_hex(p + 1, &e->end);
			p++;
			e->prot = (p[0] == 'r' ? PROT_READ : 0) | (p[1] == 'w' ? PROT_WRITE : 0) |
				  (p[2] == 'x' ? PROT_EXEC : 0);
			e->shared = p[3] == 's';
			p += 5;
			p = parse_hex(p, &e->offset);
			while (*p == ' ')
				p++;
			while (*p && *p != ' ')	/* dev */
				p++;
			e->inode = strtoull(p, (char **)&p, 10);
			while (*p == ' ')
				p++;
			snprintf(e->path, sizeof(e->path), "%s", p);
			m->n++;
			line = nl + 1;
		}
		if (r == 0)
			break;
		have = strlen(line);
		memmove(buf, line, have);
	}
out:
	close(fd);
	return rc;
}

bool crest_path_deleted(const char *path)
{
	size_t l = strlen(path);
	return l > 10 && !strcmp(path + l - 10, " (deleted)");
}
