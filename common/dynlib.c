/* SPDX-License-Identifier: MIT */
/*
 * Libraries opened on first use (dynlib.h).
 */
#include "dynlib.h"

#include <dlfcn.h>
#include <stdio.h>

int ctr_dynlib_load(struct ctr_dynlib *l)
{
	void *h;
	const char *err;

	pthread_mutex_lock(&l->lock);
	if (l->state != 0)
		goto out;
	l->state = -1;
	if (!(h = dlopen(l->soname, RTLD_LAZY | RTLD_LOCAL))) {
		err = dlerror();
		snprintf(l->why, sizeof(l->why), "%s", err ? err : "cannot load it");
		goto out;
	}
	for (size_t i = 0; i < l->n; i++)
		if (!(*l->syms[i].slot = dlsym(h, l->syms[i].name))) {
			snprintf(l->why, sizeof(l->why), "%s has no %s", l->soname,
				 l->syms[i].name);
			goto out;
		}
	l->state = 1;
out:
	pthread_mutex_unlock(&l->lock);
	return l->state > 0 ? 0 : -1;
}
