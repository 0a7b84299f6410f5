/* SPDX-License-Identifier: MIT */
/*
 * ctrace commit: turns a raw run directory (docs/format.md) into a symbolized run in a trace
 * store: decodes every thread, rebuilds the calling-context tree, symbolizes with libdw,
 * re-encodes the timeline, and saves it all in one store transaction.
 */
#ifndef CTR_COMMIT_H
#define CTR_COMMIT_H

#include "../../store/store.h"

struct ctr_commit_opts {
	int keep;		   /* keep the raw directory after committing */
	int progress;		   /* progress on stderr (when it is a TTY) */
	int raw_times;		   /* do not compensate times for tracer overhead */
	int allow_foreign_owner;   /* commit a run directory owned by another user (not root) */
	int cut_running;	   /* the recorder saw the program end (ctrace record): a process
				    * still running (a daemon) is cut at commit and named in the
				    * run's running_at_commit metadata, not refused */
	int keep_preempted;	   /* --sched: keep calls more than half preempted or stalled by
				    * the recorder in min/max/percentiles (docs/report.md) */
	const struct ctr_kv *meta; /* extra user metadata */
	size_t n_meta;
};

/* Commits @run_dir into @s and writes its run id into @id. A run already in the store is not
 * saved again (returns 0, raw directory removed unless keep), also when another process saved
 * it while this one was decoding. The raw directory is removed only after the store transaction
 * committed. The directory is opened once without following a symlink and every file is read
 * and removed through it; one owned by another user than the caller or root is refused
 * (CTR_EIO, errno EPERM) unless allow_foreign_owner. A run with a process still writing it
 * (ctr_rawproc_running()) is refused with CTR_EEXIST (errno EBUSY) and left untouched,
 * unless cut_running. */
int ctr_commit_dir(struct ctr_store *s, const char *run_dir, const struct ctr_commit_opts *o,
		   char id[CTR_RUN_ID_MAX], struct ctr_err *e);

/* Removes a raw run directory and its files; 0 or -1 (errno set). The _at form removes the
 * directory open as @dfd (named @dir): files through @dfd, the directory itself only if @dir
 * still names it (not a symlink or another directory swapped in meanwhile). */
int ctr_remove_run_dir(const char *dir);
int ctr_remove_run_dir_at(int dfd, const char *dir);

/* 1 if @dir looks like a raw run directory (has run.meta). */
int ctr_is_run_dir(const char *dir);

#endif
