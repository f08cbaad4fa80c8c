/* SPDX-License-Identifier: MIT */
/* Closing only a descriptor that is still crest's (fd_own.h). */
#include <unistd.h>

#include "fd_own.h"

bool crest_fd_mark(int fd, struct stat *was)
{
	return fstat(fd, was) == 0;
}

bool crest_fd_still(int fd, const struct stat *was)
{
	struct stat now;
	return fd >= 0 && fstat(fd, &now) == 0 && now.st_dev == was->st_dev && now.st_ino == was->st_ino;
}

void crest_fd_close_own(int fd, const struct stat *was)
{
	struct stat now;
	if (fstat(fd, &now) == 0 && (now.st_dev != was->st_dev || now.st_ino != was->st_ino))
		return;	/* the application put its own file there */
	close(fd);
}
