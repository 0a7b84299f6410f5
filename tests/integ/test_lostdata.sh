#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs that lost data before (issue 24, items 9-11): a --ring recording whose recorder was
# killed is committed from its rings; `ctrace commit` refuses a run whose program still runs
# and leaves it whole; a daemon that outlives `ctrace record` is named in the run; --max-size
# below one chunk keeps the events that fit, exactly counted; a run without events says why.
# Built with gcc and clang. Prints ok/FAIL lines.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
ROOT=$(cd "$HERE/../.." && pwd)
B=$(cd "${1:-$ROOT/build}" && pwd)
T=$(mktemp -d /tmp/ctrace-lost.XXXXXX)
# a program left waiting by a failed check (a daemon, a waiting writer) is ended, by its pid,
# before the directory goes
cleanup() {
	for p in $(pgrep -f "$T/" 2>/dev/null); do kill "$p" 2>/dev/null; done
	for _ in $(seq 1 50); do
		[ -z "$(pgrep -f "$T/")" ] && break
		sleep 0.1
	done
	rm -rf "$T"
}
trap cleanup EXIT
C=$B/ctrace
R=$B/ctrace-report
L=$B/libctrace.so
export CTRACE_CHECK_INVARIANTS=1

CCS=gcc
command -v clang >/dev/null 2>&1 && CCS="gcc clang"
for cc in $CCS; do
	$cc -O2 -g -finstrument-functions -o "$T/lostprog-$cc" "$HERE/progs/lostprog.c" &&
		$cc -O2 -g -finstrument-functions -o "$T/ringprog-$cc" "$HERE/progs/ringprog.c" \
			-lpthread || { bad "build ($cc)" "$cc failed"; exit 1; }
done
gcc -O2 -g -finstrument-functions -o "$T/fib" "$HERE/progs/fib.c" &&
	gcc -O2 -o "$T/fib-plain" "$HERE/progs/fib.c" || { bad build "gcc failed"; exit 1; }
# a static build needs libc.a (libc6-dev); without it that check is skipped
gcc -static -O2 -g -finstrument-functions -o "$T/fib-static" "$HERE/progs/fib.c" 2>/dev/null

