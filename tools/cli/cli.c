/* SPDX-License-Identifier: MIT */
/* Shared command-line helpers: see cli.h. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../store/runjson.h"
#include "../export/tlindex.h"
#include "../ingest/commit.h"

int ctr_cli_json_errors;

/* The store of the command, for the JSON trailer's context (set when one is opened). */
static char cli_store[512];

void ctr_cli_init(int *argc, char **argv)
{
	const char *env = getenv("CTRACE_JSON_ERRORS");
	int j = 1;

	if (env && *env && strcmp(env, "0") != 0)
		ctr_cli_json_errors = 1;
	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < *argc)
				argv[j++] = argv[i++];
			break;
		}
		if (strcmp(argv[i], "--json-errors") == 0) {
			ctr_cli_json_errors = 1;
			continue;
		}
		argv[j++] = argv[i];
	}
	*argc = j;
	argv[j] = NULL;
}

int ctr_cli_fail(const char *prog, const struct ctr_err *e)
{
	int code = e && e->code ? e->code : CTR_EINTERNAL;
	const char *msg = e && e->msg[0] ? e->msg : "unknown error";

	fprintf(stderr, "%s: %s: %s\n", prog, ctr_err_name(code), msg);
	if (ctr_cli_json_errors) {
		json_t *ctx = json_object(), *o;
		char *s;

		if (e && e->path[0])
			json_object_set_new(ctx, "path", ctr_json_str(e->path));
		if (e && e->run_id[0])
			json_object_set_new(ctx, "run_id", ctr_json_str(e->run_id));
		if (e && e->offset >= 0)
			json_object_set_new(ctx, "offset", json_integer(e->offset));
		if (e && e->sys_errno)
			json_object_set_new(ctx, "errno", json_integer(e->sys_errno));
		if (cli_store[0])
			json_object_set_new(ctx, "store", ctr_json_str(cli_store));
		o = json_pack("{s:s, s:s, s:o*, s:o}", "error_code", ctr_err_name(code),
			      "error_kind", ctr_err_kind(code), "message", ctr_json_str(msg),
			      "context", ctx);
		s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		if (s)
			fprintf(stderr, "%s\n", s);
		free(s);
		json_decref(o);
	}
	return code == CTR_EUSAGE ? CTR_EXIT_USAGE : CTR_EXIT_ERROR;
}

int ctr_cli_usage(const char *prog, const char *fmt, ...)
{
	struct ctr_err e;
	va_list ap;

	ctr_err_clear(&e);
	e.code = CTR_EUSAGE;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	ctr_cli_fail(prog, &e);
	fprintf(stderr, "Try '%s --help' for more information.\n", prog);
	return CTR_EXIT_USAGE;
}

int ctr_cli_open_store(const char *conn, struct ctr_store **s, struct ctr_err *e)
{
	int ret;

	/* a store named on the command line may be a symlink the user owns; the default one
	 * and $CTRACE_STORE may not (someone else could have planted it) */
	ret = conn ? ctr_store_open_ex(s, conn, CTR_STORE_LINK_OK, e)
		   : ctr_store_open_ex(s, ctr_store_default(), 0, e);
	if (!ret)
		snprintf(cli_store, sizeof(cli_store), "%s", ctr_store_name(*s));
	return ret;
}

/* The file of a file-backed connection string ("sqlite:P", "jsonl:P", a bare path); NULL for
 * "memory:" and PostgreSQL. */
static const char *store_file(const char *conn)
{
	if (!strncmp(conn, "sqlite:", 7))
		return conn + 7;
	if (!strncmp(conn, "jsonl:", 6))
		return conn + 6;
	if (!strncmp(conn, "memory:", 7) || strstr(conn, "://"))
		return NULL;
	/* "scheme:rest" is an unknown scheme for ctr_store_open() to refuse (as store.c decides) */
	const char *colon = strchr(conn, ':'), *p = conn;

	while (colon && p < colon &&
	       (isalpha((unsigned char)*p) || *p == '+' || *p == '-' ||
		(p > conn && isdigit((unsigned char)*p))))
		p++;
	return colon && colon > conn && p == colon ? NULL : conn;
}

int ctr_cli_open_store_read(const char *conn, const char *spec, struct ctr_store **s,
			    struct ctr_err *e)
{
	const char *c = conn ? conn : ctr_store_default(), *file = store_file(c);
	struct stat st;

	*s = NULL;
	if (!(spec && ctr_is_run_dir(spec)) && file && *file && lstat(file, &st) != 0 &&
	    errno == ENOENT) {
		ctr_err_ctx(e, file, NULL, -1);
		return ctr_err_set(e, CTR_ENOTFOUND, ENOENT,
				   "no store '%s' here: nothing recorded yet (ctrace record -- "
				   "PROG), or name one with --store or $CTRACE_STORE",
				   c);
	}
	/* an empty file holds no runs, and a command that only reads writes no schema into it */
	if (!(spec && ctr_is_run_dir(spec)) && file && *file && lstat(file, &st) == 0 &&
	    S_ISREG(st.st_mode) && st.st_size == 0) {
		ctr_err_ctx(e, file, NULL, -1);
		return ctr_err_set(e, CTR_ENOTFOUND, 0,
				   "store '%s' is an empty file: no runs in it (left as it is)", c);
	}
	return ctr_cli_open_store(conn, s, e);
}

