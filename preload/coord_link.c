/* SPDX-License-Identifier: MIT */
/*
 * libcrest's entry: the constructor that makes a process checkpointable,
 * and the checkpoint thread, which talks to the coordinator and runs the
 * phases of a checkpoint (docs/protocol.md).
 *
 * If the coordinator goes away, the application is never harmed: stopped
 * threads are resumed at once and the thread reconnects every second.
 */
#define LOG_MODULE "libcrest"
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ckdir.h"
#include "crest.h"
#include "created_record.h"
#include "fd_own.h"
#include "log.h"
#include "proto.h"
#include "rawsys.h"
#include "vpid.h"

#define EXIT_CHECKPOINTED 75	/* EX_TEMPFAIL: ended by checkpoint --kill */
#define SUSPENDED_LINK_TIMEOUT_MS (5 * 60 * 1000)

struct crest_state crest;	/* .bss: only the pages touched are saved */
static unsigned char msgbuf[8192];

static bool is_suspended(void)
{
	return __atomic_load_n(&crest.resume_epoch, __ATOMIC_ACQUIRE) !=
	       __atomic_load_n(&crest.suspend_epoch, __ATOMIC_ACQUIRE);
}

static bool writing;	/* inside WRITE: threads are released by its end, not by a lost link */

/* fork waits while the checkpoint thread holds fds of its own that are not
 * yet moved out of the application's way (a socket being connected, /proc
 * listings during PREPARE): a child must not inherit them */
static pthread_mutex_t fd_lock = PTHREAD_MUTEX_INITIALIZER;

static void atfork_prepare(void)
{
	if (crest.active)
		pthread_mutex_lock(&fd_lock);
}

static void atfork_parent(void)
{
	if (crest.active)
		pthread_mutex_unlock(&fd_lock);
}

static void link_close(void)
{
	if (crest.coord_fd >= 0) {
		crest_fd_unprotect(crest.coord_fd);
		close(crest.coord_fd);
	}
	crest.coord_fd = -1;
	if (is_suspended() && !writing) {
		pr_warn("lost the coordinator during a checkpoint; resuming the application");
		crest_resume_all();
	}
	if (!writing)
		crest_ckpt_busy(false);
}

/*
 * The first link of a process is made without taking a descriptor number
 * the application could be using at that moment.  A socket made by the
 * checkpoint thread lands on the lowest free number, as the application's
 * own do, until crest moves it above CREST_FD_BASE; a shell that dup2()s a
 * file onto that number in between (bash's `exec 3>file` in a subshell
 * just forked) loses it or makes crest close it (tests/cr/pipeline).  So
 * the constructor and the fork handler, which run while the process has no
 * other thread, read COORD and make the socket high up (spare_fd), and the
 * checkpoint thread only connects it.  A later link (the coordinator gone
 * and back) goes through ckdir_coord_connect, which closes a low number
 * only if it still holds crest's socket (common/fd_own.c).
 */
static int spare_fd = -1;
static struct stat spare_st;	/* what spare_fd is (the program may close it) */
static struct sockaddr_un coord_addr;	/* from COORD, read with spare_fd */

/* only while the process has one thread; a forked child keeps the address
 * its parent read (no file read in fork(): the folder may be on a slow
 * shared file system; a coordinator that moved since fails the connect,
 * and coord_connect reads COORD then) */
static void make_spare(bool forked)
{
	pid_t pid;

	if (spare_fd >= 0) {	/* the parent's, inherited: not this process's to use */
		crest_fd_unprotect(spare_fd);
		close(spare_fd);
		spare_fd = -1;
	}
	if (!forked || !coord_addr.sun_path[0]) {
		memset(&coord_addr, 0, sizeof(coord_addr));
		coord_addr.sun_family = AF_UNIX;
		if (ckdir_coord_read(crest.dir, &pid, coord_addr.sun_path, sizeof(coord_addr.sun_path)))
			return;	/* no coordinator yet: the thread finds it later */
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		spare_fd = crest_fd_protect(fd);
		crest_fd_mark(spare_fd, &spare_st);
	}
}

