/* SPDX-License-Identifier: MIT */
/*
 * crest-coord event loop: one poll(2) over the listening socket and every
 * connection.  Frames are read without blocking into a per-connection
 * buffer and cut with crest_frame_check(); a malformed frame drops that
 * connection only.
 */
#define LOG_MODULE "coord"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "log.h"

#define TICK_MS 200

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
	if (listen(fd, 128) < 0) {
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
	unsigned tasks = 0, nodes = 1;

	if (!c->o.tasks && !c->o.nodes)
		return true;
	for (const struct conn *p = c->conns; p; p = p->next) {
		if (p->kind != CONN_PROC || p->dead)
			continue;
		tasks += p->task;
		nodes += p->sub;
	}
	/* always every node: a generation without one could not be restarted
	 * (a node whose tasks ended keeps its sub-coordinator connected);
	 * every task only until the step has started */
	bool nodes_ok = !c->o.nodes || nodes >= c->o.nodes;
	if (c->started) {
		if (!nodes_ok && why)
			snprintf(why, size, "only %u of the step's %u nodes are connected", nodes, c->o.nodes);
		return nodes_ok;
	}
	if (tasks < c->o.tasks || !nodes_ok) {
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
	unsigned n = 0;

	for (const struct conn *p = c->conns; p; p = p->next)
		n += p->kind == CONN_PROC && !p->dead;
	return n;
}

int coord_send(struct coord *c, struct conn *conn, uint16_t type, const void *payload, uint32_t len)
{
	int rc;

	(void)c;
	if (conn->dead)
		return -ECONNRESET;
	rc = crest_frame_send(conn->fd, type, &conn->tx_seq, payload, len);
	if (rc) {
		if (conn->kind == CONN_PROC)
			pr_warn("cannot send %s to process %d: %s", crest_msg_type_name(type),
				(int)conn->pid, strerrordesc_np(-rc));
		else
			pr_info("cannot send %s to a client: %s", crest_msg_type_name(type),
				strerrordesc_np(-rc));
		conn->dead = true;
	}
	return rc;
}

static void accept_one(struct coord *c)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct conn *conn;
	int fd;

	fd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			pr_perror("accept on %s", c->sock);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		pr_perror("SO_PEERCRED");
		close(fd);
		return;
	}
	if (cred.uid != getuid() && cred.uid != 0) {
		pr_warn("refused a connection from pid %d uid %u: only uid %u may use this coordinator",
			(int)cred.pid, (unsigned)cred.uid, (unsigned)getuid());
		close(fd);
		return;
	}
	conn = calloc(1, sizeof(*conn));
	if (!conn) {
		pr_err("out of memory: refused a connection from pid %d", (int)cred.pid);
		close(fd);
		return;
	}
	conn->fd = fd;
	conn->pid = cred.pid;
	conn->next = c->conns;
	c->conns = conn;
	pr_debug("connection from pid %d", (int)cred.pid);
}

