/* SPDX-License-Identifier: MIT */
/*
 * Private declarations of the preload (libctrace.so): the per-thread recorder state, the
 * process-wide run state, and the functions hooks.c and proc.c share. Nothing here allocates
 * with malloc or takes a lock on the hot path.
 */
#ifndef CTR_PRELOAD_INT_H
#define CTR_PRELOAD_INT_H

#include <stdint.h>
#include <sys/types.h>

#include "../common/format.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define CTR_EXPORT __attribute__((visibility("default")))
#define CTR_NOINSTR __attribute__((no_instrument_function))

/* Gate values: the hot path runs only when the gate is 0. */
enum ctr_gate {
	CTR_G_OPEN = 0,
	CTR_G_UNINIT = 1,   /* thread not set up yet */
	CTR_G_BUSY = 2,     /* inside a hook: nested events (signal handlers) are counted lost */
	CTR_G_OFF = 3,      /* recording disabled for this thread (failure, dormant, finished) */
	CTR_G_LOST = 4,     /* no room on disk: events counted as lost until a retry succeeds */
	CTR_G_MONO = 5,     /* open, but without a usable TSC: every event takes the slow path */
};

/* The gate value of a recording thread: CTR_G_OPEN with the TSC, else CTR_G_MONO. */
#define CTR_GATE_ON (ctr_proc.use_tsc ? CTR_G_OPEN : CTR_G_MONO)
#define CTR_GATE_IS_ON(g) ((g) == CTR_G_OPEN || (g) == CTR_G_MONO)

struct ctr_frame {
	uintptr_t fn;
	uintptr_t sp;       /* address of the hook's return-address slot: orders frames */
};

struct ctr_thr {
	int gate;                 /* enum ctr_gate */
	uint32_t depth;           /* open frames (may exceed cap: deeper ones are not kept) */
	uint32_t cap;             /* frames the stack can hold */
	uint32_t *pos;            /* next word to write */
	uint32_t *end;            /* fast-path limit: window end minus slack */
	uint64_t last;            /* time of the previous event */
	struct ctr_frame *stack;  /* shadow stack (mmap'd) */
	uintptr_t *slots;         /* CTR_NSLOTS function addresses (mmap'd) */
	/* --- slow path only below --- */
	uint32_t *win;            /* current window */
	uint64_t win_off;         /* file offset of the window */
	uint64_t win_size;
	int fd;
	int32_t tid;
	uint64_t lost;            /* events lost in this thread */
	uint64_t lost_pending;    /* lost since the last LOST record */
	uint32_t lost_depth0;     /* depth when loss began */
	uint32_t lost_min_depth;  /* lowest depth while losing */
	uint64_t events;          /* events written (for the header) */
	uint32_t retry;           /* events until the next window retry while losing */
	int dormant;              /* gate is OFF because tracing is switched off */
	void *altstack;
	struct ctr_thr *next;     /* registry */
};

/* Process-wide state, set up by the constructor in proc.c. */
struct ctr_proc {
	int enabled;              /* 0: the whole preload is inert */
	int use_tsc;
	uint64_t ticks_per_sec;
	int dirfd;                /* run directory */
	pid_t pid;
	pid_t ppid;
	uint32_t gen;
	uint64_t window_max;      /* largest window, bytes */
	uint64_t window_min;
	uint64_t fsize_limit;     /* RLIMIT_FSIZE at start (RLIM_INFINITY = UINT64_MAX) */
	int log_level;
	int logfd;
	char run_dir[4096];
};

extern struct ctr_proc ctr_proc;
extern __thread struct ctr_thr ctr_tls;

/* hooks.c */
uint64_t ctr_now(void);
void ctr_thread_start(struct ctr_thr *t);        /* slow: opens the thread's event file */
void ctr_thread_finish(struct ctr_thr *t);       /* slow: closes it (thread exit) */
void ctr_thread_forget(struct ctr_thr *t);       /* fork child: drop the parent's mapping */
void ctr_write_inherit(struct ctr_thr *t);       /* INHERIT records for the open frames */
void ctr_unwind_to_sp(struct ctr_thr *t, uintptr_t sp); /* close frames deeper than sp */
int ctr_calibrate(double *inner_ns, double *call_ns);

/* proc.c */
void ctr_register_thread(struct ctr_thr *t);
void ctr_unregister_thread(struct ctr_thr *t);
int ctr_open_thread_file(int32_t tid, int *fd);
void ctr_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctr_lost_global(uint64_t n);

#define CTR_LOG_ERROR 0
#define CTR_LOG_WARN 1
#define CTR_LOG_INFO 2
#define CTR_LOG_DEBUG 3

#endif
