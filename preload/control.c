/* SPDX-License-Identifier: MIT */
/*
 * What to record: the CTRACE_* options (function filters and exclusions, module filter, depth,
 * minimum duration, sampling), resolved at start-up and on dlopen from the ELF symbol tables of
 * the loaded objects into address sets the recorder consults only when a function is first
 * seen in a slot; and switching tracing on and off in a running process (CTRACE_START=off,
 * `ctrace ctl PID on|off|flush`, ctrace_pause()/ctrace_resume()).
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <link.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/cxxsplit.h"
#include "../common/options.h"
#include "preload-int.h"

struct ctr_opts ctr_opts;
volatile int ctr_global_on = 1;

#define MAX_GLOBS 64
#define SET_BITS 20
#define SET_SIZE (1u << SET_BITS)

struct globs {
	char *pat[MAX_GLOBS];
	int n;
};

static struct globs g_filter, g_exclude, g_module, g_trigger, g_slower;
static uint64_t *set_filter, *set_exclude; /* open addressing, 0 = empty */
static uint64_t *set_trigger, *set_slower; /* flight-recorder triggers */
static struct {
	uintptr_t lo, hi;
} allowed[256];
static int n_allowed;

static void split_globs(const char *env, struct globs *g)
{
	const char *v = ctr_getenv(env);
	char *copy, *save = NULL, *tok;

	if (!v || !*v || !(copy = strdup(v)))
		return;
	/* ';' separates patterns: C++ names contain commas */
	for (tok = strtok_r(copy, ";", &save); tok && g->n < MAX_GLOBS;
	     tok = strtok_r(NULL, ";", &save))
		if (*tok)
			g->pat[g->n++] = strdup(tok);
	free(copy);
}

