/* SPDX-License-Identifier: MIT */
/*
 * crest-coord internals: one coordinator per computation, or a root and one
 * sub-coordinator per node.  coord_main.c: arguments, daemon, signals;
 * coord_loop.c: the poll event loop over the listeners and connections;
 * coord_ckpt.c: the checkpoint state machine; coord_tree.c: the TCP links
 * between coordinators; coord_status.c: the JSON status.
 *
 * A "member" is a connection that answers each phase once: a process
 * (libcrest's checkpoint thread), or, for the root, a sub-coordinator
 * answering for a whole node (docs/protocol.md, "The coordinator tree").
 */
#ifndef CREST_COORD_H
#define CREST_COORD_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "auth.h"
#include "ckdir.h"
#include "crest/image.h"
#include "proto.h"

#define COORD_INBUF		4096	/* largest frame a coordinator accepts */
#define COORD_IDLE_EXIT_MS	120000	/* nobody connected: give up */
#define COORD_WRITE_STALL_MS	60000	/* WRITE without PROGRESS */

/* CONN_AUTH: a TCP connection that has not proved the secret yet (root);
 * CONN_PARENT: a sub-coordinator's link to its parent */
enum conn_kind { CONN_NEW, CONN_PROC, CONN_CLIENT, CONN_AUTH, CONN_PARENT };

struct conn {
	struct conn *next;
	int fd;
	enum conn_kind kind;
	bool dead;			/* close at the end of this loop turn */
	uint32_t tx_seq, rx_seq;
	unsigned char in[COORD_INBUF];
	size_t inlen;

	/* CONN_PROC */
	pid_t pid;
	uint32_t rank;
	uint32_t task_rank;		/* its Slurm task rank (HELLO's task - 1), if `task` */
	uint32_t task_id;		/* HELLO's task: 1 + the rank of the task it belongs to, 0 none */
	uint32_t restart_count;
	bool restarted;
	char exe[256];
	uint32_t vpid;			/* the pid the application sees; names the image */
	pid_t ppid;
	bool member;			/* part of the running checkpoint */
	bool answered;			/* answered the current phase */
	bool behind;			/* counted in ckpt.behind */
	int done;			/* last step it answered OK (enum ckpt_step) */
	long long asked_ms;		/* when it was sent its current phase */
	uint64_t bytes;
	uint32_t image_crc;
	char image[512];		/* relative to the generation dir */

	/* CONN_CLIENT */
	bool waiting;			/* waits for CKPT_RESULT */

	/* TCP (root): a sub-coordinator, a member that answers for its node */
	bool tcp;
	bool sub;			/* CONN_PROC that is the sub-coordinator of `node` */
	bool sub_gone;			/* dropped: its nodes no longer counted (c->nsubnodes) */
	bool task;			/* CONN_PROC that is the first process of a Slurm task */
	uint32_t node;
	char peer[64];			/* address:port, for the log */
	struct crest_auth_hs hs;	/* CONN_AUTH */
	struct ckdir_image *imgs;	/* its node's images of the running checkpoint */
	size_t nimgs, imgs_cap;
	struct ckdir_ended *ended;	/* its node's ended tasks, same (TASKS_ENDED) */
	size_t nended, ended_cap;
	/* a sub-coordinator: the nodes it answers for (its own, and those of
	 * the sub-coordinators below it: SUBTREE), and the set on its way */
	uint32_t *subtree, *subtree_in;
	size_t nsubtree, nsubtree_in, subtree_cap, subtree_in_cap;
};

enum coord_timelimit { COORD_TIMELIMIT_CHECKPOINT = 0, COORD_TIMELIMIT_REQUEUE, COORD_TIMELIMIT_IGNORE };

