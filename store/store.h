/* SPDX-License-Identifier: MIT */
/*
 * The trace store: committed, symbolized runs behind one interface. A store is opened from a
 * connection string ("sqlite:PATH", "jsonl:PATH", "memory:") and dispatches to a backend's
 * const ops table. Everything a report or export needs is in struct ctr_run, so views work
 * from the store alone after the raw run directory is gone.
 *
 * Ownership: a struct ctr_run returned by the store is owned by the caller and freed with
 * ctr_run_free(). Strings inside it are owned by the run. Not thread-safe: one handle per thread.
 */
#ifndef CTR_STORE_H
#define CTR_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

#define CTR_NONE UINT32_MAX
#define CTR_RUN_ID_MAX 48

struct ctr_kv {
	char *key;
	char *value;
};

struct ctr_process {
	int32_t pid;
	int32_t ppid;
	uint32_t gen;	 /* exec generation inside the run (0 = first image of this pid) */
	char *exe;	 /* executable path */
	char *command;	 /* argv joined with spaces */
	int exit_status; /* -1 if unknown */
	int signal;	 /* 0 if none */
	int crashed;	 /* died by SIGSEGV/SIGBUS/SIGFPE/SIGILL/SIGABRT */
	char *backtrace; /* crash backtrace text, NULL if none */
};

struct ctr_module {
	uint32_t id; /* index in run->modules */
	char *path;
	char *build_id;	     /* hex, "" if none */
	uint64_t base;	     /* load bias in the process that loaded it */
	int64_t loaded_ns;   /* ns from the run's start to its first load (at a process's start:
			      * that start; 0 for the first process's start-up objects) */
	int64_t unloaded_ns; /* to its last dlclose(); -1: loaded until its process ended */
};

enum ctr_func_kind { CTR_FN_FUNCTION = 0, CTR_FN_SPAN = 1, CTR_FN_MARK = 2 };

struct ctr_function {
	uint32_t id;	    /* index in run->functions */
	uint32_t kind;	    /* enum ctr_func_kind */
	char *name;	    /* demangled display name; "module+0xOFF" when unresolved */
	char *linkage_name; /* mangled/ELF symbol name, "" if unresolved or same as name */
	char *file;	    /* source file, "" if unknown */
	uint32_t line;	    /* 0 if unknown */
	uint32_t module;    /* index in run->modules, CTR_NONE for spans/marks */
	uint64_t offset;    /* address - module base (file-relative), 0 for spans/marks */
	/* Latency of its timed calls over all threads (compensated, see common/hist.h): nearest-
	 * rank percentiles (exact for runs of up to 2^16 timed calls, else within 0.4%) and the
	 * histogram as a ctr_hist_encode() blob (owned; NULL, 0 when the function has no timed
	 * call, e.g. marks, or the run predates them). */
	uint64_t p50_ns, p90_ns, p99_ns, p999_ns;
	unsigned char *hist;
	size_t hist_size;
};

struct ctr_thread {
	uint32_t id; /* index in run->threads */
	int32_t pid;
	int32_t tid;
	char *name;
	uint64_t start_ns; /* relative to run start */
	uint64_t end_ns;
	uint64_t events; /* events recorded */
	uint64_t lost;	 /* events lost */
};

/* A node of the calling-context tree: one call path in one thread. Nodes are ordered so that a
 * parent comes before its children. Times are compensated for ctrace's own cost; raw_* are the
 * measured figures. */
