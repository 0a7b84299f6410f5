/* mt THREADS N: THREADS threads each call leaf() exactly N times (from worker()). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static volatile long sink;
static long calls;

__attribute__((noinline)) void leaf(long x)
{
	__atomic_fetch_add(&sink, x, __ATOMIC_RELAXED);
}

__attribute__((noinline)) void *worker(void *arg)
{
	for (long i = 0; i < calls; i++)
		leaf(i);
	return arg;
}

int main(int argc, char **argv)
{
	int nt = argc > 1 ? atoi(argv[1]) : 64;
	pthread_t *t = calloc((size_t)nt, sizeof(*t));

	calls = argc > 2 ? atol(argv[2]) : 1000;
	if (!t)
		return 1;
	for (int i = 0; i < nt; i++)
		if (pthread_create(&t[i], NULL, worker, NULL) != 0)
			return 1;
	for (int i = 0; i < nt; i++)
		pthread_join(t[i], NULL);
	printf("%d threads x %ld calls\n", nt, calls);
	return 0;
}
