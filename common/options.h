/* SPDX-License-Identifier: MIT */
/*
 * The recording options, written once. CTR_OPTIONS is an X-macro list: per option its
 * environment variable, long flag, short letter (0: none), run.meta key (option.KEY), kind,
 * limits, argument name and help text. The preload (preload/control.c) expands it for its
 * environment parsing and option.* lines; `ctrace record` (tools/cmd-record.c) for its
 * getopt_long table, validation, the environment it passes on, run.meta and --help. The
 * preload links no ctrace library: everything here is macros and static inline functions
 * that use only libc, and none keeps state.
 */
#ifndef CTR_OPTIONS_H
#define CTR_OPTIONS_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum ctr_opt_kind {
	CTR_OPT_GLOBS,	  /* ';'-separated glob list; the CLI flag adds one glob per use */
	CTR_OPT_COUNT,	  /* integer in [min, max] */
	CTR_OPT_DURATION, /* number with a unit (ns, us, ms, s, m, min, h), in ns in [min, max] */
	CTR_OPT_PROB,	  /* probability in [0, 1] */
	CTR_OPT_ONOFF,	  /* "on" or "off" */
	CTR_OPT_GLOB_DURATION, /* "GLOB:D" (split at the last ':'), D in ns in [min, max] */
	CTR_OPT_FLAG,	       /* "on" or "off" in the environment; the CLI flag takes no
				* argument and means "on" */
	CTR_OPT_OPT_GLOBS,     /* a glob list (',' or ';' between globs); the CLI flag's argument
				* is optional (--libcalls[=GLOB]) and "*" without one */
};

/* X(ID, ENV, LONG, SHORT, KEY, KIND, MIN, MAX, ARG, HELP) */
#define CTR_OPTIONS(X)                                                                             \
	X(FILTER, "CTRACE_FILTER", "filter", 'F', "filter", CTR_OPT_GLOBS, 0, 0, "GLOB",           \
	  "only functions matching GLOB and what they call")                                       \
	X(EXCLUDE, "CTRACE_EXCLUDE", "exclude", 'N', "exclude", CTR_OPT_GLOBS, 0, 0, "GLOB",       \
	  "never record functions matching GLOB")                                                  \
	X(MODULE, "CTRACE_MODULE", "module", 0, "module", CTR_OPT_GLOBS, 0, 0, "GLOB",             \
	  "only functions of objects whose path matches")                                          \
	X(DEPTH, "CTRACE_DEPTH", "depth", 'D', "depth", CTR_OPT_COUNT, 1, 16777216, "N",           \
	  "only calls at most N deep")                                                             \
	X(MIN_DURATION, "CTRACE_MIN_DURATION", "min-duration", 't', "min_duration",                \
	  CTR_OPT_DURATION, 0, 86400000000000ull, "D",                                             \
	  "drop calls shorter than D (e.g. 10us), keep their counts")                              \
	X(SAMPLE, "CTRACE_SAMPLE", "sample", 0, "sample", CTR_OPT_COUNT, 1, 1000000000, "N",       \
	  "record 1 in N calls of each function, count all")                                       \
	X(SAMPLE_RATE, "CTRACE_SAMPLE_RATE", "sample-rate", 0, "sample_rate", CTR_OPT_PROB, 0, 1,  \
	  "P", "record the process with probability P")                                            \
	X(START, "CTRACE_START", "start", 0, "start", CTR_OPT_ONOFF, 0, 1, "on|off",               \
	  "start recording or dormant; switch with 'ctrace ctl PID on'")                           \
	X(TRIGGER, "CTRACE_TRIGGER", "trigger", 0, "trigger", CTR_OPT_GLOBS, 0, 0, "FUNC",         \
	  "with --ring: a snapshot at the first call of FUNC")                                     \
	X(TRIGGER_SLOWER, "CTRACE_TRIGGER_SLOWER", "trigger-slower", 0, "trigger_slower",          \
	  CTR_OPT_GLOB_DURATION, 0, 86400000000000ull, "FUNC:D",                                   \
	  "with --ring: a snapshot after a call of FUNC longer than D")                            \
	X(SCHED, "CTRACE_SCHED", "sched", 0, "sched", CTR_OPT_FLAG, 0, 1, "",                      \
	  "record context switches: off-CPU time per call (ctrace record only)")                   \
	X(NO_FOLLOW_EXEC, "CTRACE_NO_FOLLOW_EXEC", "no-follow-exec", 0, "no_follow_exec",          \
	  CTR_OPT_FLAG, 0, 1, "",                                                                  \
	  "pass the environments of exec and spawn calls as given (not followed without ctrace's " \
	  "variables)")                                                                            \
	X(LIBCALLS, "CTRACE_LIBCALLS", "libcalls", 0, "libcalls", CTR_OPT_OPT_GLOBS, 0, 0,         \
	  "[=GLOB]", "library calls (PLT) of instrumented code, all or those matching GLOB")

#define CTR_OPT_ENUM_(id, env, lng, sh, key, kind, mn, mx, arg, help) CTR_OPT_##id,
enum ctr_opt_id { CTR_OPTIONS(CTR_OPT_ENUM_) CTR_OPT_N };
#undef CTR_OPT_ENUM_

struct ctr_opt_def {
	enum ctr_opt_id id;
	const char *env, *lng;
	int sh;
	const char *key;
	enum ctr_opt_kind kind;
	uint64_t min, max;
	const char *arg, *help;
};

