// SPDX-License-Identifier: MIT
// The viewer tests' program (tests/integ/test_serve.sh, tests/browser/): C++ names with
// templates and operators, a worker thread, a manual span with attributes and a mark, and a
// function whose work grows with argv[1] so two runs make a known diff.
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "../../../instrument/ctrace.h"

static volatile long sink;

template <typename T> struct Box {
	T v;
	bool operator<(const Box &o) const
	{
		return v < o.v;
	}
};

/* ~100 ns of work a call: 15x the calls make a self-time change far above the noise a
 * loaded machine adds (the diff tests) */
__attribute__((noinline)) static void leaf(long x)
{
	for (int i = 0; i < 48; i++)
		sink += x;
}

template <typename T> __attribute__((noinline)) T sum_box(const Box<T> *b, int n)
{
	T s = 0;
	for (int i = 0; i < n; i++) {
		leaf(i);
		s += b[i].v;
	}
	return s;
}

__attribute__((noinline)) static void slow_path(long n)
{
	for (long i = 0; i < n; i++)
		leaf(i);
}

__attribute__((noinline)) static void *worker(void *)
{
	Box<int> b[64];
	for (int i = 0; i < 64; i++)
		b[i].v = i;
	for (int k = 0; k < 200; k++)
		sink += sum_box(b, 64);
	return nullptr;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000;
	pthread_t t;
	pthread_create(&t, nullptr, worker, nullptr);
	ctrace_span_begin("request");
	ctrace_attr_str("user", "alice");
	ctrace_attr_int("items", 3);
	slow_path(n);
	ctrace_mark("halfway");
	Box<int> a{1}, c{2};
	sink += a < c;
	ctrace_span_end();
	/* 30 ms of main's own time: main stays the widest root of the flame graph whatever the
	 * scheduler does to the worker on a busy machine (the browser test clicks it) */
	struct timespec ts = {0, 30000000};
	nanosleep(&ts, nullptr);
	pthread_join(t, nullptr);
	return 0;
}
