/* vforker N M: calls leaf() N times, vfork()s a child that calls _exit(0) at once (or, with a
 * third argument, execs /bin/true), then calls leaf() M times. */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile long sink;

__attribute__((noinline)) void leaf(long x)
{
	sink += x;
}

int main(int argc, char **argv)
{
	long n = atol(argv[1]), m = atol(argv[2]);
	int status;
	pid_t pid;

	for (long i = 0; i < n; i++)
		leaf(i);
	pid = vfork();
	if (pid == 0) {
		if (argc > 3)
			execl("/bin/true", "true", (char *)NULL);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 1;
	for (long i = 0; i < m; i++)
		leaf(i);
	return 0;
}
