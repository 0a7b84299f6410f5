/* SPDX-License-Identifier: MIT */
/*
 * Call-by-call views over the stored timeline (calls.h): --slowest and replay. Both walk each
 * thread's events with a stack of open calls; replay prints a call's opening line only once it
 * knows the call is shown and has a shown child (a pending line per open call), so a leaf comes
 * out as one "name();" line and --min-duration needs no look-ahead beyond the stack.
 */
#include "calls.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/grow.h"
#include "../../store/timeline.h"
#include "cxxname.h"

#define NAME_BUF 1024

struct thread_key {
	const struct ctr_run *run;
	uint64_t *proc_start; /* per thread: the earliest start of its process's threads */
};

static int cmp_thread(const void *a, const void *b, void *arg)
{
	const struct thread_key *k = arg;
	uint32_t ia = *(const uint32_t *)a, ib = *(const uint32_t *)b;
	const struct ctr_thread *x = &k->run->threads[ia], *y = &k->run->threads[ib];

	if (k->proc_start[ia] != k->proc_start[ib])
		return k->proc_start[ia] < k->proc_start[ib] ? -1 : 1;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if ((x->tid == x->pid) != (y->tid == y->pid))
		return x->tid == x->pid ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return ia < ib ? -1 : ia > ib; /* one pid's exec'd images in stored order */
}

static int cmp_by_pid(const void *a, const void *b, void *arg)
{
	const struct ctr_run *run = arg;
	int32_t x = run->threads[*(const uint32_t *)a].pid,
		y = run->threads[*(const uint32_t *)b].pid;

	return x < y ? -1 : x > y;
}

void ctr_report_thread_order(const struct ctr_run *run, uint32_t *order)
{
	struct thread_key k = {run, malloc((run->n_threads + 1) * sizeof(uint64_t))};
	size_t n = run->n_threads;

	for (size_t i = 0; i < n; i++)
		order[i] = (uint32_t)i;
	if (n < 2 || !k.proc_start) {
		free(k.proc_start);
		return; /* out of memory: stored order, which is pid then tid */
	}
	qsort_r(order, n, sizeof(*order), cmp_by_pid, (void *)run);
	for (size_t g = 0, h; g < n; g = h) {
		uint64_t first = UINT64_MAX;

		for (h = g; h < n && run->threads[order[h]].pid == run->threads[order[g]].pid; h++)
			if (run->threads[order[h]].start_ns < first)
				first = run->threads[order[h]].start_ns;
		for (size_t t = g; t < h; t++)
			k.proc_start[order[t]] = first;
	}
	qsort_r(order, n, sizeof(*order), cmp_thread, &k);
	free(k.proc_start);
}

static int iter_open(const struct ctr_calls_src *src, uint32_t thread, struct ctr_tl_iter **it,
		     struct ctr_err *e)
{
	if (src->store)
		return ctr_tl_iter_open_store(it, src->store, src->run, thread, e);
	return ctr_tl_iter_open(it, src->run, thread, e);
}

/* Per function: 1 if it matches @glob. NULL when out of memory; *@any counts matches. */
static unsigned char *match_table(const struct ctr_run *run, const char *glob, size_t *any)
{
	unsigned char *m = calloc(run->n_functions + 1, 1);

	*any = 0;
	for (size_t i = 0; m && i < run->n_functions; i++)
		if (run->functions[i].kind != CTR_FN_MARK &&
		    ctr_report_name_match(run, (uint32_t)i, glob)) {
			m[i] = 1;
			(*any)++;
		}
	return m;
}

static int write_status(FILE *out, struct ctr_err *e)
{
	if (ferror(out))
		return ctr_err_set(e, CTR_EIO, errno, "cannot write the report: %s",
				   strerror(errno));
	return 0;
}

/* ---- --slowest ---------------------------------------------------------------------- */

struct slow {
	uint64_t dur, start;
	uint64_t seq; /* order seen: of equal durations the first seen ranks first */
	uint32_t thread;
	uint32_t *path; /* function ids, outermost first */
	uint32_t depth; /* entries in path */
};

