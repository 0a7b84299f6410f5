/* SPDX-License-Identifier: MIT */
/*
 * One self-contained HTML page: run header, sortable profile table, the SVG flame graph inline,
 * and a per-thread timeline. The page's stylesheet and script are the real files
 * export/assets/report.{css,js}, embedded at build time (assets.c). Nothing is loaded from the
 * network; every run string is XML-escaped in markup or embedded as script-safe JSON, and the
 * script only ever assigns textContent.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/hash.h"
#include "../store/runjson.h"
#include "../store/timeline.h"
#include "../view/report.h"
#include "export-int.h"

struct tl_call {
	uint64_t start, dur;
	uint32_t depth, fid;
};

struct html_thread {
	struct tl_call *calls;
	size_t n, cap;
};

struct html_ctx {
	struct html_thread *threads;
	int nomem;
};

static int html_call(struct tl_walk *w, uint32_t th, struct tl_frame *f,
		     const struct tl_frame *parent, struct ctr_err *e)
{
	struct html_ctx *c = w->arg;
	struct html_thread *t = &c->threads[th];

	if (t->n == t->cap) {
		size_t ncap = t->cap ? 2 * t->cap : 256;
		struct tl_call *nc = realloc(t->calls, ncap * sizeof(*nc));

		if (!nc)
			return ctr_err_set(e, CTR_ENOMEM, ENOMEM,
					   "out of memory writing the export");
		t->calls = nc;
		t->cap = ncap;
	}
	t->calls[t->n++] = (struct tl_call){f->start, f->end - f->start, f->depth, f->fid};
	return 0;
}

static void html_header(FILE *out, const struct ctr_run *run)
{
	char dur[32], calls[32], buf[64];
	time_t secs = (time_t)(run->start_unix_ns / 1000000000);
	struct tm tm;

	fputs("<header><h1>ctrace run <code>", out);
	ctr_export_xml_escape(out, run->id);
	fputs("</code></h1>\n<p class=\"meta\">command: <code>", out);
	ctr_export_xml_escape(out, run->command);
	fputs("</code>", out);
	if (run->host && *run->host) {
		fputs(" &middot; host: ", out);
		ctr_export_xml_escape(out, run->host);
	}
	fputs("</p>\n<p class=\"meta\">", out);
	if (gmtime_r(&secs, &tm)) {
		strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
		fprintf(out, "started %s &middot; ", buf);
	}
	ctr_fmt_ns(dur, sizeof(dur), run->duration_ns);
	ctr_fmt_count(calls, sizeof(calls), ctr_report_calls(run));
	fprintf(out,
		"duration %s &middot; %zu thread%s &middot; %s calls &middot; %" PRIu64
		" events &middot; ",
		dur, run->n_threads, run->n_threads == 1 ? "" : "s", calls, run->events);
	if (run->signal)
		fprintf(out, "killed by signal %d", run->signal);
	else if (run->exit_status >= 0)
		fprintf(out, "exit status %d", run->exit_status);
	else
		fputs("exit status unknown", out);
	fputs("</p>\n", out);
	if (run->lost_events)
		fprintf(out, "<p class=\"warn\">WARNING: %" PRIu64 " events lost</p>\n",
			run->lost_events);
	if (run->crashed)
		fputs(
		    "<p class=\"crash\">CRASHED: the program died of a fatal signal; calls open at "
		    "the crash end there</p>\n",
		    out);
	fputs("</header>\n", out);
}

/* The page's data for its script (#ctrace-data): functions, profile rows and the timeline's
 * calls per thread. Every string is escaped so that no "<" ends the element. */
static void html_data(FILE *out, const struct ctr_run *run, const struct ctr_export_opts *o,
		      const struct tl_walk *w, const struct html_ctx *c,
		      const struct ctr_prof_entry *rows, size_t nrows)
{
	fputs("<script type=\"application/json\" id=\"ctrace-data\">{\"run_id\":", out);
	ctr_export_jq(out, run->id);
	fprintf(out, ",\"duration_ns\":%" PRIu64 ",\"window\":[%" PRIu64 ",%" PRIu64 "],",
		ctr_report_base_ns(run, o->raw_times), w->from,
		w->to != UINT64_MAX ? w->to : run->duration_ns);
	fputs("\"functions\":[", out);
	for (size_t i = 0; i < run->n_functions; i++) {
		const struct ctr_function *f = &run->functions[i];
		char abuf[512];

		fputs(i ? ",\n[" : "\n[", out);
		ctr_export_jq(out, f->name);
		fprintf(out, ",\"%s\",", ctr_runjson_kind_name(f->kind));
		ctr_export_jq(out, f->file);
		fprintf(out, ",%u,", f->line);
		ctr_export_jq(
		    out, f->kind == CTR_FN_SPAN
			     ? ctr_report_fn_attrs(run, (uint32_t)i, CTR_NONE, abuf, sizeof(abuf))
			     : "");
		fputc(']', out);
	}
	fputs("],\n\"profile\":[", out);
	for (size_t i = 0; i < nrows; i++)
		fprintf(out, "%s[%u,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]",
			i ? ",\n" : "\n", rows[i].function, rows[i].calls, rows[i].total_ns,
			rows[i].self_ns, rows[i].min_ns, rows[i].max_ns);
	fputs("],\n\"threads\":[", out);
	for (size_t i = 0; i < run->n_threads; i++) {
		const struct ctr_thread *t = &run->threads[i];
		const struct html_thread *h = &c->threads[i];

		fputs(i ? ",\n{\"name\":" : "\n{\"name\":", out);
		ctr_export_jq(out, t->name);
		fprintf(out, ",\"pid\":%d,\"tid\":%d,\"calls\":[", t->pid, t->tid);
		for (size_t k = 0; k < h->n; k++)
			fprintf(out, "%s[%" PRIu64 ",%" PRIu64 ",%u,%u]", k ? "," : "",
				h->calls[k].start, h->calls[k].dur, h->calls[k].depth,
				h->calls[k].fid);
		fputs("]}", out);
	}
}

