/* SPDX-License-Identifier: MIT */
/*
 * `ctrace check`: the regression gate for CI. Loads a candidate run and its baselines (named
 * runs, or the latest N runs with some metadata), compares them with view/check.c and exits 0
 * when nothing regressed, 1 when something did and 2 or 3 on any error, so a CI job never
 * reads a verdict into bad input. Also writes the comparison as JUnit XML for CI systems that
 * show test reports. docs/ci.md describes the statistics and the CI jobs.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../export/export.h"
#include "../view/check.h"
#include "cli.h"
#include "cmds.h"

#define CHECK_EXIT_REGRESSED 1
#define CHECK_EXIT_ERROR 3 /* an error that is not a usage error (2) */
#define CHECK_DEF_LAST 10

static const char check_help[] =
    "usage: ctrace check --baseline SPEC [--baseline SPEC ...] | --baseline-meta KEY=VALUE\n"
    "                    [--last N]  [--candidate SPEC] [--function GLOB]\n"
    "                    [--metric total|self|p50|p99|calls] [--threshold PCT] [--alpha P]\n"
    "                    [--no-normalize] [--json] [--junit FILE] [--store CONN]\n\n"
    "Compares each function's per-call figure in the candidate run (default latest) with the\n"
    "baseline runs and reports regressions and improvements beyond the run-to-run noise:\n"
    "a change counts when it is at least PCT percent (default 5) and both the across-run\n"
    "prediction test (Student's t on the baselines' spread) and, for total and p50, the\n"
    "Mann-Whitney U rank test of the per-call durations give p <= P (default 0.001).\n"
    "Call-count changes and functions that appear or disappear are behaviour changes.\n\n"
    "  --baseline SPEC        a baseline run (id, prefix, latest~N, raw run directory);\n"
    "                         repeatable; at least 2 baselines in all\n"
    "  --baseline-meta K=V    baselines: the runs whose metadata K is V (repeatable, all\n"
    "                         must match), the newest --last N (default 10), candidate excluded\n"
    "  --candidate SPEC       the run checked (default latest)\n"
    "  --function GLOB        only functions matching GLOB\n"
    "  --metric M             total: mean time per call; self: mean self time per call;\n"
    "                         p50 (default), p99: call duration percentiles; calls: count\n"
    "  --threshold PCT        smallest change reported, in percent (default 5)\n"
    "  --alpha P              significance level of each one-sided test (default 0.001)\n"
    "  --no-normalize         judge the raw figures; by default a duration metric is judged\n"
    "                         relative to the candidate run's median change over its functions\n"
    "                         of 20 calls or more (3 or more of them), so a machine slower\n"
    "                         during the whole run is not a regression of every function\n"
    "  --json                 the result as JSON on stdout\n"
    "  --junit FILE           also write JUnit XML: a testcase per function, regressions as\n"
    "                         failures\n\n"
    "Exit status: 0 nothing regressed, 1 a regression, 2 usage error, 3 any other error\n"
    "(unknown run, store failure, no matching function). See docs/ci.md.\n";

struct check_args {
	const char *conn, *cand, *junit;
	const char **specs; /* --baseline values (borrowed from argv) */
	size_t n_specs;
	struct ctr_kv *meta; /* --baseline-meta; keys owned */
	size_t n_meta;
	uint64_t last;
	int have_last, json;
	struct ctr_check_opts o;
};

static int parse_number(const char *s, double *v)
{
	char *end;

	if (!s || !*s)
		return -1;
	*v = strtod(s, &end);
	if (*end == '%' && end[1] == '\0')
		end++;
	return *end || !(*v >= 0) || *v > 1e9 ? -1 : 0;
}

