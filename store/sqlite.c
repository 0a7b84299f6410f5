/* SPDX-License-Identifier: MIT */
/*
 * SQLite store backend ("sqlite:PATH", the default). One database file holds every run in
 * normalized tables (documented in docs/store.md so users can query them with the sqlite3
 * shell). WAL mode and a busy timeout let several processes commit into one store at once; a
 * whole save is one transaction, so a killed commit leaves the store unchanged. The schema is
 * versioned with PRAGMA user_version and upgraded by the migration steps below. Every value
 * goes through bound parameters; u64 fields are stored bit for bit as SQLite's int64.
 */
#include "store-int.h"

#include "../common/grow.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SQ_BUSY_TIMEOUT_MS 30000
/* Longest string or blob read or written (SQLITE_LIMIT_LENGTH): a hostile store with a huge
 * blob fails with CTR_ESTORE instead of exhausting memory. Timeline chunks are ~1 MiB. */
#define SQ_MAX_VALUE (64 << 20)

/*
 * Migrations: step i takes a store from schema version i to i + 1. Append new steps; never
 * edit a released one. A store whose user_version is above the number of steps was written by
 * a newer ctrace and is refused with CTR_EVERSION.
 */
static const char *const migrations[] = {
    /* 0 -> 1: the first schema */
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE runs ("
    " pk INTEGER PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE,"
    " command TEXT, host TEXT, cwd TEXT,"
    " start_unix_ns INTEGER NOT NULL, duration_ns INTEGER NOT NULL,"
    " exit_status INTEGER NOT NULL, signal INTEGER NOT NULL, crashed INTEGER NOT NULL,"
    " events INTEGER NOT NULL, lost_events INTEGER NOT NULL,"
    " clock TEXT, ticks_per_sec INTEGER NOT NULL,"
    " overhead_inner_ns REAL NOT NULL, overhead_call_ns REAL NOT NULL);"
    "CREATE INDEX runs_start ON runs(start_unix_ns DESC, id);"
    "CREATE INDEX runs_command ON runs(command);"
    "CREATE TABLE run_meta ("
    " run INTEGER NOT NULL REFERENCES runs(pk), idx INTEGER NOT NULL,"
    " key TEXT, value TEXT, PRIMARY KEY (run, idx)) WITHOUT ROWID;"
    "CREATE INDEX run_meta_kv ON run_meta(key, value);"
    "CREATE TABLE processes ("
    " run INTEGER NOT NULL REFERENCES runs(pk), idx INTEGER NOT NULL,"
    " pid INTEGER NOT NULL, ppid INTEGER NOT NULL, gen INTEGER NOT NULL,"
    " exe TEXT, command TEXT, exit_status INTEGER NOT NULL, signal INTEGER NOT NULL,"
    " crashed INTEGER NOT NULL, backtrace TEXT, PRIMARY KEY (run, idx)) WITHOUT ROWID;"
    "CREATE TABLE modules ("
    " run INTEGER NOT NULL REFERENCES runs(pk), id INTEGER NOT NULL,"
    " path TEXT, build_id TEXT, base INTEGER NOT NULL, PRIMARY KEY (run, id)) WITHOUT ROWID;"
    "CREATE TABLE functions ("
    " run INTEGER NOT NULL REFERENCES runs(pk), id INTEGER NOT NULL,"
    " kind INTEGER NOT NULL, name TEXT, linkage_name TEXT, file TEXT, line INTEGER NOT NULL,"
    " module INTEGER, offset INTEGER NOT NULL, PRIMARY KEY (run, id)) WITHOUT ROWID;"
    "CREATE INDEX functions_name ON functions(name, run);"
    "CREATE INDEX functions_linkage ON functions(linkage_name, run);"
    "CREATE TABLE threads ("
    " run INTEGER NOT NULL REFERENCES runs(pk), id INTEGER NOT NULL,"
    " pid INTEGER NOT NULL, tid INTEGER NOT NULL, name TEXT,"
    " start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,"
    " events INTEGER NOT NULL, lost INTEGER NOT NULL, PRIMARY KEY (run, id)) WITHOUT ROWID;"
    "CREATE TABLE nodes ("
    " run INTEGER NOT NULL REFERENCES runs(pk), id INTEGER NOT NULL,"
    " parent INTEGER, thread INTEGER NOT NULL, function INTEGER NOT NULL,"
    " calls INTEGER NOT NULL, total_ns INTEGER NOT NULL, self_ns INTEGER NOT NULL,"
    " min_ns INTEGER NOT NULL, max_ns INTEGER NOT NULL,"
    " raw_total_ns INTEGER NOT NULL, raw_self_ns INTEGER NOT NULL,"
    " raw_min_ns INTEGER NOT NULL, raw_max_ns INTEGER NOT NULL,"
    " PRIMARY KEY (run, id)) WITHOUT ROWID;"
    "CREATE TABLE attrs ("
    " run INTEGER NOT NULL REFERENCES runs(pk), idx INTEGER NOT NULL,"
    " node INTEGER NOT NULL, key TEXT, value TEXT, count INTEGER NOT NULL,"
    " PRIMARY KEY (run, idx)) WITHOUT ROWID;"
    "CREATE TABLE chunks ("
    " run INTEGER NOT NULL REFERENCES runs(pk), thread INTEGER NOT NULL,"
    " seq INTEGER NOT NULL, codec INTEGER NOT NULL, raw_size INTEGER NOT NULL,"
    " first_ns INTEGER NOT NULL, last_ns INTEGER NOT NULL, data BLOB,"
    " UNIQUE (run, thread, seq));",
    /* 1 -> 2: latency percentiles and histograms (common/hist.h blobs) */
    "ALTER TABLE functions ADD COLUMN p50_ns INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE functions ADD COLUMN p90_ns INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE functions ADD COLUMN p99_ns INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE functions ADD COLUMN p999_ns INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE functions ADD COLUMN hist BLOB;"
    "ALTER TABLE nodes ADD COLUMN p50_ns INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE nodes ADD COLUMN p90_ns INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE nodes ADD COLUMN p99_ns INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE nodes ADD COLUMN p999_ns INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE nodes ADD COLUMN hist BLOB;",
    /* 2 -> 3: off-CPU time (ctrace record --sched) */
    "ALTER TABLE nodes ADD COLUMN offcpu_ns INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE nodes ADD COLUMN preempt_ns INTEGER NOT NULL DEFAULT 0;",
    /* 3 -> 4: when each module was loaded and unloaded (dlopen, dlclose) */
    "ALTER TABLE modules ADD COLUMN loaded_ns INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE modules ADD COLUMN unloaded_ns INTEGER NOT NULL DEFAULT -1;",
    /* 4 -> 5: side records of a run (the timeline index built at commit) */
    "CREATE TABLE IF NOT EXISTS run_aux ("
    " run INTEGER NOT NULL REFERENCES runs(pk), name TEXT NOT NULL, data BLOB,"
    " PRIMARY KEY (run, name)) WITHOUT ROWID;",
    /* 5 -> 6: calls left out of min/max and the percentiles (--sched: preempted, stalled) */
    "ALTER TABLE nodes ADD COLUMN preempted_calls INTEGER NOT NULL DEFAULT 0;",
};

#define SQ_SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* Tables holding a run's rows, deleted by remove; runs itself last. */
static const char *const child_tables[] = {
    "run_meta", "processes", "modules", "functions", "threads",
    "nodes",	"attrs",     "chunks",	"run_aux",
};

struct sq_store {
	sqlite3 *db;
	char *path;
	int in_tx;	       /* a save transaction is open */
	sqlite3_int64 save_pk; /* runs.pk of the run being saved */
	char save_id[CTR_RUN_ID_MAX];
	sqlite3_stmt *chunk_stmt;
};

static int sq_fail(struct sq_store *q, struct ctr_err *e, const char *what)
{
	int code = sqlite3_extended_errcode(q->db);

	return ctr_err_set(e, (code & 0xff) == SQLITE_NOMEM ? CTR_ENOMEM : CTR_ESTORE, 0,
			   "%s in store '%s': %s", what, q->path, sqlite3_errmsg(q->db));
}

static int sq_exec(struct sq_store *q, const char *sql, struct ctr_err *e, const char *what)
{
	if (sqlite3_exec(q->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sq_fail(q, e, what);
	return 0;
}

static int sq_prep(struct sq_store *q, const char *sql, sqlite3_stmt **st, struct ctr_err *e)
{
	if (sqlite3_prepare_v2(q->db, sql, -1, st, NULL) != SQLITE_OK) {
		*st = NULL;
		return sq_fail(q, e, "cannot prepare a statement");
	}
	return 0;
}

/* ---- binding and reading helpers ---- */

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static void bind_u64(sqlite3_stmt *st, int i, uint64_t v)
{
	sqlite3_bind_int64(st, i, (sqlite3_int64)v);
}

static void bind_ref(sqlite3_stmt *st, int i, uint32_t v)
{
	if (v == CTR_NONE)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int64(st, i, v);
}

static char *col_text(sqlite3_stmt *st, int i, int *fail)
{
	const unsigned char *t;

	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return NULL;
	t = sqlite3_column_text(st, i);
	if (!t) {
		*fail = 1;
		return NULL;
	}
	return ctr_store_strdup((const char *)t, fail);
}

static uint64_t col_u64(sqlite3_stmt *st, int i)
{
	return (uint64_t)sqlite3_column_int64(st, i);
}

static uint32_t col_ref(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return CTR_NONE;
	return (uint32_t)sqlite3_column_int64(st, i);
}

/* ---- open / close ---- */

static int read_user_version(struct sq_store *q, int *v, struct ctr_err *e)
{
	sqlite3_stmt *st = NULL;
	int ret = 0;

	if (sqlite3_prepare_v2(q->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		ret = ctr_err_set(e, CTR_ESTORE, 0, "cannot open store '%s': %s", q->path,
				  sqlite3_errmsg(q->db));
	else
		*v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return ret;
}

static int migrate(struct sq_store *q, struct ctr_err *e)
{
	char sql[128];
	int v = 0, ret;

	if ((ret = read_user_version(q, &v, e)) < 0)
		return ret;
	if (v > SQ_SCHEMA_VERSION)
		goto newer;
	if (v == SQ_SCHEMA_VERSION)
		return 0;
	/* Upgrade under the write lock; another process may have done it meanwhile. */
	if ((ret = sq_exec(q, "BEGIN IMMEDIATE", e, "cannot lock schema")) < 0)
		return ret;
	if ((ret = read_user_version(q, &v, e)) < 0)
		goto rollback;
	if (v > SQ_SCHEMA_VERSION) {
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		goto newer;
	}
	for (; v < SQ_SCHEMA_VERSION; v++)
		if ((ret = sq_exec(q, migrations[v], e, "cannot upgrade schema")) < 0)
			goto rollback;
	snprintf(sql, sizeof(sql),
		 "PRAGMA user_version = %d;"
		 "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', '%d')",
		 SQ_SCHEMA_VERSION, SQ_SCHEMA_VERSION);
	if ((ret = sq_exec(q, sql, e, "cannot upgrade schema")) < 0)
		goto rollback;
	if ((ret = sq_exec(q, "COMMIT", e, "cannot upgrade schema")) < 0)
		goto rollback;
	return 0;
rollback:
	sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	return ret;
newer:
	return ctr_err_set(e, CTR_EVERSION, 0,
			   "store '%s' has schema version %d, newer than this ctrace supports "
			   "(%d): upgrade ctrace",
			   q->path, v, SQ_SCHEMA_VERSION);
}

static void sq_close(struct ctr_store *s)
{
	struct sq_store *q = s->priv;

	if (!q)
		return;
	sqlite3_finalize(q->chunk_stmt);
	sqlite3_close_v2(q->db);
	free(q->path);
	free(q);
	s->priv = NULL;
}

/* 0 if the open database holds a ctrace schema (or nothing at all); CTR_ESTORE for another
 * program's database, which is then never modified. *@v is its user_version. */
static int check_ours(struct sq_store *q, int *v, struct ctr_err *e)
{
	sqlite3_stmt *st = NULL;
	int ret, all = 0, ours = 0;

	/* one statement, one snapshot: another process may be creating the schema right now */
	if (sqlite3_prepare_v2(q->db,
			       "SELECT (SELECT user_version FROM pragma_user_version), count(*), "
			       "coalesce(sum(type = 'table' AND name IN ('meta', 'runs', 'nodes', "
			       "'chunks')), 0) FROM sqlite_master",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		ret = ctr_err_set(e, CTR_ESTORE, 0, "cannot open store '%s': %s", q->path,
				  sqlite3_errmsg(q->db));
		sqlite3_finalize(st);
		return ret;
	}
	*v = sqlite3_column_int(st, 0);
	all = sqlite3_column_int(st, 1);
	ours = sqlite3_column_int(st, 2);
	sqlite3_finalize(st);
	if (*v > SQ_SCHEMA_VERSION)
		return 0; /* migrate() says CTR_EVERSION */
	if ((*v == 0 && all > 0) || (*v > 0 && ours < 4))
		return ctr_err_set(
		    e, CTR_ESTORE, 0,
		    "cannot open store '%s': a SQLite database that is not a ctrace "
		    "store (user_version %d, %d schema objects): refusing to touch it",
		    q->path, *v, all);
	return 0;
}

/* sqlite3_open_v2() of @path read-only as an immutable file ("file:PATH?immutable=1"): for a
 * store in WAL mode whose -shm the caller may not create (another user's directory). */
static int open_immutable(struct sq_store *q, const char *path)
{
	size_t n = strlen(path);
	char *uri = malloc(n * 3 + 32), *w;
	int rc;

	if (!uri)
		return SQLITE_NOMEM;
	w = uri + sprintf(uri, "file:");
	for (const char *c = path; *c; c++) {
		unsigned char ch = (unsigned char)*c;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("/._-~", ch))
			*w++ = (char)ch;
		else
			w += sprintf(w, "%%%02X", ch);
	}
	strcpy(w, "?immutable=1");
	rc = sqlite3_open_v2(uri, &q->db,
			     SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOFOLLOW, NULL);
	free(uri);
	return rc;
}

static int sq_open(struct ctr_store *s, const char *path, struct ctr_err *e)
{
	struct sq_store *q = calloc(1, sizeof(*q));
	char *real = NULL;
	int rc, ret, exists, ro = 0, v = 0;
	mode_t old_mask;

	if (!q || !(q->path = strdup(path))) {
		free(q);
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory opening store '%s'", path);
	}
	s->priv = q;
	if ((ret = ctr_store_check_path(s, path, &exists, &real, e)) < 0)
		goto fail;
	if (real)
		path = real; /* a link the caller named and owns: the file it points to */
	if (!exists) {
		/* created by us, 0600, never through a symlink; SQLite gives -wal and -shm the
		 * mode of the database file */
		int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

		if (fd < 0 && errno != EEXIST) {
			ret = ctr_err_set(e, CTR_ESTORE, errno, "cannot create store '%s': %s",
					  path, strerror(errno));
			goto fail;
		}
		if (fd >= 0)
			close(fd);
	} else if (access(path, W_OK) != 0) {
		ro = 1; /* list and report a store we may only read: no schema change, no WAL */
	}
	old_mask = umask(077);
	rc = sqlite3_open_v2(
	    path, &q->db,
	    (ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOFOLLOW, NULL);
	umask(old_mask);
	if (rc != SQLITE_OK) {
		ret = ctr_err_set(e, rc == SQLITE_NOMEM ? CTR_ENOMEM : CTR_ESTORE, 0,
				  "cannot open store '%s': %s", path,
				  q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(q->db, 1);
	sqlite3_busy_timeout(q->db, SQ_BUSY_TIMEOUT_MS);
	sqlite3_limit(q->db, SQLITE_LIMIT_LENGTH, SQ_MAX_VALUE);
	old_mask = umask(077);
	ret = check_ours(q, &v, e);
	if (ret < 0 && ro &&
	    ((sqlite3_extended_errcode(q->db) & 0xff) == SQLITE_CANTOPEN ||
	     (sqlite3_extended_errcode(q->db) & 0xff) == SQLITE_READONLY)) {
		/* WAL store in a directory we cannot write: read it as an immutable file */
		sqlite3_close_v2(q->db);
		q->db = NULL;
		if (e)
			ctr_err_clear(e);
		rc = open_immutable(q, path);
		if (rc == SQLITE_OK) {
			sqlite3_extended_result_codes(q->db, 1);
			sqlite3_limit(q->db, SQLITE_LIMIT_LENGTH, SQ_MAX_VALUE);
			ret = check_ours(q, &v, e);
		} else {
			ret = ctr_err_set(e, CTR_ESTORE, 0, "cannot open store '%s': %s", path,
					  sqlite3_errstr(rc));
		}
	}
	if (ret < 0) {
		umask(old_mask);
		if (q->db && (sqlite3_extended_errcode(q->db) & 0xff) == SQLITE_NOTADB) {
			if (e)
				ctr_err_clear(e);
			ret = ctr_err_set(e, CTR_ESTORE, 0, "cannot open store '%s': %s", path,
					  sqlite3_errmsg(q->db));
		}
		goto fail;
	}
	if (ro) {
		umask(old_mask);
		if (v > SQ_SCHEMA_VERSION) {
			ret =
			    ctr_err_set(e, CTR_EVERSION, 0,
					"store '%s' has schema version %d, newer than this ctrace "
					"supports (%d): upgrade ctrace",
					path, v, SQ_SCHEMA_VERSION);
			goto fail;
		}
		if (v < SQ_SCHEMA_VERSION) {
			ret = ctr_err_set(e, CTR_ESTORE, 0,
					  "store '%s' is read-only and has schema version %d, not "
					  "%d: it cannot be upgraded",
					  path, v, SQ_SCHEMA_VERSION);
			goto fail;
		}
		free(real);
		return 0;
	}
	/* WAL lets readers run beside a committing writer. Failing to switch (read-only file,
	 * another process switching it right now) is not fatal. */
	sqlite3_exec(q->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
	if ((ret = sq_exec(q, "PRAGMA synchronous=FULL", e, "cannot configure")) < 0 ||
	    (ret = migrate(q, e)) < 0) {
		umask(old_mask);
		goto fail;
	}
	umask(old_mask);
	free(real);
	return 0;
fail:
	ctr_err_ctx(e, q->path, NULL, -1);
	free(real);
	sq_close(s);
	return ret;
}

/* ---- save ---- */

#define HDR_COLS                                                                                   \
	"id, command, host, cwd, start_unix_ns, duration_ns, exit_status, signal, crashed, "       \
	"events, lost_events, clock, ticks_per_sec, overhead_inner_ns, overhead_call_ns"

/* Binds the 15 header columns in HDR_COLS order starting at parameter @i. */
static void bind_header(sqlite3_stmt *st, int i, const struct ctr_run *r)
{
	sqlite3_bind_text(st, i++, r->id, -1, SQLITE_STATIC);
	bind_text(st, i++, r->command);
	bind_text(st, i++, r->host);
	bind_text(st, i++, r->cwd);
	sqlite3_bind_int64(st, i++, r->start_unix_ns);
	bind_u64(st, i++, r->duration_ns);
	sqlite3_bind_int(st, i++, r->exit_status);
	sqlite3_bind_int(st, i++, r->signal);
	sqlite3_bind_int(st, i++, r->crashed);
	bind_u64(st, i++, r->events);
	bind_u64(st, i++, r->lost_events);
	bind_text(st, i++, r->clock);
	bind_u64(st, i++, r->ticks_per_sec);
	sqlite3_bind_double(st, i++, r->overhead_inner_ns);
	sqlite3_bind_double(st, i++, r->overhead_call_ns);
}

/* Reads the header columns (HDR_COLS order, from column @i) into @r. */
static int read_header(sqlite3_stmt *st, int i, struct ctr_run *r)
{
	int fail = 0;
	const unsigned char *id = sqlite3_column_text(st, i++);

	snprintf(r->id, sizeof(r->id), "%s", id ? (const char *)id : "");
	r->command = col_text(st, i++, &fail);
	r->host = col_text(st, i++, &fail);
	r->cwd = col_text(st, i++, &fail);
	r->start_unix_ns = sqlite3_column_int64(st, i++);
	r->duration_ns = col_u64(st, i++);
	r->exit_status = sqlite3_column_int(st, i++);
	r->signal = sqlite3_column_int(st, i++);
	r->crashed = sqlite3_column_int(st, i++);
	r->events = col_u64(st, i++);
	r->lost_events = col_u64(st, i++);
	r->clock = col_text(st, i++, &fail);
	r->ticks_per_sec = col_u64(st, i++);
	r->overhead_inner_ns = sqlite3_column_double(st, i++);
	r->overhead_call_ns = sqlite3_column_double(st, i++);
	return fail ? CTR_ENOMEM : 0;
}

static void sq_save_abort(struct ctr_store *s)
{
	struct sq_store *q = s->priv;

	sqlite3_finalize(q->chunk_stmt);
	q->chunk_stmt = NULL;
	if (q->in_tx)
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	q->in_tx = 0;
	q->save_id[0] = '\0';
}

static int sq_save_begin(struct ctr_store *s, const struct ctr_run *hdr, struct ctr_err *e)
{
	struct sq_store *q = s->priv;
	sqlite3_stmt *st = NULL;
	int ret, rc;

	if ((ret = sq_exec(q, "BEGIN IMMEDIATE", e, "cannot start a transaction")) < 0)
		return ret;
	q->in_tx = 1;
	if ((ret = sq_prep(q, "SELECT 1 FROM runs WHERE id = ?1", &st, e)) < 0)
		goto fail;
	sqlite3_bind_text(st, 1, hdr->id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ret = ctr_err_set(e, CTR_EEXIST, 0, "run '%s' is already in store '%s'", hdr->id,
				  q->path);
		goto fail;
	}
	if (rc != SQLITE_DONE) {
		ret = sq_fail(q, e, "cannot look up a run");
		goto fail;
	}
	sqlite3_finalize(st);
	if ((ret = sq_prep(q,
			   "INSERT INTO runs (" HDR_COLS ") VALUES "
			   "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
			   &st, e)) < 0)
		goto fail;
	bind_header(st, 1, hdr);
	if (sqlite3_step(st) != SQLITE_DONE) {
		ret = sq_fail(q, e, "cannot save a run");
		goto fail;
	}
	q->save_pk = sqlite3_last_insert_rowid(q->db);
	snprintf(q->save_id, sizeof(q->save_id), "%s", hdr->id);
	if ((ret = sq_prep(q,
			   "INSERT INTO chunks (run, thread, seq, codec, raw_size, first_ns, "
			   "last_ns, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
			   &q->chunk_stmt, e)) < 0)
		goto fail;
	sqlite3_finalize(st);
	return 0;
fail:
	sqlite3_finalize(st);
	sq_save_abort(s);
	return ret;
}

static int sq_save_chunk(struct ctr_store *s, const struct ctr_chunk *c, struct ctr_err *e)
{
	struct sq_store *q = s->priv;
	sqlite3_stmt *st = q->chunk_stmt;

	if (!st)
		return ctr_err_set(e, CTR_EUSAGE, 0, "save_chunk without save_begin");
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, q->save_pk);
	sqlite3_bind_int64(st, 2, c->thread);
	sqlite3_bind_int64(st, 3, c->seq);
	sqlite3_bind_int64(st, 4, c->codec);
	bind_u64(st, 5, c->raw_size);
	bind_u64(st, 6, c->first_ns);
	bind_u64(st, 7, c->last_ns);
	if (c->size)
		sqlite3_bind_blob64(st, 8, c->data, c->size, SQLITE_STATIC);
	else
		sqlite3_bind_zeroblob(st, 8, 0);
	if (sqlite3_step(st) != SQLITE_DONE)
		return sq_fail(q, e, "cannot save a timeline chunk");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return 0;
}

/* Runs a prepared insert once per row: @bind binds row @i (parameters 2..), ?1 is the run. */
static int insert_rows(struct sq_store *q, const char *sql, size_t n, const struct ctr_run *r,
		       void (*bind)(sqlite3_stmt *st, const struct ctr_run *r, size_t i),
		       struct ctr_err *e)
{
	sqlite3_stmt *st = NULL;
	int ret;

	if (n == 0)
		return 0;
	if ((ret = sq_prep(q, sql, &st, e)) < 0)
		return ret;
	sqlite3_bind_int64(st, 1, q->save_pk);
	for (size_t i = 0; i < n; i++) {
		bind(st, r, i);
		if (sqlite3_step(st) != SQLITE_DONE) {
			ret = sq_fail(q, e, "cannot save a run");
			break;
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return ret;
}

static void bind_meta(sqlite3_stmt *st, const struct ctr_run *r, size_t i)
{
	sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
	bind_text(st, 3, r->meta[i].key);
	bind_text(st, 4, r->meta[i].value);
}

static void bind_proc(sqlite3_stmt *st, const struct ctr_run *r, size_t i)
{
	const struct ctr_process *p = &r->procs[i];

	sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
	sqlite3_bind_int(st, 3, p->pid);
	sqlite3_bind_int(st, 4, p->ppid);
	sqlite3_bind_int64(st, 5, p->gen);
	bind_text(st, 6, p->exe);
	bind_text(st, 7, p->command);
	sqlite3_bind_int(st, 8, p->exit_status);
	sqlite3_bind_int(st, 9, p->signal);
	sqlite3_bind_int(st, 10, p->crashed);
	bind_text(st, 11, p->backtrace);
}

static void bind_module(sqlite3_stmt *st, const struct ctr_run *r, size_t i)
{
	const struct ctr_module *m = &r->modules[i];

	sqlite3_bind_int64(st, 2, m->id);
	bind_text(st, 3, m->path);
	bind_text(st, 4, m->build_id);
	bind_u64(st, 5, m->base);
	sqlite3_bind_int64(st, 6, m->loaded_ns);
	sqlite3_bind_int64(st, 7, m->unloaded_ns);
}

/* Percentiles and histogram blob at parameters @i .. @i+4. */
static void bind_lat(sqlite3_stmt *st, int i, uint64_t p50, uint64_t p90, uint64_t p99,
		     uint64_t p999, const unsigned char *hist, size_t hist_size)
{
	bind_u64(st, i, p50);
	bind_u64(st, i + 1, p90);
	bind_u64(st, i + 2, p99);
	bind_u64(st, i + 3, p999);
	if (hist && hist_size)
		sqlite3_bind_blob(st, i + 4, hist, (int)hist_size, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i + 4);
}

static void bind_function(sqlite3_stmt *st, const struct ctr_run *r, size_t i)
{
	const struct ctr_function *f = &r->functions[i];

	sqlite3_bind_int64(st, 2, f->id);
	sqlite3_bind_int64(st, 3, f->kind);
	bind_text(st, 4, f->name);
	bind_text(st, 5, f->linkage_name);
	bind_text(st, 6, f->file);
	sqlite3_bind_int64(st, 7, f->line);
	bind_ref(st, 8, f->module);
	bind_u64(st, 9, f->offset);
	bind_lat(st, 10, f->p50_ns, f->p90_ns, f->p99_ns, f->p999_ns, f->hist, f->hist_size);
}

static void bind_thread(sqlite3_stmt *st, const struct ctr_run *r, size_t i)
{
	const struct ctr_thread *t = &r->threads[i];

	sqlite3_bind_int64(st, 2, t->id);
	sqlite3_bind_int(st, 3, t->pid);
	sqlite3_bind_int(st, 4, t->tid);
	bind_text(st, 5, t->name);
	bind_u64(st, 6, t->start_ns);
	bind_u64(st, 7, t->end_ns);
	bind_u64(st, 8, t->events);
	bind_u64(st, 9, t->lost);
}

static void bind_node(sqlite3_stmt *st, const struct ctr_run *r, size_t i)
{
	const struct ctr_node *n = &r->nodes[i];

	sqlite3_bind_int64(st, 2, n->id);
	bind_ref(st, 3, n->parent);
	sqlite3_bind_int64(st, 4, n->thread);
	sqlite3_bind_int64(st, 5, n->function);
	bind_u64(st, 6, n->calls);
	bind_u64(st, 7, n->total_ns);
	bind_u64(st, 8, n->self_ns);
	bind_u64(st, 9, n->min_ns);
	bind_u64(st, 10, n->max_ns);
	bind_u64(st, 11, n->raw_total_ns);
	bind_u64(st, 12, n->raw_self_ns);
	bind_u64(st, 13, n->raw_min_ns);
	bind_u64(st, 14, n->raw_max_ns);
	bind_lat(st, 15, n->p50_ns, n->p90_ns, n->p99_ns, n->p999_ns, n->hist, n->hist_size);
	bind_u64(st, 20, n->offcpu_ns);
	bind_u64(st, 21, n->preempt_ns);
	bind_u64(st, 22, n->preempted_calls);
}

static void bind_attr(sqlite3_stmt *st, const struct ctr_run *r, size_t i)
{
	const struct ctr_attr *a = &r->attrs[i];

	sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
	sqlite3_bind_int64(st, 3, a->node);
	bind_text(st, 4, a->key);
	bind_text(st, 5, a->value);
	bind_u64(st, 6, a->count);
}

static int sq_save_end(struct ctr_store *s, const struct ctr_run *r, struct ctr_err *e)
{
	struct sq_store *q = s->priv;
	sqlite3_stmt *st = NULL;
	int ret;

	if (!q->in_tx)
		return ctr_err_set(e, CTR_EUSAGE, 0, "save_end without save_begin");
	if (strcmp(r->id, q->save_id))
		return ctr_err_set(e, CTR_EUSAGE, 0,
				   "save_end of run '%s' after save_begin of '%s'", r->id,
				   q->save_id);
	sqlite3_finalize(q->chunk_stmt);
	q->chunk_stmt = NULL;
	/* The header given to begin may have been provisional: store the final one. */
	if ((ret = sq_prep(q,
			   "UPDATE runs SET (" HDR_COLS ") = (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
			   "?9, ?10, ?11, ?12, ?13, ?14, ?15) WHERE pk = ?16",
			   &st, e)) < 0)
		return ret;
	bind_header(st, 1, r);
	sqlite3_bind_int64(st, 16, q->save_pk);
	if (sqlite3_step(st) != SQLITE_DONE)
		ret = sq_fail(q, e, "cannot save a run");
	sqlite3_finalize(st);
	if (ret < 0)
		return ret;

	if ((ret = insert_rows(q,
			       "INSERT INTO run_meta (run, idx, key, value) "
			       "VALUES (?1, ?2, ?3, ?4)",
			       r->n_meta, r, bind_meta, e)) < 0 ||
	    (ret = insert_rows(q,
			       "INSERT INTO processes (run, idx, pid, ppid, gen, exe, command, "
			       "exit_status, signal, crashed, backtrace) VALUES "
			       "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
			       r->n_procs, r, bind_proc, e)) < 0 ||
	    (ret = insert_rows(q,
			       "INSERT INTO modules (run, id, path, build_id, base, loaded_ns, "
			       "unloaded_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
			       r->n_modules, r, bind_module, e)) < 0 ||
	    (ret =
		 insert_rows(q,
			     "INSERT INTO functions (run, id, kind, name, linkage_name, file, "
			     "line, module, offset, p50_ns, p90_ns, p99_ns, p999_ns, hist) "
			     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
			     r->n_functions, r, bind_function, e)) < 0 ||
	    (ret = insert_rows(q,
			       "INSERT INTO threads (run, id, pid, tid, name, start_ns, end_ns, "
			       "events, lost) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
			       r->n_threads, r, bind_thread, e)) < 0 ||
	    (ret = insert_rows(q,
			       "INSERT INTO nodes (run, id, parent, thread, function, calls, "
			       "total_ns, self_ns, min_ns, max_ns, raw_total_ns, raw_self_ns, "
			       "raw_min_ns, raw_max_ns, p50_ns, p90_ns, p99_ns, p999_ns, hist, "
			       "offcpu_ns, preempt_ns, preempted_calls) "
			       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
			       "?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
			       r->n_nodes, r, bind_node, e)) < 0 ||
	    (ret = insert_rows(q,
			       "INSERT INTO attrs (run, idx, node, key, value, count) VALUES "
			       "(?1, ?2, ?3, ?4, ?5, ?6)",
			       r->n_attrs, r, bind_attr, e)) < 0)
		return ret;
	if ((ret = sq_exec(q, "COMMIT", e, "cannot commit a run")) < 0)
		return ret;
	q->in_tx = 0;
	q->save_id[0] = '\0';
	return 0;
}

/* ---- load ---- */

/* Grows @*arr (of @size-byte elements) to hold one more than @*n; returns the new slot. */
/* Appends one zeroed element to the array *@arr of *@n (capacity *@cap); NULL when out of
 * memory. */
static void *push(void **arr, size_t *n, size_t *cap, size_t size)
{
	char *el;

	if (ctr_grow(arr, cap, *n + 1, size))
		return NULL;
	el = (char *)*arr + (*n)++ * size;
	memset(el, 0, size);
	return el;
}

/* Reads every row of one child table of run @pk through @row. */
static int load_rows(struct sq_store *q, sqlite3_int64 pk, const char *sql, struct ctr_run *r,
		     int (*row)(sqlite3_stmt *st, struct ctr_run *r, size_t *cap),
		     struct ctr_err *e)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int ret, rc;

	if ((ret = sq_prep(q, sql, &st, e)) < 0)
		return ret;
	sqlite3_bind_int64(st, 1, pk);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (row(st, r, &cap) < 0) {
			ret =
			    ctr_err_set(e, CTR_ENOMEM, 0, "out of memory loading run '%s'", r->id);
			goto out;
		}
	if (rc != SQLITE_DONE)
		ret = sq_fail(q, e, "cannot load a run");
out:
	sqlite3_finalize(st);
	return ret;
}

static int row_meta(sqlite3_stmt *st, struct ctr_run *r, size_t *cap)
{
	struct ctr_kv *kv = push((void **)&r->meta, &r->n_meta, cap, sizeof(*kv));
	int fail = 0;

	if (!kv)
		return -1;
	kv->key = col_text(st, 0, &fail);
	kv->value = col_text(st, 1, &fail);
	return fail ? -1 : 0;
}

static int row_proc(sqlite3_stmt *st, struct ctr_run *r, size_t *cap)
{
	struct ctr_process *p = push((void **)&r->procs, &r->n_procs, cap, sizeof(*p));
	int fail = 0;

	if (!p)
		return -1;
	p->pid = sqlite3_column_int(st, 0);
	p->ppid = sqlite3_column_int(st, 1);
	p->gen = (uint32_t)sqlite3_column_int64(st, 2);
	p->exe = col_text(st, 3, &fail);
	p->command = col_text(st, 4, &fail);
	p->exit_status = sqlite3_column_int(st, 5);
	p->signal = sqlite3_column_int(st, 6);
	p->crashed = sqlite3_column_int(st, 7);
	p->backtrace = col_text(st, 8, &fail);
	return fail ? -1 : 0;
}

static int row_module(sqlite3_stmt *st, struct ctr_run *r, size_t *cap)
{
	struct ctr_module *m = push((void **)&r->modules, &r->n_modules, cap, sizeof(*m));
	int fail = 0;

	if (!m)
		return -1;
	m->id = (uint32_t)sqlite3_column_int64(st, 0);
	m->path = col_text(st, 1, &fail);
	m->build_id = col_text(st, 2, &fail);
	m->base = col_u64(st, 3);
	m->loaded_ns = sqlite3_column_int64(st, 4);
	m->unloaded_ns = sqlite3_column_int64(st, 5);
	return fail ? -1 : 0;
}

/* Columns @i .. @i+4: percentiles and histogram blob (copied); -1 when out of memory. */
static int col_lat(sqlite3_stmt *st, int i, uint64_t *p50, uint64_t *p90, uint64_t *p99,
		   uint64_t *p999, unsigned char **hist, size_t *hist_size)
{
	const void *blob;
	int size;

	*p50 = col_u64(st, i);
	*p90 = col_u64(st, i + 1);
	*p99 = col_u64(st, i + 2);
	*p999 = col_u64(st, i + 3);
	blob = sqlite3_column_blob(st, i + 4);
	size = sqlite3_column_bytes(st, i + 4);
	if (!blob || size <= 0)
		return 0;
	if (!(*hist = malloc((size_t)size)))
		return -1;
	memcpy(*hist, blob, (size_t)size);
	*hist_size = (size_t)size;
	return 0;
}

static int row_function(sqlite3_stmt *st, struct ctr_run *r, size_t *cap)
{
	struct ctr_function *f = push((void **)&r->functions, &r->n_functions, cap, sizeof(*f));
	int fail = 0;

	if (!f)
		return -1;
	f->id = (uint32_t)sqlite3_column_int64(st, 0);
	f->kind = (uint32_t)sqlite3_column_int64(st, 1);
	f->name = col_text(st, 2, &fail);
	f->linkage_name = col_text(st, 3, &fail);
	f->file = col_text(st, 4, &fail);
	f->line = (uint32_t)sqlite3_column_int64(st, 5);
	f->module = col_ref(st, 6);
	f->offset = col_u64(st, 7);
	if (col_lat(st, 8, &f->p50_ns, &f->p90_ns, &f->p99_ns, &f->p999_ns, &f->hist,
		    &f->hist_size))
		return -1;
	return fail ? -1 : 0;
}

static int row_thread(sqlite3_stmt *st, struct ctr_run *r, size_t *cap)
{
	struct ctr_thread *t = push((void **)&r->threads, &r->n_threads, cap, sizeof(*t));
	int fail = 0;

	if (!t)
		return -1;
	t->id = (uint32_t)sqlite3_column_int64(st, 0);
	t->pid = sqlite3_column_int(st, 1);
	t->tid = sqlite3_column_int(st, 2);
	t->name = col_text(st, 3, &fail);
	t->start_ns = col_u64(st, 4);
	t->end_ns = col_u64(st, 5);
	t->events = col_u64(st, 6);
	t->lost = col_u64(st, 7);
	return fail ? -1 : 0;
}

static int row_node(sqlite3_stmt *st, struct ctr_run *r, size_t *cap)
{
	struct ctr_node *n = push((void **)&r->nodes, &r->n_nodes, cap, sizeof(*n));

	if (!n)
		return -1;
	n->id = (uint32_t)sqlite3_column_int64(st, 0);
	n->parent = col_ref(st, 1);
	n->thread = (uint32_t)sqlite3_column_int64(st, 2);
	n->function = (uint32_t)sqlite3_column_int64(st, 3);
	n->calls = col_u64(st, 4);
	n->total_ns = col_u64(st, 5);
	n->self_ns = col_u64(st, 6);
	n->min_ns = col_u64(st, 7);
	n->max_ns = col_u64(st, 8);
	n->raw_total_ns = col_u64(st, 9);
	n->raw_self_ns = col_u64(st, 10);
	n->raw_min_ns = col_u64(st, 11);
	n->raw_max_ns = col_u64(st, 12);
	n->offcpu_ns = col_u64(st, 18);
	n->preempt_ns = col_u64(st, 19);
	n->preempted_calls = col_u64(st, 20);
	return col_lat(st, 13, &n->p50_ns, &n->p90_ns, &n->p99_ns, &n->p999_ns, &n->hist,
		       &n->hist_size);
}

static int row_attr(sqlite3_stmt *st, struct ctr_run *r, size_t *cap)
{
	struct ctr_attr *a = push((void **)&r->attrs, &r->n_attrs, cap, sizeof(*a));
	int fail = 0;

	if (!a)
		return -1;
	a->node = (uint32_t)sqlite3_column_int64(st, 0);
	a->key = col_text(st, 1, &fail);
	a->value = col_text(st, 2, &fail);
	a->count = col_u64(st, 3);
	return fail ? -1 : 0;
}

static int row_chunk(sqlite3_stmt *st, struct ctr_run *r, size_t *cap)
{
	struct ctr_chunk *c = push((void **)&r->chunks, &r->n_chunks, cap, sizeof(*c));
	int size;

	if (!c)
		return -1;
	c->thread = (uint32_t)sqlite3_column_int64(st, 0);
	c->seq = (uint32_t)sqlite3_column_int64(st, 1);
	c->codec = (uint32_t)sqlite3_column_int64(st, 2);
	c->raw_size = col_u64(st, 3);
	c->first_ns = col_u64(st, 4);
	c->last_ns = col_u64(st, 5);
	const void *blob = sqlite3_column_blob(st, 6);
	size = sqlite3_column_bytes(st, 6);
	if (size > 0 && blob) {
		if (!(c->data = malloc((size_t)size)))
			return -1;
		memcpy(c->data, blob, (size_t)size);
		c->size = (size_t)size;
	}
	return 0;
}

/* A chunk's header without its data (CTR_LOAD_CHUNK_INDEX): column 6 is length(data). */
static int row_chunk_hdr(sqlite3_stmt *st, struct ctr_run *r, size_t *cap)
{
	struct ctr_chunk *c = push((void **)&r->chunks, &r->n_chunks, cap, sizeof(*c));

	if (!c)
		return -1;
	c->thread = (uint32_t)sqlite3_column_int64(st, 0);
	c->seq = (uint32_t)sqlite3_column_int64(st, 1);
	c->codec = (uint32_t)sqlite3_column_int64(st, 2);
	c->raw_size = col_u64(st, 3);
	c->first_ns = col_u64(st, 4);
	c->last_ns = col_u64(st, 5);
	c->size = (size_t)col_u64(st, 6);
	return 0;
}

static int sq_load(struct ctr_store *s, const char *id, unsigned what, struct ctr_run **out,
		   struct ctr_err *e)
{
	struct sq_store *q = s->priv;
	sqlite3_stmt *st = NULL;
	struct ctr_run *r = NULL;
	sqlite3_int64 pk;
	int ret, rc, own_tx = 0;

	/* One read transaction so all rows come from one snapshot (unless a save is open). */
	if (sqlite3_get_autocommit(q->db)) {
		if ((ret = sq_exec(q, "BEGIN", e, "cannot load a run")) < 0)
			return ret;
		own_tx = 1;
	}
	if ((ret = sq_prep(q, "SELECT pk, " HDR_COLS " FROM runs WHERE id = ?1", &st, e)) < 0)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		ret = ctr_err_set(e, CTR_ENOTFOUND, 0, "no run '%s' in store '%s'", id, q->path);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		ret = sq_fail(q, e, "cannot load a run");
		goto out;
	}
	if (!(r = calloc(1, sizeof(*r))) || read_header(st, 1, r) < 0) {
		ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory loading run '%s'", id);
		goto out;
	}
	pk = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if ((ret = load_rows(q, pk, "SELECT key, value FROM run_meta WHERE run = ?1 ORDER BY idx",
			     r, row_meta, e)) < 0 ||
	    (ret = load_rows(q, pk,
			     "SELECT pid, ppid, gen, exe, command, exit_status, signal, "
			     "crashed, backtrace FROM processes WHERE run = ?1 ORDER BY idx",
			     r, row_proc, e)) < 0 ||
	    (ret = load_rows(q, pk,
			     "SELECT id, path, build_id, base, loaded_ns, unloaded_ns FROM "
			     "modules WHERE run = ?1 "
			     "ORDER BY id",
			     r, row_module, e)) < 0 ||
	    (ret = load_rows(q, pk,
			     "SELECT id, kind, name, linkage_name, file, line, module, "
			     "offset, p50_ns, p90_ns, p99_ns, p999_ns, hist FROM functions "
			     "WHERE run = ?1 ORDER BY id",
			     r, row_function, e)) < 0 ||
	    (ret = load_rows(q, pk,
			     "SELECT id, pid, tid, name, start_ns, end_ns, events, lost "
			     "FROM threads WHERE run = ?1 ORDER BY id",
			     r, row_thread, e)) < 0 ||
	    (ret = load_rows(q, pk,
			     "SELECT id, parent, thread, function, calls, total_ns, "
			     "self_ns, min_ns, max_ns, raw_total_ns, raw_self_ns, raw_min_ns, "
			     "raw_max_ns, p50_ns, p90_ns, p99_ns, p999_ns, hist, offcpu_ns, "
			     "preempt_ns, preempted_calls FROM nodes WHERE run = ?1 ORDER BY id",
			     r, row_node, e)) < 0 ||
	    (ret = load_rows(q, pk,
			     "SELECT node, key, value, count FROM attrs WHERE run = ?1 "
			     "ORDER BY idx",
			     r, row_attr, e)) < 0 ||
	    ((what & CTR_LOAD_TIMELINE) && !(what & CTR_LOAD_CHUNK_INDEX) &&
	     (ret = load_rows(q, pk,
			      "SELECT thread, seq, codec, raw_size, first_ns, last_ns, data "
			      "FROM chunks WHERE run = ?1 ORDER BY rowid",
			      r, row_chunk, e)) < 0) ||
	    ((what & CTR_LOAD_TIMELINE) && (what & CTR_LOAD_CHUNK_INDEX) &&
	     (ret = load_rows(q, pk,
			      "SELECT thread, seq, codec, raw_size, first_ns, last_ns, "
			      "length(data) FROM chunks WHERE run = ?1 ORDER BY rowid",
			      r, row_chunk_hdr, e)) < 0))
		goto out;
	*out = r;
	r = NULL;
out:
	if (ret < 0)
		ctr_err_ctx(e, NULL, id, -1);
	sqlite3_finalize(st);
	if (own_tx)
		sqlite3_exec(q->db, ret < 0 ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL);
	ctr_run_free(r);
	return ret;
}

/* ---- list ---- */

/* Appends the conditions of @f to a WHERE clause, its parameters numbered ?@first on (the
 * function's name is two: as written for exact names, as SQLite's GLOB for globs); returns
 * the next free number. */
static int where_sql(FILE *m, const struct ctr_filter *f, int first)
{
	int p = first;

	if (f && f->since_unix_ns)
		fprintf(m, " AND start_unix_ns >= ?%d", p++);
	if (f && f->until_unix_ns)
		fprintf(m, " AND start_unix_ns <= ?%d", p++);
	if (f && f->min_duration_ns)
		fprintf(m, " AND duration_ns >= ?%d", p++);
	if (f && f->max_duration_ns)
		fprintf(m, " AND duration_ns <= ?%d", p++);
	if (f && f->command)
		fprintf(m, " AND instr(command, ?%d) > 0", p++);
	if (f && f->host)
		fprintf(m, " AND host = ?%d", p++);
	if (f && f->function) { /* an exact name or a glob, display or linkage name */
		fprintf(m,
			" AND pk IN (SELECT run FROM functions WHERE name = ?%d "
			"UNION SELECT run FROM functions WHERE linkage_name = ?%d "
			"UNION SELECT run FROM functions WHERE name GLOB ?%d "
			"UNION SELECT run FROM functions WHERE linkage_name GLOB ?%d)",
			p, p, p + 1, p + 1);
		p += 2;
	}
	for (size_t i = 0; f && i < f->n_meta; i++, p += 2)
		fprintf(m, " AND pk IN (SELECT run FROM run_meta WHERE key = ?%d AND value = ?%d)",
			p, p + 1);
	return p;
}

/* Binds the parameters of where_sql(@f, @first) in the same order; returns the next one. */
static int where_bind(sqlite3_stmt *st, const struct ctr_filter *f, int first)
{
	int p = first;

	if (f && f->since_unix_ns)
		sqlite3_bind_int64(st, p++, f->since_unix_ns);
	if (f && f->until_unix_ns)
		sqlite3_bind_int64(st, p++, f->until_unix_ns);
	if (f && f->min_duration_ns)
		bind_u64(st, p++, f->min_duration_ns);
	if (f && f->max_duration_ns)
		bind_u64(st, p++, f->max_duration_ns);
	if (f && f->command)
		sqlite3_bind_text(st, p++, f->command, -1, SQLITE_STATIC);
	if (f && f->host)
		sqlite3_bind_text(st, p++, f->host, -1, SQLITE_STATIC);
	if (f && f->function) {
		/* fnmatch(3) writes a negated set [!...], SQLite's GLOB [^...] */
		char *g = strdup(f->function);

		for (char *c = g ? strstr(g, "[!") : NULL; c; c = strstr(c + 2, "[!"))
			c[1] = '^';
		sqlite3_bind_text(st, p++, f->function, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, p++, g ? g : f->function, -1, SQLITE_TRANSIENT);
		free(g);
	}
	for (size_t i = 0; f && i < f->n_meta; i++) {
		bind_text(st, p++, f->meta[i].key);
		bind_text(st, p++, f->meta[i].value);
	}
	return p;
}

static int sq_list(struct ctr_store *s, const struct ctr_filter *f, size_t limit, size_t offset,
		   struct ctr_run ***out, size_t *n, struct ctr_err *e)
{
	struct sq_store *q = s->priv;
	char *sql = NULL;
	size_t len = 0, nr = 0, cap = 0;
	FILE *m = open_memstream(&sql, &len);
	sqlite3_stmt *st = NULL;
	struct ctr_run **res = NULL;
	int ret = 0, rc, p;

	if (!m)
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory listing runs");
	fputs("SELECT " HDR_COLS " FROM runs WHERE 1", m);
	p = where_sql(m, f, 1);
	fprintf(m, " ORDER BY start_unix_ns DESC, id LIMIT ?%d OFFSET ?%d", p, p + 1);
	if (fclose(m) != 0 || !sql) {
		free(sql);
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory listing runs");
	}
	if ((ret = sq_prep(q, sql, &st, e)) < 0)
		goto out;
	p = where_bind(st, f, 1);
	sqlite3_bind_int64(st, p++, limit ? (sqlite3_int64)limit : -1);
	sqlite3_bind_int64(st, p++, (sqlite3_int64)offset);

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct ctr_run **slot = push((void **)&res, &nr, &cap, sizeof(*res));

		if (!slot || !(*slot = calloc(1, sizeof(**slot))) ||
		    read_header(st, 0, *slot) < 0) {
			ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory listing runs");
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		ret = sq_fail(q, e, "cannot list runs");
		goto out;
	}
	*out = res;
	*n = nr;
	res = NULL;
out:
	ctr_run_list_free(res, nr);
	sqlite3_finalize(st);
	free(sql);
	return ret;
}

/* ---- series ---- */

/* The ids of the function's rows in run r (?1 is its name), and each metric as an expression
 * over them, evaluated once per run. total() is SUM as a double: it never overflows. */
#define SQ_FN_IDS                                                                                  \
	"SELECT fn.id FROM functions fn WHERE fn.run = r.pk AND (fn.name = ?1 OR "                 \
	"(fn.linkage_name = ?1 AND fn.linkage_name <> ''))"
static const char *const sq_metric_sql[CTR_METRIC_COUNT] = {
    [CTR_METRIC_SELF] = "(SELECT total(n.self_ns) FROM nodes n WHERE n.run = r.pk AND "
			"n.function IN (" SQ_FN_IDS "))",
    [CTR_METRIC_CALLS] = "(SELECT total(n.calls) FROM nodes n WHERE n.run = r.pk AND "
			 "n.function IN (" SQ_FN_IDS "))",
    /* walk up from each of the function's nodes; a walk that meets the function again stops
     * short of the root and is not counted */
    [CTR_METRIC_TOTAL] = "(WITH RECURSIVE fs(id) AS (" SQ_FN_IDS "), up(anc, tot) AS ("
			 "SELECT n.parent, n.total_ns FROM nodes n WHERE n.run = r.pk AND "
			 "n.function IN (SELECT id FROM fs) UNION ALL SELECT p.parent, up.tot "
			 "FROM up JOIN nodes p ON p.run = r.pk AND p.id = up.anc WHERE "
			 "p.function NOT IN (SELECT id FROM fs)) "
			 "SELECT total(tot) FROM up WHERE anc IS NULL)",
    [CTR_METRIC_P99] = "(SELECT coalesce(max(fn.p99_ns), 0) FROM functions fn WHERE fn.run = r.pk "
		       "AND (fn.name = ?1 OR (fn.linkage_name = ?1 AND fn.linkage_name <> '')))",
};

struct pk_ix {
	sqlite3_int64 pk;
	size_t i;
};

static int cmp_pk(const void *a, const void *b)
{
	sqlite3_int64 x = ((const struct pk_ix *)a)->pk, y = ((const struct pk_ix *)b)->pk;

	return x < y ? -1 : x > y;
}

/* Adds the metadata pairs of the runs in @pts (pk order in @ix) from run_meta, one statement
 * for all of them. */
static int series_meta(struct sq_store *q, const struct ctr_filter *f, const struct pk_ix *ix,
		       struct ctr_series_point *pts, size_t n, struct ctr_err *e)
{
	char *sql = NULL;
	size_t len = 0, cap = 0;
	FILE *m = open_memstream(&sql, &len);
	sqlite3_stmt *st = NULL;
	struct ctr_run *cur = NULL;
	sqlite3_int64 cur_pk = -1;
	int ret = 0, rc;

	if (!m)
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading a series");
	fputs("SELECT run, key, value FROM run_meta WHERE run IN (SELECT pk FROM runs WHERE 1", m);
	where_sql(m, f, 1);
	fputs(") ORDER BY run, idx", m);
	if (fclose(m) != 0 || !sql) {
		free(sql);
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading a series");
	}
	if ((ret = sq_prep(q, sql, &st, e)) < 0)
		goto out;
	where_bind(st, f, 1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct pk_ix key = {sqlite3_column_int64(st, 0), 0}, *hit;
		struct ctr_kv *kv;
		int fail = 0;

		if (key.pk != cur_pk) {
			hit = bsearch(&key, ix, n, sizeof(*ix), cmp_pk);
			cur = hit ? pts[hit->i].run : NULL;
			cur_pk = key.pk;
			cap = 0;
		}
		if (!cur)
			continue; /* not a run of the first statement (cannot happen in one
				   * read transaction) */
		if (!(kv = push((void **)&cur->meta, &cur->n_meta, &cap, sizeof(*kv)))) {
			ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading a series");
			goto out;
		}
		kv->key = col_text(st, 1, &fail);
		kv->value = col_text(st, 2, &fail);
		if (fail) {
			ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading a series");
			goto out;
		}
	}
	if (rc != SQLITE_DONE)
		ret = sq_fail(q, e, "cannot read a series");
out:
	sqlite3_finalize(st);
	free(sql);
	return ret;
}
/* One statement for the runs and their metric, one for their metadata, in one read
 * transaction so both see the same runs. */
static int sq_series(struct ctr_store *s, const struct ctr_filter *f, const char *fn,
		     enum ctr_metric metric, struct ctr_series_point **out, size_t *n,
		     struct ctr_err *e)
{
	struct sq_store *q = s->priv;
	char *sql = NULL;
	size_t len = 0, np = 0, cap = 0, nix = 0, ixcap = 0;
	FILE *m = open_memstream(&sql, &len);
	sqlite3_stmt *st = NULL;
	struct ctr_series_point *pts = NULL;
	struct pk_ix *ix = NULL, *k;
	int ret = 0, rc, own_tx = 0;

	if (!m)
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading a series");
	fprintf(m, "SELECT pk, " HDR_COLS ", %s FROM runs r WHERE 1", sq_metric_sql[metric]);
	where_sql(m, f, 2);
	fputs(" ORDER BY start_unix_ns, id DESC", m);
	if (fclose(m) != 0 || !sql) {
		free(sql);
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading a series");
	}
	if (!q->in_tx) {
		if ((ret = sq_exec(q, "BEGIN", e, "cannot read a series")) < 0)
			goto out;
		own_tx = 1;
	}
	if ((ret = sq_prep(q, sql, &st, e)) < 0)
		goto out;
	sqlite3_bind_text(st, 1, fn, -1, SQLITE_STATIC);
	where_bind(st, f, 2);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct ctr_series_point *pt = push((void **)&pts, &np, &cap, sizeof(*pts));

		if (!pt || !(k = push((void **)&ix, &nix, &ixcap, sizeof(*ix))) ||
		    !(pt->run = calloc(1, sizeof(*pt->run))) || read_header(st, 1, pt->run) < 0) {
			ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading a series");
			goto out;
		}
		pt->value = sqlite3_column_double(st, 16);
		k->pk = sqlite3_column_int64(st, 0);
		k->i = np - 1;
	}
	if (rc != SQLITE_DONE) {
		ret = sq_fail(q, e, "cannot read a series");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (np) {
		qsort(ix, nix, sizeof(*ix), cmp_pk);
		if ((ret = series_meta(q, f, ix, pts, np, e)) < 0)
			goto out;
	}
	*out = pts;
	*n = np;
	pts = NULL;
out:
	ctr_series_free(pts, np);
	free(ix);
	sqlite3_finalize(st);
	free(sql);
	if (own_tx)
		sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL);
	return ret;
}

/* ---- remove ---- */

static int sq_remove(struct ctr_store *s, const char *id, struct ctr_err *e)
{
	struct sq_store *q = s->priv;
	sqlite3_stmt *st = NULL;
	sqlite3_int64 pk;
	char sql[96];
	int ret, rc;

	if ((ret = sq_exec(q, "BEGIN IMMEDIATE", e, "cannot start a transaction")) < 0)
		return ret;
	if ((ret = sq_prep(q, "SELECT pk FROM runs WHERE id = ?1", &st, e)) < 0)
		goto fail;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		ret = ctr_err_set(e, CTR_ENOTFOUND, 0, "no run '%s' in store '%s'", id, q->path);
		goto fail;
	}
	if (rc != SQLITE_ROW) {
		ret = sq_fail(q, e, "cannot remove a run");
		goto fail;
	}
	pk = sqlite3_column_int64(st, 0);
	for (size_t i = 0; i <= sizeof(child_tables) / sizeof(child_tables[0]); i++) {
		sqlite3_finalize(st);
		st = NULL;
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE %s = ?1",
			 i < sizeof(child_tables) / sizeof(child_tables[0]) ? child_tables[i]
									    : "runs",
			 i < sizeof(child_tables) / sizeof(child_tables[0]) ? "run" : "pk");
		if ((ret = sq_prep(q, sql, &st, e)) < 0)
			goto fail;
		sqlite3_bind_int64(st, 1, pk);
		if (sqlite3_step(st) != SQLITE_DONE) {
			ret = sq_fail(q, e, "cannot remove a run");
			goto fail;
		}
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((ret = sq_exec(q, "COMMIT", e, "cannot remove a run")) < 0)
		goto fail;
	return 0;
fail:
	ctr_err_ctx(e, NULL, id, -1);
	sqlite3_finalize(st);
	sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	return ret;
}

/* One chunk, by the (run, thread, seq) unique index. */
static int sq_load_chunk(struct ctr_store *s, const char *id, uint32_t thread, uint32_t seq,
			 struct ctr_chunk *out, struct ctr_err *e)
{
	struct sq_store *q = s->priv;
	sqlite3_stmt *st = NULL;
	const void *blob;
	int ret, rc, size;

	if ((ret =
		 sq_prep(q,
			 "SELECT c.codec, c.raw_size, c.first_ns, c.last_ns, c.data FROM chunks c "
			 "JOIN runs r ON r.pk = c.run WHERE r.id = ?1 AND c.thread = ?2 AND "
			 "c.seq = ?3",
			 &st, e)) < 0)
		return ret;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, thread);
	sqlite3_bind_int64(st, 3, seq);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		ret = CTR_ENOTFOUND; /* the end of the thread's timeline: no message */
		goto out;
	}
	if (rc != SQLITE_ROW) {
		ret = sq_fail(q, e, "cannot load a timeline chunk");
		goto out;
	}
	out->thread = thread;
	out->seq = seq;
	out->codec = (uint32_t)sqlite3_column_int64(st, 0);
	out->raw_size = col_u64(st, 1);
	out->first_ns = col_u64(st, 2);
	out->last_ns = col_u64(st, 3);
	blob = sqlite3_column_blob(st, 4);
	size = sqlite3_column_bytes(st, 4);
	if (blob && size > 0) {
		if (!(out->data = malloc((size_t)size))) {
			ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory loading run '%s'", id);
			goto out;
		}
		memcpy(out->data, blob, (size_t)size);
		out->size = (size_t)size;
	}
out:
	sqlite3_finalize(st);
	return ret;
}

static int sq_load_meta(struct ctr_store *s, const char *id, struct ctr_run *r, struct ctr_err *e)
{
	struct sq_store *q = s->priv;
	sqlite3_stmt *st = NULL;
	sqlite3_int64 pk;
	int ret, rc;

	if ((ret = sq_prep(q, "SELECT pk FROM runs WHERE id = ?1", &st, e)) < 0)
		return ret;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	pk = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return ctr_err_set(e, CTR_ENOTFOUND, 0, "no run '%s' in store '%s'", id, q->path);
	if (rc != SQLITE_ROW)
		return sq_fail(q, e, "cannot load a run");
	return load_rows(q, pk, "SELECT key, value FROM run_meta WHERE run = ?1 ORDER BY idx", r,
			 row_meta, e);
}

static int sq_save_aux(struct ctr_store *s, const char *id, const char *name,
		       const unsigned char *data, size_t size, struct ctr_err *e)
{
	struct sq_store *q = s->priv;
	sqlite3_stmt *st = NULL;
	int ret;

	if (size > INT_MAX)
		return ctr_err_set(e, CTR_ESTORE, 0, "side record '%s' of run '%s' too large", name,
				   id);
	if ((ret = sq_prep(q,
			   "INSERT OR REPLACE INTO run_aux(run, name, data) "
			   "SELECT pk, ?2, ?3 FROM runs WHERE id = ?1",
			   &st, e)) < 0)
		return ret;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, data, (int)size, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		ret = sq_fail(q, e, "cannot save a side record");
	else if (!sqlite3_changes(q->db))
		ret = ctr_err_set(e, CTR_ENOTFOUND, 0, "no run '%s' in store '%s'", id, q->path);
	sqlite3_finalize(st);
	return ret;
}

static int sq_load_aux(struct ctr_store *s, const char *id, const char *name, unsigned char **data,
		       size_t *size, struct ctr_err *e)
{
	struct sq_store *q = s->priv;
	sqlite3_stmt *st = NULL;
	const void *blob;
	int ret = 0, rc, n;

	/* a read-only store of schema 3 has no run_aux table: nothing saved */
	if (sqlite3_prepare_v2(q->db,
			       "SELECT a.data FROM run_aux a JOIN runs r ON r.pk = a.run "
			       "WHERE r.id = ?1 AND a.name = ?2",
			       -1, &st, NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		return CTR_ENOTFOUND;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		ret = CTR_ENOTFOUND;
	} else if (rc != SQLITE_ROW) {
		ret = sq_fail(q, e, "cannot load a side record");
	} else {
		blob = sqlite3_column_blob(st, 0);
		n = sqlite3_column_bytes(st, 0);
		if (!(*data = malloc(n > 0 ? (size_t)n : 1)))
			ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory loading run '%s'", id);
		else if (n > 0)
			memcpy(*data, blob, (size_t)n);
		*size = *data && n > 0 ? (size_t)n : 0;
	}
	sqlite3_finalize(st);
	return ret;
}

const struct ctr_store_ops ctr_store_sqlite = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .save_begin = sq_save_begin,
    .save_chunk = sq_save_chunk,
    .save_end = sq_save_end,
    .save_abort = sq_save_abort,
    .load = sq_load,
    .list = sq_list,
    .remove = sq_remove,
    .series = sq_series,
    .load_chunk = sq_load_chunk,
    .load_meta = sq_load_meta,
    .save_aux = sq_save_aux,
    .load_aux = sq_load_aux,
};
