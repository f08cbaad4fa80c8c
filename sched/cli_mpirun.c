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
 * restart.  Here every task listens on TCP and writes "ADDRESS PORT SLOTS"
 * to DIR/<hostname>, DIR being $CREST_STEP_DIR/mpi/<job>.<run>; task 0
 * writes DIR/hostfile and runs mpirun without Slurm's variables, with
 * `crest rsh` as its remote shell (OMPI_MCA_plm=rsh,
 * OMPI_MCA_plm_rsh_agent).  `crest rsh HOST CMD...` asks HOST's task to run
 * CMD (an orted) as its child, the TCP connection being the child's stdin,
 * stdout and stderr, and relays them.  Each orted, its ranks and every
 * connection between the nodes are then processes and sockets of the step:
 * checkpointed together, connected again at restart wherever the nodes
 * are.  When mpirun ends, task 0 tells the others to end and ends with
 * mpirun's status; a task ends too once the commands it ran have ended.
 *
 * On a task's port: one line, the command (at most CMD_MAX bytes), after
 * which the connection is the command's stdio; or END_LINE: end when the
 * commands run have ended.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ckdir.h"
#include "cli.h"
#include "tcp_link.h"

#define CMD_MAX		65536
#define END_LINE	"crest-mpirun-end"
#define HOSTS_WAIT_S	120	/* for every task's file */
#define MAX_KIDS	64

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

/* DIR/<host>: "ADDRESS PORT SLOTS\n" */
static int read_host(const char *dir, const char *host, char *addr, size_t size, unsigned *port, unsigned *slots)
{
	char path[PATH_MAX], line[256], a[64];
	snprintf(path, sizeof(path), "%s/%s", dir, host);
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	int n = fgets(line, sizeof(line), f) ? sscanf(line, "%63s %u %u", a, port, slots) : 0;
	fclose(f);
	if (n != 3)
		return -EBADMSG;
	snprintf(addr, size, "%s", a);
	return 0;
}

/* quiet: a task that ended already is no news */
static int connect_host(const char *dir, const char *host, bool quiet)
{
	char addr[64], text[96];
	unsigned port, slots;
	struct sockaddr_in sa;
	int rc = read_host(dir, host, addr, sizeof(addr), &port, &slots);
	if (rc) {
		fprintf(stderr, "crest rsh: %s/%s: %s (is %s a node of the step?)\n", dir, host, strerrordesc_np(-rc),
			host);
		return rc;
	}
	snprintf(text, sizeof(text), "%s:%u", addr, port);
	if (crest_tcp_parse(text, &sa))
		return -EINVAL;
	int fd = crest_tcp_connect(&sa, 10000);
	if (fd < 0 && !quiet)
		fprintf(stderr, "crest rsh: cannot connect to %s's task at %s: %s\n", host, text,
			strerrordesc_np(-fd));
	return fd;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* the hostfile, once every task wrote its file: "HOST slots=N", task 0's
 * first; the hosts in order of their task (SLURM_PROCID) */
static int write_hostfile(const char *dir, char **hosts, unsigned n)
{
	char path[PATH_MAX + 16], addr[64];
	unsigned port, slots;
	snprintf(path, sizeof(path), "%s/hostfile", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	for (unsigned i = 0; i < n; i++) {
		if (read_host(dir, hosts[i], addr, sizeof(addr), &port, &slots)) {
			fclose(f);
			return -EBADMSG;
		}
		fprintf(f, "%s slots=%u\n", hosts[i], slots);
	}
	return fclose(f) ? -errno : 0;
}

/* DIR/task.<i> names task i's host: task 0 waits for all of them */
static int wait_hosts(const char *dir, unsigned ntasks, char **hosts)
{
	for (int tries = 0; tries < HOSTS_WAIT_S * 10; tries++) {
		unsigned got = 0;
		for (unsigned i = 0; i < ntasks; i++) {
			char path[PATH_MAX + 32], line[HOST_NAME_MAX + 2] = "";
			snprintf(path, sizeof(path), "%s/task.%u", dir, i);
			FILE *f = fopen(path, "r");
			if (!f)
				break;
			bool ok = fgets(line, sizeof(line), f) != NULL;
			fclose(f);
			line[strcspn(line, "\n")] = 0;
			if (!ok || !line[0])
				break;
			free(hosts[i]);
			hosts[i] = strdup(line);
			got++;
		}
		if (got == ntasks)
			return 0;
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

static int write_file(const char *path, const char *text)
{
	return ckdir_write_atomic(path, text, strlen(text), 0600);
}

/* mpirun's environment: the task's without Slurm's variables (Open MPI
 * would start its daemons with srun), with crest rsh as its remote shell */
static char **mpirun_env(const char *agent, const char *dir)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 4, sizeof(char *));
	if (!env)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "SLURM_", 6) && strncmp(environ[i], "OMPI_MCA_plm", 12))
			env[k++] = environ[i];
	if (asprintf(&env[k++], "OMPI_MCA_plm=rsh") < 0 || asprintf(&env[k++], "OMPI_MCA_plm_rsh_agent=%s", agent) < 0 ||
	    asprintf(&env[k++], "CREST_MPI_HOSTS=%s", dir) < 0)
		return NULL;
	return env;
}

