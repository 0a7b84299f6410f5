/* SPDX-License-Identifier: MIT */
/*
 * Trend tests (view/trend.c): the jump rule on planted series (a 2x slowdown marked once at
 * the run where it appears, noise below the limit never marked, zeros, speedups), and a trend
 * computed from a store with its JSON and text forms.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/view/trend.h"

/* Marks @n values; returns the indexes of the jumps joined with ',' (static buffer). */
static const char *jumps(const double *v, size_t n, struct ctr_trend_point *pt)
{
	static char buf[256];

	memset(pt, 0, n * sizeof(*pt));
	for (size_t i = 0; i < n; i++)
		pt[i].value = v[i];
	ctr_trend_mark(pt, n);
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		if (pt[i].jump)
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%zu",
				 buf[0] ? "," : "", i);
	return buf;
}

Test(trend, slowdown_marked_once_where_it_appears)
{
	const double v[] = {100, 100, 100, 100, 100, 200, 200, 200};
	struct ctr_trend_point pt[8];

	cr_assert_str_eq(jumps(v, 8, pt), "5");
	cr_assert(isnan(pt[0].change));
	cr_assert(isnan(pt[0].dev));
	cr_assert_float_eq(pt[1].threshold, CTR_TREND_FLOOR_SHORT, 1e-12, "short history");
	cr_assert_float_eq(pt[4].threshold, CTR_TREND_FLOOR, 1e-12, "no noise: the floor");
	cr_assert_float_eq(pt[5].change, 1.0, 1e-12);
	cr_assert_float_eq(pt[5].dev, 1.0, 1e-12);
	cr_assert_float_eq(pt[6].change, 0.0, 1e-12);
	cr_assert_float_eq(pt[6].dev, 0.0, 1e-12, "measured against the new segment");
}

Test(trend, noise_within_the_limit_is_not_marked)
{
	const double v[] = {100, 110, 90, 105, 95, 100, 112, 88, 104, 96, 120};
	struct ctr_trend_point pt[11];

	cr_assert_str_eq(jumps(v, 11, pt), "");
	/* the segment's noise widens the limit past the floor: MAD 5 of median 100 */
	cr_assert_float_eq(pt[10].threshold, CTR_TREND_FLOOR, 1e-12);
	const double w[] = {100, 130, 70, 125, 75, 100, 160};
	struct ctr_trend_point q[7];

	cr_assert_str_eq(jumps(w, 7, q), "");
	cr_assert_gt(q[6].threshold, 0.6, "limit %.3f from the noise", q[6].threshold);
}

Test(trend, speedup_and_zeros)
{
	const double v[] = {200, 200, 200, 200, 100, 100};
	struct ctr_trend_point pt[6];

	cr_assert_str_eq(jumps(v, 6, pt), "4");
	cr_assert_float_eq(pt[4].dev, -0.5, 1e-12);
	const double z[] = {0, 0, 5};
	struct ctr_trend_point q[3];

	cr_assert_str_eq(jumps(z, 3, q), "2");
	cr_assert_float_eq(q[1].change, 0.0, 1e-12);
	cr_assert(isinf(q[2].change) && q[2].change > 0);
	cr_assert_str_eq(jumps(z, 0, q), "", "an empty series");
}

/* A run whose only function "step" is called @calls times in @self ns. */
static struct ctr_run *step_run(int i, uint64_t calls, uint64_t self)
{
	struct ctr_run *r = calloc(1, sizeof(*r));

