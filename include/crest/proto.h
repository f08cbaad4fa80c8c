/* SPDX-License-Identifier: MIT */
/*
 * crest wire protocol, version 1: libcrest <-> crest-coord <-> crest client.
 * Documented in docs/protocol.md.
 *
 * Every message is a frame: struct crest_frame (24 bytes) then `length`
 * payload bytes.  crc is crc32c over the header with crc = 0, continued over
 * the payload.  A receiver drops the connection (and logs why) on a wrong
 * magic, an unsupported version, length > CREST_FRAME_MAX, a bad crc, or an
 * unknown type.  Payload structs are fixed-size; strings are NUL-padded.
 */
#ifndef CREST_PROTO_H
#define CREST_PROTO_H

#include <stdint.h>

#define CREST_FRAME_MAGIC	0x46535243u	/* "CRSF" */
#define CREST_PROTO_VERSION	1
#define CREST_FRAME_MAX		(1u << 20)	/* largest payload */

struct crest_frame {
	uint32_t magic;
	uint16_t version;
	uint16_t type;		/* enum crest_msg_type */
	uint32_t length;	/* payload bytes */
	uint32_t seq;		/* sender's counter, starts at 1 per connection */
	uint32_t crc;
	uint32_t flags;		/* reserved, 0 */
};

enum crest_msg_type {
	/* process (libcrest checkpoint thread) -> coordinator */
	CREST_MSG_HELLO = 1,		/* struct crest_msg_hello */
	CREST_MSG_PHASE_OK = 2,		/* struct crest_msg_phase */
	CREST_MSG_PHASE_FAIL = 3,	/* struct crest_msg_phase, text says why */
	CREST_MSG_PROGRESS = 4,		/* struct crest_msg_phase: bytes written so far */
	CREST_MSG_CHILDREN = 5,		/* struct crest_msg_children: before PHASE_OK of SUSPEND */
	CREST_MSG_TRIGGER = 6,		/* struct crest_msg_trigger: a trigger signal arrived */
	CREST_MSG_IMAGES = 7,		/* struct crest_msg_images: a sub-coordinator's images, before PHASE_OK of WRITE */
	CREST_MSG_ENDPOINTS = 8,	/* struct crest_msg_endpoints: TCP connections, before PHASE_OK of WRITE */
	CREST_MSG_TASKS_ENDED = 9,	/* struct crest_msg_tasks_ended: a sub-coordinator's ended tasks, before IMAGES */
	CREST_MSG_SUBTREE = 10,		/* struct crest_msg_subtree: the nodes a sub-coordinator answers for, after HELLO */

	/* coordinator -> process */
	CREST_MSG_WELCOME = 16,		/* struct crest_msg_welcome */
	CREST_MSG_PREPARE = 17,		/* struct crest_msg_ckpt: check, nothing stopped */
	CREST_MSG_SUSPEND = 18,		/* struct crest_msg_ckpt: stop all threads */
	CREST_MSG_WRITE = 19,		/* struct crest_msg_ckpt: write the image */
	CREST_MSG_RESUME = 20,		/* struct crest_msg_ckpt: committed, go on (or exit) */
	CREST_MSG_ABORT = 21,		/* struct crest_msg_ckpt: not committed, go on */
	CREST_MSG_TERM_ACTION = 22,	/* struct crest_msg_term: no final checkpoint for this SIGTERM */
	CREST_MSG_NOTICE = 23,		/* struct crest_msg_notice: a line for the process's stderr */

	/* client (crest command) <-> coordinator */
	CREST_MSG_CKPT_REQUEST = 32,	/* struct crest_msg_request */
	CREST_MSG_CKPT_RESULT = 33,	/* struct crest_msg_result */
	CREST_MSG_STATUS_REQUEST = 34,	/* no payload */
	CREST_MSG_STATUS_REPLY = 35,	/* JSON text, see docs/protocol.md */
	CREST_MSG_SHUTDOWN = 36,	/* no payload: coordinator exits, app keeps running */
	CREST_MSG_TASK_ENDED = 37,	/* struct crest_msg_task_ended: the Slurm plugin saw a task end */

