/* SPDX-License-Identifier: MIT */
/*
 * The library-call name rule (common/libcall.h) the exports and the viewer share: SYM@LIB with
 * a shared object's file name, and nothing a C or C++ function name can be.
 */
#include <criterion/criterion.h>

#include "common/libcall.h"

Test(libcall, names)
{
	cr_assert(ctr_name_is_libcall("malloc@libc.so.6"));
	cr_assert(ctr_name_is_libcall("pthread_mutex_lock@libc.so.6"));
	cr_assert(ctr_name_is_libcall("_ZdlPv@libstdc++.so.6"));
	cr_assert(ctr_name_is_libcall("f@libfoo.so"));
	cr_assert(!ctr_name_is_libcall("malloc"));
	cr_assert(!ctr_name_is_libcall("@libc.so.6"));
	cr_assert(!ctr_name_is_libcall("memcpy@GLIBC_2.14"));
	cr_assert(!ctr_name_is_libcall("a@b@libc.so.6"));
	cr_assert(!ctr_name_is_libcall("operator new(unsigned long)@libstdc++.so.6"));
	cr_assert(!ctr_name_is_libcall("std::vector<int>::at@x.so"));
	cr_assert(!ctr_name_is_libcall(""));
	cr_assert(!ctr_name_is_libcall(NULL));
}
