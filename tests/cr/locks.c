/*
 * locks: holds three file locks for its whole run and checks, every 40
 * steps, that each is still held, as another open file description (and,
 * for the POSIX lock, another process) sees it:
 *   a.lock  flock(LOCK_EX)
 *   b.lock  POSIX write lock on bytes 5..14 (fcntl F_SETLK)
 *   c.lock  OFD read lock on the whole file (F_OFD_SETLK)
 * A lock lost across a restart prints FAIL.  argv[1]: the folder for the
 * files (made if missing).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STEPS 400
#define STEP_MS 18

static char dir[4000];

static void fail(const char *why)
{
	printf("FAIL locks: %s (%s)\n", why, strerror(errno));
	fflush(stdout);
	exit(1);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int open_file(const char *name)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		fail("cannot open a lock file");
	return fd;
}

static void check(void)
{
	/* flock: another description of a.lock cannot have it */
	int fd = open_file("a.lock");
	if (flock(fd, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK)
		fail("the flock on a.lock is not held");
	close(fd);
	/* OFD: another description sees the read lock on c.lock */
	fd = open_file("c.lock");
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		fail("F_OFD_GETLK");
	if (fl.l_type != F_RDLCK)
		fail("the OFD read lock on c.lock is not held");
	close(fd);
	/* POSIX: another process sees the write lock on bytes 5..14 */
	pid_t c = fork();
	if (c < 0)
		fail("fork");
	if (c == 0) {
		int f = open_file("b.lock");
		struct flock q = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 100 };
		if (fcntl(f, F_GETLK, &q) < 0)
			_exit(2);
		_exit(q.l_type == F_WRLCK && q.l_start == 5 && q.l_len == 10 ? 0 : 1);
	}
	int st;
	while (waitpid(c, &st, 0) < 0)
		if (errno != EINTR)
			fail("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail("the POSIX write lock on b.lock (bytes 5..14) is not held");
}

int main(int argc, char **argv)
{
	snprintf(dir, sizeof(dir), "%s", argc > 1 ? argv[1] : "/tmp/crest-locks");
	mkdir(dir, 0700);
	setvbuf(stdout, NULL, _IOLBF, 0);
	int a = open_file("a.lock"), b = open_file("b.lock"), c = open_file("c.lock");
	if (flock(a, LOCK_EX | LOCK_NB))
		fail("flock a.lock");
	struct flock w = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 10 };
	if (fcntl(b, F_SETLK, &w))
		fail("F_SETLK b.lock");
	struct flock r = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
	if (fcntl(c, F_OFD_SETLK, &r))
		fail("F_OFD_SETLK c.lock");
	printf("locks: start, %d steps\n", STEPS);
	uint64_t sum = 0;
	for (int step = 1; step <= STEPS; step++) {
		sum = sum * 31 + (uint64_t)step;
		if (step % 40 == 0) {
			check();
			printf("locks: step %d, all held\n", step);
		}
		sleep_ms(STEP_MS);
	}
	check();
	printf("RESULT locks %llu\n", (unsigned long long)sum);
	printf("PASS\n");
	return 0;
}
