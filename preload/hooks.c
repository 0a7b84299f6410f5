/* SPDX-License-Identifier: MIT */
/*
 * The recorder's hot path: __cyg_profile_func_enter/exit and what they fall back to. Each
 * thread appends 32-bit event words (common/format.h) to a window of its own file mapping; a
 * call costs 8 bytes, or 4 when its exit turns the ENTER word just before it into a LEAF, or
 * the EXIT word just before it into an EXIT2 (t->merge). The fast path does one TSC read, a
 * shadow-stack push or pop, a slot check and one store; everything else (new functions, big
 * time gaps, window switches, stack repair after longjmp or exceptions, loss accounting)
 * lives in noinline slow paths.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "preload-int.h"

__thread struct ctr_thr ctr_tls __attribute__((tls_model("initial-exec"))) = {
    .gate = CTR_G_UNINIT,
    .file = {.fd = -1},
};

#define SLACK_WORDS 64u
#define STACK_INIT 4096u
#define STACK_MAX (1u << 24)
#define ALTSTACK_SIZE (64u * 1024u)
#define LOST_RETRY 65536u

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

uint64_t ctr_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* HOT: signal-safe, no alloc */
static inline __attribute__((always_inline)) uint64_t now_ticks(void)
{
	return likely(ctr_proc.use_tsc) ? rdtsc() : ctr_mono_ns();
}

uint64_t ctr_now(void)
{
	return now_ticks();
}

/*
 * The hooks are the exported C functions themselves. The enter hook orders frames by stack
 * position (for longjmp and exception repair) using the address of its return-address slot:
 * the call frame address minus 8, which gcc computes from %rsp without a frame pointer.
 */
#if defined(__clang__)
#define HOOK_SP() ((uintptr_t)__builtin_frame_address(0) + 8)
#else
#define HOOK_SP() ((uintptr_t)__builtin_dwarf_cfa() - 8)
#endif

static uint32_t *put_u64(uint32_t *p, uint32_t kind, uint32_t arg, uint64_t v)
{
	p[0] = ctr_w_ext(kind, 2, arg);
	p[1] = (uint32_t)v;
	p[2] = (uint32_t)(v >> 32);
	return p + 3;
}

/* The word before the write position can no longer absorb an exit: every writer but the enter
 * and exit ones calls this, and so does anything that moves the write position back. */
static inline void merge_off(struct ctr_thr *t)
{
	t->merge = NULL;
}

/* The stream has t->depth frames open at t->pos (end of a slow-path event): where a jump out
 * of a hook that a signal interrupted later counts them from (reopen_after_jump()). */
static inline void jump_mark(struct ctr_thr *t)
{
	t->jmp_pos = t->pos;
	t->jmp_depth = t->depth;
	if (t->merge == t->pos && t->pos) { /* the word before may still become a LEAF or EXIT2 */
		t->jmp_pos--;
		t->jmp_depth += CTR_W2_TAG(*t->jmp_pos) == CTR_W2_T_ENTER ? -1 : 1;
	}
}

/* HOT: signal-safe, no alloc */
/* Folds an exit @delta after the previous event into the word before @p (t->merge == @p): an
 * ENTER becomes a LEAF, a single EXIT an EXIT2. Returns 1 when done, 0 when it does not fit. */
static inline __attribute__((always_inline)) int merge_exit(uint32_t *p, uint64_t delta)
{
	uint32_t w = p[-1];

	if (CTR_W2_LEAFABLE(w)) {
		if (delta > CTR_W2_LEAF_DUR_MAX)
			return 0;
		p[-1] = ctr_w2_leaf_of(w, (uint32_t)delta);
		return 1;
	}
	if (CTR_W2_PAIRABLE(w) && delta <= CTR_W2_EXIT2_D2_MAX) {
		p[-1] = ctr_w2_exit2_of(w, (uint32_t)delta);
		return 1;
	}
	return 0;
}

/* The thread has somewhere to write: its event file, or its shared ring. */
static int has_stream(const struct ctr_thr *t)
{
	return t->file.held || t->ring;
}

static uint32_t *win_limit(const struct ctr_thr *t)
{
	return t->win + t->win_size / 4;
}

/* Blocks the asynchronous signals (never SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP: a fault
 * must still reach its handler) around a switch of pointers that a handler jumping out of it
 * (siglongjmp) would find half done; unblock_async() restores the mask and keeps errno. */
static void block_async(sigset_t *old)
{
	sigset_t async;

	sigfillset(&async);
	sigdelset(&async, SIGSEGV);
	sigdelset(&async, SIGBUS);
	sigdelset(&async, SIGILL);
	sigdelset(&async, SIGFPE);
	sigdelset(&async, SIGTRAP);
	pthread_sigmask(SIG_BLOCK, &async, old);
}

static void unblock_async(const sigset_t *old)
{
	int saved = errno;

	pthread_sigmask(SIG_SETMASK, old, NULL);
	errno = saved;
}

/* Maps [off, off+size) of the thread's file as the current window; preallocates it first so a
 * full disk is an error here and never a SIGBUS later. */
static int map_window_untimed(struct ctr_thr *t, uint64_t off, uint64_t size)
{
	uint32_t *old;
	uint64_t old_size;
	void *m;
	int fd;

	if (t->ring) {
		if (ctr_ring_take(t, off) != 0)
			return -1;
		goto mapped;
	}
	if (off + size > ctr_proc.fsize_limit) {
		errno = EFBIG;
		return -1;
	}
	if ((fd = ctr_thread_fd(t)) < 0) {
		errno = EBADF;
		return -1;
	}
	if (fallocate(fd, 0, (off_t)off, (off_t)size) != 0) {
		if (errno != EOPNOTSUPP || posix_fallocate(fd, (off_t)off, (off_t)size) != 0)
			return -1;
	}
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
	if (m == MAP_FAILED)
		return -1;
	/* Pre-fault the window writable in one call: MAP_POPULATE maps shared pages read-only,
	 * leaving one write fault per page on the hot path. Older kernels: faults happen. */
	if (madvise(m, size, 23 /* MADV_POPULATE_WRITE */) != 0 && errno != EINVAL)
		(void)0;
	/* On a VM the first write to a guest page can still trap to the host (7-8 us a page on
	 * the machines in docs/performance.md, after the populate): touch every page here, where
	 * the time is measured and removed, rather than on the hot path where it is not. The
	 * preallocated file holds zeros, so writing one changes nothing. */
	for (size_t i = 0; i < size; i += 4096)
		((volatile uint32_t *)m)[i / 4] = 0;
	/* the mapping needs no descriptor: none is kept per thread (the next window and the
	 * thread's end reopen the file by name, ctr_thread_fd()) */
	ctr_fd_close(&t->file);
	/* the new window is in place before the old one goes: a handler that jumps out of
	 * this (siglongjmp) leaves a window that is still mapped */
	old = t->win;
	old_size = t->win_size;
	t->end = NULL;
	t->pos = m;
	t->win = m;
	t->win_off = off;
	t->win_size = size;
	if (old)
		munmap(old, old_size);
mapped:
	merge_off(t); /* the previous word is in another window or chunk: never rewritten */
	t->pos = t->win + (off == 0 ? CTR_EV_HDR_SIZE / 4 : 0);
	/* the stream's frames where the window begins, for a jump out of this very event */
	t->jmp_pos = t->pos;
	t->jmp_depth = (uint32_t)((int32_t)t->depth + t->ring_frame_adj);
	if (t->ring && ctr_proc.flight && off)
		ctr_ring_chunk_begin(t);
	t->end = win_limit(t) - SLACK_WORDS;
	if (!ctr_global_on)
		t->end = NULL; /* switched off meanwhile: take the slow path at the next event */
	return 0;
}

/* Mapping (and pre-faulting) a window is the recorder's biggest cost inside a run: its time
 * goes into the thread's next TRACER record, which commit removes from the open frames.
 * Asynchronous signals wait until the switch is whole: a handler that jumps out of it
 * (siglongjmp) would otherwise leave the position in one window and the limit, the file
 * offset or the point a jump counts frames from (jmp_pos) in the other. Two system calls a
 * window; synchronous faults (SIGSEGV, SIGBUS, ...) are never blocked. */
static int map_window(struct ctr_thr *t, uint64_t off, uint64_t size)
{
	uint64_t t0 = now_ticks();
	struct ctr_nocancel nc;
	sigset_t old;
	int ret;

	ctr_nocancel_begin(&nc); /* fallocate, the ring's waits: cancellation points */
	block_async(&old);
	ret = map_window_untimed(t, off, size);
	unblock_async(&old);
	ctr_nocancel_end(&nc);
	t->tracer += now_ticks() - t0;
	return ret;
}

static void pad_to_end(struct ctr_thr *t)
{
	uint32_t *p = t->pos, *lim = win_limit(t);

	while (p < lim) {
		size_t n = (size_t)(lim - p) - 1;

		if (n > 255)
			n = 255;
		*p = ctr_w_ext(CTR_X_PAD, (uint32_t)n, 0);
		p += n + 1;
	}
	t->pos = lim;
}

static void enter_lost_mode(struct ctr_thr *t)
{
	int saved = errno;

	ctr_log(CTR_LOG_WARN, "thread %d: cannot extend its event file: %s; counting lost events",
		(int)t->tid, strerror(saved));
	t->gate = CTR_G_LOST;
	t->lost_depth0 = t->depth;
	t->lost_min_depth = t->depth;
	t->retry = LOST_RETRY;
}

/* Makes room for @n words; 0 or -1 (the thread is now losing events). */
static int reserve(struct ctr_thr *t, uint32_t n)
{
	uint64_t next_off, size;

	if (likely(t->pos + n <= win_limit(t)))
		return 0;
	pad_to_end(t);
	next_off = t->win_off + t->win_size;
	size = t->win_size * 2 > ctr_proc.window_max ? ctr_proc.window_max : t->win_size * 2;
	if (map_window(t, next_off, size) != 0) {
		enter_lost_mode(t);
		return -1;
	}
	return 0;
}

