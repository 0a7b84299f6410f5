/* SPDX-License-Identifier: MIT */
/*
 * The store subcommands: commit, list, query, delete, export, import, and dump (raw events of a
 * run directory). Thin layers over store/ and commit: option parsing, output, exit status.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../common/decode.h"
#include "../../store/runjson.h"
#include "../ingest/commit.h"
#include "../ingest/rundir.h"
#include "../ingest/symbolize.h"
#include "cli.h"
#include "cmds.h"

/* ---- commit ------------------------------------------------------------------------- */

/* Whether run @id is in @s (exactly that id, not a prefix or "latest"). */
static int run_stored(struct ctr_store *s, const char *id)
{
	char found[CTR_RUN_ID_MAX];

	return *id && ctr_store_resolve(s, id, found, NULL) == 0 && !strcmp(found, id);
}

static void say_already(struct ctr_store *s, const char *id)
{
	fprintf(stderr,
		"ctrace: run %s already committed to %s (CTRACE_E_EXISTS): not saved twice\n", id,
		ctr_store_name(s));
}

/* The last component of @dir without trailing slashes: the run id a recorder names it by. */
static void dir_base(const char *dir, char out[CTR_RUN_ID_MAX])
{
	size_t end = strlen(dir), start;

	while (end > 1 && dir[end - 1] == '/')
		end--;
	for (start = end; start > 0 && dir[start - 1] != '/'; start--)
		;
	snprintf(out, CTR_RUN_ID_MAX, "%.*s", (int)(end - start), dir + start);
}

/*
 * Commits one run directory. Several `ctrace commit` of one directory at once (two shells, a
 * cron job and a user) are serialized by an exclusive flock(2) on the directory: the first
 * commits it and removes it, the others wait, then find the run in the store (or the
 * directory gone, named by the run id) and say "already committed", exit 0, as a commit of a
 * run committed before does (docs/errors.md); before, they raced the removal and failed with
 * CTRACE_E_NOT_FOUND. Returns the exit status.
 */
static int commit_one(struct ctr_store *s, const char *dir, const struct ctr_commit_opts *o)
{
	char id[CTR_RUN_ID_MAX] = "", base[CTR_RUN_ID_MAX];
	int lfd, ret, was = 0;
	struct ctr_err e;
	struct stat st;

	ctr_err_clear(&e);
	dir_base(dir, base);
	lfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (lfd >= 0)
		while (flock(lfd, LOCK_EX) != 0 && errno == EINTR)
			;
	/* (a symlink or a non-directory is not locked: ctr_commit_dir() says what it is) */
	if (!ctr_is_run_dir(dir)) { /* gone (with the commit that won?) */
		if (lfd >= 0)
			close(lfd);
		if (run_stored(s, base)) {
			say_already(s, base);
			return 0;
		}
		ctr_err_set(&e, CTR_ENOTFOUND, 0, "'%s' is not a run directory (no run.meta)", dir);
		return ctr_cli_fail("ctrace commit", &e);
	}
	if (lfd >= 0 && fstat(lfd, &st) == 0 && ctr_rawrun_id_at(lfd, dir, st.st_uid, id, &e) == 0)
		was = run_stored(s, id);
	ctr_err_clear(&e);
	ret = ctr_cli_commit(s, dir, o, id, &e);
	if (lfd >= 0)
		close(lfd); /* the lock goes with it, after the directory went */
	if (ret != 0) {
		if (!e.path[0]) /* keep the file a deeper error named */
			ctr_err_ctx(&e, dir, NULL, -1);
		return ctr_cli_fail("ctrace commit", &e);
	}
	if (was)
		say_already(s, id);
	else
		fprintf(stderr, "ctrace: run %s committed to %s\n", id, ctr_store_name(s));
	return 0;
}

/* Commits every run directory under $CTRACE_DIR (default ./ctrace.data), after checking that
 * the trace directory is safe to read from. Returns the first failure's exit status or 0. */
