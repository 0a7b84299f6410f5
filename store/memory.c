/* SPDX-License-Identifier: MIT */
/*
 * In-process store backend ("memory:"): a list of deep-copied runs that lives as long as the
 * handle. Used by tests and as a staging area; every handle is a new, empty store.
 */
#include "store-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A side record (ctr_store_save_aux). */
struct mem_aux {
	char id[CTR_RUN_ID_MAX];
	char name[33];
	unsigned char *data;
	size_t size;
};

struct mem_store {
	struct ctr_run **runs;
	size_t n, cap;
	struct mem_aux *aux;
	size_t n_aux;
	struct ctr_chunk *chunks; /* chunks of the save in progress */
	size_t n_chunks, cap_chunks;
	char pending_id[CTR_RUN_ID_MAX];
};

static int mem_open(struct ctr_store *s, const char *path, struct ctr_err *e)
{
	s->priv = calloc(1, sizeof(struct mem_store));
	if (!s->priv)
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory opening memory store");
	return 0;
}

static void mem_drop_pending(struct mem_store *m)
{
	for (size_t i = 0; i < m->n_chunks; i++)
		free(m->chunks[i].data);
	free(m->chunks);
	m->chunks = NULL;
	m->n_chunks = m->cap_chunks = 0;
	m->pending_id[0] = '\0';
}

static void mem_close(struct ctr_store *s)
{
	struct mem_store *m = s->priv;

	if (!m)
		return;
	mem_drop_pending(m);
	for (size_t i = 0; i < m->n; i++)
		ctr_run_free(m->runs[i]);
	free(m->runs);
	for (size_t i = 0; i < m->n_aux; i++)
		free(m->aux[i].data);
	free(m->aux);
	free(m);
	s->priv = NULL;
}

static ssize_t mem_find(struct mem_store *m, const char *id)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->runs[i]->id, id))
			return (ssize_t)i;
	return -1;
}

static int mem_save_begin(struct ctr_store *s, const struct ctr_run *hdr, struct ctr_err *e)
{
	struct mem_store *m = s->priv;

	if (mem_find(m, hdr->id) >= 0)
		return ctr_err_set(e, CTR_EEXIST, 0, "run '%s' is already in store '%s'", hdr->id,
				   s->conn);
	mem_drop_pending(m);
	snprintf(m->pending_id, sizeof(m->pending_id), "%s", hdr->id);
	return 0;
}

static int mem_save_chunk(struct ctr_store *s, const struct ctr_chunk *c, struct ctr_err *e)
{
	struct mem_store *m = s->priv;
	struct ctr_chunk *d;

	if (m->n_chunks == m->cap_chunks) {
		size_t cap = m->cap_chunks ? m->cap_chunks * 2 : 16;
		struct ctr_chunk *p = realloc(m->chunks, cap * sizeof(*p));

		if (!p)
			return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory saving a chunk");
		m->chunks = p;
		m->cap_chunks = cap;
	}
	d = &m->chunks[m->n_chunks];
	*d = *c;
	d->data = NULL;
	if (c->size) {
		if (!(d->data = malloc(c->size)))
			return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory saving a chunk");
		memcpy(d->data, c->data, c->size);
	}
	m->n_chunks++;
	return 0;
}

static int mem_save_end(struct ctr_store *s, const struct ctr_run *run, struct ctr_err *e)
{
	struct mem_store *m = s->priv;
	struct ctr_run tmp = *run, *d;

	if (strcmp(run->id, m->pending_id))
		return ctr_err_set(e, CTR_EUSAGE, 0,
				   "save_end of run '%s' after save_begin of '%s'", run->id,
				   m->pending_id);
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct ctr_run **p = realloc(m->runs, cap * sizeof(*p));

		if (!p)
			return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory saving run '%s'",
					   run->id);
		m->runs = p;
		m->cap = cap;
	}
	tmp.chunks = NULL;
	tmp.n_chunks = 0;
	if (!(d = ctr_run_dup(&tmp)))
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory saving run '%s'", run->id);
	d->chunks = m->chunks; /* ownership moves to the run */
	d->n_chunks = m->n_chunks;
	m->chunks = NULL;
	m->n_chunks = m->cap_chunks = 0;
	m->pending_id[0] = '\0';
	m->runs[m->n++] = d;
	return 0;
}

static void mem_save_abort(struct ctr_store *s)
{
	mem_drop_pending(s->priv);
}

static int mem_load(struct ctr_store *s, const char *id, unsigned what, struct ctr_run **out,
		    struct ctr_err *e)
{
	struct mem_store *m = s->priv;
	ssize_t i = mem_find(m, id);
	struct ctr_run tmp;

	if (i < 0)
		return ctr_err_set(e, CTR_ENOTFOUND, 0, "no run '%s' in store '%s'", id, s->conn);
	tmp = *m->runs[i];
	if (!(what & CTR_LOAD_TIMELINE)) {
		tmp.chunks = NULL;
		tmp.n_chunks = 0;
	}
	if (!(*out = ctr_run_dup(&tmp)))
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory loading run '%s'", id);
	return 0;
}

