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

/*
 * Where a running checkpoint is, node by node: bytes written, whether the
 * node answered the current step, the write rate so far, and the slowest
 * node (the one not done with the fewest bytes).  Node 0 is this
 * coordinator's own processes.
 */
static void put_progress(struct out *o, const struct coord *c)
{
	struct { uint32_t node; uint64_t bytes; unsigned procs, done; } nodes[256];
	size_t n = 0;

	for (const struct conn *p = c->conns; p; p = p->next) {
		if (p->kind != CONN_PROC || p->dead || !p->member)
			continue;
		uint32_t node = p->sub ? p->node : c->o.node;
		size_t k;
		for (k = 0; k < n && nodes[k].node != node; k++)
			;
		if (k == n) {
			if (n == sizeof(nodes) / sizeof(nodes[0]))
				continue;
			nodes[n++] = (typeof(nodes[0])){ node, 0, 0, 0 };
		}
		nodes[k].bytes += p->bytes;
		nodes[k].procs++;
		nodes[k].done += p->done >= (int)c->ck.step;
	}
	long long write_ms = c->ck.step >= CK_WRITE ? coord_now_ms() - c->ck.step_ms : 0;
	put(o, ",\"rate_bytes_s\":%" PRIu64, write_ms > 0 && c->ck.step == CK_WRITE ?
	    (uint64_t)(c->ck.bytes * 1000.0 / (double)write_ms) : 0);
	int slow = -1;
	for (size_t k = 0; k < n; k++)
		if (nodes[k].done < nodes[k].procs && (slow < 0 || nodes[k].bytes < nodes[slow].bytes))
			slow = (int)k;
	if (slow >= 0)
		put(o, ",\"slowest_node\":%u", nodes[slow].node);
	else
		put(o, ",\"slowest_node\":null");
	put(o, ",\"nodes\":[");
	for (size_t k = 0; k < n; k++)
		put(o, "%s{\"node\":%u,\"bytes\":%" PRIu64 ",\"done\":%s}", k ? "," : "", nodes[k].node,
		    nodes[k].bytes, nodes[k].done == nodes[k].procs ? "true" : "false");
	put(o, "]");
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
		put(&o, ",\"restarted\":%s,\"restart_count\":%u,\"node\":%u", p->restarted ? "true" : "false",
		    p->restart_count, p->sub ? p->node : c->o.node);
		/* a sub-coordinator, and how many nodes it answers for */
		if (p->sub)
			put(&o, ",\"sub\":true,\"nodes\":%zu", p->nsubtree);
		put(&o, "}");
		first = false;
	}
	put(&o, "],\"checkpoint\":{\"running\":%s", c->ck.step != CK_IDLE ? "true" : "false");
	if (c->ck.step != CK_IDLE)
		put(&o, ",\"generation\":%" PRIu64 ",\"phase\":\"%s\",\"bytes\":%" PRIu64 ",\"elapsed_ms\":%lld",
		    c->ck.gen, coord_step_name(c->ck.step), c->ck.bytes, coord_now_ms() - c->ck.start_ms);
	if (c->ck.step != CK_IDLE) {
		put(&o, ",\"reason\":");
		put_str(&o, c->ck.reason);
		put_progress(&o, c);
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
