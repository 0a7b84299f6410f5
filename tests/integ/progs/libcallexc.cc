// SPDX-License-Identifier: MIT
// Exceptions and library calls for test_libcalls.sh: sorter() throws out of std::sort's
// comparator on its 5th call and catches it, qsorter() throws out of qsort's compare callback
// (through libc's frames) on its 3rd call and catches it; each then calls malloc and free once.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

struct boom {};
static int sort_calls, qsort_calls, caught;
static void *volatile keep;

__attribute__((noinline)) static bool less_throw(int a, int b)
{
	if (++sort_calls == 5)
		throw boom();
	return a < b;
}

__attribute__((noinline)) static int qcmp_throw(const void *a, const void *b)
{
	if (++qsort_calls % 3 == 0)
		throw boom();
	return *(const int *)a - *(const int *)b;
}

// std::sort in a frame of its own: clang instruments it before inlining, and an inlined
// function's frame shares its caller's stack address
__attribute__((noinline)) static void do_sort(std::vector<int> &v)
{
	std::sort(v.begin(), v.end(), less_throw);
}

__attribute__((noinline)) void sorter()
{
	std::vector<int> v{9, 3, 7, 1, 8, 2, 6, 4, 5, 0};

	try {
		do_sort(v);
	} catch (boom &) {
		caught++;
	}
	keep = malloc(8);
	free(keep);
}

__attribute__((noinline)) void qsorter()
{
	int a[10] = {9, 3, 7, 1, 8, 2, 6, 4, 5, 0};

	try {
		qsort(a, 10, sizeof(int), qcmp_throw);
	} catch (boom &) {
		caught++;
	}
	keep = malloc(16);
	free(keep);
}

int main()
{
	sorter();
	qsorter();
	qsorter();
	std::printf("caught=%d sort_calls=%d qsort_calls=%d\n", caught, sort_calls, qsort_calls);
	return 0;
}
