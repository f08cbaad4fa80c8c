/* SPDX-License-Identifier: MIT */
/*
 * crest step-start / crest step-stop: what the Slurm plugin (spank/) runs on
 * every node of a step, as the job's user, around the step's tasks
 * (docs/slurm.md, "How a step runs").
 *
 *   crest step-start --dir STEPDIR --node N --nodes M --tasks T [--restart]
 *                    [--occurrence JOB.RUN.STEP] [--run-id JOB.RUN.STEP] [--local-ok]
 *                    [--interval SEC] [--keep N] [--compress ALG] [--fanout F] ...
 *
 * decides whether the step starts afresh or restarts, starts the node's
 * coordinator — the root on node 0, listening on this node's address (also
 * for a one-node step, so that crest checkpoint --job reaches it; standalone
 * if a one-node step's node has no IPv4 address), and a sub-coordinator on
 * the others, which finds the root in STEPDIR/ROOT, or, in a step of more
 * than F + 1 nodes, its parent node's in STEPDIR/nodes/n<P>/ADDR (a node
 * with nodes below it listens too: common/tree_shape.h) — and prints one line:
 * "launch" or "restart GEN", after "dir STEPDIR.K" with --occurrence (the
 * K-th step of this run with the same STEPDIR: occurrence_dir).
 *
 *   crest step-stop --dir STEPDIR --node N --nodes M [--ok [--zero]]
 *
 * stops the node's coordinator and writes STEPDIR/exit-n<N>: "ok" (--ok:
 * every task of the node ended by exiting; a second line "zero" with
 * --zero: with status 0) or "killed".  Node 0 then waits up to
 * STOP_WAIT_MS for every node's, and writes STEPDIR/DONE if all say ok
 * ("done", then "exit 0" if all say zero, else "exit nonzero"), so that a
 * rerun of the job runs the step afresh instead of restarting it, and the
 * job's end may remove its folder (crest job-end).  A node that died
 * writes nothing: no DONE.
 *
 *   crest step-task-end --dir STEPDIR --node N --rank R --status S
 *
 * tells the node's coordinator that task R ended with wait status S (the
 * plugin, when slurmstepd has reaped it), so that later generations record
 * it (sched/coord_ended.c).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <netdb.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "proto.h"

#include "ckdir.h"
#include "cli.h"
#include "respawn.h"
#include "tree_shape.h"

#define STOP_WAIT_MS 10000	/* node 0 waits this long for the others' exit-n<N> */
#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef RAMFS_MAGIC
#define RAMFS_MAGIC 0x858458f6
#endif

static bool loopback(const struct in_addr *a)
{
	return (ntohl(a->s_addr) >> 24) == 127;
}

/*
 * The address the other nodes reach this one at: the host name's IPv4
 * address unless it is a loopback one (Debian maps the host name to
 * 127.0.1.1), else the first address of an interface that is up.
 */
static int node_address(char *buf, size_t size)
{
	char host[256];
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res = NULL;
	struct ifaddrs *ifa = NULL;

	if (!gethostname(host, sizeof(host)) && !getaddrinfo(host, NULL, &hints, &res)) {
		for (struct addrinfo *r = res; r; r = r->ai_next) {
			struct in_addr *a = &((struct sockaddr_in *)r->ai_addr)->sin_addr;
			if (!loopback(a)) {
				inet_ntop(AF_INET, a, buf, (socklen_t)size);
				freeaddrinfo(res);
				return 0;
			}
		}
		freeaddrinfo(res);
	}
	if (getifaddrs(&ifa))
		return -errno;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP))
			continue;
		struct in_addr *a = &((struct sockaddr_in *)i->ifa_addr)->sin_addr;
		if (loopback(a))
			continue;
		inet_ntop(AF_INET, a, buf, (socklen_t)size);
		freeifaddrs(ifa);
		return 0;
	}
	freeifaddrs(ifa);
	return -EADDRNOTAVAIL;
}

