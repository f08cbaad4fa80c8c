/* SPDX-License-Identifier: MIT */
/* The journal of what a computation created (common/created.c): records,
 * replay with renames and reused inodes, a record cut short, the undo and
 * its guards, the coordinator's copy and reset. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "created.h"
#include "harness.h"

/* appends the record of `path` (as it is now) to the journal at `journal` */
static void record(const char *journal, char kind, const char *path, bool replaced)
{
	struct statx stx;
	char rec[CREST_CREATED_REC_MAX];
	EXPECT_EQ(statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_INO | STATX_BTIME, &stx), 0);
	uint64_t born = stx.stx_mask & STATX_BTIME ? (uint64_t)stx.stx_btime.tv_sec * 1000000000ull +
						      stx.stx_btime.tv_nsec : 0;
	size_t n = crest_created_format(rec, sizeof(rec), kind, makedev(stx.stx_dev_major, stx.stx_dev_minor),
					stx.stx_ino, born, replaced, path);
	EXPECT(n > 0);
	int fd = open(journal, O_WRONLY | O_APPEND | O_CREAT, 0600);
	EXPECT(fd >= 0);
	EXPECT_EQ(write(fd, rec, n), (ssize_t)n);
	close(fd);
}

static void make_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	EXPECT(fd >= 0);
	close(fd);
}

static bool exists(const char *path)
{
	struct stat st;
	return !lstat(path, &st);
}

TEST(format_refuses_what_does_not_fit)
{
	char small[16];
	EXPECT_EQ(crest_created_format(small, sizeof(small), 'f', 1, 2, 3, false, "/a/long/path"), 0);
	char buf[64];
	size_t n = crest_created_format(buf, sizeof(buf), 'm', 1, 2, 3, true, "/x y");
	EXPECT_EQ(n, strlen("m 1 2 3 1 /x y") + 1);
	EXPECT(!strcmp(buf, "m 1 2 3 1 /x y"));
}

TEST(a_missing_journal_is_empty)
{
	struct crest_created_set s = { 0 };
	EXPECT_EQ(crest_created_load(&s, "/nonexistent/CREATED", NULL), 0);
	EXPECT_EQ(s.n, 0);
}

TEST(replay_follows_renames_and_drops_a_record_cut_short)
{
	char *dir = harness_tmpdir(), j[256], a[256], b[256], c[256];
	snprintf(j, sizeof(j), "%s/CREATED", dir);
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	snprintf(c, sizeof(c), "%s/c", dir);
	make_file(a);
	record(j, 'f', a, false);
	EXPECT_EQ(rename(a, b), 0);
	record(j, 'm', b, false);
	make_file(c);
	/* a rename of a file the journal never saw: not an entry */
	record(j, 'm', c, true);
	/* a record without its NUL (cut short) and a malformed one */
	int fd = open(j, O_WRONLY | O_APPEND);
	EXPECT(fd >= 0);
	EXPECT_EQ(write(fd, "x 1 2 3 0 /bad", 15), 15);
	EXPECT_EQ(write(fd, "f 1 2 3 0 /cut", 14), 14);
	close(fd);

	struct crest_created_set s = { 0 };
	EXPECT_EQ(crest_created_load(&s, j, NULL), 0);
	EXPECT_EQ(s.n, 1);
	EXPECT(!strcmp(s.e[0].path, b));
	EXPECT_EQ(s.e[0].kind, 'f');
	EXPECT(!s.e[0].replaced);
	crest_created_free(&s);
}

