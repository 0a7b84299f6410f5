/* SPDX-License-Identifier: MIT */
/*
 * ctrace commit: raw run directory -> symbolized run in a trace store. One pass over each
 * thread's events rebuilds the calling-context tree (with per-call compensation for the
 * tracer's own cost) and re-encodes the timeline, whose chunks stream into the store as they
 * fill; memory is bounded by distinct call paths and functions, not by events. Functions are
 * identified by (module, offset) from the module map, then symbolized once each with libdw.
 * Everything lands in one store transaction; the raw directory goes only after it committed.
 */
#include "commit.h"
#include "drain.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/decode.h"
#include "../../common/grow.h"
#include "../../common/hash.h"
#include "../../common/hmap.h"
#include "../../store/timeline.h"
#include "invariants.h"
#include "latency.h"
#include "provenance.h"
#include "rundir.h"
#include "sched.h"
#include "symbolize.h"

/* Decoded parts of a raw event file are dropped from memory in steps of this many bytes. */
#define RELEASE_STEP ((size_t)16 << 20)

struct frame {
	uint32_t node;
	uint32_t nchild;  /* direct child calls */
	uint64_t t0;	  /* enter time, ns */
	uint64_t child;	  /* raw time of direct children */
	uint64_t cchild;  /* compensated total time of direct children */
	uint64_t enters0; /* thread enter count before this call */
	double rm0;	  /* the thread's removed tracer time at enter, ns */
	double crm;	  /* removed tracer time inside direct children, ns */
	uint64_t off0;	  /* --sched: the thread's off-CPU ns at enter */
	uint64_t pre0;	  /* and of that preempted */
	double st0;	  /* --sched: the thread's recorder time (TRACER records) at enter, ns */
};

/* --sched: min/max of the calls of one node left out of its figures (preempted or stalled),
 * its figures if every timed call of the node was one. */
struct outlier {
	uint64_t n, min, max, raw_min, raw_max;
};

struct fninfo {
	uint32_t module; /* global module, CTR_NONE */
	uint64_t key;	 /* offset, or address when no module */
	char *name;	 /* spans and marks */
};

struct commit {
	struct ctr_rawrun *raw;
	char running[256]; /* "PID,PID": processes still running, cut at commit (cut_running) */
	struct ctr_run run;
	const struct ctr_commit_opts *o;
	struct ctr_store *store;
	size_t cap_nodes, cap_funcs, cap_mods, cap_threads, cap_attrs;
	struct fninfo *fi;
	struct ctr_hmap fn_by_key;  /* module/offset or address -> function */
	struct ctr_hmap fn_by_name; /* spans/marks: name hash -> function */
	struct ctr_hmap child;	    /* (parent, function) -> node */
	struct ctr_hmap attr_idx;   /* hash(node, key, value) -> attr */
	uint64_t *counted;	    /* per node: calls known only from COUNT records */
	size_t cap_counted;
	uint32_t *modmap; /* per process: local module -> global module */
	size_t *modmap_off;
	struct ctr_lat *lat; /* latency distributions (ingest/latency.h) */
	uint64_t seq;	     /* chunks saved */
	uint64_t bytes_done, bytes_total;
	int tty;
	struct ctr_sched_rec *sched; /* --sched: every thread's switches (ingest/sched.h) */
	size_t n_sched;
	int has_sched;
	struct outlier *out; /* per node, grown to the last node with a call left out */
	size_t cap_out;
	int nomem; /* an allocation failed where no error could be returned */
};

/* ---- modules and functions ---------------------------------------------------------- */

/* A time of process @p's clock as ns from the run's start; UINT64_MAX stays -1 (never). */
static int64_t proc_ns(const struct commit *c, const struct ctr_rawproc *p, uint64_t ticks)
{
	int64_t base = p->start_real_ns - c->run.start_unix_ns;
	double d;

	if (ticks == UINT64_MAX)
		return -1;
	if (!ticks || !p->ticks_per_sec)
		return base > 0 ? base : 0; /* there from the process's start */
	d = (double)(int64_t)(ticks - p->start_ticks) * 1e9 / (double)p->ticks_per_sec;
	return d + (double)base > 0 ? (int64_t)(d + (double)base) : 0;
}

/* The run's module for @m of process @p (path and build-id identify it), created at the first
 * sight; its load time is the earliest of its loads, its unload time the latest of its
 * unloads, -1 once one of its loads lasted to its process's end. */
static int global_module(struct commit *c, const struct ctr_rawproc *p, const struct ctr_rawmod *m,
			 uint32_t *out)
{
	struct ctr_run *r = &c->run;
	int64_t load = proc_ns(c, p, m->load_ticks), unload = proc_ns(c, p, m->unload_ticks);

	for (size_t i = 0; i < r->n_modules; i++) {
		struct ctr_module *g = &r->modules[i];

		if (!strcmp(g->path, m->path) && !strcmp(g->build_id, m->build_id)) {
			if (load < g->loaded_ns)
				g->loaded_ns = load;
			if (g->unloaded_ns >= 0 && (unload < 0 || unload > g->unloaded_ns))
				g->unloaded_ns = unload;
			*out = (uint32_t)i;
			return 0;
		}
	}
	if (ctr_grow((void **)&r->modules, &c->cap_mods, r->n_modules + 1, sizeof(*r->modules)))
		return CTR_ENOMEM;
	struct ctr_module *g = &r->modules[r->n_modules];

	g->id = (uint32_t)r->n_modules;
	g->path = strdup(m->path);
	g->build_id = strdup(m->build_id);
	g->base = m->bias;
	g->loaded_ns = load;
	g->unloaded_ns = unload;
	if (!g->path || !g->build_id)
		return CTR_ENOMEM;
	*out = (uint32_t)r->n_modules++;
	return 0;
}

static int map_modules(struct commit *c)
{
	size_t total = 0;

	c->modmap_off = calloc(c->raw->n_procs + 1, sizeof(size_t));
	if (!c->modmap_off)
		return CTR_ENOMEM;
	for (size_t i = 0; i < c->raw->n_procs; i++) {
		c->modmap_off[i] = total;
		total += c->raw->procs[i].n_mods;
	}
	c->modmap_off[c->raw->n_procs] = total;
	c->modmap = calloc(total + 1, sizeof(uint32_t));
	if (!c->modmap)
		return CTR_ENOMEM;
	for (size_t i = 0; i < c->raw->n_procs; i++)
		for (size_t j = 0; j < c->raw->procs[i].n_mods; j++)
			if (global_module(c, &c->raw->procs[i], &c->raw->procs[i].mods[j],
					  &c->modmap[c->modmap_off[i] + j]))
				return CTR_ENOMEM;
	return 0;
}

static int new_function(struct commit *c, uint32_t kind, uint32_t module, uint64_t key,
			const char *name, size_t len, uint32_t *out)
{
	struct ctr_run *r = &c->run;
	size_t n = r->n_functions;

	if (ctr_grow((void **)&r->functions, &c->cap_funcs, n + 1, sizeof(*r->functions)))
		return CTR_ENOMEM;
	struct fninfo *nf = realloc(c->fi, c->cap_funcs * sizeof(*nf));

	if (!nf)
		return CTR_ENOMEM;
	c->fi = nf;
	memset(&r->functions[n], 0, sizeof(r->functions[n]));
	memset(&c->fi[n], 0, sizeof(c->fi[n]));
	r->functions[n].id = (uint32_t)n;
	r->functions[n].kind = kind;
	r->functions[n].module = module;
	c->fi[n].module = module;
	c->fi[n].key = key;
	if (name && !(c->fi[n].name = strndup(name, len)))
		return CTR_ENOMEM;
	r->n_functions++;
	*out = (uint32_t)n;
	return 0;
}

static int named_function(struct commit *c, uint32_t kind, const char *s, size_t len,
			  uint32_t *out);

/* Function of code address @addr in process @pi at @ticks (module + offset identity: the
 * object mapped there then, so two libraries loaded at one base one after the other stay
 * apart; a library call's trampoline by its name). */