static uint64_t *new_set(void)
{
	void *m = mmap(NULL, SET_SIZE * sizeof(uint64_t), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return m == MAP_FAILED ? NULL : m;
}

static inline uint32_t set_hash(uint64_t a)
{
	return (uint32_t)((a * 0x9E3779B97F4A7C15ull) >> (64 - SET_BITS));
}

static void set_add(uint64_t *set, uint64_t a)
{
	for (uint32_t i = set_hash(a), n = 0; n < SET_SIZE; i = (i + 1) & (SET_SIZE - 1), n++) {
		uint64_t cur = __atomic_load_n(&set[i], __ATOMIC_RELAXED);

		if (cur == a)
			return;
		if (cur == 0) {
			__atomic_store_n(&set[i], a, __ATOMIC_RELEASE);
			return;
		}
	}
}

static int set_has(const uint64_t *set, uint64_t a)
{
	for (uint32_t i = set_hash(a), n = 0; n < SET_SIZE; i = (i + 1) & (SET_SIZE - 1), n++) {
		uint64_t cur = __atomic_load_n(&set[i], __ATOMIC_ACQUIRE);

		if (cur == a)
			return 1;
		if (cur == 0)
			return 0;
	}
	return 0;
}

static int match_any(const struct globs *g, const char *name)
{
	for (int i = 0; i < g->n; i++)
		if (fnmatch(g->pat[i], name, 0) == 0)
			return 1;
	return 0;
}

/*
 * A glob matches a function by its linkage name, its demangled name, or the name people write
 * (common/cxxsplit.h): the qualified name without a return type, with or without its parameter
 * list, so `std::*` takes in `void std::allocator_traits<...>::construct<...>(...)` too.
 */
static int match_names(const struct globs *g, const char *name, char *dm)
{
	size_t a, b, c;
	int hit;

	if (match_any(g, name) || (dm && match_any(g, dm)))
		return 1;
	if (!dm || ctr_cxxsplit_name(dm, &a, &b, &c) != 0)
		return 0;
	char keep = dm[c];

	dm[c] = 0; /* qualified name with parameters */
	hit = match_any(g, dm + a);
	dm[c] = keep;
	if (!hit) {
		keep = dm[b];
		dm[b] = 0; /* without them */
		hit = match_any(g, dm + a);
		dm[b] = keep;
	}
	return hit;
}

typedef char *(*demangle_fn)(const char *, char *, size_t *, int *);

/* Adds the functions of ELF file @path (loaded at @bias) that match the globs to the sets. */
static void scan_symbols(const char *path, uintptr_t bias)
{
	static demangle_fn demangle;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	const unsigned char *m;
	const Elf64_Ehdr *eh;
	const Elf64_Shdr *sh;
	int pass;

	if (fd < 0)
		return;
	if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
		close(fd);
		return;
	}
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return;
	if (!demangle)
		demangle = (demangle_fn)dlsym(RTLD_DEFAULT, "__cxa_demangle");
	eh = (const Elf64_Ehdr *)m;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_shoff == 0 ||
	    eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > (uint64_t)st.st_size)
		goto out;
	sh = (const Elf64_Shdr *)(m + eh->e_shoff);
	for (pass = 0; pass < 2; pass++) { /* .symtab, and .dynsym for what it lacks */
		for (int i = 0; i < eh->e_shnum; i++) {
			if (sh[i].sh_type != (pass ? SHT_DYNSYM : SHT_SYMTAB) ||
			    sh[i].sh_link >= eh->e_shnum)
				continue;
			const Elf64_Shdr *strs = &sh[sh[i].sh_link];

			if (sh[i].sh_offset + sh[i].sh_size > (uint64_t)st.st_size ||
			    strs->sh_offset + strs->sh_size > (uint64_t)st.st_size ||
			    !sh[i].sh_entsize)
				continue;
			const Elf64_Sym *sym = (const Elf64_Sym *)(m + sh[i].sh_offset);
			size_t n = sh[i].sh_size / sh[i].sh_entsize;
			const char *str = (const char *)(m + strs->sh_offset);

			for (size_t k = 0; k < n; k++) {
				const char *name;
				char *dm = NULL;
				int status = -1, ex, fi;

				if (ELF64_ST_TYPE(sym[k].st_info) != STT_FUNC || !sym[k].st_value ||
				    sym[k].st_shndx == SHN_UNDEF || sym[k].st_name >= strs->sh_size)
					continue;
				name = str + sym[k].st_name;
				if (name[0] == '_' && name[1] == 'Z' && demangle)
					dm = demangle(name, NULL, NULL, &status);
				ex = g_exclude.n && match_names(&g_exclude, name, dm);
				fi = g_filter.n && match_names(&g_filter, name, dm);
				if (ex && set_exclude)
					set_add(set_exclude, bias + sym[k].st_value);
				if (fi && set_filter)
					set_add(set_filter, bias + sym[k].st_value);
				if (set_trigger && match_names(&g_trigger, name, dm))
					set_add(set_trigger, bias + sym[k].st_value);
				if (set_slower && match_names(&g_slower, name, dm))
					set_add(set_slower, bias + sym[k].st_value);
				free(dm);
			}
		}
		if (pass == 0 && !g_filter.n && !g_exclude.n && !set_trigger && !set_slower)
			break;
	}
out:
	munmap((void *)m, (size_t)st.st_size);
}

/* Called for every newly loaded object (proc.c's module scan). */
void ctr_control_module(const char *path, uintptr_t bias, uintptr_t lo, uintptr_t hi)
{
	if (g_module.n && match_any(&g_module, path) && n_allowed < 256) {
		allowed[n_allowed].lo = lo;
		allowed[n_allowed].hi = hi;
		n_allowed++;
	}
	if (g_filter.n || g_exclude.n || set_trigger || set_slower)
		scan_symbols(path, bias);
}

int ctr_control_decide(uintptr_t fn)
{
	if (ctr_opts.have_module) {
		int in = 0;

		for (int i = 0; i < n_allowed; i++)
			if (fn >= allowed[i].lo && fn < allowed[i].hi)
				in = 1;
		if (!in)
			return CTR_DECIDE_EXCLUDE;
	}
	if (set_exclude && set_has(set_exclude, fn))
		return CTR_DECIDE_EXCLUDE;
	if (set_filter && set_has(set_filter, fn))
		return CTR_DECIDE_FILTER;
	if ((set_trigger && set_has(set_trigger, fn)) || (set_slower && set_has(set_slower, fn)))
		return CTR_DECIDE_WATCH;
	return CTR_DECIDE_RECORD;
}

int ctr_control_watch(uintptr_t fn)
{
	return (set_trigger && set_has(set_trigger, fn) ? CTR_WATCH_FIRST : 0) |
	       (set_slower && set_has(set_slower, fn) ? CTR_WATCH_SLOWER : 0);
}

