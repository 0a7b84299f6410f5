/* SPDX-License-Identifier: MIT */
/*
 * Decoder for the event word stream of common/format.h: raw event files (times in ticks,
 * references are code addresses) and stored timelines (times in ns since run start, references
 * are function ids) alike. It keeps the slot table, the clock and the open-frame stack, so an
 * EXIT reports the frame it closes, UNWIND records come out as one EXIT per closed frame and a
 * LEAF word (version 2) as an ENTER and its EXIT. Input may be fed in pieces (chunks of one
 * thread, in order) with ctr_decoder_feed().
 */
#ifndef CTR_DECODE_H
#define CTR_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "format.h"

enum ctr_ev_type {
	CTR_EV_ENTER =
	    1,		 /* ref = address / function id; depth = depth of the new frame (1 = top) */
	CTR_EV_EXIT = 2, /* ref = what the closed frame entered; depth = its depth;
			  * unmatched = 1 when no frame was open (ref 0, depth 0) */
	CTR_EV_INHERIT = 3,	/* like ENTER, for a frame open before recording began */
	CTR_EV_SPAN = 4,	/* raw streams only: manual span enter; str = name */
	CTR_EV_ATTR_STR = 5,	/* str = key, str2 = value: attribute of the innermost open frame */
	CTR_EV_ATTR_INT = 6,	/* str = key, ival = value */
	CTR_EV_MARK = 7,	/* raw: str = name; stored: ref = function id of the mark */
	CTR_EV_THREAD_NAME = 8, /* str = name */
	CTR_EV_LOST = 9,	/* count = events lost at this point */
	CTR_EV_COUNT = 10,	/* ref = address / function id, count = calls not recorded singly */
	CTR_EV_TRACER = 11,	/* raw only: count = ticks the recorder spent here */
	CTR_EV_HIDDEN = 12,	/* raw only: ref = enum ctr_hidden_kind, count = hook calls that
				 * ran in the innermost frame unrecorded */
	CTR_EV_OFFCPU = 13,	/* stored only: count = ns the thread was off the CPU from
				 * here, ref = 1 blocked, 2 preempted */
};

struct ctr_event {
	int type;
	int unmatched;
	uint64_t time; /* ticks (raw) or ns since run start (stored) */
	uint64_t ref;
	uint64_t count;
	int64_t ival;
	uint32_t depth;
	const char *str; /* borrowed from the input; NOT NUL-terminated: use len */
	uint32_t len;
	const char *str2;
	uint32_t len2;
	size_t offset; /* byte offset of the record in the current input */
};

/* A TIME record may step back by at most this many ticks (or ns, in a stored timeline); the
 * decoder then keeps the later time. A bigger step back is CTR_EFORMAT ("time going
 * backwards"). */
#define CTR_DEC_TIME_SLACK (1ull << 20)

struct ctr_decoder {
	const uint32_t *w;
	size_t n, pos;
	uint64_t time;
	int have_time;
	uint32_t unwind_left; /* UNWIND frames still to report */
	int version;	      /* word encoding: 1 (default, stored timelines) or 2 */
	int exit_left;	      /* an EXIT of the word just read still to report (LEAF, EXIT2) */
	uint32_t exit_delta;  /* its delta */
	uint64_t *stack;      /* refs of open frames */
	uint32_t depth, cap;
	uint64_t slots[CTR_NSLOTS];
	uint64_t base_offset; /* bytes fed before the current input, for error offsets */
};

/* Initialises @d with no input, reading version-1 words (stored timelines, old raw files).
 * Release with ctr_decoder_release(). */
void ctr_decoder_init(struct ctr_decoder *d);
/* Sets the word encoding of a raw event file: its header's version (1 or CTR_EV_VERSION).
 * Returns 0, or CTR_EVERSION with @e filled for a version this decoder does not read. */
int ctr_decoder_set_version(struct ctr_decoder *d, unsigned version, struct ctr_err *e);
void ctr_decoder_release(struct ctr_decoder *d);
/* Sets the next piece of input (borrowed until the next feed/release); @size is truncated to a
 * multiple of 4. State (time, slots, open frames) carries over. */
void ctr_decoder_feed(struct ctr_decoder *d, const void *data, size_t size);
/* Decodes the next event: 1 = @ev filled, 0 = end of this input (or a zero word), negative
 * CTR_EFORMAT / CTR_ENOMEM with @e filled (offset set) on a bad or truncated record. */
int ctr_decoder_next(struct ctr_decoder *d, struct ctr_event *ev, struct ctr_err *e);

#endif
