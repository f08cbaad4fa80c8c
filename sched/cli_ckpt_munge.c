/* SPDX-License-Identifier: MIT */
/*
 * crest checkpoint --job JOBID[.STEP] through munge (docs/slurm.md, "On
 * demand"): finds the job's running steps in its checkpoint folder (the
 * job's owner's base, as crest ls finds it, then <jobid>/<step>/ whose
 * STARTED names this job's run and ROOT the root coordinator's address),
 * sends each root a CKPT_MUNGE whose credential names the job, run and
 * step (docs/protocol.md), and waits for its CKPT_RESULT: the generation,
 * as crest checkpoint --dir prints it.
 *
 * Whatever keeps this path from being tried (no libmunge, a folder the
 * caller cannot read, a step whose node 0 had no IPv4 address: no ROOT) makes
 * cli_ckpt_munge return CLI_FALLBACK with why, and cli_checkpoint.c asks
 * Slurm to signal the job instead.  A refusal or a failed checkpoint is
 * an answer, not a reason to fall back.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "cli_jobdirs.h"
#include "munge_cred.h"
#include "proto.h"
#include "run_capture.h"
#include "slurm_text.h"
#include "tcp_link.h"

#define SCONTROL_TIMEOUT_MS	10000
#define CONNECT_TIMEOUT_MS	5000
#define CHALLENGE_TIMEOUT_MS	10000
#define MAX_STEPS		16

extern char **environ;

struct target {
	uint32_t step;
	char addr[64];			/* the root's ADDR:PORT */
};

struct job_info {
	uint32_t job, step;
	int has_step;
	char owner[64];
	uint32_t uid, restarts;
	char socket[256];		/* munge's, from AuthInfo; "" default */
};

static int scontrol(char *const argv[], char *out, size_t size)
{
	return crest_run_capture(argv, environ, NULL, NULL, out, size, SCONTROL_TIMEOUT_MS);
}

/* the job's owner and run (scontrol show job -o), munge's socket (show config) */
static int job_info(struct job_info *ji, char *why, size_t wsize)
{
	static char out[65536];
	char id[16], v[512];

	snprintf(id, sizeof(id), "%" PRIu32, ji->job);
	char *show_job[] = { "scontrol", "show", "job", "-o", id, NULL };
	if (scontrol(show_job, out, sizeof(out)) != 0) {
		snprintf(why, wsize, "scontrol show job %s failed: %.200s", id, out[0] ? out : "no output");
		return -1;
	}
	if (crest_slurm_field(out, "UserId", v, sizeof(v)) ||
	    crest_slurm_name_id(v, ji->owner, sizeof(ji->owner), &ji->uid)) {
		snprintf(why, wsize, "scontrol show job %s names no UserId=name(uid)", id);
		return -1;
	}
	ji->restarts = 0;
	if (!crest_slurm_field(out, "Restarts", v, sizeof(v)))
		ji->restarts = (uint32_t)strtoul(v, NULL, 10);
	if (!crest_slurm_field(out, "JobState", v, sizeof(v)) && strcmp(v, "RUNNING")) {
		snprintf(why, wsize, "job %s is %s, not RUNNING", id, v);
		return -1;
	}
	char *show_config[] = { "scontrol", "show", "config", NULL };
	ji->socket[0] = 0;
	if (scontrol(show_config, out, sizeof(out)) == 0 && !crest_slurm_config(out, "AuthInfo", v, sizeof(v)))
		crest_slurm_authinfo_socket(v, ji->socket, sizeof(ji->socket));
	return 0;
}

/* the first line of dir/name in out; 0 or -errno */
static int read_line(const char *dir, const char *name, char *out, size_t size)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(out, (int)size, f))
		out[0] = 0;
	fclose(f);
	out[strcspn(out, "\n")] = 0;
	return 0;
}

/* the running steps of the job with a root on TCP, in its folder under the
 * owner's base: their number, or CLI_FALLBACK with why */
static int find_steps(const struct job_info *ji, const char *given, struct target *t, char *why, size_t wsize)
{
	char base[PATH_MAX], jobdir[PATH_MAX + 16];
	struct passwd *pw = getpwnam(ji->owner);
	int n = 0;

	if (!pw) {
		snprintf(why, wsize, "the job's owner %s has no passwd entry here", ji->owner);
		return CLI_FALLBACK;
	}
	int rc = cli_base_find_for("checkpoint", given, pw, base, sizeof(base));
	if (rc) {
		snprintf(why, wsize, "no checkpoint folder of %s here (%s)", ji->owner,
			 rc == -ENOENT ? base : strerror(-rc));
		return CLI_FALLBACK;
	}
	snprintf(jobdir, sizeof(jobdir), "%s/%" PRIu32, base, ji->job);
	DIR *d = opendir(jobdir);
	if (!d) {
		snprintf(why, wsize, "cannot read the job's folder %s: %s", jobdir, strerror(errno));
		return CLI_FALLBACK;
	}
	for (struct dirent *e; (e = readdir(d)) && n < MAX_STEPS;) {
		char step[PATH_MAX * 2], text[80];
		struct crest_slurm_runid r;

		if (e->d_name[0] == '.')
			continue;
		snprintf(step, sizeof(step), "%s/%s", jobdir, e->d_name);
		if (read_line(step, "STARTED", text, sizeof(text)) || crest_slurm_runid_parse(text, &r) ||
		    r.job != ji->job || r.run != ji->restarts || (ji->has_step && r.step != ji->step))
			continue;
		if (!read_line(step, "DONE", text, sizeof(text)) || read_line(step, "ROOT", t[n].addr, sizeof(t[n].addr)))
			continue;
		t[n++].step = r.step;
	}
	closedir(d);
	if (!n)
		snprintf(why, wsize, "no running step%s of job %" PRIu32 " in %s has a root coordinator on TCP (no "
			 "ROOT: its node 0 had no IPv4 address)", ji->has_step ? " with that id" : "", ji->job, jobdir);
	return n ? n : CLI_FALLBACK;
}