/* the coordinator's socket, connected: spare_fd if there is one */
static int coord_connect(void)
{
	int fd = spare_fd;

	spare_fd = -1;
	if (fd >= 0 && !crest_fd_still(fd, &spare_st)) {
		crest_fd_unprotect_lost(fd, &spare_st);	/* closed, or the program's now: left alone */
		fd = -1;
	}
	if (fd >= 0) {
		if (connect(fd, (struct sockaddr *)&coord_addr, sizeof(coord_addr)) == 0)
			return fd;
		crest_fd_unprotect(fd);
		close(fd);	/* high up, crest's own */
	}
	fd = ckdir_coord_connect(crest.dir);
	return fd < 0 ? fd : crest_fd_protect(fd);
}

static struct stat link_st;	/* what coord_fd is (the program may close it) */

static int link_connect(void)
{
	int fd = coord_connect();
	if (fd < 0)
		return fd;
	crest.coord_fd = fd;
	crest_fd_mark(fd, &link_st);
	crest.seq = 0;
	struct crest_msg_hello h;
	memset(&h, 0, sizeof(h));
	h.pid = crest.pid;
	h.vpid = (uint32_t)crest_real_to_vpid(crest.pid);
	h.ppid = (uint32_t)raw_syscall0(NR_getppid);
	h.flags = crest.restarted ? CREST_HELLO_RESTARTED : 0;
	h.task = crest.task;
	if (crest.task && h.vpid == (uint32_t)crest.root_vpid)
		h.flags |= CREST_HELLO_TASK;
	h.restart_count = crest.restart_count;
	h.generation = crest.generation;
	ssize_t l = readlink("/proc/self/exe", h.exe, sizeof(h.exe) - 1);
	if (l > 0)
		h.exe[l] = 0;
	int rc = crest_frame_send(crest.coord_fd, CREST_MSG_HELLO, &crest.seq, &h, sizeof(h));
	if (rc < 0) {
		link_close();
		return rc;
	}
	return 0;
}

static void reply(uint16_t type, const struct crest_msg_phase *p)
{
	if (crest.coord_fd >= 0 &&
	    crest_frame_send(crest.coord_fd, type, &crest.seq, p, sizeof(*p)) < 0)
		link_close();
}

/*
 * An image no coordinator will commit (the link dropped while it was
 * written): removed, with the folders of its node and generation when they
 * are empty, so that the aborted generation leaves nothing behind.
 */
static uint64_t written_gen;		/* the last image written, of this generation */
static char written_image[sizeof(((struct crest_msg_ckpt *)0)->image)];

static void discard_image(const char *image)
{
	char dir[sizeof(((struct crest_msg_ckpt *)0)->image)];
	char *slash;

	if (!image[0] || unlink(image))
		return;
	snprintf(dir, sizeof(dir), "%s", image);
	for (int i = 0; i < 2 && (slash = strrchr(dir, '/')) && slash != dir; i++) {
		*slash = 0;
		if (rmdir(dir))
			break;
	}
}

static void reply_phase(uint64_t gen, uint32_t phase, int error, const char *text)
{
	struct crest_msg_phase p;
	memset(&p, 0, sizeof(p));
	p.generation = gen;
	p.phase = phase;
	p.error = error;
	if (text)
		snprintf(p.text, sizeof(p.text), "%s", text);
	reply(error ? CREST_MSG_PHASE_FAIL : CREST_MSG_PHASE_OK, &p);
}

/* the children of this process, so that the coordinator waits for them */
static void send_children(uint64_t gen)
{
	static struct crest_child kids[4096];
	static struct crest_msg_children m;
	int n = crest_children(kids, sizeof(kids) / sizeof(kids[0]));
	if (n < 0)
		n = sizeof(kids) / sizeof(kids[0]);	/* the coordinator still waits for these */
	int i = 0;
	do {
		memset(&m, 0, sizeof(m));
		m.generation = gen;
		while (i < n && m.n < CREST_CHILDREN_MAX) {
			m.c[m.n].pid = (uint32_t)kids[i].pid;
			m.c[m.n].state = kids[i].zombie ? CREST_CHILD_ZOMBIE : 0;
			m.n++;
			i++;
		}
		m.more = i < n;
		if (crest.coord_fd >= 0 &&
		    crest_frame_send(crest.coord_fd, CREST_MSG_CHILDREN, &crest.seq, &m, sizeof(m)) < 0)
			link_close();
	} while (i < n);
}

