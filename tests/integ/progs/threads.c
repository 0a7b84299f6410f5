/* 8 threads; thread k (1..8) calls leaf() k*1000 times. */
#include <pthread.h>
#include <stdio.h>
static volatile int sink;
__attribute__((noinline)) void leaf(int x)
{
	sink += x;
}
__attribute__((noinline)) void *worker(void *arg)
{
	long k = (long)arg;
	for (long i = 0; i < k * 1000; i++)
		leaf((int)i);
	return NULL;
}
int main(void)
{
	pthread_t t[8];
	for (long k = 1; k <= 8; k++)
		pthread_create(&t[k - 1], NULL, worker, (void *)k);
	for (int k = 0; k < 8; k++)
		pthread_join(t[k], NULL);
	return 0;
}
