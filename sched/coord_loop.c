/* SPDX-License-Identifier: MIT */
/*
 * crest-coord event loop: one epoll set of the listening sockets and every
 * connection, each registered once.  Frames are read without blocking into
 * a per-connection buffer and cut with crest_frame_check(); a malformed
 * frame drops that connection only.  A turn costs what happened in it: the
 * connections are counted as they come and go, the dead ones are reaped
 * when there are some, and the looks at every connection (timeouts) are
 * made a few times a second (docs/bench.md, "What the coordinator does at
 * scale").
 */
#define LOG_MODULE "coord"
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "log.h"

#define TICK_MS 200
#define EVENTS_MAX 256		/* events taken per turn */
#define ACCEPT_BATCH 256	/* connections taken per listener per turn */
#define EMFILE_PAUSE_MS 100	/* out of descriptors: the listeners rest */
#define EMFILE_TELL_MS 10000	/* and it is logged at most this often */
#define SWEEP_MS 1000		/* every connection looked at, at least */

/* the listeners' tags in the epoll set; no connection has these addresses */
static char tag_unix, tag_tcp;

long long coord_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int coord_listen(struct coord *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int rc, fd;

	rc = ckdir_socket_path(c->o.rundir, c->sock, sizeof(c->sock));
	if (rc)
		return rc;
	if (strlen(c->sock) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, c->sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rc = -errno;
		pr_perror("cannot create the coordinator socket");
		return rc;
	}
	/* the caller checked that no live coordinator owns it: a stale one */
	unlink(c->sock);
	mode_t old = umask(077);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0) {
		rc = -errno;
		pr_perror("cannot bind the coordinator socket %s", c->sock);
		goto out_close;
	}
	struct stat sst;
	c->sock_ino = stat(c->sock, &sst) == 0 ? sst.st_ino : 0;
	if (listen(fd, SOMAXCONN) < 0) {
		rc = -errno;
		pr_perror("cannot listen on %s", c->sock);
		goto out_unlink;
	}
	c->lfd = fd;
	return 0;
out_unlink:
	unlink(c->sock);
out_close:
	close(fd);
	return rc;
}

bool coord_step_started(struct coord *c, char *why, size_t size)
{
	unsigned tasks = c->ntasks, nodes = 1 + c->nsubnodes + coord_ended_nodes_away(c);

	if (!c->o.tasks && !c->o.nodes)
		return true;
	/* always every node: a generation without one could not be restarted
	 * (a node whose tasks all ended counts once it said so: NODE_DONE);
	 * every task only until the step has started */
	bool nodes_ok = !c->o.nodes || nodes >= c->o.nodes;
	if (c->started) {
		if (!nodes_ok && why && coord_is_sub(c))
			snprintf(why, size, "only %u of the %u nodes at and below node %u are connected", nodes,
				 c->o.nodes, c->o.node);
		else if (!nodes_ok && why)
			snprintf(why, size, "only %u of the step's %u nodes are connected", nodes, c->o.nodes);
		return nodes_ok;
	}
	if (tasks + c->nended < c->o.tasks || !nodes_ok) {
		if (why && c->o.nodes)
			snprintf(why, size, "the step is still starting: %u of %u tasks on node %u, %u of %u nodes connected",
				 tasks, c->o.tasks, c->o.node, nodes, c->o.nodes);
		else if (why)
			snprintf(why, size, "the step is still starting: %u of %u tasks on node %u connected", tasks,
				 c->o.tasks, c->o.node);
		return false;
	}
	pr_info("the step has started: %u tasks here%s", tasks, c->o.nodes ? ", every node connected" : "");
	c->started = true;
	return true;
}

unsigned coord_nprocs(const struct coord *c)
{
	return c->nprocs;
}

void coord_conn_drop(struct coord *c, struct conn *conn)
{
	if (!conn->dead)
		c->ndead++;
	conn->dead = true;
	/* its nodes are not there from now on: a PREPARE read in the same
	 * turn must not count them (coord_step_started) */
	if (conn->sub && !conn->sub_gone) {
		c->nsubnodes -= (unsigned)conn->nsubtree;
		conn->sub_gone = true;
	}
}

