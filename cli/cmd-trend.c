/* SPDX-License-Identifier: MIT */
/*
 * `ctrace trend FUNC`: how one function's time or call count evolved across the runs that
 * match the query filters, oldest first, with the change from the previous run and a marker
 * where the value leaves the run-to-run noise of the series (docs/trend.md states the rule).
 * Works on every backend: it lists the runs that have FUNC, then loads each (without its
 * timeline) to sum the function's nodes.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../store/runjson.h"
#include "cli.h"
#include "cmds.h"

enum metric { M_SELF, M_TOTAL, M_CALLS };
static const char *const metric_names[] = {"self", "total", "calls"};

/*
 * The jump rule (docs/trend.md): the runs since the last jump form the current segment; a run
 * jumps when its value differs from the segment's median by more than
 * max(TREND_FLOOR, TREND_K * 1.4826 * MAD / median) (a robust 3-sigma on the segment's own
 * noise; TREND_FLOOR_SHORT alone while it has fewer than TREND_MIN_HISTORY runs). A jump starts
 * a new segment, so a lasting slowdown is marked once, at the run where it appears.
 */
#define TREND_FLOOR 0.25
#define TREND_FLOOR_SHORT 0.50
#define TREND_K 3.0
#define TREND_MIN_HISTORY 3
#define TREND_WINDOW 10

struct point {
	const struct ctr_run *run; /* from list: header only */
	struct ctr_run *full;	   /* loaded without the timeline */
	double value;
	double change;	  /* relative to the previous run; NAN for the first */
	double dev;	  /* relative to the median of the segment before it */
	double threshold; /* relative deviation that counts as a jump here */
	int jump;
};

static int fn_match(const struct ctr_function *f, const char *name)
{
	return (f->name && !strcmp(f->name, name)) ||
	       (f->linkage_name && *f->linkage_name && !strcmp(f->linkage_name, name));
}

/* The metric of function @name in @r. Total time counts only the outermost calls of a
 * recursion (nodes with no ancestor of the same function), so it is never counted twice. */
