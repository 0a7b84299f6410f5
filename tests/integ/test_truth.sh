#!/bin/sh
# SPDX-License-Identifier: MIT
# True numbers on real programs (docs/report.md, "True times"): Lua 5.4 (Debian source, built
# by bench/setup.sh) and an STL-heavy C++ program with threads and exceptions, built with gcc
# and clang, are recorded and committed with CTRACE_CHECK_INVARIANTS=1 (commit refuses a run
# that breaks one) and every node of every thread is checked again from the JSON tree; exact
# call counts; --exclude by the qualified name; percentages of the right whole (golden tree of
# a single-threaded program with its root at 100.0%). Prints ok/FAIL lines.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
ROOT=$(cd "$HERE/../.." && pwd)
B=$(cd "${1:-build}" && pwd)
T=$(mktemp -d /tmp/ctrace-truth.XXXXXX)
trap 'rm -rf "$T"' EXIT
[ -n "${CTRACE_KEEP_TMP:-}" ] && trap - EXIT
C=$B/ctrace
R=$B/ctrace-report
export CTRACE_CHECK_INVARIANTS=1

# check_tree STORE [counted]: every node of every thread keeps the invariants; prints "ok" or
# the first broken one. Nodes: 0 <= self <= total, total >= children's totals + self, min <=
# avg <= max, min > 0 for timed calls; the thread's top-level totals within its span. With
# "counted" (a drop policy), a node's calls include calls known by count only, whose time is
# their parent's: min <= max instead of the average's bounds (docs/report.md, Invariants).
check_tree() {
	"$R" --store "$1" --json --tree --min-percent 0 >"$T/tree.json" 2>"$T/tree.err" || {
		echo "report failed: $(cat "$T/tree.err")"
		return
	}
	python3 - "$T/tree.json" "${2:-}" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
counted = sys.argv[2] == "counted"
bad = []
def walk(n, path):
    p = path + "/" + n["name"][:40]
    kids = n.get("children", [])
    tot, slf = n["total_ns"], n["self_ns"]
    if not (0 <= slf <= tot):
        bad.append(f"{p}: self {slf} > total {tot}")
    if sum(k["total_ns"] for k in kids) + slf > tot:
        bad.append(f"{p}: children {sum(k['total_ns'] for k in kids)} + self {slf} > total {tot}")
    if n["kind"] == "function" and n["calls"] > 0:
        avg = tot / n["calls"]
        if counted and n["min_ns"] > n["max_ns"]:
            bad.append(f"{p}: min {n['min_ns']} > max {n['max_ns']}")
        if not counted and not (n["min_ns"] <= avg + 1 and avg <= n["max_ns"] + 1):
            bad.append(f"{p}: min {n['min_ns']} avg {avg:.1f} max {n['max_ns']}")
    for k in kids:
        walk(k, p)
    return len(kids)
nodes = 0
for t in d["threads"]:
    roots = t.get("tree", [])
    span = t["end_ns"] - t["start_ns"]
    if sum(r["total_ns"] for r in roots) > span:
        bad.append(f"thread {t['id']}: roots {sum(r['total_ns'] for r in roots)} > span {span}")
    stack = list(roots)
    for r in roots:
        walk(r, f"t{t['id']}")
    def count(n):
        return 1 + sum(count(k) for k in n.get("children", []))
    nodes += sum(count(r) for r in roots)
print("ok" if not bad and nodes > 0 else (bad[0] if bad else "no nodes"))
PY
}
fn_field() { # STORE NAME FIELD: a function's field from --json (exact display name)
	"$R" --store "$1" --json --top 0 2>/dev/null | python3 -c '
import json, sys
for f in json.load(sys.stdin)["functions"]:
    if f["name"] == sys.argv[1]:
        print(f[sys.argv[2]]); break
else:
    print("missing")' "$2" "$3"
}