static void grow_stack_untimed(struct ctr_thr *t)
{
	size_t old = (size_t)t->mapped * sizeof(struct ctr_frame);
	void *m;

	if (t->cap >= STACK_MAX || (ctr_opts.max_depth && t->cap >= ctr_opts.max_depth))
		return;
	if (t->cap < t->mapped) { /* limited by an earlier attach's --depth */
		t->cap = t->mapped;
		if (ctr_opts.max_depth && t->cap > ctr_opts.max_depth)
			t->cap = ctr_opts.max_depth;
		return;
	}
	m = mremap(t->stack, old, old * 2, MREMAP_MAYMOVE);
	if (m == MAP_FAILED)
		return;
	if (t->aux) {
		void *a = mremap(t->aux, (size_t)t->mapped * sizeof(struct ctr_aux),
				 (size_t)t->mapped * 2 * sizeof(struct ctr_aux), MREMAP_MAYMOVE);

		if (a == MAP_FAILED) {
			t->stack = m;
			return; /* cap stays: the stack is merely larger than needed */
		}
		t->aux = a;
	}
	t->stack = m;
	t->mapped *= 2;
	t->cap = t->mapped;
	if (ctr_opts.max_depth && t->cap > ctr_opts.max_depth)
		t->cap = ctr_opts.max_depth;
}

static void grow_stack(struct ctr_thr *t)
{
	uint64_t t0 = now_ticks();
	sigset_t old;

	block_async(&old); /* mremap moves the stack before t->stack follows */
	grow_stack_untimed(t);
	unblock_async(&old);
	t->tracer += now_ticks() - t0;
}

static void push_frame(struct ctr_thr *t, uintptr_t fn, uintptr_t sp)
{
	uint32_t d = t->depth;

	if (unlikely(d >= t->cap))
		grow_stack(t);
	if (likely(d < t->cap)) {
		t->stack[d].fn = fn;
		t->stack[d].sp = sp;
		if (t->aux) { /* a drop policy: no take-back unless record_enter says how */
			t->aux[d].pos_before = NULL;
			t->aux[d].pend_start = t->n_pend;
		}
	}
	t->depth = d + 1;
}

/*
 * Pops the frame an exit of @fn closes. Frames above it that never got their exit (longjmp,
 * exceptions through code without exit hooks) are closed with it: returns how many frames
 * close in total, 0 for an exit that matches no open frame (dropped).
 */
/* A --filter region starts at a frame tagged with ROOT_TAG (no user address has bit 63). */
#define ROOT_TAG ((uintptr_t)1 << 63)
/* A slot holding an excluded function (--exclude, --module) is tagged the same way. */
#define EXCL_TAG ((uintptr_t)1 << 63)
/* A flight-recorder trigger function (--trigger-slower) is tagged in its slot, which sends
 * every call of it to the slow path, and on the stack, which sends its exit there. */
#define WATCH_TAG ((uintptr_t)1 << 62)

static uint32_t pop_for_exit(struct ctr_thr *t, uintptr_t fn)
{
	uint32_t d = t->depth, k;

	if (d == 0)
		return 0;
	if (d > t->cap || (t->stack[d - 1].fn & ~CTR_FN_TAGS) == fn) {
		t->depth = d - 1;
		return 1;
	}
	for (k = d - 1; k > 0; k--)
		if ((t->stack[k - 1].fn & ~CTR_FN_TAGS) == fn)
			break;
	if (k == 0)
		return 0;
	t->depth = k - 1;
	return d - k + 1;
}

static void note_depth(struct ctr_thr *t)
{
	if (t->depth < t->lost_min_depth)
		t->lost_min_depth = t->depth;
}

/* Writes LOST, the closes and opens that happened while losing, and resumes recording. */
static void try_recover(struct ctr_thr *t, uint64_t now)
{
	uint32_t closed, reopen_from, i, need;

	if (--t->retry)
		return;
	t->retry = LOST_RETRY;
	closed = t->lost_depth0 - t->lost_min_depth;
	reopen_from = t->lost_min_depth;
	need = 3 + 3 + 2 + 3 * (t->depth - reopen_from) + 16;
	if (t->pos == NULL || t->pos + need > win_limit(t)) {
		uint64_t next_off = t->win ? t->win_off + t->win_size : 0;

		if (t->win)
			pad_to_end(t);
		/* the stream still has the frames open when loss began */
		t->ring_frame_adj = (int32_t)t->lost_depth0 - (int32_t)t->depth;
		if (!has_stream(t) || map_window(t, next_off, ctr_proc.window_max) != 0) {
			t->ring_frame_adj = 0;
			return;
		}
		t->ring_frame_adj = 0;
		if (t->pos + need > win_limit(t))
			return;
	}
	uint32_t *p = t->pos;

	merge_off(t);
	p = put_u64(p, CTR_X_TIME, 0, now);
	p = put_u64(p, CTR_X_LOST, 0, t->lost_pending);
	if (closed) {
		*p++ = ctr_w_ext(CTR_X_UNWIND, 1, closed);
		*p++ = 0;
	}
	for (i = reopen_from; i < t->depth && i < t->cap; i++)
		p = put_u64(p, CTR_X_INHERIT, 0, t->stack[i].fn & ~CTR_FN_TAGS);
	t->pos = p;
	t->last = now;
	t->lost += t->lost_pending;
	ctr_lost_global(t->lost_pending);
	t->lost_pending = 0;
	t->gate = CTR_GATE_ON;
	ctr_log(CTR_LOG_INFO, "thread %d: recording again", (int)t->tid);
}

/* Words flush_hidden() and put_tracer() may add to an event. */
#define TRACER_WORDS (2 * CTR_HIDDEN_KINDS + 2 + 2)

/* A TRACER record of @ticks (clamped to its 32-bit payload). */
static uint32_t *put_tracer_rec(uint32_t *p, uint64_t ticks)
{
	*p++ = ctr_w_ext(CTR_X_TRACER, 1, 0);
	*p++ = ticks > UINT32_MAX ? UINT32_MAX : (uint32_t)ticks;
	return p;
}

/* HIDDEN records for the unrecorded hook calls since the previous event, and a TRACER record
 * for slow-path time spent before this hook: both belong to the innermost frame before the
 * event, so they go in front of its word. */
static uint32_t *flush_hidden(struct ctr_thr *t, uint32_t *p, uint64_t before)
{
	for (uint32_t k = 0; k < CTR_HIDDEN_KINDS; k++) {
		if (t->hidden[k]) {
			*p++ = ctr_w_ext(CTR_X_HIDDEN, 1, k);
			*p++ = t->hidden[k];
			t->hidden[k] = 0;
		}
	}
	return before ? put_tracer_rec(p, before) : p;
}

/* A TRACER record for the slow-path time this hook spent after its own clock read. */
static uint32_t *put_tracer(struct ctr_thr *t, uint32_t *p)
{
	if (t->tracer) {
		p = put_tracer_rec(p, t->tracer);
		t->tracer = 0;
	}
	return p;
}

/* Writes the ENTER of @fn (after the pending HIDDEN and TRACER records, with its TIME and
 * DEFINE); returns where its own records begin, or NULL when none could be written. */
static uint32_t *write_enter(struct ctr_thr *t, uintptr_t fn, uint32_t slot, uint64_t now)
{
	uint64_t delta, before = t->tracer;
	uint32_t *p, *own;

	t->tracer = 0;
	t->ring_frame_adj = -1; /* a chunk beginning here: the new frame is not open yet */
	if (reserve(t, 7 + TRACER_WORDS) != 0) {
		t->ring_frame_adj = 0;
		t->lost_pending++;
		return NULL;
	}
	t->ring_frame_adj = 0;
	if ((int64_t)(now - t->last) < 0)
		now = t->last; /* the TSC stepped back (CPU migration on a VM): never write it */
	own = p = flush_hidden(t, t->pos, before);
	delta = now - t->last;
	if (delta > CTR_ENTER_DELTA_MAX) {
		p = put_u64(p, CTR_X_TIME, 0, now);
		delta = 0;
	}
	if (t->slots[slot] != fn) {
		p = put_u64(p, CTR_X_DEFINE, slot, fn);
		t->slots[slot] = fn;
	}
	t->enter_at = p;
	*p++ = ctr_w_enter(slot, (uint32_t)delta);
	t->merge = p; /* unless a TRACER record follows */
	t->pos = put_tracer(t, p);
	t->last = now;
	return own;
}

static void write_exit(struct ctr_thr *t, uint32_t closes, uint64_t now)
{
	uint64_t delta, before = t->tracer;
	uint32_t *p;

	t->tracer = 0;
	t->ring_frame_adj = (int32_t)closes; /* ... and the frames closing are still open */
	if (reserve(t, 6 + TRACER_WORDS) != 0) {
		t->ring_frame_adj = 0;
		t->lost_pending += closes;
		return;
	}
	t->ring_frame_adj = 0;
	if ((int64_t)(now - t->last) < 0)
		now = t->last;
	p = flush_hidden(t, t->pos, before);
	delta = now - t->last;
	if (closes == 1 && p == t->merge && merge_exit(p, delta)) {
		merge_off(t);
		t->pos = put_tracer(t, p);
		t->last = now;
		return;
	}
	if (delta > CTR_W2_EXIT_DELTA_MAX) {
		p = put_u64(p, CTR_X_TIME, 0, now);
		delta = 0;
	}
	if (closes > 1) {
		*p++ = ctr_w_ext(CTR_X_UNWIND, 1, closes - 1);
		*p++ = (uint32_t)delta;
		delta = 0;
	}
	*p++ = ctr_w2_exit((uint32_t)delta);
	t->merge = p; /* unless a TRACER record follows */
	t->pos = put_tracer(t, p);
	t->last = now;
}

static void write_count(struct ctr_thr *t, uintptr_t fn, uint32_t count)
{
	uint32_t slot = ctr_slot_of(fn), *p;

	if (reserve(t, 5) != 0) {
		t->lost_pending += 2ull * count;
		return;
	}
	merge_off(t);
	p = t->pos;
	if (t->slots[slot] != fn) {
		p = put_u64(p, CTR_X_DEFINE, slot, fn);
		t->slots[slot] = fn;
	}
	if (count == 1) {
		*p++ = ctr_w_ext(CTR_X_COUNT, 0, slot); /* one call: one word, as a LEAF */
	} else {
		*p++ = ctr_w_ext(CTR_X_COUNT, 1, slot);
		*p++ = count;
	}
	t->pos = p;
}

/*
 * Dropped calls wait in t->pend until their owner's EXIT. An entry's owner is implicit: the
 * innermost open frame whose aux.pend_start is at or below its index. Frames open at
 * increasing pend_start and entries only leave from the tail, so the counts of the frames at
 * depth >= D are always the tail from pend_tail(D), and a dropped frame's own counts become
 * its parent's by its closing alone, with nothing moved. A direct-mapped hint finds the
 * innermost frame's entry of a function; a miss appends another entry for it, and compact()
 * merges such repeats when the array is full. Every operation is O(1) amortized.
 */
static uint32_t pend_tail(const struct ctr_thr *t, uint32_t depth)
{
	uint32_t s;

	if (depth == 0)
		return 0;
	if (depth > t->cap || !t->aux)
		return t->n_pend; /* frames beyond the stack never own counts */
	s = t->aux[depth - 1].pend_start;
	return s < t->n_pend ? s : t->n_pend;
}

