/* SPDX-License-Identifier: MIT */
/*
 * Export tests on the fixture run and its stored timeline: Chrome trace events parsed back and
 * checked for exact calls and correct nesting per thread, with the duration / window / limit
 * bounds and their counts; OTLP parent links and ids; folded stacks against the known stacks;
 * SVG and HTML escaping of C++ names; the whole-run JSON.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report-fixture.h"
#include "tools/export/export.h"
#include "tools/export/viewer.h"

static struct ctr_run *timeline_run(void)
{
	struct ctr_run *r = fx_run();

	fx_timeline(r);
	return r;
}

static json_t *parse(const char *s)
{
	json_error_t je;
	json_t *j = json_loads(s, 0, &je);

	cr_assert_not_null(j, "invalid JSON at line %d: %s", je.line, je.text);
	return j;
}

struct xev {
	const char *name;
	int tid;
	double ts, dur;
	json_t *args;
};

/* X events of @tid sorted by start (and longest first). */
static int cmp_xev(const void *pa, const void *pb)
{
	const struct xev *a = pa, *b = pb;

	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	return a->dur > b->dur ? -1 : a->dur < b->dur;
}

static size_t x_events(json_t *j, int tid, struct xev *out, size_t max)
{
	json_t *evs = json_object_get(j, "traceEvents"), *ev;
	size_t i, n = 0;

	cr_assert(json_is_array(evs));
	json_array_foreach(evs, i, ev)
	{
		if (strcmp(json_string_value(json_object_get(ev, "ph")), "X") ||
		    json_integer_value(json_object_get(ev, "tid")) != tid)
			continue;
		cr_assert_lt(n, max);
		out[n].name = json_string_value(json_object_get(ev, "name"));
		out[n].tid = tid;
		out[n].ts = json_number_value(json_object_get(ev, "ts"));
		out[n].dur = json_number_value(json_object_get(ev, "dur"));
		out[n].args = json_object_get(ev, "args");
		n++;
	}
	qsort(out, n, sizeof(*out), cmp_xev);
	return n;
}

/* Every pair of events is disjoint or nested: a stack replay never overlaps partially. */
static void check_nesting(const struct xev *x, size_t n)
{
	double stack[64];
	size_t sp = 0;

	for (size_t i = 0; i < n; i++) {
		while (sp && stack[sp - 1] <= x[i].ts + 1e-9)
			sp--;
		if (sp)
			cr_assert_leq(x[i].ts + x[i].dur, stack[sp - 1] + 1e-9,
				      "event '%s' at %f overlaps its parent partially", x[i].name,
				      x[i].ts);
		cr_assert_lt(sp, 64);
		stack[sp++] = x[i].ts + x[i].dur;
	}
}

static json_t *export_json(struct ctr_run *r, int fmt, const struct ctr_export_opts *o,
			   struct ctr_export_stats *st)
{
	struct ctr_err e;
	char *s;
	json_t *j;

	ctr_err_clear(&e);
	FX_CAPTURE(s, ctr_export(out, r, fmt, o, st, &e));
	j = parse(s);
	free(s);
	return j;
}

