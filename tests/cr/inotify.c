/* SPDX-License-Identifier: MIT */
/*
 * inotify DIR: one inotify fd watching the folder DIR (IN_CREATE) and the
 * file DIR/watched (IN_MODIFY); a third watch, added and removed between
 * them, leaves a gap in the watch descriptors (1 and 3), which must stay
 * what they were across a restart.  400 steps: make DIR/f<i>, wait for its
 * IN_CREATE; write to DIR/watched, wait for its IN_MODIFY.  An event a
 * checkpoint came between (events waiting in the fd are not saved) is
 * waited for 1 s, then the step does its action again (at most 5 times).
 * Every event's wd must be one of the two.  Prints `RESULT steps=N
 * sum=S wds=1,3` and PASS, or FAIL and why.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define STEPS 400

static int ifd, wd_dir, wd_file, wd_gap = -1;	/* wd_gap: only until its removal is seen */
static char dir[PATH_MAX / 2];

static void fail(const char *what)
{
	printf("FAIL inotify: %s (%s)\n", what, strerror(errno));
	exit(1);
}

/* waits up to 1 s for an event of `wd` with `mask` (and `name`, if any):
 * 1 when it came, 0 on time out */
static int wait_event(int wd, uint32_t mask, const char *name)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct pollfd p = { .fd = ifd, .events = POLLIN };
	for (;;) {
		int r = poll(&p, 1, 1000);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail("poll");
		if (!r)
			return 0;
		ssize_t n = read(ifd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail("read of the inotify fd");
		int found = 0;
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)p;
			if (e->wd != wd_dir && e->wd != wd_file && e->wd != wd_gap) {
				printf("FAIL inotify: an event of wd %d; the watches are %d and %d\n", e->wd, wd_dir,
				       wd_file);
				exit(1);
			}
			if (e->wd == wd && (e->mask & mask) && (!name || (e->len && !strcmp(e->name, name))))
				found = 1;
			p += sizeof(*e) + e->len;
		}
		if (found)
			return 1;
	}
}

static void make_file(const char *name)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 && errno == EEXIST) {	/* made once already: again */
		unlink(path);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	}
	if (fd < 0)
		fail("cannot make a file in the folder");
	close(fd);
}

int main(int argc, char **argv)
{
	char path[PATH_MAX];
	if (argc != 2) {
		fprintf(stderr, "usage: inotify DIR\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	mkdir(dir, 0700);
	for (int i = 0; i < STEPS; i++) {
		snprintf(path, sizeof(path), "%s/f%d", dir, i);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/watched", dir);
	int wfd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (wfd < 0)
		fail("cannot make the watched file");
	ifd = inotify_init1(IN_CLOEXEC);
	if (ifd < 0)
		fail("inotify_init1");
	wd_dir = inotify_add_watch(ifd, dir, IN_CREATE);
	snprintf(path, sizeof(path), "%s/gap", dir);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	int gap = inotify_add_watch(ifd, path, IN_ATTRIB);
	snprintf(path, sizeof(path), "%s/watched", dir);
	wd_file = inotify_add_watch(ifd, path, IN_MODIFY);
	if (wd_dir < 0 || gap < 0 || wd_file < 0 || inotify_rm_watch(ifd, gap) < 0)
		fail("inotify_add_watch");
	wd_gap = gap;
	wait_event(gap, IN_IGNORED, NULL);	/* the removal's event */
	wd_gap = -1;
	printf("inotify: watching %s as wd %d and %d\n", dir, wd_dir, wd_file);

	long sum = 0, again = 0;
	for (int i = 0; i < STEPS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "f%d", i);
		int tries = 0;
		do {
			if (tries++ > 5)
				fail("no IN_CREATE event after 6 tries");
			make_file(name);
		} while (!wait_event(wd_dir, IN_CREATE, name));
		do {
			if (tries++ > 11)
				fail("no IN_MODIFY event after 6 tries");
			if (pwrite(wfd, "x", 1, i) != 1)
				fail("write to the watched file");
		} while (!wait_event(wd_file, IN_MODIFY, NULL));
		again += tries - 2;
		sum += i;
		usleep(20000);
	}
	printf("inotify: %ld actions done again (events a checkpoint came between)\n", again);
	printf("RESULT steps=%d sum=%ld wds=%d,%d\n", STEPS, sum, wd_dir, wd_file);
	printf("PASS\n");
	return 0;
}
