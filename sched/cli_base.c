/* SPDX-License-Identifier: MIT */
/*
 * The base of the caller's job folders, for `crest ls` and `crest gc`
 * (cli_jobdirs.h): --checkpoint-dir BASE, or else what the Slurm plugin
 * uses, the dir= of the line of plugstack.conf that loads spank_crest.so
 * (default %h/crest), with %u and %h expanded for the caller.
 *
 * plugstack.conf is slurm.conf's PlugStackConfig, or plugstack.conf next
 * to slurm.conf ($SLURM_CONF, default /etc/slurm/slurm.conf); its include
 * lines are followed, then the files of plugstack.conf.d/ next to it.
 * jobdir_open puts that and the scans of cli_jobdirs.c together.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ckdir.h"
#include "cli_jobdirs.h"

#define SLURM_CONF_DEFAULT	"/etc/slurm/slurm.conf"
#define PLUGIN_SO		"spank_crest.so"
#define DIR_DEFAULT		"%h/crest"	/* spank/config.c, crest_spank_conf_init */
#define INCLUDE_DEPTH		4

struct plug_search {
	char conf[PATH_MAX + 32];	/* plugstack.conf */
	char tmpl[PATH_MAX];	/* the dir= found */
	char where[PATH_MAX + 16];	/* file:line of the plugin's line */
	bool found;
};

/* the folder of path in out ("." for a bare name) */
static void dir_of(const char *path, char *out, size_t size)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(out, size, ".");
	else
		snprintf(out, size, "%.*s", slash == path ? 1 : (int)(slash - path), path);
}

/* slurm.conf's PlugStackConfig, else plugstack.conf next to it */
static void plugstack_path(char *out, size_t size)
{
	const char *conf = getenv("SLURM_CONF");
	char line[PATH_MAX + 64], dir[PATH_MAX];
	const char *key = "PlugStackConfig";

	if (!conf || !*conf)
		conf = SLURM_CONF_DEFAULT;
	dir_of(conf, dir, sizeof(dir));
	snprintf(out, size, "%s/plugstack.conf", dir);
	FILE *f = fopen(conf, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " \t");
		if (strncasecmp(p, key, strlen(key)) || p[strlen(key)] != '=')
			continue;
		p += strlen(key) + 1;
		p[strcspn(p, " \t\r\n#")] = 0;
		if (*p)
			snprintf(out, size, "%s", p);
		break;
	}
	fclose(f);
}

static void search_file(struct plug_search *s, const char *path, int depth);

/* an include line's pattern, relative to plugstack.conf's folder */
static void search_include(struct plug_search *s, const char *pattern, int depth)
{
	char full[2 * PATH_MAX], dir[PATH_MAX];
	glob_t g;

	if (pattern[0] == '/') {
		snprintf(full, sizeof(full), "%s", pattern);
	} else {
		dir_of(s->conf, dir, sizeof(dir));
		snprintf(full, sizeof(full), "%s/%s", dir, pattern);
	}
	if (glob(full, 0, NULL, &g))
		return;
	for (size_t i = 0; i < g.gl_pathc && !s->found; i++)
		search_file(s, g.gl_pathv[i], depth + 1);
	globfree(&g);
}

