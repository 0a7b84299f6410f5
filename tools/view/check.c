/* SPDX-License-Identifier: MIT */
/*
 * `ctrace check`'s comparison (check.h): per-function figures of each run, the across-run
 * prediction test and the rank test over the latency histograms, the verdicts, and the text and
 * JSON forms. Each run is reduced once to a table of its functions sorted by name (one pass
 * over its nodes), so a check of k runs of F functions costs O(k (nodes + F log F)).
 *
 * The t distribution is the closed form for integer degrees of freedom (twenty lines): the one
 * library Debian has for it (GSL) is not a build dependency, and nothing else here needs it.
 */
#include "check.h"

#include "../../common/fmt.h"
#include "../../store/runjson.h"
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- statistics ---- */

double ctr_check_t_sf(double t, unsigned df)
{
	double th, s, c, c2, term, a;

	if (isnan(t) || df < 1)
		return NAN;
	if (isinf(t))
		return t > 0 ? 0 : 1;
	th = atan(fabs(t) / sqrt((double)df));
	s = sin(th);
	c = cos(th);
	c2 = c * c;
	if (df % 2) { /* A = 2/pi (theta + sin cos (1 + 2/3 cos^2 + 2.4/3.5 cos^4 ...)) */
		double sum = 0;

		term = 1;
		for (unsigned k = 3; k <= df; k += 2) {
			sum += term;
			term *= c2 * (double)(k - 1) / (double)k;
		}
		a = 2 / M_PI * (th + (df > 1 ? s * c * sum : 0));
	} else { /* A = sin (1 + 1/2 cos^2 + 1.3/2.4 cos^4 ...) */
		double sum = 0;

		term = 1;
		for (unsigned k = 2; k <= df; k += 2) {
			sum += term;
			term *= c2 * (double)(k - 1) / (double)k;
		}
		a = s * sum;
	}
	if (a > 1)
		a = 1;
	return t >= 0 ? (1 - a) / 2 : (1 + a) / 2;
}

double ctr_check_runs_p(const double *v, size_t k, double c, double floor_rel, int upper)
{
	double mean = 0, ss = 0, sd, t;

	if (k < 2)
		return 1;
	for (size_t i = 0; i < k; i++)
		mean += v[i];
	mean /= (double)k;
	for (size_t i = 0; i < k; i++)
		ss += (v[i] - mean) * (v[i] - mean);
	sd = sqrt(ss / (double)(k - 1));
	if (sd < floor_rel * fabs(mean))
		sd = floor_rel * fabs(mean);
	if (!(sd > 0))
		return (upper ? c > mean : c < mean) ? 0 : 1;
	t = (c - mean) / (sd * sqrt(1 + 1 / (double)k));
	return ctr_check_t_sf(upper ? t : -t, (unsigned)(k - 1));
}

double ctr_check_mwu_p(const struct ctr_hist_bucket *x, size_t nx, const struct ctr_hist_bucket *y,
		       size_t ny, int upper, double *auc)
{
	double n1 = (double)ctr_hist_count(x, nx), n2 = (double)ctr_hist_count(y, ny);
	double u = 0, below = 0, ties = 0, n, var, z;
	size_t i = 0, j = 0;

	if (auc)
		*auc = 0.5;
	if (!(n1 > 0) || !(n2 > 0))
		return 1;
	while (i < nx || j < ny) { /* merge by bucket: ranks are shared within one */
		uint32_t idx = i < nx && (j >= ny || x[i].idx <= y[j].idx) ? x[i].idx : y[j].idx;
		double cx = i < nx && x[i].idx == idx ? (double)x[i++].count : 0;
		double cy = j < ny && y[j].idx == idx ? (double)y[j++].count : 0;
		double tk = cx + cy;

		u += cx * (below + cy / 2);
		below += cy;
		ties += tk * tk * tk - tk;
	}
	n = n1 + n2;
	if (auc)
		*auc = u / (n1 * n2);
	var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)));
	if (!(var > 0))
		return 1;
	z = upper ? (u - n1 * n2 / 2 - 0.5) / sqrt(var) : (n1 * n2 / 2 - u - 0.5) / sqrt(var);
	return 0.5 * erfc(z / M_SQRT2);
}

/* ---- per-run function tables ---- */

/* One function name of one run: every stored function of that name merged. */
struct fstat {
	const char *name; /* borrowed from the run */
	double calls, self, total_outer, calls_outer;
	uint64_t p50, p99;
	struct ctr_hist_bucket *h;
	size_t nh;
	size_t n_fn; /* stored functions merged */
};

