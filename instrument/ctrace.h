/* SPDX-License-Identifier: MIT */
/*
 * ctrace.h: manual spans, attributes, marks and on/off control for programs traced by ctrace.
 *
 * Include it and call the functions below; nothing else is needed to compile and link. The
 * implementations are weak references (ctrace__*) that libctrace.so provides when it is
 * preloaded; without it they are null and every call here does nothing. Spans nest with
 * instrumented function calls in the same call tree and carry their attributes into the
 * store, the reports and the exports. Strings are copied (at most 255 bytes each); every call
 * is async-signal-safe and never blocks.
 *
 *     void handle(struct request *r)
 *     {
 *             CTRACE_SCOPE("handle");            // a span until the end of this block
 *             ctrace_attr_str("path", r->path);  // attributes of the innermost span
 *             ctrace_attr_int("bytes", r->len);
 *             ...
 *             ctrace_mark("parsed");             // an instant event
 *     }
 */
#ifndef CTRACE_H
#define CTRACE_H

#ifdef __cplusplus
extern "C" {
#endif

/* Provided by libctrace.so; null without it. Call the ctrace_* wrappers, not these. */
extern void ctrace__span_begin(const char *name) __attribute__((weak));
extern void ctrace__span_end(void) __attribute__((weak));
extern void ctrace__attr_str(const char *key, const char *value) __attribute__((weak));
extern void ctrace__attr_int(const char *key, long long value) __attribute__((weak));
extern void ctrace__mark(const char *name) __attribute__((weak));
extern void ctrace__thread_name(const char *name) __attribute__((weak));
extern void ctrace__pause(void) __attribute__((weak));
extern void ctrace__resume(void) __attribute__((weak));
extern int ctrace__enabled(void) __attribute__((weak));

#define CTRACE_INLINE_ static inline __attribute__((no_instrument_function, unused))

/* Opens a span named @name, closed by ctrace_span_end() on the same thread. */
CTRACE_INLINE_ void ctrace_span_begin(const char *name)
{
	if (ctrace__span_begin)
		ctrace__span_begin(name);
}

/* Closes the innermost open span of the calling thread. */
CTRACE_INLINE_ void ctrace_span_end(void)
{
	if (ctrace__span_end)
		ctrace__span_end();
}

/* A string / integer attribute of the innermost open span (or function) of this thread. */
CTRACE_INLINE_ void ctrace_attr_str(const char *key, const char *value)
{
	if (ctrace__attr_str)
		ctrace__attr_str(key, value);
}

CTRACE_INLINE_ void ctrace_attr_int(const char *key, long long value)
{
	if (ctrace__attr_int)
		ctrace__attr_int(key, value);
}

/* An instant event named @name. */
CTRACE_INLINE_ void ctrace_mark(const char *name)
{
	if (ctrace__mark)
		ctrace__mark(name);
}

/* Names the calling thread in the trace (and in the kernel, as pthread_setname_np would). */
CTRACE_INLINE_ void ctrace_thread_name(const char *name)
{
	if (ctrace__thread_name)
		ctrace__thread_name(name);
}

/* Switches recording off / on for the whole process. Calls open at ctrace_pause() are closed
 * then; at ctrace_resume() the calls already running are recovered from a stack capture. */
CTRACE_INLINE_ void ctrace_pause(void)
{
	if (ctrace__pause)
		ctrace__pause();
}

CTRACE_INLINE_ void ctrace_resume(void)
{
	if (ctrace__resume)
		ctrace__resume();
}

/* 1 when the process is being recorded now. */
CTRACE_INLINE_ int ctrace_enabled(void)
{
	return ctrace__enabled ? ctrace__enabled() : 0;
}

CTRACE_INLINE_ void ctrace_scope_end_(int *unused)
{
	(void)unused;
	ctrace_span_end();
}

#define CTRACE_CAT2_(a, b) a##b
#define CTRACE_CAT_(a, b) CTRACE_CAT2_(a, b)
/* A span named @name from here to the end of the enclosing block (cleanup attribute). */
#define CTRACE_SCOPE(name)                                                                         \
	int CTRACE_CAT_(ctrace_scope_, __LINE__)                                                   \
	    __attribute__((cleanup(ctrace_scope_end_), unused)) = (ctrace_span_begin(name), 0)

#ifdef __cplusplus
}
#endif

#endif
