/* SPDX-License-Identifier: MIT */
/*
 * The reading views on the hand-built run of report-fixture.h (fixed times, so no masking):
 * golden outputs of --graph, --slowest and replay (tests/golden/views-*.txt, regenerate with
 * CTR_UPDATE_GOLDEN=1 and review the diff), recursion counted once, not-found errors printing
 * nothing, and a timeline read chunk by chunk from a SQLite store giving the same replay as the
 * loaded one.
 */
#include <libgen.h>
#include <unistd.h>

#include "report-fixture.h"
#include "scratch.h"
#include "store/store.h"
#include "tools/view/calls.h"
#include "tools/view/graph.h"
#include "tools/view/report.h"

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

static struct ctr_report_opts opts(void)
{
	struct ctr_report_opts o;

	memset(&o, 0, sizeof(o));
	o.ascii = 1;
	return o;
}

Test(views, graph_golden_and_recursion_once)
{
	struct ctr_run *r = fx_run();
	struct ctr_report_opts o = opts();
	struct ctr_err e;
	char *s;

	ctr_err_clear(&e);
	FX_CAPTURE(s, ctr_report_graph(out, r, &o, "fib", &e));
	/* fib: the outermost call's 600 ms once, not 600 + 400 + 100 */
	cr_assert_not_null(strstr(s, "graph of fib: 1 outermost calls, total 600 ms (6 recursive"),
			   "%s", s);
	golden("views-graph-fib.txt", s);
	free(s);
	FX_CAPTURE(s, ctr_report_graph(out, r, &o, "*push_back*", &e));
	golden("views-graph-push.txt", s);
	free(s);
	ctr_run_free(r);
}

Test(views, not_found_prints_nothing)
{
	struct ctr_run *r = fx_run();
	struct ctr_report_opts o = opts();
	struct ctr_calls_src src = {r, NULL};
	struct ctr_replay_opts ro = {.tid = 999};
	struct ctr_err e;
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	ctr_err_clear(&e);
	cr_assert_eq(ctr_report_graph(out, r, &o, "nonexist", &e), CTR_ENOTFOUND);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_report_callers(out, r, &o, "nonexist", 0, &e), CTR_ENOTFOUND);
	ctr_err_clear(&e);
	o.function = "nonexist";
	cr_assert_eq(ctr_report_flat(out, r, &o, &e), CTR_ENOTFOUND);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_report_tree(out, r, &o, &e), CTR_ENOTFOUND);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_report_slowest(out, &src, &o, "nonexist", 3, &e), CTR_ENOTFOUND);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_replay(out, &src, &ro, &e), CTR_ENOTFOUND);
	cr_assert(strstr(e.msg, "no thread 999"), "%s", e.msg);
	fclose(out);
	cr_assert_eq(len, 0, "printed: %s", buf);
	free(buf);
	ctr_run_free(r);
}

Test(views, callers_and_callees_count_recursion_once)
{
	struct ctr_run *r = fx_run();
	struct ctr_report_opts o = opts();
	struct ctr_err e;
	char *s;

	ctr_err_clear(&e);
	FX_CAPTURE(s, ctr_report_callers(out, r, &o, "fib", 0, &e));
	/* main -> fib carries the 600 ms; fib -> fib adds calls but no second copy of time */
	cr_assert_not_null(strstr(s, "         1     600 ms     200 ms  main\n"), "%s", s);
	cr_assert_not_null(strstr(s, "         6       0 ns     400 ms  fib\n"), "%s", s);
	free(s);
	FX_CAPTURE(s, ctr_report_callers(out, r, &o, "fib", 1, &e));
	/* below the outermost fib: its 200 ms self and the 400 ms recursive call, 600 in all */
	cr_assert_not_null(strstr(s, "         2     400 ms     300 ms  fib\n"), "%s", s);
	cr_assert_not_null(strstr(s, "         -     200 ms     200 ms  (self)\n"), "%s", s);
	free(s);
	ctr_run_free(r);
}

