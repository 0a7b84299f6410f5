#!/bin/sh
# SPDX-License-Identifier: MIT
# The flight recorder (`ctrace record --ring SIZE`, docs/recording.md "Flight recorder"): each
# thread keeps only its latest SIZE of events and the disk holds no more; snapshots are
# committed as runs at exit, at a crash, on `ctrace ctl PID snapshot`, at the first call of
# --trigger FUNC and after a call of --trigger-slower FUNC:D (the slow call inside), at most
# --snapshots N of them. Prints ok/FAIL lines.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
ROOT=$(cd "$HERE/../.." && pwd)
B=$(cd "${1:-$ROOT/build}" && pwd)
T=$(mktemp -d /tmp/ctrace-flight.XXXXXX)
trap 'rm -rf "$T"' EXIT
C=$B/ctrace
R=$B/ctrace-report
cd "$T" || exit 1
gcc -O2 -g -finstrument-functions -o flightprog "$HERE/progs/flightprog.c" || { bad build "gcc failed"; exit 1; }
export CTRACE_CHECK_INVARIANTS=1

# runs NAME: the run ids of store NAME.db in snapshot order
runs() { "$C" list --store "sqlite:$T/$1.db" --json | python3 -c '
import json, sys
r = sorted(json.load(sys.stdin), key=lambda r: int(r["metadata"].get("snapshot", 0)))
print(" ".join(x["run_id"] for x in r))'; }
# fn NAME RUN FUNC KEY: a function's field in a run (0 if absent)
fn() { "$R" --store "sqlite:$T/$1.db" "$2" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sum(f[sys.argv[2]] for f in d["functions"] if f["name"] == sys.argv[1]))' "$3" "$4"; }
reason() { "$R" --store "sqlite:$T/$1.db" "$2" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"].get("snapshot_reason"))'; }
reasons() { for r in $(runs "$1"); do printf '%s ' "$(reason "$1" "$r")"; done | sed 's/ $//'; }

# ---- 10 M calls, --ring 1M: one snapshot at exit, the last events that fit
"$C" record -d "$T/a.d" --store "sqlite:$T/a.db" --keep --ring 1M -- ./flightprog exit 10000000 >a.out 2>a.err
check "--ring 1M: the program's status and output" "0 done" "$? $(cat a.out)"
check "--ring 1M: one run, the snapshot at exit" exit "$(reasons a)"
run=$(runs a)
dir=$(ls -d "$T"/a.d/*/)
evb=$(cat "$dir"/t-*.ev | wc -c)
check "--ring 1M: the snapshot's events fit the ring ($evb bytes)" yes "$([ "$evb" -le $((1048576 + 128)) ] && [ "$evb" -gt $((1048576 * 3 / 4)) ] && echo yes)"
check "--ring 1M: no ring file left" 0 "$(ls "$dir" | grep -c '\.ring$')"
k=$(fn a "$run" work calls)
check "--ring 1M: work calls that fit 1 MiB at 4 (LEAF) to 8 bytes each ($k)" yes "$([ "$k" -gt 90000 ] && [ "$k" -le 262144 ] && echo yes)"
check "--ring 1M: every kept work call is whole (enters = calls)" "$k" "$("$C" dump "$dir" | awk '$4 == "enter" && $7 == "work" { n++ } END { print n + 0 }')"
# the window is the end of the last of 20 phases: main and phase were open at its start (one
# call each), and the last slow_call(0) and main's return are in it
check "--ring 1M: the latest events: main, phase x1, slow_call x1, nothing of phase 7" "1 1 1 0" \
	"$(fn a "$run" main calls) $(fn a "$run" phase calls) $(fn a "$run" slow_call calls) $(fn a "$run" rare calls)"
check "--ring 1M: the frames open at the window's start are inherited" "main phase" \
	"$("$C" dump "$dir" | awk '$4 == "inherit" { printf "%s%s", s, $7; s = " " }')"
check "--ring 1M: run metadata says what it is" "exit 1048576" \
	"$("$R" --store "sqlite:$T/a.db" "$run" --json | python3 -c 'import json,sys; m=json.load(sys.stdin)["metadata"]; print(m.get("snapshot_reason"), m.get("option.ring"))')"

# ---- triggers: the first call of rare(), the 60 ms slow_call()
"$C" record --store "sqlite:$T/t.db" --ring 1M --trigger rare --trigger-slower 'slow_call:20ms' -- ./flightprog exit 4000000 >/dev/null 2>t.err
check "triggers: three snapshots, in order" "trigger slower exit" "$(reasons t)"
set -- $(runs t)
check "--trigger rare: its first call is in the snapshot" 1 "$(fn t "$1" rare calls)"
max=$(fn t "$2" slow_call max_ns)
check "--trigger-slower slow_call:20ms: the 60 ms call is in the snapshot ($max ns)" yes "$([ "$max" -ge 55000000 ] && echo yes)"
check "--trigger-slower: the fast calls took no snapshot" 1 "$(grep -c 'snapshot [0-9]* (slower' t.err)"
check "the snapshot at exit holds no rare() (the ring moved on)" 0 "$(fn t "$3" rare calls)"

"$C" record --store "sqlite:$T/n.db" --ring 1M --snapshots 1 --trigger rare --trigger-slower 'slow_call:20ms' -- ./flightprog exit 4000000 >/dev/null 2>&1
check "--snapshots 1: the first trigger's snapshot and the one at exit" "trigger exit" "$(reasons n)"

# ---- ctrace ctl PID snapshot, in a running program
rm -f flight.pid flight.go
"$C" record --store "sqlite:$T/c.db" --ring 1M -- ./flightprog wait 200000 >/dev/null 2>c.err &
rec=$!
for i in $(seq 1 100); do [ -s flight.pid ] && break; sleep 0.1; done
# a snapshot asked before the program's first calls reached the ring holds no events and
# commits nothing: asked again (up to 5 times, 6 s each) until one is committed
for try in 1 2 3 4 5; do
	"$C" ctl "$(cat flight.pid)" snapshot 2>>c.err
	for i in $(seq 1 60); do [ "$(runs c | wc -w)" -ge 1 ] && break; sleep 0.1; done
	[ "$(runs c | wc -w)" -ge 1 ] && break
done
touch flight.go
wait $rec
check "ctl snapshot: a snapshot while it runs, and the one at exit" "ctl exit" "$(reasons c)"
set -- $(runs c)
# the copy runs beside the program, which goes on writing: on a busy machine chunks it
# reuses during the copy are left out, so the window holds some of the ring, not all of it
check "ctl snapshot: work() calls of a running program, at most a ring's worth" yes "$(k=$(fn c "$1" work calls); [ "$k" -gt 0 ] && [ "$k" -le 262144 ] && echo yes)"

# ---- a crash: the snapshot after the death keeps the last calls
"$C" record --store "sqlite:$T/s.db" --ring 1M -- ./flightprog segv 2000000 >/dev/null 2>&1
check "crash: the program's status" 139 "$?"
set -- $(runs s)
check "crash: one snapshot, after the signal" signal "$(reason s "$1")"
check "crash: the last phase's calls are in it" yes "$([ "$(fn s "$1" work calls)" -gt 90000 ] && echo yes)"
check "crash: the run says it crashed" 1 "$("$C" show --store "sqlite:$T/s.db" "$1" | grep -c '^exit .*killed by SIGSEGV (CRASHED)')"

# ---- usage
check "--trigger without --ring is a usage error" 2 "$("$C" record --trigger rare -- true >/dev/null 2>&1; echo $?)"
check "--trigger-slower without a duration is a usage error" 2 "$("$C" record --ring 1M --trigger-slower rare -- true >/dev/null 2>&1; echo $?)"
check "--ring below 512K is a usage error" 2 "$("$C" record --ring 4K -- true >/dev/null 2>&1; echo $?)"
check "--ring with --max-size is a usage error" 2 "$("$C" record --ring 1M --max-size 1M -- true >/dev/null 2>&1; echo $?)"

summary flight
