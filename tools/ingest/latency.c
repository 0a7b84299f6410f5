/* SPDX-License-Identifier: MIT */
/*
 * Latency distributions of a commit (see latency.h): exact while the run is small, histograms
 * keyed by (node, excluded, bucket) in one hash map once it is not. A call left out
 * (ctr_lat_add_excluded()) carries a flag; each node's or function's figures are of its calls
 * without it, or of all of them when every one has it.
 */
#include "latency.h"

#include <stdlib.h>
#include <string.h>

#include "../../common/grow.h"
#include "../../common/hist.h"
#include "../../common/hmap.h"

#define IDX_BITS 13			   /* CTR_HIST_BUCKETS < 2^13 */
#define EXCL_BIT ((uint64_t)1 << IDX_BITS) /* above the bucket: sorts after the id's others */
#define ID_SHIFT (IDX_BITS + 1)

struct pair {
	uint64_t ns;
	uint32_t key;  /* node, then function */
	uint32_t excl; /* left out unless the key has no other */
};

struct entry {
	uint64_t key; /* id << ID_SHIFT | excluded << IDX_BITS | bucket */
	uint64_t count;
};

struct ctr_lat {
	struct pair *pairs; /* exact mode: every call */
	size_t n_pairs, cap_pairs;
	int hist_mode;
	/* histogram mode: open addressing on the entry key + 1 (0 = empty), the
	 * count beside its key (one cache line a call); made a packed cnt[] at the end */
	struct entry *tab;
	size_t tab_cap;
	struct entry *cnt;
	size_t n_cnt;
	int nomem;
};

int ctr_lat_open(struct ctr_lat **out, uint64_t expect)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return CTR_ENOMEM;
	(*out)->hist_mode = expect > 4 * (uint64_t)CTR_LAT_EXACT;
	return 0;
}

void ctr_lat_free(struct ctr_lat *l)
{
	if (!l)
		return;
	free(l->pairs);
	free(l->tab);
	free(l->cnt);
	free(l);
}

/* Doubles the table (at half load). 0 or -1. */
static int tab_grow(struct ctr_lat *l)
{
	size_t cap = l->tab_cap ? 2 * l->tab_cap : 4096;
	struct entry *t = calloc(cap, sizeof(*t));

	if (!t)
		return -1;
	for (size_t i = 0; i < l->tab_cap; i++)
		if (l->tab[i].key) {
			size_t j = ctr_hash_mix64(l->tab[i].key) & (cap - 1);

			while (t[j].key)
				j = (j + 1) & (cap - 1);
			t[j] = l->tab[i];
		}
	free(l->tab);
	l->tab = t;
	l->tab_cap = cap;
	return 0;
}

static void hist_add(struct ctr_lat *l, uint32_t node, uint64_t ns, int excl)
{
	uint64_t key =
	    (((uint64_t)node << ID_SHIFT) | (excl ? EXCL_BIT : 0) | ctr_hist_index(ns)) + 1;
	size_t i;

	if (2 * (l->n_cnt + 1) > l->tab_cap && tab_grow(l)) {
		l->nomem = 1;
		return;
	}
	for (i = ctr_hash_mix64(key) & (l->tab_cap - 1); l->tab[i].key;
	     i = (i + 1) & (l->tab_cap - 1))
		if (l->tab[i].key == key) {
			l->tab[i].count++;
			return;
		}
	l->tab[i] = (struct entry){key, 1};
	l->n_cnt++;
}

/* The table's entries, packed into cnt[] with their keys back. 0 or -1. */
static int tab_pack(struct ctr_lat *l)
{
	size_t n = 0;

	if (!(l->cnt = malloc((l->n_cnt + 1) * sizeof(*l->cnt))))
		return -1;
	for (size_t i = 0; i < l->tab_cap; i++)
		if (l->tab[i].key)
			l->cnt[n++] = (struct entry){l->tab[i].key - 1, l->tab[i].count};
	free(l->tab);
	l->tab = NULL;
	l->tab_cap = 0;
	return 0;
}

