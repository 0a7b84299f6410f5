#!/bin/sh
# SPDX-License-Identifier: MIT
# How C++ functions are named in every view (docs/symbols.md): gcc's static initializer of a
# global (_GLOBAL__sub_I_ + the global's mangled name) keeps its prefix and shows the global
# demangled, in the report, the folded stacks and the run's JSON. Prints ok/FAIL lines.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
B=$(cd "${1:-build}" && pwd)
T=$(mktemp -d /tmp/ctrace-names.XXXXXX)
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
cd "$T" || exit 1
S=sqlite:$T/s.db
g++ -O0 -g -finstrument-functions -o si "$HERE/progs/staticinit.cc" || { bad build g++; exit 1; }
check "gcc names the initializer after the global" 1 "$(nm si | grep -c ' _GLOBAL__sub_I__ZN2kv7versionB5cxx11E$')"
"$B/ctrace" record --store "$S" -- ./si >/dev/null 2>rec.err || bad record "$(cat rec.err)"
want='_GLOBAL__sub_I_kv::version[abi:cxx11]'
check "the report shows the initializer demangled after its prefix" 1 \
	"$("$B/ctrace-report" --store "$S" --min-percent 0 | grep -c -F " $want")"
check "folded stacks start at it, demangled" "$want" \
	"$("$B/ctrace" show --store "$S" latest --format folded | head -n 1 | sed 's/;.*//; s/ [0-9]*$//')"
check "the run's JSON keeps the same name" 1 \
	"$("$B/ctrace-report" --store "$S" --json --top 0 | grep -c -F "\"name\": \"$want\"")"
summary names
