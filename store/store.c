/* SPDX-License-Identifier: MIT */
/*
 * Trace store front end: parses connection strings and dispatches to a backend's ops table,
 * wraps the streaming save so a failure always discards, resolves run specs ("latest~2", id
 * prefixes). It sits on top of the backends; the struct ctr_run helpers (free, deep copy,
 * equality, filter matching, series points) and the path check that every backend and tool
 * shares are in store-util.c, so no backend calls back into this file.
 */
#include "store-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ctr_store_default(void)
{
	const char *env = getenv("CTRACE_STORE");

	return env && *env ? env : "sqlite:./ctrace.db";
}

int ctr_store_open(struct ctr_store **out, const char *conn, struct ctr_err *e)
{
	return ctr_store_open_ex(out, conn, 0, e);
}

int ctr_store_open_ex(struct ctr_store **out, const char *conn, unsigned flags, struct ctr_err *e)
{
	const struct ctr_store_ops *ops = NULL;
	const char *path = NULL;
	struct ctr_store *s = NULL;
	int ret;

	*out = NULL;
	if (!conn || !*conn)
		return ctr_err_set(e, CTR_EUSAGE, 0, "empty store connection string");
	if (!strncmp(conn, "sqlite:", 7)) {
		ops = &ctr_store_sqlite;
		path = conn + 7;
	} else if (!strncmp(conn, "jsonl:", 6)) {
		ops = &ctr_store_jsonl;
		path = conn + 6;
	} else if (!strncmp(conn, "memory:", 7)) {
		ops = &ctr_store_memory;
		path = conn + 7;
	} else if (!strncmp(conn, "postgresql://", 13) || !strncmp(conn, "postgres://", 11)) {
		ops = &ctr_store_pgsql; /* libpq parses the whole URI */
		path = conn;
	} else {
		/* "scheme:rest" with a scheme made of letters only is an unknown scheme; anything
		 * else (a path like "./a:b.db" or "/x/y") is a bare sqlite path. */
		const char *colon = strchr(conn, ':');
		size_t i = 0;

		if (colon && colon > conn) {
			for (i = 0; conn + i < colon; i++)
				if (!((conn[i] >= 'a' && conn[i] <= 'z') ||
				      (conn[i] >= 'A' && conn[i] <= 'Z') ||
				      (i > 0 && conn[i] >= '0' && conn[i] <= '9') ||
				      conn[i] == '+' || conn[i] == '-'))
					break;
			if (conn + i == colon)
				return ctr_err_set(e, CTR_EUSAGE, 0,
						   "unknown store scheme '%.*s' in '%s' (expected "
						   "sqlite:PATH, jsonl:PATH, memory: or "
						   "postgresql://...)",
						   (int)(colon - conn), conn, conn);
		}
		ops = &ctr_store_sqlite;
		path = conn;
	}
	if (ops != &ctr_store_memory && !*path)
		return ctr_err_set(e, CTR_EUSAGE, 0, "store '%s' has no path", conn);

	s = calloc(1, sizeof(*s));
	if (!s || !(s->conn = strdup(conn))) {
		free(s);
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory opening store '%s'", conn);
	}
	s->ops = ops;
	s->flags = flags;
	ret = ops->open(s, path, e);
	if (ret < 0) {
		free(s->conn);
		free(s);
		return ret;
	}
	*out = s;
	return 0;
}

void ctr_store_close(struct ctr_store *s)
{
	if (!s)
		return;
	if (s->saving)
		s->ops->save_abort(s);
	s->ops->close(s);
	free(s->conn);
	free(s);
}

const char *ctr_store_backend(const struct ctr_store *s)
{
	return s ? s->ops->name : "";
}

const char *ctr_store_name(const struct ctr_store *s)
{
	return s && s->conn ? s->conn : "";
}

static int check_id(const char *id, struct ctr_err *e)
{
	if (!memchr(id, '\0', CTR_RUN_ID_MAX) || !*id)
		return ctr_err_set(e, CTR_EUSAGE, 0, "run has no valid id");
	return 0;
}

int ctr_store_save_begin(struct ctr_store *s, const struct ctr_run *hdr, struct ctr_err *e)
{
	int ret;

	if (s->saving)
		return ctr_err_set(e, CTR_EUSAGE, 0, "a save is already in progress on store '%s'",
				   s->conn);
	if ((ret = check_id(hdr->id, e)) < 0)
		return ret;
	for (size_t i = 0; i < hdr->n_meta; i++)
		if (!ctr_meta_key_valid(hdr->meta[i].key,
					hdr->meta[i].key ? strlen(hdr->meta[i].key) : 0)) {
			ctr_err_ctx(e, NULL, hdr->id, -1);
			return ctr_err_set(
			    e, CTR_EFORMAT, 0,
			    "run '%s' has a metadata key that is empty or holds '=' or "
			    "a control character",
			    hdr->id);
		}
	ret = s->ops->save_begin(s, hdr, e);
	if (ret < 0) {
		ctr_err_ctx(e, NULL, hdr->id, -1);
		return ret;
	}
	s->saving = 1;
	return 0;
}

