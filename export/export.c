/* SPDX-License-Identifier: MIT */
/*
 * Exports of export.h other than the SVG and HTML renderers (export-html.c): the bounded
 * timeline walker shared by the timeline formats, Chrome Trace Event JSON, OTLP/JSON, folded
 * stacks, the whole-run JSON, and the merged flame tree. Large outputs are streamed event by
 * event; jansson builds only small per-event objects.
 */
#include "export.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../store/timeline.h"
#include "../view/report.h"
#include "export-int.h"

void ctr_export_opts_init(struct ctr_export_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->min_duration_ns = -1;
	o->max_events = -1;
}

static const char *const format_names[] = {"chrome", "folded", "svg", "html", "otlp", "json"};

int ctr_export_parse_format(const char *name)
{
	for (int i = 0; i < (int)(sizeof(format_names) / sizeof(format_names[0])); i++)
		if (name && !strcmp(name, format_names[i]))
			return i;
	return -1;
}

unsigned ctr_export_load_flags(int fmt, const struct ctr_export_opts *o)
{
	if (fmt == CTR_EXPORT_CHROME || fmt == CTR_EXPORT_HTML || fmt == CTR_EXPORT_OTLP)
		return CTR_LOAD_TIMELINE;
	if (fmt == CTR_EXPORT_JSON && o && o->chunks)
		return CTR_LOAD_TIMELINE;
	return 0;
}

int ctr_export(FILE *out, const struct ctr_run *run, int fmt, const struct ctr_export_opts *o,
	       struct ctr_export_stats *st, struct ctr_err *e)
{
	struct ctr_export_opts def;

	if (!o) {
		ctr_export_opts_init(&def);
		o = &def;
	}
	if (st)
		memset(st, 0, sizeof(*st));
	switch (fmt) {
	case CTR_EXPORT_CHROME:
		return ctr_export_chrome(out, run, o, st, e);
	case CTR_EXPORT_FOLDED:
		return ctr_export_folded(out, run, o, e);
	case CTR_EXPORT_SVG:
		return ctr_export_svg(out, run, o, e);
	case CTR_EXPORT_HTML:
		return ctr_export_html(out, run, o, st, e);
	case CTR_EXPORT_OTLP:
		return ctr_export_otlp(out, run, o, st, e);
	case CTR_EXPORT_JSON:
		return ctr_export_json(out, run, o, e);
	}
	return ctr_err_set(e, CTR_EUSAGE, 0, "unknown export format %d", fmt);
}

/* ---- escaping ---- */

void ctr_export_xml_escape(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", out);
			break;
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		case '\'':
			fputs("&#39;", out);
			break;
		default:
			/* Control characters are not allowed in XML 1.0. */
			if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n')
				fputc('?', out);
			else
				fputc(*s, out);
		}
	}
}

static void json_escape_n(FILE *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			fputc('\\', out);
			fputc(c, out);
		} else if (c == '\n') {
			fputs("\\n", out);
		} else if (c == '\t') {
			fputs("\\t", out);
		} else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
			fprintf(out, "\\u%04x", c);
		} else if (c == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
			   ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9)) {
			fprintf(out, "\\u%04x", (unsigned char)s[i + 2] == 0xA8 ? 0x2028 : 0x2029);
			i += 2;
		} else if (c >= 0x80) {
			/* Pass valid UTF-8 sequences; replace stray bytes so the output parses. */
			size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
			size_t k;

			for (k = 1; len && k < len; k++)
				if (i + k >= n || ((unsigned char)s[i + k] & 0xC0) != 0x80)
					len = 0;
			if (!len || c > 0xF4) {
				fputs("\\ufffd", out);
			} else {
				fwrite(s + i, 1, len, out);
				i += len - 1;
			}
		} else {
			fputc(c, out);
		}
	}
}

void ctr_export_json_escape(FILE *out, const char *s)
{
	if (s)
		json_escape_n(out, s, strlen(s));
}

static void jq(FILE *out, const char *s)
{
	fputc('"', out);
	ctr_export_json_escape(out, s);
	fputc('"', out);
}

static int write_status(FILE *out, struct ctr_err *e)
{
	if (ferror(out))
		return ctr_err_set(e, CTR_EIO, errno, "cannot write the export: %s",
				   strerror(errno));
	return 0;
}

