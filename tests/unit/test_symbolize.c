/* SPDX-License-Identifier: MIT */
/*
 * Tests of the symbolizer (tools/symbolize.c). Each test builds fixture programs from
 * tests/fixtures/sym/ into a fresh temporary directory with the system compiler, runs them once
 * (they print the addresses -finstrument-functions passes for named functions, and their module
 * map as the preload records it), then checks ctr_sym_lookup() against exact names, file
 * basenames and the line of each "@fn LABEL" marker in the fixture sources.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "scratch.h"
#include "tools/ingest/symbolize.h"

#define FX_MAX_FN 20000
#define FX_MAX_MOD 64

struct fx_fn {
	char label[64];
	uint64_t addr;
};

struct fx_mod {
	uint64_t bias, start, end;
	char bid[132];
	char path[PATH_MAX];
};

struct fx_out {
	struct fx_fn *fn;
	int n_fn;
	struct fx_mod mod[FX_MAX_MOD];
	int n_mod;
};

static char src_dir[PATH_MAX]; /* tests/fixtures/sym, absolute */
static char tmp[PATH_MAX];     /* this test's build directory */

/* Compiler flags of every fixture: the hook in report.h must be visible to the libraries. */
#define FX_CFLAGS "-O0 -finstrument-functions -I'%s'"
#define FX_EXPORT                                                                                  \
	"-Wl,--export-dynamic-symbol=__cyg_profile_func_enter "                                    \
	"-Wl,--export-dynamic-symbol=__cyg_profile_func_exit"

static void setup(void)
{
	char cwd[PATH_MAX - 32], probe[PATH_MAX + 64];
	const char *t = getenv("TMPDIR");

	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	/* Tests run from the repository root; walk up in case they are not. */
	for (;;) {
		snprintf(probe, sizeof(probe), "%s/tests/fixtures/sym/report.h", cwd);
		if (access(probe, R_OK) == 0)
			break;
		char *slash = strrchr(cwd, '/');
		cr_assert(slash && slash != cwd, "cannot find tests/fixtures/sym from the cwd");
		*slash = '\0';
	}
	snprintf(src_dir, sizeof(src_dir), "%s/tests/fixtures/sym", cwd);
	snprintf(tmp, sizeof(tmp), "%s/ctrace-sym-XXXXXX", t && *t ? t : "/tmp");
	cr_assert_not_null(mkdtemp(tmp));
}

static void teardown(void)
{
	char cmd[PATH_MAX + 32];

	if (tmp[0] && !getenv("CTRACE_TEST_KEEP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tmp);
	}
}

TestSuite(symbolize, .init = setup, .fini = teardown, .timeout = 120);

/* Runs a shell command in the test directory; fails the test when it fails. */
__attribute__((format(printf, 1, 2))) static void sh(const char *fmt, ...)
{
	char cmd[8192];
	size_t n;
	va_list ap;
	int rc;

	n = (size_t)snprintf(cmd, sizeof(cmd), "cd '%s' && ", tmp);
	va_start(ap, fmt);
	vsnprintf(cmd + n, sizeof(cmd) - n, fmt, ap);
	va_end(ap);
	rc = system(cmd);
	cr_assert_eq(rc, 0, "command failed (%d): %s", rc, cmd);
}

/* Runs fixture command @cmd in the test directory and parses what it prints. */
static void run_fixture(struct fx_out *o, const char *cmd)
{
	char line[PATH_MAX + 512], full[8192];
	FILE *p;

	memset(o, 0, sizeof(*o));
	o->fn = calloc(FX_MAX_FN, sizeof(*o->fn));
	cr_assert_not_null(o->fn);
	snprintf(full, sizeof(full), "cd '%s' && %s", tmp, cmd);
	p = popen(full, "r");
	cr_assert_not_null(p);
	while (fgets(line, sizeof(line), p)) {
		struct fx_mod *m = &o->mod[o->n_mod];
		struct fx_fn *f = &o->fn[o->n_fn];

		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "fn ", 3)) {
			cr_assert_lt(o->n_fn, FX_MAX_FN);
			cr_assert_eq(sscanf(line, "fn %63s %" SCNx64, f->label, &f->addr), 2,
				     "bad line '%s'", line);
			o->n_fn++;
		} else if (!strncmp(line, "mod ", 4)) {
			cr_assert_lt(o->n_mod, FX_MAX_MOD);
			int k = sscanf(line, "mod %" SCNx64 " %" SCNx64 " %" SCNx64 " %131s %4095s",
				       &m->bias, &m->start, &m->end, m->bid, m->path);

			cr_assert_eq(k, 5, "bad line '%s'", line);
			if (!strcmp(m->bid, "-"))
				m->bid[0] = '\0';
			o->n_mod++;
		}
	}
	cr_assert_eq(pclose(p), 0, "fixture failed: %s", cmd);
	cr_assert_gt(o->n_mod, 0, "no module map from %s", cmd);
}

