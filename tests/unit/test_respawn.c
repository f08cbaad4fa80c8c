/* SPDX-License-Identifier: MIT */
/* RUNDIR/RESPAWN (common/respawn.c): round trip, removal, damaged files. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "harness.h"
#include "respawn.h"

static size_t slurp(const char *dir, char *buf, size_t size)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/RESPAWN", dir);
	int fd = open(path, O_RDONLY);
	EXPECT(fd >= 0);
	ssize_t n = read(fd, buf, size);
	EXPECT(n > 0);
	close(fd);
	return (size_t)n;
}

TEST(round_trip_without_fault_injection)
{
	char *dir = harness_tmpdir(), buf[4096], path[256];
	char *argv[] = { "/usr/bin/crest-coord", "--dir", "/ck/a b", "--listen", "10.0.0.1:0", NULL };
	char *envp[] = { "PATH=/bin", "CREST_FAULT=coord:prepare", "EMPTY=", "CREST_LOG=info", NULL };
	struct stat st;

	EXPECT_EQ(crest_respawn_write(dir, 1234, "/home/u", argv, envp), 0);
	snprintf(path, sizeof(path), "%s/RESPAWN", dir);
	EXPECT_EQ(stat(path, &st), 0);
	EXPECT_EQ(st.st_mode & 0777, 0600);
	size_t n = slurp(dir, buf, sizeof(buf));
	struct crest_respawn *r = crest_respawn_parse(buf, n);
	EXPECT(r);
	EXPECT_EQ(r->pid, 1234);
	EXPECT(!strcmp(r->cwd, "/home/u"));
	for (int i = 0; i < 5; i++)
		EXPECT(r->argv[i] && !strcmp(r->argv[i], argv[i]));
	EXPECT(!r->argv[5]);
	EXPECT(!strcmp(r->envp[0], "PATH=/bin"));
	EXPECT(!strcmp(r->envp[1], "EMPTY="));
	EXPECT(!strcmp(r->envp[2], "CREST_LOG=info"));	/* CREST_FAULT left out */
	EXPECT(!r->envp[3]);
	free(r);
}

TEST(removed_only_by_its_writer)
{
	char *dir = harness_tmpdir(), path[256];
	char *argv[] = { "/usr/bin/crest-coord", NULL }, *envp[] = { NULL };

	snprintf(path, sizeof(path), "%s/RESPAWN", dir);
	EXPECT_EQ(crest_respawn_write(dir, 77, "/", argv, envp), 0);
	crest_respawn_remove(dir, 7);	/* "pid 7" is a prefix of "pid 77" */
	EXPECT_EQ(access(path, F_OK), 0);
	crest_respawn_remove(dir, 78);
	EXPECT_EQ(access(path, F_OK), 0);
	crest_respawn_remove(dir, 77);
	EXPECT(access(path, F_OK) != 0);
}

/* crest step-stop's removal waits for a respawn in progress (its lock) */
TEST(cancel_waits_for_the_lock_then_removes)
{
	char *dir = harness_tmpdir(), path[256];
	char *argv[] = { "/usr/bin/crest-coord", NULL }, *envp[] = { NULL };
	int p[2];
	char c;

	snprintf(path, sizeof(path), "%s/RESPAWN", dir);
	EXPECT_EQ(crest_respawn_write(dir, 5, "/", argv, envp), 0);
	EXPECT_EQ(pipe(p), 0);
	pid_t kid = fork();
	if (kid == 0) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		int fd = open(path, O_RDWR);
		if (fd < 0 || fcntl(fd, F_SETLK, &fl))
			_exit(1);
		if (write(p[1], "l", 1) != 1)
			_exit(1);
		usleep(400000);
		_exit(access(path, F_OK) == 0 ? 0 : 2);	/* still there while locked */
	}
	EXPECT_EQ(read(p[0], &c, 1), 1);
	crest_respawn_cancel(dir);
	int st = 0;
	EXPECT_EQ(waitpid(kid, &st, 0), kid);
	EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	EXPECT(access(path, F_OK) != 0);
}

TEST(relative_program_refused)
{
	char *dir = harness_tmpdir();
	char *argv[] = { "crest-coord", NULL }, *envp[] = { NULL };
	EXPECT_EQ(crest_respawn_write(dir, 1, "/", argv, envp), -EINVAL);
}

static void refused(const char *text, size_t len)
{
	errno = 0;
	EXPECT(!crest_respawn_parse(text, len));
	EXPECT_EQ(errno, EBADMSG);
}

TEST(damaged_files_refused)
{
#define T(s) refused(s, sizeof(s) - 1)
	T("");
	T("crest-respawn 2\npid 1\ncwd=/\0arg=/x\0");
	T("crest-respawn 1\n");
	T("crest-respawn 1\npid 0\ncwd=/\0arg=/x\0");
	T("crest-respawn 1\npid x\ncwd=/\0arg=/x\0");
	T("crest-respawn 1\npid 1\ncwd=/\0");			/* no program */
	T("crest-respawn 1\npid 1\narg=/x\0");			/* no cwd */
	T("crest-respawn 1\npid 1\ncwd=rel\0arg=/x\0");	/* relative cwd */
	T("crest-respawn 1\npid 1\ncwd=/\0arg=x\0");		/* relative program */
	T("crest-respawn 1\npid 1\ncwd=/\0arg=/x");		/* cut: no last NUL */
	T("crest-respawn 1\npid 1\ncwd=/\0arg=/x\0what=1\0");	/* unknown item */
	T("crest-respawn 1\npid 1\ncwd=/\0arg=/x\0env=NOEQUALS\0");
	T("crest-respawn 1\npid 1\ncwd=/\0cwd=/\0arg=/x\0");	/* two cwds */
#undef T
	/* and one that is fine, to show the cases above fail for their reason */
	static const char ok[] = "crest-respawn 1\npid 1\ncwd=/\0arg=/x\0env=A=b\0";
	struct crest_respawn *r = crest_respawn_parse(ok, sizeof(ok) - 1);
	EXPECT(r);
	free(r);
}

int main(void)
{
	return RUN_TESTS();
}
