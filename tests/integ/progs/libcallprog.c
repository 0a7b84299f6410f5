/* SPDX-License-Identifier: MIT */
/*
 * Library calls for test_libcalls.sh: work() calls malloc and free NALLOC times each, memcpy
 * NCOPY times, qsort once (its compare callback is instrumented and counts itself), then reads
 * a pipe that a thread writes 60 ms later; contend() holds a mutex a second thread waits for
 * (about 40 ms after it said it is about to lock); jumpy() longjmps out of qsort's callback and
 * calls malloc and free after it; forker() forks a child that calls malloc and free. Prints
 * the compare count. With an argument, first dlopens that library (libcall_dl.c) and calls it.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NALLOC 37
#define NCOPY 23
#define NSORT 50

static void *volatile keep[NALLOC];
static volatile size_t copy_len = 64;
char src[256], dst[256]; /* external: the copies cannot be left out */
static int compares, fds[2], ready[2];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static jmp_buf jb;

static void pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

__attribute__((noinline)) static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	compares++;
	return (x > y) - (x < y);
}

static void *writer(void *arg)
{
	(void)arg;
	pause_ms(60);
	if (write(fds[1], "x", 1) != 1)
		exit(3);
	return NULL;
}

__attribute__((noinline)) void work(void)
{
	int arr[NSORT];
	pthread_t w;
	char c;

	for (int i = 0; i < NALLOC; i++)
		keep[i] = malloc(16 + (size_t)i);
	for (int i = 0; i < NALLOC; i++)
		free(keep[i]);
	for (int i = 0; i < NCOPY; i++)
		memcpy(dst + (i & 7), src, copy_len);
	for (int i = 0; i < NSORT; i++)
		arr[i] = (i * 7919) % 101;
	qsort(arr, NSORT, sizeof(int), cmp_int);
	if (pthread_create(&w, NULL, writer, NULL) != 0)
		exit(3);
	if (read(fds[0], &c, 1) != 1)
		exit(3);
	pthread_join(w, NULL);
}

__attribute__((noinline)) static void lock_wait(void)
{
	if (write(ready[1], "r", 1) != 1)
		exit(3);
	pthread_mutex_lock(&mu);
	pthread_mutex_unlock(&mu);
}

static void *locker(void *arg)
{
	(void)arg;
	lock_wait();
	return NULL;
}

__attribute__((noinline)) void contend(void)
{
	pthread_t t;
	char c;

	pthread_mutex_lock(&mu);
	if (pthread_create(&t, NULL, locker, NULL) != 0 || read(ready[0], &c, 1) != 1)
		exit(3);
	pause_ms(40); /* the other thread waits in pthread_mutex_lock meanwhile */
	pthread_mutex_unlock(&mu);
	pthread_join(t, NULL);
}

__attribute__((noinline)) static int cmp_jump(const void *a, const void *b)
{
	(void)a, (void)b;
	longjmp(jb, 1);
}

__attribute__((noinline)) static void after_jump(void)
{
	keep[0] = malloc(8);
	free(keep[0]);
}

__attribute__((noinline)) void jumpy(void)
{
	int arr[8] = {3, 1, 2, 8, 5, 7, 6, 4};

	if (!setjmp(jb))
		qsort(arr, 8, sizeof(int), cmp_jump);
	after_jump();
}

__attribute__((noinline)) static void in_child(void)
{
	keep[1] = malloc(24);
	free(keep[1]);
}

/* fork() returns twice through its trampoline, once in each process */
__attribute__((noinline)) void forker(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		in_child();
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		exit(3);
}

/* dlopens @path (libcall_dl.c) and calls its lc_dl_work() once */
__attribute__((noinline)) static void dl_part(const char *path)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	void (*fn)(void) = h ? (void (*)(void))dlsym(h, "lc_dl_work") : NULL;

	if (!fn)
		exit(3);
	fn();
}

int main(int argc, char **argv)
{
	if (pipe(fds) != 0 || pipe(ready) != 0)
		return 3;
	if (argc > 1)
		dl_part(argv[1]);
	work();
	contend();
	jumpy();
	jumpy();
	forker();
	printf("compares=%d\n", compares);
	return 0;
}
