/* SPDX-License-Identifier: MIT */
/*
 * Tests of ctrace commit (ingest/commit.c). Each test writes a tiny raw run directory by hand,
 * byte by byte as docs/format.md defines it (run.meta, p-PID-GEN.meta/.maps, t-PID-GEN-TID.ev
 * with a 128-byte header and 32-bit event words), commits it with ctr_commit_dir() into a
 * memory store and checks the loaded run number by number: calls, tree shape, total, self,
 * min, max, the overhead compensation of docs/report.md, invariants and error codes.
 *
 * Clock: ticks_per_sec = 1e9 and the process's start_real_ns is the run's start, so one tick
 * is one nanosecond and a time T ticks after start_ticks is stored as T ns. Functions are fake
 * addresses outside every module (named "0xADDR"), except in the symbolization test, which
 * uses real functions of this binary and a module map naming it.
 */
#include <criterion/criterion.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <link.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/format.h"
#include "scratch.h"
#include "store/store.h"
#include "tools/ingest/commit.h"
#include "tools/ingest/invariants.h"
#include "tools/ingest/sched.h"
#include "tools/view/report.h"

#define PID 4242
#define T0 1000ull		    /* start_ticks of the process and of its threads */
#define REAL0 1763683200000000000ll /* start_real_ns: 2025-11-21T00:00:00Z */

/* Fake function addresses, 16 bytes apart: distinct slots. */
#define A_MAIN 0x401000ull
#define A_A 0x401010ull
#define A_B 0x401020ull
#define A_C 0x401030ull
#define A_F 0x401040ull
#define A_WORK 0x401050ull
#define A_WORKER 0x401060ull

/* ---- fixtures ---- */

static char tmpdir[256];
static char rundir[512];
static struct ctr_store *store;

static void setup(void)
{
	struct ctr_err e;

	ctr_ut_mkdtemp(tmpdir, sizeof(tmpdir), "ctrace-test-commit");
	snprintf(rundir, sizeof(rundir), "%s/run", tmpdir);
	cr_assert_eq(mkdir(rundir, 0700), 0);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_store_open(&store, "memory:", &e), 0, "%s", e.msg);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void teardown(void)
{
	ctr_store_close(store);
	store = NULL;
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(commit, .init = setup, .fini = teardown);

/* ---- the raw run generator ---- */

static void write_file(const char *name, const void *data, size_t len)
{
	char path[1024];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", rundir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0, "cannot create '%s'", path);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void write_text(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void write_text(const char *name, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	cr_assert(n >= 0 && (size_t)n < sizeof(buf));
	write_file(name, buf, (size_t)n);
}

static const char *const run_id = "20251121T000000-c0ffee";

static void write_run_meta(void)
{
	write_text("run.meta",
		   "ctrace-run 1\nid=%s\nroot_pid=%d\narg=./prog\ncommand=./prog\nhost=testhost\n"
		   "cwd=/tmp\nstart_real_ns=%lld\ncreated_by=record\n",
		   run_id, PID, REAL0);
}

/* p-PID-0.meta with @extra lines (each ending in a newline) after start_real_ns, and a module
 * map: @maps lines, or none (every address is then outside all modules). */
static void write_proc_lines(const char *extra, const char *maps)
{
	char name[64];

	snprintf(name, sizeof(name), "p-%d-0.meta", PID);
	write_text(name,
		   "ctrace-proc 1\npid=%d\nppid=1\ngen=0\nexe=/tmp/prog\ncommand=./prog\n"
		   "clock=tsc\nticks_per_sec=1000000000\nstart_ticks=%llu\nstart_real_ns=%lld\n"
		   "%sexit_status=0\n",
		   PID, T0, REAL0, extra);
	snprintf(name, sizeof(name), "p-%d-0.maps", PID);
	write_text(name, "%s", maps ? maps : "");
}

/* write_proc_lines() with calibration @inner / @call (NULL: keys left out). */
static void write_proc(const char *inner, const char *call, const char *maps)
{
	char cal[256] = "";

	if (inner && call)
		snprintf(cal, sizeof(cal), "overhead_inner_ns=%s\noverhead_call_ns=%s\n", inner,
			 call);
	write_proc_lines(cal, maps);
}

/* One thread's event words, written as the recorder does: a TIME record first, DEFINE before
 * the first ENTER of each address (slots from ctr_slot_of()), TIME when a delta does not fit. */
struct evbuf {
	uint32_t w[4096];
	size_t n;
	uint64_t now; /* ticks */
	uint64_t slot_addr[CTR_NSLOTS];
};

static struct evbuf *ev_new(void)
{
	struct evbuf *b = calloc(1, sizeof(*b));

	cr_assert_not_null(b);
	return b;
}

static void ev_word(struct evbuf *b, uint32_t w)
{
	cr_assert_lt(b->n, sizeof(b->w) / sizeof(b->w[0]));
	b->w[b->n++] = w;
}

static void ev_u64(struct evbuf *b, uint64_t v)
{
	ev_word(b, (uint32_t)v);
	ev_word(b, (uint32_t)(v >> 32));
}

/* TIME record: absolute time @t ns after start (ticks T0 + t). */
static void ev_time(struct evbuf *b, uint64_t t)
{
	ev_word(b, ctr_w_ext(CTR_X_TIME, 2, 0));
	ev_u64(b, T0 + t);
	b->now = T0 + t;
}

/* ENTER of @addr at @t ns after start. */
static void ev_enter(struct evbuf *b, uint64_t addr, uint64_t t)
{
	uint32_t slot = ctr_slot_of(addr);

	if (b->n == 0 || T0 + t - b->now > CTR_ENTER_DELTA_MAX)
		ev_time(b, t);
	if (b->slot_addr[slot] != addr + 1) {
		ev_word(b, ctr_w_ext(CTR_X_DEFINE, 2, slot));
		ev_u64(b, addr);
		b->slot_addr[slot] = addr + 1;
	}
	ev_word(b, ctr_w_enter(slot, (uint32_t)(T0 + t - b->now)));
	b->now = T0 + t;
}

/* EXIT of the innermost open frame at @t ns after start. */
static void ev_exit(struct evbuf *b, uint64_t t)
{
	cr_assert_geq(T0 + t, b->now);
	ev_word(b, ctr_w2_exit((uint32_t)(T0 + t - b->now)));
	b->now = T0 + t;
}

/* A whole call of @addr from @t0 to @t1 with no callees. */
static void ev_call(struct evbuf *b, uint64_t addr, uint64_t t0, uint64_t t1)
{
	ev_enter(b, addr, t0);
	ev_exit(b, t1);
}

enum { EV_CLOSED = 1, EV_OPEN = 0 };

/* Writes t-PID-0-TID.ev: the 128-byte header of docs/format.md, then @b's words. @closed sets
 * flag bit 1 and end_offset; an open file gets @pad zero words after the data (preallocated
 * window). @cut, when not 0, truncates the file to that many bytes. */
static void ev_write_file(struct evbuf *b, int tid, const char *tname, int closed, size_t pad,
			  size_t cut)
{
	size_t len = CTR_EV_HDR_SIZE + (b->n + pad) * 4;
	unsigned char *buf = calloc(1, len);
	struct ctr_ev_hdr h;
	char name[64];

	cr_assert_not_null(buf);
	_Static_assert(sizeof(h) == CTR_EV_HDR_SIZE, "header is 128 bytes");
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, CTR_EV_MAGIC, 8);
	h.version = CTR_EV_VERSION;
	h.hdr_size = CTR_EV_HDR_SIZE;
	h.flags = CTR_EV_FLAG_TSC | (closed ? CTR_EV_FLAG_CLOSED : 0);
	h.pid = PID;
	h.tid = tid;
	h.ppid = 1;
	h.gen = 0;
	h.ticks_per_sec = 1000000000ull;
	h.start_ticks = T0;
	h.end_offset = closed ? CTR_EV_HDR_SIZE + b->n * 4 : 0;
	h.lost_events = 0;
	snprintf(h.name, sizeof(h.name), "%s", tname);
	/* byte by byte as docs/format.md: the struct is the little-endian layout on this host */
	cr_assert_eq(offsetof(struct ctr_ev_hdr, ticks_per_sec), 32);
	cr_assert_eq(offsetof(struct ctr_ev_hdr, name), 64);
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + CTR_EV_HDR_SIZE, b->w, b->n * 4);
	snprintf(name, sizeof(name), "t-%d-0-%d.ev", PID, tid);
	write_file(name, buf, cut ? cut : len);
	free(buf);
}

/* ---- committing and reading back ---- */

static int commit_opts(int raw_times, struct ctr_err *e)
{
	struct ctr_commit_opts o = {.keep = 1, .raw_times = raw_times};
	char id[CTR_RUN_ID_MAX] = "";

	ctr_err_clear(e);
	return ctr_commit_dir(store, rundir, &o, id, e);
}

static struct ctr_run *commit_load(int raw_times)
{
	struct ctr_run *r = NULL;
	struct ctr_err e;
	int ret = commit_opts(raw_times, &e);

	cr_assert_eq(ret, 0, "commit: %d %s", ret, e.msg);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_store_load(store, run_id, 0, &r, &e), 0, "load: %s", e.msg);
	return r;
}

static void assert_nothing_stored(void)
{
	struct ctr_run **runs = NULL, *r = NULL;
	size_t n = 99;

	cr_assert_eq(ctr_store_list(store, NULL, 0, 0, &runs, &n, NULL), 0);
	cr_assert_eq(n, 0, "a failed commit left %zu runs in the store", n);
	ctr_run_list_free(runs, n);
	cr_assert_eq(ctr_store_load(store, run_id, 0, &r, NULL), CTR_ENOTFOUND);
}

