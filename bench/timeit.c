/* SPDX-License-Identifier: MIT */
/*
 * Tiny timing wrapper for bench/run.sh: runs a command (fork, exec, wait) and appends one line
 * "wall_s cpu_s maxrss_kb status" to OUT: wall clock from CLOCK_MONOTONIC around the child,
 * user+system CPU time and peak RSS of the child and its reaped descendants (wait4/getrusage
 * RUSAGE_CHILDREN). -e NAME=VALUE sets a variable in the child only, so an LD_PRELOAD under
 * test never loads into the timer. -R disables address space randomization in the child (as
 * setarch -R does) so programs that hash pointers make the same calls every run. The child's
 * stdout goes to /dev/null unless -s is given.
 * Usage: timeit -o OUT [-s] [-R] [-e NAME=VALUE]... -- COMMAND [ARG]...
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *out = NULL;
	int keep_stdout = 0, norandom = 0, opt;
	while ((opt = getopt(argc, argv, "+o:sRe:")) != -1) {
		switch (opt) {
		case 'o':
			out = optarg;
			break;
		case 's':
			keep_stdout = 1;
			break;
		case 'R':
			norandom = 1;
			break;
		case 'e':
			break; /* applied in the child */
		default:
			goto usage;
		}
	}
	if (!out || optind >= argc)
		goto usage;

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid = fork();
	if (pid < 0) {
		perror("timeit: fork");
		return 125;
	}
	if (pid == 0) {
		for (int i = 1; i < optind; i++) {
			if (strcmp(argv[i], "-e") == 0 && i + 1 < optind)
				putenv(argv[++i]);
			else if (strncmp(argv[i], "-e", 2) == 0)
				putenv(argv[i] + 2);
		}
		if (norandom && personality(PER_LINUX | ADDR_NO_RANDOMIZE) < 0)
			perror("timeit: personality");
		if (!keep_stdout) {
			int fd = open("/dev/null", O_WRONLY);
			if (fd >= 0)
				dup2(fd, 1);
		}
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "timeit: cannot run '%s'\n", argv[optind]);
		_exit(127);
	}
	int status;
	if (waitpid(pid, &status, 0) < 0) {
		perror("timeit: waitpid");
		return 125;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru);
	double wall = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
		     ru.ru_stime.tv_usec / 1e6;
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	FILE *f = fopen(out, "a");
	if (!f) {
		perror("timeit: open output");
		return 125;
	}
	fprintf(f, "%.6f %.6f %ld %d\n", wall, cpu, ru.ru_maxrss, code);
	fclose(f);
	return code;
usage:
	fprintf(stderr, "usage: timeit -o OUT [-s] [-R] [-e NAME=VALUE]... -- COMMAND [ARG]...\n");
	return 2;
}
