/* SPDX-License-Identifier: MIT */
/*
 * `ctrace attach [OPTIONS] PID` and `ctrace detach PID`: records a running program built with
 * -finstrument-functions from now on, in the foreground like `ctrace record`, until `ctrace
 * detach PID`, ^C, --duration or the program's exit, then commits the run (attached: true, the
 * window's start and end in its metadata). The ptrace work is in tools/ingest/attach.c, the
 * preload's side in preload/attach.c (docs/attach.md).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../../common/fmt.h"
#include "../../common/options.h"
#include "../../common/runid.h"
#include "../ingest/attach.h"
#include "../ingest/commit.h"
#include "../ingest/drain.h"
#include "../ingest/rundir.h"
#include "cli.h"
#include "cmds.h"
#include "record.h"

static const char *prog = "ctrace attach";

static void attach_usage(FILE *f)
{
	fprintf(
	    f, "usage: ctrace attach [OPTIONS] PID\n"
	       "       ctrace detach PID\n\n"
	       "Loads libctrace.so into the running process PID (built with\n"
	       "-finstrument-functions) with ptrace and records it from now on, in the\n"
	       "foreground, until 'ctrace detach PID' (from another shell), ^C, --duration or\n"
	       "the program's exit; then the process runs on untraced and the run is committed\n"
	       "(metadata attached=true). Exits 0 once the run is committed, 1 when PID cannot\n"
	       "be attached (docs/attach.md).\n\n"
	       "  -d, --dir DIR        parent of the run directory (default $CTRACE_DIR or "
	       "./ctrace.data)\n"
	       "  -s, --store CONN     store to commit into (default $CTRACE_STORE or "
	       "sqlite:./ctrace.db)\n"
	       "  -m, --meta KEY=VAL   user metadata, repeatable\n"
	       "  -n, --no-commit      leave the raw run directory, do not commit\n"
	       "  -k, --keep           commit but keep the raw run directory\n"
	       "      --lib PATH       the preload to load (default: libctrace.so next to ctrace)\n"
	       "      --duration D     detach after D (e.g. 500ms, 10s, 2m)\n"
	       "      --buffer SIZE    each thread's shared ring (default 4M, from 512K)\n"
	       "      --max-size SIZE  keep at most SIZE of events; the rest is counted as lost\n"
	       "      --ring SIZE      flight recorder: keep the last SIZE of events per thread,\n"
	       "                       one snapshot at detach and one per trigger below\n"
	       "      --snapshots N    at most N trigger snapshots (default 10)\n"
	       "\nWhat to record (as for ctrace record):\n");
	for (int i = 0; i < CTR_OPT_N; i++) {
		char line[256];

		if (ctr_opt_defs[i].id == CTR_OPT_START || ctr_opt_defs[i].id == CTR_OPT_SCHED ||
		    ctr_opt_defs[i].id == CTR_OPT_SAMPLE_RATE)
			continue; /* no meaning for one running process */
		ctr_opt_help(&ctr_opt_defs[i], line, sizeof(line));
		fputs(line, f);
	}
	fprintf(f, "  -h, --help           this help\n");
}

struct att_args {
	const char *parent, *conn, *lib_opt;
	char **metas;
	int n_metas, no_commit, keep, flight;
	uint64_t buffer, max_size, duration_ns;
	long snapshots;
	pid_t pid;
};

/* Options into @a and the table's into the environment: -1 to go on, else the exit status. */
static int parse_attach_args(int argc, char **argv, struct att_args *a)
{
	static const struct option opts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"store", required_argument, NULL, 's'},
	    {"meta", required_argument, NULL, 'm'},
	    {"no-commit", no_argument, NULL, 'n'},
	    {"keep", no_argument, NULL, 'k'},
	    {"lib", required_argument, NULL, 'L'},
	    {"duration", required_argument, NULL, 1000},
	    {"buffer", required_argument, NULL, 'B'},
	    {"max-size", required_argument, NULL, 'X'},
	    {"ring", required_argument, NULL, 'R'},
	    {"snapshots", required_argument, NULL, 'S'},
	    {"help", no_argument, NULL, 'h'},
