/* SPDX-License-Identifier: MIT */
/*
 * Library calls (--libcalls, CTRACE_LIBCALLS): the PLT slots of the chosen imported functions in
 * each instrumented object (one that imports __cyg_profile_func_enter), at start-up, after a
 * dlopen and in a fork child, are pointed at per-symbol trampolines. A trampoline records an
 * ENTER of its own address (named SYM@LIB by an S line of the process's maps file), swaps the
 * call's return address for a return trampoline and jumps to the function; the return
 * trampoline records the EXIT and goes back to the saved address.
 *
 * The saved return addresses are a per-thread shadow stack keyed by the address of the
 * return-address slot. A frame skipped by longjmp (or a handler that jumped out) is dropped by
 * the next call or return on the same stack at or above it; the recorder's own longjmp and
 * exception repair (hooks.c) closes the recorded frames. An exception cannot unwind through a
 * return trampoline (it has no unwind information for the caller), so while one is raised the
 * original return addresses are put back in the stack, and the catch re-arms the calls that
 * are still open (ctr_libcalls_catch()).
 *
 * The target of a slot is what the loader bound it to (-z now, LD_BIND_NOW, a call already
 * made: IFUNCs are resolved then), or, still lazy, what dlvsym()/dlsym() find for the
 * symbol's version in the global scope, then in the object's own. Functions that look at
 * their return address or stack, or never return normally (setjmp, vfork, dlsym, the
 * unwinder), are never redirected, nor are calls into the preload or into instrumented
 * objects (those are recorded as functions already).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "preload-int.h"

#define LC_STUBS 2048	/* trampolines: distinct (symbol, target) pairs per process */
#define LC_DEPTH 256	/* open library calls per thread; deeper ones are not recorded */
#define LC_PENDING 4096 /* slots found in one scan */
#define LC_OBJECTS 512	/* instrumented objects */
#define LC_NAME 112	/* SYM@LIB, cut */
#define LC_MAX_GLOBS 64
#define LC_SAME_STACK (1ul << 30) /* frame distance below which two frames share a stack */

void __cyg_profile_func_exit(void *fn, void *site);

/* The trampolines (asm below): stub i is at ctr_lc_stubs + 16 * i. */
extern const char ctr_lc_stubs[], ctr_lc_stubs_end[], ctr_lc_ret[];
uintptr_t ctr_libcall_enter(uint32_t i, uintptr_t *slot) __attribute__((used));
uintptr_t ctr_libcall_exit(uintptr_t *slot) __attribute__((used));

struct lc_sym {
	uintptr_t target;
	char name[LC_NAME];
};

struct lc_ent {
	uintptr_t sp;  /* address of the call's return-address slot */
	uintptr_t ret; /* the return address it held */
	uint32_t sym;
	uint32_t armed; /* the slot holds ctr_lc_ret (0 while an exception unwinds) */
};

struct lc_thr {
	uint32_t n, busy;
	uint64_t passed;    /* calls not recorded: too deep, or from a signal handler meanwhile */
	struct lc_ent *ent; /* LC_DEPTH entries, mapped at the thread's first library call */
};

struct lc_pending {
	uintptr_t slot, lo, hi, relro_lo, relro_hi;
	const char *name, *ver, *path;
};

static int lc_on;
static char *lc_pat[LC_MAX_GLOBS];
static int lc_npat;
static struct lc_sym lc_syms[LC_STUBS];
static uint32_t lc_nsyms, lc_written;
static uint64_t lc_dropped; /* slots not redirected: no trampoline left */
static int lc_warned;
static struct lc_pending lc_pend[LC_PENDING];
static uint32_t lc_npend;
static struct {
	uintptr_t lo, hi;
} lc_inst[LC_OBJECTS];
static uint32_t lc_ninst;
static __thread struct lc_thr lc_tls;

/* ---- trampolines -------------------------------------------------------------------- */

/*
 * Stub: push its index, jump to the common entry. Entry: saves the argument registers (and
 * %rax, the vector count of a variadic call), calls ctr_libcall_enter(index, &return slot),
 * drops the index and jumps to the target through %r11 (scratch at a call), so the function
 * starts with the stack the caller left. Return: saves the return registers, asks
 * ctr_libcall_exit() for the address and jumps to it. Jumps, not returns: the CPU's return
 * predictions stay paired with the program's own calls. The return trampoline's
 * unwind information says "no caller": a backtrace from inside a library call stops there.
 */
