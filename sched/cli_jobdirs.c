/* SPDX-License-Identifier: MIT */
/*
 * The job and step folders under a base (cli_jobdirs.h): what they are,
 * what state their steps are in, what they hold, and their removal.  Every
 * folder is opened relative to its parent with O_NOFOLLOW; nothing follows
 * a symbolic link or enters another file system.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckdir.h"
#include "cli.h"
#include "cli_jobdirs.h"

#define STEPS_CLAIMS ".steps"	/* a job folder's claims (cli_step.c, occurrence_dir) */

/* src into dst, cut to fit: the names kept for messages */
static void copy_cut(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = 0;
}

/* ---- walking a tree: children before their folder ---- */

struct walk {
	void (*visit)(struct walk *w, int dirfd, const char *name, const struct stat *st);
	void (*fail)(struct walk *w, int err);	/* w->rel could not be read */
	void *arg;
	const char *top;	/* the path of the folder under the base */
	dev_t dev;		/* the file system of the top */
	char rel[PATH_MAX];	/* the entry's path relative to the folder under the base */
	size_t len;
};

static bool rel_push(struct walk *w, const char *name)
{
	size_t room = sizeof(w->rel) - w->len;
	int n = snprintf(w->rel + w->len, room, "%s%s", w->len ? "/" : "", name);

	if (n < 0 || (size_t)n >= room) {
		w->rel[w->len] = 0;
		return false;
	}
	w->len += (size_t)n;
	return true;
}

static void rel_pop(struct walk *w, size_t len)
{
	w->len = len;
	w->rel[len] = 0;
}

/* a folder by its name in parent, never through a link: the fd, or -errno;
 * the same file as st when st is given */
static int open_dir_at(int parent, const char *name, const struct stat *st)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat now;

	if (fd < 0)
		return -errno;
	if (st && (fstat(fd, &now) || now.st_dev != st->st_dev || now.st_ino != st->st_ino)) {
		close(fd);
		return -ESTALE;	/* replaced since it was looked at */
	}
	return fd;
}

/* (dirfd, name), st its lstat, and everything below it; w->rel names it */
static void walk(struct walk *w, int dirfd, const char *name, const struct stat *st)
{
	if (S_ISDIR(st->st_mode) && st->st_dev != w->dev) {
		w->fail(w, -EXDEV);
	} else if (S_ISDIR(st->st_mode)) {
		int fd = open_dir_at(dirfd, name, st);
		DIR *d = fd < 0 ? NULL : fdopendir(fd);

		if (!d) {
			w->fail(w, fd < 0 ? fd : -errno);
			if (fd >= 0)
				close(fd);
		} else {
			size_t len = w->len;
			for (struct dirent *e; (e = readdir(d));) {
				struct stat cst;

				if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
					continue;
				if (!rel_push(w, e->d_name))
					w->fail(w, -ENAMETOOLONG);
				else if (fstatat(fd, e->d_name, &cst, AT_SYMLINK_NOFOLLOW) == 0)
					walk(w, fd, e->d_name, &cst);
				else if (errno != ENOENT)
					w->fail(w, -errno);
				rel_pop(w, len);
			}
			closedir(d);
		}
	}
	w->visit(w, dirfd, name, st);
}

/* ---- what a folder holds ---- */

static const char *rel_or_dot(const struct walk *w)
{
	return w->len ? w->rel : ".";
}

/* a coordinator for rundir: 2 one answers, 1 COORD names one that does
 * not (or cannot be read), 0 no COORD; the pid it names in *pid */
static int coord_state(const char *rundir, pid_t *pid)
{
	int rc = ckdir_coord_read(rundir, pid, NULL, 0), fd;

	if (rc == -ENOENT)
		return 0;
	if (rc) {
		*pid = 0;
		return 1;
	}
	fd = cli_connect(rundir);
	if (fd < 0)
		return 1;
	close(fd);
	return 2;
}

