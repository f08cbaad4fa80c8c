/* SPDX-License-Identifier: MIT */
/* Helpers shared by the verbs of the crest command. */
#define LOG_MODULE "cli"
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckdir.h"
#include "cli.h"
#include "proto.h"

int cli_find_paths(struct cli_paths *p)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n < 0) {
		fprintf(stderr, "crest: cannot find its own binary (/proc/self/exe): %s\n", strerror(errno));
		return -errno;
	}
	exe[n] = 0;
	slash = strrchr(exe, '/');
	*slash = 0;
	snprintf(p->bindir, sizeof(p->bindir), "%s", exe[0] ? exe : "/");
	if (snprintf(p->coord, sizeof(p->coord), "%s/crest-coord", exe) >= (int)sizeof(p->coord) ||
	    snprintf(p->libcrest, sizeof(p->libcrest), "%s/../lib/libcrest.so", exe) >= (int)sizeof(p->libcrest) ||
	    snprintf(p->restart, sizeof(p->restart), "%s/../libexec/crest/crest-restart", exe) >= (int)sizeof(p->restart))
		return -ENAMETOOLONG;
	/* developers and tests may point at another libcrest */
	const char *env = getenv("CREST_LIBCREST");
	if (env && *env)
		snprintf(p->libcrest, sizeof(p->libcrest), "%s", env);
	/* tidy ".." away when the files exist */
	char tmp[PATH_MAX];
	if (realpath(p->libcrest, tmp))
		snprintf(p->libcrest, sizeof(p->libcrest), "%s", tmp);
	if (realpath(p->restart, tmp))
		snprintf(p->restart, sizeof(p->restart), "%s", tmp);
	return 0;
}

void cli_coord_args_init(struct cli_coord_args *a)
{
	memset(a, 0, sizeof(*a));
}

static void push(struct cli_coord_args *a, const char *s)
{
	if (a->argc < (int)(sizeof(a->argv) / sizeof(a->argv[0])) - 1)
		a->argv[a->argc++] = (char *)s;
}

int cli_node_opt(struct cli_coord_args *a, const char *verb, int ch, const char *arg)
{
	char *e;

	if (ch == 'C') {
		a->parent = arg;
		return 1;
	}
	if (ch == 'L') {
		a->listen = arg;
		return 1;
	}
	if (ch != 'n')
		return 0;
	errno = 0;
	unsigned long v = strtoul(arg, &e, 10);
	if (errno || e == arg || *e || *arg == '-' || v < 1 || v > 1000000) {
		fprintf(stderr, "crest: %s: --node %s: expected a node number >= 1 (node 0 is the root's: no --node)\n",
			verb, arg);
		return -1;
	}
	a->node = (unsigned)v;
	a->node_arg = arg;
	return 1;
}

int cli_node_dir(const char *verb, const struct cli_coord_args *a, const char *absdir, char *buf, size_t size)
{
	int rc;

	if (a->listen && !a->node) {
		fprintf(stderr, "crest: %s: --listen ADDR:PORT goes with --node N and --coord ADDR:PORT (a "
			"sub-coordinator that other nodes' sub-coordinators connect to)\n", verb);
		return -EINVAL;
	}
	if (!a->node != !a->parent) {
		fprintf(stderr, "crest: %s: --node N and --coord ADDR:PORT (the root coordinator) go together\n", verb);
		return -EINVAL;
	}
	rc = ckdir_node_dir(absdir, a->node, buf, size);
	if (rc)
		fprintf(stderr, "crest: %s: cannot create the folder of node %u in %s: %s\n", verb, a->node, absdir,
			strerror(-rc));
	return rc;
}

