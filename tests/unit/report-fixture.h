/* SPDX-License-Identifier: MIT */
/*
 * A hand-built run for the report and export tests, with fixed times so that outputs are
 * deterministic: two threads, recursion (fib), a C++ name with < and &, a span with
 * attributes, a mark, and (fx_timeline) a stored timeline with nested calls, attributes, a
 * mark, lost events and calls left open at the end of a thread.
 */
#ifndef CTR_TEST_REPORT_FIXTURE_H
#define CTR_TEST_REPORT_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "store/timeline.h"

#define MS 1000000ull
#define US 1000ull

enum { F_MAIN, F_FIB, F_WORK, F_PUSH, F_LOAD, F_CHECK, F_COUNT };

static struct ctr_run *fx_new(const char *id, const char *command, uint64_t duration)
{
	struct ctr_run *r = calloc(1, sizeof(*r));

	cr_assert_not_null(r);
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->command = strdup(command);
	r->host = strdup("testhost");
	r->cwd = strdup("/tmp");
	r->clock = strdup("tsc");
	r->ticks_per_sec = 1000000000;
	r->start_unix_ns = 1763683200000000000ll; /* 2025-11-21T00:00:00Z */
	r->duration_ns = duration;
	r->exit_status = 0;
	return r;
}

static void fx_module(struct ctr_run *r, const char *path)
{
	r->modules = realloc(r->modules, (r->n_modules + 1) * sizeof(*r->modules));
	r->modules[r->n_modules] = (struct ctr_module){
	    .id = (uint32_t)r->n_modules, .path = strdup(path), .build_id = strdup("")};
	r->n_modules++;
}

static uint32_t fx_func(struct ctr_run *r, uint32_t kind, const char *name, const char *file,
			uint32_t line)
{
	r->functions = realloc(r->functions, (r->n_functions + 1) * sizeof(*r->functions));
	r->functions[r->n_functions] =
	    (struct ctr_function){.id = (uint32_t)r->n_functions,
				  .kind = kind,
				  .name = strdup(name),
				  .linkage_name = strdup(""),
				  .file = strdup(file),
				  .line = line,
				  .module = kind == CTR_FN_FUNCTION ? 0 : CTR_NONE,
				  .offset = 0x1000 + 16 * r->n_functions};
	return (uint32_t)r->n_functions++;
}

static void fx_thread(struct ctr_run *r, int tid, const char *name, uint64_t start, uint64_t end)
{
	r->threads = realloc(r->threads, (r->n_threads + 1) * sizeof(*r->threads));
	r->threads[r->n_threads] = (struct ctr_thread){.id = (uint32_t)r->n_threads,
						       .pid = 100,
						       .tid = tid,
						       .name = strdup(name),
						       .start_ns = start,
						       .end_ns = end,
						       .events = 1000};
	r->n_threads++;
}

/* Raw figures are the compensated ones plus 1 us per call (total, self) or per node (min, max). */
static uint32_t fx_node(struct ctr_run *r, uint32_t parent, uint32_t thread, uint32_t fn,
			uint64_t calls, uint64_t total, uint64_t self, uint64_t min, uint64_t max)
{
	r->nodes = realloc(r->nodes, (r->n_nodes + 1) * sizeof(*r->nodes));
	r->nodes[r->n_nodes] = (struct ctr_node){.id = (uint32_t)r->n_nodes,
						 .parent = parent,
						 .thread = thread,
						 .function = fn,
						 .calls = calls,
						 .total_ns = total,
						 .self_ns = self,
						 .min_ns = min,
						 .max_ns = max,
						 .raw_total_ns = total + calls * US,
						 .raw_self_ns = self + calls * US,
						 .raw_min_ns = min + US,
						 .raw_max_ns = max + US};
	return (uint32_t)r->n_nodes++;
}

static void fx_attr(struct ctr_run *r, uint32_t node, const char *key, const char *value,
		    uint64_t count)
{
	r->attrs = realloc(r->attrs, (r->n_attrs + 1) * sizeof(*r->attrs));
	r->attrs[r->n_attrs++] = (struct ctr_attr){node, strdup(key), strdup(value), count};
}