/* Writes the options in effect as option.* lines of a meta file. */
void ctr_control_write_options(int fd)
{
	char line[4200];

	for (int i = 0; i < CTR_OPT_N; i++) {
		const char *v = ctr_getenv(ctr_opt_defs[i].env);
		struct ctr_opt_val val;
		char why[256];
		int n;

		if (fd < 0 || !v || !*v ||
		    ctr_opt_parse(&ctr_opt_defs[i], v, &val, why, sizeof(why)))
			continue; /* a rejected value is an option_error line, not an option */
		n = snprintf(line, sizeof(line), "option.%s=%s\n", ctr_opt_defs[i].key, v);
		if (n > 0 && n < (int)sizeof(line) && write(fd, line, (size_t)n) < 0)
			(void)0;
	}
}

/* Options the preload had to reject: logged, and kept for the process's meta file. */
#define MAX_OPT_ERRORS CTR_OPT_N
static char opt_errors[MAX_OPT_ERRORS][512];
static int n_opt_errors;

static void reject(const struct ctr_opt_def *d, const char *v, const char *why)
{
	ctr_log(CTR_LOG_ERROR, "ignoring invalid %s='%s': %s", d->env, v, why);
	if (n_opt_errors < MAX_OPT_ERRORS)
		snprintf(opt_errors[n_opt_errors++], sizeof(opt_errors[0]), "%s='%.200s': %s",
			 d->env, v, why);
}

void ctr_control_write_errors(int fd)
{
	char line[600];

	for (int i = 0; i < n_opt_errors && fd >= 0; i++) {
		int n = snprintf(line, sizeof(line), "option_error=%s\n", opt_errors[i]);

		for (int k = (int)sizeof("option_error=") - 1; k < n - 1; k++)
			if (line[k] == '\n')
				line[k] = ' ';
		if (n > 0 && n < (int)sizeof(line) && write(fd, line, (size_t)n) < 0)
			(void)0;
	}
}

/* ---- on / off ----------------------------------------------------------------------- */

static void ctl_handler(int sig, siginfo_t *si, void *uc)
{
	struct ctr_nocancel nc;
	int saved = errno;

	ctr_nocancel_begin(&nc); /* the handler's writes are cancellation points */
	switch (si->si_value.sival_int) {
	case 1:
		ctrace__resume();
		break;
	case 2:
		ctrace__pause();
		break;
	case 3:
		ctr_flush_all();
		break;
	case 4:
		ctr_request_snapshot(&ctr_tls, "ctl");
		break;
	default:
		break;
	}
	ctr_nocancel_end(&nc);
	errno = saved;
}

CTR_EXPORT void ctrace__pause(void)
{
	if (!ctr_proc.enabled)
		return;
	__atomic_store_n(&ctr_global_on, 0, __ATOMIC_SEQ_CST);
	ctr_kick_threads(); /* recording threads notice at their next event */
}

CTR_EXPORT void ctrace__resume(void)
{
	if (!ctr_proc.enabled)
		return;
	__atomic_store_n(&ctr_global_on, 1, __ATOMIC_SEQ_CST);
	if (ctr_hooks_bypassed())
		ctr_bypass_hooks(0);
}

CTR_EXPORT int ctrace__enabled(void)
{
	return ctr_proc.enabled && ctr_global_on;
}

static void free_globs(struct globs *g)
{
	for (int i = 0; i < g->n; i++)
		free(g->pat[i]);
	g->n = 0;
}

static void free_set(uint64_t **set)
{
	if (*set)
		munmap(*set, SET_SIZE * sizeof(uint64_t));
	*set = NULL;
}

/* Before a new attach reads its options: what the last one asked for is forgotten. Called
 * with recording off (no hook consults the sets). */
void ctr_control_reset(void)
{
	free_globs(&g_filter);
	free_globs(&g_exclude);
	free_globs(&g_module);
	free_globs(&g_trigger);
	free_globs(&g_slower);
	free_set(&set_filter);
	free_set(&set_exclude);
	free_set(&set_trigger);
	free_set(&set_slower);
	n_allowed = 0;
	n_opt_errors = 0;
	memset(&ctr_opts, 0, sizeof(ctr_opts));
	ctr_global_on = 1;
}

