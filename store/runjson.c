/* SPDX-License-Identifier: MIT */
/*
 * The run's JSON form, serializer and validating parser (see runjson.h and docs/store.md), and
 * the one base64 codec. Every allocation failure is reported, never a crash; the parser is
 * fuzzed through the JSONL store (tests/fuzz/fuzz_jsonl.c).
 */
#include "runjson.h"

#include "../common/fmt.h"
#include "../common/hist.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *ctr_base64_encode(const unsigned char *in, size_t n)
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

int ctr_base64_decode(const char *in, size_t n, unsigned char **out, size_t *outlen)
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

/* ---- strings ---- */

int ctr_utf8_valid(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t n; *u; u += n)
		if (!(n = ctr_utf8_seq(u)))
			return 0;
	return 1;
}

char *ctr_utf8_sanitize(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	char *t, *d;

	if (!(t = malloc(strlen(s) * 3 + 1)))
		return NULL;
	for (d = t; *u;) {
		size_t n = ctr_utf8_seq(u);

		if (n) {
			memcpy(d, u, n);
			d += n;
			u += n;
		} else {
			memcpy(d, "\xEF\xBF\xBD", 3); /* U+FFFD */
			d += 3;
			u++;
		}
	}
	*d = '\0';
	return t;
}

json_t *ctr_json_str(const char *s)
{
	char *t;
	json_t *v;

	if (!s)
		return json_null();
	if (ctr_utf8_valid(s))
		return json_string(s);
	if (!(t = ctr_utf8_sanitize(s)))
		return NULL;
	v = json_string(t);
	free(t);
	return v;
}

/* ---- run -> JSON ---- */

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

static json_t *done(json_t *o, int fail)
{
	if (fail) {
		json_decref(o);
		return NULL;
	}
	return o;
}

const char *ctr_runjson_kind_name(uint32_t kind)
{
	return kind == CTR_FN_SPAN ? "span" : kind == CTR_FN_MARK ? "mark" : "function";
}

static const char *codec_name(uint32_t codec)
{
	return codec == CTR_CODEC_ZSTD ? "zstd" : codec == CTR_CODEC_RAW ? "raw" : "unknown";
}

json_t *ctr_runjson_summary(const struct ctr_run *r)
{
	json_t *o = json_object(), *m;
	int fail = !o;

	if (fail)
		return NULL;
	put(o, "run_id", ctr_json_str(r->id), &fail);
	put(o, "command", ctr_json_str(r->command), &fail);
	put(o, "host", ctr_json_str(r->host), &fail);
	put(o, "cwd", ctr_json_str(r->cwd), &fail);
	put(o, "start_unix_ns", json_integer(r->start_unix_ns), &fail);
	put(o, "duration_ns", js_u64(r->duration_ns), &fail);
	put(o, "exit_status", json_integer(r->exit_status), &fail);
	put(o, "signal", json_integer(r->signal), &fail);
	put(o, "crashed", json_boolean(r->crashed), &fail);
	put(o, "events", js_u64(r->events), &fail);
	put(o, "lost_events", js_u64(r->lost_events), &fail);
	put(o, "metadata", m = json_object(), &fail);
	for (size_t i = 0; m && i < r->n_meta; i++) {
		json_t *k = ctr_json_str(r->meta[i].key);

		if (!k || !json_is_string(k)) {
			fail |= !k;
			json_decref(k);
			continue;
		}
		put(m, json_string_value(k), ctr_json_str(r->meta[i].value), &fail);
		json_decref(k);
	}
	return done(o, fail);
}

json_t *ctr_runjson_thread(const struct ctr_run *r, size_t i)
{
	const struct ctr_thread *t = &r->threads[i];

	return json_pack("{s:I,s:i,s:i,s:o*,s:I,s:I,s:I,s:I}", "id", (json_int_t)t->id, "pid",
			 t->pid, "tid", t->tid, "name", ctr_json_str(t->name), "start_ns",
			 (json_int_t)t->start_ns, "end_ns", (json_int_t)t->end_ns, "events",
			 (json_int_t)t->events, "lost_events", (json_int_t)t->lost);
}

