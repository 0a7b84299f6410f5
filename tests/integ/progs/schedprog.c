/* SPDX-License-Identifier: MIT */
/* Off-CPU time (tests/integ/test_sched.sh): two threads each run work(), which burns 20 ms of
 * CPU in burn(), then waits in lock_wait() for a mutex that main holds until both are
 * waiting plus 40 ms, then blocks in pipe_read() on a pipe that main writes 60 ms after both
 * are about to read. Prints each thread's CPU time spent in work() (CLOCK_THREAD_CPUTIME_ID),
 * in us, one line per thread: the program's own measure of work()'s on-CPU time. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int fds[2];
static int at_lock, at_read; /* threads about to lock / to read */

__attribute__((no_instrument_function)) static uint64_t clock_of(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

__attribute__((no_instrument_function)) static void nap_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* Waits until @n threads have reached *@flag. */
__attribute__((no_instrument_function)) static void wait_for(int *flag, int n)
{
	while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) < n)
		nap_ms(1);
}

/* Busy for @ms of this thread's CPU time. */
__attribute__((noinline)) void burn(unsigned ms)
{
	uint64_t end = clock_of(CLOCK_THREAD_CPUTIME_ID) + (uint64_t)ms * 1000000u;

	while (clock_of(CLOCK_THREAD_CPUTIME_ID) < end)
		;
}

__attribute__((noinline)) void lock_wait(void)
{
	__atomic_add_fetch(&at_lock, 1, __ATOMIC_RELEASE);
	pthread_mutex_lock(&mu);
	pthread_mutex_unlock(&mu);
}

__attribute__((noinline)) void pipe_read(void)
{
	char c;

	__atomic_add_fetch(&at_read, 1, __ATOMIC_RELEASE);
	while (read(fds[0], &c, 1) < 0)
		;
}

__attribute__((noinline)) void work(void)
{
	burn(20);
	lock_wait();
	pipe_read();
}

static void *thread_main(void *arg)
{
	uint64_t *cpu = arg, c0 = clock_of(CLOCK_THREAD_CPUTIME_ID);

	work();
	*cpu = clock_of(CLOCK_THREAD_CPUTIME_ID) - c0;
	return NULL;
}

int main(void)
{
	pthread_t t[2];
	uint64_t cpu[2];

	if (pipe(fds) != 0)
		return 1;
	pthread_mutex_lock(&mu);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, thread_main, &cpu[i]);
	wait_for(&at_lock, 2);
	nap_ms(40);
	pthread_mutex_unlock(&mu);
	wait_for(&at_read, 2);
	nap_ms(60);
	if (write(fds[1], "xx", 2) != 2)
		return 1;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 2; i++)
		printf("%llu\n", (unsigned long long)(cpu[i] / 1000));
	return 0;
}
