/* SPDX-License-Identifier: MIT */
/*
 * barrier: latency of the coordinator tree's barrier and of a whole
 * no-data checkpoint, with many simulated ranks (docs/bench.md, "Barrier
 * and checkpoint round latency"; tests/bench/barrier.sh runs the matrix).
 *
 * It starts real coordinators (crest-coord --foreground, each forked by
 * this program, its pid kept): a root (--root --listen 127.0.0.1:0
 * --addr-file DIR/ROOT --nodes SUBS+1) and SUBS sub-coordinators (--node N
 * --parent-file DIR/ROOT --tasks <its ranks>), which authenticate to the
 * root over TCP loopback with the real secret; or, with --star, one
 * standalone coordinator (--tasks RANKS) that every rank connects to.
 *
 * The ranks are played by WORKERS generator processes (default 4; each
 * holds one Unix socket per rank, and one process cannot hold 64k of them
 * under this machine's hard RLIMIT_NOFILE of 20000), each multiplexing its
 * share of the ranks with epoll.  A rank speaks what libcrest's checkpoint
 * thread speaks (preload/coord_link.c): HELLO (a Slurm task:
 * CREST_HELLO_TASK), WELCOME; PREPARE -> PHASE_OK; SUSPEND -> CHILDREN
 * (none) + PHASE_OK; WRITE -> the smallest valid image (common/image_write.c:
 * the file header and the END section, 8 KiB, fdatasync'ed) + PHASE_OK with
 * its size and header crc; RESUME -> PHASE_OK with the time it was stopped.
 *
 * Start-up: from the fork of the first sub-coordinator (the root already
 * listens) to the root's log line "the step has started": the root has
 * every node, and a node says HELLO upstream only once all its tasks are
 * there.  For a star: from the fork of its coordinator.
 *
 * Each round: CKPT_REQUEST on a new connection to the root's socket, as
 * `crest checkpoint --dir DIR` sends it, until CKPT_RESULT (client); and
 * from the ranks' side (CLOCK_MONOTONIC, merged over the workers):
 *   barrier  first PREPARE received by any rank -> last SUSPEND received
 *            (every rank answered PREPARE, the root heard it, SUSPEND is out)
 *   barrier2 first SUSPEND -> last WRITE (the same, with CHILDREN)
 *   ranks    first PREPARE -> last RESUME
 *   img      time the workers spent writing images (each worker one after
 *            the other: real ranks write theirs in parallel on their nodes)
 *
 *   barrier --coord PATH --dir DIR --ranks N (--subs S | --star)
 *           [--rounds R] [--workers W] [--timeout SEC] [--start-limit SEC]
 *           [--pidfile F] [--coord-nofile N]
 *   barrier --image-cost N --dir DIR
 *
 * --image-cost N: only writes N such images into DIR, one after the
 * other, and prints the microseconds one takes.
 * --coord-nofile N: the coordinators' RLIMIT_NOFILE (crest-coord does not
 * set its own; by default they inherit this program's, raised to its hard
 * limit).
 *
 * Prints a line per round and one "RESULT key=value ..." line.  Exit
 * status 0; 1 when something broke (a round failed, a coordinator died, a
 * time limit); 3 when this machine cannot run that scale (file
 * descriptors), with a line "barrier: CANNOT: why".  Every process it
 * started is stopped by pid at the end, on failure too (workers SIGKILL,
 * coordinators SIGTERM then SIGKILL after 2 s; and PR_SET_PDEATHSIG, should
 * this program be killed).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ckdir.h"
#include "crest/image.h"
#include "crest/proto.h"
#include "image_write.h"
#include "proto.h"
#include "tree_shape.h"

#define MAX_ROUNDS	64
#define MAX_WORKERS	64
#define RANK_INBUF	2048	/* the largest coordinator -> process frame is 1072 bytes */
#define CTL_ID		UINT32_MAX
#define PAUSE_MS	200	/* between rounds: RESUME answers, pruning */
#define FD_MARGIN	256	/* descriptors a process needs besides its connections */

/* --- what every process knows ------------------------------------------ */

static const char *coord_bin, *dir, *pidfile;
static uint32_t nranks, nsubs, nworkers = 4;
static uint32_t fanout;		/* 0: every sub below the root; else common/tree_shape.h */
static bool star;
static unsigned rounds = 5, timeout_s = 10, start_limit_s = 600;
static unsigned long coord_nofile;	/* --coord-nofile; 0: inherited */
static uint32_t image_n;		/* --image-cost N: only time N image writes into DIR */
static volatile sig_atomic_t stop;

struct node {
	char rundir[CKDIR_PATH_MAX];
	struct sockaddr_un sa;
	bool known;		/* its COORD was read */
	uint32_t first, end;	/* its ranks [first, end) */
	uint32_t next;		/* a worker: its next rank to connect */
};

static struct node *nodes;	/* [0]: the root or the star coordinator, [1..nsubs]: subs */

enum { PH_PREPARE, PH_SUSPEND, PH_WRITE, PH_RESUME, PH_N };

/* master <-> worker, SOCK_SEQPACKET */
enum ctl_kind { CTL_GO = 1, CTL_READY, CTL_BEGIN, CTL_ACK, CTL_STATS, CTL_COLLECT, CTL_EXIT, CTL_FAIL };

struct stats {
	uint64_t first[PH_N], last[PH_N];	/* when the first and the last rank received each phase */
	uint32_t count[PH_N];
	uint32_t aborted;			/* ranks that got ABORT */
	uint64_t img_ns, img_bytes;
	double cpu_ms;
};

