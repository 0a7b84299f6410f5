/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for loading a hostile SQLite store. The first input byte picks what the
 * rest becomes:
 *   0  the whole database file (not SQLite, a foreign database, any schema);
 *   1  a valid ctrace store whose timeline chunk gets codec = byte 1, raw_size = bytes 2-5
 *      (little-endian) and data = the rest: huge claims, zstd bombs, garbage frames;
 *   2  a valid ctrace store in which one table (byte 1 picks it) is replaced by one of
 *      another shape holding the rest as a blob; byte 2 sets user_version.
 * The store is opened, listed, every run loaded with its timeline and the timeline walked.
 * Any input must give 0 or a CTR_E* code, never a crash, a hang, a leak, an unbounded
 * allocation or an out-of-bounds access.
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz-tmp.h"
#include "store/store.h"
#include "store/timeline.h"

static char path[PATH_MAX + 16], conn[PATH_MAX + 32];
static unsigned char *tmpl; /* a valid store with one run, as file bytes */
static size_t tmpl_size;

static int collect(void *arg, const struct ctr_chunk *c, struct ctr_err *e)
{
	struct ctr_run *r = arg;
	struct ctr_chunk *d;

	(void)e;
	if (!(d = realloc(r->chunks, (r->n_chunks + 1) * sizeof(*d))))
		abort();
	r->chunks = d;
	d += r->n_chunks++;
	*d = *c;
	if (!(d->data = malloc(c->size ? c->size : 1)))
		abort();
	memcpy(d->data, c->data, c->size);
	return 0;
}

static void write_file(const void *data, size_t n)
{
	char side[PATH_MAX + 24];
	FILE *f;

	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
	if (!(f = fopen(path, "w")))
		abort();
	if (n)
		fwrite(data, 1, n, f);
	fclose(f);
}

/* Builds the template store: one run, one thread, two functions, a timeline of 200 calls. */
static void make_template(void)
{
	static struct ctr_function fn[2] = {{0, CTR_FN_FUNCTION, "main", "", "m.c", 1, 0, 0x10},
					    {1, CTR_FN_FUNCTION, "leaf", "", "m.c", 2, 0, 0x20}};
	static struct ctr_module mod = {0, "/bin/fz", "", 0};
	static struct ctr_thread th = {0, 1, 1, "fz", 0, 5000, 402, 0};
	static struct ctr_node nodes[2] = {
	    {0, CTR_NONE, 0, 0, 1, 5000, 1000, 5000, 5000, 5000, 1000, 5000, 5000},
	    {1, 0, 0, 1, 200, 4000, 4000, 20, 20, 4000, 4000, 20, 20}};
	struct ctr_run run;
	struct ctr_tl_writer *w = NULL;
	struct ctr_store *s = NULL;
	FILE *f;
	long n;

	memset(&run, 0, sizeof(run));
	strcpy(run.id, "20260101T000000-fuzz00");
	run.command = "fz";
	run.host = "h";
	run.cwd = "/";
	run.start_unix_ns = 1;
	run.duration_ns = 5000;
	run.exit_status = 0;
	run.events = 402;
	run.clock = "monotonic";
	run.ticks_per_sec = 1000000000;
	run.modules = &mod;
	run.n_modules = 1;
	run.functions = fn;
	run.n_functions = 2;
	run.threads = &th;
	run.n_threads = 1;
	run.nodes = nodes;
	run.n_nodes = 2;
	if (ctr_tl_writer_open(&w, 0, collect, &run, NULL) || ctr_tl_enter(w, 0, 0, NULL))
		abort();
	for (uint64_t i = 0; i < 200; i++)
		if (ctr_tl_enter(w, 10 + i * 20, 1, NULL) || ctr_tl_exit(w, 20 + i * 20, NULL))
			abort();
	if (ctr_tl_exit(w, 5000, NULL) || ctr_tl_writer_finish(w, NULL))
		abort();
	ctr_tl_writer_free(w);
	write_file(NULL, 0);
	if (ctr_store_open(&s, conn, NULL) || ctr_store_save(s, &run, NULL))
		abort();
	ctr_store_close(s);
	for (size_t i = 0; i < run.n_chunks; i++)
		free(run.chunks[i].data);
	free(run.chunks);
	if (!(f = fopen(path, "r")) || fseek(f, 0, SEEK_END) || (n = ftell(f)) <= 0 ||
	    fseek(f, 0, SEEK_SET) || !(tmpl = malloc((size_t)n)) ||
	    fread(tmpl, 1, (size_t)n, f) != (size_t)n)
		abort();
	fclose(f);
	tmpl_size = (size_t)n;
}

