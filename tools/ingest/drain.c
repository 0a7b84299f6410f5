/* SPDX-License-Identifier: MIT */
/*
 * Shared-ring drainer (drain.h). A ring's chunks before the writer's head are complete; the
 * drainer pwrite()s them to the event file at their stream offset, zeroes them (so the writer
 * always gets a zero-filled chunk and a crash leaves a zero word after the last event) and
 * then releases them by advancing tail. This is the page-cache work the recording thread no
 * longer does; it runs on whatever core the record process gets.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../common/format.h"
#include "drain.h"
#include "rundir.h"

struct ring {
	char name[96]; /* r-PID-GEN-TID.ring */
	int32_t pid, tid;
	uint32_t gen;
	struct ctr_ring_hdr *h;
	size_t map_len;
	int evfd;	     /* the event file, -1 when there is none to write */
	int broken;	     /* a write failed (full disk): the rest is counted, not kept */
	uint64_t tail;	     /* drained up to here */
	uint64_t kept_end;   /* the event file holds the stream up to here */
	uint64_t lost;	     /* events in chunks not kept */
	uint64_t last_check; /* ns: when the writer's liveness was last checked */
};

struct ctr_drain {
	int dfd, ifd;
	char *dir;
	uint64_t max_size, kept;
	int flight;
	struct ctr_snap_req *req; /* pending snapshot requests, oldest first */
	size_t n_req, cap_req;
	struct ring *r;
	size_t n, cap;
	int rescan;
	struct ctr_drain_stats st;
};

static uint64_t clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int ctr_drain_open(const char *dir, const struct ctr_drain_opts *o, struct ctr_drain **out,
		   struct ctr_err *e)
{
	struct ctr_drain *d = calloc(1, sizeof(*d));

	*out = NULL;
	if (!d || !(d->dir = strdup(dir))) {
		free(d);
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory");
	}
	d->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d->dfd < 0) {
		int err = errno;

		free(d->dir);
		free(d);
		return ctr_err_set(e, CTR_EIO, err, "cannot open run directory '%s': %s", dir,
				   strerror(err));
	}
	/* new rings are announced by inotify; without it every pass lists the directory */
	d->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (d->ifd >= 0 && inotify_add_watch(d->ifd, dir, IN_CREATE | IN_MOVED_TO) < 0) {
		close(d->ifd);
		d->ifd = -1;
	}
	d->max_size = o ? o->max_size : 0;
	d->flight = o ? o->flight : 0;
	d->rescan = 1;
	*out = d;
	return 0;
}

/* Events (enters and exits) in a complete chunk that is not kept: what the writer would have
 * counted as lost had it not written them. @version: the stream's word encoding (a LEAF or an
 * EXIT2 word is two events). */
static uint64_t count_events(const uint32_t *w, size_t n, unsigned version)
{
	uint64_t ev = 0;

	for (size_t i = 0; i < n;) {
		uint32_t x = w[i];

		if (x == 0)
			break;
		if (version >= 2 && CTR_W2_TAG(x) != CTR_W2_T_EXT) {
			ev += CTR_W2_TAG(x) == CTR_W2_T_LEAF || CTR_W2_IS_EXIT2(x) ? 2 : 1;
			i++;
			continue;
		}
		if (version < 2 && (CTR_W_IS_EXIT(x) || CTR_W_IS_ENTER(x))) {
			ev++;
			i++;
			continue;
		}
		if (CTR_W_EXT_KIND(x) == CTR_X_UNWIND)
			ev +=
			    CTR_W_EXT_ARG(x); /* frames closed by the EXIT that follows, less one */
		i += 1 + CTR_W_EXT_NWORDS(x);
	}
	return ev;
}

/* Bytes of the whole records at the start of @w (@n words) that fit in @room bytes: where a
 * chunk kept in part (--max-size) may end, so the stream stays decodable. */
static size_t whole_records(const uint32_t *w, size_t n, uint64_t room, unsigned version)
{
	size_t i = 0;

	while (i < n && w[i] != 0) {
		size_t len = 1;

		if (version >= 2 ? CTR_W2_TAG(w[i]) == CTR_W2_T_EXT
				 : !CTR_W_IS_EXIT(w[i]) && !CTR_W_IS_ENTER(w[i]))
			len += CTR_W_EXT_NWORDS(w[i]);
		if ((i + len) * 4 > room || i + len > n)
			break;
		i += len;
	}
	return i * 4;
}

