/* SPDX-License-Identifier: MIT */
/*
 * `ctrace attach` inside the process: the preload arrives by a dlopen that ctrace injects with
 * ptrace, long after the program started. Its constructor then does nothing (it runs while
 * ctrace traces the process); ctrace next calls ctrace__attach_start() with its configuration,
 * the CTRACE_* lines `ctrace record` would have put in the environment, which the preload then
 * reads instead of the program's environment. Recording begins by repointing every object's hook
 * slots (patch.c); ctrace__attach_stop(), injected the same way at detach, points them back at
 * glibc's no-ops and closes the run. The library stays mapped, dormant, for the next attach.
 * docs/attach.md.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <unwind.h>

#include "preload-int.h"

#define CONF_MAX (256u * 1024u)

static char *conf;	 /* KEY=VALUE lines (an mmap'd copy of ctrace's text), or NULL */
static int conf_active;	 /* ctr_getenv() answers from conf */
static int in_injection; /* set by ctrace__attach_start() while it runs */

static int read_small(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return -1;
	r = read(fd, buf, n - 1);
	close(fd);
	if (r < 0)
		return -1;
	buf[r] = 0;
	return (int)r;
}

/* The constructor runs inside a `ctrace attach` injection: the process is traced by a process
 * named ctrace and no run directory was given (a plain LD_PRELOAD under a debugger records as
 * usual). */
int ctr_attach_pending(void)
{
	char st[4096], path[64], comm[32];
	const char *p;
	long tracer = 0;

	if (ctr_getenv("CTRACE_RUN_DIR") || read_small("/proc/self/status", st, sizeof(st)) < 0 ||
	    !(p = strstr(st, "\nTracerPid:")))
		return 0;
	for (p += 11; *p == ' ' || *p == '\t'; p++)
		;
	for (; *p >= '0' && *p <= '9'; p++)
		tracer = tracer * 10 + (*p - '0');
	if (tracer <= 0)
		return 0;
	memcpy(path, "/proc/", 6);
	{
		char digits[24], *q = digits + sizeof(digits);
		size_t n;

		*--q = 0;
		do
			*--q = (char)('0' + tracer % 10);
		while ((tracer /= 10));
		n = strlen(q);
		memcpy(path + 6, q, n);
		memcpy(path + 6 + n, "/comm", 6);
	}
	return read_small(path, comm, sizeof(comm)) > 0 && !strcmp(comm, "ctrace\n");
}

const char *ctr_attach_env(const char *name, int *found)
{
	size_t n = strlen(name);

	if (!conf_active || !conf) {
		*found = 0;
		return NULL;
	}
	*found = 1;
	for (const char *p = conf; *p; p += strlen(p) + 1) /* NUL-separated, NUL NUL ends */
		if (!strncmp(p, name, n) && p[n] == '=')
			return p + n + 1;
	return NULL;
}

/* Copies @text (no empty line) into conf, each newline turned into a NUL, two at the end. */
static int load_conf(const char *text)
{
	size_t n = strnlen(text, CONF_MAX - 2);

	if (!conf) {
		void *m = mmap(NULL, CONF_MAX, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);

		if (m == MAP_FAILED)
			return -1;
		conf = m;
	}
	memcpy(conf, text, n);
	conf[n] = 0;
	conf[n + 1] = 0;
	for (size_t i = 0; i < n; i++)
		if (conf[i] == '\n')
			conf[i] = 0;
	return 0;
}

/*
 * Called by `ctrace attach` (an injected call, on one thread, the others running): reads
 * @text (CTRACE_RUN_DIR, CTRACE_DRAIN and the recording options, one KEY=VALUE a line),
 * opens the run and points the hook slots at the recorder. Each thread starts at its next
 * hook call, with the frames it has open then recovered from a stack capture as inherited.
 * Returns 0, or CTR_ATTACH_E*: already recording (ctrace record, LD_PRELOAD or another
 * attach), setuid/setgid, or no usable run directory.
 */
static void capture_prepare(void);

enum { CTR_ATTACH_EBUSY = 1, CTR_ATTACH_ESECURE = 2, CTR_ATTACH_ESTART = 3, CTR_ATTACH_EAGAIN = 4 };

CTR_EXPORT int ctrace__attach_start(const char *text)
{
	if (getauxval(AT_SECURE))
		return CTR_ATTACH_ESECURE;
	if (ctr_proc.enabled || in_injection)
		return CTR_ATTACH_EBUSY;
	in_injection = 1;
	if (load_conf(text) != 0) {
		in_injection = 0;
		return CTR_ATTACH_ESTART;
	}
	conf_active = 1;
	ctr_control_reset();
	if (ctr_proc_start(1) != 0) {
		conf_active = 0;
		in_injection = 0;
		return CTR_ATTACH_ESTART;
	}
	capture_prepare();
	ctr_proc.dormant_start = 1; /* every thread begins with a stack capture */
	__atomic_store_n(&ctr_global_on, 1, __ATOMIC_SEQ_CST);
	ctr_bypass_hooks(0);
	ctr_attach_route_dl(1);
	in_injection = 0;
	return 0;
}