/* The function named "0xADDR" (a fake address outside every module). */
static uint32_t fn_of(const struct ctr_run *r, uint64_t addr)
{
	char name[32];

	snprintf(name, sizeof(name), "0x%llx", (unsigned long long)addr);
	for (size_t i = 0; i < r->n_functions; i++)
		if (!strcmp(r->functions[i].name, name))
			return (uint32_t)i;
	cr_assert_fail("no function %s in the run", name);
	return CTR_NONE;
}

/* The node of function @addr under @parent (CTR_NONE: top level) in thread @thread. */
static const struct ctr_node *node_at(const struct ctr_run *r, uint32_t thread, uint32_t parent,
				      uint64_t addr)
{
	uint32_t f = fn_of(r, addr);

	for (size_t i = 0; i < r->n_nodes; i++)
		if (r->nodes[i].thread == thread && r->nodes[i].parent == parent &&
		    r->nodes[i].function == f)
			return &r->nodes[i];
	cr_assert_fail("no node 0x%llx under %u in thread %u", (unsigned long long)addr, parent,
		       thread);
	return NULL;
}

/* Calls and compensated figures of one node. */
static void assert_node(const struct ctr_node *n, uint64_t calls, uint64_t total, uint64_t self,
			uint64_t min, uint64_t max)
{
	cr_assert_eq(n->calls, calls, "node %u calls %llu, want %llu", n->id,
		     (unsigned long long)n->calls, (unsigned long long)calls);
	cr_expect_eq(n->total_ns, total, "node %u total %llu, want %llu", n->id,
		     (unsigned long long)n->total_ns, (unsigned long long)total);
	cr_expect_eq(n->self_ns, self, "node %u self %llu, want %llu", n->id,
		     (unsigned long long)n->self_ns, (unsigned long long)self);
	cr_expect_eq(n->min_ns, min, "node %u min %llu, want %llu", n->id,
		     (unsigned long long)n->min_ns, (unsigned long long)min);
	cr_expect_eq(n->max_ns, max, "node %u max %llu, want %llu", n->id,
		     (unsigned long long)n->max_ns, (unsigned long long)max);
}

static void assert_raw(const struct ctr_node *n, uint64_t total, uint64_t self, uint64_t min,
		       uint64_t max)
{
	cr_expect_eq(n->raw_total_ns, total, "node %u raw total %llu, want %llu", n->id,
		     (unsigned long long)n->raw_total_ns, (unsigned long long)total);
	cr_expect_eq(n->raw_self_ns, self, "node %u raw self %llu, want %llu", n->id,
		     (unsigned long long)n->raw_self_ns, (unsigned long long)self);
	cr_expect_eq(n->raw_min_ns, min, "node %u raw min", n->id);
	cr_expect_eq(n->raw_max_ns, max, "node %u raw max", n->id);
}

/* Without calibration keys the compensated figures are the raw ones. */
static void assert_both(const struct ctr_node *n, uint64_t calls, uint64_t total, uint64_t self,
			uint64_t min, uint64_t max)
{
	assert_node(n, calls, total, self, min, max);
	assert_raw(n, total, self, min, max);
}

/* Number of children of node @id. */
static size_t n_children(const struct ctr_run *r, uint32_t id)
{
	size_t k = 0;

	for (size_t i = 0; i < r->n_nodes; i++)
		k += r->nodes[i].parent == id;
	return k;
}

static size_t n_roots(const struct ctr_run *r, uint32_t thread)
{
	size_t k = 0;

	for (size_t i = 0; i < r->n_nodes; i++)
		k += r->nodes[i].parent == CTR_NONE && r->nodes[i].thread == thread;
	return k;
}

/* Per-function row of the flat profile (view/report.c) for @addr, all threads. */
static struct ctr_prof_entry prof_of(const struct ctr_run *r, uint64_t addr, int raw)
{
	struct ctr_prof_entry *rows = NULL, out = {0};
	size_t n = 0;
	uint32_t f = fn_of(r, addr);
	int found = 0;

	cr_assert_eq(ctr_report_profile(r, CTR_NONE, raw, &rows, &n, NULL), 0);
	for (size_t i = 0; i < n; i++)
		if (rows[i].function == f) {
			out = rows[i];
			found = 1;
		}
	free(rows);
	cr_assert(found, "function 0x%llx not in the profile", (unsigned long long)addr);
	return out;
}

/* The invariants of every committed run: self <= total per node, children's totals sum to at
 * most the parent's, parents before children; and per function (flat profile) self <= total. */
static void check_invariants(const struct ctr_run *r)
{
	for (int raw = 0; raw < 2; raw++) {
		struct ctr_prof_entry *rows = NULL;
		size_t n = 0;

		for (size_t i = 0; i < r->n_nodes; i++) {
			const struct ctr_node *nd = &r->nodes[i];
			uint64_t tot = raw ? nd->raw_total_ns : nd->total_ns;
			uint64_t self = raw ? nd->raw_self_ns : nd->self_ns;
			uint64_t sum = 0;

			cr_expect_leq(self, tot, "%s node %zu: self %llu > total %llu",
				      raw ? "raw" : "compensated", i, (unsigned long long)self,
				      (unsigned long long)tot);
			if (nd->parent != CTR_NONE)
				cr_expect_lt(nd->parent, nd->id, "parent after child");
			for (size_t j = 0; j < r->n_nodes; j++)
				if (r->nodes[j].parent == i)
					sum +=
					    raw ? r->nodes[j].raw_total_ns : r->nodes[j].total_ns;
			cr_expect_leq(sum, tot, "%s node %zu: children's totals %llu > total %llu",
				      raw ? "raw" : "compensated", i, (unsigned long long)sum,
				      (unsigned long long)tot);
			cr_expect_leq(raw ? nd->raw_min_ns : nd->min_ns,
				      raw ? nd->raw_max_ns : nd->max_ns, "node %zu: min > max", i);
		}
		cr_assert_eq(ctr_report_profile(r, CTR_NONE, raw, &rows, &n, NULL), 0);
		for (size_t i = 0; i < n; i++)
			cr_expect_leq(rows[i].self_ns, rows[i].total_ns,
				      "%s function %s: self %llu > total %llu",
				      raw ? "raw" : "compensated",
				      r->functions[rows[i].function].name,
				      (unsigned long long)rows[i].self_ns,
				      (unsigned long long)rows[i].total_ns);
		free(rows);
	}
}

/* ---- shapes ---- */

Test(commit, single_leaf)
{
	struct evbuf *b = ev_new();
	struct ctr_run *r;

	write_run_meta();
	write_proc(NULL, NULL, NULL);
	ev_call(b, A_A, 100, 350);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	r = commit_load(0);

	cr_assert_str_eq(r->id, run_id);
	cr_assert_str_eq(r->command, "./prog");
	cr_expect_eq(r->start_unix_ns, REAL0);
	cr_expect_eq(r->ticks_per_sec, 1000000000ull);
	cr_expect_eq(r->events, 2);
	cr_expect_eq(r->duration_ns, 350);
	cr_assert_eq(r->n_threads, 1);
	cr_expect_eq(r->threads[0].tid, PID);
	cr_expect_str_eq(r->threads[0].name, "prog");
	cr_expect_eq(r->threads[0].start_ns, 100);
	cr_expect_eq(r->threads[0].end_ns, 350);
	cr_expect_eq(r->threads[0].events, 2);
	cr_assert_eq(r->n_functions, 1);
	cr_expect_eq(r->functions[0].kind, CTR_FN_FUNCTION);
	cr_expect_eq(r->functions[0].module, CTR_NONE);
	cr_assert_eq(r->n_nodes, 1);
	cr_expect_eq(r->nodes[0].parent, CTR_NONE);
	assert_both(node_at(r, 0, CTR_NONE, A_A), 1, 250, 250, 250, 250);
	check_invariants(r);
	ctr_run_free(r);
	free(b);
}

/* main [0,200] calls a [10,40], a [50,70], b [80,180]. */
Test(commit, main_calls_a_and_b)
{
	struct evbuf *b = ev_new();
	struct ctr_run *r;
	const struct ctr_node *m;
	struct ctr_prof_entry pa;

	write_run_meta();
	write_proc(NULL, NULL, NULL);
	ev_enter(b, A_MAIN, 0);
	ev_call(b, A_A, 10, 40);
	ev_call(b, A_A, 50, 70);
	ev_call(b, A_B, 80, 180);
	ev_exit(b, 200);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	r = commit_load(0);

	cr_assert_eq(r->n_functions, 3);
	cr_assert_eq(r->n_nodes, 3);
	cr_expect_eq(r->events, 8);
	cr_expect_eq(n_roots(r, 0), 1);
	m = node_at(r, 0, CTR_NONE, A_MAIN);
	cr_expect_eq(n_children(r, m->id), 2);
	/* main: total 200, children 30 + 20 + 100 = 150, self 50 */
	assert_both(m, 1, 200, 50, 200, 200);
	/* a: two calls of 30 and 20 */
	assert_both(node_at(r, 0, m->id, A_A), 2, 50, 50, 20, 30);
	assert_both(node_at(r, 0, m->id, A_B), 1, 100, 100, 100, 100);
	cr_expect_eq(n_children(r, node_at(r, 0, m->id, A_B)->id), 0);
	pa = prof_of(r, A_A, 0);
	cr_expect_eq(pa.calls, 2);
	cr_expect_eq(pa.total_ns, 50);
	cr_expect_eq(pa.min_ns, 20);
	cr_expect_eq(pa.max_ns, 30);
	cr_expect_eq(ctr_report_calls(r), 4);
	check_invariants(r);
	ctr_run_free(r);
	free(b);
}

