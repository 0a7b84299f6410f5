/* SPDX-License-Identifier: MIT */
/*
 * ctrace-report: the text and JSON views of a committed run (flat profile, per-thread profiles,
 * calling-context tree, callers/callees, diff of two runs) and the `ctrace report` / `ctrace
 * show` commands. Every view works from the aggregates of struct ctr_run (functions, threads,
 * CCT nodes, attributes) and never reads the timeline, so a run of millions of calls reports
 * in milliseconds. The exports that need individual events live in export.h.
 */
#ifndef CTR_REPORT_H
#define CTR_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "../../common/err.h"
#include "../../common/fmt.h"
#include "../../store/store.h"

enum ctr_sort_key {
	CTR_SORT_SELF = 0,
	CTR_SORT_TOTAL,
	CTR_SORT_CALLS,
	CTR_SORT_AVG,
	CTR_SORT_MAX,
	CTR_SORT_NAME,
	CTR_SORT_OFFCPU, /* off-CPU time (ctrace record --sched) */
};

#define CTR_REPORT_TOP_DEFAULT 30
#define CTR_REPORT_MIN_PERCENT_DEFAULT 0.5

/* Options shared by the views; zero-initialised means: sort by self time, no row limit (0),
 * no filter, compensated times, unlimited depth, show every tree node (min_percent 0),
 * box-drawing tree. ctr_report_opts_init() sets the command-line defaults instead. */
/* --tree --json nests at most this many levels per tree: a node of the last level that has
 * children gets "deeper": NODE_ID, and its children continue in the thread's "subtrees", so the
 * JSON's nesting (and the recursion of any reader) stays bounded however deep the program went,
 * and the text grows with the number of nodes (docs/report.md). */
#define CTR_REPORT_JSON_LEVELS 32

struct ctr_report_opts {
	int sort;	      /* enum ctr_sort_key */
	size_t top;	      /* rows per table, 0 = all */
	const char *function; /* fnmatch(3) glob on display names; NULL = all */
	int raw_times;	      /* use the raw_* (uncompensated) node fields */
	unsigned depth;	      /* tree depth limit, 0 = unlimited */
	double min_percent;   /* tree: hide nodes whose total is below this % of the run */
	int ascii;	      /* tree: ASCII indentation instead of box drawing */
	int no_header;	      /* do not print the run header line */
	int threads;	      /* JSON: add a per-thread "functions" array to each thread */
	int tree;	      /* JSON: add each thread's nested call "tree" */
	int compact;	      /* JSON: no indentation (ctrace serve, the HTML page) */
	int match_name;	      /* diff: pair functions by name alone, not name + module */
	/* JSON: keep only what @prune_px pixels can draw: functions and tree nodes whose total
	 * is below 1/prune_px of their thread's time (of the run's for the run-wide functions)
	 * are merged into one "(other)" entry per list, which keeps their calls, total and self,
	 * so sums still add up (docs/serve.md, "Pruned answers"). 0 = everything. */
	unsigned prune_px;
};

/* Command-line defaults: top 30, min_percent 0.5, box drawing unless $LANG/$LC_ALL lack UTF-8. */
void ctr_report_opts_init(struct ctr_report_opts *o);

/* One row of a flat profile: a function aggregated over CCT nodes. total_ns counts only nodes
 * with no ancestor of the same function on their path, so recursion is not counted twice;
 * calls, self_ns sum over all nodes; min/max are over all nodes' per-call figures. */
struct ctr_prof_entry {
	uint32_t function;
	uint64_t calls;
	uint64_t total_ns, self_ns, min_ns, max_ns;
	/* --sched: off-CPU time inside the calls (outermost nodes, as total_ns), of that
	 * preempted, and off-CPU with no call of the function's callees open (summed as self_ns) */
	uint64_t offcpu_ns, preempt_ns, offcpu_self_ns;
	/* --sched: calls more than half preempted or in the recorder (struct ctr_node), summed as
	 * calls; where ctr_report_left_out(), min/max are of the other calls, or of these when
	 * the function has no other timed call */
	uint64_t preempted_calls;
};

/* Aggregates the nodes of thread @thread (CTR_NONE = all threads) per function, unsorted, one
 * entry per function that has a node. @raw selects raw_* fields. *out is NULL when *n is 0;
 * caller frees it. 0 or CTR_ENOMEM. */
int ctr_report_profile(const struct ctr_run *run, uint32_t thread, int raw,
		       struct ctr_prof_entry **out, size_t *n, struct ctr_err *e);
/* Sorts profile rows by @key (descending, name ascending on ties; CTR_SORT_NAME ascending). */
void ctr_report_sort(const struct ctr_run *run, struct ctr_prof_entry *rows, size_t n, int key);

/* Children lists of the CCT: first_child[n] / next_sibling[n] (CTR_NONE terminated); roots of
 * each thread are linked from root[thread]. Built in O(nodes). */
