#!/bin/sh
# SPDX-License-Identifier: MIT
# The Perfetto export of large runs (docs/performance.md, "Perfetto export"). Two workloads are
# recorded into a SQLite store once each: fib(N) (tests/integ/progs/fibn.c; N = 33: 11.4 M
# calls, the most regular stream there is) and "mixed", M calls spread over 12 functions of
# pseudo-random lengths and depths (the program is below). `ctrace show --format perfetto` is
# then run BENCH_ROUNDS times on each; the best round's CPU time (user + system, which a busy
# machine does not inflate) and wall time give events per second (a call is two events, its
# BEGIN and END), next to the file's bytes per event, raw and after gzip -6. The last round's
# file is removed before each round, untimed: dropping GBs of page cache is not the export's
# cost. Not part of `make test`. Knobs: BENCH_N (33), BENCH_M (10000000), BENCH_ROUNDS (3), BUILD (build).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${BUILD:-build}
case $B in /*) ;; *) B="$ROOT/$B" ;; esac
N=${BENCH_N:-33}
M=${BENCH_M:-10000000}
ROUNDS=${BENCH_ROUNDS:-3}
T=$(mktemp -d /tmp/ctrace-perfetto-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
cat >mixed.c <<'C'
#include <stdio.h>
#include <stdlib.h>
static volatile unsigned long sink;
static unsigned long h(unsigned long x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdUL;
	return x ^ (x >> 33);
}
#define WORK(n)                                                                                   \
	__attribute__((noinline)) void w##n(unsigned long x)                                      \
	{                                                                                         \
		for (unsigned long i = 0; i < (x & 63); i++)                                      \
			sink += i;                                                                \
	}
WORK(0) WORK(1) WORK(2) WORK(3) WORK(4) WORK(5) WORK(6) WORK(7)
static void (*const leaf[8])(unsigned long) = {w0, w1, w2, w3, w4, w5, w6, w7};
__attribute__((noinline)) void mid(unsigned long x)
{
	leaf[x & 7](x >> 3);
	if (x & 0x100)
		leaf[(x >> 9) & 7](x >> 12);
}
__attribute__((noinline)) void top(unsigned long x)
{
	mid(h(x));
	if (x & 1)
		leaf[(x >> 1) & 7](x);
}
__attribute__((noinline)) void batch(unsigned long b, unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		top(h(b * n + i));
}
int main(int argc, char **argv)
{
	unsigned long m = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
	/* about 4.25 calls per top(): batches of 1000 */
	for (unsigned long b = 0; b < m / 4250; b++)
		batch(b, 1000);
	printf("%lu\n", (unsigned long)sink);
	return 0;
}
C
gcc -O2 -g -finstrument-functions -o fibn "$ROOT/tests/integ/progs/fibn.c"
gcc -O2 -g -finstrument-functions -o mixed mixed.c
"$B/ctrace" record --store "sqlite:$T/fib.db" -- ./fibn "$N" >/dev/null 2>&1
"$B/ctrace" record --store "sqlite:$T/mixed.db" -- ./mixed "$M" >/dev/null 2>&1
python3 - "$B/ctrace" "$ROUNDS" "$T" "fib($N)" fib "mixed($M)" mixed <<'PY'
import gzip, json, os, resource, subprocess, sys, time
ctrace, rounds, tmp = sys.argv[1], int(sys.argv[2]), sys.argv[3]
work = list(zip(sys.argv[4::2], sys.argv[5::2]))
print("perfetto export (ctrace show --format perfetto), best of %d rounds; load average %.1f" %
      (rounds, os.getloadavg()[0]))
print("%-18s %10s %8s %8s %11s %11s %9s %9s" % ("workload", "events", "cpu s", "wall s",
      "Mev/s cpu", "Mev/s wall", "B/event", "gzip B/ev"))
for label, db in work:
    store = "sqlite:%s/%s.db" % (tmp, db)
    rep = json.loads(subprocess.run([os.path.join(os.path.dirname(ctrace), "ctrace-report"),
                                     "--store", store, "--json", "--top", "0"],
                                    check=True, capture_output=True).stdout)
    events = 2 * sum(f["calls"] for f in rep["functions"])
    out = os.path.join(tmp, db + ".pftrace")
    best_cpu = best_wall = None
    for _ in range(rounds):
        if os.path.exists(out):  # dropping the last round's file (GBs of page cache) is not this one's cost
            os.unlink(out)
            os.sync()
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        subprocess.run([ctrace, "show", "--store", store, "latest", "--format", "perfetto",
                        "--out", out], check=True)
        wall = time.monotonic() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        best_cpu = cpu if best_cpu is None else min(best_cpu, cpu)
        best_wall = wall if best_wall is None else min(best_wall, wall)
    raw = os.path.getsize(out)
    with open(out, "rb") as f:
        gz = len(gzip.compress(f.read(), 6))
    print("%-18s %10d %8.3f %8.3f %11.1f %11.1f %9.2f %9.2f" % (label, events, best_cpu, best_wall,
          events / best_cpu / 1e6, events / best_wall / 1e6, raw / events, gz / events))
PY
