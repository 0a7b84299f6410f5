#!/bin/sh
# SPDX-License-Identifier: MIT
# Pruned profile and flame answers (docs/serve.md, "Pruned answers"): a run of 21,844 distinct
# call paths (progs/paths.c) whose whole tree is megabytes; ctrace serve's /api/runs/ID answers
# keep only what px pixels can draw and merge the rest into "(other)" entries whose calls,
# totals and self times make every list add up to the unpruned one; ?px=0 is the unpruned
# ctrace-report --json; the static HTML page embeds the pruned form. Prints ok/FAIL lines.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
B=$(cd "${1:-build}" && pwd)
T=$(mktemp -d /tmp/ctrace-prune.XXXXXX)
srv=
trap '[ -n "$srv" ] && kill "$srv" 2>/dev/null; rm -rf "$T"' EXIT
C=$B/ctrace
S=sqlite:$T/p.db
cd "$T" || exit 1
gcc -O1 -g -finstrument-functions -o paths "$HERE/progs/paths.c" || { bad build gcc; exit 1; }
"$C" record --store "$S" -- ./paths >/dev/null 2>&1 || { bad record failed; exit 1; }
"$B/ctrace-report" --store "$S" --json --top 0 --threads --tree --min-percent 0 >full.json 2>/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$C" serve --store "$S" --listen "127.0.0.1:$port" 2>serve.err &
srv=$!
i=0
while [ $i -lt 100 ] && ! grep -q "http://127.0.0.1:$port/" serve.err 2>/dev/null; do
	sleep 0.1
	i=$((i + 1))
done
grep -q "http://127.0.0.1:$port/" serve.err || { bad "server starts" "$(cat serve.err)"; exit 1; }
"$C" show latest --store "$S" --format html --out page.html 2>/dev/null || bad "html export" "failed"

python3 - "$port" <<'PY'
import http.client, json, re, sys
port = int(sys.argv[1])

def ok(name): print("ok   " + name)
def bad(name, why): print("FAIL %s: %s" % (name, why))
def check(name, exp, got):
    ok(name) if exp == got else bad(name, "expected %r, got %r" % (exp, got))

def get(q):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", "/api/runs/latest" + q)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body

full = json.load(open("full.json"))
s, body = get("?tree=1&threads=1&px=0")
check("px=0: the unpruned ctrace-report --json (200)", (200, full), (s, json.loads(body)))
unpruned = len(body)
check("the unpruned answer is megabytes (the test means something)", True, unpruned > 2000000)

def nodes(lst):
    return sum(1 + nodes(n.get("children", [])) for n in lst)

def sums(lst):
    return tuple(sum(n[k] for n in lst) for k in ("calls", "total_ns", "self_ns"))

# every list of the pruned tree against the same list unpruned: kept nodes in order, each at
# least a pixel; at most one "(other)", last, holding what was left out, with the same sums
def tree_errors(pl, fl, thr, where):
    errs = []
    kept = [n for n in pl if n["function"] != -1]
    other = [n for n in pl if n["function"] == -1]
    want = [n for n in fl if n["total_ns"] >= thr]
    if [n["function"] for n in kept] != [n["function"] for n in want]:
        errs.append("%s: kept %s, want %s" % (where, [n["name"] for n in kept], [n["name"] for n in want]))
        return errs
    if sums(pl) != sums(fl):
        errs.append("%s: sums %s, unpruned %s" % (where, sums(pl), sums(fl)))
    if len(other) > 1 or (other and pl[-1] is not other[0]):
        errs.append("%s: %d (other) entries, not last" % (where, len(other)))
    if other and other[0]["merged"] != len(fl) - len(kept):
        errs.append("%s: merged %d, left out %d" % (where, other[0]["merged"], len(fl) - len(kept)))
    if not other and len(fl) != len(kept):
        errs.append("%s: %d left out without (other)" % (where, len(fl) - len(kept)))
    for p, f in zip(kept, want):
        errs += tree_errors(p.get("children", []), f.get("children", []), thr, where + " > " + p["name"])
    return errs

def func_errors(pl, fl, thr, where):
    if len(fl) <= px:  # a list no longer than the pixels is kept whole
        thr = 0
    kept = [f for f in pl if f["id"] != -1]
    other = [f for f in pl if f["id"] == -1]
    want = [f for f in fl if f["total_ns"] >= thr]
    errs = []
    if [f["id"] for f in kept] != [f["id"] for f in want]:
        errs.append("%s: kept %d functions, want %d" % (where, len(kept), len(want)))
    for k in ("calls", "self_ns"):
        if sum(f[k] for f in pl) != sum(f[k] for f in fl):
            errs.append("%s: %s sum %d, unpruned %d" % (where, k, sum(f[k] for f in pl), sum(f[k] for f in fl)))
    if len(fl) > len(kept) and (len(other) != 1 or other[0]["merged"] != len(fl) - len(kept)):
        errs.append("%s: (other) %r for %d left out" % (where, other, len(fl) - len(kept)))
    return errs

for px in (2000, 100):
    q = "?tree=1&threads=1" + ("" if px == 2000 else "&px=%d" % px)
    s, body = get(q)
    j = json.loads(body)
    check("px=%d: 200" % px, 200, s)
    errs, others, total_nodes = [], 0, 0
    base = sum(n["total_ns"] for t in full["threads"] for n in t["tree"])
    errs += func_errors(j["functions"], full["functions"], base // px, "run")
    for ti, (pt, ft) in enumerate(zip(j["threads"], full["threads"])):
        tb = sum(n["total_ns"] for n in ft["tree"])
        errs += tree_errors(pt["tree"], ft["tree"], tb // px, "thread %d" % ti)
        errs += func_errors(pt["functions"], ft["functions"], tb // px, "thread %d" % ti)
        total_nodes += nodes(pt["tree"])
        others += body.count(b'"name":"(other)"')
    check("px=%d: kept nodes are at least a pixel, (other) keeps the rest, sums unchanged" % px, [], errs[:3])
    check("px=%d: something was merged into (other)" % px, True, others > 0)
    # a list at one depth holds disjoint calls: at most px of them a pixel wide, plus one
    # (other) per kept parent
    depth = 9
    check("px=%d: at most 2 x px x depth nodes (%d)" % (px, total_nodes), True, total_nodes <= 2 * px * depth)
    if px == 2000:
        check("default answer under 1/50 of the unpruned one (%d of %d bytes)" % (len(body), unpruned),
              True, len(body) * 50 < unpruned)

s, body = get("?px=10001")
check("px=10001 is 400", 400, s)

page = open("page.html").read()
data = re.search(r'<script type="application/json" id="ctrace-data">(.*?)</script>', page, re.S).group(1)
d = json.loads(data)
check("html export: pruned embedded data (under 1/20 of the unpruned answer)", True, len(data) * 20 < unpruned)
tb = sum(n["total_ns"] for n in full["threads"][0]["tree"])
errs = tree_errors(d["run"]["threads"][0]["tree"], full["threads"][0]["tree"], tb // d["px"], "html")
check("html export: the tree pruned to the page's %d px, sums unchanged" % d["px"], [], errs[:3])
check("html export: (other) entries in the tree", True, data.count('"name":"(other)"') > 0)
PY
kill -INT "$srv"
wait "$srv"
check "server exits 0 on SIGINT" 0 "$?"
srv=
summary test_prune
