/*
 * mmap_file: creates a data file (argv[1], default $TMPDIR/crest-mmap_file.dat),
 * maps it MAP_PRIVATE, and in every step checks mapped pages against the
 * file, writes into some mapped pages (copy-on-write: the file must not
 * change) and reads the file sequentially through one descriptor whose
 * offset must carry across a checkpoint.  The file is removed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define FILE_SIZE (8u << 20)
#define PAGE 4096u
#define NPAGES (FILE_SIZE / PAGE)
#define STEPS 400
#define STEP_MS 18
#define READ_CHUNK 65536u

static char path[4096];
static unsigned char dirty[NPAGES];	/* generation of our private writes */

static void fail(const char *why)
{
	printf("FAIL mmap_file: %s\n", why);
	fflush(stdout);
	exit(1);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static unsigned char file_byte(size_t off)
{
	return (unsigned char)((off * 2654435761u) >> 13);
}

static unsigned char priv_byte(size_t off, unsigned gen)
{
	return (unsigned char)(file_byte(off) ^ (gen * 37 + 1));
}

static void full_read(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail("pread of the data file failed");
		done += n;
	}
}

static void create_file(void)
{
	unsigned char *buf = malloc(FILE_SIZE);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	size_t done = 0;

	if (!buf || fd < 0)
		fail("cannot create the data file");
	for (size_t i = 0; i < FILE_SIZE; i++)
		buf[i] = file_byte(i);
	while (done < FILE_SIZE) {
		ssize_t n = write(fd, buf + done, FILE_SIZE - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail("cannot write the data file");
		done += n;
	}
	close(fd);
	free(buf);
}

int main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	static unsigned char page[PAGE], chunk[READ_CHUNK];
	uint64_t seq_off = 0, hash = 0xcbf29ce484222325ull, rng = 42;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1)
		snprintf(path, sizeof(path), "%s", argv[1]);
	else
		snprintf(path, sizeof(path), "%s/crest-mmap_file.dat", tmp ? tmp : "/tmp");
	printf("mmap_file: start, %u MiB file, %d steps\n", FILE_SIZE >> 20, STEPS);
	create_file();

	int fd = open(path, O_RDONLY);
	int seq = open(path, O_RDONLY);
	if (fd < 0 || seq < 0)
		fail("cannot open the data file");
	unsigned char *map = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		fail("mmap failed");

	for (int step = 0; step < STEPS; step++) {
		for (int k = 0; k < 8; k++) {
			rng = rng * 6364136223846793005ull + 1442695040888963407ull;
			size_t pg = (rng >> 33) % NPAGES;
			size_t base = pg * PAGE;

			/* the file never changes; the map holds our writes */
			full_read(fd, page, PAGE, base);
			for (size_t i = 0; i < PAGE; i += 61) {
				if (page[i] != file_byte(base + i))
					fail("file content changed (a private write reached the file?)");
				unsigned char want = dirty[pg] ? priv_byte(base + i, dirty[pg]) : file_byte(base + i);
				if (map[base + i] != want)
					fail("mapped content differs from what the program wrote");
			}
			if (k < 2) {
				dirty[pg]++;
				if (!dirty[pg])
					dirty[pg] = 1;
				for (size_t i = 0; i < PAGE; i++)
					map[base + i] = priv_byte(base + i, dirty[pg]);
			}
			hash = (hash ^ pg ^ dirty[pg]) * 0x100000001b3ull;
		}

		/* sequential read through the shared offset of `seq` */
		off_t pos = lseek(seq, 0, SEEK_CUR);
		if (pos != (off_t)seq_off)
			fail("offset of the sequential descriptor changed");
		ssize_t n;
		do
			n = read(seq, chunk, READ_CHUNK);
		while (n < 0 && errno == EINTR);
		if (n != READ_CHUNK)
			fail("short read from the sequential descriptor");
		for (size_t i = 0; i < READ_CHUNK; i += 13)
			if (chunk[i] != file_byte(seq_off + i))
				fail("sequential read returned wrong data");
		seq_off += READ_CHUNK;
		if (seq_off == FILE_SIZE) {
			seq_off = 0;
			lseek(seq, 0, SEEK_SET);
		}
		if (step % 100 == 99)
			printf("mmap_file: step %d\n", step + 1);
		sleep_ms(STEP_MS);
	}

	/* final full check of every page */
	uint64_t sum = 0;
	for (size_t pg = 0; pg < NPAGES; pg++)
		for (size_t i = 0; i < PAGE; i++) {
			size_t off = pg * PAGE + i;
			unsigned char want = dirty[pg] ? priv_byte(off, dirty[pg]) : file_byte(off);
			if (map[off] != want)
				fail("final check: mapped content is wrong");
			sum += map[off] * (off % 251 + 1);
		}
	munmap(map, FILE_SIZE);
	close(fd);
	close(seq);
	unlink(path);
	printf("RESULT mmap_file sum %llu checksum 0x%016llx\n",
	       (unsigned long long)sum, (unsigned long long)hash);
	printf("PASS\n");
	return 0;
}