/* t->pend and its hints, mapped together */
#define PEND_BYTES(cap) (CTR_PEND_HINTS * sizeof(uint32_t) + (cap) * sizeof(struct ctr_pending))

static void *map_anon(size_t size)
{
	void *m = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return m == MAP_FAILED ? NULL : m;
}

/* Maps the hints and @cap entries of the pending counts into @t. 0 or -1. */
static int pend_map(struct ctr_thr *t, uint32_t cap)
{
	uint32_t *m = map_anon(PEND_BYTES(cap));

	if (!m)
		return -1;
	t->pend_hint = m;
	t->pend = (struct ctr_pending *)(m + CTR_PEND_HINTS);
	t->pend_cap = cap;
	return 0;
}

/* Doubles the pending counts' array (slow path, tracer time). 0 or -1. */
static int pend_grow(struct ctr_thr *t)
{
	uint64_t t0 = now_ticks();
	uint32_t cap = t->pend_cap * 2;
	sigset_t old;
	void *m;

	block_async(&old); /* mremap moves the table before t->pend follows */
	m = cap <= CTR_PEND_LIMIT
		? mremap(t->pend_hint, PEND_BYTES(t->pend_cap), PEND_BYTES(cap), MREMAP_MAYMOVE)
		: MAP_FAILED;
	if (m != MAP_FAILED) {
		t->pend_hint = m;
		t->pend = (struct ctr_pending *)(t->pend_hint + CTR_PEND_HINTS);
		t->pend_cap = cap;
	}
	unblock_async(&old);
	t->tracer += now_ticks() - t0;
	return m == MAP_FAILED ? -1 : 0;
}

static uint32_t pend_hint_of(uintptr_t fn)
{
	return (uint32_t)(((uint64_t)(fn >> 4) * 0x9E3779B97F4A7C15ull) >>
			  (64 - CTR_PEND_HINT_BITS));
}

#define PEND_PROBES 4

/* Looks for @fn's entry among entries [@lo, @hi) through the hints (a few linear probes).
 * Returns its hint slot with *@found = 1, else a slot to point at a new entry: one pointing
 * outside the range if any (else the first, whose entry may then get a repeat). */
static uint32_t pend_probe(const struct ctr_thr *t, uintptr_t fn, uint32_t lo, uint32_t hi,
			   int *found)
{
	uint32_t k = pend_hint_of(fn), first = k, free_k = CTR_PEND_HINTS;

	for (int i = 0; i < PEND_PROBES; i++, k = (k + 1) & (CTR_PEND_HINTS - 1)) {
		uint32_t h = t->pend_hint[k];

		if (h >= lo && h < hi) {
			if (t->pend[h].fn == fn) {
				*found = 1;
				return k;
			}
		} else if (free_k == CTR_PEND_HINTS) {
			free_k = k;
		}
	}
	*found = 0;
	return free_k < CTR_PEND_HINTS ? free_k : first;
}

/* Writes the dropped calls owned by frames at depth >= @depth (all with 0), in the stream
 * position where the frame at @depth is innermost: just before its EXIT. */
static void flush_pending(struct ctr_thr *t, uint32_t depth)
{
	uint32_t i, k = pend_tail(t, depth);

	for (i = k; i < t->n_pend; i++) {
		uint64_t c = t->pend[i].count;

		for (; c > UINT32_MAX; c -= UINT32_MAX)
			write_count(t, t->pend[i].fn, UINT32_MAX);
		write_count(t, t->pend[i].fn, (uint32_t)c);
	}
	t->n_pend = k;
}

/* Merges the repeated entries of each open frame (and of the top level), keeping every
 * frame's pend_start right. Returns the number of entries freed. */
static uint32_t compact_pending(struct ctr_thr *t)
{
	uint32_t n = t->n_pend, out = 0, i = 0, d = 0, top = t->depth < t->cap ? t->depth : t->cap;

	for (;;) {
		uint32_t lo = out, end = n;

		/* the range of depth d (0: top level) ends where the next frame's begins */
		while (d < top && t->aux[d].pend_start <= i)
			t->aux[d++].pend_start = out;
		if (d < top && t->aux[d].pend_start < n)
			end = t->aux[d].pend_start;
		for (; i < end; i++) {
			struct ctr_pending e = t->pend[i];
			int found;
			uint32_t k = pend_probe(t, e.fn, lo, out, &found);

			if (found) {
				t->pend[t->pend_hint[k]].count += e.count;
				continue;
			}
			t->pend_hint[k] = out;
			t->pend[out++] = e;
		}
		if (i >= n)
			break;
	}
	while (d < top)
		t->aux[d++].pend_start = out;
	t->n_pend = out;
	return n - out;
}

/* Counts a dropped call of @fn in the innermost open frame (depth t->depth), whose EXIT
 * comes later. Returns 0, or -1 when no room could be made: the call must then be kept. */
static int add_pending_slow(struct ctr_thr *t, uintptr_t fn);

static inline __attribute__((always_inline)) int add_pending(struct ctr_thr *t, uintptr_t fn)
{
	uint32_t k = pend_hint_of(fn), h = t->pend_hint[k], n = t->n_pend;

	if (likely(h < n && t->pend[h].fn == fn)) {
		if (likely(h >= pend_tail(t, t->depth))) {
			t->pend[h].count++; /* the common case: one probe */
			return 0;
		}
		if (likely(n < t->pend_cap)) {
			/* its entry is an outer frame's (a dropped sibling's, say): a new one here
			 */
			t->pend_hint[k] = n;
			t->pend[n].fn = fn;
			t->pend[n].count = 1;
			t->n_pend = n + 1;
			return 0;
		}
	}
	return add_pending_slow(t, fn);
}

/* add_pending() past its first probe: more probes, a new entry, merging or growing a full
 * array (system calls: errno is kept, as the policy's fast paths do not save it). */
static __attribute__((noinline)) int add_pending_slow(struct ctr_thr *t, uintptr_t fn)
{
	int found, saved = errno;
	uint32_t k = pend_probe(t, fn, pend_tail(t, t->depth), t->n_pend, &found);

	if (t->n_pend < t->pend_cap)
		t->pend_skip = 0; /* room again: the next full array tries merging at once */
	if (found) {
		t->pend[t->pend_hint[k]].count++;
		return 0;
	}
	if (t->n_pend == t->pend_cap) {
		if (t->pend_skip) {
			t->pend_skip--;
			return -1;
		}
		if (compact_pending(t) < t->pend_cap / 4 && pend_grow(t)) {
			flush_pending(t, t->depth); /* the innermost frame's counts can go now */
			if (t->n_pend == t->pend_cap) {
				t->pend_skip = t->pend_cap / 4; /* no thrashing: O(1) amortized */
				errno = saved;
				return -1;
			}
		}
		errno = saved;
		k = pend_probe(t, fn, pend_tail(t, t->depth), t->n_pend, &found);
		if (found) {
			t->pend[t->pend_hint[k]].count++;
			return 0;
		}
	}
	t->pend_hint[k] = t->n_pend;
	t->pend[t->n_pend].fn = fn;
	t->pend[t->n_pend].count = 1;
	t->n_pend++;
	return 0;
}

/* Closes @n frames in the stream, @now (an UNWIND record, no EXIT). 0, or -1 (no room). */
static int put_unwind(struct ctr_thr *t, uint32_t n, uint64_t now)
{
	uint64_t delta;
	uint32_t *p;

	if (reserve(t, 5) != 0)
		return -1;
	merge_off(t);
	p = t->pos;
	if ((int64_t)(now - t->last) < 0)
		now = t->last;
	delta = now - t->last;
	if (delta > CTR_EXIT_DELTA_MAX) {
		p = put_u64(p, CTR_X_TIME, 0, now);
		delta = 0;
	}
	*p++ = ctr_w_ext(CTR_X_UNWIND, 1, n);
	*p++ = (uint32_t)delta;
	t->pos = p;
	t->last = now;
	return 0;
}

/*
 * Before the frames above depth @k close together (an exit that closes several, a longjmp,
 * an exception), at @now: writes each one's dropped-call counts inside it, closing the frames
 * above the next one with counts by an UNWIND, so that no count moves into a deeper frame.
 * t->depth is the stream's depth throughout. Returns how many frames are still open above
 * @k (at least 1), for the caller's own EXIT or UNWIND to close.
 */
static uint32_t close_counted(struct ctr_thr *t, uint32_t k, uint64_t now)
{
	uint32_t d = t->depth, e;

	for (;;) {
		for (e = d; e > k && pend_tail(t, e) == t->n_pend; e--)
			; /* the innermost frame that has counts */
		if (e == k || (e < d && put_unwind(t, d - e, now) != 0))
			return d - k;
		t->depth = d = e;
		flush_pending(t, d);
	}
}

/* --sample N: whether this call of the function in @slot is one of the 1 in N kept (the
 * first, the N+1st, ...); a count down per slot, no division. */
static inline __attribute__((always_inline)) uint32_t sample_keep(struct ctr_thr *t, uint32_t slot)
{
	uint32_t *c;

	if (!ctr_opts.sample)
		return 1;
	if (!t->scount)
		return 0;
	c = &t->scount[slot];
	if (*c) {
		--*c;
		return 0;
	}
	*c = ctr_opts.sample - 1;
	return 1;
}

/*
 * Enter on the generic path (the fast path missed, no TSC, or options are set). The gate is
 * BUSY. Applies --depth, --exclude/--module, and the drop policy's bookkeeping.
 */
static void record_enter(struct ctr_thr *t, uintptr_t fn, uintptr_t sp, uint64_t now);

/*
 * A call of a trigger function (flight recorder). --trigger: the first call in the process
 * asks for a snapshot, and the function is an ordinary one from then on. --trigger-slower: the
 * call is recorded as usual, its frame tagged and its start kept, so that its exit comes to
 * watch_exit(); the slot keeps its tag, so every call of it comes here.
 */
/* Asks for a snapshot and waits (about a second at most) until the recorder has copied this
 * thread's ring, which meanwhile cannot overwrite what the snapshot is for. Tracer time. */
static void snapshot_now(struct ctr_thr *t, const char *reason)
{
	uint64_t w0 = now_ticks();
	struct ctr_nocancel nc;
	uint32_t seq;

	ctr_nocancel_begin(&nc);
	seq = ctr_request_snapshot(t, reason);

	if (seq && t->ring) {
		__atomic_store_n(&t->ring->snap_req, seq, __ATOMIC_RELEASE);
		for (int i = 0; i < 20000; i++) {
			struct timespec nap = {0, 50000};

			if ((int32_t)(__atomic_load_n(&t->ring->snap_done, __ATOMIC_ACQUIRE) -
				      seq) >= 0)
				break;
			nanosleep(&nap, NULL);
		}
	}
	ctr_nocancel_end(&nc);
	t->tracer += now_ticks() - w0;
	t->end = NULL; /* the next event goes the slow way and writes the TRACER record */
}

