/* SPDX-License-Identifier: MIT */
/*
 * Work that scales with argv[1]: `./scale 2` makes twice the step() calls of `./scale 1` (trend
 * tests). Each step() sleeps 10 ms, so its self time is set by the clock rather than by how much
 * CPU the machine has to spare: a test's 2x step stays 2x on a loaded machine.
 */
#include <stdlib.h>
#include <time.h>

__attribute__((noinline)) static void step(void)
{
	struct timespec ts = {0, 10000000};

	while (nanosleep(&ts, &ts) != 0)
		;
}

__attribute__((noinline)) void hot(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		step();
}

int main(int argc, char **argv)
{
	unsigned long scale = argc > 1 ? strtoul(argv[1], NULL, 10) : 1;

	hot(scale);
	return 0;
}