/* One option @c with value @arg into @a: 0, 1 for --help, or the usage exit status. */
static int check_opt(int c, const char *arg, struct check_args *a)
{
	double d;

	switch (c) {
	case 's':
		a->conn = arg;
		return 0;
	case 'b':
		a->specs[a->n_specs++] = arg;
		return 0;
	case 'c':
		a->cand = arg;
		return 0;
	case 'F':
		a->o.glob = arg;
		return 0;
	case 'j':
		a->json = 1;
		return 0;
	case 'J':
		a->junit = arg;
		return 0;
	case 'M': {
		const char *eq = strchr(arg, '=');

		if (!eq || !ctr_meta_key_valid(arg, (size_t)(eq - arg)))
			return ctr_cli_usage("ctrace check",
					     "--baseline-meta wants KEY=VALUE, not '%s'", arg);
		a->meta[a->n_meta].value = (char *)eq + 1;
		if (!(a->meta[a->n_meta].key = strndup(arg, (size_t)(eq - arg))))
			return ctr_cli_usage("ctrace check", "out of memory");
		a->n_meta++;
		return 0;
	}
	case 'n':
		a->have_last = 1;
		if (ctr_cli_parse_u64(arg, &a->last) || !a->last || a->last > 100000)
			return ctr_cli_usage("ctrace check",
					     "--last wants a count of 1 or more, not '%s'", arg);
		return 0;
	case 'm':
		if (ctr_check_metric_parse(arg, &a->o.metric) < 0)
			return ctr_cli_usage(
			    "ctrace check",
			    "--metric wants total, self, p50, p99 or calls, not '%s'", arg);
		return 0;
	case 't':
		if (parse_number(arg, &d))
			return ctr_cli_usage(
			    "ctrace check", "--threshold wants a percentage of 0 or more, not '%s'",
			    arg);
		a->o.threshold = d / 100;
		return 0;
	case 'a':
		if (parse_number(arg, &d) || !(d > 0) || d > 0.5)
			return ctr_cli_usage("ctrace check",
					     "--alpha wants a number in (0, 0.5], not '%s'", arg);
		a->o.alpha = d;
		return 0;
	case 'N':
		a->o.no_normalize = 1;
		return 0;
	case 'h':
		fputs(check_help, stdout);
		return 1;
	default:
		return ctr_cli_usage("ctrace check", "bad option or value%s%s", arg ? ": " : "",
				     arg ? arg : "");
	}
}