int ctr_store_save_chunk(struct ctr_store *s, const struct ctr_chunk *c, struct ctr_err *e)
{
	int ret;

	if (!s->saving)
		return ctr_err_set(e, CTR_EUSAGE, 0, "save_chunk without save_begin");
	ret = s->ops->save_chunk(s, c, e);
	if (ret < 0)
		ctr_store_save_abort(s);
	return ret;
}

int ctr_store_save_end(struct ctr_store *s, const struct ctr_run *run, struct ctr_err *e)
{
	int ret;

	if (!s->saving)
		return ctr_err_set(e, CTR_EUSAGE, 0, "save_end without save_begin");
	if ((ret = check_id(run->id, e)) < 0 || (ret = ctr_run_refs_check(run, e)) < 0) {
		ctr_store_save_abort(s);
		return ret;
	}
	ret = s->ops->save_end(s, run, e);
	if (ret < 0) {
		ctr_err_ctx(e, NULL, run->id, -1);
		ctr_store_save_abort(s);
		return ret;
	}
	s->saving = 0;
	return 0;
}

void ctr_store_save_abort(struct ctr_store *s)
{
	if (!s || !s->saving)
		return;
	s->ops->save_abort(s);
	s->saving = 0;
}

int ctr_store_save(struct ctr_store *s, const struct ctr_run *run, struct ctr_err *e)
{
	int ret = ctr_store_save_begin(s, run, e);

	for (size_t i = 0; ret == 0 && i < run->n_chunks; i++)
		ret = ctr_store_save_chunk(s, &run->chunks[i], e);
	if (ret == 0)
		ret = ctr_store_save_end(s, run, e);
	return ret;
}

int ctr_store_load(struct ctr_store *s, const char *id, unsigned what, struct ctr_run **out,
		   struct ctr_err *e)
{
	int ret;

	*out = NULL;
	if (!id || !*id)
		return ctr_err_set(e, CTR_EUSAGE, 0, "no run id given");
	ret = s->ops->load(s, id, what, out, e);
	/* a store written by anything else (an edited JSONL file) reaches no view unchecked */
	if (!ret && (ret = ctr_run_refs_check(*out, e)) < 0) {
		ctr_run_free(*out);
		*out = NULL;
	}
	return ret;
}

int ctr_store_load_meta(struct ctr_store *s, struct ctr_run *run, struct ctr_err *e)
{
	struct ctr_run *full = NULL;
	int ret;

	for (size_t i = 0; i < run->n_meta; i++) {
		free(run->meta[i].key);
		free(run->meta[i].value);
	}
	free(run->meta);
	run->meta = NULL;
	run->n_meta = 0;
	if (s->ops->load_meta)
		return s->ops->load_meta(s, run->id, run, e);
	if ((ret = ctr_store_load(s, run->id, 0, &full, e)))
		return ret;
	run->meta = full->meta;
	run->n_meta = full->n_meta;
	full->meta = NULL;
	full->n_meta = 0;
	ctr_run_free(full);
	return 0;
}

int ctr_store_can_stream(const struct ctr_store *s)
{
	return s && s->ops->load_chunk != NULL;
}

static int aux_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n >= 1 && n <= 32 && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

int ctr_store_save_aux(struct ctr_store *s, const char *id, const char *name,
		       const unsigned char *data, size_t size, struct ctr_err *e)
{
	if (!aux_name_ok(name))
		return ctr_err_set(e, CTR_EUSAGE, 0, "bad side record name '%s'", name);
	return s->ops->save_aux(s, id, name, data, size, e);
}

int ctr_store_load_aux(struct ctr_store *s, const char *id, const char *name, unsigned char **data,
		       size_t *size, struct ctr_err *e)
{
	*data = NULL;
	*size = 0;
	if (!aux_name_ok(name))
		return ctr_err_set(e, CTR_EUSAGE, 0, "bad side record name '%s'", name);
	return s->ops->load_aux(s, id, name, data, size, e);
}

int ctr_store_load_chunk(struct ctr_store *s, const char *id, uint32_t thread, uint32_t seq,
			 struct ctr_chunk *out, struct ctr_err *e)
{
	memset(out, 0, sizeof(*out));
	if (!ctr_store_can_stream(s))
		return ctr_err_set(e, CTR_EUSAGE, 0, "store '%s' cannot read a timeline in chunks",
				   ctr_store_name(s));
	return s->ops->load_chunk(s, id, thread, seq, out, e);
}

int ctr_store_list(struct ctr_store *s, const struct ctr_filter *f, size_t limit, size_t offset,
		   struct ctr_run ***out, size_t *n, struct ctr_err *e)
{
	*out = NULL;
	*n = 0;
	return s->ops->list(s, f, limit, offset, out, n, e);
}

int ctr_store_remove(struct ctr_store *s, const char *id, struct ctr_err *e)
{
	if (!id || !*id)
		return ctr_err_set(e, CTR_EUSAGE, 0, "no run id given");
	return s->ops->remove(s, id, e);
}

/* ---- series ---- */

