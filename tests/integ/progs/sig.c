/* An instrumented SIGUSR1 handler runs 3 times, raised from instrumented code. */
#include <signal.h>
#include <string.h>
static volatile int sink;
__attribute__((noinline)) void in_handler(void)
{
	sink++;
}
void on_sig(int s)
{
	in_handler();
}
__attribute__((noinline)) void fire(void)
{
	raise(SIGUSR1);
}
int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sig;
	sigaction(SIGUSR1, &sa, NULL);
	for (int i = 0; i < 3; i++)
		fire();
	return sink == 3 ? 0 : 1;
}
