/* SPDX-License-Identifier: MIT */
/* RUNDIR/RESPAWN: written by a coordinator, read by libcrest (respawn.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckdir.h"
#include "respawn.h"

#define HEADER "crest-respawn 1\n"

static int path_of(char *out, size_t size, const char *rundir)
{
	int n = snprintf(out, size, "%s/RESPAWN", rundir);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int put(char *buf, size_t *used, const char *kind, const char *value)
{
	size_t k = strlen(kind), v = strlen(value);

	if (*used + k + v + 1 > CREST_RESPAWN_MAX)
		return -E2BIG;
	memcpy(buf + *used, kind, k);
	memcpy(buf + *used + k, value, v + 1);	/* with its NUL */
	*used += k + v + 1;
	return 0;
}

int crest_respawn_write(const char *rundir, pid_t pid, const char *cwd, char *const argv[], char *const envp[])
{
	char path[CKDIR_PATH_MAX + 16];
	size_t used;
	int rc, n;

	if (!argv[0] || argv[0][0] != '/')
		return -EINVAL;	/* found again from any cwd */
	if ((rc = path_of(path, sizeof(path), rundir)))
		return rc;
	char *buf = malloc(CREST_RESPAWN_MAX);
	if (!buf)
		return -ENOMEM;
	n = snprintf(buf, CREST_RESPAWN_MAX, HEADER "pid %d\n", (int)pid);
	used = (size_t)n;
	rc = put(buf, &used, "cwd=", cwd);
	for (int i = 0; !rc && argv[i]; i++)
		rc = i < CREST_RESPAWN_ARGS ? put(buf, &used, "arg=", argv[i]) : -E2BIG;
	for (int i = 0, kept = 0; !rc && envp[i]; i++) {
		if (!strncmp(envp[i], "CREST_FAULT", 11))
			continue;
		rc = kept++ < CREST_RESPAWN_ENVS ? put(buf, &used, "env=", envp[i]) : -E2BIG;
	}
	if (!rc)
		rc = ckdir_write_replace(path, buf, used, 0600);	/* of no use after a crash of the node */
	free(buf);
	return rc;
}

struct crest_respawn *crest_respawn_parse(const char *buf, size_t len)
{
	struct crest_respawn *r;
	size_t hl = strlen(HEADER);
	int nargs = 0, nenv = 0;
	long pid;
	char *p, *end, *e;

	if (len < hl || len > CREST_RESPAWN_MAX || memcmp(buf, HEADER, hl))
		goto bad_nofree;
	r = calloc(1, sizeof(*r) + len + 1);
	if (!r)
		return NULL;
	memcpy(r->text, buf, len);
	r->text[len] = 0;
	p = r->text + hl;
	end = r->text + len;
	if (strncmp(p, "pid ", 4))
		goto bad;
	errno = 0;
	pid = strtol(p + 4, &e, 10);
	if (errno || e == p + 4 || *e != '\n' || pid <= 0 || pid > 0x7fffffff)
		goto bad;
	r->pid = (pid_t)pid;
	p = e + 1;
	if (end[-1] != 0)
		goto bad;	/* the last item ends with its NUL */
	for (; p < end; p += strlen(p) + 1) {
		if (!strncmp(p, "cwd=", 4) && !r->cwd)
			r->cwd = p + 4;
		else if (!strncmp(p, "arg=", 4) && nargs < CREST_RESPAWN_ARGS)
			r->argv[nargs++] = p + 4;
		else if (!strncmp(p, "env=", 4) && nenv < CREST_RESPAWN_ENVS && strchr(p + 4, '='))
			r->envp[nenv++] = p + 4;
		else
			goto bad;
	}
	if (!r->cwd || r->cwd[0] != '/' || !nargs || r->argv[0][0] != '/')
		goto bad;
	return r;
bad:
	free(r);
bad_nofree:
	errno = EBADMSG;
	return NULL;
}

void crest_respawn_cancel(const char *rundir)
{
	char path[CKDIR_PATH_MAX + 16];
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	if (path_of(path, sizeof(path), rundir))
		return;
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	for (int i = 0; i < 100 && fcntl(fd, F_SETLK, &fl) && (errno == EAGAIN || errno == EACCES); i++)
		usleep(100000);	/* a respawn holds it until its coordinator serves: 5 s at most */
	unlink(path);
	close(fd);
}

void crest_respawn_remove(const char *rundir, pid_t pid)
{
	char path[CKDIR_PATH_MAX + 16], head[64];
	int fd;
	ssize_t n;

	if (path_of(path, sizeof(path), rundir))
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	do
		n = read(fd, head, sizeof(head) - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return;
	head[n] = 0;
	char want[48];
	snprintf(want, sizeof(want), HEADER "pid %d\n", (int)pid);
	if (!strncmp(head, want, strlen(want)))
		unlink(path);	/* not a newer coordinator's */
}
