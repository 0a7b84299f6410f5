#!/bin/sh
# SPDX-License-Identifier: MIT
# Shared rings against direct event files (issue 15): per-call cost over the no-op build of
# ctrace under `ctrace record` (threads write shared rings, the record process drains them) and
# under plain LD_PRELOAD (threads write their event files directly), next to the ring floor of
# bench/floor.c, in interleaved rounds; wall time and CPU time, and the drainer's CPU time
# (drain_cpu_ns of the run) reported apart from the program's. `ctrace record -n -- true` is
# timed too and taken off the record rows (the recorder's own start-up is not a per-call cost).
# Knobs: BENCH_ROUNDS (5), BENCH_QUICK=1 (smaller sizes), BENCH_WORKLOADS, BUILD, BENCH_WORK.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_WORK:-$ROOT/bench/work}
BIN="$WORK/bin"
B=${BUILD:-build}
case $B in /*) ;; *) B="$ROOT/$B" ;; esac
ROUNDS=${BENCH_ROUNDS:-5}
WORKLOADS=${BENCH_WORKLOADS:-fib smallfns threads1 threads2 lua sqlite zstd}
T=$(mktemp -d /tmp/ctrace-rings-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
[ -x "$BIN/fib.inst" ] && [ -x "$BIN/floor.so" ] || sh "$ROOT/bench/setup.sh" >&2

cmd() {
	if [ "${BENCH_QUICK:-0}" = 1 ]; then
		case $1 in
		fib) echo "$BIN/fib.inst 30" ;; smallfns) echo "$BIN/smallfns.inst 100000" ;;
		threads1) echo "$BIN/threads.inst 1 100000" ;; threads2) echo "$BIN/threads.inst 2 100000" ;;
		lua) echo "$BIN/lua.inst $ROOT/bench/bench.lua 1" ;; sqlite) echo "$BIN/speedtest1.inst --memdb --size 3" ;;
		zstd) echo "$BIN/zstd.inst -T2 -q -f $WORK/zstd-input-quick -o $T/out.zst" ;;
		esac
	else
		case $1 in
		fib) echo "$BIN/fib.inst 33" ;; smallfns) echo "$BIN/smallfns.inst 300000" ;;
		threads1) echo "$BIN/threads.inst 1 300000" ;; threads2) echo "$BIN/threads.inst 2 300000" ;;
		lua) echo "$BIN/lua.inst $ROOT/bench/bench.lua 1" ;; sqlite) echo "$BIN/speedtest1.inst --memdb --size 5" ;;
		zstd) echo "$BIN/zstd.inst -T2 -q -f $WORK/zstd-input-full -o $T/out.zst" ;;
		esac
	fi
}
TIMEIT="$BIN/timeit -R -o $T/t"
row() { echo "$1 $2 $(tail -n 1 "$T/t") ${3:-0}" >>"$T/data"; rm -f "$T/t"; }

for w in $WORKLOADS; do
	c=$(cmd "$w")
	[ -x "${c%% *}" ] || continue
	rm -f "$T/count"
	$TIMEIT -e LD_PRELOAD="$BIN/count.so" -e BENCH_COUNT_OUT="$T/count" -- $c >/dev/null 2>&1 || true
	echo "$w calls $(awk '{ n += $2 } END { print n + 0 }' "$T/count")" >>"$T/calls"
	r=1
	while [ "$r" -le "$ROUNDS" ]; do
		$TIMEIT -- $c && row "$w" noop
		$TIMEIT -e LD_PRELOAD="$BIN/floor.so" -e BENCH_FLOOR=ring -- $c && row "$w" floor
		rm -rf "$T/d"
		$TIMEIT -e LD_PRELOAD="$B/libctrace.so" -e CTRACE_DIR="$T/d" -- $c && row "$w" direct
		rm -rf "$T/d"
		$TIMEIT -- "$B/ctrace" record -n -d "$T/d" -- true 2>/dev/null && row "$w" bare
		rm -rf "$T/d"
		$TIMEIT -- "$B/ctrace" record -n -d "$T/d" -- $c 2>/dev/null &&
			row "$w" record "$(sed -n 's/^drain_cpu_ns=//p' "$T"/d/*/run.meta)"
		rm -rf "$T/d"
		$TIMEIT -- "$B/ctrace" record -n -d "$T/d" --ring 1M -- $c 2>/dev/null && row "$w" flight
		rm -rf "$T/d"
		r=$((r + 1))
	done