static const char *fn_name(const struct ctr_run *run, uint32_t fid)
{
	if (fid >= run->n_functions || !run->functions[fid].name)
		return "?";
	return run->functions[fid].name;
}

/* ---- timeline walker ---- */

void ctr_tl_walk_init(struct tl_walk *w, const struct ctr_run *run, const struct ctr_export_opts *o,
		      int64_t def_min, int64_t def_limit)
{
	memset(w, 0, sizeof(*w));
	w->run = run;
	w->from = o->from_ns;
	w->to = o->to_ns ? o->to_ns : UINT64_MAX;
	w->min_dur = (uint64_t)(o->min_duration_ns >= 0 ? o->min_duration_ns : def_min);
	w->limit = (uint64_t)(o->max_events >= 0 ? o->max_events : def_limit);
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
	else if (share && *emitted >= share)
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
				char key[CTR_STR_MAX + 1];
				json_t *v = ev.type == CTR_EV_ATTR_INT
						? json_integer(ev.ival)
						: json_stringn_nocheck(ev.str2, ev.len2);

				snprintf(key, sizeof(key), "%.*s", (int)ev.len, ev.str);
				json_object_set_new(stack[sp - 1].attrs, key, v);
			}
			break;
		case CTR_EV_LOST:
			if (w->on_lost && now >= w->from)
				ret = w->on_lost(w, th, now, ev.count, e);
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

	if (w->limit && w->run->n_threads)
		share = w->limit / w->run->n_threads ? w->limit / w->run->n_threads : 1;
	for (size_t th = 0; !ret && th < w->run->n_threads; th++)
		ret = walk_thread(w, (uint32_t)th, share, e);
	return ret;
}

/* ---- chrome ---- */

static void fmt_us(FILE *out, uint64_t ns)
{
	fprintf(out, "%" PRIu64 ".%03u", ns / 1000, (unsigned)(ns % 1000));
}

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
	jq(c->out, fn_name(w->run, f->fid));
	fprintf(c->out, ",\"cat\":\"%s\",\"ph\":\"X\",\"pid\":%d,\"tid\":%d,\"ts\":",
		kind == CTR_FN_SPAN ? "span" : "function", t->pid, t->tid);
	fmt_us(c->out, f->start);
	fputs(",\"dur\":", c->out);
	fmt_us(c->out, f->end - f->start);
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
	return ferror(c->out) ? write_status(c->out, e) : 0;
}

static int chrome_mark(struct tl_walk *w, uint32_t th, uint64_t t, uint32_t fid,
		       struct tl_frame *top, struct ctr_err *e)
{
	struct chrome_ctx *c = w->arg;
	const struct ctr_thread *thr = &w->run->threads[th];

	chrome_sep(c);
	fputs("{\"name\":", c->out);
	jq(c->out, fn_name(w->run, fid));
	fprintf(c->out, ",\"cat\":\"mark\",\"ph\":\"i\",\"s\":\"t\",\"pid\":%d,\"tid\":%d,\"ts\":",
		thr->pid, thr->tid);
	fmt_us(c->out, t);
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
	fmt_us(c->out, t);
	fputc('}', c->out);
	return 0;
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
	w.on_call = chrome_call;
	w.on_mark = chrome_mark;
	w.on_lost = chrome_lost;
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
			jq(out, proc_command(run, t->pid));
			fputs("}}", out);
		}
		chrome_sep(&c);
		fprintf(out,
			"{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
			"\"args\":{\"name\":",
			t->pid, t->tid);
		jq(out, t->name && *t->name ? t->name : "thread");
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
		fmt_us(out, w.from);
		fputc('}', out);
	}
	fputs("\n],\"displayTimeUnit\":\"ns\",\"otherData\":{\"ctrace_run_id\":", out);
	jq(out, run->id);
	fputs(",\"command\":", out);
	jq(out, run->command);
	fprintf(out,
		",\"calls\":%" PRIu64 ",\"marks\":%" PRIu64 ",\"left_out_short\":%" PRIu64
		",\"left_out_window\":%" PRIu64 ",\"left_out_limit\":%" PRIu64
		",\"unfinished\":%" PRIu64 ",\"min_duration_ns\":%" PRIu64
		",\"max_events\":%" PRIu64 ",\"lost_events\":%" PRIu64 "}}\n",
		w.st.calls, w.st.marks, w.st.short_calls, w.st.outside, w.st.over_limit,
		w.st.unfinished, w.min_dur, w.limit, run->lost_events);
	if (st)
		*st = w.st;
	return write_status(out, e);
}

