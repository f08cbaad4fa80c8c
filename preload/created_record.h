/* SPDX-License-Identifier: MIT */
/*
 * What the application creates, recorded for a restart to take away
 * (common/created.h, preload/created_record.c); called by the wrappers of
 * path_wrappers.c.
 */
#ifndef CREST_CREATED_RECORD_H
#define CREST_CREATED_RECORD_H

#include <stdbool.h>

/* suspend.c: the checkpoint lock that exec holds, around another call,
 * with the thread's cancellation off: CREST_NOT_HELD when it is not this
 * process's to take (a vfork child), else what release needs */
#define CREST_NOT_HELD	(-1)
int crest_ckpt_hold(void);
void crest_ckpt_release(int held);

/* set in libcrest's checkpoint thread: what it makes is crest's */
extern __thread bool crest_thread_is_ckpt __attribute__((tls_model("initial-exec")));

/* is this process recording (CREST_UNDO_CREATED, not crest's thread)? */
bool crest_created_want(void);
/* before an open with these flags: will a success mean it made the file? */
bool crest_created_missing(int dirfd, const char *path, int flags);
/* the file fd is belongs to the effective user */
bool crest_created_ours(int fd);
/* the open made the file fd is */
void crest_created_fd(int fd);
/* before a rename: is something at the target? */
bool crest_created_exists(int dirfd, const char *path);
/* after mkdir ('d') or rename ('m', replaced: something was there) */
void crest_created_at(int dirfd, const char *path, char kind, bool replaced);
/* after unlink, unlinkat or rmdir: what was at path is gone */
void crest_created_removed(int dirfd, const char *path);
/* the process crest launch started ends on its own (its destructor, and
 * the _exit wrappers) */
void crest_created_ended(void);
/* a restored process: its record descriptor is gone */
void crest_created_after_restart(void);

#endif
