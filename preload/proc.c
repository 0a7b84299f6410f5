/* SPDX-License-Identifier: MIT */
/*
 * Process life of the recorder: the constructor that creates or joins the run directory,
 * per-process metadata and module map, fork/exec/exit handling, crash signals with a libunwind
 * backtrace, and the thread registry. None of this is on the hot path. The preload never
 * writes to the program's stdout and never changes its exit status.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "../common/hash.h"
#include "../common/runid.h"
#include "preload-int.h"

struct ctr_proc ctr_proc = {.dir = {.fd = -1}, .logfd = 2, .log_level = CTR_LOG_WARN};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ctr_thr *reg_head;
static pthread_key_t thr_key;
static struct ctr_fd meta_g = {.fd = -1}, maps_g = {.fd = -1}, log_g = {.fd = -1};
static char log_path[4096];
static uint64_t lost_total;
static int crashing;
static char file_prefix[64]; /* "PID-GEN" */
static int kick_pending;
static void kick_locked(void);
static int meta_fd(void);
static int maps_fd(void);

void ctr_write_thread_name(struct ctr_thr *t, const char *name);

/* ---- small helpers ------------------------------------------------------------------ */

void ctr_log(int level, const char *fmt, ...)
{
	char buf[512];
	struct ctr_nocancel nc;
	va_list ap;
	int n, fd = ctr_proc.logfd, saved = errno;

	if (level > ctr_proc.log_level || fd < 0)
		return;
	if (log_g.held && (fd = ctr_fd_check(&log_g)) < 0) /* CTRACE_LOG_FILE, closed or replaced */
		fd = ctr_fd_reopen(&log_g,
				   open(log_path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC));
	if (fd < 0) {
		errno = saved;
		return;
	}
	n = snprintf(buf, sizeof(buf), "ctrace[%d]: ", (int)getpid());
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	ctr_nocancel_begin(&nc); /* write() is a cancellation point */
	if (write(fd, buf, (size_t)n) < 0)
		(void)0;
	ctr_nocancel_end(&nc);
	errno = saved;
}

void ctr_lost_global(uint64_t n)
{
	__atomic_fetch_add(&lost_total, n, __ATOMIC_RELAXED);
}

/* Appends "key=value\n" with the value escaped (\\, \n) to fd. */
static void meta_put(int fd, const char *key, const char *val)
{
	char buf[8192];
	size_t n = 0;

	if (fd < 0)
		return;
	for (const char *k = key; *k && n < 64; k++)
		buf[n++] = *k;
	buf[n++] = '=';
	for (const char *v = val ? val : ""; *v && n < sizeof(buf) - 3; v++) {
		if (*v == '\\' || *v == '\n') {
			buf[n++] = '\\';
			buf[n++] = *v == '\n' ? 'n' : '\\';
		} else {
			buf[n++] = *v;
		}
	}
	buf[n++] = '\n';
	if (write(fd, buf, n) < 0)
		(void)0;
}

/* Signal-safe unsigned formatting. */
static char *fmt_u64(char *p, uint64_t v, int base)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % (unsigned)base];
		v /= (unsigned)base;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	*p = 0;
	return p;
}

static void meta_put_u64(int fd, const char *key, uint64_t v)
{
	char buf[24];

	fmt_u64(buf, v, 10);
	meta_put(fd, key, buf);
}

