/* SPDX-License-Identifier: MIT */
/*
 * Trace store tests. One table of behaviours (round trip, list order, filters, remove, resolve,
 * duplicates, streaming saves) runs against every backend: memory, sqlite on a temporary file
 * and jsonl on a temporary file, and pgsql on a fresh database of the PostgreSQL server named by
 * $CTRACE_TEST_PG (tests/pg.sh starts one for `make test`; without it the pgsql rows are skipped
 * with a message). Backend-specific cases follow: bad files, schema versions, concurrent writers
 * (fork), killed writers, JSONL -> SQLite import, malformed JSONL lines.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <fcntl.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/hist.h"
#include "scratch.h"
#include "store/store-int.h" /* a backend without the series op */
#include "store/store.h"

/* ---- fixtures ---- */

static char tmpdir[256];

static void setup(void)
{
	ctr_ut_mkdtemp(tmpdir, sizeof(tmpdir), "ctrace-test-store");
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

/* PostgreSQL databases this test created (dropped by teardown). */
static char pg_dbs[16][300];
static int n_pg_dbs;
static pid_t pg_owner;

/* Runs one statement on the server's base database; 0 on success. */
static int pg_admin(const char *sql)
{
	PGconn *c = PQconnectdb(getenv("CTRACE_TEST_PG"));
	PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
	int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;

	if (!ok)
		fprintf(stderr, "pg_admin '%s': %s\n", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
}

static void teardown(void)
{
	char sql[400];

	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	for (int i = 0; i < n_pg_dbs && pg_owner == getpid(); i++) {
		snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS \"%.300s\" WITH (FORCE)",
			 pg_dbs[i]);
		pg_admin(sql);
	}
	n_pg_dbs = 0;
}

TestSuite(store, .init = setup, .fini = teardown);

enum { B_MEMORY, B_SQLITE, B_JSONL, B_PGSQL, B_COUNT };
static const char *const bnames[B_COUNT] = {"memory", "sqlite", "jsonl", "pgsql"};

/* 1 (with a message) when backend @b cannot run here: pgsql without $CTRACE_TEST_PG. */
static int skip_b(int b)
{
	static int told;
	const char *pg = getenv("CTRACE_TEST_PG");

	if (b != B_PGSQL || (pg && *pg))
		return 0;
	if (!told++)
		cr_log_warn("pgsql rows skipped: CTRACE_TEST_PG is not set (make test sets it)");
	return 1;
}

/* "postgresql:///DB?params" of $CTRACE_TEST_PG with DB replaced by a database for @name, which
 * is created on first use in this test (database names are per test: ct_<tmpdir suffix>_name). */
static void pg_conn(char *buf, size_t n, const char *name)
{
	const char *base = getenv("CTRACE_TEST_PG"), *q = strchr(base, '?');
	char db[300], sql[400];
	int i;

	snprintf(db, sizeof(db), "ct_%s_%s", tmpdir + strlen(tmpdir) - 6, name);
	for (char *p = db; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	for (i = 0; i < n_pg_dbs && strcmp(pg_dbs[i], db); i++)
		;
	if (i == n_pg_dbs && n_pg_dbs < 16) {
		snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", db);
		cr_assert_eq(pg_admin(sql), 0, "cannot create database %s", db);
		snprintf(pg_dbs[n_pg_dbs++], sizeof(pg_dbs[0]), "%s", db);
		pg_owner = getpid();
	}
	snprintf(buf, n, "postgresql:///%s%s", db, q ? q : "");
}

/* A connection string for backend @b in the test's temporary directory. */
static const char *conn_for(int b, const char *name)
{
	static char buf[B_COUNT][512];

	switch (b) {
	case B_MEMORY:
		snprintf(buf[b], sizeof(buf[b]), "memory:");
		break;
	case B_SQLITE:
		snprintf(buf[b], sizeof(buf[b]), "sqlite:%s/%s.db", tmpdir, name);
		break;
	case B_JSONL:
		snprintf(buf[b], sizeof(buf[b]), "jsonl:%s/%s.jsonl", tmpdir, name);
		break;
	default:
		pg_conn(buf[b], sizeof(buf[b]), name);
		break;
	}
	return buf[b];
}

static struct ctr_store *open_b(int b, const char *name)
{
	struct ctr_store *s = NULL;
	struct ctr_err e;

	ctr_err_clear(&e);
	cr_assert_eq(ctr_store_open(&s, conn_for(b, name), &e), 0, "%s: %s", bnames[b], e.msg);
	cr_assert_str_eq(ctr_store_backend(s), bnames[b]);
	return s;
}

static char *xs(const char *s)
{
	return s ? strdup(s) : NULL;
}

#define ALLOC(r, field, n) ((r)->n_##field = (n), (r)->field = calloc((n), sizeof(*(r)->field)))

/* A run with every array filled and awkward strings. */
static struct ctr_run *rich_run(const char *id, int64_t start, uint64_t duration,
				const char *command, const char *fn_extra, const char *meta_val)
{
	struct ctr_run *r = calloc(1, sizeof(*r));

	snprintf(r->id, sizeof(r->id), "%s", id);
	r->command = xs(command);
	r->host = xs("build-host.example");
	r->cwd = xs("/home/ü/src dir");
	r->start_unix_ns = start;
	r->duration_ns = duration;
	r->exit_status = 3;
	r->signal = 0;
	r->crashed = 1;
	r->events = 123456789012ull;
	r->lost_events = 17;
	r->clock = xs("tsc");
	r->ticks_per_sec = 2893420000ull;
	r->overhead_inner_ns = 3.1415926535897931;
	r->overhead_call_ns = 11.25;

	ALLOC(r, meta, 3);
	r->meta[0] = (struct ctr_kv){xs("branch"), xs(meta_val)};
	r->meta[1] = (struct ctr_kv){xs("note"), xs("quote \" amp & lt < 日本語")};
	r->meta[2] = (struct ctr_kv){xs("empty"), xs("")};

	ALLOC(r, procs, 2);
	r->procs[0] = (struct ctr_process){
	    4242,
	    1,
	    0,
	    xs("/usr/bin/app"),
	    xs(command),
	    -1,
	    11,
	    1,
	    xs("#0 crash() at a.c:3\n#1 main()"),
	};
	r->procs[1] =
	    (struct ctr_process){4243, 4242, 1, xs("/bin/sh"), xs("sh -c true"), 0, 0, 0, NULL};

	ALLOC(r, modules, 2);
	r->modules[0] =
	    (struct ctr_module){0, xs("/usr/bin/app"), xs("abcdef0123"), 0x555555554000ull, 0, -1};
	/* dlopen'd 1.5 us into the run, dlclosed at 9 us */
	r->modules[1] =
	    (struct ctr_module){1, xs("/lib/libc.so.6"), xs(""), 0x7ffff7dd0000ull, 1500, 9000};

	ALLOC(r, functions, 6);
	r->functions[0] = (struct ctr_function){
	    0, CTR_FN_FUNCTION, xs("main"), xs(""), xs("app.c"), 10, 0, 0x1139, 0, 0, 0, 0, NULL,
	    0};
	r->functions[1] = (struct ctr_function){
	    1,
	    CTR_FN_FUNCTION,
	    xs("std::vector<int, std::allocator<int> >::push_back(int const&)"),
	    xs("_ZNSt6vectorIiSaIiEE9push_backERKi"),
	    xs("/usr/include/c++/12/bits/stl_vector.h"),
	    1187,
	    0,
	    0x2000,
	    0,
	    0,
	    0,
	    0,
	    NULL,
	    0};
	r->functions[2] = (struct ctr_function){2,
						CTR_FN_FUNCTION,
						xs("operator<<(std::ostream&, \"q\" const&)"),
						xs("_Zlsl"),
						xs(""),
						0,
						0,
						0x2100,
						0,
						0,
						0,
						0,
						NULL,
						0};
	r->functions[3] = (struct ctr_function){
	    3, CTR_FN_SPAN, xs("naïve_函数 span"), xs(""), xs(""), 0, CTR_NONE, 0, 0, 0, 0, 0, NULL,
	    0};
	r->functions[4] = (struct ctr_function){
	    4, CTR_FN_MARK, xs("checkpoint"), xs(""), xs(""), 0, CTR_NONE, 0, 0, 0, 0, 0, NULL, 0};
	r->functions[5] = (struct ctr_function){5,
						CTR_FN_FUNCTION,
						xs(fn_extra),
						xs("_Zextra"),
						xs("x.c"),
						1,
						1,
						0xffffffffffffull,
						0,
						0,
						0,
						0,
						NULL,
						0};

	/* latency percentiles and a histogram blob on a function and on a node */
	r->functions[0].p50_ns = 500;
	r->functions[0].p90_ns = 900;
	r->functions[0].p99_ns = 990;
	r->functions[0].p999_ns = (1ull << 62) + 1;
	{
		static const struct ctr_hist_bucket b[] = {{3, 1}, {300, 7}, {7423, 1ull << 40}};

		cr_assert_eq(
		    ctr_hist_encode(b, 3, &r->functions[0].hist, &r->functions[0].hist_size), 0);
	}

	ALLOC(r, threads, 3);
	r->threads[0] = (struct ctr_thread){0, 4242, 4242, xs("app"), 0, duration, 1000, 0};
	r->threads[1] = (struct ctr_thread){1, 4242, 4250, xs("worker-1"), 500, 900, 20, 3};
	r->threads[2] = (struct ctr_thread){2, 4243, 4243, NULL, 1000, 1200, 2, 0};

	ALLOC(r, nodes, 40);
	for (uint32_t i = 0; i < 40; i++) {
		struct ctr_node *n = &r->nodes[i];

		n->id = i;
		n->parent = i % 10 == 0 ? CTR_NONE : i - 1;
		n->thread = i / 20;
		n->function = i % 6;
		n->calls = i + 1;
		n->total_ns = 1000ull * i + 7;
		n->self_ns = 100ull * i;
		n->min_ns = i == 5 ? UINT64_MAX : i;
		n->max_ns = 1ull << 62;
		n->raw_total_ns = n->total_ns + 3;
		n->raw_self_ns = n->self_ns + 2;
		n->raw_min_ns = 0;
		n->raw_max_ns = 9000000000000000000ull;
		n->offcpu_ns = 50ull * i; /* --sched: off-CPU inside, of that preempted */
		n->preempt_ns = 10ull * i;
		n->preempted_calls = i % 3 ? 0 : (uint64_t)i / 2; /* at most calls */
		if (i == 7) {
			static const struct ctr_hist_bucket b[] = {{0, 2}, {1000, 5}};

			n->p50_ns = n->p90_ns = 3000;
			n->p99_ns = n->p999_ns = 3001;
			cr_assert_eq(ctr_hist_encode(b, 2, &n->hist, &n->hist_size), 0);
		}
	}

	ALLOC(r, attrs, 2);
	r->attrs[0] = (struct ctr_attr){3, xs("http.url"), xs("/a?b=<c>&d=\"e\""), 4};
	r->attrs[1] = (struct ctr_attr){3, xs("bytes"), xs("-42"), 1};

	ALLOC(r, chunks, 2);
	r->chunks[0] = (struct ctr_chunk){0, 0, CTR_CODEC_ZSTD, 4096, 0, 500, 1000, malloc(1000)};
	for (int i = 0; i < 1000; i++)
		r->chunks[0].data[i] = (unsigned char)(i * 37 + 11);
	r->chunks[1] = (struct ctr_chunk){1, 0, CTR_CODEC_RAW, 3, 501, 900, 5, malloc(5)};
	memcpy(r->chunks[1].data, "\0\xff\n\"=", 5);
	return r;
}

static struct ctr_run *simple_run(const char *id, int64_t start)
{
	return rich_run(id, start, 1000, "./app --flag", "extra", "main");
}

static void save_ok(struct ctr_store *s, const struct ctr_run *r)
{
	struct ctr_err e;

	ctr_err_clear(&e);
	cr_assert_eq(ctr_store_save(s, r, &e), 0, "save %s: %s", r->id, e.msg);
}

/* Ids returned by list, joined with ',' (static buffer). */
static const char *list_ids(struct ctr_store *s, const struct ctr_filter *f, size_t limit,
			    size_t offset)
{
	static char buf[1024];
	struct ctr_run **runs;
	struct ctr_err e;
	size_t n;

	ctr_err_clear(&e);
	cr_assert_eq(ctr_store_list(s, f, limit, offset, &runs, &n, &e), 0, "list: %s", e.msg);
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(runs[i]->n_nodes + runs[i]->n_meta + runs[i]->n_chunks, 0,
			     "list returned arrays");
		strcat(buf, i ? "," : "");
		strcat(buf, runs[i]->id);
	}
	ctr_run_list_free(runs, n);
	return buf;
}

/* ---- the table run against every backend ---- */

/* Side records (ctr_store_save_aux, the stored timeline index): saved with a run, read back
 * byte for byte, replaced by a second save, absent ones and unknown runs CTR_ENOTFOUND, bad
 * names refused, removed with their run; in every backend. */
Test(store, side_records_kept_with_the_run)
{
	static const unsigned char one[] = {0, 1, 2, 0xff, 'x', 0}, two[] = {9, 8};

	for (int b = 0; b < B_COUNT; b++) {
		if (skip_b(b))
			continue;
		struct ctr_store *s = open_b(b, "aux");
		struct ctr_run *r = simple_run("aux-1", 10);
		unsigned char *data = NULL;
		size_t size = 0;
		struct ctr_err e;

		save_ok(s, r);
		ctr_err_clear(&e);
		cr_assert_eq(ctr_store_load_aux(s, "aux-1", "tlindex", &data, &size, &e),
			     CTR_ENOTFOUND, "%s", bnames[b]);
		cr_assert_eq(ctr_store_save_aux(s, "aux-1", "tlindex", one, sizeof(one), &e), 0,
			     "%s: %s", bnames[b], e.msg);
		cr_assert_eq(ctr_store_load_aux(s, "aux-1", "tlindex", &data, &size, &e), 0, "%s",
			     bnames[b]);
		cr_assert_eq(size, sizeof(one), "%s", bnames[b]);
		cr_assert_eq(memcmp(data, one, size), 0, "%s", bnames[b]);
		free(data);
		cr_assert_eq(ctr_store_save_aux(s, "aux-1", "tlindex", two, sizeof(two), &e), 0);
		cr_assert_eq(ctr_store_load_aux(s, "aux-1", "tlindex", &data, &size, &e), 0);
		cr_assert_eq(size, sizeof(two), "%s: replaced", bnames[b]);
		cr_assert_eq(memcmp(data, two, size), 0, "%s", bnames[b]);
		free(data);
		cr_assert_eq(ctr_store_load_aux(s, "aux-1", "other", &data, &size, &e),
			     CTR_ENOTFOUND);
		cr_assert_eq(ctr_store_save_aux(s, "nosuch", "tlindex", one, 1, &e), CTR_ENOTFOUND,
			     "%s", bnames[b]);
		cr_assert_eq(ctr_store_save_aux(s, "aux-1", "../x", one, 1, &e), CTR_EUSAGE);
		cr_assert_eq(ctr_store_remove(s, "aux-1", &e), 0);
		cr_assert_eq(ctr_store_load_aux(s, "aux-1", "tlindex", &data, &size, &e),
			     CTR_ENOTFOUND, "%s: removed with the run", bnames[b]);
		/* a new run of the same id does not inherit it */
		save_ok(s, r);
		cr_assert_eq(ctr_store_load_aux(s, "aux-1", "tlindex", &data, &size, &e),
			     CTR_ENOTFOUND, "%s", bnames[b]);
		ctr_run_free(r);
		ctr_store_close(s);
	}
}

Test(store, round_trip_is_equal)
{
	for (int b = 0; b < B_COUNT; b++) {
		if (skip_b(b))
			continue;
		struct ctr_store *s = open_b(b, "rt");
		struct ctr_run *r = rich_run("run-1", 1700000000000000000ll, 5000, "./app a \"b\"",
					     "ns::f<std::string>()", "main"),
			       *got = NULL;
		struct ctr_err e;

		save_ok(s, r);
		ctr_err_clear(&e);
		cr_assert_eq(ctr_store_load(s, "run-1", CTR_LOAD_TIMELINE, &got, &e), 0, "%s: %s",
			     bnames[b], e.msg);
		cr_assert(ctr_run_equal(r, got), "%s: loaded run differs", bnames[b]);
		ctr_run_free(got);

		/* without the timeline: same run minus its chunks */
		cr_assert_eq(ctr_store_load(s, "run-1", 0, &got, &e), 0);
		cr_assert_eq(got->n_chunks, 0);
		cr_assert_null(got->chunks);
		cr_assert_not(ctr_run_equal(r, got));
		struct ctr_run *nochunks = ctr_run_dup(r);
		for (size_t i = 0; i < nochunks->n_chunks; i++)
			free(nochunks->chunks[i].data);
		free(nochunks->chunks);
		nochunks->chunks = NULL;
		nochunks->n_chunks = 0;
		cr_assert(ctr_run_equal(nochunks, got), "%s", bnames[b]);
		ctr_run_free(nochunks);
		ctr_run_free(got);

		/* a reopened store still has it (memory stores are per handle) */
		if (b != B_MEMORY) {
			ctr_store_close(s);
			s = open_b(b, "rt");
			cr_assert_eq(ctr_store_load(s, "run-1", CTR_LOAD_TIMELINE, &got, &e), 0);
			cr_assert(ctr_run_equal(r, got), "%s: differs after reopen", bnames[b]);
			ctr_run_free(got);
		}
		ctr_run_free(r);
		ctr_store_close(s);
	}
}

/* CTR_LOAD_CHUNK_INDEX: SQLite gives chunk headers and each chunk's data on demand; the other
 * backends load whole chunks and refuse ctr_store_load_chunk(). */
Test(store, chunk_index_and_load_chunk)
{
	for (int b = 0; b < B_COUNT; b++) {
		if (skip_b(b))
			continue;
		struct ctr_store *s = open_b(b, "ci");
		struct ctr_run *r = rich_run("run-1", 1700000000000000000ll, 5000, "./app", "f",
					     "main"),
			       *got = NULL;
		struct ctr_err e;

		save_ok(s, r);
		ctr_err_clear(&e);
		cr_assert_eq(
		    ctr_store_load(s, "run-1", CTR_LOAD_TIMELINE | CTR_LOAD_CHUNK_INDEX, &got, &e),
		    0, "%s: %s", bnames[b], e.msg);
		cr_assert_eq(got->n_chunks, r->n_chunks, "%s", bnames[b]);
		for (size_t i = 0; i < r->n_chunks; i++) {
			struct ctr_chunk c = got->chunks[i];

			cr_assert_eq(c.size, r->chunks[i].size, "%s chunk %zu", bnames[b], i);
			cr_assert_eq(c.first_ns, r->chunks[i].first_ns);
			cr_assert_eq(c.raw_size, r->chunks[i].raw_size);
			if (b != B_SQLITE) {
				cr_assert_not_null(c.data, "%s loads whole chunks", bnames[b]);
				cr_assert_eq(
				    ctr_store_load_chunk(s, "run-1", c.thread, c.seq, &c, NULL),
				    CTR_EUSAGE);
				continue;
			}
			cr_assert_null(c.data, "sqlite: headers only");
			cr_assert_eq(ctr_store_load_chunk(s, "run-1", c.thread, c.seq, &c, &e), 0,
				     "%s", e.msg);
			cr_assert_eq(c.size, r->chunks[i].size);
			cr_assert_eq(memcmp(c.data, r->chunks[i].data, c.size), 0);
			free(c.data);
		}
		if (b == B_SQLITE) {
			struct ctr_chunk c = {0};

			cr_assert_eq(ctr_store_load_chunk(s, "run-1", 0, 99, &c, NULL),
				     CTR_ENOTFOUND);
			cr_assert_eq(ctr_store_load_chunk(s, "nosuch", 0, 0, &c, NULL),
				     CTR_ENOTFOUND);
			cr_assert_null(c.data);
		}
		ctr_run_free(got);
		ctr_run_free(r);
		ctr_store_close(s);
	}
}

Test(store, equal_sees_every_difference)
{
	struct ctr_run *a = simple_run("x", 1), *b = ctr_run_dup(a);

	cr_assert(ctr_run_equal(a, b));
	b->nodes[39].raw_max_ns++;
	cr_assert_not(ctr_run_equal(a, b));
	b->nodes[39].raw_max_ns--;
	b->nodes[38].offcpu_ns++;
	cr_assert_not(ctr_run_equal(a, b));
	b->nodes[38].offcpu_ns--;
	b->nodes[38].preempt_ns++;
	cr_assert_not(ctr_run_equal(a, b));
	b->nodes[38].preempt_ns--;
	b->chunks[0].data[999] ^= 1;
	cr_assert_not(ctr_run_equal(a, b));
	b->chunks[0].data[999] ^= 1;
	free(b->threads[2].name);
	b->threads[2].name = strdup("");
	cr_assert_not(ctr_run_equal(a, b), "NULL and \"\" must differ");
	free(b->threads[2].name);
	b->threads[2].name = NULL;
	b->overhead_call_ns += 1e-9;
	cr_assert_not(ctr_run_equal(a, b));
	b->overhead_call_ns = a->overhead_call_ns;
	cr_assert(ctr_run_equal(a, b));
	ctr_run_free(a);
	ctr_run_free(b);
}

Test(store, list_newest_first_with_limit_and_offset)
{
	for (int b = 0; b < B_COUNT; b++) {
		if (skip_b(b))
			continue;
		struct ctr_store *s = open_b(b, "list");
		const struct {
			const char *id;
			int64_t start;
		} runs[] = {{"r-b", 300}, {"r-a", 100}, {"r-d", 400}, {"r-c", 300}, {"r-e", 200}};

		cr_assert_str_eq(list_ids(s, NULL, 0, 0), "");
		for (size_t i = 0; i < 5; i++) {
			struct ctr_run *r = simple_run(runs[i].id, runs[i].start);

			save_ok(s, r);
			ctr_run_free(r);
		}
		cr_assert_str_eq(list_ids(s, NULL, 0, 0), "r-d,r-b,r-c,r-e,r-a", "%s", bnames[b]);
		cr_assert_str_eq(list_ids(s, NULL, 2, 0), "r-d,r-b", "%s", bnames[b]);
		cr_assert_str_eq(list_ids(s, NULL, 2, 1), "r-b,r-c", "%s", bnames[b]);
		cr_assert_str_eq(list_ids(s, NULL, 0, 3), "r-e,r-a", "%s", bnames[b]);
		cr_assert_str_eq(list_ids(s, NULL, 10, 4), "r-a", "%s", bnames[b]);
		cr_assert_str_eq(list_ids(s, NULL, 1, 5), "", "%s", bnames[b]);

		/* headers are complete */
		struct ctr_run **l;
		size_t n;
		cr_assert_eq(ctr_store_list(s, NULL, 1, 0, &l, &n, NULL), 0);
		cr_assert_eq(n, 1);
		struct ctr_run *want = simple_run("r-d", 400);
		{
			struct ctr_run h = *want;

			h.n_meta = h.n_procs = h.n_modules = h.n_functions = 0;
			h.n_threads = h.n_nodes = h.n_attrs = h.n_chunks = 0;
			cr_assert(ctr_run_equal(&h, l[0]), "%s: list header differs", bnames[b]);
		}
		ctr_run_free(want);
		ctr_run_list_free(l, n);
		ctr_store_close(s);
	}
}

Test(store, every_filter_field)
{
	for (int b = 0; b < B_COUNT; b++) {
		if (skip_b(b))
			continue;
		struct ctr_store *s = open_b(b, "filter");
		struct ctr_run *r;

		/* id, start, duration, command, extra function, meta branch */
		r = rich_run("f1", 1000, 50, "./server --port 80", "handle_request", "main");
		save_ok(s, r);
		ctr_run_free(r);
		r = rich_run("f2", 2000, 500, "./server --port 81", "parse_args", "dev");
		save_ok(s, r);
		ctr_run_free(r);
		r = rich_run("f3", 3000, 5000, "./client x", "handle_request", "dev");
		save_ok(s, r);
		ctr_run_free(r);
		r = rich_run("f4", 4000, 50000, NULL, "other", "main");
		save_ok(s, r);
		ctr_run_free(r);

		struct ctr_filter f;
#define CHECK(want)                                                                                \
	cr_assert_str_eq(list_ids(s, &f, 0, 0), want, "%s: line %d", bnames[b], __LINE__)

		memset(&f, 0, sizeof(f));
		CHECK("f4,f3,f2,f1");
		f.since_unix_ns = 2000;
		CHECK("f4,f3,f2");
		memset(&f, 0, sizeof(f));
		f.until_unix_ns = 2000;
		CHECK("f2,f1");
		memset(&f, 0, sizeof(f));
		f.min_duration_ns = 500;
		CHECK("f4,f3,f2");
		memset(&f, 0, sizeof(f));
		f.max_duration_ns = 5000;
		CHECK("f3,f2,f1");
		memset(&f, 0, sizeof(f));
		f.command = "server";
		CHECK("f2,f1");
		f.command = "port 81";
		CHECK("f2");
		f.command = "SERVER"; /* case-sensitive substring */
		CHECK("");
		f.command = "%"; /* no wildcards */
		CHECK("");
		memset(&f, 0, sizeof(f));
		f.function = "handle_request";
		CHECK("f3,f1");
		f.function = "_Zextra"; /* linkage names match too */
		CHECK("f4,f3,f2,f1");
		f.function = "std::vector<int, std::allocator<int> >::push_back(int const&)";
		CHECK("f4,f3,f2,f1");
		f.function = "handle";
		CHECK("");
		f.function = "handle_*"; /* globs, fnmatch(3) on every backend */
		CHECK("f3,f1");
		f.function = "std::vector<*>::push_back(*)";
		CHECK("f4,f3,f2,f1");
		f.function = "_Z?xtra";
		CHECK("f4,f3,f2,f1");
		f.function = "[gh]andle_request";
		CHECK("f3,f1");
		f.function = "handle_re[!q]uest";
		CHECK("");
		f.function = "handle_request.";
		CHECK("");
		memset(&f, 0, sizeof(f));
		f.host = "build-host.example";
		CHECK("f4,f3,f2,f1");
		f.host = "build-host"; /* exact, not a substring */
		CHECK("");
		memset(&f, 0, sizeof(f));
		struct ctr_kv kv[2] = {{"branch", "dev"}, {"note", "quote \" amp & lt < 日本語"}};
		f.meta = kv;
		f.n_meta = 1;
		CHECK("f3,f2");
		f.n_meta = 2;
		CHECK("f3,f2");
		kv[1].value = "nope";
		CHECK("");
		/* combined */
		memset(&f, 0, sizeof(f));
		kv[1].value = "quote \" amp & lt < 日本語";
		f.meta = kv;
		f.n_meta = 2;
		f.function = "handle_request";
		CHECK("f3");
		f.command = "client";
		f.since_unix_ns = 3000;
		f.until_unix_ns = 3000;
		f.min_duration_ns = 5000;
		f.max_duration_ns = 5000;
		CHECK("f3");
		f.max_duration_ns = 4999;
		CHECK("");
		memset(&f, 0, sizeof(f));
		f.since_unix_ns = 1500;
		f.function = "handle_request";
		cr_assert_str_eq(list_ids(s, &f, 1, 0), "f3");
		cr_assert_str_eq(list_ids(s, &f, 1, 1), "");
#undef CHECK
		ctr_store_close(s);
	}
}

/* A run for the series tests: rich_run() with its node figures multiplied by @k. */
static struct ctr_run *scaled_run(const char *id, int64_t start, const char *fn_extra,
				  const char *branch, uint64_t k)
{
	struct ctr_run *r = rich_run(id, start, 1000, "./app", fn_extra, branch);

	for (size_t i = 0; i < r->n_nodes; i++) {
		r->nodes[i].self_ns *= k;
		r->nodes[i].total_ns *= k;
		r->nodes[i].calls *= k;
	}
	for (size_t i = 0; i < r->n_functions; i++)
		r->functions[i].p99_ns = 1000 * k + i; /* --metric p99 */
	return r;
}

/* "id=value,..." of a series (static buffer), checking every point carries its metadata. */
static const char *series_str(struct ctr_store *s, const struct ctr_filter *f, const char *fn,
			      enum ctr_metric m)
{
	static char buf[1024];
	struct ctr_series_point *pts = NULL;
	struct ctr_err e;
	size_t n = 99;

	ctr_err_clear(&e);
	cr_assert_eq(ctr_store_series(s, f, fn, m, &pts, &n, &e), 0, "series: %s", e.msg);
	cr_assert_eq(n == 0, pts == NULL, "no points is a NULL array");
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const struct ctr_run *r = pts[i].run;
		char one[96];

		cr_assert_eq(r->n_meta, 3, "%s: metadata of %s", ctr_store_backend(s), r->id);
		cr_assert_str_eq(r->meta[0].key, "branch");
		cr_assert_str_eq(r->meta[1].value, "quote \" amp & lt < 日本語");
		cr_assert_str_eq(r->meta[2].key, "empty");
		cr_assert_str_eq(r->meta[2].value, "");
		cr_assert_eq(r->n_nodes + r->n_functions + r->n_chunks, 0, "series loaded arrays");
		cr_assert_str_eq(r->host, "build-host.example");
		snprintf(one, sizeof(one), "%s%s=%.0f", i ? "," : "", r->id, pts[i].value);
		strcat(buf, one);
	}
	ctr_series_free(pts, n);
	return buf;
}

