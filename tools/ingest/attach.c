/* SPDX-License-Identifier: MIT */
/*
 * ptrace injection for `ctrace attach` (attach.h, docs/attach.md). One thread is stopped with
 * PTRACE_SEIZE + PTRACE_INTERRUPT, its registers, extended state (XSAVE area) and signal mask
 * saved, every signal blocked, and a function of the target called on its stack below the red
 * zone with a return address of 0: the call ends in a SIGSEGV at address 0, which is swallowed,
 * and everything saved is put back. Setting orig_rax to -1 for the call keeps the kernel from
 * restarting the interrupted system call into the injected code; restoring the saved orig_rax
 * and rax makes it restart that call when the thread goes on, as after any ptrace stop, so
 * the program never sees EINTR from it. Addresses in the target come from its own libc.so.6,
 * which must be the very file ctrace runs on (same device and inode).
 */
#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "elflib.h"

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif
#ifndef PTRACE_GETSIGMASK
#define PTRACE_GETSIGMASK 0x420a
#define PTRACE_SETSIGMASK 0x420b
#endif

#define MAX_THREADS 4096
#define CALL_TIMEOUT_NS (5LL * 1000000000LL)
#define XSTATE_MAX 16384

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- the target's mappings ---------------------------------------------------------- */

/* One file mapped by a process: lowest and highest address, device and inode, its path. */
struct mapping {
	uintptr_t base, lo, hi; /* base: the start of its offset-0 mapping */
	dev_t dev;
	ino_t ino;
	char path[PATH_MAX];
};

/* Finds the mappings of the file (@dev, @ino) in @pid's maps (or, with @ino 0, of the file whose
 * path ends in @suffix) into @m. 1 found, 0 not, -1 unreadable. */
static int find_mapping(pid_t pid, dev_t dev, ino_t ino, const char *suffix, struct mapping *m)
{
	char path[64], line[PATH_MAX + 256];
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	if (!(f = fopen(path, "re")))
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, off, inode;
		unsigned maj, mnr;
		char perms[8], file[PATH_MAX] = "";
		size_t sl = suffix ? strlen(suffix) : 0, fl;

		if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu %4095[^\n]", &lo, &hi, perms, &off,
			   &maj, &mnr, &inode, file) < 7 ||
		    !inode)
			continue;
		fl = strlen(file);
		if (ino ? (inode != ino || makedev(maj, mnr) != dev)
			: (fl < sl || strcmp(file + fl - sl, suffix) != 0))
			continue;
		if (!found) {
			m->lo = lo;
			m->hi = hi;
			m->base = 0;
			m->dev = makedev(maj, mnr);
			m->ino = inode;
			snprintf(m->path, sizeof(m->path), "%s", file);
		}
		found = 1;
		if (off == 0 && !m->base)
			m->base = lo;
		if (lo < m->lo)
			m->lo = lo;
		if (hi > m->hi)
			m->hi = hi;
	}
	fclose(f);
	return found;
}

/* The address in @pid of libc function @name: its offset in our libc.so.6, the same file. */
static int target_libc_sym(pid_t pid, const char *name, uintptr_t *out, struct ctr_err *e)
{
	struct mapping ours, theirs;
	void *h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD), *sym;

	if (!h || !(sym = dlsym(h, name)))
		return ctr_err_set(e, CTR_EINTERNAL, 0, "cannot find '%s' in this libc.so.6", name);
	dlclose(h);
	if (find_mapping(getpid(), 0, 0, "/libc.so.6", &ours) != 1 || !ours.base)
		return ctr_err_set(e, CTR_EINTERNAL, 0, "cannot find this process's libc.so.6");
	if (find_mapping(pid, ours.dev, ours.ino, NULL, &theirs) != 1 || !theirs.base)
		return ctr_err_set(e, CTR_ETARGET, 0,
				   "process %d does not run on ctrace's libc.so.6 ('%s'): a static "
				   "binary, or another root (container)",
				   (int)pid, ours.path);
	*out = theirs.base + ((uintptr_t)sym - ours.base);
	return 0;
}

/* Nanoseconds thread @tid of @pid has run on a CPU (/proc/.../schedstat), 0 if unknown. */
static int64_t cpu_time(pid_t pid, pid_t tid)
{
	char path[96], buf[128];
	FILE *f;
	long long ns = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", (int)pid, (int)tid);
	if (!(f = fopen(path, "re")))
		return 0;
	if (!fgets(buf, sizeof(buf), f) || sscanf(buf, "%lld", &ns) != 1)
		ns = 0;
	fclose(f);
	return ns;
}

/* ---- checks ------------------------------------------------------------------------- */

