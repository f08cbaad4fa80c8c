/* SPDX-License-Identifier: MIT */
/* crest: the command users run.  One file per verb; this one dispatches. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "log.h"

/* cli_inspect.c provides the real one; this keeps the build whole without it */
__attribute__((weak)) int cmd_inspect(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "crest: inspect: not built\n");
	return 1;
}

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
} verbs[] = {
	{ "launch", cmd_launch, "run a program under checkpoint control" },
	{ "checkpoint", cmd_checkpoint, "take a consistent checkpoint of the running computation" },
	{ "restart", cmd_restart, "continue the computation from its newest complete checkpoint" },
	{ "status", cmd_status, "show processes, checkpoint progress and generations" },
	{ "inspect", cmd_inspect, "verify checksums and show what an image holds" },
	{ "ls", cmd_ls, "list the job folders under a checkpoint base, their steps and states" },
	{ "gc", cmd_gc, "remove job folders older than an age whose steps are done" },
	{ "mpirun", cmd_mpirun, "(a Slurm step, one task per node) Open MPI's mpirun over the step's nodes" },
	{ "rsh", cmd_rsh, "(crest mpirun) mpirun's remote shell: run a command on a node of the step" },
	{ "step-start", cmd_step_start, "(the Slurm plugin) start a step's coordinator on this node" },
	{ "step-stop", cmd_step_stop, "(the Slurm plugin) stop it at the end of the step" },
	{ "step-task-end", cmd_step_task_end, "(the Slurm plugin) a task of the step ended, with this status" },
	{ "job-end", cmd_job_end, "(the Slurm plugin) remove a job's checkpoints when it ended well" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: crest VERB [OPTIONS] ...\n\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(f, "  %-11s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(f, "\n'crest VERB --help' describes each verb.  crest --version prints the version.\n"
		   "Example:  crest launch --dir ck -- ./app   then   crest checkpoint --dir ck\n");
}

int main(int argc, char **argv)
{
	crest_log_init();
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("crest " CREST_VERSION "\n");
		return 0;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(argv[1], verbs[i].name))
			return verbs[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "crest: unknown command %s; see crest --help\n", argv[1]);
	return 2;
}
