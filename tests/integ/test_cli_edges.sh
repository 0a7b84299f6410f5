#!/bin/sh
# SPDX-License-Identifier: MIT
# Edges of the store commands (issue 24 item 16): `query --max-duration 0` refused (it could
# match no run), --limit/--offset out of 0..INT64_MAX refused with exit 2 (ctrace serve: 400),
# a `ctrace show --out` ended by SIGINT, SIGTERM or SIGHUP leaves no temporary file and the
# target untouched, and six concurrent `ctrace commit` of one run directory: one commits, five
# say "already committed", all exit 0, one run stored. Prints ok/FAIL lines.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
B=$(cd "${1:-build}" && pwd)
T=$(mktemp -d /tmp/ctrace-edges.XXXXXX)
pids=
trap 'for p in $pids; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$T"' EXIT
C=$B/ctrace
S=sqlite:$T/e.db
cd "$T" || exit 1
gcc -O2 -g -finstrument-functions -o deeprec "$HERE/progs/deeprec.c" || { bad build gcc; exit 1; }
"$C" record -d raw --store "$S" -- ./deeprec 10 >/dev/null 2>&1 &&
	"$C" record -d raw --store "$S" -- ./deeprec 30000 >/dev/null 2>&1 || { bad record failed; exit 1; }
ids=$("$C" list --store "$S" --json | python3 -c 'import json,sys; print(" ".join(r["run_id"] for r in json.load(sys.stdin)))')
newer=${ids% *}
older=${ids#* }

# --max-duration 0 and paging bounds
"$C" query --store "$S" --max-duration 0 >o 2>e
check "query --max-duration 0: usage error, nothing listed" "2 0 1" \
	"$? $(wc -c <o) $(grep -c "CTRACE_E_USAGE: --max-duration '0' is 0: no run takes at most 0 ns" e)"
"$C" query --store "$S" --max-duration 0us --json >o 2>e
check "query --max-duration 0us: the same" "2 0" "$? $(wc -c <o)"
"$C" export --store "$S" --max-duration 0 --to "jsonl:$T/x.jsonl" >o 2>e
check "export --max-duration 0: usage error, nothing exported" "2 1 no" \
	"$? $(grep -c "max-duration '0' is 0" e) $([ -e x.jsonl ] && echo yes || echo no)"
"$C" query --store "$S" --max-duration 1h --json >o 2>e
check "query --max-duration 1h: both runs" "0 2" "$? $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' o)"
"$C" query --store "$S" --min-duration 0 --json >o 2>e
check "query --min-duration 0 (at least 0): both runs" "0 2" "$? $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' o)"
for a in "--limit -1" "--limit 18446744073709551615" "--limit x" "--offset -1" \
	"--offset 18446744073709551615" "--offset 9223372036854775808"; do
	opt=${a% *}
	"$C" query --store "$S" $a >o 2>e
	check "query $a: exit 2, nothing listed, the option named" "2 0 1" \
		"$? $(wc -c <o) $(grep -c "CTRACE_E_USAGE: bad $opt '${a#* }': a whole number 0..9223372036854775807 wanted" e)"
done
"$C" list --store "$S" --offset -1 >o 2>e
check "list --offset -1: exit 2" 2 "$?"
"$C" query --store "$S" --offset 9223372036854775807 --json >o 2>e
check "query --offset INT64_MAX: no run, exit 0" "0 0" "$? $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' o)"
"$C" query --store "$S" --limit 1 --offset 1 --json >o 2>e
check "query --limit 1 --offset 1: the older run" "0 $older" \
	"$? $(python3 -c 'import json,sys; print(" ".join(r["run_id"] for r in json.load(open(sys.argv[1]))))' o)"

# ctrace serve: the same bounds as 400s
P=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$C" serve --store "$S" --listen "127.0.0.1:$P" 2>serve.err &
srv=$!
pids="$pids $srv"
i=0
while [ $i -lt 600 ] && ! grep -q "http://127.0.0.1:$P/" serve.err 2>/dev/null; do
	sleep 0.1
	i=$((i + 1))
done
status() { python3 - "$P" "$1" <<'PY'
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=60)
c.request("GET", sys.argv[2])
r = c.getresponse()
b = r.read()
try:
    j = json.loads(b)
except ValueError:
    j = {}
print(r.status, j.get("error", {}).get("code", "") if isinstance(j.get("error"), dict) else j.get("code", ""), len(j.get("runs", [])))
PY
}
check "serve: max_duration=0 is 400" 400 "$(status '/api/runs?max_duration=0' | cut -d' ' -f1)"
check "serve: offset=2^64-1 is 400" 400 "$(status '/api/runs?offset=18446744073709551615' | cut -d' ' -f1)"
check "serve: offset=1 lists one run" "200 1" "$(status '/api/runs?offset=1' | awk '{ print $1, $NF }')"
kill "$srv"
wait "$srv" 2>/dev/null