static int mem_list(struct ctr_store *s, const struct ctr_filter *f, size_t limit, size_t offset,
		    struct ctr_run ***out, size_t *n, struct ctr_err *e)
{
	struct mem_store *m = s->priv;
	struct ctr_run **sel = NULL, **res = NULL;
	size_t ns = 0, nr = 0;
	int ret = 0;

	if (m->n && !(sel = malloc(m->n * sizeof(*sel))))
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory listing runs");
	for (size_t i = 0; i < m->n; i++)
		if (ctr_filter_match(f, m->runs[i]))
			sel[ns++] = m->runs[i];
	ctr_run_sort_newest(sel, ns);
	if (offset < ns) {
		nr = ns - offset;
		if (limit && nr > limit)
			nr = limit;
	}
	if (nr && !(res = calloc(nr, sizeof(*res)))) {
		ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory listing runs");
		goto out;
	}
	for (size_t i = 0; i < nr; i++) {
		if (!(res[i] = ctr_run_dup_header(sel[offset + i]))) {
			ctr_run_list_free(res, i);
			res = NULL;
			nr = 0;
			ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory listing runs");
			goto out;
		}
	}
	*out = res;
	*n = nr;
out:
	free(sel);
	return ret;
}

/* The runs are whole in memory: each matching one is scanned for the metric. */
static int mem_series(struct ctr_store *s, const struct ctr_filter *f, const char *fn,
		      enum ctr_metric m, struct ctr_series_point **out, size_t *n,
		      struct ctr_err *e)
{
	struct mem_store *ms = s->priv;
	struct ctr_series_point *pts = NULL;
	size_t np = 0;

	if (ms->n && !(pts = calloc(ms->n, sizeof(*pts))))
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading a series");
	for (size_t i = 0; i < ms->n; i++) {
		if (!ctr_filter_match(f, ms->runs[i]))
			continue;
		if (ctr_series_point_set(&pts[np], ms->runs[i], fn, m) < 0) {
			ctr_series_free(pts, np);
			return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading a series");
		}
		np++;
	}
	ctr_series_sort_oldest(pts, np);
	if (!np) {
		free(pts);
		pts = NULL;
	}
	*out = pts;
	*n = np;
	return 0;
}

static int mem_remove(struct ctr_store *s, const char *id, struct ctr_err *e)
{
	struct mem_store *m = s->priv;
	ssize_t i = mem_find(m, id);

	if (i < 0)
		return ctr_err_set(e, CTR_ENOTFOUND, 0, "no run '%s' in store '%s'", id, s->conn);
	ctr_run_free(m->runs[i]);
	memmove(&m->runs[i], &m->runs[i + 1], (m->n - (size_t)i - 1) * sizeof(*m->runs));
	m->n--;
	for (size_t k = 0; k < m->n_aux;) {
		if (strcmp(m->aux[k].id, id)) {
			k++;
			continue;
		}
		free(m->aux[k].data);
		m->aux[k] = m->aux[--m->n_aux];
	}
	return 0;
}

static struct mem_aux *mem_aux_find(struct mem_store *m, const char *id, const char *name)
{
	for (size_t k = 0; k < m->n_aux; k++)
		if (!strcmp(m->aux[k].id, id) && !strcmp(m->aux[k].name, name))
			return &m->aux[k];
	return NULL;
}

static int mem_save_aux(struct ctr_store *s, const char *id, const char *name,
			const unsigned char *data, size_t size, struct ctr_err *e)
{
	struct mem_store *m = s->priv;
	struct mem_aux *a;
	unsigned char *copy;

	if (mem_find(m, id) < 0)
		return ctr_err_set(e, CTR_ENOTFOUND, 0, "no run '%s' in store '%s'", id, s->conn);
	if (!(copy = malloc(size ? size : 1)))
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory saving run '%s'", id);
	memcpy(copy, data, size);
	if (!(a = mem_aux_find(m, id, name))) {
		void *p = realloc(m->aux, (m->n_aux + 1) * sizeof(*m->aux));

		if (!p) {
			free(copy);
			return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory saving run '%s'", id);
		}
		m->aux = p;
		a = &m->aux[m->n_aux++];
		snprintf(a->id, sizeof(a->id), "%s", id);
		snprintf(a->name, sizeof(a->name), "%s", name);
		a->data = NULL;
	}
	free(a->data);
	a->data = copy;
	a->size = size;
	return 0;
}

static int mem_load_aux(struct ctr_store *s, const char *id, const char *name, unsigned char **data,
			size_t *size, struct ctr_err *e)
{
	struct mem_aux *a = mem_aux_find(s->priv, id, name);

	if (!a)
		return CTR_ENOTFOUND;
	if (!(*data = malloc(a->size ? a->size : 1)))
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory loading run '%s'", id);
	memcpy(*data, a->data, a->size);
	*size = a->size;
	return 0;
}

const struct ctr_store_ops ctr_store_memory = {
    .name = "memory",
    .open = mem_open,
    .close = mem_close,
    .save_begin = mem_save_begin,
    .save_chunk = mem_save_chunk,
    .save_end = mem_save_end,
    .save_abort = mem_save_abort,
    .load = mem_load,
    .list = mem_list,
    .remove = mem_remove,
    .series = mem_series,
    .save_aux = mem_save_aux,
    .load_aux = mem_load_aux,
};
