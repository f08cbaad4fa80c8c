/*
 * gen.h: the body of every module of the make_build project
 * (tests/cr/make_build.sh).  A module defines MODULE_SEED and MODULE_FN and
 * includes this file, which expands into NFUNC = 1024 functions
 * fn_<id>, <id> a 5-digit hexadecimal name 1xxxx..4xxxx whose last four
 * digits are 0-3, and MODULE_FN, which passes a value through all of them
 * in order.  The functions are noinline, so gcc -O2 compiles each one on
 * its own: about 2.5 s of cc1 per module, real compilation work for the
 * checkpoints to interrupt.  main.c computes the same values with a loop
 * (gen_ref) and compares.
 */
#ifndef GEN_H
#define GEN_H

#include <stdint.h>

#define GEN_MUL 0xbf58476d1ce4e5b9ULL
#define GEN_ROUNDS 8u
#define STEP(x, k) ((x) = ((x) ^ ((x) >> 29)) * GEN_MUL + (k))

#define FN(id)								\
	static __attribute__((noinline)) uint64_t fn_##id(uint64_t x)	\
	{								\
		for (unsigned i = 0; i < GEN_ROUNDS; i++)		\
			STEP(x, (uint64_t)0x##id * MODULE_SEED + i);	\
		return x;						\
	}
#define FN4(p) FN(p##0) FN(p##1) FN(p##2) FN(p##3)
#define FN16(p) FN4(p##0) FN4(p##1) FN4(p##2) FN4(p##3)
#define FN64(p) FN16(p##0) FN16(p##1) FN16(p##2) FN16(p##3)
#define FN256(p) FN64(p##0) FN64(p##1) FN64(p##2) FN64(p##3)

#define CL(id) x = fn_##id(x);
#define CL4(p) CL(p##0) CL(p##1) CL(p##2) CL(p##3)
#define CL16(p) CL4(p##0) CL4(p##1) CL4(p##2) CL4(p##3)
#define CL64(p) CL16(p##0) CL16(p##1) CL16(p##2) CL16(p##3)
#define CL256(p) CL64(p##0) CL64(p##1) CL64(p##2) CL64(p##3)

#ifdef MODULE_FN
FN256(1)
FN256(2)
FN256(3)
FN256(4)

uint64_t MODULE_FN(uint64_t x);
uint64_t MODULE_FN(uint64_t x)
{
	CL256(1)
	CL256(2)
	CL256(3)
	CL256(4)
	return x;
}
#endif

#endif