int coord_conn_add(struct coord *c, struct conn *conn)
{
	if (c->efd >= 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = conn };
		if (epoll_ctl(c->efd, EPOLL_CTL_ADD, conn->fd, &ev) < 0) {
			int rc = -errno;
			pr_perror("cannot watch a new connection");
			close(conn->fd);
			free(conn);
			return rc;
		}
	}
	conn->next = c->conns;
	c->conns = conn;
	return 0;
}

bool coord_accept_failed(struct coord *c, int e, const char *what)
{
	long long now = coord_now_ms();

	if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR || e == ECONNABORTED)
		return false;
	if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM) {
		pr_err("accept on %s: %s", what, strerrordesc_np(e));
		return false;
	}
	/* the connection stays in the listen queue: try again soon, without
	 * spinning on a listener that stays readable */
	c->accept_pause_ms = now + EMFILE_PAUSE_MS;
	if (!c->emfile_told_ms || now - c->emfile_told_ms >= EMFILE_TELL_MS) {
		struct rlimit rl = { 0 };
		getrlimit(RLIMIT_NOFILE, &rl);
		pr_warn("accept on %s: %s (%u connections, descriptor limit %llu): new connections wait until some close; "
			"raise the limit (ulimit -n, or LimitNOFILE= of slurmd) for more", what, strerrordesc_np(e),
			c->nprocs, (unsigned long long)rl.rlim_cur);
		c->emfile_told_ms = now;
	}
	return true;
}

int coord_send(struct coord *c, struct conn *conn, uint16_t type, const void *payload, uint32_t len)
{
	int rc;

	if (conn->dead)
		return -ECONNRESET;
	rc = crest_frame_send(conn->fd, type, &conn->tx_seq, payload, len);
	if (rc) {
		if (conn->kind == CONN_PROC && (rc == -EPIPE || rc == -ECONNRESET))
			pr_debug("process %d left before %s: %s", (int)conn->pid, crest_msg_type_name(type),
				 strerrordesc_np(-rc));	/* its disconnection is logged */
		else if (conn->kind == CONN_PROC)
			pr_warn("cannot send %s to process %d: %s", crest_msg_type_name(type),
				(int)conn->pid, strerrordesc_np(-rc));
		else
			pr_info("cannot send %s to a client: %s", crest_msg_type_name(type),
				strerrordesc_np(-rc));
		coord_conn_drop(c, conn);
	}
	return rc;
}

/* 1: one connection taken (or refused), 0: none waits, -1: rest */
static int accept_one(struct coord *c)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct conn *conn;
	int fd;

	fd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		return coord_accept_failed(c, e, c->sock) ? -1 : e == EINTR || e == ECONNABORTED;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		pr_perror("SO_PEERCRED");
		close(fd);
		return 1;
	}
	if (cred.uid != getuid() && cred.uid != 0) {
		pr_warn("refused a connection from pid %d uid %u: only uid %u may use this coordinator",
			(int)cred.pid, (unsigned)cred.uid, (unsigned)getuid());
		close(fd);
		return 1;
	}
	conn = calloc(1, sizeof(*conn));
	if (!conn) {
		pr_err("out of memory: refused a connection from pid %d", (int)cred.pid);
		close(fd);
		return 1;
	}
	conn->fd = fd;
	conn->pid = cred.pid;
	if (coord_conn_add(c, conn))
		return 1;
	pr_debug("connection from pid %d", (int)cred.pid);
	return 1;
}

/* what waits in a listen queue, up to a batch per turn (the others have
 * their turn too) */
static void accept_batch(struct coord *c, int (*one)(struct coord *))
{
	for (int i = 0; i < ACCEPT_BATCH; i++)
		if (one(c) <= 0)
			return;
}

