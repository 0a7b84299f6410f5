/* SPDX-License-Identifier: MIT */
/*
 * The whole run as one JSON document (`ctrace show --format json`): the run's JSON form of
 * store/runjson.h, node objects, chunks on request.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/hash.h"
#include "../../store/runjson.h"
#include "../../store/timeline.h"
#include "../view/report.h"
#include "export-int.h"

int ctr_export_json(FILE *out, const struct ctr_run *run, const struct ctr_export_opts *o,
		    struct ctr_err *e)
{
	json_t *j = ctr_runjson_run(run, NULL, 0, o && o->chunks ? CTR_RUNJSON_CHUNKS : 0);
	int ret = 0;

	if (!j)
		return ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory writing JSON");
	if (json_dumpf(j, out, JSON_INDENT(1) | JSON_PRESERVE_ORDER) || fputc('\n', out) == EOF)
		ret =
		    ctr_err_set(e, CTR_EIO, errno, "cannot write the export: %s", strerror(errno));
	json_decref(j);
	return ret ? ret : ctr_export_status(out, e);
}