static void meta_put_i64(int fd, const char *key, int64_t v)
{
	char buf[24];

	if (v < 0) {
		buf[0] = '-';
		fmt_u64(buf + 1, (uint64_t)-v, 10);
	} else {
		fmt_u64(buf, (uint64_t)v, 10);
	}
	meta_put(fd, key, buf);
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- registry ----------------------------------------------------------------------- */

void ctr_register_thread(struct ctr_thr *t)
{
	pthread_mutex_lock(&reg_lock);
	t->next = reg_head;
	reg_head = t;
	if (kick_pending)
		kick_locked();
	pthread_mutex_unlock(&reg_lock);
	if (t == &ctr_tls) /* not a clone child's state (thread.c): the key is its TLS owner's */
		pthread_setspecific(thr_key, t);
}

void ctr_unregister_thread(struct ctr_thr *t)
{
	pthread_mutex_lock(&reg_lock);
	for (struct ctr_thr **pp = &reg_head; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	if (kick_pending)
		kick_locked();
	pthread_mutex_unlock(&reg_lock);
}

static void kick_locked(void)
{
	for (struct ctr_thr *t = reg_head; t; t = t->next)
		t->end = NULL; /* the next event of that thread takes the slow path */
	kick_pending = 0;
}

/* Makes every recording thread take its slow path at its next event (tracing switched off).
 * May run in a signal handler: never waits for the registry lock. */
void ctr_kick_threads(void)
{
	if (pthread_mutex_trylock(&reg_lock) == 0) {
		kick_locked();
		pthread_mutex_unlock(&reg_lock);
	} else {
		kick_pending = 1; /* done by whoever holds the lock, before releasing it */
	}
}

/* Writes every thread's current end of data and lost count into its header, so a reader sees
 * a consistent run while the program goes on (`ctrace ctl PID flush`). Signal-safe. */
void ctr_flush_all(void)
{
	if (pthread_mutex_trylock(&reg_lock) != 0)
		return;
	for (struct ctr_thr *t = reg_head; t; t = t->next) {
		uint32_t *win = t->win, *pos = t->pos;

		if (t->ring) {
			continue; /* the drainer writes the file: nothing to patch */
		} else if (win && pos && t->win_off == 0) {
			((struct ctr_ev_hdr *)win)->end_offset = (uint64_t)(pos - win) * 4;
		} else if (win && pos && t->file.held) {
			/* no descriptor is kept per thread: the file is opened by name here, and
			 * written only when it is the thread's */
			uint64_t end = t->win_off + (uint64_t)(pos - win) * 4;
			char name[128], *q = name;
			int fd;

			*q++ = 't';
			*q++ = '-';
			for (const char *f = file_prefix; *f; f++)
				*q++ = *f;
			*q++ = '-';
			q = fmt_u64(q, (uint64_t)t->tid, 10); /* signal-safe: no snprintf */
			memcpy(q, ".ev", 4);
			fd = openat(ctr_dir_fd(), name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0 && ctr_fd_same(&t->file, fd) &&
			    pwrite(fd, &end, 8, offsetof(struct ctr_ev_hdr, end_offset)) < 0)
				(void)0;
			if (fd >= 0)
				close(fd);
		}
	}
	pthread_mutex_unlock(&reg_lock);
	meta_put_u64(meta_fd(), "flush_ticks", ctr_now());
}

static void thread_dtor(void *arg)
{
	ctr_thread_end((struct ctr_thr *)arg);
}

int ctr_open_thread_file(struct ctr_thr *t)
{
	char name[128];
	int fd;

	snprintf(name, sizeof(name), "t-%s-%d.ev", file_prefix, (int)t->tid);
	fd = openat(ctr_dir_fd(), name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (ctr_fd_hold(&t->file, fd) < 0)
		return -1;
	t->file.held = 1;
	return 0;
}

int ctr_open_ring_file(struct ctr_thr *t)
{
	char name[128];

	snprintf(name, sizeof(name), "r-%s-%d.ring", file_prefix, (int)t->tid);
	return openat(ctr_dir_fd(), name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
}

void ctr_unlink_ring_file(struct ctr_thr *t)
{
	char name[128];

	snprintf(name, sizeof(name), "r-%s-%d.ring", file_prefix, (int)t->tid);
	unlinkat(ctr_dir_fd(), name, 0);
}

uint32_t ctr_request_snapshot(struct ctr_thr *t, const char *reason)
{
	static uint32_t seq;
	uint32_t n = __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
	char name[128], *p = name;
	int fd;

	if (!ctr_proc.enabled || !ctr_proc.flight)
		return 0;
	memcpy(p, "s-", 2);
	p = fmt_u64(p + 2, (uint64_t)ctr_proc.pid, 10);
	*p++ = '-';
	p = fmt_u64(p, (uint64_t)(t && t->tid ? t->tid : ctr_proc.pid), 10);
	*p++ = '-';
	p = fmt_u64(p, n, 10);
	*p++ = '.';
	for (const char *r = reason; *r && p < name + sizeof(name) - 1; r++)
		*p++ = *r;
	*p = 0;
	fd = openat(ctr_dir_fd(), name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return 0;
	close(fd);
	return n;
}

/* The descriptors below are re-identified before each use: the program may have closed them
 * (closefrom) or put its own files on their numbers (dup2). A lost one is reopened by name in
 * the run directory, and only if it is still the same file. */
int ctr_thread_fd(struct ctr_thr *t)
{
	char name[128];

	if (!t->file.held)
		return -1;
	if (ctr_fd_check(&t->file) >= 0)
		return t->file.fd;
	snprintf(name, sizeof(name), "t-%s-%d.ev", file_prefix, (int)t->tid);
	return ctr_fd_reopen(&t->file, openat(ctr_dir_fd(), name, O_RDWR | O_NOFOLLOW | O_CLOEXEC));
}

int ctr_dir_fd(void)
{
	if (!ctr_proc.dir.held || ctr_fd_check(&ctr_proc.dir) >= 0)
		return ctr_proc.dir.fd;
	return ctr_fd_reopen(
	    &ctr_proc.dir, open(ctr_proc.run_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

static int proc_file_fd(struct ctr_fd *g, const char *ext)
{
	char name[128];

	if (!g->held || ctr_fd_check(g) >= 0)
		return g->fd;
	snprintf(name, sizeof(name), "p-%s.%s", file_prefix, ext);
	return ctr_fd_reopen(
	    g, openat(ctr_dir_fd(), name, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC));
}

static int meta_fd(void)
{
	return proc_file_fd(&meta_g, "meta");
}

static int maps_fd(void)
{
	return proc_file_fd(&maps_g, "maps");
}

int ctr_foreign(void)
{
	return ctr_proc.pid && (pid_t)syscall(SYS_getpid) != ctr_proc.pid;
}

/* ---- module map --------------------------------------------------------------------- */

#define MAX_MODULES 4096
static struct {
	uintptr_t bias;
	uint32_t hash;
	int seen, nofile;
} modules[MAX_MODULES];
static int n_modules;

static uint32_t str_hash(const char *s)
{
	uint64_t h = ctr_hash_str(s, CTR_HASH_SEED);

	return (uint32_t)(h ^ h >> 32);
}

static void build_id_hex(const struct dl_phdr_info *info, char *out, size_t outsz)
{
	out[0] = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const char *p, *end;

		if (ph->p_type != PT_NOTE)
			continue;
		p = (const char *)(info->dlpi_addr + ph->p_vaddr);
		end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			const unsigned char *desc =
			    (const unsigned char *)p + sizeof(*nh) + ((nh->n_namesz + 3) & ~3u);

			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    memcmp(p + sizeof(*nh), "GNU", 4) == 0) {
				size_t n = 0;

				for (uint32_t k = 0; k < nh->n_descsz && n + 3 < outsz; k++) {
					out[n++] = "0123456789abcdef"[desc[k] >> 4];
					out[n++] = "0123456789abcdef"[desc[k] & 15];
				}
				out[n] = 0;
				return;
			}
			p += sizeof(*nh) + ((nh->n_namesz + 3) & ~3u) + ((nh->n_descsz + 3) & ~3u);
		}
	}
}

/* A hex number at *@s, which is moved past it (no sscanf: also called from exit paths). */
static unsigned long parse_hex(const char **s)
{
	unsigned long v = 0;

	for (;; (*s)++) {
		char c = **s;
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		if (d < 0)
			return v;
		v = v * 16 + (unsigned long)d;
	}
}

/*
 * The file of an object the loader names by a relative path (dlopen("./x.so"),
 * LD_LIBRARY_PATH=.): the kernel's name of the mapping at @addr in /proc/self/maps, which
 * stays right whatever the cwd is now; else the cwd joined with @name. 0, or -1 (no file:
 * the vdso). read() only: also called from exit paths.
 */
static int resolve_relative(const char *name, uintptr_t addr, char *out, size_t outsz)
{
	char buf[8192];
	size_t have = 0;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC), found = 0;

	while (fd >= 0 && !found) {
		ssize_t r = read(fd, buf + have, sizeof(buf) - 1 - have);
		char *line = buf, *nl;

		if (r <= 0)
			break;
		have += (size_t)r;
		buf[have] = 0;
		while (!found && (nl = strchr(line, '\n'))) {
			const char *p = line;
			unsigned long lo, hi;
			char *slash;

			*nl = 0;
			slash = strchr(line, '/');
			lo = parse_hex(&p);
			hi = *p == '-' ? (p++, parse_hex(&p)) : 0;
			if (addr >= lo && addr < hi) {
				found = slash ? 1 : -1;
				if (slash)
					snprintf(out, outsz, "%s", slash);
			}
			line = nl + 1;
		}
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
	}
	if (fd >= 0)
		close(fd);
	if (found)
		return found > 0 ? 0 : -1;
	if (!strchr(name, '/') || !getcwd(out, outsz))
		return -1;
	while (name[0] == '.' && name[1] == '/')
		name += 2;
	size_t n = strlen(out);
	snprintf(out + n, outsz - n, "/%s", name);
	return 0;
}

/* The time of the L and U lines a scan writes: a T line before them when it changes. */
struct scan_time {
	uint64_t load; /* 0: the objects were there from the process's start (no T line) */
	uint64_t last; /* of the last T line written */
};

static void write_time_line(struct scan_time *st, uint64_t t)
{
	char line[40];
	int n;

	if (!t || t == st->last)
		return;
	n = snprintf(line, sizeof(line), "T %llx\n", (unsigned long long)t);
	if (maps_fd() >= 0 && write(maps_fd(), line, (size_t)n) < 0)
		(void)0;
	st->last = t;
}

static int scan_module(struct dl_phdr_info *info, size_t size, void *arg)
{
	char path[PATH_MAX], bid[128], line[PATH_MAX + 256];
	const char *name = info->dlpi_name;
	uintptr_t lo, hi;
	uint32_t h;
	int i, n;

	h = str_hash(name ? name : "");
	for (i = 0; i < n_modules; i++) {
		if (modules[i].bias == info->dlpi_addr && modules[i].hash == h) {
			modules[i].seen = 1;
			return 0;
		}
	}
	ctr_obj_range(info, &lo, &hi);
	if (!name || !*name) {
		ssize_t r = readlink("/proc/self/exe", path, sizeof(path) - 1);

		if (r <= 0)
			return 0;
		path[r] = 0;
		if (info->dlpi_addr == 0 && n_modules > 0)
			return 0; /* only the first empty name is the executable */
	} else if (name[0] != '/') {
		if (lo >= hi || resolve_relative(name, lo, path, sizeof(path)) < 0)
			path[0] = 0; /* vdso and friends: no file (noted, not looked up again) */
	} else {
		snprintf(path, sizeof(path), "%s", name);
	}
	if (n_modules < MAX_MODULES) {
		modules[n_modules].bias = info->dlpi_addr;
		modules[n_modules].hash = h;
		modules[n_modules].seen = 1;
		modules[n_modules].nofile = !path[0];
		n_modules++;
	}
	if (!path[0])
		return 0;
	build_id_hex(info, bid, sizeof(bid));
	ctr_control_module(path, info->dlpi_addr, lo, hi);
	write_time_line(arg, ((struct scan_time *)arg)->load);
	n = snprintf(line, sizeof(line), "L %lx %lx %lx %s %s\n", (unsigned long)info->dlpi_addr,
		     (unsigned long)lo, (unsigned long)hi, bid[0] ? bid : "-", path);
	if (n > 0 && maps_fd() >= 0 && write(maps_fd(), line, (size_t)n) < 0)
		(void)0;
	return 0;
}

/*
 * Rescans the loaded objects, logging new ones (L) and unloaded ones (U). New objects are
 * timed @load (ticks: the earliest dlopen() call since the last scan, so no call into them
 * precedes it; 0 at a process's start), unloaded ones now (after the dlclose()).
 */
static void rescan_modules(uint64_t load)
{
	struct scan_time st = {.load = load};
	uint64_t now = 0;
	int i, j = 0;
	char line[64];

	for (i = 0; i < n_modules; i++)
		modules[i].seen = 0;
	dl_iterate_phdr(scan_module, &st);
	for (i = 0; i < n_modules; i++) {
		if (!modules[i].seen) {
			int n =
			    snprintf(line, sizeof(line), "U %lx\n", (unsigned long)modules[i].bias);

			if (modules[i].nofile)
				continue;
			write_time_line(&st, now ? now : (now = ctr_now()));
			if (maps_fd() >= 0 && write(maps_fd(), line, (size_t)n) < 0)
				(void)0;
			continue;
		}
		modules[j++] = modules[i];
	}
	n_modules = j;
}

static pthread_mutex_t dl_lock = PTHREAD_MUTEX_INITIALIZER;

static int count_adds(struct dl_phdr_info *info, size_t size, void *arg)
{
	*(unsigned long long *)arg = info->dlpi_adds;
	return 1; /* the counter is the same in every entry: one is enough */
}

static unsigned long long dl_adds(void)
{
	unsigned long long n = 0;

	dl_iterate_phdr(count_adds, &n);
	return n;
}

static int dl_called; /* the program called dlopen(): exit looks for new objects */
/* Ticks of the earliest dlopen() call the module map has not caught up with yet (0: none):
 * the load time of what the next scan finds. */
static uint64_t dl_since;

/* The load time for a scan now, clearing it (a dlopen() after this sets it again). */
static uint64_t take_dl_since(void)
{
	uint64_t t = __atomic_exchange_n(&dl_since, 0, __ATOMIC_ACQ_REL);

	return t ? t : ctr_now(); /* loaded by no dlopen() of ours: now is the best known */
}

static void rescan_locked(void)
{
	if (!ctr_proc.enabled || ctr_foreign())
		return;
	pthread_mutex_lock(&dl_lock);
	rescan_modules(take_dl_since());
	if (ctr_proc.attached)
		ctr_attach_repatch();	 /* bound to glibc's no-op hooks: ours now */
	ctr_libcalls_scan(maps_fd(), 0); /* objects dlopen loaded */
	pthread_mutex_unlock(&dl_lock);
}

/* At exit, which may be _exit() in a signal handler: never waits for the lock. */
static void rescan_at_exit(void)
{
	if (!ctr_proc.enabled || !dl_called || ctr_foreign() ||
	    pthread_mutex_trylock(&dl_lock) != 0)
		return;
	rescan_modules(take_dl_since());
	pthread_mutex_unlock(&dl_lock);
}

/*
 * dlopen() is not wrapped by a C function: glibc resolves the file with the calling object's
 * DT_RUNPATH and $ORIGIN, so the preload must not become the caller. The exported dlopen below
 * only notes, for the calling thread, that objects may be loaded, then jumps to libc's dlopen
 * with the program's return address untouched. The thread's next slow-path event (often in the
 * new object's constructors) rescans the objects once the loader's count of additions moved;
 * dlclose() and process exit rescan too.
 */
#define DL_CHECKS 64 /* slow-path looks before giving up on a dlopen that loaded nothing */

CTR_NOINSTR void *ctr_dlopen_prepare(void)
{
	static void *real;
	struct ctr_thr *t = &ctr_tls;
	int saved = errno;

	if (!real)
		real = dlsym(RTLD_NEXT, "dlopen");
	if (ctr_proc.enabled && ctr_proc.ready && !ctr_foreign() && t->gate != CTR_G_BUSY) {
		uint64_t zero = 0;

		dl_called = 1;
		__atomic_compare_exchange_n(&dl_since, &zero, ctr_now(), 0, __ATOMIC_ACQ_REL,
					    __ATOMIC_RELAXED);
		if (!t->dl_checks)
			t->dl_adds = dl_adds();
		t->dl_checks = DL_CHECKS;
		t->end = NULL; /* the next event takes the slow path */
	}
	errno = saved;
	return real;
}

void ctr_dl_refresh(struct ctr_thr *t)
{
	int gate = t->gate;
	unsigned long long adds;

	t->gate = CTR_G_OFF; /* what the rescan calls is not the program's */
	adds = dl_adds();
	if (adds != t->dl_adds) {
		t->dl_adds = adds;
		t->dl_checks = 0;
		rescan_locked();
	} else {
		t->dl_checks--;
	}
	t->gate = gate;
}

void ctr_proc_quiesce(void)
{
	if (dl_called)
		rescan_locked(); /* ctr_proc_stop() does not: other threads are stopped then */
}

void ctr_dl_after(void)
{
	struct ctr_thr *t = &ctr_tls;
	struct ctr_nocancel nc;
	uint64_t t0;
	int gate = t->gate;

	if (!ctr_proc.enabled || gate == CTR_G_BUSY ||
	    (!t->dl_checks && !__atomic_load_n(&dl_since, __ATOMIC_ACQUIRE)))
		return;
	t0 = now_ticks();
	ctr_nocancel_begin(&nc);
	if (t->dl_checks) {
		ctr_dl_refresh(t);
	} else { /* another thread's dlopen, not looked at yet */
		t->gate = CTR_G_OFF;
		rescan_locked();
		t->gate = gate;
	}
	ctr_nocancel_end(&nc);
	t->tracer += now_ticks() - t0;
}

__asm__(".text\n"
	".globl dlopen\n"
	".type dlopen, @function\n"
	"dlopen:\n"
	"	endbr64\n"
	"	push %rdi\n"
	"	push %rsi\n"
	"	sub $8, %rsp\n" /* 16-byte alignment for the call */
	"	call ctr_dlopen_prepare\n"
	"	add $8, %rsp\n"
	"	pop %rsi\n"
	"	pop %rdi\n"
	"	jmp *%rax\n"
	".size dlopen, .-dlopen\n");

CTR_EXPORT int dlclose(void *handle)
{
	static int (*real)(void *);
	int r, saved;

	if (!real)
		real = (int (*)(void *))dlsym(RTLD_NEXT, "dlclose");
	rescan_locked(); /* objects the lazy dlopen rescan has not seen yet */
	r = real(handle);
	saved = errno;
	rescan_locked();
	errno = saved;
	return r;
}

CTR_EXPORT int pthread_setname_np(pthread_t th, const char *name)
{
	static int (*real)(pthread_t, const char *);
	int r;

	if (!real)
		real = (int (*)(pthread_t, const char *))dlsym(RTLD_NEXT, "pthread_setname_np");
	r = real ? real(th, name) : ENOSYS;
	if (r == 0 && pthread_equal(th, pthread_self()))
		ctr_write_thread_name(&ctr_tls, name);
	return r;
}

/* ---- run directory and metadata ----------------------------------------------------- */

/* Opens (creating 0700 if needed) a directory without following a symlink at its last step. */
static int open_dir_nofollow(int atfd, const char *name, int create)
{
	int fd;

	if (create && mkdirat(atfd, name, 0700) != 0 && errno != EEXIST)
		return -1;
	fd = openat(atfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd;
}

static void put_cmdline(int fd, const char *key_each, const char *key_joined)
{
	char buf[16384], joined[8192];
	int cfd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n = cfd >= 0 ? read(cfd, buf, sizeof(buf) - 1) : -1;
	size_t jn = 0;

	if (cfd >= 0)
		close(cfd);
	if (n <= 0)
		return;
	buf[n] = 0;
	for (char *p = buf; p < buf + n; p += strlen(p) + 1) {
		if (key_each)
			meta_put(fd, key_each, p);
		if (jn && jn < sizeof(joined) - 1)
			joined[jn++] = ' ';
		for (const char *q = p; *q && jn < sizeof(joined) - 1; q++)
			joined[jn++] = *q;
	}
	joined[jn] = 0;
	if (key_joined)
		meta_put(fd, key_joined, joined);
}

/* Creates a new run directory under $CTRACE_DIR (default ./ctrace.data) and its run.meta. */
static int create_run(void)
{
	const char *parent = ctr_getenv("CTRACE_DIR");
	char id[64], host[256] = "", cwd[PATH_MAX] = "";
	int pfd, dfd, fd;

	if (!parent || !*parent)
		parent = "ctrace.data";
	pfd = open_dir_nofollow(AT_FDCWD, parent, 1);
	if (pfd < 0) {
		ctr_log(CTR_LOG_ERROR, "cannot use trace directory '%s': %s", parent,
			errno == ELOOP || errno == ENOTDIR ? "is a symlink or not a directory"
							   : strerror(errno));
		return -1;
	}
	for (int tries = 0;; tries++) {
		ctr_run_id_make(id, sizeof(id));
		if (mkdirat(pfd, id, 0700) == 0)
			break;
		if (errno != EEXIST || tries > 20) {
			ctr_log(CTR_LOG_ERROR, "cannot create run directory in '%s': %s", parent,
				strerror(errno));
			close(pfd);
			return -1;
		}
	}
	dfd = open_dir_nofollow(pfd, id, 0);
	close(pfd);
	if (dfd < 0)
		return -1;
	fd = openat(dfd, "run.meta", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		close(dfd);
		return -1;
	}
	gethostname(host, sizeof(host) - 1);
	if (!getcwd(cwd, sizeof(cwd)))
		cwd[0] = 0;
	if (write(fd, "ctrace-run 1\n", 13) < 0)
		(void)0;
	meta_put(fd, "id", id);
	meta_put_i64(fd, "root_pid", getpid());
	put_cmdline(fd, "arg", "command");
	meta_put(fd, "host", host);
	meta_put(fd, "cwd", cwd);
	meta_put_i64(fd, "start_real_ns", clock_ns(CLOCK_REALTIME));
	meta_put(fd, "created_by", "preload");
	if (ctr_getenv("CTRACE_META"))
		meta_put(fd, "meta", ctr_getenv("CTRACE_META"));
	ctr_control_write_options(fd);
	close(fd);
	snprintf(ctr_proc.run_dir, sizeof(ctr_proc.run_dir), "%s/%s", parent, id);
	if (ctr_proc.run_dir[0] != '/' && cwd[0]) {
		char abs[sizeof(ctr_proc.run_dir) + sizeof(cwd) + 2];
		size_t n = (size_t)snprintf(abs, sizeof(abs), "%s/%s", cwd, ctr_proc.run_dir);

		if (n < sizeof(ctr_proc.run_dir))
			memcpy(ctr_proc.run_dir, abs, n + 1);
	}
	ctr_setenv("CTRACE_RUN_DIR", ctr_proc.run_dir);
	if (ctr_fd_hold(&ctr_proc.dir, dfd) < 0)
		return -1;
	ctr_proc.dir.held = 1;
	return 0;
}

/* Creates this process's p-PID-GEN.meta (GEN counts exec'd images of one pid) and .maps. */
static int open_proc_files(void)
{
	char name[128];
	int fd = -1;

	for (uint32_t gen = 0; gen < 1000; gen++) {
		snprintf(name, sizeof(name), "p-%d-%u.meta", (int)ctr_proc.pid, gen);
		fd = openat(ctr_dir_fd(), name,
			    O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			ctr_proc.gen = gen;
			break;
		}
		if (errno != EEXIST)
			return -1;
	}
	if (ctr_fd_hold(&meta_g, fd) < 0)
		return -1;
	meta_g.held = 1;
	snprintf(file_prefix, sizeof(file_prefix), "%d-%u", (int)ctr_proc.pid, ctr_proc.gen);
	snprintf(name, sizeof(name), "p-%s.maps", file_prefix);
	fd = openat(ctr_dir_fd(), name,
		    O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (ctr_fd_hold(&maps_g, fd) < 0)
		return -1;
	maps_g.held = 1;
	return 0;
}

static void write_proc_meta(void)
{
	char exe[PATH_MAX];
	ssize_t r = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	/* read together: commit maps CLOCK_MONOTONIC times (--sched) onto the ticks with them */
	uint64_t start_ticks = ctr_now();
	int64_t start_mono = clock_ns(CLOCK_MONOTONIC);

	exe[r > 0 ? r : 0] = 0;
	if (write(meta_fd(), "ctrace-proc 1\n", 14) < 0)
		(void)0;
	meta_put_i64(meta_fd(), "pid", ctr_proc.pid);
	meta_put_i64(meta_fd(), "ppid", ctr_proc.ppid);
	meta_put_u64(meta_fd(), "gen", ctr_proc.gen);
	meta_put(meta_fd(), "exe", exe);
	put_cmdline(meta_fd(), NULL, "command");
	meta_put(meta_fd(), "clock", ctr_proc.use_tsc ? "tsc" : "monotonic");
	meta_put_u64(meta_fd(), "ticks_per_sec", ctr_proc.ticks_per_sec);
	meta_put_u64(meta_fd(), "start_ticks", start_ticks);
	meta_put_i64(meta_fd(), "start_mono_ns", start_mono);
	meta_put_i64(meta_fd(), "start_real_ns", clock_ns(CLOCK_REALTIME));
}

/* ---- clock -------------------------------------------------------------------------- */

static int tsc_invariant(void)
{
	unsigned a, b, c, d;

	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000000u), "c"(0));
	if (a < 0x80000007u)
		return 0;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000007u), "c"(0));
	return (d >> 8) & 1;
}

static uint64_t measure_tsc(int64_t ns);

/* 10 ms: clock_gettime's ~50 ns error is 5 ppm of it */
/* The recorder's costs into the process file: measured once per process tree (children find
 * them in CTRACE_OVERHEAD) and removed by commit (docs/report.md, "True times"). */
static void write_overhead(void)
{
	const char *ovh = ctr_getenv("CTRACE_OVERHEAD");
	struct ctr_overhead o = {0};
	char buf[128];

	if (sscanf(ovh ? ovh : "", "%lf,%lf,%lf,%lf,%lf,%lf", &o.inner_ns, &o.call_ns,
		   &o.hidden_ns[CTR_HIDDEN_EXCLUDED], &o.hidden_ns[CTR_HIDDEN_DEEP], &o.slow_ns,
		   &o.dropped_ns) != 6) {
		memset(&o, 0, sizeof(o));
		static struct ctr_overhead again; /* measured at an earlier attach */

		if (ctr_proc.attached && again.call_ns > 0) {
			o = again;
		} else if (ctr_calibrate(&o) == 0) {
			snprintf(buf, sizeof(buf), "%.3f,%.3f,%.3f,%.3f,%.3f,%.3f", o.inner_ns,
				 o.call_ns, o.hidden_ns[CTR_HIDDEN_EXCLUDED],
				 o.hidden_ns[CTR_HIDDEN_DEEP], o.slow_ns, o.dropped_ns);
			if (ctr_proc.attached)
				again = o;
			else
				ctr_setenv("CTRACE_OVERHEAD", buf);
		}
	}
	snprintf(buf, sizeof(buf), "%.3f", o.inner_ns);
	meta_put(meta_fd(), "overhead_inner_ns", buf);
	snprintf(buf, sizeof(buf), "%.3f", o.call_ns);
	meta_put(meta_fd(), "overhead_call_ns", buf);
	snprintf(buf, sizeof(buf), "%.3f", o.hidden_ns[CTR_HIDDEN_EXCLUDED]);
	meta_put(meta_fd(), "overhead_excluded_ns", buf);
	snprintf(buf, sizeof(buf), "%.3f", o.hidden_ns[CTR_HIDDEN_DEEP]);
	meta_put(meta_fd(), "overhead_deep_ns", buf);
	snprintf(buf, sizeof(buf), "%.3f", o.slow_ns);
	meta_put(meta_fd(), "overhead_slow_ns", buf);
	if (ctr_opts.policy) {
		snprintf(buf, sizeof(buf), "%.3f", o.dropped_ns);
		meta_put(meta_fd(), "overhead_dropped_ns", buf);
	}
}

static uint64_t calibrate_tsc(void)
{
	return measure_tsc(10000000);
}

static uint64_t env_u64(const char *name, uint64_t def, uint64_t lo, uint64_t hi)
{
	const char *v = ctr_getenv(name);
	char *end;
	unsigned long long x;

	if (!v || !*v)
		return def;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || *end || x < lo || x > hi) {
		ctr_log(CTR_LOG_ERROR, "ignoring invalid %s='%s' (expected %llu..%llu)", name, v,
			(unsigned long long)lo, (unsigned long long)hi);
		return def;
	}
	return x;
}

/*
 * The TSC rate is constant for a boot: it is cached as "BOOT_ID HZ" in PARENT/.tsc-hz (PARENT
 * is where run directories go), so only the first traced program of a boot calibrates.
 */
static void tsc_cache_path(char *out, size_t n, const char *run)
{
	const char *parent = ctr_getenv("CTRACE_DIR");

	if (run && *run) {
		const char *slash = strrchr(run, '/');

		if (slash && slash != run)
			snprintf(out, n, "%.*s/.tsc-hz", (int)(slash - run), run);
		else
			snprintf(out, n, "%s", slash ? "/.tsc-hz" : ".tsc-hz");
		return;
	}
	snprintf(out, n, "%s/.tsc-hz", parent && *parent ? parent : "ctrace.data");
}

static void boot_id(char *out, size_t n)
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t r = fd >= 0 ? read(fd, out, n - 1) : -1;

	if (fd >= 0)
		close(fd);
	out[r > 0 ? r : 0] = 0;
	out[strcspn(out, "\n ")] = 0;
}