static void fx_free(struct fx_out *o)
{
	free(o->fn);
	o->fn = NULL;
}

static uint64_t fn_addr(const struct fx_out *o, const char *label)
{
	for (int i = 0; i < o->n_fn; i++)
		if (!strcmp(o->fn[i].label, label))
			return o->fn[i].addr;
	cr_assert_fail("fixture did not report '%s'", label);
	return 0;
}

/* Index of the module whose path ends with "/@base". */
static int mod_index(const struct fx_out *o, const char *base)
{
	for (int i = 0; i < o->n_mod; i++) {
		const char *sl = strrchr(o->mod[i].path, '/');

		if (sl && !strcmp(sl + 1, base))
			return i;
	}
	cr_assert_fail("no module '%s' in the map", base);
	return -1;
}

/* Opens a symbolizer holding every module of @o, in order (so indices match). */
static struct ctr_sym *sym_with(const struct fx_out *o, const char *debug_path)
{
	struct ctr_sym *s = NULL;
	struct ctr_err e;

	ctr_err_clear(&e);
	cr_assert_eq(ctr_sym_open(&s, &e), 0, "%s", e.msg);
	if (debug_path)
		cr_assert_eq(ctr_sym_set_debug_path(s, debug_path, &e), 0);
	for (int i = 0; i < o->n_mod; i++) {
		const struct fx_mod *m = &o->mod[i];

		cr_assert_eq(ctr_sym_add_module(s, m->path, m->bid, m->bias, m->start, m->end, &e),
			     i, "%s", e.msg);
	}
	cr_assert_eq(ctr_sym_module_count(s), o->n_mod);
	return s;
}

/* Line of the "@fn LABEL" marker in fixture source @src. */
static unsigned marker_line(const char *src, const char *label)
{
	char path[PATH_MAX + 64], line[1024], tag[128];
	unsigned n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", src_dir, src);
	snprintf(tag, sizeof(tag), "@fn %s", label);
	f = fopen(path, "r");
	cr_assert_not_null(f, "cannot open %s", path);
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, tag);

		n++;
		if (p && !isalnum((unsigned char)p[strlen(tag)]) && p[strlen(tag)] != '_') {
			fclose(f);
			return n;
		}
	}
	fclose(f);
	cr_assert_fail("no marker '%s' in %s", tag, src);
	return 0;
}

static const char *base_of(const char *path)
{
	const char *sl = strrchr(path, '/');

	return sl ? sl + 1 : path;
}

/* Checks that the function @label of @o resolves to @name (and @linkage when not NULL) in
 * module @module, defined in @src at its marker line (@src NULL: no file and line). */
