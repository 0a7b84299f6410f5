/* SPDX-License-Identifier: MIT */
/*
 * PostgreSQL store backend ("postgresql://..." or "postgres://...", libpq's own URI syntax, so
 * PGPASSFILE, PGSERVICE and the PG* variables work as usual). A team shares one database: every
 * table lives in the schema "ctrace" (docs/store.md), versioned in ctrace.schema_version and
 * created or upgraded under an advisory lock by whichever process opens it first. A save is one
 * transaction: the runs row is inserted with ON CONFLICT (id) DO NOTHING, so concurrent commits
 * of one run id wait for each other and only the first stores it; a killed client's transaction
 * is rolled back by the server. Chunks go as binary bytea parameters, the other rows by COPY.
 * The connection target is shown as user@host:port/db only: passwords never reach messages.
 */
#include "runjson.h"
#include "store-int.h"

#include "../common/dynlib.h"
#include "../common/grow.h"

#include <endian.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * libpq is opened on the first PostgreSQL store rather than linked: its dependency chain
 * (OpenSSL, Kerberos, LDAP, GnuTLS: 20 libraries) cost every ctrace command, SQLite ones
 * included, about 12 ms of process start-up (docs/performance.md). The functions used are
 * listed once; below the #defines the file calls them by their usual names.
 */
#define PQ_FUNCS(X)                                                                                \
	X(PQconnectdbParams)                                                                       \
	X(PQstatus)                                                                                \
	X(PQerrorMessage)                                                                          \
	X(PQfinish)                                                                                \
	X(PQuser)                                                                                  \
	X(PQhost)                                                                                  \
	X(PQport)                                                                                  \
	X(PQdb)                                                                                    \
	X(PQpass)                                                                                  \
	X(PQsetNoticeReceiver)                                                                     \
	X(PQexec)                                                                                  \
	X(PQexecParams)                                                                            \
	X(PQprepare)                                                                               \
	X(PQexecPrepared)                                                                          \
	X(PQresultStatus)                                                                          \
	X(PQresultErrorMessage)                                                                    \
	X(PQresultErrorField)                                                                      \
	X(PQntuples)                                                                               \
	X(PQgetvalue)                                                                              \
	X(PQgetisnull)                                                                             \
	X(PQgetlength)                                                                             \
	X(PQcmdTuples)                                                                             \
	X(PQclear)                                                                                 \
	X(PQputCopyData)                                                                           \
	X(PQputCopyEnd)                                                                            \
	X(PQgetResult)                                                                             \
	X(PQsendQueryParams)                                                                       \
	X(PQsetSingleRowMode)                                                                      \
	X(PQunescapeBytea)                                                                         \
	X(PQfreemem)

static struct {
#define X(f) __typeof__(f) *f;
	PQ_FUNCS(X)
#undef X
} pq;
static const struct ctr_dynsym pq_syms[] = {
#define X(f) CTR_DYNSYM(pq, f)
    PQ_FUNCS(X)
#undef X
};
static struct ctr_dynlib pq_lib = CTR_DYNLIB_INIT("libpq.so.5", pq_syms);

/* 0 when libpq is loaded (once per process, thread-safe); else CTR_ESTORE naming the
 * Debian package that has it. */
static int pq_load(struct ctr_err *e)
{
	if (ctr_dynlib_load(&pq_lib) == 0)
		return 0;
	return ctr_err_set(e, CTR_ESTORE, 0,
			   "PostgreSQL stores need libpq (Debian package libpq5): %s", pq_lib.why);
}

#define PQconnectdbParams pq.PQconnectdbParams
#define PQstatus pq.PQstatus
#define PQerrorMessage pq.PQerrorMessage
#define PQfinish pq.PQfinish
#define PQuser pq.PQuser
#define PQhost pq.PQhost
#define PQport pq.PQport
#define PQdb pq.PQdb
#define PQpass pq.PQpass
#define PQsetNoticeReceiver pq.PQsetNoticeReceiver
#define PQexec pq.PQexec
#define PQexecParams pq.PQexecParams
#define PQprepare pq.PQprepare
#define PQexecPrepared pq.PQexecPrepared
#define PQresultStatus pq.PQresultStatus
#define PQresultErrorMessage pq.PQresultErrorMessage
#define PQresultErrorField pq.PQresultErrorField
#define PQntuples pq.PQntuples
#define PQgetvalue pq.PQgetvalue
#define PQgetisnull pq.PQgetisnull
#define PQgetlength pq.PQgetlength
#define PQcmdTuples pq.PQcmdTuples
#define PQclear pq.PQclear
#define PQunescapeBytea pq.PQunescapeBytea
#define PQfreemem pq.PQfreemem
#define PQputCopyData pq.PQputCopyData
#define PQputCopyEnd pq.PQputCopyEnd
#define PQgetResult pq.PQgetResult
#define PQsendQueryParams pq.PQsendQueryParams
#define PQsetSingleRowMode pq.PQsetSingleRowMode

/* pg_advisory_xact_lock key serializing schema creation and upgrades ("ctrace" in ASCII). */
#define PG_SCHEMA_LOCK 0x637472616365LL
#define PG_COPY_FLUSH (1u << 20)

/*
 * Migrations: step i takes the schema from version i to i + 1. Append new steps; never edit a
 * released one. A database whose version is above the number of steps was written by a newer
 * ctrace and is refused with CTR_EVERSION.
 */
static const char *const migrations[] = {
    /* 0 -> 1: the first schema */
    "CREATE TABLE ctrace.runs ("
    " pk bigserial PRIMARY KEY,"
    " id text COLLATE \"C\" NOT NULL UNIQUE,"
    " command text, host text, cwd text,"
    " start_unix_ns bigint NOT NULL, duration_ns bigint NOT NULL,"
    " exit_status integer NOT NULL, signal integer NOT NULL, crashed boolean NOT NULL,"
    " events bigint NOT NULL, lost_events bigint NOT NULL,"
    " clock text, ticks_per_sec bigint NOT NULL,"
    " overhead_inner_ns double precision NOT NULL, overhead_call_ns double precision NOT NULL,"
    " metadata jsonb NOT NULL DEFAULT '{}');"
    "CREATE INDEX runs_start ON ctrace.runs (start_unix_ns DESC, id);"
    "CREATE INDEX runs_host ON ctrace.runs (host);"
    "CREATE INDEX runs_metadata ON ctrace.runs USING gin (metadata jsonb_path_ops);"
    "CREATE TABLE ctrace.run_meta ("
    " run bigint NOT NULL REFERENCES ctrace.runs (pk) ON DELETE CASCADE,"
    " idx integer NOT NULL, key text, value text, PRIMARY KEY (run, idx));"
    "CREATE TABLE ctrace.processes ("
    " run bigint NOT NULL REFERENCES ctrace.runs (pk) ON DELETE CASCADE,"
    " idx integer NOT NULL, pid integer NOT NULL, ppid integer NOT NULL, gen bigint NOT NULL,"
    " exe text, command text, exit_status integer NOT NULL, signal integer NOT NULL,"
    " crashed boolean NOT NULL, backtrace text, PRIMARY KEY (run, idx));"
    "CREATE TABLE ctrace.modules ("
    " run bigint NOT NULL REFERENCES ctrace.runs (pk) ON DELETE CASCADE,"
    " id bigint NOT NULL, path text, build_id text, base bigint NOT NULL,"
    " PRIMARY KEY (run, id));"
    "CREATE TABLE ctrace.functions ("
    " run bigint NOT NULL REFERENCES ctrace.runs (pk) ON DELETE CASCADE,"
    " id bigint NOT NULL, kind integer NOT NULL, name text, linkage_name text, file text,"
    " line bigint NOT NULL, module bigint, \"offset\" bigint NOT NULL, PRIMARY KEY (run, id));"
    "CREATE INDEX functions_name ON ctrace.functions (name, run);"
    "CREATE INDEX functions_linkage ON ctrace.functions (linkage_name, run);"
    "CREATE TABLE ctrace.threads ("
    " run bigint NOT NULL REFERENCES ctrace.runs (pk) ON DELETE CASCADE,"
    " id bigint NOT NULL, pid integer NOT NULL, tid integer NOT NULL, name text,"
    " start_ns bigint NOT NULL, end_ns bigint NOT NULL, events bigint NOT NULL,"
    " lost bigint NOT NULL, PRIMARY KEY (run, id));"
    "CREATE TABLE ctrace.nodes ("
    " run bigint NOT NULL REFERENCES ctrace.runs (pk) ON DELETE CASCADE,"
    " id bigint NOT NULL, parent bigint, thread bigint NOT NULL, function bigint NOT NULL,"
    " calls bigint NOT NULL, total_ns bigint NOT NULL, self_ns bigint NOT NULL,"
    " min_ns bigint NOT NULL, max_ns bigint NOT NULL, raw_total_ns bigint NOT NULL,"
    " raw_self_ns bigint NOT NULL, raw_min_ns bigint NOT NULL, raw_max_ns bigint NOT NULL,"
    " PRIMARY KEY (run, id));"
    "CREATE TABLE ctrace.attrs ("
    " run bigint NOT NULL REFERENCES ctrace.runs (pk) ON DELETE CASCADE,"
    " idx integer NOT NULL, node bigint NOT NULL, key text, value text, count bigint NOT NULL,"
    " PRIMARY KEY (run, idx));"
    "CREATE TABLE ctrace.chunks ("
    " run bigint NOT NULL REFERENCES ctrace.runs (pk) ON DELETE CASCADE,"
    " idx integer NOT NULL, thread bigint NOT NULL, seq bigint NOT NULL,"
    " codec integer NOT NULL, raw_size bigint NOT NULL, first_ns bigint NOT NULL,"
    " last_ns bigint NOT NULL, data bytea NOT NULL,"
    " PRIMARY KEY (run, idx), UNIQUE (run, thread, seq));",
    /* 1 -> 2: latency percentiles and histograms (common/hist.h blobs) */
    "ALTER TABLE ctrace.functions ADD COLUMN p50_ns bigint NOT NULL DEFAULT 0,"
    " ADD COLUMN p90_ns bigint NOT NULL DEFAULT 0, ADD COLUMN p99_ns bigint NOT NULL DEFAULT 0,"
    " ADD COLUMN p999_ns bigint NOT NULL DEFAULT 0, ADD COLUMN hist bytea;"
    "ALTER TABLE ctrace.nodes ADD COLUMN p50_ns bigint NOT NULL DEFAULT 0,"
    " ADD COLUMN p90_ns bigint NOT NULL DEFAULT 0, ADD COLUMN p99_ns bigint NOT NULL DEFAULT 0,"
    " ADD COLUMN p999_ns bigint NOT NULL DEFAULT 0, ADD COLUMN hist bytea;",
    /* 2 -> 3: off-CPU time (ctrace record --sched) */
    "ALTER TABLE ctrace.nodes ADD COLUMN offcpu_ns bigint NOT NULL DEFAULT 0,"
    " ADD COLUMN preempt_ns bigint NOT NULL DEFAULT 0;",
    /* 3 -> 4: when each module was loaded and unloaded (dlopen, dlclose) */
    "ALTER TABLE ctrace.modules ADD COLUMN loaded_ns bigint NOT NULL DEFAULT 0,"
    " ADD COLUMN unloaded_ns bigint NOT NULL DEFAULT -1;",
    /* 4 -> 5: side records of a run (the timeline index built at commit) */
    "CREATE TABLE IF NOT EXISTS ctrace.run_aux ("
    " run bigint NOT NULL REFERENCES ctrace.runs (pk) ON DELETE CASCADE,"
    " name text NOT NULL, data bytea NOT NULL, PRIMARY KEY (run, name));",
    /* 5 -> 6: calls left out of min/max and the percentiles (--sched: preempted, stalled) */
    "ALTER TABLE ctrace.nodes ADD COLUMN preempted_calls bigint NOT NULL DEFAULT 0;",
};

