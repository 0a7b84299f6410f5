#!/bin/sh
# SPDX-License-Identifier: MIT
# Library calls, `ctrace record --libcalls[=GLOB]` (docs/recording.md "Library calls"): the
# programs tests/integ/progs/libcallprog.c and libcallexc.cc, built with gcc and clang at -O0
# and -O2. Exact library-call counts under the right callers (malloc, free, memcpy (an IFUNC),
# qsort with its instrumented compare callback as the call's child, read, pthread_mutex_lock,
# fork in both processes), the tree through a longjmp out of qsort's callback and through C++
# exceptions out of std::sort's and qsort's comparators, names SYM@LIB only for the chosen
# functions; with --sched the blocked read >= 45 ms off-CPU under work, the mutex wait off-CPU,
# on-CPU + off-CPU = total per node within 2%. Then lazy binding, -z now and LD_BIND_NOW give
# the same counts, --libcalls alone traces every PLT call (a C++ throw included), bare
# LD_PRELOAD with CTRACE_LIBCALLS works, and the JSON Lines store, the folded ([lib] frames)
# and Chrome exports and ctrace serve keep the names. Prints ok/FAIL lines.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
ROOT=$(cd "$HERE/../.." && pwd)
B=$(cd "${1:-$ROOT/build}" && pwd)
T=$(mktemp -d /tmp/ctrace-libcalls.XXXXXX)
srv=
trap '[ -n "$srv" ] && kill "$srv" 2>/dev/null; rm -rf "$T"' EXIT
C=$B/ctrace
R=$B/ctrace-report
export CTRACE_CHECK_INVARIANTS=1
GLOB='malloc,free,memcpy,qsort,pthread_mutex_lock,read,fork'

# What the checks below read: every node as "path calls total on off" (path of names joined
# by ' > ', one line per node of every thread), from ctrace-report --tree --json.
nodes() { # STORE [RUN]
	"$R" --store "$1" --json --tree --min-percent 0 ${2:-} | python3 -c '
import json, sys
d = json.load(sys.stdin)
def short(s): # C++ display names without their parameters: "sorter()" is "sorter"
    return s if "@" in s or "(" not in s else s[:s.index("(")]
def walk(ns, p, pid):
    for n in ns:
        q = p + [short(n["name"])]
        print("%d|%s|%d|%d|%d|%d" % (pid, " > ".join(q), n["calls"], n["total_ns"],
              n.get("oncpu_ns", -1), n.get("offcpu_ns", -1)))
        walk(n.get("children", []), q, pid)
for t in d["threads"]:
    walk(t.get("tree", []), [], t["pid"])'
}

# calls of the node at PATH summed over threads (0 when there is none)
calls() { # FILE PATH
	awk -F'|' -v p="$2" '$2 == p { n += $3 } END { print n + 0 }' "$1"
}

# the C program's checks: LABEL FILE COMPARES
c_checks() {
	f=$2
	check "$1: work > malloc, free, memcpy, qsort, read" "37 37 23 1 1" \
		"$(calls "$f" 'main > work > malloc@libc.so.6') $(calls "$f" 'main > work > free@libc.so.6') $(calls "$f" 'main > work > memcpy@libc.so.6') $(calls "$f" 'main > work > qsort@libc.so.6') $(calls "$f" 'main > work > read@libc.so.6')"
	check "$1: qsort's compare callback is the library call's child, every call" "$3 0" \
		"$(calls "$f" 'main > work > qsort@libc.so.6 > cmp_int') $(calls "$f" 'main > work > cmp_int')"
	check "$1: the mutex: once in contend, once in the other thread's lock_wait" "1 1 1" \
		"$(calls "$f" 'main > contend > pthread_mutex_lock@libc.so.6') $(calls "$f" 'locker > lock_wait > pthread_mutex_lock@libc.so.6') $(calls "$f" 'main > contend > read@libc.so.6')"
	check "$1: longjmp out of qsort's callback: qsort > cmp_jump, then after_jump under jumpy" \
		"2 2 2 2 2 0" \
		"$(calls "$f" 'main > jumpy') $(calls "$f" 'main > jumpy > qsort@libc.so.6') $(calls "$f" 'main > jumpy > qsort@libc.so.6 > cmp_jump') $(calls "$f" 'main > jumpy > after_jump > malloc@libc.so.6') $(calls "$f" 'main > jumpy > after_jump > free@libc.so.6') $(grep -c 'qsort@libc.so.6 > cmp_jump > ' "$f")"
	check "$1: fork returns in both processes; the child's calls under forker" "2 1 1" \
		"$(calls "$f" 'main > forker > fork@libc.so.6') $(calls "$f" 'main > forker > in_child > malloc@libc.so.6') $(calls "$f" 'main > forker > in_child > free@libc.so.6')"
	check "$1: library calls are exactly the chosen ones, named SYM@libc.so.6" \
		"fork free malloc memcpy pthread_mutex_lock qsort read" \
		"$(awk -F'|' '{ n = split($2, a, " > "); if (a[n] ~ /@/) print a[n] }' "$f" | sed 's/@libc.so.6$//' | sort -u | tr '\n' ' ' | sed 's/ $//')"
}

