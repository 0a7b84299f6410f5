/* SPDX-License-Identifier: MIT */
/*
 * OpenTelemetry OTLP/JSON traces: one span per call with parent links, trace and span ids
 * derived from the run id (stable across exports), marks as span events.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/hash.h"
#include "../../store/runjson.h"
#include "../../store/timeline.h"
#include "../view/report.h"
#include "export-int.h"

void ctr_export_trace_id(const struct ctr_run *run, char out[33])
{
	uint64_t a = ctr_hash_mix64(ctr_hash_str(run->id, 0xcbf29ce484222325ull));
	uint64_t b = ctr_hash_mix64(ctr_hash_str(run->id, 0x84222325cbf29ce4ull) ^ 0x5bd1e995ull);

	if (!a && !b)
		b = 1;
	snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, a, b);
}

struct otlp_ctx {
	FILE *out;
	int first;
	uint64_t salt;
	char trace_id[33];
};

static uint64_t span_id(const struct otlp_ctx *c, uint32_t th, uint64_t seq)
{
	/* mix64 is a bijection: distinct (thread, seq) give distinct ids. */
	uint64_t id =
	    ctr_hash_mix64(c->salt ^ (((uint64_t)th + 1) << 40 | (seq & ((1ull << 40) - 1))));

	return id ? id : 1;
}

static json_t *otlp_attr(const char *key, json_t *val)
{
	return json_pack("{s:s,s:o}", "key", key, "value", val);
}

static json_t *otlp_str(const char *s)
{
	return json_pack("{s:o*}", "stringValue", ctr_json_str(s ? s : ""));
}

static json_t *otlp_int(int64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return json_pack("{s:s}", "intValue", buf);
}

static json_t *otlp_value(json_t *v)
{
	if (json_is_integer(v))
		return otlp_int(json_integer_value(v));
	return otlp_str(json_string_value(v));
}

static void unix_ns(char *buf, size_t n, const struct ctr_run *run, uint64_t off)
{
	snprintf(buf, n, "%" PRIu64, (uint64_t)run->start_unix_ns + off);
}