/* its connected TCP sockets, for the root's gen-N/ENDPOINTS (the
 * coordinator fills in the node) */
static void send_endpoints(uint64_t gen)
{
	static struct crest_msg_endpoints m;
	uint32_t n, i = 0;
	const struct crest_img_socket *s = crest_sock_records(&n);

	for (;;) {
		memset(&m, 0, sizeof(m));
		m.generation = gen;
		for (; i < n && m.n < CREST_ENDPOINTS_MAX; i++) {
			if (!crest_sock_is_tcp(&s[i]) || s[i].state != CREST_SOCK_CONNECTED ||
			    s[i].local_len > sizeof(m.ep[0].local) || s[i].peer_len > sizeof(m.ep[0].peer))
				continue;
			memcpy(m.ep[m.n].local, s[i].local, s[i].local_len);
			memcpy(m.ep[m.n].peer, s[i].peer, s[i].peer_len);
			m.n++;
		}
		if (!m.n)
			return;
		m.more = i < n;
		if (crest.coord_fd < 0 ||
		    crest_frame_send(crest.coord_fd, CREST_MSG_ENDPOINTS, &crest.seq, &m, sizeof(m)) < 0) {
			link_close();
			return;
		}
		if (i >= n)
			return;
	}
}

static uint64_t progress_gen;
static uint64_t progress_last_ns;

void crest_link_progress(uint64_t bytes)
{
	uint64_t now = crest_now_ns();
	if (now - progress_last_ns < 200000000ull)
		return;
	progress_last_ns = now;
	struct crest_msg_phase p;
	memset(&p, 0, sizeof(p));
	p.generation = progress_gen;
	p.phase = CREST_PHASE_WRITE;
	p.bytes = bytes;
	reply(CREST_MSG_PROGRESS, &p);
}

