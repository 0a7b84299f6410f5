/* SPDX-License-Identifier: MIT */
/*
 * Stored timelines: the normalized event stream of one thread (common/format.h words, times in
 * ns since run start, DEFINE/INHERIT/MARK payloads are function ids), cut into zstd-compressed
 * chunks of about 1 MiB of words. The writer is used by commit; the iterator by every view and
 * export that needs individual events.
 */
#ifndef CTR_TIMELINE_H
#define CTR_TIMELINE_H

#include <stdint.h>

#include "../common/decode.h"
#include "store.h"

/* Receives each finished chunk; the chunk's data is borrowed for the call only. */
typedef int (*ctr_tl_sink)(void *arg, const struct ctr_chunk *c, struct ctr_err *e);

struct ctr_tl_writer;

int ctr_tl_writer_open(struct ctr_tl_writer **out, uint32_t thread, ctr_tl_sink sink, void *arg,
		       struct ctr_err *e);
/* Appends events; times must not go backwards. Return 0 or a negative CTR_E* code (from the
 * sink or CTR_ENOMEM). Strings are at most CTR_STR_MAX bytes (longer ones are cut). */
int ctr_tl_enter(struct ctr_tl_writer *w, uint64_t ns, uint32_t func, struct ctr_err *e);
int ctr_tl_inherit(struct ctr_tl_writer *w, uint64_t ns, uint32_t func, struct ctr_err *e);
int ctr_tl_exit(struct ctr_tl_writer *w, uint64_t ns, struct ctr_err *e);
int ctr_tl_mark(struct ctr_tl_writer *w, uint64_t ns, uint32_t func, struct ctr_err *e);
int ctr_tl_attr_str(struct ctr_tl_writer *w, uint64_t ns, const char *key, const char *val,
		    struct ctr_err *e);
int ctr_tl_attr_int(struct ctr_tl_writer *w, uint64_t ns, const char *key, int64_t val,
		    struct ctr_err *e);
int ctr_tl_lost(struct ctr_tl_writer *w, uint64_t ns, uint64_t count, struct ctr_err *e);
/* --sched: the thread was off the CPU for @dur ns from @ns, blocked or @preempted. */
int ctr_tl_offcpu(struct ctr_tl_writer *w, uint64_t ns, uint64_t dur, int preempted,
		  struct ctr_err *e);
/* Flushes the last chunk. */
int ctr_tl_writer_finish(struct ctr_tl_writer *w, struct ctr_err *e);
/* Bytes of words written so far (uncompressed) and compressed. */
uint64_t ctr_tl_writer_raw_bytes(const struct ctr_tl_writer *w);
uint64_t ctr_tl_writer_stored_bytes(const struct ctr_tl_writer *w);
void ctr_tl_writer_free(struct ctr_tl_writer *w); /* accepts NULL */

/* Iterates the events of thread @thread of @run (loaded with CTR_LOAD_TIMELINE), decompressing
 * one chunk at a time. Event times are ns since run start; refs are function ids. */
struct ctr_tl_iter;
int ctr_tl_iter_open(struct ctr_tl_iter **out, const struct ctr_run *run, uint32_t thread,
		     struct ctr_err *e);
/* The same over a run loaded without its timeline, fetching one chunk at a time from @s
 * (ctr_store_can_stream): memory stays at one chunk whatever the run's size. @s and @run are
 * borrowed until close. */
int ctr_tl_iter_open_store(struct ctr_tl_iter **out, struct ctr_store *s, const struct ctr_run *run,
			   uint32_t thread, struct ctr_err *e);
/* 1 = event, 0 = end, negative CTR_E* on corrupt data. */
int ctr_tl_iter_next(struct ctr_tl_iter *it, struct ctr_event *ev, struct ctr_err *e);
void ctr_tl_iter_close(struct ctr_tl_iter *it); /* accepts NULL */
/* Random access by chunk, for readers that index a timeline (tools/export/tlindex.h): the number of
 * chunks of the iterated thread, chunk @k of them in seq order (borrowed from the run), how many
 * have been read so far (the chunk of the last event is the one before that), and a seek that
 * makes chunk @k the next one read, dropping the rest of the current one and the decoder's open
 * frames (a reader that seeks keeps its own stack). Seeking past the end ends the iteration. */
size_t ctr_tl_iter_chunks(const struct ctr_tl_iter *it);
const struct ctr_chunk *ctr_tl_iter_chunk(const struct ctr_tl_iter *it, size_t k);
size_t ctr_tl_iter_read(const struct ctr_tl_iter *it);
void ctr_tl_iter_seek(struct ctr_tl_iter *it, size_t k);
/* Reads the data of a chunk loaded without it (CTR_LOAD_CHUNK_INDEX: data NULL, size > 0) into
 * *@data (malloc'ed, the iterator frees it) and *@size; 0 or a negative CTR_E* code. */
typedef int (*ctr_tl_fetch)(void *arg, const struct ctr_chunk *c, unsigned char **data,
			    size_t *size, struct ctr_err *e);
/* Makes the iterator read such chunks through @fetch (one held at a time); without it they are
 * CTR_EFORMAT ("no data"). */
void ctr_tl_iter_set_fetch(struct ctr_tl_iter *it, ctr_tl_fetch fetch, void *arg);

#endif