static void expect(struct ctr_sym *s, const struct fx_out *o, const char *label, int module,
		   const char *name, const char *linkage, const char *src, const char *mark)
{
	uint64_t addr = fn_addr(o, label);
	struct ctr_sym_info in;
	int rc = ctr_sym_lookup(s, addr, &in);

	cr_assert_eq(rc, 0, "%s: lookup of 0x%" PRIx64 " returned %d", label, addr, rc);
	cr_assert_eq(in.module, module, "%s: module %d, expected %d", label, in.module, module);
	cr_assert_eq(in.offset, addr - o->mod[module].bias, "%s: offset", label);
	cr_assert_str_eq(in.name, name, "%s: name '%s', expected '%s'", label, in.name, name);
	if (linkage)
		cr_assert_str_eq(in.linkage_name, linkage, "%s: linkage '%s', expected '%s'", label,
				 in.linkage_name, linkage);
	if (!src) {
		cr_assert_str_eq(in.file, "", "%s: file '%s'", label, in.file);
		cr_assert_eq(in.line, 0, "%s: line %u", label, in.line);
		return;
	}
	cr_assert_str_eq(base_of(in.file), src, "%s: file '%s', expected '%s'", label, in.file,
			 src);
	cr_assert_eq(in.file[0], '/', "%s: file '%s' is not absolute", label, in.file);
	cr_assert_eq(in.line, marker_line(src, mark ? mark : label), "%s: line %u, expected %u",
		     label, in.line, marker_line(src, mark ? mark : label));
}

/* Checks that @label of @o stays unresolved, attributed to module @module. */
static void expect_unresolved(struct ctr_sym *s, const struct fx_out *o, const char *label,
			      int module)
{
	uint64_t addr = fn_addr(o, label);
	struct ctr_sym_info in;

	cr_assert_eq(ctr_sym_lookup(s, addr, &in), CTR_ENOTFOUND, "%s resolved to '%s'", label,
		     in.name ? in.name : "(null)");
	cr_assert_eq(in.module, module);
	cr_assert_eq(in.offset, addr - o->mod[module].bias);
	cr_assert_null(in.name);
	cr_assert_null(in.linkage_name);
	cr_assert_str_eq(in.file, "");
	cr_assert_eq(in.line, 0);
}

static void expect_status(struct ctr_sym *s, int module, int status)
{
	const char *msg = NULL;
	int st = ctr_sym_module_status(s, module, &msg);

	cr_assert_eq(st, status, "module %d: status %s (%s), expected %s", module,
		     ctr_sym_status_name(st), msg ? msg : "", ctr_sym_status_name(status));
	cr_assert_not_null(msg);
}

/* Builds ./main from sym_main.c with @flags (compile and link options). */
static void build_main(const char *flags)
{
	sh("cc -g " FX_CFLAGS " -o main '%s/sym_main.c' %s " FX_EXPORT " -ldl", src_dir, src_dir,
	   flags);
}

static void expect_main_fns(struct ctr_sym *s, const struct fx_out *o)
{
	expect(s, o, "static_fn", 0, "static_fn", "static_fn", "sym_main.c", NULL);
	expect(s, o, "global_fn", 0, "global_fn", "global_fn", "sym_main.c", NULL);
	expect(s, o, "split_line_fn", 0, "split_line_fn", NULL, "sym_main.c", NULL);
}

Test(symbolize, pie_executable)
{
	struct fx_out o;
	struct ctr_sym *s;

	build_main("-fPIE -pie");
	run_fixture(&o, "./main");
	cr_assert_neq(o.mod[0].bias, 0, "a PIE executable has a load bias");
	s = sym_with(&o, NULL);
	expect_status(s, 0, CTR_SYM_OK);
	expect_main_fns(s, &o);
	ctr_sym_close(s);
	fx_free(&o);
}

/* What gcc and clang emit at -O0 and -O2 (out-of-line copies of inlined functions, DWARF 5). */
static void compiler_case(const char *cc, const char *cxx, const char *opt, const char *lambda)
{
	struct fx_out o;
	struct ctr_sym *s;

	sh("%s -g " FX_CFLAGS " %s -o main '%s/sym_main.c' " FX_EXPORT " -ldl", cc, src_dir, opt,
	   src_dir);
	run_fixture(&o, "./main");
	s = sym_with(&o, NULL);
	expect_status(s, 0, CTR_SYM_OK);
	expect_main_fns(s, &o);
	ctr_sym_close(s);
	fx_free(&o);

	sh("%s -g " FX_CFLAGS " %s -o cxx '%s/sym_cxx.cc'", cxx, src_dir, opt, src_dir);
	run_fixture(&o, "./cxx");
	s = sym_with(&o, NULL);
	expect(s, &o, "box_get", 0, "ns::Box<int>::get() const", "_ZNK2ns3BoxIiE3getEv",
	       "sym_cxx.cc", NULL);
	expect(s, &o, "box_set_double", 0, "ns::Box<double>::set(double)", "_ZN2ns3BoxIdE3setEd",
	       "sym_cxx.cc", "box_set");
	expect(s, &o, "over_double", 0, "ns::inner::over(double)", "_ZN2ns5inner4overEd",
	       "sym_cxx.cc", NULL);
	expect(s, &o, "lambda", 0, lambda, NULL, "sym_cxx.cc", NULL);
	ctr_sym_close(s);
	fx_free(&o);
}