static int read_file(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r, got = 0;

	if (fd < 0)
		return -1;
	while ((size_t)got < n - 1 && (r = read(fd, buf + got, n - 1 - (size_t)got)) > 0)
		got += r;
	close(fd);
	buf[got] = 0;
	return (int)got;
}

static long status_field(const char *st, const char *key)
{
	const char *p = strstr(st, key);

	return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

/* 1 when ELF file @path has an undefined dynamic symbol __cyg_profile_func_enter. */
static int calls_hooks(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), found = 0;
	Elf *elf;
	Elf_Scn *scn = NULL;

	if (fd < 0)
		return 0;
	elf_version(EV_CURRENT);
	if (!(elf = elf_begin(fd, ELF_C_READ, NULL))) {
		close(fd);
		return 0;
	}
	while (!found && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM || !sh.sh_entsize ||
		    sh.sh_entsize != sizeof(Elf64_Sym) || !(d = elf_getdata(scn, NULL)))
			continue;
		for (size_t i = 0; i < d->d_size / sizeof(Elf64_Sym); i++) {
			const Elf64_Sym *s = (const Elf64_Sym *)d->d_buf + i;
			const char *nm = elf_strptr(elf, sh.sh_link, s->st_name);

			if (s->st_shndx == SHN_UNDEF && nm &&
			    !strcmp(nm, "__cyg_profile_func_enter"))
				found = 1;
		}
	}
	elf_end(elf);
	close(fd);
	return found;
}

/* 1 when an executable mapping of @pid other than @lib calls the hooks. */
static int any_object_instrumented(pid_t pid, const char *lib)
{
	char path[64], line[PATH_MAX + 256], last[PATH_MAX] = "";
	FILE *f;
	int hit = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	if (!(f = fopen(path, "re")))
		return 0;
	while (!hit && fgets(line, sizeof(line), f)) {
		char perms[8], file[PATH_MAX] = "", full[PATH_MAX + 64];

		if (sscanf(line, "%*x-%*x %7s %*x %*x:%*x %*u %4095[^\n]", perms, file) < 2 ||
		    file[0] != '/' || perms[2] != 'x' || !strcmp(file, last) ||
		    strstr(file, lib ? lib : "\x01"))
			continue;
		snprintf(last, sizeof(last), "%s", file);
		snprintf(full, sizeof(full), "/proc/%d/root%s", (int)pid, file);
		hit = calls_hooks(full);
	}
	fclose(f);
	return hit;
}

/* 1 when @pid's environment says it records already (ctrace record or LD_PRELOAD). */
static int env_records(pid_t pid)
{
	char path[64];
	static char env[1 << 20];
	int n, hit = 0;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	if ((n = read_file(path, env, sizeof(env))) <= 0)
		return 0;
	for (char *p = env; p < env + n; p += strlen(p) + 1)
		if (!strncmp(p, "CTRACE_RUN_DIR=", 15) ||
		    (!strncmp(p, "LD_PRELOAD=", 11) && strstr(p, "libctrace")))
			hit = 1;
	return hit;
}

int ctr_attach_check(pid_t pid, const char *lib, struct ctr_attach_info *info, struct ctr_err *e)
{
	char path[64], st[8192];
	struct stat ls;
	struct mapping m;
	const char *state;
	ssize_t r;
	int ret;

	memset(info, 0, sizeof(*info));
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (pid <= 0 || read_file(path, st, sizeof(st)) <= 0)
		return ctr_err_set(e, CTR_ENOTFOUND, ESRCH, "no process %d", (int)pid);
	state = strstr(st, "\nState:");
	if (state && (!strncmp(state + 7, "\tZ", 2) || !strncmp(state + 7, "\tX", 2)))
		return ctr_err_set(e, CTR_ETARGET, 0, "process %d is a zombie (it has exited)",
				   (int)pid);
	{
		char *u = strstr(st, "\nUid:");
		unsigned ru, eu, su;

		if (!u || sscanf(u + 5, "%u %u %u", &ru, &eu, &su) != 3)
			return ctr_err_set(e, CTR_EIO, 0, "cannot read the owner of process %d",
					   (int)pid);
		info->uid = ru;
		if (getuid() != 0 && (ru != getuid() || eu != getuid() || su != getuid()))
			return ctr_err_set(e, CTR_EPERM, EPERM,
					   "process %d belongs to another user (uid %u): only its "
					   "owner or root may attach",
					   (int)pid, eu);
	}
	if (status_field(st, "\nTracerPid:") > 0)
		return ctr_err_set(e, CTR_EPERM, EBUSY,
				   "process %d is traced already (by process %ld: a debugger, "
				   "strace or another ctrace)",
				   (int)pid, status_field(st, "\nTracerPid:"));
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if ((r = readlink(path, info->exe, sizeof(info->exe) - 1)) < 0)
		return ctr_err_set(e, errno == EACCES ? CTR_EPERM : CTR_EIO, errno,
				   "cannot read the executable of process %d: %s", (int)pid,
				   strerror(errno));
	info->exe[r] = 0;
	if (stat(lib, &ls) != 0)
		return ctr_err_set(e, CTR_ENOTFOUND, errno, "cannot read preload '%s': %s", lib,
				   strerror(errno));
	ret = find_mapping(pid, ls.st_dev, ls.st_ino, NULL, &m);
	if (ret < 0)
		return ctr_err_set(e, CTR_EPERM, errno, "cannot read the mappings of process %d",
				   (int)pid);
	info->lib_loaded = ret == 1 || find_mapping(pid, 0, 0, "/libctrace.so", &m) == 1;
	if (env_records(pid))
		return ctr_err_set(e, CTR_EEXIST, EBUSY,
				   "process %d records already: it runs under ctrace record or "
				   "with libctrace.so in LD_PRELOAD",
				   (int)pid);
	{
		uintptr_t a;

		if ((ret = target_libc_sym(pid, "dlopen", &a, e)) != 0)
			return ret;
	}
	if (ctr_elflib_load(e) != 0)
		return e ? e->code : CTR_ESYMBOL;
	if (!any_object_instrumented(pid, "/libctrace.so"))
		return ctr_err_set(e, CTR_ETARGET, 0,
				   "process %d ('%s') was not built with -finstrument-functions: "
				   "no object of it calls __cyg_profile_func_enter",
				   (int)pid, info->exe);
	{
		DIR *d;
		struct dirent *de;

		snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
		if ((d = opendir(path))) {
			while ((de = readdir(d)))
				info->n_threads += de->d_name[0] != '.';
			closedir(d);
		}
	}
	return 0;
}

