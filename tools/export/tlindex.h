/* SPDX-License-Identifier: MIT */
/*
 * A multi-resolution index of a run's stored timeline, so that a view of any window at N
 * pixels costs about N x depth whatever the run size (docs/serve.md, "The timeline index").
 * One pass over every thread's chunks keeps, per thread and depth: every call at least one
 * base bin long (bin = thread span / CTR_TLI_BINS) as itself, the shorter ones merged into
 * busy spans at bin granularity, and for each chunk the open-frame stack at its start. A query
 * whose pixel is at least a bin answers from that summary alone; a finer one decodes only the
 * chunks overlapping the window, seeded with their stack. Both merge what is shorter than a
 * pixel into per-depth busy spans. Used by `ctrace serve` (serve/) and by the static HTML
 * export, which inlines one whole-run query per thread.
 */
#ifndef CTR_TLINDEX_H
#define CTR_TLINDEX_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "../../common/err.h"
#include "../../store/store.h"
#include "../../store/timeline.h"

#define CTR_TLI_BINS 262144u	  /* bins of a thread's span in the summary */
#define CTR_TLI_PX_MAX 10000	  /* the most pixels a query may ask for */
#define CTR_TLI_MARKS_MAX 100000u /* marks kept per thread in the summary */
#define CTR_TLI_GAPS_MAX 1000000u /* off-CPU gaps kept per thread (--sched) */

struct ctr_tlindex;

/* A call of a query's answer. Times are ns since run start, uncompensated. */
struct ctr_tli_call {
	uint64_t start, dur, self;
	uint32_t depth; /* 0 = top level */
	uint32_t fid;
	int cut;       /* still open where the decoded part ended: dur runs to the window end */
	json_t *attrs; /* object of the call's span attributes, or NULL; owned by the index or
			* the result */
};

/* Calls shorter than a pixel at one depth, merged: [start, end), how many, their function when
 * they all are the same one (else CTR_NONE). */
struct ctr_tli_busy {
	uint64_t start, end, count;
	uint32_t depth, fid;
};

struct ctr_tli_mark {
	uint64_t t;
	uint32_t fid;
	uint32_t count; /* marks merged into this pixel */
};

/* --sched: a time the thread was off the CPU (gaps less than a pixel apart merged, @count of
 * them; @preempted when the longest was a preemption, else the thread blocked). */
struct ctr_tli_gap {
	uint64_t start, end;
	uint32_t count;
	int preempted;
	uint64_t longest; /* ns of the longest gap merged in */
};

/* The answer to one query; release with ctr_tli_result_release(). */
struct ctr_tli_result {
	uint32_t thread;
	uint64_t from, to, ns_per_px;
	int summary;	    /* 1 = answered from the summary, 0 = from decoded chunks */
	int stored;	    /* the index was loaded from the store (ctr_tlindex_load), not built */
	size_t chunks_read; /* chunks decoded for it */
	struct ctr_tli_call *calls;
	size_t n_calls, cap_calls;
	struct ctr_tli_busy *busy;
	size_t n_busy, cap_busy;
	struct ctr_tli_mark *marks;
	size_t n_marks, cap_marks;
	struct ctr_tli_gap *gaps; /* off-CPU gaps overlapping the window, by start */
	size_t n_gaps, cap_gaps;
	uint32_t max_depth; /* deepest depth in the answer + 1 */
};

/*
 * Builds the index of every thread of @run, which must be loaded with CTR_LOAD_TIMELINE and
 * stay alive (and unchanged) until ctr_tlindex_free(). Reads every chunk once. 0, CTR_EFORMAT
 * on a corrupt timeline or CTR_ENOMEM. *@out is the caller's. Not thread-safe while building;
 * once built, queries from any number of threads may run at the same time.
 */
int ctr_tlindex_build(struct ctr_tlindex **out, const struct ctr_run *run, struct ctr_err *e);
/* The same for a run loaded with CTR_LOAD_CHUNK_INDEX: chunks without data are read through
 * @fetch (store/timeline.h), at the build and by every query that decodes chunks, from any
 * number of threads at once (@fetch must allow that). */
int ctr_tlindex_build_fetch(struct ctr_tlindex **out, const struct ctr_run *run, ctr_tl_fetch fetch,
			    void *arg, struct ctr_err *e);
void ctr_tlindex_free(struct ctr_tlindex *x); /* accepts NULL */

/*
 * The stored form (docs/serve.md, "The stored index"): the whole index, versioned and
 * zstd-compressed, kept with the run as its side record "tlindex" (ctr_store_save_aux), so
 * that a server answers a run's first timeline request without reading its chunks.
 * save: *@out (caller frees) of *@size bytes; 0 or CTR_ENOMEM.
 * load: the index of @run (loaded as for ctr_tlindex_build_fetch(), which it then equals)
 * from @data; reads no chunk. CTR_EFORMAT for another version's form or a corrupt one
 * (every count and reference is checked), CTR_ENOMEM.
 */
int ctr_tlindex_save(const struct ctr_tlindex *x, unsigned char **out, size_t *size,
		     struct ctr_err *e);
int ctr_tlindex_load(struct ctr_tlindex **out, const struct ctr_run *run, ctr_tl_fetch fetch,
		     void *arg, const unsigned char *data, size_t size, struct ctr_err *e);

/* Builds the index of run @id of @s (reading its chunks one at a time where the store can)
 * and saves it as the run's side record "tlindex": what commit does. *@bytes (may be NULL)
 * is the stored size. 0 or the failing step's code. */
int ctr_tlindex_store(struct ctr_store *s, const char *id, size_t *bytes, struct ctr_err *e);

/* Bytes the index holds (for `ctrace serve`'s cache and the docs' memory figures). */
size_t ctr_tlindex_bytes(const struct ctr_tlindex *x);

/*
 * The calls of thread @thread overlapping [@from, @to) at the detail @px pixels show: calls at
 * least (to - from) / px long as themselves, shorter ones merged per depth into busy spans, at
 * most one mark per pixel. @to 0 means the end of the thread. CTR_EUSAGE for a thread out of
 * range, px outside 1..CTR_TLI_PX_MAX or from >= to; CTR_EFORMAT, CTR_ENOMEM. @r is filled
 * (zeroed first) and released by the caller, also on error.
 */
int ctr_tlindex_query(const struct ctr_tlindex *x, uint32_t thread, uint64_t from, uint64_t to,
		      unsigned px, struct ctr_tli_result *r, struct ctr_err *e);
void ctr_tli_result_release(struct ctr_tli_result *r); /* accepts NULL */

/*
 * Writes @r as the timeline JSON object of docs/serve.md: {"thread","pid","tid","from","to",
 * "ns_per_px","source","index","chunks_read","max_depth","calls":[[start,dur,depth,fid,self,cut
 * (,attrs)]],"busy":[[start,dur,depth,count,fid|-1]],"marks":[[t,fid,count]]} and, for a run
 * recorded with --sched, "offcpu":[[start,dur,count,preempted]]. 0 or CTR_EIO.
 */
int ctr_tli_result_json(FILE *out, const struct ctr_run *run, const struct ctr_tli_result *r,
			struct ctr_err *e);

#endif
