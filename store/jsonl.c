/* SPDX-License-Identifier: MIT */
/*
 * JSONL store backend ("jsonl:PATH"): an append-only text file, one run per line as a JSON
 * object (format in docs/store.md), for exchange between machines and for grep/jq. A save
 * buffers the run and appends its line with one write() under flock(LOCK_EX), so concurrent
 * writers never interleave; readers take LOCK_SH. remove rewrites the file into a temporary
 * file and renames it over the original. Every line read is validated: a malformed or truncated
 * line is CTR_EFORMAT with its line number, never a crash (the parser is fuzzed).
 */
#include "store-int.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define JL_VERSION 1

struct jl_store {
	char *path;
	char save_id[CTR_RUN_ID_MAX];
	int saving;
	struct ctr_chunk *chunks; /* chunks of the save in progress (deep copies) */
	size_t n_chunks, cap_chunks;
};

/* ---- base64 (RFC 4648, with padding) ---- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Encodes @n bytes of @in; returns a NUL-terminated string (caller frees) or NULL. */
static char *b64_encode(const unsigned char *in, size_t n)
{
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		*o++ = b64_alphabet[v >> 18];
		*o++ = b64_alphabet[(v >> 12) & 63];
		*o++ = b64_alphabet[(v >> 6) & 63];
		*o++ = b64_alphabet[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);

		*o++ = b64_alphabet[v >> 18];
		*o++ = b64_alphabet[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static int b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decodes @n characters; 0 and *@out (caller frees, NULL when empty) or -1 when invalid,
 * -2 when out of memory. */
static int b64_decode(const char *in, size_t n, unsigned char **out, size_t *outlen)
{
	unsigned char *buf, *o;
	size_t pad = 0;

	*out = NULL;
	*outlen = 0;
	if (n % 4)
		return -1;
	if (n == 0)
		return 0;
	if (in[n - 1] == '=')
		pad = in[n - 2] == '=' ? 2 : 1;
	if (!(buf = malloc(n / 4 * 3)))
		return -2;
	o = buf;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		int last = i + 4 == n;

		for (int k = 0; k < 4; k++) {
			if (last && k >= 4 - (int)pad) {
				v[k] = 0;
				if (in[i + k] != '=')
					goto bad;
				continue;
			}
			if ((v[k] = b64_val((unsigned char)in[i + k])) < 0)
				goto bad;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		*o++ = (unsigned char)(w >> 16);
		if (!last || pad < 2)
			*o++ = (unsigned char)(w >> 8);
		if (!last || pad < 1)
			*o++ = (unsigned char)w;
	}
	*out = buf;
	*outlen = (size_t)(o - buf);
	return 0;
bad:
	free(buf);
	return -1;
}

/* 1 if @n characters are valid padded base64. */
static int b64_valid(const char *in, size_t n)
{
	size_t pad = 0;

	if (n % 4)
		return 0;
	if (n && in[n - 1] == '=')
		pad = in[n - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < n - pad; i++)
		if (b64_val((unsigned char)in[i]) < 0)
			return 0;
	return 1;
}

/* ---- run -> JSON ---- */

/* A JSON string; bytes that are not valid UTF-8 (JSON cannot hold them) become '?'. */
static json_t *js_str(const char *s)
{
	json_t *v;
	char *t;

	if (!s)
		return json_null();
	if ((v = json_string(s)))
		return v;
	if (!(t = strdup(s)))
		return NULL;
	for (char *c = t; *c; c++)
		if ((unsigned char)*c >= 0x80)
			*c = '?';
	v = json_string(t);
	free(t);
	return v;
}

static json_t *js_u64(uint64_t v)
{
	return json_integer((json_int_t)v);
}

static json_t *js_ref(uint32_t v)
{
	return v == CTR_NONE ? json_null() : json_integer(v);
}

static json_t *js_real(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

/* json_object_set_new that records a failed allocation in *@fail. */
static void put(json_t *o, const char *key, json_t *v, int *fail)
{
	if (!v || json_object_set_new(o, key, v) < 0)
		*fail = 1;
}

static void push(json_t *a, json_t *v, int *fail)
{
	if (!v || json_array_append_new(a, v) < 0)
		*fail = 1;
}

static json_t *run_to_json(const struct ctr_run *r, const struct ctr_chunk *chunks, size_t n_chunks)
{
	json_t *o = json_object(), *a;
	int fail = !o;

	if (fail)
		return NULL;
	put(o, "id", json_string(r->id), &fail);
	put(o, "v", json_integer(JL_VERSION), &fail);
	put(o, "command", js_str(r->command), &fail);
	put(o, "host", js_str(r->host), &fail);
	put(o, "cwd", js_str(r->cwd), &fail);
	put(o, "start_unix_ns", json_integer(r->start_unix_ns), &fail);
	put(o, "duration_ns", js_u64(r->duration_ns), &fail);
	put(o, "exit_status", json_integer(r->exit_status), &fail);
	put(o, "signal", json_integer(r->signal), &fail);
	put(o, "crashed", json_integer(r->crashed), &fail);
	put(o, "events", js_u64(r->events), &fail);
	put(o, "lost_events", js_u64(r->lost_events), &fail);
	put(o, "clock", js_str(r->clock), &fail);
	put(o, "ticks_per_sec", js_u64(r->ticks_per_sec), &fail);
	put(o, "overhead_inner_ns", js_real(r->overhead_inner_ns), &fail);
	put(o, "overhead_call_ns", js_real(r->overhead_call_ns), &fail);

	put(o, "meta", a = json_array(), &fail);
	for (size_t i = 0; a && i < r->n_meta; i++)
		push(a,
		     json_pack("{s:o,s:o}", "key", js_str(r->meta[i].key), "value",
			       js_str(r->meta[i].value)),
		     &fail);
	put(o, "processes", a = json_array(), &fail);
	for (size_t i = 0; a && i < r->n_procs; i++) {
		const struct ctr_process *p = &r->procs[i];

		push(a,
		     json_pack("{s:i,s:i,s:I,s:o,s:o,s:i,s:i,s:i,s:o}", "pid", p->pid, "ppid",
			       p->ppid, "gen", (json_int_t)p->gen, "exe", js_str(p->exe), "command",
			       js_str(p->command), "exit_status", p->exit_status, "signal",
			       p->signal, "crashed", p->crashed, "backtrace", js_str(p->backtrace)),
		     &fail);
	}
	put(o, "modules", a = json_array(), &fail);
	for (size_t i = 0; a && i < r->n_modules; i++) {
		const struct ctr_module *m = &r->modules[i];

		push(a,
		     json_pack("{s:I,s:o,s:o,s:o}", "id", (json_int_t)m->id, "path",
			       js_str(m->path), "build_id", js_str(m->build_id), "base",
			       js_u64(m->base)),
		     &fail);
	}
	put(o, "functions", a = json_array(), &fail);
	for (size_t i = 0; a && i < r->n_functions; i++) {
		const struct ctr_function *f = &r->functions[i];

		push(a,
		     json_pack("{s:I,s:I,s:o,s:o,s:o,s:I,s:o,s:o}", "id", (json_int_t)f->id, "kind",
			       (json_int_t)f->kind, "name", js_str(f->name), "linkage_name",
			       js_str(f->linkage_name), "file", js_str(f->file), "line",
			       (json_int_t)f->line, "module", js_ref(f->module), "offset",
			       js_u64(f->offset)),
		     &fail);
	}
	put(o, "threads", a = json_array(), &fail);
	for (size_t i = 0; a && i < r->n_threads; i++) {
		const struct ctr_thread *t = &r->threads[i];

		push(a,
		     json_pack("{s:I,s:i,s:i,s:o,s:o,s:o,s:o,s:o}", "id", (json_int_t)t->id, "pid",
			       t->pid, "tid", t->tid, "name", js_str(t->name), "start_ns",
			       js_u64(t->start_ns), "end_ns", js_u64(t->end_ns), "events",
			       js_u64(t->events), "lost", js_u64(t->lost)),
		     &fail);
	}
	/* Nodes can be 100k+: arrays in a fixed column order keep the line compact. */
	put(o, "nodes", a = json_array(), &fail);
	for (size_t i = 0; a && i < r->n_nodes; i++) {
		const struct ctr_node *n = &r->nodes[i];

		push(a,
		     json_pack("[I,o,I,I,o,o,o,o,o,o,o,o,o]", (json_int_t)n->id, js_ref(n->parent),
			       (json_int_t)n->thread, (json_int_t)n->function, js_u64(n->calls),
			       js_u64(n->total_ns), js_u64(n->self_ns), js_u64(n->min_ns),
			       js_u64(n->max_ns), js_u64(n->raw_total_ns), js_u64(n->raw_self_ns),
			       js_u64(n->raw_min_ns), js_u64(n->raw_max_ns)),
		     &fail);
	}
	put(o, "attrs", a = json_array(), &fail);
	for (size_t i = 0; a && i < r->n_attrs; i++) {
		const struct ctr_attr *t = &r->attrs[i];

		push(a,
		     json_pack("{s:I,s:o,s:o,s:o}", "node", (json_int_t)t->node, "key",
			       js_str(t->key), "value", js_str(t->value), "count",
			       js_u64(t->count)),
		     &fail);
	}
	put(o, "chunks", a = json_array(), &fail);
	for (size_t i = 0; a && i < n_chunks; i++) {
		const struct ctr_chunk *c = &chunks[i];
		char *b64 = b64_encode(c->data, c->size);

		if (!b64) {
			fail = 1;
			break;
		}
		push(a,
		     json_pack("{s:I,s:I,s:I,s:o,s:o,s:o,s:s}", "thread", (json_int_t)c->thread,
			       "seq", (json_int_t)c->seq, "codec", (json_int_t)c->codec, "raw_size",
			       js_u64(c->raw_size), "first_ns", js_u64(c->first_ns), "last_ns",
			       js_u64(c->last_ns), "data", b64),
		     &fail);
		free(b64);
	}
	if (fail) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- JSON -> run (validating) ---- */

struct jparse {
	const char *path;
	size_t line;
	long long offset;
	const char *why; /* first problem found */
	int nomem;
};

static void jbad(struct jparse *p, const char *why)
{
	if (!p->why)
		p->why = why;
}

static char *jstr(struct jparse *p, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	char *s;

	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_string(v)) {
		jbad(p, key);
		return NULL;
	}
	if (!(s = strdup(json_string_value(v))))
		p->nomem = 1;
	return s;
}

static int64_t jint_v(struct jparse *p, json_t *v, const char *key)
{
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v)) {
		jbad(p, key);
		return 0;
	}
	return (int64_t)json_integer_value(v);
}

static int64_t jint(struct jparse *p, json_t *o, const char *key)
{
	return jint_v(p, json_object_get(o, key), key);
}

static uint32_t jref_v(struct jparse *p, json_t *v, const char *key)
{
	if (v && json_is_null(v))
		return CTR_NONE;
	return (uint32_t)jint_v(p, v, key);
}

static double jreal(struct jparse *p, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v)) {
		jbad(p, key);
		return 0;
	}
	return json_number_value(v);
}