static void on_hello(struct coord *c, struct conn *conn, const struct crest_msg_hello *h)
{
	struct crest_msg_welcome w = { 0 };

	if (conn->kind != CONN_NEW) {
		pr_err("pid %d sent HELLO twice; dropping it", (int)conn->pid);
		conn->dead = true;
		return;
	}
	/* over TCP only sub-coordinators, and they come only over TCP */
	if (conn->tcp != !!(h->flags & CREST_HELLO_SUBCOORD) || (conn->tcp && (!h->node || coord_is_sub(c)))) {
		pr_err("%s sent a HELLO it may not send (%s); dropping it", conn->tcp ? conn->peer : "a local process",
		       conn->tcp ? "a sub-coordinator of node >= 1 to the root" : "sub-coordinators connect over TCP");
		conn->dead = true;
		return;
	}
	if (conn->tcp) {
		for (struct conn *o = c->conns; o; o = o->next)
			if (o != conn && o->sub && !o->dead && o->node == h->node) {
				pr_err("%s says it is node %u, which %s serves already; dropping it", conn->peer,
				       h->node, o->peer);
				conn->dead = true;
				return;
			}
		conn->kind = CONN_PROC;
		conn->sub = true;
		conn->node = h->node;
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
		coord_step_started(c, NULL, 0);	/* logs the moment it is complete */
		return;
	}
	if ((pid_t)h->pid != conn->pid)
		pr_info("process says pid %u, kernel says %d: using %u", h->pid, (int)conn->pid, h->pid);
	conn->kind = CONN_PROC;
	conn->pid = (pid_t)h->pid;
	conn->restarted = h->flags & CREST_HELLO_RESTARTED;
	conn->restart_count = h->restart_count;
	conn->vpid = h->vpid ? h->vpid : h->pid;
	conn->ppid = (pid_t)h->ppid;
	memcpy(conn->exe, h->exe, sizeof(conn->exe));
	conn->exe[sizeof(conn->exe) - 1] = 0;
	conn->rank = c->next_rank++;
	conn->task = h->flags & CREST_HELLO_TASK;
	conn->task_rank = h->task ? h->task - 1 : 0;
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
		conn->dead = true;
		return;
	}
	conn->rx_seq = hdr->seq;
	if (conn->kind == CONN_AUTH) {
		coord_tree_auth(c, conn, hdr, payload);
		return;
	}
	if (conn->kind == CONN_PARENT) {
		struct crest_msg_ckpt m;
		if (type == CREST_MSG_WELCOME)
			return;
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
		conn->dead = true;
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
		pr_info("SHUTDOWN requested by pid %d: exiting, the application keeps running", (int)conn->pid);
		coord_stop = 1;
		return;
	default:
		break;
	}
	pr_err("pid %d sent %s, which it may not send; dropping the connection",
	       (int)conn->pid, crest_msg_type_name(type));
	conn->dead = true;
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
			conn->dead = true;
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
				conn->dead = true;
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

static void reap(struct coord *c)
{
	struct conn **pp = &c->conns;

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
		close(conn->fd);
		free(conn->imgs);
		free(conn);
	}
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
		p->dead = true;
	reap(c);
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
}

static bool should_exit(struct coord *c)
{
	if (c->ck.step != CK_IDLE)
		return false;
	/* a root serving other nodes outlives its members (they come back at a
	 * restart) until nobody was connected for a while; so does the
	 * coordinator of a Slurm step, which the plugin stops at the step's end
	 * (its tasks exec, or restart, and connect again) */
	if (c->o.listen[0] || c->o.tasks) {
		if (coord_nprocs(c) || coord_ns_busy(c))
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

int coord_run(struct coord *c)
{
	struct pollfd *pfd = NULL;
	struct conn **map = NULL;
	size_t cap = 0;
	int rc = 0;

	while (!coord_stop) {
		size_t n = 2;
		for (struct conn *p = c->conns; p; p = p->next)
			n++;
		if (n > cap) {
			cap = n * 2;
			free(pfd);
			free(map);
			pfd = calloc(cap, sizeof(*pfd));
			map = calloc(cap, sizeof(*map));
			if (!pfd || !map) {
				pr_err("out of memory in the event loop");
				rc = -ENOMEM;
				goto out_free;
			}
		}
		pfd[0] = (struct pollfd){ .fd = c->lfd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = c->tfd, .events = POLLIN };	/* -1: ignored */
		n = 2;
		for (struct conn *p = c->conns; p; p = p->next) {
			map[n] = p;
			pfd[n++] = (struct pollfd){ .fd = p->fd, .events = POLLIN };
		}
		int r = poll(pfd, n, TICK_MS);
		if (r < 0 && errno != EINTR) {
			rc = -errno;
			pr_perror("poll");
			goto out_free;
		}
		if (r > 0) {
			for (size_t i = 2; i < n; i++)
				if (pfd[i].revents)
					read_conn(c, map[i]);
			if (pfd[0].revents & POLLIN)
				accept_one(c);
			if (pfd[1].revents & POLLIN)
				coord_tree_accept(c);
		}
		reap(c);
		coord_tree_tick(c);
		coord_ckpt_tick(c);
		coord_ns_tick(c);
		reap(c);
		if (should_exit(c)) {
			pr_info("%s", c->any_connected ? "every process has disconnected: exiting" :
				"no process connected (the program ended first, or within 120 s): exiting");
			break;
		}
	}
	if (c->ck.step != CK_IDLE)
		coord_ckpt_abort(c, -EINTR, "checkpoint aborted: the coordinator was stopped");
out_free:
	free(pfd);
	free(map);
	return rc;
}
