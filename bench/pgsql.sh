#!/bin/sh
# SPDX-License-Identifier: MIT
# PostgreSQL store against SQLite (not part of `make test`; docs/performance.md has the figures):
# the commit of one large run (fib(N), BENCH_PG_FIB=33: about 11.4 M calls) into each, and
# list/query times on a store of BENCH_PG_RUNS (10000) tiny runs, made by saving copies of one
# tiny run (ids, start times and a branch key varied) through the store API (bench/store_fill.c).
# Medians of BENCH_PG_REPS (3). The server is durable here (fsync on), like SQLite's
# synchronous=FULL. Usage: sh bench/pgsql.sh [BUILD]
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$(cd "${1:-$ROOT/build}" && pwd)
FIB=${BENCH_PG_FIB:-33}
NRUNS=${BENCH_PG_RUNS:-10000}
REPS=${BENCH_PG_REPS:-3}
C=$B/ctrace
W=$(mktemp -d /tmp/ctrace-bench-pg.XXXXXX)
CTR_PG_OPTS=
. "$ROOT/tests/pg.sh"
trap 'ctr_pg_stop; rm -rf "$W"' EXIT
ctr_pg_start
Q=${CTRACE_TEST_PG#*\?}
newdb() {
	psql -X -q "$CTRACE_TEST_PG" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null 2>&1
	echo "postgresql:///$1?$Q"
}
now() { date +%s%N; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ms() { awk -v ns="$1" 'BEGIN { printf "%.1f", ns / 1e6 }'; }
timeit() { # REPS times COMMAND...: prints the median in ms
	for i in $(seq "$REPS"); do
		t0=$(now)
		"$@" >/dev/null 2>&1
		echo $(($(now) - t0))
	done | median | { read -r v; ms "$v"; }
}
cd "$W"
gcc -O2 -g -finstrument-functions -o fibn "$ROOT/tests/integ/progs/fibn.c"
"$C" record -n -d raw -- ./fibn "$FIB" >/dev/null 2>&1
dir=$(ls -d raw/*/)
calls=$("$C" commit --keep --store jsonl:probe.jsonl "$dir" 2>/dev/null; "$C" list --store jsonl:probe.jsonl --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["events"] // 2)')
echo "## commit of fib($FIB): $calls calls, raw $(du -sh "$dir" | cut -f1)"
for i in $(seq "$REPS"); do
	rm -f c$i.db
	t0=$(now); "$C" commit --keep --store sqlite:c$i.db "$dir" 2>/dev/null; echo $(($(now) - t0))
done | median | { read -r v; echo "sqlite commit: $(ms "$v") ms"; }
for i in $(seq "$REPS"); do
	P=$(newdb bc$i)
	t0=$(now); "$C" commit --keep --store "$P" "$dir" 2>/dev/null; echo $(($(now) - t0))
done | median | { read -r v; echo "pgsql commit: $(ms "$v") ms"; }
P="postgresql:///bc1?$Q"
echo "load (report) sqlite: $(timeit "$B/ctrace-report" --store sqlite:c1.db latest) ms, pgsql: $(timeit "$B/ctrace-report" --store "$P" latest) ms"

echo "## a store of $NRUNS tiny runs"
gcc -O2 -g -finstrument-functions -o tiny "$ROOT/tests/integ/progs/fibn.c"
"$C" record -s jsonl:one.jsonl -- ./tiny 3 >/dev/null 2>&1
gcc -O2 -I"$ROOT" -o store_fill "$ROOT/bench/store_fill.c" "$B/libctrstore.a" "$B/libctrcommon.a" \
	$(pkg-config --libs sqlite3 jansson libzstd libpq) -lm
P=$(newdb bmany)
t0=$(now); ./store_fill jsonl:one.jsonl sqlite:many.db "$NRUNS"; t1=$(now)
./store_fill jsonl:one.jsonl "$P" "$NRUNS"; t2=$(now)
echo "$NRUNS saves of a tiny run through the API: sqlite $(ms $((t1 - t0))) ms, pgsql $(ms $((t2 - t1))) ms"
for s in sqlite:many.db "$P"; do
	case $s in sqlite:*) n=sqlite ;; *) n=pgsql ;; esac
	echo "$n: list --limit 20 $(timeit "$C" list --store "$s" --limit 20) ms;" \
		"list all $(timeit "$C" list --store "$s") ms;" \
		"query --meta branch=b3 $(timeit "$C" query --store "$s" --meta branch=b3) ms;" \
		"query --function fib $(timeit "$C" query --store "$s" --function fib --limit 20) ms;" \
		"query --host $(timeit "$C" query --store "$s" --host "$(hostname)" --limit 20) ms;" \
		"query --since (last 100) $(timeit "$C" query --store "$s" --since @1700009900) ms;" \
		"trend fib --meta branch=b3 $(timeit "$C" trend fib --store "$s" --meta branch=b3) ms"
done
