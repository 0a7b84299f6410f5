/* SPDX-License-Identifier: MIT */
/* Raw run directory reader: see rundir.h. */
#include "rundir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int ctr_meta_line(char *line, char **key, char **val)
{
	char *eq = strchr(line, '='), *r, *w;

	if (!eq || eq == line)
		return -1;
	*eq = 0;
	*key = line;
	*val = eq + 1;
	for (r = w = eq + 1; *r; r++) {
		if (*r == '\\' && r[1]) {
			r++;
			*w++ = *r == 'n' ? '\n' : *r;
		} else {
			*w++ = *r;
		}
	}
	*w = 0;
	return 0;
}

/* Opens @name in the run directory @dfd for reading without following a symlink or blocking
 * on a FIFO, and checks it is a regular file owned by @owner of at most @cap bytes (@cap 0: no
 * cap); @shown names it in messages. CTR_ENOTFOUND if it does not exist, CTR_EFORMAT if it is
 * not such a file. */
static int open_run_file(int dfd, const char *name, const char *shown, uid_t owner, uint64_t cap,
			 int *fdp, struct stat *st, struct ctr_err *e)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	int ret = 0;

	*fdp = -1;
	if (fd < 0) {
		int err = errno;

		if (err == ENOENT)
			return ctr_err_set(e, CTR_ENOTFOUND, err, "cannot read '%s': %s", shown,
					   strerror(err));
		if (err == ELOOP)
			return ctr_err_set(e, CTR_EFORMAT, err,
					   "'%s' is a symlink, not a regular file: refusing",
					   shown);
		return ctr_err_set(e, CTR_EIO, err, "cannot read '%s': %s", shown, strerror(err));
	}
	if (fstat(fd, st) != 0)
		ret =
		    ctr_err_set(e, CTR_EIO, errno, "cannot read '%s': %s", shown, strerror(errno));
	else if (!S_ISREG(st->st_mode))
		ret = ctr_err_set(e, CTR_EFORMAT, 0, "'%s' is not a regular file: refusing", shown);
	else if (st->st_uid != owner)
		ret = ctr_err_set(e, CTR_EFORMAT, 0,
				  "'%s' is owned by uid %u, not by the run's owner (uid %u): "
				  "refusing",
				  shown, (unsigned)st->st_uid, (unsigned)owner);
	else if (cap && (uint64_t)st->st_size > cap)
		ret = ctr_err_set(e, CTR_EFORMAT, 0,
				  "'%s' has %llu bytes, more than the %llu a file of its kind may "
				  "have: refusing",
				  shown, (unsigned long long)st->st_size, (unsigned long long)cap);
	if (ret) {
		close(fd);
		return ret;
	}
	/* back to blocking reads: a regular file never blocks */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	*fdp = fd;
	return 0;
}

int ctr_rundir_open_file(int dfd, const char *name, const char *shown, uid_t owner, uint64_t cap,
			 int *fd, struct stat *st, struct ctr_err *e)
{
	return open_run_file(dfd, name, shown, owner, cap, fd, st, e);
}

int ctr_rundir_slurp(int dfd, const char *dir, const char *name, uid_t owner, size_t cap,
		     char **out, struct ctr_err *e)
{
	char shown[4096];
	struct stat st;
	char *buf = NULL;
	size_t n = 0, bcap;
	int fd, ret;

	*out = NULL;
	snprintf(shown, sizeof(shown), "%s/%s", dir, name);
	if ((ret = open_run_file(dfd, name, shown, owner, cap, &fd, &st, e)))
		return ret;
	bcap = (size_t)st.st_size < cap ? (size_t)st.st_size + 1 : cap + 1;
	if (!(buf = malloc(bcap + 1))) {
		ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading '%s'", shown);
		goto out;
	}
	for (;;) {
		ssize_t r;

		if (n == bcap) {
			char *nb;

			if (bcap > cap) /* grew past its cap while we read it */
				break;
			bcap = bcap * 2 < cap + 1 ? bcap * 2 : cap + 1;
			if (!(nb = realloc(buf, bcap + 1))) {
				ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading '%s'",
						  shown);
				goto out;
			}
			buf = nb;
		}
		r = read(fd, buf + n, bcap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = ctr_err_set(e, CTR_EIO, errno, "cannot read '%s': %s", shown,
					  strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > cap) {
		ret = ctr_err_set(e, CTR_EFORMAT, 0, "'%s' is larger than %zu bytes: refusing",
				  shown, cap);
		goto out;
	}
	buf[n] = 0;
	*out = buf;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return ret;
}

static int add_kv(struct ctr_kv **kv, size_t *n, const char *k, const char *v)
{
	struct ctr_kv *nk = realloc(*kv, (*n + 1) * sizeof(**kv));

	if (!nk)
		return -1;
	*kv = nk;
	nk[*n].key = strdup(k);
	nk[*n].value = strdup(v);
	if (!nk[*n].key || !nk[*n].value)
		return -1;
	(*n)++;
	return 0;
}

/* "k=v,k2=v2" from CTRACE_META / the meta= line. */
static int add_meta_list(struct ctr_rawrun *r, const char *list)
{
	char *copy = strdup(list), *save = NULL, *tok;
	int ret = 0;

	if (!copy)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq || !ctr_meta_key_valid(tok, (size_t)(eq - tok)))
			continue; /* no key ctrace record lets through (it refuses them) */
		*eq = 0;
		if (add_kv(&r->meta, &r->n_meta, tok, eq + 1))
			ret = -1;
	}
	free(copy);
	return ret;
}

