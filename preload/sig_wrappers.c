/* SPDX-License-Identifier: MIT */
/*
 * Keeps the suspend signal crest's own: the application cannot install a
 * handler for it or block it.  Everything else passes through unchanged.
 */
#define LOG_MODULE "signals"
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <time.h>

#include "crest.h"

#define REAL(name) ({ static __typeof__(name) *real_; \
	if (!real_) \
		real_ = (__typeof__(name) *)dlsym(RTLD_NEXT, #name); \
	real_; })

__attribute__((visibility("default"))) int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (crest.active && sig == crest.sig && act) {
		errno = EINVAL;
		return -1;
	}
	return REAL(sigaction)(sig, act, old);
}

__attribute__((visibility("default"))) sighandler_t signal(int sig, sighandler_t handler)
{
	if (crest.active && sig == crest.sig) {
		errno = EINVAL;
		return SIG_ERR;
	}
	return REAL(signal)(sig, handler);
}

static const sigset_t *strip(const sigset_t *set, sigset_t *copy)
{
	if (!crest.active || !set || !sigismember(set, crest.sig))
		return set;
	*copy = *set;
	sigdelset(copy, crest.sig);
	return copy;
}

__attribute__((visibility("default"))) int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	sigset_t copy;
	if (how == SIG_UNBLOCK)
		return REAL(sigprocmask)(how, set, old);
	return REAL(sigprocmask)(how, strip(set, &copy), old);
}

__attribute__((visibility("default"))) int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	sigset_t copy;
	if (how == SIG_UNBLOCK)
		return REAL(pthread_sigmask)(how, set, old);
	return REAL(pthread_sigmask)(how, strip(set, &copy), old);
}

/* Waiting for crest's signal would take it from crest; a mask given for
 * the wait must not block it either. */
__attribute__((visibility("default"))) int sigwait(const sigset_t *set, int *sig)
{
	sigset_t copy;
	return REAL(sigwait)(strip(set, &copy), sig);
}

__attribute__((visibility("default"))) int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
	sigset_t copy;
	return REAL(sigwaitinfo)(strip(set, &copy), info);
}

__attribute__((visibility("default"))) int sigtimedwait(const sigset_t *set, siginfo_t *info,
							const struct timespec *ts)
{
	sigset_t copy;
	return REAL(sigtimedwait)(strip(set, &copy), info, ts);
}

__attribute__((visibility("default"))) int sigsuspend(const sigset_t *set)
{
	sigset_t copy;
	return REAL(sigsuspend)(strip(set, &copy));
}

/* Resolved at start, not in a signal handler (dlsym takes the loader lock). */
void crest_sig_wrappers_init(void)
{
	REAL(sigaction);
	REAL(signal);
	REAL(sigprocmask);
	REAL(pthread_sigmask);
	REAL(sigwait);
	REAL(sigwaitinfo);
	REAL(sigtimedwait);
	REAL(sigsuspend);
}
