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

#include "../common/decode.h"
#include "../common/hmap.h"
#include "../store/timeline.h"
#include "provenance.h"
#include "rundir.h"
#include "symbolize.h"

/* Decoded parts of a raw event file are dropped from memory in steps of this many bytes. */
#define RELEASE_STEP ((size_t)16 << 20)

struct frame {
	uint32_t node;
	uint32_t nchild;  /* direct child calls */
	uint64_t t0;	  /* enter time, ns */
	uint64_t child;	  /* raw time of direct children */
	uint64_t enters0; /* thread enter count before this call */
};

struct fninfo {
	uint32_t module; /* global module, CTR_NONE */
	uint64_t key;	 /* offset, or address when no module */
	char *name;	 /* spans and marks */
};

struct commit {
	struct ctr_rawrun *raw;
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
	uint64_t seq; /* chunks saved */
	uint64_t bytes_done, bytes_total;
	int tty;
};

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 64;

	while (nc < need)
		nc *= 2;
	void *p = realloc(*arr, nc * elem);

	if (!p)
		return -1;
	memset((char *)p + *cap * elem, 0, (nc - *cap) * elem);
	*arr = p;
	*cap = nc;
	return 0;
}

static uint64_t fnv64(const void *s, size_t n, uint64_t h)
{
	const unsigned char *p = s;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h ? h : 1;
}

/* ---- modules and functions ---------------------------------------------------------- */

static int global_module(struct commit *c, const struct ctr_rawmod *m, uint32_t *out)
{
	struct ctr_run *r = &c->run;

	for (size_t i = 0; i < r->n_modules; i++) {
		if (!strcmp(r->modules[i].path, m->path) &&
		    !strcmp(r->modules[i].build_id, m->build_id)) {
			*out = (uint32_t)i;
			return 0;
		}
	}
	if (grow((void **)&r->modules, &c->cap_mods, r->n_modules + 1, sizeof(*r->modules)))
		return CTR_ENOMEM;
	struct ctr_module *g = &r->modules[r->n_modules];

	g->id = (uint32_t)r->n_modules;
	g->path = strdup(m->path);
	g->build_id = strdup(m->build_id);
	g->base = m->bias;
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
			if (global_module(c, &c->raw->procs[i].mods[j],
					  &c->modmap[c->modmap_off[i] + j]))
				return CTR_ENOMEM;
	return 0;
}

