/*
 * deleted_file: a file is created, filled, and unlinked while open; the
 * program keeps writing and reading it by offset and checks every read
 * against a copy in memory (a restart must bring the deleted file back with
 * the content it had at the checkpoint).  A second, regular file is open
 * with O_APPEND: before each write its offset must be where the last write
 * left it, after each write at the end of the file.
 * argv[1]: path prefix (default $TMPDIR/crest-deleted_file); the files are
 * <prefix>.del (unlinked at once) and <prefix>.log (removed at the end).
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

#define DSIZE (1u << 20)
#define BLOCK 4096u
#define STEPS 400
#define STEP_MS 18

static unsigned char shadow[DSIZE];

static void fail(const char *why, long a)
{
	printf("FAIL deleted_file: %s (%ld)\n", why, a);
	fflush(stdout);
	exit(1);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, off + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail("pwrite failed, errno", errno);
		done += n;
	}
}

static void pread_all(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail("pread failed or hit the end, errno", n < 0 ? errno : 0);
		done += n;
	}
}

int main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	char prefix[3000], dpath[3100], lpath[3100];
	static unsigned char blk[BLOCK];
	uint64_t rng = 7, hash = 0xcbf29ce484222325ull, lines = 0;
	off_t log_pos = 0;
	struct stat st;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1)
		snprintf(prefix, sizeof(prefix), "%s", argv[1]);
	else
		snprintf(prefix, sizeof(prefix), "%s/crest-deleted_file", tmp ? tmp : "/tmp");
	snprintf(dpath, sizeof(dpath), "%s.del", prefix);
	snprintf(lpath, sizeof(lpath), "%s.log", prefix);
	printf("deleted_file: start, %d steps\n", STEPS);

	int dfd = open(dpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int lfd = open(lpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	if (dfd < 0 || lfd < 0)
		fail("cannot create the files, errno", errno);
	for (size_t i = 0; i < DSIZE; i++)
		shadow[i] = (unsigned char)(i * 7 + (i >> 12));
	pwrite_all(dfd, shadow, DSIZE, 0);
	if (unlink(dpath) != 0)
		fail("unlink failed, errno", errno);
	if (fstat(dfd, &st) != 0 || st.st_nlink != 0)
		fail("the open file still has links", (long)st.st_nlink);

	for (int step = 0; step < STEPS; step++) {
		for (int k = 0; k < 4; k++) {
			rng = rng * 6364136223846793005ull + 1442695040888963407ull;
			off_t off = (off_t)((rng >> 33) % (DSIZE / BLOCK)) * BLOCK;

			pread_all(dfd, blk, BLOCK, off);
			if (memcmp(blk, shadow + off, BLOCK) != 0)
				fail("deleted file content differs at offset", (long)off);
			if (k < 2) {
				for (size_t i = 0; i < BLOCK; i++)
					shadow[off + i] = (unsigned char)(shadow[off + i] * 3 + step + k);
				pwrite_all(dfd, shadow + off, BLOCK, off);
			}
			hash = (hash ^ (uint64_t)off ^ shadow[off]) * 0x100000001b3ull;
		}
		if (fstat(dfd, &st) != 0 || st.st_size != DSIZE)
			fail("deleted file has the wrong size", (long)st.st_size);

		/* the append file */
		char line[64];
		int len = snprintf(line, sizeof(line), "line %d\n", step);
		off_t pos = lseek(lfd, 0, SEEK_CUR);
		if (pos != log_pos)
			fail("append descriptor offset moved, now", (long)pos);
		ssize_t n;
		do
			n = write(lfd, line, len);
		while (n < 0 && errno == EINTR);
		if (n != len)
			fail("append write failed, errno", errno);
		log_pos = lseek(lfd, 0, SEEK_CUR);
		if (fstat(lfd, &st) != 0 || st.st_size != log_pos)
			fail("append descriptor is not at the end of the file", (long)log_pos);
		lines++;
		if (step % 100 == 99)
			printf("deleted_file: step %d\n", step + 1);
		sleep_ms(STEP_MS);
	}

	uint64_t sum = 0;
	for (size_t i = 0; i < DSIZE; i += BLOCK) {
		pread_all(dfd, blk, BLOCK, i);
		if (memcmp(blk, shadow + i, BLOCK) != 0)
			fail("final check: deleted file differs at offset", (long)i);
		for (size_t j = 0; j < BLOCK; j++)
			sum += blk[j] * (j + 1);
	}
	close(dfd);
	close(lfd);
	unlink(lpath);
	printf("RESULT deleted_file lines %llu sum %llu checksum 0x%016llx\n",
	       (unsigned long long)lines, (unsigned long long)sum, (unsigned long long)hash);
	printf("PASS\n");
	return 0;
}
