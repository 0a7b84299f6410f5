/* SPDX-License-Identifier: MIT */
/*
 * Latency histograms: log-linear buckets (HDR-style) over nanosecond durations. Values below
 * 256 have a bucket each; above, every power of two is cut into 128 equal buckets, so a bucket
 * is never wider than 1/128 of its lower bound and its midpoint is within 0.4% of any value in
 * it. Index space is fixed (CTR_HIST_BUCKETS), a histogram is the sorted list of its non-empty
 * buckets, so memory per histogram is bounded by the spread of its values, not their number.
 * The stored form is a compact varint blob (ctr_hist_encode); the report and exports decode it.
 */
#ifndef CTR_HIST_H
#define CTR_HIST_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define CTR_HIST_BUCKETS 7424u /* indexes 0 .. CTR_HIST_BUCKETS-1 cover all of uint64_t */

struct ctr_hist_bucket {
	uint32_t idx; /* ctr_hist_index() of the values counted here */
	uint64_t count;
};

/* The bucket of @ns. Pure; any thread. */
uint32_t ctr_hist_index(uint64_t ns);
/* The smallest and the largest value of bucket @idx (inclusive). */
uint64_t ctr_hist_lower(uint32_t idx);
uint64_t ctr_hist_upper(uint32_t idx);

/* The nearest-rank quantile @q (0 < q <= 1) of the histogram @b (sorted by idx, @n buckets):
 * the midpoint of the bucket holding the ceil(q * count)-th value, clamped to [@min, @max]
 * (the exact extremes, when known; pass 0 and UINT64_MAX otherwise), and @max itself for the
 * largest value. 0 for an empty one. */
uint64_t ctr_hist_quantile(const struct ctr_hist_bucket *b, size_t n, double q, uint64_t min,
			   uint64_t max);
/* Sum of the counts. */
uint64_t ctr_hist_count(const struct ctr_hist_bucket *b, size_t n);

/* Adds histogram @b (@nb buckets, sorted) into *@acc (*@n buckets, sorted; may be NULL/0),
 * keeping it sorted; *@acc is reallocated (caller frees). 0 or CTR_ENOMEM (*@acc unchanged). */
int ctr_hist_merge(struct ctr_hist_bucket **acc, size_t *n, const struct ctr_hist_bucket *b,
		   size_t nb);

/* The stored form: a version byte (1), the bucket count, then per bucket the index delta and
 * the count, all LEB128. *@out is malloc'ed (caller frees), NULL with *@len 0 for no buckets.
 * 0 or CTR_ENOMEM. */
int ctr_hist_encode(const struct ctr_hist_bucket *b, size_t n, unsigned char **out, size_t *len);
/* The inverse: *@out (caller frees; NULL when empty) and *@n. An empty blob (@len 0) is an empty
 * histogram. CTR_EFORMAT for a bad version, truncated data, indexes out of order or range;
 * CTR_ENOMEM. */
int ctr_hist_decode(const unsigned char *p, size_t len, struct ctr_hist_bucket **out, size_t *n,
		    struct ctr_err *e);

#endif
