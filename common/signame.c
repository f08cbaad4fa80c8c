/* SPDX-License-Identifier: MIT */
/*
 * Signal names as users write them (common/signame.h).  No malloc, no
 * stdio: libcrest parses its environment with it.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "signame.h"

static const struct { int sig; const char *name; } names[] = {
	{ SIGHUP, "HUP" }, { SIGINT, "INT" }, { SIGQUIT, "QUIT" }, { SIGILL, "ILL" },
	{ SIGTRAP, "TRAP" }, { SIGABRT, "ABRT" }, { SIGBUS, "BUS" }, { SIGFPE, "FPE" },
	{ SIGKILL, "KILL" }, { SIGUSR1, "USR1" }, { SIGSEGV, "SEGV" }, { SIGUSR2, "USR2" },
	{ SIGPIPE, "PIPE" }, { SIGALRM, "ALRM" }, { SIGTERM, "TERM" }, { SIGSTKFLT, "STKFLT" },
	{ SIGCHLD, "CHLD" }, { SIGCONT, "CONT" }, { SIGSTOP, "STOP" }, { SIGTSTP, "TSTP" },
	{ SIGTTIN, "TTIN" }, { SIGTTOU, "TTOU" }, { SIGURG, "URG" }, { SIGXCPU, "XCPU" },
	{ SIGXFSZ, "XFSZ" }, { SIGVTALRM, "VTALRM" }, { SIGPROF, "PROF" }, { SIGWINCH, "WINCH" },
	{ SIGIO, "IO" }, { SIGPWR, "PWR" }, { SIGSYS, "SYS" },
};

static int number(const char *s)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	long v = strtol(s, &end, 10);
	if (*end || v < 0 || v > 64)
		return -EINVAL;
	return (int)v;
}

int crest_signal_parse(const char *s)
{
	int sig = -EINVAL;

	if (!s || !*s)
		return -EINVAL;
	if (!strcasecmp(s, "none"))
		return 0;
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	if (*s >= '0' && *s <= '9') {
		sig = number(s);
	} else if (!strncasecmp(s, "RTMIN+", 6)) {
		int k = number(s + 6);
		sig = k < 0 || SIGRTMIN + k > SIGRTMAX ? -EINVAL : SIGRTMIN + k;
	} else {
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (!strcasecmp(s, names[i].name))
				sig = names[i].sig;
	}
	if (sig == SIGKILL || sig == SIGSTOP)
		return -EINVAL;
	return sig;
}

const char *crest_signal_name(int sig, char buf[16])
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].sig == sig)
			return names[i].name;
	int k = sig - SIGRTMIN, n = 0;
	char digits[8];
	if (sig < SIGRTMIN || sig > SIGRTMAX)
		k = sig;
	do {
		digits[n++] = (char)('0' + k % 10);
		k /= 10;
	} while (k && n < 7);
	int o = 0;
	if (sig >= SIGRTMIN && sig <= SIGRTMAX) {
		memcpy(buf, "RTMIN+", 6);
		o = 6;
	}
	while (n)
		buf[o++] = digits[--n];
	buf[o] = 0;
	return buf;
}