static void xstrdup_set(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
}

int ctr_run_id_valid(const char *id, size_t len)
{
	if (!len || len >= CTR_RUN_ID_MAX || id[0] == '.' || id[0] == '-')
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
		      (id[i] >= '0' && id[i] <= '9') || id[i] == '-' || id[i] == '_' ||
		      id[i] == '.'))
			return 0;
	return 1;
}

static int read_run_meta(struct ctr_rawrun *r, struct ctr_err *e)
{
	char path[4096], *buf, *line, *save = NULL;
	int ret;

	snprintf(path, sizeof(path), "%s/run.meta", r->dir);
	if ((ret =
		 ctr_rundir_slurp(r->dfd, r->dir, "run.meta", r->uid, CTR_RUN_META_CAP, &buf, e))) {
		if (ret == CTR_ENOTFOUND) { /* a directory without run.meta is no run directory */
			ctr_err_clear(e);
			ret =
			    ctr_err_set(e, CTR_EFORMAT, ENOENT,
					"'%s' is not a run directory: it has no run.meta", r->dir);
		}
		ctr_err_ctx(e, path, NULL, -1);
		return ret;
	}
	if (strncmp(buf, "ctrace-run ", 11) != 0) {
		free(buf);
		ctr_err_ctx(e, path, NULL, 0);
		return ctr_err_set(e, CTR_EFORMAT, 0, "'%s' is not a ctrace run file", path);
	}
	if (atoi(buf + 11) != 1) {
		int v = atoi(buf + 11);

		free(buf);
		ctr_err_ctx(e, path, NULL, 0);
		return ctr_err_set(e, CTR_EVERSION, 0,
				   "'%s' has run format version %d; this ctrace reads version 1",
				   path, v);
	}
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *k, *v;

		if (ctr_meta_line(line, &k, &v))
			continue;
		if (!strcmp(k, "id")) {
			/* checked before anything: a cut id could name another run */
			if (!ctr_run_id_valid(v, strlen(v))) {
				free(buf);
				ctr_err_ctx(e, path, NULL, -1);
				return ctr_err_set(e, CTR_EFORMAT, 0,
						   "'%s' has an invalid run id (1 to %d bytes of "
						   "A-Z a-z 0-9 . _ -, not starting with . or -)",
						   path, CTR_RUN_ID_MAX - 1);
			}
			snprintf(r->id, sizeof(r->id), "%s", v);
		} else if (!strcmp(k, "root_pid"))
			r->root_pid = atoi(v);
		else if (!strcmp(k, "command"))
			xstrdup_set(&r->command, v);
		else if (!strcmp(k, "host"))
			xstrdup_set(&r->host, v);
		else if (!strcmp(k, "cwd"))
			xstrdup_set(&r->cwd, v);
		else if (!strcmp(k, "start_real_ns"))
			r->start_real_ns = strtoll(v, NULL, 10);
		else if (!strcmp(k, "end_real_ns"))
			r->end_real_ns = strtoll(v, NULL, 10);
		else if (!strcmp(k, "exit_status"))
			r->exit_status = atoi(v);
		else if (!strcmp(k, "signal"))
			r->signal = atoi(v);
		else if (!strcmp(k, "meta"))
			add_meta_list(r, v);
		else if (!strncmp(k, "meta.", 5))
			add_kv(&r->meta, &r->n_meta, k + 5, v);
		else if (!strncmp(k, "option.", 7))
			add_kv(&r->meta, &r->n_meta, k, v);
		else if (!strncmp(k, "drain_", 6) || !strcmp(k, "buffer_bytes") ||
			 !strncmp(k, "snapshot", 8) || !strncmp(k, "sched_", 6))
			add_kv(&r->meta, &r->n_meta, k, v); /* the recorder's own cost */
	}
	free(buf);
	if (!r->id[0] || !r->command)
		return ctr_err_set(e, CTR_EFORMAT, 0, "'%s' lacks the run id or command", path);
	return 0;
}

