/* SPDX-License-Identifier: MIT */
/*
 * Modules over time (ingest/rundir.h): which object an address belongs to at a given time
 * (a dlclose and a dlopen of another library at the same base, a load timed late, the last
 * mapping when no load time fits, no module), when the answer can next change; the SQLite
 * store of schema 3 upgrading to the module load and unload times of schema 4.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "scratch.h"
#include "store/store.h"
#include "tools/ingest/rundir.h"

static struct ctr_rawmod mods[] = {
    /* the program, there from the start */
    {.bias = 0x1000, .start = 0x1000, .end = 0x2000, .load_ticks = 0, .unload_ticks = UINT64_MAX},
    /* a.so loaded at 100, dlclosed at 200 */
    {.bias = 0x8000, .start = 0x8000, .end = 0x9000, .load_ticks = 100, .unload_ticks = 200},
    /* c.so at a.so's base, loaded at 300 */
    {.bias = 0x8000, .start = 0x8000, .end = 0x9000, .load_ticks = 300, .unload_ticks = UINT64_MAX},
};

static const struct ctr_rawproc proc = {.mods = mods, .n_mods = 3};

Test(modules, address_at_a_time)
{
	cr_assert_eq(ctr_rawproc_module_at(&proc, 0x1500, 0), 0);
	cr_assert_eq(ctr_rawproc_module_at(&proc, 0x1500, 1000), 0);
	cr_assert_eq(ctr_rawproc_module_at(&proc, 0x8100, 150), 1, "a.so while loaded");
	cr_assert_eq(ctr_rawproc_module_at(&proc, 0x8100, 350), 2, "c.so after its load");
	cr_assert_eq(ctr_rawproc_module_at(&proc, 0x8100, 50), 1, "before any load: the next one");
	cr_assert_eq(ctr_rawproc_module_at(&proc, 0x8100, 250), 2, "between: the next load");
	cr_assert_eq(ctr_rawproc_module_at(&proc, 0x5000, 150), -1, "no module");
	cr_assert_eq(ctr_rawproc_module_at(&proc, 0x9000, 150), -1, "end is exclusive");
}

Test(modules, last_mapping_when_no_load_time_fits)
{
	struct ctr_rawmod m[] = {
	    {.start = 0x8000, .end = 0x9000, .load_ticks = 100, .unload_ticks = 200},
	    {.start = 0x8000, .end = 0x9000, .load_ticks = 300, .unload_ticks = 400},
	};
	struct ctr_rawproc p = {.mods = m, .n_mods = 2};

	cr_assert_eq(ctr_rawproc_module_at(&p, 0x8000, 500), 1);
}

Test(modules, old_maps_without_times_last_mapping_wins)
{
	struct ctr_rawmod m[] = {
	    {.start = 0x8000, .end = 0x9000, .unload_ticks = UINT64_MAX},
	    {.start = 0x8000, .end = 0x9000, .unload_ticks = UINT64_MAX},
	};
	struct ctr_rawproc p = {.mods = m, .n_mods = 2};

	cr_assert_eq(ctr_rawproc_module_at(&p, 0x8000, 12345), 1);
}

Test(modules, next_change)
{
	cr_assert_eq(ctr_rawproc_next_change(&proc, 0), 100);
	cr_assert_eq(ctr_rawproc_next_change(&proc, 100), 200);
	cr_assert_eq(ctr_rawproc_next_change(&proc, 250), 300);
	cr_assert_eq(ctr_rawproc_next_change(&proc, 300), UINT64_MAX);
}

static char *xs(const char *s)
{
	return strdup(s);
}

/* A store of schema 3 opens, upgrades, loads its runs' modules as loaded at the start and
 * never unloaded, and keeps the times of new runs. */
Test(modules, sqlite_schema_3_store_upgrades)
{
	char dir[PATH_MAX], path[PATH_MAX + 16], conn[PATH_MAX + 32];
	struct ctr_store *s = NULL;
	struct ctr_run *r = calloc(1, sizeof(*r)), *got = NULL;
	sqlite3 *db = NULL;

	ctr_ut_mkdtemp(dir, sizeof(dir), "ctrace-test-modules");
	snprintf(path, sizeof(path), "%s/old.db", dir);
	snprintf(conn, sizeof(conn), "sqlite:%s", path);
	snprintf(r->id, sizeof(r->id), "old-1");
	r->modules = calloc(1, sizeof(*r->modules));
	r->modules[0] = (struct ctr_module){0, xs("/lib/x.so"), xs("ab"), 0x7000, 1500, 9000};
	r->n_modules = 1;
	cr_assert_eq(ctr_store_open(&s, conn, NULL), 0);
	cr_assert_eq(ctr_store_save(s, r, NULL), 0);
	ctr_store_close(s);
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db,
				  "ALTER TABLE modules DROP COLUMN loaded_ns;"
				  "ALTER TABLE modules DROP COLUMN unloaded_ns;"
				  "ALTER TABLE nodes DROP COLUMN preempted_calls;" /* schema 6 */
				  "PRAGMA user_version = 3",
				  NULL, NULL, NULL),
		     SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_close(db);
	cr_assert_eq(ctr_store_open(&s, conn, NULL), 0);
	cr_assert_eq(ctr_store_load(s, "old-1", 0, &got, NULL), 0);
	cr_assert_eq(got->n_modules, 1);
	cr_assert_str_eq(got->modules[0].path, "/lib/x.so");
	cr_assert_eq(got->modules[0].loaded_ns, 0);
	cr_assert_eq(got->modules[0].unloaded_ns, -1);
	ctr_run_free(got);
	snprintf(r->id, sizeof(r->id), "new-1");
	cr_assert_eq(ctr_store_save(s, r, NULL), 0);
	cr_assert_eq(ctr_store_load(s, "new-1", 0, &got, NULL), 0);
	cr_assert_eq(got->modules[0].loaded_ns, 1500);
	cr_assert_eq(got->modules[0].unloaded_ns, 9000);
	ctr_run_free(got);
	ctr_store_close(s);
	ctr_run_free(r);
	unlink(path);
}