#define OPT_LONG_(id, env, lng, sh, key, kind, mn, mx, arg, help)                                  \
	{lng, (kind) == CTR_OPT_FLAG ? no_argument : required_argument, NULL,                      \
	 CTR_OPT_GETOPT_VAL(sh, CTR_OPT_##id)},
	    CTR_OPTIONS(OPT_LONG_)
#undef OPT_LONG_
		{NULL, 0, NULL, 0},
	};
	char shorts[64] = "+d:s:m:nkh";
	char *end;
	int c;

	ctr_record_opt_shorts(shorts);
	optind = 1;
	while ((c = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
		const struct ctr_opt_def *od = ctr_record_opt_of(c);

		if (od) {
			if (od->id == CTR_OPT_START || od->id == CTR_OPT_SCHED ||
			    od->id == CTR_OPT_SAMPLE_RATE)
				return ctr_cli_usage(prog, "--%s has no meaning for attach",
						     od->lng);
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
				return ctr_cli_usage(prog, "--meta wants KEY=VALUE");
			a->metas[a->n_metas++] = optarg;
			break;
		case 'n':
			a->no_commit = 1;
			break;
		case 'k':
			a->keep = 1;
			break;
		case 'L':
			a->lib_opt = optarg;
			break;
		case 1000: /* --duration (not a short option: -D is --depth) */
			if (ctr_parse_duration(optarg, &a->duration_ns) || !a->duration_ns)
				return ctr_cli_usage(prog, "--duration wants a duration, got '%s'",
						     optarg);
			break;
		case 'B':
		case 'R':
			if (ctr_parse_size(optarg, &a->buffer) || a->buffer < 512 * 1024 ||
			    a->buffer > (4ull << 30))
				return ctr_cli_usage(prog,
						     "--%s wants a size from 512K to 4G, got '%s'",
						     c == 'B' ? "buffer" : "ring", optarg);
			a->flight |= c == 'R';
			break;
		case 'S':
			a->snapshots = strtol(optarg, &end, 10);
			if (*end || end == optarg || a->snapshots < 0 || a->snapshots > 1000000)
				return ctr_cli_usage(prog, "--snapshots wants 0..1000000, got '%s'",
						     optarg);
			break;
		case 'X':
			if (ctr_parse_size(optarg, &a->max_size) || a->max_size < 4096)
				return ctr_cli_usage(
				    prog, "--max-size wants a size of at least 4K, got '%s'",
				    optarg);
			break;
		case 'h':
			attach_usage(stdout);
			return CTR_EXIT_OK;
		default:
			return ctr_cli_usage(prog, "unknown option");
		}
	}
	if (optind != argc - 1)
		return ctr_cli_usage(prog, "one PID wanted: ctrace attach [OPTIONS] PID");
	a->pid = (pid_t)strtol(argv[optind], &end, 10);
	if (*end || end == argv[optind] || a->pid <= 0)
		return ctr_cli_usage(prog, "PID wants a process id, got '%s'", argv[optind]);
	if (!a->flight && ((getenv("CTRACE_TRIGGER") && *getenv("CTRACE_TRIGGER")) ||
			   (getenv("CTRACE_TRIGGER_SLOWER") && *getenv("CTRACE_TRIGGER_SLOWER"))))
		return ctr_cli_usage(prog, "--trigger and --trigger-slower need --ring");
	if (a->max_size && a->flight)
		return ctr_cli_usage(prog, "--max-size and --ring do not go together");
	return ctr_record_check_env(prog) ? CTR_EXIT_USAGE : -1;
}

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* The target's command line, NUL-separated, as an argv (static storage). */
static char **target_argv(pid_t pid)
{
	static char buf[65536];
	static char *av[1024];
	char path[64];
	int fd, n = 0, k = 0;
	ssize_t r;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		while (n < (int)sizeof(buf) - 1 &&
		       (r = read(fd, buf + n, sizeof(buf) - 1 - (size_t)n)) > 0)
			n += (int)r;
		close(fd);
	}
	buf[n] = 0;
	for (char *p = buf; p < buf + n && k < 1023; p += strlen(p) + 1)
		av[k++] = p;
	if (!k)
		av[k++] = "?";
	av[k] = NULL;
	return av;
}