struct coord_opts {
	char dir[CKDIR_PATH_MAX];	/* absolute */
	unsigned interval;		/* s, 0 = none */
	unsigned keep;
	unsigned timeout;		/* s, SUSPEND */
	unsigned min_spacing;		/* s between the end of one checkpoint and a
					 * signal-triggered next one */
	uint32_t compress;		/* enum crest_comp */
	bool foreground;
	pid_t watch;			/* --pid: the process that will connect; exit if it dies first */
	/* the tree (docs/protocol.md, "The coordinator tree") */
	char rundir[CKDIR_PATH_MAX];	/* COORD, socket, log, PROCS: dir, or dir/nodes/n<node> */
	uint32_t node;			/* 0: the root (or standalone) */
	char listen[64];		/* --listen ADDR:PORT (root, or a sub-coordinator that is a parent too) */
	char parent[64];		/* --parent ADDR:PORT (sub-coordinator) */
	char secret_file[CKDIR_PATH_MAX];
	char addr_file[CKDIR_PATH_MAX];	/* with --listen: --addr-file, where it writes ADDR:PORT */
	char parent_file[CKDIR_PATH_MAX];	/* sub: --parent-file, read at each connect */
	char root_file[CKDIR_PATH_MAX];	/* sub: --root-file, the root's, when the parent's says "done" */
	/* a Slurm step (spank/): no checkpoint before `tasks` task processes
	 * are connected here and, at the root, `nodes` - 1 sub-coordinators */
	unsigned tasks, nodes;
	unsigned tasks_wait;		/* --tasks-wait SEC: say it when `tasks` are not there by then */
	const char *task_ranks;		/* --task-ranks R,R,...: their global ranks (SLURM_PROCID), or NULL */
	const char *ended_tasks;	/* --ended-tasks RANK:STATUS,...: ended in the generation restarted from */
	/* the root of a Slurm step asks Slurm why a SIGTERM came and when the
	 * job ends (coord_slurm.c) */
	char incarnation[CKDIR_INCARNATION_LEN + 1];	/* --incarnation ID: the run it belongs to */
	char slurm_job[24];		/* --slurm-job JOBID */
	unsigned slurm_run;		/* --slurm-run N: this run's SLURM_RESTART_COUNT */
	bool cancel_checkpoint;		/* --on-cancel checkpoint (else exit) */
	enum coord_timelimit timelimit;	/* --timelimit */
	unsigned timelimit_margin;	/* --timelimit-margin SEC */
};

/* what `scontrol show job -o` says (coord_slurm.c) */
struct coord_slurm_job {
	bool known;
	char state[32];			/* JobState */
	char reason[64];		/* Reason */
	unsigned restarts;		/* Restarts */
	long long end_s;		/* EndTime, epoch s; 0 unknown */
};

enum coord_term_plan { TERM_PLAN_CHECKPOINT = 0, TERM_PLAN_EXIT, TERM_PLAN_KEEP };

struct coord_slurm_state {
	bool plan_made;			/* a SIGTERM came: decided once */
	enum coord_term_plan plan;
	char why[200];
	unsigned killwait;		/* s, 0 until asked */
	char *config;			/* `scontrol show config`, asked once (coord_slurm_config) */
	bool config_asked;
	long long next_query_ms;	/* time limit: when to ask for the end time */
	long long end_s, deadline_ms;	/* the job's end; when its checkpoint starts (0: none) */
	long long retry_ms;
	uint64_t limit_gen;		/* the time limit's checkpoint */
};

enum ckpt_step { CK_IDLE = 0, CK_PREPARE, CK_SUSPEND, CK_WRITE, CK_COMMIT };

struct ckpt {
	enum ckpt_step step;
	uint64_t gen;
	uint32_t flags;			/* CREST_CKPT_* for RESUME */
	uint32_t compress;
	long long start_ms, step_ms, progress_ms;
	uint64_t bytes;
	char reason[96];		/* what started it, for the log and status */
	bool final;			/* a SIGTERM asked for it: the computation ends */
	/* processes that must be in this checkpoint but are not suspended yet:
	 * children of suspended members, members that left before being
	 * suspended (an exec).  Resolved when the pid is a suspended member,
	 * a zombie or gone. */
	struct wanted { pid_t pid; long long since_ms; } *wanted;
	size_t nwanted, wanted_cap;
	int reported;			/* sub-coordinator: last step answered to the parent */
	unsigned behind;		/* live members yet to answer the current step */
	long long next_scan_ms;		/* the next look for members that timed out */
};

