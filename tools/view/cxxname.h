/* SPDX-License-Identifier: MIT */
/*
 * Readable C++ names for the text views. The store keeps the full demangled name; at display
 * time a name is shortened: the return type dropped, template arguments shown as "<...>",
 * the parameter list dropped (a lambda's too), "(anonymous namespace)" written "(anon)".
 * Where two functions of a run would get the same short name, they keep more (parameters,
 * then template arguments, then both), and if that is still ambiguous their full names. Constructor
 * and destructor variants that are distinct symbols get a suffix from the mangled name: "
 * [deleting]" (D0), " [base]" (C2/D2) when another variant has the same name, " [complete]" (C1/D1)
 * likewise.
 *
 * The display names of a run are attached to it once (ctr_cxx_attach) and looked up by the
 * views through ctr_cxx_display(); a run without attached names shows its stored names. At most
 * CTR_CXX_RUNS runs are attached at once. Not thread-safe (one CLI command at a time).
 */
#ifndef CTR_VIEW_CXXNAME_H
#define CTR_VIEW_CXXNAME_H

#include <stddef.h>

#include "../../common/err.h"
#include "../../store/store.h"

#define CTR_CXX_RUNS 64

/* The shortened form of the demangled @full into @buf (always NUL-terminated), the return type
 * always dropped: level 1 template arguments as "<...>" and no parameter list; 2 with the
 * parameters; 3 template arguments kept, no parameters; 4 both kept. Returns @buf. Pure. */
char *ctr_cxx_shorten(const char *full, int level, char *buf, size_t n);
/* The variant suffix of a mangled constructor/destructor @linkage ("" when none): "deleting",
 * "base", "complete". Static storage. */
const char *ctr_cxx_variant(const char *linkage);

/* Computes and attaches the display names of @run: shortened unless @full. 0, CTR_ENOMEM or
 * CTR_EINTERNAL when CTR_CXX_RUNS are attached already. Detach before freeing the run. */
int ctr_cxx_attach(const struct ctr_run *run, int full, struct ctr_err *e);
void ctr_cxx_detach(const struct ctr_run *run); /* accepts a run never attached */
/* The name to show for function @fid of @run: its attached display name, else its stored
 * name, "?" for an id out of range. Borrowed until detach / the run is freed. */
const char *ctr_cxx_display(const struct ctr_run *run, uint32_t fid);

#endif
