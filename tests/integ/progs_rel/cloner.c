/* cloner N K M: calls leaf() N times, starts a child with raw clone() (no CLONE_VM, like
 * fork) that calls leaf() K times and returns 3, waits for it, then calls leaf() M times. */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

static volatile long sink;
static long k;

__attribute__((noinline)) void leaf(long x)
{
	sink += x;
}

static int child(void *arg)
{
	for (long i = 0; i < k; i++)
		leaf(i);
	return 3;
}

int main(int argc, char **argv)
{
	long n = atol(argv[1]), m = atol(argv[3]);
	size_t sz = 1 << 20;
	char *stack = malloc(sz);
	int status;
	pid_t pid;

	k = atol(argv[2]);
	for (long i = 0; i < n; i++)
		leaf(i);
	pid = clone(child, stack + sz, SIGCHLD, NULL);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 3)
		return 2;
	for (long i = 0; i < m; i++)
		leaf(i);
	return 0;
}