#define PG_SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

struct pg_store {
	PGconn *db;
	char *target;	 /* postgresql://user@host:port/db, for messages */
	char *secret[2]; /* password forms to scrub from server messages */
	int in_tx;	 /* a save transaction is open */
	long long save_pk;
	char save_id[CTR_RUN_ID_MAX];
	int n_chunks; /* chunks saved in this transaction */
	int prepared; /* the chunk insert is prepared on this connection */
};

/* ---- messages ---- */

/* Copies libpq's message for @q into @out without its trailing newline and with any form of
 * the password replaced by "***". */
static void pg_msg(const struct pg_store *q, const char *msg, char *out, size_t n)
{
	size_t len;

	snprintf(out, n, "%s", msg && *msg ? msg : "unknown error");
	for (int i = 0; i < 2; i++) {
		const char *pw = q->secret[i];
		char *hit;

		while (pw && *pw && (hit = strstr(out, pw))) {
			size_t pl = strlen(pw);

			memmove(hit + 3, hit + pl, strlen(hit + pl) + 1);
			memcpy(hit, "***", 3);
		}
	}
	len = strlen(out);
	while (len && (out[len - 1] == '\n' || out[len - 1] == ' '))
		out[--len] = '\0';
	/* one line: libpq's "\n\t" continuation becomes one space */
	char *d = out;
	for (char *p = out; *p; p++) {
		char ch = *p == '\n' || *p == '\t' ? ' ' : *p;

		if (ch != ' ' || d == out || d[-1] != ' ')
			*d++ = ch;
	}
	*d = '\0';
}

static int pg_fail_msg(struct pg_store *q, struct ctr_err *e, const char *what, const char *msg)
{
	char buf[512];

	pg_msg(q, msg, buf, sizeof(buf));
	return ctr_err_set(e, CTR_ESTORE, 0, "%s in store '%s': %s", what, q->target, buf);
}

static int pg_fail(struct pg_store *q, struct ctr_err *e, const char *what, PGresult *res)
{
	const char *msg = res ? PQresultErrorMessage(res) : NULL;

	return pg_fail_msg(q, e, what, msg && *msg ? msg : PQerrorMessage(q->db));
}

/* Runs @sql (no parameters); 0 if it returned @want. */
static int pg_exec(struct pg_store *q, const char *sql, ExecStatusType want, struct ctr_err *e,
		   const char *what)
{
	PGresult *res = PQexec(q->db, sql);
	int ret = 0;

	if (PQresultStatus(res) != want)
		ret = pg_fail(q, e, what, res);
	PQclear(res);
	return ret;
}

/* ---- parameters ---- */

#define PP_MAX 24

/* Text parameters (and binary ones for bytea) for PQexecParams; strings that are not valid
 * UTF-8 are sent with U+FFFD in place of the bad bytes. */
struct pgp {
	const char *v[PP_MAX];
	int len[PP_MAX], fmt[PP_MAX];
	char num[PP_MAX][32];
	char *own[PP_MAX];
	int n, fail;
};

static void pp_str(struct pgp *p, const char *s)
{
	p->v[p->n] = s;
	if (s && !ctr_utf8_valid(s)) {
		p->own[p->n] = ctr_utf8_sanitize(s);
		p->v[p->n] = p->own[p->n];
		if (!p->own[p->n])
			p->fail = 1;
	}
	p->n++;
}

static void pp_i64(struct pgp *p, int64_t v)
{
	snprintf(p->num[p->n], sizeof(p->num[p->n]), "%lld", (long long)v);
	p->v[p->n] = p->num[p->n];
	p->n++;
}

static void pp_dbl(struct pgp *p, double v)
{
	if (isnan(v))
		snprintf(p->num[p->n], sizeof(p->num[p->n]), "NaN");
	else if (isinf(v))
		snprintf(p->num[p->n], sizeof(p->num[p->n]), v > 0 ? "Infinity" : "-Infinity");
	else
		snprintf(p->num[p->n], sizeof(p->num[p->n]), "%.17g", v);
	p->v[p->n] = p->num[p->n];
	p->n++;
}

static void pp_bin(struct pgp *p, const void *data, size_t size)
{
	p->v[p->n] = size ? data : "";
	p->len[p->n] = (int)size;
	p->fmt[p->n] = 1;
	p->n++;
}

static void pp_release(struct pgp *p)
{
	for (int i = 0; i < p->n; i++)
		free(p->own[i]);
}

/* Runs @sql with the parameters of @p (released here); the result, or NULL if @p failed. */
static PGresult *pp_exec(struct pg_store *q, const char *sql, struct pgp *p, int binary_result)
{
	PGresult *res = NULL;

	if (!p->fail)
		res = PQexecParams(q->db, sql, p->n, NULL, p->v, p->len, p->fmt, binary_result);
	pp_release(p);
	return res;
}

/* Runs @sql with the parameters of @p (released here) in single-row mode: @row gets each row
 * (a PGRES_SINGLE_TUPLE result, row 0) as it arrives, so libpq never holds the whole answer
 * (for a list of 10,000 runs that was 3 MiB, each page a fault). 0, @row's error, or
 * CTR_ESTORE / CTR_ENOMEM naming @what. */
static int pp_rows(struct pg_store *q, const char *sql, struct pgp *p, const char *what,
		   int (*row)(void *arg, const PGresult *r, struct ctr_err *e), void *arg,
		   struct ctr_err *e)
{
	int fail = p->fail, sent = 0, ret = 0;
	PGresult *res;

	if (!fail)
		sent = PQsendQueryParams(q->db, sql, p->n, NULL, p->v, p->len, p->fmt, 0);
	pp_release(p);
	if (fail)
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory: %s", what);
	if (!sent)
		return pg_fail_msg(q, e, what, PQerrorMessage(q->db));
	PQsetSingleRowMode(q->db);
	while ((res = PQgetResult(q->db)) != NULL) { /* to the end, even after an error */
		ExecStatusType st = PQresultStatus(res);

		if (ret == 0 && st == PGRES_SINGLE_TUPLE)
			ret = row(arg, res, e);
		else if (ret == 0 && st != PGRES_TUPLES_OK)
			ret = pg_fail(q, e, what, res);
		PQclear(res);
	}
	return ret;
}

