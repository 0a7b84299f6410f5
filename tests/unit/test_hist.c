/* SPDX-License-Identifier: MIT */
/*
 * Latency distributions: the log-linear histogram (bucket bounds, quantile accuracy, merge, the
 * stored blob and its corrupt forms), the commit-side collector in its exact and histogram
 * modes, the SQLite migration of a schema-1 store, streaming timeline chunks, and the
 * shortened C++ names of the text views.
 */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hist.h"
#include "scratch.h"
#include "store/store.h"
#include "store/timeline.h"
#include "tools/ingest/latency.h"
#include "tools/view/cxxname.h"

Test(hist, buckets_tile_the_range_with_bounded_width)
{
	uint64_t prev_hi = 0;

	for (uint32_t i = 0; i < CTR_HIST_BUCKETS; i++) {
		uint64_t lo = ctr_hist_lower(i), hi = ctr_hist_upper(i);

		if (i)
			cr_assert_eq(lo, prev_hi + 1, "bucket %u starts at %lu", i, lo);
		cr_assert_geq(hi, lo);
		cr_assert_eq(ctr_hist_index(lo), i);
		cr_assert_eq(ctr_hist_index(hi), i);
		/* width at most 1/128 of the lower bound above the linear part */
		if (lo >= 256)
			cr_assert_leq((hi - lo + 1) * 128, lo, "bucket %u too wide", i);
		prev_hi = hi;
	}
	cr_assert_eq(prev_hi, UINT64_MAX);
	cr_assert_eq(ctr_hist_index(0), 0);
	cr_assert_eq(ctr_hist_index(255), 255);
	cr_assert_eq(ctr_hist_index(256), 256);
	cr_assert_eq(ctr_hist_index(UINT64_MAX), CTR_HIST_BUCKETS - 1);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Quantiles from the histogram of 100000 spread-out values are within 0.4% of the exact
 * nearest-rank order statistics. */
Test(hist, quantiles_within_0_4_percent)
{
	enum { N = 100000 };
	uint64_t *v = malloc(N * sizeof(*v));
	struct ctr_hist_bucket *b = calloc(CTR_HIST_BUCKETS, sizeof(*b)), *nz = NULL;
	size_t n = 0;
	const double q[] = {0.5, 0.9, 0.99, 0.999};
	unsigned seed = 1;

	for (size_t i = 0; i < N; i++) {
		seed = seed * 1103515245u + 12345u;
		v[i] = 1000 + (uint64_t)(seed >> 4) % 50000000; /* 1 us .. 50 ms */
		b[ctr_hist_index(v[i])].count++;
	}
	nz = malloc(CTR_HIST_BUCKETS * sizeof(*nz));
	for (uint32_t i = 0; i < CTR_HIST_BUCKETS; i++)
		if (b[i].count)
			nz[n++] = (struct ctr_hist_bucket){i, b[i].count};
	qsort(v, N, sizeof(*v), cmp_u64);
	cr_assert_eq(ctr_hist_count(nz, n), N);
	for (int k = 0; k < 4; k++) {
		size_t r = (size_t)(q[k] * N + 0.999999) - 1;
		uint64_t got = ctr_hist_quantile(nz, n, q[k], v[0], v[N - 1]);
		double err = ((double)got - (double)v[r]) / (double)v[r];

		cr_assert(err < 0.004 && err > -0.004, "q %.3f: %lu vs exact %lu", q[k], got, v[r]);
	}
	/* the largest value is the known maximum; empty histogram is 0 */
	cr_assert_eq(ctr_hist_quantile(nz, n, 1.0, 0, v[N - 1]), v[N - 1]);
	cr_assert_eq(ctr_hist_quantile(NULL, 0, 0.5, 0, UINT64_MAX), 0);
	free(v);
	free(b);
	free(nz);
}

Test(hist, merge_and_blob_roundtrip)
{
	struct ctr_hist_bucket a[] = {{1, 2}, {500, 3}}, b[] = {{0, 1}, {500, 4}, {7000, 9}};
	struct ctr_hist_bucket *acc = NULL, *back = NULL;
	size_t n = 0, nb = 0, len = 0;
	unsigned char *blob = NULL;

	cr_assert_eq(ctr_hist_merge(&acc, &n, a, 2), 0);
	cr_assert_eq(ctr_hist_merge(&acc, &n, b, 3), 0);
	cr_assert_eq(n, 4);
	cr_assert_eq(acc[0].idx, 0);
	cr_assert_eq(acc[2].idx, 500);
	cr_assert_eq(acc[2].count, 7);
	cr_assert_eq(acc[3].count, 9);
	cr_assert_eq(ctr_hist_encode(acc, n, &blob, &len), 0);
	cr_assert_eq(blob[0], 1);
	cr_assert_eq(ctr_hist_decode(blob, len, &back, &nb, NULL), 0);
	cr_assert_eq(nb, n);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(back[i].idx, acc[i].idx);
		cr_assert_eq(back[i].count, acc[i].count);
	}
	free(back);
	/* empty: no blob; an empty blob decodes to nothing */
	free(blob);
	cr_assert_eq(ctr_hist_encode(NULL, 0, &blob, &len), 0);
	cr_assert_null(blob);
	cr_assert_eq(len, 0);
	cr_assert_eq(ctr_hist_decode(NULL, 0, &back, &nb, NULL), 0);
	cr_assert_eq(nb, 0);
	free(acc);
}

