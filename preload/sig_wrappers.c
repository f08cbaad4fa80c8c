/* SPDX-License-Identifier: MIT */
/*
 * Keeps the suspend signal crest's own: the application cannot install a
 * handler for it or block it.
 *
 * Virtual pids in signals (vpid.h): an SA_SIGINFO handler is installed
 * behind a trampoline that translates si_pid to the virtual pid before it
 * calls the application's handler with the same (sig, si, uc); sigaction
 * and signal report the application's handler, never the trampoline.  With
 * an empty vpid table the trampoline is one branch and a call.  The
 * trampoline's address survives a restart: dispositions are saved and set
 * again as they were, and libcrest comes back at the same address.
 * sigwaitinfo and sigtimedwait translate si_pid too.  Not covered: sigset,
 * sigvec, sysv_signal and bsd_signal report the trampoline for a signal
 * whose handler was installed with SA_SIGINFO; signalfd's ssi_pid.
 *
 * Everything else passes through unchanged.
 */
#define LOG_MODULE "signals"
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <time.h>

#include "crest.h"
#include "vpid.h"

#define EXPORT __attribute__((visibility("default")))

/* the real function, resolved once (crest_sig_wrappers_init at load) */
#define REAL_DECL(name) static __typeof__(name) *real_##name
#define REAL(name) ({ \
	if (__builtin_expect(!real_##name, 0)) \
		real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name); \
	real_##name; })

REAL_DECL(sigaction);
REAL_DECL(signal);
REAL_DECL(sigprocmask);
REAL_DECL(pthread_sigmask);
REAL_DECL(sigwait);
REAL_DECL(sigwaitinfo);
REAL_DECL(sigtimedwait);
REAL_DECL(sigsuspend);

typedef void (*siginfo_handler_t)(int, siginfo_t *, void *);

/* the application's SA_SIGINFO handler behind the trampoline, per signal */
static siginfo_handler_t app_handler[_NSIG];

static void vpid_trampoline(int sig, siginfo_t *si, void *uc)
{
	if (crest_vpid_active())
		crest_vpid_fix_siginfo(si);
	__atomic_load_n(&app_handler[sig], __ATOMIC_RELAXED)(sig, si, uc);
}

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (crest.active && sig == crest.sig && act) {
		errno = EINVAL;
		return -1;
	}
	if (sig <= 0 || sig >= _NSIG)
		return REAL(sigaction)(sig, act, old);

	siginfo_handler_t prev = __atomic_load_n(&app_handler[sig], __ATOMIC_RELAXED);
	struct sigaction copy;
	if (act && (act->sa_flags & SA_SIGINFO) && act->sa_handler != SIG_DFL &&
	    act->sa_handler != SIG_IGN) {
		/* set before the trampoline can run for it */
		__atomic_store_n(&app_handler[sig], act->sa_sigaction, __ATOMIC_RELAXED);
		copy = *act;
		copy.sa_sigaction = vpid_trampoline;
		act = &copy;
	}
	int rc = REAL(sigaction)(sig, act, old);
	if (rc < 0) {
		__atomic_store_n(&app_handler[sig], prev, __ATOMIC_RELAXED);
		return rc;
	}
	if (old && old->sa_sigaction == vpid_trampoline)
		old->sa_sigaction = prev;
	return rc;
}

EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
	if (crest.active && sig == crest.sig) {
		errno = EINVAL;
		return SIG_ERR;
	}
	sighandler_t rc = REAL(signal)(sig, handler);
	if (sig > 0 && sig < _NSIG && (void *)rc == (void *)vpid_trampoline)
		rc = (sighandler_t)(void *)__atomic_load_n(&app_handler[sig], __ATOMIC_RELAXED);
	return rc;
}

static const sigset_t *strip(const sigset_t *set, sigset_t *copy)
{
	if (!crest.active || !set || !sigismember(set, crest.sig))
		return set;
	*copy = *set;
	sigdelset(copy, crest.sig);
	return copy;
}

EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	sigset_t copy;
	if (how == SIG_UNBLOCK)
		return REAL(sigprocmask)(how, set, old);
	return REAL(sigprocmask)(how, strip(set, &copy), old);
}

EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	sigset_t copy;
	if (how == SIG_UNBLOCK)
		return REAL(pthread_sigmask)(how, set, old);
	return REAL(pthread_sigmask)(how, strip(set, &copy), old);
}

/* Waiting for crest's signal would take it from crest; a mask given for
 * the wait must not block it either. */
EXPORT int sigwait(const sigset_t *set, int *sig)
{
	sigset_t copy;
	return REAL(sigwait)(strip(set, &copy), sig);
}

EXPORT int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
	sigset_t copy;
	int rc = REAL(sigwaitinfo)(strip(set, &copy), info);
	if (crest_vpid_active() && rc > 0)
		crest_vpid_fix_siginfo(info);
	return rc;
}

EXPORT int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *ts)
{
	sigset_t copy;
	int rc = REAL(sigtimedwait)(strip(set, &copy), info, ts);
	if (crest_vpid_active() && rc > 0)
		crest_vpid_fix_siginfo(info);
	return rc;
}

EXPORT int sigsuspend(const sigset_t *set)
{
	sigset_t copy;
	return REAL(sigsuspend)(strip(set, &copy));
}

/* Resolved at start, not in a signal handler (dlsym takes the loader lock). */
void crest_sig_wrappers_init(void)
{
	(void)REAL(sigaction);
	(void)REAL(signal);
	(void)REAL(sigprocmask);
	(void)REAL(pthread_sigmask);
	(void)REAL(sigwait);
	(void)REAL(sigwaitinfo);
	(void)REAL(sigtimedwait);
	(void)REAL(sigsuspend);
}
