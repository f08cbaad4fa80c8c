/* SPDX-License-Identifier: MIT */
/*
 * make_temp DIR: glibc's mkstemp and mkdtemp in DIR (DIR/tmp-XXXXXX, a
 * file, and DIR/dtmp-XXXXXX, a folder), for tests/bats/created_app.sh:
 * glibc makes them with its own internal open and mkdir, which only
 * libcrest's mkstemp and mkdtemp wrappers see.  Prints both names.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char f[PATH_MAX], d[PATH_MAX];
	if (argc != 2) {
		fprintf(stderr, "usage: make_temp DIR\n");
		return 2;
	}
	snprintf(f, sizeof(f), "%s/tmp-XXXXXX", argv[1]);
	snprintf(d, sizeof(d), "%s/dtmp-XXXXXX", argv[1]);
	int fd = mkstemp(f);
	if (fd < 0 || !mkdtemp(d)) {
		perror("make_temp");
		return 1;
	}
	close(fd);
	printf("%s\n%s\n", f, d);
	return 0;
}
