/* SPDX-License-Identifier: MIT */
/*
 * Private declarations of the preload (libctrace.so): the per-thread recorder state, the
 * process-wide run state, and the functions hooks.c and proc.c share. Nothing here allocates
 * with malloc or takes a lock on the hot path.
 */
#ifndef CTR_PRELOAD_INT_H
#define CTR_PRELOAD_INT_H

#include <elf.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/types.h>

#include "../common/format.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define CTR_EXPORT __attribute__((visibility("default")))
/* Tag bits of function addresses in the slot table and on the shadow stack (hooks.c). */
#define CTR_FN_TAGS ((uintptr_t)3 << 62)
#define CTR_NOINSTR __attribute__((no_instrument_function))

/* Gate values: the hot path runs only when the gate is 0. */
enum ctr_gate {
	CTR_G_OPEN = 0,
	CTR_G_UNINIT = 1,     /* thread not set up yet */
	CTR_G_BUSY = 2,	      /* inside a hook: nested events (signal handlers) are counted lost */
	CTR_G_OFF = 3,	      /* recording disabled for this thread (failure, dormant, finished) */
	CTR_G_LOST = 4,	      /* no room on disk: events counted as lost until a retry succeeds */
	CTR_G_MONO = 5,	      /* recording without a usable TSC: every event takes the
			       * generic path */
	CTR_G_DORMANT = 6,    /* tracing switched off: resumes when ctr_global_on is set */
	CTR_G_FILTER_OUT = 7, /* --filter: outside every matching function */
	CTR_G_VFORK = 8,      /* vfork() called: a child runs in this memory until it execs;
			       * its calls are not recorded, the parent's next event restores
			       * vfork_gate */
	CTR_G_POLICY = 9,     /* recording with a drop policy (--min-duration, --sample): the
			       * policy's own fast paths, which can take a call back */
	CTR_G_SHARED = 10,    /* a raw clone(CLONE_VM) child shares this TLS: every event finds
			       * its kernel thread's own state (thread.c, ctr_shared_self()) */
};

/* The gate value of a recording thread: CTR_G_OPEN when the fast path applies. */
#define CTR_GATE_ON (ctr_proc.fast ? CTR_G_OPEN : ctr_proc.use_tsc ? CTR_G_POLICY : CTR_G_MONO)
#define CTR_GATE_IS_ON(g) ((g) == CTR_G_OPEN || (g) == CTR_G_MONO || (g) == CTR_G_POLICY)

struct ctr_thr;

/* A descriptor of the preload's, identified by device and inode (guard.c). */
struct ctr_fd {
	int fd;	  /* -1: none, or no longer ours */
	int held; /* a file was opened: it can be reopened by name */
	uint64_t dev, ino;
};

/* Options (control.c); all zero when none is set. */
struct ctr_opts {
	int have_filter;  /* record only inside functions matching CTRACE_FILTER */
	int have_exclude; /* CTRACE_EXCLUDE or CTRACE_MODULE set */
	int have_module;
	int policy;	       /* min_ticks or sample: calls may be dropped at their exit */
	uint32_t max_depth;    /* 0 = unlimited */
	uint64_t min_ticks;    /* drop calls shorter than this (counted) */
	uint32_t sample;       /* record 1 in N calls of each function (counted) */
	int have_watch;	       /* flight-recorder triggers: some functions are watched */
	uint64_t slower_ticks; /* --trigger-slower: a call longer than this takes a snapshot */
	int no_follow_exec;    /* CTRACE_NO_FOLLOW_EXEC: exec'd environments passed as given */
};

enum { CTR_DECIDE_RECORD = 0, CTR_DECIDE_EXCLUDE = 1, CTR_DECIDE_FILTER = 2, CTR_DECIDE_WATCH = 3 };
enum { CTR_WATCH_FIRST = 1, CTR_WATCH_SLOWER = 2 }; /* ctr_control_watch() bits */

extern struct ctr_opts ctr_opts;
extern volatile int ctr_global_on;