struct ctr_node {
	uint32_t id;	   /* index in run->nodes */
	uint32_t parent;   /* CTR_NONE for a thread's top-level calls */
	uint32_t thread;   /* index in run->threads */
	uint32_t function; /* index in run->functions */
	uint64_t calls;
	uint64_t total_ns, self_ns, min_ns, max_ns;
	uint64_t raw_total_ns, raw_self_ns, raw_min_ns, raw_max_ns;
	/* Latency of the node's timed calls, as in struct ctr_function. */
	uint64_t p50_ns, p90_ns, p99_ns, p999_ns;
	unsigned char *hist;
	size_t hist_size;
	/* Off-CPU time inside the node's calls (`ctrace record --sched`; 0 without it): the
	 * thread was switched out while they were open, children included; of that, preempt_ns
	 * while it was runnable (involuntary), the rest blocked or sleeping. Not compensated: the
	 * on-CPU time is total_ns - offcpu_ns (at least 0). */
	uint64_t offcpu_ns, preempt_ns;
	/* --sched: calls whose wall time was more than half preempted (involuntary off-CPU) or
	 * spent in the recorder (a ring-full wait, a window change): counted in calls, total and
	 * self, but left out of min/max and the percentiles unless committed with
	 * --keep-preempted (run metadata preempted_calls says which), or unless every timed call
	 * of the node was one (then min/max/percentiles are theirs). At most calls. */
	uint64_t preempted_calls;
};

/* An attribute seen on a span node (distinct node/key/value, with how often). */
struct ctr_attr {
	uint32_t node;
	char *key;
	char *value; /* integers are stored in decimal */
	uint64_t count;
};

enum ctr_codec { CTR_CODEC_RAW = 0, CTR_CODEC_ZSTD = 1 };

/* A piece of one thread's timeline: normalized event words (common/format.h; times in ns
 * since run start, DEFINE/INHERIT payloads are function ids), possibly compressed. A thread's
 * chunks concatenated in seq order form its whole stream; each chunk starts with a TIME record
 * and with DEFINE records for the slots it uses, so chunks decode independently. */
struct ctr_chunk {
	uint32_t thread;
	uint32_t seq;
	uint32_t codec;	   /* enum ctr_codec */
	uint64_t raw_size; /* bytes once decompressed */
	uint64_t first_ns; /* time of the first event */
	uint64_t last_ns;  /* time of the last event */
	size_t size;
	unsigned char *data;
};

struct ctr_run {
	char id[CTR_RUN_ID_MAX];
	char *command;
	char *host;
	char *cwd;
	int64_t start_unix_ns; /* wall clock at start */
	uint64_t duration_ns;
	int exit_status; /* of the root process; -1 if unknown */
	int signal;	 /* that killed the root process; 0 if none */
	int crashed;	 /* any process of the run crashed */
	uint64_t events;
	uint64_t lost_events;
	char *clock; /* "tsc" or "monotonic" */
	uint64_t ticks_per_sec;
	double overhead_inner_ns; /* calibration: tracer time inside a call's own interval */
	double overhead_call_ns;  /* calibration: whole tracer cost of one call */

	struct ctr_kv *meta;
	size_t n_meta; /* user metadata and options */
	struct ctr_process *procs;
	size_t n_procs;
	struct ctr_module *modules;
	size_t n_modules;
	struct ctr_function *functions;
	size_t n_functions;
	struct ctr_thread *threads;
	size_t n_threads;
	struct ctr_node *nodes;
	size_t n_nodes;
	struct ctr_attr *attrs;
	size_t n_attrs;
	struct ctr_chunk *chunks;
	size_t n_chunks; /* only with CTR_LOAD_TIMELINE */
};

/* A query. Unset fields are 0/NULL; all set fields must match (AND). */
struct ctr_filter {
	int64_t since_unix_ns;	   /* start >= since; 0 = unset */
	int64_t until_unix_ns;	   /* start <= until; 0 = unset */
	uint64_t min_duration_ns;  /* 0 = unset */
	uint64_t max_duration_ns;  /* 0 = unset */
	const char *command;	   /* substring of the command line */
	const char *function;	   /* function name (display or linkage) in the run: exact or a
				    * glob (fnmatch; SQLite GLOB; PostgreSQL: exact only) */
	const char *host;	   /* exact host name (run->host) */
	const struct ctr_kv *meta; /* key=value pairs that must all be present */
	size_t n_meta;
};

/*
 * A per-run figure of one function, computed by the store for ctr_store_series(). Each value
 * maps to one column expression in every SQL backend (the metric tables of store/sqlite.c and
 * store/pgsql.c) and to one case of ctr_run_metric() for the others; a new metric is a new
 * value here, its name in ctr_metric_name() and those three places.
 */
