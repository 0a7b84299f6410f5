/* SPDX-License-Identifier: MIT */
/* The timeline index (export/tlindex.h): the summary and the chunk-seeded decoding agree with
 * the events written, calls shorter than a pixel are merged and counted, answers stay within
 * px x depth, attributes, marks, open calls and bad queries. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report-fixture.h"
#include "tools/export/tlindex.h"

static struct ctr_tlindex *index_of(const struct ctr_run *r)
{
	struct ctr_tlindex *x = NULL;
	struct ctr_err e;

	ctr_err_clear(&e);
	cr_assert_eq(ctr_tlindex_build(&x, r, &e), 0, "%s", e.msg);
	return x;
}

static const struct ctr_tli_call *find_call(const struct ctr_tli_result *q, uint32_t fid,
					    uint32_t depth)
{
	for (size_t i = 0; i < q->n_calls; i++)
		if (q->calls[i].fid == fid && q->calls[i].depth == depth)
			return &q->calls[i];
	return NULL;
}

Test(tlindex, fixture_whole_thread_from_the_summary)
{
	struct ctr_run *r = fx_run();
	struct ctr_tli_result q;
	const struct ctr_tli_call *c;
	struct ctr_tlindex *x;
	struct ctr_err e;

	fx_timeline(r);
	x = index_of(r);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_tlindex_query(x, 0, 0, 100 * MS, 1000, &q, &e), 0, "%s", e.msg);
	cr_assert_eq(q.summary, 1);
	cr_assert_eq(q.ns_per_px, 100 * US);
	cr_assert_eq(q.n_calls, 5);
	cr_assert_eq(q.n_busy, 0);
	cr_assert_eq(q.max_depth, 3);
	c = find_call(&q, F_MAIN, 0);
	cr_assert_not_null(c);
	cr_assert_eq(c->start, 0);
	cr_assert_eq(c->dur, 100 * MS);
	cr_assert_eq(c->self, 30 * MS); /* 100 - fib 40 - load 30 */
	c = find_call(&q, F_FIB, 1);
	cr_assert_eq(c->dur, 40 * MS);
	cr_assert_eq(c->self, 30 * MS);
	c = find_call(&q, F_LOAD, 1);
	cr_assert_not_null(c->attrs);
	cr_assert_str_eq(json_string_value(json_object_get(c->attrs, "file")), "data<1>.bin");
	cr_assert_eq(json_integer_value(json_object_get(c->attrs, "size")), 4096);
	cr_assert_eq(q.n_marks, 1);
	cr_assert_eq(q.marks[0].t, 61 * MS);
	cr_assert_eq(q.marks[0].fid, F_CHECK);
	ctr_tli_result_release(&q);

	/* 10 px: push_back (0.5 ms) is shorter than a pixel and becomes a busy span */
	cr_assert_eq(ctr_tlindex_query(x, 0, 0, 100 * MS, 10, &q, &e), 0);
	cr_assert_eq(q.n_calls, 4);
	cr_assert_eq(q.n_busy, 1);
	cr_assert_eq(q.busy[0].count, 1);
	cr_assert_eq(q.busy[0].fid, F_PUSH);
	cr_assert_eq(q.busy[0].depth, 2);
	cr_assert_eq(q.busy[0].start, 70 * MS);
	cr_assert_eq(q.busy[0].end, 70 * MS + 500 * US);
	ctr_tli_result_release(&q);
	ctr_tlindex_free(x);
	ctr_run_free(r);
}

Test(tlindex, open_calls_end_with_the_thread)
{
	struct ctr_run *r = fx_run();
	struct ctr_tli_result q;
	const struct ctr_tli_call *c;
	struct ctr_tlindex *x;
	struct ctr_err e;

	fx_timeline(r);
	x = index_of(r);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_tlindex_query(x, 1, 0, 0, 500, &q, &e), 0, "%s", e.msg);
	cr_assert_eq(q.to, 50 * MS); /* 0 = the thread's end */
	c = find_call(&q, F_WORK, 0);
	cr_assert_not_null(c);
	cr_assert_eq(c->start, 5 * MS);
	cr_assert_eq(c->dur, 45 * MS);
	c = find_call(&q, F_FIB, 1);
	cr_assert_eq(c->start, 40 * MS);
	cr_assert_eq(c->dur, 10 * MS);
	cr_assert_eq(q.n_busy, 1); /* push_back, 1 us */
	ctr_tli_result_release(&q);
	ctr_tlindex_free(x);
	ctr_run_free(r);
}