struct ftab {
	struct fstat *f;
	size_t n;
};

static const char *const metric_names[CTR_CHECK_METRIC_COUNT] = {"total", "self", "p50", "p99",
								 "calls"};

const char *ctr_check_metric_name(enum ctr_check_metric m)
{
	return (unsigned)m < CTR_CHECK_METRIC_COUNT ? metric_names[m] : NULL;
}

int ctr_check_metric_parse(const char *name, enum ctr_check_metric *m)
{
	for (unsigned i = 0; name && i < CTR_CHECK_METRIC_COUNT; i++)
		if (!strcmp(name, metric_names[i])) {
			*m = (enum ctr_check_metric)i;
			return 0;
		}
	return CTR_EUSAGE;
}

static void ftab_release(struct ftab *t)
{
	for (size_t i = 0; t->f && i < t->n; i++)
		free(t->f[i].h);
	free(t->f);
	t->f = NULL;
	t->n = 0;
}

static const struct ctr_run *sort_run; /* qsort has no context argument */

static int cmp_fid(const void *a, const void *b)
{
	const struct ctr_function *fa = &sort_run->functions[*(const uint32_t *)a],
				  *fb = &sort_run->functions[*(const uint32_t *)b];

	return strcmp(fa->name ? fa->name : "", fb->name ? fb->name : "");
}

static int cmp_fstat_name(const void *key, const void *elt)
{
	return strcmp(key, ((const struct fstat *)elt)->name);
}

static const struct fstat *ftab_find(const struct ftab *t, const char *name)
{
	return bsearch(name, t->f, t->n, sizeof(*t->f), cmp_fstat_name);
}

/* Groups the functions of @r that match @glob (marks left out) by name into @t; @grp[fid] is
 * the group of each function (CTR_NONE when left out). */
static int ftab_groups(const struct ctr_run *r, const char *glob, struct ftab *t, uint32_t *grp)
{
	uint32_t *ids = malloc((r->n_functions + 1) * sizeof(*ids));
	size_t n = 0;

	if (!ids)
		return CTR_ENOMEM;
	for (size_t i = 0; i < r->n_functions; i++) {
		grp[i] = CTR_NONE;
		if (r->functions[i].kind != CTR_FN_MARK && r->functions[i].name &&
		    ctr_report_name_match(r, (uint32_t)i, glob))
			ids[n++] = (uint32_t)i;
	}
	sort_run = r;
	qsort(ids, n, sizeof(*ids), cmp_fid);
	if (!(t->f = calloc(n + 1, sizeof(*t->f)))) {
		free(ids);
		return CTR_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct ctr_function *f = &r->functions[ids[i]];

		if (!t->n || strcmp(t->f[t->n - 1].name, f->name))
			t->f[t->n++].name = f->name;
		grp[ids[i]] = (uint32_t)(t->n - 1);
		t->f[t->n - 1].n_fn++;
		t->f[t->n - 1].p50 = f->p50_ns;
		t->f[t->n - 1].p99 = f->p99_ns;
	}
	free(ids);
	return 0;
}

/* Sums the nodes into the groups: calls and self time of every node, total time and calls of
 * the outermost ones (no ancestor of the same name, so recursion counts once). A depth-first
 * walk keeps how many calls of each group are open on the current path. */
