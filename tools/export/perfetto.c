/* SPDX-License-Identifier: MIT */
/*
 * Perfetto's native trace format (perfetto.protos.Trace, a stream of TracePacket; the schema is
 * Perfetto's perfetto_trace.proto), written while the timeline is read, one thread at a time:
 * a track per process and per thread, a SLICE_BEGIN / SLICE_END pair per call with interned
 * names and source locations, instants for marks, debug annotations for span attributes and
 * inherited or unfinished frames, a counter track per thread that lost events.
 *
 * The encoder is our own, not protobuf-c: a call is two packets of a dozen bytes written
 * straight into the output buffer, where protobuf-c would fill a message struct per packet and
 * size it before packing it (two passes and, for the nested TrackEvent, an allocation or a
 * hand-managed struct per event). The few fields used are listed below with their numbers;
 * the test decodes the output with protoc and the real schema, so a wrong number fails there.
 *
 * Sequences: descriptors go on sequence 1, which keeps no state. Each thread is a sequence of
 * its own (trusted_packet_sequence_id = thread index + 2): its first packet clears the
 * incremental state and sets the defaults (the thread's track, clock 64), its second is a clock
 * snapshot making clock 64 incremental, so every later packet's timestamp is the delta from the
 * one before (one or two bytes instead of five); names and source locations are interned on
 * first use in the sequence, and every packet that uses that state says so
 * (SEQ_NEEDS_INCREMENTAL_STATE). Per-thread sequences keep each one's timestamps in order
 * without merging threads, and a reader can drop a thread without losing another's names.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../store/timeline.h"
#include "export-int.h"

/* perfetto.protos field numbers (perfetto_trace.proto) */
enum {
	F_TRACE_PACKET = 1,
	/* TracePacket */
	F_PKT_TIMESTAMP = 8,
	F_PKT_SEQ_ID = 10,
	F_PKT_TRACK_EVENT = 11,
	F_PKT_INTERNED = 12,
	F_PKT_SEQ_FLAGS = 13,
	F_PKT_CLOCK_SNAPSHOT = 6,
	F_PKT_DEFAULTS = 59,
	F_PKT_TRACK_DESCRIPTOR = 60,
	/* TrackEvent */
	F_TE_ANNOTATION = 4,
	F_TE_TYPE = 9,
	F_TE_NAME_IID = 10,
	F_TE_TRACK_UUID = 11,
	F_TE_CATEGORIES = 22,
	F_TE_COUNTER_VALUE = 30,
	F_TE_SRCLOC_IID = 34,
	/* DebugAnnotation */
	F_DA_BOOL = 2,
	F_DA_INT = 4,
	F_DA_STRING = 6,
	F_DA_NAME = 10,
	/* InternedData; EventName and SourceLocation */
	F_ID_EVENT_NAMES = 2,
	F_ID_SOURCE_LOCATIONS = 4,
	F_IID = 1,
	F_EN_NAME = 2,
	F_SL_FILE = 2,
	F_SL_FUNCTION = 3,
	F_SL_LINE = 4,
	/* TrackDescriptor, ProcessDescriptor, ThreadDescriptor, CounterDescriptor */
	F_TD_UUID = 1,
	F_TD_NAME = 2,
	F_TD_PROCESS = 3,
	F_TD_THREAD = 4,
	F_TD_PARENT = 5,
	F_TD_COUNTER = 8,
	F_PD_PID = 1,
	F_PD_CMDLINE = 2,
	F_PD_NAME = 6,
	F_THD_PID = 1,
	F_THD_TID = 2,
	F_THD_NAME = 5,
	F_CD_UNIT = 3,
	/* TracePacketDefaults, TrackEventDefaults, ClockSnapshot(.Clock) */
	F_DEF_CLOCK_ID = 58,
	F_DEF_TRACK_EVENT = 11,
	F_TED_TRACK_UUID = 11,
	F_CS_CLOCKS = 1,
	F_CL_ID = 1,
	F_CL_TIMESTAMP = 2,
	F_CL_INCREMENTAL = 3,
};

