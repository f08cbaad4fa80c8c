/*
 * forktree: a tree of processes joined by pipes.  The parent makes two pipes
 * and forks three children:
 *   A  producer: writes the lines "i\n", i = 1..LINES, into pipe 1, one
 *      every LINE_US microseconds;
 *   B  filter: reads pipe 1 and writes "V i i*i%MOD\n" into pipe 2;
 *   C  forks a grandchild G that writes HEARTBEATS heartbeats into pipe 2
 *      and exits with G_STATUS; C waits for it (waitpid) and reports the
 *      pid and status it got.
 * The parent reads pipe 2: the values must arrive once each, in order, the
 * heartbeats too.  Each process reports its getpid()/getppid() at start,
 * which the parent compares with what fork returned; each child compares
 * them again periodically (virtual pids must not change at a restart).  The
 * parent waitpid()s the three children and checks their exit statuses.
 * Every line on a pipe is written with one write() (shorter than PIPE_BUF,
 * so lines of several writers never mix).
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINES 30000
#define LINE_US 300
#define MOD 1000003ull
#define CHECK_EVERY 1000	/* A and B check their pids every 1000 lines */
#define HEARTBEATS 50
#define HEARTBEAT_MS 200
#define G_STATUS 7

static pid_t children[3];	/* in the parent: A, B, C */
static bool is_child;