/* ---- reading text results ---- */

static int64_t g_i64(const PGresult *r, int row, int col)
{
	return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static uint64_t g_u64(const PGresult *r, int row, int col)
{
	return (uint64_t)g_i64(r, row, col);
}

static uint32_t g_ref(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? CTR_NONE : (uint32_t)g_i64(r, row, col);
}

static int g_bool(const PGresult *r, int row, int col)
{
	return PQgetvalue(r, row, col)[0] == 't';
}

static char *g_str(const PGresult *r, int row, int col, int *fail)
{
	if (PQgetisnull(r, row, col))
		return NULL;
	return ctr_store_strdup(PQgetvalue(r, row, col), fail);
}

/* ---- open / close ---- */

/* Remembers the password forms of @conn (the URI's user:password@ part, a password= query
 * parameter, and what libpq resolved) so that no message can show them. */
static void pg_note_secrets(struct pg_store *q, const char *conn)
{
	const char *a = strstr(conn, "://"), *end, *at, *colon, *pw;

	if (a) {
		a += 3;
		end = a + strcspn(a, "/?");
		at = memchr(a, '@', (size_t)(end - a));
		colon = at ? memchr(a, ':', (size_t)(at - a)) : NULL;
		if (colon && at > colon + 1)
			q->secret[0] = strndup(colon + 1, (size_t)(at - colon - 1));
	}
	if (!q->secret[0] && (pw = strstr(conn, "password=")) != NULL && pw[9])
		q->secret[0] = strndup(pw + 9, strcspn(pw + 9, "& "));
	pw = q->db ? PQpass(q->db) : NULL;
	if (pw && *pw)
		q->secret[1] = strdup(pw);
}

/* postgresql://user@host:port/db of the connection, whether or not it succeeded. */
static char *pg_target(PGconn *db)
{
	const char *u = db ? PQuser(db) : NULL, *h = db ? PQhost(db) : NULL,
		   *p = db ? PQport(db) : NULL, *d = db ? PQdb(db) : NULL;
	char *t = NULL;

	if (asprintf(&t, "postgresql://%s@%s:%s/%s", u && *u ? u : "?", h && *h ? h : "localhost",
		     p && *p ? p : "5432", d && *d ? d : "?") < 0)
		return NULL;
	return t;
}

static int pg_migrate(struct pg_store *q, struct ctr_err *e)
{
	PGresult *res;
	char sql[128];
	int v = 0, ret;

	if ((ret = pg_exec(q, "BEGIN", PGRES_COMMAND_OK, e, "cannot start a transaction")) < 0)
		return ret;
	/* jit: the check's SET was rolled back with its failed SELECT (one implicit transaction) */
	snprintf(sql, sizeof(sql), "SET jit = off; SELECT pg_advisory_xact_lock(%lld)",
		 PG_SCHEMA_LOCK);
	if ((ret = pg_exec(q, sql, PGRES_TUPLES_OK, e, "cannot lock the schema")) < 0 ||
	    (ret = pg_exec(q,
			   "CREATE SCHEMA IF NOT EXISTS ctrace;"
			   "CREATE TABLE IF NOT EXISTS ctrace.schema_version (version integer "
			   "NOT NULL)",
			   PGRES_COMMAND_OK, e, "cannot create the schema")) < 0)
		goto rollback;
	res = PQexec(q->db, "SELECT max(version) FROM ctrace.schema_version");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		ret = pg_fail(q, e, "cannot read the schema version", res);
		PQclear(res);
		goto rollback;
	}
	v = PQgetisnull(res, 0, 0) ? 0 : (int)g_i64(res, 0, 0);
	PQclear(res);
	if (v > PG_SCHEMA_VERSION) {
		ret = ctr_err_set(e, CTR_EVERSION, 0,
				  "store '%s' has schema version %d, newer than this ctrace "
				  "supports (%d): upgrade ctrace",
				  q->target, v, PG_SCHEMA_VERSION);
		goto rollback;
	}
	for (; v < PG_SCHEMA_VERSION; v++)
		if ((ret = pg_exec(q, migrations[v], PGRES_COMMAND_OK, e,
				   "cannot upgrade the schema")) < 0)
			goto rollback;
	snprintf(sql, sizeof(sql),
		 "DELETE FROM ctrace.schema_version; INSERT INTO ctrace.schema_version VALUES (%d)",
		 v);
	if ((ret = pg_exec(q, sql, PGRES_COMMAND_OK, e, "cannot upgrade the schema")) < 0 ||
	    (ret = pg_exec(q, "COMMIT", PGRES_COMMAND_OK, e, "cannot upgrade the schema")) < 0)
		goto rollback;
	return 0;
rollback:
	PQclear(PQexec(q->db, "ROLLBACK"));
	return ret;
}

/* 0 when the schema is already at this version (the common case: no lock taken, one round
 * trip). The table has one row (pg_migrate() replaces it); reading it plainly rather than with
 * max() spares the server the aggregate's catalog lookups and planning in a fresh backend (1.2
 * ms of every command, docs/performance.md). Anything else (no table, no row, several rows,
 * another version) is left to pg_migrate(), which decides under the lock. The same round trip
 * turns JIT compilation off for the session: ctrace's statements are short, and a trend's
 * per-run subqueries cost enough to trigger it (0.3 s of compiling for a 20 ms query). */
static int pg_schema_current(struct pg_store *q)
{
	PGresult *res = PQexec(q->db, "SET jit = off; SELECT version FROM ctrace.schema_version");
	int ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		 !PQgetisnull(res, 0, 0) && g_i64(res, 0, 0) == PG_SCHEMA_VERSION;

	PQclear(res);
	return ok ? 0 : -1;
}

/* Server notices below WARNING (the NOTICEs of CREATE ... IF NOT EXISTS while migrating) are
 * dropped here rather than by a SET on each connection, a round trip every command paid;
 * warnings are printed as libpq's default receiver would, without any password. */
static void pg_notice(void *arg, const PGresult *res)
{
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	char buf[512];

	if (!sev || !strcmp(sev, "NOTICE") || !strcmp(sev, "INFO") || !strcmp(sev, "LOG") ||
	    !strncmp(sev, "DEBUG", 5))
		return;
	pg_msg(arg, PQresultErrorMessage(res), buf, sizeof(buf));
	fprintf(stderr, "%s\n", buf);
}

static void pg_close(struct ctr_store *s)
{
	struct pg_store *q = s->priv;

	if (!q)
		return;
	if (q->db)
		PQfinish(q->db);
	free(q->target);
	free(q->secret[0]);
	free(q->secret[1]);
	free(q);
	s->priv = NULL;
}

static int pg_open(struct ctr_store *s, const char *conn, struct ctr_err *e)
{
	static const char *const keys[] = {"dbname", "client_encoding", "fallback_application_name",
					   NULL};
	const char *vals[] = {conn, "UTF8", "ctrace", NULL};
	struct pg_store *q = calloc(1, sizeof(*q));
	int ret;

	if (!q)
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory opening a store");
	s->priv = q;
	if ((ret = pq_load(e)) < 0) {
		ctr_err_ctx(e, "postgresql", NULL, -1); /* s->conn may hold a password */
		pg_close(s);
		return ret;
	}
	q->db = PQconnectdbParams(keys, vals, 1);
	pg_note_secrets(q, conn);
	q->target = pg_target(q->db);
	if (!q->db || !q->target) {
		ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory opening a store");
		goto fail;
	}
	/* Messages about this store name the target, never the string with its password. */
	free(s->conn);
	if (!(s->conn = strdup(q->target))) {
		ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory opening a store");
		goto fail;
	}
	if (PQstatus(q->db) != CONNECTION_OK) {
		char msg[512];

		pg_msg(q, PQerrorMessage(q->db), msg, sizeof(msg));
		ret = ctr_err_set(e, CTR_ESTORE, 0, "cannot connect to store '%s': %s", q->target,
				  msg);
		goto fail;
	}
	PQsetNoticeReceiver(q->db, pg_notice, q);
	if (pg_schema_current(q) < 0 && (ret = pg_migrate(q, e)) < 0)
		goto fail;
	return 0;
fail:
	ctr_err_ctx(e, s->conn ? s->conn : "postgresql", NULL, -1);
	pg_close(s);
	return ret;
}

/* ---- save ---- */

#define HDR_COLS                                                                                   \
	"id, command, host, cwd, start_unix_ns, duration_ns, exit_status, signal, crashed, "       \
	"events, lost_events, clock, ticks_per_sec, overhead_inner_ns, overhead_call_ns"
#define HDR_PARAMS "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15"

