/* SPDX-License-Identifier: MIT */
/*
 * Checkpoint directory: generations, MANIFEST, latest, COORD, PROCS.
 * The layout is a contract with libcrest, crest-restart and crest inspect:
 * see docs/protocol.md, "Directory layout".
 */
#define LOG_MODULE "ckdir"
#include <dirent.h>
#include <errno.h>
#include <sys/random.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckdir.h"
#include "fd_own.h"
#include "log.h"
#include "proto.h"

#define GEN_PREFIX "gen-"

static int join(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

int ckdir_check(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0) {
		int rc = -errno;
		pr_perror("checkpoint directory %s", dir);
		return rc;
	}
	if (!S_ISDIR(st.st_mode)) {
		pr_err("%s is not a directory; give a directory for the checkpoints with --dir", dir);
		return -ENOTDIR;
	}
	if (st.st_uid != getuid()) {
		pr_err("checkpoint directory %s is owned by uid %u, not by you (uid %u); use a directory of your own with --dir",
		       dir, (unsigned)st.st_uid, (unsigned)getuid());
		return -EPERM;
	}
	return 0;
}

int ckdir_make(const char *dir)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		int rc = -errno;
		pr_perror("cannot create checkpoint directory %s", dir);
		return rc;
	}
	return ckdir_check(dir);
}

int ckdir_node_dir(const char *dir, uint32_t node, char *buf, size_t size)
{
	int n, rc;

	if (!node) {
		n = snprintf(buf, size, "%s", dir);
		return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
	}
	n = snprintf(buf, size, "%s/nodes", dir);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	rc = ckdir_make(buf);
	if (rc)
		return rc;
	n = snprintf(buf, size, "%s/nodes/n%u", dir, node);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return ckdir_make(buf);
}

int ckdir_base_expand(const char *tmpl, const char *user, const char *home, char *out, size_t size)
{
	size_t o = 0;

	if (!size)
		return -ENAMETOOLONG;
	for (const char *p = tmpl; *p; p++) {
		char one[2] = { *p, 0 };
		const char *add = one;

		if (p[0] == '%' && (p[1] == 'u' || p[1] == 'h' || p[1] == '%')) {
			add = p[1] == 'u' ? user : p[1] == 'h' ? home : "%";
			p++;
		}
		size_t l = strlen(add);
		if (o + l >= size)
			return -ENAMETOOLONG;
		memcpy(out + o, add, l);
		o += l;
	}
	out[o] = 0;
	return 0;
}

int ckdir_gen_path(char *buf, size_t size, const char *dir, uint64_t gen)
{
	int n = snprintf(buf, size, "%s/" GEN_PREFIX "%06" PRIu64, dir, gen);

	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

bool ckdir_parse_gen_name(const char *name, uint64_t *gen)
{
	const char *p = name + strlen(GEN_PREFIX);
	uint64_t v = 0;

	if (strncmp(name, GEN_PREFIX, strlen(GEN_PREFIX)) || strlen(p) < 6)
		return false;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*gen = v;
	return v > 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int ckdir_list_gens(const char *dir, uint64_t **gens, size_t *n)
{
	uint64_t *v = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	int rc = 0;
	DIR *d;

	*gens = NULL;
	*n = 0;
	d = opendir(dir);
	if (!d) {
		rc = -errno;
		pr_perror("cannot read checkpoint directory %s", dir);
		return rc;
	}
	while ((de = readdir(d))) {
		uint64_t g;

		if (!ckdir_parse_gen_name(de->d_name, &g))
			continue;
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			uint64_t *nv = realloc(v, ncap * sizeof(*v));
			if (!nv) {
				rc = -ENOMEM;
				goto out_close;
			}
			v = nv;
			cap = ncap;
		}
		v[cnt++] = g;
	}
	qsort(v, cnt, sizeof(*v), cmp_u64);
	*gens = v;
	*n = cnt;
	v = NULL;
out_close:
	free(v);
	closedir(d);
	return rc;
}

int ckdir_next_gen(const char *dir, uint64_t *gen)
{
	uint64_t *gens;
	size_t n;
	int rc = ckdir_list_gens(dir, &gens, &n);

	if (rc)
		return rc;
	*gen = n ? gens[n - 1] + 1 : 1;
	free(gens);
	return 0;
}

bool ckdir_gen_complete(const char *dir, uint64_t gen)
{
	struct ckdir_manifest m;

	if (ckdir_manifest_read(dir, gen, &m))
		return false;
	ckdir_manifest_free(&m);
	return true;
}

int ckdir_latest_complete(const char *dir, uint64_t *gen)
{
	uint64_t *gens;
	size_t n;
	int rc = ckdir_list_gens(dir, &gens, &n);

	if (rc)
		return rc;
	rc = -ENOENT;
	for (size_t i = n; i-- > 0;) {
		if (ckdir_gen_complete(dir, gens[i])) {
			*gen = gens[i];
			rc = 0;
			break;
		}
	}
	free(gens);
	return rc;
}

int ckdir_latest_link(const char *dir, uint64_t *gen)
{
	char path[CKDIR_PATH_MAX], target[256];
	ssize_t len;

	if (join(path, sizeof(path), dir, "latest"))
		return -ENAMETOOLONG;
	len = readlink(path, target, sizeof(target) - 1);
	if (len < 0)
		return -errno;
	target[len] = 0;
	if (!ckdir_parse_gen_name(target, gen))
		return -EBADMSG;
	return 0;
}

int ckdir_fsync_file(const char *path)
{
	int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		rc = -errno;
		pr_perror("cannot open %s to sync it", path);
		return rc;
	}
	if (fsync(fd) < 0) {
		rc = -errno;
		pr_perror("cannot sync %s to disk", path);
	}
	close(fd);
	return rc;
}

