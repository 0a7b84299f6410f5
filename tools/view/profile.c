/* SPDX-License-Identifier: MIT */
/*
 * The aggregates every view starts from: the calling-context tree's child and sibling links
 * (ctr_cct_build), the flat per-function profile (ctr_report_profile) and its orders, and the
 * run's base times. report.c, latency.c and exclusions.c use them; this file uses none of
 * theirs, so the folder's calls point one way.
 */
#include "report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cxxname.h"

static const char *fname(const struct ctr_run *run, uint32_t fid)
{
	return ctr_cxx_display(run, fid);
}

static uint64_t n_total(const struct ctr_node *nd, int raw)
{
	return raw ? nd->raw_total_ns : nd->total_ns;
}

static uint64_t n_self(const struct ctr_node *nd, int raw)
{
	return raw ? nd->raw_self_ns : nd->self_ns;
}

uint64_t ctr_report_thread_base_ns(const struct ctr_run *run, uint32_t thread, int raw)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < run->n_nodes; i++)
		if (run->nodes[i].parent == CTR_NONE &&
		    (thread == CTR_NONE || run->nodes[i].thread == thread))
			sum += n_total(&run->nodes[i], raw);
	return sum;
}

uint64_t ctr_report_base_ns(const struct ctr_run *run, int raw)
{
	uint64_t sum = ctr_report_thread_base_ns(run, CTR_NONE, raw);

	return sum ? sum : run->duration_ns;
}

uint64_t ctr_report_oncpu_ns(const struct ctr_node *nd, int raw)
{
	uint64_t t = raw ? nd->raw_total_ns : nd->total_ns;

	return t > nd->offcpu_ns ? t - nd->offcpu_ns : 0;
}

/* ---- calling-context tree ---- */

int ctr_cct_build(struct ctr_cct *t, const struct ctr_run *run, struct ctr_err *e)
{
	size_t nn = run->n_nodes, nt = run->n_threads;

	memset(t, 0, sizeof(*t));
	t->first_child = malloc((nn ? nn : 1) * sizeof(uint32_t));
	t->next_sibling = malloc((nn ? nn : 1) * sizeof(uint32_t));
	t->root = malloc((nt ? nt : 1) * sizeof(uint32_t));
	if (!t->first_child || !t->next_sibling || !t->root) {
		ctr_cct_release(t);
		return ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory building the call tree");
	}
	t->n_nodes = nn;
	t->n_threads = nt;
	for (size_t i = 0; i < nn; i++)
		t->first_child[i] = t->next_sibling[i] = CTR_NONE;
	for (size_t i = 0; i < nt; i++)
		t->root[i] = CTR_NONE;
	/* Reverse order so that pushing at the head keeps children in stored order. */
	for (size_t k = nn; k-- > 0;) {
		const struct ctr_node *nd = &run->nodes[k];

		if (nd->thread >= nt || nd->function >= run->n_functions ||
		    (nd->parent != CTR_NONE && nd->parent >= k) ||
		    (nd->parent != CTR_NONE && run->nodes[nd->parent].thread != nd->thread)) {
			ctr_cct_release(t);
			ctr_err_ctx(e, NULL, run->id, -1);
			return ctr_err_set(e, CTR_EFORMAT, 0,
					   "corrupt run '%s': bad call tree node %zu", run->id, k);
		}
		if (nd->parent == CTR_NONE) {
			t->next_sibling[k] = t->root[nd->thread];
			t->root[nd->thread] = (uint32_t)k;
		} else {
			t->next_sibling[k] = t->first_child[nd->parent];
			t->first_child[nd->parent] = (uint32_t)k;
		}
	}
	return 0;
}

void ctr_cct_release(struct ctr_cct *t)
{
	if (!t)
		return;
	free(t->first_child);
	free(t->next_sibling);
	free(t->root);
	memset(t, 0, sizeof(*t));
}

/* ---- flat profile ---- */

#define EXIT_BIT 0x80000000u

/* Node @nd's per-call extremes @mn, @mx into row @p. @left_out (ctr_report_left_out()): a node
 * every call of which was left out has those calls' extremes, which count for @p only when no
 * other node gave it any; @fb holds them meanwhile. */
static void row_minmax(struct ctr_prof_entry *p, uint64_t fb[2], const struct ctr_node *nd,
		       uint64_t mn, uint64_t mx, int left_out)
{
	if (!nd->calls)
		return;
	if (left_out && nd->preempted_calls >= nd->calls) {
		fb[0] = mn < fb[0] ? mn : fb[0];
		fb[1] = mx > fb[1] ? mx : fb[1];
		return;
	}
	p->min_ns = mn < p->min_ns ? mn : p->min_ns;
	p->max_ns = mx > p->max_ns ? mx : p->max_ns;
}

int ctr_report_profile(const struct ctr_run *run, uint32_t thread, int raw,
		       struct ctr_prof_entry **out, size_t *n, struct ctr_err *e)
{
	struct ctr_cct t;
	uint32_t *active = NULL, *row = NULL, *stack = NULL;
	struct ctr_prof_entry *rows = NULL;
	uint64_t(*fb)[2] = NULL; /* per row: row_minmax() */
	size_t nrows = 0, sp = 0;
	int ret, left_out = ctr_report_left_out(run);

