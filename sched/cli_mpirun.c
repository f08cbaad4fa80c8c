/* SPDX-License-Identifier: MIT */
/*
 * crest mpirun, crest rsh: Open MPI's mpirun across the nodes of a Slurm
 * step, as one computation (docs/slurm.md, "MPI").  Run as the step's
 * program, one task per node:
 *
 *     srun -N4 --ntasks-per-node=1 --checkpoint=30m crest mpirun -np 64 ./app
 *
 * An mpirun of several nodes starts its daemons (orted) with an srun of
 * its own: a second step, which crest would checkpoint apart and could not
 * restart.  Here every task listens on TCP and writes "ADDRESS PORT SLOTS
 * TOKEN" to DIR/<host> (DIR = $CREST_STEP_DIR/mpi/<job>.<run>, 0700; host:
 * the short host name, as Open MPI names nodes); task 0 writes
 * DIR/hostfile and runs mpirun without Slurm's variables, with `crest rsh`
 * as its remote shell (OMPI_MCA_plm=rsh, OMPI_MCA_plm_rsh_agent, no tree
 * spawn).  `crest rsh HOST CMD...` asks HOST's task to run CMD (an orted)
 * as its child, the TCP connection being the child's stdin, stdout and
 * stderr, relays them, then asks for the command's exit status and ends
 * with it.  Each orted, its ranks and every connection between the nodes
 * are then processes and sockets of the step: checkpointed together,
 * connected again at restart wherever the nodes are.
 *
 * Each task other than 0 keeps a connection to task 0 (restored with the
 * rest at a restart); it ends when task 0 says "end" on it or the
 * connection ends, once the commands it ran have ended.  Task 0 says end
 * when mpirun has ended, and ends with mpirun's status.
 *
 * On a task's port, one line first (at most CMD_MAX bytes, within
 * LINE_WAIT_MS), starting with the task's token (only the step's user can
 * read DIR):
 *     TOKEN run ID CMD     the connection becomes CMD's stdio
 *     TOKEN status ID      answered "STATUS\n" once command ID has ended
 *     TOKEN hello RANK     (to task 0) the connection of task RANK
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <netdb.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ckdir.h"
#include "cli.h"
#include "proto.h"
#include "tcp_link.h"

#define CMD_MAX		65536
#define LINE_WAIT_MS	10000
#define HOSTS_WAIT_S	120	/* for every task's file, and for task 0's */
#define STATUS_WAIT_MS	5000	/* after "end": for crest rsh to ask its status */
#define MAX_KIDS	64
#define MAX_TASKS	4096
#define TOKEN_LEN	32

extern char **environ;

static int usage_mpirun(FILE *f, int rc)
{
	fprintf(f, "usage: srun -N NODES --ntasks-per-node=1 --checkpoint=... crest mpirun [--slots N] "
		   "[--mpirun PATH] [--] MPIRUN-ARGS...\n\n"
		   "Runs Open MPI's mpirun over the step's nodes as one checkpointed computation: task 0\n"
		   "runs mpirun, whose daemons the other tasks start as their children (crest rsh).\n"
		   "  --slots N      ranks per node in the hostfile (default: the task's CPUs)\n"
		   "  --mpirun PATH  the mpirun to run (default: mpirun from PATH)\n");
	return rc;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* the address other nodes reach this one at: the host name's, unless that
 * is a loopback one (127.0.1.1 in Debian's /etc/hosts), then the first
 * interface's that is up and not loopback */
static int node_address(const char *host, char *out, size_t size)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai = NULL;
	if (!getaddrinfo(host, NULL, &hints, &ai) && ai) {
		struct sockaddr_in *sa = (struct sockaddr_in *)ai->ai_addr;
		bool loop = (ntohl(sa->sin_addr.s_addr) >> 24) == 127;
		if (!loop)
			inet_ntop(AF_INET, &sa->sin_addr, out, (socklen_t)size);
		freeaddrinfo(ai);
		if (!loop)
			return 0;
	}
	struct ifaddrs *ifs, *i;
	if (getifaddrs(&ifs))
		return -1;
	int rc = -1;
	for (i = ifs; i && rc; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP) ||
		    (i->ifa_flags & IFF_LOOPBACK))
			continue;
		inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, out, (socklen_t)size);
		rc = 0;
	}
	freeifaddrs(ifs);
	return rc;
}

static int env_uint(const char *name, unsigned *v)
{
	const char *s = getenv(name);
	char *end;
	if (!s || !*s)
		return -1;
	*v = (unsigned)strtoul(s, &end, 10);
	return *end ? -1 : 0;
}