enum { TYPE_SLICE_BEGIN = 1, TYPE_SLICE_END = 2, TYPE_INSTANT = 3, TYPE_COUNTER = 4 };
#define SEQ_INCREMENTAL_STATE_CLEARED 1
#define SEQ_NEEDS_INCREMENTAL_STATE 2
#define CLOCK_REALTIME_ID 1
#define CLOCK_BOOTTIME_ID 6
#define CLOCK_INCREMENTAL 64 /* sequence-scoped: 64..127 */
#define UNIT_COUNT 2
#define SEQ_DESCRIPTORS 1

/* Track uuids: the kind in the top byte, then the pid or thread index. */
#define UUID_PROCESS(pid) ((1ull << 56) | (uint32_t)(pid))
#define UUID_THREAD(i) ((2ull << 56) | (uint64_t)(i))
#define UUID_LOST(i) ((3ull << 56) | (uint64_t)(i))

#define PF_BUF 65536
#define PF_HOT_MAX 64 /* a plain BEGIN/END/COUNTER packet is shorter than this */

/* An attribute waiting for its frame's END packet (annotations are written on the END, which
 * Perfetto merges into the slice: the BEGIN is out before the attribute is read). */
struct pf_attr {
	uint32_t depth;
	size_t off, len; /* encoded DebugAnnotation field in pf.attrs */
};

struct pf {
	FILE *out;
	const struct ctr_run *run;
	struct ctr_store *store;
	ctr_tl_fetch fetch;
	void *fetch_arg;
	unsigned char *buf; /* PF_BUF bytes of output not yet written */
	size_t n;
	int werr;		 /* a write failed */
	uint64_t seq;		 /* current thread's sequence id */
	uint64_t last;		 /* its last timestamp (the incremental clock) */
	unsigned char *interned; /* per function: 1 once its name (and location) is interned here */
	struct ctr_pb pkt, te, attrs;
	struct pf_attr *pending;
	size_t n_pending, cap_pending;
	uint32_t depth;
	uint64_t lost; /* current thread's lost events so far */
	int lost_track;
	struct ctr_export_stats st;
};

static void pf_flush(struct pf *pf)
{
	if (pf->n && fwrite(pf->buf, 1, pf->n, pf->out) != pf->n)
		pf->werr = 1;
	pf->n = 0;
}

/* Writes a whole TracePacket whose body is @pb. */
static void pf_emit(struct pf *pf, const struct ctr_pb *pb)
{
	unsigned char hdr[12], *p = hdr;

	*p++ = F_TRACE_PACKET << 3 | 2;
	p = ctr_pb_put(p, pb->len);
	if (pf->n + (size_t)(p - hdr) + pb->len > PF_BUF)
		pf_flush(pf);
	if ((size_t)(p - hdr) + pb->len > PF_BUF) {
		if (fwrite(hdr, 1, (size_t)(p - hdr), pf->out) != (size_t)(p - hdr) ||
		    fwrite(pb->d, 1, pb->len, pf->out) != pb->len)
			pf->werr = 1;
		return;
	}
	memcpy(pf->buf + pf->n, hdr, (size_t)(p - hdr));
	pf->n += (size_t)(p - hdr);
	memcpy(pf->buf + pf->n, pb->d, pb->len);
	pf->n += pb->len;
}

/* The delta of @t on the thread's incremental clock (times of a thread never go back). */
static uint64_t pf_delta(struct pf *pf, uint64_t t)
{
	uint64_t d = t >= pf->last ? t - pf->last : 0;

	pf->last += d;
	return d;
}

