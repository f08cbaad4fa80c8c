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
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "ckdir.h"
#include "crest.h"
#include "created_record.h"
#include "log.h"
#include "rawsys.h"
#include "path_map.h"
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
	static uint32_t old_tid[CREST_MAX_THREADS], new_tid[CREST_MAX_THREADS];
	crest.threads_recreated = 0;
	for (uint32_t i = 0; i < crest.nthreads; i++)
		old_tid[i] = crest.threads[i].flags & CREST_THR_DEAD ? 0 : crest.threads[i].tid;
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
	for (uint32_t i = 0; i < crest.nthreads; i++)
		new_tid[i] = crest.threads[i].tid;
	crest_rtld_locks_fix(old_tid, new_tid, crest.nthreads);
	thread_common(main_thread);
	__atomic_store_n(&crest.threads_recreated, 1, __ATOMIC_RELEASE);
	raw_futex_wake(&crest.threads_recreated);
	crest_ctx_jump(&main_thread->ctx, 1);
}

/* The path map of this incarnation: --path-map, and TMPDIR and the
 * checkpoint directory when they changed; kept in DIR/PATHMAP for programs
 * exec'ed later (preload/path_map.c translates). */
static void path_map_setup(const struct crest_restart_info *ri, const char *old_dir)
{
	static char spec[sizeof(ri->path_map) + 2 * 4096 + 2 * sizeof(ri->tmpdir)];
	size_t len = 0, given = 0;
	/* TMPDIR and the checkpoint directory first: for the same OLD the first
	 * entry wins, and these are what is true now */
	const char *old_tmp = crest_getenv("TMPDIR");	/* the application's environment: no malloc */
	const char *pairs[2][2] = { { old_tmp, ri->tmpdir }, { old_dir, ri->dir } };
	for (int k = 0; k < 2; k++) {
		const char *o = pairs[k][0], *n = pairs[k][1];
		if (!o || !n || o[0] != '/' || n[0] != '/' || !strcmp(o, n) ||
		    len + strlen(o) + strlen(n) + 3 > sizeof(spec))
			continue;
		len += (size_t)sprintf(spec + len, "%s", o) + 1;
		len += (size_t)sprintf(spec + len, "%s", n) + 1;
	}
	while (given < sizeof(ri->path_map) && ri->path_map[given]) {	/* pairs, up to the empty string */
		size_t a = strnlen(ri->path_map + given, sizeof(ri->path_map) - given) + 1;
		size_t b = strnlen(ri->path_map + given + a, sizeof(ri->path_map) - given - a) + 1;
		given += a + b;
	}
	if (len + given + 1 <= sizeof(spec)) {
		memcpy(spec + len, ri->path_map, given);
		len += given;
	}
	spec[len++] = 0;
	int rc = crest_path_map_set(spec, len);	/* empty: paths as they are (back home) */
	if (rc) {
		pr_err("restart: the path map is not usable (%s); paths are not translated", strerrordesc_np(-rc));
		crest_path_map_set("", 1);
		return;
	}
	if (len == 1)
		return;
	char path[sizeof(crest.dir) + 32];
	ckdir_tree_file(path, sizeof(path), crest.dir, "PATHMAP", crest.task);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, spec, len) != (ssize_t)len)
		pr_warn("cannot write %s: programs exec'ed later will not translate paths", path);
	if (fd >= 0)
		close(fd);
}

void crest_path_map_load_file(void)
{
	static char spec[8192 + 2 * 4096 + 2048];
	char path[sizeof(crest.dir) + 32];
	ckdir_tree_file(path, sizeof(path), crest.dir, "PATHMAP", crest.task);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;	/* no map: the common case */
	ssize_t n = read(fd, spec, sizeof(spec) - 1);
	close(fd);
	if (n <= 0 || crest_path_map_set(spec, (size_t)n))
		pr_warn("%s is damaged; this program does not translate paths", path);
}

/* Environment updates, once the application runs again (setenv may take
 * locks a stopped thread held). */
static void env_update(const struct crest_restart_info *ri)
{
	char n[16];
	snprintf(n, sizeof(n), "%u", crest.restart_count);
	setenv("CREST_RESTART_COUNT", n, 1);
	for (size_t off = 0; off < sizeof(ri->env) && ri->env[off];) {
		const char *e = ri->env + off;
		const char *eq = strchr(e, '=');
		size_t l = strnlen(e, sizeof(ri->env) - off);
		if (eq && eq > e) {
			char name[256];
			snprintf(name, sizeof(name), "%.*s", (int)(eq - e), e);
			setenv(name, eq + 1, 1);
		}
		off += l + 1;
	}
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
	crest_fd_own_forget_all();	/* before anything of this run is protected */
	static char old_dir[sizeof(crest.dir)];
	memcpy(old_dir, crest.dir, sizeof(old_dir));
	if (ri->dir[0])
		snprintf(crest.dir, sizeof(crest.dir), "%s", ri->dir);
	crest_vpid_load_restart(ri->vpid_fd);
	path_map_setup(ri, old_dir);
	crest_state_restore();
	crest_created_after_restart();	/* before any fd comes back at its number */
	crest_fds_restore(ri->image_fd, err, sizeof(err));	/* says what failed itself */
	close(ri->image_fd);	/* moved by crest_fds_restore */
	crest.generation = ri->generation;
	crest.restart_count++;
	crest.coord_fd = -1;
	crest.seq = 0;
	memset(crest.run, 0, sizeof(crest.run));	/* the image's run is over: the new one's WELCOME says */
	pr_info("restarted from %s (generation %lu)", ri->image, (unsigned long)ri->generation);
	/* before any thread runs: a TERM that arrives from now on counts */
	crest_trigger_after_restart();
	crest_resume_all();
	env_update(ri);
}