static int otlp_call(struct tl_walk *w, uint32_t th, struct tl_frame *f,
		     const struct tl_frame *parent, struct ctr_err *e)
{
	struct otlp_ctx *c = w->arg;
	const struct ctr_run *run = w->run;
	const struct ctr_thread *t = &run->threads[th];
	const struct ctr_function *fn = f->fid < run->n_functions ? &run->functions[f->fid] : NULL;
	json_t *span, *attrs;
	char id[17], pid[17], t0[32], t1[32], *s;
	const char *key;
	json_t *val;

	snprintf(id, sizeof(id), "%016" PRIx64, span_id(c, th, f->seq));
	unix_ns(t0, sizeof(t0), run, f->start);
	unix_ns(t1, sizeof(t1), run, f->end);
	attrs = json_array();
	json_array_append_new(attrs, otlp_attr("thread.id", otlp_int(t->tid)));
	if (t->name && *t->name)
		json_array_append_new(attrs, otlp_attr("thread.name", otlp_str(t->name)));
	json_array_append_new(attrs, otlp_attr("process.pid", otlp_int(t->pid)));
	json_array_append_new(
	    attrs, otlp_attr("code.function", otlp_str(ctr_export_fn_name(run, f->fid))));
	if (fn && fn->file && *fn->file)
		json_array_append_new(attrs, otlp_attr("code.filepath", otlp_str(fn->file)));
	if (fn && fn->line)
		json_array_append_new(attrs, otlp_attr("code.lineno", otlp_int(fn->line)));
	if (fn && fn->kind == CTR_FN_SPAN)
		json_array_append_new(attrs, otlp_attr("ctrace.kind", otlp_str("span")));
	if (f->unfinished)
		json_array_append_new(
		    attrs, otlp_attr("ctrace.unfinished", json_pack("{s:b}", "boolValue", 1)));
	json_object_foreach(f->attrs, key, val)
	    json_array_append_new(attrs, otlp_attr(key, otlp_value(val)));
	span = json_pack("{s:s,s:s}", "traceId", c->trace_id, "spanId", id);
	if (!span || !attrs) {
		json_decref(span);
		json_decref(attrs);
		return ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory writing the export");
	}
	if (parent) {
		snprintf(pid, sizeof(pid), "%016" PRIx64, span_id(c, th, parent->seq));
		json_object_set_new(span, "parentSpanId", json_string(pid));
	}
	json_object_set_new(span, "name",
			    json_string(ctr_export_fn_name(run, f->fid)) ?: json_string("?"));
	json_object_set_new(span, "kind", json_integer(1)); /* SPAN_KIND_INTERNAL */
	json_object_set_new(span, "startTimeUnixNano", json_string(t0));
	json_object_set_new(span, "endTimeUnixNano", json_string(t1));
	json_object_set_new(span, "attributes", attrs);
	if (f->marks) {
		json_t *evs = json_array(), *m;
		size_t i;

		json_array_foreach(f->marks, i, m)
		{
			char tm[32];

			unix_ns(tm, sizeof(tm), run,
				(uint64_t)json_integer_value(json_array_get(m, 0)));
			json_array_append_new(evs,
					      json_pack("{s:s,s:o}", "timeUnixNano", tm, "name",
							ctr_json_str(ctr_export_fn_name(
							    run, (uint32_t)json_integer_value(
								     json_array_get(m, 1))))));
		}
		json_object_set_new(span, "events", evs);
	}
	json_object_set_new(span, "status", json_object());
	s = json_dumps(span, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(span);
	if (!s)
		return ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory writing the export");
	fputs(c->first ? "\n" : ",\n", c->out);
	c->first = 0;
	fputs(s, c->out);
	free(s);
	return ferror(c->out) ? ctr_export_status(c->out, e) : 0;
}

static int otlp_mark(struct tl_walk *w, uint32_t th, uint64_t t, uint32_t fid, struct tl_frame *top,
		     struct ctr_err *e)
{
	if (!top)
		return 0;
	if (!top->marks)
		top->marks = json_array();
	if (top->marks)
		json_array_append_new(top->marks,
				      json_pack("[I,I]", (json_int_t)t, (json_int_t)fid));
	return 0;
}

static const char *service_name(const struct ctr_run *run, char *buf, size_t n)
{
	const char *cmd = run->command && *run->command ? run->command : "ctrace";
	size_t len = strcspn(cmd, " ");
	const char *slash = memrchr(cmd, '/', len);

	if (slash) {
		len -= (size_t)(slash + 1 - cmd);
		cmd = slash + 1;
	}
	snprintf(buf, n, "%.*s", (int)len, cmd);
	return buf;
}

int ctr_export_otlp(FILE *out, const struct ctr_run *run, const struct ctr_export_opts *o,
		    struct ctr_export_stats *st, struct ctr_err *e)
{
	struct otlp_ctx c = {.out = out, .first = 1};
	struct tl_walk w;
	json_t *res;
	char svc[256], *s;
	int ret;

	ctr_export_trace_id(run, c.trace_id);
	c.salt = ctr_hash_str(run->id, 0x6a09e667f3bcc908ull);
	ctr_tl_walk_init(&w, run, o, CTR_EXPORT_OTLP_MIN_DURATION, CTR_EXPORT_OTLP_MAX_EVENTS);
	w.on_call = otlp_call;
	w.on_mark = otlp_mark;
	w.arg = &c;
	res = json_pack("{s:[o,o,o,o,o]}", "attributes",
			otlp_attr("service.name", otlp_str(service_name(run, svc, sizeof(svc)))),
			otlp_attr("process.command_line", otlp_str(run->command)),
			otlp_attr("host.name", otlp_str(run->host)),
			otlp_attr("process.pid", otlp_int(run->n_procs ? run->procs[0].pid : 0)),
			otlp_attr("ctrace.run_id", otlp_str(run->id)));
	s = res ? json_dumps(res, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(res);
	if (!s)
		return ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory writing the export");
	fprintf(out,
		"{\"resourceSpans\":[{\"resource\":%s,\"scopeSpans\":[{\"scope\":"
		"{\"name\":\"ctrace\",\"version\":\"1\"},\"spans\":[",
		s);
	free(s);
	ret = ctr_tl_walk(&w, e);
	if (ret)
		return ret;
	fputs("\n]}]}]}\n", out);
	if (st)
		*st = w.st;
	return ctr_export_status(out, e);
}
