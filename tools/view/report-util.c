/* SPDX-License-Identifier: MIT */
/*
 * What every report view shares (report.h, report-int.h): a function's label and the names a
 * glob matches, the run's call count, the header lines, the output's status. Below report.c,
 * calls.c, graph.c and latency.c, calling none of them.
 */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/fmt.h"
#include "cxxname.h"
#include "report-int.h"
#include "report.h"

const char *ctr_report_label(const struct ctr_run *run, uint32_t fid, char *buf, size_t n)
{
	const char *name = ctr_cxx_display(run, fid);
	uint32_t kind = fid < run->n_functions ? run->functions[fid].kind : CTR_FN_FUNCTION;

	if (kind == CTR_FN_SPAN)
		snprintf(buf, n, "[span] %s", name);
	else if (kind == CTR_FN_MARK)
		snprintf(buf, n, "[mark] %s", name);
	else
		snprintf(buf, n, "%s", name);
	return buf;
}

uint64_t ctr_report_calls(const struct ctr_run *run)
{
	uint64_t calls = 0;

	for (size_t i = 0; i < run->n_nodes; i++) {
		uint32_t f = run->nodes[i].function;

		if (f < run->n_functions && run->functions[f].kind == CTR_FN_FUNCTION)
			calls += run->nodes[i].calls;
	}
	return calls;
}

static int glob_is(const char *name, const char *glob)
{
	return !strcmp(name, glob) || !fnmatch(glob, name, 0);
}

/* 1 if @glob matches @name or a trailing part of it that starts after a "::" ("Slice::size" and
 * "size" of "kv::Slice::size"). */
static int scoped_match(const char *name, const char *glob)
{
	for (const char *p = name; p; p = strstr(p, "::"))
		if (glob_is(p == name ? p : (p += 2), glob))
			return 1;
	return 0;
}

/* The forms people write for a C++ function (docs/report.md, names): the qualified name with
 * its template arguments ("app::sum<int>"), folded ("app::sum<...>") or left out ("app::sum"),
 * each also without its leading scopes ("sum"), none with the return type or parameters. */
static int cxx_forms_match(const char *full, const char *glob)
{
	char kept[1024], folded[1024];
	size_t n;

	if (!strchr(full, '(') && !strstr(full, "::"))
		return 0; /* a C name: matched as stored */
	ctr_cxx_shorten(full, 3, kept, sizeof(kept));
	ctr_cxx_shorten(full, 1, folded, sizeof(folded));
	if (scoped_match(kept, glob) || scoped_match(folded, glob))
		return 1;
	n = strlen(folded);
	if (n <= 5 || strcmp(folded + n - 5, "<...>"))
		return 0;
	folded[n - 5] = '\0';
	return scoped_match(folded, glob);
}

int ctr_report_name_match(const struct ctr_run *run, uint32_t fid, const char *glob)
{
	const struct ctr_function *f;

	if (!glob)
		return 1;
	if (fid >= run->n_functions)
		return 0;
	f = &run->functions[fid];
	if (f->name && (!strcmp(f->name, glob) || !fnmatch(glob, f->name, 0)))
		return 1;
	if (f->name && strcmp(ctr_cxx_display(run, fid), f->name) &&
	    (!strcmp(ctr_cxx_display(run, fid), glob) ||
	     !fnmatch(glob, ctr_cxx_display(run, fid), 0)))
		return 1;
	if (f->linkage_name && *f->linkage_name &&
	    (!strcmp(f->linkage_name, glob) || !fnmatch(glob, f->linkage_name, 0)))
		return 1;
	return f->name && cxx_forms_match(f->name, glob);
}

int ctr_report_status(FILE *out, struct ctr_err *e)
{
	if (ferror(out))
		return ctr_err_set(e, CTR_EIO, errno, "cannot write the report: %s",
				   strerror(errno));
	return 0;
}

const char *ctr_report_sig_name(int sig, char *buf, size_t n)
{
	const char *abbrev = sig > 0 ? sigabbrev_np(sig) : NULL;

	if (abbrev)
		snprintf(buf, n, "SIG%s", abbrev);
	else
		snprintf(buf, n, "signal %d", sig);
	return buf;
}

/* The functions ctrace-cc left uninstrumented from a .ctrace-exclude list (build.excluded*
 * provenance, docs/ctrace-cc.md): how many, and the calls they made in the run it came from. */
static void print_excluded(FILE *out, const struct ctr_run *run)
{
	const char *n = ctr_run_meta_get(run, "build.excluded");
	const char *from = ctr_run_meta_get(run, "build.excluded.run");
	const char *hidden = ctr_run_meta_get(run, "build.excluded.hidden_calls");
	char calls[32];

	if (!n)
		return;
	fprintf(out, "excluded at build: %s function%s", n, strcmp(n, "1") ? "s" : "");
	if (from && hidden) {
		ctr_fmt_count(calls, sizeof(calls), strtoull(hidden, NULL, 10));
		fprintf(out, " (.ctrace-exclude from run %s, where they made %s calls)", from,
			calls);
	}
	fprintf(out, "; 'ctrace show' lists them\n");
}

static int cmp_edge(const void *pa, const void *pb)
{
	const int64_t *a = pa, *b = pb;

	/* by time; at one instant an end (-1) before a start (+1) */
	if (a[0] != b[0])
		return a[0] < b[0] ? -1 : 1;
	return a[1] < b[1] ? -1 : a[1] > b[1];
}

