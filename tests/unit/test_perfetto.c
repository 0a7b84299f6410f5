/* SPDX-License-Identifier: MIT */
/*
 * The Perfetto export's encoder and output on the fixture run: the message builder's varints
 * and length prefixes byte by byte, then the export read back with a small wire-format reader
 * and replayed per sequence (incremental clock, interned names) into an exact list of events
 * per thread: begins and ends at their times, the mark as an instant, span attributes on the
 * span's end, the lost events on a counter, the calls open at the thread's end closed there and
 * marked. Also the options it refuses and a failed write.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report-fixture.h"
#include "tools/export/export-int.h"
#include "tools/export/export.h"

static size_t enc(uint64_t v, unsigned char *out)
{
	return (size_t)(ctr_pb_put(out, v) - out);
}

Test(perfetto, varints_exact)
{
	unsigned char b[10];

	cr_assert_eq(enc(0, b), 1);
	cr_assert_eq(b[0], 0);
	cr_assert_eq(enc(127, b), 1);
	cr_assert_eq(b[0], 127);
	cr_assert_eq(enc(128, b), 2);
	cr_assert(b[0] == 0x80 && b[1] == 1);
	cr_assert_eq(enc(300, b), 2);
	cr_assert(b[0] == 0xac && b[1] == 0x02);
	cr_assert_eq(enc(16384, b), 3);
	cr_assert_eq(enc(UINT64_MAX, b), 10);
	cr_assert_eq(b[9], 1);
}

/* A length-delimited field of @n bytes of 'x' inside field 7: tag, minimal length, content. */
static void nested(size_t n, size_t want_len_bytes)
{
	struct ctr_pb pb = {0};
	char *body = malloc(n + 1);
	unsigned char v[10];
	size_t m;

	memset(body, 'x', n);
	ctr_pb_varint(&pb, 1, 5);
	m = ctr_pb_open(&pb, 7);
	ctr_pb_bytes(&pb, 2, body, n);
	ctr_pb_close(&pb, m);
	cr_assert(!pb.failed);
	/* 08 05 | 3a LEN(inner) | 12 LEN(n) body */
	size_t inner = 1 + enc(n, v) + n;
	cr_assert_eq(pb.len, 2 + 1 + enc(inner, v) + inner);
	cr_assert_eq(enc(inner, v), want_len_bytes);
	cr_assert(pb.d[0] == 0x08 && pb.d[1] == 5 && pb.d[2] == 0x3a);
	cr_assert_eq(memcmp(pb.d + 3, v, want_len_bytes), 0);
	cr_assert_eq(pb.d[3 + want_len_bytes], 0x12);
	cr_assert_eq(memcmp(pb.d + pb.len - n, body, n), 0);
	ctr_pb_release(&pb);
	free(body);
}

Test(perfetto, nested_lengths_minimal)
{
	nested(0, 1);
	nested(100, 1);
	nested(125, 1);
	nested(126, 2);
	nested(20000, 3);
}

/* ---- a reader of the wire format, enough for the fields the export writes ---- */

static int rd_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
	*v = 0;
	for (int s = 0; s < 64 && *p < end; s += 7) {
		unsigned char c = *(*p)++;

		*v |= (uint64_t)(c & 0x7f) << s;
		if (!(c & 0x80))
			return 0;
	}
	return -1;
}

struct field {
	uint32_t num;
	int wt;
	uint64_t v;
	const unsigned char *d;
	size_t len;
};

/* The next field of [*p, end): 1, 0 at the end; fails the test on bad input. */
static int next_field(const unsigned char **p, const unsigned char *end, struct field *f)
{
	uint64_t tag;

	if (*p >= end)
		return 0;
	cr_assert_eq(rd_varint(p, end, &tag), 0);
	f->num = (uint32_t)(tag >> 3);
	f->wt = (int)(tag & 7);
	cr_assert(f->wt == 0 || f->wt == 2, "wire type %d", f->wt);
	cr_assert_eq(rd_varint(p, end, &f->v), 0);
	if (f->wt == 2) {
		cr_assert_leq(f->v, (uint64_t)(end - *p));
		f->d = *p;
		f->len = (size_t)f->v;
		*p += f->len;
	}
	return 1;
}

