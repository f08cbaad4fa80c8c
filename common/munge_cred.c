/* SPDX-License-Identifier: MIT */
/*
 * libmunge through dlopen (munge_cred.h).  The few declarations below are
 * libmunge's ABI as munge.h (0.5) documents it: an opaque context, options
 * by number, errors by number, credentials and payloads malloc'ed by the
 * library and freed by the caller.
 */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "munge_cred.h"

#define MUNGE_LIB		"libmunge.so.2"
#define MUNGE_OPT_SOCKET	8	/* const char *: the socket of munged */
#define EMUNGE_SUCCESS		0
#define EMUNGE_SOCKET		6

typedef struct munge_ctx *munge_ctx_t;

static struct {
	munge_ctx_t (*ctx_create)(void);
	void (*ctx_destroy)(munge_ctx_t ctx);
	int (*ctx_set)(munge_ctx_t ctx, int opt, ...);
	const char *(*ctx_strerror)(munge_ctx_t ctx);
	int (*encode)(char **cred, munge_ctx_t ctx, const void *buf, int len);
	int (*decode)(const char *cred, munge_ctx_t ctx, void **buf, int *len, uid_t *uid, gid_t *gid);
	const char *(*strerror)(int e);
	int loaded;			/* 1 yes, -1 no */
	char why[160];
} m;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load(void)
{
	void *h = dlopen(MUNGE_LIB, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		const char *e = dlerror();
		snprintf(m.why, sizeof(m.why), "%s", e ? e : MUNGE_LIB ": cannot be loaded");
		m.loaded = -1;
		return;
	}
	*(void **)&m.ctx_create = dlsym(h, "munge_ctx_create");
	*(void **)&m.ctx_destroy = dlsym(h, "munge_ctx_destroy");
	*(void **)&m.ctx_set = dlsym(h, "munge_ctx_set");
	*(void **)&m.ctx_strerror = dlsym(h, "munge_ctx_strerror");
	*(void **)&m.encode = dlsym(h, "munge_encode");
	*(void **)&m.decode = dlsym(h, "munge_decode");
	*(void **)&m.strerror = dlsym(h, "munge_strerror");
	if (!m.ctx_create || !m.ctx_destroy || !m.ctx_set || !m.ctx_strerror || !m.encode || !m.decode ||
	    !m.strerror) {
		snprintf(m.why, sizeof(m.why), MUNGE_LIB " lacks the munge_* functions crest uses");
		dlclose(h);
		m.loaded = -1;
		return;
	}
	m.loaded = 1;
}

int crest_munge_load(char *err, size_t errlen)
{
	pthread_once(&load_once, load);
	if (m.loaded == 1)
		return 0;
	if (err && errlen)
		snprintf(err, errlen, "%s", m.why);
	return -ENOSYS;
}

/* a context on socket, or NULL with why in err */
static munge_ctx_t ctx_open(const char *socket, char *err, size_t errlen)
{
	munge_ctx_t ctx = m.ctx_create();

	if (!ctx) {
		snprintf(err, errlen, "munge_ctx_create: out of memory");
		return NULL;
	}
	if (socket && *socket) {
		int e = m.ctx_set(ctx, MUNGE_OPT_SOCKET, socket);
		if (e != EMUNGE_SUCCESS) {
			snprintf(err, errlen, "munge socket %s: %s", socket, m.strerror(e));
			m.ctx_destroy(ctx);
			return NULL;
		}
	}
	return ctx;
}

/* libmunge loaded and a context on socket: the context, or NULL with *rc
 * (-ENOSYS, -EIO) and why in err */
static munge_ctx_t begin(const char *socket, int *rc, char *err, size_t errlen)
{
	munge_ctx_t ctx;

	*rc = crest_munge_load(err, errlen);
	if (*rc)
		return NULL;
	ctx = ctx_open(socket, err, errlen);
	if (!ctx)
		*rc = -EIO;
	return ctx;
}