static int connect_addr(const char *addr)
{
	struct sockaddr_in sa;

	if (crest_tcp_parse(addr, &sa))
		return -EINVAL;
	return crest_tcp_connect(&sa, CONNECT_TIMEOUT_MS);
}

/*
 * One step: CHALLENGE from the root, CKPT_MUNGE, CKPT_RESULT.  0 with the
 * generation in *gen; 1 with the error printed.
 */
static int ask_root(const struct job_info *ji, const struct target *t, uint32_t flags, uint32_t compress,
		    uint64_t *gen)
{
	static struct crest_msg_ckpt_munge m;
	struct crest_ckpt_claim claim = { .job = ji->job, .run = ji->restarts, .step = t->step,
					  .flags = flags, .compress = compress };
	struct crest_msg_challenge ch;
	struct crest_msg_result res;
	struct crest_frame hdr;
	char text[256], err[256] = "";
	uint32_t seq = 0;
	int status = 1, rc;

	memset(&m, 0, sizeof(m));
	if (crest_ckpt_claim_format(&claim, text, sizeof(text)) < 0 ||
	    crest_munge_encode(ji->socket[0] ? ji->socket : NULL, text, strlen(text), m.cred, sizeof(m.cred), err,
			       sizeof(err))) {
		fprintf(stderr, "crest: checkpoint: munge cannot sign the request: %s\n", err);
		return 1;
	}
	m.cred_len = (uint32_t)strlen(m.cred);
	int fd = connect_addr(t->addr);
	if (fd < 0) {
		fprintf(stderr, "crest: checkpoint: step %" PRIu32 ".%" PRIu32 ": cannot reach its root coordinator at "
			"%s: %s (has the step ended?)\n", ji->job, t->step, t->addr, strerror(-fd));
		return 1;
	}
	rc = crest_frame_recv(fd, &hdr, &ch, sizeof(ch), CHALLENGE_TIMEOUT_MS);
	if (rc >= 0 && hdr.type != CREST_MSG_CHALLENGE)
		rc = -EPROTO;
	if (rc >= 0)
		rc = crest_frame_send(fd, CREST_MSG_CKPT_MUNGE, &seq, &m, sizeof(m));
	while (!rc) {
		rc = crest_frame_recv(fd, &hdr, &res, sizeof(res), -1);
		if (rc >= 0 && hdr.type == CREST_MSG_CKPT_RESULT)
			break;
		if (rc >= 0)
			rc = 0;	/* nothing else is sent; ignore it */
	}
	if (rc < 0) {
		fprintf(stderr, "crest: checkpoint: step %" PRIu32 ".%" PRIu32 ": lost the root coordinator at %s (%s); "
			"its log is coord.log in the step's folder\n", ji->job, t->step, t->addr, strerror(-rc));
		goto out_close;
	}
	res.text[sizeof(res.text) - 1] = 0;
	if (res.error) {
		fprintf(stderr, "crest: checkpoint: %s\n", res.text[0] ? res.text : strerror(-res.error));
		goto out_close;
	}
	*gen = res.generation;
	status = 0;
out_close:
	close(fd);
	return status;
}

int cli_ckpt_munge(const struct cli_ckpt_job *j, char *why, size_t wsize)
{
	static struct target t[MAX_STEPS];
	struct job_info ji = { 0 };
	char err[200];
	int n, status = 0;

	if (crest_slurm_jobstep_parse(j->job, &ji.job, &ji.step, &ji.has_step)) {
		fprintf(stderr, "crest: checkpoint: --job %s: expected a Slurm job id, or JOBID.STEP\n", j->job);
		return 2;
	}
	if (j->root_addr && !ji.has_step) {
		fprintf(stderr, "crest: checkpoint: --root-addr needs --job JOBID.STEP\n");
		return 2;
	}
	if (crest_munge_load(err, sizeof(err))) {
		snprintf(why, wsize, "munge is not available here (%s)", err);
		return CLI_FALLBACK;
	}
	if (job_info(&ji, why, wsize))
		return CLI_FALLBACK;
	if (j->root_addr) {
		/* for tests: the root's address given, the folder not read */
		snprintf(t[0].addr, sizeof(t[0].addr), "%s", j->root_addr);
		t[0].step = ji.step;
		n = 1;
	} else {
		n = find_steps(&ji, j->base, t, why, wsize);
		if (n < 0)
			return CLI_FALLBACK;
	}
	for (int i = 0; i < n; i++) {
		uint64_t gen;
		if (ask_root(&ji, &t[i], j->flags, j->compress, &gen)) {
			status = 1;
			continue;
		}
		if (n == 1)
			printf("%" PRIu64 "\n", gen);
		else
			printf("%" PRIu32 ".%" PRIu32 " %" PRIu64 "\n", ji.job, t[i].step, gen);
	}
	return status;
}