/*
 * The detach's first call, injected into one thread while the others run (as at the start):
 * the hook slots go back to glibc's no-ops, and the dlopen and dlsym slots to glibc's, so no
 * thread enters the recorder again; objects loaded since the last look go into the module
 * map. All of that takes the loader's locks, which a stopped thread could hold: hence here and
 * not in ctrace__attach_stop(). Returns 0, or CTR_ATTACH_EBUSY when no attach is recording.
 */
CTR_EXPORT int ctrace__attach_quiesce(void)
{
	if (!ctr_proc.attached || !ctr_proc.enabled)
		return CTR_ATTACH_EBUSY;
	__atomic_store_n(&ctr_global_on, 0, __ATOMIC_SEQ_CST);
	ctr_patch_restore();
	ctr_attach_route_dl(0);
	ctr_proc_quiesce();
	{ /* grace for a thread in a hook meanwhile: the hooks' fast paths take nanoseconds */
		struct timespec g = {0, 1000000};

		nanosleep(&g, NULL);
	}
	return 0;
}

/*
 * The second call, with every other thread stopped outside the preload, after
 * ctrace__attach_quiesce(): the run is closed (ctr_proc_stop(), which takes no lock a stopped
 * thread could hold). The library stays loaded and dormant. Returns 0, CTR_ATTACH_EBUSY
 * when no attach is recording, or CTR_ATTACH_EAGAIN when a thread was stopped inside one of
 * the preload's slow paths (ctrace resumes the threads for a moment and makes both calls
 * again).
 */
CTR_EXPORT int ctrace__attach_stop(void)
{
	if (!ctr_proc.attached || !ctr_proc.enabled)
		return CTR_ATTACH_EBUSY;
	__atomic_store_n(&ctr_global_on, 0, __ATOMIC_SEQ_CST);
	if (ctr_threads_busy()) /* stopped inside a slow path: ctrace lets it go and asks again */
		return CTR_ATTACH_EAGAIN;
	ctr_proc_stop();
	conf_active = 0;
	return 0;
}

/* ---- dlopen and dlsym while attached ----------------------------------------------------
 * glibc's dlopen() searches with its caller's DT_RUNPATH and $ORIGIN and loads into its
 * caller's namespace, found from the return address; dlsym() with RTLD_DEFAULT or RTLD_NEXT
 * also looks from its caller. The entries below leave the caller's frame as it is and ask a
 * router where to jump: to a C function of ours when the caller does not matter (a file name
 * with a slash and no $, or NULL, from the base namespace; dlsym with a real handle), which
 * patches the new objects before the program can call into them; else straight to glibc's,
 * with the objects patched at the thread's next slow-path event (ctr_dlopen_prepare()), or by
 * the first dlsym() on a handle after it. docs/attach.md. */

static void *(*real_dlsym)(void *, const char *);

static CTR_NOINSTR void *attach_dlopen_c(const char *file, int mode)
{
	void *(*real)(const char *, int) = (void *(*)(const char *, int))ctr_dlopen_prepare();
	void *h = real(file, mode);
	int saved = errno;

	ctr_dl_after();
	errno = saved;
	return h;
}

static CTR_NOINSTR void *attach_dlsym_c(void *handle, const char *name)
{
	int saved = errno;

	ctr_dl_after(); /* a dlopen that went straight to glibc's: its objects now */
	errno = saved;
	return real_dlsym(handle, name);
}

static int base_namespace(void *ra)
{
	Dl_info di;
	struct link_map *lm = NULL;
	Lmid_t id = LM_ID_BASE;

	if (!dladdr1(ra, &di, (void **)&lm, RTLD_DL_LINKMAP) || !lm)
		return 0;
	return dlinfo(lm, RTLD_DI_LMID, &id) == 0 && id == LM_ID_BASE;
}

CTR_NOINSTR void *ctr_attach_dlopen_route(const char *file, int mode, void *ra)
{
	(void)mode;
	if ((!file || (strchr(file, '/') && !strchr(file, '$'))) && base_namespace(ra))
		return (void *)attach_dlopen_c;
	return ctr_dlopen_prepare();
}

CTR_NOINSTR void *ctr_attach_dlsym_route(void *handle)
{
	if (!real_dlsym)
		real_dlsym = (void *(*)(void *, const char *))dlsym(RTLD_NEXT, "dlsym");
	if (handle == RTLD_DEFAULT || handle == RTLD_NEXT)
		return (void *)real_dlsym;
	return (void *)attach_dlsym_c;
}

/* Two arguments in rdi and rsi (kept), the caller's return address (third argument to the
 * router) at 24(%rsp) once they and the alignment word are pushed. */
