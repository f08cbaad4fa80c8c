/* SPDX-License-Identifier: MIT */
/* The restart plan shared by cli_tree.c (processes, pipes, shared memory)
 * and cli_tree_sockets.c (sockets).  Not a public interface. */
#ifndef CREST_CLI_TREE_INT_H
#define CREST_CLI_TREE_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "crest/image.h"

/* One socket of the computation (by inode: a socket inherited through fork
 * is one socket in several processes), created once by crest restart. */
struct tsock {
	const struct crest_img_socket *rec;	/* the first record that has it */
	int proc;				/* ... in this process */
	const unsigned char *data;		/* its receive queue, rec->queued bytes */
	int peer;				/* the other end, or -1 */
	int fd;					/* created: a high fd */
};

struct tproc {
	char image[PATH_MAX];
	struct crest_img_process proc;
	struct crest_img_fd *fds;
	size_t nfds;
	struct crest_img_child *kids;
	size_t nkids;
	struct crest_img_region *regions;
	size_t nregions;
	struct crest_img_socket *socks;
	size_t nsocks;
	unsigned char **sockdata;	/* per socket record: its queue (FILEDATA) */
	int parent;			/* index, -1 for the root */
	bool orphan;			/* its parent had exited: forked through the root, not its child */
	int slot;			/* in the pid table */
};

struct tzombie {
	int parent;
	struct crest_img_child c;
	int slot;
};

/* A process group whose leader is gone, made again by a holder process
 * (cli_tree_groups.c) */
struct tgroup {
	uint32_t pgid, sid;		/* virtual */
	int slot;			/* in the pid table */
};

/* Open file descriptions a parent hands to a child at restart
 * (cli_tree_files.c): the parent's fd pfd[j] becomes the child's cfd[j] */
#define TLINK_MAX 64
struct tlink {
	int parent, child;		/* process indexes */
	int sock[2];			/* [0] the parent's end, [1] the child's */
	int n;
	int pfd[TLINK_MAX], cfd[TLINK_MAX];
};

struct tpipe {
	uint64_t ino;
	uint64_t size;
	unsigned char *data;
	size_t len;
	bool have_data;
	int readers, writers;		/* records in the computation */
	int readers_hi, writers_hi;	/* ... of them at fd > 2 */
	int fd[2];			/* created: high fds */
	char *fifo;			/* a named FIFO (there, or made again): reopened by path */
	bool fifo_tried;		/* fifo looked for (once per pipe) */
	int fifo_fd;			/* ... held open O_RDWR until every process has it */
};

/* A pseudo-terminal whose master a process of the restart held
 * (cli_tree_pty.c): made again once */
struct tpty {
	uint64_t index;			/* the N of /dev/pts/N at the checkpoint */
	struct crest_img_pty hdr;	/* its settings, and how much output was in flight */
	unsigned char *data;		/* FILEDATA: hdr, then that output */
	bool have;
	int master, slave;		/* the new pair: high fds */
	char path[64];			/* the new /dev/pts/M */
};

/* A shared memory object (shared anonymous memory, memfd, SysV, a deleted
 * file mapped shared): created once, filled from the images, mapped by every
 * process that shared it. */
struct tshm {
	uint64_t ino;
	char path[CREST_IMG_PATH_MAX];
	uint64_t size;
	int fd;				/* a memfd, or -1 (SysV) */
	/* SysV (/SYSV<key>, cli_tree_sysv.c) */
	uint64_t segsz;			/* shm_segsz at the checkpoint; 0: unknown */
	uint32_t mode;			/* shm_perm.mode (SHM_DEST: removed); 0: unknown */
	int sysv_id;			/* the new segment, or -1 */
	void *map;			/* attached while it is filled */
	bool created;			/* by this restart (not the killed run's, used again) */
	bool file;			/* a node-local file at `path` (CREST_REGF_NODE_FILE) */
	uint64_t file_size;		/* ... its size at the checkpoint */
	uint64_t mtime_ns;		/* ... and modification time */
	uint32_t tmpdir_len;		/* ... the length of the $TMPDIR it is under, or 0 */
	uint32_t attaches;		/* removed: attachments to wait for before removing it again */
	uint32_t count_slot;		/* ... counted in this slot of sysv_count_fd */
};