static void fx_meta(struct ctr_run *r, const char *key, const char *value)
{
	r->meta = realloc(r->meta, (r->n_meta + 1) * sizeof(*r->meta));
	r->meta[r->n_meta++] = (struct ctr_kv){strdup(key), strdup(value)};
}

#define PUSH_NAME "std::vector<int>::push_back(int const&)"

/*
 * Thread 0 "main" (tid 100):        Thread 1 "worker" (tid 101):
 *   main        1 call, 1 s           work         5 calls, 500 ms (self 480)
 *     fib       1, 600 ms (self 200)    push_back  2000, 20 ms
 *       fib     2, 400 ms (self 300)    [mark] checkpoint 1, 0
 *         fib   4, 100 ms
 *     work      10, 250 ms
 *     [span] load 1, 50 ms (self 40)   attributes file=data<1>.bin, size=4096
 *       push_back 1000, 10 ms
 */
static struct ctr_run *fx_run(void)
{
	struct ctr_run *r = fx_new("20251121T000000-abc123", "./demo --fib 30", 1000 * MS);
	uint32_t n_main, n_fib, n_fib2, n_load, n_work;

	fx_module(r, "/usr/local/bin/demo");
	fx_func(r, CTR_FN_FUNCTION, "main", "demo.c", 10);
	fx_func(r, CTR_FN_FUNCTION, "fib", "fib.c", 3);
	fx_func(r, CTR_FN_FUNCTION, "work", "work.c", 7);
	fx_func(r, CTR_FN_FUNCTION, PUSH_NAME, "/usr/include/c++/12/bits/stl_vector.h", 1198);
	fx_func(r, CTR_FN_SPAN, "load", "demo.c", 42);
	fx_func(r, CTR_FN_MARK, "checkpoint", "demo.c", 50);
	fx_thread(r, 100, "main", 0, 1000 * MS);
	fx_thread(r, 101, "worker", 100 * MS, 900 * MS);
	n_main = fx_node(r, CTR_NONE, 0, F_MAIN, 1, 1000 * MS, 100 * MS, 1000 * MS, 1000 * MS);
	n_fib = fx_node(r, n_main, 0, F_FIB, 1, 600 * MS, 200 * MS, 600 * MS, 600 * MS);
	n_fib2 = fx_node(r, n_fib, 0, F_FIB, 2, 400 * MS, 300 * MS, 150 * MS, 250 * MS);
	fx_node(r, n_fib2, 0, F_FIB, 4, 100 * MS, 100 * MS, 20 * MS, 30 * MS);
	fx_node(r, n_main, 0, F_WORK, 10, 250 * MS, 250 * MS, 20 * MS, 30 * MS);
	n_load = fx_node(r, n_main, 0, F_LOAD, 1, 50 * MS, 40 * MS, 50 * MS, 50 * MS);
	fx_node(r, n_load, 0, F_PUSH, 1000, 10 * MS, 10 * MS, 5 * US, 50 * US);
	n_work = fx_node(r, CTR_NONE, 1, F_WORK, 5, 500 * MS, 480 * MS, 90 * MS, 110 * MS);
	fx_node(r, n_work, 1, F_PUSH, 2000, 20 * MS, 20 * MS, 5 * US, 40 * US);
	fx_node(r, n_work, 1, F_CHECK, 1, 0, 0, 0, 0);
	fx_attr(r, n_load, "file", "data<1>.bin", 1);
	fx_attr(r, n_load, "size", "4096", 1);
	fx_meta(r, "build", "release");
	r->events = 2 * 3021 + 1;
	r->procs = calloc(1, sizeof(*r->procs));
	r->procs[0] = (struct ctr_process){.pid = 100,
					   .ppid = 1,
					   .exe = strdup("/usr/local/bin/demo"),
					   .command = strdup("./demo --fib 30"),
					   .exit_status = 0};
	r->n_procs = 1;
	return r;
}

