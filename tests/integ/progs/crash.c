/* f() exactly 1000 times, then a NULL write: dies by SIGSEGV. */
#include <stdio.h>
static volatile int sink;
__attribute__((noinline)) void f(void)
{
	sink++;
}
__attribute__((noinline)) void boom(int *p)
{
	*p = 1;
}
int main(void)
{
	for (int i = 0; i < 1000; i++)
		f();
	boom((int *)(long)sink - sink);
	return 0;
}