/* 1 if @a ranks before @b: longer, or as long and seen first. */
static int slow_before(const struct slow *a, const struct slow *b)
{
	return a->dur != b->dur ? a->dur > b->dur : a->seq < b->seq;
}

struct open_call {
	uint32_t fid;
	uint64_t t0;
	int pending;	 /* replay: opening line not printed yet */
	int shown;	 /* replay: the call passes the filters */
	uint32_t vdepth; /* replay: displayed depth (0 = top) */
	int scope;	 /* replay: inside a --function match (this call or an ancestor) */
};

struct stack {
	struct open_call *c;
	size_t n, cap;
};

static int push(struct stack *s, struct open_call c)
{
	if (ctr_grow((void **)&s->c, &s->cap, s->n + 1, sizeof(*s->c)))
		return CTR_ENOMEM;
	s->c[s->n++] = c;
	return 0;
}

/* Moves top[i] down the heap of @k to where it belongs. */
static void slow_sift(struct slow *top, size_t k, size_t i)
{
	for (;;) {
		size_t w = i, l = 2 * i + 1, r = l + 1;
		struct slow t;

		if (l < k && slow_before(&top[w], &top[l]))
			w = l;
		if (r < k && slow_before(&top[w], &top[r]))
			w = r;
		if (w == i)
			return;
		t = top[i];
		top[i] = top[w];
		top[w] = t;
		i = w;
	}
}

/* Keeps the @n longest calls in @top, a heap of *@k whose root is the one that ranks last, so
 * each call costs O(log n) (it was an insertion into a sorted array: 14 s for -n 100000 of 243k
 * calls). ctr_report_slowest() sorts them at the end. */
static int slow_offer(struct slow *top, size_t n, size_t *k, const struct stack *st,
		      uint32_t thread, uint64_t start, uint64_t dur, uint64_t seq)
{
	struct slow s = {dur, start, seq, thread, NULL, (uint32_t)st->n};
	size_t i;

	if (*k == n && !slow_before(&s, &top[0]))
		return 0;
	if (!(s.path = malloc((st->n ? st->n : 1) * sizeof(uint32_t))))
		return CTR_ENOMEM;
	for (size_t j = 0; j < st->n; j++)
		s.path[j] = st->c[j].fid;
	if (*k == n) {
		free(top[0].path);
		top[0] = s;
		slow_sift(top, *k, 0);
		return 0;
	}
	/* not full yet: add at the end and move it up past the ones that rank before it */
	for (i = (*k)++; i > 0 && slow_before(&top[(i - 1) / 2], &s); i = (i - 1) / 2)
		top[i] = top[(i - 1) / 2];
	top[i] = s;
	return 0;
}

static int cmp_slow(const void *a, const void *b)
{
	return slow_before(a, b) ? -1 : slow_before(b, a) ? 1 : 0;
}

static int slow_thread(const struct ctr_calls_src *src, uint32_t th, const unsigned char *match,
		       struct slow *top, size_t n, size_t *k, uint64_t *seen, struct ctr_err *e)
{
	struct ctr_tl_iter *it = NULL;
	struct stack st = {0};
	struct ctr_event ev;
	int ret;

	if ((ret = iter_open(src, th, &it, e)))
		return ret;
	while ((ret = ctr_tl_iter_next(it, &ev, e)) > 0) {
		if (ev.type == CTR_EV_ENTER || ev.type == CTR_EV_INHERIT) {
			if ((ret = push(
				 &st, (struct open_call){.fid = (uint32_t)ev.ref, .t0 = ev.time})))
				break;
		} else if (ev.type == CTR_EV_EXIT && !ev.unmatched && st.n) {
			struct open_call *c = &st.c[st.n - 1];

			if (c->fid < src->run->n_functions && match[c->fid]) {
				if ((ret =
					 slow_offer(top, n, k, &st, th, c->t0,
						    ev.time > c->t0 ? ev.time - c->t0 : 0, *seen)))
					break;
				(*seen)++;
			}
			st.n--;
		}
	}
	free(st.c);
	ctr_tl_iter_close(it);
	if (ret == CTR_ENOMEM)
		ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading the timeline");
	return ret < 0 ? ret : 0;
}

