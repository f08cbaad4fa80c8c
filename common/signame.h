/* SPDX-License-Identifier: MIT */
/*
 * Signal names as users write them: "USR2", "SIGUSR2", "12", "none".
 */
#ifndef CREST_COMMON_SIGNAME_H
#define CREST_COMMON_SIGNAME_H

/* the signal number, 0 for "none" (or "0"), -EINVAL for anything else or a
 * signal that cannot be caught (KILL, STOP) */
int crest_signal_parse(const char *s);

/* "USR2" for SIGUSR2, "RTMIN+3" for a real-time one; buf of 16 bytes */
const char *crest_signal_name(int sig, char buf[16]);

#endif