Test(store, series_every_metric)
{
	for (int b = 0; b < B_COUNT; b++) {
		if (skip_b(b))
			continue;
		struct ctr_store *s = open_b(b, "series");
		struct ctr_run *r;
		struct ctr_filter f;

		/* function 5 ("extra", linkage "_Zextra") has nodes 5, 11, 17, 23, 29, 35: self
		 * 100 * i, calls i + 1, total 1000 * i + 7 of the outermost ones (17 and 29 have
		 * an ancestor of the same function) */
		r = scaled_run("s1", 3000, "extra", "main", 1);
		save_ok(s, r);
		ctr_run_free(r);
		r = scaled_run("s2", 1000, "extra", "dev", 2);
		save_ok(s, r);
		ctr_run_free(r);
		r = scaled_run("s3", 2000, "other", "main", 3);
		save_ok(s, r);
		ctr_run_free(r);
		r = scaled_run("s4", 1000, "extra", "main", 4); /* same start as s2 */
		save_ok(s, r);
		ctr_run_free(r);

#define CHECK(fl, fn, m, want)                                                                     \
	cr_assert_str_eq(series_str(s, fl, fn, m), want, "%s: line %d", bnames[b], __LINE__)
		CHECK(NULL, "extra", CTR_METRIC_SELF, "s4=48000,s2=24000,s1=12000");
		CHECK(NULL, "_Zextra", CTR_METRIC_SELF, "s4=48000,s2=24000,s3=36000,s1=12000");
		CHECK(NULL, "extra", CTR_METRIC_CALLS, "s4=504,s2=252,s1=126");
		CHECK(NULL, "extra", CTR_METRIC_TOTAL, "s4=296112,s2=148056,s1=74028");
		/* p99: the function's stored p99_ns, 1000 * k + 5 */
		CHECK(NULL, "_Zextra", CTR_METRIC_P99, "s4=4005,s2=2005,s3=3005,s1=1005");
		/* main (function 0): nodes 0, 6, 12, 18, 24, 30, 36; 6, 18 and 36 are inside
		 * another main */
		CHECK(NULL, "main", CTR_METRIC_TOTAL, "s4=264112,s2=132056,s3=198084,s1=66028");
		CHECK(NULL, "main", CTR_METRIC_SELF, "s4=50400,s2=25200,s3=37800,s1=12600");
		/* a span: no linkage name, a name that is not ASCII */
		CHECK(NULL, "naïve_函数 span", CTR_METRIC_CALLS, "s4=616,s2=308,s3=462,s1=154");
		CHECK(NULL, "nosuch", CTR_METRIC_SELF, "");
		memset(&f, 0, sizeof(f));
		struct ctr_kv kv = {"branch", "main"};
		f.meta = &kv;
		f.n_meta = 1;
		CHECK(&f, "extra", CTR_METRIC_SELF, "s4=48000,s1=12000");
		f.since_unix_ns = 1500;
		CHECK(&f, "_Zextra", CTR_METRIC_CALLS, "s3=378,s1=126");
		f.function = "nosuch"; /* ignored: the series' function is the filter */
		CHECK(&f, "_Zextra", CTR_METRIC_CALLS, "s3=378,s1=126");
		memset(&f, 0, sizeof(f));
		f.host = "other-host";
		CHECK(&f, "extra", CTR_METRIC_SELF, "");
#undef CHECK

		struct ctr_series_point *pts = (void *)1;
		size_t n = 7;
		struct ctr_err e;
		ctr_err_clear(&e);
		cr_assert_eq(ctr_store_series(s, NULL, NULL, CTR_METRIC_SELF, &pts, &n, &e),
			     CTR_EUSAGE);
		cr_assert_eq(n, 0);
		cr_assert_null(pts);
		cr_assert_eq(ctr_store_series(s, NULL, "", CTR_METRIC_SELF, &pts, &n, &e),
			     CTR_EUSAGE);
		cr_assert_eq(ctr_store_series(s, NULL, "extra", CTR_METRIC_COUNT, &pts, &n, &e),
			     CTR_EUSAGE);
		ctr_store_close(s);
	}
}

