/* SPDX-License-Identifier: MIT */
/*
 * crest process image format, version 1.  Documented in docs/image-format.md.
 *
 * This header is a contract between libcrest (writer), crest-restart (a
 * freestanding reader: no libc), and the crest command (inspect).  It must
 * stay usable without libc: only fixed-width types, no functions.
 *
 * An image is a sequence of 4096-byte aligned records.  Offset 0 holds the
 * file header (written last: an image whose header does not verify is
 * incomplete).  From offset 4096 on come sections: a 4096-byte block that
 * starts with struct crest_sec_hdr, followed by the payload, padded with
 * zeros to a multiple of 4096.  The last section is CREST_SEC_END.
 *
 * All integers are little-endian (x86_64 native).  Fields are only ever
 * added at the end of a struct, never moved; sizes are checked by the
 * static assertions below.
 */
#ifndef CREST_IMAGE_H
#define CREST_IMAGE_H

#include <stdint.h>

#define CREST_IMG_MAGIC		"CRESTIMG"	/* 8 bytes, no NUL stored */
#define CREST_IMG_VERSION	6	/* 2: UDP sockets, socket options; 3: inotify fds;
					 * 4: CREST_SOCK_PENDING records, SysV segment mode and size;
					 * 5: fds that share an open file description (fd_flags);
					 * 6: pseudo-terminal ends (CREST_FD_PTY_*), node-local
					 * files mapped shared (CREST_REGF_NODE_FILE) */
#define CREST_IMG_VERSION_MIN	1		/* oldest version this build reads */
#define CREST_IMG_ALIGN		4096u
#define CREST_ARCH_X86_64	62		/* ELF e_machine EM_X86_64 */
#define CREST_SEC_MAGIC		0x43455343u	/* "CSEC" */
#define CREST_IMG_PATH_MAX	512		/* paths in region records */
#define CREST_FD_PATH_MAX	4096		/* paths in fd records */
#define CREST_CHUNK_MAX		(8u << 20)	/* largest memory chunk, raw */
#define CREST_SEC_PAYLOAD_MAX	(64ull << 20)	/* largest non-memory payload */

/* The file header, at offset 0. */
struct crest_img_header {
	char magic[8];			/* CREST_IMG_MAGIC */
	uint32_t version;		/* CREST_IMG_VERSION */
	uint32_t header_size;		/* sizeof(struct crest_img_header) */
	uint32_t arch;			/* CREST_ARCH_X86_64 */
	uint32_t page_size;		/* 4096 */
	uint64_t flags;			/* CREST_IMGF_* */
	char kernel_release[65];	/* uname -r of the writer */
	char glibc_version[31];		/* gnu_get_libc_version() */
	uint64_t created_ns;		/* CLOCK_REALTIME at write */
	uint32_t pid;			/* pid at checkpoint */
	uint32_t nthreads;
	uint64_t nsections;		/* sections including END */
	uint64_t file_size;		/* total bytes of the image file */
	uint64_t memory_bytes;		/* raw bytes of memory saved */
	uint64_t generation;
	uint32_t compress;		/* CREST_COMP_* used for memory */
	uint32_t reserved[18];
	uint32_t crc;			/* crc32c of this struct with crc = 0 */
};

#define CREST_IMGF_COMPLETE	(1u << 0)	/* set in every finished image */

enum crest_comp {
	CREST_COMP_NONE = 0,
	CREST_COMP_ZSTD = 1,
};

enum crest_sec_type {
	CREST_SEC_PROCESS = 1,	/* struct crest_img_process */
	CREST_SEC_THREADS = 2,	/* struct crest_img_thread[nthreads] */
	CREST_SEC_REGIONS = 3,	/* struct crest_img_region[n] */
	CREST_SEC_MEMORY = 4,	/* one chunk of memory at hdr.addr */
	CREST_SEC_FDS = 5,	/* struct crest_img_fd[n] */
	CREST_SEC_FILEDATA = 6,	/* content of the file of fd record hdr.index */
	CREST_SEC_MODULE = 7,	/* opaque: 32-byte NUL-padded module name, then data */
	CREST_SEC_CHILDREN = 8,	/* struct crest_img_child[n]: children at the checkpoint */
	CREST_SEC_SOCKETS = 9,	/* struct crest_img_socket[n]: sockets of the FDS records */
	CREST_SEC_END = 0xffff,	/* last section; no payload */
};

/* Header of every section: the first bytes of a 4096-byte block. */
struct crest_sec_hdr {
	uint32_t magic;		/* CREST_SEC_MAGIC */
	uint32_t type;		/* enum crest_sec_type */
	uint64_t length;	/* stored payload bytes (without padding) */
	uint64_t raw_length;	/* bytes after decompression (== length if none) */
	uint64_t addr;		/* MEMORY: destination address; else 0 */
	uint32_t compress;	/* enum crest_comp of this payload */
	uint32_t payload_crc;	/* crc32c of the stored payload bytes */
	uint32_t index;		/* MEMORY: region index; FILEDATA: fd record index */
	uint32_t count;		/* number of records in an array payload */
	uint32_t reserved[3];
	uint32_t hdr_crc;	/* crc32c of this struct with hdr_crc = 0 */
};

