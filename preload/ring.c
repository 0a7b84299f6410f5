/* SPDX-License-Identifier: MIT */
/*
 * The writer's side of a shared ring (common/format.h, docs/recording.md "Shared rings"):
 * under `ctrace record` a thread's event stream goes into a fixed ring of chunks that stays
 * mapped, and the record process drains whole chunks into the thread's event file. The hot path
 * is unchanged: a chunk plays the part of a file window, so the only work here happens when a
 * chunk fills, and none of it maps a page after the ring's first lap. A full ring waits for the
 * drainer for a bounded time, then the thread counts its events as lost (never blocks forever).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "preload-int.h"

/* How long a thread waits in total for a full ring before it counts events as lost. */
#define RING_WAIT_NS 2000000000ull
#define RING_NAP_NS 50000

int ctr_ring_open(struct ctr_thr *t)
{
	uint64_t size = ctr_proc.ring_size, chunk = ctr_proc.window_min;
	struct ctr_ring_hdr *h;
	void *m;
	int fd = ctr_open_ring_file(t);

	if (fd < 0)
		return -1;
	/* A sparse file: each chunk gets its blocks when first used (ctr_ring_take()), so a
	 * ring takes only the disk its thread fills. A full disk must be an error, never a
	 * SIGBUS. The header page and the first chunk get their blocks now with fallocate(),
	 * which holds no lock of the address space: a MADV_POPULATE_WRITE holds the process's
	 * mmap lock while the file system allocates, and every other thread's mmap() then waits
	 * for it (100 threads starting at an attach queued 30 ms each). Their pages are touched
	 * after the mmap. Where fallocate() is not supported, the header page is populated
	 * writable instead; a kernel without MADV_POPULATE_WRITE (before 5.14) gets the whole
	 * ring's blocks at once. */
	int early = 0;

	if (ftruncate(fd, (off_t)(CTR_RING_HDR_SIZE + size)) != 0)
		goto fail;
	if (fallocate(fd, 0, 0, (off_t)(CTR_RING_HDR_SIZE + (chunk < size ? chunk : size))) == 0)
		early = 1;
	else if (errno != EOPNOTSUPP)
		goto fail;
	m = mmap(NULL, CTR_RING_HDR_SIZE + size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		goto fail;
	if (early) {
		for (uint64_t i = 0; i < CTR_RING_HDR_SIZE + chunk && i < CTR_RING_HDR_SIZE + size;
		     i += 4096)
			((volatile char *)m)[i] = 0;
	} else if (madvise(m, CTR_RING_HDR_SIZE, 23 /* MADV_POPULATE_WRITE */) != 0) {
		if (errno != EINVAL ||
		    (fallocate(fd, 0, 0, (off_t)(CTR_RING_HDR_SIZE + size)) != 0 &&
		     (errno != EOPNOTSUPP ||
		      posix_fallocate(fd, 0, (off_t)(CTR_RING_HDR_SIZE + size)) != 0))) {
			munmap(m, CTR_RING_HDR_SIZE + size);
			goto fail;
		}
	}
	close(fd);
	h = m;
	memcpy(h->magic, CTR_RING_MAGIC, 8);
	h->version = CTR_RING_VERSION;
	h->hdr_size = CTR_RING_HDR_SIZE;
	h->data_size = size;
	h->chunk_size = chunk;
	h->pid = ctr_proc.pid;
	h->tid = t->tid;
	h->gen = ctr_proc.gen;
	h->flight = (uint32_t)ctr_proc.flight;
	__atomic_store_n(&h->state, CTR_RING_OPEN, __ATOMIC_RELEASE);
	t->ring = h;
	t->ring_data = (uint32_t *)((char *)m + CTR_RING_HDR_SIZE);
	t->ring_touched = early ? chunk : 0; /* the first chunk's blocks and pages are there */
	t->ring_stalled = 0;
	return 0;
fail:
	close(fd);
	return -1;
}

/* Waits (bounded) until the chunk at stream offset @off is drained; 1 when it is free. */
static int ring_wait(struct ctr_thr *t, uint64_t off)
{
	struct ctr_ring_hdr *h = t->ring;
	uint64_t need = off + h->chunk_size - h->data_size, start = 0;

	if (off + h->chunk_size <= h->data_size)
		return 1; /* first lap */
	for (;;) {
		if (__atomic_load_n(&h->tail, __ATOMIC_ACQUIRE) >= need) {
			t->ring_stalled = 0;
			return 1;
		}
		if (__atomic_load_n(&h->stop, __ATOMIC_RELAXED) || t->ring_stalled)
			return 0;
		if (!start) {
			start = ctr_mono_ns();
			h->waits++;
		} else if (ctr_mono_ns() - start > RING_WAIT_NS) {
			/* the drainer is gone or stuck: lose, and do not wait again until it
			 * catches up (each retry checks once) */
			t->ring_stalled = 1;
			return 0;
		}
		struct timespec nap = {0, RING_NAP_NS};

		nanosleep(&nap, NULL);
	}
}

int ctr_ring_take(struct ctr_thr *t, uint64_t off)
{
	struct ctr_ring_hdr *h = t->ring;
	uint64_t chunk = h->chunk_size;
	uint32_t *w;

	if (off % chunk) { /* a window request from the middle of a chunk cannot happen */
		errno = EINVAL;
		return -1;
	}
	/* everything before @off is complete (the previous chunk was padded to its end) */
	__atomic_store_n(&h->head, off, __ATOMIC_RELEASE);
	if (__atomic_load_n(&h->stop, __ATOMIC_RELAXED)) {
		errno = EFBIG; /* --max-size reached */
		return -1;
	}
	w = t->ring_data + (off % h->data_size) / 4;
	if (!ctr_proc.flight && !ring_wait(t, off)) {
		errno = ENOBUFS;
		return -1;
	}
	if (off >= h->data_size) {
		/* a chunk used before (drained, or the oldest of a flight recorder): zeroed so that
		 * its end shows after a death; word 0 first, so that a death during the memset
		 * leaves nothing of the old lap to be taken for events. Here and not in the
		 * drainer: these lines are about to be written by this thread anyway. */
		/* full fences: memset may use streaming stores, which other stores can pass */
		__atomic_store_n(&w[0], 0, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		memset(w + 1, 0, chunk - 4);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	}
	if (off + chunk > t->ring_touched && off < h->data_size) {
		/* first lap: blocks and pages for the chunk now, timed, and never again (see
		 * map_window); no room on disk is loss, counted, not a SIGBUS */
		if (madvise(w, chunk, 23 /* MADV_POPULATE_WRITE */) != 0 && errno != EINVAL) {
			errno = ENOSPC;
			return -1;
		}
		for (uint64_t i = 0; i < chunk; i += 4096)
			((volatile uint32_t *)w)[i / 4] = 0;
		t->ring_touched = off + chunk;
	}
	t->win = w;
	t->win_off = off;
	t->win_size = chunk;
	return 0;
}

void ctr_ring_chunk_begin(struct ctr_thr *t)
{
	int64_t n = (int64_t)t->depth + t->ring_frame_adj;
	uint64_t max = t->win_size / 4 / 2 / 3; /* FRAMEs fill at most half a chunk */
	uint32_t *p = t->pos;

	if (n < 0)
		n = 0;
	if (n > t->cap)
		n = t->cap;
	if ((uint64_t)n > max)
		n = (int64_t)max;
	p[0] = ctr_w_ext(CTR_X_TIME, 2, 0);
	p[1] = (uint32_t)t->last;
	p[2] = (uint32_t)(t->last >> 32);
	p += 3;
	for (int64_t i = 0; i < n; i++) {
		uint64_t fn = t->stack[i].fn & ~CTR_FN_TAGS;

		p[0] = ctr_w_ext(CTR_X_FRAME, 2, 0);
		p[1] = (uint32_t)fn;
		p[2] = (uint32_t)(fn >> 32);
		p += 3;
	}
	t->pos = p;
	t->merge = NULL; /* nothing before the chunk's records may absorb an exit (hooks.c) */
	/* the functions this chunk names are DEFINEd in it again (excluded ones keep their tag) */
	for (uint32_t s = 0; s < CTR_NSLOTS; s++)
		if (!(t->slots[s] & CTR_FN_TAGS))
			t->slots[s] = 0;
}

void ctr_ring_close(struct ctr_thr *t, uint64_t end, uint32_t flags)
{
	struct ctr_ring_hdr *h = t->ring;

	if (!h)
		return;
	h->end = end;
	h->lost = t->lost;
	h->flags = flags;
	__atomic_store_n(&h->head, end, __ATOMIC_RELEASE);
	__atomic_store_n(&h->state, CTR_RING_CLOSED, __ATOMIC_RELEASE);
	munmap(h, CTR_RING_HDR_SIZE + h->data_size);
	t->ring = NULL;
	t->ring_data = NULL;
}

void ctr_ring_forget(struct ctr_thr *t)
{
	if (t->ring)
		munmap(t->ring, CTR_RING_HDR_SIZE + t->ring->data_size);
	t->ring = NULL;
	t->ring_data = NULL;
}
