/* SPDX-License-Identifier: MIT */
/*
 * --graph FUNC (graph.h): two merged trees built from the calling-context tree in O(nodes x
 * depth) for the backtrace and O(nodes) for the callees, each keyed by (merged parent,
 * function) in one hash map, printed without recursion.
 */
#include "graph.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/grow.h"
#include "../../common/hmap.h"
#include "cxxname.h"

#define NAME_BUF 1024
#define INDENT_MAX 64

struct mnode {
	uint32_t fid;
	uint32_t parent, first, next; /* CTR_NONE terminated */
	uint64_t calls, total, self;
};

struct mtree {
	struct mnode *n;
	size_t len, cap;
	struct ctr_hmap kids; /* (parent << 32 | fid) + 1 -> node */
};

static void mtree_release(struct mtree *m)
{
	free(m->n);
	ctr_hmap_free(&m->kids);
	memset(m, 0, sizeof(*m));
}

/* The child of @parent (CTR_NONE: a root) for function @fid, created when missing. */
static int mtree_child(struct mtree *m, uint32_t parent, uint32_t fid, uint32_t *out)
{
	uint64_t key = (((uint64_t)parent << 32) | fid) + 1;
	uint32_t *v = ctr_hmap_get(&m->kids, key);

	if (v) {
		*out = *v;
		return 0;
	}
	if (ctr_grow((void **)&m->n, &m->cap, m->len + 1, sizeof(*m->n)) ||
	    ctr_hmap_put(&m->kids, key, (uint32_t)m->len))
		return CTR_ENOMEM;
	m->n[m->len] = (struct mnode){fid, parent, CTR_NONE, CTR_NONE, 0, 0, 0};
	if (parent != CTR_NONE) {
		m->n[m->len].next = m->n[parent].first;
		m->n[parent].first = (uint32_t)m->len;
	}
	*out = (uint32_t)m->len++;
	return 0;
}

static uint64_t tot(const struct ctr_node *nd, int raw)
{
	return raw ? nd->raw_total_ns : nd->total_ns;
}

static uint64_t slf(const struct ctr_node *nd, int raw)
{
	return raw ? nd->raw_self_ns : nd->self_ns;
}

/* Per node: 1 if a node of a matching function is a strict ancestor. */
static char *inside_table(const struct ctr_run *run, const char *matched)
{
	char *in = calloc(run->n_nodes + 1, 1);

	for (size_t i = 0; in && i < run->n_nodes; i++) {
		uint32_t p = run->nodes[i].parent;

		in[i] = p != CTR_NONE && p < i && (in[p] || matched[run->nodes[p].function]);
	}
	return in;
}

/* Backtrace of one root @root (function @fid): the outermost calls' paths upwards. */
static int build_backtrace(struct mtree *m, const struct ctr_run *run, const char *matched,
			   const char *inside, uint32_t fid, int raw, uint32_t *root)
{
	int ret;

	if ((ret = mtree_child(m, CTR_NONE, fid, root)))
		return ret;
	for (size_t i = 0; i < run->n_nodes; i++) {
		const struct ctr_node *nd = &run->nodes[i];
		uint32_t cur = *root;

		if (nd->function != fid || inside[i] || !matched[fid])
			continue;
		m->n[cur].calls += nd->calls;
		m->n[cur].total += tot(nd, raw);
		m->n[cur].self += slf(nd, raw);
		for (uint32_t p = nd->parent; p != CTR_NONE; p = run->nodes[p].parent) {
			if ((ret = mtree_child(m, cur, run->nodes[p].function, &cur)))
				return ret;
			m->n[cur].calls += nd->calls;
			m->n[cur].total += tot(nd, raw);
		}
	}
	return 0;
}

