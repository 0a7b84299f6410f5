/* SPDX-License-Identifier: MIT */
/*
 * The GOT/PLT slots of __cyg_profile_func_enter/exit in every loaded object. Hook bypass for
 * processes that record nothing: one not sampled by CTRACE_SAMPLE_RATE, or one started dormant
 * (CTRACE_START=off) until it is switched on. The GOT slots through which every loaded object calls
 * __cyg_profile_func_enter/exit are pointed at an empty function, so such a process pays exactly
 * the cost of glibc's no-op hooks; switching on points them back. GOT slots are pointer-sized and
 * written atomically, so threads calling meanwhile see one target or the other, both valid. `ctrace
 * attach` points the same slots at the recorder in a process that loaded it late, and back at
 * glibc's no-ops when it detaches (docs/attach.md).
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

struct patch_ctx {
	void *enter, *exit;
	uintptr_t self;
	uintptr_t relro_lo, relro_hi; /* the object being patched: read-only after start-up */
};

static uintptr_t dyn_ptr(const struct dl_phdr_info *info, uintptr_t v)
{
	/* glibc relocates these d_ptr values in place; the vdso's and ld.so's may not be */
	return v < info->dlpi_addr ? v + info->dlpi_addr : v;
}

static void patch_slot(const struct patch_ctx *c, uintptr_t slot, void *target)
{
	long pg = sysconf(_SC_PAGESIZE);
	uintptr_t page = slot & ~(uintptr_t)(pg - 1);
	int relro = slot >= c->relro_lo && slot < c->relro_hi;

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

static void patch_relocs(const Elf64_Rela *r, size_t n, const Elf64_Sym *syms, const char *strs,
			 uintptr_t base, const struct patch_ctx *c)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t type = ELF64_R_TYPE(r[i].r_info), si = ELF64_R_SYM(r[i].r_info);
		const char *name;

		if ((type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) || !si)
			continue;
		name = strs + syms[si].st_name;
		if (!strcmp(name, "__cyg_profile_func_enter"))
			patch_slot(c, base + r[i].r_offset, c->enter);
		else if (!strcmp(name, "__cyg_profile_func_exit"))
			patch_slot(c, base + r[i].r_offset, c->exit);
	}
}

static int patch_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct patch_ctx *c = arg;
	const ElfW(Dyn) *dyn = NULL;
	uintptr_t symtab = 0, strtab = 0, jmprel = 0, rela = 0;
	size_t pltrelsz = 0, relasz = 0;

	if (info->dlpi_addr == c->self || (info->dlpi_name && strstr(info->dlpi_name, "ld-linux")))
		return 0;
	c->relro_lo = c->relro_hi = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_DYNAMIC)
			dyn = (const ElfW(Dyn) *)(info->dlpi_addr + ph->p_vaddr);
		if (ph->p_type == PT_GNU_RELRO) {
			c->relro_lo = info->dlpi_addr + ph->p_vaddr;
			c->relro_hi = c->relro_lo + ph->p_memsz;
		}
	}
	if (!dyn)
		return 0;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		switch (dyn->d_tag) {
		case DT_SYMTAB:
			symtab = dyn_ptr(info, dyn->d_un.d_ptr);
			break;
		case DT_STRTAB:
			strtab = dyn_ptr(info, dyn->d_un.d_ptr);
			break;
		case DT_JMPREL:
			jmprel = dyn_ptr(info, dyn->d_un.d_ptr);
			break;
		case DT_PLTRELSZ:
			pltrelsz = dyn->d_un.d_val;
			break;
		case DT_RELA:
			rela = dyn_ptr(info, dyn->d_un.d_ptr);
			break;
		case DT_RELASZ:
			relasz = dyn->d_un.d_val;
			break;
		default:
			break;
		}
	}
	if (!symtab || !strtab)
		return 0;
	if (jmprel)
		patch_relocs((const Elf64_Rela *)jmprel, pltrelsz / sizeof(Elf64_Rela),
			     (const Elf64_Sym *)symtab, (const char *)strtab, info->dlpi_addr, c);
	if (rela)
		patch_relocs((const Elf64_Rela *)rela, relasz / sizeof(Elf64_Rela),
			     (const Elf64_Sym *)symtab, (const char *)strtab, info->dlpi_addr, c);
	return 0;
}

static uintptr_t self_base(void)
{
	Dl_info di;

	return dladdr((void *)noop_hook, &di) ? (uintptr_t)di.dli_fbase : 0;
}

/* Points every object's hook slots at the empty function (@on = 1) or back at the recorder. */
void ctr_bypass_hooks(int on)
{
	struct patch_ctx c = {
	    .enter = on ? (void *)noop_hook : (void *)ctr_hook_enter,
	    .exit = on ? (void *)noop_hook : (void *)ctr_hook_exit,
	    .self = self_base(),
	};

	dl_iterate_phdr(patch_object, &c);
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
	struct patch_ctx c = {.self = self_base()};

	if (!libc)
		return;
	c.enter = dlsym(libc, "__cyg_profile_func_enter");
	c.exit = dlsym(libc, "__cyg_profile_func_exit");
	if (c.enter && c.exit)
		dl_iterate_phdr(patch_object, &c);
	dlclose(libc);
	bypassed = 0;
}
