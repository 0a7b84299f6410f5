/* SPDX-License-Identifier: MIT */
/*
 * The HTTP server of `ctrace serve` (serve.h) on libmicrohttpd, one thread per connection up to
 * a bound. One store handle behind a mutex (store handles are not thread-safe) and a small
 * cache of loaded runs, each with its timeline and index built on the first timeline request;
 * the JSON answers come from the one serializer of each form (store/runjson.h for the run list,
 * view/report.h for a run and a diff, export/tlindex.h for timelines).
 */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/dynlib.h"
#include "../../common/fmt.h"
#include "../../store/runjson.h"
#include "../../store/store.h"
#include "../export/export.h"
#include "../export/tlindex.h"
#include "../export/viewer.h"
#include "../view/cxxname.h"
#include "../view/report.h"
#include "../view/trend.h"

/*
 * libmicrohttpd is opened by ctr_serve_start() rather than linked: with its GnuTLS chain (10
 * libraries) it cost every ctrace command, list and report included, about 4 ms of start-up on
 * the development VM when the command then loads libpq and 17 ms when it does not
 * (docs/performance.md). As in store/pgsql.c, the functions used are listed once; below the
 * #defines the file calls them by their usual names.
 */
/* Pixels a profile or flame answer is pruned to by default (?px=, 0 = everything). */
#define CTR_SRV_PRUNE_PX 2000

#define MHD_FUNCS(X)                                                                               \
	X(MHD_start_daemon)                                                                        \
	X(MHD_stop_daemon)                                                                         \
	X(MHD_get_daemon_info)                                                                     \
	X(MHD_add_response_header)                                                                 \
	X(MHD_create_response_from_buffer)                                                         \
	X(MHD_create_response_from_fd64)                                                           \
	X(MHD_destroy_response)                                                                    \
	X(MHD_get_connection_values)                                                               \
	X(MHD_lookup_connection_value)                                                             \
	X(MHD_queue_response)

static struct {
#define X(f) __typeof__(f) *f;
	MHD_FUNCS(X)
#undef X
} mhd;
static const struct ctr_dynsym mhd_syms[] = {
#define X(f) CTR_DYNSYM(mhd, f)
    MHD_FUNCS(X)
#undef X
};
static struct ctr_dynlib mhd_lib = CTR_DYNLIB_INIT("libmicrohttpd.so.12", mhd_syms);

/* 0 when libmicrohttpd is loaded (once per process, thread-safe); else CTR_EIO naming the
 * Debian package that has it. */
static int mhd_load(struct ctr_err *e)
{
	if (ctr_dynlib_load(&mhd_lib) == 0)
		return 0;
	return ctr_err_set(e, CTR_EIO, 0,
			   "ctrace serve needs libmicrohttpd (Debian package libmicrohttpd12): %s",
			   mhd_lib.why);
}

#define MHD_start_daemon mhd.MHD_start_daemon
#define MHD_stop_daemon mhd.MHD_stop_daemon
#define MHD_get_daemon_info mhd.MHD_get_daemon_info
#define MHD_add_response_header mhd.MHD_add_response_header
#define MHD_create_response_from_buffer mhd.MHD_create_response_from_buffer
#define MHD_create_response_from_fd64 mhd.MHD_create_response_from_fd64
#define MHD_destroy_response mhd.MHD_destroy_response
#define MHD_get_connection_values mhd.MHD_get_connection_values
#define MHD_lookup_connection_value mhd.MHD_lookup_connection_value
#define MHD_queue_response mhd.MHD_queue_response

#define SRV_LIST_DEFAULT 50
#define SRV_LIST_MAX 1000
#define SRV_META_MAX 16

struct srv_run;
struct ctr_server;

struct srv_fetch {
	struct ctr_server *s;
	struct srv_run *r;
};

struct srv_run {
	char id[CTR_RUN_ID_MAX];
	struct srv_fetch fetch; /* how its index reads chunks */
	struct ctr_run *run;	/* aggregates */
	struct ctr_run *tl;	/* with the timeline, once asked for */
	struct ctr_tlindex *idx;
	pthread_mutex_t tl_lock;
	unsigned refs;
	uint64_t used;
	struct srv_run *next;
};

struct ctr_server {
	struct MHD_Daemon *d;
	struct ctr_store *store;
	pthread_mutex_t lock; /* the store handle and the cache */
	struct srv_run *cache;
	unsigned n_cache, cache_max;
	uint64_t clock;
	char *token;
	int loopback;
	unsigned port;
	size_t max_response;
	char listen_host[64]; /* the --listen address as a Host header names it ("[::1]") */
	char url[128];
};

/* One answer being built. */
struct srv_reply {
	unsigned status;
	char *body;
	size_t len;
	const char *type;
	int file;		 /* the body is the file @fd of @len bytes, not @body */
	int fd;			 /* owned: closed by the response */
	const char *disposition; /* Content-Disposition, or NULL */
	char disp_buf[CTR_RUN_ID_MAX + 48];
};

