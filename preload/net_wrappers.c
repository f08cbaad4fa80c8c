/* SPDX-License-Identifier: MIT */
/*
 * Old addresses of the computation's nodes keep working after a restart
 * elsewhere (docs/architecture.md, "Connections between nodes").
 *
 * A node restarted on another host publishes in the name service, as
 * addr/<its address at the checkpoint>, the address it has now
 * (sched/cli_rewire.c, from gen-N/ENDPOINTS).  connect() to an IPv4
 * address (or an IPv4-mapped IPv6 one) that is not loopback asks the
 * node's coordinator for that key once and connects to the new address
 * instead, same port: a client that learned a server's address (or
 * hostname: it resolves to the old address) before the checkpoint reaches
 * it where it runs now.
 *
 * Nothing is looked up before the computation's first restart (a load and
 * a branch), for loopback, or for other families.  A new address is kept
 * for the rest of this incarnation (64 addresses; a later restart asks
 * again); "not moved" for 1 s, since that node may restart after this one.
 * A coordinator that does not answer within 0.5 s leaves every address as
 * it is for 5 s.  Only the address changes, whatever the port: a service
 * outside the computation on a host that was a node's is reached at that
 * node's new host.
 *
 * The other way round, for programs that check where a connection comes
 * from or bind to their own address (Open MPI's TCP transport does both):
 * bind() to an address this host does not have (EADDRNOTAVAIL) after a
 * restart binds to where the node that had it is now; accept(), accept4()
 * and getpeername() give the address a peer's node had at the checkpoint
 * (was/<address now>, which the root adds for each addr/ key) instead of
 * the one it has now.
 *
 * Datagrams alike: sendto() and sendmsg() to a node's old address go to
 * where it is now; recvfrom() and recvmsg() give a sender's address as its
 * node had it at the checkpoint.
 *
 * sendmmsg() and recvmmsg() as sendmsg() and recvmsg(), message by message.
 *
 * Not covered: getsockname (a socket bound to the new
 * address says so), raw system calls, ports that changed (a listener
 * whose port was taken on the new host).
 */
#define LOG_MODULE "net"
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ckdir.h"
#include "created_record.h"
#include "crest.h"
#include "log.h"
#include "proto.h"
#include "rawsys.h"

#define EXPORT __attribute__((visibility("default")))
#define CACHE_MAX	64
#define LOOKUP_MS	500
#define NOT_MOVED_MS	1000	/* "not published": ask again after this (its node may restart later) */
#define NO_ANSWER_MS	5000	/* no coordinator answer: leave addresses alone this long */

static __typeof__(connect) *real_connect;
static __typeof__(bind) *real_bind;
static __typeof__(getpeername) *real_getpeername;
static __typeof__(sendto) *real_sendto;
static __typeof__(recvfrom) *real_recvfrom;
static __typeof__(sendmsg) *real_sendmsg;
static __typeof__(recvmsg) *real_recvmsg;
static __typeof__(sendmmsg) *real_sendmmsg;
static __typeof__(recvmmsg) *real_recvmmsg;

/* resolved when libcrest is loaded: libcrest's own sendmsg/recvmsg
 * (fds_share.c) may run while the other threads are stopped, one of them
 * maybe inside the dynamic loader, whose lock dlsym takes */