/* ---- ptrace ------------------------------------------------------------------------- */

/* Why ptrace said no, with Yama named when it is the reason. */
static int ptrace_refused(pid_t pid, int err, struct ctr_err *e)
{
	char scope[16] = "";

	if (err == ESRCH)
		return ctr_err_set(e, CTR_ENOTFOUND, err, "no process %d", (int)pid);
	if (err == EPERM &&
	    read_file("/proc/sys/kernel/yama/ptrace_scope", scope, sizeof(scope)) > 0 &&
	    atoi(scope) > 0)
		return ctr_err_set(
		    e, CTR_EPERM, err,
		    "ptrace of process %d refused: Yama's kernel.yama.ptrace_scope is "
		    "%d (%s); as root, or with 'sysctl kernel.yama.ptrace_scope=0' "
		    "(docs/attach.md)",
		    (int)pid, atoi(scope),
		    atoi(scope) == 1   ? "only a parent may trace its children"
		    : atoi(scope) == 2 ? "only CAP_SYS_PTRACE may trace"
				       : "no process may be traced");
	return ctr_err_set(e, CTR_EPERM, err,
			   "ptrace of process %d refused: %s (another user's process, a "
			   "container without CAP_SYS_PTRACE, or a seccomp policy?)",
			   (int)pid, strerror(err));
}

/* 1 when thread @tid is a zombie or gone (/proc/TID/stat's state). */
static int thread_dead(pid_t tid)
{
	char path[48], buf[512], *p;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)tid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = 0;
	p = strrchr(buf, ')'); /* the name may hold anything */
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/* Waits for @tid to stop (the stop status in *@status) for at most @timeout_ns. 0, -1 (gone
 * or timed out, errno ESRCH / ETIMEDOUT). */
static int wait_stop(pid_t tid, int *status, int64_t timeout_ns)
{
	int64_t end = mono_ns() + timeout_ns;

	for (unsigned n = 0;; n++) {
		pid_t w = waitpid(tid, status, __WALL | WNOHANG);

		if (w == tid) {
			if (WIFEXITED(*status) || WIFSIGNALED(*status)) {
				errno = ESRCH;
				return -1;
			}
			return 0;
		}
		if (w < 0 && errno != EINTR)
			return -1;
		if (mono_ns() > end) {
			errno = ETIMEDOUT;
			return -1;
		}
		/* killed: a group leader's death is reported only once its other threads, traced
		 * by us too, are reaped; it shows as a zombie meanwhile */
		if (n % 256 == 255 && thread_dead(tid)) {
			errno = ESRCH;
			return -1;
		}
		struct timespec ts = {0, 20000};

		nanosleep(&ts, NULL);
	}
}

