/* SPDX-License-Identifier: MIT */
/*
 * The export front door of export.h: format names, what each format loads from the store, and
 * the dispatch to one file per format (chrome.c, otlp.c, folded.c, svg.c, html.c, json.c,
 * perfetto.c). It
 * sits on top of the folder: the escaping and small writers the format files share are in
 * export-util.c, so no format file calls back into this one.
 */
#include <string.h>

#include "export-int.h"

void ctr_export_opts_init(struct ctr_export_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->min_duration_ns = -1;
	o->max_events = -1;
}

static const char *const format_names[] = {"chrome", "folded", "svg",	  "html",
					   "otlp",   "json",   "perfetto"};

int ctr_export_parse_format(const char *name)
{
	for (int i = 0; i < (int)(sizeof(format_names) / sizeof(format_names[0])); i++)
		if (name && !strcmp(name, format_names[i]))
			return i;
	return -1;
}

unsigned ctr_export_load_flags(int fmt, const struct ctr_export_opts *o)
{
	if (fmt == CTR_EXPORT_CHROME || fmt == CTR_EXPORT_HTML || fmt == CTR_EXPORT_OTLP)
		return CTR_LOAD_TIMELINE;
	if (fmt == CTR_EXPORT_JSON && o && o->chunks)
		return CTR_LOAD_TIMELINE;
	if (fmt == CTR_EXPORT_PERFETTO && !(o && o->store))
		return CTR_LOAD_TIMELINE;
	return 0;
}

int ctr_export(FILE *out, const struct ctr_run *run, int fmt, const struct ctr_export_opts *o,
	       struct ctr_export_stats *st, struct ctr_err *e)
{
	struct ctr_export_opts def;

	if (!o) {
		ctr_export_opts_init(&def);
		o = &def;
	}
	if (st)
		memset(st, 0, sizeof(*st));
	switch (fmt) {
	case CTR_EXPORT_CHROME:
		return ctr_export_chrome(out, run, o, st, e);
	case CTR_EXPORT_FOLDED:
		return ctr_export_folded(out, run, o, e);
	case CTR_EXPORT_SVG:
		return ctr_export_svg(out, run, o, e);
	case CTR_EXPORT_HTML:
		return ctr_export_html(out, run, o, st, e);
	case CTR_EXPORT_OTLP:
		return ctr_export_otlp(out, run, o, st, e);
	case CTR_EXPORT_JSON:
		return ctr_export_json(out, run, o, e);
	case CTR_EXPORT_PERFETTO:
		return ctr_export_perfetto(out, run, o, st, e);
	}
	return ctr_err_set(e, CTR_EUSAGE, 0, "unknown export format %d", fmt);
}
