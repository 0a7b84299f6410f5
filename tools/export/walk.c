/* SPDX-License-Identifier: MIT */
/*
 * The bounded timeline walker shared by the timeline formats (Chrome, OTLP, HTML): turns each
 * thread's stored event stream into finished calls inside a time window, children before parents,
 * keeping every ancestor of an emitted call so nesting stays whole.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/hash.h"
#include "../../common/hist.h"
#include "../../store/runjson.h"
#include "../../store/timeline.h"
#include "../view/report.h"
#include "export-int.h"

void ctr_tl_walk_init(struct tl_walk *w, const struct ctr_run *run, const struct ctr_export_opts *o,
		      int64_t def_min, int64_t def_limit)
{
	memset(w, 0, sizeof(*w));
	w->run = run;
	w->from = o->from_ns;
	w->to = o->to_ns ? o->to_ns : UINT64_MAX;
	w->min_dur = (uint64_t)(o->min_duration_ns >= 0 ? o->min_duration_ns : def_min);
	w->limit = (uint64_t)(o->max_events >= 0 ? o->max_events : def_limit);
	w->fetch = o->fetch;
	w->fetch_arg = o->fetch_arg;
}

static void frame_clear(struct tl_frame *f)
{
	json_decref(f->attrs);
	json_decref(f->marks);
	f->attrs = f->marks = NULL;
}

/* Pops the top frame at @end and emits it if it passes. */
static int walk_pop(struct tl_walk *w, uint32_t th, struct tl_frame *stack, uint32_t *sp,
		    uint64_t end, int unfinished, uint64_t *emitted, uint64_t share,
		    struct ctr_err *e)
{
	struct tl_frame *f = &stack[--*sp];
	struct tl_frame *parent = *sp ? &stack[*sp - 1] : NULL;
	int keep = 0, ret = 0;

	f->end = end;
	f->unfinished = unfinished;
	if (f->kept_child)
		keep = 1;
	else if (f->end < w->from || f->start >= w->to || (f->end == w->from && f->end > f->start))
		w->st.outside++;
	else if (f->end - f->start < w->min_dur &&
		 !(f->fid < w->run->n_functions && w->run->functions[f->fid].kind == CTR_FN_SPAN))
		w->st.short_calls++; /* manual spans are kept whatever their length */
	else if ((share && *emitted >= share) || (w->fit && w->st.calls >= w->limit))
		w->st.over_limit++;
	else
		keep = 1;
	if (keep) {
		if (f->start < w->from)
			f->start = w->from;
		if (f->end > w->to)
			f->end = w->to;
		(*emitted)++;
		w->st.calls++;
		if (unfinished)
			w->st.unfinished++;
		if (parent)
			parent->kept_child = 1;
		ret = w->on_call(w, th, f, parent, e);
	}
	frame_clear(f);
	return ret;
}