/* FUNC's subtree, merged: every node below an outermost call of @fid maps to one node. */
static int build_callees(struct mtree *m, const struct ctr_run *run, const char *inside,
			 uint32_t fid, int raw, uint32_t *root, uint32_t *map)
{
	int ret;

	if ((ret = mtree_child(m, CTR_NONE, fid, root)))
		return ret;
	for (size_t i = 0; i < run->n_nodes; i++) {
		const struct ctr_node *nd = &run->nodes[i];
		uint32_t p = nd->parent, to = CTR_NONE;

		if (nd->function == fid && !inside[i])
			to = *root;
		else if (p != CTR_NONE && map[p] != CTR_NONE &&
			 (ret = mtree_child(m, map[p], nd->function, &to)))
			return ret;
		map[i] = to;
		if (to == CTR_NONE)
			continue;
		m->n[to].calls += nd->calls;
		m->n[to].total += tot(nd, raw);
		m->n[to].self += slf(nd, raw);
	}
	return 0;
}

struct pframe {
	uint32_t *kids;
	size_t n, i, prefix_len;
};

struct sort_ctx {
	const struct mtree *m;
	const struct ctr_run *run;
	int key; /* enum ctr_sort_key: name and calls; anything else sorts by total */
};

/* Children by total (or calls, or name with --sort), then in order of creation. */
static int cmp_mnode(const void *a, const void *b, void *arg)
{
	const struct sort_ctx *c = arg;
	uint32_t ia = *(const uint32_t *)a, ib = *(const uint32_t *)b;
	const struct mnode *x = &c->m->n[ia], *y = &c->m->n[ib];
	int r;

	if (c->key == CTR_SORT_NAME &&
	    (r = strcmp(ctr_cxx_display(c->run, x->fid), ctr_cxx_display(c->run, y->fid))))
		return r;
	if (c->key == CTR_SORT_CALLS && x->calls != y->calls)
		return x->calls > y->calls ? -1 : 1;
	if (c->key != CTR_SORT_NAME && x->total != y->total)
		return x->total > y->total ? -1 : 1;
	return ia < ib ? -1 : 1;
}

/* Children of @v at or above @min, sorted; NULL + *n SIZE_MAX when out of memory. */
static uint32_t *kids_of(const struct mtree *m, const struct sort_ctx *sc, uint32_t v, uint64_t min,
			 size_t *n, size_t *hidden)
{
	size_t k = 0, cap = 0;
	uint32_t *a = NULL;

	for (uint32_t c = m->n[v].first; c != CTR_NONE; c = m->n[c].next) {
		if (m->n[c].total < min) {
			(*hidden)++;
			continue;
		}
		if (ctr_grow((void **)&a, &cap, k + 1, sizeof(*a))) {
			free(a);
			*n = SIZE_MAX;
			return NULL;
		}
		a[k++] = c;
	}
	if (k > 1)
		qsort_r(a, k, sizeof(*a), cmp_mnode, (void *)sc);
	*n = k;
	return a;
}

struct printer {
	FILE *out;
	const struct ctr_run *run;
	const struct ctr_report_opts *o;
	const struct mtree *m;
	int with_self;
	uint64_t min;
	size_t hidden;
	char prefix[INDENT_MAX * 4 * 3 + 1];
	size_t plen;
};

static void print_line(struct printer *p, uint32_t v, unsigned depth, int last)
{
	const struct mnode *n = &p->m->n[v];
	char t[3][32], lbl[NAME_BUF];
	const char *branch = !depth	   ? ""
			     : p->o->ascii ? (last ? "`- " : "|- ")
					   : (last ? "└─ " : "├─ ");

	ctr_fmt_ns(t[0], sizeof(t[0]), n->total);
	ctr_fmt_ns(t[1], sizeof(t[1]), n->self);
	ctr_fmt_count(t[2], sizeof(t[2]), n->calls);
	if (p->with_self)
		fprintf(p->out, "%10s %10s %10s  ", t[0], t[1], t[2]);
	else
		fprintf(p->out, "%10s %10s  ", t[0], t[2]);
	if (depth >= INDENT_MAX)
		fprintf(p->out, "%s[depth %u] ", p->prefix, depth);
	else
		fputs(p->prefix, p->out);
	fprintf(p->out, "%s%s\n", branch, ctr_report_label(p->run, n->fid, lbl, sizeof(lbl)));
}

