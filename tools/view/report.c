/* SPDX-License-Identifier: MIT */
/*
 * The report views of report.h: aggregation of the calling-context tree into flat profiles,
 * the tree, callers/callees, JSON, diff and the run summary. Everything here works from the
 * run's aggregates (O(nodes)), never from the timeline, so reports stay instant for runs of
 * any length. The command-line front ends are in report-cmd.c. This file is the folder's top:
 * the helpers that calls.c, graph.c and latency.c share with it are in report-util.c, the
 * calling-context tree and the flat profile they all start from in profile.c.
 */
#include "report.h"

#include "../../store/runjson.h"

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/fmt.h"
#include "../../common/grow.h"
#include "calls.h"
#include "cxxname.h"
#include "graph.h"
#include "latency.h"
#include "report-int.h"

#define NAME_BUF 1024

void ctr_report_opts_init(struct ctr_report_opts *o)
{
	const char *lang = getenv("LC_ALL");

	memset(o, 0, sizeof(*o));
	o->top = CTR_REPORT_TOP_DEFAULT;
	o->min_percent = CTR_REPORT_MIN_PERCENT_DEFAULT;
	if (!lang || !*lang)
		lang = getenv("LC_CTYPE");
	if (!lang || !*lang)
		lang = getenv("LANG");
	o->ascii = !(lang && (strcasestr(lang, "utf-8") || strcasestr(lang, "utf8")));
}

/* The display name (view/cxxname.h: shortened C++ names when attached). */
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

static double pct(uint64_t v, uint64_t base)
{
	return base ? 100.0 * (double)v / (double)base : 0.0;
}

/* ---- text views ---- */

const char *ctr_report_fn_attrs(const struct ctr_run *run, uint32_t fid, uint32_t thread, char *buf,
				size_t n)
{
	size_t len = 0, shown = 0;

	buf[0] = 0;
	for (size_t i = 0; i < run->n_attrs && len + 1 < n; i++) {
		const struct ctr_attr *at = &run->attrs[i];
		const struct ctr_node *nd = at->node < run->n_nodes ? &run->nodes[at->node] : NULL;
		int w;

		if (!nd || nd->function != fid || (thread != CTR_NONE && nd->thread != thread))
			continue;
		w = shown == 8 ? snprintf(buf + len, n - len, ", ...")
			       : snprintf(buf + len, n - len, "%s%s=%s", shown ? ", " : "", at->key,
					  at->value);
		if (w < 0 || (size_t)w >= n - len)
			break;
		len += (size_t)w;
		if (++shown > 8)
			break;
	}
	return buf;
}

/* What the percent columns divide by, said above the table: the thread's time (the sum of
 * its top-level calls) in a thread's table, the sum of every thread's in the run's. */
static void print_base(FILE *out, const struct ctr_run *run, uint32_t thread, uint64_t base)
{
	char b[32];

	ctr_fmt_ns(b, sizeof(b), base);
	if (thread == CTR_NONE && run->n_threads > 1)
		fprintf(out, "%% of %s, the sum of %zu threads' top-level calls\n", b,
			run->n_threads);
	else
		fprintf(out, "%% of %s, the sum of the thread's top-level calls\n", b);
}

static void print_flat_head(FILE *out, int sched)
{
	if (sched) /* --sched: the total split into time on and off the CPU */
		fprintf(out, "%10s %10s %10s %10s %10s %10s ", "calls", "total", "self", "on-cpu",
			"off-cpu", "preempted");
	else
		fprintf(out, "%10s %10s %10s ", "calls", "total", "self");
	fprintf(out, "%10s %10s %10s %7s %7s  %s\n", "avg", "min", "max", "total%", "self%",
		"function");
}

static void print_flat_row(FILE *out, const struct ctr_run *run, const struct ctr_prof_entry *p,
			   uint32_t thread, uint64_t base)
{
	char t[6][32], lbl[NAME_BUF];

	ctr_fmt_count(t[0], sizeof(t[0]), p->calls);
	ctr_fmt_ns(t[1], sizeof(t[1]), p->total_ns);
	ctr_fmt_ns(t[2], sizeof(t[2]), p->self_ns);
	ctr_fmt_ns(t[3], sizeof(t[3]), p->calls ? p->total_ns / p->calls : 0);
	ctr_fmt_ns(t[4], sizeof(t[4]), p->min_ns);
	ctr_fmt_ns(t[5], sizeof(t[5]), p->max_ns);
	fprintf(out, "%10s %10s %10s ", t[0], t[1], t[2]);
	if (ctr_report_has_sched(run)) {
		char on[32], off[32];

		ctr_fmt_ns(on, sizeof(on),
			   p->total_ns > p->offcpu_ns ? p->total_ns - p->offcpu_ns : 0);
		ctr_fmt_ns(off, sizeof(off), p->offcpu_ns);
		fprintf(out, "%10s %10s ", on, off);
		if (p->preempted_calls) {
			ctr_fmt_count(off, sizeof(off), p->preempted_calls);
			fprintf(out, "%10s ", off);
		} else {
			fprintf(out, "%10s ", "-");
		}
	}
	fprintf(out, "%10s %10s %10s %6.1f%% %6.1f%%  %s\n", t[3], t[4], t[5],
		pct(p->total_ns, base), pct(p->self_ns, base),
		ctr_report_label(run, p->function, lbl, sizeof(lbl)));
	if (run->functions[p->function].kind == CTR_FN_SPAN &&
	    *ctr_report_fn_attrs(run, p->function, thread, lbl, sizeof(lbl)))
		fprintf(out, "%*s{%s}\n", 10 * 6 + 7 * 2 + 9, "", lbl);
}

/* One flat table of thread @thread (CTR_NONE = all). */
static int flat_table(FILE *out, const struct ctr_run *run, const struct ctr_report_opts *o,
		      uint32_t thread, uint64_t base, struct ctr_err *e)
{
	struct ctr_prof_entry *rows;
	size_t n, shown = 0, matched = 0;
	int ret = ctr_report_profile(run, thread, o->raw_times, &rows, &n, e);

	if (ret)
		return ret;
	ctr_report_sort(run, rows, n, o->sort);
	if (!n) {
		fprintf(out, "no calls recorded\n");
		goto done;
	}
	print_base(out, run, thread, base);
	print_flat_head(out, ctr_report_has_sched(run));
	for (size_t i = 0; i < n; i++) {
		if (!ctr_report_name_match(run, rows[i].function, o->function))
			continue;
		matched++;
		if (o->top && shown >= o->top)
			continue;
		print_flat_row(out, run, &rows[i], thread, base);
		shown++;
	}
	if (o->function && !matched)
		fprintf(out, "no function matches '%s'\n", o->function);
	else if (shown < matched)
		fprintf(out, "... %zu more (--top 0 shows all)\n", matched - shown);
	ctr_report_preempted_note(out, run, rows, n);
done:
	free(rows);
	return 0;
}

/* CTR_ENOTFOUND when --function matches no function of the run (before anything is printed),
 * else 0. */
static int fn_missing(const struct ctr_run *run, const struct ctr_report_opts *o, struct ctr_err *e)
{
	if (!o->function)
		return 0;
	for (size_t f = 0; f < run->n_functions; f++)
		if (ctr_report_name_match(run, (uint32_t)f, o->function))
			return 0;
	return ctr_err_set(e, CTR_ENOTFOUND, 0, "no function matches '%s' in run '%s'", o->function,
			   run->id);
}

int ctr_report_flat(FILE *out, const struct ctr_run *run, const struct ctr_report_opts *o,
		    struct ctr_err *e)
{
	int ret = fn_missing(run, o, e);

	if (!ret)
		ret = ctr_report_header(out, run, o, e);

	if (ret)
		return ret;
	fputc('\n', out);
	ret = flat_table(out, run, o, CTR_NONE, ctr_report_base_ns(run, o->raw_times), e);
	return ret ? ret : ctr_report_status(out, e);
}

static uint64_t thread_span(const struct ctr_thread *t)
{
	return t->end_ns > t->start_ns ? t->end_ns - t->start_ns : 0;
}

static void print_thread_title(FILE *out, const struct ctr_run *run, size_t i)
{
	const struct ctr_thread *t = &run->threads[i];
	char dur[32];

	ctr_fmt_ns(dur, sizeof(dur), thread_span(t));
	fprintf(out, "thread %zu '%s' (pid %d, tid %d), %s", i, t->name ? t->name : "", t->pid,
		t->tid, dur);
	if (t->lost)
		fprintf(out, ", WARNING: %" PRIu64 " events lost", t->lost);
	fputc('\n', out);
}

