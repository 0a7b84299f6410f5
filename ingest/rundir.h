/* SPDX-License-Identifier: MIT */
/*
 * Reader of raw run directories (docs/format.md): run.meta, per-process p-PID-GEN.meta /
 * .maps / .crash, and the per-thread event files, validated. Used by commit and dump.
 */
#ifndef CTR_RUNDIR_H
#define CTR_RUNDIR_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "../common/format.h"
#include "../store/store.h"

struct ctr_rawmod {
	uint64_t bias, start, end;
	char *build_id; /* "" if none */
	char *path;
};

struct ctr_rawproc {
	int32_t pid, ppid;
	uint32_t gen;
	char *exe, *command, *clock;
	uint64_t ticks_per_sec, start_ticks, end_ticks;
	int64_t start_real_ns, end_real_ns;
	int exit_status; /* -1 unknown */
	int signal, crashed;
	uint64_t lost;
	double overhead_inner_ns, overhead_call_ns;
	char *backtrace; /* raw crash file text, NULL if none */
	struct ctr_rawmod *mods;
	size_t n_mods;
};

struct ctr_rawthread {
	int32_t pid, tid;
	uint32_t gen;
	size_t proc; /* index in run->procs */
	char *path;
	uint64_t file_size;
};

struct ctr_rawrun {
	char *dir;
	char id[CTR_RUN_ID_MAX];
	int32_t root_pid;
	char *command, *host, *cwd;
	int64_t start_real_ns, end_real_ns;
	int exit_status, signal; /* from `ctrace record` (-1 / 0 when it did not say) */
	struct ctr_kv *meta;
	size_t n_meta;
	struct ctr_rawproc *procs;
	size_t n_procs;
	struct ctr_rawthread *threads;
	size_t n_threads;
};

/* Reads only the run id of run directory @dir (from run.meta) into @id. */
int ctr_rawrun_id(const char *dir, char id[CTR_RUN_ID_MAX], struct ctr_err *e);

/* Reads the metadata of run directory @dir (events are not read). Caller frees. */
int ctr_rawrun_open(const char *dir, struct ctr_rawrun **out, struct ctr_err *e);
void ctr_rawrun_free(struct ctr_rawrun *r); /* accepts NULL */

/* Maps thread @t's event file read-only and validates its header: *@words / *@size is the
 * event data (to the recorded end, or the whole file for an unclosed one). Unmap with
 * ctr_rawthread_unmap(*@map, *@map_size). */
int ctr_rawthread_map(const struct ctr_rawthread *t, struct ctr_ev_hdr *hdr, const void **words,
		      size_t *size, void **map, size_t *map_size, struct ctr_err *e);
void ctr_rawthread_unmap(void *map, size_t map_size);

/* Parses one "key=value" meta line in place (unescaping \n and \\); 0 or -1 if not one. */
int ctr_meta_line(char *line, char **key, char **val);

#endif