# the --sched figures: LABEL FILE
sched_checks() {
	check "$1: the blocked read under work is >= 45 ms off-CPU" yes \
		"$(awk -F'|' '$2 == "main > work > read@libc.so.6" { print ($6 >= 45000000) ? "yes" : "no " $6 }' "$2")"
	check "$1: the contended pthread_mutex_lock is >= 20 ms off-CPU" yes \
		"$(awk -F'|' '$2 == "locker > lock_wait > pthread_mutex_lock@libc.so.6" { print ($6 >= 20000000) ? "yes" : "no " $6 }' "$2")"
	check "$1: on-CPU + off-CPU = total per node within 2%" "" \
		"$(awk -F'|' '{ d = $5 + $6 - $4; if (d < 0) d = -d; if ($5 < 0 || d > 0.02 * $4) print $2 }' "$2" | head -3)"
}

# the C++ program's checks: LABEL FILE
cxx_checks() {
	f=$2
	check "$1: exception out of std::sort's comparator: malloc and free under sorter" "1 1 0" \
		"$(calls "$f" 'main > sorter > malloc@libc.so.6') $(calls "$f" 'main > sorter > free@libc.so.6') $(grep -c 'do_sort > .*@libc' "$f")"
	check "$1: exception through qsort: qsort > qcmp_throw, then malloc and free under qsorter" \
		"2 6 2 2 0" \
		"$(calls "$f" 'main > qsorter > qsort@libc.so.6') $(calls "$f" 'main > qsorter > qsort@libc.so.6 > qcmp_throw') $(calls "$f" 'main > qsorter > malloc@libc.so.6') $(calls "$f" 'main > qsorter > free@libc.so.6') $(grep -c 'qcmp_throw > ' "$f")"
}

have_sched=
for cc in gcc clang; do
	cxx=g++
	[ $cc = clang ] && cxx=clang++
	if ! command -v $cc >/dev/null || ! command -v $cxx >/dev/null; then
		bad "$cc" "not installed"
		continue
	fi
	for opt in -O0 -O2; do
		L="$cc $opt"
		$cc $opt -g -finstrument-functions -o "$T/p" "$HERE/progs/libcallprog.c" -lpthread ||
			{ bad "$L build" "compiler failed"; continue; }
		$cxx $opt -g -finstrument-functions -o "$T/e" "$HERE/progs/libcallexc.cc" ||
			{ bad "$L build" "compiler failed"; continue; }
		db="sqlite:$T/$cc$opt.db"
		"$C" record --libcalls="$GLOB" --sched --store "$db" -- "$T/p" >"$T/out" 2>"$T/err"
		check "$L: exit 0, the program's output" "0 1" "$? $(grep -c '^compares=[0-9]*$' "$T/out")"
		nodes "$db" >"$T/n"
		c_checks "$L" "$T/n" "$(sed -n 's/^compares=//p' "$T/out")"
		if grep -q -e note -e 'cannot' "$T/err"; then
			echo "# $L: no context switches here ($(head -c 200 "$T/err")): --sched checks skipped"
		else
			have_sched=1
			sched_checks "$L" "$T/n"
		fi
		"$C" record --libcalls='malloc,free,qsort' --store "$db" -- "$T/e" >"$T/out" 2>"$T/err"
		check "$L: C++: exit 0, both exceptions caught" "0 caught=3 sort_calls=5 qsort_calls=6" \
			"$? $(cat "$T/out")"
		nodes "$db" >"$T/n"
		cxx_checks "$L" "$T/n"
	done