static int reply_err(struct srv_reply *rp, unsigned status, int code, const char *msg)
{
	json_t *o = json_pack("{s:s,s:s,s:o,s:i}", "error_code", ctr_err_name(code), "error_kind",
			      ctr_err_kind(code), "message", ctr_json_str(msg), "status", status);

	free(rp->body);
	rp->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	rp->len = rp->body ? strlen(rp->body) : 0;
	rp->status = status;
	rp->type = "application/json";
	json_decref(o);
	return code;
}

/* A 200 answer of JSON @o (borrowed); 503 when it cannot be written (no memory). */
static int reply_json(struct srv_reply *rp, json_t *o)
{
	free(rp->body);
	rp->body = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (!rp->body)
		return reply_err(rp, MHD_HTTP_SERVICE_UNAVAILABLE, CTR_ENOMEM, "out of memory");
	rp->len = strlen(rp->body);
	rp->status = MHD_HTTP_OK;
	rp->type = "application/json";
	return 0;
}

/* The HTTP status of an error code. */
static unsigned code_status(int code)
{
	switch (code) {
	case CTR_EUSAGE:
		return MHD_HTTP_BAD_REQUEST;
	case CTR_ENOTFOUND:
		return MHD_HTTP_NOT_FOUND;
	case CTR_EAUTH:
		return MHD_HTTP_UNAUTHORIZED;
	case CTR_ENOMEM:
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	default:
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

static int reply_e(struct srv_reply *rp, const struct ctr_err *e, int code)
{
	return reply_err(rp, code_status(code), code, e->code ? e->msg : "request failed");
}

/* ---- the run cache ---- */

static void srv_run_free(struct srv_run *r)
{
	if (!r)
		return;
	ctr_tlindex_free(r->idx);
	ctr_run_free(r->tl);
	ctr_cxx_detach(r->run);
	ctr_run_free(r->run);
	pthread_mutex_destroy(&r->tl_lock);
	free(r);
}

/* Drops the least recently used unreferenced runs beyond the cache size; under s->lock. */
static void cache_trim(struct ctr_server *s)
{
	while (s->n_cache > s->cache_max) {
		struct srv_run **victim = NULL;

		for (struct srv_run **p = &s->cache; *p; p = &(*p)->next)
			if (!(*p)->refs && (!victim || (*p)->used < (*victim)->used))
				victim = p;
		if (!victim)
			return;
		struct srv_run *r = *victim;

		*victim = r->next;
		s->n_cache--;
		srv_run_free(r);
	}
}

/* Resolves @spec and returns the cached run, loading its aggregates when absent; the caller
 * releases it with run_put(). */
static int run_get(struct ctr_server *s, const char *spec, struct srv_run **out, struct ctr_err *e)
{
	char id[CTR_RUN_ID_MAX];
	struct srv_run *r;
	int ret;

	*out = NULL;
	pthread_mutex_lock(&s->lock);
	ret = ctr_store_resolve(s->store, spec, id, e);
	if (ret)
		goto out;
	for (r = s->cache; r; r = r->next)
		if (!strcmp(r->id, id))
			break;
	if (!r) {
		if (!(r = calloc(1, sizeof(*r)))) {
			ret = ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory");
			goto out;
		}
		ret = ctr_store_load(s->store, id, 0, &r->run, e);
		if (ret) {
			free(r);
			goto out;
		}
		snprintf(r->id, sizeof(r->id), "%s", id);
		/* shortened C++ names as ctrace-report shows them (display_name in the JSON); when
		 * they cannot be built the full names are shown, which is only less readable */
		if (ctr_cxx_attach(r->run, 0, NULL) != 0)
			(void)0;
		pthread_mutex_init(&r->tl_lock, NULL);
		r->next = s->cache;
		s->cache = r;
		s->n_cache++;
	}
	r->refs++;
	r->used = ++s->clock;
	cache_trim(s);
	*out = r;
out:
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static void run_put(struct ctr_server *s, struct srv_run *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&s->lock);
	r->refs--;
	cache_trim(s);
	pthread_mutex_unlock(&s->lock);
}

/* Reads one chunk for the index (any request thread): through the store, under its lock. */
static int fetch_chunk(void *arg, const struct ctr_chunk *c, unsigned char **data, size_t *size,
		       struct ctr_err *e)
{
	struct ctr_server *s = ((struct srv_fetch *)arg)->s;
	struct ctr_chunk got = *c;
	int ret;

	pthread_mutex_lock(&s->lock);
	ret = ctr_store_load_chunk(s->store, ((struct srv_fetch *)arg)->r->id, c->thread, c->seq,
				   &got, e);
	pthread_mutex_unlock(&s->lock);
	*data = got.data;
	*size = got.size;
	return ret;
}

/* Loads the timeline of @r once: chunk headers only where the store can read chunks one by one
 * (fetch_chunk() reads each when needed). Under r->tl_lock. */
static int run_tl(struct ctr_server *s, struct srv_run *r, struct ctr_err *e)
{
	int ret = 0;

	if (!r->tl) {
		pthread_mutex_lock(&s->lock);
		ret = ctr_store_load(s->store, r->id, CTR_LOAD_TIMELINE | CTR_LOAD_CHUNK_INDEX,
				     &r->tl, e);
		pthread_mutex_unlock(&s->lock);
	}
	r->fetch.s = s;
	r->fetch.r = r;
	return ret;
}

/* The index commit stored with the run (docs/serve.md, "The stored index"), into r->idx; left
 * NULL when there is none or it does not fit this run or version, and then built. */
static void stored_index(struct ctr_server *s, struct srv_run *r)
{
	unsigned char *data = NULL;
	size_t size = 0;
	struct ctr_err e;
	int ret;

	ctr_err_clear(&e);
	pthread_mutex_lock(&s->lock);
	ret = ctr_store_load_aux(s->store, r->id, "tlindex", &data, &size, &e);
	pthread_mutex_unlock(&s->lock);
	if (!ret && ctr_tlindex_load(&r->idx, r->tl, fetch_chunk, &r->fetch, data, size, &e))
		r->idx = NULL;
	free(data);
}

/* Loads the timeline of @r (chunk headers only where the store can read chunks one by one) and
 * its stored index, or builds the index, once. */
static int run_index(struct ctr_server *s, struct srv_run *r, struct ctr_err *e)
{
	int ret = 0;

	pthread_mutex_lock(&r->tl_lock);
	if (!r->idx) {
		ret = run_tl(s, r, e);
		if (!ret)
			stored_index(s, r);
		if (!ret && !r->idx)
			ret = ctr_tlindex_build_fetch(&r->idx, r->tl, fetch_chunk, &r->fetch, e);
	}
	pthread_mutex_unlock(&r->tl_lock);
	return ret;
}

/* ---- parameters ---- */

static const char *arg(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

/* Parses the unsigned decimal parameter @name into *@v (left alone when absent). */
static int arg_u64(struct srv_reply *rp, struct MHD_Connection *c, const char *name, uint64_t *v)
{
	const char *s = arg(c, name);
	char *end, msg[160];
	unsigned long long x;

	if (!s)
		return 0;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (!*s || *end || errno || *s == '-') {
		snprintf(msg, sizeof(msg),
			 "parameter '%s' must be an unsigned integer, not '%.64s'", name, s);
		return reply_err(rp, MHD_HTTP_BAD_REQUEST, CTR_EUSAGE, msg);
	}
	*v = x;
	return 0;
}

struct meta_args {
	struct ctr_kv kv[SRV_META_MAX];
	size_t n;
	int bad;
};

/* Frees the keys meta_arg() copied (the values are the connection's). */
static void meta_args_release(struct meta_args *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->kv[i].key);
}

static enum MHD_Result meta_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				const char *value)
{
	struct meta_args *m = cls;
	const char *eq;

	(void)kind;
	if (strcmp(key, "meta"))
		return MHD_YES;
	if (!value || !(eq = strchr(value, '=')) || eq == value || m->n == SRV_META_MAX) {
		m->bad = 1;
		return MHD_NO;
	}
	m->kv[m->n].key = strndup(value, (size_t)(eq - value));
	m->kv[m->n].value = (char *)eq + 1;
	if (!m->kv[m->n].key) {
		m->bad = 1;
		return MHD_NO;
	}
	m->n++;
	return MHD_YES;
}

static int parse_filter(struct srv_reply *rp, struct MHD_Connection *c, struct ctr_filter *f,
			struct meta_args *m)
{
	static const char *const tnames[] = {"since", "until"};
	static const char *const dnames[] = {"min_duration", "max_duration"};
	int64_t *tv[] = {&f->since_unix_ns, &f->until_unix_ns};
	uint64_t *dv[] = {&f->min_duration_ns, &f->max_duration_ns};
	char msg[200];

	for (int i = 0; i < 2; i++) {
		const char *s = arg(c, tnames[i]), *d = arg(c, dnames[i]);

		if (s && ctr_parse_time(s, tv[i])) {
			snprintf(msg, sizeof(msg), "parameter '%s': bad time '%.64s'", tnames[i],
				 s);
			return reply_err(rp, MHD_HTTP_BAD_REQUEST, CTR_EUSAGE, msg);
		}
		if (d && ctr_parse_duration(d, dv[i])) {
			snprintf(msg, sizeof(msg), "parameter '%s': bad duration '%.64s'",
				 dnames[i], d);
			return reply_err(rp, MHD_HTTP_BAD_REQUEST, CTR_EUSAGE, msg);
		}
		if (d && i == 1 && !*dv[i]) /* as ctrace query: "at most 0" matches no run */
			return reply_err(
			    rp, MHD_HTTP_BAD_REQUEST, CTR_EUSAGE,
			    "parameter 'max_duration' is 0: no run takes at most 0 ns");
	}
	f->command = arg(c, "command");
	f->function = arg(c, "function");
	f->host = arg(c, "host");
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, meta_arg, m);
	if (m->bad)
		return reply_err(rp, MHD_HTTP_BAD_REQUEST, CTR_EUSAGE,
				 "parameter 'meta' must be KEY=VALUE (at most 16)");
	f->meta = m->kv;
	f->n_meta = m->n;
	return 0;
}

