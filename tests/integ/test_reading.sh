#!/bin/sh
# SPDX-License-Identifier: MIT
# Reading a run like a profiler user (issue 13) on real programs: latency percentiles of a
# function spinning i us for i = 1..1000 in shuffled order, --hist, --slowest and a replay of
# its window, --graph and replay goldens with times masked, shortened C++ names (golden, gcc),
# diff of gcc and clang builds with --match name, and the small things (no store created,
# --function/--callers that match nothing, list --json metadata, query --function glob).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
B=$(cd "${1:-build}" && pwd)
T=$(mktemp -d /tmp/ctrace-reading.XXXXXX)
trap 'rm -rf "$T"' EXIT
C=$B/ctrace
R=$B/ctrace-report
G=$HERE/../golden
cd "$T" || exit 1
export CTRACE_STORE=sqlite:$T/r.db

# masks times, ids and pids so that outputs compare across runs and machines
mask() {
	sed -E -e 's/^run [^ ]+ .*/run ID/' -e 's/^[ 0-9]+ +([0-9.]+ (ns|us|ms|s))? +[0-9]+ \| /| /' \
		-e 's/ *[0-9]+(\.[0-9]+)? (ns|us|ms|s)( |,|$)/ T\3/g' -e 's/ *[0-9]+\.[0-9]%/ P%/g' \
		-e 's/--from [0-9]+ --to [0-9]+/--from A --to B/' -e 's/replay [^ ]+ --tid [0-9]+/replay ID --tid TID/' -e 's/^(# thread )[0-9]+/\1TID/' \
		-e 's/pid [0-9]+/pid PID/' -e 's/tid [0-9]+/tid TID/' -e 's/^( +[0-9]+ T) +[0-9]+ /\1 TID /'
}
# compares stdin with tests/golden/NAME (CTR_UPDATE_GOLDEN=1 rewrites it)
golden() {
	if [ -n "${CTR_UPDATE_GOLDEN:-}" ]; then
		cat >"$G/$1"
		ok "$1 (rewritten)"
		return
	fi
	cat >"$T/got.txt"
	if diff -u "$G/$1" "$T/got.txt" >"$T/golden.diff"; then
		ok "golden $1"
	else
		bad "golden $1" "differs: $(head -n 30 "$T/golden.diff")"
	fi
}
jget() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

gcc -O2 -g -finstrument-functions -o spin "$HERE/progs/spin.c" &&
	gcc -O0 -g -finstrument-functions -o graph "$HERE/progs/graph.c" &&
	mkdir -p g c && cp graph g/graph &&
	clang -O0 -g -finstrument-functions -o c/graph "$HERE/progs/graph.c" &&
	clang -O0 -g -finstrument-functions -o graph-clang "$HERE/progs/graph.c" &&
	g++ -O0 -g -finstrument-functions -o names "$HERE/progs/names.cc" ||
	{ bad build "compilation failed"; exit 1; }

# ---- a directory without a store: nothing is created
mkdir empty && (cd empty && CTRACE_STORE= "$R" >out 2>err; echo $? >rc)
check "no store: exit 1, CTRACE_E_NOT_FOUND, nothing created" "1 1 err out rc" \
	"$(cat empty/rc) $(grep -c 'CTRACE_E_NOT_FOUND: no store' empty/err) $(ls empty | tr '\n' ' ' | sed 's/ $//')"
(cd empty && CTRACE_STORE= "$C" list --json >out 2>err; echo $? >rc)
check "no store: list prints no runs, creates nothing" "0 [] err out rc" \
	"$(cat empty/rc) $(tr -d '\n ' <empty/out) $(ls empty | tr '\n' ' ' | sed 's/ $//')"

# ---- percentiles: spin's durations are i us for i = 1..1000. A busy machine stretches some
# calls (preemption is wall time too), so the run is real-time scheduled where allowed
# (chrt -f) and tried up to three times; the check is on the first run within 1%.
spin_ok() { # prints True when p50, p90 and p99 of the latest run are within 1%
	"$R" --json | python3 -c "
import json, sys
f = [f for f in json.load(sys.stdin)['functions'] if f['name'] == 'spin'][0]
want = {'p50_ns': 500000, 'p90_ns': 900000, 'p99_ns': 990000}
print(all(abs(f[k] - v) <= 0.01 * v for k, v in want.items()), f['p50_ns'], f['p90_ns'], f['p99_ns'])"
}
RT=
chrt -f 1 true 2>/dev/null && RT="chrt -f 1"
for try in 1 2 3; do
	$RT "$C" record --meta case=spin -- ./spin >/dev/null 2>&1
	res=$(spin_ok)
	case $res in True*) break ;; esac
done
check "spin p50/p90/p99 within 1% of 500/900/990 us (got: $res)" True "${res%% *}"
"$R" --json >spin.json
check "spin histogram counts every call" 1000 \
	"$(jget "sum(b[2] for f in d['functions'] if f['name'] == 'spin' for b in f['hist'])" <spin.json)"
