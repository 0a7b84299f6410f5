/* SPDX-License-Identifier: MIT */
/*
 * `ctrace ctl PID on|off|flush`: switches recording in a running process that has
 * libctrace.so preloaded. The command travels as the value of a queued real-time signal
 * (SIGRTMAX-3) that the preload handles; no file or socket is involved. The signal is sent
 * only to a process of the caller's own (root: any) that announces the preload's handler
 * (its memfd mapping "ctrace-ctl") and has the signal caught: never one it would kill.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cli.h"
#include "cmds.h"

/* 1 if process @pid maps libctrace.so, 2 if it also announces the control handler. */
static int has_preload(pid_t pid)
{
	char path[64], line[4096];
	FILE *f;
	int lib = 0, ann = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "/libctrace.so"))
			lib = 1;
		if (strstr(line, "/memfd:ctrace-ctl "))
			ann = 1;
	}
	fclose(f);
	return lib ? 1 + ann : 0;
}

/* From /proc/PID/status: whether @sig is caught, and the real, effective and saved uids. */
static int read_status(pid_t pid, int sig, int *caught, long uid[3])
{
	char path[64], line[512];
	FILE *f;
	int got = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long mask;

		if (sscanf(line, "Uid: %ld %ld %ld", &uid[0], &uid[1], &uid[2]) == 3)
			got |= 1;
		else if (sscanf(line, "SigCgt: %llx", &mask) == 1) {
			*caught = (int)((mask >> (sig - 1)) & 1);
			got |= 2;
		}
	}
	fclose(f);
	return got == 3 ? 0 : -1;
}

static int check_target(pid_t pid, struct ctr_err *e);

/* Sends @cmd as the value of SIGRTMAX-3 through @pidfd (the process checked, even if its pid
 * was reused since), or by pid where pidfds are missing. */
static int send_cmd(int pidfd, pid_t pid, int cmd)
{
	union sigval v = {.sival_int = cmd};
#ifdef SYS_pidfd_send_signal
	if (pidfd >= 0) {
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		si.si_signo = SIGRTMAX - 3;
		si.si_code = SI_QUEUE;
		si.si_pid = getpid();
		si.si_uid = getuid();
		si.si_value = v;
		return (int)syscall(SYS_pidfd_send_signal, pidfd, SIGRTMAX - 3, &si, 0);
	}
#endif
	return sigqueue(pid, SIGRTMAX - 3, v);
}

int ctr_cmd_ctl(int argc, char **argv)
{
	static const char *const names[] = {NULL, "on", "off", "flush", "snapshot"};
	struct ctr_err e;
	char *end;
	long pid;
	int cmd = 0, pidfd = -1, ret;

	ctr_err_clear(&e);
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf(
		    "usage: ctrace ctl PID on|off|flush|snapshot\n\n"
		    "Switches recording in a running process started with libctrace.so preloaded\n"
		    "(e.g. with CTRACE_START=off or 'ctrace record --start off'):\n"
		    "  on     start recording; calls already running are attributed from a stack "
		    "capture\n"
		    "  off    stop recording; open calls are closed at this instant\n"
		    "  flush  write the current end of every thread's events into its file "
		    "header\n"
		    "  snapshot  under 'ctrace record --ring': commit what the flight recorder "
		    "holds now\n"
		    "            as a run\n");
		return CTR_EXIT_OK;
	}
	if (argc != 3)
		return ctr_cli_usage("ctrace ctl", "usage: ctrace ctl PID on|off|flush|snapshot");
	pid = strtol(argv[1], &end, 10);
	if (*end || pid <= 0)
		return ctr_cli_usage("ctrace ctl", "'%s' is not a process id", argv[1]);
	for (int i = 1; i <= 4; i++)
		if (!strcmp(argv[2], names[i]))
			cmd = i;
	if (!cmd)
		return ctr_cli_usage("ctrace ctl",
				     "unknown command '%s' (on, off, flush, snapshot)", argv[2]);
#ifdef SYS_pidfd_open
	pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0); /* checked below, signalled as is */
#endif
	ret = check_target((pid_t)pid, &e);
	if (ret == 0 && send_cmd(pidfd, (pid_t)pid, cmd) != 0) {
		ctr_err_set(&e, CTR_EIO, errno, "cannot signal process %ld: %s", pid,
			    strerror(errno));
		ret = -1;
	}
	if (pidfd >= 0)
		close(pidfd);
	return ret ? ctr_cli_fail("ctrace ctl", &e) : CTR_EXIT_OK;
}

/* Why /proc/@pid/@what could not be read: the process is gone (CTR_ENOTFOUND), or it is
 * there but may not be inspected (CTR_EIO with the errno, e.g. pid 1 or another user's
 * process under ptrace restrictions). */
static int proc_error(pid_t pid, const char *what, struct ctr_err *e)
{
	int err = errno;
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	if (err == ENOENT || err == ESRCH || (stat(path, &st) != 0 && errno == ENOENT))
		return ctr_err_set(e, CTR_ENOTFOUND, ESRCH, "no process %ld", (long)pid);
	return ctr_err_set(e, CTR_EIO, err ? err : EIO,
			   "process %ld exists but cannot be inspected (/proc/%ld/%s: %s)",
			   (long)pid, (long)pid, what, strerror(err ? err : EIO));
}

/* 0 when process @pid is the caller's (root: anyone's) and announces and catches ctrace's
 * control signal; otherwise -1 with @e filled. */
static int check_target(pid_t pid, struct ctr_err *e)
{
	long uid[3], me = (long)geteuid();
	int caught = 0;

	if (read_status(pid, SIGRTMAX - 3, &caught, uid) != 0)
		return proc_error(pid, "status", e);
	if (me != 0 && (uid[0] != me || uid[1] != me || uid[2] != me || (long)getuid() != me))
		return ctr_err_set(e, CTR_EIO, EPERM,
				   "process %ld belongs to another user: not permitted", (long)pid);
	switch (has_preload(pid)) {
	case -1:
		return proc_error(pid, "maps", e);
	case 0:
		return ctr_err_set(e, CTR_ENOTFOUND, 0,
				   "process %ld does not have libctrace.so loaded", (long)pid);
	case 1:
		caught = 0; /* no announcement: whatever handles the signal is not ours */
		break;
	}
	if (!caught)
		return ctr_err_set(e, CTR_ENOTFOUND, 0,
				   "process %ld does not handle ctrace's control signal (a setuid "
				   "program, or one with a handler of its own): not sent",
				   (long)pid);
	return 0;
}