static const char *const metric_names[CTR_METRIC_COUNT] = {
    [CTR_METRIC_SELF] = "self",
    [CTR_METRIC_TOTAL] = "total",
    [CTR_METRIC_CALLS] = "calls",
    [CTR_METRIC_P99] = "p99",
};

const char *ctr_metric_name(enum ctr_metric m)
{
	return (unsigned)m < CTR_METRIC_COUNT ? metric_names[m] : NULL;
}

int ctr_metric_parse(const char *name, enum ctr_metric *m)
{
	for (unsigned i = 0; name && i < CTR_METRIC_COUNT; i++)
		if (metric_names[i] && !strcmp(name, metric_names[i])) {
			*m = (enum ctr_metric)i;
			return 0;
		}
	return CTR_EUSAGE;
}

/* The series of a backend without a series op: list, then load each run (no timeline). */
static int series_by_loading(struct ctr_store *s, const struct ctr_filter *f, const char *fn,
			     enum ctr_metric m, struct ctr_series_point **out, size_t *n,
			     struct ctr_err *e)
{
	struct ctr_run **runs = NULL, *full = NULL;
	struct ctr_series_point *pts = NULL;
	size_t nr = 0, np = 0;
	int ret;

	if ((ret = s->ops->list(s, f, 0, 0, &runs, &nr, e)) < 0)
		return ret;
	if (nr && !(pts = calloc(nr, sizeof(*pts)))) {
		ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading a series");
		goto out;
	}
	for (size_t i = 0; i < nr; i++, np++) {
		if ((ret = s->ops->load(s, runs[i]->id, 0, &full, e)) < 0)
			goto out;
		ret = ctr_series_point_set(&pts[np], full, fn, m);
		ctr_run_free(full);
		if (ret < 0) {
			ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading a series");
			goto out;
		}
	}
	ctr_series_sort_oldest(pts, np);
	*out = pts;
	*n = np;
	pts = NULL;
out:
	ctr_series_free(pts, np);
	ctr_run_list_free(runs, nr);
	return ret;
}

int ctr_store_series(struct ctr_store *s, const struct ctr_filter *f, const char *fn,
		     enum ctr_metric m, struct ctr_series_point **out, size_t *n, struct ctr_err *e)
{
	struct ctr_filter g;

	*out = NULL;
	*n = 0;
	if (!fn || !*fn)
		return ctr_err_set(e, CTR_EUSAGE, 0, "no function given for a series");
	if (!ctr_metric_name(m))
		return ctr_err_set(e, CTR_EUSAGE, 0, "unknown metric %d", (int)m);
	/* the backends see the function as a filter too: only runs that have it */
	if (f)
		g = *f;
	else
		memset(&g, 0, sizeof(g));
	g.function = fn;
	if (s->ops->series)
		return s->ops->series(s, &g, fn, m, out, n, e);
	return series_by_loading(s, &g, fn, m, out, n, e);
}

int ctr_store_resolve(struct ctr_store *s, const char *spec, char id[CTR_RUN_ID_MAX],
		      struct ctr_err *e)
{
	struct ctr_run **runs = NULL;
	size_t n = 0, match = 0, hit = 0, skip = 0, plen;
	int ret;

	id[0] = '\0';
	if (!spec || !*spec)
		return ctr_err_set(e, CTR_EUSAGE, 0, "empty run spec");
	if (!strncmp(spec, "latest", 6) && (spec[6] == '\0' || spec[6] == '~')) {
		if (spec[6] == '~') {
			char *end;

			errno = 0;
			unsigned long long v = strtoull(spec + 7, &end, 10);
			if (!spec[7] || *end || errno || spec[7] == '-' || v > 1000000000ull)
				return ctr_err_set(e, CTR_EUSAGE, 0,
						   "bad run spec '%s' (expected latest~N)", spec);
			skip = (size_t)v;
		}
		ret = ctr_store_list(s, NULL, 1, skip, &runs, &n, e);
		if (ret < 0)
			return ret;
		if (n == 0) {
			ctr_run_list_free(runs, n);
			return ctr_err_set(e, CTR_ENOTFOUND, 0, "no run '%s' in store '%s'", spec,
					   s->conn);
		}
		snprintf(id, CTR_RUN_ID_MAX, "%s", runs[0]->id);
		ctr_run_list_free(runs, n);
		return 0;
	}

	ret = ctr_store_list(s, NULL, 0, 0, &runs, &n, e);
	if (ret < 0)
		return ret;
	plen = strlen(spec);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(runs[i]->id, spec)) {
			match = 1;
			hit = i;
			break;
		}
		if (!strncmp(runs[i]->id, spec, plen)) {
			if (!match)
				hit = i;
			match++;
		}
	}
	if (match == 1)
		snprintf(id, CTR_RUN_ID_MAX, "%s", runs[hit]->id);
	ctr_run_list_free(runs, n);
	if (match == 0)
		return ctr_err_set(e, CTR_ENOTFOUND, 0, "no run '%s' in store '%s'", spec, s->conn);
	if (match > 1)
		return ctr_err_set(e, CTR_EUSAGE, 0,
				   "run prefix '%s' is ambiguous: %zu runs match in store '%s'",
				   spec, match, s->conn);
	return 0;
}
