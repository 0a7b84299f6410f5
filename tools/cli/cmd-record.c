/* SPDX-License-Identifier: MIT */
/*
 * `ctrace record [options] -- PROG ARGS`: creates the run directory, runs PROG with the preload
 * (prepended to any LD_PRELOAD), passes the standard streams through, then commits the run and
 * exits with PROG's own status (128+N when PROG died by signal N).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../common/fmt.h"
#include "../../common/options.h"
#include "../../common/runid.h"
#include "../ingest/commit.h"
#include "../ingest/drain.h"
#include "../ingest/rundir.h"
#include "../ingest/sched.h"
#include "cli.h"
#include "cmds.h"
#include "record.h"

static const char *prog = "ctrace record";

static void record_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: ctrace record [OPTIONS] [--] PROG [ARGS...]\n\n"
	    "Runs PROG (compiled with -finstrument-functions -g, e.g. via ctrace-cc) under\n"
	    "libctrace.so, then commits the run into the store and prints its id on stderr.\n"
	    "Exits with PROG's status (128+N if PROG died by signal N).\n\n"
	    "  -d, --dir DIR        parent of the run directory (default $CTRACE_DIR or "
	    "./ctrace.data)\n"
	    "  -s, --store CONN     store to commit into (default $CTRACE_STORE or "
	    "sqlite:./ctrace.db)\n"
	    "  -m, --meta KEY=VAL   user metadata, repeatable (also $CTRACE_META=k=v,k2=v2)\n"
	    "  -n, --no-commit      leave the raw run directory, do not commit\n"
	    "  -k, --keep           commit but keep the raw run directory\n"
	    "      --keep-preempted with --sched: keep calls more than half preempted or waiting\n"
	    "                       for the recorder in min/max/percentiles (default: left out\n"
	    "                       and counted; also $CTRACE_KEEP_PREEMPTED=1)\n"
	    "      --lib PATH       the preload to use (default: libctrace.so next to ctrace)\n"
	    "      --buffer SIZE    each thread's shared ring, drained by this process (default\n"
	    "                       4M; 0: threads write their event files directly)\n"
	    "      --max-size SIZE  keep at most SIZE of events in the run; the rest is counted\n"
	    "                       as lost (e.g. 500M, 2G)\n"
	    "\nFlight recorder (each thread keeps only its latest events; snapshots are runs):\n"
	    "      --ring SIZE      keep the last SIZE of events per thread (e.g. 1M, 64M);\n"
	    "                       a snapshot is committed at exit or crash, on 'ctrace ctl PID\n"
	    "                       snapshot' and on the triggers below\n"
	    "      --snapshots N    at most N snapshots besides the one at exit (default 10)\n"
	    "\nWhat to record (each also as an environment variable for plain LD_PRELOAD use):\n");
	for (int i = 0; i < CTR_OPT_N; i++) {
		char line[256];

		ctr_opt_help(&ctr_opt_defs[i], line, sizeof(line));
		fputs(line, f);
	}
	fprintf(f,
		"  Function globs match mangled and demangled names; repeat an option to add one.\n"
		"  -h, --help           this help\n");
}

int ctr_record_find_lib(char *out, size_t n)
{
	char self[PATH_MAX], *slash;
	ssize_t r = readlink("/proc/self/exe", self, sizeof(self) - 1);
	const char *cands[] = {"libctrace.so", "../lib/libctrace.so", "../build/libctrace.so"};

	if (getenv("CTRACE_LIB") && access(getenv("CTRACE_LIB"), R_OK) == 0) {
		snprintf(out, n, "%s", getenv("CTRACE_LIB"));
		return 0;
	}
	if (r <= 0)
		return -1;
	self[r] = 0;
	slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = 0;
	for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
		if ((size_t)snprintf(out, n, "%s/%s", self, cands[i]) >= n)
			continue;
		if (access(out, R_OK) == 0) {
			char *real = realpath(out, NULL);

			if (real) {
				snprintf(out, n, "%s", real);
				free(real);
			}
			return 0;
		}
	}
	return -1;
}

static void meta_write(FILE *f, const char *key, const char *val)
{
	fprintf(f, "%s=", key);
	for (const char *p = val; *p; p++) {
		if (*p == '\\' || *p == '\n')
			fprintf(f, "\\%c", *p == '\n' ? 'n' : '\\');
		else
			fputc(*p, f);
	}
	fputc('\n', f);
}

static void write_options(FILE *f);

/* Creates PARENT/ID (0700, no symlink following) and its run.meta. */
int ctr_record_create_run_dir(const char *parent, const char *by, char **argv, char **metas,
			      int n_metas, char *dir, size_t dirsz, char *id, size_t idsz,
			      struct ctr_err *e)
{
	struct timespec ts;
	char host[256] = "", cwd[PATH_MAX] = "";
	int fd;
	FILE *f;