static struct ctr_rawproc *find_proc(struct ctr_rawrun *r, int32_t pid, uint32_t gen)
{
	for (size_t i = 0; i < r->n_procs; i++)
		if (r->procs[i].pid == pid && r->procs[i].gen == gen)
			return &r->procs[i];
	return NULL;
}

/* The key=value lines of a process file (in @buf, modified) into @p; option_error lines go into
 * the run's metadata, once each. */
static void proc_keys(struct ctr_rawrun *r, struct ctr_rawproc *p, char *buf)
{
	char *line, *save = NULL;

	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *k, *v;

		if (ctr_meta_line(line, &k, &v))
			continue;
		if (!strcmp(k, "pid"))
			p->pid = atoi(v);
		else if (!strcmp(k, "ppid"))
			p->ppid = atoi(v);
		else if (!strcmp(k, "gen"))
			p->gen = (uint32_t)atoi(v);
		else if (!strcmp(k, "exe"))
			xstrdup_set(&p->exe, v);
		else if (!strcmp(k, "command"))
			xstrdup_set(&p->command, v);
		else if (!strcmp(k, "clock"))
			xstrdup_set(&p->clock, v);
		else if (!strcmp(k, "ticks_per_sec"))
			p->ticks_per_sec = strtoull(v, NULL, 10);
		else if (!strcmp(k, "start_ticks"))
			p->start_ticks = strtoull(v, NULL, 10);
		else if (!strcmp(k, "end_ticks"))
			p->end_ticks = strtoull(v, NULL, 10);
		else if (!strcmp(k, "start_real_ns"))
			p->start_real_ns = strtoll(v, NULL, 10);
		else if (!strcmp(k, "start_mono_ns"))
			p->start_mono_ns = strtoll(v, NULL, 10);
		else if (!strcmp(k, "end_mono_ns"))
			p->end_mono_ns = strtoll(v, NULL, 10);
		else if (!strcmp(k, "end_real_ns"))
			p->end_real_ns = strtoll(v, NULL, 10);
		else if (!strcmp(k, "exit_status"))
			p->exit_status = atoi(v);
		else if (!strcmp(k, "signal"))
			p->signal = atoi(v);
		else if (!strcmp(k, "crashed"))
			p->crashed = atoi(v);
		else if (!strcmp(k, "lost"))
			p->lost = strtoull(v, NULL, 10);
		else if (!strcmp(k, "option_error")) { /* a value the preload rejected: shown */
			size_t i = 0;

			while (i < r->n_meta &&
			       (strcmp(r->meta[i].key, k) || strcmp(r->meta[i].value, v)))
				i++;
			if (i == r->n_meta) /* once, however many processes inherited it */
				add_kv(&r->meta, &r->n_meta, k, v);
		} else if (!strcmp(k, "overhead_inner_ns"))
			p->overhead_inner_ns = strtod(v, NULL);
		else if (!strcmp(k, "overhead_call_ns"))
			p->overhead_call_ns = strtod(v, NULL);
		else if (!strcmp(k, "overhead_excluded_ns"))
			p->overhead_hidden_ns[CTR_HIDDEN_EXCLUDED] = strtod(v, NULL);
		else if (!strcmp(k, "overhead_deep_ns"))
			p->overhead_hidden_ns[CTR_HIDDEN_DEEP] = strtod(v, NULL);
		else if (!strcmp(k, "overhead_slow_ns"))
			p->overhead_slow_ns = strtod(v, NULL);
		else if (!strcmp(k, "overhead_dropped_ns"))
			p->overhead_dropped_ns = strtod(v, NULL);
	}
}

long ctr_rawproc_module_at(const struct ctr_rawproc *p, uint64_t addr, uint64_t ticks)
{
	long live = -1, after = -1, last = -1;

	for (size_t j = p->n_mods; j-- > 0;) {
		const struct ctr_rawmod *m = &p->mods[j];

		if (addr < m->start || addr >= m->end)
			continue;
		if (last < 0)
			last = (long)j;
		if (m->load_ticks <= ticks && ticks < m->unload_ticks) {
			live = (long)j;
			break;
		}
		if (m->load_ticks > ticks &&
		    (after < 0 || m->load_ticks <= p->mods[after].load_ticks))
			after = (long)j;
	}
	return live >= 0 ? live : after >= 0 ? after : last;
}

