/* SPDX-License-Identifier: MIT */
/*
 * elfutils opened on first use (elflib.h): libdw.so.1, whose dependency libelf answers the
 * elf_* and gelf_* look-ups through the same handle.
 */
#define CTR_ELFLIB_IMPL
#include "elflib.h"

#include "../../common/dynlib.h"

struct ctr_elflib ctr_elflib;
static const struct ctr_dynsym elflib_syms[] = {
#define X(f) CTR_DYNSYM(ctr_elflib, f)
    CTR_ELFLIB_FUNCS(X)
#undef X
};
static struct ctr_dynlib elflib_lib = CTR_DYNLIB_INIT("libdw.so.1", elflib_syms);

int ctr_elflib_load(struct ctr_err *e)
{
	if (ctr_dynlib_load(&elflib_lib) == 0)
		return 0;
	return ctr_err_set(e, CTR_ESYMBOL, 0,
			   "symbolizing needs elfutils' libdw (Debian package libdw1): %s",
			   elflib_lib.why);
}
