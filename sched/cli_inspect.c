/* SPDX-License-Identifier: MIT */
/*
 * crest inspect PATH [--json] [--quiet]
 *
 * PATH is an image (.img) or a generation directory (gen-NNNNNN, whose
 * MANIFEST lists its images).  Every checksum of every image is verified,
 * memory chunks decompressed; then the header, process, threads, regions
 * and fds are printed, as text or JSON.  Exit 0 when everything is good,
 * 1 with a message at the first damage, 2 for a usage error.
 */
#define LOG_MODULE "inspect"
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crest/crc32c.h"
#include "ckdir.h"
#include "cli.h"
#include "endpoint.h"
#include "image_read.h"

struct opts {
	int json;
	int quiet;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: crest inspect PATH [--json] [--quiet]\n"
		   "  PATH   an image file (.img) or a generation directory (gen-NNNNNN)\n"
		   "  --json print the images as JSON\n"
		   "  --quiet only verify: print nothing unless something is wrong\n"
		   "Verifies every checksum; exit 0 if all is good, 1 at the first damage.\n");
}

/* ---- output helpers: the same calls print text or JSON ---- */

/* a NUL-terminated copy of a fixed-size field that may lack the NUL */
static const char *fixstr(const char *s, size_t max, char *buf)
{
	size_t n = strnlen(s, max);
	memcpy(buf, s, n);
	buf[n] = 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	return buf;
}

static const char *kind_name(uint32_t k)
{
	static const char *n[] = { "?", "anon", "file", "shared-file", "shared-anon", "heap", "stack", "guard" };
	return k < sizeof(n) / sizeof(n[0]) ? n[k] : "?";
}

static const char *fd_kind_name(uint32_t k)
{
	static const char *n[] = { "?", "file", "dir", "dev", "stdio", "deleted", "tty", "pipe", "external",
				   [CREST_FD_EVENTFD] = "eventfd", [CREST_FD_TIMERFD] = "timerfd",
				   [CREST_FD_SIGNALFD] = "signalfd", [CREST_FD_EPOLL] = "epoll",
				   [CREST_FD_INOTIFY] = "inotify", [CREST_FD_PTY_MASTER] = "ptmx",
				   [CREST_FD_PTY_SLAVE] = "pts", [CREST_FD_SOCKET] = "socket" };
	return k < sizeof(n) / sizeof(n[0]) && n[k] ? n[k] : "?";
}

static void prot_str(const struct crest_img_region *g, char *b)
{
	b[0] = g->prot & 1 ? 'r' : '-';
	b[1] = g->prot & 2 ? 'w' : '-';
	b[2] = g->prot & 4 ? 'x' : '-';
	b[3] = g->kind == CREST_REG_FILE_SHARED || g->kind == CREST_REG_SHARED_ANON ? 's' : 'p';
	b[4] = 0;
}

static void cpu_str(const struct crest_img_cpu *c, char *buf, size_t len)
{
	static const struct { int reg; int bit; const char *name; } f[] = {
		{ 0, 26, "sse2" }, { 1, 0, "sse3" }, { 1, 9, "ssse3" }, { 1, 19, "sse4.1" }, { 1, 20, "sse4.2" },
		{ 1, 23, "popcnt" }, { 1, 25, "aes" }, { 1, 12, "fma" }, { 1, 26, "xsave" }, { 1, 28, "avx" },
		{ 1, 29, "f16c" }, { 1, 30, "rdrand" }, { 2, 3, "bmi1" }, { 2, 5, "avx2" }, { 2, 8, "bmi2" },
		{ 2, 9, "erms" }, { 2, 18, "rdseed" }, { 2, 19, "adx" }, { 2, 29, "sha" }, { 2, 16, "avx512f" },
		{ 2, 17, "avx512dq" }, { 2, 28, "avx512cd" }, { 2, 30, "avx512bw" }, { 2, 31, "avx512vl" },
		{ 3, 9, "vaes" }, { 3, 10, "vpclmulqdq" }, { 3, 11, "avx512vnni" }, { 4, 24, "amx-tile" },
	};
	uint32_t regs[5] = { c->leaf1_edx, c->leaf1_ecx, c->leaf7_ebx, c->leaf7_ecx, c->leaf7_edx };
	char vendor[13];
	size_t n;

	memcpy(vendor, c->vendor, 12);
	vendor[12] = 0;
	fixstr(vendor, 12, vendor);
	n = (size_t)snprintf(buf, len, "%s", vendor[0] ? vendor : "unknown");
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]) && n < len; i++)
		if (regs[f[i].reg] >> f[i].bit & 1)
			n += (size_t)snprintf(buf + n, len - n, " %s", f[i].name);
}

