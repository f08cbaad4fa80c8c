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

/*
 * The environment crest restart runs with: this one without
 * CREST_RESTART_GEN, and LD_PRELOAD without libcrest (crest itself must not
 * be checkpointed).  Built here and given to execve: the program's own
 * setenv/unsetenv need not change environ (bash's work on its shell
 * variables), so editing environ through them could leave both in.
 */
static char **restart_env(void)
{
	size_t n = 0, k = 0;
	for (char **e = environ; e && *e; e++)
		n++;
	char **out = calloc(n + 1, sizeof(*out));
	if (!out)
		return NULL;
	for (char **e = environ; e && *e; e++) {
		if (!strncmp(*e, "CREST_RESTART_GEN=", 18))
			continue;
		if (strncmp(*e, "LD_PRELOAD=", 11)) {
			out[k++] = *e;
			continue;
		}
		char *copy = strdup(*e + 11), *kept = calloc(1, strlen(*e) + 1), *tok, *save = NULL;
		size_t len = 0;
		if (!copy || !kept)
			return NULL;
		len = (size_t)sprintf(kept, "LD_PRELOAD=");
		for (tok = strtok_r(copy, ": ", &save); tok; tok = strtok_r(NULL, ": ", &save)) {
			const char *base = strrchr(tok, '/');
			if (strcmp(base ? base + 1 : tok, "libcrest.so"))
				len += (size_t)sprintf(kept + len, "%s%s", len > 11 ? ":" : "", tok);
		}
		free(copy);
		if (len > 11)
			out[k++] = kept;	/* lives until the exec */
		else
			free(kept);
	}
	return out;
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
	char **envp = restart_env();
	if (!envp) {
		fprintf(stderr, "crest: cannot restart task %s: out of memory\n", t);
		_exit(1);
	}
	char *argv[] = { (char *)bin, "restart", "--dir", (char *)dir, "--generation", g, "--task", t,
			 "--node", n, NULL };
	execve(bin, argv, envp);
	/* never run the program from its start instead: that would overwrite
	 * what the checkpoint holds the results of */
	fprintf(stderr, "crest: cannot run %s to restart task %s: %s\n", bin, t, strerror(errno));
	_exit(1);
}