#define GCC_LAMBDA "main::{lambda(int)#1}::operator()(int) const"
#define CLANG_LAMBDA "main::$_0::operator()(int) const" /* clang 14 names it so */

Test(symbolize, gcc_O2)
{
	compiler_case("gcc", "g++", "-O2", GCC_LAMBDA);
}

Test(symbolize, clang_O0)
{
	compiler_case("clang", "clang++", "-O0", CLANG_LAMBDA);
}

Test(symbolize, clang_O2)
{
	compiler_case("clang", "clang++", "-O2", CLANG_LAMBDA);
}

Test(symbolize, non_pie_executable)
{
	struct fx_out o;
	struct ctr_sym *s;

	build_main("-fno-pie -no-pie");
	run_fixture(&o, "./main");
	cr_assert_eq(o.mod[0].bias, 0, "a non-PIE executable is not relocated");
	s = sym_with(&o, NULL);
	expect_status(s, 0, CTR_SYM_OK);
	expect_main_fns(s, &o);
	ctr_sym_close(s);
	fx_free(&o);
}

Test(symbolize, shared_and_dlopened_libraries)
{
	struct fx_out o;
	struct ctr_sym *s;
	int lib, dl;

	sh("cc -g " FX_CFLAGS " -shared -fPIC -o libsymlib.so '%s/sym_lib.c'", src_dir, src_dir);
	sh("cc -g " FX_CFLAGS " -shared -fPIC -o libsymdl.so '%s/sym_dl.c'", src_dir, src_dir);
	build_main("-DSYM_WITH_LIB -L. -lsymlib -Wl,-rpath,'$ORIGIN'");
	run_fixture(&o, "./main \"$PWD/libsymdl.so\"");
	lib = mod_index(&o, "libsymlib.so");
	dl = mod_index(&o, "libsymdl.so");
	s = sym_with(&o, NULL);
	expect_status(s, lib, CTR_SYM_OK);
	expect_status(s, dl, CTR_SYM_OK);
	expect_main_fns(s, &o);
	expect(s, &o, "lib_fn", lib, "lib_fn", "lib_fn", "sym_lib.c", NULL);
	expect(s, &o, "lib_static", lib, "lib_static", "lib_static", "sym_lib.c", NULL);
	expect(s, &o, "dl_fn", dl, "dl_fn", "dl_fn", "sym_dl.c", NULL);
	expect(s, &o, "dl_static", dl, "dl_static", "dl_static", "sym_dl.c", NULL);
	ctr_sym_close(s);
	fx_free(&o);
}

Test(symbolize, separate_debug_by_build_id)
{
	char dbg[PATH_MAX + 64], bid_dir[PATH_MAX + 128];
	const char *msg;
	struct fx_out o;
	struct ctr_sym *s;

	build_main("-Wl,--build-id=sha1");
	sh("objcopy --only-keep-debug main main.debug && strip --strip-all main");
	run_fixture(&o, "./main");
	cr_assert_eq(strlen(o.mod[0].bid), 40);
	snprintf(dbg, sizeof(dbg), "%s/dbgroot", tmp);
	snprintf(bid_dir, sizeof(bid_dir), "%s/.build-id/%.2s", dbg, o.mod[0].bid);
	sh("mkdir -p '%s' && mv main.debug '%s/%s.debug'", bid_dir, bid_dir, o.mod[0].bid + 2);

	/* Without the debug directory: the stripped binary alone names nothing. */
	s = sym_with(&o, NULL);
	expect_status(s, 0, CTR_SYM_NO_SYMBOLS);
	expect_unresolved(s, &o, "static_fn", 0);
	expect_unresolved(s, &o, "global_fn", 0);
	ctr_sym_close(s);

	snprintf(bid_dir, sizeof(bid_dir), ":.debug:%s", dbg);
	s = sym_with(&o, bid_dir);
	expect_status(s, 0, CTR_SYM_OK);
	ctr_sym_module_status(s, 0, &msg);
	cr_assert(strstr(msg, "/dbgroot/.build-id/"), "message '%s'", msg);
	expect_main_fns(s, &o);
	ctr_sym_close(s);
	fx_free(&o);
}

