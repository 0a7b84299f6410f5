/* SPDX-License-Identifier: MIT */
/* Shared command-line helpers: see cli.h. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "commit.h"

int ctr_cli_json_errors;

void ctr_cli_init(int *argc, char **argv)
{
	const char *env = getenv("CTRACE_JSON_ERRORS");
	int j = 1;

	if (env && *env && strcmp(env, "0") != 0)
		ctr_cli_json_errors = 1;
	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < *argc)
				argv[j++] = argv[i++];
			break;
		}
		if (strcmp(argv[i], "--json-errors") == 0) {
			ctr_cli_json_errors = 1;
			continue;
		}
		argv[j++] = argv[i];
	}
	*argc = j;
	argv[j] = NULL;
}

int ctr_cli_fail(const char *prog, const struct ctr_err *e)
{
	int code = e && e->code ? e->code : CTR_EINTERNAL;
	const char *msg = e && e->msg[0] ? e->msg : "unknown error";

	fprintf(stderr, "%s: %s: %s\n", prog, ctr_err_name(code), msg);
	if (ctr_cli_json_errors) {
		json_t *ctx = json_object(), *o;
		char *s;

		if (e && e->path[0])
			json_object_set_new(ctx, "path", json_string(e->path));
		if (e && e->run_id[0])
			json_object_set_new(ctx, "run_id", json_string(e->run_id));
		if (e && e->offset >= 0)
			json_object_set_new(ctx, "offset", json_integer(e->offset));
		if (e && e->sys_errno)
			json_object_set_new(ctx, "errno", json_integer(e->sys_errno));
		o = json_pack("{s:s, s:s, s:s, s:o}", "error_code", ctr_err_name(code),
			      "error_kind", ctr_err_kind(code), "message", msg, "context", ctx);
		s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		if (s)
			fprintf(stderr, "%s\n", s);
		free(s);
		json_decref(o);
	}
	return code == CTR_EUSAGE ? CTR_EXIT_USAGE : CTR_EXIT_ERROR;
}

int ctr_cli_usage(const char *prog, const char *fmt, ...)
{
	struct ctr_err e;
	va_list ap;

	ctr_err_clear(&e);
	e.code = CTR_EUSAGE;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	ctr_cli_fail(prog, &e);
	fprintf(stderr, "Try '%s --help' for more information.\n", prog);
	return CTR_EXIT_USAGE;
}

int ctr_cli_open_store(const char *conn, struct ctr_store **s, struct ctr_err *e)
{
	/* a store named on the command line may be a symlink the user owns; the default one
	 * and $CTRACE_STORE may not (someone else could have planted it) */
	return conn ? ctr_store_open_ex(s, conn, CTR_STORE_LINK_OK, e)
		    : ctr_store_open_ex(s, ctr_store_default(), 0, e);
}

int ctr_cli_load_run(struct ctr_store *s, const char *spec, unsigned what, struct ctr_run **out,
		     struct ctr_err *e)
{
	char id[CTR_RUN_ID_MAX];
	int ret;

	*out = NULL;
	if (spec && ctr_is_run_dir(spec)) {
		struct ctr_commit_opts o = {.keep = 1, .progress = 1};

		ret = ctr_commit_dir(s, spec, &o, id, e);
	} else {
		ret = ctr_store_resolve(s, spec ? spec : "latest", id, e);
	}
	if (ret)
		return ret;
	return ctr_store_load(s, id, what, out, e);
}

int ctr_parse_duration(const char *s, uint64_t *ns)
{
	static const struct {
		const char *unit;
		double mul;
	} units[] = {{"ns", 1},	  {"us", 1e3},	 {"ms", 1e6},	{"s", 1e9},
		     {"m", 60e9}, {"min", 60e9}, {"h", 3600e9}, {"", 1}};
	char *end;
	double v;

	if (!s || !*s)
		return CTR_EUSAGE;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0 || v != v)
		return CTR_EUSAGE;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			double r = v * units[i].mul;

			if (r > 1.8e19)
				return CTR_EUSAGE;
			*ns = (uint64_t)(r + 0.5);
			return 0;
		}
	}
	return CTR_EUSAGE;
}

int ctr_parse_time(const char *s, int64_t *unix_ns)
{
	struct tm tm;
	const char *end;
	uint64_t d;

	if (!s || !*s)
		return CTR_EUSAGE;
	if (s[0] == '-') { /* relative to now */
		struct timespec now;

		int64_t now_ns;

		if (ctr_parse_duration(s + 1, &d))
			return CTR_EUSAGE;
		clock_gettime(CLOCK_REALTIME, &now);
		now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
		if (d > (uint64_t)now_ns) /* before 1970: not a time any run has */
			return CTR_EUSAGE;
		*unix_ns = now_ns - (int64_t)d;
		return 0;
	}
	if (s[0] == '@') {
		char *e2;
		double v;

		errno = 0;
		v = strtod(s + 1, &e2);
		if (errno || e2 == s + 1 || *e2 || !(v > -9.2e9 && v < 9.2e9)) /* int64 ns range */
			return CTR_EUSAGE;
		*unix_ns = (int64_t)(v * 1e9);
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
	}
	if (!end) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%d", &tm);
	}
	if (!end || (*end && strcmp(end, "Z") != 0))
		return CTR_EUSAGE;
	{
		time_t tt = timegm(&tm);

		if (tt > (time_t)(INT64_MAX / 1000000000) || tt < (time_t)(INT64_MIN / 1000000000))
			return CTR_EUSAGE; /* outside what ns since the epoch can hold */
		*unix_ns = (int64_t)tt * 1000000000;
	}
	return 0;
}

void ctr_fmt_ns(char *buf, size_t n, uint64_t ns)
{
	static const struct {
		double div;
		const char *unit;
	} u[] = {{1e9, "s"}, {1e6, "ms"}, {1e3, "us"}};
	double v;

	for (size_t i = 0; i < 3; i++) {
		if ((double)ns >= u[i].div) {
			v = (double)ns / u[i].div;
			snprintf(buf, n,
				 v >= 100  ? "%.0f %s"
				 : v >= 10 ? "%.1f %s"
					   : "%.2f %s",
				 v, u[i].unit);
			return;
		}
	}
	snprintf(buf, n, "%llu ns", (unsigned long long)ns);
}
