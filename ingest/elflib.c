/* SPDX-License-Identifier: MIT */
/*
 * elfutils opened on first use (elflib.h): one dlopen of libdw.so.1, whose dependency libelf
 * answers the elf_* and gelf_* look-ups through the same handle.
 */
#define CTR_ELFLIB_IMPL
#include "elflib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

struct ctr_elflib ctr_elflib;
static pthread_once_t elflib_once = PTHREAD_ONCE_INIT;
static char elflib_why[256]; /* why elfutils could not be loaded; "" once it is */
static int elflib_ok;

static void elflib_load_once(void)
{
	void *h = dlopen("libdw.so.1", RTLD_LAZY | RTLD_LOCAL);
	const char *err;

	if (!h) {
		err = dlerror();
		snprintf(elflib_why, sizeof(elflib_why), "%s",
			 err ? err : "cannot load libdw.so.1");
		return;
	}
#define X(f)                                                                                       \
	if (!(ctr_elflib.f = (__typeof__(f) *)dlsym(h, #f))) {                                     \
		snprintf(elflib_why, sizeof(elflib_why), "libdw.so.1 has no %s", #f);              \
		return;                                                                            \
	}
	CTR_ELFLIB_FUNCS(X)
#undef X
	elflib_ok = 1;
}

int ctr_elflib_load(struct ctr_err *e)
{
	pthread_once(&elflib_once, elflib_load_once);
	if (elflib_ok)
		return 0;
	return ctr_err_set(e, CTR_ESYMBOL, 0,
			   "symbolizing needs elfutils' libdw (Debian package libdw1): %s",
			   elflib_why);
}
