#!/bin/sh
# SPDX-License-Identifier: MIT
# True numbers on real programs (issue 11): for Lua 5.4 (bench.lua) and SQLite speedtest1,
# the plain build's wall time, the instrumented build's with glibc's no-op hooks, and ctrace's
# compensated total of the main thread (the sum of its top-level calls) next to the traced
# run's wall time, medians of interleaved rounds, and the ratio compensated / no-op (target
# <= 1.2). Uses bench/setup.sh's binaries. Knobs: BENCH_ROUNDS (5), BENCH_QUICK=1 (smaller
# sizes), BUILD (build), BENCH_WORK.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_WORK:-$ROOT/bench/work}
BIN="$WORK/bin"
B=${BUILD:-build}
case $B in /*) ;; *) B="$ROOT/$B" ;; esac
ROUNDS=${BENCH_ROUNDS:-5}
T=$(mktemp -d /tmp/ctrace-truth-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
[ -x "$BIN/lua.inst" ] || BENCH_ONLY="lua sqlite" sh "$ROOT/bench/setup.sh" >&2

args() {
	if [ "${BENCH_QUICK:-0}" = 1 ]; then
		case $1 in lua) echo "$ROOT/bench/bench.lua 1" ;; sqlite) echo "--memdb --size 3" ;; esac
	else
		case $1 in lua) echo "$ROOT/bench/bench.lua 2" ;; sqlite) echo "--memdb --size 10" ;; esac
	fi
}
exe() { case $1 in lua) echo lua ;; sqlite) echo speedtest1 ;; esac; }

for w in lua sqlite; do
	[ -x "$BIN/$(exe $w).inst" ] || continue
	r=1
	while [ "$r" -le "$ROUNDS" ]; do
		"$BIN/timeit" -o "$T/t" -R -- "$BIN/$(exe $w).plain" $(args $w) && echo "$w plain $(tail -n 1 "$T/t")" >>"$T/data"
		"$BIN/timeit" -o "$T/t" -R -- "$BIN/$(exe $w).inst" $(args $w) && echo "$w noop $(tail -n 1 "$T/t")" >>"$T/data"
		rm -f "$T/s.db"
		"$BIN/timeit" -o "$T/t" -R -- "$B/ctrace" record -d "$T/r" --store "sqlite:$T/s.db" -- \
			"$BIN/$(exe $w).inst" $(args $w) 2>/dev/null && echo "$w traced $(tail -n 1 "$T/t")" >>"$T/data"
		"$B/ctrace-report" --store "sqlite:$T/s.db" --json --tree --depth 1 --min-percent 0 |
			python3 -c 'import json, sys
t = json.load(sys.stdin)["threads"][0]
print(sum(n["total_ns"] for n in t["tree"]) / 1e9)' | sed "s/^/$w comp /" >>"$T/data"
		rm -f "$T/t"
		r=$((r + 1))
	done
done
echo "| workload | plain wall | no-op hooks wall | ctrace traced wall | ctrace compensated main thread | compensated / no-op | compensated / plain |"
echo "|---|---|---|---|---|---|---|"
awk '
function median(a, n,   i, j, t) {
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{ k = $1 " " $2; n[k]++; v[k, n[k]] = $3; if (!($1 in seen)) { seen[$1] = 1; order[++nw] = $1 } }
END {
	for (i = 1; i <= nw; i++) {
		w = order[i]
		split("plain noop traced comp", m, " ")
		for (j = 1; j <= 4; j++) { k = w " " m[j]; for (x = 1; x <= n[k]; x++) a[x] = v[k, x]; med[m[j]] = median(a, n[k]) }
		printf "| %s | %.3f s | %.3f s | %.3f s | %.3f s | %.2f | %.2f |\n", w, med["plain"], med["noop"], med["traced"], med["comp"], med["comp"] / med["noop"], med["comp"] / med["plain"]
	}
}' "$T/data"