/* The array @key of @o (an empty one is fine); NULL with p->why set when not an array. */
static json_t *jarr(struct jparse *p, json_t *o, const char *key, size_t *n)
{
	json_t *a = json_object_get(o, key);

	*n = 0;
	if (!a || json_is_null(a))
		return NULL;
	if (!json_is_array(a)) {
		jbad(p, key);
		return NULL;
	}
	*n = json_array_size(a);
	return a;
}

/* Allocates @n zeroed elements of the array @key; each element must be a JSON object (or
 * an array when @want_array). */
static void *jalloc(struct jparse *p, json_t *a, size_t n, size_t size, int want_array,
		    const char *key)
{
	void *mem;

	if (!n)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		json_t *el = json_array_get(a, i);

		if (want_array ? !json_is_array(el) : !json_is_object(el)) {
			jbad(p, key);
			return NULL;
		}
	}
	if (!(mem = calloc(n, size)))
		p->nomem = 1;
	return mem;
}

/* The scalar fields of chunk object @el (not its data). */
static void chunk_fields(struct jparse *p, json_t *el, struct ctr_chunk *x)
{
	memset(x, 0, sizeof(*x));
	if (!json_is_object(el)) {
		jbad(p, "chunks");
		return;
	}
	x->thread = (uint32_t)jint(p, el, "thread");
	x->seq = (uint32_t)jint(p, el, "seq");
	x->codec = (uint32_t)jint(p, el, "codec");
	x->raw_size = (uint64_t)jint(p, el, "raw_size");
	x->first_ns = (uint64_t)jint(p, el, "first_ns");
	x->last_ns = (uint64_t)jint(p, el, "last_ns");
}