int ctr_report_threads(FILE *out, const struct ctr_run *run, const struct ctr_report_opts *o,
		       struct ctr_err *e)
{
	uint32_t *order = malloc((run->n_threads + 1) * sizeof(*order));
	int ret = order ? fn_missing(run, o, e)
			: ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory ordering threads");

	if (!ret)
		ret = ctr_report_header(out, run, o, e);
	if (order)
		ctr_report_thread_order(run, order); /* by start time: the main thread first */
	for (size_t k = 0; !ret && k < run->n_threads; k++) {
		size_t i = order[k];

		fputc('\n', out);
		print_thread_title(out, run, i);
		ret = flat_table(out, run, o, (uint32_t)i,
				 ctr_report_thread_base_ns(run, (uint32_t)i, o->raw_times), e);
	}
	free(order);
	return ret ? ret : ctr_report_status(out, e);
}

/* ---- tree ---- */

struct attr_index {
	uint32_t *idx; /* attribute indices sorted by node */
	size_t n;
};

static int cmp_attr_idx(const void *pa, const void *pb, void *arg)
{
	const struct ctr_run *run = arg;
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
	const struct ctr_attr *x = &run->attrs[a], *y = &run->attrs[b];

	if (x->node != y->node)
		return x->node < y->node ? -1 : 1;
	return a < b ? -1 : a > b;
}

static int attr_index_build(struct attr_index *ai, const struct ctr_run *run, struct ctr_err *e)
{
	ai->n = run->n_attrs;
	ai->idx = malloc((ai->n ? ai->n : 1) * sizeof(uint32_t));
	if (!ai->idx)
		return ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory indexing attributes");
	for (size_t i = 0; i < ai->n; i++)
		ai->idx[i] = (uint32_t)i;
	qsort_r(ai->idx, ai->n, sizeof(uint32_t), cmp_attr_idx, (void *)run);
	return 0;
}

/* First position in ai->idx of node @node's attributes; ai->n if none. */
static size_t attr_first(const struct attr_index *ai, const struct ctr_run *run, uint32_t node)
{
	size_t lo = 0, hi = ai->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (run->attrs[ai->idx[mid]].node < node)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ai->n && run->attrs[ai->idx[lo]].node == node ? lo : ai->n;
}

#define TREE_ATTRS_MAX 8
/* Levels drawn with indentation; deeper ones (100k-deep recursion) carry their depth instead,
 * so a line stays short and the report O(nodes), not O(depth^2) bytes. */
#define TREE_INDENT_MAX 64

struct tree_ctx {
	FILE *out;
	const struct ctr_run *run;
	const struct ctr_report_opts *o;
	const struct ctr_cct *t;
	struct attr_index ai;
	uint64_t min_total;
	uint64_t base; /* 100% */
	int sched;     /* --sched: on-CPU and off-CPU columns */
	size_t hidden;
	char *prefix; /* indentation of the current depth */
	size_t prefix_len, prefix_cap;
};

static int cmp_total_desc(const void *pa, const void *pb, void *arg)
{
	const struct tree_ctx *c = arg;
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
	uint64_t ta = n_total(&c->run->nodes[a], c->o->raw_times);
	uint64_t tb = n_total(&c->run->nodes[b], c->o->raw_times);

	if (ta != tb)
		return ta > tb ? -1 : 1;
	return a < b ? -1 : a > b;
}

/* Visible children of @first's sibling chain, sorted by total, into a new array. */
static uint32_t *visible_kids(struct tree_ctx *c, uint32_t first, size_t *nk)
{
	size_t n = 0, cap = 0;
	uint32_t *kids = NULL;

	for (uint32_t k = first; k != CTR_NONE; k = c->t->next_sibling[k]) {
		if (n_total(&c->run->nodes[k], c->o->raw_times) < c->min_total) {
			c->hidden++;
			continue;
		}
		if (n == cap) {
			uint32_t *nkids;

			cap = cap ? 2 * cap : 8;
			nkids = realloc(kids, cap * sizeof(*kids));
			if (!nkids) {
				free(kids);
				*nk = SIZE_MAX;
				return NULL;
			}
			kids = nkids;
		}
		kids[n++] = k;
	}
	if (n > 1)
		qsort_r(kids, n, sizeof(*kids), cmp_total_desc, c);
	*nk = n;
	return kids;
}

static int prefix_push(struct tree_ctx *c, const char *seg)
{
	size_t len = strlen(seg);

	if (c->prefix_len + len + 1 > c->prefix_cap) {
		size_t cap = (c->prefix_cap ? c->prefix_cap * 2 : 256) + len;
		char *p = realloc(c->prefix, cap);

		if (!p)
			return -1;
		c->prefix = p;
		c->prefix_cap = cap;
	}
	memcpy(c->prefix + c->prefix_len, seg, len + 1);
	c->prefix_len += len;
	return 0;
}

static void tree_line(struct tree_ctx *c, uint32_t v, unsigned depth, int last)
{
	const struct ctr_node *nd = &c->run->nodes[v];
	const char *branch = "";
	char tot[32], self[32], calls[32], lbl[NAME_BUF];
	uint64_t base = c->base;
	size_t a;

	if (depth > 0)
		branch = c->o->ascii ? (last ? "`- " : "|- ") : (last ? "└─ " : "├─ ");
	ctr_fmt_ns(tot, sizeof(tot), n_total(nd, c->o->raw_times));
	ctr_fmt_ns(self, sizeof(self), n_self(nd, c->o->raw_times));
	ctr_fmt_count(calls, sizeof(calls), nd->calls);
	if (c->sched) {
		char on[32], off[32];

		ctr_fmt_ns(on, sizeof(on), ctr_report_oncpu_ns(nd, c->o->raw_times));
		ctr_fmt_ns(off, sizeof(off), nd->offcpu_ns);
		fprintf(c->out, "%10s %10s %10s %10s %10s %6.1f%%  %s", tot, self, on, off, calls,
			pct(n_total(nd, c->o->raw_times), base), c->prefix ? c->prefix : "");
	} else {
		fprintf(c->out, "%10s %10s %10s %6.1f%%  %s", tot, self, calls,
			pct(n_total(nd, c->o->raw_times), base), c->prefix ? c->prefix : "");
	}
	if (depth >= TREE_INDENT_MAX) /* deeper levels are numbered, not indented */
		fprintf(c->out, "[depth %u] ", depth);
	fprintf(c->out, "%s%s\n", branch, ctr_report_label(c->run, nd->function, lbl, sizeof(lbl)));
	a = attr_first(&c->ai, c->run, v);
	if (a < c->ai.n) {
		size_t shown = 0, more = 0;
		const char *cont = depth == 0	 ? ""
				   : c->o->ascii ? (last ? "   " : "|  ")
						 : (last ? "   " : "│  ");

		fprintf(c->out, "%10s %10s %10s %7s  %s%s  {", "", "", "", "",
			c->prefix ? c->prefix : "", cont);
		for (; a < c->ai.n && c->run->attrs[c->ai.idx[a]].node == v; a++) {
			const struct ctr_attr *at = &c->run->attrs[c->ai.idx[a]];

			if (shown == TREE_ATTRS_MAX) {
				more++;
				continue;
			}
			fprintf(c->out, "%s%s=%s", shown ? ", " : "", at->key, at->value);
			if (at->count > 1)
				fprintf(c->out, " (x%" PRIu64 ")", at->count);
			shown++;
		}
		if (more)
			fprintf(c->out, ", ... %zu more", more);
		fprintf(c->out, "}\n");
	}
}

struct tree_frame {
	uint32_t *kids;
	size_t n, i;
	size_t prefix_len; /* prefix length to restore when the frame is done */
};

