#!/bin/sh
# SPDX-License-Identifier: MIT
# Loads an HTML export (ctrace show RUN --format html) in headless Chromium and checks that the
# page works offline: no console errors, the script ran (data-ctrace-ready), the profile table
# lists the expected functions, the flame graph has frames and the timeline was drawn.
#
# usage: tests/integ/test_html.sh FILE.html [FUNCTION...]   (default FUNCTION: main)
# Prints "ok: ..." or "FAIL: ..." lines; exits 0 when every check passed, 1 on a failure,
# 77 when no Chromium can be found or installed (apt-get install chromium, as root).
set -u

if [ $# -lt 1 ] || [ ! -f "$1" ]; then
	echo "usage: $0 FILE.html [FUNCTION...]" >&2
	exit 2
fi
html=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
shift
[ $# -gt 0 ] || set -- main

find_chromium() {
	for b in chromium chromium-browser google-chrome google-chrome-stable; do
		if command -v "$b" >/dev/null 2>&1; then
			command -v "$b"
			return 0
		fi
	done
	return 1
}

chrome=$(find_chromium)
if [ -z "$chrome" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "test_html: installing chromium" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 &&
		  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; }
	chrome=$(find_chromium)
fi
if [ -z "$chrome" ]; then
	echo "SKIP: test_html: no chromium (apt-get install chromium)"
	exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
fails=0
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# The page must not reach for the network.
if grep -Eq '(src|href)="(https?:)?//' "$html"; then
	fail "page loads external resources: $(grep -Eo '(src|href)="(https?:)?//[^"]*' "$html" | head -1)"
else
	ok "no external resources"
fi

timeout 90 "$chrome" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--disable-extensions --user-data-dir="$tmp/profile" --enable-logging=stderr --v=0 \
	--virtual-time-budget=10000 --dump-dom "file://$html" >"$tmp/dom" 2>"$tmp/log"
rc=$?
if [ $rc -ne 0 ] || [ ! -s "$tmp/dom" ]; then
	fail "chromium exited with $rc and no DOM; log:"
	tail -20 "$tmp/log"
	exit 1
fi
ok "page loaded ($(wc -c <"$tmp/dom") bytes of DOM)"

# Console messages look like: [..:INFO:CONSOLE(12)] "Uncaught TypeError: ...", source: ...
if grep -E 'CONSOLE' "$tmp/log" | grep -Eq 'Uncaught|Error'; then
	fail "console errors:"
	grep -E 'CONSOLE' "$tmp/log" | grep -E 'Uncaught|Error' | head -5
else
	ok "no console errors"
fi

if grep -q 'data-ctrace-ready="1"' "$tmp/dom"; then
	ok "script ran"
else
	fail "script did not finish (no data-ctrace-ready)"
fi

num_attr() { # ATTR: the number in ATTR="N" of the DOM, 0 if absent
	v=$(grep -Eo "$1=\"[0-9]+\"" "$tmp/dom" | head -1 | tr -dc 0-9)
	echo "${v:-0}"
}
rows=$(num_attr data-rows)
frames=$(num_attr data-frames)
calls=$(num_attr data-calls)
[ "$rows" -gt 0 ] && ok "profile table has $rows rows" || fail "profile table is empty"
[ "$frames" -gt 0 ] && ok "flame graph has $frames frames" || fail "flame graph has no frames"
ok "timeline drew $calls calls"
if [ "$calls" -gt 0 ] && ! grep -q '<rect x="[0-9.]*" y="[0-9]*" width' "$tmp/dom"; then
	fail "timeline reports calls but no rect was added"
fi

# Each expected function is a cell of the table (names are HTML-escaped in the DOM).
for f in "$@"; do
	esc=$(printf '%s' "$f" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g')
	if grep -F -q "<td class=\"name\"" "$tmp/dom" &&
	   grep -o '<td class="name"[^>]*>[^<]*</td>' "$tmp/dom" | grep -F -q ">$esc</td>"; then
		ok "table lists '$f'"
	else
		fail "table does not list '$f'"
	fi
done

if [ $fails -ne 0 ]; then
	echo "FAIL: test_html: $fails check(s) failed for $html"
	exit 1
fi
echo "ok: test_html: $html"
exit 0
