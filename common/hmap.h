/* SPDX-License-Identifier: MIT */
/*
 * A small open-addressing hash map from non-zero uint64_t keys to uint32_t values, for the
 * post-processing hot loops (address -> function, (parent, function) -> node). Header-only.
 */
#ifndef CTR_HMAP_H
#define CTR_HMAP_H

#include <stdint.h>
#include <stdlib.h>

#include "hash.h"

struct ctr_hmap {
	uint64_t *keys; /* 0 = empty */
	uint32_t *vals;
	size_t cap, n; /* cap is a power of two */
};

static inline void ctr_hmap_free(struct ctr_hmap *m)
{
	free(m->keys);
	free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
	m->cap = m->n = 0;
}

/* Returns a pointer to the value slot of @key, or NULL if absent. */
static inline uint32_t *ctr_hmap_get(const struct ctr_hmap *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = ctr_hash_mix64(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == key)
			return &m->vals[i];
		if (!m->keys[i])
			return NULL;
	}
}

static inline int ctr_hmap_grow(struct ctr_hmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 1024;
	uint64_t *k = calloc(cap, sizeof(*k));
	uint32_t *v = malloc(cap * sizeof(*v));

	if (!k || !v) {
		free(k);
		free(v);
		return -1;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->keys[i])
			continue;
		size_t j = ctr_hash_mix64(m->keys[i]) & (cap - 1);

		while (k[j])
			j = (j + 1) & (cap - 1);
		k[j] = m->keys[i];
		v[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = k;
	m->vals = v;
	m->cap = cap;
	return 0;
}

/* Inserts or overwrites; 0 or -1 on allocation failure. @key must not be 0. */
static inline int ctr_hmap_put(struct ctr_hmap *m, uint64_t key, uint32_t val)
{
	if ((m->n + 1) * 4 > m->cap * 3 && ctr_hmap_grow(m))
		return -1;
	for (size_t i = ctr_hash_mix64(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == key) {
			m->vals[i] = val;
			return 0;
		}
		if (!m->keys[i]) {
			m->keys[i] = key;
			m->vals[i] = val;
			m->n++;
			return 0;
		}
	}
}

#endif
