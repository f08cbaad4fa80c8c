/* SPDX-License-Identifier: MIT */
/*
 * pathmap: a program whose files move while it is stopped.  It reads
 * numbers from a file given by absolute path (argv[1]) and from ./data.txt
 * relative to its working directory, appends to $TMPDIR/pathmap.log, and
 * checks that getcwd() keeps answering what it said at the start.  At the
 * end it prints its working directory, CREST_RESTART_COUNT and
 * CREST_TEST_ENV as it sees them, `RESULT sum=...` and PASS.
 *
 * Like Open MPI's session folder, it makes $TMPDIR/sess/ and keeps open
 * there a log (sess/held.log), a FIFO (sess/fifo, read and write), a FIFO
 * it only reads (sess/mbox, with one byte always in flight) and the
 * folder itself, and maps sess/shared.map shared; every 50 numbers it
 * writes to the held log, passes a byte through the FIFO it holds and one
 * through the FIFO opened by name, writes a byte into the mailbox opened
 * by name and reads the one before from the end it holds, opens the
 * folder by name, stores the count in the map and reads it back from the
 * file opened by name.  A restart on a node whose TMPDIR is new and empty
 * must give them all back, where the program's paths lead.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: pathmap /abs/data.txt (and ./data.txt in the working directory)\n");
		return 2;
	}
	char cwd0[PATH_MAX], cwd[PATH_MAX], logp[PATH_MAX];
	if (!getcwd(cwd0, sizeof(cwd0)))
		return 1;
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(logp, sizeof(logp), "%s/pathmap.log", tmp);
	FILE *a = fopen(argv[1], "r"), *r = fopen("data.txt", "r");
	if (!a || !r) {
		printf("FAIL pathmap: cannot open the data files\n");
		return 1;
	}
	char sess[PATH_MAX], held[PATH_MAX + 16], fifo[PATH_MAX + 16], shared[PATH_MAX + 16], mboxp[PATH_MAX + 16];
	snprintf(sess, sizeof(sess), "%s/sess", tmp);
	snprintf(held, sizeof(held), "%s/held.log", sess);
	snprintf(fifo, sizeof(fifo), "%s/fifo", sess);
	snprintf(shared, sizeof(shared), "%s/shared.map", sess);
	snprintf(mboxp, sizeof(mboxp), "%s/mbox", sess);
	if ((mkdir(sess, 0700) < 0 && errno != EEXIST) || (mkfifo(fifo, 0600) < 0 && errno != EEXIST) ||
	    (mkfifo(mboxp, 0600) < 0 && errno != EEXIST)) {
		printf("FAIL pathmap: cannot make %s and its FIFO\n", sess);
		return 1;
	}
	int hfd = open(held, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	int ffd = open(fifo, O_RDWR | O_NONBLOCK);
	int sfd = open(sess, O_RDONLY | O_DIRECTORY);
	/* the mailbox: this process only reads it; a writer opens it by name */
	int mbox = open(mboxp, O_RDONLY | O_NONBLOCK), w0 = open(mboxp, O_WRONLY | O_NONBLOCK);
	char expect = '@';
	if (mbox < 0 || w0 < 0 || write(w0, &expect, 1) != 1) {
		printf("FAIL pathmap: cannot use the mailbox %s\n", mboxp);
		return 1;
	}
	close(w0);
	int mfd = open(shared, O_RDWR | O_CREAT | O_TRUNC, 0600);
	long *map = mfd >= 0 && !ftruncate(mfd, 4096) ? mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0)
						     : MAP_FAILED;
	if (mfd >= 0)
		close(mfd);
	if (hfd < 0 || ffd < 0 || sfd < 0 || map == MAP_FAILED) {
		printf("FAIL pathmap: cannot open what is in %s\n", sess);
		return 1;
	}
	long sum = 0, v;
	int n = 0;
	printf("pathmap: start in %s\n", cwd0);
	fflush(stdout);
	while (fscanf(a, "%ld", &v) == 1) {
		long w;
		if (fscanf(r, "%ld", &w) != 1 || w != v) {
			printf("FAIL pathmap: the two files differ at %d\n", n);
			return 1;
		}
		sum += v;
		n++;
		/* a file opened now by its old absolute path, and one in $TMPDIR */
		if (n % 50 == 0) {
			FILE *again = fopen(argv[1], "r");
			FILE *log = fopen(logp, "a");
			if (!again || !log) {
				printf("FAIL pathmap: cannot open %s or %s after %d numbers\n", argv[1], logp, n);
				return 1;
			}
			fprintf(log, "%d\n", n);
			fclose(log);
			fclose(again);
			/* the session folder: the held log, the FIFO by name, the folder */
			char line[32], b = 0;
			int len = snprintf(line, sizeof(line), "%d\n", n);
			int f2 = open(fifo, O_RDWR | O_NONBLOCK), d2 = open(sess, O_RDONLY | O_DIRECTORY);
			struct stat st;
			const char *bad = write(hfd, line, (size_t)len) != len ? "the held log"
					  : f2 < 0 || write(f2, "x", 1) != 1 || read(f2, &b, 1) != 1 || b != 'x'
						  ? "the FIFO by name"
					  : write(ffd, "y", 1) != 1 || read(ffd, &b, 1) != 1 || b != 'y' ? "the FIFO held"
					  : d2 < 0 ? "the folder by name"
					  : fstat(sfd, &st) < 0 || !S_ISDIR(st.st_mode) ? "the folder held" : NULL;
			char next = (char)('a' + (n / 50) % 26);
			int mw = bad ? -1 : open(mboxp, O_WRONLY | O_NONBLOCK);
			if (!bad && (mw < 0 || write(mw, &next, 1) != 1 || read(mbox, &b, 1) != 1 || b != expect))
				bad = "the mailbox (a FIFO held for reading, written by name)";
			if (mw >= 0)
				close(mw);
			expect = next;
			if (bad) {
				printf("FAIL pathmap: in the session folder %s, %s does not work after %d numbers: %s\n",
				       sess, bad, n, strerror(errno));
				return 1;
			}
			close(f2);
			close(d2);
			/* the mapped file, by name, holds what the map holds */
			long back = -1;
			*map = n;
			int m2 = open(shared, O_RDONLY);
			if (m2 < 0 || pread(m2, &back, sizeof(back), 0) != (ssize_t)sizeof(back) || back != n) {
				printf("FAIL pathmap: %s by name holds %ld, its map %d\n", shared, back, n);
				return 1;
			}
			close(m2);
		}
		if (!getcwd(cwd, sizeof(cwd)) || strcmp(cwd, cwd0)) {
			printf("FAIL pathmap: getcwd says %s, it said %s\n", cwd, cwd0);
			return 1;
		}
		struct timespec ts = { 0, 20 * 1000000 };
		nanosleep(&ts, NULL);
	}
	const char *rc = getenv("CREST_RESTART_COUNT"), *te = getenv("CREST_TEST_ENV");
	printf("cwd=%s\nrestart_count=%s\nenv=%s\n", cwd, rc ? rc : "unset", te ? te : "unset");
	printf("RESULT sum=%ld n=%d\n", sum, n);
	printf("PASS\n");
	return 0;
}