/* control.c */
int ctr_control_init(void);
void ctr_control_install(void);
void ctr_control_module(const char *path, uintptr_t bias, uintptr_t lo, uintptr_t hi);
int ctr_control_decide(uintptr_t fn);
int ctr_control_watch(uintptr_t fn); /* CTR_WATCH_* bits of a function decided WATCH */
void ctr_control_write_options(int fd);
void ctr_control_write_errors(int fd); /* option_error lines: values the preload rejected */
void ctr_control_reset(void); /* forgets the options read (before an attach reads new ones) */
void ctr_capture_stack(struct ctr_thr *t, int include_first);
struct ctr_frame;
/* The shadow stack of @t made the @n frames of @fr, innermost first (depth set). */
void ctr_stack_set(struct ctr_thr *t, const struct ctr_frame *fr, int n);
CTR_EXPORT void ctrace__pause(void);
CTR_EXPORT void ctrace__resume(void);
CTR_EXPORT int ctrace__enabled(void);

/* exec.c: the exec and spawn wrappers. Snapshots the CTRACE_* and LD_PRELOAD variables of
 * environ (the constructor calls it last, after the preload's own additions) and resolves
 * libc's entry points; with @follow 0 the wrappers pass every environment as given. */
void ctr_exec_init(int follow);

/* patch.c: GOT repointing (the hook bypass, library-call trampolines) */
void ctr_bypass_hooks(int on);
int ctr_hooks_bypassed(void);
/* One loaded object's dynamic symbols and relocations, as ctr_got_each() finds them. */
struct ctr_got {
	const struct dl_phdr_info *info;
	uintptr_t base;		  /* load bias */
	const Elf64_Rela *rel[2]; /* DT_JMPREL (PLT slots), DT_RELA */
	size_t n_rel[2];
	const Elf64_Sym *syms;
	const char *strs;
	const Elf64_Half *versym;     /* DT_VERSYM, or NULL */
	const Elf64_Verneed *verneed; /* DT_VERNEED, or NULL */
	size_t n_verneed;
	uintptr_t relro_lo, relro_hi; /* read-only after start-up */
};
typedef int (*ctr_got_fn)(const struct ctr_got *g, void *arg);
typedef int (*ctr_got_reloc_fn)(const struct ctr_got *g, uint32_t si, const char *name,
				uintptr_t slot, void *arg);
/* Calls @fn for every loaded object but the preload itself and ld.so, until it returns
 * non-zero (that value is returned). Takes the loader's lock (dl_iterate_phdr): not from a
 * signal handler. */
int ctr_got_each(ctr_got_fn fn, void *arg);
/* Calls @fn for each JUMP_SLOT (and unless @plt_only, GLOB_DAT) relocation of a named symbol
 * of @g with its symbol index, name and slot address, until it returns non-zero. */
int ctr_got_relocs(const struct ctr_got *g, int plt_only, ctr_got_reloc_fn fn, void *arg);
/* Stores @target into GOT slot @slot of @g atomically, opening RELRO around the store. */
void ctr_got_set(const struct ctr_got *g, uintptr_t slot, void *target);
/* The version (e.g. "GLIBC_2.14") symbol @si of @g is bound to, or NULL when unversioned. */
const char *ctr_got_version(const struct ctr_got *g, uint32_t si);

/* The address range [*@lo, *@hi) of a loaded object's PT_LOAD segments (*@lo > *@hi: none). */
static inline void ctr_obj_range(const struct dl_phdr_info *info, uintptr_t *lo, uintptr_t *hi)
{
	*lo = UINTPTR_MAX;
	*hi = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD)
			continue;
		if (info->dlpi_addr + ph->p_vaddr < *lo)
			*lo = info->dlpi_addr + ph->p_vaddr;
		if (info->dlpi_addr + ph->p_vaddr + ph->p_memsz > *hi)
			*hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
	}
}

/* patch.c, while attached: dlopen and dlsym slots through attach.c's entries (@on) or back on
 * glibc's; and, after the loader added objects, their hook and dl slots patched. */
void ctr_attach_route_dl(int on);
void ctr_attach_repatch(void);
/* proc.c: ctr_dlopen_prepare()'s pending look for new objects, taken now by a dlopen() that
 * returned or a dlsym() (attach.c; not inside the preload). */
void *ctr_dlopen_prepare(void);
void ctr_dl_after(void);
/* proc.c: before an attach's end, with the other threads running: objects loaded since the
 * last look into the module map (ctr_proc_stop() then does not look). */
void ctr_proc_quiesce(void);

