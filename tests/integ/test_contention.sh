#!/bin/sh
# SPDX-License-Identifier: MIT
# Threads that outnumber the CPUs (docs/report.md, "True times"): the run records the CPUs it
# had (host.cpus) and, without off-CPU data, the report's header says when more threads were
# alive at once than there were CPUs, so wall times include waiting for one; a run that fits
# says nothing. tests/integ/progs/contend.c, gcc. Prints ok/FAIL lines.
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
summary contention
