/* SPDX-License-Identifier: MIT */
#include "rt.h"

void *memcpy(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;
	if (!((uintptr_t)dp & 7) && !((uintptr_t)sp & 7)) {
		for (; n >= 8; n -= 8, dp += 8, sp += 8)
			*(uint64_t *)dp = *(const uint64_t *)sp;
	}
	while (n--)
		*dp++ = *sp++;
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;
	if (dp <= sp || dp >= sp + n)
		return memcpy(d, s, n);
	while (n--)
		dp[n] = sp[n];
	return d;
}

void *memset(void *d, int c, size_t n)
{
	unsigned char *dp = d;
	while (n--)
		*dp++ = (unsigned char)c;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			return 0;
	}
	return 0;
}

char *strncpy_z(char *d, const char *s, size_t size)
{
	size_t i = 0;
	for (; i + 1 < size && s[i]; i++)
		d[i] = s[i];
	d[i] = 0;
	return d;
}

uint64_t rt_strtou(const char *s, const char **end, int base)
{
	uint64_t v = 0;
	if (base == 16 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (;; s++) {
		int d;
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		if (d >= base)
			break;
		v = v * base + d;
	}
	if (end)
		*end = s;
	return v;
}

static void put(char **p, size_t *left, char c)
{
	if (*left > 1) {
		*(*p)++ = c;
		(*left)--;
	}
}

int rt_vfmt(char *buf, size_t size, const char *fmt, va_list ap)
{
	char *p = buf;
	size_t left = size;
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			put(&p, &left, *fmt);
			continue;
		}
		fmt++;
		int lng = 0;
		while (*fmt == 'l' || *fmt == 'z')
			lng = 1, fmt++;
		if (*fmt == 's') {
			const char *s = va_arg(ap, const char *);
			while (s && *s)
				put(&p, &left, *s++);
			continue;
		}
		if (*fmt == 'd' || *fmt == 'u' || *fmt == 'x') {
			unsigned long long v;
			int neg = 0;
			if (*fmt == 'd') {
				long long sv = lng ? va_arg(ap, long) : va_arg(ap, int);
				neg = sv < 0;
				v = neg ? -(unsigned long long)sv : (unsigned long long)sv;
			} else {
				v = lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
			}
			unsigned base = *fmt == 'x' ? 16 : 10;
			char tmp[24];
			int i = 0;
			do {
				tmp[i++] = "0123456789abcdef"[v % base];
				v /= base;
			} while (v);
			if (neg)
				put(&p, &left, '-');
			while (i)
				put(&p, &left, tmp[--i]);
			continue;
		}
		put(&p, &left, *fmt);
	}
	if (size)
		*p = 0;
	return (int)(p - buf);
}

static void vprint(const char *fmt, va_list ap)
{
	char buf[1536];
	static const char pre[] = "crest: restart: ";
	memcpy(buf, pre, sizeof(pre) - 1);
	int n = sizeof(pre) - 1;
	n += rt_vfmt(buf + n, sizeof(buf) - n - 1, fmt, ap);
	buf[n++] = '\n';
	raw_syscall3(NR_write, 2, buf, n);
}

void rt_print(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprint(fmt, ap);
	va_end(ap);
}

void rt_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprint(fmt, ap);
	va_end(ap);
	raw_syscall1(NR_exit_group, 1);
	__builtin_unreachable();
}

const char *rt_strerror(long err)
{
	switch (err < 0 ? -err : err) {
	case 1: return "operation not permitted";
	case 2: return "no such file or directory";
	case 5: return "input/output error";
	case 9: return "bad file descriptor";
	case 12: return "out of memory";
	case 13: return "permission denied";
	case 14: return "bad address";
	case 17: return "address already in use by another mapping";
	case 22: return "invalid argument";
	case 28: return "no space left on device";
	default: return "system error";
	}
}

int rt_read_full(int fd, void *buf, size_t len, uint64_t off)
{
	unsigned char *p = buf;
	while (len) {
		long n = raw_syscall4(NR_pread64, fd, p, len, off);
		if (n == -4)
			continue;
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -5;	/* EIO: short file */
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

/* for libzstd: never called with a static DCtx */
void *malloc(size_t n) { (void)n; return 0; }
void *calloc(size_t a, size_t b) { (void)a; (void)b; return 0; }
void free(void *p) { (void)p; }
void __stack_chk_fail(void) { rt_die("stack smashing detected"); }

/* libzstd's optional tracing hooks (weak in the library): tracing off */
unsigned long long ZSTD_trace_decompress_begin(const void *dctx);
void ZSTD_trace_decompress_end(unsigned long long ctx, const void *trace);
unsigned long long ZSTD_trace_decompress_begin(const void *dctx) { (void)dctx; return 0; }
void ZSTD_trace_decompress_end(unsigned long long ctx, const void *trace) { (void)ctx; (void)trace; }
