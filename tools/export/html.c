/* SPDX-License-Identifier: MIT */
/*
 * One self-contained HTML page: the viewer of `ctrace serve` (viewer.h) with the run's data
 * inlined, its timeline reduced for the whole run (or the --from/--to window) at a fixed detail
 * by the timeline index, so the page shows every thread from start to end and zooms down to
 * that detail offline. Nothing is loaded from the network.
 */
#include "export-int.h"
#include "viewer.h"

int ctr_export_html(FILE *out, const struct ctr_run *run, const struct ctr_export_opts *o,
		    struct ctr_export_stats *st, struct ctr_err *e)
{
	return ctr_viewer_static(out, run, o, st, e);
}