Test(store, series_without_the_op_loads_each_run)
{
	struct ctr_store *s = open_b(B_MEMORY, "noseries");
	struct ctr_store_ops ops = *s->ops; /* a backend that has no series op */
	struct ctr_run *r;

	r = scaled_run("n1", 2000, "extra", "main", 1);
	save_ok(s, r);
	ctr_run_free(r);
	r = scaled_run("n2", 1000, "extra", "main", 3);
	save_ok(s, r);
	ctr_run_free(r);
	r = scaled_run("n3", 3000, "other", "main", 5);
	save_ok(s, r);
	ctr_run_free(r);
	ops.series = NULL;
	s->ops = &ops;
	cr_assert_str_eq(series_str(s, NULL, "extra", CTR_METRIC_TOTAL), "n2=222084,n1=74028");
	cr_assert_str_eq(series_str(s, NULL, "_Zextra", CTR_METRIC_CALLS), "n2=378,n1=126,n3=630");
	ctr_store_close(s);
}

Test(store, run_metric_and_names)
{
	struct ctr_run *r = scaled_run("m", 1, "extra", "main", 1);
	double v = -1;
	enum ctr_metric m;

	cr_assert_eq(ctr_run_metric(r, "extra", CTR_METRIC_TOTAL, &v), 0);
	cr_assert_float_eq(v, 74028, 0.5);
	cr_assert_eq(ctr_run_metric(r, "", CTR_METRIC_SELF, &v), 0);
	cr_assert_float_eq(v, 0, 0.5, "an empty name matches no empty linkage name");
	ctr_run_free(r);
	cr_assert_eq(ctr_metric_parse("total", &m), 0);
	cr_assert_eq(m, CTR_METRIC_TOTAL);
	cr_assert_eq(ctr_metric_parse("calls", &m), 0);
	cr_assert_eq(m, CTR_METRIC_CALLS);
	cr_assert_eq(ctr_metric_parse("p99", &m), 0);
	cr_assert_eq(m, CTR_METRIC_P99);
	cr_assert_eq(ctr_metric_parse("p90", &m), CTR_EUSAGE);
	cr_assert_eq(ctr_metric_parse(NULL, &m), CTR_EUSAGE);
	cr_assert_str_eq(ctr_metric_name(CTR_METRIC_SELF), "self");
	cr_assert_null(ctr_metric_name(CTR_METRIC_COUNT));
	ctr_series_free(NULL, 0);
}

