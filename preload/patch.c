/* SPDX-License-Identifier: MIT */
/*
 * GOT repointing. A walker over every loaded object's dynamic relocations (ctr_got_each(),
 * ctr_got_relocs()) and a store into a slot that opens RELRO for it (ctr_got_set()), shared by
 * the hook bypass below and the library-call trampolines (libcalls.c).
 *
 * Hook bypass for processes that record nothing: one not sampled by CTRACE_SAMPLE_RATE, or one
 * started dormant (CTRACE_START=off) until it is switched on. The GOT slots through which every
 * loaded object calls __cyg_profile_func_enter/exit are pointed at an empty function, so such
 * a process pays exactly the cost of glibc's no-op hooks; switching on points them back. GOT
 * slots are pointer-sized and written atomically, so threads calling meanwhile see one target
 * or the other, both valid.
 * `ctrace attach` points the same slots at the recorder in a process that loaded it late, and
 * back at glibc's no-ops when it detaches (ctr_patch_restore(), docs/attach.md).
 */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "preload-int.h"

void ctr_hook_enter(void *fn, void *site); /* hooks.c: this object's own hooks */
void ctr_hook_exit(void *fn, void *site);

static void CTR_NOINSTR noop_hook(void *fn, void *site)
{
	(void)fn;
	(void)site;
}

static int bypassed;

static uintptr_t dyn_ptr(const struct dl_phdr_info *info, uintptr_t v)
{
	/* glibc relocates these d_ptr values in place; the vdso's and ld.so's may not be */
	return v < info->dlpi_addr ? v + info->dlpi_addr : v;
}

void ctr_got_set(const struct ctr_got *g, uintptr_t slot, void *target)
{
	long pg = sysconf(_SC_PAGESIZE);
	uintptr_t page = slot & ~(uintptr_t)(pg - 1);
	int relro = slot >= g->relro_lo && slot < g->relro_hi;

	if (*(void **)slot == target)
		return;
	/* RELRO makes that part of the GOT read-only after start-up: open it for this one store;
	 * a lazily bound .got.plt outside it is writable already and must stay so */
	if (relro && mprotect((void *)page, (size_t)pg, PROT_READ | PROT_WRITE) != 0)
		return;
	__atomic_store_n((void **)slot, target, __ATOMIC_RELEASE);
	if (relro)
		mprotect((void *)page, (size_t)pg, PROT_READ);
}

int ctr_got_relocs(const struct ctr_got *g, int plt_only, ctr_got_reloc_fn fn, void *arg)
{
	for (int k = 0; k < 2; k++) {
		const Elf64_Rela *r = g->rel[k];

		if (plt_only && k == 1)
			break;
		for (size_t i = 0; r && i < g->n_rel[k]; i++) {
			uint32_t type = ELF64_R_TYPE(r[i].r_info), si = ELF64_R_SYM(r[i].r_info);
			int ret;

			if ((type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) || !si)
				continue;
			ret =
			    fn(g, si, g->strs + g->syms[si].st_name, g->base + r[i].r_offset, arg);
			if (ret)
				return ret;
		}
	}
	return 0;
}

struct walk {
	ctr_got_fn fn;
	void *arg;
	uintptr_t self;
};

