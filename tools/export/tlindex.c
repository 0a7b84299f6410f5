/* SPDX-License-Identifier: MIT */
/*
 * The timeline index (tlindex.h): one walker turns a thread's event stream into finished calls
 * (with self time and span attributes) from any chunk on, seeded with the open frames at that
 * chunk's start; the build keeps long calls, bin-merged busy spans and those per-chunk stacks,
 * and a query either reads that summary or walks only the chunks of its window.
 */
#include "tlindex.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "../../common/grow.h"
#include "../../store/runjson.h"
#include "../view/report.h"

struct tli_frame {
	uint64_t start, child;
	uint32_t fid;
	json_t *attrs;
};

/* Open frames at the start of one chunk: frames[off .. off + depth) of the thread's pool. */
struct tli_snap {
	uint64_t first_ns;
	uint32_t depth;
	size_t off;
};

/* Busy spans being merged per depth, at a granularity. */
struct tli_acc {
	struct ctr_tli_busy *cur; /* per depth; count 0 = none */
	uint32_t n;
};

struct tli_level {
	struct ctr_tli_call *calls; /* dur >= base, by start */
	size_t nc, cc;
	struct ctr_tli_busy *busy; /* the shorter ones, merged at base, by start */
	size_t nb, cb;
};

/* A coarser copy of the summary: bins TLI_UP_FACTOR times wider than the level below. Its
 * calls borrow their attributes from level 0. */
#define TLI_UP 2
#define TLI_UP_FACTOR 16
struct tli_sum {
	uint64_t base;
	struct tli_level *lv;
	uint32_t nlv;
};

struct tli_thread {
	uint64_t base, start, end;
	struct tli_level *lv; /* level 0: bins of base ns */
	uint32_t nlv;
	struct tli_sum up[TLI_UP]; /* coarser levels, so a wide window scans few entries */
	struct tli_snap *snaps;
	size_t nsnap, csnap;
	struct tli_frame *pool;
	size_t npool, cpool;
	struct ctr_tli_mark *marks;
	size_t nm, cm;
	struct ctr_tli_gap *gaps; /* --sched: every off-CPU gap, by start (at most
				   * CTR_TLI_GAPS_MAX) */
	size_t ng, cg;
	struct tli_acc acc;
};

struct ctr_tlindex {
	const struct ctr_run *run;
	int stored; /* from ctr_tlindex_load() */
	ctr_tl_fetch fetch;
	void *fetch_arg;
	struct tli_thread *th;
	size_t n;
	size_t bytes;
};

/* The walker shared by the build and fine queries. */
struct tli_walker {
	struct tli_frame *stack;
	uint32_t sp, cap;
	int (*on_call)(struct tli_walker *w, const struct ctr_tli_call *c, struct ctr_err *e);
	int (*on_mark)(struct tli_walker *w, uint64_t t, uint32_t fid, struct ctr_err *e);
	int (*on_offcpu)(struct tli_walker *w, uint64_t t, uint64_t dur, int preempted,
			 struct ctr_err *e);
	int (*on_chunk)(struct tli_walker *w, size_t k, uint64_t first_ns, struct ctr_err *e);
	void *arg;
	size_t read;
};

static int nomem(struct ctr_err *e)
{
	return ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory indexing the timeline");
}

/* ctr_grow() for typed arrays. */
#define grow(p, cap, need, size) ctr_grow((void **)(p), (cap), (need), (size))

static int acc_depth(struct tli_acc *a, uint32_t depth)
{
	if (depth < a->n)
		return 0;
	uint32_t n = depth + 16;
	struct ctr_tli_busy *p = realloc(a->cur, n * sizeof(*p));

	if (!p)
		return -1;
	memset(p + a->n, 0, (n - a->n) * sizeof(*p));
	a->cur = p;
	a->n = n;
	return 0;
}

/* Adds [start, end) x count at @depth to the accumulator; a span that no longer touches the
 * current one (gap of at least @gran) is flushed to *@out first. 0 or -1 (no memory). */
static int acc_add(struct tli_acc *a, uint32_t depth, uint64_t start, uint64_t end, uint64_t count,
		   uint32_t fid, uint64_t gran, struct ctr_tli_busy **out, size_t *n, size_t *cap)
{
	struct ctr_tli_busy *c;

	if (acc_depth(a, depth))
		return -1;
	c = &a->cur[depth];
	if (c->count && start < c->end + gran) {
		if (end > c->end)
			c->end = end;
		c->count += count;
		if (c->fid != fid)
			c->fid = CTR_NONE;
		return 0;
	}
	if (c->count) {
		if (grow(out, cap, *n + 1, sizeof(**out)))
			return -1;
		(*out)[(*n)++] = *c;
	}
	*c = (struct ctr_tli_busy){start, end, count, depth, fid};
	return 0;
}

static void acc_release(struct tli_acc *a)
{
	free(a->cur);
	a->cur = NULL;
	a->n = 0;
}

static int push(struct tli_walker *w, uint64_t t, uint32_t fid)
{
	if (w->sp == w->cap) {
		uint32_t nc = w->cap ? w->cap * 2 : 64;
		struct tli_frame *p = realloc(w->stack, nc * sizeof(*p));

		if (!p)
			return -1;
		w->stack = p;
		w->cap = nc;
	}
	w->stack[w->sp++] = (struct tli_frame){t, 0, fid, NULL};
	return 0;
}

/* Pops the top frame at @t and hands it to on_call (which may keep its attrs, else freed). */
static int pop(struct tli_walker *w, uint64_t t, int cut, struct ctr_err *e)
{
	struct tli_frame *f = &w->stack[--w->sp];
	uint64_t dur = t > f->start ? t - f->start : 0;
	struct ctr_tli_call c = {
	    f->start, dur, dur - (f->child < dur ? f->child : dur), w->sp, f->fid, cut, f->attrs};
	int ret;

	if (w->sp)
		w->stack[w->sp - 1].child += dur;
	f->attrs = NULL;
	ret = w->on_call(w, &c, e);
	return ret;
}

