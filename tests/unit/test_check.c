/* SPDX-License-Identifier: MIT */
/*
 * `ctrace check` statistics and comparison (view/check.c): the t distribution against tabled
 * quantiles, the across-run prediction test and the Mann-Whitney U test on hand-computed
 * cases, and ctr_check_compare() on hand-built runs: a planted 30% slowdown flagged and
 * nothing else, identical runs never flagged, a change below the threshold never a verdict,
 * recursion counted once in total, call-count changes and new/gone functions as behaviour
 * changes, and the errors (too few baselines, the candidate as a baseline, no match).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist.h"
#include "tools/view/check.h"

Test(check, t_sf_matches_tables)
{
	/* one-sided upper tail probabilities of Student's t */
	cr_assert_float_eq(ctr_check_t_sf(0, 1), 0.5, 1e-12);
	cr_assert_float_eq(ctr_check_t_sf(1, 1), 0.25, 1e-12);
	cr_assert_float_eq(ctr_check_t_sf(2, 2), (1 - 2 / sqrt(6)) / 2, 1e-12);
	cr_assert_float_eq(ctr_check_t_sf(6.314, 1), 0.05, 1e-4);
	cr_assert_float_eq(ctr_check_t_sf(3.365, 5), 0.01, 1e-4);
	cr_assert_float_eq(ctr_check_t_sf(2.228, 10), 0.025, 1e-4);
	cr_assert_float_eq(ctr_check_t_sf(2.457, 30), 0.01, 1e-4);
	cr_assert_float_eq(ctr_check_t_sf(1.96, 100000), 0.025, 1e-4, "the normal limit");
	cr_assert_float_eq(ctr_check_t_sf(-2.228, 10), 0.975, 1e-4);
	cr_assert_float_eq(ctr_check_t_sf(INFINITY, 3), 0, 0);
	cr_assert(isnan(ctr_check_t_sf(1, 0)));
}

Test(check, runs_p_prediction_test)
{
	const double v[] = {9, 10, 11}, flat[] = {10, 10, 10}, hundred[] = {100, 100, 100};
	double t = 3 / sqrt(4.0 / 3);

	cr_assert_float_eq(ctr_check_runs_p(v, 3, 13, 0, 1), (1 - t / sqrt(2 + t * t)) / 2, 1e-12);
	cr_assert_float_eq(ctr_check_runs_p(v, 3, 7, 0, 0), (1 - t / sqrt(2 + t * t)) / 2, 1e-12);
	cr_assert_float_eq(ctr_check_runs_p(v, 3, 7, 0, 1), 1 - (1 - t / sqrt(2 + t * t)) / 2,
			   1e-12);
	/* no spread: a difference on the tested side is certain, none is nothing */
	cr_assert_eq(ctr_check_runs_p(flat, 3, 11, 0, 1), 0);
	cr_assert_eq(ctr_check_runs_p(flat, 3, 10, 0, 1), 1);
	cr_assert_eq(ctr_check_runs_p(flat, 3, 9, 0, 1), 1);
	/* the resolution floor: sd 0.5, t = 1 / (0.5 sqrt(4/3)) with 2 degrees of freedom */
	t = 1 / (0.5 * sqrt(4.0 / 3));
	cr_assert_float_eq(ctr_check_runs_p(hundred, 3, 101, 0.005, 1),
			   (1 - t / sqrt(2 + t * t)) / 2, 1e-12);
	cr_assert_eq(ctr_check_runs_p(v, 1, 100, 0, 1), 1, "one run has no spread to test");
}

/* A histogram of the values @v (each below 256, so one bucket each). */
static size_t mkhist(struct ctr_hist_bucket *b, const uint64_t *v, size_t n)
{
	size_t nb = 0;

	for (size_t i = 0; i < n; i++) {
		uint32_t idx = ctr_hist_index(v[i]);
		size_t j = 0;

		while (j < nb && b[j].idx < idx)
			j++;
		if (j < nb && b[j].idx == idx) {
			b[j].count++;
			continue;
		}
		memmove(&b[j + 1], &b[j], (nb - j) * sizeof(*b));
		b[j] = (struct ctr_hist_bucket){.idx = idx, .count = 1};
		nb++;
	}
	return nb;
}

