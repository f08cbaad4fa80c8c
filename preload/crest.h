/* SPDX-License-Identifier: MIT */
/*
 * libcrest's private state.  Everything here lives in libcrest's .bss, so
 * it is part of the image and comes back with memory at restart: the thread
 * table, the saved kernel state and the fd table are read back from memory,
 * not from the image's sections (those are for crest inspect and checks).
 */
#ifndef CREST_PRELOAD_H
#define CREST_PRELOAD_H

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>

#include "context.h"
#include "env.h"
#include "crest/image.h"
#include "crest/restart.h"

#define CREST_MAX_THREADS	1024
#define CREST_MAX_FDS		1024
#define CREST_PIPE_BUF_MAX	(1u << 20)
#define CREST_FD_BASE		900	/* crest's own fds are moved to >= this */
#define CREST_DEFAULT_SIG	62	/* SIGRTMAX-2; CREST_SIGNAL overrides */
#define CREST_SIGQ_MAX		32	/* pending signals kept per thread */
#define CREST_THR_DEAD		(1u << 16)	/* exited while being stopped: not saved */

struct crest_thread {
	uint32_t tid;			/* real */
	uint32_t vtid;			/* restart: the tid the application saw */
	uint32_t flags;			/* CREST_THR_* */
	uint64_t fs;			/* fs base: glibc's struct pthread */
	struct crest_ctx ctx;		/* where the thread resumes */
	uint32_t epoch;			/* suspension it stopped for */
	uint32_t pad;
	/* the system call the thread was blocked in, from /proc (EINTR fix) */
	long sc_nr;
	long sc_args[6];
	uint64_t sc_sp, sc_pc;
	uint64_t sigmask;
	uint64_t pending;		/* thread-directed pending signals (mask) */
	uint32_t nsigq;			/* ... and their siginfo, in queue order */
	siginfo_t sigq[CREST_SIGQ_MAX];
	stack_t altstack;
	char name[16];
};

struct crest_pipe {
	uint64_t ino;
	int rfd, wfd;			/* one fd of each end, -1 if absent */
	uint32_t len;			/* bytes drained, in buf */
	uint32_t off;			/* where in crest.pipe_data */
	int size;			/* F_GETPIPE_SZ */
};

struct crest_fd {
	struct crest_img_fd img;
	int32_t pipe;			/* index into crest.pipes, or -1 */
};

struct crest_child {
	pid_t pid;			/* real */
	bool zombie;
	int code, status;		/* of a zombie, from waitid(WNOWAIT) */
};

struct crest_state {
	bool active;			/* constructor ran and we are checkpointable */
	int sig;			/* signal that stops threads */
	pid_t pid;			/* real */
	pid_t root_vpid;		/* the process `crest launch` started (CREST_ROOT_PID) */
	uint32_t task;			/* 1 + the Slurm task rank (CREST_TASK), 0 without Slurm */
	char dir[4096];

	/* suspension */
	volatile uint32_t suspend_epoch;	/* incremented when a suspension starts */
	volatile uint32_t resume_epoch;		/* == suspend_epoch when nothing is stopped */
	volatile uint32_t nstopped;
	struct crest_thread threads[CREST_MAX_THREADS];
	volatile uint32_t nthreads;
	uint32_t ckpt_tid;
	uint64_t stopped_at_ns;
	volatile uint32_t ckpt_busy;		/* a checkpoint is between PREPARE and RESUME */
	volatile uint32_t exec_count;		/* threads inside an exec wrapper */

	/* coordinator link */
	int coord_fd;
	uint32_t seq;
	uint64_t generation;		/* last committed or restored */
	uint32_t restart_count;
	uint8_t run[16];		/* the coordinator's run (INCARNATION) from WELCOME; 0: not known */
	bool restarted;			/* we came back from an image */
	uint64_t restart_ns;

	/* kernel state saved at checkpoint, restored at restart */
	struct {
		uint64_t handler, flags, restorer, mask;
	} sigact[65];
	struct itimerval itimers[3];
	struct rlimit rlimits[RLIM_NLIMITS];
	mode_t umask;
	char cwd[4096];
	cpu_set_t affinity;
	uint64_t shared_pending;
	uint32_t nshared_sigq;
	siginfo_t shared_sigq[4 * CREST_SIGQ_MAX];
	volatile uint32_t threads_recreated;	/* restart: every thread has its new tid */
	uint64_t brk;

	/* fds */
	struct crest_fd fds[CREST_MAX_FDS];
	uint32_t nfds;
	struct crest_pipe pipes[64];
	uint32_t npipes;
	uint32_t pipe_data_len;

	struct crest_restart_info rinfo;	/* copy of crest-restart's hand-over */
};

extern struct crest_state crest;
extern unsigned char crest_pipe_data[CREST_PIPE_BUF_MAX];

/* sig_wrappers.c */
void crest_sig_wrappers_init(void);
/* crest takes `sig` as a trigger: its handler in the kernel, the
 * application's sigaction recorded; disown puts the application's back */
