#!/bin/sh
# SPDX-License-Identifier: MIT
# The Perfetto export (`ctrace show RUN --format perfetto`, docs/exports.md): each trace is
# decoded by protoc with Perfetto's own schema (../shared/perfetto/perfetto_trace.proto) and
# replayed by pftrace.py the way Perfetto's importer reads it (sequences, interned names, the
# incremental clock), for runs with threads, fork and exec, longjmp, C++ exceptions, spans with
# attributes and marks, a flight-recorder snapshot and lost events: no field unknown to the
# schema, slices per function = the report's calls, marks = instants, begins and ends balanced
# and timestamps in order per track, and every call at the very start and duration the Chrome
# export gives it. Prints ok/FAIL lines.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
B=$(cd "${1:-build}" && pwd)
# the workplace's copy beside the checkout when there is one, else the copy kept with the tests
# (tests/fixtures/perfetto: Perfetto's file as released, Apache-2.0, LICENSE beside it)
PROTO=$(cd "$HERE/../../../shared/perfetto" 2>/dev/null && pwd)
[ -f "$PROTO/perfetto_trace.proto" ] || PROTO=$(cd "$HERE/../fixtures/perfetto" && pwd)
T=$(mktemp -d /tmp/ctrace-perfetto.XXXXXX)
srv=
trap '[ -z "$srv" ] || kill "$srv" 2>/dev/null; rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
cd "$T" || exit 1
command -v protoc >/dev/null || { bad protoc "protoc missing: make deps installs protobuf-compiler"; exit 1; }
[ -f "$PROTO/perfetto_trace.proto" ] || { bad schema "no ../shared/perfetto/perfetto_trace.proto"; exit 1; }
P=$HERE/progs
I=$HERE/../../instrument
gcc -O2 -g -finstrument-functions -pthread -o threads "$P/threads.c" &&
	gcc -O2 -g -finstrument-functions -o forkexec "$P/forkexec.c" &&
	gcc -O2 -g -finstrument-functions -o jump "$P/jump.c" &&
	g++ -O2 -g -finstrument-functions -o exc "$P/exc.cc" &&
	gcc -O2 -g -finstrument-functions -pthread -I"$I" -o pfspans "$P/pfspans.c" &&
	gcc -O2 -g -finstrument-functions -o flightprog "$P/flightprog.c" &&
	gcc -O2 -g -finstrument-functions -o fib "$P/fib.c" &&
	clang -O0 -g -finstrument-functions -o jump-clang "$P/jump.c" &&
	clang++ -O2 -g -finstrument-functions -o exc-clang "$P/exc.cc" || { bad build "compile failed"; exit 1; }

# export NAME [RECORD-ARGS...] -- PROG...: records into its own store, exports Perfetto,
# Chrome (everything) and the report JSON, decodes; leaves NAME.facts ("key value" lines)
export_run() {
	n=$1
	shift
	S=sqlite:$T/$n.db
	"$B/ctrace" record --store "$S" "$@" >"$n.out" 2>"$n.err" || true
	"$B/ctrace" show --store "$S" latest --format perfetto --out "$n.pftrace" 2>"$n.show.err"
	echo "$?" >"$n.rc"
	protoc --decode=perfetto.protos.Trace -I "$PROTO" perfetto_trace.proto <"$n.pftrace" >"$n.txt" 2>"$n.protoc.err"
	echo "$?" >"$n.prc"
	"$B/ctrace-report" --store "$S" --json --top 0 >"$n.rep.json" 2>>"$n.err"
	"$B/ctrace" show --store "$S" latest --format chrome --min-duration 0 --max-events 0 \
		--out "$n.chrome.json" 2>>"$n.err"
	python3 "$HERE/pftrace.py" facts "$n.txt" "$n.rep.json" "$n.chrome.json" >"$n.facts" 2>>"$n.err"
}
fact() { awk -v k="$2" '$1 == k { print $2 }' "$1.facts"; }
# the checks every trace passes
common() {
	check "$1: export exits 0" 0 "$(cat "$1.rc")"
	check "$1: protoc decodes it with Perfetto's schema" 0 "$(cat "$1.prc")"
	check "$1: no field unknown to the schema" 0 "$(fact "$1" unknown)"
	check "$1: slices per function = the report's calls" yes "$(fact "$1" calls_equal)"
	check "$1: instants per mark = the report's calls" yes "$(fact "$1" marks_equal)"
	check "$1: begins and ends balanced per track" 0 "$(fact "$1" unbalanced)"
	check "$1: timestamps non-decreasing per track" 0 "$(fact "$1" backwards)"
	check "$1: interned before use, flagged, after a cleared state" "0 0 0" \
		"$(fact "$1" undefined_iid) $(fact "$1" unflagged) $(fact "$1" uncleared)"
	check "$1: every call at the start and duration of the Chrome export" yes "$(fact "$1" chrome_equal)"
}

export_run threads -- ./threads
common threads
# 8 workers call leaf() 1000..8000 times: 36000 + 8 workers + main
check "threads: 36009 slices on 9 thread tracks of 1 process" "36009 9 1" \
	"$(fact threads slices) $(fact threads threads) $(fact threads processes)"
check "threads: every slice has its source location" 36009 "$(fact threads srclocs)"