int cli_coord_opt(struct cli_coord_args *a, const char *verb, int ch, const char *arg)
{
	const char *name;
	char *e;

	switch (ch) {
	case 'i': name = "--interval"; break;
	case 'k': name = "--keep"; break;
	case 't': name = "--timeout"; break;
	case 'm': name = "--min-spacing"; break;
	case 'c':
		if (strcmp(arg, "none") && strcmp(arg, "zstd")) {
			fprintf(stderr, "crest: %s: --compress %s: expected none or zstd\n", verb, arg);
			return -1;
		}
		push(a, "--compress");
		push(a, arg);
		return 1;
	default:
		return 0;
	}
	errno = 0;
	unsigned long v = strtoul(arg, &e, 10);
	bool zero_ok = ch == 'i' || ch == 'm';
	if (errno || e == arg || *e || *arg == '-' || v > 1000000 || (!zero_ok && v == 0)) {
		fprintf(stderr, "crest: %s: %s %s: expected a whole number%s\n", verb, name, arg,
			ch == 'i' ? " of seconds (0 = none)" : ch == 'm' ? " of seconds" : " >= 1");
		return -1;
	}
	push(a, name);
	push(a, arg);
	return 1;
}

int cli_opt_error(const char *verb, int ch, char **argv)
{
	const char *opt = argv[optind - 1];

	if (ch == ':')
		fprintf(stderr, "crest: %s: option %s needs a value; see crest %s --help\n", verb, opt, verb);
	else if (optopt && opt[0] == '-' && opt[1] != '-')
		fprintf(stderr, "crest: %s: unknown option -%c; see crest %s --help\n", verb, optopt, verb);
	else
		fprintf(stderr, "crest: %s: unknown option %s; see crest %s --help\n", verb, opt, verb);
	return 2;
}

int cli_abs_dir(const char *verb, const char *dir, char *abs, size_t size)
{
	char tmp[PATH_MAX];

	if (!realpath(dir, tmp)) {
		int rc = -errno;
		fprintf(stderr, "crest: %s: checkpoint directory %s: %s\n", verb, dir, strerror(errno));
		return rc;
	}
	if (strlen(tmp) >= size)
		return -ENAMETOOLONG;
	strcpy(abs, tmp);
	return 0;
}

/*
 * DIR/OPTIONS keeps the coordinator options `crest launch` was given, so
 * that a coordinator started later for the same computation (by restart or
 * checkpoint) keeps the same --interval, --keep, --compress and --timeout
 * unless they are given again.
 */
static void options_save(const char *absdir, const struct cli_coord_args *a)
{
	char path[PATH_MAX + 16], tmp[PATH_MAX + 24];
	snprintf(path, sizeof(path), "%s/OPTIONS", absdir);
	snprintf(tmp, sizeof(tmp), "%s/OPTIONS.tmp", absdir);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
	for (int i = 0; i + 1 < a->argc; i += 2)
		fprintf(f, "%s %s\n", a->argv[i], a->argv[i + 1]);
	if (fclose(f) == 0)
		rename(tmp, path);
	else
		unlink(tmp);
}

static void options_load(const char *absdir, struct cli_coord_args *a)
{
	static char store[5][2][32];
	char path[PATH_MAX + 16], name[32], val[32];
	int k = 0;
	snprintf(path, sizeof(path), "%s/OPTIONS", absdir);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	while (k < 5 && fscanf(f, "%31s %31s", name, val) == 2) {
		bool given = false;
		for (int i = 0; i < a->argc; i += 2)
			given |= !strcmp(a->argv[i], name);
		if (given || (strcmp(name, "--interval") && strcmp(name, "--keep") &&
			      strcmp(name, "--compress") && strcmp(name, "--timeout") &&
			      strcmp(name, "--min-spacing")))
			continue;
		snprintf(store[k][0], sizeof(store[k][0]), "%s", name);
		snprintf(store[k][1], sizeof(store[k][1]), "%s", val);
		push(a, store[k][0]);
		push(a, store[k][1]);
		k++;
	}
	fclose(f);
}