	/* the name service (docs/protocol.md, "Name service"): any local
	 * connection -> its coordinator -> ... -> the root, and back */
	CREST_MSG_NS_PUBLISH = 40,	/* struct crest_msg_ns: key = value */
	CREST_MSG_NS_LOOKUP = 41,	/* struct crest_msg_ns: value of key, waiting up to timeout_ms */
	CREST_MSG_NS_REPLY = 42,	/* struct crest_msg_ns: answer to the request with the same id */

	/* authentication of a connection (common/auth.c), before anything else */
	CREST_MSG_CHALLENGE = 48,	/* struct crest_msg_challenge: acceptor -> connector */
	CREST_MSG_AUTH = 49,		/* struct crest_msg_auth: connector -> acceptor */
	CREST_MSG_AUTH_OK = 50,		/* struct crest_msg_auth_ok: acceptor -> connector */
	/* instead of AUTH, to the root of a Slurm step: a checkpoint request
	 * signed by munge (crest checkpoint --job); answered by CKPT_RESULT */
	CREST_MSG_CKPT_MUNGE = 51,	/* struct crest_msg_ckpt_munge: client -> root */
};

enum crest_phase {
	CREST_PHASE_PREPARE = 1,
	CREST_PHASE_SUSPEND = 2,
	CREST_PHASE_WRITE = 3,
	CREST_PHASE_RESUME = 4,
	CREST_PHASE_RESTART = 5,	/* sent by a restarted process after HELLO */
};

#define CREST_HELLO_RESTARTED	(1u << 0)	/* process came back from an image */
#define CREST_HELLO_SUBCOORD	(1u << 1)	/* a sub-coordinator answering for node `node` */
#define CREST_HELLO_TASK	(1u << 2)	/* the first process of a Slurm task (see `task`) */

struct crest_msg_hello {
	uint32_t pid;
	uint32_t flags;			/* CREST_HELLO_* */
	uint32_t restart_count;
	uint32_t nthreads;
	uint64_t generation;		/* generation it was restored from, or 0 */
	char exe[256];			/* program name, for status */
	uint32_t vpid;			/* the pid the application sees (== pid until a restart) */
	uint32_t ppid;			/* real parent pid */
	uint32_t node;			/* CREST_HELLO_SUBCOORD: its node (>= 1) */
	uint32_t task;			/* 1 + its Slurm task rank (CREST_TASK); 0 outside Slurm */
	uint8_t run[16];		/* CREST_HELLO_SUBCOORD: the run (INCARNATION) it belongs
					 * to, all 0 if it does not know yet (was reserved) */
};

/* The children of a suspended process (real pids), so that the coordinator
 * can wait until every one of them is part of the checkpoint.  A process
 * with more children sends several messages; `more` is set on all but the
 * last. */
#define CREST_CHILDREN_MAX	256
#define CREST_CHILD_ZOMBIE	1u	/* exited, not reaped: saved by its parent */

struct crest_msg_children {
	uint64_t generation;
	uint32_t n;
	uint32_t more;
	struct {
		uint32_t pid;
		uint32_t state;		/* 0 alive, CREST_CHILD_ZOMBIE */
	} c[CREST_CHILDREN_MAX];
};

/* The images a sub-coordinator's processes wrote (paths relative to the
 * generation directory), fsynced with their folder, so that the root can
 * list them in MANIFEST without seeing the node's disk.  Several messages,
 * `more` set on all but the last. */
#define CREST_IMAGES_MAX	32

struct crest_msg_images {
	uint64_t generation;
	uint32_t n;
	uint32_t more;
	struct {
		char path[64];		/* n<node>/p-<rank>-<vpid>.img */
		uint64_t size;
		uint32_t crc;		/* crc32c of the image header */
		uint32_t reserved;
	} im[CREST_IMAGES_MAX];
};

/* The Slurm tasks of a node that ended while the step ran on, with their
 * wait status (as waitpid gives it): a generation records them, and a
 * restart from it ends each such task again at once with that status
 * instead of running it.  TASK_ENDED: one task, from `crest step-task-end`
 * (the plugin, when slurmstepd reaps it) to its node's coordinator.
 * TASKS_ENDED: all of a node's, from its sub-coordinator to the root at
 * WRITE; several messages, `more` has CREST_ENDED_MORE on all but the
 * last, each message of one node (a sub-coordinator with sub-coordinators
 * below it passes theirs up with its own).  With CREST_ENDED_NODE_DONE (generation 0, outside a checkpoint):
 * every task of the node has ended and its sub-coordinator leaves (Slurm
 * ended the step on that node); the root records the list for every later
 * generation and no longer waits for the node. */
