#!/bin/sh
# SPDX-License-Identifier: MIT
# README's Use block on the demo's run (tests/demo.sh: wordfreq recorded with --meta
# demo=wordfreq): the report, tree, percentiles, trend and show lines are taken from README.md
# itself, so a line that drifts from what the tools accept fails here. Prints ok/FAIL lines.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
ROOT=$(cd "$HERE/../.." && pwd)
B=$(cd "${1:-build}" && pwd)
T=$(mktemp -d /tmp/ctrace-readme.XXXXXX)
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
cd "$T" || exit 1
export CTRACE_STORE="sqlite:$T/ctrace.db"
gcc -O2 -g -finstrument-functions -pthread -o wordfreq "$ROOT/tests/demo/wordfreq.c" || {
	bad build "gcc failed"
	exit 1
}
for i in 1 2; do
	"$B/ctrace" record --meta demo=wordfreq -- ./wordfreq >/dev/null 2>rec.err ||
		bad "demo record $i" "$(cat rec.err)"
done

# readme_line PATTERN: the first README command line starting with build/ctrace that matches,
# its comment cut, with build/ pointing at the build under test.
readme_line() {
	sed -n '/^```sh$/,/^```$/p' "$ROOT/README.md" | grep '^build/ctrace' | grep -- "$1" |
		head -n 1 | sed -e 's/  *#.*//' -e "s#^build/#$B/#"
}

line=$(readme_line ' trend ')
check "README has a trend line" yes "$([ -n "$line" ] && echo yes || echo no)"
sh -c "$line" >trend.out 2>trend.err
check "README's trend line exits 0" 0 $?
check "README's trend line finds both demo runs" 2 "$(grep -c '^20[0-9]*T' trend.out)"
check "README's trend line prints no 'no runs'" "" "$(grep 'no runs' trend.err)"
for pat in 'ctrace-report  ' 'ctrace-report --tree' 'ctrace-report --percentiles' \
	'ctrace-report --diff'; do
	line=$(readme_line "$pat")
	sh -c "$line" >out 2>err
	check "README's '$pat' line works on the demo" "0 nonempty" \
		"$? $([ -s out ] && echo nonempty || echo empty)"
done
summary readme