struct coord {
	struct coord_opts o;
	int lfd;
	char sock[CKDIR_PATH_MAX];
	ino_t sock_ino;			/* of the socket file we bound: unlink only ours */
	struct conn *conns;
	int tfd;			/* --listen: the TCP listener, else -1 */
	/* coord_loop.c: one epoll set of lfd, tfd and every connection, which
	 * coord_conn_add registers; counts kept as connections come and go, so
	 * that a loop turn costs what happened in it, not the connections */
	int efd;
	unsigned nprocs, ntasks, nsubs;	/* CONN_PROC: all, Slurm tasks, sub-coordinators */
	unsigned nsubnodes;		/* the nodes the sub-coordinators answer for */
	bool secret_ok;			/* c->secret holds the computation's secret */
	unsigned ndead;			/* marked by coord_conn_drop, not reaped yet */
	long long sweep_ms;		/* the next reap of every dead connection */
	long long accept_pause_ms;	/* EMFILE: the listeners rest until then */
	long long emfile_told_ms;
	long long auth_scan_ms;		/* the next look for TCP peers that did not authenticate */
	uint8_t secret[CREST_SECRET_LEN];
	struct conn *parent;		/* sub-coordinator: the link up, or NULL */
	long long parent_retry_ms;	/* when to try connecting again */
	unsigned parent_backoff_ms;
	long long last_member_ms;	/* root: a process or sub was connected */
	uint32_t next_rank;
	bool any_connected;
	bool started;			/* every expected task and node was there once */
	/* this node's Slurm tasks that ended, with their wait status (coord_ended.c) */
	struct ckdir_ended *ended;
	size_t nended, ended_cap;
	/* root: the nodes whose tasks all ended and whose sub-coordinator left
	 * (CREST_ENDED_NODE_DONE), and their tasks */
	struct ckdir_ended *done_ended;
	size_t ndone_ended, done_ended_cap;
	uint32_t *done_nodes;
	size_t ndone_nodes, done_nodes_cap;
	long long stop_wait_ms;		/* sub: SHUTDOWN came while tasks' statuses were on their way */
	char put_off[128];		/* why the interval last waited (logged once) */
	uint64_t final_gen;		/* a final checkpoint was committed: no more */
	long long start_ms;
	long long next_interval_ms;
	long long last_end_ms;		/* end (commit or abort) of the last checkpoint */
	struct ckpt ck;
	/* root: the lines of gen-N/ENDPOINTS of the running checkpoint */
	struct { char *buf; size_t len, cap; } eps;
	struct coord_ns *ns;		/* coord_ns.c */
	bool hello_sent;		/* sub: HELLO went up this link (its node is complete) */
	bool parent_done_told;		/* sub: said once that it goes to the root (--root-file) */
	bool missing_told;		/* a Slurm node: its processes were told of a task that never came */
	long long missing_next_ms;	/* when missing_tasks looks again */
	/* the run this coordinator belongs to (DIR/INCARNATION when it
	 * started; a sub's: --incarnation, or its parent's first WELCOME);
	 * "" while a sub does not know it yet */
	char incarnation[CKDIR_INCARNATION_LEN + 1];
	struct {
		uint64_t gen;
		int error;
		char text[512];
		long long stopped_ms;	/* longest time a process's threads were stopped */
		char reason[96];
		long long duration_ms;	/* of the last committed checkpoint */
	} last;
	struct coord_slurm_state slurm;
};

extern volatile sig_atomic_t coord_stop;

long long coord_now_ms(void);

/* coord_loop.c */
int coord_listen(struct coord *c);
/* coord_main.c: RUNDIR/RESPAWN, this coordinator's command line with
 * --incarnation of its run once known (called again when a sub learns it) */
void coord_respawn_write(struct coord *c);
int coord_run(struct coord *c);
void coord_close_all(struct coord *c);
void coord_unlink_sock(struct coord *c);
int coord_send(struct coord *c, struct conn *conn, uint16_t type, const void *payload, uint32_t len);
unsigned coord_nprocs(const struct coord *c);
/* a new connection: on c->conns and in the epoll set; on failure it is
 * closed and freed */