static void time_str(uint64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000ull);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "%" PRIu64 "ns", ns);
}

/* ---- one image ---- */

static void print_header(const char *path, const struct crest_img_header *h, int json)
{
	char kr[66], gl[32], when[64];

	fixstr(h->kernel_release, sizeof(h->kernel_release), kr);
	fixstr(h->glibc_version, sizeof(h->glibc_version), gl);
	time_str(h->created_ns, when, sizeof(when));
	if (json) {
		printf("{\"path\": ");
		cli_json_put(path, SIZE_MAX);
		printf(", \"version\": %u, \"arch\": \"x86_64\", \"page_size\": %u, \"kernel\": ", h->version,
		       h->page_size);
		cli_json_put(kr, sizeof(kr));
		printf(", \"glibc\": ");
		cli_json_put(gl, sizeof(gl));
		printf(", \"pid\": %u, \"nthreads\": %u, \"generation\": %" PRIu64 ", \"created\": \"%s\""
		       ", \"created_ns\": %" PRIu64 ", \"compress\": \"%s\", \"nsections\": %" PRIu64
		       ", \"file_size\": %" PRIu64 ", \"memory_bytes\": %" PRIu64,
		       h->pid, h->nthreads, h->generation, when, h->created_ns,
		       h->compress == CREST_COMP_ZSTD ? "zstd" : "none", h->nsections, h->file_size, h->memory_bytes);
		return;
	}
	printf("image %s: ok\n", path);
	printf("  version %u, x86_64, generation %" PRIu64 ", created %s\n", h->version, h->generation, when);
	printf("  pid %u, %u threads, kernel %s, glibc %s\n", h->pid, h->nthreads, kr, gl);
	printf("  compress %s, %" PRIu64 " sections, file %" PRIu64 " bytes, memory %" PRIu64 " bytes",
	       h->compress == CREST_COMP_ZSTD ? "zstd" : "none", h->nsections, h->file_size, h->memory_bytes);
	if (h->memory_bytes)
		printf(" (%.1f%% stored)", 100.0 * (double)h->file_size / (double)h->memory_bytes);
	printf("\n");
}

static void print_children(const struct crest_img_child *c, uint32_t n, int json)
{
	printf(json ? ", \"children\": [" : "children\n");
	for (uint32_t i = 0; i < n; i++) {
		if (json)
			printf("%s{\"pid\": %u, \"zombie\": %u, \"code\": %d, \"status\": %d}", i ? ", " : "",
			       c[i].pid, c[i].zombie, c[i].code, c[i].status);
		else if (c[i].zombie)
			printf("  %u zombie (%s %d)\n", c[i].pid, c[i].code == 1 ? "exit status" : "signal",
			       c[i].status);
		else
			printf("  %u\n", c[i].pid);
	}
	if (json)
		printf("]");
}

static void print_sockets(const struct crest_img_socket *k, uint32_t n, int json)
{
	static const char *const states[] = { "unconnected", "listening", "connected", "waiting to be accepted" };
	printf(json ? ", \"sockets\": [" : "sockets\n");
	for (uint32_t i = 0; i < n; i++) {
		const char *st = k[i].state < 4 ? states[k[i].state] : "?";
		if (json)
			printf("%s{\"fd_index\": %u, \"domain\": %d, \"type\": %d, \"state\": \"%s\", \"ino\": %" PRIu64
			       ", \"peer_ino\": %" PRIu64 ", \"queued\": %u, \"messages\": %u}", i ? ", " : "",
			       k[i].fd_index, k[i].domain, k[i].type, st, k[i].ino, k[i].peer_ino, k[i].queued, k[i].nmsgs);
		else if (crest_sock_is_tcp(&k[i]) || crest_sock_is_udp(&k[i])) {
			char local[CREST_EP_KEY_MAX] = "?", peer[CREST_EP_KEY_MAX] = "-";
			crest_ep_key(k[i].local, k[i].local_len, 0, local, sizeof(local));
			if (k[i].peer_len)
				crest_ep_key(k[i].peer, k[i].peer_len, 0, peer, sizeof(peer));
			if (crest_sock_is_tcp(&k[i]))
				printf("  fd record %u: TCP %s, local %s, peer %s, %u bytes waiting\n", k[i].fd_index, st,
				       local, peer, k[i].queued);
			else
				printf("  fd record %u: UDP %s, local %s, peer %s (datagrams waiting are not saved)\n",
				       k[i].fd_index, st, local, peer);
		} else
			printf("  fd record %u: family %d type %d %s, inode %" PRIu64 ", peer %" PRIu64
			       ", %u bytes waiting (%u messages)\n", k[i].fd_index, k[i].domain, k[i].type, st, k[i].ino,
			       k[i].peer_ino, k[i].queued, k[i].nmsgs);
	}
	if (json)
		printf("]");
}