/* A rate measured over @ns of the clock: the quick check of a cached value. */
static uint64_t measure_tsc(int64_t ns)
{
	uint32_t lo, hi;
	uint64_t t0, t1;
	int64_t n0, n1;

	n0 = clock_ns(CLOCK_MONOTONIC_RAW);
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	t0 = ((uint64_t)hi << 32) | lo;
	do
		n1 = clock_ns(CLOCK_MONOTONIC_RAW);
	while (n1 - n0 < ns);
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	t1 = ((uint64_t)hi << 32) | lo;
	return (uint64_t)((double)(t1 - t0) * 1e9 / (double)(n1 - n0));
}

/*
 * The cache is only a hint: it sits in a directory others may write to. It must be a regular
 * file of ours (never a FIFO or device, which could block the constructor), hold this boot's
 * id, and agree within 2% with a 200 us measurement.
 */
static uint64_t tsc_cache_read(const char *path)
{
	char buf[128], id[64], want[64];
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	unsigned long long hz = 0;
	struct stat st;
	ssize_t r = -1;
	double quick;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
	    st.st_size < (off_t)sizeof(buf))
		r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r <= 0)
		return 0;
	buf[r] = 0;
	boot_id(want, sizeof(want));
	if (!want[0] || sscanf(buf, "%63s %llu", id, &hz) != 2 || strcmp(id, want) != 0 ||
	    hz < 1000000ull || hz > 100000000000ull)
		return 0;
	quick = (double)measure_tsc(200000);
	if ((double)hz < quick * 0.98 || (double)hz > quick * 1.02) {
		ctr_log(CTR_LOG_WARN, "ignoring '%s': %llu Hz, measured %.0f", path, hz, quick);
		return 0;
	}
	return hz;
}

