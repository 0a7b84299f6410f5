/* SPDX-License-Identifier: MIT */
/*
 * Tests of the libraries opened on first use (common/dynlib.c): a table is filled once, a
 * missing function or library fails with the reason and keeps failing the same way, and the
 * users' tables (libpq, elfutils) load on this machine.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "../../common/dynlib.h"
#include "../../tools/ingest/elflib.h"

static struct {
	double (*cos)(double);
	double (*sqrt)(double);
} m;
static const struct ctr_dynsym m_syms[] = {CTR_DYNSYM(m, cos) CTR_DYNSYM(m, sqrt)};

Test(dynlib, fills_the_table_once)
{
	static struct ctr_dynlib l = CTR_DYNLIB_INIT("libm.so.6", m_syms);

	cr_assert_eq(ctr_dynlib_load(&l), 0, "%s", l.why);
	cr_assert_not_null(m.cos);
	cr_assert_float_eq(m.sqrt(16.0), 4.0, 1e-12);
	m.cos = NULL; /* a second call does not look again */
	cr_assert_eq(ctr_dynlib_load(&l), 0);
	cr_assert_null(m.cos);
}

static struct {
	void *(*no_such_function_here)(void);
} bad;
static const struct ctr_dynsym bad_syms[] = {CTR_DYNSYM(bad, no_such_function_here)};

Test(dynlib, missing_function_names_it)
{
	static struct ctr_dynlib l = CTR_DYNLIB_INIT("libm.so.6", bad_syms);

	cr_assert_eq(ctr_dynlib_load(&l), -1);
	cr_assert(strstr(l.why, "libm.so.6 has no no_such_function_here"), "%s", l.why);
	cr_assert_eq(ctr_dynlib_load(&l), -1);
}

Test(dynlib, missing_library_says_why)
{
	static struct ctr_dynlib l = CTR_DYNLIB_INIT("libctrace-no-such.so.0", m_syms);

	cr_assert_eq(ctr_dynlib_load(&l), -1);
	cr_assert(strstr(l.why, "libctrace-no-such.so.0"), "%s", l.why);
	cr_assert_eq(ctr_dynlib_load(&l), -1);
}

Test(dynlib, elfutils_table_loads)
{
	struct ctr_err e;

	ctr_err_clear(&e);
	cr_assert_eq(ctr_elflib_load(&e), 0, "%s", e.msg);
	cr_assert_eq(ctr_elflib_load(&e), 0);
	cr_assert_neq(elf_version(EV_CURRENT), EV_NONE);
}
