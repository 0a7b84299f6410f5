/* SPDX-License-Identifier: MIT */
/*
 * Report view tests on a hand-built run with fixed times: exact aggregates (recursion not
 * counted twice, raw vs compensated), golden outputs of the flat, threads, tree, callers,
 * callees and diff views (tests/golden/, regenerate with CTR_UPDATE_GOLDEN=1 and review the
 * diff), the JSON form checked key by key, and errors for unknown functions and corrupt trees.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report-fixture.h"
#include "scratch.h"
#include "tools/view/report.h"

static void opts(struct ctr_report_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->top = 30;
	o->min_percent = 0.5;
	o->ascii = 1;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;
	FILE *m;
	int c;

	if (!f)
		return NULL;
	m = open_memstream(&buf, &len);
	while ((c = fgetc(f)) != EOF)
		fputc(c, m);
	fclose(m);
	fclose(f);
	return buf;
}

/* Compares @got with tests/golden/@name; CTR_UPDATE_GOLDEN=1 rewrites the file instead. */
static void golden(const char *name, const char *got)
{
	char src[] = __FILE__, path[4096];
	char *want;

	snprintf(path, sizeof(path), "%s/../golden/%s", dirname(src), name);
	if (getenv("CTR_UPDATE_GOLDEN")) {
		FILE *f = fopen(path, "w");

		cr_assert_not_null(f, "cannot write %s", path);
		fputs(got, f);
		fclose(f);
		return;
	}
	want = slurp(path);
	cr_assert_not_null(want, "missing golden file %s (CTR_UPDATE_GOLDEN=1 creates it)", path);
	cr_assert_str_eq(got, want, "output differs from %s:\n--- got ---\n%s", path, got);
	free(want);
}

static const struct ctr_prof_entry *find(const struct ctr_run *r, const struct ctr_prof_entry *rows,
					 size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(r->functions[rows[i].function].name, name))
			return &rows[i];
	return NULL;
}

Test(report, profile_aggregates_without_double_counting_recursion)
{
	struct ctr_run *r = fx_run();
	struct ctr_prof_entry *rows;
	const struct ctr_prof_entry *p;
	struct ctr_err e;
	size_t n;

	ctr_err_clear(&e);
	cr_assert_eq(ctr_report_profile(r, CTR_NONE, 0, &rows, &n, &e), 0);
	cr_assert_eq(n, 6);
	p = find(r, rows, n, "fib");
	cr_assert_not_null(p);
	cr_assert_eq(p->calls, 7);
	cr_assert_eq(p->total_ns, 600 * MS, "recursive total counted once: %llu",
		     (unsigned long long)p->total_ns);
	cr_assert_eq(p->self_ns, 600 * MS);
	cr_assert_eq(p->min_ns, 20 * MS);
	cr_assert_eq(p->max_ns, 600 * MS);
	p = find(r, rows, n, "work");
	cr_assert_eq(p->calls, 15);
	cr_assert_eq(p->total_ns, 750 * MS);
	cr_assert_eq(p->self_ns, 730 * MS);
	cr_assert_eq(p->min_ns, 20 * MS);
	cr_assert_eq(p->max_ns, 110 * MS);
	p = find(r, rows, n, PUSH_NAME);
	cr_assert_eq(p->calls, 3000);
	cr_assert_eq(p->total_ns, 30 * MS);
	cr_assert_eq(p->min_ns, 5 * US);
	ctr_report_sort(r, rows, n, CTR_SORT_SELF);
	cr_assert_str_eq(r->functions[rows[0].function].name, "work");
	cr_assert_str_eq(r->functions[rows[1].function].name, "fib");
	cr_assert_str_eq(r->functions[rows[5].function].name, "checkpoint");
	ctr_report_sort(r, rows, n, CTR_SORT_CALLS);
	cr_assert_str_eq(r->functions[rows[0].function].name, PUSH_NAME);
	ctr_report_sort(r, rows, n, CTR_SORT_TOTAL);
	cr_assert_str_eq(r->functions[rows[0].function].name, "main");
	free(rows);

	/* One thread, raw figures. */
	cr_assert_eq(ctr_report_profile(r, 1, 1, &rows, &n, &e), 0);
	cr_assert_eq(n, 3);
	p = find(r, rows, n, "work");
	cr_assert_eq(p->calls, 5);
	cr_assert_eq(p->total_ns, 500 * MS + 5 * US);
	cr_assert_eq(p->self_ns, 480 * MS + 5 * US);
	cr_assert_eq(p->max_ns, 110 * MS + US);
	free(rows);
	cr_assert_eq(ctr_report_calls(r), 7 + 15 + 1 + 3000);
	ctr_run_free(r);
}