static int function_of(struct commit *c, size_t pi, uint64_t addr, uint64_t ticks, uint32_t *out)
{
	const struct ctr_rawproc *p = &c->raw->procs[pi];
	long j = ctr_rawproc_module_at(p, addr, ticks);
	uint32_t module = CTR_NONE, *v;
	uint64_t key;
	const char *lib = p->n_libcalls ? ctr_rawproc_libcall(p, addr) : NULL;

	if (lib) /* a library call's trampoline: named by symbol and library in every process */
		return named_function(c, CTR_FN_FUNCTION, lib, strlen(lib), out);
	if (j >= 0) {
		module = c->modmap[c->modmap_off[pi] + (size_t)j];
		addr -= p->mods[j].bias;
	}
	key = module == CTR_NONE ? (addr | (1ull << 63)) : (((uint64_t)module + 1) << 44) ^ addr;
	v = ctr_hmap_get(&c->fn_by_key, key);
	if (v) {
		*out = *v;
		return 0;
	}
	if (new_function(c, CTR_FN_FUNCTION, module, addr, NULL, 0, out) ||
	    ctr_hmap_put(&c->fn_by_key, key, *out))
		return CTR_ENOMEM;
	return 0;
}

static int named_function(struct commit *c, uint32_t kind, const char *s, size_t len, uint32_t *out)
{
	uint64_t h = ctr_hash_bytes(s, len, CTR_HASH_SEED ^ kind);

	for (;; h = h * 31 + 7) {
		uint32_t *v = ctr_hmap_get(&c->fn_by_name, h ? h : 1);

		if (!v)
			break;
		if (c->fi[*v].name && strlen(c->fi[*v].name) == len &&
		    !memcmp(c->fi[*v].name, s, len) && c->run.functions[*v].kind == kind) {
			*out = *v;
			return 0;
		}
	}
	if (new_function(c, kind, CTR_NONE, 0, s, len, out) ||
	    ctr_hmap_put(&c->fn_by_name, h ? h : 1, *out))
		return CTR_ENOMEM;
	return 0;
}

/* ---- the calling-context tree ------------------------------------------------------- */

static int child_node(struct commit *c, uint32_t thread, uint32_t parent, uint32_t fn,
		      uint32_t *out)
{
	struct ctr_run *r = &c->run;
	uint64_t pk = parent == CTR_NONE ? (0x80000000ull | thread) : parent;
	uint64_t key = (pk << 32) | fn;
	uint32_t *v = ctr_hmap_get(&c->child, key + 1);

	if (v) {
		*out = *v;
		return 0;
	}
	if (ctr_grow((void **)&r->nodes, &c->cap_nodes, r->n_nodes + 1, sizeof(*r->nodes)))
		return CTR_ENOMEM;
	struct ctr_node *n = &r->nodes[r->n_nodes];

	memset(n, 0, sizeof(*n));
	n->id = (uint32_t)r->n_nodes;
	n->parent = parent;
	n->thread = thread;
	n->function = fn;
	n->min_ns = n->raw_min_ns = UINT64_MAX;
	if (ctr_hmap_put(&c->child, key + 1, n->id))
		return CTR_ENOMEM;
	*out = (uint32_t)r->n_nodes++;
	return 0;
}

static int add_attr(struct commit *c, uint32_t node, const char *k, size_t kl, const char *v,
		    size_t vl)
{
	struct ctr_run *r = &c->run;
	uint64_t h =
	    ctr_hash_bytes(v, vl, ctr_hash_bytes(k, kl, ctr_hash_bytes(&node, 4, CTR_HASH_SEED)));

	for (;; h = h * 31 + 7) {
		uint32_t *i = ctr_hmap_get(&c->attr_idx, h ? h : 1);

		if (!i)
			break;
		struct ctr_attr *a = &r->attrs[*i];

		if (a->node == node && strlen(a->key) == kl && !memcmp(a->key, k, kl) &&
		    strlen(a->value) == vl && !memcmp(a->value, v, vl)) {
			a->count++;
			return 0;
		}
	}
	if (ctr_grow((void **)&r->attrs, &c->cap_attrs, r->n_attrs + 1, sizeof(*r->attrs)))
		return CTR_ENOMEM;
	struct ctr_attr *a = &r->attrs[r->n_attrs];

	a->node = node;
	a->key = strndup(k, kl);
	a->value = strndup(v, vl);
	a->count = 1;
	if (!a->key || !a->value || ctr_hmap_put(&c->attr_idx, h ? h : 1, (uint32_t)r->n_attrs))
		return CTR_ENOMEM;
	r->n_attrs++;
	return 0;
}

/* The calibrated costs of the recorder in process @p (docs/report.md, "True times"): a
 * plausible figure from the process file, else none. */
static void overhead_of(const struct commit *c, const struct ctr_rawproc *p, double *inner,
			double *call)
{
	*inner = c->o->raw_times ? 0 : p->overhead_inner_ns;
	*call = c->o->raw_times ? 0 : p->overhead_call_ns;
	if (!(*inner >= 0 && *inner < 1e9))
		*inner = 0;
	if (!(*call >= *inner && *call < 1e9))
		*call = *inner;
}

/* --sched: a call of node @n left out of min/max and the percentiles (@dur measured, @ctot
 * compensated); 0, or 1 when it counts after all (--keep-preempted, or out of memory). */
static int left_out(struct commit *c, struct ctr_node *n, uint64_t dur, uint64_t ctot)
{
	struct outlier *o;

	n->preempted_calls++;
	if (c->o->keep_preempted)
		return 1;
	if (ctr_grow((void **)&c->out, &c->cap_out, (size_t)n->id + 1, sizeof(*c->out))) {
		c->nomem = 1;
		return 1;
	}
	o = &c->out[n->id];
	if (!o->n++)
		o->min = o->raw_min = UINT64_MAX;
	o->min = ctot < o->min ? ctot : o->min;
	o->max = ctot > o->max ? ctot : o->max;
	o->raw_min = dur < o->raw_min ? dur : o->raw_min;
	o->raw_max = dur > o->raw_max ? dur : o->raw_max;
	ctr_lat_add_excluded(c->lat, n->id, ctot);
	return 0;
}

/* Closes frame @f at @now. @removed is the thread's tracer time so far (slow paths, unrecorded
 * hook calls): what accrued while @f was open comes off its total, and the part that did not
 * accrue inside its children off its self, before the per-call costs do. @outlier (--sched):
 * the call was more than half preempted or in the recorder, see left_out(). */
static void close_frame(struct commit *c, const struct ctr_rawproc *p, struct frame *f,
			struct frame *parent, uint64_t now, uint64_t enters, double removed,
			int outlier)
{
	struct ctr_node *n = &c->run.nodes[f->node];
	uint64_t dur = now > f->t0 ? now - f->t0 : 0;
	uint64_t self = dur > f->child ? dur - f->child : 0;
	double d = (double)(enters - f->enters0 - 1), rm = removed - f->rm0;
	double inner, call, ct;

	overhead_of(c, p, &inner, &call);
	ct = (double)dur - rm - inner - d * call;
	if (ct > (double)dur) /* compensation only ever removes time */
		ct = (double)dur;
	uint64_t ctot = ct > 0 ? (uint64_t)(ct + 0.5) : 0, cself;

	/* Rounding and clamping are applied per call, so the children's compensated totals may
	 * add up to more than their parent's computed one (cheap calls with many descendants):
	 * the total is then the children's. Self is what the total leaves to the children, which
	 * before rounding equals raw self - (tracer time not in children) - I - K * (C - I), and
	 * makes total = self + children's totals exact for every call, node and function. */
	if (ctot < f->cchild)
		ctot = f->cchild;
	/* a call that took measurable time never shows as free: 1 ns resolution */
	if (ctot == 0 && dur > 0)
		ctot = 1;
	cself = ctot - f->cchild;

	n->raw_total_ns += dur;
	n->raw_self_ns += self;
	n->total_ns += ctot;
	n->self_ns += cself;
	if (!outlier || left_out(c, n, dur, ctot)) {
		if (dur < n->raw_min_ns)
			n->raw_min_ns = dur;
		if (dur > n->raw_max_ns)
			n->raw_max_ns = dur;
		if (ctot < n->min_ns)
			n->min_ns = ctot;
		if (ctot > n->max_ns)
			n->max_ns = ctot;
		ctr_lat_add(c->lat, f->node, ctot);
	}
	if (parent) {
		parent->child += dur;
		parent->cchild += ctot;
		parent->crm += rm;
	}
}

