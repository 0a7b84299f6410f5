/* SPDX-License-Identifier: MIT */
/*
 * The recorder's hot path: __cyg_profile_func_enter/exit and what they fall back to. Each
 * thread appends 32-bit event words (common/format.h) to a window of its own file mapping; a
 * call costs 8 bytes, or 4 when its exit turns the ENTER word just before it into a LEAF, or
 * the EXIT word just before it into an EXIT2 (t->merge). The fast path does one TSC read, a
 * shadow-stack push or pop, a slot check and one store; everything else (new functions, big
 * time gaps, window switches, loss accounting) lives in noinline slow paths. What runs at
 * other times has files of its own: the drop policy's pending counts past their first probe
 * (pending.c), a thread's start and end (thread.c), longjmp and exception repair (jumps.c),
 * the ctrace.h API (api.c), start-up calibration (calibrate.c), GOT and PLT repointing
 * (patch.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>

#include "preload-int.h"

__thread struct ctr_thr ctr_tls __attribute__((tls_model("initial-exec"))) = {
    .gate = CTR_G_UNINIT,
    .file = {.fd = -1},
};

#define STACK_MAX (1u << 24)
#define LOST_RETRY 65536u

uint64_t ctr_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
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

static uint32_t *win_limit(const struct ctr_thr *t)
{
	return t->win + t->win_size / 4;
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
int ctr_map_window(struct ctr_thr *t, uint64_t off, uint64_t size)
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

void ctr_enter_lost_mode(struct ctr_thr *t)
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
int ctr_reserve(struct ctr_thr *t, uint32_t n)
{
	uint64_t next_off, size;

	if (likely(t->pos + n <= win_limit(t)))
		return 0;
	pad_to_end(t);
	next_off = t->win_off + t->win_size;
	size = t->win_size * 2 > ctr_proc.window_max ? ctr_proc.window_max : t->win_size * 2;
	if (ctr_map_window(t, next_off, size) != 0) {
		ctr_enter_lost_mode(t);
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

void ctr_push_frame(struct ctr_thr *t, uintptr_t fn, uintptr_t sp)
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
/* A flight-recorder trigger function (--trigger-slower) is tagged in its slot, which sends
 * every call of it to the slow path, and on the stack, which sends its exit there. */
#define WATCH_TAG ((uintptr_t)1 << 62)

uint32_t ctr_pop_for_exit(struct ctr_thr *t, uintptr_t fn)
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
		if (!has_stream(t) || ctr_map_window(t, next_off, ctr_proc.window_max) != 0) {
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
	if (ctr_reserve(t, 7 + TRACER_WORDS) != 0) {
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

void ctr_write_exit(struct ctr_thr *t, uint32_t closes, uint64_t now)
{
	uint64_t delta, before = t->tracer;
	uint32_t *p;

	t->tracer = 0;
	t->ring_frame_adj = (int32_t)closes; /* ... and the frames closing are still open */
	if (ctr_reserve(t, 6 + TRACER_WORDS) != 0) {
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

void ctr_write_count(struct ctr_thr *t, uintptr_t fn, uint32_t count)
{
	uint32_t slot = ctr_slot_of(fn), *p;

	if (ctr_reserve(t, 5) != 0) {
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

/* Counts a dropped call of @fn in the innermost open frame (depth t->depth), whose EXIT
 * comes later. Returns 0, or -1 when no room could be made: the call must then be kept. */
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
	return ctr_pend_add_slow(t, fn);
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

	ctr_push_frame(t, fn, sp);
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
	n = ctr_pop_for_exit(t, fn);
	if (!n)
		return;
	if (t->n_pend) { /* counts owned by the closing frame(s) go just before their exit */
		uint32_t k = t->depth;

		t->depth = k + n;
		n = ctr_close_counted(t, k, now);
		t->depth = k;
	}
	ctr_write_exit(t, n, now);
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
		ctr_flush_pending(t, 0);
	merge_off(t);
	if (n && t->win && ctr_reserve(t, 6) == 0) {
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
	if (ctr_reserve(t, 3) != 0)
		return -1;
	t->last = now_ticks();
	merge_off(t);
	t->pos = put_u64(t->pos, CTR_X_TIME, 0, t->last);
	if (ctr_proc.attached)
		ctr_attach_capture(t, include_first);
	else
		ctr_capture_stack(t, include_first);
	if (exiting && (!t->depth || t->stack[t->depth - 1].fn != exiting))
		ctr_push_frame(t, exiting, 0); /* no stack position known: a jump closes it */
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
			ctr_push_frame(t, fn, sp);
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
		ctr_push_frame(t, fn, sp);
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
		n = ctr_pop_for_exit(t, fn); /* the closed frames' counts are their caller's now */
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

int ctr_put_unwind(struct ctr_thr *t, uint32_t n, uint64_t now)
{
	uint64_t delta;
	uint32_t *p;

	if (ctr_reserve(t, 5) != 0)
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
	uint64_t now = now_ticks();

	if (t->n_pend) { /* the closed frames' dropped calls, each inside its frame */
		t->depth = d;
		d = k + ctr_close_counted(t, k, now);
		t->depth = k;
	}
	/* a window or chunk that begins at this record has the closing frames still open */
	t->ring_frame_adj = (int32_t)(d - k);
	if (ctr_put_unwind(t, d - k, now) != 0) {
		t->ring_frame_adj = 0;
		t->lost_pending += d - k;
		note_depth(t);
		return;
	}
	t->ring_frame_adj = 0;
	jump_mark(t);
	t->gate = gate;
}

/* INHERIT records for the frames open now (new file after fork, switch-on). */
void ctr_write_inherit(struct ctr_thr *t)
{
	uint32_t i, n = t->depth < t->cap ? t->depth : t->cap;

	merge_off(t);
	for (i = 0; i < n; i++) {
		if (ctr_reserve(t, 3) != 0)
			return;
		t->pos = put_u64(t->pos, CTR_X_INHERIT, 0, t->stack[i].fn & ~CTR_FN_TAGS);
	}
	t->depth = n;
}
