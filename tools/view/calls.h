/* SPDX-License-Identifier: MIT */
/*
 * Views of individual calls, read from a run's stored timeline one event at a time:
 * `ctrace-report --slowest FUNC` (the N longest calls of a function, with thread, start, call
 * path and a --from/--to window) and `ctrace replay` (an indented, timed call trace like
 * `uftrace replay`). Memory is bounded by call depth (and N), not by the number of events;
 * with a store that streams (ctr_store_can_stream) only one chunk is held at a time.
 *
 * Times are those the timeline holds: measured (the tracer's own cost is not subtracted, as it
 * is in the profile views), in ns since the run's start.
 */
#ifndef CTR_VIEW_CALLS_H
#define CTR_VIEW_CALLS_H

#include <stdint.h>
#include <stdio.h>

#include "report.h"

/* Where the events come from: @store when it streams (the run may then be loaded without its
 * timeline), else the run's own chunks (loaded with CTR_LOAD_TIMELINE). */
struct ctr_calls_src {
	const struct ctr_run *run;
	struct ctr_store *store; /* NULL: run->chunks */
};

/* Header + the @n longest calls of the functions matching @func (exact or glob, any name form),
 * longest first (ties: earlier first): rank, duration, thread, start, the window as
 * "--from A --to B" in ns, and the call path "main > a > FUNC". CTR_ENOTFOUND when no function
 * matches or none of them has a call in the timeline; CTR_EFORMAT for a corrupt timeline. */
int ctr_report_slowest(FILE *out, const struct ctr_calls_src *src, const struct ctr_report_opts *o,
		       const char *func, size_t n, struct ctr_err *e);

struct ctr_replay_opts {
	int32_t tid;		  /* only this thread (tid); 0 = all threads */
	uint64_t from_ns, to_ns;  /* calls entered in [from, to); to 0 = no end */
	const char *function;	  /* only calls at or below a function matching this glob */
	unsigned depth;		  /* hide calls nested deeper than this (1 = top); 0 = all */
	uint64_t min_duration_ns; /* hide calls shorter than this */
};

/* The call trace of each selected thread (in order of start time): a "# thread" line, then one
 * line per call: start time (ns), duration, tid, indentation by depth and "name() {" ... "}"
 * for calls with shown children, "name();" for the others; marks as comments. CTR_ENOTFOUND
 * when --tid names no thread of the run or --function matches no function. */
int ctr_replay(FILE *out, const struct ctr_calls_src *src, const struct ctr_replay_opts *ro,
	       struct ctr_err *e);

/* The thread indexes of @run in the order people expect: processes by their first thread's
 * start, then each process's main thread (tid = pid, first even after a pid wrap), then its
 * other threads by tid, which is the order commit numbers them in, so a single process's
 * threads read 0, 1, 2, ... @order has run->n_threads entries. */
void ctr_report_thread_order(const struct ctr_run *run, uint32_t *order);

#endif
