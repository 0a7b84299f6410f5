#!/bin/sh
# SPDX-License-Identifier: MIT
# The first whole-run timeline answer of `ctrace serve` on a run of >= 100 M calls, with the
# timeline index stored at commit and without it (docs/serve.md, "The stored index";
# docs/performance.md quotes it). Records fib(N) (default 38: 126 M calls) into
# BENCH_WORK/first/fib.db, timing the commit, copies the store without its stored indexes, then
# for each store starts a fresh server and times its first GET of the whole-run timeline of
# thread 0 at 2000 px (the page's first request), three rounds each. Prints the figures.
#
# Knobs: BENCH_FIB (38), BENCH_WORK (bench/work), BUILD (build), BASE (another build directory
# whose commit time is measured on the same raw run, e.g. one without the stored index).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_WORK:-$ROOT/bench/work}/first
B=${BUILD:-build}
case $B in /*) ;; *) B=$ROOT/$B ;; esac
N=${BENCH_FIB:-38}
mkdir -p "$WORK"
cd "$WORK"
rm -f fib.db fib.db-* nox.db nox.db-*
cat >fib.c <<'C'
#include <stdio.h>
#include <stdlib.h>
__attribute__((noinline)) long fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
int main(int argc, char **argv) { printf("%ld\n", fib(argc > 1 ? atoi(argv[1]) : 38)); return 0; }
C
gcc -O2 -g -finstrument-functions -o fib fib.c
rm -rf raw
"$B/ctrace" record --no-commit -d "$WORK/raw" -- ./fib "$N" >/dev/null 2>&1
# BASE (optional): a build without the stored index, to time the commit it does
if [ -n "${BASE:-}" ]; then
	t0=$(date +%s.%N)
	"$BASE/ctrace" commit --keep --store "sqlite:$WORK/base.db" "$WORK/raw"/* >/dev/null 2>&1
	t1=$(date +%s.%N)
	echo "commit without the index ($BASE): $(echo "$t1 - $t0" | bc) s"
	rm -f base.db base.db-*
fi
t0=$(date +%s.%N)
"$B/ctrace" commit --store "sqlite:$WORK/fib.db" "$WORK/raw"/* >/dev/null 2>&1
t1=$(date +%s.%N)
echo "commit with the index: $(echo "$t1 - $t0" | bc) s"
sqlite3 fib.db "SELECT 'calls: ' || (SELECT sum(calls) FROM nodes) || ', stored timeline: ' || (SELECT sum(length(data)) FROM chunks) || ' B, stored index: ' || (SELECT sum(length(data)) FROM run_aux) || ' B'"
sqlite3 fib.db ".backup '$WORK/nox.db'"
sqlite3 nox.db "DELETE FROM run_aux"
for store in fib nox; do
	for round in 1 2 3; do
		PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
		"$B/ctrace" serve --store "sqlite:$WORK/$store.db" --listen "127.0.0.1:$PORT" 2>serve.err &
		SRV=$!
		i=0
		while [ $i -lt 100 ] && ! grep -q "http://127.0.0.1:$PORT/" serve.err; do sleep 0.1; i=$((i + 1)); done
		python3 - "$PORT" "$store" "$round" "$SRV" <<'PY'
import http.client, json, sys, time
port, store, rnd, pid = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
t = time.perf_counter()
c.request("GET", "/api/runs/latest/timeline?thread=0&px=2000")
r = c.getresponse()
j = json.loads(r.read())
dt = time.perf_counter() - t
rss = [l for l in open("/proc/%s/status" % pid) if l.startswith("VmHWM")][0].split()[1]
print("%s store, round %s: first timeline answer %.3f s (index %s, %d chunks read, %d calls + %d busy), server peak RSS %s kB"
      % ("stored-index" if store == "fib" else "no-index", rnd, dt, j["index"], j["chunks_read"], len(j["calls"]), len(j["busy"]), rss))
PY
		kill -INT "$SRV"
		wait "$SRV" || true
	done
done