int coord_conn_add(struct coord *c, struct conn *conn);
/* close it at the end of this loop turn */
void coord_conn_drop(struct coord *c, struct conn *conn);
/* accept4 failed with errno e on listener `what`: true when the loop should
 * stop taking connections for a while (out of descriptors) */
bool coord_accept_failed(struct coord *c, int e, const char *what);

/* coord_ckpt.c */
void coord_ckpt_request(struct coord *c, struct conn *client, const struct crest_msg_request *req);
void coord_ckpt_answer(struct coord *c, struct conn *proc, uint16_t type, const struct crest_msg_phase *m);
void coord_ckpt_joined(struct coord *c, struct conn *proc);
void coord_ckpt_gone(struct coord *c, struct conn *conn);
void coord_ckpt_children(struct coord *c, struct conn *proc, const struct crest_msg_children *m);
void coord_ckpt_trigger(struct coord *c, struct conn *proc, const struct crest_msg_trigger *t);
void coord_ckpt_tick(struct coord *c);
void coord_ckpt_abort(struct coord *c, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *coord_step_name(enum ckpt_step step);
/* DIR still belongs to this coordinator's run (else it stops: a newer one
 * started, this one is left over from an older run) */
bool coord_owns_dir(struct coord *c);

/* coord_tree.c: the links between coordinators */
static inline bool coord_is_sub(const struct coord *c) { return c->o.node > 0; }
/* --tasks/--nodes: true once every task and node has been connected; else
 * false with what is missing in why */
bool coord_step_started(struct coord *c, char *why, size_t size);
int coord_tree_setup(struct coord *c);
/* one connection from the TCP listener: 1 taken (or refused), 0 none
 * waits, -1 out of descriptors */
int coord_tree_accept(struct coord *c);
void coord_tree_auth(struct coord *c, struct conn *conn, const struct crest_frame *hdr, const void *payload);
/* coord_munge.c: the root of a Slurm step, a CKPT_MUNGE as the first TCP
 * frame (crest checkpoint --job): a client, or refused and dropped */
void coord_munge_request(struct coord *c, struct conn *conn, const struct crest_frame *hdr, const void *payload);
void coord_tree_tick(struct coord *c);
/* sub: reach the parent and say HELLO now if it can (no backoff) */
void coord_tree_up_now(struct coord *c);
void coord_tree_parent_gone(struct coord *c);
/* sub: the parent's WELCOME: its run is this coordinator's, or this one
 * is left over from another run and stops */
void coord_tree_welcome(struct coord *c, const struct crest_msg_welcome *w);
/* 1 if DIR/INCARNATION names run, 0 if another, -1 if it cannot be read */
int coord_run_of_dir(const struct coord *c, const char *run);
void coord_tree_images(struct coord *c, struct conn *sub, const struct crest_msg_images *m);
int coord_tree_send_images(struct coord *c, const struct ckdir_image *im, size_t n);
/* a sub-coordinator answers for node (its own, or one below it) */
bool coord_sub_has(const struct conn *sub, uint32_t node);
/* the live sub-coordinator that answers for node, or NULL */
struct conn *coord_sub_of(const struct coord *c, uint32_t node);
/* SUBTREE from a sub-coordinator below */
void coord_tree_subtree(struct coord *c, struct conn *sub, const struct crest_msg_subtree *m);
/* a sub-coordinator below said HELLO or left: the set of nodes this one
 * answers for changed (a sub says the new one up) */
void coord_tree_subtree_changed(struct coord *c);
/* sub: the addresses of the sub-coordinators below it, as ENDPOINTS node
 * lines for the root (at WRITE) */
int coord_tree_send_node_addrs(struct coord *c);
/* sub with --listen and --addr-file: it leaves for good (its node is done) */
void coord_tree_leaving(struct coord *c);
void coord_up(struct coord *c, uint16_t type, const struct crest_msg_phase *m);

/* coord_ended.c: the Slurm tasks of a node that ended while the step runs */
int coord_ended_add(struct coord *c, uint32_t rank, int32_t status, const char *from);
int coord_ended_parse(struct coord *c, const char *ended_tasks);
bool coord_ended_has(const struct coord *c, uint32_t rank);
/* true, with why, while a generation could not record every task of the
 * node: one ended without its status known, or its processes still run */
bool coord_ended_unrecordable(struct coord *c, char *why, size_t size);
int coord_ended_send_up(struct coord *c);
/* sub: the nodes below whose tasks all ended, to the parent (after HELLO) */
void coord_ended_done_up(struct coord *c);
void coord_ended_from_sub(struct coord *c, struct conn *sub, const struct crest_msg_tasks_ended *m);
/* sub: every task of the node ended and the plugin stops it: tell the root */
void coord_ended_node_done(struct coord *c);
/* SHUTDOWN from the plugin: stop now, or soon (coord_ended_stop_tick) */
void coord_ended_shutdown(struct coord *c);
void coord_ended_stop_tick(struct coord *c);
/* root: the done nodes no sub-coordinator serves (counted as present) */
unsigned coord_ended_nodes_away(const struct coord *c);
/* root: a sub-coordinator of node says HELLO: it is no longer done */
void coord_ended_node_back(struct coord *c, uint32_t node);
/* what a coordinator that ran here before this one (it died) had learnt:
 * RUNDIR/ENDED; 0 or -errno */
int coord_ended_load(struct coord *c);
/* the root: this node's and the member subs' into man->ended (malloc'ed) */
int coord_ended_collect(const struct coord *c, struct ckdir_manifest *man);

/* coord_ckpt.c, sub-coordinator side: a phase from the parent */
void coord_ckpt_from_parent(struct coord *c, uint16_t type, const struct crest_msg_ckpt *m);

/* coord_endpoints.c: the TCP connections of a checkpoint, gen-N/ENDPOINTS */
void coord_endpoints_add(struct coord *c, struct conn *from, const struct crest_msg_endpoints *m);
int coord_endpoints_write(struct coord *c);
void coord_endpoints_clear(struct coord *c);

/* coord_ns.c: the name service (docs/protocol.md, "Name service") */
void coord_ns_request(struct coord *c, struct conn *from, uint16_t type, const struct crest_msg_ns *m);
void coord_ns_reply_from_parent(struct coord *c, const struct crest_msg_ns *m);
void coord_ns_parent_up(struct coord *c);
void coord_ns_gone(struct coord *c, struct conn *conn);
void coord_ns_tick(struct coord *c);
void coord_ns_free(struct coord *c);
/* requests wait for an answer: restarting ends are looking for each other */
bool coord_ns_busy(const struct coord *c);

/* coord_slurm.c (the root of a Slurm step) */
int coord_slurm_parse_job(const char *text, struct coord_slurm_job *j);
int coord_slurm_parse_killwait(const char *text, unsigned *sec);
/* `scontrol show config` of this root, run at the first call only (KillWait,
 * munge's socket, SlurmUser); NULL if it failed (warned once) */
const char *coord_slurm_config(struct coord *c);
/* what to do about a SIGTERM; why says it in one line */
enum coord_term_plan coord_slurm_term_plan(const struct coord_slurm_job *j, const struct coord_opts *o,
					   long long now_s, unsigned killwait, long long estimate_ms, char *why,
					   size_t size);
/* a TRIGGER(TERM) from `from` (for the log): true if it takes a final
 * checkpoint, else every process was told what to do instead */
bool coord_slurm_term(struct coord *c, const char *from);
/* the final checkpoint the TERM asked for cannot start (why) */
void coord_slurm_term_not_taken(struct coord *c, const char *why);
void coord_slurm_term_broadcast(struct coord *c, const struct crest_msg_term *m);
void coord_slurm_tick(struct coord *c);
void coord_slurm_committed(struct coord *c, uint64_t gen);

/* coord_ckpt.c: a final checkpoint the root decided (CREST_CKPT_FINAL) */
int coord_ckpt_start_final(struct coord *c, const char *reason);

/* coord_status.c */
int coord_status_json(const struct coord *c, char *buf, size_t size);

#endif
