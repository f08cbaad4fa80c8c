/* SPDX-License-Identifier: MIT */
/* Unit tests of a Slurm step's coordinator tree shape (common/tree_shape.c). */
#include "harness.h"
#include "tree_shape.h"

TEST(one_level_up_to_the_fanout)
{
	/* 33 nodes with fan-out 32: every sub-coordinator's parent is the root */
	for (uint32_t k = 1; k < 33; k++) {
		EXPECT_EQ(crest_tree_parent(k, 32), 0);
		EXPECT(!crest_tree_has_children(k, 33, 32));
		EXPECT_EQ(crest_tree_size(k, 33, 32), 1);
	}
	EXPECT_EQ(crest_tree_size(0, 33, 32), 33);
	EXPECT(crest_tree_has_children(0, 2, 32));
	EXPECT(!crest_tree_has_children(0, 1, 32));
	EXPECT_EQ(crest_tree_size(0, 1, 32), 1);
}

TEST(a_chain_with_fanout_1)
{
	EXPECT_EQ(crest_tree_parent(1, 1), 0);
	EXPECT_EQ(crest_tree_parent(2, 1), 1);
	EXPECT_EQ(crest_tree_parent(3, 1), 2);
	EXPECT(crest_tree_has_children(1, 3, 1));
	EXPECT(!crest_tree_has_children(2, 3, 1));
	EXPECT_EQ(crest_tree_size(1, 4, 1), 3);
	EXPECT_EQ(crest_tree_size(3, 4, 1), 1);
}

TEST(every_node_counted_once_and_parents_agree)
{
	static const uint32_t fanouts[] = { 1, 2, 3, 7, 32 };
	for (size_t f = 0; f < sizeof(fanouts) / sizeof(fanouts[0]); f++) {
		uint32_t F = fanouts[f];
		for (uint32_t nodes = 1; nodes <= 300; nodes += 7) {
			/* a node's subtree is itself and its children's subtrees */
			for (uint32_t k = 0; k < nodes; k++) {
				uint32_t sum = 1;
				for (uint32_t m = k + 1; m < nodes; m++)
					if (crest_tree_parent(m, F) == k)
						sum += crest_tree_size(m, nodes, F);
				EXPECT_EQ(crest_tree_size(k, nodes, F), sum);
				EXPECT_EQ(crest_tree_has_children(k, nodes, F), sum > 1);
			}
			EXPECT_EQ(crest_tree_size(0, nodes, F), nodes);
		}
	}
	/* 1,024 nodes, fan-out 32: the root serves 32, each of those at most 32 */
	EXPECT_EQ(crest_tree_size(1, 1024, 32), 33);
	EXPECT_EQ(crest_tree_size(31, 1024, 32), 1 + 1023 - 31 * 32);
	EXPECT_EQ(crest_tree_parent(1023, 32), 31);
}

int main(void)
{
	return RUN_TESTS();
}
