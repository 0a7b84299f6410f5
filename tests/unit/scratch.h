/* SPDX-License-Identifier: MIT */
/*
 * One scratch directory per unit test binary, for every file its tests make: the runner
 * creates it before the first test and points TMPDIR at it, so the worker processes it forks
 * (and the compilers and programs they run) make theirs inside; the runner removes it with
 * everything in it after the last test, whether tests passed, failed or crashed. A test takes
 * a directory of its own in it with ctr_ut_mkdtemp().
 */
#ifndef CTR_UT_SCRATCH_H
#define CTR_UT_SCRATCH_H

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

static char ctr_ut_root[PATH_MAX];

static int ctr_ut_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path); /* what cannot go stays: nothing more to do at the end */
	return 0;
}

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	const char *t = getenv("TMPDIR");

	(void)set;
	snprintf(ctr_ut_root, sizeof(ctr_ut_root), "%s/ctrace-unit.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(ctr_ut_root)) {
		perror("cannot create the unit tests' scratch directory");
		abort();
	}
	setenv("TMPDIR", ctr_ut_root, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	if (ctr_ut_root[0] && !getenv("CTRACE_TEST_KEEP"))
		nftw(ctr_ut_root, ctr_ut_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* Makes a new directory "$TMPDIR/@name-XXXXXX" (inside the binary's scratch directory) into
 * @buf (@n bytes); asserts that it could. */
static inline char *ctr_ut_mkdtemp(char *buf, size_t n, const char *name)
{
	const char *t = getenv("TMPDIR");

	snprintf(buf, n, "%s/%s-XXXXXX", t && *t ? t : "/tmp", name);
	cr_assert_not_null(mkdtemp(buf), "cannot create '%s'", buf);
	return buf;
}

#endif