static double run_metric(const struct ctr_run *r, const char *name, enum metric m)
{
	unsigned char *is = calloc(r->n_functions + 1, 1), *inside = calloc(r->n_nodes + 1, 1);
	double v = 0;

	if (!is || !inside) {
		free(is);
		free(inside);
		return NAN;
	}
	for (size_t i = 0; i < r->n_functions; i++)
		is[i] = (unsigned char)fn_match(&r->functions[i], name);
	for (size_t i = 0; i < r->n_nodes; i++) { /* parents come before their children */
		const struct ctr_node *n = &r->nodes[i];
		int mine = n->function < r->n_functions && is[n->function];
		uint32_t p = n->parent;

		if (p != CTR_NONE && p < i)
			inside[i] = inside[p] || (r->nodes[p].function < r->n_functions &&
						  is[r->nodes[p].function]);
		if (!mine)
			continue;
		if (m == M_SELF)
			v += (double)n->self_ns;
		else if (m == M_CALLS)
			v += (double)n->calls;
		else if (!inside[i])
			v += (double)n->total_ns;
	}
	free(is);
	free(inside);
	return v;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Fills change, threshold and jump of each point from the ones before it. */
static void mark_jumps(struct point *pt, size_t n)
{
	double win[TREND_WINDOW], dev[TREND_WINDOW];
	size_t seg = 0; /* first run of the current segment */

	for (size_t i = 0; i < n; i++) {
		size_t from = i - seg > TREND_WINDOW ? i - TREND_WINDOW : seg, nw = i - from;
		double prev = i ? pt[i - 1].value : 0, med, mad, dv;

		pt[i].change = pt[i].dev = NAN;
		pt[i].threshold = nw < TREND_MIN_HISTORY ? TREND_FLOOR_SHORT : TREND_FLOOR;
		if (i == 0)
			continue;
		pt[i].change = prev > 0 ? pt[i].value / prev - 1 : (pt[i].value > 0 ? INFINITY : 0);
		for (size_t j = 0; j < nw; j++)
			win[j] = pt[from + j].value;
		med = median(win, nw);
		if (nw >= TREND_MIN_HISTORY && med > 0) {
			for (size_t j = 0; j < nw; j++)
				dev[j] = fabs(win[j] - med);
			mad = median(dev, nw);
			if (TREND_K * 1.4826 * mad / med > pt[i].threshold)
				pt[i].threshold = TREND_K * 1.4826 * mad / med;
		}
		dv = med > 0 ? pt[i].value / med - 1 : (pt[i].value > 0 ? INFINITY : 0);
		pt[i].dev = dv;
		pt[i].jump = fabs(dv) > pt[i].threshold;
		if (pt[i].jump)
			seg = i;
	}
}

static const char *meta_get(const struct ctr_run *r, const char *key)
{
	const char *v = NULL;

	for (size_t i = 0; r && i < r->n_meta; i++)
		if (r->meta[i].key && !strcmp(r->meta[i].key, key))
			v = r->meta[i].value;
	return v;
}

static void fmt_value(char *buf, size_t n, double v, enum metric m)
{
	if (m == M_CALLS)
		ctr_fmt_count(buf, n, (uint64_t)v);
	else
		ctr_fmt_ns(buf, n, (uint64_t)v);
}

static void print_text(const struct point *pt, size_t n, const char *fn, enum metric m)
{
	FILE *vis = ctr_fmt_visible_stream(stdout), *out = vis ? vis : stdout;

	fprintf(out, "%s of %s in %zu run(s), oldest first\n", metric_names[m], fn, n);
	fprintf(out, "%-24s %-19s %-12s %-16s %12s %9s\n", "RUN", "START (UTC)", "HOST",
		"BRANCH@COMMIT", metric_names[m], "CHANGE");
	for (size_t i = 0; i < n; i++) {
		const struct ctr_run *r = pt[i].full;
		const char *br = meta_get(r, "branch"), *cm = meta_get(r, "commit");
		char start[32], val[32], chg[32], bc[64];
		time_t t = (time_t)(r->start_unix_ns / 1000000000);
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(start, sizeof(start), "%Y-%m-%d %H:%M:%S", &tm);
		fmt_value(val, sizeof(val), pt[i].value, m);
		if (isnan(pt[i].change))
			snprintf(chg, sizeof(chg), "-");
		else
			snprintf(chg, sizeof(chg), "%+.1f%%", pt[i].change * 100);
		snprintf(bc, sizeof(bc), "%s%s%.10s", br ? br : "-", cm ? "@" : "", cm ? cm : "");
		fprintf(out, "%-24s %-19s %-12.12s %-16.16s %12s %9s%s", r->id, start,
			r->host ? r->host : "", bc, val, chg, pt[i].jump ? "  << jump" : "");
		if (pt[i].jump)
			fprintf(out, " (%+.1f%% from the median before, limit %.1f%%)",
				pt[i].dev * 100, pt[i].threshold * 100);
		fputc('\n', out);
	}
	if (vis)
		fclose(vis);
}

static int print_json(const struct point *pt, size_t n, const char *fn, enum metric m)
{
	json_t *o = json_object(), *a = json_array();
	char *s = NULL;
	int fail = !o || !a;

	for (size_t i = 0; !fail && i < n; i++) {
		json_t *row = ctr_runjson_summary(pt[i].full);

		fail |= !row;
		if (fail)
			break;
		json_object_set_new(row, "value", json_real(pt[i].value));
		json_object_set_new(row, "change",
				    isfinite(pt[i].change) ? json_real(pt[i].change) : json_null());
		json_object_set_new(row, "deviation",
				    isfinite(pt[i].dev) ? json_real(pt[i].dev) : json_null());
		json_object_set_new(row, "threshold", json_real(pt[i].threshold));
		json_object_set_new(row, "jump", json_boolean(pt[i].jump));
		fail |= json_array_append_new(a, row) < 0;
	}
	if (!fail) {
		json_object_set_new(o, "function", ctr_json_str(fn));
		json_object_set_new(o, "metric", json_string(metric_names[m]));
		json_object_set_new(o, "runs", a);
		a = NULL;
		s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	}
	if (s)
		puts(s);
	free(s);
	json_decref(a);
	json_decref(o);
	return s ? 0 : -1;
}

static const char trend_help[] =
    "usage: ctrace trend FUNC [--store CONN] [--metric self|total|calls] [--json] [FILTERS]\n\n"
    "One row per run that has FUNC and matches FILTERS, oldest first: run, start, host,\n"
    "branch@commit metadata, FUNC's self time (default), total time or calls, the change from\n"
    "the previous run, and '<< jump' where the value leaves the noise of the runs since the\n"
    "last jump: it differs from their median by more than max(25%, 3 x 1.4826 x MAD / median)\n"
    "(50% while fewer than 3 runs are known). See docs/trend.md.\n";

/* Loads each listed run and computes its metric into @pt. */
static int load_points(struct ctr_store *s, struct ctr_run **runs, size_t n, struct point *pt,
		       const char *fn, enum metric m, struct ctr_err *e)
{
	for (size_t i = 0; i < n; i++) {
		struct point *p = &pt[i];

		p->run = runs[n - 1 - i]; /* list is newest first */
		if (ctr_store_load(s, p->run->id, 0, &p->full, e))
			return -1;
		p->value = run_metric(p->full, fn, m);
		if (isnan(p->value))
			return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory");
	}
	return 0;
}

int ctr_cmd_trend(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"store", required_argument, NULL, 's'},
	    {"metric", required_argument, NULL, 'm'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    CTR_CLI_FILTER_LONGOPTS,
	    {NULL, 0, NULL, 0},
	};
	struct ctr_kv *meta = calloc((size_t)argc + 1, sizeof(*meta));
	struct ctr_filter f;
	const char *conn = NULL;
	struct ctr_store *s = NULL;
	struct ctr_run **runs = NULL;
	struct point *pt = NULL;
	size_t n = 0;
	struct ctr_err e;
	enum metric m = M_SELF;
	int c, json = 0, ret = 0;

	memset(&f, 0, sizeof(f));
	ctr_err_clear(&e);
	optind = 1;
	while (meta && (c = getopt_long(argc, argv, "s:m:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			conn = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'm':
			for (m = M_SELF; m <= M_CALLS && strcmp(optarg, metric_names[m]); m++)
				;
			if (m > M_CALLS) {
				ret = ctr_cli_usage("ctrace trend",
						    "--metric wants self, total or calls, not '%s'",
						    optarg);
				goto out;
			}
			break;
		case 'h':
			printf("%s\nFILTERS (as ctrace query):\n%s", trend_help,
			       ctr_cli_filter_help);
			goto out;
		default:
			if (c == 'F') {
				ret = ctr_cli_usage("ctrace trend",
						    "the function is the argument, not --function");
				goto out;
			}
			if (ctr_cli_filter_opt(c, optarg, &f, meta) <= 0) {
				ret = ctr_cli_usage("ctrace trend", "bad option or value%s%s",
						    optarg ? ": " : "", optarg ? optarg : "");
				goto out;
			}
		}
	}
	if (!meta) {
		ctr_err_set(&e, CTR_ENOMEM, 0, "out of memory");
		ret = ctr_cli_fail("ctrace trend", &e);
		goto out;
	}
	if (optind != argc - 1) {
		ret = ctr_cli_usage("ctrace trend", "give exactly one function name");
		goto out;
	}
	f.function = argv[optind];
	if (ctr_cli_open_store(conn, &s, &e) || ctr_store_list(s, &f, 0, 0, &runs, &n, &e) ||
	    !(pt = calloc(n + 1, sizeof(*pt))) ||
	    load_points(s, runs, n, pt, f.function, m, &e) < 0) {
		if (!e.code)
			ctr_err_set(&e, CTR_ENOMEM, 0, "out of memory");
		ret = ctr_cli_fail("ctrace trend", &e);
		goto out;
	}
	mark_jumps(pt, n);
	if (json) {
		if (print_json(pt, n, f.function, m) < 0) {
			ctr_err_set(&e, CTR_ENOMEM, 0, "out of memory writing JSON");
			ret = ctr_cli_fail("ctrace trend", &e);
		}
	} else if (!n) {
		fprintf(stderr, "ctrace: no runs with function '%s'\n", f.function);
	} else {
		print_text(pt, n, f.function, m);
	}
out:
	for (size_t i = 0; pt && i < n; i++)
		ctr_run_free(pt[i].full);
	free(pt);
	ctr_run_list_free(runs, n);
	ctr_store_close(s);
	for (size_t i = 0; meta && i < f.n_meta; i++)
		free(meta[i].key);
	free(meta);
	return ret;
}
