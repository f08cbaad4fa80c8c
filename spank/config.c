/* SPDX-License-Identifier: MIT */
/* The plugin's Slurm-free logic (config.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckdir.h"
#include "config.h"
#include "duration.h"
#include "tree_shape.h"

void crest_spank_conf_init(struct crest_spank_conf *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->dir, sizeof(c->dir), "%%h/crest");
	c->keep = 2;
	snprintf(c->compress, sizeof(c->compress), "none");
	snprintf(c->signal, sizeof(c->signal), "USR2");
	c->preempt = true;
	c->interval_min = 60;
	c->timeout = 30;
	snprintf(c->cancel, sizeof(c->cancel), "exit");
	snprintf(c->timelimit, sizeof(c->timelimit), "checkpoint");
	c->timelimit_margin = 60;
	c->register_wait = 60;
	c->fanout = CREST_FANOUT_DEFAULT;
}

static int number(const char *s, unsigned min, unsigned max, unsigned *v)
{
	char *e;
	errno = 0;
	unsigned long x = strtoul(s, &e, 10);
	if (errno || e == s || *e || *s == '-' || x < min || x > max)
		return -1;
	*v = (unsigned)x;
	return 0;
}

int crest_spank_conf_parse(struct crest_spank_conf *c, int ac, char **av, char *err, size_t errlen)
{
	static const char *const keys = "dir, keep, compress, signal, preempt, interval_min, timeout, cancel, timelimit, "
					  "timelimit_margin, local_ok, register_wait, fanout";

	for (int i = 0; i < ac; i++) {
		const char *a = av[i], *eq = strchr(a, '=');
		if (!eq || eq == a) {
			snprintf(err, errlen, "plugstack.conf argument '%s': expected key=value (keys: %s)", a, keys);
			return -1;
		}
		size_t kl = (size_t)(eq - a);
		const char *v = eq + 1;
#define KEY(k) (kl == strlen(k) && !strncmp(a, k, kl))
		if (KEY("dir")) {
			if (v[0] != '/' && strncmp(v, "%h", 2)) {
				snprintf(err, errlen, "plugstack.conf dir=%s: expected an absolute path (%%u: user, %%h: home)", v);
				return -1;
			}
			if (snprintf(c->dir, sizeof(c->dir), "%s", v) >= (int)sizeof(c->dir)) {
				snprintf(err, errlen, "plugstack.conf dir=: too long");
				return -1;
			}
		} else if (KEY("keep")) {
			if (number(v, 1, 1000, &c->keep)) {
				snprintf(err, errlen, "plugstack.conf keep=%s: expected a number of generations, 1..1000", v);
				return -1;
			}
		} else if (KEY("compress")) {
			if (strcmp(v, "none") && strcmp(v, "zstd")) {
				snprintf(err, errlen, "plugstack.conf compress=%s: expected none or zstd", v);
				return -1;
			}
			snprintf(c->compress, sizeof(c->compress), "%s", v);
		} else if (KEY("signal")) {
			if (!*v || strlen(v) >= sizeof(c->signal)) {
				snprintf(err, errlen, "plugstack.conf signal=%s: expected a signal name such as USR2, or none", v);
				return -1;
			}
			snprintf(c->signal, sizeof(c->signal), "%s", v);
		} else if (KEY("preempt")) {
			if (strcmp(v, "checkpoint") && strcmp(v, "ignore")) {
				snprintf(err, errlen, "plugstack.conf preempt=%s: expected checkpoint or ignore", v);
				return -1;
			}
			c->preempt = !strcmp(v, "checkpoint");
		} else if (KEY("interval_min")) {
			if (crest_spank_interval(v, &c->interval_min)) {
				snprintf(err, errlen, "plugstack.conf interval_min=%s: expected a duration such as 90s, 30m or 2h", v);
				return -1;
			}
		} else if (KEY("timeout")) {
			if (number(v, 1, 3600, &c->timeout)) {
				snprintf(err, errlen, "plugstack.conf timeout=%s: expected seconds, 1..3600", v);
				return -1;
			}
		} else if (KEY("cancel")) {
			if (strcmp(v, "exit") && strcmp(v, "checkpoint")) {
				snprintf(err, errlen, "plugstack.conf cancel=%s: expected exit or checkpoint", v);
				return -1;
			}
			snprintf(c->cancel, sizeof(c->cancel), "%s", v);
		} else if (KEY("timelimit")) {
			if (strcmp(v, "checkpoint") && strcmp(v, "checkpoint-requeue") && strcmp(v, "ignore")) {
				snprintf(err, errlen, "plugstack.conf timelimit=%s: expected checkpoint, checkpoint-requeue or ignore",
					 v);
				return -1;
			}
			snprintf(c->timelimit, sizeof(c->timelimit), "%s", v);
		} else if (KEY("timelimit_margin")) {
			if (crest_spank_interval(v, &c->timelimit_margin) || c->timelimit_margin > 86400) {
				snprintf(err, errlen, "plugstack.conf timelimit_margin=%s: expected a duration such as 90s or 5m", v);
				return -1;
			}
		} else if (KEY("register_wait")) {
			if (crest_spank_interval(v, &c->register_wait) || !c->register_wait || c->register_wait > 86400) {
				snprintf(err, errlen, "plugstack.conf register_wait=%s: expected a duration such as 60s or 5m", v);
				return -1;
			}
		} else if (KEY("fanout")) {
			if (number(v, 1, CREST_FANOUT_MAX, &c->fanout)) {
				snprintf(err, errlen, "plugstack.conf fanout=%s: expected how many nodes each coordinator of "
					 "a step serves below it, 1..%d", v, CREST_FANOUT_MAX);
				return -1;
			}
		} else if (KEY("local_ok")) {
			if (strcmp(v, "yes") && strcmp(v, "no")) {
				snprintf(err, errlen, "plugstack.conf local_ok=%s: expected yes or no", v);
				return -1;
			}
			c->local_ok = !strcmp(v, "yes");
		} else {
			snprintf(err, errlen, "plugstack.conf: unknown key '%.*s' (keys: %s)", (int)kl, a, keys);
			return -1;
		}
#undef KEY
	}
	return 0;
}

int crest_spank_interval(const char *s, unsigned *sec)
{
	uint64_t v;
	/* a bare number is minutes, as for --time */
	if (crest_duration_parse(s, 60, 366ULL * 86400, &v))
		return -1;
	*sec = (unsigned)v;
	return 0;
}

