/* SPDX-License-Identifier: MIT */
/*
 * ctr_run_check(): the invariants every committed run keeps, so that a report never shows a
 * parent smaller than its children or a self time larger than its total.
 */
#include "invariants.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char *fname(const struct ctr_run *r, uint32_t f)
{
	if (f >= r->n_functions)
		return "?";
	return r->functions[f].name ? r->functions[f].name : "?";
}

static int broken(const struct ctr_run *r, size_t i, const char *rule, uint64_t a, uint64_t b,
		  struct ctr_err *e)
{
	const struct ctr_node *n = &r->nodes[i];

	return ctr_err_set(e, CTR_EINTERNAL, 0,
			   "run '%s': node %zu ('%s', thread %u) breaks %s (%" PRIu64 " vs %" PRIu64
			   "): a bug in ctrace's compensation",
			   r->id, i, fname(r, n->function), n->thread, rule, a, b);
}

/* One node's own figures, compensated (@raw 0) or measured (@raw 1). @left_out: the run's
 * preempted calls are not in min/max (struct ctr_node's preempted_calls). */
static int check_node(const struct ctr_run *r, size_t i, uint64_t untimed, int raw, int left_out,
		      struct ctr_err *e)
{
	const struct ctr_node *n = &r->nodes[i];
	uint64_t total = raw ? n->raw_total_ns : n->total_ns,
		 self = raw ? n->raw_self_ns : n->self_ns;
	uint64_t mn = raw ? n->raw_min_ns : n->min_ns, mx = raw ? n->raw_max_ns : n->max_ns;
	uint64_t timed = n->calls > untimed ? n->calls - untimed : 0;

	if (n->preempted_calls > n->calls)
		return broken(r, i, "preempted calls <= calls", n->preempted_calls, n->calls, e);
	if (self > total)
		return broken(r, i, raw ? "raw self <= total" : "self <= total", self, total, e);
	/* --sched: the off-CPU clock runs at most as fast as time, inside the measured calls */
	if (raw && n->offcpu_ns > total)
		return broken(r, i, "off-CPU <= raw total", n->offcpu_ns, total, e);
	if (raw && n->preempt_ns > n->offcpu_ns)
		return broken(r, i, "preempted <= off-CPU", n->preempt_ns, n->offcpu_ns, e);
	if (!timed || untimed)
		return 0; /* counted calls carry no times of their own (or estimated ones) */
	if (mn > mx)
		return broken(r, i, "min <= max", mn, mx, e);
	/* calls left out of min/max are in the total: min holds for those kept in (all of them
	 * when every call was left out), max only when none was */
	if (left_out && n->preempted_calls && n->preempted_calls < timed)
		timed -= n->preempted_calls;
	/* avg = total / timed, compared without rounding: min * timed <= total <= max * timed */
	if ((double)mn * (double)timed > (double)total + (double)timed)
		return broken(r, i, "min <= avg", mn, total / timed, e);
	if ((!left_out || !n->preempted_calls) &&
	    (double)total > (double)mx * (double)timed + (double)timed)
		return broken(r, i, "avg <= max", total / timed, mx, e);
	if (!raw && mn == 0 && n->raw_min_ns > 0)
		return broken(r, i, "compensated min > 0 where the measured one is", mn,
			      n->raw_min_ns, e);
	if (!raw && total > n->raw_total_ns)
		return broken(r, i, "compensated total <= measured", total, n->raw_total_ns, e);
	return 0;
}

int ctr_run_check(const struct ctr_run *r, const uint64_t *untimed, size_t n_untimed,
		  struct ctr_err *e)
{
	uint64_t *kids = calloc(3 * r->n_nodes + 1, sizeof(uint64_t)), *roots;
	const char *pc = ctr_run_meta_get(r, "preempted_calls");
	int ret = 0, left_out = pc && !strcmp(pc, "excluded");

	roots = calloc(2 * r->n_threads + 1, sizeof(uint64_t));
	if (!kids || !roots) {
		ret = CTR_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < r->n_nodes; i++) {
		const struct ctr_node *n = &r->nodes[i];

		for (int raw = 0; raw < 2 && !ret; raw++)
			ret = check_node(r, i, i < n_untimed && untimed ? untimed[i] : 0, raw,
					 left_out, e);
		if (ret)
			goto out;
		if (n->parent != CTR_NONE && n->parent < r->n_nodes) {
			kids[2 * n->parent] += n->total_ns;
			kids[2 * n->parent + 1] += n->raw_total_ns;
			kids[2 * r->n_nodes + n->parent] += n->offcpu_ns;
		} else if (n->thread < r->n_threads) {
			roots[2 * n->thread] += n->total_ns;
			roots[2 * n->thread + 1] += n->raw_total_ns;
		}
	}
	for (size_t i = 0; i < r->n_nodes; i++) {
		const struct ctr_node *n = &r->nodes[i];

		if (kids[2 * i] + n->self_ns > n->total_ns)
			ret = broken(r, i, "total >= children's totals + self", n->total_ns,
				     kids[2 * i] + n->self_ns, e);
		else if (kids[2 * i + 1] + n->raw_self_ns > n->raw_total_ns)
			ret = broken(r, i, "raw total >= children's raw totals + raw self",
				     n->raw_total_ns, kids[2 * i + 1] + n->raw_self_ns, e);
		else if (kids[2 * r->n_nodes + i] > n->offcpu_ns) /* children are disjoint */
			ret = broken(r, i, "off-CPU >= children's off-CPU", n->offcpu_ns,
				     kids[2 * r->n_nodes + i], e);
		if (ret)
			goto out;
	}
	for (size_t t = 0; t < r->n_threads; t++) {
		const struct ctr_thread *th = &r->threads[t];
		uint64_t span = th->end_ns > th->start_ns ? th->end_ns - th->start_ns : 0;

		if (roots[2 * t + 1] > span || roots[2 * t] > roots[2 * t + 1]) {
			ret =
			    ctr_err_set(e, CTR_EINTERNAL, 0,
					"run '%s': thread %zu's top-level calls add up to %" PRIu64
					" ns compensated, %" PRIu64
					" ns measured, against its span of %" PRIu64 " ns",
					r->id, t, roots[2 * t], roots[2 * t + 1], span);
			goto out;
		}
	}
out:
	free(kids);
	free(roots);
	return ret;
}
