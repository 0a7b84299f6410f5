/* SPDX-License-Identifier: MIT */
/*
 * `ctrace record [options] -- PROG ARGS`: creates the run directory, runs PROG with the preload
 * (prepended to any LD_PRELOAD), passes the standard streams through, then commits the run and
 * exits with PROG's own status (128+N when PROG died by signal N).
 */
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/runid.h"
#include "../ingest/commit.h"
#include "cli.h"
#include "cmds.h"

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
	    "      --lib PATH       the preload to use (default: libctrace.so next to ctrace)\n"
	    "\nWhat to record (each also as an environment variable for plain LD_PRELOAD use):\n"
	    "  -F, --filter GLOB    only functions matching GLOB and what they call "
	    "(CTRACE_FILTER)\n"
	    "  -N, --exclude GLOB   never record functions matching GLOB (CTRACE_EXCLUDE)\n"
	    "      --module GLOB    only functions of objects whose path matches (CTRACE_MODULE)\n"
	    "  -D, --depth N        only calls at most N deep (CTRACE_DEPTH)\n"
	    "  -t, --min-duration D drop calls shorter than D (e.g. 10us), keep their counts\n"
	    "                       (CTRACE_MIN_DURATION)\n"
	    "      --sample N       record 1 in N calls of each function, count all "
	    "(CTRACE_SAMPLE)\n"
	    "      --sample-rate P  record the process with probability P (CTRACE_SAMPLE_RATE)\n"
	    "      --start on|off   start recording or dormant; switch with 'ctrace ctl PID on'\n"
	    "                       (CTRACE_START)\n"
	    "  Function globs match mangled and demangled names; repeat an option to add one.\n"
	    "  -h, --help           this help\n");
}

