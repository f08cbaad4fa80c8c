/* SPDX-License-Identifier: MIT */
/*
 * Runs a program and collects what it prints, with a time limit: the Slurm
 * plugin runs `crest step-start` as the job's user, the root coordinator of
 * a Slurm step runs `scontrol`.
 */
#ifndef CREST_RUN_CAPTURE_H
#define CREST_RUN_CAPTURE_H

#include <stddef.h>

/*
 * Forks, calls setup(arg) in the child (it may _exit(126) to refuse),
 * points the child's stdin at /dev/null and its stdout and stderr at a pipe,
 * closes every other fd and execs argv[0] (searched in PATH if it has no
 * slash) with envp.  Collects the output
 * in out (NUL-terminated, trailing newlines cut, truncated to size - 1).
 * Returns the exit status (0..255), or -1 if it could not run, was killed,
 * or took over timeout_ms (then it is SIGKILLed and out says so).
 */
int crest_run_capture(char *const argv[], char *const envp[], void (*setup)(void *), void *arg, char *out,
		      size_t size, int timeout_ms);

#endif
