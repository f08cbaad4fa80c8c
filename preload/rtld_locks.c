/* SPDX-License-Identifier: MIT */
/*
 * The dynamic loader's locks across a restart.  glibc's loader serialises
 * dlopen, dlclose, dlsym and TLS setup with recursive pthread mutexes in
 * `_rtld_global` (dl_load_lock and its siblings), and a recursive mutex
 * names its owner by kernel tid.  A thread stopped by a checkpoint inside
 * dlopen (Open MPI's threads load components; a thread that loops on
 * dlopen: tests/cr/dl_busy.c) holds one; restored with another tid, it can
 * neither unlock it nor take it again, and every other thread that needs
 * the loader, exit() too, waits forever.  So at restart, once every thread
 * has its new tid, an owner that is a thread's old tid becomes its new one.
 *
 * Only `_rtld_global`, found when libcrest is loaded (dlsym, dladdr1 for
 * its size), is looked at: a recursive or error-checking mutex of the
 * application held across a restart still names the old tid
 * (docs/unsupported.md).
 */
#include <dlfcn.h>
#include <link.h>
#include <stdint.h>

#include "crest.h"

static uintptr_t rtld_base;
static size_t rtld_size;

__attribute__((constructor)) static void rtld_locks_init(void)
{
	void *g = dlsym(RTLD_DEFAULT, "_rtld_global");
	const ElfW(Sym) *sym = NULL;
	Dl_info info;

	if (g && dladdr1(g, &info, (void **)&sym, RTLD_DL_SYMENT) && sym && sym->st_size) {
		rtld_base = (uintptr_t)g;
		rtld_size = sym->st_size;
	}
}

/* pthread_mutex_t on x86_64: __lock, __count, __owner, __nusers, __kind */
#define M_LOCK		0
#define M_OWNER		2
#define M_KIND		4
#define M_COUNT		1
#define KIND_RECURSIVE	1		/* PTHREAD_MUTEX_RECURSIVE_NP, no flag bits */
#define KIND_ERRORCHECK	2		/* PTHREAD_MUTEX_ERRORCHECK_NP */

void crest_rtld_locks_fix(const uint32_t *old_tid, const uint32_t *new_tid, uint32_t n)
{
	for (uintptr_t p = rtld_base; rtld_size && p + 5 * sizeof(int) <= rtld_base + rtld_size; p += 8) {
		volatile int *m = (volatile int *)p;
		/* held (1, or 2 with waiters), a plain recursive one (count >= 1)
		 * or an error-checking one: nothing else looks like that */
		if ((m[M_LOCK] != 1 && m[M_LOCK] != 2) ||
		    !((m[M_KIND] == KIND_RECURSIVE && m[M_COUNT] >= 1) || m[M_KIND] == KIND_ERRORCHECK))
			continue;
		for (uint32_t i = 0; i < n; i++)
			if (old_tid[i] && m[M_OWNER] == (int)old_tid[i]) {
				m[M_OWNER] = (int)new_tid[i];
				break;
			}
	}
}