/* Returns 1 when the process was just restored (the link is gone). */
static int handle(uint16_t type, const struct crest_msg_ckpt *m)
{
	char err[512] = "";
	int rc;

	switch (type) {
	case CREST_MSG_PREPARE:
		if (crest_trigger_held()) {
			reply_phase(m->generation, CREST_PHASE_PREPARE, -ECANCELED,
				    "this process is ending: its final checkpoint is taken");
			return 0;
		}
		/* no exec may start from now on; wait for one in flight (if it
		 * succeeds, this process is replaced and the link closes) */
		crest_ckpt_busy(true);
		rc = crest_exec_quiesce(m->timeout_ms ? m->timeout_ms : 10000);
		if (rc)
			snprintf(err, sizeof(err), "a thread is still in execve after %u ms",
				 m->timeout_ms ? m->timeout_ms : 10000);
		else
			rc = crest_checkpoint_prepare(err, sizeof(err));
		if (rc)
			crest_ckpt_busy(false);
		reply_phase(m->generation, CREST_PHASE_PREPARE, rc, err);
		return 0;
	case CREST_MSG_SUSPEND:
		rc = crest_suspend_all(m->timeout_ms ? m->timeout_ms : 10000, err, sizeof(err));
		if (!rc)
			send_children(m->generation);
		reply_phase(m->generation, CREST_PHASE_SUSPEND, rc, err);
		return 0;
	case CREST_MSG_WRITE: {
		uint64_t bytes = 0, mem = 0;
		uint32_t crc = 0;
		if (!is_suspended()) {
			reply_phase(m->generation, CREST_PHASE_WRITE, -EPROTO, "WRITE while not suspended");
			return 0;
		}
		progress_gen = m->generation;
		writing = true;
		rc = crest_checkpoint_write(m->image, m->generation, m->compress, m->threads ? m->threads : 1,
					    &bytes, &mem, &crc, err, sizeof(err));
		writing = false;
		if (rc == 1) {
			crest_after_restart();
			return 1;
		}
		if (crest.coord_fd < 0) {	/* the coordinator went away meanwhile */
			pr_warn("lost the coordinator during a checkpoint; resuming the application");
			discard_image(m->image);
			crest_resume_all();
			return 0;
		}
		struct crest_msg_phase p;
		memset(&p, 0, sizeof(p));
		p.generation = m->generation;
		p.phase = CREST_PHASE_WRITE;
		p.error = rc;
		p.bytes = bytes;
		p.memory_bytes = mem;
		p.image_crc = crc;
		snprintf(p.text, sizeof(p.text), "%s", err);
		if (!rc)
			send_endpoints(m->generation);
		reply(rc ? CREST_MSG_PHASE_FAIL : CREST_MSG_PHASE_OK, &p);
		if (crest.coord_fd < 0) {
			discard_image(m->image);	/* nobody will commit it */
		} else if (!rc) {
			written_gen = m->generation;	/* until RESUME or ABORT says its fate */
			snprintf(written_image, sizeof(written_image), "%s", m->image);
		}
		return 0;
	}
	case CREST_MSG_RESUME:
	case CREST_MSG_ABORT: {
		uint64_t stopped = is_suspended() ? crest_now_ns() - crest.stopped_at_ns : 0;
		if (type == CREST_MSG_RESUME)
			crest.generation = m->generation;
		/* an aborted generation keeps none of its images: the root may have
		 * removed its folder while this one was being written */
		if (type == CREST_MSG_ABORT && written_gen && written_gen == m->generation)
			discard_image(written_image);
		written_gen = 0;
		if (type == CREST_MSG_RESUME && (m->flags & CREST_CKPT_EXIT)) {
			pr_info("generation %lu committed; ending the computation as asked (--kill)",
				(unsigned long)m->generation);
			raw_syscall1(NR_exit_group, EXIT_CHECKPOINTED);
		}
		if (type == CREST_MSG_ABORT || !crest_trigger_hold(m->flags & CREST_CKPT_FINAL))
			crest_resume_all();
		crest_ckpt_busy(false);
		struct crest_msg_phase p;
		memset(&p, 0, sizeof(p));
		p.generation = m->generation;
		p.phase = CREST_PHASE_RESUME;
		p.stopped_ns = stopped;
		reply(CREST_MSG_PHASE_OK, &p);
		return 0;
	}
	default:
		pr_warn("unexpected message type %u from the coordinator", type);
		return 0;
	}
}

/* The program closed the link, with every descriptor, without libc
 * (fd_wrappers.c keeps it from doing so through libc): nothing to say, and
 * the number may be the program's again: forgotten, not closed. */
static void link_forget(void)
{
	pr_debug("the program closed the coordinator link (fd %d); connecting again", crest.coord_fd);
	crest_fd_unprotect_lost(crest.coord_fd, &link_st);
	crest.coord_fd = -1;
}

/* The link or the trigger eventfd closed or replaced by the program: the
 * link forgotten (to be connected again), the eventfd made again, both
 * before the link is: a signal must not write into the new link at the
 * old eventfd's number */
static void check_own_fds(void)
{
	if (crest.coord_fd >= 0 && !crest_fd_still(crest.coord_fd, &link_st)) {
		link_forget();
		link_close();
	}
	if (crest_trigger_wake_fd() >= 0 && !crest_trigger_wake_ok()) {
		pthread_mutex_lock(&fd_lock);
		crest_trigger_wake_lost();
		pthread_mutex_unlock(&fd_lock);
	}
}

/* Waits until the coordinator link is readable, a trigger signal arrived
 * or `timeout_ms` passed.  *woken: a trigger signal or the timeout, the
 * trigger state needs a look; *timed_out (if given): the time passed with
 * nothing at all (a signal is not a silent coordinator). */