/* Written to a new file and renamed over the old one: never through what is there. */
static void tsc_cache_write(const char *path, uint64_t hz)
{
	char id[64], line[128], tmp[4300];
	int fd, n;

	boot_id(id, sizeof(id));
	if (!id[0] ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid()) >= sizeof(tmp))
		return;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%s %llu\n", id, (unsigned long long)hz);
	if (write(fd, line, (size_t)n) != n || close(fd) != 0 || rename(tmp, path) != 0)
		unlink(tmp);
}

/* ---- exit, fork, signals ------------------------------------------------------------ */

static void rescan_at_exit(void);

/* @detach: the end of an attach window, other threads stopped (ctrace__attach_quiesce() looked
 * for new objects already). */
static void finish_process_at(int detach)
{
	struct ctr_thr *t = &ctr_tls;

	if (!detach)
		rescan_at_exit(); /* objects loaded since the last look (dlopen is seen lazily) */
	ctr_thread_finish(t);
	{ /* with start_mono_ns, a second anchor: commit maps --sched times through both */
		uint64_t end_ticks = ctr_now();
		int64_t end_mono = clock_ns(CLOCK_MONOTONIC);

		meta_put_u64(meta_fd(), "end_ticks", end_ticks);
		meta_put_i64(meta_fd(), "end_mono_ns", end_mono);
	}
	meta_put_i64(meta_fd(), "end_real_ns", clock_ns(CLOCK_REALTIME));
	meta_put_u64(meta_fd(), "lost", __atomic_load_n(&lost_total, __ATOMIC_RELAXED));
}