static void ctx_error(munge_ctx_t ctx, int e, char *err, size_t errlen)
{
	const char *t = m.ctx_strerror(ctx);
	snprintf(err, errlen, "%s", t ? t : m.strerror(e));
}

int crest_munge_encode(const char *socket, const void *payload, size_t len, char *cred, size_t size, char *err,
		       size_t errlen)
{
	char *out = NULL;
	int rc;
	munge_ctx_t ctx = begin(socket, &rc, err, errlen);

	if (!ctx)
		return rc;
	int e = m.encode(&out, ctx, payload, (int)len);
	if (e != EMUNGE_SUCCESS) {
		ctx_error(ctx, e, err, errlen);
		rc = -EIO;
	} else if (strlen(out) >= size) {
		snprintf(err, errlen, "the munge credential has %zu bytes, more than %zu", strlen(out), size - 1);
		rc = -EMSGSIZE;
	} else {
		strcpy(cred, out);
	}
	free(out);
	m.ctx_destroy(ctx);
	return rc;
}

int crest_munge_decode(const char *socket, const char *cred, char *payload, size_t size, size_t *len, uid_t *uid,
		       char *err, size_t errlen)
{
	void *buf = NULL;
	int n = 0;
	gid_t gid;
	int rc;
	munge_ctx_t ctx = begin(socket, &rc, err, errlen);

	if (!ctx)
		return rc;
	int e = m.decode(cred, ctx, &buf, &n, uid, &gid);
	if (e != EMUNGE_SUCCESS) {
		ctx_error(ctx, e, err, errlen);
		rc = e == EMUNGE_SOCKET ? -EIO : -EACCES;
	} else if (n < 0 || (size_t)n >= size) {
		snprintf(err, errlen, "the credential carries %d bytes, more than %zu", n, size - 1);
		rc = -EMSGSIZE;
	} else {
		if (n)
			memcpy(payload, buf, (size_t)n);
		payload[n] = 0;
		*len = (size_t)n;
	}
	free(buf);
	m.ctx_destroy(ctx);
	return rc;
}

#define CLAIM_LABEL "crest-checkpoint 1"

int crest_ckpt_claim_format(const struct crest_ckpt_claim *c, char *buf, size_t size)
{
	int n = snprintf(buf, size, CLAIM_LABEL " job=%" PRIu32 " run=%" PRIu32 " step=%" PRIu32 " flags=%" PRIu32
			 " compress=%" PRIu32, c->job, c->run, c->step, c->flags, c->compress);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : n;
}

/* " name=" then a decimal u32 at *p; moves *p past it */
static int take(const char **p, const char *name, uint32_t *v)
{
	size_t nl = strlen(name);
	unsigned long long x = 0;
	const char *s = *p;

	if (*s != ' ' || strncmp(s + 1, name, nl) || s[1 + nl] != '=')
		return -EINVAL;
	s += nl + 2;
	const char *start = s;
	for (; *s >= '0' && *s <= '9' && s - start <= 10; s++)
		x = x * 10 + (unsigned)(*s - '0');
	if (s == start || s - start > 10 || x > UINT32_MAX || (s - start > 1 && *start == '0'))
		return -EINVAL;
	*v = (uint32_t)x;
	*p = s;
	return 0;
}

int crest_ckpt_claim_parse(const char *text, struct crest_ckpt_claim *c)
{
	const char *p = text;
	struct crest_ckpt_claim t;

	if (strncmp(p, CLAIM_LABEL, strlen(CLAIM_LABEL)))
		return -EINVAL;
	p += strlen(CLAIM_LABEL);
	if (take(&p, "job", &t.job) || take(&p, "run", &t.run) || take(&p, "step", &t.step) ||
	    take(&p, "flags", &t.flags) || take(&p, "compress", &t.compress) || *p)
		return -EINVAL;
	*c = t;
	return 0;
}