static void slow_print(FILE *out, const struct ctr_run *run, const struct slow *s, size_t rank)
{
	const struct ctr_thread *t = &run->threads[s->thread];
	char dur[32], start[32], lbl[NAME_BUF];

	ctr_fmt_ns(dur, sizeof(dur), s->dur);
	ctr_fmt_ns(start, sizeof(start), s->start);
	fprintf(out, "%4zu %10s %8d %10s  --from %" PRIu64 " --to %" PRIu64 "  ", rank, dur, t->tid,
		start, s->start, s->start + s->dur + 1);
	for (uint32_t i = 0; i < s->depth; i++)
		fprintf(out, "%s%s", i ? " > " : "",
			ctr_report_label(run, s->path[i], lbl, sizeof(lbl)));
	/* the command that opens the window, to paste as it is (docs/report.md) */
	fprintf(out, "\n%4s ctrace replay %s --tid %d --from %" PRIu64 " --to %" PRIu64 "\n", "",
		run->id, t->tid, s->start, s->start + s->dur + 1);
}

int ctr_report_slowest(FILE *out, const struct ctr_calls_src *src, const struct ctr_report_opts *o,
		       const char *func, size_t n, struct ctr_err *e)
{
	const struct ctr_run *run = src->run;
	struct slow *top = NULL;
	unsigned char *match = NULL;
	uint32_t *order = NULL;
	size_t any, k = 0;
	uint64_t seen = 0;
	int ret = CTR_ENOMEM;

	if (!n)
		n = 10;
	if (!(match = match_table(run, func, &any)) || !(top = calloc(n, sizeof(*top))) ||
	    !(order = calloc(run->n_threads + 1, sizeof(*order)))) {
		ctr_err_set(e, CTR_ENOMEM, 0, "out of memory finding the slowest calls");
		goto out;
	}
	if (!any) {
		ret = ctr_err_set(e, CTR_ENOTFOUND, 0, "no function matches '%s'", func);
		goto out;
	}
	ctr_report_thread_order(run, order);
	for (size_t i = 0; i < run->n_threads; i++)
		if ((ret = slow_thread(src, order[i], match, top, n, &k, &seen, e)))
			goto out;
	if (!seen) {
		ret = ctr_err_set(e, CTR_ENOTFOUND, 0,
				  "no call of '%s' in the stored timeline of run '%s'", func,
				  run->id);
		goto out;
	}
	if ((ret = ctr_report_header(out, run, o, e)))
		goto out;
	qsort(top, k, sizeof(*top), cmp_slow);
	fprintf(out, "\nslowest %zu of %" PRIu64 " calls of '%s' (measured times)\n\n", k, seen,
		func);
	fprintf(out, "%4s %10s %8s %10s  %-36s  %s\n", "#", "duration", "tid", "start", "window",
		"call path");
	for (size_t i = 0; i < k; i++)
		slow_print(out, run, &top[i], i + 1);
	ret = write_status(out, e);
out:
	for (size_t i = 0; top && i < k; i++)
		free(top[i].path);
	free(top);
	free(match);
	free(order);
	return ret;
}

/* ---- replay ------------------------------------------------------------------------- */

struct replay {
	FILE *out;
	const struct ctr_run *run;
	const struct ctr_replay_opts *ro;
	const unsigned char *match; /* NULL: no --function */
	int32_t tid;
	struct stack st;
};

/* Levels drawn with indentation; a deeper line says its depth instead ("[depth N] "), as
 * ctrace-report --tree does, so that the trace of a 100k-deep recursion grows with its calls,
 * not with their depth squared. */
#define RP_INDENT_MAX 64

static void rp_line(struct replay *r, uint64_t t, const char *dur, uint32_t vdepth, const char *a,
		    const char *b)
{
	if (vdepth > RP_INDENT_MAX)
		fprintf(r->out, "%14" PRIu64 " %10s %8d | %*s[depth %" PRIu32 "] %s%s\n", t, dur,
			r->tid, 2 * RP_INDENT_MAX, "", vdepth, a, b);
	else
		fprintf(r->out, "%14" PRIu64 " %10s %8d | %*s%s%s\n", t, dur, r->tid,
			(int)(2 * vdepth), "", a, b);
}

