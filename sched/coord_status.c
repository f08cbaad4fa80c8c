/* SPDX-License-Identifier: MIT */
/* crest-coord STATUS_REPLY: one JSON object (docs/protocol.md). */
#define LOG_MODULE "coord"
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "coord.h"

struct out {
	char *p;
	size_t left;
	bool overflow;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->p, o->left, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->left) {
		o->overflow = true;
		o->left = 0;
		return;
	}
	o->p += n;
	o->left -= n;
}

static void put_str(struct out *o, const char *s)
{
	put(o, "\"");
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			put(o, "\\%c", ch);
		else if (ch < 0x20)
			put(o, "\\u%04x", ch);
		else
			put(o, "%c", ch);
	}
	put(o, "\"");
}

int coord_status_json(const struct coord *c, char *buf, size_t size)
{
	struct out o = { buf, size, false };
	bool first = true;

	put(&o, "{\"coordinator_pid\":%d,\"dir\":", (int)getpid());
	put_str(&o, c->o.dir);
	put(&o, ",\"socket\":");
	put_str(&o, c->sock);
	put(&o, ",\"processes\":[");
	for (const struct conn *p = c->conns; p; p = p->next) {
		if (p->kind != CONN_PROC || p->dead)
			continue;
		put(&o, "%s{\"pid\":%d,\"rank\":%u,\"exe\":", first ? "" : ",", (int)p->pid, p->rank);
		put_str(&o, p->exe);
		put(&o, ",\"restarted\":%s,\"restart_count\":%u,\"node\":%u}", p->restarted ? "true" : "false",
		    p->restart_count, p->sub ? p->node : c->o.node);
		first = false;
	}
	put(&o, "],\"checkpoint\":{\"running\":%s", c->ck.step != CK_IDLE ? "true" : "false");
	if (c->ck.step != CK_IDLE)
		put(&o, ",\"generation\":%" PRIu64 ",\"phase\":\"%s\",\"bytes\":%" PRIu64 ",\"elapsed_ms\":%lld",
		    c->ck.gen, coord_step_name(c->ck.step), c->ck.bytes, coord_now_ms() - c->ck.start_ms);
	if (c->ck.step != CK_IDLE) {
		put(&o, ",\"reason\":");
		put_str(&o, c->ck.reason);
	}
	put(&o, "},\"last\":");
	if (c->last.gen) {
		put(&o, "{\"generation\":%" PRIu64 ",\"error\":", c->last.gen);
		if (c->last.error)
			put_str(&o, c->last.text);
		else
			put(&o, "null");
		put(&o, ",\"stopped_ms\":%lld,\"reason\":", c->last.stopped_ms);
		put_str(&o, c->last.reason);
		put(&o, "}");
	} else {
		put(&o, "null");
	}
	put(&o, ",\"interval\":%u,\"keep\":%u,\"min_spacing\":%u}", c->o.interval, c->o.keep,
	    c->o.min_spacing);
	if (o.overflow)
		return -ENOSPC;
	return (int)(o.p - buf);
}