/* Stripped binary without build-id: only .gnu_debuglink can find its debug file. */
static void debuglink_case(const char *where)
{
	const char *msg;
	struct fx_out o;
	struct ctr_sym *s;

	build_main("-Wl,--build-id=none");
	sh("objcopy --only-keep-debug main main.debug && strip --strip-all main && "
	   "objcopy --add-gnu-debuglink=main.debug main && mkdir -p '%s' && "
	   "{ [ '%s' = . ] || mv main.debug '%s'/; }",
	   where, where, where);
	run_fixture(&o, "./main");
	cr_assert_str_eq(o.mod[0].bid, "");
	s = sym_with(&o, NULL);
	expect_status(s, 0, CTR_SYM_OK);
	ctr_sym_module_status(s, 0, &msg);
	cr_assert(strstr(msg, "main.debug") && strstr(msg, "could not be verified"), "message '%s'",
		  msg);
	expect_main_fns(s, &o);
	ctr_sym_close(s);
	fx_free(&o);
}

Test(symbolize, separate_debug_by_debuglink_next_to_binary)
{
	debuglink_case(".");
}

Test(symbolize, separate_debug_by_debuglink_in_debug_dir)
{
	debuglink_case(".debug");
}

Test(symbolize, symtab_only)
{
	struct fx_out o;
	struct ctr_sym *s;
	struct ctr_sym_info in;

	sh("cc " FX_CFLAGS " -o main '%s/sym_main.c' " FX_EXPORT " -ldl", src_dir, src_dir);
	run_fixture(&o, "./main");
	s = sym_with(&o, NULL);
	expect_status(s, 0, CTR_SYM_NO_DEBUGINFO);
	expect(s, &o, "static_fn", 0, "static_fn", "static_fn", NULL, NULL);
	expect(s, &o, "global_fn", 0, "global_fn", "global_fn", NULL, NULL);
	/* An address inside a function: named by the symbol that covers it. */
	cr_assert_eq(ctr_sym_lookup(s, fn_addr(&o, "global_fn") + 4, &in), 0);
	cr_assert_str_eq(in.name, "global_fn");
	ctr_sym_close(s);
	fx_free(&o);
}

Test(symbolize, fully_stripped)
{
	struct fx_out o;
	struct ctr_sym *s;
	int lib;

	sh("cc -g " FX_CFLAGS " -shared -fPIC -o libsymlib.so '%s/sym_lib.c' && "
	   "strip --strip-all libsymlib.so",
	   src_dir, src_dir);
	build_main("-DSYM_WITH_LIB -L. -lsymlib -Wl,-rpath,'$ORIGIN'");
	sh("strip --strip-all main");
	run_fixture(&o, "./main");
	lib = mod_index(&o, "libsymlib.so");
	s = sym_with(&o, NULL);
	expect_status(s, 0, CTR_SYM_NO_SYMBOLS);
	expect_status(s, lib, CTR_SYM_NO_SYMBOLS);
	expect_unresolved(s, &o, "static_fn", 0);
	expect_unresolved(s, &o, "global_fn", 0);
	expect_unresolved(s, &o, "lib_static", lib);
	/* Exported functions keep their dynamic symbol. */
	expect(s, &o, "lib_fn", lib, "lib_fn", "lib_fn", NULL, NULL);
	ctr_sym_close(s);
	fx_free(&o);
}

