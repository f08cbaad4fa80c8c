/* SPDX-License-Identifier: MIT */
/*
 * The path map: restarting somewhere else.  `crest restart --path-map
 * OLD=NEW` (repeatable) gives a restarted process a table of prefixes; paths
 * the application passes to libc afterwards are translated OLD -> NEW, and
 * paths libc gives back (getcwd, realpath, readlink) NEW -> OLD, so that the
 * application, whose memory still holds its old paths, keeps seeing them.
 *
 * Entries match whole path components: "/a/b" maps "/a/b" and "/a/b/c",
 * not "/a/bc".  Where several match, the longest OLD wins (NEW -> OLD: the
 * longest NEW, and among equal ones the first given).  An entry OLD=OLD
 * keeps a subtree where it is under a shorter entry.  Trailing slashes and
 * repeated slashes in the spec are dropped.  Only absolute paths are ever
 * translated: the cwd is moved at restart (chdir to the mapped cwd) and
 * getcwd translated back, so relative paths need nothing.  "/" cannot be an
 * OLD (it would move /proc, /dev and the libraries); it can be a NEW.
 *
 * The table is replaced while every application thread is stopped (after a
 * restart) or in the constructor, and read-only otherwise: no lock.
 * Lookups are async-signal-safe (plain loads, no malloc).
 *
 * path_map.c is pure (no libc wrappers, no `crest` state) so the unit test
 * compiles it directly; the wrappers are path_wrappers.c.
 */
#ifndef CREST_PATH_MAP_H
#define CREST_PATH_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CREST_PATH_MAP_MAX	32	/* entries */
#define CREST_PATH_MAP_BYTES	16384	/* the serialized table, at most */

/*
 * Replaces the table with "OLD\0NEW\0OLD\0NEW\0...\0": pairs of strings, an
 * empty string (or the end of the `len` bytes) ends it; an empty spec
 * empties the table.  0; -EINVAL for a relative or empty path, an OLD of
 * "/", an OLD without a NEW, or a string not terminated
 * within `len`; -E2BIG for more than CREST_PATH_MAP_MAX entries or more than
 * CREST_PATH_MAP_BYTES in all, or a path of PATH_MAX or more.  On error the
 * table is left as it was.  An OLD given again is dropped: the first one
 * given stays (the user's --path-map before entries crest adds itself).
 */
int crest_path_map_set(const char *spec, size_t len);

/*
 * The serialized form of the current table (for DIR/PATHMAP), the same
 * format as crest_path_map_set takes, normalized, in the order given, with
 * the ending empty string.  Returns its size in bytes (0 for an empty
 * table); buf is filled only when len is at least that.
 */
size_t crest_path_map_get(char *buf, size_t len);

/* the number of entries; read directly so that a wrapper's fast path is
 * one load and one predictable branch, not a call */
extern uint32_t crest_path_map_n __attribute__((visibility("hidden")));

/* the table is not empty */
static inline bool crest_path_map_active(void)
{
	return __builtin_expect(crest_path_map_n != 0, 0);
}

/*
 * OLD -> NEW.  Returns `path` itself when nothing matches (or path is
 * relative, or NULL), else buf, NUL-terminated; NULL with errno =
 * ENAMETOOLONG when the result does not fit in len bytes.
 */
const char *crest_path_to_new(const char *path, char *buf, size_t len);

/*
 * NEW -> OLD, for results shown to the application, in place in buf of
 * size len (buf holds a NUL-terminated path).  0, or -ENAMETOOLONG and buf
 * unchanged.
 */
int crest_path_to_old(char *buf, size_t len);

/* path_wrappers.c: crest_path_to_new, for the exec wrappers (the program
 * an application execs by its old path) */
const char *crest_path_for_exec(const char *path, char *buf, size_t len);

#endif
