/* SPDX-License-Identifier: MIT */
/*
 * crest-coord: the coordinator of one computation.
 *
 *   crest-coord --dir DIR [--interval SEC] [--keep N] [--compress none|zstd]
 *               [--timeout SEC] [--min-spacing SEC] [--foreground]
 *               [--root --listen ADDR:PORT | --node N --parent ADDR:PORT]
 *               [--secret-file FILE]
 *
 * Without --foreground it becomes a daemon (setsid, double fork); the
 * command returns only once the socket listens and DIR/COORD is written,
 * so the caller can start the application right away.
 */
#define LOG_MODULE "coord"
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "coord.h"
#include "log.h"
#include "respawn.h"

extern char **environ;

volatile sig_atomic_t coord_stop;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: crest-coord --dir DIR [--interval SEC] [--keep N] [--compress none|zstd]\n"
		"                   [--timeout SEC] [--min-spacing SEC] [--foreground]\n"
		"                   [--root --listen ADDR:PORT | --node N --parent ADDR:PORT [--listen ADDR:PORT]]\n"
		"                   [--secret-file FILE] [--addr-file FILE | --parent-file FILE]\n"
		"                   [--tasks N] [--nodes N]\n"
		"Coordinates the checkpoints of one computation; started by crest launch and\n"
		"crest restart.  Logs to DIR/coord.log.\n"
		"  --root --listen ADDR:PORT  also serve the sub-coordinators of other nodes over\n"
		"                   TCP; writes a new secret to DIR/SECRET unless --secret-file\n"
		"  --node N --parent ADDR:PORT  the sub-coordinator of node N (>= 1): serves the\n"
		"                   node's processes (files in DIR/nodes/nN) and answers its parent;\n"
		"                   with --listen it is the parent of other sub-coordinators too,\n"
		"                   and answers for their nodes\n"
		"  --secret-file FILE  the computation's secret (64 hex digits; default DIR/SECRET)\n"
		"  --addr-file FILE  with --listen: write the address it listens on (ADDR:PORT, port 0 =\n"
		"                   any free port) to FILE\n"
		"  --parent-file FILE  sub-coordinator: read the parent's ADDR:PORT from FILE at\n"
		"                   each connection attempt (a restarted root is found again)\n"
		"  --root-file FILE2  when the --parent-file says \"done\" (the parent, a\n"
		"                   sub-coordinator, left: every task of its node ended), read the\n"
		"                   root's ADDR:PORT from FILE2 instead\n"
		"  --tasks N        a Slurm step: no checkpoint until N tasks run on this node\n"
		"                   (a sub-coordinator connects to its parent only then)\n"
		"  --nodes N        root of a Slurm step: ... and N - 1 nodes are connected (a\n"
		"                   sub-coordinator with --listen: N nodes with its own, below it)\n"
		"  --tasks-wait SEC  tasks not all there after SEC (default 60): the node's\n"
		"                   processes print that the step is not checkpointed\n"
		"  --task-ranks R,R,...  the global ranks of the N tasks, to name the missing ones\n"
		"  --ended-tasks R:S,... tasks that had ended (wait status S) in the generation restarted from\n"
		"  --slurm-job ID [--slurm-run N]  root of Slurm job ID's step (run N: its\n"
		"                   SLURM_RESTART_COUNT): a SIGTERM asks Slurm why the job ends\n"
		"  --on-cancel checkpoint|exit  after scancel: a final checkpoint, or none (default)\n"
		"  --timelimit checkpoint|checkpoint-requeue|ignore  a final checkpoint before the\n"
		"                   job's time limit (default), then requeue the job; or nothing\n"
		"  --timelimit-margin SEC  start it this long before the end at least (default 60)\n"
		"  --incarnation ID  the run it belongs to (DIR/INCARNATION, 32 hex digits): if DIR\n"
		"                   belongs to another run, it does not start; without it a root\n"
		"                   takes DIR's (or makes one), a sub its parent's\n");
}

static int parse_uint(const char *opt, const char *s, unsigned min, unsigned *v)
{
	char *e;
	unsigned long x;

	errno = 0;
	x = strtoul(s, &e, 10);
	if (errno || e == s || *e || *s == '-' || x > UINT_MAX / 1000 || x < min) {
		fprintf(stderr, "crest-coord: %s %s: expected a whole number >= %u\n", opt, s, min);
		return -EINVAL;
	}
	*v = (unsigned)x;
	return 0;
}