static int commit_scan(struct ctr_store *s, const struct ctr_commit_opts *o)
{
	const char *parent =
	    getenv("CTRACE_DIR") && *getenv("CTRACE_DIR") ? getenv("CTRACE_DIR") : "ctrace.data";
	struct ctr_err e;
	struct stat pst;
	struct dirent *de;
	int ret = 0, n = 0;
	DIR *d;

	ctr_err_clear(&e);
	if (lstat(parent, &pst) != 0 && errno == ENOENT) {
		fprintf(stderr, "ctrace: nothing to commit (no '%s')\n", parent);
		return 0;
	}
	if (ctr_rundir_check_parent(parent, &e))
		return ctr_cli_fail("ctrace commit", &e);
	if (!(d = opendir(parent))) {
		if (errno == ENOENT) {
			fprintf(stderr, "ctrace: nothing to commit (no '%s')\n", parent);
			return 0;
		}
		ctr_err_set(&e, CTR_EIO, errno, "cannot open '%s': %s", parent, strerror(errno));
		return ctr_cli_fail("ctrace commit", &e);
	}
	while ((de = readdir(d))) {
		char path[PATH_MAX];
		int r;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", parent, de->d_name);
		if (!ctr_is_run_dir(path))
			continue;
		r = commit_one(s, path, o);
		ret = ret ? ret : r;
		n++;
	}
	closedir(d);
	if (!n)
		fprintf(stderr, "ctrace: nothing to commit in '%s'\n", parent);
	return ret;
}

static void commit_usage(void)
{
	printf("usage: ctrace commit [--store CONN] [--keep] [--raw-times] [--meta "
	       "K=V]\n"
	       "                     [--keep-preempted] [--allow-foreign-owner] "
	       "[RUN_DIR...]\n\n"
	       "Symbolizes raw run directories with libdw and saves each in the "
	       "store in one\n"
	       "transaction; the raw directory is removed after the commit unless "
	       "--keep.\n"
	       "Without RUN_DIR, commits every run under $CTRACE_DIR (default "
	       "./ctrace.data).\n"
	       "A run already in the store is never saved twice.\n"
	       "A run directory owned by another user than you or root is refused "
	       "unless\n"
	       "--allow-foreign-owner; a trace directory that others can write is "
	       "refused.\n"
	       "A --sched run leaves calls more than half preempted or waiting for the "
	       "recorder\n"
	       "out of min/max/percentiles (counted per node as preempted_calls); "
	       "--keep-preempted\n"
	       "(or $CTRACE_KEEP_PREEMPTED=1) keeps them in.\n");
}

int ctr_cmd_commit(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"store", required_argument, NULL, 's'},
	    {"keep", no_argument, NULL, 'k'},
	    {"raw-times", no_argument, NULL, 'R'},
	    {"keep-preempted", no_argument, NULL, 'P'},
	    {"meta", required_argument, NULL, 'm'},
	    {"allow-foreign-owner", no_argument, NULL, 'A'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct ctr_commit_opts o = {.progress = 1};
	struct ctr_kv *meta = calloc((size_t)argc + 1, sizeof(*meta));
	const char *conn = NULL;
	struct ctr_store *s = NULL;
	struct ctr_err e;
	int c, ret = 0;

	ctr_err_clear(&e);
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:km:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			conn = optarg;
			break;
		case 'k':
			o.keep = 1;
			break;
		case 'R':
			o.raw_times = 1;
			break;
		case 'P':
			o.keep_preempted = 1;
			break;
		case 'A':
			o.allow_foreign_owner = 1;
			break;
		case 'm': {
			char *eq = strchr(optarg, '=');

			if (!eq || !ctr_meta_key_valid(optarg, (size_t)(eq - optarg))) {
				free(meta);
				return ctr_cli_usage(
				    "ctrace commit",
				    "--meta wants KEY=VALUE with a KEY that is not "
				    "empty and holds no control character");
			}
			*eq = 0;
			meta[o.n_meta].key = optarg;
			meta[o.n_meta++].value = eq + 1;
			break;
		}
		case 'h':
			commit_usage();
			free(meta);
			return 0;
		default:
			free(meta);
			return ctr_cli_usage("ctrace commit", "unknown option");
		}
	}
	o.meta = meta;
	if (ctr_cli_open_store(conn, &s, &e) != 0) {
		free(meta);
		return ctr_cli_fail("ctrace commit", &e);
	}
	if (optind < argc) {
		for (int i = optind; i < argc; i++) {
			int r = commit_one(s, argv[i], &o);

			ret = ret ? ret : r;
		}
	} else {
		ret = commit_scan(s, &o);
	}
	ctr_store_close(s);
	free(meta);
	return ret;
}

