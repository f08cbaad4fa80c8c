/* SPDX-License-Identifier: MIT */
/*
 * Per-process kernel state that is not memory, threads or fds: signal
 * dispositions, pending signals, interval timers, resource limits, umask,
 * working directory, CPU affinity, CPU features.  Saved while the threads
 * are stopped, into libcrest's memory; restored by the checkpoint thread of
 * a restarted process before the threads are released.
 */
#define LOG_MODULE "state"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "crest.h"
#include "log.h"
#include "rawsys.h"

int crest_state_save(char *err, size_t errlen)
{
	for (int sig = 1; sig <= 64; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP || sig == crest.sig)
			continue;
		if (raw_syscall4(NR_rt_sigaction, sig, NULL, &crest.sigact[sig], 8) < 0)
			memset(&crest.sigact[sig], 0, sizeof(crest.sigact[sig]));
	}
	for (int i = 0; i < 3; i++)
		getitimer(i, &crest.itimers[i]);
	for (int i = 0; i < RLIM_NLIMITS; i++)
		getrlimit(i, &crest.rlimits[i]);
	crest.umask = umask(022);
	umask(crest.umask);
	if (!getcwd(crest.cwd, sizeof(crest.cwd))) {
		snprintf(err, errlen, "cannot read the working directory: %s", strerrordesc_np(errno));
		return -errno;
	}
	CPU_ZERO(&crest.affinity);
	sched_getaffinity(0, sizeof(crest.affinity), &crest.affinity);
	/* process-directed pending signals: this thread blocks everything, so
	 * it only takes from the shared queue */
	crest_trigger_note_checkpoint();
	crest.shared_pending = crest_sig_pending_mask("/proc/self/status", "ShdPnd:");
	crest.nshared_sigq = crest.shared_pending ?
		crest_sig_take(crest.shared_pending, crest.shared_sigq, sizeof(crest.shared_sigq) / sizeof(siginfo_t)) : 0;
	crest_sig_requeue(0, crest.shared_sigq, crest.nshared_sigq);
	crest.brk = (uint64_t)raw_syscall1(NR_brk, 0);
	return 0;
}

/* Runs in the restored checkpoint thread, threads not yet released. */
void crest_state_restore(void)
{
	for (int sig = 1; sig <= 64; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP || sig == crest.sig)
			continue;
		if (crest.sigact[sig].handler)
			raw_syscall4(NR_rt_sigaction, sig, &crest.sigact[sig], NULL, 8);
	}
	for (int i = 0; i < RLIM_NLIMITS; i++)
		if (setrlimit(i, &crest.rlimits[i]) < 0)
			pr_debug("rlimit %d not restored: %s", i, strerrordesc_np(errno));
	umask(crest.umask);
	if (chdir(crest.cwd) < 0)	/* through the path map (path_wrappers.c) */
		pr_warn("cannot return to working directory %s: %s; staying in the restart directory",
			crest.cwd, strerrordesc_np(errno));
	if (sched_setaffinity(0, sizeof(crest.affinity), &crest.affinity) < 0)
		pr_debug("CPU affinity not restored: %s", strerrordesc_np(errno));
	for (uint32_t i = 0; i < crest.nthreads; i++) {
		struct crest_thread *t = &crest.threads[i];
		if (t->flags & (CREST_THR_CKPT | CREST_THR_DEAD))
			continue;
		cpu_set_t *set = &crest.affinity;
		syscall(SYS_sched_setaffinity, t->tid, sizeof(*set), set);
	}
	for (int i = 0; i < 3; i++) {
		struct itimerval it = crest.itimers[i];
		bool armed = it.it_value.tv_sec || it.it_value.tv_usec;
		bool periodic = it.it_interval.tv_sec || it.it_interval.tv_usec;
		/* A periodic ITIMER_REAL whose SIGALRM is pending reads as disarmed
		 * (the kernel re-arms it when the signal is taken): arm it for one
		 * interval, the pending SIGALRM itself comes back below. */
		if (!armed && periodic)
			it.it_value = it.it_interval;
		if (armed || periodic)
			setitimer(i, &it, NULL);
	}
	/* pending signals, with their siginfo, in queue order; a trigger
	 * signal (trigger.c) was for the run that took the checkpoint */
	crest.nshared_sigq = crest_trigger_filter(crest.shared_sigq, crest.nshared_sigq);
	crest_sig_requeue(0, crest.shared_sigq, crest.nshared_sigq);
	for (uint32_t i = 0; i < crest.nthreads; i++) {
		struct crest_thread *t = &crest.threads[i];
		if (t->flags & (CREST_THR_CKPT | CREST_THR_DEAD))
			continue;
		t->nsigq = crest_trigger_filter(t->sigq, t->nsigq);
		crest_sig_requeue(t->tid, t->sigq, t->nsigq);
	}
}

static void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

void crest_cpu_features(struct crest_img_cpu *cpu)
{
	uint32_t r[4];
	memset(cpu, 0, sizeof(*cpu));
	cpuid(0, 0, r);
	cpu->vendor[0] = r[1];
	cpu->vendor[1] = r[3];
	cpu->vendor[2] = r[2];
	uint32_t max = r[0];
	cpuid(1, 0, r);
	cpu->leaf1_ecx = r[2] & ~(1u << 27);	/* OSXSAVE is per-OS, others are hardware */
	cpu->leaf1_edx = r[3];
	if (max >= 7) {
		cpuid(7, 0, r);
		cpu->leaf7_ebx = r[1];
		cpu->leaf7_ecx = r[2];
		cpu->leaf7_edx = r[3];
	}
	if (max >= 0xd) {
		cpuid(0xd, 0, r);
		cpu->xsave_size = r[1];
	}
	cpuid(0x80000000, 0, r);
	if (r[0] >= 0x80000001) {
		cpuid(0x80000001, 0, r);
		cpu->ext1_ecx = r[2];
		cpu->ext1_edx = r[3];
	}
	if ((cpu->leaf1_ecx >> 26) & 1) {	/* XSAVE */
		uint32_t lo, hi;
		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		cpu->xcr0 = ((uint64_t)hi << 32) | lo;
	}
}
