/* SPDX-License-Identifier: MIT */
/* Event stream decoder: see decode.h and docs/format.md. */
#include "decode.h"

#include <stdlib.h>
#include <string.h>

void ctr_decoder_init(struct ctr_decoder *d)
{
	memset(d, 0, sizeof(*d));
	d->version = 1;
}

int ctr_decoder_set_version(struct ctr_decoder *d, unsigned version, struct ctr_err *e)
{
	if (version < 1 || version > CTR_EV_VERSION)
		return ctr_err_set(e, CTR_EVERSION, 0,
				   "event format version %u; this ctrace reads versions 1 to %d",
				   version, CTR_EV_VERSION);
	d->version = (int)version;
	return 0;
}

void ctr_decoder_release(struct ctr_decoder *d)
{
	if (!d)
		return;
	free(d->stack);
	d->stack = NULL;
	d->cap = d->depth = 0;
}

void ctr_decoder_feed(struct ctr_decoder *d, const void *data, size_t size)
{
	d->base_offset += d->pos * 4;
	d->w = data;
	d->n = size / 4;
	d->pos = 0;
}

static int push(struct ctr_decoder *d, uint64_t ref, struct ctr_err *e)
{
	if (d->depth == d->cap) {
		uint32_t cap = d->cap ? d->cap * 2 : 256;
		uint64_t *s = realloc(d->stack, (size_t)cap * sizeof(*s));

		if (!s)
			return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory decoding events");
		d->stack = s;
		d->cap = cap;
	}
	d->stack[d->depth++] = ref;
	return 0;
}

static void pop(struct ctr_decoder *d, struct ctr_event *ev)
{
	ev->type = CTR_EV_EXIT;
	if (d->depth == 0) {
		ev->unmatched = 1;
		return;
	}
	ev->depth = d->depth;
	ev->ref = d->stack[--d->depth];
}

static int bad(struct ctr_decoder *d, struct ctr_err *e, size_t at, const char *what)
{
	ctr_err_ctx(e, NULL, NULL, (long long)(d->base_offset + at * 4));
	return ctr_err_set(e, CTR_EFORMAT, 0, "corrupt event stream at byte %llu: %s",
			   (unsigned long long)(d->base_offset + at * 4), what);
}

static uint64_t u64_at(const uint32_t *p)
{
	return (uint64_t)p[0] | ((uint64_t)p[1] << 32);
}

/* An ENTER of @slot @delta after the previous event (ENTER and LEAF words). */
static inline int enter(struct ctr_decoder *d, struct ctr_event *ev, struct ctr_err *e, size_t at,
			uint32_t slot, uint32_t delta)
{
	if (!d->have_time)
		return bad(d, e, at, "event before the first time record");
	if (!d->slots[slot])
		return bad(d, e, at, "enter of an undefined slot");
	d->time += delta;
	ev->type = CTR_EV_ENTER;
	ev->time = d->time;
	ev->ref = d->slots[slot] - 1;
	if (push(d, ev->ref, e))
		return CTR_ENOMEM;
	ev->depth = d->depth;
	return 1;
}

/* An EXIT @delta after the previous event (EXIT and EXIT2 words). */
static inline int leave(struct ctr_decoder *d, struct ctr_event *ev, struct ctr_err *e, size_t at,
			uint32_t delta)
{
	if (!d->have_time)
		return bad(d, e, at, "event before the first time record");
	d->time += delta;
	ev->time = d->time;
	pop(d, ev);
	return 1;
}

/* ext_record()'s answer for a record that sets decoder state but is no event of its own. */
enum { SKIP = 2 };

/* The extended record @w at word @at (its payload follows): 1 with @ev filled, SKIP for state
 * only (time, slot definitions, padding, unwinds, a later version's kinds), or an error. Kept out
 * of ctr_decoder_next()'s loop: extended records are rare beside ENTER and EXIT words. */
