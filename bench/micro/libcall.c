/* SPDX-License-Identifier: MIT */
/*
 * Micro workload for --libcalls: one instrumented function making N library calls of strlen
 * (an IFUNC in glibc) on a short string. Usage: libcall N
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *volatile text = "library";

__attribute__((noinline)) static size_t loop(long n)
{
	size_t sum = 0;

	for (long i = 0; i < n; i++)
		sum += strlen(text);
	return sum;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;

	printf("%zu\n", loop(n));
	return 0;
}