struct ctl {
	uint32_t kind, round;
	uint64_t t;				/* READY: when its last rank got WELCOME */
	struct stats st;
	char text[256];				/* FAIL */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double ms(uint64_t a, uint64_t b)
{
	return a >= b ? (double)(a - b) / 1e6 : -(double)(b - a) / 1e6;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("barrier: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static double self_cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int ctl_send(int fd, const struct ctl *m)
{
	ssize_t n;

	do
		n = send(fd, m, sizeof(*m), MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(*m) ? 0 : -1;
}

static int ctl_recv(int fd, struct ctl *m)
{
	ssize_t n;

	do
		n = recv(fd, m, sizeof(*m), 0);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(*m) ? 0 : -1;
}

static int read_node(struct node *nd)
{
	pid_t pid;

	if (ckdir_coord_read(nd->rundir, &pid, nd->sa.sun_path, sizeof(nd->sa.sun_path)))
		return -1;
	nd->sa.sun_family = AF_UNIX;
	nd->known = true;
	return 0;
}

/* --- a worker: its share of the ranks ------------------------------------ */

enum rank_state { R_WAIT = 0, R_HELLO, R_READY };

struct rank {
	int fd;
	uint32_t node;		/* 1..subs; 0 in a star */
	uint32_t seq;		/* frames sent */
	uint16_t inlen;
	uint8_t state;
	uint64_t suspended_ns;	/* when SUSPEND came: stopped_ns of the RESUME answer */
	unsigned char in[RANK_INBUF];
};

static struct {
	uint32_t lo, hi;	/* its ranks [lo, hi) */
	struct rank *ranks;	/* [id - lo] */
	int ep, ctl;
	uint32_t nready;
	bool counting;		/* a round runs: stats count */
	bool reported;
	struct stats st;
	void *iw_scratch;
	size_t iw_scratch_len;
	struct utsname uts;
	char fail[256];
} w;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	if (w.fail[0])
		return;
	va_start(ap, fmt);
	vsnprintf(w.fail, sizeof(w.fail), fmt, ap);
	va_end(ap);
}

static int send_frame(int fd, uint32_t *seq, uint16_t type, const void *payload, uint32_t len)
{
	int rc = crest_frame_send(fd, type, seq, payload, len);

	if (rc)
		fail("cannot send %s: %s", crest_msg_type_name(type), strerror(-rc));
	return rc;
}

static void phase_ok(struct rank *r, uint64_t gen, uint32_t phase, uint64_t bytes, uint32_t crc, uint64_t stopped)
{
	struct crest_msg_phase p;

	memset(&p, 0, sizeof(p));
	p.generation = gen;
	p.phase = phase;
	p.bytes = bytes;
	p.image_crc = crc;
	p.stopped_ns = stopped;
	send_frame(r->fd, &r->seq, CREST_MSG_PHASE_OK, &p, sizeof(p));
}

/* the smallest image crest writes: the file header and the END section */
static int write_image(const char *path, uint64_t gen, uint64_t *bytes, uint32_t *crc)
{
	static struct crest_iw iw;
	struct crest_img_header h;
	struct timespec ts;
	int rc;

	rc = crest_iw_open(&iw, path, CREST_COMP_NONE, 1, w.iw_scratch, w.iw_scratch_len);
	if (rc)
		return rc;
	memset(&h, 0, sizeof(h));
	h.pid = (uint32_t)getpid();
	h.nthreads = 1;
	h.generation = gen;
	snprintf(h.kernel_release, sizeof(h.kernel_release), "%s", w.uts.release);
	clock_gettime(CLOCK_REALTIME, &ts);
	h.created_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	rc = crest_iw_finish(&iw, &h);
	if (rc) {
		crest_iw_abort(&iw);
		return rc;
	}
	*bytes = h.file_size;
	*crc = h.crc;
	return 0;
}

static void seen(int ph, uint64_t t)
{
	if (!w.counting)
		return;
	if (!w.st.count[ph]++)
		w.st.first[ph] = t;
	w.st.last[ph] = t;
}

static void on_rank_frame(uint32_t id, struct rank *r, const struct crest_frame *hdr, const void *payload)
{
	uint64_t t = now_ns(), bytes = 0;
	struct crest_msg_ckpt m;
	uint32_t crc = 0;
	int rc;

	switch (hdr->type) {
	case CREST_MSG_WELCOME:
		if (r->state == R_HELLO) {
			r->state = R_READY;
			w.nready++;
		}
		return;
	case CREST_MSG_NOTICE:
	case CREST_MSG_TERM_ACTION:
		return;
	case CREST_MSG_PREPARE:
	case CREST_MSG_SUSPEND:
	case CREST_MSG_WRITE:
	case CREST_MSG_RESUME:
	case CREST_MSG_ABORT:
		break;
	default:
		fail("rank %u: unexpected %s from its coordinator", id, crest_msg_type_name(hdr->type));
		return;
	}
	memcpy(&m, payload, sizeof(m));
	m.image[sizeof(m.image) - 1] = 0;
	switch (hdr->type) {
	case CREST_MSG_PREPARE:
		seen(PH_PREPARE, t);
		phase_ok(r, m.generation, CREST_PHASE_PREPARE, 0, 0, 0);
		break;
	case CREST_MSG_SUSPEND: {
		static struct crest_msg_children ch;	/* no children */
		seen(PH_SUSPEND, t);
		r->suspended_ns = t;
		memset(&ch, 0, sizeof(ch));
		ch.generation = m.generation;
		send_frame(r->fd, &r->seq, CREST_MSG_CHILDREN, &ch, sizeof(ch));
		phase_ok(r, m.generation, CREST_PHASE_SUSPEND, 0, 0, 0);
		break;
	}
	case CREST_MSG_WRITE:
		seen(PH_WRITE, t);
		rc = write_image(m.image, m.generation, &bytes, &crc);
		if (w.counting) {
			w.st.img_ns += now_ns() - t;
			w.st.img_bytes += bytes;
		}
		if (rc) {
			struct crest_msg_phase p;
			memset(&p, 0, sizeof(p));
			p.generation = m.generation;
			p.phase = CREST_PHASE_WRITE;
			p.error = rc;
			snprintf(p.text, sizeof(p.text), "simulated rank %u: cannot write %.400s: %s", id, m.image,
				 strerror(-rc));
			say("%s", p.text);
			send_frame(r->fd, &r->seq, CREST_MSG_PHASE_FAIL, &p, sizeof(p));
			break;
		}
		phase_ok(r, m.generation, CREST_PHASE_WRITE, bytes, crc, 0);
		break;
	case CREST_MSG_RESUME:
	case CREST_MSG_ABORT:
		if (hdr->type == CREST_MSG_ABORT && w.counting)
			w.st.aborted++;
		seen(PH_RESUME, t);
		phase_ok(r, m.generation, CREST_PHASE_RESUME, 0, 0, r->suspended_ns ? t - r->suspended_ns : 0);
		r->suspended_ns = 0;
		break;
	}
}

/* cut the complete frames off a rank's buffer; -1 on a malformed one */
static int parse(struct rank *r, uint32_t id)
{
	size_t off = 0, len = r->inlen;

	for (;;) {
		size_t flen;
		int rc = crest_frame_check(r->in + off, len - off, &flen);
		if (rc == -EAGAIN) {
			if (flen > RANK_INBUF)
				rc = -EMSGSIZE;
			else
				break;
		}
		if (rc) {
			fail("rank %u: malformed frame from its coordinator (%s)", id, strerror(-rc));
			return -1;
		}
		struct crest_frame hdr;
		memcpy(&hdr, r->in + off, sizeof(hdr));
		on_rank_frame(id, r, &hdr, r->in + off + sizeof(hdr));
		off += flen;
	}
	memmove(r->in, r->in + off, len - off);
	r->inlen = (uint16_t)(len - off);
	return 0;
}

static void report(uint32_t round)
{
	struct ctl m = { .kind = CTL_STATS, .round = round, .st = w.st };

	m.st.cpu_ms = self_cpu_ms() - w.st.cpu_ms;
	ctl_send(w.ctl, &m);
	w.reported = true;
	w.counting = false;
}

/* a message from the master; 1: exit */
static int on_ctl(uint32_t *round)
{
	struct ctl m;

	if (ctl_recv(w.ctl, &m))
		return 1;	/* the master is gone */
	switch (m.kind) {
	case CTL_BEGIN:
		memset(&w.st, 0, sizeof(w.st));
		w.st.cpu_ms = self_cpu_ms();
		w.counting = true;
		w.reported = false;
		*round = m.round;
		m.kind = CTL_ACK;
		ctl_send(w.ctl, &m);
		return 0;
	case CTL_COLLECT:
		if (!w.reported)
			report(*round);
		return 0;
	case CTL_EXIT:
		return 1;
	default:
		return 0;
	}
}

/* one turn of the event loop: 1 the master said exit, -1 broken */
static int pump(int timeout_ms, uint32_t *round)
{
	static struct epoll_event ev[1024];
	int n = epoll_wait(w.ep, ev, 1024, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -1;
	for (int i = 0; i < n; i++) {
		uint32_t id = ev[i].data.u32;
		if (id == CTL_ID) {
			int rc = on_ctl(round);
			if (rc)
				return rc;
			continue;
		}
		struct rank *r = &w.ranks[id - w.lo];
		ssize_t k = read(r->fd, r->in + r->inlen, sizeof(r->in) - r->inlen);
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (k <= 0) {
			fail("rank %u (node %u): its coordinator closed the connection%s%s", id, r->node,
			     k < 0 ? ": " : "", k < 0 ? strerror(errno) : "");
			return -1;
		}
		r->inlen = (uint16_t)(r->inlen + k);
		if (parse(r, id))
			return -1;
	}
	if (w.fail[0])
		return -1;
	if (w.counting && w.st.count[PH_RESUME] == w.hi - w.lo)
		report(*round);
	return 0;
}

/* connect as many of a node's ranks (of this worker) as its listen queue takes now */
static int connect_ranks(struct node *nd, uint32_t node, uint32_t end, unsigned budget)
{
	while (nd->next < end && budget--) {
		uint32_t id = nd->next;
		struct rank *r = &w.ranks[id - w.lo];
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			fail("socket for rank %u: %s", id, strerror(errno));
			return -1;
		}
		if (connect(fd, (struct sockaddr *)&nd->sa, sizeof(nd->sa)) < 0) {
			int e = errno;
			close(fd);
			if (e == EAGAIN || e == ECONNREFUSED || e == EINTR)
				return 0;	/* the backlog is full: later */
			fail("connect rank %u to %s: %s", id, nd->sa.sun_path, strerror(e));
			return -1;
		}
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = id };
		if (epoll_ctl(w.ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			fail("epoll_ctl: %s", strerror(errno));
			close(fd);
			return -1;
		}
		r->fd = fd;
		r->node = node;
		struct crest_msg_hello h;
		memset(&h, 0, sizeof(h));
		h.pid = (uint32_t)getpid();	/* every rank of this worker is this process */
		h.vpid = h.pid;
		h.ppid = (uint32_t)getppid();
		h.flags = CREST_HELLO_TASK;
		h.task = id + 1;
		h.nthreads = 1;
		snprintf(h.exe, sizeof(h.exe), "barrier-rank-%u", id);
		if (send_frame(fd, &r->seq, CREST_MSG_HELLO, &h, sizeof(h)))
			return -1;
		r->state = R_HELLO;
		nd->next++;
	}
	return 0;
}

static int worker_run(void)
{
	uint32_t first = star ? 0 : 1, last = star ? 0 : nsubs, round = 0;
	struct ctl m;
	bool pending = true;
	int rc;

	/* wait for GO: the coordinators are being started */
	if (ctl_recv(w.ctl, &m) || m.kind != CTL_GO)
		return 0;
	while (!stop) {
		if (pending) {
			pending = false;
			for (uint32_t i = first; i <= last; i++) {
				struct node *nd = &nodes[i];
				uint32_t lo = nd->first > w.lo ? nd->first : w.lo;
				uint32_t hi = nd->end < w.hi ? nd->end : w.hi;
				if (lo >= hi)
					continue;
				if (nd->next < lo)
					nd->next = lo;
				if (nd->next >= hi)
					continue;
				pending = true;
				if (!nd->known && read_node(nd))
					continue;
				if (connect_ranks(nd, i, hi, 256))
					return -1;
			}
		}
		if (w.nready == w.hi - w.lo && !m.t) {
			m.kind = CTL_READY;
			m.t = now_ns();
			ctl_send(w.ctl, &m);
		}
		rc = pump(pending ? 1 : 100, &round);	/* returns at once when a coordinator answered */
		if (rc)
			return rc > 0 ? 0 : -1;
	}
	return 0;
}

static int worker_main(uint32_t lo, uint32_t hi, int ctl)
{
	int rc;

	signal(SIGPIPE, SIG_IGN);
	w.lo = lo;
	w.hi = hi;
	w.ctl = ctl;
	uname(&w.uts);
	w.ranks = calloc(hi - lo, sizeof(*w.ranks));
	w.ep = epoll_create1(EPOLL_CLOEXEC);
	w.iw_scratch_len = crest_iw_scratch_size(CREST_COMP_NONE, 1);
	w.iw_scratch = mmap(NULL, w.iw_scratch_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!w.ranks || w.ep < 0 || w.iw_scratch == MAP_FAILED) {
		say("worker: out of memory");
		return 1;
	}
	for (uint32_t i = 0; i < hi - lo; i++)
		w.ranks[i].fd = -1;
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = CTL_ID };
	epoll_ctl(w.ep, EPOLL_CTL_ADD, ctl, &ev);
	rc = worker_run();
	if (rc && w.fail[0]) {
		struct ctl m = { .kind = CTL_FAIL };
		snprintf(m.text, sizeof(m.text), "%s", w.fail);
		ctl_send(ctl, &m);
	}
	return rc ? 1 : 0;
}

/* --- the master: coordinators, workers, the client ----------------------- */

static pid_t *pids;		/* coordinators started; [0] the root or the star */
static size_t npids;
static pid_t wpids[MAX_WORKERS];
static int wctl[MAX_WORKERS];

static void stop_all(void)
{
	uint64_t t0 = now_ns();
	size_t alive = 0;

	for (uint32_t i = 0; i < nworkers; i++)
		if (wpids[i] > 0) {
			kill(wpids[i], SIGKILL);
			waitpid(wpids[i], NULL, 0);
			wpids[i] = 0;
		}
	for (size_t i = 0; i < npids; i++)
		if (pids[i] > 0 && kill(pids[i], SIGTERM) == 0)
			alive++;
	while (alive && ms(now_ns(), t0) < 2000) {
		alive = 0;
		for (size_t i = 0; i < npids; i++) {
			if (pids[i] <= 0)
				continue;
			if (waitpid(pids[i], NULL, WNOHANG) == pids[i])
				pids[i] = 0;
			else
				alive++;
		}
		if (alive)
			usleep(10000);
	}
	for (size_t i = 0; i < npids; i++) {
		if (pids[i] <= 0)
			continue;
		say("coordinator %d still there 2 s after SIGTERM: SIGKILL", (int)pids[i]);
		kill(pids[i], SIGKILL);
		waitpid(pids[i], NULL, 0);
		pids[i] = 0;
	}
	npids = 0;
	if (pidfile)
		unlink(pidfile);
}

/* every pid, for barrier.sh to kill should this program be killed first */
static void write_pidfile(void)
{
	FILE *f;

	if (!pidfile || !(f = fopen(pidfile, "w")))
		return;
	for (uint32_t i = 0; i < nworkers; i++)
		if (wpids[i] > 0)
			fprintf(f, "%d\n", (int)wpids[i]);
	for (size_t i = 0; i < npids; i++)
		fprintf(f, "%d\n", (int)pids[i]);
	fclose(f);
}

/* the child side of a fork: dies with this program */
static void child_setup(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
}

/* fork + exec crest-coord ARGV; stdout and stderr appended to
 * DIR/coordinators.err */
static pid_t spawn(char *const argv[])
{
	char errpath[CKDIR_PATH_MAX];
	pid_t parent = getpid(), pid;

	snprintf(errpath, sizeof(errpath), "%s/coordinators.err", dir);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		int err = open(errpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
		child_setup(parent);
		if (null < 0 || err < 0 || dup2(null, 0) < 0 || dup2(err, 1) < 0 || dup2(err, 2) < 0)
			_exit(127);
		syscall(SYS_close_range, 3, ~0u, 0);
		signal(SIGPIPE, SIG_DFL);
		if (coord_nofile) {
			struct rlimit rl = { coord_nofile, coord_nofile };
			if (setrlimit(RLIMIT_NOFILE, &rl))
				_exit(127);
		}
		execv(coord_bin, argv);
		_exit(127);
	}
	pids[npids++] = pid;
	return pid;
}

static int start_workers(void)
{
	pid_t parent = getpid();

	for (uint32_t i = 0; i < nworkers; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
			return -1;
		uint32_t lo = (uint32_t)((uint64_t)i * nranks / nworkers);
		uint32_t hi = (uint32_t)((uint64_t)(i + 1) * nranks / nworkers);
		pid_t pid = fork();
		if (pid < 0)
			return -1;
		if (pid == 0) {
			child_setup(parent);
			close(sv[0]);
			for (uint32_t j = 0; j < i; j++)
				close(wctl[j]);
			npids = 0;	/* the coordinators are the master's to stop */
			fflush(stdout);
			_exit(worker_main(lo, hi, sv[1]));
		}
		close(sv[1]);
		wctl[i] = sv[0];
		wpids[i] = pid;
	}
	return 0;
}

/* a coordinator or a worker we started that exited */
static bool someone_died(void)
{
	int st;

	for (size_t i = 0; i < npids; i++) {
		if (pids[i] <= 0 || waitpid(pids[i], &st, WNOHANG) != pids[i])
			continue;
		say("coordinator %d (%s) exited (%s %d): see %s/coordinators.err and its coord.log", (int)pids[i],
		    i == 0 ? (star ? "the star" : "the root") : "a sub-coordinator",
		    WIFEXITED(st) ? "status" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), dir);
		pids[i] = 0;
		return true;
	}
	for (uint32_t i = 0; i < nworkers; i++) {
		if (wpids[i] <= 0 || waitpid(wpids[i], &st, WNOHANG) != wpids[i])
			continue;
		say("generator worker %u exited (%s %d)", i, WIFEXITED(st) ? "status" : "signal",
		    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		wpids[i] = 0;
		return true;
	}
	return false;
}

/* CPU time of a coordinator, ns (/proc/PID/schedstat: exact, unlike the
 * clock ticks of /proc/PID/stat) */
static uint64_t cpu_ns(pid_t pid)
{
	char path[64], buf[128];
	unsigned long long v = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	return sscanf(buf, "%llu", &v) == 1 ? v : 0;
}

/* per coordinator, for the CPU a round costs each */
static uint64_t *cpu_mark;

static void cpu_start(void)
{
	for (size_t i = 0; i < npids; i++)
		cpu_mark[i] = pids[i] > 0 ? cpu_ns(pids[i]) : 0;
}

/* since cpu_start: all coordinators, the root (or star), the busiest sub; ms */
static void cpu_since(double *all, double *root, double *sub)
{
	*all = *root = *sub = 0;
	for (size_t i = 0; i < npids; i++) {
		uint64_t now = pids[i] > 0 ? cpu_ns(pids[i]) : 0;
		double d = now > cpu_mark[i] ? (double)(now - cpu_mark[i]) / 1e6 : 0;
		*all += d;
		if (i == 0)
			*root = d;
		else if (d > *sub)
			*sub = d;
	}
}

/* the smallest image, N times, no coordinator: what one costs alone, us */
static int image_cost(uint32_t n)
{
	char path[CKDIR_PATH_MAX + 32];
	uint64_t bytes, t0, t1;
	uint32_t crc;

	uname(&w.uts);
	w.iw_scratch_len = crest_iw_scratch_size(CREST_COMP_NONE, 1);
	w.iw_scratch = mmap(NULL, w.iw_scratch_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w.iw_scratch == MAP_FAILED || ckdir_make(dir))
		return 1;
	t0 = now_ns();
	for (uint32_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/p-%u.img", dir, i);
		int rc = write_image(path, 1, &bytes, &crc);
		if (rc) {
			say("cannot write %s: %s", path, strerror(-rc));
			return 1;
		}
	}
	t1 = now_ns();
	for (uint32_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/p-%u.img", dir, i);
		unlink(path);
	}
	printf("IMAGES n=%u bytes=%" PRIu64 " us_per_image=%.1f\n", n, bytes, (double)(t1 - t0) / 1e3 / n);
	return 0;
}

/*
 * Descriptors: a worker holds one socket per rank, a sub-coordinator one
 * per rank of its node, the root one per sub, a star coordinator one per
 * rank.  The coordinators inherit this program's limit (crest-coord sets
 * none of its own).  0, or 3 with why.
 */
static int check_nofile(void)
{
	struct rlimit rl;
	rlim_t worker = (nranks + nworkers - 1) / nworkers + FD_MARGIN;
	rlim_t coord = star ? nranks + FD_MARGIN : ((nranks + nsubs - 1) / nsubs > nsubs ?
						    (nranks + nsubs - 1) / nsubs : nsubs) + FD_MARGIN;
	rlim_t need = worker > coord ? worker : coord;

	getrlimit(RLIMIT_NOFILE, &rl);
	if (need > rl.rlim_max) {
		struct rlimit want = { need, need };
		if (setrlimit(RLIMIT_NOFILE, &want)) {
			say("CANNOT: %s needs %lu file descriptors; the hard RLIMIT_NOFILE is %lu and cannot be raised "
			    "here (%s; needs CAP_SYS_RESOURCE)%s", coord >= worker ? (star ? "the star coordinator" :
			    "a coordinator") : "a generator worker (add --workers)", (unsigned long)need,
			    (unsigned long)rl.rlim_max, strerror(errno),
			    coord >= worker && star ? ": one coordinator cannot serve that many ranks on this machine" : "");
			return 3;
		}
		return 0;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (coord_nofile && coord > coord_nofile)
		say("note: the coordinators get RLIMIT_NOFILE %lu, below the %lu they need", coord_nofile,
		    (unsigned long)coord);
	return 0;
}

/* has the root (or the star coordinator) logged that every node and task is there */
static bool root_started(void)
{
	static int fd = -1;
	static char tail[8192 + 64];
	static size_t keep;
	char path[CKDIR_PATH_MAX];

	if (fd < 0) {
		snprintf(path, sizeof(path), "%s/coord.log", dir);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return false;
	}
	for (;;) {
		ssize_t n = read(fd, tail + keep, sizeof(tail) - 1 - keep);
		if (n <= 0)
			return false;
		keep += (size_t)n;
		tail[keep] = 0;
		if (strstr(tail, "the step has started")) {
			close(fd);
			fd = -1;
			return true;
		}
		if (keep > 64) {
			memmove(tail, tail + keep - 64, 64);
			keep = 64;
		}
	}
}

static bool file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && st.st_size > 0;
}

/* a worker's message; -1 when it failed */
static int worker_msg(uint32_t i, struct ctl *m)
{
	if (ctl_recv(wctl[i], m)) {
		say("generator worker %u is gone", i);
		return -1;
	}
	if (m->kind == CTL_FAIL) {
		m->text[sizeof(m->text) - 1] = 0;
		say("generator worker %u: %s", i, m->text);
		return -1;
	}
	return 0;
}

struct startup {
	uint64_t t0, spawned, welcomed, started;
};

static int start_tree(struct startup *su)
{
	char root_file[CKDIR_PATH_MAX], nodes_arg[16], tmo[16], tasks[16], node[16];
	uint64_t deadline;
	struct ctl go = { .kind = CTL_GO };

	snprintf(tmo, sizeof(tmo), "%u", timeout_s);
	snprintf(nodes[0].rundir, sizeof(nodes[0].rundir), "%s", dir);
	nodes[0].end = star ? nranks : 0;
	for (uint32_t i = 1; i <= nsubs; i++) {
		struct node *nd = &nodes[i];
		nd->first = (uint32_t)((uint64_t)(i - 1) * nranks / nsubs);
		nd->end = (uint32_t)((uint64_t)i * nranks / nsubs);
		ckdir_node_dir(dir, i, nd->rundir, sizeof(nd->rundir));
	}
	if (!star) {
		snprintf(root_file, sizeof(root_file), "%s/ROOT", dir);
		snprintf(nodes_arg, sizeof(nodes_arg), "%u", nsubs + 1);
		char *argv[] = { "crest-coord", "--dir", (char *)dir, "--foreground", "--root", "--listen",
				 "127.0.0.1:0", "--addr-file", root_file, "--nodes", nodes_arg, "--timeout", tmo, NULL };
		if (spawn(argv) < 0)
			return -1;
		write_pidfile();
		deadline = now_ns() + 10000000000ull;
		while (!file_exists(root_file)) {
			if (someone_died() || now_ns() > deadline) {
				say("the root coordinator did not write %s within 10 s", root_file);
				return -1;
			}
			usleep(1000);
		}
	}
	/* the workers, waiting for GO */
	if (start_workers()) {
		say("cannot start the generator workers: %s", strerror(errno));
		return -1;
	}
	write_pidfile();

	su->t0 = now_ns();
	for (uint32_t i = 0; i < nworkers; i++)
		ctl_send(wctl[i], &go);
	if (star) {
		snprintf(tasks, sizeof(tasks), "%u", nranks);
		char *argv[] = { "crest-coord", "--dir", (char *)dir, "--foreground", "--tasks", tasks,
				 "--tasks-wait", "3600", "--timeout", tmo, NULL };
		if (spawn(argv) < 0)
			return -1;
	}
	for (uint32_t i = 1; i <= nsubs; i++) {
		/* with --fanout, the parent of node i is node (i - 1) / F, whose
		 * sub-coordinator listens and answers for the nodes below it */
		char parent_file[CKDIR_PATH_MAX + 32], addr_file[CKDIR_PATH_MAX + 16], below[16];
		uint32_t up = fanout ? crest_tree_parent(i, fanout) : 0;
		snprintf(tasks, sizeof(tasks), "%u", nodes[i].end - nodes[i].first);
		snprintf(node, sizeof(node), "%u", i);
		snprintf(parent_file, sizeof(parent_file), "%s/nodes/n%u/ADDR", dir, up);
		snprintf(addr_file, sizeof(addr_file), "%s/ADDR", nodes[i].rundir);
		snprintf(below, sizeof(below), "%u", fanout ? crest_tree_size(i, nsubs + 1, fanout) : 1);
		char *sargv[] = { "crest-coord", "--dir", (char *)dir, "--foreground", "--node", node,
				  "--parent-file", up ? parent_file : root_file, "--tasks", tasks, "--tasks-wait", "3600",
				  "--timeout", tmo, NULL, NULL, NULL, NULL, NULL, NULL, NULL };
		if (fanout && crest_tree_has_children(i, nsubs + 1, fanout)) {
			char **a = &sargv[14];
			*a++ = "--listen";
			*a++ = "127.0.0.1:0";
			*a++ = "--addr-file";
			*a++ = addr_file;
			*a++ = "--nodes";
			*a++ = below;
		}
		if (spawn(sargv) < 0) {
			say("fork of sub-coordinator %u: %s", i, strerror(errno));
			return -1;
		}
	}
	su->spawned = now_ns();
	write_pidfile();

	/* every worker has all its ranks welcomed, the root logged the start */
	struct pollfd pfd[MAX_WORKERS];
	uint32_t ready = 0;
	uint64_t last_check = 0;
	deadline = su->t0 + (uint64_t)start_limit_s * 1000000000ull;
	for (uint32_t i = 0; i < nworkers; i++)
		pfd[i] = (struct pollfd){ .fd = wctl[i], .events = POLLIN };
	while (!stop) {
		int n = poll(pfd, nworkers, 1);
		for (uint32_t i = 0; n > 0 && i < nworkers; i++) {
			struct ctl m;
			if (!pfd[i].revents)
				continue;
			if (worker_msg(i, &m))
				return -1;
			if (m.kind == CTL_READY) {
				ready++;
				su->welcomed = m.t > su->welcomed ? m.t : su->welcomed;
				pfd[i].fd = -1;
			}
		}
		if (!su->started && root_started())
			su->started = now_ns();
		if (su->started && ready == nworkers)
			return 0;
		uint64_t t = now_ns();
		if (t - last_check > 200000000ull) {
			last_check = t;
			if (someone_died())
				return -1;
		}
		if (t > deadline) {
			say("start-up did not complete within %u s: %u of %u generator workers have all their ranks welcomed, "
			    "the root %s", start_limit_s, ready, nworkers,
			    su->started ? "has every node" : "does not have every node yet (see its coord.log)");
			return -1;
		}
	}
	return -1;
}

struct round {
	uint64_t req_ns, res_ns;
	struct stats st;	/* merged over the workers */
	int error;
	char text[512];
	uint64_t gen;
	double coord_cpu_ms, root_cpu_ms, sub_cpu_ms;
};

static void merge(struct stats *to, const struct stats *s)
{
	for (int p = 0; p < PH_N; p++) {
		if (!s->count[p])
			continue;
		if (!to->count[p] || s->first[p] < to->first[p])
			to->first[p] = s->first[p];
		if (s->last[p] > to->last[p])
			to->last[p] = s->last[p];
		to->count[p] += s->count[p];
	}
	to->aborted += s->aborted;
	to->img_ns += s->img_ns;
	to->img_bytes += s->img_bytes;
	to->cpu_ms += s->cpu_ms;
}

static int run_round(struct round *r, uint32_t k)
{
	/* the coordinators' own limits: PREPARE --timeout, SUSPEND + 5 s, WRITE 60 s without PROGRESS */
	uint64_t limit = (uint64_t)(3 * timeout_s + 5 + 60 + 30) * 1000000000ull, t_check = 0, collect_at = 0;
	struct crest_msg_request req = { .compress = ~0u };
	struct pollfd pfd[MAX_WORKERS + 1];
	uint32_t reported = 0, seq = 0;
	struct ctl m = { .kind = CTL_BEGIN, .round = k };
	int fd = -1, rc = -1;

	memset(r, 0, sizeof(*r));
	for (uint32_t i = 0; i < nworkers; i++)
		if (ctl_send(wctl[i], &m))
			return -1;
	/* every worker counts before the first PREPARE can come */
	for (uint32_t i = 0; i < nworkers; i++)
		do
			if (worker_msg(i, &m))
				return -1;
		while (m.kind != CTL_ACK);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&nodes[0].sa, sizeof(nodes[0].sa)) < 0) {
		say("cannot connect to the root's socket %s: %s", nodes[0].sa.sun_path, strerror(errno));
		goto out_close;
	}
	cpu_start();
	r->req_ns = now_ns();
	if (crest_frame_send(fd, CREST_MSG_CKPT_REQUEST, &seq, &req, sizeof(req))) {
		say("cannot send CKPT_REQUEST to %s", nodes[0].sa.sun_path);
		goto out_close;
	}
	pfd[nworkers] = (struct pollfd){ .fd = fd, .events = POLLIN };
	for (uint32_t i = 0; i < nworkers; i++)
		pfd[i] = (struct pollfd){ .fd = wctl[i], .events = POLLIN };
	while (!stop && (!r->res_ns || reported < nworkers)) {
		int n = poll(pfd, nworkers + 1, 5);
		uint64_t t = now_ns();
		if (n > 0 && pfd[nworkers].revents) {
			struct crest_frame hdr;
			struct crest_msg_result res;
			int len = crest_frame_recv(fd, &hdr, &res, sizeof(res), 1000);
			if (len != (int)sizeof(res) || hdr.type != CREST_MSG_CKPT_RESULT) {
				say("no CKPT_RESULT from the root: %s", len < 0 ? strerror(-len) : "another message");
				goto out_close;
			}
			res.text[sizeof(res.text) - 1] = 0;
			r->res_ns = t;
			r->error = res.error;
			r->gen = res.generation;
			snprintf(r->text, sizeof(r->text), "%s", res.text);
			pfd[nworkers].fd = -1;
			if (r->error)
				collect_at = t + 5000000000ull;	/* ABORTs on their way */
		}
		for (uint32_t i = 0; n > 0 && i < nworkers; i++) {
			if (!pfd[i].revents)
				continue;
			if (worker_msg(i, &m))
				goto out_close;
			if (m.kind == CTL_STATS) {
				merge(&r->st, &m.st);
				reported++;
				pfd[i].fd = -1;
			}
		}
		if (collect_at && t > collect_at) {
			m.kind = CTL_COLLECT;
			for (uint32_t i = 0; i < nworkers; i++)
				if (pfd[i].fd >= 0)
					ctl_send(wctl[i], &m);
			collect_at = 0;
		}
		if (t - r->req_ns > limit) {
			say("round %u: no result within %" PRIu64 " s", k, (uint64_t)(limit / 1000000000ull));
			goto out_close;
		}
		if (t - t_check > 500000000ull) {
			t_check = t;
			if (someone_died())
				goto out_close;
		}
	}
	if (stop)
		goto out_close;
	close(fd);
	fd = -1;
	usleep(PAUSE_MS * 1000);	/* the workers answer RESUME meanwhile; the root prunes */
	cpu_since(&r->coord_cpu_ms, &r->root_cpu_ms, &r->sub_cpu_ms);
	rc = 0;
out_close:
	if (fd >= 0)
		close(fd);
	return rc;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double maxof(const double *v, unsigned n)
{
	double m = v[0];

	for (unsigned i = 1; i < n; i++)
		m = v[i] > m ? v[i] : m;
	return m;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: barrier --coord PATH --dir DIR --ranks N (--subs S [--fanout F] | --star) [--rounds R] [--workers W]\n"
		"               [--timeout SEC] [--start-limit SEC] [--pidfile FILE] [--coord-nofile N]\n"
		"       barrier --image-cost N --dir DIR\n");
}