Test(export, chrome_events_exact_and_nested)
{
	struct ctr_run *r = timeline_run();
	struct ctr_export_opts o;
	struct ctr_export_stats st;
	struct xev x[32];
	json_t *j, *ev, *other;
	size_t n, i;
	int marks = 0, lost = 0, pname = 0, tnames = 0;

	ctr_export_opts_init(&o);
	j = export_json(r, CTR_EXPORT_CHROME, &o, &st);
	cr_assert_str_eq(json_string_value(json_object_get(j, "displayTimeUnit")), "ns");
	n = x_events(j, 100, x, 32);
	cr_assert_eq(n, 5);
	check_nesting(x, n);
	cr_assert_str_eq(x[0].name, "main");
	cr_assert_float_eq(x[0].dur, 100000.0, 1e-6);
	cr_assert_str_eq(x[1].name, "fib");
	cr_assert_float_eq(x[1].ts, 10000.0, 1e-6);
	cr_assert_float_eq(x[1].dur, 40000.0, 1e-6);
	cr_assert_str_eq(x[2].name, "fib");
	cr_assert_float_eq(x[2].ts, 20000.0, 1e-6);
	cr_assert_str_eq(x[3].name, "load");
	cr_assert_str_eq(json_string_value(json_object_get(x[3].args, "file")), "data<1>.bin");
	cr_assert_eq(json_integer_value(json_object_get(x[3].args, "size")), 4096);
	cr_assert_str_eq(x[4].name, PUSH_NAME);
	cr_assert_float_eq(x[4].dur, 500.0, 1e-6);
	/* Thread 1: push_back (1 us), then work and fib left open at the thread end (50 ms). */
	n = x_events(j, 101, x, 32);
	cr_assert_eq(n, 3);
	check_nesting(x, n);
	cr_assert_str_eq(x[0].name, "work");
	cr_assert_float_eq(x[0].dur, 45000.0, 1e-6);
	cr_assert(json_is_true(json_object_get(x[0].args, "ctrace.unfinished")));
	cr_assert_float_eq(x[1].dur, 1.0, 1e-6);
	cr_assert_str_eq(x[2].name, "fib");
	cr_assert_float_eq(x[2].dur, 10000.0, 1e-6);
	json_array_foreach(json_object_get(j, "traceEvents"), i, ev)
	{
		const char *ph = json_string_value(json_object_get(ev, "ph"));
		const char *name = json_string_value(json_object_get(ev, "name"));

		if (!strcmp(ph, "i") && !strcmp(name, "checkpoint")) {
			marks++;
			cr_assert_float_eq(json_number_value(json_object_get(ev, "ts")), 61000.0,
					   1e-6);
		}
		if (!strcmp(ph, "i") && !strcmp(name, "ctrace: 7 events lost"))
			lost++;
		if (!strcmp(ph, "M") && !strcmp(name, "process_name"))
			pname++;
		if (!strcmp(ph, "M") && !strcmp(name, "thread_name"))
			tnames++;
	}
	cr_assert_eq(marks, 1);
	cr_assert_eq(lost, 1);
	cr_assert_eq(pname, 1, "one process, one process_name");
	cr_assert_eq(tnames, 2);
	other = json_object_get(j, "otherData");
	cr_assert_eq(json_integer_value(json_object_get(other, "calls")), 8);
	cr_assert_eq(json_integer_value(json_object_get(other, "left_out_short")), 0);
	cr_assert_eq(st.calls, 8);
	cr_assert_eq(st.unfinished, 2);
	cr_assert_eq(st.marks, 1);
	json_decref(j);
	ctr_run_free(r);
}

Test(export, chrome_min_duration_counts_what_it_drops)
{
	struct ctr_run *r = timeline_run();
	struct ctr_export_opts o;
	struct ctr_export_stats st;
	struct xev x[32];
	json_t *j;

	ctr_export_opts_init(&o);
	o.min_duration_ns = 20 * MS;
	j = export_json(r, CTR_EXPORT_CHROME, &o, &st);
	cr_assert_eq(x_events(j, 100, x, 32), 3); /* main, fib (40 ms), load (30 ms) */
	cr_assert_eq(x_events(j, 101, x, 32), 1); /* work (45 ms, unfinished) */
	cr_assert_eq(st.short_calls, 4);
	cr_assert_eq(
	    json_integer_value(json_object_get(json_object_get(j, "otherData"), "left_out_short")),
	    4);
	json_decref(j);
	ctr_run_free(r);
}

Test(export, chrome_max_events_keeps_ancestors)
{
	struct ctr_run *r = timeline_run();
	struct ctr_export_opts o;
	struct ctr_export_stats st;
	struct xev x[32];
	size_t n;
	json_t *j;

	ctr_export_opts_init(&o);
	o.max_events = 2; /* one per thread */
	j = export_json(r, CTR_EXPORT_CHROME, &o, &st);
	n = x_events(j, 100, x, 32);
	/* The inner fib is first to finish; its parents follow so nesting stays whole. */
	cr_assert_eq(n, 3);
	cr_assert_str_eq(x[0].name, "main");
	cr_assert_str_eq(x[1].name, "fib");
	cr_assert_str_eq(x[2].name, "fib");
	check_nesting(x, n);
	cr_assert_eq(st.over_limit, 2 + 1 + 1, "thread 0: push_back, load, mark; thread 1: fib");
	json_decref(j);
	ctr_run_free(r);
}