/* ---- OTLP ---- */

static uint64_t fnv1a(const char *s, uint64_t h)
{
	for (; s && *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

void ctr_export_trace_id(const struct ctr_run *run, char out[33])
{
	uint64_t a = mix64(fnv1a(run->id, 0xcbf29ce484222325ull));
	uint64_t b = mix64(fnv1a(run->id, 0x84222325cbf29ce4ull) ^ 0x5bd1e995ull);

	if (!a && !b)
		b = 1;
	snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, a, b);
}

struct otlp_ctx {
	FILE *out;
	int first;
	uint64_t salt;
	char trace_id[33];
};

static uint64_t span_id(const struct otlp_ctx *c, uint32_t th, uint64_t seq)
{
	/* mix64 is a bijection: distinct (thread, seq) give distinct ids. */
	uint64_t id = mix64(c->salt ^ (((uint64_t)th + 1) << 40 | (seq & ((1ull << 40) - 1))));

	return id ? id : 1;
}

static json_t *otlp_attr(const char *key, json_t *val)
{
	return json_pack("{s:s,s:o}", "key", key, "value", val);
}

static json_t *otlp_str(const char *s)
{
	json_t *j = json_string(s ? s : "");

	return json_pack("{s:o}", "stringValue", j ? j : json_string("?"));
}

static json_t *otlp_int(int64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return json_pack("{s:s}", "intValue", buf);
}

static json_t *otlp_value(json_t *v)
{
	if (json_is_integer(v))
		return otlp_int(json_integer_value(v));
	return otlp_str(json_string_value(v));
}

static void unix_ns(char *buf, size_t n, const struct ctr_run *run, uint64_t off)
{
	snprintf(buf, n, "%" PRIu64, (uint64_t)run->start_unix_ns + off);
}

static int otlp_call(struct tl_walk *w, uint32_t th, struct tl_frame *f,
		     const struct tl_frame *parent, struct ctr_err *e)
{
	struct otlp_ctx *c = w->arg;
	const struct ctr_run *run = w->run;
	const struct ctr_thread *t = &run->threads[th];
	const struct ctr_function *fn = f->fid < run->n_functions ? &run->functions[f->fid] : NULL;
	json_t *span, *attrs;
	char id[17], pid[17], t0[32], t1[32], *s;
	const char *key;
	json_t *val;

	snprintf(id, sizeof(id), "%016" PRIx64, span_id(c, th, f->seq));
	unix_ns(t0, sizeof(t0), run, f->start);
	unix_ns(t1, sizeof(t1), run, f->end);
	attrs = json_array();
	json_array_append_new(attrs, otlp_attr("thread.id", otlp_int(t->tid)));
	if (t->name && *t->name)
		json_array_append_new(attrs, otlp_attr("thread.name", otlp_str(t->name)));
	json_array_append_new(attrs, otlp_attr("process.pid", otlp_int(t->pid)));
	json_array_append_new(attrs, otlp_attr("code.function", otlp_str(fn_name(run, f->fid))));
	if (fn && fn->file && *fn->file)
		json_array_append_new(attrs, otlp_attr("code.filepath", otlp_str(fn->file)));
	if (fn && fn->line)
		json_array_append_new(attrs, otlp_attr("code.lineno", otlp_int(fn->line)));
	if (fn && fn->kind == CTR_FN_SPAN)
		json_array_append_new(attrs, otlp_attr("ctrace.kind", otlp_str("span")));
	if (f->unfinished)
		json_array_append_new(
		    attrs, otlp_attr("ctrace.unfinished", json_pack("{s:b}", "boolValue", 1)));
	json_object_foreach(f->attrs, key, val)
	    json_array_append_new(attrs, otlp_attr(key, otlp_value(val)));
	span = json_pack("{s:s,s:s}", "traceId", c->trace_id, "spanId", id);
	if (!span || !attrs) {
		json_decref(span);
		json_decref(attrs);
		return ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory writing the export");
	}
	if (parent) {
		snprintf(pid, sizeof(pid), "%016" PRIx64, span_id(c, th, parent->seq));
		json_object_set_new(span, "parentSpanId", json_string(pid));
	}
	json_object_set_new(span, "name", json_string(fn_name(run, f->fid)) ?: json_string("?"));
	json_object_set_new(span, "kind", json_integer(1)); /* SPAN_KIND_INTERNAL */
	json_object_set_new(span, "startTimeUnixNano", json_string(t0));
	json_object_set_new(span, "endTimeUnixNano", json_string(t1));
	json_object_set_new(span, "attributes", attrs);
	if (f->marks) {
		json_t *evs = json_array(), *m;
		size_t i;

		json_array_foreach(f->marks, i, m)
		{
			char tm[32];

			unix_ns(tm, sizeof(tm), run,
				(uint64_t)json_integer_value(json_array_get(m, 0)));
			json_array_append_new(
			    evs, json_pack("{s:s,s:o}", "timeUnixNano", tm, "name",
					   json_string(fn_name(run, (uint32_t)json_integer_value(
									json_array_get(m, 1))))
					       ?: json_string("?")));
		}
		json_object_set_new(span, "events", evs);
	}
	json_object_set_new(span, "status", json_object());
	s = json_dumps(span, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(span);
	if (!s)
		return ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory writing the export");
	fputs(c->first ? "\n" : ",\n", c->out);
	c->first = 0;
	fputs(s, c->out);
	free(s);
	return ferror(c->out) ? write_status(c->out, e) : 0;
}

static int otlp_mark(struct tl_walk *w, uint32_t th, uint64_t t, uint32_t fid, struct tl_frame *top,
		     struct ctr_err *e)
{
	if (!top)
		return 0;
	if (!top->marks)
		top->marks = json_array();
	if (top->marks)
		json_array_append_new(top->marks,
				      json_pack("[I,I]", (json_int_t)t, (json_int_t)fid));
	return 0;
}

static const char *service_name(const struct ctr_run *run, char *buf, size_t n)
{
	const char *cmd = run->command && *run->command ? run->command : "ctrace";
	size_t len = strcspn(cmd, " ");
	const char *slash = memrchr(cmd, '/', len);

	if (slash) {
		len -= (size_t)(slash + 1 - cmd);
		cmd = slash + 1;
	}
	snprintf(buf, n, "%.*s", (int)len, cmd);
	return buf;
}

int ctr_export_otlp(FILE *out, const struct ctr_run *run, const struct ctr_export_opts *o,
		    struct ctr_export_stats *st, struct ctr_err *e)
{
	struct otlp_ctx c = {.out = out, .first = 1};
	struct tl_walk w;
	json_t *res;
	char svc[256], *s;
	int ret;

	ctr_export_trace_id(run, c.trace_id);
	c.salt = fnv1a(run->id, 0x6a09e667f3bcc908ull);
	ctr_tl_walk_init(&w, run, o, CTR_EXPORT_OTLP_MIN_DURATION, CTR_EXPORT_OTLP_MAX_EVENTS);
	w.on_call = otlp_call;
	w.on_mark = otlp_mark;
	w.arg = &c;
	res = json_pack("{s:[o,o,o,o,o]}", "attributes",
			otlp_attr("service.name", otlp_str(service_name(run, svc, sizeof(svc)))),
			otlp_attr("process.command_line", otlp_str(run->command)),
			otlp_attr("host.name", otlp_str(run->host)),
			otlp_attr("process.pid", otlp_int(run->n_procs ? run->procs[0].pid : 0)),
			otlp_attr("ctrace.run_id", otlp_str(run->id)));
	s = res ? json_dumps(res, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(res);
	if (!s)
		return ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory writing the export");
	fprintf(out,
		"{\"resourceSpans\":[{\"resource\":%s,\"scopeSpans\":[{\"scope\":"
		"{\"name\":\"ctrace\",\"version\":\"1\"},\"spans\":[",
		s);
	free(s);
	ret = ctr_tl_walk(&w, e);
	if (ret)
		return ret;
	fputs("\n]}]}]}\n", out);
	if (st)
		*st = w.st;
	return write_status(out, e);
}

/* ---- flame tree ---- */

struct ft_hash {
	uint32_t *slot; /* merged node + 1, 0 = empty */
	size_t mask;
};

static uint64_t ft_key_hash(uint32_t parent, uint32_t fid)
{
	return mix64(((uint64_t)parent << 32) | fid);
}

static int ft_add(struct ft_tree *t, struct ft_hash *h, uint32_t parent, uint32_t fid,
		  uint32_t *out)
{
	size_t i = ft_key_hash(parent, fid) & h->mask;

	for (; h->slot[i]; i = (i + 1) & h->mask) {
		struct ft_node *n = &t->n[h->slot[i] - 1];

		if (n->parent == parent && n->fid == fid) {
			*out = h->slot[i] - 1;
			return 0;
		}
	}
	if (t->len == t->cap)
		return -1; /* capacity was sized for every CCT node: cannot happen */
	t->n[t->len] = (struct ft_node){.fid = fid,
					.parent = parent,
					.first_child = CTR_NONE,
					.next_sibling = t->n[parent].first_child,
					.depth = t->n[parent].depth + 1};
	t->n[parent].first_child = (uint32_t)t->len;
	if (t->n[t->len].depth > t->max_depth)
		t->max_depth = t->n[t->len].depth;
	h->slot[i] = (uint32_t)t->len + 1;
	*out = (uint32_t)t->len++;
	return 0;
}

const char *ctr_ft_name(const struct ctr_run *run, const struct ft_node *n, char *buf, size_t len)
{
	if (n->fid & FT_THREAD) {
		const struct ctr_thread *t = &run->threads[n->fid & ~FT_THREAD];

		snprintf(buf, len, "thread %s (%d)", t->name && *t->name ? t->name : "?", t->tid);
		return buf;
	}
	return fn_name(run, n->fid);
}

struct ft_sort_ctx {
	const struct ctr_run *run;
	const struct ft_tree *t;
};

static int cmp_ft_name(const void *pa, const void *pb, void *arg)
{
	const struct ft_sort_ctx *c = arg;
	const struct ft_node *a = &c->t->n[*(const uint32_t *)pa],
			     *b = &c->t->n[*(const uint32_t *)pb];
	char ba[128], bb[128];
	int r =
	    strcmp(ctr_ft_name(c->run, a, ba, sizeof(ba)), ctr_ft_name(c->run, b, bb, sizeof(bb)));

	if (r)
		return r;
	return a->fid < b->fid ? -1 : a->fid > b->fid;
}

int ctr_ft_build(struct ft_tree *t, const struct ctr_run *run, int raw, int thread_prefix,
		 struct ctr_err *e)
{
	struct ft_hash h = {0};
	uint32_t *map = NULL, *kids = NULL;
	size_t cap = run->n_nodes + run->n_threads + 1, hs = 16;
	int ret = ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory building the flame graph");

	memset(t, 0, sizeof(*t));
	while (hs < 2 * cap)
		hs <<= 1;
	t->n = calloc(cap, sizeof(*t->n));
	h.slot = calloc(hs, sizeof(*h.slot));
	h.mask = hs - 1;
	map = malloc((run->n_nodes + 1) * sizeof(*map));
	kids = malloc(cap * sizeof(*kids));
	if (!t->n || !h.slot || !map || !kids)
		goto out;
	if (e && e->code == CTR_ENOMEM)
		ctr_err_clear(e);
	t->cap = cap;
	t->n[0] = (struct ft_node){
	    .fid = CTR_NONE, .parent = CTR_NONE, .first_child = CTR_NONE, .next_sibling = CTR_NONE};
	t->len = 1;
	for (size_t i = 0; i < run->n_nodes; i++) {
		const struct ctr_node *nd = &run->nodes[i];
		uint32_t parent = 0, m;

		if (nd->thread >= run->n_threads || nd->function >= run->n_functions ||
		    (nd->parent != CTR_NONE && nd->parent >= i)) {
			ret = ctr_err_set(e, CTR_EFORMAT, 0,
					  "corrupt run '%s': bad call tree node %zu", run->id, i);
			goto out;
		}
		if (nd->parent != CTR_NONE)
			parent = map[nd->parent];
		else if (thread_prefix && ft_add(t, &h, 0, FT_THREAD | nd->thread, &parent))
			goto internal;
		if (ft_add(t, &h, parent, nd->function, &m))
			goto internal;
		map[i] = m;
		t->n[m].total += raw ? nd->raw_total_ns : nd->total_ns;
		t->n[m].self += raw ? nd->raw_self_ns : nd->self_ns;
		if (nd->parent == CTR_NONE) {
			t->n[0].total += raw ? nd->raw_total_ns : nd->total_ns;
			if (thread_prefix)
				t->n[parent].total += raw ? nd->raw_total_ns : nd->total_ns;
		}
	}
	/* Sort each node's children by name and lay them out left to right. */
	for (size_t p = 0; p < t->len; p++) {
		struct ft_sort_ctx sc = {run, t};
		size_t nk = 0;
		uint64_t x = t->n[p].x;

		for (uint32_t k = t->n[p].first_child; k != CTR_NONE; k = t->n[k].next_sibling)
			kids[nk++] = k;
		if (nk > 1)
			qsort_r(kids, nk, sizeof(*kids), cmp_ft_name, &sc);
		t->n[p].first_child = nk ? kids[0] : CTR_NONE;
		for (size_t k = 0; k < nk; k++) {
			t->n[kids[k]].next_sibling = k + 1 < nk ? kids[k + 1] : CTR_NONE;
			t->n[kids[k]].x = x;
			x += t->n[kids[k]].total;
		}
	}
	ret = 0;
	goto out;
internal:
	ret = ctr_err_set(e, CTR_EINTERNAL, 0, "flame tree overflow");
out:
	if (ret)
		ctr_ft_release(t);
	free(h.slot);
	free(map);
	free(kids);
	return ret;
}

void ctr_ft_release(struct ft_tree *t)
{
	if (!t)
		return;
	free(t->n);
	memset(t, 0, sizeof(*t));
}

/* ---- folded ---- */

static int folded_name(char **buf, size_t *len, size_t *cap, const char *name)
{
	size_t n = strlen(name);

	if (*len + n + 2 > *cap) {
		size_t ncap = (*cap + n + 2) * 2;
		char *nb = realloc(*buf, ncap);

		if (!nb)
			return -1;
		*buf = nb;
		*cap = ncap;
	}
	if (*len)
		(*buf)[(*len)++] = ';';
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		/* ';' separates frames and a newline ends the line: keep both out of names. */
		(*buf)[(*len)++] = c == ';' ? ':' : (c == '\n' || c == '\r') ? ' ' : c;
	}
	(*buf)[*len] = 0;
	return 0;
}

int ctr_export_folded(FILE *out, const struct ctr_run *run, const struct ctr_export_opts *o,
		      struct ctr_err *e)
{
	struct ft_tree t;
	struct {
		uint32_t node;
		size_t len;
	} *st = NULL;
	size_t sp = 0, blen = 0, bcap = 256;
	char *buf = malloc(bcap), name[256];
	int ret = ctr_ft_build(&t, run, o->raw_times, o->thread_prefix, e);

	if (ret) {
		free(buf);
		return ret;
	}
	st = malloc(t.len * sizeof(*st));
	if (!st || !buf) {
		ret = ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory writing folded stacks");
		goto out;
	}
	/* Depth-first with an explicit stack (recursion can be deep); each sibling group is
	 * reversed after pushing so that the output follows the sorted order. */
	for (uint32_t k = t.n[0].first_child; k != CTR_NONE; k = t.n[k].next_sibling)
		st[sp++] = (typeof(*st)){k, 0};
	/* Reverse the roots pushed so the first sorted root is popped first. */
	for (size_t i = 0; i < sp / 2; i++) {
		typeof(*st) tmp = st[i];

		st[i] = st[sp - 1 - i];
		st[sp - 1 - i] = tmp;
	}
	while (sp) {
		uint32_t v = st[--sp].node;
		size_t before;

		blen = st[sp].len;
		if (folded_name(&buf, &blen, &bcap,
				ctr_ft_name(run, &t.n[v], name, sizeof(name)))) {
			ret = ctr_err_set(e, CTR_ENOMEM, ENOMEM,
					  "out of memory writing folded stacks");
			goto out;
		}
		if (t.n[v].self)
			fprintf(out, "%s %" PRIu64 "\n", buf, t.n[v].self);
		before = sp;
		for (uint32_t k = t.n[v].first_child; k != CTR_NONE; k = t.n[k].next_sibling)
			st[sp++] = (typeof(*st)){k, blen};
		for (size_t i = 0; i < (sp - before) / 2; i++) {
			typeof(*st) tmp = st[before + i];

			st[before + i] = st[sp - 1 - i];
			st[sp - 1 - i] = tmp;
		}
	}
	ret = write_status(out, e);
out:
	free(st);
	free(buf);
	ctr_ft_release(&t);
	return ret;
}

/* ---- whole run as JSON ---- */

static json_t *js(const char *s)
{
	json_t *j = json_string(s ? s : "");

	return j ? j : json_stringn_nocheck(s, strlen(s));
}

static char *base64(const unsigned char *p, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *s = malloc(4 * ((n + 2) / 3) + 1), *d = s;

	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		*d++ = tab[(v >> 18) & 63];
		*d++ = tab[(v >> 12) & 63];
		*d++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		*d++ = i + 2 < n ? tab[v & 63] : '=';
	}
	*d = 0;
	return s;
}

#define JI(v) json_integer((json_int_t)(v))

int ctr_export_json(FILE *out, const struct ctr_run *run, const struct ctr_export_opts *o,
		    struct ctr_err *e)
{
	json_t *j = json_object(), *a;
	int ret = 0;

	if (!j)
		return ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory writing JSON");
	json_object_set_new(j, "format", json_string("ctrace-run/1"));
	json_object_set_new(j, "id", js(run->id));
	json_object_set_new(j, "command", js(run->command));
	json_object_set_new(j, "host", js(run->host));
	json_object_set_new(j, "cwd", js(run->cwd));
	json_object_set_new(j, "start_unix_ns", JI(run->start_unix_ns));
	json_object_set_new(j, "duration_ns", JI(run->duration_ns));
	json_object_set_new(j, "exit_status", JI(run->exit_status));
	json_object_set_new(j, "signal", JI(run->signal));
	json_object_set_new(j, "crashed", json_boolean(run->crashed));
	json_object_set_new(j, "events", JI(run->events));
	json_object_set_new(j, "lost_events", JI(run->lost_events));
	json_object_set_new(j, "clock", js(run->clock));
	json_object_set_new(j, "ticks_per_sec", JI(run->ticks_per_sec));
	json_object_set_new(j, "overhead_inner_ns", json_real(run->overhead_inner_ns));
	json_object_set_new(j, "overhead_call_ns", json_real(run->overhead_call_ns));
	a = json_array();
	for (size_t i = 0; i < run->n_meta; i++)
		json_array_append_new(a, json_pack("{s:o,s:o}", "key", js(run->meta[i].key),
						   "value", js(run->meta[i].value)));
	json_object_set_new(j, "meta", a);
	a = json_array();
	for (size_t i = 0; i < run->n_procs; i++) {
		const struct ctr_process *p = &run->procs[i];

		json_array_append_new(
		    a, json_pack("{s:i,s:i,s:I,s:o,s:o,s:i,s:i,s:b,s:o}", "pid", p->pid, "ppid",
				 p->ppid, "gen", (json_int_t)p->gen, "exe", js(p->exe), "command",
				 js(p->command), "exit_status", p->exit_status, "signal", p->signal,
				 "crashed", p->crashed, "backtrace",
				 p->backtrace ? js(p->backtrace) : json_null()));
	}
	json_object_set_new(j, "processes", a);
	a = json_array();
	for (size_t i = 0; i < run->n_modules; i++) {
		const struct ctr_module *m = &run->modules[i];

		json_array_append_new(a, json_pack("{s:I,s:o,s:o,s:I}", "id", (json_int_t)m->id,
						   "path", js(m->path), "build_id", js(m->build_id),
						   "base", (json_int_t)m->base));
	}
	json_object_set_new(j, "modules", a);
	a = json_array();
	for (size_t i = 0; i < run->n_functions; i++) {
		const struct ctr_function *f = &run->functions[i];

		json_array_append_new(
		    a,
		    json_pack("{s:I,s:s,s:o,s:o,s:o,s:I,s:o,s:I}", "id", (json_int_t)f->id, "kind",
			      f->kind == CTR_FN_SPAN   ? "span"
			      : f->kind == CTR_FN_MARK ? "mark"
						       : "function",
			      "name", js(f->name), "linkage_name", js(f->linkage_name), "file",
			      js(f->file), "line", (json_int_t)f->line, "module",
			      f->module == CTR_NONE ? json_null() : JI(f->module), "offset",
			      (json_int_t)f->offset));
	}
	json_object_set_new(j, "functions", a);
	a = json_array();
	for (size_t i = 0; i < run->n_threads; i++) {
		const struct ctr_thread *t = &run->threads[i];

		json_array_append_new(
		    a, json_pack("{s:I,s:i,s:i,s:o,s:I,s:I,s:I,s:I}", "id", (json_int_t)t->id,
				 "pid", t->pid, "tid", t->tid, "name", js(t->name), "start_ns",
				 (json_int_t)t->start_ns, "end_ns", (json_int_t)t->end_ns, "events",
				 (json_int_t)t->events, "lost", (json_int_t)t->lost));
	}
	json_object_set_new(j, "threads", a);
	a = json_array();
	for (size_t i = 0; i < run->n_nodes; i++) {
		const struct ctr_node *n = &run->nodes[i];

		json_array_append_new(
		    a,
		    json_pack("{s:I,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "id",
			      (json_int_t)n->id, "parent",
			      n->parent == CTR_NONE ? json_null() : JI(n->parent), "thread",
			      (json_int_t)n->thread, "function", (json_int_t)n->function, "calls",
			      (json_int_t)n->calls, "total_ns", (json_int_t)n->total_ns, "self_ns",
			      (json_int_t)n->self_ns, "min_ns", (json_int_t)n->min_ns, "max_ns",
			      (json_int_t)n->max_ns, "raw_total_ns", (json_int_t)n->raw_total_ns,
			      "raw_self_ns", (json_int_t)n->raw_self_ns, "raw_min_ns",
			      (json_int_t)n->raw_min_ns, "raw_max_ns", (json_int_t)n->raw_max_ns));
	}
	json_object_set_new(j, "nodes", a);
	a = json_array();
	for (size_t i = 0; i < run->n_attrs; i++) {
		const struct ctr_attr *at = &run->attrs[i];

		json_array_append_new(a,
				      json_pack("{s:I,s:o,s:o,s:I}", "node", (json_int_t)at->node,
						"key", js(at->key), "value", js(at->value), "count",
						(json_int_t)at->count));
	}
	json_object_set_new(j, "attrs", a);
	if (o && o->chunks) {
		a = json_array();
		for (size_t i = 0; i < run->n_chunks; i++) {
			const struct ctr_chunk *c = &run->chunks[i];
			char *b64 = base64(c->data, c->size);

			if (!b64) {
				ret = ctr_err_set(e, CTR_ENOMEM, ENOMEM,
						  "out of memory writing JSON");
				break;
			}
			json_array_append_new(
			    a, json_pack("{s:I,s:I,s:s,s:I,s:I,s:I,s:I,s:s}", "thread",
					 (json_int_t)c->thread, "seq", (json_int_t)c->seq, "codec",
					 c->codec == CTR_CODEC_ZSTD ? "zstd" : "raw", "raw_size",
					 (json_int_t)c->raw_size, "first_ns",
					 (json_int_t)c->first_ns, "last_ns", (json_int_t)c->last_ns,
					 "size", (json_int_t)c->size, "data", b64));
			free(b64);
		}
		json_object_set_new(j, "chunks", a);
	}
	if (!ret &&
	    (json_dumpf(j, out, JSON_INDENT(1) | JSON_PRESERVE_ORDER) || fputc('\n', out) == EOF))
		ret =
		    ctr_err_set(e, CTR_EIO, errno, "cannot write the export: %s", strerror(errno));
	json_decref(j);
	return ret ? ret : write_status(out, e);
}