static void watch_enter(struct ctr_thr *t, uintptr_t fn, uintptr_t sp, uint64_t now, int how)
{
	static int fired;
	uint32_t d = t->depth, slot = ctr_slot_of(fn);

	record_enter(t, fn, sp, now);
	if ((how & CTR_WATCH_FIRST) && !__atomic_exchange_n(&fired, 1, __ATOMIC_RELAXED))
		snapshot_now(t, "trigger"); /* its ENTER is written: the call is in the snapshot */
	if (!(how & CTR_WATCH_SLOWER))
		return;
	t->slots[slot] = fn | WATCH_TAG; /* DEFINEd as fn; the tag brings the next call here */
	if (d < t->cap && t->depth == d + 1 && t->n_watch < 16) {
		t->stack[d].fn |= WATCH_TAG;
		t->watch[t->n_watch].depth = d + 1;
		t->watch[t->n_watch].t0 = now;
		t->n_watch++;
	}
}

/* The exit of a --trigger-slower frame at depth @depth (already written): a snapshot when the
 * call took longer than the limit, waited for (bounded) so this thread's ring still holds it. */
static void watch_exit(struct ctr_thr *t, uint32_t depth, uint64_t now)
{
	uint64_t t0 = 0;

	while (t->n_watch && t->watch[t->n_watch - 1].depth > depth)
		t->n_watch--; /* frames a longjmp or exception closed */
	if (!t->n_watch || t->watch[t->n_watch - 1].depth != depth)
		return;
	t0 = t->watch[--t->n_watch].t0;
	if (now - t0 > ctr_opts.slower_ticks)
		snapshot_now(t, "slower");
}

static void enter_generic(struct ctr_thr *t, uintptr_t fn, uintptr_t sp, uint64_t now)
{
	uint32_t slot = ctr_slot_of(fn), d = t->depth;

	if (ctr_opts.max_depth && d >= ctr_opts.max_depth) {
		t->depth = d + 1; /* deeper than --depth: counted for matching exits only */
		t->hidden[CTR_HIDDEN_DEEP]++;
		t->end = NULL; /* the next event goes the slow way and writes the count */
		return;
	}
	if ((ctr_opts.have_exclude || ctr_opts.have_watch) && t->slots[slot] != fn) {
		if (t->slots[slot] == (fn | EXCL_TAG)) {
			t->hidden[CTR_HIDDEN_EXCLUDED]++;
			t->end = NULL;
			return;
		}
		if (t->slots[slot] == (fn | WATCH_TAG)) {
			watch_enter(t, fn, sp, now, CTR_WATCH_SLOWER);
			return;
		}
		uint64_t t0 = now_ticks();
		int decision = ctr_control_decide(fn);

		t->tracer += now_ticks() - t0;
		if (decision == CTR_DECIDE_WATCH) {
			watch_enter(t, fn, sp, now, ctr_control_watch(fn));
			return;
		}
		if (decision == CTR_DECIDE_EXCLUDE) {
			t->hidden[CTR_HIDDEN_EXCLUDED]++;
			t->end = NULL;
			t->slots[slot] =
			    fn | EXCL_TAG; /* the decoder's DEFINEs stay valid: a recorded
					    * function taking the slot back re-DEFINEs it */
			return;
		}
	}
	record_enter(t, fn, sp, now);
}

/* Pushes the frame of @fn and writes its ENTER (with what the drop policy needs to take it
 * back). */
static void record_enter(struct ctr_thr *t, uintptr_t fn, uintptr_t sp, uint64_t now)
{
	uint32_t slot = ctr_slot_of(fn), d = t->depth;

	push_frame(t, fn, sp);
	if (ctr_opts.policy && t->aux && d < t->cap) {
		struct ctr_aux *a = &t->aux[d];

		a->last_before = t->last;
		a->old_slot = t->slots[slot];
		a->t0 = now;
		a->keep = (uint8_t)sample_keep(t, slot);
		/* a take-back leaves the HIDDEN and TRACER records written before the ENTER */
		a->pos_before = write_enter(t, fn, slot, now);
		a->enter_off = a->pos_before ? (uint8_t)(t->enter_at - a->pos_before) : 0;
		return;
	}
	write_enter(t, fn, slot, now);
}

/* Takes back the ENTER of the innermost frame (depth @d, its aux @a) and counts the call
 * instead, when nothing was written after the ENTER but what belongs to it (TIME, DEFINE,
 * TRACER). Returns 1 when dropped, 0 when the call must be kept. */
static inline __attribute__((always_inline)) int take_back(struct ctr_thr *t, struct ctr_aux *a,
							   uintptr_t fn, uint32_t d)
{
	uint32_t *pos = t->pos, *q = a->pos_before + a->enter_off, slot = ctr_slot_of(fn);
	uint64_t last = t->last, tracer = 0;
	uintptr_t cur = t->slots[slot];

	if (!a->pos_before || a->pos_before < t->win || q >= pos || !CTR_W_IS_ENTER(*q))
		return 0; /* a window switch came between */
	/* after the ENTER, TRACER records only (slow paths of the call and of its dropped
	 * children, the parent's tracer time once the call is gone): else children were written */
	for (q++; q < pos; q += 2) {
		if (pos - q < 2 || *q != ctr_w_ext(CTR_X_TRACER, 1, 0))
			return 0;
		tracer += q[1];
	}
	t->pos = a->pos_before;
	merge_off(t);
	t->last = a->last_before;
	t->slots[slot] = a->old_slot;
	t->depth = d - 1; /* the frame's own counts are its parent's now */
	if (add_pending(t, fn) == 0) {
		if (tracer) {
			t->tracer += tracer;
			t->end = NULL; /* the next event goes the slow way and writes it */
		}
		return 1;
	}
	t->pos = pos; /* no room to count it (nothing was written): keep the call */
	t->last = last;
	t->slots[slot] = cur;
	t->depth = d;
	return 0;
}

/* Takes back the innermost frame's ENTER when the drop policy says so and nothing was written
 * after it; the call is then counted. Returns 1 when dropped. */
static int try_drop(struct ctr_thr *t, uintptr_t fn, uint64_t now)
{
	uint32_t d = t->depth;
	struct ctr_aux *a;

	if (!t->aux || d == 0 || d > t->cap)
		return 0;
	a = &t->aux[d - 1];
	if (a->keep && now - a->t0 >= ctr_opts.min_ticks)
		return 0;
	return take_back(t, a, fn, d);
}

static void exit_generic(struct ctr_thr *t, uintptr_t fn, uint64_t now)
{
	uint32_t d = t->depth, n, slot = ctr_slot_of(fn);

	if (ctr_opts.max_depth && d > ctr_opts.max_depth) {
		t->depth = d - 1;
		return;
	}
	if (t->slots[slot] == (fn | EXCL_TAG))
		return; /* an excluded function: never on the stack */
	if (ctr_opts.policy && d && d <= t->cap && (t->stack[d - 1].fn & ~ROOT_TAG) == fn &&
	    !(t->stack[d - 1].fn & ROOT_TAG) && try_drop(t, fn, now))
		return;
	n = pop_for_exit(t, fn);
	if (!n)
		return;
	if (t->n_pend) { /* counts owned by the closing frame(s) go just before their exit */
		uint32_t k = t->depth;

		t->depth = k + n;
		n = close_counted(t, k, now);
		t->depth = k;
	}
	write_exit(t, n, now);
	if (unlikely(t->n_watch) && t->depth < t->cap && (t->stack[t->depth].fn & WATCH_TAG))
		watch_exit(t, t->depth + 1, now);
	if (ctr_opts.have_filter && t->depth == 0)
		t->gate = CTR_G_FILTER_OUT;
}

/* Looks for objects a dlopen added (symbol tables read: tracer time). */
static void dl_refresh(struct ctr_thr *t)
{
	uint64_t t0 = now_ticks();
	struct ctr_nocancel nc;

	ctr_nocancel_begin(&nc);
	ctr_dl_refresh(t);
	ctr_nocancel_end(&nc);
	t->tracer += now_ticks() - t0;
}

/* Tracing was switched off: close the open frames in the stream and go dormant. */
void ctr_go_dormant(struct ctr_thr *t, uint64_t now)
{
	uint32_t n = t->depth, *p;

	if (t->n_pend)
		flush_pending(t, 0);
	merge_off(t);
	if (n && t->win && reserve(t, 6) == 0) {
		p = t->pos;
		p = put_u64(p, CTR_X_TIME, 0, now);
		*p++ = ctr_w_ext(CTR_X_UNWIND, 1, n);
		*p++ = 0;
		t->pos = p;
		t->last = now;
	}
	t->depth = 0;
	t->tracer = 0;
	memset(t->hidden, 0, sizeof(t->hidden));
	t->gate = CTR_G_DORMANT;
}

/* Tracing is on again (or for the first time) in a thread: open its file if it has none, and
 * describe the frames already open with INHERIT records from a stack capture. @exiting: the
 * function whose exit hook runs (0 for an enter), open whatever the capture saw: a hook
 * reached by a tail call leaves no frame of its caller on the stack. */
static int activate(struct ctr_thr *t, int include_first, uintptr_t exiting)
{
	if (!has_stream(t)) {
		ctr_thread_start(t);
		if (!CTR_GATE_IS_ON(t->gate))
			return -1;
	}
	t->gate = CTR_G_BUSY;
	t->depth = 0;
	if (reserve(t, 3) != 0)
		return -1;
	t->last = now_ticks();
	merge_off(t);
	t->pos = put_u64(t->pos, CTR_X_TIME, 0, t->last);
	if (ctr_proc.attached)
		ctr_attach_capture(t, include_first);
	else
		ctr_capture_stack(t, include_first);
	if (exiting && (!t->depth || t->stack[t->depth - 1].fn != exiting))
		push_frame(t, exiting, 0); /* no stack position known: a jump closes it */
	ctr_write_inherit(t);
	jump_mark(t);
	return 0;
}

/* A hook that interrupted the recorder itself (a signal handler inside a hook): its whole,
 * balanced subtree is counted as lost rather than written into a half-written record. */
static void count_nested(struct ctr_thr *t)
{
	__atomic_fetch_add(&t->lost, 1, __ATOMIC_RELAXED);
	ctr_lost_global(1);
}

