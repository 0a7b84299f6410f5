/* SPDX-License-Identifier: MIT */
/*
 * The latency views (latency.h): percentile table, text histograms, JSON fields. The stored
 * histograms have up to CTR_HIST_BUCKETS fine buckets; the text histogram regroups them into
 * whole fractions of a power of two so that a function's spread fits in about 40 lines.
 */
#include "latency.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/hist.h"
#include "cxxname.h"

#define NAME_BUF 1024
#define HIST_ROWS 40
#define BAR 40

static int out_ok(FILE *out, struct ctr_err *e)
{
	if (ferror(out))
		return ctr_err_set(e, CTR_EIO, errno, "cannot write the report: %s",
				   strerror(errno));
	return 0;
}

static void pct_row(FILE *out, const struct ctr_run *run, const struct ctr_prof_entry *p,
		    const struct ctr_report_opts *o)
{
	const struct ctr_function *f = &run->functions[p->function];
	char t[7][32], lbl[NAME_BUF];

	ctr_fmt_count(t[0], sizeof(t[0]), p->calls);
	ctr_fmt_ns(t[1], sizeof(t[1]), f->p50_ns);
	ctr_fmt_ns(t[2], sizeof(t[2]), f->p90_ns);
	ctr_fmt_ns(t[3], sizeof(t[3]), f->p99_ns);
	ctr_fmt_ns(t[4], sizeof(t[4]), f->p999_ns);
	ctr_fmt_ns(t[5], sizeof(t[5]), p->max_ns);
	ctr_fmt_ns(t[6], sizeof(t[6]), p->total_ns);
	fprintf(out, "%10s %10s %10s %10s %10s %10s %10s  %s\n", t[0], t[1], t[2], t[3], t[4], t[5],
		t[6], ctr_report_label(run, p->function, lbl, sizeof(lbl)));
}

int ctr_report_percentiles(FILE *out, const struct ctr_run *run, const struct ctr_report_opts *o,
			   struct ctr_err *e)
{
	struct ctr_prof_entry *rows = NULL;
	size_t n = 0, shown = 0, matched = 0, timed = 0;
	int ret;

	if ((ret = ctr_report_profile(run, CTR_NONE, o->raw_times, &rows, &n, e)))
		return ret;
	if (o->function) {
		for (size_t i = 0; i < n; i++)
			matched += ctr_report_name_match(run, rows[i].function, o->function);
		if (!matched) {
			free(rows);
			return ctr_err_set(e, CTR_ENOTFOUND, 0, "no function matches '%s'",
					   o->function);
		}
	}
	if ((ret = ctr_report_header(out, run, o, e)))
		goto out;
	ctr_report_sort(run, rows, n, o->sort);
	fprintf(out, "\n%10s %10s %10s %10s %10s %10s %10s  %s\n", "calls", "p50", "p90", "p99",
		"p99.9", "max", "total", "function");
	matched = 0;
	for (size_t i = 0; i < n; i++) {
		const struct ctr_function *f = &run->functions[rows[i].function];

		if (f->kind == CTR_FN_MARK ||
		    !ctr_report_name_match(run, rows[i].function, o->function))
			continue;
		matched++;
		timed += f->hist_size > 0;
		if (o->top && shown >= o->top)
			continue;
		pct_row(out, run, &rows[i], o);
		shown++;
	}
	if (shown < matched)
		fprintf(out, "... %zu more (--top 0 shows all)\n", matched - shown);
	if (matched && !timed)
		fprintf(out, "note: this run was stored without latency distributions\n");
	ctr_report_preempted_note(out, run, rows, n);
	ret = out_ok(out, e);
out:
	free(rows);
	return ret;
}

/* Subdivisions per power of two (1, 2, 4, ... 128) so that the span of @b fits HIST_ROWS. */
static unsigned row_split(const struct ctr_hist_bucket *b, size_t n)
{
	uint64_t lo = ctr_hist_lower(b[0].idx), hi = ctr_hist_upper(b[n - 1].idx);
	unsigned octaves = 0;

	for (uint64_t v = lo ? lo : 1; v < hi && octaves < 64; v *= 2)
		octaves++;
	if (!octaves)
		octaves = 1;
	for (unsigned split = 128; split > 1; split /= 2)
		if (octaves * split <= HIST_ROWS)
			return split;
	return 1;
}

/* The display row of @v: [lower, upper] of the 1/@split part of its power of two. */
static void row_range(uint64_t v, unsigned split, uint64_t *lo, uint64_t *hi)
{
	if (v < 2) {
		*lo = *hi = v;
		return;
	}
	unsigned m = 63u - (unsigned)__builtin_clzll(v);
	uint64_t base = (uint64_t)1 << m, width = base / split;

	if (!width)
		width = 1;
	*lo = base + (v - base) / width * width;
	*hi = *lo + width - 1;
	if (*hi < *lo)
		*hi = UINT64_MAX;
}

