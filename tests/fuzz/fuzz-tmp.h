/* SPDX-License-Identifier: MIT */
/*
 * The scratch directory of a fuzz harness: made once under $TMPDIR (default /tmp) and removed
 * with everything in it when the harness exits (libFuzzer ends with exit() after
 * -max_total_time and on -runs), so `make fuzz` and the fuzz smoke of test_reliability.sh leave
 * nothing behind. A harness that crashes cannot clean up: test_reliability.sh points TMPDIR
 * into its own scratch directory for that.
 */
#ifndef CTR_FUZZ_TMP_H
#define CTR_FUZZ_TMP_H

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char fuzz_tmp[PATH_MAX];

static int fuzz_tmp_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path); /* what cannot go is left: nothing more can be done at exit */
	return 0;
}

static void fuzz_tmp_remove(void)
{
	if (fuzz_tmp[0])
		nftw(fuzz_tmp, fuzz_tmp_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* The harness's scratch directory "$TMPDIR/ctrace-fuzz-NAME.XXXXXX", made at the first call
 * (aborts if it cannot be); the same path afterwards. */
static const char *fuzz_tmpdir(const char *name)
{
	const char *t = getenv("TMPDIR");

	if (fuzz_tmp[0])
		return fuzz_tmp;
	snprintf(fuzz_tmp, sizeof(fuzz_tmp), "%s/ctrace-fuzz-%s.XXXXXX", t && *t ? t : "/tmp",
		 name);
	if (!mkdtemp(fuzz_tmp))
		abort();
	atexit(fuzz_tmp_remove);
	return fuzz_tmp;
}

#endif