Test(export, chrome_window_clips_and_drops)
{
	struct ctr_run *r = timeline_run();
	struct ctr_export_opts o;
	struct ctr_export_stats st;
	struct xev x[32];
	size_t n;
	json_t *j;

	ctr_export_opts_init(&o);
	o.from_ns = 55 * MS;
	o.to_ns = 80 * MS;
	j = export_json(r, CTR_EXPORT_CHROME, &o, &st);
	n = x_events(j, 100, x, 32);
	cr_assert_eq(n, 3);
	check_nesting(x, n);
	cr_assert_str_eq(x[0].name, "main");
	cr_assert_float_eq(x[0].ts, 55000.0, 1e-6);
	cr_assert_float_eq(x[0].dur, 25000.0, 1e-6);
	cr_assert_str_eq(x[1].name, "load");
	cr_assert_float_eq(x[1].dur, 20000.0, 1e-6);
	cr_assert_str_eq(x[2].name, PUSH_NAME);
	cr_assert_eq(x_events(j, 101, x, 32), 0);
	cr_assert_eq(st.outside, 2 + 3);
	json_decref(j);
	ctr_run_free(r);
}

static json_t *attr_value(json_t *span, const char *key)
{
	json_t *a;
	size_t i;

	json_array_foreach(json_object_get(span, "attributes"), i,
			   a) if (!strcmp(json_string_value(json_object_get(a, "key")),
					  key)) return json_object_get(a, "value");
	return NULL;
}

static int is_hex(const char *s, size_t len)
{
	if (!s || strlen(s) != len)
		return 0;
	for (; *s; s++)
		if (!strchr("0123456789abcdef", *s))
			return 0;
	return 1;
}

