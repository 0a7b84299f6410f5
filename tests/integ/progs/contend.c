/* SPDX-License-Identifier: MIT */
/*
 * CPU-bound threads that all run at once (a barrier starts them together): argv[1] threads
 * (default 4), each calling work() once, which calls outer() argv[2] times (default 100000);
 * outer -> mid -> 2 x leaf. More threads than CPUs makes wall time and CPU time part ways
 * (the contention checks of the report).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_barrier_t start;
static long rounds = 100000;
static volatile unsigned long sink;

__attribute__((noinline)) static void leaf(unsigned long x)
{
	for (int i = 0; i < 20; i++)
		sink += x * (unsigned long)i;
}
__attribute__((noinline)) static void mid(unsigned long x)
{
	leaf(x);
	leaf(x + 1);
}
__attribute__((noinline)) static void outer(unsigned long x)
{
	mid(x);
}
__attribute__((noinline)) static void work(long id)
{
	for (long i = 0; i < rounds; i++)
		outer((unsigned long)(id + i));
}
static void *worker(void *arg)
{
	pthread_barrier_wait(&start);
	work((long)arg);
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 4;
	pthread_t t[64];

	if (argc > 2)
		rounds = atol(argv[2]);
	if (n < 1 || n > 64)
		return 2;
	pthread_barrier_init(&start, NULL, (unsigned)n);
	for (long i = 0; i < n; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	printf("%lu\n", sink & 0xff);
	return 0;
}
