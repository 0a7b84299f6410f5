/* SPDX-License-Identifier: MIT */
/*
 * Stored timelines (timeline.h): the writer re-encodes one thread's events into the word stream
 * of common/format.h with times in ns since run start and function ids in DEFINE/INHERIT/MARK
 * payloads, cuts it into ~1 MiB chunks that each decode on their own (a leading TIME record,
 * a fresh slot table) and zstd-compresses them; the iterator undoes that chunk by chunk and runs
 * the shared decoder of common/decode.h over the result.
 */
#include "timeline.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define TL_CHUNK_WORDS (256u * 1024u) /* 1 MiB of words: cut at the first record past it */
#define TL_SLACK_WORDS 256u	      /* > the largest event: TIME + ATTR_STR of 2 x 255 bytes */
#define TL_ZSTD_LEVEL 1
/* The most a chunk can hold: the writer cuts at the first record past TL_CHUNK_WORDS. A chunk
 * claiming more, or whose stored bytes exceed what zstd could make of that, is corrupt (or a
 * decompression bomb) and refused before anything is allocated. */
#define TL_MAX_RAW ((uint64_t)(TL_CHUNK_WORDS + TL_SLACK_WORDS) * 4u)

struct ctr_tl_writer {
	uint32_t *buf; /* words of the chunk being built */
	size_t pos;
	uint64_t now;	   /* clock of the stream: time of the last event */
	uint64_t first_ns; /* time of the first event of the chunk */
	int need_time;	   /* the next event starts a chunk: emit TIME first */
	int failed;	   /* a sink or compression error happened: refuse further events */
	uint32_t thread, seq;
	ctr_tl_sink sink;
	void *arg;
	uint64_t raw_bytes, stored_bytes;
	ZSTD_CCtx *cctx;
	void *zbuf;
	size_t zcap;
	uint64_t
	    slot_fn[CTR_NSLOTS]; /* function id + 1 held by each slot in this chunk, 0 = none */
};

int ctr_tl_writer_open(struct ctr_tl_writer **out, uint32_t thread, ctr_tl_sink sink, void *arg,
		       struct ctr_err *e)
{
	struct ctr_tl_writer *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (!w)
		goto nomem;
	w->buf = malloc((TL_CHUNK_WORDS + TL_SLACK_WORDS) * sizeof(uint32_t));
	w->zcap = ZSTD_compressBound((TL_CHUNK_WORDS + TL_SLACK_WORDS) * sizeof(uint32_t));
	w->zbuf = malloc(w->zcap);
	w->cctx = ZSTD_createCCtx();
	if (!w->buf || !w->zbuf || !w->cctx)
		goto nomem;
	w->thread = thread;
	w->sink = sink;
	w->arg = arg;
	w->need_time = 1;
	*out = w;
	return 0;
nomem:
	ctr_tl_writer_free(w);
	return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory opening a timeline writer");
}

void ctr_tl_writer_free(struct ctr_tl_writer *w)
{
	if (!w)
		return;
	free(w->buf);
	free(w->zbuf);
	ZSTD_freeCCtx(w->cctx);
	free(w);
}

uint64_t ctr_tl_writer_raw_bytes(const struct ctr_tl_writer *w)
{
	return w->raw_bytes + w->pos * 4;
}

uint64_t ctr_tl_writer_stored_bytes(const struct ctr_tl_writer *w)
{
	return w->stored_bytes;
}

