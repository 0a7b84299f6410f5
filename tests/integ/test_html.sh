#!/bin/sh
# SPDX-License-Identifier: MIT
# Loads an HTML export (ctrace show RUN --format html) in headless Chromium and checks that the
# page works offline: no console errors, the script ran (data-ctrace-ready), the profile table
# lists the expected functions, the flame graph has frames and the timeline was drawn.
#
# usage: tests/integ/test_html.sh FILE.html [FUNCTION...]   (default FUNCTION: main)
#        tests/integ/test_html.sh [BUILD_DIR]                 (as run by tests/run-all.sh)
# With a build directory (default build), it records a small C++ program with templates and
# operators (names full of < and &) with BUILD_DIR/ctrace and exports the run to HTML first.
# A FUNCTION starting with '~' only has to be a substring of a table cell.
# Prints "ok: ..." or "FAIL: ..." lines; exits 0 when every check passed (or, with a "SKIP"
# line, when no Chromium can be found or installed), 1 on a failure, 2 on a usage error.
set -u

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

if [ $# -eq 0 ] || [ -d "$1" ]; then
	B=$(cd "${1:-build}" 2>/dev/null && pwd) || { echo "FAIL: test_html: no build dir" ; exit 1; }
	cat >"$tmp/tmpl.cc" <<'CC'
#include <map>
#include <vector>
template <typename T> struct Box {
	T v;
	bool operator<(const Box &o) const { return v < o.v; }
};
template <typename T> T sum(const std::vector<T> &v)
{
	T s = 0;
	for (auto x : v)
		s += x;
	return s;
}
int main()
{
	std::vector<int> v;
	std::map<Box<int>, int> m;
	for (int i = 0; i < 1000; i++)
		v.push_back(i);
	for (int i = 0; i < 100; i++)
		m[Box<int>{i}] = i;
	return sum(v) == 499500 && m.size() == 100 ? 0 : 1;
}
CC
	if ! g++ -O0 -g -finstrument-functions -o "$tmp/tmpl" "$tmp/tmpl.cc"; then
		echo "FAIL: test_html: cannot compile the test program"
		exit 1
	fi
	if ! "$B/ctrace" record --dir "$tmp/data" --store "sqlite:$tmp/t.db" -- "$tmp/tmpl" \
		>"$tmp/rec.out" 2>&1; then
		echo "FAIL: test_html: ctrace record failed:"
		tail -5 "$tmp/rec.out"
		exit 1
	fi
	if ! "$B/ctrace" show latest --store "sqlite:$tmp/t.db" --format html \
		--out "$tmp/run.html" >"$tmp/show.out" 2>&1; then
		echo "FAIL: test_html: ctrace show --format html failed:"
		tail -5 "$tmp/show.out"
		exit 1
	fi
	set -- "$tmp/run.html" main '~Box&lt;int&gt;::operator&lt;' '~sum&lt;int&gt;'
fi
if [ ! -f "$1" ]; then
	echo "usage: $0 FILE.html [FUNCTION...] | $0 [BUILD_DIR]" >&2
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
	exit 0
fi

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

# Each expected function is a cell of the table (names are HTML-escaped in the DOM; a name
# given with a leading '~' is already escaped and only has to be part of a cell).
grep -o '<td class="name"[^>]*>[^<]*</td>' "$tmp/dom" >"$tmp/cells"
for f in "$@"; do
	case $f in
	'~'*)
		if grep -F -q "${f#\~}" "$tmp/cells"; then
			ok "table has a function with '${f#\~}'"
		else
			fail "table has no function with '${f#\~}'"
		fi
		;;
	*)
		esc=$(printf '%s' "$f" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g')
		if grep -F -q ">$esc</td>" "$tmp/cells"; then
			ok "table lists '$f'"
		else
			fail "table does not list '$f'"
		fi
		;;
	esac
done

if [ $fails -ne 0 ]; then
	echo "FAIL: test_html: $fails check(s) failed for $html"
	exit 1
fi
echo "ok: test_html: $html"
exit 0