/* CPU features a process may have chosen code paths for. */
struct crest_img_cpu {
	uint32_t vendor[3];		/* cpuid 0: ebx, edx, ecx */
	uint32_t leaf1_ecx, leaf1_edx;
	uint32_t leaf7_ebx, leaf7_ecx, leaf7_edx;
	uint32_t ext1_ecx, ext1_edx;	/* cpuid 0x80000001 */
	uint32_t xsave_size;		/* cpuid 0xd.0 ebx: XSAVE area for XCR0 */
	uint64_t xcr0;
};

/* CREST_SEC_PROCESS payload. */
struct crest_img_process {
	uint32_t pid, ppid, uid, gid;
	uint32_t nthreads;
	uint32_t umask;
	/* mm fields, from /proc/self/stat, restored with PR_SET_MM_MAP */
	uint64_t start_code, end_code, start_data, end_data;
	uint64_t start_brk, brk, start_stack;
	uint64_t arg_start, arg_end, env_start, env_end;
	/* vdso layout of the writer; restart moves its own to these addresses */
	uint64_t vvar_start, vvar_size;
	uint64_t vclock_start, vclock_size;	/* [vvar_vclock]; 0 if absent */
	uint64_t vdso_start, vdso_size;
	/* where crest-restart hands control back to libcrest */
	uint64_t restart_entry;		/* void entry(struct crest_restart_info *) */
	uint64_t restart_stack;		/* top of the stack to call it on */
	struct crest_img_cpu cpu;
	uint64_t nregions;
	uint64_t nfds;
	char exe[CREST_IMG_PATH_MAX];	/* /proc/self/exe at checkpoint */
	char cwd[CREST_FD_PATH_MAX];
	uint32_t vdso_crc;		/* crc32c of the [vdso] bytes: same kernel build */
	uint32_t sig_suspend;		/* signal crest used to stop threads */
	/* the process tree, in the application's (virtual) pids; pid and ppid
	 * above are virtual too.  root_pid: the process `crest launch` started,
	 * which takes the pid and stdio of `crest restart`. */
	uint32_t real_pid;		/* kernel pid at the checkpoint */
	uint32_t pgid, sid;
	uint32_t root_pid;
	uint32_t nchildren;		/* records in CREST_SEC_CHILDREN */
	uint32_t task;			/* 1 + the Slurm task rank it belongs to; 0 outside Slurm */
	uint64_t reserved[12];
};

/* CREST_SEC_CHILDREN: every child process (of any thread), virtual pids. */
struct crest_img_child {
	uint32_t pid;
	uint32_t zombie;		/* 1: exited, not reaped; code/status below */
	int32_t code;			/* CLD_EXITED, CLD_KILLED, CLD_DUMPED */
	int32_t status;			/* exit status or signal */
	uint64_t reserved[2];
};

/* CREST_SEC_THREADS: one per thread, the main (leader) thread first. */
struct crest_img_thread {
	uint32_t tid;
	uint32_t flags;			/* CREST_THR_* */
	uint64_t fs_base;
	uint64_t sigmask;		/* blocked mask when it was stopped */
	uint64_t sigpending;		/* thread-private pending signals */
	uint64_t altstack_sp, altstack_size;
	uint32_t altstack_flags;
	char name[16];
	uint32_t reserved0;
	uint64_t reserved[8];
};

#define CREST_THR_MAIN		(1u << 0)	/* thread-group leader */
#define CREST_THR_CKPT		(1u << 1)	/* crest's checkpoint thread */

enum crest_region_kind {
	CREST_REG_ANON = 1,		/* private anonymous: present pages saved */
	CREST_REG_FILE_PRIVATE = 2,	/* private file mapping: all pages saved */
	CREST_REG_FILE_SHARED = 3,	/* shared file mapping: file re-mapped */
	CREST_REG_SHARED_ANON = 4,	/* shared anonymous/deleted: content saved */
	CREST_REG_HEAP = 5,		/* [heap] */
	CREST_REG_STACK = 6,		/* [stack] (grows down) */
	CREST_REG_GUARD = 7,		/* PROT_NONE reservation: no content */
};