/* ---- list / query ------------------------------------------------------------------- */

static void fmt_time(char *buf, size_t n, int64_t unix_ns)
{
	time_t t = (time_t)(unix_ns / 1000000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
}

static void print_runs(struct ctr_run **runs, size_t n, int json)
{
	if (json) {
		json_t *a = json_array();
		char *s = NULL;
		int fail = !a;

		for (size_t i = 0; a && i < n; i++)
			fail |= json_array_append_new(a, ctr_runjson_summary(runs[i])) < 0;
		if (!fail)
			s = json_dumps(a, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (s)
			puts(s);
		else
			fprintf(stderr, "ctrace: CTRACE_E_NOMEM: out of memory writing JSON\n");
		free(s);
		json_decref(a);
		return;
	}
	if (!n) {
		fprintf(stderr, "ctrace: no runs\n");
		return;
	}
	/* Command lines come from the traced program: terminal controls are shown, not obeyed. */
	FILE *vis = ctr_fmt_visible_stream(stdout), *out = vis ? vis : stdout;

	fprintf(out, "%-24s %-19s %10s %8s %10s  %s\n", "RUN", "START (UTC)", "DURATION", "STATUS",
		"EVENTS", "COMMAND");
	for (size_t i = 0; i < n; i++) {
		const struct ctr_run *r = runs[i];
		char start[32], dur[32], st[16];

		fmt_time(start, sizeof(start), r->start_unix_ns);
		ctr_fmt_ns(dur, sizeof(dur), r->duration_ns);
		if (r->signal)
			snprintf(st, sizeof(st), "%s%d", r->crashed ? "crash:" : "sig:", r->signal);
		else if (r->exit_status >= 0)
			snprintf(st, sizeof(st), "%d", r->exit_status);
		else
			snprintf(st, sizeof(st), "?");
		fprintf(out, "%-24s %-19s %10s %8s %10llu  %s\n", r->id, start, dur, st,
			(unsigned long long)r->events, r->command ? r->command : "");
	}
	if (vis)
		fclose(vis);
}

/* --limit / --offset N: a decimal 0..INT64_MAX (what every backend can bind; -1 or 2^64-1
 * wrapped to "no limit", "no offset" before). 0 or CTR_EUSAGE with @e naming @opt. */
static int page_arg(const char *opt, const char *arg, size_t *out, struct ctr_err *e)
{
	uint64_t v;

	if (ctr_cli_parse_u64(arg, &v) || v > INT64_MAX || v > SIZE_MAX)
		return ctr_err_set(e, CTR_EUSAGE, 0,
				   "bad %s '%s': a whole number 0..9223372036854775807 wanted", opt,
				   arg);
	*out = (size_t)v;
	return 0;
}

static int list_like(int argc, char **argv, const char *name, int with_filters)
{
	static const struct option opts[] = {
	    {"store", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},
	    {"limit", required_argument, NULL, 'l'},
	    {"offset", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    CTR_CLI_FILTER_LONGOPTS,
	    {NULL, 0, NULL, 0},
	};
	struct ctr_kv *meta = calloc((size_t)argc + 1, sizeof(*meta));
	struct ctr_filter f;
	const char *conn = NULL;
	struct ctr_store *s = NULL;
	struct ctr_run **runs = NULL;
	size_t n = 0, limit = 0, offset = 0;
	struct ctr_err e;
	int c, json = 0, ret = 0, r;

	memset(&f, 0, sizeof(f));
	ctr_err_clear(&e);
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:jl:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			conn = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'l':
		case 'o':
			if (page_arg(c == 'l' ? "--limit" : "--offset", optarg,
				     c == 'l' ? &limit : &offset, &e)) {
				ret = ctr_cli_usage(name, "%s", e.msg);
				goto out;
			}
			break;
		case 'h':
			printf("usage: %s [--store CONN] [--json] [--limit N] [--offset N]%s\n\n"
			       "Lists committed runs, newest first.\n%s",
			       name, with_filters ? " [FILTERS]" : "",
			       with_filters ? ctr_cli_filter_help : "");
			goto out;
		default:
			r = with_filters ? ctr_cli_filter_opt(c, optarg, &f, meta, &e) : 0;
			if (r < 0) {
				ret = ctr_cli_usage(name, "%s", e.msg);
				goto out;
			}
			if (!r) {
				ret = ctr_cli_usage(name, "bad option or value%s%s",
						    optarg ? ": " : "", optarg ? optarg : "");
				goto out;
			}
		}
	}
	if (optind < argc) {
		ret = ctr_cli_usage(name, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	r = ctr_cli_open_store_read(conn, NULL, &s, &e);
	if (r == CTR_ENOTFOUND && e.sys_errno == ENOENT) {
		/* no store file: no runs, and nothing created */
		print_runs(NULL, 0, json);
		goto out;
	}
	if (r || ctr_store_list(s, &f, limit, offset, &runs, &n, &e)) {
		ret = ctr_cli_fail(name, &e);
		goto out;
	}
	/* list() returns header fields only: the JSON summary also has each run's metadata */
	for (size_t i = 0; json && i < n; i++)
		if (ctr_store_load_meta(s, runs[i], &e)) {
			ret = ctr_cli_fail(name, &e);
			goto out;
		}
	print_runs(runs, n, json);
out:
	ctr_run_list_free(runs, n);
	ctr_store_close(s);
	for (size_t i = 0; i < f.n_meta; i++)
		free(meta[i].key);
	free(meta);
	return ret;
}

int ctr_cmd_list(int argc, char **argv)
{
	return list_like(argc, argv, "ctrace list", 0);
}

int ctr_cmd_query(int argc, char **argv)
{
	return list_like(argc, argv, "ctrace query", 1);
}

/* ---- delete ------------------------------------------------------------------------- */

int ctr_cmd_delete(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"store", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *conn = NULL;
	struct ctr_store *s = NULL;
	char(*ids)[CTR_RUN_ID_MAX] = NULL;
	size_t n = 0;
	struct ctr_err e;
	int c, ret = 0;

	ctr_err_clear(&e);
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		if (c == 'h') {
			printf("usage: ctrace delete [--store CONN] RUN...\n\n"
			       "Deletes runs (id, unique prefix, latest, latest~N) from the store. "
			       "Every\n"
			       "RUN is resolved first: one that names no run deletes nothing.\n");
			return 0;
		}
		if (c == 's')
			conn = optarg;
		else
			return ctr_cli_usage("ctrace delete", "unknown option");
	}
	if (optind >= argc)
		return ctr_cli_usage("ctrace delete", "no run given");
	if (ctr_cli_open_store(conn, &s, &e))
		return ctr_cli_fail("ctrace delete", &e);
	/* every spec names a run before any is deleted: "latest latest~1" means the two newest,
	 * not the newest and then the newest of what is left */
	ids = calloc((size_t)(argc - optind), sizeof(*ids));
	if (!ids) {
		ctr_err_set(&e, CTR_ENOMEM, 0, "out of memory");
		ret = ctr_cli_fail("ctrace delete", &e);
		goto out;
	}
	for (int i = optind; i < argc; i++) {
		size_t k;

		if (ctr_store_resolve(s, argv[i], ids[n], &e)) {
			ret = ctr_cli_fail("ctrace delete", &e); /* nothing deleted */
			goto out;
		}
		for (k = 0; k < n && strcmp(ids[k], ids[n]); k++)
			;
		n += k == n; /* a run named twice is deleted once */
	}
	for (size_t i = 0; i < n; i++) {
		ctr_err_clear(&e);
		if (ctr_store_remove(s, ids[i], &e)) {
			ret = ctr_cli_fail("ctrace delete", &e);
			continue;
		}
		fprintf(stderr, "ctrace: deleted run %s\n", ids[i]);
	}
out:
	free(ids);
	ctr_store_close(s);
	return ret;
}

/* ---- export / import ---------------------------------------------------------------- */

/* The run's stored timeline index goes with it; without one the server builds it. */
static void copy_aux(struct ctr_store *from, struct ctr_store *to, const char *id)
{
	unsigned char *data = NULL;
	size_t size = 0;
	struct ctr_err e;

	ctr_err_clear(&e);
	if (!ctr_store_load_aux(from, id, "tlindex", &data, &size, &e))
		(void)ctr_store_save_aux(to, id, "tlindex", data, size, &e);
	free(data);
}

static int copy_runs(struct ctr_store *from, struct ctr_store *to, const struct ctr_filter *f,
		     size_t *copied, size_t *skipped, struct ctr_err *e)
{
	struct ctr_run **runs = NULL;
	size_t n = 0;
	int ret = ctr_store_list(from, f, 0, 0, &runs, &n, e);

	for (size_t i = n; ret == 0 && i-- > 0;) { /* oldest first keeps the order */
		struct ctr_run *r = NULL;

		ret = ctr_store_load(from, runs[i]->id, CTR_LOAD_TIMELINE, &r, e);
		if (ret == 0) {
			ret = ctr_store_save(to, r, e);
			if (ret == CTR_EEXIST) {
				ctr_err_clear(e);
				ret = 0;
				(*skipped)++;
			} else if (ret == 0) {
				(*copied)++;
				copy_aux(from, to, r->id);
			}
		}
		ctr_run_free(r);
	}
	ctr_run_list_free(runs, n);
	return ret;
}

int ctr_cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"store", required_argument, NULL, 's'},
	    {"to", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    CTR_CLI_FILTER_LONGOPTS,
	    {NULL, 0, NULL, 0},
	};
	struct ctr_kv *meta = calloc((size_t)argc + 1, sizeof(*meta));
	struct ctr_filter f;
	const char *conn = NULL, *to = NULL;
	struct ctr_store *s = NULL, *d = NULL;
	struct ctr_err e;
	size_t copied = 0, skipped = 0;
	int c, ret = 0, r;

	memset(&f, 0, sizeof(f));
	ctr_err_clear(&e);
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			conn = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case 'h':
			printf("usage: ctrace export [--store CONN] [FILTERS] --to CONN\n\n"
			       "Copies the runs matching FILTERS (all by default) into another "
			       "store,\n"
			       "e.g. --to jsonl:runs.jsonl for archiving. Runs already there are "
			       "skipped.\n%s",
			       ctr_cli_filter_help);
			goto out;
		default:
			if ((r = ctr_cli_filter_opt(c, optarg, &f, meta, &e)) <= 0) {
				ret = ctr_cli_usage("ctrace export", "%s",
						    r ? e.msg : "bad option or value");
				goto out;
			}
		}
	}
	if (!to) {
		ret = ctr_cli_usage("ctrace export",
				    "--to CONN is required (e.g. --to jsonl:runs.jsonl)");
		goto out;
	}
	if (ctr_cli_open_store(conn, &s, &e) || ctr_store_open_ex(&d, to, CTR_STORE_LINK_OK, &e) ||
	    copy_runs(s, d, &f, &copied, &skipped, &e)) {
		ret = ctr_cli_fail("ctrace export", &e);
		goto out;
	}
	fprintf(stderr, "ctrace: exported %zu run(s) to %s%s\n", copied, ctr_store_name(d),
		skipped ? " (some were already there)" : "");
