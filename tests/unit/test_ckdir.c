/* SPDX-License-Identifier: MIT */
/* Unit tests of the checkpoint directory helpers (common/ckdir.c). */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>

#include "ckdir.h"
#include "harness.h"

/* harness.h's TEST(name) also substitutes the ".name" member; until it is
 * fixed there, register tests with a parameter that cannot collide */
#undef TEST
#define TEST(t) \
	static void test_##t(void); \
	__attribute__((constructor)) static void reg_##t(void) \
	{ harness_tests[harness_ntests].name = #t; harness_tests[harness_ntests++].fn = test_##t; } \
	static void test_##t(void)

static char dir[256];

static void mkdirtmp(void)
{
	strcpy(dir, "/tmp/crest-test-ckdir-XXXXXX");
	EXPECT(mkdtemp(dir) != NULL);
}

static void cleanup(void)
{
	ckdir_rmtree(dir);
}

static void put_file(const char *rel, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	EXPECT(fd >= 0);
	EXPECT(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

/* a complete generation with one image */
/* the file dir/rel contains text */
static bool file_has(const char *rel, const char *text)
{
	char path[512], buf[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	buf[fread(buf, 1, sizeof(buf) - 1, f)] = 0;
	fclose(f);
	return strstr(buf, text) != NULL;
}

static void make_complete(uint64_t gen)
{
	struct ckdir_image im = { .size = 4096, .crc = 0xdeadbeef };
	struct ckdir_manifest m = { .generation = gen, .created = 1700000000, .nimages = 1, .images = &im };

	strcpy(m.hostname, "node1");
	snprintf(im.path, sizeof(im.path), "n0/p-0-%d.img", (int)gen);
	EXPECT_EQ(ckdir_make_gen(dir, gen), 0);
	EXPECT_EQ(ckdir_manifest_write(dir, &m), 0);
}

TEST(make_and_check)
{
	char sub[300];

	mkdirtmp();
	snprintf(sub, sizeof(sub), "%s/ck", dir);
	EXPECT_EQ(ckdir_make(sub), 0);
	EXPECT_EQ(ckdir_make(sub), 0);
	struct stat st;
	EXPECT(stat(sub, &st) == 0);
	EXPECT_EQ(st.st_mode & 0777, 0700);
	put_file("file", "x");
	snprintf(sub, sizeof(sub), "%s/file", dir);
	EXPECT_EQ(ckdir_make(sub), -ENOTDIR);
	cleanup();
}

TEST(next_generation)
{
	uint64_t g;

	mkdirtmp();
	EXPECT_EQ(ckdir_next_gen(dir, &g), 0);
	EXPECT_EQ(g, 1);
	make_complete(1);
	EXPECT_EQ(ckdir_make_gen(dir, 7), 0);	/* incomplete counts too */
	put_file("gen-junk", "");
	EXPECT_EQ(ckdir_next_gen(dir, &g), 0);
	EXPECT_EQ(g, 8);
	EXPECT_EQ(ckdir_make_gen(dir, 7), -EEXIST);
	cleanup();
}

TEST(latest_ignores_incomplete)
{
	uint64_t g = 0;

	mkdirtmp();
	EXPECT_EQ(ckdir_latest_complete(dir, &g), -ENOENT);
	make_complete(2);
	make_complete(3);
	EXPECT_EQ(ckdir_make_gen(dir, 4), 0);
	EXPECT_EQ(ckdir_latest_complete(dir, &g), 0);
	EXPECT_EQ(g, 3);
	EXPECT(!ckdir_gen_complete(dir, 4));
	EXPECT_EQ(ckdir_set_latest(dir, 3), 0);
	g = 0;
	EXPECT_EQ(ckdir_latest_link(dir, &g), 0);
	EXPECT_EQ(g, 3);
	cleanup();
}

TEST(manifest_roundtrip)
{
	struct ckdir_image im[2] = {
		{ .path = "n0/p-0-100.img", .size = 123456789, .crc = 0x01020304 },
		{ .path = "n0/p-1-101.img", .size = 0, .crc = 0xffffffff },
	};
	struct ckdir_ended ended[2] = {
		{ .node = 0, .rank = 3, .status = 3 << 8 },	/* exit 3 */
		{ .node = 2, .rank = 9, .status = 9 },		/* killed by SIGKILL */
	};
	struct ckdir_manifest m = { .generation = 5, .created = 42, .nimages = 2, .images = im,
				    .nended = 2, .ended = ended }, r;

	mkdirtmp();
	strcpy(m.hostname, "cn042");
	EXPECT_EQ(ckdir_make_gen(dir, 5), 0);
	EXPECT_EQ(ckdir_manifest_write(dir, &m), 0);
	EXPECT_EQ(ckdir_manifest_read(dir, 5, &r), 0);
	EXPECT_EQ(r.generation, 5);
	EXPECT_EQ(r.created, 42);
	EXPECT(!strcmp(r.hostname, "cn042"));
	EXPECT_EQ(r.nimages, 2);
	EXPECT(!strcmp(r.images[1].path, "n0/p-1-101.img"));
	EXPECT_EQ(r.images[0].size, 123456789);
	EXPECT_EQ(r.images[0].crc, 0x01020304);
	EXPECT_EQ(r.images[1].crc, 0xffffffff);
	EXPECT_EQ(r.nended, 2);
	EXPECT(ckdir_manifest_ended(&r, 0, 3) && ckdir_manifest_ended(&r, 0, 3)->status == 3 << 8);
	EXPECT(ckdir_manifest_ended(&r, 2, 9) && ckdir_manifest_ended(&r, 2, 9)->status == 9);
	EXPECT(!ckdir_manifest_ended(&r, 0, 9));
	ckdir_manifest_free(&r);
	EXPECT(file_has("gen-000005/MANIFEST", "ended n0 3 exit 3\nended n2 9 signal 9\nend\n"));
	cleanup();
}

TEST(manifest_corruption_rejected)
{
	static const char *bad[] = {
		"",
		"crest-manifest 2\ngeneration 1\ncreated 1\nhostname h\nimages 0\nend\n",
		"crest-manifest 1\ngeneration 1\ncreated 1\nhostname h\nimages 0\n",	/* no end */
		"crest-manifest 1\ngeneration 1\ncreated 1\nhostname h\nimages 0\nend",	/* no newline */
		"crest-manifest 1\ngeneration 1\ncreated 1\nhostname h\nimages 1\nend\n",	/* count */
		"crest-manifest 1\ngeneration 1\ncreated 1\nhostname h\nimages 1\na.img 12 0000000g\nend\n",
		"crest-manifest 1\ngeneration 1\ncreated 1\nhostname h\nimages 1\na.img -1 00000000\nend\n",
		"crest-manifest 1\ngeneration 1\ncreated 1\nhostname h\nimages 1\n../a.img 1 00000000\nend\n",
		"crest-manifest 1\ngeneration 1\ncreated 1\nhostname h\nimages 1\n/a.img 1 00000000\nend\n",
		"crest-manifest 1\ngeneration 1\ncreated 1\nhostname h\nimages 1\na.img 1 00000000 x\nend\n",
		"crest-manifest 1\ngeneration x\ncreated 1\nhostname h\nimages 0\nend\n",
		"crest-manifest 1\ngeneration 1\ncreated 1\nhostname h\nimages 0\nend\ntrailing\n",
		/* ended tasks: node, rank, how; each once */
		"crest-manifest 1\ngeneration 1\ncreated 1\nhostname h\nimages 0\nended n0 1\nend\n",
		"crest-manifest 1\ngeneration 1\ncreated 1\nhostname h\nimages 0\nended 0 1 exit 0\nend\n",
		"crest-manifest 1\ngeneration 1\ncreated 1\nhostname h\nimages 0\nended n0 1 exit 256\nend\n",
		"crest-manifest 1\ngeneration 1\ncreated 1\nhostname h\nimages 0\nended n0 1 signal 0\nend\n",
		"crest-manifest 1\ngeneration 1\ncreated 1\nhostname h\nimages 0\nended n0 1 quit 1\nend\n",
		"crest-manifest 1\ngeneration 1\ncreated 1\nhostname h\nimages 0\nended n0 -1 exit 0\nend\n",
		"crest-manifest 1\ngeneration 1\ncreated 1\nhostname h\nimages 0\nended n0 1 exit 0 x\nend\n",
		"crest-manifest 1\ngeneration 1\ncreated 1\nhostname h\nimages 0\nended n0 1 exit 0\nended n0 1 exit 1\nend\n",
		"crest-manifest 1\ngeneration 1\ncreated 1\nhostname h\nimages 0\nend\nended n0 1 exit 0\n",
	};
	static const char good[] =
		"crest-manifest 1\ngeneration 1\ncreated 1\nhostname h\nimages 1\na.img 1 0000abcd\nend\n";
	struct ckdir_manifest m;

	EXPECT_EQ(ckdir_manifest_parse(good, strlen(good), &m), 0);
	ckdir_manifest_free(&m);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ckdir_manifest_parse(bad[i], strlen(bad[i]), &m) != -EBADMSG) {
			fprintf(stderr, "  accepted bad manifest %zu\n", i);
			exit(1);
		}
	}
	/* a MANIFEST of another generation does not make gen-2 complete */
	mkdirtmp();
	EXPECT_EQ(ckdir_make_gen(dir, 2), 0);
	put_file("gen-000002/MANIFEST", good);
	EXPECT(!ckdir_gen_complete(dir, 2));
	put_file("gen-000002/MANIFEST", "crest-manifest 1\ngeneration 2\ncreated 1\nhostname h\nimages 1\na.img 1 0000abcd\ne");
	EXPECT(!ckdir_gen_complete(dir, 2));
	cleanup();
}

TEST(prune_keeps_n)
{
	uint64_t *gens;
	size_t n;

	mkdirtmp();
	for (uint64_t g = 1; g <= 5; g++)
		make_complete(g);
	EXPECT_EQ(ckdir_make_gen(dir, 3 + 10), 0);	/* newest, incomplete: in progress */
	EXPECT_EQ(ckdir_set_latest(dir, 5), 0);
	EXPECT_EQ(ckdir_prune(dir, 2), 0);
	EXPECT_EQ(ckdir_list_gens(dir, &gens, &n), 0);
	EXPECT_EQ(n, 3);
	EXPECT_EQ(gens[0], 4);
	EXPECT_EQ(gens[1], 5);
	EXPECT_EQ(gens[2], 13);
	free(gens);
	cleanup();
}

TEST(coord_and_procs_files)
{
	char sock[4096];
	pid_t pid, *pids;
	size_t n;

	mkdirtmp();
	EXPECT_EQ(ckdir_socket_path(dir, sock, sizeof(sock)), 0);
	EXPECT(strstr(sock, "/coord.sock") != NULL);
	EXPECT_EQ(ckdir_coord_write(dir, 4242, sock), 0);
	char back[4096];
	EXPECT_EQ(ckdir_coord_read(dir, &pid, back, sizeof(back)), 0);
	EXPECT_EQ(pid, 4242);
	EXPECT(!strcmp(back, sock));
	EXPECT_EQ(ckdir_procs_add(dir, 10), 0);
	EXPECT_EQ(ckdir_procs_add(dir, 11), 0);
	EXPECT_EQ(ckdir_procs_add(dir, 10), 0);
	EXPECT_EQ(ckdir_procs_read(dir, &pids, &n), 0);
	EXPECT_EQ(n, 2);
	free(pids);
	EXPECT_EQ(ckdir_coord_remove(dir), 0);
	EXPECT_EQ(ckdir_coord_alive(dir), 0);
	cleanup();
}

TEST(incarnation_of_a_run)
{
	char id[CKDIR_INCARNATION_LEN + 1], back[CKDIR_INCARNATION_LEN + 1];
	uint8_t wire[CKDIR_INCARNATION_BYTES], zero[CKDIR_INCARNATION_BYTES] = { 0 };

	mkdirtmp();
	EXPECT_EQ(ckdir_incarnation_read(dir, back), -ENOENT);
	EXPECT_EQ(ckdir_incarnation_new(dir, id), 0);
	EXPECT(ckdir_incarnation_valid(id));
	EXPECT_EQ(ckdir_incarnation_read(dir, back), 0);
	EXPECT(!strcmp(id, back));
	/* on the wire and back; never all 0, which means "not known" */
	ckdir_incarnation_pack(id, wire);
	EXPECT(memcmp(wire, zero, sizeof(wire)) != 0);
	ckdir_incarnation_unpack(wire, back);
	EXPECT(!strcmp(id, back));
	ckdir_incarnation_unpack(zero, back);
	EXPECT_EQ(back[0], 0);
	ckdir_incarnation_pack("", wire);
	EXPECT(!memcmp(wire, zero, sizeof(wire)));
	/* only 32 lowercase hex digits */
	EXPECT(!ckdir_incarnation_valid("0123456789ABCDEF0123456789abcdef"));
	EXPECT(!ckdir_incarnation_valid("0123456789abcdef0123456789abcde"));
	EXPECT(!ckdir_incarnation_valid("0123456789abcdef0123456789abcdef0"));
	EXPECT_EQ(ckdir_incarnation_write(dir, "not a run"), -EINVAL);
	EXPECT_EQ(ckdir_incarnation_write(dir, "0123456789abcdef0123456789abcdef"), 0);
	EXPECT_EQ(ckdir_incarnation_read(dir, back), 0);
	EXPECT(!strcmp(back, "0123456789abcdef0123456789abcdef"));
	/* a damaged file is not a run */
	char path[4200];
	snprintf(path, sizeof(path), "%s/INCARNATION", dir);
	FILE *f = fopen(path, "w");
	fputs("0123456789abcdef0123456789abcdeZ\n", f);
	fclose(f);
	EXPECT_EQ(ckdir_incarnation_read(dir, back), -EBADMSG);
	cleanup();
}

TEST(long_dir_socket_in_tmp)
{
	char deep[400], sock[4096];

	mkdirtmp();
	snprintf(deep, sizeof(deep), "%s/%0120d", dir, 0);
	EXPECT_EQ(ckdir_make(deep), 0);
	EXPECT_EQ(ckdir_socket_path(deep, sock, sizeof(sock)), 0);
	EXPECT(!strncmp(sock, "/tmp/crest-", 11));
	EXPECT(strlen(sock) < 108);
	cleanup();
}

TEST(refuse_dir_of_other_user)
{
	char sub[300];
	struct passwd *pw;

	if (getuid() != 0)
		SKIP("needs root to chown a directory to nobody");
	pw = getpwnam("nobody");
	if (!pw)
		SKIP("no user nobody");
	mkdirtmp();
	snprintf(sub, sizeof(sub), "%s/theirs", dir);
	EXPECT(mkdir(sub, 0700) == 0);
	EXPECT(chown(sub, pw->pw_uid, pw->pw_gid) == 0);
	EXPECT_EQ(ckdir_make(sub), -EPERM);
	cleanup();
}

TEST(base_expand)
{
	char out[64];

	EXPECT_EQ(ckdir_base_expand("/scratch/%u/crest", "ann", "/home/ann", out, sizeof(out)), 0);
	EXPECT(!strcmp(out, "/scratch/ann/crest"));
	EXPECT_EQ(ckdir_base_expand("%h/crest", "ann", "/home/ann", out, sizeof(out)), 0);
	EXPECT(!strcmp(out, "/home/ann/crest"));
	EXPECT_EQ(ckdir_base_expand("/a/100%%/%x%", "ann", "/h", out, sizeof(out)), 0);
	EXPECT(!strcmp(out, "/a/100%/%x%"));
	EXPECT_EQ(ckdir_base_expand("/scratch/%u", "ann", "/h", out, 13), 0);	/* just fits */
	EXPECT_EQ(ckdir_base_expand("/scratch/%u", "anne", "/h", out, 13), -ENAMETOOLONG);
	EXPECT_EQ(ckdir_base_expand("", "ann", "/h", out, 0), -ENAMETOOLONG);
}

int main(void)
{
	return RUN_TESTS();
}
