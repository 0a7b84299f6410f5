/* SPDX-License-Identifier: MIT */
/*
 * The symbolizer: turns code addresses recorded in a traced process into function identities
 * (name, linkage name, source file and line of the definition) with elfutils libdwfl. The
 * preload records one module map line per loaded ELF object (load bias, [start,end) covered by
 * its PT_LOAD segments, GNU build-id, path); commit adds those modules here and looks up every
 * distinct address once. DWARF is preferred (also from separate debug files found by build-id
 * or .gnu_debuglink), the ELF symbol table is the fallback (name only); a file whose build-id
 * differs from the recorded one is never used. See docs/symbols.md.
 */
#ifndef CTR_SYMBOLIZE_H
#define CTR_SYMBOLIZE_H

#include <stdint.h>

#include "../../common/err.h"

struct ctr_sym;

/* What can be resolved in a module (ctr_sym_module_status()). */
enum ctr_sym_status {
	CTR_SYM_OK = 0,		       /* DWARF found: names, files and lines */
	CTR_SYM_NO_DEBUGINFO = 1,      /* ELF symbol table only: names, no file/line */
	CTR_SYM_NO_SYMBOLS = 2,	       /* stripped, no debug info: only exported (dynamic)
					* functions resolve, the rest stay module+offset */
	CTR_SYM_MISSING = 3,	       /* the file does not exist (anymore) */
	CTR_SYM_UNREADABLE = 4,	       /* the file exists but cannot be opened or is not ELF */
	CTR_SYM_BUILD_ID_MISMATCH = 5, /* the file has another build-id than the one recorded:
					* it was rebuilt; nothing is resolved from it */
};

/* One resolved (or unresolved) address. Strings are owned by the ctr_sym and stay valid until
 * ctr_sym_close(). */
struct ctr_sym_info {
	int module;		  /* module index containing the address, -1 if none */
	uint64_t offset;	  /* address - module bias (file-relative), 0 if no module */
	const char *name;	  /* display name, demangled ("ns::Box<int>::get() const");
				   * NULL when unresolved */
	const char *linkage_name; /* mangled or ELF symbol name ("_ZNK2ns3BoxIiE3getEv");
				   * equal to name for C functions; NULL when unresolved */
	const char *file;	  /* source file of the definition as recorded in DWARF
				   * (usually absolute), "" when unknown */
	unsigned line;		  /* line of the definition, 0 when unknown */
};

/*
 * Creates an empty symbolizer in *@out (caller closes with ctr_sym_close()). Separate debug
 * files are searched the elfutils way (next to the binary, in its .debug/ directory, under
 * /usr/lib/debug by build-id and by .gnu_debuglink, and with debuginfod when DEBUGINFOD_URLS
 * is set); $CTRACE_DEBUG_PATH, when set, replaces that search path (ctr_sym_set_debug_path()).
 * Returns 0, CTR_ESYMBOL when elfutils' libdw cannot be loaded (ingest/elflib.h: it is opened
 * here, on first use), or CTR_ENOMEM. Not thread-safe: one thread uses a ctr_sym at a time.
 */
int ctr_sym_open(struct ctr_sym **out, struct ctr_err *e);

/* Frees @s and every string it handed out. NULL is fine. */
void ctr_sym_close(struct ctr_sym *s);

/*
 * Replaces the separate debug file search path, in elfutils' format: colon-separated entries,
 * "" meaning the binary's own directory, relative entries resolved against it, absolute
 * directories searched for .build-id/xx/yyyy.debug and by .gnu_debuglink name; NULL restores
 * the default ":.debug:/usr/lib/debug". Applies to modules first looked up afterwards; call it
 * before adding modules. Returns 0 or CTR_ENOMEM.
 */
int ctr_sym_set_debug_path(struct ctr_sym *s, const char *path, struct ctr_err *e);

/*
 * Adds a module loaded at @bias (dlpi_addr) covering the runtime addresses [@start,@end), read
 * from @path, whose recorded GNU build-id is @build_id_hex ("" or NULL when it had none).
 * Returns the module index (>= 0, counting up from 0 in call order) or CTR_EUSAGE (@start >=
 * @end, no path) / CTR_ENOMEM. The file is only opened at the first lookup or status query in
 * the module: a missing or rebuilt file is not an error here, the module is kept, its
 * addresses stay unresolved and ctr_sym_module_status() says why. Several modules naming the
 * same file and build-id (the same library in several processes) share one opened file and
 * one cache.
 */
int ctr_sym_add_module(struct ctr_sym *s, const char *path, const char *build_id_hex, uint64_t bias,
		       uint64_t start, uint64_t end, struct ctr_err *e);

/* Number of modules added. */
int ctr_sym_module_count(const struct ctr_sym *s);

/*
 * Status of module @module (enum ctr_sym_status), opening its file if not done yet. When @msg
 * is not NULL it receives a one-line explanation owned by @s ("cannot find 'x': ...",
 * "build-id of 'x' is 1234..., recorded abcd...", "debug info from '/usr/lib/debug/...'").
 * Returns CTR_EUSAGE for an index out of range.
 */
int ctr_sym_module_status(struct ctr_sym *s, int module, const char **msg);

/* "ok", "no_debuginfo", "no_symbols", "missing", "unreadable", "build_id_mismatch";
 * "unknown" for anything else. Static storage. */
const char *ctr_sym_status_name(int status);

/*
 * Resolves the runtime address @addr, the entry point of a function (any address inside a
 * function works too, at some extra cost). The module is the most recently added one whose
 * range contains @addr, so a ctr_sym used with ctr_sym_lookup() should hold the modules of one
 * address space; use ctr_sym_lookup_in() to name the module. Results are cached per file and
 * offset. Returns 0 when a name was found (info fully filled), CTR_ENOTFOUND when not
 * (info->module and info->offset are still filled when the address lies in a module,
 * module = -1 otherwise; name, linkage_name NULL, file "", line 0).
 */
int ctr_sym_lookup(struct ctr_sym *s, uint64_t addr, struct ctr_sym_info *info);

/* Like ctr_sym_lookup() for an address known to lie in module @module (no range search:
 * modules of several processes may overlap). CTR_EUSAGE for a bad index; an address outside
 * the module's range is still resolved as @addr - bias. */
int ctr_sym_lookup_in(struct ctr_sym *s, int module, uint64_t addr, struct ctr_sym_info *info);

#endif