/* ---- endpoints ---- */

/* Closes the memory stream @mem and makes what was written to it the JSON body (or the error
 * @ret). */
static int body_from(struct srv_reply *rp, FILE *mem, char **buf, size_t *len, int ret,
		     const struct ctr_err *e)
{
	if (mem && fclose(mem) && !ret)
		return reply_err(rp, MHD_HTTP_SERVICE_UNAVAILABLE, CTR_ENOMEM, "out of memory");
	if (ret) {
		free(*buf);
		return reply_e(rp, e, ret);
	}
	rp->body = *buf;
	rp->len = *len;
	rp->status = MHD_HTTP_OK;
	rp->type = "application/json";
	return 0;
}

/* Adds threads, processes and calls to a run summary. */
static json_t *list_entry(const struct ctr_run *r)
{
	json_t *j = ctr_runjson_summary(r);
	size_t procs = 0;

	if (!j)
		return NULL;
	for (size_t i = 0; i < r->n_threads; i++) {
		size_t k = 0;

		while (k < i && r->threads[k].pid != r->threads[i].pid)
			k++;
		procs += k == i;
	}
	json_object_set_new(j, "threads", json_integer((json_int_t)r->n_threads));
	json_object_set_new(j, "processes", json_integer((json_int_t)procs));
	json_object_set_new(j, "calls", json_integer((json_int_t)ctr_report_calls(r)));
	return j;
}

