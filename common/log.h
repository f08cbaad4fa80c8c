/* SPDX-License-Identifier: MIT */
/*
 * Logging for every crest component.  Messages go to stderr (or the fd set
 * with crest_log_set_fd) through a single write(2): safe in signal handlers
 * and while application threads are suspended (no malloc, no stdio).
 *
 *   pr_err("cannot open %s", path);          "crest: <module>: cannot open x (file.c:12)"
 *   pr_perror("open %s", path);              ... ": No such file or directory"
 *   pr_info / pr_warn / pr_debug             level from CREST_LOG=debug|info|warn|error
 *
 * Each .c file defines LOG_MODULE before including this header.
 */
#ifndef CREST_LOG_H
#define CREST_LOG_H

#include <stdarg.h>

#ifndef LOG_MODULE
#define LOG_MODULE "crest"
#endif

enum crest_log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

extern int crest_log_level;	/* messages above this level are dropped */

void crest_log_init(void);	/* reads CREST_LOG */
void crest_log_set_fd(int fd);
void crest_log_set_prefix(const char *prefix);	/* default "crest" */
void crest_log(int level, const char *module, const char *file, int line, int with_errno,
	       const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* vsnprintf-like formatter that is async-signal-safe (%s %d %u %ld %lu %lx %x %p %c %%, l/ll/z) */
int crest_vfmt(char *buf, unsigned long size, const char *fmt, va_list ap);
int crest_fmt(char *buf, unsigned long size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define pr_log(lvl, e, ...) do { if ((lvl) <= crest_log_level) \
	crest_log(lvl, LOG_MODULE, __FILE__, __LINE__, e, __VA_ARGS__); } while (0)
#define pr_err(...)	pr_log(LOG_ERROR, 0, __VA_ARGS__)
#define pr_perror(...)	pr_log(LOG_ERROR, 1, __VA_ARGS__)
#define pr_warn(...)	pr_log(LOG_WARN, 0, __VA_ARGS__)
#define pr_info(...)	pr_log(LOG_INFO, 0, __VA_ARGS__)
#define pr_debug(...)	pr_log(LOG_DEBUG, 0, __VA_ARGS__)

#endif