struct kids {
	pid_t pid[MAX_KIDS];
	unsigned n, ran;
};

static void reap(struct kids *k, pid_t mpirun, int *mpirun_status, bool *mpirun_done)
{
	int st;
	pid_t p;
	while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
		if (p == mpirun) {
			*mpirun_status = st;
			*mpirun_done = true;
			continue;
		}
		for (unsigned i = 0; i < k->n; i++)
			if (k->pid[i] == p) {
				k->pid[i] = k->pid[--k->n];
				break;
			}
	}
}

/* one connection to this task's port: a command to run, or END_LINE */
static void serve(int lfd, struct kids *k, bool *ending)
{
	static char line[CMD_MAX + 1];
	int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return;
	struct timeval tv = { 10, 0 };
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	size_t len = 0;
	while (len < CMD_MAX) {
		ssize_t n = read(c, line + len, 1);	/* byte by byte: what follows is the command's */
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || line[len] == '\n')
			break;
		len++;
	}
	if (len == CMD_MAX || len == 0 || line[len] != '\n') {
		fprintf(stderr, "crest mpirun: a connection to this task sent no command line; closed\n");
		close(c);
		return;
	}
	line[len] = 0;
	if (!strcmp(line, END_LINE)) {
		*ending = true;
		close(c);
		return;
	}
	if (k->n == MAX_KIDS) {
		fprintf(stderr, "crest mpirun: more than %d commands at once on this node; refused\n", MAX_KIDS);
		close(c);
		return;
	}
	tv.tv_sec = 0;
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	pid_t p = fork();
	if (p == 0) {
		dup2(c, 0);
		dup2(c, 1);
		dup2(c, 2);
		execl("/bin/sh", "sh", "-c", line, (char *)NULL);
		_exit(127);
	}
	close(c);
	if (p > 0) {
		k->pid[k->n++] = p;
		k->ran++;
	}
}

static void tell_end(const char *dir, char **hosts, unsigned n)
{
	for (unsigned i = 1; i < n; i++) {
		int fd = connect_host(dir, hosts[i], true);
		if (fd < 0)
			continue;	/* ended already: its commands had */
		write_all(fd, END_LINE "\n", strlen(END_LINE) + 1);
		close(fd);
	}
}

