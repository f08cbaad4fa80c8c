/* SPDX-License-Identifier: MIT */
/*
 * crest-coord and the crest command against fake processes
 * (tests/unit/fake_proc.c): a full checkpoint round, aborts, bad frames.
 * Needs build/bin/crest{,-coord} and build/tests/unit/fake_proc.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "ckdir.h"
#include "harness.h"
#include "proto.h"

/* harness.h's TEST(name) also substitutes the ".name" member; until it is
 * fixed there, register tests with a parameter that cannot collide */
#undef TEST
#define TEST(t) \
	static void test_##t(void); \
	__attribute__((constructor)) static void reg_##t(void) \
	{ harness_tests[harness_ntests].name = #t; harness_tests[harness_ntests++].fn = test_##t; } \
	static void test_##t(void)

static char dir[256], bin[1100], fake[1100];
static char out[4096];

static void setup(const char *coord_opts)
{
	char exe[1024], cmd[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	EXPECT(n > 0);
	exe[n] = 0;
	*strrchr(exe, '/') = 0;	/* build/tests/unit */
	snprintf(fake, sizeof(fake), "%s/fake_proc", exe);
	snprintf(bin, sizeof(bin), "%s/../../bin", exe);
	snprintf(cmd, sizeof(cmd), "%s/crest-coord", bin);
	if (access(cmd, X_OK) || access(fake, X_OK))
		SKIP("build crest-coord and fake_proc first (make)");
	strcpy(dir, "/tmp/crest-test-coord-XXXXXX");
	EXPECT(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "%s/crest-coord --dir %s %s", bin, dir, coord_opts);
	EXPECT_EQ(system(cmd), 0);
	EXPECT(ckdir_coord_alive(dir) > 0);
}

static pid_t spawn_fake(const char *opts)
{
	char cmd[4096];
	pid_t pid = fork();

	if (pid == 0) {
		snprintf(cmd, sizeof(cmd), "exec %s --dir %s %s", fake, dir, opts);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	usleep(300000);
	return pid;
}

/* run `crest ARGS`, stdout+stderr in out[]; exit status */
static int crest(const char *args)
{
	char cmd[4096];
	FILE *f;
	size_t n;

	snprintf(cmd, sizeof(cmd), "%s/crest %s 2>&1", bin, args);
	f = popen(cmd, "r");
	EXPECT(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = 0;
	int st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* the text of path (at most size - 1 bytes) in buf, "" if unreadable */
static void slurp(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	buf[0] = 0;
	if (f) {
		buf[fread(buf, 1, size - 1, f)] = 0;
		fclose(f);
	}
}

static bool exists(const char *rel)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	return lstat(p, &st) == 0;
}

static void teardown(pid_t fake_pid)
{
	pid_t c = ckdir_coord_alive(dir);

	if (fake_pid > 0) {
		kill(fake_pid, SIGTERM);
		waitpid(fake_pid, NULL, 0);
	}
	for (int i = 0; i < 30 && ckdir_coord_alive(dir); i++)
		usleep(100000);
	if (c && ckdir_coord_alive(dir))
		kill(c, SIGTERM);
	ckdir_rmtree(dir);
}

TEST(full_round_commits_generation)
{
	char args[512];
	uint64_t gen = 0;

	setup("");
	pid_t f = spawn_fake("");
	snprintf(args, sizeof(args), "checkpoint --dir %s", dir);
	EXPECT_EQ(crest(args), 0);
	EXPECT(!strcmp(out, "1\n"));
	EXPECT(exists("gen-000001/MANIFEST"));
	EXPECT(exists("gen-000001/ENDPOINTS"));	/* no TCP connection: the header alone */
	EXPECT_EQ(ckdir_latest_link(dir, &gen), 0);
	EXPECT_EQ(gen, 1);
	EXPECT(ckdir_gen_complete(dir, 1));
	EXPECT_EQ(crest(args), 0);
	EXPECT_EQ(crest(args), 0);
	EXPECT(!strcmp(out, "3\n"));
	EXPECT(!exists("gen-000001"));	/* --keep 2 */
	snprintf(args, sizeof(args), "status --dir %s --json", dir);
	EXPECT_EQ(crest(args), 0);
	EXPECT(strstr(out, "\"exe\":\"fake_proc\""));
	EXPECT(strstr(out, "\"latest\":3"));
	teardown(f);
}

/* a Slurm node whose task ended after the step started: no generation
 * until the plugin said how it ended and its processes are gone (restart
 * needs every task); then generations record it, and a restart of that
 * task from one ends it the same way */
TEST(ended_task_recorded)
{
	char args[1024], path[512], man[4096] = "";
	uint64_t gen = 0;

	setup("--tasks 2 --task-ranks 0,1");
	pid_t a = spawn_fake("--task 1");
	pid_t b = spawn_fake("--task 2 --lifetime 2");
	pid_t child = spawn_fake("--member-of 2");	/* a process task 1 started */
	snprintf(args, sizeof(args), "checkpoint --dir %s", dir);
	EXPECT_EQ(crest(args), 0);
	EXPECT(!strcmp(out, "1\n"));
	waitpid(b, NULL, 0);
	usleep(300000);	/* the coordinator reaps its connection */
	/* its status not known yet */
	EXPECT(crest(args) != 0);
	EXPECT(strstr(out, "1 of the 2 tasks on node 0 ended after the step started and how they ended"));
	EXPECT(!exists("gen-000002"));
	EXPECT_EQ(ckdir_latest_link(dir, &gen), 0);
	EXPECT_EQ(gen, 1);
	/* the plugin says: exit 3; but a process of it still runs */
	snprintf(args, sizeof(args), "step-task-end --dir %s --node 0 --rank 1 --status 768", dir);
	EXPECT_EQ(crest(args), 0);
	snprintf(args, sizeof(args), "step-task-end --dir %s --node 0 --rank 5 --status 0", dir);
	EXPECT_EQ(crest(args), 0);	/* not a rank of the node: the coordinator ignores it */
	snprintf(args, sizeof(args), "checkpoint --dir %s", dir);
	EXPECT(crest(args) != 0);
	EXPECT(strstr(out, "task 1 on node 0 ended, but process"));
	EXPECT(!exists("gen-000002"));
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	usleep(300000);
	EXPECT_EQ(crest(args), 0);
	EXPECT(!strcmp(out, "2\n"));
	snprintf(path, sizeof(path), "%s/gen-000002/MANIFEST", dir);
	slurp(path, man, sizeof(man));
	EXPECT(strstr(man, "images 1\n"));
	EXPECT(strstr(man, "\nended n0 1 exit 3\nend\n"));
	EXPECT(!strstr(man, "ended n0 5"));
	/* (fake_proc's image is no real one: inspect shows the list, then fails on it) */
	snprintf(args, sizeof(args), "inspect %s/gen-000002", dir);
	crest(args);
	EXPECT(strstr(out, "1 images, host "));
	EXPECT(strstr(out, "\n\ntask 1 of node 0: had ended (exit 3), no image\n"));
	snprintf(args, sizeof(args), "inspect --json %s/gen-000002", dir);
	crest(args);
	EXPECT(strstr(out, "\"ended\": [{\"node\": 0, \"rank\": 1, \"how\": \"exit 3\"}], \"images\": ["));
	/* restarting task 1 from generation 2 ends it with exit 3, at once */
	snprintf(args, sizeof(args), "restart --dir %s --generation 2 --task 1 --node 0", dir);
	EXPECT_EQ(crest(args), 3);
	EXPECT(strstr(out, "crest: task 1 had ended (exit 3) when generation 2 was taken"));
	teardown(a);
}

/* a coordinator started again after a kill -9 (by its processes, through
 * RESPAWN: the same command) knows the tasks that had ended (RUNDIR/ENDED),
 * so the step, whose other task comes back to it, is checkpointed again */
TEST(ended_tasks_known_to_a_coordinator_started_again)
{
	char args[1024], path[512], man[4096] = "", log[8192] = "", cmd[2048];

	setup("--tasks 2 --task-ranks 0,1");
	pid_t a = spawn_fake("--task 1");
	pid_t b = spawn_fake("--task 2 --lifetime 1");
	waitpid(b, NULL, 0);
	snprintf(args, sizeof(args), "step-task-end --dir %s --node 0 --rank 1 --status 768", dir);
	EXPECT_EQ(crest(args), 0);
	usleep(300000);
	snprintf(args, sizeof(args), "checkpoint --dir %s", dir);
	EXPECT_EQ(crest(args), 0);
	EXPECT(!strcmp(out, "1\n"));
	pid_t old = ckdir_coord_alive(dir);
	EXPECT(old > 0);
	kill(old, SIGKILL);
	for (int i = 0; i < 50 && ckdir_pid_alive(old); i++)
		usleep(100000);
	snprintf(cmd, sizeof(cmd), "%s/crest-coord --dir %s --tasks 2 --task-ranks 0,1", bin, dir);
	EXPECT_EQ(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/coord.log", dir);
	for (int i = 0; i < 50 && !strstr(log, "the step has started: 1 tasks here"); i++) {
		usleep(100000);	/* task 0's fake process reconnects within 1 s */
		slurp(path, log, sizeof(log));
	}
	EXPECT(strstr(log, "task 1 ended (exit 3), said by the coordinator that ran before this one"));
	EXPECT(strstr(log, "1 of this node's tasks had ended"));
	EXPECT_EQ(crest(args), 0);
	EXPECT(!strcmp(out, "2\n"));
	snprintf(path, sizeof(path), "%s/gen-000002/MANIFEST", dir);
	slurp(path, man, sizeof(man));
	EXPECT(strstr(man, "\nended n0 1 exit 3\nend\n"));
	/* a new run of the step (crest step-start, crest launch) starts without it */
	ckdir_runtime_clear(dir);
	EXPECT(!exists("ENDED"));
	teardown(a);
}

TEST(missing_task_named_by_rank)
{
	char path[512], log[4096] = "", cmd[4096];

	setup("--tasks 3 --tasks-wait 1 --task-ranks 4,7,9");
	pid_t a = spawn_fake("--task 5");	/* rank 4 */
	pid_t b = spawn_fake("--task 10");	/* rank 9 */
	snprintf(path, sizeof(path), "%s/coord.log", dir);
	for (int i = 0; i < 50 && !strstr(log, "NOT checkpointed"); i++) {
		usleep(100000);
		slurp(path, log, sizeof(log));
	}
	EXPECT(strstr(log, "only 2 of its 3 tasks registered with crest within 1 s"));
	EXPECT(strstr(log, "; missing: 7)"));
	kill(b, SIGKILL);
	waitpid(b, NULL, 0);
	teardown(a);
	/* a list that is not --tasks N ranks is refused */
	snprintf(cmd, sizeof(cmd), "%s/crest-coord --dir %s --tasks 2 --task-ranks 1, 2>/dev/null", bin, dir);
	EXPECT(system(cmd) != 0);
	snprintf(cmd, sizeof(cmd), "%s/crest-coord --dir %s --tasks 2 --task-ranks 1 2>/dev/null", bin, dir);
	EXPECT(system(cmd) != 0);
	pid_t c = ckdir_coord_alive(dir);	/* one that took it wrongly */
	if (c > 0)
		kill(c, SIGTERM);
	ckdir_rmtree(dir);
}

TEST(phase_fail_aborts_and_removes_generation)
{
	char args[512];

	setup("");
	pid_t f = spawn_fake("--fail write");
	snprintf(args, sizeof(args), "checkpoint --dir %s", dir);
	EXPECT_EQ(crest(args), 1);
	EXPECT(strstr(out, "checkpoint aborted: process"));
	EXPECT(strstr(out, "fake failure injected"));
	EXPECT(!exists("gen-000001"));
	EXPECT(!exists("latest"));
	teardown(f);
}

TEST(silent_process_times_out)
{
	char args[512];

	setup("--timeout 1");
	pid_t f = spawn_fake("--silent prepare");
	snprintf(args, sizeof(args), "checkpoint --dir %s", dir);
	EXPECT_EQ(crest(args), 1);
	EXPECT(strstr(out, "did not answer PREPARE"));
	EXPECT(!exists("gen-000001"));
	teardown(f);
}

TEST(no_process_connected)
{
	char args[512];

	setup("");
	snprintf(args, sizeof(args), "checkpoint --dir %s", dir);
	EXPECT_EQ(crest(args), 1);
	EXPECT(strstr(out, "no process of the computation is connected"));
	teardown(0);
}

TEST(bad_frame_drops_only_that_connection)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char args[512], sock[PATH_MAX], junk[64];
	pid_t pid;

	setup("");
	pid_t f = spawn_fake("");
	EXPECT_EQ(ckdir_coord_read(dir, &pid, sock, sizeof(sock)), 0);
	strcpy(sa.sun_path, sock);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	EXPECT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	memset(junk, 'x', sizeof(junk));
	EXPECT(write(fd, junk, sizeof(junk)) == sizeof(junk));
	EXPECT_EQ(read(fd, junk, 1), 0);	/* dropped */
	close(fd);
	snprintf(args, sizeof(args), "checkpoint --dir %s", dir);
	EXPECT_EQ(crest(args), 0);
	EXPECT(strstr(out, "malformed") == NULL);
	teardown(f);
}

TEST(kill_ends_computation_and_coordinator)
{
	char args[512];
	int st;

	setup("");
	pid_t f = spawn_fake("");
	snprintf(args, sizeof(args), "checkpoint --kill --dir %s", dir);
	EXPECT_EQ(crest(args), 0);
	EXPECT_EQ(waitpid(f, &st, 0), f);
	EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	for (int i = 0; i < 30 && exists("COORD"); i++)
		usleep(100000);
	EXPECT(!exists("COORD"));
	EXPECT(exists("gen-000001/MANIFEST"));
	teardown(0);
}

TEST(newer_run_stops_coordinator_of_older_one)
{
	char args[512], id[CKDIR_INCARNATION_LEN + 1], p[512];
	uint64_t gen = 0;

	setup("");
	pid_t f = spawn_fake("");
	EXPECT_EQ(ckdir_incarnation_read(dir, id), 0);
	EXPECT_EQ(strlen(id), CKDIR_INCARNATION_LEN);
	snprintf(args, sizeof(args), "checkpoint --dir %s", dir);
	EXPECT_EQ(crest(args), 0);
	/* another run takes DIR over (a requeued job on other nodes) */
	snprintf(p, sizeof(p), "%s/INCARNATION", dir);
	FILE *inc = fopen(p, "w");
	EXPECT(inc);
	fputs("0123456789abcdef0123456789abcdef\n", inc);
	fclose(inc);
	EXPECT(ckdir_coord_alive(dir) > 0);
	EXPECT(crest(args) != 0);
	EXPECT(strstr(out, "newer run"));
	EXPECT(!exists("gen-000002"));
	EXPECT_EQ(ckdir_latest_link(dir, &gen), 0);
	EXPECT_EQ(gen, 1);
	/* it stopped; the process it served lives on */
	for (int i = 0; i < 50 && ckdir_coord_alive(dir); i++)
		usleep(100000);
	EXPECT(!ckdir_coord_alive(dir));
	EXPECT(ckdir_pid_alive(f));
	teardown(f);
}

/* the name service of a standalone coordinator (it is the root) */
static int ns_conn(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char sock[PATH_MAX];
	pid_t pid;

	EXPECT_EQ(ckdir_coord_read(dir, &pid, sock, sizeof(sock)), 0);
	strcpy(sa.sun_path, sock);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	EXPECT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	return fd;
}

static void ns_send(int fd, uint32_t *seq, uint16_t type, uint32_t id, uint32_t flags, uint32_t timeout_ms,
		    const char *key, const char *value)
{
	struct crest_msg_ns m = { .id = id, .flags = flags, .timeout_ms = timeout_ms };
	snprintf(m.key, sizeof(m.key), "%s", key);
	snprintf(m.value, sizeof(m.value), "%s", value ? value : "");
	EXPECT_EQ(crest_frame_send(fd, type, seq, &m, sizeof(m)), 0);
}

static struct crest_msg_ns ns_reply(int fd, int timeout_ms)
{
	static unsigned char buf[4096];
	struct crest_frame hdr;
	struct crest_msg_ns r;
	EXPECT_EQ(crest_frame_recv(fd, &hdr, buf, sizeof(buf), timeout_ms), (int)sizeof(r));
	EXPECT_EQ(hdr.type, CREST_MSG_NS_REPLY);
	memcpy(&r, buf, sizeof(r));
	return r;
}

TEST(name_service_publish_lookup_wait)
{
	uint32_t sa = 0, sb = 0;
	struct crest_msg_ns r;

	setup("");
	pid_t f = spawn_fake("");
	int a = ns_conn(), b = ns_conn();
	/* not there: at once with timeout 0, after the timeout else */
	ns_send(a, &sa, CREST_MSG_NS_LOOKUP, 7, 0, 0, "k1", NULL);
	r = ns_reply(a, 2000);
	EXPECT_EQ(r.id, 7);
	EXPECT_EQ(r.error, -ENOENT);
	ns_send(a, &sa, CREST_MSG_NS_LOOKUP, 8, 0, 300, "k1", NULL);
	r = ns_reply(a, 3000);
	EXPECT_EQ(r.id, 8);
	EXPECT_EQ(r.error, -ETIMEDOUT);
	/* a lookup that waits is answered by a publication on another link */
	ns_send(a, &sa, CREST_MSG_NS_LOOKUP, 9, 0, 10000, "k1", NULL);
	usleep(100000);
	ns_send(b, &sb, CREST_MSG_NS_PUBLISH, 1, 0, 0, "k1", "v1");
	r = ns_reply(b, 2000);
	EXPECT_EQ(r.id, 1);
	EXPECT_EQ(r.error, 0);
	r = ns_reply(a, 2000);
	EXPECT_EQ(r.id, 9);
	EXPECT_EQ(r.error, 0);
	EXPECT(!strcmp(r.value, "v1"));
	/* published again: replaced */
	ns_send(b, &sb, CREST_MSG_NS_PUBLISH, 2, 0, 0, "k1", "v2");
	EXPECT_EQ(ns_reply(b, 2000).error, 0);
	ns_send(a, &sa, CREST_MSG_NS_LOOKUP, 10, 0, 0, "k1", NULL);
	r = ns_reply(a, 2000);
	EXPECT(!strcmp(r.value, "v2"));
	/* CREST_NS_ADDR: the node's address in front (one node: loopback) */
	ns_send(b, &sb, CREST_MSG_NS_PUBLISH, 3, CREST_NS_ADDR, 0, "k2", ":4000 t");
	r = ns_reply(b, 2000);
	EXPECT_EQ(r.error, 0);
	EXPECT(!strcmp(r.value, "127.0.0.1:4000 t"));
	/* bad input: refused, the link stays */
	ns_send(b, &sb, CREST_MSG_NS_PUBLISH, 4, CREST_NS_ADDR, 0, "k3", "4000");
	EXPECT_EQ(ns_reply(b, 2000).error, -EINVAL);
	ns_send(b, &sb, CREST_MSG_NS_LOOKUP, 5, 0, 0, "", NULL);
	EXPECT_EQ(ns_reply(b, 2000).error, -EINVAL);
	ns_send(b, &sb, CREST_MSG_NS_LOOKUP, 6, 0, 0, "k2", NULL);
	EXPECT_EQ(ns_reply(b, 2000).error, 0);
	/* a waiting lookup whose link closes is forgotten; others go on */
	ns_send(a, &sa, CREST_MSG_NS_LOOKUP, 11, 0, 10000, "never", NULL);
	close(a);
	usleep(300000);
	ns_send(b, &sb, CREST_MSG_NS_PUBLISH, 7, 0, 0, "never", "x");
	EXPECT_EQ(ns_reply(b, 2000).error, 0);
	close(b);
	teardown(f);
}

int main(void)
{
	return RUN_TESTS();
}
