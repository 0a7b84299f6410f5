/* SPDX-License-Identifier: MIT */
/*
 * The graph of a function (`ctrace-report --graph FUNC`, like `uftrace graph`): every calling
 * path that reaches it, merged into one backtrace tree, and everything it calls to any depth,
 * merged over threads and calling contexts. Recursion is counted once: only the outermost call
 * of FUNC on a path adds time (a recursive call's time is inside its outer call), and below FUNC
 * each calling-context node lands in exactly one merged node. Also the rooting of
 * `--tree --function GLOB` at the matching functions.
 */
#ifndef CTR_VIEW_GRAPH_H
#define CTR_VIEW_GRAPH_H

#include <stdio.h>

#include "report.h"

/* Header + per matching function (exact or glob, any name form): "backtrace" (callers up to
 * the thread start, with the calls and total time of FUNC through each path) and "calls"
 * (FUNC's merged subtree: total, self, calls), children by total (by calls or name with o->sort
 * CTR_SORT_CALLS / CTR_SORT_NAME), honouring o->depth and o->min_percent (of FUNC's total).
 * CTR_ENOTFOUND when nothing matches (nothing printed). */
int ctr_report_graph(FILE *out, const struct ctr_run *run, const struct ctr_report_opts *o,
		     const char *func, struct ctr_err *e);

/* Re-roots @t (built from @run by ctr_cct_build) for `--tree --function GLOB`: each thread's
 * roots become its outermost nodes of a matching function, in stored order. @matches counts
 * them. 0 or CTR_ENOMEM. */
int ctr_cct_root_at(struct ctr_cct *t, const struct ctr_run *run, const char *glob, size_t *matches,
		    struct ctr_err *e);

#endif