__attribute__((constructor)) static void net_wrappers_init(void)
{
	real_connect = (__typeof__(connect) *)dlsym(RTLD_NEXT, "connect");
	real_bind = (__typeof__(bind) *)dlsym(RTLD_NEXT, "bind");
	real_getpeername = (__typeof__(getpeername) *)dlsym(RTLD_NEXT, "getpeername");
	real_sendto = (__typeof__(sendto) *)dlsym(RTLD_NEXT, "sendto");
	real_recvfrom = (__typeof__(recvfrom) *)dlsym(RTLD_NEXT, "recvfrom");
	real_sendmsg = (__typeof__(sendmsg) *)dlsym(RTLD_NEXT, "sendmsg");
	real_recvmsg = (__typeof__(recvmsg) *)dlsym(RTLD_NEXT, "recvmsg");
	real_sendmmsg = (__typeof__(sendmmsg) *)dlsym(RTLD_NEXT, "sendmmsg");
	real_recvmmsg = (__typeof__(recvmmsg) *)dlsym(RTLD_NEXT, "recvmmsg");
}

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint32_t incarnation;		/* restart count it was asked in */
	char kind;			/* 'a': addr/<old> (now: where it is); 'w': was/<old> (now: what it was) */
	struct in_addr old, now;	/* now == old: not moved, or not known */
	uint64_t until_ns;		/* 0: for good; else ask again after */
} cache[CACHE_MAX];
static unsigned ncache;
static uint64_t no_answer_until_ns;	/* the coordinator did not answer: until then, ask nobody */

static uint32_t incarnation(void)
{
	static int env_count = -1;	/* CREST_RESTART_COUNT, read once */
	if (crest.restart_count)
		return crest.restart_count;
	if (__builtin_expect(env_count < 0, 0)) {
		const char *e = crest_getenv("CREST_RESTART_COUNT");	/* a program exec'ed after a restart */
		env_count = e ? (int)strtoul(e, NULL, 10) : 0;
	}
	return (uint32_t)env_count;
}

/* <kind>/<old> from the coordinator (addr/ or was/): 1 with *now, 0 not
 * there, < 0 no answer */
static int ask(char kind, struct in_addr old, struct in_addr *now)
{
	static __thread unsigned char buf[1024];
	struct crest_msg_ns m = { .id = 1 };
	struct crest_frame hdr;
	char ip[INET_ADDRSTRLEN];
	uint32_t seq = 0;

	/* its connect() is ours again: AF_UNIX goes straight through */
	int fd = ckdir_coord_connect(crest.dir);
	if (fd < 0)
		return fd;
	inet_ntop(AF_INET, &old, ip, sizeof(ip));
	snprintf(m.key, sizeof(m.key), "%s/%s", kind == 'w' ? "was" : "addr", ip);
	int rc = crest_frame_send(fd, CREST_MSG_NS_LOOKUP, &seq, &m, sizeof(m));
	if (!rc)
		rc = crest_frame_recv(fd, &hdr, buf, sizeof(buf), LOOKUP_MS);
	close(fd);
	if (rc < 0)
		return rc;
	if (rc != (int)sizeof(m) || hdr.type != CREST_MSG_NS_REPLY)
		return -EPROTO;
	memcpy(&m, buf, sizeof(m));
	if (m.error)
		return m.error == -ENOENT ? 0 : m.error;
	m.value[sizeof(m.value) - 1] = 0;
	char *colon = strrchr(m.value, ':');
	if (colon)
		*colon = 0;
	return inet_pton(AF_INET, m.value, now) == 1 ? 1 : -EBADMSG;
}

/*
 * Where the node that had `old` at the checkpoint is now (kind 'a'), or
 * what the node at `old` now had at the checkpoint (kind 'w'); old itself
 * if nothing is known.  The cache lock is only tried: a connect() in a
 * child forked while another thread held it, or in a signal handler, asks
 * without the cache.
 */
static struct in_addr lookup(char kind, struct in_addr old)
{
	uint32_t inc = incarnation();
	struct in_addr now = old;
	uint64_t t = crest_now_ns();

