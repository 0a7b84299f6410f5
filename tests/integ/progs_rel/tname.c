/* tname: renames its thread "renamed" (pthread_setname_np) and calls f() 5 times. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>

static volatile int sink;

__attribute__((noinline)) void f(int x)
{
	sink += x;
}

int main(void)
{
	pthread_setname_np(pthread_self(), "renamed");
	for (int i = 0; i < 5; i++)
		f(i);
	return 0;
}
