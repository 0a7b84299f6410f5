/* SPDX-License-Identifier: MIT */
/*
 * The SVG flame graph drawn from the merged flame tree: one rectangle per stack, labels cut
 * to fit, titles with times; inline for the HTML page or standalone.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/hash.h"
#include "../../common/libcall.h"
#include "../../store/timeline.h"
#include "../view/report.h"
#include "export-int.h"

#define FT_FRAME_H 16
#define FT_PAD 10
#define FT_TOP 34
#define FT_CHAR_W 7.0 /* average glyph width of the 12 px label font */
#define FT_MIN_W 0.1  /* frames narrower than this are not drawn */

static void frame_colour(const struct ctr_run *run, const struct ft_node *n, const char *name,
			 char *buf, size_t len)
{
	uint32_t h = (uint32_t)ctr_hash_mix64(ctr_hash_str(name, CTR_HASH_SEED));

	if (n->fid == CTR_NONE || (n->fid & FT_THREAD))
		snprintf(buf, len, "rgb(%u,%u,%u)", 190 + h % 20, 190 + h % 20, 200 + h % 20);
	else if (n->fid < run->n_functions && run->functions[n->fid].kind == CTR_FN_SPAN)
		snprintf(buf, len, "rgb(%u,%u,%u)", 80 + h % 60, 150 + (h >> 8) % 60,
			 200 + (h >> 16) % 55);
	else if (ctr_name_is_libcall(name)) /* library calls: a blue-grey band of their own */
		snprintf(buf, len, "rgb(%u,%u,%u)", 140 + h % 30, 165 + (h >> 8) % 30,
			 190 + (h >> 16) % 30);
	else
		snprintf(buf, len, "rgb(%u,%u,%u)", 205 + h % 50, (h >> 8) % 230, (h >> 16) % 55);
}

/* Writes at most @max_chars characters of @s (UTF-8 aware), ".." when cut, XML-escaped. */
static void label(FILE *out, const char *s, size_t max_chars)
{
	size_t chars = 0, i = 0, cut = 0;
	char *tmp;

	for (; s[i]; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			chars++;
	if (chars <= max_chars) {
		ctr_export_xml_escape(out, s);
		return;
	}
	if (max_chars < 3)
		return;
	/* Keep max_chars - 2 characters, then "..". */
	for (i = 0, chars = 0; s[i]; i++) {
		if (((unsigned char)s[i] & 0xC0) != 0x80) {
			if (chars == max_chars - 2)
				break;
			chars++;
		}
	}
	cut = i;
	tmp = strndup(s, cut);
	if (!tmp)
		return;
	ctr_export_xml_escape(out, tmp);
	fputs("..", out);
	free(tmp);
}

int ctr_ft_svg(FILE *out, const struct ctr_run *run, const struct ft_tree *t, int width,
	       int inline_svg, const char *title, struct ctr_err *e)
{
	uint64_t total = t->len ? t->n[0].total : 0;
	double scale = total ? (double)(width - 2 * FT_PAD) / (double)total : 0;
	int height = FT_TOP + (int)(t->max_depth + 1) * FT_FRAME_H + FT_PAD;
	size_t frames = 0, hidden = 0;
	char name[512], dur[32], colour[32], abuf[512];

	if (!inline_svg)
		fputs("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n", out);
	fprintf(out,
		"<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
		"height=\"%d\" viewBox=\"0 0 %d %d\"%s>\n",
		width, height, width, height,
		inline_svg ? " id=\"ctrace-flame\" class=\"flame\" preserveAspectRatio=\"xMinYMin\""
			   : "");
	fputs("<style>.f text{font:12px Verdana,Arial,sans-serif;fill:#000;pointer-events:none}"
	      ".f rect{stroke:#fff;stroke-width:0.5}.f:hover rect{stroke:#000}"
	      ".t{font:16px Verdana,Arial,sans-serif}</style>\n",
	      out);
	fprintf(out, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#f8f8f4\"/>\n", width,
		height);
	fprintf(out, "<text class=\"t\" x=\"%d\" y=\"22\" text-anchor=\"middle\">", width / 2);
	ctr_export_xml_escape(out, title);
	fputs("</text>\n", out);
	if (!total)
		fprintf(out,
			"<text class=\"t\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">no calls "
			"recorded</text>\n",
			width / 2, FT_TOP + FT_FRAME_H);
	for (size_t i = 0; total && i < t->len; i++) {
		const struct ft_node *n = &t->n[i];
		double w = (double)n->total * scale, x = FT_PAD + (double)n->x * scale;
		int y = height - FT_PAD - (int)(n->depth + 1) * FT_FRAME_H;
		const char *nm = i == 0 ? "all" : ctr_ft_name(run, n, name, sizeof(name));

		if (w < FT_MIN_W) {
			hidden++;
			continue;
		}
		frames++;
		frame_colour(run, n, nm, colour, sizeof(colour));
		ctr_fmt_ns(dur, sizeof(dur), n->total);
		fputs("<g class=\"f\"><title>", out);
		ctr_export_xml_escape(out, nm);
		if (i && n->fid < run->n_functions && run->functions[n->fid].kind == CTR_FN_SPAN &&
		    *ctr_report_fn_attrs(run, n->fid, CTR_NONE, abuf, sizeof(abuf))) {
			fputs(" {", out);
			ctr_export_xml_escape(out, abuf);
			fputc('}', out);
		}
		ctr_fmt_ns(dur, sizeof(dur), n->total);
		fprintf(out, " (%s, %.2f%%", dur, 100.0 * (double)n->total / (double)total);
		if (n->self && i) {
			ctr_fmt_ns(dur, sizeof(dur), n->self);
			fprintf(out, ", self %s", dur);
		}
		fprintf(out,
			")</title><rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" "
			"fill=\"%s\" rx=\"2\"/>",
			x, y, w, FT_FRAME_H - 1, colour);
		if (w >= 3 * FT_CHAR_W) {
			fprintf(out, "<text x=\"%.2f\" y=\"%d\">", x + 3, y + FT_FRAME_H - 4);
			label(out, nm, (size_t)((w - 6) / FT_CHAR_W));
			fputs("</text>", out);
		}
		fputs("</g>\n", out);
	}
	fprintf(out, "<!-- ctrace: %zu frames drawn, %zu narrower than %.1f px left out -->\n",
		frames, hidden, FT_MIN_W);
	fputs("</svg>\n", out);
	if (ferror(out))
		return ctr_err_set(e, CTR_EIO, errno, "cannot write the export: %s",
				   strerror(errno));
	return 0;
}

int ctr_export_svg(FILE *out, const struct ctr_run *run, const struct ctr_export_opts *o,
		   struct ctr_err *e)
{
	struct ft_tree t;
	char title[512], dur[32];
	int ret = ctr_ft_build(&t, run, o->raw_times, o->thread_prefix, e);

	if (ret)
		return ret;
	ctr_fmt_ns(dur, sizeof(dur), run->duration_ns);
	snprintf(title, sizeof(title), "ctrace %s: %s (%s)", run->id,
		 run->command ? run->command : "", dur);
	ret = ctr_ft_svg(out, run, &t, o->width ? o->width : 1200, 0, title, e);
	ctr_ft_release(&t);
	return ret;
}