/* libcalls.c: --libcalls trampolines */
int ctr_libcalls_init(const char *globs); /* CTRACE_LIBCALLS at start-up: 0 or -1 */
/* Points the chosen PLT slots of instrumented objects not yet seen at trampolines and writes
 * an S line per new trampoline to @maps_fd (every one when @fresh: a new maps file). Called
 * at start-up, in a fork child, and with the module lock held after dlopen and dlclose; never
 * at exit (it takes the loader's locks). */
void ctr_libcalls_scan(int maps_fd, int fresh);
/* A catch begins at stack address @sp: library calls deeper than it were unwound, the ones
 * above it get their return trampolines back (exceptions take them out, see libcalls.c). */
void ctr_libcalls_catch(uintptr_t sp);
/* The recorder's enter hook with an explicit frame address (hooks.c). HOT: signal-safe. */
void ctr_hook_enter_at(uintptr_t fn, uintptr_t sp);

/* proc.c */
void ctr_kick_threads(void);
void ctr_go_dormant(struct ctr_thr *t, uint64_t now);
void ctr_flush_all(void);

struct ctr_frame {
	uintptr_t fn;
	uintptr_t sp; /* address of the hook's return-address slot: orders frames */
};

#define CTR_PEND_INIT 1024    /* dropped-call counts pending per thread, at first */
#define CTR_PEND_LIMIT 65536  /* and at most (the array doubles when merging frees little) */
#define CTR_PEND_HINT_BITS 12 /* pend_hint has 1 << this many slots */
#define CTR_PEND_HINTS (1u << CTR_PEND_HINT_BITS)

struct ctr_thr {
	int gate;		 /* enum ctr_gate */
	uint32_t depth;		 /* open frames (may exceed cap: deeper ones are not kept) */
	uint32_t cap;		 /* frames the stack can hold */
	uint32_t mapped;	 /* frames mapped for stack (and aux): cap is at most that */
	uint32_t *pos;		 /* next word to write */
	uint32_t *end;		 /* fast-path limit: window end minus slack */
	uint64_t last;		 /* time of the previous event */
	struct ctr_frame *stack; /* shadow stack (mmap'd) */
	uintptr_t *slots;	 /* CTR_NSLOTS function addresses, bit 63 set for an excluded
				  * function (mmap'd) */
	/* --- slow path only below --- */
	uint32_t *win;	  /* current window */
	uint64_t win_off; /* file offset of the window */
	uint64_t win_size;
	struct ctr_fd file; /* the thread's event file: use ctr_thread_fd() */
	int32_t tid;
	uint64_t lost;		 /* events lost in this thread */
	uint64_t lost_pending;	 /* lost since the last LOST record */
	uint32_t lost_depth0;	 /* depth when loss began */
	uint32_t lost_min_depth; /* lowest depth while losing */
	uint64_t events;	 /* events written (for the header) */
	uint32_t retry;		 /* events until the next window retry while losing */
	int dormant;		 /* gate is OFF because tracing is switched off */
	void *altstack;
	struct ctr_thr *next;	  /* registry */
	struct ctr_aux *aux;	  /* per frame, with a drop policy (mmap'd like stack) */
	uint32_t *scount;	  /* per slot call counter for --sample (mmap'd) */
	struct ctr_pending *pend; /* dropped calls not yet written as COUNT records */
	uint32_t n_pend, pend_cap;
	uint32_t pend_skip;  /* full, merging freed little and it cannot grow: misses to go
			      * before merging is tried again (their calls are kept) */
	uint32_t *pend_hint; /* function -> its newest entry in pend, a guess (mapped with it,
			      * before it: pend == (void *)(pend_hint + CTR_PEND_HINTS)) */
	uint32_t dl_checks;  /* a dlopen was called: slow paths look for new objects */
	unsigned long long dl_adds; /* the loader's count of additions at the last look */
	uint64_t tracer;	    /* ticks spent in slow paths, not yet written as TRACER */
	int vfork_gate;		    /* the gate before vfork() (CTR_G_VFORK) */
	uint32_t hidden[CTR_HIDDEN_KINDS]; /* unrecorded hook pairs, not yet written */
	struct ctr_ring_hdr *ring; /* shared ring (ring.c), or NULL: windows of the event file */
	uint32_t *ring_data;	   /* its data area; win points into it */
	uint64_t ring_touched;	   /* stream offset up to which the ring's pages are faulted in */
	int ring_stalled;	   /* waited in vain for the drainer: do not wait again */
	int32_t ring_frame_adj;	   /* frames the stream has open beyond t->depth while an event
				    * that changes it is being written (a chunk begins there) */
	struct {
		uint32_t depth; /* of a --trigger-slower frame (tagged WATCH on the stack) */
		uint64_t t0;
	} watch[16];
	uint32_t n_watch;
	uint32_t *enter_at; /* where write_enter() put its ENTER word */
	uint32_t *jmp_pos;  /* a point of the current window where the stream had jmp_depth */
	uint32_t jmp_depth; /* frames open (set after each slow-path event: a jump out of an
			     * interrupted hook counts the stream's frames from there) */
	uint32_t *merge;    /* == pos when the word before pos may absorb the next exit: an ENTER
			     * (into a LEAF) or a single EXIT (into an EXIT2); else NULL. Set
			     * only by enter and exit writers; every other writer and every
			     * take-back clears it (merge_off()) */
};

