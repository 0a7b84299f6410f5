/* SPDX-License-Identifier: MIT */
/*
 * The viewer page (viewer.h): a small HTML shell around the embedded assets, and the static
 * export's data: the run's `ctrace-report --json` form with threads and trees, and one
 * whole-run timeline query per thread from the timeline index.
 */
#include "viewer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../view/report.h"
#include "export-int.h"
#include "tlindex.h"

int ctr_viewer_page(FILE *out, const char *title, const char *data, struct ctr_err *e)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"generator\" content=\"ctrace\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width\">\n",
	      out);
	if (data)
		fputs("<meta http-equiv=\"Content-Security-Policy\" content=\"" CTR_VIEWER_CSP
		      "\">\n",
		      out);
	fputs("<title>", out);
	ctr_export_xml_escape(out, title);
	fprintf(out, "</title>\n<style>%s</style>\n</head>\n<body>\n", ctr_asset_viewer_css);
	fputs("<header id=\"top\"><a href=\"#/\" id=\"home\">ctrace</a> <span id=\"crumbs\"></span>"
	      "</header>\n<main id=\"app\"><p class=\"note\">loading&hellip;</p></main>\n"
	      "<noscript><p class=\"warn\">This page needs JavaScript.</p></noscript>\n",
	      out);
	if (data) {
		fputs("<script type=\"application/json\" id=\"ctrace-data\">", out);
		/* "<", ">" and "&" occur in JSON only inside strings, where \u escapes mean the
		 * same: nothing in the data can end or disturb the element (nor U+2028/9 a script).
		 */
		for (const char *p = data; *p; p++) {
			if (*p == '<' || *p == '>' || *p == '&')
				fprintf(out, "\\u%04x", (unsigned)*p);
			else if ((unsigned char)p[0] == 0xe2 && (unsigned char)p[1] == 0x80 &&
				 ((unsigned char)p[2] == 0xa8 || (unsigned char)p[2] == 0xa9)) {
				fprintf(out, "\\u%04x",
					(unsigned char)p[2] == 0xa8 ? 0x2028 : 0x2029);
				p += 2;
			} else {
				fputc(*p, out);
			}
		}
		fputs("</script>\n", out);
	}
	fprintf(out, "<script>\n%s</script>\n</body>\n</html>\n", ctr_asset_viewer_js);
	if (ferror(out))
		return ctr_err_set(e, CTR_EIO, errno, "cannot write the page: %s", strerror(errno));
	return 0;
}

/* The static page's data: {"static":1,"run":REPORT,"timelines":[TIMELINE...],"px":N}. */
static int static_data(FILE *mem, const struct ctr_run *run, const struct ctr_tlindex *x,
		       const struct ctr_export_opts *o, struct ctr_export_stats *st,
		       struct ctr_err *e)
{
	struct ctr_report_opts ro;
	int ret = 0;

	memset(&ro, 0, sizeof(ro));
	ro.tree = 1;
	ro.threads = 1;
	ro.compact = 1;
	ro.raw_times = o->raw_times;
	/* the page draws the whole run at this width: what is narrower is merged (as ctrace
	 * serve's answers, docs/serve.md "Pruned answers"), so the data stays bounded */
	ro.prune_px = CTR_VIEWER_STATIC_PX;
	ro.compact = 1;
	fprintf(mem, "{\"static\":1,\"px\":%d,\"run\":", CTR_VIEWER_STATIC_PX);
	ret = ctr_report_json(mem, run, &ro, e);
	fputs(",\"timelines\":[", mem);
	for (size_t i = 0; !ret && i < run->n_threads; i++) {
		struct ctr_tli_result r;
		uint64_t to = o->to_ns ? o->to_ns : run->duration_ns;

		if (to <= o->from_ns)
			to = o->from_ns + 1;
		if (run->threads[i].end_ns > to && !o->to_ns)
			to = run->threads[i].end_ns;
		ret =
		    ctr_tlindex_query(x, (uint32_t)i, o->from_ns, to, CTR_VIEWER_STATIC_PX, &r, e);
		if (!ret) {
			if (i)
				fputc(',', mem);
			ret = ctr_tli_result_json(mem, run, &r, e);
			if (st) {
				st->calls += r.n_calls;
				for (size_t k = 0; k < r.n_busy; k++)
					st->short_calls += r.busy[k].count;
				st->marks += r.n_marks;
			}
		}
		ctr_tli_result_release(&r);
	}
	fputs("]}", mem);
	return ret;
}

/* The run's index: the one stored at commit when the store has it, else built (through the
 * options' fetch when the run was loaded with its chunk headers only). */
static int static_index(struct ctr_tlindex **x, const struct ctr_run *run,
			const struct ctr_export_opts *o, struct ctr_err *e)
{
	unsigned char *data = NULL;
	size_t size = 0;

	if (o->store && !ctr_store_load_aux(o->store, run->id, "tlindex", &data, &size, NULL) &&
	    !ctr_tlindex_load(x, run, o->fetch, o->fetch_arg, data, size, NULL)) {
		free(data);
		return 0;
	}
	free(data);
	return ctr_tlindex_build_fetch(x, run, o->fetch, o->fetch_arg, e);
}

int ctr_viewer_static(FILE *out, const struct ctr_run *run, const struct ctr_export_opts *o,
		      struct ctr_export_stats *st, struct ctr_err *e)
{
	struct ctr_tlindex *x = NULL;
	char *buf = NULL, title[512];
	size_t len = 0;
	FILE *mem = NULL;
	int ret;

	if (st)
		memset(st, 0, sizeof(*st));
	ret = static_index(&x, run, o, e);
	if (!ret && !(mem = open_memstream(&buf, &len)))
		ret = ctr_err_set(e, CTR_ENOMEM, errno, "out of memory writing the export");
	if (!ret)
		ret = static_data(mem, run, x, o, st, e);
	if (mem && fclose(mem) && !ret)
		ret = ctr_err_set(e, CTR_ENOMEM, errno, "out of memory writing the export");
	mem = NULL;
	snprintf(title, sizeof(title), "ctrace %s - %s", run->id, run->command ? run->command : "");
	if (!ret)
		ret = ctr_viewer_page(out, title, buf, e);
	free(buf);
	ctr_tlindex_free(x);
	return ret;
}