	*out = NULL;
	*n = 0;
	ret = ctr_cct_build(&t, run, e);
	if (ret)
		return ret;
	ret = ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory aggregating the profile");
	active = calloc(run->n_functions + 1, sizeof(*active));
	row = malloc((run->n_functions + 1) * sizeof(*row));
	rows = calloc(run->n_functions + 1, sizeof(*rows));
	fb = calloc(run->n_functions + 1, sizeof(*fb));
	/* Every node is pushed once and its exit marker once. */
	stack = malloc((2 * run->n_nodes + 1) * sizeof(*stack));
	if (!active || !row || !rows || !fb || !stack)
		goto out;
	if (e && e->code == CTR_ENOMEM)
		ctr_err_clear(e);
	for (size_t f = 0; f < run->n_functions; f++)
		row[f] = CTR_NONE;
	for (size_t th = 0; th < run->n_threads; th++) {
		if (thread != CTR_NONE && th != thread)
			continue;
		for (uint32_t r = t.root[th]; r != CTR_NONE; r = t.next_sibling[r])
			stack[sp++] = r;
		while (sp) {
			uint32_t v = stack[--sp];
			const struct ctr_node *nd = &run->nodes[v & ~EXIT_BIT];
			struct ctr_prof_entry *p;
			uint64_t mn = raw ? nd->raw_min_ns : nd->min_ns;
			uint64_t mx = raw ? nd->raw_max_ns : nd->max_ns;

			if (v & EXIT_BIT) {
				active[nd->function]--;
				continue;
			}
			if (row[nd->function] == CTR_NONE) {
				row[nd->function] = (uint32_t)nrows;
				rows[nrows].function = nd->function;
				rows[nrows].min_ns = fb[nrows][0] = UINT64_MAX;
				nrows++;
			}
			p = &rows[row[nd->function]];
			p->calls += nd->calls;
			p->preempted_calls += nd->preempted_calls;
			p->self_ns += n_self(nd, raw);
			if (!active[nd->function]) {
				p->total_ns += n_total(nd, raw);
				p->offcpu_ns += nd->offcpu_ns;
				p->preempt_ns += nd->preempt_ns;
			}
			{ /* off-CPU in no callee: the node's less its children's */
				uint64_t kids = 0;

				for (uint32_t c = t.first_child[v]; c != CTR_NONE;
				     c = t.next_sibling[c])
					kids += run->nodes[c].offcpu_ns;
				p->offcpu_self_ns +=
				    nd->offcpu_ns > kids ? nd->offcpu_ns - kids : 0;
			}
			row_minmax(p, fb[row[nd->function]], nd, mn, mx, left_out);
			active[nd->function]++;
			stack[sp++] = v | EXIT_BIT;
			for (uint32_t c = t.first_child[v]; c != CTR_NONE; c = t.next_sibling[c])
				stack[sp++] = c;
		}
	}
	for (size_t i = 0; i < nrows; i++) {
		if (rows[i].min_ns == UINT64_MAX && fb[i][0] != UINT64_MAX) {
			rows[i].min_ns = fb[i][0];
			rows[i].max_ns = fb[i][1];
		}
		if (rows[i].min_ns == UINT64_MAX)
			rows[i].min_ns = 0;
	}
	if (nrows) {
		*out = rows;
		rows = NULL;
	}
	*n = nrows;
	ret = 0;
out:
	free(active);
	free(row);
	free(rows);
	free(fb);
	free(stack);
	ctr_cct_release(&t);
	return ret;
}

static uint64_t sort_value(const struct ctr_prof_entry *p, int key)
{
	switch (key) {
	case CTR_SORT_TOTAL:
		return p->total_ns;
	case CTR_SORT_CALLS:
		return p->calls;
	case CTR_SORT_AVG:
		return p->calls ? p->total_ns / p->calls : 0;
	case CTR_SORT_MAX:
		return p->max_ns;
	case CTR_SORT_OFFCPU:
		return p->offcpu_ns;
	default:
		return p->self_ns;
	}
}

struct sort_ctx {
	const struct ctr_run *run;
	int key;
};

static int cmp_rows(const void *pa, const void *pb, void *arg)
{
	const struct sort_ctx *c = arg;
	const struct ctr_prof_entry *a = pa, *b = pb;
	int r;

	if (c->key != CTR_SORT_NAME) {
		uint64_t va = sort_value(a, c->key), vb = sort_value(b, c->key);

		if (va != vb)
			return va > vb ? -1 : 1;
	}
	r = strcmp(fname(c->run, a->function), fname(c->run, b->function));
	if (r)
		return r;
	return a->function < b->function ? -1 : a->function > b->function;
}

void ctr_report_sort(const struct ctr_run *run, struct ctr_prof_entry *rows, size_t n, int key)
{
	struct sort_ctx c = {run, key};

	if (n > 1)
		qsort_r(rows, n, sizeof(*rows), cmp_rows, &c);
}