Test(export, otlp_ids_and_parents_consistent)
{
	struct ctr_run *r = timeline_run();
	struct ctr_export_opts o;
	struct ctr_export_stats st;
	json_t *j, *rs, *spans, *sp, *res;
	const char *trace = NULL;
	size_t i, k;

	ctr_export_opts_init(&o);
	j = export_json(r, CTR_EXPORT_OTLP, &o, &st);
	rs = json_array_get(json_object_get(j, "resourceSpans"), 0);
	res = json_object_get(json_object_get(rs, "resource"), "attributes");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(res, 0), "key")),
			 "service.name");
	cr_assert_str_eq(json_string_value(json_object_get(
			     json_object_get(json_array_get(res, 0), "value"), "stringValue")),
			 "demo");
	spans = json_object_get(json_array_get(json_object_get(rs, "scopeSpans"), 0), "spans");
	/* Default 1 ms threshold: push_back calls (500 us, 1 us) are left out. */
	cr_assert_eq(json_array_size(spans), 6);
	cr_assert_eq(st.short_calls, 2);
	json_array_foreach(spans, i, sp)
	{
		const char *id = json_string_value(json_object_get(sp, "spanId"));
		const char *parent = json_string_value(json_object_get(sp, "parentSpanId"));
		const char *name = json_string_value(json_object_get(sp, "name"));
		unsigned long long t0 =
		    strtoull(json_string_value(json_object_get(sp, "startTimeUnixNano")), NULL, 10);
		unsigned long long t1 =
		    strtoull(json_string_value(json_object_get(sp, "endTimeUnixNano")), NULL, 10);

		cr_assert(is_hex(json_string_value(json_object_get(sp, "traceId")), 32));
		if (!trace)
			trace = json_string_value(json_object_get(sp, "traceId"));
		cr_assert_str_eq(json_string_value(json_object_get(sp, "traceId")), trace);
		cr_assert(is_hex(id, 16));
		cr_assert_geq(t0, (unsigned long long)r->start_unix_ns);
		cr_assert_geq(t1, t0);
		for (k = 0; k < json_array_size(spans); k++)
			if (k != i)
				cr_assert_str_neq(json_string_value(json_object_get(
						      json_array_get(spans, k), "spanId")),
						  id, "duplicate span id");
		if (!strcmp(name, "main") || !strcmp(name, "work")) {
			cr_assert_null(parent, "'%s' is a root span", name);
			continue;
		}
		cr_assert(is_hex(parent, 16), "'%s' has a parent", name);
		/* The parent exists and encloses the child. */
		for (k = 0; k < json_array_size(spans); k++) {
			json_t *p = json_array_get(spans, k);

			if (!strcmp(json_string_value(json_object_get(p, "spanId")), parent)) {
				cr_assert_leq(strtoull(json_string_value(
							   json_object_get(p, "startTimeUnixNano")),
						       NULL, 10),
					      t0);
				cr_assert_geq(strtoull(json_string_value(
							   json_object_get(p, "endTimeUnixNano")),
						       NULL, 10),
					      t1);
				break;
			}
		}
		cr_assert_lt(k, json_array_size(spans), "parent of '%s' missing", name);
		if (!strcmp(name, "fib")) {
			cr_assert_str_eq(json_string_value(json_object_get(
					     attr_value(sp, "code.filepath"), "stringValue")),
					 "fib.c");
			cr_assert_str_eq(json_string_value(json_object_get(
					     attr_value(sp, "code.lineno"), "intValue")),
					 "3");
		}
		if (!strcmp(name, "load")) {
			json_t *evs = json_object_get(sp, "events");

			cr_assert_str_eq(json_string_value(json_object_get(attr_value(sp, "file"),
									   "stringValue")),
					 "data<1>.bin");
			cr_assert_str_eq(
			    json_string_value(json_object_get(attr_value(sp, "size"), "intValue")),
			    "4096");
			cr_assert_eq(json_array_size(evs), 1);
			cr_assert_str_eq(
			    json_string_value(json_object_get(json_array_get(evs, 0), "name")),
			    "checkpoint");
		}
		cr_assert_str_eq(
		    json_string_value(json_object_get(attr_value(sp, "thread.id"), "intValue")),
		    strstr(json_string_value(
			       json_object_get(attr_value(sp, "thread.name"), "stringValue")),
			   "worker")
			? "101"
			: "100");
	}
	json_decref(j);
	ctr_run_free(r);
}

Test(export, folded_stacks_exact)
{
	struct ctr_run *r = fx_run();
	struct ctr_export_opts o;
	struct ctr_err e;
	char *s;

	ctr_export_opts_init(&o);
	FX_CAPTURE(s, ctr_export(out, r, CTR_EXPORT_FOLDED, &o, NULL, &e));
	cr_assert_str_eq(s, "main 100000000\n"
			    "main;fib 200000000\n"
			    "main;fib;fib 300000000\n"
			    "main;fib;fib;fib 100000000\n"
			    "main;load 40000000\n"
			    "main;load;" PUSH_NAME " 10000000\n"
			    "main;work 250000000\n"
			    "work 480000000\n"
			    "work;" PUSH_NAME " 20000000\n");
	free(s);
	o.thread_prefix = 1;
	o.raw_times = 1;
	FX_CAPTURE(s, ctr_export(out, r, CTR_EXPORT_FOLDED, &o, NULL, &e));
	cr_assert_not_null(strstr(s, "\nthread main (100);main;fib;fib 300002000\n"));
	cr_assert_not_null(strstr(s, "\nthread worker (101);work 480005000\n"));
	free(s);
	ctr_run_free(r);
}