bool crest_spank_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n < 1 || n > 64 || name[0] == '.')
		return false;
	return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int crest_spank_job_dir(const char *tmpl, const char *user, const char *home, uint32_t jobid, char *out,
			size_t size)
{
	if (ckdir_base_expand(tmpl, user, home, out, size) || out[0] != '/')
		return -1;
	size_t o = strlen(out);
	int n = snprintf(out + o, size - o, "/%u", jobid);
	return n < 0 || (size_t)n >= size - o ? -1 : 0;
}

const char *crest_spank_mpi_daemon(const char *argv0)
{
	static const char *const daemons[] = { "orted", "prted", "hydra_pmi_proxy", "hydra_bstrap_proxy", "pmi_proxy",
						       NULL };
	if (!argv0)
		return NULL;
	const char *base = strrchr(argv0, '/');
	base = base ? base + 1 : argv0;
	for (int i = 0; daemons[i]; i++)
		if (!strcmp(base, daemons[i]))
			return daemons[i];
	return NULL;
}

void crest_spank_step_key(char *out, size_t size, int argc, char **argv, uint32_t ntasks, uint32_t nnodes)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */
	char shape[32], base[40];

	for (int i = 0; i < argc; i++)
		for (const char *p = argv[i];; p++) {
			h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
			if (!*p)
				break;
		}
	snprintf(shape, sizeof(shape), "%ux%u", ntasks, nnodes);
	for (const char *p = shape; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
	const char *prog = argc > 0 && argv[0] ? argv[0] : "step";
	const char *slash = strrchr(prog, '/');
	prog = slash ? slash + 1 : prog;
	size_t k = 0;
	for (const char *p = prog; *p && k < sizeof(base) - 1; p++)
		base[k++] = strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", *p) ? *p : '_';
	base[k] = 0;
	snprintf(out, size, "%s-%s-%08x", k ? base : "step", shape, (unsigned)(h ^ (h >> 32)));
}