Test(hist, corrupt_blobs_are_format_errors)
{
	struct ctr_hist_bucket ok[] = {{10, 1}, {20, 2}}, *b = NULL;
	unsigned char *blob = NULL, bad[64];
	size_t len = 0, n = 0;
	struct ctr_err e;

	cr_assert_eq(ctr_hist_encode(ok, 2, &blob, &len), 0);
	/* truncated */
	ctr_err_clear(&e);
	cr_assert_eq(ctr_hist_decode(blob, len - 1, &b, &n, &e), CTR_EFORMAT);
	cr_assert(strstr(e.msg, "corrupt histogram"), "%s", e.msg);
	/* unknown version */
	memcpy(bad, blob, len);
	bad[0] = 2;
	ctr_err_clear(&e);
	cr_assert_eq(ctr_hist_decode(bad, len, &b, &n, &e), CTR_EFORMAT);
	cr_assert(strstr(e.msg, "version 2"), "%s", e.msg);
	/* trailing byte */
	memcpy(bad, blob, len);
	bad[len] = 0;
	cr_assert_eq(ctr_hist_decode(bad, len + 1, &b, &n, NULL), CTR_EFORMAT);
	/* an index beyond the last bucket: version, 1 bucket, delta 8000 (2 bytes), count 1 */
	unsigned char far[] = {1, 1, 0xc0, 0x3e, 1};
	cr_assert_eq(ctr_hist_decode(far, sizeof(far), &b, &n, NULL), CTR_EFORMAT);
	/* a repeated index (delta 0 after the first) */
	unsigned char rep[] = {1, 2, 5, 1, 0, 1};
	cr_assert_eq(ctr_hist_decode(rep, sizeof(rep), &b, &n, NULL), CTR_EFORMAT);
	cr_assert_null(b);
	free(blob);
}

/* A run of two nodes of one function: node 0 gets 1..1000 us shuffled, node 1 gets 5 ms x3. */
static struct ctr_run *lat_run(void)
{
	struct ctr_run *r = calloc(1, sizeof(*r));

	r->functions = calloc(1, sizeof(*r->functions));
	r->n_functions = 1;
	r->nodes = calloc(2, sizeof(*r->nodes));
	r->n_nodes = 2;
	r->nodes[1].id = 1;
	r->nodes[0].min_ns = 1000;
	r->nodes[0].max_ns = 1000000;
	r->nodes[1].min_ns = r->nodes[1].max_ns = 5000000;
	return r;
}

/* The calls a stored histogram counts. */
static uint64_t hist_calls(const unsigned char *hist, size_t size)
{
	struct ctr_hist_bucket *b = NULL;
	size_t n = 0;
	uint64_t calls;

	cr_assert_eq(ctr_hist_decode(hist, size, &b, &n, NULL), 0);
	calls = ctr_hist_count(b, n);
	free(b);
	return calls;
}

static void feed(struct ctr_lat *l, int copies)
{
	for (int c = 0; c < copies; c++)
		for (unsigned i = 0; i < 1000; i++)
			ctr_lat_add(l, 0, (uint64_t)((i * 7919u) % 1000u + 1) * 1000u);
	for (int i = 0; i < 3; i++)
		ctr_lat_add(l, 1, 5000000);
}