out:
	ctr_store_close(d);
	ctr_store_close(s);
	for (size_t i = 0; i < f.n_meta; i++)
		free(meta[i].key);
	free(meta);
	return ret;
}

int ctr_cmd_import(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"store", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *conn = NULL;
	struct ctr_store *s = NULL, *src = NULL;
	struct ctr_err e;
	size_t copied = 0, skipped = 0;
	int c, ret = 0;

	ctr_err_clear(&e);
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		if (c == 'h') {
			printf(
			    "usage: ctrace import [--store CONN] SOURCE\n\n"
			    "Copies every run of SOURCE (e.g. jsonl:runs.jsonl) into the store;\n"
			    "runs already there are skipped.\n");
			return 0;
		}
		if (c == 's')
			conn = optarg;
		else
			return ctr_cli_usage("ctrace import", "unknown option");
	}
	if (optind != argc - 1)
		return ctr_cli_usage("ctrace import",
				     "give exactly one source store, e.g. jsonl:FILE");
	if (ctr_store_open_ex(&src, argv[optind], CTR_STORE_LINK_OK, &e) ||
	    ctr_cli_open_store(conn, &s, &e) || copy_runs(src, s, NULL, &copied, &skipped, &e)) {
		ret = ctr_cli_fail("ctrace import", &e);
	} else {
		fprintf(stderr, "ctrace: imported %zu run(s)%s\n", copied,
			skipped ? ", skipped the ones already present" : "");
	}
	ctr_store_close(src);
	ctr_store_close(s);
	return ret;
}