/* ---- per thread --------------------------------------------------------------------- */

static int chunk_sink(void *arg, const struct ctr_chunk *ch, struct ctr_err *e)
{
	struct commit *c = arg;

	return ctr_store_save_chunk(c->store, ch, e);
}

static void progress(struct commit *c, size_t done)
{
	if (!c->tty || !c->bytes_total)
		return;
	fprintf(stderr, "\rctrace: committing %s: %3d%%", c->run.id,
		(int)((c->bytes_done + done) * 100 / c->bytes_total));
}

/* One thread's pass over its event file: the open frames, the timeline being re-encoded, and
 * how far the file has been decoded. */
struct twalk {
	struct commit *c;
	const struct ctr_rawthread *rt;
	const struct ctr_rawproc *p;
	struct ctr_ev_hdr hdr;
	struct ctr_tl_writer *w;
	struct frame *stack;
	size_t depth, cap, size, map_size, released;
	const void *words;
	void *map;
	uint64_t enters, events, first, last;
	double scale;	/* ns per tick */
	double removed; /* tracer time so far (TRACER, HIDDEN, COUNT records), ns */
	int64_t base;	/* ns from the run's start to the process's */
	uint32_t cache_fn[1024];
	uint64_t cache_addr[1024]; /* address + 1 -> function, direct-mapped by address */
	uint64_t mod_change;	   /* ticks of the next load or unload: the cache is cleared */
	int sched;		   /* the thread's off-CPU clock is known */
	struct ctr_offcpu oc;
	double tracer_pending; /* --sched: TRACER ns since the last event, not yet removed */
	uint64_t off_last;     /* --sched: the thread's off-CPU ns at the last event */
	double stalled;	       /* --sched: all TRACER ns so far, on the CPU or not */
};

/* The thread's entry of the run: the last one while its pass runs. */
static struct ctr_thread *tw_thread(struct twalk *t)
{
	return &t->c->run.threads[t->c->run.n_threads - 1];
}

/* Maps the event file, adds the thread to the run and opens its timeline writer. */
static int tw_begin(struct twalk *t, struct ctr_err *e)
{
	struct ctr_run *r = &t->c->run;
	struct ctr_thread *th;
	int ret;

	ret = ctr_rawthread_map(t->rt, &t->hdr, &t->words, &t->size, &t->map, &t->map_size, e);
	if (ret)
		return ret;
	if (ctr_grow((void **)&r->threads, &t->c->cap_threads, r->n_threads + 1,
		     sizeof(*r->threads)))
		return CTR_ENOMEM;
	th = &r->threads[r->n_threads];
	memset(th, 0, sizeof(*th));
	th->id = (uint32_t)r->n_threads;
	th->pid = t->rt->pid;
	th->tid = t->rt->tid;
	th->name = strndup(t->hdr.name, sizeof(t->hdr.name));
	th->lost = t->hdr.lost_events;
	if (!th->name)
		return CTR_ENOMEM;
	r->n_threads++;
	return ctr_tl_writer_open(&t->w, th->id, chunk_sink, t->c, e);
}

/* The event's time in ns since the run's start, never before the previous event's. */
static int tw_time(struct twalk *t, const struct ctr_event *ev, uint64_t *ns, struct ctr_err *e)
{
	double d = (double)(int64_t)(ev->time - t->p->start_ticks) * t->scale + (double)t->base;

	if (!(d < 9.2e18)) { /* also NaN: no clock gives such a time */
		ctr_err_ctx(e, t->rt->path, t->c->run.id,
			    (long long)(t->hdr.hdr_size + ev->offset));
		return ctr_err_set(e, CTR_EFORMAT, 0,
				   "'%s': event time out of range (clock or ticks_per_sec of its "
				   "process file wrong)",
				   t->rt->path);
	}
	*ns = d > 0 ? (uint64_t)d : 0;
	if (*ns < t->last)
		*ns = t->last;
	if (t->first == UINT64_MAX)
		t->first = *ns;
	t->last = *ns;
	return 0;
}

/* Every 1 M events: progress, and the pages already decoded leave memory (RSS follows call
 * paths, not events). */
static void tw_progress(struct twalk *t, const struct ctr_event *ev)
{
	size_t done = (t->hdr.hdr_size + ev->offset) & ~(size_t)(RELEASE_STEP - 1);

	progress(t->c, ev->offset);
	if (done > t->released + RELEASE_STEP) {
		madvise((char *)t->map + t->released, done - t->released, MADV_DONTNEED);
		t->released = done;
	}
}

/* The function of an ENTER/INHERIT address (cached) or a SPAN name. */
static int tw_function(struct twalk *t, const struct ctr_event *ev, uint32_t *fn)
{
	size_t h = (ev->ref >> 4) & 1023;
	int ret;

	if (ev->type == CTR_EV_SPAN)
		return named_function(t->c, CTR_FN_SPAN, ev->str, ev->len, fn);
	if (ev->time >= t->mod_change) { /* another object may be mapped there now */
		memset(t->cache_addr, 0, sizeof(t->cache_addr));
		t->mod_change = ctr_rawproc_next_change(t->p, ev->time);
	}
	if (t->cache_addr[h] == ev->ref + 1) {
		*fn = t->cache_fn[h];
		return 0;
	}
	ret = function_of(t->c, t->rt->proc, ev->ref, ev->time, fn);
	t->cache_addr[h] = ev->ref + 1;
	t->cache_fn[h] = *fn;
	return ret;
}

/* ENTER, INHERIT, SPAN: a new open frame below the current one. */
static int tw_enter(struct twalk *t, const struct ctr_event *ev, uint64_t ns, struct ctr_err *e)
{
	struct ctr_run *r = &t->c->run;
	uint32_t parent = t->depth ? t->stack[t->depth - 1].node : CTR_NONE, fn, node;
	struct frame *f;
	int ret;

	if ((ret = tw_function(t, ev, &fn)) ||
	    (ret = child_node(t->c, tw_thread(t)->id, parent, fn, &node)))
		return ret;
	r->nodes[node].calls++;
	if (ctr_grow((void **)&t->stack, &t->cap, t->depth + 1, sizeof(*t->stack)))
		return CTR_ENOMEM;
	if (t->depth)
		t->stack[t->depth - 1].nchild++;
	f = &t->stack[t->depth++];
	*f = (struct frame){.node = node, .t0 = ns, .enters0 = t->enters++, .rm0 = t->removed};
	if (t->sched) {
		ctr_offcpu_at(&t->oc, ns, &f->off0, &f->pre0);
		f->st0 = t->stalled;
	}
	return ev->type == CTR_EV_INHERIT ? ctr_tl_inherit(t->w, ns, fn, e)
					  : ctr_tl_enter(t->w, ns, fn, e);
}

/* Closes the innermost open frame at @ns. --sched: a call whose wall time was more than half
 * preempted, or more than half the recorder's (TRACER records: a wait for the drainer sleeps,
 * off the CPU but not preempted), is an outlier (close_frame()). */
static int tw_exit(struct twalk *t, uint64_t ns, struct ctr_err *e)
{
	struct frame *f = &t->stack[--t->depth];
	int outlier = 0;

	if (t->sched) { /* the gaps while the call was open are its off-CPU time */
		struct ctr_node *n = &t->c->run.nodes[f->node];
		uint64_t off, pre, dur = ns > f->t0 ? ns - f->t0 : 0;

		ctr_offcpu_at(&t->oc, ns, &off, &pre);
		n->offcpu_ns += off - f->off0;
		n->preempt_ns += pre - f->pre0;
		outlier = 2 * (pre - f->pre0) > dur || 2 * (t->stalled - f->st0) > (double)dur;
	}
	close_frame(t->c, t->p, f, t->depth ? &t->stack[t->depth - 1] : NULL, ns, t->enters,
		    t->removed, outlier);
	return ctr_tl_exit(t->w, ns, e);
}

