/* SPDX-License-Identifier: MIT */
/* crest restart of a process tree (cli_tree.c). */
#ifndef CREST_CLI_TREE_H
#define CREST_CLI_TREE_H

#include <stddef.h>
#include <stdint.h>

struct tree;

/* Reads and checks every image (absolute paths): one process each; with
 * task != 0 keeps only the processes of that Slurm task (rank + 1).  NULL
 * with a message in err when an image is damaged or the set incomplete. */
struct tree *cli_tree_load(char **images, size_t n, uint32_t task, char *err, size_t errlen);
size_t cli_tree_size(const struct tree *t);
void cli_tree_free(struct tree *t);

/* Creates the shared pipes and the pid table, forks the tree and execs
 * args (crest-restart) in every process, this one last; "@IMAGE@" and
 * "@VPIDFD@" in args are replaced by each process's image and the table's
 * fd.  Returns only on an error before anything was forked. */
int cli_tree_start(struct tree *t, char **args, char *err, size_t errlen);

/* The folder of the coordinator the restored processes connect to (the
 * name service that connects them to other nodes) and the Slurm task (1 +
 * rank, 0 without Slurm) whose files in it are this tree's; set before
 * start. */
void cli_tree_set_run(struct tree *t, const char *run, uint32_t task);

#endif
