/* SPDX-License-Identifier: MIT */
/*
 * `ctrace exclusions [RUN]`: the functions of a run that cost more to trace than they take
 * (many calls, a true average below the cost of tracing one), as the .ctrace-exclude list that
 * ctrace-cc hands to gcc for the next build (view/exclusions.h, docs/ctrace-cc.md).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../view/exclusions.h"
#include "cli.h"
#include "cmds.h"

static const char excl_help[] =
    "usage: ctrace exclusions [RUN] [--store CONN] [--max-avg D] [--min-calls N] [--out FILE]\n\n"
    "Lists the functions of RUN (default latest) whose calls are many (--min-calls, default\n"
    "1000) and whose average true duration is at most D (--max-avg, default the run's measured\n"
    "cost of tracing one call), as the .ctrace-exclude file that ctrace-cc reads:\n\n"
    "  ctrace exclusions > .ctrace-exclude && make clean && make CC=ctrace-cc CXX=ctrace-c++\n\n"
    "gcc then leaves those functions uninstrumented; the next run's report says how many\n"
    "functions were excluded and how many calls they made in RUN. See docs/ctrace-cc.md.\n";

int ctr_cmd_exclusions(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"store", required_argument, NULL, 's'},
	    {"max-avg", required_argument, NULL, 'a'},
	    {"min-calls", required_argument, NULL, 'n'},
	    {"out", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct ctr_exclusion_opts o = {.max_avg_ns = 0, .min_calls = 1000};
	struct ctr_exclusion *x = NULL;
	const char *conn = NULL, *spec = NULL, *path = NULL;
	struct ctr_store *s = NULL;
	struct ctr_run *run = NULL;
	struct ctr_err e;
	FILE *out = stdout;
	char *tmp = NULL;
	size_t n = 0;
	int c, ret = 0;

	ctr_err_clear(&e);
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			conn = optarg;
			break;
		case 'o':
			path = optarg;
			break;
		case 'a':
			if (ctr_parse_duration(optarg, &o.max_avg_ns) || !o.max_avg_ns)
				return ctr_cli_usage(
				    "ctrace exclusions",
				    "--max-avg wants a duration above 0 (50ns), not '%s'", optarg);
			break;
		case 'n':
			if (ctr_cli_parse_u64(optarg, &o.min_calls))
				return ctr_cli_usage("ctrace exclusions",
						     "--min-calls wants a count, not '%s'", optarg);
			break;
		case 'h':
			fputs(excl_help, stdout);
			return CTR_EXIT_OK;
		default:
			return ctr_cli_usage("ctrace exclusions", "bad option (see --help)");
		}
	}
	if (optind < argc)
		spec = argv[optind++];
	if (optind < argc)
		return ctr_cli_usage("ctrace exclusions", "give at most one run");
	if ((ret = ctr_cli_open_store_read(conn, spec, &s, &e)) ||
	    (ret = ctr_cli_load_run(s, spec, 0, &run, &e)) ||
	    (ret = ctr_exclusions_compute(run, &o, &x, &n, &e)))
		goto out;
	if (path && !(out = ctr_cli_out_open(path, &tmp, &e))) {
		ret = e.code;
		out = stdout;
		goto out;
	}
	ret = ctr_exclusions_write(out, run, &o, x, n, &e);
	if (!ret && fflush(out))
		ret = ctr_err_set(&e, CTR_EIO, errno, "cannot write the exclusions: %s",
				  strerror(errno));
out:
	if (out != stdout) {
		int r2 = ctr_cli_out_close(out, path, tmp, !ret, ret ? NULL : &e);

		ret = ret ? ret : r2;
	}
	ctr_exclusions_free(x, n);
	ctr_run_free(run);
	ctr_store_close(s);
	return ret ? ctr_cli_fail("ctrace exclusions", &e) : CTR_EXIT_OK;
}
