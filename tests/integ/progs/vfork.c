/* vfork: the child runs in the parent's memory until it execs; its calls (in_child) are not
 * the parent's. spawn() x5, then after(). */
#include <sys/wait.h>
#include <unistd.h>

__attribute__((noinline)) void in_child(void)
{
	execl("/bin/true", "true", (char *)0);
	_exit(127);
}

__attribute__((noinline)) int spawn(void)
{
	int st = -1;
	pid_t p = vfork();

	if (p == 0)
		in_child();
	if (p < 0 || waitpid(p, &st, 0) != p)
		return -1;
	return st;
}

__attribute__((noinline)) void after(void) {}

int main(void)
{
	int bad = 0;

	for (int i = 0; i < 5; i++)
		bad += spawn() != 0;
	after();
	return bad;
}
