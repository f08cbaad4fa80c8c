/* SPDX-License-Identifier: MIT */
/*
 * crest status [--dir DIR] [--json]
 *
 * What the coordinator says (processes, running checkpoint) plus what the
 * directory holds (generations, complete or not, sizes, latest).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckdir.h"
#include "cli.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: crest status [--dir DIR] [--json]\n"
		"Shows the coordinator, the processes, a running checkpoint and the generations\n"
		"of DIR (default ./" CLI_DEFAULT_DIR ").  --json prints one JSON object.\n");
}

struct gen_info {
	uint64_t gen;
	bool complete;
	uint64_t bytes;
	size_t nimages;
	int64_t created;
};

/* bytes of the files under path (an incomplete generation has no MANIFEST) */
static uint64_t du(const char *path)
{
	uint64_t total = 0;
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISDIR(st.st_mode))
		return S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char child[PATH_MAX];
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(child, sizeof(child), "%s/%s", path, de->d_name) < (int)sizeof(child))
			total += du(child);
	}
	closedir(d);
	return total;
}

static int collect(const char *abs, struct gen_info **out, size_t *nout)
{
	uint64_t *gens;
	size_t n;
	int rc = ckdir_list_gens(abs, &gens, &n);

	if (rc)
		return rc;
	*out = calloc(n ? n : 1, sizeof(**out));
	if (!*out) {
		free(gens);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct ckdir_manifest m;
		struct gen_info *g = &(*out)[i];
		g->gen = gens[i];
		if (!ckdir_manifest_read(abs, gens[i], &m)) {
			g->complete = true;
			g->nimages = m.nimages;
			g->created = m.created;
			for (size_t k = 0; k < m.nimages; k++)
				g->bytes += m.images[k].size;
			ckdir_manifest_free(&m);
		} else {
			char p[PATH_MAX];
			ckdir_gen_path(p, sizeof(p), abs, gens[i]);
			g->bytes = du(p);
		}
	}
	*nout = n;
	free(gens);
	return 0;
}

static void human_procs(const char *json)
{
	const char *p = json;
	int n = 0;

	while ((p = strstr(p, "{\"pid\":"))) {
		long long pid = 0, rank = 0;
		char exe[256] = "?";
		const char *end = strchr(p, '}');
		char item[1024];
		size_t len = end ? (size_t)(end - p) + 1 : strlen(p);
		if (len >= sizeof(item))
			len = sizeof(item) - 1;
		memcpy(item, p, len);
		item[len] = 0;
		cli_json_num(item, "pid", &pid);
		cli_json_num(item, "rank", &rank);
		cli_json_str(item, "exe", exe, sizeof(exe));
		printf("  rank %lld  pid %lld  %s%s\n", rank, pid, exe,
		       strstr(item, "\"restarted\":true") ? "  (restarted)" : "");
		n++;
		p += len;
	}
	if (!n)
		printf("  none connected\n");
}

/* "  node 2: 12.0 MiB written, done" for each node of a running checkpoint */
static void human_nodes(const char *ck)
{
	const char *p = strstr(ck, "\"nodes\":[");
	const char *end = p ? strchr(p, ']') : NULL;

	if (!p || !end)
		return;
	while ((p = strstr(p, "{\"node\":")) && p < end) {
		long long node = 0, bytes = 0;
		cli_json_num(p, "node", &node);
		cli_json_num(p, "bytes", &bytes);
		const char *close = strchr(p, '}');
		bool done = close && memmem(p, (size_t)(close - p), "\"done\":true", 11);
		printf("  node %lld: %.1f MiB written%s\n", node, bytes / 1048576.0, done ? ", done" : "");
		p = close ? close : end;
	}
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static char json[65536];
	const char *dir = CLI_DEFAULT_DIR;
	struct gen_info *gens = NULL;
	char abs[PATH_MAX];
	bool as_json = false, have_coord;
	uint64_t latest = 0;
	size_t n = 0;
	int ch;

	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': dir = optarg; break;
		case 'j': as_json = true; break;
		case 'h': usage(stdout); return 0;
		default: return cli_opt_error("status", ch, argv);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "crest: status: unexpected argument %s; see crest status --help\n", argv[optind]);
		return 2;
	}
	if (cli_abs_dir("status", dir, abs, sizeof(abs)) || ckdir_check(abs))
		return 1;
	have_coord = !cli_status_fetch(abs, json, sizeof(json));
	if (collect(abs, &gens, &n))
		return 1;
	ckdir_latest_link(abs, &latest);

	if (as_json) {
		printf("{\"dir\":");
		cli_json_put(abs, SIZE_MAX);
		printf(",\"coordinator\":%s,\"generations\":[", have_coord ? json : "null");
		for (size_t i = 0; i < n; i++)
			printf("%s{\"generation\":%" PRIu64 ",\"complete\":%s,\"bytes\":%" PRIu64 ",\"images\":%zu,\"created\":%" PRId64 "}",
			       i ? "," : "", gens[i].gen, gens[i].complete ? "true" : "false", gens[i].bytes,
			       gens[i].nimages, gens[i].created);
		printf("],\"latest\":");
		if (latest)
			printf("%" PRIu64, latest);
		else
			printf("null");
		printf("}\n");
		free(gens);
		return 0;
	}

	printf("directory:   %s\n", abs);
	if (have_coord) {
		long long pid = 0, gen = 0, bytes = 0, ms = 0;
		char phase[32] = "?";
		cli_json_num(json, "coordinator_pid", &pid);
		printf("coordinator: pid %lld\n", pid);
		printf("processes:\n");
		human_procs(json);
		if (strstr(json, "\"running\":true")) {
			const char *ck = strstr(json, "\"checkpoint\":");
			cli_json_num(ck, "generation", &gen);
			cli_json_str(ck, "phase", phase, sizeof(phase));
			cli_json_num(ck, "bytes", &bytes);
			cli_json_num(ck, "elapsed_ms", &ms);
			long long rate = 0, slow = -1;
			cli_json_num(ck, "rate_bytes_s", &rate);
			printf("checkpoint:  generation %lld, %s, %.1f MiB, %.1f s", gen, phase,
			       bytes / 1048576.0, ms / 1000.0);
			if (rate)
				printf(", %.1f MiB/s", rate / 1048576.0);
			if (cli_json_num(ck, "slowest_node", &slow))
				printf(", slowest: node %lld", slow);
			printf("\n");
			human_nodes(ck);
		} else {
			printf("checkpoint:  none running\n");
		}
		const char *last = strstr(json, "\"last\":{");
		char err[512];
		if (last && cli_json_num(last, "generation", &gen)) {
			if (cli_json_str(last, "error", err, sizeof(err)))
				printf("last:        generation %lld failed: %s\n", gen, err);
			else
				printf("last:        generation %lld committed\n", gen);
		}
	} else {
		printf("coordinator: not running\n");
	}
	printf("generations:\n");
	if (!n)
		printf("  none\n");
	for (size_t i = 0; i < n; i++)
		printf("  gen-%06" PRIu64 "  %-10s  %10.1f MiB  %zu image(s)%s\n", gens[i].gen,
		       gens[i].complete ? "complete" : "incomplete", gens[i].bytes / 1048576.0,
		       gens[i].nimages, gens[i].gen == latest ? "  <- latest" : "");
	free(gens);
	return 0;
}
