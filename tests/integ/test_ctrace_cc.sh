#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Integration test of instrument/ctrace-cc: with gcc and clang, a tiny program compiled through
# the wrapper references __cyg_profile_func_enter, runs with the hooks called, and builds with
# `make CC=ctrace-cc`; with gcc, functions excluded by --ctrace-exclude-function /
# --ctrace-exclude-file and (C++) standard library code under the default exclusions carry no
# call to __cyg_profile_func_enter. Prints one ok/FAIL line per check; exit 0 when all pass.

cd "$(dirname "$0")/../.." || exit 1
wrap="$PWD/instrument/ctrace-cc"
built=$(cd "${1:-build}" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ctrace-cc-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0

ok() { echo "ok   $*"; }
fail() {
	echo "FAIL $*"
	fails=$((fails + 1))
}
check() { # check DESCRIPTION COMMAND...
	desc=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then
		ok "$desc"
	else
		fail "$desc"
		sed 's/^/     /' "$tmp/out"
	fi
}

# Disassembly of function $2 in $1: its lines up to the next blank line.
func_asm() {
	objdump -d --no-show-raw-insn "$1" | awk -v f="<$2>:" '$2 == f {on = 1; next} on && /^$/ {exit} on'
}
calls_enter() { func_asm "$1" "$2" | grep -q 'call.*<__cyg_profile_func_enter'; }
not_calls_enter() { func_asm "$1" "$2" | grep -q . && ! calls_enter "$1" "$2"; }

cat >"$tmp/hooks.c" <<'C'
#include <stdio.h>
static int enters, nseen;
static void *seen[4096];
__attribute__((no_instrument_function)) void __cyg_profile_func_enter(void *f, void *s)
{
	(void)s;
	enters++;
	for (int i = 0; i < nseen; i++)
		if (seen[i] == f)
			return;
	if (nseen < 4096)
		seen[nseen++] = f;
}
__attribute__((no_instrument_function)) void __cyg_profile_func_exit(void *f, void *s)
{
	(void)f, (void)s;
}
__attribute__((no_instrument_function, destructor)) static void report(void)
{
	printf("enters=%d\n", enters);
	fprintf(stderr, "functions=%d\n", nseen);
}
C
cat >"$tmp/inl.h" <<'C'
static inline int in_header(int x) { return x * 2; }
C
cat >"$tmp/t.c" <<'C'
#include "inl.h"
__attribute__((noinline)) int keep_me(int x) { return x + 1; }
__attribute__((noinline)) int skip_me(int x) { return x - 1; }
int main(void) { return keep_me(1) + skip_me(1) + in_header(1) == 4 ? 0 : 1; }
C
cat >"$tmp/v.cc" <<'C'
#include <vector>
__attribute__((noinline)) int sum(const std::vector<int> &v)
{
	int s = 0;
	for (int x : v)
		s += x;
	return s;
}
int main()
{
	std::vector<int> v;
	v.push_back(1);
	return sum(v) == 1 ? 0 : 1;
}
C
cat >"$tmp/m.cc" <<'C'
#include <map>
#include <string>
#include <vector>
__attribute__((noinline)) int sum(const std::vector<int> &v)
{
	int s = 0;
	for (int x : v)
		s += x;
	return s;
}
int main()
{
	std::vector<int> v;
	std::map<std::string, int> m;
	for (int i = 0; i < 100; i++) {
		v.push_back(i);
		m[std::to_string(i)] = i;
	}
	return sum(v) == 4950 && m.size() == 100 ? 0 : 1;
}
C
# Distinct functions the program's hooks saw (hooks.c prints them on stderr).
functions() { "$1" 2>&1 >/dev/null | sed -n 's/^functions=//p'; }
printf 'prog: a.o b.o\n\t$(CC) -o $@ a.o b.o\n' >"$tmp/Makefile"
printf '#include <stdio.h>\nint b(void);\nint main(void) { return b(); }\n' >"$tmp/a.c"
printf 'int b(void) { return 0; }\n' >"$tmp/b.c"

check "--ctrace-help prints the options" sh -c "'$wrap' --ctrace-help | grep -q -- --ctrace-exclude-function"
check "an unknown --ctrace- option is a usage error" sh -c "'$wrap' --ctrace-bogus -c x.c 2>/dev/null; [ \$? -eq 2 ]"
check "a missing compiler is reported" sh -c "CTRACE_CC=/nonexistent/cc '$wrap' -c x.c 2>&1 | grep -q 'cannot find the compiler'"
check "CTRACE_CC pointing at the wrapper does not loop" sh -c "CTRACE_CC='$wrap' '$wrap' --version 2>&1 | grep -q 'ctrace-cc itself'"

for cc in gcc clang; do
	if ! command -v $cc >/dev/null 2>&1; then
		fail "$cc: not installed"
		continue
	fi
	d="$tmp/$cc"
	mkdir -p "$d"
	export CTRACE_CC=$cc
	check "$cc: compiles and links through the wrapper" \
		sh -c "cd '$tmp' && '$wrap' -O0 -c t.c -o '$d/t.o' && '$wrap' -O0 -c hooks.c -o '$d/hooks.o' && '$wrap' -o '$d/t' '$d/t.o' '$d/hooks.o'"
	check "$cc: the object references __cyg_profile_func_enter" \
		sh -c "nm '$d/t.o' | grep -q ' U __cyg_profile_func_enter'"
	check "$cc: debug info is added" sh -c "readelf -S '$d/t' | grep -q debug_info"
	check "$cc: the program calls the hooks" sh -c "'$d/t' | grep -qx 'enters=[1-9][0-9]*'"
	check "$cc: keep_me is instrumented" calls_enter "$d/t" keep_me
	check "$cc: -E only preprocesses" sh -c "cd '$tmp' && '$wrap' -E t.c | grep -q 'keep_me'"
	check "$cc: CC=ctrace-cc make" sh -c "cd '$tmp' && rm -f a.o b.o prog && make -s CC='$wrap' && ./prog && nm b.o | grep -q __cyg_profile_func_enter"
	if [ $cc = gcc ]; then
		check "gcc: compiles with exclusions" \
			sh -c "cd '$tmp' && '$wrap' -O0 --ctrace-exclude-function=skip_me --ctrace-exclude-file inl.h -o '$d/tx' t.c hooks.c"
		check "gcc: --ctrace-exclude-function leaves skip_me uninstrumented" not_calls_enter "$d/tx" skip_me
		check "gcc: keep_me stays instrumented with exclusions" calls_enter "$d/tx" keep_me
		check "gcc: --ctrace-exclude-file leaves in_header uninstrumented" not_calls_enter "$d/tx" in_header
		check "gcc: without exclusions in_header is instrumented" calls_enter "$d/t" in_header
		check "gcc: C++ through --cxx" sh -c "cd '$tmp' && '$wrap' --cxx -O0 -o '$d/v' v.cc '$d/hooks.o' && '$d/v' | grep -q enters="
		check "gcc: std::vector code is excluded by default" \
			not_calls_enter "$d/v" _ZNSt6vectorIiSaIiEE9push_backEOi
		check "gcc: user code in C++ is instrumented" calls_enter "$d/v" _Z3sumRKSt6vectorIiSaIiEE
		check "gcc: --ctrace-no-default-excludes instruments std::vector" \
			sh -c "cd '$tmp' && CTRACE_CXX=g++ '$wrap' --cxx --ctrace-no-default-excludes -O0 -o '$d/v2' v.cc '$d/hooks.o' && objdump -d --no-show-raw-insn '$d/v2' | awk '/<_ZNSt6vectorIiSaIiEE9push_backEOi>:/{on=1;next} on&&/^\$/{exit} on' | grep -q 'call.*__cyg_profile_func_enter'"
		ln -s "$wrap" "$tmp/ctrace-c++"
		check "gcc: called as ctrace-c++ it compiles C++" \
			sh -c "cd '$tmp' && CTRACE_CXX=g++ ./ctrace-c++ -O0 -o '$d/v3' v.cc '$d/hooks.o' && '$d/v3' | grep -q enters="
		check "gcc: make builds ctrace-c++ beside ctrace-cc and it compiles C++" \
			sh -c "cd '$tmp' && CTRACE_CXX=g++ '$built/ctrace-c++' -O0 -o '$d/v4' v.cc '$d/hooks.o' && '$d/v4' | grep -q enters="
	else
		check "clang: exclusions are ignored with a warning" \
			sh -c "cd '$tmp' && '$wrap' -O0 --ctrace-exclude-function=skip_me -o '$d/tx' t.c hooks.c 2>&1 | grep -q 'warning: clang cannot exclude'"
		check "clang: -finstrument-functions-after-inlining by default" \
			sh -c "cd '$tmp' && '$wrap' --ctrace-verbose -c t.c -o '$d/tz.o' 2>&1 | grep -q -- '-finstrument-functions-after-inlining -g'"
		if CTRACE_CXX=clang++ "$wrap" --cxx -O2 -o "$d/m" "$tmp/m.cc" "$d/hooks.o" 2>"$tmp/out" &&
			CTRACE_CXX=clang++ "$wrap" --cxx --ctrace-before-inlining -O2 -o "$d/mb" "$tmp/m.cc" "$d/hooks.o" 2>>"$tmp/out"; then
			after=$(functions "$d/m")
			before=$(functions "$d/mb")
			if [ "${after:-0}" -ge 2 ] && [ "${after:-0}" -le 20 ] && [ "${before:-0}" -ge $((after * 5)) ]; then
				ok "clang -O2 C++: $after functions hooked after inlining, $before with --ctrace-before-inlining"
			else
				fail "clang -O2 C++: $after functions hooked after inlining, $before before (want 2-20, and 5x)"
			fi
		else
			fail "clang -O2 C++: does not compile through the wrapper"
			sed 's/^/     /' "$tmp/out"
		fi
		check "clang: the exclusion flags are not passed" \
			sh -c "cd '$tmp' && '$wrap' --ctrace-verbose --ctrace-exclude-function=skip_me -c t.c -o '$d/ty.o' 2>&1 | grep -v -q 'exclude-function-list'"
	fi
done

if [ "$fails" -gt 0 ]; then
	echo "test_ctrace_cc: $fails FAILED"
	exit 1
fi
echo "test_ctrace_cc: all passed"