Test(check, mwu_hand_computed)
{
	const uint64_t xv[] = {3, 4, 5}, yv[] = {1, 2, 6}, same[] = {5, 5};
	struct ctr_hist_bucket x[8], y[8], s[8];
	size_t nx = mkhist(x, xv, 3), ny = mkhist(y, yv, 3), ns = mkhist(s, same, 2);
	double auc, z = (6 - 4.5 - 0.5) / sqrt(5.25);

	/* U = 6 of 9, no ties: var = 3 * 3 / 12 * 7 */
	cr_assert_float_eq(ctr_check_mwu_p(x, nx, y, ny, 1, &auc), 0.5 * erfc(z / M_SQRT2), 1e-12);
	cr_assert_float_eq(auc, 6.0 / 9, 1e-12);
	z = (4.5 - 6 - 0.5) / sqrt(5.25);
	cr_assert_float_eq(ctr_check_mwu_p(x, nx, y, ny, 0, NULL), 0.5 * erfc(z / M_SQRT2), 1e-12);
	cr_assert_eq(ctr_check_mwu_p(s, ns, s, ns, 1, &auc), 1, "every value ties");
	cr_assert_float_eq(auc, 0.5, 1e-12);
	cr_assert_eq(ctr_check_mwu_p(x, 0, y, ny, 1, NULL), 1, "empty");
}

Test(check, mwu_shift_and_no_shift)
{
	struct ctr_hist_bucket a[300], b[300];
	uint64_t va[200], vb[200];
	size_t na, nb;
	double p, auc;

	for (int i = 0; i < 200; i++) {
		va[i] = 20 + (uint64_t)i % 100;
		vb[i] = 20 + (uint64_t)(i * 7) % 100; /* the same values in another order */
	}
	na = mkhist(a, va, 200);
	nb = mkhist(b, vb, 200);
	p = ctr_check_mwu_p(b, nb, a, na, 1, &auc);
	cr_assert(p > 0.49 && p < 0.51, "identical samples: p = %g", p);
	cr_assert_float_eq(auc, 0.5, 1e-12);
	for (int i = 0; i < 200; i++)
		vb[i] = va[i] + 30;
	nb = mkhist(b, vb, 200);
	p = ctr_check_mwu_p(b, nb, a, na, 1, &auc);
	cr_assert(p < 1e-6, "shifted by 30: p = %g", p);
	cr_assert(ctr_check_mwu_p(b, nb, a, na, 0, NULL) > 0.999, "the other side");
}

/* ---- ctr_check_compare() on hand-built runs ---- */

static void add_fn(struct ctr_run *r, const char *name, uint64_t calls, uint64_t per_call)
{
	struct ctr_hist_bucket b = {.idx = ctr_hist_index(per_call), .count = calls};
	struct ctr_function *f;
	struct ctr_node *n;

	r->functions = realloc(r->functions, (r->n_functions + 1) * sizeof(*r->functions));
	r->nodes = realloc(r->nodes, (r->n_nodes + 1) * sizeof(*r->nodes));
	f = &r->functions[r->n_functions];
	memset(f, 0, sizeof(*f));
	f->id = (uint32_t)r->n_functions;
	f->name = strdup(name);
	f->linkage_name = strdup("");
	f->file = strdup("");
	f->p50_ns = f->p99_ns = per_call;
	cr_assert_eq(ctr_hist_encode(&b, 1, &f->hist, &f->hist_size), 0);
	n = &r->nodes[r->n_nodes];
	memset(n, 0, sizeof(*n));
	n->id = (uint32_t)r->n_nodes;
	n->parent = r->n_nodes ? 0 : CTR_NONE; /* the first function is the root */
	n->function = f->id;
	n->calls = calls;
	n->total_ns = n->self_ns = calls * per_call;
	r->n_functions++;
	r->n_nodes++;
}