Test(store, remove_then_not_found)
{
	for (int b = 0; b < B_COUNT; b++) {
		if (skip_b(b))
			continue;
		struct ctr_store *s = open_b(b, "rm");
		struct ctr_run *r1 = simple_run("keep-1", 10), *r2 = simple_run("gone", 20),
			       *r3 = simple_run("keep-2", 30), *got;
		struct ctr_err e;

		save_ok(s, r1);
		save_ok(s, r2);
		save_ok(s, r3);
		ctr_err_clear(&e);
		cr_assert_eq(ctr_store_remove(s, "gone", &e), 0, "%s: %s", bnames[b], e.msg);
		ctr_err_clear(&e);
		cr_assert_eq(ctr_store_load(s, "gone", 0, &got, &e), CTR_ENOTFOUND);
		cr_assert_null(got);
		cr_assert(strstr(e.msg, "'gone'"), "%s", e.msg);
		ctr_err_clear(&e);
		cr_assert_eq(ctr_store_remove(s, "gone", &e), CTR_ENOTFOUND, "%s", bnames[b]);
		cr_assert_str_eq(list_ids(s, NULL, 0, 0), "keep-2,keep-1");
		cr_assert_eq(ctr_store_load(s, "keep-1", CTR_LOAD_TIMELINE, &got, NULL), 0);
		cr_assert(ctr_run_equal(r1, got));
		ctr_run_free(got);
		/* the id can be saved again after removal */
		save_ok(s, r2);
		cr_assert_str_eq(list_ids(s, NULL, 0, 0), "keep-2,gone,keep-1");
		ctr_run_free(r1);
		ctr_run_free(r2);
		ctr_run_free(r3);
		ctr_store_close(s);
	}
}

