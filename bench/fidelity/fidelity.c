/* Fidelity of reported times (docs/performance.md): spin_N() burns exactly N TSC cycles;
 * loop() calls leaf(), a function of a few instructions, 1 M times. Built instrumented and
 * plain; the plain build prints the true per-iteration cost of loop(). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline __attribute__((no_instrument_function)) uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}
static __attribute__((always_inline, no_instrument_function)) inline void burn(uint64_t cycles)
{
	uint64_t t0 = rdtsc();
	while (rdtsc() - t0 < cycles)
		;
}
volatile int sink;
__attribute__((noinline)) void spin_1us(uint64_t c)
{
	burn(c);
}
__attribute__((noinline)) void spin_10us(uint64_t c)
{
	burn(c);
}
__attribute__((noinline)) void spin_100us(uint64_t c)
{
	burn(c);
}
__attribute__((noinline)) void spin_1ms(uint64_t c)
{
	burn(c);
}
__attribute__((noinline)) void leaf(void)
{
	sink++;
}
__attribute__((noinline)) void loop(long n)
{
	for (long i = 0; i < n; i++)
		leaf();
}
int main(int argc, char **argv)
{
	double ghz = argc > 1 ? atof(argv[1]) : 2.6; /* cycles per ns */
	long n = 1000000;
	struct timespec a, b;

	for (int i = 0; i < 200; i++)
		spin_1us((uint64_t)(1000 * ghz));
	for (int i = 0; i < 100; i++)
		spin_10us((uint64_t)(10000 * ghz));
	for (int i = 0; i < 50; i++)
		spin_100us((uint64_t)(100000 * ghz));
	for (int i = 0; i < 20; i++)
		spin_1ms((uint64_t)(1000000 * ghz));
	loop(n); /* warm */
	double best = 1e30;
	for (int r = 0; r < 5; r++) {
		clock_gettime(CLOCK_MONOTONIC, &a);
		loop(n);
		clock_gettime(CLOCK_MONOTONIC, &b);
		double ns = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n;
		if (ns < best)
			best = ns;
	}
	printf("%.3f\n", best);
	return 0;
}