static int ep_runs(struct ctr_server *s, struct MHD_Connection *c, struct srv_reply *rp)
{
	struct ctr_filter f = {0};
	struct meta_args m = {0};
	uint64_t limit = SRV_LIST_DEFAULT, offset = 0;
	struct ctr_run **runs = NULL;
	size_t n = 0;
	struct ctr_err e;
	json_t *arr = json_array(), *o;
	int ret;

	ctr_err_clear(&e);
	if ((ret = arg_u64(rp, c, "limit", &limit)) || (ret = arg_u64(rp, c, "offset", &offset)) ||
	    (ret = parse_filter(rp, c, &f, &m)))
		goto out;
	if (limit == 0 || limit > SRV_LIST_MAX) {
		ret = reply_err(rp, MHD_HTTP_BAD_REQUEST, CTR_EUSAGE,
				"parameter 'limit' must be 1..1000");
		goto out;
	}
	if (offset > INT64_MAX) { /* what the backends bind; 2^64-1 was taken as no offset */
		ret = reply_err(rp, MHD_HTTP_BAD_REQUEST, CTR_EUSAGE,
				"parameter 'offset' must be 0..9223372036854775807");
		goto out;
	}
	pthread_mutex_lock(&s->lock);
	ret = ctr_store_list(s->store, &f, (size_t)limit, (size_t)offset, &runs, &n, &e);
	for (size_t i = 0; !ret && i < n; i++) {
		struct ctr_run *full = NULL;

		/* Threads and calls come with the aggregates; a run deleted meanwhile keeps its
		 * summary. */
		if (ctr_store_load(s->store, runs[i]->id, 0, &full, NULL) == 0)
			json_array_append_new(arr, list_entry(full));
		else
			json_array_append_new(arr, ctr_runjson_summary(runs[i]));
		ctr_run_free(full);
	}
	pthread_mutex_unlock(&s->lock);
	if (ret) {
		reply_e(rp, &e, ret);
		goto out;
	}
	o = json_pack("{s:O,s:I,s:I}", "runs", arr, "limit", (json_int_t)limit, "offset",
		      (json_int_t)offset);
	ret = reply_json(rp, o);
	json_decref(o);
out:
	json_decref(arr);
	ctr_run_list_free(runs, n);
	meta_args_release(&m);
	return ret;
}

static int ep_run(struct ctr_server *s, struct MHD_Connection *c, const char *spec,
		  struct srv_reply *rp)
{
	struct ctr_report_opts o;
	struct srv_run *r = NULL;
	uint64_t tree = 0, threads = 0, px = CTR_SRV_PRUNE_PX;
	struct ctr_err e;
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = NULL;
	int ret;

	ctr_err_clear(&e);
	memset(&o, 0, sizeof(o));
	if ((ret = arg_u64(rp, c, "tree", &tree)) || (ret = arg_u64(rp, c, "threads", &threads)) ||
	    (ret = arg_u64(rp, c, "px", &px)))
		return ret;
	if (px > CTR_TLI_PX_MAX)
		return reply_err(rp, MHD_HTTP_BAD_REQUEST, CTR_EUSAGE,
				 "parameter 'px' must be 0 (everything) or 1..10000");
	o.tree = tree != 0;
	o.threads = threads != 0;
	/* what a flame graph or a table of px pixels can draw: a C++ run's whole tree was 8-13 MB
	 * (docs/serve.md, "Pruned answers") */
	o.prune_px = (unsigned)px;
	o.compact = 1;
	ret = run_get(s, spec, &r, &e);
	if (!ret && !(mem = open_memstream(&buf, &len)))
		ret = ctr_err_set(&e, CTR_ENOMEM, errno, "out of memory");
	if (!ret)
		ret = ctr_report_json(mem, r->run, &o, &e);
	run_put(s, r);
	return body_from(rp, mem, &buf, &len, ret, &e);
}