static void print_process(const struct crest_img_process *p, int json)
{
	char exe[CREST_IMG_PATH_MAX + 1], cwd[CREST_FD_PATH_MAX + 1], cpu[512];

	fixstr(p->exe, sizeof(p->exe), exe);
	fixstr(p->cwd, sizeof(p->cwd), cwd);
	cpu_str(&p->cpu, cpu, sizeof(cpu));
	if (json) {
		printf(", \"process\": {\"exe\": ");
		cli_json_put(exe, SIZE_MAX);
		printf(", \"cwd\": ");
		cli_json_put(cwd, SIZE_MAX);
		printf(", \"pid\": %u, \"ppid\": %u, \"uid\": %u, \"gid\": %u, \"umask\": %u"
		       ", \"start_brk\": %" PRIu64 ", \"brk\": %" PRIu64 ", \"start_stack\": %" PRIu64
		       ", \"vvar\": [%" PRIu64 ", %" PRIu64 "], \"vclock\": [%" PRIu64 ", %" PRIu64 "]"
		       ", \"vdso\": [%" PRIu64 ", %" PRIu64 "], \"cpu\": \"%s\", \"xsave_size\": %u, \"xcr0\": %" PRIu64
		       ", \"nregions\": %" PRIu64 ", \"nfds\": %" PRIu64 ", \"real_pid\": %u, \"pgid\": %u"
		       ", \"sid\": %u, \"root_pid\": %u, \"nchildren\": %u}",
		       p->pid, p->ppid, p->uid, p->gid, p->umask, p->start_brk, p->brk, p->start_stack,
		       p->vvar_start, p->vvar_size, p->vclock_start, p->vclock_size, p->vdso_start, p->vdso_size,
		       cpu, p->cpu.xsave_size, p->cpu.xcr0, p->nregions, p->nfds, p->real_pid, p->pgid, p->sid,
		       p->root_pid, p->nchildren);
		return;
	}
	printf("process\n");
	printf("  exe %s\n  cwd %s\n", exe, cwd);
	printf("  pid %u, ppid %u, uid %u, gid %u, umask %03o\n", p->pid, p->ppid, p->uid, p->gid, p->umask);
	printf("  pgid %u, sid %u, root %u, pid in the kernel %u, %u children\n", p->pgid, p->sid, p->root_pid,
	       p->real_pid, p->nchildren);
	printf("  code 0x%" PRIx64 "-0x%" PRIx64 ", data 0x%" PRIx64 "-0x%" PRIx64 ", brk 0x%" PRIx64
	       "-0x%" PRIx64 ", stack 0x%" PRIx64 "\n", p->start_code, p->end_code, p->start_data, p->end_data,
	       p->start_brk, p->brk, p->start_stack);
	printf("  vvar 0x%" PRIx64 "+0x%" PRIx64 ", vclock 0x%" PRIx64 "+0x%" PRIx64 ", vdso 0x%" PRIx64
	       "+0x%" PRIx64 "\n", p->vvar_start, p->vvar_size, p->vclock_start, p->vclock_size, p->vdso_start,
	       p->vdso_size);
	printf("  cpu %s\n  xsave %u bytes, xcr0 0x%" PRIx64 "\n", cpu, p->cpu.xsave_size, p->cpu.xcr0);
}

