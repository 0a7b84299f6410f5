/* Exec and spawn with an environment of the program's own (tests/integ/test_followed.sh).
 * "follow_spawn ENTRY": the parent calls top() x1, then starts itself as "spawned" through
 * ENTRY (posix_spawn, posix_spawnp, execve, execvpe, execle, fexecve, execveat; the exec forms
 * from a fork child) with envp = {"PATH=/usr/bin:/bin", "HOME=/nonexistent-home", NULL}. The
 * spawned program checks that it got that environment, calls mid() x3 and execve()s itself as
 * "final" with envp = {"HOME=/final-home", NULL}; "final" calls leaf() x4 and exits 7. The
 * parent exits 0 when its child exited 7. With FOLLOW_PRELOAD=LIB in the parent's environment,
 * the spawned program's envp also has LD_PRELOAD=LIB, and it checks that it got
 * LD_PRELOAD=...libctrace.so:LIB (ctrace prepended, the program's own entry kept). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
static volatile int sink;
__attribute__((noinline)) void top(void)
{
	sink++;
}
__attribute__((noinline)) void mid(void)
{
	sink++;
}
__attribute__((noinline)) void leaf(void)
{
	sink++;
}

/* The program's own variables arrived as given (ctrace's may have been added). */
static int env_is(const char *home)
{
	const char *h = getenv("HOME");

	return h && !strcmp(h, home);
}

static int start(const char *entry, const char *self)
{
	char *argv[] = {(char *)"follow_spawn", (char *)"spawned", NULL};
	char *envp[] = {(char *)"PATH=/usr/bin:/bin", (char *)"HOME=/nonexistent-home", NULL, NULL,
			NULL};
	const char *extra = getenv("FOLLOW_PRELOAD");
	char ld[4096], want[4200];

	if (extra) {
		snprintf(ld, sizeof(ld), "LD_PRELOAD=%s", extra);
		snprintf(want, sizeof(want), "FOLLOW_WANT=%s", extra);
		envp[2] = ld;
		envp[3] = want;
	}
	pid_t pid;
	int st;

	if (!strcmp(entry, "posix_spawn") || !strcmp(entry, "posix_spawnp")) {
		int r = entry[11] ? posix_spawnp(&pid, self, NULL, NULL, argv, envp)
				  : posix_spawn(&pid, self, NULL, NULL, argv, envp);
		if (r)
			return 90;
	} else if ((pid = fork()) == 0) {
		if (!strcmp(entry, "execve"))
			execve(self, argv, envp);
		else if (!strcmp(entry, "execvpe"))
			execvpe(self, argv, envp);
		else if (!strcmp(entry, "execle"))
			execle(self, "follow_spawn", "spawned", (char *)NULL, envp);
		else if (!strcmp(entry, "fexecve"))
			fexecve(open(self, O_RDONLY | O_CLOEXEC), argv, envp);
		else if (!strcmp(entry, "execveat"))
			execveat(AT_FDCWD, self, argv, envp, 0);
		_exit(91);
	}
	if (waitpid(pid, &st, 0) != pid)
		return 92;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 93;
}

int main(int argc, char **argv)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return 94;
	self[n] = 0;
	if (argc > 1 && !strcmp(argv[1], "final")) {
		for (int i = 0; i < 4; i++)
			leaf();
		return env_is("/final-home") && !getenv("PATH") ? 7 : 95;
	}
	if (argc > 1 && !strcmp(argv[1], "spawned")) {
		char *fargv[] = {(char *)"follow_spawn", (char *)"final", NULL};
		char *fenvp[] = {(char *)"HOME=/final-home", NULL};

		const char *want = getenv("FOLLOW_WANT"), *ld = getenv("LD_PRELOAD");

		if (!env_is("/nonexistent-home"))
			return 96;
		if (want) { /* ".../libctrace.so:WANT" */
			size_t n = strlen(want), l = ld ? strlen(ld) : 0;
			const char *c = ld ? strstr(ld, "libctrace.so:") : NULL;

			if (!c || l <= n || strcmp(ld + l - n, want) || c + 13 != ld + l - n)
				return 98;
		}
		for (int i = 0; i < 3; i++)
			mid();
		execve(self, fargv, fenvp);
		return 97;
	}
	top();
	return start(argc > 1 ? argv[1] : "posix_spawn", self) == 7 ? 0 : 1;
}
