/* SPDX-License-Identifier: MIT */
/*
 * TCP links between crest's own programs (the coordinator tree, `crest
 * checkpoint --job` to a step's root): IPv4 ADDRESS:PORT text, a connect
 * bounded in time, and the options every such link has.
 */
#ifndef CREST_TCP_LINK_H
#define CREST_TCP_LINK_H

#include <netinet/in.h>

/* "10.0.0.1:7000" -> *sa; -EINVAL if it is not an IPv4 ADDRESS:PORT */
int crest_tcp_parse(const char *text, struct sockaddr_in *sa);

/*
 * Connects within timeout_ms and sets crest_tcp_link_options(): a blocking
 * fd (close-on-exec), or -errno (-ETIMEDOUT).
 */
int crest_tcp_connect(const struct sockaddr_in *sa, int timeout_ms);

/*
 * The heartbeat of a link is TCP's own: no delay, a keepalive probe after
 * 5 s of silence, every 2 s, 3 unanswered ones drop the link, and so does
 * data unacknowledged for 15 s (a peer whose node vanished sends no reset).
 */
void crest_tcp_link_options(int fd);

#endif