TEST(undo_removes_files_then_empty_folders_deepest_first)
{
	char *dir = harness_tmpdir(), j[256], d1[256], d2[256], f[256], keep[256], other[256];
	snprintf(j, sizeof(j), "%s/CREATED", dir);
	snprintf(d1, sizeof(d1), "%s/d1", dir);
	snprintf(d2, sizeof(d2), "%s/d1/d2", dir);
	snprintf(f, sizeof(f), "%s/d1/d2/f", dir);
	snprintf(keep, sizeof(keep), "%s/keep", dir);
	snprintf(other, sizeof(other), "%s/d1/other", dir);
	EXPECT_EQ(mkdir(d1, 0700), 0);
	record(j, 'd', d1, false);
	EXPECT_EQ(mkdir(d2, 0700), 0);
	record(j, 'd', d2, false);
	make_file(f);
	record(j, 'f', f, false);
	/* renamed over a file that was there: stays */
	make_file(keep);
	char tmp[256];
	snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
	make_file(tmp);
	record(j, 'f', tmp, false);
	EXPECT_EQ(rename(tmp, keep), 0);
	record(j, 'm', keep, true);

	struct crest_created_set s = { 0 };
	EXPECT_EQ(crest_created_load(&s, j, NULL), 0);
	EXPECT_EQ(s.n, 4);
	struct crest_created_counts c;
	char *list = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&list, &len);
	EXPECT(m);
	EXPECT_EQ(crest_created_undo(&s, 0, m, "test", &c), 0);
	fclose(m);
	EXPECT_EQ(c.files, 1);
	EXPECT_EQ(c.dirs, 2);
	EXPECT(!exists(f) && !exists(d2) && !exists(d1));
	EXPECT(exists(keep));
	char want[1024];
	snprintf(want, sizeof(want), "%s\n%s/\n%s/\n", f, d2, d1);
	EXPECT(!strcmp(list, want));
	free(list);

	/* a folder that holds something else now stays */
	EXPECT_EQ(mkdir(d1, 0700), 0);
	crest_created_free(&s);
	unlink(j);
	record(j, 'd', d1, false);
	make_file(other);
	EXPECT_EQ(crest_created_load(&s, j, NULL), 0);
	EXPECT_EQ(crest_created_undo(&s, 0, NULL, "test", &c), 0);
	EXPECT_EQ(c.dirs, 0);
	EXPECT(exists(other));
	crest_created_free(&s);
}

TEST(undo_leaves_another_file_at_the_path_and_one_older_than_the_checkpoint)
{
	char *dir = harness_tmpdir(), j[256], f[256], g[256];
	snprintf(j, sizeof(j), "%s/CREATED", dir);
	snprintf(f, sizeof(f), "%s/f", dir);
	snprintf(g, sizeof(g), "%s/g", dir);
	make_file(f);
	record(j, 'f', f, false);
	make_file(g);
	record(j, 'f', g, false);
	/* f: the same path, another file (the inode may well be the same) */
	EXPECT_EQ(unlink(f), 0);
	usleep(20000);
	make_file(f);
	struct statx stx;
	EXPECT_EQ(statx(AT_FDCWD, f, 0, STATX_BTIME, &stx), 0);
	bool has_btime = stx.stx_mask & STATX_BTIME;

	struct crest_created_set s = { 0 };
	EXPECT_EQ(crest_created_load(&s, j, NULL), 0);
	struct crest_created_counts c;
	if (!has_btime)
		SKIP("this file system keeps no birth time: crest removes nothing there");
	/* made before `not_before`: the journal must be wrong, nothing goes */
	EXPECT_EQ(crest_created_undo(&s, (int64_t)time(NULL) + 100, NULL, "test", &c), 0);
	EXPECT_EQ(c.files, 0);
	EXPECT(exists(g));
	EXPECT_EQ(crest_created_undo(&s, 0, NULL, "test", &c), 0);
	EXPECT(!exists(g));
	EXPECT_EQ(c.files, 1);
	EXPECT(exists(f));
	crest_created_free(&s);
}

TEST(the_coordinator_copies_and_empties_the_journal)
{
	char *dir = harness_tmpdir(), j[256], to[256], f[256];
	snprintf(j, sizeof(j), "%s/" CREST_CREATED_NAME, dir);
	snprintf(to, sizeof(to), "%s/copy", dir);
	snprintf(f, sizeof(f), "%s/f", dir);
	/* nothing to copy: no copy made */
	EXPECT_EQ(crest_created_copy(dir, to), 0);
	EXPECT(!exists(to));
	EXPECT_EQ(crest_created_reset(dir), 0);
	make_file(f);
	record(j, 'f', f, false);
	EXPECT_EQ(crest_created_copy(dir, to), 0);
	struct crest_created_set s = { 0 };
	EXPECT_EQ(crest_created_load(&s, to, NULL), 0);
	EXPECT_EQ(s.n, 1);
	crest_created_free(&s);
	EXPECT_EQ(crest_created_reset(dir), 0);
	struct stat st;
	EXPECT_EQ(stat(j, &st), 0);
	EXPECT_EQ(st.st_size, 0);
	EXPECT_EQ(crest_created_load(&s, j, NULL), 0);
	EXPECT_EQ(s.n, 0);
}

/* appends a record with no file behind it (u, e) */
static void record_raw(const char *journal, char kind, const char *path)
{
	char rec[CREST_CREATED_REC_MAX];
	size_t n = crest_created_format(rec, sizeof(rec), kind, 0, 0, 0, false, path);
	int fd = open(journal, O_WRONLY | O_APPEND | O_CREAT, 0600);
	EXPECT(fd >= 0);
	EXPECT_EQ(write(fd, rec, n), (ssize_t)n);
	close(fd);
}