/* Fills @r from @o; with @chunks, decodes the timeline chunks too. */
static void json_to_run(struct jparse *p, json_t *o, struct ctr_run *r, int chunks)
{
	json_t *a, *v;
	size_t n;

	v = json_object_get(o, "id");
	if (!json_is_string(v) || !json_string_length(v) ||
	    json_string_length(v) >= CTR_RUN_ID_MAX) {
		jbad(p, "id");
		return;
	}
	memcpy(r->id, json_string_value(v), json_string_length(v) + 1);
	r->command = jstr(p, o, "command");
	r->host = jstr(p, o, "host");
	r->cwd = jstr(p, o, "cwd");
	r->start_unix_ns = jint(p, o, "start_unix_ns");
	r->duration_ns = (uint64_t)jint(p, o, "duration_ns");
	r->exit_status = (int)jint(p, o, "exit_status");
	r->signal = (int)jint(p, o, "signal");
	r->crashed = (int)jint(p, o, "crashed");
	r->events = (uint64_t)jint(p, o, "events");
	r->lost_events = (uint64_t)jint(p, o, "lost_events");
	r->clock = jstr(p, o, "clock");
	r->ticks_per_sec = (uint64_t)jint(p, o, "ticks_per_sec");
	r->overhead_inner_ns = jreal(p, o, "overhead_inner_ns");
	r->overhead_call_ns = jreal(p, o, "overhead_call_ns");

	a = jarr(p, o, "meta", &n);
	if ((r->meta = jalloc(p, a, n, sizeof(*r->meta), 0, "meta")))
		r->n_meta = n;
	for (size_t i = 0; i < r->n_meta; i++) {
		json_t *el = json_array_get(a, i);

		r->meta[i].key = jstr(p, el, "key");
		r->meta[i].value = jstr(p, el, "value");
	}
	a = jarr(p, o, "processes", &n);
	if ((r->procs = jalloc(p, a, n, sizeof(*r->procs), 0, "processes")))
		r->n_procs = n;
	for (size_t i = 0; i < r->n_procs; i++) {
		json_t *el = json_array_get(a, i);
		struct ctr_process *x = &r->procs[i];

		x->pid = (int32_t)jint(p, el, "pid");
		x->ppid = (int32_t)jint(p, el, "ppid");
		x->gen = (uint32_t)jint(p, el, "gen");
		x->exe = jstr(p, el, "exe");
		x->command = jstr(p, el, "command");
		x->exit_status = (int)jint(p, el, "exit_status");
		x->signal = (int)jint(p, el, "signal");
		x->crashed = (int)jint(p, el, "crashed");
		x->backtrace = jstr(p, el, "backtrace");
	}
	a = jarr(p, o, "modules", &n);
	if ((r->modules = jalloc(p, a, n, sizeof(*r->modules), 0, "modules")))
		r->n_modules = n;
	for (size_t i = 0; i < r->n_modules; i++) {
		json_t *el = json_array_get(a, i);
		struct ctr_module *x = &r->modules[i];

		x->id = (uint32_t)jint(p, el, "id");
		x->path = jstr(p, el, "path");
		x->build_id = jstr(p, el, "build_id");
		x->base = (uint64_t)jint(p, el, "base");
	}
	a = jarr(p, o, "functions", &n);
	if ((r->functions = jalloc(p, a, n, sizeof(*r->functions), 0, "functions")))
		r->n_functions = n;
	for (size_t i = 0; i < r->n_functions; i++) {
		json_t *el = json_array_get(a, i);
		struct ctr_function *x = &r->functions[i];

		x->id = (uint32_t)jint(p, el, "id");
		x->kind = (uint32_t)jint(p, el, "kind");
		x->name = jstr(p, el, "name");
		x->linkage_name = jstr(p, el, "linkage_name");
		x->file = jstr(p, el, "file");
		x->line = (uint32_t)jint(p, el, "line");
		x->module = jref_v(p, json_object_get(el, "module"), "module");
		x->offset = (uint64_t)jint(p, el, "offset");
	}
	a = jarr(p, o, "threads", &n);
	if ((r->threads = jalloc(p, a, n, sizeof(*r->threads), 0, "threads")))
		r->n_threads = n;
	for (size_t i = 0; i < r->n_threads; i++) {
		json_t *el = json_array_get(a, i);
		struct ctr_thread *x = &r->threads[i];

		x->id = (uint32_t)jint(p, el, "id");
		x->pid = (int32_t)jint(p, el, "pid");
		x->tid = (int32_t)jint(p, el, "tid");
		x->name = jstr(p, el, "name");
		x->start_ns = (uint64_t)jint(p, el, "start_ns");
		x->end_ns = (uint64_t)jint(p, el, "end_ns");
		x->events = (uint64_t)jint(p, el, "events");
		x->lost = (uint64_t)jint(p, el, "lost");
	}
	a = jarr(p, o, "nodes", &n);
	if ((r->nodes = jalloc(p, a, n, sizeof(*r->nodes), 1, "nodes")))
		r->n_nodes = n;
	for (size_t i = 0; i < r->n_nodes; i++) {
		json_t *el = json_array_get(a, i);
		struct ctr_node *x = &r->nodes[i];
		uint64_t *u[] = {&x->calls,	  &x->total_ns,	  &x->self_ns,
				 &x->min_ns,	  &x->max_ns,	  &x->raw_total_ns,
				 &x->raw_self_ns, &x->raw_min_ns, &x->raw_max_ns};

		if (json_array_size(el) != 13) {
			jbad(p, "nodes");
			break;
		}
		x->id = (uint32_t)jint_v(p, json_array_get(el, 0), "nodes");
		x->parent = jref_v(p, json_array_get(el, 1), "nodes");
		x->thread = (uint32_t)jint_v(p, json_array_get(el, 2), "nodes");
		x->function = (uint32_t)jint_v(p, json_array_get(el, 3), "nodes");
		for (size_t k = 0; k < 9; k++)
			*u[k] = (uint64_t)jint_v(p, json_array_get(el, 4 + k), "nodes");
	}
	a = jarr(p, o, "attrs", &n);
	if ((r->attrs = jalloc(p, a, n, sizeof(*r->attrs), 0, "attrs")))
		r->n_attrs = n;
	for (size_t i = 0; i < r->n_attrs; i++) {
		json_t *el = json_array_get(a, i);
		struct ctr_attr *x = &r->attrs[i];

		x->node = (uint32_t)jint(p, el, "node");
		x->key = jstr(p, el, "key");
		x->value = jstr(p, el, "value");
		x->count = (uint64_t)jint(p, el, "count");
	}
	a = jarr(p, o, "chunks", &n);
	if (!chunks) {
		/* Not loaded, but still validated so every reader agrees on what is malformed. */
		for (size_t i = 0; i < n; i++) {
			json_t *el = json_array_get(a, i), *d = json_object_get(el, "data");
			struct ctr_chunk x;

			chunk_fields(p, el, &x);
			if (!json_is_string(d) ||
			    !b64_valid(json_string_value(d), json_string_length(d)))
				jbad(p, "chunk data");
		}
		return;
	}
	if ((r->chunks = jalloc(p, a, n, sizeof(*r->chunks), 0, "chunks")))
		r->n_chunks = n;
	for (size_t i = 0; i < r->n_chunks; i++) {
		json_t *el = json_array_get(a, i), *d = json_object_get(el, "data");
		struct ctr_chunk *x = &r->chunks[i];
		int rc;

		chunk_fields(p, el, x);
		if (!json_is_string(d)) {
			jbad(p, "chunk data");
			break;
		}
		rc = b64_decode(json_string_value(d), json_string_length(d), &x->data, &x->size);
		if (rc == -2)
			p->nomem = 1;
		else if (rc < 0)
			jbad(p, "chunk data");
	}
}

