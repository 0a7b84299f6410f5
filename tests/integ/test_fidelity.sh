#!/bin/sh
# SPDX-License-Identifier: MIT
# Timing fidelity of compensated times, with tolerances wide enough for a shared CI machine
# (5% / 40 ns: per-call figures of a few ns move by 10-20 ns when another job shares the two
# cores, while the failures this guards against are off by 100s of ns); `make bench` runs the
# same check with the issue's 2% / 10 ns, side by side, where the figures are judged. A
# neighbour can only disturb a run, so up to three attempts are made and the first clean one
# counts; every attempt's table is printed.
HERE=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for attempt in 1 2 3; do
	sh "$HERE/../../bench/fidelity/run.sh" "${1:-build}" 5 40 >"$out" 2>&1
	rc=$?
	if [ $rc -eq 0 ] || [ $attempt -eq 3 ]; then
		cat "$out"
		exit $rc
	fi
	sed 's/^FAIL fidelity/attempt '$attempt' missed/' "$out"
done