field() { # STORE FUNC KEY: a function's field summed over the run's functions (report --json)
	"$R" --store "sqlite:$1" --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sum(f[sys.argv[2]] for f in d["functions"] if f["name"] == sys.argv[1]))' "$2" "$3" 2>/dev/null
}
runkey() { # STORE KEY: a field or metadata value of the run (report --json)
	"$R" --store "sqlite:$1" --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d.get(sys.argv[1], d.get("metadata", {}).get(sys.argv[1])))' "$2" 2>/dev/null
}
gone() { # PATTERN: waits (at most 20 s) until no process matches
	for _ in $(seq 1 200); do
		[ -z "$(pgrep -f "$1")" ] && return 0
		sleep 0.1
	done
	return 1
}
appears() { # GLOB: waits (at most 20 s) until a file matches
	for _ in $(seq 1 200); do
		# shellcheck disable=SC2086
		ls $1 >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
code() { sed -n 's/.*\(CTRACE_E_[A-Z_]*\).*/\1/p' "$1" | head -n 1; }

for cc in $CCS; do
	# ---- 9: --ring, the recorder killed (by the program), the program runs on to its end ----
	S=$T/ring-$cc
	"$C" record -d "$S.d" --store "sqlite:$S.db" --ring 1M -- "$T/ringprog-$cc" orphan 1000000 \
		>"$S.out" 2>"$S.err"
	gone "$T/ringprog-$cc orphan" || bad "--ring, recorder killed ($cc)" "the program did not end"
	run=$(ls -d "$S.d"/*/ | head -n 1)
	check "--ring, recorder killed ($cc): its rings stay behind" 1 "$(ls "$run" | grep -c '\.ring$')"
	"$C" commit --store "sqlite:$S.db" "$run" >/dev/null 2>"$S.cerr"
	check "--ring, recorder killed ($cc): ctrace commit succeeds" "0 " "$? $(code "$S.cerr")"
	# a 1 MiB ring holds the last ~200,000 calls of the 1,000,000 (4 bytes a call)
	w=$(field "$S.db" work calls)
	check "--ring, recorder killed ($cc): the rings' last calls are in the store ($w)" yes \
		"$([ "${w:-0}" -gt 150000 ] && [ "$w" -lt 262144 ] && echo yes)"
	check "--ring, recorder killed ($cc): main and calls inherited, once each" "1 1" \
		"$(field "$S.db" main calls) $(field "$S.db" calls calls)"
	check "--ring, recorder killed ($cc): the snapshot says why (snapshot_reason)" recorder_gone \
		"$(runkey "$S.db" snapshot_reason)"
	check "--ring, recorder killed ($cc): raw directory removed" no "$([ -d "$run" ] && echo yes || echo no)"

	# ---- 10: a bare LD_PRELOAD run still running is refused, and left whole ----
	S=$T/live-$cc
	rm -f "$T/go"
	CTRACE_DIR=$S.d LD_PRELOAD=$L "$T/lostprog-$cc" wait "$T/go" 1000 >"$S.out" 2>&1 &
	pid=$!
	appears "$S.d/*/t-*.ev" || bad "running ($cc)" "no event file appeared"
	run=$(ls -d "$S.d"/*/ | head -n 1)
	before=$(ls "$run" | sort | tr '\n' ' ')
	CTRACE_DIR=$S.d "$C" commit --store "sqlite:$S.db" >/dev/null 2>"$S.err1"
	check "running ($cc): ctrace commit (the default directory) refuses, exit 1" "1 CTRACE_E_EXISTS" "$? $(code "$S.err1")"
	"$C" commit --store "sqlite:$S.db" "$run" >/dev/null 2>"$S.err2"
	check "running ($cc): ctrace commit DIR refuses, exit 1" "1 CTRACE_E_EXISTS" "$? $(code "$S.err2")"
	check "running ($cc): the message names the process" 1 "$(grep -c "process $pid is running" "$S.err2")"
	"$C" --json-errors commit --store "sqlite:$S.db" "$run" >/dev/null 2>"$S.err3"
	check "running ($cc): errno EBUSY in the JSON trailer" yes \
		"$(tail -n 1 "$S.err3" | python3 -c 'import json,sys,errno; print("yes" if json.load(sys.stdin)["context"].get("errno") == errno.EBUSY else "no")')"
	check "running ($cc): ctrace show DIR refuses too (nothing half stored)" 1 \
		"$("$C" show --store "sqlite:$S.db" "$run" >/dev/null 2>&1; echo $?)"
	check "running ($cc): the run directory is untouched" "$before" "$(ls "$run" | sort | tr '\n' ' ')"
	check "running ($cc): nothing in the store" 0 \
		"$("$C" list --store "sqlite:$S.db" --json 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>/dev/null || echo 0)"
	touch "$T/go"
	wait "$pid"
	check "running ($cc): the program ran to its end" "done 2000" "$(cat "$S.out" 2>/dev/null)"
	CTRACE_DIR=$S.d "$C" commit --store "sqlite:$S.db" >/dev/null 2>"$S.err4"
	check "running ($cc): once it ended, committed whole: work x2000, nothing lost" "0 2000 0" \
		"$? $(field "$S.db" work calls) $(runkey "$S.db" lost_events)"

	# ---- 10: a daemon that outlives ctrace record is named, and the run is committed ----
	for buf in 4M 0; do
		S=$T/daemon-$cc-$buf
		rm -f "$T/go2"
		"$C" record -d "$S.d" --store "sqlite:$S.db" --buffer "$buf" -- \
			"$T/lostprog-$cc" daemon "$T/go2" 1000 >"$S.out" 2>"$S.err"
		st=$?
		dpid=$(pgrep -f "$T/lostprog-$cc daemon" | head -n 1)
		check "daemon, --buffer $buf ($cc): record exits 0 with the program" "0 done parent" "$st $(cat "$S.out")"
		check "daemon, --buffer $buf ($cc): the daemon still runs" yes "$([ -n "$dpid" ] && echo yes)"
		check "daemon, --buffer $buf ($cc): record warns, naming it" 1 \
			"$(grep -c "process $dpid still running at commit" "$S.err")"
		check "daemon, --buffer $buf ($cc): the run names it (running_at_commit)" "$dpid" \
			"$(runkey "$S.db" running_at_commit)"
		check "daemon, --buffer $buf ($cc): its calls up to the commit are in the run" 1000 \
			"$(field "$S.db" work calls)"
		touch "$T/go2"
		gone "$T/lostprog-$cc daemon" || bad "daemon ($cc)" "did not end"
	done
done

# ---- 11: --max-size below one chunk keeps what fits, every event kept or counted ----
# fib(20): 21891 calls of fib, 43784 enters and exits with main
for m in 4K 100K; do
	S=$T/max-$m
	"$C" record -d "$S.d" --store "sqlite:$S.db" --keep --max-size $m -- "$T/fib" 20 >"$S.out" 2>"$S.err"
	check "--max-size $m: committed (exit 0, no error)" "0 " "$? $(code "$S.err")"
	run=$(ls -d "$S.d"/*/ | head -n 1)
	bytes=$(cat "$run"/t-*.ev | wc -c)
	lim=$(($(echo $m | tr -d K) * 1024 + 128))
	check "--max-size $m: events kept, within the bound ($bytes bytes)" yes \
		"$([ "$bytes" -le "$lim" ] && [ "$bytes" -gt $((lim - 256)) ] && echo yes)"
	kept=$("$C" dump "$run" | awk '$4 == "enter" || $4 == "exit" { n++ } END { print n + 0 }')
	lost=$(runkey "$S.db" lost_events)
	check "--max-size $m: kept + lost events = all 43784 events" 43784 "$((kept + ${lost:-0}))"
	# every kept enter is a call in the store (those open at the cut end there)
	enters=$("$C" dump "$run" | awk '$4 == "enter" && $7 == "fib" { n++ } END { print n + 0 }')
	check "--max-size $m: the store has the kept calls" "$enters" "$(field "$S.db" fib calls)"
done

# ---- 11: a run without events says why, each case its own message ----
noev() { # NAME EXPECTED-TEXT RECORD-ARGS...: record; checks the code and the message
	name=$1 text=$2
	shift 2
	"$C" record -d "$T/ne.d" --store "sqlite:$T/ne.db" "$@" >/dev/null 2>"$T/ne.err"
	check "no events, $name: CTRACE_E_NO_EVENTS" CTRACE_E_NO_EVENTS "$(code "$T/ne.err")"
	check "no events, $name: says why" 1 "$(grep -c -- "$text" "$T/ne.err")"
}
noev "--filter nomatch" "no function matching --filter 'nomatch' was called" --filter nomatch -- "$T/fib" 10
noev "--module nomatch" "no function of a module matching --module 'nomatch' was called" --module nomatch -- "$T/fib" 10
noev "--start off" "started with recording off (--start off) and it was never switched on" --start off -- "$T/fib" 10
noev "--sample-rate 0" "no process of '$T/fib 10' was sampled" --sample-rate 0 -- "$T/fib" 10
noev "not instrumented" "was '$T/fib-plain 10' compiled with -finstrument-functions?" -- "$T/fib-plain" 10
if [ -x "$T/fib-static" ]; then
	noev "static binary" "'$T/fib-static 10' is statically linked" -- "$T/fib-static" 10
fi
check "no events: the -finstrument-functions question is asked only once" 0 \
	"$("$C" record -d "$T/ne.d" --store "sqlite:$T/ne.db" --filter nomatch -- "$T/fib" 10 2>&1 >/dev/null | grep -c finstrument)"

summary lostdata
