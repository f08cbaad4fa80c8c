/*
 * fifo_pair: two processes talking through named FIFOs.  The parent makes a
 * private directory in $TMPDIR (or /tmp) with two FIFOs, "ping" and "pong",
 * forks a child that execs this program again (/proc/self/exe child DIR,
 * so the second process is a fresh exec'd image), and plays ping-pong:
 * "ping i\n" one way, "pong i f(i)\n" back, MESSAGES times, a message every
 * GAP_US microseconds, then "end\n" / "bye COUNT SUM\n".  Both sides check
 * that the numbers follow each other with none missing or repeated, and that
 * their pids stay the same; the parent checks the child's exit status.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MESSAGES 5000
#define GAP_US 2000
#define MOD 65537ull

static const char *role = "parent";
static char dir[PATH_MAX], ping_path[PATH_MAX + 8], pong_path[PATH_MAX + 8];
static pid_t child;

static void cleanup(void)
{
	if (ping_path[0])
		unlink(ping_path);
	if (pong_path[0])
		unlink(pong_path);
	if (dir[0])
		rmdir(dir);
}

static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL fifo_pair: %s: ", role);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	if (strcmp(role, "parent") == 0)
		cleanup();
	exit(1);
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* one message, one write(): retries EINTR and short writes */
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
			fail("write: %s", strerror(errno));
		off += w;
	}
}

static void get(FILE *f, char *line, size_t size, const char *what)
{
	if (!fgets(line, size, f))
		fail("%s: %s", what, ferror(f) ? strerror(errno) : "end of FIFO");
	if (!strchr(line, '\n'))
		fail("%s: line without end: '%.40s'", what, line);
}

static int open_fifo(const char *path, int flags)
{
	int fd;

	while ((fd = open(path, flags)) < 0 && errno == EINTR)
		;
	if (fd < 0)
		fail("open %s: %s", path, strerror(errno));
	return fd;
}

static uint64_t f_of(long i)
{
	return (uint64_t)i * 31 % MOD;
}

static void check_ids(pid_t pid, pid_t ppid, long i)
{
	if (getpid() != pid)
		fail("getpid() %d at message %ld, %d at start", getpid(), i, pid);
	if (getppid() != ppid)
		fail("getppid() %d at message %ld, %d at start", getppid(), i, ppid);
}

static int run_child(void)
{
	pid_t pid = getpid(), ppid = getppid();
	char line[128];
	long want = 1, i;
	uint64_t sum = 0;
	FILE *in;
	int out;

	role = "child";
	in = fdopen(open_fifo(ping_path, O_RDONLY), "r");
	if (!in)
		fail("fdopen: %s", strerror(errno));
	out = open_fifo(pong_path, O_WRONLY);
	put(out, "hello %d %d\n", pid, ppid);
	for (;;) {
		get(in, line, sizeof(line), "reading ping");
		if (strcmp(line, "end\n") == 0)
			break;
		if (sscanf(line, "ping %ld", &i) != 1)
			fail("bad message '%.40s'", line);
		if (i != want)
			fail("ping %ld, want %ld (%s)", i, want, i < want ? "repeated" : "missing");
		sum += f_of(i);
		put(out, "pong %ld %llu\n", i, (unsigned long long)f_of(i));
		if (i % 500 == 0)
			check_ids(pid, ppid, i);
		want++;
	}
	check_ids(pid, ppid, want);
	put(out, "bye %ld %llu\n", want - 1, (unsigned long long)sum);
	close(out);
	fclose(in);
	return 0;
}

int main(int argc, char **argv)
{
	char exe[PATH_MAX], line[128];
	const char *tmp = getenv("TMPDIR");
	pid_t me = getpid(), hello_pid, hello_ppid, got;
	uint64_t sum = 0, v, child_sum;
	long i, count;
	int status, out;
	FILE *in;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && strcmp(argv[1], "child") == 0) {
		snprintf(ping_path, sizeof(ping_path), "%s/ping", argv[2]);
		snprintf(pong_path, sizeof(pong_path), "%s/pong", argv[2]);
		return run_child();
	}
	if (argc != 1) {
		fprintf(stderr, "usage: %s\n", argv[0]);
		return 2;
	}

	printf("fifo_pair: start, %d messages\n", MESSAGES);
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		fail("readlink /proc/self/exe: %s", strerror(errno));
	exe[n] = 0;
	snprintf(dir, sizeof(dir), "%s/crest-fifo_pair.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		dir[0] = 0;
		fail("mkdtemp: %s", strerror(errno));
	}
	snprintf(ping_path, sizeof(ping_path), "%s/ping", dir);
	snprintf(pong_path, sizeof(pong_path), "%s/pong", dir);
	if (mkfifo(ping_path, 0600))
		fail("mkfifo %s: %s", ping_path, strerror(errno));
	if (mkfifo(pong_path, 0600))
		fail("mkfifo %s: %s", pong_path, strerror(errno));

	child = fork();
	if (child < 0)
		fail("fork: %s", strerror(errno));
	if (child == 0) {
		execl(exe, exe, "child", dir, (char *)NULL);
		printf("FAIL fifo_pair: exec %s: %s\n", exe, strerror(errno));
		fflush(stdout);
		_exit(127);
	}

	/* the same order as the child: ping then pong (each open waits for
	 * the other end) */
	out = open_fifo(ping_path, O_WRONLY);
	in = fdopen(open_fifo(pong_path, O_RDONLY), "r");
	if (!in)
		fail("fdopen: %s", strerror(errno));
	get(in, line, sizeof(line), "reading hello");
	if (sscanf(line, "hello %d %d", &hello_pid, &hello_ppid) != 2)
		fail("bad hello '%.40s'", line);
	if (hello_pid != child)
		fail("the child says its pid is %d, fork returned %d", hello_pid, child);
	if (hello_ppid != me)
		fail("the child says its parent is %d, the parent is %d", hello_ppid, me);

	for (long k = 1; k <= MESSAGES; k++) {
		put(out, "ping %ld\n", k);
		get(in, line, sizeof(line), "reading pong");
		if (sscanf(line, "pong %ld %" SCNu64, &i, &v) != 2)
			fail("bad message '%.40s'", line);
		if (i != k)
			fail("pong %ld, want %ld (%s)", i, k, i < k ? "repeated" : "missing");
		if (v != f_of(k))
			fail("pong %ld carries %llu, want %llu", k, (unsigned long long)v,
			     (unsigned long long)f_of(k));
		sum += v;
		if (k % 1000 == 0)
			printf("fifo_pair: message %ld\n", k);
		if (k % 500 == 0 && getpid() != me)
			fail("getpid() %d at message %ld, %d at start", getpid(), k, me);
		sleep_us(GAP_US);
	}
	put(out, "end\n");
	get(in, line, sizeof(line), "reading bye");
	if (sscanf(line, "bye %ld %" SCNu64, &count, &child_sum) != 2)
		fail("bad message '%.40s'", line);
	if (count != MESSAGES || child_sum != sum)
		fail("the child counted %ld messages summing %llu, the parent %d summing %llu",
		     count, (unsigned long long)child_sum, MESSAGES, (unsigned long long)sum);
	close(out);
	fclose(in);

	while ((got = waitpid(child, &status, 0)) < 0 && errno == EINTR)
		;
	if (got != child)
		fail("waitpid(%d) returned %d: %s", child, got, strerror(errno));
	child = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("the child ended with status 0x%x", status);
	cleanup();
	printf("RESULT count=%ld sum=%llu\n", count, (unsigned long long)sum);
	printf("PASS\n");
	return 0;
}
