/* SPDX-License-Identifier: MIT */
/*
 * What the store's backends and the tools share (store.h, store-int.h): the check of a store's
 * file path, the struct ctr_run helpers (free, deep copy, equality, filter matching, sorting)
 * and trend series points. Below store.c's dispatch and every backend, calling neither.
 */
#include "store-int.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ctr_store_check_path(const struct ctr_store *s, const char *path, int *exists, char **real,
			 struct ctr_err *e)
{
	struct stat st;

	*exists = 0;
	*real = NULL;
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		ctr_err_ctx(e, path, NULL, -1);
		return ctr_err_set(e, CTR_ESTORE, errno, "cannot open store '%s': %s", path,
				   strerror(errno));
	}
	if (S_ISLNK(st.st_mode)) {
		ctr_err_ctx(e, path, NULL, -1);
		if (!(s->flags & CTR_STORE_LINK_OK))
			return ctr_err_set(
			    e, CTR_ESTORE, ELOOP,
			    "store '%s' is a symlink: refusing (name it with --store "
			    "to use it)",
			    path);
		if (st.st_uid != geteuid())
			return ctr_err_set(e, CTR_ESTORE, EPERM,
					   "store '%s' is a symlink owned by uid %u, not by you: "
					   "refusing",
					   path, (unsigned)st.st_uid);
		if (!(*real = realpath(path, NULL)))
			return ctr_err_set(e, errno == ENOMEM ? CTR_ENOMEM : CTR_ESTORE, errno,
					   "cannot resolve store symlink '%s': %s", path,
					   strerror(errno));
		if (stat(*real, &st) != 0) {
			free(*real);
			*real = NULL;
			return ctr_err_set(e, CTR_ESTORE, errno, "cannot open store '%s': %s", path,
					   strerror(errno));
		}
	}
	if (!S_ISREG(st.st_mode)) {
		free(*real);
		*real = NULL;
		ctr_err_ctx(e, path, NULL, -1);
		return ctr_err_set(e, CTR_ESTORE, 0, "cannot open store '%s': not a regular file",
				   path);
	}
	*exists = 1;
	return 0;
}

void ctr_series_free(struct ctr_series_point *pts, size_t n)
{
	for (size_t i = 0; pts && i < n; i++)
		ctr_run_free(pts[i].run);
	free(pts);
}

static int fn_is(const struct ctr_function *f, const char *name)
{
	return (f->name && !strcmp(f->name, name)) ||
	       (f->linkage_name && *f->linkage_name && !strcmp(f->linkage_name, name));
}

int ctr_run_metric(const struct ctr_run *r, const char *fn, enum ctr_metric m, double *out)
{
	unsigned char *is = calloc(r->n_functions + 1, 1), *inside = calloc(r->n_nodes + 1, 1);
	double v = 0;
	int ret = 0;

	if (!is || !inside) {
		ret = CTR_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < r->n_functions; i++)
		is[i] = (unsigned char)fn_is(&r->functions[i], fn);
	for (size_t i = 0; i < r->n_nodes; i++) { /* parents come before their children */
		const struct ctr_node *n = &r->nodes[i];
		int mine = n->function < r->n_functions && is[n->function];
		uint32_t p = n->parent;

		if (p != CTR_NONE && p < i)
			inside[i] = inside[p] || (r->nodes[p].function < r->n_functions &&
						  is[r->nodes[p].function]);
		if (!mine)
			continue;
		if (m == CTR_METRIC_SELF)
			v += (double)n->self_ns;
		else if (m == CTR_METRIC_CALLS)
			v += (double)n->calls;
		else if (m == CTR_METRIC_TOTAL && !inside[i])
			v += (double)n->total_ns;
	}
	for (size_t i = 0; m == CTR_METRIC_P99 && i < r->n_functions; i++)
		if (is[i] && (double)r->functions[i].p99_ns > v)
			v = (double)r->functions[i].p99_ns;
	*out = v;
out:
	free(is);
	free(inside);
	return ret;
}