static int ext_record(struct ctr_decoder *d, struct ctr_event *ev, struct ctr_err *e, size_t at,
		      uint32_t w)
{
	uint32_t kind = CTR_W_EXT_KIND(w), nw = CTR_W_EXT_NWORDS(w), arg = CTR_W_EXT_ARG(w);
	const uint32_t *p = d->w + d->pos;

	if (nw > d->n - d->pos)
		return bad(d, e, at, "record truncated");
	d->pos += nw;
	ev->time = d->time;
	switch (kind) {
	case CTR_X_TIME:
		if (nw < 2)
			return bad(d, e, at, "short time record");
		/* a clock that stepped back a little (TSC across CPUs on a VM) is clamped;
		 * more than that is time going backwards: not data a recorder writes */
		if (d->have_time && d->time > CTR_DEC_TIME_SLACK &&
		    u64_at(p) < d->time - CTR_DEC_TIME_SLACK)
			return bad(d, e, at, "time going backwards");
		if (!d->have_time || u64_at(p) > d->time)
			d->time = u64_at(p);
		d->have_time = 1;
		return SKIP;
	case CTR_X_DEFINE:
		if (nw < 2 || arg >= CTR_NSLOTS)
			return bad(d, e, at, "bad define record");
		d->slots[arg] = u64_at(p) + 1; /* 0 means undefined */
		return SKIP;
	case CTR_X_PAD:
		return SKIP;
	case CTR_X_LOST:
		if (nw < 2)
			return bad(d, e, at, "short lost record");
		ev->type = CTR_EV_LOST;
		ev->count = u64_at(p);
		return 1;
	case CTR_X_INHERIT:
		if (nw < 2 || !d->have_time)
			return bad(d, e, at, "bad inherit record");
		ev->type = CTR_EV_INHERIT;
		ev->ref = u64_at(p);
		if (push(d, ev->ref, e))
			return CTR_ENOMEM;
		ev->depth = d->depth;
		return 1;
	case CTR_X_SPAN:
	case CTR_X_MARK:
	case CTR_X_THREAD_NAME:
		if (kind == CTR_X_MARK && arg == 0 && nw == 2) { /* stored: function id */
			ev->type = CTR_EV_MARK;
			ev->ref = u64_at(p);
			ev->str = (const char *)p; /* read as raw: an empty name */
			ev->len = 0;
			return 1;
		}
		if ((arg + 3) / 4 > nw)
			return bad(d, e, at, "string longer than its record");
		ev->str = (const char *)p;
		ev->len = arg;
		if (kind == CTR_X_SPAN) {
			if (!d->have_time)
				return bad(d, e, at, "span before the first time record");
			ev->type = CTR_EV_SPAN;
			if (push(d, UINT64_MAX, e)) /* resolved by the reader */
				return CTR_ENOMEM;
			ev->depth = d->depth;
		} else {
			ev->type = kind == CTR_X_MARK ? CTR_EV_MARK : CTR_EV_THREAD_NAME;
		}
		return 1;
	case CTR_X_ATTR_STR: {
		if (nw < 1)
			return bad(d, e, at, "short attribute record");
		uint32_t vlen = p[0], kw = (arg + 3) / 4;

		if (vlen > CTR_STR_MAX || 1 + kw + (vlen + 3) / 4 > nw)
			return bad(d, e, at, "attribute longer than its record");
		ev->type = CTR_EV_ATTR_STR;
		ev->str = (const char *)(p + 1);
		ev->len = arg;
		ev->str2 = (const char *)(p + 1 + kw);
		ev->len2 = vlen;
		return 1;
	}
	case CTR_X_ATTR_INT:
		if (nw < 2 || 2 + (arg + 3) / 4 > nw)
			return bad(d, e, at, "attribute longer than its record");
		ev->type = CTR_EV_ATTR_INT;
		ev->ival = (int64_t)u64_at(p);
		ev->str = (const char *)(p + 2);
		ev->len = arg;
		return 1;
	case CTR_X_UNWIND:
		if (nw < 1)
			return bad(d, e, at, "short unwind record");
		d->time += p[0];
		d->unwind_left = arg;
		return SKIP;
	case CTR_X_COUNT:
		if (arg >= CTR_NSLOTS || !d->slots[arg])
			return bad(d, e, at, "bad count record");
		ev->type = CTR_EV_COUNT;
		ev->ref = d->slots[arg] - 1;
		ev->count = nw ? p[0] : 1; /* no payload: one call */
		return 1;
	case CTR_X_TRACER:
	case CTR_X_HIDDEN:
		if (nw < 1 || (kind == CTR_X_HIDDEN && arg >= CTR_HIDDEN_KINDS))
			return SKIP; /* a later version's variant: skipped like unknown kinds
				      */
		ev->type = kind == CTR_X_TRACER ? CTR_EV_TRACER : CTR_EV_HIDDEN;
		ev->ref = arg;
		ev->count = p[0];
		return 1;
	case CTR_X_OFFCPU:
		if (nw < 2 || arg < 1 || arg > 2)
			return SKIP; /* a later version's variant */
		ev->type = CTR_EV_OFFCPU;
		ev->ref = arg;
		ev->count = u64_at(p);
		return 1;
	default:
		return SKIP; /* unknown kinds are skipped: forward compatible */
	}
}

