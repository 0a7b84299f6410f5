/* Process endings: "exit N" returns N from main, "_exit N" calls _exit(N), "sig N" raises
 * signal N, "abort" calls abort(), "fpe" divides by zero; each after exactly 100 calls of f().
 * "threads N" runs N short threads (100 at a time), each calling f() 10 times. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static volatile int sink, zero;
__attribute__((noinline)) void f(void)
{
	sink++;
}
__attribute__((noinline)) void *worker(void *arg)
{
	for (int i = 0; i < 10; i++)
		f();
	return arg;
}
int main(int argc, char **argv)
{
	if (argc > 2 && !strcmp(argv[1], "threads")) {
		int n = atoi(argv[2]);
		pthread_t t[100];
		for (int done = 0; done < n; done += 100) {
			int k = n - done < 100 ? n - done : 100;
			for (int i = 0; i < k; i++)
				pthread_create(&t[i], NULL, worker, NULL);
			for (int i = 0; i < k; i++)
				pthread_join(t[i], NULL);
		}
		return 0;
	}
	for (int i = 0; i < 100; i++)
		f();
	if (argc > 2 && !strcmp(argv[1], "exit"))
		return atoi(argv[2]);
	if (argc > 2 && !strcmp(argv[1], "_exit"))
		_exit(atoi(argv[2]));
	if (argc > 2 && !strcmp(argv[1], "sig"))
		raise(atoi(argv[2]));
	if (argc > 1 && !strcmp(argv[1], "abort"))
		abort();
	if (argc > 1 && !strcmp(argv[1], "fpe"))
		return sink / zero; /* 1 / x compiles to a comparison: no trap */
	return 0;
}