static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL forktree: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (is_child)
		_exit(1);
	for (int i = 0; i < 3; i++)
		if (children[i] > 0)
			kill(children[i], SIGKILL);
	exit(1);
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* one line, one write(): retries EINTR and short writes */
static void put(int fd, const char *fmt, ...)
{
	char buf[128];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (int off = 0; off < len;) {
		ssize_t w = write(fd, buf + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			fail("write to pipe %d: %s", fd, strerror(errno));
		off += w;
	}
}

/* the pids a process saw at its start, compared again later */
struct ids {
	const char *name;
	pid_t pid, ppid;
};

static struct ids ids_now(const char *name)
{
	return (struct ids){ name, getpid(), getppid() };
}

static void ids_check(const struct ids *start, const char *when)
{
	pid_t pid = getpid(), ppid = getppid();

	if (pid != start->pid)
		fail("%s: getpid() %d %s, %d at start", start->name, pid, when, start->pid);
	if (ppid != start->ppid)
		fail("%s: getppid() %d %s, %d at start", start->name, ppid, when, start->ppid);
}

static void producer(int out)
{
	struct ids me = ids_now("A");
	char when[32];

	put(out, "P A %d %d\n", me.pid, me.ppid);
	for (int i = 1; i <= LINES; i++) {
		put(out, "%d\n", i);
		if (i % CHECK_EVERY == 0) {
			snprintf(when, sizeof(when), "at line %d", i);
			ids_check(&me, when);
		}
		sleep_us(LINE_US);
	}
	ids_check(&me, "at the end");
	close(out);
	_exit(0);
}

static void filter(int in, int out)
{
	struct ids me = ids_now("B");
	FILE *f = fdopen(in, "r");
	char line[128], when[32];
	long want = 1;

	if (!f)
		fail("B: fdopen: %s", strerror(errno));
	put(out, "P B %d %d\n", me.pid, me.ppid);
	/* A's own report first, passed on as it is */
	if (!fgets(line, sizeof(line), f) || strncmp(line, "P A ", 4))
		fail("B: the first line of pipe 1 is not A's report");
	put(out, "%s", line);
	while (fgets(line, sizeof(line), f)) {
		char *end;
		long i = strtol(line, &end, 10);

		if (*end != '\n')
			fail("B: bad line from A: '%.40s'", line);
		if (i != want)
			fail("B: line %ld from A, want %ld (%s)", i, want,
			     i < want ? "duplicated" : "missing");
		put(out, "V %ld %llu\n", i, (unsigned long long)i * i % MOD);
		if (i % CHECK_EVERY == 0) {
			snprintf(when, sizeof(when), "at line %ld", i);
			ids_check(&me, when);
		}
		want++;
	}
	if (ferror(f))
		fail("B: read from pipe 1: %s", strerror(errno));
	if (want != LINES + 1)
		fail("B: pipe 1 ended after line %ld of %d", want - 1, LINES);
	ids_check(&me, "at the end");
	_exit(0);
}

static void grandchild(int out)
{
	struct ids me = ids_now("G");
	char when[32];

	put(out, "P G %d %d\n", me.pid, me.ppid);
	for (int k = 1; k <= HEARTBEATS; k++) {
		sleep_us(HEARTBEAT_MS * 1000L);
		snprintf(when, sizeof(when), "at heartbeat %d", k);
		ids_check(&me, when);
		put(out, "H %d\n", k);
	}
	_exit(G_STATUS);
}

static void middle(int out)
{
	struct ids me = ids_now("C");
	pid_t g, got;
	int status;

	put(out, "P C %d %d\n", me.pid, me.ppid);
	g = fork();
	if (g < 0)
		fail("C: fork: %s", strerror(errno));
	if (g == 0)
		grandchild(out);
	while ((got = waitpid(g, &status, 0)) < 0 && errno == EINTR)
		;
	if (got != g)
		fail("C: waitpid(%d) returned %d: %s", g, got, strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != G_STATUS)
		fail("C: grandchild %d ended with status 0x%x, want exit %d", g, status, G_STATUS);
	ids_check(&me, "after waitpid");
	put(out, "W C %d %d\n", got, WEXITSTATUS(status));
	_exit(0);
}

/* what the parent learns from pipe 2 */
struct seen {
	pid_t pid[4], ppid[4];	/* A B C G, 0 until reported */
	pid_t waited;		/* G's pid as C's waitpid returned it */
	int waited_status;
	long next;		/* next value line expected */
	int heartbeat;		/* last heartbeat */
	uint64_t sum;
};

static void parse(struct seen *s, char *line)
{
	char who;
	long i, pid, ppid;
	unsigned long long v;
	int k, st;

	if (sscanf(line, "P %c %ld %ld", &who, &pid, &ppid) == 3) {
		const char *names = "ABCG";
		const char *p = strchr(names, who);

		if (!p || !who)
			fail("report of unknown process '%c'", who);
		if (s->pid[p - names])
			fail("%c reported twice", who);
		s->pid[p - names] = pid;
		s->ppid[p - names] = ppid;
	} else if (sscanf(line, "V %ld %llu", &i, &v) == 2) {
		if (i != s->next)
			fail("value of line %ld, want line %ld (%s)", i, s->next,
			     i < s->next ? "duplicated" : "missing");
		if (v != (unsigned long long)i * i % MOD)
			fail("value of line %ld is %llu, want %llu", i, v,
			     (unsigned long long)i * i % MOD);
		s->sum += v;
		s->next++;
	} else if (sscanf(line, "H %d", &k) == 1) {
		if (k != s->heartbeat + 1)
			fail("heartbeat %d after heartbeat %d", k, s->heartbeat);
		s->heartbeat = k;
	} else if (sscanf(line, "W C %ld %d", &pid, &st) == 2) {
		if (s->waited)
			fail("C reported its waitpid twice");
		s->waited = pid;
		s->waited_status = st;
	} else {
		fail("bad line on pipe 2: '%.60s'", line);
	}
}

static void reap(int idx, const char *name)
{
	pid_t got;
	int status;

	while ((got = waitpid(children[idx], &status, 0)) < 0 && errno == EINTR)
		;
	if (got != children[idx])
		fail("waitpid(%s = %d) returned %d: %s", name, children[idx], got,
		     strerror(errno));
	children[idx] = 0;	/* fail() kills the children not yet reaped */
	if (WIFSIGNALED(status))
		fail("child %s (%d) was killed by signal %d", name, got, WTERMSIG(status));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("child %s (%d) ended with status 0x%x", name, got, status);
}

int main(void)
{
	int p1[2], p2[2];
	struct seen s = { .next = 1 };
	pid_t forked[3];
	struct ids me;
	char line[128];
	FILE *in;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("forktree: start, %d lines, %d heartbeats\n", LINES, HEARTBEATS);
	fflush(stdout);
	me = ids_now("parent");
	if (pipe(p1) || pipe(p2))
		fail("pipe: %s", strerror(errno));

	/* A: writes pipe 1 */
	children[0] = fork();
	if (children[0] < 0)
		fail("fork A: %s", strerror(errno));
	if (children[0] == 0) {
		is_child = true;
		close(p1[0]);
		close(p2[0]);
		close(p2[1]);
		producer(p1[1]);
	}
	/* B: pipe 1 to pipe 2 */
	children[1] = fork();
	if (children[1] < 0)
		fail("fork B: %s", strerror(errno));
	if (children[1] == 0) {
		is_child = true;
		close(p1[1]);
		close(p2[0]);
		filter(p1[0], p2[1]);
	}
	close(p1[0]);
	close(p1[1]);
	/* C and its grandchild: write pipe 2 */
	children[2] = fork();
	if (children[2] < 0)
		fail("fork C: %s", strerror(errno));
	if (children[2] == 0) {
		is_child = true;
		close(p2[0]);
		middle(p2[1]);
	}
	close(p2[1]);

	in = fdopen(p2[0], "r");
	if (!in)
		fail("fdopen: %s", strerror(errno));
	while (fgets(line, sizeof(line), in)) {
		if (!strchr(line, '\n'))
			fail("line without end on pipe 2: '%.60s'", line);
		parse(&s, line);
		if (s.next % 5000 == 1 && line[0] == 'V')
			printf("forktree: line %ld\n", s.next - 1);
	}
	if (ferror(in))
		fail("read from pipe 2: %s", strerror(errno));
	fclose(in);

	/* the pids each process saw itself against those fork returned */
	for (int i = 0; i < 3; i++)
		forked[i] = children[i];
	for (int i = 0; i < 3; i++) {
		if (s.pid[i] != forked[i])
			fail("%c reported getpid() %d, fork returned %d", "ABC"[i],
			     s.pid[i], forked[i]);
		if (s.ppid[i] != me.pid)
			fail("%c reported getppid() %d, the parent is %d", "ABC"[i],
			     s.ppid[i], me.pid);
	}
	if (!s.pid[3])
		fail("the grandchild did not report");
	if (s.ppid[3] != forked[2])
		fail("G reported getppid() %d, C is %d", s.ppid[3], forked[2]);
	if (s.waited != s.pid[3] || s.waited_status != G_STATUS)
		fail("C's waitpid returned %d status %d, G is %d and exits %d",
		     s.waited, s.waited_status, s.pid[3], G_STATUS);

	reap(0, "A");
	reap(1, "B");
	reap(2, "C");
	ids_check(&me, "at the end");

	if (s.next != LINES + 1)
		fail("pipe 2 ended after line %ld of %d", s.next - 1, LINES);
	if (s.heartbeat != HEARTBEATS)
		fail("%d heartbeats, want %d", s.heartbeat, HEARTBEATS);
	printf("RESULT sum=%llu count=%ld\n", (unsigned long long)s.sum, s.next - 1);
	printf("PASS\n");
	return 0;
}
