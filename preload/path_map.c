/* SPDX-License-Identifier: MIT */
/*
 * The path map table (path_map.h).  The normalized spec is kept as given in
 * `pool` (which is also what crest_path_map_get returns); each entry points
 * into it, and two index arrays list the entries by decreasing OLD length
 * and by decreasing NEW length, so that the first match is the longest.
 * At most 32 entries: a lookup is a linear scan of memcmp's.
 *
 * Everything lives in libcrest's .bss (part of the image, so a restarted
 * process keeps its map until a restart replaces it).  Lookups are plain
 * loads and memcmp: async-signal-safe.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "path_map.h"

struct pm_entry {
	uint32_t old_off, old_len;	/* in pool; old_len > 0 (never "/") */
	uint32_t new_off, new_len;	/* new_len is 0 for a NEW of "/" */
};

uint32_t crest_path_map_n;
static struct pm_entry ents[CREST_PATH_MAP_MAX];
static uint8_t by_old[CREST_PATH_MAP_MAX], by_new[CREST_PATH_MAP_MAX];
static char pool[CREST_PATH_MAP_BYTES];
static uint32_t pool_len;

/* crest_path_map_set's work area: the table is replaced only once the whole
 * spec was found good */
static struct pm_entry new_ents[CREST_PATH_MAP_MAX];
static char new_pool[CREST_PATH_MAP_BYTES];

/* Copies the absolute path s (sl bytes) to out without repeated or trailing
 * slashes ("/" stays "/"), NUL-terminated; returns its length. */
static size_t normalize(char *out, const char *s, size_t sl)
{
	size_t o = 0;
	for (size_t i = 0; i < sl; i++) {
		if (s[i] == '/' && o && out[o - 1] == '/')
			continue;
		out[o++] = s[i];
	}
	if (o > 1 && out[o - 1] == '/')
		o--;
	out[o] = 0;
	return o;
}

/* the next string of the spec at *pos: its length, or -1 when it is not
 * terminated within len */
static long next_string(const char *spec, size_t len, size_t *pos, const char **s)
{
	*s = spec + *pos;
	size_t l = strnlen(*s, len - *pos);
	if (l == len - *pos)
		return -1;
	*pos += l + 1;
	return (long)l;
}

/* order[] = entries by decreasing length (stable: equal lengths keep the
 * order given) */
static void sort_by_len(uint8_t *order, uint32_t n, int use_new)
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t len = use_new ? ents[i].new_len : ents[i].old_len;
		uint32_t j = i;
		for (; j > 0; j--) {
			const struct pm_entry *p = &ents[order[j - 1]];
			if ((use_new ? p->new_len : p->old_len) >= len)
				break;
			order[j] = order[j - 1];
		}
		order[j] = (uint8_t)i;
	}
}

/* e's OLD is already one of the first n new_ents' */
static bool known_old(uint32_t n, const struct pm_entry *e)
{
	for (uint32_t i = 0; i < n; i++)
		if (new_ents[i].old_len == e->old_len &&
		    !memcmp(new_pool + new_ents[i].old_off, new_pool + e->old_off, e->old_len))
			return true;
	return false;
}

