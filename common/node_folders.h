/* SPDX-License-Identifier: MIT */
/*
 * Folders of node-local paths made again at restart.  A computation
 * restarted on another node finds its node-local places (/tmp, /dev/shm,
 * $TMPDIR) without the folders it had made there (Open MPI's session
 * folder, say): the files, FIFOs and folders it had open in them are put
 * back through the folders this makes.
 *
 * crest_node_parent_open walks an absolute path from "/" and returns an
 * fd on the folder that holds its last component, making each missing
 * folder on the way with mode 0700.  It goes only through folders that are
 * the user's (the effective uid), or root's and not open to others'
 * changes (not writable by its group or others, or sticky like /tmp), and never through
 * a symbolic link: another user's folder must not get the computation's
 * files.  No allocation: libcrest calls it in a restarting process (there
 * its open, openat and mkdirat are libcrest's own wrappers, which pass
 * "/" and single names through unchanged).
 */
#ifndef CREST_NODE_FOLDERS_H
#define CREST_NODE_FOLDERS_H

#include <stddef.h>

/* the folder's fd (O_CLOEXEC) and *last, the path's last component within
 * path; -1 and why (a sentence without the path) */
int crest_node_parent_open(const char *path, const char **last, char *why, size_t size);

#endif