/* f [0,100] -> f [10,80] -> f [20,50]: one node per level, one function. */
Test(commit, recursion)
{
	struct evbuf *b = ev_new();
	struct ctr_run *r;
	const struct ctr_node *f1, *f2, *f3;
	struct ctr_prof_entry pf;

	write_run_meta();
	write_proc(NULL, NULL, NULL);
	ev_enter(b, A_F, 0);
	ev_enter(b, A_F, 10);
	ev_call(b, A_F, 20, 50);
	ev_exit(b, 80);
	ev_exit(b, 100);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	r = commit_load(0);

	cr_assert_eq(r->n_functions, 1);
	cr_assert_eq(r->n_nodes, 3);
	f1 = node_at(r, 0, CTR_NONE, A_F);
	f2 = node_at(r, 0, f1->id, A_F);
	f3 = node_at(r, 0, f2->id, A_F);
	cr_expect_eq(n_children(r, f3->id), 0);
	assert_both(f1, 1, 100, 30, 100, 100); /* 100 - 70 */
	assert_both(f2, 1, 70, 40, 70, 70);    /* 70 - 30 */
	assert_both(f3, 1, 30, 30, 30, 30);
	/* per function: 3 calls; total counts the outermost activation only; self sums levels */
	pf = prof_of(r, A_F, 0);
	cr_expect_eq(pf.calls, 3);
	cr_expect_eq(pf.total_ns, 100);
	cr_expect_eq(pf.self_ns, 100);
	cr_expect_eq(pf.min_ns, 30);
	cr_expect_eq(pf.max_ns, 100);
	check_invariants(r);
	ctr_run_free(r);
	free(b);
}

/* Thread 4242 'main': main [0,100] -> work [10,60]; thread 4243 'worker': worker [20,220] ->
 * work [30,80], work [100,200]. The same address is one function in both threads. */
Test(commit, two_threads)
{
	struct evbuf *b1 = ev_new(), *b2 = ev_new();
	struct ctr_run *r;
	const struct ctr_node *m, *w;
	struct ctr_prof_entry pw;

	write_run_meta();
	write_proc(NULL, NULL, NULL);
	ev_enter(b1, A_MAIN, 0);
	ev_call(b1, A_WORK, 10, 60);
	ev_exit(b1, 100);
	ev_write_file(b1, PID, "main", EV_CLOSED, 0, 0);
	ev_enter(b2, A_WORKER, 20);
	ev_call(b2, A_WORK, 30, 80);
	ev_call(b2, A_WORK, 100, 200);
	ev_exit(b2, 220);
	ev_write_file(b2, PID + 1, "worker", EV_CLOSED, 0, 0);
	r = commit_load(0);

	cr_assert_eq(r->n_threads, 2);
	cr_expect_eq(r->threads[0].tid, PID);
	cr_expect_eq(r->threads[1].tid, PID + 1);
	cr_expect_str_eq(r->threads[0].name, "main");
	cr_expect_str_eq(r->threads[1].name, "worker");
	cr_expect_eq(r->threads[0].start_ns, 0);
	cr_expect_eq(r->threads[0].end_ns, 100);
	cr_expect_eq(r->threads[1].start_ns, 20);
	cr_expect_eq(r->threads[1].end_ns, 220);
	cr_expect_eq(r->threads[0].events, 4);
	cr_expect_eq(r->threads[1].events, 6);
	cr_expect_eq(r->events, 10);
	cr_expect_eq(r->duration_ns, 220);
	cr_assert_eq(r->n_functions, 3);
	cr_assert_eq(r->n_nodes, 4);
	cr_expect_eq(n_roots(r, 0), 1);
	cr_expect_eq(n_roots(r, 1), 1);

	m = node_at(r, 0, CTR_NONE, A_MAIN);
	assert_both(m, 1, 100, 50, 100, 100);
	assert_both(node_at(r, 0, m->id, A_WORK), 1, 50, 50, 50, 50);
	w = node_at(r, 1, CTR_NONE, A_WORKER);
	assert_both(w, 1, 200, 50, 200, 200); /* 200 - 50 - 100 */
	assert_both(node_at(r, 1, w->id, A_WORK), 2, 150, 150, 50, 100);
	pw = prof_of(r, A_WORK, 0);
	cr_expect_eq(pw.calls, 3);
	cr_expect_eq(pw.total_ns, 200);
	cr_expect_eq(pw.self_ns, 200);
	cr_expect_eq(pw.min_ns, 50);
	cr_expect_eq(pw.max_ns, 100);
	check_invariants(r);
	ctr_run_free(r);
	free(b1);
	free(b2);
}

/* A killed writer: the file is not closed (end_offset 0), zero words follow the data. main
 * [0,..] -> a [10,30], then b enters at 40 and calls c [50,60]; b and main are never exited.
 * docs/errors.md: enters without an exit are closed at the thread's last event (60). */
Test(commit, open_call_closed_at_last_event)
{
	struct evbuf *b = ev_new();
	struct ctr_run *r;
	const struct ctr_node *m, *nb;

	write_run_meta();
	write_proc(NULL, NULL, NULL);
	ev_enter(b, A_MAIN, 0);
	ev_call(b, A_A, 10, 30);
	ev_enter(b, A_B, 40);
	ev_call(b, A_C, 50, 60);
	ev_write_file(b, PID, "prog", EV_OPEN, 64, 0);
	r = commit_load(0);

	cr_assert_eq(r->n_nodes, 4);
	cr_expect_eq(r->events, 6);
	cr_expect_eq(r->threads[0].end_ns, 60);
	m = node_at(r, 0, CTR_NONE, A_MAIN);
	assert_both(m, 1, 60, 20, 60, 60); /* 60 - a 20 - b 20 */
	assert_both(node_at(r, 0, m->id, A_A), 1, 20, 20, 20, 20);
	nb = node_at(r, 0, m->id, A_B);
	assert_both(nb, 1, 20, 10, 20, 20); /* [40,60] - c 10 */
	assert_both(node_at(r, 0, nb->id, A_C), 1, 10, 10, 10, 10);
	check_invariants(r);
	ctr_run_free(r);
	free(b);
}

/* The same stream as a closed file: identical figures (the end comes from end_offset). */
Test(commit, open_call_in_closed_file)
{
	struct evbuf *b = ev_new();
	struct ctr_run *r;
	const struct ctr_node *m;

	write_run_meta();
	write_proc(NULL, NULL, NULL);
	ev_enter(b, A_MAIN, 0);
	ev_call(b, A_A, 10, 30);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	r = commit_load(0);
	m = node_at(r, 0, CTR_NONE, A_MAIN);
	assert_both(m, 1, 30, 10, 30, 30);
	assert_both(node_at(r, 0, m->id, A_A), 1, 20, 20, 20, 20);
	ctr_run_free(r);
	free(b);
}

/* A delta too large for an ENTER word (16 bits) goes through a TIME record; EXIT deltas take 31
 * bits. main [0, 3000000] -> a [100000, 2100000]. */
Test(commit, long_deltas)
{
	struct evbuf *b = ev_new();
	struct ctr_run *r;
	const struct ctr_node *m;

	write_run_meta();
	write_proc(NULL, NULL, NULL);
	ev_enter(b, A_MAIN, 0);
	ev_call(b, A_A, 100000, 2100000);
	ev_exit(b, 3000000);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	r = commit_load(0);
	m = node_at(r, 0, CTR_NONE, A_MAIN);
	assert_both(m, 1, 3000000, 1000000, 3000000, 3000000);
	assert_both(node_at(r, 0, m->id, A_A), 1, 2000000, 2000000, 2000000, 2000000);
	ctr_run_free(r);
	free(b);
}

/* ---- compensation (docs/report.md, "Compensation") ---- */

/* main [0,1000] -> a [100,300] -> leaf c [150,200]; main -> b [400,900]. Enters in order:
 * main 0, a 1, c 2, b 3 (4 in all). */
static void write_compensation_run(void)
{
	struct evbuf *b = ev_new();

	write_run_meta();
	/* binary fractions: every step below is exact in double */
	write_proc("2.5", "10.25", NULL);
	ev_enter(b, A_MAIN, 0);
	ev_enter(b, A_A, 100);
	ev_call(b, A_C, 150, 200);
	ev_exit(b, 300);
	ev_call(b, A_B, 400, 900);
	ev_exit(b, 1000);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	free(b);
}

Test(commit, compensation_by_hand)
{
	struct ctr_run *r;
	const struct ctr_node *m, *a;

	write_compensation_run();
	r = commit_load(0);
	/* the calibration is kept in the run */
	cr_expect_eq(r->overhead_inner_ns, 2.5);
	cr_expect_eq(r->overhead_call_ns, 10.25);
	m = node_at(r, 0, CTR_NONE, A_MAIN);
	a = node_at(r, 0, m->id, A_A);
	/*
	 * I = overhead_inner_ns = 2.5, C = overhead_call_ns = 10.25; per call:
	 *   total = raw total - I - D * C            D = calls made below it, at any depth
	 *   self  = raw self  - I - K * (C - I)      K = its direct child calls
	 * each rounded to the nearest ns (x.5 up), negative results are 0; then the total is at
	 * least the children's (rounded) totals and self at most the total minus them, so that the
	 * integers add up exactly: total = self + sum of the children's totals.
	 *
	 * c: raw 50/50, D = 0, K = 0: total = 50 - 2.5 = 47.5 -> 48; self the same, 48.
	 */
	assert_node(node_at(r, 0, a->id, A_C), 1, 48, 48, 48, 48);
	assert_raw(node_at(r, 0, a->id, A_C), 50, 50, 50, 50);
	/* a: raw total 200, self 200 - 50 = 150, D = 1, K = 1:
	 *   total = 200 - 2.5 - 1 * 10.25 = 187.25 -> 187
	 *   self  = 150 - 2.5 - 1 * (10.25 - 2.5) = 150 - 2.5 - 7.75 = 139.75 -> 140,
	 *   at most total - c's total = 187 - 48 = 139 */
	assert_node(a, 1, 187, 139, 187, 187);
	assert_raw(a, 200, 150, 200, 200);
	/* b: raw 500/500, D = 0, K = 0: 500 - 2.5 = 497.5 -> 498 */
	assert_node(node_at(r, 0, m->id, A_B), 1, 498, 498, 498, 498);
	assert_raw(node_at(r, 0, m->id, A_B), 500, 500, 500, 500);
	/* main: raw total 1000, self 1000 - 200 - 500 = 300, D = 3 (a, c, b), K = 2 (a, b):
	 *   total = 1000 - 2.5 - 3 * 10.25 = 1000 - 2.5 - 30.75 = 966.75 -> 967
	 *   self  = 300 - 2.5 - 2 * 7.75 = 300 - 2.5 - 15.5 = 282 */
	assert_node(m, 1, 967, 282, 967, 967);
	assert_raw(m, 1000, 300, 1000, 1000);
	check_invariants(r);
	ctr_run_free(r);
}