int cmd_mpirun(int argc, char **argv)
{
	const char *mpirun = "mpirun", *step = getenv("CREST_STEP_DIR");
	unsigned slots = 0, rank, ntasks, nnodes, job, run = 0;
	int a = 1;

	for (; a < argc; a++) {
		if (!strcmp(argv[a], "--")) {
			a++;
			break;
		}
		if (!strcmp(argv[a], "-h") || !strcmp(argv[a], "--help"))
			return usage_mpirun(stdout, 0);
		if (!strcmp(argv[a], "--slots") && a + 1 < argc) {
			slots = (unsigned)atoi(argv[++a]);
			if (!slots) {
				fprintf(stderr, "crest mpirun: --slots %s: expected a number of ranks per node\n", argv[a]);
				return 2;
			}
		} else if (!strcmp(argv[a], "--mpirun") && a + 1 < argc) {
			mpirun = argv[++a];
		} else {
			break;
		}
	}
	if (a >= argc)
		return usage_mpirun(stderr, 2);
	if (!step || env_uint("SLURM_PROCID", &rank) || env_uint("SLURM_NTASKS", &ntasks) ||
	    env_uint("SLURM_NNODES", &nnodes) || env_uint("SLURM_JOB_ID", &job)) {
		fprintf(stderr, "crest mpirun: run it as the program of a Slurm step with --checkpoint (srun -N NODES "
				"--ntasks-per-node=1 --checkpoint=... crest mpirun ...): CREST_STEP_DIR or SLURM_PROCID, "
				"SLURM_NTASKS, SLURM_NNODES, SLURM_JOB_ID are not set\n");
		return 2;
	}
	if (ntasks != nnodes) {
		fprintf(stderr, "crest mpirun: the step has %u tasks on %u nodes; it needs one task per node "
				"(srun --ntasks-per-node=1): mpirun starts the ranks\n", ntasks, nnodes);
		return 2;
	}
	env_uint("SLURM_RESTART_COUNT", &run);
	if (!slots) {
		cpu_set_t set;
		slots = sched_getaffinity(0, sizeof(set), &set) ? 1 : (unsigned)CPU_COUNT(&set);
	}
	char dir[PATH_MAX], path[PATH_MAX + HOST_NAME_MAX + 2], host[HOST_NAME_MAX + 1], addr[64], text[HOST_NAME_MAX + 96];
	if (snprintf(dir, sizeof(dir), "%s/mpi/%u.%u", step, job, run) >= (int)sizeof(dir)) {
		fprintf(stderr, "crest mpirun: CREST_STEP_DIR is too long\n");
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/mpi", step);
	if (mkdir(dir, 0700) && errno != EEXIST) {
		fprintf(stderr, "crest mpirun: cannot make %s: %s\n", dir, strerror(errno));
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/mpi/%u.%u", step, job, run);
	if (mkdir(dir, 0700) && errno != EEXIST) {
		fprintf(stderr, "crest mpirun: cannot make %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if (gethostname(host, sizeof(host)) || node_address(host, addr, sizeof(addr))) {
		fprintf(stderr, "crest mpirun: this node (%s) has no IPv4 address other nodes can reach\n", host);
		return 1;
	}
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 64) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl)) {
		fprintf(stderr, "crest mpirun: cannot listen on TCP: %s\n", strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, host);
	snprintf(text, sizeof(text), "%s %u %u\n", addr, (unsigned)ntohs(sa.sin_port), slots);
	int rc = write_file(path, text);
	snprintf(path, sizeof(path), "%s/task.%u", dir, rank);
	snprintf(text, sizeof(text), "%s\n", host);
	if (rc || (rc = write_file(path, text))) {
		fprintf(stderr, "crest mpirun: cannot write %s: %s\n", path, strerrordesc_np(-rc));
		return 1;
	}

	char **hosts = calloc(ntasks, sizeof(char *));
	pid_t mp = -1;
	int mpirun_status = 0;
	bool mpirun_done = false, ending = false;
	if (!hosts)
		return 1;
	if (rank == 0) {
		struct cli_paths paths;
		char agent[PATH_MAX + 16], file[PATH_MAX + 16];
		if (wait_hosts(dir, ntasks, hosts) || write_hostfile(dir, hosts, ntasks)) {
			fprintf(stderr, "crest mpirun: not every task of the step wrote its address to %s within %d s\n",
				dir, HOSTS_WAIT_S);
			return 1;
		}
		if (cli_find_paths(&paths))
			return 1;
		snprintf(agent, sizeof(agent), "%s/crest rsh", paths.bindir);
		snprintf(file, sizeof(file), "%s/hostfile", dir);
		char **env = mpirun_env(agent, dir);
		char **av = calloc((size_t)(argc - a) + 4, sizeof(char *));
		if (!env || !av)
			return 1;
		int n = 0;
		av[n++] = (char *)mpirun;
		av[n++] = "--hostfile";
		av[n++] = file;
		for (int i = a; i < argc; i++)
			av[n++] = argv[i];
		mp = fork();
		if (mp == 0) {
			close(lfd);
			execvpe(mpirun, av, env);
			fprintf(stderr, "crest mpirun: cannot run %s: %s\n", mpirun, strerror(errno));
			_exit(127);
		}
		if (mp < 0)
			return 1;
	}
	struct kids k = { .n = 0 };
	for (;;) {
		reap(&k, mp, &mpirun_status, &mpirun_done);
		if (rank == 0 && mpirun_done)
			break;
		if (rank != 0 && !k.n && (ending || k.ran))
			break;
		struct pollfd pf = { lfd, POLLIN, 0 };
		if (poll(&pf, 1, 200) == 1)
			serve(lfd, &k, &ending);
	}
	close(lfd);
	if (rank == 0) {
		tell_end(dir, hosts, ntasks);
		while (k.n) {	/* commands run on this node: mpirun's, ended with it */
			struct timespec ts = { 0, 50 * 1000 * 1000 };
			nanosleep(&ts, NULL);
			reap(&k, mp, &mpirun_status, &mpirun_done);
		}
		if (WIFSIGNALED(mpirun_status))
			return 128 + WTERMSIG(mpirun_status);
		return WEXITSTATUS(mpirun_status);
	}
	return 0;
}

/* crest rsh [OPTIONS] HOST CMD...: mpirun's remote shell (see above) */
int cmd_rsh(int argc, char **argv)
{
	const char *dir = getenv("CREST_MPI_HOSTS");
	int a = 1;
	while (a < argc && argv[a][0] == '-')
		a++;	/* an ssh option mpirun may add (-x): nothing to do here */
	if (a + 1 >= argc || !dir) {
		fprintf(stderr, "usage: crest rsh HOST COMMAND...  (mpirun's remote shell under crest mpirun, "
				"which sets CREST_MPI_HOSTS)\n");
		return 2;
	}
	const char *host = argv[a++];
	static char line[CMD_MAX + 1];
	size_t len = 0;
	for (; a < argc; a++) {
		size_t l = strlen(argv[a]);
		if (len + l + 2 > CMD_MAX) {
			fprintf(stderr, "crest rsh: the command is longer than %d bytes\n", CMD_MAX);
			return 2;
		}
		if (len)
			line[len++] = ' ';
		memcpy(line + len, argv[a], l);
		len += l;
	}
	line[len++] = '\n';
	int fd = connect_host(dir, host, false);
	if (fd < 0 || write_all(fd, line, len))
		return 255;	/* as ssh when it cannot connect */
	signal(SIGPIPE, SIG_IGN);
	static char buf[65536];
	struct pollfd pf[2] = { { 0, POLLIN, 0 }, { fd, POLLIN, 0 } };
	for (;;) {
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 255;
		}
		if (pf[0].revents) {
			ssize_t n = read(0, buf, sizeof(buf));
			if (n > 0 && write_all(fd, buf, (size_t)n) == 0)
				continue;
			if (n < 0 && errno == EINTR)
				continue;
			shutdown(fd, SHUT_WR);	/* stdin ended: so does the command's */
			pf[0].fd = -1;
		}
		if (pf[1].revents) {
			ssize_t n = read(fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return 0;	/* the command ended */
			if (write_all(1, buf, (size_t)n))
				return 255;
		}
	}
}