/* Per-frame state for the drop policy: how to take the frame's ENTER back. */
struct ctr_aux {
	uint32_t *pos_before; /* where the ENTER and its TIME/DEFINE begin; NULL: kept always */
	uint64_t last_before;
	uintptr_t old_slot; /* the slot's previous function (DEFINE taken back too) */
	uint64_t t0;
	uint8_t keep;	     /* sampled: keep whatever its duration */
	uint8_t enter_off;   /* words from pos_before to the ENTER (its TIME, DEFINE) */
	uint32_t pend_start; /* n_pend when the frame opened: pend[pend_start..] are the
			      * counts of calls dropped inside it (or inside its dropped
			      * children: they become its own by closing) */
};

/* Calls of @fn dropped by the policy; an entry belongs to the innermost open frame whose
 * pend_start is at or below its index, and is written as a COUNT record just before that
 * frame's EXIT, where it is innermost. One function may have several entries in a frame. */
struct ctr_pending {
	uintptr_t fn;
	uint64_t count;
};

/* Process-wide state, set up by the constructor in proc.c. */
struct ctr_proc {
	int enabled; /* 0: the whole preload is inert */
	int use_tsc;
	int fast;	   /* TSC and no drop policy: the fast paths apply */
	int dormant_start; /* started with CTRACE_START=off: threads begin with a capture */
	int attached;	   /* loaded by `ctrace attach`: no handler, no env change, no log */
	int starting;	   /* threads inside ctr_thread_start() (not registered yet) */
	uint64_t ticks_per_sec;
	struct ctr_fd dir; /* run directory: use ctr_dir_fd() */
	int ready;	   /* the constructor has run */
	pid_t pid;
	pid_t ppid;
	uint32_t gen;
	uint64_t window_max; /* largest window, bytes */
	uint64_t window_min;
	uint64_t fsize_limit; /* RLIMIT_FSIZE at start (RLIM_INFINITY = UINT64_MAX) */
	uint64_t ring_size;   /* bytes of each thread's shared ring (CTRACE_DRAIN), 0: none */
	int flight;	      /* the rings are a flight recorder: reused, never drained */
	int log_level;
	int logfd;
	char run_dir[4096];
};

extern struct ctr_proc ctr_proc;
extern __thread struct ctr_thr ctr_tls;

/* guard.c: descriptors kept out of the program's way, and the environment read without
 * getenv()/setenv() (the program may define them). All signal-safe but ctr_setenv(). */
/* Moves @fd to a high number (F_DUPFD_CLOEXEC) and records its identity in @g; returns the
 * descriptor or -1 (then @fd is closed). */
int ctr_fd_hold(struct ctr_fd *g, int fd);
/* @g's descriptor when it still is the file it was opened on, else -1 (forgotten, not closed). */
int ctr_fd_check(struct ctr_fd *g);
/* 1 when @fd is the file @g was opened on. */
int ctr_fd_same(const struct ctr_fd *g, int fd);
/* Adopts @fd, just reopened by name, if it is the same file as before; else closes it, -1. */
int ctr_fd_reopen(struct ctr_fd *g, int fd);
/* Closes @g's descriptor only when it is still ours. */
void ctr_fd_close(struct ctr_fd *g);
const char *ctr_getenv(const char *name);
int ctr_setenv(const char *name, const char *val); /* for main() and exec: never frees */

