#!/bin/sh
# SPDX-License-Identifier: MIT
# PostgreSQL store against SQLite (not part of `make test`; docs/performance.md has the figures):
# the commit of one large run (fib(N), BENCH_PG_FIB=33: about 11.4 M calls; BENCH_PG_FIB=0
# skips it) into each, and list/query/trend times on a store of BENCH_PG_RUNS (10000) tiny runs,
# made by saving copies of one tiny run (ids, start times and a branch key varied) through the
# store API (bench/store_fill.c). Every figure is the wall time of a whole process (fork, exec,
# wait: bench/timeit.c), the median of BENCH_PG_REPS (3) for commits and trends and of
# BENCH_PG_QREPS (11) for the short commands, which run interleaved (sqlite, pgsql, sqlite, ...)
# so both see the same load; the floors say what any command costs before its query, measured
# in the same loop: a program that does nothing, the same linked with libpq (its start-up
# loads libpq's dependency chain), connecting and disconnecting (the server starts and ends a
# backend), and connecting to run SELECT 1 (bench/pgfloor.c). The server is durable here
# (fsync on), like SQLite's synchronous=FULL.
# Usage: sh bench/pgsql.sh [BUILD]
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$(cd "${1:-$ROOT/build}" && pwd)
FIB=${BENCH_PG_FIB:-33}
NRUNS=${BENCH_PG_RUNS:-10000}
REPS=${BENCH_PG_REPS:-3}
QREPS=${BENCH_PG_QREPS:-11}
C=$B/ctrace
W=$(mktemp -d /tmp/ctrace-bench-pg.XXXXXX)
CTR_PG_OPTS=
. "$ROOT/tests/pg.sh"
pgb_stop() { [ -f "$W/pgb/pgb.pid" ] && kill "$(cat "$W/pgb/pgb.pid")" 2>/dev/null; sleep 0.2; }
trap 'pgb_stop; ctr_pg_stop; rm -rf "$W"' EXIT
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
gcc -O2 -o timeit "$ROOT/bench/timeit.c"
if [ "$FIB" -gt 0 ]; then
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

fi
echo "## a store of $NRUNS tiny runs"
gcc -O2 -g -finstrument-functions -o tiny "$ROOT/tests/integ/progs/fibn.c"
"$C" record -s jsonl:one.jsonl -- ./tiny 3 >/dev/null 2>&1
gcc -O2 -I"$ROOT" -o store_fill "$ROOT/bench/store_fill.c" "$B/libctrstore.a" "$B/libctrcommon.a" \
	$(pkg-config --libs sqlite3 jansson libzstd) -lm -ldl -lpthread
P=$(newdb bmany)
t0=$(now); ./store_fill jsonl:one.jsonl sqlite:many.db "$NRUNS"; t1=$(now)
./store_fill jsonl:one.jsonl "$P" "$NRUNS"; t2=$(now)
echo "$NRUNS saves of a tiny run through the API: sqlite $(ms $((t1 - t0))) ms, pgsql $(ms $((t2 - t1))) ms"
# pair NAME ARGS...: ARGS --store S on the sqlite and then the pgsql store, QREPS times in turn
pair() {
	name=$1
	shift
	rm -f ts tp
	for i in $(seq "$QREPS"); do
		./timeit -o ts -- "$@" --store sqlite:many.db 2>/dev/null
		./timeit -o tp -- "$@" --store "$P" 2>/dev/null
	done
	printf '%-48s %8s %8s %8s %8s\n' "$name" "$(med_ms ts)" "$(med_ms tp)" "$(med_ms ts 2)" \
		"$(med_ms tp 2)"
}
# med_ms FILE [COL]: median of timeit's column COL (1 wall, 2 CPU of the process), in ms
med_ms() { awk -v c="${2:-1}" '{ print $c * 1000 }' "$1" | median | { read -r v; printf '%.1f' "$v"; }; }
printf 'int main(void) { return 0; }\n' >noop.c
gcc -O2 -o noop noop.c
gcc -O2 $(pkg-config --cflags libpq) -o pgfloor "$ROOT/bench/pgfloor.c" $(pkg-config --libs libpq)
rm -f tn tv to1 to2 tl tc ts1
for i in $(seq "$QREPS"); do
	./timeit -o tn -- ./noop
	./timeit -o tl -- ./pgfloor
	./timeit -o tc -- ./pgfloor "$P"
	./timeit -o ts1 -- ./pgfloor -q "SELECT 1" "$P"
	./timeit -o tv -- "$C" --version
	./timeit -o to1 -- ./store_fill --open sqlite:many.db
	./timeit -o to2 -- ./store_fill --open "$P"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); medians of $QREPS (trend: $REPS), ms;"
