/* SPDX-License-Identifier: MIT */
/* The journal of what a computation created (created.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "created.h"

size_t crest_created_format(char *buf, size_t size, char kind, uint64_t dev, uint64_t ino, uint64_t born,
			    bool replaced, const char *path)
{
	int n = snprintf(buf, size, "%c %" PRIu64 " %" PRIu64 " %" PRIu64 " %c %s", kind, dev, ino, born,
			 replaced ? '1' : '0', path);
	if (n < 0 || (size_t)n + 1 > size)
		return 0;
	return (size_t)n + 1;	/* the NUL ends the record */
}

/* ---- replay: entries found by device and inode, and by path */

static uint64_t mix(uint64_t h)
{
	h *= 0x9e3779b97f4a7c15ull;
	return h ^ h >> 29;
}

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return mix(h);
}

/* open addressing, values 1 + an index; 0: empty */
struct table {
	size_t *slot;
	size_t cap, used;	/* cap: a power of 2 */
};

static int table_init(struct table *t, size_t want)
{
	size_t cap = 64;
	while (cap < want * 2)
		cap *= 2;
	free(t->slot);
	t->slot = calloc(cap, sizeof(*t->slot));
	t->cap = cap;
	t->used = 0;
	return t->slot ? 0 : -ENOMEM;
}

struct replay {
	struct crest_created_set *s;
	struct table ino;	/* entries by device and inode */
	struct table path;	/* entries by the path they were put at (stale ones skipped) */
	struct table gone;	/* s->gone by path */
};

static size_t *ino_find(struct replay *r, uint64_t dev, uint64_t ino)
{
	struct table *t = &r->ino;
	for (size_t i = mix(ino ^ (dev << 32 | dev >> 32)) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		size_t v = t->slot[i];
		if (!v || (r->s->e[v - 1].dev == dev && r->s->e[v - 1].ino == ino))
			return &t->slot[i];
	}
}

/* the entry now at path, or NULL */
static struct crest_created *path_find(struct replay *r, const char *path)
{
	struct table *t = &r->path;
	for (size_t i = str_hash(path) & (t->cap - 1); t->slot[i]; i = (i + 1) & (t->cap - 1))
		if (!strcmp(r->s->e[t->slot[i] - 1].path, path))
			return &r->s->e[t->slot[i] - 1];
	return NULL;
}

static bool gone_has(struct replay *r, const char *path)
{
	struct table *t = &r->gone;
	for (size_t i = str_hash(path) & (t->cap - 1); t->slot[i]; i = (i + 1) & (t->cap - 1))
		if (!strcmp(r->s->gone[t->slot[i] - 1], path))
			return true;
	return false;
}

static void put(struct table *t, uint64_t h, size_t v)
{
	size_t i = h & (t->cap - 1);
	while (t->slot[i])
		i = (i + 1) & (t->cap - 1);
	t->slot[i] = v;
	t->used++;
}

/* room for one more in each table, rebuilt from s when needed */
static int reserve(struct replay *r)
{
	struct crest_created_set *s = r->s;
	if ((r->ino.used + 1) * 2 > r->ino.cap) {
		if (table_init(&r->ino, s->n + 1))
			return -ENOMEM;
		for (size_t k = 0; k < s->n; k++)
			*ino_find(r, s->e[k].dev, s->e[k].ino) = k + 1, r->ino.used++;
	}
	if ((r->path.used + 1) * 2 > r->path.cap) {
		if (table_init(&r->path, s->n + 1))
			return -ENOMEM;
		for (size_t k = 0; k < s->n; k++)
			put(&r->path, str_hash(s->e[k].path), k + 1);
	}
	if ((r->gone.used + 1) * 2 > r->gone.cap) {
		if (table_init(&r->gone, s->ngone + 1))
			return -ENOMEM;
		for (size_t k = 0; k < s->ngone; k++)
			put(&r->gone, str_hash(s->gone[k]), k + 1);
	}
	return 0;
}

