/* SPDX-License-Identifier: MIT */
/*
 * Raw clone() threads and futexes, without libc: see rawthread.h for what a
 * raw thread may do.  System calls are made with inline `syscall`
 * instructions so that nothing writes errno (which, with the shared TLS,
 * would be the starting thread's errno).
 */
#include <asm/prctl.h>
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>

#include "rawthread.h"

static inline long rsys2(long n, long a, long b)
{
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "0"(n), "D"(a), "S"(b) : "rcx", "r11", "memory");
	return r;
}

static inline long rsys4(long n, long a, long b, long c, long d)
{
	register long r10 __asm__("r10") = d;
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "0"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
			 : "rcx", "r11", "memory");
	return r;
}

/*
 * clone(flags, stack, ptid, ctid, tls).  The child finds fn and arg on top
 * of its new stack, calls fn(arg) and exits with SYS_exit: it never
 * returns into this function, whose frame is on the parent's stack.
 */
static long raw_clone(unsigned long flags, void **sp, volatile int *ptid, volatile int *ctid,
		      unsigned long tls)
{
	register long r10 __asm__("r10") = (long)ctid;
	register long r8 __asm__("r8") = (long)tls;
	long r;

	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "pop %%rax\n\t"		/* fn */
			 "pop %%rdi\n\t"		/* arg */
			 "call *%%rax\n\t"
			 "mov %[nr_exit], %%eax\n\t"
			 "xor %%edi, %%edi\n\t"
			 "syscall\n\t"
			 "hlt\n"
			 "1:"
			 : "=a"(r)
			 : "0"((long)SYS_clone), "D"(flags), "S"(sp), "d"(ptid), "r"(r10), "r"(r8),
			   [nr_exit] "i"(SYS_exit)
			 : "rcx", "r11", "memory");
	return r;
}

int crest_rt_start(struct crest_rt *t, void *stack, size_t len, void (*fn)(void *), void *arg)
{
	const unsigned long flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
		CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
	uint64_t all = ~0ull, old = 0;
	unsigned long fs = 0;
	void **sp;
	long r;

	if (len < 4096)
		return -EINVAL;
	r = rsys2(SYS_arch_prctl, ARCH_GET_FS, (long)&fs);
	if (r < 0)
		return (int)r;
	/* top of stack, 16-byte aligned: fn, arg; after both pops and the
	 * call's push, fn starts with rsp = 8 mod 16 as the ABI wants */
	sp = (void **)(((uintptr_t)stack + len) & ~(uintptr_t)15);
	*--sp = arg;
	*--sp = (void *)fn;
	t->tid = 0;
	/* the child inherits the mask: block everything so that no signal
	 * handler ever runs on a raw thread (it has no TLS of its own) */
	r = rsys4(SYS_rt_sigprocmask, SIG_SETMASK, (long)&all, (long)&old, 8);
	if (r < 0)
		return (int)r;
	r = raw_clone(flags, sp, &t->tid, &t->tid, fs);
	rsys4(SYS_rt_sigprocmask, SIG_SETMASK, (long)&old, 0, 8);
	if (r < 0) {
		t->tid = 0;
		return (int)r;
	}
	return 0;
}

void crest_rt_join(struct crest_rt *t)
{
	int tid;

	while ((tid = __atomic_load_n(&t->tid, __ATOMIC_ACQUIRE)) != 0)
		rsys4(SYS_futex, (long)&t->tid, FUTEX_WAIT, tid, 0);
}

void crest_rt_wait(volatile uint32_t *word, uint32_t val)
{
	rsys4(SYS_futex, (long)word, FUTEX_WAIT_PRIVATE, (long)val, 0);
}

void crest_rt_wake(volatile uint32_t *word)
{
	rsys4(SYS_futex, (long)word, FUTEX_WAKE_PRIVATE, 0x7fffffff, 0);
}