struct host {
	char addr[64], token[TOKEN_LEN + 1];
	unsigned port, slots;
};

/* DIR/<name>: "ADDRESS PORT SLOTS TOKEN\n" */
static int read_host(const char *dir, const char *name, struct host *h)
{
	char path[PATH_MAX + HOST_NAME_MAX + 2], line[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	int n = fgets(line, sizeof(line), f) ? sscanf(line, "%63s %u %u %32s", h->addr, &h->port, &h->slots, h->token)
					     : 0;
	fclose(f);
	return n == 4 && strlen(h->token) == TOKEN_LEN ? 0 : -EBADMSG;
}

static int connect_host(const struct host *h)
{
	char text[96];
	struct sockaddr_in sa;
	snprintf(text, sizeof(text), "%s:%u", h->addr, h->port);
	if (crest_tcp_parse(text, &sa))
		return -EINVAL;
	return crest_tcp_connect(&sa, 10000);
}

/* one line from fd, within LINE_WAIT_MS in all; byte by byte: what follows
 * it is not ours.  Its length, or -1 */
static ssize_t read_line(int fd, char *line, size_t size)
{
	long long end = now_ms() + LINE_WAIT_MS;
	size_t len = 0;
	while (len + 1 < size) {
		struct pollfd pf = { fd, POLLIN, 0 };
		long long left = end - now_ms();
		if (left <= 0)
			return -1;
		int r = poll(&pf, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		ssize_t n = read(fd, line + len, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != 1)
			return -1;
		if (line[len] == '\n') {
			line[len] = 0;
			return (ssize_t)len;
		}
		len++;
	}
	return -1;
}

/* the token checked without telling how much of it matched */
static bool token_ok(const char *given, const char *mine)
{
	unsigned char diff = 0;
	for (int i = 0; i < TOKEN_LEN; i++)
		diff |= (unsigned char)(given[i] ^ mine[i]);
	return !diff && given[TOKEN_LEN] == ' ';
}

static int make_token(char out[TOKEN_LEN + 1])
{
	unsigned char r[TOKEN_LEN / 2];
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -1;
	for (int i = 0; i < TOKEN_LEN / 2; i++)
		sprintf(out + 2 * i, "%02x", r[i]);
	return 0;
}

/* DIR/task.<i> names task i's host; up to HOSTS_WAIT_S for those of `want` */
static int wait_task_host(const char *dir, unsigned i, char *name, size_t size)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/task.%u", dir, i);
	for (long long end = now_ms() + HOSTS_WAIT_S * 1000LL; now_ms() < end; sleep_ms(100)) {
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		bool ok = fgets(name, (int)size, f) != NULL;
		fclose(f);
		name[strcspn(name, "\n")] = 0;
		if (ok && name[0])
			return 0;
	}
	return -ETIMEDOUT;
}

/* "HOST slots=N", task by task, task 0's node first */
static int write_hostfile(const char *dir, unsigned ntasks, char *why, size_t size)
{
	char path[PATH_MAX + 16], name[HOST_NAME_MAX + 2];
	struct host h;
	snprintf(path, sizeof(path), "%s/hostfile", dir);
	FILE *f = fopen(path, "we");
	if (!f) {
		snprintf(why, size, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	for (unsigned i = 0; i < ntasks; i++) {
		if (wait_task_host(dir, i, name, sizeof(name)) || read_host(dir, name, &h)) {
			snprintf(why, size, "task %u did not write its address to %s within %d s (did it start?)", i,
				 dir, HOSTS_WAIT_S);
			fclose(f);
			return -1;
		}
		fprintf(f, "%s slots=%u\n", name, h.slots);
	}
	if (fclose(f)) {
		snprintf(why, size, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* the variables that start with prefix, but PMIX_MCA_* (settings of the
 * PMIx library, which mpirun's own server honours too) */
static void unset_prefixed(const char *prefix)
{
	char name[256];
	for (size_t i = 0; environ[i];) {
		char *e = environ[i];
		size_t n = strcspn(e, "=");
		if (strncmp(e, prefix, strlen(prefix)) || !strncmp(e, "PMIX_MCA_", 9) || n >= sizeof(name)) {
			i++;
			continue;
		}
		memcpy(name, e, n);
		name[n] = 0;
		unsetenv(name);
		if (environ[i] == e)
			i++;	/* not removed: go on */
	}
}

struct kid {
	pid_t pid;		/* 0: ended */
	uint64_t id;
	int status;		/* as crest rsh ends: exit status, or 128 + signal */
	int waiter;		/* a "status" connection waiting for it, or -1 */
};

struct task {
	const char *dir;
	char token[TOKEN_LEN + 1];
	unsigned rank;
	int lfd;
	struct kid kids[MAX_KIDS];
	unsigned nkids;
	int ctl[MAX_TASKS];	/* task 0: the other tasks' connections; others: ctl[0], to task 0 */
	unsigned nctl;
	bool ending;
	long long ending_ms;
	pid_t mpirun;
	int mpirun_status;
	bool mpirun_done;
};

static void answer(int fd, int status)
{
	char text[16];
	int n = snprintf(text, sizeof(text), "%d\n", status);
	crest_write_full(fd, text, (size_t)n);
	close(fd);
}

static void reap(struct task *t)
{
	int st;
	pid_t p;
	while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
		int code = WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
		if (p == t->mpirun) {
			t->mpirun_status = code;
			t->mpirun_done = true;
			continue;
		}
		for (unsigned i = 0; i < t->nkids; i++) {
			struct kid *k = &t->kids[i];
			if (k->pid != p)
				continue;
			k->pid = 0;
			k->status = code;
			if (k->waiter >= 0) {
				answer(k->waiter, code);
				*k = t->kids[--t->nkids];
			}
			break;
		}
	}
}

static unsigned running(const struct task *t)
{
	unsigned n = 0;
	for (unsigned i = 0; i < t->nkids; i++)
		n += t->kids[i].pid != 0;
	return n;
}

static struct kid *kid_of(struct task *t, uint64_t id)
{
	for (unsigned i = 0; i < t->nkids; i++)
		if (t->kids[i].id == id)
			return &t->kids[i];
	return NULL;
}

static void run_command(struct task *t, int c, uint64_t id, const char *cmd)
{
	if (t->nkids == MAX_KIDS || kid_of(t, id)) {
		static const char msg[] = "crest mpirun: too many commands at once on this node, or one run twice\n";
		crest_write_full(c, msg, sizeof(msg) - 1);
		close(c);
		return;
	}
	pid_t p = fork();
	if (p == 0) {
		dup2(c, 0);
		dup2(c, 1);
		dup2(c, 2);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(c);
	if (p < 0)
		return;	/* crest rsh sees the connection end, then no such command: 255 */
	t->kids[t->nkids++] = (struct kid){ .pid = p, .id = id, .waiter = -1 };
}

/* a connection to this task's port */
static void serve(struct task *t)
{
	static char line[CMD_MAX + 1];
	int c = accept4(t->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return;
	ssize_t len = read_line(c, line, sizeof(line));
	if (len < TOKEN_LEN + 1 || !token_ok(line, t->token)) {
		fprintf(stderr, "crest mpirun: a connection to this task's port did not give the step's token "
				"within %d s; closed\n", LINE_WAIT_MS / 1000);
		close(c);
		return;
	}
	const char *req = line + TOKEN_LEN + 1;
	char *end;
	if (!strncmp(req, "run ", 4)) {
		uint64_t id = strtoull(req + 4, &end, 16);
		if (*end == ' ') {
			run_command(t, c, id, end + 1);
			return;
		}
	} else if (!strncmp(req, "status ", 7)) {
		uint64_t id = strtoull(req + 7, &end, 16);
		struct kid *k = *end ? NULL : kid_of(t, id);
		if (!k) {
			answer(c, 255);	/* never started (fork failed) */
		} else if (k->pid) {
			if (k->waiter >= 0)
				close(k->waiter);
			k->waiter = c;
		} else {
			answer(c, k->status);
			*k = t->kids[--t->nkids];
		}
		return;
	} else if (!strncmp(req, "hello ", 6) && t->rank == 0 && t->nctl < MAX_TASKS) {
		t->ctl[t->nctl++] = c;
		return;
	}
	fprintf(stderr, "crest mpirun: a connection to this task's port asked for what it does not do; closed\n");
	close(c);
}

/* task 0: every other task ends once its commands have */
static void tell_end(struct task *t)
{
	for (unsigned i = 0; i < t->nctl; i++) {
		crest_write_full(t->ctl[i], "end\n", 4);
		close(t->ctl[i]);
	}
	t->nctl = 0;
}

/* task RANK > 0: its connection to task 0, kept until the end */
static int hello(struct task *t)
{
	char name[HOST_NAME_MAX + 2], text[TOKEN_LEN + 32];
	struct host h;
	if (wait_task_host(t->dir, 0, name, sizeof(name)) || read_host(t->dir, name, &h)) {
		fprintf(stderr, "crest mpirun: task 0 did not write its address to %s within %d s\n", t->dir,
			HOSTS_WAIT_S);
		return -1;
	}
	int fd = connect_host(&h);
	int n = snprintf(text, sizeof(text), "%s hello %u\n", h.token, t->rank);
	if (fd < 0 || crest_write_full(fd, text, (size_t)n)) {
		fprintf(stderr, "crest mpirun: cannot reach task 0 at %s:%u: %s\n", h.addr, h.port,
			strerrordesc_np(fd < 0 ? -fd : errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	t->ctl[0] = fd;
	t->nctl = 1;
	return 0;
}

static int start_mpirun(struct task *t, const char *mpirun, int argc, char **argv)
{
	struct cli_paths paths;
	char agent[PATH_MAX + 16], file[PATH_MAX + 16];
	if (cli_find_paths(&paths))
		return -1;
	snprintf(agent, sizeof(agent), "%s/crest rsh", paths.bindir);
	snprintf(file, sizeof(file), "%s/hostfile", t->dir);
	char **av = calloc((size_t)argc + 4, sizeof(char *));
	if (!av)
		return -1;
	int n = 0;
	av[n++] = (char *)mpirun;
	av[n++] = "--hostfile";
	av[n++] = file;
	for (int i = 0; i < argc; i++)
		av[n++] = argv[i];
	t->mpirun = fork();
	if (t->mpirun == 0) {
		/* without Slurm's variables (Open MPI would start its daemons
		 * with srun), with crest rsh as its remote shell, run by mpirun
		 * itself for every node (no tree spawn: an orted would run it
		 * without CREST_MPI_HOSTS) */
		unset_prefixed("SLURM_");
		setenv("OMPI_MCA_plm", "rsh", 1);
		setenv("OMPI_MCA_plm_rsh_no_tree_spawn", "1", 1);
		setenv("OMPI_MCA_plm_rsh_agent", agent, 1);
		execvp(mpirun, av);
		fprintf(stderr, "crest mpirun: cannot run %s: %s\n", mpirun, strerror(errno));
		_exit(127);
	}
	free(av);
	return t->mpirun < 0 ? -1 : 0;
}

/* this task's file: listening, with a token */
static int publish(struct task *t, unsigned slots)
{
	char host[HOST_NAME_MAX + 1], addr[64], path[PATH_MAX + HOST_NAME_MAX + 2], text[HOST_NAME_MAX + 128];
	if (gethostname(host, sizeof(host)) || node_address(host, addr, sizeof(addr))) {
		fprintf(stderr, "crest mpirun: this node (%s) has no IPv4 address other nodes can reach\n", host);
		return -1;
	}
	host[strcspn(host, ".")] = 0;	/* the name Open MPI gives the node */
	t->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	if (t->lfd < 0 || bind(t->lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(t->lfd, 64) ||
	    getsockname(t->lfd, (struct sockaddr *)&sa, &sl)) {
		fprintf(stderr, "crest mpirun: cannot listen on TCP: %s\n", strerror(errno));
		return -1;
	}
	if (make_token(t->token)) {
		fprintf(stderr, "crest mpirun: no random token: %s\n", strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", t->dir, host);
	snprintf(text, sizeof(text), "%s %u %u %s\n", addr, (unsigned)ntohs(sa.sin_port), slots, t->token);
	int rc = ckdir_write_atomic(path, text, strlen(text), 0600);
	if (!rc) {
		snprintf(path, sizeof(path), "%s/task.%u", t->dir, t->rank);
		snprintf(text, sizeof(text), "%s\n", host);
		rc = ckdir_write_atomic(path, text, strlen(text), 0600);
	}
	if (rc) {
		fprintf(stderr, "crest mpirun: cannot write %s: %s\n", path, strerrordesc_np(-rc));
		return -1;
	}
	return 0;
}

/* serves the port until this task is done: task 0 when mpirun has ended,
 * another when task 0 said end (or is gone) and its commands ended */
static void serve_until_done(struct task *t)
{
	for (;;) {
		reap(t);
		if (t->rank == 0 && t->mpirun_done)
			return;
		if (t->rank != 0 && t->ending && !running(t) &&
		    (!t->nkids || now_ms() - t->ending_ms > STATUS_WAIT_MS))
			return;
		struct pollfd pf[2] = { { t->lfd, POLLIN, 0 }, { t->rank && t->nctl ? t->ctl[0] : -1, POLLIN, 0 } };
		if (poll(pf, 2, 200) <= 0)
			continue;
		if (pf[0].revents)
			serve(t);
		if (pf[1].revents) {
			char b[16];
			ssize_t n = read(t->ctl[0], b, sizeof(b));
			if (n < 0 && errno == EINTR)
				continue;
			close(t->ctl[0]);	/* "end", or task 0 is gone */
			t->nctl = 0;
			t->ending = true;
			t->ending_ms = now_ms();
		}
	}
}

int cmd_mpirun(int argc, char **argv)
{
	const char *mpirun = "mpirun", *step = getenv("CREST_STEP_DIR");
	unsigned slots = 0, ntasks, nnodes, job, run = 0;
	static struct task t = { .lfd = -1, .mpirun = -1 };
	int a = 1;

	for (; a < argc; a++) {
		if (!strcmp(argv[a], "--")) {
			a++;
			break;
		}
		if (!strcmp(argv[a], "-h") || !strcmp(argv[a], "--help"))
			return usage_mpirun(stdout, 0);
		if (!strcmp(argv[a], "--slots") && a + 1 < argc) {
			char *end;
			unsigned long v = strtoul(argv[++a], &end, 10);
			if (*end || !v || v > 1u << 20 || argv[a][0] == '-') {
				fprintf(stderr, "crest mpirun: --slots %s: expected a number of ranks per node\n", argv[a]);
				return 2;
			}
			slots = (unsigned)v;
		} else if (!strcmp(argv[a], "--mpirun") && a + 1 < argc) {
			mpirun = argv[++a];
		} else {
			break;
		}
	}
	if (a >= argc)
		return usage_mpirun(stderr, 2);
	if (!step || env_uint("SLURM_PROCID", &t.rank) || env_uint("SLURM_NTASKS", &ntasks) ||
	    env_uint("SLURM_NNODES", &nnodes) || env_uint("SLURM_JOB_ID", &job)) {
		fprintf(stderr, "crest mpirun: run it as the program of a Slurm step with --checkpoint (srun -N NODES "
				"--ntasks-per-node=1 --checkpoint=... crest mpirun ...): CREST_STEP_DIR or SLURM_PROCID, "
				"SLURM_NTASKS, SLURM_NNODES, SLURM_JOB_ID are not set\n");
		return 2;
	}
	if (ntasks != nnodes || ntasks > MAX_TASKS) {
		fprintf(stderr, "crest mpirun: the step has %u tasks on %u nodes; it needs one task per node "
				"(srun --ntasks-per-node=1; at most %d): mpirun starts the ranks\n", ntasks, nnodes,
			MAX_TASKS);
		return 2;
	}
	env_uint("SLURM_RESTART_COUNT", &run);
	if (!slots) {
		cpu_set_t set;
		slots = sched_getaffinity(0, sizeof(set), &set) ? 1 : (unsigned)CPU_COUNT(&set);
	}
	static char dir[PATH_MAX];
	if (snprintf(dir, sizeof(dir), "%s/mpi/%u.%u", step, job, run) >= (int)sizeof(dir)) {
		fprintf(stderr, "crest mpirun: CREST_STEP_DIR is too long\n");
		return 1;
	}
	char *slash = strrchr(dir, '/');
	*slash = 0;
	bool made = !mkdir(dir, 0700) || errno == EEXIST;
	*slash = '/';
	if (!made || (mkdir(dir, 0700) && errno != EEXIST)) {
		fprintf(stderr, "crest mpirun: cannot make %s: %s\n", dir, strerror(errno));
		return 1;
	}
	t.dir = dir;
	/* the commands this task runs (orted) find the folder, should they
	 * run crest rsh themselves */
	setenv("CREST_MPI_HOSTS", dir, 1);
	/* not a rank of Slurm's PMI (--mpi=pmix, a site's MpiDefault): mpirun
	 * and the orteds are the PMIx servers of their ranks */
	unset_prefixed("PMIX_");
	unset_prefixed("PMI_");
	unsetenv("SLURM_MPI_TYPE");
	signal(SIGPIPE, SIG_IGN);
	if (publish(&t, slots))
		return 1;
	if (t.rank != 0) {
		if (hello(&t))
			return 1;
		serve_until_done(&t);
		return 0;
	}
	char why[PATH_MAX + 128] = "";
	if (write_hostfile(dir, ntasks, why, sizeof(why)) || start_mpirun(&t, mpirun, argc - a, argv + a)) {
		fprintf(stderr, "crest mpirun: %s\n", why[0] ? why : "cannot start mpirun");
		/* the tasks that said hello end; the others time out waiting */
		for (long long end = now_ms() + 1000; now_ms() < end;) {
			struct pollfd pf = { t.lfd, POLLIN, 0 };
			if (poll(&pf, 1, 100) == 1)
				serve(&t);
		}
		tell_end(&t);
		return 1;
	}
	serve_until_done(&t);
	tell_end(&t);
	/* commands run on this node (mpirun's own: ended with it) */
	for (long long end = now_ms() + STATUS_WAIT_MS; running(&t) && now_ms() < end; sleep_ms(50))
		reap(&t);
	return t.mpirun_status;
}

/* crest rsh [OPTIONS] HOST CMD...: mpirun's remote shell (see above) */
int cmd_rsh(int argc, char **argv)
{
	const char *dir = getenv("CREST_MPI_HOSTS");
	int a = 1;
	signal(SIGPIPE, SIG_IGN);
	while (a < argc && argv[a][0] == '-')
		a++;	/* an ssh option mpirun may add (-x): nothing to do here */
	if (a + 1 >= argc || !dir) {
		fprintf(stderr, "usage: crest rsh HOST COMMAND...  (mpirun's remote shell under crest mpirun, "
				"which sets CREST_MPI_HOSTS)\n");
		return 2;
	}
	char name[HOST_NAME_MAX + 1];
	snprintf(name, sizeof(name), "%s", argv[a++]);
	name[strcspn(name, ".")] = 0;
	struct host h;
	int rc = read_host(dir, name, &h);
	if (rc) {
		fprintf(stderr, "crest rsh: %s/%s: %s (is %s a node of the step?)\n", dir, name, strerrordesc_np(-rc),
			name);
		return 255;
	}
	uint64_t id;
	if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
		return 255;
	static char line[CMD_MAX + 1];
	size_t len = (size_t)snprintf(line, sizeof(line), "%s run %" PRIx64 " ", h.token, id);
	for (int first = 1; a < argc; a++, first = 0) {
		size_t l = strlen(argv[a]);
		if (len + l + 2 > CMD_MAX) {
			fprintf(stderr, "crest rsh: the command is longer than %d bytes\n", CMD_MAX);
			return 255;
		}
		if (!first)
			line[len++] = ' ';
		memcpy(line + len, argv[a], l);
		len += l;
	}
	line[len++] = '\n';
	int fd = connect_host(&h);
	if (fd < 0 || crest_write_full(fd, line, len)) {
		fprintf(stderr, "crest rsh: cannot reach %s's task at %s:%u: %s\n", name, h.addr, h.port,
			strerrordesc_np(fd < 0 ? -fd : errno));
		return 255;	/* as ssh when it cannot connect */
	}
	static char buf[65536];
	struct pollfd pf[2] = { { 0, POLLIN, 0 }, { fd, POLLIN, 0 } };
	for (bool done = false; !done;) {
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 255;
		}
		if (pf[0].revents) {
			ssize_t n = read(0, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0 || crest_write_full(fd, buf, (size_t)n)) {
				shutdown(fd, SHUT_WR);	/* stdin ended: so does the command's */
				pf[0].fd = -1;
			}
		}
		if (pf[1].revents) {
			ssize_t n = read(fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				done = true;	/* the command ended */
			else if (crest_write_full(1, buf, (size_t)n))
				return 255;
		}
	}
	close(fd);
	/* how it ended: asked on a new connection */
	int sfd = connect_host(&h);
	len = (size_t)snprintf(line, sizeof(line), "%s status %" PRIx64 "\n", h.token, id);
	if (sfd < 0 || crest_write_full(sfd, line, len))
		return 0;	/* the task has ended, after its commands */
	char answer_line[16] = "";
	for (size_t got = 0; got + 1 < sizeof(answer_line);) {
		ssize_t n = read(sfd, answer_line + got, sizeof(answer_line) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		answer_line[got] = 0;
		if (strchr(answer_line, '\n'))
			break;
	}
	close(sfd);
	if (!strchr(answer_line, '\n'))
		return 0;	/* ended with its task */
	int status = atoi(answer_line);
	if (status)
		fprintf(stderr, "crest rsh: the command on %s ended with status %d\n", name, status);
	return status;
}