static void print_threads(const struct crest_img_thread *t, uint32_t n, int json)
{
	char name[17];

	printf(json ? ", \"threads\": [" : "threads (%u)\n", n);
	for (uint32_t i = 0; i < n; i++) {
		fixstr(t[i].name, sizeof(t[i].name), name);
		if (json) {
			printf("%s{\"tid\": %u, \"main\": %s, \"ckpt\": %s, \"fs_base\": %" PRIu64 ", \"name\": ",
			       i ? ", " : "", t[i].tid, t[i].flags & CREST_THR_MAIN ? "true" : "false",
			       t[i].flags & CREST_THR_CKPT ? "true" : "false", t[i].fs_base);
			cli_json_put(name, sizeof(name));
			printf(", \"sigmask\": %" PRIu64 "}", t[i].sigmask);
			continue;
		}
		printf("  tid %-7u %-9s fs_base 0x%012" PRIx64 " sigmask 0x%016" PRIx64 " %s\n", t[i].tid,
		       t[i].flags & CREST_THR_MAIN ? "main" : t[i].flags & CREST_THR_CKPT ? "ckpt" : "-",
		       t[i].fs_base, t[i].sigmask, name);
	}
	if (json)
		printf("]");
}

static void print_regions(const struct crest_img_region *g, uint32_t n, int json)
{
	char path[CREST_IMG_PATH_MAX + 1], prot[5];

	printf(json ? ", \"regions\": [" : "regions (%u)\n", n);
	for (uint32_t i = 0; i < n; i++) {
		fixstr(g[i].path, sizeof(g[i].path), path);
		prot_str(&g[i], prot);
		if (json) {
			printf("%s{\"start\": %" PRIu64 ", \"end\": %" PRIu64 ", \"prot\": \"%s\", \"kind\": \"%s\""
			       ", \"saved_bytes\": %" PRIu64 ", \"path\": ", i ? ", " : "", g[i].start, g[i].end, prot,
			       kind_name(g[i].kind), g[i].saved_bytes);
			cli_json_put(path, SIZE_MAX);
			printf("}");
			continue;
		}
		printf("  %012" PRIx64 "-%012" PRIx64 " %s %-11s saved %10" PRIu64 " %s%s\n", g[i].start, g[i].end,
		       prot, kind_name(g[i].kind), g[i].saved_bytes, path,
		       g[i].flags & CREST_REGF_DELETED ? " (deleted)" : "");
	}
	if (json)
		printf("]");
}

static void print_fds(const struct crest_img_fd *f, uint32_t n, int json)
{
	char path[CREST_FD_PATH_MAX + 1];

	printf(json ? ", \"fds\": [" : "fds (%u)\n", n);
	for (uint32_t i = 0; i < n; i++) {
		fixstr(f[i].path, sizeof(f[i].path), path);
		if (json) {
			printf("%s{\"fd\": %d, \"kind\": \"%s\", \"flags\": %u, \"cloexec\": %s, \"pos\": %" PRIu64
			       ", \"content_saved\": %s, \"path\": ", i ? ", " : "", f[i].fd, fd_kind_name(f[i].kind),
			       f[i].flags, f[i].fd_flags & FD_CLOEXEC ? "true" : "false", f[i].pos,
			       f[i].content_saved ? "true" : "false");
			cli_json_put(path, SIZE_MAX);
			if (CREST_FD_SAME_AS(&f[i]) >= 0)
				printf(", \"same_description_as\": %d", CREST_FD_SAME_AS(&f[i]));
			if (CREST_FD_PARENT_FD(&f[i]) >= 0)
				printf(", \"same_description_as_parent\": %d", CREST_FD_PARENT_FD(&f[i]));
			printf("}");
			continue;
		}
		bool pty = f[i].kind == CREST_FD_PTY_MASTER || f[i].kind == CREST_FD_PTY_SLAVE;
		printf("  %4d %-7s flags 0%o%s %s %" PRIu64 " %s%s", f[i].fd, fd_kind_name(f[i].kind), f[i].flags,
		       f[i].fd_flags & FD_CLOEXEC ? " cloexec" : "", pty ? "pty" : "pos", f[i].pos, path,
		       f[i].content_saved ? " (content saved)" : "");
		if (CREST_FD_SAME_AS(&f[i]) >= 0)
			printf(" (one description with fd %d)", CREST_FD_SAME_AS(&f[i]));
		if (CREST_FD_PARENT_FD(&f[i]) >= 0)
			printf(" (one description with the parent's fd %d)", CREST_FD_PARENT_FD(&f[i]));
		printf("\n");
	}
	if (json)
		printf("]");
}

