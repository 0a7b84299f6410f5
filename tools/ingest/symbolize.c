/* SPDX-License-Identifier: MIT */
/*
 * The symbolizer (see symbolize.h, docs/symbols.md). Each distinct file (path + recorded
 * build-id) gets its own Dwfl with the file reported at bias 0, so file-relative offsets are
 * Dwfl addresses and one opened file serves every process that loaded it, whatever its bias.
 * Function entries are found through a per-CU index (DW_TAG_subprogram entry pc -> DIE) built
 * the first time an address falls in that CU, which keeps thousands of lookups linear in the
 * DWARF actually touched; other addresses use dwarf_getscopes(). Results are cached per
 * (file, offset) and strings are interned, owned by the ctr_sym.
 */
#include "symbolize.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/dynlib.h"
#include "../../common/grow.h"
#include "../../common/hash.h"
#include "../../common/hmap.h"
#include "elflib.h"

/*
 * The demangler is libstdc++'s __cxa_demangle, looked up on the first C++ name rather than
 * linked: libstdc++ (5,000 relocations) cost every ctrace command, list included, part of its
 * start-up (docs/performance.md), for the one function only commits call. When no libstdc++
 * can be loaded, names stay mangled.
 */
static struct {
	char *(*__cxa_demangle)(const char *mangled, char *buf, size_t *len, int *status);
} cxx;
static const struct ctr_dynsym cxx_syms[] = {CTR_DYNSYM(cxx, __cxa_demangle)};
static struct ctr_dynlib cxx_lib = CTR_DYNLIB_INIT("libstdc++.so.6", cxx_syms);

/* The per-CU entry index of one file: entry address -> DIE. */
struct cu_index {
	struct ctr_hmap cus;	 /* CU DIE offset + 1 -> 1 once indexed */
	struct ctr_hmap entries; /* DWARF address + 1 -> index in dies */
	Dwarf_Die *dies;
	size_t n_dies, cap_dies;
};

/* Address range of a compilation unit, for DWARF without .debug_aranges (clang). */
struct cu_range {
	uint64_t lo, hi;
	Dwarf_Die die;
};

/* One ELF function symbol, for the sorted per-file symbol index. */
struct sym_elf {
	uint64_t addr, size;
	const char *name; /* in the ELF string table, valid while the Dwfl lives */
	int rank;	  /* among aliases at one address, the lowest is shown */
};

struct sym_file {
	char *path;
	char *build_id; /* recorded, lowercase hex, "" if none */
	int prepared;
	int status; /* enum ctr_sym_status once prepared */
	char *msg;
	Dwfl *dwfl;
	Dwfl_Module *mod;
	Dwarf *dw;	      /* NULL when no DWARF */
	Dwarf_Addr dwbias;    /* Dwfl address - DWARF address */
	struct cu_range *cus; /* sorted by lo; built on first use */
	size_t n_cus;
	int cus_built;
	struct cu_index idx;
	struct sym_elf *syms; /* sorted by address; built on first use */
	size_t n_syms;
	int syms_built;
};

struct sym_mod {
	uint32_t file;
	uint64_t bias, start, end;
};

/* Cached result for (file, offset). */
struct sym_ent {
	uint64_t off;
	uint32_t file; /* UINT32_MAX: free slot */
	int rc;
	const char *name, *linkage, *src;
	unsigned line;
};

struct ctr_sym {
	struct sym_file *files;
	size_t n_files, cap_files;
	struct sym_mod *mods;
	size_t n_mods, cap_mods;
	struct sym_ent *cache;
	size_t cache_cap, cache_n;
	char **strs; /* interned strings, open addressing, NULL = free */
	size_t strs_cap, strs_n;
	char *debug_path; /* NULL: elfutils default */
	Dwfl_Callbacks cb;
};

/* @key -> @val in @m unless @key is there already (first wins); keys are stored + 1 so that
 * address 0 is a key too. 0 or CTR_ENOMEM. */