/* the step finished in an earlier run: its checkpoints are of no use;
 * DONE goes last, so another node deciding meanwhile never sees the
 * generations without DONE */
static int forget_finished(const char *abs, const char *done)
{
	uint64_t *gens = NULL;
	size_t n = 0;

	if (ckdir_list_gens(abs, &gens, &n) < 0)
		n = 0;
	for (size_t i = 0; i < n; i++)
		ckdir_remove_gen(abs, gens[i]);
	free(gens);
	char latest[PATH_MAX + 16];
	snprintf(latest, sizeof(latest), "%s/latest", abs);
	unlink(latest);
	return unlink(done) && errno != ENOENT ? -errno : 0;
}

/* the folders above dir that are missing, 0700: the job's directory */
static int make_parents(const char *dir)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; (p = strchr(p, '/')); p++) {
		*p = 0;
		if (mkdir(buf, 0700) < 0 && errno != EEXIST) {
			int e = errno;
			fprintf(stderr, "crest: cannot create %s: %s\n", buf, strerror(e));
			return -e;
		}
		*p = '/';
	}
	return 0;
}

/*
 * --occurrence JOB.RUN.STEP (docs/slurm.md, "Which checkpoint a step
 * continues"): a job's batch script runs again from its first line after a
 * requeue, so two steps with the same command line and shape are told
 * apart by their order in the run.  Each step leaves a claim
 * DIR/../.steps/<key>/j<JOB>-r<RUN>-s<STEP>; the steps of this run with the
 * same key and a smaller step id came before it.  The first one's folder
 * is DIR, the second's DIR.2, and so on.  Every node of a step computes the
 * same answer: the earlier steps' claims were made before they started.
 */
