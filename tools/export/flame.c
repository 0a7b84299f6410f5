/* SPDX-License-Identifier: MIT */
/*
 * The merged flame tree: the calling-context tree merged across threads (optionally split by
 * thread at the bottom), one node per distinct stack, children sorted by name. Folded stacks,
 * SVG and HTML draw from it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/hash.h"
#include "../../common/hmap.h"
#include "../../store/timeline.h"
#include "../view/report.h"
#include "export-int.h"

/* The map key of (parent, fid): never 0, which ctr_hmap keeps for empty slots. */
static uint64_t ft_key(uint32_t parent, uint32_t fid)
{
	return ((uint64_t)parent + 1) << 32 | fid;
}

static int ft_add(struct ft_tree *t, struct ctr_hmap *h, uint32_t parent, uint32_t fid,
		  uint32_t *out)
{
	const uint32_t *have = ctr_hmap_get(h, ft_key(parent, fid));

	if (have) {
		*out = *have;
		return 0;
	}
	if (t->len == t->cap)
		return -1; /* capacity was sized for every CCT node: cannot happen */
	if (ctr_hmap_put(h, ft_key(parent, fid), (uint32_t)t->len))
		return -1;
	t->n[t->len] = (struct ft_node){.fid = fid,
					.parent = parent,
					.first_child = CTR_NONE,
					.next_sibling = t->n[parent].first_child,
					.depth = t->n[parent].depth + 1};
	t->n[parent].first_child = (uint32_t)t->len;
	if (t->n[t->len].depth > t->max_depth)
		t->max_depth = t->n[t->len].depth;
	*out = (uint32_t)t->len++;
	return 0;
}

const char *ctr_ft_name(const struct ctr_run *run, const struct ft_node *n, char *buf, size_t len)
{
	if (n->fid & FT_THREAD) {
		const struct ctr_thread *t = &run->threads[n->fid & ~FT_THREAD];

		snprintf(buf, len, "thread %s (%d)", t->name && *t->name ? t->name : "?", t->tid);
		return buf;
	}
	return ctr_export_fn_name(run, n->fid);
}

struct ft_sort_ctx {
	const struct ctr_run *run;
	const struct ft_tree *t;
};

static int cmp_ft_name(const void *pa, const void *pb, void *arg)
{
	const struct ft_sort_ctx *c = arg;
	const struct ft_node *a = &c->t->n[*(const uint32_t *)pa],
			     *b = &c->t->n[*(const uint32_t *)pb];
	char ba[128], bb[128];
	int r =
	    strcmp(ctr_ft_name(c->run, a, ba, sizeof(ba)), ctr_ft_name(c->run, b, bb, sizeof(bb)));

	if (r)
		return r;
	return a->fid < b->fid ? -1 : a->fid > b->fid;
}

int ctr_ft_build(struct ft_tree *t, const struct ctr_run *run, int raw, int thread_prefix,
		 struct ctr_err *e)
{
	struct ctr_hmap h = {0};
	uint32_t *map = NULL, *kids = NULL;
	size_t cap = run->n_nodes + run->n_threads + 1;
	int ret = ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory building the flame graph");

	memset(t, 0, sizeof(*t));
	t->n = calloc(cap, sizeof(*t->n));
	map = malloc((run->n_nodes + 1) * sizeof(*map));
	kids = malloc(cap * sizeof(*kids));
	if (!t->n || !map || !kids)
		goto out;
	if (e && e->code == CTR_ENOMEM)
		ctr_err_clear(e);
	t->cap = cap;
	t->n[0] = (struct ft_node){
	    .fid = CTR_NONE, .parent = CTR_NONE, .first_child = CTR_NONE, .next_sibling = CTR_NONE};
	t->len = 1;
	for (size_t i = 0; i < run->n_nodes; i++) {
		const struct ctr_node *nd = &run->nodes[i];
		uint32_t parent = 0, m;

		if (nd->thread >= run->n_threads || nd->function >= run->n_functions ||
		    (nd->parent != CTR_NONE && nd->parent >= i)) {
			ret = ctr_err_set(e, CTR_EFORMAT, 0,
					  "corrupt run '%s': bad call tree node %zu", run->id, i);
			goto out;
		}
		if (nd->parent != CTR_NONE)
			parent = map[nd->parent];
		else if (thread_prefix && ft_add(t, &h, 0, FT_THREAD | nd->thread, &parent))
			goto internal;
		if (ft_add(t, &h, parent, nd->function, &m))
			goto internal;
		map[i] = m;
		t->n[m].total += raw ? nd->raw_total_ns : nd->total_ns;
		t->n[m].self += raw ? nd->raw_self_ns : nd->self_ns;
		if (nd->parent == CTR_NONE) {
			t->n[0].total += raw ? nd->raw_total_ns : nd->total_ns;
			if (thread_prefix)
				t->n[parent].total += raw ? nd->raw_total_ns : nd->total_ns;
		}
	}
	/* Sort each node's children by name and lay them out left to right. */
	for (size_t p = 0; p < t->len; p++) {
		struct ft_sort_ctx sc = {run, t};
		size_t nk = 0;
		uint64_t x = t->n[p].x;

		for (uint32_t k = t->n[p].first_child; k != CTR_NONE; k = t->n[k].next_sibling)
			kids[nk++] = k;
		if (nk > 1)
			qsort_r(kids, nk, sizeof(*kids), cmp_ft_name, &sc);
		t->n[p].first_child = nk ? kids[0] : CTR_NONE;
		for (size_t k = 0; k < nk; k++) {
			t->n[kids[k]].next_sibling = k + 1 < nk ? kids[k + 1] : CTR_NONE;
			t->n[kids[k]].x = x;
			x += t->n[kids[k]].total;
		}
	}
	ret = 0;
	goto out;
internal:
	ret = ctr_err_set(e, CTR_EINTERNAL, 0, "flame tree overflow");
out:
	if (ret)
		ctr_ft_release(t);
	ctr_hmap_free(&h);
	free(map);
	free(kids);
	return ret;
}

void ctr_ft_release(struct ft_tree *t)
{
	if (!t)
		return;
	free(t->n);
	memset(t, 0, sizeof(*t));
}