/* Picks the thread of ?thread=INDEX or ?tid=TID[&pid=PID]. */
static int pick_thread(struct srv_reply *rp, struct MHD_Connection *c, const struct ctr_run *run,
		       uint32_t *th)
{
	uint64_t idx = UINT64_MAX, tid = UINT64_MAX, pid = UINT64_MAX;
	int ret;

	if ((ret = arg_u64(rp, c, "thread", &idx)) || (ret = arg_u64(rp, c, "tid", &tid)) ||
	    (ret = arg_u64(rp, c, "pid", &pid)))
		return ret;
	if (idx == UINT64_MAX && tid == UINT64_MAX)
		idx = 0;
	for (size_t i = 0; idx == UINT64_MAX && i < run->n_threads; i++)
		if ((uint64_t)run->threads[i].tid == tid &&
		    (pid == UINT64_MAX || (uint64_t)run->threads[i].pid == pid))
			idx = i;
	if (idx >= run->n_threads) {
		char msg[160];

		snprintf(msg, sizeof(msg), "run '%s' has no such thread (it has %zu)", run->id,
			 run->n_threads);
		return reply_err(rp, MHD_HTTP_NOT_FOUND, CTR_ENOTFOUND, msg);
	}
	*th = (uint32_t)idx;
	return 0;
}

static int ep_timeline(struct ctr_server *s, struct MHD_Connection *c, const char *spec,
		       struct srv_reply *rp)
{
	struct ctr_tli_result res = {0};
	uint64_t from = 0, to = 0, px = 1000;
	struct srv_run *r = NULL;
	uint32_t th = 0;
	struct ctr_err e;
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = NULL;
	int ret;

	ctr_err_clear(&e);
	if ((ret = arg_u64(rp, c, "from", &from)) || (ret = arg_u64(rp, c, "to", &to)) ||
	    (ret = arg_u64(rp, c, "px", &px)))
		return ret;
	if (px < 1 || px > CTR_TLI_PX_MAX)
		return reply_err(rp, MHD_HTTP_BAD_REQUEST, CTR_EUSAGE,
				 "parameter 'px' must be 1..10000");
	if (to && from >= to)
		return reply_err(rp, MHD_HTTP_BAD_REQUEST, CTR_EUSAGE,
				 "parameter 'from' must be below 'to'");
	ret = run_get(s, spec, &r, &e);
	if (ret)
		return reply_e(rp, &e, ret);
	if ((ret = pick_thread(rp, c, r->run, &th)))
		goto out;
	ret = run_index(s, r, &e);
	if (!ret)
		ret = ctr_tlindex_query(r->idx, th, from, to, (unsigned)px, &res, &e);
	if (!ret && !(mem = open_memstream(&buf, &len)))
		ret = ctr_err_set(&e, CTR_ENOMEM, errno, "out of memory");
	if (!ret)
		ret = ctr_tli_result_json(mem, r->tl, &res, &e);
	ret = body_from(rp, mem, &buf, &len, ret, &e);
out:
	ctr_tli_result_release(&res);
	run_put(s, r);
	return ret;
}

/* GET /api/runs/ID/perfetto: the run as a Perfetto trace to download (docs/serve.md), written
 * to an unlinked temporary file, chunk by chunk from the store, and sent from it. */
static int ep_perfetto(struct ctr_server *s, const char *spec, struct srv_reply *rp)
{
	struct ctr_export_opts o;
	struct srv_run *r = NULL;
	struct ctr_err e;
	FILE *tmp = NULL;
	long size = 0;
	int ret, fd = -1;

	ctr_err_clear(&e);
	ret = run_get(s, spec, &r, &e);
	if (!ret) {
		pthread_mutex_lock(&r->tl_lock);
		ret = run_tl(s, r, &e);
		pthread_mutex_unlock(&r->tl_lock);
	}
	if (!ret && !(tmp = tmpfile()))
		ret = ctr_err_set(&e, CTR_EIO, errno, "cannot create a temporary file: %s",
				  strerror(errno));
	if (!ret) {
		ctr_export_opts_init(&o);
		o.fetch = fetch_chunk;
		o.fetch_arg = &r->fetch;
		ret = ctr_export(tmp, r->tl, CTR_EXPORT_PERFETTO, &o, NULL, &e);
	}
	if (!ret && (fflush(tmp) || (size = ftell(tmp)) < 0 || (fd = dup(fileno(tmp))) < 0 ||
		     lseek(fd, 0, SEEK_SET) < 0))
		ret =
		    ctr_err_set(&e, CTR_EIO, errno, "cannot write the export: %s", strerror(errno));
	if (!ret) {
		rp->file = 1;
		rp->fd = fd;
		rp->len = (size_t)size;
		rp->status = MHD_HTTP_OK;
		rp->type = "application/octet-stream";
		snprintf(rp->disp_buf, sizeof(rp->disp_buf),
			 "attachment; filename=\"ctrace-%s.perfetto-trace\"", r->id);
		rp->disposition = rp->disp_buf;
		fd = -1;
	}
	if (tmp)
		fclose(tmp);
	if (fd >= 0)
		close(fd);
	run_put(s, r);
	return ret ? reply_e(rp, &e, ret) : 0;
}