uint64_t ctr_rawproc_next_change(const struct ctr_rawproc *p, uint64_t ticks)
{
	uint64_t next = UINT64_MAX;

	for (size_t j = 0; j < p->n_mods; j++) {
		const struct ctr_rawmod *m = &p->mods[j];

		if (m->load_ticks > ticks && m->load_ticks < next)
			next = m->load_ticks;
		if (m->unload_ticks > ticks && m->unload_ticks < next)
			next = m->unload_ticks;
	}
	return next;
}

/* A U line: the latest module loaded at @bias and not unloaded yet was unloaded at @t. */
static void unload_module(struct ctr_rawproc *p, uint64_t bias, uint64_t t)
{
	for (size_t j = p->n_mods; j-- > 0;) {
		if (p->mods[j].bias == bias && p->mods[j].unload_ticks == UINT64_MAX) {
			p->mods[j].unload_ticks =
			    t > p->mods[j].load_ticks ? t : p->mods[j].load_ticks + 1;
			return;
		}
	}
}

static int libcall_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct ctr_rawlibcall *)a)->addr,
		 y = ((const struct ctr_rawlibcall *)b)->addr;

	return x < y ? -1 : x > y;
}

/* "S ADDR SYM@LIB": a library-call trampoline (--libcalls); a later line for an address
 * already named replaces nothing (the first name stands). */
static int read_libcall(struct ctr_rawproc *p, const char *line, struct ctr_err *e)
{
	unsigned long long a;
	struct ctr_rawlibcall *nl;
	int off = 0;

	if (sscanf(line, "S %llx %n", &a, &off) != 1 || !off || !line[off] ||
	    strlen(line + off) > 255)
		return 0; /* not one: ignored like any unknown line */
	if (!(nl = realloc(p->libcalls, (p->n_libcalls + 1) * sizeof(*nl))))
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory");
	p->libcalls = nl;
	nl[p->n_libcalls].addr = a;
	if (!(nl[p->n_libcalls].name = strdup(line + off)))
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory");
	p->n_libcalls++;
	return 0;
}

/* The module map p-PID-GEN.maps of @p: "L BIAS START END BUILD-ID PATH" lines, "U BIAS"
 * lines, "T TICKS" lines timing the L and U lines after them, and the "S ADDR NAME" lines of
 * its library-call trampolines (docs/format.md). */
static int read_maps(struct ctr_rawrun *r, struct ctr_rawproc *p, struct ctr_err *e)
{
	char path[4096], fname[64], *buf, *line, *save = NULL;
	uint64_t now = 0; /* the last T line's time: 0 before the first, at the start */
	int ret;

	snprintf(fname, sizeof(fname), "p-%d-%u.maps", (int)p->pid, p->gen);
	snprintf(path, sizeof(path), "%s/%s", r->dir, fname);
	if ((ret = ctr_rundir_slurp(r->dfd, r->dir, fname, r->uid, CTR_RUN_MAPS_CAP, &buf, e))) {
		if (ret == CTR_ENOTFOUND)
			ctr_err_clear(e);
		ctr_err_ctx(e, path, r->id, -1);
		if (ret == CTR_ENOTFOUND)
			return ctr_err_set(e, CTR_EFORMAT, ENOENT, "missing module map '%s': %s",
					   path, strerror(ENOENT));
		return ret;
	}
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long bias, lo, hi, t;
		char bid[256];
		int off = 0;

		if (line[0] == 'T' && sscanf(line, "T %llx", &t) == 1)
			now = t;
		else if (line[0] == 'U' && sscanf(line, "U %llx", &bias) == 1)
			unload_module(p, bias, now);
		else if (line[0] == 'L' &&
			 sscanf(line, "L %llx %llx %llx %255s %n", &bias, &lo, &hi, bid, &off) ==
			     4 &&
			 off) {
			struct ctr_rawmod *nm;

			if (lo >= hi) {
				free(buf);
				ctr_err_ctx(e, path, r->id, -1);
				return ctr_err_set(e, CTR_EFORMAT, 0,
						   "module map '%s' has an empty or reversed range "
						   "0x%llx-0x%llx",
						   path, lo, hi);
			}
			if (!(nm = realloc(p->mods, (p->n_mods + 1) * sizeof(*nm)))) {
				free(buf);
				return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory");
			}
			p->mods = nm;
			nm[p->n_mods].bias = bias;
			nm[p->n_mods].start = lo;
			nm[p->n_mods].end = hi;
			nm[p->n_mods].build_id = strdup(strcmp(bid, "-") ? bid : "");
			nm[p->n_mods].path = strdup(line + off);
			nm[p->n_mods].load_ticks = now;
			nm[p->n_mods].unload_ticks = UINT64_MAX;
			p->n_mods++;
		} else if (line[0] == 'S' && (ret = read_libcall(p, line, e))) {
			free(buf);
			return ret;
		}
	}
	free(buf);
	if (p->n_libcalls > 1)
		qsort(p->libcalls, p->n_libcalls, sizeof(*p->libcalls), libcall_cmp);
	return 0;
}