Test(commit, raw_times_unchanged)
{
	struct ctr_run *r;
	const struct ctr_node *m, *a;

	write_compensation_run();
	r = commit_load(1);
	/* --raw-times: no calibration applied or recorded */
	cr_expect_eq(r->overhead_inner_ns, 0);
	cr_expect_eq(r->overhead_call_ns, 0);
	m = node_at(r, 0, CTR_NONE, A_MAIN);
	a = node_at(r, 0, m->id, A_A);
	assert_both(m, 1, 1000, 300, 1000, 1000);
	assert_both(a, 1, 200, 150, 200, 200);
	assert_both(node_at(r, 0, a->id, A_C), 1, 50, 50, 50, 50);
	assert_both(node_at(r, 0, m->id, A_B), 1, 500, 500, 500, 500);
	check_invariants(r);
	ctr_run_free(r);
}

/* Compensation per call: min and max are per-call compensated figures, totals their sums.
 * main [0,300] -> a [10,110] (100), a [120,140] (20), a [150,290] (140); I = 4, C = 10. */
Test(commit, compensation_per_call_min_max)
{
	struct evbuf *b = ev_new();
	struct ctr_run *r;
	const struct ctr_node *m;

	write_run_meta();
	write_proc("4", "10", NULL);
	ev_enter(b, A_MAIN, 0);
	ev_call(b, A_A, 10, 110);
	ev_call(b, A_A, 120, 140);
	ev_call(b, A_A, 150, 290);
	ev_exit(b, 300);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	r = commit_load(0);
	m = node_at(r, 0, CTR_NONE, A_MAIN);
	/* a: each call - I: 96, 16, 136; total 248, min 16, max 136 */
	assert_node(node_at(r, 0, m->id, A_A), 3, 248, 248, 16, 136);
	assert_raw(node_at(r, 0, m->id, A_A), 260, 260, 20, 140);
	/* main: raw 300, self 300 - 260 = 40, D = K = 3:
	 *   total = 300 - 4 - 3 * 10 = 266; self = 40 - 4 - 3 * (10 - 4) = 18 */
	assert_node(m, 1, 266, 18, 266, 266);
	/* 266 - 18 = 248: the children's compensated totals */
	check_invariants(r);
	ctr_run_free(r);
	free(b);
}

/* Recursion compensated, with integer calibration I = 2, C = 10: f [0,100] -> f [10,80] ->
 * f [20,50]. */
Test(commit, compensation_recursion)
{
	struct evbuf *b = ev_new();
	struct ctr_run *r;
	const struct ctr_node *f1, *f2, *f3;
	struct ctr_prof_entry pf;

	write_run_meta();
	write_proc("2", "10", NULL);
	ev_enter(b, A_F, 0);
	ev_enter(b, A_F, 10);
	ev_call(b, A_F, 20, 50);
	ev_exit(b, 80);
	ev_exit(b, 100);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	r = commit_load(0);
	f1 = node_at(r, 0, CTR_NONE, A_F);
	f2 = node_at(r, 0, f1->id, A_F);
	f3 = node_at(r, 0, f2->id, A_F);
	/* f3: 30 - 2 = 28 */
	assert_node(f3, 1, 28, 28, 28, 28);
	/* f2: total 70 - 2 - 1 * 10 = 58; self 40 - 2 - 1 * 8 = 30 */
	assert_node(f2, 1, 58, 30, 58, 58);
	/* f1: total 100 - 2 - 2 * 10 = 78; self 30 - 2 - 1 * 8 = 20 */
	assert_node(f1, 1, 78, 20, 78, 78);
	/* flat: total = outermost 78, self 28 + 30 + 20 = 78 <= 78 */
	pf = prof_of(r, A_F, 0);
	cr_expect_eq(pf.total_ns, 78);
	cr_expect_eq(pf.self_ns, 78);
	check_invariants(r);
	ctr_run_free(r);
	free(b);
}

/* A child call shorter than overhead_inner_ns: its compensated total is clamped up to 1 ns and
 * its parent's self is what the parent's total leaves to it, never more than the total:
 *   I = 2.5, C = 10.25; p [0,100] -> c [10,11]:
 *   c: 1 - 2.5 < 0 -> total 1, self 1
 *   p: total = 100 - 2.5 - 10.25 = 87.25 -> 87; self = 87 - 1 = 86. */
Test(commit, invariant_short_child)
{
	struct evbuf *b = ev_new();
	struct ctr_run *r;
	const struct ctr_node *p;

	write_run_meta();
	write_proc("2.5", "10.25", NULL);
	ev_enter(b, A_MAIN, 0);
	ev_call(b, A_A, 10, 11);
	ev_exit(b, 100);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	r = commit_load(0);
	p = node_at(r, 0, CTR_NONE, A_MAIN);
	assert_node(p, 1, 87, 86, 87, 87);
	assert_node(node_at(r, 0, p->id, A_A), 1, 1, 1, 1, 1);
	check_invariants(r);
	ctr_run_free(r);
	free(b);
}

/* Every call's compensated total is rounded on its own, but self is the total minus the
 * children's totals, so in a recursion the per-function self (the sum over levels) adds up to
 * the per-function total (the outermost level) exactly:
 *   I = 2.5, C = 10.25; f [0,100] -> f [10,80] -> f [20,50]:
 *   f3: 30 - 2.5 = 27.5 -> 28; f2: 70 - 2.5 - 10.25 = 57.25 -> 57, self 29;
 *   f1: 100 - 2.5 - 2 * 10.25 = 77, self 20; flat f: self 28 + 29 + 20 = 77 = total. */
Test(commit, invariant_recursion_rounding)
{
	struct evbuf *b = ev_new();
	struct ctr_run *r;
	struct ctr_prof_entry pf;

	write_run_meta();
	write_proc("2.5", "10.25", NULL);
	ev_enter(b, A_F, 0);
	ev_enter(b, A_F, 10);
	ev_call(b, A_F, 20, 50);
	ev_exit(b, 80);
	ev_exit(b, 100);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	r = commit_load(0);
	pf = prof_of(r, A_F, 0);
	cr_expect_eq(pf.total_ns, 77);
	cr_expect_eq(pf.self_ns, 77);
	ctr_run_free(r);
	free(b);
}

/* Invariants over a bushier tree with realistic calibration: two threads, recursion under
 * work, repeated calls, an open frame at the end of the second thread. */
Test(commit, invariants)
{
	struct evbuf *b1 = ev_new(), *b2 = ev_new();
	struct ctr_run *r;

	write_run_meta();
	write_proc("3", "12", NULL);
	ev_enter(b1, A_MAIN, 0);
	for (uint64_t i = 0; i < 5; i++) {
		uint64_t t = 100 + i * 1000;

		ev_enter(b1, A_WORK, t);
		ev_enter(b1, A_F, t + 50);
		ev_enter(b1, A_F, t + 100);
		ev_call(b1, A_F, t + 150, t + 300);
		ev_exit(b1, t + 400);
		ev_call(b1, A_A, t + 450, t + 500 + i * 10);
		ev_exit(b1, t + 600);
		ev_exit(b1, t + 800);
	}
	ev_exit(b1, 6000);
	ev_write_file(b1, PID, "main", EV_CLOSED, 0, 0);
	ev_enter(b2, A_WORKER, 10);
	ev_call(b2, A_B, 100, 400);
	ev_enter(b2, A_WORK, 500);
	ev_call(b2, A_A, 600, 700);
	ev_write_file(b2, PID + 1, "worker", EV_OPEN, 8, 0);
	r = commit_load(0);
	cr_assert_eq(r->n_threads, 2);
	/* main, work, f, f, f, a in thread 0; worker, b, work, a in thread 1 */
	cr_expect_eq(r->n_nodes, 10);
	cr_expect_eq(node_at(r, 0, CTR_NONE, A_MAIN)->calls, 1);
	cr_expect_eq(prof_of(r, A_F, 0).calls, 15);
	cr_expect_eq(prof_of(r, A_A, 0).calls, 6);
	cr_expect_eq(prof_of(r, A_WORK, 0).calls, 6);
	check_invariants(r);
	ctr_run_free(r);
	free(b1);
	free(b2);
}

/* ---- forward compatibility and torn tails ---- */

/* An extended record of a kind this reader does not know (63, two payload words) is skipped by
 * its payload length (docs/format.md): the figures are those without it. */