/* Reads the options (common/options.h: one table, one set of limits); returns 0 to record
 * this process, -1 to stay inert (sample-rate). An invalid value is ignored, but never
 * silently: it is logged and written as an option_error line of the process. */
int ctr_control_init(void)
{
	int inert = 0;

	for (int i = 0; i < CTR_OPT_N; i++) {
		const struct ctr_opt_def *d = &ctr_opt_defs[i];
		const char *v = ctr_getenv(d->env);
		struct ctr_opt_val val;
		char why[256];

		if (!v || !*v)
			continue;
		if (ctr_opt_parse(d, v, &val, why, sizeof(why)) != 0) {
			reject(d, v, why);
			continue;
		}
		switch (d->id) {
		case CTR_OPT_FILTER:
			split_globs(d->env, &g_filter);
			break;
		case CTR_OPT_EXCLUDE:
			split_globs(d->env, &g_exclude);
			break;
		case CTR_OPT_MODULE:
			split_globs(d->env, &g_module);
			break;
		case CTR_OPT_DEPTH:
			ctr_opts.max_depth = (uint32_t)val.u;
			break;
		case CTR_OPT_MIN_DURATION:
			ctr_opts.min_ticks =
			    (uint64_t)((double)val.u * (double)ctr_proc.ticks_per_sec / 1e9);
			break;
		case CTR_OPT_SAMPLE:
			if (val.u > 1)
				ctr_opts.sample = (uint32_t)val.u;
			break;
		case CTR_OPT_START:
			if (!val.u)
				ctr_global_on = 0;
			break;
		case CTR_OPT_TRIGGER:
			split_globs(d->env, &g_trigger);
			break;
		case CTR_OPT_TRIGGER_SLOWER: {
			char *glob = strdup(v);

			if (glob) { /* FUNC:D, split at the last ':' (C++ names have "::") */
				*strrchr(glob, ':') = 0;
				g_slower.pat[g_slower.n++] = glob;
				ctr_opts.slower_ticks =
				    (uint64_t)((double)val.u * (double)ctr_proc.ticks_per_sec /
					       1e9);
			}
			break;
		}
		case CTR_OPT_SAMPLE_RATE: {
			uint32_t r = 0;

			if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
				r = (uint32_t)time(NULL) * 2654435761u ^ (uint32_t)getpid();
			if ((double)r >= val.p * 4294967296.0)
				inert = 1;
			break;
		}
		case CTR_OPT_SCHED:
			/* the recorder owns the context-switch events, never this process */
			if (val.u && !ctr_getenv("CTRACE_SCHED_BY")) {
				ctr_log(CTR_LOG_WARN,
					"CTRACE_SCHED=on needs 'ctrace record --sched' "
					"(the recorder reads the context switches); "
					"recording without off-CPU time");
				/* said once a process tree */
				ctr_setenv("CTRACE_SCHED_BY", "none");
			}
			break;
		case CTR_OPT_NO_FOLLOW_EXEC:
			ctr_opts.no_follow_exec = (int)val.u;
			break;
		case CTR_OPT_LIBCALLS:
			if (ctr_libcalls_init(v) != 0)
				ctr_log(CTR_LOG_ERROR,
					"out of memory for CTRACE_LIBCALLS: ignored");
			break;
		case CTR_OPT_N:
			break;
		}
	}
	ctr_opts.have_module = g_module.n > 0;
	if (g_exclude.n && !(set_exclude = new_set()))
		ctr_log(CTR_LOG_ERROR, "out of memory for CTRACE_EXCLUDE: ignored");
	if (g_filter.n) {
		set_filter = new_set();
		if (set_filter)
			ctr_opts.have_filter = 1;
		else
			ctr_log(CTR_LOG_ERROR, "out of memory for CTRACE_FILTER: ignored");
	}
	/* triggers only mean something to a flight recorder (ctrace record --ring) */
	if (ctr_proc.flight && g_trigger.n && !(set_trigger = new_set()))
		ctr_log(CTR_LOG_ERROR, "out of memory for CTRACE_TRIGGER: ignored");
	if (ctr_proc.flight && g_slower.n && !(set_slower = new_set()))
		ctr_log(CTR_LOG_ERROR, "out of memory for CTRACE_TRIGGER_SLOWER: ignored");
	ctr_opts.have_watch = set_trigger || set_slower;
	ctr_opts.have_exclude = set_exclude != NULL || ctr_opts.have_module;
	ctr_opts.policy = ctr_opts.min_ticks || ctr_opts.sample;
	return inert ? -1 : 0;
}

