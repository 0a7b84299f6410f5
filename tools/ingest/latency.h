/* SPDX-License-Identifier: MIT */
/*
 * Latency distributions at commit: every call's final (compensated) duration goes in, and at the
 * end each calling-context node and each function gets its percentiles and log-linear histogram
 * (common/hist.h). Up to CTR_LAT_EXACT timed calls per run the durations themselves are kept, so
 * percentiles are exact; past that they fold into per-node histograms (memory bounded by
 * distinct (node, bucket) pairs, not by calls) and percentiles are within 0.4%.
 */
#ifndef CTR_LATENCY_H
#define CTR_LATENCY_H

#include <stdint.h>

#include "../../common/err.h"
#include "../../store/store.h"

#define CTR_LAT_EXACT ((size_t)1 << 16)

struct ctr_lat;

/* A new, empty collector; 0 or CTR_ENOMEM. Caller frees with ctr_lat_free(). @expect is a
 * guess of the run's timed calls (0: unknown): far above CTR_LAT_EXACT, histograms are used
 * from the start instead of after keeping (and then folding) CTR_LAT_EXACT durations. */
int ctr_lat_open(struct ctr_lat **out, uint64_t expect);
/* One call of node @node took @ns. Never fails: an allocation failure is remembered and
 * reported by ctr_lat_finish(). Not thread-safe. */
void ctr_lat_add(struct ctr_lat *l, uint32_t node, uint64_t ns);
/* The same for a call left out of the percentiles (`--sched`: preempted or stalled, see
 * struct ctr_node's preempted_calls): it counts only for a node, or a function, none of whose
 * calls went in with ctr_lat_add(). */
void ctr_lat_add_excluded(struct ctr_lat *l, uint32_t node, uint64_t ns);
/* Fills p50/p90/p99/p999 and hist of every node of @run that had timed calls and of every
 * function (over all its nodes). Needs nodes' final min_ns/max_ns (used to clamp histogram
 * estimates). Replaces any hist already there. 0 or CTR_ENOMEM. */
int ctr_lat_finish(struct ctr_lat *l, struct ctr_run *run, struct ctr_err *e);
void ctr_lat_free(struct ctr_lat *l); /* accepts NULL */

#endif
