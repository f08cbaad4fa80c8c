/* SPDX-License-Identifier: MIT */
/*
 * pathmap: a program whose files move while it is stopped.  It reads
 * numbers from a file given by absolute path (argv[1]) and from ./data.txt
 * relative to its working directory, appends to $TMPDIR/pathmap.log, and
 * checks that getcwd() keeps answering what it said at the start.  At the
 * end it prints its working directory, CREST_RESTART_COUNT and
 * CREST_TEST_ENV as it sees them, `RESULT sum=...` and PASS.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