static int ftab_nodes(const struct ctr_run *r, struct ftab *t, const uint32_t *grp)
{
	size_t nn = r->n_nodes;
	uint32_t *first = malloc((nn + 1) * sizeof(*first)),
		 *next = malloc((nn + 1) * sizeof(*next));
	uint32_t *stack = malloc((nn + 1) * sizeof(*stack)),
		 *open = calloc(t->n + 1, sizeof(*open));
	int ret = CTR_ENOMEM;

	if (!first || !next || !stack || !open)
		goto out;
	for (size_t i = 0; i < nn; i++)
		first[i] = next[i] = CTR_NONE;
	for (size_t i = nn; i-- > 0;) { /* children in index order; parents come first */
		uint32_t p = r->nodes[i].parent;

		if (p != CTR_NONE && p < i) {
			next[i] = first[p];
			first[p] = (uint32_t)i;
		}
	}
	for (size_t root = 0; root < nn; root++) {
		size_t sp = 0;
		uint32_t p = r->nodes[root].parent;

		if (p != CTR_NONE && p < root)
			continue;
		for (uint32_t cur = (uint32_t)root; cur != CTR_NONE;) {
			const struct ctr_node *nd = &r->nodes[cur];
			uint32_t g = nd->function < r->n_functions ? grp[nd->function] : CTR_NONE;

			if (g != CTR_NONE) { /* entering cur */
				struct fstat *f = &t->f[g];

				f->calls += (double)nd->calls;
				f->self += (double)nd->self_ns;
				if (!open[g]++) {
					f->total_outer += (double)nd->total_ns;
					f->calls_outer += (double)nd->calls;
				}
			}
			stack[sp++] = cur;
			/* next: the first child, else leave nodes until one has a next sibling */
			cur = first[cur];
			while (cur == CTR_NONE && sp) {
				uint32_t done = stack[--sp],
					 dg = r->nodes[done].function < r->n_functions
						  ? grp[r->nodes[done].function]
						  : CTR_NONE;

				if (dg != CTR_NONE)
					open[dg]--;
				cur = sp ? next[done] : CTR_NONE;
			}
		}
	}
	ret = 0;
out:
	free(first);
	free(next);
	free(stack);
	free(open);
	return ret;
}

/* Merges each matched function's histogram into its group; a group of several functions gets
 * its percentiles from the merged histogram. */
static int ftab_hists(const struct ctr_run *r, struct ftab *t, const uint32_t *grp,
		      struct ctr_err *e)
{
	for (size_t i = 0; i < r->n_functions; i++) {
		const struct ctr_function *fn = &r->functions[i];
		struct ctr_hist_bucket *b = NULL;
		size_t nb = 0;
		int ret;

		if (grp[i] == CTR_NONE || !fn->hist_size)
			continue;
		if ((ret = ctr_hist_decode(fn->hist, fn->hist_size, &b, &nb, e)) < 0)
			return ret;
		ret = ctr_hist_merge(&t->f[grp[i]].h, &t->f[grp[i]].nh, b, nb);
		free(b);
		if (ret < 0)
			return ctr_err_set(e, ret, 0, "out of memory merging histograms");
	}
	for (size_t g = 0; g < t->n; g++) {
		struct fstat *f = &t->f[g];

		if (f->n_fn > 1 || !f->nh) {
			f->p50 = ctr_hist_quantile(f->h, f->nh, 0.50, 0, UINT64_MAX);
			f->p99 = ctr_hist_quantile(f->h, f->nh, 0.99, 0, UINT64_MAX);
		}
	}
	return 0;
}

static int ftab_build(const struct ctr_run *r, const char *glob, struct ftab *t, struct ctr_err *e)
{
	uint32_t *grp = malloc((r->n_functions + 1) * sizeof(*grp));
	int ret = CTR_ENOMEM;

	memset(t, 0, sizeof(*t));
	if (!grp || ftab_groups(r, glob, t, grp) < 0 || ftab_nodes(r, t, grp) < 0) {
		ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading run '%s'", r->id);
		goto out;
	}
	if ((ret = ftab_hists(r, t, grp, e)) < 0) {
		ctr_err_ctx(e, NULL, r->id, -1);
		goto out;
	}
	ret = 0;
out:
	if (ret < 0)
		ftab_release(t);
	free(grp);
	return ret;
}

/* The per-run value of @f under @m; NAN when the run has no such figure. */
static double fvalue(const struct fstat *f, enum ctr_check_metric m)
{
	switch (m) {
	case CTR_CHECK_TOTAL:
		return f->calls_outer > 0 ? f->total_outer / f->calls_outer : NAN;
	case CTR_CHECK_SELF:
		return f->calls > 0 ? f->self / f->calls : NAN;
	case CTR_CHECK_P50:
		return f->nh ? (double)f->p50 : NAN;
	case CTR_CHECK_P99:
		return f->nh ? (double)f->p99 : NAN;
	default:
		return f->calls;
	}
}

/* ---- the comparison ---- */

void ctr_check_free(struct ctr_check *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->rows[i].function);
	free(c->rows);
	free(c->baselines);
	free(c);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The sorted distinct names of all tables into *@out (borrowed strings; caller frees the
 * array). */
