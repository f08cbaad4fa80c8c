/* SPDX-License-Identifier: MIT */
/*
 * crest checkpoint [--dir DIR] [--kill] [--compress none|zstd]
 * crest checkpoint --job JOBID[.STEP] [--checkpoint-dir BASE] [--signal SIG]
 *
 * Asks the coordinator of DIR for a checkpoint, waits for it, prints the
 * generation number.  If the coordinator died but processes of the
 * computation live (DIR/PROCS), starts a new one first: the processes
 * reconnect to it by themselves.
 *
 * --job: the same answer from the root coordinator of each running step
 * of the job, asked over TCP with a munge credential (cli_ckpt_munge.c);
 * where that cannot be done, the checkpoint signal through Slurm.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckdir.h"
#include "cli.h"
#include "crest/image.h"
#include "proto.h"
#include "signame.h"

#define RECONNECT_WAIT_MS 10000

static void usage(FILE *f)
{
	fprintf(f,
		"usage: crest checkpoint [--dir DIR] [--kill] [--compress none|zstd]\n"
		"       crest checkpoint --job JOBID[.STEP] [--checkpoint-dir BASE] [--signal SIG] [--kill] [--compress ALG]\n"
		"Takes a consistent checkpoint of the computation running in DIR (default ./" CLI_DEFAULT_DIR ")\n"
		"and prints its generation number.\n"
		"  --kill           end the computation once the checkpoint is committed\n"
		"  --compress ALG   none or zstd for this checkpoint (default: the launch setting)\n"
		"  --job JOBID[.STEP]  a running Slurm job's steps checkpointed by crest's plugin: asks\n"
		"                   the root coordinator of each step (found in the job's folder) with a\n"
		"                   munge credential, waits, and prints the generation (\"STEP GEN\" per\n"
		"                   step when there are several).  Only the job's owner, root and\n"
		"                   SlurmUser are answered.  Without munge, or for a folder you cannot\n"
		"                   read or a step on one node, it says so and sends the checkpoint\n"
		"                   signal through Slurm instead (scancel --signal, which checks you may):\n"
		"                   no answer then, the checkpoint appears in the job's folder (docs/slurm.md)\n"
		"  --checkpoint-dir BASE  with --job: the base of the job's folder, if the job was\n"
		"                   given its own (%%u and %%h: the job's owner's); default plugstack.conf's dir=\n"
		"  --signal SIG     with --job, the signal path: the site's checkpoint signal\n"
		"                   (plugstack signal=; default USR2)\n");
}

/*
 * --job: Slurm carries the signal to the job's tasks (all of them, under
 * proctrack/cgroup too) after checking the caller may signal the job;
 * libcrest in each task turns it into a checkpoint of the step.
 */
static int checkpoint_job(const char *job, const char *sig)
{
	size_t digits = strspn(job, "0123456789");
	bool ok = digits > 0 && (!job[digits] || (job[digits] == '.' && job[digits + 1] &&
						   strspn(job + digits + 1, "0123456789") == strlen(job + digits + 1)));
	int signo = crest_signal_parse(sig);
	char arg[48], name[16];

	if (!ok) {
		fprintf(stderr, "crest: checkpoint: --job %s: expected a Slurm job id, or JOBID.STEP\n", job);
		return 2;
	}
	if (signo <= 0) {
		fprintf(stderr, "crest: checkpoint: --signal %s: expected a signal name such as USR2\n", sig);
		return 2;
	}
	const char *signame = crest_signal_name(signo, name);
	snprintf(arg, sizeof(arg), "--signal=%s", signame);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "crest: checkpoint: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		execlp("scancel", "scancel", arg, job, (char *)NULL);
		fprintf(stderr, "crest: checkpoint: --job needs Slurm's scancel: %s\n", strerror(errno));
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 1;
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "crest: checkpoint: scancel %s %s failed (see above)\n", arg, job);
		return 1;
	}
	printf("asked job %s for a checkpoint (SIG%s to its tasks); it appears in the job's checkpoint directory\n",
	       job, signame);
	return 0;
}