/* A run "main" (1 call) + parse (100 calls of @parse ns) + render (100 of 2000 + @jitter ns)
 * + load (100 of 3000 ns). */
static struct ctr_run *mkrun(const char *id, uint64_t parse, uint64_t jitter)
{
	struct ctr_run *r = calloc(1, sizeof(*r));

	snprintf(r->id, sizeof(r->id), "%s", id);
	add_fn(r, "main", 1, 1000000);
	add_fn(r, "parse", 100, parse);
	add_fn(r, "render", 100, 2000 + jitter);
	add_fn(r, "load", 100, 3000);
	return r;
}

static const struct ctr_check_row *row_of(const struct ctr_check *c, const char *fn)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->rows[i].function, fn))
			return &c->rows[i];
	return NULL;
}

/* ctr_check_compare() with @e cleared first (an error keeps the first message). */
static int compare(struct ctr_run **b, size_t nb, const struct ctr_run *cand,
		   const struct ctr_check_opts *o, struct ctr_check **c, struct ctr_err *e)
{
	ctr_err_clear(e);
	return ctr_check_compare((const struct ctr_run *const *)b, nb, cand, o, c, e);
}

static const struct ctr_check_opts p50 = {
    .metric = CTR_CHECK_P50, .threshold = 0.05, .alpha = 0.01};

Test(check, slowdown_flagged_alone)
{
	struct ctr_run *b[5], *cand = mkrun("cand", 1300, 10);
	struct ctr_check *c = NULL;
	struct ctr_err e;
	const struct ctr_check_row *r;

	for (int i = 0; i < 5; i++) { /* parse: 990..1010 ns, render: 2000..2040 */
		char id[8];

		snprintf(id, sizeof(id), "b%d", i);
		b[i] = mkrun(id, 990 + 5 * (uint64_t)i, 10 * (uint64_t)i);
	}
	cr_assert_eq(compare(b, 5, cand, &p50, &c, &e), 0, "%s", e.msg);
	cr_assert_eq(c->n, 4);
	cr_assert_eq(c->n_compared, 4);
	cr_assert_eq(c->n_factor, 3, "main, called once, is not in the run-wide factor");
	cr_assert_float_eq(c->run_factor, 1, 0.01);
	cr_assert_eq(c->n_regressions, 1);
	cr_assert_eq(c->n_improvements, 0);
	cr_assert_eq(c->n_behaviour, 0);
	cr_assert_str_eq(c->rows[0].function, "parse", "regressions first");
	r = &c->rows[0];
	cr_assert_eq(r->verdict, CTR_CHECK_REGRESSION);
	cr_assert_float_eq(r->baseline, 1000, 1e-9);
	cr_assert_float_eq(r->candidate, 1300, 1e-9);
	cr_assert_float_eq(r->change, 0.3, 1e-9);
	cr_assert(r->p_value < 1e-4 && r->p_value == fmax(r->p_runs, r->p_rank), "p = %g",
		  r->p_value);
	cr_assert_float_eq(r->impact, 300 * 100, 1e-6);
	cr_assert_eq(row_of(c, "render")->verdict, CTR_CHECK_SAME);
	cr_assert_eq(row_of(c, "main")->verdict, CTR_CHECK_SAME);
	ctr_check_free(c);

	/* the same runs as JSON: one regression with the documented fields */
	cr_assert_eq(compare(b, 5, cand, &p50, &c, &e), 0);
	{
		json_t *o = ctr_check_json(c), *reg = json_object_get(o, "regressions");

		cr_assert_eq(json_array_size(reg), 1);
		cr_assert_str_eq(
		    json_string_value(json_object_get(json_array_get(reg, 0), "function")),
		    "parse");
		cr_assert_float_eq(
		    json_real_value(json_object_get(json_array_get(reg, 0), "baseline_ns")), 1000,
		    1e-9);
		cr_assert_eq(json_array_size(json_object_get(o, "improvements")), 0);
		cr_assert_eq(json_array_size(json_object_get(o, "baselines")), 5);
		json_decref(o);
	}
	ctr_check_free(c);
	for (int i = 0; i < 5; i++)
		ctr_run_free(b[i]);
	ctr_run_free(cand);
}

