/* SPDX-License-Identifier: MIT */
/*
 * Checkpoint triggers from signals (docs/architecture.md, "Triggers").
 *
 * - The checkpoint signal (SIGUSR2 unless CREST_CKPT_SIGNAL names another,
 *   or "none") sent to any process of the computation asks the coordinator
 *   for a checkpoint.  crest owns it: the application's handler for it is
 *   recorded but never runs.
 * - SIGTERM (unless CREST_ON_TERM=exit) asks for a final checkpoint.  When
 *   that checkpoint is committed or aborted, the application's own
 *   disposition of SIGTERM is put back and the signal is sent again: the
 *   process ends the way it would have without crest, one checkpoint later.
 *   A TERM that arrives while a checkpoint runs makes that one the final
 *   one; later TERMs are absorbed.  Without a coordinator the process dies
 *   at once, and if no checkpoint starts within TERM_WAIT_MS it dies anyway.
 * - CREST_ON_TERM=hold (what the Slurm plugin sets): once the final
 *   checkpoint is committed the threads stay stopped, and the TERM acts only
 *   when it comes again — Slurm sends it again at the end of the grace time
 *   and then SIGKILL — so that the job is still running then and is
 *   requeued, and nothing runs after its final checkpoint: that TERM ends
 *   the process without the program's own handler (die_after_final).
 *
 * Either signal sent by a process of the computation (itself, or one listed
 * in DIR/PROCS) is the application's: its own action runs at once.
 *
 * The handler only sets a flag and writes to an eventfd; the checkpoint
 * thread polls that eventfd next to its coordinator link and does the rest.
 */
#define LOG_MODULE "trigger"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "crest.h"
#include "fd_own.h"
#include "log.h"
#include "proto.h"
#include "rawsys.h"
#include "signame.h"

#define TERM_WAIT_MS 10000	/* a TRIGGER(TERM) that no checkpoint answers */

enum term_state {
	TERM_NONE = 0,
	TERM_LATCHED,		/* arrived, the checkpoint thread has not seen it */
	TERM_ASKED,		/* a final checkpoint was asked for or is running */
	TERM_HELD,		/* hold: committed, threads kept stopped */
};

static int ckpt_sig;		/* 0: none */
static bool on_term;		/* SIGTERM checkpoints first */
static bool hold;		/* ... and holds the process stopped after it */
static volatile uint32_t term_again;	/* TERM while held */
static volatile uint32_t held_final;	/* held after a committed final checkpoint */
static int wake_fd = -1;
static struct stat wake_st;	/* what wake_fd is: the program may have closed it,
				 * and the number be another file's now */
static volatile uint32_t sig_pending;	/* the checkpoint signal arrived */
static volatile uint32_t sig_sender;
static volatile uint32_t term_state;
static volatile uint32_t term_sender;
static uint64_t term_deadline_ns;
static pid_t pid_at_checkpoint;

static void wake(void)
{
	uint64_t one = 1;
	if (wake_fd >= 0)
		raw_syscall3(NR_write, wake_fd, &one, sizeof(one));
}

/* Is `pid` (real) listed in DIR/PROCS, the processes that registered with
 * the coordinator?  Raw system calls and a small buffer: this runs in a
 * signal handler. */