Test(tlindex, bad_queries)
{
	struct ctr_run *r = fx_run();
	struct ctr_tli_result q;
	struct ctr_tlindex *x;
	struct ctr_err e;

	fx_timeline(r);
	x = index_of(r);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_tlindex_query(x, 2, 0, 10, 10, &q, &e), CTR_EUSAGE);
	ctr_tli_result_release(&q);
	cr_assert_eq(ctr_tlindex_query(x, 0, 0, 10, 0, &q, NULL), CTR_EUSAGE);
	cr_assert_eq(ctr_tlindex_query(x, 0, 0, 10, CTR_TLI_PX_MAX + 1, &q, NULL), CTR_EUSAGE);
	cr_assert_eq(ctr_tlindex_query(x, 0, 10, 10, 10, &q, NULL), CTR_EUSAGE);
	ctr_tli_result_release(&q);
	ctr_tlindex_free(x);
	ctr_run_free(r);
}

/* A thread of many chunks: top [0, END) holding N calls B_i [10i + 100, +5), each tenth with a
 * child C [+1, +3). */
#define BIG_N 400000u
#define BIG_END (10ull * BIG_N + 200)

static struct ctr_run *big_run(void)
{
	struct ctr_run *r = fx_new("20251121T000000-big001", "./big", BIG_END);
	struct ctr_tl_writer *w;
	struct ctr_err e;

	fx_func(r, CTR_FN_FUNCTION, "top", "big.c", 1);
	fx_func(r, CTR_FN_FUNCTION, "b", "big.c", 2);
	fx_func(r, CTR_FN_FUNCTION, "c", "big.c", 3);
	fx_thread(r, 7, "big", 0, BIG_END);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_tl_writer_open(&w, 0, fx_collect, r, &e), 0);
	cr_assert_eq(ctr_tl_enter(w, 0, 0, &e), 0);
	for (uint64_t i = 0; i < BIG_N; i++) {
		uint64_t t = 10 * i + 100;

		cr_assert_eq(ctr_tl_enter(w, t, 1, &e), 0);
		if (i % 10 == 0) {
			cr_assert_eq(ctr_tl_enter(w, t + 1, 2, &e), 0);
			cr_assert_eq(ctr_tl_exit(w, t + 3, &e), 0);
		}
		cr_assert_eq(ctr_tl_exit(w, t + 5, &e), 0);
	}
	cr_assert_eq(ctr_tl_exit(w, BIG_END, &e), 0);
	cr_assert_eq(ctr_tl_writer_finish(w, &e), 0, "%s", e.msg);
	ctr_tl_writer_free(w);
	return r;
}

/* Calls of big_run() overlapping [from, to). */
static uint64_t big_count(uint64_t from, uint64_t to)
{
	uint64_t n = 1;

	for (uint64_t i = 0; i < BIG_N; i++) {
		uint64_t t = 10 * i + 100;

		n += t < to && t + 5 > from;
		n += i % 10 == 0 && t + 1 < to && t + 3 > from;
	}
	return n;
}

static uint64_t answer_count(const struct ctr_tli_result *q)
{
	uint64_t n = q->n_calls;

	for (size_t i = 0; i < q->n_busy; i++)
		n += q->busy[i].count;
	return n;
}