Test(latency, exact_for_few_calls)
{
	struct ctr_run *r = lat_run();
	struct ctr_lat *l = NULL;

	cr_assert_eq(ctr_lat_open(&l, 0), 0);
	feed(l, 1);
	cr_assert_eq(ctr_lat_finish(l, r, NULL), 0);
	cr_assert_eq(r->nodes[0].p50_ns, 500000);
	cr_assert_eq(r->nodes[0].p90_ns, 900000);
	cr_assert_eq(r->nodes[0].p99_ns, 990000);
	cr_assert_eq(r->nodes[0].p999_ns, 999000);
	cr_assert_eq(r->nodes[1].p50_ns, 5000000);
	/* the function over both nodes: 1003 calls, rank 502 is 502 us, rank 1002 is 5 ms */
	cr_assert_eq(r->functions[0].p50_ns, 502000);
	cr_assert_eq(r->functions[0].p999_ns, 5000000);
	cr_assert_eq(hist_calls(r->functions[0].hist, r->functions[0].hist_size), 1003);
	ctr_lat_free(l);
	ctr_run_free(r);
}

/* Past CTR_LAT_EXACT calls the collector folds into histograms: within 0.4%. */
Test(latency, histogram_mode_for_many_calls)
{
	struct ctr_run *r = lat_run();
	struct ctr_lat *l = NULL;
	const uint64_t want[] = {500000, 900000, 990000, 999000};

	cr_assert_eq(ctr_lat_open(&l, 0), 0);
	feed(l, (int)(CTR_LAT_EXACT / 1000) + 2);
	cr_assert_eq(ctr_lat_finish(l, r, NULL), 0);
	const uint64_t got[] = {r->nodes[0].p50_ns, r->nodes[0].p90_ns, r->nodes[0].p99_ns,
				r->nodes[0].p999_ns};
	for (int k = 0; k < 4; k++) {
		double err = ((double)got[k] - (double)want[k]) / (double)want[k];

		cr_assert(err < 0.004 && err > -0.004, "p%d: %lu vs %lu", k, got[k], want[k]);
	}
	cr_assert_eq(r->nodes[1].p99_ns, 5000000); /* clamped to the node's exact max */
	ctr_lat_free(l);
	ctr_run_free(r);
}

/* Calls left out (--sched: preempted or stalled, ctr_lat_add_excluded()): node 0's 1..1000 us
 * plus 50 ms calls left out keeps node 0's figures; node 1, whose calls are all left out, gets
 * theirs; the function's are those of node 0's calls only. Exact and histogram mode. */
Test(latency, excluded_calls_left_out)
{
	for (int hist = 0; hist < 2; hist++) {
		struct ctr_run *r = lat_run();
		struct ctr_lat *l = NULL;
		int copies = hist ? (int)(CTR_LAT_EXACT / 1000) + 2 : 1;

		cr_assert_eq(ctr_lat_open(&l, 0), 0);
		for (int c = 0; c < copies; c++) {
			for (unsigned i = 0; i < 1000; i++)
				ctr_lat_add(l, 0, (uint64_t)((i * 7919u) % 1000u + 1) * 1000u);
			for (int k = 0; k < 20; k++)
				ctr_lat_add_excluded(l, 0, 50000000);
		}
		for (int i = 0; i < 3; i++)
			ctr_lat_add_excluded(l, 1, 5000000);
		cr_assert_eq(ctr_lat_finish(l, r, NULL), 0);
		const uint64_t want[] = {500000, 900000, 990000, 999000};
		const uint64_t got[] = {r->nodes[0].p50_ns, r->nodes[0].p90_ns, r->nodes[0].p99_ns,
					r->nodes[0].p999_ns};
		const uint64_t fgot[] = {r->functions[0].p50_ns, r->functions[0].p90_ns,
					 r->functions[0].p99_ns, r->functions[0].p999_ns};
		for (int k = 0; k < 4; k++) {
			if (!hist) {
				cr_assert_eq(got[k], want[k], "p%d: %lu", k, got[k]);
				cr_assert_eq(fgot[k], want[k], "function p%d: %lu", k, fgot[k]);
			}
			double err = ((double)got[k] - (double)want[k]) / (double)want[k];
			double ferr = ((double)fgot[k] - (double)want[k]) / (double)want[k];

			cr_assert(err < 0.004 && err > -0.004, "p%d: %lu vs %lu", k, got[k],
				  want[k]);
			cr_assert(ferr < 0.004 && ferr > -0.004, "function p%d: %lu", k, fgot[k]);
		}
		cr_assert_eq(r->nodes[1].p50_ns, 5000000);
		cr_assert_eq(r->nodes[1].p999_ns, 5000000);
		/* the histograms hold only the calls the percentiles are of */
		cr_assert_eq(hist_calls(r->functions[0].hist, r->functions[0].hist_size),
			     1000ull * (uint64_t)copies);
		cr_assert_eq(hist_calls(r->nodes[1].hist, r->nodes[1].hist_size), 3);
		ctr_lat_free(l);
		ctr_run_free(r);
	}
}