	if (t < __atomic_load_n(&no_answer_until_ns, __ATOMIC_RELAXED))
		return old;
	bool locked = !pthread_mutex_trylock(&cache_lock);
	for (unsigned i = 0; locked && i < ncache; i++)
		if (cache[i].incarnation == inc && cache[i].kind == kind && cache[i].old.s_addr == old.s_addr &&
		    (!cache[i].until_ns || t < cache[i].until_ns)) {
			now = cache[i].now;
			pthread_mutex_unlock(&cache_lock);
			return now;
		}
	if (locked)
		pthread_mutex_unlock(&cache_lock);
	int rc = ask(kind, old, &now);
	if (rc <= 0)
		now = old;
	if (rc < 0) {
		pr_debug("no name service answer for a connection: %s", strerrordesc_np(-rc));
		__atomic_store_n(&no_answer_until_ns, t + NO_ANSWER_MS * 1000000ull, __ATOMIC_RELAXED);
		return old;
	}
	if (pthread_mutex_trylock(&cache_lock))
		return now;
	static unsigned next;
	unsigned slot = CACHE_MAX;
	for (unsigned i = 0; i < ncache && slot == CACHE_MAX; i++)
		if (cache[i].incarnation != inc)
			slot = i;	/* an older incarnation's: reuse */
	if (slot == CACHE_MAX)
		slot = ncache < CACHE_MAX ? ncache++ : next++ % CACHE_MAX;
	cache[slot].incarnation = inc;
	cache[slot].kind = kind;
	cache[slot].old = old;
	cache[slot].now = now;
	cache[slot].until_ns = rc ? 0 : t + NOT_MOVED_MS * 1000000ull;
	pthread_mutex_unlock(&cache_lock);
	return now;
}

/* the IPv4 address in addr (AF_INET, or IPv4-mapped AF_INET6), copied
 * into *ss, that another node may have had: not loopback, not any; NULL
 * if there is none */
static struct in_addr *node_addr_in(const struct sockaddr *addr, socklen_t len, struct sockaddr_storage *ss)
{
	struct in_addr *ip;
	if (!addr)
		return NULL;
	if (addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		memcpy(ss, addr, sizeof(struct sockaddr_in));
		ip = &((struct sockaddr_in *)ss)->sin_addr;
	} else if (addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6) &&
		   IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)addr)->sin6_addr)) {
		memcpy(ss, addr, sizeof(struct sockaddr_in6));
		ip = (struct in_addr *)&((struct sockaddr_in6 *)ss)->sin6_addr.s6_addr[12];
	} else {
		return NULL;
	}
	if ((ntohl(ip->s_addr) >> 24) == 127 || ip->s_addr == htonl(INADDR_ANY))
		return NULL;
	return ip;
}

/* After a restart, an address (connect, bind, sendto, sendmsg) that was a
 * node's at the checkpoint, moved with that node into *ss (same port);
 * NULL to use the program's as it is */
static const struct sockaddr *node_moved(const struct sockaddr *to, socklen_t len, struct sockaddr_storage *ss)
{
	if (__builtin_expect(!crest.active || !to || !incarnation(), 1))
		return NULL;
	struct in_addr *ip = node_addr_in(to, len, ss);
	if (!ip)
		return NULL;
	int saved = errno;
	struct in_addr now = lookup('a', *ip);
	errno = saved;
	if (now.s_addr == ip->s_addr)
		return NULL;
	*ip = now;
	return (const struct sockaddr *)ss;
}

/* Before the constructor ran (another library's constructor, or
 * libcrest's checkpoint thread sending its first frames through
 * crest_frame_send while the loader still runs constructors), the system
 * call itself: no dlsym there. */
#define NR_sendto	44
#define NR_recvfrom	45
#define NR_sendmsg	46
#define NR_recvmsg	47
#define CALL_SENDTO(fd, b, n, f, a, l) \
	(real_sendto ? real_sendto(fd, b, n, f, a, l) : crest_sys_ret(raw_syscall6(NR_sendto, fd, (long)(b), (long)(n), f, (long)(a), l)))
#define CALL_RECVFROM(fd, b, n, f, a, l) \
	(real_recvfrom ? real_recvfrom(fd, b, n, f, a, l) : crest_sys_ret(raw_syscall6(NR_recvfrom, fd, (long)(b), (long)(n), f, (long)(a), (long)(l))))