Test(report, recursion_through_another_function_counts_outer_total_only)
{
	/* a -> b -> a -> b: a's total is the outer a's only, b's the outer b's only. */
	struct ctr_run *r = fx_new("rec", "rec", 100);
	struct ctr_prof_entry *rows;
	struct ctr_err e;
	size_t n;
	uint32_t a1, b1, a2;

	fx_module(r, "/bin/rec");
	fx_func(r, CTR_FN_FUNCTION, "a", "", 0);
	fx_func(r, CTR_FN_FUNCTION, "b", "", 0);
	fx_thread(r, 1, "t", 0, 100);
	a1 = fx_node(r, CTR_NONE, 0, 0, 1, 100, 10, 100, 100);
	b1 = fx_node(r, a1, 0, 1, 1, 90, 20, 90, 90);
	a2 = fx_node(r, b1, 0, 0, 1, 70, 30, 70, 70);
	fx_node(r, a2, 0, 1, 1, 40, 40, 40, 40);
	cr_assert_eq(ctr_report_profile(r, CTR_NONE, 0, &rows, &n, &e), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(find(r, rows, n, "a")->total_ns, 100);
	cr_assert_eq(find(r, rows, n, "a")->self_ns, 40);
	cr_assert_eq(find(r, rows, n, "b")->total_ns, 90);
	cr_assert_eq(find(r, rows, n, "b")->self_ns, 60);
	cr_assert_eq(find(r, rows, n, "b")->calls, 2);
	free(rows);
	ctr_run_free(r);
}

Test(report, flat_golden)
{
	struct ctr_run *r = fx_run();
	struct ctr_report_opts o;
	struct ctr_err e;
	char *s;

	ctr_err_clear(&e);
	opts(&o);
	FX_CAPTURE(s, ctr_report_flat(out, r, &o, &e));
	golden("flat.txt", s);
	free(s);
	o.sort = CTR_SORT_CALLS;
	o.top = 2;
	FX_CAPTURE(s, ctr_report_flat(out, r, &o, &e));
	golden("flat-calls-top2.txt", s);
	free(s);
	opts(&o);
	o.function = "std::*";
	o.raw_times = 1;
	FX_CAPTURE(s, ctr_report_flat(out, r, &o, &e));
	golden("flat-glob-raw.txt", s);
	free(s);
	ctr_run_free(r);
}

Test(report, header_warns_about_lost_events_and_crash)
{
	struct ctr_run *r = fx_run();
	struct ctr_report_opts o;
	struct ctr_err e;
	char *s;

	opts(&o);
	r->lost_events = 1234;
	r->crashed = 1;
	r->signal = 11;
	FX_CAPTURE(s, ctr_report_header(out, r, &o, &e));
	cr_assert_str_eq(s, "run 20251121T000000-abc123 './demo --fib 30' 1.00 s, 2 threads, "
			    "3023 calls\nWARNING: 1234 events lost\nCRASHED: SIGSEGV\n");
	free(s);
	ctr_run_free(r);
}

/* The drainer's waits (run.meta drain_waits, written by ctrace record) are said in the header of
 * every view; none, or 0, says nothing. */
Test(report, header_counts_drain_waits)
{
	struct ctr_run *r = fx_run();
	struct ctr_report_opts o;
	struct ctr_err e;
	char *s;

	opts(&o);
	fx_meta(r, "drain_waits", "0");
	FX_CAPTURE(s, ctr_report_header(out, r, &o, &e));
	cr_assert_eq(strstr(s, "drainer"), NULL, "%s", s);
	free(s);
	free(r->meta[r->n_meta - 1].value);
	r->meta[r->n_meta - 1].value = strdup("1234");
	FX_CAPTURE(s, ctr_report_header(out, r, &o, &e));
	cr_assert_str_eq(s, "run 20251121T000000-abc123 './demo --fib 30' 1.00 s, 2 threads, "
			    "3023 calls\nrecorder: the program waited 1234 times for the drainer "
			    "(ring full); the waits are compensated\n");
	free(s);
	ctr_run_free(r);
}

Test(report, threads_golden)
{
	struct ctr_run *r = fx_run();
	struct ctr_report_opts o;
	struct ctr_err e;
	char *s;

	opts(&o);
	FX_CAPTURE(s, ctr_report_threads(out, r, &o, &e));
	golden("threads.txt", s);
	free(s);
	ctr_run_free(r);
}

Test(report, tree_golden)
{
	struct ctr_run *r = fx_run();
	struct ctr_report_opts o;
	struct ctr_err e;
	char *s;

	opts(&o);
	FX_CAPTURE(s, ctr_report_tree(out, r, &o, &e));
	golden("tree-ascii.txt", s);
	free(s);
	o.ascii = 0;
	FX_CAPTURE(s, ctr_report_tree(out, r, &o, &e));
	golden("tree-utf8.txt", s);
	free(s);
	/* Depth 2 and a 5% threshold hide the deep fib, push_back and the mark. */
	o.ascii = 1;
	o.depth = 2;
	o.min_percent = 5;
	FX_CAPTURE(s, ctr_report_tree(out, r, &o, &e));
	golden("tree-depth2-min5.txt", s);
	cr_assert_null(strstr(s, "push_back"));
	cr_assert_not_null(strstr(s, "subtrees hidden"));
	free(s);
	ctr_run_free(r);
}

Test(report, callers_and_callees_golden)
{
	struct ctr_run *r = fx_run();
	struct ctr_report_opts o;
	struct ctr_err e;
	char *s;

	opts(&o);
	o.no_header = 1;
	FX_CAPTURE(s, ctr_report_callers(out, r, &o, "fib", 0, &e));
	golden("callers-fib.txt", s);
	free(s);
	FX_CAPTURE(s, ctr_report_callers(out, r, &o, "std::vector*", 0, &e));
	golden("callers-push-back.txt", s);
	free(s);
	FX_CAPTURE(s, ctr_report_callers(out, r, &o, "main", 1, &e));
	golden("callees-main.txt", s);
	free(s);
	ctr_run_free(r);
}

Test(report, callers_of_unknown_function_is_not_found)
{
	struct ctr_run *r = fx_run();
	struct ctr_report_opts o;
	struct ctr_err e;
	char *buf = NULL;
	size_t len;
	FILE *out = open_memstream(&buf, &len);

	opts(&o);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_report_callers(out, r, &o, "nosuch", 0, &e), CTR_ENOTFOUND);
	cr_assert_eq(e.code, CTR_ENOTFOUND);
	cr_assert_not_null(strstr(e.msg, "'nosuch'"));
	fclose(out);
	free(buf);
	ctr_run_free(r);
}

