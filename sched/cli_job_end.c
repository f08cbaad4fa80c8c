/* SPDX-License-Identifier: MIT */
/*
 * crest job-end --dir JOBDIR [--wait SEC]: what the Slurm plugin runs, as the job's
 * user, when a checkpointed job's batch script ended with status 0 (the job
 * is over, not requeued; docs/slurm.md, "When the job ends").
 *
 * Removes JOBDIR if every step folder in it has DONE saying "exit 0" (every
 * task of every node exited with status 0) and no coordinator of it
 * answers; else keeps it and says which step keeps it.  A missing JOBDIR
 * (the job checkpointed nothing) is not an error.  Removal goes through
 * jobdir_remove: no link is followed, no other file system entered.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_jobdirs.h"


/*
 * DONE of step `name` in the job folder says every task exited 0.  The
 * batch script goes on as soon as srun returns, while the step's nodes are
 * still writing exit-n<N> and DONE (node 0 waits up to 10 s for the
 * others): a missing DONE is waited for until `deadline` (ms, monotonic).
 */
static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

static bool ended_zero(int jobfd, const char *name, long long deadline)
{
	char path[NAME_MAX + 8], text[64] = "";
	snprintf(path, sizeof(path), "%s/DONE", name);
	int fd = -1;
	for (;;) {
		fd = openat(jobfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT || now_ms() >= deadline)
			break;
		usleep(100000);
	}
	if (fd < 0)
		return false;
	ssize_t n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n > 0 ? n : 0] = 0;
	return strstr(text, "\nexit 0\n") != NULL;
}

int cmd_job_end(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "wait", required_argument, NULL, 'w' },
		{ 0 },
	};
	const char *dir = NULL;
	unsigned wait_s = 20;
	struct stat st;
	int ch, rc = 0;

	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		if (ch == 'd') {
			dir = optarg;
		} else if (ch == 'w') {
			char *e;
			unsigned long v = strtoul(optarg, &e, 10);
			if (*e || e == optarg || v > 600) {
				fprintf(stderr, "crest: job-end: --wait %s: expected seconds, 0..600\n", optarg);
				return 2;
			}
			wait_s = (unsigned)v;
		} else {
			return cli_opt_error("job-end", ch, argv);
		}
	}
	if (!dir || dir[0] != '/') {
		fprintf(stderr, "crest: job-end: needs --dir JOBDIR (absolute)\n");
		return 2;
	}
	if (lstat(dir, &st) && errno == ENOENT)
		return 0;	/* nothing was checkpointed */

	struct jobdir_list l;
	if (jobdir_scan_dir("job-end", dir, &l))
		return 1;
	if (l.ndirs != 1 || l.dirs[0].is_step) {
		printf("kept %s: %s\n", dir, l.nskips ? l.skips[0].why : "not a job folder");
		goto out;
	}
	struct jobdir *d = &l.dirs[0];
	int jobfd = openat(l.parent_fd, d->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (jobfd < 0) {
		fprintf(stderr, "crest: job-end: %s: %s\n", dir, strerror(errno));
		rc = 1;
		goto out;
	}
	const char *keeper = NULL, *why = NULL;
	long long deadline = now_ms() + wait_s * 1000LL;
	for (size_t i = 0; i < d->nsteps && !keeper; i++) {
		const struct jobdir_step *s = &d->steps[i];
		if (s->use.coords == 2) {
			keeper = s->name;
			why = "its coordinator still runs";
		} else if (!ended_zero(jobfd, s->name, deadline)) {
			keeper = s->name;
			why = "it did not end with exit status 0 on every task (or did not end)";
		}
	}
	close(jobfd);
	if (keeper) {
		printf("kept the job's checkpoints in %s: step %s: %s (crest gc removes them later)\n", dir, keeper,
		       why);
		goto out;
	}
	char what[PATH_MAX];
	int r = jobdir_remove(l.parent_fd, d->name, what, sizeof(what));
	if (r) {
		fprintf(stderr, "crest: job-end: cannot remove %s/%s: %s\n", dir, what, strerror(-r));
		rc = 1;
	} else {
		printf("removed the job's checkpoints in %s: its %zu step%s ended with exit status 0 "
		       "(--checkpoint-keep keeps them)\n", dir, d->nsteps, d->nsteps == 1 ? "" : "s");
	}
out:
	jobdir_list_free(&l);
	return rc;
}