static void attr_add(struct tli_walker *w, const struct ctr_event *ev)
{
	struct tli_frame *f = &w->stack[w->sp - 1];
	char key[CTR_STR_MAX + 1], val[CTR_STR_MAX + 1];
	json_t *v;

	if (!f->attrs && !(f->attrs = json_object()))
		return;
	snprintf(key, sizeof(key), "%.*s", (int)ev->len, ev->str);
	if (ev->type == CTR_EV_ATTR_INT) {
		v = json_integer(ev->ival);
	} else {
		snprintf(val, sizeof(val), "%.*s", (int)ev->len2, ev->str2);
		v = ctr_json_str(val);
	}
	if (!v)
		return;
	char *k = ctr_utf8_sanitize(key);

	if (k)
		json_object_set_new(f->attrs, k, v);
	else
		json_decref(v);
	free(k);
}

/* Feeds the events of @it to @w until the thread ends (closing what is open at @end) or an
 * event lies past @stop (closing what is open at @stop, marked cut). */
static int walk(struct tli_walker *w, struct ctr_tl_iter *it, uint64_t stop, uint64_t end,
		struct ctr_err *e)
{
	struct ctr_event ev;
	uint64_t now = 0;
	int r, ret = 0, stopped = 0;

	while ((r = ctr_tl_iter_next(it, &ev, e)) > 0) {
		if (w->on_chunk && ctr_tl_iter_read(it) != w->read) {
			for (size_t k = w->read; !ret && k < ctr_tl_iter_read(it); k++)
				ret = w->on_chunk(w, k, ctr_tl_iter_chunk(it, k)->first_ns, e);
			w->read = ctr_tl_iter_read(it);
			if (ret)
				return ret;
		}
		now = ev.time;
		if (now > stop ||
		    (now == stop && (ev.type == CTR_EV_ENTER || ev.type == CTR_EV_INHERIT))) {
			stopped = 1;
			break;
		}
		switch (ev.type) {
		case CTR_EV_ENTER:
		case CTR_EV_INHERIT:
			if (push(w, now, (uint32_t)ev.ref))
				return nomem(e);
			break;
		case CTR_EV_EXIT:
			if (w->sp)
				ret = pop(w, now, 0, e);
			break;
		case CTR_EV_MARK:
			if (w->on_mark)
				ret = w->on_mark(w, now, (uint32_t)ev.ref, e);
			break;
		case CTR_EV_OFFCPU:
			if (w->on_offcpu)
				ret = w->on_offcpu(w, now, ev.count, ev.ref == 2, e);
			break;
		case CTR_EV_ATTR_STR:
		case CTR_EV_ATTR_INT:
			if (w->sp)
				attr_add(w, &ev);
			break;
		default:
			break;
		}
		if (ret)
			return ret;
	}
	if (r < 0)
		return r;
	if (stopped)
		end = stop;
	else if (now > end)
		end = now;
	while (w->sp && !ret)
		ret = pop(w, end, stopped, e);
	return ret;
}

static void walker_release(struct tli_walker *w)
{
	for (uint32_t i = 0; i < w->sp; i++)
		json_decref(w->stack[i].attrs);
	free(w->stack);
	w->stack = NULL;
	w->sp = w->cap = 0;
}

/* ---- build ---- */

static int build_call(struct tli_walker *w, const struct ctr_tli_call *c, struct ctr_err *e)
{
	struct tli_thread *t = w->arg;
	struct tli_level *l;

	if (c->depth >= t->nlv) {
		uint32_t n = c->depth + 16;
		struct tli_level *p = realloc(t->lv, n * sizeof(*p));

		if (!p)
			goto fail;
		memset(p + t->nlv, 0, (n - t->nlv) * sizeof(*p));
		t->lv = p;
		t->nlv = n;
	}
	l = &t->lv[c->depth];
	if (c->dur >= t->base) {
		if (grow(&l->calls, &l->cc, l->nc + 1, sizeof(*l->calls)))
			goto fail;
		l->calls[l->nc++] = *c;
		return 0;
	}
	json_decref(c->attrs);
	if (acc_add(&t->acc, c->depth, c->start, c->start + c->dur, 1, c->fid, t->base, &l->busy,
		    &l->nb, &l->cb))
		return nomem(e);
	return 0;
fail:
	json_decref(c->attrs);
	return nomem(e);
}

static int build_mark(struct tli_walker *w, uint64_t t_ns, uint32_t fid, struct ctr_err *e)
{
	struct tli_thread *t = w->arg;

	if (t->nm >= CTR_TLI_MARKS_MAX)
		return 0;
	if (grow(&t->marks, &t->cm, t->nm + 1, sizeof(*t->marks)))
		return nomem(e);
	t->marks[t->nm++] = (struct ctr_tli_mark){t_ns, fid, 1};
	return 0;
}

static int build_offcpu(struct tli_walker *w, uint64_t t_ns, uint64_t dur, int preempted,
			struct ctr_err *e)
{
	struct tli_thread *t = w->arg;

	if (t->ng >= CTR_TLI_GAPS_MAX)
		return 0;
	if (grow(&t->gaps, &t->cg, t->ng + 1, sizeof(*t->gaps)))
		return nomem(e);
	t->gaps[t->ng++] = (struct ctr_tli_gap){t_ns, t_ns + dur, 1, preempted, dur};
	return 0;
}

static int build_chunk(struct tli_walker *w, size_t k, uint64_t first_ns, struct ctr_err *e)
{
	struct tli_thread *t = w->arg;

	(void)k;
	if (grow(&t->snaps, &t->csnap, t->nsnap + 1, sizeof(*t->snaps)) ||
	    grow(&t->pool, &t->cpool, t->npool + w->sp, sizeof(*t->pool)))
		return nomem(e);
	t->snaps[t->nsnap++] = (struct tli_snap){first_ns, w->sp, t->npool};
	for (uint32_t i = 0; i < w->sp; i++)
		t->pool[t->npool++] =
		    (struct tli_frame){w->stack[i].start, w->stack[i].child, w->stack[i].fid, NULL};
	return 0;
}

/* Fills @dst (its base set) from the level @src: calls at least dst->base long kept, the rest
 * merged into busy spans at dst->base. */
