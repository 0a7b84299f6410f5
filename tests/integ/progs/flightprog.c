/* SPDX-License-Identifier: MIT */
/*
 * Flight-recorder tests (test_flight.sh): `flightprog MODE N` runs 20 phases of N/20 calls of
 * work(); in phase 7 it calls rare() once and slow_call(60) (60 ms), in every other phase
 * slow_call(0). MODE: exit (return 0), segv (a NULL write after the phases), wait (before the
 * phases, makes 1 M calls of work(), writes its pid to ./flight.pid and goes on calling work()
 * until ./flight.go exists).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;
static int *volatile nowhere;

__attribute__((noinline)) void work(unsigned long i)
{
	sink += i;
}

__attribute__((noinline)) void rare(void)
{
	sink++;
}

__attribute__((noinline)) void slow_call(int ms)
{
	struct timespec ts = {0, ms * 1000000L};

	if (ms)
		nanosleep(&ts, NULL);
}

__attribute__((noinline)) static void phase(int k, unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		work(i);
	if (k == 7)
		rare();
	slow_call(k == 7 ? 60 : 0);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "exit";
	unsigned long n = argc > 2 ? strtoul(argv[2], NULL, 10) : 2000000;

	if (!strcmp(mode, "wait")) {
		FILE *f;

		for (unsigned long i = 0; i < 1000000; i++) /* more than the ring holds */
			work(i);
		f = fopen("flight.pid.tmp", "w");

		fprintf(f, "%d\n", (int)getpid());
		fclose(f);
		rename("flight.pid.tmp", "flight.pid");
		while (access("flight.go", F_OK) != 0)
			for (int i = 0; i < 1000; i++)
				work((unsigned long)i);
	}
	for (int k = 0; k < 20; k++)
		phase(k, n / 20);
	if (!strcmp(mode, "segv"))
		*nowhere = 0;
	printf("done\n");
	return 0;
}