static int parse_ring_name(const char *s, int32_t *pid, uint32_t *gen, int32_t *tid)
{
	int a, c, used = 0;
	unsigned b;

	if (sscanf(s, "r-%d-%u-%d.ring%n", &a, &b, &c, &used) != 3 || s[used] != 0 || a <= 0 ||
	    c <= 0)
		return -1;
	*pid = a;
	*gen = b;
	*tid = c;
	return 0;
}

/* Maps a ring once its writer has filled in the header; 1 added, 2 known already, 0 not ready
 * yet (look again), -1 not a ring to drain. */
static int add_ring(struct ctr_drain *d, const char *name)
{
	struct ring r = {.evfd = -1};
	struct ctr_ring_hdr hdr;
	struct stat st = {0};
	char ev[128];
	void *m;
	int fd;

	if (parse_ring_name(name, &r.pid, &r.gen, &r.tid) != 0)
		return -1;
	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(d->r[i].name, name))
			return 2;
	fd = openat(d->dfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    pread(fd, &hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr)) {
		close(fd);
		return S_ISREG(st.st_mode) ? 0 : -1;
	}
	if (__atomic_load_n(&hdr.state, __ATOMIC_ACQUIRE) == 0) {
		close(fd);
		return 0; /* being set up */
	}
	if (memcmp(hdr.magic, CTR_RING_MAGIC, 8) || hdr.version < 1 ||
	    hdr.version > CTR_RING_VERSION || hdr.hdr_size != CTR_RING_HDR_SIZE ||
	    hdr.chunk_size == 0 || hdr.chunk_size % 4096 || hdr.data_size % hdr.chunk_size ||
	    hdr.data_size < 2 * hdr.chunk_size ||
	    (uint64_t)st.st_size < CTR_RING_HDR_SIZE + hdr.data_size) {
		close(fd);
		return -1;
	}
	r.map_len = CTR_RING_HDR_SIZE + hdr.data_size;
	m = mmap(NULL, r.map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return -1;
	r.h = m;
	snprintf(r.name, sizeof(r.name), "%s", name);
	snprintf(ev, sizeof(ev), "t-%d-%u-%d.ev", (int)r.pid, r.gen, (int)r.tid);
	/* a drainer that died may have begun the file: the ring's tail says how far it got */
	if (!d->flight)
		r.evfd = openat(d->dfd, ev, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (r.evfd >= 0 && (fstat(r.evfd, &st) != 0 || !S_ISREG(st.st_mode) ||
			    st.st_uid != geteuid() || st.st_nlink != 1)) {
		close(r.evfd); /* not a file of ours: drain the ring, count it, keep nothing */
		r.evfd = -1;
	}
	r.tail = __atomic_load_n(&r.h->tail, __ATOMIC_ACQUIRE);
	r.kept_end = r.tail;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct ring *nr = realloc(d->r, cap * sizeof(*nr));

		if (!nr) {
			munmap(m, r.map_len);
			if (r.evfd >= 0)
				close(r.evfd);
			return -1;
		}
		d->r = nr;
		d->cap = cap;
	}
	if (d->max_size && d->kept >= d->max_size)
		__atomic_store_n(&r.h->stop, 1, __ATOMIC_RELAXED);
	d->r[d->n++] = r;
	d->st.rings++;
	return 1;
}

/* Notes the request file @name (s-PID-TID-SEQ.REASON) and removes it. */
static void add_request(struct ctr_drain *d, const char *name)
{
	struct ctr_snap_req rq = {0};
	int pid, tid, used = 0;
	unsigned seq;

	if (sscanf(name, "s-%d-%d-%u.%n", &pid, &tid, &seq, &used) != 3 || !used ||
	    strlen(name + used) >= sizeof(rq.reason) || unlinkat(d->dfd, name, 0) != 0)
		return;
	rq.pid = pid;
	rq.tid = tid;
	rq.seq = seq;
	snprintf(rq.reason, sizeof(rq.reason), "%s", name + used);
	if (d->n_req == d->cap_req) {
		size_t cap = d->cap_req ? 2 * d->cap_req : 8;
		struct ctr_snap_req *n = realloc(d->req, cap * sizeof(*n));

		if (!n)
			return;
		d->req = n;
		d->cap_req = cap;
	}
	d->req[d->n_req++] = rq;
}

