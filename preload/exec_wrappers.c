/* SPDX-License-Identifier: MIT */
/*
 * Keeps libcrest in every program the computation runs.  A program may
 * exec with an environment of its own making (env -i, subprocess with
 * env={}, execle, clearenv then execvp ...): without LD_PRELOAD and the
 * CREST_* variables the new program would not load libcrest, and would
 * not be checkpointed.  At start we remember libcrest's absolute path and
 * every CREST_* variable; each exec adds to the environment it is given
 * whatever of these is missing, and names libcrest in LD_PRELOAD.  A
 * variable the program set to another value is left as it set it.
 *
 * Covered: execve, execv, execvp, execvpe, execl, execlp, execle, fexecve,
 * execveat, and posix_spawn, posix_spawnp (exported by vpid_wrappers.c,
 * which calls crest_spawn/crest_spawnp here).  glibc's exec* and
 * posix_spawn* reach execve inside libc, not through the PLT: each one is
 * wrapped.  The exec* wrappers hold the read side of the checkpoint lock
 * (crest_exec_begin/end); posix_spawn* do not, the caller keeps running.
 *
 * Not covered, and what happens then:
 *  - system() and popen() spawn /bin/sh inside libc with environ as it is;
 *    if the program emptied environ, sh and what it runs miss libcrest;
 *  - a raw syscall(SYS_execve) or an inline system call (Go's
 *    syscall.Exec, static runtimes);
 *  - static binaries and programs the loader runs in secure mode
 *    (setuid, file capabilities): they never load libcrest.
 * Such a process is not part of the checkpoint; the checkpoint then fails
 * naming it.
 *
 * Nothing here allocates from the heap: the wrappers may run in a vfork
 * child.  The fixed environment lives on the stack, or in an anonymous
 * mapping when it is very large.
 */
#define LOG_MODULE "exec"
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "crest.h"
#include "log.h"

#define MAX_VARS	64		/* CREST_* variables remembered */
#define VARS_BYTES	16384
#define ENV_STACK_MAX	(256 * 1024)	/* larger fixed environments are mmapped */

extern char **environ;

/* what a new program needs to rejoin; filled once, by crest_exec_init() */
/* CREST_DIR was set at start.  Not crest.active: a forked child is not
 * active (yet) but what it execs must still load libcrest. */
static bool keep;
static char lib_path[PATH_MAX];
static size_t lib_len;
static char vars_buf[VARS_BYTES];
static const char *vars[MAX_VARS];	/* NAME=VALUE in vars_buf */
static size_t vars_name_len[MAX_VARS];	/* up to and with the '=' */
static unsigned nvars;

static __typeof__(execve) *real_execve;
static __typeof__(execvpe) *real_execvpe;
static __typeof__(execv) *real_execv;
static __typeof__(execvp) *real_execvp;
static __typeof__(fexecve) *real_fexecve;
static __typeof__(execveat) *real_execveat;
static __typeof__(posix_spawn) *real_posix_spawn;
static __typeof__(posix_spawnp) *real_posix_spawnp;

#define REAL(name) ({ \
	if (!real_##name) \
		real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name); \
	real_##name; })

/* a missing real function (execveat before glibc 2.34) */
#define REAL_OR_ENOSYS(name) do { if (!REAL(name)) { errno = ENOSYS; return -1; } } while (0)

void crest_exec_init(void)
{
	Dl_info info;

	if (!dladdr((void *)crest_exec_init, &info) || !info.dli_fname) {
		pr_err("cannot find libcrest's own path; programs this process runs with an "
		       "environment of their own will not be checkpointed");
		return;
	}
	if (info.dli_fname[0] == '/') {
		snprintf(lib_path, sizeof(lib_path), "%s", info.dli_fname);
	} else if (!realpath(info.dli_fname, lib_path)) {
		pr_perror("cannot resolve libcrest's path %s; programs this process runs with an "
			  "environment of their own will not be checkpointed", info.dli_fname);
		return;
	}
	lib_len = strlen(lib_path);

	size_t used = 0;
	nvars = 0;
	for (char **e = environ; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		if (strncmp(*e, "CREST_", 6) || !eq)
			continue;
		size_t len = strlen(*e) + 1;
		if (nvars == MAX_VARS || used + len > sizeof(vars_buf)) {
			char name[64];
			snprintf(name, sizeof(name), "%.*s", (int)(eq - *e), *e);
			pr_warn("more than %d CREST_* variables or %zu bytes of them: %s and later "
				"ones are not passed to programs run with an environment of their own",
				MAX_VARS, sizeof(vars_buf), name);
			break;
		}
		memcpy(vars_buf + used, *e, len);
		vars[nvars] = vars_buf + used;
		vars_name_len[nvars] = (size_t)(eq - *e) + 1;
		nvars++;
		used += len;
	}

	/* resolve now: the first exec may come from a vfork child */
	REAL(execve);
	REAL(execvpe);
	REAL(execv);
	REAL(execvp);
	REAL(fexecve);
	REAL(execveat);
	REAL(posix_spawn);
	REAL(posix_spawnp);
	keep = true;
}

