#!/bin/sh
# SPDX-License-Identifier: MIT
# Profile-guided exclusion (docs/ctrace-cc.md, "Excluding what costs more than it tells"): a C++
# program with tiny accessors (tests/integ/progs/accessors.cc) is recorded; `ctrace exclusions`
# lists the accessors and the two-argument template, leaves out the one whose name is a
# substring of a function that does work (gcc matches its list by substring), and states the
# calls they made; ctrace-c++ reads ./.ctrace-exclude, the rebuilt program's run has none of
# their calls and every other function's exact count, and its report names the list and the
# run it came from. Option and error cases; clang builds with the file present. Prints ok/FAIL.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
B=$(cd "${1:-build}" && pwd)
T=$(mktemp -d /tmp/ctrace-excl.XXXXXX)
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
C=$B/ctrace
R=$B/ctrace-report
S=sqlite:$T/s.db
mkdir "$T/tmp"
export TMPDIR=$T/tmp
cd "$T" || exit 1
cp "$HERE/progs/accessors.cc" .

# counts STORE RUN: "name calls" per function of RUN, by display name, sorted.
counts() {
	"$R" --store "$S" --json --min-percent 0 --top 0 "$1" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
for f in sorted(d["functions"], key=lambda f: f.get("display_name", f["name"])):
    print(f.get("display_name", f["name"]), f["calls"])'
}