int ctr_series_point_set(struct ctr_series_point *pt, const struct ctr_run *r, const char *fn,
			 enum ctr_metric m)
{
	int fail = 0;

	pt->run = NULL;
	if (ctr_run_metric(r, fn, m, &pt->value) < 0 || !(pt->run = ctr_run_dup_header(r)))
		return CTR_ENOMEM;
	if (r->n_meta && !(pt->run->meta = calloc(r->n_meta, sizeof(*pt->run->meta))))
		fail = 1;
	for (size_t i = 0; !fail && i < r->n_meta; i++) {
		pt->run->n_meta = i + 1;
		pt->run->meta[i].key = ctr_store_strdup(r->meta[i].key, &fail);
		pt->run->meta[i].value = ctr_store_strdup(r->meta[i].value, &fail);
	}
	if (fail) {
		ctr_run_free(pt->run);
		pt->run = NULL;
		return CTR_ENOMEM;
	}
	return 0;
}

static int cmp_oldest(const void *pa, const void *pb)
{
	const struct ctr_series_point *a = pa, *b = pb;

	if (a->run->start_unix_ns != b->run->start_unix_ns)
		return a->run->start_unix_ns < b->run->start_unix_ns ? -1 : 1;
	return -strcmp(a->run->id, b->run->id);
}

void ctr_series_sort_oldest(struct ctr_series_point *pts, size_t n)
{
	if (n > 1)
		qsort(pts, n, sizeof(*pts), cmp_oldest);
}

/* ---- struct ctr_run helpers ---- */

char *ctr_store_strdup(const char *s, int *fail)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*fail = 1;
	return d;
}

void ctr_run_clear_arrays(struct ctr_run *r)
{
	for (size_t i = 0; i < r->n_meta; i++) {
		free(r->meta[i].key);
		free(r->meta[i].value);
	}
	for (size_t i = 0; i < r->n_procs; i++) {
		free(r->procs[i].exe);
		free(r->procs[i].command);
		free(r->procs[i].backtrace);
	}
	for (size_t i = 0; i < r->n_modules; i++) {
		free(r->modules[i].path);
		free(r->modules[i].build_id);
	}
	for (size_t i = 0; i < r->n_functions; i++) {
		free(r->functions[i].name);
		free(r->functions[i].linkage_name);
		free(r->functions[i].file);
		free(r->functions[i].hist);
	}
	for (size_t i = 0; i < r->n_threads; i++)
		free(r->threads[i].name);
	for (size_t i = 0; i < r->n_nodes; i++)
		free(r->nodes[i].hist);
	for (size_t i = 0; i < r->n_attrs; i++) {
		free(r->attrs[i].key);
		free(r->attrs[i].value);
	}
	for (size_t i = 0; i < r->n_chunks; i++)
		free(r->chunks[i].data);
	free(r->meta);
	free(r->procs);
	free(r->modules);
	free(r->functions);
	free(r->threads);
	free(r->nodes);
	free(r->attrs);
	free(r->chunks);
	r->meta = NULL;
	r->procs = NULL;
	r->modules = NULL;
	r->functions = NULL;
	r->threads = NULL;
	r->nodes = NULL;
	r->attrs = NULL;
	r->chunks = NULL;
	r->n_meta = r->n_procs = r->n_modules = r->n_functions = 0;
	r->n_threads = r->n_nodes = r->n_attrs = r->n_chunks = 0;
}

