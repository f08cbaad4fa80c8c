/* SPDX-License-Identifier: MIT */
#ifndef CREST_ENV_H
#define CREST_ENV_H

/* NAME's value in the process's environment (environ), or NULL: never the
 * program's own getenv, which libcrest would get inside a program that
 * defines one (bash does; env.c) */
const char *crest_getenv(const char *name);

#endif
