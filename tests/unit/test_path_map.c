/* SPDX-License-Identifier: MIT */
/* Unit tests of the path map (preload/path_map.c), compiled in, and of its
 * wrappers (preload/path_wrappers.c) through the helper path_map_child. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>

#include "harness.h"

#include "../../preload/path_map.c"

/* harness.h's TEST(name) also substitutes the ".name" member; until it is
 * fixed there, register tests with a parameter that cannot collide */
#undef TEST
#define TEST(t) \
	static void test_##t(void); \
	__attribute__((constructor)) static void reg_##t(void) \
	{ harness_tests[harness_ntests].name = #t; harness_tests[harness_ntests++].fn = test_##t; } \
	static void test_##t(void)

#define EXPECT_STR(a, b) do { const char *_a = (a), *_b = (b); \
	if (!_a || strcmp(_a, _b)) { \
		fprintf(stderr, "  %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a, \
			_a ? _a : "(null)", _b); exit(1); } } while (0)

/* the spec "OLD\0NEW\0...\0" of the strings given (NULL ends them) */
static size_t spec_of(char *buf, size_t size, ...)
{
	va_list ap;
	size_t len = 0;
	va_start(ap, size);
	for (const char *s; (s = va_arg(ap, const char *));) {
		size_t l = strlen(s) + 1;
		EXPECT(len + l < size);
		memcpy(buf + len, s, l);
		len += l;
	}
	va_end(ap);
	buf[len++] = 0;
	return len;
}

#define SET(...) ({ \
	char _spec[8192]; \
	size_t _l = spec_of(_spec, sizeof(_spec), __VA_ARGS__, NULL); \
	crest_path_map_set(_spec, _l); })

static char out[PATH_MAX];

static const char *to_new(const char *path)
{
	return crest_path_to_new(path, out, sizeof(out));
}

static const char *to_old(const char *path)
{
	static char b[PATH_MAX];
	snprintf(b, sizeof(b), "%s", path);
	EXPECT_EQ(crest_path_to_old(b, sizeof(b)), 0);
	return b;
}

TEST(empty_is_identity)
{
	EXPECT(!crest_path_map_active());
	const char *p = "/a/b/c";
	EXPECT(to_new(p) == p);
	EXPECT(to_new(NULL) == NULL);
	EXPECT_STR(to_old("/a/b/c"), "/a/b/c");
	char b[8];
	EXPECT_EQ(crest_path_map_get(b, sizeof(b)), 0);
	EXPECT_EQ(crest_path_map_set("", 0), 0);
	EXPECT_EQ(crest_path_map_set(NULL, 0), 0);
	EXPECT_EQ(crest_path_map_set("", 1), 0);
	EXPECT(!crest_path_map_active());
}

TEST(components)
{
	EXPECT_EQ(SET("/a/b", "/x"), 0);
	EXPECT(crest_path_map_active());
	EXPECT_STR(to_new("/a/b"), "/x");
	EXPECT_STR(to_new("/a/b/"), "/x/");
	EXPECT_STR(to_new("/a/b/c"), "/x/c");
	EXPECT_STR(to_new("/a/b//c/d"), "/x//c/d");
	const char *p = "/a/bc";
	EXPECT(to_new(p) == p);		/* not the same component */
	p = "/a";
	EXPECT(to_new(p) == p);
	p = "/a/";
	EXPECT(to_new(p) == p);
	p = "/b/a/b";
	EXPECT(to_new(p) == p);		/* a prefix only */
}

TEST(relative_untouched)
{
	EXPECT_EQ(SET("/a", "/x"), 0);
	const char *p = "a/b";
	EXPECT(to_new(p) == p);
	p = "";
	EXPECT(to_new(p) == p);
	p = "./a";
	EXPECT(to_new(p) == p);
	p = "../a";
	EXPECT(to_new(p) == p);
	EXPECT(to_new(NULL) == NULL);
	EXPECT_STR(to_old("x/y"), "x/y");
	EXPECT_STR(to_old(""), "");
}

TEST(longest_prefix)
{
	/* given shortest first: the order must not matter */
	EXPECT_EQ(SET("/scratch", "/lustre", "/scratch/u/run", "/nvme/run", "/scratch/u", "/home/u"), 0);
	EXPECT_STR(to_new("/scratch/u/run/out.dat"), "/nvme/run/out.dat");
	EXPECT_STR(to_new("/scratch/u/run"), "/nvme/run");
	EXPECT_STR(to_new("/scratch/u/runs"), "/home/u/runs");
	EXPECT_STR(to_new("/scratch/u"), "/home/u");
	EXPECT_STR(to_new("/scratch/v"), "/lustre/v");
	/* and back */
	EXPECT_STR(to_old("/nvme/run/out.dat"), "/scratch/u/run/out.dat");
	EXPECT_STR(to_old("/home/u/runs"), "/scratch/u/runs");
	EXPECT_STR(to_old("/lustre/v"), "/scratch/v");
	EXPECT_STR(to_old("/lustre"), "/scratch");
	EXPECT_STR(to_old("/lustrex"), "/lustrex");
}

TEST(identity_entry_shields)
{
	EXPECT_EQ(SET("/a", "/x", "/a/keep", "/a/keep"), 0);
	EXPECT_STR(to_new("/a/keep/f"), "/a/keep/f");
	EXPECT_STR(to_new("/a/other"), "/x/other");
}

TEST(normalized_spec)
{
	EXPECT_EQ(SET("/a/b/", "//x//y///"), 0);
	EXPECT_STR(to_new("/a/b/c"), "/x/y/c");
	EXPECT_STR(to_old("/x/y/c"), "/a/b/c");
	char b[64];
	size_t n = crest_path_map_get(b, sizeof(b));
	EXPECT_EQ(n, sizeof("/a/b\0/x/y\0"));
	EXPECT(!memcmp(b, "/a/b\0/x/y\0", n));
}

TEST(new_root)
{
	EXPECT_EQ(SET("/chroot/old", "/"), 0);
	EXPECT_STR(to_new("/chroot/old/etc/x"), "/etc/x");
	EXPECT_STR(to_new("/chroot/old"), "/");
	EXPECT_STR(to_new("/chroot/old/"), "/");
	EXPECT_STR(to_old("/etc/x"), "/chroot/old/etc/x");
	EXPECT_STR(to_old("/"), "/chroot/old");
	char b[64];
	size_t n = crest_path_map_get(b, sizeof(b));
	EXPECT_EQ(n, sizeof("/chroot/old\0/\0"));
	EXPECT(!memcmp(b, "/chroot/old\0/\0", n));
}

TEST(too_long)
{
	EXPECT_EQ(SET("/a", "/a-much-longer-prefix"), 0);
	char path[PATH_MAX];
	memset(path, 'x', sizeof(path) - 1);
	memcpy(path, "/a/", 3);
	path[sizeof(path) - 1] = 0;
	errno = 0;
	EXPECT(crest_path_to_new(path, out, sizeof(out)) == NULL);
	EXPECT_EQ(errno, ENAMETOOLONG);
	/* exactly fitting */
	char small[sizeof("/a-much-longer-prefix/f")];
	EXPECT_STR(crest_path_to_new("/a/f", small, sizeof(small)), "/a-much-longer-prefix/f");
	errno = 0;
	EXPECT(crest_path_to_new("/a/f", small, sizeof(small) - 1) == NULL);
	EXPECT_EQ(errno, ENAMETOOLONG);

	/* back: shorter NEW -> longer OLD */
	EXPECT_EQ(SET("/a-much-longer-prefix", "/a"), 0);
	char b[16] = "/a/0123456789";
	EXPECT_EQ(crest_path_to_old(b, sizeof(b)), -ENAMETOOLONG);
	EXPECT_STR(b, "/a/0123456789");	/* unchanged */
	char c[sizeof("/a-much-longer-prefix/f")] = "/a/f";
	EXPECT_EQ(crest_path_to_old(c, sizeof(c)), 0);
	EXPECT_STR(c, "/a-much-longer-prefix/f");
	/* not a string within len: left alone */
	char d[4] = { '/', 'a', '/', 'f' };
	EXPECT_EQ(crest_path_to_old(d, sizeof(d)), 0);
	EXPECT(!memcmp(d, "/a/f", 4));
}

TEST(reverse_ambiguous)
{
	/* two OLDs into one NEW: back to the first given */
	EXPECT_EQ(SET("/p", "/n", "/q", "/n"), 0);
	EXPECT_STR(to_new("/p/1"), "/n/1");
	EXPECT_STR(to_new("/q/1"), "/n/1");
	EXPECT_STR(to_old("/n/1"), "/p/1");
	/* NEW inside OLD */
	EXPECT_EQ(SET("/s", "/s/run2"), 0);
	EXPECT_STR(to_new("/s/f"), "/s/run2/f");
	EXPECT_STR(to_old("/s/run2/f"), "/s/f");
	EXPECT_STR(to_old("/s/f"), "/s/f");
}

TEST(set_errors)
{
	EXPECT_EQ(SET("/keep", "/kept"), 0);
	EXPECT_EQ(SET("a", "/x"), -EINVAL);
	EXPECT_EQ(SET("/a", "x"), -EINVAL);
	EXPECT_EQ(SET("/", "/x"), -EINVAL);
	EXPECT_EQ(SET("//", "/x"), -EINVAL);
	EXPECT_EQ(crest_path_map_set("/a\0", 3), -EINVAL);	/* OLD without NEW */
	EXPECT_EQ(crest_path_map_set("/a\0\0", 4), -EINVAL);	/* empty NEW */
	EXPECT_EQ(crest_path_map_set("/a\0/x", 5), -EINVAL);	/* not terminated */
	EXPECT_EQ(crest_path_map_set("/a", 2), -EINVAL);

	/* 33 entries */
	char spec[4096];
	size_t len = 0;
	for (int i = 0; i <= CREST_PATH_MAP_MAX; i++)
		len += (size_t)sprintf(spec + len, "/o%d%c/n%d%c", i, 0, i, 0);
	spec[len++] = 0;
	EXPECT_EQ(crest_path_map_set(spec, len), -E2BIG);
	/* 32 are fine, without the ending empty string too */
	len = 0;
	for (int i = 0; i < CREST_PATH_MAP_MAX; i++)
		len += (size_t)sprintf(spec + len, "/o%d%c/n%d%c", i, 0, i, 0);
	EXPECT_EQ(crest_path_map_set(spec, len), 0);
	EXPECT_EQ(crest_path_map_n, CREST_PATH_MAP_MAX);
	EXPECT_STR(to_new("/o31/f"), "/n31/f");
	EXPECT_EQ(SET("/keep", "/kept"), 0);

	/* a path of PATH_MAX */
	static char big[2 * PATH_MAX + 8];
	memset(big, 'p', PATH_MAX);
	big[0] = '/';
	big[PATH_MAX] = 0;
	memcpy(big + PATH_MAX + 1, "/x", 3);
	EXPECT_EQ(crest_path_map_set(big, PATH_MAX + 5), -E2BIG);
	/* more than CREST_PATH_MAP_BYTES in all */
	static char many[CREST_PATH_MAP_BYTES + 4096];
	len = 0;
	for (int i = 0; i < 5; i++) {
		memset(many + len, 'q', 2000);
		many[len] = '/';
		many[len + 1] = (char)('0' + i);
		len += 2000;
		many[len++] = 0;
		memset(many + len, 'r', 2000);
		many[len] = '/';
		len += 2000;
		many[len++] = 0;
	}
	many[len++] = 0;
	EXPECT_EQ(crest_path_map_set(many, len), -E2BIG);

	/* every failure left the table as it was */
	EXPECT_EQ(crest_path_map_n, 1);
	EXPECT_STR(to_new("/keep/f"), "/kept/f");
	EXPECT_EQ(SET("/keep", "/kept"), 0);
	/* and an empty spec empties it */
	EXPECT_EQ(crest_path_map_set("", 1), 0);
	EXPECT(!crest_path_map_active());
	const char *p = "/keep/f";
	EXPECT(to_new(p) == p);
}

TEST(duplicate_old)
{
	/* the first stays, the later one is dropped (also from get()) */
	EXPECT_EQ(SET("/a", "/x", "/b", "/y", "/a/", "/z"), 0);
	EXPECT_EQ(crest_path_map_n, 2);
	EXPECT_STR(to_new("/a/f"), "/x/f");
	EXPECT_STR(to_new("/b/f"), "/y/f");
	EXPECT_STR(to_old("/z/f"), "/z/f");
	char b[64];
	size_t n = crest_path_map_get(b, sizeof(b));
	EXPECT_EQ(n, sizeof("/a\0/x\0/b\0/y\0"));
	EXPECT(!memcmp(b, "/a\0/x\0/b\0/y\0", n));
}

TEST(get_round_trip)
{
	EXPECT_EQ(SET("/scratch/u", "/home/u", "/data", "/mnt/data", "/opt/app", "/"), 0);
	char a[256], b[256];
	size_t n = crest_path_map_get(a, sizeof(a));
	EXPECT_EQ(n, sizeof("/scratch/u\0/home/u\0/data\0/mnt/data\0/opt/app\0/\0"));
	EXPECT(!memcmp(a, "/scratch/u\0/home/u\0/data\0/mnt/data\0/opt/app\0/\0", n));
	/* too small: nothing written, the size told */
	memset(b, 'z', sizeof(b));
	EXPECT_EQ(crest_path_map_get(b, n - 1), n);
	EXPECT_EQ(b[0], 'z');
	EXPECT_EQ(crest_path_map_get(NULL, 0), n);
	/* set from it: the same table */
	EXPECT_EQ(crest_path_map_set("", 1), 0);
	EXPECT_EQ(crest_path_map_set(a, n), 0);
	EXPECT_EQ(crest_path_map_get(b, sizeof(b)), n);
	EXPECT(!memcmp(a, b, n));
	EXPECT_STR(to_new("/data/x"), "/mnt/data/x");
	EXPECT_STR(to_new("/opt/app/bin"), "/bin");
	EXPECT_STR(to_old("/home/u/f"), "/scratch/u/f");
}

/* the wrappers, in a helper that has them compiled in */
TEST(wrappers)
{
	char path[4096];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 32);
	EXPECT(n > 0);
	path[n] = 0;
	char *slash = strrchr(path, '/');
	EXPECT(slash);
	strcpy(slash + 1, "path_map_child");
	if (access(path, X_OK))
		SKIP("path_map_child not built");
	pid_t pid = fork();
	EXPECT(pid >= 0);
	if (pid == 0) {
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	int st;
	EXPECT_EQ(waitpid(pid, &st, 0), pid);
	EXPECT(WIFEXITED(st));
	EXPECT_EQ(WEXITSTATUS(st), 0);
}

int main(void)
{
	return RUN_TESTS();
}
