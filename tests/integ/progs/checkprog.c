/* SPDX-License-Identifier: MIT */
/*
 * For tests/integ/test_check.sh: three CPU-bound functions with deterministic work, called the
 * same number of times. CHECK_SLOW_PCT=P makes each call of parse_config() do P% more work;
 * CHECK_EXTRA=N calls render_page() N more times (a call-count change, same per-call time);
 * CHECK_NEW=1 also calls audit_log() once per round (a function the baselines never saw).
 * usage: checkprog [ROUNDS]
 */
#include <stdio.h>
#include <stdlib.h>

static volatile unsigned long sink;

/* The work itself is not traced: inlined, and marked so even at -O0. */
static inline __attribute__((always_inline, no_instrument_function)) void spin(unsigned long n)
{
	unsigned long x = 88172645463325252ul;

	for (unsigned long i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	sink += x;
}

static unsigned long base_iters = 20000, slow_iters;

__attribute__((noinline)) void parse_config(void)
{
	spin(slow_iters);
}

__attribute__((noinline)) void render_page(void)
{
	spin(base_iters);
}

__attribute__((noinline)) void compress_data(void)
{
	spin(base_iters * 8);
}

__attribute__((noinline)) void audit_log(void)
{
	spin(base_iters / 4);
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 1000;
	const char *slow = getenv("CHECK_SLOW_PCT"), *extra = getenv("CHECK_EXTRA"),
		   *nw = getenv("CHECK_NEW");
	long more = extra ? atol(extra) : 0;

	slow_iters = base_iters + (slow ? base_iters * strtoul(slow, NULL, 10) / 100 : 0);
	for (long i = 0; i < rounds; i++) {
		parse_config();
		render_page();
		compress_data();
		if (nw && *nw == '1')
			audit_log();
	}
	for (long i = 0; i < more; i++)
		render_page();
	printf("%lu\n", sink & 1);
	return 0;
}