static void discover(struct ctr_drain *d)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	DIR *dir;
	struct dirent *de;
	int dfd;

	if (d->ifd >= 0) {
		ssize_t n;

		while ((n = read(d->ifd, buf, sizeof(buf))) > 0)
			for (char *p = buf; p < buf + n;) {
				struct inotify_event *ie = (struct inotify_event *)p;

				if (ie->mask & IN_Q_OVERFLOW)
					d->rescan = 1;
				else if (ie->len && !strncmp(ie->name, "r-", 2) &&
					 add_ring(d, ie->name) == 0)
					d->rescan = 1; /* not ready: look again next pass */
				else if (ie->len && !strncmp(ie->name, "s-", 2))
					add_request(d, ie->name);
				p += sizeof(*ie) + ie->len;
			}
	} else {
		d->rescan = 1;
	}
	if (!d->rescan)
		return;
	d->rescan = 0;
	if ((dfd = dup(d->dfd)) < 0 || !(dir = fdopendir(dfd))) {
		if (dfd >= 0)
			close(dfd);
		d->rescan = 1;
		return;
	}
	rewinddir(dir);
	while ((de = readdir(dir)))
		if (!strncmp(de->d_name, "r-", 2) && add_ring(d, de->d_name) == 0)
			d->rescan = 1;
		else if (!strncmp(de->d_name, "s-", 2))
			add_request(d, de->d_name);
	closedir(dir);
}

/* Copies [r->tail, upto) out of the ring (never more than one lap), keeping what the size
 * bound allows; zeroes what it copied when @release, and then hands it back to the writer. */
static uint64_t copy_out(struct ctr_drain *d, struct ring *r, uint64_t upto, int release)
{
	uint64_t size = r->h->data_size, copied = 0;
	char *data = (char *)r->h + CTR_RING_HDR_SIZE;

	if (upto > r->tail + size)
		upto = r->tail + size;
	while (r->tail < upto) {
		uint64_t at = r->tail % size, n = upto - r->tail;
		int keep = r->evfd >= 0 && !r->broken && r->kept_end == r->tail;

		/* one chunk at a time: the size bound keeps whole chunks, then what fits of one */
		if (n > r->h->chunk_size - at % r->h->chunk_size)
			n = r->h->chunk_size - at % r->h->chunk_size;
		uint64_t part = n; /* bytes kept of this piece when keep */
		unsigned version = r->h->ev.version ? r->h->ev.version : CTR_EV_VERSION;

		if (keep && d->max_size &&
		    d->kept + n - (r->tail == 0 ? CTR_EV_HDR_SIZE : 0) > d->max_size) {
			/* the whole records that still fit are kept, the rest of the run is
			 * counted: a bound below one chunk keeps events too */
			uint64_t hdr = r->tail == 0 ? CTR_EV_HDR_SIZE : 0;

			part = hdr + whole_records((const uint32_t *)(data + at + hdr),
						   (n - hdr) / 4, d->max_size - d->kept, version);
			if (!d->st.over_max) {
				d->st.over_max = 1;
				for (size_t i = 0; i < d->n; i++)
					__atomic_store_n(&d->r[i].h->stop, 1, __ATOMIC_RELAXED);
			}
		}
		if (keep) {
			ssize_t w = pwrite(r->evfd, data + at, part, (off_t)r->tail);

			if (w != (ssize_t)part) { /* disk full or I/O error: count from here */
				keep = 0;
				r->broken = 1;
			}
		}
		if (keep) {
			r->kept_end = r->tail + part;
			if (r->tail > 0 || part > CTR_EV_HDR_SIZE)
				d->kept += r->tail == 0 ? part - CTR_EV_HDR_SIZE : part;
			d->st.bytes += part;
			copied += part;
			if (part < n) { /* the rest of the piece is not kept */
				r->lost += count_events((const uint32_t *)(data + at + part),
							(n - part) / 4, version);
				r->broken = 1;
			}
		} else {
			uint64_t skip = 0;

			/* the first chunk's header is always kept: the thread and its loss show */
			if (r->tail == 0 && r->evfd >= 0 && !r->broken &&
			    pwrite(r->evfd, data, CTR_EV_HDR_SIZE, 0) == CTR_EV_HDR_SIZE) {
				r->kept_end = CTR_EV_HDR_SIZE;
				skip = CTR_EV_HDR_SIZE;
			}
			r->lost += count_events((const uint32_t *)(data + at + skip),
						(n - skip) / 4, version);
		}
		if (release && r->h->version < 2)
			memset(data + at, 0, n); /* a version-1 writer reuses chunks as they are */
		r->tail += n;
	}
	if (release)
		__atomic_store_n(&r->h->tail, r->tail, __ATOMIC_RELEASE);
	return copied;
}

