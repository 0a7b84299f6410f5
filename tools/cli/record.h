/* SPDX-License-Identifier: MIT */
/* What `ctrace record` (cmd-record.c) shares with `ctrace attach` (cmd-attach.c). */
#ifndef CTR_RECORD_H
#define CTR_RECORD_H

#include <stddef.h>

#include "../../common/err.h"
#include "../../common/options.h"

/* libctrace.so: $CTRACE_LIB, else next to the ctrace binary (., ../lib, ../build) into @out.
 * 0 or -1. */
int ctr_record_find_lib(char *out, size_t n);

/* Creates PARENT/ID (0700, no symlink following) and its run.meta (created_by=@by, @argv as
 * the command, the options in the environment, @metas KEY=VALUE). Fills @dir and @id. 0 or a
 * negative CTR_E* code. */
int ctr_record_create_run_dir(const char *parent, const char *by, char **argv, char **metas,
			      int n_metas, char *dir, size_t dirsz, char *id, size_t idsz,
			      struct ctr_err *e);

/* Appends printf-formatted lines to @dir's run.meta (best effort). */
void ctr_record_append_meta(const char *dir, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Copies the process files (p-*: metadata, module maps, crash files) of run @from into @to,
 * for a flight-recorder snapshot (best effort). */
void ctr_record_copy_proc_files(const char *from, const char *to);

/* Puts recording option @d = @v into its CTRACE_* variable (globs accumulate), checked against
 * the option table; 0, or prints a usage error for @who and returns 2. */
int ctr_record_set_option(const char *who, const struct ctr_opt_def *d, const char *v);
/* The value option @d takes from its command-line argument @arg (NULL when none): "on" for a
 * flag, "*" for --libcalls alone, else @arg. */
const char *ctr_record_opt_value(const struct ctr_opt_def *d, const char *arg);
/* Appends the shared recording options' short letters (each taking an argument) to @shorts,
 * a getopt string with room for them. */
void ctr_record_opt_shorts(char *shorts);
/* The shared recording option getopt_long() returned as @c, or NULL for another one. */
const struct ctr_opt_def *ctr_record_opt_of(int c);

/* The same checks for CTRACE_* values inherited in the environment: 0 or 2 (printed). */
int ctr_record_check_env(const char *who);

#endif
