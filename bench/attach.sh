#!/bin/sh
# SPDX-License-Identifier: MIT
# `ctrace attach` on a running program of THREADS worker threads (default 100, all calling an
# instrumented function in a loop; tests/integ/progs/attachprog.c "spin"), ROUNDS attach/detach
# cycles: the time from the start of the injection to the first recorded event of the last
# worker (every thread recording; from the raw run: each thread file's start_ticks on the
# process's clock anchors), how long the injected thread stays stopped at attach (and every
# thread at detach), and ctrace attach's own wall time up to "attached". Goals (issue 21): all
# threads recording within 100 ms, the stop under 20 ms. Knobs: BENCH_THREADS, BENCH_ROUNDS,
# BENCH_NAP_US (each worker's nap between bursts, 100: 100 threads then keep 2 CPUs saturated;
# 1000 or more: a server whose threads wait most of the time), BENCH_RUN_PARENT (where the run
# directories go: the file system's cost of creating 100 ring files shows here), BUILD.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${BUILD:-build}
case $B in /*) ;; *) B="$ROOT/$B" ;; esac
THREADS=${BENCH_THREADS:-100}
ROUNDS=${BENCH_ROUNDS:-10}
NAP=${BENCH_NAP_US:-100}
T=$(mktemp -d /tmp/ctrace-attach-bench.XXXXXX)
RUNS=${BENCH_RUN_PARENT:-$T}/d
PROG=
cleanup() {
	[ -n "$PROG" ] && kill -9 "$PROG" 2>/dev/null
	exec 3>&-
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
cd "$T"
gcc -O2 -g -finstrument-functions -pthread -o ap "$ROOT/tests/integ/progs/attachprog.c"
mkfifo fifo
./ap "$THREADS" <fifo >out &
PROG=$!
exec 3>fifo
until grep -q ready out 2>/dev/null; do sleep 0.02; done
echo "spin $NAP" >&3
until grep -q spinning out 2>/dev/null; do sleep 0.02; done

i=0
while [ "$i" -lt "$ROUNDS" ]; do
	: >att.err
	t0=$(date +%s%N)
	"$B/ctrace" attach -d "$RUNS" --no-commit "$PROG" 2>att.err &
	att=$!
	until grep -q 'attached to\|CTRACE_E' att.err 2>/dev/null; do sleep 0.001; done
	t1=$(date +%s%N)
	# every worker has a ring once it recorded its first event (60 s at most)
	n=0
	until [ "$(ls "$RUNS"/*/r-*.ring 2>/dev/null | wc -l)" -ge "$THREADS" ] || [ $n -ge 12000 ]; do
		sleep 0.005
		n=$((n + 1))
	done
	"$B/ctrace" detach "$PROG"
	wait "$att"
	python3 - "$RUNS" "$THREADS" "$(((t1 - t0) / 1000))" <<'EOF' >>rows
import glob, os, struct, sys
d = glob.glob(sys.argv[1] + "/*/")[0]
meta = dict(l.rstrip("\n").split("=", 1) for l in open(d + "run.meta") if "=" in l)
p = dict(l.rstrip("\n").split("=", 1) for l in open(glob.glob(d + "p-*.meta")[0]) if "=" in l)
tps, t0, r0 = int(p["ticks_per_sec"]), int(p["start_ticks"]), int(p["start_real_ns"])
starts = []
for f in glob.glob(d + "t-*.ev"):
    h = open(f, "rb").read(64)
    tid = struct.unpack_from("<i", h, 20)[0]
    if tid == int(p["pid"]):
        continue  # the main thread waits in read(2): it records at its next command
    starts.append(r0 + (struct.unpack_from("<Q", h, 40)[0] - t0) * 1e9 / tps)
begin = int(meta["meta.attach.start_real_ns"])
print("%d %.2f %.2f %.2f %s %.2f" % (len(starts), (max(starts) - begin) / 1e6,
      int(meta["attach_stop_ns"]) / 1e6, int(meta["detach_stop_ns"]) / 1e6,
      int(sys.argv[3]) / 1000, int(meta["attach_stop_cpu_ns"]) / 1e6))
EOF
	rm -rf "$RUNS"
	i=$((i + 1))
done
echo stop >&3
echo "ctrace attach, $THREADS spinning threads ($NAP us naps), $ROUNDS rounds ($(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)):"
python3 - rows <<'EOF'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
col = lambda i: sorted(r[i] for r in rows)
med = lambda i: statistics.median(col(i))
print("  threads recording in each run: %d" % min(col(0)))
print("  to every thread recording (ms): median %.1f, min %.1f, max %.1f" % (med(1), col(1)[0], col(1)[-1]))
print("  injected thread stopped at attach (ms): median %.1f, max %.1f; on a CPU meanwhile: median %.1f" % (med(2), col(2)[-1], med(5)))
print("  all threads stopped at detach (ms): median %.1f, max %.1f" % (med(3), col(3)[-1]))
print("  ctrace attach until its 'attached' line (ms): median %.1f" % med(4))
EOF
