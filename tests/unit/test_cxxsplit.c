/* SPDX-License-Identifier: MIT */
/*
 * Tests of common/cxxsplit.h: the qualified name and parameter list of demangled C++ names, as
 * --exclude/--filter match them (the name people write: no return type).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "common/cxxsplit.h"

static void expect_split(const char *dm, const char *name, const char *params)
{
	size_t a, b, c;

	cr_assert_eq(ctr_cxxsplit_name(dm, &a, &b, &c), 0, "no split of '%s'", dm);
	cr_expect(strlen(name) == b - a && !strncmp(dm + a, name, b - a),
		  "'%s': name '%.*s', want '%s'", dm, (int)(b - a), dm + a, name);
	cr_expect(strlen(params) == c - b && !strncmp(dm + b, params, c - b),
		  "'%s': params '%.*s', want '%s'", dm, (int)(c - b), dm + b, params);
}

Test(cxxsplit, return_types_dropped)
{
	expect_split("void std::allocator_traits<std::allocator<int> >::construct<int, int const&>"
		     "(std::allocator<int>&, int*, int const&)",
		     "std::allocator_traits<std::allocator<int> >::construct<int, int const&>",
		     "(std::allocator<int>&, int*, int const&)");
	expect_split("double&& std::forward<double>(std::remove_reference<double>::type&)",
		     "std::forward<double>", "(std::remove_reference<double>::type&)");
	expect_split("unsigned long foo(int) const &", "foo", "(int)");
	expect_split("bool __gnu_cxx::operator!=<int*, std::vector<int> >(int const&, int)",
		     "__gnu_cxx::operator!=<int*, std::vector<int> >", "(int const&, int)");
}

Test(cxxsplit, no_return_type)
{
	expect_split("std::vector<int, std::allocator<int> >::push_back(int const&)",
		     "std::vector<int, std::allocator<int> >::push_back", "(int const&)");
	expect_split("Counter<int, long>::add(int, long)", "Counter<int, long>::add",
		     "(int, long)");
	expect_split("Square::~Square()", "Square::~Square", "()");
	expect_split("(anonymous namespace)::foo(int)", "(anonymous namespace)::foo", "(int)");
}

Test(cxxsplit, operators_and_lambdas)
{
	expect_split("main::{lambda(int)#1}::operator()(int) const",
		     "main::{lambda(int)#1}::operator()", "(int)");
	expect_split("Foo::operator bool() const", "Foo::operator bool", "()");
	expect_split("void* Foo::operator new(unsigned long)", "Foo::operator new",
		     "(unsigned long)");
	expect_split("operator delete[](void*)", "operator delete[]", "(void*)");
	expect_split("bool operator< <int>(A<int> const&, A<int> const&)", "operator< <int>",
		     "(A<int> const&, A<int> const&)");
	expect_split("std::ostream& operator<<(std::ostream&, X const&)", "operator<<",
		     "(std::ostream&, X const&)");
	expect_split("X::operator->()", "X::operator->", "()");
}

Test(cxxsplit, not_a_function)
{
	size_t a, b, c;

	cr_expect_eq(ctr_cxxsplit_name("main", &a, &b, &c), -1);
	cr_expect_eq(a, 0);
	cr_expect_eq(b, 4);
	cr_expect_eq(ctr_cxxsplit_name("broken<int(", &a, &b, &c), -1);
	cr_expect_eq(ctr_cxxsplit_name("a)b(c", &a, &b, &c), -1);
}