/* ---- dump --------------------------------------------------------------------------- */

static const char *ev_name(int type)
{
	switch (type) {
	case CTR_EV_ENTER:
		return "enter";
	case CTR_EV_EXIT:
		return "exit";
	case CTR_EV_INHERIT:
		return "inherit";
	case CTR_EV_SPAN:
		return "span";
	case CTR_EV_ATTR_STR:
		return "attr";
	case CTR_EV_ATTR_INT:
		return "attr";
	case CTR_EV_MARK:
		return "mark";
	case CTR_EV_THREAD_NAME:
		return "name";
	case CTR_EV_LOST:
		return "lost";
	case CTR_EV_COUNT:
		return "count";
	case CTR_EV_TRACER:
		return "tracer";
	case CTR_EV_HIDDEN:
		return "hidden";
	default:
		return "?";
	}
}

/* The rest of a dump line after "PID TID NS TYPE DEPTH": what the event says. */
static void print_event_args(const struct ctr_event *e, const char *name, uint64_t hz)
{
	switch (e->type) {
	case CTR_EV_ENTER:
	case CTR_EV_EXIT:
	case CTR_EV_INHERIT:
		if (e->unmatched)
			printf(" - (unmatched)\n");
		else if (e->ref == UINT64_MAX)
			printf(" - [span]\n");
		else
			printf(" 0x%llx %s\n", (unsigned long long)e->ref, name);
		break;
	case CTR_EV_COUNT:
		printf(" 0x%llx %s x%llu\n", (unsigned long long)e->ref, name,
		       (unsigned long long)e->count);
		break;
	case CTR_EV_LOST:
		printf(" %llu\n", (unsigned long long)e->count);
		break;
	case CTR_EV_TRACER: /* ticks, shown as ns */
		printf(" %.0f\n", (double)e->count * 1e9 / (double)hz);
		break;
	case CTR_EV_HIDDEN:
		printf(" %s x%llu\n", e->ref == CTR_HIDDEN_EXCLUDED ? "excluded" : "deep",
		       (unsigned long long)e->count);
		break;
	case CTR_EV_ATTR_STR:
		printf(" %.*s=%.*s\n", (int)e->len, e->str, (int)e->len2, e->str2);
		break;
	case CTR_EV_ATTR_INT:
		printf(" %.*s=%lld\n", (int)e->len, e->str, (long long)e->ival);
		break;
	default:
		printf(" %.*s\n", (int)e->len, e->str ? e->str : "");
	}
}