static void on_hello(struct coord *c, struct conn *conn, const struct crest_msg_hello *h)
{
	struct crest_msg_welcome w = { 0 };

	if (conn->kind != CONN_NEW) {
		pr_err("pid %d sent HELLO twice; dropping it", (int)conn->pid);
		coord_conn_drop(c, conn);
		return;
	}
	/* over TCP only sub-coordinators, and they come only over TCP */
	if (conn->tcp != !!(h->flags & CREST_HELLO_SUBCOORD) || (conn->tcp && (!h->node || h->node == c->o.node))) {
		pr_err("%s sent a HELLO it may not send (%s); dropping it", conn->tcp ? conn->peer : "a local process",
		       conn->tcp ? "a sub-coordinator of another node >= 1" : "sub-coordinators connect over TCP");
		coord_conn_drop(c, conn);
		return;
	}
	ckdir_incarnation_pack(c->incarnation, w.run);
	if (conn->tcp) {
		char its[CKDIR_INCARNATION_LEN + 1];
		ckdir_incarnation_unpack(h->run, its);
		if (its[0] && c->incarnation[0] && strcmp(its, c->incarnation)) {
			/* one of them is left over from another run (its node was
			 * cut off, or its job's processes outlived the job): a sub
			 * of an older run must not take the place of this run's
			 * node; WELCOME tells it to stop.  If DIR is the sub's run,
			 * this one is the older (it serves an address file the new
			 * run had not yet replaced): it stops, and the sub tries
			 * again */
			if (coord_run_of_dir(c, its) == 1) {
				pr_err("the sub-coordinator of node %u (pid %u, %s) is of the run that owns %s now (%s; this "
				       "coordinator's is %s): this node is left over from an older run; stopping (its "
				       "processes go on without checkpoints)", h->node, h->pid, conn->peer, c->o.dir, its,
				       c->incarnation);
				coord_conn_drop(c, conn);
				coord_stop = 1;
				return;
			}
			pr_err("%s says it is the sub-coordinator of node %u (pid %u) of another run (%s, this run is %s); "
			       "refused", conn->peer, h->node, h->pid, its, c->incarnation);
			w.node = h->node;
			coord_send(c, conn, CREST_MSG_WELCOME, &w, sizeof(w));
			coord_conn_drop(c, conn);
			return;
		}
		struct conn *o = coord_sub_of(c, h->node);
		if (o) {
			pr_err("%s says it is node %u, which %s serves already; dropping it", conn->peer,
			       h->node, o->peer);
			coord_conn_drop(c, conn);
			return;
		}
		conn->nsubtree = 0;
		if (!conn->subtree && !(conn->subtree = malloc(16 * sizeof(*conn->subtree)))) {
			pr_err("out of memory for the sub-coordinator of node %u; dropping it", h->node);
			coord_conn_drop(c, conn);
			return;
		}
		conn->subtree_cap = 16;
		conn->subtree[conn->nsubtree++] = h->node;
		conn->kind = CONN_PROC;
		c->nprocs++;
		c->nsubs++;
		c->nsubnodes++;
		conn->sub = true;
		conn->node = h->node;
		coord_ended_node_back(c, h->node);
		conn->pid = (pid_t)h->pid;
		conn->vpid = h->pid;
		memcpy(conn->exe, h->exe, sizeof(conn->exe));
		conn->exe[sizeof(conn->exe) - 1] = 0;
		c->any_connected = true;
		pr_info("the sub-coordinator of node %u (pid %d) connected from %s", conn->node, (int)conn->pid,
			conn->peer);
		w.node = conn->node;
		coord_send(c, conn, CREST_MSG_WELCOME, &w, sizeof(w));
		coord_ckpt_joined(c, conn);
		coord_tree_subtree_changed(c);
		return;
	}
	if ((pid_t)h->pid != conn->pid)
		pr_info("process says pid %u, kernel says %d: using %u", h->pid, (int)conn->pid, h->pid);
	conn->kind = CONN_PROC;
	c->nprocs++;
	conn->pid = (pid_t)h->pid;
	conn->restarted = h->flags & CREST_HELLO_RESTARTED;
	conn->restart_count = h->restart_count;
	conn->vpid = h->vpid ? h->vpid : h->pid;
	conn->ppid = (pid_t)h->ppid;
	memcpy(conn->exe, h->exe, sizeof(conn->exe));
	conn->exe[sizeof(conn->exe) - 1] = 0;
	conn->rank = c->next_rank++;
	conn->task = h->flags & CREST_HELLO_TASK;
	c->ntasks += conn->task;
	conn->task_rank = h->task ? h->task - 1 : 0;
	conn->task_id = h->task;
	if (!c->any_connected && c->o.interval)
		c->next_interval_ms = coord_now_ms() + c->o.interval * 1000LL;
	c->any_connected = true;
	ckdir_procs_add(c->o.rundir, conn->pid);
	w.rank = conn->rank;
	w.node = c->o.node;
	pr_info("process %d (%s) registered as rank %u%s", (int)conn->pid, conn->exe, conn->rank,
		conn->restarted ? ", restarted" : "");
	coord_send(c, conn, CREST_MSG_WELCOME, &w, sizeof(w));
	coord_ckpt_joined(c, conn);
	coord_step_started(c, NULL, 0);
}

