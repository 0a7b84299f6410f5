/* SPDX-License-Identifier: MIT */
/*
 * Micro workload: naive recursive Fibonacci, the densest call pattern there is (one call per
 * few instructions, stack depth up to N). Usage: fib N (fib(N) makes about 1.6^N calls).
 */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline, noipa)) static long fib(int n)
{
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 30;
	printf("fib(%d) = %ld\n", n, fib(n));
	return 0;
}
