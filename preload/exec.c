/* SPDX-License-Identifier: MIT */
/*
 * Following exec and spawn: a program that execs or spawns another with an environment of its
 * own (envp = {"PATH=...", NULL}) would drop LD_PRELOAD and ctrace's CTRACE_* variables, and
 * the new program would vanish from the run. Every exec and spawn entry point of glibc is
 * wrapped here: the variables this process started with (and those the preload added for its
 * children) that the new environment lacks are put back, in a new array built on the stack;
 * the caller's envp is never written. CTRACE_NO_FOLLOW_EXEC=on (ctrace record
 * --no-follow-exec) passes every environment through as given. Under AT_SECURE the constructor
 * never takes the snapshot, and every wrapper only calls libc.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "preload-int.h"

extern char **environ;

#define SNAP_MAX 128	    /* CTRACE_* and LD_PRELOAD entries kept */
#define SNAP_BYTES 32768    /* their text */
#define STACK_ENV 512	    /* entries of a new environment built on the stack */
#define LD_PRELOAD_MAX 8192 /* "LD_PRELOAD=ours:theirs" built on the stack */
#define ARGS_MAX (1 << 16)  /* execl*() arguments gathered on the stack, at most */

static char snap_text[SNAP_BYTES];
static const char *snap[SNAP_MAX];
static int n_snap;	       /* -1: no snapshot (AT_SECURE, opted out): pass through */
static char our_lib[PATH_MAX]; /* this preload's file, as an LD_PRELOAD entry */

typedef int (*execve_fn)(const char *, char *const[], char *const[]);
typedef int (*execvpe_fn)(const char *, char *const[], char *const[]);
typedef int (*fexecve_fn)(int, char *const[], char *const[]);
typedef int (*execveat_fn)(int, const char *, char *const[], char *const[], int);
typedef int (*spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
			const posix_spawnattr_t *, char *const[], char *const[]);

static execve_fn real_execve;
static execvpe_fn real_execvpe;
static fexecve_fn real_fexecve;
static execveat_fn real_execveat;
static spawn_fn real_spawn, real_spawnp;

static void *next(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

/* Resolves libc's entry points once, so a vfork child never calls dlsym(). */
static void resolve(void)
{
	if (real_execve)
		return;
	real_execvpe = (execvpe_fn)next("execvpe");
	real_fexecve = (fexecve_fn)next("fexecve");
	real_execveat = (execveat_fn)next("execveat");
	real_spawn = (spawn_fn)next("posix_spawn");
	real_spawnp = (spawn_fn)next("posix_spawnp");
	__atomic_store_n(&real_execve, (execve_fn)next("execve"), __ATOMIC_RELEASE);
}

static size_t name_len(const char *entry)
{
	const char *eq = strchr(entry, '=');

	return eq ? (size_t)(eq - entry) : strlen(entry);
}

/* The entry of @env named like @entry's name, or NULL. */
static char *const *find_name(char *const *env, const char *entry)
{
	size_t n = name_len(entry);

	for (; env && *env; env++)
		if (!strncmp(*env, entry, n) && (*env)[n] == '=')
			return env;
	return NULL;
}

/* 1 when the LD_PRELOAD entry @entry already loads this preload. */
static int preloads_us(const char *entry)
{
	const char *p = strchr(entry, '=') + 1;
	size_t n = strlen(our_lib);

	while (*p) {
		size_t k = strcspn(p, ": ");

		if (k == n && !strncmp(p, our_lib, n))
			return 1;
		p += k;
		p += *p != 0;
	}
	return 0;
}

void ctr_exec_init(int follow)
{
	Dl_info di;
	size_t used = 0;

	resolve();
	n_snap = -1;
	if (!follow)
		return;
	if (dladdr((void *)ctr_exec_init, &di) && di.dli_fname && !realpath(di.dli_fname, our_lib))
		snprintf(our_lib, sizeof(our_lib), "%s", di.dli_fname);
	n_snap = 0;
	for (char **e = environ; e && *e; e++) {
		size_t len = strlen(*e) + 1;

		if (strncmp(*e, "CTRACE_", 7) && strncmp(*e, "LD_PRELOAD=", 11))
			continue;
		if (n_snap == SNAP_MAX || used + len > sizeof(snap_text)) {
			ctr_log(CTR_LOG_WARN,
				"too many CTRACE_ variables: '%.40s' is not passed to "
				"exec'd programs with an environment of their own",
				*e);
			continue;
		}
		memcpy(snap_text + used, *e, len);
		snap[n_snap++] = snap_text + used;
		used += len;
	}
}

/*
 * The environment to pass for @envp: @envp itself when it holds every snapshot variable (or
 * following is off), else a new array in @buf (@cap entries) or, too big for it and outside a
 * vfork child, in *@map (caller munmaps *@map_size bytes). @ld holds a merged LD_PRELOAD entry.
 */
static char *const *follow_env(char *const *envp, char **buf, size_t cap, char *ld, void **map,
			       size_t *map_size)
{
	size_t n = 0, add = 0, k;
	const char *ld_keep = NULL; /* their LD_PRELOAD, to prepend ours to */
	char **out;

	*map = NULL;
	if (n_snap <= 0)
		return envp;
	for (; envp && envp[n]; n++)
		;
	for (int i = 0; i < n_snap; i++) {
		char *const *have = find_name(envp, snap[i]);

		if (!have)
			add++;
		else if (!strncmp(snap[i], "LD_PRELOAD=", 11) && !preloads_us(*have))
			ld_keep = *have;
	}
	if (!our_lib[0])
		ld_keep = NULL; /* we do not know our own file: their LD_PRELOAD as it is */
	if (!add && !ld_keep)
		return envp;
	if (ld_keep) {
		int w = snprintf(ld, LD_PRELOAD_MAX, "LD_PRELOAD=%s:%s", our_lib, ld_keep + 11);

		if (w < 0 || w >= LD_PRELOAD_MAX)
			ld_keep = NULL; /* too long: theirs as it is */
	}
	out = buf;
	if (n + add + 1 > cap) {
		*map_size = (n + add + 1) * sizeof(char *);
		if (ctr_foreign() ||
		    (*map = mmap(NULL, *map_size, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) == MAP_FAILED) {
			*map = NULL; /* in a vfork child a mapping would stay in the parent */
			return envp;
		}
		out = *map;
	}
	for (k = 0; k < n; k++)
		out[k] = ld_keep && envp[k] == ld_keep ? ld : envp[k];
	for (int i = 0; i < n_snap; i++)
		if (!find_name(envp, snap[i]))
			out[k++] = (char *)snap[i];
	out[k] = NULL;
	return out;
}

/* Declares the buffers follow_env() needs in the calling wrapper (bounded, on its stack). */
#define FOLLOW_BUFFERS                                                                             \
	char *env_buf[STACK_ENV], ld_buf[LD_PRELOAD_MAX];                                          \
	void *env_map = NULL;                                                                      \
	size_t env_map_size = 0;                                                                   \
	int saved_errno

#define FOLLOW(envp) follow_env((envp), env_buf, STACK_ENV, ld_buf, &env_map, &env_map_size)

#define FOLLOW_DONE()                                                                              \
	do {                                                                                       \
		saved_errno = errno;                                                               \
		if (env_map)                                                                       \
			munmap(env_map, env_map_size);                                             \
		errno = saved_errno;                                                               \
	} while (0)

CTR_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	FOLLOW_BUFFERS;
	int r;

	resolve();
	r = real_execve(path, argv, (char *const *)FOLLOW(envp));
	FOLLOW_DONE();
	return r;
}

CTR_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	FOLLOW_BUFFERS;
	int r;

	resolve();
	r = real_execvpe(file, argv, (char *const *)FOLLOW(envp));
	FOLLOW_DONE();
	return r;
}

