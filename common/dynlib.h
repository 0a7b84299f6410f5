/* SPDX-License-Identifier: MIT */
/*
 * Libraries opened on first use instead of linked (libpq, libmicrohttpd, elfutils): each one a
 * table of the functions its user calls, filled once per process by ctr_dynlib_load(). Linked,
 * their dependency chains cost every ctrace command its start-up time (docs/performance.md);
 * opened, only the commands that need them pay. The users list their functions in one X-macro
 * and call them by their usual names through #defines.
 */
#ifndef CTR_DYNLIB_H
#define CTR_DYNLIB_H

#include <pthread.h>
#include <stddef.h>

/* One function of a table: its name and the function pointer that receives its address. */
struct ctr_dynsym {
	const char *name;
	void **slot;
};

/* A library and its table; define one statically with CTR_DYNLIB_INIT. */
struct ctr_dynlib {
	const char *soname;
	const struct ctr_dynsym *syms;
	size_t n;
	pthread_mutex_t lock;
	int state;     /* 0 not tried, 1 loaded, -1 failed (for good) */
	char why[256]; /* why it failed: dlerror()'s message, or the missing function */
};

/* Entry X(f) of a table for a function pointer member f of @obj (POSIX's dlsym idiom). */
#define CTR_DYNSYM(obj, f) {#f, (void **)&(obj).f},
#define CTR_DYNLIB_INIT(so, syms)                                                                  \
	{                                                                                          \
		(so), (syms), sizeof(syms) / sizeof((syms)[0]), PTHREAD_MUTEX_INITIALIZER, 0, ""   \
	}

/*
 * Opens @l->soname (RTLD_LAZY | RTLD_LOCAL, never closed) and stores the address of every
 * function of the table in its slot, on the first call; later calls answer as the first did.
 * 0 when every function is there, else -1 with the reason in @l->why. Thread-safe.
 */
int ctr_dynlib_load(struct ctr_dynlib *l);

#endif
