#!/bin/sh
# SPDX-License-Identifier: MIT
# The Chrome export of a run larger than its event budget (docs/exports.md): by default it
# covers the whole run, its shortest calls left out at a cut-off chosen to fit the budget and
# written into the file's metadata, instead of the first calls of each thread; --min-duration
# or --max-events choose by hand, as before. fib(30): 2,692,537 calls of fib and main. Prints
# ok/FAIL lines.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
B=$(cd "${1:-build}" && pwd)
T=$(mktemp -d /tmp/ctrace-exports.XXXXXX)
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
cd "$T" || exit 1
S=sqlite:$T/s.db
gcc -O2 -g -finstrument-functions -o fibn "$HERE/progs/fibn.c" || { bad build gcc; exit 1; }
"$B/ctrace" record --store "$S" -- ./fibn 30 >/dev/null 2>rec.err || { bad record "$(cat rec.err)"; exit 1; }

# facts FILE: calls, budget, cut-off, fit flag, kept+left out, and where the kept calls lie in
# the thread's span (how many tenths of it hold a kept call's start, the last start as a fraction).
facts() {
	python3 - "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
o = d["otherData"]
ev = sorted(e["ts"] for e in d["traceEvents"] if e.get("ph") == "X")
span0, span1 = ev[0], max(e["ts"] + e["dur"] for e in d["traceEvents"] if e.get("ph") == "X")
frac = lambda t: (t - span0) / (span1 - span0)
print(o["calls"] <= o["max_events"], o["max_events"], o["min_duration_ns"] > 0, o["min_duration_fit"],
      o["calls"] + o["left_out_short"] + o["left_out_limit"], o["left_out_limit"],
      sum(1 for k in range(10) if any(k / 10 <= frac(t) < (k + 1) / 10 for t in ev[::97])), "%.2f" % frac(ev[-1]))
PY
}
"$B/ctrace" show --store "$S" latest --format chrome --out whole.json 2>whole.err
check "the default export exits 0" 0 $?
set -- $(facts whole.json)
check "within the event budget of 1,000,000" "True 1000000" "$1 $2"
check "a cut-off was chosen to fit, and says so" "True True" "$3 $4"
check "every call is kept or counted as left out" 2692538 "$5"
check "no call is cut by the budget after the cut-off" 0 "$6"
check "kept calls cover the whole run (calls start in every tenth of it)" yes \
	"$(python3 -c "print('yes' if $7 == 10 and $8 > 0.95 else 'no: $7 $8')")"
check "the note on stderr says the export covers the whole run" 1 "$(grep -c 'the export covers the whole run' whole.err)"

"$B/ctrace" show --store "$S" latest --format chrome --max-events 500000 --out first.json 2>/dev/null
set -- $(facts first.json)
check "--max-events keeps its meaning: no cut-off, the limit drops the rest" "False False 500000" "$3 $4 $2"
"$B/ctrace" show --store "$S" latest --format chrome --min-duration 1us --out long.json 2>/dev/null
check "--min-duration chooses the cut-off by hand" "1000 false" \
	"$(python3 -c "import json; o=json.load(open('long.json'))['otherData']; print(o['min_duration_ns'], str(o['min_duration_fit']).lower())")"
summary exports
