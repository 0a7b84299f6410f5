/* SPDX-License-Identifier: MIT */
/*
 * Lost-data tests (test_lostdata.sh): `lostprog wait FILE N` calls work() N times, waits until
 * FILE exists, then calls it N times more; `lostprog daemon FILE N` forks a child that leaves
 * the session, calls work() N times and tells the parent, which then exits 0; the child waits
 * for FILE, makes N more calls and exits. Nothing is printed but "done" lines at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static volatile unsigned long sink;

__attribute__((noinline)) void work(unsigned long i)
{
	sink += i;
}

__attribute__((noinline)) static void calls(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		work(i);
}

/* Waits (at most 60 s) until @path exists. */
static void wait_for(const char *path)
{
	struct stat st;

	for (int i = 0; i < 6000 && stat(path, &st) != 0; i++)
		usleep(10000);
}

int main(int argc, char **argv)
{
	unsigned long n;
	int fds[2];
	char c = 0;

	if (argc < 4)
		return 2;
	n = strtoul(argv[3], NULL, 10);
	if (argv[1][0] == 'w') {
		calls(n);
		wait_for(argv[2]);
		calls(n);
		printf("done %lu\n", 2 * n);
		return 0;
	}
	if (pipe(fds) != 0)
		return 1;
	switch (fork()) {
	case -1:
		return 1;
	case 0:
		close(fds[0]);
		setsid();
		calls(n);
		if (write(fds[1], &c, 1) != 1)
			return 1;
		close(fds[1]);
		wait_for(argv[2]);
		calls(n);
		return 0;
	default:
		close(fds[1]);
		if (read(fds[0], &c, 1) != 1)
			return 1;
		printf("done parent\n");
		return 0;
	}
}