/* Histogram mode, a function with one call kept in (node 0, 1 us) and a node whose calls were
 * all left out (node 1, 5 ms): the function's percentiles are the kept call's, also where the
 * estimate is the function's exact largest value (the clamp is over node 0 alone). */
Test(latency, excluded_node_does_not_bound_the_function)
{
	struct ctr_run *r = lat_run();
	struct ctr_lat *l = NULL;

	r->nodes[0].min_ns = r->nodes[0].max_ns = 1000;
	cr_assert_eq(ctr_lat_open(&l, (uint64_t)1 << 30), 0); /* histograms from the start */
	ctr_lat_add(l, 0, 1000);
	for (int i = 0; i < 3; i++)
		ctr_lat_add_excluded(l, 1, 5000000);
	cr_assert_eq(ctr_lat_finish(l, r, NULL), 0);
	cr_assert_eq(r->functions[0].p50_ns, 1000);
	cr_assert_eq(r->functions[0].p999_ns, 1000);
	cr_assert_eq(r->nodes[1].p50_ns, 5000000);
	ctr_lat_free(l);
	ctr_run_free(r);
}

/* A store of schema 1 (before the latency columns) opens, upgrades, and its runs load with
 * no percentiles. */
Test(latency, sqlite_schema_1_store_upgrades)
{
	char dir[256], path[300], conn[400];
	struct ctr_store *s = NULL;
	struct ctr_run *r = calloc(1, sizeof(*r)), *got = NULL;
	sqlite3 *db = NULL;

	ctr_ut_mkdtemp(dir, sizeof(dir), "ctrace-hist");
	snprintf(path, sizeof(path), "%s/old.db", dir);
	snprintf(conn, sizeof(conn), "sqlite:%s", path);
	snprintf(r->id, sizeof(r->id), "old-1");
	r->functions = calloc(1, sizeof(*r->functions));
	r->functions[0].name = strdup("f");
	r->functions[0].p99_ns = 77;
	r->functions[0].module = CTR_NONE; /* the run has no modules */
	r->n_functions = 1;
	cr_assert_eq(ctr_store_open(&s, conn, NULL), 0);
	cr_assert_eq(ctr_store_save(s, r, NULL), 0);
	ctr_store_close(s);
	/* back to schema 1 */
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	const char *cols[] = {"p50_ns", "p90_ns", "p99_ns", "p999_ns", "hist"};
	for (int t = 0; t < 2; t++)
		for (int k = 0; k < 5; k++) {
			char sql[128];

			snprintf(sql, sizeof(sql), "ALTER TABLE %s DROP COLUMN %s",
				 t ? "nodes" : "functions", cols[k]);
			cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s",
				     sqlite3_errmsg(db));
		}
	/* and without the off-CPU columns of schema 3 */
	cr_assert_eq(sqlite3_exec(db,
				  "ALTER TABLE nodes DROP COLUMN offcpu_ns;"
				  "ALTER TABLE nodes DROP COLUMN preempt_ns;"
				  /* and the module load times of schema 4 */
				  "ALTER TABLE modules DROP COLUMN loaded_ns;"
				  "ALTER TABLE modules DROP COLUMN unloaded_ns;"
				  /* and the preempted calls of schema 6 */
				  "ALTER TABLE nodes DROP COLUMN preempted_calls",
				  NULL, NULL, NULL),
		     SQLITE_OK, "%s", sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version = 1", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	cr_assert_eq(ctr_store_open(&s, conn, NULL), 0);
	cr_assert_eq(ctr_store_load(s, "old-1", 0, &got, NULL), 0);
	cr_assert_str_eq(got->functions[0].name, "f");
	cr_assert_eq(got->functions[0].p99_ns, 0);
	cr_assert_null(got->functions[0].hist);
	ctr_store_close(s);
	ctr_run_free(got);
	ctr_run_free(r);
	unlink(path);
	rmdir(dir);
}

struct names_case {
	const char *full;
	const char *want;
};