static void on_status(struct coord *c, struct conn *conn)
{
	static char buf[65536];
	int n = coord_status_json(c, buf, sizeof(buf));

	if (n < 0) {
		pr_err("status does not fit in %zu bytes", sizeof(buf));
		n = snprintf(buf, sizeof(buf), "{\"error\":\"status too large\"}");
	}
	coord_send(c, conn, CREST_MSG_STATUS_REPLY, buf, (uint32_t)n + 1);
}

static void on_message(struct coord *c, struct conn *conn, const struct crest_frame *hdr, const void *payload)
{
	uint16_t type = hdr->type;

	if (hdr->seq != conn->rx_seq + 1) {
		pr_err("pid %d: frame sequence %u after %u; dropping the connection",
		       (int)conn->pid, hdr->seq, conn->rx_seq);
		coord_conn_drop(c, conn);
		return;
	}
	conn->rx_seq = hdr->seq;
	if (conn->kind == CONN_AUTH) {
		coord_tree_auth(c, conn, hdr, payload);
		return;
	}
	if (conn->kind == CONN_PARENT) {
		struct crest_msg_ckpt m;
		if (type == CREST_MSG_WELCOME) {
			struct crest_msg_welcome w;
			memcpy(&w, payload, sizeof(w));
			coord_tree_welcome(c, &w);
			return;
		}
		if (type == CREST_MSG_NS_REPLY) {
			struct crest_msg_ns r;
			memcpy(&r, payload, sizeof(r));
			coord_ns_reply_from_parent(c, &r);
			return;
		}
		if (type == CREST_MSG_TERM_ACTION) {
			struct crest_msg_term t;
			memcpy(&t, payload, sizeof(t));
			coord_slurm_term_broadcast(c, &t);	/* to this node's processes */
			return;
		}
		if (type >= CREST_MSG_PREPARE && type <= CREST_MSG_ABORT) {
			memcpy(&m, payload, sizeof(m));
			coord_ckpt_from_parent(c, type, &m);
			return;
		}
		pr_err("the parent sent %s, which it may not send; dropping the link", crest_msg_type_name(type));
		coord_conn_drop(c, conn);
		return;
	}
	switch (type) {
	case CREST_MSG_HELLO: {
		struct crest_msg_hello h;
		memcpy(&h, payload, sizeof(h));
		on_hello(c, conn, &h);
		return;
	}
	case CREST_MSG_PHASE_OK:
	case CREST_MSG_PHASE_FAIL:
	case CREST_MSG_PROGRESS: {
		struct crest_msg_phase m;
		if (conn->kind != CONN_PROC)
			break;
		memcpy(&m, payload, sizeof(m));
		m.text[sizeof(m.text) - 1] = 0;
		coord_ckpt_answer(c, conn, type, &m);
		return;
	}
	case CREST_MSG_CHILDREN: {
		static struct crest_msg_children m;
		if (conn->kind != CONN_PROC)
			break;
		memcpy(&m, payload, sizeof(m));
		coord_ckpt_children(c, conn, &m);
		return;
	}
	case CREST_MSG_TRIGGER: {
		struct crest_msg_trigger t;
		if (conn->kind != CONN_PROC)
			break;
		memcpy(&t, payload, sizeof(t));
		coord_ckpt_trigger(c, conn, &t);
		return;
	}
	case CREST_MSG_IMAGES: {
		static struct crest_msg_images m;
		if (!conn->sub)
			break;
		memcpy(&m, payload, sizeof(m));
		coord_tree_images(c, conn, &m);
		return;
	}
	case CREST_MSG_SUBTREE: {
		static struct crest_msg_subtree m;
		if (!conn->sub)
			break;
		memcpy(&m, payload, sizeof(m));
		coord_tree_subtree(c, conn, &m);
		return;
	}
	case CREST_MSG_TASKS_ENDED: {
		static struct crest_msg_tasks_ended m;
		if (!conn->sub)
			break;
		memcpy(&m, payload, sizeof(m));
		coord_ended_from_sub(c, conn, &m);
		return;
	}
	case CREST_MSG_TASK_ENDED: {
		struct crest_msg_task_ended m;
		if (conn->kind == CONN_PROC || conn->tcp)
			break;
		memcpy(&m, payload, sizeof(m));
		conn->kind = CONN_CLIENT;
		if (m.status < 0 || m.status > 0xffff) {
			pr_warn("TASK_ENDED for task %" PRIu32 " with status %" PRId32 ", which is no wait status; ignored",
				m.rank, m.status);
			return;
		}
		coord_ended_add(c, m.rank, m.status, "the Slurm plugin");
		return;
	}
	case CREST_MSG_ENDPOINTS: {
		static struct crest_msg_endpoints m;
		if (conn->kind != CONN_PROC)
			break;
		memcpy(&m, payload, sizeof(m));
		coord_endpoints_add(c, conn, &m);
		return;
	}
	case CREST_MSG_NS_PUBLISH:
	case CREST_MSG_NS_LOOKUP: {
		/* anyone local; over TCP a coordinator that proved the secret,
		 * before its HELLO too (its node's tasks are restarting) */
		struct crest_msg_ns m;
		if (conn->tcp && conn->kind != CONN_NEW && !conn->sub)
			break;
		memcpy(&m, payload, sizeof(m));
		coord_ns_request(c, conn, type, &m);
		return;
	}
	case CREST_MSG_CKPT_REQUEST: {
		struct crest_msg_request r;
		if (conn->kind == CONN_PROC || conn->tcp)
			break;
		memcpy(&r, payload, sizeof(r));
		conn->kind = CONN_CLIENT;
		coord_ckpt_request(c, conn, &r);
		return;
	}
	case CREST_MSG_STATUS_REQUEST:
		if (conn->tcp)
			break;
		if (conn->kind == CONN_NEW)
			conn->kind = CONN_CLIENT;
		on_status(c, conn);
		return;
	case CREST_MSG_SHUTDOWN:
		if (conn->kind == CONN_PROC || conn->tcp)
			break;
		pr_info("SHUTDOWN requested by pid %d: stopping, the application keeps running", (int)conn->pid);
		coord_ended_shutdown(c);
		return;
	default:
		break;
	}
	pr_err("pid %d sent %s, which it may not send; dropping the connection",
	       (int)conn->pid, crest_msg_type_name(type));
	coord_conn_drop(c, conn);
}