Test(report, corrupt_tree_is_a_format_error)
{
	struct ctr_run *r = fx_run();
	struct ctr_report_opts o;
	struct ctr_err e;
	char *buf = NULL;
	size_t len;
	FILE *out = open_memstream(&buf, &len);

	opts(&o);
	ctr_err_clear(&e);
	r->nodes[1].parent = 5; /* a child before its parent */
	cr_assert_eq(ctr_report_flat(out, r, &o, &e), CTR_EFORMAT);
	cr_assert_eq(e.code, CTR_EFORMAT);
	ctr_err_clear(&e);
	r->nodes[1].parent = 0;
	r->nodes[1].function = 99;
	cr_assert_eq(ctr_report_tree(out, r, &o, &e), CTR_EFORMAT);
	fclose(out);
	free(buf);
	ctr_run_free(r);
}

static json_t *obj_get(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	cr_assert_not_null(v, "missing key '%s'", key);
	return v;
}

Test(report, json_schema_and_values)
{
	struct ctr_run *r = fx_run();
	struct ctr_report_opts o;
	struct ctr_err e;
	json_error_t je;
	json_t *j, *funcs, *f, *attrs, *th;
	char *s;

	opts(&o);
	o.threads = 1;
	o.tree = 1;
	FX_CAPTURE(s, ctr_report_json(out, r, &o, &e));
	j = json_loads(s, 0, &je);
	cr_assert_not_null(j, "invalid JSON: %s", je.text);
	cr_assert_str_eq(json_string_value(obj_get(j, "run_id")), "20251121T000000-abc123");
	cr_assert_str_eq(json_string_value(obj_get(j, "command")), "./demo --fib 30");
	cr_assert_eq(json_integer_value(obj_get(j, "duration_ns")), 1000 * MS);
	cr_assert(json_is_integer(obj_get(j, "exit_status")));
	cr_assert_eq(json_integer_value(obj_get(j, "signal")), 0);
	cr_assert_eq(json_integer_value(obj_get(j, "events")), 6043);
	cr_assert_eq(json_integer_value(obj_get(j, "lost_events")), 0);
	cr_assert_str_eq(json_string_value(json_object_get(obj_get(j, "metadata"), "build")),
			 "release");
	cr_assert_eq(json_array_size(obj_get(j, "threads")), 2);
	funcs = obj_get(j, "functions");
	cr_assert_eq(json_array_size(funcs), 6);
	f = json_array_get(funcs, 0);
	cr_assert_str_eq(json_string_value(obj_get(f, "name")), "work");
	cr_assert_str_eq(json_string_value(obj_get(f, "module")), "/usr/local/bin/demo");
	cr_assert_str_eq(json_string_value(obj_get(f, "file")), "work.c");
	cr_assert_eq(json_integer_value(obj_get(f, "line")), 7);
	cr_assert_eq(json_integer_value(obj_get(f, "calls")), 15);
	cr_assert_eq(json_integer_value(obj_get(f, "total_ns")), 750 * MS);
	cr_assert_eq(json_integer_value(obj_get(f, "self_ns")), 730 * MS);
	cr_assert_eq(json_integer_value(obj_get(f, "min_ns")), 20 * MS);
	cr_assert_eq(json_integer_value(obj_get(f, "max_ns")), 110 * MS);
	cr_assert_str_eq(json_string_value(obj_get(f, "kind")), "function");
	/* The span: kind, null module, attributes. */
	f = NULL;
	for (size_t i = 0; i < json_array_size(funcs); i++)
		if (!strcmp(json_string_value(json_object_get(json_array_get(funcs, i), "name")),
			    "load"))
			f = json_array_get(funcs, i);
	cr_assert_not_null(f);
	cr_assert_str_eq(json_string_value(obj_get(f, "kind")), "span");
	cr_assert(json_is_null(obj_get(f, "module")));
	attrs = obj_get(f, "attributes");
	cr_assert_eq(json_array_size(attrs), 2);
	cr_assert_str_eq(json_string_value(obj_get(json_array_get(attrs, 0), "key")), "file");
	cr_assert_str_eq(json_string_value(obj_get(json_array_get(attrs, 0), "value")),
			 "data<1>.bin");
	/* Per-thread profiles and the nested tree. */
	th = json_array_get(obj_get(j, "threads"), 1);
	cr_assert_eq(json_integer_value(obj_get(th, "tid")), 101);
	cr_assert_eq(json_array_size(obj_get(th, "functions")), 3);
	th = json_array_get(obj_get(j, "threads"), 0);
	{
		json_t *root = json_array_get(obj_get(th, "tree"), 0), *kids, *fib;

		cr_assert_str_eq(json_string_value(obj_get(root, "name")), "main");
		kids = obj_get(root, "children");
		cr_assert_eq(json_array_size(kids), 3);
		fib = json_array_get(kids, 0);
		cr_assert_str_eq(json_string_value(obj_get(fib, "name")), "fib");
		cr_assert_eq(json_integer_value(obj_get(fib, "total_ns")), 600 * MS);
		cr_assert_eq(json_array_size(obj_get(json_array_get(kids, 2), "attributes")), 2);
	}
	json_decref(j);
	free(s);
	ctr_run_free(r);
}

