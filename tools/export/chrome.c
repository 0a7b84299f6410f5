/* SPDX-License-Identifier: MIT */
/*
 * Chrome Trace Event JSON (the format Perfetto and chrome://tracing read): one complete event
 * per call, instant events for marks and lost-event ranges, streamed call by call.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/hash.h"
#include "../../store/runjson.h"
#include "../../store/timeline.h"
#include "../view/report.h"
#include "export-int.h"

struct chrome_ctx {
	FILE *out;
	int first;
};

static void chrome_sep(struct chrome_ctx *c)
{
	fputs(c->first ? "\n" : ",\n", c->out);
	c->first = 0;
}

static int chrome_call(struct tl_walk *w, uint32_t th, struct tl_frame *f,
		       const struct tl_frame *parent, struct ctr_err *e)
{
	struct chrome_ctx *c = w->arg;
	const struct ctr_thread *t = &w->run->threads[th];
	uint32_t kind = f->fid < w->run->n_functions ? w->run->functions[f->fid].kind : 0;

	chrome_sep(c);
	fputs("{\"name\":", c->out);
	ctr_export_jq(c->out, ctr_export_fn_name(w->run, f->fid));
	fprintf(c->out, ",\"cat\":\"%s\",\"ph\":\"X\",\"pid\":%d,\"tid\":%d,\"ts\":",
		ctr_runjson_kind_name(kind), t->pid, t->tid);
	ctr_export_fmt_us(c->out, f->start);
	fputs(",\"dur\":", c->out);
	ctr_export_fmt_us(c->out, f->end - f->start);
	if (f->attrs || f->unfinished) {
		json_t *args = f->attrs ? json_incref(f->attrs) : json_object();
		char *s;

		if (f->unfinished)
			json_object_set_new(args, "ctrace.unfinished", json_true());
		s = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
		json_decref(args);
		if (!s)
			return ctr_err_set(e, CTR_ENOMEM, ENOMEM,
					   "out of memory writing the export");
		fprintf(c->out, ",\"args\":%s", s);
		free(s);
	}
	fputc('}', c->out);
	return ferror(c->out) ? ctr_export_status(c->out, e) : 0;
}

static int chrome_mark(struct tl_walk *w, uint32_t th, uint64_t t, uint32_t fid,
		       struct tl_frame *top, struct ctr_err *e)
{
	struct chrome_ctx *c = w->arg;
	const struct ctr_thread *thr = &w->run->threads[th];

	chrome_sep(c);
	fputs("{\"name\":", c->out);
	ctr_export_jq(c->out, ctr_export_fn_name(w->run, fid));
	fprintf(c->out, ",\"cat\":\"mark\",\"ph\":\"i\",\"s\":\"t\",\"pid\":%d,\"tid\":%d,\"ts\":",
		thr->pid, thr->tid);
	ctr_export_fmt_us(c->out, t);
	fputc('}', c->out);
	return 0;
}

static int chrome_lost(struct tl_walk *w, uint32_t th, uint64_t t, uint64_t count,
		       struct ctr_err *e)
{
	struct chrome_ctx *c = w->arg;
	const struct ctr_thread *thr = &w->run->threads[th];

	chrome_sep(c);
	fprintf(c->out,
		"{\"name\":\"ctrace: %" PRIu64 " events lost\",\"cat\":\"ctrace\",\"ph\":\"i\","
		"\"s\":\"t\",\"pid\":%d,\"tid\":%d,\"ts\":",
		count, thr->pid, thr->tid);
	ctr_export_fmt_us(c->out, t);
	fputc('}', c->out);
	return 0;
}

/* A gap where the thread was off the CPU: a slice of its own, drawn inside the call it
 * stopped (category "offcpu"). */
static int chrome_offcpu(struct tl_walk *w, uint32_t th, uint64_t t, uint64_t dur, int preempted,
			 struct ctr_err *e)
{
	struct chrome_ctx *c = w->arg;
	const struct ctr_thread *thr = &w->run->threads[th];

	chrome_sep(c);
	fprintf(c->out,
		"{\"name\":\"off-CPU (%s)\",\"cat\":\"offcpu\",\"ph\":\"X\",\"pid\":%d,"
		"\"tid\":%d,\"ts\":",
		preempted ? "preempted" : "blocked", thr->pid, thr->tid);
	ctr_export_fmt_us(c->out, t);
	fputs(",\"dur\":", c->out);
	ctr_export_fmt_us(c->out, dur);
	fputc('}', c->out);
	return ferror(c->out) ? ctr_export_status(c->out, e) : 0;
}

