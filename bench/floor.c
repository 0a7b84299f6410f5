/* SPDX-License-Identifier: MIT */
/*
 * The physical floor of function tracing on this machine, as an LD_PRELOAD for programs built
 * with -finstrument-functions: per call two TSC reads and two 16-byte stores (time, address)
 * into a per-thread buffer, nothing else. BENCH_FLOOR=ring (default) reuses a per-thread 1 MiB
 * ring that is never persisted; BENCH_FLOOR=file keeps every record in a per-thread file mapping
 * under $BENCH_FLOOR_DIR (default $TMPDIR), extending the file and mapping a fresh window each
 * time one fills. The gap between the two is the cost of keeping events; a real tracer pays at
 * least the ring cost. Built by bench/setup.sh with -O2 -fPIC -shared, never instrumented.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <x86intrin.h>

#define NOINST __attribute__((no_instrument_function))
#define EXPORT __attribute__((visibility("default")))
#define unlikely(x) __builtin_expect(!!(x), 0)

#define RING_SIZE (1u << 20)
#define WIN_SIZE (16u << 20)

struct rec {
	uint64_t tsc;
	uint64_t addr; /* low bit set for an exit */
};

struct floor_thread {
	struct rec *pos;
	struct rec *end;
	struct rec *base;
	int fd;
	off_t off; /* file offset of the current window */
	int state; /* 0 = not set up, 1 = recording, 2 = disabled */
};

static __thread struct floor_thread ft __attribute__((tls_model("initial-exec")));
static int file_mode = -1;

NOINST static int floor_file_mode(void)
{
	if (file_mode < 0) {
		const char *m = getenv("BENCH_FLOOR");
		file_mode = m && strcmp(m, "file") == 0;
	}
	return file_mode;
}

/* Maps the next window of the thread's file; 0 or -1 (the thread stops recording). */
NOINST static int floor_next_window(struct floor_thread *t)
{
	if (t->base) {
		munmap(t->base, WIN_SIZE);
		t->off += WIN_SIZE;
	}
	if (ftruncate(t->fd, t->off + WIN_SIZE) < 0)
		return -1;
	void *p = mmap(NULL, WIN_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, t->fd, t->off);
	if (p == MAP_FAILED)
		return -1;
	t->base = p;
	t->pos = p;
	t->end = (struct rec *)((char *)p + WIN_SIZE);
	return 0;
}

NOINST static void floor_setup(struct floor_thread *t)
{
	t->state = 2;
	if (floor_file_mode()) {
		const char *dir = getenv("BENCH_FLOOR_DIR");
		char path[4096];
		if (!dir)
			dir = getenv("TMPDIR");
		snprintf(path, sizeof(path), "%s/floor-%d-%ld.bin", dir ? dir : "/tmp",
			 (int)getpid(), (long)syscall(SYS_gettid));
		t->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (t->fd < 0 || floor_next_window(t) < 0)
			return;
	} else {
		void *p = mmap(NULL, RING_SIZE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (p == MAP_FAILED)
			return;
		t->base = p;
		t->pos = p;
		t->end = (struct rec *)((char *)p + RING_SIZE);
	}
	t->state = 1;
}

/* HOT: one record; wraps the ring or maps the next file window when the buffer is full. */
NOINST static inline void floor_put(uint64_t addr)
{
	struct floor_thread *t = &ft;
	if (unlikely(t->state != 1)) {
		if (t->state)
			return;
		floor_setup(t);
		if (t->state != 1)
			return;
	}
	if (unlikely(t->pos == t->end)) {
		if (!file_mode)
			t->pos = t->base;
		else if (floor_next_window(t) < 0) {
			t->state = 2;
			return;
		}
	}
	t->pos->tsc = __rdtsc();
	t->pos->addr = addr;
	t->pos++;
}

EXPORT NOINST void __cyg_profile_func_enter(void *fn, void *site)
{
	(void)site;
	floor_put((uint64_t)(uintptr_t)fn);
}

EXPORT NOINST void __cyg_profile_func_exit(void *fn, void *site)
{
	(void)site;
	floor_put((uint64_t)(uintptr_t)fn | 1u);
}
