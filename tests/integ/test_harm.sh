#!/bin/sh
# SPDX-License-Identifier: MIT
# The traced program harmed (issue 24, items 3-6, 12 and a part of 16; docs/recording.md "What
# the preload promises"): a pending pthread_cancel fires where it would natively, never in the
# preload, and asynchronous cancellation leaves a run that commits; no descriptor per live
# thread; a raw clone(CLONE_VM) child gets its own stream; siglongjmp out of a signal handler
# keeps recording; `ctrace ctl PID on` reaches a thread in a tight loop; a cancelled thread
# shows its whole life. Each with tests/integ/progs/harm.c built with gcc and clang.
#
# usage: tests/integ/test_harm.sh [BUILD_DIR]    prints "ok NAME" / "FAIL NAME: why"
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
ROOT=$(cd "$HERE/../.." && pwd)
B=$(cd "${1:-$ROOT/build}" && pwd)
T=$(mktemp -d /tmp/ctrace-harm.XXXXXX)
C=$B/ctrace
R=$B/ctrace-report
L=$B/libctrace.so
# a program left running by a failed check is ended, by its pid, before the directory goes
cleanup() {
	for p in $(pgrep -f "$T/" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
unset CTRACE_DIR CTRACE_RUN_DIR CTRACE_FILTER CTRACE_EXCLUDE CTRACE_MODULE CTRACE_START \
	CTRACE_DEPTH CTRACE_MIN_DURATION CTRACE_SAMPLE CTRACE_SAMPLE_RATE CTRACE_LOG_FILE
export CTRACE_CHECK_INVARIANTS=1

CCS=gcc
command -v clang >/dev/null 2>&1 && CCS="gcc clang"
for cc in $CCS; do
	$cc -O2 -g -finstrument-functions -o "$T/harm-$cc" "$HERE/progs/harm.c" -lpthread ||
		{ bad "build ($cc)" "$cc failed"; exit 1; }
done

# "NAME CALLS TOTAL_NS" per function of the latest run in store $1
funcs() {
	"$R" --json --top 0 --min-percent 0 --store "$1" 2>/dev/null | python3 -c '
import json, sys
for f in json.load(sys.stdin)["functions"]:
    print(f["name"], f["calls"], f["total_ns"])'
}
calls() { funcs "$1" | awk -v n="$2" '$1 == n { c += $2 } END { print c + 0 }'; }
total_ns() { funcs "$1" | awk -v n="$2" '$1 == n { c += $3 } END { printf "%d\n", c }'; }
nruns() { "$C" list --json -s "$1" 2>/dev/null | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))'; }
# the parent function of the first ENTER of $2 in a dump $1 (same thread)
parent_of() {
	awk -v f="$2" '$4 == "enter" || $4 == "inherit" { s[$2, $5] = $7 }
		$4 == "enter" && $7 == f { print s[$2, $5 - 1]; exit }' "$1"
}

for cc in $CCS; do
	P=$T/harm-$cc
	S=sqlite:$T/$cc.db

	# ---- 3: a pending cancel fires at the program's own cancellation point
	check "$cc cancel: natively, the thread runs on to its pthread_testcancel" \
		"reached 1 canceled 1" "$("$P" cancel)"
	check "$cc cancel: the same with the bare preload" "reached 1 canceled 1" \
		"$(CTRACE_DIR=$T/raw LD_PRELOAD=$L "$P" cancel 2>"$T/err")"
	rm -rf "$T/raw"
	out=$("$C" record -d "$T/d" -s "$S" -- "$P" cancel 2>"$T/err")
	check "$cc cancel: the same under ctrace record" "reached 1 canceled 1" "$out"
	check "$cc cancel: the thread's calls recorded: work x1, leaf x100" "1 100" \
		"$(calls "$S" work) $(calls "$S" leaf)"

	# ---- 3: asynchronous cancel, in the hooks, at the first event and later
	rm -rf "$T/d"
	out=$("$C" record -d "$T/d" -s "$S" --keep -- "$P" async 12 2>"$T/err")
	check "$cc async cancel: every thread ends cancelled" "async 12" "$out"
	check "$cc async cancel: the run commits" "0" "$(grep -c 'CTRACE_E\|raw run is kept' "$T/err")"
	check "$cc async cancel: no ring file stays behind" "0" "$(ls "$T"/d/*/ | grep -c 'ring')"
	check "$cc async cancel: 13 threads in the run" 13 "$(ls "$T"/d/*/ | grep -c '^t-.*\.ev$')"
	check "$cc async cancel: bare preload, every thread ends cancelled" "async 12" \
		"$(CTRACE_DIR=$T/raw LD_PRELOAD=$L "$P" async 12 2>"$T/err")"
	rm -rf "$T/raw" "$T/d"

	# ---- 4: no descriptor per live thread (the program keeps 300 files open besides 900
	# threads under a limit of 1024 descriptors)
	check "$cc fds: natively no EMFILE" "emfile 0" "$(ulimit -n 1024 && "$P" fds 900)"
	check "$cc fds: bare preload, no EMFILE" "emfile 0" \
		"$(ulimit -n 1024 && CTRACE_DIR=$T/raw LD_PRELOAD=$L "$P" fds 900 2>"$T/err")"
	rm -rf "$T/raw"
	out=$(ulimit -n 1024 && "$C" record -d "$T/d" -s "$S" --buffer 0 -- "$P" fds 900 2>"$T/err")
	check "$cc fds: --buffer 0, no EMFILE" "emfile 0" "$out"
	check "$cc fds: --buffer 0, every thread's call recorded" 900 "$(calls "$S" leaf)"

	# ---- 5: a raw clone(CLONE_VM) child, on its parent's TLS, runs while the parent records
	rm -rf "$T/d"
	out=$("$C" record -d "$T/d" -s "$S" --keep -- "$P" clone 100000 2>"$T/err")
	check "$cc clone: the program ran" "clone ok" "$out"
	check "$cc clone: the run commits" 0 "$(grep -c 'CTRACE_E\|raw run is kept' "$T/err")"
	check "$cc clone: exact counts: leaf x300000, child_work x1, after_clone x1" \
		"300000 1 1" "$(calls "$S" leaf) $(calls "$S" child_work) $(calls "$S" after_clone)"
	"$C" dump "$T"/d/*/ >"$T/clone.dump" 2>>"$T/err"
	check "$cc clone: leaf x100000 under each of child_work, mode_clone, after_clone" \
		"100000 100000 100000" "$(for f in child_work mode_clone after_clone; do
			awk -v f=$f '$4 == "enter" || $4 == "inherit" { s[$2, $5] = $7 }
				$4 == "enter" && $7 == "leaf" && s[$2, $5 - 1] == f { n++ }
				END { printf "%d ", n }' "$T/clone.dump"; done | sed 's/ $//')"
	check "$cc clone: the child is a thread of its own, child_work under clone_child" \
		"2 clone_child" "$(awk '{ print $2 }' "$T/clone.dump" | sort -u | wc -l) $(parent_of "$T/clone.dump" child_work)"
	rm -rf "$T/raw"
	check "$cc clone: bare preload, the program runs" "clone ok" \
		"$(CTRACE_DIR=$T/raw LD_PRELOAD=$L "$P" clone 100000 2>"$T/err")"
	"$C" commit -s "sqlite:$T/bare-$cc.db" "$T"/raw/*/ >/dev/null 2>"$T/err"
	rc=$?
	check "$cc clone: bare preload, commits with leaf x300000" "0 300000" \
		"$rc $(calls "sqlite:$T/bare-$cc.db" leaf)"
	rm -rf "$T/raw" "$T/d"

	# ---- 16: a thread ended by pthread_cancel shows its whole life (>= the 20 ms main waits)
	out=$("$C" record -d "$T/d" -s "$S" -- "$P" cancellife 2>"$T/err")
	check "$cc cancelled thread: cancelled" "canceled 1" "$out"
	check "$cc cancelled thread: its frame lasts its whole life (>= 20 ms)" yes \
		"$([ "$(total_ns "$S" life_thread)" -ge 20000000 ] && echo yes || echo "no: $(total_ns "$S" life_thread) ns")"
	check "$cc cancelled thread: leaf x10" 10 "$(calls "$S" leaf)"

	# ---- 6: siglongjmp out of a SIGPROF handler (every 50 us, 2000 jumps), in the hooks too
	rm -rf "$T/d"
	out=$("$C" record -d "$T/d" -s "$S" --keep -- "$P" sigjmp 5000 2>"$T/err")
	"$C" dump "$T"/d/*/ >"$T/sigjmp.dump" 2>>"$T/err"
	check "$cc sigjmp: the program jumped" "sigjmp 1" "$out"
	check "$cc sigjmp: after the timer, after_timer x1 and its leaf x5000" "1 5000" \
		"$(calls "$S" after_timer) $(awk '$4 == "enter" || $4 == "inherit" { s[$2, $5] = $7 }
			$4 == "enter" && $7 == "leaf" && s[$2, $5 - 1] == "after_timer" { n++ }
			END { print n + 0 }' "$T/sigjmp.dump")"
	check "$cc sigjmp: after_timer called from mode_sigjmp" mode_sigjmp \
		"$(parent_of "$T/sigjmp.dump" after_timer)"
	check "$cc sigjmp: the jumps' busy() frames all closed (main, mode_sigjmp open)" 2 \
		"$(awk '$4 == "enter" && $7 == "after_timer" { print $5 - 1; exit }' "$T/sigjmp.dump")"
	check "$cc sigjmp: the run commits" 0 "$(grep -c 'CTRACE_E\|raw run is kept' "$T/err")"
	rm -rf "$T/d"

	# ---- 12: ctrace ctl PID on reaches a thread in a tight loop (--start off)
	good=0
	for try in 1 2 3 4; do
		rm -rf "$T/d" "$T/sync"
		mkdir -p "$T/sync"
		"$C" record -d "$T/d" -s "$S" --keep --start off -- "$P" loop "$T/sync" \
			>/dev/null 2>"$T/err" &
		rpid=$!
		n=0
		while [ ! -f "$T/sync/ready" ] && [ $n -lt 2000 ]; do sleep 0.01; n=$((n + 1)); done
		pid=$(pgrep -P "$rpid" | head -n 1)
		"$C" ctl "$pid" on
		# switched on: the loop thread (main waits in pthread_join) gets its stream
		n=0
		while ! ls "$T"/d/*/ 2>/dev/null | grep -q '^[rt]-' && [ $n -lt 2000 ]; do
			sleep 0.01
			n=$((n + 1))
		done
		kill -s RTMAX "$pid"
		wait "$rpid"
		[ "$(calls "$S" leaf)" -gt 0 ] && [ "$(calls "$S" tail)" = 1 ] &&
			[ "$(calls "$S" loop_thread)" = 1 ] && good=$((good + 1))
	done
	check "$cc ctl on: the tight loop's calls recorded, tries" "4 of 4" "$good of 4"
	rm -rf "$T/d"
done
summary "test_harm"