/* Verify all of path, then print it.  0 or 1 (message printed). */
static int inspect_image(const char *path, const struct opts *o, int first)
{
	struct crest_ir r;
	struct crest_sec_hdr sh;
	uint64_t off, nfiledata = 0, nmodules = 0;
	char err[1024];
	void *buf = NULL;
	int rc;

	rc = crest_ir_verify_all(path, NULL, 0, err, sizeof(err));
	if (rc) {
		fflush(stdout);
		fprintf(stderr, "crest: inspect: %s\n", err);
		return 1;
	}
	if (o->quiet)
		return 0;
	rc = crest_ir_open(&r, path, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "crest: inspect: %s\n", err);
		return 1;
	}
	if (o->json && !first)
		printf(",\n");
	print_header(path, &r.hdr, o->json);
	while ((rc = crest_ir_next(&r, &sh, &off, err, sizeof(err))) == 1) {
		if (sh.type == CREST_SEC_FILEDATA)
			nfiledata++;
		if (sh.type == CREST_SEC_MODULE)
			nmodules++;
		if (sh.type == CREST_SEC_MEMORY || sh.type == CREST_SEC_FILEDATA || sh.type == CREST_SEC_MODULE)
			continue;
		free(buf);
		buf = malloc(sh.raw_length ? sh.raw_length : 1);
		if (!buf) {
			snprintf(err, sizeof(err), "image %s: out of memory", path);
			rc = -ENOMEM;
			break;
		}
		rc = crest_ir_read_payload(&r, &sh, off, buf, sh.raw_length, err, sizeof(err));
		if (rc)
			break;
		if (sh.type == CREST_SEC_PROCESS)
			print_process(buf, o->json);
		else if (sh.type == CREST_SEC_THREADS)
			print_threads(buf, sh.count, o->json);
		else if (sh.type == CREST_SEC_REGIONS)
			print_regions(buf, sh.count, o->json);
		else if (sh.type == CREST_SEC_FDS)
			print_fds(buf, sh.count, o->json);
		else if (sh.type == CREST_SEC_CHILDREN)
			print_children(buf, sh.count, o->json);
		else if (sh.type == CREST_SEC_SOCKETS)
			print_sockets(buf, sh.count, o->json);
	}
	if (o->json)
		printf(", \"memory_chunks\": %" PRIu64 ", \"filedata\": %" PRIu64 ", \"modules\": %" PRIu64 "}",
		       r.memno, nfiledata, nmodules);
	else
		printf("memory chunks %" PRIu64 ", file data sections %" PRIu64 ", module sections %" PRIu64 "\n",
		       r.memno, nfiledata, nmodules);
	free(buf);
	crest_ir_close(&r);
	if (rc < 0) {	/* the file changed between the two passes */
		fflush(stdout);
		fprintf(stderr, "crest: inspect: %s\n", err);
		return 1;
	}
	return 0;
}

