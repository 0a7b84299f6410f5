/* SPDX-License-Identifier: MIT */
/*
 * The drop policy's pending counts (--min-duration, --sample): a call taken back at its exit
 * is counted in its caller's frame, in a table of (function, count) entries per open frame
 * found through a small hint hash, and written as COUNT records just before that frame's EXIT
 * (or before the frames close together at a longjmp or exception), so that every call stays
 * counted in the frame it was made from. Slow paths only: the one-probe count of the common
 * case is inline in hooks.c.
 */
#include <errno.h>
#include <signal.h>

#include "preload-int.h"

/* Maps the hints and @cap entries of the pending counts into @t. 0 or -1. */
int ctr_pend_map(struct ctr_thr *t, uint32_t cap)
{
	uint32_t *m = map_anon(PEND_BYTES(cap));

	if (!m)
		return -1;
	t->pend_hint = m;
	t->pend = (struct ctr_pending *)(m + CTR_PEND_HINTS);
	t->pend_cap = cap;
	return 0;
}

/* Doubles the pending counts' array (slow path, tracer time). 0 or -1. */
static int pend_grow(struct ctr_thr *t)
{
	uint64_t t0 = now_ticks();
	uint32_t cap = t->pend_cap * 2;
	sigset_t old;
	void *m;

	block_async(&old); /* mremap moves the table before t->pend follows */
	m = cap <= CTR_PEND_LIMIT
		? mremap(t->pend_hint, PEND_BYTES(t->pend_cap), PEND_BYTES(cap), MREMAP_MAYMOVE)
		: MAP_FAILED;
	if (m != MAP_FAILED) {
		t->pend_hint = m;
		t->pend = (struct ctr_pending *)(t->pend_hint + CTR_PEND_HINTS);
		t->pend_cap = cap;
	}
	unblock_async(&old);
	t->tracer += now_ticks() - t0;
	return m == MAP_FAILED ? -1 : 0;
}

#define PEND_PROBES 4

/* Looks for @fn's entry among entries [@lo, @hi) through the hints (a few linear probes).
 * Returns its hint slot with *@found = 1, else a slot to point at a new entry: one pointing
 * outside the range if any (else the first, whose entry may then get a repeat). */
static uint32_t pend_probe(const struct ctr_thr *t, uintptr_t fn, uint32_t lo, uint32_t hi,
			   int *found)
{
	uint32_t k = pend_hint_of(fn), first = k, free_k = CTR_PEND_HINTS;

	for (int i = 0; i < PEND_PROBES; i++, k = (k + 1) & (CTR_PEND_HINTS - 1)) {
		uint32_t h = t->pend_hint[k];

		if (h >= lo && h < hi) {
			if (t->pend[h].fn == fn) {
				*found = 1;
				return k;
			}
		} else if (free_k == CTR_PEND_HINTS) {
			free_k = k;
		}
	}
	*found = 0;
	return free_k < CTR_PEND_HINTS ? free_k : first;
}

/* Writes the dropped calls owned by frames at depth >= @depth (all with 0), in the stream
 * position where the frame at @depth is innermost: just before its EXIT. */
void ctr_flush_pending(struct ctr_thr *t, uint32_t depth)
{
	uint32_t i, k = pend_tail(t, depth);

	for (i = k; i < t->n_pend; i++) {
		uint64_t c = t->pend[i].count;

		for (; c > UINT32_MAX; c -= UINT32_MAX)
			ctr_write_count(t, t->pend[i].fn, UINT32_MAX);
		ctr_write_count(t, t->pend[i].fn, (uint32_t)c);
	}
	t->n_pend = k;
}

/* Merges the repeated entries of each open frame (and of the top level), keeping every
 * frame's pend_start right. Returns the number of entries freed. */
static uint32_t compact_pending(struct ctr_thr *t)
{
	uint32_t n = t->n_pend, out = 0, i = 0, d = 0, top = t->depth < t->cap ? t->depth : t->cap;

	for (;;) {
		uint32_t lo = out, end = n;

		/* the range of depth d (0: top level) ends where the next frame's begins */
		while (d < top && t->aux[d].pend_start <= i)
			t->aux[d++].pend_start = out;
		if (d < top && t->aux[d].pend_start < n)
			end = t->aux[d].pend_start;
		for (; i < end; i++) {
			struct ctr_pending e = t->pend[i];
			int found;
			uint32_t k = pend_probe(t, e.fn, lo, out, &found);

			if (found) {
				t->pend[t->pend_hint[k]].count += e.count;
				continue;
			}
			t->pend_hint[k] = out;
			t->pend[out++] = e;
		}
		if (i >= n)
			break;
	}
	while (d < top)
		t->aux[d++].pend_start = out;
	t->n_pend = out;
	return n - out;
}

/* add_pending() past its first probe: more probes, a new entry, merging or growing a full
 * array (system calls: errno is kept, as the policy's fast paths do not save it). */
int ctr_pend_add_slow(struct ctr_thr *t, uintptr_t fn)
{
	int found, saved = errno;
	uint32_t k = pend_probe(t, fn, pend_tail(t, t->depth), t->n_pend, &found);

	if (t->n_pend < t->pend_cap)
		t->pend_skip = 0; /* room again: the next full array tries merging at once */
	if (found) {
		t->pend[t->pend_hint[k]].count++;
		return 0;
	}
	if (t->n_pend == t->pend_cap) {
		if (t->pend_skip) {
			t->pend_skip--;
			return -1;
		}
		if (compact_pending(t) < t->pend_cap / 4 && pend_grow(t)) {
			ctr_flush_pending(t,
					  t->depth); /* the innermost frame's counts can go now */
			if (t->n_pend == t->pend_cap) {
				t->pend_skip = t->pend_cap / 4; /* no thrashing: O(1) amortized */
				errno = saved;
				return -1;
			}
		}
		errno = saved;
		k = pend_probe(t, fn, pend_tail(t, t->depth), t->n_pend, &found);
		if (found) {
			t->pend[t->pend_hint[k]].count++;
			return 0;
		}
	}
	t->pend_hint[k] = t->n_pend;
	t->pend[t->n_pend].fn = fn;
	t->pend[t->n_pend].count = 1;
	t->n_pend++;
	return 0;
}

/*
 * Before the frames above depth @k close together (an exit that closes several, a longjmp,
 * an exception), at @now: writes each one's dropped-call counts inside it, closing the frames
 * above the next one with counts by an UNWIND, so that no count moves into a deeper frame.
 * t->depth is the stream's depth throughout. Returns how many frames are still open above
 * @k (at least 1), for the caller's own EXIT or UNWIND to close.
 */
uint32_t ctr_close_counted(struct ctr_thr *t, uint32_t k, uint64_t now)
{
	uint32_t d = t->depth, e;

	for (;;) {
		for (e = d; e > k && pend_tail(t, e) == t->n_pend; e--)
			; /* the innermost frame that has counts */
		if (e == k || (e < d && ctr_put_unwind(t, d - e, now) != 0))
			return d - k;
		t->depth = d = e;
		ctr_flush_pending(t, d);
	}
}
