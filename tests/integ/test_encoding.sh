#!/bin/sh
# SPDX-License-Identifier: MIT
# The raw event encoding as the recorder writes it (docs/format.md, version 2): a call with
# nothing recorded inside and small times is one LEAF word, a call too long for one (or with a
# mark inside) stays ENTER + EXIT, two small exits in a row share an EXIT2 word; every call is
# still there, and the same run rewritten as a version-1 file decodes and commits to the same
# events. Built with gcc and clang, -O0 and -O2.
# usage: tests/integ/test_encoding.sh [BUILD_DIR]
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib/common.sh"
B=$(cd "${1:-build}" && pwd)
T=$(mktemp -d /tmp/ctrace-enc.XXXXXX)
trap 'rm -rf "$T"' EXIT
W="python3 $HERE/words.py"

# of FUNC COLUMN: column 2 (LEAF words) or 3 (ENTER words) of FUNC in $T/stats
of() { awk -v f="$1" -v c="$2" '$1 == f { print $c; n = 1 } END { if (!n) print 0 }' "$T/stats"; }

for CC in gcc clang; do
	command -v $CC >/dev/null 2>&1 || { bad "$CC" "compiler not installed"; continue; }
	for O in -O0 -O2; do
		tag="$CC$O"
		rm -rf "$T/d" "$T/v1" "$T"/*.db
		$CC $O -g -no-pie -finstrument-functions -I"$ROOT/instrument" -o "$T/leaves" \
			"$HERE/progs/leaves.c" || { bad "$tag build" "$CC failed"; continue; }
		nm "$T/leaves" >"$T/nm"
		CTRACE_DIR=$T/d LD_PRELOAD=$B/libctrace.so "$T/leaves" 1000 ||
			{ bad "$tag run" "status $?"; continue; }
		run=$(ls -d "$T/d"/*/ | head -n 1)
		ev=$(ls "$run"/t-*.ev | head -n 1)
		$W stats "$ev" "$T/nm" >"$T/stats" || { bad "$tag words" "words.py failed"; continue; }
		for f in tiny:21000 slow:1000 a:1000 b:1000 marked:100; do
			fn=${f%%:*}
			check "$tag: $fn: every call recorded" "${f#*:}" $(($(of $fn 2) + $(of $fn 3)))
		done
		# past 255 ticks, or with a record inside, a call is never a LEAF
		check "$tag: a call longer than a LEAF holds is ENTER + EXIT" 0 "$(of slow 2)"
		check "$tag: a call with a mark inside is ENTER + EXIT" 0 "$(of marked 2)"
		check "$tag: calls with callees are ENTER + EXIT" "0 0" "$(of a 2) $(of b 2)"
		# most tiny calls fit (a preemption inside one makes it ENTER + EXIT)
		leaf=$(of tiny 2)
		[ "$leaf" -ge 18900 ] && ok "$tag: tiny calls are LEAF words ($leaf of 21000)" ||
			bad "$tag: tiny calls are LEAF words" "only $leaf of 21000"
		set -- $(awk '$1 == "total" { print $2, $3, $5 }' "$T/stats")
		[ "$3" -ge 900 ] && ok "$tag: b's and a's exits share EXIT2 words ($3)" ||
			bad "$tag: b's and a's exits share EXIT2 words" "only $3 of 1000"
		bpc=$(awk -v c="$1" -v b="$2" 'BEGIN { printf "%.2f", b / c }')
		awk -v v="$bpc" 'BEGIN { exit !(v <= 6.0) }' && ok "$tag: $bpc event bytes per call" ||
			bad "$tag: bytes per call" "$bpc > 6.0"
		# the same events as a version-1 file: same dump, same committed report
		cp -r "$run" "$T/v1"
		$W v1 "$ev" "$T/v1/$(basename "$ev")"
		"$B/ctrace" dump "$run" >"$T/dump2" 2>&1
		"$B/ctrace" dump "$T/v1" >"$T/dump1" 2>&1
		if cmp -s "$T/dump1" "$T/dump2" && [ "$(wc -l <"$T/dump2")" -gt 48000 ]; then
			ok "$tag: a version-1 file of the same run decodes to the same events"
		else
			bad "$tag: version-1 file" "dumps differ ($(wc -l <"$T/dump1") / $(wc -l <"$T/dump2") lines)"
		fi
		"$B/ctrace" commit --store "sqlite:$T/v2.db" "$run" >/dev/null 2>&1 &&
			"$B/ctrace" commit --store "sqlite:$T/v1.db" "$T/v1" >/dev/null 2>&1 &&
			"$B/ctrace" report --store "sqlite:$T/v2.db" --top 0 2>&1 | tail -n +2 >"$T/rep2" &&
			"$B/ctrace" report --store "sqlite:$T/v1.db" --top 0 2>&1 | tail -n +2 >"$T/rep1"
		if [ $? = 0 ] && cmp -s "$T/rep1" "$T/rep2" && grep -q ' tiny$' "$T/rep2"; then
			ok "$tag: version-1 and version-2 files commit to the same profile"
		else
			bad "$tag: commit of a version-1 file" "$(diff "$T/rep1" "$T/rep2" | head -n 4)"
		fi
	done
done
summary encoding
