/* SPDX-License-Identifier: MIT */
/*
 * Trends across runs (trend.h): the series from the store, the change and jump rule over it,
 * and its text and JSON forms. The store does the per-run work (one row per run); what is
 * left here is linear in the number of runs, so a trend over 10,000 runs costs what reading
 * them does.
 */
#include "trend.h"

#include "../../common/fmt.h"
#include "../../store/runjson.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void ctr_trend_free(struct ctr_trend *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		ctr_run_free(t->points[i].run);
	free(t->points);
	free(t->function);
	free(t);
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of @v (reordered). */
static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* @v relative to @ref: v / ref - 1, with 0 -> 0 and x > 0 from 0 as +infinity. */
static double rel(double v, double ref)
{
	return ref > 0 ? v / ref - 1 : (v > 0 ? INFINITY : 0);
}

void ctr_trend_mark(struct ctr_trend_point *pt, size_t n)
{
	double win[CTR_TREND_WINDOW], dev[CTR_TREND_WINDOW];
	size_t seg = 0; /* first run of the current segment */

	for (size_t i = 0; i < n; i++) {
		size_t from = i - seg > CTR_TREND_WINDOW ? i - CTR_TREND_WINDOW : seg,
		       nw = i - from;
		double med, mad, lim;

		pt[i].change = pt[i].dev = NAN;
		pt[i].jump = 0;
		pt[i].threshold =
		    nw < CTR_TREND_MIN_HISTORY ? CTR_TREND_FLOOR_SHORT : CTR_TREND_FLOOR;
		if (i == 0)
			continue;
		pt[i].change = rel(pt[i].value, pt[i - 1].value);
		for (size_t j = 0; j < nw; j++)
			win[j] = pt[from + j].value;
		med = median(win, nw);
		if (nw >= CTR_TREND_MIN_HISTORY && med > 0) {
			for (size_t j = 0; j < nw; j++)
				dev[j] = fabs(win[j] - med);
			mad = median(dev, nw);
			lim = CTR_TREND_K * 1.4826 * mad / med;
			if (lim > pt[i].threshold)
				pt[i].threshold = lim;
		}
		pt[i].dev = rel(pt[i].value, med);
		pt[i].jump = fabs(pt[i].dev) > pt[i].threshold;
		if (pt[i].jump)
			seg = i;
	}
}

int ctr_trend_compute(struct ctr_store *s, const struct ctr_filter *f, const char *fn,
		      enum ctr_metric m, struct ctr_trend **out, struct ctr_err *e)
{
	struct ctr_series_point *pts = NULL;
	struct ctr_trend *t = NULL;
	size_t n = 0;
	int ret;

	*out = NULL;
	if ((ret = ctr_store_series(s, f, fn, m, &pts, &n, e)) < 0)
		return ret;
	if (!(t = calloc(1, sizeof(*t))) || !(t->function = strdup(fn)) ||
	    (n && !(t->points = calloc(n, sizeof(*t->points))))) {
		ctr_series_free(pts, n);
		ctr_trend_free(t);
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory computing a trend");
	}
	t->metric = m;
	t->n = n;
	for (size_t i = 0; i < n; i++) {
		t->points[i].run = pts[i].run; /* moved */
		t->points[i].value = pts[i].value;
	}
	free(pts);
	ctr_trend_mark(t->points, t->n);
	*out = t;
	return 0;
}

static json_t *real_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

json_t *ctr_trend_json(const struct ctr_trend *t)
{
	json_t *o = json_object(), *a = json_array();
	int fail = !o || !a;

	for (size_t i = 0; !fail && i < t->n; i++) {
		const struct ctr_trend_point *p = &t->points[i];
		json_t *row = ctr_runjson_summary(p->run);

		if (!row) {
			fail = 1;
			break;
		}
		fail |= json_object_set_new(row, "value", json_real(p->value)) < 0;
		fail |= json_object_set_new(row, "change", real_or_null(p->change)) < 0;
		fail |= json_object_set_new(row, "deviation", real_or_null(p->dev)) < 0;
		fail |= json_object_set_new(row, "threshold", json_real(p->threshold)) < 0;
		fail |= json_object_set_new(row, "jump", json_boolean(p->jump)) < 0;
		fail |= json_array_append_new(a, row) < 0;
	}
	if (!fail) {
		fail |= json_object_set_new(o, "function", ctr_json_str(t->function)) < 0;
		fail |=
		    json_object_set_new(o, "metric", json_string(ctr_metric_name(t->metric))) < 0;
		fail |= json_object_set_new(o, "runs", a) < 0;
		a = NULL;
	}
	json_decref(a);
	if (fail) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static void fmt_value(char *buf, size_t n, double v, enum ctr_metric m)
{
	if (m == CTR_METRIC_CALLS)
		ctr_fmt_count(buf, n, (uint64_t)v);
	else
		ctr_fmt_ns(buf, n, (uint64_t)v);
}

static void print_row(FILE *out, const struct ctr_trend *t, const struct ctr_trend_point *p)
{
	const struct ctr_run *r = p->run;
	const char *br = ctr_run_meta_get(r, "branch"), *cm = ctr_run_meta_get(r, "commit");
	char start[32], val[32], chg[32], bc[64];
	time_t secs = (time_t)(r->start_unix_ns / 1000000000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(start, sizeof(start), "%Y-%m-%d %H:%M:%S", &tm);
	fmt_value(val, sizeof(val), p->value, t->metric);
	if (isnan(p->change))
		snprintf(chg, sizeof(chg), "-");
	else
		snprintf(chg, sizeof(chg), "%+.1f%%", p->change * 100);
	snprintf(bc, sizeof(bc), "%s%s%.10s", br ? br : "-", cm ? "@" : "", cm ? cm : "");
	fprintf(out, "%-24s %-19s %-12.12s %-16.16s %12s %9s%s", r->id, start,
		r->host ? r->host : "", bc, val, chg, p->jump ? "  << jump" : "");
	if (p->jump)
		fprintf(out, " (%+.1f%% from the median before, limit %.1f%%)", p->dev * 100,
			p->threshold * 100);
	fputc('\n', out);
}

int ctr_trend_print(FILE *out, const struct ctr_trend *t)
{
	FILE *vis = ctr_fmt_visible_stream(out), *w = vis ? vis : out;
	const char *mn = ctr_metric_name(t->metric);
	int ret;

	fprintf(w, "%s of %s in %zu run(s), oldest first\n", mn, t->function, t->n);
	fprintf(w, "%-24s %-19s %-12s %-16s %12s %9s\n", "RUN", "START (UTC)", "HOST",
		"BRANCH@COMMIT", mn, "CHANGE");
	for (size_t i = 0; i < t->n; i++)
		print_row(w, t, &t->points[i]);
	ret = ferror(w) ? -1 : 0;
	if (vis && fclose(vis) != 0)
		ret = -1;
	return ret;
}
