/* SPDX-License-Identifier: MIT */
/* Many distinct call paths, each taken once, beside one long call: main -> walk(x) for x in
 * 0..4^7, which descends 7 levels through f<4*level + the level's two bits of x>, so the
 * calling-context tree has 21,844 nodes under walk, nearly all far narrower than a pixel of
 * the run, and main -> hot spins for about 50 ms (test_serve.sh: pruned profile and flame
 * answers). */
#include <stdlib.h>
#include <time.h>

#define LEVELS 7

typedef unsigned (*step_fn)(unsigned lvl, unsigned x);
static const step_fn tab[LEVELS * 4];
static volatile unsigned sink;

static __attribute__((no_instrument_function)) unsigned next(unsigned lvl, unsigned x)
{
	return lvl == LEVELS ? 1 : tab[lvl * 4 + ((x >> (2 * lvl)) & 3)](lvl + 1, x);
}

#define F(n)                                                                                       \
	__attribute__((noinline)) static unsigned f##n(unsigned lvl, unsigned x)                   \
	{                                                                                          \
		return next(lvl, x) + n;                                                           \
	}
F(0);
F(1);
F(2);
F(3);
F(4);
F(5);
F(6);
F(7);
F(8);
F(9);
F(10);
F(11);
F(12);
F(13);
F(14);
F(15);
F(16);
F(17);
F(18);
F(19);
F(20);
F(21);
F(22);
F(23);
F(24);
F(25);
F(26);
F(27);

static const step_fn tab[LEVELS * 4] = {f0,  f1,  f2,  f3,  f4,	 f5,  f6,  f7,	f8,  f9,
					f10, f11, f12, f13, f14, f15, f16, f17, f18, f19,
					f20, f21, f22, f23, f24, f25, f26, f27};

__attribute__((noinline)) static void walk(unsigned x)
{
	sink += next(0, x);
}

__attribute__((noinline)) static void hot(void)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	do {
		for (int i = 0; i < 1000; i++)
			sink += (unsigned)i;
		clock_gettime(CLOCK_MONOTONIC, &b);
	} while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < 50000000L);
}

int main(void)
{
	for (unsigned x = 0; x < (1u << (2 * LEVELS)); x++)
		walk(x);
	hot();
	return 0;
}
