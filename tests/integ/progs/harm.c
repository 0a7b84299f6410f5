/* harm MODE [N]: programs the preload must not harm (issue 24, items 3-6, 12, 16); test_harm.sh.
 *  cancel       a thread cancelled before its first instrumented call runs work() (leaf x100)
 *               on to its own pthread_testcancel(): prints "reached 1 canceled 1"
 *  async N      N threads with asynchronous cancel type call leaf() until cancelled, the odd ones
 *               at their first call: prints "async N"
 *  fds N        N live threads (each called leaf() once), then 300 open()s of /dev/null, all
 *               kept open: prints "emfile K" (K failed with EMFILE)
 *  clone N      a raw clone(CLONE_VM) child calls child_work() (leaf x N) while the parent calls
 *               leaf() N times, then the parent calls after_clone() (leaf x N): "clone ok"
 *  sigjmp N     a SIGPROF handler (a 50 us timer) siglongjmps out while busy() recurses; after the
 *               timer stops, after_timer() calls leaf() N times: "sigjmp J" (J jumps, > 0)
 *  loop DIR     a thread writes DIR/ready, then calls leaf() in a tight loop until SIGRTMAX (its
 *               handler is not instrumented), then tail() once; main waits in pthread_join
 *               with `ctrace ctl`'s signal blocked, so that the loop thread takes it
 *  cancellife   a thread calls leaf() 10 times, then sleeps in a cancellation point until main
 *               cancels it after 20 ms: prints "canceled 1" */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOINSTR __attribute__((no_instrument_function))

static volatile long sink;
static volatile int reached;
static sem_t ready, go;

__attribute__((noinline)) void leaf(long x)
{
	sink += x;
}

__attribute__((noinline)) void work(void)
{
	for (int i = 0; i < 100; i++)
		leaf(i);
}

/* ---- cancel: deferred cancellation pending before the thread's first event */
static NOINSTR void *cancel_thread(void *arg)
{
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	sem_post(&ready);
	sem_wait(&go); /* cancelled meanwhile: the request stays pending */
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
	work(); /* no cancellation point in here natively */
	reached = 1;
	pthread_testcancel();
	reached = 2;
	return arg;
}

static NOINSTR int mode_cancel(void)
{
	pthread_t th;
	void *ret;

	sem_init(&ready, 0, 0);
	sem_init(&go, 0, 0);
	pthread_create(&th, NULL, cancel_thread, NULL);
	sem_wait(&ready);
	pthread_cancel(th);
	sem_post(&go);
	pthread_join(th, &ret);
	printf("reached %d canceled %d\n", reached, ret == PTHREAD_CANCELED);
	return 0;
}

/* ---- async: asynchronous cancellation anywhere in the hooks */
static volatile long spins[64];

__attribute__((noinline)) void spin_leaf(long *c)
{
	(*(volatile long *)c)++;
}

static NOINSTR void *async_thread(void *arg)
{
	long *c = (long *)&spins[(long)arg];

	pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL);
	*c = 1; /* started: its first event, with its files, comes now */
	for (;;) {
		spin_leaf(c);
		leaf(*c);
	}
	return NULL;
}

static NOINSTR int mode_async(int n)
{
	pthread_t th[64];
	int done = 0;

	if (n > 64)
		n = 64;
	for (long i = 0; i < n; i++) {
		pthread_create(&th[i], NULL, async_thread, (void *)i);
		/* odd threads while their first event opens their files, even ones later, past
		 * their first window: in the hooks or between them */
		while (spins[i] < (i & 1 ? 1 : 200000 + 50000 * i))
			sched_yield();
		pthread_cancel(th[i]);
		void *ret;
		pthread_join(th[i], &ret);
		done += ret == PTHREAD_CANCELED;
	}
	printf("async %d\n", done);
	return 0;
}

/* ---- fds: no descriptor per live thread */
static pthread_barrier_t bar;

static NOINSTR void *fd_thread(void *arg)
{
	leaf(1);
	pthread_barrier_wait(&bar); /* every thread has recorded */
	pthread_barrier_wait(&bar); /* main has opened its files */
	return arg;
}

static NOINSTR int mode_fds(int n)
{
	pthread_t *th = calloc((size_t)n, sizeof(*th));
	pthread_attr_t a;
	int emfile = 0;

	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 64 * 1024);
	pthread_barrier_init(&bar, NULL, (unsigned)n + 1);
	for (int i = 0; i < n; i++)
		if (pthread_create(&th[i], &a, fd_thread, NULL) != 0)
			return 3;
	pthread_barrier_wait(&bar);
	for (int i = 0; i < 300; i++)
		if (open("/dev/null", O_RDONLY) < 0 && errno == EMFILE)
			emfile++;
	pthread_barrier_wait(&bar);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	printf("emfile %d\n", emfile);
	return 0;
}

/* ---- clone: a raw CLONE_VM child, sharing the parent's TLS */
static long clone_n;
static volatile int child_started;