/* Seizes and stops thread @tid: 0, or a negative CTR_E* code. */
static int stop_thread(pid_t pid, pid_t tid, struct ctr_err *e)
{
	int st;

	if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) != 0)
		return errno == ESRCH && tid != pid ? CTR_ENOTFOUND : ptrace_refused(pid, errno, e);
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) != 0 ||
	    wait_stop(tid, &st, CALL_TIMEOUT_NS)) {
		int err = errno;

		ptrace(PTRACE_DETACH, tid, NULL, NULL);
		return err == ESRCH && tid != pid
			   ? CTR_ENOTFOUND
			   : ctr_err_set(e, CTR_EIO, err, "cannot stop thread %d of process %d: %s",
					 (int)tid, (int)pid, strerror(err));
	}
	return 0;
}

/* A thread stopped for injection: what is put back when it goes on. */
struct inj {
	pid_t tid;
	struct user_regs_struct saved;
	unsigned char xstate[XSTATE_MAX];
	struct iovec xiov;
	int xregset; /* NT_X86_XSTATE, or NT_PRFPREG when the kernel offers only that */
	uint64_t mask;
	uintptr_t cursor; /* scratch space grows down from below the red zone */
};

static int inj_begin(struct inj *j, pid_t tid, struct ctr_err *e)
{
	uint64_t all = ~0ull;

	j->tid = tid;
	j->xiov.iov_base = j->xstate;
	j->xiov.iov_len = sizeof(j->xstate);
	j->xregset = NT_X86_XSTATE;
	if (ptrace(PTRACE_GETREGS, tid, NULL, &j->saved) != 0)
		return ctr_err_set(e, CTR_EIO, errno, "cannot read the registers of thread %d: %s",
				   (int)tid, strerror(errno));
	if (ptrace(PTRACE_GETREGSET, tid, (void *)(long)NT_X86_XSTATE, &j->xiov) != 0) {
		j->xregset = NT_PRFPREG;
		j->xiov.iov_len = sizeof(j->xstate);
		if (ptrace(PTRACE_GETREGSET, tid, (void *)(long)NT_PRFPREG, &j->xiov) != 0)
			return ctr_err_set(e, CTR_EIO, errno,
					   "cannot read the FPU state of thread %d: %s", (int)tid,
					   strerror(errno));
	}
	if (ptrace(PTRACE_GETSIGMASK, tid, (void *)sizeof(j->mask), &j->mask) != 0 ||
	    ptrace(PTRACE_SETSIGMASK, tid, (void *)sizeof(all), &all) != 0)
		return ctr_err_set(e, CTR_EIO, errno, "cannot set the signal mask of thread %d: %s",
				   (int)tid, strerror(errno));
	j->cursor = (j->saved.rsp - 128 - 256) & ~(uintptr_t)15; /* below the red zone */
	return 0;
}

/* Everything as it was: registers (the interrupted system call restarts), FPU, mask. */
static int inj_end(struct inj *j, struct ctr_err *e)
{
	int bad = ptrace(PTRACE_SETREGS, j->tid, NULL, &j->saved) != 0;

	bad |= ptrace(PTRACE_SETREGSET, j->tid, (void *)(long)j->xregset, &j->xiov) != 0;
	bad |= ptrace(PTRACE_SETSIGMASK, j->tid, (void *)sizeof(j->mask), &j->mask) != 0;
	return bad ? ctr_err_set(e, CTR_EIO, errno, "cannot restore thread %d: %s", (int)j->tid,
				 strerror(errno))
		   : 0;
}

/* Copies @n bytes to the thread's scratch space; their address in the target, or 0. */
static uintptr_t inj_put(struct inj *j, const void *data, size_t n)
{
	struct iovec local = {(void *)data, n}, remote;

	j->cursor = (j->cursor - n) & ~(uintptr_t)15;
	remote.iov_base = (void *)j->cursor;
	remote.iov_len = n;
	return process_vm_writev(j->tid, &local, 1, &remote, 1, 0) == (ssize_t)n ? j->cursor : 0;
}

/* Calls @fn(@a0, @a1) in the thread, result in *@ret. 0 or a negative CTR_E* code. */
static int inj_call(struct inj *j, uintptr_t fn, uint64_t a0, uint64_t a1, uint64_t *ret,
		    struct ctr_err *e)
{
	struct user_regs_struct r = j->saved;
	uint64_t zero = 0;
	/* no time limit once the call runs: its thread cannot be given back before it returns
	 * (restored registers would abandon the preload half set up; a detach would let it
	 * return to address 0). On a loaded machine the first attach's calibration alone can
	 * take seconds. A call blocked for good (a lock held by the stopped thread) blocks
	 * ctrace too, as a debugger's `call` does (docs/attach.md, Limits). */
	int64_t end = INT64_MAX / 2;
	int st;