static void pp_header(struct pgp *p, const struct ctr_run *r)
{
	pp_str(p, r->id);
	pp_str(p, r->command);
	pp_str(p, r->host);
	pp_str(p, r->cwd);
	pp_i64(p, r->start_unix_ns);
	pp_i64(p, (int64_t)r->duration_ns);
	pp_i64(p, r->exit_status);
	pp_i64(p, r->signal);
	pp_str(p, r->crashed ? "t" : "f");
	pp_i64(p, (int64_t)r->events);
	pp_i64(p, (int64_t)r->lost_events);
	pp_str(p, r->clock);
	pp_i64(p, (int64_t)r->ticks_per_sec);
	pp_dbl(p, r->overhead_inner_ns);
	pp_dbl(p, r->overhead_call_ns);
}

/* Reads the header columns (HDR_COLS order, from column @c) of row @row into @r. */
static int read_header(const PGresult *res, int row, int c, struct ctr_run *r)
{
	int fail = 0;

	snprintf(r->id, sizeof(r->id), "%s", PQgetvalue(res, row, c++));
	r->command = g_str(res, row, c++, &fail);
	r->host = g_str(res, row, c++, &fail);
	r->cwd = g_str(res, row, c++, &fail);
	r->start_unix_ns = g_i64(res, row, c++);
	r->duration_ns = g_u64(res, row, c++);
	r->exit_status = (int)g_i64(res, row, c++);
	r->signal = (int)g_i64(res, row, c++);
	r->crashed = g_bool(res, row, c++);
	r->events = g_u64(res, row, c++);
	r->lost_events = g_u64(res, row, c++);
	r->clock = g_str(res, row, c++, &fail);
	r->ticks_per_sec = g_u64(res, row, c++);
	r->overhead_inner_ns = strtod(PQgetvalue(res, row, c++), NULL);
	r->overhead_call_ns = strtod(PQgetvalue(res, row, c++), NULL);
	return fail ? CTR_ENOMEM : 0;
}

static void pg_save_abort(struct ctr_store *s)
{
	struct pg_store *q = s->priv;

	if (q->in_tx)
		PQclear(PQexec(q->db, "ROLLBACK"));
	q->in_tx = 0;
	q->save_id[0] = '\0';
}

static int pg_save_begin(struct ctr_store *s, const struct ctr_run *hdr, struct ctr_err *e)
{
	struct pg_store *q = s->priv;
	struct pgp p = {0};
	PGresult *res;
	int ret;

	if ((ret = pg_exec(q, "BEGIN", PGRES_COMMAND_OK, e, "cannot start a transaction")) < 0)
		return ret;
	q->in_tx = 1;
	/* A concurrent save of the same id holds its row: this insert waits for it to commit
	 * (then inserts nothing) or to roll back (then inserts). */
	pp_header(&p, hdr);
	res = pp_exec(q,
		      "INSERT INTO ctrace.runs (" HDR_COLS ") VALUES (" HDR_PARAMS ") "
		      "ON CONFLICT (id) DO NOTHING RETURNING pk",
		      &p, 0);
	if (!res) {
		ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory saving run '%s'", hdr->id);
		goto fail;
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		ret = pg_fail(q, e, "cannot save a run", res);
		PQclear(res);
		goto fail;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		ret = ctr_err_set(e, CTR_EEXIST, 0, "run '%s' is already in store '%s'", hdr->id,
				  q->target);
		goto fail;
	}
	q->save_pk = g_i64(res, 0, 0);
	PQclear(res);
	snprintf(q->save_id, sizeof(q->save_id), "%s", hdr->id);
	q->n_chunks = 0;
	if (!q->prepared) {
		res =
		    PQprepare(q->db, "ctr_chunk",
			      "INSERT INTO ctrace.chunks (run, idx, thread, seq, codec, raw_size, "
			      "first_ns, last_ns, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
			      "$9)",
			      9, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			ret = pg_fail(q, e, "cannot prepare a statement", res);
			PQclear(res);
			goto fail;
		}
		PQclear(res);
		q->prepared = 1;
	}
	return 0;
fail:
	pg_save_abort(s);
	return ret;
}

static int pg_save_chunk(struct ctr_store *s, const struct ctr_chunk *c, struct ctr_err *e)
{
	struct pg_store *q = s->priv;
	struct pgp p = {0};
	PGresult *res;
	int ret = 0;

	if (!q->in_tx)
		return ctr_err_set(e, CTR_EUSAGE, 0, "save_chunk without save_begin");
	pp_i64(&p, q->save_pk);
	pp_i64(&p, q->n_chunks);
	pp_i64(&p, c->thread);
	pp_i64(&p, c->seq);
	pp_i64(&p, c->codec);
	pp_i64(&p, (int64_t)c->raw_size);
	pp_i64(&p, (int64_t)c->first_ns);
	pp_i64(&p, (int64_t)c->last_ns);
	pp_bin(&p, c->data, c->size);
	res = PQexecPrepared(q->db, "ctr_chunk", p.n, p.v, p.len, p.fmt, 0);
	pp_release(&p);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		ret = pg_fail(q, e, "cannot save a timeline chunk", res);
	else
		q->n_chunks++;
	PQclear(res);
	return ret;
}

/* A COPY text-format row buffer. */
struct cbuf {
	char *p;
	size_t n, cap;
	int fail;
};

static void cb_put(struct cbuf *b, const char *s, size_t len)
{
	if (b->fail)
		return;
	if (b->n + len + 1 > b->cap) {
		size_t c = b->cap ? b->cap : 4096;
		char *np;

		while (c < b->n + len + 1)
			c *= 2;
		if (!(np = realloc(b->p, c))) {
			b->fail = 1;
			return;
		}
		b->p = np;
		b->cap = c;
	}
	memcpy(b->p + b->n, s, len);
	b->n += len;
}

static void cb_str(struct cbuf *b, const char *s)
{
	char *fixed = NULL;

	cb_put(b, "\t", 1);
	if (!s) {
		cb_put(b, "\\N", 2);
		return;
	}
	if (!ctr_utf8_valid(s) && !(s = fixed = ctr_utf8_sanitize(s))) {
		b->fail = 1;
		return;
	}
	for (const char *p = s; *p;) {
		size_t run = strcspn(p, "\\\t\n\r");

		cb_put(b, p, run);
		p += run;
		if (!*p)
			break;
		cb_put(b, *p == '\\' ? "\\\\" : *p == '\t' ? "\\t" : *p == '\n' ? "\\n" : "\\r", 2);
		p++;
	}
	free(fixed);
}

static void cb_i64(struct cbuf *b, int64_t v)
{
	char num[32];
	int len = snprintf(num, sizeof(num), "\t%lld", (long long)v);

	cb_put(b, num, (size_t)len);
}

static void cb_ref(struct cbuf *b, uint32_t v)
{
	if (v == CTR_NONE)
		cb_put(b, "\t\\N", 3);
	else
		cb_i64(b, v);
}

/* Starts a row: the run's pk and the row index. */
static void cb_row(struct cbuf *b, long long pk, size_t i)
{
	char num[48];
	int len = snprintf(num, sizeof(num), "%lld\t%zu", pk, i);

	cb_put(b, num, (size_t)len);
}

static void row_meta(struct cbuf *b, const struct ctr_run *r, size_t i)
{
	cb_str(b, r->meta[i].key);
	cb_str(b, r->meta[i].value);
}

static void row_proc(struct cbuf *b, const struct ctr_run *r, size_t i)
{
	const struct ctr_process *p = &r->procs[i];

	cb_i64(b, p->pid);
	cb_i64(b, p->ppid);
	cb_i64(b, p->gen);
	cb_str(b, p->exe);
	cb_str(b, p->command);
	cb_i64(b, p->exit_status);
	cb_i64(b, p->signal);
	cb_str(b, p->crashed ? "t" : "f");
	cb_str(b, p->backtrace);
}

static void row_module(struct cbuf *b, const struct ctr_run *r, size_t i)
{
	const struct ctr_module *m = &r->modules[i];

	cb_str(b, m->path);
	cb_str(b, m->build_id);
	cb_i64(b, (int64_t)m->base);
	cb_i64(b, m->loaded_ns);
	cb_i64(b, m->unloaded_ns);
}

/* The percentiles and a bytea of the histogram blob (hex form, NULL when none). */
static void cb_lat(struct cbuf *b, uint64_t p50, uint64_t p90, uint64_t p99, uint64_t p999,
		   const unsigned char *hist, size_t size)
{
	static const char hex[] = "0123456789abcdef";

	cb_i64(b, (int64_t)p50);
	cb_i64(b, (int64_t)p90);
	cb_i64(b, (int64_t)p99);
	cb_i64(b, (int64_t)p999);
	if (!hist || !size) {
		cb_put(b, "\t\\N", 3);
		return;
	}
	cb_put(b, "\t\\\\x", 4);
	for (size_t i = 0; i < size; i++) {
		char two[2] = {hex[hist[i] >> 4], hex[hist[i] & 15]};

		cb_put(b, two, 2);
	}
}

