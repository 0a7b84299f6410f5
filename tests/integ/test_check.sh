#!/bin/sh
# SPDX-License-Identifier: MIT
# `ctrace check` (issue 23): progs/checkprog.c with a knob making parse_config() 30% or 10%
# slower by deterministic CPU work is flagged, exactly that function and nothing else; the
# same binary against its own previous runs 20 times never is (exit 0 every time); call-count
# changes and a new function are behaviour changes; --metric calls; --function; --json shape;
# --junit well-formed XML with one testcase per function and the regression as the failure, C++
# names escaped; a
# raw run directory as the candidate; the same check with the runs in a PostgreSQL store (the
# server of $CTRACE_TEST_PG, or a throwaway one from tests/pg.sh); the exit status of every
# error case. Robust on a busy
# machine: the compared metric is the median call duration, which preemption rarely moves, and
# each candidate is recorded between its baselines, so a drift of the machine's speed over the
# test affects both. Prints ok/FAIL lines.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
. "$HERE/../pg.sh"
B=$(cd "${1:-build}" && pwd)
C=$B/ctrace
T=$(mktemp -d /tmp/ctrace-check.XXXXXX)
own_server=0
cleanup() {
	[ "$own_server" = 1 ] && ctr_pg_stop
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
S=sqlite:$T/c.db
cd "$T" || exit 1
gcc -O2 -g -finstrument-functions -o prog "$HERE/progs/checkprog.c" || { bad build gcc; exit 1; }
ROUNDS=400

rec() { # ROLE [ENV=VALUE...]: records one run of prog with metadata role=ROLE
	role=$1
	shift
	env "$@" "$C" record -s "$S" -m role="$role" -- ./prog $ROUNDS >/dev/null 2>"$T/rec.err" ||
		{ bad "record $role" "$(tail -n 3 "$T/rec.err")"; exit 1; }
}
latest() { "$C" list -s "$S" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["run_id"])'; }
# Regressions, improvements and behaviour changes of a --json result on stdin, as
# "R:f,g I:h B:kind=f"; the exit status is checked beside it.
verdicts() {
	python3 -c '
import json, sys
d = json.load(sys.stdin)
r = ",".join(sorted(x["function"] for x in d["regressions"]))
i = ",".join(sorted(x["function"] for x in d["improvements"]))
b = ",".join(sorted(x["kind"] + "=" + x["function"] for x in d["behaviour_changes"]))
print("R:%s I:%s B:%s" % (r, i, b))'
}

# On a failure: every function's change and p-values against the baselines of metadata $1,
# candidate $2, the newest $3 (as check computes them, with no threshold).
detail() {
	"$C" check -s "$S" --candidate "$2" --baseline-meta "$1" --last "$3" --threshold 0 --alpha 0.5 --json |
		python3 -c '
import json, sys
d = json.load(sys.stdin)
print("factor %.4f" % d["run_factor"], " ".join("%s %+.3f p_runs %.2g p_rank %s" % (r["function"], r["change"], r["p_runs"], r["p_rank"]) for r in d["regressions"] + d["improvements"]))'
}

# ---- a 30% slower parse_config: recorded between four baselines on each side ----
for i in 1 2 3 4; do rec b30; done
rec c30 CHECK_SLOW_PCT=30
C30=$(latest)
for i in 1 2 3 4; do rec b30; done
"$C" check -s "$S" --candidate "$C30" --baseline-meta role=b30 --json >"$T/j30" 2>"$T/e30"
got="$? $(verdicts <"$T/j30")"
[ "$got" = "1 R:parse_config I: B:" ] || got="$got; figures: $(detail role=b30 "$C30" 10)"
check "30% slower: exit 1, parse_config alone regressed" "1 R:parse_config I: B:" "$got"
check "30% slower: 8 baselines, 4 functions compared" "8 4" \
	"$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["baselines"]), d["compared"])' "$T/j30")"
check "30% slower: the change is measured near +30% (20..45%)" "yes" \
	"$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["regressions"][0]["change"]; print("yes" if 0.20 < c < 0.45 else c)' "$T/j30")"
check "--json regression fields and types" "ok" "$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
want = {"function": str, "metric": str, "baseline_ns": float, "candidate_ns": float, "change": float, "p_value": float}
bad = [k for x in d["regressions"] + d["improvements"] for k, t in want.items() if not isinstance(x.get(k), t)]
assert set(d) >= {"regressions", "improvements", "behaviour_changes", "candidate", "baselines", "run_factor"}, d.keys()
assert d["normalized"] is True and 0.5 < d["run_factor"] < 2, (d["normalized"], d["run_factor"])
r = d["regressions"][0]
assert r["metric"] == "p50" and r["candidate_ns"] > r["baseline_ns"] > 0 and 0 <= r["p_value"] <= 0.001, r
print("ok" if not bad else bad)' "$T/j30")"

"$C" check -s "$S" --candidate "$C30" --baseline-meta role=b30 >"$T/t30"
check "text: exit 1, the regression table's one row is parse_config at +2x.x% or +3x.x%" "1 1" \
	"$? $(sed -n '/^REGRESSIONS (1)/,/^$/p' "$T/t30" | grep -cE '^parse_config +[0-9.]+ us +[0-9.]+ us +\+[234][0-9]\.[0-9]%')"
check "text: headers and summary" "1 1 1" "$(grep -c '^IMPROVEMENTS (0)$' "$T/t30") $(grep -c '^BEHAVIOUR CHANGES (0)$' "$T/t30") $(grep -c '^4 function(s) compared: 1 regression(s), 0 improvement(s), 0 behaviour change(s)$' "$T/t30")"

"$C" check -s "$S" --candidate "$C30" --baseline-meta role=b30 --junit "$T/j.xml" >/dev/null
check "--junit: exit 1 and the file written" "1 yes" "$? $([ -s "$T/j.xml" ] && echo yes)"
check "--junit is well-formed XML: 4 testcases, the one failure parse_config" "4 1 parse_config 1" "$(python3 -c '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
cases = root.findall("./testsuite/testcase")
fails = [c.get("name") for c in cases if c.find("failure") is not None]
print(len(cases), len(fails), ",".join(fails), root.get("failures"))' "$T/j.xml")"

"$C" check -s "$S" --candidate "$C30" --baseline-meta role=b30 --function 'render*' --json >"$T/jf"
check "--function render*: exit 0, one function compared" "0 1 R: I: B:" \
	"$? $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["compared"])' "$T/jf") $(verdicts <"$T/jf")"
"$C" check -s "$S" --candidate "$C30" --baseline-meta role=b30 --no-normalize --json >"$T/jn"
check "--no-normalize: parse_config still flagged, the factor 1" "True False 1.0" \
	"$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("parse_config" in [r["function"] for r in d["regressions"]], d["normalized"], d["run_factor"])' "$T/jn")"
"$C" check -s "$S" --candidate "$C30" --baseline-meta role=b30 --last 3 --json >"$T/jl"
check "--last 3: three baselines" "3" \
	"$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["baselines"]))' "$T/jl")"

# ---- a 10% slower parse_config needs more baselines (eight on each side) and, on a machine
# as busy as the one this runs on, alpha 0.01 (docs/ci.md "Power") ----
for i in 1 2 3 4 5 6 7 8; do rec b10; done
rec c10 CHECK_SLOW_PCT=10
C10=$(latest)
for i in 1 2 3 4 5 6 7 8; do rec b10; done
"$C" check -s "$S" --candidate "$C10" --baseline-meta role=b10 --last 16 --alpha 0.01 --json >"$T/j10"
got="$? $(verdicts <"$T/j10")"
[ "$got" = "1 R:parse_config I: B:" ] || got="$got; figures: $(detail role=b10 "$C10" 16)"
check "10% slower with 16 baselines, alpha 0.01: exit 1, parse_config alone regressed" \
	"1 R:parse_config I: B:" "$got"

# ---- the same binary against its own previous 8 runs, 20 times: at most one verdict ----
# A load burst on this shared 2-core machine during one candidate run can slow one function by
# 5-8% against a quiet baseline (seen about once in 40 such checks, docs/ci.md "Power"): one
# verdict in 20 is printed as a note and tolerated, two are a finding.
for i in 1 2 3 4 5 6 7 8; do rec self; done
clean=0
for i in $(seq 20); do
	rec self
	"$C" check -s "$S" --baseline-meta role=self --last 8 --json >"$T/js" 2>"$T/es"
	got="$? $(verdicts <"$T/js")"
	if [ "$got" = "0 R: I: B:" ]; then
		clean=$((clean + 1))
	else
		echo "note same binary, check $i: $got ($(detail role=self latest 8))"
	fi
done
check "same binary 20 times: exit 0 and no verdict at least 19 times" yes \
	"$([ "$clean" -ge 19 ] && echo yes || echo "no, $clean clean")"

# ---- behaviour changes: more calls of render_page, a new audit_log ----
rec beh CHECK_EXTRA=40 CHECK_NEW=1
BEH=$(latest)
"$C" check -s "$S" --candidate "$BEH" --baseline-meta role=self --last 8 --function '[!m]*' --json >"$T/jb"
check "behaviour: render_page's calls and the new audit_log, no verdict (exit 0)" \
	"0 R: I: B:calls=render_page,new=audit_log" "$? $(verdicts <"$T/jb")"
check "behaviour: render_page 400 calls in the baselines, 440 in the candidate" "400 400 440" "$(python3 -c '
import json, sys
x = [b for b in json.load(open(sys.argv[1]))["behaviour_changes"] if b["function"] == "render_page"][0]
print(x["baseline_calls_min"], x["baseline_calls_max"], x["candidate_calls"])' "$T/jb")"
"$C" check -s "$S" --candidate "$BEH" --baseline-meta role=self --last 8 --metric calls --json >"$T/jc"
check "--metric calls: render_page +10% calls regressed (exit 1)" "1 R:render_page" \
	"$? $(verdicts <"$T/jc" | cut -d' ' -f1)"

# ---- C++ names (<, >, &) in the JUnit XML ----
g++ -O0 -g -finstrument-functions -o names "$HERE/progs/names.cc" || { bad build g++; exit 1; }
for i in 1 2 3; do "$C" record -s "sqlite:$T/cxx.db" -- ./names >/dev/null 2>&1; done
"$C" check -s "sqlite:$T/cxx.db" --baseline latest~1 --baseline latest~2 --junit "$T/cxx.xml" >/dev/null
rc=$?
check "C++ names: a verdict (exit 0 or 1), the JUnit XML parses with the names as they were" "yes 1 1" \
	"$([ $rc -le 1 ] && echo yes) $(python3 -c '
import sys, xml.etree.ElementTree as ET
names = {c.get("name") for c in ET.parse(sys.argv[1]).getroot().iter("testcase")}
print(int("geo::Box<int>::get() const" in names), int("std::allocator<int>::allocator(std::allocator<int> const&)" in names))' "$T/cxx.xml")"

# ---- a raw run directory as the candidate is committed first ----
CHECK_SLOW_PCT=30 "$C" record -n -d raw -- ./prog $ROUNDS >/dev/null 2>&1
RAW=$(ls -d raw/*/ | head -n 1)
"$C" check -s "$S" --candidate "$RAW" --baseline-meta role=b30 --function parse_config >/dev/null
check "raw run directory as the candidate: committed and flagged (exit 1)" 1 "$?"

# ---- the runs in a PostgreSQL store, the team store of docs/ci.md ----
if [ -z "${CTRACE_TEST_PG:-}" ]; then
	if ctr_pg_start; then own_server=1; else bad "postgresql server" "cannot start one (tests/pg.sh)"; fi
fi
if [ -n "${CTRACE_TEST_PG:-}" ]; then
	QUERY=${CTRACE_TEST_PG#*\?}
	DB=ctrace_check_$$
	PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 "$CTRACE_TEST_PG" \
		-c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
	PG="postgresql:///$DB?$QUERY"
	"$C" export -s "$S" --meta role=b30 --to "$PG" >/dev/null 2>&1 &&
		"$C" export -s "$S" --meta role=c30 --to "$PG" >/dev/null 2>&1
	"$C" check -s "$PG" --candidate "$C30" --baseline-meta role=b30 --json >"$T/jpg" 2>"$T/epg"
	check "PostgreSQL store: the 30% slowdown flagged the same (exit 1)" "1 R:parse_config I: B:" \
		"$? $(verdicts <"$T/jpg")"
	check "PostgreSQL store: the same figures as from SQLite" "same" "$(python3 -c '
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
strip = lambda d: [(r["function"], round(r["baseline_ns"]), round(r["candidate_ns"])) for r in d["regressions"]]
print("same" if strip(a) == strip(b) and sorted(a["baselines"]) == sorted(b["baselines"]) else (strip(a), strip(b)))' "$T/j30" "$T/jpg")"
	PGOPTIONS='-c client_min_messages=warning' psql -X -q "$CTRACE_TEST_PG" \
		-c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
fi

# ---- errors: exit 2 for usage, 3 for the rest; never a verdict ----
B1=$("$C" list -s "$S" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[1]["run_id"])')
B2=$("$C" list -s "$S" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[2]["run_id"])')
code() { grep '^{' "$1" | tail -n 1 | sed -n 's/.*"error_code":"\([A-Z_]*\)".*/\1/p'; }
err() { # NAME STATUS CODE ARGS...: ctrace check ARGS exits STATUS with error code CODE
	name=$1 want=$2 wcode=$3
	shift 3
	"$C" --json-errors check "$@" >"$T/out" 2>"$T/err"
	check "$name" "$want $wcode 0" "$? $(code "$T/err") $(wc -c <"$T/out" | tr -d ' ')"
}
err "no baselines: usage" 2 CTRACE_E_USAGE -s "$S"
err "one baseline: usage (the noise is unknown)" 2 CTRACE_E_USAGE -s "$S" --baseline "$B1"
err "the candidate as a baseline: usage" 2 CTRACE_E_USAGE -s "$S" --baseline "$B1" --baseline "$B2" --candidate "$B2"
err "unknown option" 2 CTRACE_E_USAGE -s "$S" --baseline "$B1" --baseline "$B2" --frobnicate
err "stray argument" 2 CTRACE_E_USAGE -s "$S" --baseline "$B1" --baseline "$B2" extra
err "bad --metric" 2 CTRACE_E_USAGE -s "$S" --baseline "$B1" --baseline "$B2" --metric mean
err "bad --threshold" 2 CTRACE_E_USAGE -s "$S" --baseline "$B1" --baseline "$B2" --threshold -5
err "bad --alpha" 2 CTRACE_E_USAGE -s "$S" --baseline "$B1" --baseline "$B2" --alpha 0
err "--last 0" 2 CTRACE_E_USAGE -s "$S" --baseline-meta role=self --last 0
err "--last without --baseline-meta" 2 CTRACE_E_USAGE -s "$S" --baseline "$B1" --baseline "$B2" --last 3
err "--baseline-meta without '='" 2 CTRACE_E_USAGE -s "$S" --baseline-meta role
err "--baseline-meta matching no run: too few baselines" 2 CTRACE_E_USAGE -s "$S" --baseline-meta role=nosuch
err "unknown baseline run" 3 CTRACE_E_NOT_FOUND -s "$S" --baseline "$B1" --baseline 99990101T000000-nosuch
err "unknown candidate run" 3 CTRACE_E_NOT_FOUND -s "$S" --baseline "$B1" --baseline "$B2" --candidate latest~9999
err "--function matching nothing" 3 CTRACE_E_NOT_FOUND -s "$S" --baseline "$B1" --baseline "$B2" --function 'nosuch*'
err "no store" 3 CTRACE_E_NOT_FOUND -s "sqlite:$T/none.db" --baseline "$B1" --baseline "$B2"
check "no store: nothing created" "no" "$([ -e "$T/none.db" ] && echo yes || echo no)"
err "--junit into a missing directory" 3 CTRACE_E_IO -s "$S" --baseline "$B1" --baseline "$B2" --junit "$T/no/dir/j.xml"
"$C" check --help >"$T/help"
check "--help: exit 0, the usage and exit statuses" "0 1 1" "$? $(grep -c '^usage: ctrace check' "$T/help") $(grep -c 'Exit status: 0 nothing regressed, 1 a regression, 2 usage error, 3' "$T/help")"
check "ctrace --help lists check" 1 "$("$C" --help | grep -c '^  check ')"

summary "check"