/* ---- file scanning ---- */

/*
 * The id of a line without parsing it all: lines written by ctrace start with {"id":"...".
 * Returns 1 with @id filled, 0 when the line must be parsed to know.
 */
static int fast_id(const char *line, size_t len, char id[CTR_RUN_ID_MAX])
{
	static const char pre[] = "{\"id\":\"";
	const size_t pl = sizeof(pre) - 1;

	if (len < pl || memcmp(line, pre, pl))
		return 0;
	for (size_t i = pl; i < len && i - pl < CTR_RUN_ID_MAX; i++) {
		if (line[i] == '\\' || (unsigned char)line[i] < 0x20)
			return 0;
		if (line[i] == '"') {
			if (i == pl)
				return 0;
			memcpy(id, line + pl, i - pl);
			id[i - pl] = '\0';
			return 1;
		}
	}
	return 0;
}

static int is_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return 0;
	return 1;
}

static int line_error(struct jparse *p, struct ctr_err *e, const char *what)
{
	ctr_err_ctx(e, p->path, NULL, p->offset);
	return ctr_err_set(e, CTR_EFORMAT, 0, "malformed run at line %zu of '%s': %s", p->line,
			   p->path, what);
}

/*
 * Parses one line into a new run (chunks only with @chunks). Returns 0, CTR_EFORMAT,
 * CTR_EVERSION or CTR_ENOMEM.
 */