static int walk_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	const struct walk *w = arg;
	struct ctr_got g = {.info = info, .base = info->dlpi_addr};
	const ElfW(Dyn) *dyn = NULL;

	(void)size;
	if (info->dlpi_addr == w->self || (info->dlpi_name && strstr(info->dlpi_name, "ld-linux")))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_DYNAMIC)
			dyn = (const ElfW(Dyn) *)(info->dlpi_addr + ph->p_vaddr);
		if (ph->p_type == PT_GNU_RELRO) {
			g.relro_lo = info->dlpi_addr + ph->p_vaddr;
			g.relro_hi = g.relro_lo + ph->p_memsz;
		}
	}
	if (!dyn)
		return 0;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		uintptr_t p = dyn->d_un.d_ptr;

		switch (dyn->d_tag) {
		case DT_SYMTAB:
			g.syms = (const Elf64_Sym *)dyn_ptr(info, p);
			break;
		case DT_STRTAB:
			g.strs = (const char *)dyn_ptr(info, p);
			break;
		case DT_JMPREL:
			g.rel[0] = (const Elf64_Rela *)dyn_ptr(info, p);
			break;
		case DT_PLTRELSZ:
			g.n_rel[0] = dyn->d_un.d_val / sizeof(Elf64_Rela);
			break;
		case DT_RELA:
			g.rel[1] = (const Elf64_Rela *)dyn_ptr(info, p);
			break;
		case DT_RELASZ:
			g.n_rel[1] = dyn->d_un.d_val / sizeof(Elf64_Rela);
			break;
		case DT_VERSYM:
			g.versym = (const Elf64_Half *)dyn_ptr(info, p);
			break;
		case DT_VERNEED:
			g.verneed = (const Elf64_Verneed *)dyn_ptr(info, p);
			break;
		case DT_VERNEEDNUM:
			g.n_verneed = dyn->d_un.d_val;
			break;
		default:
			break;
		}
	}
	if (!g.syms || !g.strs)
		return 0;
	return w->fn(&g, w->arg);
}

static uintptr_t self_base(void)
{
	Dl_info di;

	return dladdr((void *)noop_hook, &di) ? (uintptr_t)di.dli_fbase : 0;
}

int ctr_got_each(ctr_got_fn fn, void *arg)
{
	struct walk w = {.fn = fn, .arg = arg, .self = self_base()};

	return dl_iterate_phdr(walk_object, &w);
}

const char *ctr_got_version(const struct ctr_got *g, uint32_t si)
{
	const Elf64_Verneed *vn = g->verneed;
	Elf64_Half v;

	if (!g->versym || !vn)
		return NULL;
	v = g->versym[si] & 0x7fff;
	if (v < 2) /* local or global: no version */
		return NULL;
	for (size_t i = 0; i < g->n_verneed && vn; i++) {
		const Elf64_Vernaux *a = (const Elf64_Vernaux *)((const char *)vn + vn->vn_aux);

		for (unsigned j = 0; j < vn->vn_cnt; j++) {
			if (a->vna_other == v)
				return g->strs + a->vna_name;
			a = (const Elf64_Vernaux *)((const char *)a + a->vna_next);
		}
		vn = vn->vn_next ? (const Elf64_Verneed *)((const char *)vn + vn->vn_next) : NULL;
	}
	return NULL;
}

struct hooks {
	void *enter, *exit;
	int pass; /* 0: the exit slots, 1: the enter slots */
};

static int bypass_slot(const struct ctr_got *g, uint32_t si, const char *name, uintptr_t slot,
		       void *arg)
{
	const struct hooks *h = arg;

	(void)si;
	if (h->pass && !strcmp(name, "__cyg_profile_func_enter"))
		ctr_got_set(g, slot, h->enter);
	else if (!h->pass && !strcmp(name, "__cyg_profile_func_exit"))
		ctr_got_set(g, slot, h->exit);
	return 0;
}

static int bypass_object(const struct ctr_got *g, void *arg)
{
	return ctr_got_relocs(g, 0, bypass_slot, arg);
}

/* The exit slots first: a call entered through the old enter target and left through the new
 * exit is an exit of no open frame (ignored), never a frame left open. */
static void point_hooks(struct hooks *h)
{
	for (h->pass = 0; h->pass < 2; h->pass++)
		ctr_got_each(bypass_object, h);
}

/* Points every object's hook slots at the empty function (@on = 1) or back at the recorder. */
void ctr_bypass_hooks(int on)
{
	struct hooks h = {
	    .enter = on ? (void *)noop_hook : (void *)ctr_hook_enter,
	    .exit = on ? (void *)noop_hook : (void *)ctr_hook_exit,
	};

	point_hooks(&h);
	bypassed = on;
}