static inline size_t pf_vsize(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* HOT: a BEGIN or END of one call with nothing to intern or annotate, written straight into
 * the output buffer: timestamp delta, sequence id and flags, then the TrackEvent (type, name,
 * source location), lengths computed first so that nothing is copied. */
static void pf_slice_hot(struct pf *pf, uint64_t t, int type, uint64_t name_iid, uint64_t loc_iid)
{
	size_t te =
	    2 + (name_iid ? 1 + pf_vsize(name_iid) : 0) + (loc_iid ? 2 + pf_vsize(loc_iid) : 0);
	unsigned char *p, *start;

	if (pf->n + PF_HOT_MAX > PF_BUF)
		pf_flush(pf);
	start = p = pf->buf + pf->n;
	*p++ = F_TRACE_PACKET << 3 | 2;
	p++; /* length, under 128: filled in below */
	*p++ = F_PKT_TIMESTAMP << 3;
	p = ctr_pb_put(p, pf_delta(pf, t));
	*p++ = F_PKT_SEQ_ID << 3;
	p = ctr_pb_put(p, pf->seq);
	*p++ = F_PKT_SEQ_FLAGS << 3;
	*p++ = SEQ_NEEDS_INCREMENTAL_STATE;
	*p++ = F_PKT_TRACK_EVENT << 3 | 2;
	*p++ = (unsigned char)te;
	*p++ = F_TE_TYPE << 3;
	*p++ = (unsigned char)type;
	if (name_iid) {
		*p++ = F_TE_NAME_IID << 3;
		p = ctr_pb_put(p, name_iid);
	}
	if (loc_iid) {
		p = ctr_pb_put(p, F_TE_SRCLOC_IID << 3);
		p = ctr_pb_put(p, loc_iid);
	}
	start[1] = (unsigned char)(p - start - 2);
	pf->n = (size_t)(p - pf->buf);
}

/* Starts a packet on the thread's sequence in pf->pkt (timestamp delta, id, flags). */
static void pf_pkt_begin(struct pf *pf, uint64_t t)
{
	pf->pkt.len = 0;
	ctr_pb_varint(&pf->pkt, F_PKT_TIMESTAMP, pf_delta(pf, t));
	ctr_pb_varint(&pf->pkt, F_PKT_SEQ_ID, pf->seq);
	ctr_pb_varint(&pf->pkt, F_PKT_SEQ_FLAGS, SEQ_NEEDS_INCREMENTAL_STATE);
}

/* Interns what @fid needs in this sequence into pf->pkt: its name (iid fid + 1) and, when
 * symbolized to a file, its source location (same iid, another table). Sets *@loc. */
static void pf_intern(struct pf *pf, uint32_t fid, uint64_t *loc)
{
	const struct ctr_function *fn =
	    fid < pf->run->n_functions ? &pf->run->functions[fid] : NULL;
	int has_loc = fn && fn->file && *fn->file;
	size_t m, e;

	*loc = has_loc ? (uint64_t)fid + 1 : 0;
	if (fid >= pf->run->n_functions || pf->interned[fid])
		return;
	pf->interned[fid] = 1;
	m = ctr_pb_open(&pf->pkt, F_PKT_INTERNED);
	e = ctr_pb_open(&pf->pkt, F_ID_EVENT_NAMES);
	ctr_pb_varint(&pf->pkt, F_IID, (uint64_t)fid + 1);
	ctr_pb_str(&pf->pkt, F_EN_NAME, ctr_export_fn_name(pf->run, fid));
	ctr_pb_close(&pf->pkt, e);
	if (has_loc) {
		e = ctr_pb_open(&pf->pkt, F_ID_SOURCE_LOCATIONS);
		ctr_pb_varint(&pf->pkt, F_IID, (uint64_t)fid + 1);
		ctr_pb_str(&pf->pkt, F_SL_FILE, fn->file);
		ctr_pb_str(&pf->pkt, F_SL_FUNCTION, ctr_export_fn_name(pf->run, fid));
		if (fn->line)
			ctr_pb_varint(&pf->pkt, F_SL_LINE, fn->line);
		ctr_pb_close(&pf->pkt, e);
	}
	ctr_pb_close(&pf->pkt, m);
}

/* Appends a bool DebugAnnotation named @name to pf->te. */
static void pf_flag(struct ctr_pb *te, const char *name)
{
	size_t m = ctr_pb_open(te, F_TE_ANNOTATION);

	ctr_pb_str(te, F_DA_NAME, name);
	ctr_pb_varint(te, F_DA_BOOL, 1);
	ctr_pb_close(te, m);
}

static const char *kind_category(uint32_t kind)
{
	return kind == CTR_FN_SPAN ? "span" : kind == CTR_FN_MARK ? "mark" : NULL;
}

/* ENTER / INHERIT (an open frame a flight-recorder snapshot began inside, annotated
 * ctrace.inherited) and MARK (an instant): interned on first use, else the hot path. */
static void pf_named(struct pf *pf, uint64_t t, uint32_t fid, int type, int inherited)
{
	uint32_t kind = fid < pf->run->n_functions ? pf->run->functions[fid].kind : 0;
	const char *cat = kind_category(kind);
	uint64_t loc;

	if (fid < pf->run->n_functions && pf->interned[fid] && !inherited && !cat) {
		const struct ctr_function *fn = &pf->run->functions[fid];

		pf_slice_hot(pf, t, type, (uint64_t)fid + 1,
			     fn->file && *fn->file ? (uint64_t)fid + 1 : 0);
		return;
	}
	pf_pkt_begin(pf, t);
	pf_intern(pf, fid, &loc);
	pf->te.len = 0;
	ctr_pb_varint(&pf->te, F_TE_TYPE, (uint64_t)type);
	if (fid < pf->run->n_functions)
		ctr_pb_varint(&pf->te, F_TE_NAME_IID, (uint64_t)fid + 1);
	else
		ctr_pb_str(&pf->te, 23 /* name */, "?");
	if (loc)
		ctr_pb_varint(&pf->te, F_TE_SRCLOC_IID, loc);
	if (cat)
		ctr_pb_str(&pf->te, F_TE_CATEGORIES, cat);
	if (inherited)
		pf_flag(&pf->te, "ctrace.inherited");
	if (!pf->te.failed)
		ctr_pb_bytes(&pf->pkt, F_PKT_TRACK_EVENT, pf->te.d, pf->te.len);
	if (!pf->pkt.failed)
		pf_emit(pf, &pf->pkt);
}

/* The END of the innermost frame, with the attributes it collected and, when the thread ended
 * with it open, ctrace.unfinished. */
static void pf_end(struct pf *pf, uint64_t t, int unfinished)
{
	size_t first = pf->n_pending;

	pf->depth--;
	while (first && pf->pending[first - 1].depth == pf->depth)
		first--;
	if (first == pf->n_pending && !unfinished) {
		pf_slice_hot(pf, t, TYPE_SLICE_END, 0, 0);
		return;
	}
	pf_pkt_begin(pf, t);
	pf->te.len = 0;
	ctr_pb_varint(&pf->te, F_TE_TYPE, TYPE_SLICE_END);
	for (size_t i = first; i < pf->n_pending; i++)
		ctr_pb_bytes(&pf->te, F_TE_ANNOTATION, pf->attrs.d + pf->pending[i].off,
			     pf->pending[i].len);
	if (unfinished)
		pf_flag(&pf->te, "ctrace.unfinished");
	if (!pf->te.failed)
		ctr_pb_bytes(&pf->pkt, F_PKT_TRACK_EVENT, pf->te.d, pf->te.len);
	if (!pf->pkt.failed)
		pf_emit(pf, &pf->pkt);
	if (first < pf->n_pending)
		pf->attrs.len = pf->pending[first].off;
	pf->n_pending = first;
}

/* An attribute of the innermost open frame, kept until its END. */
static int pf_attr(struct pf *pf, const struct ctr_event *ev)
{
	struct pf_attr *a;

	if (!pf->depth)
		return 0;
	if (pf->n_pending == pf->cap_pending) {
		size_t ncap = pf->cap_pending ? pf->cap_pending * 2 : 16;
		struct pf_attr *np = realloc(pf->pending, ncap * sizeof(*np));

		if (!np)
			return CTR_ENOMEM;
		pf->pending = np;
		pf->cap_pending = ncap;
	}
	a = &pf->pending[pf->n_pending++];
	a->depth = pf->depth - 1;
	a->off = pf->attrs.len;
	/* the DebugAnnotation body alone: pf_end() wraps it in its field */
	ctr_pb_bytes(&pf->attrs, F_DA_NAME, ev->str, ev->len);
	if (ev->type == CTR_EV_ATTR_INT)
		ctr_pb_varint(&pf->attrs, F_DA_INT, (uint64_t)ev->ival);
	else
		ctr_pb_bytes(&pf->attrs, F_DA_STRING, ev->str2, ev->len2);
	a->len = pf->attrs.len - a->off;
	return pf->attrs.failed ? CTR_ENOMEM : 0;
}

/* LOST: the thread's running total on its counter track (described on first use). */
static void pf_lost(struct pf *pf, uint32_t th, uint64_t t, uint64_t count)
{
	size_t m;

	if (!pf->lost_track) {
		pf->lost_track = 1;
		pf->pkt.len = 0;
		ctr_pb_varint(&pf->pkt, F_PKT_SEQ_ID, pf->seq);
		m = ctr_pb_open(&pf->pkt, F_PKT_TRACK_DESCRIPTOR);
		ctr_pb_varint(&pf->pkt, F_TD_UUID, UUID_LOST(th));
		ctr_pb_varint(&pf->pkt, F_TD_PARENT, UUID_THREAD(th));
		ctr_pb_str(&pf->pkt, F_TD_NAME, "ctrace: lost events");
		ctr_pb_bytes(&pf->pkt, F_TD_COUNTER,
			     (const unsigned char[]){F_CD_UNIT << 3, UNIT_COUNT}, 2);
		ctr_pb_close(&pf->pkt, m);
		if (!pf->pkt.failed)
			pf_emit(pf, &pf->pkt);
	}
	pf->lost += count;
	pf_pkt_begin(pf, t);
	m = ctr_pb_open(&pf->pkt, F_PKT_TRACK_EVENT);
	ctr_pb_varint(&pf->pkt, F_TE_TYPE, TYPE_COUNTER);
	ctr_pb_varint(&pf->pkt, F_TE_TRACK_UUID, UUID_LOST(th));
	ctr_pb_varint(&pf->pkt, F_TE_COUNTER_VALUE, pf->lost);
	ctr_pb_close(&pf->pkt, m);
	if (!pf->pkt.failed)
		pf_emit(pf, &pf->pkt);
}

/* The first two packets of thread @th's sequence: cleared state and defaults, then the clock
 * snapshot that starts its incremental clock at 0, the run's start (trace time, BOOTTIME, is ns
 * since the run's start; REALTIME the wall clock). Not at the thread's start: a thread's first
 * event may come before the start the recorder wrote for it, and the first delta is paid once. */
static void pf_sequence(struct pf *pf, uint32_t th)
{
	const uint64_t t0 = 0;
	size_t m, d, c;
	const struct {
		uint32_t id;
		uint64_t ts;
		int incremental;
	} clocks[] = {
	    {CLOCK_INCREMENTAL, t0, 1},
	    {CLOCK_BOOTTIME_ID, t0, 0},
	    {CLOCK_REALTIME_ID, (uint64_t)pf->run->start_unix_ns + t0, 0},
	};

	pf->seq = th + 2;
	pf->last = t0;
	pf->pkt.len = 0;
	ctr_pb_varint(&pf->pkt, F_PKT_SEQ_ID, pf->seq);
	ctr_pb_varint(&pf->pkt, F_PKT_SEQ_FLAGS, SEQ_INCREMENTAL_STATE_CLEARED);
	m = ctr_pb_open(&pf->pkt, F_PKT_DEFAULTS);
	ctr_pb_varint(&pf->pkt, F_DEF_CLOCK_ID, CLOCK_INCREMENTAL);
	d = ctr_pb_open(&pf->pkt, F_DEF_TRACK_EVENT);
	ctr_pb_varint(&pf->pkt, F_TED_TRACK_UUID, UUID_THREAD(th));
	ctr_pb_close(&pf->pkt, d);
	ctr_pb_close(&pf->pkt, m);
	if (!pf->pkt.failed)
		pf_emit(pf, &pf->pkt);

	pf->pkt.len = 0;
	ctr_pb_varint(&pf->pkt, F_PKT_SEQ_ID, pf->seq);
	m = ctr_pb_open(&pf->pkt, F_PKT_CLOCK_SNAPSHOT);
	for (size_t i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++) {
		c = ctr_pb_open(&pf->pkt, F_CS_CLOCKS);
		ctr_pb_varint(&pf->pkt, F_CL_ID, clocks[i].id);
		ctr_pb_varint(&pf->pkt, F_CL_TIMESTAMP, clocks[i].ts);
		if (clocks[i].incremental)
			ctr_pb_varint(&pf->pkt, F_CL_INCREMENTAL, 1);
		ctr_pb_close(&pf->pkt, c);
	}
	ctr_pb_close(&pf->pkt, m);
	if (!pf->pkt.failed)
		pf_emit(pf, &pf->pkt);
}

/* One event of the thread's stream. */
static int pf_event(struct pf *pf, uint32_t th, const struct ctr_event *ev)
{
	switch (ev->type) {
	case CTR_EV_ENTER:
	case CTR_EV_INHERIT:
		pf_named(pf, ev->time, (uint32_t)ev->ref, TYPE_SLICE_BEGIN,
			 ev->type == CTR_EV_INHERIT);
		pf->depth++;
		pf->st.calls++;
		return 0;
	case CTR_EV_EXIT:
		if (pf->depth) /* an unmatched exit closes nothing */
			pf_end(pf, ev->time, 0);
		return 0;
	case CTR_EV_MARK:
		pf_named(pf, ev->time, (uint32_t)ev->ref, TYPE_INSTANT, 0);
		pf->st.marks++;
		return 0;
	case CTR_EV_ATTR_STR:
	case CTR_EV_ATTR_INT:
		return pf_attr(pf, ev);
	case CTR_EV_LOST:
		pf_lost(pf, th, ev->time, ev->count);
		return 0;
	default: /* off-CPU gaps are not exported (their slices would end out of order) */
		return 0;
	}
}

static int pf_thread(struct pf *pf, uint32_t th, struct ctr_err *e)
{
	const struct ctr_thread *t = &pf->run->threads[th];
	struct ctr_tl_iter *it = NULL;
	struct ctr_event ev;
	uint64_t now;
	int ret, r;

	ret = pf->store ? ctr_tl_iter_open_store(&it, pf->store, pf->run, th, e)
			: ctr_tl_iter_open(&it, pf->run, th, e);
	if (ret)
		return ret;
	if (!pf->store && pf->fetch)
		ctr_tl_iter_set_fetch(it, pf->fetch, pf->fetch_arg);
	memset(pf->interned, 0, pf->run->n_functions);
	pf->depth = 0;
	pf->n_pending = 0;
	pf->attrs.len = 0;
	pf->lost = 0;
	pf->lost_track = 0;
	pf_sequence(pf, th);
	now = 0;
	while ((r = ctr_tl_iter_next(it, &ev, e)) > 0) {
		now = ev.time > now ? ev.time : now;
		if ((ret = pf_event(pf, th, &ev)))
			break;
		if (pf->werr || pf->pkt.failed || pf->te.failed) {
			ret = pf->werr ? 0 : CTR_ENOMEM;
			break;
		}
	}
	if (r < 0)
		ret = r;
	if (!ret) {
		/* still open at the end (crash, exit without return): closed at the thread end */
		uint64_t end = t->end_ns > now ? t->end_ns : now;

		/* lost where no LOST event says when (a cut by --max-size, a full ring): at the end
		 */
		if (t->lost > pf->lost)
			pf_lost(pf, th, end, t->lost - pf->lost);
		pf->st.unfinished += pf->depth;
		while (pf->depth)
			pf_end(pf, end, 1);
	}
	if (ret == CTR_ENOMEM)
		ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory writing the perfetto export");
	ctr_tl_iter_close(it);
	return ret;
}

static const char *proc_command(const struct ctr_run *run, int32_t pid)
{
	for (size_t i = run->n_procs; i-- > 0;)
		if (run->procs[i].pid == pid && run->procs[i].command)
			return run->procs[i].command;
	return run->command ? run->command : "";
}

/* The process name Perfetto shows: the file name of the pid's last exec'd image, NULL if none
 * is known (the command line is there anyway). */
static const char *proc_name(const struct ctr_run *run, int32_t pid)
{
	for (size_t i = run->n_procs; i-- > 0;)
		if (run->procs[i].pid == pid && run->procs[i].exe && *run->procs[i].exe) {
			const char *slash = strrchr(run->procs[i].exe, '/');

			return slash ? slash + 1 : run->procs[i].exe;
		}
	return NULL;
}

/* Sequence 1: one ProcessDescriptor track per process, one ThreadDescriptor track per thread
 * (a child of its process's). */
static void pf_descriptors(struct pf *pf)
{
	const struct ctr_run *run = pf->run;
	size_t m, d;

	for (size_t i = 0; i < run->n_threads; i++) {
		const struct ctr_thread *t = &run->threads[i];
		const char *pname = proc_name(run, t->pid);
		int seen = 0;

		for (size_t k = 0; k < i; k++)
			seen |= run->threads[k].pid == t->pid;
		if (!seen) {
			pf->pkt.len = 0;
			ctr_pb_varint(&pf->pkt, F_PKT_SEQ_ID, SEQ_DESCRIPTORS);
			m = ctr_pb_open(&pf->pkt, F_PKT_TRACK_DESCRIPTOR);
			ctr_pb_varint(&pf->pkt, F_TD_UUID, UUID_PROCESS(t->pid));
			d = ctr_pb_open(&pf->pkt, F_TD_PROCESS);
			ctr_pb_varint(&pf->pkt, F_PD_PID, (uint64_t)(int64_t)t->pid);
			ctr_pb_str(&pf->pkt, F_PD_CMDLINE, proc_command(run, t->pid));
			if (pname)
				ctr_pb_str(&pf->pkt, F_PD_NAME, pname);
			ctr_pb_close(&pf->pkt, d);
			ctr_pb_close(&pf->pkt, m);
			if (!pf->pkt.failed)
				pf_emit(pf, &pf->pkt);
		}
		pf->pkt.len = 0;
		ctr_pb_varint(&pf->pkt, F_PKT_SEQ_ID, SEQ_DESCRIPTORS);
		m = ctr_pb_open(&pf->pkt, F_PKT_TRACK_DESCRIPTOR);
		ctr_pb_varint(&pf->pkt, F_TD_UUID, UUID_THREAD(i));
		ctr_pb_varint(&pf->pkt, F_TD_PARENT, UUID_PROCESS(t->pid));
		d = ctr_pb_open(&pf->pkt, F_TD_THREAD);
		ctr_pb_varint(&pf->pkt, F_THD_PID, (uint64_t)(int64_t)t->pid);
		ctr_pb_varint(&pf->pkt, F_THD_TID, (uint64_t)(int64_t)t->tid);
		ctr_pb_str(&pf->pkt, F_THD_NAME, t->name && *t->name ? t->name : "thread");
		ctr_pb_close(&pf->pkt, d);
		ctr_pb_close(&pf->pkt, m);
		pf_emit(pf, &pf->pkt);
	}
}

int ctr_export_perfetto(FILE *out, const struct ctr_run *run, const struct ctr_export_opts *o,
			struct ctr_export_stats *st, struct ctr_err *e)
{
	struct pf pf = {.out = out,
			.run = run,
			.store = o->store,
			.fetch = o->fetch,
			.fetch_arg = o->fetch_arg};
	int ret = 0;

	if (o->min_duration_ns >= 0 || o->max_events >= 0 || o->from_ns || o->to_ns)
		return ctr_err_set(e, CTR_EUSAGE, 0,
				   "the perfetto export is the whole run: --min-duration, "
				   "--max-events, --from and --to do not apply");
	pf.buf = malloc(PF_BUF);
	pf.interned = calloc(run->n_functions + 1, 1);
	if (!pf.buf || !pf.interned) {
		ret = ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory writing the export");
		goto out;
	}
	pf_descriptors(&pf);
	for (size_t th = 0; !ret && !pf.werr && th < run->n_threads; th++)
		ret = pf_thread(&pf, (uint32_t)th, e);
	if (!ret && pf.pkt.failed)
		ret = ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory writing the export");
	pf_flush(&pf);
	if (!ret && pf.werr)
		ret =
		    ctr_err_set(e, CTR_EIO, errno, "cannot write the export: %s", strerror(errno));
	if (!ret)
		ret = ctr_export_status(out, e);
	if (st)
		*st = pf.st;
out:
	free(pf.buf);
	free(pf.interned);
	free(pf.pending);
	ctr_pb_release(&pf.pkt);
	ctr_pb_release(&pf.te);
	ctr_pb_release(&pf.attrs);
	return ret;
}