/* --job: the coordinators' answer through munge, else the signal */
static int checkpoint_job_munge(const char *job, const char *sig, const char *base, const char *root_addr,
				const struct crest_msg_request *req)
{
	struct cli_ckpt_job cj = { .job = job, .base = base, .root_addr = root_addr, .flags = req->flags,
				   .compress = req->compress };
	char why[768];

	if (crest_signal_parse(sig) <= 0) {
		fprintf(stderr, "crest: checkpoint: --signal %s: expected a signal name such as USR2\n", sig);
		return 2;
	}
	int rc = cli_ckpt_munge(&cj, why, sizeof(why));
	if (rc != CLI_FALLBACK)
		return rc;
	if (root_addr || req->flags || req->compress != ~0u) {
		fprintf(stderr, "crest: checkpoint: %s; %s needs munge's path: nothing asked\n", why,
			root_addr ? "--root-addr" : req->flags ? "--kill" : "--compress");
		return 1;
	}
	fprintf(stderr, "crest: checkpoint: %s; asking Slurm to signal the job instead (no answer comes back: "
		"the checkpoint appears in the job's folder)\n", why);
	return checkpoint_job(job, sig);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* live pids of DIR/PROCS */
static size_t live_procs(const char *dir)
{
	pid_t *pids;
	size_t n, live = 0;

	if (ckdir_procs_read(dir, &pids, &n))
		return 0;
	for (size_t i = 0; i < n; i++)
		live += ckdir_pid_alive(pids[i]);
	free(pids);
	return live;
}

static size_t count_procs(const char *json)
{
	size_t n = 0;

	for (const char *p = json; (p = strstr(p, "{\"pid\":")); p++)
		n++;
	return n;
}

/* no live coordinator: start one if processes still live, and wait for them */
static int revive(const char *abs)
{
	struct cli_coord_args ca;
	struct cli_paths paths;
	static char json[65536];
	size_t want = live_procs(abs);

	if (!want)
		return -ENOENT;
	fprintf(stderr, "crest: checkpoint: the coordinator of %s is gone but %zu process(es) live; starting a new one\n",
		abs, want);
	cli_coord_args_init(&ca);
	if (cli_find_paths(&paths) || cli_start_coord("checkpoint", &paths, abs, &ca))
		return -EIO;
	long long end = now_ms() + RECONNECT_WAIT_MS;
	size_t have = 0;
	while (now_ms() < end) {
		if (!cli_status_fetch(abs, json, sizeof(json))) {
			have = count_procs(json);
			if (have >= want)
				return 0;
		}
		usleep(200000);
	}
	if (!have) {
		fprintf(stderr, "crest: checkpoint: no process reconnected within %d s\n", RECONNECT_WAIT_MS / 1000);
		return -ETIMEDOUT;
	}
	fprintf(stderr, "crest: checkpoint: only %zu of %zu processes reconnected; checkpointing those\n", have, want);
	return 0;
}

static void show_progress(const char *abs)
{
	static char json[65536];
	char phase[32] = "?";
	long long bytes = 0, ms = 0;

	if (cli_status_fetch(abs, json, sizeof(json)))
		return;
	cli_json_str(json, "phase", phase, sizeof(phase));
	cli_json_num(json, "bytes", &bytes);
	cli_json_num(json, "elapsed_ms", &ms);
	fprintf(stderr, "\rcheckpoint: %-8s %8.1f MiB  %5.1f s ", phase, bytes / 1048576.0, ms / 1000.0);
}

/* A process being restarted (DIR/RESTARTING names its pid) connects only
 * once it has read its image: worth waiting for. */
static bool restart_in_progress(const char *abs)
{
	char path[PATH_MAX + 16];
	struct stat st;
	int pid = 0;
	snprintf(path, sizeof(path), "%s/RESTARTING", abs);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	if (pid <= 0 || kill(pid, 0) < 0 || stat(path, &st) < 0)
		return false;
	return time(NULL) - st.st_mtime < 120;
}

int cmd_checkpoint(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "kill", no_argument, NULL, 'K' },
		{ "job", required_argument, NULL, 'J' },
		{ "signal", required_argument, NULL, 'S' },
		{ "compress", required_argument, NULL, 'c' },
		{ "checkpoint-dir", required_argument, NULL, 'B' },
		{ "root-addr", required_argument, NULL, 'A' },	/* tests: --job J.S at this root */
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct crest_msg_request req = { .compress = ~0u };
	struct crest_msg_result res;
	struct crest_frame hdr;
	const char *dir = CLI_DEFAULT_DIR;
	char abs[PATH_MAX];
	bool tty = isatty(2), shown = false;
	const char *job = NULL, *sig = "USR2", *base = NULL, *root_addr = NULL;
	uint32_t seq = 0;
	int ch, fd, rc, status = 1;

	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': dir = optarg; break;
		case 'K': req.flags |= CREST_REQ_KILL; break;
		case 'J': job = optarg; break;
		case 'S': sig = optarg; break;
		case 'B': base = optarg; break;
		case 'A': root_addr = optarg; break;
		case 'c':
			if (!strcmp(optarg, "none")) {
				req.compress = CREST_COMP_NONE;
			} else if (!strcmp(optarg, "zstd")) {
				req.compress = CREST_COMP_ZSTD;
			} else {
				fprintf(stderr, "crest: checkpoint: --compress %s: expected none or zstd\n", optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: return cli_opt_error("checkpoint", ch, argv);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "crest: checkpoint: unexpected argument %s; see crest checkpoint --help\n", argv[optind]);
		return 2;
	}
	if ((base || root_addr) && !job) {
		fprintf(stderr, "crest: checkpoint: --%s goes with --job\n", base ? "checkpoint-dir" : "root-addr");
		return 2;
	}
	if (job)
		return checkpoint_job_munge(job, sig, base, root_addr, &req);
	if (cli_abs_dir("checkpoint", dir, abs, sizeof(abs)))
		return 1;
	fd = cli_connect(abs);
	if (fd < 0 && !revive(abs))
		fd = cli_connect(abs);
	/* `crest restart` marks the directory before it starts its coordinator:
	 * under load the coordinator may not be listening yet */
	for (int i = 0; fd < 0 && i < 300 && restart_in_progress(abs); i++) {
		usleep(100000);
		fd = cli_connect(abs);
	}
	if (fd < 0) {
		fprintf(stderr, "crest: checkpoint: no coordinator for %s (is the computation running? start it with crest launch, or crest restart)\n",
			dir);
		return 1;
	}
	/* a process that is starting or being restarted (reading its image) has
	 * not connected yet: ask again for a while, as long as the coordinator is young */
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
again:
	rc = crest_frame_send(fd, CREST_MSG_CKPT_REQUEST, &seq, &req, sizeof(req));
	if (rc)
		goto out_lost;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, 1000);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			if (tty) {
				show_progress(abs);
				shown = true;
			}
			continue;
		}
		rc = crest_frame_recv(fd, &hdr, &res, sizeof(res), 10000);
		if (rc < 0)
			goto out_lost;
		if (hdr.type == CREST_MSG_CKPT_RESULT)
			break;
	}
	if (shown)
		fprintf(stderr, "\r%60s\r", "");
	res.text[sizeof(res.text) - 1] = 0;
	if (res.error == -ESRCH && restart_in_progress(abs)) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec < 60) {
			usleep(200 * 1000);
			goto again;
		}
	}
	if (res.error) {
		fprintf(stderr, "crest: checkpoint: %s\n", res.text[0] ? res.text : strerror(-res.error));
		goto out_close;
	}
	printf("%llu\n", (unsigned long long)res.generation);
	status = 0;
	goto out_close;
out_lost:
	if (shown)
		fprintf(stderr, "\n");
	fprintf(stderr, "crest: checkpoint: lost the coordinator of %s (%s); see %s/coord.log. The application keeps running; the checkpoint did not complete\n",
		dir, strerror(-rc), dir);
out_close:
	close(fd);
	return status;
}
