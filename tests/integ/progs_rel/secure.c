/* secure: calls leaf() 10 times; prints whether libctrace is mapped and whether handlers for
 * ctrace's control signal and SIGSEGV are installed; exits 7. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile long sink;

__attribute__((noinline)) void leaf(long x)
{
	sink += x;
}

int main(void)
{
	char line[4096];
	struct sigaction ctl, segv;
	int mapped = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	for (long i = 0; i < 10; i++)
		leaf(i);
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "libctrace"))
			mapped = 1;
	if (f)
		fclose(f);
	sigaction(SIGRTMAX - 3, NULL, &ctl);
	sigaction(SIGSEGV, NULL, &segv);
	printf("mapped=%d ctl=%d segv=%d\n", mapped, ctl.sa_handler != SIG_DFL,
	       segv.sa_handler != SIG_DFL);
	return 7;
}