static int derive(const struct tli_level *src, uint32_t nsrc, struct tli_sum *dst,
		  struct ctr_err *e)
{
	struct tli_acc acc = {0};
	int ret = 0;

	if (!(dst->lv = calloc(nsrc ? nsrc : 1, sizeof(*dst->lv))))
		return nomem(e);
	dst->nlv = nsrc;
	for (uint32_t d = 0; !ret && d < nsrc; d++) {
		const struct tli_level *l = &src[d];
		struct tli_level *o = &dst->lv[d];
		size_t i = 0, j = 0;

		while (!ret && (i < l->nc || j < l->nb)) {
			if (i < l->nc && (j >= l->nb || l->calls[i].start <= l->busy[j].start)) {
				const struct ctr_tli_call *c = &l->calls[i++];

				if (c->dur >= dst->base) {
					if (grow(&o->calls, &o->cc, o->nc + 1, sizeof(*o->calls)))
						ret = nomem(e);
					else
						o->calls[o->nc++] = *c;
				} else if (acc_add(&acc, d, c->start, c->start + c->dur, 1, c->fid,
						   dst->base, &o->busy, &o->nb, &o->cb)) {
					ret = nomem(e);
				}
			} else {
				const struct ctr_tli_busy *b = &l->busy[j++];

				if (acc_add(&acc, d, b->start, b->end, b->count, b->fid, dst->base,
					    &o->busy, &o->nb, &o->cb))
					ret = nomem(e);
			}
		}
		if (!ret && d < acc.n && acc.cur[d].count) {
			if (grow(&o->busy, &o->cb, o->nb + 1, sizeof(*o->busy)))
				ret = nomem(e);
			else
				o->busy[o->nb++] = acc.cur[d];
		}
	}
	acc_release(&acc);
	return ret;
}

/* Gives back the growth slack of a level's arrays (a quarter of them on average). */
static void levels_fit(struct tli_level *lv, uint32_t n)
{
	for (uint32_t d = 0; d < n; d++) {
		struct tli_level *l = &lv[d];
		void *p;

		if (l->nc < l->cc &&
		    (p = realloc(l->calls, (l->nc ? l->nc : 1) * sizeof(*l->calls)))) {
			l->calls = p;
			l->cc = l->nc;
		}
		if (l->nb < l->cb &&
		    (p = realloc(l->busy, (l->nb ? l->nb : 1) * sizeof(*l->busy)))) {
			l->busy = p;
			l->cb = l->nb;
		}
	}
}

static size_t levels_bytes(const struct tli_level *lv, uint32_t n)
{
	size_t b = n * sizeof(*lv);

	for (uint32_t d = 0; d < n; d++)
		b += lv[d].cc * sizeof(*lv[d].calls) + lv[d].cb * sizeof(*lv[d].busy);
	return b;
}

static int build_thread(struct ctr_tlindex *x, uint32_t th, struct ctr_err *e)
{
	const struct ctr_thread *td = &x->run->threads[th];
	struct tli_thread *t = &x->th[th];
	struct tli_walker w = {0};
	struct ctr_tl_iter *it = NULL;
	int ret;

	t->start = td->start_ns;
	t->end = td->end_ns > td->start_ns ? td->end_ns : x->run->duration_ns;
	if (t->end < t->start)
		t->end = t->start;
	t->base = (t->end - t->start) / CTR_TLI_BINS + 1;
	w.on_call = build_call;
	w.on_mark = build_mark;
	w.on_offcpu = build_offcpu;
	w.on_chunk = build_chunk;
	w.arg = t;
	ret = ctr_tl_iter_open(&it, x->run, th, e);
	if (!ret) {
		ctr_tl_iter_set_fetch(it, x->fetch, x->fetch_arg);
		ret = walk(&w, it, UINT64_MAX, t->end, e);
	}
	/* Flush the busy spans still being merged. */
	for (uint32_t d = 0; !ret && d < t->acc.n && d < t->nlv; d++) {
		struct tli_level *l = &t->lv[d];

		if (!t->acc.cur[d].count)
			continue;
		if (grow(&l->busy, &l->cb, l->nb + 1, sizeof(*l->busy)))
			ret = nomem(e);
		else
			l->busy[l->nb++] = t->acc.cur[d];
	}
	acc_release(&t->acc);
	walker_release(&w);
	ctr_tl_iter_close(it);
	if (!ret && t->nm && t->marks[t->nm - 1].t > t->end)
		t->end = t->marks[t->nm - 1].t;
	levels_fit(t->lv, t->nlv);
	for (int k = 0; !ret && k < TLI_UP; k++) {
		t->up[k].base = (k ? t->up[k - 1].base : t->base) * TLI_UP_FACTOR;
		ret = derive(k ? t->up[k - 1].lv : t->lv, k ? t->up[k - 1].nlv : t->nlv, &t->up[k],
			     e);
		if (!ret)
			levels_fit(t->up[k].lv, t->up[k].nlv);
	}
	x->bytes += t->cpool * sizeof(*t->pool) + t->csnap * sizeof(*t->snaps) +
		    t->cm * sizeof(*t->marks) + t->cg * sizeof(*t->gaps) +
		    levels_bytes(t->lv, t->nlv);
	for (int k = 0; k < TLI_UP; k++)
		x->bytes += levels_bytes(t->up[k].lv, t->up[k].nlv);
	return ret;
}

int ctr_tlindex_build(struct ctr_tlindex **out, const struct ctr_run *run, struct ctr_err *e)
{
	return ctr_tlindex_build_fetch(out, run, NULL, NULL, e);
}

int ctr_tlindex_build_fetch(struct ctr_tlindex **out, const struct ctr_run *run, ctr_tl_fetch fetch,
			    void *arg, struct ctr_err *e)
{
	struct ctr_tlindex *x = calloc(1, sizeof(*x));
	int ret = 0;

	*out = NULL;
	if (!x || !(x->th = calloc(run->n_threads ? run->n_threads : 1, sizeof(*x->th)))) {
		free(x);
		return nomem(e);
	}
	x->run = run;
	x->fetch = fetch;
	x->fetch_arg = arg;
	x->n = run->n_threads;
	x->bytes = sizeof(*x) + x->n * sizeof(*x->th);
	for (size_t i = 0; !ret && i < x->n; i++)
		ret = build_thread(x, (uint32_t)i, e);
	if (ret) {
		ctr_tlindex_free(x);
		return ret;
	}
	*out = x;
	return 0;
}