/* The writer of @r is gone without closing it: dead, or its process exec'd a new image. */
static int writer_gone(struct ctr_drain *d, const struct ring *r)
{
	char next[64];

	if (kill(r->pid, 0) != 0 && errno == ESRCH)
		return 1;
	snprintf(next, sizeof(next), "p-%d-%u.meta", (int)r->pid, r->gen + 1);
	return faccessat(d->dfd, next, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Patches the event file's header with what only the end knows, trims it, removes the ring. */
static void finish_ring(struct ctr_drain *d, struct ring *r, int closed)
{
	struct ctr_ring_hdr *h = r->h;

	if (r->evfd >= 0 && r->kept_end < CTR_EV_HDR_SIZE && (r->lost || (closed && h->lost)) &&
	    h->ev.hdr_size == CTR_EV_HDR_SIZE &&
	    pwrite(r->evfd, &h->ev, CTR_EV_HDR_SIZE, 0) == CTR_EV_HDR_SIZE)
		r->kept_end = CTR_EV_HDR_SIZE; /* no event kept, but the thread and its loss show */

	if (r->evfd >= 0 && r->kept_end >= CTR_EV_HDR_SIZE) {
		uint64_t lost = (closed ? h->lost : 0) + r->lost, end = r->kept_end;
		uint32_t flags = h->flags;

		if (closed) {
			if (pwrite(r->evfd, &end, 8, offsetof(struct ctr_ev_hdr, end_offset)) < 0 ||
			    pwrite(r->evfd, &flags, 4, offsetof(struct ctr_ev_hdr, flags)) < 0)
				(void)0;
		}
		if (lost && pwrite(r->evfd, &lost, 8, offsetof(struct ctr_ev_hdr, lost_events)) < 0)
			(void)0;
		/* a failed write may have left part of a chunk: the file ends where it is whole */
		if ((closed || r->broken) && ftruncate(r->evfd, (off_t)end) != 0)
			(void)0;
	} else if (r->evfd >= 0) {
		char ev[128];

		/* nothing was ever written (the thread made no event): no file */
		snprintf(ev, sizeof(ev), "t-%d-%u-%d.ev", (int)r->pid, r->gen, (int)r->tid);
		unlinkat(d->dfd, ev, 0);
	}
	d->st.lost_events += (closed ? h->lost : 0) + r->lost;
	d->st.waits += h->waits;
	if (r->evfd >= 0)
		close(r->evfd);
	munmap(h, r->map_len);
	unlinkat(d->dfd, r->name, 0);
	d->st.rings_done++;
	*r = d->r[--d->n];
}

int64_t ctr_drain_pass(struct ctr_drain *d, int final, struct ctr_err *e)
{
	uint64_t copied = 0, now = clock_ns();
	int gone;

	(void)e;
	discover(d);
	if (final)
		d->rescan = 1, discover(d);
	if (d->flight) {
		while (final && d->n) { /* the last snapshot is taken: the rings go */
			munmap(d->r[d->n - 1].h, d->r[d->n - 1].map_len);
			unlinkat(d->dfd, d->r[d->n - 1].name, 0);
			d->n--;
			d->st.rings_done++;
		}
		return 0;
	}
	for (size_t i = 0; i < d->n;) {
		struct ring *r = &d->r[i];
		uint32_t state = __atomic_load_n(&r->h->state, __ATOMIC_ACQUIRE);
		uint64_t head = __atomic_load_n(&r->h->head, __ATOMIC_ACQUIRE), before = r->tail;

		copied += copy_out(d, r, head, 1);
		if (state == CTR_RING_CLOSED) {
			finish_ring(d, r, 1);
			continue; /* slot i now holds another ring */
		}
		gone = 0;
		if (r->tail == before && !final && now - r->last_check > 100000000u) {
			r->last_check = now;
			gone = writer_gone(d, r);
		}
		if (final || gone) {
			/* a writer still running at the end (a daemon that outlived the program)
			 * stops recording: the recording is over, what it makes now is lost */
			if (final)
				__atomic_store_n(&r->h->stop, 1, __ATOMIC_RELAXED);
			/* the chunk being written, up to its zero words: a crash keeps every event
			 * that reached the ring */
			copied += copy_out(d, r, r->tail + r->h->chunk_size, 0);
			finish_ring(d, r, 0);
			continue;
		}
		i++;
	}
	return (int64_t)copied;
}

void ctr_drain_get_stats(const struct ctr_drain *d, struct ctr_drain_stats *st)
{
	*st = d->st;
	for (size_t i = 0; i < d->n; i++)
		st->waits += d->r[i].h->waits;
}

void ctr_drain_close(struct ctr_drain *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		if (d->r[i].evfd >= 0)
			close(d->r[i].evfd);
		munmap(d->r[i].h, d->r[i].map_len);
	}
	if (d->ifd >= 0)
		close(d->ifd);
	close(d->dfd);
	free(d->r);
	free(d->req);
	free(d->dir);
	free(d);
}

/* 1 if the ring file @name of run directory @dfd is a flight recorder's (its writer set flight
 * in the header), 0 if not or unreadable (the drainer judges it again). */
static int ring_is_flight(int dfd, const char *name, uid_t owner)
{
	struct ctr_ring_hdr hdr;
	struct stat st;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), flight = 0;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == owner &&
	    pread(fd, &hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr) &&
	    !memcmp(hdr.magic, CTR_RING_MAGIC, 8))
		flight = hdr.flight == 1;
	close(fd);
	return flight;
}

