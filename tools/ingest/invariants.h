/* SPDX-License-Identifier: MIT */
/*
 * The arithmetic promises of a committed run (docs/report.md, "True times"), checked on every
 * node of every thread: commit runs the check and, in a test build (CTRACE_CHECK_INVARIANTS=1),
 * refuses a run that breaks one, since that is a bug in ctrace and not in the program.
 */
#ifndef CTR_INVARIANTS_H
#define CTR_INVARIANTS_H

#include <stddef.h>
#include <stdint.h>

#include "../../common/err.h"
#include "../../store/store.h"

/* Checks, for compensated and raw figures alike: 0 <= self <= total; a node's total >= its
 * children's totals + its self; min <= avg <= max over the node's timed calls (@untimed[i]:
 * calls of node i known only from COUNT records, may be NULL; --sched: preempted calls <= calls,
 * and where run metadata preempted_calls is "excluded" min <= avg over the calls kept in, no
 * bound on max from the average when some were left out); a compensated minimum of 0 only
 * where the measured one is 0; a thread's top-level totals within its recorded span, and
 * compensated <= raw. Returns 0, or CTR_EINTERNAL naming the first node and rule broken. */
int ctr_run_check(const struct ctr_run *r, const uint64_t *untimed, size_t n_untimed,
		  struct ctr_err *e);

#endif