int cli_start_coord(const char *verb, const struct cli_paths *p, const char *absdir,
		    const struct cli_coord_args *given)
{
	char *argv[64];
	int n = 0, st;
	pid_t pid;
	struct cli_coord_args opts = *given, *a = &opts;

	/* a sub-coordinator takes its options from the root; a Slurm step's
	 * come from the plugin on every node */
	bool step = !strcmp(verb, "step");
	if (strcmp(verb, "launch") && !a->node && !step)
		options_load(absdir, a);
	if (strcmp(verb, "checkpoint") && !a->node && !step)
		options_save(absdir, a);	/* launch, and restart with what it was given */

	if (access(p->coord, X_OK)) {
		fprintf(stderr, "crest: %s: %s: %s; is crest installed completely?\n", verb, p->coord, strerror(errno));
		return -ENOENT;
	}
	argv[n++] = (char *)p->coord;
	argv[n++] = "--dir";
	argv[n++] = (char *)absdir;
	for (int i = 0; i < a->argc; i++)
		argv[n++] = a->argv[i];
	if (a->node) {
		argv[n++] = "--node";
		argv[n++] = (char *)a->node_arg;
		argv[n++] = "--parent";
		argv[n++] = (char *)a->parent;
		if (a->listen) {
			argv[n++] = "--listen";
			argv[n++] = (char *)a->listen;
		}
	}
	/* launch and restart of a whole computation start a new run of it: a
	 * coordinator of an earlier one still alive somewhere stops (and is
	 * not started again); `crest checkpoint` starting a coordinator does
	 * not (docs/protocol.md, INCARNATION) */
	char inc[CKDIR_INCARNATION_LEN + 1];
	if (!a->node && !step && strcmp(verb, "checkpoint")) {
		int rc = ckdir_incarnation_new(absdir, inc);
		if (rc) {
			fprintf(stderr, "crest: %s: cannot write %s/INCARNATION: %s\n", verb, absdir, strerror(-rc));
			return rc;
		}
		argv[n++] = "--incarnation";
		argv[n++] = inc;
	}
	/* launch and restart become the program: the coordinator watches that pid */
	char pidbuf[16];
	if (strcmp(verb, "checkpoint") && !step) {
		snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
		argv[n++] = "--pid";
		argv[n++] = pidbuf;
	}
	argv[n] = NULL;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "crest: %s: fork: %s\n", verb, strerror(errno));
		return -errno;
	}
	if (pid == 0) {
		execv(argv[0], argv);
		fprintf(stderr, "crest: %s: cannot run %s: %s\n", verb, argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "crest: %s: the coordinator did not start (see above and %s%s/coord.log)\n",
			verb, absdir, a->node ? "/nodes/n*" : "");
		return -EIO;
	}
	return 0;
}

int cli_connect(const char *dir)
{
	if (!ckdir_coord_alive(dir))
		return -ENOENT;
	return ckdir_coord_connect(dir);
}

int cli_status_fetch(const char *dir, char *buf, size_t size)
{
	struct crest_frame hdr;
	uint32_t seq = 0;
	int fd, rc;

	fd = cli_connect(dir);
	if (fd < 0)
		return fd;
	rc = crest_frame_send(fd, CREST_MSG_STATUS_REQUEST, &seq, NULL, 0);
	if (rc)
		goto out_close;
	rc = crest_frame_recv(fd, &hdr, buf, size - 1, 10000);
	if (rc < 0)
		goto out_close;
	if (hdr.type != CREST_MSG_STATUS_REPLY) {
		rc = -EPROTO;
		goto out_close;
	}
	buf[rc] = 0;
	rc = 0;
out_close:
	close(fd);
	return rc;
}

static const char *json_key(const char *json, const char *key)
{
	char pat[128];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	return p ? p + strlen(pat) : NULL;
}

bool cli_json_num(const char *json, const char *key, long long *v)
{
	const char *p = json_key(json, key);
	char *e;

	if (!p)
		return false;
	*v = strtoll(p, &e, 10);
	return e != p;
}

bool cli_json_str(const char *json, const char *key, char *out, size_t size)
{
	const char *p = json_key(json, key);
	size_t n = 0;

	if (!p || *p != '"')
		return false;
	for (p++; *p && *p != '"' && n + 1 < size; p++) {
		if (*p == '\\' && p[1])
			p++;
		out[n++] = *p;
	}
	out[n] = 0;
	return true;
}

void cli_json_put(const char *s, size_t max)
{
	putchar('"');
	for (size_t i = 0; i < max && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

void cli_shutdown_coord(const char *dir)
{
	uint32_t seq = 0;
	int fd = cli_connect(dir);

	if (fd < 0)
		return;
	crest_frame_send(fd, CREST_MSG_SHUTDOWN, &seq, NULL, 0);
	close(fd);
}
