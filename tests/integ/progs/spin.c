/* SPDX-License-Identifier: MIT */
/* Calls spin(i) for i = 1..1000 in a fixed shuffled order; spin(i) busy-waits i microseconds,
 * so spin's call durations are known: their order statistics are i us
 * (tests/integ/test_reading.sh). */
#include <stdint.h>
#include <time.h>

__attribute__((no_instrument_function)) static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

__attribute__((noinline)) void spin(unsigned us)
{
	uint64_t end = now_ns() + (uint64_t)us * 1000u;

	while (now_ns() < end)
		;
}

int main(void)
{
	unsigned order[1000], seed = 12345;

	for (unsigned i = 0; i < 1000; i++)
		order[i] = i + 1;
	for (unsigned i = 999; i > 0; i--) { /* Fisher-Yates with a fixed LCG */
		seed = seed * 1103515245u + 12345u;
		unsigned j = (seed >> 8) % (i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (unsigned i = 0; i < 1000; i++)
		spin(order[i]);
	return 0;
}
