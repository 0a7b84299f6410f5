/* SPDX-License-Identifier: MIT */
/*
 * `ctrace replay RUN`: a stored run call by call (view/calls.h), from the store alone, after the
 * raw directory is gone (`ctrace dump` is for raw directories). Options select a thread, a time
 * window, the calls below a function, a depth and a minimum duration.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "../view/calls.h"
#include "../view/cxxname.h"
#include "cli.h"
#include "cmds.h"

static const char replay_usage[] =
    "usage: ctrace replay [RUN] [--tid T] [--from T] [--to T] [--function GLOB] [--depth N]\n"
    "       [--min-duration D] [--full-names] [--store CONN] [--out FILE]\n"
    "Prints the stored timeline of RUN (default latest) as an indented call trace, one\n"
    "thread after another in order of start: START(ns) DURATION TID | name() { ... } or\n"
    "name(); for a call whose children are not shown. Times are measured (not compensated).\n"
    "  --tid T            only thread T\n"
    "  --from T, --to T   only calls entered in [T, T) (ns since the run's start, or 1.5ms...)\n"
    "  --function GLOB    only calls of matching functions and what they call\n"
    "  --depth N          hide calls nested deeper than N levels (from the top or the match)\n"
    "  --min-duration D   hide calls shorter than D (e.g. 10us)\n"
    "  --full-names       full demangled C++ names instead of shortened ones\n"
    "Exit status: 0 ok, 1 error (CTRACE_E_NOT_FOUND for an unknown run, thread or function),\n"
    "2 usage. See docs/cli.md.\n";

static const struct option replay_opts[] = {
    {"tid", required_argument, NULL, 't'},
    {"from", required_argument, NULL, 'F'},
    {"to", required_argument, NULL, 'T'},
    {"function", required_argument, NULL, 'f'},
    {"depth", required_argument, NULL, 'd'},
    {"min-duration", required_argument, NULL, 'm'},
    {"full-names", no_argument, NULL, 'N'},
    {"store", required_argument, NULL, 'S'},
    {"out", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct replay_cmd {
	struct ctr_replay_opts ro;
	const char *store, *run, *out_path;
	int full_names;
};

/* 0, a usage exit status, or -1 for --help. */
static int replay_parse(struct replay_cmd *c, int argc, char **argv)
{
	const char *prog = "ctrace replay";
	char *end;
	long v;
	int opt;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "t:f:d:S:o:h", replay_opts, NULL)) != -1) {
		switch (opt) {
		case 't':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || !*optarg || v <= 0 || v > INT32_MAX)
				return ctr_cli_usage(prog, "bad --tid '%s'", optarg);
			c->ro.tid = (int32_t)v;
			break;
		case 'F':
			if (ctr_parse_duration(optarg, &c->ro.from_ns))
				return ctr_cli_usage(prog, "bad --from '%s'", optarg);
			break;
		case 'T':
			if (ctr_parse_duration(optarg, &c->ro.to_ns))
				return ctr_cli_usage(prog, "bad --to '%s'", optarg);
			break;
		case 'f':
			c->ro.function = optarg;
			break;
		case 'd':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || !*optarg || v < 0 || v > INT32_MAX)
				return ctr_cli_usage(prog, "bad --depth '%s'", optarg);
			c->ro.depth = (unsigned)v;
			break;
		case 'm':
			if (ctr_parse_duration(optarg, &c->ro.min_duration_ns))
				return ctr_cli_usage(prog, "bad --min-duration '%s'", optarg);
			break;
		case 'N':
			c->full_names = 1;
			break;
		case 'S':
			c->store = optarg;
			break;
		case 'o':
			c->out_path = optarg;
			break;
		case 'h':
			fputs(replay_usage, stdout);
			return -1;
		default:
			return ctr_cli_usage(prog, "unknown or incomplete option '%s'",
					     argv[optind - 1]);
		}
	}
	if (optind < argc)
		c->run = argv[optind++];
	if (optind < argc)
		return ctr_cli_usage(prog, "too many arguments ('%s')", argv[optind]);
	if (c->ro.to_ns && c->ro.to_ns <= c->ro.from_ns)
		return ctr_cli_usage(prog, "--to must be after --from");
	return 0;
}

int ctr_cmd_replay(int argc, char **argv)
{
	struct replay_cmd c = {0};
	struct ctr_store *s = NULL;
	struct ctr_run *run = NULL;
	struct ctr_err e;
	FILE *out = stdout, *text = NULL;
	char *tmp = NULL;
	int ret;

	ctr_err_clear(&e);
	if ((ret = replay_parse(&c, argc, argv)))
		return ret < 0 ? CTR_EXIT_OK : ret;
	if ((ret = ctr_cli_open_store_read(c.store, c.run, &s, &e)) ||
	    (ret = ctr_cli_load_run(s, c.run, ctr_store_can_stream(s) ? 0 : CTR_LOAD_TIMELINE, &run,
				    &e)) ||
	    (ret = ctr_cxx_attach(run, c.full_names, &e)))
		goto out;
	if (c.out_path && !(out = ctr_cli_out_open(c.out_path, &tmp, &e))) {
		ret = e.code;
		out = stdout;
		goto out;
	}
	{
		/* names come from the traced program: terminal controls made visible */
		struct ctr_calls_src src = {run, ctr_store_can_stream(s) ? s : NULL};
		FILE *w = (text = ctr_fmt_visible_stream(out)) ? text : out;

		ret = ctr_replay(w, &src, &c.ro, &e);
		if (text && fclose(text) && !ret)
			ret = ctr_err_set(&e, CTR_EIO, errno, "cannot write the replay: %s",
					  strerror(errno));
	}
	if (!ret && fflush(out))
		ret =
		    ctr_err_set(&e, CTR_EIO, errno, "cannot write the replay: %s", strerror(errno));
out:
	if (out != stdout) {
		int r2 = ctr_cli_out_close(out, c.out_path, tmp, !ret, ret ? NULL : &e);

		ret = ret ? ret : r2;
	}
	ctr_cxx_detach(run);
	ctr_run_free(run);
	ctr_store_close(s);
	return ret ? ctr_cli_fail("ctrace replay", &e) : CTR_EXIT_OK;
}
