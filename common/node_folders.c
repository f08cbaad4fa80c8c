/* SPDX-License-Identifier: MIT */
/* Folders of node-local paths made again at restart (node_folders.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node_folders.h"

#define NAME_MAX_LEN 256

int crest_node_parent_open(const char *path, const char **last, char *why, size_t size)
{
	uid_t me = geteuid();
	char name[NAME_MAX_LEN];
	int dfd = path[0] == '/' ? open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	const char *p = path + 1;

	if (path[0] != '/') {
		snprintf(why, size, "not an absolute path");
		return -1;
	}
	for (;;) {
		struct stat st;
		if (dfd < 0 || fstat(dfd, &st) < 0) {
			snprintf(why, size, "%s", strerrordesc_np(errno));
			break;
		}
		bool mine = st.st_uid == me;
		bool rooted = st.st_uid == 0 && (!(st.st_mode & (S_IWOTH | S_IWGRP)) || (st.st_mode & S_ISVTX));
		if (!mine && !rooted) {
			snprintf(why, size, "a folder on its path belongs to uid %u and others may change it",
				 (unsigned)st.st_uid);
			break;
		}
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (!len || len >= sizeof(name)) {
			snprintf(why, size, "not a file path");
			break;
		}
		if (!slash) {
			*last = p;
			return dfd;
		}
		memcpy(name, p, len);
		name[len] = 0;
		if (mkdirat(dfd, name, 0700) < 0 && errno != EEXIST) {
			snprintf(why, size, "cannot make a folder on its path: %s", strerrordesc_np(errno));
			break;
		}
		int next = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && (errno == ELOOP || errno == ENOTDIR)) {
			snprintf(why, size, "%s on its path is a symbolic link or not a folder", name);
			close(dfd);
			return -1;
		}
		close(dfd);
		dfd = next;
		p = slash + 1;
	}
	if (dfd >= 0)
		close(dfd);
	return -1;
}
