/* SPDX-License-Identifier: MIT */
/*
 * The `ctrace-report` / `ctrace report` and `ctrace show` commands: option parsing, loading
 * runs from the store (or committing a raw run directory first), choosing the view or export
 * and turning errors into exit statuses. The views themselves are in report.c and export*.c.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/fmt.h"
#include "../../store/runjson.h"
#include "../export/export.h"
#include "../view/calls.h"
#include "../view/cxxname.h"
#include "../view/graph.h"
#include "../view/latency.h"
#include "../view/report.h"
#include "cli.h"

enum {
	OPT_MIN_PERCENT = 256,
	OPT_ASCII,
	OPT_CALLERS,
	OPT_CALLEES,
	OPT_RAW,
	OPT_MIN_DURATION,
	OPT_FROM,
	OPT_TO,
	OPT_MAX_EVENTS,
	OPT_THREAD_PREFIX,
	OPT_CHUNKS,
	OPT_WIDTH,
	OPT_NO_HEADER,
	OPT_FUNCTIONS,
	OPT_MODULES,
	OPT_PERCENTILES,
	OPT_HIST,
	OPT_FULL_NAMES,
	OPT_MATCH,
	OPT_SLOWEST,
	OPT_GRAPH,
	OPT_SORT,
};

static const struct option long_opts[] = {
    {"sort", required_argument, NULL, OPT_SORT},
    {"top", required_argument, NULL, 'n'},
    {"function", required_argument, NULL, 'f'},
    {"threads", no_argument, NULL, 't'},
    {"tree", no_argument, NULL, 'T'},
    {"depth", required_argument, NULL, 'd'},
    {"min-percent", required_argument, NULL, OPT_MIN_PERCENT},
    {"ascii", no_argument, NULL, OPT_ASCII},
    {"callers", required_argument, NULL, OPT_CALLERS},
    {"callees", required_argument, NULL, OPT_CALLEES},
    {"raw-times", no_argument, NULL, OPT_RAW},
    {"json", no_argument, NULL, 'j'},
    {"store", required_argument, NULL, 'S'},
    {"diff", no_argument, NULL, 'D'},
    {"format", required_argument, NULL, 'F'},
    {"export", required_argument, NULL, 'F'}, /* ctrace-report --export FMT: the same */
    {"out", required_argument, NULL, 'o'},
    {"min-duration", required_argument, NULL, OPT_MIN_DURATION},
    {"from", required_argument, NULL, OPT_FROM},
    {"to", required_argument, NULL, OPT_TO},
    {"max-events", required_argument, NULL, OPT_MAX_EVENTS},
    {"thread-prefix", no_argument, NULL, OPT_THREAD_PREFIX},
    {"chunks", no_argument, NULL, OPT_CHUNKS},
    {"width", required_argument, NULL, OPT_WIDTH},
    {"no-header", no_argument, NULL, OPT_NO_HEADER},
    {"functions", no_argument, NULL, OPT_FUNCTIONS},
    {"modules", no_argument, NULL, OPT_MODULES},
    {"percentiles", no_argument, NULL, OPT_PERCENTILES},
    {"hist", required_argument, NULL, OPT_HIST},
    {"full-names", no_argument, NULL, OPT_FULL_NAMES},
    {"match", required_argument, NULL, OPT_MATCH},
    {"slowest", required_argument, NULL, OPT_SLOWEST},
    {"graph", required_argument, NULL, OPT_GRAPH},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct cmd {
	const char *prog;
	int show; /* ctrace show */
	struct ctr_report_opts ro;
	struct ctr_export_opts xo;
	int json, tree, threads, diff;
	int functions, modules; /* ctrace show --functions / --modules */
	const char *callers, *callees;
	int percentiles, full_names, top_set;
	const char *hist, *slowest, *graph;
	const char *store, *out_path;
	int format; /* -1: a view */
	const char *runs[2];
	int n_runs;
};

