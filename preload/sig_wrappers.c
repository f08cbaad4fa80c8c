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
 * Trigger signals (trigger.c): a signal crest owns as a checkpoint
 * trigger (SIGUSR2, SIGTERM by default) keeps crest's handler in the
 * kernel; the application's sigaction/signal for it are recorded and
 * reported as if installed, and put in the kernel when crest gives the
 * signal back (crest_sig_disown), or before an exec if the application
 * ignores it (an ignored signal stays ignored in the new program).
 *
 * Everything else passes through unchanged.
 */
#define LOG_MODULE "signals"
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "crest.h"
#include "log.h"
#include "rawsys.h"
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

/* signals crest owns as triggers, and the application's action for each
 * (with the trampoline already in place, as it would be in the kernel) */
static uint64_t owned;
static struct sigaction owned_app[_NSIG];
static siginfo_handler_t owned_handler[_NSIG];

static bool is_owned(int sig)
{
	return sig > 0 && sig <= 64 && (__atomic_load_n(&owned, __ATOMIC_ACQUIRE) >> (sig - 1) & 1);
}

/* sigaction for a signal crest owns: recorded, the kernel keeps crest's */
static int owned_action(int sig, const struct sigaction *act, struct sigaction *old)
{
	struct sigaction prev = owned_app[sig];
	if (act)
		owned_app[sig] = *act;
	if (old)
		*old = prev;
	return 0;
}

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (crest.active && sig == crest.sig && act) {
		errno = EINVAL;
		return -1;
	}
	if (sig <= 0 || sig >= _NSIG)
		return REAL(sigaction)(sig, act, old);
	if (act && (sig == SIGKILL || sig == SIGSTOP))
		return REAL(sigaction)(sig, act, old);	/* the kernel's EINVAL */

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
	int rc = is_owned(sig) ? owned_action(sig, act, old) : REAL(sigaction)(sig, act, old);
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
	sighandler_t rc;
	if (is_owned(sig)) {
		/* glibc's signal(): BSD semantics */
		struct sigaction sa, old;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = handler;
		sa.sa_flags = SA_RESTART;
		if (sigaction(sig, &sa, &old) < 0)
			return SIG_ERR;
		return old.sa_handler;
	}
	rc = REAL(signal)(sig, handler);
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

int crest_sig_own(int sig, void (*handler)(int, siginfo_t *, void *))
{
	struct sigaction cur, ours;
	if (sig <= 0 || sig > 64 || sig == SIGKILL || sig == SIGSTOP)
		return -EINVAL;
	if (is_owned(sig))
		return 0;
	if (REAL(sigaction)(sig, NULL, &cur) < 0)
		return -errno;
	owned_app[sig] = cur;	/* inherited: default, or ignored across exec */
	owned_handler[sig] = handler;
	memset(&ours, 0, sizeof(ours));
	ours.sa_sigaction = handler;
	ours.sa_flags = SA_SIGINFO | SA_RESTART;
	__atomic_or_fetch(&owned, 1ull << (sig - 1), __ATOMIC_RELEASE);
	if (REAL(sigaction)(sig, &ours, NULL) < 0) {
		int e = errno;
		__atomic_and_fetch(&owned, ~(1ull << (sig - 1)), __ATOMIC_RELEASE);
		return -e;
	}
	return 0;
}

void crest_sig_disown(int sig)
{
	if (!is_owned(sig))
		return;
	__atomic_and_fetch(&owned, ~(1ull << (sig - 1)), __ATOMIC_RELEASE);
	if (REAL(sigaction)(sig, &owned_app[sig], NULL) < 0)
		pr_warn("cannot give signal %d back to the application: %s", sig, strerrordesc_np(errno));
}

bool crest_sig_owned(int sig)
{
	return is_owned(sig);
}

/* In crest's handler for an owned signal: what the application's recorded
 * action would have done with it (the signal was not a trigger).  The
 * default action of the signals crest owns (USR1/USR2/TERM/RT) ends the
 * process: the action goes back to the kernel and the signal is sent again
 * to this thread, delivered when the handler returns. */
void crest_sig_run_app(int sig, siginfo_t *si, void *uc)
{
	struct sigaction act = owned_app[sig];
	if (act.sa_handler == SIG_IGN)
		return;
	if (act.sa_handler == SIG_DFL) {
		crest_sig_disown(sig);
		raw_syscall3(NR_tgkill, raw_syscall0(NR_getpid), raw_syscall0(NR_gettid), sig);
		return;
	}
	if (act.sa_flags & SA_RESETHAND) {
		owned_app[sig].sa_handler = SIG_DFL;
		owned_app[sig].sa_flags &= ~SA_SIGINFO;
	}
	/* the application's sa_mask (and its own signal unless SA_NODEFER)
	 * blocked while its handler runs, as the kernel would */
	sigset_t mask = act.sa_mask, old;
	if (!(act.sa_flags & SA_NODEFER))
		sigaddset(&mask, sig);
	sigdelset(&mask, crest.sig);
	raw_syscall4(NR_rt_sigprocmask, SIG_BLOCK, &mask, &old, 8);
	if (act.sa_flags & SA_SIGINFO)
		act.sa_sigaction(sig, si, uc);
	else
		act.sa_handler(sig);
	raw_syscall4(NR_rt_sigprocmask, SIG_SETMASK, &old, NULL, 8);
}

/* exec: an owned signal the application ignores stays ignored in the new
 * program (the kernel resets only caught signals); if the exec failed,
 * crest's handler comes back */
void crest_sig_exec(bool failed)
{
	for (int sig = 1; sig <= 64; sig++) {
		if (!is_owned(sig) || owned_app[sig].sa_handler != SIG_IGN)
			continue;
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		if (failed) {
			sa.sa_sigaction = owned_handler[sig];
			sa.sa_flags = SA_SIGINFO | SA_RESTART;
		} else {
			sa.sa_handler = SIG_IGN;
		}
		REAL(sigaction)(sig, &sa, NULL);
	}
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
