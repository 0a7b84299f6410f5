/* SPDX-License-Identifier: MIT */
/*
 * Start-up calibration of the recorder's own cost: the hooks timed on a scratch recording
 * state against a bare call, in each mode the run may use (fast path, drop policy, generic
 * path), so that commit can remove the overhead from the times it reports ("true" times).
 * Runs once in the constructor, before the program's first instrumented call.
 */
#include <string.h>

#include "preload-int.h"

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
		if (!k.aux || ctr_pend_map(&k.pend, CTR_PEND_INIT))
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
