/* SPDX-License-Identifier: MIT */
/*
 * The name of a library call recorded with --libcalls: "SYM@LIB", the imported symbol and the
 * file name of the shared object it was bound to ("malloc@libc.so.6"). Written once here so the
 * views, exports and the viewer tell library calls apart the same way. Header only: the
 * preload may include it.
 */
#ifndef CTR_LIBCALL_H
#define CTR_LIBCALL_H

#include <string.h>

/* 1 when @name is a library call's: a non-empty symbol, one '@', then a shared object's file
 * name (holding ".so"), no space or parenthesis anywhere (C++ names have them). */
static inline int ctr_name_is_libcall(const char *name)
{
	const char *at = name ? strchr(name, '@') : NULL;

	if (!at || at == name || strchr(at + 1, '@') || !strstr(at + 1, ".so"))
		return 0;
	return strpbrk(name, " ()<>,") == NULL;
}

#endif
