/* SPDX-License-Identifier: MIT */
/*
 * The process tree as this process sees it: its children (of every thread:
 * each thread's children are listed in its own /proc/self/task/T/children),
 * which of them are zombies and their exit status, and its own place
 * (parent, process group, session) in the application's pids.
 */
#define LOG_MODULE "tree"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckdir.h"
#include "crest.h"
#include "log.h"
#include "vpid.h"

static void add_children(const char *task, struct crest_child *out, uint32_t max, uint32_t *n)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/self/task/%s/children", task);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return;
	buf[len] = 0;
	for (char *p = buf; *p;) {
		char *end;
		long pid = strtol(p, &end, 10);
		if (end == p)
			break;
		p = end;
		while (*p == ' ')
			p++;
		if (*n >= max) {
			(*n)++;	/* counted: the caller reports the overflow */
			continue;
		}
		struct crest_child *c = &out[(*n)++];
		memset(c, 0, sizeof(*c));
		c->pid = (pid_t)pid;
		char st = ckdir_proc_state(c->pid, NULL, 0);
		if (st == 'Z') {
			siginfo_t si;
			memset(&si, 0, sizeof(si));
			if (!syscall(SYS_waitid, P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT, NULL) && si.si_pid) {
				c->zombie = true;
				c->code = si.si_code;
				c->status = si.si_status;
			}
		}
	}
}

int crest_children(struct crest_child *out, uint32_t max)
{
	char buf[4096];
	uint32_t n = 0;
	int dfd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	for (;;) {
		long len = syscall(SYS_getdents64, dfd, buf, sizeof(buf));
		if (len <= 0)
			break;
		for (long off = 0; off < len;) {
			struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; }
				*d = (void *)(buf + off);
			off += d->reclen;
			if (d->name[0] >= '0' && d->name[0] <= '9')
				add_children(d->name, out, max, &n);
		}
	}
	close(dfd);
	return n > max ? -E2BIG : (int)n;
}

void crest_tree_fill(struct crest_img_process *p)
{
	pid_t pid = (pid_t)syscall(SYS_getpid);
	p->real_pid = (uint32_t)pid;
	p->pid = (uint32_t)crest_real_to_vpid(pid);
	p->ppid = (uint32_t)crest_real_to_vpid((pid_t)syscall(SYS_getppid));
	p->pgid = (uint32_t)crest_real_to_vpid((pid_t)syscall(SYS_getpgid, 0));
	p->sid = (uint32_t)crest_real_to_vpid((pid_t)syscall(SYS_getsid, 0));
	p->root_pid = (uint32_t)crest.root_vpid;
	p->task = crest.task;
}
