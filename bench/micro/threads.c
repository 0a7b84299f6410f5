/* SPDX-License-Identifier: MIT */
/*
 * Micro workload: THREADS threads each running the small-functions loop (smallfns.h) ROUNDS
 * times, started together. With THREADS=1 and 2 the pair measures how a tracer scales with
 * threads: ideally the per-thread cost does not change. Usage: threads THREADS ROUNDS.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "smallfns.h"

static unsigned long rounds;

static void *worker(void *arg)
{
	unsigned *x = arg;
	*x = run_rounds(rounds, *x);
	return NULL;
}

int main(int argc, char **argv)
{
	int nt = argc > 1 ? atoi(argv[1]) : 2;
	rounds = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000;
	if (nt < 1 || nt > 64)
		return 2;
	pthread_t tid[64];
	unsigned seed[64], sum = 0;
	for (int i = 0; i < nt; i++) {
		seed[i] = (unsigned)i + 1;
		if (pthread_create(&tid[i], NULL, worker, &seed[i]) != 0)
			return 1;
	}
	for (int i = 0; i < nt; i++) {
		pthread_join(tid[i], NULL);
		sum += seed[i];
	}
	printf("%u\n", sum);
	return 0;
}