const char *ctr_rawproc_libcall(const struct ctr_rawproc *p, uint64_t addr)
{
	size_t lo = 0, hi = p->n_libcalls;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->libcalls[mid].addr == addr)
			return p->libcalls[mid].name;
		if (p->libcalls[mid].addr < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int read_proc(struct ctr_rawrun *r, const char *name, struct ctr_err *e)
{
	char path[4096], fname[64], *buf;
	struct ctr_rawproc *p, *np;
	int ret;

	np = realloc(r->procs, (r->n_procs + 1) * sizeof(*np));
	if (!np)
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory");
	r->procs = np;
	p = &r->procs[r->n_procs++]; /* counted now: ctr_rawrun_free() frees it on any failure */
	memset(p, 0, sizeof(*p));
	p->exit_status = -1;
	snprintf(path, sizeof(path), "%s/%s", r->dir, name);
	if ((ret = ctr_rundir_slurp(r->dfd, r->dir, name, r->uid, CTR_RUN_META_CAP, &buf, e))) {
		ctr_err_ctx(e, path, r->id, -1);
		if (ret == CTR_ENOTFOUND) { /* listed a moment ago */
			ctr_err_clear(e);
			ctr_err_ctx(e, path, r->id, -1);
			ret = ctr_err_set(e, CTR_EIO, ENOENT, "cannot read '%s': %s", path,
					  strerror(ENOENT));
		}
		return ret;
	}
	if (strncmp(buf, "ctrace-proc 1\n", 14) != 0) {
		int newer = strncmp(buf, "ctrace-proc ", 12) == 0 && atoi(buf + 12) > 1;

		free(buf);
		ctr_err_ctx(e, path, r->id, 0);
		if (newer)
			return ctr_err_set(
			    e, CTR_EVERSION, 0,
			    "'%s' has a newer process file version; this ctrace reads "
			    "version 1",
			    path);
		return ctr_err_set(e, CTR_EFORMAT, 0, "'%s' is not a ctrace process file", path);
	}
	proc_keys(r, p, buf);
	free(buf);
	if (!p->ticks_per_sec || !p->clock) {
		ctr_err_ctx(e, path, r->id, -1);
		return ctr_err_set(e, CTR_EFORMAT, 0, "'%s' lacks the clock description", path);
	}

	if ((ret = read_maps(r, p, e)))
		return ret;
	snprintf(fname, sizeof(fname), "p-%d-%u.crash", (int)p->pid, p->gen);
	ret = ctr_rundir_slurp(r->dfd, r->dir, fname, r->uid, CTR_RUN_CRASH_CAP, &p->backtrace, e);
	if (ret == CTR_ENOTFOUND) { /* no crash */
		ctr_err_clear(e);
		return 0;
	}
	if (ret) {
		snprintf(path, sizeof(path), "%s/%s", r->dir, fname);
		ctr_err_ctx(e, path, r->id, -1);
	}
	return ret;
}

/* @dir without its trailing slashes, so that O_NOFOLLOW applies to its last component. */
static void strip_slashes(const char *dir, char *out, size_t n)
{
	size_t len = strlen(dir);

	while (len > 1 && dir[len - 1] == '/')
		len--;
	snprintf(out, n, "%.*s", (int)len, dir);
}

int ctr_rundir_open(const char *dir, int *dfd, struct stat *st, struct ctr_err *e)
{
	char path[PATH_MAX];
	int fd;

	*dfd = -1;
	strip_slashes(dir, path, sizeof(path));
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;

		ctr_err_ctx(e, dir, NULL, -1);
		if (err == ELOOP || err == ENOTDIR)
			return ctr_err_set(e, CTR_EIO, err,
					   "run directory '%s' is a symlink or not a directory: "
					   "refusing",
					   dir);
		return ctr_err_set(e, err == ENOENT ? CTR_ENOTFOUND : CTR_EIO, err,
				   "cannot open run directory '%s': %s", dir, strerror(err));
	}
	if (fstat(fd, st) != 0) {
		int err = errno;

		close(fd);
		return ctr_err_set(e, CTR_EIO, err, "cannot open run directory '%s': %s", dir,
				   strerror(err));
	}
	*dfd = fd;
	return 0;
}

