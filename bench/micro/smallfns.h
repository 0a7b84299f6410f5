/* SPDX-License-Identifier: MIT */
/*
 * 64 distinct small leaf functions and a driver loop that calls each in turn, shared by the
 * smallfns and threads micro workloads: many distinct addresses, shallow stacks, tiny bodies.
 */
#ifndef BENCH_SMALLFNS_H
#define BENCH_SMALLFNS_H

/* Macro-generated code that clang-format cannot lay out stably. */
/* clang-format off */

#define LEAF(i)                                                                              \
	__attribute__((noinline, noipa)) static unsigned leaf##i(unsigned x)                 \
	{                                                                                    \
		return x * (2u * i + 1u) + i;                                                \
	}
#define LEAF8(a) LEAF(a##0) LEAF(a##1) LEAF(a##2) LEAF(a##3) LEAF(a##4) LEAF(a##5) LEAF(a##6) LEAF(a##7)
LEAF8(1) LEAF8(2) LEAF8(3) LEAF8(4) LEAF8(5) LEAF8(6) LEAF8(7) LEAF8(9)

#define CALL(i) x = leaf##i(x);
#define CALL8(a) CALL(a##0) CALL(a##1) CALL(a##2) CALL(a##3) CALL(a##4) CALL(a##5) CALL(a##6) CALL(a##7)

/* One round: 64 leaf calls plus this function itself (65 calls). */
__attribute__((noinline, noipa)) static unsigned round64(unsigned x)
{
	CALL8(1) CALL8(2) CALL8(3) CALL8(4) CALL8(5) CALL8(6) CALL8(7) CALL8(9)
	return x;
}

__attribute__((noinline, noipa)) static unsigned run_rounds(unsigned long n, unsigned seed)
{
	unsigned x = seed;
	for (unsigned long i = 0; i < n; i++)
		x = round64(x);
	return x;
}

/* clang-format on */
#endif