/* The generic enter / exit with the gate held BUSY: goes dormant if tracing was switched
 * off, and reopens the gate unless the path closed it (loss, dormancy, filter region end). */
/* A kick (tracing switched off) nulls a thread's fast-path limit; when tracing is on again
 * before the thread noticed, the limit comes back here rather than at the next window. */
static void restore_end(struct ctr_thr *t)
{
	if (!t->end && t->win && ctr_global_on && t->gate == CTR_G_BUSY &&
	    !t->hidden[CTR_HIDDEN_EXCLUDED] && !t->hidden[CTR_HIDDEN_DEEP] && !t->tracer)
		t->end = win_limit(t) - SLACK_WORDS;
}

static void generic_enter_locked(struct ctr_thr *t, uintptr_t fn, uintptr_t sp, uint64_t now)
{
	if (unlikely(t->dl_checks))
		dl_refresh(t);
	t->gate = CTR_G_BUSY;
	if (!ctr_global_on)
		ctr_go_dormant(t, now);
	else
		enter_generic(t, fn, sp, now);
	restore_end(t);
	jump_mark(t);
	if (t->gate == CTR_G_BUSY)
		t->gate = CTR_GATE_ON;
}

static void generic_exit_locked(struct ctr_thr *t, uintptr_t fn, uint64_t now)
{
	if (unlikely(t->dl_checks))
		dl_refresh(t);
	t->gate = CTR_G_BUSY;
	if (!ctr_global_on)
		ctr_go_dormant(t, now);
	else
		exit_generic(t, fn, now);
	restore_end(t);
	jump_mark(t);
	if (t->gate == CTR_G_BUSY)
		t->gate = CTR_GATE_ON;
}

/* HOT: the fast paths' own writes, shared by the plain hooks and the drop policy's: an ENTER
 * word for the frame at depth @d, and the EXIT of the frame at depth @d, folded into the word
 * before it when it fits (a LEAF or an EXIT2). */
static inline __attribute__((always_inline)) void fast_enter_word(struct ctr_thr *t, uint32_t *p,
								  uint32_t d, uint32_t slot,
								  uint64_t delta, uint64_t now)
{
	t->depth = d + 1;
	*p = ctr_w_enter(slot, (uint32_t)delta);
	t->pos = p + 1;
	t->merge = p + 1;
	t->last = now;
}

static inline __attribute__((always_inline)) void
fast_exit_word(struct ctr_thr *t, uint32_t *p, uint32_t d, uint64_t delta, uint64_t now)
{
	t->depth = d - 1;
	t->last = now;
	if (p == t->merge && merge_exit(p, delta)) {
		t->merge = NULL; /* a LEAF or EXIT2 absorbs nothing more */
	} else {
		*p = ctr_w2_exit((uint32_t)delta);
		t->pos = p + 1;
		t->merge = p + 1;
	}
}

/*
 * The drop policy's fast paths (gate CTR_G_POLICY: --min-duration, --sample with a TSC). An
 * enter writes its ENTER as the fast path does and notes how to take it back; an exit either
 * takes a short or unsampled call back and counts it (a hint lookup, no scan), or writes its
 * EXIT as the fast path does. Anything else goes the generic way.
 */
static void enter_slow(uintptr_t fn, uintptr_t sp, uint64_t now);
static void exit_slow(uintptr_t fn, uint64_t now);

static __attribute__((noinline)) void policy_enter(struct ctr_thr *t, uintptr_t fn, uintptr_t sp)
{
	uint32_t slot = ctr_slot_of(fn), d = t->depth, *p = t->pos;
	uint64_t now, delta;

	if (unlikely(t->slots[slot] != fn) && t->slots[slot] == (fn | EXCL_TAG) && d < t->cap) {
		t->hidden[CTR_HIDDEN_EXCLUDED]++; /* as on the fast path */
		t->end = NULL;
		return;
	}
	t->gate = CTR_G_BUSY;
	now = rdtsc();
	delta = now - t->last;
	if (likely(d < t->cap && t->slots[slot] == fn && delta <= CTR_ENTER_DELTA_MAX &&
		   p < t->end)) {
		struct ctr_aux *a = &t->aux[d];

		a->pos_before = p;
		a->last_before = t->last;
		a->old_slot = fn;
		a->t0 = now;
		a->keep = (uint8_t)sample_keep(t, slot);
		a->enter_off = 0;
		a->pend_start = t->n_pend;
		t->stack[d].fn = fn;
		t->stack[d].sp = sp;
		fast_enter_word(t, p, d, slot, delta, now);
		t->gate = CTR_G_POLICY;
		return;
	}
	enter_slow(fn, sp, now);
}

static __attribute__((noinline)) void policy_exit(struct ctr_thr *t, uintptr_t fn)
{
	uint32_t d = t->depth, *p = t->pos;
	uint64_t now, delta;
	struct ctr_aux *a;

	if (unlikely(d - 1 >= t->cap || t->stack[d - 1].fn != fn)) {
		if (d <= t->cap && t->slots[ctr_slot_of(fn)] == (fn | EXCL_TAG))
			return; /* an excluded function, as on the fast path */
		t->gate = CTR_G_BUSY;
		exit_slow(fn, rdtsc());
		return;
	}
	t->gate = CTR_G_BUSY;
	a = &t->aux[d - 1];
	/* a take-back may write counts (a full array), which may lose: the gate says LOST then */
	if (!a->keep && p < t->end && take_back(t, a, fn, d)) {
		if (t->gate == CTR_G_BUSY) /* not sampled: dropped without reading the clock */
			t->gate = CTR_G_POLICY;
		return;
	}
	now = rdtsc();
	if (now - a->t0 < ctr_opts.min_ticks && p < t->end && take_back(t, a, fn, d)) {
		if (t->gate == CTR_G_BUSY)
			t->gate = CTR_G_POLICY;
		return;
	}
	delta = now - t->last;
	if (likely(t->n_pend <= a->pend_start && delta <= CTR_W2_EXIT_DELTA_MAX && p < t->end)) {
		fast_exit_word(t, p, d, delta, now);
		t->gate = CTR_G_POLICY;
		return;
	}
	exit_slow(fn, now); /* counts to write first, a time gap, a full window */
}

static void enter_gated(struct ctr_thr *t, uintptr_t fn, uintptr_t sp);
static void exit_gated(struct ctr_thr *t, uintptr_t fn);

/* CTR_G_SHARED: the event goes to the calling kernel thread's own state, the whole way on the
 * generic paths (the policy's fast paths and the slow-path tails use ctr_tls itself). */
static void shared_enter(uintptr_t fn, uintptr_t sp)
{
	struct ctr_thr *s = ctr_shared_self();

	if (!s)
		return;
	if (s->gate == CTR_G_UNINIT && !ctr_opts.have_filter && ctr_global_on &&
	    !ctr_proc.dormant_start)
		ctr_thread_start(s);
	if (s->gate == CTR_G_OPEN || s->gate == CTR_G_POLICY || s->gate == CTR_G_MONO)
		generic_enter_locked(s, fn, sp, now_ticks());
	else if (s->gate != CTR_G_UNINIT || ctr_opts.have_filter || !ctr_global_on ||
		 ctr_proc.dormant_start)
		enter_gated(s, fn, sp); /* never its UNINIT fall-through to the policy's paths */
}

static void shared_exit(uintptr_t fn)
{
	struct ctr_thr *s = ctr_shared_self();

	if (!s)
		return;
	if (s->gate == CTR_G_OPEN || s->gate == CTR_G_POLICY || s->gate == CTR_G_MONO)
		generic_exit_locked(s, fn, now_ticks());
	else
		exit_gated(s, fn);
}

/* Enter when the gate is not open: first event of a thread, nested, losing, off, options. */
static __attribute__((noinline)) void enter_gated(struct ctr_thr *t, uintptr_t fn, uintptr_t sp)
{
	switch (t->gate) {
	case CTR_G_UNINIT:
		if (!ctr_global_on || ctr_opts.have_filter || ctr_proc.dormant_start) {
			/* DORMANT waits for the switch, or goes on to FILTER_OUT or activate(): a
			 * dormant start switched on before the thread's first event included */
			t->gate = ctr_proc.enabled ? CTR_G_DORMANT : CTR_G_OFF;
			enter_gated(t, fn, sp);
			return;
		}
		ctr_thread_start(t);
		if (t->gate == CTR_G_LOST) {
			push_frame(t, fn, sp);
			t->lost_pending++;
			return;
		}
		/* fall through */
	case CTR_G_MONO:
	case CTR_G_POLICY:
		if (t->gate == CTR_G_POLICY)
			policy_enter(t, fn, sp);
		else if (CTR_GATE_IS_ON(t->gate))
			generic_enter_locked(t, fn, sp, now_ticks());
		return;
	case CTR_G_DORMANT:
		if (!ctr_global_on)
			return;
		if (ctr_opts.have_filter) {
			t->gate = CTR_G_FILTER_OUT;
			enter_gated(t, fn, sp);
			return;
		}
		if (activate(t, 0, 0) == 0) {
			enter_generic(t, fn, sp, now_ticks());
			t->gate = CTR_GATE_ON;
		}
		return;
	case CTR_G_FILTER_OUT:
		if (!ctr_global_on) {
			t->gate = CTR_G_DORMANT;
			return;
		}
		if (unlikely(t->dl_checks))
			dl_refresh(t);
		if (ctr_control_decide(fn) != CTR_DECIDE_FILTER)
			return;
		if (!has_stream(t)) {
			ctr_thread_start(t);
			if (!CTR_GATE_IS_ON(t->gate))
				return;
		}
		t->gate = CTR_G_BUSY;
		t->depth = 0;
		enter_generic(t, fn, sp, now_ticks());
		if (t->depth == 1 && t->cap)
			t->stack[0].fn |= ROOT_TAG; /* the region ends with this frame */
		if (t->gate == CTR_G_BUSY)
			t->gate = CTR_GATE_ON;
		return;
	case CTR_G_BUSY:
		count_nested(t);
		return;
	case CTR_G_SHARED:
		shared_enter(fn, sp);
		return;
	case CTR_G_VFORK:
		if (ctr_foreign())
			return; /* the vfork child, in its parent's memory: never its thread */
		t->gate = t->vfork_gate;
		if (t->gate)
			enter_gated(t, fn, sp);
		else
			generic_enter_locked(t, fn, sp, now_ticks());
		return;
	case CTR_G_LOST:
		t->gate = CTR_G_BUSY;
		push_frame(t, fn, sp);
		t->lost_pending++;
		t->gate = CTR_G_LOST;
		try_recover(t, now_ticks());
		return;
	default:
		return;
	}
}

