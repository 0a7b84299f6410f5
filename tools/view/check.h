/* SPDX-License-Identifier: MIT */
/*
 * The regression gate behind `ctrace check`: each function's per-call figure in a candidate run
 * against the same function in several baseline runs, with a test that knows the run-to-run
 * noise. Two tests must both reject "no change" (an intersection-union test, so the reported
 * p-value is the larger of the two): a prediction test of the candidate's per-run value against
 * the baselines' mean and spread (Student's t with k - 1 degrees of freedom), and, for the
 * duration metrics the histograms describe (total, p50), a Mann-Whitney U rank test of the
 * candidate's per-call durations against the baselines' pooled ones. A change smaller than the
 * threshold is never a verdict. For the duration metrics the candidate is first divided by its
 * run-wide factor (the median ratio over the functions), so a machine that was slower or busier
 * during the whole candidate run does not make every function a regression. Call-count changes and
 * functions that appear or disappear are reported as behaviour changes. docs/ci.md explains the
 * statistics; this module is pure computation and its text and JSON forms, so the CLI and a viewer
 * share them.
 */
#ifndef CTR_CHECK_H
#define CTR_CHECK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../../common/err.h"
#include "../../common/hist.h"
#include "../../store/store.h"

/* The per-run figure compared, per function. */
enum ctr_check_metric {
	CTR_CHECK_TOTAL = 0, /* mean total (inclusive) time per outermost call */
	CTR_CHECK_SELF,	     /* mean self time per call */
	CTR_CHECK_P50,	     /* median call duration (from the latency histogram) */
	CTR_CHECK_P99,	     /* 99th percentile call duration */
	CTR_CHECK_CALLS,     /* number of calls */
	CTR_CHECK_METRIC_COUNT
};

#define CTR_CHECK_MIN_BASELINES 2    /* the spread of fewer runs is unknown */
#define CTR_CHECK_DEF_THRESHOLD 0.05 /* relative change below which nothing is a verdict */
#define CTR_CHECK_DEF_ALPHA 0.001    /* significance level of each one-sided test */
/* Floor of a duration's spread across runs, relative to its mean: whole runs fall into speed
 * modes about 3% apart on the VMs this was measured on (docs/ci.md), so baselines that agree
 * more closely than that by chance do not make a slower-mode candidate significant. */
#define CTR_CHECK_SPREAD_FLOOR 0.02
/* The run-wide factor is the median ratio of the functions with at least
 * CTR_CHECK_FACTOR_CALLS calls in the candidate (a function called a few times has a noisy
 * median: main()'s is the run's duration), when there are CTR_CHECK_MIN_NORMALIZE of them. */
#define CTR_CHECK_MIN_NORMALIZE 3
#define CTR_CHECK_FACTOR_CALLS 20

struct ctr_check_opts {
	enum ctr_check_metric metric;
	double threshold; /* relative, >= 0 */
	double alpha;	  /* in (0, 0.5] */
	const char *glob; /* only functions matching it (ctr_report_name_match); NULL = all */
	int no_normalize; /* judge raw figures, not relative to the run-wide factor */
};

enum ctr_check_verdict { CTR_CHECK_SAME = 0, CTR_CHECK_REGRESSION, CTR_CHECK_IMPROVEMENT };

/* What kind of behaviour change a row carries. */
#define CTR_CHECK_BEH_CALLS 0x1u /* candidate's calls outside the baselines' range */
#define CTR_CHECK_BEH_NEW 0x2u	 /* in the candidate, in no baseline */
#define CTR_CHECK_BEH_GONE 0x4u	 /* in every baseline, not in the candidate */

struct ctr_check_row {
	char *function;	   /* display name */
	double baseline;   /* mean of the baselines' per-run values (NAN for NEW) */
	double candidate;  /* the candidate's value (NAN for GONE) */
	double change;	   /* candidate / run_factor / baseline - 1: what is judged */
	double raw_change; /* candidate / baseline - 1 */
	double p_value;	   /* max(p_runs, p_rank) for the direction of the change */
	double p_runs;	   /* the across-run prediction test, one-sided */
	double p_rank;	   /* the rank test, one-sided; NAN where it does not apply */
	double
	    impact; /* |candidate / run_factor - baseline| x candidate calls (ns; calls: count) */
	uint64_t calls_min; /* the baselines' smallest and largest call counts */
	uint64_t calls_max;
	uint64_t candidate_calls;
	size_t n_baselines; /* baselines that have the function */
	int verdict;	    /* enum ctr_check_verdict */
	unsigned behaviour; /* CTR_CHECK_BEH_* */
	int compared;	    /* 0 when it is in fewer than CTR_CHECK_MIN_BASELINES baselines */
};

