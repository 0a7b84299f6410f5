/* SPDX-License-Identifier: MIT */
/*
 * Context switches of a recorded program (sched.h). The recorder owns the perf events: one
 * PERF_COUNT_SW_DUMMY event per CPU with context_switch set on the child before its exec
 * (enable_on_exec, inherit), so the program's own file descriptors and threads are never
 * touched. Their mmap rings hold PERF_RECORD_SWITCH records with the thread, time
 * (CLOCK_MONOTONIC, through use_clockid) and CPU after them (sample_id_all); each drain copies
 * them as fixed records into sched.raw. Commit sorts them per thread and reads them as a
 * cumulative off-CPU clock beside the thread's events.
 */
#include "sched.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../../common/grow.h"
#include "rundir.h"

#define RING_PAGES 64 /* data pages per CPU: 256 KiB, ~8000 switches between two drains */
#define SCHED_FILE_CAP ((uint64_t)1 << 30)

struct cpu_ring {
	int fd;
	struct perf_event_mmap_page *mp;
	size_t map_len;
};

struct ctr_sched {
	int out; /* sched.raw */
	struct cpu_ring *cpu;
	size_t n_cpu;
	size_t page;
	uint64_t records, lost;
	unsigned char buf[64 * CTR_SCHED_REC_SIZE];
	size_t nbuf;
};

static void put_hdr(unsigned char *h, uint64_t records, uint64_t lost)
{
	uint16_t v = htole16(CTR_SCHED_VERSION), hs = htole16(CTR_SCHED_HDR_SIZE);
	uint32_t rs = htole32(CTR_SCHED_REC_SIZE), clock = htole32(CLOCK_MONOTONIC);
	uint64_t r = htole64(records), l = htole64(lost);

	memset(h, 0, CTR_SCHED_HDR_SIZE);
	memcpy(h, CTR_SCHED_MAGIC, 8);
	memcpy(h + 8, &v, 2);
	memcpy(h + 10, &hs, 2);
	memcpy(h + 12, &rs, 4);
	memcpy(h + 16, &clock, 4);
	memcpy(h + 24, &r, 8);
	memcpy(h + 32, &l, 8);
}

