/* SPDX-License-Identifier: MIT */
/*
 * The ctrace.h API inside the recorder (instrument/ctrace.h): spans, marks, attributes and
 * thread names, written as string records into the calling thread's stream. Apart from the hot
 * path so that a reader who comes to change what a span writes finds it under its own name;
 * each call takes the thread's gate the way a hook does, so a call from a signal handler that
 * interrupted a hook is skipped (not recorded), never interleaved with the hook's event.
 */
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>

#include "preload-int.h"

/* Writes a string record (span, mark, thread name) for the calling thread. */
static void write_str(struct ctr_thr *t, uint32_t kind, const char *s, size_t len, const char *s2,
		      size_t len2)
{
	uint32_t kw = (uint32_t)((len + 3) / 4), vw = (uint32_t)((len2 + 3) / 4);
	uint32_t nw = kind == CTR_X_ATTR_STR ? 1 + kw + vw : kw, *p;
	uint64_t now = now_ticks();

	if (ctr_reserve(t, nw + 4) != 0) {
		t->lost_pending++;
		return;
	}
	merge_off(t);
	p = t->pos;
	p = put_u64(p, CTR_X_TIME, 0, now);
	*p++ = ctr_w_ext(kind, nw, (uint32_t)len);
	memset(p, 0, (size_t)nw * 4);
	if (kind == CTR_X_ATTR_STR) {
		*p++ = (uint32_t)len2;
		memcpy(p, s, len);
		memcpy(p + kw, s2, len2);
	} else {
		memcpy(p, s, len);
	}
	t->pos = t->pos + 3 + 1 + nw;
	t->last = now;
}

/* Gate handling shared by the manual API: returns 1 when the caller may write. */
static int api_begin(struct ctr_thr *t)
{
	if (t->gate == CTR_G_UNINIT)
		ctr_thread_start(t);
	if (!CTR_GATE_IS_ON(t->gate))
		return 0;
	t->gate = CTR_G_BUSY;
	return 1;
}

static void api_end(struct ctr_thr *t)
{
	jump_mark(t);
	if (t->gate == CTR_G_BUSY)
		t->gate = CTR_GATE_ON;
}

static size_t clamp_len(const char *s)
{
	size_t n = s ? strnlen(s, CTR_STR_MAX + 1) : 0;

	return n > CTR_STR_MAX ? CTR_STR_MAX : n;
}

/* Span frames are keyed by this marker in the shadow stack. */
#define SPAN_FN ((uintptr_t)1)

CTR_EXPORT void ctrace__span_begin(const char *name)
{
	struct ctr_thr *t = &ctr_tls;
	int saved = errno;

	if (api_begin(t)) {
		ctr_push_frame(t, SPAN_FN, (uintptr_t)__builtin_frame_address(0));
		write_str(t, CTR_X_SPAN, name ? name : "", clamp_len(name), NULL, 0);
		api_end(t);
	}
	errno = saved;
}

CTR_EXPORT void ctrace__span_end(void)
{
	struct ctr_thr *t = &ctr_tls;
	int saved = errno;

	if (api_begin(t)) {
		uint32_t n = ctr_pop_for_exit(t, SPAN_FN);

		if (n)
			ctr_write_exit(t, n, now_ticks());
		api_end(t);
	}
	errno = saved;
}

CTR_EXPORT void ctrace__mark(const char *name)
{
	struct ctr_thr *t = &ctr_tls;
	int saved = errno;

	if (api_begin(t)) {
		write_str(t, CTR_X_MARK, name ? name : "", clamp_len(name), NULL, 0);
		api_end(t);
	}
	errno = saved;
}

CTR_EXPORT void ctrace__attr_str(const char *key, const char *value)
{
	struct ctr_thr *t = &ctr_tls;
	int saved = errno;

	if (api_begin(t)) {
		write_str(t, CTR_X_ATTR_STR, key ? key : "", clamp_len(key), value ? value : "",
			  clamp_len(value));
		api_end(t);
	}
	errno = saved;
}

CTR_EXPORT void ctrace__attr_int(const char *key, long long value)
{
	struct ctr_thr *t = &ctr_tls;
	int saved = errno;

	if (api_begin(t)) {
		size_t len = clamp_len(key);
		uint32_t kw = (uint32_t)((len + 3) / 4), *p;

		if (ctr_reserve(t, kw + 3) == 0) {
			merge_off(t);
			p = t->pos;
			*p++ = ctr_w_ext(CTR_X_ATTR_INT, 2 + kw, (uint32_t)len);
			*p++ = (uint32_t)(uint64_t)value;
			*p++ = (uint32_t)((uint64_t)value >> 32);
			memset(p, 0, (size_t)kw * 4);
			memcpy(p, key ? key : "", len);
			t->pos = p + kw;
		} else {
			t->lost_pending++;
		}
		api_end(t);
	}
	errno = saved;
}

void ctr_write_thread_name(struct ctr_thr *t, const char *name)
{
	if (api_begin(t)) {
		write_str(t, CTR_X_THREAD_NAME, name, clamp_len(name), NULL, 0);
		api_end(t);
	}
}

CTR_EXPORT void ctrace__thread_name(const char *name)
{
	int saved = errno;

	if (name) {
		prctl(PR_SET_NAME, name, 0, 0, 0);
		ctr_write_thread_name(&ctr_tls, name);
	}
	errno = saved;
}