echo "wall time of the whole process, then its own CPU time (user+sys, not the server's)"
printf '%-48s %8s %8s %8s %8s\n' "" sqlite pgsql sqlite pgsql
printf '%-48s %8s %8s %8s %8s\n' "" wall wall cpu cpu
printf '%-48s %8s %8s %8s %8s\n' "floor: a C program that does nothing" "$(med_ms tn)" - "$(med_ms tn 2)" -
printf '%-48s %8s %8s %8s %8s\n' "floor: the same linked with libpq" - "$(med_ms tl)" - "$(med_ms tl 2)"
printf '%-48s %8s %8s %8s %8s\n' "floor: + connect, disconnect (libpq)" - "$(med_ms tc)" - "$(med_ms tc 2)"
printf '%-48s %8s %8s %8s %8s\n' "floor: + SELECT 1 (bare connection)" - "$(med_ms ts1)" - "$(med_ms ts1 2)"
printf '%-48s %8s %8s %8s %8s\n' "floor: ctrace --version" "$(med_ms tv)" - "$(med_ms tv 2)" -
printf '%-48s %8s %8s %8s %8s\n' "floor: open + close the store (store_fill)" "$(med_ms to1)" \
	"$(med_ms to2)" "$(med_ms to1 2)" "$(med_ms to2 2)"
pair "list --limit 20" "$C" list --limit 20
pair "list (all $NRUNS)" "$C" list
pair "list --json --limit 20" "$C" list --json --limit 20
pair "query --meta branch=b3 ($((NRUNS / 10)) runs)" "$C" query --meta branch=b3
pair "query --meta branch=b3 --limit 20" "$C" query --meta branch=b3 --limit 20
pair "query --function fib --limit 20" "$C" query --function fib --limit 20
pair "query --function nosuch (no run)" "$C" query --function nosuch
pair "query --host H --limit 20" "$C" query --host "$(hostname)" --limit 20
pair "query --since T (the last 100 runs)" "$C" query --since @$((1700000000 + NRUNS - 100))
# Through a session pooler (pgbouncer, when installed; BENCH_PG_POOLER=0 skips it): the
# server's backends outlive the commands, so a command pays the client's floor and its query
# but no backend start-up and no cold catalog caches. Both columns are PostgreSQL here.
if [ "${BENCH_PG_POOLER:-1}" = 1 ] && command -v pgbouncer >/dev/null 2>&1; then
	mkdir "$W/pgb"
	printf '%s\n' '[databases]' "bmany = host=$CTR_PG_DIR dbname=bmany user=postgres" \
		'[pgbouncer]' 'listen_addr =' 'listen_port = 6432' "unix_socket_dir = $W/pgb" \
		'auth_type = trust' "auth_file = $W/pgb/users.txt" 'pool_mode = session' \
		"logfile = $W/pgb/pgb.log" "pidfile = $W/pgb/pgb.pid" >"$W/pgb/pgb.ini"
	echo '"postgres" ""' >"$W/pgb/users.txt"
	chmod 0755 "$W"
	[ "$(id -u)" = 0 ] && chown -R postgres "$W/pgb"
	if ctr_pg_as pgbouncer -d "$W/pgb/pgb.ini" >/dev/null 2>&1 && sleep 0.5; then
		PB="postgresql:///bmany?host=$W/pgb&port=6432&user=postgres"
		echo "through pgbouncer (session pooling), ms, median of $QREPS: direct and pooled"
		printf '%-48s %8s %8s %8s %8s\n' "" direct pooled direct pooled
		printf '%-48s %8s %8s %8s %8s\n' "" wall wall cpu cpu
		# pooled NAME ARGS...: ARGS --store S directly and through the pooler, in turn
		pooled() {
			name=$1
			shift
			rm -f ts tp
			for i in $(seq "$QREPS"); do
				./timeit -o ts -- "$@" "$P" 2>/dev/null
				./timeit -o tp -- "$@" "$PB" 2>/dev/null
			done
			printf '%-48s %8s %8s %8s %8s\n' "$name" "$(med_ms ts)" "$(med_ms tp)" \
				"$(med_ms ts 2)" "$(med_ms tp 2)"
		}
		pooled "floor: SELECT 1 (bench/pgfloor.c)" ./pgfloor -q "SELECT 1"
		pooled "list --limit 20" "$C" list --limit 20 --store
		pooled "list (all $NRUNS)" "$C" list --store
		pooled "query --meta branch=b3 --limit 20" "$C" query --meta branch=b3 --limit 20 --store
		pooled "query --function fib --limit 20" "$C" query --function fib --limit 20 --store
	else
		echo "pgbouncer did not start: no pooled figures"
	fi
fi
QREPS=$REPS
pair "trend fib --meta branch=b3 ($((NRUNS / 10)) runs)" "$C" trend fib --meta branch=b3
pair "trend fib --metric total ($((NRUNS / 10)) runs)" "$C" trend fib --metric total --meta branch=b3
pair "trend fib (all $NRUNS runs)" "$C" trend fib