/* Columns @col .. @col+4 of a row: percentiles and the histogram bytea (copied). */
static void g_lat(const PGresult *res, int row, int col, uint64_t *p50, uint64_t *p90,
		  uint64_t *p99, uint64_t *p999, unsigned char **hist, size_t *size, int *fail)
{
	unsigned char *raw;
	size_t n = 0;

	*p50 = g_u64(res, row, col);
	*p90 = g_u64(res, row, col + 1);
	*p99 = g_u64(res, row, col + 2);
	*p999 = g_u64(res, row, col + 3);
	if (PQgetisnull(res, row, col + 4))
		return;
	raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, col + 4), &n);
	if (!raw) {
		*fail = 1;
		return;
	}
	if (n && (*hist = malloc(n))) {
		memcpy(*hist, raw, n);
		*size = n;
	} else if (n) {
		*fail = 1;
	}
	PQfreemem(raw);
}

static void row_function(struct cbuf *b, const struct ctr_run *r, size_t i)
{
	const struct ctr_function *f = &r->functions[i];

	cb_i64(b, f->kind);
	cb_str(b, f->name);
	cb_str(b, f->linkage_name);
	cb_str(b, f->file);
	cb_i64(b, f->line);
	cb_ref(b, f->module);
	cb_i64(b, (int64_t)f->offset);
	cb_lat(b, f->p50_ns, f->p90_ns, f->p99_ns, f->p999_ns, f->hist, f->hist_size);
}

static void row_thread(struct cbuf *b, const struct ctr_run *r, size_t i)
{
	const struct ctr_thread *t = &r->threads[i];

	cb_i64(b, t->pid);
	cb_i64(b, t->tid);
	cb_str(b, t->name);
	cb_i64(b, (int64_t)t->start_ns);
	cb_i64(b, (int64_t)t->end_ns);
	cb_i64(b, (int64_t)t->events);
	cb_i64(b, (int64_t)t->lost);
}

static void row_node(struct cbuf *b, const struct ctr_run *r, size_t i)
{
	const struct ctr_node *n = &r->nodes[i];

	cb_ref(b, n->parent);
	cb_i64(b, n->thread);
	cb_i64(b, n->function);
	cb_i64(b, (int64_t)n->calls);
	cb_i64(b, (int64_t)n->total_ns);
	cb_i64(b, (int64_t)n->self_ns);
	cb_i64(b, (int64_t)n->min_ns);
	cb_i64(b, (int64_t)n->max_ns);
	cb_i64(b, (int64_t)n->raw_total_ns);
	cb_i64(b, (int64_t)n->raw_self_ns);
	cb_i64(b, (int64_t)n->raw_min_ns);
	cb_i64(b, (int64_t)n->raw_max_ns);
	cb_lat(b, n->p50_ns, n->p90_ns, n->p99_ns, n->p999_ns, n->hist, n->hist_size);
	cb_i64(b, (int64_t)n->offcpu_ns);
	cb_i64(b, (int64_t)n->preempt_ns);
	cb_i64(b, (int64_t)n->preempted_calls);
}

static void row_attr(struct cbuf *b, const struct ctr_run *r, size_t i)
{
	const struct ctr_attr *a = &r->attrs[i];

	cb_i64(b, a->node);
	cb_str(b, a->key);
	cb_str(b, a->value);
	cb_i64(b, (int64_t)a->count);
}

/* COPYs @n rows of one child table; the first two columns are the run and the row's index
 * (or id: arrays are indexed by id), the rest come from @row. */
static int copy_rows(struct pg_store *q, const char *sql, size_t n, const struct ctr_run *r,
		     void (*row)(struct cbuf *b, const struct ctr_run *r, size_t i),
		     struct ctr_err *e)
{
	struct cbuf b = {0};
	PGresult *res;
	int ret = 0, sent = 1;

	if (n == 0)
		return 0;
	res = PQexec(q->db, sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		ret = pg_fail(q, e, "cannot save a run", res);
		PQclear(res);
		return ret;
	}
	PQclear(res);
	for (size_t i = 0; i < n && sent; i++) {
		cb_row(&b, q->save_pk, i);
		row(&b, r, i);
		cb_put(&b, "\n", 1);
		if (b.fail)
			break;
		if (b.n >= PG_COPY_FLUSH || i + 1 == n) {
			sent = PQputCopyData(q->db, b.p, (int)b.n) == 1;
			b.n = 0;
		}
	}
	if (b.fail) {
		PQputCopyEnd(q->db, "out of memory");
		ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory saving run '%s'", r->id);
	} else if (!sent || PQputCopyEnd(q->db, NULL) != 1) {
		ret = pg_fail(q, e, "cannot save a run", NULL);
	}
	while ((res = PQgetResult(q->db))) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && ret == 0)
			ret = pg_fail(q, e, "cannot save a run", res);
		PQclear(res);
	}
	free(b.p);
	return ret;
}