/* B: fib got faster, work is gone, a new function appears, push_back doubled. */
static struct ctr_run *fx_run_b(void)
{
	struct ctr_run *r = fx_new("20251122T000000-def456", "./demo --fib 30", 800 * MS);
	uint32_t n_main, n_fib;

	fx_module(r, "/opt/other/demo"); /* same basename: functions still match */
	fx_func(r, CTR_FN_FUNCTION, "main", "demo.c", 10);
	fx_func(r, CTR_FN_FUNCTION, "fib", "fib.c", 3);
	fx_func(r, CTR_FN_FUNCTION, PUSH_NAME, "", 0);
	fx_func(r, CTR_FN_FUNCTION, "fast_path", "fast.c", 1);
	fx_thread(r, 200, "main", 0, 800 * MS);
	n_main = fx_node(r, CTR_NONE, 0, 0, 1, 800 * MS, 100 * MS, 800 * MS, 800 * MS);
	n_fib = fx_node(r, n_main, 0, 1, 1, 300 * MS, 300 * MS, 300 * MS, 300 * MS);
	(void)n_fib;
	fx_node(r, n_main, 0, 2, 6000, 60 * MS, 60 * MS, 5 * US, 20 * US);
	fx_node(r, n_main, 0, 3, 3, 340 * MS, 340 * MS, 100 * MS, 120 * MS);
	return r;
}