static __attribute__((noinline)) void exit_gated(struct ctr_thr *t, uintptr_t fn)
{
	uint32_t n;

	switch (t->gate) {
	case CTR_G_UNINIT:
		/* a fork child's first event is an exit: the parent's frames are open in it */
		if (ctr_proc.enabled && t->depth && ctr_global_on && !ctr_proc.dormant_start &&
		    !ctr_opts.have_filter && !ctr_foreign()) {
			ctr_thread_start(t);
			if (t->gate == CTR_G_POLICY)
				policy_exit(t, fn);
			else if (CTR_GATE_IS_ON(t->gate))
				generic_exit_locked(t, fn, now_ticks());
			return;
		}
		/* switched on while this thread ran: like a dormant thread, its frames are open */
		if (!ctr_proc.enabled || !ctr_proc.dormant_start)
			return;
		t->gate = CTR_G_DORMANT;
		exit_gated(t, fn);
		return;
	case CTR_G_MONO:
		generic_exit_locked(t, fn, now_ticks());
		return;
	case CTR_G_POLICY:
		policy_exit(t, fn);
		return;
	case CTR_G_BUSY:
		count_nested(t);
		return;
	case CTR_G_SHARED:
		shared_exit(fn);
		return;
	case CTR_G_VFORK:
		if (ctr_foreign())
			return;
		t->gate = t->vfork_gate;
		if (t->gate)
			exit_gated(t, fn);
		else
			generic_exit_locked(t, fn, now_ticks());
		return;
	case CTR_G_LOST:
		t->gate = CTR_G_BUSY;
		n = pop_for_exit(t, fn); /* the closed frames' counts are their caller's now */
		t->lost_pending += n;
		note_depth(t);
		t->gate = CTR_G_LOST;
		try_recover(t, now_ticks());
		return;
	case CTR_G_DORMANT:
		/* switched on while this function ran: it is open now */
		if (!ctr_global_on || ctr_opts.have_filter)
			return;
		if (activate(t, 1, fn) == 0) {
			exit_generic(t, fn, now_ticks());
			if (t->gate == CTR_G_BUSY)
				t->gate = CTR_GATE_ON;
		}
		return;
	default:
		return;
	}
}

/* The fast paths below only tail-call these, so they stay leaf functions that save no
 * registers; the slow paths own errno saving and reopening the gate. */
static __attribute__((noinline)) void enter_gated_tail(uintptr_t fn, uintptr_t sp)
{
	int saved = errno;

	enter_gated(&ctr_tls, fn, sp);
	errno = saved;
}

static __attribute__((noinline)) void exit_gated_tail(uintptr_t fn)
{
	int saved = errno;

	exit_gated(&ctr_tls, fn);
	errno = saved;
}

/* Enter that missed the fast path: new function in its slot, big time gap, window full, or a
 * stack that must grow. The gate is BUSY. */
static __attribute__((noinline)) void enter_slow(uintptr_t fn, uintptr_t sp, uint64_t now)
{
	int saved = errno;

	generic_enter_locked(&ctr_tls, fn, sp, now);
	errno = saved;
}

static __attribute__((noinline)) void exit_slow(uintptr_t fn, uint64_t now)
{
	int saved = errno;

	generic_exit_locked(&ctr_tls, fn, now);
	errno = saved;
}

/* The enter hook's body, for a frame at stack address @sp. HOT: signal-safe, no alloc */
static inline __attribute__((always_inline)) void enter_at(uintptr_t fn, uintptr_t sp)
{
	struct ctr_thr *t = &ctr_tls;
	uint32_t d, slot, *p;
	uint64_t now, delta;

	if (unlikely(t->gate)) {
		/* not recording: cost as close to glibc's empty hook as a load and a branch */
		if (t->gate == CTR_G_OFF || (t->gate == CTR_G_DORMANT && !ctr_global_on))
			return;
		if (t->gate == CTR_G_POLICY)
			return policy_enter(t, fn, sp);
		return enter_gated_tail(fn, sp);
	}
	slot = ctr_slot_of(fn);
	d = t->depth;
	/* an excluded function already seen costs no clock read: only reads, gate untouched */
	if (unlikely(t->slots[slot] != fn) && t->slots[slot] == (fn | EXCL_TAG) && d < t->cap) {
		t->hidden[CTR_HIDDEN_EXCLUDED]++;
		t->end = NULL; /* the next event goes the slow way and writes the count */
		return;
	}
	t->gate = CTR_G_BUSY;
	now = rdtsc(); /* the gate is only open with a usable TSC */
	delta = now - t->last;
	p = t->pos;
	if (likely(d < t->cap)) {
		t->stack[d].fn = fn;
		t->stack[d].sp = sp;
		if (likely(t->slots[slot] == fn && delta <= CTR_ENTER_DELTA_MAX && p < t->end)) {
			fast_enter_word(t, p, d, slot, delta, now);
			t->gate = CTR_G_OPEN;
			return;
		}
	}
	return enter_slow(fn, sp, now);
}

/* HOT: signal-safe, no alloc */
CTR_EXPORT void __cyg_profile_func_enter(void *fnp, void *site)
{
	(void)site;
	enter_at((uintptr_t)fnp, HOOK_SP());
}

/* HOT: signal-safe, no alloc */
void ctr_hook_enter_at(uintptr_t fn, uintptr_t sp)
{
	enter_at(fn, sp);
}

/* HOT: signal-safe, no alloc */
CTR_EXPORT void __cyg_profile_func_exit(void *fnp, void *site)
{
	struct ctr_thr *t = &ctr_tls;
	uintptr_t fn = (uintptr_t)fnp;
	uint32_t d, *p;
	uint64_t now, delta;

	if (unlikely(t->gate)) {
		if (t->gate == CTR_G_OFF || (t->gate == CTR_G_DORMANT && !ctr_global_on))
			return;
		if (t->gate == CTR_G_POLICY)
			return policy_exit(t, fn);
		return exit_gated_tail(fn);
	}
	d = t->depth;
	if (likely(d - 1 < t->cap && t->stack[d - 1].fn == fn)) {
		t->gate = CTR_G_BUSY;
		now = rdtsc();
		delta = now - t->last;
		p = t->pos;
		if (likely(delta <= CTR_W2_EXIT_DELTA_MAX && p < t->end)) {
			fast_exit_word(t, p, d, delta, now);
			t->gate = CTR_G_OPEN;
			return;
		}
		return exit_slow(fn, now);
	}
	/* an excluded function (never on the stack) returning within the recorded depth */
	if (d <= t->cap && t->slots[ctr_slot_of(fn)] == (fn | EXCL_TAG))
		return;
	t->gate = CTR_G_BUSY;
	return exit_slow(fn, rdtsc());
}

/* The hooks' own addresses, whichever object the dynamic linker binds the names to (loaded by
 * dlopen, as `ctrace attach` does, the names resolve to glibc's no-ops): patch.c's targets. */
extern __typeof__(__cyg_profile_func_enter) ctr_hook_enter
    __attribute__((alias("__cyg_profile_func_enter"), visibility("hidden")));
extern __typeof__(__cyg_profile_func_exit) ctr_hook_exit
    __attribute__((alias("__cyg_profile_func_exit"), visibility("hidden")));

/* Closes every open frame deeper than stack position @sp (longjmp target, catching frame). */
void ctr_unwind_to_sp(struct ctr_thr *t, uintptr_t sp)
{
	uint32_t d = t->depth, k = d > t->cap ? t->cap : d;
	int gate = t->gate;

	if (!CTR_GATE_IS_ON(gate) && gate != CTR_G_LOST)
		return;
	while (k > 0 && t->stack[k - 1].sp < sp)
		k--;
	if (k == d || (d > t->cap && k == t->cap))
		return;
	t->gate = CTR_G_BUSY;
	t->depth = k;
	if (gate == CTR_G_LOST) {
		t->lost_pending += d - k;
		note_depth(t); /* the closed frames' dropped calls are their caller's now */
		t->gate = CTR_G_LOST;
		return;
	}
	uint64_t now = now_ticks(), delta;
	uint32_t *p;

	if (t->n_pend) { /* the closed frames' dropped calls, each inside its frame */
		t->depth = d;
		d = k + close_counted(t, k, now);
		t->depth = k;
	}
	if ((int64_t)(now - t->last) < 0)
		now = t->last;
	delta = now - t->last;
	if (reserve(t, 6) != 0) {
		t->lost_pending += d - k;
		note_depth(t);
		return;
	}
	merge_off(t);
	p = t->pos;
	if (delta > CTR_EXIT_DELTA_MAX) {
		p = put_u64(p, CTR_X_TIME, 0, now);
		delta = 0;
	}
	*p++ = ctr_w_ext(CTR_X_UNWIND, 1, d - k);
	*p++ = (uint32_t)delta;
	t->pos = p;
	t->last = now;
	jump_mark(t);
	t->gate = gate;
}

/* INHERIT records for the frames open now (new file after fork, switch-on). */
void ctr_write_inherit(struct ctr_thr *t)
{
	uint32_t i, n = t->depth < t->cap ? t->depth : t->cap;

	merge_off(t);
	for (i = 0; i < n; i++) {
		if (reserve(t, 3) != 0)
			return;
		t->pos = put_u64(t->pos, CTR_X_INHERIT, 0, t->stack[i].fn & ~CTR_FN_TAGS);
	}
	t->depth = n;
}

/* Writes a string record (span, mark, thread name) for the calling thread. */
static void write_str(struct ctr_thr *t, uint32_t kind, const char *s, size_t len, const char *s2,
		      size_t len2)
{
	uint32_t kw = (uint32_t)((len + 3) / 4), vw = (uint32_t)((len2 + 3) / 4);
	uint32_t nw = kind == CTR_X_ATTR_STR ? 1 + kw + vw : kw, *p;
	uint64_t now = now_ticks();

	if (reserve(t, nw + 4) != 0) {
		t->lost_pending++;
		return;
	}
	merge_off(t);
	p = t->pos;
	p = put_u64(p, CTR_X_TIME, 0, now);
	*p++ = ctr_w_ext(kind, nw, (uint32_t)len);
	memset(p, 0, (size_t)nw * 4);
	if (kind == CTR_X_ATTR_STR) {
		*p++ = (uint32_t)len2;
		memcpy(p, s, len);
		memcpy(p + kw, s2, len2);
	} else {
		memcpy(p, s, len);
	}
	t->pos = t->pos + 3 + 1 + nw;
	t->last = now;
}

/* Gate handling shared by the manual API: returns 1 when the caller may write. */
static int api_begin(struct ctr_thr *t)
{
	if (t->gate == CTR_G_UNINIT)
		ctr_thread_start(t);
	if (!CTR_GATE_IS_ON(t->gate))
		return 0;
	t->gate = CTR_G_BUSY;
	return 1;
}