static int occurrence_dir(const char *dir, const char *occ, char *out, size_t size)
{
	unsigned long job, run, step;
	char claims[PATH_MAX], file[PATH_MAX + 128], prefix[80];
	const char *slash = strrchr(dir, '/');
	int n;

	if (sscanf(occ, "%lu.%lu.%lu%n", &job, &run, &step, &n) != 3 || occ[n] || !slash || !slash[1]) {
		fprintf(stderr, "crest: step-start: --occurrence %s: expected JOB.RUN.STEP\n", occ);
		return -EINVAL;
	}
	if (snprintf(claims, sizeof(claims), "%.*s/.steps/%s", (int)(slash - dir), dir, slash + 1) >=
	    (int)sizeof(claims))
		return -ENAMETOOLONG;
	int rc = make_parents(claims);
	if (!rc && mkdir(claims, 0700) < 0 && errno != EEXIST)
		rc = -errno;
	snprintf(prefix, sizeof(prefix), "j%lu-r%lu-s", job, run);
	snprintf(file, sizeof(file), "%s/%s%lu", claims, prefix, step);
	int fd = rc ? -1 : open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = rc ? rc : -errno;
		fprintf(stderr, "crest: step-start: cannot create %s: %s\n", file, strerror(-rc));
		return rc;
	}
	close(fd);
	DIR *d = opendir(claims);
	if (!d) {
		rc = -errno;
		fprintf(stderr, "crest: step-start: cannot read %s: %s\n", claims, strerror(-rc));
		return rc;
	}
	unsigned before = 0;
	size_t pl = strlen(prefix);
	for (struct dirent *e; (e = readdir(d));) {
		char *end;
		if (strncmp(e->d_name, prefix, pl))
			continue;
		unsigned long other = strtoul(e->d_name + pl, &end, 10);
		before += !*end && end != e->d_name + pl && other < step;
	}
	closedir(d);
	if ((before ? snprintf(out, size, "%s.%u", dir, before + 1) : snprintf(out, size, "%s", dir)) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * The step's folder must outlive the node and be seen by every node of the
 * step (docs/slurm.md, "For administrators"): memory (tmpfs, ramfs) is
 * refused unless the site allows it (local_ok=yes: --local-ok), and node 0
 * writes STARTED with the step's run id, which the other nodes of a step
 * of several must see within wait_s (--tasks-wait: the nodes of a step
 * start together; a folder each node has on its own disk fails there).
 */
/*
 * Afresh (0) or from which generation: the newest complete one whose
 * images are all whole (an older one when it is damaged, cli_gen_check.c),
 * unless the step finished in an earlier run (DONE: its checkpoints are
 * forgotten, by node 0).  -1 (said why) when the step may not start.
 */
static int choose_gen(const char *abs, unsigned node, bool restart, int64_t *gen)
{
	char file[PATH_MAX + 16];
	uint64_t g = 0;

	snprintf(file, sizeof(file), "%s/DONE", abs);
	if (!access(file, F_OK)) {
		if (node == 0 && forget_finished(abs, file)) {
			fprintf(stderr, "crest: step-start: %s: %s\n", file, strerror(errno));
			return -1;
		}
		*gen = 0;
		return 0;
	}
	if (ckdir_latest_complete(abs, &g))
		g = 0;
	if (g && !restart) {
		fprintf(stderr, "crest: %s holds checkpoints of a step that did not finish (newest: generation %"
			PRIu64 "); continue it with --restart-from=DIR, or remove it to start afresh\n", abs, g);
		return -1;
	}
	if (g && cli_newest_whole(abs, abs, "step-start", &g, NULL, NULL))
		return -1;
	*gen = (int64_t)g;
	return 0;
}

/* STARTED: "RUNID\n", then "restart GEN\n" or "failed\n" once node 0 decided */
static int write_started(const char *file, const char *runid, const int64_t *gen)
{
	char text[96];
	if (!gen)
		snprintf(text, sizeof(text), "%s\n", runid);
	else if (*gen < 0)
		snprintf(text, sizeof(text), "%s\nfailed\n", runid);
	else
		snprintf(text, sizeof(text), "%s\nrestart %" PRId64 "\n", runid, *gen);
	if (ckdir_write_atomic(file, text, strlen(text), 0600)) {
		fprintf(stderr, "crest: step-start: cannot write %s\n", file);
		return -1;
	}
	return 0;
}

/* node != 0: 1 when STARTED is this run's, with node 0's decision in *gen
 * (-2: failed; left alone when not decided yet) */
static int read_started(const char *file, const char *runid, int64_t *gen)
{
	char text[96];
	int64_t g;
	FILE *f = fopen(file, "re");
	if (!f)
		return 0;
	bool same = fgets(text, sizeof(text), f) && !strncmp(text, runid, strlen(runid)) &&
		    text[strlen(runid)] == '\n';
	if (same && fgets(text, sizeof(text), f)) {
		if (!strcmp(text, "failed\n"))
			*gen = -2;
		else if (sscanf(text, "restart %" SCNd64, &g) == 1 && g >= 0)
			*gen = g;
	}
	fclose(f);
	return same;
}

/* 0 once no coordinator serves the runtime folder run (the last run's
 * may be on its way out: 5 s), else says why and -1 */
static int coord_gone(const char *run)
{
	for (int i = 0; ckdir_coord_alive(run) && i < 50; i++)
		usleep(100000);
	if (!ckdir_coord_alive(run))
		return 0;
	fprintf(stderr, "crest: step-start: a coordinator runs already in %s; is the same step running twice? (two "
		"steps with the same command line running at the same time need --checkpoint-name)\n", run);
	return -1;
}

/*
 * The folder must be one every node shares: node 0 writes STARTED with
 * the step's run id, which the other nodes of a step wait for (wait_s).
 * Node 0 then decides the generation (choose_gen) and writes
 * it after the run id; the others wait for that too, within the same
 * wait_s (the plugin gives step-start that long), and take it in *gen.
 * Without a run id: nothing shared, *gen untouched.
 */
static int check_shared(const char *abs, unsigned node, const char *runid, bool local_ok,
			unsigned wait_s, bool restart, int64_t *gen, char inc[CKDIR_INCARNATION_LEN + 1])
{
	struct statfs sf;
	char file[PATH_MAX + 16];

	if (!local_ok && statfs(abs, &sf) == 0 && (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC)) {
		fprintf(stderr, "crest: the checkpoint folder %s is in the memory of node %u (tmpfs): it would be lost "
			"with the node, and no other node could restart from it; use a folder on a shared file system "
			"(plugstack.conf dir=, or --checkpoint-dir), or ask the administrator for local_ok=yes\n",
			abs, node);
		return -1;
	}
	if (!runid)
		return 0;
	snprintf(file, sizeof(file), "%s/STARTED", abs);
	if (node == 0) {	/* also on one node: crest checkpoint --job looks for it */
		/* an earlier root's address goes first: neither --job nor
		 * another node takes it for this run's (only this node's own
		 * root writes it again) */
		snprintf(file, sizeof(file), "%s/ROOT", abs);
		unlink(file);
		snprintf(file, sizeof(file), "%s/STARTED", abs);
		if (write_started(file, runid, NULL))
			return -1;
		int bad = choose_gen(abs, node, restart, gen);
		if (bad)
			*gen = -1;
		/* this run owns the folder from now on, before the other nodes
		 * read the generation (and with it the run) */
		int rc = bad ? 0 : ckdir_incarnation_new(abs, inc);
		if (rc) {
			fprintf(stderr, "crest: step-start: cannot write %s/INCARNATION: %s\n", abs, strerror(-rc));
			*gen = -1;
		}
		return write_started(file, runid, gen) || bad || rc ? -1 : 0;
	}
	unsigned i;
	for (i = 0; i < wait_s * 10 && !read_started(file, runid, gen); i++)
		usleep(100000);
	if (i >= wait_s * 10) {
		fprintf(stderr, "crest: node %u does not see the step folder %s that node 0 made (no %s of this run "
			"after %u s): the checkpoint folder must be on a file system every node of the step shares "
			"(plugstack.conf dir=, or --checkpoint-dir)\n", node, abs, file, wait_s);
		return -1;
	}
	for (; i < wait_s * 10 && *gen == -1; i++) {
		usleep(100000);
		read_started(file, runid, gen);
	}
	if (*gen == -2) {
		fprintf(stderr, "crest: node %u: node 0 could not start the step (its message says why)\n", node);
		return -1;
	}
	if (*gen == -1) {
		fprintf(stderr, "crest: node %u: node 0 did not say within %u s which generation the step restarts "
			"from (%s); it may have failed: see its message\n", node, wait_s, file);
		return -1;
	}
	/* the run node 0 made: this node's coordinator belongs to it (without
	 * it, it learns the run from its parent) */
	if (ckdir_incarnation_read(abs, inc))
		inc[0] = 0;
	return 0;
}

static int parse_node(const char *opt, const char *s, unsigned min, unsigned *v)
{
	char *e;
	errno = 0;
	unsigned long x = strtoul(s, &e, 10);
	if (errno || e == s || *e || *s == '-' || x < min || x > 1000000) {
		fprintf(stderr, "crest: step: %s %s: expected a whole number >= %u\n", opt, s, min);
		return -1;
	}
	*v = (unsigned)x;
	return 0;
}

/* "RANK:STATUS,..." of the tasks of `node` that generation `gen` records
 * as ended, for the coordinator's --ended-tasks; "" if none */
static int ended_of_node(const char *abs, uint64_t gen, unsigned node, char *buf, size_t size)
{
	struct ckdir_manifest man;
	size_t used = 0;

	buf[0] = 0;
	int r = ckdir_manifest_read(abs, gen, &man);
	if (r) {
		fprintf(stderr, "crest: step-start: generation %" PRIu64 " of %s: %s\n", gen, abs,
			r == -ENOENT ? "no MANIFEST" : "damaged MANIFEST");
		return -1;
	}
	for (size_t i = 0; i < man.nended; i++) {
		if (man.ended[i].node != node)
			continue;
		int w = snprintf(buf + used, size - used, "%s%" PRIu32 ":%" PRId32, used ? "," : "",
				 man.ended[i].rank, man.ended[i].status);
		if (w < 0 || used + (size_t)w >= size) {
			fprintf(stderr, "crest: step-start: generation %" PRIu64 " of %s records more ended tasks "
				"on node %u than fit in %zu bytes\n", gen, abs, node, size);
			ckdir_manifest_free(&man);
			return -1;
		}
		used += (size_t)w;
	}
	ckdir_manifest_free(&man);
	return 0;
}

int cmd_step_start(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "node", required_argument, NULL, 'n' },
		{ "nodes", required_argument, NULL, 'N' },
		{ "tasks", required_argument, NULL, 'T' },
		{ "restart", no_argument, NULL, 'r' },
		{ "interval", required_argument, NULL, 'i' },
		{ "keep", required_argument, NULL, 'k' },
		{ "compress", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "tasks-wait", required_argument, NULL, 'W' },
		{ "task-ranks", required_argument, NULL, 'K' },
		{ "min-spacing", required_argument, NULL, 'm' },
		{ "occurrence", required_argument, NULL, 'O' },
		{ "run-id", required_argument, NULL, 'I' },
		{ "local-ok", no_argument, NULL, 'l' },
		{ "fanout", required_argument, NULL, 'F' },
		/* for the root only (crest-coord --help) */
		{ "slurm-job", required_argument, NULL, 'J' },
		{ "slurm-run", required_argument, NULL, 'R' },
		{ "on-cancel", required_argument, NULL, 'X' },
		{ "timelimit", required_argument, NULL, 'L' },
		{ "timelimit-margin", required_argument, NULL, 'M' },
		{ 0 },
	};
	char *root_only[10];
	int nroot = 0;
	struct cli_coord_args ca;
	struct cli_paths paths;
	const char *dir = NULL, *occ = NULL, *runid = NULL, *tasks_wait = NULL, *task_ranks = NULL;
	bool local_ok = false;
	static char occdir[PATH_MAX];
	unsigned node = 0, nodes = 1, tasks = 1, fanout = CREST_FANOUT_DEFAULT;
	bool restart = false;
	char abs[PATH_MAX], run[PATH_MAX], file[PATH_MAX + 32], addr[64], num[3][16];
	int ch, r;

	cli_coord_args_init(&ca);
	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': dir = optarg; continue;
		case 'O': occ = optarg; continue;
		case 'I': runid = optarg; continue;
		case 'W': tasks_wait = optarg; continue;
		case 'K': task_ranks = optarg; continue;
		case 'l': local_ok = true; continue;
		case 'r': restart = true; continue;
		case 'n': if (parse_node("--node", optarg, 0, &node)) return 2; continue;
		case 'N': if (parse_node("--nodes", optarg, 1, &nodes)) return 2; continue;
		case 'T': if (parse_node("--tasks", optarg, 1, &tasks)) return 2; continue;
		case 'F':
			if (parse_node("--fanout", optarg, 1, &fanout))
				return 2;
			if (fanout > CREST_FANOUT_MAX) {
				fprintf(stderr, "crest: step-start: --fanout %u: at most %d\n", fanout, CREST_FANOUT_MAX);
				return 2;
			}
			continue;
		case 'J': case 'R': case 'X': case 'L': case 'M':
			for (const struct option *o = opts; o->name; o++) {
				static char names[5][24];
				int k = nroot / 2;
				if (o->val != ch || k >= 5)
					continue;
				snprintf(names[k], sizeof(names[k]), "--%s", o->name);
				root_only[nroot++] = names[k];
				root_only[nroot++] = optarg;
			}
			continue;
		}
		r = cli_coord_opt(&ca, "step-start", ch, optarg);
		if (r < 0)
			return 2;
		if (r == 0)
			return cli_opt_error("step-start", ch, argv);
	}
	if (!dir || node >= nodes) {
		fprintf(stderr, "crest: step-start: needs --dir STEPDIR and --node N < --nodes M\n");
		return 2;
	}
	if (occ) {
		r = occurrence_dir(dir, occ, occdir, sizeof(occdir));
		if (r == -EINVAL)
			return 2;
		if (r)
			return 1;
		dir = occdir;
	}
	if (cli_find_paths(&paths) || make_parents(dir) || ckdir_make(dir) || cli_abs_dir("step-start", dir, abs, sizeof(abs)))
		return 1;
	/* afresh or from which generation: node 0 decides for every node and
	 * tells them in STARTED (without a run id each node decides alike) */
	int64_t decided = -1;
	static char inc[CKDIR_INCARNATION_LEN + 1];
	/* node 0 before it makes a new run (INCARNATION): a step of the same
	 * folder that still runs must not lose it */
	if (node == 0 && coord_gone(abs))
		return 1;
	if (check_shared(abs, node, runid, local_ok, tasks_wait ? (unsigned)strtoul(tasks_wait, NULL, 10) : 20,
			 restart, &decided, inc))
		return 1;
	if (!runid && choose_gen(abs, node, restart, &decided))
		return 1;
	r = !runid && node == 0 ? ckdir_incarnation_new(abs, inc) : 0;
	if (r) {
		fprintf(stderr, "crest: step-start: cannot write %s/INCARNATION: %s\n", abs, strerror(-r));
		return 1;
	}
	if (occ)
		printf("dir %s\n", abs);
	r = ckdir_node_dir(abs, node, run, sizeof(run));
	if (r) {
		fprintf(stderr, "crest: step-start: cannot create the folder of node %u in %s: %s\n", node, abs,
			strerror(-r));
		return 1;
	}

	uint64_t gen = (uint64_t)decided;

	/* the coordinator of this node */
	snprintf(num[0], sizeof(num[0]), "%u", tasks);
	snprintf(num[1], sizeof(num[1]), "%u", nodes);
	snprintf(num[2], sizeof(num[2]), "%u", node);
	char *extra[24];
	int ne = 0;
	extra[ne++] = "--tasks";
	extra[ne++] = num[0];
	if (tasks_wait) {
		extra[ne++] = "--tasks-wait";
		extra[ne++] = (char *)tasks_wait;
	}
	if (task_ranks) {
		extra[ne++] = "--task-ranks";
		extra[ne++] = (char *)task_ranks;
	}
	static char ended[4096];
	if (gen) {
		r = ended_of_node(abs, gen, node, ended, sizeof(ended));
		if (r)
			return 1;
		if (ended[0]) {
			extra[ne++] = "--ended-tasks";
			extra[ne++] = ended;
		}
	}
	static char listen[96], rootfile[PATH_MAX + 16], parentfile[PATH_MAX + 32], addrfile[PATH_MAX + 16];
	static char subtree[16];
	snprintf(rootfile, sizeof(rootfile), "%s/ROOT", abs);
	if (node == 0 && !runid)
		unlink(rootfile);	/* an earlier root's (with a run id: check_shared) */
	/* node 0 runs the root, on TCP, also when the step has one node: that
	 * is where crest checkpoint --job asks (cli_ckpt_munge.c).  A one-node
	 * step on a node without an IPv4 address keeps a local coordinator
	 * (--job then signals the step through Slurm). */
	bool root = false, parent_too = node > 0 && crest_tree_has_children(node, nodes, fanout);
	if (node == 0 || parent_too) {
		r = node_address(addr, sizeof(addr));
		if (r && (nodes > 1 || parent_too)) {
			fprintf(stderr, "crest: step-start: cannot find an IPv4 address of this node for the other "
				"nodes to reach: %s\n", strerror(-r));
			return 1;
		}
		root = node == 0 && !r;
	}
	if (root) {
		snprintf(listen, sizeof(listen), "%s:0", addr);
		extra[ne++] = "--root";
		extra[ne++] = "--listen";
		extra[ne++] = listen;
		extra[ne++] = "--addr-file";
		extra[ne++] = rootfile;
		extra[ne++] = "--nodes";
		extra[ne++] = num[1];
	} else if (nodes > 1) {
		/* the tree (common/tree_shape.h): the parent's address is in the
		 * parent's runtime folder, the root's in ROOT */
		uint32_t up = crest_tree_parent(node, fanout);
		if (up)
			snprintf(parentfile, sizeof(parentfile), "%s/nodes/n%u/ADDR", abs, up);
		extra[ne++] = "--node";
		extra[ne++] = num[2];
		extra[ne++] = "--parent-file";
		extra[ne++] = up ? parentfile : rootfile;
		if (up) {
			extra[ne++] = "--root-file";
			extra[ne++] = rootfile;
		}
		if (parent_too) {
			snprintf(listen, sizeof(listen), "%s:0", addr);
			snprintf(addrfile, sizeof(addrfile), "%s/ADDR", run);
			snprintf(subtree, sizeof(subtree), "%u", crest_tree_size(node, nodes, fanout));
			extra[ne++] = "--listen";
			extra[ne++] = listen;
			extra[ne++] = "--addr-file";
			extra[ne++] = addrfile;
			extra[ne++] = "--nodes";
			extra[ne++] = subtree;
		}
	}
	if (inc[0]) {
		extra[ne++] = "--incarnation";
		extra[ne++] = inc;
	}
	for (int i = 0; i < ne; i++)
		ca.argv[ca.argc++] = extra[i];
	for (int i = 0; node == 0 && i < nroot; i++)
		ca.argv[ca.argc++] = root_only[i];
	if (node && coord_gone(run))
		return 1;
	ckdir_runtime_clear(run);
	/* what this node's processes created after the generation, in the
	 * run that ended without a checkpoint (a node failure) */
	struct ckdir_manifest man = { 0 };
	struct cli_undo u = { .abs = abs, .src_run = run, .src_node = node, .run = run, .slurm = true,
			      .who = "step-start" };
	if (gen && !ckdir_manifest_read(abs, gen, &man)) {
		u.gen = gen;
		u.taken = man.created;
	}
	cli_undo_created(&u);	/* without a generation: the journal only emptied */
	ckdir_manifest_free(&man);
	snprintf(file, sizeof(file), "%s/exit-n%u", abs, node);
	unlink(file);	/* an earlier run's */
	if (cli_start_coord("step", &paths, abs, &ca))
		return 1;
	if (gen)
		printf("restart %" PRIu64 "\n", gen);
	else
		printf("launch\n");
	return fflush(stdout) ? 1 : 0;
}