void ctr_tlindex_free(struct ctr_tlindex *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->n; i++) {
		struct tli_thread *t = &x->th[i];

		for (uint32_t d = 0; d < t->nlv; d++) {
			for (size_t k = 0; k < t->lv[d].nc; k++)
				json_decref(t->lv[d].calls[k].attrs);
			free(t->lv[d].calls);
			free(t->lv[d].busy);
		}
		free(t->lv);
		for (int k = 0; k < TLI_UP; k++) {
			for (uint32_t d = 0; d < t->up[k].nlv; d++) {
				free(t->up[k].lv[d].calls);
				free(t->up[k].lv[d].busy);
			}
			free(t->up[k].lv);
		}
		free(t->snaps);
		free(t->pool);
		free(t->marks);
		free(t->gaps);
		acc_release(&t->acc);
	}
	free(x->th);
	free(x);
}

size_t ctr_tlindex_bytes(const struct ctr_tlindex *x)
{
	return x ? x->bytes : 0;
}

/* ---- queries ---- */

struct tli_query {
	struct ctr_tli_result *r;
	struct tli_acc acc;
	uint64_t pw;
};

static int q_add_call(struct tli_query *q, const struct ctr_tli_call *c, int own, struct ctr_err *e)
{
	struct ctr_tli_result *r = q->r;

	if (c->depth + 1 > r->max_depth)
		r->max_depth = c->depth + 1;
	if (c->dur >= q->pw) {
		if (grow(&r->calls, &r->cap_calls, r->n_calls + 1, sizeof(*r->calls))) {
			if (own)
				json_decref(c->attrs);
			return nomem(e);
		}
		r->calls[r->n_calls++] = *c;
		return 0;
	}
	if (own)
		json_decref(c->attrs);
	if (acc_add(&q->acc, c->depth, c->start, c->start + c->dur, 1, c->fid, q->pw, &r->busy,
		    &r->n_busy, &r->cap_busy))
		return nomem(e);
	return 0;
}

static int q_add_mark(struct tli_query *q, uint64_t t, uint32_t fid, struct ctr_err *e)
{
	struct ctr_tli_result *r = q->r;

	if (t < r->from || t >= r->to)
		return 0;
	if (r->n_marks && t < r->marks[r->n_marks - 1].t + q->pw) {
		r->marks[r->n_marks - 1].count++;
		return 0;
	}
	if (grow(&r->marks, &r->cap_marks, r->n_marks + 1, sizeof(*r->marks)))
		return nomem(e);
	r->marks[r->n_marks++] = (struct ctr_tli_mark){t, fid, 1};
	return 0;
}

static int q_flush(struct tli_query *q, struct ctr_err *e)
{
	struct ctr_tli_result *r = q->r;

	for (uint32_t d = 0; d < q->acc.n; d++) {
		if (!q->acc.cur[d].count)
			continue;
		if (grow(&r->busy, &r->cap_busy, r->n_busy + 1, sizeof(*r->busy)))
			return nomem(e);
		r->busy[r->n_busy++] = q->acc.cur[d];
		q->acc.cur[d].count = 0;
	}
	return 0;
}

/* First element of a by-start, non-overlapping array that ends after @from. */
#define LOWER_END(arr, n, endexpr, from, outidx)                                                   \
	do {                                                                                       \
		size_t lo_ = 0, hi_ = (n);                                                         \
		while (lo_ < hi_) {                                                                \
			size_t mid_ = lo_ + (hi_ - lo_) / 2;                                       \
			if ((endexpr((arr)[mid_])) <= (from))                                      \
				lo_ = mid_ + 1;                                                    \
			else                                                                       \
				hi_ = mid_;                                                        \
		}                                                                                  \
		(outidx) = lo_;                                                                    \
	} while (0)
#define CALL_END(c) ((c).start + (c).dur)
#define BUSY_END(b) ((b).end)

/* From the coarsest level whose bins are not wider than the query's pixel. */
static int q_summary(struct tli_query *q, const struct tli_thread *t, struct ctr_err *e)
{
	struct ctr_tli_result *r = q->r;
	const struct tli_level *lv = t->lv;
	uint32_t nlv = t->nlv;
	int ret = 0;

	for (int k = TLI_UP - 1; k >= 0; k--)
		if (t->up[k].lv && q->pw >= t->up[k].base) {
			lv = t->up[k].lv;
			nlv = t->up[k].nlv;
			break;
		}
	r->summary = 1;
	for (uint32_t d = 0; !ret && d < nlv; d++) {
		const struct tli_level *l = &lv[d];
		size_t i, j;

		LOWER_END(l->calls, l->nc, CALL_END, r->from, i);
		LOWER_END(l->busy, l->nb, BUSY_END, r->from, j);
		while (!ret) {
			int take_call;

			if (i < l->nc && l->calls[i].start < r->to)
				take_call = !(j < l->nb && l->busy[j].start < r->to) ||
					    l->calls[i].start <= l->busy[j].start;
			else if (j < l->nb && l->busy[j].start < r->to)
				take_call = 0;
			else
				break;
			if (take_call) {
				ret = q_add_call(q, &l->calls[i++], 0, e);
			} else {
				const struct ctr_tli_busy *b = &l->busy[j++];

				if (d + 1 > r->max_depth)
					r->max_depth = d + 1;
				if (acc_add(&q->acc, d, b->start, b->end, b->count, b->fid, q->pw,
					    &r->busy, &r->n_busy, &r->cap_busy))
					ret = nomem(e);
			}
		}
		if (!ret)
			ret = q_flush(q, e);
	}
	for (size_t k = 0; !ret && k < t->nm; k++)
		ret = q_add_mark(q, t->marks[k].t, t->marks[k].fid, e);
	return ret;
}