/*
 * The program's cancellation kept out of the preload's slow paths (thread start and end,
 * window mapping, logging, snapshots): their system calls are cancellation points, and a
 * pending pthread_cancel must fire where it would have without the preload, not inside a
 * hook; an asynchronous cancel must not unwind a thread out of a half-done slow path.
 * ctr_nocancel_begin() disables cancellation and makes its type deferred, and
 * ctr_nocancel_end() restores both (with asynchronous cancellation, a request that came
 * meanwhile then acts, as it would have). Userspace only in glibc: no system call. Nestable.
 */
struct ctr_nocancel {
	int on, state, type;
};

static inline __attribute__((always_inline)) void ctr_nocancel_begin(struct ctr_nocancel *c)
{
	/* a TLS shared with raw clone children (CTR_G_SHARED) is one pthread's cancellation
	 * state for several kernel threads: left alone, never saved and restored across them */
	c->on = *(volatile int *)&ctr_tls.gate != CTR_G_SHARED;
	if (!c->on)
		return;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &c->state);
	pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, &c->type);
}

static inline __attribute__((always_inline)) void ctr_nocancel_end(const struct ctr_nocancel *c)
{
	if (!c->on)
		return;
	pthread_setcancelstate(c->state, NULL); /* deferred still: acts on nothing */
	/* asynchronous: a request that came meanwhile acts now, through pthread_testcancel()
	 * (glibc's setcancelstate/setcanceltype would end the thread without PTHREAD_CANCELED) */
	if (c->type == PTHREAD_CANCEL_ASYNCHRONOUS && c->state == PTHREAD_CANCEL_ENABLE)
		pthread_testcancel();
	pthread_setcanceltype(c->type, NULL);
}

/* thread.c: thread start and end helpers (slow path) */
/* A pthread's end (its key destructor: return, pthread_exit, pthread_cancel): the frames it
 * still has open close now, then ctr_thread_finish(). */
void ctr_thread_end(struct ctr_thr *t);
/* clone(CLONE_VM) without CLONE_SETTLS: the child runs on the caller's TLS, so it gets a
 * recorder state of its own, and the TLS's gate goes CTR_G_SHARED until the last such child
 * has ended. Called by the clone() wrapper with the real clone; returns what it returns. */
typedef int (*ctr_clone_fn)(int (*)(void *), void *, int, void *, ...);
int ctr_shared_clone(ctr_clone_fn real, int (*fn)(void *), void *stack, int flags, void *arg,
		     void *ptid, void *tls, void *ctid);
/* Under CTR_G_SHARED: the calling kernel thread's state (a system call: gettid), or &ctr_tls
 * once no child shares it any more (the TLS owner's state moved back), or NULL for a kernel
 * thread the preload did not start. Signal-safe. */
struct ctr_thr *ctr_shared_self(void);
/* Moves the TLS owner's state back into ctr_tls, children or not (its thread ends). */
void ctr_shared_unshare(void);

/* hooks.c */
uint64_t ctr_now(void);
uint64_t ctr_mono_ns(void);				/* CLOCK_MONOTONIC in ns; signal-safe */
void ctr_thread_start(struct ctr_thr *t);		/* slow: opens the thread's event file */
void ctr_thread_finish(struct ctr_thr *t);		/* slow: closes it (thread exit) */
void ctr_thread_forget(struct ctr_thr *t);		/* fork child: drop the parent's mapping */
void ctr_write_inherit(struct ctr_thr *t);		/* INHERIT records for the open frames */
void ctr_unwind_to_sp(struct ctr_thr *t, uintptr_t sp); /* close frames deeper than sp */
/* The recorder's measured costs (ctr_calibrate()). */
struct ctr_overhead {
	double inner_ns, call_ns;
	double hidden_ns[CTR_HIDDEN_KINDS];
	double slow_ns;	   /* extra of a recorded call whose two events both take the slow path */
	double dropped_ns; /* a call the drop policy took back and counted (0: no policy) */
};
int ctr_calibrate(struct ctr_overhead *o);