/* a COORD anywhere below (node 0's in the step folder, the others' in
 * nodes/n<N>/, or anywhere else): does its coordinator answer? */
static void use_coord(struct walk *w, struct jobdir_usage *u)
{
	char run[PATH_MAX + 16];
	size_t dirlen = w->len > strlen("COORD") ? w->len - strlen("COORD") - 1 : 0;
	pid_t pid = 0;

	if (snprintf(run, sizeof(run), "%s/%.*s", w->top, (int)dirlen, w->rel) >= (int)sizeof(run)) {
		u->coords = u->coords ? u->coords : 1;	/* cannot tell: as if one lived */
		return;
	}
	int state = coord_state(run, &pid);
	if (state > u->coords) {
		u->coords = state;
		u->coord = pid;
		if (dirlen)
			snprintf(u->coord_at, sizeof(u->coord_at), "%.*s", (int)dirlen, w->rel);
		else
			snprintf(u->coord_at, sizeof(u->coord_at), ".");
	}
}

static void use_visit(struct walk *w, int dirfd, const char *name, const struct stat *st)
{
	struct jobdir_usage *u = w->arg;

	(void)dirfd;
	if (S_ISREG(st->st_mode) && !strcmp(name, "COORD"))
		use_coord(w, u);
	u->bytes += (uint64_t)st->st_blocks * 512;
	if (st->st_mtime > u->newest)
		u->newest = st->st_mtime;
	if (st->st_uid != getuid() && !u->foreign[0]) {
		copy_cut(u->foreign, sizeof(u->foreign), rel_or_dot(w));
		u->foreign_uid = st->st_uid;
	}
}

static void use_fail(struct walk *w, int err)
{
	struct jobdir_usage *u = w->arg;

	if (err == -EXDEV && !u->foreign[0]) {
		copy_cut(u->foreign, sizeof(u->foreign), rel_or_dot(w));
		u->other_fs = true;
	} else if (err != -EXDEV && !u->err) {
		copy_cut(u->unreadable, sizeof(u->unreadable), rel_or_dot(w));
		u->err = err;
	}
}

/* the usage of (dirfd, name), whose path relative to the folder under the
 * base (top) is rel */
static void usage_of(int dirfd, const char *name, const struct stat *st, const char *top, const char *rel,
		     struct jobdir_usage *u)
{
	struct walk w = { .visit = use_visit, .fail = use_fail, .arg = u, .top = top, .dev = st->st_dev };

	if (*rel && !rel_push(&w, rel))
		use_fail(&w, -ENAMETOOLONG);
	else
		walk(&w, dirfd, name, st);
}

static void usage_add(struct jobdir_usage *to, const struct jobdir_usage *from)
{
	to->bytes += from->bytes;
	if (from->newest > to->newest)
		to->newest = from->newest;
	if (!to->foreign[0] && from->foreign[0]) {
		memcpy(to->foreign, from->foreign, sizeof(to->foreign));
		to->foreign_uid = from->foreign_uid;
		to->other_fs = from->other_fs;
	}
	if (!to->err && from->err) {
		memcpy(to->unreadable, from->unreadable, sizeof(to->unreadable));
		to->err = from->err;
	}
	if (from->coords > to->coords) {
		to->coords = from->coords;
		to->coord = from->coord;
		memcpy(to->coord_at, from->coord_at, sizeof(to->coord_at));
	}
}

/* ---- the top of a folder ---- */

struct top {
	bool incarnation, latest, done, claims;
	uint64_t *gens;		/* of real gen-* folders, newest first */
	size_t ngens;
	char (*subdirs)[NAME_MAX + 1];	/* the other folders */
	size_t nsubdirs;
	char file[NAME_MAX + 1];	/* the first entry of another kind */
};

static void top_free(struct top *t)
{
	free(t->gens);
	free(t->subdirs);
}

static bool top_is_step(const struct top *t)
{
	return t->incarnation || t->latest || t->ngens;
}