/* "required|optional PATH/spank_crest.so key=value ...": the dir= of it */
static void search_file(struct plug_search *s, const char *path, int depth)
{
	char line[8192];
	unsigned no = 0;
	FILE *f = depth > INCLUDE_DEPTH ? NULL : fopen(path, "re");

	if (!f)
		return;
	while (!s->found && fgets(line, sizeof(line), f)) {
		char *save = NULL, *words[64];
		int n = 0;

		no++;
		line[strcspn(line, "#\r\n")] = 0;
		for (char *w = strtok_r(line, " \t", &save); w && n < 64; w = strtok_r(NULL, " \t", &save))
			words[n++] = w;
		if (n >= 2 && !strcasecmp(words[0], "include")) {
			search_include(s, words[1], depth);
			continue;
		}
		if (n < 2 || (strcmp(words[0], "required") && strcmp(words[0], "optional")))
			continue;
		const char *slash = strrchr(words[1], '/');
		if (strcmp(slash ? slash + 1 : words[1], PLUGIN_SO))
			continue;
		s->found = true;
		snprintf(s->where, sizeof(s->where), "%s:%u", path, no);
		snprintf(s->tmpl, sizeof(s->tmpl), "%s", DIR_DEFAULT);
		for (int i = 2; i < n; i++)
			if (!strncmp(words[i], "dir=", 4))
				snprintf(s->tmpl, sizeof(s->tmpl), "%s", words[i] + 4);
	}
	fclose(f);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* the files of plugstack.conf.d/ next to plugstack.conf, by name */
static void search_conf_d(struct plug_search *s)
{
	char dir[PATH_MAX], d_path[PATH_MAX + 32], file[2 * PATH_MAX];
	char *names[256];
	size_t n = 0;

	dir_of(s->conf, dir, sizeof(dir));
	snprintf(d_path, sizeof(d_path), "%s/plugstack.conf.d", dir);
	DIR *d = opendir(d_path);
	if (!d)
		return;
	for (struct dirent *e; n < 256 && (e = readdir(d));)
		if (e->d_name[0] != '.' && (names[n] = strdup(e->d_name)))
			n++;
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		snprintf(file, sizeof(file), "%s/%s", d_path, names[i]);
		if (!s->found)
			search_file(s, file, 1);
		free(names[i]);
	}
}

int cli_base_find(const char *verb, const char *given, char *out, size_t size)
{
	return cli_base_find_for(verb, given, getpwuid(getuid()), out, size);
}

int cli_base_find_for(const char *verb, const char *given, const struct passwd *pw, char *out, size_t size)
{
	struct plug_search s = { .found = false };
	char expanded[PATH_MAX], abs[PATH_MAX];
	const char *tmpl = given;

	if (!tmpl) {
		plugstack_path(s.conf, sizeof(s.conf));
		search_file(&s, s.conf, 0);
		if (!s.found)
			search_conf_d(&s);
		if (!s.found) {
			fprintf(stderr, "crest: %s: cannot tell where the checkpoints are: no line of %s (or of "
				"plugstack.conf.d/ next to it) loads " PLUGIN_SO "; give the base with "
				"--checkpoint-dir BASE (the --checkpoint-dir of your jobs, or the site's dir=)\n",
				verb, s.conf);
			return -ENODATA;
		}
		if (s.tmpl[0] != '/' && strncmp(s.tmpl, "%h", 2)) {
			fprintf(stderr, "crest: %s: %s: dir=%s is not an absolute path; give the base with "
				"--checkpoint-dir BASE\n", verb, s.where, s.tmpl);
			return -EINVAL;
		}
		tmpl = s.tmpl;
	}
	if (strstr(tmpl, "%u") || strstr(tmpl, "%h")) {
		if (!pw) {
			fprintf(stderr, "crest: %s: %s: your user (uid %u) has no passwd entry for %%u and %%h; "
				"give the base with --checkpoint-dir BASE\n", verb, tmpl, (unsigned)getuid());
			return -ESRCH;
		}
	}
	if (ckdir_base_expand(tmpl, pw ? pw->pw_name : "", pw ? pw->pw_dir : "", expanded, sizeof(expanded))) {
		fprintf(stderr, "crest: %s: checkpoint base %s: too long\n", verb, tmpl);
		return -ENAMETOOLONG;
	}
	int rc = realpath(expanded, abs) ? 0 : -errno;
	if (snprintf(out, size, "%s", rc ? expanded : abs) >= (int)size)
		rc = -ENAMETOOLONG;
	if (rc && rc != -ENOENT)
		fprintf(stderr, "crest: %s: checkpoint base %s: %s\n", verb, expanded, strerror(-rc));
	return rc;
}

int jobdir_open(const char *verb, const char *given, const char *dir, struct jobdir_list *l)
{
	char base[PATH_MAX];
	int rc;

	if (dir)
		return jobdir_scan_dir(verb, dir, l);
	rc = cli_base_find(verb, given, base, sizeof(base));
	if (rc == -ENOENT && !given) {
		memset(l, 0, sizeof(*l));
		l->parent_fd = -1;
		l->missing = true;
		snprintf(l->parent, sizeof(l->parent), "%s", base);
		return 0;
	}
	if (rc == -ENOENT)
		fprintf(stderr, "crest: %s: --checkpoint-dir %s: %s\n", verb, base, strerror(ENOENT));
	return rc ? rc : jobdir_scan_base(verb, base, l);
}