	if (mkdir(parent, 0700) != 0 && errno != EEXIST)
		return ctr_err_set(e, CTR_EIO, errno, "cannot create trace directory '%s': %s",
				   parent, strerror(errno));
	/* a ./ctrace.data another user made (or can write) could have our run swapped */
	if ((fd = ctr_rundir_check_parent(parent, e)))
		return fd;
	for (int tries = 0;; tries++) {
		ctr_run_id_make(id, idsz);
		snprintf(dir, dirsz, "%s/%s", parent, id);
		if (mkdir(dir, 0700) == 0)
			break;
		if (errno != EEXIST || tries > 20)
			return ctr_err_set(e, CTR_EIO, errno,
					   "cannot create run directory '%s': %s", dir,
					   strerror(errno));
	}
	{
		char path[PATH_MAX + 16];

		snprintf(path, sizeof(path), "%s/run.meta", dir);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 || !(f = fdopen(fd, "w"))) {
			if (fd >= 0)
				close(fd);
			return ctr_err_set(e, CTR_EIO, errno, "cannot create '%s': %s", path,
					   strerror(errno));
		}
	}
	gethostname(host, sizeof(host) - 1);
	if (!getcwd(cwd, sizeof(cwd)))
		cwd[0] = 0;
	fprintf(f, "ctrace-run 1\n");
	meta_write(f, "id", id);
	fprintf(f, "root_pid=0\n");
	{
		char cmd[8192] = "";
		size_t n = 0;

		for (char **a = argv; *a; a++) {
			meta_write(f, "arg", *a);
			n += (size_t)snprintf(cmd + n, n < sizeof(cmd) ? sizeof(cmd) - n : 0,
					      "%s%s", a == argv ? "" : " ", *a);
			if (n >= sizeof(cmd))
				n = sizeof(cmd) - 1;
		}
		meta_write(f, "command", cmd);
	}
	meta_write(f, "host", host);
	meta_write(f, "cwd", cwd);
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(f, "start_real_ns=%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	fprintf(f, "created_by=%s\n", by);
	if (getenv("CTRACE_META") && *getenv("CTRACE_META"))
		meta_write(f, "meta", getenv("CTRACE_META"));
	write_options(f);
	for (int i = 0; i < n_metas; i++) {
		char key[256];
		const char *eq = strchr(metas[i], '=');

		snprintf(key, sizeof(key), "meta.%.*s", (int)(eq - metas[i]), metas[i]);
		meta_write(f, key, eq + 1);
	}
	if (fclose(f) != 0)
		return ctr_err_set(e, CTR_EIO, errno, "cannot write run metadata in '%s': %s", dir,
				   strerror(errno));
	return 0;
}

void ctr_record_append_meta(const char *dir, const char *fmt, ...)
{
	char path[PATH_MAX + 16];
	va_list ap;
	int fd;
	FILE *f;

	snprintf(path, sizeof(path), "%s/run.meta", dir);
	fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !(f = fdopen(fd, "a"))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
}

/* Turns recording option @d into its CTRACE_* variable, checking the value against the one
 * table (common/options.h); repeated globs accumulate, separated by ';'. Returns 0 or prints a
 * usage error and returns 2. */