Test(tlindex, chunks_decoded_from_their_stack_agree_with_the_events)
{
	struct ctr_run *r = big_run();
	struct ctr_tlindex *x = index_of(r);
	struct ctr_tli_result q;
	struct ctr_err e;
	uint64_t wins[][2] = {{0, 30000},	  {1234567, 1284567}, {2000003, 2000050},
			      {3999000, BIG_END}, {2621440, 2671440}, {5, 6}};

	cr_assert_gt(r->n_chunks, 3, "want several chunks, got %zu", r->n_chunks);
	ctr_err_clear(&e);
	/* The whole thread from the summary: every call counted once. */
	cr_assert_eq(ctr_tlindex_query(x, 0, 0, BIG_END, 2000, &q, &e), 0, "%s", e.msg);
	cr_assert_eq(q.summary, 1);
	cr_assert_eq(answer_count(&q), 1 + BIG_N + BIG_N / 10);
	cr_assert_leq(q.n_calls + q.n_busy, 2 * 2001 * q.max_depth);
	ctr_tli_result_release(&q);
	for (size_t k = 0; k < sizeof(wins) / sizeof(wins[0]); k++) {
		cr_assert_eq(ctr_tlindex_query(x, 0, wins[k][0], wins[k][1], 4000, &q, &e), 0, "%s",
			     e.msg);
		cr_assert_eq(q.summary, 0, "window %zu", k);
		cr_assert_eq(answer_count(&q), big_count(wins[k][0], wins[k][1]),
			     "window %zu: %lu vs %lu", k, (unsigned long)answer_count(&q),
			     (unsigned long)big_count(wins[k][0], wins[k][1]));
		cr_assert_leq(q.n_calls + q.n_busy, 2 * 4001 * q.max_depth);
		/* top is open across every window but the last one: cut at the window's end */
		const struct ctr_tli_call *top = find_call(&q, 0, 0);

		cr_assert_not_null(top, "window %zu", k);
		cr_assert_eq(top->start, 0);
		cr_assert_eq(top->cut, wins[k][1] < BIG_END, "window %zu", k);
		ctr_tli_result_release(&q);
	}
	ctr_tlindex_free(x);
	ctr_run_free(r);
}

Test(tlindex, json_form)
{
	struct ctr_run *r = fx_run();
	struct ctr_tli_result q;
	struct ctr_tlindex *x;
	struct ctr_err e;
	char *s;
	json_t *j;

	fx_timeline(r);
	x = index_of(r);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_tlindex_query(x, 0, 0, 100 * MS, 10, &q, &e), 0);
	FX_CAPTURE(s, ctr_tli_result_json(out, r, &q, &e));
	j = json_loads(s, 0, NULL);
	cr_assert_not_null(j, "%s", s);
	cr_assert_str_eq(json_string_value(json_object_get(j, "source")), "summary");
	cr_assert_eq(json_integer_value(json_object_get(j, "tid")), 100);
	cr_assert_eq(json_array_size(json_object_get(j, "calls")), 4);
	cr_assert_eq(json_array_size(json_object_get(j, "busy")), 1);
	cr_assert_eq(
	    json_integer_value(json_array_get(json_array_get(json_object_get(j, "busy"), 0), 3)),
	    1);
	cr_assert_null(strstr(s, "</"), "'/' is escaped");
	json_decref(j);
	free(s);
	ctr_tli_result_release(&q);
	ctr_tlindex_free(x);
	ctr_run_free(r);
}

/* A fetch that hands out copies of the chunks a run keeps aside (as a store would). */
static int fake_fetch(void *arg, const struct ctr_chunk *c, unsigned char **data, size_t *size,
		      struct ctr_err *e)
{
	const struct ctr_run *full = arg;

	(void)e;
	for (size_t i = 0; i < full->n_chunks; i++)
		if (full->chunks[i].thread == c->thread && full->chunks[i].seq == c->seq) {
			*data = malloc(full->chunks[i].size);
			memcpy(*data, full->chunks[i].data, full->chunks[i].size);
			*size = full->chunks[i].size;
			return 0;
		}
	return CTR_ENOTFOUND;
}