enum ctr_metric {
	CTR_METRIC_SELF = 0, /* sum of self_ns over the function's calling-context nodes */
	CTR_METRIC_TOTAL,    /* sum of total_ns over its outermost nodes (no ancestor of the same
			      * function), so recursion is not counted twice */
	CTR_METRIC_CALLS,    /* sum of calls */
	CTR_METRIC_P99,	     /* the function's 99th percentile call duration (p99_ns; the
			      * largest when several functions match) */
	CTR_METRIC_COUNT
};

/* One run of a series: the run's header fields and metadata (other arrays empty) and the
 * metric of the function in it. */
struct ctr_series_point {
	struct ctr_run *run;
	double value;
};

struct ctr_store;

/* What load() fills. Without CTR_LOAD_TIMELINE, chunks are not loaded (n_chunks = 0). With
 * CTR_LOAD_TIMELINE | CTR_LOAD_CHUNK_INDEX, a backend that has load_chunk fills only the chunks'
 * headers (data NULL, size = the stored bytes), to be read one at a time with
 * ctr_store_load_chunk(); the others load the data as with CTR_LOAD_TIMELINE alone. */
#define CTR_LOAD_TIMELINE 0x1u
#define CTR_LOAD_CHUNK_INDEX 0x2u

struct ctr_store_ops {
	const char *name; /* "sqlite", "jsonl", "memory", "pgsql" */
	int (*open)(struct ctr_store *s, const char *path, struct ctr_err *e);
	void (*close)(struct ctr_store *s);
	/* Streaming save: begin (CTR_EEXIST if the id is present), any number of chunks, then end
	 * with the complete run (chunks ignored there); nothing is visible before end returns 0;
	 * abort discards. */
	int (*save_begin)(struct ctr_store *s, const struct ctr_run *hdr, struct ctr_err *e);
	int (*save_chunk)(struct ctr_store *s, const struct ctr_chunk *c, struct ctr_err *e);
	int (*save_end)(struct ctr_store *s, const struct ctr_run *run, struct ctr_err *e);
	void (*save_abort)(struct ctr_store *s);
	int (*load)(struct ctr_store *s, const char *id, unsigned what, struct ctr_run **out,
		    struct ctr_err *e);
	/* Runs matching @f (NULL = all), newest first, header fields only (arrays empty). */
	int (*list)(struct ctr_store *s, const struct ctr_filter *f, size_t limit, size_t offset,
		    struct ctr_run ***out, size_t *n, struct ctr_err *e);
	int (*remove)(struct ctr_store *s, const char *id, struct ctr_err *e);
	/* Runs matching @f that have function @fn, oldest first (the reverse of list), each with
	 * its metadata and the metric @m of @fn computed by the backend: one row per run. */
	int (*series)(struct ctr_store *s, const struct ctr_filter *f, const char *fn,
		      enum ctr_metric m, struct ctr_series_point **out, size_t *n,
		      struct ctr_err *e);
	/* Optional: chunk @seq of thread @thread of run @id into *@out, header and data (data
	 * owned by the caller; CTR_ENOTFOUND past the last one), so that a timeline can be read
	 * one chunk at a time (replay, --slowest) or a chunk loaded by CTR_LOAD_CHUNK_INDEX
	 * without its data fetched (serve). NULL in backends that hold a run in one piece. */
	int (*load_chunk)(struct ctr_store *s, const char *id, uint32_t thread, uint32_t seq,
			  struct ctr_chunk *out, struct ctr_err *e);
	/* Optional: only the metadata of run @id into run->meta (n_meta), for list --json.
	 * NULL: ctr_store_load_meta() loads the run. */
	int (*load_meta)(struct ctr_store *s, const char *id, struct ctr_run *run,
			 struct ctr_err *e);
	/* A side record of run @id under @name (the timeline index: "tlindex"), kept with the
	 * run, replaced by a later save of the same name and removed with the run. CTR_ENOTFOUND
	 * for a run that is not there (save) or a record never saved (load: no message). */
	int (*save_aux)(struct ctr_store *s, const char *id, const char *name,
			const unsigned char *data, size_t size, struct ctr_err *e);
	int (*load_aux)(struct ctr_store *s, const char *id, const char *name, unsigned char **data,
			size_t *size, struct ctr_err *e);
};