static int map_add(struct ctr_hmap *m, uint64_t key, uint32_t val)
{
	if (ctr_hmap_get(m, key + 1))
		return 0;
	return ctr_hmap_put(m, key + 1, val) ? CTR_ENOMEM : 0;
}

/* 1 with *@val when @key is in @m. */
static int map_get(const struct ctr_hmap *m, uint64_t key, uint32_t *val)
{
	const uint32_t *v = ctr_hmap_get(m, key + 1);

	if (v)
		*val = *v;
	return v != NULL;
}

/* The interned copy of @str (owned by @s), or NULL when out of memory. */
static const char *intern(struct ctr_sym *s, const char *str)
{
	size_t i;

	if ((s->strs_n + 1) * 2 > s->strs_cap) {
		size_t ncap = s->strs_cap ? s->strs_cap * 2 : 256;
		char **ns = calloc(ncap, sizeof(*ns));

		if (!ns)
			return NULL;
		for (size_t j = 0; j < s->strs_cap; j++) {
			if (!s->strs[j])
				continue;
			i = ctr_hash_str(s->strs[j], CTR_HASH_SEED) & (ncap - 1);
			while (ns[i])
				i = (i + 1) & (ncap - 1);
			ns[i] = s->strs[j];
		}
		free(s->strs);
		s->strs = ns;
		s->strs_cap = ncap;
	}
	i = ctr_hash_str(str, CTR_HASH_SEED) & (s->strs_cap - 1);
	while (s->strs[i]) {
		if (!strcmp(s->strs[i], str))
			return s->strs[i];
		i = (i + 1) & (s->strs_cap - 1);
	}
	s->strs[i] = strdup(str);
	if (!s->strs[i])
		return NULL;
	s->strs_n++;
	return s->strs[i];
}

int ctr_sym_open(struct ctr_sym **out, struct ctr_err *e)
{
	struct ctr_sym *s;
	const char *env = getenv("CTRACE_DEBUG_PATH");

	*out = NULL;
	if (ctr_elflib_load(e) < 0)
		return CTR_ESYMBOL;
	elf_version(EV_CURRENT);
	s = calloc(1, sizeof(*s));
	if (!s)
		return ctr_err_set(e, CTR_ENOMEM, ENOMEM, "cannot allocate the symbolizer");
	s->cb.find_elf = dwfl_build_id_find_elf;
	s->cb.find_debuginfo = dwfl_standard_find_debuginfo;
	s->cb.section_address = dwfl_offline_section_address;
	s->cb.debuginfo_path = &s->debug_path;
	if (env && *env && ctr_sym_set_debug_path(s, env, e) < 0) {
		ctr_sym_close(s);
		return CTR_ENOMEM;
	}
	*out = s;
	return 0;
}

static void file_release(struct sym_file *f)
{
	free(f->path);
	free(f->build_id);
	free(f->msg);
	if (f->dwfl)
		dwfl_end(f->dwfl);
	ctr_hmap_free(&f->idx.cus);
	ctr_hmap_free(&f->idx.entries);
	free(f->idx.dies);
	free(f->syms);
	free(f->cus);
}

void ctr_sym_close(struct ctr_sym *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_files; i++)
		file_release(&s->files[i]);
	free(s->files);
	free(s->mods);
	free(s->cache);
	for (size_t i = 0; i < s->strs_cap; i++)
		free(s->strs[i]);
	free(s->strs);
	free(s->debug_path);
	free(s);
}

int ctr_sym_set_debug_path(struct ctr_sym *s, const char *path, struct ctr_err *e)
{
	char *p = NULL;

	if (path && !(p = strdup(path)))
		return ctr_err_set(e, CTR_ENOMEM, ENOMEM, "cannot allocate the debug path");
	free(s->debug_path);
	s->debug_path = p;
	return 0;
}