/* Compresses the words of the current chunk and hands the chunk to the sink. */
static int flush(struct ctr_tl_writer *w, struct ctr_err *e)
{
	struct ctr_chunk c;
	size_t z;
	int ret;

	if (w->pos == 0)
		return 0;
	z = ZSTD_compressCCtx(w->cctx, w->zbuf, w->zcap, w->buf, w->pos * 4, TL_ZSTD_LEVEL);
	if (ZSTD_isError(z)) {
		w->failed = CTR_EINTERNAL;
		return ctr_err_set(e, CTR_EINTERNAL, 0, "cannot compress timeline chunk: %s",
				   ZSTD_getErrorName(z));
	}
	memset(&c, 0, sizeof(c));
	c.thread = w->thread;
	c.seq = w->seq;
	c.codec = CTR_CODEC_ZSTD;
	c.raw_size = w->pos * 4;
	c.first_ns = w->first_ns;
	c.last_ns = w->now;
	c.size = z;
	c.data = w->zbuf;
	ret = w->sink ? w->sink(w->arg, &c, e) : 0;
	if (ret < 0) {
		w->failed = ret;
		return ret;
	}
	w->seq++;
	w->raw_bytes += w->pos * 4;
	w->stored_bytes += z;
	w->pos = 0;
	w->need_time = 1;
	memset(w->slot_fn, 0, sizeof(w->slot_fn));
	return 0;
}

static void put_u64(uint32_t *p, uint64_t v)
{
	p[0] = (uint32_t)v;
	p[1] = (uint32_t)(v >> 32);
}

/*
 * Common prologue of every event: cuts the chunk when it is full, clamps a time that goes
 * backwards, emits a TIME record at a chunk start or when @max_delta cannot hold the delta.
 * Returns the delta to encode in the event word (0 after a TIME record).
 */
static inline int prologue(struct ctr_tl_writer *w, uint64_t *ns, uint64_t max_delta,
			   uint32_t *delta, struct ctr_err *e)
{
	uint64_t d;

	if (unlikely(w->pos >= TL_CHUNK_WORDS || w->failed)) {
		int ret;

		if (w->failed)
			return ctr_err_set(e, w->failed, 0, "timeline writer failed earlier");
		if ((ret = flush(w, e)) < 0)
			return ret;
	}
	if (unlikely(*ns < w->now))
		*ns = w->now; /* times must not go backwards: clamp rather than corrupt */
	d = *ns - w->now;
	if (unlikely(w->need_time || d > max_delta)) {
		uint32_t *p = w->buf + w->pos;

		p[0] = ctr_w_ext(CTR_X_TIME, 2, 0);
		put_u64(p + 1, *ns);
		w->pos += 3;
		if (w->need_time) {
			w->first_ns = *ns;
			w->need_time = 0;
		}
		d = 0;
	}
	w->now = *ns;
	*delta = (uint32_t)d;
	return 0;
}

int ctr_tl_enter(struct ctr_tl_writer *w, uint64_t ns, uint32_t func, struct ctr_err *e)
{
	uint32_t delta = 0, slot = func & (CTR_NSLOTS - 1);
	int ret;

	if (unlikely((ret = prologue(w, &ns, CTR_ENTER_DELTA_MAX, &delta, e)) < 0))
		return ret;
	if (unlikely(w->slot_fn[slot] != (uint64_t)func + 1)) {
		uint32_t *p = w->buf + w->pos;

		p[0] = ctr_w_ext(CTR_X_DEFINE, 2, slot);
		put_u64(p + 1, func);
		w->pos += 3;
		w->slot_fn[slot] = (uint64_t)func + 1;
	}
	w->buf[w->pos++] = ctr_w_enter(slot, delta);
	return 0;
}

int ctr_tl_exit(struct ctr_tl_writer *w, uint64_t ns, struct ctr_err *e)
{
	uint32_t delta = 0;
	int ret;

	if (unlikely((ret = prologue(w, &ns, CTR_EXIT_DELTA_MAX, &delta, e)) < 0))
		return ret;
	w->buf[w->pos++] = ctr_w_exit(delta);
	return 0;
}

/* Records with a u64 payload that happen "at the current time": INHERIT, MARK, LOST. */
static int at_time_u64_arg(struct ctr_tl_writer *w, uint64_t ns, uint32_t kind, uint32_t arg,
			   uint64_t v, struct ctr_err *e)
{
	uint32_t delta = 0, *p;
	int ret;

	if ((ret = prologue(w, &ns, 0, &delta, e)) < 0)
		return ret;
	p = w->buf + w->pos;
	p[0] = ctr_w_ext(kind, 2, arg);
	put_u64(p + 1, v);
	w->pos += 3;
	return 0;
}

