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

#include "../common/runid.h"
#include "preload-int.h"

struct ctr_proc ctr_proc = {.dirfd = -1, .logfd = 2, .log_level = CTR_LOG_WARN};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ctr_thr *reg_head;
static pthread_key_t thr_key;
static int metafd = -1;
static uint64_t lost_total;
static int crashing;
static char file_prefix[64]; /* "PID-GEN" */
static int kick_pending;
static void kick_locked(void);

void ctr_write_thread_name(struct ctr_thr *t, const char *name);

/* ---- small helpers ------------------------------------------------------------------ */

void ctr_log(int level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n, saved = errno;

	if (level > ctr_proc.log_level || ctr_proc.logfd < 0)
		return;
	n = snprintf(buf, sizeof(buf), "ctrace[%d]: ", (int)getpid());
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(ctr_proc.logfd, buf, (size_t)n) < 0)
		(void)0;
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

		if (t->fd >= 0 && win && pos) {
			uint64_t end = t->win_off + (uint64_t)(pos - win) * 4;

			if (pwrite(t->fd, &end, 8, offsetof(struct ctr_ev_hdr, end_offset)) < 0)
				(void)0;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	meta_put_u64(metafd, "flush_ticks", ctr_now());
}

static void thread_dtor(void *arg)
{
	ctr_thread_finish((struct ctr_thr *)arg);
}

