#!/bin/sh
# SPDX-License-Identifier: MIT
# The drop policy (--sample, --min-duration; issue 11, "filtering that costs less than
# recording"): records progs/dropprog.c, whose call structure a Python model below replays,
# and checks every node of the committed tree against the model's: which calls are kept, and
# where each dropped call is counted (under its nearest kept ancestor). 400 distinct short
# callees per frame exercise the recorder's repeated count entries and their merging; a
# longjmp closes frames that never see their exit hooks. Prints ok/FAIL lines.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
ROOT=$(cd "$HERE/../.." && pwd)
B=$(cd "${1:-$ROOT/build}" && pwd)
T=$(mktemp -d /tmp/ctrace-drop.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1

gcc -O2 -g -finstrument-functions -o dropprog "$HERE/progs/dropprog.c" || { bad build "gcc failed"; exit 1; }
clang -O2 -g -finstrument-functions-after-inlining -o dropprog.clang "$HERE/progs/dropprog.c" 2>/dev/null || rm -f dropprog.clang

# rec NAME PROG [record options]: records PROG $ARGS; one window for the whole stream (a window switch between a
# call's enter and exit keeps the call, which the model does not replay)
rec() {
	name=$1 prog=$2
	shift 2
	CTRACE_WINDOW_KB=65536 "$B/ctrace" record --store "sqlite:$T/s.db" --buffer 0 "$@" -- "./$prog" ${ARGS:-} >"$name.out" 2>"$name.err"
	echo "$?" >"$name.rc"
	"$B/ctrace-report" --store "sqlite:$T/s.db" --json --tree --top 0 --min-percent 0 >"$name.json" 2>>"$name.err"
}

# model NAME SAMPLE KEEP_NONE: compares NAME's tree with the model's (counted as checks)
model() {
	python3 - "$1" "$2" "$3" >"$1.model" 2>&1 <<'PY'
import json, sys
from collections import defaultdict
name, sample, none = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
leaves = ["leaf%d" % i for i in range(100, 500)]

def events():
    """dropprog.c's calls: ("E", fn), ("X", fn), or ("U", n): a longjmp closing n frames."""
    yield "E", "main"
    for _ in range(2):
        yield "E", "top"
        for m in range(50):
            yield "E", "mid"
            for _ in range(3):
                for l in leaves:
                    yield "E", l
                    yield "X", l
            if m % 7 == 0:
                yield "E", "inner"
                yield "E", "leaf100"
                yield "X", "leaf100"
                yield "X", "inner"
            yield "X", "mid"
        yield "X", "top"
    for _ in range(5):
        yield "E", "jumper"
        for n in range(3, -1, -1):
            yield "E", "deep"
            yield "E", "leaf101"
            yield "X", "leaf101"
        yield "U", 4
        yield "X", "jumper"
    yield "X", "main"

seen = defaultdict(int)
tree = defaultdict(int)
stack = []  # [fn, sampled, written, {fn: dropped calls counted in it}]
top = defaultdict(int)  # dropped at the top level

def close(f, kept):
    pend = stack[-1][3] if stack else top
    if not kept:
        pend[f[0]] += 1
        for k, v in f[3].items():
            pend[k] += v
        return
    path = tuple(x[0] for x in stack) + (f[0],)
    tree[path] += 1
    for k, v in f[3].items():
        tree[path + (k,)] += v
    if stack:
        stack[-1][2] = True

for kind, x in events():
    if kind == "E":
        sampled = not none and seen[x] % sample == 0
        seen[x] += 1
        stack.append([x, sampled, False, defaultdict(int)])
    elif kind == "X":
        f = stack.pop()
        close(f, f[1] or f[2])
    else:
        for _ in range(x):  # frames closed without their exit: kept
            close(stack.pop(), True)
for k, v in top.items():
    tree[(k,)] += v

got = defaultdict(int)
def walk(n, path):
    p = path + (n["name"],)
    got[p] += n["calls"]
    for c in n.get("children", []):
        walk(c, p)
j = json.load(open(name + ".json"))
for th in j["threads"]:
    for r in th["tree"]:
        walk(r, ())
flat = {f["name"]: f["calls"] for f in j["functions"]}
def ok(what, a, b):
    print(("ok   " if a == b else "FAIL ") + "%s: %s" % (name, what) + ("" if a == b else ": expected %r, got %r" % (a, b)))
ok("flat calls exact (leaf100 x%d, mid x100, deep x20)" % seen["leaf100"],
   (seen["leaf100"], seen["mid"], seen["deep"], sum(seen.values())),
   (flat.get("leaf100"), flat.get("mid"), flat.get("deep"), j["calls"]))
ok("%d tree nodes as the model's" % len(tree), len(tree), len(got))
bad = sorted(k for k in set(tree) | set(got) if tree.get(k) != got.get(k))
ok("every node's calls as the model's", [], ["/".join(k) + " %s != %s" % (tree.get(k), got.get(k)) for k in bad[:3]])
kept = sum(v for k, v in tree.items() if k[-1] == "mid" and len(k) == 3)
print("     (%s: %d nodes; main/top/mid x%d)" % (name, len(tree), kept))
PY
	[ -s "$1.model" ] || echo "FAIL $1: the model printed nothing" >"$1.model"
	while IFS= read -r line; do
		case $line in
		"ok   "*) ok "${line#ok   }" ;;
		"FAIL "*) r=${line#FAIL } && bad "${r%%: *}" "${r#*: }" ;;
		*) echo "$line" ;;
		esac
	done <"$1.model"
}

for prog in dropprog dropprog.clang; do
	[ -x "$prog" ] || continue
	rec "$prog-all" "$prog"
	check "$prog: every call recorded: status 0" 0 "$(cat "$prog-all.rc")"
	model "$prog-all" 1 0
	rec "$prog-s10" "$prog" --sample 10
	check "$prog --sample 10: status 0" 0 "$(cat "$prog-s10.rc")"
	model "$prog-s10" 10 0
	rec "$prog-s3" "$prog" --sample 3
	model "$prog-s3" 3 0
	rec "$prog-none" "$prog" --min-duration 1h
	model "$prog-none" 1 1
	rec "$prog-both" "$prog" --sample 7 --min-duration 1h
	model "$prog-both" 7 1
done

# 80,000 dropped calls pending in 200 open frames: more than the count array holds (65,536);
# the calls that find no room are kept, every count stays exact
ARGS=deep rec deep dropprog --min-duration 1h
check "deep: status 0" 0 "$(cat deep.rc)"
check "deep: deeprec x200, each leaf x200, 80200 calls" "200 200 200 80201" "$(python3 -c "
import json; j = json.load(open('deep.json')); f = {x['name']: x['calls'] for x in j['functions']}
print(f.get('deeprec'), f.get('leaf100'), f.get('leaf499'), j['calls'])")"
check "deep: some calls kept for want of room" 1 "$(python3 -c "
import json; j = json.load(open('deep.json')); th = j['threads'][0]
sub = {s['node']: s['children'] for s in th.get('subtrees', [])}  # past 32 levels (docs/report.md)
def depth(n): return 1 + max([depth(c) for c in n.get('children', sub.get(n.get('deeper'), []))] or [0])
print(int(max(depth(r) for r in th['tree']) > 150))")"
summary test_drop