/* CREST_SEC_REGIONS: every mapping to restore, sorted by address. */
struct crest_img_region {
	uint64_t start, end;
	uint32_t prot;			/* PROT_* */
	uint32_t kind;			/* enum crest_region_kind */
	uint32_t flags;			/* CREST_REGF_* */
	uint32_t sysv_mode;		/* a /SYSV region (version 4 on): shm_perm.mode, SHM_DEST
					 * if removed (IPC_RMID); 0: unknown */
	uint64_t offset;		/* file offset of a file mapping */
	uint64_t dev, ino;		/* identity of the mapped file; /SYSV: the segment id
					 * the program knows */
	uint64_t file_size, mtime_ns;	/* /SYSV (version 4 on): file_size = shm_segsz */
	uint64_t saved_bytes;		/* raw bytes in MEMORY chunks */
	char path[CREST_IMG_PATH_MAX];	/* mapped file, or [heap] etc. */
};

#define CREST_REGF_DELETED	(1u << 0)	/* file was deleted */
#define CREST_REGF_GROWSDOWN	(1u << 1)
#define CREST_REGF_NODE_FILE	(1u << 2)	/* CREST_REG_SHARED_ANON that is a node-local file
						 * (/dev/shm, /tmp, $TMPDIR) mapped shared: its
						 * pages are saved and crest restart puts them back
						 * in the file at its path (version 6) */
/* bits 16-31 of a CREST_REGF_NODE_FILE region's flags: when its path is
 * under the process's $TMPDIR, the length of that $TMPDIR (0: not under
 * it, or an older image), so that crest restart puts the file under the
 * TMPDIR of the restart, where the restored program's paths lead */
#define CREST_REGF_TMPDIR_SHIFT	16
#define CREST_REGF_TMPDIR_LEN(flags)	((flags) >> CREST_REGF_TMPDIR_SHIFT)

enum crest_fd_kind {
	CREST_FD_FILE = 1,	/* regular file: reopened by path, offset set */
	CREST_FD_DIR = 2,
	CREST_FD_DEVNULL = 3,	/* /dev/null, /dev/zero, /dev/urandom ... reopened */
	CREST_FD_STDIO = 4,	/* 0-2 not a file: taken from the restarting shell */
	CREST_FD_DELETED = 5,	/* deleted regular file: content in FILEDATA */
	CREST_FD_TTY = 6,	/* a terminal other than 0-2: reopened by path */
	CREST_FD_PIPE = 7,	/* pipe (ino identifies it across processes; size = pipe size);
				 * data in flight in FILEDATA of one of its records; created by
				 * `crest restart` and in place before libcrest runs */
	CREST_FD_EXTERNAL = 8,	/* (old images) pipe to outside the computation */
	CREST_FD_EVENTFD = 9,	/* eventfd, timerfd, signalfd, epoll: re-created by libcrest */
	CREST_FD_TIMERFD = 10,	/* from its own memory (preload/fds_event.c); the record */
	CREST_FD_SIGNALFD = 11,	/* holds only fd, flags and fd_flags */
	CREST_FD_EPOLL = 12,
	CREST_FD_INOTIFY = 13,	/* its watches: libcrest's memory (preload/fds_inotify.c) */
	CREST_FD_PTY_MASTER = 14,	/* a pseudo-terminal's master (/dev/ptmx); pos: the pty's
					 * number; FILEDATA: struct crest_img_pty, then the output
					 * in flight (written to the slave, not read here yet) */
	CREST_FD_PTY_SLAVE = 15,	/* /dev/pts/N; pos: N.  When a master of the same pty is
					 * in the restart, crest restart makes a new pair and puts
					 * both ends in place; else reopened by path (a terminal
					 * outside the computation) */
	CREST_FD_SOCKET = 16,	/* socket: struct crest_img_socket in SOCKETS; created by
				 * `crest restart` and in place before libcrest runs */
};

/* FILEDATA of a CREST_FD_PTY_MASTER record: the pair's settings, then
 * `pending` bytes of output in flight */
struct crest_img_pty {
	uint32_t pending;
	uint32_t reserved;
	uint16_t ws_row, ws_col, ws_xpixel, ws_ypixel;	/* struct winsize */
	uint8_t termios[64];		/* glibc struct termios (60 bytes), as tcgetattr gave it */
};

/* fd_flags bits 8-30: 0, or 1 + an fd that shares this fd's open file
 * description (one offset and one set of status flags for both): a lower
 * fd of the same process (dup, dup2, a shell's 2>&1), or with bit 31 an fd
 * of the process's parent (inherited through fork, e.g. a file a shell
 * opened for a group of commands) */
#define CREST_FD_SAME_SHIFT	8
#define CREST_FD_SAME_MASK	0x7fffffu
#define CREST_FD_SAME_PARENT	(1u << 31)
#define CREST_FD_SAME_FD(r)	((int)(((r)->fd_flags >> CREST_FD_SAME_SHIFT) & CREST_FD_SAME_MASK) - 1)
#define CREST_FD_SAME_AS(r)	((r)->fd_flags & CREST_FD_SAME_PARENT ? -1 : CREST_FD_SAME_FD(r))
#define CREST_FD_PARENT_FD(r)	((r)->fd_flags & CREST_FD_SAME_PARENT ? CREST_FD_SAME_FD(r) : -1)

