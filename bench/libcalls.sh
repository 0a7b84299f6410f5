#!/bin/sh
# SPDX-License-Identifier: MIT
# Cost of --libcalls (issue 22): (1) recording fib(32) (7 M instrumented calls) without
# --libcalls, with this build's preload and, when given, a baseline preload (BASE_LIB: a
# libctrace.so built before library calls existed): the option must cost nothing when off;
# (2) the cost of one recorded library call: bench/micro/libcall.c's N strlen calls recorded
# with CTRACE_LIBCALLS=strlen less the same run without it, per call. CPU time (user+sys) of
# each run, interleaved rounds, medians.
# usage: bench/libcalls.sh [BUILD_DIR] [BASE_LIB]      (BENCH_ROUNDS, default 7)
set -u
BENCH=$(cd "$(dirname "$0")" && pwd)
B=$(cd "${1:-$BENCH/../build}" && pwd)
BASE=${2:-}
ROUNDS=${BENCH_ROUNDS:-7}
T=$(mktemp -d /tmp/ctrace-lcb.XXXXXX)
trap 'rm -rf "$T"' EXIT
gcc -O2 -g -finstrument-functions -o "$T/fib" "$BENCH/micro/fib.c"
gcc -O2 -g -finstrument-functions -o "$T/lc" "$BENCH/micro/libcall.c"
N=5000000
python3 - "$B/libctrace.so" "$BASE" "$T" "$ROUNDS" "$N" <<'PY'
import os, resource, shutil, subprocess, sys
lib, base, t, rounds, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
def cpu(cmd, env):
    d = os.path.join(t, "d")
    shutil.rmtree(d, ignore_errors=True)
    os.mkdir(d)
    e = dict(os.environ, CTRACE_DIR=d, **env)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, env=e, stdout=subprocess.DEVNULL, check=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
modes = {"fib, this build": ([t + "/fib", "32"], {"LD_PRELOAD": lib}),
         "lc, no --libcalls": ([t + "/lc", str(n)], {"LD_PRELOAD": lib}),
         "lc, CTRACE_LIBCALLS=strlen": ([t + "/lc", str(n)], {"LD_PRELOAD": lib, "CTRACE_LIBCALLS": "strlen"})}
if base:
    modes["fib, baseline"] = ([t + "/fib", "32"], {"LD_PRELOAD": base})
res = {k: [] for k in modes}
for _ in range(rounds):
    for k, (cmd, env) in modes.items():
        res[k].append(cpu(cmd, env))
med = lambda v: sorted(v)[len(v) // 2]
for k in modes:
    print("%-28s median %.3f s  (min %.3f, max %.3f)" % (k, med(res[k]), min(res[k]), max(res[k])))
fib_calls = 7049155 # calls of fib(32)
print("fib: %.2f ns per recorded call (this build)" % (med(res["fib, this build"]) / fib_calls * 1e9))
if base:
    print("fib: %.2f ns per recorded call (baseline)" % (med(res["fib, baseline"]) / fib_calls * 1e9))
print("one recorded library call: %.2f ns" %
      ((med(res["lc, CTRACE_LIBCALLS=strlen"]) - med(res["lc, no --libcalls"])) / n * 1e9))
PY