static void read_conn(struct coord *c, struct conn *conn)
{
	for (;;) {
		ssize_t n = read(conn->fd, conn->in + conn->inlen, sizeof(conn->in) - conn->inlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			if (n < 0)
				pr_info("read from pid %d: %s", (int)conn->pid, strerrordesc_np(errno));
			if (conn->inlen)
				pr_warn("pid %d closed the connection in the middle of a frame", (int)conn->pid);
			coord_conn_drop(c, conn);
			return;
		}
		conn->inlen += n;
		while (!conn->dead) {
			size_t flen;
			int rc = crest_frame_check(conn->in, conn->inlen, &flen);
			if (rc == -EAGAIN) {
				if (flen > sizeof(conn->in))
					rc = -EMSGSIZE;
				else
					break;
			}
			if (rc) {
				pr_err("malformed frame from pid %d (%s); dropping the connection",
				       (int)conn->pid, rc == -EPROTO ? "bad magic, version or type" :
				       rc == -EMSGSIZE ? "too long" : "bad checksum or payload size");
				coord_conn_drop(c, conn);
				return;
			}
			struct crest_frame hdr;
			memcpy(&hdr, conn->in, sizeof(hdr));
			on_message(c, conn, &hdr, conn->in + sizeof(hdr));
			memmove(conn->in, conn->in + flen, conn->inlen - flen);
			conn->inlen -= flen;
		}
		if (conn->dead)
			return;
	}
}

