/* SPDX-License-Identifier: MIT */
/*
 * Checkpoint directory layout (docs/protocol.md, "Directory layout"):
 *
 *   DIR/COORD              "pid N\nsocket PATH\n" of the live coordinator
 *   DIR/PROCS              one pid per line: processes that registered
 *   DIR/coord.log          coordinator log
 *   DIR/gen-NNNNNN/        one generation; images in n0/p-<rank>-<pid>.img
 *   DIR/gen-NNNNNN/MANIFEST written last; a generation without it is incomplete
 *   DIR/latest             symlink -> gen-NNNNNN, switched atomically
 *
 * Functions return 0 or -errno and log what failed; lists are malloc'ed.
 */
#ifndef CREST_CKDIR_H
#define CREST_CKDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CKDIR_PATH_MAX		4096
#define CKDIR_MANIFEST_VERSION	1
#define CKDIR_MAX_IMAGES	65536

/* create DIR (0700) or check an existing one: a directory owned by us */
int ckdir_make(const char *dir);
/* same checks, without creating */
int ckdir_check(const char *dir);

/* The base of a user's job folders (BASE/<jobid>/<step key>/, docs/slurm.md)
 * from a template such as plugstack.conf's dir=/scratch/%u/crest: %u is the
 * user name, %h the home folder, %% a %.  0, or -ENAMETOOLONG. */
int ckdir_base_expand(const char *tmpl, const char *user, const char *home, char *out, size_t size);

/* "DIR/gen-000003"; -ENAMETOOLONG if it does not fit */
int ckdir_gen_path(char *buf, size_t size, const char *dir, uint64_t gen);

/* "gen-000012" -> 12; false for any other name */
bool ckdir_parse_gen_name(const char *name, uint64_t *gen);
/* generation numbers present as gen-NNNNNN dirs, ascending (complete or not) */
int ckdir_list_gens(const char *dir, uint64_t **gens, size_t *n);
/* max existing + 1 (1 for an empty dir) */
int ckdir_next_gen(const char *dir, uint64_t *gen);
/* has a MANIFEST that parses and names this generation */
bool ckdir_gen_complete(const char *dir, uint64_t gen);
/* newest complete generation; -ENOENT if none */
int ckdir_latest_complete(const char *dir, uint64_t *gen);
/* target of DIR/latest; -ENOENT if none */
int ckdir_latest_link(const char *dir, uint64_t *gen);
/* make DIR/latest point to gen-N: symlink latest.tmp + rename, then fsync DIR */
int ckdir_set_latest(const char *dir, uint64_t gen);
/* create gen-N/ and gen-N/n0/ (0700); -EEXIST if gen-N exists */
int ckdir_make_gen(const char *dir, uint64_t gen);
/* remove gen-N and everything in it */
int ckdir_remove_gen(const char *dir, uint64_t gen);
int ckdir_rmtree(const char *path);
/* remove all but the `keep` newest complete generations, and incomplete
 * ones older than the newest complete one; never the target of latest */
int ckdir_prune(const char *dir, unsigned keep);
/* remove every incomplete generation: only when no checkpoint can be
 * running (a coordinator starting up, which owns DIR) */
int ckdir_remove_incomplete(const char *dir);

struct ckdir_image {
	char path[512];		/* relative to the generation dir: n0/p-0-123.img */
	uint64_t size;
	uint32_t crc;		/* crc32c of the image header */
};

/* a Slurm task that had ended when the generation was taken: it has no
 * image, and a restart ends it again with `status` (docs/slurm.md) */
struct ckdir_ended {
	uint32_t node;
	uint32_t rank;		/* SLURM_PROCID */
	int32_t status;		/* wait status: exit code or signal */
};

struct ckdir_manifest {
	uint64_t generation;
	int64_t created;	/* seconds since the epoch */
	char hostname[256];
	size_t nimages;
	struct ckdir_image *images;	/* malloc'ed */
	size_t nended;
	struct ckdir_ended *ended;	/* malloc'ed, or NULL */
};

/* write gen-N/MANIFEST (tmp + fsync + rename + fsync dir) */
int ckdir_manifest_write(const char *dir, const struct ckdir_manifest *m);
/* parse gen-N/MANIFEST: -ENOENT missing, -EBADMSG malformed */
int ckdir_manifest_read(const char *dir, uint64_t gen, struct ckdir_manifest *m);
/* parse MANIFEST text (len bytes) */
int ckdir_manifest_parse(const char *text, size_t len, struct ckdir_manifest *m);
void ckdir_manifest_free(struct ckdir_manifest *m);
/* the task `rank` of node `node` is recorded as ended, or NULL */
const struct ckdir_ended *ckdir_manifest_ended(const struct ckdir_manifest *m, uint32_t node, uint32_t rank);
/* "exit 3", "signal 9" for a wait status; the reverse, -1 if malformed */
void ckdir_status_text(int32_t status, char *buf, size_t size);
int ckdir_status_parse(const char *text, int32_t *status);