static int fine_call(struct tli_walker *w, const struct ctr_tli_call *c, struct ctr_err *e)
{
	struct tli_query *q = w->arg;
	uint64_t end = c->start + c->dur;

	if (c->start >= q->r->to ||
	    (end <= q->r->from && !(c->dur == 0 && c->start == q->r->from))) {
		json_decref(c->attrs);
		return 0;
	}
	return q_add_call(q, c, 1, e);
}

static int fine_mark(struct tli_walker *w, uint64_t t, uint32_t fid, struct ctr_err *e)
{
	return q_add_mark(w->arg, t, fid, e);
}

static int q_fine(struct tli_query *q, const struct ctr_tlindex *x, uint32_t th, struct ctr_err *e)
{
	const struct tli_thread *t = &x->th[th];
	struct ctr_tli_result *r = q->r;
	struct tli_walker w = {0};
	struct ctr_tl_iter *it = NULL;
	size_t lo = 0, hi = t->nsnap, k;
	int ret;

	/* The last chunk that starts at or before the window. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->snaps[mid].first_ns <= r->from)
			lo = mid + 1;
		else
			hi = mid;
	}
	k = lo ? lo - 1 : 0;
	w.on_call = fine_call;
	w.on_mark = fine_mark;
	w.arg = q;
	ret = ctr_tl_iter_open(&it, x->run, th, e);
	if (ret)
		goto out;
	ctr_tl_iter_set_fetch(it, x->fetch, x->fetch_arg);
	ctr_tl_iter_seek(it, k);
	if (k < t->nsnap) {
		const struct tli_snap *s = &t->snaps[k];

		for (uint32_t i = 0; i < s->depth; i++) {
			if (push(&w, t->pool[s->off + i].start, t->pool[s->off + i].fid)) {
				ret = nomem(e);
				goto out;
			}
			w.stack[i].child = t->pool[s->off + i].child;
		}
	}
	ret = walk(&w, it, r->to, t->end, e);
	if (!ret)
		ret = q_flush(q, e);
	r->chunks_read = ctr_tl_iter_read(it) - k;
out:
	walker_release(&w);
	ctr_tl_iter_close(it);
	return ret;
}

/* The thread's off-CPU gaps overlapping the window, from the summary (it has them all):
 * those closer than a pixel to the previous one merged into it. */
static int q_gaps(struct tli_query *q, const struct tli_thread *t, struct ctr_err *e)
{
	struct ctr_tli_result *r = q->r;
	size_t lo = 0, hi = t->ng;

	while (lo < hi) { /* gaps do not overlap: by start is by end */
		size_t mid = lo + (hi - lo) / 2;

		if (t->gaps[mid].end <= r->from)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t k = lo; k < t->ng && t->gaps[k].start < r->to; k++) {
		const struct ctr_tli_gap *g = &t->gaps[k];
		struct ctr_tli_gap *p = r->n_gaps ? &r->gaps[r->n_gaps - 1] : NULL;

		if (p && g->start < p->end + q->pw) {
			p->end = g->end > p->end ? g->end : p->end;
			p->count++;
			if (g->longest > p->longest) {
				p->longest = g->longest;
				p->preempted = g->preempted;
			}
			continue;
		}
		if (grow(&r->gaps, &r->cap_gaps, r->n_gaps + 1, sizeof(*r->gaps)))
			return nomem(e);
		r->gaps[r->n_gaps++] = *g;
	}
	return 0;
}

int ctr_tlindex_query(const struct ctr_tlindex *x, uint32_t thread, uint64_t from, uint64_t to,
		      unsigned px, struct ctr_tli_result *r, struct ctr_err *e)
{
	struct tli_query q = {0};
	const struct tli_thread *t;
	int ret;

	memset(r, 0, sizeof(*r));
	r->summary = 1;
	if (thread >= x->n)
		return ctr_err_set(e, CTR_EUSAGE, 0, "no thread %u in run '%s' (it has %zu)",
				   thread, x->run->id, x->n);
	t = &x->th[thread];
	if (!to)
		to = t->end > from ? t->end : from + 1;
	if (px < 1 || px > CTR_TLI_PX_MAX)
		return ctr_err_set(e, CTR_EUSAGE, 0, "px must be 1..%d, not %u", CTR_TLI_PX_MAX,
				   px);
	if (from >= to)
		return ctr_err_set(e, CTR_EUSAGE, 0,
				   "empty window: from %" PRIu64 " is not before to %" PRIu64, from,
				   to);
	r->thread = thread;
	r->stored = x->stored;
	r->from = from;
	r->to = to;
	r->ns_per_px = (to - from) / px ? (to - from) / px : 1;
	q.r = r;
	q.pw = r->ns_per_px;
	if (q.pw >= t->base || !t->nsnap) {
		ret = q_summary(&q, t, e);
	} else {
		r->summary = 0;
		ret = q_fine(&q, x, thread, e);
	}
	if (!ret)
		ret = q_gaps(&q, t, e);
	acc_release(&q.acc);
	return ret;
}

void ctr_tli_result_release(struct ctr_tli_result *r)
{
	if (!r)
		return;
	if (!r->summary)
		for (size_t i = 0; i < r->n_calls; i++)
			json_decref(r->calls[i].attrs);
	free(r->calls);
	free(r->busy);
	free(r->marks);
	free(r->gaps);
	memset(r, 0, sizeof(*r));
	r->summary = 1;
}

int ctr_tli_result_json(FILE *out, const struct ctr_run *run, const struct ctr_tli_result *r,
			struct ctr_err *e)
{
	const struct ctr_thread *t = &run->threads[r->thread];

	fprintf(out,
		"{\"run_id\":\"%s\",\"thread\":%u,\"pid\":%d,\"tid\":%d,\"from\":%" PRIu64
		",\"to\":%" PRIu64 ",\"ns_per_px\":%" PRIu64
		",\"source\":\"%s\",\"index\":\"%s\",\"chunks_read\":%zu,"
		"\"max_depth\":%u,\"calls\":[",
		run->id, r->thread, t->pid, t->tid, r->from, r->to, r->ns_per_px,
		r->summary ? "summary" : "events", r->stored ? "stored" : "built", r->chunks_read,
		r->max_depth);
	for (size_t i = 0; i < r->n_calls; i++) {
		const struct ctr_tli_call *c = &r->calls[i];

		fprintf(out, "%s[%" PRIu64 ",%" PRIu64 ",%u,%u,%" PRIu64 ",%d", i ? "," : "",
			c->start, c->dur, c->depth, c->fid, c->self, c->cut);
		if (c->attrs) {
			fputc(',', out);
			json_dumpf(c->attrs, out,
				   JSON_COMPACT | JSON_ESCAPE_SLASH | JSON_SORT_KEYS);
		}
		fputc(']', out);
	}
	fputs("],\"busy\":[", out);
	for (size_t i = 0; i < r->n_busy; i++) {
		const struct ctr_tli_busy *b = &r->busy[i];

		fprintf(out, "%s[%" PRIu64 ",%" PRIu64 ",%u,%" PRIu64 ",%lld]", i ? "," : "",
			b->start, b->end - b->start, b->depth, b->count,
			b->fid == CTR_NONE ? -1LL : (long long)b->fid);
	}
	fputs("],\"marks\":[", out);
	for (size_t i = 0; i < r->n_marks; i++)
		fprintf(out, "%s[%" PRIu64 ",%u,%u]", i ? "," : "", r->marks[i].t, r->marks[i].fid,
			r->marks[i].count);
	fputc(']', out);
	if (ctr_report_has_sched(run)) { /* --sched: [start, dur, count, preempted] */
		fputs(",\"offcpu\":[", out);
		for (size_t i = 0; i < r->n_gaps; i++)
			fprintf(out, "%s[%" PRIu64 ",%" PRIu64 ",%u,%d]", i ? "," : "",
				r->gaps[i].start, r->gaps[i].end - r->gaps[i].start,
				r->gaps[i].count, r->gaps[i].preempted);
		fputc(']', out);
	}
	fputc('}', out);
	if (ferror(out))
		return ctr_err_set(e, CTR_EIO, errno, "cannot write the timeline: %s",
				   strerror(errno));
	return 0;
}

/* ---- the stored form (docs/serve.md, "The stored index") ---- */

/* "CTLI", format version, the build constants the layout depends on, the payload's size
 * uncompressed; then the payload, zstd-compressed: little-endian fixed-width fields. */
#define TLI_MAGIC 0x494c5443u /* "CTLI" */
#define TLI_VERSION 1u
#define TLI_HDR 24

struct tli_buf {
	unsigned char *p;
	size_t n, cap;
	int fail;
};

static void put(struct tli_buf *b, const void *v, size_t n)
{
	if (b->fail || ctr_grow((void **)&b->p, &b->cap, b->n + n, 1)) {
		b->fail = 1;
		return;
	}
	memcpy(b->p + b->n, v, n);
	b->n += n;
}

static void put32(struct tli_buf *b, uint32_t v)
{
	unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
			      (unsigned char)(v >> 24)};

	put(b, x, 4);
}