static void finish_process(void)
{
	finish_process_at(0);
}

/* A vfork child runs in its parent's memory until it execs or exits: the preload's state
 * there is the parent's, so it must not touch it (ctr_foreign()). */
static void on_exit_status(int status, void *arg)
{
	if (!ctr_proc.enabled || crashing || ctr_foreign())
		return;
	meta_put_i64(meta_fd(), "exit_status", status & 0xff);
}

__attribute__((destructor(101))) static void ctr_fini(void)
{
	if (!ctr_proc.enabled || crashing || ctr_foreign())
		return;
	finish_process();
}

CTR_EXPORT __attribute__((noreturn)) void _exit(int status)
{
	if (ctr_proc.enabled && !crashing && !ctr_foreign()) {
		meta_put_i64(meta_fd(), "exit_status", status & 0xff);
		finish_process();
	}
	syscall(SYS_exit_group, status);
	__builtin_unreachable();
}

CTR_EXPORT __attribute__((noreturn)) void _Exit(int status)
{
	_exit(status);
}

/*
 * vfork(): the child borrows the parent's memory, TLS included, until it execs or exits, so
 * its calls would land in the parent's thread. The calling thread's gate is parked first
 * (CTR_G_VFORK: the child's hooks see a foreign pid and record nothing, the parent's next event
 * restores the gate). A C wrapper cannot call vfork() itself (the child would return through
 * its frame and clobber it), so the stub below calls the preparation and then jumps to the real
 * vfork, which returns straight to the program in both processes.
 */