	snprintf(r->id, sizeof(r->id), "run-%02d", i);
	r->command = strdup("./scale");
	r->host = strdup("ci-3");
	r->start_unix_ns = 1700000000000000000LL + i * 1000000000LL;
	r->duration_ns = 1000;
	r->n_meta = 2;
	r->meta = calloc(2, sizeof(*r->meta));
	r->meta[0] = (struct ctr_kv){strdup("branch"), strdup("main")};
	r->meta[1].key = strdup("commit");
	if (asprintf(&r->meta[1].value, "c%d", i) < 0)
		abort();
	r->n_functions = 1;
	r->functions = calloc(1, sizeof(*r->functions));
	r->functions[0] = (struct ctr_function){.id = 0,
						.kind = CTR_FN_FUNCTION,
						.name = strdup("step"),
						.linkage_name = strdup(""),
						.file = strdup(""),
						.module = CTR_NONE};
	r->n_threads = 1; /* the node's thread */
	r->threads = calloc(1, sizeof(*r->threads));
	r->threads[0] = (struct ctr_thread){.id = 0, .pid = 1, .tid = 1, .name = strdup("main")};
	r->n_nodes = 1;
	r->nodes = calloc(1, sizeof(*r->nodes));
	r->nodes[0] = (struct ctr_node){
	    .parent = CTR_NONE, .calls = calls, .total_ns = self, .self_ns = self};
	return r;
}

Test(trend, computed_from_a_store_with_json_and_text)
{
	struct ctr_store *s = NULL;
	struct ctr_trend *t = NULL;
	struct ctr_err e;
	const int scale[] = {1, 1, 1, 1, 1, 2, 2, 2};

	ctr_err_clear(&e);
	cr_assert_eq(ctr_store_open(&s, "memory:", &e), 0);
	for (int i = 7; i >= 0; i--) { /* saved newest first: the trend sorts */
		struct ctr_run *r = step_run(i, 1000u * scale[i], 5000u * scale[i] + i);

		cr_assert_eq(ctr_store_save(s, r, &e), 0, "%s", e.msg);
		ctr_run_free(r);
	}
	cr_assert_eq(ctr_trend_compute(s, NULL, "step", CTR_METRIC_CALLS, &t, &e), 0, "%s", e.msg);
	cr_assert_eq(t->n, 8);
	cr_assert_str_eq(t->points[0].run->id, "run-00");
	cr_assert_str_eq(t->points[7].run->id, "run-07");
	for (size_t i = 0; i < 8; i++)
		cr_assert_eq(t->points[i].jump, i == 5, "run %zu", i);

	json_t *o = ctr_trend_json(t), *runs = json_object_get(o, "runs");
	cr_assert_not_null(o);
	cr_assert_str_eq(json_string_value(json_object_get(o, "function")), "step");
	cr_assert_str_eq(json_string_value(json_object_get(o, "metric")), "calls");
	cr_assert_eq(json_array_size(runs), 8);
	json_t *r5 = json_array_get(runs, 5);
	cr_assert(json_is_true(json_object_get(r5, "jump")));
	cr_assert_float_eq(json_real_value(json_object_get(r5, "value")), 2000, 1e-9);
	cr_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(r5, "metadata"), "commit")), "c5");
	cr_assert(json_is_null(json_object_get(json_array_get(runs, 0), "change")));
	json_decref(o);

	char *txt = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&txt, &len);
	cr_assert_eq(ctr_trend_print(m, t), 0);
	fclose(m);
	cr_assert(!strncmp(txt, "calls of step in 8 run(s), oldest first\n", 40), "%s", txt);
	char *l5 = strstr(txt, "run-05"), *j = strstr(txt, "<< jump");
	cr_assert(l5 && j && j > l5 && j < strchr(l5, '\n'), "the jump is on run-05's line: %s",
		  txt);
	cr_assert_not_null(strstr(txt, "main@c5"));
	cr_assert_null(strstr(strstr(txt, "<< jump") + 1, "<< jump"), "one jump only");
	free(txt);
	ctr_trend_free(t);

	cr_assert_eq(ctr_trend_compute(s, NULL, "nosuch", CTR_METRIC_SELF, &t, &e), 0);
	cr_assert_eq(t->n, 0);
	ctr_trend_free(t);
	cr_assert_eq(ctr_trend_compute(s, NULL, NULL, CTR_METRIC_SELF, &t, &e), CTR_EUSAGE);
	cr_assert_null(t);
	ctr_trend_free(NULL);
	ctr_store_close(s);
}