Test(report, diff_golden_and_json)
{
	struct ctr_run *a = fx_run(), *b = fx_run_b();
	struct ctr_report_opts o;
	struct ctr_err e;
	json_error_t je;
	json_t *j, *funcs, *f;
	char *s;

	opts(&o);
	FX_CAPTURE(s, ctr_report_diff(out, a, b, &o, 0, &e));
	golden("diff.txt", s);
	free(s);
	FX_CAPTURE(s, ctr_report_diff(out, a, b, &o, 1, &e));
	j = json_loads(s, 0, &je);
	cr_assert_not_null(j, "invalid JSON: %s", je.text);
	funcs = obj_get(j, "functions");
	cr_assert_eq(json_array_size(funcs), 7);
	/* Largest absolute self change first: work -730 ms. */
	f = json_array_get(funcs, 0);
	cr_assert_str_eq(json_string_value(obj_get(f, "name")), "work");
	cr_assert_str_eq(json_string_value(obj_get(f, "status")), "removed");
	cr_assert_eq(json_integer_value(obj_get(f, "self_ns_change")), -(json_int_t)(730 * MS));
	f = json_array_get(funcs, 1);
	cr_assert_str_eq(json_string_value(obj_get(f, "name")), "fast_path");
	cr_assert_str_eq(json_string_value(obj_get(f, "status")), "new");
	f = json_array_get(funcs, 2);
	cr_assert_str_eq(json_string_value(obj_get(f, "name")), "fib");
	cr_assert_str_eq(json_string_value(obj_get(f, "status")), "changed");
	cr_assert_eq(json_integer_value(obj_get(f, "calls_a")), 7);
	cr_assert_eq(json_integer_value(obj_get(f, "calls_b")), 1);
	cr_assert_eq(json_integer_value(obj_get(f, "self_ns_change")), -(json_int_t)(300 * MS));
	cr_assert_float_eq(json_real_value(obj_get(f, "self_change_percent")), -50.0, 1e-9);
	cr_assert_eq(json_integer_value(obj_get(j, "duration_ns_change")), -(json_int_t)(200 * MS));
	json_decref(j);
	free(s);
	ctr_run_free(a);
	ctr_run_free(b);
}

/* A function is "same" when its calls and its time per call match, "changed" otherwise; every
 * row carries the per-call times. */
Test(report, diff_same_and_per_call)
{
	struct ctr_run *a = fx_run(), *b = fx_run_b();
	struct ctr_report_opts o;
	struct ctr_err e;
	json_t *j, *funcs;
	char *s;

	opts(&o);
	FX_CAPTURE(s, ctr_report_diff(out, a, a, &o, 1, &e));
	j = json_loads(s, 0, NULL);
	cr_assert_not_null(j);
	funcs = obj_get(j, "functions");
	cr_assert_gt(json_array_size(funcs), 0);
	for (size_t i = 0; i < json_array_size(funcs); i++)
		cr_expect_str_eq(json_string_value(obj_get(json_array_get(funcs, i), "status")),
				 "same", "row %zu", i);
	cr_assert_null(json_object_get(j, "hint"));
	json_decref(j);
	free(s);
	FX_CAPTURE(s, ctr_report_diff(out, a, b, &o, 1, &e));
	j = json_loads(s, 0, NULL);
	funcs = obj_get(j, "functions");
	for (size_t i = 0; i < json_array_size(funcs); i++) {
		json_t *f = json_array_get(funcs, i);
		const char *name = json_string_value(obj_get(f, "name"));

		if (!strcmp(name, "std::vector<int>::push_back(int const&)")) {
			/* twice the calls at the same 10 us each: changed, per call +0% */
			cr_expect_str_eq(json_string_value(obj_get(f, "status")), "changed");
			cr_expect_eq(json_integer_value(obj_get(f, "per_call_ns_a")), 10 * US);
			cr_expect_eq(json_integer_value(obj_get(f, "per_call_ns_b")), 10 * US);
			cr_expect_float_eq(json_real_value(obj_get(f, "per_call_change_percent")),
					   0.0, 1e-9);
		}
	}
	json_decref(j);
	free(s);
	ctr_run_free(a);
	ctr_run_free(b);
}

/* The same program run from another path pairs nothing by module: the diff says so and names
 * --match name, which pairs them. */
