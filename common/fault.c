/* SPDX-License-Identifier: MIT */
/* CREST_FAULT=<component>:<phase>[:<action>] (common/fault.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "env.h"
#include "fault.h"

const char *crest_fault(const char *component, const char *phase)
{
	static char comp[32], ph[32], act[32];
	static int parsed;	/* 0 not yet, 1 a fault, -1 none */

	if (!parsed) {
		const char *v = crest_getenv("CREST_FAULT");
		const char *c1 = v ? strchr(v, ':') : NULL;
		parsed = -1;
		if (c1 && (size_t)(c1 - v) < sizeof(comp)) {
			const char *c2 = strchr(c1 + 1, ':');
			size_t pl = c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1);
			const char *a = c2 ? c2 + 1 : "die";
			if (pl && pl < sizeof(ph) && *a && strlen(a) < sizeof(act)) {
				memcpy(comp, v, (size_t)(c1 - v));
				memcpy(ph, c1 + 1, pl);
				strcpy(act, a);
				parsed = 1;
			}
		}
	}
	if (parsed < 0 || strcmp(comp, component) || strcasecmp(ph, phase))
		return NULL;
	return act;
}