extern const struct ctr_store_ops ctr_store_sqlite;
extern const struct ctr_store_ops ctr_store_jsonl;
extern const struct ctr_store_ops ctr_store_memory;
extern const struct ctr_store_ops ctr_store_pgsql;

/* The connection string used when none is given: $CTRACE_STORE, else "sqlite:./ctrace.db". */
const char *ctr_store_default(void);

/* ctr_store_open_ex() flags. */
#define CTR_STORE_LINK_OK                                                                          \
	0x1u /* PATH may be a symlink if the caller owns it (a store the user                      \
	      * named explicitly, e.g. --store); else a symlink is refused */

/* Opens a store from "sqlite:PATH", "jsonl:PATH", "memory:" or a libpq URI
 * ("postgresql://..." / "postgres://..."). A bare path means sqlite. CTR_EUSAGE for an unknown
 * scheme. Messages never contain a password. Caller closes. A store file is created mode 0600 (the
 * SQLite -wal/-shm files take its mode), never through a symlink: a PATH that is a symlink is
 * CTR_ESTORE unless @flags has CTR_STORE_LINK_OK and the link belongs to the caller.
 * A SQLite file that is not a ctrace store (other tables, no ctrace schema) is CTR_ESTORE and
 * left untouched; one the caller cannot write is opened read-only (list and load work, saves
 * fail with CTR_ESTORE). ctr_store_open() is ctr_store_open_ex() with @flags 0. */
int ctr_store_open(struct ctr_store **out, const char *conn, struct ctr_err *e);
int ctr_store_open_ex(struct ctr_store **out, const char *conn, unsigned flags, struct ctr_err *e);
void ctr_store_close(struct ctr_store *s); /* accepts NULL */
const char *ctr_store_backend(const struct ctr_store *s);
/* The store's name for messages: the connection string, or for PostgreSQL
 * "postgresql://user@host:port/db" without any password. Borrowed until ctr_store_close(). */
const char *ctr_store_name(const struct ctr_store *s);

/* Saves a whole run (header, run->chunks, aggregates) atomically. CTR_EEXIST if present. */
int ctr_store_save(struct ctr_store *s, const struct ctr_run *run, struct ctr_err *e);
int ctr_store_save_begin(struct ctr_store *s, const struct ctr_run *hdr, struct ctr_err *e);
int ctr_store_save_chunk(struct ctr_store *s, const struct ctr_chunk *c, struct ctr_err *e);
int ctr_store_save_end(struct ctr_store *s, const struct ctr_run *run, struct ctr_err *e);
void ctr_store_save_abort(struct ctr_store *s);

/* Loads run @id (a full id). CTR_ENOTFOUND if absent. Caller frees with ctr_run_free(). */
int ctr_store_load(struct ctr_store *s, const char *id, unsigned what, struct ctr_run **out,
		   struct ctr_err *e);
int ctr_store_list(struct ctr_store *s, const struct ctr_filter *f, size_t limit, size_t offset,
		   struct ctr_run ***out, size_t *n, struct ctr_err *e);
int ctr_store_remove(struct ctr_store *s, const char *id, struct ctr_err *e);
/* Fills @run->meta (replacing what is there) with the metadata of the run @run->id, for runs
 * that list() returned with header fields only. 0, CTR_ENOTFOUND, CTR_ENOMEM or CTR_ESTORE. */
int ctr_store_load_meta(struct ctr_store *s, struct ctr_run *run, struct ctr_err *e);
/* 1 if the backend reads timeline chunks one at a time (ctr_store_load_chunk), else 0: then a
 * reader loads the run with CTR_LOAD_TIMELINE instead. */
int ctr_store_can_stream(const struct ctr_store *s);

/* Side records of a run (struct ctr_store_ops save_aux/load_aux): @name is 1-32 characters of
 * [a-z0-9_]. load: *@data is the caller's (free()). 0, CTR_ENOTFOUND (load: none saved, no
 * message; save: no such run), CTR_EUSAGE (bad name), CTR_ESTORE, CTR_ENOMEM. */
