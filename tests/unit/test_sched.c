/* SPDX-License-Identifier: MIT */
/*
 * Context switches (ingest/sched.h): sched.raw read back sorted per thread, a torn last record
 * ignored, a bad magic or kind CTRACE_E_FORMAT and a newer version CTRACE_E_VERSION; the
 * cumulative off-CPU clock of one thread (blocked and preempted gaps, a gap still open, a
 * switch-in without its switch-out, other threads' records) and its gaps for the timeline; the
 * --sched flag of the option table.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/options.h"
#include "scratch.h"
#include "store/store.h"
#include "tools/ingest/sched.h"

static char dir[PATH_MAX];
static int dfd = -1;

static void setup(void)
{
	ctr_ut_mkdtemp(dir, sizeof(dir), "ctrace-test-sched");
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(dfd, 0);
}

static void teardown(void)
{
	unlinkat(dfd, CTR_SCHED_FILE, 0);
	close(dfd);
	rmdir(dir);
}

/* Writes sched.raw with @n records (and @extra bytes of a torn one), version @ver. */
static void write_file(const struct ctr_sched_rec *r, size_t n, unsigned ver, size_t extra)
{
	unsigned char hdr[CTR_SCHED_HDR_SIZE] = {0}, rec[CTR_SCHED_REC_SIZE];
	uint16_t v = (uint16_t)ver, hs = CTR_SCHED_HDR_SIZE;
	uint32_t rs = CTR_SCHED_REC_SIZE;
	uint64_t lost = 3;
	int fd = openat(dfd, CTR_SCHED_FILE, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert_geq(fd, 0);
	memcpy(hdr, CTR_SCHED_MAGIC, 8);
	memcpy(hdr + 8, &v, 2);
	memcpy(hdr + 10, &hs, 2);
	memcpy(hdr + 12, &rs, 4);
	memcpy(hdr + 32, &lost, 8);
	cr_assert_eq(write(fd, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
	for (size_t i = 0; i < n; i++) {
		memcpy(rec, &r[i].time_ns, 8);
		memcpy(rec + 8, &r[i].pid, 4);
		memcpy(rec + 12, &r[i].tid, 4);
		memcpy(rec + 16, &r[i].cpu, 4);
		memcpy(rec + 20, &r[i].kind, 4);
		cr_assert_eq(write(fd, rec, sizeof(rec)), (ssize_t)sizeof(rec));
	}
	cr_assert_eq(write(fd, rec, extra), (ssize_t)extra);
	close(fd);
}

/* Thread 7 of process 5 (times in ms): out blocked 10-30, out preempted 40-45, out blocked
 * from 60 on; thread 8's records and a stray switch-in are mixed in, out of order. */
static const struct ctr_sched_rec recs[] = {
    {40000000, 5, 7, 0, CTR_SCHED_PREEMPT}, {5000000, 5, 7, 1, CTR_SCHED_IN},
    {10000000, 5, 7, 0, CTR_SCHED_OUT},	    {30000000, 5, 7, 1, CTR_SCHED_IN},
    {12000000, 5, 8, 0, CTR_SCHED_OUT},	    {45000000, 5, 7, 0, CTR_SCHED_IN},
    {60000000, 5, 7, 1, CTR_SCHED_OUT},	    {20000000, 5, 8, 0, CTR_SCHED_IN},
};
#define NRECS (sizeof(recs) / sizeof(recs[0]))
#define MS 1000000ull

Test(sched, load_sorts_per_thread_and_ignores_a_torn_record, .init = setup, .fini = teardown)
{
	struct ctr_sched_rec *r;
	size_t n;
	uint64_t lost;
	struct ctr_err e;

	ctr_err_clear(&e);
	write_file(recs, NRECS, CTR_SCHED_VERSION, 11);
	cr_assert_eq(ctr_sched_load(dfd, dir, getuid(), &r, &n, &lost, &e), 0, "%s", e.msg);
	cr_assert_eq(n, NRECS);
	cr_assert_eq(lost, 3);
	for (size_t i = 1; i < n; i++)
		cr_assert(r[i - 1].tid < r[i].tid ||
			      (r[i - 1].tid == r[i].tid && r[i - 1].time_ns <= r[i].time_ns),
			  "record %zu out of order", i);
	cr_assert_eq(r[0].time_ns, 5 * MS);
	cr_assert_eq(r[0].kind, CTR_SCHED_IN);
	cr_assert_eq(r[n - 1].tid, 8);
	free(r);
}

Test(sched, bad_files_are_errors, .init = setup, .fini = teardown)
{
	struct ctr_sched_rec *r = NULL, bad = {1, 5, 7, 0, 9};
	size_t n;
	uint64_t lost;
	struct ctr_err e;

	ctr_err_clear(&e);
	cr_assert_eq(ctr_sched_load(dfd, dir, getuid(), &r, &n, &lost, &e), CTR_ENOTFOUND);
	write_file(recs, NRECS, CTR_SCHED_VERSION + 1, 0);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_sched_load(dfd, dir, getuid(), &r, &n, &lost, &e), CTR_EVERSION);
	cr_assert(strstr(e.msg, "has version 2"), "%s", e.msg);
	write_file(&bad, 1, CTR_SCHED_VERSION, 0);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_sched_load(dfd, dir, getuid(), &r, &n, &lost, &e), CTR_EFORMAT);
	cr_assert(strstr(e.msg, "has kind 9"), "%s", e.msg);
	write_file(recs, 1, CTR_SCHED_VERSION, 0);
	{
		int fd = openat(dfd, CTR_SCHED_FILE, O_WRONLY);

		cr_assert_eq(pwrite(fd, "CTRSCHEX", 8, 0), 8);
		close(fd);
	}
	ctr_err_clear(&e);
	cr_assert_eq(ctr_sched_load(dfd, dir, getuid(), &r, &n, &lost, &e), CTR_EFORMAT);
	cr_assert(strstr(e.msg, "not a ctrace context-switch file"), "%s", e.msg);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_sched_load(dfd, dir, getuid() + 1, &r, &n, &lost, &e), CTR_EFORMAT,
		     "a file of another owner is refused");
	cr_assert_null(r);
}

