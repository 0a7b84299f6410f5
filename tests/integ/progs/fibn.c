/* SPDX-License-Identifier: MIT */
/* fib(N) for N = argv[1] (default 20): about 1.6^N calls (fib(33): 11.4 M), for large runs. */
#include <stdio.h>
#include <stdlib.h>

int fib(int n)
{
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

int main(int argc, char **argv)
{
	printf("%d\n", fib(argc > 1 ? atoi(argv[1]) : 20));
	return 0;
}
