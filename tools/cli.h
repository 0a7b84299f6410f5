/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the ctrace command-line tools: error printing with stable codes (and the
 * optional JSON trailer), store opening, run resolution, duration/time parsing and formatting.
 */
#ifndef CTR_CLI_H
#define CTR_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "../store/store.h"

/* Exit statuses of every ctrace tool (docs/errors.md). */
#define CTR_EXIT_OK 0
#define CTR_EXIT_ERROR 1
#define CTR_EXIT_USAGE 2

/* Set by --json-errors or CTRACE_JSON_ERRORS=1: error trailers also go to stderr as JSON. */
extern int ctr_cli_json_errors;

/* Reads CTRACE_JSON_ERRORS and removes a global --json-errors from argv. */
void ctr_cli_init(int *argc, char **argv);
/* Prints "PROG: CTRACE_E_X: message" (and the JSON trailer) to stderr; returns the exit
 * status for @e: 2 for CTR_EUSAGE, else 1. */
int ctr_cli_fail(const char *prog, const struct ctr_err *e);
/* Prints a usage error "PROG: CTRACE_E_USAGE: ..." and a hint; returns 2. */
int ctr_cli_usage(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Opens @conn, or the default store (ctr_store_default()) when NULL. Only an explicit @conn
 * may be a symlink (owned by the caller: CTR_STORE_LINK_OK). */
int ctr_cli_open_store(const char *conn, struct ctr_store **s, struct ctr_err *e);
/* Loads the run named by @spec (NULL = "latest"; id, prefix, latest~N). When @spec is a raw
 * run directory it is committed into @s first (kept on disk). Caller frees *out. */
int ctr_cli_load_run(struct ctr_store *s, const char *spec, unsigned what, struct ctr_run **out,
		     struct ctr_err *e);

/* "250" (ns), "10us", "1.5ms", "2s", "1m" -> ns. 0 or CTR_EUSAGE. */
int ctr_parse_duration(const char *s, uint64_t *ns);
/* "2026-11-21", "2026-11-21T10:00:00" (UTC), "@1700000000" (unix s), "-2h" (relative to now)
 * -> unix ns. 0 or CTR_EUSAGE. */
int ctr_parse_time(const char *s, int64_t *unix_ns);
/* Human duration with 3 significant digits: "812 ns", "1.23 us", "45.6 ms", "2.00 s". */
void ctr_fmt_ns(char *buf, size_t n, uint64_t ns);

#endif
