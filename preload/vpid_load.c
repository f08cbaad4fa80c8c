/* SPDX-License-Identifier: MIT */
/*
 * Where the virtual pid table comes from: at a restart, the memfd that
 * `crest restart` filled while it forked the tree (include/crest/restart.h);
 * in a program exec'ed later by a restarted process, DIR/VPIDS, which every
 * restored process writes before its threads run again.  A computation that
 * was never restarted has neither: every pid is its own virtual pid.
 */
#define LOG_MODULE "vpid"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ckdir.h"
#include "crest.h"
#include "crest/restart.h"
#include "log.h"
#include "vpid.h"

#define VPIDS_WAIT_MS 60000

static int add_pairs(const struct crest_vpid_pair *e, uint32_t n)
{
	crest_vpid_reset();
	for (uint32_t i = 0; i < n; i++) {
		if (e[i].virt == e[i].real)
			continue;	/* identity: nothing to translate */
		int rc = crest_vpid_add(e[i].virt, e[i].real);
		if (rc)
			return rc;
	}
	return 0;
}

/* The restored process's own threads: old (virtual) tid -> new tid. */
static void add_threads(void)
{
	for (uint32_t i = 0; i < crest.nthreads; i++) {
		const struct crest_thread *t = &crest.threads[i];
		if ((t->flags & (CREST_THR_DEAD | CREST_THR_MAIN | CREST_THR_CKPT)) || !t->vtid ||
		    t->vtid == t->tid)
			continue;
		if (crest_vpid_add((pid_t)t->vtid, (pid_t)t->tid))
			pr_warn("thread %u (now %u) keeps its new tid: the pid table is full or has it",
				t->vtid, t->tid);
	}
}

static void save_file(const struct crest_vpids_hdr *h, size_t len)
{
	char path[sizeof(crest.dir) + 32], tmp[sizeof(crest.dir) + 64];
	ckdir_tree_file(path, sizeof(path), crest.dir, "VPIDS", crest.task);
	snprintf(tmp, sizeof(tmp), "%s/.VPIDS.%d", crest.dir, (int)crest.pid);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	ssize_t n = write(fd, h, len);
	close(fd);
	if (n != (ssize_t)len || rename(tmp, path) < 0) {
		unlink(tmp);
		goto fail;
	}
	return;
fail:
	pr_warn("cannot write %s (%s): programs this process execs will see their new pids",
		path, strerrordesc_np(errno));
}

int crest_vpid_load_restart(int fd)
{
	struct stat st;
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof(struct crest_vpids_hdr)) {
		pr_err("restart: the pid table (fd %d) is unusable; the application sees new pids", fd);
		close(fd);
		return -EINVAL;
	}
	size_t len = st.st_size;
	struct crest_vpids_hdr *h = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (h == MAP_FAILED)
		return -errno;
	int rc = 0;
	if (h->magic != CREST_VPIDS_MAGIC ||
	    sizeof(*h) + (size_t)h->n * sizeof(struct crest_vpid_pair) > len) {
		pr_err("restart: the pid table is damaged; the application sees new pids");
		rc = -EBADMSG;
		goto out;
	}
	/* the tree is still being forked: wait until every pid is known */
	for (int waited = 0; __atomic_load_n(&h->filled, __ATOMIC_ACQUIRE) < h->n; waited++) {
		if (waited >= VPIDS_WAIT_MS) {
			pr_err("restart: only %u of %u processes of the tree started within %d s",
			       h->filled, h->n, VPIDS_WAIT_MS / 1000);
			rc = -ETIMEDOUT;
			goto out;
		}
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	rc = add_pairs((const struct crest_vpid_pair *)(h + 1), h->n);
	if (rc)
		pr_err("restart: the pid table does not fit (%s)", strerrordesc_np(-rc));
	add_threads();
	save_file(h, sizeof(*h) + (size_t)h->n * sizeof(struct crest_vpid_pair));
out:
	munmap(h, len);
	return rc;
}

int crest_vpid_load_file(void)
{
	static struct {
		struct crest_vpids_hdr h;
		struct crest_vpid_pair e[CREST_VPID_MAX];
	} buf;
	char path[sizeof(crest.dir) + 32];
	ckdir_tree_file(path, sizeof(path), crest.dir, "VPIDS", crest.task);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;	/* never restarted */
	ssize_t n = read(fd, &buf, sizeof(buf));
	close(fd);
	if (n < (ssize_t)sizeof(buf.h) || buf.h.magic != CREST_VPIDS_MAGIC || buf.h.n > CREST_VPID_MAX ||
	    (size_t)n < sizeof(buf.h) + buf.h.n * sizeof(buf.e[0])) {
		pr_warn("%s is damaged; this program sees real pids", path);
		return -EBADMSG;
	}
	return add_pairs(buf.e, buf.h.n);
}