/* Prints one thread's tree without recursion (deep recursion makes deep trees). */
static int tree_thread(struct tree_ctx *c, uint32_t thread, struct ctr_err *e)
{
	struct tree_frame *st = NULL;
	size_t sp = 0, cap = 0;
	int ret = ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory printing the call tree");
	size_t nk;
	uint32_t *kids = visible_kids(c, c->t->root[thread], &nk);

	if (nk == SIZE_MAX)
		goto out;
	if (e && e->code == CTR_ENOMEM)
		ctr_err_clear(e);
	if (!nk) {
		fprintf(c->out, "%10s %10s %10s %7s  (no call above %.2g%%)\n", "", "", "", "",
			c->o->min_percent);
		free(kids);
		return 0;
	}
	cap = 64;
	st = malloc(cap * sizeof(*st));
	if (!st) {
		free(kids);
		return ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory printing the call tree");
	}
	c->prefix_len = 0;
	if (c->prefix)
		c->prefix[0] = 0;
	st[sp++] = (struct tree_frame){kids, nk, 0, 0};
	while (sp) {
		struct tree_frame *f = &st[sp - 1];
		unsigned depth = (unsigned)(sp - 1);
		uint32_t v;
		int last;

		if (f->i == f->n) {
			free(f->kids);
			c->prefix_len = f->prefix_len;
			if (c->prefix)
				c->prefix[c->prefix_len] = 0;
			sp--;
			continue;
		}
		v = f->kids[f->i++];
		last = f->i == f->n;
		tree_line(c, v, depth, last);
		if (c->o->depth && depth + 1 >= c->o->depth) {
			for (uint32_t k = c->t->first_child[v]; k != CTR_NONE;
			     k = c->t->next_sibling[k])
				c->hidden++;
			continue;
		}
		if (c->t->first_child[v] == CTR_NONE)
			continue;
		kids = visible_kids(c, c->t->first_child[v], &nk);
		if (nk == SIZE_MAX)
			goto fail;
		if (!nk) {
			free(kids);
			continue;
		}
		if (sp == cap) {
			struct tree_frame *nst = realloc(st, 2 * cap * sizeof(*st));

			if (!nst) {
				free(kids);
				goto fail;
			}
			st = nst;
			cap *= 2;
		}
		st[sp].prefix_len = c->prefix_len;
		if (depth > 0 && depth < TREE_INDENT_MAX &&
		    prefix_push(c, c->o->ascii ? (last ? "   " : "|  ") : (last ? "   " : "│  "))) {
			free(kids);
			goto fail;
		}
		st[sp].kids = kids;
		st[sp].n = nk;
		st[sp].i = 0;
		sp++;
	}
	ret = 0;
	goto out;
fail:
	ret = ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory printing the call tree");
	while (sp)
		free(st[--sp].kids);
out:
	free(st);
	return ret;
}

/* --tree --function GLOB: each thread's roots become its outermost calls of a match;
 * CTR_ENOTFOUND when there is none. */
static int tree_root_at(struct ctr_cct *t, const struct ctr_run *run,
			const struct ctr_report_opts *o, struct ctr_err *e)
{
	size_t n = 0;
	int ret = ctr_cct_root_at(t, run, o->function, &n, e);

	if (!ret && !n)
		ret = ctr_err_set(e, CTR_ENOTFOUND, 0, "no function matches '%s'", o->function);
	return ret;
}

int ctr_report_tree(FILE *out, const struct ctr_run *run, const struct ctr_report_opts *o,
		    struct ctr_err *e)
{
	struct tree_ctx c = {.out = out, .run = run, .o = o, .sched = ctr_report_has_sched(run)};
	struct ctr_cct t;
	uint32_t *order = NULL;
	int ret = ctr_cct_build(&t, run, e);
	if (ret)
		return ret;
	if (o->function && (ret = tree_root_at(&t, run, o, e))) /* --tree --function GLOB */
		goto out;
	c.t = &t;
	ret = attr_index_build(&c.ai, run, e);
	if (ret)
		goto out;
	if ((ret = ctr_report_header(out, run, o, e)))
		goto out;
	if (!(order = malloc((run->n_threads + 1) * sizeof(*order)))) {
		ret = ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory ordering threads");
		goto out;
	}
	ctr_report_thread_order(run, order); /* by start time: the main thread first */
	for (size_t k = 0; !ret && k < run->n_threads; k++) {
		size_t i = order[k];

		if (o->function && t.root[i] == CTR_NONE)
			continue; /* no call of the function in this thread */
		c.base = ctr_report_thread_base_ns(run, (uint32_t)i, o->raw_times);
		c.min_total = (uint64_t)((double)c.base * o->min_percent / 100.0);
		fputc('\n', out);
		print_thread_title(out, run, i);
		print_base(out, run, (uint32_t)i, c.base);
		if (c.sched)
			fprintf(out, "%10s %10s %10s %10s %10s %7s  %s\n", "total", "self",
				"on-cpu", "off-cpu", "calls", "total%", "function");
		else
			fprintf(out, "%10s %10s %10s %7s  %s\n", "total", "self", "calls", "total%",
				"function");
		ret = tree_thread(&c, (uint32_t)i, e);
	}
	if (!ret && c.hidden) {
		fprintf(out, "\n%zu subtrees hidden (", c.hidden);
		if (o->min_percent > 0)
			fprintf(out, "below %.2g%% of their thread%s", o->min_percent,
				o->depth ? " or " : "");
		if (o->depth)
			fprintf(out, "deeper than %u", o->depth);
		fprintf(out, "; see --min-percent, --depth)\n");
	}
	if (!ret)
		ret = ctr_report_status(out, e);
out:
	free(order);
	free(c.ai.idx);
	free(c.prefix);
	ctr_cct_release(&t);
	return ret;
}

/* ---- callers / callees ---- */

struct edge_row {
	uint32_t function; /* CTR_NONE: thread root (callers) or self time (callees) */
	uint64_t calls, total_ns, self_ns;
};

static int cmp_edge(const void *pa, const void *pb, void *arg)
{
	const struct ctr_run *run = arg;
	const struct edge_row *a = pa, *b = pb;

	if (a->total_ns != b->total_ns)
		return a->total_ns > b->total_ns ? -1 : 1;
	if (a->function == CTR_NONE || b->function == CTR_NONE)
		return a->function == b->function ? 0 : a->function == CTR_NONE ? -1 : 1;
	return strcmp(fname(run, a->function), fname(run, b->function));
}

/* The callers/callees table of ctr_report_callers(). */
static void print_edges(FILE *out, const struct ctr_run *run, const struct ctr_report_opts *o,
			const char *func, int callees, const struct edge_row *rows, size_t nrows,
			size_t nmatch, uint64_t calls, uint64_t total, uint64_t self)
{
	char c1[32], c2[32], c3[32], lbl[NAME_BUF];
	size_t shown = 0;

	ctr_fmt_count(c1, sizeof(c1), calls);
	ctr_fmt_ns(c2, sizeof(c2), total);
	ctr_fmt_ns(c3, sizeof(c3), self);
	fprintf(out, "\n%s of '%s' (%zu function%s, %s calls, total %s, self %s)\n",
		callees ? "callees" : "callers", func, nmatch, nmatch == 1 ? "" : "s", c1, c2, c3);
	fprintf(out, "%10s %10s %10s  %s\n", "calls", "total", "self",
		callees ? "callee" : "caller");
	for (size_t i = 0; i < nrows; i++) {
		const struct edge_row *r = &rows[i];

		if (o->top && shown >= o->top)
			break;
		ctr_fmt_count(c1, sizeof(c1), r->calls);
		ctr_fmt_ns(c2, sizeof(c2), r->total_ns);
		ctr_fmt_ns(c3, sizeof(c3), r->self_ns);
		fprintf(out, "%10s %10s %10s  %s\n", r->function == CTR_NONE && callees ? "-" : c1,
			c2, c3,
			r->function == CTR_NONE
			    ? (callees ? "(self)" : "(thread start)")
			    : ctr_report_label(run, r->function, lbl, sizeof(lbl)));
		shown++;
	}
	if (shown < nrows)
		fprintf(out, "... %zu more (--top 0 shows all)\n", nrows - shown);
}