int ctr_sym_add_module(struct ctr_sym *s, const char *path, const char *build_id_hex, uint64_t bias,
		       uint64_t start, uint64_t end, struct ctr_err *e)
{
	const char *bid = build_id_hex ? build_id_hex : "";
	struct sym_file *f = NULL;
	struct sym_mod *m;
	size_t fi;

	if (!path || !*path)
		return ctr_err_set(e, CTR_EUSAGE, 0, "module without a path");
	if (start >= end)
		return ctr_err_set(e, CTR_EUSAGE, 0,
				   "empty address range [0x%llx,0x%llx) for module '%s'",
				   (unsigned long long)start, (unsigned long long)end, path);
	if (s->n_mods >= INT32_MAX)
		return ctr_err_set(e, CTR_EUSAGE, 0, "too many modules");
	for (fi = 0; fi < s->n_files; fi++)
		if (!strcmp(s->files[fi].path, path) && !strcasecmp(s->files[fi].build_id, bid))
			break;
	if (ctr_grow((void **)&s->mods, &s->cap_mods, s->n_mods + 1, sizeof(*s->mods)) < 0)
		goto nomem;
	if (fi == s->n_files) {
		if (ctr_grow((void **)&s->files, &s->cap_files, s->n_files + 1, sizeof(*s->files)) <
		    0)
			goto nomem;
		f = &s->files[fi];
		memset(f, 0, sizeof(*f));
		f->path = strdup(path);
		f->build_id = strdup(bid);
		if (!f->path || !f->build_id) {
			free(f->path);
			free(f->build_id);
			goto nomem;
		}
		for (char *c = f->build_id; *c; c++)
			if (*c >= 'A' && *c <= 'F')
				*c = (char)(*c - 'A' + 'a');
		s->n_files++;
	}
	m = &s->mods[s->n_mods];
	m->file = (uint32_t)fi;
	m->bias = bias;
	m->start = start;
	m->end = end;
	return (int)s->n_mods++;
nomem:
	return ctr_err_set(e, CTR_ENOMEM, ENOMEM, "cannot allocate module '%s'", path);
}

int ctr_sym_module_count(const struct ctr_sym *s)
{
	return (int)s->n_mods;
}

/* Sets @f's status and message (printf-style); keeps the status when the message cannot be
 * allocated. */
__attribute__((format(printf, 3, 4))) static void file_status(struct sym_file *f, int status,
							      const char *fmt, ...)
{
	va_list ap;

	f->status = status;
	free(f->msg);
	f->msg = NULL;
	va_start(ap, fmt);
	if (vasprintf(&f->msg, fmt, ap) < 0)
		f->msg = NULL;
	va_end(ap);
}

/* 1 if @elf has a full symbol table (.symtab, or a MiniDebugInfo .gnu_debugdata). */
static int elf_has_symtab(Elf *elf)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (!elf || elf_getshdrstrndx(elf, &shstrndx) != 0)
		return 0;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB)
			return 1;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (name && !strcmp(name, ".gnu_debugdata"))
			return 1;
	}
	return 0;
}

