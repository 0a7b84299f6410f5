/* SPDX-License-Identifier: MIT */
/*
 * Where a run came from, as run metadata: the kernel and CPU of the host that commits it and
 * the compiler and build-id of the main binary (read from its ELF file with libelf), so runs
 * can be told apart and filtered (`ctrace query --build-id`, `ctrace trend`).
 */
#ifndef CTR_PROVENANCE_H
#define CTR_PROVENANCE_H

#include "../../store/store.h"

/*
 * Appends to @r->meta, after what is there: "host.kernel" (uname -r), "host.cpu" (the first
 * "model name" of /proc/cpuinfo, else uname -m), "host.cpus" (the CPUs online), and for the ELF
 * file @exe (may be NULL or gone: then skipped) "build.compiler" (the distinct strings of its
 * .comment section, joined with "; ") and "build.id" (its GNU build-id in hex), and when ctrace-cc
 * built it with a .ctrace-exclude list "build.excluded" (the number of functions),
 * "build.excluded.list" (them,
 * ","-joined, cut at 4 KiB), "build.excluded.run" and "build.excluded.hidden_calls" (the run the
 * list came from and the calls they made there). A key already present (the recorder
 * or the user set it) is kept and not added again. Returns 0 or CTR_ENOMEM.
 */
int ctr_provenance_add(struct ctr_run *r, const char *exe);

/* Appends @key=@value (both copied) to @r's metadata; 0 or CTR_ENOMEM. */
int ctr_meta_append(struct ctr_run *r, const char *key, const char *value);

/* 1 if @path is an ELF executable without a program interpreter (statically linked: no
 * LD_PRELOAD object can load into it), 0 if it has one, -1 if it cannot be read as ELF. */
int ctr_provenance_is_static(const char *path);

#endif