/* closes the dead connections: those coord_conn_drop counted, and once a
 * second any marked dead by hand */
static void reap(struct coord *c)
{
	struct conn **pp = &c->conns;
	long long now = coord_now_ms();
	bool subs_left = false;

	if (!c->ndead && now < c->sweep_ms)
		return;
	c->ndead = 0;
	c->sweep_ms = now + SWEEP_MS;
	while (*pp) {
		struct conn *conn = *pp;
		if (!conn->dead) {
			pp = &conn->next;
			continue;
		}
		*pp = conn->next;
		if (conn->sub)
			pr_info("the sub-coordinator of node %u (%s) disconnected", conn->node, conn->peer);
		else if (conn->kind == CONN_PROC)
			pr_info("process %d (rank %u) disconnected", (int)conn->pid, conn->rank);
		if (conn == c->parent)
			coord_tree_parent_gone(c);
		coord_ckpt_gone(c, conn);
		coord_ns_gone(c, conn);
		if (conn->kind == CONN_PROC) {
			c->nprocs--;
			c->nsubs -= conn->sub;
			c->ntasks -= conn->task;
			if (conn->sub && !conn->sub_gone)
				c->nsubnodes -= (unsigned)conn->nsubtree;
			subs_left |= conn->sub;
		}
		if (c->efd >= 0)
			epoll_ctl(c->efd, EPOLL_CTL_DEL, conn->fd, NULL);
		close(conn->fd);
		free(conn->imgs);
		free(conn->ended);
		free(conn->subtree);
		free(conn->subtree_in);
		free(conn);
	}
	if (subs_left)
		coord_tree_subtree_changed(c);
}

/* The socket file, if it is still ours: a coordinator started after this
 * one decided to exit may already listen at the same path. */
void coord_unlink_sock(struct coord *c)
{
	struct stat st;
	if (c->sock[0] && stat(c->sock, &st) == 0 && st.st_ino == c->sock_ino)
		unlink(c->sock);
}

void coord_close_all(struct coord *c)
{
	c->parent = NULL;	/* leaving, not lost */
	for (struct conn *p = c->conns; p; p = p->next)
		coord_conn_drop(c, p);
	reap(c);
	if (c->efd >= 0) {
		close(c->efd);
		c->efd = -1;
	}
	if (c->lfd >= 0) {
		close(c->lfd);
		c->lfd = -1;
	}
	if (c->tfd >= 0) {
		close(c->tfd);
		c->tfd = -1;
	}
	coord_ns_free(c);
	coord_endpoints_clear(c);
	free(c->ended);
	free(c->done_ended);
	free(c->done_nodes);
	c->done_ended = NULL;
	c->done_nodes = NULL;
	c->ndone_ended = c->ndone_nodes = 0;
	c->ended = NULL;
	c->nended = 0;
}

static bool should_exit(struct coord *c)
{
	if (c->ck.step != CK_IDLE)
		return false;
	/* a root serving other nodes outlives its members (they come back at a
	 * restart) until nobody was connected for a while; so does the
	 * coordinator of a Slurm step, which the plugin stops at the step's end
	 * (its tasks exec, or restart, and connect again).  A sub-coordinator
	 * that is a parent too ends as a sub-coordinator does: when its
	 * processes and the sub-coordinators below it are gone. */
	if ((c->o.listen[0] && !coord_is_sub(c)) || c->o.tasks) {
		/* a node whose tasks all ended stays until the plugin stops it
		 * (Slurm ended the step on the node: coord_ended_node_done) */
		if (coord_nprocs(c) || coord_ns_busy(c) || (c->o.tasks && c->nended >= c->o.tasks))
			c->last_member_ms = coord_now_ms();
		return coord_now_ms() - (c->last_member_ms ? c->last_member_ms : c->start_ms) > COORD_IDLE_EXIT_MS;
	}
	/* the process it was started for may not have registered yet while its
	 * first children came and went (a shell's $(...) before anything else) */
	if (c->any_connected)
		return coord_nprocs(c) == 0 && !(c->o.watch && ckdir_pid_alive(c->o.watch));
	/* the program it was started for ended (or failed to restart) first */
	if (c->o.watch && !ckdir_pid_alive(c->o.watch))
		return true;
	return coord_now_ms() - c->start_ms > COORD_IDLE_EXIT_MS;
}