Test(tlindex, chunks_read_through_fetch_give_the_same_answers)
{
	struct ctr_run *full = big_run(), *hdr = ctr_run_dup(full);
	struct ctr_tlindex *a = index_of(full), *b = NULL;
	struct ctr_tli_result qa, qb;
	struct ctr_err e;
	uint64_t wins[][2] = {{0, BIG_END}, {1234567, 1284567}, {3999000, 3999100}};

	for (size_t i = 0; i < hdr->n_chunks; i++) {
		free(hdr->chunks[i].data);
		hdr->chunks[i].data = NULL;
	}
	ctr_err_clear(&e);
	cr_assert_eq(ctr_tlindex_query(a, 0, 0, BIG_END, 100, &qa, &e), 0);
	ctr_tli_result_release(&qa);
	/* without a fetch, chunks without data are corrupt */
	cr_assert_eq(ctr_tlindex_build(&b, hdr, NULL), CTR_EFORMAT);
	cr_assert_eq(ctr_tlindex_build_fetch(&b, hdr, fake_fetch, full, &e), 0, "%s", e.msg);
	for (size_t k = 0; k < sizeof(wins) / sizeof(wins[0]); k++) {
		cr_assert_eq(ctr_tlindex_query(a, 0, wins[k][0], wins[k][1], 3000, &qa, &e), 0);
		cr_assert_eq(ctr_tlindex_query(b, 0, wins[k][0], wins[k][1], 3000, &qb, &e), 0,
			     "%s", e.msg);
		cr_assert_eq(qa.n_calls, qb.n_calls, "window %zu", k);
		cr_assert_eq(qa.n_busy, qb.n_busy, "window %zu", k);
		cr_assert_eq(answer_count(&qa), answer_count(&qb));
		if (qa.n_busy)
			cr_assert_eq(memcmp(qa.busy, qb.busy, qa.n_busy * sizeof(*qa.busy)), 0);
		ctr_tli_result_release(&qa);
		ctr_tli_result_release(&qb);
	}
	ctr_tlindex_free(a);
	ctr_tlindex_free(b);
	ctr_run_free(hdr);
	ctr_run_free(full);
}

/* The JSON answer of one query, for comparing two indexes (the "index" key left out). */
static char *answer_json(const struct ctr_tlindex *x, const struct ctr_run *r, uint32_t th,
			 uint64_t from, uint64_t to, unsigned px)
{
	struct ctr_tli_result q;
	struct ctr_err e;
	char *buf = NULL, *p;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	ctr_err_clear(&e);
	cr_assert_eq(ctr_tlindex_query(x, th, from, to, px, &q, &e), 0, "%s", e.msg);
	cr_assert_eq(ctr_tli_result_json(m, r, &q, &e), 0);
	ctr_tli_result_release(&q);
	fclose(m);
	if ((p = strstr(buf, "\"index\":\"stored\",")) || (p = strstr(buf, "\"index\":\"built\",")))
		memmove(p, strchr(p, ',') + 1, strlen(strchr(p, ',') + 1) + 1);
	return buf;
}

/* The stored form (ctr_tlindex_save / _load) gives the index it was saved from: the same
 * answers from the summary and from decoded chunks, attributes, marks, open calls; it says it
 * was stored; it is refused (CTR_EFORMAT) for another run's threads or chunks, when truncated
 * or with a byte changed anywhere in its header. */