/* The configuration text the preload reads instead of its environment (preload/attach.c). */
static char *make_conf(const char *dir, const struct att_args *a)
{
	size_t cap = 65536, n = 0;
	char *t = malloc(cap);

	if (!t)
		return NULL;
	n += (size_t)snprintf(t + n, cap - n, "CTRACE_RUN_DIR=%s\nCTRACE_DRAIN=%d:%llu%s\n", dir,
			      (int)getpid(), (unsigned long long)(a->buffer / 1024),
			      a->flight ? ":flight" : "");
	for (int i = 0; i < CTR_OPT_N && n < cap; i++) {
		const char *v = getenv(ctr_opt_defs[i].env);

		if (v && *v && !strchr(v, '\n'))
			n += (size_t)snprintf(t + n, cap - n, "%s=%s\n", ctr_opt_defs[i].env, v);
	}
	{
		static const char *extra[] = {"CTRACE_TSC_HZ",	  "CTRACE_CLOCK_MONOTONIC",
					      "CTRACE_WINDOW_KB", "CTRACE_LOG",
					      "CTRACE_LOG_FILE",  "CTRACE_META",
					      "CTRACE_OVERHEAD"};

		for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]) && n < cap; i++) {
			const char *v = getenv(extra[i]);

			if (v && *v && !strchr(v, '\n'))
				n += (size_t)snprintf(t + n, cap - n, "%s=%s\n", extra[i], v);
		}
	}
	if (n >= cap) {
		free(t);
		return NULL;
	}
	return t;
}

static int64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A flight-recorder snapshot asked for by the program (--trigger*): a run of its own. */
static void attach_snapshot(const struct att_args *a, struct ctr_drain *d, const char *from,
			    const char *of, const struct ctr_snap_req *rq, long nth);

/* Answers the snapshot requests the rings hold: the first --snapshots taken (*@taken counts
 * them), the others acknowledged only. */
static void take_requests(const struct att_args *a, struct ctr_drain *d, const char *dir,
			  const char *id, long *taken)
{
	struct ctr_snap_req rq;

	while (a->flight && ctr_drain_next_request(d, &rq)) {
		if (*taken < a->snapshots)
			attach_snapshot(a, d, dir, id, &rq, ++*taken);
		else
			ctr_drain_ack(d, &rq);
	}
}

/* Drains while the window is open: until a stop is asked, the duration is over or the process
 * ends (@pidfd readable). Returns 1 when the process ended. */
static int watch(const struct att_args *a, struct ctr_drain *d, const char *dir, const char *id,
		 int pidfd, struct ctr_err *e)
{
	int64_t end = a->duration_ns ? mono_ns() + (int64_t)a->duration_ns : INT64_MAX;
	long taken = 0;

	while (!stop_requested && mono_ns() < end) {
		struct pollfd p = {.fd = pidfd, .events = POLLIN};

		ctr_drain_pass(d, 0, e);
		take_requests(a, d, dir, id, &taken);
		if (pidfd >= 0 && poll(&p, 1, a->flight ? 20 : 2) > 0)
			return 1;
		if (pidfd < 0 && kill(a->pid, 0) != 0 && errno == ESRCH)
			return 1;
	}
	/* a trigger the program reached before the stop is still a snapshot: a busy machine may
	 * have let the stop (ctrace detach right after the slow call) come first */
	ctr_drain_pass(d, 0, e);
	take_requests(a, d, dir, id, &taken);
	return 0;
}

/* Between two tries of the detach: rings drained and snapshot requests answered (not taken),
 * so that a thread waiting for either leaves the recorder. */
static void keep_draining(void *arg)
{
	struct ctr_drain *d = arg;
	struct ctr_snap_req rq;
	struct ctr_err e;

	ctr_err_clear(&e);
	ctr_drain_pass(d, 0, &e);
	while (ctr_drain_next_request(d, &rq))
		ctr_drain_ack(d, &rq);
}

/* Commits @dir (or says where it is with --no-commit). */
static int commit_attached(const struct att_args *a, const char *dir, const char *id,
			   struct ctr_err *e)
{
	struct ctr_store *s = NULL;
	struct ctr_commit_opts co = {.keep = a->keep, .progress = 1, .cut_running = 1};
	char cid[CTR_RUN_ID_MAX];
	int ret = 0;

	if (a->no_commit) {
		fprintf(stderr, "ctrace: run %s recorded in '%s' (not committed)\n", id, dir);
		return 0;
	}
	if (ctr_cli_open_store(a->conn, &s, e) != 0 || ctr_cli_commit(s, dir, &co, cid, e) != 0) {
		ret = ctr_cli_fail(prog, e);
		if (e->code == CTR_ENOEVENTS)
			ctr_remove_run_dir(dir);
		else
			fprintf(stderr, "ctrace: the raw run is kept in '%s'\n", dir);
	} else {
		fprintf(stderr, "ctrace: run %s committed to %s\n", cid, ctr_store_name(s));
	}
	ctr_store_close(s);
	return ret;
}

