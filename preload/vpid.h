/* SPDX-License-Identifier: MIT */
/*
 * Virtual pids and tids.  After a restart the processes and threads of the
 * application have new real pids; the application keeps seeing the ones it
 * saw before (virtual).  The restarted libcrest calls crest_vpid_reset() and
 * then crest_vpid_add(virtual, real) for each restarted process of the
 * computation and each of its own threads, while every application thread
 * is stopped; afterwards the table is read-only until the next restart, so
 * lookups take no lock and are async-signal-safe.  Processes and threads
 * created later keep virtual == real.  A process that never went through a
 * restart has an empty table: every translation is the identity.
 *
 * vpid_table.c is pure (no libc wrappers, no `crest` state) so the unit test
 * compiles it directly.
 */
#ifndef CREST_VPID_H
#define CREST_VPID_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CREST_VPID_MAX	65536	/* entries */

void crest_vpid_reset(void);
/* 0; -EINVAL for a pid <= 0; -EEXIST when virt or real is already in the
 * table; -ENOSPC when full */
int crest_vpid_add(pid_t virt, pid_t real);
/* > 0 in (anything else is returned unchanged); identity when absent */
pid_t crest_vpid_to_real(pid_t virt);
pid_t crest_real_to_vpid(pid_t real);
/* `real` is the virtual pid of an entry whose real pid differs: a new
 * process or thread with this real pid would be ambiguous */
bool crest_vpid_taken(pid_t real);
/* si_pid real -> virtual where the kernel (or glibc) put a pid there */
void crest_vpid_fix_siginfo(siginfo_t *si);

/* the number of entries; read directly so that a wrapper's fast path is
 * one load and one predictable branch, not a call */
extern uint32_t crest_vpid_n __attribute__((visibility("hidden")));

/* the table is not empty */
static inline bool crest_vpid_active(void)
{
	return __builtin_expect(crest_vpid_n != 0, 0);
}

#endif
