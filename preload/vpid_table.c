/* SPDX-License-Identifier: MIT */
/*
 * The virtual pid table (vpid.h): the entries in two arrays, indexed both
 * ways by an open-addressing hash (linear probing, load <= 1/2).  A slot
 * holds an entry's index + 1, 0 when empty.  Nothing is ever removed but by
 * crest_vpid_reset(), so a probe stops at the first empty slot.
 *
 * Everything is static and lives in libcrest's .bss (part of the image):
 * 2 x 256 KiB of entries and 2 x 512 KiB of slots, of which only the
 * touched pages cost anything.  Lookups are plain loads: async-signal-safe.
 */
#include <errno.h>

#include "vpid.h"

#define SLOT_BITS	17
#define NSLOTS		(1u << SLOT_BITS)	/* 2 * CREST_VPID_MAX */
#define SLOT_MASK	(NSLOTS - 1)

_Static_assert(NSLOTS >= 2 * CREST_VPID_MAX, "hash load must stay <= 1/2");

uint32_t crest_vpid_n;
static pid_t ent_virt[CREST_VPID_MAX], ent_real[CREST_VPID_MAX];
static uint32_t by_virt[NSLOTS], by_real[NSLOTS];

static inline uint32_t slot_of(pid_t key)
{
	return ((uint32_t)key * 2654435761u) >> (32 - SLOT_BITS);	/* Fibonacci hashing */
}

/* the entry whose `keys` is `key`, or -1 */
static inline long find(const uint32_t *tab, const pid_t *keys, pid_t key)
{
	for (uint32_t i = slot_of(key);; i = (i + 1) & SLOT_MASK) {
		uint32_t e = tab[i];
		if (!e)
			return -1;
		if (keys[e - 1] == key)
			return e - 1;
	}
}

static void insert(uint32_t *tab, pid_t key, uint32_t e)
{
	uint32_t i = slot_of(key);
	while (tab[i])
		i = (i + 1) & SLOT_MASK;
	tab[i] = e + 1;
}

/* Scans from the key's slot for the entry's own slot, over slots already
 * emptied by this reset: the entry is always found. */
static void clear(uint32_t *tab, pid_t key, uint32_t e)
{
	uint32_t i = slot_of(key);
	while (tab[i] != e + 1)
		i = (i + 1) & SLOT_MASK;
	tab[i] = 0;
}

/* Clears only the slots in use: the untouched pages stay untouched. */
void crest_vpid_reset(void)
{
	uint32_t n = crest_vpid_n;
	crest_vpid_n = 0;
	for (uint32_t e = 0; e < n; e++) {
		clear(by_virt, ent_virt[e], e);
		clear(by_real, ent_real[e], e);
	}
}

int crest_vpid_add(pid_t virt, pid_t real)
{
	uint32_t n = crest_vpid_n;
	if (virt <= 0 || real <= 0)
		return -EINVAL;
	if (n >= CREST_VPID_MAX)
		return -ENOSPC;
	if (n && (find(by_virt, ent_virt, virt) >= 0 || find(by_real, ent_real, real) >= 0))
		return -EEXIST;
	ent_virt[n] = virt;
	ent_real[n] = real;
	insert(by_virt, virt, n);
	insert(by_real, real, n);
	/* the entry is complete before it is counted (the writer runs with the
	 * application stopped; this keeps a concurrent reader consistent too) */
	__atomic_store_n(&crest_vpid_n, n + 1, __ATOMIC_RELEASE);
	return 0;
}

pid_t crest_vpid_to_real(pid_t virt)
{
	if (!crest_vpid_active() || virt <= 0)
		return virt;
	long e = find(by_virt, ent_virt, virt);
	return e < 0 ? virt : ent_real[e];
}

pid_t crest_real_to_vpid(pid_t real)
{
	if (!crest_vpid_active() || real <= 0)
		return real;
	long e = find(by_real, ent_real, real);
	return e < 0 ? real : ent_virt[e];
}

bool crest_vpid_taken(pid_t real)
{
	if (!crest_vpid_active() || real <= 0)
		return false;
	long e = find(by_virt, ent_virt, real);
	return e >= 0 && ent_real[e] != real;
}

/*
 * si_pid holds a pid for: SIGCHLD from the kernel (CLD_*, the child), and
 * kill/sigqueue/tgkill/mq_notify (SI_USER, SI_QUEUE, SI_TKILL, SI_MESGQ: the
 * sender), and glibc's POSIX AIO completion (SI_ASYNCIO: glibc puts the
 * caller's pid there).  Not touched: positive codes of other signals (for
 * SIGIO/SIGPOLL si_band and si_fd sit where si_pid is; faults carry an
 * address), SI_TIMER (timer id and overrun), SI_SIGIO (no pid), SI_KERNEL.
 */
void crest_vpid_fix_siginfo(siginfo_t *si)
{
	if (!crest_vpid_active() || !si)
		return;
	int code = si->si_code;
	bool has_pid = code == SI_USER || code == SI_QUEUE || code == SI_TKILL ||
		       code == SI_MESGQ || code == SI_ASYNCIO ||
		       (si->si_signo == SIGCHLD && code >= CLD_EXITED && code <= CLD_CONTINUED);
	if (has_pid && si->si_pid > 0)
		si->si_pid = crest_real_to_vpid(si->si_pid);
}