int ctr_export_html(FILE *out, const struct ctr_run *run, const struct ctr_export_opts *o,
		    struct ctr_export_stats *st, struct ctr_err *e)
{
	struct html_ctx c = {0};
	struct ctr_prof_entry *rows = NULL;
	struct ft_tree ft = {0};
	struct tl_walk w;
	size_t nrows = 0;
	char title[512], dur[32];
	int ret;

	c.threads = calloc(run->n_threads ? run->n_threads : 1, sizeof(*c.threads));
	if (!c.threads)
		return ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory writing the export");
	ctr_tl_walk_init(&w, run, o, 0, CTR_EXPORT_HTML_MAX_EVENTS);
	w.on_call = html_call;
	w.arg = &c;
	ret = ctr_tl_walk(&w, e);
	if (!ret)
		ret = ctr_report_profile(run, CTR_NONE, o->raw_times, &rows, &nrows, e);
	if (!ret)
		ret = ctr_ft_build(&ft, run, o->raw_times, o->thread_prefix, e);
	if (ret)
		goto out;

	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"generator\" content=\"ctrace\">\n<title>ctrace ",
	      out);
	ctr_export_xml_escape(out, run->id);
	fputs(" &ndash; ", out);
	ctr_export_xml_escape(out, run->command);
	fprintf(out, "</title>\n<style>%s</style>\n</head>\n<body>\n", ctr_asset_report_css);
	html_header(out, run);
	fputs("<noscript><p class=\"warn\">The profile table and the timeline need JavaScript; "
	      "the flame graph works without it.</p></noscript>\n",
	      out);
	fprintf(out,
		"<section id=\"profile\"><h2>Profile</h2>\n<p class=\"note\">%zu functions; "
		"times are %s; click a column to sort.</p>\n"
		"<div class=\"scroll\"><table id=\"ctrace-profile\"><thead><tr></tr></thead>"
		"<tbody></tbody></table></div></section>\n",
		nrows, o->raw_times ? "raw" : "compensated for tracer overhead");
	fputs("<section id=\"flamegraph\"><h2>Flame graph</h2>\n", out);
	ctr_fmt_ns(dur, sizeof(dur), ft.len ? ft.n[0].total : 0);
	snprintf(title, sizeof(title), "all threads, %s", dur);
	ret = ctr_ft_svg(out, run, &ft, o->width ? o->width : 1200, 1, title, e);
	if (ret)
		goto out;
	fputs("</section>\n<section id=\"timeline\"><h2>Timeline</h2>\n<p class=\"note\" "
	      "id=\"ctrace-timeline-note\">",
	      out);
	fprintf(out, "%" PRIu64 " calls shown", w.st.calls);
	if (w.st.short_calls || w.st.outside || w.st.over_limit)
		fprintf(out,
			"; left out: %" PRIu64 " shorter than the minimum duration, %" PRIu64
			" outside the time window, %" PRIu64 " past the limit of %" PRIu64
			" calls (ctrace show --format html --min-duration/--from/--to/"
			"--max-events)",
			w.st.short_calls, w.st.outside, w.st.over_limit, w.limit);
	if (w.st.unfinished)
		fprintf(out, "; %" PRIu64 " calls were still open at the end of their thread",
			w.st.unfinished);
	fputs(".</p>\n<div id=\"ctrace-timeline\"></div></section>\n", out);

	html_data(out, run, o, &w, &c, rows, nrows);
	fputs("]}</script>\n<script>\n", out);
	fputs(ctr_asset_report_js, out);
	fputs("</script>\n</body>\n</html>\n", out);
	if (st)
		*st = w.st;
	if (ferror(out))
		ret =
		    ctr_err_set(e, CTR_EIO, errno, "cannot write the export: %s", strerror(errno));
out:
	for (size_t i = 0; i < run->n_threads; i++)
		free(c.threads[i].calls);
	free(c.threads);
	free(rows);
	ctr_ft_release(&ft);
	return ret;
}