static void put64(struct tli_buf *b, uint64_t v)
{
	put32(b, (uint32_t)v);
	put32(b, (uint32_t)(v >> 32));
}

/* A level's calls: level 0 with each call's attributes as JSON text, the coarser ones (@up)
 * with a flag only (their attributes are level 0's, found again on load). */
static void put_levels(struct tli_buf *b, const struct tli_level *lv, uint32_t nlv, int up)
{
	put32(b, nlv);
	for (uint32_t d = 0; d < nlv; d++) {
		put64(b, lv[d].nc);
		for (size_t i = 0; i < lv[d].nc; i++) {
			const struct ctr_tli_call *c = &lv[d].calls[i];
			char *a = c->attrs && !up ? json_dumps(c->attrs, JSON_COMPACT) : NULL;
			uint32_t len = a ? (uint32_t)strlen(a) : (up && c->attrs);

			put64(b, c->start);
			put64(b, c->dur);
			put64(b, c->self);
			put32(b, c->fid);
			put32(b, (uint32_t)c->cut);
			if (c->attrs && !up && !a)
				b->fail = 1;
			put32(b, len);
			if (a)
				put(b, a, len);
			free(a);
		}
		put64(b, lv[d].nb);
		for (size_t i = 0; i < lv[d].nb; i++) {
			const struct ctr_tli_busy *x = &lv[d].busy[i];

			put64(b, x->start);
			put64(b, x->end);
			put64(b, x->count);
			put32(b, x->fid);
		}
	}
}

static void put_thread(struct tli_buf *b, const struct tli_thread *t)
{
	put64(b, t->base);
	put64(b, t->start);
	put64(b, t->end);
	put_levels(b, t->lv, t->nlv, 0);
	for (int k = 0; k < TLI_UP; k++) {
		put64(b, t->up[k].base);
		put_levels(b, t->up[k].lv, t->up[k].nlv, 1);
	}
	put64(b, t->nsnap);
	for (size_t i = 0; i < t->nsnap; i++) {
		put64(b, t->snaps[i].first_ns);
		put32(b, t->snaps[i].depth);
		put64(b, t->snaps[i].off);
	}
	put64(b, t->npool);
	for (size_t i = 0; i < t->npool; i++) {
		put64(b, t->pool[i].start);
		put64(b, t->pool[i].child);
		put32(b, t->pool[i].fid);
	}
	put64(b, t->nm);
	for (size_t i = 0; i < t->nm; i++) {
		put64(b, t->marks[i].t);
		put32(b, t->marks[i].fid);
		put32(b, t->marks[i].count);
	}
	put64(b, t->ng);
	for (size_t i = 0; i < t->ng; i++) {
		put64(b, t->gaps[i].start);
		put64(b, t->gaps[i].end);
		put32(b, t->gaps[i].count);
		put32(b, (uint32_t)t->gaps[i].preempted);
		put64(b, t->gaps[i].longest);
	}
}

int ctr_tlindex_save(const struct ctr_tlindex *x, unsigned char **out, size_t *size,
		     struct ctr_err *e)
{
	struct tli_buf b = {0}, h = {0};
	size_t bound, z;
	int ret = 0;