static void processes_json(json_t *o, const struct ctr_run *r, int *fail)
{
	json_t *a;

	put(o, "processes", a = json_array(), fail);
	for (size_t i = 0; a && i < r->n_procs; i++) {
		const struct ctr_process *p = &r->procs[i];

		push(a,
		     json_pack("{s:i,s:i,s:I,s:o*,s:o*,s:i,s:i,s:b,s:o*}", "pid", p->pid, "ppid",
			       p->ppid, "gen", (json_int_t)p->gen, "exe", ctr_json_str(p->exe),
			       "command", ctr_json_str(p->command), "exit_status", p->exit_status,
			       "signal", p->signal, "crashed", p->crashed, "backtrace",
			       ctr_json_str(p->backtrace)),
		     fail);
	}
}

json_t *ctr_runjson_module(const struct ctr_run *r, size_t i)
{
	const struct ctr_module *m = &r->modules[i];

	return json_pack("{s:I,s:o*,s:o*,s:o*,s:I,s:I}", "id", (json_int_t)m->id, "path",
			 ctr_json_str(m->path), "build_id", ctr_json_str(m->build_id), "base",
			 js_u64(m->base), "loaded_ns", (json_int_t)m->loaded_ns, "unloaded_ns",
			 (json_int_t)m->unloaded_ns);
}

static void modules_json(json_t *o, const struct ctr_run *r, int *fail)
{
	json_t *a;

	put(o, "modules", a = json_array(), fail);
	for (size_t i = 0; a && i < r->n_modules; i++)
		push(a, ctr_runjson_module(r, i), fail);
}

/* A histogram blob as base64, JSON null when there is none; NULL when out of memory. */
static json_t *js_hist(const unsigned char *hist, size_t size)
{
	char *b64;
	json_t *v;

	if (!hist || !size)
		return json_null();
	if (!(b64 = ctr_base64_encode(hist, size)))
		return NULL;
	v = json_string(b64);
	free(b64);
	return v;
}

json_t *ctr_runjson_function(const struct ctr_run *r, size_t i)
{
	const struct ctr_function *f = &r->functions[i];

	return json_pack(
	    "{s:I,s:s,s:o*,s:o*,s:o*,s:I,s:o*,s:o*,s:o,s:o,s:o,s:o,s:o}", "id", (json_int_t)f->id,
	    "kind", ctr_runjson_kind_name(f->kind), "name", ctr_json_str(f->name), "linkage_name",
	    ctr_json_str(f->linkage_name), "file", ctr_json_str(f->file), "line",
	    (json_int_t)f->line, "module", js_ref(f->module), "offset", js_u64(f->offset), "p50_ns",
	    js_u64(f->p50_ns), "p90_ns", js_u64(f->p90_ns), "p99_ns", js_u64(f->p99_ns), "p999_ns",
	    js_u64(f->p999_ns), "hist", js_hist(f->hist, f->hist_size));
}

static void functions_json(json_t *o, const struct ctr_run *r, int *fail)
{
	json_t *a;

	put(o, "functions", a = json_array(), fail);
	for (size_t i = 0; a && i < r->n_functions; i++)
		push(a, ctr_runjson_function(r, i), fail);
}

/* The node columns, in the order of the compact rows. */
static const char *const node_columns[] = {
    "id",	  "parent",	"thread",	  "function",	  "calls",	 "total_ns",
    "self_ns",	  "min_ns",	"max_ns",	  "raw_total_ns", "raw_self_ns", "raw_min_ns",
    "raw_max_ns", "p50_ns",	"p90_ns",	  "p99_ns",	  "p999_ns",	 "hist",
    "offcpu_ns",  "preempt_ns", "preempted_calls"};
#define N_NODE_COLS (sizeof(node_columns) / sizeof(node_columns[0]))
#define N_NODE_COLS_V2 13 /* before the latency columns */
#define N_NODE_COLS_V3 18 /* before the off-CPU columns */
#define N_NODE_COLS_V4 20 /* before preempted_calls */