Test(export, folded_merges_threads_and_sanitizes_names)
{
	struct ctr_run *r = fx_new("m", "m", 10);
	struct ctr_export_opts o;
	struct ctr_err e;
	char *s;

	fx_module(r, "/bin/m");
	fx_func(r, CTR_FN_FUNCTION, "a;b", "", 0);
	fx_thread(r, 1, "t1", 0, 10);
	fx_thread(r, 2, "t2", 0, 10);
	fx_node(r, CTR_NONE, 0, 0, 1, 5, 5, 5, 5);
	fx_node(r, CTR_NONE, 1, 0, 1, 7, 7, 7, 7);
	ctr_export_opts_init(&o);
	FX_CAPTURE(s, ctr_export(out, r, CTR_EXPORT_FOLDED, &o, NULL, &e));
	cr_assert_str_eq(s, "a:b 12\n");
	free(s);
	ctr_run_free(r);
}

static size_t count(const char *s, const char *needle)
{
	size_t n = 0;

	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

Test(export, svg_flame_graph_escaped)
{
	struct ctr_run *r = fx_run();
	struct ctr_export_opts o;
	struct ctr_err e;
	char *s;

	ctr_export_opts_init(&o);
	FX_CAPTURE(s, ctr_export(out, r, CTR_EXPORT_SVG, &o, NULL, &e));
	cr_assert_eq(strncmp(s, "<?xml", 5), 0);
	cr_assert_not_null(strstr(s, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
	cr_assert_not_null(strstr(s, "</svg>\n"));
	/* all + 9 frames with time; the zero-time mark is too narrow to draw. */
	cr_assert_eq(count(s, "<g class=\"f\">"), 10);
	cr_assert_eq(count(s, "<g "), count(s, "</g>"));
	cr_assert_eq(count(s, "<rect"), 11);
	cr_assert_eq(count(s, "<title>"), count(s, "</title>"));
	cr_assert_null(strstr(s, "<int>"));
	cr_assert_null(strstr(s, "const&)"));
	cr_assert_not_null(strstr(s, "<title>std::vector&lt;int&gt;::push_back(int const&amp;) "
				     "(20.0 ms, 1.33%"));
	cr_assert_not_null(strstr(s, "<title>fib (600 ms, 40.00%, self 200 ms)</title>"));
	cr_assert_not_null(strstr(s, ">main</text>"));
	free(s);
	ctr_run_free(r);
}

Test(export, html_self_contained_and_escaped)
{
	struct ctr_run *r = timeline_run();
	struct ctr_export_opts o;
	struct ctr_export_stats st;
	struct ctr_err e;
	char *s, *data, *end;

	free(r->command);
	r->command = strdup("./demo '</script><b>x</b>' & more");
	ctr_export_opts_init(&o);
	FX_CAPTURE(s, ctr_export(out, r, CTR_EXPORT_HTML, &o, &st, &e));
	cr_assert_eq(strncmp(s, "<!DOCTYPE html>", 15), 0);
	cr_assert_null(strstr(s, "http://") == NULL ? NULL : strstr(strstr(s, "http://"), "src="));
	cr_assert_null(strstr(s, "<link"));
	cr_assert_null(strstr(s, "<script src"));
	cr_assert_null(strstr(s, "<int>"));
	cr_assert_null(strstr(s, "<b>x"));
	cr_assert_eq(count(s, "</script>"), 2);
	cr_assert_not_null(strstr(s, "&lt;/script&gt;&lt;b&gt;x&lt;/b&gt;&#39; &amp; more"));
	cr_assert_not_null(strstr(s, "std::vector\\u003cint\\u003e::push_back(int const\\u0026)"));
	cr_assert_not_null(strstr(s, "Content-Security-Policy"));
	/* the whole timeline of both threads at the page's detail: nothing left out */
	cr_assert_eq(st.calls + st.short_calls, 8);
	/* The embedded data parses and names survive the escaping. */
	data = strstr(s, "<script type=\"application/json\" id=\"ctrace-data\">");
	cr_assert_not_null(data);
	data = strchr(data, '>') + 1;
	end = strstr(data, "</script>");
	*end = 0;
	{
		json_t *j = parse(data), *run = json_object_get(j, "run"), *fns, *tls;
		int found = 0;

		fns = json_object_get(run, "functions");
		for (size_t i = 0; i < json_array_size(fns); i++)
			found += !strcmp(
			    json_string_value(json_object_get(json_array_get(fns, i), "name")),
			    PUSH_NAME);
		cr_assert_eq(found, 1);
		cr_assert_eq(json_array_size(fns), 6);
		cr_assert_str_eq(json_string_value(json_object_get(run, "command")), r->command);
		tls = json_object_get(j, "timelines");
		cr_assert_eq(json_array_size(tls), 2);
		cr_assert_eq(json_array_size(json_object_get(json_array_get(tls, 0), "calls")), 5);
		cr_assert_eq(json_integer_value(json_object_get(j, "px")), CTR_VIEWER_STATIC_PX);
		json_decref(j);
	}
	free(s);
	ctr_run_free(r);
}

Test(export, json_whole_run)
{
	struct ctr_run *r = timeline_run();
	struct ctr_export_opts o;
	json_t *j, *n;

	ctr_export_opts_init(&o);
	j = export_json(r, CTR_EXPORT_JSON, &o, NULL);
	cr_assert_str_eq(json_string_value(json_object_get(j, "run_id")), r->id);
	cr_assert_str_eq(json_string_value(json_object_get(j, "format")), "ctrace-run/2");
	cr_assert(json_is_object(json_object_get(j, "metadata")));
	cr_assert_eq(json_array_size(json_object_get(j, "functions")), r->n_functions);
	cr_assert_eq(json_array_size(json_object_get(j, "nodes")), r->n_nodes);
	cr_assert_eq(json_array_size(json_object_get(j, "threads")), 2);
	cr_assert_eq(json_array_size(json_object_get(j, "attrs")), 2);
	cr_assert_eq(json_array_size(json_object_get(j, "processes")), 1);
	cr_assert_null(json_object_get(j, "chunks"));
	n = json_array_get(json_object_get(j, "nodes"), 2);
	cr_assert_eq(json_integer_value(json_object_get(n, "parent")), 1);
	cr_assert_eq(json_integer_value(json_object_get(n, "calls")), 2);
	cr_assert_eq(json_integer_value(json_object_get(n, "raw_self_ns")), 300 * MS + 2 * US);
	cr_assert(json_is_null(
	    json_object_get(json_array_get(json_object_get(j, "nodes"), 0), "parent")));
	json_decref(j);
	o.chunks = 1;
	j = export_json(r, CTR_EXPORT_JSON, &o, NULL);
	cr_assert_eq(json_array_size(json_object_get(j, "chunks")), r->n_chunks);
	cr_assert_gt(strlen(json_string_value(
			 json_object_get(json_array_get(json_object_get(j, "chunks"), 0), "data"))),
		     0);
	json_decref(j);
	ctr_run_free(r);
}

Test(export, escapers)
{
	char *s;
	size_t len;
	FILE *out = open_memstream(&s, &len);

	ctr_export_xml_escape(out, "a<b>&\"'");
	fputc('|', out);
	ctr_export_json_escape(out, "</script>\"\\\n\xe2\x80\xa8\xff");
	fclose(out);
	cr_assert_str_eq(
	    s, "a&lt;b&gt;&amp;&quot;&#39;|\\u003c/script\\u003e\\\"\\\\\\n\\u2028\\ufffd");
	free(s);
}

Test(export, format_names)
{
	cr_assert_eq(ctr_export_parse_format("chrome"), CTR_EXPORT_CHROME);
	cr_assert_eq(ctr_export_parse_format("otlp"), CTR_EXPORT_OTLP);
	cr_assert_eq(ctr_export_parse_format("pdf"), -1);
	cr_assert_eq(ctr_export_load_flags(CTR_EXPORT_FOLDED, NULL), 0);
	cr_assert_eq(ctr_export_load_flags(CTR_EXPORT_HTML, NULL), CTR_LOAD_TIMELINE);
}

/* ---- bounded memory: chunks through the options' fetch ---- */

struct held {
	const struct ctr_run *full; /* the same run with its chunks' data */
	size_t fetched;
};

static int fetch_from(void *arg, const struct ctr_chunk *c, unsigned char **data, size_t *size,
		      struct ctr_err *e)
{
	struct held *h = arg;

	(void)e;
	for (size_t i = 0; i < h->full->n_chunks; i++) {
		const struct ctr_chunk *f = &h->full->chunks[i];

		if (f->thread == c->thread && f->seq == c->seq) {
			*data = malloc(f->size);
			cr_assert_not_null(*data);
			memcpy(*data, f->data, f->size);
			*size = f->size;
			h->fetched++;
			return 0;
		}
	}
	return CTR_ENOTFOUND;
}

/* chrome, otlp and html over a run loaded with its chunk headers only (CTR_LOAD_CHUNK_INDEX,
 * as ctrace show loads a SQLite run) read every chunk through the fetch, one at a time, and
 * write exactly what they write from the run held whole. A thread of 150,000 calls: several
 * chunks. */
Test(export, timeline_exports_read_chunks_through_fetch)
{
	struct ctr_run *full = fx_new("20251121T000000-many01", "./many", 2000000);
	struct ctr_tl_writer *w;
	struct ctr_err e;
	static const int fmts[] = {CTR_EXPORT_CHROME, CTR_EXPORT_OTLP, CTR_EXPORT_HTML};

	fx_module(full, "/usr/local/bin/many");
	fx_func(full, CTR_FN_FUNCTION, "top", "m.c", 1);
	fx_func(full, CTR_FN_FUNCTION, "leaf", "m.c", 2);
	fx_thread(full, 9, "many", 0, 2000000);
	fx_node(full, CTR_NONE, 0, 0, 1, 2000000, 500000, 2000000, 2000000);
	fx_node(full, 0, 0, 1, 150000, 1500000, 1500000, 10, 10);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_tl_writer_open(&w, 0, fx_collect, full, &e), 0);
	cr_assert_eq(ctr_tl_enter(w, 0, 0, &e), 0);
	for (uint64_t i = 0; i < 150000; i++) {
		cr_assert_eq(ctr_tl_enter(w, 10 + 13 * i, 1, &e), 0);
		cr_assert_eq(ctr_tl_exit(w, 10 + 13 * i + 10, &e), 0);
	}
	cr_assert_eq(ctr_tl_exit(w, 2000000, &e), 0);
	cr_assert_eq(ctr_tl_writer_finish(w, &e), 0, "%s", e.msg);
	ctr_tl_writer_free(w);
	cr_assert_gt(full->n_chunks, 1, "want several chunks, got %zu", full->n_chunks);

	struct ctr_run *hdr = ctr_run_dup(full);

	cr_assert_not_null(hdr);
	for (size_t i = 0; i < hdr->n_chunks; i++) {
		free(hdr->chunks[i].data);
		hdr->chunks[i].data = NULL; /* size stays: the stored bytes */
	}
	for (size_t k = 0; k < sizeof(fmts) / sizeof(fmts[0]); k++) {
		struct ctr_export_opts o;
		struct held h = {full, 0};
		char *a, *b;

		ctr_export_opts_init(&o);
		o.max_events = 0; /* every call */
		FX_CAPTURE(a, ctr_export(out, full, fmts[k], &o, NULL, &e));
		o.fetch = fetch_from;
		o.fetch_arg = &h;
		FX_CAPTURE(b, ctr_export(out, hdr, fmts[k], &o, NULL, &e));
		cr_assert_str_eq(a, b, "format %d", fmts[k]);
		cr_assert_geq(h.fetched, full->n_chunks, "format %d: %zu fetches for %zu chunks",
			      fmts[k], h.fetched, full->n_chunks);
		free(a);
		free(b);
		/* without the fetch, a header-only run is an error, not a silent empty export */
		{
			size_t len;
			FILE *m = open_memstream(&b, &len);

			o.fetch = NULL;
			cr_assert_eq(ctr_export(m, hdr, fmts[k], &o, NULL, &e), CTR_EFORMAT,
				     "format %d", fmts[k]);
			fclose(m);
			free(b);
			ctr_err_clear(&e);
		}
	}
	ctr_run_free(hdr);
	ctr_run_free(full);
}