int crest_sig_own(int sig, void (*handler)(int, siginfo_t *, void *));
void crest_sig_disown(int sig);
bool crest_sig_owned(int sig);
void crest_sig_exec(bool failed);	/* around execve: ignored stays ignored */
void crest_sig_run_app(int sig, siginfo_t *si, void *uc);	/* the application's action */

/* trigger.c: checkpoint triggers from signals */
void crest_trigger_init(void);		/* constructor */
void crest_trigger_atfork_child(void);
void crest_trigger_after_restart(void);
int crest_trigger_wake_fd(void);	/* readable when a trigger signal arrived */
void crest_trigger_wake_lost(void);	/* the program closed it: a new one */
bool crest_trigger_wake_ok(void);	/* it is still the eventfd crest made */
/* checkpoint thread: sends what the signals asked for; returns the poll
 * timeout it needs (ms, -1 none) */
int crest_trigger_service(void);
/* checkpoint thread, after RESUME or ABORT was handled */
void crest_trigger_after_checkpoint(void);
/* RESUME of a final checkpoint (a TERM asked for it, or `final`: the root
 * decided it, CREST_CKPT_FINAL) with CREST_ON_TERM=hold: true if the threads
 * must stay stopped (until SIGTERM again); crest_trigger_held() since then */
bool crest_trigger_hold(bool final);
struct crest_msg_term;
/* TERM_ACTION: the root takes no final checkpoint for this SIGTERM */
void crest_trigger_term_action(const struct crest_msg_term *m);
bool crest_trigger_held(void);
/* checkpoint: this process's pid, to tell its own pending trigger signals
 * from others at restart */
void crest_trigger_note_checkpoint(void);
/* restart: drop trigger signals from outside from the saved pending queues */
uint32_t crest_trigger_filter(siginfo_t *q, uint32_t n);

/* signals.c */
uint32_t crest_sig_take(uint64_t mask, siginfo_t *q, uint32_t max);
void crest_sig_requeue(pid_t tid, const siginfo_t *q, uint32_t n);
/* trigger.c: a pending signal from outside that the checkpoint sends again
 * with kill()/tgkill() (its sender becomes this process): the handler must
 * still take it as from outside.  Signal-safe. */
void crest_trigger_resending(const siginfo_t *si);
uint64_t crest_sig_pending_mask(const char *status_path, const char *key);

/* suspend.c */
int crest_suspend_install(void);
/* exec holds the read side of the checkpoint lock: a thread in execve is
 * never sent the suspend signal (it would kill the new program, whose
 * disposition is the default).  begin waits while a checkpoint runs. */
void crest_exec_begin(void);
void crest_exec_end(void);		/* the exec failed: release */
int crest_exec_quiesce(uint32_t timeout_ms);	/* checkpoint thread: 0, or -EBUSY */
void crest_ckpt_busy(bool busy);

/* exec_wrappers.c */
void crest_exec_init(void);		/* constructor: remember what a new program needs */
int crest_suspend_all(uint32_t timeout_ms, char *err, size_t errlen);
void crest_resume_all(void);
uint64_t crest_now_ns(void);

/* proc_state.c */
int crest_state_save(char *err, size_t errlen);
void crest_state_restore(void);
void crest_cpu_features(struct crest_img_cpu *cpu);

/* respawn.c: a coordinator that died is started again by its processes */
void crest_respawn_init(pthread_mutex_t *fd_lock);	/* constructor: CREST_RESPAWN_AFTER */
void crest_respawn_atfork_child(void);
bool crest_respawn_check(bool connected);	/* the checkpoint thread, at each connection try: true if it started one */

/* fds.c */
int crest_fds_prepare(char *err, size_t errlen);
int crest_fds_save(char *err, size_t errlen);
const unsigned char *crest_fds_pipe_data(uint32_t index, uint32_t *len);

/* fds.c: path is under a node-local folder (/tmp, /dev/shm, $TMPDIR, or
 * CREST_NODE_LOCAL), whose files another node would not have */
bool crest_node_local(const char *path);
/* the length of $TMPDIR when path is under it (trailing slashes not
 * counted), or, after a restart, under where $TMPDIR is now; else 0 */
size_t crest_tmpdir_prefix(const char *path);

/* rtld_locks.c: restart, every thread recreated: the loader's recursive
 * locks held by old_tid[i] name new_tid[i] */
void crest_rtld_locks_fix(const uint32_t *old_tid, const uint32_t *new_tid, uint32_t n);

/* fds_pty.c: pseudo-terminal ends */
struct stat;
/* CREST_FD_PTY_MASTER or _SLAVE with the pty's number in *index, or 0 */
uint32_t crest_pty_kind(int fd, const struct stat *st, uint64_t *index);
void crest_pty_reset(void);
/* fd record i, a master: its settings and output in flight, for the image */
int crest_pty_save(uint32_t i, char *err, size_t errlen);
/* ... as its FILEDATA, or NULL */
const unsigned char *crest_pty_data(uint32_t i, uint32_t *len);