Test(check, identical_runs_and_small_changes_are_no_verdict)
{
	struct ctr_run *b[3] = {mkrun("b0", 1000, 0), mkrun("b1", 1000, 0), mkrun("b2", 1000, 0)};
	struct ctr_run *same = mkrun("same", 1000, 0), *small = mkrun("small", 1040, 0);
	struct ctr_check *c = NULL;
	struct ctr_err e;

	cr_assert_eq(compare(b, 3, same, &p50, &c, &e), 0);
	cr_assert_eq(c->n_regressions + c->n_improvements + c->n_behaviour, 0);
	ctr_check_free(c);
	/* +4%: certain (no spread, every call slower) but under the 5% threshold */
	cr_assert_eq(compare(b, 3, small, &p50, &c, &e), 0);
	cr_assert_eq(c->n_regressions, 0);
	cr_assert_float_eq(row_of(c, "parse")->change, 0.04, 1e-9);
	cr_assert(row_of(c, "parse")->p_rank < 1e-6, "the rank test alone is certain");
	ctr_check_free(c);
	for (int i = 0; i < 3; i++)
		ctr_run_free(b[i]);
	ctr_run_free(same);
	ctr_run_free(small);
}

Test(check, improvement_and_behaviour_changes)
{
	struct ctr_run *b[3] = {mkrun("b0", 1000, 0), mkrun("b1", 1010, 0), mkrun("b2", 990, 0)};
	struct ctr_run *cand = mkrun("cand", 500, 0);
	struct ctr_check_opts calls = {.metric = CTR_CHECK_CALLS, .threshold = 0.05, .alpha = 0.01};
	struct ctr_check *c = NULL;
	struct ctr_err e;
	const struct ctr_check_row *r;

	cand->nodes[2].calls = 150;    /* render called 150 times instead of 100 */
	add_fn(cand, "audit", 3, 100); /* new */
	free(cand->functions[0].name);
	cand->functions[0].name = strdup("main2"); /* main gone, main2 new */
	cr_assert_eq(compare(b, 3, cand, &p50, &c, &e), 0);
	cr_assert_eq(c->n_improvements, 1);
	cr_assert_str_eq(c->rows[0].function, "parse");
	cr_assert_float_eq(c->rows[0].change, -0.5, 1e-9);
	cr_assert_eq(c->n_behaviour, 4);
	cr_assert_eq(row_of(c, "render")->behaviour, CTR_CHECK_BEH_CALLS);
	cr_assert_eq(row_of(c, "audit")->behaviour, CTR_CHECK_BEH_NEW);
	cr_assert_eq(row_of(c, "main")->behaviour, CTR_CHECK_BEH_GONE);
	cr_assert_eq(row_of(c, "main2")->behaviour, CTR_CHECK_BEH_NEW);
	cr_assert_eq(row_of(c, "audit")->compared, 0);
	ctr_check_free(c);
	/* --metric calls: render's +50% is a regression, certain with identical baselines */
	cr_assert_eq(compare(b, 3, cand, &calls, &c, &e), 0);
	cr_assert_eq(c->n_regressions, 1);
	r = &c->rows[0];
	cr_assert_str_eq(r->function, "render");
	cr_assert_float_eq(r->change, 0.5, 1e-9);
	cr_assert_eq(r->p_value, 0);
	cr_assert(isnan(r->p_rank));
	ctr_check_free(c);
	for (int i = 0; i < 3; i++)
		ctr_run_free(b[i]);
	ctr_run_free(cand);
}

