/* SPDX-License-Identifier: MIT */
/*
 * JSONL store backend ("jsonl:PATH"): an append-only text file, one run per line as a JSON
 * object (format in docs/store.md), for exchange between machines and for grep/jq. A save
 * buffers the run and appends its line with one write() under flock(LOCK_EX), so concurrent
 * writers never interleave; readers take LOCK_SH. remove rewrites the file into a temporary
 * file and renames it over the original. Every line read is validated: a malformed or truncated
 * line is CTR_EFORMAT with its line number, never a crash (the parser is fuzzed).
 */
#include "store-int.h"

#include "runjson.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Where in the file a line is: for error messages. */
struct jparse {
	const char *path;
	size_t line;
	long long offset;
};

struct jl_store {
	char *path;
	char save_id[CTR_RUN_ID_MAX];
	int saving;
	struct ctr_chunk *chunks; /* chunks of the save in progress (deep copies) */
	size_t n_chunks, cap_chunks;
};

/* ---- file scanning ---- */

/*
 * The id of a line without parsing it all: lines written by ctrace start with {"run_id":"..."
 * ({"id":"..." in the previous form).
 * Returns 1 with @id filled, 0 when the line must be parsed to know.
 */
static int fast_id(const char *line, size_t len, char id[CTR_RUN_ID_MAX])
{
	static const char pre2[] = "{\"run_id\":\"", pre1[] = "{\"id\":\"";
	size_t pl;

	if (len >= sizeof(pre2) - 1 && !memcmp(line, pre2, sizeof(pre2) - 1))
		pl = sizeof(pre2) - 1;
	else if (len >= sizeof(pre1) - 1 && !memcmp(line, pre1, sizeof(pre1) - 1))
		pl = sizeof(pre1) - 1;
	else
		return 0;
	for (size_t i = pl; i < len && i - pl < CTR_RUN_ID_MAX; i++) {
		if (line[i] == '\\' || (unsigned char)line[i] < 0x20)
			return 0;
		if (line[i] == '"') {
			if (i == pl)
				return 0;
			memcpy(id, line + pl, i - pl);
			id[i - pl] = '\0';
			return 1;
		}
	}
	return 0;
}

static int is_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return 0;
	return 1;
}

static int line_error(struct jparse *p, struct ctr_err *e, const char *what)
{
	ctr_err_ctx(e, p->path, NULL, p->offset);
	return ctr_err_set(e, CTR_EFORMAT, 0, "malformed run at line %zu of '%s': %s", p->line,
			   p->path, what);
}

/*
 * Parses one line into a new run (chunks only with @chunks). Returns 0, CTR_EFORMAT,
 * CTR_EVERSION or CTR_ENOMEM.
 */
static int parse_line(struct jparse *p, const char *line, size_t len, int chunks,
		      struct ctr_run **out, struct ctr_err *e)
{
	json_error_t jerr;
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	struct ctr_run *r = NULL;
	char why[300];
	int ret = 0;

	*out = NULL;
	if (!o) {
		snprintf(why, sizeof(why), "%s", jerr.text);
		return line_error(p, e, why);
	}
	if (!(r = calloc(1, sizeof(*r)))) {
		ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading '%s'", p->path);
		goto out;
	}
	ret = ctr_runjson_parse(o, chunks, r, why, sizeof(why));
	if (ret == CTR_ENOMEM) {
		ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading '%s'", p->path);
	} else if (ret == CTR_EVERSION) {
		ctr_err_ctx(e, p->path, NULL, p->offset);
		ret = ctr_err_set(e, CTR_EVERSION, 0,
				  "run at line %zu of '%s' has %s: upgrade ctrace", p->line,
				  p->path, why);
	} else if (ret < 0) {
		ret = line_error(p, e, why);
	}
out:
	json_decref(o);
	if (ret < 0)
		ctr_run_free(r);
	else
		*out = r;
	return ret;
}

/* Called for each non-blank line: return 0 to go on, 1 to stop, negative on error. */
typedef int (*line_fn)(void *arg, struct jparse *p, const char *line, size_t len,
		       struct ctr_err *e);