	*out = NULL;
	*size = 0;
	put32(&b, (uint32_t)x->n);
	for (size_t i = 0; i < x->n; i++)
		put_thread(&b, &x->th[i]);
	put32(&h, TLI_MAGIC);
	put32(&h, TLI_VERSION);
	put32(&h, CTR_TLI_BINS);
	put32(&h, (uint32_t)TLI_UP << 16 | TLI_UP_FACTOR);
	put64(&h, b.n);
	bound = ZSTD_compressBound(b.n);
	if (b.fail || h.fail || ctr_grow((void **)&h.p, &h.cap, TLI_HDR + bound, 1)) {
		ret = nomem(e);
		goto out;
	}
	z = ZSTD_compress(h.p + TLI_HDR, bound, b.p, b.n, 3);
	if (ZSTD_isError(z)) {
		ret = ctr_err_set(e, CTR_ENOMEM, 0, "cannot compress the timeline index: %s",
				  ZSTD_getErrorName(z));
		goto out;
	}
	*out = h.p;
	*size = TLI_HDR + z;
	h.p = NULL;
out:
	free(b.p);
	free(h.p);
	return ret;
}

/* Reading the payload: every count checked against what is left before it is used. */
struct tli_rd {
	const unsigned char *p;
	size_t n, at;
	int bad;
};

static uint32_t get32(struct tli_rd *r)
{
	const unsigned char *q = r->p + r->at;

	if (r->bad || r->n - r->at < 4) {
		r->bad = 1;
		return 0;
	}
	r->at += 4;
	return (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
}

static uint64_t get64(struct tli_rd *r)
{
	uint64_t lo = get32(r);

	return lo | (uint64_t)get32(r) << 32;
}

/* A count of records of at least @rec bytes each: 0 (and bad) when they cannot all be there. */
static size_t get_count(struct tli_rd *r, size_t rec)
{
	uint64_t n = get64(r);

	if (r->bad || n > (r->n - r->at) / rec) {
		r->bad = 1;
		return 0;
	}
	return (size_t)n;
}

/* The level-0 call an up-level call copies (same depth, start and function), for its attrs. */
static json_t *base_attrs(const struct tli_thread *t, uint32_t d, const struct ctr_tli_call *c)
{
	const struct tli_level *l;
	size_t lo = 0, hi;

	if (d >= t->nlv)
		return NULL;
	l = &t->lv[d];
	hi = l->nc;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->calls[mid].start < c->start)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < l->nc && l->calls[lo].start == c->start; lo++)
		if (l->calls[lo].fid == c->fid && l->calls[lo].dur == c->dur)
			return l->calls[lo].attrs;
	return NULL;
}

static int get_levels(struct tli_rd *r, const struct ctr_run *run, struct tli_thread *t,
		      struct tli_level **out, uint32_t *nout, int up)
{
	uint32_t nlv = get32(r);

	if (r->bad || nlv > (r->n - r->at) / 16 || !(*out = calloc(nlv ? nlv : 1, sizeof(**out))))
		return r->bad || nlv > (r->n - r->at) / 16 ? -1 : -2;
	*nout = nlv;
	for (uint32_t d = 0; d < nlv && !r->bad; d++) {
		struct tli_level *l = &(*out)[d];

		l->nc = l->cc = get_count(r, 36);
		if (l->nc && !(l->calls = calloc(l->nc, sizeof(*l->calls))))
			return -2;
		for (size_t i = 0; i < l->nc && !r->bad; i++) {
			struct ctr_tli_call *c = &l->calls[i];
			uint32_t len;

			c->start = get64(r);
			c->dur = get64(r);
			c->self = get64(r);
			c->depth = d;
			c->fid = get32(r);
			c->cut = (int)get32(r);
			len = get32(r);
			if (c->fid >= run->n_functions || (i && c->start < l->calls[i - 1].start))
				r->bad = 1;
			if (up) {
				c->attrs = len ? base_attrs(t, d, c) : NULL;
			} else if (len && !r->bad) {
				if (len > r->n - r->at) {
					r->bad = 1;
					break;
				}
				c->attrs = json_loadb((const char *)r->p + r->at, len, 0, NULL);
				r->at += len;
				if (!c->attrs || !json_is_object(c->attrs))
					r->bad = 1;
			}
		}
		l->nb = l->cb = get_count(r, 28);
		if (l->nb && !(l->busy = calloc(l->nb, sizeof(*l->busy))))
			return -2;
		for (size_t i = 0; i < l->nb && !r->bad; i++) {
			struct ctr_tli_busy *b = &l->busy[i];

			b->start = get64(r);
			b->end = get64(r);
			b->count = get64(r);
			b->depth = d;
			b->fid = get32(r);
			if (b->end < b->start || (b->fid != CTR_NONE && b->fid >= run->n_functions))
				r->bad = 1;
		}
	}
	return r->bad ? -1 : 0;
}

/* One thread; -1 on a malformed payload, -2 out of memory. */
static int get_thread(struct tli_rd *r, const struct ctr_run *run, uint32_t th,
		      struct tli_thread *t)
{
	size_t chunks = 0;
	int ret;