struct crest_msg_task_ended {
	uint32_t rank;			/* SLURM_PROCID */
	int32_t status;			/* wait status */
	uint64_t reserved[2];
};

#define CREST_ENDED_MAX	128
#define CREST_ENDED_MORE	1u
#define CREST_ENDED_NODE_DONE	2u

struct crest_msg_tasks_ended {
	uint64_t generation;
	uint32_t n;
	uint32_t more;
	uint32_t node;			/* the node these tasks ran on (one per message) */
	uint32_t reserved;
	struct {
		uint32_t rank;
		int32_t status;
	} t[CREST_ENDED_MAX];
};

/* The connected TCP sockets of the processes (sockaddr_in/in6 as the
 * kernel gave them), so that the root can write gen-N/ENDPOINTS: at
 * restart a socket whose peer is listed there is connected again through
 * the name service, one whose peer is not was connected to outside.  A
 * sub-coordinator passes them up as they come.  Several messages, `more`
 * set on all but the last of a process. */
#define CREST_ENDPOINTS_MAX	32
#define CREST_EP_NODE_ADDR	1u

/* The nodes a sub-coordinator answers for: its own and every node below
 * it (a sub-coordinator may be the parent of others).  Sent after HELLO,
 * and again whenever the set changes; several messages, `more` set on all
 * but the last; the last one completes a new set, which replaces the old
 * one. */
#define CREST_SUBTREE_MAX	512

struct crest_msg_subtree {
	uint32_t n;
	uint32_t more;
	uint32_t node[CREST_SUBTREE_MAX];
};

struct crest_msg_endpoints {
	uint64_t generation;
	uint32_t n;
	uint32_t more;
	struct {
		uint32_t node;		/* the node of the process (loopback addresses are per node) */
		uint32_t flags;		/* CREST_EP_NODE_ADDR: `local` is where `node`'s coordinator is */
		uint8_t local[28];	/* struct sockaddr_in or sockaddr_in6 */
		uint8_t peer[28];
	} ep[CREST_ENDPOINTS_MAX];
};

/* NS_PUBLISH, NS_LOOKUP and NS_REPLY.  `id` is the requester's and comes
 * back in the reply; a coordinator that passes a request up gives it its
 * own.  CREST_NS_ADDR on a PUBLISH: `value` is ":PORT..." and the first
 * coordinator puts its node's address in front ("10.0.0.2:PORT...": the
 * address the node reaches its parent from). */
#define CREST_NS_KEY_MAX	192
#define CREST_NS_VALUE_MAX	256
#define CREST_NS_ADDR		(1u << 0)

struct crest_msg_ns {
	uint32_t id;
	uint32_t flags;			/* CREST_NS_* */
	int32_t error;			/* REPLY: 0, -ENOENT (LOOKUP with timeout 0), -ETIMEDOUT, ... */
	uint32_t timeout_ms;		/* LOOKUP: wait this long for a publication */
	char key[CREST_NS_KEY_MAX];
	char value[CREST_NS_VALUE_MAX];
};

struct crest_msg_welcome {
	uint32_t node;			/* node index, 0 standalone */
	uint32_t rank;			/* process index in the computation */
	uint8_t run[16];		/* the run (INCARNATION) of the coordinator, all 0 if
					 * it does not know yet (was reserved) */
	uint64_t reserved[2];
};

#define CREST_CKPT_EXIT		(1u << 0)	/* RESUME: end the computation */
#define CREST_CKPT_FINAL	(1u << 1)	/* RESUME: a final checkpoint the root decided
						 * (the time limit): hold as after a TERM's */

struct crest_msg_ckpt {
	uint64_t generation;
	uint32_t compress;		/* enum crest_comp */
	uint32_t flags;			/* CREST_CKPT_* */
	uint32_t timeout_ms;		/* SUSPEND: give up after this long */
	uint32_t threads;		/* WRITE: compression threads */
	char image[1024];		/* WRITE: absolute path of the image to write */
};