static int union_names(const struct ftab *tabs, size_t nt, const char ***out, size_t *n)
{
	size_t total = 0, k = 0;
	const char **v;

	for (size_t i = 0; i < nt; i++)
		total += tabs[i].n;
	if (!(v = malloc((total + 1) * sizeof(*v))))
		return CTR_ENOMEM;
	for (size_t i = 0; i < nt; i++)
		for (size_t j = 0; j < tabs[i].n; j++)
			v[k++] = tabs[i].f[j].name;
	qsort(v, k, sizeof(*v), cmp_str);
	*n = 0;
	for (size_t i = 0; i < k; i++)
		if (!*n || strcmp(v[*n - 1], v[i]))
			v[(*n)++] = v[i];
	*out = v;
	return 0;
}

static double rel_change(double c, double b)
{
	return b > 0 ? c / b - 1 : (c > 0 ? INFINITY : 0);
}

/* Histogram @b (@n buckets) with every value divided by @g, into *@out (caller frees): each
 * bucket's midpoint moved, buckets that land together merged. 0 or CTR_ENOMEM. */
static int hist_scale(const struct ctr_hist_bucket *b, size_t n, double g,
		      struct ctr_hist_bucket **out, size_t *nout)
{
	struct ctr_hist_bucket *o = malloc((n + 1) * sizeof(*o));
	size_t k = 0;

	if (!o)
		return CTR_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		double mid =
		    ((double)ctr_hist_lower(b[i].idx) + (double)ctr_hist_upper(b[i].idx)) / 2;
		uint32_t idx = ctr_hist_index((uint64_t)llround(mid / g));

		if (k && o[k - 1].idx == idx) /* dividing keeps the order */
			o[k - 1].count += b[i].count;
		else
			o[k++] = (struct ctr_hist_bucket){.idx = idx, .count = b[i].count};
	}
	*out = o;
	*nout = k;
	return 0;
}

/* The baselines' values of @name under the metric into @v (*@k of them) and, with @ph, their
 * pooled histogram into *@ph (caller frees). 0 or CTR_ENOMEM. */
static int gather(const char *name, const struct ftab *bt, size_t nb, enum ctr_check_metric m,
		  double *v, size_t *k, struct ctr_hist_bucket **ph, size_t *nph)
{
	*k = 0;
	for (size_t i = 0; i < nb; i++) {
		const struct fstat *bf = ftab_find(&bt[i], name);
		double x;

		if (!bf || isnan(x = fvalue(bf, m)))
			continue;
		v[(*k)++] = x;
		if (ph && ctr_hist_merge(ph, nph, bf->h, bf->nh) < 0)
			return CTR_ENOMEM;
	}
	return 0;
}

/* The tests and verdict of the compared row @row, its candidate figure divided by the
 * run-wide factor c->run_factor; @v has room for @nb values. 0 or CTR_ENOMEM. */
static int judge(struct ctr_check_row *row, const struct ftab *ct, const struct ftab *bt, size_t nb,
		 double *v, const struct ctr_check *c)
{
	const struct fstat *cf = ftab_find(ct, row->function);
	struct ctr_hist_bucket *ph = NULL, *sh = NULL;
	int durations = c->metric != CTR_CHECK_CALLS, up, ret;
	double g = c->run_factor, adj = row->candidate / g;
	size_t k, nph = 0, nsh = 0;

	if ((ret = gather(row->function, bt, nb, c->metric, v, &k, &ph, &nph)) < 0 ||
	    (g != 1 && (ret = hist_scale(cf->h, cf->nh, g, &sh, &nsh)) < 0))
		goto out;
	row->raw_change = rel_change(row->candidate, row->baseline);
	row->change = rel_change(adj, row->baseline);
	up = adj > row->baseline;
	row->p_runs = ctr_check_runs_p(v, k, adj, durations ? CTR_CHECK_SPREAD_FLOOR : 0, up);
	row->p_rank = NAN;
	if ((c->metric == CTR_CHECK_TOTAL || c->metric == CTR_CHECK_P50) && cf->nh && nph)
		row->p_rank = g != 1 ? ctr_check_mwu_p(sh, nsh, ph, nph, up, NULL)
				     : ctr_check_mwu_p(cf->h, cf->nh, ph, nph, up, NULL);
	row->p_value = isnan(row->p_rank) || row->p_runs > row->p_rank ? row->p_runs : row->p_rank;
	row->impact = fabs(adj - row->baseline) * (durations ? cf->calls : 1);
	if (fabs(row->change) >= c->threshold && row->change != 0 && row->p_value <= c->alpha)
		row->verdict = up ? CTR_CHECK_REGRESSION : CTR_CHECK_IMPROVEMENT;
out:
	free(ph);
	free(sh);
	return ret;
}