/* GET /api/trend?function=F&metric=M&FILTERS: `ctrace trend --json` (docs/trend.md). */
static int ep_trend(struct ctr_server *s, struct MHD_Connection *c, struct srv_reply *rp)
{
	const char *fn = arg(c, "function"), *ms = arg(c, "metric");
	struct ctr_filter f = {0};
	struct meta_args m = {0};
	enum ctr_metric metric = CTR_METRIC_SELF;
	struct ctr_trend *t = NULL;
	struct ctr_err e;
	json_t *o = NULL;
	int ret;

	ctr_err_clear(&e);
	if (!fn || !*fn) {
		ret = reply_err(rp, MHD_HTTP_BAD_REQUEST, CTR_EUSAGE,
				"parameter 'function' is required");
		goto out;
	}
	if (ms && ctr_metric_parse(ms, &metric) != 0) {
		ret = reply_err(rp, MHD_HTTP_BAD_REQUEST, CTR_EUSAGE,
				"parameter 'metric' must be self, total, calls or p99");
		goto out;
	}
	if ((ret = parse_filter(rp, c, &f, &m)))
		goto out;
	pthread_mutex_lock(&s->lock);
	ret = ctr_trend_compute(s->store, &f, fn, metric, &t, &e);
	pthread_mutex_unlock(&s->lock);
	if (ret) {
		reply_e(rp, &e, ret);
		goto out;
	}
	o = ctr_trend_json(t);
	ret = reply_json(rp, o);
out:
	json_decref(o);
	ctr_trend_free(t);
	meta_args_release(&m);
	return ret;
}

static int ep_diff(struct ctr_server *s, struct MHD_Connection *c, struct srv_reply *rp)
{
	const char *a = arg(c, "a"), *b = arg(c, "b");
	struct srv_run *ra = NULL, *rb = NULL;
	struct ctr_report_opts o;
	struct ctr_err e;
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = NULL;
	int ret;

	ctr_err_clear(&e);
	memset(&o, 0, sizeof(o));
	if (!a || !b || !*a || !*b)
		return reply_err(rp, MHD_HTTP_BAD_REQUEST, CTR_EUSAGE,
				 "parameters 'a' and 'b' (run ids) are required");
	ret = run_get(s, a, &ra, &e);
	if (!ret)
		ret = run_get(s, b, &rb, &e);
	if (!ret && !(mem = open_memstream(&buf, &len)))
		ret = ctr_err_set(&e, CTR_ENOMEM, errno, "out of memory");
	if (!ret)
		ret = ctr_report_diff(mem, ra->run, rb->run, &o, 1, &e);
	run_put(s, ra);
	run_put(s, rb);
	return body_from(rp, mem, &buf, &len, ret, &e);
}

static int ep_page(struct srv_reply *rp)
{
	struct ctr_err e;
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	int ret;

	ctr_err_clear(&e);
	if (!mem)
		return reply_err(rp, MHD_HTTP_SERVICE_UNAVAILABLE, CTR_ENOMEM, "out of memory");
	ret = ctr_viewer_page(mem, "ctrace", NULL, &e);
	ret = body_from(rp, mem, &buf, &len, ret, &e);
	rp->type = "text/html; charset=utf-8";
	return ret;
}

/* ---- dispatch ---- */

/* 1 if @a equals @b, in time independent of where they differ. */
static int same_secret(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	for (size_t i = 0; i < la; i++)
		d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return d == 0;
}

/* 1 if Host header @h names this loopback server: "NAME" or "NAME:PORT" (digits only) where NAME
 * is exactly "localhost", a dotted-quad 127.0.0.0/8 address, "[::1]" or the --listen address.
 * A name that merely starts like one ("127.0.0.1.nip.io", "127.attacker.example",
 * "127.0.0.1:80@evil.com") is not: DNS rebinding sends the attacker's name. */
