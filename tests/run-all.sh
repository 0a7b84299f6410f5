#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs every test: the Criterion unit binaries given as arguments, then each integration
# script tests/integ/*.sh (ok/FAIL lines). Prints the seconds each took ("-- NAME: S s") and one
# "N passed, N failed in S s" line at the end.
set -u
BUILD=${BUILD:-build}
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
trap 'exit 130' INT TERM # ^C too runs the EXIT trap: the log and the server go

# One throwaway PostgreSQL server for the pgsql rows of the store table and test_pgsql.sh
# (tests/pg.sh); $CTRACE_TEST_PG names it. A server that cannot start is a failure.
. tests/pg.sh
if [ -z "${CTRACE_TEST_PG:-}" ]; then
	if ctr_pg_start; then
		trap 'ctr_pg_stop; rm -f "$log"' EXIT
	else
		echo "FAIL pg: cannot start a PostgreSQL server for the pgsql tests"
		failed=$((failed + 1))
	fi
fi

start=$(date +%s)
for t in "$@"; do
	echo "== $t"
	t0=$(date +%s)
	"$t" --jobs 2 >"$log" 2>&1
	rc=$?
	cat "$log"
	echo "-- $t: $(($(date +%s) - t0)) s"
	line=$(grep 'Synthesis:' "$log" | tail -n 1)
	p=$(echo "$line" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
	f=$(echo "$line" | sed -n 's/.*Failing: \([0-9]*\).*/\1/p')
	c=$(echo "$line" | sed -n 's/.*Crashing: \([0-9]*\).*/\1/p')
	if [ -z "$p" ]; then
		echo "FAIL $t: no Criterion summary (exit $rc)"
		failed=$((failed + 1))
		continue
	fi
	passed=$((passed + p))
	failed=$((failed + ${f:-0}))
	[ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ] && failed=$((failed + 1))
	: "${c:=0}"
done

for s in tests/integ/*.sh; do
	[ -f "$s" ] || continue
	echo "== $s"
	t0=$(date +%s)
	sh "$s" "$BUILD" >"$log" 2>&1
	rc=$?
	cat "$log"
	echo "-- $s: $(($(date +%s) - t0)) s"
	p=$(grep -c '^ok' "$log")
	f=$(grep -c '^FAIL' "$log")
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $s: exit status $rc"
		failed=$((failed + 1))
	fi
done

echo
echo "$passed passed, $failed failed in $(($(date +%s) - start)) s"
[ "$failed" -eq 0 ]