done
[ -n "$have_sched" ] || echo "# --sched was not available: off-CPU checks not run"

# binding: lazy (the default here), -z now and LD_BIND_NOW give the same counts
gcc -O2 -g -finstrument-functions -o "$T/lazy" "$HERE/progs/libcallprog.c" -lpthread
gcc -O2 -g -finstrument-functions -Wl,-z,now -o "$T/now" "$HERE/progs/libcallprog.c" -lpthread
check "the -z now build is BIND_NOW, the default one is not" "1 0" \
	"$(readelf -d "$T/now" | grep -c 'FLAGS.*\bNOW\b') $(readelf -d "$T/lazy" | grep -c 'FLAGS.*\bNOW\b')"
for how in lazy now bindnow; do
	exe=$T/lazy
	[ $how = now ] && exe=$T/now
	if [ $how = bindnow ]; then
		LD_BIND_NOW=1 "$C" record --libcalls="$GLOB" --store "sqlite:$T/b.db" -- "$exe" >"$T/out" 2>/dev/null
	else
		"$C" record --libcalls="$GLOB" --store "sqlite:$T/b.db" -- "$exe" >"$T/out" 2>/dev/null
	fi
	nodes "sqlite:$T/b.db" >"$T/n"
	check "$how: work's library calls" "37 37 23 1 $(sed -n 's/^compares=//p' "$T/out")" \
		"$(calls "$T/n" 'main > work > malloc@libc.so.6') $(calls "$T/n" 'main > work > free@libc.so.6') $(calls "$T/n" 'main > work > memcpy@libc.so.6') $(calls "$T/n" 'main > work > qsort@libc.so.6') $(calls "$T/n" 'main > work > qsort@libc.so.6 > cmp_int')"
done

# a dlopened instrumented library (RTLD_LOCAL): its library calls are traced from its first call
gcc -O2 -g -finstrument-functions -shared -fPIC -o "$T/libcall_dl.so" "$HERE/progs/libcall_dl.c"
"$C" record --libcalls="$GLOB" --store "sqlite:$T/dl.db" -- "$T/lazy" "$T/libcall_dl.so" >/dev/null 2>&1
nodes "sqlite:$T/dl.db" >"$T/n"
check "dlopen: the library's malloc and free under its lc_dl_work, work's as before" "5 5 37" \
	"$(calls "$T/n" 'main > dl_part > lc_dl_work > malloc@libc.so.6') $(calls "$T/n" 'main > dl_part > lc_dl_work > free@libc.so.6') $(calls "$T/n" 'main > work > malloc@libc.so.6')"

# --libcalls alone: every PLT call of the program, the C++ runtime's included; a throw works
g++ -O2 -g -finstrument-functions -o "$T/e" "$HERE/progs/libcallexc.cc"
"$C" record --libcalls --store "sqlite:$T/all.db" -- "$T/e" >"$T/out" 2>"$T/err"
check "--libcalls alone: exit 0, exceptions caught" "0 caught=3 sort_calls=5 qsort_calls=6" \
	"$? $(cat "$T/out")"
nodes "sqlite:$T/all.db" >"$T/n"
check "--libcalls alone: each throw's __cxa_allocate_exception, the trees as before" "3 1 2" \
	"$(awk -F'|' '$2 ~ /__cxa_allocate_exception@libstdc\+\+\.so\.6$/ { n += $3 } END { print n + 0 }' "$T/n") $(calls "$T/n" 'main > sorter > malloc@libc.so.6') $(calls "$T/n" 'main > qsorter > qsort@libc.so.6')"
check "--libcalls alone: option.libcalls=* in the run's metadata" "*" \
	"$("$R" --store "sqlite:$T/all.db" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"].get("option.libcalls"))')"

# bare LD_PRELOAD: CTRACE_LIBCALLS, then ctrace commit
mkdir -p "$T/bare"
CTRACE_LIBCALLS='malloc;free' CTRACE_DIR="$T/bare" LD_PRELOAD="$B/libctrace.so" "$T/lazy" >"$T/out" 2>"$T/err"
check "bare LD_PRELOAD: exit 0, output unchanged, nothing on stderr" "0 1 0" \
	"$? $(grep -c '^compares=' "$T/out") $(wc -c <"$T/err")"
