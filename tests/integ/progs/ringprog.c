/* SPDX-License-Identifier: MIT */
/*
 * Shared-ring tests (test_ring.sh): `ringprog MODE N [T]` calls work() exactly N times, then
 * ends as MODE says: calls (exit 0), kill (SIGKILL itself), segv (a NULL write), stall (stops
 * its parent, the drainer, before the calls and continues it after them), orphan (SIGKILLs its
 * parent first, then waits to be reparented), threads (T threads of N calls each, 50 at a time).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile unsigned long sink;
static int *volatile nowhere; /* NULL, opaque to the compiler: a real fault */

__attribute__((noinline)) void work(unsigned long i)
{
	sink += i;
}

__attribute__((noinline)) static void calls(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		work(i);
}

static void *thread_main(void *arg)
{
	calls((unsigned long)arg);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "calls";
	unsigned long n = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000;
	pid_t parent = getppid();

	if (!strcmp(mode, "stall"))
		kill(parent, SIGSTOP);
	if (!strcmp(mode, "orphan")) {
		kill(parent, SIGKILL);
		while (getppid() == parent)
			usleep(1000);
	}
	if (!strcmp(mode, "threads")) {
		unsigned long t = argc > 3 ? strtoul(argv[3], NULL, 10) : 10;
		pthread_t th[50];

		for (unsigned long done = 0; done < t;) {
			unsigned long k = t - done < 50 ? t - done : 50;

			for (unsigned long i = 0; i < k; i++)
				if (pthread_create(&th[i], NULL, thread_main, (void *)n) != 0)
					return 1;
			for (unsigned long i = 0; i < k; i++)
				pthread_join(th[i], NULL);
			done += k;
		}
		return 0;
	}
	calls(n);
	if (!strcmp(mode, "stall"))
		kill(parent, SIGCONT);
	if (!strcmp(mode, "kill"))
		raise(SIGKILL);
	if (!strcmp(mode, "segv"))
		*nowhere = 0;
	printf("done %lu\n", n);
	return 0;
}