static void api_end(struct ctr_thr *t)
{
	jump_mark(t);
	if (t->gate == CTR_G_BUSY)
		t->gate = CTR_GATE_ON;
}

static size_t clamp_len(const char *s)
{
	size_t n = s ? strnlen(s, CTR_STR_MAX + 1) : 0;

	return n > CTR_STR_MAX ? CTR_STR_MAX : n;
}

/* Span frames are keyed by this marker in the shadow stack. */
#define SPAN_FN ((uintptr_t)1)

CTR_EXPORT void ctrace__span_begin(const char *name)
{
	struct ctr_thr *t = &ctr_tls;
	int saved = errno;

	if (api_begin(t)) {
		push_frame(t, SPAN_FN, (uintptr_t)__builtin_frame_address(0));
		write_str(t, CTR_X_SPAN, name ? name : "", clamp_len(name), NULL, 0);
		api_end(t);
	}
	errno = saved;
}

CTR_EXPORT void ctrace__span_end(void)
{
	struct ctr_thr *t = &ctr_tls;
	int saved = errno;

	if (api_begin(t)) {
		uint32_t n = pop_for_exit(t, SPAN_FN);

		if (n)
			write_exit(t, n, now_ticks());
		api_end(t);
	}
	errno = saved;
}

CTR_EXPORT void ctrace__mark(const char *name)
{
	struct ctr_thr *t = &ctr_tls;
	int saved = errno;

	if (api_begin(t)) {
		write_str(t, CTR_X_MARK, name ? name : "", clamp_len(name), NULL, 0);
		api_end(t);
	}
	errno = saved;
}

CTR_EXPORT void ctrace__attr_str(const char *key, const char *value)
{
	struct ctr_thr *t = &ctr_tls;
	int saved = errno;

	if (api_begin(t)) {
		write_str(t, CTR_X_ATTR_STR, key ? key : "", clamp_len(key), value ? value : "",
			  clamp_len(value));
		api_end(t);
	}
	errno = saved;
}

CTR_EXPORT void ctrace__attr_int(const char *key, long long value)
{
	struct ctr_thr *t = &ctr_tls;
	int saved = errno;

	if (api_begin(t)) {
		size_t len = clamp_len(key);
		uint32_t kw = (uint32_t)((len + 3) / 4), *p;

		if (reserve(t, kw + 3) == 0) {
			merge_off(t);
			p = t->pos;
			*p++ = ctr_w_ext(CTR_X_ATTR_INT, 2 + kw, (uint32_t)len);
			*p++ = (uint32_t)(uint64_t)value;
			*p++ = (uint32_t)((uint64_t)value >> 32);
			memset(p, 0, (size_t)kw * 4);
			memcpy(p, key ? key : "", len);
			t->pos = p + kw;
		} else {
			t->lost_pending++;
		}
		api_end(t);
	}
	errno = saved;
}

void ctr_write_thread_name(struct ctr_thr *t, const char *name)
{
	if (api_begin(t)) {
		write_str(t, CTR_X_THREAD_NAME, name, clamp_len(name), NULL, 0);
		api_end(t);
	}
}

CTR_EXPORT void ctrace__thread_name(const char *name)
{
	int saved = errno;

	if (name) {
		prctl(PR_SET_NAME, name, 0, 0, 0);
		ctr_write_thread_name(&ctr_tls, name);
	}
	errno = saved;
}

/* ---- thread life -------------------------------------------------------------------- */

static void write_header(struct ctr_thr *t)
{
	struct ctr_ev_hdr *h = (struct ctr_ev_hdr *)t->win;

	memcpy(h->magic, CTR_EV_MAGIC, 8);
	h->version = CTR_EV_VERSION;
	h->hdr_size = CTR_EV_HDR_SIZE;
	h->flags = ctr_proc.use_tsc ? CTR_EV_FLAG_TSC : 0;
	h->pid = ctr_proc.pid;
	h->tid = t->tid;
	h->ppid = ctr_proc.ppid;
	h->gen = ctr_proc.gen;
	h->ticks_per_sec = ctr_proc.ticks_per_sec;
	h->start_ticks = t->last;
	prctl(PR_GET_NAME, h->name, 0, 0, 0);
}

static void thread_start(struct ctr_thr *t)
{
	int saved = errno;
	stack_t ss;

	t->gate = CTR_G_BUSY;
	__atomic_fetch_add(&ctr_proc.starting, 1, __ATOMIC_SEQ_CST); /* ctr_threads_busy() */
	if (!ctr_proc.enabled) {
		/* before the constructor (a hook in another object's start-up): ask again later */
		t->gate = ctr_proc.ready ? CTR_G_OFF : CTR_G_UNINIT;
		goto out;
	}
	t->tid = (int32_t)syscall(SYS_gettid);
	if (!t->slots)
		t->slots = map_anon(CTR_NSLOTS * sizeof(uintptr_t));
	if (!t->stack) {
		t->stack = map_anon(STACK_INIT * sizeof(struct ctr_frame));
		t->mapped = t->stack ? STACK_INIT : 0;
	}
	t->cap = t->mapped; /* an attached thread starts again with the stack it had */
	if (ctr_opts.policy && !t->aux) {
		t->aux = map_anon(t->mapped * sizeof(struct ctr_aux));
		pend_map(t, CTR_PEND_INIT);
		if (!t->aux || !t->pend)
			t->slots = NULL; /* cannot apply the options: do not record wrongly */
	}
	/* apart: a thread of an attached process keeps its aux from an earlier attach */
	if (ctr_opts.sample && !t->scount && !(t->scount = map_anon(CTR_NSLOTS * sizeof(uint32_t))))
		t->slots = NULL;
	if (ctr_opts.max_depth && t->cap > ctr_opts.max_depth)
		t->cap = ctr_opts.max_depth;
	if (!t->slots) {
		t->gate = CTR_G_OFF;
		ctr_log(CTR_LOG_ERROR, "thread %d: out of memory: not recorded", (int)t->tid);
		goto out;
	}
	/* a shared ring when `ctrace record` drains one, else windows of the event file */
	if (ctr_proc.ring_size && ctr_ring_open(t) != 0) {
		ctr_log(CTR_LOG_WARN,
			"thread %d: cannot create its shared ring: %s; writing its "
			"event file directly",
			(int)t->tid, strerror(errno));
		ctr_unlink_ring_file(t);
	}
	if ((!t->ring && ctr_open_thread_file(t) != 0) ||
	    map_window(t, 0, ctr_proc.window_min) != 0) {
		ctr_log(CTR_LOG_ERROR, "thread %d: cannot create its event file: %s", (int)t->tid,
			strerror(errno));
		enter_lost_mode(t);
		goto reg;
	}
	t->last = now_ticks();
	write_header(t);
	if (t->ring)
		memcpy(&t->ring->ev, t->win, sizeof(struct ctr_ev_hdr));
	t->pos = put_u64(t->pos, CTR_X_TIME, 0, t->last);
	if (t->depth)
		ctr_write_inherit(t);
	jump_mark(t);
	t->gate = CTR_GATE_ON;
reg:
	/* attached (ctrace attach) the crash handlers are not installed: no stack for them */
	if (!ctr_proc.attached && sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_DISABLE)) {
		t->altstack = map_anon(ALTSTACK_SIZE);
		if (t->altstack) {
			ss.ss_sp = t->altstack;
			ss.ss_size = ALTSTACK_SIZE;
			ss.ss_flags = 0;
			sigaltstack(&ss, NULL);
		}
	}
	ctr_register_thread(t);
out:
	__atomic_fetch_sub(&ctr_proc.starting, 1, __ATOMIC_SEQ_CST);
	errno = saved;
}

/* The first event of a thread: cancellation (its files are opened by cancellation points) and
 * the program's signals (a handler that jumps out would leave it half done) wait until the
 * thread is set up. */