static int cmp_gen_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x > y ? -1 : x < y;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* p (n elements) with room for one more, or NULL: arrays grow to 1, 2, 4 ... */
static void *room_for(void *p, size_t n, size_t elem)
{
	if (n & (n - 1))
		return p;
	return realloc(p, (n ? 2 * n : 1) * elem);
}

/* the entries of the folder fd: what makes it a step or job folder */
static int read_top(int fd, struct top *t)
{
	int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dup_fd < 0 ? NULL : fdopendir(dup_fd);
	int rc = 0;

	memset(t, 0, sizeof(*t));
	if (!d) {
		rc = -errno;
		if (dup_fd >= 0)
			close(dup_fd);
		return rc;
	}
	for (struct dirent *e; (e = readdir(d)) && !rc;) {
		const char *n = e->d_name;
		struct stat st;
		uint64_t gen;

		if (!strcmp(n, ".") || !strcmp(n, "..") || fstatat(fd, n, &st, AT_SYMLINK_NOFOLLOW))
			continue;
		bool dir = S_ISDIR(st.st_mode), reg = S_ISREG(st.st_mode);
		if (reg && !strcmp(n, "INCARNATION"))
			t->incarnation = true;
		else if (S_ISLNK(st.st_mode) && !strcmp(n, "latest"))
			t->latest = true;
		else if (reg && !strcmp(n, "DONE"))
			t->done = true;
		else if (dir && !strcmp(n, STEPS_CLAIMS))
			t->claims = true;
		else if (dir && ckdir_parse_gen_name(n, &gen)) {
			uint64_t *g = room_for(t->gens, t->ngens, sizeof(*t->gens));
			if (!g)
				rc = -ENOMEM;
			else
				(t->gens = g)[t->ngens++] = gen;
		} else if (dir) {
			char (*sd)[NAME_MAX + 1] = room_for(t->subdirs, t->nsubdirs, sizeof(*t->subdirs));
			if (!sd)
				rc = -ENOMEM;
			else
				copy_cut((t->subdirs = sd)[t->nsubdirs++], sizeof(*sd), n);
		} else if (!t->file[0]) {
			copy_cut(t->file, sizeof(t->file), n);
		}
	}
	closedir(d);
	if (rc) {
		top_free(t);
		return rc;
	}
	qsort(t->gens, t->ngens, sizeof(*t->gens), cmp_gen_desc);
	qsort(t->subdirs, t->nsubdirs, sizeof(*t->subdirs), cmp_name);
	return 0;
}

/* ---- steps ---- */

/* the step folder fd (with top t, lstat st) of the folder under the base
 * top; path is its own path, rel the one relative to top */
static void load_step(int fd, const char *path, const struct top *t, const struct stat *st, const char *top,
		      const char *rel, struct jobdir_step *s)
{
	const char *slash = strrchr(path, '/');

	memset(s, 0, sizeof(*s));
	copy_cut(s->name, sizeof(s->name), slash ? slash + 1 : path);
	for (size_t i = 0; i < t->ngens && !s->gen; i++) {
		char manifest[PATH_MAX];
		struct ckdir_manifest m;
		struct stat mst;

		/* the MANIFEST ckdir_manifest_read opens, if it is a file */
		if (ckdir_gen_path(manifest, sizeof(manifest) - 9, ".", t->gens[i]))
			continue;
		strcat(manifest, "/MANIFEST");
		if (fstatat(fd, manifest, &mst, AT_SYMLINK_NOFOLLOW) || !S_ISREG(mst.st_mode) ||
		    ckdir_manifest_read(path, t->gens[i], &m))
			continue;
		s->gen = m.generation;
		s->taken = m.created;
		ckdir_manifest_free(&m);
	}
	usage_of(fd, ".", st, top, rel, &s->use);
	s->state = s->use.coords == 2 ? JOBDIR_RUNNING : s->use.coords ? JOBDIR_UNREACHABLE :
		   t->done ? JOBDIR_DONE : s->gen ? JOBDIR_RESTARTABLE : t->ngens ? JOBDIR_INCOMPLETE : JOBDIR_EMPTY;
}

