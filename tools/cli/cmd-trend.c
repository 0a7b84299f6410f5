/* SPDX-License-Identifier: MIT */
/*
 * `ctrace trend FUNC`: how one function's time or call count evolved across the runs that
 * match the query filters, oldest first, with the change from the previous run and a marker
 * where the value leaves the run-to-run noise of the series (docs/trend.md states the rule).
 * The series and the rule live in view/trend.c; the store computes the metric (one row per
 * run). This file parses the options and prints.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../view/trend.h"
#include "cli.h"
#include "cmds.h"

static const char trend_help[] =
    "usage: ctrace trend FUNC [--store CONN] [--metric self|total|calls|p99] [--json] [FILTERS]\n\n"
    "One row per run that has FUNC and matches FILTERS, oldest first: run, start, host,\n"
    "branch@commit metadata, FUNC's self time (default), total time, calls or 99th percentile\n"
    "call duration (p99), the change from\n"
    "the previous run, and '<< jump' where the value leaves the noise of the runs since the\n"
    "last jump: it differs from their median by more than max(25%, 3 x 1.4826 x MAD / median)\n"
    "(50% while fewer than 3 runs are known). See docs/trend.md.\n";

static int print_json(const struct ctr_trend *t)
{
	json_t *o = ctr_trend_json(t);
	char *txt = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;

	if (txt)
		puts(txt);
	free(txt);
	json_decref(o);
	return txt ? 0 : -1;
}

int ctr_cmd_trend(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"store", required_argument, NULL, 's'},
	    {"metric", required_argument, NULL, 'm'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    CTR_CLI_FILTER_LONGOPTS,
	    {NULL, 0, NULL, 0},
	};
	struct ctr_kv *meta = calloc((size_t)argc + 1, sizeof(*meta));
	struct ctr_filter f;
	const char *conn = NULL;
	struct ctr_store *s = NULL;
	struct ctr_trend *t = NULL;
	struct ctr_err e;
	enum ctr_metric m = CTR_METRIC_SELF;
	int c, json = 0, ret = 0, r;

	memset(&f, 0, sizeof(f));
	ctr_err_clear(&e);
	optind = 1;
	while (meta && (c = getopt_long(argc, argv, "s:m:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			conn = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'm':
			if (ctr_metric_parse(optarg, &m) < 0) {
				ret = ctr_cli_usage(
				    "ctrace trend",
				    "--metric wants self, total, calls or p99, not '%s'", optarg);
				goto out;
			}
			break;
		case 'h':
			printf("%s\nFILTERS (as ctrace query):\n%s", trend_help,
			       ctr_cli_filter_help);
			goto out;
		default:
			if (c == 'F') {
				ret = ctr_cli_usage("ctrace trend",
						    "the function is the argument, not --function");
				goto out;
			}
			if ((r = ctr_cli_filter_opt(c, optarg, &f, meta, &e)) < 0) {
				ret = ctr_cli_usage("ctrace trend", "%s", e.msg);
				goto out;
			}
			if (!r) {
				ret = ctr_cli_usage("ctrace trend", "bad option or value%s%s",
						    optarg ? ": " : "", optarg ? optarg : "");
				goto out;
			}
		}
	}
	if (!meta) {
		ctr_err_set(&e, CTR_ENOMEM, 0, "out of memory");
		ret = ctr_cli_fail("ctrace trend", &e);
		goto out;
	}
	if (optind != argc - 1) {
		ret = ctr_cli_usage("ctrace trend", "give exactly one function name");
		goto out;
	}
	if (ctr_cli_open_store_read(conn, NULL, &s, &e) ||
	    ctr_trend_compute(s, &f, argv[optind], m, &t, &e) < 0) {
		ret = ctr_cli_fail("ctrace trend", &e);
		goto out;
	}
	if (json) {
		if (print_json(t) < 0) {
			ctr_err_set(&e, CTR_ENOMEM, 0, "out of memory writing JSON");
			ret = ctr_cli_fail("ctrace trend", &e);
		}
	} else if (!t->n) {
		fprintf(stderr,
			"ctrace: no runs with function '%s' match the filters (functions are "
			"named as ctrace-report shows them; a glob such as '%s*' matches more)\n",
			argv[optind], argv[optind]);
	} else {
		ctr_trend_print(stdout, t);
	}
out:
	ctr_trend_free(t);
	ctr_store_close(s);
	for (size_t i = 0; meta && i < f.n_meta; i++)
		free(meta[i].key);
	free(meta);
	return ret;
}
