/* SPDX-License-Identifier: MIT */
/*
 * Durations as users write them: "90s", "30m" (or "30min"), "12h", "7d".
 */
#ifndef CREST_COMMON_DURATION_H
#define CREST_COMMON_DURATION_H

#include <stdint.h>

/*
 * The seconds s names in *sec.  A number without a unit counts in units of
 * `bare` seconds (60 for a Slurm-like interval, as --time does), or is
 * refused when bare is 0.  0, or -EINVAL for anything else or more than
 * max seconds.
 */
int crest_duration_parse(const char *s, uint64_t bare, uint64_t max, uint64_t *sec);

#endif