	r.rsp = ((j->cursor - 64) & ~(uintptr_t)15) - 8; /* as after a call: rsp+8 aligned */
	{
		struct iovec local = {&zero, 8}, remote = {(void *)r.rsp, 8};

		if (process_vm_writev(j->tid, &local, 1, &remote, 1, 0) != 8)
			return ctr_err_set(e, CTR_EIO, errno,
					   "cannot write the stack of thread %d: %s", (int)j->tid,
					   strerror(errno));
	}
	r.rip = fn;
	r.rdi = a0;
	r.rsi = a1;
	r.rax = 0;
	r.orig_rax = (unsigned long long)-1; /* no system call restart into our call */
	if (ptrace(PTRACE_SETREGS, j->tid, NULL, &r) != 0 ||
	    ptrace(PTRACE_CONT, j->tid, NULL, NULL) != 0)
		return ctr_err_set(e, CTR_EIO, errno, "cannot run a call in thread %d: %s",
				   (int)j->tid, strerror(errno));
	for (;;) {
		if (wait_stop(j->tid, &st, end - mono_ns()) != 0)
			return ctr_err_set(e, errno == ESRCH ? CTR_ENOTFOUND : CTR_EIO, errno,
					   "thread %d ended during an injected call", (int)j->tid);
		if (WSTOPSIG(st) == SIGSEGV && (st >> 16) == 0) {
			if (ptrace(PTRACE_GETREGS, j->tid, NULL, &r) != 0)
				return ctr_err_set(e, CTR_EIO, errno,
						   "cannot read the registers "
						   "of thread %d",
						   (int)j->tid);
			if (r.rip != 0)
				return ctr_err_set(
				    e, CTR_EINTERNAL, 0,
				    "the injected call crashed in thread %d at %#llx", (int)j->tid,
				    (unsigned long long)r.rip);
			*ret = r.rax;
			return 0;
		}
		if ((st >> 16) == 0 && (WSTOPSIG(st) == SIGBUS || WSTOPSIG(st) == SIGILL ||
					WSTOPSIG(st) == SIGFPE || WSTOPSIG(st) == SIGTRAP))
			return ctr_err_set(e, CTR_EINTERNAL, 0,
					   "the injected call faulted in thread %d (signal %d)",
					   (int)j->tid, WSTOPSIG(st));
		/* an event stop (every other signal is blocked and stays pending): go on */
		ptrace(PTRACE_CONT, j->tid, NULL, NULL);
	}
}

/* The threads of @pid not among the @n_known of @known into @tids (at most @max); their
 * number. */
static int list_threads(pid_t pid, pid_t *tids, int max, const pid_t *known, int n_known)
{
	char path[64];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if (!(d = opendir(path)))
		return 0;
	while ((de = readdir(d)) && n < max) {
		pid_t tid = (pid_t)atoi(de->d_name);
		int dup = de->d_name[0] == '.';

		for (int i = 0; i < n_known && !dup; i++)
			dup = known[i] == tid;
		if (!dup)
			tids[n++] = tid;
	}
	closedir(d);
	return n;
}

/* The thread to inject into: one blocked in a system call that holds no lock of the C
 * library (read, poll, sleep and their kin), else the main thread. */
static pid_t pick_thread(pid_t pid, const pid_t *tids, int n)
{
	/* read, poll, select, pause, nanosleep, wait4, clock_nanosleep, pselect6, ppoll: all
	 * restarted by the kernel after a stop (epoll_wait is not: see no_restart()) */
	static const long quiet[] = {0, 7, 23, 34, 35, 61, 230, 270, 271};

	for (int i = 0; i < n; i++) {
		char path[96], buf[256];
		long nr;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)pid, (int)tids[i]);
		if (read_file(path, buf, sizeof(buf)) <= 0 || buf[0] < '0' || buf[0] > '9')
			continue;
		nr = strtol(buf, NULL, 10);
		for (size_t k = 0; k < sizeof(quiet) / sizeof(quiet[0]); k++)
			if (nr == quiet[k])
				return tids[i];
	}
	return pid;
}

/*
 * 1 when thread @tid is blocked in a system call that returns EINTR after any stop, even
 * without a signal handler (signal(7): epoll_wait, epoll_pwait(2), semop, semtimedop,
 * sigtimedwait, sigwaitinfo): such a thread is left running. It is in the kernel, on no call
 * of the preload's (which makes none of these), and one that wakes meanwhile finds the hook
 * slots already restored or goes through the grace of ctrace__attach_stop().
 */
static int no_restart(pid_t pid, pid_t tid)
{
	static const long calls[] = {232, 281, 441, 65, 220, 128};
	char path[96], buf[256];
	long nr;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
	if (read_file(path, buf, sizeof(buf)) <= 0 || buf[0] < '0' || buf[0] > '9')
		return 0;
	nr = strtol(buf, NULL, 10);
	for (size_t k = 0; k < sizeof(calls) / sizeof(calls[0]); k++)
		if (nr == calls[k])
			return 1;
	return 0;
}

