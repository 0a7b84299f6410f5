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
};

static int bypass_slot(const struct ctr_got *g, uint32_t si, const char *name, uintptr_t slot,
		       void *arg)
{
	const struct hooks *h = arg;

	(void)si;
	if (!strcmp(name, "__cyg_profile_func_enter"))
		ctr_got_set(g, slot, h->enter);
	else if (!strcmp(name, "__cyg_profile_func_exit"))
		ctr_got_set(g, slot, h->exit);
	return 0;
}

static int bypass_object(const struct ctr_got *g, void *arg)
{
	return ctr_got_relocs(g, 0, bypass_slot, arg);
}

/* Points every object's hook slots at the empty function (@on = 1) or back at the recorder. */
void ctr_bypass_hooks(int on)
{
	struct hooks h = {
	    .enter = on ? (void *)noop_hook : (void *)ctr_hook_enter,
	    .exit = on ? (void *)noop_hook : (void *)ctr_hook_exit,
	};

	ctr_got_each(bypass_object, &h);
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
		ctr_got_each(bypass_object, &h);
	dlclose(libc);
	bypassed = 0;
}