static int new_function(struct commit *c, uint32_t kind, uint32_t module, uint64_t key,
			const char *name, size_t len, uint32_t *out)
{
	struct ctr_run *r = &c->run;
	size_t n = r->n_functions;

	if (grow((void **)&r->functions, &c->cap_funcs, n + 1, sizeof(*r->functions)))
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

/* Function of code address @addr in process @pi (module + offset identity). */
static int function_of(struct commit *c, size_t pi, uint64_t addr, uint32_t *out)
{
	const struct ctr_rawproc *p = &c->raw->procs[pi];
	uint32_t module = CTR_NONE, *v;
	uint64_t key;

	for (size_t j = p->n_mods; j-- > 0;) { /* latest mapping wins */
		if (addr >= p->mods[j].start && addr < p->mods[j].end) {
			module = c->modmap[c->modmap_off[pi] + j];
			addr -= p->mods[j].bias;
			break;
		}
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
	uint64_t h = fnv64(s, len, 1469598103934665603ull ^ kind);

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
	if (grow((void **)&r->nodes, &c->cap_nodes, r->n_nodes + 1, sizeof(*r->nodes)))
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
	uint64_t h = fnv64(v, vl, fnv64(k, kl, fnv64(&node, 4, 1469598103934665603ull)));

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
	if (grow((void **)&r->attrs, &c->cap_attrs, r->n_attrs + 1, sizeof(*r->attrs)))
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

static void close_frame(struct commit *c, const struct ctr_rawproc *p, struct frame *f,
			struct frame *parent, uint64_t now, uint64_t enters)
{
	struct ctr_node *n = &c->run.nodes[f->node];
	uint64_t dur = now > f->t0 ? now - f->t0 : 0;
	uint64_t self = dur > f->child ? dur - f->child : 0;
	double inner = c->o->raw_times ? 0 : p->overhead_inner_ns;
	double call = c->o->raw_times ? 0 : p->overhead_call_ns;
	double d = (double)(enters - f->enters0 - 1);
	double ct = (double)dur - inner - d * call;
	double cs = (double)self - inner - (double)f->nchild * (call - inner);
	uint64_t ctot = ct > 0 ? (uint64_t)(ct + 0.5) : 0,
		 cself = cs > 0 ? (uint64_t)(cs + 0.5) : 0;

	n->raw_total_ns += dur;
	n->raw_self_ns += self;
	if (dur < n->raw_min_ns)
		n->raw_min_ns = dur;
	if (dur > n->raw_max_ns)
		n->raw_max_ns = dur;
	n->total_ns += ctot;
	n->self_ns += cself;
	if (ctot < n->min_ns)
		n->min_ns = ctot;
	if (ctot > n->max_ns)
		n->max_ns = ctot;
	if (parent)
		parent->child += dur;
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

static int do_thread(struct commit *c, size_t ti, struct ctr_err *e)
{
	const struct ctr_rawthread *rt = &c->raw->threads[ti];
	const struct ctr_rawproc *p = &c->raw->procs[rt->proc];
	struct ctr_run *r = &c->run;
	struct ctr_thread *th;
	struct ctr_ev_hdr hdr;
	struct ctr_decoder dec;
	struct ctr_tl_writer *w = NULL;
	struct ctr_event ev;
	struct frame *stack = NULL;
	size_t depth = 0, cap = 0, size, map_size;
	const void *words;
	void *map = NULL;
	uint64_t enters = 0, events = 0, first = UINT64_MAX, last = 0;
	double scale = 1e9 / (double)p->ticks_per_sec;
	int64_t base = p->start_real_ns - r->start_unix_ns;
	uint32_t cache_addr_fn[1024];
	uint64_t cache_addr[1024];
	size_t released = 0;
	int ret;

	memset(cache_addr, 0, sizeof(cache_addr));
	ctr_decoder_init(&dec);
	ret = ctr_rawthread_map(rt, &hdr, &words, &size, &map, &map_size, e);
	if (ret)
		return ret;
	if (grow((void **)&r->threads, &c->cap_threads, r->n_threads + 1, sizeof(*r->threads))) {
		ret = CTR_ENOMEM;
		goto out;
	}
	th = &r->threads[r->n_threads];
	memset(th, 0, sizeof(*th));
	th->id = (uint32_t)r->n_threads;
	th->pid = rt->pid;
	th->tid = rt->tid;
	th->name = strndup(hdr.name, sizeof(hdr.name));
	th->lost = hdr.lost_events;
	if (!th->name) {
		ret = CTR_ENOMEM;
		goto out;
	}
	r->n_threads++;
	ret = ctr_tl_writer_open(&w, th->id, chunk_sink, c, e);
	if (ret)
		goto out;
	ctr_decoder_feed(&dec, words, size);
	for (;;) {
		uint64_t ns;
		uint32_t fn, node;

		ret = ctr_decoder_next(&dec, &ev, e);
		if (ret == 0)
			break;
		if (ret < 0) {
			/* a record torn by a kill at the very end is the end of the data */
			if (ret == CTR_EFORMAT && ev.offset + 16 >= size) {
				ctr_err_clear(e);
				ret = 0;
				break;
			}
			ctr_err_ctx(e, rt->path, r->id, (long long)(hdr.hdr_size + ev.offset));
			goto out;
		}
		ret = 0;
		th = &r->threads[r->n_threads - 1];
		{
			double d =
			    (double)(int64_t)(ev.time - p->start_ticks) * scale + (double)base;

			ns = d > 0 ? (uint64_t)d : 0;
		}
		if (ns < last)
			ns = last;
		if (first == UINT64_MAX)
			first = ns;
		last = ns;
		events++;
		if ((events & 0xFFFFF) == 0) {
			progress(c, ev.offset);
			/* pages already decoded leave memory: RSS follows call paths, not events */
			size_t done = (hdr.hdr_size + ev.offset) & ~(size_t)(RELEASE_STEP - 1);

			if (done > released + RELEASE_STEP) {
				madvise((char *)map + released, done - released, MADV_DONTNEED);
				released = done;
			}
		}
		switch (ev.type) {
		case CTR_EV_ENTER:
		case CTR_EV_INHERIT:
		case CTR_EV_SPAN: {
			uint32_t parent = depth ? stack[depth - 1].node : CTR_NONE;

			if (ev.type == CTR_EV_SPAN) {
				ret = named_function(c, CTR_FN_SPAN, ev.str, ev.len, &fn);
			} else {
				size_t h = (ev.ref >> 4) & 1023;

				if (cache_addr[h] == ev.ref + 1) {
					fn = cache_addr_fn[h];
					ret = 0;
				} else {
					ret = function_of(c, rt->proc, ev.ref, &fn);
					cache_addr[h] = ev.ref + 1;
					cache_addr_fn[h] = fn;
				}
			}
			if (ret || (ret = child_node(c, th->id, parent, fn, &node)))
				goto oom;
			r->nodes[node].calls++;
			if (grow((void **)&stack, &cap, depth + 1, sizeof(*stack)))
				goto oom;
			if (depth)
				stack[depth - 1].nchild++;
			stack[depth].node = node;
			stack[depth].nchild = 0;
			stack[depth].t0 = ns;
			stack[depth].child = 0;
			stack[depth].enters0 = enters++;
			depth++;
			ret = ev.type == CTR_EV_INHERIT ? ctr_tl_inherit(w, ns, fn, e)
							: ctr_tl_enter(w, ns, fn, e);
			break;
		}
		case CTR_EV_EXIT:
			if (ev.unmatched || !depth)
				break;
			depth--;
			close_frame(c, p, &stack[depth], depth ? &stack[depth - 1] : NULL, ns,
				    enters);
			ret = ctr_tl_exit(w, ns, e);
			break;
		case CTR_EV_MARK:
			if ((ret = named_function(c, CTR_FN_MARK, ev.str, ev.len, &fn)) ||
			    (ret = child_node(c, th->id, depth ? stack[depth - 1].node : CTR_NONE,
					      fn, &node)))
				goto oom;
			r->nodes[node].calls++;
			r->nodes[node].min_ns = r->nodes[node].raw_min_ns = 0;
			ret = ctr_tl_mark(w, ns, fn, e);
			break;
		case CTR_EV_ATTR_STR:
		case CTR_EV_ATTR_INT: {
			char num[32];
			const char *v = ev.str2;
			size_t vl = ev.len2;

			if (ev.type == CTR_EV_ATTR_INT) {
				vl = (size_t)snprintf(num, sizeof(num), "%lld", (long long)ev.ival);
				v = num;
			}
			if (depth && add_attr(c, stack[depth - 1].node, ev.str, ev.len, v, vl))
				goto oom;
			if (ev.type == CTR_EV_ATTR_INT) {
				char key[CTR_STR_MAX + 1];

				snprintf(key, sizeof(key), "%.*s", (int)ev.len, ev.str);
				ret = ctr_tl_attr_int(w, ns, key, ev.ival, e);
			} else {
				char key[CTR_STR_MAX + 1], val[CTR_STR_MAX + 1];

				snprintf(key, sizeof(key), "%.*s", (int)ev.len, ev.str);
				snprintf(val, sizeof(val), "%.*s", (int)ev.len2, ev.str2);
				ret = ctr_tl_attr_str(w, ns, key, val, e);
			}
			break;
		}
		case CTR_EV_THREAD_NAME: {
			char *nm = strndup(ev.str, ev.len);

			if (!nm)
				goto oom;
			free(th->name);
			th->name = nm;
			break;
		}
		case CTR_EV_LOST:
			th->lost += ev.count;
			ret = ctr_tl_lost(w, ns, ev.count, e);
			break;
		case CTR_EV_COUNT:
			if ((ret = function_of(c, rt->proc, ev.ref, &fn)) ||
			    (ret = child_node(c, th->id, depth ? stack[depth - 1].node : CTR_NONE,
					      fn, &node)) ||
			    grow((void **)&c->counted, &c->cap_counted, r->n_nodes,
				 sizeof(uint64_t)))
				goto oom;
			r->nodes[node].calls += ev.count;
			c->counted[node] += ev.count;
			break;
		default:
			break;
		}
		if (ret)
			goto out;
	}
	/* frames still open (exit, crash, kill) end with the thread's last event */
	while (depth) {
		depth--;
		close_frame(c, p, &stack[depth], depth ? &stack[depth - 1] : NULL, last, enters);
		if ((ret = ctr_tl_exit(w, last, e)))
			goto out;
	}
	ret = ctr_tl_writer_finish(w, e);
	if (ret)
		goto out;
	th = &r->threads[r->n_threads - 1];
	th->start_ns = first == UINT64_MAX ? 0 : first;
	th->end_ns = last;
	th->events = events;
	r->events += events;
	if (th->lost > 0)
		r->lost_events += th->lost;
	c->bytes_done += size;
	goto out;
oom:
	ret = ret ? ret : CTR_ENOMEM;
	if (ret == CTR_ENOMEM)
		ctr_err_set(e, CTR_ENOMEM, 0, "out of memory committing '%s'", c->raw->dir);
out:
	ctr_tl_writer_free(w);
	ctr_decoder_release(&dec);
	free(stack);
	ctr_rawthread_unmap(map, map_size);
	return ret;
}

/* ---- symbolization ------------------------------------------------------------------ */

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

static int symbolize(struct commit *c, struct ctr_err *e)
{
	struct ctr_run *r = &c->run;
	struct ctr_sym *sym = NULL;
	int *symmod = NULL, ret;
	char buf[PATH_MAX + 64];

	ret = ctr_sym_open(&sym, e);
	if (ret)
		return ret;
	symmod = calloc(r->n_modules + 1, sizeof(int));
	if (!symmod) {
		ret = CTR_ENOMEM;
		goto out;
	}
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
		if (symmod[i] < 0) {
			ret = symmod[i];
			goto out;
		}
	}
	for (size_t i = 0; i < r->n_functions; i++) {
		struct ctr_function *f = &r->functions[i];
		struct ctr_sym_info info;
		const char *msg = NULL;

		if (f->kind != CTR_FN_FUNCTION) {
			f->name = strdup(c->fi[i].name);
			f->linkage_name = strdup("");
			f->file = strdup("");
		} else if (f->module == CTR_NONE) {
			snprintf(buf, sizeof(buf), "0x%llx",
				 (unsigned long long)(c->fi[i].key & ~(1ull << 63)));
			f->name = strdup(buf);
			f->linkage_name = strdup("");
			f->file = strdup("");
		} else {
			const struct ctr_module *m = &r->modules[f->module];

			f->offset = c->fi[i].key;
			if (symmod[f->module] >= 0 &&
			    ctr_sym_lookup_in(sym, symmod[f->module], m->base + f->offset, &info) ==
				0) {
				f->name = strdup(info.name);
				f->linkage_name =
				    strdup(info.linkage_name && strcmp(info.linkage_name, info.name)
					       ? info.linkage_name
					       : "");
				f->file = strdup(info.file ? info.file : "");
				f->line = info.line;
			} else {
				snprintf(buf, sizeof(buf), "%s+0x%llx", base_name(m->path),
					 (unsigned long long)f->offset);
				f->name = strdup(buf);
				f->linkage_name = strdup("");
				f->file = strdup("");
				if (symmod[f->module] >= 0 &&
				    ctr_sym_module_status(sym, symmod[f->module], &msg) ==
					CTR_SYM_BUILD_ID_MISMATCH &&
				    msg) {
					fprintf(stderr, "ctrace: warning: %s: not symbolized\n",
						msg);
					symmod[f->module] = -1; /* warn once */
				}
			}
		}
		if (!f->name || !f->linkage_name || !f->file) {
			ret = CTR_ENOMEM;
			goto out;
		}
	}
	/* crash backtraces: "frame=0xADDR" lines become "#N 0xADDR name (file:line) [module]" */
	for (size_t pi = 0; pi < r->n_procs; pi++) {
		const struct ctr_rawproc *p = &c->raw->procs[pi];
		char *bt = p->backtrace, *out = NULL, *line, *save = NULL;
		size_t len = 0, n = 0;
		FILE *f;

		if (!bt)
			continue;
		f = open_memstream(&out, &len);
		if (!f) {
			ret = CTR_ENOMEM;
			goto out;
		}
		bt = strdup(bt);
		for (line = bt ? strtok_r(bt, "\n", &save) : NULL; line;
		     line = strtok_r(NULL, "\n", &save)) {
			unsigned long long a;
			struct ctr_sym_info info = {0};
			int found = 0;

			if (sscanf(line, "frame=0x%llx", &a) != 1) {
				fprintf(f, "%s\n", line);
				continue;
			}
			for (size_t j = p->n_mods; j-- > 0;) {
				const struct ctr_rawmod *m = &p->mods[j];
				uint64_t q =
				    n ? a - 1 : a; /* return addresses point after the call */

				if (q >= m->start && q < m->end) {
					int sm = symmod[c->modmap[c->modmap_off[pi] + j]];

					if (sm >= 0 && ctr_sym_lookup_in(sym, sm, q, &info) == 0)
						found = 1;
					fprintf(f, "#%zu 0x%llx %s [%s+0x%llx]\n", n, a,
						found ? info.name : "??", base_name(m->path),
						(unsigned long long)(q - m->bias));
					found = 2;
					break;
				}
			}
			if (found != 2)
				fprintf(f, "#%zu 0x%llx ??\n", n, a);
			n++;
		}
		free(bt);
		fclose(f);
		free(r->procs[pi].backtrace);
		r->procs[pi].backtrace = out;
	}
	ret = 0;
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
	size_t nm = raw->n_meta + c->o->n_meta;

	r->meta = calloc(nm + 1, sizeof(*r->meta));
	if (!r->meta)
		return CTR_ENOMEM;
	for (size_t i = 0; i < nm; i++) {
		const struct ctr_kv *kv =
		    i < raw->n_meta ? &raw->meta[i] : &c->o->meta[i - raw->n_meta];

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
	struct ctr_kv *nm = realloc(r->meta, (r->n_meta + 1) * sizeof(*nm));

	if (!nm)
		return CTR_ENOMEM;
	r->meta = nm;
	nm[r->n_meta].key = strdup("times_estimated");
	nm[r->n_meta].value = strdup(buf);
	if (!nm[r->n_meta].key || !nm[r->n_meta].value)
		return CTR_ENOMEM;
	r->n_meta++;
	return 0;
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

		if (n->min_ns == UINT64_MAX)
			n->min_ns = 0;
		if (n->raw_min_ns == UINT64_MAX)
			n->raw_min_ns = 0;
	}
}

/* ---- removal ------------------------------------------------------------------------ */

/*
 * Deletes a raw run directory so that no interruption leaves a half run: every file but
 * run.meta first (a kill here leaves a run that is already stored: committing it again only
 * finishes the removal), then the directory is renamed out of sight in one step, and only then
 * do run.meta and the directory go (a kill here leaves a hidden leftover no commit looks at).
 */
static int remove_files(const char *dir)
{
	char hidden[PATH_MAX];
	const char *slash;
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = strlen(dir);
	int dfd, ret = 0;

	if (!d)
		return -1;
	dfd = dirfd(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, "run.meta"))
			if (unlinkat(dfd, de->d_name, 0) != 0 && errno != ENOENT)
				ret = -1;
	closedir(d);
	if (ret)
		return -1;
	while (n > 1 && dir[n - 1] == '/')
		n--;
	slash = memrchr(dir, '/', n);
	if ((size_t)snprintf(hidden, sizeof(hidden), "%.*s.removed-%.*s",
			     slash ? (int)(slash - dir + 1) : 0, dir,
			     (int)(slash ? n - (size_t)(slash - dir) - 1 : n),
			     slash ? slash + 1 : dir) < sizeof(hidden) &&
	    rename(dir, hidden) == 0)
		dir = hidden;
	{
		char meta[PATH_MAX + 16];

		snprintf(meta, sizeof(meta), "%s/run.meta", dir);
		if (unlink(meta) != 0 && errno != ENOENT)
			return -1;
	}
	return rmdir(dir);
}

int ctr_remove_run_dir(const char *dir)
{
	return remove_files(dir);
}

int ctr_is_run_dir(const char *dir)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/run.meta", dir);
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int ctr_commit_dir(struct ctr_store *s, const char *run_dir, const struct ctr_commit_opts *o,
		   char id[CTR_RUN_ID_MAX], struct ctr_err *e)
{
	static const struct ctr_commit_opts defaults;
	struct commit c;
	int ret, begun = 0;

	memset(&c, 0, sizeof(c));
	c.o = o ? o : &defaults;
	c.store = s;
	/* A run already stored is never parsed again: its directory may be half removed. */
	if (ctr_rawrun_id(run_dir, id, NULL) == 0) {
		char found[CTR_RUN_ID_MAX];

		if (ctr_store_resolve(s, id, found, NULL) == 0 && !strcmp(found, id)) {
			if (!c.o->keep && ctr_remove_run_dir(run_dir) != 0)
				fprintf(stderr, "ctrace: warning: cannot remove '%s': %s\n",
					run_dir, strerror(errno));
			return 0;
		}
	}
	ret = ctr_rawrun_open(run_dir, &c.raw, e);
	if (ret)
		goto out;
	snprintf(id, CTR_RUN_ID_MAX, "%s", c.raw->id);
	ctr_err_ctx(e, NULL, c.raw->id, -1);
	c.tty = c.o->progress && isatty(2);
	for (size_t i = 0; i < c.raw->n_threads; i++)
		c.bytes_total += c.raw->threads[i].file_size;
	if ((ret = fill_header(&c)) || (ret = map_modules(&c)))
		goto out;
	ret = ctr_store_save_begin(s, &c.run, e);
	if (ret == CTR_EEXIST) { /* committed meanwhile by someone else: never a second copy */
		if (e)
			ctr_err_clear(e);
		ret = 0;
		if (!c.o->keep && ctr_remove_run_dir(run_dir) != 0)
			fprintf(stderr, "ctrace: warning: cannot remove '%s': %s\n", run_dir,
				strerror(errno));
		goto out;
	}
	if (ret)
		goto out;
	begun = 1;
	for (size_t i = 0; i < c.raw->n_threads; i++)
		if ((ret = do_thread(&c, i, e)))
			goto out;
	if (c.tty)
		fprintf(stderr, "\r\033[K");
	if (c.run.events == 0) {
		ret = ctr_err_set(
		    e, CTR_ENOEVENTS, 0,
		    "no events recorded: was '%s' compiled with -finstrument-functions?",
		    c.raw->command);
		goto out;
	}
	finish_header(&c);
	if ((ret = estimate_sampled(&c)) || (ret = symbolize(&c, e)))
		goto out;
	ret = ctr_store_save_end(s, &c.run, e);
	if (ret)
		goto out;
	begun = 0;
	if (!c.o->keep && ctr_remove_run_dir(run_dir) != 0)
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
	return ret;
}