struct ctr_check {
	enum ctr_check_metric metric;
	double threshold, alpha;
	char candidate[CTR_RUN_ID_MAX];
	char (*baselines)[CTR_RUN_ID_MAX];
	size_t n_baselines;
	/* How much slower (> 1) or faster the candidate run is as a whole: the median over the
	 * n_factor compared functions (CTR_CHECK_FACTOR_CALLS) of candidate / baseline, when
	 * normalized (a duration metric, at least CTR_CHECK_MIN_NORMALIZE functions, no
	 * opts.no_normalize); else 1. A machine that is busier or slower during the candidate moves
	 * every function; a regression moves a few. */
	double run_factor;
	size_t n_factor;
	int normalized;
	/* Every function seen: regressions (largest impact first), improvements (same), then the
	 * rest by name. */
	struct ctr_check_row *rows;
	size_t n;
	size_t n_compared, n_regressions, n_improvements, n_behaviour;
};

/* Compares candidate @cand with the @nb baseline runs @base (loaded without their timeline;
 * at least CTR_CHECK_MIN_BASELINES, none of them @cand) under @o. *@out is the caller's, freed
 * with ctr_check_free(). 0; CTR_EUSAGE for too few baselines or a bad option;
 * CTR_ENOTFOUND when no function matching @o->glob is in both the candidate and two
 * baselines (so a typo is never "no regression"); CTR_ENOMEM; CTR_EFORMAT for a corrupt
 * histogram. */
int ctr_check_compare(const struct ctr_run *const *base, size_t nb, const struct ctr_run *cand,
		      const struct ctr_check_opts *o, struct ctr_check **out, struct ctr_err *e);
/* Frees @c and everything in it; accepts NULL. */
void ctr_check_free(struct ctr_check *c);

/* {"candidate", "baselines": [ids], "metric", "threshold", "alpha", "compared", "run_factor",
 * "normalized", "regressions": [{"function", "metric", "baseline_ns", "candidate_ns", "change",
 * "p_value", "raw_change", "p_runs", "p_rank", "impact_ns", "baseline_runs"}], "improvements":
 * [...], "behaviour_changes": [{"function", "kind", "baseline_calls_min", "baseline_calls_max",
 * "candidate_calls"}]}; the *_ns fields hold counts for the calls metric. New reference or
 * NULL (no memory). */
json_t *ctr_check_json(const struct ctr_check *c);
/* The text tables (docs/ci.md) on @out, program strings through ctr_fmt_visible_stream().
 * 0, or -1 with errno when writing fails. */
int ctr_check_print(FILE *out, const struct ctr_check *c);

/* "total", "self", "p50", "p99", "calls"; NULL for an unknown value. */
const char *ctr_check_metric_name(enum ctr_check_metric m);
/* The metric named @name into *@m: 0, or CTR_EUSAGE. */
int ctr_check_metric_parse(const char *name, enum ctr_check_metric *m);

/* ---- the statistics, exposed for the unit tests ---- */

/* P(T > @t) for Student's t with @df >= 1 degrees of freedom (the closed forms for integer
 * degrees of freedom, Abramowitz & Stegun 26.7.3-4). Pure. */
double ctr_check_t_sf(double t, unsigned df);
/* One-sided p-value that the candidate value @c is larger (@upper) or smaller than a new
 * draw from the population of the @k >= 2 baseline values @v: the prediction statistic
 * (c - mean) / (s * sqrt(1 + 1/k)) under t with k - 1 degrees of freedom, s the sample
 * standard deviation raised to @floor_rel * |mean| at least. With a zero spread: 0 when @c is
 * on the tested side of the mean, else 1. Pure. */
double ctr_check_runs_p(const double *v, size_t k, double c, double floor_rel, int upper);
/* One-sided Mann-Whitney U p-value that the values of histogram @x (@nx buckets, sorted) are
 * stochastically larger (@upper) or smaller than those of @y, ties (a shared bucket) counted
 * half, with the tie-corrected normal approximation and a continuity correction. 1 when either
 * is empty or every value ties. *@auc (may be NULL) is U / (|x| |y|): P(X > Y) + P(X = Y) / 2.
 * Pure. */
double ctr_check_mwu_p(const struct ctr_hist_bucket *x, size_t nx, const struct ctr_hist_bucket *y,
		       size_t ny, int upper, double *auc);

#endif
