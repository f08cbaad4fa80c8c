/* SPDX-License-Identifier: MIT */
/*
 * wrappers: what libcrest's wrappers and its presence cost the calls an
 * application makes all the time (tests/bench/wrappers.sh runs it natively
 * and under `crest launch`; docs/bench.md).
 *
 * For each call: the number of iterations that takes about 0.3 s is found
 * by doubling from 1, then 3 runs of that many iterations are timed with
 * CLOCK_MONOTONIC; the best run counts.  Prints one line per call,
 *   <name> <ns per call> <iterations>
 * and `# ...` comment lines; exit status 1 when a call failed.
 *
 * wrappers [NAME...]: only the named calls.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TARGET_NS 300000000ull	/* one timed run */
#define CALIB_NS 30000000ull	/* calibration stops above this */
#define RUNS 3

static int pipefd[2];
static volatile uint64_t sink;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "wrappers: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void b_clock_gettime(uint64_t n)
{
	struct timespec ts;

	for (uint64_t i = 0; i < n; i++) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		sink += (uint64_t)ts.tv_nsec;
	}
}

static void b_malloc_free(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		/* the volatile pointer keeps gcc from removing the pair */
		void *volatile p = malloc(64);

		if (!p)
			die("malloc(64)");
		free(p);
	}
}

static void b_getpid(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		sink += (uint64_t)getpid();
}

static void b_pipe(uint64_t n)
{
	char buf[64] = { 0 };

	for (uint64_t i = 0; i < n; i++) {
		if (write(pipefd[1], buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			die("write of 64 bytes to a pipe");
		if (read(pipefd[0], buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			die("read of 64 bytes from a pipe");
	}
}

static void b_open_close(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		int fd = open("/dev/null", O_RDONLY);

		if (fd < 0)
			die("open /dev/null");
		close(fd);
	}
}

/* open(O_CREAT) of a file that exists: crest looks first whether the open
 * will make it (preload/created_record.c) */
static char creat_path[] = "/tmp/crest-bench-creat.XXXXXX";

static void b_open_creat_close(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		int fd = open(creat_path, O_WRONLY | O_CREAT, 0600);

		if (fd < 0)
			die("open O_CREAT of an existing file");
		close(fd);
	}
}

/* a file made and removed: under crest both are recorded in the journal
 * of files made after a checkpoint (preload/created_record.c) */
static char made_path[sizeof(creat_path) + 8];

static void b_create_unlink(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		int fd = open(made_path, O_WRONLY | O_CREAT | O_EXCL, 0600);

		if (fd < 0)
			die("open O_CREAT|O_EXCL of a new file");
		close(fd);
		if (unlink(made_path))
			die("unlink");
	}
}

static void b_stat(uint64_t n)
{
	struct stat st;

	for (uint64_t i = 0; i < n; i++) {
		if (stat("/etc/passwd", &st))
			die("stat /etc/passwd");
		sink += (uint64_t)st.st_size;
	}
}

static void b_fork_wait(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		int status;
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid == 0)
			_exit(0);
		if (waitpid(pid, &status, 0) != pid)
			die("waitpid");
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "wrappers: fork: child ended with status 0x%x\n", status);
			exit(1);
		}
	}
}

static void *thread_fn(void *arg)
{
	return arg;
}

static void b_thread(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		pthread_t t;
		int rc = pthread_create(&t, NULL, thread_fn, NULL);

		if (rc) {
			errno = rc;
			die("pthread_create");
		}
		rc = pthread_join(t, NULL);
		if (rc) {
			errno = rc;
			die("pthread_join");
		}
	}
}

static const struct bench {
	const char *name;
	void (*fn)(uint64_t n);
} benches[] = {
	{ "clock_gettime", b_clock_gettime },
	{ "malloc_free", b_malloc_free },
	{ "getpid", b_getpid },
	{ "pipe_write_read", b_pipe },
	{ "open_close", b_open_close },
	{ "open_creat_close", b_open_creat_close },
	{ "create_unlink", b_create_unlink },
	{ "stat", b_stat },
	{ "fork_waitpid", b_fork_wait },
	{ "pthread_create_join", b_thread },
};

static void run(const struct bench *b)
{
	uint64_t n = 1, t, best = UINT64_MAX;

	for (;;) {
		t = now_ns();
		b->fn(n);
		t = now_ns() - t;
		if (t >= CALIB_NS || n >= (1ull << 40))
			break;
		n *= 2;
	}
	n = t ? n * TARGET_NS / t : n;
	if (n < 1)
		n = 1;
	for (int r = 0; r < RUNS; r++) {
		t = now_ns();
		b->fn(n);
		t = now_ns() - t;
		if (t < best)
			best = t;
	}
	printf("%s %.1f %llu\n", b->name, (double)best / (double)n, (unsigned long long)n);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	size_t nb = sizeof(benches) / sizeof(benches[0]);

	if (pipe(pipefd))
		die("pipe");
	int cfd = mkstemp(creat_path);
	if (cfd < 0)
		die("mkstemp");
	close(cfd);
	snprintf(made_path, sizeof(made_path), "%s.made", creat_path);
	printf("# wrappers: pid %d, LD_PRELOAD=%s, best of %d runs of ~%llu ms each\n",
	       (int)getpid(), getenv("LD_PRELOAD") ? getenv("LD_PRELOAD") : "",
	       RUNS, TARGET_NS / 1000000);
	fflush(stdout);
	for (size_t i = 0; i < nb; i++) {
		int want = argc < 2;

		for (int a = 1; a < argc; a++)
			want |= !strcmp(argv[a], benches[i].name);
		if (want)
			run(&benches[i]);
	}
	close(pipefd[0]);
	close(pipefd[1]);
	unlink(creat_path);
	return 0;
}