Test(commit, unknown_extended_kind_skipped)
{
	struct evbuf *b = ev_new();
	struct ctr_run *r;
	const struct ctr_node *m;

	write_run_meta();
	write_proc(NULL, NULL, NULL);
	ev_enter(b, A_MAIN, 0);
	ev_word(b, ctr_w_ext(63, 2, 7));
	ev_word(b, 0xFFFFFFFFu); /* payload that would decode as EXIT words if not skipped */
	ev_word(b, 0x00000003u);
	ev_call(b, A_A, 10, 40);
	ev_exit(b, 100);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	r = commit_load(0);
	cr_assert_eq(r->n_nodes, 2);
	cr_expect_eq(r->events, 4);
	m = node_at(r, 0, CTR_NONE, A_MAIN);
	assert_both(m, 1, 100, 70, 100, 100);
	assert_both(node_at(r, 0, m->id, A_A), 1, 30, 30, 30, 30);
	ctr_run_free(r);
	free(b);
}

/* A writer killed in the middle of a record: the unclosed file ends with a DEFINE header whose
 * payload never came. Committed up to the last whole event; open frames end there. */
Test(commit, torn_record_at_end_of_open_file)
{
	struct evbuf *b = ev_new();
	struct ctr_run *r;
	const struct ctr_node *m;

	write_run_meta();
	write_proc(NULL, NULL, NULL);
	ev_enter(b, A_MAIN, 0);
	ev_call(b, A_A, 10, 40);
	ev_word(b, ctr_w_ext(CTR_X_DEFINE, 2, ctr_slot_of(A_B)));
	ev_word(b, (uint32_t)A_B); /* the high word is missing */
	ev_write_file(b, PID, "prog", EV_OPEN, 0, 0);
	r = commit_load(0);
	m = node_at(r, 0, CTR_NONE, A_MAIN);
	assert_both(m, 1, 40, 10, 40, 40);
	assert_both(node_at(r, 0, m->id, A_A), 1, 30, 30, 30, 30);
	ctr_run_free(r);
	free(b);
}

/* Exits with no open frame are dropped (docs/errors.md). */
Test(commit, unmatched_exit_dropped)
{
	struct evbuf *b = ev_new();
	struct ctr_run *r;

	write_run_meta();
	write_proc(NULL, NULL, NULL);
	ev_time(b, 0);
	ev_exit(b, 5);
	ev_call(b, A_A, 10, 40);
	ev_exit(b, 50);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	r = commit_load(0);
	cr_assert_eq(r->n_nodes, 1);
	assert_both(node_at(r, 0, CTR_NONE, A_A), 1, 30, 30, 30, 30);
	ctr_run_free(r);
	free(b);
}

/* ---- errors: the right code, nothing stored, the raw directory kept ---- */

static void assert_commit_fails(int code)
{
	struct ctr_commit_opts o = {.keep = 0};
	char id[CTR_RUN_ID_MAX] = "";
	struct ctr_err e;
	int ret;

	ctr_err_clear(&e);
	ret = ctr_commit_dir(store, rundir, &o, id, &e);
	cr_assert_eq(ret, code, "commit returned %d (%s), want %d", ret, e.msg, code);
	cr_expect_eq(e.code, code, "error code %d, want %d", e.code, code);
	cr_expect_neq(e.msg[0], '\0', "no message");
	assert_nothing_stored();
	/* keep = 0, yet a failed commit never removes the raw directory */
	cr_expect_eq(access(rundir, F_OK), 0, "raw directory removed");
}

/* A cleanly closed file cut after the fact: shorter than its end_offset. */
Test(commit, truncated_closed_event_file)
{
	struct evbuf *b = ev_new();

	write_run_meta();
	write_proc(NULL, NULL, NULL);
	ev_enter(b, A_MAIN, 0);
	ev_call(b, A_A, 10, 40);
	ev_exit(b, 100);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, CTR_EV_HDR_SIZE + 12);
	assert_commit_fails(CTR_EFORMAT);
	free(b);
}

/* An event file shorter than its 128-byte header. */
Test(commit, event_file_shorter_than_header)
{
	struct evbuf *b = ev_new();

	write_run_meta();
	write_proc(NULL, NULL, NULL);
	ev_call(b, A_A, 10, 40);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 100);
	assert_commit_fails(CTR_EFORMAT);
	free(b);
}

/* A second, good thread does not save a run whose other thread is corrupt. */
Test(commit, one_bad_thread_stores_nothing)
{
	struct evbuf *b1 = ev_new(), *b2 = ev_new();

	write_run_meta();
	write_proc(NULL, NULL, NULL);
	ev_call(b1, A_A, 10, 40);
	ev_write_file(b1, PID, "main", EV_CLOSED, 0, 0);
	ev_call(b2, A_B, 10, 40);
	ev_write_file(b2, PID + 1, "worker", EV_CLOSED, 0, CTR_EV_HDR_SIZE + 4);
	assert_commit_fails(CTR_EFORMAT);
	free(b1);
	free(b2);
}

Test(commit, missing_run_directory)
{
	cr_assert_eq(rmdir(rundir), 0);
	assert_nothing_stored();
	{
		struct ctr_commit_opts o = {.keep = 1};
		char id[CTR_RUN_ID_MAX] = "";
		struct ctr_err e;

		ctr_err_clear(&e);
		cr_expect_eq(ctr_commit_dir(store, rundir, &o, id, &e), CTR_ENOTFOUND, "%s", e.msg);
	}
	assert_nothing_stored();
}

/* BUG (reported): docs/errors.md lists "a run directory without run.meta" under
 * CTRACE_E_FORMAT (CTRACE_E_NOT_FOUND is for a run directory that does not exist), but
 * read_run_meta() in ingest/rundir.c maps the ENOENT of run.meta to CTR_ENOTFOUND. Nothing is
 * stored either way. Enable once code and docs agree (fix one of them). */
Test(commit, missing_run_meta)
{
	struct evbuf *b = ev_new();

	write_proc(NULL, NULL, NULL);
	ev_call(b, A_A, 10, 40);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	assert_commit_fails(CTR_EFORMAT);
	free(b);
}

/* What the code does today for a missing run.meta: an error, nothing stored. */
Test(commit, missing_run_meta_fails)
{
	struct evbuf *b = ev_new();
	struct ctr_commit_opts o = {.keep = 1};
	char id[CTR_RUN_ID_MAX] = "";
	struct ctr_err e;

	write_proc(NULL, NULL, NULL);
	ev_call(b, A_A, 10, 40);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	ctr_err_clear(&e);
	cr_expect_lt(ctr_commit_dir(store, rundir, &o, id, &e), 0);
	cr_expect_lt(e.code, 0);
	assert_nothing_stored();
	free(b);
}

Test(commit, run_meta_of_a_newer_version)
{
	write_text("run.meta", "ctrace-run 2\nid=%s\ncommand=./prog\n", run_id);
	write_proc(NULL, NULL, NULL);
	assert_commit_fails(CTR_EVERSION);
}

Test(commit, missing_module_map)
{
	struct evbuf *b = ev_new();
	char maps[600];

	write_run_meta();
	write_proc(NULL, NULL, NULL);
	snprintf(maps, sizeof(maps), "%s/p-%d-0.maps", rundir, PID);
	cr_assert_eq(unlink(maps), 0);
	ev_call(b, A_A, 10, 40);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	assert_commit_fails(CTR_EFORMAT);
	free(b);
}

/* An ENTER word naming a slot no DEFINE filled, well before the end of the data. */
Test(commit, enter_of_undefined_slot)
{
	struct evbuf *b = ev_new();

	write_run_meta();
	write_proc(NULL, NULL, NULL);
	ev_enter(b, A_MAIN, 0);
	ev_word(b, ctr_w_enter(ctr_slot_of(A_B), 5));
	ev_call(b, A_A, 10, 40);
	ev_exit(b, 50);
	ev_call(b, A_A, 60, 70);
	ev_exit(b, 100);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	assert_commit_fails(CTR_EFORMAT);
	free(b);
}

/* An event word before the first TIME record. */
Test(commit, event_before_time)
{
	struct evbuf *b = ev_new();

	write_run_meta();
	write_proc(NULL, NULL, NULL);
	ev_word(b, ctr_w2_exit(3));
	ev_call(b, A_A, 10, 40);
	ev_call(b, A_A, 50, 60);
	ev_call(b, A_A, 70, 80);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	assert_commit_fails(CTR_EFORMAT);
	free(b);
}

/* An extended word of an unknown kind whose payload length runs past the end of the data. */
Test(commit, unknown_kind_longer_than_file)
{
	struct evbuf *b = ev_new();

	write_run_meta();
	write_proc(NULL, NULL, NULL);
	ev_enter(b, A_MAIN, 0);
	ev_word(b, ctr_w_ext(50, 200, 0));
	ev_call(b, A_A, 10, 40);
	ev_call(b, A_A, 50, 60);
	ev_exit(b, 100);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	assert_commit_fails(CTR_EFORMAT);
	free(b);
}

Test(commit, no_events)
{
	struct evbuf *b = ev_new();

	write_run_meta();
	write_proc(NULL, NULL, NULL);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	assert_commit_fails(CTR_ENOEVENTS);
	free(b);
}

/* ---- store behaviour ---- */

/* Committing the same directory twice keeps one copy; keep = 0 removes the raw directory only
 * after the run is stored. */
Test(commit, twice_stores_one_copy)
{
	struct evbuf *b = ev_new();
	struct ctr_commit_opts o = {.keep = 0};
	struct ctr_run **runs = NULL, *r;
	char id[CTR_RUN_ID_MAX] = "";
	size_t n = 0;
	struct ctr_err e;

	write_run_meta();
	write_proc(NULL, NULL, NULL);
	ev_call(b, A_A, 10, 40);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	r = commit_load(0); /* keep = 1 */
	ctr_run_free(r);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_commit_dir(store, rundir, &o, id, &e), 0, "%s", e.msg);
	cr_expect_str_eq(id, run_id);
	cr_assert_eq(ctr_store_list(store, NULL, 0, 0, &runs, &n, NULL), 0);
	cr_expect_eq(n, 1);
	ctr_run_list_free(runs, n);
	cr_expect_neq(access(rundir, F_OK), 0, "raw directory still there");
	free(b);
}