int ctr_run_refs_check(const struct ctr_run *r, struct ctr_err *e)
{
	const char *what = NULL;
	size_t at = 0;

	for (size_t i = 0; !what && i < r->n_functions; i++)
		if (r->functions[i].id != i ||
		    (r->functions[i].module != CTR_NONE && r->functions[i].module >= r->n_modules))
			what = "function", at = i;
	for (size_t i = 0; !what && i < r->n_threads; i++)
		if (r->threads[i].id != i)
			what = "thread", at = i;
	for (size_t i = 0; !what && i < r->n_nodes; i++) {
		const struct ctr_node *n = &r->nodes[i];

		if (n->id != i || n->thread >= r->n_threads || n->function >= r->n_functions ||
		    (n->parent != CTR_NONE &&
		     (n->parent >= i || r->nodes[n->parent].thread != n->thread)))
			what = "call tree node", at = i;
	}
	for (size_t i = 0; !what && i < r->n_attrs; i++)
		if (r->attrs[i].node >= r->n_nodes)
			what = "attribute", at = i;
	if (!what)
		return 0;
	ctr_err_ctx(e, NULL, r->id, -1);
	return ctr_err_set(e, CTR_EFORMAT, 0,
			   "corrupt run '%s': %s %zu refers to what it cannot (an id out of range, "
			   "a parent that is not an earlier node of its thread)",
			   r->id, what, at);
}

int ctr_meta_key_valid(const char *key, size_t len)
{
	if (!key || !len)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f || key[i] == '=')
			return 0;
	return 1;
}

const char *ctr_run_meta_get(const struct ctr_run *r, const char *key)
{
	const char *v = NULL;

	for (size_t i = 0; r && i < r->n_meta; i++)
		if (r->meta[i].key && !strcmp(r->meta[i].key, key))
			v = r->meta[i].value;
	return v;
}

void ctr_run_free(struct ctr_run *run)
{
	if (!run)
		return;
	ctr_run_clear_arrays(run);
	free(run->command);
	free(run->host);
	free(run->cwd);
	free(run->clock);
	free(run);
}

void ctr_run_list_free(struct ctr_run **runs, size_t n)
{
	if (!runs)
		return;
	for (size_t i = 0; i < n; i++)
		ctr_run_free(runs[i]);
	free(runs);
}

struct ctr_run *ctr_run_dup_header(const struct ctr_run *run)
{
	struct ctr_run *d = calloc(1, sizeof(*d));
	int fail = 0;

	if (!d)
		return NULL;
	memcpy(d->id, run->id, sizeof(d->id));
	d->id[CTR_RUN_ID_MAX - 1] = '\0';
	d->command = ctr_store_strdup(run->command, &fail);
	d->host = ctr_store_strdup(run->host, &fail);
	d->cwd = ctr_store_strdup(run->cwd, &fail);
	d->clock = ctr_store_strdup(run->clock, &fail);
	d->start_unix_ns = run->start_unix_ns;
	d->duration_ns = run->duration_ns;
	d->exit_status = run->exit_status;
	d->signal = run->signal;
	d->crashed = run->crashed;
	d->events = run->events;
	d->lost_events = run->lost_events;
	d->ticks_per_sec = run->ticks_per_sec;
	d->overhead_inner_ns = run->overhead_inner_ns;
	d->overhead_call_ns = run->overhead_call_ns;
	if (fail) {
		ctr_run_free(d);
		return NULL;
	}
	return d;
}

/* calloc of n elements that returns a non-NULL pointer only when n > 0. */
static void *arr_alloc(size_t n, size_t size, int *fail)
{
	void *p;

	if (n == 0)
		return NULL;
	p = calloc(n, size);
	if (!p)
		*fail = 1;
	return p;
}

/* A copy of the @n bytes at @p; NULL for none. */
static unsigned char *blob_dup(const unsigned char *p, size_t n, int *fail)
{
	unsigned char *d;

	if (!p || !n)
		return NULL;
	if (!(d = malloc(n))) {
		*fail = 1;
		return NULL;
	}
	memcpy(d, p, n);
	return d;
}

struct ctr_run *ctr_run_dup(const struct ctr_run *run)
{
	struct ctr_run *d = ctr_run_dup_header(run);
	int fail = 0;