/* Sink collecting deep copies of chunks into the run. */
static int fx_collect(void *arg, const struct ctr_chunk *c, struct ctr_err *e)
{
	struct ctr_run *run = arg;
	struct ctr_chunk *d;

	(void)e;
	run->chunks = realloc(run->chunks, (run->n_chunks + 1) * sizeof(*run->chunks));
	cr_assert_not_null(run->chunks);
	d = &run->chunks[run->n_chunks++];
	*d = *c;
	d->data = malloc(c->size);
	memcpy(d->data, c->data, c->size);
	return 0;
}

/*
 * Timeline of fx_run() (times in ms):
 * thread 0: main [0,100] > fib [10,50] > fib [20,30]; load [60,90] {file, size, mark
 *           checkpoint at 61} > push_back [70,70.5]; 7 events lost at 95
 * thread 1 (ends at 50): work [5,open) > push_back [6,6.001], fib [40,open)
 */
__attribute__((unused)) static void fx_timeline(struct ctr_run *r)
{
	struct ctr_tl_writer *w;
	struct ctr_err e;

	ctr_err_clear(&e);
	cr_assert_eq(ctr_tl_writer_open(&w, 0, fx_collect, r, &e), 0);
	cr_assert_eq(ctr_tl_enter(w, 0, F_MAIN, &e), 0);
	cr_assert_eq(ctr_tl_enter(w, 10 * MS, F_FIB, &e), 0);
	cr_assert_eq(ctr_tl_enter(w, 20 * MS, F_FIB, &e), 0);
	cr_assert_eq(ctr_tl_exit(w, 30 * MS, &e), 0);
	cr_assert_eq(ctr_tl_exit(w, 50 * MS, &e), 0);
	cr_assert_eq(ctr_tl_enter(w, 60 * MS, F_LOAD, &e), 0);
	cr_assert_eq(ctr_tl_attr_str(w, 60 * MS, "file", "data<1>.bin", &e), 0);
	cr_assert_eq(ctr_tl_attr_int(w, 60 * MS, "size", 4096, &e), 0);
	cr_assert_eq(ctr_tl_mark(w, 61 * MS, F_CHECK, &e), 0);
	cr_assert_eq(ctr_tl_enter(w, 70 * MS, F_PUSH, &e), 0);
	cr_assert_eq(ctr_tl_exit(w, 70 * MS + 500 * US, &e), 0);
	cr_assert_eq(ctr_tl_exit(w, 90 * MS, &e), 0);
	cr_assert_eq(ctr_tl_lost(w, 95 * MS, 7, &e), 0);
	cr_assert_eq(ctr_tl_exit(w, 100 * MS, &e), 0);
	cr_assert_eq(ctr_tl_writer_finish(w, &e), 0, "%s", e.msg);
	ctr_tl_writer_free(w);

	cr_assert_eq(ctr_tl_writer_open(&w, 1, fx_collect, r, &e), 0);
	cr_assert_eq(ctr_tl_enter(w, 5 * MS, F_WORK, &e), 0);
	cr_assert_eq(ctr_tl_enter(w, 6 * MS, F_PUSH, &e), 0);
	cr_assert_eq(ctr_tl_exit(w, 6 * MS + 1 * US, &e), 0);
	cr_assert_eq(ctr_tl_enter(w, 40 * MS, F_FIB, &e), 0);
	cr_assert_eq(ctr_tl_writer_finish(w, &e), 0, "%s", e.msg);
	ctr_tl_writer_free(w);
	r->threads[1].start_ns = 5 * MS;
	r->threads[1].end_ns = 50 * MS;
}

/* Runs @fn into a string; caller frees. */
#define FX_CAPTURE(buf, call)                                                                      \
	do {                                                                                       \
		size_t fx_len_;                                                                    \
		FILE *out = open_memstream(&(buf), &fx_len_);                                      \
		cr_assert_not_null(out);                                                           \
		int fx_ret_ = (call);                                                              \
		fclose(out);                                                                       \
		cr_assert_eq(fx_ret_, 0, "%s returned %d: %s", #call, fx_ret_, e.msg);             \
	} while (0)

#endif
