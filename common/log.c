/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "env.h"
#include "log.h"

int crest_log_level = LOG_WARN;
static int log_fd = 2;
static const char *log_prefix = "crest";

void crest_log_init(void)
{
	const char *v = crest_getenv("CREST_LOG");
	if (!v)
		return;
	if (!strcmp(v, "debug"))
		crest_log_level = LOG_DEBUG;
	else if (!strcmp(v, "info"))
		crest_log_level = LOG_INFO;
	else if (!strcmp(v, "warn"))
		crest_log_level = LOG_WARN;
	else if (!strcmp(v, "error"))
		crest_log_level = LOG_ERROR;
}

void crest_log_set_fd(int fd) { log_fd = fd; }
void crest_log_set_prefix(const char *prefix) { log_prefix = prefix; }

struct out { char *p; unsigned long left; int n; };

static void put(struct out *o, char c)
{
	if (o->left > 1) {
		*o->p++ = c;
		o->left--;
	}
	o->n++;
}

static void put_num(struct out *o, unsigned long long v, unsigned base, int neg, int width, char padc)
{
	char tmp[24];
	int i = 0;
	do {
		tmp[i++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[i++] = '-';
	while (width-- > i)
		put(o, padc);
	while (i)
		put(o, tmp[--i]);
}

int crest_vfmt(char *buf, unsigned long size, const char *fmt, va_list ap)
{
	struct out o = { buf, size, 0 };
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		fmt++;
		char padc = ' ';
		int width = 0, lng = 0;
		if (*fmt == '0') {
			padc = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 'd': case 'i': {
			long long v = lng ? va_arg(ap, long) : va_arg(ap, int);
			put_num(&o, v < 0 ? -(unsigned long long)v : (unsigned long long)v, 10, v < 0, width, padc);
			break;
		}
		case 'u': case 'x': {
			unsigned long long v = lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
			put_num(&o, v, *fmt == 'x' ? 16 : 10, 0, width, padc);
			break;
		}
		case 'p':
			put(&o, '0'); put(&o, 'x');
			put_num(&o, (uintptr_t)va_arg(ap, void *), 16, 0, 0, ' ');
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			int len = (int)strlen(s);
			while (width-- > len)
				put(&o, ' ');
			while (*s)
				put(&o, *s++);
			break;
		}
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case '%':
			put(&o, '%');
			break;
		case 0:
			fmt--;
			break;
		default:
			put(&o, '%');
			put(&o, *fmt);
		}
	}
	if (size)
		*o.p = 0;
	return o.n;
}

int crest_fmt(char *buf, unsigned long size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = crest_vfmt(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

void crest_log(int level, const char *module, const char *file, int line, int with_errno,
	       const char *fmt, ...)
{
	int saved = errno;
	char buf[1024];
	int n = crest_fmt(buf, sizeof(buf), "%s: %s: ", log_prefix, module);
	va_list ap;
	va_start(ap, fmt);
	if (n < (int)sizeof(buf))
		n += crest_vfmt(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	if (with_errno && n < (int)sizeof(buf))
		n += crest_fmt(buf + n, sizeof(buf) - n, ": %s", strerrordesc_np(saved) ? strerrordesc_np(saved) : "unknown error");
	if (level == LOG_ERROR && crest_log_level >= LOG_DEBUG && n < (int)sizeof(buf))
		n += crest_fmt(buf + n, sizeof(buf) - n, " (%s:%d)", file, line);
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	for (char *p = buf; n > 0;) {
		ssize_t w = write(log_fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		p += w;
		n -= w;
	}
	errno = saved;
}