void *ctr_vfork_prepare(void);
void *ctr_vfork_prepare(void)
{
	static void *real;
	struct ctr_thr *t = &ctr_tls;
	int saved = errno;

	if (!real)
		real = dlsym(RTLD_NEXT, "vfork");
	if (!real)
		real = (void *)fork;
	if (ctr_proc.enabled && t->gate != CTR_G_VFORK && t->gate != CTR_G_BUSY) {
		t->vfork_gate = t->gate;
		t->gate = CTR_G_VFORK;
	}
	errno = saved;
	return real;
}

__asm__(".text\n"
	".globl vfork\n"
	".type vfork, @function\n"
	"vfork:\n"
	"\tsub $8, %rsp\n" /* the call below on a 16-byte aligned stack */
	"\tcall ctr_vfork_prepare\n"
	"\tadd $8, %rsp\n"
	"\tjmp *%rax\n"
	".size vfork, .-vfork\n");

static void atfork_prepare(void)
{
	pthread_mutex_lock(&reg_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&reg_lock);
}

/* A new process with a copy of the parent's memory (fork, or clone() without CLONE_VM): files
 * of its own. With @files_shared (CLONE_FILES) the descriptor table is the parent's: the
 * inherited descriptors are forgotten, not closed. */
static void new_process(int files_shared)
{
	pthread_mutex_init(&reg_lock, NULL);
	pthread_mutex_init(&dl_lock, NULL);
	reg_head = NULL;
	lost_total = 0;
	if (!ctr_proc.enabled)
		return;
	if (files_shared) {
		meta_g.fd = maps_g.fd = ctr_tls.file.fd = -1;
		ctr_tls.file.held = 0;
	}
	ctr_fd_close(&meta_g); /* the parent's, inherited */
	ctr_fd_close(&maps_g);
	meta_g.held = maps_g.held = 0;
	ctr_proc.ppid = ctr_proc.pid;
	ctr_proc.pid = getpid();
	ctr_thread_forget(&ctr_tls);
	if (open_proc_files() != 0) {
		ctr_proc.enabled = 0;
		return;
	}
	write_proc_meta();
	n_modules = 0;
	rescan_modules(0);
	ctr_libcalls_scan(maps_fd(), 1); /* the inherited trampolines, named in our maps */
}

static void atfork_child(void)
{
	new_process(0);
}

struct clone_start {
	int (*fn)(void *);
	void *arg;
	int files_shared;
};

static int clone_child(void *p)
{
	struct clone_start cs = *(struct clone_start *)p; /* our copy of the parent's stack */
	int r;

	new_process(cs.files_shared);
	r = cs.fn(cs.arg);
	/* glibc ends the child with a plain exit system call: no destructor runs */
	if (ctr_proc.enabled && !crashing && !ctr_foreign()) {
		meta_put_i64(meta_fd(), "exit_status", r & 0xff);
		finish_process();
	}
	return r;
}

/* clone() without CLONE_VM makes a process like fork() but runs no atfork handler: the child
 * is set up here, before the program's function runs. With CLONE_VM it is a thread or a vfork
 * child: passed through. */
CTR_EXPORT int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	static int (*real)(int (*)(void *), void *, int, void *, ...);
	struct clone_start cs = {fn, arg, (flags & CLONE_FILES) != 0};
	void *ptid, *tls, *ctid;
	va_list ap;

	va_start(ap, arg); /* the kernel reads these only when flags ask for them */
	ptid = va_arg(ap, void *);
	tls = va_arg(ap, void *);
	ctid = va_arg(ap, void *);
	va_end(ap);
	if (!real)
		real =
		    (int (*)(int (*)(void *), void *, int, void *, ...))dlsym(RTLD_NEXT, "clone");
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	if ((flags & CLONE_VM) && !(flags & (CLONE_SETTLS | CLONE_VFORK)) && ctr_proc.enabled && fn)
		return ctr_shared_clone(real, fn, stack, flags, arg, ptid, tls, ctid);
	if ((flags & CLONE_VM) || !ctr_proc.enabled || !fn)
		return real(fn, stack, flags, arg, ptid, tls, ctid);
	return real(clone_child, stack, flags, &cs, ptid, tls, ctid);
}

