/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the ctrace command-line tools: error printing with stable codes (and the
 * optional JSON trailer), store opening, run resolution, duration/time parsing and formatting.
 */
#ifndef CTR_CLI_H
#define CTR_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../../common/err.h"
#include "../../common/fmt.h"
#include "../../store/store.h"
#include "../ingest/commit.h"

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
/* For the commands that only read: like ctr_cli_open_store(), but a file-backed store that
 * does not exist is CTR_ENOTFOUND and nothing is created, unless @spec names a raw run
 * directory (which is committed into the store first, creating it). */
int ctr_cli_open_store_read(const char *conn, const char *spec, struct ctr_store **s,
			    struct ctr_err *e);
/* Loads the run named by @spec (NULL = "latest"; id, prefix, latest~N). When @spec is a raw
 * run directory it is committed into @s first (kept on disk). Caller frees *out. */
/* ctr_commit_dir(), then the run's timeline index built and stored with it (export/tlindex.h,
 * ctr_tlindex_store) so that ctrace serve needs no full scan; an index that cannot be stored is
 * a warning on stderr (the server builds it then), not a failed commit. $CTRACE_KEEP_PREEMPTED=1
 * sets keep_preempted, for every command that commits. */
int ctr_cli_commit(struct ctr_store *s, const char *dir, const struct ctr_commit_opts *o,
		   char id[CTR_RUN_ID_MAX], struct ctr_err *e);
int ctr_cli_load_run(struct ctr_store *s, const char *spec, unsigned what, struct ctr_run **out,
		     struct ctr_err *e);

/* Parses a decimal count into *@v: 0, or -1 for an empty string, a sign, a non-digit or an
 * overflow. */
int ctr_cli_parse_u64(const char *s, uint64_t *v);

/* Opens @path for an output written all or nothing: a temporary file beside it (mode as a
 * plain fopen would create) that ctr_cli_out_close() renames over @path. *@tmp is the
 * temporary name (caller passes it to ctr_cli_out_close). Until then SIGINT, SIGTERM and
 * SIGHUP (unless ignored) remove the temporary file and end the command by that signal. NULL
 * with @e set on failure. Not thread-safe; one such output at a time. */
FILE *ctr_cli_out_open(const char *path, char **tmp, struct ctr_err *e);
/* Closes @f; with @ok renames the temporary file over @path, else (or when the close fails)
 * removes it, so @path is either the whole output or untouched. Frees @tmp. 0 or CTR_EIO. */
int ctr_cli_out_close(FILE *f, const char *path, char *tmp, int ok, struct ctr_err *e);

/* The run filter options shared by query, export and trend: getopt_long entries (values 'S',
 * 'U', 'D', 'X', 'C', 'F', 'H', 'B', 'M'), their --help text, and the parser: returns 1 if @c
 * was one (filling @f; --meta and --build-id add to @meta, whose keys the caller frees), 0 if
 * not, or a negative code for a bad value. @meta must have room for one entry per argument. */
#define CTR_CLI_FILTER_LONGOPTS                                                                    \
	{"since", required_argument, NULL, 'S'}, {"until", required_argument, NULL, 'U'},          \
	    {"min-duration", required_argument, NULL, 'D'},                                        \
	    {"max-duration", required_argument, NULL, 'X'},                                        \
	    {"command", required_argument, NULL, 'C'}, {"function", required_argument, NULL, 'F'}, \
	    {"host", required_argument, NULL, 'H'}, {"build-id", required_argument, NULL, 'B'},    \
	{                                                                                          \
		"meta", required_argument, NULL, 'M'                                               \
	}

extern const char ctr_cli_filter_help[];
/* Applies filter option @c (a CTR_CLI_FILTER_LONGOPTS value) with @arg to @f (@meta: room for
 * one more --meta/--build-id pair, which @f then points to). 1 when applied, 0 when @c is no
 * filter option, CTR_EUSAGE with @e's message naming the option and value when @arg is bad
 * (--max-duration 0 included: it could match no run). */
int ctr_cli_filter_opt(int c, const char *arg, struct ctr_filter *f, struct ctr_kv *meta,
		       struct ctr_err *e);

#endif