/* a coordinator serves as many connections as the hard limit allows (at
 * 64k ranks a node's coordinator has thousands) */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= rl.rlim_max)
		return;
	rlim_t was = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		pr_warn("cannot raise the descriptor limit from %llu to %llu: %s", (unsigned long long)was,
			(unsigned long long)rl.rlim_max, strerrordesc_np(errno));
}

static int watch(struct coord *c, int fd, void *tag, uint32_t events, int op)
{
	struct epoll_event ev = { .events = events, .data.ptr = tag };

	if (fd < 0 || epoll_ctl(c->efd, op, fd, &ev) == 0)
		return 0;
	int rc = -errno;
	pr_perror("epoll_ctl");
	return rc;
}

static int loop_init(struct coord *c)
{
	raise_nofile();
	c->efd = epoll_create1(EPOLL_CLOEXEC);
	if (c->efd < 0) {
		int rc = -errno;
		pr_perror("epoll_create1");
		return rc;
	}
	int rc = watch(c, c->lfd, &tag_unix, EPOLLIN, EPOLL_CTL_ADD);
	if (!rc)
		rc = watch(c, c->tfd, &tag_tcp, EPOLLIN, EPOLL_CTL_ADD);
	for (struct conn *p = c->conns; p && !rc; p = p->next)
		rc = watch(c, p->fd, p, EPOLLIN, EPOLL_CTL_ADD);
	return rc;
}

/* out of descriptors: the listeners leave the set for a while */
static void listeners_rest(struct coord *c, bool rest)
{
	static bool resting;

	if (rest == resting)
		return;
	resting = rest;
	watch(c, c->lfd, &tag_unix, rest ? 0 : EPOLLIN, EPOLL_CTL_MOD);
	watch(c, c->tfd, &tag_tcp, rest ? 0 : EPOLLIN, EPOLL_CTL_MOD);
}

int coord_run(struct coord *c)
{
	struct epoll_event ev[EVENTS_MAX];
	int rc = loop_init(c);

	while (!rc && !coord_stop) {
		listeners_rest(c, coord_now_ms() < c->accept_pause_ms);
		int n = epoll_wait(c->efd, ev, EVENTS_MAX, TICK_MS);
		if (n < 0 && errno != EINTR) {
			rc = -errno;
			pr_perror("epoll_wait");
			break;
		}
		bool take_unix = false, take_tcp = false;
		for (int i = 0; i < n; i++) {
			void *tag = ev[i].data.ptr;
			if (tag == &tag_unix)
				take_unix = true;
			else if (tag == &tag_tcp)
				take_tcp = true;
			else if (!((struct conn *)tag)->dead)	/* freed only by reap, below */
				read_conn(c, tag);
		}
		if (take_unix)
			accept_batch(c, accept_one);
		if (take_tcp)
			accept_batch(c, coord_tree_accept);
		reap(c);
		coord_tree_tick(c);
		coord_ckpt_tick(c);
		coord_ns_tick(c);
		coord_ended_stop_tick(c);
		reap(c);
		if (should_exit(c)) {
			pr_info("%s", c->any_connected ? "every process has disconnected: exiting" :
				"no process connected (the program ended first, or within 120 s): exiting");
			break;
		}
	}
	if (c->ck.step != CK_IDLE)
		coord_ckpt_abort(c, -EINTR, "checkpoint aborted: the coordinator was stopped");
	return rc;
}
