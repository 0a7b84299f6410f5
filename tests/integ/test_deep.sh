#!/bin/sh
# SPDX-License-Identifier: MIT
# A 30,000-deep recursion (tests/integ/progs/deeprec.c) through every reader of the tree, each
# with a 1 MiB stack (ulimit -s 1024) so that a recursion proportional to the program's depth
# would crash it: ctrace serve's tree answer (complete, nesting bounded, size linear in the
# depth: 4000 levels against 2000), the html, folded, chrome and svg exports, ctrace-report
# --tree (text and JSON), --graph and ctrace replay (issue 24 item 13). Prints ok/FAIL lines.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
B=$(cd "${1:-build}" && pwd)
T=$(mktemp -d /tmp/ctrace-deep.XXXXXX)
pids=
trap 'for p in $pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$T"' EXIT
C=$B/ctrace
S=sqlite:$T/d.db
cd "$T" || exit 1
gcc -O2 -g -finstrument-functions -o deeprec "$HERE/progs/deeprec.c" || { bad build gcc; exit 1; }
for n in 2000 4000 30000; do
	"$C" record -d raw --store "$S" --meta depth=$n -- ./deeprec $n >/dev/null 2>&1 ||
		{ bad "record deeprec $n" "failed"; exit 1; }
done
id() { "$C" query --store "$S" --meta depth=$1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["run_id"])'; }
R2=$(id 2000)
R4=$(id 4000)
R30=$(id 30000)

# small NAME CMD...: runs CMD with a 1 MiB stack, stdout to NAME.out, stderr to NAME.err.
small() {
	n=$1
	shift
	(ulimit -s 1024 && exec "$@") >"$n.out" 2>"$n.err"
}

# tree.py FILE [PATH]: a ctrace-report/1 JSON (PATH: "run" inside the html page's data) ->
# "NODES RECS MAXNEST": nodes over every thread's tree and subtrees, rec nodes among them, the
# deepest nesting of arrays and objects in the JSON.
cat >tree.py <<'PY'
import json, re, sys
text = open(sys.argv[1], encoding="utf-8").read()
if len(sys.argv) > 2:
    text = re.search(r'<script type="application/json" id="ctrace-data">(.*?)</script>', text, re.S).group(1)
d = json.loads(text)
if len(sys.argv) > 2:
    d = d["run"]
nodes = recs = 0
for t in d["threads"]:
    subs = {s["node"]: s["children"] for s in t.get("subtrees", [])}
    work = [t["tree"]]
    while work:
        for n in work.pop():
            nodes += 1
            recs += n["name"] == "rec"
            if "children" in n:
                work.append(n["children"])
            elif "deeper" in n:
                work.append(subs.pop(n["deeper"]))
    assert not subs, "subtrees nothing points to"
m, work = 0, [(d, 1)]
while work:
    v, n = work.pop()
    m = max(m, n)
    for c in (v.values() if isinstance(v, dict) else v if isinstance(v, list) else ()):
        if isinstance(c, (dict, list)):
            work.append((c, n + 1))
print(nodes, recs, m)
PY

# The store's readers with a small stack.
small html "$C" show --store "$S" "$R30" --format html --out page.html
check "html export of the 30,000-deep run exits 0" 0 "$?"
check "html page holds the whole tree, nesting bounded" "30002 30001 yes" \
	"$(python3 tree.py page.html run 2>&1 | awk '{ print $1, $2, ($3 < 100 ? "yes" : "no:" $3) }')"