/* ---- the fixed environment ---- */

struct env_plan {
	size_t n;			/* entries in envp */
	uint64_t missing;		/* bit i: vars[i] is not in envp */
	const char *preload;		/* envp's LD_PRELOAD=..., NULL if none */
	bool add_lib;			/* LD_PRELOAD does not name libcrest */
	size_t bytes;			/* size of the fixed environment, 0 if envp is fine */
};

/* val names libcrest as one of its ' ' or ':' separated elements */
static bool names_lib(const char *val)
{
	for (const char *p = val; *p;) {
		size_t len = strcspn(p, " :");
		if (len == lib_len && !memcmp(p, lib_path, len))
			return true;
		p += len;
		if (*p)
			p++;
	}
	return false;
}

static void env_plan(char *const envp[], struct env_plan *pl)
{
	uint64_t all = nvars == 64 ? ~0ull : (1ull << nvars) - 1;
	uint64_t seen = 0;

	memset(pl, 0, sizeof(*pl));
	for (size_t i = 0; envp && envp[i]; i++, pl->n++) {
		const char *e = envp[i];
		if (e[0] == 'C') {
			for (unsigned v = 0; v < nvars; v++)
				if (!strncmp(e, vars[v], vars_name_len[v]))
					seen |= 1ull << v;
		} else if (e[0] == 'L' && !strncmp(e, "LD_PRELOAD=", 11)) {
			pl->preload = e;	/* the loader takes the last one */
		}
	}
	pl->missing = all & ~seen;
	pl->add_lib = !pl->preload || !names_lib(pl->preload + 11);
	if (!pl->missing && !pl->add_lib)
		return;
	pl->bytes = (pl->n + nvars + 2) * sizeof(char *);
	if (pl->add_lib)
		pl->bytes += sizeof("LD_PRELOAD=:") + lib_len + (pl->preload ? strlen(pl->preload) : 0);
}

/* envp plus what pl found missing, built in buf (pl->bytes) */
static char **env_build(char *const envp[], const struct env_plan *pl, void *buf)
{
	char **out = buf;
	char *str = (char *)(out + pl->n + nvars + 2);
	char *preload = NULL;
	size_t k = 0;

	if (pl->add_lib) {
		const char *old = pl->preload ? pl->preload + 11 : "";
		size_t olen = strlen(old);
		preload = str;
		memcpy(str, "LD_PRELOAD=", 11);
		str += 11;
		memcpy(str, lib_path, lib_len);
		str += lib_len;
		if (olen) {
			*str++ = ':';
			memcpy(str, old, olen);
			str += olen;
		}
		*str = 0;
	}
	/* the new LD_PRELOAD takes the place of the one the loader would use */
	for (size_t i = 0; i < pl->n; i++)
		out[k++] = preload && envp[i] == pl->preload ? preload : envp[i];
	for (unsigned v = 0; v < nvars; v++)
		if (pl->missing & (1ull << v))
			out[k++] = (char *)vars[v];
	if (preload && !pl->preload)
		out[k++] = preload;
	out[k] = NULL;
	return out;
}

/*
 * FIX_ENV(envp, env, map, maplen), only when keep: env is envp, or envp
 * fixed on this frame's stack (or in map, to munmap after a failed exec).
 * Must be a macro: the stack memory is the caller's.  If no memory can be
 * had, envp goes unchanged: the exec itself must not fail for crest's sake.
 */
#define FIX_ENV(envp, env, map, maplen) \
	char *const *env = (envp); \
	void *map = NULL; \
	size_t maplen = 0; \
	struct env_plan pl_; \
	env_plan((envp), &pl_); \
	if (pl_.bytes && pl_.bytes <= ENV_STACK_MAX) { \
		env = env_build((envp), &pl_, alloca(pl_.bytes)); \
	} else if (pl_.bytes) { \
		void *m_ = mmap(NULL, pl_.bytes, PROT_READ | PROT_WRITE, \
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); \
		if (m_ != MAP_FAILED) { \
			map = m_; \
			maplen = pl_.bytes; \
			env = env_build((envp), &pl_, m_); \
		} \
	}

static void env_release(void *map, size_t len)
{
	if (map)
		munmap(map, len);
}

/* after the real exec returned: it failed */
static int exec_failed(void *map, size_t maplen)
{
	int err = errno;
	crest_exec_end();
	env_release(map, maplen);
	errno = err;
	return -1;
}

/* ---- the wrappers ---- */

static int do_execve(const char *path, char *const argv[], char *const envp[])
{
	FIX_ENV(envp, env, map, maplen);
	crest_exec_begin();
	REAL(execve)(path, argv, env);
	return exec_failed(map, maplen);
}