#define FOR_FIELDS(f, data, n)                                                                     \
	for (const unsigned char *p_##f = (data), *e_##f = (data) + (n);                           \
	     next_field(&p_##f, e_##f, &f);)

struct seq {
	uint64_t t;
	int incremental, cleared;
	char names[16][64];
};

/* Replays the trace into one line per event: "SEQ TIME TYPE NAME [annotations]". */
static char *replay(const unsigned char *buf, size_t n)
{
	struct seq seqs[8] = {0};
	char *out = NULL;
	size_t olen = 0;
	FILE *o = open_memstream(&out, &olen);
	struct field pk, f, g, h, k;

	FOR_FIELDS(pk, buf, n)
	{
		uint64_t sid = 0, flags = 0, ts = 0, type = 0, iid = 0, val = 0;
		const unsigned char *te = NULL;
		size_t te_len = 0;
		int has_ts = 0;
		char ann[128] = "";

		cr_assert_eq(pk.num, 1);
		FOR_FIELDS(f, pk.d, pk.len)
		{
			if (f.num == 10)
				sid = f.v;
			else if (f.num == 13)
				flags = f.v;
			else if (f.num == 8)
				ts = f.v, has_ts = 1;
			else if (f.num == 11)
				te = f.d, te_len = f.len;
		}
		cr_assert_lt(sid, 8);
		struct seq *s = &seqs[sid];

		if (flags & 1)
			s->cleared = 1;
		FOR_FIELDS(f, pk.d, pk.len)
		{
			if (f.num == 6) /* clock snapshot: clock 64 incremental */
				FOR_FIELDS(g, f.d, f.len)
				{
					uint64_t id = 0, t = 0, inc = 0;

					FOR_FIELDS(h, g.d, g.len)
					{
						id = h.num == 1 ? h.v : id;
						t = h.num == 2 ? h.v : t;
						inc = h.num == 3 ? h.v : inc;
					}
					if (id == 64) {
						s->t = t;
						s->incremental = (int)inc;
					}
				}
			if (f.num == 12) /* interned data: event names */
				FOR_FIELDS(g, f.d, f.len)
				{
					uint64_t i = 0;
					const unsigned char *nm = NULL;
					size_t nl = 0;

					if (g.num != 2)
						continue;
					FOR_FIELDS(h, g.d, g.len)
					{
						if (h.num == 1)
							i = h.v;
						else if (h.num == 2)
							nm = h.d, nl = h.len;
					}
					cr_assert(i < 16 && nl < 64);
					memcpy(s->names[i], nm, nl);
					s->names[i][nl] = 0;
				}
		}
		if (has_ts)
			s->t = s->incremental ? s->t + ts : ts;
		if (!te)
			continue;
		cr_assert(s->cleared && (flags & 2), "packet on sequence %lu uses unset state",
			  (unsigned long)sid);
		FOR_FIELDS(f, te, te_len)
		{
			if (f.num == 9)
				type = f.v;
			else if (f.num == 10)
				iid = f.v;
			else if (f.num == 30)
				val = f.v;
			else if (f.num == 4) {
				char kv[64] = "";

				FOR_FIELDS(k, f.d, f.len)
				{
					size_t l = strlen(kv);

					if (k.num == 10 || k.num == 6)
						snprintf(kv + l, sizeof(kv) - l, "%s%.*s",
							 l ? "=" : "", (int)k.len,
							 (const char *)k.d);
					else if (k.num == 4 || k.num == 2)
						snprintf(kv + l, sizeof(kv) - l, "=%lu",
							 (unsigned long)k.v);
				}
				snprintf(ann + strlen(ann), sizeof(ann) - strlen(ann), " %s", kv);
			}
		}
		cr_assert_lt(iid, 16);
		fprintf(o, "%lu %lu %s %s%s\n", (unsigned long)sid, (unsigned long)(s->t / 1000),
			type == 1   ? "B"
			: type == 2 ? "E"
			: type == 3 ? "I"
				    : "C",
			type == 4 ? ""
			: iid	  ? s->names[iid]
				  : "-",
			ann);
		if (type == 4)
			fprintf(o, "counter %lu\n", (unsigned long)val);
	}
	fclose(o);
	return out;
}

static char *export_perfetto(struct ctr_run *r, size_t *n)
{
	struct ctr_export_opts o;
	struct ctr_export_stats st;
	struct ctr_err e;
	char *buf = NULL;
	FILE *out = open_memstream(&buf, n);

	ctr_err_clear(&e);
	ctr_export_opts_init(&o);
	cr_assert_eq(ctr_export(out, r, CTR_EXPORT_PERFETTO, &o, &st, &e), 0, "%s", e.msg);
	fclose(out);
	cr_assert_eq(st.calls, 8);
	cr_assert_eq(st.marks, 1);
	cr_assert_eq(st.unfinished, 2);
	return buf;
}

Test(perfetto, fixture_events_exact)
{
	struct ctr_run *r = fx_run();
	size_t n;
	char *buf, *got;

	fx_timeline(r);
	buf = export_perfetto(r, &n);
	got = replay((const unsigned char *)buf, n);
	/* times in us; sequence 2 = thread 0, 3 = thread 1 */
	cr_assert_str_eq(got, "2 0 B main\n"
			      "2 10000 B fib\n"
			      "2 20000 B fib\n"
			      "2 30000 E -\n"
			      "2 50000 E -\n"
			      "2 60000 B load\n"
			      "2 61000 I checkpoint\n"
			      "2 70000 B " PUSH_NAME "\n"
			      "2 70500 E -\n"
			      "2 90000 E - file=data<1>.bin size=4096\n"
			      "2 95000 C \n"
			      "counter 7\n"
			      "2 100000 E -\n"
			      "3 5000 B work\n"
			      "3 6000 B " PUSH_NAME "\n"
			      "3 6001 E -\n"
			      "3 40000 B fib\n"
			      "3 50000 E - ctrace.unfinished=1\n"
			      "3 50000 E - ctrace.unfinished=1\n");
	free(got);
	free(buf);
	ctr_run_free(r);
}

Test(perfetto, refuses_selections_and_reports_write_errors)
{
	struct ctr_run *r = fx_run();
	struct ctr_export_opts o;
	struct ctr_err e;
	FILE *full;

	fx_timeline(r);
	ctr_err_clear(&e);
	ctr_export_opts_init(&o);
	o.from_ns = 1;
	cr_assert_eq(ctr_export(stdout, r, CTR_EXPORT_PERFETTO, &o, NULL, &e), CTR_EUSAGE);
	ctr_export_opts_init(&o);
	o.min_duration_ns = 0;
	cr_assert_eq(ctr_export(stdout, r, CTR_EXPORT_PERFETTO, &o, NULL, &e), CTR_EUSAGE);
	full = fopen("/dev/full", "w");
	cr_assert_not_null(full);
	setvbuf(full, NULL, _IONBF, 0); /* the write fails in the export, not at fclose */
	ctr_export_opts_init(&o);
	cr_assert_eq(ctr_export(full, r, CTR_EXPORT_PERFETTO, &o, NULL, &e), CTR_EIO);
	fclose(full);
	cr_assert_eq(ctr_export_parse_format("perfetto"), CTR_EXPORT_PERFETTO);
	cr_assert_eq(ctr_export_load_flags(CTR_EXPORT_PERFETTO, &o), CTR_LOAD_TIMELINE);
	ctr_run_free(r);
}
