/* SPDX-License-Identifier: MIT */
/* Unit tests of durations as users write them (common/duration.c). */
#include <errno.h>

#include "duration.h"
#include "harness.h"

#define DAY 86400ULL

TEST(units)
{
	uint64_t s = 0;
	EXPECT_EQ(crest_duration_parse("90s", 0, DAY, &s), 0);
	EXPECT_EQ(s, 90);
	EXPECT_EQ(crest_duration_parse("30m", 0, DAY, &s), 0);
	EXPECT_EQ(s, 1800);
	EXPECT_EQ(crest_duration_parse("30min", 0, DAY, &s), 0);
	EXPECT_EQ(s, 1800);
	EXPECT_EQ(crest_duration_parse("12h", 0, DAY, &s), 0);
	EXPECT_EQ(s, 12 * 3600);
	EXPECT_EQ(crest_duration_parse("7d", 0, 7 * DAY, &s), 0);
	EXPECT_EQ(s, 7 * DAY);
	EXPECT_EQ(crest_duration_parse("0s", 0, DAY, &s), 0);
	EXPECT_EQ(s, 0);
}

TEST(bare_numbers)
{
	uint64_t s = 0;
	EXPECT_EQ(crest_duration_parse("5", 60, DAY, &s), 0);	/* minutes, like --time */
	EXPECT_EQ(s, 300);
	EXPECT_EQ(crest_duration_parse("5", 0, DAY, &s), -EINVAL);	/* a unit is needed */
}

TEST(refused)
{
	uint64_t s = 42;
	const char *bad[] = { "", "d", "-5m", "+5m", " 5m", "5x", "5 m", "5mm", "1.5h", "5D" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_EQ(crest_duration_parse(bad[i], 60, DAY, &s), -EINVAL);
	EXPECT_EQ(crest_duration_parse(NULL, 60, DAY, &s), -EINVAL);
	EXPECT_EQ(crest_duration_parse("2d", 0, DAY, &s), -EINVAL);	/* above max */
	EXPECT_EQ(crest_duration_parse("99999999999999999999d", 0, UINT64_MAX, &s), -EINVAL);
	EXPECT_EQ(crest_duration_parse("999999999999999999d", 0, UINT64_MAX, &s), -EINVAL);	/* overflows */
	EXPECT_EQ(s, 42);
}

int main(void)
{
	return RUN_TESTS();
}