int ctr_open_thread_file(int32_t tid, int *fd)
{
	char name[128];

	snprintf(name, sizeof(name), "t-%s-%d.ev", file_prefix, (int)tid);
	*fd =
	    openat(ctr_proc.dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	return *fd < 0 ? -1 : 0;
}

/* ---- module map --------------------------------------------------------------------- */

#define MAX_MODULES 4096
static struct {
	uintptr_t bias;
	uint32_t hash;
	int seen;
} modules[MAX_MODULES];
static int n_modules;
static int mapsfd = -1;

static uint32_t str_hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
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

static int scan_module(struct dl_phdr_info *info, size_t size, void *arg)
{
	char path[PATH_MAX], bid[128], line[PATH_MAX + 256];
	const char *name = info->dlpi_name;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	uint32_t h;
	int i, n;

	if (!name || !*name) {
		ssize_t r = readlink("/proc/self/exe", path, sizeof(path) - 1);

		if (r <= 0)
			return 0;
		path[r] = 0;
		if (info->dlpi_addr == 0 && n_modules > 0)
			return 0; /* only the first empty name is the executable */
	} else if (name[0] != '/') {
		return 0; /* vdso and friends: no file */
	} else {
		snprintf(path, sizeof(path), "%s", name);
	}
	h = str_hash(path);
	for (i = 0; i < n_modules; i++) {
		if (modules[i].bias == info->dlpi_addr && modules[i].hash == h) {
			modules[i].seen = 1;
			return 0;
		}
	}
	for (int k = 0; k < info->dlpi_phnum; k++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[k];

		if (ph->p_type != PT_LOAD)
			continue;
		if (info->dlpi_addr + ph->p_vaddr < lo)
			lo = info->dlpi_addr + ph->p_vaddr;
		if (info->dlpi_addr + ph->p_vaddr + ph->p_memsz > hi)
			hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
	}
	build_id_hex(info, bid, sizeof(bid));
	ctr_control_module(path, info->dlpi_addr, lo, hi);
	if (n_modules < MAX_MODULES) {
		modules[n_modules].bias = info->dlpi_addr;
		modules[n_modules].hash = h;
		modules[n_modules].seen = 1;
		n_modules++;
	}
	n = snprintf(line, sizeof(line), "L %lx %lx %lx %s %s\n", (unsigned long)info->dlpi_addr,
		     (unsigned long)lo, (unsigned long)hi, bid[0] ? bid : "-", path);
	if (mapsfd >= 0 && n > 0 && write(mapsfd, line, (size_t)n) < 0)
		(void)0;
	return 0;
}

/* Rescans the loaded objects, logging new ones (L) and unloaded ones (U). */
static void rescan_modules(void)
{
	int i, j = 0;
	char line[64];

	for (i = 0; i < n_modules; i++)
		modules[i].seen = 0;
	dl_iterate_phdr(scan_module, NULL);
	for (i = 0; i < n_modules; i++) {
		if (!modules[i].seen) {
			int n =
			    snprintf(line, sizeof(line), "U %lx\n", (unsigned long)modules[i].bias);

			if (mapsfd >= 0 && write(mapsfd, line, (size_t)n) < 0)
				(void)0;
			continue;
		}
		modules[j++] = modules[i];
	}
	n_modules = j;
}

static pthread_mutex_t dl_lock = PTHREAD_MUTEX_INITIALIZER;

CTR_EXPORT void *dlopen(const char *file, int mode)
{
	static void *(*real)(const char *, int);
	void *h;
	int saved;

	if (!real)
		real = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
	h = real(file, mode);
	saved = errno;
	if (h && ctr_proc.enabled) {
		pthread_mutex_lock(&dl_lock);
		rescan_modules();
		pthread_mutex_unlock(&dl_lock);
	}
	if (h && ctr_hooks_bypassed())
		ctr_bypass_hooks(1);
	errno = saved;
	return h;
}

CTR_EXPORT int dlclose(void *handle)
{
	static int (*real)(void *);
	int r, saved;

	if (!real)
		real = (int (*)(void *))dlsym(RTLD_NEXT, "dlclose");
	r = real(handle);
	saved = errno;
	if (ctr_proc.enabled) {
		pthread_mutex_lock(&dl_lock);
		rescan_modules();
		pthread_mutex_unlock(&dl_lock);
	}
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
	const char *parent = getenv("CTRACE_DIR");
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
	if (getenv("CTRACE_META"))
		meta_put(fd, "meta", getenv("CTRACE_META"));
	ctr_control_write_options(fd);
	close(fd);
	snprintf(ctr_proc.run_dir, sizeof(ctr_proc.run_dir), "%s/%s", parent, id);
	if (ctr_proc.run_dir[0] != '/' && cwd[0]) {
		char abs[sizeof(ctr_proc.run_dir) + sizeof(cwd) + 2];
		size_t n = (size_t)snprintf(abs, sizeof(abs), "%s/%s", cwd, ctr_proc.run_dir);

		if (n < sizeof(ctr_proc.run_dir))
			memcpy(ctr_proc.run_dir, abs, n + 1);
	}
	setenv("CTRACE_RUN_DIR", ctr_proc.run_dir, 1);
	ctr_proc.dirfd = dfd;
	return 0;
}

/* Creates this process's p-PID-GEN.meta (GEN counts exec'd images of one pid) and .maps. */
static int open_proc_files(void)
{
	char name[128];

	for (uint32_t gen = 0; gen < 1000; gen++) {
		snprintf(name, sizeof(name), "p-%d-%u.meta", (int)ctr_proc.pid, gen);
		metafd =
		    openat(ctr_proc.dirfd, name,
			   O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (metafd >= 0) {
			ctr_proc.gen = gen;
			break;
		}
		if (errno != EEXIST)
			return -1;
	}
	if (metafd < 0)
		return -1;
	snprintf(file_prefix, sizeof(file_prefix), "%d-%u", (int)ctr_proc.pid, ctr_proc.gen);
	snprintf(name, sizeof(name), "p-%s.maps", file_prefix);
	mapsfd = openat(ctr_proc.dirfd, name,
			O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	return mapsfd < 0 ? -1 : 0;
}

static void write_proc_meta(void)
{
	char exe[PATH_MAX];
	ssize_t r = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	exe[r > 0 ? r : 0] = 0;
	if (write(metafd, "ctrace-proc 1\n", 14) < 0)
		(void)0;
	meta_put_i64(metafd, "pid", ctr_proc.pid);
	meta_put_i64(metafd, "ppid", ctr_proc.ppid);
	meta_put_u64(metafd, "gen", ctr_proc.gen);
	meta_put(metafd, "exe", exe);
	put_cmdline(metafd, NULL, "command");
	meta_put(metafd, "clock", ctr_proc.use_tsc ? "tsc" : "monotonic");
	meta_put_u64(metafd, "ticks_per_sec", ctr_proc.ticks_per_sec);
	meta_put_u64(metafd, "start_ticks", ctr_now());
	meta_put_i64(metafd, "start_real_ns", clock_ns(CLOCK_REALTIME));
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

static uint64_t calibrate_tsc(void)
{
	uint32_t lo, hi;
	uint64_t t0, t1;
	int64_t n0, n1;

	n0 = clock_ns(CLOCK_MONOTONIC_RAW);
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	t0 = ((uint64_t)hi << 32) | lo;
	do
		n1 = clock_ns(CLOCK_MONOTONIC_RAW);
	while (n1 - n0 < 10000000); /* 10 ms: clock_gettime's ~50 ns error is 5 ppm of it */
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	t1 = ((uint64_t)hi << 32) | lo;
	return (uint64_t)((double)(t1 - t0) * 1e9 / (double)(n1 - n0));
}

static uint64_t env_u64(const char *name, uint64_t def, uint64_t lo, uint64_t hi)
{
	const char *v = getenv(name);
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
	const char *parent = getenv("CTRACE_DIR");

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

static uint64_t tsc_cache_read(const char *path)
{
	char buf[128], id[64], want[64];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t r = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	unsigned long long hz = 0;

	if (fd >= 0)
		close(fd);
	if (r <= 0)
		return 0;
	buf[r] = 0;
	boot_id(want, sizeof(want));
	if (!want[0] || sscanf(buf, "%63s %llu", id, &hz) != 2 || strcmp(id, want) != 0 ||
	    hz < 1000000ull || hz > 100000000000ull)
		return 0;
	return hz;
}

static void tsc_cache_write(const char *path, uint64_t hz)
{
	char id[64], line[128];
	int fd, n;

	boot_id(id, sizeof(id));
	if (!id[0])
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%s %llu\n", id, (unsigned long long)hz);
	if (write(fd, line, (size_t)n) < 0)
		(void)0;
	close(fd);
}

/* ---- exit, fork, signals ------------------------------------------------------------ */

static void finish_process(void)
{
	struct ctr_thr *t = &ctr_tls;

	ctr_thread_finish(t);
	meta_put_u64(metafd, "end_ticks", ctr_now());
	meta_put_i64(metafd, "end_real_ns", clock_ns(CLOCK_REALTIME));
	meta_put_u64(metafd, "lost", __atomic_load_n(&lost_total, __ATOMIC_RELAXED));
}

static void on_exit_status(int status, void *arg)
{
	if (!ctr_proc.enabled || crashing)
		return;
	meta_put_i64(metafd, "exit_status", status & 0xff);
}

__attribute__((destructor(101))) static void ctr_fini(void)
{
	if (!ctr_proc.enabled || crashing)
		return;
	finish_process();
}

CTR_EXPORT __attribute__((noreturn)) void _exit(int status)
{
	if (ctr_proc.enabled && !crashing) {
		meta_put_i64(metafd, "exit_status", status & 0xff);
		finish_process();
	}
	syscall(SYS_exit_group, status);
	__builtin_unreachable();
}

CTR_EXPORT __attribute__((noreturn)) void _Exit(int status)
{
	_exit(status);
}

static void atfork_prepare(void)
{
	pthread_mutex_lock(&reg_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&reg_lock);
}

static void atfork_child(void)
{
	pthread_mutex_init(&reg_lock, NULL);
	pthread_mutex_init(&dl_lock, NULL);
	reg_head = NULL;
	lost_total = 0;
	if (!ctr_proc.enabled)
		return;
	if (metafd >= 0)
		close(metafd);
	if (mapsfd >= 0)
		close(mapsfd);
	metafd = mapsfd = -1;
	ctr_proc.ppid = ctr_proc.pid;
	ctr_proc.pid = getpid();
	ctr_thread_forget(&ctr_tls);
	if (open_proc_files() != 0) {
		ctr_proc.enabled = 0;
		return;
	}
	write_proc_meta();
	n_modules = 0;
	rescan_modules();
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
	fd = openat(ctr_proc.dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		    0600);
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

	if (!__atomic_exchange_n(&crashing, 1, __ATOMIC_SEQ_CST)) {
		ctr_tls.gate = ctr_tls.gate == CTR_G_UNINIT ? CTR_G_OFF : ctr_tls.gate;
		if (is_crash_sig(sig)) {
			meta_put_i64(metafd, "crashed", 1);
			write_backtrace(sig, si, uc);
		}
		meta_put_i64(metafd, "signal", sig);
		/* events are already in the shared file mappings; note what we know */
		meta_put_u64(metafd, "end_ticks", ctr_now());
		meta_put_u64(metafd, "lost", __atomic_load_n(&lost_total, __ATOMIC_RELAXED));
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
	const char *lvl = getenv("CTRACE_LOG"), *file = getenv("CTRACE_LOG_FILE");
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

		if (fd >= 0)
			ctr_proc.logfd = fd;
		else
			ctr_log(CTR_LOG_ERROR, "cannot open CTRACE_LOG_FILE '%s': %s", file,
				strerror(errno));
	}
}

__attribute__((constructor(101))) static void ctr_init(void)
{
	const char *run = getenv("CTRACE_RUN_DIR");
	struct rlimit rl;
	char buf[64];
	double inner = 0, call = 0;
	int saved = errno, calibrated = 0;

	setup_log();
	if (getauxval(AT_SECURE)) /* setuid/setgid: do nothing at all */
		goto out;
	ctr_proc.pid = getpid();
	ctr_proc.ppid = getppid();
	ctr_proc.use_tsc = tsc_invariant() && !getenv("CTRACE_CLOCK_MONOTONIC");
	ctr_proc.window_min = env_u64("CTRACE_WINDOW_KB", 256, 64, 1 << 20) * 1024;
	ctr_proc.window_max = env_u64("CTRACE_WINDOW_MAX_KB", 4096, 64, 1 << 22) * 1024;
	if (ctr_proc.window_max < ctr_proc.window_min)
		ctr_proc.window_max = ctr_proc.window_min;
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
		setenv("CTRACE_TSC_HZ", buf, 1); /* children and exec'd images reuse it */
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
		ctr_proc.dirfd = open(run, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (ctr_proc.dirfd < 0) {
			ctr_log(CTR_LOG_ERROR, "cannot open run directory '%s': %s; not recording",
				run, strerror(errno));
			goto out;
		}
		snprintf(ctr_proc.run_dir, sizeof(ctr_proc.run_dir), "%s", run);
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
	if (sscanf(getenv("CTRACE_OVERHEAD") ? getenv("CTRACE_OVERHEAD") : "", "%lf,%lf", &inner,
		   &call) != 2) {
		if (ctr_calibrate(&inner, &call) == 0) {
			snprintf(buf, sizeof(buf), "%.3f,%.3f", inner, call);
			setenv("CTRACE_OVERHEAD", buf, 1);
		}
	}
	snprintf(buf, sizeof(buf), "%.3f", inner);
	meta_put(metafd, "overhead_inner_ns", buf);
	snprintf(buf, sizeof(buf), "%.3f", call);
	meta_put(metafd, "overhead_call_ns", buf);
	rescan_modules();
	pthread_key_create(&thr_key, thread_dtor);
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	on_exit(on_exit_status, NULL);
	install_handlers();
	ctr_control_install();
	if (!ctr_global_on) {
		ctr_proc.dormant_start = 1;
		ctr_bypass_hooks(1); /* dormant: the hooks cost nothing until switched on */
	}
out:
	errno = saved;
}