Test(store, missing_run_and_duplicate_save)
{
	for (int b = 0; b < B_COUNT; b++) {
		if (skip_b(b))
			continue;
		struct ctr_store *s = open_b(b, "dup");
		struct ctr_run *r = simple_run("dup-1", 10), *got = (void *)1;
		struct ctr_err e;

		ctr_err_clear(&e);
		cr_assert_eq(ctr_store_load(s, "nope", 0, &got, &e), CTR_ENOTFOUND, "%s",
			     bnames[b]);
		cr_assert_null(got);
		cr_assert_eq(e.code, CTR_ENOTFOUND);
		save_ok(s, r);
		ctr_err_clear(&e);
		cr_assert_eq(ctr_store_save(s, r, &e), CTR_EEXIST, "%s", bnames[b]);
		cr_assert(strstr(e.msg, "'dup-1'"), "%s", e.msg);
		cr_assert_str_eq(e.run_id, "dup-1");
		cr_assert_str_eq(list_ids(s, NULL, 0, 0), "dup-1");
		/* the store is still usable after the refused save */
		struct ctr_run *r2 = simple_run("dup-2", 5);
		save_ok(s, r2);
		cr_assert_str_eq(list_ids(s, NULL, 0, 0), "dup-1,dup-2");
		ctr_run_free(r2);
		ctr_run_free(r);
		ctr_store_close(s);
	}
}

Test(store, resolve_specs)
{
	for (int b = 0; b < B_COUNT; b++) {
		if (skip_b(b))
			continue;
		struct ctr_store *s = open_b(b, "resolve");
		const char *ids[] = {"20240101-aaaa1", "20240101-aaab2", "20240102-bbbb3"};
		char id[CTR_RUN_ID_MAX];
		struct ctr_err e;

		ctr_err_clear(&e);
		cr_assert_eq(ctr_store_resolve(s, "latest", id, &e), CTR_ENOTFOUND, "%s",
			     bnames[b]);
		for (int i = 0; i < 3; i++) {
			struct ctr_run *r = simple_run(ids[i], 100 + i);

			save_ok(s, r);
			ctr_run_free(r);
		}
		cr_assert_eq(ctr_store_resolve(s, "latest", id, NULL), 0);
		cr_assert_str_eq(id, "20240102-bbbb3");
		cr_assert_eq(ctr_store_resolve(s, "latest~0", id, NULL), 0);
		cr_assert_str_eq(id, "20240102-bbbb3");
		cr_assert_eq(ctr_store_resolve(s, "latest~1", id, NULL), 0);
		cr_assert_str_eq(id, "20240101-aaab2");
		cr_assert_eq(ctr_store_resolve(s, "latest~2", id, NULL), 0);
		cr_assert_str_eq(id, "20240101-aaaa1");
		cr_assert_eq(ctr_store_resolve(s, "latest~3", id, NULL), CTR_ENOTFOUND);
		cr_assert_eq(ctr_store_resolve(s, "latest~x", id, NULL), CTR_EUSAGE);
		cr_assert_eq(ctr_store_resolve(s, "latest~-1", id, NULL), CTR_EUSAGE);
		cr_assert_eq(ctr_store_resolve(s, "20240102", id, NULL), 0);
		cr_assert_str_eq(id, "20240102-bbbb3");
		cr_assert_eq(ctr_store_resolve(s, "20240101-aaab", id, NULL), 0);
		cr_assert_str_eq(id, "20240101-aaab2");
		cr_assert_eq(ctr_store_resolve(s, "20240101-aaaa1", id, NULL), 0);
		cr_assert_str_eq(id, "20240101-aaaa1");
		ctr_err_clear(&e);
		cr_assert_eq(ctr_store_resolve(s, "20240101", id, &e), CTR_EUSAGE, "%s", bnames[b]);
		cr_assert(strstr(e.msg, "ambiguous"), "%s", e.msg);
		cr_assert_eq(ctr_store_resolve(s, "2023", id, NULL), CTR_ENOTFOUND);
		cr_assert_eq(ctr_store_resolve(s, "", id, NULL), CTR_EUSAGE);
		ctr_store_close(s);
	}
}