/* dlopen(@lib) in the thread of @j, then dlsym() of each of the @n @names into @out. */
static int lib_syms(struct inj *j, pid_t pid, const char *lib, const char *const *names,
		    uintptr_t *out, int n, struct ctr_err *e)
{
	uintptr_t dlopen_a, dlsym_a, path_a, name_a;
	uint64_t h, sym;
	int ret;

	if ((ret = target_libc_sym(pid, "dlopen", &dlopen_a, e)) ||
	    (ret = target_libc_sym(pid, "dlsym", &dlsym_a, e)))
		return ret;
	if (!(path_a = inj_put(j, lib, strlen(lib) + 1)))
		return ctr_err_set(e, CTR_EIO, errno, "cannot write into process %d: %s", (int)pid,
				   strerror(errno));
	if ((ret = inj_call(j, dlopen_a, path_a, RTLD_NOW, &h, e)))
		return ret;
	if (!h)
		return ctr_err_set(e, CTR_ETARGET, 0,
				   "dlopen of libctrace.so failed in process %d (its "
				   "dependencies, or no static TLS left?)",
				   (int)pid);
	for (int i = 0; i < n; i++) {
		if (!(name_a = inj_put(j, names[i], strlen(names[i]) + 1)))
			return ctr_err_set(e, CTR_EIO, errno, "cannot write into process %d: %s",
					   (int)pid, strerror(errno));
		if ((ret = inj_call(j, dlsym_a, h, name_a, &sym, e)))
			return ret;
		if (!sym)
			return ctr_err_set(e, CTR_ETARGET, 0,
					   "'%s' is not a libctrace.so of this ctrace", lib);
		out[i] = sym;
	}
	return 0;
}

static const char *start_error(uint64_t code)
{
	switch (code) {
	case 1:
		return "it records already (ctrace record, LD_PRELOAD or another attach)";
	case 2:
		return "it is setuid or setgid (the preload does nothing there)";
	default:
		return "the preload could not start recording (run directory?)";
	}
}

int ctr_attach_start(pid_t pid, const char *lib, const char *conf, struct ctr_attach_syms *syms,
		     struct ctr_attach_stats *st, struct ctr_err *e)
{
	static const char *const names[] = {"ctrace__attach_start", "ctrace__attach_quiesce",
					    "ctrace__attach_stop"};
	static pid_t tids[MAX_THREADS];
	static struct inj j;
	int64_t t0 = mono_ns(), t1, c1;
	int n = list_threads(pid, tids, MAX_THREADS, NULL, 0), ret;
	pid_t tid = pick_thread(pid, tids, n);
	uintptr_t conf_a, sym[3] = {0, 0, 0};
	uint64_t rc = 0;

	memset(st, 0, sizeof(*st));
	if ((ret = stop_thread(pid, tid, e)) != 0)
		return ret == CTR_ENOTFOUND ? ctr_err_set(e, ret, ESRCH, "no process %d", (int)pid)
					    : ret;
	t1 = mono_ns();
	c1 = cpu_time(pid, tid);
	if ((ret = inj_begin(&j, tid, e)) != 0)
		goto out;
	if (!(conf_a = inj_put(&j, conf, strlen(conf) + 1))) {
		ret = ctr_err_set(e, CTR_EIO, errno, "cannot write into process %d: %s", (int)pid,
				  strerror(errno));
		goto restore;
	}
	if ((ret = lib_syms(&j, pid, lib, names, sym, 3, e)) == 0 &&
	    (ret = inj_call(&j, sym[0], conf_a, 0, &rc, e)) == 0 && (int)rc != 0)
		ret = ctr_err_set(e, rc == 1 ? CTR_EEXIST : CTR_ETARGET, 0,
				  "cannot attach to process %d: %s", (int)pid, start_error(rc));
	syms->quiesce = sym[1];
	syms->stop = sym[2];
restore:
	if (inj_end(&j, e) != 0 && !ret)
		ret = e ? e->code : CTR_EIO;
out:
	ptrace(PTRACE_DETACH, tid, NULL, NULL);
	st->stop_ns = mono_ns() - t1;
	st->cpu_ns = c1 ? cpu_time(pid, tid) - c1 : 0;
	st->total_ns = mono_ns() - t0;
	st->n_threads = 1;
	return ret;
}

/* 1 when the stopped thread @tid is inside the preload (@m): its instruction pointer, or the
 * return address on top of its stack (a libc leaf the preload called). */
static int inside(pid_t tid, const struct mapping *m)
{
	struct user_regs_struct r;
	uint64_t top = 0;
	struct iovec local = {&top, 8}, remote;

	if (ptrace(PTRACE_GETREGS, tid, NULL, &r) != 0)
		return 0;
	remote.iov_base = (void *)r.rsp;
	remote.iov_len = 8;
	if (process_vm_readv(tid, &local, 1, &remote, 1, 0) != 8)
		top = 0;
	return (r.rip >= m->lo && r.rip < m->hi) || (top >= m->lo && top < m->hi);
}

