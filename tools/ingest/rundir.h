/* SPDX-License-Identifier: MIT */
/*
 * Reader of raw run directories (docs/format.md): run.meta, per-process p-PID-GEN.meta /
 * .maps / .crash, and the per-thread event files, validated. Used by commit and dump.
 */
#ifndef CTR_RUNDIR_H
#define CTR_RUNDIR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "../../common/err.h"
#include "../../common/format.h"
#include "../../store/store.h"

/* Size caps of the text files of a run directory (docs/format.md): a bigger one is refused
 * with CTR_EFORMAT rather than read into memory. */
#define CTR_RUN_META_CAP ((size_t)4 << 20)  /* run.meta, p-PID-GEN.meta */
#define CTR_RUN_MAPS_CAP ((size_t)16 << 20) /* p-PID-GEN.maps */
#define CTR_RUN_CRASH_CAP ((size_t)1 << 20) /* p-PID-GEN.crash */

struct ctr_rawmod {
	uint64_t bias, start, end;
	char *build_id; /* "" if none */
	char *path;
	uint64_t load_ticks;   /* when it was loaded (the T line before its L); 0: at start */
	uint64_t unload_ticks; /* when its U line was written; UINT64_MAX: never unloaded */
};

/* A library-call trampoline of the process (--libcalls): code address -> "SYM@LIB". */
struct ctr_rawlibcall {
	uint64_t addr;
	char *name;
};

struct ctr_rawproc {
	int32_t pid, ppid;
	uint32_t gen;
	char *exe, *command, *clock;
	uint64_t ticks_per_sec, start_ticks, end_ticks;
	int64_t start_real_ns, end_real_ns;
	int64_t start_mono_ns; /* CLOCK_MONOTONIC at start_ticks; 0: not written (older runs) */
	int64_t end_mono_ns;   /* at end_ticks, after a normal exit; else 0 */
	int exit_status;       /* -1 unknown */
	int signal, crashed;
	uint64_t lost;
	double overhead_inner_ns, overhead_call_ns;
	double overhead_hidden_ns[CTR_HIDDEN_KINDS]; /* one unrecorded hook pair, per kind */
	double overhead_slow_ns;    /* two events on the slow path instead of the fast one */
	double overhead_dropped_ns; /* a call the drop policy took back and counted; 0: unknown,
				     * the recorded call's cost stands in */
	char *backtrace;	    /* raw crash file text, NULL if none */
	struct ctr_rawmod *mods;
	size_t n_mods;
	struct ctr_rawlibcall *libcalls; /* "S ADDR NAME" lines of the maps, sorted by address */
	size_t n_libcalls;
};

/* The name of the library call whose trampoline is at @addr in @p, or NULL. */
const char *ctr_rawproc_libcall(const struct ctr_rawproc *p, uint64_t addr);

struct ctr_rawthread {
	int32_t pid, tid;
	uint32_t gen;
	size_t proc; /* index in run->procs */
	char *path;  /* for messages: DIR/NAME */
	char *name;  /* in the run directory */
	int dfd;     /* the run directory, borrowed from the run */
	uid_t uid;   /* the run's owner: the file must be its */
	uint64_t file_size;
};

