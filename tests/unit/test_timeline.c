/* SPDX-License-Identifier: MIT */
/*
 * Stored timeline tests: a known event sequence through ctr_tl_writer and back through
 * ctr_tl_iter with exact times, refs and depths, across several chunks; chunks decode on their
 * own; corrupt chunks are reported, not crashed on.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "store/timeline.h"

/* The expectation tables list only the fields that matter for each event. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* Sink that collects deep copies of the chunks into a run. */
static int collect(void *arg, const struct ctr_chunk *c, struct ctr_err *e)
{
	struct ctr_run *run = arg;
	struct ctr_chunk *d;

	run->chunks = realloc(run->chunks, (run->n_chunks + 1) * sizeof(*run->chunks));
	cr_assert_not_null(run->chunks);
	d = &run->chunks[run->n_chunks++];
	*d = *c;
	d->data = malloc(c->size);
	memcpy(d->data, c->data, c->size);
	return 0;
}

static struct ctr_run *new_run(void)
{
	struct ctr_run *r = calloc(1, sizeof(*r));

	strcpy(r->id, "tl-test");
	return r;
}

struct exp {
	int type;
	uint64_t time, ref;
	uint32_t depth;
	const char *str, *str2;
	int64_t ival;
	uint64_t count;
	int unmatched;
};

static void check_events(const struct ctr_run *run, uint32_t thread, const struct exp *x, size_t n)
{
	struct ctr_tl_iter *it;
	struct ctr_event ev;
	struct ctr_err e;
	size_t i = 0;
	int r;

	ctr_err_clear(&e);
	cr_assert_eq(ctr_tl_iter_open(&it, run, thread, &e), 0);
	while ((r = ctr_tl_iter_next(it, &ev, &e)) == 1) {
		cr_assert_lt(i, n, "more events than expected");
		cr_assert_eq(ev.type, x[i].type, "event %zu: type %d, expected %d", i, ev.type,
			     x[i].type);
		cr_assert_eq(ev.time, x[i].time, "event %zu: time %llu, expected %llu", i,
			     (unsigned long long)ev.time, (unsigned long long)x[i].time);
		cr_assert_eq(ev.ref, x[i].ref, "event %zu: ref", i);
		cr_assert_eq(ev.depth, x[i].depth, "event %zu: depth %u", i, ev.depth);
		cr_assert_eq(ev.unmatched, x[i].unmatched, "event %zu: unmatched", i);
		cr_assert_eq(ev.count, x[i].count, "event %zu: count", i);
		cr_assert_eq(ev.ival, x[i].ival, "event %zu: ival", i);
		if (x[i].str) {
			cr_assert_eq(ev.len, strlen(x[i].str));
			cr_assert(!memcmp(ev.str, x[i].str, ev.len));
		}
		if (x[i].str2) {
			cr_assert_eq(ev.len2, strlen(x[i].str2));
			cr_assert(!memcmp(ev.str2, x[i].str2, ev.len2));
		}
		i++;
	}
	cr_assert_eq(r, 0, "iterator failed: %s", e.msg);
	cr_assert_eq(i, n, "got %zu events, expected %zu", i, n);
	ctr_tl_iter_close(it);
}