int ctr_cli_commit(struct ctr_store *s, const char *dir, const struct ctr_commit_opts *o,
		   char id[CTR_RUN_ID_MAX], struct ctr_err *e)
{
	struct ctr_commit_opts ko = {0};
	const char *kp = getenv("CTRACE_KEEP_PREEMPTED");
	struct ctr_err ie;
	int ret;

	if (kp && !strcmp(kp, "1")) { /* every command that commits: --keep-preempted */
		if (o)
			ko = *o;
		ko.keep_preempted = 1;
		o = &ko;
	}
	ret = ctr_commit_dir(s, dir, o, id, e);

	if (ret)
		return ret;
	ctr_err_clear(&ie);
	if (ctr_tlindex_store(s, id, NULL, &ie) != 0)
		fprintf(stderr,
			"ctrace: warning: run %s: timeline index not stored (ctrace serve builds "
			"it on first use): %s\n",
			id, ie.msg);
	return 0;
}

int ctr_cli_load_run(struct ctr_store *s, const char *spec, unsigned what, struct ctr_run **out,
		     struct ctr_err *e)
{
	char id[CTR_RUN_ID_MAX] = "latest";
	int ret;

	*out = NULL;
	if (spec && ctr_is_run_dir(spec)) {
		struct ctr_commit_opts o = {.keep = 1, .progress = 1};

		ret = ctr_cli_commit(s, spec, &o, id, e);
	} else {
		ret = ctr_store_resolve(s, spec ? spec : "latest", id, e);
	}
	if (!ret)
		ret = ctr_store_load(s, id, what, out, e);
	if (ret && e && !e->run_id[0]) /* the trailer names the run asked for */
		ctr_err_ctx(e, NULL, spec && !ctr_is_run_dir(spec) ? spec : id, -1);
	return ret;
}

/* Not a regular file (a terminal, /dev/stdout, a FIFO): written directly, nothing to rename. */
static FILE *out_open_direct(const char *path, struct ctr_err *e)
{
	FILE *f = fopen(path, "we");

	if (!f) {
		ctr_err_set(e, CTR_EIO, errno, "cannot open '%s': %s", path, strerror(errno));
		ctr_err_ctx(e, path, NULL, -1);
	}
	return f;
}

/* The temporary file of the output being written, removed if SIGINT, SIGTERM or SIGHUP ends
 * the command first (a killed `show --out` of a deep folded export left gigabytes behind). One
 * at a time: a command writes one --out file. */
static const int out_sigs[] = {SIGINT, SIGTERM, SIGHUP};
static char out_tmp[PATH_MAX];
static volatile sig_atomic_t out_armed;
static struct sigaction out_old[sizeof(out_sigs) / sizeof(out_sigs[0])];

/* Async-signal-safe: unlinks the registered temporary file, then dies of @sig as it would have
 * (SA_RESETHAND put the default action back), so the exit status still says which signal. */
static void out_on_signal(int sig)
{
	int saved = errno;

	if (out_armed) {
		out_armed = 0;
		unlink(out_tmp);
	}
	raise(sig);
	errno = saved;
}

/* Registers @tmp for removal on a fatal signal; a signal the caller ignores (nohup) stays
 * ignored. With @tmp NULL, unregisters and puts the old handlers back. */
static void out_guard(const char *tmp)
{
	size_t n = sizeof(out_sigs) / sizeof(out_sigs[0]);
	sigset_t block, old;

	sigemptyset(&block);
	for (size_t i = 0; i < n; i++)
		sigaddset(&block, out_sigs[i]);
	sigprocmask(SIG_BLOCK, &block, &old);
	if (tmp && !out_armed && strlen(tmp) < sizeof(out_tmp)) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = out_on_signal;
		sa.sa_flags = SA_RESETHAND;
		sigemptyset(&sa.sa_mask);
		snprintf(out_tmp, sizeof(out_tmp), "%s", tmp);
		out_armed = 1;
		for (size_t i = 0; i < n; i++)
			if (sigaction(out_sigs[i], NULL, &out_old[i]) == 0 &&
			    out_old[i].sa_handler != SIG_IGN)
				sigaction(out_sigs[i], &sa, NULL);
	} else if (!tmp && out_armed) {
		out_armed = 0;
		for (size_t i = 0; i < n; i++)
			if (out_old[i].sa_handler != SIG_IGN)
				sigaction(out_sigs[i], &out_old[i], NULL);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
}