int ckdir_fsync_file(const char *path);
int ckdir_fsync_dir(const char *path);
/* write a file atomically: PATH.tmp, fsync, rename, fsync the dir */
int ckdir_write_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* the same without fsync: readers see the old or the new content whole,
 * but a crash of the machine may lose it (files of a running computation) */
int ckdir_write_replace(const char *path, const void *data, size_t len, mode_t mode);

/* DIR/INCARNATION: a new random id for the run that owns DIR from now on
 * (made by what starts a new run of the computation: crest launch or crest
 * restart of a whole computation, crest step-start on a step's node 0),
 * and reading it back: 0, -ENOENT without one, -EBADMSG if it is not an
 * id.  id: CKDIR_INCARNATION_LEN hex digits + NUL (docs/protocol.md). */
#define CKDIR_INCARNATION_LEN	32
int ckdir_incarnation_new(const char *dir, char id[CKDIR_INCARNATION_LEN + 1]);
int ckdir_incarnation_read(const char *dir, char id[CKDIR_INCARNATION_LEN + 1]);
/* writes id (a run known already: --incarnation) as DIR/INCARNATION */
int ckdir_incarnation_write(const char *dir, const char *id);
/* true if s is an id: CKDIR_INCARNATION_LEN lowercase hex digits */
bool ckdir_incarnation_valid(const char *s);
/* an id on the wire (struct crest_msg_hello/welcome): 16 bytes, all 0
 * for none; pack of "" gives all 0, unpack of all 0 gives "" */
#define CKDIR_INCARNATION_BYTES	(CKDIR_INCARNATION_LEN / 2)
void ckdir_incarnation_pack(const char *id, uint8_t out[CKDIR_INCARNATION_BYTES]);
void ckdir_incarnation_unpack(const uint8_t in[CKDIR_INCARNATION_BYTES], char id[CKDIR_INCARNATION_LEN + 1]);

/* coordinator socket for DIR: DIR/coord.sock if it fits in sun_path, else
 * /tmp/crest-<uid>/coord-<dev>-<ino>.sock (creating /tmp/crest-<uid> 0700) */
int ckdir_socket_path(const char *dir, char *buf, size_t size);

/* The folder of node `node`'s runtime files (COORD, socket, log, PROCS,
 * VPIDS, PATHMAP, RESTARTING) in buf: DIR itself for node 0, else
 * DIR/nodes/n<node>, created 0700.  0 or -errno. */
int ckdir_node_dir(const char *dir, uint32_t node, char *buf, size_t size);

/* A runtime file of one process tree in rundir (VPIDS, PATHMAP): NAME, or
 * NAME.t<rank> for the tree of Slurm task <rank> (task = rank + 1; 0
 * outside Slurm), since each task of a node is restored on its own.
 * 0 or -ENAMETOOLONG. */
int ckdir_tree_file(char *buf, size_t size, const char *rundir, const char *name, uint32_t task);

/* DIR/COORD */
int ckdir_coord_write(const char *dir, pid_t pid, const char *sock);
int ckdir_coord_read(const char *dir, pid_t *pid, char *sock, size_t size);
/* a connection to the coordinator DIR/COORD names (its Unix socket,
 * close-on-exec): the fd, or -errno */
int ckdir_coord_connect(const char *dir);
int ckdir_coord_remove(const char *dir);
/* pid of a live coordinator of DIR, or 0 */
pid_t ckdir_coord_alive(const char *dir);

/* DIR/PROCS */
int ckdir_procs_add(const char *dir, pid_t pid);
int ckdir_procs_read(const char *dir, pid_t **pids, size_t *n);
int ckdir_procs_clear(const char *dir);
/* a new incarnation in rundir: PROCS emptied, every VPIDS* and PATHMAP*
 * (ckdir_tree_file) of an earlier one removed */
void ckdir_runtime_clear(const char *rundir);

bool ckdir_pid_alive(pid_t pid);
/* the state letter of /proc/PID/stat ('R', 'S', 'Z', ...), and its comm if
 * asked; 0 when the process is gone or its stat unreadable */
char ckdir_proc_state(pid_t pid, char *comm, size_t commlen);

#endif
