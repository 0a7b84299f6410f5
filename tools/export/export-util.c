/* SPDX-License-Identifier: MIT */
/*
 * The escaping and small writers every export format shares (export-int.h): XML and JSON
 * escaping, a function's exported name, microseconds, the stream's final status. Below the
 * format files and the dispatch of export.c, calling neither.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "export-int.h"

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
