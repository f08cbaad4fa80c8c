/* SPDX-License-Identifier: MIT */
/*
 * crest restart [--dir DIR] [--generation N] [coordinator options] [--]
 *
 * Checks the chosen generation (MANIFEST, every image with its size),
 * starts a coordinator for DIR, then becomes crest-restart, which becomes
 * the restored application: same pid, stdio and exit status.  With --node N
 * --coord ADDR:PORT it restores only the images of one node (gen-N/nM/,
 * M = --from-node, default N) under node N's sub-coordinator.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ckdir.h"
#include "cli.h"
#include "cli_tree.h"
#include "image_read.h"
#include "proto.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: crest restart [--dir DIR] [--generation N] [--interval SEC] [--keep N]\n"
		"                     [--compress none|zstd] [--timeout SEC] [--min-spacing SEC]\n"
		"                     [--allow-changed FILE]... [--no-truncate GLOB]...\n"
		"                     [--path-map /OLD=/NEW]... [--env NAME=VALUE]... [--keep-created]\n"
		"                     [--node N --coord ADDR:PORT [--from-node M] [--listen ADDR:PORT]]\n"
		"Continues the computation of DIR (default ./" CLI_DEFAULT_DIR ") from its newest complete\n"
		"checkpoint, or from generation N.  The program runs in the foreground.\n"
		"Files the program had open must be as they were at the checkpoint: a file that\n"
		"grew is cut back to its size then (except those matching --no-truncate GLOB, e.g.\n"
		"append-only logs); a file that shrank, was replaced or is missing stops the\n"
		"restart, unless named with --allow-changed FILE.  Small files and files under\n"
		"/tmp, /dev/shm and $TMPDIR are saved in the checkpoint and put back as they were.\n"
		"--path-map /OLD=/NEW: the files under /OLD are under /NEW now (another node, a\n"
		"copied directory): open files, mappings and the working directory are taken\n"
		"from there, and paths the program uses later are translated; it keeps seeing\n"
		"/OLD.  $TMPDIR and the checkpoint directory are mapped by themselves when they\n"
		"changed.  --env NAME=VALUE sets a variable in every restored process\n"
		"(CREST_RESTART_COUNT is always updated).\n"
		"Files and folders the computation created after the checkpoint (in the run that\n"
		"was then killed) are removed first, so that it finds what it had then; their\n"
		"list goes to DIR/REMOVED.  --keep-created leaves them.\n"
		"--node N --coord ADDR:PORT: restore only the processes of one node (those of\n"
		"node M with --from-node M, default N) as node N of the computation whose root\n"
		"coordinator (or the sub-coordinator of node N's parent) listens on ADDR:PORT;\n"
		"--listen ADDR:PORT: other nodes' sub-coordinators connect to this one.\n");
}

/* " 3 4" : the complete generations, for messages */
static void complete_list(const char *dir, char *buf, size_t size)
{
	uint64_t *gens;
	size_t n, used = 0;

	buf[0] = 0;
	if (ckdir_list_gens(dir, &gens, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		if (!ckdir_gen_complete(dir, gens[i]))
			continue;
		int w = snprintf(buf + used, size - used, " %" PRIu64, gens[i]);
		if (w < 0 || (size_t)w >= size - used)
			break;
		used += w;
	}
	free(gens);
	if (!used)
		snprintf(buf, size, " none");
}

/*
 * The verification before anything starts: generation `gen` of `abs` has a
 * MANIFEST, every image it lists exists with its size and a header whose
 * checksum is the one recorded (unless `checked`: cli_gen_check did it for
 * every node), and the process tree loads from them.  0 with *man and
 * *tree filled, or -1 with `why` ("is damaged: ...").
 */
static int load_gen(const char *abs, uint64_t gen, const char *node_prefix, uint32_t task, bool checked,
		    struct ckdir_manifest *man, struct tree **tree, char *why, size_t whylen)
{
	char gdir[PATH_MAX], image[PATH_MAX * 2], err[1024];
	char **images = NULL;
	int rc = -1;

	*tree = NULL;
	memset(man, 0, sizeof(*man));
	int r = ckdir_manifest_read(abs, gen, man);
	if (r) {
		snprintf(why, whylen, "is incomplete (%s)", r == -ENOENT ? "no MANIFEST" : "damaged MANIFEST");
		return -1;
	}
	if (*node_prefix) {
		/* one node of the tree: only its images, n<node>/... */
		size_t k = 0, pl = strlen(node_prefix);
		for (size_t i = 0; i < man->nimages; i++)
			if (!strncmp(man->images[i].path, node_prefix, pl))
				man->images[k++] = man->images[i];
		man->nimages = k;
		if (k == 0) {
			snprintf(why, whylen, "has no image of node %.*s", (int)pl - 2, node_prefix + 1);
			ckdir_manifest_free(man);
			return -1;
		}
	}
	if (man->nimages == 0) {
		snprintf(why, whylen, "is damaged: its MANIFEST lists no image");
		ckdir_manifest_free(man);
		return -1;
	}
	ckdir_gen_path(gdir, sizeof(gdir), abs, gen);
	images = calloc(man->nimages, sizeof(*images));
	if (!images) {
		snprintf(why, whylen, "cannot be read: out of memory");
		ckdir_manifest_free(man);
		return -1;
	}
	for (size_t i = 0; i < man->nimages; i++) {
		snprintf(image, sizeof(image), "%s/%s", gdir, man->images[i].path);
		if (!checked && cli_image_check(image, &man->images[i], why, whylen))
			goto out;
		if (asprintf(&images[i], "%s", image) < 0) {
			images[i] = NULL;
			snprintf(why, whylen, "cannot be read: out of memory");
			goto out;
		}
	}
	*tree = cli_tree_load(images, man->nimages, task, err, sizeof(err));
	if (!*tree) {
		snprintf(why, whylen, "is damaged: %s", err);
		goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < man->nimages; i++)
		free(images[i]);
	free(images);
	if (rc)
		ckdir_manifest_free(man);
	return rc;
}

/*
 * No --generation: the newest complete generation whose images are whole,
 * every node's (cli_gen_check: the nodes of a computation restarted each
 * with --node choose alike), and that passes load_gen.  A damaged one is
 * reported and the next older one tried (a checkpoint that cannot be
 * restarted must not cost the computation its older ones).
 */
struct loadable {
	const char *abs, *node_prefix;
	struct ckdir_manifest *man;
	struct tree **tree;
};

static int try_load(uint64_t gen, void *arg, char *why, size_t whylen)
{
	struct loadable *l = arg;
	if (!load_gen(l->abs, gen, l->node_prefix, 0, true, l->man, l->tree, why, whylen))
		return 0;
	/* one node of several: its images are whole (cli_gen_check), so the
	 * others take this generation; falling back alone would part them */
	return *l->node_prefix ? -2 : -1;
}

static int newest_loadable(const char *abs, const char *dir, const char *node_prefix, uint64_t *gen,
			   struct ckdir_manifest *man, struct tree **tree)
{
	struct loadable l = { abs, node_prefix, man, tree };

	if (cli_newest_whole(abs, dir, "restart", gen, try_load, &l))
		return -1;
	if (!*gen) {
		fprintf(stderr, "crest: restart: no complete checkpoint in %s; take one with crest checkpoint while the computation runs\n",
			dir);
		return -1;
	}
	return 0;
}

/*
 * Forks the restored tree; this process becomes its root.  The path map of
 * the last incarnation still holds: its processes recorded their paths in
 * the application's (old) terms.  Returns only on an error, printed.
 */
static void become_tree(const struct cli_paths *paths, const char *run, uint64_t gen, uint32_t task,
			struct tree *tree, char **extra, int nextra)
{
	static char oldmap[16384];
	char file[PATH_MAX + 32], genbuf[32], why[3 * PATH_MAX];

	snprintf(genbuf, sizeof(genbuf), "%" PRIu64, gen);
	ckdir_tree_file(file, sizeof(file), run, "PATHMAP", task);
	FILE *pm = fopen(file, "re");
	size_t pml = pm ? fread(oldmap, 1, sizeof(oldmap) - 1, pm) : 0;
	if (pm)
		fclose(pm);
	for (size_t off = 0; off < pml && oldmap[off] && nextra + 2 <= 2 * 64;) {
		const char *o = oldmap + off;
		size_t ol = strnlen(o, pml - off);
		if (off + ol + 1 >= pml)
			break;
		const char *n = o + ol + 1;
		size_t nl = strnlen(n, pml - off - ol - 1);
		char *pair;
		if (asprintf(&pair, "%s=%s", o, n) > 0) {
			extra[nextra++] = "--path-map";
			extra[nextra++] = pair;	/* lives until exec */
		}
		off += ol + 1 + nl + 1;
	}
	unlink(file);
	char *args[18 + 2 * 64 + 1] = { (char *)paths->restart, "--image", "@IMAGE@", "--dir", (char *)run,
					 "--generation", genbuf, "--keep-fds", "--vpid-fd", "@VPIDFD@",
					 "--inherit-fds", "@INHERIT@", "--shm-fds", "@SHM@", "--fd-links", "@FDLINKS@",
					 "--tmpdir", getenv("TMPDIR") ? getenv("TMPDIR") : "" };
	for (int i = 0; i < nextra; i++)
		args[18 + i] = extra[i];
	args[18 + nextra] = NULL;
	/* a stale table of an earlier incarnation must not reach new programs */
	ckdir_tree_file(file, sizeof(file), run, "VPIDS", task);
	unlink(file);
	cli_tree_set_run(tree, run, task);
	if (cli_tree_start(tree, args, why, sizeof(why)))
		fprintf(stderr, "crest: restart: %s\n", why);
}

/*
 * A task that had ended when generation `gen` was taken (sched/coord_ended.c)
 * ends again at once the way it did, without running: its program's exit
 * status, or its signal (no core file).  Returns if it was not such a task.
 */
static void end_if_ended(const char *abs, uint64_t gen, uint32_t task, unsigned node)
{
	struct ckdir_manifest man;
	char how[32];

	if (ckdir_manifest_read(abs, gen, &man))
		return;	/* load_gen says what is wrong */
	const struct ckdir_ended *e = ckdir_manifest_ended(&man, node, task - 1);
	if (!e) {
		ckdir_manifest_free(&man);
		return;
	}
	int32_t status = e->status;
	ckdir_manifest_free(&man);
	ckdir_status_text(status, how, sizeof(how));
	fprintf(stderr, "crest: task %u had ended (%s) when generation %" PRIu64 " was taken: it ends the same way "
		"again, without running\n", task - 1, how, gen);
	fflush(stderr);
	if (WIFSIGNALED(status)) {
		struct rlimit none = { 0, 0 };
		sigset_t set;
		setrlimit(RLIMIT_CORE, &none);
		signal(WTERMSIG(status), SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, WTERMSIG(status));
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		raise(WTERMSIG(status));
		_exit(128 + WTERMSIG(status));
	}
	_exit(WEXITSTATUS(status));
}

/*
 * --task RANK (a Slurm task restarting, preload/task_restart.c): the
 * processes of that task from node `node`'s images of generation `gen`,
 * under the node's coordinator, which the plugin started already.
 */
static int restart_task(const char *abs, const char *run, const char *dir, uint64_t gen, uint32_t task,
			unsigned node, char **extra, int nextra)
{
	struct ckdir_manifest man = { 0 };
	struct tree *tree = NULL;
	struct cli_paths paths;
	char prefix[32], why[3 * PATH_MAX], num[16];

	end_if_ended(abs, gen, task, node);
	if (cli_find_paths(&paths))
		return 1;
	/* started before the tasks; give a slow one 30 s */
	for (int i = 0; !ckdir_coord_alive(run) && i < 300; i++)
		usleep(100000);
	if (!ckdir_coord_alive(run)) {
		fprintf(stderr, "crest: restart: task %u: no coordinator runs for node %u in %s; "
			"see its coord.log there\n", task - 1, node, dir);
		return 1;
	}
	snprintf(prefix, sizeof(prefix), "n%u/", node);
	if (load_gen(abs, gen, prefix, task, false, &man, &tree, why, sizeof(why))) {
		fprintf(stderr, "crest: restart: task %u: generation %" PRIu64 " in %s %s\n", task - 1, gen, dir, why);
		return 1;
	}
	setenv("CREST_DIR", run, 1);
	snprintf(num, sizeof(num), "%u", node);
	setenv("CREST_NODE", num, 1);
	/* the one line a restarted task prints (its stderr is the step's) */
	char when[32] = "?";
	struct tm tm;
	time_t created = (time_t)man.created;
	if (man.created && localtime_r(&created, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(stderr, "crest: restarted from generation %" PRIu64 " (taken at %s)\n", gen, when);
	become_tree(&paths, run, gen, task, tree, extra, nextra);
	cli_tree_free(tree);
	ckdir_manifest_free(&man);
	return 1;
}

int cmd_restart(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "generation", required_argument, NULL, 'g' },
		{ "interval", required_argument, NULL, 'i' },
		{ "keep", required_argument, NULL, 'k' },
		{ "compress", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "min-spacing", required_argument, NULL, 'm' },
		{ "allow-changed", required_argument, NULL, 'A' },
		{ "no-truncate", required_argument, NULL, 'N' },
		{ "path-map", required_argument, NULL, 'P' },
		{ "env", required_argument, NULL, 'E' },
		{ "node", required_argument, NULL, 'n' },
		{ "coord", required_argument, NULL, 'C' },
		{ "listen", required_argument, NULL, 'L' },
		{ "from-node", required_argument, NULL, 'F' },
		{ "task", required_argument, NULL, 'K' },
		{ "keep-created", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct ckdir_manifest man = { 0 };
	struct tree *tree = NULL;
	struct cli_coord_args ca;
	struct cli_paths paths;
	const char *dir = CLI_DEFAULT_DIR;
	char abs[PATH_MAX], run[PATH_MAX], gdir[PATH_MAX], list[256], why[3 * PATH_MAX];
	const char *from = NULL, *node_arg = NULL;
	uint64_t gen = 0;
	uint32_t task = 0;		/* --task RANK: rank + 1 */
	unsigned task_node = 0;
	pid_t other;
	/* passed through to crest-restart: at most 32 of each */
	char *extra[2 * 64 + 1];
	int nextra = 0;
	int ch, r, status = 1;
	bool keep_created = false;

	cli_coord_args_init(&ca);
	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		if (ch == 'd') {
			dir = optarg;
			continue;
		}
		if (ch == 'g') {
			char *e;
			errno = 0;
			gen = strtoull(optarg, &e, 10);
			if (errno || e == optarg || *e || *optarg == '-' || !gen) {
				fprintf(stderr, "crest: restart: --generation %s: expected a generation number >= 1\n", optarg);
				return 2;
			}
			continue;
		}
		if (ch == 'P') {
			const char *eq = strchr(optarg, '=');
			struct stat st;
			if (!eq || optarg[0] != '/' || eq[1] != '/') {
				fprintf(stderr, "crest: restart: --path-map %s: expected /OLD=/NEW, both absolute\n", optarg);
				return 2;
			}
			if (stat(eq + 1, &st) < 0) {
				fprintf(stderr, "crest: restart: --path-map %s: %s: %s; create it or copy the files there first\n",
					optarg, eq + 1, strerror(errno));
				return 2;
			}
		}
		if (ch == 'E' && (!strchr(optarg, '=') || optarg[0] == '=')) {
			fprintf(stderr, "crest: restart: --env %s: expected NAME=VALUE\n", optarg);
			return 2;
		}
		if (ch == 'A' || ch == 'N' || ch == 'P' || ch == 'E') {
			if (nextra >= 2 * 64) {
				fprintf(stderr, "crest: restart: too many --allow-changed/--no-truncate/--path-map/--env options\n");
				return 2;
			}
			extra[nextra++] = ch == 'A' ? "--allow-changed" : ch == 'N' ? "--no-truncate" :
					  ch == 'P' ? "--path-map" : "--env";
			extra[nextra++] = optarg;
			continue;
		}
		if (ch == 'h') {
			usage(stdout);
			return 0;
		}
		if (ch == 'R') {
			keep_created = true;
			continue;
		}
		if (ch == 'K') {
			char *e;
			errno = 0;
			unsigned long v = strtoul(optarg, &e, 10);
			if (errno || e == optarg || *e || *optarg == '-' || v >= 10000000) {
				fprintf(stderr, "crest: restart: --task %s: expected a task rank (SLURM_PROCID)\n", optarg);
				return 2;
			}
			task = (uint32_t)v + 1;
			continue;
		}
		if (ch == 'n') {
			node_arg = optarg;	/* its meaning depends on --task */
			continue;
		}
		if (ch == 'F') {
			if (!*optarg || strspn(optarg, "0123456789") != strlen(optarg) || strlen(optarg) > 9) {
				fprintf(stderr, "crest: restart: --from-node %s: expected a node number\n", optarg);
				return 2;
			}
			from = optarg;
			continue;
		}
		r = cli_node_opt(&ca, "restart", ch, optarg);
		if (!r)
			r = cli_coord_opt(&ca, "restart", ch, optarg);
		if (r < 0)
			return 2;
		if (r == 0)
			return cli_opt_error("restart", ch, argv);
	}
	if (optind < argc) {
		fprintf(stderr, "crest: restart: unexpected argument %s; the program and its arguments come from the checkpoint\n",
			argv[optind]);
		return 2;
	}
	if (task) {
		/* one task of a Slurm step (spank/): its node's coordinator runs */
		char *e;
		if (!gen || ca.parent || from) {
			fprintf(stderr, "crest: restart: --task goes with --generation and --node N, without --coord and --from-node\n");
			return 2;
		}
		task_node = node_arg ? (unsigned)strtoul(node_arg, &e, 10) : 0;
		if (node_arg && (*e || e == node_arg || *node_arg == '-')) {
			fprintf(stderr, "crest: restart: --node %s: expected a node number\n", node_arg);
			return 2;
		}
		int rc = cli_abs_dir("restart", dir, abs, sizeof(abs));
		if (!rc)
			rc = ckdir_check(abs);
		if (!rc && (rc = ckdir_node_dir(abs, task_node, run, sizeof(run))))
			fprintf(stderr, "crest: restart: cannot create the folder of node %u in %s: %s\n", task_node,
				abs, strerror(-rc));
		if (rc)
			return 1;
		return restart_task(abs, run, dir, gen, task, task_node, extra, nextra);
	}
	if (node_arg) {
		r = cli_node_opt(&ca, "restart", 'n', node_arg);
		if (r < 0)
			return 2;
	}
	if (cli_abs_dir("restart", dir, abs, sizeof(abs)) || ckdir_check(abs) ||
	    cli_node_dir("restart", &ca, abs, run, sizeof(run)))
		return 1;
	if (from && !ca.node) {
		fprintf(stderr, "crest: restart: --from-node goes with --node N --coord ADDR:PORT\n");
		return 2;
	}
	/* the coordinator of a computation killed a moment ago is on its way
	 * out (it leaves once its processes are gone): give it 5 s */
	other = ckdir_coord_alive(run);
	for (int i = 0; other && i < 100; i++) {
		usleep(50000);
		other = ckdir_coord_alive(run);
	}
	if (other) {
		fprintf(stderr, "crest: restart: a computation is already running in %s (coordinator pid %d); stop it first or use another --dir\n",
			dir, (int)other);
		return 1;
	}
	char node_prefix[32] = "";
	if (ca.node)
		snprintf(node_prefix, sizeof(node_prefix), "n%s/", from ? from : ca.node_arg);
	if (gen) {
		/* the generation asked for, or nothing */
		struct stat st;
		complete_list(abs, list, sizeof(list));
		if (ckdir_gen_path(gdir, sizeof(gdir), abs, gen) || stat(gdir, &st) < 0) {
			fprintf(stderr, "crest: restart: generation %" PRIu64 " does not exist in %s; complete ones:%s\n",
				gen, dir, list);
			return 1;
		}
		if (load_gen(abs, gen, node_prefix, task, false, &man, &tree, why, sizeof(why))) {
			fprintf(stderr, "crest: restart: generation %" PRIu64 " in %s %s; complete ones:%s\n",
				gen, dir, why, list);
			goto out_free;
		}
	} else if (newest_loadable(abs, dir, node_prefix, &gen, &man, &tree)) {
		goto out_free;
	}
	if (cli_find_paths(&paths))
		goto out_free;
	if (access(paths.restart, X_OK)) {
		fprintf(stderr, "crest: restart: %s: %s; build it (make) or reinstall crest\n", paths.restart, strerror(errno));
		goto out_free;
	}
	/* the files of the run that was killed after the checkpoint */
	unsigned src_node = from ? (unsigned)atoi(from) : ca.node ? (unsigned)atoi(ca.node_arg) : 0;
	char src_run[PATH_MAX];
	if (ca.node && ckdir_node_dir(abs, src_node, src_run, sizeof(src_run)))
		snprintf(src_run, sizeof(src_run), "%s", run);
	else if (!ca.node)
		snprintf(src_run, sizeof(src_run), "%s", run);
	char *maps[64];
	int nmaps = 0;
	for (int i = 0; i + 1 < nextra && nmaps < 64; i += 2)
		if (!strcmp(extra[i], "--path-map"))
			maps[nmaps++] = extra[i + 1];
	struct cli_undo u = {
		.abs = abs, .src_run = src_run, .src_node = src_node, .gen = gen, .taken = man.created,
		.run = run, .maps = maps, .nmaps = nmaps, .keep = keep_created, .who = "restart",
	};
	cli_undo_created(&u);
	ckdir_procs_clear(run);
	/* this pid becomes the restored process: `crest checkpoint` waits for it
	 * to connect while it reads its image */
	char marker[PATH_MAX + 16];
	snprintf(marker, sizeof(marker), "%s/RESTARTING", run);
	FILE *mf = fopen(marker, "w");
	if (mf) {
		fprintf(mf, "%d\n", (int)getpid());
		fclose(mf);
	}
	if (cli_start_coord("restart", &paths, abs, &ca))
		goto out_free;
	setenv("CREST_DIR", run, 1);
	if (ca.node)
		setenv("CREST_NODE", ca.node_arg, 1);
	become_tree(&paths, run, gen, 0, tree, extra, nextra);
	cli_shutdown_coord(run);
out_free:
	if (tree)
		cli_tree_free(tree);
	ckdir_manifest_free(&man);
	return status;
}
