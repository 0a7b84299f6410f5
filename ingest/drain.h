/* SPDX-License-Identifier: MIT */
/*
 * The drainer of shared rings (common/format.h, docs/recording.md "Shared rings"): copies the
 * chunks that recording threads publish in r-*.ring files of a run directory into their
 * t-*.ev event files, byte for byte at the same offsets, zeroes them and hands them back. Run
 * by `ctrace record` while the program runs, and by `ctrace commit` for rings a recorder that
 * died left behind. Single-threaded; one drainer per run directory.
 */
#ifndef CTR_DRAIN_H
#define CTR_DRAIN_H

#include <stdint.h>

#include "../common/err.h"

struct ctr_drain;

struct ctr_drain_stats {
	uint64_t bytes;	      /* bytes copied into event files */
	uint64_t rings;	      /* rings seen */
	uint64_t rings_done;  /* rings drained to their end and removed */
	uint64_t lost_events; /* events in chunks not kept (--max-size, a failed write) */
	uint64_t waits;	      /* times a recording thread found its ring full */
	int over_max;	      /* --max-size was reached */
};

/* Opens the drainer of the run directory @dir. @max_size (0: none) bounds the bytes kept in all
 * event files together (each thread's 128-byte header excepted); beyond it threads stop
 * recording and count what they could not keep as lost. Caller frees with ctr_drain_close(). */
int ctr_drain_open(const char *dir, uint64_t max_size, struct ctr_drain **out, struct ctr_err *e);

/* One pass: copies every published chunk, finishes the rings of threads that ended (header
 * patched, ring removed) and those whose process died or exec'd. With @final the recording is
 * over: every ring is finished, the chunk being written included. Returns the bytes copied
 * (>= 0) or a negative CTR_E* code (an event file that cannot be written is counted as loss,
 * not an error). */
int64_t ctr_drain_pass(struct ctr_drain *d, int final, struct ctr_err *e);

void ctr_drain_get_stats(const struct ctr_drain *d, struct ctr_drain_stats *st);

/* Closes @d (NULL allowed); rings not finished stay in the directory. */
void ctr_drain_close(struct ctr_drain *d);

/* For `ctrace commit`: finishes the rings left in @dir by a recorder that is gone (run.meta's
 * drainer_pid no longer exists, or there is none). 0 when nothing was left or all was drained,
 * else a negative CTR_E* code. */
int ctr_drain_leftovers(const char *dir, struct ctr_err *e);

#endif
