/* SPDX-License-Identifier: MIT */
/*
 * The one growth helper of the tools: makes a heap array hold at least a number of elements,
 * doubling, with the new part zeroed. Header-only.
 */
#ifndef CTR_GROW_H
#define CTR_GROW_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Grows *@arr (*@cap elements of @elem bytes) to hold @need; new elements are zeroed. 0, or -1
 * when out of memory or the size overflows (*@arr and *@cap unchanged then). */
static inline int ctr_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t nc = *cap ? *cap : 16;
	void *p;

	if (need <= *cap)
		return 0;
	while (nc < need) {
		if (nc > SIZE_MAX / 2)
			return -1;
		nc *= 2;
	}
	if (elem && nc > SIZE_MAX / elem)
		return -1;
	if (!(p = realloc(*arr, nc * elem)))
		return -1;
	memset((char *)p + *cap * elem, 0, (nc - *cap) * elem);
	*arr = p;
	*cap = nc;
	return 0;
}

#endif