#define CTR_OPT_DEF_(id, env, lng, sh, key, kind, mn, mx, arg, help)                               \
	{CTR_OPT_##id, env, lng, sh, key, kind, (uint64_t)(mn), (uint64_t)(mx), arg, help},
static const struct ctr_opt_def ctr_opt_defs[CTR_OPT_N] = {CTR_OPTIONS(CTR_OPT_DEF_)};
#undef CTR_OPT_DEF_

/* The getopt_long value of an option: its short letter, or 256 + its id. */
#define CTR_OPT_GETOPT_VAL(sh, id) ((sh) ? (sh) : 256 + (int)(id))

/* A parsed value: count (u), duration in ns (u), on/off (u: 1 = on), probability (p). */
struct ctr_opt_val {
	uint64_t u;
	double p;
};

/* Parses a duration such as "10us" into ns; 0 or -1. */
static inline int ctr_opt_parse_duration(const char *s, uint64_t *ns)
{
	static const struct {
		const char *unit;
		double mul;
	} units[] = {{"ns", 1},	  {"us", 1e3},	 {"ms", 1e6},	{"s", 1e9},
		     {"m", 60e9}, {"min", 60e9}, {"h", 3600e9}, {"", 1}};
	char *end;
	double v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !(v >= 0))
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			double r = v * units[i].mul;

			if (r > 1.8e19)
				return -1;
			*ns = (uint64_t)(r + 0.5);
			return 0;
		}
	}
	return -1;
}

/*
 * Checks value @v of option @d against its kind and limits. Returns 0 with the value in @out,
 * or -1 with the reason in @why ("wants 1..16777216, got '20000000'"). Does not allocate; the
 * preload calls it at start-up.
 */
static inline int ctr_opt_parse(const struct ctr_opt_def *d, const char *v, struct ctr_opt_val *out,
				char *why, size_t n)
{
	char *end;
	int saved = errno;

	out->u = 0;
	out->p = 0;
	switch (d->kind) {
	case CTR_OPT_GLOBS:
	case CTR_OPT_OPT_GLOBS:
		if (!*v)
			goto bad;
		return 0;
	case CTR_OPT_COUNT:
		errno = 0;
		if (*v < '0' || *v > '9')
			goto bad;
		out->u = strtoull(v, &end, 10);
		if (errno || *end || out->u < d->min || out->u > d->max)
			goto bad;
		break;
	case CTR_OPT_DURATION:
		if (ctr_opt_parse_duration(v, &out->u) || out->u < d->min || out->u > d->max)
			goto bad;
		break;
	case CTR_OPT_PROB:
		errno = 0;
		out->p = strtod(v, &end);
		if (errno || end == v || *end || !(out->p >= 0 && out->p <= 1))
			goto bad;
		break;
	case CTR_OPT_ONOFF:
	case CTR_OPT_FLAG:
		if (!strcmp(v, "on"))
			out->u = 1;
		else if (strcmp(v, "off"))
			goto bad;
		break;
	case CTR_OPT_GLOB_DURATION: {
		const char *colon = strrchr(v, ':');

		if (!colon || colon == v || ctr_opt_parse_duration(colon + 1, &out->u) ||
		    out->u < d->min || out->u > d->max)
			goto bad;
		break;
	}
	}
	errno = saved;
	return 0;
bad:
	switch (d->kind) {
	case CTR_OPT_GLOBS:
	case CTR_OPT_OPT_GLOBS:
		snprintf(why, n, "wants a glob, got '%s'", v);
		break;
	case CTR_OPT_COUNT:
		snprintf(why, n, "wants %llu..%llu, got '%s'", (unsigned long long)d->min,
			 (unsigned long long)d->max, v);
		break;
	case CTR_OPT_DURATION:
		snprintf(why, n, "wants a duration like 10us, at most %llus, got '%s'",
			 (unsigned long long)(d->max / 1000000000ull), v);
		break;
	case CTR_OPT_PROB:
		snprintf(why, n, "wants a probability 0..1, got '%s'", v);
		break;
	case CTR_OPT_ONOFF:
	case CTR_OPT_FLAG:
		snprintf(why, n, "wants on or off, got '%s'", v);
		break;
	case CTR_OPT_GLOB_DURATION:
		snprintf(why, n, "wants FUNC:DURATION like 'parse*:10ms', got '%s'", v);
		break;
	}
	errno = saved;
	return -1;
}

/* One line of --help for option @d, e.g. "  -D, --depth N        only calls ... (CTRACE_DEPTH)". */
static inline void ctr_opt_help(const struct ctr_opt_def *d, char *buf, size_t n)
{
	char left[64], lim[64] = "";

	if (d->kind == CTR_OPT_FLAG)
		snprintf(left, sizeof(left), "      --%s", d->lng);
	else if (d->kind == CTR_OPT_OPT_GLOBS)
		snprintf(left, sizeof(left), "      --%s%s", d->lng, d->arg);
	else if (d->sh)
		snprintf(left, sizeof(left), "  -%c, --%s %s", d->sh, d->lng, d->arg);
	else
		snprintf(left, sizeof(left), "      --%s %s", d->lng, d->arg);
	if (d->kind == CTR_OPT_COUNT)
		snprintf(lim, sizeof(lim), ", %llu..%llu", (unsigned long long)d->min,
			 (unsigned long long)d->max);
	snprintf(buf, n, "%-22s %s%s (%s)\n", left, d->help, lim, d->env);
}

#endif
