/* SPDX-License-Identifier: MIT */
/*
 * Pending signals across a checkpoint.  A signal still pending when the
 * threads stop is taken off its queue with its siginfo (rt_sigtimedwait),
 * recorded, and queued again at once (rt_[tg]sigqueueinfo to ourselves), so
 * the running process does not notice; a restored process gets the same
 * queue back, in order, values included.  The suspend signal is never
 * recorded.  Raw system calls only: this runs in the suspend handler.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>

#include "crest.h"
#include "rawsys.h"

#define NR_rt_sigtimedwait 128
#define NR_rt_sigqueueinfo 129
#define NR_rt_tgsigqueueinfo 297

static uint64_t hex(const char *p)
{
	uint64_t v = 0;
	for (;; p++) {
		int d;
		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else
			return v;
		v = v * 16 + d;
	}
}

/*
 * The mask after `key` ("SigPnd:") in a /proc status file.  It runs in the
 * suspend handler, maybe on a small stack or alternate signal stack: the
 * file is scanned through a 256-byte window, never read whole.
 */
uint64_t crest_sig_pending_mask(const char *status_path, const char *key)
{
	char buf[256];
	size_t kl = strlen(key), have = 0;
	uint64_t mask = 0;
	long fd = raw_syscall3(NR_open, status_path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	for (;;) {
		long n = raw_syscall3(NR_read, fd, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			break;
		have += n;
		buf[have] = 0;
		char *line = buf, *nl;
		while ((nl = strchr(line, '\n'))) {
			if (!strncmp(line, key, kl)) {
				char *p = line + kl;
				while (*p == '\t' || *p == ' ')
					p++;
				mask = hex(p) & ~(1ull << (crest.sig - 1));
				goto out;
			}
			line = nl + 1;
		}
		/* keep the unfinished line; one longer than the window is skipped */
		have = strlen(line);
		if (have >= sizeof(buf) - 1)
			have = 0;
		memmove(buf, line, have);
	}
out:
	raw_syscall1(NR_close, fd);
	return mask;
}

/* Takes every pending signal of `mask` off the queues this thread sees. */
uint32_t crest_sig_take(uint64_t mask, siginfo_t *q, uint32_t max)
{
	struct { long s, ns; } zero = { 0, 0 };
	uint32_t n = 0;
	for (int sig = 1; sig <= 64 && n < max; sig++) {
		if (!(mask & (1ull << (sig - 1))))
			continue;
		uint64_t set = 1ull << (sig - 1);
		while (n < max) {
			long r = raw_syscall4(NR_rt_sigtimedwait, &set, &q[n], &zero, 8);
			if (r != sig)
				break;
			n++;
		}
	}
	return n;
}

/* tid 0: process-directed */
void crest_sig_requeue(pid_t tid, const siginfo_t *q, uint32_t n)
{
	long pid = raw_syscall0(NR_getpid);
	long self = raw_syscall0(NR_gettid);
	for (uint32_t i = 0; i < n; i++) {
		siginfo_t si = q[i];
		long rc;
		/* the kernel lets only the sender's own thread forge kill()/tgkill()
		 * siginfo (si_code >= 0 or SI_TKILL): send those again for real */
		bool forged = si.si_code >= 0 || si.si_code == SI_TKILL;
		if (forged && self != pid) {
			crest_trigger_resending(&si);
			rc = tid ? raw_syscall3(NR_tgkill, pid, tid, si.si_signo)
				 : raw_syscall2(62 /* kill */, pid, si.si_signo);
		} else if (tid)
			rc = raw_syscall4(NR_rt_tgsigqueueinfo, pid, tid, si.si_signo, &si);
		else
			rc = raw_syscall3(NR_rt_sigqueueinfo, pid, si.si_signo, &si);
		if (rc < 0) {
			static const char msg[] = "crest: signals: a pending signal could not be queued again\n";
			raw_syscall3(NR_write, 2, msg, sizeof(msg) - 1);
		}
	}
}