/* A node for @fn below the current frame, for marks and COUNT records. */
static int tw_child(struct twalk *t, uint32_t fn, uint32_t *node)
{
	return child_node(t->c, tw_thread(t)->id, t->depth ? t->stack[t->depth - 1].node : CTR_NONE,
			  fn, node);
}

/* ATTR_STR / ATTR_INT: an attribute of the innermost frame, in the tree and the timeline. */
static int tw_attr(struct twalk *t, const struct ctr_event *ev, uint64_t ns, struct ctr_err *e)
{
	char num[32], key[CTR_STR_MAX + 1], val[CTR_STR_MAX + 1];
	const char *v = ev->str2;
	size_t vl = ev->len2;

	if (ev->type == CTR_EV_ATTR_INT) {
		vl = (size_t)snprintf(num, sizeof(num), "%lld", (long long)ev->ival);
		v = num;
	}
	if (t->depth && add_attr(t->c, t->stack[t->depth - 1].node, ev->str, ev->len, v, vl))
		return CTR_ENOMEM;
	snprintf(key, sizeof(key), "%.*s", (int)ev->len, ev->str);
	if (ev->type == CTR_EV_ATTR_INT)
		return ctr_tl_attr_int(t->w, ns, key, ev->ival, e);
	snprintf(val, sizeof(val), "%.*s", (int)ev->len2, ev->str2);
	return ctr_tl_attr_str(t->w, ns, key, val, e);
}

/* Cost of one unrecorded hook pair of kind @kind (enum ctr_hidden_kind; -1: a call dropped by
 * the policy, which ran both hooks in full; -2: one event sent the slow way to write a count). */
static double tw_cost(const struct twalk *t, int kind)
{
	double inner, call, v;

	overhead_of(t->c, t->p, &inner, &call);
	if (kind == -2) { /* half of the slow pair's extra: one event */
		v = t->c->o->raw_times ? 0 : t->p->overhead_slow_ns / 2;
		return v >= 0 && v < 1e9 ? v : 0;
	}
	if (kind == -1 && t->p->overhead_dropped_ns > 0) {
		v = t->c->o->raw_times ? 0 : t->p->overhead_dropped_ns;
		return v < 1e9 ? v : call;
	}
	if (kind < 0 || kind >= CTR_HIDDEN_KINDS)
		return call;
	v = t->c->o->raw_times ? 0 : t->p->overhead_hidden_ns[kind];
	return v >= 0 && v < 1e9 ? v : 0;
}

/* Tracer time spent at this point of the stream: removed from every open frame. */
static void tw_remove(struct twalk *t, double ns)
{
	if (!t->c->o->raw_times && t->depth && ns > 0)
		t->removed += ns;
}

/* --sched: the slow paths measured since the last event (TRACER records) come off the open
 * frames less the time the thread was off the CPU between that event and this one (@ns): a
 * slow path that was preempted (a window change waiting for the drainer, a page fault) measured
 * that time too, and it is already off-CPU time; removed twice, the calls of CPU-bound threads
 * that outnumber the CPUs were left with no on-CPU time (docs/report.md, "True times"). What
 * is removed never exceeds the slow paths' on-CPU part. */
static void tw_tracer_flush(struct twalk *t, uint64_t ns)
{
	uint64_t off, pre;

	if (!t->sched)
		return;
	ctr_offcpu_at(&t->oc, ns, &off, &pre);
	if (t->tracer_pending > 0) {
		tw_remove(t, t->tracer_pending - (double)(off - t->off_last));
		t->tracer_pending = 0;
	}
	t->off_last = off;
}

/* --sched: the gaps that ended by the event at @ns into the timeline, those inside a call
 * only (the views draw them over the call they stopped). */
static int tw_gaps(struct twalk *t, uint64_t ns, struct ctr_err *e)
{
	uint64_t start, dur;
	int pre, ret;

	while (ctr_offcpu_gap(&t->oc, ns, &start, &dur, &pre))
		if (t->depth && (ret = ctr_tl_offcpu(t->w, start, dur, pre, e)))
			return ret;
	return 0;
}

/* One decoded event: into the tree, the thread's figures and the timeline. */
static int tw_event(struct twalk *t, const struct ctr_event *ev, uint64_t ns, struct ctr_err *e)
{
	struct ctr_run *r = &t->c->run;
	struct ctr_thread *th = tw_thread(t);
	uint32_t fn, node;
	int ret;

	switch (ev->type) {
	case CTR_EV_ENTER:
	case CTR_EV_INHERIT:
	case CTR_EV_SPAN:
		tw_tracer_flush(t, ns);
		return tw_enter(t, ev, ns, e);
	case CTR_EV_EXIT:
		tw_tracer_flush(t, ns);
		return ev->unmatched || !t->depth ? 0 : tw_exit(t, ns, e);
	case CTR_EV_MARK:
		if ((ret = named_function(t->c, CTR_FN_MARK, ev->str, ev->len, &fn)) ||
		    (ret = tw_child(t, fn, &node)))
			return ret;
		r->nodes[node].calls++;
		r->nodes[node].min_ns = r->nodes[node].raw_min_ns = 0;
		return ctr_tl_mark(t->w, ns, fn, e);
	case CTR_EV_ATTR_STR:
	case CTR_EV_ATTR_INT:
		return tw_attr(t, ev, ns, e);
	case CTR_EV_THREAD_NAME: {
		char *nm = strndup(ev->str, ev->len);

		if (!nm)
			return CTR_ENOMEM;
		free(th->name);
		th->name = nm;
		return 0;
	}
	case CTR_EV_LOST:
		th->lost += ev->count;
		return ctr_tl_lost(t->w, ns, ev->count, e);
	case CTR_EV_COUNT:
		if ((ret = function_of(t->c, t->rt->proc, ev->ref, ev->time, &fn)) ||
		    (ret = tw_child(t, fn, &node)))
			return ret;
		if (ctr_grow((void **)&t->c->counted, &t->c->cap_counted, r->n_nodes,
			     sizeof(uint64_t)))
			return CTR_ENOMEM;
		r->nodes[node].calls += ev->count;
		t->c->counted[node] += ev->count;
		/* the dropped calls ran both hooks inside the frame open here */
		tw_remove(t, (double)ev->count * tw_cost(t, -1));
		return 0;
	case CTR_EV_TRACER:
		if (t->sched) { /* at the next event, less the off-CPU time since this one */
			t->tracer_pending += (double)ev->count * t->scale;
			t->stalled += (double)ev->count * t->scale;
		} else
			tw_remove(t, (double)ev->count * t->scale);
		return 0;
	case CTR_EV_HIDDEN: /* the calls, and the slow-path event that wrote their count */
		tw_remove(t, (double)ev->count * tw_cost(t, (int)ev->ref) + tw_cost(t, -2));
		return 0;
	default:
		return 0;
	}
}

/* Frames still open (exit, crash, kill) end with the thread's last event; the thread's
 * figures go into the run. */
static int tw_finish(struct twalk *t, struct ctr_err *e)
{
	struct ctr_run *r = &t->c->run;
	struct ctr_thread *th;
	int ret;

	tw_tracer_flush(t, t->last);
	while (t->depth)
		if ((ret = tw_exit(t, t->last, e)))
			return ret;
	if ((ret = ctr_tl_writer_finish(t->w, e)))
		return ret;
	th = tw_thread(t);
	th->start_ns = t->first == UINT64_MAX ? 0 : t->first;
	th->end_ns = t->last;
	th->events = t->events;
	r->events += t->events;
	r->lost_events += th->lost;
	t->c->bytes_done += t->size;
	return 0;
}

/* Run ns per CLOCK_MONOTONIC ns in process @p: through its start and end anchors (ticks and
 * monotonic time read together), so that an error of the calibrated TSC rate (@scale ns per
 * tick) puts a context switch no farther off its calls at the end than at the start; 1 when
 * the process did not end normally or the anchors disagree by more than 1%. */