	if (!d)
		return NULL;
	if ((d->meta = arr_alloc(run->n_meta, sizeof(*d->meta), &fail)))
		d->n_meta = run->n_meta;
	for (size_t i = 0; i < d->n_meta; i++) {
		d->meta[i].key = ctr_store_strdup(run->meta[i].key, &fail);
		d->meta[i].value = ctr_store_strdup(run->meta[i].value, &fail);
	}
	if ((d->procs = arr_alloc(run->n_procs, sizeof(*d->procs), &fail)))
		d->n_procs = run->n_procs;
	for (size_t i = 0; i < d->n_procs; i++) {
		d->procs[i] = run->procs[i];
		d->procs[i].exe = ctr_store_strdup(run->procs[i].exe, &fail);
		d->procs[i].command = ctr_store_strdup(run->procs[i].command, &fail);
		d->procs[i].backtrace = ctr_store_strdup(run->procs[i].backtrace, &fail);
	}
	if ((d->modules = arr_alloc(run->n_modules, sizeof(*d->modules), &fail)))
		d->n_modules = run->n_modules;
	for (size_t i = 0; i < d->n_modules; i++) {
		d->modules[i] = run->modules[i];
		d->modules[i].path = ctr_store_strdup(run->modules[i].path, &fail);
		d->modules[i].build_id = ctr_store_strdup(run->modules[i].build_id, &fail);
	}
	if ((d->functions = arr_alloc(run->n_functions, sizeof(*d->functions), &fail)))
		d->n_functions = run->n_functions;
	for (size_t i = 0; i < d->n_functions; i++) {
		d->functions[i] = run->functions[i];
		d->functions[i].name = ctr_store_strdup(run->functions[i].name, &fail);
		d->functions[i].linkage_name =
		    ctr_store_strdup(run->functions[i].linkage_name, &fail);
		d->functions[i].file = ctr_store_strdup(run->functions[i].file, &fail);
		d->functions[i].hist =
		    blob_dup(run->functions[i].hist, run->functions[i].hist_size, &fail);
	}
	if ((d->threads = arr_alloc(run->n_threads, sizeof(*d->threads), &fail)))
		d->n_threads = run->n_threads;
	for (size_t i = 0; i < d->n_threads; i++) {
		d->threads[i] = run->threads[i];
		d->threads[i].name = ctr_store_strdup(run->threads[i].name, &fail);
	}
	if ((d->nodes = arr_alloc(run->n_nodes, sizeof(*d->nodes), &fail))) {
		d->n_nodes = run->n_nodes;
		memcpy(d->nodes, run->nodes, run->n_nodes * sizeof(*d->nodes));
		for (size_t i = 0; i < d->n_nodes; i++)
			d->nodes[i].hist =
			    blob_dup(run->nodes[i].hist, run->nodes[i].hist_size, &fail);
	}
	if ((d->attrs = arr_alloc(run->n_attrs, sizeof(*d->attrs), &fail)))
		d->n_attrs = run->n_attrs;
	for (size_t i = 0; i < d->n_attrs; i++) {
		d->attrs[i] = run->attrs[i];
		d->attrs[i].key = ctr_store_strdup(run->attrs[i].key, &fail);
		d->attrs[i].value = ctr_store_strdup(run->attrs[i].value, &fail);
	}
	if ((d->chunks = arr_alloc(run->n_chunks, sizeof(*d->chunks), &fail)))
		d->n_chunks = run->n_chunks;
	for (size_t i = 0; i < d->n_chunks; i++) {
		d->chunks[i] = run->chunks[i];
		d->chunks[i].data = NULL;
		if (run->chunks[i].size) {
			d->chunks[i].data = malloc(run->chunks[i].size);
			if (!d->chunks[i].data) {
				fail = 1;
				d->chunks[i].size = 0;
				continue;
			}
			memcpy(d->chunks[i].data, run->chunks[i].data, run->chunks[i].size);
		}
	}
	if (fail) {
		ctr_run_free(d);
		return NULL;
	}
	return d;
}

static int str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Same percentiles and histogram blob. */
static int lat_eq(uint64_t a50, uint64_t a90, uint64_t a99, uint64_t a999, const unsigned char *ah,
		  size_t an, uint64_t b50, uint64_t b90, uint64_t b99, uint64_t b999,
		  const unsigned char *bh, size_t bn)
{
	return a50 == b50 && a90 == b90 && a99 == b99 && a999 == b999 && an == bn &&
	       (!an || !memcmp(ah, bh, an));
}