Test(report, diff_hints_match_name_when_nothing_pairs)
{
	struct ctr_run *a = fx_run(), *b = fx_run_b();
	struct ctr_report_opts o;
	struct ctr_err e;
	json_t *j;
	char *s;

	free(b->modules[0].path);
	b->modules[0].path = strdup("/home/me/build2/demo2");
	b->procs = calloc(1, sizeof(*b->procs));
	b->procs[0] = (struct ctr_process){.pid = 200, .exe = strdup("/home/me/build2/demo2")};
	b->n_procs = 1;
	opts(&o);
	FX_CAPTURE(s, ctr_report_diff(out, a, b, &o, 0, &e));
	cr_assert_not_null(strstr(s,
				  "hint: no function is in both runs under the same module (A ran "
				  "'demo', B 'demo2'); --match name pairs functions by name alone "
				  "(3 would pair)\n"),
			   "%s", s);
	free(s);
	FX_CAPTURE(s, ctr_report_diff(out, a, b, &o, 1, &e));
	j = json_loads(s, 0, NULL);
	cr_assert_not_null(strstr(json_string_value(obj_get(j, "hint")), "--match name"));
	json_decref(j);
	free(s);
	o.match_name = 1;
	FX_CAPTURE(s, ctr_report_diff(out, a, b, &o, 0, &e));
	cr_assert_null(strstr(s, "hint:"), "%s", s);
	free(s);
	ctr_run_free(a);
	ctr_run_free(b);
}

Test(report, summary_lists_header_processes_and_backtrace)
{
	struct ctr_run *r = fx_run();
	struct ctr_err e;
	char *s;

	r->crashed = 1;
	r->signal = 11;
	r->lost_events = 5;
	r->procs[0].crashed = 1;
	r->procs[0].signal = 11;
	r->procs[0].backtrace = strdup("#0 crash at demo.c:12\n#1 main at demo.c:30");
	FX_CAPTURE(s, ctr_report_summary(out, r, &e));
	golden("summary.txt", s);
	cr_assert_not_null(strstr(s, "killed by SIGSEGV (CRASHED)"));
	cr_assert_not_null(strstr(s, "  #1 main at demo.c:30\n"));
	free(s);
	ctr_run_free(r);
}

Test(report, empty_run_prints_no_calls)
{
	struct ctr_run *r = fx_new("empty", "true", 0);
	struct ctr_report_opts o;
	struct ctr_err e;
	char *s;

	opts(&o);
	FX_CAPTURE(s, ctr_report_flat(out, r, &o, &e));
	cr_assert_str_eq(s, "run empty 'true' 0 ns, 0 threads, 0 calls\n\nno calls recorded\n");
	free(s);
	ctr_run_free(r);
}

Test(report, count_format)
{
	char b[32];

	ctr_fmt_count(b, sizeof(b), 9999);
	cr_assert_str_eq(b, "9999");
	ctr_fmt_count(b, sizeof(b), 12345);
	cr_assert_str_eq(b, "12.3 k");
	ctr_fmt_count(b, sizeof(b), 2600000);
	cr_assert_str_eq(b, "2.6 M");
	ctr_fmt_count(b, sizeof(b), 1100000000);
	cr_assert_str_eq(b, "1.1 G");
}

/* The commands end to end through a SQLite store holding the fixture run. */
static char store_conn[512];

static void save_fixture(void)
{
	struct ctr_run *r = fx_run();
	struct ctr_store *s;
	struct ctr_err e;
	char dir[256];

	ctr_ut_mkdtemp(dir, sizeof(dir), "ctr-report");
	snprintf(store_conn, sizeof(store_conn), "sqlite:%s/t.db", dir);
	ctr_err_clear(&e);
	fx_timeline(r);
	cr_assert_eq(ctr_store_open(&s, store_conn, &e), 0, "%s", e.msg);
	cr_assert_eq(ctr_store_save(s, r, &e), 0, "%s", e.msg);
	ctr_store_close(s);
	ctr_run_free(r);
}

static int cmd(int (*fn)(int, char **), char **out_text, ...)
{
	char *argv[32], path[600];
	int argc = 0, status;
	va_list ap;

	snprintf(path, sizeof(path), "%s.out", store_conn + strlen("sqlite:"));
	va_start(ap, out_text);
	for (char *a; (a = va_arg(ap, char *));)
		argv[argc++] = a;
	va_end(ap);
	argv[argc++] = "--store";
	argv[argc++] = store_conn;
	argv[argc++] = "--out";
	argv[argc++] = path;
	argv[argc] = NULL;
	unlink(path);
	status = fn(argc, argv);
	*out_text = slurp(path);
	return status;
}

