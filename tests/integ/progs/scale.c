/* SPDX-License-Identifier: MIT */
/* Work that scales with argv[1]: `./scale 2` does twice the work of `./scale 1` (trend tests). */
#include <stdlib.h>

static volatile unsigned long sink;

__attribute__((noinline)) static void step(unsigned long i)
{
	for (int k = 0; k < 3000; k++)
		sink += i * (unsigned long)k;
}

__attribute__((noinline)) void hot(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		step(i);
}

int main(int argc, char **argv)
{
	unsigned long scale = argc > 1 ? strtoul(argv[1], NULL, 10) : 1;

	hot(4000 * scale);
	return 0;
}