static int dbl_eq(double a, double b)
{
	return a == b || (isnan(a) && isnan(b));
}

static int header_equal(const struct ctr_run *a, const struct ctr_run *b)
{
	return !strncmp(a->id, b->id, CTR_RUN_ID_MAX) && str_eq(a->command, b->command) &&
	       str_eq(a->host, b->host) && str_eq(a->cwd, b->cwd) &&
	       a->start_unix_ns == b->start_unix_ns && a->duration_ns == b->duration_ns &&
	       a->exit_status == b->exit_status && a->signal == b->signal &&
	       a->crashed == b->crashed && a->events == b->events &&
	       a->lost_events == b->lost_events && str_eq(a->clock, b->clock) &&
	       a->ticks_per_sec == b->ticks_per_sec &&
	       dbl_eq(a->overhead_inner_ns, b->overhead_inner_ns) &&
	       dbl_eq(a->overhead_call_ns, b->overhead_call_ns);
}

int ctr_run_equal(const struct ctr_run *a, const struct ctr_run *b)
{
	if (!a || !b)
		return a == b;
	if (!header_equal(a, b))
		return 0;
	if (a->n_meta != b->n_meta || a->n_procs != b->n_procs || a->n_modules != b->n_modules ||
	    a->n_functions != b->n_functions || a->n_threads != b->n_threads ||
	    a->n_nodes != b->n_nodes || a->n_attrs != b->n_attrs || a->n_chunks != b->n_chunks)
		return 0;
	for (size_t i = 0; i < a->n_meta; i++)
		if (!str_eq(a->meta[i].key, b->meta[i].key) ||
		    !str_eq(a->meta[i].value, b->meta[i].value))
			return 0;
	for (size_t i = 0; i < a->n_procs; i++) {
		const struct ctr_process *x = &a->procs[i], *y = &b->procs[i];

		if (x->pid != y->pid || x->ppid != y->ppid || x->gen != y->gen ||
		    !str_eq(x->exe, y->exe) || !str_eq(x->command, y->command) ||
		    x->exit_status != y->exit_status || x->signal != y->signal ||
		    x->crashed != y->crashed || !str_eq(x->backtrace, y->backtrace))
			return 0;
	}
	for (size_t i = 0; i < a->n_modules; i++) {
		const struct ctr_module *x = &a->modules[i], *y = &b->modules[i];

		if (x->id != y->id || !str_eq(x->path, y->path) ||
		    !str_eq(x->build_id, y->build_id) || x->base != y->base ||
		    x->loaded_ns != y->loaded_ns || x->unloaded_ns != y->unloaded_ns)
			return 0;
	}
	for (size_t i = 0; i < a->n_functions; i++) {
		const struct ctr_function *x = &a->functions[i], *y = &b->functions[i];

		if (x->id != y->id || x->kind != y->kind || !str_eq(x->name, y->name) ||
		    !str_eq(x->linkage_name, y->linkage_name) || !str_eq(x->file, y->file) ||
		    x->line != y->line || x->module != y->module || x->offset != y->offset ||
		    !lat_eq(x->p50_ns, x->p90_ns, x->p99_ns, x->p999_ns, x->hist, x->hist_size,
			    y->p50_ns, y->p90_ns, y->p99_ns, y->p999_ns, y->hist, y->hist_size))
			return 0;
	}
	for (size_t i = 0; i < a->n_threads; i++) {
		const struct ctr_thread *x = &a->threads[i], *y = &b->threads[i];

		if (x->id != y->id || x->pid != y->pid || x->tid != y->tid ||
		    !str_eq(x->name, y->name) || x->start_ns != y->start_ns ||
		    x->end_ns != y->end_ns || x->events != y->events || x->lost != y->lost)
			return 0;
	}
	for (size_t i = 0; i < a->n_nodes; i++) {
		const struct ctr_node *x = &a->nodes[i], *y = &b->nodes[i];

		if (x->id != y->id || x->parent != y->parent || x->thread != y->thread ||
		    x->function != y->function || x->calls != y->calls ||
		    x->total_ns != y->total_ns || x->self_ns != y->self_ns ||
		    x->min_ns != y->min_ns || x->max_ns != y->max_ns ||
		    x->raw_total_ns != y->raw_total_ns || x->raw_self_ns != y->raw_self_ns ||
		    x->raw_min_ns != y->raw_min_ns || x->raw_max_ns != y->raw_max_ns ||
		    x->offcpu_ns != y->offcpu_ns || x->preempt_ns != y->preempt_ns ||
		    x->preempted_calls != y->preempted_calls ||
		    !lat_eq(x->p50_ns, x->p90_ns, x->p99_ns, x->p999_ns, x->hist, x->hist_size,
			    y->p50_ns, y->p90_ns, y->p99_ns, y->p999_ns, y->hist, y->hist_size))
			return 0;
	}
	for (size_t i = 0; i < a->n_attrs; i++) {
		const struct ctr_attr *x = &a->attrs[i], *y = &b->attrs[i];

		if (x->node != y->node || !str_eq(x->key, y->key) || !str_eq(x->value, y->value) ||
		    x->count != y->count)
			return 0;
	}
	for (size_t i = 0; i < a->n_chunks; i++) {
		const struct ctr_chunk *x = &a->chunks[i], *y = &b->chunks[i];

		if (x->thread != y->thread || x->seq != y->seq || x->codec != y->codec ||
		    x->raw_size != y->raw_size || x->first_ns != y->first_ns ||
		    x->last_ns != y->last_ns || x->size != y->size ||
		    (x->size && memcmp(x->data, y->data, x->size)))
			return 0;
	}
	return 1;
}

