/* SPDX-License-Identifier: MIT */
/*
 * bench/pgsql.sh helper: saves N copies of the newest run of store SRC into store DST through
 * the store API (one transaction each), with ids bench-NNNNNN, start times one second apart
 * and metadata branch=b(i % 10). Usage: store_fill SRC DST N
 * `store_fill --open CONN` only opens and closes the store: the floor of every command on it
 * (process start, for PostgreSQL loading libpq, connecting and the schema check).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

int main(int argc, char **argv)
{
	struct ctr_store *src = NULL, *dst = NULL;
	struct ctr_run **l = NULL, *r = NULL;
	struct ctr_err e;
	size_t n = 0;
	long count = argc > 3 ? atol(argv[3]) : 0;
	int ret = 1;

	ctr_err_clear(&e);
	if (argc == 3 && !strcmp(argv[1], "--open")) {
		ret = ctr_store_open(&dst, argv[2], &e) ? 1 : 0;
		goto out;
	}
	if (argc != 4 || ctr_store_open(&src, argv[1], &e) || ctr_store_open(&dst, argv[2], &e) ||
	    ctr_store_list(src, NULL, 1, 0, &l, &n, &e) || !n ||
	    ctr_store_load(src, l[0]->id, CTR_LOAD_TIMELINE, &r, &e))
		goto out;
	for (size_t i = 0; i < r->n_meta; i++)
		if (!strcmp(r->meta[i].key, "branch"))
			r->meta[i].key[0] = '_'; /* ours below wins */
	struct ctr_kv *m = realloc(r->meta, (r->n_meta + 1) * sizeof(*m));
	if (!m)
		goto out;
	r->meta = m;
	m[r->n_meta].key = strdup("branch");
	m[r->n_meta].value = strdup("b0");
	r->n_meta++;
	for (long i = 0; i < count; i++) {
		snprintf(r->id, sizeof(r->id), "bench-%06ld", i);
		r->start_unix_ns = 1700000000000000000LL + i * 1000000000LL;
		m[r->n_meta - 1].value[1] = (char)('0' + i % 10);
		if (ctr_store_save(dst, r, &e) < 0)
			goto out;
	}
	ret = 0;
out:
	if (ret)
		fprintf(stderr, "store_fill: %s\n",
			e.msg[0] ? e.msg : "usage: store_fill SRC DST N");
	ctr_run_free(r);
	ctr_run_list_free(l, n);
	ctr_store_close(src);
	ctr_store_close(dst);
	return ret;
}
