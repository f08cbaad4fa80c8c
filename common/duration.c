/* SPDX-License-Identifier: MIT */
/* Durations as users write them (duration.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"

int crest_duration_parse(const char *s, uint64_t bare, uint64_t max, uint64_t *sec)
{
	uint64_t mult;
	char *e;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &e, 10);
	if (errno)
		return -EINVAL;
	if (!*e)
		mult = bare;
	else if (!strcmp(e, "s"))
		mult = 1;
	else if (!strcmp(e, "m") || !strcmp(e, "min"))
		mult = 60;
	else if (!strcmp(e, "h"))
		mult = 3600;
	else if (!strcmp(e, "d"))
		mult = 86400;
	else
		return -EINVAL;
	if (!mult || v > max / mult)
		return -EINVAL;
	*sec = v * mult;
	return 0;
}
