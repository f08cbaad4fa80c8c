/* SPDX-License-Identifier: MIT */
/*
 * A Slurm task that restarts (spank/, docs/slurm.md): slurmstepd starts it
 * like any task — its program, its environment, TaskProlog, limits — with
 * libcrest preloaded and CREST_RESTART_GEN set.  Before the program runs a
 * line of its own, the constructor turns the process into
 *
 *     crest restart --dir STEPDIR --generation GEN --task RANK [--node N]
 *
 * which restores the task's processes from their images, this pid becoming
 * the task's first process: same pid, stdio and place in the step.
 */
#define LOG_MODULE "task"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crest.h"
#include "log.h"

/* LD_PRELOAD without libcrest: crest itself must not be checkpointed */
static void drop_preload(void)
{
	const char *pre = crest_getenv("LD_PRELOAD");
	char *out, *copy, *tok, *save = NULL;
	size_t len = 0;

	if (!pre)
		return;
	copy = strdup(pre);
	out = calloc(1, strlen(pre) + 1);
	if (!copy || !out) {
		unsetenv("LD_PRELOAD");
		goto out;
	}
	for (tok = strtok_r(copy, ": ", &save); tok; tok = strtok_r(NULL, ": ", &save)) {
		const char *base = strrchr(tok, '/');
		if (!strcmp(base ? base + 1 : tok, "libcrest.so"))
			continue;
		len += (size_t)sprintf(out + len, "%s%s", len ? ":" : "", tok);
	}
	if (len)
		setenv("LD_PRELOAD", out, 1);
	else
		unsetenv("LD_PRELOAD");
out:
	free(copy);
	free(out);
}

void crest_task_restart(void)
{
	const char *gen = crest_getenv("CREST_RESTART_GEN");
	if (!gen || !*gen)
		return;
	/* only the task itself: not what slurmstepd runs with its environment
	 * (TaskProlog), nor anything the task starts */
	const char *root = crest_getenv("CREST_ROOT_PID");
	if (!root || atoi(root) != (int)getpid())
		return;
	const char *bin = crest_getenv("CREST_BIN"), *dir = crest_getenv("CREST_STEP_DIR");
	const char *task = crest_getenv("CREST_TASK"), *node = crest_getenv("CREST_NODE");
	char g[32], t[16], n[16];

	if (!bin || !dir || !task) {
		fprintf(stderr, "crest: this task should restart from generation %s, but CREST_BIN, CREST_STEP_DIR "
			"or CREST_TASK is missing; is the crest SPANK plugin complete?\n", gen);
		_exit(1);
	}
	snprintf(g, sizeof(g), "%s", gen);
	snprintf(t, sizeof(t), "%s", task);
	snprintf(n, sizeof(n), "%s", node ? node : "0");
	unsetenv("CREST_RESTART_GEN");
	drop_preload();
	char *argv[] = { (char *)bin, "restart", "--dir", (char *)dir, "--generation", g, "--task", t,
			 "--node", n, NULL };
	execv(bin, argv);
	/* never run the program from its start instead: that would overwrite
	 * what the checkpoint holds the results of */
	fprintf(stderr, "crest: cannot run %s to restart task %s: %s\n", bin, t, strerror(errno));
	_exit(1);
}
