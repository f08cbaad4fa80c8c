/* SPDX-License-Identifier: MIT */
/* Parsers of Slurm's command output and crest's step files (slurm_text.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "slurm_text.h"

static int copy_out(const char *v, size_t n, char *out, size_t size)
{
	if (n >= size)
		return -ENAMETOOLONG;
	memcpy(out, v, n);
	out[n] = 0;
	return 0;
}

int crest_slurm_field(const char *rec, const char *key, char *out, size_t size)
{
	size_t kl = strlen(key);

	for (const char *p = rec; (p = strstr(p, key)); p += kl) {
		if ((p != rec && p[-1] != ' ' && p[-1] != '\n') || p[kl] != '=')
			continue;
		const char *v = p + kl + 1;
		return copy_out(v, strcspn(v, " \n"), out, size);
	}
	return -ENOENT;
}

/* a decimal u32, all of [s, end) */
static bool u32_of(const char *s, const char *end, uint32_t *v)
{
	unsigned long long x = 0;

	if (s == end || end - s > 10)
		return false;
	for (const char *p = s; p < end; p++) {
		if (*p < '0' || *p > '9')
			return false;
		x = x * 10 + (unsigned)(*p - '0');
	}
	if (x > UINT32_MAX)
		return false;
	*v = (uint32_t)x;
	return true;
}

int crest_slurm_name_id(const char *s, char *name, size_t size, uint32_t *id)
{
	const char *open = strrchr(s, '(');
	size_t len = strlen(s);

	if (!open || open == s || len < 3 || s[len - 1] != ')' || !u32_of(open + 1, s + len - 1, id))
		return -EINVAL;
	return copy_out(s, (size_t)(open - s), name, size) ? -EINVAL : 0;
}

int crest_slurm_config(const char *text, const char *key, char *out, size_t size)
{
	size_t kl = strlen(key);

	for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		if (strncmp(line, key, kl))
			continue;
		const char *p = line + kl;
		p += strspn(p, " \t");
		if (*p != '=')
			continue;
		p++;
		p += strspn(p, " \t");
		size_t n = strcspn(p, "\n");
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
			n--;
		return copy_out(p, n, out, size);
	}
	return -ENOENT;
}

int crest_slurm_authinfo_socket(const char *authinfo, char *out, size_t size)
{
	for (const char *p = authinfo; *p;) {
		p += strspn(p, " ,");
		size_t n = strcspn(p, ",");
		if (n > 7 && !strncasecmp(p, "socket=", 7)) {
			while (n > 7 && p[n - 1] == ' ')
				n--;
			return copy_out(p + 7, n - 7, out, size);
		}
		p += n;
	}
	return -ENOENT;
}

int crest_slurm_runid_parse(const char *s, struct crest_slurm_runid *r)
{
	const char *d1 = strchr(s, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	const char *end = s + strcspn(s, "\n");

	if (!d1 || !d2 || d2 > end || (*end == '\n' && end[1]))
		return -EINVAL;
	if (!u32_of(s, d1, &r->job) || !u32_of(d1 + 1, d2, &r->run) || !u32_of(d2 + 1, end, &r->step))
		return -EINVAL;
	return 0;
}

int crest_slurm_jobstep_parse(const char *s, uint32_t *job, uint32_t *step, int *has_step)
{
	const char *dot = strchr(s, '.'), *end = s + strlen(s);

	*has_step = dot != NULL;
	*step = 0;
	if (!u32_of(s, dot ? dot : end, job))
		return -EINVAL;
	if (dot && !u32_of(dot + 1, end, step))
		return -EINVAL;
	return 0;
}