/* Lets the stopped thread @tid run on a little until it is out of the preload (@m). */
static void leave_preload(pid_t tid, const struct mapping *m)
{
	for (int tries = 0; inside(tid, m) && tries < 1000; tries++) {
		struct timespec ts = {0, 100000};
		int s;

		ptrace(PTRACE_CONT, tid, NULL, NULL);
		nanosleep(&ts, NULL);
		if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) != 0 ||
		    wait_stop(tid, &s, CALL_TIMEOUT_NS) != 0)
			break;
	}
}

/* ctrace__attach_quiesce() (@fn) in one thread, the others running: *@rc is what it
 * returned; the thread's stop time into *@stop_ns. */
static int quiesce_once(pid_t pid, uintptr_t fn, uint64_t *rc, int64_t *stop_ns, struct ctr_err *e)
{
	static pid_t tids[MAX_THREADS];
	static struct inj j;
	int n = list_threads(pid, tids, MAX_THREADS, NULL, 0), ret;
	pid_t tid = pick_thread(pid, tids, n);
	int64_t t0 = mono_ns();

	*rc = 0;
	if ((ret = stop_thread(pid, tid, e)) != 0)
		return ret == CTR_ENOTFOUND ? ctr_err_set(e, ret, ESRCH, "no process %d", (int)pid)
					    : ret;
	if ((ret = inj_begin(&j, tid, e)) == 0) {
		ret = inj_call(&j, fn, 0, 0, rc, e);
		if (inj_end(&j, e) != 0 && !ret)
			ret = e ? e->code : CTR_EIO;
	}
	ptrace(PTRACE_DETACH, tid, NULL, NULL);
	*stop_ns = mono_ns() - t0;
	if (!ret && (int)*rc != 0)
		ret = ctr_err_set(e, CTR_ENOTFOUND, 0, "process %d is not recording", (int)pid);
	return ret;
}

/* One try of ctr_attach_stop()'s second call: *@rc is what ctrace__attach_stop() returned. */
static int stop_once(pid_t pid, const char *lib, uintptr_t stop, struct ctr_attach_stats *st,
		     uint64_t *rc, struct ctr_err *e)
{
	static pid_t tids[MAX_THREADS];
	static int stopped[MAX_THREADS];
	static struct inj j;
	struct mapping m;
	struct stat ls;
	int64_t t0 = mono_ns();
	int n = 0, ret = 0, k = 0;

	*rc = 0;
	memset(st, 0, sizeof(*st));
	if (stat(lib, &ls) != 0 || find_mapping(pid, ls.st_dev, ls.st_ino, NULL, &m) != 1)
		return ctr_err_set(e, CTR_ENOTFOUND, ESRCH,
				   "libctrace.so is not loaded in process %d", (int)pid);
	for (int round = 0, seen = 0; round < 8; round++) {
		/* every thread stopped, those started meanwhile too: none may be inside a hook */
		n = list_threads(pid, tids + seen, MAX_THREADS - seen, tids, seen) + seen;
		if (n == seen)
			break;
		for (int i = seen; i < n; i++) {
			stopped[i] = 0;
			if (no_restart(pid, tids[i]))
				continue;
			ret = stop_thread(pid, tids[i], e);
			if (ret == CTR_ENOTFOUND) { /* it ended meanwhile */
				ret = 0;
				continue;
			}
			if (ret)
				goto out;
			stopped[i] = 1;
			leave_preload(tids[i], &m);
		}
		seen = n;
	}
	while (k < n && !stopped[k])
		k++;
	if (k == n) {
		ret = ctr_err_set(e, CTR_ENOTFOUND, ESRCH, "no process %d", (int)pid);
		goto out;
	}
	if ((ret = inj_begin(&j, tids[k], e)) != 0)
		goto out;
	if ((ret = inj_call(&j, stop, 0, 0, rc, e)) == 0 && (int)*rc != 0 && (int)*rc != 4)
		ret = ctr_err_set(e, CTR_ENOTFOUND, 0, "process %d is not recording", (int)pid);
	if (inj_end(&j, e) != 0 && !ret)
		ret = e ? e->code : CTR_EIO;
out:
	for (int i = 0; i < n; i++)
		if (stopped[i]) {
			ptrace(PTRACE_DETACH, tids[i], NULL, NULL);
			st->n_threads++;
		}
	st->stop_ns = mono_ns() - t0;
	st->total_ns = st->stop_ns;
	return ret;
}

int ctr_attach_stop(pid_t pid, const char *lib, const struct ctr_attach_syms *syms,
		    void (*between)(void *), void *arg, struct ctr_attach_stats *st,
		    struct ctr_err *e)
{
	int64_t t0 = mono_ns(), longest = 0, q_ns = 0;
	uint64_t rc = 0;
	int ret;