int ctr_record_set_option(const char *who, const struct ctr_opt_def *d, const char *v)
{
	struct ctr_opt_val val;
	char why[256], buf[32];
	const char *old = getenv(d->env);

	if (ctr_opt_parse(d, v, &val, why, sizeof(why)) != 0)
		return ctr_cli_usage(who, "--%s %s", d->lng, why);
	if (d->kind == CTR_OPT_GLOBS && strchr(v, ';'))
		return ctr_cli_usage(who, "--%s wants a glob without ';', got '%s'", d->lng, v);
	if (d->kind == CTR_OPT_DURATION) {
		snprintf(buf, sizeof(buf), "%lluns", (unsigned long long)val.u);
		v = buf;
	}
	if ((d->kind == CTR_OPT_GLOBS || d->kind == CTR_OPT_OPT_GLOBS) && old && *old) {
		size_t n = strlen(old) + strlen(v) + 2;
		char *joined = malloc(n);

		if (!joined)
			return CTR_EXIT_ERROR;
		snprintf(joined, n, "%s;%s", old, v);
		setenv(d->env, joined, 1);
		free(joined);
	} else {
		setenv(d->env, v, 1);
	}
	return 0;
}

void ctr_record_opt_shorts(char *shorts)
{
	for (int i = 0, n = (int)strlen(shorts); i < CTR_OPT_N; i++) {
		if (ctr_opt_defs[i].sh) {
			shorts[n++] = (char)ctr_opt_defs[i].sh;
			shorts[n++] = ':';
			shorts[n] = 0;
		}
	}
}

const struct ctr_opt_def *ctr_record_opt_of(int c)
{
	for (int i = 0; i < CTR_OPT_N; i++)
		if (c == CTR_OPT_GETOPT_VAL(ctr_opt_defs[i].sh, i))
			return &ctr_opt_defs[i];
	return NULL;
}

const char *ctr_record_opt_value(const struct ctr_opt_def *d, const char *arg)
{
	if (d->kind == CTR_OPT_FLAG)
		return "on";
	return d->kind == CTR_OPT_OPT_GLOBS && !arg ? "*" : arg;
}

int ctr_record_check_env(const char *who)
{
	for (int i = 0; i < CTR_OPT_N; i++) {
		const struct ctr_opt_def *d = &ctr_opt_defs[i];
		const char *v = getenv(d->env);
		struct ctr_opt_val val;
		char why[256];

		if (v && *v && ctr_opt_parse(d, v, &val, why, sizeof(why)) != 0)
			return ctr_cli_usage(who, "%s %s", d->env, why);
	}
	return 0;
}

static void write_options(FILE *f)
{
	for (int i = 0; i < CTR_OPT_N; i++) {
		const char *v = getenv(ctr_opt_defs[i].env);
		char key[64];

		if (v && *v) {
			snprintf(key, sizeof(key), "option.%s", ctr_opt_defs[i].key);
			meta_write(f, key, v);
		}
	}
}

static volatile pid_t child_pid;

static void forward(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
}

/* What the command line asked for. */
struct rec_args {
	const char *parent, *conn, *lib_opt;
	char **metas; /* KEY=VALUE, borrowed from argv */
	int n_metas, no_commit, keep, keep_preempted;
	uint64_t buffer;   /* bytes of each thread's shared ring; 0: direct event files */
	uint64_t max_size; /* bytes of events kept; 0: no bound */
	int flight;	   /* --ring: the rings are a flight recorder of buffer bytes */
	int sched;	   /* --sched: context switches into sched.raw */
	long snapshots;	   /* --snapshots */
	char **prog_argv;  /* the program and its arguments */
};

/* --sched (or CTRACE_SCHED=on inherited) into @a: -1 to go on, or a usage error's status. */
static int check_sched(struct rec_args *a)
{
	a->sched = getenv("CTRACE_SCHED") && !strcmp(getenv("CTRACE_SCHED"), "on");
	if (a->sched && a->flight)
		return ctr_cli_usage(prog, "--sched and --ring do not go together (snapshots "
					   "carry no context switches)");
	return -1;
}

/* Parses the options into @a and the table's options into the environment. Returns -1 to go
 * on, else the exit status (0 after --help, 2 on a usage error). */
static int parse_record_args(int argc, char **argv, struct rec_args *a)
{
	static const struct option opts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"store", required_argument, NULL, 's'},
	    {"meta", required_argument, NULL, 'm'},
	    {"no-commit", no_argument, NULL, 'n'},
	    {"keep", no_argument, NULL, 'k'},
	    {"keep-preempted", no_argument, NULL, 'P'},
	    {"lib", required_argument, NULL, 'L'},
	    {"buffer", required_argument, NULL, 'B'},
	    {"max-size", required_argument, NULL, 'X'},
	    {"ring", required_argument, NULL, 'R'},
	    {"snapshots", required_argument, NULL, 'S'},
	    {"help", no_argument, NULL, 'h'},
