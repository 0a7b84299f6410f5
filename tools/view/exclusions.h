/* SPDX-License-Identifier: MIT */
/*
 * Profile-guided exclusion: the functions of a run whose calls are many and whose average
 * (true) duration, without their slowest 1% of calls, is below what tracing one call costs, written
 * as the .ctrace-exclude list that ctrace-cc passes to gcc's
 * -finstrument-functions-exclude-function-list (docs/ctrace-cc.md). Excluding them from the next
 * build removes most of a C++ program's tracing cost (inlined accessors, tiny templates) and leaves
 * every other function exact.
 */
#ifndef CTR_VIEW_EXCLUSIONS_H
#define CTR_VIEW_EXCLUSIONS_H

#include <stdint.h>
#include <stdio.h>

#include "../../common/err.h"
#include "../../store/store.h"

struct ctr_exclusion_opts {
	uint64_t max_avg_ns; /* 0: the run's measured cost of tracing one call (at least 10 ns) */
	uint64_t min_calls;  /* fewer calls than this are never listed */
};

/* One function of the run that the rule selects. */
struct ctr_exclusion {
	uint32_t function;
	uint64_t calls;
	uint64_t avg_ns; /* the average of its fastest 99% of calls */
	char *entry;	 /* what gcc's list gets: the qualified name without return type or
			  * parameters, cut before a comma (the list is comma-separated); NULL
			  * when it cannot be listed: see @clash */
	uint32_t clash;	 /* with entry NULL: a function of the run outside the list that the
			  * entry would exclude too (gcc matches substrings), or CTR_NONE for a
			  * name gcc spells another way (lambdas, unnamed types) */
};

/* The list for @run under @o, most calls first (name on ties). *out is NULL when *n is 0;
 * free it with ctr_exclusions_free(). 0 or CTR_ENOMEM. */
int ctr_exclusions_compute(const struct ctr_run *run, const struct ctr_exclusion_opts *o,
			   struct ctr_exclusion **out, size_t *n, struct ctr_err *e);
void ctr_exclusions_free(struct ctr_exclusion *x, size_t n);

/* The rule's threshold for @run under @o (o->max_avg_ns, or the run's tracing cost). */
uint64_t ctr_exclusions_max_avg(const struct ctr_run *run, const struct ctr_exclusion_opts *o);

/* Writes the .ctrace-exclude file: '#' header lines (the run, the rule, "# hidden-calls: N"
 * counting the listed functions' calls), one entry a line with its figures in a trailing
 * comment, then the selected functions that cannot be listed, as comments. 0 or CTR_EIO. */
int ctr_exclusions_write(FILE *out, const struct ctr_run *run, const struct ctr_exclusion_opts *o,
			 const struct ctr_exclusion *x, size_t n, struct ctr_err *e);

#endif