static int print_tree(struct printer *p, uint32_t root)
{
	struct pframe *st = NULL;
	size_t sp = 0, cap = 0, nk;
	uint32_t one[1] = {root};
	struct sort_ctx sc = {p->m, p->run, p->o->sort};
	int ret = CTR_ENOMEM;

	if (ctr_grow((void **)&st, &cap, 1, sizeof(*st)))
		return CTR_ENOMEM;
	p->plen = 0;
	p->prefix[0] = '\0';
	st[sp++] = (struct pframe){NULL, 1, 0, 0};
	while (sp) {
		struct pframe *f = &st[sp - 1];
		unsigned depth = (unsigned)(sp - 1);
		uint32_t v, *kids;
		int last;

		if (f->i == f->n) {
			free(f->kids);
			p->plen = f->prefix_len;
			p->prefix[p->plen] = '\0';
			sp--;
			continue;
		}
		v = f->kids ? f->kids[f->i++] : one[f->i++];
		last = f->i == f->n;
		print_line(p, v, depth, last);
		if (p->o->depth && depth + 1 >= p->o->depth) {
			for (uint32_t c = p->m->n[v].first; c != CTR_NONE; c = p->m->n[c].next)
				p->hidden++;
			continue;
		}
		kids = kids_of(p->m, &sc, v, p->min, &nk, &p->hidden);
		if (nk == SIZE_MAX)
			goto out;
		if (!nk)
			continue;
		if (ctr_grow((void **)&st, &cap, sp + 1, sizeof(*st))) {
			free(kids);
			goto out;
		}
		st[sp] = (struct pframe){kids, nk, 0, p->plen};
		if (depth > 0 && depth < INDENT_MAX) {
			const char *seg =
			    p->o->ascii ? (last ? "   " : "|  ") : (last ? "   " : "│  ");

			memcpy(p->prefix + p->plen, seg, strlen(seg) + 1);
			p->plen += strlen(seg);
		}
		sp++;
	}
	ret = 0;
out:
	while (sp)
		free(st[--sp].kids);
	free(st);
	return ret;
}

static int graph_one(FILE *out, const struct ctr_run *run, const struct ctr_report_opts *o,
		     const char *matched, const char *inside, uint32_t fid, uint32_t *map,
		     size_t *hidden)
{
	struct mtree bt = {0}, ce = {0};
	struct printer p = {.out = out, .run = run, .o = o};
	uint32_t rb, rc;
	uint64_t inner = 0;
	char t[3][32], lbl[NAME_BUF];
	int ret;

	if ((ret = build_backtrace(&bt, run, matched, inside, fid, o->raw_times, &rb)) ||
	    (ret = build_callees(&ce, run, inside, fid, o->raw_times, &rc, map)))
		goto out;
	for (size_t i = 0; i < run->n_nodes; i++)
		if (run->nodes[i].function == fid && inside[i])
			inner += run->nodes[i].calls;
	ctr_fmt_ns(t[0], sizeof(t[0]), ce.n[rc].total);
	ctr_fmt_count(t[1], sizeof(t[1]), ce.n[rc].calls);
	ctr_fmt_count(t[2], sizeof(t[2]), inner);
	fprintf(out, "\ngraph of %s: %s outermost calls, total %s",
		ctr_report_label(run, fid, lbl, sizeof(lbl)), t[1], t[0]);
	if (inner)
		fprintf(out, " (%s recursive calls inside them, counted once)", t[2]);
	fprintf(out, "\n\nbacktrace (calling paths, merged)\n%10s %10s  %s\n", "total", "calls",
		"function");
	p.m = &bt;
	p.min = (uint64_t)((double)bt.n[rb].total * o->min_percent / 100.0);
	if ((ret = print_tree(&p, rb)))
		goto out;
	fprintf(out, "\ncalls (everything below it, merged)\n%10s %10s %10s  %s\n", "total", "self",
		"calls", "function");
	p.m = &ce;
	p.with_self = 1;
	p.min = (uint64_t)((double)ce.n[rc].total * o->min_percent / 100.0);
	ret = print_tree(&p, rc);
	*hidden += p.hidden;
out:
	mtree_release(&bt);
	mtree_release(&ce);
	return ret;
}