done

echo "| workload | calls | ring floor | direct files | shared rings | drainer CPU | flight recorder (--ring 1M) | direct / floor | rings / floor | rings / floor (program CPU) | flight / rings |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
awk '
function median(a, n,   i, j, t) {
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function med(w, m, col,   x, a) { for (x = 1; x <= n[w, m]; x++) a[x] = v[w, m, x, col]; return median(a, n[w, m]) }
FILENAME ~ /calls$/ { calls[$1] = $3; next }
{ k = $1 SUBSEP $2; n[k]++; for (c = 3; c <= 8; c++) v[k, n[k], c] = $c; if (!($1 in seen)) { seen[$1] = 1; order[++nw] = $1 } }
END {
	for (i = 1; i <= nw; i++) {
		w = order[i]; c = calls[w]; if (!c) continue
		nw0 = med(w, "noop", 3); nc0 = med(w, "noop", 4)
		fl = (med(w, "floor", 3) - nw0) / c * 1e9
		di = (med(w, "direct", 3) - nw0) / c * 1e9
		re = (med(w, "record", 3) - med(w, "bare", 3) - nw0) / c * 1e9
		dr = med(w, "record", 7) / c
		# program CPU: the record run minus the drainer and the recorder start-up
		flc = (med(w, "floor", 4) - nc0) / c * 1e9
		rec = (med(w, "record", 4) - med(w, "record", 7) / 1e9 - med(w, "bare", 4) - nc0) / c * 1e9
		fr = (med(w, "flight", 3) - med(w, "bare", 3) - nw0) / c * 1e9
		printf "| %s | %.2f M | %.1f ns | %.1f ns | %.1f ns | %.1f ns | %.1f ns | %.2f | %.2f | %.2f | %.2f |\n", w, c / 1e6, fl, di, re, dr, fr, di / fl, re / fl, rec / flc, fr / re
	}
}' "$T/calls" "$T/data"
# a snapshot of a full 64 MiB ring: the commit of the run directory it makes
if [ -x "$BIN/fib.inst" ]; then
	for r in 1 2 3; do
		rm -rf "$T/d" "$T/s.db"
		"$B/ctrace" record -n -d "$T/d" --ring 64M -- "$BIN/fib.inst" 34 >/dev/null 2>&1
		$TIMEIT -- "$B/ctrace" commit --store "sqlite:$T/s.db" "$T"/d/*/ 2>/dev/null &&
			echo "snap commit $(tail -n 1 "$T/t")" >>"$T/snap"
		rm -f "$T/t"
	done
	ev=$("$B/ctrace-report" --store "sqlite:$T/s.db" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["calls"] * 2)' 2>/dev/null || echo 0)
	echo
	awk -v ev="$ev" '{ v[++n] = $3 } END { for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j > 0 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
		printf "Snapshot of a full 64 MiB ring (fib, %.1f M events): committed in %.2f s (median of %d; target < 1 s).\n", ev / 1e6, v[int((n + 1) / 2)], n }' "$T/snap"
fi
echo
echo "Per call over the no-op build; medians of $ROUNDS interleaved rounds; wall time except the"
echo "last column (CPU time of the program alone: the drainer's own CPU is the column before it)."
echo "Load average at the end: $(cut -d ' ' -f 1-3 /proc/loadavg)."