/* fds_socket.c */
void crest_sock_reset(void);		/* before a scan of the fds */
int crest_sock_scan(int fd, uint32_t index, char *err, size_t errlen);
int crest_sock_save(char *err, size_t errlen);	/* every process stopped: queues */
const struct crest_img_socket *crest_sock_records(uint32_t *n);
/* the waiting data of fd record fd_index's nth socket record that has any */
const unsigned char *crest_sock_data(uint32_t fd_index, uint32_t nth, uint32_t *len);
void crest_sock_restore(uint32_t fd_index);	/* after a restart: options */
/* net_wrappers.c: a peer's address (accept, getpeername; cap bytes of
 * room, len from the kernel) as its node had it at the checkpoint, after a
 * restart elsewhere; getpeername without that */
void crest_peer_as_before(struct sockaddr *addr, socklen_t cap, socklen_t len);
int crest_getpeername_real(int fd, struct sockaddr *addr, socklen_t *len);

/* sock_pending.c: connections waiting in a listener at a checkpoint */
#define CREST_PENDING_MAX	128
uint32_t crest_pending_collect(int lfd, uint64_t lino, int type, int *out, uint32_t max);
void crest_pending_keep(const uint64_t *inos, uint32_t n);	/* the listeners still open */
void crest_pending_forget(void);	/* after a restart */
/* sysv_shm.c: a /SYSV region of the image: id, size, mode */
void crest_sysv_describe(struct crest_img_region *r);
int crest_fds_restore(int image_fd, char *err, size_t errlen);

/* fds_share.c: after a restart, open file descriptions shared with the
 * parent come from it (received[i] set for record i), and those the
 * children share are sent to them once this process's fds are back */
void crest_fds_share_receive(uint8_t *received, int base);	/* base: above every fd to restore */
void crest_fds_share_send(void);
/* /proc/self/fdinfo/fd into buf (NUL-terminated); its length, or -errno */
ssize_t crest_fdinfo_read(int fd, char *buf, size_t len);
/* fds_lock.c: file locks held, read from each regular file's fdinfo while
 * the fds are scanned, taken again after they are reopened */
void crest_locks_reset(void);
void crest_locks_scan(uint32_t index, const char *fdinfo);
void crest_locks_restore(void);
/* checkpoint: the POSIX locks of fd_index again, after crest closed a fd of its own on the same file (a close drops every POSIX lock the process holds on it) */
void crest_locks_keep(uint32_t fd_index);
/* a raw system call's result (-errno on failure) as libc gives it: -1 with
 * errno set, or the result */
static inline long crest_sys_ret(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}
int crest_fd_protect(int fd);
void crest_fd_unprotect(int fd);
/* fd was crest's file `was` (marked when it was made), and the program
 * closed it or put its own there: not crest's number any more, unless
 * crest made another of its own file there since */
void crest_fd_unprotect_lost(int fd, const struct stat *was);
/* is fd one of crest's own (protected) descriptors? */
bool crest_fd_is_own(int fd);
/* the lowest of crest's own descriptors >= from, or -1 */
int crest_fd_next_own(unsigned int from);
void crest_fd_own_forget_all(void);

/* fds_event.c: eventfd, timerfd, signalfd, epoll */
uint32_t crest_fd_event_kind(const char *path);	/* CREST_FD_EVENTFD.. for its /proc link, or 0 */
int crest_fds_event_save(char *err, size_t errlen);	/* after scan_fds, threads stopped */
int crest_fd_event_open(uint32_t index);	/* a new fd for crest.fds[index], or -1 and errno */
void crest_fds_event_restore_epoll(void);	/* when every other fd is back */
/* fds_inotify.c: an inotify fd's watches from its fdinfo (into a table of
 * its own: *first, *n), and a new inotify fd with them */
int crest_inotify_save(int fd, const char *info, uint32_t *first, uint32_t *n, char *err, size_t errlen);
int crest_inotify_open(int nonblock, uint32_t first, uint32_t n, int orig);
void crest_inotify_reset(void);		/* before the first inotify fd of a checkpoint */

/* dump.c */
int crest_checkpoint_prepare(char *err, size_t errlen);
int crest_checkpoint_write(const char *image, uint64_t generation, unsigned compress,
			   unsigned threads, uint64_t *bytes, uint64_t *memory_bytes,
			   uint32_t *hdr_crc, char *err, size_t errlen);

/* tree.c */
int crest_children(struct crest_child *out, uint32_t max);	/* count, or -E2BIG */
void crest_tree_fill(struct crest_img_process *p);

/* vpid_load.c */
int crest_vpid_load_restart(int fd);	/* the memfd of crest restart */
int crest_vpid_load_file(void);		/* DIR/VPIDS, in an exec'ed program */

/* restore.c */
void crest_path_map_load_file(void);	/* DIR/PATHMAP, in an exec'ed program */
void crest_after_restart(void);

/* coord_link.c */
void *crest_ckpt_thread(void *arg);
void crest_link_progress(uint64_t bytes);	/* PROGRESS to the coordinator, at most 5 a second */

/* uts_wrappers.c */
void crest_uts_init(void);		/* constructor: the hostname the computation keeps */

/* task_restart.c: a Slurm task started to restart becomes crest restart */
void crest_task_restart(void);

#endif