Test(report_cmd, report_and_show_commands)
{
	char *s;

	save_fixture();
	cr_assert_eq(cmd(ctr_cmd_report, &s, "ctrace-report", NULL), 0);
	cr_assert_not_null(s);
	cr_assert_not_null(strstr(s, "run 20251121T000000-abc123 './demo --fib 30'"));
	cr_assert_not_null(strstr(s, "  work\n"));
	free(s);
	/* Options after the run spec; prefix resolution; sort and top. */
	cr_assert_eq(cmd(ctr_cmd_report, &s, "ctrace-report", "20251121", "--sort", "calls",
			 "--top", "1", "--no-header", NULL),
		     0);
	/* C++ names are shortened in text views; --full-names shows the stored one */
	cr_assert_not_null(strstr(s, "std::vector<...>::push_back\n... 5 more"), "%s", s);
	free(s);
	cr_assert_eq(cmd(ctr_cmd_report, &s, "ctrace-report", "20251121", "--sort", "calls",
			 "--top", "1", "--no-header", "--full-names", NULL),
		     0);
	cr_assert_not_null(strstr(s, "std::vector<int>::push_back(int const&)\n... 5 more"));
	free(s);
	cr_assert_eq(
	    cmd(ctr_cmd_report, &s, "ctrace-report", "--tree", "--ascii", "--depth", "1", NULL), 0);
	cr_assert_not_null(strstr(s, "  main\n"));
	cr_assert_null(strstr(s, "|- fib"));
	free(s);
	cr_assert_eq(cmd(ctr_cmd_report, &s, "ctrace-report", "--callees", "fib", NULL), 0);
	cr_assert_not_null(strstr(s, "callees of 'fib'"));
	free(s);
	cr_assert_eq(cmd(ctr_cmd_report, &s, "ctrace-report", "--format", "folded", NULL), 0);
	cr_assert_not_null(strstr(s, "main;fib;fib 300000000\n"));
	free(s);
	cr_assert_eq(cmd(ctr_cmd_show, &s, "show", "latest", NULL), 0);
	cr_assert_not_null(strstr(s, "run       20251121T000000-abc123\n"));
	free(s);
	cr_assert_eq(cmd(ctr_cmd_show, &s, "show", "--format", "chrome", "--max-events", "4", NULL),
		     0);
	cr_assert_not_null(strstr(s, "\"left_out_limit\":"));
	free(s);
	/* Errors: usage (2) and not found (1). */
	cr_assert_eq(cmd(ctr_cmd_report, &s, "ctrace-report", "--sort", "bogus", NULL), 2);
	free(s);
	cr_assert_eq(cmd(ctr_cmd_show, &s, "show", "--format", "pdf", NULL), 2);
	free(s);
	cr_assert_eq(cmd(ctr_cmd_report, &s, "ctrace-report", "nosuchrun", NULL), 1);
	free(s);
	cr_assert_eq(cmd(ctr_cmd_report, &s, "ctrace-report", "--callers", "nosuch", NULL), 1);
	free(s);
	cr_assert_eq(cmd(ctr_cmd_report, &s, "ctrace-report", "a", "b", NULL), 2);
	free(s);
	{
		char path[600], *dir = strdup(store_conn + strlen("sqlite:"));

		snprintf(path, sizeof(path), "%s.out", dir);
		unlink(path);
		unlink(dir);
		rmdir(dirname(dir));
		free(dir);
	}
}

/* --function, --slowest and the other name options take a C++ function by its full name, its
 * qualified name with, folded or without template arguments, and any trailing scope of those. */
Test(report, name_match_takes_the_forms_people_write)
{
	struct ctr_run *r = fx_new("20251121T000000-abc123", "./app", 1 * MS);
	uint32_t sum = fx_func(r, CTR_FN_FUNCTION, "int app::sum<int>(int, int)", "a.cc", 1);
	uint32_t size = fx_func(r, CTR_FN_FUNCTION, "app::Slice::size() const", "a.cc", 2);
	uint32_t c = fx_func(r, CTR_FN_FUNCTION, "summary", "b.c", 3);
	const char *yes_sum[] = {"int app::sum<int>(int, int)",
				 "app::sum<int>",
				 "app::sum<...>",
				 "app::sum",
				 "sum",
				 "sum<int>",
				 "sum<...>",
				 "app::su*",
				 "s?m"};
	const char *no_sum[] = {"pp::sum", "um", "app::sum<long>", "Sum"};

	fx_module(r, "/bin/app");
	for (size_t i = 0; i < sizeof(yes_sum) / sizeof(yes_sum[0]); i++)
		cr_expect(ctr_report_name_match(r, sum, yes_sum[i]), "'%s' should match",
			  yes_sum[i]);
	for (size_t i = 0; i < sizeof(no_sum) / sizeof(no_sum[0]); i++)
		cr_expect(!ctr_report_name_match(r, sum, no_sum[i]), "'%s' should not match",
			  no_sum[i]);
	cr_expect(ctr_report_name_match(r, size, "Slice::size"));
	cr_expect(ctr_report_name_match(r, size, "size"));
	cr_expect(ctr_report_name_match(r, size, "app::Slice::size() const"));
	cr_expect(!ctr_report_name_match(r, size, "Slice"));
	cr_expect(ctr_report_name_match(r, c, "summary"));
	cr_expect(!ctr_report_name_match(r, c, "mary"), "a C name matches as stored");
	ctr_run_free(r);
}

