/* SPDX-License-Identifier: MIT */
/*
 * The first code of a restored process that belongs to the application's
 * own memory.  crest-restart has mapped the image back and calls
 * crest_restart_entry() on crest_restart_stack.  It recreates every thread
 * with its TLS (clone with CLONE_SETTLS; the kernel writes the new tid into
 * glibc's struct pthread), re-registers rseq and the robust futex list, and
 * jumps into each thread's resume point.  The threads then wait in the
 * suspend handler until the checkpoint thread, back in
 * crest_checkpoint_write(), has restored fds and kernel state
 * (crest_after_restart) and releases them.
 *
 * Until FS is set nothing here may touch TLS: no errno, no libc, no stack
 * protector (preload/ is built with -fno-stack-protector).
 */
#define LOG_MODULE "restore"
#include <errno.h>
#include <linux/sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "crest.h"
#include "log.h"
#include "rawsys.h"
#include "vpid.h"

#define PTHREAD_TID_OFFSET	0x2d0	/* struct pthread.tid, glibc 2.36 x86_64 */
#define PTHREAD_ROBUST_OFFSET	0x2e0	/* struct pthread.robust_head */
#define ROBUST_HEAD_SIZE	24
#define RSEQ_SIG		0x53053053

extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));

__attribute__((aligned(64))) unsigned char crest_restart_stack[64 * 1024];
const size_t crest_restart_stack_size = sizeof(crest_restart_stack);

long crest_raw_clone(unsigned long flags, void *stack, void *ptid, void *ctid, unsigned long tls,
		     void (*fn)(void *), void *arg);
__asm__(
	".text\n"
	".globl crest_raw_clone\n"
	".hidden crest_raw_clone\n"
	".type crest_raw_clone,@function\n"
	"crest_raw_clone:\n"
	"	movq 8(%rsp), %rax\n"		/* arg */
	"	subq $16, %rsi\n"
	"	movq %rax, 8(%rsi)\n"
	"	movq %r9, 0(%rsi)\n"		/* fn */
	"	movq %rcx, %r10\n"		/* ctid */
	"	movl $56, %eax\n"		/* SYS_clone */
	"	syscall\n"
	"	testq %rax, %rax\n"
	"	jnz 1f\n"
	"	xorl %ebp, %ebp\n"
	"	popq %rax\n"
	"	popq %rdi\n"
	"	andq $-16, %rsp\n"
	"	call *%rax\n"
	"	movl $60, %eax\n"
	"	xorl %edi, %edi\n"
	"	syscall\n"
	"	hlt\n"
	"1:	ret\n"
	".size crest_raw_clone, .-crest_raw_clone\n");

static void thread_common(struct crest_thread *t)
{
	raw_syscall2(NR_set_robust_list, t->fs + PTHREAD_ROBUST_OFFSET, ROBUST_HEAD_SIZE);
	if (&__rseq_size && __rseq_size) {
		unsigned char *area = (unsigned char *)(t->fs + __rseq_offset);
		*(volatile uint64_t *)(area + 8) = 0;	/* rseq_cs: no critical section */
		if (raw_syscall4(NR_rseq, area, 32, 0, RSEQ_SIG) == -EINVAL)
			raw_syscall4(NR_rseq, area, __rseq_size, 0, RSEQ_SIG);
	}
	if (t->name[0])
		raw_syscall2(NR_prctl, PR_SET_NAME, t->name);
}

static void thread_start(void *arg)
{
	struct crest_thread *t = arg;
	thread_common(t);
	crest_ctx_jump(&t->ctx, 1);
}