int ctr_report_callers(FILE *out, const struct ctr_run *run, const struct ctr_report_opts *o,
		       const char *func, int callees, struct ctr_err *e)
{
	struct edge_row *rows = NULL;
	uint32_t *slot = NULL; /* function -> row, the last row for CTR_NONE */
	struct ctr_cct t = {0};
	size_t nrows = 0, nmatch = 0;
	uint64_t self = 0, calls = 0, total = 0, outer_self = 0;
	char *matched = NULL, *inside = NULL;
	int ret = ctr_cct_build(&t, run, e);
	if (ret)
		return ret;
	ret = ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory aggregating callers");
	rows = calloc(run->n_functions + 1, sizeof(*rows));
	slot = malloc((run->n_functions + 1) * sizeof(*slot));
	matched = calloc(run->n_functions + 1, 1);
	inside = calloc(run->n_nodes + 1, 1);
	if (!rows || !slot || !matched || !inside)
		goto out;
	if (e && e->code == CTR_ENOMEM)
		ctr_err_clear(e);
	for (size_t f = 0; f < run->n_functions; f++) {
		matched[f] = (char)ctr_report_name_match(run, (uint32_t)f, func);
		nmatch += matched[f];
	}
	for (size_t f = 0; f <= run->n_functions; f++)
		slot[f] = CTR_NONE;
	if (!nmatch) {
		ret =
		    ctr_err_set(e, CTR_ENOTFOUND, 0, "no function '%s' in run '%s'", func, run->id);
		goto out;
	}
	if ((ret = ctr_report_header(out, run, o, e))) /* after the check: nothing on failure */
		goto out;
	for (size_t i = 0; i < run->n_nodes; i++) {
		const struct ctr_node *nd = &run->nodes[i];
		uint32_t p = nd->parent;

		/* inside[i]: a matched function is on the path above node i (parents come first),
		 * so recursive calls do not count twice in the total. */
		inside[i] = p != CTR_NONE && (inside[p] || matched[run->nodes[p].function]);
		if (!matched[nd->function])
			continue;
		calls += nd->calls;
		self += n_self(nd, o->raw_times);
		if (!inside[i])
			total += n_total(nd, o->raw_times);
		if (!callees) {
			uint32_t caller =
			    nd->parent == CTR_NONE ? CTR_NONE : run->nodes[nd->parent].function;
			size_t k = caller == CTR_NONE ? run->n_functions : caller;

			if (slot[k] == CTR_NONE) {
				slot[k] = (uint32_t)nrows;
				rows[nrows++].function = caller;
			}
			rows[slot[k]].calls += nd->calls;
			/* a recursive call's time is inside its outer call: counted there once */
			if (!inside[i])
				rows[slot[k]].total_ns += n_total(nd, o->raw_times);
			rows[slot[k]].self_ns += n_self(nd, o->raw_times);
			continue;
		}
		if (inside[i]) /* its callees are inside the outer call's recursive callee row */
			continue;
		outer_self += n_self(nd, o->raw_times);
		for (uint32_t c = t.first_child[i]; c != CTR_NONE; c = t.next_sibling[c]) {
			const struct ctr_node *cn = &run->nodes[c];

			if (slot[cn->function] == CTR_NONE) {
				slot[cn->function] = (uint32_t)nrows;
				rows[nrows++].function = cn->function;
			}
			rows[slot[cn->function]].calls += cn->calls;
			rows[slot[cn->function]].total_ns += n_total(cn, o->raw_times);
			rows[slot[cn->function]].self_ns += n_self(cn, o->raw_times);
		}
	}
	if (callees) {
		rows[nrows].function = CTR_NONE;
		rows[nrows].calls = 0;
		rows[nrows].total_ns = outer_self;
		rows[nrows++].self_ns = outer_self;
	}
	qsort_r(rows, nrows, sizeof(*rows), cmp_edge, (void *)run);
	print_edges(out, run, o, func, callees, rows, nrows, nmatch, calls, total, self);
	ret = ctr_report_status(out, e);
out:
	free(rows);
	free(slot);
	free(matched);
	free(inside);
	ctr_cct_release(&t);
	return ret;
}

/* ---- JSON ---- */

/* A JSON string of @s ("" for NULL), invalid UTF-8 bytes as U+FFFD (store/runjson.h). */
static json_t *jstr(const char *s)
{
	return ctr_json_str(s ? s : "");
}

static int jset(json_t *obj, const char *key, json_t *val)
{
	return json_object_set_new(obj, key, val);
}

#define JSON_ATTRS_MAX 100

/* Attributes of function @fid aggregated over its nodes (all threads or one), at most
 * JSON_ATTRS_MAX distinct key/value pairs (*truncated set when there were more). */
static json_t *func_attrs(const struct ctr_run *run, uint32_t fid, uint32_t thread, int *truncated)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < run->n_attrs; i++) {
		const struct ctr_attr *a = &run->attrs[i];
		const struct ctr_node *nd;
		size_t k;
		int found = 0;

		if (a->node >= run->n_nodes)
			continue;
		nd = &run->nodes[a->node];
		if (nd->function != fid || (thread != CTR_NONE && nd->thread != thread))
			continue;
		for (k = 0; k < json_array_size(arr); k++) {
			json_t *x = json_array_get(arr, k);

			if (!strcmp(json_string_value(json_object_get(x, "key")), a->key) &&
			    !strcmp(json_string_value(json_object_get(x, "value")), a->value)) {
				json_int_t c = json_integer_value(json_object_get(x, "count"));

				jset(x, "count", json_integer(c + (json_int_t)a->count));
				found = 1;
				break;
			}
		}
		if (!found && k >= JSON_ATTRS_MAX) {
			*truncated = 1;
			continue;
		}
		if (!found)
			json_array_append_new(arr, json_pack("{s:o,s:o,s:I}", "key", jstr(a->key),
							     "value", jstr(a->value), "count",
							     (json_int_t)a->count));
	}
	return arr;
}

static json_t *func_json(const struct ctr_run *run, const struct ctr_prof_entry *p, uint64_t base,
			 uint32_t thread)
{
	const struct ctr_function *f = &run->functions[p->function];
	const char *mod = f->module < run->n_modules ? run->modules[f->module].path : NULL;
	json_t *j = json_object();

	if (!j)
		return NULL;
	jset(j, "id", json_integer(p->function));
	jset(j, "name", jstr(f->name));
	if (strcmp(fname(run, p->function), f->name ? f->name : "?"))
		jset(j, "display_name", jstr(fname(run, p->function)));
	jset(j, "kind", json_string(ctr_runjson_kind_name(f->kind)));
	jset(j, "module", mod ? jstr(mod) : json_null());
	jset(j, "file", jstr(f->file));
	jset(j, "line", json_integer(f->line));
	jset(j, "calls", json_integer((json_int_t)p->calls));
	jset(j, "total_ns", json_integer((json_int_t)p->total_ns));
	jset(j, "self_ns", json_integer((json_int_t)p->self_ns));
	jset(j, "avg_ns", json_integer((json_int_t)(p->calls ? p->total_ns / p->calls : 0)));
	jset(j, "min_ns", json_integer((json_int_t)p->min_ns));
	jset(j, "max_ns", json_integer((json_int_t)p->max_ns));
	jset(j, "total_percent", json_real(pct(p->total_ns, base)));
	jset(j, "self_percent", json_real(pct(p->self_ns, base)));
	if (ctr_report_has_sched(run)) { /* --sched */
		jset(j, "oncpu_ns",
		     json_integer((
			 json_int_t)(p->total_ns > p->offcpu_ns ? p->total_ns - p->offcpu_ns : 0)));
		jset(j, "offcpu_ns", json_integer((json_int_t)p->offcpu_ns));
		jset(j, "offcpu_self_ns", json_integer((json_int_t)p->offcpu_self_ns));
		jset(j, "preempt_ns", json_integer((json_int_t)p->preempt_ns));
		jset(j, "preempted_calls", json_integer((json_int_t)p->preempted_calls));
	}
	if (thread == CTR_NONE && ctr_report_lat_json(j, run, p->function)) {
		json_decref(j);
		return NULL;
	}
	if (f->kind == CTR_FN_SPAN) {
		int truncated = 0;

		jset(j, "attributes", func_attrs(run, p->function, thread, &truncated));
		if (truncated)
			jset(j, "attributes_truncated", json_true());
	}
	return j;
}

/* What a pruned answer (opts prune_px) merged: @n entries of @calls calls. */
struct pruned {
	uint64_t n, calls, total, self, offcpu, preempt, preempted_calls;
};

static void pruned_add(struct pruned *p, uint64_t calls, uint64_t total, uint64_t self,
		       uint64_t offcpu, uint64_t preempt, uint64_t preempted_calls)
{
	p->n++;
	p->preempted_calls += preempted_calls;
	p->calls += calls;
	p->total += total;
	p->self += self;
	p->offcpu += offcpu;
	p->preempt += preempt;
}

/* The "(other)" entry of a pruned list: function/id -1, kind "other", "merged" entries. For
 * functions the total is the merged ones' self time (their totals overlap each other's and
 * the kept functions'), for tree nodes the sum of their totals (siblings: disjoint). */
static json_t *pruned_json(const struct ctr_run *run, const struct pruned *p, const char *idkey,
			   uint64_t base)
{
	json_t *j = json_pack("{s:i,s:s,s:s,s:I,s:I,s:I,s:I}", idkey, -1, "name", "(other)", "kind",
			      "other", "merged", (json_int_t)p->n, "calls", (json_int_t)p->calls,
			      "total_ns", (json_int_t)p->total, "self_ns", (json_int_t)p->self);

	if (j && base) {
		jset(j, "total_percent", json_real(pct(p->total, base)));
		jset(j, "self_percent", json_real(pct(p->self, base)));
	}
	if (j && ctr_report_has_sched(run)) {
		jset(j, "oncpu_ns",
		     json_integer((json_int_t)(p->total > p->offcpu ? p->total - p->offcpu : 0)));
		jset(j, "offcpu_ns", json_integer((json_int_t)p->offcpu));
		jset(j, "preempt_ns", json_integer((json_int_t)p->preempt));
		jset(j, "preempted_calls", json_integer((json_int_t)p->preempted_calls));
	}
	return j;
}