int ctr_drain_leftovers(int dfd, const char *dir, uid_t owner, struct ctr_err *e)
{
	struct ctr_drain_opts o = {0};
	struct ctr_drain *d;
	char *buf = NULL, *line, *save = NULL, *k, *v;
	long drainer = 0;
	int ret, any = 0, fd;
	DIR *dd;
	struct dirent *de;

	if ((fd = dup(dfd)) < 0 || !(dd = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return 0; /* the commit itself reports an unreadable directory */
	}
	while ((de = readdir(dd)))
		if (!strncmp(de->d_name, "r-", 2) && strstr(de->d_name, ".ring")) {
			any = 1;
			o.flight |= ring_is_flight(dfd, de->d_name, owner);
		}
	closedir(dd);
	if (!any)
		return 0;
	/* run.meta read like every run file (no symlink, no FIFO, size cap); none: no drainer */
	if (ctr_rundir_slurp(dfd, dir, "run.meta", owner, CTR_RUN_META_CAP, &buf, e) == 0)
		for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			if (ctr_meta_line(line, &k, &v) == 0) {
				if (!strcmp(k, "drainer_pid"))
					drainer = strtol(v, NULL, 10);
				else if (!strcmp(k, "option.ring"))
					o.flight = 1;
			}
	free(buf);
	ctr_err_clear(e);
	if (drainer > 0 && drainer != (long)getpid() && kill((pid_t)drainer, 0) == 0)
		return ctr_err_set(e, CTR_EEXIST, 0,
				   "run '%s' is still being recorded (drained by process %ld)", dir,
				   drainer);
	if ((ret = ctr_drain_open(dir, &o, &d, e)) != 0)
		return ret;
	/* a flight recorder's rings are never drained: chunks were reused, so what they hold is
	 * taken as the recorder's own last snapshot would have been, into the run directory */
	if (o.flight && (ret = ctr_drain_snapshot(d, dir, e)) < 0) {
		ctr_drain_close(d);
		return ret;
	}
	if (o.flight) { /* what the recorder would have said of its last snapshot */
		static const char why[] = "snapshot_reason=recorder_gone\n";

		fd = openat(dfd, "run.meta", O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && write(fd, why, sizeof(why) - 1) < 0)
			(void)0; /* the run commits without the reason */
		if (fd >= 0)
			close(fd);
	}
	ret = ctr_drain_pass(d, 1, e) < 0 ? -1 : 0;
	ctr_drain_close(d);
	return ret < 0 ? e->code : 0;
}

void ctr_drain_wait(struct ctr_drain *d, int timeout_ms)
{
	struct pollfd p = {.fd = d->ifd, .events = POLLIN};

	if (d->ifd >= 0) {
		if (poll(&p, 1, timeout_ms) < 0)
			(void)0; /* EINTR (SIGCHLD): the caller looks at its child */
	} else {
		struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000};

		nanosleep(&ts, NULL);
	}
}

