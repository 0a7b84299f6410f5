/* SPDX-License-Identifier: MIT */
/*
 * Off-CPU time (`ctrace record --sched`, docs/recording.md "Off-CPU time"). The recorder opens
 * one perf software event per CPU on the program (inherited by its threads and children,
 * enabled at its exec) that reports every context switch of its threads; it copies their
 * switch-out / switch-in records into the run directory's sched.raw (docs/format.md), and
 * `ctrace commit` turns each thread's gaps into the off-CPU time of the calls open meanwhile.
 * Nothing runs inside the traced process.
 */
#ifndef CTR_SCHED_H
#define CTR_SCHED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../../common/err.h"

/* sched.raw: a 64-byte header, then fixed 24-byte records, all little-endian. */
#define CTR_SCHED_MAGIC "CTRSCHED" /* 8 bytes */
#define CTR_SCHED_VERSION 1
#define CTR_SCHED_HDR_SIZE 64
#define CTR_SCHED_REC_SIZE 24
#define CTR_SCHED_FILE "sched.raw"

enum ctr_sched_kind {
	CTR_SCHED_IN = 1,      /* the thread got a CPU again */
	CTR_SCHED_OUT = 2,     /* it left the CPU on its own: blocked, slept, yielded */
	CTR_SCHED_PREEMPT = 3, /* it was preempted while runnable (involuntary) */
};

/* One switch of one thread; time in CLOCK_MONOTONIC ns. */
struct ctr_sched_rec {
	uint64_t time_ns;
	int32_t pid, tid;
	uint32_t cpu;
	uint32_t kind; /* enum ctr_sched_kind */
};

/* ---- recording (ctrace record) ---- */

struct ctr_sched;

/* Opens one context-switch event per CPU on process @pid (not yet exec'd: the events start
 * at its exec and follow its threads and children) and creates @dir/sched.raw. CTR_EPERM
 * (errno EACCES/EPERM) when perf_event_paranoid or missing CAP_PERFMON forbids it, CTR_EIO
 * otherwise; then nothing is left behind. Caller closes. */
int ctr_sched_open(const char *dir, pid_t pid, struct ctr_sched **out, struct ctr_err *e);

/* Copies the switches the kernel has reported since the last call into sched.raw. Returns
 * the records copied (>= 0). Never blocks. */
int64_t ctr_sched_drain(struct ctr_sched *s);

/* Drains a last time, patches the header's counts and closes (NULL allowed). *@records and
 * *@lost (either may be NULL) get the switches kept and those the kernel could not report. */
void ctr_sched_close(struct ctr_sched *s, uint64_t *records, uint64_t *lost);

/* ---- reading (ctrace commit) ---- */

/* Reads sched.raw of the run directory @dfd (@dir for messages; a regular file owned by
 * @owner) into *@out, sorted by thread then time (caller frees). CTR_ENOTFOUND when the run has
 * none, CTR_EFORMAT for a file that is not one (bad magic, version, sizes). */
int ctr_sched_load(int dfd, const char *dir, uid_t owner, struct ctr_sched_rec **out, size_t *n,
		   uint64_t *lost, struct ctr_err *e);

/* One thread's off-CPU gaps as a cumulative clock: how long the thread had been off the CPU
 * (and, of that, preempted) at a time of the run. Times are ns since the run's start. */
struct ctr_offcpu {
	const struct ctr_sched_rec *r; /* the thread's records, borrowed */
	size_t n, i;		       /* i: the first switch-out not yet wholly before now */
	size_t g;		       /* ctr_offcpu_gap(): the next record to look at */
	int64_t mono0;		       /* run ns = run0 + (CLOCK_MONOTONIC ns - mono0) * rate */
	double run0, rate;
	uint64_t off, pre; /* accumulated before record i */
};

/* Selects the records of thread @tid of process @pid in @all (as ctr_sched_load() sorts
 * them) for *@o; their CLOCK_MONOTONIC time @mono0 is run time @run0, and a ns of it @rate ns
 * of run time (1, or what the process's two clock anchors say). */
void ctr_offcpu_init(struct ctr_offcpu *o, const struct ctr_sched_rec *all, size_t n, int32_t pid,
		     int32_t tid, int64_t mono0, double run0, double rate);

/* The thread's off-CPU ns (all, and preempted) up to run time @ns; @ns must not decrease
 * between calls. */
void ctr_offcpu_at(struct ctr_offcpu *o, uint64_t ns, uint64_t *off, uint64_t *pre);

/* The thread's next gap that ended by run time @before, for the timeline: 1 with its
 * start, length and kind (*@preempted 1: involuntary), or 0 when there is none (yet). A last
 * switch-out with no switch-in after it (the thread's end) is no gap. */
int ctr_offcpu_gap(struct ctr_offcpu *o, uint64_t before, uint64_t *start, uint64_t *dur,
		   int *preempted);

#endif
