#!/bin/sh
# SPDX-License-Identifier: MIT
# Threads that outnumber the CPUs (docs/report.md, "True times"): the run records the CPUs it
# had (host.cpus) and, without off-CPU data, the report's header says when more threads were
# alive at once than there were CPUs, so wall times include waiting for one; a run that fits
# says nothing; with --sched the workers' compensated on-CPU time matches the untraced CPU
# time. tests/integ/progs/contend.c, gcc. Prints ok/FAIL lines.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
B=$(cd "${1:-build}" && pwd)
T=$(mktemp -d /tmp/ctrace-contend.XXXXXX)
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
cd "$T" || exit 1
S=sqlite:$T/s.db
cpus=$(getconf _NPROCESSORS_ONLN)
gcc -O2 -g -finstrument-functions -pthread -o contend "$HERE/progs/contend.c" || { bad build gcc; exit 1; }
many=$((cpus + 2))
"$B/ctrace" record --store "$S" -- ./contend "$many" 20000 >/dev/null 2>rec.err || bad record "$(cat rec.err)"
check "the run records the CPUs online" "host.cpus=$cpus" "$("$B/ctrace" show --store "$S" latest | sed -n 's/^ *\(host.cpus=.*\)/\1/p')"
check "more threads than CPUs: the header says times are wall clock" 1 \
	"$("$B/ctrace-report" --store "$S" | grep -c "^note: up to $((many + 1)) threads were alive at once on $cpus CPUs: times are wall clock")"
"$B/ctrace" record --store "$S" -- ./contend 1 20000 >/dev/null 2>rec.err || bad record "$(cat rec.err)"
want=0
[ "$cpus" -lt 2 ] && want=1
check "threads that fit the CPUs: no note" "$want" "$("$B/ctrace-report" --store "$S" | grep -c '^note: up to')"
# --sched: the workers' compensated on-CPU time is what the program computes, near (goal: within
# 25% of) the CPU time the same binary uses untraced (glibc's hooks are no-ops without the preload).
# A slow path that was preempted (a window change waiting for the drainer) measured that wait
# too: removed as tracer time and also counted off-CPU, it left the workers no on-CPU time.
"$B/ctrace" record --sched --store "$S" -- ./contend 4 1000000 >/dev/null 2>rec.err || bad record "$(cat rec.err)"
"$B/ctrace-report" --store "$S" --json --threads >sched.json 2>/dev/null
got=$(python3 - <<'PY'
import json, resource, subprocess
d = json.load(open("sched.json"))
oncpu = sum(f["oncpu_ns"] for t in d["threads"] for f in t["functions"] if f["name"] == "worker")
runs = []
for _ in range(3):  # the untraced binary's CPU time: the least disturbed of three
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(["./contend", "4", "1000000"], stdout=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    runs.append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1e9)
noop = min(runs)
print("%s on-cpu %.1f ms, untraced CPU %.1f ms" % ("within" if abs(oncpu - noop) <= 0.25 * noop else "outside",
      oncpu / 1e6, noop / 1e6))
PY
)
# A timing target, not a behaviour: the untraced CPU time alone varied 110-313 ms between runs
# on a shared 2-core machine, so the figure is printed for the reader (and bench/) rather than
# failing the suite; the behaviour checked is that the workers get on-CPU time at all.
echo "note --sched: 4 workers on $cpus CPUs, compensated on-CPU against the untraced CPU time: $got"
check "--sched: the workers have on-CPU time (a preempted slow path is not removed twice)" yes \
	"$(python3 -c "
import json; d = json.load(open('sched.json'))
print('yes' if sum(f['oncpu_ns'] for t in d['threads'] for f in t['functions'] if f['name'] == 'worker') > 0 else 'no')")"
summary contention
