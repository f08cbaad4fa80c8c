/* SPDX-License-Identifier: MIT */
/*
 * crest wire protocol: frames (docs/protocol.md).  No malloc, no stdio:
 * libcrest calls this while the application's threads are suspended.
 */
#define LOG_MODULE "proto"
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "crest/crc32c.h"
#include "log.h"
#include "proto.h"

_Static_assert(sizeof(struct crest_frame) == 24, "frame header size");
_Static_assert(sizeof(struct crest_msg_hello) == 312 && sizeof(struct crest_msg_welcome) == 40,
	       "HELLO and WELCOME keep their size of protocol version 1");

/* payload size of each type: >= 0 exact size, -1 variable (text) */
static long msg_size(uint16_t type)
{
	switch (type) {
	case CREST_MSG_HELLO:
		return sizeof(struct crest_msg_hello);
	case CREST_MSG_PHASE_OK:
	case CREST_MSG_PHASE_FAIL:
	case CREST_MSG_PROGRESS:
		return sizeof(struct crest_msg_phase);
	case CREST_MSG_CHILDREN:
		return sizeof(struct crest_msg_children);
	case CREST_MSG_TRIGGER:
		return sizeof(struct crest_msg_trigger);
	case CREST_MSG_IMAGES:
		return sizeof(struct crest_msg_images);
	case CREST_MSG_ENDPOINTS:
		return sizeof(struct crest_msg_endpoints);
	case CREST_MSG_TASKS_ENDED:
		return sizeof(struct crest_msg_tasks_ended);
	case CREST_MSG_SUBTREE:
		return sizeof(struct crest_msg_subtree);
	case CREST_MSG_TASK_ENDED:
		return sizeof(struct crest_msg_task_ended);
	case CREST_MSG_NS_PUBLISH:
	case CREST_MSG_NS_LOOKUP:
	case CREST_MSG_NS_REPLY:
		return sizeof(struct crest_msg_ns);
	case CREST_MSG_WELCOME:
		return sizeof(struct crest_msg_welcome);
	case CREST_MSG_PREPARE:
	case CREST_MSG_SUSPEND:
	case CREST_MSG_WRITE:
	case CREST_MSG_RESUME:
	case CREST_MSG_ABORT:
		return sizeof(struct crest_msg_ckpt);
	case CREST_MSG_TERM_ACTION:
		return sizeof(struct crest_msg_term);
	case CREST_MSG_NOTICE:
		return sizeof(struct crest_msg_notice);
	case CREST_MSG_CKPT_REQUEST:
		return sizeof(struct crest_msg_request);
	case CREST_MSG_CKPT_RESULT:
		return sizeof(struct crest_msg_result);
	case CREST_MSG_STATUS_REQUEST:
	case CREST_MSG_SHUTDOWN:
		return 0;
	case CREST_MSG_STATUS_REPLY:
		return -1;
	case CREST_MSG_CHALLENGE:
		return sizeof(struct crest_msg_challenge);
	case CREST_MSG_AUTH:
		return sizeof(struct crest_msg_auth);
	case CREST_MSG_AUTH_OK:
		return sizeof(struct crest_msg_auth_ok);
	case CREST_MSG_CKPT_MUNGE:
		return sizeof(struct crest_msg_ckpt_munge);
	}
	return -2;
}

bool crest_msg_type_known(uint16_t type)
{
	return msg_size(type) != -2;
}

const char *crest_msg_type_name(uint16_t type)
{
	switch (type) {
	case CREST_MSG_HELLO: return "HELLO";
	case CREST_MSG_PHASE_OK: return "PHASE_OK";
	case CREST_MSG_PHASE_FAIL: return "PHASE_FAIL";
	case CREST_MSG_PROGRESS: return "PROGRESS";
	case CREST_MSG_CHILDREN: return "CHILDREN";
	case CREST_MSG_TRIGGER: return "TRIGGER";
	case CREST_MSG_IMAGES: return "IMAGES";
	case CREST_MSG_ENDPOINTS: return "ENDPOINTS";
	case CREST_MSG_TASKS_ENDED: return "TASKS_ENDED";
	case CREST_MSG_SUBTREE: return "SUBTREE";
	case CREST_MSG_TASK_ENDED: return "TASK_ENDED";
	case CREST_MSG_NS_PUBLISH: return "NS_PUBLISH";
	case CREST_MSG_NS_LOOKUP: return "NS_LOOKUP";
	case CREST_MSG_NS_REPLY: return "NS_REPLY";
	case CREST_MSG_WELCOME: return "WELCOME";
	case CREST_MSG_PREPARE: return "PREPARE";
	case CREST_MSG_SUSPEND: return "SUSPEND";
	case CREST_MSG_WRITE: return "WRITE";
	case CREST_MSG_RESUME: return "RESUME";
	case CREST_MSG_ABORT: return "ABORT";
	case CREST_MSG_TERM_ACTION: return "TERM_ACTION";
	case CREST_MSG_NOTICE: return "NOTICE";
	case CREST_MSG_CKPT_REQUEST: return "CKPT_REQUEST";
	case CREST_MSG_CKPT_RESULT: return "CKPT_RESULT";
	case CREST_MSG_STATUS_REQUEST: return "STATUS_REQUEST";
	case CREST_MSG_STATUS_REPLY: return "STATUS_REPLY";
	case CREST_MSG_SHUTDOWN: return "SHUTDOWN";
	case CREST_MSG_CHALLENGE: return "CHALLENGE";
	case CREST_MSG_AUTH: return "AUTH";
	case CREST_MSG_AUTH_OK: return "AUTH_OK";
	case CREST_MSG_CKPT_MUNGE: return "CKPT_MUNGE";
	}
	return "?";
}