static const char report_usage[] =
    "usage: ctrace-report [RUN] [options]\n"
    "       ctrace-report --diff RUN_A [RUN_B] [options]\n"
    "RUN: run id, unique id prefix, latest, latest~N or a raw run directory (default latest)\n"
    "views:   (default: flat profile) --tree, --threads, --callers FUNC, --callees FUNC,\n"
    "         --graph FUNC, --percentiles, --hist FUNC, --slowest FUNC,\n"
    "         --diff, --json, --format chrome|folded|svg|html|otlp|json|perfetto\n"
    "options: --sort self|total|calls|avg|max|name|offcpu  --top N (0 = all, default 30;\n"
    "         with --slowest: how many calls, default 10)\n"
    "         --function GLOB  --depth N  --min-percent P (default 0.5)  --ascii\n"
    "         --full-names  --match name|module (--diff)  --raw-times  --no-header\n"
    "         --store CONN  --out FILE  (--export F: the same as --format F)\n"
    "exports: --min-duration D  --from T  --to T  --max-events N  --thread-prefix\n"
    "         --chunks  --width PX\n"
    "see docs/report.md and docs/exports.md\n";

static const char show_usage[] =
    "usage: ctrace show [RUN] [--format chrome|folded|svg|html|otlp|json|perfetto] [--out FILE]\n"
    "       [--store CONN] [--min-duration D] [--from T] [--to T] [--max-events N]\n"
    "       [--thread-prefix] [--chunks] [--width PX] [--raw-times]\n"
    "       [--functions] [--modules] [--json]\n"
    "without --format: a summary of the run; --functions / --modules list the run's\n"
    "symbolized functions and loaded objects (--json for JSON) (see docs/exports.md)\n";

