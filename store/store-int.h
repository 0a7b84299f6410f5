/* SPDX-License-Identifier: MIT */
/*
 * Private side of the trace store: the handle every backend receives, and helpers shared by the
 * backends (string duplication, filter pushdown fallbacks). Not for use outside store/.
 */
#ifndef CTR_STORE_INT_H
#define CTR_STORE_INT_H

#include "store.h"

struct ctr_store {
	const struct ctr_store_ops *ops;
	void *priv; /* backend state, owned by the backend (freed in close) */
	char *conn; /* the connection string as given; a backend may replace it (no password) */
	int saving; /* between save_begin and save_end/abort */
};

/* strdup that keeps NULL as NULL; sets *@fail on allocation failure. */
char *ctr_store_strdup(const char *s, int *fail);

/* Copies only the header fields of @run (no arrays) into a new run; NULL on ENOMEM. */
struct ctr_run *ctr_run_dup_header(const struct ctr_run *run);

/* Frees the arrays of @run and zeroes their counts, keeping the header. */
void ctr_run_clear_arrays(struct ctr_run *run);

/* Sorts @runs newest first (start_unix_ns desc, then id asc). */
void ctr_run_sort_newest(struct ctr_run **runs, size_t n);

#endif
