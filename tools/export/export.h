/* SPDX-License-Identifier: MIT */
/*
 * Exports of a committed run for other tools (docs/exports.md): Chrome Trace Event JSON
 * (Perfetto, chrome://tracing), folded stacks (flamegraph.pl, speedscope), an SVG flame graph,
 * one self-contained HTML page, OpenTelemetry OTLP/JSON, the whole run as JSON and Perfetto's
 * native protobuf trace. folded and
 * svg work from the calling-context tree; chrome, html and otlp read the stored timeline (the
 * run must be loaded with CTR_LOAD_TIMELINE, see ctr_export_load_flags()) and are bounded by
 * a duration threshold, a time window and an event limit, reporting what they left out.
 */
#ifndef CTR_EXPORT_H
#define CTR_EXPORT_H

#include <stdint.h>
#include <stdio.h>

#include "../../common/err.h"
#include "../../store/store.h"
#include "../../store/timeline.h"

enum ctr_export_format {
	CTR_EXPORT_CHROME = 0,
	CTR_EXPORT_FOLDED,
	CTR_EXPORT_SVG,
	CTR_EXPORT_HTML,
	CTR_EXPORT_OTLP,
	CTR_EXPORT_JSON,
	CTR_EXPORT_PERFETTO,
};

/* Format defaults (used when the option is left at -1). */
#define CTR_EXPORT_CHROME_MAX_EVENTS 1000000
#define CTR_EXPORT_OTLP_MAX_EVENTS 100000
#define CTR_EXPORT_OTLP_MIN_DURATION 1000000 /* 1 ms */

struct ctr_export_opts {
	int raw_times;		 /* folded/svg/html profile: raw_* node fields */
	int64_t min_duration_ns; /* timeline exports: drop calls shorter; -1 = format default */
	uint64_t from_ns, to_ns; /* window, ns since run start; to_ns 0 = end of run */
	int64_t max_events;	 /* timeline exports: at most this many calls; -1 = format
				  * default, 0 = unlimited */
	int thread_prefix;	 /* folded/svg: a "thread" frame at the bottom of each stack */
	int chunks;		 /* json: include the timeline chunks (base64) */
	int width;		 /* svg: image width in pixels, 0 = 1200 */
	/* where the run came from (borrowed; may be NULL): perfetto reads its timeline one chunk
	 * at a time from it (ctr_store_can_stream; the run then needs no CTR_LOAD_TIMELINE), html
	 * takes the run's stored timeline index from it */
	struct ctr_store *store;
	/* chrome, html, otlp, perfetto without @store, over a run loaded with
	 * CTR_LOAD_CHUNK_INDEX: chunks are read one at a time through @fetch (store/timeline.h,
	 * ctr_tl_iter_set_fetch()), so memory does not grow with the run */
	ctr_tl_fetch fetch;
	void *fetch_arg;
};

/* What a timeline export left out. */
struct ctr_export_stats {
	uint64_t calls;	      /* calls written */
	uint64_t marks;	      /* marks written */
	uint64_t short_calls; /* dropped: shorter than min_duration */
	uint64_t outside;     /* dropped: outside the window */
	uint64_t over_limit;  /* dropped: past max_events */
	uint64_t unfinished;  /* calls still open at the end of a thread (closed there) */
	uint64_t fit_min_ns;  /* chrome without --min-duration/--max-events: the shortest call
			       * kept, chosen so the whole run fits the event budget; 0 if none */
};

/* Sets every field to its default (-1 where that means "format default"). */
void ctr_export_opts_init(struct ctr_export_opts *o);
/* "chrome", "folded", "svg", "html", "otlp", "json", "perfetto" -> enum; -1 if unknown. */
int ctr_export_parse_format(const char *name);
/* CTR_LOAD_* flags the run needs for @fmt (CTR_LOAD_TIMELINE for chrome, html, otlp, perfetto
 * without o->store; json with o->chunks). */
unsigned ctr_export_load_flags(int fmt, const struct ctr_export_opts *o);

/* Writes @run in format @fmt to @out. @st (may be NULL) receives what was left out. Returns 0
 * or a negative CTR_E* code (CTR_EIO on write errors, CTR_EFORMAT on a corrupt timeline,
 * CTR_ENOMEM). */
int ctr_export(FILE *out, const struct ctr_run *run, int fmt, const struct ctr_export_opts *o,
	       struct ctr_export_stats *st, struct ctr_err *e);

int ctr_export_chrome(FILE *out, const struct ctr_run *run, const struct ctr_export_opts *o,
		      struct ctr_export_stats *st, struct ctr_err *e);
int ctr_export_folded(FILE *out, const struct ctr_run *run, const struct ctr_export_opts *o,
		      struct ctr_err *e);
int ctr_export_svg(FILE *out, const struct ctr_run *run, const struct ctr_export_opts *o,
		   struct ctr_err *e);
int ctr_export_html(FILE *out, const struct ctr_run *run, const struct ctr_export_opts *o,
		    struct ctr_export_stats *st, struct ctr_err *e);
int ctr_export_otlp(FILE *out, const struct ctr_run *run, const struct ctr_export_opts *o,
		    struct ctr_export_stats *st, struct ctr_err *e);
int ctr_export_json(FILE *out, const struct ctr_run *run, const struct ctr_export_opts *o,
		    struct ctr_err *e);
/* Perfetto's protobuf trace of the whole run (docs/exports.md), streamed thread by thread with
 * memory for one timeline chunk and the function table; o->store reads the timeline from the
 * store (else the run must have it loaded). The window, duration and event limits do not
 * apply: CTR_EUSAGE when set. @st gets calls, marks and unfinished. */
int ctr_export_perfetto(FILE *out, const struct ctr_run *run, const struct ctr_export_opts *o,
			struct ctr_export_stats *st, struct ctr_err *e);

/* Escapers, exposed for tests. Write @s to @out escaped for XML/HTML text and attributes
 * (&, <, >, ", '), and as a JSON string body (no quotes) that is also safe inside an HTML
 * <script> element (<, >, & and U+2028/9 as \u escapes). */
void ctr_export_xml_escape(FILE *out, const char *s);
void ctr_export_json_escape(FILE *out, const char *s);

#endif