/* Does the header of image path match the size and crc the MANIFEST lists? */
static int check_listed(const char *path, const char *shown, const struct ckdir_image *im)
{
	struct crest_img_header h;
	struct stat st;
	int fd, rc = 1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "crest: inspect: image %s listed in MANIFEST: %s; the generation is damaged, restart from an older one\n",
			shown, strerror(errno));
		return 1;
	}
	if (fstat(fd, &st) || (uint64_t)st.st_size != im->size) {
		fprintf(stderr, "crest: inspect: image %s is %lld bytes, MANIFEST says %" PRIu64
			"; the generation is damaged, restart from an older one\n", shown, (long long)st.st_size, im->size);
		goto out;
	}
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		fprintf(stderr, "crest: inspect: image %s: cannot read its header\n", shown);
		goto out;
	}
	/* "crc32c of the image header": the header's own crc field, or the crc of its bytes */
	if (im->crc != h.crc && im->crc != crc32c(0, &h, sizeof(h))) {
		fprintf(stderr, "crest: inspect: image %s: header crc %08x, MANIFEST says %08x: not the image this generation wrote; restart from an older generation\n",
			shown, h.crc, im->crc);
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

static int inspect_gen(const char *dir, const struct opts *o)
{
	struct ckdir_manifest m;
	char path[CKDIR_PATH_MAX + 600], shown[CKDIR_PATH_MAX + 600], *text = NULL, *tmp, *name;
	size_t len = 0, cap = 0;
	int fd, rc = 1;
	ssize_t n;

	tmp = strdup(dir);
	if (!tmp) {
		fprintf(stderr, "crest: inspect: out of memory\n");
		return 1;
	}
	for (size_t l = strlen(tmp); l > 1 && tmp[l - 1] == '/'; l--)
		tmp[l - 1] = 0;
	name = basename(tmp);
	snprintf(path, sizeof(path), "%s/MANIFEST", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			fprintf(stderr, "crest: inspect: %s has no MANIFEST: it is incomplete and will never be used for restart\n",
				name);
		else
			fprintf(stderr, "crest: inspect: %s: %s\n", path, strerror(errno));
		goto out;
	}
	for (;;) {
		if (len == cap) {
			char *p = cap < (64u << 20) ? realloc(text, cap ? 2 * cap : 65536) : NULL;
			if (!p) {
				fprintf(stderr, "crest: inspect: %s is too large\n", path);
				goto out_close;
			}
			text = p;
			cap = cap ? 2 * cap : 65536;
		}
		n = read(fd, text + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "crest: inspect: reading %s: %s\n", path, strerror(errno));
			goto out_close;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (ckdir_manifest_parse(text, len, &m)) {
		fprintf(stderr, "crest: inspect: %s is malformed: %s will not be used for restart\n", path, name);
		goto out_close;
	}
	if (o->json)
		printf("{\"generation\": %" PRIu64 ", \"created\": %" PRId64 ", \"hostname\": ", m.generation, m.created);
	else if (!o->quiet)
		printf("generation %" PRIu64 " (%s), %zu images, host %s\n\n", m.generation, name, m.nimages,
		       m.hostname);
	if (o->json) {
		cli_json_put(m.hostname, sizeof(m.hostname));
		printf(", \"ended\": [");
	}
	/* the Slurm tasks that had ended (no image: a restart ends them again) */
	for (size_t i = 0; i < m.nended; i++) {
		char how[32];
		ckdir_status_text(m.ended[i].status, how, sizeof(how));
		if (o->json)
			printf("%s{\"node\": %" PRIu32 ", \"rank\": %" PRIu32 ", \"how\": \"%s\"}", i ? ", " : "",
			       m.ended[i].node, m.ended[i].rank, how);
		else if (!o->quiet)
			printf("task %" PRIu32 " of node %" PRIu32 ": had ended (%s), no image%s", m.ended[i].rank,
			       m.ended[i].node, how, i + 1 < m.nended ? "\n" : "\n\n");
	}
	if (o->json)
		printf("], \"images\": [\n");
	rc = 0;
	for (size_t i = 0; i < m.nimages && !rc; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, m.images[i].path);
		snprintf(shown, sizeof(shown), "%s/%s", name, m.images[i].path);
		rc = check_listed(path, shown, &m.images[i]);
		if (!rc)
			rc = inspect_image(path, o, i == 0);
		if (!rc && !o->json && !o->quiet && i + 1 < m.nimages)
			printf("\n");
	}
	if (o->json)
		printf("]}\n");
	ckdir_manifest_free(&m);
out_close:
	close(fd);
out:
	free(text);
	free(tmp);
	return rc;
}

int cmd_inspect(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { 0, 0 };
	struct stat st;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jqh", lo, NULL)) != -1) {
		switch (c) {
		case 'j':
			o.json = 1;
			break;
		case 'q':
			o.quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (o.quiet)
		o.json = 0;
	if (optind + 1 != argc) {
		fprintf(stderr, "crest: inspect: %s\n", optind == argc ? "which image or generation? give a PATH" :
			"give one PATH only");
		usage(stderr);
		return 2;
	}
	if (stat(argv[optind], &st)) {
		fprintf(stderr, "crest: inspect: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	if (S_ISDIR(st.st_mode))
		return inspect_gen(argv[optind], &o);
	rc = inspect_image(argv[optind], &o, 1);
	if (o.json && !rc && !o.quiet)
		printf("\n");
	return rc;
}