Test(tlindex, stored_form_answers_as_the_built_index)
{
	struct ctr_run *runs[2] = {fx_run(), big_run()};
	uint64_t wins[][2] = {{0, 0}, {0, 30000}, {2000003, 2000050}, {10 * MS, 70 * MS + 100}};

	fx_timeline(runs[0]);
	for (int k = 0; k < 2; k++) {
		struct ctr_run *r = runs[k];
		struct ctr_tlindex *x = index_of(r), *y = NULL;
		unsigned char *buf = NULL;
		struct ctr_tli_result q;
		struct ctr_err e;
		size_t n = 0;

		ctr_err_clear(&e);
		cr_assert_eq(ctr_tlindex_save(x, &buf, &n, &e), 0, "%s", e.msg);
		cr_assert_eq(ctr_tlindex_load(&y, r, NULL, NULL, buf, n, &e), 0, "%s", e.msg);
		for (uint32_t th = 0; th < r->n_threads; th++)
			for (size_t w = 0; w < sizeof(wins) / sizeof(wins[0]); w++)
				for (unsigned px = 7; px <= 7000; px *= 10) {
					char *a, *b;

					if (ctr_tlindex_query(x, th, wins[w][0], wins[w][1], px, &q,
							      NULL)) {
						ctr_tli_result_release(&q);
						continue; /* a window past this thread's end */
					}
					ctr_tli_result_release(&q);
					a = answer_json(x, r, th, wins[w][0], wins[w][1], px);
					b = answer_json(y, r, th, wins[w][0], wins[w][1], px);
					cr_assert_str_eq(a, b, "run %d thread %u window %zu px %u",
							 k, th, w, px);
					free(a);
					free(b);
				}
		cr_assert_eq(ctr_tlindex_query(y, 0, 0, 0, 100, &q, &e), 0);
		cr_assert_eq(q.stored, 1);
		ctr_tli_result_release(&q);
		cr_assert_eq(ctr_tlindex_query(x, 0, 0, 0, 100, &q, &e), 0);
		cr_assert_eq(q.stored, 0);
		ctr_tli_result_release(&q);
		ctr_tlindex_free(y);
		/* refused: the other run (threads, chunks, functions differ), cut short, header */
		cr_assert_eq(ctr_tlindex_load(&y, runs[1 - k], NULL, NULL, buf, n, &e),
			     CTR_EFORMAT);
		cr_assert_null(y);
		cr_assert_eq(ctr_tlindex_load(&y, r, NULL, NULL, buf, n - 1, &e), CTR_EFORMAT);
		cr_assert_eq(ctr_tlindex_load(&y, r, NULL, NULL, buf, 10, &e), CTR_EFORMAT);
		for (size_t i = 0; i < 24; i++) {
			buf[i] ^= 0x40;
			cr_assert_eq(ctr_tlindex_load(&y, r, NULL, NULL, buf, n, &e), CTR_EFORMAT,
				     "header byte %zu", i);
			cr_assert_null(y);
			buf[i] ^= 0x40;
		}
		free(buf);
		ctr_tlindex_free(x);
	}
	ctr_run_free(runs[0]);
	ctr_run_free(runs[1]);
}

/* A stored form with any one byte changed loads as CTR_EFORMAT or as an index whose queries
 * all answer (the checks bound every count and reference): never a crash. */
Test(tlindex, stored_form_with_a_byte_changed_never_crashes)
{
	struct ctr_run *r = fx_run();
	struct ctr_tlindex *x, *y = NULL;
	unsigned char *buf = NULL;
	struct ctr_tli_result q;
	struct ctr_err e;
	size_t n = 0, loaded = 0;

	fx_timeline(r);
	x = index_of(r);
	cr_assert_eq(ctr_tlindex_save(x, &buf, &n, NULL), 0);
	for (size_t i = 0; i < n; i++) {
		for (unsigned bit = 0; bit < 8; bit += 3) {
			int ret;

			buf[i] ^= (unsigned char)(1u << bit);
			ret = ctr_tlindex_load(&y, r, NULL, NULL, buf, n, &e);
			cr_assert(ret == 0 || ret == CTR_EFORMAT, "byte %zu: %d", i, ret);
			for (uint32_t th = 0; y && th < r->n_threads; th++) {
				(void)ctr_tlindex_query(y, th, 0, 0, 1000, &q, NULL);
				ctr_tli_result_release(&q);
				(void)ctr_tlindex_query(y, th, 10 * MS, 11 * MS, 1000, &q, NULL);
				ctr_tli_result_release(&q);
			}
			loaded += y != NULL;
			ctr_tlindex_free(y);
			y = NULL;
			buf[i] ^= (unsigned char)(1u << bit);
		}
	}
	cr_assert_eq(ctr_tlindex_load(&y, r, NULL, NULL, buf, n, &e), 0);
	ctr_tlindex_free(y);
	free(buf);
	ctr_tlindex_free(x);
	ctr_run_free(r);
}
