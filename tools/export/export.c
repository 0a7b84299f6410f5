/* SPDX-License-Identifier: MIT */
/*
 * The export front door of export.h: format names, what each format loads from the store, the
 * dispatch to one file per format (chrome.c, otlp.c, folded.c, svg.c, html.c, json.c), and the
 * escaping and small writers those files share (export-int.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/hash.h"
#include "../../store/timeline.h"
#include "../view/report.h"
#include "export-int.h"

void ctr_export_opts_init(struct ctr_export_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->min_duration_ns = -1;
	o->max_events = -1;
}

static const char *const format_names[] = {"chrome", "folded", "svg", "html", "otlp", "json"};

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
	}
	return ctr_err_set(e, CTR_EUSAGE, 0, "unknown export format %d", fmt);
}

void ctr_export_xml_escape(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", out);
			break;
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		case '\'':
			fputs("&#39;", out);
			break;
		default:
			/* Control characters are not allowed in XML 1.0. */
			if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n')
				fputc('?', out);
			else
				fputc(*s, out);
		}
	}
}

static void json_escape_n(FILE *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			fputc('\\', out);
			fputc(c, out);
		} else if (c == '\n') {
			fputs("\\n", out);
		} else if (c == '\t') {
			fputs("\\t", out);
		} else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
			fprintf(out, "\\u%04x", c);
		} else if (c == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
			   ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9)) {
			fprintf(out, "\\u%04x", (unsigned char)s[i + 2] == 0xA8 ? 0x2028 : 0x2029);
			i += 2;
		} else if (c >= 0x80) {
			/* Pass valid UTF-8 sequences; replace stray bytes so the output parses. */
			size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
			size_t k;

			for (k = 1; len && k < len; k++)
				if (i + k >= n || ((unsigned char)s[i + k] & 0xC0) != 0x80)
					len = 0;
			if (!len || c > 0xF4) {
				fputs("\\ufffd", out);
			} else {
				fwrite(s + i, 1, len, out);
				i += len - 1;
			}
		} else {
			fputc(c, out);
		}
	}
}

void ctr_export_json_escape(FILE *out, const char *s)
{
	if (s)
		json_escape_n(out, s, strlen(s));
}

void ctr_export_jq(FILE *out, const char *s)
{
	fputc('"', out);
	ctr_export_json_escape(out, s);
	fputc('"', out);
}

int ctr_export_status(FILE *out, struct ctr_err *e)
{
	if (ferror(out))
		return ctr_err_set(e, CTR_EIO, errno, "cannot write the export: %s",
				   strerror(errno));
	return 0;
}

const char *ctr_export_fn_name(const struct ctr_run *run, uint32_t fid)
{
	if (fid >= run->n_functions || !run->functions[fid].name)
		return "?";
	return run->functions[fid].name;
}

void ctr_export_fmt_us(FILE *out, uint64_t ns)
{
	fprintf(out, "%" PRIu64 ".%03u", ns / 1000, (unsigned)(ns % 1000));
}