static void lat_add(struct ctr_lat *l, uint32_t node, uint64_t ns, int excl)
{
	if (!l || l->nomem)
		return;
	if (l->hist_mode) {
		hist_add(l, node, ns, excl);
		return;
	}
	if (l->n_pairs < CTR_LAT_EXACT) {
		if (ctr_grow((void **)&l->pairs, &l->cap_pairs, l->n_pairs + 1,
			     sizeof(*l->pairs))) {
			l->nomem = 1;
			return;
		}
		l->pairs[l->n_pairs++] = (struct pair){ns, node, excl != 0};
		return;
	}
	/* too many calls to keep: fold what we have into histograms */
	l->hist_mode = 1;
	for (size_t i = 0; i < l->n_pairs; i++)
		hist_add(l, l->pairs[i].key, l->pairs[i].ns, (int)l->pairs[i].excl);
	free(l->pairs);
	l->pairs = NULL;
	l->n_pairs = l->cap_pairs = 0;
	hist_add(l, node, ns, excl);
}

void ctr_lat_add(struct ctr_lat *l, uint32_t node, uint64_t ns)
{
	lat_add(l, node, ns, 0);
}

void ctr_lat_add_excluded(struct ctr_lat *l, uint32_t node, uint64_t ns)
{
	lat_add(l, node, ns, 1);
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

/* Where the results of one node or function go. */
struct target {
	uint64_t *p50, *p90, *p99, *p999;
	unsigned char **hist;
	size_t *hist_size;
};

static struct target node_target(struct ctr_node *n)
{
	return (struct target){&n->p50_ns,  &n->p90_ns, &n->p99_ns,
			       &n->p999_ns, &n->hist,	&n->hist_size};
}

static struct target fn_target(struct ctr_function *f)
{
	return (struct target){&f->p50_ns,  &f->p90_ns, &f->p99_ns,
			       &f->p999_ns, &f->hist,	&f->hist_size};
}

static const double quantiles[4] = {0.5, 0.9, 0.99, 0.999};

/* Nearest rank of quantile @q among @n values, 0-based. */
static size_t rank_of(size_t n, double q)
{
	double r = (double)n * q;
	size_t k = (size_t)r;

	if ((double)k < r - 1e-9)
		k++;
	return k ? k - 1 : 0;
}

static int store_hist(struct target t, const struct ctr_hist_bucket *b, size_t nb)
{
	free(*t.hist);
	*t.hist = NULL;
	*t.hist_size = 0;
	return ctr_hist_encode(b, nb, t.hist, t.hist_size);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Scratch space of the exact pass, reused for every node and function. */
struct exact_ws {
	struct ctr_hist_bucket *b; /* CTR_HIST_BUCKETS */
	uint32_t *dense;	   /* CTR_HIST_BUCKETS counts, zero between uses */
	uint64_t *tmp;		   /* values of one bucket, up to the largest segment */
};

/* The value of 0-based rank @r among v[0..n), with @b (@nb buckets) their histogram: only the
 * values of the bucket holding rank r are sorted, so a whole pass stays O(calls). */
static uint64_t exact_rank(const uint64_t *v, size_t n, const struct ctr_hist_bucket *b, size_t nb,
			   size_t r, uint64_t *tmp)
{
	size_t seen = 0, k = 0, m = 0;

	while (k < nb && seen + b[k].count <= r)
		seen += b[k++].count;
	if (k == nb)
		k = nb - 1;
	if (ctr_hist_lower(b[k].idx) == ctr_hist_upper(b[k].idx))
		return ctr_hist_lower(b[k].idx); /* a one-value bucket */
	for (size_t i = 0; i < n; i++)
		if (ctr_hist_index(v[i]) == b[k].idx)
			tmp[m++] = v[i];
	if (m > 1)
		qsort(tmp, m, sizeof(*tmp), cmp_u64);
	return tmp[r - seen < m ? r - seen : m - 1];
}

/* The values v[0..n) (any order) of one target: exact percentiles and their histogram. */
static int exact_one(struct target t, const uint64_t *v, size_t n, struct exact_ws *ws)
{
	uint64_t *out[4] = {t.p50, t.p90, t.p99, t.p999};
	uint32_t lo = UINT32_MAX, hi = 0;
	size_t nb = 0;

	for (size_t i = 0; i < n; i++) {
		uint32_t idx = ctr_hist_index(v[i]);

		ws->dense[idx]++;
		lo = idx < lo ? idx : lo;
		hi = idx > hi ? idx : hi;
	}
	for (uint32_t idx = lo; n && idx <= hi; idx++)
		if (ws->dense[idx]) {
			ws->b[nb++] = (struct ctr_hist_bucket){idx, ws->dense[idx]};
			ws->dense[idx] = 0;
		}
	for (int k = 0; k < 4; k++)
		*out[k] = exact_rank(v, n, ws->b, nb, rank_of(n, quantiles[k]), ws->tmp);
	return store_hist(t, ws->b, nb);
}

/* Groups the kept durations by key (node, or function with @functions) with a counting sort,
 * those left out last in each group, then computes each group's exact figures: of its calls
 * not left out, or of all when there are none. */
static int exact_pass(struct ctr_lat *l, struct ctr_run *run, int functions, struct exact_ws *ws)
{
	size_t nkeys = functions ? run->n_functions : run->n_nodes;
	size_t *start = calloc(nkeys + 2, sizeof(*start)), *in = malloc((nkeys + 1) * sizeof(*in));
	uint64_t *vals = malloc((l->n_pairs + 1) * sizeof(*vals));
	int ret = CTR_ENOMEM;

	if (!start || !in || !vals)
		goto out;
	for (size_t i = 0; i < l->n_pairs; i++)
		start[l->pairs[i].key + 1]++;
	for (size_t k = 0; k < nkeys; k++)
		start[k + 1] += start[k];
	for (int excl = 0; excl < 2; excl++) {
		for (size_t i = 0; i < l->n_pairs; i++)
			if ((int)l->pairs[i].excl == excl)
				vals[start[l->pairs[i].key]++] = l->pairs[i].ns;
		if (!excl) /* in[k]: the end of group k's calls not left out */
			memcpy(in, start, nkeys * sizeof(*in));
	}
	/* start[k] is now the end of group k, which begins where group k-1 ends */
	ret = 0;
	for (size_t k = 0, b = 0; k < nkeys && !ret; b = start[k++]) {
		if (start[k] == b)
			continue;
		struct target t =
		    functions ? fn_target(&run->functions[k]) : node_target(&run->nodes[k]);

		ret = exact_one(t, vals + b, (in[k] > b ? in[k] : start[k]) - b, ws);
	}
out:
	free(start);
	free(in);
	free(vals);
	return ret;
}

/* Sorted entries of one id: percentiles from the histogram, clamped to [min, max]. */
static int hist_one(struct target t, const struct entry *en, size_t n, uint64_t min, uint64_t max,
		    struct ctr_hist_bucket *scratch)
{
	uint64_t *out[4] = {t.p50, t.p90, t.p99, t.p999};
	size_t nb = 0;

	for (size_t i = 0; i < n; i++) {
		uint32_t idx = (uint32_t)(en[i].key & (EXCL_BIT - 1));

		if (nb && scratch[nb - 1].idx == idx)
			scratch[nb - 1].count += en[i].count;
		else
			scratch[nb++] = (struct ctr_hist_bucket){idx, en[i].count};
	}
	for (int k = 0; k < 4; k++)
		*out[k] = ctr_hist_quantile(scratch, nb, quantiles[k], min, max);
	return store_hist(t, scratch, nb);
}

/* Each node's (or with @functions each function's) figures from the sorted entries. The node
 * pass marks in @kept the nodes with a call not left out. */
static int hist_pass(struct ctr_lat *l, struct ctr_run *run, int functions, const uint64_t *fmin,
		     const uint64_t *fmax, unsigned char *kept, struct ctr_hist_bucket *scratch)
{
	int ret;

	if (l->n_cnt > 1)
		qsort(l->cnt, l->n_cnt, sizeof(*l->cnt), cmp_entry);
	for (size_t i = 0, j, m; i < l->n_cnt; i = j) {
		uint64_t id = l->cnt[i].key >> ID_SHIFT;

		for (j = i; j < l->n_cnt && (l->cnt[j].key >> ID_SHIFT) == id; j++)
			;
		/* the calls left out sort last: [i, m) are the others, if there are any */
		for (m = i; m < j && !(l->cnt[m].key & EXCL_BIT); m++)
			;
		struct target t =
		    functions ? fn_target(&run->functions[id]) : node_target(&run->nodes[id]);
		uint64_t mn = functions ? fmin[id] : run->nodes[id].min_ns,
			 mx = functions ? fmax[id] : run->nodes[id].max_ns;

		if (kept && m > i)
			kept[id] = 1;

		if ((ret = hist_one(t, l->cnt + i, (m > i ? m : j) - i, mn, mx, scratch)))
			return ret;
	}
	return 0;
}

/* Each function's [min, max], the clamp of its histogram estimates (and its exact largest
 * value): over its nodes with a call not left out (@kept), else over all of them, since its
 * percentiles are of those calls alone (a node whose calls were all left out has theirs). */
static void fn_bounds(const struct ctr_run *run, const unsigned char *kept, unsigned char *fk,
		      uint64_t *fmin, uint64_t *fmax)
{
	for (size_t i = 0; i < run->n_functions; i++)
		fmin[i] = UINT64_MAX;
	for (size_t i = 0; i < run->n_nodes; i++)
		if (kept[i])
			fk[run->nodes[i].function] = 1;
	for (size_t i = 0; i < run->n_nodes; i++) {
		const struct ctr_node *n = &run->nodes[i];

		if (fk[n->function] && !kept[i])
			continue;
		if (n->min_ns < fmin[n->function])
			fmin[n->function] = n->min_ns;
		if (n->max_ns > fmax[n->function])
			fmax[n->function] = n->max_ns;
	}
}

static int hist_finish(struct ctr_lat *l, struct ctr_run *run, struct ctr_hist_bucket *scratch)
{
	uint64_t *fmin = calloc(run->n_functions + 1, sizeof(*fmin)),
		 *fmax = calloc(run->n_functions + 1, sizeof(*fmax));
	unsigned char *kept = calloc(run->n_nodes + 1, 1), *fk = calloc(run->n_functions + 1, 1);
	int ret = CTR_ENOMEM;

	if (!fmin || !fmax || !kept || !fk || tab_pack(l))
		goto out;
	if ((ret = hist_pass(l, run, 0, NULL, NULL, kept, scratch)))
		goto out;
	fn_bounds(run, kept, fk, fmin, fmax);
	/* the same counts keyed by function; duplicates sum up in hist_one */
	for (size_t i = 0; i < l->n_cnt; i++) {
		uint64_t node = l->cnt[i].key >> ID_SHIFT;

		l->cnt[i].key = ((uint64_t)run->nodes[node].function << ID_SHIFT) |
				(l->cnt[i].key & ((EXCL_BIT << 1) - 1));
	}
	ret = hist_pass(l, run, 1, fmin, fmax, NULL, scratch);
out:
	free(fmin);
	free(fmax);
	free(kept);
	free(fk);
	return ret;
}

int ctr_lat_finish(struct ctr_lat *l, struct ctr_run *run, struct ctr_err *e)
{
	struct ctr_hist_bucket *scratch = NULL;
	struct exact_ws ws = {0};
	int ret = CTR_ENOMEM;

	if (!l || l->nomem)
		goto out;
	if (!(scratch = malloc(CTR_HIST_BUCKETS * sizeof(*scratch))))
		goto out;
	if (l->hist_mode) {
		ret = hist_finish(l, run, scratch);
		goto out;
	}
	ws.b = scratch;
	ws.dense = calloc(CTR_HIST_BUCKETS, sizeof(*ws.dense));
	ws.tmp = malloc((l->n_pairs + 1) * sizeof(*ws.tmp));
	if (!ws.dense || !ws.tmp)
		goto out;
	if ((ret = exact_pass(l, run, 0, &ws)))
		goto out;
	for (size_t i = 0; i < l->n_pairs; i++)
		l->pairs[i].key = run->nodes[l->pairs[i].key].function;
	ret = exact_pass(l, run, 1, &ws);
out:
	free(ws.dense);
	free(ws.tmp);
	free(scratch);
	if (ret == CTR_ENOMEM)
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory computing latency percentiles");
	return ret;
}