/* A 100-deep chain in --tree --json: "tree" nests CTR_REPORT_JSON_LEVELS levels, the node of the
 * last level carries "deeper": its id, and "subtrees" continue it, each the same way, so that
 * every node is there once and nothing nests deeper than the limit; --depth still cuts. */
Test(report, json_tree_nesting_is_bounded_and_continues_in_subtrees)
{
	enum { DEPTH = 100 };
	struct ctr_run *r = fx_new("20251121T000000-deep00", "./deep", 1000 * MS);
	struct ctr_report_opts o;
	struct ctr_err e;
	json_error_t je;
	uint32_t parent = CTR_NONE;
	json_t *j, *th, *subs, *level;
	size_t seen = 0, n_subs;
	char *s;

	fx_module(r, "/bin/deep");
	fx_func(r, CTR_FN_FUNCTION, "rec", "deep.c", 3);
	fx_thread(r, 1, "deep", 0, 1000 * MS);
	for (uint32_t d = 0; d < DEPTH; d++)
		parent = fx_node(r, parent, 0, 0, 1, (DEPTH - d) * MS, MS, (DEPTH - d) * MS,
				 (DEPTH - d) * MS);
	opts(&o);
	o.tree = 1;
	o.min_percent = 0;
	o.compact = 1;
	FX_CAPTURE(s, ctr_report_json(out, r, &o, &e));
	cr_assert_eq(strchr(s, '\n'), s + strlen(s) - 1, "compact JSON is one line");
	j = json_loads(s, 0, &je);
	cr_assert_not_null(j, "invalid JSON: %s", je.text);
	th = json_array_get(json_object_get(j, "threads"), 0);
	subs = json_object_get(th, "subtrees");
	n_subs = json_array_size(subs);
	cr_assert_eq(n_subs, (DEPTH - 1) / CTR_REPORT_JSON_LEVELS, "subtrees: %zu", n_subs);
	level = json_object_get(th, "tree");
	for (size_t sub = 0;;) {
		json_t *n = json_array_get(level, 0), *deeper;

		cr_assert_eq(json_array_size(level), 1);
		cr_assert_eq(json_integer_value(json_object_get(n, "total_ns")),
			     (json_int_t)((DEPTH - seen) * MS));
		seen++;
		if ((level = json_object_get(n, "children")))
			continue;
		if (!(deeper = json_object_get(n, "deeper")))
			break;
		cr_assert_eq(seen % CTR_REPORT_JSON_LEVELS, 0, "cut after %zu levels", seen);
		cr_assert_lt(sub, n_subs);
		cr_assert_eq(json_integer_value(json_object_get(json_array_get(subs, sub), "node")),
			     json_integer_value(deeper), "subtree %zu continues the cut node", sub);
		level = json_object_get(json_array_get(subs, sub++), "children");
	}
	cr_assert_eq(seen, DEPTH, "every node once: %zu", seen);
	json_decref(j);
	free(s);

	o.depth = 40; /* --depth 40: the first subtree stops at level 40 */
	FX_CAPTURE(s, ctr_report_json(out, r, &o, &e));
	j = json_loads(s, 0, &je);
	cr_assert_not_null(j, "invalid JSON: %s", je.text);
	th = json_array_get(json_object_get(j, "threads"), 0);
	subs = json_object_get(th, "subtrees");
	cr_assert_eq(json_array_size(subs), 1);
	level = json_object_get(json_array_get(subs, 0), "children");
	for (seen = CTR_REPORT_JSON_LEVELS; level; seen++)
		level = json_object_get(json_array_get(level, 0), "children");
	cr_assert_eq(seen, 40, "--depth 40 shows 40 levels: %zu", seen);
	json_decref(j);
	free(s);
	ctr_run_free(r);
}