static int walk_thread(struct tl_walk *w, uint32_t th, uint64_t share, struct ctr_err *e)
{
	struct ctr_tl_iter *it = NULL;
	struct tl_frame *stack = NULL;
	uint32_t sp = 0, cap = 0;
	uint64_t seq = 0, emitted = 0, now = 0;
	struct ctr_event ev;
	int ret, r;

	ret = ctr_tl_iter_open(&it, w->run, th, e);
	if (ret)
		return ret;
	if (w->fetch) /* one chunk held at a time */
		ctr_tl_iter_set_fetch(it, w->fetch, w->fetch_arg);
	while ((r = ctr_tl_iter_next(it, &ev, e)) > 0) {
		now = ev.time;
		if (now > w->to && w->to != UINT64_MAX) {
			/* Past the window: close what is open at its end and stop reading. */
			while (sp && !ret)
				ret = walk_pop(w, th, stack, &sp, w->to, 0, &emitted, share, e);
			goto out;
		}
		switch (ev.type) {
		case CTR_EV_ENTER:
		case CTR_EV_INHERIT:
			if (sp == cap) {
				uint32_t ncap = cap ? cap * 2 : 64;
				struct tl_frame *ns = realloc(stack, ncap * sizeof(*ns));

				if (!ns) {
					ret = ctr_err_set(e, CTR_ENOMEM, ENOMEM,
							  "out of memory reading the timeline");
					goto out;
				}
				stack = ns;
				cap = ncap;
			}
			stack[sp] = (struct tl_frame){
			    .fid = (uint32_t)ev.ref, .start = now, .seq = seq++, .depth = sp};
			sp++;
			break;
		case CTR_EV_EXIT:
			if (!sp)
				break; /* unmatched exit: nothing was open */
			ret = walk_pop(w, th, stack, &sp, now, 0, &emitted, share, e);
			break;
		case CTR_EV_MARK:
			if (now < w->from) {
				w->st.outside++;
				break;
			}
			if (share && emitted >= share) {
				w->st.over_limit++;
				break;
			}
			w->st.marks++;
			if (w->on_mark)
				ret = w->on_mark(w, th, now, (uint32_t)ev.ref,
						 sp ? &stack[sp - 1] : NULL, e);
			break;
		case CTR_EV_ATTR_STR:
		case CTR_EV_ATTR_INT:
			if (!sp)
				break;
			if (!stack[sp - 1].attrs)
				stack[sp - 1].attrs = json_object();
			if (stack[sp - 1].attrs) {
				char key[CTR_STR_MAX + 1], val[CTR_STR_MAX + 1];
				json_t *k, *v;

				snprintf(key, sizeof(key), "%.*s", (int)ev.len, ev.str);
				snprintf(val, sizeof(val), "%.*s", (int)ev.len2, ev.str2);
				k = ctr_json_str(key);
				v = ev.type == CTR_EV_ATTR_INT ? json_integer(ev.ival)
							       : ctr_json_str(val);
				if (k && v)
					json_object_set_new(stack[sp - 1].attrs,
							    json_string_value(k), v);
				else
					json_decref(v);
				json_decref(k);
			}
			break;
		case CTR_EV_LOST:
			if (w->on_lost && now >= w->from)
				ret = w->on_lost(w, th, now, ev.count, e);
			break;
		case CTR_EV_OFFCPU:
			if (w->on_offcpu && now >= w->from && now < w->to)
				ret = w->on_offcpu(w, th, now, ev.count, ev.ref == 2, e);
			break;
		default:
			break;
		}
		if (ret)
			goto out;
	}
	if (r < 0) {
		ret = r;
		goto out;
	}
	{
		/* Still open at the end (crash, exit without return): close at the thread end. */
		uint64_t end = w->run->threads[th].end_ns > now ? w->run->threads[th].end_ns : now;

		while (sp && !ret)
			ret = walk_pop(w, th, stack, &sp, end, 1, &emitted, share, e);
	}
out:
	while (sp)
		frame_clear(&stack[--sp]);
	free(stack);
	ctr_tl_iter_close(it);
	return ret;
}

int ctr_tl_walk(struct tl_walk *w, struct ctr_err *e)
{
	uint64_t share = 0;
	int ret = 0;

	if (w->limit && w->run->n_threads && !w->fit)
		share = w->limit / w->run->n_threads ? w->limit / w->run->n_threads : 1;
	for (size_t th = 0; !ret && th < w->run->n_threads; th++)
		ret = walk_thread(w, (uint32_t)th, share, e);
	return ret;
}

/* The counting pass of ctr_tl_walk_fit(): each call's measured duration into a bucket. */
static int count_call(struct tl_walk *w, uint32_t thread, struct tl_frame *f,
		      const struct tl_frame *parent, struct ctr_err *e)
{
	uint64_t *counts = w->arg;

	counts[ctr_hist_index(f->end - f->start)]++;
	return 0;
}

int ctr_tl_walk_fit(struct tl_walk *w, struct ctr_err *e)
{
	uint64_t *counts = calloc(CTR_HIST_BUCKETS, sizeof(*counts)), above = 0;
	struct tl_walk pass = *w;
	uint32_t i;
	int ret;

	if (!counts)
		return ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory fitting the export");
	w->fit = 1;
	w->min_dur = 0;
	/* the timeline's own (measured) durations, in the window, everything kept */
	pass.min_dur = 0;
	pass.limit = 0;
	pass.on_call = count_call;
	pass.on_mark = NULL;
	pass.on_lost = NULL;
	pass.arg = counts;
	memset(&pass.st, 0, sizeof(pass.st));
	ret = ctr_tl_walk(&pass, e);
	/* from the longest bucket down, the lowest bound whose calls at or above it still fit;
	 * all of them fitting is no cut-off */
	for (i = CTR_HIST_BUCKETS; !ret && w->limit && i-- > 0;) {
		if (!counts[i])
			continue;
		if (above + counts[i] > w->limit) {
			w->min_dur = ctr_hist_upper(i) + 1;
			break;
		}
		above += counts[i];
		w->min_dur = ctr_hist_lower(i);
	}
	if (i == UINT32_MAX || !w->limit)
		w->min_dur = 0;
	free(counts);
	return ret;
}