__attribute__((noinline)) void child_work(void)
{
	for (long i = 0; i < clone_n; i++)
		leaf(i);
}

static int clone_child(void *arg)
{
	child_started = 1;
	child_work();
	return 0;
}

__attribute__((noinline)) void after_clone(void)
{
	for (long i = 0; i < clone_n; i++)
		leaf(i);
}

static int mode_clone(long n)
{
	size_t sz = 1 << 20;
	char *stack = malloc(sz);
	int status;
	pid_t pid;

	clone_n = n;
	pid = clone(clone_child, stack + sz, CLONE_VM | SIGCHLD, NULL);
	if (pid < 0)
		return 3;
	while (!child_started)
		; /* the parent's calls below run while the child runs */
	for (long i = 0; i < n; i++)
		leaf(i);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return 4;
	after_clone();
	printf("clone ok\n");
	return 0;
}

/* ---- sigjmp: siglongjmp out of a SIGPROF handler */
static sigjmp_buf jb;
static volatile int jumps, armed;

void on_prof(int s)
{
	leaf(s);
	siglongjmp(jb, 1);
}

__attribute__((noinline)) long busy(int d)
{
	leaf(d);
	return d ? busy(d - 1) + 1 : 0;
}

__attribute__((noinline)) void after_timer(long n)
{
	for (long i = 0; i < n; i++)
		leaf(i);
}

__attribute__((noinline)) static int mode_sigjmp(long n)
{
	struct itimerspec it = {{0, 50000}, {0, 50000}}, off = {{0, 0}, {0, 0}};
	struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGPROF};
	struct sigaction sa;
	struct timespec t0, t1;
	static timer_t tm;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_prof;
	sigaction(SIGPROF, &sa, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (timer_create(CLOCK_MONOTONIC, &ev, &tm) != 0)
		return 3;
	if (sigsetjmp(jb, 1))
		jumps++;
	if (!armed) { /* the jump target is set: the timer may fire */
		armed = 1;
		timer_settime(tm, 0, &it, NULL);
	}
	do {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (jumps >= 2000 || t1.tv_sec - t0.tv_sec >= 20)
			break;
		busy(20);
	} while (1);
	timer_settime(tm, 0, &off, NULL);
	signal(SIGPROF, SIG_IGN);
	after_timer(n);
	printf("sigjmp %d\n", jumps > 0);
	return 0;
}

/* ---- loop: ctrace ctl PID on must reach a tight loop */
static volatile sig_atomic_t stop;

static NOINSTR void on_stop(int s)
{
	stop = 1;
}

__attribute__((noinline)) void tail(void)
{
	leaf(0);
}

__attribute__((noinline)) void *loop_thread(void *dir)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/ready", (const char *)dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	while (!stop) {
		leaf(1);
		for (volatile int i = 0; i < 2000; i++)
			; /* where the switch mostly lands: the next hook is an enter */
	}
	tail();
	return NULL;
}

static int mode_loop(const char *dir)
{
	pthread_t th;

	sigset_t ctl;

	signal(SIGRTMAX, on_stop);
	pthread_create(&th, NULL, loop_thread, (void *)dir);
	sigemptyset(&ctl);
	sigaddset(&ctl, SIGRTMAX - 3); /* `ctrace ctl`: delivered to the loop thread */
	pthread_sigmask(SIG_BLOCK, &ctl, NULL);
	pthread_join(th, NULL);
	return 0;
}

/* ---- cancellife: a cancelled thread's whole life */
__attribute__((noinline)) void *life_thread(void *arg)
{
	for (int i = 0; i < 10; i++)
		leaf(i);
	sem_post(&ready);
	for (;;)
		pause(); /* a cancellation point */
	return arg;
}

static NOINSTR int mode_cancellife(void)
{
	struct timespec d = {0, 20 * 1000 * 1000};
	pthread_t th;
	void *ret;

	sem_init(&ready, 0, 0);
	pthread_create(&th, NULL, life_thread, NULL);
	sem_wait(&ready);
	nanosleep(&d, NULL);
	pthread_cancel(th);
	pthread_join(th, &ret);
	printf("canceled %d\n", ret == PTHREAD_CANCELED);
	return 0;
}

int main(int argc, char **argv)
{
	const char *m = argc > 1 ? argv[1] : "";
	long n = argc > 2 ? atol(argv[2]) : 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(m, "cancel"))
		return mode_cancel();
	if (!strcmp(m, "async"))
		return mode_async((int)n);
	if (!strcmp(m, "fds"))
		return mode_fds((int)n);
	if (!strcmp(m, "clone"))
		return mode_clone(n);
	if (!strcmp(m, "sigjmp"))
		return mode_sigjmp(n);
	if (!strcmp(m, "loop") && argc > 2)
		return mode_loop(argv[2]);
	if (!strcmp(m, "cancellife"))
		return mode_cancellife();
	return 2;
}
