/* SPDX-License-Identifier: MIT */
/*
 * Log-linear latency histograms (see hist.h): bucket arithmetic, quantiles, merge and the
 * varint blob the stores keep.
 */
#include "hist.h"

#include <stdlib.h>
#include <string.h>

#define LIN 256u /* values below have a bucket each */
#define SUB 128u /* buckets per power of two above */
#define SUB_BITS 7

uint32_t ctr_hist_index(uint64_t ns)
{
	if (ns < LIN)
		return (uint32_t)ns;
	unsigned m = 63u - (unsigned)__builtin_clzll(ns); /* >= 8 */
	unsigned shift = m - SUB_BITS;

	return LIN + (m - 8u) * SUB + (uint32_t)((ns >> shift) - SUB);
}

uint64_t ctr_hist_lower(uint32_t idx)
{
	if (idx < LIN)
		return idx;
	if (idx >= CTR_HIST_BUCKETS)
		idx = CTR_HIST_BUCKETS - 1;
	uint32_t k = idx - LIN, m = 8 + k / SUB, top = SUB + k % SUB;

	return (uint64_t)top << (m - SUB_BITS);
}

uint64_t ctr_hist_upper(uint32_t idx)
{
	if (idx < LIN)
		return idx;
	if (idx >= CTR_HIST_BUCKETS - 1)
		return UINT64_MAX;
	uint32_t k = idx - LIN, m = 8 + k / SUB;

	return ctr_hist_lower(idx) + (((uint64_t)1 << (m - SUB_BITS)) - 1);
}

uint64_t ctr_hist_count(const struct ctr_hist_bucket *b, size_t n)
{
	uint64_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += b[i].count;
	return c;
}

uint64_t ctr_hist_quantile(const struct ctr_hist_bucket *b, size_t n, double q, uint64_t min,
			   uint64_t max)
{
	uint64_t total = ctr_hist_count(b, n), rank, seen = 0;

	if (!total)
		return 0;
	if (q > 1)
		q = 1;
	rank = (uint64_t)((double)total * q);
	if ((double)rank < (double)total * q - 1e-9)
		rank++;
	if (rank < 1)
		rank = 1;
	if (rank == total && max != UINT64_MAX)
		return max; /* the largest value is known exactly */
	for (size_t i = 0; i < n; i++) {
		seen += b[i].count;
		if (seen < rank)
			continue;
		uint64_t lo = ctr_hist_lower(b[i].idx), hi = ctr_hist_upper(b[i].idx);
		uint64_t v = lo + (hi - lo) / 2 + ((hi - lo) & 1);

		if (v < min)
			v = min;
		if (v > max)
			v = max;
		return v;
	}
	return max;
}

int ctr_hist_merge(struct ctr_hist_bucket **acc, size_t *n, const struct ctr_hist_bucket *b,
		   size_t nb)
{
	struct ctr_hist_bucket *a = *acc, *out;
	size_t na = *n, i = 0, j = 0, k = 0;

	if (!nb)
		return 0;
	if (!(out = malloc((na + nb) * sizeof(*out))))
		return CTR_ENOMEM;
	while (i < na || j < nb) {
		if (j >= nb || (i < na && a[i].idx < b[j].idx))
			out[k++] = a[i++];
		else if (i >= na || b[j].idx < a[i].idx)
			out[k++] = b[j++];
		else {
			out[k] = a[i++];
			out[k++].count += b[j++].count;
		}
	}
	free(a);
	*acc = out;
	*n = k;
	return 0;
}

static size_t put_varint(unsigned char *p, uint64_t v)
{
	size_t k = 0;

	do {
		p[k] = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v)
			p[k] |= 0x80;
		k++;
	} while (v);
	return k;
}

static int get_varint(const unsigned char *p, size_t len, size_t *pos, uint64_t *v)
{
	uint64_t r = 0;

	for (unsigned s = 0; s < 64; s += 7) {
		if (*pos >= len)
			return -1;
		unsigned char c = p[(*pos)++];

		r |= (uint64_t)(c & 0x7f) << s;
		if (!(c & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

int ctr_hist_encode(const struct ctr_hist_bucket *b, size_t n, unsigned char **out, size_t *len)
{
	unsigned char *p;
	size_t k = 0;
	uint32_t prev = 0;

	*out = NULL;
	*len = 0;
	if (!n)
		return 0;
	if (!(p = malloc(1 + 10 + n * 15)))
		return CTR_ENOMEM;
	p[k++] = 1;
	k += put_varint(p + k, n);
	for (size_t i = 0; i < n; i++) {
		k += put_varint(p + k, b[i].idx - prev);
		k += put_varint(p + k, b[i].count);
		prev = b[i].idx;
	}
	*out = p;
	*len = k;
	return 0;
}

int ctr_hist_decode(const unsigned char *p, size_t len, struct ctr_hist_bucket **out, size_t *n,
		    struct ctr_err *e)
{
	struct ctr_hist_bucket *b = NULL;
	uint64_t cnt, d, c, idx = 0;
	size_t pos = 1;

	*out = NULL;
	*n = 0;
	if (!len)
		return 0;
	if (p[0] != 1)
		return ctr_err_set(e, CTR_EFORMAT, 0, "histogram of unknown version %u",
				   (unsigned)p[0]);
	if (get_varint(p, len, &pos, &cnt) || cnt > CTR_HIST_BUCKETS || cnt == 0)
		goto bad;
	if (!(b = malloc(cnt * sizeof(*b))))
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory decoding a histogram");
	for (uint64_t i = 0; i < cnt; i++) {
		if (get_varint(p, len, &pos, &d) || get_varint(p, len, &pos, &c) || (i && d == 0) ||
		    d >= CTR_HIST_BUCKETS || idx + d >= CTR_HIST_BUCKETS)
			goto bad;
		idx += d;
		b[i].idx = (uint32_t)idx;
		b[i].count = c;
	}
	if (pos != len)
		goto bad;
	*out = b;
	*n = (size_t)cnt;
	return 0;
bad:
	free(b);
	return ctr_err_set(e, CTR_EFORMAT, 0, "corrupt histogram (%zu bytes)", len);
}
