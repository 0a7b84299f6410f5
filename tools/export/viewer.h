/* SPDX-License-Identifier: MIT */
/*
 * The viewer page: one HTML document with the embedded stylesheet and script of
 * export/assets/viewer.{css,js}, the frontend of both `ctrace serve` (which serves it at / and
 * lets the script fetch /api/...) and the static export `ctrace show RUN --format html` (which
 * inlines the run's data, so the script answers the same API calls from it, offline).
 */
#ifndef CTR_VIEWER_H
#define CTR_VIEWER_H

#include <stdio.h>

#include "../../common/err.h"
#include "../../store/store.h"
#include "export.h"

/* The Content-Security-Policy the page works under: nothing but its own inline script and
 * style, and requests back to where it came from. The static page carries it as a meta tag. */
#define CTR_VIEWER_CSP                                                                             \
	"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "              \
	"img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'"

/* Writes the page titled @title (escaped). @data NULL: the server page; else the JSON text of
 * the static page's data (docs/serve.md, "Static export"), written with "<", ">", "&", U+2028/9 as
 * \u escapes so that nothing in it can end the <script> element. 0 or CTR_EIO. */
int ctr_viewer_page(FILE *out, const char *title, const char *data, struct ctr_err *e);

/* Writes the static page of @run (loaded with CTR_LOAD_TIMELINE): its report JSON, the
 * timeline index queried for the whole run at CTR_VIEWER_STATIC_PX pixels per thread, inlined
 * into ctr_viewer_page(). 0 or a negative CTR_E* code. */
#define CTR_VIEWER_STATIC_PX 8000
int ctr_viewer_static(FILE *out, const struct ctr_run *run, const struct ctr_export_opts *o,
		      struct ctr_export_stats *st, struct ctr_err *e);

#endif
