/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the JSONL store reader: the input becomes a store file, which is listed
 * and whose runs are loaded with their timelines. Any input must give 0 or a CTR_E* code, never
 * a crash, a leak or an out-of-bounds access.
 * Build from the repository root: clang -g -O1 -fsanitize=fuzzer,address,undefined
 *   -D_GNU_SOURCE -I. tests/fuzz/fuzz_jsonl.c plus every .c file of store/ and common/,
 *   linked with -ljansson -lsqlite3 -lzstd -lm.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz-tmp.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[PATH_MAX + 16], conn[PATH_MAX + 32];
	struct ctr_store *s = NULL;
	struct ctr_run **runs = NULL, *r = NULL;
	size_t n = 0;
	FILE *f;

	if (!path[0]) {
		snprintf(path, sizeof(path), "%s/store.jsonl", fuzz_tmpdir("jsonl"));
		snprintf(conn, sizeof(conn), "jsonl:%s", path);
	}
	if (!(f = fopen(path, "w")))
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	if (ctr_store_open(&s, conn, NULL) < 0)
		return 0;
	if (ctr_store_list(s, NULL, 0, 0, &runs, &n, NULL) == 0) {
		for (size_t i = 0; i < n; i++) {
			if (ctr_store_load(s, runs[i]->id, CTR_LOAD_TIMELINE, &r, NULL) == 0) {
				struct ctr_run *d = ctr_run_dup(r);

				if (d && !ctr_run_equal(r, d))
					abort();
				ctr_run_free(d);
				ctr_run_free(r);
			}
		}
		ctr_run_list_free(runs, n);
	}
	ctr_store_load(s, "x", 0, &r, NULL);
	ctr_run_free(r);
	ctr_store_close(s);
	return 0;
}