static bool pid_in_procs(pid_t pid)
{
	char path[sizeof(crest.dir) + 8], buf[512];
	size_t dl = strnlen(crest.dir, sizeof(crest.dir));
	if (dl + 7 > sizeof(path))
		return false;
	memcpy(path, crest.dir, dl);
	memcpy(path + dl, "/PROCS", 7);
	long fd = raw_syscall3(NR_open, path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool found = false;
	long cur = -1;		/* digits so far, -1 between numbers */
	for (;;) {
		long n = raw_syscall3(NR_read, fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (long i = 0; i < n && !found; i++) {
			if (buf[i] >= '0' && buf[i] <= '9') {
				cur = (cur < 0 ? 0 : cur * 10) + (buf[i] - '0');
			} else {
				found = cur == pid;
				cur = -1;
			}
		}
		if (found)
			break;
	}
	found |= cur == pid;
	raw_syscall1(NR_close, fd);
	return found;
}

/* A signal from this process or from another process of the computation
 * is the application talking to itself (python multiprocessing's
 * terminate(), a shell's kill %1, timeout(1), raise()): not a trigger.
 * A sender in another pid namespace (si_pid 0) or the kernel is outside. */
static bool from_computation(const siginfo_t *si)
{
	if (!si || (si->si_code != SI_USER && si->si_code != SI_QUEUE && si->si_code != SI_TKILL))
		return false;
	pid_t pid = si->si_pid;
	if (pid <= 0)
		return false;
	return pid == (pid_t)raw_syscall0(NR_getpid) || pid_in_procs(pid);
}

/*
 * A trigger signal from outside that arrived while the threads were
 * stopped is taken off its queue and sent again by the checkpoint
 * (signals.c); when the kernel does not let it keep its siginfo it is sent
 * with kill() by this very process, which would make it look like the
 * application's own (and the default action of SIGUSR2 ends the process).
 * Counted here per signal, with its first sender, and taken as from
 * outside when it comes back.
 */
static volatile uint32_t resent[65];
static volatile uint32_t resent_sender[65];

void crest_trigger_resending(const siginfo_t *si)
{
	int sig = si->si_signo;
	/* a restart queues again only what the process had sent itself
	 * (crest_trigger_filter): its old pid */
	if (sig <= 0 || sig > 64 || !crest_sig_owned(sig) || (sig != ckpt_sig && sig != SIGTERM) ||
	    from_computation(si) || (pid_at_checkpoint && si->si_pid == pid_at_checkpoint))
		return;
	resent_sender[sig] = si->si_code == SI_USER ? (uint32_t)si->si_pid : 0;
	__atomic_add_fetch(&resent[sig], 1, __ATOMIC_SEQ_CST);
}

/* this self-sent signal is one of those: take it back from the count */
static bool is_resent(int sig, const siginfo_t *si)
{
	if (sig <= 0 || sig > 64 || !si || si->si_pid != (pid_t)raw_syscall0(NR_getpid))
		return false;
	uint32_t n = __atomic_load_n(&resent[sig], __ATOMIC_SEQ_CST);
	while (n) {
		if (__atomic_compare_exchange_n(&resent[sig], &n, n - 1, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			return true;
	}
	return false;
}

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	uint32_t resent_from = 0;
	bool again = is_resent(sig, si);
	if (again)
		resent_from = resent_sender[sig];
	if (!again && from_computation(si)) {
		crest_sig_run_app(sig, si, uc);
		errno = saved;
		return;
	}
	uint32_t sender = again ? resent_from : si && si->si_code == SI_USER ? (uint32_t)si->si_pid : 0;
	if (sig == SIGTERM && on_term) {
		uint32_t none = TERM_NONE;
		if (__atomic_compare_exchange_n(&term_state, &none, TERM_LATCHED, false,
						__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
			term_sender = sender;
			wake();
		} else if (__atomic_load_n(&term_state, __ATOMIC_SEQ_CST) == TERM_HELD) {
			__atomic_store_n(&term_again, 1, __ATOMIC_SEQ_CST);
			wake();
		}	/* else absorbed: one final checkpoint */
	} else {
		sig_sender = sender;
		__atomic_store_n(&sig_pending, 1, __ATOMIC_SEQ_CST);
		wake();
	}
	errno = saved;
}

static int open_wake_fd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0) {
		pr_perror("eventfd for checkpoint triggers");
		return -1;
	}
	fd = crest_fd_protect(fd);
	crest_fd_mark(fd, &wake_st);
	return fd;
}

bool crest_trigger_wake_ok(void)
{
	return crest_fd_still(wake_fd, &wake_st);
}

void crest_trigger_init(void)
{
	const char *s = crest_getenv("CREST_CKPT_SIGNAL");
	ckpt_sig = SIGUSR2;
	if (s && *s) {
		int sig = crest_signal_parse(s);
		if (sig < 0 || sig == SIGTERM || sig == crest.sig) {
			pr_err("CREST_CKPT_SIGNAL=%s: not a signal crest can use as the checkpoint "
			       "signal (USR2, USR1, RTMIN+N, a number, or none); using USR2", s);
			sig = SIGUSR2;
		}
		ckpt_sig = sig;
	}
	s = crest_getenv("CREST_ON_TERM");
	on_term = true;
	if (s && *s) {
		if (!strcmp(s, "exit")) {
			on_term = false;
		} else if (!strcmp(s, "hold")) {
			hold = true;
		} else if (strcmp(s, "checkpoint")) {
			pr_err("CREST_ON_TERM=%s: expected checkpoint, hold or exit; using checkpoint", s);
		}
	}
	wake_fd = open_wake_fd();
	if (wake_fd < 0)
		return;
	if (ckpt_sig && crest_sig_own(ckpt_sig, on_signal) < 0)
		pr_warn("cannot take signal %d as the checkpoint signal", ckpt_sig);
	if (on_term && crest_sig_own(SIGTERM, on_signal) < 0)
		pr_warn("cannot take SIGTERM: it will end the process without a checkpoint");
}

static void reset_state(void)
{
	for (int i = 0; i <= 64; i++)
		__atomic_store_n(&resent[i], 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&sig_pending, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&term_state, TERM_NONE, __ATOMIC_SEQ_CST);
	__atomic_store_n(&held_final, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&term_again, 0, __ATOMIC_SEQ_CST);
	term_deadline_ns = 0;
}

void crest_trigger_atfork_child(void)
{
	if (wake_fd >= 0) {
		crest_fd_unprotect(wake_fd);
		close(wake_fd);
	}
	wake_fd = open_wake_fd();
	reset_state();
}

/* The image was taken with whatever this run's signals had asked: none of
 * it applies to the new run.  The eventfd was crest's own, not saved. */
void crest_trigger_after_restart(void)
{
	wake_fd = open_wake_fd();
	reset_state();
}

int crest_trigger_wake_fd(void)
{
	return wake_fd;
}

/* The program closed the eventfd (it closed every descriptor without libc:
 * fd_wrappers.c): that number is not crest's any more, and a poll on it
 * would return at once, for ever, or wait on the program's file.  A new
 * one. */
void crest_trigger_wake_lost(void)
{
	int old = __atomic_exchange_n(&wake_fd, -1, __ATOMIC_SEQ_CST);	/* no signal writes there now */
	if (old >= 0)
		crest_fd_unprotect_lost(old, &wake_st);
	__atomic_store_n(&wake_fd, open_wake_fd(), __ATOMIC_SEQ_CST);
	pr_debug("the program closed crest's trigger eventfd: a new one");
}

void crest_trigger_note_checkpoint(void)
{
	pid_at_checkpoint = crest.pid;
}

/* After a restart: a trigger signal that was pending at the checkpoint was
 * for that run, unless the process had sent it to itself (a blocked
 * SIGUSR2 it raised): that one is the application's and comes back. */
uint32_t crest_trigger_filter(siginfo_t *q, uint32_t n)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < n; i++) {
		int sig = q[i].si_signo;
		bool owned = crest_sig_owned(sig);
		bool own_sending = (q[i].si_code == SI_USER || q[i].si_code == SI_QUEUE ||
				    q[i].si_code == SI_TKILL) && q[i].si_pid == pid_at_checkpoint;
		if (owned && !own_sending)
			continue;
		q[k++] = q[i];
	}
	return k;
}