static struct ctr_sched_rec *sorted(size_t *n)
{
	struct ctr_sched_rec *r;
	uint64_t lost;

	write_file(recs, NRECS, CTR_SCHED_VERSION, 0);
	cr_assert_eq(ctr_sched_load(dfd, dir, getuid(), &r, n, &lost, NULL), 0);
	return r;
}

Test(sched, cumulative_offcpu_clock, .init = setup, .fini = teardown)
{
	static const struct {
		uint64_t at, off, pre;
	} x[] = {
	    {0, 0, 0},
	    {10 * MS, 0, 0},
	    {15 * MS, 5 * MS, 0},
	    {30 * MS, 20 * MS, 0},
	    {42 * MS, 22 * MS, 2 * MS},
	    {50 * MS, 25 * MS, 5 * MS},
	    {60 * MS, 25 * MS, 5 * MS},
	    {70 * MS, 35 * MS, 5 * MS}, /* still out at the end */
	};
	struct ctr_offcpu o;
	size_t n;
	struct ctr_sched_rec *r = sorted(&n);

	/* shift: the run began 1 ms after the monotonic clock's 0 of this test */
	ctr_offcpu_init(&o, r, n, 5, 7, (int64_t)MS, 0, 1);
	for (size_t i = 0; i < sizeof(x) / sizeof(x[0]); i++) {
		uint64_t off, pre;

		ctr_offcpu_at(&o, x[i].at - (x[i].at ? MS : 0), &off, &pre);
		cr_assert_eq(off, x[i].off, "at %llu: off %llu, expected %llu",
			     (unsigned long long)x[i].at, (unsigned long long)off,
			     (unsigned long long)x[i].off);
		cr_assert_eq(pre, x[i].pre, "at %llu: preempted %llu", (unsigned long long)x[i].at,
			     (unsigned long long)pre);
	}
	ctr_offcpu_init(&o, r, n, 5, 9, 0, 0, 1); /* a thread without switches */
	{
		uint64_t off = 1, pre = 1;

		ctr_offcpu_at(&o, 100 * MS, &off, &pre);
		cr_assert_eq(off + pre, 0);
	}
	free(r);
}

Test(sched, gaps_for_the_timeline, .init = setup, .fini = teardown)
{
	struct ctr_offcpu o;
	uint64_t start, dur;
	int pre;
	size_t n;
	struct ctr_sched_rec *r = sorted(&n);

	ctr_offcpu_init(&o, r, n, 5, 7, 0, 0, 1);
	cr_assert_eq(ctr_offcpu_gap(&o, 29 * MS, &start, &dur, &pre), 0, "not over yet at 29 ms");
	cr_assert_eq(ctr_offcpu_gap(&o, 30 * MS, &start, &dur, &pre), 1);
	cr_assert_eq(start, 10 * MS);
	cr_assert_eq(dur, 20 * MS);
	cr_assert_eq(pre, 0);
	cr_assert_eq(ctr_offcpu_gap(&o, 100 * MS, &start, &dur, &pre), 1);
	cr_assert_eq(start, 40 * MS);
	cr_assert_eq(dur, 5 * MS);
	cr_assert_eq(pre, 1);
	cr_assert_eq(ctr_offcpu_gap(&o, 1000 * MS, &start, &dur, &pre), 0,
		     "the last switch-out, never back, is no gap");
	/* the process's anchors say a monotonic ns is 0.5 ns of run time, from run time 1 ms */
	ctr_offcpu_init(&o, r, n, 5, 7, 0, (double)MS, 0.5);
	cr_assert_eq(ctr_offcpu_gap(&o, 100 * MS, &start, &dur, &pre), 1);
	cr_assert_eq(start, 6 * MS);
	cr_assert_eq(dur, 10 * MS);
	free(r);
}