#define OPT_LONG_(id, env, lng, sh, key, kind, mn, mx, arg, help)                                  \
	{lng,                                                                                      \
	 (kind) == CTR_OPT_FLAG	       ? no_argument                                               \
	 : (kind) == CTR_OPT_OPT_GLOBS ? optional_argument                                         \
				       : required_argument,                                        \
	 NULL, CTR_OPT_GETOPT_VAL(sh, CTR_OPT_##id)},
	    CTR_OPTIONS(OPT_LONG_)
#undef OPT_LONG_
		{NULL, 0, NULL, 0},
	};
	char shorts[64] = "+d:s:m:nkh";
	int c;

	ctr_record_opt_shorts(shorts);
	optind = 1;
	while ((c = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
		const struct ctr_opt_def *od = ctr_record_opt_of(c);

		if (od) {
			if (ctr_record_set_option(prog, od, ctr_record_opt_value(od, optarg)))
				return CTR_EXIT_USAGE;
			continue;
		}
		switch (c) {
		case 'd':
			a->parent = optarg;
			break;
		case 's':
			a->conn = optarg;
			break;
		case 'm':
			if (!strchr(optarg, '=') ||
			    !ctr_meta_key_valid(optarg, (size_t)(strchr(optarg, '=') - optarg)))
				return ctr_cli_usage(
				    prog, "--meta wants KEY=VALUE with a KEY that is not "
					  "empty and holds no control character");
			a->metas[a->n_metas++] = optarg;
			break;
		case 'n':
			a->no_commit = 1;
			break;
		case 'k':
			a->keep = 1;
			break;
		case 'P':
			a->keep_preempted = 1;
			break;
		case 'L':
			a->lib_opt = optarg;
			break;
		case 'B':
			if (ctr_parse_size(optarg, &a->buffer) ||
			    (a->buffer && (a->buffer < 512 * 1024 || a->buffer > (4ull << 30))))
				return ctr_cli_usage(prog,
						     "--buffer wants 0 or a size from 512K to 4G, "
						     "got '%s'",
						     optarg);
			break;
		case 'R':
			if (ctr_parse_size(optarg, &a->buffer) || a->buffer < 512 * 1024 ||
			    a->buffer > (4ull << 30))
				return ctr_cli_usage(
				    prog, "--ring wants a size from 512K to 4G, got '%s'", optarg);
			a->flight = 1;
			break;
		case 'S': {
			char *end;

			a->snapshots = strtol(optarg, &end, 10);
			if (*end || end == optarg || a->snapshots < 0 || a->snapshots > 1000000)
				return ctr_cli_usage(prog, "--snapshots wants 0..1000000, got '%s'",
						     optarg);
			break;
		}
		case 'X':
			if (ctr_parse_size(optarg, &a->max_size) || a->max_size < 4096)
				return ctr_cli_usage(
				    prog, "--max-size wants a size of at least 4K, got '%s'",
				    optarg);
			break;
		case 'h':
			record_usage(stdout);
			return CTR_EXIT_OK;
		default:
			return ctr_cli_usage(prog, "unknown option");
		}
	}
	if (optind >= argc)
		return ctr_cli_usage(prog,
				     "no program given: ctrace record [OPTIONS] -- PROG [ARGS]");
	if (a->max_size && !a->buffer)
		return ctr_cli_usage(prog, "--max-size needs the shared rings (--buffer not 0)");
	if (!a->flight && ((getenv("CTRACE_TRIGGER") && *getenv("CTRACE_TRIGGER")) ||
			   (getenv("CTRACE_TRIGGER_SLOWER") && *getenv("CTRACE_TRIGGER_SLOWER"))))
		return ctr_cli_usage(prog, "--trigger and --trigger-slower need --ring");
	if (a->max_size && a->flight)
		return ctr_cli_usage(prog, "--max-size and --ring do not go together (a flight "
					   "recorder is bounded by --ring)");
	a->prog_argv = argv + optind;
	return ctr_record_check_env(prog) ? CTR_EXIT_USAGE : check_sched(a);
}

/* The preload to use (--lib, or the one beside ctrace) into @lib. 0 or a CTR_E* code. */
static int resolve_lib(const struct rec_args *a, char *lib, size_t n, struct ctr_err *e)
{
	if (a->lib_opt)
		snprintf(lib, n, "%s", a->lib_opt);
	else if (ctr_record_find_lib(lib, n) != 0)
		return ctr_err_set(e, CTR_ENOTFOUND, 0,
				   "cannot find libctrace.so next to ctrace (use --lib)");
	if (access(lib, R_OK) != 0)
		return ctr_err_set(e, CTR_ENOTFOUND, errno, "cannot read preload '%s': %s", lib,
				   strerror(errno));
	return 0;
}

/* A recording in progress: what the supervisor needs to take flight-recorder snapshots. */
struct rec_ctx {
	const struct rec_args *a;
	const char *dir, *id; /* the run directory and its id */
	struct ctr_drain *d;
	struct ctr_sched *sched; /* --sched: the context-switch events, NULL when off */
	long taken;		 /* snapshots taken besides the last */
};

static void commit_run(const struct rec_args *a, const char *dir, const char *id,
		       struct ctr_err *e);

/* Copies @name (a process's metadata, module map or crash file) from run @from into @to. */
static int copy_run_file(const char *from, const char *to, const char *name)
{
	char src[PATH_MAX + 256], dst[PATH_MAX + 256], buf[65536];
	int in, out, ret = -1;
	ssize_t n;

	snprintf(src, sizeof(src), "%s/%s", from, name);
	snprintf(dst, sizeof(dst), "%s/%s", to, name);
	if ((in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -1;
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	while (out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			goto out;
	ret = out >= 0 && n == 0 ? 0 : -1;
out:
	close(in);
	if (out >= 0 && close(out) != 0)
		ret = -1;
	return ret;
}

void ctr_record_copy_proc_files(const char *from, const char *to)
{
	DIR *dd;
	struct dirent *de;

	if ((dd = opendir(from))) {
		while ((de = readdir(dd)))
			if (!strncmp(de->d_name, "p-", 2))
				copy_run_file(from, to, de->d_name);
		closedir(dd);
	}
}

/* A flight-recorder snapshot on request @rq: a run directory of its own beside the recording
 * (its processes' files as they are now, every ring's events), committed like any run. */
static void take_snapshot(struct rec_ctx *x, const struct ctr_snap_req *rq)
{
	char dir[PATH_MAX], id[64];
	struct ctr_err e;
	int n;

	ctr_err_clear(&e);
	if (ctr_record_create_run_dir(x->a->parent, "record", x->a->prog_argv, x->a->metas,
				      x->a->n_metas, dir, sizeof(dir), id, sizeof(id), &e) != 0) {
		ctr_cli_fail(prog, &e);
		return;
	}
	ctr_record_copy_proc_files(x->dir, dir);
	n = ctr_drain_snapshot(x->d, dir, &e);
	ctr_drain_ack(x->d, rq); /* a thread waiting for it may go on */
	x->taken++;
	ctr_record_append_meta(dir,
			       "root_pid=%d\nsnapshot=%ld\nsnapshot_reason=%s\nsnapshot_of=%s\n",
			       (int)rq->pid, x->taken, rq->reason, x->id);
	if (n < 0) {
		ctr_cli_fail(prog, &e);
		return;
	}
	fprintf(stderr, "ctrace: snapshot %ld (%s, thread %d):\n", x->taken, rq->reason,
		(int)rq->tid);
	commit_run(x->a, dir, id, &e);
}

/* The flight recorder's supervisor: takes the snapshots asked for while @pid runs, then the
 * last one into the run directory itself. */
static void supervise_flight(struct rec_ctx *x, pid_t pid, int *status, struct ctr_err *e)
{
	struct ctr_snap_req rq;

	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);

		if (w == pid || (w < 0 && errno != EINTR))
			break;
		ctr_drain_pass(x->d, 0, e);
		while (ctr_drain_next_request(x->d, &rq)) {
			if (x->taken < x->a->snapshots)
				take_snapshot(x, &rq);
			else
				ctr_drain_ack(x->d, &rq);
		}
		ctr_drain_wait(x->d, 20);
	}
	ctr_drain_pass(x->d, 0, e); /* requests made just before the end are still taken */
	while (ctr_drain_next_request(x->d, &rq))
		if (x->taken < x->a->snapshots)
			take_snapshot(x, &rq);
	if (ctr_drain_snapshot(x->d, x->dir, e) < 0)
		ctr_cli_fail(prog, e);
	ctr_drain_pass(x->d, 1, e);
}

/* Drains the shared rings of @dir while process @pid runs (@d NULL: just waits), then once
 * more to the end. The nap between passes follows the event rate: it doubles (to 5 ms) after a
 * pass that found nothing, stays after one that found some, and halves (to 100 us) after one
 * that found more than a quarter of a ring (@ring_bytes): each wake-up copies a few chunks,
 * and no ring fills between two. Fewer wake-ups are fewer preemptions of the program's
 * threads on a machine without a spare core. */
static void supervise(struct ctr_drain *d, struct ctr_sched *sc, pid_t pid, int *status,
		      uint64_t ring_bytes, struct ctr_err *e)
{
	long nap_us = 200;

	for (;;) {
		pid_t w = waitpid(pid, status, d || sc ? WNOHANG : 0);

		if (w == pid || (w < 0 && errno != EINTR))
			break;
		if ((!d && !sc) || w < 0)
			continue;
		int64_t got = ctr_sched_drain(sc) * 32; /* about the bytes of its ring */

		if (d)
			got += ctr_drain_pass(d, 0, e);

		if (got > (int64_t)(ring_bytes / 4) && nap_us > 100)
			nap_us /= 2;
		else if (got == 0 && nap_us < 5000)
			nap_us *= 2;
		struct timespec ts = {0, nap_us * 1000};

		nanosleep(&ts, NULL);
	}
	if (d)
		ctr_drain_pass(d, 1, e);
}

/* Runs the program with @preload and the run directory @dir in its environment, forwarding
 * SIGTERM/SIGHUP and leaving ^C / ^\ to it, and waits for it (*@status, *@pid), draining the
 * shared rings of its threads with @d meanwhile (when not NULL). Returns -1 when it ran, else
 * the exit status for a program that could not be started (127, 126, 1). */
static int run_program(char **pargv, const char *preload, const char *dir, struct ctr_drain *d,
		       struct rec_ctx *x, int *status, pid_t *pid, struct ctr_err *e)
{
	char drain_env[64], sched_env[32];

	struct sigaction sa, old_int, old_term, old_hup, old_quit;
	int errpipe[2], gopipe[2] = {-1, -1}, err = 0;
	ssize_t r;

	if (pipe2(errpipe, O_CLOEXEC) != 0) {
		ctr_err_set(e, CTR_EIO, errno, "cannot create a pipe: %s", strerror(errno));
		return ctr_cli_fail(prog, e);
	}
	if (x->a->sched && pipe2(gopipe, O_CLOEXEC) != 0) {
		ctr_err_set(e, CTR_EIO, errno, "cannot create a pipe: %s", strerror(errno));
		close(errpipe[0]);
		close(errpipe[1]);
		return ctr_cli_fail(prog, e);
	}
	snprintf(sched_env, sizeof(sched_env), "%d", (int)getpid());
	snprintf(drain_env, sizeof(drain_env), "%d:%llu%s", (int)getpid(),
		 (unsigned long long)(x->a->buffer / 1024), x->a->flight ? ":flight" : "");
	fflush(NULL);
	*pid = fork();
	if (*pid < 0) {
		ctr_err_set(e, CTR_EIO, errno, "cannot fork: %s", strerror(errno));
		close(errpipe[0]);
		close(errpipe[1]);
		if (gopipe[0] >= 0) {
			close(gopipe[0]);
			close(gopipe[1]);
		}
		return ctr_cli_fail(prog, e);
	}
	if (*pid == 0) {
		close(errpipe[0]);
		if (gopipe[0] >= 0) { /* the recorder attaches its events before the exec */
			char c;

			close(gopipe[1]);
			setenv("CTRACE_SCHED_BY", sched_env, 1);
			while (read(gopipe[0], &c, 1) < 0 && errno == EINTR)
				;
		}
		setenv("LD_PRELOAD", preload, 1);
		setenv("CTRACE_RUN_DIR", dir, 1);
		if (d)
			setenv("CTRACE_DRAIN", drain_env, 1);
		else
			unsetenv("CTRACE_DRAIN");
		execvp(pargv[0], pargv);
		err = errno;
		if (write(errpipe[1], &err, sizeof(err)) < 0)
			(void)0;
		_exit(127);
	}
	close(errpipe[1]);
	if (gopipe[0] >= 0) {
		struct ctr_err se;

		ctr_err_clear(&se);
		close(gopipe[0]);
		if (ctr_sched_open(dir, *pid, &x->sched, &se) != 0) {
			fprintf(stderr,
				"ctrace: note: --sched: %s; recording without off-CPU time\n",
				se.msg);
			ctr_record_append_meta(dir, "sched_error=%s\n", se.msg);
		}
		close(gopipe[1]); /* the child goes on to its exec */
	}
	child_pid = *pid;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	/* the terminal sends ^C / ^\ to the whole group: let the child decide */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGQUIT, &sa, &old_quit);
	r = read(errpipe[0], &err, sizeof(err));
	close(errpipe[0]);
	if (x->a->flight)
		supervise_flight(x, *pid, status, e);
	else
		supervise(d, x->sched, *pid, status, x->a->buffer ? x->a->buffer : 256 * 1024, e);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	if (r == (ssize_t)sizeof(err)) {
		char rm[PATH_MAX + 32];

		ctr_err_set(e, err == ENOENT ? CTR_ENOTFOUND : CTR_EIO, err, "cannot run '%s': %s",
			    pargv[0], strerror(err));
		ctr_sched_close(x->sched, NULL, NULL);
		x->sched = NULL;
		snprintf(rm, sizeof(rm), "%s/%s", dir, CTR_SCHED_FILE);
		unlink(rm);
		snprintf(rm, sizeof(rm), "%s/run.meta", dir);
		unlink(rm);
		rmdir(dir);
		ctr_cli_fail(prog, e);
		return err == ENOENT ? 127 : 126;
	}
	return -1;
}

/* Commits the recorded run @dir (or says where it is with --no-commit). */
static void commit_run(const struct rec_args *a, const char *dir, const char *id, struct ctr_err *e)
{
	struct ctr_store *s = NULL;
	/* the program ended: a daemon it left running is cut, not waited for */
	struct ctr_commit_opts co = {
	    .keep = a->keep, .progress = 1, .cut_running = 1, .keep_preempted = a->keep_preempted};
	char cid[CTR_RUN_ID_MAX];

	if (a->no_commit) {
		fprintf(stderr, "ctrace: run %s recorded in '%s' (not committed)\n", id, dir);
		return;
	}
	if (ctr_cli_open_store(a->conn, &s, e) != 0 || ctr_cli_commit(s, dir, &co, cid, e) != 0) {
		ctr_cli_fail(prog, e);
		if (e->code == CTR_ENOEVENTS)
			ctr_remove_run_dir(dir);
		else
			fprintf(stderr, "ctrace: the raw run is kept in '%s'\n", dir);
	} else {
		fprintf(stderr, "ctrace: run %s committed to %s\n", cid, ctr_store_name(s));
	}
	ctr_store_close(s);
}

int ctr_cmd_record(int argc, char **argv)
{
	struct rec_args a = {.parent = getenv("CTRACE_DIR"), .buffer = 4u << 20, .snapshots = 10};
	struct rec_ctx x = {.a = &a};
	struct ctr_drain *d = NULL;
	struct rusage ru0, ru1;
	char lib[PATH_MAX], dir[PATH_MAX], id[64], *preload = NULL, *abs;
	const char *old;
	struct timespec ts;
	struct ctr_err e;
	int status = 0, ret;
	pid_t pid = 0;
	size_t n;

	ctr_err_clear(&e);
	if (!(a.metas = calloc((size_t)argc + 1, sizeof(char *))))
		return CTR_EXIT_ERROR;
	if ((ret = parse_record_args(argc, argv, &a)) >= 0)
		goto out;
	if (!a.parent || !*a.parent)
		a.parent = "ctrace.data";
	if (resolve_lib(&a, lib, sizeof(lib), &e) ||
	    ctr_record_create_run_dir(a.parent, "record", a.prog_argv, a.metas, a.n_metas, dir,
				      sizeof(dir), id, sizeof(id), &e)) {
		ret = ctr_cli_fail(prog, &e);
		goto out;
	}
	/* absolute: the program and its children may change directory before they exec */
	if ((abs = realpath(dir, NULL))) {
		snprintf(dir, sizeof(dir), "%s", abs);
		free(abs);
	}
	old = getenv("LD_PRELOAD");
	n = strlen(lib) + (old ? strlen(old) : 0) + 2;
	if (!(preload = malloc(n))) {
		ret = CTR_EXIT_ERROR;
		goto out;
	}
	snprintf(preload, n, "%s%s%s", lib, old && *old ? ":" : "", old ? old : "");
	if (a.buffer) {
		struct ctr_drain_opts dopts = {.max_size = a.max_size, .flight = a.flight};

		if (ctr_drain_open(dir, &dopts, &d, &e) != 0) {
			ret = ctr_cli_fail(prog, &e);
			goto out;
		}
		ctr_record_append_meta(dir, "drainer_pid=%d\nbuffer_bytes=%llu\n", (int)getpid(),
				       (unsigned long long)a.buffer);
		if (a.max_size)
			ctr_record_append_meta(dir, "option.max_size=%llu\n",
					       (unsigned long long)a.max_size);
	}
	getrusage(RUSAGE_SELF, &ru0);
	x.dir = dir;
	x.id = id;
	x.d = d;
	if (a.flight)
		ctr_record_append_meta(dir, "option.ring=%llu\n", (unsigned long long)a.buffer);
	if ((ret = run_program(a.prog_argv, preload, dir, d, &x, &status, &pid, &e)) >= 0)
		goto out;
	getrusage(RUSAGE_SELF, &ru1);
	if (d) {
		struct ctr_drain_stats st;

		ctr_drain_get_stats(d, &st);
		/* the recorder's own CPU time: moved off the program's threads, not free */
		ctr_record_append_meta(dir,
				       "drain_cpu_ns=%lld\ndrain_bytes=%llu\ndrain_waits=%llu\n"
				       "drain_lost_events=%llu\n",
				       (long long)((ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec +
						    ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) *
						       1000000000LL +
						   (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec +
						    ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) *
						       1000LL),
				       (unsigned long long)st.bytes, (unsigned long long)st.waits,
				       (unsigned long long)st.lost_events);
		if (st.over_max)
			fprintf(stderr,
				"ctrace: --max-size reached: %llu events not kept (counted as "
				"lost)\n",
				(unsigned long long)st.lost_events);
		ctr_drain_close(d);
		d = NULL;
	}
	if (x.sched) {
		uint64_t nrec, nlost;

		ctr_sched_close(x.sched, &nrec, &nlost);
		x.sched = NULL;
		ctr_record_append_meta(dir, "sched_records=%llu\nsched_lost=%llu\n",
				       (unsigned long long)nrec, (unsigned long long)nlost);
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	if (WIFSIGNALED(status))
		ctr_record_append_meta(dir, "signal=%d\nend_real_ns=%lld\nroot_pid=%d\n",
				       WTERMSIG(status),
				       (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, (int)pid);
	else
		ctr_record_append_meta(dir, "exit_status=%d\nend_real_ns=%lld\nroot_pid=%d\n",
				       WEXITSTATUS(status),
				       (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, (int)pid);
	ret = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
	if (a.flight) {
		ctr_record_append_meta(dir, "snapshot=%ld\nsnapshot_reason=%s\n", x.taken + 1,
				       !WIFSIGNALED(status) ? "exit" : "signal");
		fprintf(stderr, "ctrace: snapshot %ld (at the end):\n", x.taken + 1);
	}
	commit_run(&a, dir, id, &e);
out:
	ctr_drain_close(d);
	ctr_sched_close(x.sched, NULL, NULL);
	free(preload);
	free(a.metas);
	return ret;
}
