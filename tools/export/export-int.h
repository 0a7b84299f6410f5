/* SPDX-License-Identifier: MIT */
/*
 * Private to the export stage (one file per format): the small writers they share (export.c),
 * the bounded timeline walker that turns a thread's event stream into finished calls (walk.c),
 * the merged flame tree built from the calling-context tree for folded stacks, SVG and HTML
 * (flame.c), and the embedded page assets (assets.c).
 */
#ifndef CTR_EXPORT_INT_H
#define CTR_EXPORT_INT_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "export.h"

/* An open or finished call of the timeline. */
struct tl_frame {
	uint32_t fid;
	uint64_t start, end; /* ns since run start; clipped to the window when emitted */
	uint64_t seq;	     /* order of the enter in its thread, from 0 */
	uint32_t depth;	     /* 0 = top level */
	int unfinished;	     /* still open at the end of the thread */
	int kept_child;	     /* a descendant was emitted: emit this one too */
	json_t *attrs;	     /* object key -> value of ATTR events, or NULL */
	json_t *marks;	     /* array of [time, function id] marks inside, or NULL */
};

struct tl_walk;
typedef int (*tl_call_fn)(struct tl_walk *w, uint32_t thread, struct tl_frame *f,
			  const struct tl_frame *parent, struct ctr_err *e);
typedef int (*tl_mark_fn)(struct tl_walk *w, uint32_t thread, uint64_t t, uint32_t fid,
			  struct tl_frame *top, struct ctr_err *e);
typedef int (*tl_lost_fn)(struct tl_walk *w, uint32_t thread, uint64_t t, uint64_t count,
			  struct ctr_err *e);
/* --sched: thread @thread was off the CPU from @t for @dur ns (@preempted: involuntarily). */
typedef int (*tl_offcpu_fn)(struct tl_walk *w, uint32_t thread, uint64_t t, uint64_t dur,
			    int preempted, struct ctr_err *e);

/* Walks every thread of run: emits calls (at their exit, so children before parents) that
 * overlap [from, to), last at least min_dur, within each thread's share of limit (0 = none);
 * ancestors of an emitted call are always emitted, so nesting and parent links stay whole. */
struct tl_walk {
	const struct ctr_run *run;
	uint64_t from, to; /* to = UINT64_MAX: no end */
	uint64_t min_dur;
	uint64_t limit; /* over all threads; each thread gets limit / n_threads, or with @fit
			 * the first calls of any thread up to the limit */
	int fit;	/* ctr_tl_walk_fit() chose min_dur for the whole run */
	tl_call_fn on_call;
	tl_mark_fn on_mark;	/* may be NULL */
	tl_lost_fn on_lost;	/* may be NULL */
	tl_offcpu_fn on_offcpu; /* may be NULL; gaps that begin in [from, to) */
	ctr_tl_fetch fetch;	/* chunks without data read through it (export opts) */
	void *fetch_arg;
	void *arg;
	struct ctr_export_stats st;
};

int ctr_tl_walk(struct tl_walk *w, struct ctr_err *e);
/* Covers the whole window within the walk's limit: one counting pass over the timeline sets
 * min_dur to the shortest duration such that the calls at least that long (measured, as the
 * export writes them; histogram buckets) number at most the limit, and lifts the per-thread
 * share (a thread with many long calls keeps them). The limit stays a hard cap. Costs a second
 * read of the timeline. 0 or an error of the timeline or CTR_ENOMEM. */
int ctr_tl_walk_fit(struct tl_walk *w, struct ctr_err *e);
/* Fills a walk from export options and format defaults. */
void ctr_tl_walk_init(struct tl_walk *w, const struct ctr_run *run, const struct ctr_export_opts *o,
		      int64_t def_min, int64_t def_limit);

/* The CCT merged across threads (and optionally split by thread at the bottom): one node per
 * distinct stack. Node 0 is the root; nodes come parents first; children sorted by name. */
#define FT_THREAD 0x80000000u /* fid flag: a thread frame, low bits = thread index */
struct ft_node {
	uint32_t fid;
	uint32_t parent;
	uint32_t first_child, next_sibling;
	uint32_t depth;
	uint64_t total, self;
	uint64_t x; /* start offset in ns of the layout */
};

struct ft_tree {
	struct ft_node *n;
	size_t len, cap;
	uint32_t max_depth;
};

int ctr_ft_build(struct ft_tree *t, const struct ctr_run *run, int raw, int thread_prefix,
		 struct ctr_err *e);
void ctr_ft_release(struct ft_tree *t);
/* Name of a flame node: function name or "thread NAME (TID)" for thread frames. */
const char *ctr_ft_name(const struct ctr_run *run, const struct ft_node *n, char *buf, size_t len);

/* Writes the flame graph of @t as SVG (inline: no XML prolog, for HTML pages). */
int ctr_ft_svg(FILE *out, const struct ctr_run *run, const struct ft_tree *t, int width,
	       int inline_svg, const char *title, struct ctr_err *e);

/* Writes @s as a quoted JSON string (ctr_export_json_escape). */
void ctr_export_jq(FILE *out, const char *s);
/* CTR_EIO with errno's message when @out has a write error, else 0. */
int ctr_export_status(FILE *out, struct ctr_err *e);
/* Name of function @fid of @run, "?" when out of range or unnamed (borrowed). */
const char *ctr_export_fn_name(const struct ctr_run *run, uint32_t fid);
/* Writes @ns as microseconds with three decimals ("12.345"), the Chrome format's unit. */
void ctr_export_fmt_us(FILE *out, uint64_t ns);

/* export/assets/viewer.{css,js}, NUL-terminated (assets.c). */
extern const char ctr_asset_viewer_css[];
extern const char ctr_asset_viewer_js[];

/* 32 and 16 hex digit ids for OTLP, derived from the run id. */
void ctr_export_trace_id(const struct ctr_run *run, char out[33]);

/* A growable protocol buffers message for the Perfetto export's cold packets (descriptors,
 * interned data, annotations): fields are appended in wire format; ctr_pb_open() starts a
 * length-delimited field whose length ctr_pb_close() fills in once its content is written.
 * An allocation failure sets @failed and makes every later call a no-op. */
struct ctr_pb {
	unsigned char *d;
	size_t len, cap;
	int failed;
};
void ctr_pb_varint(struct ctr_pb *pb, uint32_t field, uint64_t v);
void ctr_pb_bytes(struct ctr_pb *pb, uint32_t field, const void *data, size_t n);
void ctr_pb_str(struct ctr_pb *pb, uint32_t field, const char *s); /* NULL writes "" */
/* Returns the mark to pass to ctr_pb_close(). */
size_t ctr_pb_open(struct ctr_pb *pb, uint32_t field);
void ctr_pb_close(struct ctr_pb *pb, size_t mark);
/* Writes the varint @v at @p (room for 10 bytes); returns the byte after it. */
static inline unsigned char *ctr_pb_put(unsigned char *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (unsigned char)v;
	return p;
}
void ctr_pb_release(struct ctr_pb *pb); /* frees the buffer; the struct may be reused */

#endif