/* "0,1,5": exactly `tasks` ranks, digits and commas only */
static bool task_ranks_ok(const char *s, unsigned tasks)
{
	unsigned n = 0;

	if (!*s || strspn(s, "0123456789,") != strlen(s))
		return false;
	for (const char *p = s; *p; p += strcspn(p, ","), p += *p == ',') {
		if (*p == ',')
			return false;	/* an empty item */
		n++;
	}
	return n == tasks && s[strlen(s) - 1] != ',';
}

static int parse_args(int argc, char **argv, struct coord_opts *o)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "interval", required_argument, NULL, 'i' },
		{ "keep", required_argument, NULL, 'k' },
		{ "compress", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "min-spacing", required_argument, NULL, 'm' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "pid", required_argument, NULL, 'p' },
		{ "root", no_argument, NULL, 'R' },
		{ "listen", required_argument, NULL, 'L' },
		{ "node", required_argument, NULL, 'n' },
		{ "parent", required_argument, NULL, 'P' },
		{ "secret-file", required_argument, NULL, 's' },
		{ "addr-file", required_argument, NULL, 'A' },
		{ "parent-file", required_argument, NULL, 'F' },
		{ "root-file", required_argument, NULL, 'G' },
		{ "tasks", required_argument, NULL, 'T' },
		{ "nodes", required_argument, NULL, 'N' },
		{ "tasks-wait", required_argument, NULL, 'W' },
		{ "task-ranks", required_argument, NULL, 'K' },
		{ "ended-tasks", required_argument, NULL, 'E' },
		{ "slurm-job", required_argument, NULL, 'J' },
		{ "slurm-run", required_argument, NULL, 'r' },
		{ "on-cancel", required_argument, NULL, 'C' },
		{ "timelimit", required_argument, NULL, 'l' },
		{ "timelimit-margin", required_argument, NULL, 'M' },
		{ "incarnation", required_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *dir = NULL;
	bool root = false;
	int ch;

	o->keep = 2;
	o->timeout = 10;
	o->timelimit_margin = 60;
	o->tasks_wait = 60;
	o->min_spacing = 10;
	o->compress = CREST_COMP_NONE;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': dir = optarg; break;
		case 'i': if (parse_uint("--interval", optarg, 0, &o->interval)) return -EINVAL; break;
		case 'k': if (parse_uint("--keep", optarg, 1, &o->keep)) return -EINVAL; break;
		case 't': if (parse_uint("--timeout", optarg, 1, &o->timeout)) return -EINVAL; break;
		case 'm': if (parse_uint("--min-spacing", optarg, 0, &o->min_spacing)) return -EINVAL; break;
		case 'f': o->foreground = true; break;
		case 'R': root = true; break;
		case 'n': if (parse_uint("--node", optarg, 1, &o->node)) return -EINVAL; break;
		case 'T': if (parse_uint("--tasks", optarg, 1, &o->tasks)) return -EINVAL; break;
		case 'N': if (parse_uint("--nodes", optarg, 1, &o->nodes)) return -EINVAL; break;
		case 'W': if (parse_uint("--tasks-wait", optarg, 1, &o->tasks_wait)) return -EINVAL; break;
		case 'K': o->task_ranks = optarg; break;
		case 'I':
			if (!ckdir_incarnation_valid(optarg)) {
				fprintf(stderr, "crest-coord: --incarnation %s: expected %d lowercase hex digits (DIR/INCARNATION)\n",
					optarg, CKDIR_INCARNATION_LEN);
				return -EINVAL;
			}
			strcpy(o->incarnation, optarg);
			break;
		case 'E': o->ended_tasks = optarg; break;
		case 'r': if (parse_uint("--slurm-run", optarg, 0, &o->slurm_run)) return -EINVAL; break;
		case 'M': if (parse_uint("--timelimit-margin", optarg, 0, &o->timelimit_margin)) return -EINVAL; break;
		case 'J':
			if (!*optarg || strlen(optarg) >= sizeof(o->slurm_job) ||
			    strspn(optarg, "0123456789_") != strlen(optarg)) {
				fprintf(stderr, "crest-coord: --slurm-job %s: expected a job id\n", optarg);
				return -EINVAL;
			}
			strcpy(o->slurm_job, optarg);
			break;
		case 'C':
			if (strcmp(optarg, "checkpoint") && strcmp(optarg, "exit")) {
				fprintf(stderr, "crest-coord: --on-cancel %s: expected checkpoint or exit\n", optarg);
				return -EINVAL;
			}
			o->cancel_checkpoint = !strcmp(optarg, "checkpoint");
			break;
		case 'l':
			if (!strcmp(optarg, "checkpoint")) {
				o->timelimit = COORD_TIMELIMIT_CHECKPOINT;
			} else if (!strcmp(optarg, "checkpoint-requeue")) {
				o->timelimit = COORD_TIMELIMIT_REQUEUE;
			} else if (!strcmp(optarg, "ignore")) {
				o->timelimit = COORD_TIMELIMIT_IGNORE;
			} else {
				fprintf(stderr, "crest-coord: --timelimit %s: expected checkpoint, checkpoint-requeue or ignore\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'L':
		case 'P':
		case 'A':
		case 'F':
		case 'G':
		case 's': {
			char *to = ch == 'L' ? o->listen : ch == 'P' ? o->parent : ch == 'A' ? o->addr_file :
				   ch == 'F' ? o->parent_file : ch == 'G' ? o->root_file : o->secret_file;
			size_t size = ch == 'L' || ch == 'P' ? sizeof(o->listen) : sizeof(o->secret_file);
			if (strlen(optarg) >= size) {
				fprintf(stderr, "crest-coord: %s: too long\n", optarg);
				return -EINVAL;
			}
			strcpy(to, optarg);
			break;
		}
		case 'p': {
			unsigned v;
			if (parse_uint("--pid", optarg, 1, &v))
				return -EINVAL;
			o->watch = (pid_t)v;
			break;
		}
		case 'c':
			if (!strcmp(optarg, "none")) {
				o->compress = CREST_COMP_NONE;
			} else if (!strcmp(optarg, "zstd")) {
				o->compress = CREST_COMP_ZSTD;
			} else {
				fprintf(stderr, "crest-coord: --compress %s: expected none or zstd\n", optarg);
				return -EINVAL;
			}
			break;
		case 'h': usage(stdout); exit(0);
		case ':':
			fprintf(stderr, "crest-coord: option %s needs a value\n", argv[optind - 1]);
			return -EINVAL;
		default:
			fprintf(stderr, "crest-coord: unknown option %s; see crest-coord --help\n", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "crest-coord: unexpected argument %s\n", argv[optind]);
		return -EINVAL;
	}
	if (!dir) {
		fprintf(stderr, "crest-coord: --dir DIR is required\n");
		return -EINVAL;
	}
	if (o->task_ranks && !task_ranks_ok(o->task_ranks, o->tasks)) {
		fprintf(stderr, "crest-coord: --task-ranks %s: expected --tasks N comma-separated ranks\n", o->task_ranks);
		return -EINVAL;
	}
	bool parent = o->parent[0] || o->parent_file[0];
	if ((root && !o->listen[0]) || (o->listen[0] && !root && !o->node) || (o->node && (root || !parent)) ||
	    (!o->node && parent) || (o->parent[0] && o->parent_file[0]) || (o->addr_file[0] && !o->listen[0]) ||
	    (o->root_file[0] && !o->parent_file[0])) {
		fprintf(stderr, "crest-coord: use --root with --listen ADDR:PORT [--addr-file FILE], or --node N (>= 1)\n"
			"with --parent ADDR:PORT or --parent-file FILE [--listen ADDR:PORT [--addr-file FILE]]\n");
		return -EINVAL;
	}
	if (o->node) {
		o->interval = 0;	/* the root decides when */
		o->slurm_job[0] = 0;	/* and asks Slurm */
	}
	if (ckdir_make(dir))
		return -EINVAL;
	if (!realpath(dir, o->dir)) {
		fprintf(stderr, "crest-coord: %s: %s\n", dir, strerror(errno));
		return -EINVAL;
	}
	if (ckdir_node_dir(o->dir, o->node, o->rundir, sizeof(o->rundir))) {
		fprintf(stderr, "crest-coord: cannot create the folder of node %u in %s\n", o->node, o->dir);
		return -EINVAL;
	}
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	coord_stop = 1;
}

static void setup_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

/* fork twice; returns in the daemon with *ready_fd set, exits in the
 * caller with the daemon's verdict */
static int daemonize(int *ready_fd)
{
	int p[2];
	pid_t pid;
	char verdict = 1;

	if (pipe2(p, O_CLOEXEC) < 0) {
		perror("crest-coord: pipe");
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		perror("crest-coord: fork");
		return -errno;
	}
	if (pid > 0) {
		close(p[1]);
		waitpid(pid, NULL, 0);
		while (read(p[0], &verdict, 1) < 0 && errno == EINTR)
			;
		_exit(verdict == 0 ? 0 : 1);
	}
	close(p[0]);
	setsid();
	pid = fork();
	if (pid < 0) {
		perror("crest-coord: fork");
		_exit(1);
	}
	if (pid > 0)
		_exit(0);
	/* a daemon keeps nothing of its caller's (a CI pipe held open would
	 * keep its reader waiting): only stdio, until detach_stdio, and the
	 * readiness pipe */
	int ready = p[1];
	if (ready != 3) {
		if (dup2(ready, 3) < 0)
			_exit(1);
		close(ready);
		ready = 3;
	}
	closefrom(4);	/* close_range, or /proc/self/fd where it is missing */
	*ready_fd = ready;
	return 0;
}

static void tell_ready(int *ready_fd, char verdict)
{
	if (*ready_fd < 0)
		return;
	while (write(*ready_fd, &verdict, 1) < 0 && errno == EINTR)
		;
	close(*ready_fd);
	*ready_fd = -1;
}

static int open_log(const char *dir)
{
	char path[CKDIR_PATH_MAX + 16];
	int fd;

	snprintf(path, sizeof(path), "%s/coord.log", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		fprintf(stderr, "crest-coord: cannot open %s: %s\n", path, strerror(errno));
	return fd;
}

/*
 * --incarnation ID: the run this coordinator belongs to.  If DIR belongs
 * to another run now, this coordinator is left over from an older one (its
 * node was cut off, or processes of an earlier job started it again from
 * RESPAWN): it must not touch DIR (COORD, ROOT, generations).  Said in
 * DIR's coord.log too: whoever started it sees nothing else.
 */
static int run_check(const struct coord_opts *o)
{
	char now[CKDIR_INCARNATION_LEN + 1];

	if (!o->incarnation[0])
		return 0;
	int rc = ckdir_incarnation_read(o->dir, now);
	if (rc == -ENOENT || (!rc && !strcmp(now, o->incarnation)))
		return 0;
	char msg[CKDIR_PATH_MAX + 512], host[64] = "?";
	gethostname(host, sizeof(host) - 1);
	snprintf(msg, sizeof(msg), "crest-coord: %s belongs to another run of the computation (INCARNATION %s, this "
		 "coordinator's %s): not starting on %s (pid %d); it is left over from an older run\n", o->dir,
		 rc ? "damaged" : now, o->incarnation, host, (int)getpid());
	fputs(msg, stderr);
	int fd = open_log(o->rundir);
	if (fd >= 0) {
		crest_log_set_fd(fd);
		msg[strlen(msg) - 1] = 0;
		pr_err("%s", msg + strlen("crest-coord: "));
		close(fd);
	}
	return -1;
}

/* the run this coordinator belongs to: --incarnation (written to DIR if
 * DIR has none), or DIR's (a root started again by hand), or a new one;
 * a sub without --incarnation learns it from its parent's WELCOME */
static int run_take(struct coord *c)
{
	if (c->o.incarnation[0]) {
		snprintf(c->incarnation, sizeof(c->incarnation), "%s", c->o.incarnation);
		char now[CKDIR_INCARNATION_LEN + 1];
		if (!coord_is_sub(c) && ckdir_incarnation_read(c->o.dir, now) == -ENOENT)
			return ckdir_incarnation_write(c->o.dir, c->incarnation);
		return 0;
	}
	if (coord_is_sub(c))
		return 0;
	if (!ckdir_incarnation_read(c->o.dir, c->incarnation)) {
		pr_info("run %s (%s/INCARNATION)", c->incarnation, c->o.dir);
		return 0;
	}
	return ckdir_incarnation_new(c->o.dir, c->incarnation);
}

static char **start_argv;
static char start_cwd[CKDIR_PATH_MAX];

void coord_respawn_write(struct coord *c)
{
	char *argv[CREST_RESPAWN_ARGS + 1];
	int n = 0;
	char **a;

	if (!start_argv)
		return;
	for (a = start_argv; *a && n < CREST_RESPAWN_ARGS - 2; a++) {
		if (!strcmp(*a, "--incarnation") && a[1]) {
			a++;
			continue;
		}
		argv[n++] = *a;
	}
	if (c->incarnation[0]) {
		argv[n++] = "--incarnation";
		argv[n++] = c->incarnation;
	}
	argv[n] = NULL;
	int rc = *a ? -E2BIG : start_cwd[0] ? crest_respawn_write(c->o.rundir, getpid(), start_cwd, argv, environ)
					     : -ENOENT;
	if (rc) {
		pr_warn("cannot write %s/RESPAWN (%s): if this coordinator dies, its processes cannot start it again",
			c->o.rundir, strerror(-rc));
		crest_respawn_cancel(c->o.rundir);	/* a dead one's, which would start another beside it */
	}
}

static void detach_stdio(int logfd)
{
	int null = open("/dev/null", O_RDWR);

	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		close(null);
	}
	dup2(logfd, 2);
}

int main(int argc, char **argv)
{
	struct coord c = { .lfd = -1, .tfd = -1, .efd = -1 };
	int ready_fd = -1, logfd, rc = 1;
	pid_t other;

	crest_log_set_prefix("crest-coord");
	crest_log_level = LOG_INFO;
	crest_log_init();
	if (parse_args(argc, argv, &c.o))
		return 2;
	if (run_check(&c.o))
		return 1;
	other = ckdir_coord_alive(c.o.rundir);
	if (other) {
		fprintf(stderr, "crest-coord: a coordinator (pid %d) already serves %s\n", (int)other, c.o.rundir);
		return 1;
	}
	if (!c.o.foreground && daemonize(&ready_fd))
		return 1;
	setup_signals();
	c.start_ms = coord_now_ms();
	if (coord_listen(&c))
		goto out_fail;
	if (ckdir_coord_write(c.o.rundir, getpid(), c.sock)) {
		fprintf(stderr, "crest-coord: cannot write %s/COORD; is the directory writable?\n", c.o.rundir);
		goto out_unlink;
	}
	logfd = open_log(c.o.rundir);
	if (logfd < 0)
		goto out_coord;
	crest_log_set_fd(logfd);
	pr_info("coordinator pid %d for %s listening on %s (interval %u s, keep %u, timeout %u s)",
		(int)getpid(), c.o.dir, c.sock, c.o.interval, c.o.keep, c.o.timeout);
	/* the run that owns DIR: a coordinator of an older run that is still
	 * alive (a node cut off) stops at its next checkpoint, and its
	 * sub-coordinators are not taken into this one */
	if (run_take(&c)) {
		fprintf(stderr, "crest-coord: cannot write %s/INCARNATION; is the directory writable?\n", c.o.dir);
		goto out_coord;
	}
	/* how the node's processes start it again if it is killed */
	start_argv = argv;
	if (!getcwd(start_cwd, sizeof(start_cwd)))
		start_cwd[0] = 0;
	coord_respawn_write(&c);
	/* a root or standalone coordinator owns DIR now: a generation without
	 * MANIFEST is what a coordinator that died during a checkpoint left
	 * behind (a sub-coordinator may start while its root writes one) */
	if (!coord_is_sub(&c))
		ckdir_remove_incomplete(c.o.dir);
	if (c.o.ended_tasks && coord_ended_parse(&c, c.o.ended_tasks)) {
		fprintf(stderr, "crest-coord: --ended-tasks %s: expected RANK:STATUS,... with ranks of --task-ranks\n",
			c.o.ended_tasks);
		goto out_coord;
	}
	if (c.o.tasks && coord_ended_load(&c))
		pr_warn("going on without it: the step is not checkpointed until its tasks are all back");
	if (coord_tree_setup(&c)) {
		fprintf(stderr, "crest-coord: cannot set up the coordinator tree (see %s/coord.log)\n", c.o.rundir);
		goto out_coord;
	}
	if (!c.o.foreground) {
		detach_stdio(logfd);
		if (chdir("/"))
			pr_warn("cannot chdir to /");
	}
	tell_ready(&ready_fd, 0);

	rc = coord_run(&c) ? 1 : 0;
	if (coord_stop)
		pr_info("stopping");
	coord_close_all(&c);
	/* the socket before COORD: once COORD is gone, a new coordinator may
	 * start and bind the same path */
	coord_unlink_sock(&c);
out_coord:
	crest_respawn_remove(c.o.rundir, getpid());	/* ended on its own: not to be started again; before COORD */
	{
		pid_t owner = 0;
		if (!ckdir_coord_read(c.o.rundir, &owner, NULL, 0) && owner == getpid())
			ckdir_coord_remove(c.o.rundir);
	}
out_unlink:
	if (c.lfd >= 0)
		close(c.lfd);
	coord_unlink_sock(&c);
out_fail:
	tell_ready(&ready_fd, 1);
	pr_info("exit");
	return rc;
}