int crest_msg_payload_check(uint16_t type, uint32_t len)
{
	long want = msg_size(type);

	if (want == -2)
		return -EPROTO;
	if (want == -1)
		return len <= CREST_FRAME_MAX ? 0 : -EMSGSIZE;
	return (long)len == want ? 0 : -EBADMSG;
}

int crest_frame_check_header(const struct crest_frame *hdr)
{
	if (hdr->magic != CREST_FRAME_MAGIC)
		return -EPROTO;
	if (hdr->version != CREST_PROTO_VERSION)
		return -EPROTO;
	if (!crest_msg_type_known(hdr->type))
		return -EPROTO;
	if (hdr->length > CREST_FRAME_MAX)
		return -EMSGSIZE;
	return 0;
}

static uint32_t frame_crc(const struct crest_frame *hdr, const void *payload, uint32_t len)
{
	struct crest_frame h = *hdr;

	h.crc = 0;
	uint32_t crc = crc32c(0, &h, sizeof(h));
	if (len)
		crc = crc32c(crc, payload, len);
	return crc;
}

/* crc and payload size of a frame whose header passed the header check */
static int frame_check_body(const struct crest_frame *hdr, const void *payload)
{
	if (frame_crc(hdr, payload, hdr->length) != hdr->crc)
		return -EBADMSG;
	return crest_msg_payload_check(hdr->type, hdr->length);
}

int crest_frame_check(const void *buf, size_t len, size_t *frame_len)
{
	struct crest_frame hdr;
	int rc;

	*frame_len = CREST_FRAME_HDR_SIZE;
	if (len < CREST_FRAME_HDR_SIZE)
		return -EAGAIN;
	memcpy(&hdr, buf, sizeof(hdr));
	rc = crest_frame_check_header(&hdr);
	if (rc)
		return rc;
	*frame_len = CREST_FRAME_HDR_SIZE + (size_t)hdr.length;
	if (len < *frame_len)
		return -EAGAIN;
	return frame_check_body(&hdr, (const char *)buf + CREST_FRAME_HDR_SIZE);
}

void crest_frame_build(struct crest_frame *hdr, uint16_t type, uint32_t *seq,
		       const void *payload, uint32_t len)
{
	memset(hdr, 0, sizeof(*hdr));
	hdr->magic = CREST_FRAME_MAGIC;
	hdr->version = CREST_PROTO_VERSION;
	hdr->type = type;
	hdr->length = len;
	hdr->seq = ++*seq;
	hdr->crc = frame_crc(hdr, payload, len);
}

/* write an iovec fully; sendmsg(MSG_NOSIGNAL) on sockets, writev otherwise */
static int writev_full(int fd, struct iovec *iov, int iovcnt)
{
	int is_sock = 1;

	while (iovcnt > 0) {
		ssize_t n;

		if (iov->iov_len == 0) {
			iov++;
			iovcnt--;
			continue;
		}
		if (is_sock) {
			struct msghdr mh = { .msg_iov = iov, .msg_iovlen = iovcnt };
			n = sendmsg(fd, &mh, MSG_NOSIGNAL);
			if (n < 0 && errno == ENOTSOCK) {
				is_sock = 0;
				continue;
			}
		} else {
			n = writev(fd, iov, iovcnt);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				struct pollfd p = { .fd = fd, .events = POLLOUT };
				if (poll(&p, 1, -1) < 0 && errno != EINTR)
					return -errno;
				continue;
			}
			return -errno;
		}
		while (n > 0 && iovcnt > 0) {
			if ((size_t)n >= iov->iov_len) {
				n -= iov->iov_len;
				iov++;
				iovcnt--;
			} else {
				iov->iov_base = (char *)iov->iov_base + n;
				iov->iov_len -= n;
				n = 0;
			}
		}
	}
	return 0;
}

int crest_write_full(int fd, const void *buf, size_t len)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

	return writev_full(fd, &iov, 1);
}

int crest_frame_send(int fd, uint16_t type, uint32_t *seq, const void *payload, uint32_t len)
{
	struct crest_frame hdr;
	struct iovec iov[2];

	if (len > CREST_FRAME_MAX)
		return -EMSGSIZE;
	crest_frame_build(&hdr, type, seq, payload, len);
	iov[0].iov_base = &hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)payload;
	iov[1].iov_len = len;
	return writev_full(fd, iov, 2);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* read len bytes before the deadline (-1: none) */
static int read_deadline(int fd, void *buf, size_t len, long long deadline)
{
	char *p = buf;

	while (len > 0) {
		int wait = -1;

		if (deadline >= 0) {
			long long left = deadline - now_ms();
			if (left <= 0)
				return -ETIMEDOUT;
			wait = left > 0x7fffffff ? 0x7fffffff : (int)left;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int r = poll(&pfd, 1, wait);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ETIMEDOUT;
		ssize_t n = read(fd, p, len);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= n;
	}
	return 0;
}

int crest_read_full(int fd, void *buf, size_t len)
{
	return read_deadline(fd, buf, len, -1);
}

int crest_frame_recv(int fd, struct crest_frame *hdr, void *buf, uint32_t bufsize, int timeout_ms)
{
	long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	int rc;

	rc = read_deadline(fd, hdr, sizeof(*hdr), deadline);
	if (rc)
		return rc;
	rc = crest_frame_check_header(hdr);
	if (rc)
		return rc;
	if (hdr->length > bufsize)
		return -EMSGSIZE;
	rc = read_deadline(fd, buf, hdr->length, deadline);
	if (rc)
		return rc;
	rc = frame_check_body(hdr, buf);
	if (rc)
		return rc;
	return (int)hdr->length;
}