static const char *proc_command(const struct ctr_run *run, int32_t pid)
{
	for (size_t i = run->n_procs; i-- > 0;)
		if (run->procs[i].pid == pid && run->procs[i].command)
			return run->procs[i].command;
	return run->command ? run->command : "";
}

int ctr_export_chrome(FILE *out, const struct ctr_run *run, const struct ctr_export_opts *o,
		      struct ctr_export_stats *st, struct ctr_err *e)
{
	struct chrome_ctx c = {out, 1};
	struct tl_walk w;
	int ret;

	ctr_tl_walk_init(&w, run, o, 0, CTR_EXPORT_CHROME_MAX_EVENTS);
	/* by default the whole run, its shortest calls left out to fit the budget */
	if (o->min_duration_ns < 0 && o->max_events < 0 && (ret = ctr_tl_walk_fit(&w, e)))
		return ret;
	w.on_call = chrome_call;
	w.on_mark = chrome_mark;
	w.on_lost = chrome_lost;
	w.on_offcpu = chrome_offcpu;
	w.arg = &c;
	fputs("{\"traceEvents\":[", out);
	for (size_t i = 0; i < run->n_threads; i++) {
		const struct ctr_thread *t = &run->threads[i];
		int seen = 0;

		for (size_t k = 0; k < i; k++)
			seen |= run->threads[k].pid == t->pid;
		if (!seen) {
			chrome_sep(&c);
			fprintf(out,
				"{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
				"\"args\":{\"name\":",
				t->pid, t->pid);
			ctr_export_jq(out, proc_command(run, t->pid));
			fputs("}}", out);
		}
		chrome_sep(&c);
		fprintf(out,
			"{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
			"\"args\":{\"name\":",
			t->pid, t->tid);
		ctr_export_jq(out, t->name && *t->name ? t->name : "thread");
		fputs("}}", out);
		chrome_sep(&c);
		fprintf(out,
			"{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
			"\"args\":{\"sort_index\":%zu}}",
			t->pid, t->tid, i);
	}
	ret = ctr_tl_walk(&w, e);
	if (ret)
		return ret;
	if (w.st.short_calls || w.st.outside || w.st.over_limit) {
		chrome_sep(&c);
		fprintf(out,
			"{\"name\":\"ctrace: export left out %" PRIu64 " calls (%" PRIu64
			" short, %" PRIu64 " outside the window, %" PRIu64 " over the limit)\","
			"\"cat\":\"ctrace\",\"ph\":\"i\",\"s\":\"g\",\"pid\":%d,\"tid\":%d,\"ts\":",
			w.st.short_calls + w.st.outside + w.st.over_limit, w.st.short_calls,
			w.st.outside, w.st.over_limit, run->n_threads ? run->threads[0].pid : 0,
			run->n_threads ? run->threads[0].tid : 0);
		ctr_export_fmt_us(out, w.from);
		fputc('}', out);
	}
	fputs("\n],\"displayTimeUnit\":\"ns\",\"otherData\":{\"ctrace_run_id\":", out);
	ctr_export_jq(out, run->id);
	fputs(",\"command\":", out);
	ctr_export_jq(out, run->command);
	fprintf(out,
		",\"calls\":%" PRIu64 ",\"marks\":%" PRIu64 ",\"left_out_short\":%" PRIu64
		",\"left_out_window\":%" PRIu64 ",\"left_out_limit\":%" PRIu64
		",\"unfinished\":%" PRIu64 ",\"min_duration_ns\":%" PRIu64
		",\"min_duration_fit\":%s,\"max_events\":%" PRIu64 ",\"lost_events\":%" PRIu64
		"}}\n",
		w.st.calls, w.st.marks, w.st.short_calls, w.st.outside, w.st.over_limit,
		w.st.unfinished, w.min_dur, w.fit ? "true" : "false", w.limit, run->lost_events);
	if (st) {
		*st = w.st;
		st->fit_min_ns = w.fit ? w.min_dur : 0;
	}
	return ctr_export_status(out, e);
}