Test(store, streaming_save_and_abort)
{
	for (int b = 0; b < B_COUNT; b++) {
		if (skip_b(b))
			continue;
		struct ctr_store *s = open_b(b, "stream");
		struct ctr_run *r = simple_run("st-1", 10), *got;
		struct ctr_run hdr;
		struct ctr_err e;

		/* begin with a provisional header, chunks, then abort: nothing visible */
		memset(&hdr, 0, sizeof(hdr));
		strcpy(hdr.id, "st-1");
		ctr_err_clear(&e);
		cr_assert_eq(ctr_store_save_begin(s, &hdr, &e), 0, "%s: %s", bnames[b], e.msg);
		cr_assert_eq(ctr_store_save_chunk(s, &r->chunks[0], &e), 0);
		ctr_store_save_abort(s);
		cr_assert_eq(ctr_store_load(s, "st-1", 0, &got, NULL), CTR_ENOTFOUND);
		cr_assert_str_eq(list_ids(s, NULL, 0, 0), "");

		/* begin, chunks, end with the final header: the final one is stored */
		cr_assert_eq(ctr_store_save_begin(s, &hdr, &e), 0);
		cr_assert_eq(ctr_store_save_begin(s, &hdr, NULL), CTR_EUSAGE); /* nested */
		for (size_t i = 0; i < r->n_chunks; i++)
			cr_assert_eq(ctr_store_save_chunk(s, &r->chunks[i], &e), 0);
		struct ctr_run end = *r;
		end.chunks = NULL; /* ignored by end */
		end.n_chunks = 0;
		cr_assert_eq(ctr_store_save_end(s, &end, &e), 0, "%s: %s", bnames[b], e.msg);
		cr_assert_eq(ctr_store_load(s, "st-1", CTR_LOAD_TIMELINE, &got, &e), 0);
		cr_assert(ctr_run_equal(r, got), "%s", bnames[b]);
		ctr_run_free(got);
		cr_assert_eq(ctr_store_save_chunk(s, &r->chunks[0], NULL), CTR_EUSAGE);

		/* closing with a save open discards it */
		strcpy(hdr.id, "st-2");
		cr_assert_eq(ctr_store_save_begin(s, &hdr, &e), 0);
		ctr_store_close(s);
		s = open_b(b, "stream");
		cr_assert_eq(ctr_store_load(s, "st-2", 0, &got, NULL), CTR_ENOTFOUND);
		ctr_run_free(r);
		ctr_store_close(s);
	}
}

Test(store, big_run)
{
	for (int b = 0; b < B_COUNT; b++) {
		if (skip_b(b))
			continue;
		struct ctr_store *s = open_b(b, "big");
		struct ctr_run *r = simple_run("big-1", 10), *got;

		for (size_t i = 0; i < r->n_nodes; i++)
			free(r->nodes[i].hist);
		free(r->nodes);
		ALLOC(r, nodes, 150000);
		for (uint32_t i = 0; i < 150000; i++)
			/* three threads' trees: a node's parent is of its own thread */
			r->nodes[i] = (struct ctr_node){i,     i >= 3 ? i - 3 : CTR_NONE,
							i % 3, i % 6,
							i,     (uint64_t)i * 1000,
							i,     1,
							2,     3,
							4,     5,
							6,     0,
							0,     0,
							0,     NULL,
							0,     0,
							0,     0};
		save_ok(s, r);
		cr_assert_eq(ctr_store_load(s, "big-1", CTR_LOAD_TIMELINE, &got, NULL), 0);
		cr_assert(ctr_run_equal(r, got), "%s", bnames[b]);
		ctr_run_free(got);
		ctr_run_free(r);
		ctr_store_close(s);
	}
}

/* ---- connection strings ---- */

Test(store, connection_strings)
{
	struct ctr_store *s = NULL;
	struct ctr_err e;
	char conn[512];

	ctr_err_clear(&e);
	cr_assert_eq(ctr_store_open(&s, "ftp://host/x", &e), CTR_EUSAGE);
	cr_assert_null(s);
	cr_assert(strstr(e.msg, "unknown store scheme 'ftp'"), "%s", e.msg);
	cr_assert_eq(ctr_store_open(&s, "postgres:db", NULL), CTR_EUSAGE);
	cr_assert_eq(ctr_store_open(&s, "", NULL), CTR_EUSAGE);
	cr_assert_eq(ctr_store_open(&s, "sqlite:", NULL), CTR_EUSAGE);

	/* a bare path is sqlite, also with a colon later in the path */
	snprintf(conn, sizeof(conn), "%s/bare.db", tmpdir);
	cr_assert_eq(ctr_store_open(&s, conn, NULL), 0);
	cr_assert_str_eq(ctr_store_backend(s), "sqlite");
	ctr_store_close(s);
	snprintf(conn, sizeof(conn), "%s/a:b.db", tmpdir);
	cr_assert_eq(ctr_store_open(&s, conn, NULL), 0);
	cr_assert_str_eq(ctr_store_backend(s), "sqlite");
	ctr_store_close(s);
	cr_assert_eq(access(conn, F_OK), 0);

	cr_assert_eq(ctr_store_open(&s, "memory:", NULL), 0);
	cr_assert_str_eq(ctr_store_backend(s), "memory");
	ctr_store_close(s);
	ctr_store_close(NULL);

	unsetenv("CTRACE_STORE");
	cr_assert_str_eq(ctr_store_default(), "sqlite:./ctrace.db");
	setenv("CTRACE_STORE", "jsonl:/tmp/x.jsonl", 1);
	cr_assert_str_eq(ctr_store_default(), "jsonl:/tmp/x.jsonl");
	unsetenv("CTRACE_STORE");
}

/* ---- sqlite specifics ---- */

Test(store, sqlite_garbage_file_is_estore)
{
	char path[512], conn[600];
	struct ctr_store *s = NULL;
	struct ctr_err e;
	FILE *f;

	snprintf(path, sizeof(path), "%s/x.db", tmpdir);
	f = fopen(path, "w");
	for (int i = 0; i < 200; i++)
		fputs("this is not a database at all, just text\n", f);
	fclose(f);
	snprintf(conn, sizeof(conn), "sqlite:%s", path);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_store_open(&s, conn, &e), CTR_ESTORE);
	cr_assert_null(s);
	char want[700];
	snprintf(want, sizeof(want), "cannot open store '%s': file is not a database", path);
	cr_assert_str_eq(e.msg, want);
	cr_assert_str_eq(e.path, path);
}

Test(store, sqlite_newer_schema_is_eversion)
{
	char path[512];
	struct ctr_store *s = open_b(B_SQLITE, "newer");
	struct ctr_err e;
	sqlite3 *db;

	ctr_store_close(s);
	snprintf(path, sizeof(path), "%s/newer.db", tmpdir);
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_store_open(&s, conn_for(B_SQLITE, "newer"), &e), CTR_EVERSION);
	cr_assert(strstr(e.msg, "schema version 99"), "%s", e.msg);
	cr_assert(strstr(e.msg, "upgrade ctrace"), "%s", e.msg);
}

Test(store, sqlite_schema_is_queryable)
{
	char path[512];
	struct ctr_store *s = open_b(B_SQLITE, "schema");
	struct ctr_run *r = simple_run("q-1", 10);
	sqlite3 *db;
	sqlite3_stmt *st;

	save_ok(s, r);
	ctr_store_close(s);
	snprintf(path, sizeof(path), "%s/schema.db", tmpdir);
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	/* the documented example: top functions by self time */
	cr_assert_eq(
	    sqlite3_prepare_v2(db,
			       "SELECT f.name, SUM(n.self_ns) AS self FROM nodes n "
			       "JOIN runs r ON r.pk = n.run "
			       "JOIN functions f ON f.run = n.run AND f.id = n.function "
			       "WHERE r.id = 'q-1' GROUP BY f.name ORDER BY self DESC LIMIT 1",
			       -1, &st, NULL),
	    SQLITE_OK, "%s", sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	/* function 3 has nodes 3,9,...,39: self 100 * (3 + 9 + 15 + 21 + 27 + 33 + 39) */
	cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "naïve_函数 span");
	cr_assert_eq(sqlite3_column_int64(st, 1), 14700);
	sqlite3_finalize(st);
	cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'",
					-1, &st, NULL),
		     SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "6");
	sqlite3_finalize(st);
	/* parent NULL for top-level nodes */
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM nodes WHERE parent IS NULL", -1,
					&st, NULL),
		     SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_assert_eq(sqlite3_column_int(st, 0), 4);
	sqlite3_finalize(st);
	sqlite3_close(db);
	ctr_run_free(r);
}