/* Parses argv into @a: 0, 1 when --help was printed, or the usage exit status. */
static int check_parse(int argc, char **argv, struct check_args *a)
{
	static const struct option opts[] = {
	    {"store", required_argument, NULL, 's'},
	    {"baseline", required_argument, NULL, 'b'},
	    {"baseline-meta", required_argument, NULL, 'M'},
	    {"last", required_argument, NULL, 'n'},
	    {"candidate", required_argument, NULL, 'c'},
	    {"function", required_argument, NULL, 'F'},
	    {"metric", required_argument, NULL, 'm'},
	    {"threshold", required_argument, NULL, 't'},
	    {"alpha", required_argument, NULL, 'a'},
	    {"json", no_argument, NULL, 'j'},
	    {"junit", required_argument, NULL, 'J'},
	    {"no-normalize", no_argument, NULL, 'N'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c, r;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+s:", opts, NULL)) != -1)
		if ((r = check_opt(c, c == '?' || c == ':' ? argv[optind - 1] : optarg, a)))
			return r;
	if (optind < argc)
		return ctr_cli_usage("ctrace check", "unexpected argument '%s'", argv[optind]);
	if (!a->n_specs && !a->n_meta)
		return ctr_cli_usage("ctrace check", "give baselines: --baseline SPEC (twice or "
						     "more) or --baseline-meta KEY=VALUE");
	if (a->have_last && !a->n_meta)
		return ctr_cli_usage("ctrace check",
				     "--last selects --baseline-meta runs; give one");
	return 0;
}

struct runset {
	struct ctr_run **r;
	size_t n;
};

static int runset_has(const struct runset *rs, const char *id)
{
	for (size_t i = 0; i < rs->n; i++)
		if (!strcmp(rs->r[i]->id, id))
			return 1;
	return 0;
}

/* Loads the baselines named by @a into @rs (room for all), skipping repeats; a named
 * baseline that is the candidate @cand is an error, a metadata-selected one is left out. */
static int load_baselines(struct ctr_store *s, const struct check_args *a,
			  const struct ctr_run *cand, struct runset *rs, struct ctr_err *e)
{
	struct ctr_filter f = {.meta = a->meta, .n_meta = a->n_meta};
	struct ctr_run **list = NULL, *r = NULL;
	size_t nl = 0, from_meta = 0, want = a->have_last ? (size_t)a->last : CHECK_DEF_LAST;
	int ret = 0;

	for (size_t i = 0; i < a->n_specs && !ret; i++) {
		if ((ret = ctr_cli_load_run(s, a->specs[i], 0, &r, e)) < 0)
			break;
		if (!strcmp(r->id, cand->id))
			ret = ctr_err_set(e, CTR_EUSAGE, 0,
					  "baseline '%s' is the candidate run %s; name another",
					  a->specs[i], cand->id);
		else if (!runset_has(rs, r->id))
			rs->r[rs->n++] = r, r = NULL;
		ctr_run_free(r);
		r = NULL;
	}
	if (ret || !a->n_meta)
		return ret;
	if ((ret = ctr_store_list(s, &f, want + 1, 0, &list, &nl, e)) < 0)
		return ret;
	for (size_t i = 0; i < nl && from_meta < want && !ret; i++) {
		if (!strcmp(list[i]->id, cand->id) || runset_has(rs, list[i]->id))
			continue;
		if ((ret = ctr_store_load(s, list[i]->id, 0, &r, e)) == 0) {
			rs->r[rs->n++] = r;
			from_meta++;
		}
	}
	ctr_run_list_free(list, nl);
	return ret;
}

/* The JUnit XML form of @c on @w (names already made visible by the caller's stream). */
static void junit_write(FILE *w, const struct ctr_check *c)
{
	const char *mn = ctr_check_metric_name(c->metric);
	size_t skipped = c->n - c->n_compared;

	fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(w, "<testsuites name=\"ctrace check\" tests=\"%zu\" failures=\"%zu\">\n", c->n,
		c->n_regressions);
	fprintf(w,
		"  <testsuite name=\"ctrace check %s\" tests=\"%zu\" failures=\"%zu\" "
		"errors=\"0\" skipped=\"%zu\">\n    <properties>\n",
		c->candidate, c->n, c->n_regressions, skipped);
	fprintf(w, "      <property name=\"candidate\" value=\"%s\"/>\n", c->candidate);
	for (size_t i = 0; i < c->n_baselines; i++)
		fprintf(w, "      <property name=\"baseline\" value=\"%s\"/>\n", c->baselines[i]);
	fprintf(w, "      <property name=\"metric\" value=\"%s\"/>\n", mn);
	fprintf(w, "      <property name=\"run_factor\" value=\"%.4f\"/>\n    </properties>\n",
		c->run_factor);
	for (size_t i = 0; i < c->n; i++) {
		const struct ctr_check_row *r = &c->rows[i];

		fprintf(w, "    <testcase classname=\"ctrace.check.%s\" name=\"", mn);
		ctr_export_xml_escape(w, r->function);
		fprintf(w, "\">\n");
		if (r->verdict == CTR_CHECK_REGRESSION)
			fprintf(w,
				"      <failure type=\"regression\" message=\"%s %+.1f%% "
				"(%.0f to %.0f), p=%.3g\"/>\n",
				mn, r->change * 100, r->baseline, r->candidate, r->p_value);
		else if (!r->compared)
			fprintf(w, "      <skipped message=\"%s\"/>\n",
				r->behaviour & CTR_CHECK_BEH_NEW    ? "new: in no baseline"
				: r->behaviour & CTR_CHECK_BEH_GONE ? "gone: not in the candidate"
								    : "in fewer than 2 baselines");
		if (r->verdict == CTR_CHECK_IMPROVEMENT || (r->behaviour & CTR_CHECK_BEH_CALLS))
			fprintf(w,
				"      <system-out>%s%s %+.1f%%%s calls %lu..%lu in the baselines, "
				"%lu in the candidate</system-out>\n",
				r->verdict == CTR_CHECK_IMPROVEMENT ? "improvement: " : "", mn,
				isfinite(r->change) ? r->change * 100 : 0.0,
				r->behaviour & CTR_CHECK_BEH_CALLS ? "; behaviour change:" : ";",
				(unsigned long)r->calls_min, (unsigned long)r->calls_max,
				(unsigned long)r->candidate_calls);
		fprintf(w, "    </testcase>\n");
	}
	fprintf(w, "  </testsuite>\n</testsuites>\n");
}

static int junit_save(const char *path, const struct ctr_check *c, struct ctr_err *e)
{
	char *tmp = NULL;
	FILE *f = ctr_cli_out_open(path, &tmp, e), *vis;
	int ok;

	if (!f)
		return e->code ? e->code : CTR_EIO;
	if ((vis = ctr_fmt_visible_stream(f))) {
		junit_write(vis, c);
		ok = !ferror(vis) && fclose(vis) == 0;
	} else {
		ok = 0;
	}
	ok = ok && !ferror(f);
	if (ctr_cli_out_close(f, path, tmp, ok, e) < 0 || !ok)
		return e->code ? e->code : ctr_err_set(e, CTR_EIO, 0, "cannot write '%s'", path);
	return 0;
}

static int print_result(const struct ctr_check *c, int json)
{
	json_t *o;
	char *txt;

	if (!json)
		return ctr_check_print(stdout, c);
	o = ctr_check_json(c);
	/* 12 digits: 0.05, not 0.050000000000000003 */
	txt = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12))
		: NULL;
	if (txt)
		puts(txt);
	free(txt);
	json_decref(o);
	return txt && !ferror(stdout) ? 0 : -1;
}

