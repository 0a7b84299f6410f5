/* forktree DEPTH: a chain of DEPTH + 1 processes; the process at level L (0 = the first) calls
 * work() exactly 100 * (L + 1) times, then forks the next level and waits for it. Every process
 * prints "level L pid P" on stdout. Exits 0 when every descendant did. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile long sink;

__attribute__((noinline)) void work(int x)
{
	sink += x;
}

__attribute__((noinline)) int level(int l, int depth)
{
	int st = 0;

	for (int i = 0; i < 100 * (l + 1); i++)
		work(i);
	printf("level %d pid %d\n", l, (int)getpid());
	fflush(stdout);
	if (l == depth)
		return 0;
	pid_t c = fork();
	if (c < 0)
		return 1;
	if (c == 0)
		exit(level(l + 1, depth));
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st))
		return 1;
	return WEXITSTATUS(st);
}

int main(int argc, char **argv)
{
	return level(0, argc > 1 ? atoi(argv[1]) : 10);
}