export_run forkexec -- ./forkexec
common forkexec
check "forkexec: a() x3, b() x5, c() x7 and the mains: 18 slices" 18 "$(fact forkexec slices)"
check "forkexec: the parent and the child are two processes" 2 "$(fact forkexec processes)"

export_run jump -- ./jump
common jump
# main f0 f1 f2 f3 f4 f5 after, the frames the jump skipped closed at its target
check "jump: 8 slices" 8 "$(fact jump slices)"
export_run exc -- ./exc
common exc
# t1 t2 t3 catcher after main
check "exc: the frames an exception skipped are closed: 6 slices" 6 "$(fact exc slices)"
# the same with clang (-O0 for the jump, -O2 for the exception)
export_run jump-clang -- ./jump-clang
common jump-clang
check "jump-clang: 8 slices" 8 "$(fact jump-clang slices)"
export_run exc-clang -- ./exc-clang
common exc-clang
check "exc-clang: 6 slices" 6 "$(fact exc-clang slices)"

export_run spans -- ./pfspans
common spans
check "spans: thread names kept" "pf-main,pf-worker" "$(fact spans thread_names)"
check "spans: 4 handled + 7 parsed marks as instants" 11 "$(fact spans instants)"
check "spans: span attributes as debug annotations of their slice" \
	"request:bytes=0,request:bytes=10,request:bytes=20,request:bytes=30,request:path=/item/0,request:path=/item/1,request:path=/item/2,request:path=/item/3" \
	"$(fact spans args)"

# a ring smaller than the run: the snapshot begins inside main and a phase
export_run flight --ring 1M -- ./flightprog exit 2000000
common flight
check "flight: the frames open at the snapshot's start are marked inherited" "main,phase" \
	"$(fact flight inherited)"

# --max-size below one chunk: the lost events on the thread's counter track
export_run lost --max-size 4K -- ./fib 20
common lost
lost=$(python3 -c "import json; print(json.load(open('lost.rep.json'))['lost_events'])")
check "lost: the counter tracks end at the run's lost events" "$lost" "$(fact lost lost)"
check "lost: some events were lost" yes "$([ "${lost:-0}" -gt 0 ] && echo yes)"

# a store that cannot stream (JSONL: the whole run loaded) writes the same bytes
"$B/ctrace" record --store "jsonl:$T/j.jsonl" -- ./pfspans >/dev/null 2>&1
"$B/ctrace" show --store "jsonl:$T/j.jsonl" latest --format perfetto --out j.pftrace 2>j.err
check "jsonl: exports" "0 " "$? $(cat j.err)"
protoc --decode=perfetto.protos.Trace -I "$PROTO" perfetto_trace.proto <j.pftrace >j.txt 2>/dev/null
check "jsonl: the same marks and slices as from SQLite" \
	"$(grep -c 'type: TYPE_' spans.txt)" "$(grep -c 'type: TYPE_' j.txt)"

# the options that select part of a run do not apply: a usage error, exit 2
"$B/ctrace" show --store "sqlite:$T/threads.db" latest --format perfetto --min-duration 1us \
	--out x.pftrace >/dev/null 2>x.err
check "perfetto with --min-duration: exit 2 and says why" "2 1" "$? $(grep -c 'whole run' x.err)"
"$B/ctrace" show --store "sqlite:$T/threads.db" latest --format perfetto --out /dev/full 2>full.err
check "a failed write: exit 1, CTRACE_E_IO" "1 1" "$? $(grep -c 'CTRACE_E_IO: cannot write' full.err)"
"$B/ctrace-report" --store "sqlite:$T/threads.db" --export perfetto --out r.pftrace 2>/dev/null
check "ctrace-report --export perfetto writes the same trace" yes \
	"$(cmp -s r.pftrace threads.pftrace && echo yes)"

# ctrace serve: the run page's download link, the same bytes as the CLI's export of that run
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$B/ctrace" serve --store "sqlite:$T/spans.db" --listen "127.0.0.1:$port" 2>serve.err &
srv=$!
i=0
while [ $i -lt 300 ] && ! grep -q "http://127.0.0.1:$port/" serve.err 2>/dev/null; do
	sleep 0.1
	i=$((i + 1))
done
python3 - "$port" >serve.res 2>&1 <<'PY'
import http.client, json, sys
port = int(sys.argv[1])
def get(path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r, body
def check(name, exp, got):
    print("ok   " + name if exp == got else "FAIL %s: expected %r, got %r" % (name, exp, got))
r, body = get("/api/runs/latest/perfetto")
check("serve: /api/runs/ID/perfetto is 200, a download", (200, "application/octet-stream", True),
      (r.status, r.getheader("Content-Type"), (r.getheader("Content-Disposition") or "").startswith("attachment; filename=\"ctrace-")))
check("serve: the same bytes as ctrace show --format perfetto", open("spans.pftrace", "rb").read(), body)
r, body = get("/api/runs/nosuch/perfetto")
check("serve: an unknown run is 404 CTRACE_E_NOT_FOUND", (404, "CTRACE_E_NOT_FOUND"),
      (r.status, json.loads(body).get("error_code")))
PY
[ -s serve.res ] || echo "FAIL serve: no answer" >serve.res
while IFS= read -r l; do
	case $l in
	"ok   "*) ok "${l#ok   }" ;;
	*) bad serve "$l" ;;
	esac
done <serve.res
kill "$srv" 2>/dev/null
wait "$srv" 2>/dev/null
srv=
summary perfetto