static const int crash_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS};
static const int term_sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
static struct sigaction old_act[65];

static int is_crash_sig(int sig)
{
	for (size_t i = 0; i < sizeof(crash_sigs) / sizeof(crash_sigs[0]); i++)
		if (crash_sigs[i] == sig)
			return 1;
	return 0;
}

/* Saves the crashing thread's backtrace (signal-safe: libunwind local, write()). */
static void write_backtrace(int sig, siginfo_t *si, void *uc)
{
	char name[128], line[128], *p;
	unw_cursor_t cur;
	int fd, depth = 0;

	snprintf(name, sizeof(name), "p-%s.crash", file_prefix);
	fd =
	    openat(ctr_dir_fd(), name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	p = line;
	memcpy(p, "signal=", 7);
	p = fmt_u64(p + 7, (uint64_t)sig, 10);
	memcpy(p, "\ntid=", 5);
	p = fmt_u64(p + 5, (uint64_t)syscall(SYS_gettid), 10);
	memcpy(p, "\naddr=0x", 8);
	p = fmt_u64(p + 8, (uint64_t)(uintptr_t)si->si_addr, 16);
	*p++ = '\n';
	if (write(fd, line, (size_t)(p - line)) < 0)
		(void)0;
	if (unw_init_local2(&cur, (unw_context_t *)uc, UNW_INIT_SIGNAL_FRAME) == 0) {
		do {
			unw_word_t ip = 0;

			unw_get_reg(&cur, UNW_REG_IP, &ip);
			memcpy(line, "frame=0x", 8);
			p = fmt_u64(line + 8, (uint64_t)ip, 16);
			*p++ = '\n';
			if (write(fd, line, (size_t)(p - line)) < 0)
				(void)0;
		} while (++depth < 128 && unw_step(&cur) > 0);
	}
	close(fd);
}

static void fatal_handler(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;

	if (!ctr_foreign() && !__atomic_exchange_n(&crashing, 1, __ATOMIC_SEQ_CST)) {
		ctr_tls.gate = ctr_tls.gate == CTR_G_UNINIT ? CTR_G_OFF : ctr_tls.gate;
		if (is_crash_sig(sig)) {
			meta_put_i64(meta_fd(), "crashed", 1);
			write_backtrace(sig, si, uc);
		}
		meta_put_i64(meta_fd(), "signal", sig);
		/* events are already in the shared file mappings; note what we know */
		meta_put_u64(meta_fd(), "end_ticks", ctr_now());
		meta_put_u64(meta_fd(), "lost", __atomic_load_n(&lost_total, __ATOMIC_RELAXED));
	}
	/* die exactly as without ctrace: previous disposition, then the same signal again */
	sigaction(sig, &old_act[sig], NULL);
	if (si->si_code <= 0 || !is_crash_sig(sig) || sig == SIGABRT || sig == SIGTRAP ||
	    sig == SIGSYS)
		raise(sig);
	errno = saved;
	/* a fault returns to the faulting instruction, which faults again */
}

static void install_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = fatal_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(crash_sigs) / sizeof(crash_sigs[0]); i++) {
		int s = crash_sigs[i];

		if (sigaction(s, NULL, &old_act[s]) == 0 && old_act[s].sa_handler == SIG_DFL)
			sigaction(s, &sa, NULL);
	}
	for (size_t i = 0; i < sizeof(term_sigs) / sizeof(term_sigs[0]); i++) {
		int s = term_sigs[i];

		if (sigaction(s, NULL, &old_act[s]) == 0 && old_act[s].sa_handler == SIG_DFL)
			sigaction(s, &sa, NULL);
	}
}

/* ---- constructor -------------------------------------------------------------------- */

static void setup_log(void)
{
	const char *lvl = ctr_getenv("CTRACE_LOG"), *file = ctr_getenv("CTRACE_LOG_FILE");
	static const char *names[] = {"error", "warn", "info", "debug"};

	if (lvl && *lvl) {
		int found = 0;

		for (int i = 0; i < 4; i++)
			if (strcmp(lvl, names[i]) == 0)
				ctr_proc.log_level = i, found = 1;
		if (!found)
			ctr_log(CTR_LOG_ERROR,
				"ignoring invalid CTRACE_LOG='%s' (error, warn, info, debug)", lvl);
	}
	if (file && *file) {
		int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

		if (ctr_fd_hold(&log_g, fd) >= 0) {
			log_g.held = 1;
			ctr_proc.logfd = log_g.fd;
			snprintf(log_path, sizeof(log_path), "%s", file);
		} else
			ctr_log(CTR_LOG_ERROR, "cannot open CTRACE_LOG_FILE '%s': %s", file,
				strerror(errno));
	}
}

/*
 * CTRACE_DRAIN=PID:KB[:flight], set by `ctrace record`: process PID drains shared rings of KB
 * KiB per thread (with :flight, keeps them as a flight recorder and takes snapshots). Rings are
 * used only while that process exists (a stale variable, e.g. inherited by a program that outlives
 * the recorder, means direct event files), rounded to whole chunks.
 */
static uint64_t drain_ring_size(void)
{
	const char *v = ctr_getenv("CTRACE_DRAIN");
	unsigned long long pid, kb;
	uint64_t size, chunk = ctr_proc.window_min;
	char *end;

	if (!v || !*v)
		return 0;
	errno = 0;
	pid = strtoull(v, &end, 10);
	if (errno || *end != ':' || pid == 0 || pid > INT32_MAX)
		goto bad;
	kb = strtoull(end + 1, &end, 10);
	if (errno || (*end && strcmp(end, ":flight")) || kb == 0 || kb > (1ull << 22))
		goto bad;
	ctr_proc.flight = *end != 0;
	if (kill((pid_t)pid, 0) != 0 && errno != EPERM) {
		ctr_log(CTR_LOG_INFO, "CTRACE_DRAIN: drainer %llu is gone; direct event files",
			pid);
		return 0;
	}
	size = kb * 1024 / chunk * chunk;
	return size < 2 * chunk ? 2 * chunk : size;
bad:
	ctr_log(CTR_LOG_ERROR, "ignoring invalid CTRACE_DRAIN='%s' (PID:KB)", v);
	return 0;
}

/*
 * Start-up. Under AT_SECURE (setuid/setgid) nothing at all happens: no file, no log, no signal
 * handler. Otherwise the control signal's handler is installed first, whatever follows, so
 * `ctrace ctl` can never kill a preloaded process. The environment is read from environ, never
 * through getenv()/setenv(), which the program may define (and instrument): hooks that fire
 * meanwhile find the gate off.
 */