__asm__(".text\n"
	".p2align 4\n"
	".globl ctr_lc_stubs\n"
	".hidden ctr_lc_stubs\n"
	"ctr_lc_stubs:\n"
	".set lc_i, 0\n"
	".rept 2048\n"
	"	endbr64\n"
	"	.byte 0x68\n" /* push imm32: always 5 bytes */
	"	.long lc_i\n"
	"	.byte 0xe9\n" /* jmp rel32 */
	"	.long ctr_lc_entry - . - 4\n"
	"	.p2align 4, 0xcc\n"
	"	.set lc_i, lc_i + 1\n"
	".endr\n"
	".globl ctr_lc_stubs_end\n"
	".hidden ctr_lc_stubs_end\n"
	"ctr_lc_stubs_end:\n"
	"	.p2align 4\n"
	"ctr_lc_entry:\n"
	"	.cfi_startproc\n"
	"	.cfi_def_cfa_offset 16\n"
	"	push %rbp\n"
	"	.cfi_def_cfa_offset 24\n"
	"	.cfi_offset %rbp, -24\n"
	"	mov %rsp, %rbp\n"
	"	.cfi_def_cfa_register %rbp\n"
	"	sub $200, %rsp\n"
	"	mov %rdi, 0(%rsp)\n"
	"	mov %rsi, 8(%rsp)\n"
	"	mov %rdx, 16(%rsp)\n"
	"	mov %rcx, 24(%rsp)\n"
	"	mov %r8, 32(%rsp)\n"
	"	mov %r9, 40(%rsp)\n"
	"	mov %rax, 48(%rsp)\n"
	"	mov %r10, 56(%rsp)\n"
	"	movups %xmm0, 64(%rsp)\n"
	"	movups %xmm1, 80(%rsp)\n"
	"	movups %xmm2, 96(%rsp)\n"
	"	movups %xmm3, 112(%rsp)\n"
	"	movups %xmm4, 128(%rsp)\n"
	"	movups %xmm5, 144(%rsp)\n"
	"	movups %xmm6, 160(%rsp)\n"
	"	movups %xmm7, 176(%rsp)\n"
	"	mov 8(%rbp), %edi\n"
	"	lea 16(%rbp), %rsi\n"
	"	call ctr_libcall_enter\n"
	"	mov %rax, 8(%rbp)\n"
	"	mov 0(%rsp), %rdi\n"
	"	mov 8(%rsp), %rsi\n"
	"	mov 16(%rsp), %rdx\n"
	"	mov 24(%rsp), %rcx\n"
	"	mov 32(%rsp), %r8\n"
	"	mov 40(%rsp), %r9\n"
	"	mov 48(%rsp), %rax\n"
	"	mov 56(%rsp), %r10\n"
	"	movups 64(%rsp), %xmm0\n"
	"	movups 80(%rsp), %xmm1\n"
	"	movups 96(%rsp), %xmm2\n"
	"	movups 112(%rsp), %xmm3\n"
	"	movups 128(%rsp), %xmm4\n"
	"	movups 144(%rsp), %xmm5\n"
	"	movups 160(%rsp), %xmm6\n"
	"	movups 176(%rsp), %xmm7\n"
	"	mov 8(%rbp), %r11\n"
	"	leave\n"
	"	.cfi_def_cfa %rsp, 16\n"
	"	lea 8(%rsp), %rsp\n"
	"	.cfi_def_cfa_offset 8\n"
	"	jmp *%r11\n"
	"	.cfi_endproc\n"
	"	.p2align 4\n"
	"	.cfi_startproc\n"
	"	.cfi_undefined %rip\n"
	"	nop\n" /* unwinders look up a return address minus one */
	".globl ctr_lc_ret\n"
	".hidden ctr_lc_ret\n"
	"ctr_lc_ret:\n"
	"	sub $8, %rsp\n"
	"	push %rax\n"
	"	push %rdx\n"
	"	sub $40, %rsp\n"
	"	movups %xmm0, 0(%rsp)\n"
	"	movups %xmm1, 16(%rsp)\n"
	"	lea 56(%rsp), %rdi\n"
	"	call ctr_libcall_exit\n"
	"	mov %rax, %r11\n"
	"	movups 0(%rsp), %xmm0\n"
	"	movups 16(%rsp), %xmm1\n"
	"	add $40, %rsp\n"
	"	pop %rdx\n"
	"	pop %rax\n"
	"	add $8, %rsp\n"
	"	jmp *%r11\n"
	"	.cfi_endproc\n");

static uintptr_t stub_addr(uint32_t i)
{
	return (uintptr_t)ctr_lc_stubs + 16u * i;
}

static int is_stub(uintptr_t a)
{
	return a >= (uintptr_t)ctr_lc_stubs && a < (uintptr_t)ctr_lc_stubs_end;
}

