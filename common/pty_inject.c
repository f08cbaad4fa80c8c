/* SPDX-License-Identifier: MIT */
/* Output put (back) into a pseudo-terminal (pty_inject.h). */
#include <errno.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "pty_inject.h"

static void pause_1ms(void)
{
	struct timespec ts = { 0, 1000000 };
	nanosleep(&ts, NULL);
}

int crest_pty_inject(int mfd, int sfd, const struct termios *tio, const unsigned char *data, size_t len)
{
	struct termios raw = *tio;
	int rc = 0, tries = 0;

	raw.c_oflag &= ~OPOST;
	if (tcsetattr(sfd, TCSANOW, &raw) < 0)
		return -errno;
	/* a non-blocking slave: the room comes as the kernel moves the bytes
	 * on; never more than was taken out, but never wait forever */
	for (size_t off = 0; off < len;) {
		ssize_t n = write(sfd, data + off, len - off);
		if (n > 0) {
			off += (size_t)n;
			tries = 0;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR) && ++tries < 2000) {
			pause_1ms();
			continue;
		}
		rc = n < 0 && errno != EAGAIN ? -errno : -ETIMEDOUT;
		break;
	}
	/* until the master can read them (its read buffer holds 4 KiB) */
	size_t want = len < 4095 ? len : 4095;
	for (int i = 0; !rc && i < 1000; i++) {
		int avail = 0;
		if (ioctl(mfd, FIONREAD, &avail) < 0 || (size_t)avail >= want)
			break;
		pause_1ms();
	}
	if (tcsetattr(sfd, TCSANOW, tio) < 0 && !rc)
		rc = -errno;
	return rc;
}
