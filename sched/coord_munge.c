/* SPDX-License-Identifier: MIT */
/*
 * The root of a Slurm step takes a checkpoint request signed by munge
 * (`crest checkpoint --job`, docs/protocol.md "CKPT_MUNGE"): instead of
 * AUTH, the first frame of a TCP connection may be CKPT_MUNGE.  munged
 * tells who made the credential; the root takes the request from the job's
 * user (its own uid), root or SlurmUser, and only for its own job, run and
 * step.  Then the connection is a client that gets CKPT_RESULT; else it
 * gets CKPT_RESULT with the refusal and is dropped.
 */
#define LOG_MODULE "munge"
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "coord.h"
#include "log.h"
#include "munge_cred.h"
#include "slurm_text.h"

_Static_assert(sizeof(struct crest_msg_ckpt_munge) == 1048, "CKPT_MUNGE size");
_Static_assert(sizeof(struct crest_frame) + sizeof(struct crest_msg_ckpt_munge) <= COORD_INBUF,
	       "CKPT_MUNGE fits a coordinator's buffer");

/* from `scontrol show config` (coord_slurm_config), read at the first request */
static struct {
	bool asked;
	char socket[256];		/* AuthInfo socket=, "" for libmunge's default */
	bool slurm_uid_known;
	uint32_t slurm_uid;		/* SlurmUser */
} cfg;

static void config_load(struct coord *c)
{
	const char *out;
	char v[512], name[64];

	if (cfg.asked)
		return;
	cfg.asked = true;
	out = coord_slurm_config(c);
	if (!out) {
		pr_warn("without Slurm's config: munge's default socket, SlurmUser unknown (only the job's user and "
			"root may ask for checkpoints)");
		return;
	}
	if (!crest_slurm_config(out, "AuthInfo", v, sizeof(v)))
		crest_slurm_authinfo_socket(v, cfg.socket, sizeof(cfg.socket));
	if (!crest_slurm_config(out, "SlurmUser", v, sizeof(v)) &&
	    !crest_slurm_name_id(v, name, sizeof(name), &cfg.slurm_uid))
		cfg.slurm_uid_known = true;
	else
		pr_warn("scontrol show config: no SlurmUser=name(uid); only the job's user and root may ask for "
			"checkpoints");
}

/* this step's id, from DIR/STARTED (JOB.RUN.STEP, written by crest step-start) */
static int own_step(const struct coord *c, uint32_t *step)
{
	char path[CKDIR_PATH_MAX + 16], text[80] = "";
	struct crest_slurm_runid r;

	snprintf(path, sizeof(path), "%s/STARTED", c->o.dir);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(text, sizeof(text), f))
		text[0] = 0;
	fclose(f);
	if (crest_slurm_runid_parse(text, &r))
		return -EINVAL;
	*step = r.step;
	return 0;
}

static void refuse(struct coord *c, struct conn *conn, int error, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void refuse(struct coord *c, struct conn *conn, int error, const char *fmt, ...)
{
	struct crest_msg_result res = { .error = error };
	char why[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	pr_warn("checkpoint request from %s refused: %s; connection dropped", conn->peer, why);
	snprintf(res.text, sizeof(res.text), "the coordinator of job %s refused: %s",
		 c->o.slurm_job[0] ? c->o.slurm_job : "?", why);
	coord_send(c, conn, CREST_MSG_CKPT_RESULT, &res, sizeof(res));
	conn->dead = true;
}

void coord_munge_request(struct coord *c, struct conn *conn, const struct crest_frame *hdr, const void *payload)
{
	static struct crest_msg_ckpt_munge m;
	struct crest_ckpt_claim claim;
	char text[256], err[256];
	uint32_t step = 0;
	size_t len;
	uid_t uid;
	int rc;

	(void)hdr;
	if (coord_is_sub(c) || !c->o.slurm_job[0]) {
		refuse(c, conn, -EOPNOTSUPP, "only the root coordinator of a Slurm step takes munge-signed requests");
		return;
	}
	memcpy(&m, payload, sizeof(m));
	if (m.cred_len >= sizeof(m.cred) || m.cred[m.cred_len] || strlen(m.cred) != m.cred_len) {
		refuse(c, conn, -EBADMSG, "the credential is not NUL-terminated text of cred_len bytes");
		return;
	}
	config_load(c);
	rc = crest_munge_decode(cfg.socket[0] ? cfg.socket : NULL, m.cred, text, sizeof(text), &len, &uid, err,
				sizeof(err));
	if (rc) {
		refuse(c, conn, rc == -ENOSYS || rc == -EIO ? -EOPNOTSUPP : -EACCES,
		       "munge cannot check the credential here: %s", err);
		return;
	}
	if (uid != getuid() && uid != 0 && !(cfg.slurm_uid_known && uid == cfg.slurm_uid)) {
		refuse(c, conn, -EACCES, "uid %u is not the job's owner, root or SlurmUser", (unsigned)uid);
		return;
	}
	if (crest_ckpt_claim_parse(text, &claim)) {
		refuse(c, conn, -EBADMSG, "uid %u sent a credential that is not a checkpoint request", (unsigned)uid);
		return;
	}
	rc = own_step(c, &step);
	if (rc) {
		refuse(c, conn, -EIO, "it cannot read its step id from %s/STARTED: %s", c->o.dir, strerrordesc_np(-rc));
		return;
	}
	char mine[32];
	snprintf(mine, sizeof(mine), "%" PRIu32, claim.job);
	if (strcmp(mine, c->o.slurm_job) || claim.run != c->o.slurm_run || claim.step != step) {
		refuse(c, conn, -EACCES, "the credential of uid %u is for job %" PRIu32 " run %" PRIu32 " step %" PRIu32
		       ", not for run %u of step %" PRIu32, (unsigned)uid, claim.job, claim.run, claim.step,
		       c->o.slurm_run, step);
		return;
	}
	struct crest_msg_request req = { .flags = claim.flags, .compress = claim.compress };
	pr_info("checkpoint requested by uid %u from %s (munge)", (unsigned)uid, conn->peer);
	conn->kind = CONN_CLIENT;
	coord_ckpt_request(c, conn, &req);
}