static bool wait_link(int timeout_ms, bool *woken, bool *timed_out)
{
	bool linked = crest.coord_fd >= 0;
	check_own_fds();
	if (linked && crest.coord_fd < 0) {
		*woken = true;
		if (timed_out)
			*timed_out = false;
		return false;	/* connects again at once */
	}
	struct pollfd p[2] = {
		{ .fd = crest.coord_fd, .events = POLLIN },
		{ .fd = crest_trigger_wake_fd(), .events = POLLIN },
	};
	int r = poll(p, 2, timeout_ms);	/* a negative fd is skipped */
	if (r > 0 && (p[1].revents & POLLNVAL)) {
		pthread_mutex_lock(&fd_lock);
		crest_trigger_wake_lost();
		pthread_mutex_unlock(&fd_lock);
	}
	*woken = r <= 0 || p[1].revents;
	if (timed_out)
		*timed_out = r == 0;
	return r > 0 && p[0].revents;
}

void *crest_ckpt_thread(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "crest-ckpt");	/* itself: no /proc write by the forking thread */
	crest_thread_is_ckpt = true;	/* what it makes (images) is not recorded */
	int trigger_ms = -1;
	bool woken = true;
	for (;;) {
		/* only when woken: not between the messages of a checkpoint */
		if (woken)
			trigger_ms = crest_trigger_service();
		if (crest.coord_fd < 0) {
			check_own_fds();
			pthread_mutex_lock(&fd_lock);
			int lrc = link_connect();
			pthread_mutex_unlock(&fd_lock);
			/* gone for a while: start it again (not under fd_lock, which
			 * holds the application's fork: that may take seconds) */
			if (crest_respawn_check(lrc == 0))
				continue;	/* it serves: connect now */
			if (lrc < 0) {
				wait_link(1000, &woken, NULL);	/* a trigger signal wakes it */
				continue;
			}
		}
		/* a coordinator that hangs while the application is stopped must not
		 * keep it stopped: give up after a generous time */
		/* held after a final checkpoint: stopped on purpose, no coordinator needed */
		bool suspended = is_suspended() && !crest_trigger_held(), silent;
		if (!wait_link(suspended ? SUSPENDED_LINK_TIMEOUT_MS : trigger_ms, &woken, &silent)) {
			if (suspended && silent && is_suspended()) {
				pr_warn("dropping the coordinator link: no message for %d s while stopped",
					SUSPENDED_LINK_TIMEOUT_MS / 1000);
				link_close();
			}
			continue;
		}
		struct crest_frame hdr;
		int n = crest_frame_recv(crest.coord_fd, &hdr, msgbuf, sizeof(msgbuf),
					 suspended ? SUSPENDED_LINK_TIMEOUT_MS : -1);
		if (n < 0) {
			if (n == -EBADF || !crest_fd_still(crest.coord_fd, &link_st))
				link_forget();
			else if (n != -ECONNRESET)
				pr_warn("dropping the coordinator link: %s", strerrordesc_np(-n));
			link_close();
			continue;
		}
		if (hdr.type == CREST_MSG_NOTICE) {
			struct crest_msg_notice t;
			memcpy(&t, msgbuf, sizeof(t));
			t.text[sizeof(t.text) - 1] = 0;
			pr_warn("%s", t.text);
			continue;
		}
		if (hdr.type == CREST_MSG_WELCOME) {
			struct crest_msg_welcome w;
			memcpy(&w, msgbuf, sizeof(w));	/* the size is checked by the frame layer */
			/* the run this process is part of: a coordinator of
			 * another run is not started for it (respawn.c) */
			for (size_t i = 0; i < sizeof(w.run); i++)
				if (w.run[i]) {
					memcpy(crest.run, w.run, sizeof(crest.run));
					break;
				}
			continue;
		}
		if (hdr.type == CREST_MSG_TERM_ACTION) {
			struct crest_msg_term t;
			memcpy(&t, msgbuf, sizeof(t));	/* the size is checked by the frame layer */
			crest_trigger_term_action(&t);
			woken = true;
			continue;
		}
		struct crest_msg_ckpt m;
		memset(&m, 0, sizeof(m));
		memcpy(&m, msgbuf, (size_t)n < sizeof(m) ? (size_t)n : sizeof(m));
		pthread_mutex_lock(&fd_lock);
		int hrc = handle(hdr.type, &m);
		pthread_mutex_unlock(&fd_lock);
		if (hrc == 1) {
			/* a restored process: no checkpoint runs in the new run (an
			 * exec would wait for its end), connect to the new coordinator */
			crest.coord_fd = -1;
			spare_fd = -1;	/* the image's number names nothing of this run */
			writing = false;
			crest_ckpt_busy(false);
		} else if (hdr.type == CREST_MSG_RESUME || hdr.type == CREST_MSG_ABORT) {
			crest_trigger_after_checkpoint();
			/* held after a final checkpoint: the TERM that ends the hold
			 * finds every thread blocking it and wakes nothing; the
			 * service looks for it every 200 ms from now on */
			woken = true;
		}
	}
	return NULL;
}

