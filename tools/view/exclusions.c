/* SPDX-License-Identifier: MIT */
/*
 * The .ctrace-exclude list of exclusions.h: per-function calls and true averages from the
 * run's profile, the name gcc's exclusion list matches (the demangled name without return
 * type and parameters, as gcc prints it), and the file's text.
 */
#include "exclusions.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/cxxsplit.h"
#include "../../common/fmt.h"
#include "../../common/hist.h"
#include "report.h"

/* A floor for the default threshold: below it a call is noise, whatever the calibration. */
#define MIN_DEFAULT_AVG_NS 10

uint64_t ctr_exclusions_max_avg(const struct ctr_run *run, const struct ctr_exclusion_opts *o)
{
	double cost = run->overhead_call_ns;

	if (o->max_avg_ns)
		return o->max_avg_ns;
	if (!(cost >= MIN_DEFAULT_AVG_NS) || !isfinite(cost))
		return MIN_DEFAULT_AVG_NS;
	return (uint64_t)llround(cost);
}

/* The name gcc compares with its list: "app::Slice::size" for "app::Slice::size() const" and
 * "app::sum<int>" for "int app::sum<int>(int, int)"; C names as they are. Caller frees. */
static char *gcc_name(const struct ctr_function *f)
{
	static const char anon[] = "(anonymous namespace)", gcc_anon[] = "{anonymous}";
	size_t name, params, end;
	const char *dm = f->name ? f->name : "";
	char *g, *a;

	if (ctr_cxxsplit_name(dm, &name, &params, &end) < 0)
		return strdup(dm);
	if (!(g = strndup(dm + name, params - name)))
		return NULL;
	/* gcc writes an anonymous namespace "{anonymous}" (the name only gets shorter) */
	while ((a = strstr(g, anon))) {
		memcpy(a, gcc_anon, sizeof(gcc_anon) - 1);
		memmove(a + sizeof(gcc_anon) - 1, a + sizeof(anon) - 1,
			strlen(a + sizeof(anon) - 1) + 1);
	}
	return g;
}

/* 1 for a gcc name (qualified, no parameters) that no entry could match: the demangler's names
 * of lambdas and unnamed types ("main::{lambda(int)#1}::operator()") and of anything local to
 * a function ("f(int)::Local::get") are not gcc's. */
static int unlistable(const char *g)
{
	return strstr(g, "{lambda") || strstr(g, "{unnamed") || strchr(g, '(');
}

/* The list entry for gcc name @g: the part before its first template argument list, or all of
 * it. gcc spells template arguments its own way ("kv::mix<long unsigned int, int>" where the
 * demangler writes "unsigned long"), and its list is comma-separated, so the arguments are
 * left out: the entry then covers every instantiation, which drop_clashes() checks. */
static char *entry_of(const char *g)
{
	return strndup(g, strcspn(g, "<,"));
}

/* 1 if function @fid is in the first @n of @x. */
static int listed(const struct ctr_exclusion *x, size_t n, uint32_t fid)
{
	for (size_t i = 0; i < n; i++)
		if (x[i].function == fid)
			return 1;
	return 0;
}

/* Clears the entries of @x that would also exclude a function of @run outside @x (gcc matches
 * its list by substring), noting that function in clash. 0 or -1 when out of memory. */
static int drop_clashes(const struct ctr_run *run, struct ctr_exclusion *x, size_t n)
{
	for (size_t f = 0; f < run->n_functions; f++) {
		const struct ctr_function *fn = &run->functions[f];
		char *g;

		if (fn->kind != CTR_FN_FUNCTION || !fn->name || listed(x, n, (uint32_t)f))
			continue;
		if (!(g = gcc_name(fn)))
			return -1;
		for (size_t i = 0; i < n; i++)
			if (x[i].entry && strstr(g, x[i].entry)) {
				free(x[i].entry);
				x[i].entry = NULL;
				x[i].clash = (uint32_t)f;
			}
		free(g);
	}
	return 0;
}

/* The average true duration of @f's calls without their slowest 1% (from its latency
 * histogram: one call that was preempted or page-faulted does not hide an accessor), or
 * @total / @calls when the run has no histogram for it. */
static uint64_t trimmed_avg(const struct ctr_function *f, uint64_t total, uint64_t calls)
{
	struct ctr_hist_bucket *b = NULL;
	size_t nb = 0;
	uint64_t n, keep, taken = 0;
	double sum = 0;

	if (!f->hist_size || ctr_hist_decode(f->hist, f->hist_size, &b, &nb, NULL) || !nb) {
		free(b);
		return calls ? total / calls : 0;
	}
	n = ctr_hist_count(b, nb);
	keep = n - n / 100;
	for (size_t i = 0; i < nb && taken < keep; i++) {
		uint64_t k = b[i].count < keep - taken ? b[i].count : keep - taken;
		double mid =
		    ((double)ctr_hist_lower(b[i].idx) + (double)ctr_hist_upper(b[i].idx)) / 2;

		sum += mid * (double)k;
		taken += k;
	}
	free(b);
	return taken ? (uint64_t)llround(sum / (double)taken) : 0;
}