CTRACE_CXX=g++ "$B/ctrace-c++" -O2 -o p1 accessors.cc || { bad "gcc build" "ctrace-c++ failed"; exit 1; }
"$C" record --store "$S" -- ./p1 100 >out1 2>err1 || { bad record "$(cat err1)"; exit 1; }
run1=$(sed -n 's/^ctrace: run \([^ ]*\) committed.*/\1/p' err1)
want1="kv::(anon)::Tick::get 31600
kv::Slice::Slice 8
kv::Slice::data 31600
kv::Slice::size 32400
kv::Slice::size_hint_bytes 100
kv::checksum 100
kv::checksum(std::vector<...> const&)::{lambda#1}::operator() 31600
kv::mix<...> 31600
main 1
round_trip 100"
check "every function's exact count before exclusion" "$want1" "$(counts "$run1")"

"$C" exclusions --store "$S" >.ctrace-exclude 2>excl.err
check "exclusions exits 0" 0 $?
check "the accessors and the template are listed as gcc names them, most calls first" "kv::{anonymous}::Tick::get
kv::Slice::data
kv::mix" "$(sed -e '/^#/d' -e 's/\t#.*//' .ctrace-exclude)"
check "the list names its run" "# run: $run1" "$(grep '^# run:' .ctrace-exclude)"
check "the list counts the calls it hides" "# hidden-calls: 94800" "$(grep '^# hidden-calls:' .ctrace-exclude)"
check "an entry that would also exclude a working function is left out" \
	"# not listed: kv::Slice::size() const (gcc matches substrings: it would exclude kv::Slice::size_hint_bytes() const too)" \
	"$(grep '^# not listed: kv::Slice' .ctrace-exclude)"
check "a lambda, which gcc names its own way, is left out" 1 \
	"$(grep -c '^# not listed: kv::checksum(.*)::{lambda(unsigned long)#1}::operator()(unsigned long) const (gcc does not name it so)$' .ctrace-exclude)"
"$C" exclusions --store "$S" --out "$T/list2" "$run1"
check "--out writes the same list" same "$(cmp -s .ctrace-exclude list2 && echo same || echo differ)"
"$C" exclusions --store "$S" --min-calls 40000 "$run1" >list3
check "--min-calls raises the bar" "" "$(sed -e '/^#/d' list3)"
"$C" exclusions --store "$S" --max-avg 1us --min-calls 50 "$run1" >list4
check "--max-avg widens the rule (and the clash is gone)" "kv::Slice::size
kv::{anonymous}::Tick::get
kv::Slice::data
kv::mix
kv::Slice::size_hint_bytes" "$(sed -e '/^#/d' -e 's/\t#.*//' list4)"

CTRACE_CXX=g++ "$B/ctrace-c++" -O2 -o p2 accessors.cc 2>build2.err
check "the rebuild reads ./.ctrace-exclude quietly" "0:" "$?:$(cat build2.err)"
"$C" record --store "$S" -- ./p2 100 >out2 2>err2 || { bad record "$(cat err2)"; exit 1; }
run2=$(sed -n 's/^ctrace: run \([^ ]*\) committed.*/\1/p' err2)
check "the program's output is unchanged" "$(cat out1)" "$(cat out2)"
check "excluded functions are gone, every other count exact" "kv::Slice::Slice 8
kv::Slice::size 32400
kv::Slice::size_hint_bytes 100
kv::checksum 100
kv::checksum(std::vector<...> const&)::{lambda#1}::operator() 31600
main 1
round_trip 100" "$(counts "$run2")"
check "the report names the exclusions and their run" \
	"excluded at build: 3 functions (.ctrace-exclude from run $run1, where they made 94.8 k calls); 'ctrace show' lists them" \
	"$("$R" --store "$S" "$run2" | sed -n 2p)"
check "the run's provenance holds the list" "build.excluded.list=kv::{anonymous}::Tick::get,kv::Slice::data,kv::mix" \
	"$("$C" show --store "$S" "$run2" | sed -n 's/^ *\(build.excluded.list=.*\)/\1/p')"
check "a run of a build without a list says nothing of exclusions" "" \
	"$("$R" --store "$S" "$run1" | grep 'excluded at build')"

CTRACE_CXX=g++ "$B/ctrace-c++" --ctrace-no-exclude-file -O2 -o p3 accessors.cc &&
	"$C" record --store "$S" -- ./p3 100 >/dev/null 2>err3
run3=$(sed -n 's/^ctrace: run \([^ ]*\) committed.*/\1/p' err3)
check "--ctrace-no-exclude-file instruments everything again" "$want1" "$(counts "$run3")"
mv .ctrace-exclude list.txt
CTRACE_CXX=g++ "$B/ctrace-c++" --ctrace-exclude-from=list.txt -O2 -o p4 accessors.cc &&
	"$C" record --store "$S" -- ./p4 100 >/dev/null 2>err4
run4=$(sed -n 's/^ctrace: run \([^ ]*\) committed.*/\1/p' err4)
check "--ctrace-exclude-from names another file" "$(counts "$run2")" "$(counts "$run4")"
CTRACE_CXX=g++ "$B/ctrace-c++" -c -O2 -o p5.o --ctrace-exclude-from list.txt accessors.cc
check "a compile step embeds nothing" "" "$(readelf -S p5.o | grep ctrace_exclude)"
check "a link step embeds the list in a section that is not loaded" "0x0000000000000000" \
	"$(readelf -SW p4 | awk '/ctrace_exclude/ { print "0x" $4 }')"
cp list.txt .ctrace-exclude

if command -v clang++ >/dev/null 2>&1; then
	CTRACE_CXX=clang++ "$B/ctrace-c++" -O2 -o pc accessors.cc 2>buildc.err
	check "clang builds with a .ctrace-exclude present, quietly" "0:" "$?:$(cat buildc.err)"
	check "clang's build gives the same output" "$(cat out1)" "$(./pc 100)"
	CTRACE_CXX=clang++ "$B/ctrace-c++" --ctrace-exclude-from=list.txt -O2 -o pc2 accessors.cc 2>buildc2.err
	check "clang warns when a list is named explicitly" 1 "$(grep -c 'clang cannot exclude' buildc2.err)"
fi

"$C" exclusions --store "$S" --max-avg 0 >/dev/null 2>e1
check "--max-avg 0 is a usage error" "2 CTRACE_E_USAGE" "$? $(grep -o 'CTRACE_E_USAGE' e1 | head -n 1)"
"$C" exclusions --store "$S" --min-calls -1 >/dev/null 2>e2
check "--min-calls -1 is a usage error" 2 $?
"$C" exclusions --store "$S" no-such-run >/dev/null 2>e3
check "an unknown run is an error" "1 CTRACE_E_NOT_FOUND" "$? $(grep -o 'CTRACE_E_NOT_FOUND' e3 | head -n 1)"
"$C" exclusions --store "sqlite:$T/none.db" >/dev/null 2>e4
check "a missing store is an error and is not created" "1 absent" "$? $([ -e "$T/none.db" ] && echo present || echo absent)"
CTRACE_CXX=g++ "$B/ctrace-c++" --ctrace-exclude-from=/nonexistent -O2 -o px accessors.cc 2>e5
check "a missing exclusion file stops the build" "2 1" "$? $(grep -c "cannot read the exclusion file '/nonexistent'" e5)"
check "ctrace-cc leaves no temporary files" "" "$(ls -A "$T/tmp")"

summary exclusions