static int parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "coord", required_argument, NULL, 'c' },
		{ "dir", required_argument, NULL, 'd' },
		{ "ranks", required_argument, NULL, 'n' },
		{ "subs", required_argument, NULL, 's' },
		{ "star", no_argument, NULL, 'S' },
		{ "fanout", required_argument, NULL, 'F' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "workers", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "start-limit", required_argument, NULL, 'l' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "coord-nofile", required_argument, NULL, 'f' },
		{ "image-cost", required_argument, NULL, 'i' },
		{ 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': coord_bin = optarg; break;
		case 'd': dir = optarg; break;
		case 'n': nranks = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 's': nsubs = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'S': star = true; break;
		case 'F': fanout = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'r': rounds = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'w': nworkers = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 't': timeout_s = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'l': start_limit_s = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'p': pidfile = optarg; break;
		case 'f': coord_nofile = strtoul(optarg, NULL, 10); break;
		case 'i': image_n = (uint32_t)strtoul(optarg, NULL, 10); break;
		default: usage(); return -1;
		}
	}
	if (image_n && dir)
		return 0;
	if (!coord_bin || !dir || !nranks || star == !!nsubs || nsubs > nranks || !rounds || rounds > MAX_ROUNDS ||
	    !timeout_s || !nworkers || nworkers > MAX_WORKERS) {
		usage();
		return -1;
	}
	if (nworkers > nranks)
		nworkers = nranks;
	return 0;
}

