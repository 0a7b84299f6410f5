/* SPDX-License-Identifier: MIT */
/*
 * Commit tests on hand-made raw run directories (docs/format.md): compensated times keep
 * self <= total for every node and function (recursion with cheap calls and many descendants
 * used to give self > total), time going backwards and reversed module ranges are
 * CTRACE_E_FORMAT, an over-long run id is refused before anything is stored.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/format.h"
#include "scratch.h"
#include "store/store.h"
#include "tools/ingest/commit.h"

static char dir[256];

static void put(const char *name, const void *data, size_t n)
{
	char path[320];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, n, f), n);
	fclose(f);
}

static void put_text(const char *name, const char *text)
{
	put(name, text, strlen(text));
}

/* Writes a run of one process (pid 1, ns clock, overhead 10 ns inside a call, 30 per call) and
 * one thread with @n event words. */
static void make_run(const char *id, const char *maps, const uint32_t *words, size_t n)
{
	char meta[256];
	unsigned char buf[4096];
	struct ctr_ev_hdr h;

	ctr_ut_mkdtemp(dir, sizeof(dir), "ctrace-ut-commit");
	snprintf(meta, sizeof(meta), "ctrace-run 1\nid=%s\ncommand=unit\nroot_pid=1\n", id);
	put_text("run.meta", meta);
	put_text("p-1-0.meta", "ctrace-proc 1\npid=1\nppid=0\ngen=0\nexe=/nonexistent/unit\n"
			       "command=unit\nclock=monotonic\nticks_per_sec=1000000000\n"
			       "start_ticks=1000\nstart_real_ns=1000000000\n"
			       "overhead_inner_ns=10\noverhead_call_ns=30\n");
	put_text("p-1-0.maps", maps);
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, CTR_EV_MAGIC, 8);
	h.version = CTR_EV_VERSION;
	h.hdr_size = CTR_EV_HDR_SIZE;
	h.flags = CTR_EV_FLAG_CLOSED;
	h.pid = h.tid = 1;
	h.ticks_per_sec = 1000000000;
	h.start_ticks = 1000;
	h.end_offset = CTR_EV_HDR_SIZE + n * 4;
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), words, n * 4);
	put("t-1-0-1.ev", buf, sizeof(h) + n * 4);
}