/* Calls @fn for each non-blank line of @f, from its current position. */
static int scan_stream(struct jl_store *j, FILE *f, line_fn fn, void *arg, struct ctr_err *e)
{
	struct jparse p = {.path = j->path};
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long long off = 0;
	int ret = 0;

	while ((len = getline(&line, &cap, f)) > 0) {
		p.line++;
		p.offset = off;
		off += len;
		if (is_blank(line, (size_t)len))
			continue;
		if ((ret = fn(arg, &p, line, (size_t)len, e)) != 0)
			break;
	}
	if (ret == 0 && ferror(f))
		ret = ctr_err_set(e, CTR_EIO, errno, "cannot read store '%s': %s", j->path,
				  strerror(errno));
	free(line);
	return ret < 0 ? ret : 0;
}

/* Reads the store file under a shared lock. A missing file is an empty store. */
static int scan(struct jl_store *j, line_fn fn, void *arg, struct ctr_err *e)
{
	int fd = open(j->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	struct stat st;
	int ret;

	if (f && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
		fclose(f);
		ctr_err_ctx(e, j->path, NULL, -1);
		return ctr_err_set(e, CTR_ESTORE, 0, "cannot open store '%s': not a regular file",
				   j->path);
	}
	if (!f) {
		if (fd >= 0)
			close(fd);
		if (errno == ENOENT)
			return 0;
		ctr_err_ctx(e, j->path, NULL, -1);
		return ctr_err_set(e, CTR_EIO, errno, "cannot open store '%s': %s", j->path,
				   strerror(errno));
	}
	if (flock(fileno(f), LOCK_SH) < 0)
		ret = ctr_err_set(e, CTR_EIO, errno, "cannot lock store '%s': %s", j->path,
				  strerror(errno));
	else
		ret = scan_stream(j, f, fn, arg, e);
	fclose(f); /* drops the lock */
	return ret;
}

/* Reads the store file through @fd, which holds the exclusive lock already (a second open
 * would be a second lock owner and wait for ourselves). */
static int scan_locked(struct jl_store *j, int fd, line_fn fn, void *arg, struct ctr_err *e)
{
	int d = dup(fd); /* shares the open file description, so the lock stays with fd */
	FILE *f;
	int ret;

	if (d < 0 || lseek(d, 0, SEEK_SET) < 0 || !(f = fdopen(d, "r"))) {
		ret = ctr_err_set(e, CTR_EIO, errno, "cannot read store '%s': %s", j->path,
				  strerror(errno));
		if (d >= 0)
			close(d);
		return ret;
	}
	ret = scan_stream(j, f, fn, arg, e);
	fclose(f);
	return ret;
}

/* The id of a line: fast path, else a full parse (which also validates it). */
static int line_id(struct jparse *p, const char *line, size_t len, char id[CTR_RUN_ID_MAX],
		   struct ctr_err *e)
{
	struct ctr_run *r;
	int ret;

	if (fast_id(line, len, id))
		return 0;
	if ((ret = parse_line(p, line, len, 0, &r, e)) < 0)
		return ret;
	snprintf(id, CTR_RUN_ID_MAX, "%s", r->id);
	ctr_run_free(r);
	return 0;
}

struct find_arg {
	const char *id;
	int found;
	unsigned what;	     /* for load: what to parse */
	struct ctr_run *run; /* for load: the parsed run */
};

static int find_line(void *arg, struct jparse *p, const char *line, size_t len, struct ctr_err *e)
{
	struct find_arg *a = arg;
	char id[CTR_RUN_ID_MAX];
	int ret;

	if ((ret = line_id(p, line, len, id, e)) < 0)
		return ret;
	if (strcmp(id, a->id))
		return 0;
	a->found = 1;
	if (a->what & 0x100u) /* only asked whether it exists */
		return 1;
	if ((ret = parse_line(p, line, len, !!(a->what & CTR_LOAD_TIMELINE), &a->run, e)) < 0)
		return ret;
	return 1;
}

/* ---- ops ---- */

static int jl_open(struct ctr_store *s, const char *path, struct ctr_err *e)
{
	struct jl_store *j = calloc(1, sizeof(*j));
	char *real = NULL;
	int exists, ret;

	if (!j || !(j->path = strdup(path))) {
		free(j);
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory opening store '%s'", path);
	}
	s->priv = j;
	if ((ret = ctr_store_check_path(s, path, &exists, &real, e)) < 0) {
		free(j->path);
		free(j);
		s->priv = NULL;
		return ret;
	}
	if (real) { /* a link the caller named and owns: work on (and rename over) its target */
		free(j->path);
		j->path = real;
	}
	return 0;
}

static void jl_drop_pending(struct jl_store *j)
{
	for (size_t i = 0; i < j->n_chunks; i++)
		free(j->chunks[i].data);
	free(j->chunks);
	j->chunks = NULL;
	j->n_chunks = j->cap_chunks = 0;
	j->saving = 0;
	j->save_id[0] = '\0';
}

static void jl_close(struct ctr_store *s)
{
	struct jl_store *j = s->priv;

	if (!j)
		return;
	jl_drop_pending(j);
	free(j->path);
	free(j);
	s->priv = NULL;
}

/* 1 if run @id is in the file, 0 if not; through the locked @fd when it is >= 0. */
static int exists(struct jl_store *j, int fd, const char *id, struct ctr_err *e)
{
	struct find_arg a = {.id = id, .what = 0x100u};
	int ret = fd >= 0 ? scan_locked(j, fd, find_line, &a, e) : scan(j, find_line, &a, e);

	return ret < 0 ? ret : a.found;
}

static int jl_save_begin(struct ctr_store *s, const struct ctr_run *hdr, struct ctr_err *e)
{
	struct jl_store *j = s->priv;
	int ret = exists(j, -1, hdr->id, e);

	if (ret < 0)
		return ret;
	if (ret)
		return ctr_err_set(e, CTR_EEXIST, 0, "run '%s' is already in store '%s'", hdr->id,
				   j->path);
	jl_drop_pending(j);
	snprintf(j->save_id, sizeof(j->save_id), "%s", hdr->id);
	j->saving = 1;
	return 0;
}

static int jl_save_chunk(struct ctr_store *s, const struct ctr_chunk *c, struct ctr_err *e)
{
	struct jl_store *j = s->priv;
	struct ctr_chunk *d;

	if (j->n_chunks == j->cap_chunks) {
		size_t cap = j->cap_chunks ? j->cap_chunks * 2 : 16;
		struct ctr_chunk *p = realloc(j->chunks, cap * sizeof(*p));

		if (!p)
			return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory saving a chunk");
		j->chunks = p;
		j->cap_chunks = cap;
	}
	d = &j->chunks[j->n_chunks];
	*d = *c;
	d->data = NULL;
	if (c->size) {
		if (!(d->data = malloc(c->size)))
			return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory saving a chunk");
		memcpy(d->data, c->data, c->size);
	}
	j->n_chunks++;
	return 0;
}

/* Opens the store file for writing and takes the exclusive lock, making sure the locked file
 * is still the one at the path (remove renames a new file over it). */
static int lock_for_write(struct jl_store *j, int *fdp, struct ctr_err *e)
{
	for (int tries = 0; tries < 100; tries++) {
		struct stat a, b;
		int fd = open(j->path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

		if (fd < 0)
			break;
		if (flock(fd, LOCK_EX) < 0 || fstat(fd, &a) < 0) {
			close(fd);
			break;
		}
		if (stat(j->path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
			*fdp = fd;
			return 0;
		}
		close(fd); /* replaced while we waited: lock the new file */
	}
	ctr_err_ctx(e, j->path, NULL, -1);
	return ctr_err_set(e, CTR_EIO, errno, "cannot open store '%s' for writing: %s", j->path,
			   strerror(errno));
}

static int write_all(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t w = write(fd, buf, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

static int jl_save_end(struct ctr_store *s, const struct ctr_run *run, struct ctr_err *e)
{
	struct jl_store *j = s->priv;
	json_t *o = NULL;
	char *text = NULL, last = '\n';
	size_t len;
	struct stat st;
	int fd = -1, ret;

	if (!j->saving || strcmp(run->id, j->save_id))
		return ctr_err_set(e, CTR_EUSAGE, 0, "save_end of run '%s' without its save_begin",
				   run->id);
	if (!(o = ctr_runjson_run(run, j->chunks, j->n_chunks,
				  CTR_RUNJSON_CHUNKS | CTR_RUNJSON_NODE_ROWS)) ||
	    !(text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
		ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory saving run '%s'", run->id);
		goto out;
	}
	/* Room for a leading and a trailing newline around the text. */
	len = strlen(text);
	{
		char *t = realloc(text, len + 3);

		if (!t) {
			ret =
			    ctr_err_set(e, CTR_ENOMEM, 0, "out of memory saving run '%s'", run->id);
			goto out;
		}
		text = t;
		memmove(text + 1, text, len + 1);
		text[0] = '\n';
		text[len + 1] = '\n';
		text[len + 2] = '\0';
	}
	if ((ret = lock_for_write(j, &fd, e)) < 0)
		goto out;
	/* Check again under the lock: another writer may have saved the id meanwhile. */
	if ((ret = exists(j, fd, run->id, e)) < 0)
		goto out;
	if (ret) {
		ret = ctr_err_set(e, CTR_EEXIST, 0, "run '%s' is already in store '%s'", run->id,
				  j->path);
		goto out;
	}
	/* A file whose last line lacks its newline (hand edit, killed writer) gets one first,
	 * so the new line stays a line of its own. */
	if (fstat(fd, &st) == 0 && st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) != 1)
		last = '\n';
	if (write_all(fd, last == '\n' ? text + 1 : text, last == '\n' ? len + 1 : len + 2) < 0 ||
	    fsync(fd) < 0) {
		ret = ctr_err_set(e, CTR_EIO, errno, "cannot write store '%s': %s", j->path,
				  strerror(errno));
		goto out;
	}
	jl_drop_pending(j);
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(text);
	json_decref(o);
	return ret;
}

static void jl_save_abort(struct ctr_store *s)
{
	jl_drop_pending(s->priv);
}

static int jl_load(struct ctr_store *s, const char *id, unsigned what, struct ctr_run **out,
		   struct ctr_err *e)
{
	struct jl_store *j = s->priv;
	struct find_arg a = {.id = id, .what = what & CTR_LOAD_TIMELINE};
	int ret = scan(j, find_line, &a, e);

	if (ret < 0)
		return ret;
	if (!a.found)
		return ctr_err_set(e, CTR_ENOTFOUND, 0, "no run '%s' in store '%s'", id, j->path);
	*out = a.run;
	return 0;
}

struct list_arg {
	const struct ctr_filter *f;
	struct ctr_run **runs;
	size_t n, cap;
};

static int list_line(void *arg, struct jparse *p, const char *line, size_t len, struct ctr_err *e)
{
	struct list_arg *a = arg;
	struct ctr_run *r;
	int ret;

	if ((ret = parse_line(p, line, len, 0, &r, e)) < 0)
		return ret;
	if (!ctr_filter_match(a->f, r)) {
		ctr_run_free(r);
		return 0;
	}
	ctr_run_clear_arrays(r); /* list returns headers only */
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 32;
		struct ctr_run **x = realloc(a->runs, cap * sizeof(*x));

		if (!x) {
			ctr_run_free(r);
			return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory listing runs");
		}
		a->runs = x;
		a->cap = cap;
	}
	a->runs[a->n++] = r;
	return 0;
}

static int jl_list(struct ctr_store *s, const struct ctr_filter *f, size_t limit, size_t offset,
		   struct ctr_run ***out, size_t *n, struct ctr_err *e)
{
	struct list_arg a = {.f = f};
	size_t keep = 0;
	int ret = scan(s->priv, list_line, &a, e);

	if (ret < 0) {
		ctr_run_list_free(a.runs, a.n);
		return ret;
	}
	ctr_run_sort_newest(a.runs, a.n);
	if (offset < a.n) {
		keep = a.n - offset;
		if (limit && keep > limit)
			keep = limit;
	}
	for (size_t i = 0; i < a.n; i++)
		if (i < offset || i >= offset + keep)
			ctr_run_free(a.runs[i]);
	if (keep && offset)
		memmove(a.runs, a.runs + offset, keep * sizeof(*a.runs));
	if (!keep) {
		free(a.runs);
		a.runs = NULL;
	}
	*out = a.runs;
	*n = keep;
	return 0;
}

struct series_arg {
	const struct ctr_filter *f;
	const char *fn;
	enum ctr_metric m;
	struct ctr_series_point *pts;
	size_t n, cap;
};

/* One pass over the file: each matching line is parsed and scanned for the metric. */
static int series_line(void *arg, struct jparse *p, const char *line, size_t len, struct ctr_err *e)
{
	struct series_arg *a = arg;
	struct ctr_run *r;
	int ret;

	if ((ret = parse_line(p, line, len, 0, &r, e)) < 0)
		return ret;
	if (ctr_filter_match(a->f, r)) {
		if (a->n == a->cap) {
			size_t cap = a->cap ? a->cap * 2 : 32;
			struct ctr_series_point *x = realloc(a->pts, cap * sizeof(*x));

			if (!x)
				ret = CTR_ENOMEM;
			else {
				a->pts = x;
				a->cap = cap;
			}
		}
		if (ret == 0 && (ret = ctr_series_point_set(&a->pts[a->n], r, a->fn, a->m)) == 0)
			a->n++;
	}
	ctr_run_free(r);
	if (ret < 0)
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory reading a series");
	return 0;
}

static int jl_series(struct ctr_store *s, const struct ctr_filter *f, const char *fn,
		     enum ctr_metric m, struct ctr_series_point **out, size_t *n, struct ctr_err *e)
{
	struct series_arg a = {.f = f, .fn = fn, .m = m};
	int ret = scan(s->priv, series_line, &a, e);

	if (ret < 0) {
		ctr_series_free(a.pts, a.n);
		return ret;
	}
	ctr_series_sort_oldest(a.pts, a.n);
	if (!a.n) {
		free(a.pts);
		a.pts = NULL;
	}
	*out = a.pts;
	*n = a.n;
	return 0;
}

struct rm_arg {
	const char *id;
	FILE *tmp;
	int found;
};

static int rm_line(void *arg, struct jparse *p, const char *line, size_t len, struct ctr_err *e)
{
	struct rm_arg *a = arg;
	char id[CTR_RUN_ID_MAX];
	int ret;

	if ((ret = line_id(p, line, len, id, e)) < 0)
		return ret;
	if (!strcmp(id, a->id)) {
		a->found = 1;
		return 0;
	}
	if (fwrite(line, 1, len, a->tmp) != len ||
	    (line[len - 1] != '\n' && fputc('\n', a->tmp) < 0))
		return ctr_err_set(e, CTR_EIO, errno, "cannot write '%s': %s", p->path,
				   strerror(errno));
	return 0;
}

/* ---- side records: files beside the store, PATH.aux/HEXID.NAME (the id hex-encoded, so no
 * id can name another path) ---- */

static char *aux_path(const struct jl_store *j, const char *id, const char *name)
{
	char hex[2 * CTR_RUN_ID_MAX + 1];
	char *p = NULL;
	size_t k = 0;

	for (const char *c = id; *c && k + 2 < sizeof(hex); c++, k += 2)
		snprintf(hex + k, 3, "%02x", (unsigned char)*c);
	hex[k] = 0;
	if (asprintf(&p, "%s.aux/%s.%s", j->path, hex, name) < 0)
		return NULL;
	return p;
}

static int jl_run_exists(struct jl_store *j, const char *id, struct ctr_err *e)
{
	struct find_arg a = {.id = id, .what = 0x100u}; /* whether it exists */
	int ret = scan(j, find_line, &a, e);

	ctr_run_free(a.run);
	return ret < 0 ? ret : a.found ? 0 : CTR_ENOTFOUND;
}

static int jl_save_aux(struct ctr_store *s, const char *id, const char *name,
		       const unsigned char *data, size_t size, struct ctr_err *e)
{
	struct jl_store *j = s->priv;
	char *dir = NULL, *path = aux_path(j, id, name), *tmp = NULL;
	int fd = -1, ret;

	if (!path || asprintf(&dir, "%s.aux", j->path) < 0 ||
	    asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
		ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory saving run '%s'", id);
		goto out;
	}
	if ((ret = jl_run_exists(j, id, e)) < 0) {
		if (ret == CTR_ENOTFOUND)
			ret = ctr_err_set(e, CTR_ENOTFOUND, 0, "no run '%s' in store '%s'", id,
					  j->path);
		goto out;
	}
	if ((mkdir(dir, 0700) < 0 && errno != EEXIST) || (fd = mkostemp(tmp, O_CLOEXEC)) < 0 ||
	    write_all(fd, (const char *)data, size) < 0 || fsync(fd) < 0 || rename(tmp, path) < 0) {
		ret =
		    ctr_err_set(e, CTR_EIO, errno, "cannot write '%s': %s", path, strerror(errno));
		if (fd >= 0)
			unlink(tmp);
	}
out:
	if (fd >= 0)
		close(fd);
	free(tmp);
	free(dir);
	free(path);
	return ret;
}

static int jl_load_aux(struct ctr_store *s, const char *id, const char *name, unsigned char **data,
		       size_t *size, struct ctr_err *e)
{
	char *path = aux_path(s->priv, id, name);
	unsigned char *buf = NULL;
	struct stat st;
	int fd, ret = 0;
	size_t got = 0;

	if (!path)
		return ctr_err_set(e, CTR_ENOMEM, 0, "out of memory loading run '%s'", id);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		ret = errno == ENOENT ? CTR_ENOTFOUND
				      : ctr_err_set(e, CTR_EIO, errno, "cannot open '%s': %s", path,
						    strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    !(buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1))) {
		ret = ctr_err_set(e, CTR_EIO, errno, "cannot read '%s'", path);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n <= 0) {
			ret = ctr_err_set(e, CTR_EIO, errno, "cannot read '%s'", path);
			goto out;
		}
		got += (size_t)n;
	}
	*data = buf;
	*size = got;
	buf = NULL;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(path);
	return ret;
}

/* Removes every side record of run @id (after the run itself is gone). */
static void jl_remove_aux(struct jl_store *j, const char *id)
{
	static const char *const names[] = {"tlindex"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *p = aux_path(j, id, names[i]);

		if (p)
			unlink(p);
		free(p);
	}
}

static int jl_remove(struct ctr_store *s, const char *id, struct ctr_err *e)
{
	struct jl_store *j = s->priv;
	struct rm_arg a = {.id = id};
	char *tmp = NULL;
	int fd = -1, tfd = -1, ret;
	struct stat st;

	if (stat(j->path, &st) < 0 && errno == ENOENT)
		return ctr_err_set(e, CTR_ENOTFOUND, 0, "no run '%s' in store '%s'", id, j->path);
	if ((ret = lock_for_write(j, &fd, e)) < 0)
		return ret;
	if (asprintf(&tmp, "%s.tmp.XXXXXX", j->path) < 0) {
		tmp = NULL;
		ret = ctr_err_set(e, CTR_ENOMEM, 0, "out of memory removing run '%s'", id);
		goto out;
	}
	if ((tfd = mkostemp(tmp, O_CLOEXEC)) < 0 || !(a.tmp = fdopen(tfd, "w"))) {
		ret =
		    ctr_err_set(e, CTR_EIO, errno, "cannot create '%s': %s", tmp, strerror(errno));
		goto out;
	}
	tfd = -1;
	fchmod(fileno(a.tmp), fstat(fd, &st) == 0 ? st.st_mode & 07777 : 0600);
	if ((ret = scan_locked(j, fd, rm_line, &a, e)) < 0)
		goto out;
	if (!a.found) {
		ret = ctr_err_set(e, CTR_ENOTFOUND, 0, "no run '%s' in store '%s'", id, j->path);
		goto out;
	}
	if (fflush(a.tmp) != 0 || fsync(fileno(a.tmp)) < 0) {
		ret = ctr_err_set(e, CTR_EIO, errno, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, j->path) < 0) {
		ret = ctr_err_set(e, CTR_EIO, errno, "cannot replace store '%s': %s", j->path,
				  strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	jl_remove_aux(j, id);
	ret = 0;
out:
	if (a.tmp)
		fclose(a.tmp);
	if (tfd >= 0)
		close(tfd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

const struct ctr_store_ops ctr_store_jsonl = {
    .name = "jsonl",
    .open = jl_open,
    .close = jl_close,
    .save_begin = jl_save_begin,
    .save_chunk = jl_save_chunk,
    .save_end = jl_save_end,
    .save_abort = jl_save_abort,
    .load = jl_load,
    .list = jl_list,
    .remove = jl_remove,
    .series = jl_series,
    .save_aux = jl_save_aux,
    .load_aux = jl_load_aux,
};
