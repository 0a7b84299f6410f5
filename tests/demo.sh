#!/bin/sh
# SPDX-License-Identifier: MIT
# `make demo`: builds the example program with -finstrument-functions, records it with
# `ctrace record` (committing into the embedded SQLite store ./ctrace.db), prints the report.
set -eu
B=${1:-build}
CC=${CC:-gcc}
out=$B/demo
mkdir -p "$out"
echo "== compiling tests/demo/wordfreq.c with -finstrument-functions -g"
$CC -O2 -g -finstrument-functions -pthread -o "$out/wordfreq" tests/demo/wordfreq.c
echo "== ctrace record -- $out/wordfreq"
"$B/ctrace" record --meta demo=wordfreq -- "$out/wordfreq"
echo
echo "== ctrace-report (flat profile of the latest run in sqlite:./ctrace.db)"
"$B/ctrace-report" --top 15
echo
echo "== ctrace-report --tree --depth 4"
"$B/ctrace-report" --tree --depth 4
"$B/ctrace" show latest --format svg --out "$out/flame.svg" && echo "flame graph: $out/flame.svg"
"$B/ctrace" show latest --format html --out "$out/report.html" && echo "html report: $out/report.html"
echo "more: ctrace list, ctrace show latest, ctrace-report --threads, docs/"