static int parse_line(struct jparse *p, const char *line, size_t len, int chunks,
		      struct ctr_run **out, struct ctr_err *e)
{
	json_error_t jerr;
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	struct ctr_run *r = NULL;
	json_int_t v;
	int ret = 0;

	*out = NULL;
	p->why = NULL;
	p->nomem = 0;
	if (!o) {
		char why[300];

		snprintf(why, sizeof(why), "%s", jerr.text);
		return line_error(p, e, why);
	}
	if (!json_is_object(o)) {
		ret = line_error(p, e, "not a JSON object");
		goto out;
	}
	v = json_integer_value(json_object_get(o, "v"));
	if (!json_is_integer(json_object_get(o, "v")) || v < 1) {
		ret = line_error(p, e, "no format version \"v\"");
		goto out;
	}
	if (v > JL_VERSION) {
		ctr_err_ctx(e, p->path, NULL, p->offset);
		ret =
		    ctr_err_set(e, CTR_EVERSION, 0,
				"run at line %zu of '%s' has format version %lld, newer than this "
				"ctrace supports (%d): upgrade ctrace",
				p->line, p->path, (long long)v, JL_VERSION);
		goto out;
	}
	if (!(r = calloc(1, sizeof(*r)))) {
		ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading '%s'", p->path);
		goto out;
	}
	json_to_run(p, o, r, chunks);
	if (p->nomem) {
		ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading '%s'", p->path);
	} else if (p->why) {
		char why[128];

		snprintf(why, sizeof(why), "bad field '%s'", p->why);
		ret = line_error(p, e, why);
	}
out:
	json_decref(o);
	if (ret < 0)
		ctr_run_free(r);
	else
		*out = r;
	return ret;
}

/* Called for each non-blank line: return 0 to go on, 1 to stop, negative on error. */
typedef int (*line_fn)(void *arg, struct jparse *p, const char *line, size_t len,
		       struct ctr_err *e);

/* Calls @fn for each non-blank line of @f, from its current position. */
static int scan_stream(struct jl_store *j, FILE *f, line_fn fn, void *arg, struct ctr_err *e)
{
	struct jparse p = {.path = j->path};
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long long off = 0;
	int ret = 0;

	while ((len = getline(&line, &cap, f)) > 0) {
		p.line++;
		p.offset = off;
		off += len;
		if (is_blank(line, (size_t)len))
			continue;
		if ((ret = fn(arg, &p, line, (size_t)len, e)) != 0)
			break;
	}
	if (ret == 0 && ferror(f))
		ret = ctr_err_set(e, CTR_EIO, errno, "cannot read store '%s': %s", j->path,
				  strerror(errno));
	free(line);
	return ret < 0 ? ret : 0;
}