static int file_has_symtab(Dwfl_Module *mod, const char *debugfile)
{
	GElf_Addr bias;
	int ret = 0, fd;
	Elf *elf;

	if (elf_has_symtab(dwfl_module_getelf(mod, &bias)))
		return 1;
	if (!debugfile || (fd = open(debugfile, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	ret = elf_has_symtab(elf);
	elf_end(elf);
	close(fd);
	return ret;
}

/* Opens @f's file once and decides its status. Never fails: problems become the status. */
static void file_prepare(struct ctr_sym *s, struct sym_file *f)
{
	const unsigned char *bits;
	const char *debugfile = NULL;
	char hex[2 * 64 + 1] = "";
	GElf_Addr vaddr;
	Dwarf_Addr bias = 0;
	struct stat st;
	int n;

	if (f->prepared)
		return;
	f->prepared = 1;
	if (stat(f->path, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			file_status(f, CTR_SYM_MISSING, "cannot find '%s': %s", f->path,
				    strerror(errno));
		else
			file_status(f, CTR_SYM_UNREADABLE, "cannot access '%s': %s", f->path,
				    strerror(errno));
		return;
	}
	f->dwfl = dwfl_begin(&s->cb);
	if (!f->dwfl) {
		file_status(f, CTR_SYM_UNREADABLE, "cannot read '%s': %s", f->path,
			    dwfl_errmsg(-1));
		return;
	}
	dwfl_report_begin(f->dwfl);
	f->mod = dwfl_report_elf(f->dwfl, f->path, f->path, -1, 0, false);
	dwfl_report_end(f->dwfl, NULL, NULL);
	if (!f->mod) {
		file_status(f, CTR_SYM_UNREADABLE, "cannot read '%s': %s", f->path,
			    dwfl_errmsg(-1));
		return;
	}
	n = dwfl_module_build_id(f->mod, &bits, &vaddr);
	for (int i = 0; i < n && i < 64; i++)
		snprintf(hex + 2 * i, 3, "%02x", bits[i]);
	if (strcmp(hex, f->build_id)) {
		file_status(f, CTR_SYM_BUILD_ID_MISMATCH,
			    "build-id of '%s' is %s, recorded %s: rebuilt since the run", f->path,
			    *hex ? hex : "none", *f->build_id ? f->build_id : "none");
		f->mod = NULL;
		return;
	}
	f->dw = dwfl_module_getdwarf(f->mod, &bias);
	f->dwbias = bias;
	dwfl_module_info(f->mod, NULL, NULL, NULL, NULL, NULL, NULL, &debugfile);
	if (f->dw)
		file_status(f, CTR_SYM_OK, "debug info from '%s'%s",
			    debugfile ? debugfile : f->path,
			    *hex ? "" : " (no build-id: the file could not be verified)");
	else if (file_has_symtab(f->mod, debugfile))
		file_status(f, CTR_SYM_NO_DEBUGINFO,
			    "no debug info for '%s': names only, no files and lines", f->path);
	else
		file_status(f, CTR_SYM_NO_SYMBOLS,
			    "'%s' is stripped, no debug info: only exported functions resolve",
			    f->path);
}

int ctr_sym_module_status(struct ctr_sym *s, int module, const char **msg)
{
	struct sym_file *f;

	if (msg)
		*msg = NULL;
	if (module < 0 || (size_t)module >= s->n_mods)
		return CTR_EUSAGE;
	f = &s->files[s->mods[module].file];
	file_prepare(s, f);
	if (msg)
		*msg = f->msg ? f->msg : "";
	return f->status;
}

const char *ctr_sym_status_name(int status)
{
	switch (status) {
	case CTR_SYM_OK:
		return "ok";
	case CTR_SYM_NO_DEBUGINFO:
		return "no_debuginfo";
	case CTR_SYM_NO_SYMBOLS:
		return "no_symbols";
	case CTR_SYM_MISSING:
		return "missing";
	case CTR_SYM_UNREADABLE:
		return "unreadable";
	case CTR_SYM_BUILD_ID_MISMATCH:
		return "build_id_mismatch";
	}
	return "unknown";
}

/* Adds the entry address(es) of subprogram @die to @x. 0 or CTR_ENOMEM. */
static int index_subprogram(struct cu_index *x, Dwarf_Die *die)
{
	Dwarf_Addr lo, hi, base;
	ptrdiff_t off = 0;
	int ret;

	if (ctr_grow((void **)&x->dies, &x->cap_dies, x->n_dies + 1, sizeof(*x->dies)) < 0)
		return CTR_ENOMEM;
	x->dies[x->n_dies] = *die;
	if (dwarf_hasattr(die, DW_AT_low_pc)) {
		if (dwarf_lowpc(die, &lo) != 0)
			return 0;
		if ((ret = map_add(&x->entries, lo, (uint32_t)x->n_dies)) < 0)
			return ret;
	} else if (dwarf_hasattr(die, DW_AT_ranges)) {
		/* Split hot/cold functions: the first range starts at the entry; the others map
		 * to the same function, which is what they are part of. */
		while ((off = dwarf_ranges(die, off, &base, &lo, &hi)) > 0)
			if ((ret = map_add(&x->entries, lo, (uint32_t)x->n_dies)) < 0)
				return ret;
	} else {
		return 0;
	}
	x->n_dies++;
	return 0;
}

/* Indexes the subprograms under @die, descending only where code can be nested. */
static int index_children(struct cu_index *x, Dwarf_Die *die)
{
	Dwarf_Die child;
	int ret;

	if (dwarf_child(die, &child) != 0)
		return 0;
	do {
		switch (dwarf_tag(&child)) {
		case DW_TAG_subprogram:
			if ((ret = index_subprogram(x, &child)) < 0)
				return ret;
			/* nested functions, local classes */
			__attribute__((fallthrough));
		case DW_TAG_namespace:
		case DW_TAG_lexical_block:
		case DW_TAG_class_type:
		case DW_TAG_structure_type:
		case DW_TAG_union_type:
		case DW_TAG_module:
			if ((ret = index_children(x, &child)) < 0)
				return ret;
			break;
		default:
			break;
		}
	} while (dwarf_siblingof(&child, &child) == 0);
	return 0;
}

/* Finds the subprogram DIE for DWARF address @pc in CU @cudie into @out. 1 if found. */
static int find_subprogram(struct sym_file *f, Dwarf_Die *cudie, Dwarf_Addr pc, Dwarf_Die *out)
{
	struct cu_index *x = &f->idx;
	Dwarf_Die *scopes = NULL;
	uint64_t cuoff = dwarf_dieoffset(cudie);
	uint32_t v;
	int n, found = 0;

	if (!map_get(&x->cus, cuoff, &v)) {
		if (index_children(x, cudie) < 0 || map_add(&x->cus, cuoff, 1) < 0)
			return -1;
	}
	if (map_get(&x->entries, pc, &v)) {
		*out = x->dies[v];
		return 1;
	}
	/* Not an entry point: the innermost enclosing subprogram (not an inlined copy). */
	n = dwarf_getscopes(cudie, pc, &scopes);
	for (int i = 0; i < n; i++) {
		if (dwarf_tag(&scopes[i]) == DW_TAG_subprogram) {
			*out = scopes[i];
			found = 1;
			break;
		}
	}
	free(scopes);
	return found;
}

/* Display name for @linkage: demangled when it is a C++ name, else @fallback or @linkage. The
 * result is interned; NULL when out of memory. */
static const char *display_name(struct ctr_sym *s, const char *linkage, const char *fallback)
{
	const char *ret;
	char *dem;
	int st = -1;

	/* gcc's static initializers and finalizers are named after a symbol of their file,
	 * "_GLOBAL__sub_I_" + its mangled name (DWARF's name, with no linkage name): the prefix
	 * stays, the symbol is demangled */
	const char *g = linkage ? linkage : fallback;
	size_t pre = g && (!strncmp(g, "_GLOBAL__sub_I_", 15) || !strncmp(g, "_GLOBAL__sub_D_", 15))
			 ? 15
			 : 0;

	if (pre)
		linkage = g;

	if (linkage && !strncmp(linkage + pre, "_Z", 2) && ctr_dynlib_load(&cxx_lib) == 0) {
		dem = cxx.__cxa_demangle(linkage + pre, NULL, NULL, &st);
		if (dem && st == 0) {
			char *whole = pre ? malloc(pre + strlen(dem) + 1) : NULL;

			if (whole) {
				memcpy(whole, linkage, pre);
				strcpy(whole + pre, dem);
			}
			ret = pre && !whole ? NULL : intern(s, whole ? whole : dem);
			free(whole);
			free(dem);
			return ret;
		}
		free(dem);
	}
	return intern(s, fallback ? fallback : linkage);
}

static int sym_elf_cmp(const void *a, const void *b)
{
	const struct sym_elf *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank - y->rank;
	return strcmp(x->name, y->name);
}

/* Rank of a symbol among aliases at one address: functions beat untyped symbols, then global
 * names beat weak beat local ones. */
static int sym_rank(const GElf_Sym *sym)
{
	int bind = GELF_ST_BIND(sym->st_info);

	return (GELF_ST_TYPE(sym->st_info) == STT_NOTYPE ? 4 : 0) + (bind == STB_GLOBAL ? 0
								     : bind == STB_WEAK ? 1
											: 2);
}

/* Builds @f's sorted function symbol index (dwfl_module_addrinfo() scans the whole table on
 * every call: too slow for thousands of lookups). 0 or CTR_ENOMEM. */
static int build_syms(struct sym_file *f)
{
	size_t k = 0;
	int n;

	if (f->syms_built)
		return 0;
	n = dwfl_module_getsymtab(f->mod);
	if (n > 0) {
		f->syms = malloc((size_t)n * sizeof(*f->syms));
		if (!f->syms)
			return CTR_ENOMEM;
	}
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Word shndx;
		const char *name = dwfl_module_getsym(f->mod, i, &sym, &shndx);
		int type = GELF_ST_TYPE(sym.st_info);

		if (!name || !*name || shndx == SHN_UNDEF || sym.st_value == 0)
			continue;
		if (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_NOTYPE)
			continue;
		f->syms[k].addr = sym.st_value;
		f->syms[k].size = sym.st_size;
		f->syms[k].name = name;
		f->syms[k].rank = sym_rank(&sym);
		k++;
	}
	qsort(f->syms, k, sizeof(*f->syms), sym_elf_cmp);
	f->n_syms = k;
	f->syms_built = 1;
	return 0;
}

/* The function symbol covering @addr (at its start when @exact), or NULL. Among aliases the
 * first global one wins. */
static const struct sym_elf *find_sym(struct sym_file *f, uint64_t addr, int exact)
{
	const struct sym_elf *best = NULL;
	size_t lo = 0, hi;
	uint64_t top;

	if (build_syms(f) < 0 || !f->n_syms)
		return NULL;
	hi = f->n_syms;
	while (lo < hi) { /* first symbol with addr > @addr */
		size_t mid = lo + (hi - lo) / 2;

		if (f->syms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	top = f->syms[lo - 1].addr;
	if (exact && top != addr)
		return NULL;
	/* Aliases sort best first; past the end of a symbol (a sizeless one, or a gap) lies a
	 * local function the table does not list, and naming it after its neighbour would be
	 * wrong. */
	for (size_t i = lo; i-- > 0 && f->syms[i].addr == top;)
		if (top == addr || addr - top < f->syms[i].size)
			best = &f->syms[i];
	return best;
}

/* Like dwarf_decl_file(), which in elfutils 0.188 rejects file index 0: DWARF 5 (clang)
 * names the primary source file with it. */
static const char *decl_file(Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	Dwarf_Die cudie;
	Dwarf_Files *files;
	Dwarf_Word idx;
	size_t n;

	if (!dwarf_attr_integrate(die, DW_AT_decl_file, &attr) || dwarf_formudata(&attr, &idx))
		return NULL;
	if (idx != 0)
		return dwarf_decl_file(die);
	if (!dwarf_cu_die(attr.cu, &cudie, NULL, NULL, NULL, NULL, NULL, NULL) ||
	    dwarf_getsrcfiles(&cudie, &files, &n) != 0 || n == 0)
		return NULL;
	return dwarf_filesrc(files, 0, NULL, NULL);
}

static int cu_range_cmp(const void *a, const void *b)
{
	const struct cu_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Builds @f's table of CU address ranges from the CU DIEs alone. 0 or CTR_ENOMEM. */
static int build_cu_ranges(struct sym_file *f)
{
	Dwarf_CU *cu = NULL;
	Dwarf_Die cudie, subdie;
	uint8_t unit_type;
	size_t cap = 0;

	if (f->cus_built)
		return 0;
	f->cus_built = 1;
	while (dwarf_get_units(f->dw, cu, &cu, NULL, &unit_type, &cudie, &subdie) == 0) {
		Dwarf_Addr base, lo, hi;
		ptrdiff_t off = 0;

		if (unit_type == DW_UT_type || unit_type == DW_UT_split_type)
			continue;
		while ((off = dwarf_ranges(&cudie, off, &base, &lo, &hi)) > 0) {
			if (lo >= hi)
				continue;
			if (ctr_grow((void **)&f->cus, &cap, f->n_cus + 1, sizeof(*f->cus)) < 0)
				return CTR_ENOMEM;
			f->cus[f->n_cus].lo = lo;
			f->cus[f->n_cus].hi = hi;
			/* A skeleton unit's code is described in its split unit. */
			f->cus[f->n_cus].die =
			    unit_type == DW_UT_skeleton && dwarf_tag(&subdie) > 0 ? subdie : cudie;
			f->n_cus++;
		}
	}
	qsort(f->cus, f->n_cus, sizeof(*f->cus), cu_range_cmp);
	return 0;
}

/* The CU DIE covering DWARF address @pc, from the CU ranges; NULL if none. */
static Dwarf_Die *find_cu(struct sym_file *f, Dwarf_Addr pc)
{
	size_t lo = 0, hi;

	if (build_cu_ranges(f) < 0)
		return NULL;
	hi = f->n_cus;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->cus[mid].lo <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* CUs may nest ranges oddly (an empty CU at 0): check a few candidates. */
	for (size_t i = lo; i-- > 0 && lo - i <= 8;)
		if (pc < f->cus[i].hi)
			return &f->cus[i].die;
	return NULL;
}

/* Resolves from DWARF. 0 when a name was found, CTR_ENOTFOUND when not, CTR_ENOMEM. */
static int resolve_dwarf(struct ctr_sym *s, struct sym_file *f, Dwarf_Addr addr, struct sym_ent *r)
{
	Dwarf_Attribute attr;
	Dwarf_Addr bias = 0;
	Dwarf_Die *cu, die;
	const char *dn, *lk = NULL, *src;
	int line = 0;

	cu = dwfl_module_addrdie(f->mod, addr, &bias);
	if (!cu) {
		/* No .debug_aranges (clang): libdwfl 0.188 finds no CU without them. */
		bias = f->dwbias;
		cu = find_cu(f, addr - bias);
	}
	if (!cu)
		return CTR_ENOTFOUND;
	switch (find_subprogram(f, cu, addr - bias, &die)) {
	case 1:
		break;
	case 0:
		return CTR_ENOTFOUND;
	default:
		return CTR_ENOMEM;
	}
	if (dwarf_attr_integrate(&die, DW_AT_linkage_name, &attr) ||
	    dwarf_attr_integrate(&die, DW_AT_MIPS_linkage_name, &attr))
		lk = dwarf_formstring(&attr);
	if (!lk) {
		/* GCC gives lambdas (artificial operator()) no linkage name: the ELF symbol at
		 * the entry has it. */
		const struct sym_elf *es = find_sym(f, addr, 1);

		if (es && !strncmp(es->name, "_Z", 2))
			lk = es->name;
	}
	dn = dwarf_diename(&die);
	if (!dn && !lk)
		return CTR_ENOTFOUND;
	/* C++ shows the demangled linkage name (scope, template arguments, parameters). */
	r->name = display_name(s, lk, lk && !strncmp(lk, "_Z", 2) ? NULL : dn);
	r->linkage = intern(s, lk ? lk : dn);
	src = decl_file(&die);
	if (!src || dwarf_decl_line(&die, &line) != 0 || line <= 0) {
		/* No declaration coordinates (artificial functions): the line table at the
		 * function's entry. */
		Dwarf_Line *dl = dwarf_getsrc_die(cu, addr - bias);

		src = dl ? dwarf_linesrc(dl, NULL, NULL) : NULL;
		if (!dl || dwarf_lineno(dl, &line) != 0 || line < 0)
			line = 0;
	}
	r->src = intern(s, src ? src : "");
	r->line = (unsigned)line;
	if (!r->name || !r->linkage || !r->src)
		return CTR_ENOMEM;
	return 0;
}

/* Resolves from the ELF symbol table (name only). */
static int resolve_elf(struct ctr_sym *s, struct sym_file *f, Dwarf_Addr addr, struct sym_ent *r)
{
	const struct sym_elf *es = find_sym(f, addr, 0);

	if (!es)
		return CTR_ENOTFOUND;
	r->name = display_name(s, es->name, NULL);
	r->linkage = intern(s, es->name);
	r->src = intern(s, "");
	r->line = 0;
	if (!r->name || !r->linkage || !r->src)
		return CTR_ENOMEM;
	return 0;
}

/* The cache slot of (@file, @off): its own or the free one where it goes. */
static struct sym_ent *cache_slot(struct ctr_sym *s, uint32_t file, uint64_t off)
{
	size_t i = ctr_hash_mix64(off ^ ((uint64_t)file << 47) ^ file) & (s->cache_cap - 1);

	while (s->cache[i].file != UINT32_MAX &&
	       (s->cache[i].file != file || s->cache[i].off != off))
		i = (i + 1) & (s->cache_cap - 1);
	return &s->cache[i];
}

static int cache_reserve(struct ctr_sym *s)
{
	struct sym_ent *old = s->cache, *nc;
	size_t ocap = s->cache_cap, ncap;

	if ((s->cache_n + 1) * 2 <= s->cache_cap)
		return 0;
	ncap = ocap ? ocap * 2 : 1024;
	nc = malloc(ncap * sizeof(*nc));
	if (!nc)
		return CTR_ENOMEM;
	for (size_t i = 0; i < ncap; i++)
		nc[i].file = UINT32_MAX;
	s->cache = nc;
	s->cache_cap = ncap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].file != UINT32_MAX)
			*cache_slot(s, old[i].file, old[i].off) = old[i];
	free(old);
	return 0;
}

/* An answer that names nothing: no module, no name, no file. */
static void sym_info_clear(struct ctr_sym_info *info)
{
	info->module = -1;
	info->offset = 0;
	info->name = NULL;
	info->linkage_name = NULL;
	info->file = "";
	info->line = 0;
}

int ctr_sym_lookup_in(struct ctr_sym *s, int module, uint64_t addr, struct ctr_sym_info *info)
{
	struct sym_ent *slot, r;
	struct sym_file *f;
	struct sym_mod *m;
	uint64_t off;

	sym_info_clear(info);
	if (module < 0 || (size_t)module >= s->n_mods)
		return CTR_EUSAGE;
	m = &s->mods[module];
	off = addr - m->bias;
	info->module = module;
	info->offset = off;
	f = &s->files[m->file];
	file_prepare(s, f);
	if (f->status > CTR_SYM_NO_SYMBOLS || !f->mod)
		return CTR_ENOTFOUND;
	if (cache_reserve(s) < 0)
		return CTR_ENOMEM;
	slot = cache_slot(s, m->file, off);
	if (slot->file == UINT32_MAX) {
		memset(&r, 0, sizeof(r));
		r.file = m->file;
		r.off = off;
		r.rc = f->dw ? resolve_dwarf(s, f, off, &r) : CTR_ENOTFOUND;
		if (r.rc == CTR_ENOTFOUND) {
			memset(&r, 0, sizeof(r));
			r.file = m->file;
			r.off = off;
			r.rc = resolve_elf(s, f, off, &r);
		}
		if (r.rc == CTR_ENOMEM)
			return CTR_ENOMEM;
		if (r.rc != 0) {
			r.name = r.linkage = NULL;
			r.src = "";
			r.line = 0;
		}
		*slot = r;
		s->cache_n++;
	}
	info->name = slot->name;
	info->linkage_name = slot->linkage;
	info->file = slot->src ? slot->src : "";
	info->line = slot->line;
	return slot->rc;
}

int ctr_sym_lookup(struct ctr_sym *s, uint64_t addr, struct ctr_sym_info *info)
{
	for (size_t i = s->n_mods; i-- > 0;)
		if (addr >= s->mods[i].start && addr < s->mods[i].end)
			return ctr_sym_lookup_in(s, (int)i, addr, info);
	sym_info_clear(info);
	return CTR_ENOTFOUND;
}