/* Loads, compares and reports; the exit status. */
static int check_run(const struct check_args *a, struct ctr_err *e)
{
	struct ctr_store *s = NULL;
	struct ctr_run *cand = NULL;
	struct runset rs = {0};
	struct ctr_check *c = NULL;
	size_t room = a->n_specs + (a->have_last ? (size_t)a->last : CHECK_DEF_LAST) + 1;
	int ret = CHECK_EXIT_ERROR;

	if (!(rs.r = calloc(room, sizeof(*rs.r)))) {
		ctr_err_set(e, CTR_ENOMEM, 0, "out of memory");
		goto fail;
	}
	if (ctr_cli_open_store_read(a->conn, a->cand, &s, e) < 0 ||
	    ctr_cli_load_run(s, a->cand, 0, &cand, e) < 0 ||
	    load_baselines(s, a, cand, &rs, e) < 0 ||
	    ctr_check_compare((const struct ctr_run *const *)rs.r, rs.n, cand, &a->o, &c, e) < 0)
		goto fail;
	if (a->junit && junit_save(a->junit, c, e) < 0)
		goto fail;
	if (print_result(c, a->json) < 0) {
		ctr_err_set(e, CTR_EIO, 0, "cannot write the result");
		goto fail;
	}
	ret = c->n_regressions ? CHECK_EXIT_REGRESSED : CTR_EXIT_OK;
	goto out;
fail:
	ret = ctr_cli_fail("ctrace check", e) == CTR_EXIT_USAGE ? CTR_EXIT_USAGE : CHECK_EXIT_ERROR;
out:
	ctr_check_free(c);
	for (size_t i = 0; i < rs.n; i++)
		ctr_run_free(rs.r[i]);
	free(rs.r);
	ctr_run_free(cand);
	ctr_store_close(s);
	return ret;
}

int ctr_cmd_check(int argc, char **argv)
{
	struct check_args a = {
	    .o = {.metric = CTR_CHECK_P50,
		  .threshold = CTR_CHECK_DEF_THRESHOLD,
		  .alpha = CTR_CHECK_DEF_ALPHA},
	};
	struct ctr_err e;
	int ret;

	ctr_err_clear(&e);
	a.specs = calloc((size_t)argc + 1, sizeof(*a.specs));
	a.meta = calloc((size_t)argc + 1, sizeof(*a.meta));
	if (!a.specs || !a.meta) {
		ctr_err_set(&e, CTR_ENOMEM, 0, "out of memory");
		ret = ctr_cli_fail("ctrace check", &e) == CTR_EXIT_USAGE ? CTR_EXIT_USAGE
									 : CHECK_EXIT_ERROR;
		goto out;
	}
	ret = check_parse(argc, argv, &a);
	if (ret == 1)
		ret = CTR_EXIT_OK;
	else if (!ret)
		ret = check_run(&a, &e);
out:
	for (size_t i = 0; a.meta && i < a.n_meta; i++)
		free(a.meta[i].key);
	free(a.meta);
	free(a.specs);
	return ret;
}