int ctr_rundir_check_parent(const char *parent, struct ctr_err *e)
{
	struct stat st;
	uid_t me = geteuid();

	if (lstat(parent, &st) != 0 || !S_ISDIR(st.st_mode)) {
		ctr_err_ctx(e, parent, NULL, -1);
		return ctr_err_set(e, CTR_EIO, ELOOP,
				   "trace directory '%s' is a symlink or not a directory: refusing",
				   parent);
	}
	if (st.st_uid != me && st.st_uid != 0) {
		ctr_err_ctx(e, parent, NULL, -1);
		return ctr_err_set(e, CTR_EIO, EPERM,
				   "trace directory '%s' is owned by uid %u, not by you or root: "
				   "refusing",
				   parent, (unsigned)st.st_uid);
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
		ctr_err_ctx(e, parent, NULL, -1);
		return ctr_err_set(e, CTR_EIO, EPERM,
				   "trace directory '%s' can be written by others (mode %03o, not "
				   "sticky): refusing",
				   parent, (unsigned)(st.st_mode & 0777));
	}
	return 0;
}

static struct ctr_rawrun *rawrun_new(int dfd, const char *dir, uid_t owner)
{
	struct ctr_rawrun *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->dfd = -1;
	r->uid = owner;
	r->exit_status = -1;
	if (!(r->dir = strdup(dir)) || (r->dfd = fcntl(dfd, F_DUPFD_CLOEXEC, 0)) < 0) {
		ctr_rawrun_free(r);
		return NULL;
	}
	return r;
}

int ctr_rawrun_id_at(int dfd, const char *dir, uid_t owner, char id[CTR_RUN_ID_MAX],
		     struct ctr_err *e)
{
	struct ctr_rawrun *r = rawrun_new(dfd, dir, owner);
	int ret;

	if (!r)
		return ctr_err_set(e, CTR_ENOMEM, errno, "out of memory reading '%s'", dir);
	ret = read_run_meta(r, e);
	if (ret == 0)
		snprintf(id, CTR_RUN_ID_MAX, "%s", r->id);
	ctr_rawrun_free(r);
	return ret;
}

int ctr_rawrun_id(const char *dir, char id[CTR_RUN_ID_MAX], struct ctr_err *e)
{
	struct stat st;
	int dfd, ret;

	if ((ret = ctr_rundir_open(dir, &dfd, &st, e)))
		return ret;
	ret = ctr_rawrun_id_at(dfd, dir, st.st_uid, id, e);
	close(dfd);
	return ret;
}

static int cmp_thread(const void *a, const void *b)
{
	const struct ctr_rawthread *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->gen != y->gen)
		return x->gen < y->gen ? -1 : 1;
	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

int ctr_rawrun_open_at(int dfd, const char *dir, uid_t owner, struct ctr_rawrun **out,
		       struct ctr_err *e)
{
	struct ctr_rawrun *r = rawrun_new(dfd, dir, owner);
	struct dirent *de;
	DIR *d = NULL;
	int ret = CTR_ENOMEM, lfd;

