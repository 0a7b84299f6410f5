#!/bin/sh
# SPDX-License-Identifier: MIT
# Timing fidelity of ctrace's compensated ("true") times. usage: run.sh BUILD_DIR [TOL_PCT TOL_NS]
# Spins of 1 us .. 1 ms (exact TSC cycle counts) must report a self time within TOL_PCT
# (default 2%) of the truth (the fastest call: the others may be preempted); a leaf called
# 1 M times, and its caller per child call, within TOL_NS (default 10 ns) of the
# uninstrumented cost. Prints a table, "ok"/"FAIL" lines, exits non-zero on a miss.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
B=$(cd "${1:-build}" && pwd)
TOL_PCT=${2:-2}
TOL_NS=${3:-10}
T=$(mktemp -d /tmp/ctrace-fid.XXXXXX)
trap 'rm -rf "$T"' EXIT
gcc -O2 -g -o "$T/plain" "$HERE/fidelity.c" &&
	gcc -O2 -g -finstrument-functions -o "$T/instr" "$HERE/fidelity.c" || exit 1
# the TSC rate, as the recorder measured it
rm -rf "$T/d"
CTRACE_DIR=$T/d LD_PRELOAD=$B/libctrace.so "$T/plain" 1 >/dev/null 2>&1 || true
hz=$(awk '/^ticks_per_sec=/ { sub(/.*=/, ""); print; exit }' "$T"/d/*/p-*.meta 2>/dev/null)
ghz=$(awk -v h="${hz:-2600000000}" 'BEGIN { printf "%.6f", h / 1e9 }')
true_ns=$("$T/plain" "$ghz")
"$B/ctrace" record -d "$T/r" --store "sqlite:$T/s.db" -- "$T/instr" "$ghz" >/dev/null 2>"$T/err" || { cat "$T/err"; exit 1; }
"$B/ctrace-report" --store "sqlite:$T/s.db" --json >"$T/j.json"
"$B/ctrace-report" --store "sqlite:$T/s.db" --raw-times --json >"$T/raw.json"
python3 - "$T/j.json" "$T/raw.json" "$true_ns" "$TOL_PCT" "$TOL_NS" <<'PY'
import json, sys
comp = {f['name']: f for f in json.load(open(sys.argv[1]))['functions']}
raw = {f['name']: f for f in json.load(open(sys.argv[2]))['functions']}
true_iter, tol_pct, tol_ns = float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
fails = 0
print("| function | truth | ctrace (compensated) | raw | error |")
print("|---|---|---|---|---|")
for name, ns in (("spin_1us", 1e3), ("spin_10us", 1e4), ("spin_100us", 1e5), ("spin_1ms", 1e6)):
    c, r = comp[name]['min_ns'], raw[name]['min_ns']
    err = 100.0 * (c - ns) / ns
    ok = abs(err) <= tol_pct
    fails += not ok
    print(f"| {name} self (fastest call) | {ns:.0f} ns | {c} ns | {r} ns | {err:+.2f}% {'ok' if ok else 'MISS'} |")
leaf_c = comp['leaf']['self_ns'] / comp['leaf']['calls']
leaf_r = raw['leaf']['self_ns'] / raw['leaf']['calls']
loop_c = comp['loop']['self_ns'] / comp['leaf']['calls']
loop_r = raw['loop']['self_ns'] / raw['leaf']['calls']
for label, c, r in (("leaf self per call", leaf_c, leaf_r), ("loop self per child call", loop_c, loop_r)):
    ok = abs(c - true_iter) <= tol_ns
    fails += not ok
    print(f"| {label} | <= {true_iter:.2f} ns (whole iteration) | {c:.2f} ns | {r:.2f} ns | {c - true_iter:+.2f} ns {'ok' if ok else 'MISS'} |")
print()
print("ok   fidelity" if not fails else f"FAIL fidelity: {fails} figure(s) outside {tol_pct}% / {tol_ns} ns")
sys.exit(1 if fails else 0)
PY