static int do_execvpe(const char *file, char *const argv[], char *const envp[])
{
	FIX_ENV(envp, env, map, maplen);
	crest_exec_begin();
	REAL(execvpe)(file, argv, env);
	return exec_failed(map, maplen);
}

__attribute__((visibility("default"))) int execve(const char *path, char *const argv[],
						  char *const envp[])
{
	if (!keep)
		return REAL(execve)(path, argv, envp);
	return do_execve(path, argv, envp);
}

__attribute__((visibility("default"))) int execvpe(const char *file, char *const argv[],
						   char *const envp[])
{
	if (!keep)
		return REAL(execvpe)(file, argv, envp);
	return do_execvpe(file, argv, envp);
}

__attribute__((visibility("default"))) int execv(const char *path, char *const argv[])
{
	if (!keep)
		return REAL(execv)(path, argv);
	return do_execve(path, argv, environ);
}

__attribute__((visibility("default"))) int execvp(const char *file, char *const argv[])
{
	if (!keep)
		return REAL(execvp)(file, argv);
	return do_execvpe(file, argv, environ);
}

__attribute__((visibility("default"))) int fexecve(int fd, char *const argv[], char *const envp[])
{
	if (!keep)
		return REAL(fexecve)(fd, argv, envp);
	FIX_ENV(envp, env, map, maplen);
	crest_exec_begin();
	REAL(fexecve)(fd, argv, env);
	return exec_failed(map, maplen);
}

__attribute__((visibility("default"))) int execveat(int dirfd, const char *path, char *const argv[],
						    char *const envp[], int flags)
{
	REAL_OR_ENOSYS(execveat);
	if (!keep)
		return real_execveat(dirfd, path, argv, envp, flags);
	FIX_ENV(envp, env, map, maplen);
	crest_exec_begin();
	real_execveat(dirfd, path, argv, env, flags);
	return exec_failed(map, maplen);
}

/*
 * posix_spawn and posix_spawnp are exported by vpid_wrappers.c, which
 * translates the child's pid; it spawns through these two, which fix the
 * environment.  No lock: the caller keeps running, the child is another
 * process.
 */
int crest_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
		const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	if (!keep)
		return REAL(posix_spawn)(pid, path, fa, attr, argv, envp);
	FIX_ENV(envp, env, map, maplen);
	int rc = REAL(posix_spawn)(pid, path, fa, attr, argv, env);
	env_release(map, maplen);
	return rc;
}

int crest_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
		 const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	if (!keep)
		return REAL(posix_spawnp)(pid, file, fa, attr, argv, envp);
	FIX_ENV(envp, env, map, maplen);
	int rc = REAL(posix_spawnp)(pid, file, fa, attr, argv, env);
	env_release(map, maplen);
	return rc;
}

/*
 * execl, execlp, execle: the arguments become an argv on the stack, as
 * glibc builds it; more than the kernel could take is E2BIG.  ap is
 * consumed; for execle the envp after the NULL is returned in *envp.
 */
static size_t count_args(va_list ap)
{
	size_t n = 1;
	while (va_arg(ap, char *))
		n++;
	return n;
}

static void collect_args(char **argv, const char *arg, va_list ap, char *const **envp)
{
	size_t i = 0;
	argv[i++] = (char *)arg;
	while ((argv[i] = va_arg(ap, char *)))
		i++;
	if (envp)
		*envp = va_arg(ap, char *const *);
}

static bool too_many_args(size_t argc)
{
	long max = sysconf(_SC_ARG_MAX);
	if (max > 0 && argc > (size_t)max / sizeof(char *)) {
		errno = E2BIG;
		return true;
	}
	return false;
}

#define ARGV_FROM_VA(argv, arg, envp) \
	va_list ap_, aq_; \
	va_start(ap_, arg); \
	va_copy(aq_, ap_); \
	size_t argc_ = count_args(aq_); \
	va_end(aq_); \
	if (too_many_args(argc_)) { \
		va_end(ap_); \
		return -1; \
	} \
	char **argv = alloca((argc_ + 1) * sizeof(char *)); \
	collect_args(argv, arg, ap_, envp); \
	va_end(ap_)

__attribute__((visibility("default"))) int execl(const char *path, const char *arg, ...)
{
	ARGV_FROM_VA(argv, arg, NULL);
	if (!keep)
		return REAL(execv)(path, argv);
	return do_execve(path, argv, environ);
}

__attribute__((visibility("default"))) int execlp(const char *file, const char *arg, ...)
{
	ARGV_FROM_VA(argv, arg, NULL);
	if (!keep)
		return REAL(execvp)(file, argv);
	return do_execvpe(file, argv, environ);
}

__attribute__((visibility("default"))) int execle(const char *path, const char *arg, ...)
{
	char *const *envp;
	ARGV_FROM_VA(argv, arg, &envp);
	if (!keep)
		return REAL(execve)(path, argv, envp);
	return do_execve(path, argv, envp);
}