int ctr_decoder_next(struct ctr_decoder *d, struct ctr_event *ev, struct ctr_err *e)
{
	static const struct ctr_event none; /* copied with vector stores, where a 96-byte
					     * memset() became a slow `rep stos` */

	for (;;) {
		*ev = none;
		if (d->exit_left | d->unwind_left) {
			if (d->exit_left) { /* the second half of a LEAF or EXIT2 word */
				d->exit_left = 0;
				d->time += d->exit_delta;
				ev->offset = d->pos ? (d->pos - 1) * 4 : 0;
			} else {
				d->unwind_left--;
				ev->offset = d->pos * 4;
			}
			ev->time = d->time;
			pop(d, ev);
			return 1;
		}
		if (d->pos >= d->n)
			return 0;
		size_t at = d->pos;
		uint32_t w = d->w[d->pos++];
		int ret;

		ev->offset = at * 4;

		if (w == 0) {
			d->pos = d->n; /* preallocated, never written */
			return 0;
		}
		if (d->version >= 2) {
			switch (CTR_W2_TAG(w)) {
			case CTR_W2_T_EXIT:
				if (!CTR_W2_IS_EXIT2(w))
					return leave(d, ev, e, at, CTR_W2_EXIT_DELTA(w));
				ret = leave(d, ev, e, at, CTR_W2_EXIT2_D1(w));
				d->exit_left = ret > 0;
				d->exit_delta = CTR_W2_EXIT2_D2(w);
				return ret;
			case CTR_W2_T_ENTER:
				return enter(d, ev, e, at, CTR_W_ENTER_SLOT(w),
					     CTR_W_ENTER_DELTA(w));
			case CTR_W2_T_LEAF:
				ret =
				    enter(d, ev, e, at, CTR_W_ENTER_SLOT(w), CTR_W2_LEAF_DELTA(w));
				d->exit_left = ret > 0;
				d->exit_delta = CTR_W2_LEAF_DUR(w);
				return ret;
			default:
				break;
			}
		} else if (CTR_W_IS_EXIT(w)) {
			return leave(d, ev, e, at, CTR_W_EXIT_DELTA(w));
		} else if (CTR_W_IS_ENTER(w)) {
			return enter(d, ev, e, at, CTR_W_ENTER_SLOT(w), CTR_W_ENTER_DELTA(w));
		}

		ret = ext_record(d, ev, e, at, w);
		if (ret != SKIP)
			return ret;
	}
}