int ctr_drain_next_request(struct ctr_drain *d, struct ctr_snap_req *rq)
{
	if (!d->n_req)
		return 0;
	*rq = d->req[0];
	memmove(d->req, d->req + 1, (d->n_req - 1) * sizeof(*d->req));
	d->n_req--;
	return 1;
}

void ctr_drain_ack(struct ctr_drain *d, const struct ctr_snap_req *rq)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->r[i].pid == rq->pid && d->r[i].tid == rq->tid)
			__atomic_store_n(&d->r[i].h->snap_done, rq->seq, __ATOMIC_RELEASE);
}

/* Turns the FRAME records that begin a flight chunk (after its TIME) into INHERIT records. */
static void frames_to_inherits(uint32_t *w, size_t n)
{
	size_t i = 0;

	if (n >= 3 && CTR_W_IS_EXT(w[0]) && CTR_W_EXT_KIND(w[0]) == CTR_X_TIME)
		i = 3;
	while (i + 3 <= n && CTR_W_IS_EXT(w[i]) && CTR_W_EXT_KIND(w[i]) == CTR_X_FRAME) {
		w[i] = ctr_w_ext(CTR_X_INHERIT, 2, 0);
		i += 3;
	}
}

/*
 * The chunk being written, copied into @dst while its writer may run on. The writer appends
 * records and may rewrite the one word before its position (an ENTER into a LEAF, an EXIT into
 * an EXIT2: docs/format.md), so a word the copy read early may have changed before the copy
 * read the words after it. Every record before the copy's last one was complete, and final,
 * once the writer had begun the last one: they are copied again from @src. The last record is
 * kept as first read when it is one word (the stream was exactly that when it was read), and
 * left out when it is longer (its payload may not have been written yet). @from: where records
 * begin, @n: the chunk's bytes. Returns the bytes kept from @from.
 */
static size_t settle_chunk(uint8_t *dst, const uint8_t *src, size_t from, size_t n)
{
	const uint32_t *w = (const uint32_t *)(dst + from);
	size_t nw = (n - from) / 4, i = 0, last = 0;

	if (nw == 0 || w[0] == 0)
		return 0;
	while (i < nw && w[i] != 0) {
		last = i;
		i += CTR_W2_TAG(w[i]) == CTR_W2_T_EXT ? 1 + CTR_W_EXT_NWORDS(w[i]) : 1;
	}
	memcpy(dst + from, src + from, last * 4);
	return CTR_W2_TAG(w[last]) == CTR_W2_T_EXT ? last * 4 : (last + 1) * 4;
}

