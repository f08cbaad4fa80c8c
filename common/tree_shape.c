/* SPDX-License-Identifier: MIT */
/* The shape of a Slurm step's coordinator tree (tree_shape.h). */
#include "tree_shape.h"

uint32_t crest_tree_parent(uint32_t node, uint32_t fanout)
{
	return (node - 1) / fanout;
}

bool crest_tree_has_children(uint32_t node, uint32_t nodes, uint32_t fanout)
{
	return (uint64_t)node * fanout + 1 < nodes;
}

uint32_t crest_tree_size(uint32_t node, uint32_t nodes, uint32_t fanout)
{
	/* each level below node is one run of consecutive node numbers */
	uint64_t lo = node, hi = node, n = 0;

	while (lo < nodes) {
		n += (hi < nodes ? hi : nodes - 1) - lo + 1;
		lo = lo * fanout + 1;
		hi = hi * fanout + fanout;
	}
	return (uint32_t)n;
}
