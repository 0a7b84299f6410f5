#!/bin/sh
# SPDX-License-Identifier: MIT
# Shared rings drained by `ctrace record` (docs/recording.md "Shared rings"): every call of a
# program killed by SIGKILL or a crash right after N calls reaches the store, fork/exec and 1000
# threads keep exact counts, a stalled drainer costs counted loss and never the program,
# a killed recorder's rings are drained by `ctrace commit`, and --max-size keeps the run within
# its bound with exact lost counts. Prints ok/FAIL lines.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
ROOT=$(cd "$HERE/../.." && pwd)
B=$(cd "${1:-$ROOT/build}" && pwd)
T=$(mktemp -d /tmp/ctrace-ring.XXXXXX)
trap 'rm -rf "$T"' EXIT
C=$B/ctrace
R=$B/ctrace-report

gcc -O2 -g -finstrument-functions -o "$T/ringprog" "$HERE/progs/ringprog.c" -lpthread &&
	gcc -O2 -g -finstrument-functions -o "$T/forkexec" "$HERE/progs/forkexec.c" ||
	{ bad build "gcc failed"; exit 1; }
export CTRACE_CHECK_INVARIANTS=1

# rec NAME [record options] -- PROG ARGS: records into store NAME.db keeping the raw run; sets
# status and run (the raw run directory)
rec() {
	name=$1
	shift
	"$C" record -d "$T/$name.d" --store "sqlite:$T/$name.db" --keep "$@" >"$T/$name.out" 2>"$T/$name.err"
	status=$?
	run=$(ls -d "$T/$name.d"/*/ 2>/dev/null | head -n 1)
}
# field NAME FUNC KEY: a function's field summed over the run's functions (report --json)
field() {
	"$R" --store "sqlite:$T/$1.db" --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sum(f[sys.argv[2]] for f in d["functions"] if f["name"] == sys.argv[1]))' "$2" "$3"
}
runfield() { # NAME KEY: a field of the run (report --json)
	"$R" --store "sqlite:$T/$1.db" --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
v = d.get(sys.argv[1], d.get("run", {}).get(sys.argv[1], d.get("metadata", {}).get(sys.argv[1])))
print(v)' "$2"
}
meta() { sed -n "s/^$2=//p" "$run/run.meta" | tail -n 1; } # NAME KEY (of the last rec)
rings_left() { ls "$run" | grep -c '\.ring$'; }
# enters and exits kept in the raw run of the last rec
kept_events() { "$C" dump "$run" | awk '$4 == "enter" || $4 == "exit" { n++ } END { print n + 0 }'; }

rec plain -- "$T/ringprog" calls 100000
check "plain: exit status and output" "0 done 100000" "$status $(cat "$T/plain.out")"
check "plain: work x100000" 100000 "$(field plain work calls)"
# at least one word (a LEAF) per call
check "plain: drained through the ring (bytes in run.meta)" yes "$([ "$(meta plain drain_bytes)" -gt 400000 ] && echo yes)"
check "plain: no ring file left" 0 "$(rings_left)"
check "plain: nothing lost" 0 "$(runfield plain lost_events)"

rec direct --buffer 0 -- "$T/ringprog" calls 100000
check "--buffer 0: direct event files, work x100000" "100000 " "$(field direct work calls) $(meta direct drain_bytes)"

rec kill -- "$T/ringprog" kill 123457
check "SIGKILL after N calls: status 137" 137 "$status"
check "SIGKILL after N calls: every one of the N in the store" 123457 "$(field kill work calls)"
check "SIGKILL: no ring file left" 0 "$(rings_left)"
# a ring used for many laps: every chunk taken again was zeroed by its writer, so the chunk
# being written when the kill came ends at its first zero word, not in the last lap's events
rec killlap --buffer 512K -- "$T/ringprog" kill 1234567
check "SIGKILL after N calls, 512K ring, many laps: every one of the N" "137 1234567" "$status $(field killlap work calls)"
check "SIGKILL, many laps: more than 8 laps drained" 1 "$(python3 -c "print(int(int('$(meta killlap drain_bytes)' or 0) > 8 * 512 * 1024))")"

rec segv -- "$T/ringprog" segv 54321
check "crash after N calls: status 139" 139 "$status"
check "crash after N calls: every one of the N in the store" 54321 "$(field segv work calls)"

rec fork -- "$T/forkexec"
rec forkd --buffer 0 -- "$T/forkexec"
check "fork/exec: the same calls per function as direct files" \
	"$("$R" --store "sqlite:$T/forkd.db" --json | python3 -c 'import json,sys; print(sorted((f["name"], f["calls"]) for f in json.load(sys.stdin)["functions"]))')" \
	"$("$R" --store "sqlite:$T/fork.db" --json | python3 -c 'import json,sys; print(sorted((f["name"], f["calls"]) for f in json.load(sys.stdin)["functions"]))')"
check "fork/exec: processes in the run" "$(ls "$T/forkd.d"/*/ | grep -c '^p-.*meta$')" "$(ls "$run" | grep -c '^p-.*meta$')"

rec threads -- "$T/ringprog" threads 2000 1000
check "1000 threads: exit 0" 0 "$status"
check "1000 threads: work x2000000" 2000000 "$(field threads work calls)"
check "1000 threads: 1001 event files" 1001 "$(ls "$run" | grep -c '\.ev$')"
check "1000 threads: no ring left" 0 "$(rings_left)"

# The program stops the drainer, makes its calls into a ring that fills, waits 2 s for it in
# vain, counts the rest as lost, and continues the drainer before it exits.
rec stall --buffer 1M -- "$T/ringprog" stall 1000000
check "stalled drainer: the program is unharmed" "0 done 1000000" "$status $(cat "$T/stall.out")"
kept=$(field stall work calls)
lost=$(runfield stall lost_events)
check "stalled drainer: some calls kept, the rest counted as lost" yes "$([ "$kept" -gt 1000 ] && [ "$kept" -lt 1000000 ] && [ "$lost" -gt 0 ] && echo yes)"
# main, calls and the work calls: every event is kept or counted as lost
check "stalled drainer: kept + lost events = all events (exact)" 2000004 "$(($(kept_events) + lost))"
check "stalled drainer: the writer waited (drain_waits)" yes "$([ "$(meta stall drain_waits)" -ge 1 ] && echo yes)"

# ctrace record killed (by the program): the rings stay; `ctrace commit` drains them.
"$C" record -d "$T/orphan.d" --store "sqlite:$T/orphan.db" -- "$T/ringprog" orphan 77777 >/dev/null 2>&1
for i in $(seq 1 100); do
	[ -z "$(pgrep -f "$T/ringprog orphan")" ] && break
	sleep 0.1
done
run=$(ls -d "$T/orphan.d"/*/ | head -n 1)
check "killed recorder: its rings stay behind" yes "$([ "$(rings_left)" -ge 1 ] && echo yes)"
"$C" commit --store "sqlite:$T/orphan.db" "$run" >/dev/null 2>"$T/orphan.err"
check "killed recorder: ctrace commit drains them, work x77777" 77777 "$(field orphan work calls)"

# --max-size: the run's raw events stay within the bound; every event is kept or counted lost.
rec max --max-size 1M -- "$T/ringprog" calls 1000000
check "--max-size: the program is unharmed" "0 done 1000000" "$status $(cat "$T/max.out")"
bytes=$(cat "$run"/t-*.ev | wc -c)
check "--max-size 1M: event files within 1 MiB + header ($bytes bytes)" yes "$([ "$bytes" -le $((1048576 + 128)) ] && [ "$bytes" -gt $((1048576 - 262144)) ] && echo yes)"
kept=$(field max work calls)
lost=$(runfield max lost_events)
check "--max-size: kept + lost events = all events (exact)" 2000004 "$(($(kept_events) + lost))"
check "--max-size: reported on stderr" 1 "$(grep -c 'max-size reached' "$T/max.err")"
check "--max-size without rings is a usage error" 2 "$("$C" record --buffer 0 --max-size 1M -- true >/dev/null 2>&1; echo $?)"
check "--buffer bad value is a usage error" 2 "$("$C" record --buffer 12x -- true >/dev/null 2>&1; echo $?)"

# A full disk: the drainer cannot write the event file (and the thread may not get blocks for
# its ring): what is not kept is counted, exactly, and the program is unharmed.
if [ "$(id -u)" = 0 ] && mkdir -p "$T/full" && mount -t tmpfs -o size=2m tmpfs "$T/full" 2>/dev/null; then
	"$C" record -d "$T/full" --buffer 1M -n -- "$T/ringprog" calls 1000000 >"$T/full.out" 2>"$T/full.err"
	check "full disk: the program is unharmed" "0 done 1000000" "$? $(cat "$T/full.out")"
	run=$(ls -d "$T/full"/*/ | head -n 1)
	"$C" commit --store "sqlite:$T/full.db" --keep "$run" >/dev/null 2>&1
	lost=$(runfield full lost_events)
	check "full disk: kept + lost events = all events (exact)" 2000004 "$(($(kept_events) + lost))"
	check "full disk: some events kept, some lost" "yes yes" "$([ "$(kept_events)" -gt 0 ] && echo yes) $([ "$lost" -gt 0 ] && echo yes)"
	umount "$T/full" 2>/dev/null || umount -l "$T/full"
fi

summary ring