static int parse(const char *rec, char *kind, uint64_t *dev, uint64_t *ino, uint64_t *born, bool *replaced,
		 const char **path)
{
	char *end;
	if (!strchr("fdmue", rec[0]) || !rec[0] || rec[1] != ' ')
		return -EBADMSG;
	*kind = rec[0];
	errno = 0;
	*dev = strtoull(rec + 2, &end, 10);
	if (errno || *end != ' ')
		return -EBADMSG;
	*ino = strtoull(end + 1, &end, 10);
	if (errno || *end != ' ')
		return -EBADMSG;
	*born = strtoull(end + 1, &end, 10);
	if (errno || *end != ' ' || (end[1] != '0' && end[1] != '1') || end[2] != ' ' || end[3] != '/')
		return -EBADMSG;
	*replaced = end[1] == '1';
	*path = end + 3;
	return 0;
}

/* one record into s */
static int apply(struct replay *r, const char *rec)
{
	struct crest_created_set *s = r->s;
	char kind;
	uint64_t dev, ino, born;
	bool replaced;
	const char *path;
	if (parse(rec, &kind, &dev, &ino, &born, &replaced, &path))
		return 0;	/* not ours to judge: skipped */
	if (kind == 'e') {
		s->ended = true;
		return 0;
	}
	if (reserve(r))
		return -ENOMEM;
	if (kind == 'u') {
		/* something that was there before the journal is gone: what is
		 * made at that path from now on replaces it */
		if (path_find(r, path) || gone_has(r, path))
			return 0;
		char **ng = realloc(s->gone, (s->ngone + 1) * sizeof(*ng));
		if (!ng || !(ng[s->ngone] = strdup(path))) {
			if (ng)
				s->gone = ng;
			return -ENOMEM;
		}
		s->gone = ng;
		put(&r->gone, str_hash(path), ++s->ngone);
		return 0;
	}
	/* at `path` before this: an older file (kept), or one of ours (gone) */
	bool older = gone_has(r, path) || (kind == 'm' && replaced && !path_find(r, path));
	size_t *slot = ino_find(r, dev, ino);
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	if (kind == 'm' && !*slot) {
		free(copy);	/* older than the journal: not ours */
		return 0;
	}
	if (*slot) {	/* moved, or the inode of one that was removed, used again */
		struct crest_created *e = &s->e[*slot - 1];
		free(e->path);
		e->path = copy;
		if (kind != 'm') {
			e->kind = kind;
			e->born = born;
			e->replaced = false;
		}
		e->replaced |= older;
		put(&r->path, str_hash(copy), *slot);
		return 0;
	}
	struct crest_created *ne = realloc(s->e, (s->n + 1) * sizeof(*ne));
	if (!ne) {
		free(copy);
		return -ENOMEM;
	}
	s->e = ne;
	s->e[s->n] = (struct crest_created){
		.kind = kind, .dev = dev, .ino = ino, .born = born, .replaced = older, .path = copy,
	};
	*slot = ++s->n;
	r->ino.used++;
	put(&r->path, str_hash(copy), s->n);
	return 0;
}

static int read_all(const char *path, char **data, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	*data = NULL;
	*len = 0;
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	size_t cap = 0;
	for (;;) {
		if (*len + 65536 > cap) {
			char *n = realloc(*data, cap = cap * 2 + 65536);
			if (!n) {
				close(fd);
				return -ENOMEM;
			}
			*data = n;
		}
		ssize_t r = read(fd, *data + *len, cap - *len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		if (!r)
			break;
		*len += (size_t)r;
	}
	close(fd);
	return 0;
}

int crest_created_load(struct crest_created_set *s, const char *path, const char *before)
{
	char *data, *prev = NULL;
	size_t len, plen = 0, off = 0;
	int rc = read_all(path, &data, &len);
	if (!rc && before)
		rc = read_all(before, &prev, &plen);
	/* the journal of a node whose coordinator did not empty it at the
	 * commit of `before` (it died first) still begins with that copy */
	if (!rc && plen && plen <= len && !memcmp(data, prev, plen))
		off = plen;
	free(prev);
	if (rc || off >= len) {
		free(data);
		return rc;
	}
	struct replay r = { .s = s };
	while (!rc && off < len) {
		char *nul = memchr(data + off, 0, len - off);
		if (!nul)
			break;	/* cut short */
		rc = apply(&r, data + off);
		off = (size_t)(nul - data) + 1;
	}
	free(r.ino.slot);
	free(r.path.slot);
	free(r.gone.slot);
	free(data);
	return rc;
}

void crest_created_free(struct crest_created_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->e[i].path);
	for (size_t i = 0; i < s->ngone; i++)
		free(s->gone[i]);
	free(s->e);
	free(s->gone);
	memset(s, 0, sizeof(*s));
}