CTR_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	FOLLOW_BUFFERS;
	int r;

	resolve();
	r = real_fexecve(fd, argv, (char *const *)FOLLOW(envp));
	FOLLOW_DONE();
	return r;
}

CTR_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
			int flags)
{
	FOLLOW_BUFFERS;
	int r;

	resolve();
	if (!real_execveat) {
		errno = ENOSYS;
		return -1;
	}
	r = real_execveat(dirfd, path, argv, (char *const *)FOLLOW(envp), flags);
	FOLLOW_DONE();
	return r;
}

CTR_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
			   const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	FOLLOW_BUFFERS;
	int r;

	resolve();
	r = real_spawn(pid, path, fa, attr, argv, (char *const *)FOLLOW(envp));
	FOLLOW_DONE();
	return r;
}

CTR_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			    const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	FOLLOW_BUFFERS;
	int r;

	resolve();
	r = real_spawnp(pid, file, fa, attr, argv, (char *const *)FOLLOW(envp));
	FOLLOW_DONE();
	return r;
}

/* The environ-using forms: glibc calls its internal execve from them, past the wrapper above,
 * and a program may have replaced environ (clearenv(), environ = ...). */
CTR_EXPORT int execv(const char *path, char *const argv[])
{
	return execve(path, argv, environ);
}

CTR_EXPORT int execvp(const char *file, char *const argv[])
{
	return execvpe(file, argv, environ);
}

/* execl(), execle(), execlp(): the arguments up to the NULL, in an array on the stack as
 * glibc builds it (more than ARGS_MAX is E2BIG, as the kernel would say). */
#define COUNT_ARGS(ap, n)                                                                          \
	do {                                                                                       \
		va_list cp_;                                                                       \
		va_copy(cp_, ap);                                                                  \
		for (n = 1; n <= ARGS_MAX && va_arg(cp_, char *); n++)                             \
			;                                                                          \
		va_end(cp_);                                                                       \
		if (n > ARGS_MAX) {                                                                \
			va_end(ap);                                                                \
			errno = E2BIG;                                                             \
			return -1;                                                                 \
		}                                                                                  \
	} while (0)

/* argv[0..n] from @arg0 and the n - 1 arguments after it; the NULL after them is consumed. */
#define FILL_ARGS(argv, n, arg0, ap)                                                               \
	do {                                                                                       \
		argv[0] = (char *)(arg0);                                                          \
		for (size_t i_ = 1; i_ <= (n); i_++)                                               \
			argv[i_] = va_arg(ap, char *);                                             \
	} while (0)

CTR_EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, arg);
	COUNT_ARGS(ap, n);
	{
		char *argv[n + 1];

		FILL_ARGS(argv, n, arg, ap);
		va_end(ap);
		return execve(path, argv, environ);
	}
}

CTR_EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, arg);
	COUNT_ARGS(ap, n);
	{
		char *argv[n + 1];

		FILL_ARGS(argv, n, arg, ap);
		va_end(ap);
		return execvpe(file, argv, environ);
	}
}

CTR_EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, arg);
	COUNT_ARGS(ap, n);
	{
		char *argv[n + 1], **envp;

		FILL_ARGS(argv, n, arg, ap);
		envp = va_arg(ap, char **); /* after the NULL */
		va_end(ap);
		return execve(path, argv, envp);
	}
}