Test(timeline, known_sequence_round_trip)
{
	struct ctr_run *run = new_run();
	struct ctr_tl_writer *w;
	struct ctr_err e;
	const uint64_t big = 3000000000ull; /* > 31-bit exit delta */

	ctr_err_clear(&e);
	cr_assert_eq(ctr_tl_writer_open(&w, 2, collect, run, &e), 0);
	cr_assert_eq(ctr_tl_inherit(w, 5, 7, &e), 0);		   /* main, open at start */
	cr_assert_eq(ctr_tl_enter(w, 100, 1, &e), 0);		   /* small gap */
	cr_assert_eq(ctr_tl_enter(w, 150, 1 + CTR_NSLOTS, &e), 0); /* same slot, other id */
	cr_assert_eq(ctr_tl_attr_str(w, 150, "http.url", "/a<&>\"b\"", &e), 0);
	cr_assert_eq(ctr_tl_attr_int(w, 160, "bytes", -42, &e), 0);
	cr_assert_eq(ctr_tl_exit(w, 70000, &e), 0);		 /* > 16-bit, fits 31 */
	cr_assert_eq(ctr_tl_enter(w, 70000 + 100000, 1, &e), 0); /* enter delta > 65535 */
	cr_assert_eq(ctr_tl_mark(w, 170500, 9, &e), 0);
	cr_assert_eq(ctr_tl_exit(w, 170000 + big, &e), 0); /* exit delta > 2^31 */
	cr_assert_eq(ctr_tl_lost(w, 170000 + big, 12345, &e), 0);
	cr_assert_eq(ctr_tl_exit(w, 170001 + big, &e), 0); /* closes slot 1's frame */
	cr_assert_eq(ctr_tl_exit(w, 170002 + big, &e), 0); /* closes inherited 7 */
	cr_assert_eq(ctr_tl_exit(w, 170003 + big, &e), 0); /* unmatched */
	cr_assert_eq(ctr_tl_writer_finish(w, &e), 0);
	cr_assert_eq(run->n_chunks, 1);
	cr_assert_eq(run->chunks[0].thread, 2);
	cr_assert_eq(run->chunks[0].seq, 0);
	cr_assert_eq(run->chunks[0].codec, CTR_CODEC_ZSTD);
	cr_assert_eq(run->chunks[0].first_ns, 5);
	cr_assert_eq(run->chunks[0].last_ns, 170003 + big);
	cr_assert_eq(run->chunks[0].raw_size, ctr_tl_writer_raw_bytes(w));
	cr_assert_eq(run->chunks[0].size, ctr_tl_writer_stored_bytes(w));
	ctr_tl_writer_free(w);

	const struct exp x[] = {
	    {CTR_EV_INHERIT, 5, 7, 1},
	    {CTR_EV_ENTER, 100, 1, 2},
	    {CTR_EV_ENTER, 150, 1 + CTR_NSLOTS, 3},
	    {CTR_EV_ATTR_STR, 150, 0, 0, "http.url", "/a<&>\"b\""},
	    {CTR_EV_ATTR_INT, 160, 0, 0, "bytes", NULL, -42},
	    {CTR_EV_EXIT, 70000, 1 + CTR_NSLOTS, 3},
	    {CTR_EV_ENTER, 170000, 1, 3},
	    {CTR_EV_MARK, 170500, 9, 0},
	    {CTR_EV_EXIT, 170000 + big, 1, 3},
	    {CTR_EV_LOST, 170000 + big, 0, 0, NULL, NULL, 0, 12345},
	    {CTR_EV_EXIT, 170001 + big, 1, 2},
	    {CTR_EV_EXIT, 170002 + big, 7, 1},
	    {CTR_EV_EXIT, 170003 + big, 0, 0, NULL, NULL, 0, 0, 1},
	};
	check_events(run, 2, x, sizeof(x) / sizeof(x[0]));
	/* another thread of the same run has no events */
	check_events(run, 3, NULL, 0);
	ctr_run_free(run);
}

/* --sched: off-CPU gaps (CTR_X_OFFCPU) come back with their start, length and kind, between
 * the calls they interrupt. */
Test(timeline, offcpu_gaps_round_trip)
{
	struct ctr_run *run = new_run();
	struct ctr_tl_writer *w;
	struct ctr_err e;

	ctr_err_clear(&e);
	cr_assert_eq(ctr_tl_writer_open(&w, 0, collect, run, &e), 0);
	cr_assert_eq(ctr_tl_enter(w, 1000, 4, &e), 0);
	cr_assert_eq(ctr_tl_offcpu(w, 2000, 50000000, 0, &e), 0); /* a blocked read: 50 ms */
	cr_assert_eq(ctr_tl_offcpu(w, 50003000, 7000, 1, &e), 0); /* then preempted */
	cr_assert_eq(ctr_tl_exit(w, 50020000, &e), 0);
	cr_assert_eq(ctr_tl_writer_finish(w, &e), 0);
	ctr_tl_writer_free(w);

	const struct exp x[] = {
	    {CTR_EV_ENTER, 1000, 4, 1},
	    {CTR_EV_OFFCPU, 2000, 1, 0, NULL, NULL, 0, 50000000},
	    {CTR_EV_OFFCPU, 50003000, 2, 0, NULL, NULL, 0, 7000},
	    {CTR_EV_EXIT, 50020000, 4, 1},
	};
	check_events(run, 0, x, sizeof(x) / sizeof(x[0]));
	ctr_run_free(run);
}

Test(timeline, long_strings_are_cut)
{
	struct ctr_run *run = new_run();
	struct ctr_tl_writer *w;
	char key[400], val[400];

	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	memset(val, 'v', sizeof(val) - 1);
	val[sizeof(val) - 1] = '\0';
	cr_assert_eq(ctr_tl_writer_open(&w, 0, collect, run, NULL), 0);
	cr_assert_eq(ctr_tl_enter(w, 1, 0, NULL), 0);
	cr_assert_eq(ctr_tl_attr_str(w, 1, key, val, NULL), 0);
	cr_assert_eq(ctr_tl_attr_str(w, 2, "", "", NULL), 0);
	cr_assert_eq(ctr_tl_exit(w, 3, NULL), 0);
	cr_assert_eq(ctr_tl_writer_finish(w, NULL), 0);
	ctr_tl_writer_free(w);
	key[CTR_STR_MAX] = '\0';
	val[CTR_STR_MAX] = '\0';
	const struct exp x[] = {
	    {CTR_EV_ENTER, 1, 0, 1},
	    {CTR_EV_ATTR_STR, 1, 0, 0, key, val},
	    {CTR_EV_ATTR_STR, 2, 0, 0, "", ""},
	    {CTR_EV_EXIT, 3, 0, 1},
	};
	check_events(run, 0, x, 4);
	ctr_run_free(run);
}