__attribute__((constructor(101))) static void ctr_init(void)
{
	int saved = errno;

	ctr_tls.gate = CTR_G_OFF;
	if (getauxval(AT_SECURE)) { /* setuid/setgid: do nothing at all, ever */
		ctr_proc.ready = 1;
		errno = saved;
		return;
	}
	if (ctr_attach_pending()) { /* dlopened by `ctrace attach`: it starts us (attach.c) */
		ctr_proc.ready = 1;
		ctr_tls.gate = CTR_G_UNINIT;
		errno = saved;
		return;
	}
	ctr_proc_start(0);
	errno = saved;
}

/* What a process keeps once for good: the thread key, fork and exit callbacks (an attached
 * process keeps them dormant after the detach; they do nothing while not recording). */
static void register_once(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	pthread_key_create(&thr_key, thread_dtor);
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	on_exit(on_exit_status, NULL);
}

/*
 * The constructor's work, or an attach's (@attached: the configuration comes from `ctrace
 * attach`, the program's signal handlers, environment, descriptors 0-2 and alternate stacks
 * are left as they are). Returns 0 when the process records.
 */
int ctr_proc_start(int attached)
{
	const char *run;
	struct rlimit rl;
	char buf[64];
	int calibrated = 0;

	ctr_proc.attached = attached;
	run = ctr_getenv("CTRACE_RUN_DIR");
	if (attached) {
		ctr_proc.logfd = -1; /* the program's stderr is not ours to write */
		n_modules = 0;
		lost_total = 0;
	}
	setup_log();
	if (!attached)
		ctr_control_install();
	ctr_proc.pid = getpid();
	ctr_proc.ppid = getppid();
	ctr_proc.use_tsc = tsc_invariant() && !ctr_getenv("CTRACE_CLOCK_MONOTONIC");
	ctr_proc.window_min = env_u64("CTRACE_WINDOW_KB", 256, 64, 1 << 20) * 1024;
	ctr_proc.window_max = env_u64("CTRACE_WINDOW_MAX_KB", 4096, 64, 1 << 22) * 1024;
	if (ctr_proc.window_max < ctr_proc.window_min)
		ctr_proc.window_max = ctr_proc.window_min;
	ctr_proc.ring_size = drain_ring_size();
	ctr_proc.fsize_limit = UINT64_MAX;
	if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		ctr_proc.fsize_limit = rl.rlim_cur;
	if (ctr_proc.use_tsc) {
		char cache[4200];

		tsc_cache_path(cache, sizeof(cache), run);
		ctr_proc.ticks_per_sec = env_u64("CTRACE_TSC_HZ", 0, 1000000, 100000000000ull);
		if (!ctr_proc.ticks_per_sec)
			ctr_proc.ticks_per_sec = tsc_cache_read(cache);
		if (!ctr_proc.ticks_per_sec) {
			ctr_proc.ticks_per_sec = calibrate_tsc();
			calibrated = 1;
		}
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)ctr_proc.ticks_per_sec);
		if (!attached)
			ctr_setenv("CTRACE_TSC_HZ", buf); /* children and exec'd images reuse it */
	} else {
		ctr_proc.ticks_per_sec = 1000000000u;
	}
	if (ctr_control_init() != 0) {
		/* not sampled (CTRACE_SAMPLE_RATE): stay inert, write nothing, cost nothing */
		ctr_bypass_hooks(1);
		goto out;
	}
	ctr_proc.fast = ctr_proc.use_tsc && !ctr_opts.policy;
	if (run && *run) {
		char cwd[PATH_MAX];
		int n = -1;

		/* absolute: the directory may have to be reopened after the program's chdir() */
		if (run[0] != '/' && getcwd(cwd, sizeof(cwd)))
			n = snprintf(ctr_proc.run_dir, sizeof(ctr_proc.run_dir), "%s/%s", cwd, run);
		if (n < 0 || n >= (int)sizeof(ctr_proc.run_dir))
			snprintf(ctr_proc.run_dir, sizeof(ctr_proc.run_dir), "%s", run);
		if (ctr_fd_hold(&ctr_proc.dir,
				open(run, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
			ctr_log(CTR_LOG_ERROR, "cannot open run directory '%s': %s; not recording",
				run, strerror(errno));
			goto out;
		}
		ctr_proc.dir.held = 1;
	} else if (create_run() != 0) {
		goto out;
	}
	if (open_proc_files() != 0) {
		ctr_log(CTR_LOG_ERROR, "cannot create files in '%s': %s; not recording",
			ctr_proc.run_dir, strerror(errno));
		goto out;
	}
	ctr_proc.enabled = 1;
	if (calibrated) {
		char cache[4200];

		tsc_cache_path(cache, sizeof(cache), run);
		tsc_cache_write(cache, ctr_proc.ticks_per_sec);
	}
	write_proc_meta();
	ctr_control_write_errors(meta_fd());
	write_overhead();
	rescan_modules(0);
	ctr_libcalls_scan(maps_fd(), 1);
	register_once();
	if (!attached)
		install_handlers();
	if (!ctr_global_on && !attached) {
		ctr_proc.dormant_start = 1;
		ctr_bypass_hooks(1); /* dormant: the hooks cost nothing until switched on */
	}
out:
	ctr_exec_init(!ctr_opts.no_follow_exec); /* also when not recording: children may be */
	ctr_proc.ready = 1;
	ctr_tls.gate = CTR_G_UNINIT;
	return ctr_proc.enabled ? 0 : -1;
}

int ctr_threads_busy(void)
{
	int busy = __atomic_load_n(&ctr_proc.starting, __ATOMIC_SEQ_CST) > 0;

	if (pthread_mutex_trylock(&reg_lock) != 0)
		return 1; /* a thread registers or leaves right now */
	for (struct ctr_thr *t = reg_head; t && !busy; t = t->next)
		busy = __atomic_load_n(&t->gate, __ATOMIC_SEQ_CST) == CTR_G_BUSY;
	pthread_mutex_unlock(&reg_lock);
	return busy;
}

/*
 * The end of an attach window, called with every other thread stopped by `ctrace detach`
 * outside the preload and the hook slots already back on glibc's: each registered thread's
 * stream is closed (its ring's end published for the drainer) and its state made new, so the
 * next attach starts it again; the process's end is written and its files are closed.
 */
void ctr_proc_stop(void)
{
	struct ctr_thr *t, *next;

	pthread_mutex_lock(&reg_lock);
	t = reg_head;
	reg_head = NULL;
	pthread_mutex_unlock(&reg_lock);
	for (; t; t = next) {
		next = t->next;
		ctr_thread_finish(t);
		ctr_thread_forget(t);
	}
	finish_process_at(1);
	ctr_proc.enabled = 0;
	ctr_fd_close(&meta_g);
	ctr_fd_close(&maps_g);
	meta_g.held = maps_g.held = 0;
	ctr_fd_close(&ctr_proc.dir);
	ctr_proc.dir.held = 0;
	ctr_fd_close(&log_g);
	log_g.held = 0;
}