struct ctr_cct {
	uint32_t *first_child;
	uint32_t *next_sibling;
	uint32_t *root; /* n_threads entries */
	size_t n_nodes, n_threads;
};
int ctr_cct_build(struct ctr_cct *t, const struct ctr_run *run, struct ctr_err *e);
void ctr_cct_release(struct ctr_cct *t);

/* 1 if function @fid's stored name, linkage name or display name (view/cxxname.h) is @glob
 * or matches it as an fnmatch(3) pattern; 1 for a NULL @glob. */
int ctr_report_name_match(const struct ctr_run *run, uint32_t fid, const char *glob);
/* The label of a function in text views: "name", "[span] name" or "[mark] name". Returns
 * @buf. */
const char *ctr_report_label(const struct ctr_run *run, uint32_t fid, char *buf, size_t n);
/* The attributes seen on spans of function @fid (in thread @thread, CTR_NONE = all) as
 * "k=v, k2=v2" in @buf (at most 8, then ", ..."); returns @buf, "" when there are none. */
const char *ctr_report_fn_attrs(const struct ctr_run *run, uint32_t fid, uint32_t thread, char *buf,
				size_t n);
/* What 100% is in the run's tables: the sum of every thread's top-level totals (compensated,
 * or measured with @raw), like a sampling profiler's total of samples, so no row exceeds 100%
 * and a single thread's root shows 100%; duration_ns when there are no calls. */
uint64_t ctr_report_base_ns(const struct ctr_run *run, int raw);
/* 100% of thread @thread's tables: the sum of its top-level totals (CTR_NONE: all threads). */
uint64_t ctr_report_thread_base_ns(const struct ctr_run *run, uint32_t thread, int raw);
/* 1 if the run was recorded with --sched (its nodes carry off-CPU time), else 0. */
int ctr_report_has_sched(const struct ctr_run *run);
/* 1 if the run's calls counted in preempted_calls are left out of min/max and the percentiles
 * (committed from a --sched run without --keep-preempted). */
int ctr_report_left_out(const struct ctr_run *run);
/* --sched: after a table of @rows, one line saying how many calls of how many functions were
 * more than half preempted or in the recorder and whether min/max/percentiles leave them out;
 * nothing when there are none. */
void ctr_report_preempted_note(FILE *out, const struct ctr_run *run,
			       const struct ctr_prof_entry *rows, size_t n);
/* On-CPU time of node @nd: its total less its off-CPU time, at least 0. */
uint64_t ctr_report_oncpu_ns(const struct ctr_node *nd, int raw);
/* Sum of calls of function-kind nodes. */
uint64_t ctr_report_calls(const struct ctr_run *run);

/*
 * The views. Each writes to @out and returns 0 or a negative CTR_E* code (CTR_ENOMEM,
 * CTR_EIO on a write error, CTR_ENOTFOUND when a named function is not in the run).
 */
/* "run ID 'command' 1.23 s, 1 thread, 2.6 M calls" plus WARNING/CRASHED lines. */
int ctr_report_header(FILE *out, const struct ctr_run *run, const struct ctr_report_opts *o,
		      struct ctr_err *e);
/* Header + flat profile over all threads. */
int ctr_report_flat(FILE *out, const struct ctr_run *run, const struct ctr_report_opts *o,
		    struct ctr_err *e);
/* Header + one flat table per thread. */
int ctr_report_threads(FILE *out, const struct ctr_run *run, const struct ctr_report_opts *o,
		       struct ctr_err *e);
/* Header + calling-context tree per thread, with span attributes. */
int ctr_report_tree(FILE *out, const struct ctr_run *run, const struct ctr_report_opts *o,
		    struct ctr_err *e);
/* Header + callers (@callees = 0) or callees (@callees = 1) of the functions whose display
 * name matches @func (exact or glob). CTR_ENOTFOUND if none matches. */
int ctr_report_callers(FILE *out, const struct ctr_run *run, const struct ctr_report_opts *o,
		       const char *func, int callees, struct ctr_err *e);
/* The JSON form (docs/report.md): run header, metadata, threads, functions[] (flat profile,
 * honouring sort/top/function), spans' attributes; per-thread profiles and the tree when
 * o->threads / o->tree are set. */
int ctr_report_json(FILE *out, const struct ctr_run *run, const struct ctr_report_opts *o,
		    struct ctr_err *e);
/* Per-function change from @a to @b, matched by name + module basename, largest absolute
 * self-time change first; @json selects the JSON form. */
int ctr_report_diff(FILE *out, const struct ctr_run *a, const struct ctr_run *b,
		    const struct ctr_report_opts *o, int json, struct ctr_err *e);
/* `ctrace show` without --format: header fields, processes, metadata, crash backtrace. */
int ctr_report_summary(FILE *out, const struct ctr_run *run, struct ctr_err *e);

/* The commands: parse options with getopt_long, print, return the exit status (0, 1, 2). */
int ctr_cmd_report(int argc, char **argv);
int ctr_cmd_show(int argc, char **argv);

#endif