#define NR_recvmmsg	299
#define NR_sendmmsg	307
#define CALL_SENDMMSG(fd, v, n, f) \
	(real_sendmmsg ? real_sendmmsg(fd, v, n, f) : (int)crest_sys_ret(raw_syscall4(NR_sendmmsg, fd, v, n, f)))
#define CALL_RECVMMSG(fd, v, n, f, t) \
	(real_recvmmsg ? real_recvmmsg(fd, v, n, f, t) : (int)crest_sys_ret(raw_syscall5(NR_recvmmsg, fd, v, n, f, t)))
#define CALL_SENDMSG(fd, m, f) (real_sendmsg ? real_sendmsg(fd, m, f) : crest_sys_ret(raw_syscall3(NR_sendmsg, fd, m, f)))
#define CALL_RECVMSG(fd, m, f) (real_recvmsg ? real_recvmsg(fd, m, f) : crest_sys_ret(raw_syscall3(NR_recvmsg, fd, m, f)))

EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	if (__builtin_expect(!real_connect, 0))
		real_connect = (__typeof__(connect) *)dlsym(RTLD_NEXT, "connect");
	struct sockaddr_storage ss;
	const struct sockaddr *now = node_moved(addr, len, &ss);
	return real_connect(fd, now ? now : addr, len);
}

/* A peer's address (from accept or getpeername, `cap` bytes of room, `len`
 * given by the kernel), after a restart: the one its node had at the
 * checkpoint, which the program may know it by. */
void crest_peer_as_before(struct sockaddr *addr, socklen_t cap, socklen_t len)
{
	if (__builtin_expect(!crest.active || !addr || !incarnation(), 1) || len > cap)
		return;
	struct sockaddr_storage ss;
	struct in_addr *ip = node_addr_in(addr, len, &ss);
	if (!ip)
		return;
	int saved = errno;
	struct in_addr then = lookup('w', *ip);
	errno = saved;
	if (then.s_addr == ip->s_addr)
		return;
	*ip = then;
	memcpy(addr, &ss, len);
}

EXPORT int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	if (__builtin_expect(!real_getpeername, 0))
		real_getpeername = (__typeof__(getpeername) *)dlsym(RTLD_NEXT, "getpeername");
	socklen_t cap = len ? *len : 0;
	int r = real_getpeername(fd, addr, len);
	if (!r)
		crest_peer_as_before(addr, cap, *len);
	return r;
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *to, socklen_t len)
{
	struct sockaddr_storage ss;
	const struct sockaddr *now = node_moved(to, len, &ss);
	return CALL_SENDTO(fd, buf, n, flags, now ? now : to, len);
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *from, socklen_t *len)
{
	socklen_t cap = len ? *len : 0;
	ssize_t r = CALL_RECVFROM(fd, buf, n, flags, from, len);
	if (r >= 0 && from && len)
		crest_peer_as_before(from, cap, *len);
	return r;
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct sockaddr_storage ss;
	const struct sockaddr *now = msg ? node_moved(msg->msg_name, msg->msg_namelen, &ss) : NULL;
	if (!now)
		return CALL_SENDMSG(fd, msg, flags);
	struct msghdr m = *msg;
	m.msg_name = (void *)now;
	return CALL_SENDMSG(fd, &m, flags);
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	socklen_t cap = msg ? msg->msg_namelen : 0;
	ssize_t r = CALL_RECVMSG(fd, msg, flags);
	if (r >= 0 && msg && msg->msg_name)
		crest_peer_as_before(msg->msg_name, cap, msg->msg_namelen);
	return r;
}

#define MMSG_CHUNK	16	/* messages sent at a time when addresses moved */
#define MMSG_MAX	1024	/* UIO_MAXIOV: the kernel takes no more at once */

/* As sendmsg, each message: when one goes to a node's old address, the
 * messages go MMSG_CHUNK at a time, each with where it goes now */