static void node_values(const struct ctr_node *n, json_t *v[N_NODE_COLS])
{
	const uint64_t u[] = {n->calls,	     n->total_ns,     n->self_ns,     n->min_ns,
			      n->max_ns,     n->raw_total_ns, n->raw_self_ns, n->raw_min_ns,
			      n->raw_max_ns, n->p50_ns,	      n->p90_ns,      n->p99_ns,
			      n->p999_ns};

	v[0] = js_u64(n->id);
	v[1] = js_ref(n->parent);
	v[2] = js_u64(n->thread);
	v[3] = js_u64(n->function);
	for (size_t k = 0; k < 13; k++)
		v[4 + k] = js_u64(u[k]);
	v[17] = js_hist(n->hist, n->hist_size);
	v[18] = js_u64(n->offcpu_ns);
	v[19] = js_u64(n->preempt_ns);
	v[20] = js_u64(n->preempted_calls);
}

static void nodes_json(json_t *o, const struct ctr_run *r, int rows, int *fail)
{
	json_t *a, *cols;

	if (rows) {
		put(o, "node_columns", cols = json_array(), fail);
		for (size_t k = 0; cols && k < N_NODE_COLS; k++)
			push(cols, json_string(node_columns[k]), fail);
	}
	put(o, "nodes", a = json_array(), fail);
	for (size_t i = 0; a && i < r->n_nodes; i++) {
		json_t *v[N_NODE_COLS], *el = rows ? json_array() : json_object();

		node_values(&r->nodes[i], v);
		for (size_t k = 0; k < N_NODE_COLS; k++) {
			if (!el || !v[k])
				*fail = 1;
			if (!el)
				json_decref(v[k]);
			else if (rows)
				push(el, v[k], fail);
			else
				put(el, node_columns[k], v[k], fail);
		}
		push(a, el, fail);
	}
}

static void attrs_json(json_t *o, const struct ctr_run *r, int *fail)
{
	json_t *a;

	put(o, "attrs", a = json_array(), fail);
	for (size_t i = 0; a && i < r->n_attrs; i++) {
		const struct ctr_attr *t = &r->attrs[i];

		push(a,
		     json_pack("{s:I,s:o*,s:o*,s:o*}", "node", (json_int_t)t->node, "key",
			       ctr_json_str(t->key), "value", ctr_json_str(t->value), "count",
			       js_u64(t->count)),
		     fail);
	}
}

static void chunks_json(json_t *o, const struct ctr_chunk *chunks, size_t n, int *fail)
{
	json_t *a;

	put(o, "chunks", a = json_array(), fail);
	for (size_t i = 0; a && i < n; i++) {
		const struct ctr_chunk *c = &chunks[i];
		char *b64 = ctr_base64_encode(c->data, c->size);

		if (!b64) {
			*fail = 1;
			break;
		}
		push(a,
		     json_pack("{s:I,s:I,s:s,s:o,s:o,s:o,s:o,s:s}", "thread", (json_int_t)c->thread,
			       "seq", (json_int_t)c->seq, "codec", codec_name(c->codec), "raw_size",
			       js_u64(c->raw_size), "first_ns", js_u64(c->first_ns), "last_ns",
			       js_u64(c->last_ns), "size", js_u64(c->size), "data", b64),
		     fail);
		free(b64);
	}
}

json_t *ctr_runjson_run(const struct ctr_run *r, const struct ctr_chunk *chunks, size_t n_chunks,
			unsigned flags)
{
	json_t *o = ctr_runjson_summary(r), *a;
	int fail = !o;

	if (fail)
		return NULL;
	put(o, "format", json_string(CTR_RUNJSON_FORMAT), &fail);
	put(o, "v", json_integer(CTR_RUNJSON_VERSION), &fail);
	put(o, "clock", ctr_json_str(r->clock), &fail);
	put(o, "ticks_per_sec", js_u64(r->ticks_per_sec), &fail);
	put(o, "overhead_inner_ns", js_real(r->overhead_inner_ns), &fail);
	put(o, "overhead_call_ns", js_real(r->overhead_call_ns), &fail);
	processes_json(o, r, &fail);
	modules_json(o, r, &fail);
	functions_json(o, r, &fail);
	put(o, "threads", a = json_array(), &fail);
	for (size_t i = 0; a && i < r->n_threads; i++)
		push(a, ctr_runjson_thread(r, i), &fail);
	nodes_json(o, r, !!(flags & CTR_RUNJSON_NODE_ROWS), &fail);
	attrs_json(o, r, &fail);
	if (flags & CTR_RUNJSON_CHUNKS)
		chunks_json(o, chunks ? chunks : r->chunks, chunks ? n_chunks : r->n_chunks, &fail);
	return done(o, fail);
}

