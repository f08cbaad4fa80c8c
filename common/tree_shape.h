/* SPDX-License-Identifier: MIT */
/*
 * The shape of a Slurm step's coordinator tree (docs/slurm.md, "How a step
 * runs"): node 0 runs the root; with fan-out F, the parent of node k >= 1
 * is node (k - 1) / F, so that node k's children are k*F + 1 .. k*F + F.
 * Every node computes its place from the step's node count alone.
 */
#ifndef CREST_TREE_SHAPE_H
#define CREST_TREE_SHAPE_H

#include <stdbool.h>
#include <stdint.h>

#define CREST_FANOUT_DEFAULT	32
#define CREST_FANOUT_MAX	1024

/* node >= 1, fanout >= 1 */
uint32_t crest_tree_parent(uint32_t node, uint32_t fanout);
/* node has a child among nodes 0 .. nodes - 1 */
bool crest_tree_has_children(uint32_t node, uint32_t nodes, uint32_t fanout);
/* how many of nodes 0 .. nodes - 1 are node or below it */
uint32_t crest_tree_size(uint32_t node, uint32_t nodes, uint32_t fanout);

#endif