Test(check, total_counts_recursion_once)
{
	struct ctr_run *b[2] = {mkrun("b0", 1000, 0), mkrun("b1", 1000, 0)};
	struct ctr_run *cand = mkrun("cand", 1000, 0);
	struct ctr_check_opts total = {.metric = CTR_CHECK_TOTAL, .threshold = 0.05, .alpha = 0.01};
	struct ctr_check *c = NULL;
	struct ctr_err e;

	for (int i = 0; i < 2; i++) { /* parse calls itself: the inner node is inside the outer */
		struct ctr_run *r = b[i];

		r->nodes = realloc(r->nodes, (r->n_nodes + 1) * sizeof(*r->nodes));
		r->nodes[r->n_nodes] = (struct ctr_node){.id = (uint32_t)r->n_nodes,
							 .parent = 1,
							 .function = 1,
							 .calls = 100,
							 .total_ns = 50000,
							 .self_ns = 50000};
		r->nodes[1].self_ns -= 50000;
		r->n_nodes++;
	}
	cr_assert_eq(compare(b, 2, cand, &total, &c, &e), 0);
	/* outermost calls only: 100000 ns over 100 calls, not 150000 over 200 */
	cr_assert_float_eq(row_of(c, "parse")->baseline, 1000, 1e-9);
	cr_assert_eq(row_of(c, "parse")->calls_min, 200);
	cr_assert_eq(row_of(c, "parse")->behaviour, CTR_CHECK_BEH_CALLS);
	ctr_check_free(c);
	for (int i = 0; i < 2; i++)
		ctr_run_free(b[i]);
	ctr_run_free(cand);
}

Test(check, errors)
{
	struct ctr_run *b[2] = {mkrun("b0", 1000, 0), mkrun("b1", 1000, 0)};
	struct ctr_check_opts glob = p50, bad = p50;
	struct ctr_check *c = (struct ctr_check *)1;
	struct ctr_err e;

	cr_assert_eq(compare(b, 1, b[1], &p50, &c, &e), CTR_EUSAGE);
	cr_assert_null(c);
	cr_assert(strstr(e.msg, "at least 2 baseline runs"), "%s", e.msg);
	cr_assert_eq(compare(b, 2, b[1], &p50, &c, &e), CTR_EUSAGE,
		     "the candidate among the baselines");
	glob.glob = "nosuch*";
	cr_assert_eq(compare(b, 1, b[1], &glob, &c, &e), CTR_EUSAGE);
	{
		struct ctr_run *cand = mkrun("cand", 1000, 0);

		cr_assert_eq(compare(b, 2, cand, &glob, &c, &e), CTR_ENOTFOUND);
		cr_assert(strstr(e.msg, "nosuch*"), "%s", e.msg);
		bad.alpha = 0;
		cr_assert_eq(compare(b, 2, cand, &bad, &c, &e), CTR_EUSAGE);
		ctr_run_free(cand);
	}
	cr_assert_str_eq(ctr_check_metric_name(CTR_CHECK_P99), "p99");
	{
		enum ctr_check_metric m;

		cr_assert_eq(ctr_check_metric_parse("calls", &m), 0);
		cr_assert_eq(m, CTR_CHECK_CALLS);
		cr_assert_eq(ctr_check_metric_parse("mean", &m), CTR_EUSAGE);
	}
	for (int i = 0; i < 2; i++)
		ctr_run_free(b[i]);
}

/* @r with every duration multiplied by @f (a machine that is slower during the whole run). */
static void scale_run(struct ctr_run *r, double f)
{
	for (size_t i = 0; i < r->n_functions; i++) {
		struct ctr_function *fn = &r->functions[i];
		uint64_t d = (uint64_t)llround((double)fn->p50_ns * f);
		/* the nodes are in function order: node i is function i's */
		struct ctr_hist_bucket b = {.idx = ctr_hist_index(d), .count = r->nodes[i].calls};

		fn->p50_ns = fn->p99_ns = d;
		free(fn->hist);
		cr_assert_eq(ctr_hist_encode(&b, 1, &fn->hist, &fn->hist_size), 0);
		r->nodes[i].total_ns = r->nodes[i].self_ns = d * r->nodes[i].calls;
	}
}

