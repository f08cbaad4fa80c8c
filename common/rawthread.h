/* SPDX-License-Identifier: MIT */
/*
 * Raw threads for work done while the application is suspended (image
 * compression): created with clone(2) directly, no pthread, no malloc.
 *
 * A raw thread shares the TLS of the thread that started it (CLONE_SETTLS
 * with the caller's fs base), only so that the stack-protector canary at
 * fs:0x28 reads right.  It must therefore never touch errno or any other
 * thread-local variable, nor call libc functions that might: only the
 * crest_rt_* futex helpers (raw syscalls) and pure computation (zstd).
 * All signals are blocked in it.  Its stack comes from the caller.
 */
#ifndef CREST_RAWTHREAD_H
#define CREST_RAWTHREAD_H

#include <stddef.h>
#include <stdint.h>

struct crest_rt {
	volatile int tid;	/* set by clone, cleared and futex-woken at exit */
};

/* Start fn(arg) on [stack, stack+len) (16-byte aligned, >= 64 KiB advised).
 * 0 or -errno. */
int crest_rt_start(struct crest_rt *t, void *stack, size_t len, void (*fn)(void *), void *arg);

/* Wait until the thread has exited (its stack may then be reused). */
void crest_rt_join(struct crest_rt *t);

/* futex: sleep while *word == val (may return early); wake all waiters.
 * Raw syscalls: safe in raw threads. */
void crest_rt_wait(volatile uint32_t *word, uint32_t val);
void crest_rt_wake(volatile uint32_t *word);

#endif
