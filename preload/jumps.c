/* SPDX-License-Identifier: MIT */
/*
 * Repair of the shadow stack when control leaves frames without their exit hooks: longjmp and
 * siglongjmp (wrapped, JUMP_WRAPPER: the jump target's stack pointer closes every frame below
 * it), C++ exceptions (__gxx_personality_v0 and the _Unwind_* entry points: the catching
 * frame's call frame address), and a signal handler that jumps out of a hook it interrupted
 * (the gate reopens and the stream's own frames are counted again).
 */
#include <dlfcn.h>
#include <errno.h>

#include "preload-int.h"

/* glibc mangles the saved stack pointer in a jmp_buf (PTR_MANGLE): xor with the pointer guard
 * at %fs:0x30, then rotate left by 17. Undo it to learn where the jump lands. */
static uintptr_t jmpbuf_sp(const void *env)
{
	uintptr_t v = ((const uintptr_t *)env)[6], guard;

	__asm__("movq %%fs:0x30, %0" : "=r"(guard));
	v = (v >> 17) | (v << (64 - 17));
	return v ^ guard;
}

/* Frames open at @end in a stream that had @depth open at @p (words written by this thread,
 * whole records); -1 when a record runs past @end. */
static int64_t stream_frames(const uint32_t *p, const uint32_t *end, uint32_t depth)
{
	int64_t d = depth;

	while (p < end) {
		uint32_t w = *p++, kind, arg;

		switch (CTR_W2_TAG(w)) {
		case CTR_W2_T_ENTER:
			d++;
			continue;
		case CTR_W2_T_LEAF:
			continue;
		case CTR_W2_T_EXIT:
			d -= CTR_W2_IS_EXIT2(w) ? 2 : 1;
			d = d < 0 ? 0 : d;
			continue;
		default:
			break;
		}
		kind = CTR_W_EXT_KIND(w);
		arg = CTR_W_EXT_ARG(w);
		if (end - p < CTR_W_EXT_NWORDS(w))
			return -1;
		p += CTR_W_EXT_NWORDS(w);
		if (kind == CTR_X_INHERIT || kind == CTR_X_SPAN)
			d++;
		else if (kind == CTR_X_UNWIND)
			d = d > arg ? d - arg : 0;
	}
	return d;
}

/* Below the innermost recorded frame's hook slot, how far a jump target may lie and still be
 * in that frame (its stack can grow after the enter hook's call); a target deeper than this
 * is in a signal handler's frames, below the kernel's signal frame (over 1 KiB). */
#define JUMP_SLACK 512u

/*
 * A signal handler that interrupted a hook (the gate is BUSY) jumps out of it, to @sp or
 * above: that hook never finishes, so the gate it held opens again, and the next event takes
 * the slow path. A target deeper than the innermost recorded frame is a jump inside the
 * handler: the hook will finish. What the interrupted event had not written yet is not in
 * the stream (an event is written before its position moves on); window switches and thread
 * start are ordered or run with signals blocked so that nothing is left half done.
 */
static void reopen_after_jump(struct ctr_thr *t, uintptr_t sp)
{
	uint32_t n = t->depth < t->cap ? t->depth : t->cap;
	int64_t open;

	if (n && sp + JUMP_SLACK < t->stack[n - 1].sp)
		return;
	if (!has_stream(t) || !t->pos || !t->win)
		return;
	/* t->depth may be one event ahead of the stream or behind it: count the stream's own
	 * frames from the last slow-path event (in this window; not with --depth, whose deep
	 * frames are not in the stream, or a drop policy, which moves the position back) */
	if (!ctr_opts.max_depth && !ctr_opts.policy && !t->lost_pending && t->jmp_pos &&
	    t->jmp_pos >= t->win && t->jmp_pos <= t->pos &&
	    (open = stream_frames(t->jmp_pos, t->pos, t->jmp_depth)) >= 0 &&
	    (uint64_t)open <= t->cap)
		t->depth = (uint32_t)open;
	merge_off(t);
	t->end = NULL;
	t->gate = t->lost_pending ? CTR_G_LOST : CTR_GATE_ON;
}

static void before_jump(const void *env)
{
	struct ctr_thr *t = ctr_tls.gate == CTR_G_SHARED ? ctr_shared_self() : &ctr_tls;
	uintptr_t target = jmpbuf_sp(env), here = (uintptr_t)__builtin_frame_address(0);
	int saved = errno;

	/* only trust a target above us on the same stack (or a jump off an alternate stack) */
	if (t && target > here && target - here < (1ul << 30)) {
		if (t->gate == CTR_G_BUSY)
			reopen_after_jump(t, target - 8);
		ctr_unwind_to_sp(t, target - 8);
	}
	errno = saved;
}

