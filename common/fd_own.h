/* SPDX-License-Identifier: MIT */
/*
 * Closing a descriptor crest opened while the application's threads run
 * beside it (libcrest's checkpoint thread).  A file crest opens gets the
 * lowest free number; if an application thread dup2()s onto that number
 * meanwhile (a shell's `exec 3>file`), a plain close() would close the
 * application's file.  crest_fd_close_own closes fd only if it still
 * refers to the file crest opened (same device and inode); the window left
 * is the one between its fstat and its close, a few hundred nanoseconds
 * instead of the whole time crest used the descriptor.
 */
#ifndef CREST_FD_OWN_H
#define CREST_FD_OWN_H

#include <stdbool.h>
#include <sys/stat.h>

/* what fd refers to now, for crest_fd_close_own; false if fstat fails */
bool crest_fd_mark(int fd, struct stat *was);
/* close(fd) if it is still `was` (marked right after it was opened);
 * else leave it to whoever replaced it */
void crest_fd_close_own(int fd, const struct stat *was);
/* is fd still the file `was` (marked when it was opened)?  false if it
 * is closed or another file has its number now */
bool crest_fd_still(int fd, const struct stat *was);

#endif
