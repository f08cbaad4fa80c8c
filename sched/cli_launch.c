/* SPDX-License-Identifier: MIT */
/*
 * crest launch [--dir DIR] [coordinator options] -- PROG ARGS...
 *
 * Starts a coordinator for DIR, then becomes PROG (execvp) with libcrest
 * preloaded: same pid, same stdio, PROG's exit status.  With --node N
 * --coord ADDR:PORT, the coordinator is node N's sub-coordinator (started
 * unless one is alive) and PROG's processes use DIR/nodes/nN.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckdir.h"
#include "cli.h"
#include "created.h"
#include "log.h"
#include "proto.h"
#include "signame.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: crest launch [--dir DIR] [--interval SEC] [--keep N] [--compress none|zstd]\n"
		"                    [--timeout SEC] [--min-spacing SEC] [--checkpoint-signal SIG]\n"
		"                    [--on-term checkpoint|exit]\n"
		"                    [--node N --coord ADDR:PORT [--listen ADDR:PORT]]\n"
		"                    -- PROG ARGS...\n"
		"Runs PROG under checkpoint control; checkpoints go to DIR (default ./" CLI_DEFAULT_DIR ").\n"
		"  --interval SEC   checkpoint every SEC seconds (default: only on demand)\n"
		"  --keep N         keep the N newest complete checkpoints (default 2)\n"
		"  --compress ALG   compress memory with none (default) or zstd\n"
		"  --timeout SEC    give up a checkpoint if threads do not stop within SEC (default 10)\n"
		"  --checkpoint-signal SIG  this signal sent to any process of the computation\n"
		"                   takes a checkpoint (default USR2; none: the program keeps it)\n"
		"  --min-spacing SEC  the checkpoint signal starts no checkpoint within SEC\n"
		"                   of the end of the last one (default 10)\n"
		"  --on-term ACTION SIGTERM to a process: checkpoint (default: take a final\n"
		"                   checkpoint, then let the signal act) or exit (no checkpoint)\n"
		"  --node N --coord ADDR:PORT  run on node N (>= 1) of a computation whose root\n"
		"                   coordinator (crest-coord --root) listens on ADDR:PORT; the node's\n"
		"                   sub-coordinator is started unless it runs already\n"
		"  --listen ADDR:PORT  that sub-coordinator is the parent of other nodes' too:\n"
		"                   their --coord is ADDR:PORT (a tree of more than one level)\n"
		"Then: crest checkpoint --dir DIR; crest restart --dir DIR.\n");
}

/* PROG found the way execvp will find it */
static bool program_exists(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0;
	if (!path)
		path = "/bin:/usr/bin";
	while (*path) {
		const char *colon = strchrnul(path, ':');
		int len = (int)(colon - path);
		if (snprintf(buf, sizeof(buf), "%.*s/%s", len ? len : 1, len ? path : ".", prog) < (int)sizeof(buf) &&
		    access(buf, X_OK) == 0)
			return true;
		path = *colon ? colon + 1 : colon;
	}
	return false;
}

