/* SPDX-License-Identifier: MIT */
/*
 * A minimal setjmp/longjmp without glibc: callee-saved registers, stack
 * pointer and return address, no pointer mangling (the jump happens before
 * TLS, and with it the pointer guard, is set in a restored thread).
 */
#ifndef CREST_CONTEXT_H
#define CREST_CONTEXT_H

#include <stdint.h>

struct crest_ctx {
	uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip;
};

/* Returns 0 when saving, and the `val` given to crest_ctx_jump when jumped to. */
int crest_ctx_save(struct crest_ctx *c) __attribute__((returns_twice));
__attribute__((noreturn)) void crest_ctx_jump(const struct crest_ctx *c, int val);

#endif