/* Children save @n runs each into one store at once; the store must hold them all. */
static void concurrent_saves(int b, int nproc, int n, int precreate)
{
	pid_t pids[8];
	struct ctr_store *s;

	if (precreate) {
		s = open_b(b, "conc");
		ctr_store_close(s);
	}
	for (int p = 0; p < nproc; p++) {
		pids[p] = fork();
		cr_assert_geq(pids[p], 0);
		if (pids[p] == 0) {
			struct ctr_store *cs = NULL;
			struct ctr_err e;
			int bad = 0;

			ctr_err_clear(&e);
			if (ctr_store_open(&cs, conn_for(b, "conc"), &e) < 0)
				_exit(10);
			for (int i = 0; i < n && !bad; i++) {
				char id[32];

				snprintf(id, sizeof(id), "p%d-r%02d", p, i);
				struct ctr_run *r = simple_run(id, p * 1000 + i);
				if (ctr_store_save(cs, r, &e) < 0) {
					fprintf(stderr, "child %d: %s\n", p, e.msg);
					bad = 1;
				}
				ctr_run_free(r);
			}
			ctr_store_close(cs);
			_exit(bad ? 11 : 0);
		}
	}
	for (int p = 0; p < nproc; p++) {
		int st;

		cr_assert_eq(waitpid(pids[p], &st, 0), pids[p]);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s child %d failed (%d)",
			  bnames[b], p, st);
	}
	s = open_b(b, "conc");
	struct ctr_run **runs, *got;
	size_t cnt;
	cr_assert_eq(ctr_store_list(s, NULL, 0, 0, &runs, &cnt, NULL), 0);
	cr_assert_eq(cnt, (size_t)(nproc * n), "%s: %zu runs", bnames[b], cnt);
	ctr_run_list_free(runs, cnt);
	char last[32];
	snprintf(last, sizeof(last), "p1-r%02d", n - 1);
	cr_assert_eq(ctr_store_load(s, last, CTR_LOAD_TIMELINE, &got, NULL), 0);
	struct ctr_run *want = simple_run(last, 1000 + n - 1);
	cr_assert(ctr_run_equal(want, got));
	ctr_run_free(want);
	ctr_run_free(got);
	ctr_store_close(s);
}

Test(store, sqlite_two_processes_save_concurrently)
{
	concurrent_saves(B_SQLITE, 2, 20, 1);
}

/* Both processes create the schema and switch to WAL at the same time. */
Test(store, sqlite_concurrent_first_open)
{
	concurrent_saves(B_SQLITE, 4, 5, 0);
}

Test(store, pgsql_four_processes_save_concurrently)
{
	if (!skip_b(B_PGSQL))
		concurrent_saves(B_PGSQL, 4, 5, 1);
}

/* Four processes save the same five run ids at once: every save succeeds or finds the run
 * already there (CTR_EEXIST), and each run is stored once, whole. */
Test(store, pgsql_same_ids_from_four_processes)
{
	struct ctr_store *s;
	pid_t pids[4];

	if (skip_b(B_PGSQL))
		return;
	s = open_b(B_PGSQL, "same");
	ctr_store_close(s);
	for (int p = 0; p < 4; p++) {
		pids[p] = fork();
		cr_assert_geq(pids[p], 0);
		if (pids[p] == 0) {
			struct ctr_store *cs = NULL;
			int bad = 0;

			if (ctr_store_open(&cs, conn_for(B_PGSQL, "same"), NULL) < 0)
				_exit(10);
			for (int i = 0; i < 5; i++) {
				char id[32];
				struct ctr_err e;

				snprintf(id, sizeof(id), "same-%d", i);
				struct ctr_run *r = simple_run(id, i);
				ctr_err_clear(&e);
				int rc = ctr_store_save(cs, r, &e);
				if (rc < 0 && rc != CTR_EEXIST) {
					fprintf(stderr, "child %d: %s\n", p, e.msg);
					bad = 1;
				}
				ctr_run_free(r);
			}
			ctr_store_close(cs);
			_exit(bad ? 11 : 0);
		}
	}
	for (int p = 0; p < 4; p++) {
		int st;

		cr_assert_eq(waitpid(pids[p], &st, 0), pids[p]);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d failed (%d)", p, st);
	}
	s = open_b(B_PGSQL, "same");
	cr_assert_str_eq(list_ids(s, NULL, 0, 0), "same-4,same-3,same-2,same-1,same-0");
	for (int i = 0; i < 5; i++) {
		char id[32];
		struct ctr_run *got, *want;

		snprintf(id, sizeof(id), "same-%d", i);
		want = simple_run(id, i);
		cr_assert_eq(ctr_store_load(s, id, CTR_LOAD_TIMELINE, &got, NULL), 0);
		cr_assert(ctr_run_equal(want, got), "%s differs", id);
		ctr_run_free(want);
		ctr_run_free(got);
	}
	ctr_store_close(s);
}

/* A PostgreSQL store of schema 5 (before nodes.preempted_calls) upgrades on open: its runs
 * load with none, new runs keep theirs. */
Test(store, pgsql_schema_5_store_upgrades)
{
	struct ctr_store *s;
	struct ctr_run *r, *got = NULL;
	PGconn *c;
	PGresult *res;

	if (skip_b(B_PGSQL))
		return;
	s = open_b(B_PGSQL, "schema5");
	r = simple_run("old-1", 10);
	r->nodes[0].preempted_calls = 1;
	save_ok(s, r);
	ctr_store_close(s);
	c = PQconnectdb(conn_for(B_PGSQL, "schema5"));
	cr_assert_eq(PQstatus(c), CONNECTION_OK);
	res = PQexec(c, "ALTER TABLE ctrace.nodes DROP COLUMN preempted_calls;"
			"UPDATE ctrace.schema_version SET version = 5");
	cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
	PQclear(res);
	PQfinish(c);
	cr_assert_eq(ctr_store_open(&s, conn_for(B_PGSQL, "schema5"), NULL), 0);
	cr_assert_eq(ctr_store_load(s, "old-1", 0, &got, NULL), 0);
	cr_assert_eq(got->nodes[0].preempted_calls, 0);
	cr_assert_eq(got->nodes[0].calls, r->nodes[0].calls);
	ctr_run_free(got);
	snprintf(r->id, sizeof(r->id), "new-1");
	save_ok(s, r);
	cr_assert_eq(ctr_store_load(s, "new-1", 0, &got, NULL), 0);
	cr_assert_eq(got->nodes[0].preempted_calls, 1);
	ctr_run_free(got);
	ctr_store_close(s);
	ctr_run_free(r);
}

/* The schema is documented and queryable with psql; a newer schema version is refused. */
Test(store, pgsql_schema_version_and_queryable)
{
	struct ctr_store *s;
	struct ctr_run *r;
	struct ctr_err e;
	PGconn *c;
	PGresult *res;

	if (skip_b(B_PGSQL))
		return;
	s = open_b(B_PGSQL, "schema");
	r = simple_run("q-1", 10);
	save_ok(s, r);
	ctr_run_free(r);
	ctr_store_close(s);
	c = PQconnectdb(conn_for(B_PGSQL, "schema"));
	cr_assert_eq(PQstatus(c), CONNECTION_OK);
	res = PQexec(c, "SELECT version FROM ctrace.schema_version");
	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK);
	cr_assert_str_eq(PQgetvalue(res, 0, 0), "6");
	PQclear(res);
	res = PQexec(c, "SELECT r.id, f.name, sum(n.self_ns) FROM ctrace.runs r "
			"JOIN ctrace.functions f ON f.run = r.pk AND f.kind = 1 "
			"JOIN ctrace.nodes n ON n.run = r.pk AND n.function = f.id "
			"WHERE r.metadata @> '{\"branch\": \"main\"}' GROUP BY r.id, f.name");
	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
	cr_assert_eq(PQntuples(res), 1);
	cr_assert_str_eq(PQgetvalue(res, 0, 1), "naïve_函数 span");
	cr_assert_str_eq(PQgetvalue(res, 0, 2), "14700");
	PQclear(res);
	res = PQexec(c, "UPDATE ctrace.schema_version SET version = 7");
	cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	PQfinish(c);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_store_open(&s, conn_for(B_PGSQL, "schema"), &e), CTR_EVERSION, "%s",
		     e.msg);
	cr_assert(strstr(e.msg, "schema version 7"), "%s", e.msg);
}

Test(store, jsonl_two_processes_save_concurrently)
{
	concurrent_saves(B_JSONL, 2, 20, 0);
}

/* A writer killed in the middle of a save leaves the store as it was. */
Test(store, killed_writer_leaves_store_unchanged)
{
	for (int b = B_SQLITE; b < B_COUNT; b++) {
		if (skip_b(b))
			continue;
		struct ctr_store *s = open_b(b, "killed");
		struct ctr_run *r = simple_run("before", 10), *r2;
		int fds[2];
		char c;
		pid_t pid;

		save_ok(s, r);
		ctr_store_close(s);
		cr_assert_eq(pipe(fds), 0);
		pid = fork();
		if (pid == 0) {
			struct ctr_store *cs = NULL;
			struct ctr_run *k = simple_run("killed", 20);

			if (ctr_store_open(&cs, conn_for(b, "killed"), NULL) < 0 ||
			    ctr_store_save_begin(cs, k, NULL) < 0 ||
			    ctr_store_save_chunk(cs, &k->chunks[0], NULL) < 0)
				_exit(1);
			if (write(fds[1], "x", 1) != 1)
				_exit(2);
			pause(); /* killed here, transaction open */
			_exit(3);
		}
		cr_assert_eq(read(fds[0], &c, 1), 1);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(fds[0]);
		close(fds[1]);
		s = open_b(b, "killed");
		cr_assert_str_eq(list_ids(s, NULL, 0, 0), "before", "%s", bnames[b]);
		r2 = simple_run("after", 30);
		save_ok(s, r2); /* the lock died with the writer */
		cr_assert_str_eq(list_ids(s, NULL, 0, 0), "after,before");
		ctr_run_free(r);
		ctr_run_free(r2);
		ctr_store_close(s);
	}
}