static void attach_snapshot(const struct att_args *a, struct ctr_drain *d, const char *from,
			    const char *of, const struct ctr_snap_req *rq, long nth)
{
	char dir[PATH_MAX], id[64];
	struct ctr_err e;

	ctr_err_clear(&e);
	if (ctr_record_create_run_dir(a->parent, "attach", target_argv(a->pid), a->metas,
				      a->n_metas, dir, sizeof(dir), id, sizeof(id), &e) != 0) {
		ctr_drain_ack(d, rq);
		ctr_cli_fail(prog, &e);
		return;
	}
	ctr_record_copy_proc_files(from, dir);
	ctr_drain_snapshot(d, dir, &e);
	ctr_drain_ack(d, rq);
	ctr_record_append_meta(dir,
			       "root_pid=%d\nsnapshot=%ld\nsnapshot_reason=%s\nsnapshot_of=%s\n"
			       "meta.attached=true\n",
			       (int)rq->pid, nth, rq->reason, of);
	fprintf(stderr, "ctrace: snapshot %ld (%s, thread %d):\n", nth, rq->reason, (int)rq->tid);
	commit_attached(a, dir, id, &e);
}

/* Threads of @pid now (@dflt when /proc cannot say). */
static int count_threads(pid_t pid, int dflt)
{
	char path[64];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if (!(d = opendir(path)))
		return dflt;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The run directory, its drainer and the injection; then the window; then the end. */
static int attach_run(struct att_args *a, const char *lib, struct ctr_err *e)
{
	struct ctr_attach_info info;
	struct ctr_attach_stats st0, st1;
	struct ctr_attach_syms syms = {0, 0};
	struct ctr_drain *d = NULL;
	struct ctr_drain_opts dopts = {.max_size = a->max_size, .flight = a->flight};
	struct sigaction sa;
	char dir[PATH_MAX], id[64], *conf = NULL, *abs;
	int pidfd = -1, ended, ret;
	int64_t t_start, t_end;

	if ((ret = ctr_attach_check(a->pid, lib, &info, e)) != 0)
		return ctr_cli_fail(prog, e);
	if ((ret = ctr_record_create_run_dir(a->parent, "attach", target_argv(a->pid), a->metas,
					     a->n_metas, dir, sizeof(dir), id, sizeof(id), e)))
		return ctr_cli_fail(prog, e);
	if ((abs = realpath(dir, NULL))) {
		snprintf(dir, sizeof(dir), "%s", abs);
		free(abs);
	}
	if (ctr_drain_open(dir, &dopts, &d, e) != 0) {
		ret = ctr_cli_fail(prog, e);
		ctr_remove_run_dir(dir);
		return ret;
	}
	ctr_record_append_meta(dir, "drainer_pid=%d\nbuffer_bytes=%llu\n", (int)getpid(),
			       (unsigned long long)a->buffer);
	if (a->max_size)
		ctr_record_append_meta(dir, "option.max_size=%llu\n",
				       (unsigned long long)a->max_size);
	if (a->flight)
		ctr_record_append_meta(dir, "option.ring=%llu\n", (unsigned long long)a->buffer);
	if (!(conf = make_conf(dir, a))) {
		ret = ctr_cli_fail(prog, e);
		goto fail;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	pidfd = (int)syscall(SYS_pidfd_open, a->pid, 0);
	t_start = real_ns();
	if (ctr_attach_start(a->pid, lib, conf, &syms, &st0, e) != 0) {
		ret = ctr_cli_fail(prog, e);
		goto fail;
	}
	fprintf(stderr, "ctrace: attached to %d (%d threads)\n", (int)a->pid,
		count_threads(a->pid, info.n_threads));
	ended = watch(a, d, dir, id, pidfd, e);
	if (!ended && ctr_attach_stop(a->pid, lib, &syms, keep_draining, d, &st1, e) != 0) {
		if (e->code != CTR_ENOTFOUND)
			ctr_cli_fail(prog, e);
		ctr_err_clear(e);
	} else if (ended) {
		memset(&st1, 0, sizeof(st1));
	}
	t_end = real_ns();
	if (a->flight) {
		ctr_drain_pass(d, 0, e);
		if (ctr_drain_snapshot(d, dir, e) < 0)
			ctr_cli_fail(prog, e);
		ctr_record_append_meta(dir, "snapshot=1\nsnapshot_reason=%s\n",
				       ended ? "exit" : "detach");
	}
	ctr_drain_pass(d, 1, e);
	{
		struct ctr_drain_stats ds;

		ctr_drain_get_stats(d, &ds);
		if (ds.over_max)
			fprintf(stderr,
				"ctrace: --max-size reached: %llu events not kept (counted as "
				"lost)\n",
				(unsigned long long)ds.lost_events);
	}
	ctr_drain_close(d);
	d = NULL;
	ctr_record_append_meta(dir,
			       "root_pid=%d\nend_real_ns=%lld\nmeta.attached=true\n"
			       "meta.attach.start_real_ns=%lld\nmeta.attach.end_real_ns=%lld\n"
			       "meta.attach.end=%s\nattach_stop_ns=%lld\nattach_stop_cpu_ns=%lld\n"
			       "detach_stop_ns=%lld\n",
			       (int)a->pid, (long long)t_end, (long long)t_start, (long long)t_end,
			       ended ? "exit" : "detach", (long long)st0.stop_ns,
			       (long long)st0.cpu_ns, (long long)st1.stop_ns);
	fprintf(stderr, "ctrace: detached from %d%s\n", (int)a->pid, ended ? " (it exited)" : "");
	ret = commit_attached(a, dir, id, e);
	free(conf);
	if (pidfd >= 0)
		close(pidfd);
	return ret;
fail:
	ctr_drain_close(d);
	ctr_remove_run_dir(dir);
	free(conf);
	if (pidfd >= 0)
		close(pidfd);
	return ret;
}

int ctr_cmd_attach(int argc, char **argv)
{
	struct att_args a = {.parent = getenv("CTRACE_DIR"), .buffer = 4u << 20, .snapshots = 10};
	char lib[PATH_MAX];
	struct ctr_err e;
	pid_t holder;
	int ret, lock;

	ctr_err_clear(&e);
	if (!(a.metas = calloc((size_t)argc + 1, sizeof(char *))))
		return CTR_EXIT_ERROR;
	if ((ret = parse_attach_args(argc, argv, &a)) >= 0)
		goto out;
	if (!a.parent || !*a.parent)
		a.parent = "ctrace.data";
	if (a.lib_opt)
		snprintf(lib, sizeof(lib), "%s", a.lib_opt);
	else if (ctr_record_find_lib(lib, sizeof(lib)) != 0) {
		ctr_err_set(&e, CTR_ENOTFOUND, 0,
			    "cannot find libctrace.so next to ctrace (--lib)");
		ret = ctr_cli_fail(prog, &e);
		goto out;
	}
	{
		char *real = realpath(lib, NULL); /* the target resolves it from its own cwd */

		if (real) {
			snprintf(lib, sizeof(lib), "%s", real);
			free(real);
		}
	}
	if (kill(a.pid, 0) != 0 && errno == ESRCH) {
		ctr_err_set(&e, CTR_ENOTFOUND, ESRCH, "no process %d", (int)a.pid);
		ret = ctr_cli_fail(prog, &e);
		goto out;
	}
	if ((lock = ctr_attach_lock(a.pid, &holder, &e)) < 0) {
		ret = ctr_cli_fail(prog, &e);
		goto out;
	}
	ret = attach_run(&a, lib, &e);
	ctr_attach_unlock(a.pid, lock);
out:
	free(a.metas);
	return ret;
}

int ctr_cmd_detach(int argc, char **argv)
{
	struct ctr_err e;
	char *end;
	pid_t pid;
	int holder;
	int64_t deadline;

	ctr_err_clear(&e);
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		attach_usage(stdout);
		return CTR_EXIT_OK;
	}
	if (argc != 2)
		return ctr_cli_usage("ctrace detach", "one PID wanted: ctrace detach PID");
	pid = (pid_t)strtol(argv[1], &end, 10);
	if (*end || end == argv[1] || pid <= 0)
		return ctr_cli_usage("ctrace detach", "PID wants a process id, got '%s'", argv[1]);
	if ((holder = ctr_attach_holder(pid, &e)) < 0)
		return ctr_cli_fail("ctrace detach", &e);
	if (kill(holder, SIGTERM) != 0) {
		ctr_err_set(&e, CTR_EPERM, errno, "cannot signal ctrace attach %d: %s", holder,
			    strerror(errno));
		return ctr_cli_fail("ctrace detach", &e);
	}
	/* done when the attach has detached, drained and committed: its lock is gone */
	deadline = mono_ns() + 600LL * 1000000000LL;
	while (ctr_attach_holder(pid, NULL) > 0 && mono_ns() < deadline) {
		struct timespec ts = {0, 2000000};

		nanosleep(&ts, NULL);
	}
	return CTR_EXIT_OK;
}