/* ---- JSON -> run (validating) ---- */

struct jparse {
	const char *why; /* first problem found */
	int nomem;
	int version; /* "v" of the object */
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

/* A histogram: base64 of a ctr_hist_encode() blob, or null/absent; validated. */
static void jhist(struct jparse *p, json_t *v, unsigned char **out, size_t *size, const char *key)
{
	struct ctr_hist_bucket *b = NULL;
	size_t nb;
	int rc;

	if (!v || json_is_null(v))
		return;
	if (!json_is_string(v)) {
		jbad(p, key);
		return;
	}
	rc = ctr_base64_decode(json_string_value(v), json_string_length(v), out, size);
	if (rc == -2) {
		p->nomem = 1;
		return;
	}
	if (rc < 0) {
		jbad(p, key);
		return;
	}
	rc = ctr_hist_decode(*out, *size, &b, &nb, NULL);
	free(b);
	if (rc == CTR_ENOMEM)
		p->nomem = 1;
	else if (rc < 0)
		jbad(p, key);
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

/* A flag: a boolean, or an integer in the previous form. */
static int jflag(struct jparse *p, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (v && json_is_boolean(v))
		return json_is_true(v);
	return jint_v(p, v, key) != 0;
}

/* An enum by name (@names[i] is value i), or its number in the previous form. */
static uint32_t jenum(struct jparse *p, json_t *o, const char *key, const char *const *names,
		      uint32_t n)
{
	json_t *v = json_object_get(o, key);

	if (v && json_is_string(v)) {
		for (uint32_t i = 0; i < n; i++)
			if (strcmp(json_string_value(v), names[i]) == 0)
				return i;
		jbad(p, key);
		return 0;
	}
	return (uint32_t)jint_v(p, v, key);
}

static const char *const kind_names[] = {"function", "span", "mark"};
static const char *const codec_names[] = {"raw", "zstd"};

static void parse_summary(struct jparse *p, json_t *o, struct ctr_run *r)
{
	json_t *v = json_object_get(o, p->version >= 2 ? "run_id" : "id");

	if (!json_is_string(v) || !json_string_length(v) ||
	    json_string_length(v) >= CTR_RUN_ID_MAX) {
		jbad(p, "run_id");
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
	r->crashed = jflag(p, o, "crashed");
	r->events = (uint64_t)jint(p, o, "events");
	r->lost_events = (uint64_t)jint(p, o, "lost_events");
	r->clock = jstr(p, o, "clock");
	r->ticks_per_sec = (uint64_t)jint(p, o, "ticks_per_sec");
	r->overhead_inner_ns = jreal(p, o, "overhead_inner_ns");
	r->overhead_call_ns = jreal(p, o, "overhead_call_ns");
}

static void parse_meta(struct jparse *p, json_t *o, struct ctr_run *r)
{
	json_t *m = json_object_get(o, "metadata"), *a, *val;
	const char *key;
	size_t n, i = 0;

	if (p->version >= 2) {
		if (!m || json_is_null(m))
			return;
		if (!json_is_object(m)) {
			jbad(p, "metadata");
			return;
		}
		if (!json_object_size(m))
			return;
		if (!(r->meta = calloc(json_object_size(m), sizeof(*r->meta)))) {
			p->nomem = 1;
			return;
		}
		json_object_foreach(m, key, val)
		{
			if (!json_is_string(val)) {
				jbad(p, "metadata");
				return;
			}
			r->meta[i].key = strdup(key);
			r->meta[i].value = strdup(json_string_value(val));
			if (!r->meta[i].key || !r->meta[i].value)
				p->nomem = 1;
			r->n_meta = ++i;
		}
		return;
	}
	a = jarr(p, o, "meta", &n);
	if ((r->meta = jalloc(p, a, n, sizeof(*r->meta), 0, "meta")))
		r->n_meta = n;
	for (i = 0; i < r->n_meta; i++) {
		json_t *el = json_array_get(a, i);

		r->meta[i].key = jstr(p, el, "key");
		r->meta[i].value = jstr(p, el, "value");
	}
}

static void parse_processes(struct jparse *p, json_t *o, struct ctr_run *r)
{
	size_t n;
	json_t *a = jarr(p, o, "processes", &n);

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
		x->crashed = jflag(p, el, "crashed");
		x->backtrace = jstr(p, el, "backtrace");
	}
}

static void parse_modules(struct jparse *p, json_t *o, struct ctr_run *r)
{
	size_t n;
	json_t *a = jarr(p, o, "modules", &n);

	if ((r->modules = jalloc(p, a, n, sizeof(*r->modules), 0, "modules")))
		r->n_modules = n;
	for (size_t i = 0; i < r->n_modules; i++) {
		json_t *el = json_array_get(a, i);
		struct ctr_module *x = &r->modules[i];

		x->id = (uint32_t)jint(p, el, "id");
		x->path = jstr(p, el, "path");
		x->build_id = jstr(p, el, "build_id");
		x->base = (uint64_t)jint(p, el, "base");
		/* optional: runs saved before load times were kept were loaded at the start */
		x->loaded_ns = jint(p, el, "loaded_ns");
		x->unloaded_ns =
		    json_object_get(el, "unloaded_ns") ? jint(p, el, "unloaded_ns") : -1;
	}
}

static void parse_functions(struct jparse *p, json_t *o, struct ctr_run *r)
{
	size_t n;
	json_t *a = jarr(p, o, "functions", &n);

	if ((r->functions = jalloc(p, a, n, sizeof(*r->functions), 0, "functions")))
		r->n_functions = n;
	for (size_t i = 0; i < r->n_functions; i++) {
		json_t *el = json_array_get(a, i);
		struct ctr_function *x = &r->functions[i];

		x->id = (uint32_t)jint(p, el, "id");
		x->kind = jenum(p, el, "kind", kind_names, 3);
		x->name = jstr(p, el, "name");
		x->linkage_name = jstr(p, el, "linkage_name");
		x->file = jstr(p, el, "file");
		x->line = (uint32_t)jint(p, el, "line");
		x->module = jref_v(p, json_object_get(el, "module"), "module");
		x->offset = (uint64_t)jint(p, el, "offset");
		x->p50_ns = (uint64_t)jint(p, el, "p50_ns");
		x->p90_ns = (uint64_t)jint(p, el, "p90_ns");
		x->p99_ns = (uint64_t)jint(p, el, "p99_ns");
		x->p999_ns = (uint64_t)jint(p, el, "p999_ns");
		jhist(p, json_object_get(el, "hist"), &x->hist, &x->hist_size, "functions");
	}
}

static void parse_threads(struct jparse *p, json_t *o, struct ctr_run *r)
{
	size_t n;
	json_t *a = jarr(p, o, "threads", &n);

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
		x->lost = (uint64_t)jint(p, el, p->version >= 2 ? "lost_events" : "lost");
	}
}

/* Column @k of node element @el: a row (array) or an object. */
static json_t *node_col(json_t *el, size_t k)
{
	return json_is_array(el) ? json_array_get(el, k) : json_object_get(el, node_columns[k]);
}

static void parse_nodes(struct jparse *p, json_t *o, struct ctr_run *r)
{
	size_t n;
	json_t *a = jarr(p, o, "nodes", &n), *first = n ? json_array_get(a, 0) : NULL;
	int rows = first && json_is_array(first);

	if ((r->nodes = jalloc(p, a, n, sizeof(*r->nodes), rows, "nodes")))
		r->n_nodes = n;
	for (size_t i = 0; i < r->n_nodes; i++) {
		json_t *el = json_array_get(a, i);
		struct ctr_node *x = &r->nodes[i];
		uint64_t *u[] = {&x->calls,	 &x->total_ns,	   &x->self_ns,	    &x->min_ns,
				 &x->max_ns,	 &x->raw_total_ns, &x->raw_self_ns, &x->raw_min_ns,
				 &x->raw_max_ns, &x->p50_ns,	   &x->p90_ns,	    &x->p99_ns,
				 &x->p999_ns};
		size_t ncol = rows ? json_array_size(el) : N_NODE_COLS;

		/* rows written before latency percentiles have the first 13 columns */
		if (rows && ncol != N_NODE_COLS && ncol != N_NODE_COLS_V2 &&
		    ncol != N_NODE_COLS_V3 && ncol != N_NODE_COLS_V4) {
			jbad(p, "nodes");
			break;
		}
		x->id = (uint32_t)jint_v(p, node_col(el, 0), "nodes");
		x->parent = jref_v(p, node_col(el, 1), "nodes");
		x->thread = (uint32_t)jint_v(p, node_col(el, 2), "nodes");
		x->function = (uint32_t)jint_v(p, node_col(el, 3), "nodes");
		for (size_t k = 0; k < 13 && 4 + k < ncol; k++)
			*u[k] = (uint64_t)jint_v(p, node_col(el, 4 + k), "nodes");
		if (ncol > 17)
			jhist(p, node_col(el, 17), &x->hist, &x->hist_size, "nodes");
		if (ncol > 19) { /* absent (older rows and objects): no off-CPU time */
			x->offcpu_ns = (uint64_t)jint_v(p, node_col(el, 18), "nodes");
			x->preempt_ns = (uint64_t)jint_v(p, node_col(el, 19), "nodes");
		}
		if (ncol > 20) /* absent (older rows and objects): none left out */
			x->preempted_calls = (uint64_t)jint_v(p, node_col(el, 20), "nodes");
	}
}

static void parse_attrs(struct jparse *p, json_t *o, struct ctr_run *r)
{
	size_t n;
	json_t *a = jarr(p, o, "attrs", &n);

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
	x->codec = jenum(p, el, "codec", codec_names, 2);
	x->raw_size = (uint64_t)jint(p, el, "raw_size");
	x->first_ns = (uint64_t)jint(p, el, "first_ns");
	x->last_ns = (uint64_t)jint(p, el, "last_ns");
}

static void parse_chunks(struct jparse *p, json_t *o, struct ctr_run *r, int load)
{
	size_t n;
	json_t *a = jarr(p, o, "chunks", &n);

	if (!load) {
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
		rc = ctr_base64_decode(json_string_value(d), json_string_length(d), &x->data,
				       &x->size);
		if (rc == -2)
			p->nomem = 1;
		else if (rc < 0)
			jbad(p, "chunk data");
	}
}

int ctr_runjson_parse(json_t *o, int chunks, struct ctr_run *r, char *why, size_t why_n)
{
	json_t *v = json_object_get(o, "v");
	struct jparse p = {0};

	if (!json_is_object(o)) {
		snprintf(why, why_n, "not a JSON object");
		return CTR_EFORMAT;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 1) {
		snprintf(why, why_n, "no format version \"v\"");
		return CTR_EFORMAT;
	}
	if (json_integer_value(v) > CTR_RUNJSON_VERSION) {
		snprintf(why, why_n, "format version %lld, newer than this ctrace reads (%d)",
			 (long long)json_integer_value(v), CTR_RUNJSON_VERSION);
		return CTR_EVERSION;
	}
	p.version = (int)json_integer_value(v);
	parse_summary(&p, o, r);
	if (!p.why) {
		parse_meta(&p, o, r);
		parse_processes(&p, o, r);
		parse_modules(&p, o, r);
		parse_functions(&p, o, r);
		parse_threads(&p, o, r);
		parse_nodes(&p, o, r);
		parse_attrs(&p, o, r);
		parse_chunks(&p, o, r, chunks);
	}
	if (p.nomem)
		return CTR_ENOMEM;
	if (p.why) {
		snprintf(why, why_n, "bad field '%s'", p.why);
		return CTR_EFORMAT;
	}
	return 0;
}