int ctr_hooks_bypassed(void)
{
	return bypassed;
}

/* Points every object's hook slots back at glibc's no-op hooks (from libc's own symbol table:
 * loaded by dlopen, the names resolve there anyway), as they were before `ctrace attach`. */
void ctr_patch_restore(void)
{
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	struct hooks h;

	if (!libc)
		return;
	h.enter = dlsym(libc, "__cyg_profile_func_enter");
	h.exit = dlsym(libc, "__cyg_profile_func_exit");
	if (h.enter && h.exit)
		point_hooks(&h);
	dlclose(libc);
	bypassed = 0;
}

/* ---- dlopen and dlsym while attached ----------------------------------------------------
 * A process that loaded the preload late binds the objects it dlopens later to glibc's no-op
 * hooks (libc comes first in the global scope). While attached, every object's dlopen and
 * dlsym slots go through attach.c's entries, which look for new objects once the loader
 * added some, and point their hook slots at the recorder (ctr_attach_repatch()). */

void ctr_attach_dlopen(void); /* attach.c's entries (assembly: the caller's frame untouched) */
void ctr_attach_dlsym(void);

static int routed; /* the dlopen and dlsym slots go through the entries */

struct route {
	void *libc; /* handle of libc.so.6 */
	int on;
};

/* glibc's function for slot @si of @g (the version the object asked for). */
static void *libc_fn(const struct route *r, const struct ctr_got *g, uint32_t si, const char *name)
{
	const char *ver = ctr_got_version(g, si);
	void *f = ver ? dlvsym(r->libc, name, ver) : NULL;

	return f ? f : dlsym(r->libc, name);
}

static int route_slot(const struct ctr_got *g, uint32_t si, const char *name, uintptr_t slot,
		      void *arg)
{
	const struct route *r = arg;
	int is_open = !strcmp(name, "dlopen");
	void *entry, *real, *cur;
	uintptr_t lo, hi;

	if (!is_open && strcmp(name, "dlsym"))
		return 0;
	entry = is_open ? (void *)ctr_attach_dlopen : (void *)ctr_attach_dlsym;
	if (!(real = libc_fn(r, g, si, name)))
		return 0;
	cur = __atomic_load_n((void **)slot, __ATOMIC_ACQUIRE);
	if (!r->on) {
		if (cur == entry)
			ctr_got_set(g, slot, real);
		return 0;
	}
	ctr_obj_range(g->info, &lo, &hi);
	/* glibc's, or a lazy slot still on the object's own PLT; an interposer's stays */
	if (cur == real || ((uintptr_t)cur >= lo && (uintptr_t)cur < hi))
		ctr_got_set(g, slot, entry);
	return 0;
}

static int route_object(const struct ctr_got *g, void *arg)
{
	return ctr_got_relocs(g, 0, route_slot, arg);
}

void ctr_attach_route_dl(int on)
{
	struct route r = {.on = on};

	if (!(r.libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD)))
		return;
	__atomic_store_n(&routed, on, __ATOMIC_SEQ_CST);
	ctr_got_each(route_object, &r);
	dlclose(r.libc);
}

/*
 * After the loader added objects while attached: their hook slots to the recorder, their
 * dlopen and dlsym slots to the entries. Counted in ctr_proc.starting for the time it runs,
 * so a detach that stopped this thread in here asks again (ctrace__attach_stop()) and restores
 * the slots after it; a detach that began first is seen in ctr_global_on.
 */
void ctr_attach_repatch(void)
{
	struct hooks h = {.enter = (void *)ctr_hook_enter, .exit = (void *)ctr_hook_exit};

	__atomic_fetch_add(&ctr_proc.starting, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&ctr_global_on, __ATOMIC_SEQ_CST) &&
	    __atomic_load_n(&routed, __ATOMIC_SEQ_CST)) {
		point_hooks(&h);
		ctr_attach_route_dl(1);
	}
	__atomic_fetch_sub(&ctr_proc.starting, 1, __ATOMIC_SEQ_CST);
}