/* "ok" in every exit-n<N> of nodes 0..nodes-1, waiting for missing ones;
 * *zero cleared unless every one also says "zero" */
static bool all_nodes_ok(const char *abs, unsigned nodes, bool *zero)
{
	char file[PATH_MAX + 32], text[16];

	for (unsigned n = 0; n < nodes; n++) {
		snprintf(file, sizeof(file), "%s/exit-n%u", abs, n);
		FILE *f = NULL;
		for (int i = 0; i < STOP_WAIT_MS / 100 && !(f = fopen(file, "re")); i++)
			usleep(100000);
		if (!f) {
			fprintf(stderr, "crest: step-stop: node %u of %s did not say how its tasks ended: the step "
				"is not done (a rerun restarts it)\n", n, abs);
			return false;
		}
		bool ok = fgets(text, sizeof(text), f) && !strcmp(text, "ok\n");
		if (ok && !(fgets(text, sizeof(text), f) && !strcmp(text, "zero\n")))
			*zero = false;
		fclose(f);
		if (!ok)
			return false;
	}
	return true;
}

int cmd_step_stop(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "node", required_argument, NULL, 'n' },
		{ "nodes", required_argument, NULL, 'N' },
		{ "ok", no_argument, NULL, 'o' },
		{ "zero", no_argument, NULL, 'z' },
		{ 0 },
	};
	const char *dir = NULL;
	unsigned node = 0, nodes = 1;
	bool ok = false, zero = false;
	char abs[PATH_MAX], run[PATH_MAX], file[PATH_MAX + 32];
	int ch;

	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		if (ch == 'd')
			dir = optarg;
		else if (ch == 'o')
			ok = true;
		else if (ch == 'z')
			zero = true;
		else if (ch == 'n' || ch == 'N') {
			if (parse_node(ch == 'n' ? "--node" : "--nodes", optarg, ch == 'n' ? 0 : 1,
				       ch == 'n' ? &node : &nodes))
				return 2;
		} else
			return cli_opt_error("step-stop", ch, argv);
	}
	if (!dir || node >= nodes) {
		fprintf(stderr, "crest: step-stop: needs --dir STEPDIR and --node N < --nodes M\n");
		return 2;
	}
	if (cli_abs_dir("step-stop", dir, abs, sizeof(abs)) || ckdir_node_dir(abs, node, run, sizeof(run)))
		return 1;
	crest_respawn_cancel(run);	/* a coordinator that died is not started again by what is left */
	cli_shutdown_coord(run);
	snprintf(file, sizeof(file), "%s/exit-n%u", abs, node);
	const char *how = !ok ? "killed\n" : zero ? "ok\nzero\n" : "ok\n";
	if (ckdir_write_atomic(file, how, strlen(how), 0600)) {
		fprintf(stderr, "crest: step-stop: cannot write %s\n", file);
		return 1;
	}
	zero = zero && ok;
	if (node == 0 && ok && all_nodes_ok(abs, nodes, &zero)) {
		snprintf(file, sizeof(file), "%s/DONE", abs);
		const char *done = zero ? "done\nexit 0\n" : "done\nexit nonzero\n";
		if (ckdir_write_atomic(file, done, strlen(done), 0600)) {
			fprintf(stderr, "crest: step-stop: cannot write %s\n", file);
			return 1;
		}
	}
	return 0;
}