/* Appends the "(other)" entry when anything was pruned; 0 or -1. */
static int pruned_append(json_t *arr, const struct ctr_run *run, const struct pruned *p,
			 const char *idkey, uint64_t base)
{
	return p->n ? json_array_append_new(arr, pruned_json(run, p, idkey, base)) : 0;
}

static json_t *functions_json(const struct ctr_run *run, const struct ctr_report_opts *o,
			      uint32_t thread, uint64_t base, struct ctr_err *e)
{
	struct ctr_prof_entry *rows;
	size_t n, shown = 0;
	struct pruned other = {0};
	uint64_t min_total = 0;
	json_t *arr;

	if (ctr_report_profile(run, thread, o->raw_times, &rows, &n, e))
		return NULL;
	/* a list of functions grows with the program, not the run: pruned only when it holds more
	 * rows than there are pixels (the profile table lists every function, as the CLI) */
	if (o->prune_px && n > o->prune_px)
		min_total = base / o->prune_px;
	ctr_report_sort(run, rows, n, o->sort);
	arr = json_array();
	for (size_t i = 0; arr && i < n; i++) {
		if (!ctr_report_name_match(run, rows[i].function, o->function))
			continue;
		if (o->top && shown >= o->top)
			break;
		if (rows[i].total_ns < min_total) {
			pruned_add(&other, rows[i].calls, rows[i].self_ns, rows[i].self_ns,
				   rows[i].offcpu_self_ns, 0, rows[i].preempted_calls);
			continue;
		}
		if (json_array_append_new(arr, func_json(run, &rows[i], base, thread))) {
			json_decref(arr);
			arr = NULL;
			break;
		}
		shown++;
	}
	free(rows);
	if (arr && pruned_append(arr, run, &other, "id", base)) {
		json_decref(arr);
		arr = NULL;
	}
	if (!arr)
		ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory building JSON");
	return arr;
}

