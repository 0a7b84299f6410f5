/* Known call counts for the recording options: work() calls a() x100, b() x200 (each calls
 * leaf()), skipme() x10 (calls leaf()), spin() x5 (~60 us each). A span with attributes and a
 * mark around it. With "phases", waits for files so a test can switch recording on and off. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctrace.h"

static volatile int sink;
__attribute__((noinline)) void leaf(void)
{
	sink++;
}
__attribute__((noinline)) void a(void)
{
	sink++;
}
__attribute__((noinline)) void b(void)
{
	leaf();
}
__attribute__((noinline)) void skipme(void)
{
	leaf();
}
__attribute__((noinline)) void spin(void)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t1);
	while ((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) < 60000);
}
__attribute__((noinline)) void work(void)
{
	for (int i = 0; i < 100; i++)
		a();
	for (int i = 0; i < 200; i++)
		b();
	for (int i = 0; i < 10; i++)
		skipme();
	for (int i = 0; i < 5; i++)
		spin();
}
static void wait_for(const char *dir, const char *name)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	while (access(p, F_OK) != 0)
		usleep(2000);
}
static void say(const char *dir, const char *name)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fclose(fopen(p, "w"));
}
__attribute__((noinline)) void phase1(void)
{
	for (int i = 0; i < 100; i++)
		a();
}
__attribute__((noinline)) void phase2(void)
{
	for (int i = 0; i < 200; i++)
		b();
}
__attribute__((noinline)) void phase3(void)
{
	for (int i = 0; i < 50; i++)
		a();
}
__attribute__((noinline)) void phases(const char *dir)
{
	phase1();
	say(dir, "ready1");
	wait_for(dir, "go1");
	phase2();
	say(dir, "ready2");
	wait_for(dir, "go2");
	phase3();
}
__attribute__((noinline)) void paused(void)
{
	ctrace_pause();
	for (int i = 0; i < 100; i++)
		a();
	ctrace_resume();
	for (int i = 0; i < 200; i++)
		b();
}
int main(int argc, char **argv)
{
	if (argc > 2 && !strcmp(argv[1], "phases")) {
		phases(argv[2]);
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "paused")) {
		paused();
		return 0;
	}
	ctrace_thread_name("controller");
	{
		CTRACE_SCOPE("request");
		ctrace_attr_str("user", "alice & <bob>");
		ctrace_attr_int("n", 42);
		work();
		ctrace_mark("checkpoint");
	}
	printf("done %d\n", sink);
	return 3;
}