	*out = NULL;
	if (!r)
		goto fail;
	ret = read_run_meta(r, e);
	if (ret)
		goto fail;
	lfd = openat(r->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* own read position */
	if (lfd < 0 || !(d = fdopendir(lfd))) {
		if (lfd >= 0)
			close(lfd);
		ret = ctr_err_set(e, CTR_EIO, errno, "cannot open '%s': %s", dir, strerror(errno));
		goto fail;
	}
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (!strncmp(de->d_name, "p-", 2) && n > 5 &&
		    !strcmp(de->d_name + n - 5, ".meta")) {
			ret = read_proc(r, de->d_name, e);
			if (ret)
				goto fail;
		}
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		int pid, tid, end = 0;
		unsigned gen;
		struct ctr_rawthread *nt;
		struct ctr_rawproc *p;
		char path[4096];
		struct stat st;

		if (sscanf(de->d_name, "t-%d-%u-%d.ev%n", &pid, &gen, &tid, &end) != 3 || !end ||
		    de->d_name[end])
			continue;
		p = find_proc(r, pid, gen);
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (!p) {
			ctr_err_ctx(e, path, r->id, -1);
			ret = ctr_err_set(e, CTR_EFORMAT, 0,
					  "event file '%s' has no process file p-%d-%u.meta", path,
					  pid, gen);
			goto fail;
		}
		if (fstatat(r->dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (st.st_uid != r->uid) {
			ctr_err_ctx(e, path, r->id, -1);
			ret =
			    ctr_err_set(e, CTR_EFORMAT, 0,
					"'%s' is owned by uid %u, not by the run's owner (uid %u): "
					"refusing",
					path, (unsigned)st.st_uid, (unsigned)r->uid);
			goto fail;
		}
		nt = realloc(r->threads, (r->n_threads + 1) * sizeof(*nt));
		if (!nt) {
			ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory");
			goto fail;
		}
		r->threads = nt;
		memset(&nt[r->n_threads], 0, sizeof(*nt));
		nt[r->n_threads].pid = pid;
		nt[r->n_threads].gen = gen;
		nt[r->n_threads].tid = tid;
		nt[r->n_threads].proc = (size_t)(p - r->procs);
		nt[r->n_threads].dfd = r->dfd;
		nt[r->n_threads].uid = r->uid;
		nt[r->n_threads].file_size = (uint64_t)st.st_size;
		r->n_threads++;
		if (!(nt[r->n_threads - 1].path = strdup(path)) ||
		    !(nt[r->n_threads - 1].name = strdup(de->d_name))) {
			ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory");
			goto fail;
		}
	}
	if (r->n_threads)
		qsort(r->threads, r->n_threads, sizeof(*r->threads), cmp_thread);
	closedir(d);
	*out = r;
	return 0;
fail:
	if (d)
		closedir(d);
	if (ret == CTR_ENOMEM)
		ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading '%s'", dir);
	ctr_rawrun_free(r);
	return ret;
}

int ctr_rawrun_open(const char *dir, struct ctr_rawrun **out, struct ctr_err *e)
{
	struct stat st;
	int dfd, ret;

	*out = NULL;
	if ((ret = ctr_rundir_open(dir, &dfd, &st, e)))
		return ret;
	ret = ctr_rawrun_open_at(dfd, dir, st.st_uid, out, e);
	close(dfd);
	return ret;
}

void ctr_rawrun_free(struct ctr_rawrun *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_procs; i++) {
		struct ctr_rawproc *p = &r->procs[i];

		free(p->exe);
		free(p->command);
		free(p->clock);
		free(p->backtrace);
		for (size_t j = 0; j < p->n_mods; j++) {
			free(p->mods[j].build_id);
			free(p->mods[j].path);
		}
		free(p->mods);
		for (size_t j = 0; j < p->n_libcalls; j++)
			free(p->libcalls[j].name);
		free(p->libcalls);
	}
	for (size_t i = 0; i < r->n_threads; i++) {
		free(r->threads[i].path);
		free(r->threads[i].name);
	}
	if (r->dfd >= 0)
		close(r->dfd);
	for (size_t i = 0; i < r->n_meta; i++) {
		free(r->meta[i].key);
		free(r->meta[i].value);
	}
	free(r->meta);
	free(r->procs);
	free(r->threads);
	free(r->dir);
	free(r->command);
	free(r->host);
	free(r->cwd);
	free(r);
}

int ctr_rawthread_map(const struct ctr_rawthread *t, struct ctr_ev_hdr *hdr, const void **words,
		      size_t *size, void **map, size_t *map_size, struct ctr_err *e)
{
	struct stat st;
	void *m;
	size_t end;
	int fd, ret;

	*map = NULL;
	*map_size = 0;
	ret = open_run_file(t->dfd, t->name, t->path, t->uid, 0, &fd, &st, e);
	if (ret) {
		if (ret == CTR_ENOTFOUND) { /* listed when the run was opened */
			ctr_err_clear(e);
			ret = ctr_err_set(e, CTR_EIO, ENOENT, "cannot open '%s': %s", t->path,
					  strerror(ENOENT));
		}
		ctr_err_ctx(e, t->path, NULL, -1);
		return ret;
	}
	if (st.st_size < CTR_EV_HDR_SIZE) {
		close(fd);
		ctr_err_ctx(e, t->path, NULL, 0);
		return ctr_err_set(e, CTR_EFORMAT, 0, "'%s' is too short for an event file header",
				   t->path);
	}
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return ctr_err_set(e, CTR_EIO, errno, "cannot map '%s': %s", t->path,
				   strerror(errno));
	memcpy(hdr, m, sizeof(*hdr));
	if (memcmp(hdr->magic, CTR_EV_MAGIC, 8) != 0) {
		munmap(m, (size_t)st.st_size);
		ctr_err_ctx(e, t->path, NULL, 0);
		return ctr_err_set(e, CTR_EFORMAT, 0, "'%s' is not a ctrace event file (bad magic)",
				   t->path);
	}
	if (hdr->version < 1 || hdr->version > CTR_EV_VERSION) {
		munmap(m, (size_t)st.st_size);
		ctr_err_ctx(e, t->path, NULL, 8);
		return ctr_err_set(
		    e, CTR_EVERSION, 0,
		    "'%s' has event format version %u; this ctrace reads versions 1 to %d", t->path,
		    hdr->version, CTR_EV_VERSION);
	}
	if (hdr->hdr_size < CTR_EV_HDR_SIZE || hdr->hdr_size % 4 || hdr->hdr_size > st.st_size) {
		munmap(m, (size_t)st.st_size);
		ctr_err_ctx(e, t->path, NULL, 10);
		return ctr_err_set(e, CTR_EFORMAT, 0, "'%s' has a bad header size %u", t->path,
				   hdr->hdr_size);
	}
	end = (size_t)st.st_size;
	if ((hdr->flags & CTR_EV_FLAG_CLOSED) && hdr->end_offset > end) {
		/* a cleanly closed file lost its tail after the fact (copy, disk): not a crash */
		munmap(m, (size_t)st.st_size);
		ctr_err_ctx(e, t->path, NULL, (long long)st.st_size);
		return ctr_err_set(e, CTR_EFORMAT, 0,
				   "'%s' is truncated: %llu bytes, but its events end at byte %llu",
				   t->path, (unsigned long long)st.st_size,
				   (unsigned long long)hdr->end_offset);
	}
	if ((hdr->flags & CTR_EV_FLAG_CLOSED) && hdr->end_offset >= hdr->hdr_size)
		end = (size_t)hdr->end_offset;
	if (end < hdr->hdr_size)
		end = hdr->hdr_size;
	*map = m;
	*map_size = (size_t)st.st_size;
	*words = (const char *)m + hdr->hdr_size;
	*size = end - hdr->hdr_size;
	return 0;
}

void ctr_rawthread_unmap(void *map, size_t map_size)
{
	if (map)
		munmap(map, map_size);
}

/* When process @pid started, in ns of CLOCK_REALTIME (/proc/PID/stat's start time after boot,
 * plus the boot time of /proc/stat), and whether it is a zombie. 0, or -1 if it is gone. */
static int proc_start_ns(int32_t pid, int64_t *start, int *zombie)
{
	char path[64], buf[1024], *p, state;
	unsigned long long ticks = 0, btime = 0;
	FILE *f;
	int ok = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "re")))
		return -1;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
	    sscanf(p + 1,
		   " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d "
		   "%*d %llu",
		   &state, &ticks) == 2)
		ok = 1;
	fclose(f);
	if (!ok || !(f = fopen("/proc/stat", "re")))
		return -1;
	while (fgets(buf, sizeof(buf), f))
		if (sscanf(buf, "btime %llu", &btime) == 1)
			break;
	fclose(f);
	*zombie = state == 'Z' || state == 'X';
	*start = (int64_t)btime * 1000000000LL +
		 (int64_t)(ticks * (1000000000ULL / (unsigned long long)sysconf(_SC_CLK_TCK)));
	return 0;
}

int ctr_rawproc_running(const struct ctr_rawrun *r, size_t i)
{
	const struct ctr_rawproc *p = &r->procs[i];
	int64_t start;
	int zombie;

	if (p->end_real_ns > 0 || p->exit_status >= 0 || p->signal > 0 ||
	    find_proc((struct ctr_rawrun *)r, p->pid, p->gen + 1))
		return 0;
	if ((kill(p->pid, 0) != 0 && errno == ESRCH) ||
	    proc_start_ns(p->pid, &start, &zombie) != 0 || zombie)
		return 0;
	/* btime has a one-second grain: a pid reused within two seconds of the writer's start
	 * is taken for it, and the run is refused rather than cut */
	return !p->start_real_ns || p->start_real_ns > INT64_MAX - 2000000000LL ||
	       start <= p->start_real_ns + 2000000000LL; /* (a hostile start time: no overflow) */
}