int ctr_report_graph(FILE *out, const struct ctr_run *run, const struct ctr_report_opts *o,
		     const char *func, struct ctr_err *e)
{
	char *matched = calloc(run->n_functions + 1, 1), *inside = NULL;
	uint32_t *map = malloc((run->n_nodes + 1) * sizeof(*map));
	size_t nmatch = 0, hidden = 0;
	int ret = 0;

	if (!matched || !map)
		goto nomem;
	for (size_t f = 0; f < run->n_functions; f++) {
		matched[f] = run->functions[f].kind != CTR_FN_MARK &&
			     ctr_report_name_match(run, (uint32_t)f, func);
		nmatch += matched[f];
	}
	if (!nmatch) {
		ret =
		    ctr_err_set(e, CTR_ENOTFOUND, 0, "no function '%s' in run '%s'", func, run->id);
		goto out;
	}
	if (!(inside = inside_table(run, matched)))
		goto nomem;
	if ((ret = ctr_report_header(out, run, o, e)))
		goto out;
	for (size_t f = 0; f < run->n_functions && !ret; f++)
		if (matched[f])
			ret = graph_one(out, run, o, matched, inside, (uint32_t)f, map, &hidden);
	if (ret == CTR_ENOMEM)
		goto nomem;
	if (!ret && hidden)
		fprintf(out,
			"\n%zu subtrees hidden (below %.2g%% of the function's total or deeper "
			"than --depth; see --min-percent, --depth)\n",
			hidden, o->min_percent);
	if (!ret && ferror(out))
		ret =
		    ctr_err_set(e, CTR_EIO, errno, "cannot write the report: %s", strerror(errno));
	goto out;
nomem:
	ret = ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory building the graph");
out:
	free(matched);
	free(inside);
	free(map);
	return ret;
}

int ctr_cct_root_at(struct ctr_cct *t, const struct ctr_run *run, const char *glob, size_t *matches,
		    struct ctr_err *e)
{
	char *matched = calloc(run->n_functions + 1, 1), *inside = NULL;
	uint32_t *last = malloc((t->n_threads + 1) * sizeof(*last));
	int ret = 0;

	*matches = 0;
	if (!matched || !last) {
		ret = ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory building the call tree");
		goto out;
	}
	for (size_t f = 0; f < run->n_functions; f++)
		matched[f] = (char)ctr_report_name_match(run, (uint32_t)f, glob);
	if (!(inside = inside_table(run, matched))) {
		ret = ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory building the call tree");
		goto out;
	}
	for (size_t th = 0; th < t->n_threads; th++)
		t->root[th] = last[th] = CTR_NONE;
	/* an outermost match is never a descendant of another one, so its sibling link is free */
	for (size_t i = 0; i < run->n_nodes; i++) {
		uint32_t th = run->nodes[i].thread;

		if (!matched[run->nodes[i].function] || inside[i])
			continue;
		t->next_sibling[i] = CTR_NONE;
		if (last[th] == CTR_NONE)
			t->root[th] = (uint32_t)i;
		else
			t->next_sibling[last[th]] = (uint32_t)i;
		last[th] = (uint32_t)i;
		(*matches)++;
	}
out:
	free(matched);
	free(inside);
	free(last);
	return ret;
}