FILE *ctr_cli_out_open(const char *path, char **tmp, struct ctr_err *e)
{
	mode_t um = umask(0);
	char *real = NULL;
	struct stat st;
	FILE *f = NULL;
	int fd = -1;

	umask(um);
	*tmp = NULL;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return out_open_direct(path, e);
	/* through a symlink to a file: replace the file, not the link */
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode) && (real = realpath(path, NULL)))
		path = real;
	if (asprintf(tmp, "%s.tmp-XXXXXX", path) < 0) {
		*tmp = NULL;
		free(real);
		ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory");
		return NULL;
	}
	fd = mkostemp(*tmp, O_CLOEXEC);
	if (fd < 0 || fchmod(fd, 0666 & ~um) || !(f = fdopen(fd, "w"))) {
		ctr_err_set(e, CTR_EIO, errno, "cannot open '%s': %s", path, strerror(errno));
		ctr_err_ctx(e, path, NULL, -1);
		if (fd >= 0) {
			close(fd);
			unlink(*tmp);
		}
		free(*tmp);
		*tmp = NULL;
	}
	if (f)
		out_guard(*tmp);
	free(real);
	return f;
}

int ctr_cli_out_close(FILE *f, const char *path, char *tmp, int ok, struct ctr_err *e)
{
	size_t n = tmp ? strlen(tmp) - strlen(".tmp-XXXXXX") : 0;
	int ret = 0;

	if (fclose(f) && ok) {
		ret =
		    ctr_err_set(e, CTR_EIO, errno, "cannot write '%s': %s", path, strerror(errno));
		ok = 0;
	}
	if (!tmp) /* written directly */
		return ret;
	{
		char target[PATH_MAX]; /* the file the temporary one replaces (a link's target) */
		sigset_t block, old;

		/* no signal between the rename (or unlink) and the handler's unregistering */
		sigemptyset(&block);
		for (size_t i = 0; i < sizeof(out_sigs) / sizeof(out_sigs[0]); i++)
			sigaddset(&block, out_sigs[i]);
		sigprocmask(SIG_BLOCK, &block, &old);
		snprintf(target, sizeof(target), "%.*s", (int)n, tmp);
		if (ok && rename(tmp, target)) {
			ret = ctr_err_set(e, CTR_EIO, errno, "cannot write '%s': %s", path,
					  strerror(errno));
			ok = 0;
		}
		if (!ok)
			unlink(tmp);
		out_guard(NULL);
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	free(tmp);
	return ret;
}

/* ---- filters (query, export, trend) ---- */

int ctr_cli_filter_opt(int c, const char *arg, struct ctr_filter *f, struct ctr_kv *meta,
		       struct ctr_err *e)
{
	uint64_t d;

	switch (c) {
	case 'S':
		if (ctr_parse_time(arg, &f->since_unix_ns))
			return ctr_err_set(e, CTR_EUSAGE, 0, "bad --since '%s'", arg);
		return 1;
	case 'U':
		if (ctr_parse_time(arg, &f->until_unix_ns))
			return ctr_err_set(e, CTR_EUSAGE, 0, "bad --until '%s'", arg);
		return 1;
	case 'D':
		if (ctr_parse_duration(arg, &d))
			return ctr_err_set(e, CTR_EUSAGE, 0, "bad --min-duration '%s'", arg);
		f->min_duration_ns = d;
		return 1;
	case 'X':
		if (ctr_parse_duration(arg, &d))
			return ctr_err_set(e, CTR_EUSAGE, 0, "bad --max-duration '%s'", arg);
		/* 0 would mean "at most 0": no run; refused rather than taken as no bound */
		if (!d)
			return ctr_err_set(e, CTR_EUSAGE, 0,
					   "--max-duration '%s' is 0: no run takes at most 0 ns "
					   "(give a bound above 0, or leave the option out)",
					   arg);
		f->max_duration_ns = d;
		return 1;
	case 'C':
		f->command = arg;
		return 1;
	case 'F':
		f->function = arg;
		return 1;
	case 'H':
		f->host = arg;
		return 1;
	case 'B': /* the main binary's build-id, as commit records it */
		meta[f->n_meta].key = strdup("build.id");
		meta[f->n_meta].value = (char *)arg;
		f->meta = meta;
		f->n_meta++;
		return 1;
	case 'M': {
		char *eq = strchr(arg, '=');

		if (!eq || eq == arg)
			return ctr_err_set(e, CTR_EUSAGE, 0, "bad --meta '%s': KEY=VALUE wanted",
					   arg);
		meta[f->n_meta].key = strndup(arg, (size_t)(eq - arg));
		meta[f->n_meta].value = eq + 1;
		f->meta = meta;
		f->n_meta++;
		return 1;
	}
	default:
		return 0;
	}
}

const char ctr_cli_filter_help[] =
    "  --since T / --until T      run started at or after / before T (2026-11-21,\n"
    "                             2026-11-21T10:00:00, @UNIX_SECONDS, or -2h relative)\n"
    "  --min-duration D / --max-duration D   run duration bounds (250us, 10ms, 2s)\n"
    "  --command S                the command line contains S\n"
    "  --function NAME            the run has a function named NAME (or matching the glob)\n"
    "  --host H                   the run was recorded on host H\n"
    "  --build-id B               the main binary's build-id is B (metadata build.id)\n"
    "  --meta KEY=VALUE           metadata KEY is VALUE (repeatable, all must match)\n";

int ctr_cli_parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || !*s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}