static int cmp_step(const void *a, const void *b)
{
	return strcmp(((const struct jobdir_step *)a)->name, ((const struct jobdir_step *)b)->name);
}

/* the step folders of job folder fd (top t): 0, or -ENOTDIR with why */
static int load_job(int fd, const struct top *t, struct jobdir *d, char *why, size_t whylen)
{
	if (t->file[0]) {
		snprintf(why, whylen, "not a crest folder: it holds %s, which crest does not write in a job folder",
			 t->file);
		return -ENOTDIR;
	}
	if (!t->nsubdirs && !t->claims) {
		snprintf(why, whylen, "not a crest folder: no gen-*, latest or INCARNATION, no step folders");
		return -ENOTDIR;
	}
	d->steps = calloc(t->nsubdirs ? t->nsubdirs : 1, sizeof(*d->steps));
	if (!d->steps)
		return -ENOMEM;
	for (size_t i = 0; i < t->nsubdirs; i++) {
		const char *key = t->subdirs[i];
		char path[PATH_MAX + NAME_MAX + 2];
		struct stat st;
		struct top sub;
		int sfd = fstatat(fd, key, &st, AT_SYMLINK_NOFOLLOW) ? -errno : open_dir_at(fd, key, &st);
		int rc = sfd < 0 ? sfd : read_top(sfd, &sub);

		if (rc) {
			snprintf(why, whylen, "cannot read %s: %s", key, strerror(-rc));
			if (sfd >= 0)
				close(sfd);
			return rc == -ENOMEM ? rc : -ENOTDIR;
		}
		if (!top_is_step(&sub)) {
			snprintf(why, whylen, "not a crest folder: %s is not a step folder (no gen-*, latest or "
				 "INCARNATION)", key);
			top_free(&sub);
			close(sfd);
			return -ENOTDIR;
		}
		snprintf(path, sizeof(path), "%s/%s", d->path, key);
		load_step(sfd, path, &sub, &st, d->path, key, &d->steps[d->nsteps++]);
		top_free(&sub);
		close(sfd);
	}
	return 0;
}

int jobdir_load(int parent, const char *parent_path, const char *name, struct jobdir *d, char *why,
		size_t whylen)
{
	struct stat st;
	struct top t;
	int fd, rc;

	memset(d, 0, sizeof(*d));
	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW)) {
		rc = -errno;
		snprintf(why, whylen, "%s", strerror(errno));
		return rc;
	}
	if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode)) {
		snprintf(why, whylen, S_ISLNK(st.st_mode) ? "a symbolic link (not followed)" : "not a folder");
		return -ENOTDIR;
	}
	if (snprintf(d->path, sizeof(d->path), "%s%s%s", parent_path, strcmp(parent_path, "/") ? "/" : "", name) >=
	    (int)sizeof(d->path)) {
		snprintf(why, whylen, "path too long");
		return -ENAMETOOLONG;
	}
	copy_cut(d->name, sizeof(d->name), name);
	d->uid = st.st_uid;
	struct walk self = { .visit = use_visit, .fail = use_fail, .arg = &d->use, .top = d->path };
	fd = open_dir_at(parent, name, &st);
	rc = fd < 0 ? fd : read_top(fd, &t);
	if (rc) {
		snprintf(why, whylen, "cannot read it: %s", strerror(-rc));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (top_is_step(&t)) {
		d->is_step = true;
		d->steps = calloc(1, sizeof(*d->steps));
		rc = d->steps ? 0 : -ENOMEM;
		if (!rc) {
			d->nsteps = 1;
			load_step(fd, d->path, &t, &st, d->path, "", d->steps);
			d->use = d->steps->use;
		}
	} else {
		rc = load_job(fd, &t, d, why, whylen);
		for (size_t i = 0; !rc && i < d->nsteps; i++)
			usage_add(&d->use, &d->steps[i].use);
		struct stat cst;
		if (!rc && t.claims && !fstatat(fd, STEPS_CLAIMS, &cst, AT_SYMLINK_NOFOLLOW)) {
			struct jobdir_usage claims = { 0 };
			usage_of(fd, STEPS_CLAIMS, &cst, d->path, STEPS_CLAIMS, &claims);
			usage_add(&d->use, &claims);
		}
		if (!rc) {
			use_visit(&self, parent, name, &st);	/* the folder's own size, time, owner */
			qsort(d->steps, d->nsteps, sizeof(*d->steps), cmp_step);
		}
	}
	struct stat pst;
	if (!rc && (fstat(parent, &pst) || pst.st_dev != st.st_dev))
		use_fail(&self, -EXDEV);	/* a mount point itself */
	top_free(&t);
	close(fd);
	if (rc)
		jobdir_free(d);
	return rc;
}

