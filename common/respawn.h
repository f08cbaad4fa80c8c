/* SPDX-License-Identifier: MIT */
/*
 * RUNDIR/RESPAWN: how to start a coordinator again (docs/protocol.md,
 * "A coordinator that dies").  A coordinator writes it when it starts and
 * removes it when it ends on its own; one killed leaves it behind, and the
 * processes of its node start the same command again (preload/respawn.c).
 *
 * The file, 0600: the line "crest-respawn 1", the line "pid PID" (the
 * coordinator that wrote it), then NUL-terminated items "cwd=DIR",
 * "arg=ARG" (argv in order, argv[0] an absolute path) and "env=NAME=VALUE".
 */
#ifndef CREST_RESPAWN_H
#define CREST_RESPAWN_H

#include <stddef.h>
#include <sys/types.h>

#define CREST_RESPAWN_MAX	(256 * 1024)	/* bytes of a RESPAWN file */
#define CREST_RESPAWN_ARGS	128
#define CREST_RESPAWN_ENVS	512

struct crest_respawn {
	pid_t pid;				/* the coordinator that wrote it */
	const char *cwd;
	char *argv[CREST_RESPAWN_ARGS + 1];	/* NULL-terminated */
	char *envp[CREST_RESPAWN_ENVS + 1];	/* NULL-terminated */
	char text[];				/* the file, which the pointers point into */
};

/* writes RUNDIR/RESPAWN for the coordinator `pid` started in `cwd` as
 * argv with envp (less CREST_FAULT*: a fault injected once is not
 * injected again); 0 or -errno */
int crest_respawn_write(const char *rundir, pid_t pid, const char *cwd, char *const argv[], char *const envp[]);

/* parses `len` bytes read from a RESPAWN file into a new crest_respawn
 * (free() it); NULL with errno EBADMSG if it is not one */
struct crest_respawn *crest_respawn_parse(const char *buf, size_t len);

/* removes RUNDIR/RESPAWN if the coordinator `pid` wrote it */
void crest_respawn_remove(const char *rundir, pid_t pid);

/* removes RUNDIR/RESPAWN whoever wrote it, once no process is starting a
 * coordinator from it (its write lock, waited for up to 10 s): a computation
 * stopped on purpose (crest step-stop) is not brought back */
void crest_respawn_cancel(const char *rundir);

#endif