int ctr_cmd_dump(int argc, char **argv)
{
	struct ctr_rawrun *r = NULL;
	struct ctr_sym *sym = NULL;
	struct ctr_err e;
	int ret = 0, nosym = 0;

	ctr_err_clear(&e);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: ctrace dump [--no-symbols] RUN_DIR\n\n"
			       "Prints every raw event of a run directory, one per line:\n"
			       "PID TID TIME_NS EVENT DEPTH ADDRESS SYMBOL (TIME_NS from the "
			       "thread's start).\n");
			return 0;
		}
	}
	if (argc >= 2 && !strcmp(argv[1], "--no-symbols")) {
		nosym = 1;
		argv++;
		argc--;
	}
	if (argc != 2)
		return ctr_cli_usage("ctrace dump", "give one run directory");
	if (ctr_rawrun_open(argv[1], &r, &e))
		return ctr_cli_fail("ctrace dump", &e);
	if (!nosym && ctr_sym_open(&sym, &e))
		nosym = 1;
	for (size_t ti = 0; ti < r->n_threads && !ret; ti++) {
		const struct ctr_rawthread *t = &r->threads[ti];
		const struct ctr_rawproc *p = &r->procs[t->proc];
		struct ctr_ev_hdr hdr;
		const void *words;
		size_t size, msize;
		void *map;
		struct ctr_decoder d;
		struct ctr_event ev;
		int first_mod = sym ? ctr_sym_module_count(sym) : 0;

		if (ctr_rawthread_map(t, &hdr, &words, &size, &map, &msize, &e)) {
			ret = ctr_cli_fail("ctrace dump", &e);
			break;
		}
		for (size_t j = 0; sym && j < p->n_mods; j++)
			ctr_sym_add_module(sym, p->mods[j].path, p->mods[j].build_id,
					   p->mods[j].bias, p->mods[j].start, p->mods[j].end, NULL);
		ctr_decoder_init(&d);
		ctr_decoder_set_version(&d, hdr.version, NULL); /* checked by the map */
		ctr_decoder_feed(&d, words, size);
		for (;;) {
			int rc = ctr_decoder_next(&d, &ev, &e);
			double ns;
			const char *name = "";

			if (rc == 0)
				break;
			if (rc < 0) {
				ctr_err_ctx(&e, t->path, r->id,
					    (long long)(hdr.hdr_size + ev.offset));
				ret = ctr_cli_fail("ctrace dump", &e);
				break;
			}
			ns = (double)(int64_t)(ev.time - hdr.start_ticks) * 1e9 /
			     (double)p->ticks_per_sec;
			if (sym &&
			    (ev.type == CTR_EV_ENTER || ev.type == CTR_EV_EXIT ||
			     ev.type == CTR_EV_INHERIT || ev.type == CTR_EV_COUNT) &&
			    ev.ref && ev.ref != UINT64_MAX) {
				struct ctr_sym_info info;

				long m = ctr_rawproc_module_at(p, ev.ref, ev.time);

				if (m >= 0 &&
				    ctr_sym_lookup_in(sym, first_mod + (int)m, ev.ref, &info) == 0)
					name = info.name;
			}
			printf("%d %d %.0f %s %u", (int)t->pid, (int)t->tid, ns < 0 ? 0 : ns,
			       ev_name(ev.type), ev.depth);
			print_event_args(&ev, name, p->ticks_per_sec);
		}
		ctr_decoder_release(&d);
		ctr_rawthread_unmap(map, msize);
	}
	ctr_sym_close(sym);
	ctr_rawrun_free(r);
	return ret;
}
