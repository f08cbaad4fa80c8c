/* SPDX-License-Identifier: MIT */
/*
 * Hostname virtualization: a computation keeps seeing the hostname it
 * started on, also after a restart on another host.
 *
 * The first process of a computation (no CREST_HOSTNAME in its
 * environment) records uname's nodename in CREST_HOSTNAME; children
 * inherit it, and exec'ed programs get it back from the exec wrappers even
 * if the program cleared its environment.  Every process copies it into a
 * static buffer at load (crest_uts_init).  The buffer lives in libcrest's
 * .bss and comes back with the memory image at a restart: a restored
 * process keeps the old name without reading anything.  A CREST_HOSTNAME
 * set before `crest launch` is used as it is.
 *
 * Wrapped: uname (nodename replaced, every other field real),
 * gethostname and __gethostname_chk (what gethostname becomes under
 * _FORTIFY_SOURCE; glibc's own gethostname calls its internal __uname,
 * which no wrapper of ours sees, so both are wrapped).  sethostname goes
 * to the kernel; when the kernel accepts it, the virtual name and
 * CREST_HOSTNAME become the new name, so a privileged program that sets
 * its hostname reads back its own value.
 *
 * Not covered: /proc/sys/kernel/hostname, a raw uname(2) system call
 * (static programs, Go), gethostid (glibc resolves the real name
 * internally when there is no /etc/hostid), and sethostname's new name in
 * programs later exec'ed with an environment of their own making (they get
 * the CREST_HOSTNAME libcrest remembered at load).
 *
 * Without CREST_DIR (libcrest inactive) everything passes through.
 */
#undef _FORTIFY_SOURCE			/* we define gethostname ourselves */
#define LOG_MODULE "uts"
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "crest.h"
#include "log.h"

#define EXPORT __attribute__((visibility("default")))
#define HOSTNAME_ENV "CREST_HOSTNAME"

/* glibc exports it; its prototype is only visible under _FORTIFY_SOURCE */
int __gethostname_chk(char *buf, size_t buflen, size_t nreal);

/* .bss: restored with the memory image at a restart */
static bool virt;			/* crest_uts_init ran: report host[] */
static char host[sizeof(((struct utsname *)0)->nodename)];

#define REAL_DECL(name) static __typeof__(name) *real_##name
#define REAL(name) ({ \
	if (__builtin_expect(!real_##name, 0)) \
		real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name); \
	real_##name; })

REAL_DECL(uname);
REAL_DECL(gethostname);
REAL_DECL(__gethostname_chk);
REAL_DECL(sethostname);

void crest_uts_init(void)
{
	const char *name = crest_getenv(HOSTNAME_ENV);
	struct utsname u;

	REAL(uname);
	REAL(gethostname);
	REAL(__gethostname_chk);
	REAL(sethostname);
	if (!name || !*name) {
		if (!real_uname || real_uname(&u) < 0) {
			pr_perror("uname; the hostname will not be kept across a restart");
			return;
		}
		if (setenv(HOSTNAME_ENV, u.nodename, 1) < 0) {
			pr_perror("setenv %s=%s; the hostname will not be kept across a restart",
				  HOSTNAME_ENV, u.nodename);
			return;
		}
		name = u.nodename;
	}
	if (strlen(name) >= sizeof(host))
		pr_warn("%s=%s is longer than %zu bytes; using its first %zu", HOSTNAME_ENV, name,
			sizeof(host) - 1, sizeof(host) - 1);
	memcpy(host, name, strnlen(name, sizeof(host) - 1));
	host[sizeof(host) - 1] = '\0';
	virt = true;
}

EXPORT int uname(struct utsname *buf)
{
	if (!REAL(uname)) {
		errno = ENOSYS;
		return -1;
	}
	int rc = real_uname(buf);
	if (rc == 0 && virt)
		memcpy(buf->nodename, host, sizeof(buf->nodename));
	return rc;
}

/* glibc's semantics: copy what fits; ENAMETOOLONG if the name and its NUL
 * do not */
EXPORT int gethostname(char *name, size_t len)
{
	if (!virt) {
		if (!REAL(gethostname)) {
			errno = ENOSYS;
			return -1;
		}
		return real_gethostname(name, len);
	}
	size_t need = strlen(host) + 1;
	memcpy(name, host, len < need ? len : need);
	if (len < need) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

EXPORT int __gethostname_chk(char *buf, size_t buflen, size_t nreal)
{
	/* the real one aborts on an overflow, or answers from the kernel */
	if (!virt || buflen > nreal) {
		if (!REAL(__gethostname_chk)) {
			errno = ENOSYS;
			return -1;
		}
		return real___gethostname_chk(buf, buflen, nreal);
	}
	return gethostname(buf, buflen);
}

EXPORT int sethostname(const char *name, size_t len)
{
	if (!REAL(sethostname)) {
		errno = ENOSYS;
		return -1;
	}
	int rc = real_sethostname(name, len);
	if (rc < 0 || !virt)
		return rc;
	/* the kernel accepted it: len < sizeof(host) */
	int saved = errno;
	size_t n = strnlen(name, len);
	memcpy(host, name, n);
	host[n] = '\0';
	if (setenv(HOSTNAME_ENV, host, 1) < 0)
		pr_perror("setenv %s=%s; programs this process execs will report the old "
			  "hostname", HOSTNAME_ENV, host);
	errno = saved;
	return 0;
}
