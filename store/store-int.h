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
	void *priv;	/* backend state, owned by the backend (freed in close) */
	char *conn;	/* the connection string as given; a backend may replace it (no password) */
	int saving;	/* between save_begin and save_end/abort */
	unsigned flags; /* CTR_STORE_* given to ctr_store_open_ex() */
};

/* Checks the store file @path before a backend opens it: *@exists says whether something is
 * there; a symlink is refused (CTR_ESTORE) unless s->flags has CTR_STORE_LINK_OK and the caller
 * owns the link, in which case *@real is its target (caller frees; else NULL). A path that is
 * neither missing nor a regular file is CTR_ESTORE. */
int ctr_store_check_path(const struct ctr_store *s, const char *path, int *exists, char **real,
			 struct ctr_err *e);

/* strdup that keeps NULL as NULL; sets *@fail on allocation failure. */
char *ctr_store_strdup(const char *s, int *fail);

/* Copies only the header fields of @run (no arrays) into a new run; NULL on ENOMEM. */
struct ctr_run *ctr_run_dup_header(const struct ctr_run *run);

/* Frees the arrays of @run and zeroes their counts, keeping the header. */
void ctr_run_clear_arrays(struct ctr_run *run);

/* Sorts @runs newest first (start_unix_ns desc, then id asc). */
void ctr_run_sort_newest(struct ctr_run **runs, size_t n);

/* Fills @pt from the whole run @r (functions and nodes loaded): a copy of its header and
 * metadata, and ctr_run_metric(). 0 or CTR_ENOMEM (then pt->run is NULL). */
int ctr_series_point_set(struct ctr_series_point *pt, const struct ctr_run *r, const char *fn,
			 enum ctr_metric m);

/* Sorts @pts oldest first: start ascending, then id descending (the reverse of list). */
void ctr_series_sort_oldest(struct ctr_series_point *pts, size_t n);

#endif
