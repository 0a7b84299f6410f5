/* SPDX-License-Identifier: MIT */
/* Recursion and several calling paths for --graph, --callers/--callees, --slowest and replay
 * (tests/integ/test_reading.sh): a quicksort of 64 ints (auxsort recursive, partition below
 * it), and leaf() reached from main directly, through work(), and through work() > helper(). */
#include <stdio.h>

int leaf(int x)
{
	volatile int s = 0;

	for (int i = 0; i < 500 * x * x; i++)
		s += i;
	return s;
}

int partition(int *a, int lo, int hi)
{
	int p = a[hi], i = lo;

	for (int j = lo; j < hi; j++)
		if (a[j] < p) {
			int t = a[i];

			a[i++] = a[j];
			a[j] = t;
		}
	a[hi] = a[i];
	a[i] = p;
	return i;
}

void auxsort(int *a, int lo, int hi)
{
	if (lo >= hi)
		return;
	int p = partition(a, lo, hi);

	auxsort(a, lo, p - 1);
	auxsort(a, p + 1, hi);
}

void sort(int *a, int n)
{
	auxsort(a, 0, n - 1);
}

int helper(int x)
{
	return leaf(x);
}

int work(void)
{
	int s = 0;

	for (int i = 1; i <= 3; i++)
		s += helper(i);
	return s + leaf(1);
}

int main(void)
{
	int a[64];
	unsigned seed = 7;

	for (int i = 0; i < 64; i++) {
		seed = seed * 1103515245u + 12345u;
		a[i] = (int)(seed >> 16) % 1000;
	}
	sort(a, 64);
	for (int i = 1; i < 64; i++)
		if (a[i - 1] > a[i])
			return 1;
	printf("%d\n", work() + leaf(2) > 0);
	return 0;
}
