/* parent: a() x3, fork; child: b() x5 then exec itself as "child2": c() x7. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static volatile int sink;
__attribute__((noinline)) void a(void)
{
	sink++;
}
__attribute__((noinline)) void b(void)
{
	sink++;
}
__attribute__((noinline)) void c(void)
{
	sink++;
}
int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "child2")) {
		for (int i = 0; i < 7; i++)
			c();
		return 5;
	}
	for (int i = 0; i < 3; i++)
		a();
	pid_t p = fork();
	if (p == 0) {
		for (int i = 0; i < 5; i++)
			b();
		execl("/proc/self/exe", argv[0], "child2", (char *)NULL);
		_exit(99);
	}
	int st;
	waitpid(p, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 5 ? 0 : 1;
}