	for (int tries = 0;; tries++) {
		/* again at each try: a thread that was looking at new objects when stopped may
		 * have patched them after the last quiesce */
		ret = quiesce_once(pid, syms->quiesce, &rc, &q_ns, e);
		if (!ret)
			ret = stop_once(pid, lib, syms->stop, st, &rc, e);
		if (q_ns > longest)
			longest = q_ns;
		if (st->stop_ns > longest)
			longest = st->stop_ns;
		if (ret || (int)rc != 4)
			break;
		if (tries >= 500) { /* about 2 s: a thread that never leaves a slow path */
			ret =
			    ctr_err_set(e, CTR_EIO, EBUSY,
					"cannot detach from process %d: a thread stays inside the "
					"recorder (its hooks are off; run 'ctrace detach' again)",
					(int)pid);
			break;
		}
		struct timespec ts = {0, 2000000}; /* the thread in a slow path goes on */

		if (between)
			between(arg);
		nanosleep(&ts, NULL);
	}
	st->stop_ns = longest;
	st->total_ns = mono_ns() - t0;
	return ret;
}

/* ---- one attach per process --------------------------------------------------------- */

/* The user's lock directory into @dir (64 bytes); the lock file of @pid in it into @out. */
static void lock_path(pid_t pid, char *dir, char *out, size_t n, int mk)
{
	snprintf(dir, 64, "/tmp/ctrace-%u", (unsigned)getuid());
	if (mk)
		mkdir(dir, 0700);
	snprintf(out, n, "%s/attach-%d", dir, (int)pid);
}

/* Opens the lock directory's file safely: ours, not a symlink. The directory goes with the
 * last lock (ctr_attach_unlock()), so a creation that finds it removed in between retries. */
static int open_lock(pid_t pid, int create)
{
	char path[96], dir[64];
	struct stat ds;
	int fd = -1;

	for (int tries = 0; tries < 3; tries++) {
		lock_path(pid, dir, path, sizeof(path), create);
		if (lstat(dir, &ds) != 0 || !S_ISDIR(ds.st_mode) || ds.st_uid != getuid() ||
		    (ds.st_mode & 077)) {
			if (create && errno == ENOENT)
				continue;
			errno = ds.st_uid != getuid() ? EPERM : errno;
			return -1;
		}
		fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
		if (fd >= 0 || !create || errno != ENOENT)
			break;
	}
	return fd;
}

int ctr_attach_lock(pid_t pid, pid_t *holder, struct ctr_err *e)
{
	int fd = open_lock(pid, 1);
	char buf[32];

	*holder = 0;
	if (fd < 0)
		return ctr_err_set(e, CTR_EIO, errno,
				   "cannot create the attach lock of process %d "
				   "in /tmp/ctrace-%u: %s",
				   (int)pid, (unsigned)getuid(), strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		ssize_t r = pread(fd, buf, sizeof(buf) - 1, 0);

		buf[r > 0 ? r : 0] = 0;
		*holder = (pid_t)atoi(buf);
		close(fd);
		return ctr_err_set(
		    e, CTR_EEXIST, EBUSY,
		    "process %d is attached already (by ctrace %d; 'ctrace detach %d' "
		    "ends it)",
		    (int)pid, (int)*holder, (int)pid);
	}
	snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, strlen(buf), 0) < 0) {
		close(fd);
		return ctr_err_set(e, CTR_EIO, errno, "cannot write the attach lock: %s",
				   strerror(errno));
	}
	return fd;
}

void ctr_attach_unlock(pid_t pid, int fd)
{
	char path[96], dir[64];

	if (fd < 0)
		return;
	lock_path(pid, dir, path, sizeof(path), 0);
	unlink(path);
	close(fd);
	rmdir(dir); /* the last lock takes the directory with it; another's keeps it (ENOTEMPTY) */
}

int ctr_attach_holder(pid_t pid, struct ctr_err *e)
{
	int fd = open_lock(pid, 0), holder;
	char buf[32];
	ssize_t r;

	if (fd < 0)
		return ctr_err_set(e, CTR_ENOTFOUND, ESRCH, "no ctrace attach holds process %d",
				   (int)pid);
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) { /* nobody holds it: a stale file */
		close(fd);
		return ctr_err_set(e, CTR_ENOTFOUND, ESRCH, "no ctrace attach holds process %d",
				   (int)pid);
	}
	r = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	buf[r > 0 ? r : 0] = 0;
	holder = atoi(buf);
	return holder > 0 ? holder
			  : ctr_err_set(e, CTR_ENOTFOUND, ESRCH,
					"no ctrace attach holds process %d", (int)pid);
}