int main(int argc, char **argv)
{
	static struct round rs[MAX_ROUNDS];
	struct startup su = { 0 };
	unsigned ok = 0;
	int rc;

	if (parse_args(argc, argv))
		return 1;
	if (image_n)
		return image_cost(image_n);
	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = check_nofile();
	if (rc)
		return rc;
	rc = 1;
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	nodes = calloc(nsubs + 1, sizeof(*nodes));
	pids = calloc(nsubs + 1, sizeof(*pids));
	cpu_mark = calloc(nsubs + 1, sizeof(*cpu_mark));
	if (!nodes || !pids || !cpu_mark) {
		say("out of memory");
		return 1;
	}
	if (ckdir_make(dir)) {
		say("cannot create %s", dir);
		return 1;
	}

	if (start_tree(&su))
		goto out_stop;
	if (read_node(&nodes[0])) {
		say("cannot read %s/COORD", dir);
		goto out_stop;
	}
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	printf("startup %s ranks=%u subs=%u fanout=%u workers=%u spawn_ms=%.1f welcomed_ms=%.1f started_ms=%.1f "
	       "coord_nofile=%lu\n", star ? "star" : "tree", nranks, nsubs, fanout, nworkers, ms(su.spawned, su.t0), ms(su.welcomed, su.t0),
	       ms(su.started, su.t0), coord_nofile ? coord_nofile : (unsigned long)rl.rlim_cur);
	usleep(PAUSE_MS * 1000);

	for (unsigned i = 0; i < rounds && !stop; i++) {
		struct round *r = &rs[i];
		if (run_round(r, i + 1))
			goto out_stop;
		struct stats *s = &r->st;
		if (r->error || s->aborted) {
			printf("round %u FAILED: error %d: %s (%u ranks got ABORT)\n", i + 1, r->error, r->text, s->aborted);
			continue;
		}
		ok++;
		printf("round %u gen=%" PRIu64 " client_ms=%.2f ranks_ms=%.2f barrier_ms=%.2f barrier2_ms=%.2f "
		       "prepare_spread_ms=%.2f write_ms=%.2f img_ms=%.2f commit_ms=%.2f resume_spread_ms=%.2f "
		       "gen_cpu_ms=%.0f coord_cpu_ms=%.0f root_cpu_ms=%.1f sub_cpu_max_ms=%.1f\n",
		       i + 1, r->gen, ms(r->res_ns, r->req_ns), ms(s->last[PH_RESUME], s->first[PH_PREPARE]),
		       ms(s->last[PH_SUSPEND], s->first[PH_PREPARE]), ms(s->last[PH_WRITE], s->first[PH_SUSPEND]),
		       ms(s->last[PH_PREPARE], s->first[PH_PREPARE]), ms(s->first[PH_RESUME], s->first[PH_WRITE]),
		       (double)s->img_ns / 1e6, ms(s->first[PH_RESUME], s->last[PH_WRITE]),
		       ms(s->last[PH_RESUME], s->first[PH_RESUME]), s->cpu_ms, r->coord_cpu_ms, r->root_cpu_ms,
		       r->sub_cpu_ms);
	}
	if (ok) {
		double v[9][MAX_ROUNDS], mx[4];
		unsigned n = 0;
		for (unsigned i = 0; i < rounds; i++) {
			struct round *r = &rs[i];
			struct stats *s = &r->st;
			if (r->error || s->aborted || !r->res_ns)
				continue;
			v[0][n] = ms(s->last[PH_SUSPEND], s->first[PH_PREPARE]);
			v[1][n] = ms(s->last[PH_WRITE], s->first[PH_SUSPEND]);
			v[2][n] = ms(s->last[PH_RESUME], s->first[PH_PREPARE]);
			v[3][n] = ms(r->res_ns, r->req_ns);
			v[4][n] = (double)s->img_ns / 1e6;
			v[5][n] = s->cpu_ms;
			v[6][n] = r->coord_cpu_ms;
			v[7][n] = r->root_cpu_ms;
			v[8][n] = r->sub_cpu_ms;
			n++;
		}
		for (int k = 0; k < 4; k++)
			mx[k] = maxof(v[k], n);
		printf("RESULT mode=%s ranks=%u subs=%u fanout=%u workers=%u rounds=%u ok=%u spawn_ms=%.0f startup_ms=%.0f welcomed_ms=%.0f "
		       "barrier_med=%.2f barrier_max=%.2f barrier2_med=%.2f barrier2_max=%.2f ranks_med=%.2f "
		       "ranks_max=%.2f client_med=%.2f client_max=%.2f img_med=%.2f gen_cpu_med=%.0f coord_cpu_med=%.0f "
		       "root_cpu_med=%.1f sub_cpu_med=%.1f\n",
		       star ? "star" : "tree", nranks, nsubs, fanout, nworkers, rounds, ok, ms(su.spawned, su.t0), ms(su.started, su.t0),
		       ms(su.welcomed, su.t0), median(v[0], n), mx[0], median(v[1], n), mx[1], median(v[2], n), mx[2],
		       median(v[3], n), mx[3], median(v[4], n), median(v[5], n), median(v[6], n), median(v[7], n),
		       median(v[8], n));
	}
	rc = ok == rounds ? 0 : 1;
out_stop:
	if (stop)
		say("interrupted");
	for (uint32_t i = 0; i < nworkers; i++) {
		struct ctl m = { .kind = CTL_EXIT };
		if (wpids[i] > 0)
			ctl_send(wctl[i], &m);
	}
	stop_all();
	return rc;
}