/* "()" after a name that has no parameter list of its own (a --full-names C++ name has). */
static const char *parens(const struct ctr_run *run, uint32_t fid)
{
	return strchr(ctr_cxx_display(run, fid), '(') ? "" : "()";
}

/* Prints the pending opening lines of the shown open calls, outermost first. */
static void rp_flush(struct replay *r)
{
	char lbl[NAME_BUF], txt[NAME_BUF + 8];

	for (size_t i = 0; i < r->st.n; i++) {
		struct open_call *c = &r->st.c[i];

		if (!c->shown || !c->pending)
			continue;
		c->pending = 0;
		snprintf(txt, sizeof(txt), "%s%s {",
			 ctr_report_label(r->run, c->fid, lbl, sizeof(lbl)),
			 parens(r->run, c->fid));
		rp_line(r, c->t0, "", c->vdepth, txt, "");
	}
}

static int rp_enter(struct replay *r, uint32_t fid, uint64_t t)
{
	const struct open_call *parent = r->st.n ? &r->st.c[r->st.n - 1] : NULL;
	struct open_call c = {.fid = fid, .t0 = t, .pending = 1};
	int scope =
	    !r->match || (parent && parent->scope) || (fid < r->run->n_functions && r->match[fid]);
	/* displayed depth: from the outermost --function match, else from the top */
	uint32_t vd = 0;

	if (parent && (!r->match || parent->scope))
		vd = parent->vdepth + 1;
	c.scope = scope;
	c.vdepth = vd;
	c.shown = scope && (!r->ro->depth || vd < r->ro->depth) && t >= r->ro->from_ns &&
		  (!r->ro->to_ns || t < r->ro->to_ns);
	return push(&r->st, c);
}

static void rp_exit(struct replay *r, uint64_t t)
{
	struct open_call *c = &r->st.c[r->st.n - 1];
	uint64_t d = t > c->t0 ? t - c->t0 : 0;
	char dur[32], lbl[NAME_BUF], close[NAME_BUF + 16];

	if (c->shown && (!c->pending || d >= r->ro->min_duration_ns)) {
		ctr_fmt_ns(dur, sizeof(dur), d);
		if (c->pending) {
			r->st.n--; /* ancestors' lines first, not this one's */
			rp_flush(r);
			r->st.n++;
			rp_line(r, c->t0, dur, c->vdepth,
				ctr_report_label(r->run, c->fid, lbl, sizeof(lbl)),
				*parens(r->run, c->fid) ? "();" : ";");
		} else {
			snprintf(close, sizeof(close), "} /* %s */",
				 ctr_report_label(r->run, c->fid, lbl, sizeof(lbl)));
			rp_line(r, t, dur, c->vdepth, close, "");
		}
	}
	r->st.n--;
}

static int rp_event(struct replay *r, const struct ctr_event *ev)
{
	char txt[NAME_BUF + 32];
	const struct open_call *top = r->st.n ? &r->st.c[r->st.n - 1] : NULL;

	switch (ev->type) {
	case CTR_EV_ENTER:
	case CTR_EV_INHERIT:
		return rp_enter(r, (uint32_t)ev->ref, ev->time);
	case CTR_EV_EXIT:
		if (!ev->unmatched && r->st.n)
			rp_exit(r, ev->time);
		return 0;
	case CTR_EV_MARK:
		if ((top && !top->shown) || (!top && r->match) || r->ro->min_duration_ns ||
		    ev->time < r->ro->from_ns || (r->ro->to_ns && ev->time >= r->ro->to_ns))
			return 0;
		rp_flush(r);
		snprintf(txt, sizeof(txt), "/* mark: %s */",
			 ctr_cxx_display(r->run, (uint32_t)ev->ref));
		rp_line(r, ev->time, "", top ? top->vdepth + 1 : 0, txt, "");
		return 0;
	case CTR_EV_LOST:
		if ((top && !top->shown) || (!top && r->match) || ev->time < r->ro->from_ns ||
		    (r->ro->to_ns && ev->time >= r->ro->to_ns))
			return 0;
		snprintf(txt, sizeof(txt), "/* %" PRIu64 " events lost */", ev->count);
		rp_flush(r);
		rp_line(r, ev->time, "", top ? top->vdepth + 1 : 0, txt, "");
		return 0;
	default:
		return 0;
	}
}