/* The stored timeline decodes back to the same calls at the same times. */
Test(commit, timeline_stored)
{
	struct evbuf *b = ev_new();
	struct ctr_run *r = NULL;
	struct ctr_err e;

	write_run_meta();
	write_proc(NULL, NULL, NULL);
	ev_enter(b, A_MAIN, 0);
	ev_call(b, A_A, 10, 40);
	ev_exit(b, 100);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	cr_assert_eq(commit_opts(0, &e), 0, "%s", e.msg);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_store_load(store, run_id, CTR_LOAD_TIMELINE, &r, &e), 0, "%s", e.msg);
	cr_assert_geq(r->n_chunks, 1);
	cr_expect_eq(r->chunks[0].thread, 0);
	cr_expect_eq(r->chunks[0].first_ns, 0);
	cr_expect_eq(r->chunks[r->n_chunks - 1].last_ns, 100);
	ctr_run_free(r);
	free(b);
}

/* ---- symbolization of real functions of this binary ---- */

__attribute__((noinline, used)) void ctr_test_commit_leaf(void)
{
	__asm__ volatile("");
}

__attribute__((noinline, used)) void ctr_test_commit_parent(void)
{
	ctr_test_commit_leaf();
	__asm__ volatile("");
}

struct self_map {
	uint64_t bias, lo, hi;
	char bid[2 * 64 + 1]; /* hex GNU build-id, as the preload writes it in the maps */
	int found;
};

/* The GNU build-id note of a loaded PT_NOTE segment, in hex, into @m->bid. */
static void note_build_id(struct self_map *m, const unsigned char *p, size_t len)
{
	while (len >= sizeof(ElfW(Nhdr))) {
		const ElfW(Nhdr) *nh = (const void *)p;
		size_t name = (nh->n_namesz + 3) & ~(size_t)3,
		       desc = (nh->n_descsz + 3) & ~(size_t)3;
		size_t rec = sizeof(*nh) + name + desc;

		if (rec > len)
			return;
		if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
		    !memcmp(p + sizeof(*nh), "GNU", 4) && nh->n_descsz <= 64) {
			for (size_t i = 0; i < nh->n_descsz; i++)
				snprintf(m->bid + 2 * i, 3, "%02x", p[sizeof(*nh) + name + i]);
			return;
		}
		p += rec;
		len -= rec;
	}
}

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct self_map *m = arg;

	if (m->found)
		return 1;
	m->bias = info->dlpi_addr;
	m->lo = UINT64_MAX;
	m->hi = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_NOTE && !m->bid[0])
			note_build_id(m, (const unsigned char *)(info->dlpi_addr + ph->p_vaddr),
				      ph->p_memsz);
		if (ph->p_type != PT_LOAD)
			continue;
		if (info->dlpi_addr + ph->p_vaddr < m->lo)
			m->lo = info->dlpi_addr + ph->p_vaddr;
		if (info->dlpi_addr + ph->p_vaddr + ph->p_memsz > m->hi)
			m->hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
	}
	m->found = 1; /* the first object is the main program */
	return 1;
}

Test(commit, symbolizes_functions_of_the_test_binary)
{
	struct evbuf *b = ev_new();
	struct self_map sm = {0};
	char exe[PATH_MAX], maps[PATH_MAX + 256];
	uint64_t pa = (uint64_t)(uintptr_t)&ctr_test_commit_parent,
		 la = (uint64_t)(uintptr_t)&ctr_test_commit_leaf;
	struct ctr_run *r;
	int found_p = 0, found_l = 0;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	cr_assert_gt(n, 0);
	exe[n] = 0;
	dl_iterate_phdr(find_self, &sm);
	cr_assert(sm.found && pa >= sm.lo && pa < sm.hi);
	cr_assert_neq(sm.bid[0], '\0', "the test binary has no GNU build-id");
	snprintf(maps, sizeof(maps), "L %llx %llx %llx %s %s\n", (unsigned long long)sm.bias,
		 (unsigned long long)sm.lo, (unsigned long long)sm.hi, sm.bid, exe);
	write_run_meta();
	write_proc(NULL, NULL, maps);
	ev_enter(b, pa, 0);
	ev_call(b, la, 10, 20);
	ev_exit(b, 30);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	r = commit_load(0);
	cr_assert_eq(r->n_modules, 1);
	cr_expect_str_eq(r->modules[0].path, exe);
	cr_expect_str_eq(r->modules[0].build_id, sm.bid);
	cr_assert_eq(r->n_functions, 2);
	for (size_t i = 0; i < r->n_functions; i++) {
		const struct ctr_function *f = &r->functions[i];

		cr_expect_eq(f->module, 0);
		if (!strcmp(f->name, "ctr_test_commit_parent")) {
			found_p = 1;
			cr_expect_eq(f->offset, pa - sm.bias);
		} else if (!strcmp(f->name, "ctr_test_commit_leaf")) {
			found_l = 1;
			cr_expect_eq(f->offset, la - sm.bias);
		}
		cr_expect(strstr(f->file, "test_commit.c"), "file of %s: '%s'", f->name, f->file);
	}
	cr_expect(found_p && found_l, "names: '%s', '%s'", r->functions[0].name,
		  r->functions[1].name);
	ctr_run_free(r);
	free(b);
}

/* ---- tracer time measured in the run (issue 11: docs/report.md, "True times") ---- */

/* TRACER record: @ns ticks (= ns here) the recorder spent at this point of the stream. */
static void ev_tracer(struct evbuf *b, uint32_t ns)
{
	ev_word(b, ctr_w_ext(CTR_X_TRACER, 1, 0));
	ev_word(b, ns);
}

/* HIDDEN record: @count unrecorded hook pairs of @kind in the innermost open frame. */
static void ev_hidden(struct evbuf *b, uint32_t kind, uint32_t count)
{
	ev_word(b, ctr_w_ext(CTR_X_HIDDEN, 1, kind));
	ev_word(b, count);
}

/* p-PID-0.meta with every calibration key: inner 0 and call 0 isolate what the records add. */
static void write_proc_costs(const char *inner, const char *call, const char *excluded,
			     const char *deep)
{
	char name[64];

	snprintf(name, sizeof(name), "p-%d-0.meta", PID);
	write_text(name,
		   "ctrace-proc 1\npid=%d\nppid=1\ngen=0\nexe=/tmp/prog\ncommand=./prog\n"
		   "clock=tsc\nticks_per_sec=1000000000\nstart_ticks=%llu\nstart_real_ns=%lld\n"
		   "overhead_inner_ns=%s\noverhead_call_ns=%s\noverhead_excluded_ns=%s\n"
		   "overhead_deep_ns=%s\nexit_status=0\n",
		   PID, T0, REAL0, inner, call, excluded, deep);
	snprintf(name, sizeof(name), "p-%d-0.maps", PID);
	write_text(name, "%s", "");
}

/* main [0,1000] -> a [100,600]; 200 ns of window mapping right after a's enter (inside a),
 * 50 ns after a's exit (inside main only). */
Test(commit, tracer_time_removed_from_open_frames)
{
	struct evbuf *b = ev_new();
	struct ctr_run *r;
	const struct ctr_node *m;

	write_run_meta();
	write_proc_costs("0", "0", "0", "0");
	ev_enter(b, A_MAIN, 0);
	ev_enter(b, A_A, 100);
	ev_tracer(b, 200);
	ev_exit(b, 600);
	ev_tracer(b, 50);
	ev_exit(b, 1000);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	r = commit_load(0);
	m = node_at(r, 0, CTR_NONE, A_MAIN);
	/* a: 500 - 200 = 300; main: 1000 - 250 = 750, self 750 - 300 = 450 */
	assert_node(node_at(r, 0, m->id, A_A), 1, 300, 300, 300, 300);
	assert_node(m, 1, 750, 450, 750, 750);
	assert_raw(m, 1000, 500, 1000, 1000);
	check_invariants(r);
	ctr_run_free(r);
	free(b);
}

Test(commit, tracer_time_kept_with_raw_times)
{
	struct evbuf *b = ev_new();
	struct ctr_run *r;
	const struct ctr_node *m;

	write_run_meta();
	write_proc_costs("0", "0", "0", "0");
	ev_enter(b, A_MAIN, 0);
	ev_enter(b, A_A, 100);
	ev_tracer(b, 200);
	ev_exit(b, 600);
	ev_exit(b, 1000);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	r = commit_load(1);
	m = node_at(r, 0, CTR_NONE, A_MAIN);
	assert_node(node_at(r, 0, m->id, A_A), 1, 500, 500, 500, 500);
	assert_node(m, 1, 1000, 500, 1000, 1000);
	ctr_run_free(r);
	free(b);
}

/* Excluded calls cost 5 ns each, calls deeper than --depth 20: main [0,1000] runs 10 excluded
 * calls itself and b [200,400], which runs 4 excluded and 1 deep call. */
Test(commit, hidden_calls_removed_from_the_frame_that_paid)
{
	struct evbuf *b = ev_new();
	struct ctr_run *r;
	const struct ctr_node *m;

	write_run_meta();
	write_proc_costs("0", "0", "5", "20");
	ev_enter(b, A_MAIN, 0);
	ev_hidden(b, CTR_HIDDEN_EXCLUDED, 10);
	ev_enter(b, A_B, 200);
	ev_hidden(b, CTR_HIDDEN_EXCLUDED, 4);
	ev_hidden(b, CTR_HIDDEN_DEEP, 1);
	ev_exit(b, 400);
	ev_exit(b, 1000);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	r = commit_load(0);
	m = node_at(r, 0, CTR_NONE, A_MAIN);
	/* b: 200 - 4 * 5 - 20 = 160; main: 1000 - 50 - 40 = 910, self 800 - 50 = 750 */
	assert_node(node_at(r, 0, m->id, A_B), 1, 160, 160, 160, 160);
	assert_node(m, 1, 910, 750, 910, 910);
	check_invariants(r);
	ctr_run_free(r);
	free(b);
}

