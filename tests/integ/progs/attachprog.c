/* SPDX-License-Identifier: MIT */
/*
 * For tests/integ/test_attach.sh and bench/attach.sh: a program started without ctrace and
 * attached later. The main thread reads commands on stdin (blocked in read(2) between them);
 * "go N" makes each of the WORKERS worker threads (3 by default, argv[1] to change) call
 * work_a() and work_b() N times, the last one also sending itself SIGUSR1 every 100
 * iterations (handled by on_usr1()); each command is answered on stdout once done, with the
 * calls counted so far. "spin [US]" starts the workers calling work_a() in bursts of 100
 * with US (100) us naps until "stop" (bench). "dl FILE SYM N" dlopens FILE (once: dlopen counts)
 * and calls its void SYM(int) N times from the main thread. "quit" ends with status 3. The output
 * does not depend on tracing.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

static int workers = 3;
static sem_t go_sem[256], done_sem;
static volatile long go_n;
static volatile int spinning, quitting;
static volatile long nap_us = 100;
static long count_a, count_b;
static volatile sig_atomic_t usr1;

__attribute__((noinline)) void on_usr1(int sig)
{
	(void)sig;
	usr1++;
}

__attribute__((noinline)) long work_b(long x)
{
	return x * 3 + 1;
}

__attribute__((noinline)) long work_a(long x)
{
	return work_b(x) ^ x;
}

__attribute__((noinline)) void wait_go(long id)
{
	sem_wait(&go_sem[id]);
}

/* With "epoll" as argv[2]: a thread blocked in epoll_wait(2) (which the kernel does not
 * restart after a stop) on a pipe nobody writes; an EINTR is printed. */
static void *epoll_main(void *arg)
{
	int ep = epoll_create1(0), p[2];
	struct epoll_event ev = {.events = EPOLLIN}, out;

	(void)arg;
	if (ep < 0 || pipe(p) != 0 || epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) != 0)
		return NULL;
	for (;;)
		if (epoll_wait(ep, &out, 1, -1) < 0 && errno == EINTR) {
			printf("epoll_wait: EINTR\n");
			fflush(stdout);
		}
	return NULL;
}

static void *worker_main(void *arg)
{
	long id = (long)arg, acc = 0;

	for (;;) {
		wait_go(id);
		if (quitting)
			break;
		while (spinning) { /* a busy server: bursts of calls, short naps */
			struct timespec nap = {nap_us / 1000000, nap_us % 1000000 * 1000};

			for (int k = 0; k < 100; k++)
				acc += work_a(acc);
			nanosleep(&nap, NULL);
		}
		for (long i = 0; i < go_n; i++) {
			acc += work_a(i);
			if (id == workers - 1 && i % 100 == 99)
				pthread_kill(pthread_self(), SIGUSR1);
		}
		__atomic_fetch_add(&count_a, go_n, __ATOMIC_RELAXED);
		__atomic_fetch_add(&count_b, go_n, __ATOMIC_RELAXED);
		sem_post(&done_sem);
	}
	return (void *)acc;
}

/* One line from stdin, read a byte at a time (stays blocked in read(2) between commands). */
__attribute__((noinline)) int read_line(char *buf, int n)
{
	int k = 0;

	while (k < n - 1) {
		char c;
		ssize_t r = read(0, &c, 1);

		if (r <= 0)
			return -1;
		if (c == '\n')
			break;
		buf[k++] = c;
	}
	buf[k] = 0;
	return k;
}

__attribute__((noinline)) int handle(const char *cmd)
{
	if (!strncmp(cmd, "go ", 3)) {
		go_n = atol(cmd + 3);
		for (int i = 0; i < workers; i++)
			sem_post(&go_sem[i]);
		for (int i = 0; i < workers; i++)
			sem_wait(&done_sem);
		printf("done a=%ld b=%ld usr1=%d\n", count_a, count_b, (int)usr1);
	} else if (!strncmp(cmd, "spin", 4)) {
		nap_us = cmd[4] == ' ' ? atol(cmd + 5) : 100;
		go_n = 0;
		spinning = 1;
		for (int i = 0; i < workers; i++)
			sem_post(&go_sem[i]);
		printf("spinning\n");
	} else if (!strcmp(cmd, "stop")) {
		spinning = 0;
		for (int i = 0; i < workers; i++)
			sem_wait(&done_sem);
		printf("stopped\n");
	} else if (!strncmp(cmd, "dl ", 3)) {
		char file[256], sym[64];
		long n;
		void *h;
		void (*f)(int) = NULL;

		if (sscanf(cmd + 3, "%255s %63s %ld", file, sym, &n) != 3)
			return 0;
		if ((h = dlopen(file, RTLD_NOW)))
			f = (void (*)(int))dlsym(h, sym);
		for (long i = 0; f && i < n; i++)
			f((int)i);
		printf("dl %s %s\n", sym, f ? "called" : "missing");
	} else if (!strcmp(cmd, "quit")) {
		return 1;
	}
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	pthread_t th[256];
	struct sigaction sa;
	char line[128];

	if (argc > 1)
		workers = atoi(argv[1]);
	if (workers < 1 || workers > 256)
		return 2;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL); /* no SA_RESTART: an EINTR would show in read_line */
	for (int i = 0; i < workers; i++)
		sem_init(&go_sem[i], 0, 0);
	sem_init(&done_sem, 0, 0);
	for (long i = 0; i < workers; i++)
		pthread_create(&th[i], NULL, worker_main, (void *)i);
	if (argc > 2 && !strcmp(argv[2], "epoll")) {
		pthread_t ep;

		pthread_create(&ep, NULL, epoll_main, NULL);
		pthread_detach(ep);
	}
	printf("ready\n");
	fflush(stdout);
	while (read_line(line, sizeof(line)) >= 0)
		if (handle(line))
			break;
	quitting = 1;
	for (int i = 0; i < workers; i++)
		sem_post(&go_sem[i]);
	for (int i = 0; i < workers; i++)
		pthread_join(th[i], NULL);
	printf("bye a=%ld b=%ld usr1=%d\n", count_a, count_b, (int)usr1);
	return 3;
}