typedef void (*jump_fn)(struct __jmp_buf_tag *, int);
static jump_fn real_longjmp, real__longjmp, real_siglongjmp, real_longjmp_chk;
typedef void *(*catch_fn)(void *);
static catch_fn real_begin_catch;

static void *next_sym(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

#define JUMP_WRAPPER(sym, var)                                                                     \
	CTR_EXPORT __attribute__((noreturn)) void sym(struct __jmp_buf_tag env[1], int val)        \
	{                                                                                          \
		if (!var)                                                                          \
			var = (jump_fn)next_sym(#sym);                                             \
		before_jump(env);                                                                  \
		var(env, val);                                                                     \
		__builtin_unreachable();                                                           \
	}

JUMP_WRAPPER(longjmp, real_longjmp)
JUMP_WRAPPER(_longjmp, real__longjmp)
JUMP_WRAPPER(siglongjmp, real_siglongjmp)
JUMP_WRAPPER(__longjmp_chk, real_longjmp_chk)

/* A catch begins in the frame that called us: frames deeper than it were unwound. Compilers
 * whose unwinding runs the exit hooks (gcc) leave nothing to close here; clang's do not. */
CTR_EXPORT void *__cxa_begin_catch(void *exc)
{
	uintptr_t caller_sp = (uintptr_t)__builtin_frame_address(0) + 16;
	int saved = errno;

	if (!real_begin_catch)
		real_begin_catch = (catch_fn)next_sym("__cxa_begin_catch");
	ctr_unwind_to_sp(&ctr_tls, caller_sp - 8);
	ctr_libcalls_catch(caller_sp - 8);
	errno = saved;
	return real_begin_catch ? real_begin_catch(exc) : NULL;
}

/*
 * A cleanup landing pad (a destructor run while an exception unwinds) runs in the frame that
 * owns it: frames deeper than that one were unwound. gcc's exit hooks run in those frames' own
 * cleanups; clang's do not, and without this the destructor would be recorded as a call of the
 * function that threw. The C++ personality routine says when a landing pad is about to run
 * (phase 2, _URC_INSTALL_CONTEXT), and the unwinder gives that frame's CFA: the frame is the
 * outermost recorded one below it. The unwinder's function is looked up from the C++
 * runtime's own object, so it is the one whose context we are given (libgcc_s for
 * libstdc++), never another unwinder library in the process (libunwind, which the preload
 * links, has functions of the same names).
 */
typedef int (*personality_fn)(int, int, uint64_t, void *, void *);
typedef uintptr_t (*getcfa_fn)(void *);

/* Closes the recorded frames deeper than the outermost one below stack address @cfa. */
static void unwind_below_cfa(struct ctr_thr *t, uintptr_t cfa)
{
	uint32_t n = t->depth < t->cap ? t->depth : t->cap, i = 0;

	if (!CTR_GATE_IS_ON(t->gate) && t->gate != CTR_G_LOST)
		return;
	while (i < n && t->stack[i].sp >= cfa)
		i++;
	if (i + 1 < n)
		ctr_unwind_to_sp(t, t->stack[i].sp);
}

CTR_EXPORT int __gxx_personality_v0(int version, int actions, uint64_t cls, void *exc, void *ctx)
{
	static personality_fn real;
	static getcfa_fn getcfa;
	static int looked;
	int saved = errno, ret;

	if (!looked) {
		Dl_info di;
		void *h;

		real = (personality_fn)next_sym("__gxx_personality_v0");
		/* the unwinder the C++ runtime itself uses: looked up from the runtime's own object
		 * (its dependencies: libgcc_s for libstdc++), never by name in the whole process */
		if (real && dladdr((void *)real, &di) && di.dli_fname &&
		    (h = dlopen(di.dli_fname, RTLD_LAZY | RTLD_NOLOAD)))
			getcfa = (getcfa_fn)dlsym(h, "_Unwind_GetCFA");
		looked = 1;
	}
	if (!real)
		return 9; /* _URC_FAILURE: no C++ runtime to forward to */
	ret = real(version, actions, cls, exc, ctx);
	if ((actions & 2 /* _UA_CLEANUP_PHASE */) && ret == 7 /* _URC_INSTALL_CONTEXT */ &&
	    getcfa) {
		uintptr_t cfa = getcfa(ctx);

		if (cfa)
			unwind_below_cfa(&ctr_tls, cfa);
	}
	errno = saved;
	return ret;
}
