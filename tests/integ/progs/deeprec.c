/* SPDX-License-Identifier: MIT */
/* rec(N) with N from argv[1] (default 30000): N + 1 nested calls, one calling-context node per
 * level, for the deep-tree tests (tests/integ/test_deep.sh). */
#include <stdlib.h>

static volatile int sink;

__attribute__((noinline)) int rec(int n)
{
	sink++;
	if (n == 0)
		return 0;
	int r = rec(n - 1) + 1;
	sink--;
	return r;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 30000;

	return rec(n) == n ? 0 : 1;
}