Test(symbolize, cxx_names)
{
	struct fx_out o;
	struct ctr_sym *s;

	sh("c++ -g " FX_CFLAGS " -o cxx '%s/sym_cxx.cc'", src_dir, src_dir);
	run_fixture(&o, "./cxx");
	s = sym_with(&o, NULL);
	expect_status(s, 0, CTR_SYM_OK);
	expect(s, &o, "box_set", 0, "ns::Box<int>::set(int)", "_ZN2ns3BoxIiE3setEi", "sym_cxx.cc",
	       NULL);
	expect(s, &o, "box_get", 0, "ns::Box<int>::get() const", "_ZNK2ns3BoxIiE3getEv",
	       "sym_cxx.cc", NULL);
	expect(s, &o, "box_as", 0, "long ns::Box<int>::as<long>() const",
	       "_ZNK2ns3BoxIiE2asIlEET_v", "sym_cxx.cc", NULL);
	expect(s, &o, "box_set_double", 0, "ns::Box<double>::set(double)", "_ZN2ns3BoxIdE3setEd",
	       "sym_cxx.cc", "box_set");
	expect(s, &o, "over_int", 0, "ns::inner::over(int)", "_ZN2ns5inner4overEi", "sym_cxx.cc",
	       NULL);
	expect(s, &o, "over_double", 0, "ns::inner::over(double)", "_ZN2ns5inner4overEd",
	       "sym_cxx.cc", NULL);
	expect(s, &o, "lambda", 0, "main::{lambda(int)#1}::operator()(int) const", NULL,
	       "sym_cxx.cc", NULL);
	ctr_sym_close(s);
	fx_free(&o);
}

Test(symbolize, build_id_mismatch)
{
	struct fx_out o;
	struct ctr_sym *s;
	const char *msg;
	int libc = -1;

	build_main("");
	run_fixture(&o, "./main");
	cr_assert_eq(strlen(o.mod[0].bid), 40);
	/* Rebuilt from other code after the run was recorded. */
	build_main("-DSYM_VARIANT");
	s = sym_with(&o, NULL);
	expect_status(s, 0, CTR_SYM_BUILD_ID_MISMATCH);
	ctr_sym_module_status(s, 0, &msg);
	cr_assert(strstr(msg, o.mod[0].bid), "message '%s' lacks the recorded build-id", msg);
	expect_unresolved(s, &o, "static_fn", 0);
	expect_unresolved(s, &o, "global_fn", 0);
	expect_unresolved(s, &o, "split_line_fn", 0);
	for (int i = 0; i < o.n_mod; i++)
		if (strstr(o.mod[i].path, "/libc.so"))
			libc = i;
	cr_assert_geq(libc, 0);
	cr_assert_neq(ctr_sym_module_status(s, libc, NULL), CTR_SYM_BUILD_ID_MISMATCH);
	ctr_sym_close(s);
	fx_free(&o);

	/* A recorded build-id when the file has none is a mismatch too. */
	build_main("-Wl,--build-id=none");
	cr_assert_eq(ctr_sym_open(&s, NULL), 0);
	cr_assert_eq(ctr_sym_add_module(s, "main", "0123abcd", 0, 0x1000, 0x2000, NULL), 0);
	cr_assert_eq(chdir(tmp), 0);
	expect_status(s, 0, CTR_SYM_BUILD_ID_MISMATCH);
	ctr_sym_close(s);
}