static int pg_save_end(struct ctr_store *s, const struct ctr_run *r, struct ctr_err *e)
{
	struct pg_store *q = s->priv;
	struct pgp p = {0};
	PGresult *res;
	int ret = 0;

	if (!q->in_tx)
		return ctr_err_set(e, CTR_EUSAGE, 0, "save_end without save_begin");
	if (strcmp(r->id, q->save_id))
		return ctr_err_set(e, CTR_EUSAGE, 0,
				   "save_end of run '%s' after save_begin of '%s'", r->id,
				   q->save_id);
	/* The header given to begin may have been provisional: store the final one. */
	pp_header(&p, r);
	pp_i64(&p, q->save_pk);
	res = pp_exec(q, "UPDATE ctrace.runs SET (" HDR_COLS ") = (" HDR_PARAMS ") WHERE pk = $16",
		      &p, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		ret = res ? pg_fail(q, e, "cannot save a run", res)
			  : ctr_err_set(e, CTR_ENOMEM, 0, "out of memory saving a run");
	PQclear(res);
	if (ret < 0)
		return ret;
	if ((ret = copy_rows(q, "COPY ctrace.run_meta (run, idx, key, value) FROM STDIN", r->n_meta,
			     r, row_meta, e)) < 0 ||
	    (ret = copy_rows(q,
			     "COPY ctrace.processes (run, idx, pid, ppid, gen, exe, command, "
			     "exit_status, signal, crashed, backtrace) FROM STDIN",
			     r->n_procs, r, row_proc, e)) < 0 ||
	    (ret = copy_rows(q,
			     "COPY ctrace.modules (run, id, path, build_id, base, loaded_ns, "
			     "unloaded_ns) FROM STDIN",
			     r->n_modules, r, row_module, e)) < 0 ||
	    (ret = copy_rows(q,
			     "COPY ctrace.functions (run, id, kind, name, linkage_name, file, "
			     "line, module, \"offset\", p50_ns, p90_ns, p99_ns, p999_ns, hist) "
			     "FROM STDIN",
			     r->n_functions, r, row_function, e)) < 0 ||
	    (ret = copy_rows(q,
			     "COPY ctrace.threads (run, id, pid, tid, name, start_ns, end_ns, "
			     "events, lost) FROM STDIN",
			     r->n_threads, r, row_thread, e)) < 0 ||
	    (ret = copy_rows(q,
			     "COPY ctrace.nodes (run, id, parent, thread, function, calls, "
			     "total_ns, self_ns, min_ns, max_ns, raw_total_ns, raw_self_ns, "
			     "raw_min_ns, raw_max_ns, p50_ns, p90_ns, p99_ns, p999_ns, hist, "
			     "offcpu_ns, preempt_ns, preempted_calls) FROM STDIN",
			     r->n_nodes, r, row_node, e)) < 0 ||
	    (ret = copy_rows(q, "COPY ctrace.attrs (run, idx, node, key, value, count) FROM STDIN",
			     r->n_attrs, r, row_attr, e)) < 0)
		return ret;
	/* The metadata as one jsonb object (a repeated key keeps its last value) for @> queries
	 * through the GIN index; run_meta keeps every pair in order. */
	memset(&p, 0, sizeof(p));
	pp_i64(&p, q->save_pk);
	res = pp_exec(q,
		      "UPDATE ctrace.runs SET metadata = (SELECT coalesce(jsonb_object_agg(key, "
		      "value ORDER BY idx), '{}') FROM ctrace.run_meta WHERE run = $1 AND key IS "
		      "NOT NULL) WHERE pk = $1",
		      &p, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		ret = pg_fail(q, e, "cannot save a run", res);
	PQclear(res);
	if (ret < 0 || (ret = pg_exec(q, "COMMIT", PGRES_COMMAND_OK, e, "cannot commit a run")) < 0)
		return ret;
	q->in_tx = 0;
	q->save_id[0] = '\0';
	return 0;
}

/* ---- load ---- */

/* Runs @sql with $1 = @pk; the result (text, or binary when @binary), or NULL after setting
 * @e. */
static PGresult *pk_query(struct pg_store *q, const char *sql, long long pk, int binary,
			  struct ctr_err *e)
{
	struct pgp p = {0};
	PGresult *res;

	pp_i64(&p, pk);
	res = pp_exec(q, sql, &p, binary);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pg_fail(q, e, "cannot load a run", res);
		PQclear(res);
		return NULL;
	}
	return res;
}

/* Allocates @n zeroed elements for an array of the run (NULL and no failure when n is 0). */
static void *arr(size_t n, size_t size, int *fail)
{
	void *a;

	if (!n)
		return NULL;
	if (!(a = calloc(n, size)))
		*fail = 1;
	return a;
}

static void load_meta(const PGresult *res, struct ctr_run *r, int *fail)
{
	size_t n = (size_t)PQntuples(res);

	if (!(r->meta = arr(n, sizeof(*r->meta), fail)))
		return;
	r->n_meta = n;
	for (size_t i = 0; i < n; i++) {
		r->meta[i].key = g_str(res, (int)i, 0, fail);
		r->meta[i].value = g_str(res, (int)i, 1, fail);
	}
}

static void load_procs(const PGresult *res, struct ctr_run *r, int *fail)
{
	size_t n = (size_t)PQntuples(res);

	if (!(r->procs = arr(n, sizeof(*r->procs), fail)))
		return;
	r->n_procs = n;
	for (int i = 0; i < (int)n; i++) {
		struct ctr_process *p = &r->procs[i];

		p->pid = (int32_t)g_i64(res, i, 0);
		p->ppid = (int32_t)g_i64(res, i, 1);
		p->gen = (uint32_t)g_i64(res, i, 2);
		p->exe = g_str(res, i, 3, fail);
		p->command = g_str(res, i, 4, fail);
		p->exit_status = (int)g_i64(res, i, 5);
		p->signal = (int)g_i64(res, i, 6);
		p->crashed = g_bool(res, i, 7);
		p->backtrace = g_str(res, i, 8, fail);
	}
}

static void load_modules(const PGresult *res, struct ctr_run *r, int *fail)
{
	size_t n = (size_t)PQntuples(res);

	if (!(r->modules = arr(n, sizeof(*r->modules), fail)))
		return;
	r->n_modules = n;
	for (int i = 0; i < (int)n; i++) {
		struct ctr_module *m = &r->modules[i];

		m->id = (uint32_t)g_i64(res, i, 0);
		m->path = g_str(res, i, 1, fail);
		m->build_id = g_str(res, i, 2, fail);
		m->base = g_u64(res, i, 3);
		m->loaded_ns = g_i64(res, i, 4);
		m->unloaded_ns = g_i64(res, i, 5);
	}
}

static void load_functions(const PGresult *res, struct ctr_run *r, int *fail)
{
	size_t n = (size_t)PQntuples(res);

	if (!(r->functions = arr(n, sizeof(*r->functions), fail)))
		return;
	r->n_functions = n;
	for (int i = 0; i < (int)n; i++) {
		struct ctr_function *f = &r->functions[i];

		f->id = (uint32_t)g_i64(res, i, 0);
		f->kind = (uint32_t)g_i64(res, i, 1);
		f->name = g_str(res, i, 2, fail);
		f->linkage_name = g_str(res, i, 3, fail);
		f->file = g_str(res, i, 4, fail);
		f->line = (uint32_t)g_i64(res, i, 5);
		f->module = g_ref(res, i, 6);
		f->offset = g_u64(res, i, 7);
		g_lat(res, i, 8, &f->p50_ns, &f->p90_ns, &f->p99_ns, &f->p999_ns, &f->hist,
		      &f->hist_size, fail);
	}
}

static void load_threads(const PGresult *res, struct ctr_run *r, int *fail)
{
	size_t n = (size_t)PQntuples(res);

	if (!(r->threads = arr(n, sizeof(*r->threads), fail)))
		return;
	r->n_threads = n;
	for (int i = 0; i < (int)n; i++) {
		struct ctr_thread *t = &r->threads[i];

		t->id = (uint32_t)g_i64(res, i, 0);
		t->pid = (int32_t)g_i64(res, i, 1);
		t->tid = (int32_t)g_i64(res, i, 2);
		t->name = g_str(res, i, 3, fail);
		t->start_ns = g_u64(res, i, 4);
		t->end_ns = g_u64(res, i, 5);
		t->events = g_u64(res, i, 6);
		t->lost = g_u64(res, i, 7);
	}
}

static void load_nodes(const PGresult *res, struct ctr_run *r, int *fail)
{
	size_t n = (size_t)PQntuples(res);

	if (!(r->nodes = arr(n, sizeof(*r->nodes), fail)))
		return;
	r->n_nodes = n;
	for (int i = 0; i < (int)n; i++) {
		struct ctr_node *d = &r->nodes[i];

		d->id = (uint32_t)g_i64(res, i, 0);
		d->parent = g_ref(res, i, 1);
		d->thread = (uint32_t)g_i64(res, i, 2);
		d->function = (uint32_t)g_i64(res, i, 3);
		d->calls = g_u64(res, i, 4);
		d->total_ns = g_u64(res, i, 5);
		d->self_ns = g_u64(res, i, 6);
		d->min_ns = g_u64(res, i, 7);
		d->max_ns = g_u64(res, i, 8);
		d->raw_total_ns = g_u64(res, i, 9);
		d->raw_self_ns = g_u64(res, i, 10);
		d->raw_min_ns = g_u64(res, i, 11);
		d->raw_max_ns = g_u64(res, i, 12);
		d->offcpu_ns = g_u64(res, i, 18);
		d->preempt_ns = g_u64(res, i, 19);
		d->preempted_calls = g_u64(res, i, 20);
		g_lat(res, i, 13, &d->p50_ns, &d->p90_ns, &d->p99_ns, &d->p999_ns, &d->hist,
		      &d->hist_size, fail);
	}
}

static void load_attrs(const PGresult *res, struct ctr_run *r, int *fail)
{
	size_t n = (size_t)PQntuples(res);

	if (!(r->attrs = arr(n, sizeof(*r->attrs), fail)))
		return;
	r->n_attrs = n;
	for (int i = 0; i < (int)n; i++) {
		struct ctr_attr *a = &r->attrs[i];

		a->node = (uint32_t)g_i64(res, i, 0);
		a->key = g_str(res, i, 1, fail);
		a->value = g_str(res, i, 2, fail);
		a->count = g_u64(res, i, 3);
	}
}

/* Chunks come as binary: six int8 columns, then the bytea. */
static uint64_t b_u64(const PGresult *res, int row, int col)
{
	uint64_t v = 0;

	if (PQgetlength(res, row, col) == 8)
		memcpy(&v, PQgetvalue(res, row, col), 8);
	return be64toh(v);
}

static void load_chunks(const PGresult *res, struct ctr_run *r, int *fail)
{
	size_t n = (size_t)PQntuples(res);

	if (!(r->chunks = arr(n, sizeof(*r->chunks), fail)))
		return;
	r->n_chunks = n;
	for (int i = 0; i < (int)n; i++) {
		struct ctr_chunk *c = &r->chunks[i];
		size_t size = (size_t)PQgetlength(res, i, 6);

		c->thread = (uint32_t)b_u64(res, i, 0);
		c->seq = (uint32_t)b_u64(res, i, 1);
		c->codec = (uint32_t)b_u64(res, i, 2);
		c->raw_size = b_u64(res, i, 3);
		c->first_ns = b_u64(res, i, 4);
		c->last_ns = b_u64(res, i, 5);
		if (size) {
			if (!(c->data = malloc(size))) {
				*fail = 1;
				continue;
			}
			memcpy(c->data, PQgetvalue(res, i, 6), size);
			c->size = size;
		}
	}
}

static const struct {
	const char *sql;
	void (*fill)(const PGresult *res, struct ctr_run *r, int *fail);
	int timeline; /* only with CTR_LOAD_TIMELINE; binary result */
} load_steps[] = {
    {"SELECT key, value FROM ctrace.run_meta WHERE run = $1 ORDER BY idx", load_meta, 0},
    {"SELECT pid, ppid, gen, exe, command, exit_status, signal, crashed, backtrace "
     "FROM ctrace.processes WHERE run = $1 ORDER BY idx",
     load_procs, 0},
    {"SELECT id, path, build_id, base, loaded_ns, unloaded_ns FROM ctrace.modules WHERE run = $1 "
     "ORDER BY id",
     load_modules, 0},
    {"SELECT id, kind, name, linkage_name, file, line, module, \"offset\", p50_ns, p90_ns, "
     "p99_ns, p999_ns, hist FROM ctrace.functions WHERE run = $1 ORDER BY id",
     load_functions, 0},
    {"SELECT id, pid, tid, name, start_ns, end_ns, events, lost FROM ctrace.threads "
     "WHERE run = $1 ORDER BY id",
     load_threads, 0},
    {"SELECT id, parent, thread, function, calls, total_ns, self_ns, min_ns, max_ns, "
     "raw_total_ns, raw_self_ns, raw_min_ns, raw_max_ns, p50_ns, p90_ns, p99_ns, p999_ns, hist, "
     "offcpu_ns, preempt_ns, preempted_calls FROM ctrace.nodes WHERE run = $1 "
     "ORDER BY id",
     load_nodes, 0},
    {"SELECT node, key, value, count FROM ctrace.attrs WHERE run = $1 ORDER BY idx", load_attrs, 0},
    {"SELECT thread::int8, seq::int8, codec::int8, raw_size, first_ns, last_ns, data "
     "FROM ctrace.chunks WHERE run = $1 ORDER BY idx",
     load_chunks, 1},
};

static int pg_load(struct ctr_store *s, const char *id, unsigned what, struct ctr_run **out,
		   struct ctr_err *e)
{
	struct pg_store *q = s->priv;
	struct ctr_run *r = NULL;
	struct pgp p = {0};
	PGresult *res = NULL;
	long long pk;
	int ret = 0, own_tx = 0, fail = 0;

	/* One snapshot for every table (unless a save of ours is open). */
	if (!q->in_tx) {
		if ((ret = pg_exec(q, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
				   PGRES_COMMAND_OK, e, "cannot load a run")) < 0)
			return ret;
		own_tx = 1;
	}
	pp_str(&p, id);
	res = pp_exec(q, "SELECT pk, " HDR_COLS " FROM ctrace.runs WHERE id = $1", &p, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		ret = res ? pg_fail(q, e, "cannot load a run", res)
			  : ctr_err_set(e, CTR_ENOMEM, 0, "out of memory loading run '%s'", id);
		goto out;
	}
	if (PQntuples(res) == 0) {
		ret = ctr_err_set(e, CTR_ENOTFOUND, 0, "no run '%s' in store '%s'", id, q->target);
		goto out;
	}
	if (!(r = calloc(1, sizeof(*r))) || read_header(res, 0, 1, r) < 0) {
		ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory loading run '%s'", id);
		goto out;
	}
	pk = g_i64(res, 0, 0);
	for (size_t i = 0; i < sizeof(load_steps) / sizeof(load_steps[0]); i++) {
		if (load_steps[i].timeline && !(what & CTR_LOAD_TIMELINE))
			continue;
		PQclear(res);
		if (!(res = pk_query(q, load_steps[i].sql, pk, load_steps[i].timeline, e))) {
			ret = CTR_ESTORE;
			goto out;
		}
		load_steps[i].fill(res, r, &fail);
		if (fail) {
			ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory loading run '%s'", id);
			goto out;
		}
	}
	*out = r;
	r = NULL;
out:
	if (ret < 0)
		ctr_err_ctx(e, NULL, id, -1);
	PQclear(res);
	if (own_tx)
		PQclear(PQexec(q->db, ret < 0 ? "ROLLBACK" : "COMMIT"));
	ctr_run_free(r);
	return ret;
}

/* ---- list ---- */

/* Appends " AND @cond" to @m with the "$N" placeholders of @cond numbered from p->n + 1; @cond
 * uses '?' for each parameter. */
static void where(FILE *m, struct pgp *p, const char *cond, int nparams)
{
	int k = p->n + 1;

	fputs(" AND ", m);
	for (const char *c = cond; *c; c++)
		if (*c == '?')
			fprintf(m, "$%d", nparams-- > 0 ? k++ : k - 1);
		else
			fputc(*c, m);
}

/* The anchored POSIX regular expression (PostgreSQL's ~) of fnmatch(3) glob @g: * and ? any
 * characters, [...] a set ([!...] its complement), everything else literal. Caller frees. */
static char *glob_regex(const char *g)
{
	size_t n = strlen(g);
	char *re = malloc(4 * n + 3), *o = re;

	if (!re)
		return NULL;
	*o++ = '^';
	for (const char *c = g; *c; c++) {
		const char *close = *c == '[' && c[1] ? strchr(c + 2, ']') : NULL;

		if (*c == '*') {
			*o++ = '.';
			*o++ = '*';
		} else if (*c == '?') {
			*o++ = '.';
		} else if (close) { /* a set: copied, "!" as "^", a backslash escaped */
			*o++ = '[';
			c++;
			if (*c == '!' || *c == '^')
				*o++ = '^', c++;
			for (; c < close; c++) {
				if (*c == '\\')
					*o++ = '\\';
				*o++ = *c;
			}
			*o++ = ']';
		} else {
			if (strchr(".^$+(){}|\\[]", *c))
				*o++ = '\\';
			*o++ = *c;
		}
	}
	*o++ = '$';
	*o = '\0';
	return re;
}

/* Appends the conditions of @f (parameters pushed to @p); CTR_EUSAGE when @f has more
 * metadata pairs than the parameter array holds. */
static int where_filter(FILE *m, struct pgp *p, const struct ctr_filter *f, struct ctr_err *e)
{
	if (!f)
		return 0;
	if (f->n_meta > (size_t)(PP_MAX - 10 - p->n))
		return ctr_err_set(e, CTR_EUSAGE, 0, "too many metadata filters (at most %d)",
				   PP_MAX - 10 - p->n);
	if (f->since_unix_ns) {
		where(m, p, "start_unix_ns >= ?", 1);
		pp_i64(p, f->since_unix_ns);
	}
	if (f->until_unix_ns) {
		where(m, p, "start_unix_ns <= ?", 1);
		pp_i64(p, f->until_unix_ns);
	}
	if (f->min_duration_ns) {
		where(m, p, "duration_ns >= ?", 1);
		pp_i64(p, (int64_t)f->min_duration_ns);
	}
	if (f->max_duration_ns) {
		where(m, p, "duration_ns <= ?", 1);
		pp_i64(p, (int64_t)f->max_duration_ns);
	}
	if (f->command) {
		where(m, p, "strpos(command, ?) > 0", 1);
		pp_str(p, f->command);
	}
	if (f->host) {
		where(m, p, "host = ?", 1);
		pp_str(p, f->host);
	}
	if (f->function && strpbrk(f->function, "*?[")) {
		/* a glob (fnmatch(3), as SQLite's GLOB): the same names, or a match of the anchored
		 * POSIX regular expression it translates to */
		char *re = glob_regex(f->function);
		int k = p->n + 1;

		if (!re)
			return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory building a query");
		fprintf(m,
			" AND EXISTS (SELECT 1 FROM ctrace.functions fn WHERE fn.run = r.pk AND "
			"(fn.name = $%d OR fn.linkage_name = $%d OR fn.name ~ $%d OR "
			"fn.linkage_name ~ $%d))",
			k, k, k + 1, k + 1);
		pp_str(p, f->function);
		p->own[p->n] = re;
		p->v[p->n++] = re;
	} else if (f->function) {
		/* a semi-join the planner can run either way: from the newest runs probing each
		 * run's functions by primary key (a common function under a LIMIT), or from the
		 * name indexes (a rare one); both '?' are the same parameter */
		where(m, p,
		      "EXISTS (SELECT 1 FROM ctrace.functions fn WHERE fn.run = r.pk AND "
		      "(fn.name = ? OR fn.linkage_name = ?))",
		      1);
		pp_str(p, f->function);
	}
	for (size_t i = 0; i < f->n_meta; i++) {
		where(m, p, "metadata @> jsonb_build_object(?::text, ?::text)", 2);
		pp_str(p, f->meta[i].key);
		pp_str(p, f->meta[i].value);
	}
	return 0;
}

struct list_rows {
	struct ctr_run **runs;
	size_t n, cap;
};

static int list_row(void *arg, const PGresult *r, struct ctr_err *e)
{
	struct list_rows *l = arg;
	struct ctr_run *run;

	if (ctr_grow((void **)&l->runs, &l->cap, l->n + 1, sizeof(*l->runs)) ||
	    !(run = calloc(1, sizeof(*run))))
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory listing runs");
	l->runs[l->n++] = run;
	if (read_header(r, 0, 0, run) < 0)
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory listing runs");
	return 0;
}

static int pg_list(struct ctr_store *s, const struct ctr_filter *f, size_t limit, size_t offset,
		   struct ctr_run ***out, size_t *n, struct ctr_err *e)
{
	struct pg_store *q = s->priv;
	char *sql = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&sql, &len);
	struct list_rows l = {0};
	struct pgp p = {0};
	int ret = 0;

	if (!m)
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory listing runs");
	fputs("SELECT " HDR_COLS " FROM ctrace.runs r WHERE true", m);
	if ((ret = where_filter(m, &p, f, e)) < 0) {
		fclose(m);
		free(sql);
		pp_release(&p);
		return ret;
	}
	fprintf(m, " ORDER BY start_unix_ns DESC, id LIMIT $%d OFFSET $%d", p.n + 1, p.n + 2);
	if (limit)
		pp_i64(&p, (int64_t)limit);
	else
		pp_str(&p, NULL); /* LIMIT NULL: all */
	pp_i64(&p, (int64_t)offset);
	if (fclose(m) != 0 || !sql) {
		pp_release(&p);
		free(sql);
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory listing runs");
	}
	if ((ret = pp_rows(q, sql, &p, "cannot list runs", list_row, &l, e)) < 0) {
		ctr_run_list_free(l.runs, l.n);
	} else {
		*out = l.runs;
		*n = l.n;
	}
	free(sql);
	return ret;
}