/* The recorder's frame of a library call sits just below its return-address slot: below the
 * frame of the function that made the call (whose hook ran at that same stack address), so a
 * longjmp or catch that lands in the caller closes the library call and keeps the caller. */
static uintptr_t rec_sp(uintptr_t sp)
{
	return sp - 1;
}

/* errno is the program's: only this mmap and the recorder's slow paths (which keep it) could
 * change it on the way through a trampoline */
static struct lc_ent *map_entries(void)
{
	int saved = errno;
	void *m = mmap(NULL, LC_DEPTH * sizeof(struct lc_ent), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	errno = saved;
	return m == MAP_FAILED ? NULL : m;
}

/* HOT: signal-safe, no alloc (after a thread's first call maps its entries) */
uintptr_t ctr_libcall_enter(uint32_t i, uintptr_t *slot)
{
	struct lc_thr *t = &lc_tls;
	uintptr_t sp = (uintptr_t)slot, target = lc_syms[i].target;
	uint32_t n;

	if (t->busy) { /* a signal handler while this thread is in here: not recorded */
		t->passed++;
		return target;
	}
	t->busy = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	n = t->n;
	/* open calls at or below this one on the same stack were skipped (longjmp) */
	while (n && t->ent[n - 1].sp <= sp && sp - t->ent[n - 1].sp < LC_SAME_STACK)
		n--;
	t->n = n;
	if (unlikely(!t->ent) && !(t->ent = map_entries()))
		n = LC_DEPTH;
	if (n < LC_DEPTH) {
		t->ent[n].sp = sp;
		t->ent[n].ret = *slot;
		t->ent[n].sym = i;
		t->ent[n].armed = 1;
		t->n = n + 1;
		*slot = (uintptr_t)ctr_lc_ret;
		ctr_hook_enter_at(stub_addr(i), rec_sp(sp));
	} else {
		t->passed++;
	}
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	t->busy = 0;
	return target;
}

/* HOT: signal-safe, no alloc. @slot is where the call's return address was. */
uintptr_t ctr_libcall_exit(uintptr_t *slot)
{
	struct lc_thr *t = &lc_tls;
	uintptr_t sp = (uintptr_t)slot, ret;
	uint32_t k, j, w;

	t->busy = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	for (k = t->n; k > 0; k--)
		if (t->ent[k - 1].sp == sp && t->ent[k - 1].armed)
			break;
	if (unlikely(k == 0)) {
		/* cannot happen: every armed return has its entry. There is nowhere to return. */
		ctr_log(CTR_LOG_ERROR, "--libcalls: a return on another stack than its call "
				       "(the program switched stacks itself); cannot go on");
		abort();
	}
	ret = t->ent[k - 1].ret;
	j = t->ent[k - 1].sym;
	/* entries above it deeper on this stack were skipped; others (another stack) are kept */
	for (w = k - 1; k < t->n; k++)
		if (!(t->ent[k].sp < sp && sp - t->ent[k].sp < LC_SAME_STACK))
			t->ent[w++] = t->ent[k];
	t->n = w;
	__cyg_profile_func_exit((void *)stub_addr(j), NULL);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	t->busy = 0;
	return ret;
}

/* ---- exceptions ---------------------------------------------------------------------- */

/* Puts the original return addresses back while an exception unwinds the stack. */
static void lc_disarm(void)
{
	struct lc_thr *t = &lc_tls;

	if (!lc_on)
		return;
	t->busy = 1;
	for (uint32_t k = t->n; k > 0; k--) {
		struct lc_ent *e = &t->ent[k - 1];

		if (e->armed && *(uintptr_t *)e->sp == (uintptr_t)ctr_lc_ret)
			*(uintptr_t *)e->sp = e->ret;
		e->armed = 0;
	}
	t->busy = 0;
}

void ctr_libcalls_catch(uintptr_t sp)
{
	struct lc_thr *t = &lc_tls;
	uint32_t w = 0;

	if (!lc_on)
		return;
	t->busy = 1;
	for (uint32_t k = 0; k < t->n; k++) {
		struct lc_ent *e = &t->ent[k];

		if (e->sp <= sp && sp - e->sp < LC_SAME_STACK)
			continue; /* unwound */
		if (!e->armed && *(uintptr_t *)e->sp == e->ret) {
			*(uintptr_t *)e->sp = (uintptr_t)ctr_lc_ret;
			e->armed = 1;
		}
		if (e->armed)
			t->ent[w++] = *e;
	}
	t->n = w;
	t->busy = 0;
}

/* The unwinder's entry points, interposed only to disarm first; each forwards to the one the
 * program would have bound without the preload (RTLD_NEXT). */
#define UNWIND_WRAPPER(sym)                                                                        \
	CTR_EXPORT int sym(void *a, void *b, void *c)                                              \
	{                                                                                          \
		static int (*real)(void *, void *, void *);                                        \
		int saved = errno;                                                                 \
                                                                                                   \
		if (!real)                                                                         \
			real = (int (*)(void *, void *, void *))dlsym(RTLD_NEXT, #sym);            \
		lc_disarm();                                                                       \
		errno = saved;                                                                     \
		return real ? real(a, b, c) : 5 /* _URC_END_OF_STACK */;                           \
	}

UNWIND_WRAPPER(_Unwind_RaiseException)
UNWIND_WRAPPER(_Unwind_Resume_or_Rethrow)
UNWIND_WRAPPER(_Unwind_ForcedUnwind)

/* ---- policy --------------------------------------------------------------------------- */

int ctr_libcalls_init(const char *globs)
{
	char *copy, *save = NULL, *tok;

	if (!globs || !*globs || !strcmp(globs, "off"))
		return 0;
	if (!(copy = strdup(globs)))
		return -1;
	for (tok = strtok_r(copy, ",;", &save); tok && lc_npat < LC_MAX_GLOBS;
	     tok = strtok_r(NULL, ",;", &save))
		if (*tok && (lc_pat[lc_npat] = strdup(strcmp(tok, "on") ? tok : "*")))
			lc_npat++;
	free(copy);
	lc_on = lc_npat > 0;
	return 0;
}

/* Functions a trampoline would break: they read their return address or stack, return twice,
 * or leave by unwinding; and the recorder's own hooks. */
static int never_redirect(const char *name)
{
	static const char *const never[] = {
	    "setjmp",
	    "_setjmp",
	    "sigsetjmp",
	    "__sigsetjmp",
	    "getcontext",
	    "swapcontext",
	    "setcontext",
	    "vfork",
	    "__libc_start_main",
	    "dlsym",
	    "dlvsym",
	    "dlopen",
	    "dlmopen",
	    "__tls_get_addr",
	    "__cxa_throw",
	    "__cxa_rethrow",
	    "pthread_exit",
	    "__cxa_begin_catch",
	    "__cxa_end_catch",
	    "__gxx_personality_v0",
	};

	if (!strncmp(name, "_Unwind_", 8) || !strncmp(name, "__cyg_profile_", 14) ||
	    !strncmp(name, "ctrace_", 7))
		return 1;
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		if (!strcmp(name, never[i]))
			return 1;
	return 0;
}

static int wanted(const char *name)
{
	if (never_redirect(name))
		return 0;
	for (int i = 0; i < lc_npat; i++)
		if (fnmatch(lc_pat[i], name, 0) == 0)
			return 1;
	return 0;
}

static int find_hook(const struct ctr_got *g, uint32_t si, const char *name, uintptr_t slot,
		     void *arg)
{
	(void)g, (void)si, (void)slot, (void)arg;
	return !strcmp(name, "__cyg_profile_func_enter");
}

static int collect_slot(const struct ctr_got *g, uint32_t si, const char *name, uintptr_t slot,
			void *arg)
{
	const struct lc_pending *o = arg;
	struct lc_pending *p;

	if (is_stub(*(uintptr_t *)slot) || !wanted(name))
		return 0;
	if (lc_npend >= LC_PENDING) {
		lc_dropped++;
		return 0;
	}
	p = &lc_pend[lc_npend++];
	*p = *o;
	p->slot = slot;
	p->name = name;
	p->ver = ctr_got_version(g, si);
	return 0;
}

/* dl_iterate_phdr holds the loader's lock: only collect here, resolve outside. */
static int collect_object(const struct ctr_got *g, void *arg)
{
	struct lc_pending o = {.relro_lo = g->relro_lo, .relro_hi = g->relro_hi};
	uintptr_t lo = UINTPTR_MAX, hi = 0;

	(void)arg;
	if (!ctr_got_relocs(g, 0, find_hook, NULL))
		return 0; /* not instrumented */
	for (int k = 0; k < g->info->dlpi_phnum; k++) {
		const ElfW(Phdr) *ph = &g->info->dlpi_phdr[k];

		if (ph->p_type != PT_LOAD)
			continue;
		if (g->base + ph->p_vaddr < lo)
			lo = g->base + ph->p_vaddr;
		if (g->base + ph->p_vaddr + ph->p_memsz > hi)
			hi = g->base + ph->p_vaddr + ph->p_memsz;
	}
	o.lo = lo;
	o.hi = hi;
	o.path = g->info->dlpi_name;
	if (lc_ninst < LC_OBJECTS) {
		uint32_t i;

		for (i = 0; i < lc_ninst && lc_inst[i].lo != lo; i++)
			;
		if (i == lc_ninst) {
			lc_inst[i].lo = lo;
			lc_inst[i].hi = hi;
			lc_ninst++;
		}
	}
	ctr_got_relocs(g, 1, collect_slot, &o);
	return 0;
}

/* Where the loader would send a call through a slot that is not bound yet. */
static void *resolve(const struct lc_pending *p)
{
	void *a = p->ver ? dlvsym(RTLD_DEFAULT, p->name, p->ver) : dlsym(RTLD_DEFAULT, p->name);
	void *h;

	if (a || !p->path || !*p->path)
		return a;
	/* an object opened RTLD_LOCAL binds to its own dependencies */
	if (!(h = dlopen(p->path, RTLD_LAZY | RTLD_NOLOAD)))
		return NULL;
	a = p->ver ? dlvsym(h, p->name, p->ver) : dlsym(h, p->name);
	dlclose(h);
	return a;
}

static int in_instrumented(uintptr_t a)
{
	for (uint32_t i = 0; i < lc_ninst; i++)
		if (a >= lc_inst[i].lo && a < lc_inst[i].hi)
			return 1;
	return 0;
}

/* The trampoline of @name bound to @target, made on first use; -1 when none is left. */
static int stub_for(const char *name, uintptr_t target)
{
	Dl_info di;
	const char *lib = "?", *slash;

	for (uint32_t i = 0; i < lc_nsyms; i++) {
		const char *at = strrchr(lc_syms[i].name, '@');

		if (lc_syms[i].target == target && at &&
		    (size_t)(at - lc_syms[i].name) == strlen(name) &&
		    !strncmp(lc_syms[i].name, name, (size_t)(at - lc_syms[i].name)))
			return (int)i;
	}
	if (lc_nsyms >= LC_STUBS)
		return -1;
	if (dladdr((void *)target, &di) && di.dli_fname && *di.dli_fname) {
		slash = strrchr(di.dli_fname, '/');
		lib = slash ? slash + 1 : di.dli_fname;
	}
	snprintf(lc_syms[lc_nsyms].name, LC_NAME, "%s@%s", name, lib);
	__atomic_store_n(&lc_syms[lc_nsyms].target, target, __ATOMIC_RELEASE);
	return (int)lc_nsyms++;
}

static void write_names(int fd, uint32_t from)
{
	char line[LC_NAME + 40];

	for (uint32_t i = from; i < lc_nsyms && fd >= 0; i++) {
		int n = snprintf(line, sizeof(line), "S %lx %s\n", (unsigned long)stub_addr(i),
				 lc_syms[i].name);

		if (n > 0 && write(fd, line, (size_t)n) < 0)
			(void)0;
	}
	lc_written = lc_nsyms;
}

void ctr_libcalls_scan(int maps_fd, int fresh)
{
	Dl_info di;
	uintptr_t self = dladdr((void *)ctr_libcalls_scan, &di) ? (uintptr_t)di.dli_fbase : 0;
	int saved = errno;

	if (!lc_on)
		return;
	lc_npend = 0;
	ctr_got_each(collect_object, NULL);
	for (uint32_t i = 0; i < lc_npend; i++) {
		const struct lc_pending *p = &lc_pend[i];
		uintptr_t cur = *(uintptr_t *)p->slot, target = cur;
		struct ctr_got g = {.relro_lo = p->relro_lo, .relro_hi = p->relro_hi};
		int s;

		if (is_stub(cur))
			continue;
		if (cur >= p->lo && cur < p->hi) /* lazy: still the object's own PLT */
			target = (uintptr_t)resolve(p);
		if (!target || in_instrumented(target) || !dladdr((void *)target, &di) ||
		    (uintptr_t)di.dli_fbase == self ||
		    (di.dli_fname && strstr(di.dli_fname, "ld-linux")))
			continue;
		if ((s = stub_for(p->name, target)) < 0) {
			lc_dropped++;
			continue;
		}
		ctr_got_set(&g, p->slot, (void *)stub_addr((uint32_t)s));
	}
	if (lc_dropped && !lc_warned++)
		ctr_log(CTR_LOG_WARN, "--libcalls: %llu call sites not traced (more than %d)",
			(unsigned long long)lc_dropped, LC_STUBS);
	write_names(maps_fd, fresh ? 0 : lc_written);
	errno = saved;
}
