/* envdef N: defines (and exports, -rdynamic) getenv and setenv of its own, instrumented, with
 * a variable table of its own, as bash does; calls leaf() N times. Prints its own getenv's
 * view of HOME_TEST. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;
static volatile long sink;
static char table[16][256];
static int n_table;

__attribute__((noinline)) void leaf(long x)
{
	sink += x;
}

char *getenv(const char *name)
{
	size_t n = strlen(name);

	for (int i = 0; i < n_table; i++)
		if (!strncmp(table[i], name, n) && table[i][n] == '=')
			return table[i] + n + 1;
	for (char **e = environ; e && *e; e++)
		if (!strncmp(*e, name, n) && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

int setenv(const char *name, const char *value, int overwrite)
{
	if (n_table < 16)
		snprintf(table[n_table++], sizeof(table[0]), "%s=%s", name, value);
	return 0;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000;
	const char *h = getenv("HOME_TEST");

	for (long i = 0; i < n; i++)
		leaf(i);
	printf("HOME_TEST=%s\n", h ? h : "(unset)");
	return 0;
}
