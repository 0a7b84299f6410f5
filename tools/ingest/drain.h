/* SPDX-License-Identifier: MIT */
/*
 * The drainer of shared rings (common/format.h, docs/recording.md "Shared rings"): copies the
 * chunks that recording threads publish in r-*.ring files of a run directory into their
 * t-*.ev event files, byte for byte at the same offsets, zeroes them and hands them back. Run
 * by `ctrace record` while the program runs, and by `ctrace commit` for rings a recorder that
 * died left behind. Single-threaded; one drainer per run directory.
 */
#ifndef CTR_DRAIN_H
#define CTR_DRAIN_H

#include <stdint.h>
#include <sys/types.h>

#include "../../common/err.h"

struct ctr_drain;

struct ctr_drain_stats {
	uint64_t bytes;	      /* bytes copied into event files */
	uint64_t rings;	      /* rings seen */
	uint64_t rings_done;  /* rings drained to their end and removed */
	uint64_t lost_events; /* events in chunks not kept (--max-size, a failed write) */
	uint64_t waits;	      /* times a recording thread found its ring full */
	int over_max;	      /* --max-size was reached */
};

struct ctr_drain_opts {
	/* bounds the bytes kept in all event files together (each thread's 128-byte header
	 * excepted); beyond it threads stop recording and count what they could not keep as
	 * lost. 0: no bound */
	uint64_t max_size;
	/* flight recorder: rings are never drained; ctr_drain_snapshot() copies them */
	int flight;
};

/* Opens the drainer of the run directory @dir (@o NULL: defaults). Caller frees with
 * ctr_drain_close(). */
int ctr_drain_open(const char *dir, const struct ctr_drain_opts *o, struct ctr_drain **out,
		   struct ctr_err *e);

/* Waits up to @timeout_ms for something to do (a new ring or snapshot request appears). */
void ctr_drain_wait(struct ctr_drain *d, int timeout_ms);

/* A snapshot request of a flight-recorder thread (the file s-PID-TID-SEQ.REASON). */
struct ctr_snap_req {
	int32_t pid, tid;
	uint32_t seq;
	char reason[16]; /* ctl, trigger, slower */
};

/* Takes the oldest pending snapshot request (its file is removed): 1, or 0 when none. */
int ctr_drain_next_request(struct ctr_drain *d, struct ctr_snap_req *rq);

/* Tells the thread that made @rq (it may wait for it) that its ring has been copied. */
void ctr_drain_ack(struct ctr_drain *d, const struct ctr_snap_req *rq);

/* Flight recorder: writes the events every ring holds now into event files of the run
 * directory @out_dir (which has its run.meta), as a run of its own: a thread whose first
 * chunk was overwritten starts at its oldest complete chunk, the frames open there turned into
 * inherited frames. Returns the number of threads written or a negative CTR_E* code. */
int ctr_drain_snapshot(struct ctr_drain *d, const char *out_dir, struct ctr_err *e);

/* One pass: copies every published chunk, finishes the rings of threads that ended (header
 * patched, ring removed) and those whose process died or exec'd. With @final the recording is
 * over: every ring is finished, the chunk being written included, and a writer still running
 * is told to stop (it takes no more chunks). With max_size, the chunk that does not fit is
 * kept up to its last whole record that does. A flight recorder's pass
 * only looks for new rings and requests; its final pass removes the rings (take the last
 * snapshot before). Returns the bytes copied
 * (>= 0) or a negative CTR_E* code (an event file that cannot be written is counted as loss,
 * not an error). */
int64_t ctr_drain_pass(struct ctr_drain *d, int final, struct ctr_err *e);

void ctr_drain_get_stats(const struct ctr_drain *d, struct ctr_drain_stats *st);

/* Closes @d (NULL allowed); rings not finished stay in the directory. */
void ctr_drain_close(struct ctr_drain *d);

/* For `ctrace commit`: finishes the rings left in run directory @dir (opened as @dfd, files
 * owned by @owner) by a recorder that is gone (run.meta's drainer_pid no longer exists, or
 * there is none): drained to their end, or, for a flight recorder's (option.ring in run.meta
 * or flight in a ring's header), snapshot into @dir as ctr_drain_snapshot() does, then
 * removed. CTR_EEXIST while that recorder is alive. 0 when nothing was left or all was
 * finished, else a negative CTR_E* code. */
int ctr_drain_leftovers(int dfd, const char *dir, uid_t owner, struct ctr_err *e);

#endif