static int at_time_u64(struct ctr_tl_writer *w, uint64_t ns, uint32_t kind, uint64_t v,
		       struct ctr_err *e)
{
	return at_time_u64_arg(w, ns, kind, 0, v, e);
}

int ctr_tl_offcpu(struct ctr_tl_writer *w, uint64_t ns, uint64_t dur, int preempted,
		  struct ctr_err *e)
{
	return at_time_u64_arg(w, ns, CTR_X_OFFCPU, preempted ? 2 : 1, dur, e);
}

int ctr_tl_inherit(struct ctr_tl_writer *w, uint64_t ns, uint32_t func, struct ctr_err *e)
{
	return at_time_u64(w, ns, CTR_X_INHERIT, func, e);
}

int ctr_tl_mark(struct ctr_tl_writer *w, uint64_t ns, uint32_t func, struct ctr_err *e)
{
	return at_time_u64(w, ns, CTR_X_MARK, func, e);
}

int ctr_tl_lost(struct ctr_tl_writer *w, uint64_t ns, uint64_t count, struct ctr_err *e)
{
	return at_time_u64(w, ns, CTR_X_LOST, count, e);
}

/* Copies @len bytes of @s at @p, zero padded to whole words; returns the words used. */
static uint32_t put_str(uint32_t *p, const char *s, uint32_t len)
{
	uint32_t nw = (len + 3) / 4;

	if (nw)
		p[nw - 1] = 0;
	memcpy(p, s, len);
	return nw;
}

static uint32_t str_len(const char *s)
{
	size_t n = s ? strnlen(s, CTR_STR_MAX + 1) : 0;

	return n > CTR_STR_MAX ? CTR_STR_MAX : (uint32_t)n;
}

int ctr_tl_attr_str(struct ctr_tl_writer *w, uint64_t ns, const char *key, const char *val,
		    struct ctr_err *e)
{
	uint32_t delta = 0, klen = str_len(key), vlen = str_len(val), nw, *p;
	int ret;

	if ((ret = prologue(w, &ns, 0, &delta, e)) < 0)
		return ret;
	p = w->buf + w->pos;
	p[1] = vlen;
	nw = 1 + put_str(p + 2, key ? key : "", klen);
	nw += put_str(p + 1 + nw, val ? val : "", vlen);
	p[0] = ctr_w_ext(CTR_X_ATTR_STR, nw, klen);
	w->pos += 1 + nw;
	return 0;
}

int ctr_tl_attr_int(struct ctr_tl_writer *w, uint64_t ns, const char *key, int64_t val,
		    struct ctr_err *e)
{
	uint32_t delta = 0, klen = str_len(key), nw, *p;
	int ret;

	if ((ret = prologue(w, &ns, 0, &delta, e)) < 0)
		return ret;
	p = w->buf + w->pos;
	put_u64(p + 1, (uint64_t)val);
	nw = 2 + put_str(p + 3, key ? key : "", klen);
	p[0] = ctr_w_ext(CTR_X_ATTR_INT, nw, klen);
	w->pos += 1 + nw;
	return 0;
}

int ctr_tl_writer_finish(struct ctr_tl_writer *w, struct ctr_err *e)
{
	if (w->failed)
		return ctr_err_set(e, w->failed, 0, "timeline writer failed earlier");
	return flush(w, e);
}

/* ---- iterator ---- */

