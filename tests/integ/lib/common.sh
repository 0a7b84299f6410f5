# SPDX-License-Identifier: MIT
# Shared by the integration scripts (sourced, not run): result lines and counters. Each script
# prints "ok NAME" / "FAIL NAME: why" lines, which tests/run-all.sh counts, then calls summary.
pass=0
fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
check() { # NAME EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "expected '$2', got '$3'"; fi
}
summary() { # LABEL: prints the count line and returns non-zero on any failure
	echo "$1: $pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}
