/* SPDX-License-Identifier: MIT */
/*
 * The option table (common/options.h) that the preload and `ctrace record` both expand: every
 * kind's limits, exactly at and just past them, the reasons given, and a table without
 * duplicate variables, flags or getopt values.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "common/options.h"

static int parse(enum ctr_opt_id id, const char *v, struct ctr_opt_val *out)
{
	char why[256];

	return ctr_opt_parse(&ctr_opt_defs[id], v, out, why, sizeof(why));
}

Test(options, depth_limits)
{
	struct ctr_opt_val v;

	cr_assert_eq(parse(CTR_OPT_DEPTH, "16777216", &v), 0);
	cr_assert_eq(v.u, 16777216);
	cr_assert_eq(parse(CTR_OPT_DEPTH, "1", &v), 0);
	cr_assert_eq(parse(CTR_OPT_DEPTH, "16777217", &v), -1);
	cr_assert_eq(parse(CTR_OPT_DEPTH, "0", &v), -1);
	cr_assert_eq(parse(CTR_OPT_DEPTH, "-1", &v), -1);
	cr_assert_eq(parse(CTR_OPT_DEPTH, "+5", &v), -1);
	cr_assert_eq(parse(CTR_OPT_DEPTH, "5x", &v), -1);
	cr_assert_eq(parse(CTR_OPT_DEPTH, "99999999999999999999999", &v), -1);
}

Test(options, reason_names_limits_and_value)
{
	struct ctr_opt_val v;
	char why[256];

	cr_assert_eq(ctr_opt_parse(&ctr_opt_defs[CTR_OPT_DEPTH], "20000000", &v, why, sizeof(why)),
		     -1);
	cr_assert_str_eq(why, "wants 1..16777216, got '20000000'");
}

Test(options, other_kinds)
{
	struct ctr_opt_val v;

	cr_assert_eq(parse(CTR_OPT_MIN_DURATION, "10us", &v), 0);
	cr_assert_eq(v.u, 10000);
	cr_assert_eq(parse(CTR_OPT_MIN_DURATION, "24h", &v), 0);
	cr_assert_eq(parse(CTR_OPT_MIN_DURATION, "25h", &v), -1);
	cr_assert_eq(parse(CTR_OPT_MIN_DURATION, "10parsecs", &v), -1);
	cr_assert_eq(parse(CTR_OPT_MIN_DURATION, "nan", &v), -1);
	cr_assert_eq(parse(CTR_OPT_SAMPLE, "1000000000", &v), 0);
	cr_assert_eq(parse(CTR_OPT_SAMPLE, "1000000001", &v), -1);
	cr_assert_eq(parse(CTR_OPT_SAMPLE_RATE, "0.25", &v), 0);
	cr_assert_float_eq(v.p, 0.25, 1e-12);
	cr_assert_eq(parse(CTR_OPT_SAMPLE_RATE, "1.5", &v), -1);
	cr_assert_eq(parse(CTR_OPT_SAMPLE_RATE, "nan", &v), -1);
	cr_assert_eq(parse(CTR_OPT_START, "off", &v), 0);
	cr_assert_eq(v.u, 0);
	cr_assert_eq(parse(CTR_OPT_START, "on", &v), 0);
	cr_assert_eq(v.u, 1);
	cr_assert_eq(parse(CTR_OPT_START, "maybe", &v), -1);
	cr_assert_eq(parse(CTR_OPT_FILTER, "a*;b*", &v), 0);
	cr_assert_eq(parse(CTR_OPT_FILTER, "", &v), -1);
}

Test(options, table_has_no_duplicates)
{
	for (int i = 0; i < CTR_OPT_N; i++) {
		const struct ctr_opt_def *a = &ctr_opt_defs[i];

		cr_assert_eq((int)a->id, i);
		cr_assert_eq(strncmp(a->env, "CTRACE_", 7), 0);
		for (int j = i + 1; j < CTR_OPT_N; j++) {
			const struct ctr_opt_def *b = &ctr_opt_defs[j];

			cr_assert_str_neq(a->env, b->env);
			cr_assert_str_neq(a->lng, b->lng);
			cr_assert_str_neq(a->key, b->key);
			cr_assert_neq(CTR_OPT_GETOPT_VAL(a->sh, i), CTR_OPT_GETOPT_VAL(b->sh, j));
		}
	}
}

Test(options, help_line)
{
	char line[256];

	ctr_opt_help(&ctr_opt_defs[CTR_OPT_DEPTH], line, sizeof(line));
	cr_assert_str_eq(line, "  -D, --depth N        only calls at most N deep, 1..16777216 "
			       "(CTRACE_DEPTH)\n");
}

Test(options, libcalls_optional_glob)
{
	struct ctr_opt_val v;
	char line[256];

	cr_assert_eq(ctr_opt_defs[CTR_OPT_LIBCALLS].kind, CTR_OPT_OPT_GLOBS);
	cr_assert_eq(parse(CTR_OPT_LIBCALLS, "*", &v), 0);
	cr_assert_eq(parse(CTR_OPT_LIBCALLS, "malloc,free,mem*", &v), 0);
	cr_assert_eq(parse(CTR_OPT_LIBCALLS, "", &v), -1);
	ctr_opt_help(&ctr_opt_defs[CTR_OPT_LIBCALLS], line, sizeof(line));
	cr_assert(strstr(line, "--libcalls[=GLOB]") != NULL, "%s", line);
	cr_assert(strstr(line, "(CTRACE_LIBCALLS)") != NULL, "%s", line);
}