static double mono_rate(const struct ctr_rawproc *p, double scale)
{
	double r;

	if (!p->end_mono_ns || p->end_mono_ns <= p->start_mono_ns || p->end_ticks <= p->start_ticks)
		return 1;
	r = (double)(p->end_ticks - p->start_ticks) * scale /
	    (double)(p->end_mono_ns - p->start_mono_ns);
	return r > 0.99 && r < 1.01 ? r : 1;
}

static int do_thread(struct commit *c, size_t ti, struct ctr_err *e)
{
	struct twalk t = {.c = c, .rt = &c->raw->threads[ti], .first = UINT64_MAX};
	struct ctr_decoder dec;
	struct ctr_event ev;
	uint64_t ns = 0;
	int ret;

	t.p = &c->raw->procs[t.rt->proc];
	t.scale = 1e9 / (double)t.p->ticks_per_sec;
	t.base = t.p->start_real_ns - c->run.start_unix_ns;
	/* switches are CLOCK_MONOTONIC: the process file pairs that clock with its ticks */
	if (c->has_sched && t.p->start_mono_ns) {
		t.sched = 1;
		ctr_offcpu_init(&t.oc, c->sched, c->n_sched, t.rt->pid, t.rt->tid,
				t.p->start_mono_ns, (double)t.base, mono_rate(t.p, t.scale));
	}
	ctr_decoder_init(&dec);
	if ((ret = tw_begin(&t, e)))
		goto out;
	if ((ret = ctr_decoder_set_version(&dec, t.hdr.version, e)))
		goto out;
	ctr_decoder_feed(&dec, t.words, t.size);
	while ((ret = ctr_decoder_next(&dec, &ev, e)) > 0) {
		if ((ret = tw_time(&t, &ev, &ns, e)))
			goto out;
		/* the recorder's own accounting is not an event of the program */
		if (ev.type != CTR_EV_TRACER && ev.type != CTR_EV_HIDDEN &&
		    (++t.events & 0xFFFFF) == 0)
			tw_progress(&t, &ev);
		if ((t.sched && (ret = tw_gaps(&t, ns, e))) || (ret = tw_event(&t, &ev, ns, e)))
			goto out;
	}
	if (ret < 0) {
		/* a record torn by a kill at the very end is the end of the data */
		if (ret != CTR_EFORMAT || ev.offset + 16 < t.size) {
			ctr_err_ctx(e, t.rt->path, c->run.id,
				    (long long)(t.hdr.hdr_size + ev.offset));
			goto out;
		}
		ctr_err_clear(e);
	}
	ret = tw_finish(&t, e);
out:
	if (ret == CTR_ENOMEM)
		ctr_err_set(e, CTR_ENOMEM, 0, "out of memory committing '%s'", c->raw->dir);
	ctr_tl_writer_free(t.w);
	ctr_decoder_release(&dec);
	free(t.stack);
	ctr_rawthread_unmap(t.map, t.map_size);
	return ret;
}

/* ---- symbolization ------------------------------------------------------------------ */

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

/* Registers every module of the run with the symbolizer: @symmod[i] is its handle, -1 when
 * no process's map has it. 0 or a CTR_E* code. */
static int sym_modules(struct commit *c, struct ctr_sym *sym, int *symmod, struct ctr_err *e)
{
	const struct ctr_run *r = &c->run;

	for (size_t i = 0; i < r->n_modules; i++) {
		const struct ctr_rawmod *m = NULL;

		for (size_t pi = 0; pi < c->raw->n_procs && !m; pi++)
			for (size_t j = 0; j < c->raw->procs[pi].n_mods; j++)
				if (c->modmap[c->modmap_off[pi] + j] == i) {
					m = &c->raw->procs[pi].mods[j];
					break;
				}
		symmod[i] = -1;
		if (!m)
			continue;
		symmod[i] =
		    ctr_sym_add_module(sym, m->path, m->build_id, m->bias, m->start, m->end, e);
		if (symmod[i] < 0)
			return symmod[i];
	}
	return 0;
}

/* Names function @i: spans and marks by their own name, code by libdw (or MODULE+0xOFF, or
 * 0xADDR outside every module). A build-id mismatch is warned about once per module. */
static int sym_function(struct commit *c, struct ctr_sym *sym, int *symmod, size_t i)
{
	struct ctr_run *r = &c->run;
	struct ctr_function *f = &r->functions[i];
	struct ctr_sym_info info;
	const char *msg = NULL;
	char buf[PATH_MAX + 64];

	if (f->kind != CTR_FN_FUNCTION || c->fi[i].name) { /* spans, marks, library calls */
		f->name = strdup(c->fi[i].name);
	} else if (f->module == CTR_NONE) {
		snprintf(buf, sizeof(buf), "0x%llx",
			 (unsigned long long)(c->fi[i].key & ~(1ull << 63)));
		f->name = strdup(buf);
	} else {
		const struct ctr_module *m = &r->modules[f->module];
		int sm = symmod[f->module];

		f->offset = c->fi[i].key;
		if (sm >= 0 && ctr_sym_lookup_in(sym, sm, m->base + f->offset, &info) == 0) {
			f->name = strdup(info.name);
			f->linkage_name =
			    strdup(info.linkage_name && strcmp(info.linkage_name, info.name)
				       ? info.linkage_name
				       : "");
			f->file = strdup(info.file ? info.file : "");
			f->line = info.line;
			return f->name && f->linkage_name && f->file ? 0 : CTR_ENOMEM;
		}
		snprintf(buf, sizeof(buf), "%s+0x%llx", base_name(m->path),
			 (unsigned long long)f->offset);
		f->name = strdup(buf);
		if (sm >= 0 && ctr_sym_module_status(sym, sm, &msg) == CTR_SYM_BUILD_ID_MISMATCH &&
		    msg) {
			fprintf(stderr, "ctrace: warning: %s: not symbolized\n", msg);
			symmod[f->module] = -1; /* warn once */
		}
	}
	f->linkage_name = strdup("");
	f->file = strdup("");
	return f->name && f->linkage_name && f->file ? 0 : CTR_ENOMEM;
}

