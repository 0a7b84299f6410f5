/* SPDX-License-Identifier: MIT */
/*
 * The run's JSON form, written once: the one serializer and the one parser of a run that every
 * JSON output goes through (the JSONL store's lines, `ctrace show --format json`,
 * `ctrace-report --json`, `ctrace list/query --json`). Key names and types are the contract of
 * docs/store.md ("The run as JSON"); changing one here changes all of them together.
 *
 * Strings: JSON holds only UTF-8, run strings are bytes (command lines, file names, span
 * attributes). Each byte that is not part of a valid UTF-8 sequence is written as U+FFFD, so a
 * serializer never fails on them; the SQLite store keeps the original bytes.
 */
#ifndef CTR_RUNJSON_H
#define CTR_RUNJSON_H

#include <jansson.h>
#include <stddef.h>

#include "store.h"

#define CTR_RUNJSON_FORMAT "ctrace-run/2"
#define CTR_RUNJSON_VERSION 2 /* "v": the newest form this ctrace reads and writes */

/* ctr_runjson_run() flags. */
enum {
	CTR_RUNJSON_CHUNKS = 1,	   /* include the timeline chunks (base64) */
	CTR_RUNJSON_NODE_ROWS = 2, /* nodes as arrays in "node_columns" order (compact) */
};

/* A JSON string of @s with invalid UTF-8 bytes as U+FFFD; JSON null for NULL; NULL only when
 * out of memory. New reference. */
json_t *ctr_json_str(const char *s);
/* 1 if the NUL-terminated @s is valid UTF-8 (RFC 3629: no overlongs, surrogates, > U+10FFFF). */
int ctr_utf8_valid(const char *s);
/* A copy of @s with each byte that is not part of valid UTF-8 replaced by U+FFFD; caller
 * frees; NULL on ENOMEM. */
char *ctr_utf8_sanitize(const char *s);

/* The run's summary: run_id, command, host, cwd, start_unix_ns, duration_ns, exit_status,
 * signal, crashed (boolean), events, lost_events, metadata (object). What list/query print
 * for each run and what every other form starts with. New reference or NULL (no memory). */
json_t *ctr_runjson_summary(const struct ctr_run *r);
/* Thread @i of @r: id, pid, tid, name, start_ns, end_ns, events, lost_events. */
json_t *ctr_runjson_thread(const struct ctr_run *r, size_t i);
/* Module @i of @r: id, path, build_id, base. */
json_t *ctr_runjson_module(const struct ctr_run *r, size_t i);
/* Function @i of @r: id, kind (name), name, linkage_name, file, line, module (null when
 * none), offset. */
json_t *ctr_runjson_function(const struct ctr_run *r, size_t i);
/* Kind names of enum ctr_func_kind: "function", "span", "mark". */
const char *ctr_runjson_kind_name(uint32_t kind);
/* The whole run: "format", "v", the summary, clock, calibration, processes, modules,
 * functions, threads, nodes, attrs, and with CTR_RUNJSON_CHUNKS the @n_chunks chunks (the
 * run's own when @chunks is NULL). New reference or NULL (no memory). */
json_t *ctr_runjson_run(const struct ctr_run *r, const struct ctr_chunk *chunks, size_t n_chunks,
			unsigned flags);

/*
 * Fills the zeroed @r from the object @o, validating every field: this form or the previous
 * one (v 1: "id", "meta" array, numeric kinds and codecs). With @chunks the timeline chunks are
 * decoded, else only validated. Returns 0, CTR_EFORMAT (the offending field named in @why),
 * CTR_EVERSION (a newer "v") or CTR_ENOMEM. On error @r holds what was parsed (ctr_run_free).
 */
int ctr_runjson_parse(json_t *o, int chunks, struct ctr_run *r, char *why, size_t why_n);

/* Base64 (RFC 4648, padded). encode: caller frees, NULL when out of memory. decode: 0 with
 * *@out (caller frees; NULL when empty), -1 when invalid, -2 when out of memory. */
char *ctr_base64_encode(const unsigned char *in, size_t n);
int ctr_base64_decode(const char *in, size_t n, unsigned char **out, size_t *outlen);

#endif