/* Fills row @row for function @name from the candidate table @ct and the @nb baseline tables
 * @bt, all but the tests (judge()); @v has room for @nb values. 0 or CTR_ENOMEM. */
static int fill_row(struct ctr_check_row *row, const char *name, const struct ftab *ct,
		    const struct ftab *bt, size_t nb, double *v, const struct ctr_check *c)
{
	const struct fstat *cf = ftab_find(ct, name);
	size_t k = 0, present = 0;
	double mean = 0;

	row->baseline = row->candidate = row->change = row->raw_change = row->p_value = NAN;
	row->p_runs = row->p_rank = NAN;
	row->calls_min = UINT64_MAX;
	if (!(row->function = strdup(name)))
		return CTR_ENOMEM;
	if (cf) {
		row->candidate = fvalue(cf, c->metric);
		row->candidate_calls = (uint64_t)cf->calls;
	}
	for (size_t i = 0; i < nb; i++) {
		const struct fstat *bf = ftab_find(&bt[i], name);

		if (!bf)
			continue;
		present++;
		if ((uint64_t)bf->calls < row->calls_min)
			row->calls_min = (uint64_t)bf->calls;
		if ((uint64_t)bf->calls > row->calls_max)
			row->calls_max = (uint64_t)bf->calls;
	}
	gather(name, bt, nb, c->metric, v, &k, NULL, NULL);
	for (size_t i = 0; i < k; i++)
		mean += v[i];
	row->n_baselines = k;
	if (k)
		row->baseline = mean / (double)k;
	if (!present)
		row->calls_min = 0;
	if (cf && !present)
		row->behaviour |= CTR_CHECK_BEH_NEW;
	else if (!cf && present == nb)
		row->behaviour |= CTR_CHECK_BEH_GONE;
	else if (cf && present &&
		 (row->candidate_calls < row->calls_min || row->candidate_calls > row->calls_max))
		row->behaviour |= CTR_CHECK_BEH_CALLS;
	row->compared = cf && k >= CTR_CHECK_MIN_BASELINES && !isnan(row->candidate);
	return 0;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The run-wide factor: the median over the compared functions with at least
 * CTR_CHECK_FACTOR_CALLS calls of candidate / baseline, when normalizing a duration metric over
 * at least CTR_CHECK_MIN_NORMALIZE of them; else 1. Of an even number, the middle value nearer
 * to 1, so a function that changed is never averaged in. @v has room for c->n values. */
static void run_factor(struct ctr_check *c, const struct ctr_check_opts *o, double *v)
{
	size_t k = 0;

	c->run_factor = 1;
	for (size_t i = 0; i < c->n; i++) {
		const struct ctr_check_row *r = &c->rows[i];

		if (r->compared && r->baseline > 0 && r->candidate > 0 &&
		    r->candidate_calls >= CTR_CHECK_FACTOR_CALLS)
			v[k++] = r->candidate / r->baseline;
	}
	c->n_factor = k;
	if (o->no_normalize || c->metric == CTR_CHECK_CALLS || k < CTR_CHECK_MIN_NORMALIZE)
		return;
	qsort(v, k, sizeof(*v), cmp_dbl);
	if (k % 2)
		c->run_factor = v[k / 2];
	else
		c->run_factor =
		    fabs(log(v[k / 2 - 1])) < fabs(log(v[k / 2])) ? v[k / 2 - 1] : v[k / 2];
	c->normalized = 1;
}

static int row_rank(const struct ctr_check_row *r)
{
	return r->verdict == CTR_CHECK_REGRESSION ? 0 : r->verdict == CTR_CHECK_IMPROVEMENT ? 1 : 2;
}

static int cmp_rows(const void *pa, const void *pb)
{
	const struct ctr_check_row *a = pa, *b = pb;
	int ra = row_rank(a), rb = row_rank(b);

	if (ra != rb)
		return ra - rb;
	if (ra < 2 && a->impact != b->impact)
		return a->impact > b->impact ? -1 : 1;
	return strcmp(a->function, b->function);
}

static int check_rows(struct ctr_check *c, const struct ctr_check_opts *o, const struct ftab *ct,
		      const struct ftab *bt, size_t nb, const struct ftab *all, struct ctr_err *e)
{
	const char **names = NULL;
	double *v = NULL;
	size_t nn = 0;
	int ret = CTR_ENOMEM;

	if (union_names(all, nb + 1, &names, &nn) < 0 ||
	    !(v = malloc((nn + nb + 1) * sizeof(*v))) ||
	    !(c->rows = calloc(nn + 1, sizeof(*c->rows))))
		goto out;
	for (size_t i = 0; i < nn; i++)
		if (fill_row(&c->rows[c->n++], names[i], ct, bt, nb, v, c) < 0)
			goto out;
	run_factor(c, o, v);
	for (size_t i = 0; i < c->n; i++) {
		struct ctr_check_row *row = &c->rows[i];

		if (row->compared && judge(row, ct, bt, nb, v, c) < 0)
			goto out;
		c->n_compared += row->compared;
		c->n_regressions += row->verdict == CTR_CHECK_REGRESSION;
		c->n_improvements += row->verdict == CTR_CHECK_IMPROVEMENT;
		c->n_behaviour += row->behaviour != 0;
	}
	qsort(c->rows, c->n, sizeof(*c->rows), cmp_rows);
	ret = 0;
out:
	if (ret < 0)
		ctr_err_set(e, ret, 0, "out of memory comparing runs");
	free(names);
	free(v);
	return ret;
}

static int check_init(struct ctr_check **out, const struct ctr_run *const *base, size_t nb,
		      const struct ctr_run *cand, const struct ctr_check_opts *o, struct ctr_err *e)
{
	struct ctr_check *c;

	if (nb < CTR_CHECK_MIN_BASELINES)
		return ctr_err_set(
		    e, CTR_EUSAGE, 0,
		    "check needs at least %d baseline runs to know the noise (got %zu)",
		    CTR_CHECK_MIN_BASELINES, nb);
	if (!ctr_check_metric_name(o->metric) || !(o->threshold >= 0) || !(o->alpha > 0) ||
	    o->alpha > 0.5)
		return ctr_err_set(e, CTR_EUSAGE, 0, "bad check options");
	for (size_t i = 0; i < nb; i++)
		if (!strcmp(base[i]->id, cand->id))
			return ctr_err_set(e, CTR_EUSAGE, 0,
					   "the candidate '%s' is also a baseline", cand->id);
	if (!(c = calloc(1, sizeof(*c))) || !(c->baselines = calloc(nb, sizeof(*c->baselines)))) {
		free(c);
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory comparing runs");
	}
	c->metric = o->metric;
	c->threshold = o->threshold;
	c->alpha = o->alpha;
	snprintf(c->candidate, sizeof(c->candidate), "%s", cand->id);
	for (size_t i = 0; i < nb; i++)
		snprintf(c->baselines[i], sizeof(c->baselines[i]), "%s", base[i]->id);
	c->n_baselines = nb;
	*out = c;
	return 0;
}

int ctr_check_compare(const struct ctr_run *const *base, size_t nb, const struct ctr_run *cand,
		      const struct ctr_check_opts *o, struct ctr_check **out, struct ctr_err *e)
{
	struct ftab *tabs = NULL; /* [0] the candidate, then the baselines */
	struct ctr_check *c = NULL;
	int ret;

	*out = NULL;
	if ((ret = check_init(&c, base, nb, cand, o, e)) < 0)
		return ret;
	if (!(tabs = calloc(nb + 1, sizeof(*tabs)))) {
		ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory comparing runs");
		goto out;
	}
	for (size_t i = 0; i <= nb; i++)
		if ((ret = ftab_build(i ? base[i - 1] : cand, o->glob, &tabs[i], e)) < 0)
			goto out;
	if ((ret = check_rows(c, o, &tabs[0], &tabs[1], nb, tabs, e)) < 0)
		goto out;
	if (!c->n_compared) {
		ret = ctr_err_set(
		    e, CTR_ENOTFOUND, 0,
		    "no function%s%s%s is in the candidate and %d baselines with a %s "
		    "figure",
		    o->glob ? " matching '" : "", o->glob ? o->glob : "", o->glob ? "'" : "",
		    CTR_CHECK_MIN_BASELINES, ctr_check_metric_name(o->metric));
		goto out;
	}
	*out = c;
	c = NULL;
	ret = 0;
out:
	for (size_t i = 0; tabs && i <= nb; i++)
		ftab_release(&tabs[i]);
	free(tabs);
	ctr_check_free(c);
	return ret;
}

/* ---- output ---- */

static json_t *num_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *verdict_json(const struct ctr_check *c, const struct ctr_check_row *r)
{
	json_t *o = json_object();
	int fail = !o;

	fail = fail || json_object_set_new(o, "function", ctr_json_str(r->function)) < 0;
	fail = fail ||
	       json_object_set_new(o, "metric", json_string(ctr_check_metric_name(c->metric))) < 0;
	fail = fail || json_object_set_new(o, "baseline_ns", num_or_null(r->baseline)) < 0;
	fail = fail || json_object_set_new(o, "candidate_ns", num_or_null(r->candidate)) < 0;
	fail = fail || json_object_set_new(o, "change", num_or_null(r->change)) < 0;
	fail = fail || json_object_set_new(o, "p_value", num_or_null(r->p_value)) < 0;
	fail = fail || json_object_set_new(o, "raw_change", num_or_null(r->raw_change)) < 0;
	fail = fail || json_object_set_new(o, "p_runs", num_or_null(r->p_runs)) < 0;
	fail = fail || json_object_set_new(o, "p_rank", num_or_null(r->p_rank)) < 0;
	fail = fail || json_object_set_new(o, "impact_ns", num_or_null(r->impact)) < 0;
	fail = fail || json_object_set_new(o, "baseline_runs",
					   json_integer((json_int_t)r->n_baselines)) < 0;
	if (fail) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static const char *behaviour_kind(unsigned b)
{
	return b & CTR_CHECK_BEH_NEW ? "new" : b & CTR_CHECK_BEH_GONE ? "gone" : "calls";
}

static json_t *behaviour_json(const struct ctr_check_row *r)
{
	json_t *o = json_object();
	int fail = !o;

	fail = fail || json_object_set_new(o, "function", ctr_json_str(r->function)) < 0;
	fail =
	    fail || json_object_set_new(o, "kind", json_string(behaviour_kind(r->behaviour))) < 0;
	fail = fail || json_object_set_new(o, "baseline_calls_min",
					   json_integer((json_int_t)r->calls_min)) < 0;
	fail = fail || json_object_set_new(o, "baseline_calls_max",
					   json_integer((json_int_t)r->calls_max)) < 0;
	fail = fail || json_object_set_new(o, "candidate_calls",
					   json_integer((json_int_t)r->candidate_calls)) < 0;
	if (fail) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The regressions, improvements and behaviour changes arrays into @o. */
static int rows_json(json_t *o, const struct ctr_check *c)
{
	json_t *reg = json_array(), *imp = json_array(), *beh = json_array();
	int fail = !reg || !imp || !beh;

	for (size_t i = 0; !fail && i < c->n; i++) {
		const struct ctr_check_row *r = &c->rows[i];

		if (r->verdict != CTR_CHECK_SAME)
			fail = json_array_append_new(r->verdict == CTR_CHECK_REGRESSION ? reg : imp,
						     verdict_json(c, r)) < 0;
		if (!fail && r->behaviour)
			fail = json_array_append_new(beh, behaviour_json(r)) < 0;
	}
	fail = fail || json_object_set(o, "regressions", reg) < 0;
	fail = fail || json_object_set(o, "improvements", imp) < 0;
	fail = fail || json_object_set(o, "behaviour_changes", beh) < 0;
	json_decref(reg);
	json_decref(imp);
	json_decref(beh);
	return fail ? -1 : 0;
}

json_t *ctr_check_json(const struct ctr_check *c)
{
	json_t *o = json_object(), *ids = json_array();
	int fail = !o || !ids;

	for (size_t i = 0; !fail && i < c->n_baselines; i++)
		fail = json_array_append_new(ids, json_string(c->baselines[i])) < 0;
	fail = fail || json_object_set_new(o, "candidate", json_string(c->candidate)) < 0;
	fail = fail || json_object_set(o, "baselines", ids) < 0;
	fail = fail ||
	       json_object_set_new(o, "metric", json_string(ctr_check_metric_name(c->metric))) < 0;
	fail = fail || json_object_set_new(o, "threshold", json_real(c->threshold)) < 0;
	fail = fail || json_object_set_new(o, "alpha", json_real(c->alpha)) < 0;
	fail =
	    fail || json_object_set_new(o, "compared", json_integer((json_int_t)c->n_compared)) < 0;
	fail = fail || json_object_set_new(o, "run_factor", json_real(c->run_factor)) < 0;
	fail = fail || json_object_set_new(o, "normalized", json_boolean(c->normalized)) < 0;
	fail = fail || rows_json(o, c) < 0;
	json_decref(ids);
	if (fail) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static void fmt_value(char *buf, size_t n, double v, enum ctr_check_metric m)
{
	if (!isfinite(v))
		snprintf(buf, n, "-");
	else if (m == CTR_CHECK_CALLS)
		ctr_fmt_count(buf, n, (uint64_t)llround(v));
	else
		ctr_fmt_ns(buf, n, (uint64_t)llround(v));
}

/* "99.9%" from a p-value; ">99.99%" below 1e-4. */
static void fmt_confidence(char *buf, size_t n, double p)
{
	if (isnan(p))
		snprintf(buf, n, "-");
	else if (p < 1e-4)
		snprintf(buf, n, ">99.99%%");
	else
		snprintf(buf, n, "%.2f%%", (1 - p) * 100);
}

static void print_verdicts(FILE *w, const struct ctr_check *c, int verdict, const char *title,
			   size_t count)
{
	fprintf(w, "\n%s (%zu)\n", title, count);
	if (!count)
		return;
	fprintf(w, "%-40s %12s %12s %9s %11s\n", "FUNCTION", "BASELINE", "CANDIDATE", "CHANGE",
		"CONFIDENCE");
	for (size_t i = 0; i < c->n; i++) {
		const struct ctr_check_row *r = &c->rows[i];
		char b[32], cd[32], conf[16];

		if (r->verdict != verdict)
			continue;
		fmt_value(b, sizeof(b), r->baseline, c->metric);
		fmt_value(cd, sizeof(cd), r->candidate, c->metric);
		fmt_confidence(conf, sizeof(conf), r->p_value);
		fprintf(w, "%-40s %12s %12s %+8.1f%% %11s\n", r->function, b, cd, r->change * 100,
			conf);
	}
}

static void print_behaviour(FILE *w, const struct ctr_check *c)
{
	fprintf(w, "\nBEHAVIOUR CHANGES (%zu)\n", c->n_behaviour);
	if (!c->n_behaviour)
		return;
	fprintf(w, "%-40s %-6s %25s %15s\n", "FUNCTION", "KIND", "BASELINE CALLS",
		"CANDIDATE CALLS");
	for (size_t i = 0; i < c->n; i++) {
		const struct ctr_check_row *r = &c->rows[i];
		char lo[32], hi[32], cc[32], range[72];

		if (!r->behaviour)
			continue;
		ctr_fmt_count(lo, sizeof(lo), r->calls_min);
		ctr_fmt_count(hi, sizeof(hi), r->calls_max);
		ctr_fmt_count(cc, sizeof(cc), r->candidate_calls);
		if (r->behaviour & CTR_CHECK_BEH_NEW)
			snprintf(range, sizeof(range), "-");
		else if (r->calls_min == r->calls_max)
			snprintf(range, sizeof(range), "%s", lo);
		else
			snprintf(range, sizeof(range), "%s..%s", lo, hi);
		fprintf(w, "%-40s %-6s %25s %15s\n", r->function, behaviour_kind(r->behaviour),
			range, r->behaviour & CTR_CHECK_BEH_GONE ? "-" : cc);
	}
}

int ctr_check_print(FILE *out, const struct ctr_check *c)
{
	FILE *vis = ctr_fmt_visible_stream(out), *w = vis ? vis : out;
	int ret;

	fprintf(w,
		"ctrace check: candidate %s against %zu baseline run(s); metric %s, threshold "
		"%.1f%%, alpha %g\n",
		c->candidate, c->n_baselines, ctr_check_metric_name(c->metric), c->threshold * 100,
		c->alpha);
	if (c->normalized)
		fprintf(w,
			"the candidate run as a whole: %+.1f%% (median of %zu functions); changes "
			"are relative to it (--no-normalize: raw)\n",
			(c->run_factor - 1) * 100, c->n_factor);
	print_verdicts(w, c, CTR_CHECK_REGRESSION, "REGRESSIONS", c->n_regressions);
	print_verdicts(w, c, CTR_CHECK_IMPROVEMENT, "IMPROVEMENTS", c->n_improvements);
	print_behaviour(w, c);
	fprintf(w,
		"\n%zu function(s) compared: %zu regression(s), %zu improvement(s), %zu "
		"behaviour change(s)\n",
		c->n_compared, c->n_regressions, c->n_improvements, c->n_behaviour);
	ret = ferror(w) ? -1 : 0;
	if (vis && fclose(vis) != 0)
		ret = -1;
	return ret;
}