/* The application's disposition of SIGTERM, then the signal again. */
static void die_of_term(const char *why)
{
	pr_info("%s: SIGTERM goes to the application now", why);
	crest_sig_disown(SIGTERM);
	raw_syscall2(NR_kill, raw_syscall0(NR_getpid), SIGTERM);
}

/*
 * The TERM again after a committed final checkpoint (hold): the process
 * ends of it as the KILL that follows would end it, without the program's
 * own SIGTERM handling.  The rerun continues from the checkpoint, and what
 * a handler does on the way out (a shell's `trap 'rm -rf $work' EXIT`, a
 * "cancelled" marker, an MPI abort) would undo what the rerun needs.  The
 * threads, stopped, block it; it is delivered, fatal, as they resume,
 * before any of the program's code runs.
 */
static void die_after_final(const char *why)
{
	struct {
		uint64_t handler, flags, restorer, mask;
	} dfl = { 0 };	/* SIG_DFL */
	pr_info("SIGTERM again %s: the process ends, without its own SIGTERM handling (the rerun continues "
		"from the checkpoint)", why);
	crest_sig_disown(SIGTERM);
	raw_syscall4(NR_rt_sigaction, SIGTERM, &dfl, 0, 8);
	raw_syscall2(NR_kill, raw_syscall0(NR_getpid), SIGTERM);
}

static void send_trigger(uint32_t reason, uint32_t signo, uint32_t sender)
{
	struct crest_msg_trigger t;
	memset(&t, 0, sizeof(t));
	t.reason = reason;
	t.signo = signo;
	t.sender_pid = sender;
	if (crest.coord_fd >= 0 &&
	    crest_frame_send(crest.coord_fd, CREST_MSG_TRIGGER, &crest.seq, &t, sizeof(t)) < 0)
		pr_warn("cannot ask the coordinator for a checkpoint");
}

static bool term_is_pending(void)
{
	uint64_t pend = 0;
	raw_syscall2(NR_rt_sigpending, &pend, 8);
	return pend >> (SIGTERM - 1) & 1;
}