/* ---- series ---- */

/* The ids of the function's rows in run r ($1 is its name), and each metric as an expression
 * over them, evaluated once per run. */
#define PG_FN_IDS                                                                                  \
	"SELECT fn.id FROM ctrace.functions fn WHERE fn.run = r.pk AND (fn.name = $1 OR "          \
	"(fn.linkage_name = $1 AND fn.linkage_name <> ''))"
static const char *const pg_metric_sql[CTR_METRIC_COUNT] = {
    [CTR_METRIC_SELF] = "(SELECT coalesce(sum(n.self_ns), 0) FROM ctrace.nodes n WHERE "
			"n.run = r.pk AND n.function IN (" PG_FN_IDS "))",
    [CTR_METRIC_CALLS] = "(SELECT coalesce(sum(n.calls), 0) FROM ctrace.nodes n WHERE "
			 "n.run = r.pk AND n.function IN (" PG_FN_IDS "))",
    /* walk up from each of the function's nodes; a walk that meets the function again stops
     * short of the root and is not counted */
    [CTR_METRIC_TOTAL] = "(WITH RECURSIVE fs(id) AS (" PG_FN_IDS "), up(anc, tot) AS ("
			 "SELECT n.parent, n.total_ns FROM ctrace.nodes n WHERE n.run = r.pk AND "
			 "n.function IN (SELECT id FROM fs) UNION ALL SELECT p.parent, up.tot "
			 "FROM up JOIN ctrace.nodes p ON p.run = r.pk AND p.id = up.anc WHERE "
			 "p.function NOT IN (SELECT id FROM fs)) "
			 "SELECT coalesce(sum(tot), 0) FROM up WHERE anc IS NULL)",
    [CTR_METRIC_P99] = "(SELECT coalesce(max(fn.p99_ns), 0) FROM ctrace.functions fn WHERE "
		       "fn.run = r.pk AND (fn.name = $1 OR (fn.linkage_name = $1 AND "
		       "fn.linkage_name <> '')))",
};