/* Applies mode 1 or 2 to a fresh copy of the template. */
static void doctor(int mode, const uint8_t *d, size_t n)
{
	static const char *const tables[] = {"runs",	"meta",	     "run_meta", "processes",
					     "modules", "functions", "threads",	 "nodes",
					     "attrs",	"chunks"};
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char sql[256];

	write_file(tmpl, tmpl_size);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		abort();
	if (mode == 1 && n >= 5) {
		uint32_t raw = (uint32_t)d[1] | (uint32_t)d[2] << 8 | (uint32_t)d[3] << 16 |
			       (uint32_t)d[4] << 24;

		if (sqlite3_prepare_v2(db, "UPDATE chunks SET codec = ?1, raw_size = ?2, data = ?3",
				       -1, &st, NULL) == SQLITE_OK) {
			sqlite3_bind_int(st, 1, d[0] % 4);
			sqlite3_bind_int64(st, 2, raw);
			sqlite3_bind_blob(st, 3, d + 5, (int)(n - 5), SQLITE_STATIC);
			sqlite3_step(st);
		}
	} else if (mode == 2 && n >= 2) {
		const char *t = tables[d[0] % (sizeof(tables) / sizeof(tables[0]))];

		snprintf(
		    sql, sizeof(sql),
		    "DROP TABLE %s; CREATE TABLE %s (x, run, id, idx); PRAGMA user_version = %d", t,
		    t, d[1] % 4);
		sqlite3_exec(db, sql, NULL, NULL, NULL);
		snprintf(sql, sizeof(sql), "INSERT INTO %s VALUES (?1, 1, 0, 0)", t);
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
			sqlite3_bind_blob(st, 1, d + 2, (int)(n - 2), SQLITE_STATIC);
			sqlite3_step(st);
		}
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void walk(struct ctr_store *s)
{
	struct ctr_run **runs = NULL, *r = NULL;
	size_t n = 0;

	if (ctr_store_list(s, NULL, 0, 0, &runs, &n, NULL) != 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (ctr_store_load(s, runs[i]->id, CTR_LOAD_TIMELINE, &r, NULL) != 0)
			continue;
		for (size_t t = 0; t < r->n_threads; t++) {
			struct ctr_tl_iter *it = NULL;
			struct ctr_event ev;

			if (ctr_tl_iter_open(&it, r, r->threads[t].id, NULL) == 0)
				while (ctr_tl_iter_next(it, &ev, NULL) > 0)
					;
			ctr_tl_iter_close(it);
		}
		ctr_run_free(r);
		r = NULL;
	}
	ctr_run_list_free(runs, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctr_store *s = NULL;

	if (!path[0]) {
		snprintf(path, sizeof(path), "%s/store.db", fuzz_tmpdir("sqlite"));
		snprintf(conn, sizeof(conn), "sqlite:%s", path);
		make_template();
	}
	if (size < 1)
		return 0;
	if (data[0] % 3 == 0)
		write_file(data + 1, size - 1);
	else
		doctor(data[0] % 3, data + 1, size - 1);
	if (ctr_store_open(&s, conn, NULL) == 0) {
		walk(s);
		ctr_store_close(s);
	}
	return 0;
}