struct ctr_rawrun {
	char *dir;
	int dfd;   /* the run directory, opened without following a symlink; every file is
		    * opened through it */
	uid_t uid; /* its owner, who must own every file read */
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

/* Opens run directory @dir (trailing slashes ignored) without following a symlink: *@dfd is
 * the directory (caller closes), *@st its status (owner, device, inode). CTR_EIO for a symlink
 * or a non-directory, CTR_ENOTFOUND if missing. */
int ctr_rundir_open(const char *dir, int *dfd, struct stat *st, struct ctr_err *e);

/* Checks that the parent of run directories @parent (ctrace.data) is safe to use: a real
 * directory (not a symlink), owned by the caller or root, and not writable by group or others
 * unless sticky. 0 or CTR_EIO (errno ELOOP / EPERM in the error). */
int ctr_rundir_check_parent(const char *parent, struct ctr_err *e);

/* 1 if @id (@len bytes) is a valid run id: 1..CTR_RUN_ID_MAX-1 bytes of A-Z a-z 0-9 . _ -,
 * not starting with '.' or '-'. */
int ctr_run_id_valid(const char *id, size_t len);

/* Reads only the run id of run directory @dir (from run.meta) into @id. An id that is not
 * valid (ctr_run_id_valid()) is CTR_EFORMAT. The _at form reads through the open directory
 * @dfd, whose files must be owned by @owner. */
int ctr_rawrun_id(const char *dir, char id[CTR_RUN_ID_MAX], struct ctr_err *e);
int ctr_rawrun_id_at(int dfd, const char *dir, uid_t owner, char id[CTR_RUN_ID_MAX],
		     struct ctr_err *e);

/* Reads the metadata of run directory @dir (events are not read). Caller frees. Every file is
 * opened through the directory with O_NOFOLLOW|O_NONBLOCK, must be a regular file owned by
 * the directory's owner (@owner for the _at form, which dups @dfd) and within its size cap,
 * else CTR_EFORMAT; a module map line with start >= end is CTR_EFORMAT. */
int ctr_rawrun_open(const char *dir, struct ctr_rawrun **out, struct ctr_err *e);
int ctr_rawrun_open_at(int dfd, const char *dir, uid_t owner, struct ctr_rawrun **out,
		       struct ctr_err *e);
void ctr_rawrun_free(struct ctr_rawrun *r); /* accepts NULL */

/* 1 if process @i of run @r may still be writing its files: its p-PID-GEN.meta has no end
 * (no exit status, signal or end time), no later generation of it exec'd, and a live process
 * (not a zombie) of that pid has run since before the preload started in it (a pid reused
 * later is not it). 0 when that writer is gone. */
int ctr_rawproc_running(const struct ctr_rawrun *r, size_t i);

/* Maps thread @t's event file read-only and validates its header: *@words / *@size is the
 * event data (to the recorded end, or the whole file for an unclosed one). Unmap with
 * ctr_rawthread_unmap(*@map, *@map_size). */
int ctr_rawthread_map(const struct ctr_rawthread *t, struct ctr_ev_hdr *hdr, const void **words,
		      size_t *size, void **map, size_t *map_size, struct ctr_err *e);
void ctr_rawthread_unmap(void *map, size_t map_size);

/* Parses one "key=value" meta line in place (unescaping \n and \\); 0 or -1 if not one. */
int ctr_meta_line(char *line, char **key, char **val);
/* Reads the whole small file @name of the run directory @dfd (@dir for messages) into a
 * NUL-terminated buffer (caller frees): a regular file owned by @owner, opened without
 * following a symlink or blocking on a FIFO, never more than @cap bytes even if it grows
 * meanwhile. 0, or CTR_ENOTFOUND / CTR_EFORMAT / CTR_EIO / CTR_ENOMEM with @e filled. */
int ctr_rundir_slurp(int dfd, const char *dir, const char *name, uid_t owner, size_t cap,
		     char **out, struct ctr_err *e);
/* Opens file @name of the run directory @dfd (@shown for messages) for reading with the same
 * checks (regular, owned by @owner, at most @cap bytes; 0: no cap): *@fd (caller closes) and
 * its status *@st. 0 or CTR_ENOTFOUND / CTR_EFORMAT / CTR_EIO. */
int ctr_rundir_open_file(int dfd, const char *name, const char *shown, uid_t owner, uint64_t cap,
			 int *fd, struct stat *st, struct ctr_err *e);

/*
 * The module of process @p mapped at @addr at time @ticks (the process's clock): the latest
 * loaded of those whose range holds @addr and that were loaded at @ticks; else the first one
 * loaded after @ticks (a load time is never later than the first call into the object, but a
 * load the preload saw late is timed late); else the last one that held @addr. An index in
 * p->mods, or -1 when no module holds @addr.
 */
long ctr_rawproc_module_at(const struct ctr_rawproc *p, uint64_t addr, uint64_t ticks);

/* The first load or unload time of @p's modules after @ticks (UINT64_MAX: none): up to then,
 * ctr_rawproc_module_at() answers the same for every address. */
uint64_t ctr_rawproc_next_change(const struct ctr_rawproc *p, uint64_t ticks);

#endif