#define ATTACH_ENTRY(name, router)                                                                 \
	__asm__(".text\n"                                                                          \
		".globl " #name "\n"                                                               \
		".hidden " #name "\n"                                                              \
		".type " #name ", @function\n" #name ":\n"                                         \
		"	endbr64\n"                                                                       \
		"	push %rdi\n"                                                                     \
		"	push %rsi\n"                                                                     \
		"	sub $8, %rsp\n"                                                                  \
		"	mov 24(%rsp), %rdx\n"                                                            \
		"	call " #router "\n"                                                        \
		"	add $8, %rsp\n"                                                                  \
		"	pop %rsi\n"                                                                      \
		"	pop %rdi\n"                                                                      \
		"	jmp *%rax\n"                                                                     \
		".size " #name ", .-" #name "\n")

ATTACH_ENTRY(ctr_attach_dlopen, ctr_attach_dlopen_route);
ATTACH_ENTRY(ctr_attach_dlsym, ctr_attach_dlsym_route);

/* ---- stack capture ------------------------------------------------------------------
 * Each thread captures its open frames at its first hook after the start, all at once after
 * an attach: nothing in it may take a lock of the loader (100 threads queued on dladdr()'s).
 * The unwinder and the address ranges of the objects whose frames are left out are looked up
 * once, by ctrace__attach_start(). */

typedef _Unwind_Reason_Code (*backtrace_fn)(_Unwind_Trace_Fn, void *);
typedef _Unwind_Ptr (*get_fn)(struct _Unwind_Context *);

static struct {
	backtrace_fn backtrace;
	get_fn ip, cfa, start;
} gcc;

enum { CAP_MAX = 256, SKIP_MAX = 16 }; /* 4 KiB of the thread's stack */

/* The preload's, the unwinder's and libc's (thread start, signal return) and ld.so's: not
 * part of the program's tree. */
static struct {
	uintptr_t lo, hi;
} skip[SKIP_MAX];
static int n_skip;
static uintptr_t entry_pc; /* the program's entry point (_start) */

static int skipped(uintptr_t pc)
{
	for (int i = 0; i < n_skip; i++)
		if (pc >= skip[i].lo && pc < skip[i].hi)
			return 1;
	return 0;
}

static int note_skip(struct dl_phdr_info *info, size_t size, void *arg)
{
	const char *name = info->dlpi_name ? info->dlpi_name : "";
	uintptr_t self = (uintptr_t)arg, lo, hi;

	(void)size;
	if (info->dlpi_addr != self && !strstr(name, "/libc.so") && !strstr(name, "/ld-linux") &&
	    !strstr(name, "/libgcc_s"))
		return 0;
	ctr_obj_range(info, &lo, &hi);
	if (lo < hi && n_skip < SKIP_MAX) {
		skip[n_skip].lo = lo;
		skip[n_skip].hi = hi;
		n_skip++;
	}
	return 0;
}

/* libgcc's unwinder (libgcc_s.so.1, loaded into nearly every program already) and the ranges
 * to skip, for ctr_attach_capture(); called by the start, not from a thread's hook. */
static void capture_prepare(void)
{
	Dl_info self;

	if (!gcc.backtrace) {
		void *h = dlopen("libgcc_s.so.1", RTLD_NOW);

		if (!h)
			return;
		gcc.ip = (get_fn)dlsym(h, "_Unwind_GetIP");
		gcc.cfa = (get_fn)dlsym(h, "_Unwind_GetCFA");
		gcc.start = (get_fn)dlsym(h, "_Unwind_GetRegionStart");
		if (!gcc.ip || !gcc.cfa || !gcc.start)
			return;
		gcc.backtrace = (backtrace_fn)dlsym(h, "_Unwind_Backtrace");
	}
	if (!n_skip && dladdr((void *)capture_prepare, &self)) {
		entry_pc = (uintptr_t)getauxval(AT_ENTRY);
		dl_iterate_phdr(note_skip, self.dli_fbase);
	}
}

struct capture {
	struct ctr_frame fr[CAP_MAX];
	int n, include_first, first;
	uintptr_t prev_cfa; /* the callee's CFA: this frame's stack pointer at its call */
};

static _Unwind_Reason_Code capture_frame(struct _Unwind_Context *ctx, void *arg)
{
	struct capture *c = arg;
	uintptr_t ip = gcc.ip(ctx), cfa = gcc.cfa(ctx), start = gcc.start(ctx), sp = c->prev_cfa;

	c->prev_cfa = cfa;
	if (!ip || c->n >= CAP_MAX)
		return c->n >= CAP_MAX ? _URC_END_OF_STACK : _URC_NO_REASON;
	if (skipped(ip - 1) || !start || start == entry_pc || !sp)
		return _URC_NO_REASON;
	if (c->first) {
		c->first = 0;
		if (!c->include_first)
			return _URC_NO_REASON;
	}
	c->fr[c->n].fn = start;
	c->fr[c->n].sp = sp - 8; /* as the hooks see it: the return-address slot */
	c->n++;
	return _URC_NO_REASON;
}

/* The frames open in the calling thread, from libgcc's unwinder, as ctr_capture_stack() does
 * with libunwind. */
void ctr_attach_capture(struct ctr_thr *t, int include_first)
{
	struct capture c;

	t->depth = 0;
	if (!gcc.backtrace || !n_skip)
		return;
	c.n = 0;
	c.first = 1;
	c.include_first = include_first;
	c.prev_cfa = 0;
	gcc.backtrace(capture_frame, &c);
	ctr_stack_set(t, c.fr, c.n);
}
