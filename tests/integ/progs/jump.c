/* f0 sets a jump point, f1..f5 nest, f5 longjmps back to f0, then f0 calls after(). */
#include <setjmp.h>
#include <stdio.h>
static jmp_buf env;
static volatile int sink;
__attribute__((noinline)) void f5(void)
{
	longjmp(env, 1);
}
__attribute__((noinline)) void f4(void)
{
	f5();
	sink++;
}
__attribute__((noinline)) void f3(void)
{
	f4();
	sink++;
}
__attribute__((noinline)) void f2(void)
{
	f3();
	sink++;
}
__attribute__((noinline)) void f1(void)
{
	f2();
	sink++;
}
__attribute__((noinline)) void after(void)
{
	sink++;
}
__attribute__((noinline)) void f0(void)
{
	if (setjmp(env) == 0)
		f1();
	after();
}
int main(void)
{
	f0();
	return 0;
}