Test(symbolize, missing_file_and_outside_address)
{
	struct ctr_sym *s;
	struct ctr_sym_info in;
	const char *msg;

	cr_assert_eq(ctr_sym_open(&s, NULL), 0);
	cr_assert_eq(ctr_sym_add_module(s, "/nonexistent/ctrace/libgone.so", "abcdef", 0x7f0000,
					0x7f0000, 0x7f8000, NULL),
		     0);
	cr_assert_eq(ctr_sym_add_module(s, "/etc/hostname", "", 0x10000, 0x10000, 0x20000, NULL),
		     1);
	cr_assert_eq(ctr_sym_module_status(s, 0, &msg), CTR_SYM_MISSING);
	cr_assert(strstr(msg, "/nonexistent/ctrace/libgone.so"), "message '%s'", msg);
	cr_assert_eq(ctr_sym_module_status(s, 1, &msg), CTR_SYM_UNREADABLE, "message '%s'", msg);
	cr_assert_eq(ctr_sym_lookup(s, 0x7f1234, &in), CTR_ENOTFOUND);
	cr_assert_eq(in.module, 0);
	cr_assert_eq(in.offset, 0x1234);
	cr_assert_null(in.name);
	cr_assert_eq(ctr_sym_lookup(s, 0x10010, &in), CTR_ENOTFOUND);
	cr_assert_eq(in.module, 1);
	cr_assert_eq(in.offset, 0x10);
	cr_assert_eq(ctr_sym_lookup(s, 0x7f8000, &in), CTR_ENOTFOUND);
	cr_assert_eq(in.module, -1);
	cr_assert_eq(in.offset, 0);
	cr_assert_str_eq(in.file, "");
	ctr_sym_close(s);
}

Test(symbolize, bad_arguments)
{
	struct ctr_sym *s;
	struct ctr_sym_info in;
	struct ctr_err e;

	ctr_sym_close(NULL);
	cr_assert_eq(ctr_sym_open(&s, NULL), 0);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_sym_add_module(s, "/bin/sh", "", 0, 0x2000, 0x2000, &e), CTR_EUSAGE);
	cr_assert_eq(e.code, CTR_EUSAGE);
	cr_assert(strstr(e.msg, "/bin/sh"), "message '%s'", e.msg);
	cr_assert_eq(ctr_sym_add_module(s, "", "", 0, 0x1000, 0x2000, NULL), CTR_EUSAGE);
	cr_assert_eq(ctr_sym_add_module(s, NULL, "", 0, 0x1000, 0x2000, NULL), CTR_EUSAGE);
	cr_assert_eq(ctr_sym_module_count(s), 0);
	cr_assert_eq(ctr_sym_module_status(s, 0, NULL), CTR_EUSAGE);
	cr_assert_eq(ctr_sym_module_status(s, -1, NULL), CTR_EUSAGE);
	cr_assert_eq(ctr_sym_lookup_in(s, 0, 0x1000, &in), CTR_EUSAGE);
	cr_assert_eq(in.module, -1);
	cr_assert_str_eq(ctr_sym_status_name(CTR_SYM_BUILD_ID_MISMATCH), "build_id_mismatch");
	cr_assert_str_eq(ctr_sym_status_name(CTR_SYM_NO_DEBUGINFO), "no_debuginfo");
	cr_assert_str_eq(ctr_sym_status_name(42), "unknown");
	ctr_sym_close(s);
}

/* Two processes of the same program (different biases) in one ctr_sym: lookup_in names the
 * module, and both share one opened file. */
Test(symbolize, several_processes)
{
	struct fx_out a, b;
	struct ctr_sym *s;
	struct ctr_sym_info ia, ib;
	int mb;

	build_main("-fPIE -pie");
	run_fixture(&a, "./main");
	run_fixture(&b, "setarch -R ./main 2>/dev/null || ./main");
	s = sym_with(&a, NULL);
	mb = ctr_sym_add_module(s, b.mod[0].path, b.mod[0].bid, b.mod[0].bias, b.mod[0].start,
				b.mod[0].end, NULL);
	cr_assert_eq(mb, a.n_mod);
	cr_assert_eq(ctr_sym_lookup_in(s, 0, fn_addr(&a, "static_fn"), &ia), 0);
	cr_assert_eq(ctr_sym_lookup_in(s, mb, fn_addr(&b, "static_fn"), &ib), 0);
	cr_assert_eq(ia.module, 0);
	cr_assert_eq(ib.module, mb);
	cr_assert_eq(ia.offset, ib.offset);
	cr_assert_str_eq(ib.name, "static_fn");
	cr_assert_eq(ia.name, ib.name, "one cache entry for both processes");
	cr_assert_eq(ib.line, marker_line("sym_main.c", "static_fn"));
	ctr_sym_close(s);
	fx_free(&a);
	fx_free(&b);
}

