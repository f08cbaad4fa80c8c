/* SPDX-License-Identifier: MIT */
/* crest-restart's tiny runtime: no libc. */
#ifndef CREST_RT_H
#define CREST_RT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "../rawsys.h"

void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strncpy_z(char *d, const char *s, size_t size);	/* always NUL-terminates */
uint64_t rt_strtou(const char *s, const char **end, int base);

/* "crest: restart: " + message to stderr; %s %d %u %lu %lx %x */
void rt_print(const char *fmt, ...);
__attribute__((noreturn)) void rt_die(const char *fmt, ...);
int rt_vfmt(char *buf, size_t size, const char *fmt, va_list ap);
const char *rt_strerror(long err);

int rt_read_full(int fd, void *buf, size_t len, uint64_t off);	/* pread loop: 0 or -errno */

#endif