static json_t *run_header_json(const struct ctr_run *run, const struct ctr_report_opts *o)
{
	json_t *j = ctr_runjson_summary(run), *threads = json_array();
	int fail = !j || !threads;

	for (size_t i = 0; !fail && i < run->n_threads; i++)
		fail = json_array_append_new(threads, ctr_runjson_thread(run, i)) < 0;
	if (!fail)
		fail =
		    jset(j, "calls", json_integer((json_int_t)ctr_report_calls(run))) < 0 ||
		    jset(j, "times", json_string(o && o->raw_times ? "raw" : "compensated")) < 0 ||
		    jset(j, "threads", threads) < 0;
	else
		json_decref(threads);
	if (fail) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* One tree node's fields for --tree --json, without its children. NULL when out of memory. */
static json_t *tree_node_json(const struct ctr_run *run, const struct ctr_report_opts *o,
			      struct attr_index *ai, uint32_t k)
{
	const struct ctr_node *nd = &run->nodes[k];
	json_t *j;
	size_t a;

	j = json_pack("{s:I,s:o,s:s,s:I,s:I,s:I,s:I,s:I}", "function", (json_int_t)nd->function,
		      "name", jstr(run->functions[nd->function].name), "kind",
		      ctr_runjson_kind_name(run->functions[nd->function].kind), "calls",
		      (json_int_t)nd->calls, "total_ns", (json_int_t)n_total(nd, o->raw_times),
		      "self_ns", (json_int_t)n_self(nd, o->raw_times), "min_ns",
		      (json_int_t)(o->raw_times ? nd->raw_min_ns : nd->min_ns), "max_ns",
		      (json_int_t)(o->raw_times ? nd->raw_max_ns : nd->max_ns));
	if (!j)
		return NULL;
	if (ctr_report_has_sched(run)) { /* --sched */
		jset(j, "oncpu_ns",
		     json_integer((json_int_t)ctr_report_oncpu_ns(nd, o->raw_times)));
		jset(j, "offcpu_ns", json_integer((json_int_t)nd->offcpu_ns));
		jset(j, "preempt_ns", json_integer((json_int_t)nd->preempt_ns));
		jset(j, "preempted_calls", json_integer((json_int_t)nd->preempted_calls));
	}
	if (nd->hist_size) { /* the node's own latency distribution */
		jset(j, "p50_ns", json_integer((json_int_t)nd->p50_ns));
		jset(j, "p90_ns", json_integer((json_int_t)nd->p90_ns));
		jset(j, "p99_ns", json_integer((json_int_t)nd->p99_ns));
		jset(j, "p999_ns", json_integer((json_int_t)nd->p999_ns));
	}
	a = attr_first(ai, run, k);
	if (a < ai->n) {
		json_t *attrs = json_array();

		for (; a < ai->n && run->attrs[ai->idx[a]].node == k; a++) {
			const struct ctr_attr *at = &run->attrs[ai->idx[a]];

			json_array_append_new(
			    attrs, json_pack("{s:o,s:o,s:I}", "key", jstr(at->key), "value",
					     jstr(at->value), "count", (json_int_t)at->count));
		}
		jset(j, "attributes", attrs);
	}
	return j;
}

/* A node whose children continue in the thread's "subtrees" (the nesting limit was reached). */
struct tree_cut {
	uint32_t node;
	unsigned depth; /* of its children, from the thread's roots */
};

struct tree_json_ctx {
	const struct ctr_run *run;
	const struct ctr_report_opts *o;
	const struct ctr_cct *t;
	struct attr_index *ai;
	uint64_t min_total;
	struct tree_cut *cuts; /* a queue: cuts[head..n) still to write */
	size_t n_cuts, cap_cuts, head;
	struct {
		uint32_t next;	     /* the next sibling to write at this level */
		json_t *arr;	     /* borrowed: owned by the tree being built */
		struct pruned other; /* prune_px: the siblings merged into "(other)" */
	} st[CTR_REPORT_JSON_LEVELS];
};

/* The nested tree of the sibling list starting at @first, whose nodes are at @depth from the
 * thread's roots, at most CTR_REPORT_JSON_LEVELS levels deep: a node at the last level that has
 * children gets "deeper": its node id instead of "children", and is queued in c->cuts. Built
 * with an explicit stack (no recursion: a program's depth is unbounded). NULL when out of
 * memory. */
static json_t *tree_json(struct tree_json_ctx *c, uint32_t first, unsigned depth)
{
	const struct ctr_report_opts *o = c->o;
	json_t *root = json_array();
	size_t sp = 0;

	if (!root)
		return NULL;
	c->st[sp].next = first;
	c->st[sp].other = (struct pruned){0};
	c->st[sp++].arr = root;
	while (sp) {
		uint32_t k = c->st[sp - 1].next, child;
		unsigned d = depth + (unsigned)sp - 1;
		json_t *j, *arr = c->st[sp - 1].arr;
		const struct ctr_node *nd;

		if (k == CTR_NONE) { /* the level's list ends with what was pruned of it */
			if (pruned_append(arr, c->run, &c->st[sp - 1].other, "function", 0))
				goto fail;
			sp--;
			continue;
		}
		c->st[sp - 1].next = c->t->next_sibling[k];
		nd = &c->run->nodes[k];
		if (n_total(nd, o->raw_times) < c->min_total) {
			if (o->prune_px)
				pruned_add(&c->st[sp - 1].other, nd->calls,
					   n_total(nd, o->raw_times), n_self(nd, o->raw_times),
					   nd->offcpu_ns, nd->preempt_ns, nd->preempted_calls);
			continue;
		}
		if (!(j = tree_node_json(c->run, o, c->ai, k)) || json_array_append_new(arr, j))
			goto fail;
		child = c->t->first_child[k];
		if (child == CTR_NONE || (o->depth && d + 1 >= o->depth))
			continue;
		if (sp == CTR_REPORT_JSON_LEVELS) {
			if (ctr_grow((void **)&c->cuts, &c->cap_cuts, c->n_cuts + 1,
				     sizeof(*c->cuts)) ||
			    jset(j, "deeper", json_integer((json_int_t)k)))
				goto fail;
			c->cuts[c->n_cuts++] = (struct tree_cut){k, d + 1};
			continue;
		}
		if (!(arr = json_array()) || jset(j, "children", arr))
			goto fail;
		c->st[sp].next = child;
		c->st[sp].other = (struct pruned){0};
		c->st[sp++].arr = arr;
	}
	return root;
fail:
	json_decref(root);
	return NULL;
}

/* Thread @th's "tree" and, when it is deeper than CTR_REPORT_JSON_LEVELS, its "subtrees":
 * [{"node": ID, "children": [...]}, ...], each continuing a node marked "deeper". 0 or -1 when
 * out of memory. */
static int thread_tree_json(struct tree_json_ctx *c, json_t *th, uint32_t th_idx)
{
	json_t *tree, *subs = NULL;

	c->n_cuts = c->head = 0;
	if (!(tree = tree_json(c, c->t->root[th_idx], 0)) || jset(th, "tree", tree))
		return -1;
	while (c->head < c->n_cuts) {
		struct tree_cut cut = c->cuts[c->head++];
		json_t *sub;

		if (!subs && (!(subs = json_array()) || jset(th, "subtrees", subs)))
			return -1;
		if (!(tree = tree_json(c, c->t->first_child[cut.node], cut.depth)) ||
		    !(sub =
			  json_pack("{s:I,s:o}", "node", (json_int_t)cut.node, "children", tree)) ||
		    json_array_append_new(subs, sub))
			return -1;
	}
	return 0;
}

int ctr_report_json(FILE *out, const struct ctr_run *run, const struct ctr_report_opts *o,
		    struct ctr_err *e)
{
	int per_thread = o->threads, tree = o->tree;
	json_t *j = run_header_json(run, o), *funcs;
	uint64_t base = ctr_report_base_ns(run, o->raw_times);
	int ret = 0;

	if (!j)
		return ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory building JSON");
	if ((ret = fn_missing(run, o, e))) {
		json_decref(j);
		return ret;
	}
	jset(j, "format", json_string("ctrace-report/1"));
	funcs = functions_json(run, o, CTR_NONE, base, e);
	if (!funcs) {
		ret = e && e->code ? e->code : CTR_ENOMEM;
		goto out;
	}
	jset(j, "functions", funcs);
	if (per_thread || tree) {
		json_t *threads = json_object_get(j, "threads");
		struct ctr_cct t;
		struct attr_index ai = {0};
		struct tree_json_ctx *tc = NULL;

		ret = ctr_cct_build(&t, run, e);
		if (ret)
			goto out;
		ret = attr_index_build(&ai, run, e);
		if (!ret && tree && !(tc = calloc(1, sizeof(*tc))))
			ret = ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory building JSON");
		if (tc)
			*tc = (struct tree_json_ctx){.run = run, .o = o, .t = &t, .ai = &ai};
		for (size_t i = 0; !ret && i < run->n_threads; i++) {
			json_t *th = json_array_get(threads, i);

			uint64_t tb = ctr_report_thread_base_ns(run, (uint32_t)i, o->raw_times);
			uint64_t min_total = (uint64_t)((double)tb * o->min_percent / 100.0);

			if (o->prune_px && tb / o->prune_px > min_total)
				min_total = tb / o->prune_px;

			if (per_thread) {
				json_t *tf = functions_json(run, o, (uint32_t)i, tb, e);

				if (!tf) {
					ret = e && e->code ? e->code : CTR_ENOMEM;
					break;
				}
				jset(th, "functions", tf);
			}
			if (tree) {
				tc->min_total = min_total;
				if (thread_tree_json(tc, th, (uint32_t)i) < 0)
					ret = ctr_err_set(e, CTR_ENOMEM, ENOMEM,
							  "out of memory building JSON");
			}
		}
		if (tc)
			free(tc->cuts);
		free(tc);
		free(ai.idx);
		ctr_cct_release(&t);
		if (ret)
			goto out;
	}
	if (json_dumpf(j, out,
		       (o->compact ? JSON_COMPACT : JSON_INDENT(2)) | JSON_PRESERVE_ORDER) ||
	    fputc('\n', out) == EOF)
		ret =
		    ctr_err_set(e, CTR_EIO, errno, "cannot write the report: %s", strerror(errno));
out:
	json_decref(j);
	return ret;
}

/* ---- diff ---- */

struct diff_side {
	const struct ctr_run *run;
	struct ctr_prof_entry *rows;
	size_t n;
	char **keys; /* name \x1f module basename, parallel to rows */
};

struct diff_row {
	const struct ctr_prof_entry *a, *b;
	const struct ctr_run *run; /* run naming the function (b if present) */
	const struct ctr_run *run_a, *run_b;
	uint32_t function;
	int64_t d_self;
};

static const char *mod_base(const struct ctr_run *run, uint32_t fid)
{
	const struct ctr_function *f = &run->functions[fid];
	const char *p, *s;

	if (f->module >= run->n_modules || !run->modules[f->module].path)
		return "";
	p = run->modules[f->module].path;
	s = strrchr(p, '/');
	return s ? s + 1 : p;
}

/* The stored (full demangled) name: runs pair by it, never by a shortened form. */
static const char *full_name(const struct ctr_run *run, uint32_t fid)
{
	return fid < run->n_functions && run->functions[fid].name ? run->functions[fid].name : "?";
}

static void diff_side_free(struct diff_side *s)
{
	for (size_t i = 0; s->keys && i < s->n; i++)
		free(s->keys[i]);
	free(s->keys);
	free(s->rows);
}

static int cmp_key_idx(const void *pa, const void *pb, void *arg)
{
	char **keys = arg;

	return strcmp(keys[*(const size_t *)pa], keys[*(const size_t *)pb]);
}

static int diff_side_load(struct diff_side *s, const struct ctr_run *run, int raw, int by_name,
			  struct ctr_err *e)
{
	int ret;

	memset(s, 0, sizeof(*s));
	s->run = run;
	ret = ctr_report_profile(run, CTR_NONE, raw, &s->rows, &s->n, e);
	if (ret)
		return ret;
	s->keys = calloc(s->n ? s->n : 1, sizeof(char *));
	if (!s->keys)
		return ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory comparing runs");
	for (size_t i = 0; i < s->n; i++)
		if (asprintf(&s->keys[i], "%s\x1f%s", full_name(run, s->rows[i].function),
			     by_name ? "" : mod_base(run, s->rows[i].function)) < 0) {
			s->keys[i] = NULL;
			return ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory comparing runs");
		}
	return 0;
}

static int cmp_diff(const void *pa, const void *pb)
{
	const struct diff_row *a = pa, *b = pb;
	uint64_t ma = (uint64_t)(a->d_self < 0 ? -a->d_self : a->d_self);
	uint64_t mb = (uint64_t)(b->d_self < 0 ? -b->d_self : b->d_self);
	int r;

	if (ma != mb)
		return ma > mb ? -1 : 1;
	r = strcmp(fname(a->run, a->function), fname(b->run, b->function));
	return r;
}

static void fmt_signed_ns(char *buf, size_t n, int64_t v)
{
	char t[24];

	ctr_fmt_ns(t, sizeof(t), (uint64_t)(v < 0 ? -v : v));
	snprintf(buf, n, "%s%s", v < 0 ? "-" : v > 0 ? "+" : "", t);
}

static void fmt_change_pct(char *buf, size_t n, uint64_t a, uint64_t b, int have_a, int have_b)
{
	if (!have_a)
		snprintf(buf, n, "new");
	else if (!have_b)
		snprintf(buf, n, "gone");
	else if (!a)
		snprintf(buf, n, b ? "+inf" : "0.0%%");
	else
		snprintf(buf, n, "%+.1f%%", 100.0 * ((double)b - (double)a) / (double)a);
}

/* p99 of side @b (0 = A, 1 = B) of a diff row. */
static uint64_t p99_of(const struct diff_row *r, int b)
{
	const struct ctr_prof_entry *p = b ? r->b : r->a;
	const struct ctr_run *run = b ? r->run_b : r->run_a;

	return p && run && p->function < run->n_functions ? run->functions[p->function].p99_ns : 0;
}

/* Total time per call of side @p, 0 without calls. */
static uint64_t per_call(const struct ctr_prof_entry *p)
{
	return p && p->calls ? p->total_ns / p->calls : 0;
}

/* A function in both runs changed when its call count differs or its time per call moved by
 * CTR_DIFF_PER_CALL_PCT or more; otherwise it is the same (docs/report.md, --diff). */
#define CTR_DIFF_PER_CALL_PCT 10.0
static const char *diff_status(const struct diff_row *r)
{
	double pa, pb;

	if (!r->a || !r->b)
		return !r->a ? "new" : "removed";
	pa = (double)per_call(r->a);
	pb = (double)per_call(r->b);
	if (r->a->calls != r->b->calls ||
	    (pa ? fabs(pb - pa) * 100.0 / pa >= CTR_DIFF_PER_CALL_PCT : pb > 0))
		return "changed";
	return "same";
}

static json_t *diff_row_json(const struct diff_row *r)
{
	const struct ctr_prof_entry *a = r->a, *b = r->b;
	json_t *j = json_object();

	jset(j, "name", jstr(full_name(r->run, r->function)));
	jset(j, "module", jstr(mod_base(r->run, r->function)));
	jset(j, "status", json_string(diff_status(r)));
	jset(j, "calls_a", json_integer(a ? (json_int_t)a->calls : 0));
	jset(j, "calls_b", json_integer(b ? (json_int_t)b->calls : 0));
	jset(j, "self_ns_a", json_integer(a ? (json_int_t)a->self_ns : 0));
	jset(j, "self_ns_b", json_integer(b ? (json_int_t)b->self_ns : 0));
	jset(j, "total_ns_a", json_integer(a ? (json_int_t)a->total_ns : 0));
	jset(j, "total_ns_b", json_integer(b ? (json_int_t)b->total_ns : 0));
	jset(j, "p99_ns_a", json_integer(a ? (json_int_t)p99_of(r, 0) : 0));
	jset(j, "p99_ns_b", json_integer(b ? (json_int_t)p99_of(r, 1) : 0));
	jset(j, "per_call_ns_a", json_integer((json_int_t)per_call(a)));
	jset(j, "per_call_ns_b", json_integer((json_int_t)per_call(b)));
	jset(j, "per_call_change_percent",
	     per_call(a) && b ? json_real(100.0 * ((double)per_call(b) - (double)per_call(a)) /
					  (double)per_call(a))
			      : json_null());
	jset(j, "self_ns_change", json_integer(r->d_self));
	jset(j, "self_change_percent",
	     a && b && a->self_ns
		 ? json_real(100.0 * ((double)b->self_ns - (double)a->self_ns) / (double)a->self_ns)
		 : json_null());
	jset(j, "total_change_percent",
	     a && b && a->total_ns ? json_real(100.0 * ((double)b->total_ns - (double)a->total_ns) /
					       (double)a->total_ns)
				   : json_null());
	return j;
}

/* The --diff --json document (ctrace-diff/1) of the merged, sorted rows. */
static int diff_json(FILE *out, const struct ctr_run *a, const struct ctr_run *b,
		     const struct ctr_report_opts *o, const struct diff_row *rows, size_t nrows,
		     const char *hint, struct ctr_err *e)
{
	json_t *j = json_object(), *arr = json_array();
	size_t shown = 0;
	int ret = 0;

	jset(j, "format", json_string("ctrace-diff/1"));
	jset(j, "run_a", run_header_json(a, o));
	jset(j, "run_b", run_header_json(b, o));
	jset(j, "duration_ns_change",
	     json_integer((json_int_t)b->duration_ns - (json_int_t)a->duration_ns));
	if (hint)
		jset(j, "hint", jstr(hint));
	for (size_t x = 0; x < nrows; x++) {
		if (!ctr_report_name_match(rows[x].run, rows[x].function, o->function))
			continue;
		if (o->top && shown >= o->top)
			break;
		json_array_append_new(arr, diff_row_json(&rows[x]));
		shown++;
	}
	jset(j, "functions", arr);
	if (json_dumpf(j, out,
		       (o->compact ? JSON_COMPACT : JSON_INDENT(2)) | JSON_PRESERVE_ORDER) ||
	    fputc('\n', out) == EOF)
		ret =
		    ctr_err_set(e, CTR_EIO, errno, "cannot write the report: %s", strerror(errno));
	json_decref(j);
	return ret;
}

static void diff_text_row(FILE *out, const struct diff_row *r)
{
	char c[15][32], lbl[NAME_BUF];

	ctr_fmt_count(c[0], sizeof(c[0]), r->a ? r->a->calls : 0);
	ctr_fmt_count(c[1], sizeof(c[1]), r->b ? r->b->calls : 0);
	ctr_fmt_ns(c[2], sizeof(c[2]), r->a ? r->a->self_ns : 0);
	ctr_fmt_ns(c[3], sizeof(c[3]), r->b ? r->b->self_ns : 0);
	fmt_signed_ns(c[4], sizeof(c[4]), r->d_self);
	fmt_change_pct(c[5], sizeof(c[5]), r->a ? r->a->self_ns : 0, r->b ? r->b->self_ns : 0,
		       !!r->a, !!r->b);
	ctr_fmt_ns(c[6], sizeof(c[6]), r->a ? r->a->total_ns : 0);
	ctr_fmt_ns(c[7], sizeof(c[7]), r->b ? r->b->total_ns : 0);
	fmt_change_pct(c[8], sizeof(c[8]), r->a ? r->a->total_ns : 0, r->b ? r->b->total_ns : 0,
		       !!r->a, !!r->b);
	/* "-" where a run has no latency distribution for the function */
	ctr_fmt_ns(c[9], sizeof(c[9]), p99_of(r, 0));
	ctr_fmt_ns(c[10], sizeof(c[10]), p99_of(r, 1));
	fmt_change_pct(c[11], sizeof(c[11]), p99_of(r, 0), p99_of(r, 1), !!r->a, !!r->b);
	if (!p99_of(r, 0))
		snprintf(c[9], sizeof(c[9]), "-");
	if (!p99_of(r, 1))
		snprintf(c[10], sizeof(c[10]), "-");
	if (r->a && r->b && (!p99_of(r, 0) || !p99_of(r, 1)))
		snprintf(c[11], sizeof(c[11]), "-");
	ctr_fmt_ns(c[12], sizeof(c[12]), per_call(r->a));
	ctr_fmt_ns(c[13], sizeof(c[13]), per_call(r->b));
	fmt_change_pct(c[14], sizeof(c[14]), per_call(r->a), per_call(r->b), !!r->a, !!r->b);
	fprintf(out,
		"%10s %10s %10s %10s %10s %8s %10s %10s %8s %10s %10s %8s %10s %10s %8s  %s%s\n",
		c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11], c[12],
		c[13], c[14],
		!r->a				  ? "[new] "
		: !r->b				  ? "[removed] "
		: !strcmp(diff_status(r), "same") ? "[same] "
						  : "",
		ctr_report_label(r->run, r->function, lbl, sizeof(lbl)));
}

