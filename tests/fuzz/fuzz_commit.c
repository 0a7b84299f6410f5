/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the whole commit of a hostile run directory: the input is split at
 * "@@@@" into run.meta, one event file (t-1-0-1.ev), its module map (p-1-0.maps), its process
 * file (p-1-0.meta) and a crash file (p-1-0.crash); missing parts are missing files. They are
 * written into a temporary directory and committed (--keep) into a memory store, whose run is
 * then loaded with its timeline and walked. Any input must give 0 or a CTR_E* code, never a
 * crash, a hang, a leak or an out-of-bounds access.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz-tmp.h"
#include "store/store.h"
#include "store/timeline.h"
#include "tools/ingest/commit.h"

static const char *const names[] = {"run.meta", "t-1-0-1.ev", "p-1-0.maps", "p-1-0.meta",
				    "p-1-0.crash"};
#define NPARTS (sizeof(names) / sizeof(names[0]))

static char dir[PATH_MAX];

static void clear_dir(void)
{
	char path[PATH_MAX + 32];

	for (size_t i = 0; i < NPARTS; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
}

static void walk_timeline(const struct ctr_run *r)
{
	for (size_t t = 0; t < r->n_threads; t++) {
		struct ctr_tl_iter *it = NULL;
		struct ctr_event ev;

		if (ctr_tl_iter_open(&it, r, r->threads[t].id, NULL) == 0)
			while (ctr_tl_iter_next(it, &ev, NULL) > 0)
				;
		ctr_tl_iter_close(it);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	struct ctr_commit_opts o = {.keep = 1};
	struct ctr_store *s = NULL;
	struct ctr_run *r = NULL;
	char id[CTR_RUN_ID_MAX], path[PATH_MAX + 32];
	struct ctr_err e;
	int rc;

	if (!dir[0])
		snprintf(dir, sizeof(dir), "%s", fuzz_tmpdir("commit"));
	clear_dir();
	for (size_t i = 0; i < NPARTS && p <= end; i++) {
		const uint8_t *sep = memmem(p, (size_t)(end - p), "@@@@", 4);
		const uint8_t *q = sep ? sep : end;
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (!(f = fopen(path, "w")))
			abort();
		fwrite(p, 1, (size_t)(q - p), f);
		fclose(f);
		if (!sep)
			break;
		p = sep + 4;
	}
	if (ctr_store_open(&s, "memory:", NULL) < 0)
		abort();
	ctr_err_clear(&e);
	rc = ctr_commit_dir(s, dir, &o, id, &e);
	if (rc > 0 || (rc < 0 && e.code != rc)) {
		fprintf(stderr, "fuzz_commit: returned %d, error code %d, message '%s'\n", rc,
			e.code, e.msg);
		abort(); /* a failure must carry its CTR_E* code and message */
	}
	if (rc == 0 && ctr_store_load(s, id, CTR_LOAD_TIMELINE, &r, NULL) == 0) {
		for (size_t i = 0; i < r->n_nodes; i++)
			if (r->nodes[i].self_ns > r->nodes[i].total_ns ||
			    r->nodes[i].raw_self_ns > r->nodes[i].raw_total_ns)
				abort(); /* compensated or raw self above total */
		walk_timeline(r);
		ctr_run_free(r);
	}
	ctr_store_close(s);
	clear_dir();
	return 0;
}
