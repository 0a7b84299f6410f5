/* SPDX-License-Identifier: MIT */
/*
 * Latency views of a committed run (the distributions commit stored, ingest/latency.h):
 * `ctrace-report --percentiles` (a flat table of p50/p90/p99/p99.9/max per function),
 * `--hist FUNC` (a text histogram per matching function), and the JSON fields the report and
 * the diff add per function. They read only struct ctr_run, never the timeline.
 */
#ifndef CTR_VIEW_LATENCY_H
#define CTR_VIEW_LATENCY_H

#include <jansson.h>
#include <stdio.h>

#include "report.h"

/* Header + one row per function (honouring sort, top and the --function glob): calls, p50,
 * p90, p99, p99.9, max, total, name. Functions without timed calls (marks) are left out.
 * CTR_ENOTFOUND when o->function matches nothing; CTR_EIO; CTR_ENOMEM. */
int ctr_report_percentiles(FILE *out, const struct ctr_run *run, const struct ctr_report_opts *o,
			   struct ctr_err *e);
/* Header + per function matching @func (exact or glob, either name form): a summary line and
 * its histogram, at most about 40 rows of [lower, upper] ranges with counts and a bar.
 * CTR_ENOTFOUND if none matches; CTR_EFORMAT for a corrupt stored histogram. */
int ctr_report_hist(FILE *out, const struct ctr_run *run, const struct ctr_report_opts *o,
		    const char *func, struct ctr_err *e);
/* Adds p50_ns, p90_ns, p99_ns, p999_ns and "hist" (an array of [lower_ns, upper_ns, count],
 * empty when the run has none) of function @fid to the JSON object @j. 0 or CTR_ENOMEM. */
int ctr_report_lat_json(json_t *j, const struct ctr_run *run, uint32_t fid);

#endif