/*
 * Installs the handler of `ctrace ctl`'s signal (SIGRTMAX-3) unless the program has one, and
 * only then announces it: a read-only mapping of a memfd named CTR_CTL_ANNOUNCE, which ctl
 * looks for in /proc/PID/maps (readable only by the process's owner and root) together with the
 * signal in SigCgt of /proc/PID/status. Called first thing in every process that loads the
 * preload, recording or not (not under AT_SECURE), so ctl never kills one.
 */
void ctr_control_install(void)
{
	struct sigaction sa, old;
	int sig = SIGRTMAX - 3, fd;
	void *m;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = ctl_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, NULL, &old) != 0 || old.sa_handler != SIG_DFL ||
	    sigaction(sig, &sa, NULL) != 0)
		return;
	fd = memfd_create("ctrace-ctl", MFD_CLOEXEC);
	if (fd < 0)
		return;
	if (ftruncate(fd, 4096) == 0) {
		m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED)
			ctr_log(CTR_LOG_DEBUG, "cannot announce the control signal: %s",
				strerror(errno));
	}
	close(fd);
}

/* ---- stack capture at switch-on ----------------------------------------------------- */

#define UNW_LOCAL_ONLY
#include <libunwind.h>

/*
 * Fills the shadow stack of @t with the frames open now (outermost first), from a libunwind
 * walk of the calling thread: function entry points and stack positions, so the calls already
 * running when tracing turns on get their exits attributed correctly. Frames of the preload
 * itself are skipped, and so is the instrumented function that called the hook unless
 * @include_first (an exit: that function is open; an enter: it is being entered now).
 */
void ctr_capture_stack(struct ctr_thr *t, int include_first)
{
	enum { MAX = 512 };
	struct ctr_frame fr[MAX];
	unw_context_t uc;
	unw_cursor_t cur;
	Dl_info self;
	int n = 0, first = 1;

	t->depth = 0;
	if (!dladdr((void *)ctr_capture_stack, &self) || unw_getcontext(&uc) != 0 ||
	    unw_init_local(&cur, &uc) != 0)
		return;
	do {
		unw_proc_info_t pi;
		unw_word_t ip = 0, sp = 0;
		Dl_info di;
		char name[64];
		unw_word_t off;

		unw_get_reg(&cur, UNW_REG_IP, &ip);
		unw_get_reg(&cur, UNW_REG_SP, &sp);
		if (dladdr((void *)ip, &di) &&
		    (di.dli_fbase == self.dli_fbase ||
		     (di.dli_fname &&
		      (strstr(di.dli_fname, "/libc.so") || strstr(di.dli_fname, "/ld-linux")))))
			continue; /* ours, and libc's start-up frames: not part of the program's
				     tree */
		if (unw_get_proc_info(&cur, &pi) != 0 || !pi.start_ip)
			continue;
		if (first) {
			first = 0;
			if (!include_first)
				continue;
		}
		if (unw_get_proc_name(&cur, name, sizeof(name), &off) == 0 &&
		    (!strcmp(name, "_start") || !strncmp(name, "__libc_start", 12)))
			continue; /* libc's start-up frames are not part of the program's tree */
		fr[n].fn = (uintptr_t)pi.start_ip;
		fr[n].sp = (uintptr_t)sp - 8; /* as the hooks see it: the return-address slot */
		n++;
	} while (n < MAX && unw_step(&cur) > 0);
	ctr_stack_set(t, fr, n);
}

void ctr_stack_set(struct ctr_thr *t, const struct ctr_frame *fr, int n)
{
	t->depth = 0;
	for (int i = n - 1, d = 0; i >= 0 && (uint32_t)d < t->cap; i--, d++) {
		t->stack[d].fn = fr[i].fn;
		t->stack[d].sp = fr[i].sp;
		if (t->aux) { /* a drop policy: an inherited frame is never taken back */
			t->aux[d].pos_before = NULL;
			t->aux[d].pend_start = t->n_pend;
		}
		t->depth = (uint32_t)d + 1;
	}
}