Test(symbolize, address_inside_function)
{
	struct fx_out o;
	struct ctr_sym *s;
	struct ctr_sym_info in;

	build_main("");
	run_fixture(&o, "./main");
	s = sym_with(&o, NULL);
	cr_assert_eq(ctr_sym_lookup(s, fn_addr(&o, "global_fn") + 5, &in), 0);
	cr_assert_str_eq(in.name, "global_fn");
	cr_assert_eq(in.line, marker_line("sym_main.c", "global_fn"));
	ctr_sym_close(s);
	fx_free(&o);
}

#define PERF_FILES 4
#define PERF_PER_FILE 2500

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* 10,000 distinct functions in 4 CUs: every lookup exact, and fast. */
Test(symbolize, ten_thousand_functions, .timeout = 300)
{
	char path[PATH_MAX + 64], want[32];
	struct ctr_sym_info in;
	struct fx_out o;
	struct ctr_sym *s;
	double t0, t1, t2;
	FILE *f;
	int j = 0;

	for (int k = 0; k < PERF_FILES; k++) {
		snprintf(path, sizeof(path), "%s/perf%d.c", tmp, k);
		f = fopen(path, "w");
		cr_assert_not_null(f);
		for (int i = 0; i < PERF_PER_FILE; i++)
			fprintf(f, "int f%d(int x)\n{\n\treturn x + %d;\n}\n",
				k * PERF_PER_FILE + i, i);
		fprintf(f, "void run%d(int *r)\n{\n", k);
		for (int i = 0; i < PERF_PER_FILE; i++)
			fprintf(f, "\t*r += f%d(%d);\n", k * PERF_PER_FILE + i, i);
		fprintf(f, "}\n");
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s/perfmain.c", tmp);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "#include \"report.h\"\n");
	for (int k = 0; k < PERF_FILES; k++)
		fprintf(f, "void run%d(int *r);\n", k);
	fprintf(f, "int main(void)\n{\n\tint r = 0;\n\tsym_all = 1;\n");
	for (int k = 0; k < PERF_FILES; k++)
		fprintf(f, "\trun%d(&r);\n", k);
	fprintf(f, "\tsym_all = 0;\n\tsym_modules();\n\treturn r == 1;\n}\n");
	fclose(f);
	sh("for k in 0 1 2 3; do cc -g -c " FX_CFLAGS " perf$k.c & done; wait; "
	   "cc -g " FX_CFLAGS " -o perf perfmain.c perf0.o perf1.o perf2.o perf3.o",
	   src_dir, src_dir);
	run_fixture(&o, "./perf");
	cr_assert_eq(o.n_fn, PERF_FILES * (PERF_PER_FILE + 1), "got %d addresses", o.n_fn);
	s = sym_with(&o, NULL);
	t0 = now_ms();
	for (int i = 0; i < o.n_fn; i++)
		cr_assert_eq(ctr_sym_lookup(s, o.fn[i].addr, &in), 0);
	t1 = now_ms();
	for (int k = 0; k < PERF_FILES; k++) {
		for (int i = -1; i < PERF_PER_FILE; i++, j++) {
			if (i < 0)
				snprintf(want, sizeof(want), "run%d", k);
			else
				snprintf(want, sizeof(want), "f%d", k * PERF_PER_FILE + i);
			cr_assert_eq(ctr_sym_lookup(s, o.fn[j].addr, &in), 0);
			cr_assert_str_eq(in.name, want);
			snprintf(want, sizeof(want), "perf%d.c", k);
			cr_assert_str_eq(base_of(in.file), want);
			cr_assert_eq(in.line, i < 0 ? 4u * PERF_PER_FILE + 1 : 4u * i + 1);
		}
	}
	t2 = now_ms();
	fprintf(stderr, "symbolize: %d distinct addresses in %.1f ms (cached, checked: %.1f ms)\n",
		o.n_fn, t1 - t0, t2 - t1);
	/* The budget is well under 100 ms; leave room for a loaded machine or sanitizers. */
	cr_assert_lt(t1 - t0, 1000.0, "%d lookups took %.1f ms", o.n_fn, t1 - t0);
	ctr_sym_close(s);
	fx_free(&o);
}
