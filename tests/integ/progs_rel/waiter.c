/* waiter FILE: calls leaf() every 10 ms until FILE exists, then exits 0. */
#include <stdlib.h>
#include <unistd.h>

static volatile long sink;

__attribute__((noinline)) void leaf(long x)
{
	sink += x;
}

int main(int argc, char **argv)
{
	for (long i = 0; access(argv[1], F_OK) != 0 && i < 3000; i++) {
		leaf(i);
		usleep(10000);
	}
	return 0;
}
