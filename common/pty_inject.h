/* SPDX-License-Identifier: MIT */
/* Output put (back) into a pseudo-terminal (preload/fds_pty.c at a
 * checkpoint, sched/cli_tree_pty.c at a restart). */
#ifndef CREST_PTY_INJECT_H
#define CREST_PTY_INJECT_H

#include <stddef.h>
#include <termios.h>

/* len bytes of output written through the slave sfd (non-blocking: waits
 * for room up to 2 s) with output processing off (they were processed
 * once), then tio set again once the master mfd can read them (the pty
 * passes them on asynchronously; up to 1 s).  No malloc, no locks: runs
 * while the other threads are stopped.  0 or -errno. */
int crest_pty_inject(int mfd, int sfd, const struct termios *tio, const unsigned char *data, size_t len);

#endif