/* Reads the store file under a shared lock. A missing file is an empty store. */
static int scan(struct jl_store *j, line_fn fn, void *arg, struct ctr_err *e)
{
	int fd = open(j->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	struct stat st;
	int ret;

	if (f && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
		fclose(f);
		ctr_err_ctx(e, j->path, NULL, -1);
		return ctr_err_set(e, CTR_ESTORE, 0, "cannot open store '%s': not a regular file",
				   j->path);
	}
	if (!f) {
		if (fd >= 0)
			close(fd);
		if (errno == ENOENT)
			return 0;
		ctr_err_ctx(e, j->path, NULL, -1);
		return ctr_err_set(e, CTR_EIO, errno, "cannot open store '%s': %s", j->path,
				   strerror(errno));
	}
	if (flock(fileno(f), LOCK_SH) < 0)
		ret = ctr_err_set(e, CTR_EIO, errno, "cannot lock store '%s': %s", j->path,
				  strerror(errno));
	else
		ret = scan_stream(j, f, fn, arg, e);
	fclose(f); /* drops the lock */
	return ret;
}

/* Reads the store file through @fd, which holds the exclusive lock already (a second open
 * would be a second lock owner and wait for ourselves). */
static int scan_locked(struct jl_store *j, int fd, line_fn fn, void *arg, struct ctr_err *e)
{
	int d = dup(fd); /* shares the open file description, so the lock stays with fd */
	FILE *f;
	int ret;

	if (d < 0 || lseek(d, 0, SEEK_SET) < 0 || !(f = fdopen(d, "r"))) {
		ret = ctr_err_set(e, CTR_EIO, errno, "cannot read store '%s': %s", j->path,
				  strerror(errno));
		if (d >= 0)
			close(d);
		return ret;
	}
	ret = scan_stream(j, f, fn, arg, e);
	fclose(f);
	return ret;
}

/* The id of a line: fast path, else a full parse (which also validates it). */
static int line_id(struct jparse *p, const char *line, size_t len, char id[CTR_RUN_ID_MAX],
		   struct ctr_err *e)
{
	struct ctr_run *r;
	int ret;

	if (fast_id(line, len, id))
		return 0;
	if ((ret = parse_line(p, line, len, 0, &r, e)) < 0)
		return ret;
	snprintf(id, CTR_RUN_ID_MAX, "%s", r->id);
	ctr_run_free(r);
	return 0;
}

struct find_arg {
	const char *id;
	int found;
	unsigned what;	     /* for load: what to parse */
	struct ctr_run *run; /* for load: the parsed run */
};

static int find_line(void *arg, struct jparse *p, const char *line, size_t len, struct ctr_err *e)
{
	struct find_arg *a = arg;
	char id[CTR_RUN_ID_MAX];
	int ret;

	if ((ret = line_id(p, line, len, id, e)) < 0)
		return ret;
	if (strcmp(id, a->id))
		return 0;
	a->found = 1;
	if (a->what & 0x100u) /* only asked whether it exists */
		return 1;
	if ((ret = parse_line(p, line, len, !!(a->what & CTR_LOAD_TIMELINE), &a->run, e)) < 0)
		return ret;
	return 1;
}

/* ---- ops ---- */

static int jl_open(struct ctr_store *s, const char *path, struct ctr_err *e)
{
	struct jl_store *j = calloc(1, sizeof(*j));
	char *real = NULL;
	int exists, ret;

	if (!j || !(j->path = strdup(path))) {
		free(j);
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory opening store '%s'", path);
	}
	s->priv = j;
	if ((ret = ctr_store_check_path(s, path, &exists, &real, e)) < 0) {
		free(j->path);
		free(j);
		s->priv = NULL;
		return ret;
	}
	if (real) { /* a link the caller named and owns: work on (and rename over) its target */
		free(j->path);
		j->path = real;
	}
	return 0;
}

static void jl_drop_pending(struct jl_store *j)
{
	for (size_t i = 0; i < j->n_chunks; i++)
		free(j->chunks[i].data);
	free(j->chunks);
	j->chunks = NULL;
	j->n_chunks = j->cap_chunks = 0;
	j->saving = 0;
	j->save_id[0] = '\0';
}

static void jl_close(struct ctr_store *s)
{
	struct jl_store *j = s->priv;

	if (!j)
		return;
	jl_drop_pending(j);
	free(j->path);
	free(j);
	s->priv = NULL;
}

/* 1 if run @id is in the file, 0 if not; through the locked @fd when it is >= 0. */
static int exists(struct jl_store *j, int fd, const char *id, struct ctr_err *e)
{
	struct find_arg a = {.id = id, .what = 0x100u};
	int ret = fd >= 0 ? scan_locked(j, fd, find_line, &a, e) : scan(j, find_line, &a, e);

	return ret < 0 ? ret : a.found;
}

static int jl_save_begin(struct ctr_store *s, const struct ctr_run *hdr, struct ctr_err *e)
{
	struct jl_store *j = s->priv;
	int ret = exists(j, -1, hdr->id, e);

	if (ret < 0)
		return ret;
	if (ret)
		return ctr_err_set(e, CTR_EEXIST, 0, "run '%s' is already in store '%s'", hdr->id,
				   j->path);
	jl_drop_pending(j);
	snprintf(j->save_id, sizeof(j->save_id), "%s", hdr->id);
	j->saving = 1;
	return 0;
}

static int jl_save_chunk(struct ctr_store *s, const struct ctr_chunk *c, struct ctr_err *e)
{
	struct jl_store *j = s->priv;
	struct ctr_chunk *d;

	if (j->n_chunks == j->cap_chunks) {
		size_t cap = j->cap_chunks ? j->cap_chunks * 2 : 16;
		struct ctr_chunk *p = realloc(j->chunks, cap * sizeof(*p));

		if (!p)
			return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory saving a chunk");
		j->chunks = p;
		j->cap_chunks = cap;
	}
	d = &j->chunks[j->n_chunks];
	*d = *c;
	d->data = NULL;
	if (c->size) {
		if (!(d->data = malloc(c->size)))
			return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory saving a chunk");
		memcpy(d->data, c->data, c->size);
	}
	j->n_chunks++;
	return 0;
}

/* Opens the store file for writing and takes the exclusive lock, making sure the locked file
 * is still the one at the path (remove renames a new file over it). */
static int lock_for_write(struct jl_store *j, int *fdp, struct ctr_err *e)
{
	for (int tries = 0; tries < 100; tries++) {
		struct stat a, b;
		int fd = open(j->path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

		if (fd < 0)
			break;
		if (flock(fd, LOCK_EX) < 0 || fstat(fd, &a) < 0) {
			close(fd);
			break;
		}
		if (stat(j->path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
			*fdp = fd;
			return 0;
		}
		close(fd); /* replaced while we waited: lock the new file */
	}
	ctr_err_ctx(e, j->path, NULL, -1);
	return ctr_err_set(e, CTR_EIO, errno, "cannot open store '%s' for writing: %s", j->path,
			   strerror(errno));
}

static int write_all(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t w = write(fd, buf, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

static int jl_save_end(struct ctr_store *s, const struct ctr_run *run, struct ctr_err *e)
{
	struct jl_store *j = s->priv;
	json_t *o = NULL;
	char *text = NULL, last = '\n';
	size_t len;
	struct stat st;
	int fd = -1, ret;

	if (!j->saving || strcmp(run->id, j->save_id))
		return ctr_err_set(e, CTR_EUSAGE, 0, "save_end of run '%s' without its save_begin",
				   run->id);
	if (!(o = run_to_json(run, j->chunks, j->n_chunks)) ||
	    !(text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
		ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory saving run '%s'", run->id);
		goto out;
	}
	/* Room for a leading and a trailing newline around the text. */
	len = strlen(text);
	{
		char *t = realloc(text, len + 3);

		if (!t) {
			ret =
			    ctr_err_set(e, CTR_ENOMEM, 0, "out of memory saving run '%s'", run->id);
			goto out;
		}
		text = t;
		memmove(text + 1, text, len + 1);
		text[0] = '\n';
		text[len + 1] = '\n';
		text[len + 2] = '\0';
	}
	if ((ret = lock_for_write(j, &fd, e)) < 0)
		goto out;
	/* Check again under the lock: another writer may have saved the id meanwhile. */
	if ((ret = exists(j, fd, run->id, e)) < 0)
		goto out;
	if (ret) {
		ret = ctr_err_set(e, CTR_EEXIST, 0, "run '%s' is already in store '%s'", run->id,
				  j->path);
		goto out;
	}
	/* A file whose last line lacks its newline (hand edit, killed writer) gets one first,
	 * so the new line stays a line of its own. */
	if (fstat(fd, &st) == 0 && st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) != 1)
		last = '\n';
	if (write_all(fd, last == '\n' ? text + 1 : text, last == '\n' ? len + 1 : len + 2) < 0 ||
	    fsync(fd) < 0) {
		ret = ctr_err_set(e, CTR_EIO, errno, "cannot write store '%s': %s", j->path,
				  strerror(errno));
		goto out;
	}
	jl_drop_pending(j);
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(text);
	json_decref(o);
	return ret;
}

static void jl_save_abort(struct ctr_store *s)
{
	jl_drop_pending(s->priv);
}

static int jl_load(struct ctr_store *s, const char *id, unsigned what, struct ctr_run **out,
		   struct ctr_err *e)
{
	struct jl_store *j = s->priv;
	struct find_arg a = {.id = id, .what = what & CTR_LOAD_TIMELINE};
	int ret = scan(j, find_line, &a, e);

	if (ret < 0)
		return ret;
	if (!a.found)
		return ctr_err_set(e, CTR_ENOTFOUND, 0, "no run '%s' in store '%s'", id, j->path);
	*out = a.run;
	return 0;
}

struct list_arg {
	const struct ctr_filter *f;
	struct ctr_run **runs;
	size_t n, cap;
};

static int list_line(void *arg, struct jparse *p, const char *line, size_t len, struct ctr_err *e)
{
	struct list_arg *a = arg;
	struct ctr_run *r;
	int ret;

	if ((ret = parse_line(p, line, len, 0, &r, e)) < 0)
		return ret;
	if (!ctr_filter_match(a->f, r)) {
		ctr_run_free(r);
		return 0;
	}
	ctr_run_clear_arrays(r); /* list returns headers only */
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 32;
		struct ctr_run **x = realloc(a->runs, cap * sizeof(*x));

		if (!x) {
			ctr_run_free(r);
			return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory listing runs");
		}
		a->runs = x;
		a->cap = cap;
	}
	a->runs[a->n++] = r;
	return 0;
}

static int jl_list(struct ctr_store *s, const struct ctr_filter *f, size_t limit, size_t offset,
		   struct ctr_run ***out, size_t *n, struct ctr_err *e)
{
	struct list_arg a = {.f = f};
	size_t keep = 0;
	int ret = scan(s->priv, list_line, &a, e);

	if (ret < 0) {
		ctr_run_list_free(a.runs, a.n);
		return ret;
	}
	ctr_run_sort_newest(a.runs, a.n);
	if (offset < a.n) {
		keep = a.n - offset;
		if (limit && keep > limit)
			keep = limit;
	}
	for (size_t i = 0; i < a.n; i++)
		if (i < offset || i >= offset + keep)
			ctr_run_free(a.runs[i]);
	if (keep && offset)
		memmove(a.runs, a.runs + offset, keep * sizeof(*a.runs));
	if (!keep) {
		free(a.runs);
		a.runs = NULL;
	}
	*out = a.runs;
	*n = keep;
	return 0;
}

struct rm_arg {
	const char *id;
	FILE *tmp;
	int found;
};

static int rm_line(void *arg, struct jparse *p, const char *line, size_t len, struct ctr_err *e)
{
	struct rm_arg *a = arg;
	char id[CTR_RUN_ID_MAX];
	int ret;

	if ((ret = line_id(p, line, len, id, e)) < 0)
		return ret;
	if (!strcmp(id, a->id)) {
		a->found = 1;
		return 0;
	}
	if (fwrite(line, 1, len, a->tmp) != len ||
	    (line[len - 1] != '\n' && fputc('\n', a->tmp) < 0))
		return ctr_err_set(e, CTR_EIO, errno, "cannot write '%s': %s", p->path,
				   strerror(errno));
	return 0;
}

static int jl_remove(struct ctr_store *s, const char *id, struct ctr_err *e)
{
	struct jl_store *j = s->priv;
	struct rm_arg a = {.id = id};
	char *tmp = NULL;
	int fd = -1, tfd = -1, ret;
	struct stat st;

	if (stat(j->path, &st) < 0 && errno == ENOENT)
		return ctr_err_set(e, CTR_ENOTFOUND, 0, "no run '%s' in store '%s'", id, j->path);
	if ((ret = lock_for_write(j, &fd, e)) < 0)
		return ret;
	if (asprintf(&tmp, "%s.tmp.XXXXXX", j->path) < 0) {
		tmp = NULL;
		ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory removing run '%s'", id);
		goto out;
	}
	if ((tfd = mkostemp(tmp, O_CLOEXEC)) < 0 || !(a.tmp = fdopen(tfd, "w"))) {
		ret =
		    ctr_err_set(e, CTR_EIO, errno, "cannot create '%s': %s", tmp, strerror(errno));
		goto out;
	}
	tfd = -1;
	fchmod(fileno(a.tmp), fstat(fd, &st) == 0 ? st.st_mode & 07777 : 0600);
	if ((ret = scan_locked(j, fd, rm_line, &a, e)) < 0)
		goto out;
	if (!a.found) {
		ret = ctr_err_set(e, CTR_ENOTFOUND, 0, "no run '%s' in store '%s'", id, j->path);
		goto out;
	}
	if (fflush(a.tmp) != 0 || fsync(fileno(a.tmp)) < 0) {
		ret = ctr_err_set(e, CTR_EIO, errno, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, j->path) < 0) {
		ret = ctr_err_set(e, CTR_EIO, errno, "cannot replace store '%s': %s", j->path,
				  strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	ret = 0;
out:
	if (a.tmp)
		fclose(a.tmp);
	if (tfd >= 0)
		close(tfd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

const struct ctr_store_ops ctr_store_jsonl = {
    .name = "jsonl",
    .open = jl_open,
    .close = jl_close,
    .save_begin = jl_save_begin,
    .save_chunk = jl_save_chunk,
    .save_end = jl_save_end,
    .save_abort = jl_save_abort,
    .load = jl_load,
    .list = jl_list,
    .remove = jl_remove,
};