	for (size_t i = 0; i < run->n_chunks; i++)
		chunks += run->chunks[i].thread == th;
	t->base = get64(r);
	t->start = get64(r);
	t->end = get64(r);
	if ((ret = get_levels(r, run, t, &t->lv, &t->nlv, 0)))
		return ret;
	for (int k = 0; k < TLI_UP; k++) {
		t->up[k].base = get64(r);
		if ((ret = get_levels(r, run, t, &t->up[k].lv, &t->up[k].nlv, 1)))
			return ret;
	}
	t->nsnap = t->csnap = get_count(r, 20);
	if (t->nsnap > chunks || (t->nsnap && !(t->snaps = calloc(t->nsnap, sizeof(*t->snaps)))))
		return r->bad || t->nsnap > chunks ? -1 : -2;
	for (size_t i = 0; i < t->nsnap; i++) {
		t->snaps[i].first_ns = get64(r);
		t->snaps[i].depth = get32(r);
		t->snaps[i].off = get64(r);
	}
	t->npool = t->cpool = get_count(r, 20);
	if (t->npool && !(t->pool = calloc(t->npool, sizeof(*t->pool))))
		return -2;
	for (size_t i = 0; i < t->npool; i++) {
		t->pool[i].start = get64(r);
		t->pool[i].child = get64(r);
		t->pool[i].fid = get32(r);
		if (t->pool[i].fid >= run->n_functions)
			r->bad = 1;
	}
	for (size_t i = 0; i < t->nsnap; i++)
		if (t->snaps[i].off > t->npool || t->snaps[i].depth > t->npool - t->snaps[i].off)
			r->bad = 1;
	t->nm = t->cm = get_count(r, 16);
	if (t->nm && !(t->marks = calloc(t->nm, sizeof(*t->marks))))
		return -2;
	for (size_t i = 0; i < t->nm; i++) {
		t->marks[i].t = get64(r);
		t->marks[i].fid = get32(r);
		t->marks[i].count = get32(r);
		if (t->marks[i].fid >= run->n_functions)
			r->bad = 1;
	}
	t->ng = t->cg = get_count(r, 32);
	if (t->ng && !(t->gaps = calloc(t->ng, sizeof(*t->gaps))))
		return -2;
	for (size_t i = 0; i < t->ng; i++) {
		t->gaps[i].start = get64(r);
		t->gaps[i].end = get64(r);
		t->gaps[i].count = get32(r);
		t->gaps[i].preempted = (int)get32(r);
		t->gaps[i].longest = get64(r);
	}
	return r->bad ? -1 : 0;
}

int ctr_tlindex_load(struct ctr_tlindex **out, const struct ctr_run *run, ctr_tl_fetch fetch,
		     void *arg, const unsigned char *data, size_t size, struct ctr_err *e)
{
	struct tli_rd h = {data, size, 0, 0}, r = {0};
	struct ctr_tlindex *x = NULL;
	unsigned char *raw = NULL;
	uint64_t raw_size;
	int ret = 0, bad = 0;

	*out = NULL;
	if (get32(&h) != TLI_MAGIC || get32(&h) != TLI_VERSION || get32(&h) != CTR_TLI_BINS ||
	    get32(&h) != ((uint32_t)TLI_UP << 16 | TLI_UP_FACTOR) || h.bad)
		return ctr_err_set(e, CTR_EFORMAT, 0,
				   "stored timeline index of run '%s': not this version's",
				   run->id);
	raw_size = get64(&h);
	/* the frame must say the same size, and no more than zstd's best ratio allows */
	if (h.bad || raw_size != ZSTD_getFrameContentSize(data + TLI_HDR, size - TLI_HDR) ||
	    raw_size / 8192 > size)
		goto bad;
	if (!(raw = malloc(raw_size ? raw_size : 1)))
		return nomem(e);
	if (ZSTD_decompress(raw, raw_size, data + TLI_HDR, size - TLI_HDR) != raw_size)
		goto bad;
	r = (struct tli_rd){raw, raw_size, 0, 0};
	if (get32(&r) != run->n_threads || r.bad)
		goto bad;
	if (!(x = calloc(1, sizeof(*x))) ||
	    !(x->th = calloc(run->n_threads ? run->n_threads : 1, sizeof(*x->th)))) {
		free(x);
		free(raw);
		return nomem(e);
	}
	x->run = run;
	x->fetch = fetch;
	x->fetch_arg = arg;
	x->n = run->n_threads;
	x->bytes = sizeof(*x) + x->n * sizeof(*x->th);
	for (size_t i = 0; !bad && i < x->n; i++) {
		struct tli_thread *t = &x->th[i];

		bad = get_thread(&r, run, (uint32_t)i, t);
		x->bytes += t->cpool * sizeof(*t->pool) + t->csnap * sizeof(*t->snaps) +
			    t->cm * sizeof(*t->marks) + t->cg * sizeof(*t->gaps) +
			    levels_bytes(t->lv, t->nlv);
		for (int k = 0; k < TLI_UP; k++)
			x->bytes += levels_bytes(t->up[k].lv, t->up[k].nlv);
	}
	free(raw);
	raw = NULL;
	if (bad == -2) {
		ctr_tlindex_free(x);
		return nomem(e);
	}
	if (bad || r.at != r.n)
		goto bad;
	x->stored = 1;
	*out = x;
	return ret;
bad:
	free(raw);
	ctr_tlindex_free(x);
	return ctr_err_set(e, CTR_EFORMAT, 0, "stored timeline index of run '%s' is corrupt",
			   run->id);
}

/* Chunks for ctr_tlindex_store(): straight from the store (one thread builds). */
struct tli_store_fetch {
	struct ctr_store *s;
	const char *id;
};

static int store_fetch(void *arg, const struct ctr_chunk *c, unsigned char **data, size_t *size,
		       struct ctr_err *e)
{
	struct tli_store_fetch *f = arg;
	struct ctr_chunk got = *c;
	int ret = ctr_store_load_chunk(f->s, f->id, c->thread, c->seq, &got, e);

	*data = got.data;
	*size = got.size;
	return ret;
}

int ctr_tlindex_store(struct ctr_store *s, const char *id, size_t *bytes, struct ctr_err *e)
{
	struct tli_store_fetch f = {s, id};
	struct ctr_tlindex *x = NULL;
	struct ctr_run *run = NULL;
	unsigned char *buf = NULL;
	size_t n = 0;
	int ret;

	if (bytes)
		*bytes = 0;
	ret = ctr_store_load(s, id, CTR_LOAD_TIMELINE | CTR_LOAD_CHUNK_INDEX, &run, e);
	if (!ret)
		ret = ctr_tlindex_build_fetch(&x, run, store_fetch, &f, e);
	if (!ret)
		ret = ctr_tlindex_save(x, &buf, &n, e);
	if (!ret)
		ret = ctr_store_save_aux(s, id, "tlindex", buf, n, e);
	if (!ret && bytes)
		*bytes = n;
	free(buf);
	ctr_tlindex_free(x);
	ctr_run_free(run);
	return ret;
}
