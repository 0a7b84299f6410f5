/* SPDX-License-Identifier: MIT */
/*
 * Trends across runs: how one function's metric evolved over the runs of a store that match a
 * filter, oldest first, with the change from the previous run and a marker where the value
 * leaves the run-to-run noise of the series (the jump rule below; docs/trend.md). The store
 * computes the per-run metric (ctr_store_series(), one row per run); this module adds the
 * series logic and its text and JSON forms, so `ctrace trend` and a viewer share them.
 */
#ifndef CTR_TREND_H
#define CTR_TREND_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "../../common/err.h"
#include "../../store/store.h"

/*
 * The jump rule: the runs since the last jump form the current segment (its last
 * CTR_TREND_WINDOW runs are used); a run jumps when its value differs from the segment's median
 * by more than max(CTR_TREND_FLOOR, CTR_TREND_K * 1.4826 * MAD / median), a robust 3-sigma on
 * the segment's own noise; CTR_TREND_FLOOR_SHORT alone while the segment has fewer than
 * CTR_TREND_MIN_HISTORY runs. A jump starts a new segment, so a lasting slowdown is marked
 * once, at the run where it appears.
 */
#define CTR_TREND_FLOOR 0.25
#define CTR_TREND_FLOOR_SHORT 0.50
#define CTR_TREND_K 3.0
#define CTR_TREND_MIN_HISTORY 3
#define CTR_TREND_WINDOW 10

struct ctr_trend_point {
	struct ctr_run *run; /* header and metadata; owned by the trend */
	double value;	     /* the metric of the function in this run */
	double change;	     /* relative to the previous run; NAN for the first */
	double dev;	  /* relative to the median of the segment before it; NAN for the first */
	double threshold; /* relative deviation that counts as a jump here */
	int jump;
};

struct ctr_trend {
	char *function;
	enum ctr_metric metric;
	struct ctr_trend_point *points; /* oldest first */
	size_t n;
};

/* The trend of function @fn's metric @m over the runs of @s matching @f (its function field
 * is ignored): ctr_store_series() and ctr_trend_mark(). *@out is the caller's, freed with
 * ctr_trend_free(); a trend of no runs has n == 0. 0, CTR_EUSAGE, CTR_ENOMEM or the store's
 * error. */
int ctr_trend_compute(struct ctr_store *s, const struct ctr_filter *f, const char *fn,
		      enum ctr_metric m, struct ctr_trend **out, struct ctr_err *e);
/* Fills change, dev, threshold and jump of each of the @n points from their values and the
 * ones before them (the jump rule above). Pure; no allocation. */
void ctr_trend_mark(struct ctr_trend_point *pt, size_t n);
/* {"function", "metric", "runs": [summary of the run (ctr_runjson_summary) + value, change,
 * deviation, threshold, jump]}; new reference or NULL (no memory). */
json_t *ctr_trend_json(const struct ctr_trend *t);
/* The text table (docs/trend.md) on @out; strings from the traced program are written through
 * ctr_fmt_visible_stream(). 0, or -1 with errno when writing fails. */
int ctr_trend_print(FILE *out, const struct ctr_trend *t);
/* Frees @t and everything in it; accepts NULL. */
void ctr_trend_free(struct ctr_trend *t);

#endif