/* A deterministic workload: nested calls over 40000 functions (slot collisions), gaps of all
 * sizes. Writes it and returns the number of events; fills @x when not NULL. */
static size_t workload(struct ctr_tl_writer *w, struct exp *x, size_t ncalls)
{
	uint64_t t = 1000, rng = 88172645463325252ull;
	uint64_t stack[64];
	uint32_t depth = 0;
	size_t n = 0;

	for (size_t i = 0; i < ncalls; i++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		uint64_t gap = (rng & 0xff) == 0 ? (rng >> 20) % 5000000000ull : (rng >> 8) % 300;
		t += gap;
		if (depth < 60 && (depth == 0 || (rng >> 40) % 3 != 0)) {
			uint32_t f = (uint32_t)((rng >> 24) % 40000);

			cr_assert_eq(ctr_tl_enter(w, t, f, NULL), 0);
			stack[depth++] = f;
			if (x)
				x[n] = (struct exp){CTR_EV_ENTER, t, f, depth};
		} else {
			cr_assert_eq(ctr_tl_exit(w, t, NULL), 0);
			if (x)
				x[n] = (struct exp){CTR_EV_EXIT, t, stack[depth - 1], depth};
			depth--;
		}
		n++;
	}
	return n;
}

Test(timeline, many_chunks_round_trip)
{
	const size_t ncalls = 1500000;
	struct exp *x = calloc(ncalls, sizeof(*x));
	struct ctr_run *run = new_run();
	struct ctr_tl_writer *w;
	size_t n;

	cr_assert_eq(ctr_tl_writer_open(&w, 1, collect, run, NULL), 0);
	n = workload(w, x, ncalls);
	cr_assert_eq(ctr_tl_writer_finish(w, NULL), 0);
	cr_assert_geq(run->n_chunks, 3, "only %zu chunks", run->n_chunks);
	uint64_t raw = 0;
	for (size_t i = 0; i < run->n_chunks; i++) {
		cr_assert_eq(run->chunks[i].seq, i);
		cr_assert_leq(run->chunks[i].raw_size, 1024 * 1024 + 1024);
		if (i)
			cr_assert_geq(run->chunks[i].first_ns, run->chunks[i - 1].last_ns);
		raw += run->chunks[i].raw_size;
	}
	cr_assert_eq(raw, ctr_tl_writer_raw_bytes(w));
	ctr_tl_writer_free(w);

	/* chunks stored out of order still iterate in seq order */
	struct ctr_chunk tmp = run->chunks[0];
	run->chunks[0] = run->chunks[run->n_chunks - 1];
	run->chunks[run->n_chunks - 1] = tmp;
	check_events(run, 1, x, n);

	/* each chunk decodes on its own: a run holding only the second chunk */
	struct ctr_run one = *run;
	one.chunks = &run->chunks[1];
	one.n_chunks = 1;
	struct ctr_tl_iter *it;
	struct ctr_event ev;
	size_t k = 0;
	int r;
	cr_assert_eq(ctr_tl_iter_open(&it, &one, 1, NULL), 0);
	while ((r = ctr_tl_iter_next(it, &ev, NULL)) == 1) {
		if (k == 0)
			cr_assert_eq(ev.time, run->chunks[1].first_ns);
		k++;
	}
	cr_assert_eq(r, 0);
	cr_assert_gt(k, 100000);
	ctr_tl_iter_close(it);
	free(x);
	ctr_run_free(run);
}

Test(timeline, compact_encoding)
{
	struct ctr_run *run = new_run();
	struct ctr_tl_writer *w;
	uint64_t t = 0;

	cr_assert_eq(ctr_tl_writer_open(&w, 0, collect, run, NULL), 0);
	/* a typical profile: a loop calling a few small functions */
	for (int i = 0; i < 500000; i++) {
		cr_assert_eq(ctr_tl_enter(w, t += 40 + i % 7, 3 + i % 5, NULL), 0);
		cr_assert_eq(ctr_tl_enter(w, t += 12, 20, NULL), 0);
		cr_assert_eq(ctr_tl_exit(w, t += 30 + i % 13, NULL), 0);
		cr_assert_eq(ctr_tl_exit(w, t += 9, NULL), 0);
	}
	cr_assert_eq(ctr_tl_writer_finish(w, NULL), 0);
	double per_call = (double)ctr_tl_writer_stored_bytes(w) / 1000000.0;
	cr_assert_lt(per_call, 4.0, "%.2f stored bytes per call", per_call);
	cr_assert_lt(ctr_tl_writer_raw_bytes(w), 1000000ull * 8 + 4096);
	ctr_tl_writer_free(w);
	ctr_run_free(run);
}

