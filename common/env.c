/* SPDX-License-Identifier: MIT */
/*
 * libcrest reads its variables from the process's environment itself.
 * The program's getenv is not libc's in every program: bash has its own,
 * which answers from its shell variables and, before bash has made them,
 * did not answer CREST_ON_TERM at libcrest's start (so a bash task of a
 * Slurm step was never held after its final checkpoint, and its TERM
 * trap ran); it may also malloc.  This one scans environ: no malloc, no
 * lock, async-signal-safe.
 */
#include <string.h>
#include <unistd.h>

#include "env.h"

const char *crest_getenv(const char *name)
{
	size_t len = strlen(name);
	for (char **e = environ; e && *e; e++)
		if (!strncmp(*e, name, len) && (*e)[len] == '=')
			return *e + len + 1;
	return NULL;
}