small folded "$C" show --store "$S" "$R30" --format folded --raw-times
fst=$?
# a stack whose self time is 0 has no line (the format's rule); a few can be 0 on the wall
# (50 of 30,002 in one loaded CI run: the recorder clamps a delta to 0 when the TSC it reads
# steps back, as after a migration between the VM's CPUs)
zero=$("$B/ctrace-report" --store "$S" --tree --json --raw-times --min-percent 0 "$R30" | python3 -c '
import json, sys
z, work = 0, [json.load(sys.stdin)["threads"]]
while work:  # every node, in "children" or in the "subtrees" that bound the nesting
    v = work.pop()
    if isinstance(v, dict):
        z += "name" in v and v.get("self_ns", 1) == 0
        work.extend(c for c in v.values() if isinstance(c, (dict, list)))
    elif isinstance(v, list):
        work.extend(c for c in v if isinstance(c, (dict, list)))
print(z)')
check "folded export (raw times) exits 0, a line per stack with self time (30,002 less $zero)" \
	"0 $((30002 - zero))" "$fst $(wc -l <folded.out)"
check "folded: the deepest stack has main and 30,001 rec frames" 30002 \
	"$(tail -n 1 folded.out | awk '{ print $1 }' | tr ';' '\n' | grep -c '^\(rec\|main\)$')"
rm -f folded.out
small chrome "$C" show --store "$S" "$R30" --format chrome
check "chrome export exits 0 with every call" "0 30002" \
	"$? $(python3 -c 'import json,sys; print(sum(1 for e in json.load(open(sys.argv[1]))["traceEvents"] if e.get("ph") == "X"))' chrome.out 2>&1)"
small svg "$C" show --store "$S" "$R30" --format svg
check "svg export exits 0" 0 "$?"
small tree "$B/ctrace-report" --store "$S" --tree --min-percent 0 "$R30"
check "report --tree exits 0, a line per node" "0 30002" \
	"$? $(grep -c '\(rec\|main\)$' tree.out)"
check "report --tree lines stay short past the 64th level" yes \
	"$(awk '{ if (length($0) > m) m = length($0) } END { print (m < 400 ? "yes" : "no:" m) }' tree.out)"
small tj "$B/ctrace-report" --store "$S" --tree --json --min-percent 0 "$R30"
check "report --tree --json exits 0: whole tree, nesting bounded" "0 30002 30001 yes" \
	"$? $(python3 tree.py tj.out 2>&1 | awk '{ print $1, $2, ($3 < 100 ? "yes" : "no:" $3) }')"
small graph "$B/ctrace-report" --store "$S" --graph rec "$R30"
check "report --graph rec exits 0" 0 "$?"
small replay "$C" replay --store "$S" "$R30"
check "replay exits 0, an enter and an exit line per call" "0 60004" "$? $(grep -c '\(rec\|main\)' replay.out)"
check "replay: past the 64th level a line says its depth, indentation capped" "1 yes" \
	"$(grep -c '| *\[depth 30001\] rec();$' replay.out) $(awk '{ if (length($0) > m) m = length($0) } END { print (m < 200 ? "yes" : "no:" m) }' replay.out)"

# ctrace serve with a small stack: its answer to ?tree=1, and the size growing linearly.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P=$(free_port)
(ulimit -s 1024 && exec "$C" serve --store "$S" --listen "127.0.0.1:$P") 2>serve.err &
srv=$!
pids="$pids $srv"
i=0
while [ $i -lt 600 ] && ! grep -q "http://127.0.0.1:$P/" serve.err 2>/dev/null; do
	sleep 0.1
	i=$((i + 1))
done
grep -q "http://127.0.0.1:$P/" serve.err || { bad "server starts" "$(cat serve.err)"; exit 1; }
get() { # ID OUT: GET /api/runs/ID?tree=1&threads=1&px=0 into OUT; prints the HTTP status
	python3 - "$P" "$1" "$2" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=300)
c.request("GET", "/api/runs/%s?tree=1&threads=1&px=0" % sys.argv[2])  # unpruned: every node
r = c.getresponse()
open(sys.argv[3], "wb").write(r.read())
print(r.status)
PY
}
check "serve: tree of the 30,000-deep run is 200" 200 "$(get "$R30" s30.json 2>&1)"
check "serve: the answer holds every node, nesting bounded" "30002 30001 yes" \
	"$(python3 tree.py s30.json 2>&1 | awk '{ print $1, $2, ($3 < 100 ? "yes" : "no:" $3) }')"
check "serve: still running after it" yes "$(kill -0 $srv 2>/dev/null && echo yes)"
get "$R2" s2.json >/dev/null 2>&1
get "$R4" s4.json >/dev/null 2>&1
s2=$(wc -c <s2.json 2>/dev/null || echo 0)
s4=$(wc -c <s4.json 2>/dev/null || echo 0)
check "serve: tree answer linear in depth (4000 levels / 2000 levels in 1.8..2.2)" yes \
	"$(awk -v a="$s2" -v b="$s4" 'BEGIN { r = a > 0 ? b / a : 0; print (r > 1.8 && r < 2.2 ? "yes" : "no: " a " -> " b) }')"
check "serve: under 400 bytes a node at depth 4000" yes \
	"$(awk -v b="$s4" 'BEGIN { print (b > 0 && b / 4002 < 400 ? "yes" : "no: " b) }')"
summary test_deep