# show --out killed: the signal ends it, the temporary file goes, the old file stays.
# (A background command of a script starts with SIGINT ignored; python puts it back.)
dfl() { exec python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])' "$@"; }
for sig in INT:2 TERM:15 HUP:1; do
	num=${sig#*:}
	sig=${sig%:*}
	echo old >big.folded
	dfl "$C" show --store "$S" "$newer" --format folded --raw-times --out big.folded 2>show.err &
	p=$!
	pids="$pids $p"
	i=0
	while [ $i -lt 600 ] && ! ls big.folded.tmp-* >/dev/null 2>&1; do
		sleep 0.05
		i=$((i + 1))
	done
	# stopped while it writes (737 MB take seconds), then the signal: it acts on resuming
	kill -STOP "$p"
	tmp=$(ls big.folded.tmp-* 2>/dev/null | wc -l)
	kill -"$sig" "$p"
	kill -CONT "$p"
	wait "$p" 2>/dev/null
	rc=$?
	check "show --out killed by SIG$sig: dies of it, temp file removed, old file kept" \
		"1 $((128 + num)) 0 old" \
		"$tmp $rc $(ls big.folded.tmp-* 2>/dev/null | wc -l) $(head -c 3 big.folded)"
done
"$C" show --store "$S" "$older" --format folded --out small.folded 2>/dev/null
check "show --out unkilled: written, no temp file left" "0 0" "$? $(ls small.folded.tmp-* 2>/dev/null | wc -l)"

# six commits of one directory at once
"$C" record -n -d raw -- ./deeprec 30000 >/dev/null 2>&1
D=$(ls -d raw/*/)
rid=$(basename "$D")
for i in 1 2 3 4 5 6; do
	("$C" commit --store "sqlite:$T/c.db" "$D" >/dev/null 2>"c$i.err"; echo $? >"c$i.rc") &
done
wait
check "six concurrent commits all exit 0" "0 0 0 0 0 0" "$(cat c1.rc c2.rc c3.rc c4.rc c5.rc c6.rc | tr '\n' ' ' | sed 's/ $//')"
check "exactly one says committed" 1 "$(cat c?.err | grep -c "^ctrace: run $rid committed to")"
check "the five others say already committed, naming the run" 5 \
	"$(cat c?.err | grep -c "^ctrace: run $rid already committed to sqlite:$T/c.db (CTRACE_E_EXISTS): not saved twice$")"
check "nothing else printed" 6 "$(cat c?.err | wc -l)"
check "the store holds one run" "$rid" "$("$C" list --store "sqlite:$T/c.db" --json | python3 -c 'import json,sys; print(" ".join(r["run_id"] for r in json.load(sys.stdin)))')"
check "the directory is gone" 0 "$(ls raw | grep -c .)"
"$C" record -n -d raw -- ./deeprec 10 >/dev/null 2>&1
D=$(ls -d raw/*/)
"$C" commit --store "sqlite:$T/c.db" --keep "$D" 2>/dev/null
"$C" commit --store "sqlite:$T/c.db" "$D" 2>e
check "a second commit of a committed run: exit 0, already committed, directory removed" "0 1 0" \
	"$? $(grep -c "run $(basename "$D") already committed" e) $(ls raw | grep -c .)"
"$C" commit --store "sqlite:$T/c.db" "$D" 2>e
check "a commit of the removed directory of a committed run: already committed" "0 1" \
	"$? $(grep -c "run $(basename "$D") already committed" e)"
"$C" commit --store "sqlite:$T/c.db" raw/nothing-here 2>e
check "a missing directory of no stored run: CTRACE_E_NOT_FOUND (exit 1)" "1 1" \
	"$? $(grep -c "CTRACE_E_NOT_FOUND: 'raw/nothing-here' is not a run directory" e)"
summary test_cli_edges