static int cmp_excl(const void *pa, const void *pb, void *arg)
{
	const struct ctr_exclusion *a = pa, *b = pb;
	const struct ctr_run *run = arg;

	if (a->calls != b->calls)
		return a->calls > b->calls ? -1 : 1;
	return strcmp(run->functions[a->function].name ? run->functions[a->function].name : "",
		      run->functions[b->function].name ? run->functions[b->function].name : "");
}

void ctr_exclusions_free(struct ctr_exclusion *x, size_t n)
{
	for (size_t i = 0; x && i < n; i++)
		free(x[i].entry);
	free(x);
}

int ctr_exclusions_compute(const struct ctr_run *run, const struct ctr_exclusion_opts *o,
			   struct ctr_exclusion **out, size_t *n, struct ctr_err *e)
{
	struct ctr_prof_entry *rows = NULL;
	struct ctr_exclusion *x = NULL;
	uint64_t limit = ctr_exclusions_max_avg(run, o);
	size_t nr = 0, k = 0;
	int ret;

	*out = NULL;
	*n = 0;
	if ((ret = ctr_report_profile(run, CTR_NONE, 0, &rows, &nr, e)))
		return ret;
	x = calloc(nr ? nr : 1, sizeof(*x));
	if (!x) {
		free(rows);
		return ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory listing exclusions");
	}
	for (size_t i = 0; i < nr; i++) {
		const struct ctr_function *f = &run->functions[rows[i].function];
		char *g;
		uint64_t avg = trimmed_avg(f, rows[i].total_ns, rows[i].calls);

		if (f->kind != CTR_FN_FUNCTION || !f->name || !*f->name ||
		    !strcmp(f->name, "main") || rows[i].calls < o->min_calls || !rows[i].calls ||
		    avg > limit)
			continue;
		x[k].function = rows[i].function;
		x[k].calls = rows[i].calls;
		x[k].avg_ns = avg;
		x[k].clash = CTR_NONE;
		g = gcc_name(f);
		if (g && unlistable(g)) {
			free(g);
			x[k++].entry = NULL; /* said so in the file, see ctr_exclusions_write() */
			continue;
		}
		x[k].entry = g && *g ? entry_of(g) : NULL;
		free(g);
		if (!x[k++].entry) {
			ctr_exclusions_free(x, k);
			free(rows);
			return ctr_err_set(e, CTR_ENOMEM, ENOMEM,
					   "out of memory listing exclusions");
		}
	}
	free(rows);
	if (drop_clashes(run, x, k) < 0) {
		ctr_exclusions_free(x, k);
		return ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory listing exclusions");
	}
	if (k > 1)
		qsort_r(x, k, sizeof(*x), cmp_excl, (void *)run);
	if (!k) {
		free(x);
		x = NULL;
	}
	*out = x;
	*n = k;
	return 0;
}

/* 1 if an entry before @i in @x is the same as x[i]'s. */
static int earlier_entry(const struct ctr_exclusion *x, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (x[j].entry && !strcmp(x[j].entry, x[i].entry))
			return 1;
	return 0;
}

int ctr_exclusions_write(FILE *out, const struct ctr_run *run, const struct ctr_exclusion_opts *o,
			 const struct ctr_exclusion *x, size_t n, struct ctr_err *e)
{
	uint64_t hidden = 0, limit = ctr_exclusions_max_avg(run, o);
	char buf[32], avg[32], lim[32];

	for (size_t i = 0; i < n; i++)
		if (x[i].entry)
			hidden += x[i].calls;
	ctr_fmt_ns(lim, sizeof(lim), limit);
	fprintf(out,
		"# ctrace exclusions: functions whose calls cost more to trace than they take\n");
	fprintf(out,
		"# ctrace-cc reads this file (.ctrace-exclude) and leaves them uninstrumented\n");
	fprintf(out, "# run: %s\n", run->id);
	fprintf(out, "# command: %s\n", run->command ? run->command : "");
	fprintf(out, "# rule: average <= %s (%s), calls >= %" PRIu64 "\n", lim,
		o->max_avg_ns ? "--max-avg" : "the run's cost of tracing one call", o->min_calls);
	fprintf(out, "# hidden-calls: %" PRIu64 "\n", hidden);
	for (size_t i = 0; i < n; i++) {
		if (!x[i].entry || earlier_entry(x, i))
			continue; /* instantiations of one template share their entry */
		ctr_fmt_count(buf, sizeof(buf), x[i].calls);
		ctr_fmt_ns(avg, sizeof(avg), x[i].avg_ns);
		fprintf(out, "%s\t# %s calls, average %s\n", x[i].entry, buf, avg);
	}
	for (size_t i = 0; i < n; i++) {
		if (x[i].entry)
			continue;
		if (x[i].clash == CTR_NONE)
			fprintf(out, "# not listed: %s (gcc does not name it so)\n",
				run->functions[x[i].function].name);
		else
			fprintf(
			    out,
			    "# not listed: %s (gcc matches substrings: it would exclude %s too)\n",
			    run->functions[x[i].function].name, run->functions[x[i].clash].name);
	}
	if (ferror(out))
		return ctr_err_set(e, CTR_EIO, errno, "cannot write the exclusions: %s",
				   strerror(errno));
	return 0;
}