/* Writes one ring's events into @fd as an event file; 1 written, 0 nothing to write. */
static int snap_ring(struct ring *r, int fd, uint8_t *buf)
{
	struct ctr_ring_hdr *h = r->h;
	uint64_t size = h->data_size, chunk = h->chunk_size, h1, h2, cur, lo, upto, end = 0;
	const uint8_t *data = (const uint8_t *)h + CTR_RING_HDR_SIZE;
	struct ctr_ev_hdr eh;
	uint32_t state;
	int tries = 0;

	/* copy, then keep what the writer cannot have touched meanwhile: the chunks complete
	 * before the copy began and not reused before it ended (the writer may run on) */
	do {
		state = __atomic_load_n(&h->state, __ATOMIC_ACQUIRE);
		h1 = __atomic_load_n(&h->head, __ATOMIC_ACQUIRE);
		memcpy(buf, data, size);
		h2 = __atomic_load_n(&h->head, __ATOMIC_ACQUIRE);
		cur = h2 / chunk * chunk;
		lo = cur + chunk > size ? cur + chunk - size : 0;
	} while (h1 < lo && ++tries < 4);
	if (h1 < lo)
		return 0; /* lapped during every copy: a ring too small for this thread */
	if (state == CTR_RING_CLOSED) {
		end = upto = h->end;
	} else if (h1 == h2) { /* the chunk being written too, up to what cannot change */
		size_t from = cur == 0 ? CTR_EV_HDR_SIZE : 0, at = cur % size;

		upto = cur + from + settle_chunk(buf + at, data + at, from, chunk);
		if (__atomic_load_n(&h->head, __ATOMIC_ACQUIRE) >= cur + size)
			upto = cur; /* reused during the second copy: the complete ones only */
	} else {
		upto = h1;
	}
	if (upto <= lo + (lo ? 0 : CTR_EV_HDR_SIZE))
		return 0;
	if (lo == 0) {
		memcpy(&eh, buf, sizeof(eh));
	} else {
		memcpy(&eh, &h->ev, sizeof(eh));
		frames_to_inherits((uint32_t *)(buf + lo % size), chunk / 4);
	}
	eh.end_offset = 0;
	eh.lost_events = state == CTR_RING_CLOSED ? h->lost : 0;
	eh.flags &= ~CTR_EV_FLAG_CLOSED;
	if (state == CTR_RING_CLOSED) {
		eh.flags |= CTR_EV_FLAG_CLOSED;
		eh.end_offset = end - lo + (lo ? CTR_EV_HDR_SIZE : 0);
	}
	if (write(fd, &eh, sizeof(eh)) != (ssize_t)sizeof(eh))
		return -1;
	for (uint64_t x = lo ? lo : CTR_EV_HDR_SIZE; x < upto;) {
		uint64_t at = x % size, n = upto - x;

		if (n > size - at)
			n = size - at;
		if (write(fd, buf + at, n) != (ssize_t)n)
			return -1;
		x += n;
	}
	return 1;
}

int ctr_drain_snapshot(struct ctr_drain *d, const char *out_dir, struct ctr_err *e)
{
	uint64_t big = 0;
	uint8_t *buf;
	int out, done = 0;

	discover(d);
	for (size_t i = 0; i < d->n; i++)
		if (d->r[i].h->data_size > big)
			big = d->r[i].h->data_size;
	out = open(out_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (out < 0)
		return ctr_err_set(e, CTR_EIO, errno, "cannot open '%s': %s", out_dir,
				   strerror(errno));
	if (!(buf = malloc(big ? big : 1))) {
		close(out);
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory");
	}
	for (size_t i = 0; i < d->n; i++) {
		struct ring *r = &d->r[i];
		char ev[128];
		int fd, ret;

		snprintf(ev, sizeof(ev), "t-%d-%u-%d.ev", (int)r->pid, r->gen, (int)r->tid);
		fd = openat(out, ev, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			ctr_err_set(e, CTR_EIO, errno, "cannot create '%s/%s': %s", out_dir, ev,
				    strerror(errno));
			done = e->code;
			break;
		}
		ret = snap_ring(r, fd, buf);
		if (close(fd) != 0 || ret < 0) {
			ctr_err_set(e, CTR_EIO, errno, "cannot write '%s/%s': %s", out_dir, ev,
				    strerror(errno));
			done = e->code;
			break;
		}
		if (ret == 0)
			unlinkat(out, ev, 0);
		else
			done++;
	}
	free(buf);
	close(out);
	return done;
}