int crest_path_map_set(const char *spec, size_t len)
{
	uint32_t n = 0;
	size_t pos = 0, used = 0;

	while (spec && pos < len) {
		const char *o, *w;
		long ol = next_string(spec, len, &pos, &o);
		if (ol < 0)
			return -EINVAL;
		if (ol == 0)
			break;			/* the end */
		long wl = pos < len ? next_string(spec, len, &pos, &w) : -1;
		if (wl <= 0 || o[0] != '/' || w[0] != '/')
			return -EINVAL;		/* no NEW, an empty or relative path */
		if (n == CREST_PATH_MAP_MAX || ol >= PATH_MAX || wl >= PATH_MAX ||
		    used + (size_t)ol + (size_t)wl + 3 > sizeof(new_pool))
			return -E2BIG;		/* +3: two NULs and the ending one */
		struct pm_entry *e = &new_ents[n];
		e->old_off = (uint32_t)used;
		e->old_len = (uint32_t)normalize(new_pool + used, o, (size_t)ol);
		used += e->old_len + 1;
		e->new_off = (uint32_t)used;
		e->new_len = (uint32_t)normalize(new_pool + used, w, (size_t)wl);
		used += e->new_len + 1;
		if (e->old_len == 1)
			return -EINVAL;		/* OLD "/" */
		if (e->new_len == 1)
			e->new_len = 0;		/* NEW "/": matched as the empty prefix */
		if (known_old(n, e))
			used = e->old_off;	/* the same OLD again: the first one stays */
		else
			n++;
	}

	/* commit: readers (there should be none) see an empty table meanwhile */
	__atomic_store_n(&crest_path_map_n, 0, __ATOMIC_RELEASE);
	memcpy(pool, new_pool, used);
	pool_len = n ? (uint32_t)used + 1 : 0;
	if (n)
		pool[used] = 0;
	memcpy(ents, new_ents, n * sizeof(ents[0]));
	sort_by_len(by_old, n, 0);
	sort_by_len(by_new, n, 1);
	__atomic_store_n(&crest_path_map_n, n, __ATOMIC_RELEASE);
	return 0;
}

size_t crest_path_map_get(char *buf, size_t len)
{
	if (buf && len >= pool_len)
		memcpy(buf, pool, pool_len);
	return pool_len;
}

/* `path` (plen bytes) starts with the prefix p (pl bytes) on a component
 * boundary; an empty prefix matches every absolute path */
static inline bool has_prefix(const char *path, size_t plen, const char *p, size_t pl)
{
	return pl <= plen && (path[pl] == '/' || path[pl] == 0) && !memcmp(path, p, pl);
}

const char *crest_path_to_new(const char *path, char *buf, size_t len)
{
	uint32_t n = __atomic_load_n(&crest_path_map_n, __ATOMIC_ACQUIRE);
	if (!n || !path || path[0] != '/')
		return path;
	size_t plen = strlen(path);
	for (uint32_t i = 0; i < n; i++) {
		const struct pm_entry *e = &ents[by_old[i]];
		if (!has_prefix(path, plen, pool + e->old_off, e->old_len))
			continue;
		size_t rest = plen - e->old_len;	/* "" or "/..." */
		size_t out = e->new_len + rest;
		if (out + 1 > len || (!out && len < 2)) {
			errno = ENAMETOOLONG;
			return NULL;
		}
		memcpy(buf, pool + e->new_off, e->new_len);
		memcpy(buf + e->new_len, path + e->old_len, rest);
		if (!out)
			buf[out++] = '/';	/* OLD itself, NEW "/" */
		buf[out] = 0;
		return buf;
	}
	return path;
}

int crest_path_to_old(char *buf, size_t len)
{
	uint32_t n = __atomic_load_n(&crest_path_map_n, __ATOMIC_ACQUIRE);
	if (!n || !buf || !len || buf[0] != '/')
		return 0;
	size_t plen = strnlen(buf, len);
	if (plen == len)
		return 0;			/* not a string: leave it */
	for (uint32_t i = 0; i < n; i++) {
		const struct pm_entry *e = &ents[by_new[i]];
		if (!has_prefix(buf, plen, pool + e->new_off, e->new_len))
			continue;
		size_t rest = plen - e->new_len;
		if (!e->new_len && plen == 1)
			rest = 0;		/* "/" itself, NEW "/" */
		if (e->old_len + rest + 1 > len)
			return -ENAMETOOLONG;
		memmove(buf + e->old_len, buf + e->new_len, rest);
		memcpy(buf, pool + e->old_off, e->old_len);
		buf[e->old_len + rest] = 0;
		return 0;
	}
	return 0;
}