/* ---- jsonl specifics ---- */

Test(store, jsonl_export_import_into_sqlite)
{
	struct ctr_store *j = open_b(B_JSONL, "export"), *q;
	struct ctr_run *src[3];
	struct ctr_run **list;
	size_t n;

	src[0] = rich_run("e-1", 100, 10, "a", "f", "x");
	src[1] = rich_run("e-2", 300, 20, "b", "g", "y");
	src[2] = rich_run("e-3", 200, 30, NULL, "h", "z");
	for (int i = 0; i < 3; i++)
		save_ok(j, src[i]);
	ctr_store_close(j);
	/* reopen the exported file and import everything into a fresh sqlite store */
	j = open_b(B_JSONL, "export");
	q = open_b(B_SQLITE, "import");
	cr_assert_eq(ctr_store_list(j, NULL, 0, 0, &list, &n, NULL), 0);
	cr_assert_eq(n, 3);
	for (size_t i = 0; i < n; i++) {
		struct ctr_run *r;

		cr_assert_eq(ctr_store_load(j, list[i]->id, CTR_LOAD_TIMELINE, &r, NULL), 0);
		save_ok(q, r);
		ctr_run_free(r);
	}
	ctr_run_list_free(list, n);
	cr_assert_str_eq(list_ids(q, NULL, 0, 0), "e-2,e-3,e-1");
	for (int i = 0; i < 3; i++) {
		struct ctr_run *r;

		cr_assert_eq(ctr_store_load(q, src[i]->id, CTR_LOAD_TIMELINE, &r, NULL), 0);
		cr_assert(ctr_run_equal(src[i], r), "%s differs after import", src[i]->id);
		ctr_run_free(r);
		ctr_run_free(src[i]);
	}
	ctr_store_close(j);
	ctr_store_close(q);
}

static void write_file(const char *path, const char *text, const char *mode)
{
	FILE *f = fopen(path, mode);

	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

Test(store, jsonl_bad_lines_are_eformat)
{
	struct ctr_store *s = open_b(B_JSONL, "bad");
	struct ctr_run *r1 = simple_run("ok-1", 10), *r2 = simple_run("ok-2", 20), *got;
	char path[512], *text = NULL;
	struct ctr_err e;
	size_t len = 0;
	struct ctr_run **l;
	size_t n;

	save_ok(s, r1);
	save_ok(s, r2);
	ctr_store_close(s);
	snprintf(path, sizeof(path), "%s/bad.jsonl", tmpdir);
	/* keep the good content to rebuild variants */
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	cr_assert_gt(getdelim(&text, &len, '\0', f), 0);
	fclose(f);
	cr_assert_eq(strncmp(text, "{\"run_id\":\"ok-1\",", 17), 0, "%.40s", text);
	char *nl = strchr(text, '\n');
	cr_assert_not_null(nl);
	size_t line1 = (size_t)(nl - text) + 1;

	/* truncated second line (a writer killed mid-write) */
	char *trunc = strndup(text, line1 + 200);
	write_file(path, trunc, "w");
	s = open_b(B_JSONL, "bad");
	ctr_err_clear(&e);
	cr_assert_eq(ctr_store_list(s, NULL, 0, 0, &l, &n, &e), CTR_EFORMAT);
	cr_assert(strstr(e.msg, "line 2 of"), "%s", e.msg);
	cr_assert_eq(e.offset, (long long)line1);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_store_load(s, "ok-1", CTR_LOAD_TIMELINE, &got, &e), 0); /* before it */
	ctr_run_free(got);
	cr_assert_eq(ctr_store_load(s, "ok-2", 0, &got, &e), CTR_EFORMAT);
	cr_assert(strstr(e.msg, "line 2"), "%s", e.msg);
	ctr_store_close(s);
	free(trunc);

	/* not JSON at all on line 3 after a blank line */
	write_file(path, text, "w");
	write_file(path, "\n}{garbage\n", "a");
	s = open_b(B_JSONL, "bad");
	ctr_err_clear(&e);
	cr_assert_eq(ctr_store_list(s, NULL, 0, 0, &l, &n, &e), CTR_EFORMAT);
	cr_assert(strstr(e.msg, "line 4 of"), "%s", e.msg);
	ctr_store_close(s);

	/* valid JSON, wrong types or bad base64 */
	const char *bad[] = {
	    "{\"id\":\"t1\",\"v\":1,\"command\":5}\n",
	    "{\"id\":\"t2\",\"v\":1,\"nodes\":[[1,2]]}\n",
	    "{\"id\":\"t3\",\"v\":1,\"chunks\":[{\"data\":\"@@@@\"}]}\n",
	    "{\"id\":\"t4\",\"v\":1,\"meta\":{}}\n",
	    "[1,2,3]\n",
	    "{\"v\":1}\n",
	    "{\"id\":\"t7\"}\n",
	    "{\"id\":\"t8\",\"v\":1,\"processes\":[3]}\n",
	    "{\"id\":\"t9\",\"v\":1,\"id\":\"t9\"}\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(path, bad[i], "w");
		s = open_b(B_JSONL, "bad");
		ctr_err_clear(&e);
		cr_assert_eq(ctr_store_list(s, NULL, 0, 0, &l, &n, &e), CTR_EFORMAT, "%s", bad[i]);
		cr_assert(strstr(e.msg, "line 1 of"), "%s", e.msg);
		char id[8];
		snprintf(id, sizeof(id), "t%zu", i + 1);
		cr_assert_eq(ctr_store_load(s, id, CTR_LOAD_TIMELINE, &got, NULL), CTR_EFORMAT,
			     "%s", bad[i]);
		ctr_store_close(s);
	}

	/* a newer line format is a version error */
	write_file(path, "{\"id\":\"n1\",\"v\":3}\n", "w");
	s = open_b(B_JSONL, "bad");
	ctr_err_clear(&e);
	cr_assert_eq(ctr_store_list(s, NULL, 0, 0, &l, &n, &e), CTR_EVERSION);
	cr_assert(strstr(e.msg, "format version 3"), "%s", e.msg);
	ctr_store_close(s);

	/* a save after a line left without its newline starts on a line of its own */
	write_file(path, text, "w");
	write_file(path, "{\"id\":\"x\"", "a");
	s = open_b(B_JSONL, "bad");
	struct ctr_run *r3 = simple_run("ok-3", 30);
	save_ok(s, r3);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_store_load(s, "ok-3", CTR_LOAD_TIMELINE, &got, &e), 0, "%s", e.msg);
	cr_assert(ctr_run_equal(r3, got));
	ctr_run_free(got);
	cr_assert_eq(ctr_store_list(s, NULL, 0, 0, &l, &n, &e), CTR_EFORMAT);
	cr_assert(strstr(e.msg, "line 3"), "%s", e.msg);
	ctr_store_close(s);

	ctr_run_free(r1);
	ctr_run_free(r2);
	ctr_run_free(r3);
	free(text);
}

Test(store, jsonl_remove_is_atomic_rewrite)
{
	struct ctr_store *s = open_b(B_JSONL, "rw");
	struct ctr_run *r1 = simple_run("w-1", 10), *r2 = simple_run("w-2", 20);
	char path[512];
	struct stat st;

	save_ok(s, r1);
	save_ok(s, r2);
	snprintf(path, sizeof(path), "%s/rw.jsonl", tmpdir);
	chmod(path, 0640);
	cr_assert_eq(ctr_store_remove(s, "w-1", NULL), 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0640);
	cr_assert_str_eq(list_ids(s, NULL, 0, 0), "w-2");
	/* no temporary file left behind */
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "test $(ls %s | wc -l) -eq 1", tmpdir);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(ctr_store_remove(s, "w-1", NULL), CTR_ENOTFOUND);
	ctr_run_free(r1);
	ctr_run_free(r2);
	ctr_store_close(s);
}

Test(store, run_helpers_accept_null)
{
	ctr_run_free(NULL);
	ctr_run_list_free(NULL, 0);
	cr_assert(ctr_run_equal(NULL, NULL));
	struct ctr_run *r = simple_run("h", 1);
	cr_assert_not(ctr_run_equal(r, NULL));
	cr_assert(ctr_filter_match(NULL, r));
	ctr_run_free(r);
}