static void rm_run(void)
{
	const char *names[] = {"run.meta", "p-1-0.meta", "p-1-0.maps", "t-1-0-1.ev"};
	char path[320];

	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

#define TIME(t) ctr_w_ext(CTR_X_TIME, 2, 0), (uint32_t)(t), (uint32_t)((uint64_t)(t) >> 32)
#define DEFINE(slot, a) ctr_w_ext(CTR_X_DEFINE, 2, slot), (uint32_t)(a), 0
#define MAPS "L 0 1000 2000 - /nonexistent/unit\n"

static int commit(const char *id, struct ctr_store **s, struct ctr_run **r, struct ctr_err *e)
{
	struct ctr_commit_opts o = {.keep = 1};
	char got[CTR_RUN_ID_MAX];
	int ret;

	ctr_err_clear(e);
	cr_assert_eq(ctr_store_open(s, "memory:", e), 0, "%s", e->msg);
	ret = ctr_commit_dir(*s, dir, &o, got, e);
	*r = NULL;
	if (ret == 0)
		cr_assert_eq(ctr_store_load(*s, id, 0, r, e), 0, "%s", e->msg);
	return ret;
}

/* rec(100 ns) -> rec(2 ns) -> rec(1 ns): the outer call has one child but two descendants,
 * so its compensated self (raw self - per-child cost) was above its compensated total (raw
 * total - per-descendant cost), and the function's self above its total. */
Test(commit_hostile, compensated_self_never_above_total)
{
	const uint32_t w[] = {
	    TIME(2000),	       DEFINE(1, 0x1100),   ctr_w_enter(1, 0), ctr_w_enter(1, 1),
	    ctr_w_enter(1, 0), ctr_w2_exit(1),	    ctr_w2_exit(1),    ctr_w2_exit(98),
	    ctr_w_enter(1, 5), ctr_w_enter(1, 400), ctr_w2_exit(300),  ctr_w2_exit(500),
	};
	struct ctr_store *s = NULL;
	struct ctr_run *r = NULL;
	struct ctr_err e;
	uint64_t fself = 0, ftotal = 0;

	make_run("ut-self", MAPS, w, sizeof(w) / 4);
	cr_assert_eq(commit("ut-self", &s, &r, &e), 0, "%s", e.msg);
	cr_assert_gt(r->n_nodes, 2);
	for (size_t i = 0; i < r->n_nodes; i++) {
		const struct ctr_node *n = &r->nodes[i];

		cr_expect_leq(n->self_ns, n->total_ns, "node %zu: self %llu > total %llu", i,
			      (unsigned long long)n->self_ns, (unsigned long long)n->total_ns);
		cr_expect_leq(n->raw_self_ns, n->raw_total_ns);
		fself += n->self_ns;
		if (n->parent == CTR_NONE) /* one function: only top-level calls add to total */
			ftotal += n->total_ns;
	}
	cr_expect_leq(fself, ftotal, "function: self %llu > total %llu", (unsigned long long)fself,
		      (unsigned long long)ftotal);
	ctr_run_free(r);
	ctr_store_close(s);
	rm_run();
}

Test(commit_hostile, time_going_backwards_is_format)
{
	const uint32_t w[] = {
	    TIME(3000000000ull), DEFINE(1, 0x1100), ctr_w_enter(1, 0), ctr_w2_exit(10),
	    TIME(2000000000ull), ctr_w_enter(1, 0), ctr_w2_exit(10),   ctr_w_enter(1, 0),
	    ctr_w2_exit(10),	 ctr_w_enter(1, 0), ctr_w2_exit(10),
	};
	struct ctr_store *s = NULL;
	struct ctr_run *r = NULL, **runs = NULL;
	struct ctr_err e;
	size_t n = 1;

	make_run("ut-back", MAPS, w, sizeof(w) / 4);
	cr_expect_eq(commit("ut-back", &s, &r, &e), CTR_EFORMAT, "%d %s", e.code, e.msg);
	cr_expect_eq(ctr_store_list(s, NULL, 0, 0, &runs, &n, NULL), 0);
	cr_expect_eq(n, 0, "nothing stored");
	ctr_run_list_free(runs, n);
	ctr_store_close(s);
	rm_run();
}

Test(commit_hostile, reversed_module_range_is_format)
{
	const uint32_t w[] = {TIME(2000), DEFINE(1, 0x1100), ctr_w_enter(1, 0), ctr_w2_exit(10)};
	struct ctr_store *s = NULL;
	struct ctr_run *r = NULL;
	struct ctr_err e;

	make_run("ut-maps", "L 0 2000 1000 - /nonexistent/unit\n", w, sizeof(w) / 4);
	cr_expect_eq(commit("ut-maps", &s, &r, &e), CTR_EFORMAT, "%d %s", e.code, e.msg);
	ctr_store_close(s);
	rm_run();
}

Test(commit_hostile, long_or_unsafe_run_id_is_format)
{
	const uint32_t w[] = {TIME(2000), DEFINE(1, 0x1100), ctr_w_enter(1, 0), ctr_w2_exit(10)};
	const char *ids[] = {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 48 */, "a/b",
			     "../x", "a b", "-x"};

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		struct ctr_store *s = NULL;
		struct ctr_run *r = NULL;
		struct ctr_err e;

		make_run(ids[i], MAPS, w, sizeof(w) / 4);
		cr_expect_eq(commit(ids[i], &s, &r, &e), CTR_EFORMAT, "id '%s': %d %s", ids[i],
			     e.code, e.msg);
		ctr_store_close(s);
		rm_run();
	}
}