static int start_ckpt_thread(void)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_t th;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(&th, &attr, crest_ckpt_thread, NULL);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		pr_err("cannot start the checkpoint thread: %s", strerrordesc_np(rc));
		return -rc;
	}
	return 0;
}

/* A forked child is a process of the computation of its own: it leaves
 * its parent's link and state behind and gets its own checkpoint thread. */
static void atfork_child(void)
{
	if (!crest.active)
		return;
	pthread_mutex_init(&fd_lock, NULL);
	if (crest.coord_fd >= 0) {
		crest_fd_unprotect(crest.coord_fd);
		close(crest.coord_fd);
	}
	crest.coord_fd = -1;
	crest.pid = (pid_t)raw_syscall0(NR_getpid);
	crest.restarted = false;
	crest.nthreads = 0;
	crest.nstopped = 0;
	crest.resume_epoch = crest.suspend_epoch;
	crest.ckpt_busy = 0;
	crest.exec_count = 0;
	writing = false;
	crest_trigger_atfork_child();
	crest_respawn_atfork_child();
	make_spare(true);
	if (start_ckpt_thread())
		crest.active = false;
}

__attribute__((constructor)) static void crest_init(void)
{
	const char *dir = crest_getenv("CREST_DIR");
	if (!dir || !*dir)
		return;
	crest_task_restart();	/* a Slurm task that restarts does not come back */
	crest_log_init();
	crest.pid = (pid_t)raw_syscall0(NR_getpid);
	const char *root = crest_getenv("CREST_ROOT_PID");
	if (root && *root) {
		crest.root_vpid = atoi(root);
	} else {
		char pidbuf[16];
		crest.root_vpid = crest.pid;
		snprintf(pidbuf, sizeof(pidbuf), "%d", crest.pid);
		setenv("CREST_ROOT_PID", pidbuf, 1);
	}
	snprintf(crest.dir, sizeof(crest.dir), "%s", dir);
	const char *task = crest_getenv("CREST_TASK");
	if (task && *task)
		crest.task = (uint32_t)strtoul(task, NULL, 10) + 1;
	const char *restarts = crest_getenv("CREST_RESTART_COUNT");	/* a program exec'ed after a restart */
	if (restarts && *restarts)
		crest.restart_count = (uint32_t)strtoul(restarts, NULL, 10);
	const char *sig = crest_getenv("CREST_SIGNAL");
	crest.sig = sig ? atoi(sig) : CREST_DEFAULT_SIG;
	if (crest.sig < SIGRTMIN || crest.sig > SIGRTMAX) {
		pr_err("CREST_SIGNAL=%s is not a real-time signal (%d..%d); using %d", sig, SIGRTMIN,
		       SIGRTMAX, CREST_DEFAULT_SIG);
		crest.sig = CREST_DEFAULT_SIG;
	}
	crest.coord_fd = -1;
	crest_vpid_load_file();
	crest_path_map_load_file();
	crest_uts_init();	/* before exec_init: CREST_HOSTNAME is one of the CREST_* it keeps */
	crest_exec_init();
	crest_sig_wrappers_init();
	if (crest_suspend_install() < 0) {
		pr_perror("cannot install the suspend handler; this process will not be checkpointed");
		return;
	}
	crest_trigger_init();
	crest_respawn_init(&fd_lock);
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	make_spare(false);
	if (start_ckpt_thread())
		return;
	crest.active = true;
}