static struct ctr_run *small_run(void)
{
	struct ctr_run *run = new_run();
	struct ctr_tl_writer *w;

	cr_assert_eq(ctr_tl_writer_open(&w, 0, collect, run, NULL), 0);
	for (int i = 0; i < 1000; i++) {
		cr_assert_eq(ctr_tl_enter(w, 10 * i, i, NULL), 0);
		cr_assert_eq(ctr_tl_exit(w, 10 * i + 5, NULL), 0);
	}
	cr_assert_eq(ctr_tl_writer_finish(w, NULL), 0);
	ctr_tl_writer_free(w);
	cr_assert_eq(run->n_chunks, 1);
	return run;
}

static int drain(const struct ctr_run *run, struct ctr_err *e)
{
	struct ctr_tl_iter *it;
	struct ctr_event ev;
	int r;

	if ((r = ctr_tl_iter_open(&it, run, 0, e)) < 0)
		return r;
	while ((r = ctr_tl_iter_next(it, &ev, e)) == 1)
		;
	ctr_tl_iter_close(it);
	return r;
}

Test(timeline, corrupt_chunks_are_errors)
{
	struct ctr_run *run = small_run();
	struct ctr_chunk *c = &run->chunks[0];
	struct ctr_err e;

	ctr_err_clear(&e);
	cr_assert_eq(drain(run, &e), 0);

	c->raw_size += 4; /* raw_size mismatch */
	cr_assert_eq(drain(run, &e), CTR_EFORMAT);
	cr_assert(strstr(e.msg, "raw_size"), "%s", e.msg);
	cr_assert_str_eq(e.run_id, "tl-test");
	c->raw_size -= 4;

	ctr_err_clear(&e);
	c->codec = 7;
	cr_assert_eq(drain(run, &e), CTR_EFORMAT);
	cr_assert(strstr(e.msg, "codec"), "%s", e.msg);
	c->codec = CTR_CODEC_ZSTD;

	ctr_err_clear(&e);
	size_t size = c->size;
	c->size = size / 2; /* truncated frame */
	cr_assert_eq(drain(run, &e), CTR_EFORMAT);
	c->size = size;

	ctr_err_clear(&e);
	memset(c->data, 0xA5, 4); /* bad magic */
	cr_assert_eq(drain(run, &e), CTR_EFORMAT);
	cr_assert(strstr(e.msg, "corrupt timeline chunk 0"), "%s", e.msg);
	ctr_run_free(run);

	/* a chunk whose words are garbage (valid compression, invalid events) */
	run = small_run();
	c = &run->chunks[0];
	uint32_t words[4] = {2u | (5u << 2), 0, 0, 0}; /* enter of an undefined slot, no TIME */
	free(c->data);
	c->codec = CTR_CODEC_RAW;
	c->size = c->raw_size = sizeof(words);
	c->data = malloc(sizeof(words));
	memcpy(c->data, words, sizeof(words));
	ctr_err_clear(&e);
	cr_assert_eq(drain(run, &e), CTR_EFORMAT);
	cr_assert_eq(e.offset, 0);

	/* two chunks with the same seq */
	ctr_run_free(run);
	run = small_run();
	run->chunks = realloc(run->chunks, 2 * sizeof(*run->chunks));
	run->chunks[1] = run->chunks[0];
	run->chunks[1].data = malloc(run->chunks[0].size);
	memcpy(run->chunks[1].data, run->chunks[0].data, run->chunks[0].size);
	run->n_chunks = 2;
	ctr_err_clear(&e);
	cr_assert_eq(drain(run, &e), CTR_EFORMAT);
	ctr_run_free(run);
}

static int failing_sink(void *arg, const struct ctr_chunk *c, struct ctr_err *e)
{
	return ctr_err_set(e, CTR_ESTORE, 0, "disk full");
}

Test(timeline, sink_errors_propagate)
{
	struct ctr_tl_writer *w;
	struct ctr_err e;
	int r = 0;

	ctr_err_clear(&e);
	cr_assert_eq(ctr_tl_writer_open(&w, 0, failing_sink, NULL, &e), 0);
	for (int i = 0; i < 400000 && r == 0; i++)
		r = ctr_tl_enter(w, i, 1, &e);
	cr_assert_eq(r, CTR_ESTORE);
	cr_assert_str_eq(e.msg, "disk full");
	cr_assert_eq(ctr_tl_exit(w, 1000000, NULL), CTR_ESTORE);
	cr_assert_eq(ctr_tl_writer_finish(w, NULL), CTR_ESTORE);
	ctr_tl_writer_free(w);
}