/* CREST_SEC_FDS */
/* A FIFO (kind CREST_FD_PIPE with a path) in a node-local place: `pos`
 * (0 in images of crest before it: a pipe has no position) has CREST_FD_FIFO_NODE_LOCAL and, in its low 32
 * bits, the length of the program's TMPDIR that starts the path (0: not
 * under it), so that crest restart on another node makes the FIFO again
 * where the program's path now leads, and the processes get it. */
#define CREST_FD_FIFO_NODE_LOCAL	(1ull << 32)
#define CREST_FD_FIFO_TMPDIR_LEN(r)	((size_t)((r)->pos & 0xffffffffu))

struct crest_img_fd {
	int32_t fd;
	uint32_t kind;			/* enum crest_fd_kind */
	uint32_t flags;			/* open flags (fdinfo flags, octal there) */
	uint32_t fd_flags;		/* FD_CLOEXEC; bits 8-31 (version 5): CREST_FD_SAME_* */
	uint64_t pos;
	uint64_t dev, ino, size, mtime_ns;
	uint32_t mode;
	uint32_t content_saved;		/* a FILEDATA section holds the content */
	char path[CREST_FD_PATH_MAX];
};

/* CREST_SEC_SOCKETS: one per socket fd record (kind CREST_FD_SOCKET), then
 * the CREST_SOCK_PENDING ones.  The data waiting in its receive queue (read
 * with MSG_PEEK: nothing consumed) is a FILEDATA section of the fd record:
 * raw bytes for a stream socket; for datagram and seqpacket sockets a
 * sequence of (uint32_t length, bytes).  Records with nothing waiting
 * (queued 0) have no section; the sections of one fd record go to its
 * socket records that have data, in order. */
struct crest_img_socket {
	uint32_t fd_index;		/* the FDS record */
	int32_t domain, type, protocol;	/* AF_UNIX/AF_INET/AF_INET6, SOCK_* */
	uint32_t state;			/* CREST_SOCK_* */
	uint32_t backlog;		/* listening: the backlog it had (unknown: 128) */
	uint64_t ino, peer_ino;		/* AF_UNIX: the socket's and its peer's inode */
	uint8_t local[128], peer[128];	/* struct sockaddr_* as the kernel gave them */
	uint32_t local_len, peer_len;
	uint32_t queued;		/* bytes waiting to be read (FILEDATA) */
	uint32_t nmsgs;			/* messages among them (datagram, seqpacket) */
	int32_t opt_nodelay, opt_keepalive, opt_reuseaddr, opt_peek_off;
	uint32_t shut;			/* SHUT_RD/WR seen: bit 0 read, bit 1 write */
	/* version 2 on (0 in version 1 images, which had no UDP) */
	int32_t opt_broadcast;		/* UDP: SO_BROADCAST */
	int32_t opt_reuseport;		/* IP: SO_REUSEPORT */
	int32_t opt_v6only;		/* AF_INET6: IPV6_V6ONLY */
	uint32_t rcvtimeo_ms, sndtimeo_ms;	/* SO_RCVTIMEO, SO_SNDTIMEO; 0: none */
	uint32_t reserved[4];
};

static inline int crest_sock_is_tcp(const struct crest_img_socket *s)
{
	return (s->domain == 2 /* AF_INET */ || s->domain == 10 /* AF_INET6 */) && s->type == 1 /* SOCK_STREAM */;
}

static inline int crest_sock_is_udp(const struct crest_img_socket *s)
{
	return (s->domain == 2 || s->domain == 10) && s->type == 2 /* SOCK_DGRAM */;
}

#define CREST_SOCK_UNCONNECTED	0
#define CREST_SOCK_LISTENING	1
#define CREST_SOCK_CONNECTED	2
/* version 4 on: a connection that waited in listener fd_index's queue, not
 * yet accepted by the program; after every record of an fd, in the order
 * the program would have accepted them.  Its data is one more FILEDATA
 * section of the listener's fd record, in record order. */
#define CREST_SOCK_PENDING	3

/* Section END payload: none.  hdr.count = number of sections before it. */

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(struct crest_img_header) == 256, "image header size");
_Static_assert(sizeof(struct crest_sec_hdr) == 64, "section header size");
_Static_assert(sizeof(struct crest_img_process) == 4984, "process record size");
_Static_assert(sizeof(struct crest_img_child) == 32, "child record size");
_Static_assert(sizeof(struct crest_img_socket) == 368, "socket record size");
_Static_assert(sizeof(struct crest_img_pty) == 80, "pty record size");
#endif

#endif /* CREST_IMAGE_H */
