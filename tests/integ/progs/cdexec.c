/* Calls work(), changes to / and execs itself, which calls work() again: the exec'd image
 * must still find the run (ctrace record passes an absolute run directory). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
static volatile int sink;
__attribute__((noinline)) void work(void)
{
	sink++;
}
int main(int argc, char **argv)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n] = 0;
	work();
	if (argc == 1) {
		if (chdir("/") != 0)
			return 2;
		execl(self, self, "again", (char *)NULL);
		return 3;
	}
	return 0;
}
