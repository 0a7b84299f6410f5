/* SPDX-License-Identifier: MIT */
/*
 * `ctrace attach PID`: loading the recorder into a running -finstrument-functions program with
 * ptrace, starting and stopping it there (docs/attach.md). A short call is injected into one
 * thread at a time (dlopen of libctrace.so, then its ctrace__attach_start/stop), with every
 * register, the extended FPU state and the signal mask put back exactly afterwards, and a system
 * call the thread was blocked in restarted as the kernel would after a stop. x86-64 only.
 */
#ifndef CTR_ATTACH_H
#define CTR_ATTACH_H

#include <stdint.h>
#include <sys/types.h>

#include "../../common/err.h"

/* What ctr_attach_check() learned about the target. */
struct ctr_attach_info {
	int n_threads;	/* threads in /proc/PID/task */
	int lib_loaded; /* libctrace.so is mapped already (dormant from an earlier attach) */
	uid_t uid;	/* the process's real uid */
	char exe[4096]; /* /proc/PID/exe */
};

/* Timings of one injection, in nanoseconds (CLOCK_MONOTONIC). */
struct ctr_attach_stats {
	int64_t stop_ns;  /* longest time one thread of the program stayed stopped */
	int64_t cpu_ns;	  /* of that, the injected thread's time on a CPU (schedstat): the
			   * rest is waiting for one on a busy machine */
	int64_t total_ns; /* from the first ptrace call to the last */
	int n_threads;	  /* threads stopped (detach stops them all) */
};

/* The preload's entry points in the process, found at the start while the program runs on
 * (its loader's locks free), so that the detach, with every thread stopped, looks nothing up. */
struct ctr_attach_syms {
	uintptr_t quiesce; /* ctrace__attach_quiesce(): hooks back on glibc's, others running */
	uintptr_t stop;	   /* ctrace__attach_stop(): streams closed, every thread stopped */
};

/*
 * Checks that process @pid can be attached with preload @lib, in this order, each with its own
 * code (docs/errors.md): it exists (CTR_ENOTFOUND), it is not a zombie or exiting
 * (CTR_ETARGET), it is ours (real uid, or we are root: CTR_EPERM), it is not recording already
 * (libctrace.so preloaded or a run directory in its environment: CTR_EEXIST), it is dynamically
 * linked against the same libc.so.6 file as ctrace (CTR_ETARGET) and some object of it calls
 * __cyg_profile_func_enter (CTR_ETARGET: not built with -finstrument-functions). Touches nothing
 * in the process; fills @info.
 */
int ctr_attach_check(pid_t pid, const char *lib, struct ctr_attach_info *info, struct ctr_err *e);

/*
 * Loads @lib into @pid (unless loaded) and starts recording with @conf (CTRACE_* KEY=VALUE
 * lines, no empty one; at most 64 KiB): one thread, blocked in a system call when one is, is
 * stopped for the two or three injected calls; the others run on. Ptrace refusals name
 * ptrace_scope when Yama is the reason (CTR_EPERM). Fills @st. 0 or a negative CTR_E* code;
 * on failure the process runs on as it was (the library may stay mapped, dormant).
 */
int ctr_attach_start(pid_t pid, const char *lib, const char *conf, struct ctr_attach_syms *syms,
		     struct ctr_attach_stats *st, struct ctr_err *e);

/*
 * Ends the recording started by ctr_attach_start() in two injections. First, into one thread
 * with the others running (as at the start), ctrace__attach_quiesce(): the hook, dlopen and
 * dlsym slots go back to glibc's, which takes the loader's locks, so no thread may be stopped
 * holding them. Then every thread is stopped outside the preload and ctrace__attach_stop() is
 * injected into one (every thread's stream closed; no lock a stopped thread could hold) and
 * all are let go. While a thread is inside one of the recorder's slow paths it is let go and
 * both calls are made again, @between(@arg) (may be NULL) called meanwhile: a thread waiting
 * for ring space or a snapshot needs the drainer to go on. 0 or a negative CTR_E* code.
 */
int ctr_attach_stop(pid_t pid, const char *lib, const struct ctr_attach_syms *syms,
		    void (*between)(void *), void *arg, struct ctr_attach_stats *st,
		    struct ctr_err *e);

/*
 * The lock that makes one attach at a time per process: /tmp/ctrace-UID/attach-PID, held
 * (flock) by the attaching ctrace, holding its pid. Returns the locked descriptor, or
 * CTR_EEXIST with *@holder set when another ctrace holds it (or a negative CTR_E* code).
 */
int ctr_attach_lock(pid_t pid, pid_t *holder, struct ctr_err *e);
/* Removes the lock file of @pid and closes @fd (the lock's descriptor; may be -1). */
void ctr_attach_unlock(pid_t pid, int fd);
/* The pid of the ctrace holding @pid's lock: > 0, or CTR_ENOTFOUND when none is attached. */
int ctr_attach_holder(pid_t pid, struct ctr_err *e);

#endif