Test(views, tree_rooted_at_function)
{
	struct ctr_run *r = fx_run();
	struct ctr_report_opts o = opts();
	struct ctr_err e;
	char *s;

	ctr_err_clear(&e);
	o.function = "work";
	FX_CAPTURE(s, ctr_report_tree(out, r, &o, &e));
	golden("views-tree-work.txt", s);
	/* main is not a root any more, and both threads' work calls are */
	cr_assert_null(strstr(s, "main\n"), "%s", s);
	free(s);
	ctr_run_free(r);
}

Test(views, slowest_and_replay_golden)
{
	struct ctr_run *r = fx_run();
	struct ctr_report_opts o = opts();
	struct ctr_calls_src src = {r, NULL};
	struct ctr_replay_opts ro = {0};
	struct ctr_err e;
	char *s;

	fx_timeline(r);
	ctr_err_clear(&e);
	FX_CAPTURE(s, ctr_report_slowest(out, &src, &o, "fib", 2, &e));
	golden("views-slowest-fib.txt", s);
	free(s);
	FX_CAPTURE(s, ctr_replay(out, &src, &ro, &e));
	golden("views-replay.txt", s);
	free(s);
	/* one thread, calls below load, no deeper than 1 level from it */
	ro.tid = 100;
	ro.function = "load";
	ro.depth = 1;
	FX_CAPTURE(s, ctr_replay(out, &src, &ro, &e));
	golden("views-replay-load.txt", s);
	free(s);
	/* a window and a minimum duration: fib [10,50] and its 10 ms child, nothing shorter */
	memset(&ro, 0, sizeof(ro));
	ro.from_ns = 10 * MS;
	ro.to_ns = 55 * MS;
	ro.min_duration_ns = 5 * MS;
	FX_CAPTURE(s, ctr_replay(out, &src, &ro, &e));
	golden("views-replay-window.txt", s);
	free(s);
	ctr_run_free(r);
}

/* The same replay from a SQLite store read chunk by chunk as from the loaded chunks. */
Test(views, replay_streams_from_sqlite)
{
	char dir[256], conn[400], path[300];
	struct ctr_run *r = fx_run(), *light = NULL;
	struct ctr_store *s = NULL;
	struct ctr_replay_opts ro = {0};
	struct ctr_err e;
	char *a, *b;

	fx_timeline(r);
	ctr_ut_mkdtemp(dir, sizeof(dir), "ctrace-views");
	snprintf(path, sizeof(path), "%s/v.db", dir);
	snprintf(conn, sizeof(conn), "sqlite:%s", path);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_store_open(&s, conn, &e), 0, "%s", e.msg);
	cr_assert(ctr_store_can_stream(s));
	cr_assert_eq(ctr_store_save(s, r, &e), 0, "%s", e.msg);
	cr_assert_eq(ctr_store_load(s, r->id, 0, &light, &e), 0);
	cr_assert_eq(light->n_chunks, 0);
	{
		struct ctr_calls_src loaded = {r, NULL}, streamed = {light, s};

		FX_CAPTURE(a, ctr_replay(out, &loaded, &ro, &e));
		FX_CAPTURE(b, ctr_replay(out, &streamed, &ro, &e));
	}
	cr_assert_str_eq(a, b);
	free(a);
	free(b);
	/* past the last chunk: CTR_ENOTFOUND; memory: not streaming */
	{
		struct ctr_chunk c;
		struct ctr_store *m = NULL;

		cr_assert_eq(ctr_store_load_chunk(s, r->id, 0, 99, &c, NULL), CTR_ENOTFOUND);
		cr_assert_eq(ctr_store_open(&m, "memory:", NULL), 0);
		cr_assert_not(ctr_store_can_stream(m));
		cr_assert_eq(ctr_store_load_chunk(m, r->id, 0, 0, &c, NULL), CTR_EUSAGE);
		ctr_store_close(m);
	}
	ctr_run_free(light);
	ctr_run_free(r);
	ctr_store_close(s);
	unlink(path);
	rmdir(dir);
}