Test(cxxname, shortened_forms)
{
	static const struct names_case c[] = {
	    {"std::vector<int, std::allocator<int> >::push_back(int const&)",
	     "std::vector<...>::push_back"},
	    {"int geo::twice<int>(int)", "geo::twice<...>"},
	    {"(anonymous namespace)::hidden(int)", "(anon)::hidden"},
	    {"main::{lambda(int)#1}::operator()(int) const", "main::{lambda#1}::operator()"},
	    {"bool operator<(Foo const&, Foo const&)", "operator<"},
	    {"std::ostream& operator<< <char>(std::ostream&, char)", "operator<< <...>"},
	    {"void* operator new(unsigned long)", "operator new"},
	    {"geo::Square::~Square()", "geo::Square::~Square"},
	    {"main", "main"},
	    {"foo.cold", "foo.cold"},
	    {"f(int) [clone .constprop.0]", "f [clone .constprop.0]"},
	};
	char buf[256];

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		cr_assert_str_eq(ctr_cxx_shorten(c[i].full, 1, buf, sizeof(buf)), c[i].want, "%s",
				 c[i].full);
	cr_assert_str_eq(ctr_cxx_shorten("int geo::twice<int>(int)", 2, buf, sizeof(buf)),
			 "geo::twice<...>(int)");
	cr_assert_str_eq(ctr_cxx_shorten("int geo::twice<int>(int)", 3, buf, sizeof(buf)),
			 "geo::twice<int>");
	cr_assert_str_eq(ctr_cxx_shorten("int geo::twice<int>(int)", 4, buf, sizeof(buf)),
			 "geo::twice<int>(int)");
	cr_assert_str_eq(ctr_cxx_variant("_ZN3geo6SquareD0Ev"), "deleting");
	cr_assert_str_eq(ctr_cxx_variant("_ZN3geo6SquareD2Ev"), "base");
	cr_assert_str_eq(ctr_cxx_variant("_ZN3geo6SquareC1Ed"), "complete");
	cr_assert_str_eq(ctr_cxx_variant("_Z4mainv"), "");
	cr_assert_str_eq(ctr_cxx_variant(""), "");
}

/* Display names never collide: overloads keep parameters, instantiations their arguments,
 * destructor variants a suffix; a run without attached names shows stored names. */
Test(cxxname, attach_disambiguates)
{
	static const char *const full[] = {
	    "geo::over(int)",
	    "geo::over(double)",
	    "geo::Box<int>::get() const",
	    "geo::Box<long>::get() const",
	    "geo::Square::~Square()",
	    "geo::Square::~Square()",
	    "geo::Square::~Square()",
	    "plain",
	};
	static const char *const linkage[] = {
	    "_ZN3geo4overEi",	  "_ZN3geo4overEd",	"", "", "_ZN3geo6SquareD0Ev",
	    "_ZN3geo6SquareD1Ev", "_ZN3geo6SquareD2Ev", ""};
	static const char *const want[] = {"geo::over(int)",
					   "geo::over(double)",
					   "geo::Box<int>::get",
					   "geo::Box<long>::get",
					   "geo::Square::~Square [deleting]",
					   "geo::Square::~Square [complete]",
					   "geo::Square::~Square [base]",
					   "plain"};
	struct ctr_run r = {0};
	struct ctr_function f[8];

	memset(f, 0, sizeof(f));
	for (int i = 0; i < 8; i++) {
		f[i].id = (uint32_t)i;
		f[i].name = (char *)full[i];
		f[i].linkage_name = (char *)linkage[i];
	}
	r.functions = f;
	r.n_functions = 8;
	cr_assert_str_eq(ctr_cxx_display(&r, 2), "geo::Box<int>::get() const");
	cr_assert_eq(ctr_cxx_attach(&r, 0, NULL), 0);
	for (int i = 0; i < 8; i++)
		cr_assert_str_eq(ctr_cxx_display(&r, (uint32_t)i), want[i]);
	cr_assert_str_eq(ctr_cxx_display(&r, 99), "?");
	ctr_cxx_detach(&r);
	cr_assert_eq(ctr_cxx_attach(&r, 1, NULL), 0); /* --full-names: stored + suffix */
	cr_assert_str_eq(ctr_cxx_display(&r, 2), "geo::Box<int>::get() const");
	cr_assert_str_eq(ctr_cxx_display(&r, 4), "geo::Square::~Square() [deleting]");
	ctr_cxx_detach(&r);
	cr_assert_str_eq(ctr_cxx_display(&r, 4), "geo::Square::~Square()");
}
