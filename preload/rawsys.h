/* SPDX-License-Identifier: MIT */
/*
 * Raw x86_64 system calls: no errno, no libc.  Used where TLS is not set up
 * (crest-restart, the first steps of a restored process) and where errno
 * must stay untouched (signal handlers).  Return -errno on failure.
 */
#ifndef CREST_RAWSYS_H
#define CREST_RAWSYS_H

#include <stdint.h>

static inline long raw_syscall6(long n, long a, long b, long c, long d, long e, long f)
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

#define raw_syscall0(n) raw_syscall6(n, 0, 0, 0, 0, 0, 0)
#define raw_syscall1(n, a) raw_syscall6(n, (long)(a), 0, 0, 0, 0, 0)
#define raw_syscall2(n, a, b) raw_syscall6(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define raw_syscall3(n, a, b, c) raw_syscall6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define raw_syscall4(n, a, b, c, d) raw_syscall6(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define raw_syscall5(n, a, b, c, d, e) raw_syscall6(n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

/* syscall numbers used (x86_64) */
#define NR_read 0
#define NR_write 1
#define NR_open 2
#define NR_close 3
#define NR_stat 4
#define NR_fstat 5
#define NR_lseek 8
#define NR_mmap 9
#define NR_mprotect 10
#define NR_munmap 11
#define NR_brk 12
#define NR_rt_sigaction 13
#define NR_rt_sigprocmask 14
#define NR_pread64 17
#define NR_mremap 25
#define NR_shmat 30
#define NR_shmctl 31
#define NR_madvise 28
#define NR_getpid 39
#define NR_getppid 110
#define NR_getpeername 52
#define NR_clone 56
#define NR_exit 60
#define NR_kill 62
#define NR_uname 63
#define NR_fcntl 72
#define NR_rt_sigpending 127
#define NR_prctl 157
#define NR_arch_prctl 158
#define NR_gettid 186
#define NR_futex 202
#define NR_set_tid_address 218
#define NR_clock_gettime 228
#define NR_exit_group 231
#define NR_tgkill 234
#define NR_openat 257
#define NR_set_robust_list 273
#define NR_rseq 334

#define RAW_ARCH_SET_FS 0x1002
#define RAW_ARCH_GET_FS 0x1003

static inline void raw_futex_wait(volatile uint32_t *addr, uint32_t val)
{
	raw_syscall4(NR_futex, addr, 128 /* FUTEX_WAIT_PRIVATE */, val, 0);
}

static inline void raw_futex_wake(volatile uint32_t *addr)
{
	raw_syscall3(NR_futex, addr, 129 /* FUTEX_WAKE_PRIVATE */, 0x7fffffff);
}

static inline uint64_t raw_get_fs(void)
{
	uint64_t fs = 0;
	raw_syscall2(NR_arch_prctl, RAW_ARCH_GET_FS, &fs);
	return fs;
}

#endif