/* --threads, replay and --slowest take threads in ctr_report_thread_order(): processes by their
 * first thread's start, the main thread first (also when a pid wrap gave it the higher tid),
 * then by tid, whatever order the threads happened to start in. */
Test(views, thread_order_reads_by_process_then_tid)
{
	struct ctr_thread th[] = {
	    {.id = 0, .pid = 500, .tid = 500, .start_ns = 40}, /* a child process, started later */
	    {.id = 1, .pid = 500, .tid = 501, .start_ns = 41},
	    {.id = 2, .pid = 900, .tid = 900, .start_ns = 0},  /* the root: its main thread */
	    {.id = 3, .pid = 900, .tid = 901, .start_ns = 30}, /* started after 902 */
	    {.id = 4, .pid = 900, .tid = 902, .start_ns = 20},
	    {.id = 5, .pid = 900, .tid = 100, .start_ns = 25}, /* a tid after a pid wrap */
	};
	struct ctr_run run = {.threads = th, .n_threads = 6};
	uint32_t order[6], want[] = {2, 5, 3, 4, 0, 1};

	ctr_report_thread_order(&run, order);
	for (size_t i = 0; i < 6; i++)
		cr_expect_eq(order[i], want[i], "position %zu: thread %u, expected %u", i, order[i],
			     want[i]);
}

/* --slowest keeps the N longest calls, ties in the order they happened, whatever N (a heap:
 * each call O(log N)). push_back calls of 5, 9, 5, 7, 9, 1, 9 us starting at 1..7 ms. */
Test(views, slowest_top_n_and_ties)
{
	static const uint64_t dur_us[] = {5, 9, 5, 7, 9, 1, 9};
	static const struct {
		size_t n;
		const char *starts; /* the --from of each row, in order */
	} want[] = {
	    {2, "2000000 5000000"},
	    {4, "2000000 5000000 7000000 4000000"},
	    {6, "2000000 5000000 7000000 4000000 1000000 3000000"},
	    {100, "2000000 5000000 7000000 4000000 1000000 3000000 6000000"},
	};
	struct ctr_run *r = fx_run();
	struct ctr_report_opts o = opts();
	struct ctr_calls_src src = {r, NULL};
	struct ctr_tl_writer *w;
	struct ctr_err e;

	ctr_err_clear(&e);
	cr_assert_eq(ctr_tl_writer_open(&w, 0, fx_collect, r, &e), 0);
	cr_assert_eq(ctr_tl_enter(w, 0, F_MAIN, &e), 0);
	for (size_t i = 0; i < 7; i++) {
		cr_assert_eq(ctr_tl_enter(w, (i + 1) * MS, F_PUSH, &e), 0);
		cr_assert_eq(ctr_tl_exit(w, (i + 1) * MS + dur_us[i] * US, &e), 0);
	}
	cr_assert_eq(ctr_tl_exit(w, 10 * MS, &e), 0);
	cr_assert_eq(ctr_tl_writer_finish(w, &e), 0, "%s", e.msg);
	ctr_tl_writer_free(w);
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		char got[256] = "", *s, *p;

		FX_CAPTURE(s, ctr_report_slowest(out, &src, &o, "*push_back*", want[k].n, &e));
		/* the window column (two spaces before it), not the replay line under the row */
		for (p = strstr(s, "  --from "); p; p = strstr(p + 1, "  --from "))
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%.*s",
				 got[0] ? " " : "", (int)strcspn(p + 9, " "), p + 9);
		cr_expect_str_eq(got, want[k].starts, "-n %zu", want[k].n);
		free(s);
	}
	ctr_run_free(r);
}