/* Calls dropped by --min-duration (COUNT records) ran both hooks in their owner: C = 10 each.
 * main [0,1000] with 7 dropped calls of a, counted just before main's exit. */
Test(commit, dropped_calls_cost_removed_from_owner)
{
	struct evbuf *b = ev_new();
	struct ctr_run *r;
	const struct ctr_node *m;

	write_run_meta();
	write_proc_costs("0", "10", "0", "0");
	ev_enter(b, A_MAIN, 0);
	ev_word(b, ctr_w_ext(CTR_X_DEFINE, 2, ctr_slot_of(A_A)));
	ev_u64(b, A_A);
	b->slot_addr[ctr_slot_of(A_A)] = A_A + 1;
	ev_word(b, ctr_w_ext(CTR_X_COUNT, 1, ctr_slot_of(A_A)));
	ev_word(b, 7);
	ev_exit(b, 1000);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	r = commit_load(0);
	m = node_at(r, 0, CTR_NONE, A_MAIN);
	cr_expect_eq(node_at(r, 0, m->id, A_A)->calls, 7);
	/* 1000 - 7 * 10 */
	assert_node(m, 1, 930, 930, 930, 930);
	ctr_run_free(r);
	free(b);
}

/* A call that took measurable time is never free: I = 5 against a 2 ns leaf gives 1 ns (the
 * resolution), and its parent still adds up. */
Test(commit, compensated_min_never_zero)
{
	struct evbuf *b = ev_new();
	struct ctr_run *r;
	const struct ctr_node *m;

	write_run_meta();
	write_proc_costs("5", "12", "0", "0");
	ev_enter(b, A_MAIN, 0);
	ev_call(b, A_A, 10, 12);
	ev_call(b, A_A, 20, 60);
	ev_exit(b, 100);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	r = commit_load(0);
	m = node_at(r, 0, CTR_NONE, A_MAIN);
	/* a: max(2 - 5, 1) = 1 and 40 - 5 = 35 */
	assert_node(node_at(r, 0, m->id, A_A), 2, 36, 36, 1, 35);
	check_invariants(r);
	ctr_run_free(r);
	free(b);
}

/* ctr_run_check() accepts a committed run and names the node and rule of a broken one. */
Test(commit, run_check_finds_broken_node)
{
	struct ctr_run *r;
	struct ctr_node *m;
	struct ctr_err e;

	write_compensation_run();
	r = commit_load(0);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_run_check(r, NULL, 0, &e), 0, "%s", e.msg);
	m = (struct ctr_node *)node_at(r, 0, CTR_NONE, A_MAIN);
	m->self_ns = m->total_ns + 1;
	cr_expect_eq(ctr_run_check(r, NULL, 0, &e), CTR_EINTERNAL);
	cr_expect(strstr(e.msg, "self <= total") != NULL, "%s", e.msg);
	m->self_ns = m->total_ns - 1; /* now children + self > total */
	ctr_err_clear(&e);
	cr_expect_eq(ctr_run_check(r, NULL, 0, &e), CTR_EINTERNAL);
	cr_expect(strstr(e.msg, "children's totals") != NULL, "%s", e.msg);
	ctr_run_free(r);
}

/* ---- a run still being recorded (issue 24, item 10) ---- */

/* The run of single_leaf plus a process of pid @pid without an end (no exit status), whose
 * preload started at @start_real_ns: a writer that may still be running. */
static void write_run_with_open_process(int pid, long long start_real_ns)
{
	struct evbuf *b = ev_new();
	char name[64];

	write_run_meta();
	write_proc(NULL, NULL, NULL);
	snprintf(name, sizeof(name), "p-%d-0.meta", pid);
	write_text(name,
		   "ctrace-proc 1\npid=%d\nppid=%d\ngen=0\nexe=/tmp/prog\ncommand=./prog\n"
		   "clock=tsc\nticks_per_sec=1000000000\nstart_ticks=%llu\nstart_real_ns=%lld\n",
		   pid, PID, T0, start_real_ns);
	snprintf(name, sizeof(name), "p-%d-0.maps", pid);
	write_text(name, "%s", "");
	ev_call(b, A_A, 100, 350);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
}

static long long now_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A process of the run is alive (this test, since before its preload "started"): refused with
 * CTR_EEXIST / EBUSY, nothing stored, nothing removed. */
Test(commit, refuses_a_run_whose_process_runs)
{
	struct ctr_err e;
	struct stat st;
	char path[1100];

	write_run_with_open_process((int)getpid(), now_real_ns());
	cr_assert_eq(commit_opts(0, &e), CTR_EEXIST, "%s", e.msg);
	cr_expect_eq(e.sys_errno, EBUSY);
	cr_expect_not_null(strstr(e.msg, "is still being recorded"), "%s", e.msg);
	assert_nothing_stored();
	snprintf(path, sizeof(path), "%s/p-%d-0.meta", rundir, (int)getpid());
	cr_expect_eq(stat(path, &st), 0, "the run directory was touched");
}

/* The pid is alive but started after the recorded process did: a reused pid, not the writer. */
Test(commit, a_reused_pid_is_not_the_writer)
{
	struct ctr_run *r;

	write_run_with_open_process((int)getpid(), now_real_ns() - 3600 * 1000000000LL);
	r = commit_load(0);
	cr_expect_eq(r->events, 2);
	ctr_run_free(r);
}

/* ctrace record (cut_running): committed, the running process named in running_at_commit. */
Test(commit, cut_running_names_the_process)
{
	struct ctr_commit_opts o = {.keep = 1, .cut_running = 1};
	char id[CTR_RUN_ID_MAX], want[32];
	struct ctr_run *r = NULL;
	struct ctr_err e;
	const char *got = NULL;

	write_run_with_open_process((int)getpid(), now_real_ns());
	ctr_err_clear(&e);
	cr_assert_eq(ctr_commit_dir(store, rundir, &o, id, &e), 0, "%s", e.msg);
	cr_assert_eq(ctr_store_load(store, run_id, 0, &r, &e), 0, "%s", e.msg);
	for (size_t i = 0; i < r->n_meta; i++)
		if (!strcmp(r->meta[i].key, "running_at_commit"))
			got = r->meta[i].value;
	snprintf(want, sizeof(want), "%d", (int)getpid());
	cr_assert_not_null(got);
	cr_expect_str_eq(got, want);
	ctr_run_free(r);
}

/* --libcalls: an address named by an "S ADDR NAME" line of the maps is that library call,
 * named SYM@LIB with no module; a malformed S line is ignored like any unknown line, and two
 * trampolines of one name are one function. */
Test(commit, libcall_named_by_maps)
{
	struct evbuf *b = ev_new();
	struct ctr_run *r;
	const struct ctr_node *m, *q;
	char maps[256];

	write_run_meta();
	snprintf(maps, sizeof(maps), "S %llx qsort@libc.so.6\nS zz bad\nS %llx malloc@libc.so.6\n",
		 (unsigned long long)A_A, (unsigned long long)A_B);
	write_proc(NULL, NULL, maps);
	ev_enter(b, A_MAIN, 0);
	ev_enter(b, A_A, 10);	 /* qsort */
	ev_call(b, A_C, 20, 30); /* its callback */
	ev_exit(b, 40);
	ev_call(b, A_B, 50, 60); /* malloc */
	ev_exit(b, 100);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	r = commit_load(0);

	m = node_at(r, 0, CTR_NONE, A_MAIN);
	cr_assert_eq(n_children(r, m->id), 2);
	q = NULL;
	for (size_t i = 0; i < r->n_nodes; i++) {
		const struct ctr_function *f = &r->functions[r->nodes[i].function];

		if (!strcmp(f->name, "qsort@libc.so.6")) {
			q = &r->nodes[i];
			cr_expect_eq(f->module, CTR_NONE);
			cr_expect_eq(f->kind, CTR_FN_FUNCTION);
		}
	}
	cr_assert_not_null(q);
	cr_expect_eq(q->parent, m->id);
	cr_expect_eq(q->calls, 1);
	cr_expect_eq(n_children(r, q->id), 1);
	cr_expect_eq(r->n_functions, 4);
	check_invariants(r);
	ctr_run_free(r);
	free(b);
}

/* ---- --sched: calls more than half preempted or in the recorder (issue 25, item 1) ---- */

#define MONO0 5000000000ll /* the process's CLOCK_MONOTONIC at start_ticks */

/* p-PID-0.meta with no calibration and start_mono_ns, so that sched.raw's switches map to run
 * time (mono MONO0 + t is t ns), and sched.raw with @n switches of the main thread at run
 * times @t (ns) of kinds @k. */
