#!/bin/sh
# SPDX-License-Identifier: MIT
# The viewer in real headless Chromium: tests/browser/viewer.test.js (playwright-core) against
# `ctrace serve` on a free loopback port and against the static export of `ctrace show
# --format html`. Installs what it needs when missing: Debian's chromium (apt-get, as root) and
# playwright-core from npm into BUILD_DIR/browser/. Screenshots are kept in
# BUILD_DIR/browser/artifacts/. Prints ok/FAIL lines (a SKIP line when Chromium or
# playwright-core cannot be had).
#
# usage: tests/integ/test_browser.sh [BUILD_DIR]
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib/common.sh"
B=$(cd "${1:-build}" && pwd)
PW_VERSION=1.65.1
T=$(mktemp -d /tmp/ctrace-browser.XXXXXX)
srv=
srv2=
# Chromium's profile and playwright's artifacts go under $T (TMPDIR below): a browser that a
# timeout left behind is found by that path and ended, by pid, before $T goes
trap '[ -n "$srv" ] && kill "$srv" 2>/dev/null; [ -n "$srv2" ] && kill "$srv2" 2>/dev/null; for p in $(pgrep -f "$T/" 2>/dev/null); do kill "$p" 2>/dev/null; done; rm -rf "$T"' EXIT

find_chromium() {
	for b in chromium chromium-browser google-chrome-stable google-chrome; do
		command -v "$b" >/dev/null 2>&1 && { command -v "$b"; return 0; }
	done
	return 1
}
chrome=$(find_chromium)
if [ -z "$chrome" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "test_browser: installing chromium" >&2
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1
	chrome=$(find_chromium)
fi
[ -n "$chrome" ] || { echo "SKIP: test_browser: no chromium (apt-get install chromium)"; exit 0; }
if ! command -v node >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "test_browser: installing nodejs and npm" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null 2>&1
fi
command -v node >/dev/null 2>&1 || { echo "SKIP: test_browser: no node (apt-get install nodejs npm)"; exit 0; }
PW=$B/browser
if [ ! -f "$PW/node_modules/playwright-core/package.json" ]; then
	echo "test_browser: installing playwright-core $PW_VERSION into $PW" >&2
	mkdir -p "$PW"
	npm install --prefix "$PW" --no-audit --no-fund --silent "playwright-core@$PW_VERSION" >"$T/npm.log" 2>&1 ||
		{ echo "SKIP: test_browser: cannot install playwright-core: $(tail -n 1 "$T/npm.log")"; exit 0; }
fi
ART=$PW/artifacts
rm -rf "$ART" && mkdir -p "$ART"

C=$B/ctrace
S=sqlite:$T/v.db
cd "$T" || exit 1
# a long path, so that the two runs' commands differ only past what a run list row can show
V=$T/a-directory-with-a-rather-long-name-for-the-viewer/and-one-more-level/viewer
mkdir -p "${V%/*}"
g++ -O0 -g -finstrument-functions -o "$V" "$HERE/progs/viewer.cc" -lpthread || { bad build g++; exit 1; }
"$C" record -d raw --store "$S" -- "$V" 1000 >/dev/null 2>&1 &&
	"$C" record -d raw --store "$S" -- "$V" 200000 >/dev/null 2>&1 || { bad record failed; exit 1; }
older=$("$C" list --store "$S" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[1]["run_id"])')
newer=$("$C" list --store "$S" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["run_id"])')
"$C" show "$newer" --store "$S" --format html --out "$T/run.html" 2>/dev/null || bad "static export" "ctrace show --format html failed"
cp "$T/run.html" "$ART/static.html"
# a 30,000-deep recursion's static page: the flame graph's "deeper" link (issue 24 item 13)
gcc -O2 -g -finstrument-functions -o "$T/deeprec" "$HERE/progs/deeprec.c" &&
	"$C" record -d raw --store "sqlite:$T/deep.db" -- "$T/deeprec" 30000 >/dev/null 2>&1 &&
	"$C" show --store "sqlite:$T/deep.db" --format html --out "$T/deep.html" 2>/dev/null ||
	bad "deep static export" "deeprec 30000 record or ctrace show --format html failed"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$C" serve --store "$S" --listen "127.0.0.1:$port" 2>"$T/serve.err" &
srv=$!
i=0
while [ $i -lt 100 ] && ! grep -q "http://127.0.0.1:$port/" "$T/serve.err" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
grep -q "http://127.0.0.1:$port/" "$T/serve.err" || { bad "server starts" "$(cat "$T/serve.err")"; exit 1; }

port2=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$C" serve --store "$S" --listen "127.0.0.1:$port2" --token "t0k-$$" 2>"$T/serve2.err" &
srv2=$!
i=0
while [ $i -lt 100 ] && ! grep -q "http://127.0.0.1:$port2/" "$T/serve2.err" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done

TMPDIR=$T NODE_PATH=$PW/node_modules timeout 300 node "$ROOT/tests/browser/viewer.test.js" "$chrome" \
	"http://127.0.0.1:$port/" "$older" "$newer" "$T/run.html" "$ART" \
	"http://127.0.0.1:$port2/?token=t0k-$$" "$T/deep.html"
rc=$?
[ $rc -eq 0 ] || [ $rc -eq 1 ] || bad "browser test" "node exited with $rc"
echo "test_browser: screenshots in $ART"
exit $rc