/* The text form of the diff: both runs' headers, then one row per function. */
static int diff_text(FILE *out, const struct ctr_run *a, const struct ctr_run *b,
		     const struct ctr_report_opts *o, const struct diff_row *rows, size_t nrows,
		     const char *hint, struct ctr_err *e)
{
	char da[32], db[32], dd[32];
	size_t shown = 0;

	ctr_fmt_ns(da, sizeof(da), a->duration_ns);
	ctr_fmt_ns(db, sizeof(db), b->duration_ns);
	fmt_signed_ns(dd, sizeof(dd), (int64_t)b->duration_ns - (int64_t)a->duration_ns);
	fprintf(out, "diff A: run %s '%s' %s\n     B: run %s '%s' %s (%s)\n", a->id,
		a->command ? a->command : "", da, b->id, b->command ? b->command : "", db, dd);
	if (a->lost_events || b->lost_events)
		fprintf(out, "WARNING: events lost (A: %" PRIu64 ", B: %" PRIu64 ")\n",
			a->lost_events, b->lost_events);
	if (hint)
		fprintf(out, "hint: %s\n", hint);
	fprintf(out,
		"\n%10s %10s %10s %10s %10s %8s %10s %10s %8s %10s %10s %8s %10s %10s %8s  %s\n",
		"calls A", "calls B", "self A", "self B", "self chg", "self%", "total A", "total B",
		"total%", "p99 A", "p99 B", "p99%", "call A", "call B", "call%", "function");
	for (size_t x = 0; x < nrows; x++) {
		if (!ctr_report_name_match(rows[x].run, rows[x].function, o->function))
			continue;
		if (!o->top || shown < o->top)
			diff_text_row(out, &rows[x]);
		shown++;
	}
	if (o->top && shown > o->top)
		fprintf(out, "... %zu more (--top 0 shows all)\n", shown - o->top);
	return ctr_report_status(out, e);
}

static int cmp_str_ptr(const void *pa, const void *pb)
{
	return strcmp(*(const char *const *)pa, *(const char *const *)pb);
}

/* How many functions of @sa and @sb share a stored name (what --match name would pair); 0 when
 * out of memory. */