struct tree {
	struct tproc *p;
	size_t n;
	struct tzombie *z;
	size_t nz;
	struct tpipe *pipes;
	size_t npipes;
	int root;
	int vpid_fd;
	struct crest_vpids_hdr *tab;
	int fd_base;
	int shell_fd[3];		/* the restarting shell's 0-2, kept at high fds */
	struct tshm *shm;
	size_t nshm;
	struct tsock *socks;
	size_t nsocks;
	const char *run;		/* the coordinator's folder, for cli_rewire.c */
	uint32_t task;			/* 1 + the Slurm task (ckdir_tree_file) */
	int sysv_count_fd;		/* attachments of removed SysV segments, or -1 */
	uint32_t sysv_nslots;
	struct tgroup *groups;
	size_t ngroups;
	struct tlink *links;
	size_t nlinks;
	struct tpty *ptys;
	size_t nptys;
};

/* cli_tree.c: vpid is `real` from now on, in slot `slot` of the pid table */
void tree_record(struct tree *t, int slot, uint32_t vpid, pid_t real);
/* the process of virtual pid vpid: its index, or -1 */
int tree_find_proc(const struct tree *t, uint32_t vpid);
/* tp's record of fd, or NULL */
const struct crest_img_fd *tree_fd_rec(const struct tproc *tp, int fd);
/* the root's fd 0-2 that is the same file as f (it becomes the restarting
 * shell's matching fd in other processes), or -1 */
int tree_root_stdio(const struct tree *t, const struct crest_img_fd *f);

/* cli_tree_groups.c */
/* the groups whose leader is gone, each given a slot from *slot */
int tree_groups_plan(struct tree *t, int *slot);
/* their holders, for the groups of session sid (in this process's session) */
void tree_groups_hold(struct tree *t, uint32_t sid);


/* cli_tree_sysv.c */
bool tree_shm_is_sysv(const struct tshm *o);
/* a new segment for o, attached at o->map to be filled */
int tree_sysv_make(struct tree *t, struct tshm *o, char *err, size_t errlen);
/* every segment filled: detached, and RUNDIR/SYSV written */
int tree_sysv_done(struct tree *t, char *err, size_t errlen);
/* the restart failed before the fork: the segments it made removed */
void tree_sysv_abort(struct tree *t);
/* o's entry of crest-restart's --shm-fds for region index `region` */
int tree_sysv_arg(const struct tree *t, const struct tshm *o, size_t region, char *buf, size_t size);

/* cli_tree_files.c */
int tree_files_plan(struct tree *t);
/* the socket pairs, at high fds */
int tree_files_make(struct tree *t, char *err, size_t errlen);
/* fd is one of process i's ends */
bool tree_files_keep(const struct tree *t, int i, int fd);
/* process i's crest-restart --fd-links (its ends made inheritable); its length */
size_t tree_files_arg(const struct tree *t, int i, char *buf, size_t size);

/* cli_tree_pty.c */
/* FILEDATA of master record f (malloc'ed data, taken) */
int tree_pty_saved(struct tree *t, const struct crest_img_fd *f, unsigned char *data, size_t n);
int tree_pty_plan(struct tree *t);
/* the new pairs, at high fds */
int tree_pty_make(struct tree *t, char *err, size_t errlen);
/* f's end of its new pair, a new fd to put at f->fd; -1: not one (a
 * terminal outside the computation) */
int tree_pty_fd(struct tree *t, const struct crest_img_fd *f);
/* f is put in place by crest restart (its pty is made again) */
bool tree_pty_placed(const struct tree *t, const struct crest_img_fd *f);

/* cli_tree_sockets.c */
int tree_sockets_plan(struct tree *t, char *err, size_t errlen);
int tree_sockets_make(struct tree *t, char *err, size_t errlen);
/* the created socket for process i's fd record k, or -1 */
int tree_socket_fd(const struct tree *t, int i, size_t k);

/* the node an image was written on: its folder .../n<M>/ */
unsigned tree_image_node(const char *image);

/* cli_rewire.c: connects socks[0..n) of generation folder `gen` (its name)
 * again to their peers on other nodes, through the name service of the
 * coordinator of `run`; sets their fd */
int tree_rewire(struct tree *t, struct tsock **socks, size_t n, const char *gen, const char *run, char *err,
		size_t errlen);
/* publishes addr/OLD = this node's address: the node that was at OLD at
 * the checkpoint is here now (preload/net_wrappers.c reads it) */
int tree_publish_addr(const char *run, const char *old, char *err, size_t errlen);

#endif