size_t ctr_report_max_alive(const struct ctr_run *run)
{
	int64_t(*ev)[2] = malloc((2 * run->n_threads + 1) * sizeof(*ev));
	size_t best = 0, now = 0;

	if (!ev)
		return 0;
	for (size_t i = 0; i < run->n_threads; i++) {
		ev[2 * i][0] = (int64_t)run->threads[i].start_ns;
		ev[2 * i][1] = 1;
		ev[2 * i + 1][0] = (int64_t)run->threads[i].end_ns;
		ev[2 * i + 1][1] = -1;
	}
	qsort(ev, 2 * run->n_threads, sizeof(*ev), cmp_edge);
	for (size_t i = 0; i < 2 * run->n_threads; i++) {
		now += (size_t)ev[i][1];
		if (now > best)
			best = now;
	}
	free(ev);
	return best;
}

int ctr_report_has_sched(const struct ctr_run *run)
{
	return ctr_run_meta_get(run, "sched_records") != NULL;
}

int ctr_report_left_out(const struct ctr_run *run)
{
	const char *v = ctr_run_meta_get(run, "preempted_calls");

	return v && !strcmp(v, "excluded");
}

void ctr_report_preempted_note(FILE *out, const struct ctr_run *run,
			       const struct ctr_prof_entry *rows, size_t n)
{
	uint64_t calls = 0, fns = 0;
	char cnt[32];

	for (size_t i = 0; i < n; i++) {
		calls += rows[i].preempted_calls;
		fns += rows[i].preempted_calls > 0;
	}
	if (!calls || !ctr_report_has_sched(run))
		return;
	ctr_fmt_count(cnt, sizeof(cnt), calls);
	if (ctr_report_left_out(run))
		fprintf(out,
			"preempted: %s call%s of %" PRIu64
			" function%s more than half preempted or "
			"waiting for the recorder: left out of min/max/percentiles (ctrace commit "
			"--keep-preempted includes them)\n",
			cnt, calls == 1 ? "" : "s", fns, fns == 1 ? "" : "s");
	else
		fprintf(
		    out,
		    "preempted: %s call%s of %" PRIu64 " function%s more than half preempted or "
		    "waiting for the recorder: kept in min/max/percentiles (--keep-preempted)\n",
		    cnt, calls == 1 ? "" : "s", fns, fns == 1 ? "" : "s");
}

/* Without off-CPU data, a run whose threads outnumbered the CPUs has wall times that include
 * waiting for a CPU: said once in the header (docs/report.md, "True times"). */
static void print_contention(FILE *out, const struct ctr_run *run)
{
	const char *c = ctr_run_meta_get(run, "host.cpus");
	long cpus = c ? strtol(c, NULL, 10) : 0;
	size_t alive;

	if (cpus <= 0 || run->n_threads <= (size_t)cpus || ctr_report_has_sched(run))
		return;
	alive = ctr_report_max_alive(run);
	if (alive > (size_t)cpus)
		fprintf(out,
			"note: up to %zu threads were alive at once on %ld CPUs: times are wall "
			"clock and include waiting for a CPU (ctrace record --sched tells on- from "
			"off-CPU time)\n",
			alive, cpus);
}

/* ctrace record's drainer fell behind: the program's threads waited for ring space. That time
 * is inside the timed window change (preload/hooks.c map_window), so commit removed it from the
 * calls it fell in; the header says how often (docs/report.md, "True times"). */
static void print_drain_waits(FILE *out, const struct ctr_run *run)
{
	const char *w = ctr_run_meta_get(run, "drain_waits");
	unsigned long long n = w ? strtoull(w, NULL, 10) : 0;
	char cnt[32];

	if (!n)
		return;
	ctr_fmt_count(cnt, sizeof(cnt), n);
	fprintf(out,
		"recorder: the program waited %s time%s for the drainer (ring full); the waits "
		"are compensated\n",
		cnt, n == 1 ? "" : "s");
}

int ctr_report_header(FILE *out, const struct ctr_run *run, const struct ctr_report_opts *o,
		      struct ctr_err *e)
{
	char dur[32], calls[32], sig[32];
	int crash_sig = run->signal;

	if (o && o->no_header)
		return 0;
	ctr_fmt_ns(dur, sizeof(dur), run->duration_ns);
	ctr_fmt_count(calls, sizeof(calls), ctr_report_calls(run));
	fprintf(out, "run %s '%s' %s, %zu thread%s, %s calls%s\n", run->id,
		run->command ? run->command : "", dur, run->n_threads,
		run->n_threads == 1 ? "" : "s", calls, o && o->raw_times ? " (raw times)" : "");
	if (run->lost_events)
		fprintf(out, "WARNING: %" PRIu64 " events lost\n", run->lost_events);
	print_excluded(out, run);
	print_contention(out, run);
	print_drain_waits(out, run);
	if (run->crashed) {
		for (size_t i = 0; !crash_sig && i < run->n_procs; i++)
			if (run->procs[i].crashed)
				crash_sig = run->procs[i].signal;
		fprintf(out, "CRASHED: %s\n",
			crash_sig ? ctr_report_sig_name(crash_sig, sig, sizeof(sig))
				  : "unknown signal");
	} else if (run->signal) {
		fprintf(out, "KILLED: %s\n", ctr_report_sig_name(run->signal, sig, sizeof(sig)));
	}
	return ctr_report_status(out, e);
}