TEST(a_file_made_where_an_older_one_was_removed_stays_one_made_after_ours_goes)
{
	char *dir = harness_tmpdir(), j[256], old[256], ours[256], tmp[256], out[256];
	snprintf(j, sizeof(j), "%s/CREATED", dir);
	snprintf(old, sizeof(old), "%s/old", dir);
	snprintf(ours, sizeof(ours), "%s/ours", dir);
	snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	/* rm -f old; cmd > old: the path had a file at the checkpoint */
	record_raw(j, 'u', old);
	make_file(old);
	record(j, 'f', old, false);
	/* ours made, removed, made again: all after the checkpoint */
	make_file(ours);
	record(j, 'f', ours, false);
	EXPECT_EQ(unlink(ours), 0);
	record_raw(j, 'u', ours);
	make_file(ours);
	record(j, 'f', ours, false);
	/* out made, then tmp renamed over it: out was ours, not older */
	make_file(out);
	record(j, 'f', out, false);
	make_file(tmp);
	record(j, 'f', tmp, false);
	EXPECT_EQ(rename(tmp, out), 0);
	record(j, 'm', out, true);

	struct crest_created_set s = { 0 };
	struct crest_created_counts c;
	EXPECT_EQ(crest_created_load(&s, j, NULL), 0);
	EXPECT(!s.ended);
	EXPECT_EQ(crest_created_undo(&s, 0, NULL, "test", &c), 0);
	EXPECT(exists(old));
	EXPECT(!exists(ours));
	EXPECT(!exists(out));
	EXPECT_EQ(c.files, 2);
	crest_created_free(&s);
}

TEST(an_end_record_says_the_computation_ended)
{
	char *dir = harness_tmpdir(), j[256];
	snprintf(j, sizeof(j), "%s/CREATED", dir);
	record_raw(j, 'e', "/");
	struct crest_created_set s = { 0 };
	EXPECT_EQ(crest_created_load(&s, j, NULL), 0);
	EXPECT(s.ended);
	EXPECT_EQ(s.n, 0);
	crest_created_free(&s);
}

TEST(a_journal_not_emptied_at_the_commit_skips_the_copy_it_begins_with)
{
	char *dir = harness_tmpdir(), j[256], copy[256], a[256], b[256];
	snprintf(j, sizeof(j), "%s/" CREST_CREATED_NAME, dir);
	snprintf(copy, sizeof(copy), "%s/copy", dir);
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	make_file(a);
	record(j, 'f', a, false);	/* before the generation */
	EXPECT_EQ(crest_created_copy(dir, copy), 0);
	make_file(b);
	record(j, 'f', b, false);	/* after it; the journal was not emptied */
	struct crest_created_set s = { 0 };
	EXPECT_EQ(crest_created_load(&s, j, copy), 0);
	EXPECT_EQ(s.n, 1);
	EXPECT(!strcmp(s.e[0].path, b));
	crest_created_free(&s);
	/* emptied: nothing to skip */
	EXPECT_EQ(crest_created_reset(dir), 0);
	record(j, 'f', b, false);
	EXPECT_EQ(crest_created_load(&s, j, copy), 0);
	EXPECT_EQ(s.n, 1);
	EXPECT(!strcmp(s.e[0].path, b));
	crest_created_free(&s);
}

TEST(without_a_birth_time_nothing_is_removed)
{
	char *dir = harness_tmpdir(), j[256], f[256], rec[CREST_CREATED_REC_MAX];
	snprintf(j, sizeof(j), "%s/CREATED", dir);
	snprintf(f, sizeof(f), "%s/f", dir);
	make_file(f);
	struct stat st;
	EXPECT_EQ(stat(f, &st), 0);
	/* as a file system without birth times records it */
	size_t n = crest_created_format(rec, sizeof(rec), 'f', st.st_dev, st.st_ino, 0, false, f);
	int fd = open(j, O_WRONLY | O_CREAT, 0600);
	EXPECT_EQ(write(fd, rec, n), (ssize_t)n);
	close(fd);
	struct crest_created_set s = { 0 };
	struct crest_created_counts c;
	EXPECT_EQ(crest_created_load(&s, j, NULL), 0);
	EXPECT_EQ(crest_created_undo(&s, 0, NULL, "test", &c), 0);
	EXPECT(exists(f));
	EXPECT_EQ(c.files, 0);
	EXPECT_EQ(c.unsure, 1);
	crest_created_free(&s);
}

int main(void)
{
	return RUN_TESTS();
}