struct crest_msg_phase {
	uint64_t generation;
	uint32_t phase;			/* enum crest_phase */
	int32_t error;			/* 0 or -errno */
	uint64_t bytes;			/* WRITE: image bytes written so far / total */
	uint64_t memory_bytes;		/* WRITE: raw memory bytes saved */
	uint64_t stopped_ns;		/* RESUME: how long threads were stopped */
	uint32_t image_crc;		/* WRITE: crc of the image header */
	uint32_t reserved;
	char text[512];			/* PHASE_FAIL: what went wrong, for the user */
};

/* TERM_ACTION: the root's answer to a TRIGGER(TERM) that takes no final
 * checkpoint (a Slurm job cancelled, or too little time left).  Goes to
 * every process; one that has no SIGTERM of its own to act on ignores it. */
enum crest_term_action {
	CREST_TERM_EXIT = 1,		/* act on the SIGTERM now, as without crest */
	CREST_TERM_KEEP = 2,		/* go on running; the next SIGTERM acts */
};

struct crest_msg_term {
	uint32_t action;		/* enum crest_term_action */
	uint32_t reserved;
	uint64_t generation;		/* the newest complete generation (the rerun's), or 0 */
	char text[256];			/* why, for the process's stderr */
};

/* NOTICE: something the user must know and only the application's output
 * reaches (a Slurm step with a task that never registered) */
struct crest_msg_notice {
	char text[512];
};

/* why a process asks for a checkpoint on its own (CREST_MSG_TRIGGER) */
enum crest_trigger {
	CREST_TRIGGER_SIGNAL = 1,	/* the checkpoint signal (SIGUSR2 by default) */
	CREST_TRIGGER_TERM = 2,		/* a termination signal: checkpoint, then die of it */
};

struct crest_msg_trigger {
	uint32_t reason;		/* enum crest_trigger */
	uint32_t signo;			/* the signal that arrived */
	uint32_t sender_pid;		/* si_pid of that signal (real), 0 if unknown */
	uint32_t reserved;
	uint64_t reserved2[2];
};

/* Authentication (docs/protocol.md, "Authentication").  Both sides prove
 * they hold the computation's secret with HMAC-SHA256 over both nonces. */
#define CREST_AUTH_NONCE	32
#define CREST_AUTH_MAC		32

/* who connects (struct crest_msg_auth.role): the acceptor decides what the
 * connection may do from it */
enum crest_auth_role {
	CREST_ROLE_PROCESS = 1,		/* libcrest in an application process */
	CREST_ROLE_SUBCOORD = 2,	/* a sub-coordinator, toward its parent */
	CREST_ROLE_CLIENT = 3,		/* the crest command */
};

struct crest_msg_challenge {
	uint16_t version_min;		/* protocol versions the acceptor speaks */
	uint16_t version_max;
	uint32_t reserved;
	uint8_t nonce[CREST_AUTH_NONCE];
	uint64_t reserved2[2];
};

struct crest_msg_auth {
	uint16_t version;		/* chosen by the connector, in [min, max] */
	uint16_t role;			/* enum crest_auth_role of the connector */
	uint32_t reserved;
	uint8_t nonce[CREST_AUTH_NONCE];
	uint8_t mac[CREST_AUTH_MAC];	/* proves the secret, see docs/protocol.md */
	uint64_t reserved2[2];
};

struct crest_msg_auth_ok {
	uint8_t mac[CREST_AUTH_MAC];	/* the acceptor's proof */
	uint64_t reserved2[2];
};

#define CREST_REQ_KILL		(1u << 0)	/* end the computation after commit */

struct crest_msg_request {
	uint32_t flags;			/* CREST_REQ_* */
	uint32_t compress;		/* enum crest_comp, or ~0u for the default */
	uint64_t reserved[2];
};

/* CKPT_MUNGE: a munge credential (text, "MUNGE:...:") whose payload is the
 * claim "crest-checkpoint 1 job=J run=R step=S flags=F compress=C"
 * (common/munge_cred.h, docs/protocol.md) */
#define CREST_MUNGE_CRED_MAX	1024

struct crest_msg_ckpt_munge {
	uint32_t cred_len;		/* bytes of cred before its NUL */
	uint32_t reserved;
	uint64_t reserved2[2];
	char cred[CREST_MUNGE_CRED_MAX];	/* NUL-terminated, NUL-padded */
};

struct crest_msg_result {
	int32_t error;			/* 0 or -errno */
	uint32_t reserved;
	uint64_t generation;		/* committed generation */
	char text[512];			/* error message */
};

#endif /* CREST_PROTO_H */
