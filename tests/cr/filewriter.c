/*
 * filewriter PATH SIZE_MiB [READONLY_PATH]: a program with a file open for
 * writing that grows while it runs, for the tests of what crest restart does
 * with such files (tests/bats/files.bats).
 *
 * It writes SIZE_MiB of deterministic data at the start of PATH (the
 * header, with pwrite), then appends STEPS records of 4 KiB with write() at
 * the descriptor's offset, one every STEP_MS ms.  Record i holds i and data
 * that depends only on i.  Before each record it checks that the file is
 * exactly as long as what it wrote (header + i records): after a restart
 * the offset is the checkpointed one, so a file that grew after the
 * checkpoint and was not cut back is longer than that.  Such a mismatch is
 * printed ("size mismatch at step N: size S, expected E") and makes the
 * program FAIL, unless FILEWRITER_ALLOW_LONGER=1 is in the environment
 * (files crest is told not to cut back); a file shorter than expected is
 * always a failure.
 *
 * A pause of more than 400 ms between two steps (a checkpoint, a kill and
 * a restart; measured from the start of one step to the start of the next,
 * since the program is most likely stopped in its sleep) is reported as "resumed at step N: size S, expected E".
 * "step N" every 50 steps.  At the end it reads the whole file back: the
 * header, every record, and the size must be exactly header + STEPS
 * records; then "PASS" (exit 0) or "FAIL ..." (exit 1).
 *
 * With READONLY_PATH it also keeps that file open read-only (and reads it
 * at the start), for the test of a read-only file changed after a
 * checkpoint.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STEPS 300
#define STEP_MS 20
#define REC 4096
#define GAP_MS 400

static int failures;

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* the header: 8 bytes at a time, a function of the offset */
static void header_chunk(unsigned char *buf, size_t len, uint64_t off)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = mix((off + i) / 8);

		memcpy(buf + i, &v, 8);
	}
}

/* record i: "record %08d\n" then a function of i */
static void record(unsigned char *buf, uint64_t i)
{
	header_chunk(buf, REC, 0x5ec0000000ull + i * REC);
	snprintf((char *)buf, 32, "record %08llu\n", (unsigned long long)i);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void die(const char *what, const char *path)
{
	printf("FAIL filewriter: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

static void write_all(int fd, const unsigned char *buf, size_t len, const char *path)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write", path);
		buf += n;
		len -= (size_t)n;
	}
}

static int read_at(int fd, unsigned char *buf, size_t len, uint64_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static unsigned char buf[1 << 20], want[1 << 20];
	const char *path, *ro_path = NULL;
	const char *allow_env = getenv("FILEWRITER_ALLOW_LONGER");
	int allow_longer = allow_env && strcmp(allow_env, "1") == 0;
	uint64_t header, mib;
	long long last;
	struct stat st;
	int fd, ro = -1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: filewriter PATH SIZE_MiB [READONLY_PATH]\n");
		return 2;
	}
	path = argv[1];
	mib = strtoull(argv[2], NULL, 10);
	header = mib << 20;
	if (argc == 4) {
		ro_path = argv[3];
		ro = open(ro_path, O_RDONLY);
		if (ro < 0)
			die("open", ro_path);
		if (read(ro, buf, sizeof(buf)) < 0)
			die("read", ro_path);
	}

	fd = open(path, O_WRONLY | O_CREAT, 0644);
	if (fd < 0)
		die("open", path);
	if (ftruncate(fd, 0) < 0)
		die("ftruncate", path);
	for (uint64_t off = 0; off < header; off += sizeof(buf)) {
		header_chunk(buf, sizeof(buf), off);
		if (pwrite(fd, buf, sizeof(buf), (off_t)off) != (ssize_t)sizeof(buf))
			die("pwrite", path);
	}
	if (lseek(fd, (off_t)header, SEEK_SET) != (off_t)header)
		die("lseek", path);
	printf("filewriter: %s, header %llu MiB, %d records of %d bytes%s%s%s\n",
	       path, (unsigned long long)mib, STEPS, REC,
	       ro_path ? ", read-only " : "", ro_path ? ro_path : "",
	       allow_longer ? ", a longer file allowed" : "");

	last = now_ms();
	for (uint64_t step = 0; step < STEPS; step++) {
		uint64_t expect = header + step * REC;
		long long t = now_ms();

		if (fstat(fd, &st) < 0)
			die("fstat", path);
		if (step > 0 && t - last > STEP_MS + GAP_MS)
			printf("resumed at step %llu: size %lld, expected %llu (gap %lld ms)\n",
			       (unsigned long long)step, (long long)st.st_size,
			       (unsigned long long)expect, t - last);
		if ((uint64_t)st.st_size != expect) {
			printf("size mismatch at step %llu: size %lld, expected %llu\n",
			       (unsigned long long)step, (long long)st.st_size,
			       (unsigned long long)expect);
			if ((uint64_t)st.st_size < expect || !allow_longer)
				failures++;
		}
		record(buf, step);
		write_all(fd, buf, REC, path);
		if (step % 50 == 0)
			printf("step %llu\n", (unsigned long long)step);
		last = t;
		sleep_ms(STEP_MS);
	}

	/* read it all back through a new descriptor */
	int rfd = open(path, O_RDONLY);

	if (rfd < 0)
		die("open for reading", path);
	if (fstat(rfd, &st) < 0)
		die("fstat", path);
	if ((uint64_t)st.st_size != header + (uint64_t)STEPS * REC) {
		printf("FAIL filewriter: %s is %lld bytes, expected %llu\n", path,
		       (long long)st.st_size, (unsigned long long)(header + (uint64_t)STEPS * REC));
		failures++;
	}
	for (uint64_t off = 0; off < header; off += sizeof(buf)) {
		header_chunk(want, sizeof(want), off);
		if (read_at(rfd, buf, sizeof(buf), off) < 0 || memcmp(buf, want, sizeof(buf)) != 0) {
			printf("FAIL filewriter: header differs in the MiB at %llu\n",
			       (unsigned long long)off);
			failures++;
			break;
		}
	}
	for (uint64_t i = 0; i < STEPS; i++) {
		record(want, i);
		if (read_at(rfd, buf, REC, header + i * REC) < 0 || memcmp(buf, want, REC) != 0) {
			printf("FAIL filewriter: record %llu differs\n", (unsigned long long)i);
			failures++;
			break;
		}
	}
	close(rfd);
	if (failures) {
		printf("FAIL filewriter: %d problems\n", failures);
		return 1;
	}
	printf("RESULT filewriter %llu bytes\n", (unsigned long long)st.st_size);
	printf("PASS\n");
	return 0;
}