int ctr_store_save_aux(struct ctr_store *s, const char *id, const char *name,
		       const unsigned char *data, size_t size, struct ctr_err *e);
int ctr_store_load_aux(struct ctr_store *s, const char *id, const char *name, unsigned char **data,
		       size_t *size, struct ctr_err *e);
/* Chunk @seq of thread @thread of run @id (see load_chunk above); caller frees out->data.
 * CTR_ENOTFOUND past the last chunk, CTR_EUSAGE when the backend cannot stream. */
int ctr_store_load_chunk(struct ctr_store *s, const char *id, uint32_t thread, uint32_t seq,
			 struct ctr_chunk *out, struct ctr_err *e);

/* The series of function @fn (display or linkage name) over the runs matching @f (whose
 * function field is ignored): one point per run that has @fn, oldest first (start ascending,
 * ties in the reverse of list's order), with the run's header and metadata and metric @m
 * summed by the backend (SQL aggregates in sqlite and pgsql, a scan of the runs in jsonl and
 * memory) so no run is loaded whole. *@out is NULL when *@n is 0; free it with
 * ctr_series_free(). 0, CTR_EUSAGE (no @fn, unknown @m), CTR_ENOMEM or the backend's error. */
int ctr_store_series(struct ctr_store *s, const struct ctr_filter *f, const char *fn,
		     enum ctr_metric m, struct ctr_series_point **out, size_t *n,
		     struct ctr_err *e);
/* Frees the points, their runs and the array; accepts NULL. */
void ctr_series_free(struct ctr_series_point *pts, size_t n);
/* Metric @m of function @fn in @run as ctr_store_series() defines it, from the run's
 * functions and nodes (a run loaded without its timeline is enough). 0 or CTR_ENOMEM. */
int ctr_run_metric(const struct ctr_run *run, const char *fn, enum ctr_metric m, double *out);
/* "self", "total", "calls"; NULL for an unknown value. */
const char *ctr_metric_name(enum ctr_metric m);
/* The metric named @name into *@m: 0, or CTR_EUSAGE for an unknown name. */
int ctr_metric_parse(const char *name, enum ctr_metric *m);

/* Resolves a run spec: a full id, a unique id prefix, "latest" or "latest~N", into @id.
 * CTR_ENOTFOUND if nothing matches, CTR_EUSAGE if a prefix is ambiguous. */
int ctr_store_resolve(struct ctr_store *s, const char *spec, char id[CTR_RUN_ID_MAX],
		      struct ctr_err *e);

/* Frees a run and everything in it; accepts NULL. */
/* 0 if @run's references hold together, else CTR_EFORMAT naming the first that does not: each
 * node's id is its index, its parent an earlier node of the same thread (or CTR_NONE), its
 * thread and function in range; function and thread ids are their indexes, a function's module
 * in range or CTR_NONE; an attribute's node in range. So no node is its own ancestor and every
 * walk of the tree ends. O(nodes + functions + threads + attributes). */
int ctr_run_refs_check(const struct ctr_run *run, struct ctr_err *e);
/* 1 if @key (@len bytes) can be a metadata key: not empty, no '=' and no control character
 * (C0, DEL): run.meta is KEY=VALUE lines, so a newline in a key would forge other fields. */
int ctr_meta_key_valid(const char *key, size_t len);
/* The value of metadata key @key in @r (the last one when repeated, as in the run's JSON
 * object), or NULL. Borrowed from @r. */
const char *ctr_run_meta_get(const struct ctr_run *r, const char *key);
void ctr_run_free(struct ctr_run *run);
/* Frees an array of runs returned by list (and the array). */
void ctr_run_list_free(struct ctr_run **runs, size_t n);
/* Deep copy; NULL on allocation failure. */
struct ctr_run *ctr_run_dup(const struct ctr_run *run);
/* 1 if two runs hold the same data (every field and array), else 0. */
int ctr_run_equal(const struct ctr_run *a, const struct ctr_run *b);
/* 1 if @run matches @f (NULL matches all); needs functions loaded for f->function. */
int ctr_filter_match(const struct ctr_filter *f, const struct ctr_run *run);

#endif