/* ring.c: shared rings drained by `ctrace record` (CTRACE_DRAIN); all slow path. */
int ctr_ring_open(struct ctr_thr *t); /* creates and maps the thread's ring; 0 or -1 */
/* Makes the chunk at stream offset @off the thread's window (publishing everything before it),
 * waiting a bounded time for the drainer; 0, or -1 with errno (ENOBUFS full, EFBIG stopped). */
int ctr_ring_take(struct ctr_thr *t, uint64_t off);
void ctr_ring_close(struct ctr_thr *t, uint64_t end, uint32_t flags); /* thread end: final */
/* Flight recorder: makes the chunk just taken self-contained (TIME, FRAME records, slots to be
 * DEFINEd again); the window and pos are set. */
void ctr_ring_chunk_begin(struct ctr_thr *t);
/* Asks the recorder for a snapshot (creates s-PID-TID-SEQ.REASON in the run directory);
 * signal-safe. Returns the request's number, 0 when it could not be made. */
uint32_t ctr_request_snapshot(struct ctr_thr *t, const char *reason);
void ctr_ring_forget(struct ctr_thr *t); /* fork child: unmap the parent's ring, untouched */

/* patch.c: the hook slots of every loaded object (but the preload and ld.so). */
void ctr_patch_restore(void); /* back to glibc's no-op hooks (ctrace detach) */

/* attach.c: `ctrace attach` (docs/attach.md). */
int ctr_attach_pending(void); /* the constructor runs inside a `ctrace attach` injection */
/* The attach configuration's value of @name (CTRACE_* lines of the injected text) while an
 * attach is being set up or recording; *@found tells whether it answers at all. */
const char *ctr_attach_env(const char *name, int *found);
/* ctr_capture_stack() for an attached process, with libgcc's unwinder: libunwind keeps a pipe
 * open once it has run, which an attach must not leave in the program. */
void ctr_attach_capture(struct ctr_thr *t, int include_first);

/* proc.c */
int ctr_proc_start(int attached); /* the constructor's work; 0 when recording */
void ctr_proc_stop(void);	  /* attach window end: every thread closed, files closed */
int ctr_threads_busy(void);	  /* some thread is inside a slow path of the preload */
void ctr_register_thread(struct ctr_thr *t);
void ctr_unregister_thread(struct ctr_thr *t);
int ctr_open_thread_file(struct ctr_thr *t);
int ctr_open_ring_file(struct ctr_thr *t);    /* r-PID-GEN-TID.ring, created: fd or -1 */
void ctr_unlink_ring_file(struct ctr_thr *t); /* after a failed ctr_ring_open() */
int ctr_thread_fd(struct ctr_thr *t);	      /* verified (reopened if needed) event file, or -1 */
int ctr_dir_fd(void); /* verified (reopened if needed) run directory, or -1 */
int ctr_foreign(void);
void ctr_dl_refresh(struct ctr_thr *t);
/* slow path after a dlopen: new objects mapped */ /* 1 in a vfork child (or a clone the preload
						      did not see): hands off */
void ctr_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctr_lost_global(uint64_t n);

#define CTR_LOG_ERROR 0
#define CTR_LOG_WARN 1
#define CTR_LOG_INFO 2
#define CTR_LOG_DEBUG 3

/* hooks.c: the stream writer's slow-path helpers, shared with thread.c, api.c, calibrate.c */
int ctr_map_window(struct ctr_thr *t, uint64_t off, uint64_t size); /* 0 or -1 */
int ctr_reserve(struct ctr_thr *t, uint32_t n); /* room for n words; 0 or -1 (now losing) */
void ctr_enter_lost_mode(struct ctr_thr *t);
void ctr_push_frame(struct ctr_thr *t, uintptr_t fn, uintptr_t sp);
uint32_t ctr_pop_for_exit(struct ctr_thr *t, uintptr_t fn); /* frames closed, 0: none */
void ctr_write_exit(struct ctr_thr *t, uint32_t closes, uint64_t now);
int ctr_pend_map(struct ctr_thr *t, uint32_t cap);
void ctr_flush_pending(struct ctr_thr *t, uint32_t depth);
/* Closes @n frames in the stream at @now (an UNWIND record, no EXIT). 0, or -1 (no room). */
int ctr_put_unwind(struct ctr_thr *t, uint32_t n, uint64_t now);

/* ---- inline helpers of the hot path, shared by the files split from hooks.c ------------ */