int crest_trigger_service(void)
{
	uint64_t v;
	/* not a number the program reused (a blocking socket, crest's own
	 * link): wait_link makes it again */
	if (crest_trigger_wake_ok())
		while (read(wake_fd, &v, sizeof(v)) == sizeof(v))
			;
	if (__atomic_load_n(&term_state, __ATOMIC_SEQ_CST) == TERM_HELD) {
		/* the threads block it while stopped: it shows as pending */
		if (!__atomic_exchange_n(&term_again, 0, __ATOMIC_SEQ_CST) && !term_is_pending())
			return 200;
		/* without a final checkpoint too (it would not have fitted: the
		 * rerun continues from the newest generation), unless there is
		 * none, and the rerun starts afresh */
		if (__atomic_load_n(&held_final, __ATOMIC_SEQ_CST))
			die_after_final("after the final checkpoint");
		else if (crest.generation)
			die_after_final("(no final checkpoint: the rerun takes the newest generation)");
		else
			die_of_term("SIGTERM again, and no checkpoint was ever taken");
		crest_resume_all();
		return -1;
	}
	bool busy = __atomic_load_n(&crest.ckpt_busy, __ATOMIC_SEQ_CST);
	if (__atomic_exchange_n(&sig_pending, 0, __ATOMIC_SEQ_CST)) {
		if (busy)
			pr_debug("checkpoint signal during a checkpoint: absorbed");
		else if (crest.coord_fd >= 0)
			send_trigger(CREST_TRIGGER_SIGNAL, (uint32_t)ckpt_sig, sig_sender);
		else
			pr_warn("checkpoint signal, but no coordinator is connected: ignored");
	}
	uint32_t latched = TERM_LATCHED;
	if (__atomic_compare_exchange_n(&term_state, &latched, TERM_ASKED, false,
					__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		if (crest.coord_fd < 0) {
			die_of_term("SIGTERM and no coordinator to checkpoint with");
			return -1;
		}
		if (!busy)
			send_trigger(CREST_TRIGGER_TERM, SIGTERM, term_sender);
		else
			pr_info("SIGTERM during a checkpoint: it is the final one");
		term_deadline_ns = crest_now_ns() + TERM_WAIT_MS * 1000000ull;
	}
	if (__atomic_load_n(&term_state, __ATOMIC_SEQ_CST) == TERM_ASKED && term_deadline_ns) {
		if (busy) {
			term_deadline_ns = crest_now_ns() + TERM_WAIT_MS * 1000000ull;
			return TERM_WAIT_MS;
		}
		uint64_t now = crest_now_ns();
		if (now >= term_deadline_ns) {
			term_deadline_ns = 0;
			die_of_term("no checkpoint started after SIGTERM");
			return -1;
		}
		return (int)((term_deadline_ns - now) / 1000000ull) + 1;
	}
	return -1;
}

/* the checkpoint that just ended is a final one: a TERM asked for it, or
 * came while the threads were stopped (the handler could not run; the dump
 * queued it again, it is still pending) */
static bool was_final(void)
{
	return __atomic_load_n(&term_state, __ATOMIC_SEQ_CST) != TERM_NONE || term_is_pending();
}

bool crest_trigger_hold(bool final)
{
	if (!hold || !on_term || !crest_sig_owned(SIGTERM) || !(final || was_final()))
		return false;
	__atomic_store_n(&held_final, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&term_state, TERM_HELD, __ATOMIC_SEQ_CST);
	term_deadline_ns = 0;
	/* a TERM that came while the threads were stopped made this checkpoint
	 * the final one (was_final) and is still pending: it is spent, only a
	 * later one ends the hold */
	siginfo_t spent[4];
	crest_sig_take(1ull << (SIGTERM - 1), spent, 4);
	pr_info("the final checkpoint is committed: this process stays stopped until SIGTERM comes again "
		"(the end of the grace time) or SIGKILL, and then ends without its own SIGTERM handling");
	return true;
}

void crest_trigger_term_action(const struct crest_msg_term *m)
{
	uint32_t st = __atomic_load_n(&term_state, __ATOMIC_SEQ_CST);
	char text[sizeof(m->text)];

	snprintf(text, sizeof(text), "%s", m->text);
	/* a process without a TERM of its own (a task's child under
	 * proctrack/cgroup), or one that acted already */
	if (st != TERM_LATCHED && st != TERM_ASKED)
		return;
	term_deadline_ns = 0;
	if (m->action == CREST_TERM_KEEP) {
		/* no final checkpoint: running on changes nothing the rerun sees,
		 * and the next TERM (the end of the grace time) acts */
		__atomic_store_n(&term_state, TERM_HELD, __ATOMIC_SEQ_CST);
		pr_warn("%s", text[0] ? text : "no final checkpoint");
		return;
	}
	__atomic_store_n(&term_state, TERM_HELD, __ATOMIC_SEQ_CST);	/* acts once */
	die_of_term(text[0] ? text : "no final checkpoint");
}

bool crest_trigger_held(void)
{
	return __atomic_load_n(&term_state, __ATOMIC_SEQ_CST) == TERM_HELD;
}

void crest_trigger_after_checkpoint(void)
{
	if (!on_term || !crest_sig_owned(SIGTERM) || crest_trigger_held())
		return;
	if (was_final()) {
		__atomic_store_n(&term_state, TERM_ASKED, __ATOMIC_SEQ_CST);
		term_deadline_ns = 0;
		die_of_term("the final checkpoint is over");
	}
}