__attribute__((noreturn, visibility("default"))) void crest_restart_entry(struct crest_restart_info *ri)
{
	unsigned char *dst = (unsigned char *)&crest.rinfo;
	const unsigned char *src = (const unsigned char *)ri;
	for (size_t i = 0; i < sizeof(crest.rinfo); i++)
		dst[i] = src[i];
	crest.restarted = true;
	crest.pid = (pid_t)raw_syscall0(NR_getpid);

	struct crest_thread *main_thread = NULL;
	crest.threads_recreated = 0;
	/* the table still holds the last incarnation's pids */
	for (uint32_t i = 0; i < crest.nthreads; i++)
		crest.threads[i].vtid = (uint32_t)crest_real_to_vpid((pid_t)crest.threads[i].tid);
	for (uint32_t i = 0; i < crest.nthreads; i++)
		if (crest.threads[i].flags & CREST_THR_MAIN)
			crest.threads[i].tid = (uint32_t)crest.pid;	/* the leader keeps the pid */
	for (uint32_t i = 0; i < crest.nthreads; i++) {
		struct crest_thread *t = &crest.threads[i];
		if (t->flags & CREST_THR_DEAD)
			continue;
		if (t->flags & CREST_THR_MAIN) {
			main_thread = t;
			continue;
		}
		unsigned long flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
				      CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID |
				      CLONE_CHILD_CLEARTID;
		void *tidp = (void *)(t->fs + PTHREAD_TID_OFFSET);
		/* start below the saved stack pointer: what lies above is the thread's frame */
		uint64_t sp = (t->ctx.rsp - 1024) & ~15ull;
		long r = crest_raw_clone(flags, (void *)sp, tidp, tidp, t->fs, thread_start, t);
		if (r < 0) {
			static const char msg[] = "crest: restart: cannot create a thread\n";
			raw_syscall3(NR_write, 2, msg, sizeof(msg) - 1);
			raw_syscall1(NR_exit_group, 1);
		}
		t->tid = (uint32_t)r;
	}
	if (!main_thread) {
		static const char msg[] = "crest: restart: image has no main thread\n";
		raw_syscall3(NR_write, 2, msg, sizeof(msg) - 1);
		raw_syscall1(NR_exit_group, 1);
	}
	raw_syscall2(NR_arch_prctl, RAW_ARCH_SET_FS, main_thread->fs);
	long tid = raw_syscall1(NR_set_tid_address, main_thread->fs + PTHREAD_TID_OFFSET);
	*(volatile int *)(main_thread->fs + PTHREAD_TID_OFFSET) = (int)tid;
	main_thread->tid = (uint32_t)tid;
	thread_common(main_thread);
	__atomic_store_n(&crest.threads_recreated, 1, __ATOMIC_RELEASE);
	raw_futex_wake(&crest.threads_recreated);
	crest_ctx_jump(&main_thread->ctx, 1);
}

/* The checkpoint thread of a restored process, threads still waiting. */
void crest_after_restart(void)
{
	char err[1024];
	struct crest_restart_info *ri = &crest.rinfo;

	crest.ckpt_tid = (uint32_t)raw_syscall0(NR_gettid);
	while (!__atomic_load_n(&crest.threads_recreated, __ATOMIC_ACQUIRE))
		raw_futex_wait(&crest.threads_recreated, 0);
	uint64_t all = ~0ull;
	raw_syscall4(NR_rt_sigprocmask, SIG_SETMASK, &all, NULL, 8);	/* as before the checkpoint */
	if (crest_suspend_install() < 0)
		pr_perror("cannot install the suspend handler: this process cannot be checkpointed again");
	if (ri->self_hi > ri->self_lo)
		munmap((void *)ri->self_lo, ri->self_hi - ri->self_lo);
	if (ri->dir[0])
		snprintf(crest.dir, sizeof(crest.dir), "%s", ri->dir);
	crest_vpid_load_restart(ri->vpid_fd);
	crest_state_restore();
	crest_fds_restore(ri->image_fd, err, sizeof(err));	/* says what failed itself */
	close(ri->image_fd);	/* moved by crest_fds_restore */
	crest.generation = ri->generation;
	crest.restart_count = ri->restart_count;
	crest.coord_fd = -1;
	crest.seq = 0;
	pr_info("restarted from %s (generation %lu)", ri->image, (unsigned long)ri->generation);
	crest_resume_all();
}