int ckdir_fsync_dir(const char *path)
{
	int rc = 0, fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		rc = -errno;
		pr_perror("cannot open directory %s to sync it", path);
		return rc;
	}
	if (fsync(fd) < 0 && errno != EINVAL) {
		rc = -errno;
		pr_perror("cannot sync directory %s to disk", path);
	}
	close(fd);
	return rc;
}

static int parent_dir(char *buf, size_t size, const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return snprintf(buf, size, ".") < 0 ? -EINVAL : 0;
	if ((size_t)(slash - path) + 1 > size)
		return -ENAMETOOLONG;
	if (slash == path)
		slash++;
	memcpy(buf, path, slash - path);
	buf[slash - path] = 0;
	return 0;
}

static int write_replace(const char *path, const void *data, size_t len, mode_t mode, bool durable)
{
	char tmp[CKDIR_PATH_MAX], parent[CKDIR_PATH_MAX];
	int rc, fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp) ||
	    parent_dir(parent, sizeof(parent), path))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = -errno;
		pr_perror("cannot create %s", tmp);
		return rc;
	}
	rc = crest_write_full(fd, data, len);
	if (rc) {
		errno = -rc;
		pr_perror("cannot write %s", tmp);
		goto out_unlink;
	}
	if (durable && fsync(fd) < 0) {
		rc = -errno;
		pr_perror("cannot sync %s to disk", tmp);
		goto out_unlink;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = -errno;
		pr_perror("cannot write %s", tmp);
		goto out_unlink;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		rc = -errno;
		pr_perror("cannot rename %s to %s", tmp, path);
		goto out_unlink;
	}
	return durable ? ckdir_fsync_dir(parent) : 0;
out_unlink:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

int ckdir_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	return write_replace(path, data, len, mode, true);
}

int ckdir_write_replace(const char *path, const void *data, size_t len, mode_t mode)
{
	return write_replace(path, data, len, mode, false);
}

