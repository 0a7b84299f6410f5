/* SPDX-License-Identifier: MIT */
/*
 * The visual exports: an SVG flame graph drawn from the merged calling-context tree, and one
 * self-contained HTML page (run header, sortable profile table, the same flame graph inline,
 * a per-thread timeline from the stored timeline). Nothing is loaded from the network; every
 * string from the run is XML-escaped in markup and embedded as script-safe JSON for the page's
 * small script, which only ever assigns textContent.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/fmt.h"
#include "../view/report.h"
#include "export-int.h"
#include "export.h"

#define FT_FRAME_H 16
#define FT_PAD 10
#define FT_TOP 34
#define FT_CHAR_W 7.0 /* average glyph width of the 12 px label font */
#define FT_MIN_W 0.1  /* frames narrower than this are not drawn */

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; s && *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static void frame_colour(const struct ctr_run *run, const struct ft_node *n, const char *name,
			 char *buf, size_t len)
{
	uint32_t h = name_hash(name);

	if (n->fid == CTR_NONE || (n->fid & FT_THREAD))
		snprintf(buf, len, "rgb(%u,%u,%u)", 190 + h % 20, 190 + h % 20, 200 + h % 20);
	else if (n->fid < run->n_functions && run->functions[n->fid].kind == CTR_FN_SPAN)
		snprintf(buf, len, "rgb(%u,%u,%u)", 80 + h % 60, 150 + (h >> 8) % 60,
			 200 + (h >> 16) % 55);
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

/* ---- HTML ---- */

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

static void jstr(FILE *out, const char *s)
{
	fputc('"', out);
	ctr_export_json_escape(out, s);
	fputc('"', out);
}

static const char html_css[] =
    "body{font:14px/1.4 system-ui,Segoe UI,Helvetica,Arial,sans-serif;margin:16px;color:#222}"
    "h1{font-size:20px;margin:0 0 6px}h2{font-size:16px;margin:24px 0 8px}"
    "code{background:#f0f0f0;padding:0 3px}.meta{color:#555;margin:2px 0}"
    ".warn{background:#fff3cd;border:1px solid #e0c060;padding:4px 8px;margin:6px 0}"
    ".crash{background:#f8d7da;border:1px solid #d08088;padding:4px 8px;margin:6px 0}"
    ".note{color:#666;font-size:13px}"
    "table{border-collapse:collapse;font-size:13px}"
    "th,td{padding:2px 8px;text-align:right;white-space:nowrap}"
    "th{cursor:pointer;background:#eee;position:sticky;top:0;user-select:none}"
    "th.sorted{background:#dde}td.name,th.name{text-align:left;white-space:normal}.attrs{font-size:"
    "smaller;color:#555}"
    "tbody tr:nth-child(odd){background:#fafafa}tbody tr:hover{background:#eef}"
    ".scroll{max-height:480px;overflow:auto;border:1px solid #ddd;display:inline-block}"
    "svg.flame{width:100%;height:auto}"
    ".lane{margin:6px 0}.lane svg{width:100%;background:#fbfbfb;border:1px solid #eee}";

/* The page script: builds the profile table and the timeline from #ctrace-data. */
static const char html_js[] =
    "(function(){'use strict';\n"
    "var D=JSON.parse(document.getElementById('ctrace-data').textContent);\n"
    "function fmt(ns){var u=[[1e9,' s'],[1e6,' ms'],[1e3,' us']];"
    "for(var i=0;i<u.length;i++){if(ns>=u[i][0]){var v=ns/u[i][0];"
    "return (v>=100?v.toFixed(0):v>=10?v.toFixed(1):v.toFixed(2))+u[i][1];}}return "
    "Math.round(ns)+' ns';}\n"
    "function fname(id){var f=D.functions[id];if(!f)return '?';"
    "return (f[1]==='span'?'[span] ':f[1]==='mark'?'[mark] ':'')+f[0];}\n"
    "var cols=[['calls',1,'calls'],['total',2,'t'],['self',3,'t'],['avg',-1,'t'],"
    "['min',4,'t'],['max',5,'t'],['total%',2,'p'],['self%',3,'p'],['function',-2,'n']];\n"
    "var base=D.duration_ns||1,key=2,desc=true;\n"
    "function val(r,c){return c[1]===-1?(r[1]?r[2]/r[1]:0):c[1]===-2?fname(r[0]):r[c[1]];}\n"
    "var table=document.getElementById('ctrace-profile'),tbody=table.tBodies[0];\n"
    "var hr=table.tHead.rows[0];\n"
    "cols.forEach(function(c,i){var th=document.createElement('th');th.textContent=c[0];"
    "if(c[2]==='n')th.className='name';th.setAttribute('data-col',String(i));"
    "th.addEventListener('click',function(){if(key===i)desc=!desc;else{key=i;desc=c[2]!=='n';}"
    "render();});hr.appendChild(th);});\n"
    "function render(){var c=cols[key];var rows=D.profile.slice();"
    "rows.sort(function(a,b){var x=val(a,c),y=val(b,c);var r=x<y?-1:x>y?1:0;"
    "return desc?-r:r;});\n"
    "for(var i=0;i<hr.cells.length;i++)hr.cells[i].classList.toggle('sorted',i===key);\n"
    "tbody.textContent='';rows.forEach(function(r){var tr=document.createElement('tr');"
    "cols.forEach(function(c){var td=document.createElement('td');var v=val(r,c);"
    "td.textContent=c[2]==='t'?fmt(v):c[2]==='p'?(100*v/base).toFixed(1)+'%':String(v);"
    "if(c[2]==='n'){td.className='name';var f=D.functions[r[0]];"
    "if(f&&f[2])td.title=f[2]+(f[3]?':'+f[3]:'');"
    "if(f&&f[4]){var a=document.createElement('div');a.className='attrs';"
    "a.textContent='{'+f[4]+'}';td.appendChild(a);}}"
    "tr.appendChild(td);});tbody.appendChild(tr);});}\n"
    "render();\n"
    "var NS='http://www.w3.org/2000/svg',tl=document.getElementById('ctrace-timeline');\n"
    "var t0=D.window[0],t1=D.window[1]>t0?D.window[1]:t0+1,W=1200,RH=12,drawn=0;\n"
    "D.threads.forEach(function(t){var div=document.createElement('div');div.className='lane';"
    "var h=document.createElement('div');h.textContent='thread '+t.name+' (tid '+t.tid+'), '"
    "+t.calls.length+' calls shown';div.appendChild(h);\n"
    "var md=0;t.calls.forEach(function(c){if(c[2]>md)md=c[2];});md=Math.min(md,63);\n"
    "var svg=document.createElementNS(NS,'svg');var H=(md+1)*RH+2;"
    "svg.setAttribute('viewBox','0 0 '+W+' '+H);svg.setAttribute('height',String(H));"
    "svg.setAttribute('preserveAspectRatio','none');\n"
    "t.calls.forEach(function(c){if(c[2]>63)return;var x=(c[0]-t0)/(t1-t0)*W,"
    "w=Math.max(c[1]/(t1-t0)*W,0.3);var r=document.createElementNS(NS,'rect');"
    "r.setAttribute('x',x.toFixed(2));r.setAttribute('y',String(c[2]*RH+1));"
    "r.setAttribute('width',w.toFixed(2));r.setAttribute('height',String(RH-1));"
    "var hh=(c[3]*2654435761>>>0)%360;r.setAttribute('fill','hsl('+hh+',60%,65%)');"
    "var ti=document.createElementNS(NS,'title');ti.textContent=fname(c[3])+' '+fmt(c[1])"
    "+' at '+fmt(c[0]);r.appendChild(ti);svg.appendChild(r);drawn++;});\n"
    "div.appendChild(svg);tl.appendChild(div);});\n"
    "var fl=document.getElementById('ctrace-flame');\n"
    "if(fl)fl.setAttribute('data-frames',String(fl.querySelectorAll('g.f').length));\n"
    "tl.setAttribute('data-calls',String(drawn));\n"
    "table.setAttribute('data-rows',String(tbody.rows.length));\n"
    "document.body.setAttribute('data-ctrace-ready','1');\n"
    "})();\n";

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
	fprintf(out, "</title>\n<style>%s</style>\n</head>\n<body>\n", html_css);
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

	/* Data for the script; every string is escaped so that no "<" ends the element. */
	fputs("<script type=\"application/json\" id=\"ctrace-data\">{\"run_id\":", out);
	jstr(out, run->id);
	fprintf(out, ",\"duration_ns\":%" PRIu64 ",\"window\":[%" PRIu64 ",%" PRIu64 "],",
		ctr_report_base_ns(run, o->raw_times), w.from,
		w.to != UINT64_MAX ? w.to : run->duration_ns);
	fputs("\"functions\":[", out);
	for (size_t i = 0; i < run->n_functions; i++) {
		const struct ctr_function *f = &run->functions[i];
		char abuf[512];

		fputs(i ? ",\n[" : "\n[", out);
		jstr(out, f->name);
		fprintf(out, ",\"%s\",",
			f->kind == CTR_FN_SPAN	 ? "span"
			: f->kind == CTR_FN_MARK ? "mark"
						 : "function");
		jstr(out, f->file);
		fprintf(out, ",%u,", f->line);
		jstr(out, f->kind == CTR_FN_SPAN
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
		const struct html_thread *h = &c.threads[i];

		fputs(i ? ",\n{\"name\":" : "\n{\"name\":", out);
		jstr(out, t->name);
		fprintf(out, ",\"pid\":%d,\"tid\":%d,\"calls\":[", t->pid, t->tid);
		for (size_t k = 0; k < h->n; k++)
			fprintf(out, "%s[%" PRIu64 ",%" PRIu64 ",%u,%u]", k ? "," : "",
				h->calls[k].start, h->calls[k].dur, h->calls[k].depth,
				h->calls[k].fid);
		fputs("]}", out);
	}
	fputs("]}</script>\n<script>\n", out);
	fputs(html_js, out);
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