static int open_cpu(pid_t pid, int cpu)
{
	struct perf_event_attr a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_SOFTWARE;
	a.config = PERF_COUNT_SW_DUMMY;
	a.sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CPU;
	a.disabled = 1;
	a.enable_on_exec = 1;
	a.inherit = 1;
	a.context_switch = 1;
	a.sample_id_all = 1;
	a.use_clockid = 1;
	a.clockid = CLOCK_MONOTONIC;
	a.exclude_kernel = 1; /* what paranoid 2 allows; switches are reported all the same */
	a.exclude_hv = 1;
	return (int)syscall(SYS_perf_event_open, &a, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

int ctr_sched_open(const char *dir, pid_t pid, struct ctr_sched **out, struct ctr_err *e)
{
	struct ctr_sched *s = calloc(1, sizeof(*s));
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	char path[4200];
	unsigned char hdr[CTR_SCHED_HDR_SIZE];
	int ret = 0, err = 0;

	*out = NULL;
	if (!s || ncpu < 1 || !(s->cpu = calloc((size_t)ncpu, sizeof(*s->cpu)))) {
		free(s);
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory");
	}
	s->out = -1;
	s->page = (size_t)sysconf(_SC_PAGESIZE);
	for (long c = 0; c < ncpu; c++) {
		struct cpu_ring *r = &s->cpu[s->n_cpu];
		void *m;

		if ((r->fd = open_cpu(pid, (int)c)) < 0) {
			if (errno == ENODEV || errno == ENXIO || errno == EINVAL) /* offline CPU */
				continue;
			err = errno;
			goto fail;
		}
		r->map_len = (1 + RING_PAGES) * s->page;
		m = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
		if (m == MAP_FAILED) {
			err = errno;
			close(r->fd);
			goto fail;
		}
		r->mp = m;
		s->n_cpu++;
	}
	if (!s->n_cpu) {
		err = ENODEV;
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, CTR_SCHED_FILE);
	s->out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	put_hdr(hdr, 0, 0);
	if (s->out < 0 || write(s->out, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr)) {
		ret =
		    ctr_err_set(e, CTR_EIO, errno, "cannot create '%s': %s", path, strerror(errno));
		ctr_sched_close(s, NULL, NULL);
		return ret;
	}
	*out = s;
	return 0;
fail:
	ctr_sched_close(s, NULL, NULL);
	return ctr_err_set(e, CTR_EIO, err,
			   "cannot open context-switch events: %s (needs perf_event_paranoid <= 2 "
			   "or CAP_PERFMON)",
			   strerror(err));
}

static void flush_buf(struct ctr_sched *s)
{
	if (s->nbuf && s->out >= 0 && write(s->out, s->buf, s->nbuf) != (ssize_t)s->nbuf)
		s->lost += s->nbuf / CTR_SCHED_REC_SIZE; /* a full disk: counted, not kept */
	s->nbuf = 0;
}

/* One kernel record (@len bytes at @p): a switch becomes a sched.raw record. */
static int64_t take_record(struct ctr_sched *s, const unsigned char *p, size_t len)
{
	struct perf_event_header h;
	struct {
		uint32_t pid, tid;
		uint64_t time;
		uint32_t cpu, res;
	} id;
	uint32_t kind;
	unsigned char *o;

	memcpy(&h, p, sizeof(h));
	if (h.type == PERF_RECORD_LOST && len >= sizeof(h) + 16) {
		uint64_t n;

		memcpy(&n, p + sizeof(h) + 8, 8);
		s->lost += n;
		return 0;
	}
	if (h.type != PERF_RECORD_SWITCH || len < sizeof(h) + sizeof(id))
		return 0;
	memcpy(&id, p + len - sizeof(id), sizeof(id));
	kind = !(h.misc & PERF_RECORD_MISC_SWITCH_OUT)		? CTR_SCHED_IN
	       : (h.misc & PERF_RECORD_MISC_SWITCH_OUT_PREEMPT) ? CTR_SCHED_PREEMPT
								: CTR_SCHED_OUT;
	if (s->nbuf + CTR_SCHED_REC_SIZE > sizeof(s->buf))
		flush_buf(s);
	o = s->buf + s->nbuf;
	{
		uint64_t t = htole64(id.time);
		uint32_t pid = htole32(id.pid), tid = htole32(id.tid), cpu = htole32(id.cpu);
		uint32_t k = htole32(kind);

		memcpy(o, &t, 8);
		memcpy(o + 8, &pid, 4);
		memcpy(o + 12, &tid, 4);
		memcpy(o + 16, &cpu, 4);
		memcpy(o + 20, &k, 4);
	}
	s->nbuf += CTR_SCHED_REC_SIZE;
	s->records++;
	return 1;
}

int64_t ctr_sched_drain(struct ctr_sched *s)
{
	int64_t got = 0;

	if (!s)
		return 0;
	for (size_t c = 0; c < s->n_cpu; c++) {
		struct perf_event_mmap_page *mp = s->cpu[c].mp;
		const unsigned char *data = (const unsigned char *)mp + s->page;
		uint64_t size = RING_PAGES * s->page;
		uint64_t head = __atomic_load_n(&mp->data_head, __ATOMIC_ACQUIRE);
		uint64_t tail = mp->data_tail;

		while (tail + sizeof(struct perf_event_header) <= head) {
			unsigned char rec[512];
			struct perf_event_header h;
			uint64_t off = tail % size;

			for (size_t i = 0; i < sizeof(h); i++)
				((unsigned char *)&h)[i] = data[(off + i) % size];
			if (h.size < sizeof(h) || tail + h.size > head)
				break;
			if (h.size <= sizeof(rec)) {
				for (size_t i = 0; i < h.size; i++)
					rec[i] = data[(off + i) % size];
				got += take_record(s, rec, h.size);
			}
			tail += h.size;
		}
		__atomic_store_n(&mp->data_tail, tail, __ATOMIC_RELEASE);
	}
	flush_buf(s);
	return got;
}

void ctr_sched_close(struct ctr_sched *s, uint64_t *records, uint64_t *lost)
{
	if (!s)
		return;
	if (s->out >= 0) {
		unsigned char hdr[CTR_SCHED_HDR_SIZE];

		ctr_sched_drain(s);
		put_hdr(hdr, s->records, s->lost);
		if (pwrite(s->out, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
			(void)0; /* the counts stay 0: the reader counts the records itself */
		close(s->out);
	}
	if (records)
		*records = s->records;
	if (lost)
		*lost = s->lost;
	for (size_t c = 0; c < s->n_cpu; c++) {
		munmap(s->cpu[c].mp, s->cpu[c].map_len);
		close(s->cpu[c].fd);
	}
	free(s->cpu);
	free(s);
}

/* ---- reading ---- */

static int rec_cmp(const void *a, const void *b)
{
	const struct ctr_sched_rec *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	if (x->time_ns != y->time_ns)
		return x->time_ns < y->time_ns ? -1 : 1;
	/* a switch-in and a switch-out at the same ns: out first, so no gap is negative */
	return (x->kind == CTR_SCHED_IN) - (y->kind == CTR_SCHED_IN);
}

int ctr_sched_load(int dfd, const char *dir, uid_t owner, struct ctr_sched_rec **out, size_t *n,
		   uint64_t *lost, struct ctr_err *e)
{
	char shown[4200];
	unsigned char hdr[CTR_SCHED_HDR_SIZE], *buf = NULL;
	struct ctr_sched_rec *r = NULL;
	struct stat st;
	size_t nrec, len;
	uint16_t ver, hs;
	uint32_t rs;
	uint64_t l;
	int fd = -1, ret;

	*out = NULL;
	*n = 0;
	*lost = 0;
	snprintf(shown, sizeof(shown), "%s/%s", dir, CTR_SCHED_FILE);
	if ((ret = ctr_rundir_open_file(dfd, CTR_SCHED_FILE, shown, owner, SCHED_FILE_CAP, &fd, &st,
					e)))
		return ret;
	if (pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
	    memcmp(hdr, CTR_SCHED_MAGIC, 8)) {
		ret = ctr_err_set(e, CTR_EFORMAT, 0, "'%s' is not a ctrace context-switch file",
				  shown);
		goto out;
	}
	memcpy(&ver, hdr + 8, 2);
	memcpy(&hs, hdr + 10, 2);
	memcpy(&rs, hdr + 12, 4);
	memcpy(&l, hdr + 32, 8);
	if (le16toh(ver) != CTR_SCHED_VERSION) {
		ret = ctr_err_set(e, le16toh(ver) > CTR_SCHED_VERSION ? CTR_EVERSION : CTR_EFORMAT,
				  0, "'%s' has version %u, this ctrace reads %u", shown,
				  (unsigned)le16toh(ver), CTR_SCHED_VERSION);
		goto out;
	}
	if (le16toh(hs) != CTR_SCHED_HDR_SIZE || le32toh(rs) != CTR_SCHED_REC_SIZE) {
		ret =
		    ctr_err_set(e, CTR_EFORMAT, 0, "'%s': unexpected header or record size", shown);
		goto out;
	}
	*lost = le64toh(l);
	/* a recorder killed mid-write leaves a torn last record: the whole ones count */
	nrec = (size_t)(st.st_size - CTR_SCHED_HDR_SIZE) / CTR_SCHED_REC_SIZE;
	len = nrec * CTR_SCHED_REC_SIZE;
	if (nrec && (!(buf = malloc(len)) || !(r = malloc(nrec * sizeof(*r))))) {
		ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading '%s'", shown);
		goto out;
	}
	if (nrec && pread(fd, buf, len, CTR_SCHED_HDR_SIZE) != (ssize_t)len) {
		ret =
		    ctr_err_set(e, CTR_EIO, errno, "cannot read '%s': %s", shown, strerror(errno));
		goto out;
	}
	for (size_t i = 0, k = 0; i < nrec; i++) {
		const unsigned char *p = buf + i * CTR_SCHED_REC_SIZE;
		uint64_t t;
		uint32_t pid, tid, cpu, kind;

		memcpy(&t, p, 8);
		memcpy(&pid, p + 8, 4);
		memcpy(&tid, p + 12, 4);
		memcpy(&cpu, p + 16, 4);
		memcpy(&kind, p + 20, 4);
		kind = le32toh(kind);
		if (kind < CTR_SCHED_IN || kind > CTR_SCHED_PREEMPT) {
			ret = ctr_err_set(e, CTR_EFORMAT, 0, "'%s': record %zu has kind %u", shown,
					  i, (unsigned)kind);
			goto out;
		}
		r[k++] = (struct ctr_sched_rec){.time_ns = le64toh(t),
						.pid = (int32_t)le32toh(pid),
						.tid = (int32_t)le32toh(tid),
						.cpu = le32toh(cpu),
						.kind = kind};
	}
	if (nrec)
		qsort(r, nrec, sizeof(*r), rec_cmp);
	*out = r;
	*n = nrec;
	r = NULL;
out:
	free(r);
	free(buf);
	close(fd);
	return ret;
}

void ctr_offcpu_init(struct ctr_offcpu *o, const struct ctr_sched_rec *all, size_t n, int32_t pid,
		     int32_t tid, int64_t mono0, double run0, double rate)
{
	size_t lo = 0, hi = n, end;

	while (lo < hi) { /* the first record of (pid, tid) */
		size_t mid = lo + (hi - lo) / 2;

		if (all[mid].pid < pid || (all[mid].pid == pid && all[mid].tid < tid))
			lo = mid + 1;
		else
			hi = mid;
	}
	for (end = lo; end < n && all[end].pid == pid && all[end].tid == tid; end++)
		;
	*o = (struct ctr_offcpu){
	    .r = all + lo, .n = end - lo, .mono0 = mono0, .run0 = run0, .rate = rate};
}

/* Run time of record @r, clamped at 0. */
static uint64_t run_ns(const struct ctr_offcpu *o, const struct ctr_sched_rec *r)
{
	double t = o->run0 + (double)((int64_t)r->time_ns - o->mono0) * o->rate;

	return t > 0 ? (uint64_t)(t + 0.5) : 0;
}

void ctr_offcpu_at(struct ctr_offcpu *o, uint64_t ns, uint64_t *off, uint64_t *pre)
{
	for (;;) {
		size_t j;

		while (o->i < o->n && o->r[o->i].kind == CTR_SCHED_IN)
			o->i++; /* a switch-in without its switch-out (the first of a thread) */
		if (o->i >= o->n || run_ns(o, &o->r[o->i]) >= ns)
			break;
		for (j = o->i + 1; j < o->n && o->r[j].kind != CTR_SCHED_IN; j++)
			;
		if (j >= o->n) { /* never back on a CPU before the end: off from here on */
			uint64_t gap = ns - run_ns(o, &o->r[o->i]);

			*off = o->off + gap;
			*pre = o->pre + (o->r[o->i].kind == CTR_SCHED_PREEMPT ? gap : 0);
			return;
		}
		uint64_t t0 = run_ns(o, &o->r[o->i]), t1 = run_ns(o, &o->r[j]);

		if (t1 > ns) { /* off the CPU now: the gap so far */
			*off = o->off + (ns - t0);
			*pre = o->pre + (o->r[o->i].kind == CTR_SCHED_PREEMPT ? ns - t0 : 0);
			return;
		}
		o->off += t1 - t0;
		if (o->r[o->i].kind == CTR_SCHED_PREEMPT)
			o->pre += t1 - t0;
		o->i = j + 1;
	}
	*off = o->off;
	*pre = o->pre;
}

int ctr_offcpu_gap(struct ctr_offcpu *o, uint64_t before, uint64_t *start, uint64_t *dur,
		   int *preempted)
{
	size_t j;

	while (o->g < o->n && o->r[o->g].kind == CTR_SCHED_IN)
		o->g++;
	if (o->g >= o->n)
		return 0;
	for (j = o->g + 1; j < o->n && o->r[j].kind != CTR_SCHED_IN; j++)
		;
	/* an event of the thread inside a gap is the clocks' mapping a little off: the gap
	 * comes after that event */
	if (j >= o->n || run_ns(o, &o->r[j]) > before)
		return 0;
	*start = run_ns(o, &o->r[o->g]);
	*dur = run_ns(o, &o->r[j]) - *start;
	*preempted = o->r[o->g].kind == CTR_SCHED_PREEMPT;
	o->g = j + 1;
	return 1;
}