static void write_sched_run(const uint64_t *t, const uint32_t *k, size_t n)
{
	unsigned char hdr[CTR_SCHED_HDR_SIZE] = {0}, rec[CTR_SCHED_REC_SIZE];
	uint16_t v = CTR_SCHED_VERSION, hs = CTR_SCHED_HDR_SIZE;
	uint32_t rs = CTR_SCHED_REC_SIZE, cpu = 0;
	int32_t pid = PID;
	char line[64], path[1024];
	int fd;

	write_run_meta();
	snprintf(line, sizeof(line), "start_mono_ns=%lld\n", MONO0);
	write_proc_lines(line, NULL);
	snprintf(path, sizeof(path), "%s/%s", rundir, CTR_SCHED_FILE);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	memcpy(hdr, CTR_SCHED_MAGIC, 8);
	memcpy(hdr + 8, &v, 2);
	memcpy(hdr + 10, &hs, 2);
	memcpy(hdr + 12, &rs, 4);
	cr_assert_eq(write(fd, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
	for (size_t i = 0; i < n; i++) {
		uint64_t mono = (uint64_t)MONO0 + t[i];

		memcpy(rec, &mono, 8);
		memcpy(rec + 8, &pid, 4);
		memcpy(rec + 12, &pid, 4);
		memcpy(rec + 16, &cpu, 4);
		memcpy(rec + 20, &k[i], 4);
		cr_assert_eq(write(fd, rec, sizeof(rec)), (ssize_t)sizeof(rec));
	}
	close(fd);
}

/*
 * main [0,100000] calls, times in ns:
 *   a 100, 200, 300, and [1000,11000] preempted 1100-10900 (9800 of 10000: left out);
 *   c [30000,40000] preempted 30100-39900: c's only call, left out, so c's figures are its;
 *   f [50000,50400] of which 300 in the recorder right after its enter (a ring-full wait:
 *     stalled, left out; compensated 100), and f [51000,51100];
 *   b [60000,70000] blocked 60100-69900: voluntary off-CPU is a wait, not an outlier: kept.
 * main is preempted 19600 of 100000 and 300 in the recorder: kept.
 */
static void write_preempt_run(void)
{
	static const uint64_t t[] = {1100, 10900, 30100, 39900, 60100, 69900};
	static const uint32_t k[] = {CTR_SCHED_PREEMPT, CTR_SCHED_IN,  CTR_SCHED_PREEMPT,
				     CTR_SCHED_IN,	CTR_SCHED_OUT, CTR_SCHED_IN};
	struct evbuf *b = ev_new();

	write_sched_run(t, k, 6);
	ev_enter(b, A_MAIN, 0);
	ev_call(b, A_A, 100, 200);
	ev_call(b, A_A, 300, 500);
	ev_call(b, A_A, 600, 900);
	ev_call(b, A_A, 1000, 11000);
	ev_call(b, A_C, 30000, 40000);
	ev_enter(b, A_F, 50000);
	ev_tracer(b, 300);
	ev_exit(b, 50400);
	ev_call(b, A_F, 51000, 51100);
	ev_call(b, A_B, 60000, 70000);
	ev_exit(b, 100000);
	ev_write_file(b, PID, "prog", EV_CLOSED, 0, 0);
	free(b);
}

/* Commits the run directory into a new memory store, with or without --keep-preempted. */
static struct ctr_run *commit_preempt(int keep_preempted)
{
	struct ctr_commit_opts o = {.keep = 1, .keep_preempted = keep_preempted};
	char id[CTR_RUN_ID_MAX] = "";
	struct ctr_store *s = NULL;
	struct ctr_run *r = NULL;
	struct ctr_err e;

	ctr_err_clear(&e);
	cr_assert_eq(ctr_store_open(&s, "memory:", &e), 0, "%s", e.msg);
	cr_assert_eq(ctr_commit_dir(s, rundir, &o, id, &e), 0, "%s", e.msg);
	cr_assert_eq(ctr_store_load(s, run_id, 0, &r, &e), 0, "%s", e.msg);
	ctr_store_close(s);
	cr_assert_eq(ctr_run_check(r, NULL, 0, &e), 0, "%s", e.msg);
	check_invariants(r);
	return r;
}

static void assert_pcts(const struct ctr_node *n, uint64_t p50, uint64_t p90, uint64_t p99)
{
	cr_expect_eq(n->p50_ns, p50, "node %u p50 %llu, want %llu", n->id,
		     (unsigned long long)n->p50_ns, (unsigned long long)p50);
	cr_expect_eq(n->p90_ns, p90, "node %u p90 %llu, want %llu", n->id,
		     (unsigned long long)n->p90_ns, (unsigned long long)p90);
	cr_expect_eq(n->p99_ns, p99, "node %u p99 %llu, want %llu", n->id,
		     (unsigned long long)n->p99_ns, (unsigned long long)p99);
}

Test(commit, sched_preempted_calls_left_out)
{
	struct ctr_run *r;
	const struct ctr_node *m, *a, *c, *f, *bb;
	struct ctr_prof_entry pa;

	write_preempt_run();
	r = commit_preempt(0);
	cr_assert_str_eq(ctr_run_meta_get(r, "preempted_calls"), "excluded");
	m = node_at(r, 0, CTR_NONE, A_MAIN);
	a = node_at(r, 0, m->id, A_A);
	c = node_at(r, 0, m->id, A_C);
	f = node_at(r, 0, m->id, A_F);
	bb = node_at(r, 0, m->id, A_B);
	/* calls and totals are wall; min/max/percentiles of the calls kept in */
	assert_node(a, 4, 10600, 10600, 100, 300);
	assert_raw(a, 10600, 10600, 100, 300);
	cr_expect_eq(a->preempted_calls, 1);
	cr_expect_eq(a->preempt_ns, 9800);
	assert_pcts(a, 200, 300, 300);
	/* every call left out: its own figures, no sentinel */
	assert_node(c, 1, 10000, 10000, 10000, 10000);
	assert_raw(c, 10000, 10000, 10000, 10000);
	cr_expect_eq(c->preempted_calls, 1);
	assert_pcts(c, 10000, 10000, 10000);
	/* the stalled call: 300 of its 400 ns waiting for the recorder */
	assert_node(f, 2, 200, 200, 100, 100);
	assert_raw(f, 500, 500, 100, 100);
	cr_expect_eq(f->preempted_calls, 1);
	assert_pcts(f, 100, 100, 100);
	/* blocked, not preempted: an ordinary call */
	assert_node(bb, 1, 10000, 10000, 10000, 10000);
	cr_expect_eq(bb->offcpu_ns, 9800);
	cr_expect_eq(bb->preempted_calls, 0);
	cr_expect_eq(m->preempted_calls, 0);
	cr_expect_eq(m->max_ns, 100000 - 300);
	/* the flat profile: the count and the same min/max; the function's percentiles */
	pa = prof_of(r, A_A, 0);
	cr_expect_eq(pa.preempted_calls, 1);
	cr_expect_eq(pa.min_ns, 100);
	cr_expect_eq(pa.max_ns, 300);
	cr_expect_eq(r->functions[fn_of(r, A_A)].p99_ns, 300);
	pa = prof_of(r, A_C, 0);
	cr_expect_eq(pa.max_ns, 10000);
	cr_expect_eq(pa.preempted_calls, 1);
	ctr_run_free(r);
}

Test(commit, sched_keep_preempted)
{
	struct ctr_run *r;
	const struct ctr_node *m, *a, *f;

	write_preempt_run();
	r = commit_preempt(1);
	cr_assert_str_eq(ctr_run_meta_get(r, "preempted_calls"), "kept");
	m = node_at(r, 0, CTR_NONE, A_MAIN);
	a = node_at(r, 0, m->id, A_A);
	f = node_at(r, 0, m->id, A_F);
	assert_node(a, 4, 10600, 10600, 100, 10000);
	assert_raw(a, 10600, 10600, 100, 10000);
	cr_expect_eq(a->preempted_calls, 1); /* still counted */
	assert_pcts(a, 200, 10000, 10000);
	assert_node(f, 2, 200, 200, 100, 100);
	assert_raw(f, 500, 500, 100, 400);
	cr_expect_eq(f->preempted_calls, 1);
	cr_expect_eq(prof_of(r, A_A, 0).max_ns, 10000);
	cr_expect_eq(r->functions[fn_of(r, A_A)].p99_ns, 10000);
	ctr_run_free(r);
}

/* Without --sched nothing is counted or left out, and the metadata does not say so. */
Test(commit, no_sched_no_preempted_calls)
{
	struct ctr_run *r;
	char path[1024];

	write_preempt_run();
	snprintf(path, sizeof(path), "%s/%s", rundir, CTR_SCHED_FILE);
	cr_assert_eq(unlink(path), 0);
	r = commit_preempt(0);
	cr_expect_null(ctr_run_meta_get(r, "preempted_calls"));
	for (size_t i = 0; i < r->n_nodes; i++)
		cr_expect_eq(r->nodes[i].preempted_calls, 0);
	cr_expect_eq(prof_of(r, A_A, 0).max_ns, 10000);
	ctr_run_free(r);
}

/* The invariant: preempted calls <= calls; min <= avg over the calls kept in. */
Test(commit, run_check_preempted_calls)
{
	struct ctr_run *r;
	struct ctr_node *a;
	struct ctr_err e;

	write_preempt_run();
	r = commit_preempt(0);
	a = (struct ctr_node *)node_at(r, 0, node_at(r, 0, CTR_NONE, A_MAIN)->id, A_A);
	a->preempted_calls = a->calls + 1;
	ctr_err_clear(&e);
	cr_expect_eq(ctr_run_check(r, NULL, 0, &e), CTR_EINTERNAL);
	cr_expect(strstr(e.msg, "preempted calls <= calls") != NULL, "%s", e.msg);
	a->preempted_calls = 1;
	a->max_ns = 10000;
	a->min_ns = 3000; /* over the 3 calls kept in, not all 4: 3000 * 3 <= 10600 */
	ctr_err_clear(&e);
	cr_expect_eq(ctr_run_check(r, NULL, 0, &e), 0, "%s", e.msg);
	a->min_ns = 5000; /* 5000 * 3 > 10600 */
	ctr_err_clear(&e);
	cr_expect_eq(ctr_run_check(r, NULL, 0, &e), CTR_EINTERNAL);
	cr_expect(strstr(e.msg, "min <= avg") != NULL, "%s", e.msg);
	ctr_run_free(r);
}