/* Calls still open when a thread's timeline ends (commit closes them, so only a timeline cut
 * short has any): closed here, innermost first, marked as such. */
static void rp_open_at_end(struct replay *r, uint64_t t)
{
	char lbl[NAME_BUF], txt[NAME_BUF + 64], dur[32];

	while (r->st.n) {
		struct open_call *c = &r->st.c[r->st.n - 1];
		uint64_t d = t > c->t0 ? t - c->t0 : 0;

		ctr_report_label(r->run, c->fid, lbl, sizeof(lbl));
		ctr_fmt_ns(dur, sizeof(dur), d);
		if (c->shown && !c->pending) {
			snprintf(txt, sizeof(txt), "} /* %s, open at the end */", lbl);
			rp_line(r, t, dur, c->vdepth, txt, "");
		} else if (c->shown && d >= r->ro->min_duration_ns) {
			r->st.n--;
			rp_flush(r);
			r->st.n++;
			snprintf(txt, sizeof(txt), "%s%s; /* open at the end */", lbl,
				 parens(r->run, c->fid));
			rp_line(r, c->t0, dur, c->vdepth, txt, "");
		}
		r->st.n--;
	}
}

static int rp_thread(struct replay *r, const struct ctr_calls_src *src, uint32_t th,
		     struct ctr_err *e)
{
	const struct ctr_thread *t = &r->run->threads[th];
	struct ctr_tl_iter *it = NULL;
	struct ctr_event ev;
	uint64_t last = 0;
	int ret;

	r->tid = t->tid;
	r->st.n = 0;
	fprintf(r->out, "# thread %d '%s' (pid %d)\n", t->tid, t->name ? t->name : "", t->pid);
	if ((ret = iter_open(src, th, &it, e)))
		return ret;
	while ((ret = ctr_tl_iter_next(it, &ev, e)) > 0) {
		last = ev.time;
		if ((ret = rp_event(r, &ev)))
			break;
	}
	if (!ret)
		rp_open_at_end(r, t->end_ns > last ? t->end_ns : last);
	ctr_tl_iter_close(it);
	if (ret == CTR_ENOMEM)
		ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading the timeline");
	return ret < 0 ? ret : 0;
}

int ctr_replay(FILE *out, const struct ctr_calls_src *src, const struct ctr_replay_opts *ro,
	       struct ctr_err *e)
{
	const struct ctr_run *run = src->run;
	struct replay r = {.out = out, .run = run, .ro = ro};
	unsigned char *match = NULL;
	uint32_t *order = calloc(run->n_threads + 1, sizeof(*order));
	size_t any = 0, shown = 0;
	int ret = 0;

	if (!order || (ro->function && !(match = match_table(run, ro->function, &any)))) {
		ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory replaying run '%s'", run->id);
		goto out;
	}
	if (ro->function && !any) {
		ret = ctr_err_set(e, CTR_ENOTFOUND, 0, "no function matches '%s'", ro->function);
		goto out;
	}
	r.match = match;
	ctr_report_thread_order(run, order);
	for (size_t i = 0; i < run->n_threads; i++)
		shown += !ro->tid || run->threads[order[i]].tid == ro->tid;
	if (!shown) {
		ret = ctr_err_set(e, CTR_ENOTFOUND, 0, "no thread %d in run '%s'", (int)ro->tid,
				  run->id);
		goto out;
	}
	fprintf(out, "# %12s %10s %8s   %s\n", "START(ns)", "DURATION", "TID", "FUNCTION");
	for (size_t i = 0; i < run->n_threads && !ret; i++)
		if (!ro->tid || run->threads[order[i]].tid == ro->tid)
			ret = rp_thread(&r, src, order[i], e);
	if (!ret)
		ret = write_status(out, e);
out:
	free(r.st.c);
	free(match);
	free(order);
	return ret;
}