/* ---- undo */

enum verdict { GONE, UNSURE, OURS };

/* still the one created (device, inode, kind, birth time) and born at
 * not_before or later; without a birth time nothing tells a file made
 * again at a used inode from ours: unsure, kept */
static enum verdict same(const struct crest_created *e, int64_t not_before)
{
	struct statx stx;
	if (statx(AT_FDCWD, e->path, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_INO | STATX_BTIME, &stx) < 0)
		return GONE;
	uint64_t dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
	if (dev != e->dev || stx.stx_ino != e->ino || (e->kind == 'd') != !!S_ISDIR(stx.stx_mode))
		return GONE;
	if (!(stx.stx_mask & STATX_BTIME) || !e->born)
		return UNSURE;
	uint64_t born = (uint64_t)stx.stx_btime.tv_sec * 1000000000ull + stx.stx_btime.tv_nsec;
	if (born != e->born || (int64_t)stx.stx_btime.tv_sec < not_before)
		return GONE;
	return OURS;
}

static int deeper_first(const void *a, const void *b)
{
	size_t la = strlen((*(const struct crest_created *const *)a)->path);
	size_t lb = strlen((*(const struct crest_created *const *)b)->path);
	return la < lb ? 1 : la > lb ? -1 : 0;
}

unsigned crest_created_undo(const struct crest_created_set *s, int64_t not_before, FILE *removed, const char *who,
			    struct crest_created_counts *c)
{
	unsigned failed = 0;
	const struct crest_created **d = malloc((s->n + 1) * sizeof(*d));
	size_t nd = 0;
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < s->n; i++) {
		const struct crest_created *e = &s->e[i];
		if (e->replaced)
			continue;	/* the new version of something older */
		enum verdict v = same(e, not_before);
		if (v == UNSURE)
			c->unsure++;
		if (v != OURS)
			continue;
		if (e->kind == 'd') {
			if (d)
				d[nd++] = e;
			continue;
		}
		if (unlink(e->path) < 0) {
			if (errno != ENOENT) {
				fprintf(stderr, "%s: cannot remove %s, made after the checkpoint: %s\n", who, e->path,
					strerror(errno));
				failed++;
			}
			continue;
		}
		c->files++;
		if (removed)
			fprintf(removed, "%s\n", e->path);
	}
	if (d)
		qsort(d, nd, sizeof(*d), deeper_first);
	for (size_t i = 0; i < nd; i++) {
		if (rmdir(d[i]->path) < 0)
			continue;	/* not empty: something else is in it now */
		c->dirs++;
		if (removed)
			fprintf(removed, "%s/\n", d[i]->path);
	}
	free(d);
	return failed;
}

/* ---- the coordinator's part */

int crest_created_copy(const char *rundir, const char *to)
{
	char path[4096 + 16];
	char *data;
	size_t len;
	if (snprintf(path, sizeof(path), "%s/" CREST_CREATED_NAME, rundir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int rc = read_all(path, &data, &len);
	if (rc || !len) {
		free(data);
		return rc;
	}
	int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		free(data);
		return rc;
	}
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = w < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)w;
	}
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	free(data);
	return rc;
}

int crest_created_reset(const char *rundir)
{
	char path[4096 + 16];
	if (snprintf(path, sizeof(path), "%s/" CREST_CREATED_NAME, rundir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (truncate(path, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}
