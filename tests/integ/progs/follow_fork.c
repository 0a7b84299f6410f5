/* Fork children with and without calls of their own (tests/integ/test_followed.sh): the
 * parent calls work() x1; child 1, forked inside quiet(), makes no call and returns through
 * quiet() and main(); child 2, forked inside busy(), calls work() x2 and returns the same way. */
#include <sys/wait.h>
#include <unistd.h>
static volatile int sink;
__attribute__((noinline)) void work(void)
{
	sink++;
}
__attribute__((noinline)) int quiet(void)
{
	return fork() == 0;
}
__attribute__((noinline)) int busy(void)
{
	if (fork() != 0)
		return 0;
	work();
	work();
	return 1;
}
int main(void)
{
	int st, ok = 1;

	work();
	if (quiet())
		return 0;
	if (busy())
		return 0;
	while (wait(&st) > 0)
		ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
	return ok ? 0 : 1;
}
