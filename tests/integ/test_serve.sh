#!/bin/sh
# SPDX-License-Identifier: MIT
# `ctrace serve` against a running server on a free loopback port (docs/serve.md): every
# endpoint and its answers compared with the command-line forms, bad parameters and unknown
# runs with their codes and HTTP statuses, the timeline's bounds and totals, the token, the
# Host check, read-only methods, an oversized request, clients that disconnect mid-answer, 16
# concurrent clients, and Ctrl-C. Prints ok/FAIL lines.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
B=$(cd "${1:-build}" && pwd)
T=$(mktemp -d /tmp/ctrace-serve.XXXXXX)
pids=
trap 'for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$T"' EXIT
C=$B/ctrace
S=sqlite:$T/v.db
cd "$T" || exit 1
g++ -O0 -g -finstrument-functions -o viewer "$HERE/progs/viewer.cc" -lpthread || { bad build g++; exit 1; }
"$C" record -d raw --store "$S" -- ./viewer 1000 >/dev/null 2>&1 &&
	"$C" record -d raw --store "$S" -- ./viewer 200000 >/dev/null 2>&1 || { bad record "failed"; exit 1; }
older=$("$C" list --store "$S" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[1]["run_id"])')
newer=$("$C" list --store "$S" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["run_id"])')
"$B/ctrace-report" --store "$S" --json --top 0 "$newer" >report.json 2>/dev/null
"$B/ctrace-report" --store "$S" --json --top 0 --threads --tree --min-percent 0 "$newer" >report-tree.json 2>/dev/null
"$B/ctrace-report" --store "$S" --diff --json "$older" "$newer" >diff.json 2>/dev/null
"$C" trend --store "$S" --json --metric calls "leaf(long)" >trend.json 2>/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Refusals before anything listens.
"$C" serve --store "$S" --listen 0.0.0.0:1 >o 2>e
check "0.0.0.0 without --token refused (exit 2)" "2 1" "$? $(grep -c 'CTRACE_E_USAGE.*needs --token' e)"
"$C" serve --store "$S" --listen 127.0.0.1 >o 2>e
check "--listen without a port refused" "2 1" "$? $(grep -c 'CTRACE_E_USAGE: bad --listen' e)"
"$C" serve --store "$S" --listen 127.0.0.1:99999 >o 2>e
check "--listen with port 99999 refused" 2 "$?"
"$C" serve --store "$S" --port 65536 >o 2>e
check "--port 65536 refused" "2 1" "$? $(grep -c 'CTRACE_E_USAGE: --port wants 0..65535' e)"
"$C" serve --store "$S" --port 1 --listen 127.0.0.1:2 >o 2>e
check "--port with --listen refused" "2 1" "$? $(grep -c 'not both' e)"

"$C" serve --store "sqlite:$T/none.db" --listen 127.0.0.1:0 >o 2>e
check "a missing store is CTRACE_E_NOT_FOUND and not created" "1 1 no" "$? $(grep -c 'CTRACE_E_NOT_FOUND' e) $([ -e "$T/none.db" ] && echo yes || echo no)"

# start PORT [ARGS...]: starts a server, waits for its URL line; sets $srv (pid).
start() {
	port=$1
	shift
	"$C" serve --store "$S" --listen "127.0.0.1:$port" "$@" 2>"serve-$port.err" &
	srv=$!
	pids="$pids $srv"
	i=0
	while [ $i -lt 100 ] && ! grep -q "http://127.0.0.1:$port/" "serve-$port.err" 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	grep -q "http://127.0.0.1:$port/" "serve-$port.err"
}
P=$(free_port)
start "$P" || { bad "server starts" "$(cat "serve-$P.err")"; exit 1; }
ok "server listens on 127.0.0.1:$P"
SRV=$srv
"$C" serve --store "$S" --listen "127.0.0.1:$P" >o 2>e
check "a port in use is CTRACE_E_IO (exit 1)" "1 1" "$? $(grep -c 'CTRACE_E_IO: cannot listen' e)"
"$C" serve --store "$S" --port "$P" >o 2>e
check "--port N listens on 127.0.0.1:N (here: in use)" "1 1" "$? $(grep -c "cannot listen on '127.0.0.1:$P'" e)"