int cmd_step_task_end(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "node", required_argument, NULL, 'n' },
		{ "rank", required_argument, NULL, 'r' },
		{ "status", required_argument, NULL, 's' },
		{ 0 },
	};
	const char *dir = NULL;
	unsigned node = 0, rank = 0, status = 0;
	bool have_rank = false, have_status = false;
	char abs[PATH_MAX], run[PATH_MAX];
	int ch;

	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		if (ch == 'd')
			dir = optarg;
		else if (ch == 'n' || ch == 'r' || ch == 's') {
			const char *name = ch == 'n' ? "--node" : ch == 'r' ? "--rank" : "--status";
			unsigned *v = ch == 'n' ? &node : ch == 'r' ? &rank : &status;
			if (parse_node(name, optarg, 0, v))
				return 2;
			have_rank |= ch == 'r';
			have_status |= ch == 's';
		} else
			return cli_opt_error("step-task-end", ch, argv);
	}
	if (!dir || !have_rank || !have_status || status > 0xffff) {
		fprintf(stderr, "crest: step-task-end: needs --dir STEPDIR --node N --rank R --status S (a wait status)\n");
		return 2;
	}
	if (cli_abs_dir("step-task-end", dir, abs, sizeof(abs)) || ckdir_node_dir(abs, node, run, sizeof(run)))
		return 1;
	int fd = cli_connect(run);
	if (fd < 0) {
		fprintf(stderr, "crest: step-task-end: no coordinator runs for node %u in %s: task %u's end is not "
			"recorded (no later generation of the step can be committed)\n", node, abs, rank);
		return 1;
	}
	struct crest_msg_task_ended m = { .rank = rank, .status = (int32_t)status };
	uint32_t seq = 0;
	int rc = crest_frame_send(fd, CREST_MSG_TASK_ENDED, &seq, &m, sizeof(m));
	close(fd);
	if (rc) {
		fprintf(stderr, "crest: step-task-end: telling the coordinator of node %u in %s: %s\n", node, abs,
			strerror(-rc));
		return 1;
	}
	return 0;
}
