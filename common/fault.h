/* SPDX-License-Identifier: MIT */
/*
 * Fault injection for tests: CREST_FAULT=<component>:<phase>[:<action>]
 * (docs/testing.md, "Fault injection").  One value per process, read from
 * its environment once.
 */
#ifndef CREST_COMMON_FAULT_H
#define CREST_COMMON_FAULT_H

/* The action CREST_FAULT asks of `component` at `phase` ("die" when the
 * value names none), or NULL: no fault here.  Phase names compare without
 * case. */
const char *crest_fault(const char *component, const char *phase);

#endif