static size_t common_names(const struct diff_side *sa, const struct diff_side *sb)
{
	const char **na = malloc((sa->n + 1) * sizeof(*na)),
		   **nb = malloc((sb->n + 1) * sizeof(*nb));
	size_t i = 0, k = 0, n = 0;

	for (size_t x = 0; na && nb && x < sa->n; x++)
		na[x] = full_name(sa->run, sa->rows[x].function);
	for (size_t x = 0; na && nb && x < sb->n; x++)
		nb[x] = full_name(sb->run, sb->rows[x].function);
	if (na && nb) {
		qsort(na, sa->n, sizeof(*na), cmp_str_ptr);
		qsort(nb, sb->n, sizeof(*nb), cmp_str_ptr);
		while (i < sa->n && k < sb->n) {
			int c = strcmp(na[i], nb[k]);

			n += !c;
			i += c <= 0;
			k += c >= 0;
		}
	}
	free(na);
	free(nb);
	return n;
}

/* The base name of the run's first executable, "" when unknown. */
static const char *exe_base(const struct ctr_run *run)
{
	const char *p = run->n_procs && run->procs[0].exe ? run->procs[0].exe : "", *sl;

	return (sl = strrchr(p, '/')) ? sl + 1 : p;
}

/* When no function pairs up by module and name but some would by name alone (the same program
 * built or run from another path), the hint that says so; NULL otherwise. Caller frees. */
static char *diff_hint(const struct diff_side *sa, const struct diff_side *sb,
		       const struct diff_row *rows, size_t nrows, int by_name)
{
	size_t same;
	char *h = NULL;

	for (size_t x = 0; x < nrows; x++)
		if (rows[x].a && rows[x].b)
			return NULL;
	if (by_name || !(same = common_names(sa, sb)))
		return NULL;
	if (asprintf(&h,
		     "no function is in both runs under the same module (A ran '%s', B '%s'); "
		     "--match name pairs functions by name alone (%zu would pair)",
		     exe_base(sa->run), exe_base(sb->run), same) < 0)
		return NULL;
	return h;
}

int ctr_report_diff(FILE *out, const struct ctr_run *a, const struct ctr_run *b,
		    const struct ctr_report_opts *o, int json, struct ctr_err *e)
{
	struct diff_side sa, sb;
	struct diff_row *rows = NULL;
	size_t *ia = NULL, *ib = NULL, nrows = 0, i = 0, k = 0;
	char *hint = NULL;
	int ret;

	memset(&sb, 0, sizeof(sb));
	ret = diff_side_load(&sa, a, o->raw_times, o->match_name, e);
	if (!ret)
		ret = diff_side_load(&sb, b, o->raw_times, o->match_name, e);
	if (ret)
		goto out;
	ret = ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory comparing runs");
	ia = malloc((sa.n + 1) * sizeof(*ia));
	ib = malloc((sb.n + 1) * sizeof(*ib));
	rows = calloc(sa.n + sb.n + 1, sizeof(*rows));
	if (!ia || !ib || !rows)
		goto out;
	if (e && e->code == CTR_ENOMEM)
		ctr_err_clear(e);
	for (size_t x = 0; x < sa.n; x++)
		ia[x] = x;
	for (size_t x = 0; x < sb.n; x++)
		ib[x] = x;
	qsort_r(ia, sa.n, sizeof(*ia), cmp_key_idx, sa.keys);
	qsort_r(ib, sb.n, sizeof(*ib), cmp_key_idx, sb.keys);
	/* Merge the two sorted key lists; a name repeated within one run (same name in two
	 * modules with one basename) pairs up in order. */
	while (i < sa.n || k < sb.n) {
		int c = i == sa.n ? 1 : k == sb.n ? -1 : strcmp(sa.keys[ia[i]], sb.keys[ib[k]]);
		struct diff_row *r = &rows[nrows++];

		if (c <= 0)
			r->a = &sa.rows[ia[i++]];
		if (c >= 0)
			r->b = &sb.rows[ib[k++]];
		r->run = r->b ? b : a;
		r->run_a = a;
		r->run_b = b;
		r->function = r->b ? r->b->function : r->a->function;
		r->d_self =
		    (int64_t)(r->b ? r->b->self_ns : 0) - (int64_t)(r->a ? r->a->self_ns : 0);
	}
	qsort(rows, nrows, sizeof(*rows), cmp_diff);
	hint = diff_hint(&sa, &sb, rows, nrows, o->match_name);
	ret = json ? diff_json(out, a, b, o, rows, nrows, hint, e)
		   : diff_text(out, a, b, o, rows, nrows, hint, e);
out:
	free(hint);
	free(ia);
	free(ib);
	free(rows);
	diff_side_free(&sa);
	diff_side_free(&sb);
	return ret;
}

/* ---- summary (ctrace show) ---- */

int ctr_report_summary(FILE *out, const struct ctr_run *run, struct ctr_err *e)
{
	char buf[64], sig[32];
	time_t secs = (time_t)(run->start_unix_ns / 1000000000);
	struct tm tm;

	fprintf(out, "run       %s\n", run->id);
	fprintf(out, "command   %s\n", run->command ? run->command : "");
	if (run->host && *run->host)
		fprintf(out, "host      %s\n", run->host);
	if (run->cwd && *run->cwd)
		fprintf(out, "cwd       %s\n", run->cwd);
	if (gmtime_r(&secs, &tm)) {
		strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
		fprintf(out, "started   %s.%03d UTC\n", buf,
			(int)((run->start_unix_ns % 1000000000) / 1000000));
	}
	ctr_fmt_ns(buf, sizeof(buf), run->duration_ns);
	fprintf(out, "duration  %s\n", buf);
	fprintf(out, "exit      ");
	if (run->signal)
		fprintf(out, "killed by %s", ctr_report_sig_name(run->signal, sig, sizeof(sig)));
	else if (run->exit_status >= 0)
		fprintf(out, "status %d", run->exit_status);
	else
		fprintf(out, "unknown");
	fprintf(out, "%s\n", run->crashed ? " (CRASHED)" : "");
	fprintf(out, "threads   %zu\n", run->n_threads);
	fprintf(out, "events    %" PRIu64 "%s", run->events, run->lost_events ? "" : "\n");
	if (run->lost_events)
		fprintf(out, " (WARNING: %" PRIu64 " lost)\n", run->lost_events);
	ctr_fmt_count(buf, sizeof(buf), ctr_report_calls(run));
	fprintf(out, "calls     %s\n", buf);
	if (run->clock && *run->clock)
		fprintf(out, "clock     %s (%" PRIu64 " ticks/s)\n", run->clock,
			run->ticks_per_sec);
	if (run->n_meta) {
		fprintf(out, "metadata\n");
		for (size_t i = 0; i < run->n_meta; i++)
			fprintf(out, "  %s=%s\n", run->meta[i].key, run->meta[i].value);
	}
	if (run->n_procs) {
		fprintf(out, "processes\n");
		for (size_t i = 0; i < run->n_procs; i++) {
			const struct ctr_process *p = &run->procs[i];

			fprintf(out, "  pid %d (ppid %d", p->pid, p->ppid);
			if (p->gen)
				fprintf(out, ", exec %u", p->gen);
			fprintf(out, ") %s: ", p->command ? p->command : p->exe ? p->exe : "");
			if (p->signal)
				fprintf(out, "killed by %s",
					ctr_report_sig_name(p->signal, sig, sizeof(sig)));
			else if (p->exit_status >= 0)
				fprintf(out, "exit %d", p->exit_status);
			else
				fprintf(out, "exit unknown");
			fprintf(out, "%s\n", p->crashed ? " (CRASHED)" : "");
		}
	}
	if (run->n_threads) {
		fprintf(out, "thread list\n");
		for (size_t i = 0; i < run->n_threads; i++) {
			const struct ctr_thread *t = &run->threads[i];

			ctr_fmt_ns(buf, sizeof(buf), thread_span(t));
			fprintf(out, "  %zu: tid %d (pid %d) '%s' %s, %" PRIu64 " events", i,
				t->tid, t->pid, t->name ? t->name : "", buf, t->events);
			if (t->lost)
				fprintf(out, ", %" PRIu64 " lost", t->lost);
			fputc('\n', out);
		}
	}
	for (size_t i = 0; i < run->n_procs; i++) {
		const struct ctr_process *p = &run->procs[i];

		if (!p->backtrace || !*p->backtrace)
			continue;
		fprintf(out, "crash backtrace (pid %d):\n", p->pid);
		for (const char *s = p->backtrace; *s;) {
			const char *nl = strchr(s, '\n');
			size_t len = nl ? (size_t)(nl - s) : strlen(s);

			fprintf(out, "  %.*s\n", (int)len, s);
			s += len + (nl ? 1 : 0);
		}
	}
	return ctr_report_status(out, e);
}
