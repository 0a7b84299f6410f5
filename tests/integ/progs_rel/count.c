/* count N [STATUS [LINES]]: calls leaf() N times from main (2N + 2 events), prints LINES lines
 * (default 3) to stdout and one to stderr, then exits with STATUS (default 0); STATUS "term"
 * makes it kill itself with SIGTERM instead. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile long sink;

__attribute__((noinline)) void leaf(long x)
{
	sink += x;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000, lines = argc > 3 ? atol(argv[3]) : 3;

	for (long i = 0; i < n; i++)
		leaf(i);
	for (long i = 0; i < lines; i++)
		printf("line %ld of %ld: sum %ld\n", i, lines, (long)sink);
	fprintf(stderr, "count: done\n");
	fflush(stdout);
	if (argc > 2 && strcmp(argv[2], "term") == 0)
		raise(SIGTERM);
	return argc > 2 ? atoi(argv[2]) : 0;
}