static int host_is_loopback(const struct ctr_server *s, const char *h)
{
	char name[64];
	const char *port;
	size_t n;
	struct in_addr a4;
	struct in6_addr a6;

	if (h[0] == '[') {
		const char *rb = strchr(h, ']');

		if (!rb)
			return 0;
		n = (size_t)(rb - h) + 1;
	} else {
		n = strcspn(h, ":");
	}
	if (!n || n >= sizeof(name))
		return 0;
	memcpy(name, h, n);
	name[n] = '\0';
	port = h + n;
	if (*port) {
		if (*port++ != ':' || !*port || strspn(port, "0123456789") != strlen(port))
			return 0;
	}
	if (!strcasecmp(name, "localhost") || !strcmp(name, s->listen_host))
		return 1;
	if (name[0] == '[') {
		name[n - 1] = '\0';
		return inet_pton(AF_INET6, name + 1, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
	}
	/* inet_pton takes exactly four decimal parts: no "127.1", no hex, no trailing dot */
	return inet_pton(AF_INET, name, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

/* The token (header or ?token=) and, on loopback without a token, a Host header naming the
 * loopback (no DNS-rebound foreign site). 0 or the error already in @rp. */
static int check_access(struct ctr_server *s, struct MHD_Connection *c, struct srv_reply *rp)
{
	const char *auth, *q, *host;

	if (s->token) {
		auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
		q = arg(c, "token");
		if ((auth && !strncmp(auth, "Bearer ", 7) && same_secret(auth + 7, s->token)) ||
		    (q && same_secret(q, s->token)))
			return 0;
		return reply_err(rp, MHD_HTTP_UNAUTHORIZED, CTR_EAUTH,
				 "this server needs its token: 'Authorization: Bearer TOKEN' or "
				 "?token=TOKEN");
	}
	host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
	if (s->loopback && host && !host_is_loopback(s, host))
		return reply_err(rp, MHD_HTTP_FORBIDDEN, CTR_EAUTH,
				 "Host is not the loopback: serve with --token to be "
				 "reached by another name");
	return 0;
}

static void route(struct ctr_server *s, struct MHD_Connection *c, const char *url,
		  struct srv_reply *rp)
{
	static const char runs[] = "/api/runs/";
	char spec[CTR_RUN_ID_MAX + 16];

	if (check_access(s, c, rp))
		return;
	if (!strcmp(url, "/") || !strcmp(url, "/index.html")) {
		ep_page(rp);
	} else if (!strcmp(url, "/api/runs")) {
		ep_runs(s, c, rp);
	} else if (!strcmp(url, "/api/diff")) {
		ep_diff(s, c, rp);
	} else if (!strcmp(url, "/api/trend")) {
		ep_trend(s, c, rp);
	} else if (!strncmp(url, runs, sizeof(runs) - 1)) {
		const char *id = url + sizeof(runs) - 1, *slash = strchr(id, '/');
		size_t n = slash ? (size_t)(slash - id) : strlen(id);

		if (!n || n >= sizeof(spec)) {
			reply_err(rp, MHD_HTTP_NOT_FOUND, CTR_ENOTFOUND, "no such run");
			return;
		}
		memcpy(spec, id, n);
		spec[n] = 0;
		if (!slash)
			ep_run(s, c, spec, rp);
		else if (!strcmp(slash, "/timeline"))
			ep_timeline(s, c, spec, rp);
		else if (!strcmp(slash, "/perfetto"))
			ep_perfetto(s, spec, rp);
		else
			reply_err(rp, MHD_HTTP_NOT_FOUND, CTR_ENOTFOUND, "no such endpoint");
	} else {
		reply_err(rp, MHD_HTTP_NOT_FOUND, CTR_ENOTFOUND, "no such endpoint");
	}
}

static enum MHD_Result respond(struct MHD_Connection *c, struct srv_reply *rp)
{
	struct MHD_Response *res;
	enum MHD_Result ret;

	if (rp->file) {
		res = MHD_create_response_from_fd64(rp->len, rp->fd); /* owns the fd from here */
		if (!res)
			close(rp->fd);
	} else if (!rp->body) {
		static const char oom[] = "{\"error_code\":\"CTRACE_E_NOMEM\"}";

		res = MHD_create_response_from_buffer(sizeof(oom) - 1, (void *)oom,
						      MHD_RESPMEM_PERSISTENT);
		rp->status = MHD_HTTP_SERVICE_UNAVAILABLE;
		rp->type = "application/json";
	} else {
		res = MHD_create_response_from_buffer(rp->len, rp->body, MHD_RESPMEM_MUST_FREE);
		if (res)
			rp->body = NULL;
	}
	if (!res) {
		free(rp->body);
		return MHD_NO;
	}
	MHD_add_response_header(res, "Content-Type", rp->type);
	if (rp->disposition)
		MHD_add_response_header(res, "Content-Disposition", rp->disposition);
	MHD_add_response_header(res, "Cache-Control", "no-store");
	MHD_add_response_header(res, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(res, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(res, "Content-Security-Policy", CTR_VIEWER_CSP);
	ret = MHD_queue_response(c, rp->status, res);
	MHD_destroy_response(res);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct ctr_server *s = cls;
	struct srv_reply rp = {0};
	const char *cl;

	(void)version;
	(void)upload;
	if (*upload_size)
		return MHD_NO; /* a body was sent after all: drop the connection */
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		reply_err(&rp, MHD_HTTP_METHOD_NOT_ALLOWED, CTR_EUSAGE,
			  "the server is read-only: GET and HEAD only");
	} else if ((cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length")) &&
		   strcmp(cl, "0")) {
		reply_err(&rp, MHD_HTTP_CONTENT_TOO_LARGE, CTR_EUSAGE, "requests carry no body");
	} else {
		route(s, c, url, &rp);
		if (rp.body && rp.len > s->max_response) {
			char msg[200];

			snprintf(
			    msg, sizeof(msg),
			    "the answer would be %zu bytes, over the limit of %zu: ask for less",
			    rp.len, s->max_response);
			reply_err(&rp, MHD_HTTP_BAD_REQUEST, CTR_EUSAGE, msg);
		}
	}
	*con_cls = NULL;
	return respond(c, &rp);
}

/* ---- start / stop ---- */

static int parse_listen(const char *spec, struct sockaddr_storage *ss, int *v6, int *loopback,
			struct ctr_err *e)
{
	char host[64];
	const char *colon;
	char *end;
	unsigned long port;

	memset(ss, 0, sizeof(*ss));
	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');

		if (!rb || rb[1] != ':' || (size_t)(rb - spec - 1) >= sizeof(host))
			goto bad;
		snprintf(host, sizeof(host), "%.*s", (int)(rb - spec - 1), spec + 1);
		colon = rb + 1;
	} else {
		colon = strrchr(spec, ':');
		if (!colon || (size_t)(colon - spec) >= sizeof(host))
			goto bad;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
	}
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port > 65535)
		goto bad;
	if (!strcmp(host, "localhost"))
		snprintf(host, sizeof(host), "127.0.0.1");
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*v6 = 0;
		*loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*v6 = 1;
		*loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
		return 0;
	}
bad:
	return ctr_err_set(e, CTR_EUSAGE, 0,
			   "bad --listen '%s': want ADDR:PORT with a numeric address "
			   "(127.0.0.1:7878, [::1]:7878, 0.0.0.0:8080)",
			   spec);
}

/* The server never writes: a SQLite or JSONL store file that does not exist is not created
 * (opening would), it is CTR_ENOTFOUND. */
static int store_exists(const char *conn, struct ctr_err *e)
{
	const char *path = conn;
	struct stat st;

	if (!strncmp(conn, "sqlite:", 7))
		path = conn + 7;
	else if (!strncmp(conn, "jsonl:", 6))
		path = conn + 6;
	else if (strchr(conn, ':'))
		return 0; /* memory:, postgresql://: nothing on disk to check */
	if (stat(path, &st) && errno == ENOENT)
		return ctr_err_set(e, CTR_ENOTFOUND, ENOENT, "no store '%s' (serve creates none)",
				   conn);
	if (S_ISREG(st.st_mode) && st.st_size == 0)
		return ctr_err_set(e, CTR_ENOTFOUND, 0,
				   "store '%s' is an empty file: no runs in it (serve writes no "
				   "schema)",
				   conn);
	return 0;
}

void ctr_serve_opts_init(struct ctr_serve_opts *o)
{
	memset(o, 0, sizeof(*o));
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	fputs("ctrace serve: ", stderr);
	vfprintf(stderr, fmt, ap);
}

int ctr_serve_start(struct ctr_server **out, const struct ctr_serve_opts *o, struct ctr_err *e)
{
	const char *listen = o->listen ? o->listen : CTR_SERVE_LISTEN_DEFAULT;
	struct sockaddr_storage ss;
	struct ctr_server *s;
	int v6 = 0, ret;
	const union MHD_DaemonInfo *info;

	*out = NULL;
	if (!(s = calloc(1, sizeof(*s))))
		return ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory");
	pthread_mutex_init(&s->lock, NULL);
	ret = parse_listen(listen, &ss, &v6, &s->loopback, e);
	if (ret)
		goto fail;
	if (!s->loopback && !o->token) {
		ret = ctr_err_set(e, CTR_EUSAGE, 0,
				  "listening on '%s' (not the loopback) needs --token T", listen);
		goto fail;
	}
	if (o->token && !*o->token) {
		ret = ctr_err_set(e, CTR_EUSAGE, 0, "--token must not be empty");
		goto fail;
	}
	if (o->token && !(s->token = strdup(o->token))) {
		ret = ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory");
		goto fail;
	}
	if ((ret = mhd_load(e)) != 0)
		goto fail;
	s->cache_max = o->cache_runs ? o->cache_runs : 2;
	s->max_response = o->max_response ? o->max_response : (size_t)256 << 20;
	ret = store_exists(o->store ? o->store : ctr_store_default(), e);
	if (!ret)
		ret = ctr_store_open_ex(&s->store, o->store ? o->store : ctr_store_default(),
					o->store ? CTR_STORE_LINK_OK : 0, e);
	if (ret)
		goto fail;
	s->d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG |
		(v6 ? MHD_USE_IPv6 : 0),
	    ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
		     : ((struct sockaddr_in *)&ss)->sin_port),
	    NULL, NULL, handle, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)(o->max_conns ? o->max_conns : 64), MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)(o->timeout_s ? o->timeout_s : 30), MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)(o->max_request ? o->max_request : 32 * 1024), MHD_OPTION_END);
	if (!s->d) {
		ret = ctr_err_set(e, CTR_EIO, errno, "cannot listen on '%s': %s", listen,
				  errno ? strerror(errno) : "libmicrohttpd refused");
		goto fail;
	}
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : 0;
	{
		char host[64];
		const char *h = listen[0] == '[' ? listen : NULL;

		if (h)
			snprintf(host, sizeof(host), "%.*s", (int)(strchr(h, ']') - h + 1), h);
		else
			snprintf(host, sizeof(host), "%.*s", (int)(strrchr(listen, ':') - listen),
				 listen);
		snprintf(s->url, sizeof(s->url), "http://%s:%u/", host, s->port);
		snprintf(s->listen_host, sizeof(s->listen_host), "%s", host);
	}
	*out = s;
	return 0;
fail:
	ctr_serve_stop(s);
	return ret;
}

const char *ctr_serve_url(const struct ctr_server *s)
{
	return s->url;
}

void ctr_serve_stop(struct ctr_server *s)
{
	if (!s)
		return;
	if (s->d)
		MHD_stop_daemon(s->d);
	while (s->cache) {
		struct srv_run *r = s->cache;

		s->cache = r->next;
		srv_run_free(r);
	}
	ctr_store_close(s->store);
	pthread_mutex_destroy(&s->lock);
	free(s->token);
	free(s);
}