int cmd_launch(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "interval", required_argument, NULL, 'i' },
		{ "keep", required_argument, NULL, 'k' },
		{ "compress", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "min-spacing", required_argument, NULL, 'm' },
		{ "checkpoint-signal", required_argument, NULL, 'S' },
		{ "on-term", required_argument, NULL, 'T' },
		{ "node", required_argument, NULL, 'n' },
		{ "coord", required_argument, NULL, 'C' },
		{ "listen", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cli_coord_args ca;
	struct cli_paths paths;
	const char *dir = CLI_DEFAULT_DIR;
	char abs[PATH_MAX], run[PATH_MAX];
	pid_t other;
	int ch, r;

	cli_coord_args_init(&ca);
	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		if (ch == 'd') {
			dir = optarg;
			continue;
		}
		if (ch == 'h') {
			usage(stdout);
			return 0;
		}
		if (ch == 'S') {
			int sig = crest_signal_parse(optarg);
			if (sig < 0 || sig == SIGTERM || (sig >= SIGRTMAX - 2 && sig <= SIGRTMAX)) {
				fprintf(stderr, "crest: launch: --checkpoint-signal %s: expected a signal name or number "
					"such as USR2, USR1 or RTMIN+1, or none (not TERM: see --on-term; not "
					"KILL, STOP or RTMAX-2..RTMAX, which crest or the kernel keep)\n", optarg);
				return 2;
			}
			char num[16];
			snprintf(num, sizeof(num), "%d", sig);
			setenv("CREST_CKPT_SIGNAL", num, 1);
			continue;
		}
		if (ch == 'T') {
			if (strcmp(optarg, "checkpoint") && strcmp(optarg, "exit")) {
				fprintf(stderr, "crest: launch: --on-term %s: expected checkpoint or exit\n", optarg);
				return 2;
			}
			setenv("CREST_ON_TERM", optarg, 1);
			continue;
		}
		r = cli_node_opt(&ca, "launch", ch, optarg);
		if (!r)
			r = cli_coord_opt(&ca, "launch", ch, optarg);
		if (r < 0)
			return 2;
		if (r == 0)
			return cli_opt_error("launch", ch, argv);
	}
	if (optind >= argc) {
		fprintf(stderr, "crest: launch: no program given; usage: crest launch [--dir DIR] -- PROG ARGS...\n");
		return 2;
	}
	char **prog = argv + optind;
	if (!program_exists(prog[0])) {
		fprintf(stderr, "crest: launch: %s: command not found\n", prog[0]);
		return 127;
	}
	if (cli_find_paths(&paths))
		return 1;
	if (access(paths.libcrest, R_OK)) {
		fprintf(stderr, "crest: launch: %s: %s; build it (make) or reinstall crest\n",
			paths.libcrest, strerror(errno));
		return 1;
	}
	if (ckdir_make(dir) || cli_abs_dir("launch", dir, abs, sizeof(abs)) ||
	    cli_node_dir("launch", &ca, abs, run, sizeof(run)))
		return 1;
	/* a node's sub-coordinator serves every program launched on the node */
	other = ckdir_coord_alive(run);
	if (other && !ca.node) {
		fprintf(stderr, "crest: launch: a computation is already running in %s (coordinator pid %d); use another --dir\n",
			dir, (int)other);
		return 1;
	}
	char rootpid[16];
	/* a new computation: pids are real again, this process is its root */
	if (!other) {
		ckdir_runtime_clear(run);
		crest_created_reset(run);	/* an older computation's record */
	}
	snprintf(rootpid, sizeof(rootpid), "%d", (int)getpid());
	setenv("CREST_ROOT_PID", rootpid, 1);
	if (!other && cli_start_coord("launch", &paths, abs, &ca))
		return 1;
	if (ca.node)
		setenv("CREST_NODE", ca.node_arg, 1);

	/* become PROG, with libcrest preloaded */
	const char *old = getenv("LD_PRELOAD");
	char *pre = NULL;
	if (asprintf(&pre, "%s%s%s", paths.libcrest, old && *old ? ":" : "", old ? old : "") < 0 ||
	    setenv("LD_PRELOAD", pre, 1) || setenv("CREST_DIR", run, 1)) {
		fprintf(stderr, "crest: launch: out of memory\n");
		if (!other)
			cli_shutdown_coord(run);
		return 1;
	}
	free(pre);
	execvp(prog[0], prog);
	int err = errno;
	if (!other)
		cli_shutdown_coord(run);
	if (err == ENOENT) {
		fprintf(stderr, "crest: launch: %s: command not found\n", prog[0]);
		return 127;
	}
	fprintf(stderr, "crest: launch: cannot run %s: %s\n", prog[0], strerror(err));
	return 126;
}