EXPORT int sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
{
	struct sockaddr_storage ss[MMSG_CHUNK];
	struct mmsghdr c[MMSG_CHUNK];
	unsigned int i = 0, sent = 0;
	if (v && n > MMSG_MAX)
		n = MMSG_MAX;
	while (v && i < n && !node_moved(v[i].msg_hdr.msg_name, v[i].msg_hdr.msg_namelen, &ss[0]))
		i++;
	if (!v || i == n)
		return CALL_SENDMMSG(fd, v, n, flags);
	while (sent < n) {
		unsigned int k = n - sent < MMSG_CHUNK ? n - sent : MMSG_CHUNK;
		for (unsigned int j = 0; j < k; j++) {
			c[j] = v[sent + j];
			const struct sockaddr *now = node_moved(c[j].msg_hdr.msg_name, c[j].msg_hdr.msg_namelen, &ss[j]);
			if (now)
				c[j].msg_hdr.msg_name = (void *)now;
		}
		int r = CALL_SENDMMSG(fd, c, k, flags);
		if (r < 0)
			return sent ? (int)sent : -1;	/* as the kernel: the count, if any went */
		for (int j = 0; j < r; j++)
			v[sent + j].msg_len = c[j].msg_len;
		sent += (unsigned int)r;
		if ((unsigned int)r < k)
			break;
	}
	return (int)sent;
}

/* As recvmsg, each message received: the sender's address as its node
 * had it at the checkpoint */
EXPORT int recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags, struct timespec *timeout)
{
	if (__builtin_expect(!crest.active || !v || !incarnation(), 1))
		return CALL_RECVMMSG(fd, v, n, flags, timeout);	/* nothing moved yet */
	socklen_t cap[MMSG_MAX];
	if (n > MMSG_MAX)
		n = MMSG_MAX;
	for (unsigned int i = 0; i < n; i++)
		cap[i] = v[i].msg_hdr.msg_namelen;
	int r = CALL_RECVMMSG(fd, v, n, flags, timeout);
	for (int i = 0; i < r; i++)
		if (v[i].msg_hdr.msg_name)
			crest_peer_as_before(v[i].msg_hdr.msg_name, cap[i], v[i].msg_hdr.msg_namelen);
	return r;
}

/* getpeername as the kernel answers it (libcrest's own use: the socket
 * records of a checkpoint, taken while the threads are stopped: a raw
 * system call, no dlsym) */
int crest_getpeername_real(int fd, struct sockaddr *addr, socklen_t *len)
{
	return (int)crest_sys_ret(raw_syscall3(NR_getpeername, fd, addr, len));
}

/* An AF_UNIX socket bound to a path makes a file there: recorded as made
 * (created_record.c), so that a restart from before the bind removes it
 * and the restored program's own bind does not fail with EADDRINUSE. */
EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	if (__builtin_expect(!real_bind, 0))
		real_bind = (__typeof__(bind) *)dlsym(RTLD_NEXT, "bind");
	const size_t off = offsetof(struct sockaddr_un, sun_path);
	if (addr && addr->sa_family != AF_UNIX) {
		int r = real_bind(fd, addr, len);
		if (__builtin_expect(r == 0 || errno != EADDRNOTAVAIL, 1))
			return r;
		/* an address this host has not got: the node that had it at the
		 * checkpoint is here now, at its new address */
		struct sockaddr_storage ss;
		const struct sockaddr *now = node_moved(addr, len, &ss);
		if (!now) {
			errno = EADDRNOTAVAIL;
			return -1;
		}
		return real_bind(fd, now, len);
	}
	if (!addr || len <= off || len > sizeof(struct sockaddr_un) ||
	    !((const struct sockaddr_un *)addr)->sun_path[0] || !crest_created_want())
		return real_bind(fd, addr, len);
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
	memcpy(path, ((const struct sockaddr_un *)addr)->sun_path, len - off);
	path[len - off] = 0;
	int held = crest_ckpt_hold();
	int r = real_bind(fd, addr, len);
	if (!r)
		crest_created_at(AT_FDCWD, path, 'f', false);
	crest_ckpt_release(held);
	return r;
}