struct ctr_tl_iter {
	const struct ctr_run *run;
	uint32_t thread;
	size_t *order; /* indexes into run->chunks of this thread, by seq */
	size_t n, next;
	void *buf; /* the decompressed current chunk */
	size_t cap;
	ZSTD_DCtx *dctx;
	struct ctr_decoder dec;
	struct ctr_store *store; /* streaming: chunks fetched one by one, by seq */
	struct ctr_chunk cur;	 /* streaming: the chunk being decoded (owned) */
	int done;
	ctr_tl_fetch fetch; /* for chunks loaded without their data */
	void *fetch_arg;
	unsigned char *fetched; /* the data of the current fetched chunk */
};

struct seq_idx {
	uint32_t seq;
	size_t idx;
};

static int cmp_seq(const void *a, const void *b)
{
	const struct seq_idx *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int ctr_tl_iter_open(struct ctr_tl_iter **out, const struct ctr_run *run, uint32_t thread,
		     struct ctr_err *e)
{
	struct ctr_tl_iter *it = calloc(1, sizeof(*it));
	struct seq_idx *si = NULL;

	*out = NULL;
	if (!it)
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory opening a timeline");
	it->run = run;
	it->thread = thread;
	ctr_decoder_init(&it->dec);
	if (run->n_chunks && (!(it->order = malloc(run->n_chunks * sizeof(*it->order))) ||
			      !(si = malloc(run->n_chunks * sizeof(*si))))) {
		free(si);
		ctr_tl_iter_close(it);
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory opening a timeline");
	}
	for (size_t i = 0; i < run->n_chunks; i++)
		if (run->chunks[i].thread == thread)
			si[it->n++] = (struct seq_idx){run->chunks[i].seq, i};
	if (it->n)
		qsort(si, it->n, sizeof(*si), cmp_seq);
	for (size_t i = 0; i < it->n; i++)
		it->order[i] = si[i].idx;
	free(si);
	for (size_t i = 1; i < it->n; i++)
		if (run->chunks[it->order[i]].seq == run->chunks[it->order[i - 1]].seq) {
			uint32_t seq = run->chunks[it->order[i]].seq;

			ctr_tl_iter_close(it);
			ctr_err_ctx(e, NULL, run->id, -1);
			return ctr_err_set(e, CTR_EFORMAT, 0,
					   "run '%s' has two timeline chunks %u for thread %u",
					   run->id, seq, thread);
		}
	*out = it;
	return 0;
}

int ctr_tl_iter_open_store(struct ctr_tl_iter **out, struct ctr_store *s, const struct ctr_run *run,
			   uint32_t thread, struct ctr_err *e)
{
	struct ctr_tl_iter *it = calloc(1, sizeof(*it));

	*out = NULL;
	if (!it)
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory opening a timeline");
	it->run = run;
	it->thread = thread;
	it->store = s;
	ctr_decoder_init(&it->dec);
	*out = it;
	return 0;
}

void ctr_tl_iter_close(struct ctr_tl_iter *it)
{
	if (!it)
		return;
	free(it->cur.data);
	ctr_decoder_release(&it->dec);
	ZSTD_freeDCtx(it->dctx);
	free(it->buf);
	free(it->fetched);
	free(it->order);
	free(it);
}

static int bad_chunk(struct ctr_tl_iter *it, const struct ctr_chunk *c, struct ctr_err *e,
		     const char *why)
{
	ctr_err_ctx(e, NULL, it->run->id, -1);
	return ctr_err_set(e, CTR_EFORMAT, 0, "corrupt timeline chunk %u of thread %u: %s", c->seq,
			   c->thread, why);
}

/* Decompresses the next chunk and feeds it to the decoder. */
static int load_chunk(struct ctr_tl_iter *it, const struct ctr_chunk *c, struct ctr_err *e)
{
	const void *words;

	if (c->raw_size % 4)
		return bad_chunk(it, c, e, "size is not a whole number of words");
	if (c->raw_size > TL_MAX_RAW)
		return bad_chunk(it, c, e, "implausible size");
	if (c->size > ZSTD_compressBound((size_t)TL_MAX_RAW))
		return bad_chunk(it, c, e, "implausible stored size");
	if (c->size && !c->data)
		return bad_chunk(it, c, e, "no data");
	if (c->codec == CTR_CODEC_RAW) {
		if (c->size != c->raw_size)
			return bad_chunk(it, c, e, "size does not match raw_size");
		words = c->data;
	} else if (c->codec == CTR_CODEC_ZSTD) {
		unsigned long long fs = ZSTD_getFrameContentSize(c->data, c->size);
		size_t got;

		if (fs == ZSTD_CONTENTSIZE_ERROR)
			return bad_chunk(it, c, e, "not a zstd frame");
		if (fs != ZSTD_CONTENTSIZE_UNKNOWN && fs != c->raw_size)
			return bad_chunk(it, c, e, "frame size does not match raw_size");
		if (it->cap < c->raw_size || !it->buf) {
			void *p = realloc(it->buf, c->raw_size ? c->raw_size : 4);

			if (!p)
				return ctr_err_set(e, CTR_ENOMEM, 0,
						   "out of memory reading timeline");
			it->buf = p;
			it->cap = c->raw_size;
		}
		if (!it->dctx && !(it->dctx = ZSTD_createDCtx()))
			return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading timeline");
		got = ZSTD_decompressDCtx(it->dctx, it->buf, c->raw_size, c->data, c->size);
		if (ZSTD_isError(got))
			return bad_chunk(it, c, e, ZSTD_getErrorName(got));
		if (got != c->raw_size)
			return bad_chunk(it, c, e, "decompressed size does not match raw_size");
		words = it->buf;
	} else {
		return bad_chunk(it, c, e, "unknown codec");
	}
	ctr_decoder_feed(&it->dec, words, c->raw_size);
	return 0;
}

int ctr_tl_iter_next(struct ctr_tl_iter *it, struct ctr_event *ev, struct ctr_err *e)
{
	for (;;) {
		int ret = ctr_decoder_next(&it->dec, ev, e);

		if (ret != 0) {
			if (ret < 0)
				ctr_err_ctx(e, NULL, it->run->id, -1);
			return ret;
		}
		if (it->store) {
			if (it->done)
				return 0;
			free(it->cur.data);
			ret = ctr_store_load_chunk(it->store, it->run->id, it->thread,
						   (uint32_t)it->next, &it->cur, e);
			if (ret == CTR_ENOTFOUND) {
				it->done = 1;
				return 0;
			}
			if (ret < 0)
				return ret;
			it->next++;
			ret = load_chunk(it, &it->cur, e);
			if (ret < 0)
				return ret;
			continue;
		}
		if (it->next >= it->n)
			return 0;
		const struct ctr_chunk *c = &it->run->chunks[it->order[it->next++]];
		struct ctr_chunk got;

		if (!c->data && c->size && it->fetch) {
			got = *c;
			free(it->fetched);
			it->fetched = NULL;
			ret = it->fetch(it->fetch_arg, c, &it->fetched, &got.size, e);
			if (ret < 0)
				return ret;
			got.data = it->fetched;
			c = &got;
		}
		ret = load_chunk(it, c, e);
		if (ret < 0)
			return ret;
	}
}

size_t ctr_tl_iter_chunks(const struct ctr_tl_iter *it)
{
	return it->n;
}

const struct ctr_chunk *ctr_tl_iter_chunk(const struct ctr_tl_iter *it, size_t k)
{
	return k < it->n ? &it->run->chunks[it->order[k]] : NULL;
}

size_t ctr_tl_iter_read(const struct ctr_tl_iter *it)
{
	return it->next;
}

void ctr_tl_iter_seek(struct ctr_tl_iter *it, size_t k)
{
	ctr_decoder_release(&it->dec);
	ctr_decoder_init(&it->dec);
	it->next = k < it->n ? k : it->n;
}

void ctr_tl_iter_set_fetch(struct ctr_tl_iter *it, ctr_tl_fetch fetch, void *arg)
{
	it->fetch = fetch;
	it->fetch_arg = arg;
}
