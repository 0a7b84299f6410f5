/* SPDX-License-Identifier: MIT */
/* Calls for the raw encoding test (test_encoding.sh): tiny leaves (one LEAF word each), leaves
 * too long for a LEAF (ENTER + EXIT), leaves with a mark inside (never a LEAF), and a() -> b()
 * -> tiny() chains whose two exits share an EXIT2 word. */
#include <stdint.h>
#include <stdlib.h>

#include "ctrace.h"

static volatile int sink;

static inline __attribute__((no_instrument_function)) uint64_t ticks(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

__attribute__((noinline)) void tiny(void)
{
	sink++;
}

/* Spins past 255 ticks of the TSC (and of CLOCK_MONOTONIC ns): never a LEAF. */
__attribute__((noinline)) void slow(void)
{
	uint64_t t0 = ticks();

	while (ticks() - t0 < 4000)
		sink++;
}

__attribute__((noinline)) void marked(void)
{
	ctrace_mark("inside");
}

__attribute__((noinline)) void b(void)
{
	tiny();
}

__attribute__((noinline)) void a(void)
{
	b();
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000;

	for (int i = 0; i < n; i++) {
		for (int k = 0; k < 20; k++)
			tiny();
		slow();
		a();
		if (i % 10 == 0)
			marked();
	}
	return 0;
}