void jobdir_free(struct jobdir *d)
{
	free(d->steps);
	d->steps = NULL;
	d->nsteps = 0;
}

/* ---- lists ---- */

static int add_skip(struct jobdir_list *l, const char *path, const char *why)
{
	struct jobdir_skip *skips = room_for(l->skips, l->nskips, sizeof(*l->skips));

	if (!skips)
		return -ENOMEM;
	l->skips = skips;
	struct jobdir_skip *s = &l->skips[l->nskips++];
	copy_cut(s->path, sizeof(s->path), path);
	copy_cut(s->why, sizeof(s->why), why);
	return 0;
}

/* loads name of l->parent_fd into l: a folder, or a skip */
static int add_entry(struct jobdir_list *l, const char *name)
{
	char why[160] = "", path[PATH_MAX + NAME_MAX + 2];
	struct jobdir *dirs = room_for(l->dirs, l->ndirs, sizeof(*l->dirs));

	if (!dirs)
		return -ENOMEM;
	l->dirs = dirs;
	int rc = jobdir_load(l->parent_fd, l->parent, name, &l->dirs[l->ndirs], why, sizeof(why));
	if (!rc) {
		l->ndirs++;
		return 0;
	}
	if (rc == -ENOMEM)
		return rc;
	snprintf(path, sizeof(path), "%s%s%s", l->parent, strcmp(l->parent, "/") ? "/" : "", name);
	return add_skip(l, path, why);
}

/* job ids in numeric order, anything else after them by name */
static int cmp_dir(const void *a, const void *b)
{
	const char *x = ((const struct jobdir *)a)->name, *y = ((const struct jobdir *)b)->name;
	size_t nx = strspn(x, "0123456789"), ny = strspn(y, "0123456789");
	bool jx = nx && !x[nx], jy = ny && !y[ny];

	if (jx && jy && nx != ny)
		return nx < ny ? -1 : 1;
	if (jx != jy)
		return jx ? -1 : 1;
	return strcmp(x, y);
}

static void list_init(struct jobdir_list *l)
{
	memset(l, 0, sizeof(*l));
	l->parent_fd = -1;
}

