#!/bin/sh
# SPDX-License-Identifier: MIT
# The store from the command line (issue "Commit"): commit, list, query filters, run specs,
# delete, export to JSONL and import into a fresh SQLite store with identical reports, and
# committing a run twice. Prints ok/FAIL lines.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
B=$(cd "${1:-build}" && pwd)
T=$(mktemp -d /tmp/ctrace-store.XXXXXX)
trap 'rm -rf "$T"' EXIT
C=$B/ctrace
S=sqlite:$T/a.db
cd "$T" || exit 1
gcc -O2 -g -finstrument-functions -o fib "$HERE/progs/fib.c" &&
	gcc -O0 -g -finstrument-functions -o deep "$HERE/progs/deep.c" || { bad build gcc; exit 1; }
count_runs() { "$C" list --store "$1" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

"$C" record -n -d raw --meta team=red -- ./fib >/dev/null 2>&1
"$C" record -n -d raw --meta team=blue -- ./deep >/dev/null 2>&1
check "two raw runs recorded" 2 "$(ls raw | grep -vc '^\.')"
"$C" commit --store "$S" --keep raw/*/ 2>"$T/c.err"
check "commit of two directories" 2 "$(count_runs "$S")"
"$C" commit --store "$S" raw/*/ 2>>"$T/c.err"
check "committing again never duplicates" 2 "$(count_runs "$S")"
check "raw directories removed after commit" 0 "$(ls raw | grep -vc '^\.')"

latest=$("$C" list --store "$S" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["run_id"])')
older=$("$C" list --store "$S" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[1]["run_id"])')
check "list is newest first" "./deep" "$("$C" list --store "$S" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["command"])')"
check "query --meta" "./fib" "$("$C" query --store "$S" --meta team=red --json | python3 -c 'import json,sys; print(" ".join(r["command"] for r in json.load(sys.stdin)))')"
check "query --function" "./deep" "$("$C" query --store "$S" --function rec --json | python3 -c 'import json,sys; print(" ".join(r["command"] for r in json.load(sys.stdin)))')"
check "query --command" "./fib" "$("$C" query --store "$S" --command fi --json | python3 -c 'import json,sys; print(" ".join(r["command"] for r in json.load(sys.stdin)))')"
check "query --since 1h ago matches both" 2 "$("$C" query --store "$S" --since -1h --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
check "query --until 2000-01-01 matches none" 0 "$("$C" query --store "$S" --until 2000-01-01 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
check "query --min-duration 1h matches none" 0 "$("$C" query --store "$S" --min-duration 1h --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
check "query filters are AND-ed" 0 "$("$C" query --store "$S" --meta team=red --function rec --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
"$C" query --store "$S" --min-duration nonsense >/dev/null 2>&1
check "bad filter value is a usage error (exit 2)" 2 "$?"

check "run spec: latest~1" "$older" "$("$B/ctrace-report" --store "$S" --json latest~1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["run_id"])')"
prefix=$(echo "$older" | cut -c1-21)
check "run spec: unique prefix" "$older" "$("$B/ctrace-report" --store "$S" --json "$prefix" | python3 -c 'import json,sys; print(json.load(sys.stdin)["run_id"])')"
"$B/ctrace-report" --store "$S" no-such-run >/dev/null 2>"$T/nf.err"
check "unknown run: CTRACE_E_NOT_FOUND, exit 1" "1 1" "$? $(grep -c CTRACE_E_NOT_FOUND "$T/nf.err")"
check "fib(20) has 21891 calls in the store" 21891 "$("$B/ctrace-report" --store "$S" --json "$older" | python3 -c 'import json,sys; print([f["calls"] for f in json.load(sys.stdin)["functions"] if f["name"]=="fib"][0])')"
check "fib is symbolized with file and line" "fib.c 3" "$("$B/ctrace-report" --store "$S" --json "$older" | python3 -c 'import json,sys,os; f=[f for f in json.load(sys.stdin)["functions"] if f["name"]=="fib"][0]; print(os.path.basename(f["file"]), f["line"])')"

check "show --functions lists fib with its file" 1 "$("$C" show --store "$S" "$older" --functions | grep -c ' fib .*fib.c:3$')"
check "show --modules lists the executable" 1 "$("$C" show --store "$S" "$older" --modules | grep -c '/fib$')"
check "show --functions --json" "function fib" "$("$C" show --store "$S" "$older" --functions --json | python3 -c 'import json,sys; f=[f for f in json.load(sys.stdin)["functions"] if f["name"]=="fib"][0]; print(f["kind"], f["name"])')"

# JSONL export, import into a fresh SQLite store: identical reports
"$C" export --store "$S" --to "jsonl:$T/runs.jsonl" 2>/dev/null
check "export writes one line per run" 2 "$(wc -l <"$T/runs.jsonl")"
"$C" import --store "sqlite:$T/b.db" "jsonl:$T/runs.jsonl" 2>/dev/null
for r in "$latest" "$older"; do
	"$B/ctrace-report" --store "$S" --tree --min-percent 0 "$r" >"$T/a.txt" 2>&1
	"$B/ctrace-report" --store "sqlite:$T/b.db" --tree --min-percent 0 "$r" >"$T/b.txt" 2>&1
	check "export/import: identical tree report ($r)" same "$(cmp -s "$T/a.txt" "$T/b.txt" && echo same || echo differ)"
	"$B/ctrace-report" --store "$S" --json "$r" >"$T/a.json"
	"$B/ctrace-report" --store "sqlite:$T/b.db" --json "$r" >"$T/b.json"
	check "export/import: identical JSON report ($r)" same "$(cmp -s "$T/a.json" "$T/b.json" && echo same || echo differ)"
	"$C" show "$r" --store "$S" --format chrome --out "$T/a.chrome" 2>/dev/null
	"$C" show "$r" --store "sqlite:$T/b.db" --format chrome --out "$T/b.chrome" 2>/dev/null
	check "export/import: identical timeline ($r)" same "$(cmp -s "$T/a.chrome" "$T/b.chrome" && echo same || echo differ)"
done
"$C" import --store "sqlite:$T/b.db" "jsonl:$T/runs.jsonl" 2>/dev/null
check "importing twice never duplicates" 2 "$(count_runs "sqlite:$T/b.db")"

"$C" delete --store "$S" "$older" 2>/dev/null
check "delete removes the run" 1 "$(count_runs "$S")"
"$C" delete --store "$S" "$older" 2>"$T/del.err"
check "deleting it again: CTRACE_E_NOT_FOUND" "1 1" "$? $(grep -c CTRACE_E_NOT_FOUND "$T/del.err")"
# several specs name runs before any is deleted (issue 24): latest latest~1 are the two newest
"$C" import --store "sqlite:$T/c.db" "jsonl:$T/runs.jsonl" 2>/dev/null
"$C" delete --store "sqlite:$T/c.db" latest nosuch-run 2>"$T/del.err"
check "delete with one unknown spec deletes nothing" "1 1 2" "$? $(grep -c CTRACE_E_NOT_FOUND "$T/del.err") $(count_runs "sqlite:$T/c.db")"
"$C" delete --store "sqlite:$T/c.db" latest latest~1 2>"$T/del.err"
check "delete latest latest~1 deletes the two newest" "0 0 2" "$? $(count_runs "sqlite:$T/c.db") $(grep -c 'deleted run' "$T/del.err")"
"$C" import --store "sqlite:$T/c.db" "jsonl:$T/runs.jsonl" 2>/dev/null
"$C" delete --store "sqlite:$T/c.db" latest latest 2>"$T/del.err"
check "a run named twice is deleted once" "0 1 1" "$? $(count_runs "sqlite:$T/c.db") $(grep -c 'deleted run' "$T/del.err")"
"$C" list --store "bogus:x" >/dev/null 2>"$T/u.err"
check "unknown store scheme: usage error" "2 1" "$? $(grep -c CTRACE_E_USAGE "$T/u.err")"

# elfutils, libmicrohttpd (and libpq: test_pgsql.sh) are opened by the commands that need
# them: without a usable one, those fail clearly and the others still work
mkdir "$T/nolib" && : >"$T/nolib/libdw.so.1" && : >"$T/nolib/libmicrohttpd.so.12"
"$C" record -n -d "$T/rawnl" -- ./fib >/dev/null 2>&1
LD_LIBRARY_PATH=$T/nolib "$C" commit --keep --store "sqlite:$T/nl.db" "$(ls -d "$T"/rawnl/*/)" 2>"$T/nl.err"
check "no usable libdw: commit is CTRACE_E_SYMBOL naming libdw1" "1 1" "$? $(grep -c 'CTRACE_E_SYMBOL.*libdw1' "$T/nl.err")"
LD_LIBRARY_PATH=$T/nolib "$C" list --store "$S" >/dev/null 2>&1
check "no usable libdw or libmicrohttpd: list works" 0 "$?"
LD_LIBRARY_PATH=$T/nolib "$C" serve --store "$S" --listen 127.0.0.1:0 >/dev/null 2>"$T/nl2.err"
check "no usable libmicrohttpd: serve is CTRACE_E_IO naming libmicrohttpd12" "1 1" \
	"$? $(grep -c 'CTRACE_E_IO.*libmicrohttpd12' "$T/nl2.err")"

summary "store cli"