/* A function name that is @pat or matches it as a glob (fnmatch(3)). */
static int fn_eq(const char *name, const char *pat)
{
	return name && (!strcmp(name, pat) || !fnmatch(pat, name, 0));
}

int ctr_filter_match(const struct ctr_filter *f, const struct ctr_run *run)
{
	if (!f)
		return 1;
	if (f->since_unix_ns && run->start_unix_ns < f->since_unix_ns)
		return 0;
	if (f->until_unix_ns && run->start_unix_ns > f->until_unix_ns)
		return 0;
	if (f->min_duration_ns && run->duration_ns < f->min_duration_ns)
		return 0;
	if (f->max_duration_ns && run->duration_ns > f->max_duration_ns)
		return 0;
	if (f->command && (!run->command || !strstr(run->command, f->command)))
		return 0;
	if (f->host && !str_eq(run->host, f->host))
		return 0;
	if (f->function) {
		size_t i;

		for (i = 0; i < run->n_functions; i++)
			if (fn_eq(run->functions[i].name, f->function) ||
			    fn_eq(run->functions[i].linkage_name, f->function))
				break;
		if (i == run->n_functions)
			return 0;
	}
	for (size_t m = 0; m < f->n_meta; m++) {
		size_t i;

		for (i = 0; i < run->n_meta; i++)
			if (str_eq(run->meta[i].key, f->meta[m].key) &&
			    str_eq(run->meta[i].value, f->meta[m].value))
				break;
		if (i == run->n_meta)
			return 0;
	}
	return 1;
}

static int cmp_newest(const void *pa, const void *pb)
{
	const struct ctr_run *a = *(struct ctr_run *const *)pa, *b = *(struct ctr_run *const *)pb;

	if (a->start_unix_ns != b->start_unix_ns)
		return a->start_unix_ns > b->start_unix_ns ? -1 : 1;
	return strcmp(a->id, b->id);
}

void ctr_run_sort_newest(struct ctr_run **runs, size_t n)
{
	if (n > 1)
		qsort(runs, n, sizeof(*runs), cmp_newest);
}