# one run per try above
check "stored in the functions table" "$try" \
	"$(python3 -c "import sqlite3; c=sqlite3.connect('$T/r.db'); print(c.execute(\"select count(*) from functions where name='spin' and p99_ns > 0 and hist is not null\").fetchone()[0])")"
"$R" --hist spin >hist.txt
check "--hist: summary line" 1 "$(grep -c '^spin: 1000 calls, min' hist.txt)"
check "--hist: bars add up to 1000 calls" 1000 "$(awk '/\.\./ { n += $(NF-2) } END { print n }' hist.txt)"
"$R" --percentiles --no-header >pct.txt
check "--percentiles: columns" 1 "$(grep -c 'calls        p50        p90        p99      p99.9        max' pct.txt)"
check "list --json has the run's metadata" spin "$("$C" list --json | jget "d[0]['metadata']['case']")"
check "query --function takes a glob" "$try" "$("$C" query --function 'sp?n*' --json | jget "len(d)")"

# ---- graph, callers, slowest, replay on a recursive program
"$C" record -- ./graph >/dev/null 2>&1
"$R" --graph auxsort --ascii --min-percent 0 --sort name | mask | golden reading-graph-auxsort.txt
"$R" --graph leaf --ascii --min-percent 0 --sort calls | mask | golden reading-graph-leaf.txt
"$R" --callers auxsort --no-header | awk '$NF == "sort" || $NF == "auxsort" { print $1, $NF }' >callers.txt
check "--callers: recursion counted once (calls)" "1 sort 80 auxsort" "$(tr '\n' ' ' <callers.txt | sed 's/ $//')"
check "--callers: a recursive edge adds no time" 1 "$("$R" --callers auxsort | grep -c '^ *80 *0 ns ')"
"$R" --tree --function helper --ascii --min-percent 0 --no-header | mask | golden reading-tree-helper.txt
"$C" replay --function work | mask | golden reading-replay-work.txt
"$C" replay --depth 2 | mask | golden reading-replay-depth2.txt
"$R" --slowest leaf -n 1 >slow.txt
check "--slowest: the longest leaf is through helper" 1 "$(grep -c 'main > work > helper > leaf$' slow.txt)"
mask <slow.txt | golden reading-slowest-leaf.txt
id=$(awk '$1 == "run" { print $2; exit }' slow.txt)
tid=$(awk '$1 == "1" { print $4 }' slow.txt)
win=$(grep -o -- '--from [0-9]* --to [0-9]*' slow.txt | head -n 1)
check "--slowest prints the replay command of its window" "1 ctrace replay $id --tid $tid $win" \
	"$(grep -c '^ *ctrace replay ' slow.txt) $(sed -n 's/^ *\(ctrace replay .*\)/\1/p' slow.txt)"
# the printed command, run as it is (its first word is this build's ctrace)
cmd=$(sed -n 's/^ *ctrace replay //p' slow.txt)
# shellcheck disable=SC2086
"$C" replay $cmd >win.txt
check "replay of the --slowest window: that one call" "1 leaf();" \
	"$(grep -c '|' win.txt) $(grep '|' win.txt | sed 's/.*| *//')"
"$C" replay --min-duration 1s | grep -c '|' >none.txt
check "replay --min-duration longer than the run: no call" 0 "$(cat none.txt)"
"$C" replay --tid 1 >/dev/null 2>err.txt
check "replay --tid of no thread: exit 1, NOT_FOUND" "1 1" "$? $(grep -c CTRACE_E_NOT_FOUND err.txt)"
"$R" --function nonexist >out.txt 2>err.txt
check "--function nonexist: exit 1, nothing on stdout" "1 0" "$? $(wc -c <out.txt)"
"$R" --callers nonexist >out.txt 2>err.txt
check "--callers nonexist: exit 1, nothing on stdout" "1 0" "$? $(wc -c <out.txt)"
"$R" --json-errors nosuchrun >/dev/null 2>err.txt
check "--json-errors context names the run and the store" "nosuchrun sqlite:$T/r.db" \
	"$(tail -n 1 err.txt | jget "d['context']['run_id'] + ' ' + d['context']['store']")"

# ---- gcc and clang builds of one program
"$C" record -- ./graph-clang >/dev/null 2>&1
"$R" --diff latest~1 latest --json >d1.json
check "diff by name + module: different binaries do not pair" "0 7" \
	"$(jget "sum(f['status'] == 'changed' for f in d['functions'])" <d1.json) $(jget "sum(f['status'] == 'new' for f in d['functions'])" <d1.json)"
"$R" --diff latest~1 latest --match name --json >d2.json
check "diff --match name pairs gcc and clang builds" "7 0" \
	"$(jget "sum(f['status'] in ('changed', 'same') for f in d['functions'])" <d2.json) $(jget "sum(f['status'] in ('new', 'removed') for f in d['functions'])" <d2.json)"
check "diff --json has p99 of both" True "$(jget "all('p99_ns_a' in f and f['p99_ns_b'] > 0 for f in d['functions'])" <d2.json)"
"$C" record -- ./g/graph >/dev/null 2>&1
"$C" record -- ./c/graph >/dev/null 2>&1
check "diff default: same module name from other paths pairs" 7 \
	"$("$R" --diff latest~1 latest --json | jget "sum(f['status'] in ('changed', 'same') for f in d['functions'])")"
"$R" --diff latest~1 latest --match bogus >/dev/null 2>&1
check "--match bogus: usage error" 2 "$?"

# ---- C++ names
"$C" record -- ./names >/dev/null 2>&1
"$R" --json --top 0 | jget "'\\n'.join(sorted(f.get('display_name', f['name']) for f in d['functions']))" |
	grep -E '^(geo|main|\(anon\))' | golden reading-names-gcc.txt
check "glob on the full name" 1 "$("$R" --function '(anonymous namespace)::hidden(int)' --no-header | grep -c 'hidden$')"
check "glob on the short name" 1 "$("$R" --function '(anon)::hid*' --no-header | grep -c 'hidden$')"
check "--full-names shows the stored name" 1 "$("$R" --full-names --top 0 --no-header | grep -c 'geo::Box<int>::get() const$')"
check "--json keeps the full name" 1 "$("$R" --json --top 0 | jget "sum(f['name'] == '(anonymous namespace)::hidden(int)' and f['display_name'] == '(anon)::hidden' for f in d['functions'])")"

summary "reading"
