#!/bin/sh
# SPDX-License-Identifier: MIT
# Benchmark of `ctrace serve` on a run of >= 100 M calls (`make bench-serve`; docs/serve.md and
# docs/performance.md quote it). Records fib(N) (default 38: 126 M calls) built with
# -finstrument-functions into BENCH_WORK/serve/fib.db once (kept for later runs), starts the
# server on a free loopback port and measures: the first timeline request (loads the timeline
# and builds the index), warm timeline requests at 2000 px for the whole run and for windows of
# 1/10 .. 1/1e6 of it at random places (median of BENCH_REPS each), the whole-run flame graph
# (the run with its trees), the page's first paint with data in headless Chromium (when
# tests/integ/test_browser.sh installed playwright-core), 16 concurrent clients, and the
# server's RSS. Prints a Markdown table; appends it to bench/results/serve-YYYY-MM-DD.md with
# BENCH_SAVE=1.
#
# Knobs: BENCH_FIB (38), BENCH_REPS (15), BENCH_WORK (bench/work), BUILD (build).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_WORK:-$ROOT/bench/work}/serve
B=${BUILD:-build}
case $B in /*) ;; *) B=$ROOT/$B ;; esac
N=${BENCH_FIB:-38}
REPS=${BENCH_REPS:-15}
mkdir -p "$WORK"
cd "$WORK"
S=sqlite:$WORK/fib$N.db
log() { echo "bench-serve: $*" >&2; }

if [ ! -s "$WORK/fib$N.db" ]; then
	cat >fib.c <<'C'
#include <stdio.h>
#include <stdlib.h>
__attribute__((noinline)) long fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
int main(int argc, char **argv) { printf("%ld\n", fib(argc > 1 ? atoi(argv[1]) : 38)); return 0; }
C
	gcc -O2 -g -finstrument-functions -o fib fib.c
	log "recording fib($N) (minutes on a small machine)"
	t0=$(date +%s)
	"$B/ctrace" record -d "$WORK/raw" --store "$S" -- ./fib "$N" >/dev/null
	log "recorded and committed in $(($(date +%s) - t0)) s"
fi
RUN=$("$B/ctrace" list --store "$S" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["run_id"])')
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$B/ctrace" serve --store "$S" --listen "127.0.0.1:$PORT" 2>"$WORK/serve.err" &
SRV=$!
trap 'kill $SRV 2>/dev/null' EXIT
i=0
while [ $i -lt 100 ] && ! grep -q "http://127.0.0.1:$PORT/" "$WORK/serve.err"; do sleep 0.1; i=$((i + 1)); done

python3 - "$PORT" "$RUN" "$SRV" "$REPS" "$WORK/fib$N.db" <<'PY' >"$WORK/table.md"
import http.client, json, os, random, statistics, sys, threading, time
port, run, srv, reps, db = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
random.seed(1)
def get(path, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t = time.perf_counter()
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    dt = time.perf_counter() - t
    if not conn: c.close()
    if r.status != 200: raise SystemExit("HTTP %d for %s: %s" % (r.status, path, body[:200]))
    return dt * 1000, body
def rss():
    kv = dict(l.split(":", 1) for l in open("/proc/%s/status" % srv))
    return int(kv["VmRSS"].split()[0]) // 1024, int(kv["VmHWM"].split()[0]) // 1024
ms, body = get("/api/runs/%s" % run)
j = json.loads(body)
dur, calls = j["duration_ns"], j["calls"]
rows = [("run", "fib, %s calls, %.2f s, store %.0f MB" % (format(calls, ","), dur / 1e9, os.path.getsize(db) / 1e6))]
rss0 = rss()
tl = "/api/runs/%s/timeline?thread=0&px=2000" % run
ms, body = get(tl)
rows.append(("first timeline request (loads the timeline, builds the index)", "%.0f ms" % ms))
rss1 = rss()
def med(paths):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    get(paths[0], c)
    xs, sizes, src = [], [], set()
    for p in paths:
        t, b = get(p, c)
        xs.append(t); sizes.append(len(b)); src.add(json.loads(b)["source"])
    c.close()
    return statistics.median(xs), max(xs), statistics.median(sizes), "/".join(sorted(src))
m, mx, sz, src = med([tl] * reps)
rows.append(("timeline, whole run, 2000 px (warm)", "%.1f ms median, max %.1f ms, %.0f kB, %s" % (m, mx, sz / 1e3, src)))
# 1/150 and 1/300: just finer than the summary's bins at 2000 px (1/131), the most chunks
# a decoded window reads
for frac in (10, 100, 150, 300, 1000, 10**4, 10**5, 10**6):
    w = dur // frac
    paths = []
    for i in range(reps):
        a = random.randrange(0, max(1, dur - w))
        paths.append(tl + "&from=%d&to=%d" % (a, a + w))
    m, mx, sz, src = med(paths)
    rows.append(("timeline, 1/%s of the run (%s), 2000 px" % (format(frac, ","), "%.3g ms" % (w / 1e6)), "%.1f ms median, max %.1f ms, %.0f kB, %s" % (m, mx, sz / 1e3, src)))
m, mx, sz, _ = (lambda xs: (statistics.median(xs), max(xs), 0, 0))([get("/api/runs/%s?tree=1&threads=1" % run)[0] for i in range(reps)])
rows.append(("flame graph: the run with its trees (/api/runs/ID?tree=1&threads=1)", "%.1f ms median, max %.1f ms" % (m, mx)))
lat, lock = [], threading.Lock()
def client(k):
    rnd = random.Random(k)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    for i in range(10):
        w = dur // rnd.choice((1, 10, 100, 1000, 10**5))
        a = rnd.randrange(0, max(1, dur - w))
        t, _ = get(tl + "&from=%d&to=%d" % (a, a + w), c)
        with lock: lat.append(t)
    c.close()
t0 = time.perf_counter()
ths = [threading.Thread(target=client, args=(k,)) for k in range(16)]
[t.start() for t in ths]; [t.join() for t in ths]
wall = time.perf_counter() - t0
lat.sort()
rows.append(("16 concurrent clients x 10 random windows", "median %.0f ms, p90 %.0f ms, %.0f requests/s" % (statistics.median(lat), lat[int(len(lat) * 0.9)], len(lat) / wall)))
r2 = rss()
rows.append(("server RSS: after the run's aggregates / with timeline + index / after all (peak)", "%d / %d / %d MB (%d MB)" % (rss0[0], rss1[0], r2[0], r2[1])))
print("| what | figure |\n|---|---|")
for a, b in rows: print("| %s | %s |" % (a, b))
PY
PW=$B/browser/node_modules
if [ -d "$PW/playwright-core" ] && command -v chromium >/dev/null 2>&1; then
	NODE_PATH=$PW node - "http://127.0.0.1:$PORT/#/run/$RUN" "$(command -v chromium)" "$REPS" <<'JS' >>"$WORK/table.md"
const {chromium} = require('playwright-core');
(async () => {
	const [url, exe, reps] = process.argv.slice(2);
	const b = await chromium.launch({executablePath: exe, args: ['--no-sandbox', '--disable-gpu']});
	const xs = [], ys = [];
	for (let i = 0; i < Math.min(+reps, 7); i++) {
		const p = await b.newPage({viewport: {width: 1280, height: 900}});
		await p.goto(url);
		await p.waitForSelector('body[data-ctrace-ready="1"]', {timeout: 60000});
		await p.waitForFunction(() => +document.querySelector('#timeline').getAttribute('data-labels') > 0);
		/* ms since the navigation started, as the page's own clock has it */
		xs.push(Math.round(await p.evaluate(() => window.ctraceFirstPaint)));
		ys.push(Math.round(await p.evaluate(() => window.ctraceReadyAt)));
		await p.close();
	}
	await b.close();
	xs.sort((a, c) => a - c);
	ys.sort((a, c) => a - c);
	console.log('| first paint with data: header and whole-run timeline drawn, from navigation start (headless Chromium, warm server) | ' + xs[xs.length >> 1] + ' ms median of ' + xs.length + ' (min ' + xs[0] + ', max ' + xs[xs.length - 1] + ') |');
	console.log('| whole page ready: also the profile table and the flame graph | ' + ys[ys.length >> 1] + ' ms median |');
})();
JS
fi
cat "$WORK/table.md"
if [ "${BENCH_SAVE:-0}" = 1 ]; then
	f=$ROOT/bench/results/serve-$(date -u +%Y-%m-%d).md
	{ echo "## ctrace serve, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"; echo; cat "$WORK/table.md"; echo; } >>"$f"
	log "appended to $f"
fi
