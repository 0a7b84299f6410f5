/* SPDX-License-Identifier: MIT */
/*
 * Micro workload: a loop over 64 distinct small functions (see smallfns.h).
 * Usage: smallfns ROUNDS (65 calls per round).
 */
#include <stdio.h>
#include <stdlib.h>

#include "smallfns.h"

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
	printf("%u\n", run_rounds(n, 1));
	return 0;
}