Test(check, run_wide_slowdown_is_not_every_function)
{
	struct ctr_run *b[4] = {mkrun("b0", 1000, 0), mkrun("b1", 1000, 10), mkrun("b2", 1000, 20),
				mkrun("b3", 1000, 30)};
	struct ctr_run *slow = mkrun("slow", 1000, 15), *both = mkrun("both", 1300, 15);
	struct ctr_check_opts raw = p50;
	struct ctr_check *c = NULL;
	struct ctr_err e;

	scale_run(slow, 1.15);
	scale_run(both, 1.15);
	cr_assert_eq(compare(b, 4, slow, &p50, &c, &e), 0, "%s", e.msg);
	cr_assert_eq(c->normalized, 1);
	cr_assert_eq(c->n_factor, 3);
	cr_assert_float_eq(c->run_factor, 1.15, 1e-3);
	cr_assert_eq(c->n_regressions + c->n_improvements, 0, "the machine, not the functions");
	cr_assert_float_eq(row_of(c, "parse")->raw_change, 0.15, 1e-3);
	cr_assert_float_eq(row_of(c, "parse")->change, 0, 1e-3);
	ctr_check_free(c);
	raw.no_normalize = 1;
	cr_assert_eq(compare(b, 4, slow, &raw, &c, &e), 0);
	cr_assert_eq(c->normalized, 0);
	cr_assert_eq(c->run_factor, 1);
	/* --no-normalize: parse, render and load 15% slower; main too, but one call against four is
	 * as far as a rank test gets (p = 0.067) */
	cr_assert_eq(c->n_regressions, 3, "--no-normalize: every function 15%% slower");
	cr_assert_eq(row_of(c, "main")->verdict, CTR_CHECK_SAME);
	cr_assert_float_eq(row_of(c, "main")->p_rank, 0.5 * erfc(1.5 / M_SQRT2), 1e-9);
	ctr_check_free(c);
	/* a real 30% on top of the run-wide 15%: parse alone, at +30% */
	cr_assert_eq(compare(b, 4, both, &p50, &c, &e), 0);
	cr_assert_eq(c->n_regressions, 1);
	cr_assert_str_eq(c->rows[0].function, "parse");
	cr_assert_float_eq(c->rows[0].change, 0.3, 2e-3);
	cr_assert_float_eq(c->rows[0].raw_change, 1.3 * 1.15 - 1, 2e-3);
	cr_assert(c->rows[0].p_rank < 1e-6, "the rescaled histogram still ranks higher");
	ctr_check_free(c);
	for (int i = 0; i < 4; i++)
		ctr_run_free(b[i]);
	ctr_run_free(slow);
	ctr_run_free(both);
}

Test(check, json_run_factor)
{
	struct ctr_run *b[3] = {mkrun("b0", 1000, 0), mkrun("b1", 1000, 0), mkrun("b2", 1000, 0)};
	struct ctr_run *slow = mkrun("slow", 1000, 0);
	struct ctr_check *c = NULL;
	struct ctr_err e;
	json_t *o;

	scale_run(slow, 1.5);
	cr_assert_eq(compare(b, 3, slow, &p50, &c, &e), 0);
	o = ctr_check_json(c);
	cr_assert_float_eq(json_real_value(json_object_get(o, "run_factor")), 1.5, 1e-3);
	cr_assert(json_is_true(json_object_get(o, "normalized")));
	cr_assert_eq(json_array_size(json_object_get(o, "regressions")), 0);
	json_decref(o);
	ctr_check_free(c);
	for (int i = 0; i < 3; i++)
		ctr_run_free(b[i]);
	ctr_run_free(slow);
}