python3 - "$P" "$older" "$newer" "$SRV" <<'PY'
import http.client, json, os, socket, sys, threading, time
port, older, newer, srv = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

def ok(name): print("ok   " + name)
def bad(name, why): print("FAIL %s: %s" % (name, why))
def check(name, exp, got):
    ok(name) if exp == got else bad(name, "expected %r, got %r" % (exp, got))

def get(path, headers=None, method="GET"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    c.close()
    ctype = r.getheader("Content-Type") or ""
    j = json.loads(body) if ctype.startswith("application/json") and body else None
    return r.status, j, body, r

def err(name, path, status, code, **kw):
    s, j, _, _ = get(path, **kw)
    check(name, (status, code), (s, j and j.get("error_code")))

# /api/runs
s, j, _, _ = get("/api/runs")
check("runs: 200 and both runs, newest first", (200, [newer, older]), (s, [r["run_id"] for r in j["runs"]]))
r0 = j["runs"][0]
rep = json.load(open("report.json"))
check("runs: threads, processes, calls", (2, 1, rep["calls"]), (r0["threads"], r0["processes"], r0["calls"]))
check("runs: summary fields", True, all(k in r0 for k in ("command", "start_unix_ns", "duration_ns", "exit_status", "metadata")))
check("runs?limit=1", [newer], [r["run_id"] for r in get("/api/runs?limit=1")[1]["runs"]])
check("runs?limit=1&offset=1", [older], [r["run_id"] for r in get("/api/runs?limit=1&offset=1")[1]["runs"]])
check("runs?command=200000", [newer], [r["run_id"] for r in get("/api/runs?command=200000")[1]["runs"]])
check("runs?function=slow_path(long)", 2, len(get("/api/runs?function=slow_path(long)")[1]["runs"]))
check("runs?function=nosuch", 0, len(get("/api/runs?function=nosuch")[1]["runs"]))
check("runs?meta=no=such", 0, len(get("/api/runs?meta=no%3Dsuch")[1]["runs"]))
check("runs?since=-1h finds both", 2, len(get("/api/runs?since=-1h")[1]["runs"]))
err("runs?limit=abc is 400", "/api/runs?limit=abc", 400, "CTRACE_E_USAGE")
err("runs?limit=0 is 400", "/api/runs?limit=0", 400, "CTRACE_E_USAGE")
err("runs?since=garbage is 400", "/api/runs?since=garbage", 400, "CTRACE_E_USAGE")
err("runs?meta=novalue is 400", "/api/runs?meta=novalue", 400, "CTRACE_E_USAGE")

# /api/runs/ID
s, j, _, _ = get("/api/runs/" + newer + "?px=0")
check("run?px=0: same JSON as ctrace-report --json --top 0", (200, rep), (s, j))
s, j, _, _ = get("/api/runs/" + newer + "?tree=1&threads=1&px=0")
check("run?tree=1&threads=1&px=0: same as --threads --tree", json.load(open("report-tree.json")), j)
check("run by prefix and 'latest'", (newer, newer), (get("/api/runs/" + newer[:-3])[1]["run_id"], get("/api/runs/latest")[1]["run_id"]))
err("unknown run is 404", "/api/runs/nosuchrun", 404, "CTRACE_E_NOT_FOUND")
err("unknown endpoint is 404", "/api/runs/" + newer + "/nope", 404, "CTRACE_E_NOT_FOUND")
err("unknown path is 404", "/etc/passwd", 404, "CTRACE_E_NOT_FOUND")

# /api/runs/ID/timeline
fn = {f["id"]: f for f in rep["functions"]}
tl = "/api/runs/%s/timeline" % newer
total = 0
for th in range(2):
    s, j, _, _ = get(tl + "?thread=%d&px=2000" % th)
    if s != 200:
        bad("timeline thread %d" % th, s); continue
    total += len(j["calls"]) + sum(b[3] for b in j["busy"])
    n = len(j["calls"]) + len(j["busy"])
    bound = 2 * 2001 * j["max_depth"]
    check("timeline thread %d: answer within 2 x px x depth (%d <= %d)" % (th, n, bound), True, n <= bound)
# every call and span appears once, one by one or inside a busy span
spans = sum(f["calls"] for f in rep["functions"] if f["kind"] == "span")
check("timeline: calls + merged counts = the run's calls + spans", rep["calls"] + spans, total)
s, j, _, _ = get(tl + "?thread=0&px=2000")
check("timeline: whole run from the summary", "summary", j["source"])
check("timeline: the index stored at commit answers, no chunk read", ("stored", 0), (j["index"], j["chunks_read"]))
span = [c for c in j["calls"] if fn.get(c[3], {}).get("name") == "request"]
check("timeline: the span with its attributes", [{"items": 3, "user": "alice"}], [c[6] for c in span if len(c) > 6])
check("timeline: the mark", ["halfway"], [fn.get(m[1], {"name": "#%d" % m[1]})["name"] for m in j["marks"]] if j["marks"] else [])
slow = [c for c in j["calls"] if fn.get(c[3], {}).get("name") == "slow_path(long)"]
if slow:
    a, d = slow[0][0], slow[0][1]
    # the window starts at a leaf call's start, the one nearest the middle of slow_path (a
    # fixed point in its middle can fall in a preemption gap on a loaded machine); a pixel of
    # d / 400000, finer than the summary's bins (span / 262144) whatever d is
    s, jw, _, _ = get(tl + "?thread=0&px=200&from=%d&to=%d" % (a, a + d))
    starts = [b[0] for b in jw["busy"] if fn.get(b[4], {}).get("name") == "leaf(long)"] + \
        [c[0] for c in jw["calls"] if fn.get(c[3], {}).get("name") == "leaf(long)"]
    w0 = min(starts, key=lambda t: abs(t - (a + d // 2))) if starts else a + d // 2
    w1 = w0 + max(d // 2000, 2000)
    s, j2, _, _ = get(tl + "?thread=0&px=200&from=%d&to=%d" % (w0, w1))
    check("timeline: a narrow window decodes its chunks", ("events", True), (j2["source"], j2["chunks_read"] >= 1))
    names = {fn.get(c[3], {}).get("name") for c in j2["calls"]} | {fn.get(b[4], {}).get("name") for b in j2["busy"]}
    check("timeline: narrow window shows leaf calls and their ancestors", True, {"leaf(long)", "slow_path(long)", "main"} <= names)
    check("timeline: every call overlaps the window", True, all(c[0] < w1 and c[0] + c[1] > w0 for c in j2["calls"]))
    cut = [c for c in j2["calls"] if fn.get(c[3], {}).get("name") == "main"]
    check("timeline: main open across the window is cut at its end", (1, 1), (len(cut), cut[0][5] if cut else None))
else:
    bad("timeline: slow_path(long) drawn as a call", "missing")
t0 = get("/api/runs/%s" % newer)[1]["threads"][0]["tid"]
check("timeline?tid=T is thread 0", get(tl + "?thread=0&px=50")[1]["calls"], get(tl + "?tid=%d&px=50" % t0)[1]["calls"])
err("timeline px=0 is 400", tl + "?px=0", 400, "CTRACE_E_USAGE")
err("timeline px=10001 is 400", tl + "?px=10001", 400, "CTRACE_E_USAGE")
err("timeline from>=to is 400", tl + "?from=10&to=10", 400, "CTRACE_E_USAGE")
err("timeline from=abc is 400", tl + "?from=abc", 400, "CTRACE_E_USAGE")
err("timeline from=-5 is 400", tl + "?from=-5", 400, "CTRACE_E_USAGE")
err("timeline thread=9 is 404", tl + "?thread=9", 404, "CTRACE_E_NOT_FOUND")
err("timeline of an unknown run is 404", "/api/runs/nosuch/timeline", 404, "CTRACE_E_NOT_FOUND")

# /api/diff
s, j, _, _ = get("/api/diff?a=%s&b=%s" % (older, newer))
check("diff: same JSON as ctrace-report --diff --json", (200, json.load(open("diff.json"))), (s, j))
lr = [i for i, f in enumerate(j["functions"]) if f["name"] == "leaf(long)"]
check("diff: leaf(long) 13800 -> 212800 calls among the first three", (True, 13800, 212800),
      (bool(lr) and lr[0] < 3, j["functions"][lr[0]]["calls_a"] if lr else None, j["functions"][lr[0]]["calls_b"] if lr else None))
d = [abs(f["self_ns_change"]) for f in j["functions"]]
check("diff: largest self-time change first", sorted(d, reverse=True), d)
err("diff without b is 400", "/api/diff?a=" + older, 400, "CTRACE_E_USAGE")
err("diff of an unknown run is 404", "/api/diff?a=%s&b=nosuch" % older, 404, "CTRACE_E_NOT_FOUND")

# /api/trend: `ctrace trend --json`, one point per run, oldest first
s, j, _, _ = get("/api/trend?function=leaf%28long%29&metric=calls")
check("trend: same JSON as ctrace trend --json", (200, json.load(open("trend.json"))), (s, j))
check("trend: leaf(long) calls 13800 then 212800", [13800, 212800], [r["value"] for r in j.get("runs", [])])
s, j, _, _ = get("/api/trend?function=nosuch")
check("trend of a function no run has: no points", (200, []), (s, j.get("runs")))
err("trend without function is 400", "/api/trend", 400, "CTRACE_E_USAGE")
err("trend metric=bogus is 400", "/api/trend?function=main&metric=bogus", 400, "CTRACE_E_USAGE")

# the page
s, _, body, r = get("/")
check("page: 200 html with the app and the CSP", (200, True, True), (s, b'<main id="app">' in body, "default-src 'none'" in (r.getheader("Content-Security-Policy") or "")))
check("page: no external resources", False, b'src="http' in body or b'href="http' in body)

# read-only, bounded requests, Host check
err("POST is 405", "/api/runs", 405, "CTRACE_E_USAGE", method="POST")
err("DELETE is 405", "/api/runs/" + newer, 405, "CTRACE_E_USAGE", method="DELETE")
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
c.request("GET", "/api/runs", body=b"x" * 1000)
r = c.getresponse()
check("GET with a body is 413 CTRACE_E_USAGE", (413, "CTRACE_E_USAGE"), (r.status, json.loads(r.read()).get("error_code")))
c.close()
err("foreign Host is 403", "/api/runs", 403, "CTRACE_E_AUTH", headers={"Host": "evil.example:80"})
# DNS rebinding names that only start like the loopback (issue 24): each refused
for h in ("127.attacker.example", "127.0.0.1.nip.io", "127.0.0.1:80@evil.com", "localhost.evil.com",
          "127.0.0.1:", "127.0.0.1:80x", "[::1].evil.com", "[::2]:80", "127.1", "0x7f.0.0.1", "127.0.0.1 "):
    err("rebinding Host %r is 403" % h, "/api/runs", 403, "CTRACE_E_AUTH", headers={"Host": h})
for h in ("127.0.0.1", "127.0.0.1:%d" % port, "127.3.4.5:80", "localhost", "LOCALHOST:%d" % port, "[::1]", "[::1]:%d" % port):
    check("loopback Host %r is served" % h, 200, get("/api/runs", headers={"Host": h})[0])
s, _, _, _ = get("/api/runs", headers={"X-Big": "x" * 70000})
check("a 70 KB request header is refused", True, s in (413, 431, 400))
check("still alive after it", 200, get("/api/runs")[0])

# clients that disconnect mid-answer
def tasks(): return len(os.listdir("/proc/%s/task" % srv))
base = tasks()
for i in range(40):
    so = socket.create_connection(("127.0.0.1", port))
    so.sendall(("GET /api/runs/%s?tree=1&threads=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % newer).encode())
    if i % 2: so.recv(100)
    so.close()
for i in range(20):
    so = socket.create_connection(("127.0.0.1", port))
    so.sendall(b"GET /api/runs HTTP/1.1\r\nHost: 127.0") # half a request, then gone
    so.close()
time.sleep(1.0)
check("after 60 dropped clients: answers", 200, get("/api/runs")[0])
time.sleep(0.5)
check("after 60 dropped clients: no thread left behind", True, tasks() <= base + 1)

# 16 concurrent clients
res = []
def client(k):
    for i in range(5):
        s, j, _, _ = get(tl + "?thread=%d&px=2000&from=%d" % (k % 2, i * 1000))
        res.append(s)
ths = [threading.Thread(target=client, args=(k,)) for k in range(16)]
[t.start() for t in ths]
[t.join() for t in ths]
check("16 concurrent clients x 5 timeline requests: all 200", [200] * 80, res)
PY

# the token
P2=$(free_port)
start "$P2" --token s3cret || bad "token server starts" "$(cat "serve-$P2.err")"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
check "token: none is 401" 401 "$(code "http://127.0.0.1:$P2/api/runs")"
check "token: error code CTRACE_E_AUTH" 1 "$(curl -s "http://127.0.0.1:$P2/api/runs" | grep -c CTRACE_E_AUTH)"
check "token: wrong is 401" 401 "$(code -H 'Authorization: Bearer s3cres' "http://127.0.0.1:$P2/api/runs")"
check "token: Bearer is 200" 200 "$(code -H 'Authorization: Bearer s3cret' "http://127.0.0.1:$P2/api/runs")"
check "token: ?token= is 200 (the page)" 200 "$(code "http://127.0.0.1:$P2/?token=s3cret")"
check "token: foreign Host allowed with the token" 200 "$(code -H 'Host: box.example' "http://127.0.0.1:$P2/api/runs?token=s3cret")"
kill -INT "$srv"

# any backend: the same run over a JSONL store (its chunks loaded whole) answers the same
"$C" export --store "$S" --to "jsonl:$T/v.jsonl" >/dev/null 2>&1
P3=$(free_port)
S_SQLITE=$S
S=jsonl:$T/v.jsonl
start "$P3" || bad "jsonl server starts" "$(cat "serve-$P3.err")"
S=$S_SQLITE
tl_of() { curl -s "http://127.0.0.1:$1/api/runs/$newer/timeline?thread=0&px=700&from=$2&to=$3"; }
check "jsonl store: same timeline (summary)" "$(tl_of "$P" 0 0)" "$(tl_of "$P3" 0 0)"
check "jsonl store: same timeline (decoded window)" "$(tl_of "$P" 2000000 2003000)" "$(tl_of "$P3" 2000000 2003000)"
check "jsonl store: ctrace export copied the stored index" 1 "$(tl_of "$P3" 0 0 | grep -c '"index":"stored"')"
kill -INT "$srv"

# the same store without its stored indexes, and with one cut short: the server builds the
# index from the chunks and answers the same
sqlite3 "$T/v.db" ".backup '$T/nox.db'" && sqlite3 "$T/nox.db" "DELETE FROM run_aux"
sqlite3 "$T/v.db" ".backup '$T/cut.db'" && sqlite3 "$T/cut.db" "UPDATE run_aux SET data = substr(data, 1, 40)"
for v in nox cut; do
	P4=$(free_port)
	S=sqlite:$T/$v.db
	start "$P4" || bad "$v server starts" "$(cat "serve-$P4.err")"
	S=$S_SQLITE
	check "$v store: the index is built" 1 "$(tl_of "$P4" 0 0 | grep -c '"index":"built"')"
	check "$v store: same timeline as from the stored index" "$(tl_of "$P" 0 0 | sed 's/"index":"stored"//')" "$(tl_of "$P4" 0 0 | sed 's/"index":"built"//')"
	check "$v store: same decoded window" "$(tl_of "$P" 2000000 2003000 | sed 's/"index":"stored"//')" "$(tl_of "$P4" 2000000 2003000 | sed 's/"index":"built"//')"
	kill -INT "$srv"
done

# Ctrl-C stops cleanly
kill -INT "$SRV"
i=0
while [ $i -lt 50 ] && kill -0 "$SRV" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
wait "$SRV"
check "SIGINT: exits 0 and says so" "0 1" "$? $(grep -c 'stopping (SIGINT)' "serve-$P.err")"
summary test_serve