/* Process @pi's crash backtrace: "frame=0xADDR" lines become "#N 0xADDR name [module+0xOFF]". */
static int sym_backtrace(struct commit *c, struct ctr_sym *sym, const int *symmod, size_t pi)
{
	const struct ctr_rawproc *p = &c->raw->procs[pi];
	char *bt, *out = NULL, *line, *save = NULL;
	size_t len = 0, n = 0;
	FILE *f;

	if (!p->backtrace)
		return 0;
	if (!(f = open_memstream(&out, &len)))
		return CTR_ENOMEM;
	bt = strdup(p->backtrace);
	for (line = bt ? strtok_r(bt, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		unsigned long long a;
		struct ctr_sym_info info = {0};
		int found = 0;

		if (sscanf(line, "frame=0x%llx", &a) != 1) {
			fprintf(f, "%s\n", line);
			continue;
		}
		uint64_t q = n ? a - 1 : a; /* return addresses point after the call */
		long j = ctr_rawproc_module_at(p, q, UINT64_MAX - 1); /* mapped at the death */

		if (j >= 0) {
			const struct ctr_rawmod *m = &p->mods[j];
			int sm = symmod[c->modmap[c->modmap_off[pi] + (size_t)j]];

			if (sm >= 0 && ctr_sym_lookup_in(sym, sm, q, &info) == 0)
				found = 1;
			fprintf(f, "#%zu 0x%llx %s [%s+0x%llx]\n", n, a, found ? info.name : "??",
				base_name(m->path), (unsigned long long)(q - m->bias));
			found = 2;
		}
		if (found != 2)
			fprintf(f, "#%zu 0x%llx ??\n", n, a);
		n++;
	}
	free(bt);
	fclose(f);
	free(c->run.procs[pi].backtrace);
	c->run.procs[pi].backtrace = out;
	return 0;
}

static int symbolize(struct commit *c, struct ctr_err *e)
{
	struct ctr_run *r = &c->run;
	struct ctr_sym *sym = NULL;
	int *symmod = NULL, ret;

	ret = ctr_sym_open(&sym, e);
	if (ret)
		return ret;
	if (!(symmod = calloc(r->n_modules + 1, sizeof(int)))) {
		ret = CTR_ENOMEM;
		goto out;
	}
	if ((ret = sym_modules(c, sym, symmod, e)))
		goto out;
	for (size_t i = 0; i < r->n_functions && !ret; i++)
		ret = sym_function(c, sym, symmod, i);
	for (size_t pi = 0; pi < r->n_procs && !ret; pi++)
		ret = sym_backtrace(c, sym, symmod, pi);
out:
	free(symmod);
	ctr_sym_close(sym);
	if (ret == CTR_ENOMEM)
		ctr_err_set(e, CTR_ENOMEM, 0, "out of memory symbolizing");
	return ret;
}

/* ---- run header --------------------------------------------------------------------- */

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

static int fill_header(struct commit *c)
{
	struct ctr_rawrun *raw = c->raw;
	struct ctr_run *r = &c->run;
	const struct ctr_rawproc *root = NULL;

	snprintf(r->id, sizeof(r->id), "%s", raw->id);
	r->command = dup_or_empty(raw->command);
	r->host = dup_or_empty(raw->host);
	r->cwd = dup_or_empty(raw->cwd);
	/* the run starts when its first traced process does (not when `ctrace record` did) */
	r->start_unix_ns = 0;
	r->exit_status = -1;
	for (size_t i = 0; i < raw->n_procs; i++) {
		const struct ctr_rawproc *p = &raw->procs[i];

		if (p->start_real_ns && (!r->start_unix_ns || p->start_real_ns < r->start_unix_ns))
			r->start_unix_ns = p->start_real_ns;
		if (p->pid == raw->root_pid && (!root || p->gen > root->gen))
			root = p;
	}
	if (!r->start_unix_ns)
		r->start_unix_ns = raw->start_real_ns;
	if (!root && raw->n_procs)
		root = &raw->procs[0];
	r->clock = strdup(root && root->clock ? root->clock : "tsc");
	if (root) {
		r->ticks_per_sec = root->ticks_per_sec;
		r->overhead_inner_ns = c->o->raw_times ? 0 : root->overhead_inner_ns;
		r->overhead_call_ns = c->o->raw_times ? 0 : root->overhead_call_ns;
		r->exit_status = root->exit_status;
		r->signal = root->signal;
	}
	if (raw->exit_status >= 0 || raw->signal) { /* what `ctrace record` saw wins */
		r->exit_status = raw->signal ? -1 : raw->exit_status;
		r->signal = raw->signal;
	}
	if (!r->command || !r->host || !r->cwd || !r->clock)
		return CTR_ENOMEM;
	r->procs = calloc(raw->n_procs + 1, sizeof(*r->procs));
	if (!r->procs)
		return CTR_ENOMEM;
	for (size_t i = 0; i < raw->n_procs; i++) {
		const struct ctr_rawproc *p = &raw->procs[i];
		struct ctr_process *q = &r->procs[i];

		q->pid = p->pid;
		q->ppid = p->ppid;
		q->gen = p->gen;
		q->exe = dup_or_empty(p->exe);
		q->command = dup_or_empty(p->command);
		q->exit_status = p->exit_status;
		q->signal = p->signal;
		q->crashed = p->crashed;
		q->backtrace = p->backtrace ? strdup(p->backtrace) : NULL;
		r->n_procs++;
		if (p->crashed)
			r->crashed = 1;
		if (!q->exe || !q->command)
			return CTR_ENOMEM;
	}
	size_t nm = raw->n_meta + c->o->n_meta + (c->running[0] != 0);
	const struct ctr_kv running = {"running_at_commit", c->running};

	r->meta = calloc(nm + 1, sizeof(*r->meta));
	if (!r->meta)
		return CTR_ENOMEM;
	for (size_t i = 0; i < nm; i++) {
		const struct ctr_kv *kv = &running;

		if (i < raw->n_meta)
			kv = &raw->meta[i];
		else if (i < raw->n_meta + c->o->n_meta)
			kv = &c->o->meta[i - raw->n_meta];

		r->meta[i].key = strdup(kv->key);
		r->meta[i].value = strdup(kv->value);
		r->n_meta++;
		if (!r->meta[i].key || !r->meta[i].value)
			return CTR_ENOMEM;
	}
	return ctr_provenance_add(r, root ? root->exe : NULL);
}

/* With --sample, the calls known only by count get the average time of the recorded calls of
 * their node; that time moves out of the parent's self time, where the recording left it. */
static int estimate_sampled(struct commit *c)
{
	struct ctr_run *r = &c->run;
	const char *n = NULL;
	char buf[96];

	for (size_t i = 0; i < r->n_meta; i++)
		if (!strcmp(r->meta[i].key, "option.sample"))
			n = r->meta[i].value;
	if (!n || !c->counted)
		return 0;
	for (size_t i = r->n_nodes; i-- > 0;) { /* children before parents */
		struct ctr_node *nd = &r->nodes[i];
		uint64_t cnt = i < c->cap_counted ? c->counted[i] : 0, rec = nd->calls - cnt;

		if (!cnt || !rec)
			continue;
		double f = (double)cnt / (double)rec;
		uint64_t et = (uint64_t)((double)nd->total_ns * f),
			 es = (uint64_t)((double)nd->self_ns * f);
		uint64_t rt = (uint64_t)((double)nd->raw_total_ns * f),
			 rs = (uint64_t)((double)nd->raw_self_ns * f);

		nd->total_ns += et;
		nd->self_ns += es;
		nd->raw_total_ns += rt;
		nd->raw_self_ns += rs;
		if (nd->parent != CTR_NONE) {
			struct ctr_node *p = &r->nodes[nd->parent];

			p->self_ns = p->self_ns > et ? p->self_ns - et : 0;
			p->raw_self_ns = p->raw_self_ns > rt ? p->raw_self_ns - rt : 0;
		}
	}
	snprintf(buf, sizeof(buf),
		 "sampled 1 in %s calls: unrecorded calls get their node's average", n);
	return ctr_meta_append(r, "times_estimated", buf);
}

/* --sched: the run's metadata says whether the calls counted in preempted_calls were left out
 * of min/max and the percentiles ("excluded") or kept in them ("kept", --keep-preempted). */
static int sched_meta(struct commit *c)
{
	if (c->nomem)
		return CTR_ENOMEM;
	if (!c->has_sched)
		return 0;
	return ctr_meta_append(&c->run, "preempted_calls",
			       c->o->keep_preempted ? "kept" : "excluded");
}

static void finish_header(struct commit *c)
{
	struct ctr_run *r = &c->run;
	uint64_t end = 0, lost_procs = 0;

	for (size_t i = 0; i < r->n_threads; i++)
		if (r->threads[i].end_ns > end)
			end = r->threads[i].end_ns;
	for (size_t i = 0; i < c->raw->n_procs; i++) {
		const struct ctr_rawproc *p = &c->raw->procs[i];

		lost_procs += p->lost;
		if (p->end_real_ns > r->start_unix_ns &&
		    (uint64_t)(p->end_real_ns - r->start_unix_ns) > end)
			end = (uint64_t)(p->end_real_ns - r->start_unix_ns);
	}
	if (lost_procs > r->lost_events)
		r->lost_events = lost_procs;
	r->duration_ns = end;
	for (size_t i = 0; i < r->n_nodes; i++) {
		struct ctr_node *n = &r->nodes[i];
		const struct outlier *o = i < c->cap_out ? &c->out[i] : NULL;

		if (o && o->n && n->min_ns == UINT64_MAX) { /* every timed call was left out */
			n->min_ns = o->min;
			n->max_ns = o->max;
			n->raw_min_ns = o->raw_min;
			n->raw_max_ns = o->raw_max;
		}
		if (n->min_ns == UINT64_MAX)
			n->min_ns = 0;
		if (n->raw_min_ns == UINT64_MAX)
			n->raw_min_ns = 0;
	}
}

/* The run's invariants (ingest/invariants.h): a violation is a bug, refused in a test build
 * (CTRACE_CHECK_INVARIANTS=1) and otherwise left to the tests to find. */
static int check_run(struct commit *c, struct ctr_err *e)
{
	const char *v = getenv("CTRACE_CHECK_INVARIANTS");

	if (!v || strcmp(v, "1"))
		return 0;
	/* --sample: the unrecorded calls' times are estimates moved between nodes
	 * (estimate_sampled), not measurements the arithmetic promises hold for */
	for (size_t i = 0; i < c->run.n_meta; i++)
		if (!strcmp(c->run.meta[i].key, "times_estimated"))
			return 0;
	return ctr_run_check(&c->run, c->counted, c->counted ? c->cap_counted : 0, e);
}

/* ---- removal ------------------------------------------------------------------------ */

/*
 * Deletes a raw run directory so that no interruption leaves a half run: every file but
 * run.meta first (a kill here leaves a run that is already stored: committing it again only
 * finishes the removal), then the directory is renamed out of sight in one step, and only then
 * do run.meta and the directory go (a kill here leaves a hidden leftover no commit looks at).
 */
static int remove_files(int dfd, const char *dir)
{
	char path[PATH_MAX], hidden[PATH_MAX];
	const char *base;
	struct stat ds, ls;
	struct dirent *de;
	DIR *d;
	int lfd, pfd = -1, ret = 0;
	size_t n;

	/* the files, through the open directory: never through a symlink swapped in ("." of it
	 * is a new open file, with its own read position) */
	if ((lfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    !(d = fdopendir(lfd))) {
		if (lfd >= 0)
			close(lfd);
		return -1;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, "run.meta"))
			if (unlinkat(dfd, de->d_name, 0) != 0 && errno != ENOENT)
				ret = -1;
	closedir(d);
	if (ret)
		return -1;
	/* the directory by name, in its parent, only while the name is still this directory */
	snprintf(path, sizeof(path), "%s", dir);
	n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		path[--n] = 0;
	base = strrchr(path, '/');
	if (base) {
		*(char *)base = 0;
		pfd = open(base == path ? "/" : path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		base++;
	} else {
		pfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		base = path;
	}
	if (pfd < 0 || fstat(dfd, &ds) != 0) {
		ret = -1;
		goto out;
	}
	if (fstatat(pfd, base, &ls, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(ls.st_mode) ||
	    ls.st_dev != ds.st_dev || ls.st_ino != ds.st_ino) {
		errno = ESTALE; /* moved or swapped: only the files we opened went */
		unlinkat(dfd, "run.meta", 0);
		ret = -1;
		goto out;
	}
	if ((size_t)snprintf(hidden, sizeof(hidden), ".removed-%s", base) < sizeof(hidden) &&
	    renameat(pfd, base, pfd, hidden) == 0)
		base = hidden;
	if (unlinkat(dfd, "run.meta", 0) != 0 && errno != ENOENT) {
		ret = -1;
		goto out;
	}
	/* a symlink swapped in after the check cannot be removed as a directory */
	ret = unlinkat(pfd, base, AT_REMOVEDIR);
out:
	if (pfd >= 0) {
		int err = errno;

		close(pfd);
		errno = err;
	}
	return ret;
}

int ctr_remove_run_dir_at(int dfd, const char *dir)
{
	return remove_files(dfd, dir);
}

int ctr_remove_run_dir(const char *dir)
{
	struct stat st;
	int dfd, ret;

	if (ctr_rundir_open(dir, &dfd, &st, NULL)) {
		errno = errno ? errno : ENOENT;
		return -1;
	}
	ret = remove_files(dfd, dir);
	{
		int err = errno;

		close(dfd);
		errno = err;
	}
	return ret;
}

int ctr_is_run_dir(const char *dir)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/run.meta", dir);
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The value of run metadata @key, NULL if none. */
static const char *raw_meta(const struct ctr_rawrun *r, const char *key)
{
	for (size_t i = 0; i < r->n_meta; i++)
		if (!strcmp(r->meta[i].key, key))
			return r->meta[i].value;
	return NULL;
}

/* A run one of whose processes still writes it is refused (CTR_EEXIST, errno EBUSY) before
 * anything is drained, read or removed: committing it would cut the run and delete the files
 * the process goes on writing, losing the rest with lost_events 0. With cut_running (the
 * recorder saw its program end) such processes are named in c->running and a warning says
 * their later events are not in the run. A run whose metadata cannot be read is left to the
 * commit to report. */
static int refuse_running(struct commit *c, int dfd, const char *dir, uid_t owner,
			  struct ctr_err *e)
{
	struct ctr_rawrun *r = NULL;
	int ret = 0;

	if (ctr_rawrun_open_at(dfd, dir, owner, &r, NULL) != 0)
		return 0;
	/* a flight recorder's snapshot is of a running program by design */
	for (size_t i = 0; i < r->n_procs && !ret && !raw_meta(r, "snapshot_of"); i++) {
		size_t n = strlen(c->running);

		if (!ctr_rawproc_running(r, i))
			continue;
		if (!c->o->cut_running) {
			ctr_err_ctx(e, dir, r->id, -1);
			ret = ctr_err_set(e, CTR_EEXIST, EBUSY,
					  "run '%s' is still being recorded: its process %d is "
					  "running (commit it once the program has ended)",
					  dir, (int)r->procs[i].pid);
		} else if (n + 16 < sizeof(c->running)) {
			snprintf(c->running + n, sizeof(c->running) - n, "%s%d", n ? "," : "",
				 (int)r->procs[i].pid);
		}
	}
	if (c->running[0])
		fprintf(stderr,
			"ctrace: warning: run '%s': process %s still running at commit: what it "
			"records from now on is not in the run\n",
			r->id, c->running);
	ctr_rawrun_free(r);
	return ret;
}

/* 1 if the program of the run (the first word of its command, found as the shell would from
 * the run's directory) is statically linked. */
static int program_is_static(const struct ctr_rawrun *r)
{
	char prog[PATH_MAX], path[PATH_MAX * 2];
	const char *env = getenv("PATH");
	size_t n = strcspn(r->command, " ");

	if (!n || n >= sizeof(prog))
		return 0;
	memcpy(prog, r->command, n);
	prog[n] = 0;
	if (strchr(prog, '/')) {
		snprintf(path, sizeof(path), "%s%s%s", prog[0] == '/' || !r->cwd ? "" : r->cwd,
			 prog[0] == '/' || !r->cwd ? "" : "/", prog);
		return ctr_provenance_is_static(path) == 1;
	}
	for (const char *d = env ? env : "/usr/bin:/bin"; *d;) {
		size_t len = strcspn(d, ":");

		snprintf(path, sizeof(path), "%.*s/%s", (int)len, d, prog);
		if (access(path, X_OK) == 0)
			return ctr_provenance_is_static(path) == 1;
		d += len + (d[len] == ':');
	}
	return 0;
}

/* The CTR_ENOEVENTS error of a run without a single event, saying why when the run shows it:
 * no process loaded the preload, every event was lost, an option kept everything out. */
static int no_events(struct commit *c, struct ctr_err *e)
{
	const struct ctr_rawrun *r = c->raw;
	const char *v;
	uint64_t lost = c->run.lost_events, lost_procs = 0;

	for (size_t i = 0; i < r->n_procs; i++)
		lost_procs += r->procs[i].lost;
	if (lost_procs > lost)
		lost = lost_procs;
	if (r->n_procs == 0 && program_is_static(r))
		return ctr_err_set(e, CTR_ENOEVENTS, 0,
				   "no events recorded: '%s' is statically linked, so libctrace.so "
				   "cannot be preloaded into it (link it dynamically)",
				   r->command);
	if (r->n_procs == 0 && (v = raw_meta(r, "option.sample_rate")))
		return ctr_err_set(e, CTR_ENOEVENTS, 0,
				   "no events recorded: no process of '%s' was sampled "
				   "(--sample-rate %s)",
				   r->command, v);
	if (r->n_procs == 0)
		return ctr_err_set(e, CTR_ENOEVENTS, 0,
				   "no events recorded: no process of '%s' loaded libctrace.so "
				   "(setuid, or LD_PRELOAD removed from its environment?)",
				   r->command);
	if (lost && (v = raw_meta(r, "option.max_size")))
		return ctr_err_set(e, CTR_ENOEVENTS, 0,
				   "no events kept: --max-size %s is too small for the first "
				   "records, %llu events counted as lost",
				   v, (unsigned long long)lost);
	if (lost)
		return ctr_err_set(e, CTR_ENOEVENTS, 0,
				   "no events kept: all %llu events of '%s' were lost (disk full, "
				   "file size limit or a stalled drainer: see the recorder's log)",
				   (unsigned long long)lost, r->command);
	if ((v = raw_meta(r, "option.start")) && !strcmp(v, "off"))
		return ctr_err_set(e, CTR_ENOEVENTS, 0,
				   "no events recorded: '%s' started with recording off (--start "
				   "off) and it was never switched on ('ctrace ctl PID on')",
				   r->command);
	if ((v = raw_meta(r, "option.filter")))
		return ctr_err_set(e, CTR_ENOEVENTS, 0,
				   "no events recorded: no function matching --filter '%s' was "
				   "called",
				   v);
	if ((v = raw_meta(r, "option.module")))
		return ctr_err_set(e, CTR_ENOEVENTS, 0,
				   "no events recorded: no function of a module matching --module "
				   "'%s' was called",
				   v);
	return ctr_err_set(e, CTR_ENOEVENTS, 0,
			   "no events recorded: was '%s' compiled with -finstrument-functions?",
			   r->command);
}

/* The run's context switches (`ctrace record --sched`), when it has them. A run recorded
 * without --sched has no sched.raw; a damaged one is an error, not a silent loss. */
static int load_sched(struct commit *c, struct ctr_err *e)
{
	uint64_t lost;
	int ret =
	    ctr_sched_load(c->raw->dfd, c->raw->dir, c->raw->uid, &c->sched, &c->n_sched, &lost, e);

	if (ret == CTR_ENOTFOUND) {
		ctr_err_clear(e);
		ctr_err_ctx(e, NULL, c->raw->id, -1);
		return 0;
	}
	if (ret)
		return ret;
	c->has_sched = 1;
	for (size_t i = 0; i < c->raw->n_procs; i++)
		if (!c->raw->procs[i].start_mono_ns) {
			fprintf(stderr,
				"ctrace: warning: process %d has no start_mono_ns (a preload "
				"older than --sched): its calls get no off-CPU time\n",
				(int)c->raw->procs[i].pid);
			break;
		}
	return 0;
}

/* Every thread's pass, with the run's context switches (--sched) at hand meanwhile. */
static int do_threads(struct commit *c, struct ctr_err *e)
{
	int ret = load_sched(c, e);

	for (size_t i = 0; !ret && i < c->raw->n_threads; i++)
		ret = do_thread(c, i, e);
	free(c->sched);
	c->sched = NULL;
	return ret;
}

int ctr_commit_dir(struct ctr_store *s, const char *run_dir, const struct ctr_commit_opts *o,
		   char id[CTR_RUN_ID_MAX], struct ctr_err *e)
{
	static const struct ctr_commit_opts defaults;
	struct commit c;
	struct stat st;
	int ret, begun = 0, dfd = -1;

	memset(&c, 0, sizeof(c));
	c.o = o ? o : &defaults;
	c.store = s;
	/* One directory descriptor for everything: a swap of the path while we decode changes
	 * nothing we read or remove. */
	if ((ret = ctr_rundir_open(run_dir, &dfd, &st, e)))
		goto out;
	if (st.st_uid != geteuid() && st.st_uid != 0 && !c.o->allow_foreign_owner) {
		ctr_err_ctx(e, run_dir, NULL, -1);
		ret = ctr_err_set(e, CTR_EIO, EPERM,
				  "run directory '%s' is owned by uid %u, not by you or root: "
				  "refusing (--allow-foreign-owner commits it)",
				  run_dir, (unsigned)st.st_uid);
		goto out;
	}
	/* The id first: an invalid one stops everything. A run already stored is never parsed
	 * again: its directory may be half removed. Shared rings a recorder that died left
	 * behind are drained next. */
	if ((ret = ctr_rawrun_id_at(dfd, run_dir, st.st_uid, id, e)) ||
	    (ret = refuse_running(&c, dfd, run_dir, st.st_uid, e)) ||
	    (st.st_uid == geteuid() && (ret = ctr_drain_leftovers(dfd, run_dir, st.st_uid, e))))
		goto out;
	{
		char found[CTR_RUN_ID_MAX];

		if (ctr_store_resolve(s, id, found, NULL) == 0 && !strcmp(found, id)) {
			if (!c.o->keep && ctr_remove_run_dir_at(dfd, run_dir) != 0)
				fprintf(stderr, "ctrace: warning: cannot remove '%s': %s\n",
					run_dir, strerror(errno));
			goto out;
		}
	}
	ret = ctr_rawrun_open_at(dfd, run_dir, st.st_uid, &c.raw, e);
	if (ret)
		goto out;
	snprintf(id, CTR_RUN_ID_MAX, "%s", c.raw->id);
	ctr_err_ctx(e, NULL, c.raw->id, -1);
	c.tty = c.o->progress && isatty(2);
	for (size_t i = 0; i < c.raw->n_threads; i++)
		c.bytes_total += c.raw->threads[i].file_size;
	if ((ret = fill_header(&c)) || (ret = map_modules(&c)) ||
	    (ret = ctr_lat_open(&c.lat, c.bytes_total / 8)))
		goto out;
	ret = ctr_store_save_begin(s, &c.run, e);
	if (ret == CTR_EEXIST) { /* committed meanwhile by someone else: never a second copy */
		if (e)
			ctr_err_clear(e);
		ret = 0;
		if (!c.o->keep && ctr_remove_run_dir_at(dfd, run_dir) != 0)
			fprintf(stderr, "ctrace: warning: cannot remove '%s': %s\n", run_dir,
				strerror(errno));
		goto out;
	}
	if (ret)
		goto out;
	begun = 1;
	if ((ret = do_threads(&c, e)))
		goto out;
	if (c.tty)
		fprintf(stderr, "\r\033[K");
	if (c.run.events == 0) {
		ret = no_events(&c, e);
		goto out;
	}
	finish_header(&c);
	if ((ret = sched_meta(&c)) || (ret = estimate_sampled(&c)) ||
	    (ret = ctr_lat_finish(c.lat, &c.run, e)) || (ret = symbolize(&c, e)) ||
	    (ret = check_run(&c, e)))
		goto out;
	ret = ctr_store_save_end(s, &c.run, e);
	begun = 0;		 /* ended or aborted by the store */
	if (ret == CTR_EEXIST) { /* another commit of the run won the race: one copy, success */
		if (e)
			ctr_err_clear(e);
		ret = 0;
	}
	if (ret)
		goto out;
	if (!c.o->keep && ctr_remove_run_dir_at(dfd, run_dir) != 0)
		fprintf(stderr, "ctrace: warning: committed, but cannot remove '%s': %s\n", run_dir,
			strerror(errno));
out:
	if (begun)
		ctr_store_save_abort(s);
	if (ret == CTR_ENOMEM && e && !e->code)
		ctr_err_set(e, CTR_ENOMEM, 0, "out of memory committing '%s'", run_dir);
	for (size_t i = 0; i < c.run.n_functions && c.fi; i++)
		free(c.fi[i].name);
	free(c.fi);
	free(c.modmap);
	free(c.modmap_off);
	free(c.counted);
	free(c.out);
	ctr_lat_free(c.lat);
	ctr_hmap_free(&c.fn_by_key);
	ctr_hmap_free(&c.fn_by_name);
	ctr_hmap_free(&c.child);
	ctr_hmap_free(&c.attr_idx);
	/* the run's arrays are owned by c.run: free them as a run */
	{
		struct ctr_run *copy = malloc(sizeof(*copy));

		if (copy) {
			*copy = c.run;
			ctr_run_free(copy);
		}
	}
	ctr_rawrun_free(c.raw);
	if (dfd >= 0)
		close(dfd);
	return ret;
}