static void hist_rows(FILE *out, const struct ctr_hist_bucket *b, size_t n)
{
	unsigned split = row_split(b, n);
	uint64_t peak = 0, total = ctr_hist_count(b, n);
	struct {
		uint64_t lo, hi, count;
	} rows[HIST_ROWS * 2 + 8];
	size_t nr = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t lo, hi;

		row_range(ctr_hist_lower(b[i].idx), split, &lo, &hi);
		if (nr && rows[nr - 1].lo == lo) {
			rows[nr - 1].count += b[i].count;
			continue;
		}
		if (nr == sizeof(rows) / sizeof(rows[0])) {
			rows[nr - 1].hi = ctr_hist_upper(b[n - 1].idx);
			for (size_t k = i; k < n; k++)
				rows[nr - 1].count += b[k].count;
			break;
		}
		rows[nr].lo = lo;
		rows[nr].hi = hi;
		rows[nr++].count = b[i].count;
	}
	for (size_t i = 0; i < nr; i++)
		if (rows[i].count > peak)
			peak = rows[i].count;
	for (size_t i = 0; i < nr; i++) {
		char lo[32], hi[32], bar[BAR + 1];
		size_t w = peak ? (size_t)((rows[i].count * BAR + peak - 1) / peak) : 0;

		ctr_fmt_ns(lo, sizeof(lo), rows[i].lo);
		ctr_fmt_ns(hi, sizeof(hi), rows[i].hi);
		memset(bar, '#', w);
		bar[w] = '\0';
		fprintf(out, "  %10s .. %-10s %10" PRIu64 " %5.1f%%  %s\n", lo, hi, rows[i].count,
			total ? 100.0 * (double)rows[i].count / (double)total : 0.0, bar);
	}
}

static int hist_one(FILE *out, const struct ctr_run *run, const struct ctr_prof_entry *p,
		    const struct ctr_report_opts *o, struct ctr_err *e)
{
	const struct ctr_function *f = &run->functions[p->function];
	struct ctr_hist_bucket *b = NULL;
	char lbl[NAME_BUF], t[6][32];
	size_t n = 0;
	int ret;

	if ((ret = ctr_hist_decode(f->hist, f->hist_size, &b, &n, e)))
		return ret;
	ctr_fmt_ns(t[0], sizeof(t[0]), f->p50_ns);
	ctr_fmt_ns(t[1], sizeof(t[1]), f->p90_ns);
	ctr_fmt_ns(t[2], sizeof(t[2]), f->p99_ns);
	ctr_fmt_ns(t[3], sizeof(t[3]), f->p999_ns);
	ctr_fmt_ns(t[4], sizeof(t[4]), p->min_ns);
	ctr_fmt_ns(t[5], sizeof(t[5]), p->max_ns);
	fprintf(out, "\n%s: %" PRIu64 " calls, min %s, p50 %s, p90 %s, p99 %s, p99.9 %s, max %s\n",
		ctr_report_label(run, p->function, lbl, sizeof(lbl)), ctr_hist_count(b, n), t[4],
		t[0], t[1], t[2], t[3], t[5]);
	if (n)
		hist_rows(out, b, n);
	else
		fprintf(out, "  no timed calls stored\n");
	free(b);
	return 0;
}

int ctr_report_hist(FILE *out, const struct ctr_run *run, const struct ctr_report_opts *o,
		    const char *func, struct ctr_err *e)
{
	struct ctr_prof_entry *rows = NULL;
	size_t n = 0, matched = 0;
	int ret;

	if ((ret = ctr_report_profile(run, CTR_NONE, o->raw_times, &rows, &n, e)))
		return ret;
	for (size_t i = 0; i < n; i++)
		matched += ctr_report_name_match(run, rows[i].function, func) &&
			   run->functions[rows[i].function].kind != CTR_FN_MARK;
	if (!matched) {
		free(rows);
		return ctr_err_set(e, CTR_ENOTFOUND, 0, "no function matches '%s'", func);
	}
	if ((ret = ctr_report_header(out, run, o, e)))
		goto out;
	ctr_report_sort(run, rows, n, o->sort);
	for (size_t i = 0; i < n && !ret; i++)
		if (ctr_report_name_match(run, rows[i].function, func) &&
		    run->functions[rows[i].function].kind != CTR_FN_MARK)
			ret = hist_one(out, run, &rows[i], o, e);
	if (!ret)
		ret = out_ok(out, e);
out:
	free(rows);
	return ret;
}

int ctr_report_lat_json(json_t *j, const struct ctr_run *run, uint32_t fid)
{
	const struct ctr_function *f = &run->functions[fid];
	struct ctr_hist_bucket *b = NULL;
	json_t *arr = json_array();
	size_t n = 0;
	int fail = !arr;

	fail |= json_object_set_new(j, "p50_ns", json_integer((json_int_t)f->p50_ns)) < 0;
	fail |= json_object_set_new(j, "p90_ns", json_integer((json_int_t)f->p90_ns)) < 0;
	fail |= json_object_set_new(j, "p99_ns", json_integer((json_int_t)f->p99_ns)) < 0;
	fail |= json_object_set_new(j, "p999_ns", json_integer((json_int_t)f->p999_ns)) < 0;
	/* a corrupt blob was refused at load; here it only shows as no buckets */
	if (ctr_hist_decode(f->hist, f->hist_size, &b, &n, NULL) == CTR_ENOMEM)
		fail = 1;
	for (size_t i = 0; arr && i < n; i++)
		fail |= json_array_append_new(arr, json_pack("[I,I,I]",
							     (json_int_t)ctr_hist_lower(b[i].idx),
							     (json_int_t)ctr_hist_upper(b[i].idx),
							     (json_int_t)b[i].count)) < 0;
	free(b);
	if (arr)
		fail |= json_object_set_new(j, "hist", arr) < 0;
	return fail ? CTR_ENOMEM : 0;
}