# --- the C++ program, gcc and clang --------------------------------------------------------
for cxx in g++ clang++; do
	$cxx -O2 -g -finstrument-functions -pthread -o "$T/stl.$cxx" "$HERE/progs/stl.cc" || {
		bad "$cxx stl build" "compilation failed"
		continue
	}
	S=sqlite:$T/stl.$cxx.db
	"$C" record --store "$S" -- "$T/stl.$cxx" >/dev/null 2>"$T/rec.err"
	check "$cxx stl: recorded and committed with the invariant check" 0 $?
	check "$cxx stl: invariants on every node of every thread" ok "$(check_tree "$S")"
	check "$cxx stl: Counter<int, long>::add x40000 (2 threads x 20000)" 40000 \
		"$(fn_field "$S" "Counter<int, long>::add(int, long)" calls)"
	check "$cxx stl: may_throw x200" 200 "$(fn_field "$S" "may_throw(int, int*)" calls)"

	# the drop policy on it (threads, exceptions, STL): counts exact, the tree consistent
	all=$("$R" --store "$S" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["calls"])')
	for opt in "--min-duration 2us" "--sample 7"; do
		M=sqlite:$T/stlm.$cxx.db
		rm -f "$T/stlm.$cxx.db"
		"$C" record --store "$M" $opt -- "$T/stl.$cxx" >/dev/null 2>"$T/rec.err"
		check "$cxx stl $opt: recorded and committed with the invariant check" 0 $?
		check "$cxx stl $opt: add x40000, may_throw x200, every call counted ($all)" \
			"40000 200 $all" "$(fn_field "$M" "Counter<int, long>::add(int, long)" calls) $(fn_field "$M" "may_throw(int, int*)" calls) $("$R" --store "$M" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["calls"])')"
		case $opt in --min*) check "$cxx stl $opt: invariants" ok "$(check_tree "$M" counted)" ;; esac
	done

	# --exclude by the name people write: no std:: or __gnu_cxx:: function left, whatever
	# its return type, and the program's own calls all there
	X=sqlite:$T/stlx.$cxx.db
	"$C" record --store "$X" -N 'std::*' -N '__gnu_cxx::*' -- "$T/stl.$cxx" >/dev/null 2>"$T/rec.err"
	check "$cxx stl --exclude: recorded" 0 $?
	left=$("$R" --store "$X" --json --top 0 | python3 -c '
import json, re, sys
names = [f["name"] for f in json.load(sys.stdin)["functions"]]
print(sum(1 for n in names if re.match(r"^([^ (]+[ *&]+)?(std|__gnu_cxx)::", n)))')
	check "$cxx stl --exclude 'std::*' '__gnu_cxx::*': none left" 0 "$left"
	check "$cxx stl --exclude: Counter<int, long>::add still x40000" 40000 \
		"$(fn_field "$X" "Counter<int, long>::add(int, long)" calls)"
	check "$cxx stl --exclude: invariants" ok "$(check_tree "$X")"
	"$C" record --keep -d "$T/xraw.$cxx" --store "sqlite:$T/x2.$cxx.db" -N 'std::*' -- \
		"$T/stl.$cxx" >/dev/null 2>&1
	hidden=$("$C" dump "$T/xraw.$cxx"/* 2>/dev/null | awk '$4 == "hidden" { n++ } END { print (n > 0) ? "yes" : "no" }')
	check "$cxx stl --exclude: excluded calls' hooks written as HIDDEN counts" yes "$hidden"
done

# --- Lua 5.4 --------------------------------------------------------------------------------
BENCH_ONLY=lua sh "$ROOT/bench/setup.sh" >"$T/setup.log" 2>&1
LUA=${BENCH_WORK:-$ROOT/bench/work}/bin/lua.inst
if [ -x "$LUA" ]; then
	S=sqlite:$T/lua.db
	"$C" record --store "$S" -- "$LUA" "$ROOT/bench/bench.lua" 1 >/dev/null 2>"$T/rec.err"
	check "lua: recorded and committed with the invariant check" 0 $?
	check "lua: invariants on every node" ok "$(check_tree "$S")"
	"$R" --store "$S" --json --top 0 >"$T/c.json"
	"$R" --store "$S" --json --top 0 --raw-times >"$T/r.json"
	zero=$(python3 - "$T/c.json" "$T/r.json" <<'PY'
import json, sys
c = {f["name"]: f for f in json.load(open(sys.argv[1]))["functions"]}
r = {f["name"]: f for f in json.load(open(sys.argv[2]))["functions"]}
print(sum(1 for n, f in c.items() if f["kind"] == "function" and f["calls"] and f["min_ns"] == 0 and r[n]["min_ns"] > 0))
PY
)
	check "lua: no compensated minimum of 0 where a call took measurable time" 0 "$zero"
	root=$("$R" --store "$S" --tree --depth 1 | awk '$NF == "main" { print $(NF-1) }')
	check "lua: the single thread's root is 100.0%" "100.0%" "$root"
	over=$("$R" --store "$S" --json --top 0 | python3 -c '
import json, sys
print(sum(1 for f in json.load(sys.stdin)["functions"] if f["total_percent"] > 100.0001))')
	check "lua: no row above 100%" 0 "$over"
else
	bad "lua: build" "bench/setup.sh could not fetch and build lua5.4: $(tail -n 3 "$T/setup.log")"
fi

# --- percentages: golden tree of a single-threaded program, times masked ---------------------
gcc -O0 -g -finstrument-functions -o "$T/fib" "$HERE/progs/fib.c" &&
	"$C" record --store "sqlite:$T/fib.db" -- "$T/fib" >/dev/null 2>&1
"$R" --store "sqlite:$T/fib.db" --tree --min-percent 0 >"$T/fib.raw"
python3 - "$T/fib.raw" >"$T/fib.tree" <<'PY'
import re, sys
for i, line in enumerate(open(sys.argv[1])):
    if i == 0:
        continue  # run id, command and duration
    line = re.sub(r"pid \d+, tid \d+", "pid P, tid T", line)
    line = re.sub(r"\d+(\.\d+)? [mun]?s\b", "D", line)
    if not line.rstrip().endswith(" main"):  # every percentage but the root one varies
        line = re.sub(r"\d+\.\d%  ", "P%  ", line)
    if "%  " in line:  # columns squeezed (masked widths vary), the tree drawing kept
        head, tail = line.split("%  ", 1)
        line = " ".join(head.split()) + "%  " + tail
    sys.stdout.write(line)
PY
if diff -u "$ROOT/tests/golden/truth-fib-tree.txt" "$T/fib.tree" >"$T/fib.diff"; then
	ok "fib: tree with the single thread's root at 100.0% (golden, times masked)"
else
	bad "fib: golden tree" "$(head -n 20 "$T/fib.diff")"
fi

summary truth