void ctr_thread_start(struct ctr_thr *t)
{
	struct ctr_nocancel nc;
	sigset_t all, old;
	int saved = errno;

	sigfillset(&all);
	ctr_nocancel_begin(&nc);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	thread_start(t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	ctr_nocancel_end(&nc);
	errno = saved;
}

/* Thread exit: exact end offset and lost count in the header, preallocated tail released. */
void ctr_thread_finish(struct ctr_thr *t)
{
	int saved = errno;
	struct ctr_nocancel nc;
	uint64_t end;
	uint32_t flags;
	int fd;

	if (t == &ctr_tls && t->gate == CTR_G_SHARED)
		ctr_shared_unshare(); /* the TLS owner's own state, back in place */
	if (t->gate == CTR_G_UNINIT || t->gate == CTR_G_OFF)
		return;
	ctr_nocancel_begin(&nc);
	t->gate = CTR_G_BUSY;
	if (t->n_pend && t->win)
		flush_pending(t, 0);
	if (t->lost_pending) {
		t->lost += t->lost_pending;
		ctr_lost_global(t->lost_pending);
		t->lost_pending = 0;
	}
	fd = t->file.held ? ctr_thread_fd(t) : -1;
	if (t->ring) { /* the drainer writes the header and trims the file */
		end = t->win ? t->win_off + (uint64_t)(t->pos - t->win) * 4 : 0;
		flags = (ctr_proc.use_tsc ? CTR_EV_FLAG_TSC : 0) | CTR_EV_FLAG_CLOSED;
		ctr_ring_close(t, end, flags);
		t->win = NULL;
	} else if (t->win) {
		struct ctr_ev_hdr *h = t->win_off == 0 ? (struct ctr_ev_hdr *)t->win : NULL;

		end = t->win_off + (uint64_t)(t->pos - t->win) * 4;
		flags = (ctr_proc.use_tsc ? CTR_EV_FLAG_TSC : 0) | CTR_EV_FLAG_CLOSED;
		if (h) { /* the header is in the mapping: no descriptor needed */
			h->end_offset = end;
			h->lost_events = t->lost;
			h->flags = flags;
		} else if (fd >= 0) {
			pwrite(fd, &end, 8, offsetof(struct ctr_ev_hdr, end_offset));
			pwrite(fd, &t->lost, 8, offsetof(struct ctr_ev_hdr, lost_events));
			pwrite(fd, &flags, 4, offsetof(struct ctr_ev_hdr, flags));
		}
		munmap(t->win, t->win_size);
		t->win = NULL;
		if (fd >= 0 && ftruncate(fd, (off_t)end) != 0)
			ctr_log(CTR_LOG_DEBUG, "cannot trim event file: %s", strerror(errno));
	}
	ctr_fd_close(&t->file);
	t->file.held = 0;
	ctr_unregister_thread(t);
	if (t->altstack) {
		stack_t ss = {.ss_flags = SS_DISABLE};

		sigaltstack(&ss, NULL);
		munmap(t->altstack, ALTSTACK_SIZE);
		t->altstack = NULL;
	}
	t->pos = t->end = NULL;
	t->gate = CTR_G_OFF;
	ctr_nocancel_end(&nc);
	errno = saved;
}

/* In a fork child: the parent's window and file are not ours; start a new file at the next
 * event, with the open frames inherited. */
void ctr_thread_forget(struct ctr_thr *t)
{
	if (t->gate == CTR_G_UNINIT)
		return;
	if (t->ring)
		ctr_ring_forget(t); /* the parent's: the parent's drainer still needs it as is */
	else if (t->win)
		munmap(t->win, t->win_size);
	ctr_fd_close(&t->file); /* the parent's, inherited: only if it still is that file */
	t->file.held = 0;
	t->win = NULL;
	t->pos = t->end = NULL;
	t->lost = t->lost_pending = 0;
	t->next = NULL;
	if (t->slots)
		memset(t->slots, 0, CTR_NSLOTS * sizeof(uintptr_t));
	if (t->scount) /* per slot, like the slots */
		memset(t->scount, 0, CTR_NSLOTS * sizeof(uint32_t));
	t->altstack = NULL; /* still installed and mapped in the child: keep using it */
	t->gate = CTR_G_UNINIT;
}

/* ---- longjmp and exceptions --------------------------------------------------------- */

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

#include <dlfcn.h>

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

/* ---- overhead calibration ----------------------------------------------------------- */

static __attribute__((noinline)) void calib_target(void)
{
	__asm__ volatile("");
}

typedef void (*hook_fn)(void *, void *);

/* Scratch recording state of the calibration: the thread's own state is saved around it. */
struct calib {
	hook_fn enter, exitf;
	uint32_t *buf;
	size_t bufsz;
	uintptr_t *slots;
	struct ctr_frame *stack;
	struct ctr_aux *aux;  /* with a drop policy */
	struct ctr_thr pend;  /* its pending counts (pend, pend_hint, pend_cap only) */
	struct ctr_opts opts; /* the process's options, restored afterwards */
};

enum { CALIB_N = 4000, CALIB_ROUNDS = 7, CALIB_HIST = 4096 };
enum calib_mode { CALIB_RECORDED, CALIB_EXCLUDED, CALIB_DEEP, CALIB_SLOW, CALIB_DROPPED };

/* A fresh thread state writing into the scratch buffer, set up for @mode. */
static void calib_reset(struct calib *k, enum calib_mode mode)
{
	struct ctr_thr *t = &ctr_tls;

	memset(t, 0, sizeof(*t));
	memset(k->slots, 0, CTR_NSLOTS * sizeof(uintptr_t));
	t->win = k->buf;
	t->win_size = k->bufsz;
	t->pos = k->buf;
	t->end = k->buf + k->bufsz / 4 - SLACK_WORDS;
	t->slots = k->slots;
	t->stack = k->stack;
	t->cap = t->mapped = 64;
	t->file.fd = -1;
	t->gate = CTR_GATE_ON;
	t->last = now_ticks();
	if (k->aux) { /* a drop policy: its paths, keeping every call but in CALIB_DROPPED */
		t->aux = k->aux;
		t->pend = k->pend.pend;
		t->pend_hint = k->pend.pend_hint;
		t->pend_cap = k->pend.pend_cap;
		/* CALIB_DROPPED: with --sample, unsampled calls (no scount: none is sampled),
		 * dropped without a clock read at their exit; else too short for any limit */
		ctr_opts.sample = mode == CALIB_DROPPED ? k->opts.sample : 0;
		ctr_opts.min_ticks = mode != CALIB_DROPPED ? 0
				     : k->opts.sample	   ? k->opts.min_ticks
							   : UINT64_MAX;
	}
	if (mode == CALIB_EXCLUDED)
		k->slots[ctr_slot_of((uintptr_t)calib_target)] = (uintptr_t)calib_target | EXCL_TAG;
	if (mode == CALIB_DEEP) {
		t->cap = ctr_opts.max_depth < 64 ? ctr_opts.max_depth : 64;
		t->depth = ctr_opts.max_depth;
	}
}

/* Ticks of the fastest of CALIB_ROUNDS rounds of CALIB_N calls through the hooks in @mode
 * (@hist: the recorded calls' exit deltas, the in-interval cost) and of the same calls bare. */
static void calib_time(struct calib *k, enum calib_mode mode, uint32_t *hist, uint64_t *n,
		       uint64_t *hook, uint64_t *bare)
{
	void (*volatile target)(void) = calib_target;

	*hook = *bare = UINT64_MAX;
	for (int r = 0; r < CALIB_ROUNDS; r++) {
		uint64_t t0, t1;

		calib_reset(k, mode);
		t0 = now_ticks();
		for (int i = 0; i < CALIB_N; i++) {
			if (mode == CALIB_SLOW)
				ctr_tls.end = NULL; /* as after an unrecorded call: the slow way */
			k->enter((void *)calib_target, NULL);
			target();
			if (mode == CALIB_SLOW)
				ctr_tls.end = NULL;
			k->exitf((void *)calib_target, NULL);
		}
		t1 = now_ticks();
		if (t1 - t0 < *hook)
			*hook = t1 - t0;
		t0 = now_ticks();
		for (int i = 0; i < CALIB_N; i++)
			target();
		t1 = now_ticks();
		if (t1 - t0 < *bare)
			*bare = t1 - t0;
		for (uint32_t *p = k->buf; hist && p < ctr_tls.pos; p++) {
			uint32_t dur = CTR_W2_TAG(*p) == CTR_W2_T_LEAF ? CTR_W2_LEAF_DUR(*p)
				       : CTR_W2_TAG(*p) == CTR_W2_T_EXIT && !CTR_W2_IS_EXIT2(*p)
					   ? CTR_W2_EXIT_DELTA(*p)
					   : CALIB_HIST; /* ENTER, TIME, or not a lone call */
			if (dur < CALIB_HIST)
				hist[dur]++, (*n)++;
		}
	}
}

static double ticks_to_ns_per_call(uint64_t hook, uint64_t bare)
{
	return hook > bare ? (double)(hook - bare) * 1e9 / (double)ctr_proc.ticks_per_sec / CALIB_N
			   : 0;
}

/*
 * Measures the recorder's own cost on this machine, through the exported hooks as a program
 * calls them: @o->inner_ns is the part that falls inside a call's measured interval,
 * @o->call_ns the whole cost of one call (enter + exit), and @o->hidden_ns[] the cost of a
 * call the hooks see but do not record (excluded, deeper than --depth; 0 when the option is
 * not set). Runs on the calling thread with a scratch buffer.
 */
int ctr_calibrate(struct ctr_overhead *o)
{
	struct ctr_thr saved = ctr_tls;
	const struct ctr_opts opts = ctr_opts;
	static uint32_t hist[CALIB_HIST];
	struct calib k = {
	    .enter = (hook_fn)dlsym(RTLD_DEFAULT, "__cyg_profile_func_enter"),
	    .exitf = (hook_fn)dlsym(RTLD_DEFAULT, "__cyg_profile_func_exit"),
	    .bufsz = (size_t)CALIB_N * 2 * 4 + 4096,
	    .opts = ctr_opts,
	};
	uint64_t hook, bare, n = 0, acc = 0;
	double sum = 0;
	int ret = -1;

	memset(o, 0, sizeof(*o));
	k.buf = map_anon(k.bufsz);
	k.slots = map_anon(CTR_NSLOTS * sizeof(uintptr_t));
	k.stack = map_anon(64 * sizeof(struct ctr_frame));
	if (ctr_opts.policy) {
		k.aux = map_anon(64 * sizeof(struct ctr_aux));
		if (!k.aux || pend_map(&k.pend, CTR_PEND_INIT))
			goto out;
	}
	if (!k.enter || !k.exitf || !k.buf || !k.slots || !k.stack)
		goto out;
	memset(hist, 0, sizeof(hist));
	calib_time(&k, CALIB_RECORDED, hist, &n, &hook, &bare);
	/* the mean of the fastest 99%: a clock that ticks in steps of several ns (TSC on a VM)
	 * makes the median one step, while the calls' average cost lies between steps */
	for (uint32_t i = 0; i < CALIB_HIST && acc * 100 < n * 99; i++) {
		uint64_t take = hist[i] < n * 99 / 100 - acc ? hist[i] : n * 99 / 100 - acc;

		acc += take;
		sum += (double)take * i;
	}
	if (acc)
		o->inner_ns = sum / (double)acc * 1e9 / (double)ctr_proc.ticks_per_sec;
	o->call_ns = ticks_to_ns_per_call(hook, bare);
	if (ctr_opts.have_exclude) {
		calib_time(&k, CALIB_EXCLUDED, NULL, NULL, &hook, &bare);
		o->hidden_ns[CTR_HIDDEN_EXCLUDED] = ticks_to_ns_per_call(hook, bare);
	}
	if (ctr_opts.max_depth) {
		calib_time(&k, CALIB_DEEP, NULL, NULL, &hook, &bare);
		o->hidden_ns[CTR_HIDDEN_DEEP] = ticks_to_ns_per_call(hook, bare);
	}
	if (ctr_opts.have_exclude || ctr_opts.max_depth) {
		/* a recorded call after unrecorded ones takes the slow path to write their count */
		calib_time(&k, CALIB_SLOW, NULL, NULL, &hook, &bare);
		o->slow_ns = ticks_to_ns_per_call(hook, bare) - o->call_ns;
		if (o->slow_ns < 0)
			o->slow_ns = 0;
	}
	if (ctr_opts.policy) {
		/* a dropped call: both hooks, the take-back and its count */
		calib_time(&k, CALIB_DROPPED, NULL, NULL, &hook, &bare);
		o->dropped_ns = ticks_to_ns_per_call(hook, bare);
	}
	ret = n ? 0 : -1;
out:
	ctr_tls = saved;
	ctr_opts = opts;
	if (k.aux)
		munmap(k.aux, 64 * sizeof(struct ctr_aux));
	if (k.pend.pend_hint)
		munmap(k.pend.pend_hint, PEND_BYTES(k.pend.pend_cap));
	if (k.buf)
		munmap(k.buf, k.bufsz);
	if (k.slots)
		munmap(k.slots, CTR_NSLOTS * sizeof(uintptr_t));
	if (k.stack)
		munmap(k.stack, 64 * sizeof(struct ctr_frame));
	return ret;
}