/* The metadata pairs of the json_agg column (an array of [key, value]) into @r. */
static int series_meta(const char *txt, struct ctr_run *r)
{
	json_t *a = txt && *txt ? json_loads(txt, 0, NULL) : NULL;
	size_t n = json_is_array(a) ? json_array_size(a) : 0;
	int fail = !!(txt && *txt) && !a;

	if (n && !(r->meta = calloc(n, sizeof(*r->meta))))
		fail = 1;
	for (size_t i = 0; !fail && i < n; i++) {
		json_t *kv = json_array_get(a, i);

		r->n_meta = i + 1;
		r->meta[i].key = ctr_store_strdup(json_string_value(json_array_get(kv, 0)), &fail);
		r->meta[i].value =
		    ctr_store_strdup(json_string_value(json_array_get(kv, 1)), &fail);
	}
	json_decref(a);
	return fail ? CTR_ENOMEM : 0;
}

struct series_rows {
	struct ctr_series_point *pts;
	size_t n, cap;
};

static int series_row(void *arg, const PGresult *r, struct ctr_err *e)
{
	struct series_rows *l = arg;
	struct ctr_series_point *pt;

	if (ctr_grow((void **)&l->pts, &l->cap, l->n + 1, sizeof(*l->pts)))
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading a series");
	pt = &l->pts[l->n++];
	pt->value = strtod(PQgetvalue(r, 0, 15), NULL);
	if (!(pt->run = calloc(1, sizeof(*pt->run))) || read_header(r, 0, 0, pt->run) < 0 ||
	    series_meta(PQgetvalue(r, 0, 16), pt->run) < 0)
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading a series");
	return 0;
}

/* One statement, one row per run: the header, the metric, the metadata as one json_agg. */
static int pg_series(struct ctr_store *s, const struct ctr_filter *f, const char *fn,
		     enum ctr_metric metric, struct ctr_series_point **out, size_t *n,
		     struct ctr_err *e)
{
	struct pg_store *q = s->priv;
	char *sql = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&sql, &len);
	struct series_rows l = {0};
	struct pgp p = {0};
	int ret = 0;

	if (!m)
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading a series");
	pp_str(&p, fn);
	fprintf(m,
		"SELECT " HDR_COLS ", (%s)::float8, (SELECT json_agg(json_build_array(mt.key, "
		"mt.value) ORDER BY mt.idx) FROM ctrace.run_meta mt WHERE mt.run = r.pk) "
		"FROM ctrace.runs r WHERE true",
		pg_metric_sql[metric]);
	if ((ret = where_filter(m, &p, f, e)) < 0) {
		fclose(m);
		free(sql);
		pp_release(&p);
		return ret;
	}
	fputs(" ORDER BY start_unix_ns, id DESC", m);
	if (fclose(m) != 0 || !sql) {
		pp_release(&p);
		free(sql);
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading a series");
	}
	if ((ret = pp_rows(q, sql, &p, "cannot read a series", series_row, &l, e)) < 0) {
		ctr_series_free(l.pts, l.n);
	} else {
		*out = l.pts;
		*n = l.n;
	}
	free(sql);
	return ret;
}

/* ---- remove ---- */

static int pg_remove(struct ctr_store *s, const char *id, struct ctr_err *e)
{
	struct pg_store *q = s->priv;
	struct pgp p = {0};
	PGresult *res;
	int ret = 0;

	/* One statement: the child rows go with it (ON DELETE CASCADE), atomically. */
	pp_str(&p, id);
	res = pp_exec(q, "DELETE FROM ctrace.runs WHERE id = $1", &p, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		ret = res ? pg_fail(q, e, "cannot remove a run", res)
			  : ctr_err_set(e, CTR_ENOMEM, 0, "out of memory removing a run");
	else if (strcmp(PQcmdTuples(res), "0") == 0)
		ret = ctr_err_set(e, CTR_ENOTFOUND, 0, "no run '%s' in store '%s'", id, q->target);
	PQclear(res);
	if (ret < 0)
		ctr_err_ctx(e, NULL, id, -1);
	return ret;
}

static int pg_save_aux(struct ctr_store *s, const char *id, const char *name,
		       const unsigned char *data, size_t size, struct ctr_err *e)
{
	struct pg_store *q = s->priv;
	struct pgp p = {0};
	PGresult *res;
	int ret = 0;

	if (size > INT_MAX)
		return ctr_err_set(e, CTR_ESTORE, 0, "side record '%s' of run '%s' too large", name,
				   id);
	pp_str(&p, id);
	pp_str(&p, name);
	pp_bin(&p, data, size);
	res = pp_exec(q,
		      "INSERT INTO ctrace.run_aux (run, name, data) "
		      "SELECT pk, $2, $3 FROM ctrace.runs WHERE id = $1 "
		      "ON CONFLICT (run, name) DO UPDATE SET data = EXCLUDED.data",
		      &p, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		ret = res ? pg_fail(q, e, "cannot save a side record", res)
			  : ctr_err_set(e, CTR_ENOMEM, 0, "out of memory saving a side record");
	else if (strcmp(PQcmdTuples(res), "0") == 0)
		ret = ctr_err_set(e, CTR_ENOTFOUND, 0, "no run '%s' in store '%s'", id, q->target);
	PQclear(res);
	return ret;
}

static int pg_load_aux(struct ctr_store *s, const char *id, const char *name, unsigned char **data,
		       size_t *size, struct ctr_err *e)
{
	struct pg_store *q = s->priv;
	struct pgp p = {0};
	PGresult *res;
	int ret = 0;

	pp_str(&p, id);
	pp_str(&p, name);
	res = pp_exec(q,
		      "SELECT a.data FROM ctrace.run_aux a JOIN ctrace.runs r ON r.pk = a.run "
		      "WHERE r.id = $1 AND a.name = $2",
		      &p, 1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		ret = res ? pg_fail(q, e, "cannot load a side record", res)
			  : ctr_err_set(e, CTR_ENOMEM, 0, "out of memory loading a side record");
	} else if (PQntuples(res) != 1) {
		ret = CTR_ENOTFOUND;
	} else {
		size_t n = (size_t)PQgetlength(res, 0, 0);

		if (!(*data = malloc(n ? n : 1)))
			ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory loading run '%s'", id);
		else
			memcpy(*data, PQgetvalue(res, 0, 0), n);
		*size = *data ? n : 0;
	}
	PQclear(res);
	return ret;
}

const struct ctr_store_ops ctr_store_pgsql = {
    .name = "pgsql",
    .open = pg_open,
    .close = pg_close,
    .save_begin = pg_save_begin,
    .save_chunk = pg_save_chunk,
    .save_end = pg_save_end,
    .save_abort = pg_save_abort,
    .load = pg_load,
    .list = pg_list,
    .remove = pg_remove,
    .series = pg_series,
    .save_aux = pg_save_aux,
    .load_aux = pg_load_aux,
};
