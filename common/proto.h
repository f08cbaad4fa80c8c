/* SPDX-License-Identifier: MIT */
/*
 * Frame encoding and blocking send/receive for the crest wire protocol
 * (include/crest/proto.h, docs/protocol.md).
 *
 * Safe inside libcrest's checkpoint thread while application threads are
 * suspended: no malloc, no stdio; the caller owns every buffer.
 */
#ifndef CREST_COMMON_PROTO_H
#define CREST_COMMON_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crest/proto.h"

#define CREST_FRAME_HDR_SIZE	((uint32_t)sizeof(struct crest_frame))

/* true if this build knows message type `type` */
bool crest_msg_type_known(uint16_t type);

/* printable name of a message type ("HELLO"), "?" if unknown */
const char *crest_msg_type_name(uint16_t type);

/*
 * 0 if `len` is a valid payload length for `type`: fixed-size messages
 * carry exactly their struct, STATUS_REQUEST and SHUTDOWN nothing,
 * STATUS_REPLY any text up to CREST_FRAME_MAX.  -EBADMSG otherwise.
 */
int crest_msg_payload_check(uint16_t type, uint32_t len);

/*
 * Validate a frame header alone (magic, version, type, length <=
 * CREST_FRAME_MAX).  0, -EPROTO or -EMSGSIZE.
 */
int crest_frame_check_header(const struct crest_frame *hdr);

/*
 * Pure parser: does buf[0..len) start with one complete, valid frame?
 * 0: yes, *frame_len = header + payload bytes.
 * -EAGAIN: not complete yet; *frame_len = bytes needed when known (else the
 *   header size).
 * -EPROTO (magic, version, unknown type), -EMSGSIZE (length), -EBADMSG (crc
 *   or payload size for the type): malformed, drop the connection.
 */
int crest_frame_check(const void *buf, size_t len, size_t *frame_len);

/*
 * Build a frame header for `payload` (++*seq, crc) into *hdr.
 */
void crest_frame_build(struct crest_frame *hdr, uint16_t type, uint32_t *seq,
		       const void *payload, uint32_t len);

/*
 * Send one frame: header then payload, retrying EINTR and short writes;
 * MSG_NOSIGNAL on sockets (a dead peer gives -EPIPE, not SIGPIPE).
 * 0 or -errno.
 */
int crest_frame_send(int fd, uint16_t type, uint32_t *seq, const void *payload, uint32_t len);

/*
 * Receive exactly one frame into *hdr and buf (bufsize bytes).  timeout_ms
 * bounds the whole frame; -1 waits forever.  Returns the payload length
 * (>= 0) or -ETIMEDOUT, -ECONNRESET (peer closed), -EPROTO, -EMSGSIZE,
 * -EBADMSG, -errno.  After any error the stream position is undefined:
 * close the connection.
 */
int crest_frame_recv(int fd, struct crest_frame *hdr, void *buf, uint32_t bufsize, int timeout_ms);

/* write/read all of len bytes, retrying EINTR and short transfers; 0 or -errno
 * (read: -ECONNRESET on EOF) */
int crest_write_full(int fd, const void *buf, size_t len);
int crest_read_full(int fd, void *buf, size_t len);

#endif