#define SLACK_WORDS 64u		    /* words kept free at a window's end for a slow-path event */
#define STACK_INIT 4096u	    /* shadow-stack frames mapped at a thread's start */
#define ALTSTACK_SIZE (64u * 1024u) /* the alternate signal stack the preload installs */

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* HOT: signal-safe, no alloc */
static inline __attribute__((always_inline)) uint64_t now_ticks(void)
{
	return likely(ctr_proc.use_tsc) ? rdtsc() : ctr_mono_ns();
}

static inline uint32_t *put_u64(uint32_t *p, uint32_t kind, uint32_t arg, uint64_t v)
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
 * of a hook that a signal interrupted later counts them from (reopen_after_jump()). A handler
 * may interrupt this too: the pair is never seen half written (a position with the depth of
 * another one was a frame miscounted at 1 jump in 2000), the position is NULL meanwhile, and
 * a jump then keeps t->depth, which is the stream's here. */
static inline void jump_mark(struct ctr_thr *t)
{
	uint32_t *pos = t->pos, depth = t->depth;

	if (t->merge == pos && pos) { /* the word before may still become a LEAF or EXIT2 */
		pos--;
		depth += CTR_W2_TAG(*pos) == CTR_W2_T_ENTER ? -1u : 1u;
	}
	t->jmp_pos = NULL;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	t->jmp_depth = depth;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	t->jmp_pos = pos;
}

/* The thread has somewhere to write: its event file, or its shared ring. */
static inline int has_stream(const struct ctr_thr *t)
{
	return t->file.held || t->ring;
}

/* A slot holding an excluded function (--exclude, --module) is tagged with bit 63, which no
 * user address has (hooks.c tags --filter roots on the shadow stack the same way). */
#define EXCL_TAG ((uintptr_t)1 << 63)

/* t->pend and its hints, mapped together */
#define PEND_BYTES(cap) (CTR_PEND_HINTS * sizeof(uint32_t) + (cap) * sizeof(struct ctr_pending))

/* Private anonymous memory, never backed by swap reservations; NULL on failure. */
static inline void *map_anon(size_t size)
{
	void *m = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return m == MAP_FAILED ? NULL : m;
}

/* pending.c: the drop policy's pending counts (the common case's probe is inline, hooks.c) */
int ctr_pend_add_slow(struct ctr_thr *t, uintptr_t fn); /* 0, or -1: keep the call */
uint32_t ctr_close_counted(struct ctr_thr *t, uint32_t k, uint64_t now);
void ctr_write_count(struct ctr_thr *t, uintptr_t fn, uint32_t count); /* hooks.c */

/*
 * Dropped calls wait in t->pend until their owner's EXIT. An entry's owner is implicit: the
 * innermost open frame whose aux.pend_start is at or below its index. Frames open at
 * increasing pend_start and entries only leave from the tail, so the counts of the frames at
 * depth >= D are always the tail from pend_tail(D), and a dropped frame's own counts become
 * its parent's by its closing alone, with nothing moved. A direct-mapped hint finds the
 * innermost frame's entry of a function; a miss appends another entry for it, and compact()
 * merges such repeats when the array is full. Every operation is O(1) amortized.
 */
static inline uint32_t pend_tail(const struct ctr_thr *t, uint32_t depth)
{
	uint32_t s;

	if (depth == 0)
		return 0;
	if (depth > t->cap || !t->aux)
		return t->n_pend; /* frames beyond the stack never own counts */
	s = t->aux[depth - 1].pend_start;
	return s < t->n_pend ? s : t->n_pend;
}

/* The hint slot of @fn (a multiplicative hash of its address). */
static inline uint32_t pend_hint_of(uintptr_t fn)
{
	return (uint32_t)(((uint64_t)(fn >> 4) * 0x9E3779B97F4A7C15ull) >>
			  (64 - CTR_PEND_HINT_BITS));
}

/* Blocks the asynchronous signals (never SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP: a fault
 * must still reach its handler) around a switch of pointers that a handler jumping out of it
 * (siglongjmp) would find half done; unblock_async() restores the mask and keeps errno. */
static inline void block_async(sigset_t *old)
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

static inline void unblock_async(const sigset_t *old)
{
	int saved = errno;

	pthread_sigmask(SIG_SETMASK, old, NULL);
	errno = saved;
}

#endif
