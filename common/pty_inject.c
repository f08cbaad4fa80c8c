/* SPDX-License-Identifier: MIT */
/* Output put (back) into a pseudo-terminal (pty_inject.h). */
#include <errno.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "pty_inject.h"

int crest_pty_inject(int mfd, int sfd, const struct termios *tio, const unsigned char *data, size_t len)
{
	struct termios raw = *tio;
	int rc = 0;

	raw.c_oflag &= ~OPOST;
	if (tcsetattr(sfd, TCSANOW, &raw) < 0)
		return -errno;
	for (size_t off = 0; off < len;) {
		ssize_t n = write(sfd, data + off, len - off);
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)n;
	}
	for (int i = 0; !rc && i < 1000; i++) {
		int avail = 0;
		if (ioctl(mfd, FIONREAD, &avail) < 0 || (size_t)avail >= len)
			break;
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	if (tcsetattr(sfd, TCSANOW, tio) < 0 && !rc)
		rc = -errno;
	return rc;
}