int ckdir_incarnation_write(const char *dir, const char *id)
{
	char path[CKDIR_PATH_MAX], text[CKDIR_INCARNATION_LEN + 2];

	if (!ckdir_incarnation_valid(id))
		return -EINVAL;
	if (snprintf(path, sizeof(path), "%s/INCARNATION", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	snprintf(text, sizeof(text), "%s\n", id);
	return ckdir_write_atomic(path, text, strlen(text), 0600);
}

int ckdir_incarnation_new(const char *dir, char id[CKDIR_INCARNATION_LEN + 1])
{
	uint8_t r[CKDIR_INCARNATION_BYTES];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -EIO;
	r[0] |= 1;	/* never all 0: that is "none" on the wire */
	ckdir_incarnation_unpack(r, id);
	return ckdir_incarnation_write(dir, id);
}

bool ckdir_incarnation_valid(const char *s)
{
	return strlen(s) == CKDIR_INCARNATION_LEN && strspn(s, "0123456789abcdef") == CKDIR_INCARNATION_LEN;
}

static int hexval(char ch)
{
	return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

void ckdir_incarnation_pack(const char *id, uint8_t out[CKDIR_INCARNATION_BYTES])
{
	memset(out, 0, CKDIR_INCARNATION_BYTES);
	if (!ckdir_incarnation_valid(id))
		return;
	for (int i = 0; i < CKDIR_INCARNATION_BYTES; i++)
		out[i] = (uint8_t)(hexval(id[2 * i]) << 4 | hexval(id[2 * i + 1]));
}

void ckdir_incarnation_unpack(const uint8_t in[CKDIR_INCARNATION_BYTES], char id[CKDIR_INCARNATION_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	uint8_t any = 0;

	for (int i = 0; i < CKDIR_INCARNATION_BYTES; i++) {
		any |= in[i];
		id[2 * i] = digits[in[i] >> 4];
		id[2 * i + 1] = digits[in[i] & 15];
	}
	id[any ? CKDIR_INCARNATION_LEN : 0] = 0;
}

int ckdir_incarnation_read(const char *dir, char id[CKDIR_INCARNATION_LEN + 1])
{
	char path[CKDIR_PATH_MAX], text[CKDIR_INCARNATION_LEN + 8];

	if (snprintf(path, sizeof(path), "%s/INCARNATION", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < CKDIR_INCARNATION_LEN)
		return n < 0 ? -errno : -EBADMSG;
	memcpy(id, text, CKDIR_INCARNATION_LEN);
	id[CKDIR_INCARNATION_LEN] = 0;
	return ckdir_incarnation_valid(id) ? 0 : -EBADMSG;
}

int ckdir_set_latest(const char *dir, uint64_t gen)
{
	char link[CKDIR_PATH_MAX], tmp[CKDIR_PATH_MAX], target[64];
	int rc;

	snprintf(target, sizeof(target), GEN_PREFIX "%06" PRIu64, gen);
	if (join(link, sizeof(link), dir, "latest") || join(tmp, sizeof(tmp), dir, "latest.tmp"))
		return -ENAMETOOLONG;
	unlink(tmp);
	if (symlink(target, tmp) < 0) {
		rc = -errno;
		pr_perror("cannot create symlink %s", tmp);
		return rc;
	}
	if (rename(tmp, link) < 0) {
		rc = -errno;
		pr_perror("cannot rename %s to %s", tmp, link);
		unlink(tmp);
		return rc;
	}
	return ckdir_fsync_dir(dir);
}

int ckdir_make_gen(const char *dir, uint64_t gen)
{
	char path[CKDIR_PATH_MAX], sub[CKDIR_PATH_MAX];
	int rc;

	rc = ckdir_gen_path(path, sizeof(path), dir, gen);
	if (rc)
		return rc;
	if (mkdir(path, 0700) < 0) {
		rc = -errno;
		pr_perror("cannot create generation directory %s", path);
		return rc;
	}
	if (join(sub, sizeof(sub), path, "n0"))
		return -ENAMETOOLONG;
	if (mkdir(sub, 0700) < 0) {
		rc = -errno;
		pr_perror("cannot create %s", sub);
		rmdir(path);
		return rc;
	}
	return 0;
}

int ckdir_rmtree(const char *path)
{
	struct dirent *de;
	int rc = 0;
	DIR *d;

	d = opendir(path);
	if (!d) {
		if (errno == ENOTDIR) {
			if (unlink(path) < 0)
				return -errno;
			return 0;
		}
		return errno == ENOENT ? 0 : -errno;
	}
	while ((de = readdir(d))) {
		char child[CKDIR_PATH_MAX];
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (join(child, sizeof(child), path, de->d_name)) {
			rc = -ENAMETOOLONG;
			continue;
		}
		if (lstat(child, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			int r = ckdir_rmtree(child);
			if (r)
				rc = r;
		} else if (unlink(child) < 0 && errno != ENOENT) {
			rc = -errno;
		}
	}
	closedir(d);
	if (rmdir(path) < 0 && errno != ENOENT)
		rc = -errno;
	if (rc) {
		errno = -rc;
		pr_perror("cannot remove %s completely", path);
	}
	return rc;
}

int ckdir_remove_gen(const char *dir, uint64_t gen)
{
	char path[CKDIR_PATH_MAX];
	int rc = ckdir_gen_path(path, sizeof(path), dir, gen);

	if (rc)
		return rc;
	rc = ckdir_rmtree(path);
	if (!rc)
		ckdir_fsync_dir(dir);
	return rc;
}

int ckdir_prune(const char *dir, unsigned keep)
{
	uint64_t *gens, latest = 0, newest_complete = 0;
	unsigned kept = 0;
	size_t n;
	int rc;

	if (keep == 0)
		keep = 1;
	rc = ckdir_list_gens(dir, &gens, &n);
	if (rc)
		return rc;
	ckdir_latest_link(dir, &latest);
	for (size_t i = n; i-- > 0;) {
		bool complete = ckdir_gen_complete(dir, gens[i]);

		if (complete && !newest_complete)
			newest_complete = gens[i];
		if (gens[i] == latest) {
			if (complete)
				kept++;
			continue;
		}
		if (complete && kept < keep) {
			kept++;
			continue;
		}
		/* an incomplete generation newer than every complete one may
		 * be a checkpoint being written: leave it */
		if (!complete && !newest_complete)
			continue;
		pr_info("pruning generation %" PRIu64 " of %s", gens[i], dir);
		int r = ckdir_remove_gen(dir, gens[i]);
		if (r)
			rc = r;
	}
	free(gens);
	return rc;
}

int ckdir_remove_incomplete(const char *dir)
{
	uint64_t *gens, latest = 0;
	size_t n;
	int rc = ckdir_list_gens(dir, &gens, &n);

	if (rc)
		return rc;
	ckdir_latest_link(dir, &latest);
	for (size_t i = 0; i < n; i++) {
		if (gens[i] == latest || ckdir_gen_complete(dir, gens[i]))
			continue;
		pr_info("removing generation %" PRIu64 " of %s: incomplete (a checkpoint whose coordinator died)",
			gens[i], dir);
		int r = ckdir_remove_gen(dir, gens[i]);
		if (r)
			rc = r;
	}
	free(gens);
	return rc;
}

/* MANIFEST ------------------------------------------------------------- */

static int manifest_path(char *buf, size_t size, const char *dir, uint64_t gen)
{
	char g[CKDIR_PATH_MAX];
	int rc = ckdir_gen_path(g, sizeof(g), dir, gen);

	return rc ? rc : join(buf, size, g, "MANIFEST");
}

static bool path_ok(const char *p)
{
	if (!*p || *p == '/' || strstr(p, ".."))
		return false;
	for (; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

int ckdir_manifest_write(const char *dir, const struct ckdir_manifest *m)
{
	char path[CKDIR_PATH_MAX];
	char *text = NULL;
	size_t size = 0;
	FILE *f;
	int rc;

	rc = manifest_path(path, sizeof(path), dir, m->generation);
	if (rc)
		return rc;
	f = open_memstream(&text, &size);
	if (!f)
		return -ENOMEM;
	fprintf(f, "crest-manifest %d\n", CKDIR_MANIFEST_VERSION);
	fprintf(f, "generation %" PRIu64 "\n", m->generation);
	fprintf(f, "created %" PRId64 "\n", m->created);
	fprintf(f, "hostname %s\n", m->hostname[0] ? m->hostname : "-");
	fprintf(f, "images %zu\n", m->nimages);
	for (size_t i = 0; i < m->nimages; i++) {
		const struct ckdir_image *im = &m->images[i];
		if (!path_ok(im->path)) {
			pr_err("image path \"%s\" cannot go into a MANIFEST", im->path);
			fclose(f);
			rc = -EINVAL;
			goto out_free;
		}
		fprintf(f, "%s %" PRIu64 " %08" PRIx32 "\n", im->path, im->size, im->crc);
	}
	for (size_t i = 0; i < m->nended; i++) {
		char how[32];
		ckdir_status_text(m->ended[i].status, how, sizeof(how));
		fprintf(f, "ended n%" PRIu32 " %" PRIu32 " %s\n", m->ended[i].node, m->ended[i].rank, how);
	}
	fprintf(f, "end\n");
	if (fclose(f)) {
		rc = -ENOMEM;
		goto out_free;
	}
	rc = ckdir_write_atomic(path, text, size, 0600);
out_free:
	free(text);
	return rc;
}

/* next line of text into line[]; false at the end */
static bool next_line(const char **p, const char *end, char *line, size_t size, bool *too_long)
{
	const char *s = *p, *nl;

	if (s >= end)
		return false;
	nl = memchr(s, '\n', end - s);
	if (!nl) {
		*too_long = true;	/* a MANIFEST ends with a newline */
		return false;
	}
	if ((size_t)(nl - s) >= size) {
		*too_long = true;
		return false;
	}
	memcpy(line, s, nl - s);
	line[nl - s] = 0;
	*p = nl + 1;
	return true;
}

static bool parse_u64(const char *s, int base, uint64_t *v)
{
	char *e;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return false;
	errno = 0;
	unsigned long long x = strtoull(s, &e, base);
	if (errno || *e)
		return false;
	*v = x;
	return true;
}

/* "key value" with the exact key; value returned */
static const char *keyval(const char *line, const char *key)
{
	size_t k = strlen(key);

	if (strncmp(line, key, k) || line[k] != ' ' || !line[k + 1])
		return NULL;
	return line + k + 1;
}

void ckdir_status_text(int32_t status, char *buf, size_t size)
{
	if (WIFSIGNALED(status))
		snprintf(buf, size, "signal %d", WTERMSIG(status));
	else
		snprintf(buf, size, "exit %d", WEXITSTATUS(status));
}

int ckdir_status_parse(const char *text, int32_t *status)
{
	uint64_t v;
	const char *n;

	if ((n = keyval(text, "exit")) && parse_u64(n, 10, &v) && v <= 255)
		*status = (int32_t)(v << 8);
	else if ((n = keyval(text, "signal")) && parse_u64(n, 10, &v) && v >= 1 && v < 128)
		*status = (int32_t)v;
	else
		return -1;
	return 0;
}

/* one "ended n<node> <rank> <how>" line, appended to m->ended */
static int parse_ended(const char *line, struct ckdir_manifest *m)
{
	char node[16], rank[16], how[32];
	uint64_t nv, rv;
	int32_t status;
	int used = 0;

	if (sscanf(line, "ended n%15[0-9] %15[0-9] %n", node, rank, &used) != 2 || !used ||
	    !parse_u64(node, 10, &nv) || nv > UINT32_MAX || !parse_u64(rank, 10, &rv) || rv > UINT32_MAX ||
	    strlen(line + used) >= sizeof(how) || ckdir_status_parse(line + used, &status) ||
	    ckdir_manifest_ended(m, (uint32_t)nv, (uint32_t)rv))
		return -1;
	struct ckdir_ended *e = realloc(m->ended, (m->nended + 1) * sizeof(*e));
	if (!e)
		return -1;
	m->ended = e;
	e[m->nended++] = (struct ckdir_ended){ .node = (uint32_t)nv, .rank = (uint32_t)rv, .status = status };
	return 0;
}

const struct ckdir_ended *ckdir_manifest_ended(const struct ckdir_manifest *m, uint32_t node, uint32_t rank)
{
	for (size_t i = 0; i < m->nended; i++)
		if (m->ended[i].node == node && m->ended[i].rank == rank)
			return &m->ended[i];
	return NULL;
}

int ckdir_manifest_parse(const char *text, size_t len, struct ckdir_manifest *m)
{
	const char *p = text, *end = text + len, *v;
	bool too_long = false;
	char line[1024];
	uint64_t x;
	int rc = -EBADMSG;

	memset(m, 0, sizeof(*m));
	if (memchr(text, 0, len))
		return -EBADMSG;
	if (!next_line(&p, end, line, sizeof(line), &too_long) || strcmp(line, "crest-manifest 1"))
		return -EBADMSG;
	if (!next_line(&p, end, line, sizeof(line), &too_long) || !(v = keyval(line, "generation")) ||
	    !parse_u64(v, 10, &m->generation) || !m->generation)
		return -EBADMSG;
	if (!next_line(&p, end, line, sizeof(line), &too_long) || !(v = keyval(line, "created")) ||
	    !parse_u64(v, 10, &x) || x > INT64_MAX)
		return -EBADMSG;
	m->created = (int64_t)x;
	if (!next_line(&p, end, line, sizeof(line), &too_long) || !(v = keyval(line, "hostname")) ||
	    strlen(v) >= sizeof(m->hostname))
		return -EBADMSG;
	strcpy(m->hostname, v);
	if (!next_line(&p, end, line, sizeof(line), &too_long) || !(v = keyval(line, "images")) ||
	    !parse_u64(v, 10, &x) || x > CKDIR_MAX_IMAGES)
		return -EBADMSG;
	m->nimages = x;
	m->images = calloc(m->nimages ? m->nimages : 1, sizeof(*m->images));
	if (!m->images)
		return -ENOMEM;
	for (size_t i = 0; i < m->nimages; i++) {
		struct ckdir_image *im = &m->images[i];
		char *sp1, *sp2;

		if (!next_line(&p, end, line, sizeof(line), &too_long))
			goto out_bad;
		sp1 = strchr(line, ' ');
		sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
		if (!sp1 || !sp2 || strchr(sp2 + 1, ' '))
			goto out_bad;
		*sp1 = *sp2 = 0;
		if (!path_ok(line) || strlen(line) >= sizeof(im->path) ||
		    !parse_u64(sp1 + 1, 10, &im->size) ||
		    strlen(sp2 + 1) != 8 || !parse_u64(sp2 + 1, 16, &x))
			goto out_bad;
		strcpy(im->path, line);
		im->crc = (uint32_t)x;
	}
	/* then the tasks that had ended, "ended n<node> <rank> exit|signal <n>" */
	for (;;) {
		if (!next_line(&p, end, line, sizeof(line), &too_long))
			goto out_bad;
		if (!strcmp(line, "end"))
			break;
		if (m->nended >= CKDIR_MAX_IMAGES || parse_ended(line, m) < 0)
			goto out_bad;
	}
	if (p != end)
		goto out_bad;
	return 0;
out_bad:
	ckdir_manifest_free(m);
	return rc;
}

int ckdir_manifest_read(const char *dir, uint64_t gen, struct ckdir_manifest *m)
{
	char path[CKDIR_PATH_MAX], buf[1 << 16];
	size_t len = 0;
	int rc, fd;

	memset(m, 0, sizeof(*m));
	rc = manifest_path(path, sizeof(path), dir, gen);
	if (rc)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char *big = NULL, *text = buf;
	size_t cap = sizeof(buf);
	for (;;) {
		if (len == cap) {
			size_t ncap = cap * 2;
			char *nb = ncap > (64u << 20) ? NULL : realloc(big, ncap);
			if (!nb) {
				rc = -EFBIG;
				goto out_close;
			}
			if (!big)
				memcpy(nb, buf, len);
			big = text = nb;
			cap = ncap;
		}
		ssize_t n = read(fd, text + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out_close;
		}
		if (n == 0)
			break;
		len += n;
	}
	rc = ckdir_manifest_parse(text, len, m);
	if (!rc && m->generation != gen) {
		ckdir_manifest_free(m);
		rc = -EBADMSG;
	}
out_close:
	free(big);
	close(fd);
	return rc;
}

void ckdir_manifest_free(struct ckdir_manifest *m)
{
	free(m->images);
	m->images = NULL;
	m->nimages = 0;
	free(m->ended);
	m->ended = NULL;
	m->nended = 0;
}

/* socket, COORD, PROCS ---------------------------------------------------- */

int ckdir_socket_path(const char *dir, char *buf, size_t size)
{
	struct sockaddr_un sa;
	char abs[CKDIR_PATH_MAX], tmpdir[64];
	struct stat st;
	int rc;

	if (!realpath(dir, abs)) {
		rc = -errno;
		pr_perror("checkpoint directory %s", dir);
		return rc;
	}
	if (strlen(abs) + strlen("/coord.sock") < sizeof(sa.sun_path))
		return snprintf(buf, size, "%s/coord.sock", abs) >= (int)size ? -ENAMETOOLONG : 0;
	if (stat(abs, &st) < 0)
		return -errno;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/crest-%u", (unsigned)getuid());
	if (mkdir(tmpdir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		pr_perror("cannot create %s for the coordinator socket", tmpdir);
		return rc;
	}
	if (lstat(tmpdir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid()) {
		pr_err("%s is not a directory of yours; remove it so crest can put its sockets there", tmpdir);
		return -EPERM;
	}
	if (stat(abs, &st) < 0)
		return -errno;
	rc = snprintf(buf, size, "%s/coord-%lx-%lx.sock", tmpdir,
		      (unsigned long)st.st_dev, (unsigned long)st.st_ino);
	return rc >= (int)size ? -ENAMETOOLONG : 0;
}

int ckdir_coord_write(const char *dir, pid_t pid, const char *sock)
{
	char path[CKDIR_PATH_MAX], text[CKDIR_PATH_MAX + 64];
	int n;

	if (join(path, sizeof(path), dir, "COORD"))
		return -ENAMETOOLONG;
	n = snprintf(text, sizeof(text), "pid %d\nsocket %s\n", (int)pid, sock);
	if (n < 0 || n >= (int)sizeof(text))
		return -ENAMETOOLONG;
	return ckdir_write_atomic(path, text, n, 0600);
}

int ckdir_coord_connect(const char *dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	pid_t pid;
	int rc = ckdir_coord_read(dir, &pid, sa.sun_path, sizeof(sa.sun_path));

	if (rc)
		return rc;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct stat own;
	crest_fd_mark(fd, &own);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		crest_fd_close_own(fd, &own);	/* libcrest: the application's threads run */
		return rc;
	}
	return fd;
}

int ckdir_coord_read(const char *dir, pid_t *pid, char *sock, size_t size)
{
	char path[CKDIR_PATH_MAX], text[CKDIR_PATH_MAX + 64], *s, *nl;
	ssize_t len;
	int fd, rc = 0;
	long v;

	if (join(path, sizeof(path), dir, "COORD"))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat own;
	crest_fd_mark(fd, &own);
	do
		len = read(fd, text, sizeof(text) - 1);
	while (len < 0 && errno == EINTR);
	if (len < 0)
		rc = -errno;
	crest_fd_close_own(fd, &own);	/* libcrest: the application's threads run */
	if (rc)
		return rc;
	text[len] = 0;
	if (sscanf(text, "pid %ld\n", &v) != 1 || v <= 0)
		return -EBADMSG;
	*pid = (pid_t)v;
	s = strstr(text, "\nsocket ");
	if (!s)
		return -EBADMSG;
	s += strlen("\nsocket ");
	nl = strchr(s, '\n');
	if (!nl || (sock && (size_t)(nl - s) >= size))
		return -EBADMSG;
	if (sock) {
		memcpy(sock, s, nl - s);
		sock[nl - s] = 0;
	}
	return 0;
}

int ckdir_coord_remove(const char *dir)
{
	char path[CKDIR_PATH_MAX];

	if (join(path, sizeof(path), dir, "COORD"))
		return -ENAMETOOLONG;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

char ckdir_proc_state(pid_t pid, char *comm, size_t commlen)
{
	char path[64], stat[512];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, stat, sizeof(stat) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	stat[n] = 0;
	const char *l = strchr(stat, '('), *r = strrchr(stat, ')');
	if (!l || !r || r < l || r[1] != ' ')
		return 0;
	if (comm && commlen)
		snprintf(comm, commlen, "%.*s", (int)(r - l - 1), l + 1);
	return r[2];
}

/* pid is the kernel's (a coordinator's, from COORD): the system call, not
 * kill(), which in a restored process is libcrest's wrapper and would take
 * it for a virtual pid */
bool ckdir_pid_alive(pid_t pid)
{
	if (pid <= 0 || (syscall(SYS_kill, pid, 0) < 0 && errno != EPERM))
		return false;
	/* a zombie (killed, not reaped yet) is dead for us; unreadable: alive */
	char st = ckdir_proc_state(pid, NULL, 0);
	return st != 'Z' && st != 'X';
}

pid_t ckdir_coord_alive(const char *dir)
{
	char sock[CKDIR_PATH_MAX], comm_path[64], comm[32] = "";
	pid_t pid;
	int fd;

	if (ckdir_coord_read(dir, &pid, sock, sizeof(sock)) || !ckdir_pid_alive(pid))
		return 0;
	/* a recycled pid is not our coordinator */
	snprintf(comm_path, sizeof(comm_path), "/proc/%d/comm", (int)pid);
	fd = open(comm_path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		struct stat own;
		crest_fd_mark(fd, &own);	/* libcrest's checkpoint thread calls this too */
		ssize_t n = read(fd, comm, sizeof(comm) - 1);
		crest_fd_close_own(fd, &own);
		if (n > 0) {
			comm[n] = 0;
			if (strncmp(comm, "crest-coord", 11))
				return 0;
		}
	}
	return pid;
}

int ckdir_procs_add(const char *dir, pid_t pid)
{
	char path[CKDIR_PATH_MAX], line[32];
	int fd, rc, n;

	if (join(path, sizeof(path), dir, "PROCS"))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		pr_perror("cannot open %s", path);
		return rc;
	}
	n = snprintf(line, sizeof(line), "%d\n", (int)pid);
	rc = crest_write_full(fd, line, n);
	if (rc) {
		errno = -rc;
		pr_perror("cannot write %s", path);
	}
	close(fd);
	return rc;
}

int ckdir_procs_read(const char *dir, pid_t **pids, size_t *n)
{
	char path[CKDIR_PATH_MAX];
	size_t cnt = 0, cap = 0;
	pid_t *v = NULL;
	long pid;
	FILE *f;

	*pids = NULL;
	*n = 0;
	if (join(path, sizeof(path), dir, "PROCS"))
		return -ENAMETOOLONG;
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while (fscanf(f, "%ld", &pid) == 1) {
		if (pid <= 0)
			continue;
		bool dup = false;
		for (size_t i = 0; i < cnt; i++)
			dup |= v[i] == (pid_t)pid;
		if (dup)
			continue;
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			pid_t *nv = realloc(v, ncap * sizeof(*v));
			if (!nv) {
				free(v);
				fclose(f);
				return -ENOMEM;
			}
			v = nv;
			cap = ncap;
		}
		v[cnt++] = (pid_t)pid;
	}
	fclose(f);
	*pids = v;
	*n = cnt;
	return 0;
}

int ckdir_procs_clear(const char *dir)
{
	char path[CKDIR_PATH_MAX];

	if (join(path, sizeof(path), dir, "PROCS"))
		return -ENAMETOOLONG;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int ckdir_tree_file(char *buf, size_t size, const char *rundir, const char *name, uint32_t task)
{
	int n = task ? snprintf(buf, size, "%s/%s.t%u", rundir, name, task - 1) :
		       snprintf(buf, size, "%s/%s", rundir, name);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

void ckdir_runtime_clear(const char *rundir)
{
	char path[CKDIR_PATH_MAX + 300];
	DIR *d = opendir(rundir);
	struct dirent *e;

	ckdir_procs_clear(rundir);
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "VPIDS", 5) && strncmp(e->d_name, "PATHMAP", 7) && strncmp(e->d_name, "SYSV", 4) &&
		    strcmp(e->d_name, "RESPAWN") && strcmp(e->d_name, "ENDED") &&	/* a killed coordinator's */
		    strcmp(e->d_name, "ADDR"))	/* where an earlier run's listened */
			continue;
		snprintf(path, sizeof(path), "%s/%s", rundir, e->d_name);
		unlink(path);
	}
	closedir(d);
}