int jobdir_scan_base(const char *verb, const char *base, struct jobdir_list *l)
{
	int rc = 0;

	list_init(l);
	copy_cut(l->parent, sizeof(l->parent), base);
	l->parent_fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int dfd = l->parent_fd < 0 ? -1 : fcntl(l->parent_fd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	if (!d) {
		rc = -errno;
		fprintf(stderr, "crest: %s: cannot read %s: %s\n", verb, base, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		jobdir_list_free(l);
		return rc;
	}
	for (struct dirent *e; !rc && (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			rc = add_entry(l, e->d_name);
	closedir(d);
	if (rc) {
		fprintf(stderr, "crest: %s: %s: %s\n", verb, base, strerror(-rc));
		jobdir_list_free(l);
		return rc;
	}
	qsort(l->dirs, l->ndirs, sizeof(*l->dirs), cmp_dir);
	return 0;
}

int jobdir_scan_dir(const char *verb, const char *dir, struct jobdir_list *l)
{
	char abs[PATH_MAX];
	struct stat st;
	int rc;

	list_init(l);
	if (lstat(dir, &st) || !realpath(dir, abs)) {
		rc = -errno;
		fprintf(stderr, "crest: %s: --dir %s: %s\n", verb, dir, strerror(errno));
		return rc;
	}
	if (S_ISLNK(st.st_mode)) {
		fprintf(stderr, "crest: %s: --dir %s is a symbolic link; crest does not follow links here: "
			"give the folder it points to\n", verb, dir);
		return -ELOOP;
	}
	char *slash = strrchr(abs, '/');
	if (!slash[1]) {
		fprintf(stderr, "crest: %s: --dir %s: not a checkpoint folder\n", verb, dir);
		return -EINVAL;
	}
	*slash = 0;
	snprintf(l->parent, sizeof(l->parent), "%s", slash == abs ? "/" : abs);
	l->parent_fd = open(l->parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->parent_fd < 0) {
		rc = -errno;
		fprintf(stderr, "crest: %s: cannot open %s: %s\n", verb, l->parent, strerror(errno));
		return rc;
	}
	rc = add_entry(l, slash + 1);
	if (rc) {
		fprintf(stderr, "crest: %s: --dir %s: %s\n", verb, dir, strerror(-rc));
		jobdir_list_free(l);
	}
	return rc;
}

void jobdir_list_free(struct jobdir_list *l)
{
	for (size_t i = 0; i < l->ndirs; i++)
		jobdir_free(&l->dirs[i]);
	free(l->dirs);
	free(l->skips);
	if (l->parent_fd >= 0)
		close(l->parent_fd);
	list_init(l);
}

/* ---- removal ---- */

struct removal {
	int err;
	char *what;
	size_t whatlen;
};

static void rm_note(struct walk *w, int err)
{
	struct removal *r = w->arg;

	if (r->err)
		return;
	r->err = err;
	copy_cut(r->what, r->whatlen, rel_or_dot(w));
}

static void rm_visit(struct walk *w, int dirfd, const char *name, const struct stat *st)
{
	if (unlinkat(dirfd, name, S_ISDIR(st->st_mode) ? AT_REMOVEDIR : 0) && errno != ENOENT)
		rm_note(w, -errno);
}

int jobdir_remove(int parent, const char *name, char *what, size_t whatlen)
{
	struct removal r = { .what = what, .whatlen = whatlen };
	struct walk w = { .visit = rm_visit, .fail = rm_note, .arg = &r };
	struct stat st;

	what[0] = 0;
	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	w.dev = st.st_dev;
	walk(&w, parent, name, &st);
	return r.err;
}

/* ---- words ---- */

const char *jobdir_state_name(enum jobdir_state s)
{
	static const char *const names[] = {
		[JOBDIR_EMPTY] = "empty",
		[JOBDIR_INCOMPLETE] = "incomplete",
		[JOBDIR_RESTARTABLE] = "restartable",
		[JOBDIR_DONE] = "done",
		[JOBDIR_UNREACHABLE] = "unreachable",
		[JOBDIR_RUNNING] = "running",
	};
	return names[s];
}

const char *jobdir_size_str(uint64_t bytes, char buf[32])
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	int u = -1;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, 32, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, 32, "%.1f %s", v, units[u]);
	return buf;
}

const char *jobdir_age_str(int64_t s, char buf[32])
{
	if (s < 0)
		s = 0;
	if (s >= 2 * 86400)
		snprintf(buf, 32, "%" PRId64 "d", s / 86400);
	else if (s >= 2 * 3600)
		snprintf(buf, 32, "%" PRId64 "h", s / 3600);
	else if (s >= 120)
		snprintf(buf, 32, "%" PRId64 "m", s / 60);
	else
		snprintf(buf, 32, "%" PRId64 "s", s);
	return buf;
}
