#!/bin/sh
# SPDX-License-Identifier: MIT
# Filtering must cost less than recording (issue 11): times the instrumented smallfns (64
# distinct short callees under one loop) and Lua workloads under ctrace with every call kept,
# with --min-duration 5us and with --sample 10, in interleaved rounds, and prints the medians
# of wall and CPU time side by side with the ratio to plain recording. Uses the binaries of
# bench/setup.sh (bench/work/bin). Knobs: BENCH_ROUNDS (5), BUILD (build), BENCH_WORK.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_WORK:-$ROOT/bench/work}
BIN="$WORK/bin"
B=${BUILD:-build}
case $B in /*) ;; *) B="$ROOT/$B" ;; esac
ROUNDS=${BENCH_ROUNDS:-5}
T=$(mktemp -d /tmp/ctrace-filter.XXXXXX)
trap 'rm -rf "$T"' EXIT
[ -x "$BIN/smallfns.inst" ] || sh "$ROOT/bench/setup.sh" >&2

wl() { case $1 in smallfns) echo "$BIN/smallfns.inst 150000" ;; lua) echo "$BIN/lua.inst $ROOT/bench/bench.lua 1" ;; esac; }
opt() { case $1 in all) echo "CTRACE_X=1" ;; mindur) echo "CTRACE_MIN_DURATION=5us" ;; sample) echo "CTRACE_SAMPLE=10" ;; esac; }

for w in smallfns lua; do
	[ -x "$(wl $w | cut -d ' ' -f 1)" ] || continue
	r=1
	while [ "$r" -le "$ROUNDS" ]; do
		for m in all mindur sample; do
			rm -rf "$T/d"
			mkdir -p "$T/d"
			"$BIN/timeit" -o "$T/t" -R -e LD_PRELOAD="$B/libctrace.so" -e CTRACE_DIR="$T/d" \
				-e "$(opt $m)" -- $(wl $w) || echo "bench/filter: $w $m failed" >&2
			echo "$w $m $(tail -n 1 "$T/t")" >>"$T/data"
			rm -f "$T/t"
		done
		r=$((r + 1))
	done
done
echo "| workload | recording | wall (median) | CPU (median) | wall vs every call | CPU vs every call |"
echo "|---|---|---|---|---|---|"
awk '
function median(a, n,   i, j, t) {
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{ k = $1 " " $2; n[k]++; W[k, n[k]] = $3; C[k, n[k]] = $4; if (!($1 in seen)) { seen[$1] = 1; order[++nw] = $1 } }
END {
	split("all mindur sample", modes, " ")
	label["all"] = "every call"; label["mindur"] = "--min-duration 5us"; label["sample"] = "--sample 10"
	for (i = 1; i <= nw; i++) for (m = 1; m <= 3; m++) {
		k = order[i] " " modes[m]
		for (j = 1; j <= n[k]; j++) { ww[j] = W[k, j]; cc[j] = C[k, j] }
		mw[k] = median(ww, n[k]); mc[k] = median(cc, n[k])
		b = order[i] " all"
		printf "| %s | %s | %.3f s | %.3f s | %.2fx | %.2fx |\n", order[i], label[modes[m]], mw[k], mc[k], mw[b] ? mw[k] / mw[b] : 0, mc[b] ? mc[k] / mc[b] : 0
	}
}' "$T/data"