static int find_lib(char *out, size_t n)
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
static int create_run_dir(const char *parent, char **argv, char **metas, int n_metas, char *dir,
			  size_t dirsz, char *id, size_t idsz, struct ctr_err *e)
{
	struct timespec ts;
	char host[256] = "", cwd[PATH_MAX] = "";
	struct stat st;
	int fd;
	FILE *f;

	if (mkdir(parent, 0700) != 0 && errno != EEXIST)
		return ctr_err_set(e, CTR_EIO, errno, "cannot create trace directory '%s': %s",
				   parent, strerror(errno));
	if (lstat(parent, &st) != 0 || !S_ISDIR(st.st_mode))
		return ctr_err_set(e, CTR_EIO, ELOOP,
				   "trace directory '%s' is a symlink or not a directory: refusing",
				   parent);
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
	fprintf(f, "created_by=record\n");
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

static void append_meta(const char *dir, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void append_meta(const char *dir, const char *fmt, ...)
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

/* Turns a recording option into its CTRACE_* variable, checking the value; repeated globs
 * accumulate, separated by ';'. Returns 0 or prints a usage error and returns 2. */
static int set_option(int c, const char *v)
{
	static const struct {
		int c;
		const char *env, *flag;
	} map[] = {{'F', "CTRACE_FILTER", "--filter"},
		   {'N', "CTRACE_EXCLUDE", "--exclude"},
		   {'O', "CTRACE_MODULE", "--module"},
		   {'D', "CTRACE_DEPTH", "--depth"},
		   {'t', "CTRACE_MIN_DURATION", "--min-duration"},
		   {'S', "CTRACE_SAMPLE", "--sample"},
		   {'P', "CTRACE_SAMPLE_RATE", "--sample-rate"},
		   {'W', "CTRACE_START", "--start"}};
	char *end, buf[32];
	uint64_t ns;

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (map[i].c != c)
			continue;
		switch (c) {
		case 'D':
		case 'S': {
			long n = strtol(v, &end, 10);

			if (*end || n < 1 || n > 1000000000)
				return ctr_cli_usage(prog, "%s wants a positive number, got '%s'",
						     map[i].flag, v);
			break;
		}
		case 'P': {
			double p = strtod(v, &end);

			if (*end || end == v || p < 0 || p > 1)
				return ctr_cli_usage(prog, "--sample-rate wants 0..1, got '%s'", v);
			break;
		}
		case 't':
			if (ctr_parse_duration(v, &ns))
				return ctr_cli_usage(
				    prog, "--min-duration wants a duration like 10us, got '%s'", v);
			snprintf(buf, sizeof(buf), "%lluns", (unsigned long long)ns);
			v = buf;
			break;
		case 'W':
			if (strcmp(v, "on") && strcmp(v, "off"))
				return ctr_cli_usage(prog, "--start wants on or off, got '%s'", v);
			break;
		default:
			if (!*v || strchr(v, ';'))
				return ctr_cli_usage(prog, "%s wants a glob without ';', got '%s'",
						     map[i].flag, v);
		}
		if ((c == 'F' || c == 'N' || c == 'O') && getenv(map[i].env) &&
		    *getenv(map[i].env)) {
			size_t n = strlen(getenv(map[i].env)) + strlen(v) + 2;
			char *joined = malloc(n);

			if (!joined)
				return CTR_EXIT_ERROR;
			snprintf(joined, n, "%s;%s", getenv(map[i].env), v);
			setenv(map[i].env, joined, 1);
			free(joined);
		} else {
			setenv(map[i].env, v, 1);
		}
		return 0;
	}
	return ctr_cli_usage(prog, "unknown option");
}

static void write_options(FILE *f)
{
	static const char *const envs[][2] = {
	    {"CTRACE_FILTER", "filter"},
	    {"CTRACE_EXCLUDE", "exclude"},
	    {"CTRACE_MODULE", "module"},
	    {"CTRACE_DEPTH", "depth"},
	    {"CTRACE_MIN_DURATION", "min_duration"},
	    {"CTRACE_SAMPLE", "sample"},
	    {"CTRACE_SAMPLE_RATE", "sample_rate"},
	    {"CTRACE_START", "start"},
	};

	for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
		const char *v = getenv(envs[i][0]);
		char key[64];

		if (v && *v) {
			snprintf(key, sizeof(key), "option.%s", envs[i][1]);
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

int ctr_cmd_record(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"store", required_argument, NULL, 's'},
	    {"meta", required_argument, NULL, 'm'},
	    {"no-commit", no_argument, NULL, 'n'},
	    {"keep", no_argument, NULL, 'k'},
	    {"lib", required_argument, NULL, 'L'},
	    {"help", no_argument, NULL, 'h'},
	    {"filter", required_argument, NULL, 'F'},
	    {"exclude", required_argument, NULL, 'N'},
	    {"module", required_argument, NULL, 'O'},
	    {"depth", required_argument, NULL, 'D'},
	    {"min-duration", required_argument, NULL, 't'},
	    {"sample", required_argument, NULL, 'S'},
	    {"sample-rate", required_argument, NULL, 'P'},
	    {"start", required_argument, NULL, 'W'},
	    {NULL, 0, NULL, 0},
	};
	const char *parent = getenv("CTRACE_DIR"), *conn = NULL, *lib_opt = NULL;
	char **metas = calloc((size_t)argc + 1, sizeof(char *));
	int n_metas = 0, no_commit = 0, keep = 0, c, status, ret;
	char lib[PATH_MAX], dir[PATH_MAX], id[64], *preload = NULL;
	struct ctr_err e;
	struct sigaction sa, old_int, old_term, old_hup, old_quit;
	pid_t pid;
	int errpipe[2];

	ctr_err_clear(&e);
	if (!metas)
		return CTR_EXIT_ERROR;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+d:s:m:nkhF:N:D:t:", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			parent = optarg;
			break;
		case 's':
			conn = optarg;
			break;
		case 'm':
			if (!strchr(optarg, '=') || optarg[0] == '=') {
				ret =
				    ctr_cli_usage(prog, "--meta wants KEY=VALUE, got '%s'", optarg);
				goto out;
			}
			metas[n_metas++] = optarg;
			break;
		case 'n':
			no_commit = 1;
			break;
		case 'k':
			keep = 1;
			break;
		case 'L':
			lib_opt = optarg;
			break;
		case 'F':
		case 'N':
		case 'O':
		case 'D':
		case 't':
		case 'S':
		case 'P':
		case 'W':
			if (set_option(c, optarg)) {
				ret = CTR_EXIT_USAGE;
				goto out;
			}
			break;
		case 'h':
			record_usage(stdout);
			ret = CTR_EXIT_OK;
			goto out;
		default:
			ret = ctr_cli_usage(prog, "unknown option");
			goto out;
		}
	}
	if (optind >= argc) {
		ret =
		    ctr_cli_usage(prog, "no program given: ctrace record [OPTIONS] -- PROG [ARGS]");
		goto out;
	}
	if (!parent || !*parent)
		parent = "ctrace.data";
	if (lib_opt)
		snprintf(lib, sizeof(lib), "%s", lib_opt);
	else if (find_lib(lib, sizeof(lib)) != 0) {
		ctr_err_set(&e, CTR_ENOTFOUND, 0,
			    "cannot find libctrace.so next to ctrace (use --lib)");
		ret = ctr_cli_fail(prog, &e);
		goto out;
	}
	if (access(lib, R_OK) != 0) {
		ctr_err_set(&e, CTR_ENOTFOUND, errno, "cannot read preload '%s': %s", lib,
			    strerror(errno));
		ret = ctr_cli_fail(prog, &e);
		goto out;
	}
	if (create_run_dir(parent, argv + optind, metas, n_metas, dir, sizeof(dir), id, sizeof(id),
			   &e)) {
		ret = ctr_cli_fail(prog, &e);
		goto out;
	}
	{
		/* absolute: the program and its children may change directory before they exec */
		char *abs = realpath(dir, NULL);

		if (abs) {
			snprintf(dir, sizeof(dir), "%s", abs);
			free(abs);
		}
	}
	{
		const char *old = getenv("LD_PRELOAD");
		size_t n = strlen(lib) + (old ? strlen(old) : 0) + 2;

		preload = malloc(n);
		if (!preload) {
			ret = CTR_EXIT_ERROR;
			goto out;
		}
		snprintf(preload, n, "%s%s%s", lib, old && *old ? ":" : "", old ? old : "");
	}
	if (pipe2(errpipe, O_CLOEXEC) != 0) {
		ctr_err_set(&e, CTR_EIO, errno, "cannot create a pipe: %s", strerror(errno));
		ret = ctr_cli_fail(prog, &e);
		goto out;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		ctr_err_set(&e, CTR_EIO, errno, "cannot fork: %s", strerror(errno));
		ret = ctr_cli_fail(prog, &e);
		goto out;
	}
	if (pid == 0) {
		int err;

		close(errpipe[0]);
		setenv("LD_PRELOAD", preload, 1);
		setenv("CTRACE_RUN_DIR", dir, 1);
		execvp(argv[optind], argv + optind);
		err = errno;
		if (write(errpipe[1], &err, sizeof(err)) < 0)
			(void)0;
		_exit(127);
	}
	close(errpipe[1]);
	child_pid = pid;
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
	{
		int err = 0;
		ssize_t r = read(errpipe[0], &err, sizeof(err));

		close(errpipe[0]);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		sigaction(SIGTERM, &old_term, NULL);
		sigaction(SIGHUP, &old_hup, NULL);
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGQUIT, &old_quit, NULL);
		if (r == (ssize_t)sizeof(err)) {
			char rm[PATH_MAX + 32];

			ctr_err_set(&e, err == ENOENT ? CTR_ENOTFOUND : CTR_EIO, err,
				    "cannot run '%s': %s", argv[optind], strerror(err));
			snprintf(rm, sizeof(rm), "%s/run.meta", dir);
			unlink(rm);
			rmdir(dir);
			ctr_cli_fail(prog, &e);
			ret = err == ENOENT ? 127 : 126;
			goto out;
		}
	}
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		if (WIFSIGNALED(status))
			append_meta(dir, "signal=%d\nend_real_ns=%lld\nroot_pid=%d\n",
				    WTERMSIG(status),
				    (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, (int)pid);
		else
			append_meta(dir, "exit_status=%d\nend_real_ns=%lld\nroot_pid=%d\n",
				    WEXITSTATUS(status),
				    (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, (int)pid);
	}
	ret = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
	if (no_commit) {
		fprintf(stderr, "ctrace: run %s recorded in '%s' (not committed)\n", id, dir);
	} else {
		struct ctr_store *s = NULL;
		struct ctr_commit_opts co = {.keep = keep, .progress = 1};
		char cid[CTR_RUN_ID_MAX];

		if (ctr_cli_open_store(conn, &s, &e) != 0 ||
		    ctr_commit_dir(s, dir, &co, cid, &e) != 0) {
			ctr_cli_fail(prog, &e);
			if (e.code == CTR_ENOEVENTS)
				ctr_remove_run_dir(dir);
			else
				fprintf(stderr, "ctrace: the raw run is kept in '%s'\n", dir);
		} else {
			fprintf(stderr, "ctrace: run %s committed to %s\n", cid, ctr_store_name(s));
		}
		ctr_store_close(s);
	}
out:
	free(preload);
	free(metas);
	return ret;
}