"$C" commit --store "sqlite:$T/bare.db" "$T/bare"/*/ 2>/dev/null
nodes "sqlite:$T/bare.db" >"$T/n"
check "bare LD_PRELOAD: malloc and free counted, memcpy not chosen" "37 37 0" \
	"$(calls "$T/n" 'main > work > malloc@libc.so.6') $(calls "$T/n" 'main > work > free@libc.so.6') $(calls "$T/n" 'main > work > memcpy@libc.so.6')"

# without --libcalls: no library call anywhere
"$C" record --store "sqlite:$T/off.db" -- "$T/lazy" >/dev/null 2>&1
check "without --libcalls: no SYM@LIB node" 0 "$(nodes "sqlite:$T/off.db" | grep -c '@lib')"

# store backends and exports keep the names
"$C" record -k -d "$T/raw" --libcalls="$GLOB" --store "sqlite:$T/s.db" -- "$T/lazy" >/dev/null 2>&1
"$C" commit -k --store "jsonl:$T/s.jsonl" "$T/raw"/*/ 2>/dev/null
nodes "sqlite:$T/s.db" | cut -d'|' -f2,3 >"$T/a"
nodes "jsonl:$T/s.jsonl" | cut -d'|' -f2,3 >"$T/b"
check "JSON Lines store: the same tree and counts as SQLite" "yes" \
	"$([ -s "$T/a" ] && cmp -s "$T/a" "$T/b" && echo yes)"
if [ -n "${CTRACE_TEST_PG:-}" ]; then # make test's throwaway server (tests/pg.sh)
	"$C" commit -k --store "$CTRACE_TEST_PG" "$T/raw"/*/ 2>/dev/null
	nodes "$CTRACE_TEST_PG" "$(basename "$T/raw"/*/)" | cut -d'|' -f2,3 >"$T/p"
	check "PostgreSQL store: the same tree and counts as SQLite" "yes" \
		"$([ -s "$T/a" ] && cmp -s "$T/a" "$T/p" && echo yes)"
fi
"$C" show --store "sqlite:$T/s.db" latest --format folded >"$T/folded" 2>/dev/null
check "folded: library-call frames annotated _[lib]" "1 1" \
	"$(grep -c '^main;work;qsort@libc.so.6_\[lib\];cmp_int ' "$T/folded") $(grep -c '^main;work;malloc@libc.so.6_\[lib\] ' "$T/folded")"
"$C" show --store "sqlite:$T/s.db" latest --format chrome --out "$T/trace.json" 2>/dev/null
check "chrome: one slice per library call (malloc 37+2+1 in all, qsort 3)" "40 3" \
	"$(python3 -c '
import json, sys
ev = json.load(open(sys.argv[1]))["traceEvents"]
n = lambda s: sum(1 for x in ev if x.get("name") == s and x.get("ph") in ("X", "B"))
print(n("malloc@libc.so.6"), n("qsort@libc.so.6"))' "$T/trace.json")"
P=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$C" serve --store "sqlite:$T/s.db" --listen "127.0.0.1:$P" 2>"$T/serve.err" &
srv=$!
i=0
while [ $i -lt 100 ] && ! grep -q "http://127.0.0.1:$P/" "$T/serve.err" 2>/dev/null; do
	sleep 0.1
	i=$((i + 1))
done
check "serve: /api/runs/latest names qsort@libc.so.6 with its 3 calls" "3" \
	"$(python3 -c '
import json, sys, urllib.request
d = json.load(urllib.request.urlopen("http://127.0.0.1:%s/api/runs/latest" % sys.argv[1]))
print(sum(x["calls"] for x in d["functions"] if x["name"] == "qsort@libc.so.6"))' "$P" 2>&1)"
kill "$srv" 2>/dev/null
wait "$srv" 2>/dev/null
srv=
check "the viewer colours library calls apart" 1 \
	"$(grep -c 'function isLibcall' "$ROOT/tools/export/assets/viewer.js")"

summary "libcalls"
