/* SPDX-License-Identifier: MIT */
/*
 * Munge credentials for `crest checkpoint --job` (docs/protocol.md,
 * "CKPT_MUNGE").  libmunge is loaded at run time (dlopen of
 * libmunge.so.2): crest builds without munge's headers and runs where munge
 * is not installed, and then says so.
 *
 * The credential carries a claim, one line of text that names the job, the
 * run and the step it is for and what it asks, so that it cannot be used
 * against another job or step; munged adds who made it (uid) and refuses
 * to decode it twice or after its time to live.
 */
#ifndef CREST_MUNGE_CRED_H
#define CREST_MUNGE_CRED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* 0 when libmunge.so.2 could be loaded (once); else -ENOSYS, why in err */
int crest_munge_load(char *err, size_t errlen);

/*
 * A credential for payload[0..len) through munged at socket (NULL: libmunge's
 * default), as NUL-terminated text in cred.  0; -ENOSYS (no libmunge),
 * -EMSGSIZE (longer than size - 1), -EIO (munged's error in err).
 */
int crest_munge_encode(const char *socket, const void *payload, size_t len, char *cred, size_t size, char *err,
		       size_t errlen);

/*
 * Checks cred through munged at socket: 0 with the payload (NUL-terminated,
 * *len bytes before the NUL) and the uid that made it; -ENOSYS, -EACCES (not
 * valid: forged, expired, replayed, another realm; why in err), -EIO (munged
 * unreachable), -EMSGSIZE (payload larger than size - 1).
 */
int crest_munge_decode(const char *socket, const char *cred, char *payload, size_t size, size_t *len, uid_t *uid,
		       char *err, size_t errlen);

/* what a credential asks for */
struct crest_ckpt_claim {
	uint32_t job, run, step;	/* the Slurm job, its run (SLURM_RESTART_COUNT), the step */
	uint32_t flags;			/* CREST_REQ_* */
	uint32_t compress;		/* enum crest_comp, ~0u the default */
};

/* "crest-checkpoint 1 job=J run=R step=S flags=F compress=C": its length,
 * or -ENAMETOOLONG */
int crest_ckpt_claim_format(const struct crest_ckpt_claim *c, char *buf, size_t size);
/* exactly that text (no newline, nothing after it): 0 or -EINVAL */
int crest_ckpt_claim_parse(const char *text, struct crest_ckpt_claim *c);

#endif