static int parse_sort(const char *s)
{
	static const char *names[] = {"self", "total", "calls", "avg", "max", "name", "offcpu"};

	for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

/* 0, or the exit status of a usage error (2), or -1 for --help (exit 0). */
/* The export options of ctrace show: 0 when @opt was one and is valid, a usage exit status
 * when its value is bad, 1 when @opt is not an export option. */
static int parse_export_opt(struct cmd *c, int opt)
{
	uint64_t v;

	switch (opt) {
	case 'F':
		c->format = ctr_export_parse_format(optarg);
		if (c->format < 0)
			return ctr_cli_usage(c->prog,
					     "unknown --format '%s' (chrome, folded, "
					     "svg, html, otlp, json, perfetto)",
					     optarg);
		return 0;
	case 'o':
		c->out_path = optarg;
		return 0;
	case OPT_MIN_DURATION:
		if (ctr_parse_duration(optarg, &v) || v > INT64_MAX)
			return ctr_cli_usage(c->prog, "bad --min-duration '%s'", optarg);
		c->xo.min_duration_ns = (int64_t)v;
		return 0;
	case OPT_FROM:
		if (ctr_parse_duration(optarg, &c->xo.from_ns))
			return ctr_cli_usage(c->prog, "bad --from '%s'", optarg);
		return 0;
	case OPT_TO:
		if (ctr_parse_duration(optarg, &c->xo.to_ns))
			return ctr_cli_usage(c->prog, "bad --to '%s'", optarg);
		return 0;
	case OPT_MAX_EVENTS:
		if (ctr_cli_parse_u64(optarg, &v) || v > INT64_MAX)
			return ctr_cli_usage(c->prog, "bad --max-events '%s'", optarg);
		c->xo.max_events = (int64_t)v;
		return 0;
	case OPT_THREAD_PREFIX:
		c->xo.thread_prefix = 1;
		return 0;
	case OPT_CHUNKS:
		c->xo.chunks = 1;
		return 0;
	case OPT_WIDTH:
		if (ctr_cli_parse_u64(optarg, &v) || v < 200 || v > 100000)
			return ctr_cli_usage(c->prog, "bad --width '%s' (200 to 100000)", optarg);
		c->xo.width = (int)v;
		return 0;
	default:
		return 1;
	}
}

/* Options that do not go together, and run counts. 0 or a usage exit status. */
static int check_combinations(struct cmd *c)
{
	if (c->xo.to_ns && c->xo.to_ns <= c->xo.from_ns)
		return ctr_cli_usage(c->prog, "--to must be after --from");
	if (c->n_runs == 2 && !c->diff)
		return ctr_cli_usage(c->prog, "two runs given without --diff");
	if (c->diff && c->show)
		return ctr_cli_usage(c->prog, "--diff is a ctrace-report option");
	if (c->diff && (c->format >= 0 || c->tree || c->callers || c->callees))
		return ctr_cli_usage(c->prog, "--diff combines only with --json, --sort, --top, "
					      "--function and --raw-times");
	if (c->diff && c->n_runs == 0)
		return ctr_cli_usage(c->prog, "--diff needs RUN_A [RUN_B]");
	/* one view; --json carries --threads and --tree together (per-thread profiles and trees) */
	if (!!c->callers + !!c->callees + !!c->graph + !!c->hist + !!c->slowest + c->percentiles +
		(c->json && c->tree && c->threads ? 1 : c->tree + c->threads) >
	    1)
		return ctr_cli_usage(c->prog,
				     "choose one view of --tree, --threads, --callers, "
				     "--callees, --graph, --percentiles, --hist, --slowest");
	if (c->diff && (c->graph || c->hist || c->slowest || c->percentiles))
		return ctr_cli_usage(c->prog,
				     "--diff shows p99 changes itself; it does not combine "
				     "with --graph, --percentiles, --hist or --slowest");
	if (c->ro.match_name && !c->diff)
		return ctr_cli_usage(c->prog, "--match is a --diff option");
	if (c->json &&
	    (c->graph || c->hist || c->slowest || c->percentiles || c->callers || c->callees))
		return ctr_cli_usage(c->prog,
				     "--json is the whole report: it has no form for "
				     "--callers, --callees, --graph, --percentiles, --hist "
				     "or --slowest (its functions carry percentiles)");
	if ((c->functions || c->modules) && (!c->show || c->format >= 0))
		return ctr_cli_usage(c->prog, "--functions and --modules are ctrace show listings");
	return 0;
}

static int parse(struct cmd *c, int argc, char **argv)
{
	int opt, r;
	uint64_t v;
	double d;
	char *end;

	optind = 0; /* full reset: the commands may run more than once in one process */
	opterr = 0;
	/* -s is --store, as in every ctrace command (-S kept); --sort has no short form */
	while ((opt = getopt_long(argc, argv, "s:n:f:tTd:jS:DF:o:h", long_opts, NULL)) != -1) {
		switch (opt) {
		case OPT_SORT:
			c->ro.sort = parse_sort(optarg);
			if (c->ro.sort < 0)
				return ctr_cli_usage(c->prog, "bad --sort '%s'", optarg);
			break;
		case 'n':
			if (ctr_cli_parse_u64(optarg, &v))
				return ctr_cli_usage(c->prog, "bad --top '%s'", optarg);
			c->ro.top = (size_t)v;
			c->top_set = 1;
			break;
		case 'f':
			c->ro.function = optarg;
			break;
		case 't':
			c->threads = 1;
			break;
		case 'T':
			c->tree = 1;
			break;
		case 'd':
			if (ctr_cli_parse_u64(optarg, &v) || v > UINT32_MAX)
				return ctr_cli_usage(c->prog, "bad --depth '%s'", optarg);
			c->ro.depth = (unsigned)v;
			break;
		case OPT_MIN_PERCENT:
			errno = 0;
			d = strtod(optarg, &end);
			if (errno || *end || !*optarg || d < 0 || d > 100)
				return ctr_cli_usage(c->prog, "bad --min-percent '%s'", optarg);
			c->ro.min_percent = d;
			break;
		case OPT_ASCII:
			c->ro.ascii = 1;
			break;
		case OPT_CALLERS:
			c->callers = optarg;
			break;
		case OPT_CALLEES:
			c->callees = optarg;
			break;
		case OPT_RAW:
			c->ro.raw_times = c->xo.raw_times = 1;
			break;
		case 'j':
			c->json = 1;
			break;
		case 's':
		case 'S':
			c->store = optarg;
			break;
		case 'D':
			c->diff = 1;
			break;
		case OPT_NO_HEADER:
			c->ro.no_header = 1;
			break;
		case OPT_FUNCTIONS:
			c->functions = 1;
			break;
		case OPT_MODULES:
			c->modules = 1;
			break;
		case OPT_PERCENTILES:
			c->percentiles = 1;
			break;
		case OPT_HIST:
			c->hist = optarg;
			break;
		case OPT_FULL_NAMES:
			c->full_names = 1;
			break;
		case OPT_MATCH:
			if (strcmp(optarg, "name") && strcmp(optarg, "module"))
				return ctr_cli_usage(c->prog, "bad --match '%s' (name, module)",
						     optarg);
			c->ro.match_name = !strcmp(optarg, "name");
			break;
		case OPT_SLOWEST:
			c->slowest = optarg;
			break;
		case OPT_GRAPH:
			c->graph = optarg;
			break;
		case 'h':
			fputs(c->show ? show_usage : report_usage, stdout);
			return -1;
		default:
			r = parse_export_opt(c, opt);
			if (r == 0)
				break;
			if (r != 1)
				return r;
			if (optopt && optopt < 256)
				return ctr_cli_usage(c->prog, "unknown or incomplete option '-%c'",
						     optopt);
			return ctr_cli_usage(c->prog, "unknown or incomplete option '%s'",
					     argv[optind - 1]);
		}
	}
	for (; optind < argc; optind++) {
		if (c->n_runs == 2)
			return ctr_cli_usage(c->prog, "too many runs ('%s')", argv[optind]);
		c->runs[c->n_runs++] = argv[optind];
	}
	return check_combinations(c);
}

/* `ctrace show RUN --functions` / `--modules`: what the run's store entry knows. */
static int print_listing(FILE *out, const struct ctr_run *r, const struct cmd *c)
{
	if (c->json) {
		json_t *o = json_object(), *fa = json_array(), *ma = json_array();
		char *txt;

		for (size_t i = 0; c->modules && i < r->n_modules; i++)
			json_array_append_new(ma, ctr_runjson_module(r, i));
		for (size_t i = 0; c->functions && i < r->n_functions; i++)
			json_array_append_new(fa, ctr_runjson_function(r, i));
		if (c->modules)
			json_object_set_new(o, "modules", ma);
		else
			json_decref(ma);
		if (c->functions)
			json_object_set_new(o, "functions", fa);
		else
			json_decref(fa);
		txt = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(o);
		if (!txt)
			return CTR_ENOMEM;
		fprintf(out, "%s\n", txt);
		free(txt);
		return 0;
	}
	if (c->modules) {
		fprintf(out, "%4s  %-18s  %-40s  %10s  %10s  %s\n", "ID", "BASE", "BUILD-ID",
			"LOADED", "UNLOADED", "PATH");
		for (size_t i = 0; i < r->n_modules; i++) {
			const struct ctr_module *m = &r->modules[i];
			char lo[32],
			    un[32] = "-"; /* times from the run's start; -: never unloaded */

			ctr_fmt_ns(lo, sizeof(lo), m->loaded_ns > 0 ? (uint64_t)m->loaded_ns : 0);
			if (m->unloaded_ns >= 0)
				ctr_fmt_ns(un, sizeof(un), (uint64_t)m->unloaded_ns);
			fprintf(out, "%4u  0x%016" PRIx64 "  %-40s  %10s  %10s  %s\n", m->id,
				m->base, m->build_id[0] ? m->build_id : "-", lo, un, m->path);
		}
	}
	if (c->functions) {
		if (c->modules)
			fputc('\n', out);
		fprintf(out, "%6s  %-8s  %-40s  %s\n", "ID", "KIND", "NAME", "WHERE");
		for (size_t i = 0; i < r->n_functions; i++) {
			const struct ctr_function *f = &r->functions[i];
			const char *mod =
			    f->module < r->n_modules ? r->modules[f->module].path : "";
			const char *base = strrchr(mod, '/');

			fprintf(out, "%6u  %-8s  %-40s  ", f->id, ctr_runjson_kind_name(f->kind),
				f->name);
			if (f->file[0])
				fprintf(out, "%s:%u", f->file, f->line);
			else if (mod[0])
				fprintf(out, "%s+0x%" PRIx64, base ? base + 1 : mod, f->offset);
			fputc('\n', out);
		}
	}
	return 0;
}

static void prog_name(struct cmd *c, const char *argv0, int show, char *buf, size_t n)
{
	const char *base = argv0 ? strrchr(argv0, '/') : NULL;

	base = base ? base + 1 : argv0 ? argv0 : "";
	if (!strncmp(base, "ctrace", 6))
		snprintf(buf, n, "%s", base);
	else
		snprintf(buf, n, "ctrace %s", show ? "show" : "report");
	c->prog = buf;
}

static void export_note(const struct cmd *c, const struct ctr_export_stats *st)
{
	if (c->format == CTR_EXPORT_HTML) {
		/* The page's timeline is reduced, not cut: say how (docs/serve.md). */
		if (st->short_calls)
			fprintf(stderr,
				"%s: note: the page's timeline shows %" PRIu64
				" calls one by one and %" PRIu64
				" shorter ones merged into busy spans (zoom needs ctrace serve)\n",
				c->prog, st->calls, st->short_calls);
		return;
	}
	if (st->fit_min_ns) {
		char d[32];

		ctr_fmt_ns(d, sizeof(d), st->fit_min_ns);
		fprintf(stderr,
			"%s: note: the export covers the whole run: %" PRIu64
			" calls of at least %s"
			" (%" PRIu64 " shorter left out to fit the event budget; --min-duration or "
			"--max-events chooses)\n",
			c->prog, st->calls, d, st->short_calls);
	} else if (st->short_calls || st->outside || st->over_limit)
		fprintf(stderr,
			"%s: note: export has %" PRIu64 " calls; left out %" PRIu64
			" shorter than --min-duration, %" PRIu64 " outside --from/--to, %" PRIu64
			" past --max-events\n",
			c->prog, st->calls, st->short_calls, st->outside, st->over_limit);
	if (st->unfinished)
		fprintf(stderr,
			"%s: note: %" PRIu64 " calls were still open at the end of their "
			"thread\n",
			c->prog, st->unfinished);
}

/* Chunks of the exported run, read from its store one at a time (ctr_export_opts fetch). */
struct export_fetch {
	struct ctr_store *s;
	const char *id;
};

static int fetch_chunk(void *arg, const struct ctr_chunk *c, unsigned char **data, size_t *size,
		       struct ctr_err *e)
{
	struct export_fetch *f = arg;
	struct ctr_chunk got = *c;
	int ret = ctr_store_load_chunk(f->s, f->id, c->thread, c->seq, &got, e);

	*data = got.data;
	*size = got.size;
	return ret;
}

/* What of the run @c needs loaded from @s, from the export's flags @what. */
static unsigned load_flags(struct cmd *c, struct ctr_store *s, unsigned what)
{
	/* perfetto streams the timeline from the store, chunk by chunk, where the store can */
	if (c->format == CTR_EXPORT_PERFETTO && ctr_store_can_stream(s)) {
		c->xo.store = s;
		what = ctr_export_load_flags(c->format, &c->xo);
	}
	/* --slowest reads the timeline: chunk by chunk where the store can, else loaded whole */
	if (c->slowest && !ctr_store_can_stream(s))
		what |= CTR_LOAD_TIMELINE;
	/* timeline exports read the chunks one at a time where the store can: bounded memory */
	if (c->format >= 0 && (what & CTR_LOAD_TIMELINE) && c->format != CTR_EXPORT_JSON &&
	    ctr_store_can_stream(s))
		what |= CTR_LOAD_CHUNK_INDEX;
	return what;
}

static int run_cmd(struct cmd *c, int argc, char **argv)
{
	struct ctr_store *s = NULL;
	struct ctr_run *run = NULL, *run_b = NULL;
	struct ctr_export_stats st = {0};
	struct export_fetch fetch = {0};
	struct ctr_err e;
	FILE *out = stdout;
	char *out_tmp = NULL;
	FILE *text = NULL, *real_out;
	unsigned what = 0;
	int ret, status = CTR_EXIT_ERROR;

	ctr_err_clear(&e);
	ret = parse(c, argc, argv);
	if (ret)
		return ret < 0 ? CTR_EXIT_OK : ret;
	if (c->format >= 0)
		what = ctr_export_load_flags(c->format, &c->xo);
	ret = ctr_cli_open_store_read(c->store, c->n_runs ? c->runs[0] : NULL, &s, &e);
	if (ret)
		goto out;
	what = load_flags(c, s, what);
	ret = ctr_cli_load_run(s, c->n_runs ? c->runs[0] : NULL, what, &run, &e);
	if (!ret && (what & CTR_LOAD_CHUNK_INDEX)) {
		fetch.s = s;
		fetch.id = run->id;
		c->xo.fetch = fetch_chunk;
		c->xo.fetch_arg = &fetch;
		c->xo.store = s;
	}
	if (!ret && c->diff)
		ret = ctr_cli_load_run(s, c->n_runs > 1 ? c->runs[1] : NULL, 0, &run_b, &e);
	if (ret)
		goto out;
	/* text views show shortened C++ names (view/cxxname.h); JSON and exports the stored ones */
	if ((ret = ctr_cxx_attach(run, c->full_names, &e)) ||
	    (run_b && (ret = ctr_cxx_attach(run_b, c->full_names, &e))))
		goto out;
	if (c->out_path) {
		out = ctr_cli_out_open(c->out_path, &out_tmp, &e);
		if (!out) {
			ret = e.code;
			out = stdout;
			goto out;
		}
	}
	real_out = out;
	c->ro.threads = c->threads;
	c->ro.tree = c->tree;
	/* Text views print names, command lines and attributes from the traced program: through
	 * a stream that renders terminal control bytes visibly. Exports and JSON escape anyway. */
	if (c->format < 0 && !c->json && (text = ctr_fmt_visible_stream(out)))
		out = text;
	if (c->format >= 0) {
		ret = ctr_export(out, run, c->format, &c->xo, &st, &e);
		if (!ret)
			export_note(c, &st);
	} else if (c->show && (c->functions || c->modules)) {
		ret = print_listing(out, run, c);
		if (ret)
			ctr_err_set(&e, ret, 0, "out of memory listing run '%s'", run->id);
	} else if (c->show) {
		ret = ctr_report_summary(out, run, &e);
	} else if (c->diff) {
		ret = ctr_report_diff(out, run, run_b, &c->ro, c->json, &e);
	} else if (c->json) {
		ret = ctr_report_json(out, run, &c->ro, &e);
	} else if (c->percentiles) {
		ret = ctr_report_percentiles(out, run, &c->ro, &e);
	} else if (c->hist) {
		ret = ctr_report_hist(out, run, &c->ro, c->hist, &e);
	} else if (c->slowest) {
		struct ctr_calls_src src = {run, ctr_store_can_stream(s) ? s : NULL};

		ret = ctr_report_slowest(out, &src, &c->ro, c->slowest, c->top_set ? c->ro.top : 10,
					 &e);
	} else if (c->graph) {
		ret = ctr_report_graph(out, run, &c->ro, c->graph, &e);
	} else if (c->callers || c->callees) {
		ret = ctr_report_callers(out, run, &c->ro, c->callers ? c->callers : c->callees,
					 !!c->callees, &e);
	} else if (c->tree) {
		ret = ctr_report_tree(out, run, &c->ro, &e);
	} else if (c->threads) {
		ret = ctr_report_threads(out, run, &c->ro, &e);
	} else {
		ret = ctr_report_flat(out, run, &c->ro, &e);
	}
	if (text) {
		if (fclose(text) && !ret)
			ret = ctr_err_set(&e, CTR_EIO, errno, "cannot write '%s': %s",
					  c->out_path ? c->out_path : "stdout", strerror(errno));
		out = real_out;
	}
	if (!ret && fflush(out))
		ret = ctr_err_set(&e, CTR_EIO, errno, "cannot write '%s': %s",
				  c->out_path ? c->out_path : "stdout", strerror(errno));
out:
	if (out != stdout) {
		int r2 = ctr_cli_out_close(out, c->out_path, out_tmp, !ret, ret ? NULL : &e);

		ret = ret ? ret : r2;
	}
	if (ret)
		status = ctr_cli_fail(c->prog, &e);
	else
		status = CTR_EXIT_OK;
	ctr_cxx_detach(run);
	ctr_cxx_detach(run_b);
	ctr_run_free(run);
	ctr_run_free(run_b);
	ctr_store_close(s);
	return status;
}

static int cmd_main(int argc, char **argv, int show)
{
	struct cmd c;
	char prog[64];

	memset(&c, 0, sizeof(c));
	ctr_report_opts_init(&c.ro);
	ctr_export_opts_init(&c.xo);
	c.format = -1;
	c.show = show;
	prog_name(&c, argc > 0 ? argv[0] : NULL, show, prog, sizeof(prog));
	return run_cmd(&c, argc, argv);
}

int ctr_cmd_report(int argc, char **argv)
{
	return cmd_main(argc, argv, 0);
}

int ctr_cmd_show(int argc, char **argv)
{
	return cmd_main(argc, argv, 1);
}
