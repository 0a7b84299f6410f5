#!/bin/sh
# SPDX-License-Identifier: MIT
# Integration tests of the recorder: small programs built with gcc and clang at -O0 and -O2,
# run under libctrace.so, checked from decoded events (ctrace dump) and the committed store.
# usage: tests/integ/run.sh [BUILD_DIR]     prints "ok NAME" / "FAIL NAME: why", then a summary.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
B=$(cd "${1:-build}" && pwd)
CTRACE=$B/ctrace
LIB=$B/libctrace.so
T=$(mktemp -d /tmp/ctrace-integ.XXXXXX)
trap 'rm -rf "$T"' EXIT
P=$HERE/progs


# record NAME PROG ARGS: runs under the preload into a fresh directory, dumps it to $T/NAME.dump
record() {
	name=$1
	shift
	rm -rf "$T/$name.d"
	CTRACE_DIR=$T/$name.d LD_PRELOAD=$LIB "$@" >"$T/$name.out" 2>"$T/$name.err"
	status=$?
	run=$(ls -d "$T/$name.d"/*/ 2>/dev/null | head -n 1)
	if [ -z "$run" ]; then
		echo "" >"$T/$name.dump"
		return
	fi
	"$CTRACE" dump "$run" >"$T/$name.dump" 2>"$T/$name.dumperr" || echo "dump failed" >>"$T/$name.dumperr"
}
# count DUMP FUNC [PID]: enters of FUNC (C name or C++ "FUNC(...)")
count() {
	awk -v f="$2" -v p="${3:-}" '$4 == "enter" && ($7 == f || index($7, f "(") == 1) && (p == "" || $1 == p) { n++ } END { print n + 0 }' "$1"
}
balanced() { # enters+inherits == exits
	awk '$4 == "enter" || $4 == "inherit" { o++ } $4 == "exit" { c++ } END { print (o == c && o > 0) ? "yes" : "no " o "/" c }' "$1"
}
depth_of() { # first enter depth of FUNC
	awk -v f="$2" '$4 == "enter" && ($7 == f || index($7, f "(") == 1) { print $5; exit }' "$1"
}

for CC in gcc clang; do
	case $CC in gcc) CXX=g++ ;; clang) CXX=clang++ ;; esac
	command -v $CC >/dev/null 2>&1 || { bad "$CC" "compiler not installed"; continue; }
	for O in -O0 -O2; do
		tag="$CC$O"
		F="$O -g -finstrument-functions"
		X=$T/bin-$tag
		mkdir -p "$X"
		$CC $F -o "$X/fib" "$P/fib.c" &&
		$CC $F -pthread -o "$X/threads" "$P/threads.c" &&
		$CC $F -o "$X/forkexec" "$P/forkexec.c" &&
		$CC $F -o "$X/crash" "$P/crash.c" &&
		$CC $F -o "$X/dlmain" "$P/dlmain.c" -ldl &&
		$CC $F -shared -fPIC -o "$X/libdl_lib.so" "$P/dl_lib.c" &&
		$CC $F -o "$X/sig" "$P/sig.c" &&
		$CC $F -o "$X/jump" "$P/jump.c" &&
		$CC $F -o "$X/deep" "$P/deep.c" &&
		$CC $F -o "$X/vfork" "$P/vfork.c" &&
		$CXX $F -o "$X/cleanup" "$P/cleanup.cc" &&
		$CXX $F -o "$X/exc" "$P/exc.cc" || { bad "$tag build" "compilation failed"; continue; }

		record fib "$X/fib"
		check "$tag fib(20) calls" 21891 "$(count "$T/fib.dump" fib)"
		check "$tag fib main calls" 1 "$(count "$T/fib.dump" main)"
		check "$tag fib balanced" yes "$(balanced "$T/fib.dump")"
		check "$tag fib output" 6765 "$(cat "$T/fib.out")"

		record threads "$X/threads"
		got=$(awk '$4 == "enter" && $7 == "leaf" { n[$2]++ } END { for (t in n) print n[t] }' "$T/threads.dump" | sort -n | tr '\n' ' ')
		check "$tag 8 threads per-thread counts" "1000 2000 3000 4000 5000 6000 7000 8000 " "$got"
		check "$tag threads: one file per thread" 9 "$(ls "$run" | grep -c '^t-')"

		record forkexec "$X/forkexec"
		check "$tag fork+exec status" 0 "$status"
		check "$tag fork+exec process files" 3 "$(ls "$run" | grep -c '^p-.*\.meta$')"
		parent=$(awk '$4 == "enter" && $7 == "a" { print $1; exit }' "$T/forkexec.dump")
		child=$(awk '$4 == "enter" && $7 == "b" { print $1; exit }' "$T/forkexec.dump")
		check "$tag fork: a() x3 in parent" 3 "$(count "$T/forkexec.dump" a "$parent")"
		check "$tag fork: b() x5 in child" 5 "$(count "$T/forkexec.dump" b "$child")"
		check "$tag exec: c() x7 in exec'd child" 7 "$(count "$T/forkexec.dump" c "$child")"
		check "$tag fork: child's ppid is the parent" "$parent" "$(sed -n 's/^ppid=//p' "$run/p-$child-0.meta")"
		check "$tag exec: new image is gen 1 of the child" 1 "$(sed -n 's/^gen=//p' "$run/p-$child-1.meta")"
		check "$tag fork: child inherits main frame" 1 "$(awk -v c="$child" '$1 == c && $4 == "inherit" && $7 == "main"' "$T/forkexec.dump" | wc -l)"

		record crash "$X/crash"
		check "$tag crash: dies by SIGSEGV" 139 "$status"
		check "$tag crash: 1000 calls on disk" 1000 "$(count "$T/crash.dump" f)"
		cm=$(ls "$run"/p-*.meta)
		check "$tag crash: signal recorded" "11 1" "$(sed -n 's/^signal=//p' "$cm") $(sed -n 's/^crashed=//p' "$cm")"
		check "$tag crash: backtrace saved" yes "$(grep -q '^frame=0x' "$run"/p-*.crash && echo yes)"

		record dl "$X/dlmain" "$X/libdl_lib.so"
		check "$tag dlopen: lib_fn x10" 10 "$(count "$T/dl.dump" lib_fn)"
		check "$tag dlopen: lib_helper x10" 10 "$(count "$T/dl.dump" lib_helper)"
		check "$tag dlopen: module map has the library" 1 "$(grep -c "^L .*libdl_lib.so$" "$run"/p-*.maps)"

		record sig "$X/sig"
		check "$tag signal handler: on_sig x3" 3 "$(count "$T/sig.dump" on_sig)"
		check "$tag signal handler: nested in fire" "$(($(depth_of "$T/sig.dump" fire) + 1))" "$(depth_of "$T/sig.dump" on_sig)"
		check "$tag signal balanced" yes "$(balanced "$T/sig.dump")"

		record jump "$X/jump"
		check "$tag longjmp: after() is a child of f0" "$(($(depth_of "$T/jump.dump" f0) + 1))" "$(depth_of "$T/jump.dump" after)"
		check "$tag longjmp: f1..f5 closed" 5 "$(awk '$4 == "exit" && $7 ~ /^f[1-5]$/' "$T/jump.dump" | wc -l)"
		check "$tag longjmp balanced" yes "$(balanced "$T/jump.dump")"

		record exc "$X/exc"
		check "$tag exception: after() is a child of catcher" "$(($(depth_of "$T/exc.dump" catcher) + 1))" "$(depth_of "$T/exc.dump" after)"
		check "$tag exception: t1..t3 closed" 3 "$(awk '$4 == "exit" && $7 ~ /^t[1-3]/' "$T/exc.dump" | wc -l)"
		check "$tag exception balanced" yes "$(balanced "$T/exc.dump")"

		record cleanup "$X/cleanup"
		check "$tag cleanup: D::~D() x3 a child of mid()" "3 $(($(depth_of "$T/cleanup.dump" "mid") + 1))" \
			"$(count "$T/cleanup.dump" "D::~D") $(depth_of "$T/cleanup.dump" "D::~D")"
		check "$tag cleanup balanced" yes "$(balanced "$T/cleanup.dump")"

		record vfork "$X/vfork"
		check "$tag vfork: status" 0 "$status"
		check "$tag vfork: spawn() x5, after() a child of main" "5 2" \
			"$(count "$T/vfork.dump" spawn) $(depth_of "$T/vfork.dump" after)"
		check "$tag vfork: the child's calls are not the parent's" 0 "$(count "$T/vfork.dump" in_child)"
		check "$tag vfork balanced" yes "$(balanced "$T/vfork.dump")"

		record deep "$X/deep"
		check "$tag 100k-deep recursion calls" 100001 "$(count "$T/deep.dump" rec)"
		check "$tag 100k-deep max depth" 100002 "$(awk '$4 == "enter" && $5 > m { m = $5 } END { print m }' "$T/deep.dump")"
		check "$tag deep balanced" yes "$(balanced "$T/deep.dump")"
	done
done

# Process life (gcc -O2): how a process ends is recorded and unchanged; 1000+ threads.
X=$T/bin-life
mkdir -p "$X"
if gcc -O2 -g -finstrument-functions -pthread -o "$X/life" "$P/life.c"; then
	for c in "exit 7:7::" "_exit 9:9::" "sig 15:143:15:" "sig 2:130:2:" "abort:134:6:1" "fpe:136:8:1" "sig 7:135:7:1"; do
		args=${c%%:*}
		rest=${c#*:}
		want_status=${rest%%:*}
		rest=${rest#*:}
		want_sig=${rest%%:*}
		want_crash=${rest#*:}
		# shellcheck disable=SC2086
		record life "$X/life" $args
		m=$(ls "$run"/p-*.meta)
		check "life '$args': status unchanged" "$want_status" "$status"
		check "life '$args': 100 calls on disk" 100 "$(count "$T/life.dump" f)"
		if [ -n "$want_sig" ]; then
			check "life '$args': signal recorded" "$want_sig" "$(sed -n 's/^signal=//p' "$m")"
		else
			check "life '$args': exit status recorded" "$want_status" "$(sed -n 's/^exit_status=//p' "$m")"
		fi
		check "life '$args': crash flag" "$want_crash" "$(sed -n 's/^crashed=//p' "$m")"
	done
	"$CTRACE" record -d "$T/rec.d" --store "sqlite:$T/life.db" -- "$X/life" sig 15 >/dev/null 2>&1
	check "ctrace record returns 128+N for a program killed by N" 143 "$?"
	"$CTRACE" record -d "$T/rec.d" --store "sqlite:$T/life.db" -- "$X/life" exit 7 >/dev/null 2>&1
	check "ctrace record returns the program's exit status" 7 "$?"
	if gcc -O1 -g -finstrument-functions -o "$X/cdexec" "$P/cdexec.c"; then
		(cd "$T" && "$CTRACE" record -d rel.d --store "sqlite:$T/cd.db" -- "$X/cdexec" >/dev/null 2>&1)
		check "record -d RELATIVE: an image exec'd after chdir joins the run" 2 \
			"$("$B/ctrace-report" --store "sqlite:$T/cd.db" --json | python3 -c 'import json,sys; print(sum(f["calls"] for f in json.load(sys.stdin)["functions"] if f["name"] == "work"))')"
	fi
	record threads1200 "$X/life" threads 1200
	check "1200 threads: one event file each (+ main)" 1201 "$(ls "$run" | grep -c '^t-')"
	check "1200 threads: 12000 calls" 12000 "$(count "$T/threads1200.dump" f)"
	check "1200 threads: every file closed with its exact length (+ main)" 1201 "$(for f in "$run"/t-*.ev; do od -A n -t u4 -j 12 -N 4 "$f"; done | awk '$1 >= 2' | wc -l)"
else
	bad "life build" "compilation failed"
fi

summary "integration"