Test(sched, option_is_a_flag)
{
	const struct ctr_opt_def *d = &ctr_opt_defs[CTR_OPT_SCHED];
	struct ctr_opt_val v;
	char why[256], help[256];

	cr_assert_str_eq(d->env, "CTRACE_SCHED");
	cr_assert_eq(d->kind, CTR_OPT_FLAG);
	cr_assert_eq(ctr_opt_parse(d, "on", &v, why, sizeof(why)), 0);
	cr_assert_eq(v.u, 1);
	cr_assert_eq(ctr_opt_parse(d, "off", &v, why, sizeof(why)), 0);
	cr_assert_eq(v.u, 0);
	cr_assert_eq(ctr_opt_parse(d, "1", &v, why, sizeof(why)), -1);
	cr_assert_str_eq(why, "wants on or off, got '1'");
	ctr_opt_help(d, help, sizeof(help));
	cr_assert(!strncmp(help, "      --sched  ", 15), "'%s'", help);
}

/* A store of schema 2 (before the off-CPU columns) opens, upgrades, keeps its runs (with no
 * off-CPU time) and stores new ones with it. */
Test(sched, sqlite_schema_2_store_upgrades, .init = setup, .fini = teardown)
{
	char path[PATH_MAX + 16], conn[PATH_MAX + 32];
	struct ctr_store *s = NULL;
	struct ctr_run *r = calloc(1, sizeof(*r)), *got = NULL;
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/old.db", dir);
	snprintf(conn, sizeof(conn), "sqlite:%s", path);
	snprintf(r->id, sizeof(r->id), "old-1");
	r->functions = calloc(1, sizeof(*r->functions));
	r->functions[0].name = strdup("f");
	r->functions[0].module = CTR_NONE; /* the run has no modules */
	r->n_functions = 1;
	r->threads = calloc(1, sizeof(*r->threads));
	r->threads[0].name = strdup("t");
	r->n_threads = 1;
	r->nodes = calloc(1, sizeof(*r->nodes));
	r->nodes[0] = (struct ctr_node){.parent = CTR_NONE,
					.calls = 1,
					.total_ns = 100,
					.raw_total_ns = 100,
					.offcpu_ns = 60,
					.preempt_ns = 10};
	r->n_nodes = 1;
	cr_assert_eq(ctr_store_open(&s, conn, NULL), 0);
	cr_assert_eq(ctr_store_save(s, r, NULL), 0);
	ctr_store_close(s);
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db,
				  "ALTER TABLE nodes DROP COLUMN offcpu_ns;"
				  "ALTER TABLE nodes DROP COLUMN preempt_ns;"
				  "ALTER TABLE modules DROP COLUMN loaded_ns;" /* schema 4 */
				  "ALTER TABLE modules DROP COLUMN unloaded_ns;"
				  "ALTER TABLE nodes DROP COLUMN preempted_calls;" /* schema 6 */
				  "PRAGMA user_version = 2",
				  NULL, NULL, NULL),
		     SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_close(db);
	cr_assert_eq(ctr_store_open(&s, conn, NULL), 0);
	cr_assert_eq(ctr_store_load(s, "old-1", 0, &got, NULL), 0);
	cr_assert_eq(got->n_nodes, 1);
	cr_assert_eq(got->nodes[0].total_ns, 100);
	cr_assert_eq(got->nodes[0].offcpu_ns + got->nodes[0].preempt_ns, 0);
	ctr_run_free(got);
	snprintf(r->id, sizeof(r->id), "new-1");
	cr_assert_eq(ctr_store_save(s, r, NULL), 0);
	cr_assert_eq(ctr_store_load(s, "new-1", 0, &got, NULL), 0);
	cr_assert_eq(got->nodes[0].offcpu_ns, 60);
	cr_assert_eq(got->nodes[0].preempt_ns, 10);
	ctr_run_free(got);
	ctr_store_close(s);
	ctr_run_free(r);
	unlink(path);
}
