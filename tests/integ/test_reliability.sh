#!/bin/sh
# SPDX-License-Identifier: MIT
# Reliability and bad input: structured errors and exit statuses, a traced program's output
# and status left alone, bad and hostile input (torn or random event files, wrong versions,
# missing files, corrupt / read-only / newer stores, full disks, file-size limits), concurrent
# and killed commits, file modes and symlinks, setuid programs, SQL and markup injection, and
# stress runs with exact counts. Ends with a libFuzzer smoke run of every tests/fuzz harness.
#
# usage: tests/integ/test_reliability.sh [BUILD_DIR]     prints "ok NAME" / "FAIL NAME: why"
# Knobs: CTRACE_STRESS_CALLS (calls per thread in the 64-thread run, default 100000; the issue's
# full size is 1000000), CTRACE_KILL_ROUNDS (kill -9 rounds, default 50), FUZZ_SECONDS (per
# harness, default 5: a smoke run that each harness builds, runs and finds nothing; `make fuzz`
# is the fuzz run, 30 s a harness; 0 skips it), CTRACE_KEEP_TMP=1 (keep the scratch directory).
# Root is used, when available, for tmpfs mounts (full disks, read-only file systems) and
# setpriv (another user); those checks are skipped with a "skip" line otherwise.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
B=$(cd "${1:-build}" && pwd)
CTRACE=$B/ctrace
REPORT=$B/ctrace-report
LIB=$B/libctrace.so
P=$HERE/progs_rel
T=$(mktemp -d /tmp/ctrace-rel.XXXXXX)
MOUNTS=
cleanup() {
	for m in $MOUNTS; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
	chmod -R u+rwX "$T" 2>/dev/null
	if [ -n "${CTRACE_KEEP_TMP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
pass=0
fail=0
IS_ROOT=0
[ "$(id -u)" = 0 ] && IS_ROOT=1
N_STRESS=${CTRACE_STRESS_CALLS:-100000}
KILL_ROUNDS=${CTRACE_KILL_ROUNDS:-50}

ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
skip() { echo "skip $1: $2"; }
check() { # name expected actual
	if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "expected '$2', got '$3'"; fi
}
# Mounts a tmpfs of SIZE on a new directory DIR (root only); 0 on success.
mount_tmpfs() { # dir size [ro]
	mkdir -p "$1"
	[ "$IS_ROOT" = 1 ] || return 1
	mount -t tmpfs -o "size=$2${3:+,$3}" tmpfs "$1" 2>/dev/null || return 1
	MOUNTS="$1 $MOUNTS"
}
# Number of runs in store CONN, or "error" when it cannot be listed.
nruns() {
	"$CTRACE" list --json -s "$1" >"$T/nruns.out" 2>/dev/null || { echo error; return; }
	grep -c '^    "run_id":' "$T/nruns.out"
}
# The error_code of the JSON trailer (last line of FILE that is a JSON object), or why not.
json_code() {
	python3 - "$1" <<'PY'
import json, sys
lines = [l for l in open(sys.argv[1], errors="replace").read().splitlines() if l.startswith("{")]
if not lines:
    print("no-json-trailer"); sys.exit()
try:
    o = json.loads(lines[-1])
except ValueError as x:
    print("bad-json: %s" % x); sys.exit()
keys = {"error_code", "error_kind", "message", "context"}
if set(o) != keys or not isinstance(o["context"], dict) or not o["message"]:
    print("bad-trailer-keys: %s" % sorted(o)); sys.exit()
print(o["error_code"])
PY
}
# Events and lost events of the only/first run of store CONN: "EVENTS LOST".
run_counts() {
	"$CTRACE" list --json -s "$1" 2>/dev/null | python3 -c '
import json, sys
r = json.load(sys.stdin)
print("%d %d" % (r[0]["events"], r[0]["lost_events"]) if r else "none")'
}
# Calls of function NAME in run RUN of store CONN (ctrace-report --json).
calls_of() { # conn run name
	"$REPORT" "$2" --json --top 0 --min-percent 0 --store "$1" 2>/dev/null | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except ValueError:
    print("no-report"); sys.exit()
print(sum(f["calls"] for f in d["functions"] if f["name"] == sys.argv[1] or f["name"].startswith(sys.argv[1] + "(")))' "$3"
}

command -v python3 >/dev/null 2>&1 || { bad "setup" "python3 is needed"; exit 1; }
F="-O0 -g -finstrument-functions"
X=$T/bin
mkdir -p "$X"
gcc $F -o "$X/count" "$P/count.c" &&
	gcc -O0 -g -o "$X/count-plain" "$P/count.c" &&
	gcc $F -o "$X/fibn" "$P/fibn.c" &&
	gcc $F -pthread -o "$X/mt" "$P/mt.c" &&
	gcc $F -o "$X/forktree" "$P/forktree.c" &&
	g++ $F -o "$X/names" "$P/names.cc" &&
	gcc $F -pthread -o "$X/tname" "$P/tname.c" || { bad "build" "compilation failed"; exit 1; }
cd "$T" || exit 1

# ---- 1. structured errors, exit statuses, the program left alone ----------------------------

"$CTRACE" bogus >/dev/null 2>"$T/e"
check "usage error exits 2" 2 $?
check "usage error names its code" 1 "$(grep -c 'CTRACE_E_USAGE' "$T/e")"
"$CTRACE" list --limit >/dev/null 2>&1
check "missing option value exits 2" 2 $?
for v in "@1e300" "-99999999999h" "1e999" "2026-13-45" "@nan"; do # found by fuzz_filter
	"$CTRACE" --json-errors query -s "sqlite:$T/s1.db" --since "$v" >/dev/null 2>"$T/e"
	check "query --since '$v' is a usage error" "2 CTRACE_E_USAGE" "$? $(json_code "$T/e")"
done
"$CTRACE" --json-errors commit -s "sqlite:$T/s1.db" "$T/nonexistent" >/dev/null 2>"$T/e"
check "commit of a missing directory exits 1" 1 $?
check "--json-errors trailer parses (CTRACE_E_NOT_FOUND)" CTRACE_E_NOT_FOUND "$(json_code "$T/e")"
check "human line names the code" 1 "$(grep -c '^ctrace commit: CTRACE_E_NOT_FOUND: ' "$T/e")"
CTRACE_JSON_ERRORS=1 "$CTRACE" bogus >/dev/null 2>"$T/e"
check "CTRACE_JSON_ERRORS=1 trailer (usage)" CTRACE_E_USAGE "$(json_code "$T/e")"
"$CTRACE" list -s "sqlite:$T/s1.db" >/dev/null 2>"$T/e"
check "no JSON trailer unless asked" 0 "$(grep -c '^{' "$T/e")"
"$REPORT" --json-errors nosuchrun --store "sqlite:$T/s1.db" >/dev/null 2>"$T/e"
check "ctrace-report error exit 1" 1 $?
check "ctrace-report JSON trailer (not found)" CTRACE_E_NOT_FOUND "$(json_code "$T/e")"

codes=$(sed -n 's/.*{ *CTR_E[A-Z]*, *"\(CTRACE_E_[A-Z_]*\)", *"\([a-z_]*\)".*/\1|`\2`/p' "$ROOT/common/err.c")
check "common/err.c has the codes of the issue, CTRACE_E_AUTH (ctrace serve), CTRACE_E_PERM and CTRACE_E_TARGET (ctrace attach)" 14 "$(echo "$codes" | wc -l)"
missing=
for c in $codes; do # each code in the docs' table with its kind
	grep -q "^| \`${c%%|*}\` | ${c#*|} | [12] |" "$ROOT/docs/errors.md" 2>/dev/null || missing="$missing ${c%%|*}"
done
for v in CTRACE_LOG CTRACE_LOG_FILE CTRACE_JSON_ERRORS --json-errors error_code error_kind context; do
	grep -q -- "$v" "$ROOT/docs/errors.md" 2>/dev/null || missing="$missing $v"
done
check "docs/errors.md documents every code, kind, exit status, the trailer and the log" "" "$missing"

# the traced program's stdout and status are its own
"$X/count" 1000 0 200 >"$T/o.plain" 2>"$T/e.plain"
s_plain=$?
CTRACE_DIR=$T/d1 CTRACE_LOG=debug LD_PRELOAD=$LIB "$X/count" 1000 0 200 >"$T/o.pre" 2>"$T/e.pre"
s_pre=$?
"$CTRACE" record -d "$T/d1" -s "sqlite:$T/s1.db" -- "$X/count" 1000 0 200 >"$T/o.rec" 2>/dev/null
s_rec=$?
check "stdout byte-identical under the preload (CTRACE_LOG=debug)" yes "$(cmp -s "$T/o.plain" "$T/o.pre" && echo yes)"
check "stdout byte-identical under ctrace record" yes "$(cmp -s "$T/o.plain" "$T/o.rec" && echo yes)"
check "exit status 0 kept" "0 0 0" "$s_plain $s_pre $s_rec"
check "debug log only on stderr, program's stderr intact" 1 "$(grep -c '^count: done$' "$T/e.pre")"
for st in 3 77 term; do
	"$X/count" 10 $st >/dev/null 2>&1
	a=$?
	CTRACE_DIR=$T/d1 CTRACE_LOG=debug LD_PRELOAD=$LIB "$X/count" 10 $st >/dev/null 2>&1
	b=$?
	"$CTRACE" record -d "$T/d1" -s "sqlite:$T/s1.db" -- "$X/count" 10 $st >/dev/null 2>&1
	c=$?
	check "exit status '$st' identical (plain, preload, record)" "$a $a $a" "$a $b $c"
done
check "SIGTERM death is 143 through ctrace record" 143 "$c"
"$CTRACE" --json-errors record -d "$T/d2" -s "sqlite:$T/s1.db" -- "$T/no-such-program" >/dev/null 2>"$T/e"
check "record of a missing program exits 127" 127 $?
check "record of a missing program: CTRACE_E_NOT_FOUND" CTRACE_E_NOT_FOUND "$(json_code "$T/e")"
check "record of a missing program leaves no run directory" 0 "$(ls "$T/d2" 2>/dev/null | wc -l)"

# ---- 2. bad input ----------------------------------------------------------------------------

S=sqlite:$T/bad.db
"$CTRACE" record -d "$T/base" -n -- "$X/count" 1000 >/dev/null 2>&1
R0=$(ls -d "$T"/base/*/ | head -n 1)
R0=${R0%/}
"$CTRACE" record -s "$S" -- "$X/count" 5 >/dev/null 2>&1
check "bad-input store starts with one run" 1 "$(nruns "$S")"
EV0=$(basename "$(ls "$R0"/t-*.ev)")
LEAF=$("$CTRACE" dump "$R0" | awk '$4 == "enter" && $7 == "leaf" { print $6; exit }')

# bad_commit NAME CODE MUTATION...: copies the base run, applies MUTATION in it, commits it and
# expects exit 1 with CODE, the store unchanged and the raw directory kept.
bad_commit() {
	name=$1 code=$2
	shift 2
	rm -rf "$T/w"
	cp -a "$R0" "$T/w"
	(cd "$T/w" && eval "$@")
	"$CTRACE" --json-errors commit -s "$S" "$T/w" >/dev/null 2>"$T/e"
	rc=$?
	got=$(json_code "$T/e")
	if [ $rc -eq 1 ] && [ "$got" = "$code" ] && [ "$(nruns "$S")" = 1 ] && [ -f "$T/w/run.meta" ] &&
		! grep -q 'AddressSanitizer\|runtime error' "$T/e"; then
		ok "$name: $code, store unchanged, raw kept"
	else
		bad "$name" "exit $rc, code $got, runs $(nruns "$S"), raw $(ls "$T/w" | wc -l) files: $(head -c 300 "$T/e")"
	fi
}
sz=$(stat -c %s "$R0/$EV0")
bad_commit "event file truncated mid-event" CTRACE_E_FORMAT "truncate -s $((sz - 6)) $EV0"
bad_commit "event file truncated in its header" CTRACE_E_FORMAT "truncate -s 100 $EV0"
bad_commit "random bytes as an event file" CTRACE_E_FORMAT \
	"python3 -c 'import random,sys; random.seed(7); sys.stdout.buffer.write(bytes(random.getrandbits(8) for _ in range(65536)))' >$EV0"
bad_commit "random bytes behind a valid header" CTRACE_E_FORMAT \
	"python3 -c 'import random,sys; random.seed(9); d=open(\"$EV0\",\"rb\").read(128); sys.stdout.buffer.write(d[:48]+bytes(16)+d[64:]+bytes(random.getrandbits(8) for _ in range(4096)))' >$EV0.new && mv $EV0.new $EV0"
bad_commit "wrong magic" CTRACE_E_FORMAT "printf XTRACEV | dd of=$EV0 conv=notrunc 2>/dev/null"
check "JSON context names the bad event file and the run" "$T/w/$EV0 $(sed -n 's/^id=//p' "$R0/run.meta")" \
	"$(python3 -c 'import json,sys; c=json.loads(open(sys.argv[1]).read().splitlines()[-1])["context"]; print(c.get("path"), c.get("run_id"))' "$T/e")"
bad_commit "wrong event format version" CTRACE_E_VERSION "printf '\\011' | dd of=$EV0 bs=1 seek=8 conv=notrunc 2>/dev/null"
bad_commit "wrong run.meta version" CTRACE_E_VERSION "sed -i '1s/.*/ctrace-run 9/' run.meta"
bad_commit "newer process file version" CTRACE_E_VERSION "sed -i '1s/.*/ctrace-proc 2/' p-*.meta"
bad_commit "missing module map" CTRACE_E_FORMAT "rm p-*.maps"
bad_commit "missing process file" CTRACE_E_FORMAT "rm p-*.meta"
bad_commit "not a run file" CTRACE_E_FORMAT "echo garbage >run.meta"

# A killed writer leaves a torn last record in an unclosed file: recovered, not refused.
rm -rf "$T/w" && cp -a "$R0" "$T/w"
python3 - "$T/w/$EV0" <<'PY'
import struct, sys
p = sys.argv[1]
d = bytearray(open(p, "rb").read())
flags, = struct.unpack_from("<I", d, 12)
struct.pack_into("<I", d, 12, flags & ~2)          # not closed
struct.pack_into("<Q", d, 48, 0)                   # no end offset
open(p, "wb").write(d[:len(d) - 2])                # cut inside the last word
PY
"$CTRACE" commit -s "sqlite:$T/torn.db" "$T/w" >/dev/null 2>"$T/e"
check "unclosed file with a torn last record commits" 0 $?
check "torn file: every whole call kept" 1000 "$(calls_of "sqlite:$T/torn.db" latest leaf)"

# Hand-made streams: extra exits are dropped, missing exits close at the last event.
craft() { # out.ev words...
	python3 - "$R0/$EV0" "$@" <<'PY'
import struct, sys
hdr = bytearray(open(sys.argv[1], "rb").read(128))
struct.pack_into("<I", hdr, 12, 1)                 # TSC, not closed: read to the zero word
struct.pack_into("<Q", hdr, 48, 0)
words = [int(w, 0) for w in sys.argv[3:]]
open(sys.argv[2], "wb").write(bytes(hdr) + struct.pack("<%dI" % len(words), *words) + bytes(64))
PY
}
T0="0x204 1000 0" # TIME 1000
DEF="0x40208 $(printf '%d %d' $((LEAF & 0xffffffff)) $((LEAF >> 32)))" # DEFINE slot 4 = leaf
EN=0x00100012 # ENTER slot 4, delta 16
EXW=0x21 # EXIT delta 16
rm -rf "$T/w" && cp -a "$R0" "$T/w"
craft "$T/w/$EV0" $T0 $DEF $EN $EXW $EXW $EN $EXW $EXW $EXW $EN $EXW
"$CTRACE" commit -s "sqlite:$T/unbal.db" "$T/w" >/dev/null 2>"$T/e"
check "extra exits: commit succeeds" 0 $?
check "extra exits: 3 calls of leaf" 3 "$(calls_of "sqlite:$T/unbal.db" latest leaf)"
rm -rf "$T/w" && cp -a "$R0" "$T/w"
craft "$T/w/$EV0" $T0 $DEF $EN $EN $EN $EXW
"$CTRACE" commit -k -s "sqlite:$T/unbal2.db" "$T/w" >/dev/null 2>"$T/e"
check "missing exits: commit succeeds" 0 $?
check "missing exits: 3 calls of leaf" 3 "$(calls_of "sqlite:$T/unbal2.db" latest leaf)"
"$CTRACE" dump "$T/w" >"$T/dump" 2>&1
check "dump of an unbalanced stream shows every event" "3 enter 1 exit" \
	"$(grep -c ' enter ' "$T/dump") enter $(grep -c ' exit ' "$T/dump") exit"

# thread names (pthread_setname_np) are ordinary records
"$CTRACE" record -s "sqlite:$T/tn.db" -- "$X/tname" >/dev/null 2>"$T/e"
check "a run with a thread name commits" 1 "$(nruns "sqlite:$T/tn.db")"
check "thread name kept" yes "$("$REPORT" --json --store "sqlite:$T/tn.db" 2>/dev/null | grep -q '"name": "renamed"' && echo yes)"

# the executable is gone before commit: functions stay module+offset
cp "$X/count" "$T/gone"
"$CTRACE" record -d "$T/gd" -n -- "$T/gone" 50 >/dev/null 2>&1
rm -f "$T/gone"
"$CTRACE" commit -s "sqlite:$T/gone.db" "$T"/gd/* >/dev/null 2>"$T/e"
check "missing binary: commit works" 0 $?
check "missing binary: main and leaf unresolved as module+offset (1 and 50 calls)" "1 50" \
	"$("$REPORT" --json --top 0 --min-percent 0 --store "sqlite:$T/gone.db" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(*sorted(f["calls"] for f in d["functions"] if f["name"].startswith("gone+0x")))')"

# an uninstrumented program
"$CTRACE" --json-errors record -d "$T/d3" -s "$S" -- "$X/count-plain" 10 4 >"$T/o" 2>"$T/e"
check "uninstrumented program: record exits with its status" 4 $?
check "uninstrumented program: CTRACE_E_NO_EVENTS" CTRACE_E_NO_EVENTS "$(json_code "$T/e")"
check "uninstrumented program: message says why" 1 "$(grep -c '^ctrace record: CTRACE_E_NO_EVENTS: no events recorded: was .*count-plain.* compiled with -finstrument-functions?' "$T/e")"
check "uninstrumented program: output intact, store unchanged" "3 1" "$(wc -l <"$T/o") $(nruns "$S")"

# stores that cannot take a run
rm -rf "$T/w" && cp -a "$R0" "$T/w"
python3 -c 'import random,sys; random.seed(3); sys.stdout.buffer.write(bytes(random.getrandbits(8) for _ in range(20000)))' >"$T/junk.db"
"$CTRACE" --json-errors list -s "sqlite:$T/junk.db" >/dev/null 2>"$T/e"
check "random bytes as a store: list fails with CTRACE_E_STORE" "1 CTRACE_E_STORE" "$? $(json_code "$T/e")"
"$CTRACE" --json-errors commit -s "sqlite:$T/junk.db" "$T/w" >/dev/null 2>"$T/e"
check "random bytes as a store: commit fails, raw kept" "1 CTRACE_E_STORE yes" "$? $(json_code "$T/e") $([ -f "$T/w/run.meta" ] && echo yes)"
cp "$T/bad.db" "$T/pages.db"
sqlite3 "$T/pages.db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null 2>&1 ||
	python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("PRAGMA wal_checkpoint(TRUNCATE)"); c.close()' "$T/pages.db"
cp "$T/bad.db-wal" "$T/pages.db-wal" 2>/dev/null
python3 - "$T/pages.db" <<'PY'
import random, sys, os
random.seed(5)
p = sys.argv[1]
n = os.path.getsize(p) // 4096
with open(p, "r+b") as f:
    for pg in range(1, n):
        f.seek(pg * 4096)
        f.write(bytes(random.getrandbits(8) for _ in range(4096)))
PY
rm -f "$T/pages.db-wal" "$T/pages.db-shm"
"$CTRACE" --json-errors list -s "sqlite:$T/pages.db" >/dev/null 2>"$T/e"
check "store with corrupt pages: list fails with CTRACE_E_STORE" "1 CTRACE_E_STORE" "$? $(json_code "$T/e")"
"$REPORT" --json-errors --store "sqlite:$T/pages.db" >/dev/null 2>"$T/e"
check "store with corrupt pages: report fails with CTRACE_E_STORE" "1 CTRACE_E_STORE" "$? $(json_code "$T/e")"
printf '{"id": "x", "v": 1, "command": \n' >"$T/bad.jsonl"
"$CTRACE" --json-errors list -s "jsonl:$T/bad.jsonl" >/dev/null 2>"$T/e"
check "corrupt JSONL store: list fails with CTRACE_E_FORMAT" "1 CTRACE_E_FORMAT" "$? $(json_code "$T/e")"

cp "$T/bad.db" "$T/newer.db"
cp "$T/bad.db-wal" "$T/newer.db-wal" 2>/dev/null
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("PRAGMA user_version = 9999"); c.commit(); c.close()' "$T/newer.db"
"$CTRACE" --json-errors list -s "sqlite:$T/newer.db" >/dev/null 2>"$T/e"
check "newer store schema: list fails with CTRACE_E_VERSION" "1 CTRACE_E_VERSION" "$? $(json_code "$T/e")"
"$CTRACE" --json-errors commit -s "sqlite:$T/newer.db" "$T/w" >/dev/null 2>"$T/e"
check "newer store schema: commit fails, raw kept" "1 CTRACE_E_VERSION yes" "$? $(json_code "$T/e") $([ -f "$T/w/run.meta" ] && echo yes)"
check "newer store schema: left at its version" 9999 "$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA user_version").fetchone()[0])' "$T/newer.db")"

# a read-only store file (as another user when root: root writes through file modes)
mkdir -p "$T/ro"
"$CTRACE" record -s "sqlite:$T/ro/s.db" -- "$X/count" 5 >/dev/null 2>&1
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("PRAGMA wal_checkpoint(TRUNCATE)"); c.close()' "$T/ro/s.db"
rm -rf "$T/w" && cp -a "$R0" "$T/w"
AS=
if [ "$IS_ROOT" = 1 ] && command -v setpriv >/dev/null 2>&1; then
	chown -R nobody "$T/ro" "$T/w"
	chmod 755 "$T"
	AS="setpriv --reuid=65534 --regid=65534 --clear-groups"
fi
chmod 0444 "$T/ro/s.db"
$AS "$CTRACE" --json-errors commit -s "sqlite:$T/ro/s.db" "$T/w" >/dev/null 2>"$T/e"
check "read-only store: commit fails with CTRACE_E_STORE" "1 CTRACE_E_STORE" "$? $(json_code "$T/e")"
check "read-only store: still one run, raw kept" "1 yes" "$($AS "$CTRACE" list --json -s "sqlite:$T/ro/s.db" 2>/dev/null | grep -c '^    "run_id":') $([ -f "$T/w/run.meta" ] && echo yes)"
chmod 0644 "$T/ro/s.db"

# the trace directory cannot be written: the program runs as usual, the log says why
if mount_tmpfs "$T/rofs" 64k ro; then
	UNW=$T/rofs/traces
else
	UNW=/dev/null/traces # not a directory
fi
CTRACE_DIR=$UNW CTRACE_LOG_FILE=$T/log1 LD_PRELOAD=$LIB "$X/count" 1000 5 200 >"$T/o" 2>"$T/e"
check "unwritable trace dir: program status kept" 5 $?
check "unwritable trace dir: output byte-identical" yes "$(cmp -s "$T/o.plain" "$T/o" && echo yes)"
check "unwritable trace dir: program's stderr untouched" "count: done" "$(cat "$T/e")"
check "unwritable trace dir: CTRACE_LOG_FILE says why" 1 "$(grep -c "cannot use trace directory '$UNW'" "$T/log1")"
"$CTRACE" record -d "$UNW" -s "$S" -- "$X/count" 10 >/dev/null 2>"$T/e"
check "record into an unwritable trace dir: CTRACE_E_IO, exit 1" "1 1" "$? $(grep -c 'CTRACE_E_IO' "$T/e")"

# a full disk while recording: events are counted lost, the program is unharmed
NFULL=1000000
if mount_tmpfs "$T/full" 2m; then
	CTRACE_DIR=$T/full LD_PRELOAD=$LIB "$X/count" $NFULL 0 3 >"$T/o" 2>"$T/e"
	check "full disk: program status 0 and its output" "0 line 2 of 3" "$? $(tail -n 1 "$T/o" | cut -d: -f1)"
	"$CTRACE" commit -s "sqlite:$T/full.db" "$T"/full/* >/dev/null 2>&1
	set -- $(run_counts "sqlite:$T/full.db")
	check "full disk: recorded + lost == 2 per call" $((2 * NFULL + 2)) "$(($1 + ${2:-0}))"
	check "full disk: some events recorded, some lost" "yes yes" "$([ "$1" -gt 0 ] && echo yes) $([ "${2:-0}" -gt 0 ] && echo yes)"
	check "full disk: the log says why" 1 "$(grep -c 'No space left on device' "$T/e")"
else
	skip "full disk while recording" "cannot mount a tmpfs (not root?)"
fi

# a full disk while committing: the store is unchanged and the raw directory kept
if mount_tmpfs "$T/fullst" 600k; then
	"$CTRACE" record -s "sqlite:$T/fullst/s.db" -- "$X/count" 5 >/dev/null 2>&1
	"$CTRACE" record -d "$T/big" -n -- "$X/fibn" 27 >/dev/null 2>&1
	"$CTRACE" --json-errors commit -s "sqlite:$T/fullst/s.db" "$T"/big/* >/dev/null 2>"$T/e"
	check "full disk at commit: CTRACE_E_STORE" "1 CTRACE_E_STORE" "$? $(json_code "$T/e")"
	check "full disk at commit: store still opens with its one run" 1 "$(nruns "sqlite:$T/fullst/s.db")"
	check "full disk at commit: raw directory kept" 1 "$(ls "$T"/big/*/run.meta 2>/dev/null | wc -l)"
else
	skip "full disk while committing" "cannot mount a tmpfs (not root?)"
fi

# ---- 4. concurrency and faults ---------------------------------------------------------------

C=sqlite:$T/conc.db
"$CTRACE" record -d "$T/c1" -n -- "$X/fibn" 25 >/dev/null 2>&1
"$CTRACE" record -d "$T/c2" -n -- "$X/fibn" 25 >/dev/null 2>&1
"$CTRACE" record -s "$C" -- "$X/count" 3 >/dev/null 2>&1
"$CTRACE" commit -s "$C" "$T"/c1/* >/dev/null 2>"$T/e1" &
p1=$!
"$CTRACE" commit -s "$C" "$T"/c2/* >/dev/null 2>"$T/e2" &
p2=$!
lists=0 lbad=0
while kill -0 $p1 2>/dev/null || kill -0 $p2 2>/dev/null; do
	"$CTRACE" list -s "$C" >/dev/null 2>>"$T/el" || lbad=$((lbad + 1))
	lists=$((lists + 1))
done
wait $p1
r1=$?
wait $p2
r2=$?
check "two commits into one SQLite store at once both succeed" "0 0" "$r1 $r2"
check "both runs landed" 3 "$(nruns "$C")"
check "readers during the commits never failed ($lists lists)" 0 "$lbad"

# kill -9 at random points of a commit: every run whole or absent, raw data of absent ones kept
K=sqlite:$T/kill.db
"$CTRACE" record -d "$T/kraw" -n -- "$X/fibn" 30 >/dev/null 2>&1
KR=$(ls -d "$T"/kraw/*/ | head -n 1)
KR=${KR%/}
"$CTRACE" commit -k -s "sqlite:$T/kref.db" "$KR" >/dev/null 2>&1
REF_EVENTS=$(run_counts "sqlite:$T/kref.db" | cut -d' ' -f1)
REF_FIB=$(calls_of "sqlite:$T/kref.db" latest fib)
check "kill test reference run: fib(30) calls" 2692537 "$REF_FIB"
mkdir -p "$T/kw"
i=0
kfail=0
while [ $i -lt "$KILL_ROUNDS" ]; do
	id=$(printf '20260101T000000-%06x' $i)
	w=$T/kw/$id
	cp -a "$KR" "$w"
	sed -i "s/^id=.*/id=$id/" "$w/run.meta"
	"$CTRACE" commit -s "$K" "$w" >/dev/null 2>&1 &
	pid=$!
	sleep "$(awk -v s=$i 'BEGIN { srand(s * 7919 + 1); printf "%.3f", rand() * 0.3 }')"
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	n=$(nruns "$K")
	[ "$n" = error ] && { kfail=$((kfail + 1)); bad "kill -9 round $i" "store does not open"; }
	i=$((i + 1))
done
check "store opens after every kill -9 ($KILL_ROUNDS rounds)" 0 "$kfail"
"$CTRACE" list --json -s "$K" >"$T/klist" 2>/dev/null
python3 - "$T/klist" "$T/kw" "$REF_EVENTS" "$KILL_ROUNDS" >"$T/kcheck" <<'PY'
import json, os, sys
runs = json.load(open(sys.argv[1]))
ids = [r["run_id"] for r in runs]
bad = [r["run_id"] for r in runs if r["events"] != int(sys.argv[3])]
absent = ["20260101T000000-%06x" % i for i in range(int(sys.argv[4]))]
absent = [a for a in absent if a not in ids]
lost = [a for a in absent if not os.path.isfile(os.path.join(sys.argv[2], a, "run.meta"))]
print(len(ids), len(set(ids)), len(bad), len(absent), len(lost))
PY
set -- $(cat "$T/kcheck")
echo "     (kill -9: ${1:-?} of $KILL_ROUNDS runs landed before their commit was killed)"
check "killed commits: no duplicate ids" "$1" "$2"
check "killed commits: every stored run is whole (event count)" 0 "$3"
check "killed commits: raw data of every absent run is still there" 0 "$5"
wholebad=0
for id in $("$CTRACE" list --json -s "$K" | sed -n 's/^    "run_id": "\(.*\)",$/\1/p' | head -n 5); do
	[ "$(calls_of "$K" "$id" fib)" = "$REF_FIB" ] || wholebad=$((wholebad + 1))
done
check "killed commits: stored runs have every fib call" 0 "$wholebad"
"$CTRACE" commit -s "$K" "$T"/kw/* >/dev/null 2>"$T/e"
check "committing again afterwards: exit 0 (a kill while removing a committed raw directory must not leave a half directory)" \
	"0 0" "$? $(grep -c 'not a run directory' "$T/e")"
check "committing again afterwards: exactly one copy of each run" "$KILL_ROUNDS $KILL_ROUNDS" \
	"$(nruns "$K") $("$CTRACE" list --json -s "$K" | sed -n 's/^    "run_id": "\(.*\)",$/\1/p' | sort -u | wc -l)"
check "committing again afterwards: raw directories removed" 0 "$(ls "$T/kw" | wc -l)"

# The same, deterministic: a removal that fails midway (here: a file that cannot be unlinked)
# must leave a directory that is still a run, so committing it again finishes the job.
if [ "$IS_ROOT" = 1 ]; then
	rm -rf "$T/rmw" && cp -a "$R0" "$T/rmw"
	touch "$T/rmw/busy"
	mount --bind /dev/null "$T/rmw/busy" 2>/dev/null && MOUNTS="$T/rmw/busy $MOUNTS"
	"$CTRACE" commit -s "sqlite:$T/rm.db" "$T/rmw" >/dev/null 2>"$T/e"
	check "a committed raw directory that cannot be removed: warning, exit 0" "0 1" \
		"$? $(grep -c 'warning: committed, but cannot remove' "$T/e")"
	umount "$T/rmw/busy" 2>/dev/null
	check "interrupted removal of a committed raw directory keeps run.meta" yes \
		"$([ -f "$T/rmw/run.meta" ] && echo yes)"
fi

# ---- 5. security -----------------------------------------------------------------------------

rm -rf "$T/sec"
CTRACE_DIR=$T/sec LD_PRELOAD=$LIB "$X/count" 10 >/dev/null 2>&1
SR=$(ls -d "$T"/sec/*/ | head -n 1)
check "trace parent and run directory are 0700" "700 700" "$(stat -c %a "$T/sec") $(stat -c %a "$SR")"
check "every file of the run is 0600" "" "$(find "$SR" -type f ! -perm 0600)"
(umask 0; CTRACE_DIR=$T/sec2 LD_PRELOAD=$LIB "$X/count" 10 >/dev/null 2>&1)
check "modes hold with umask 0" "700 " "$(stat -c %a "$T/sec2") $(find "$T/sec2" \( -type f ! -perm 0600 \) -o \( -type d ! -perm 0700 \))"

mkdir -p "$T/target"
ln -s "$T/target" "$T/link"
CTRACE_DIR=$T/link LD_PRELOAD=$LIB "$X/count" 10 >"$T/o" 2>"$T/e"
check "symlinked trace parent refused (preload): program still runs" "0 3" "$? $(wc -l <"$T/o")"
check "symlinked trace parent refused (preload): nothing written" "0 1" "$(ls "$T/target" | wc -l) $(grep -c 'symlink' "$T/e")"
"$CTRACE" record -d "$T/link" -s "$S" -- "$X/count" 10 >/dev/null 2>"$T/e"
check "symlinked trace parent refused (record)" "1 0" "$? $(ls "$T/target" | wc -l)"
mkdir -p "$T/runs" "$T/elsewhere"
ln -s "$T/elsewhere" "$T/runs/20260101T000000-abcdef"
CTRACE_RUN_DIR=$T/runs/20260101T000000-abcdef LD_PRELOAD=$LIB "$X/count" 10 >/dev/null 2>"$T/e"
check "symlinked run directory refused" "0 1" "$(ls "$T/elsewhere" | wc -l) $(grep -c 'not recording' "$T/e")"

# setuid: the preload does nothing (AT_SECURE). Linked in directly, since the loader drops
# LD_PRELOAD for secure programs anyway.
if [ "$IS_ROOT" = 1 ]; then
	mkdir -p "$T/suid" "$T/suidtraces"
	chmod 755 "$T" "$T/suid"
	chmod 1777 "$T/suidtraces"
	gcc $F -o "$T/suid/count" "$P/count.c" -L"$B" -Wl,-rpath,"$B" -l:libctrace.so
	CTRACE_DIR=$T/suidtraces "$T/suid/count" 10 >/dev/null 2>&1
	check "linked-in recorder records a normal run (control)" 1 "$(ls "$T/suidtraces" | wc -l)"
	rm -rf "$T/suidtraces"/*
	chown nobody "$T/suid/count"
	chmod u+s "$T/suid/count"
	CTRACE_DIR=$T/suidtraces "$T/suid/count" 10 7 >"$T/o" 2>/dev/null
	check "setuid program: runs as usual" "7 3" "$? $(wc -l <"$T/o")"
	check "setuid program: no run directory" 0 "$(ls "$T/suidtraces" | wc -l)"
else
	skip "setuid program" "needs root to make a setuid copy"
fi

CTRACE_WINDOW_KB=abc CTRACE_LOG=bogus CTRACE_DIR=$T/envs LD_PRELOAD=$LIB "$X/count" 100 >"$T/o" 2>"$T/e"
check "bad CTRACE_* values: program fine" "0 3" "$? $(wc -l <"$T/o")"
check "bad CTRACE_* values: logged as errors" 2 "$(grep -c "invalid CTRACE_WINDOW_KB='abc'\|invalid CTRACE_LOG='bogus'" "$T/e")"
"$CTRACE" dump "$T"/envs/* >"$T/dump" 2>&1
check "bad CTRACE_* values: still recorded with defaults" 100 "$(awk '$4 == "enter" && $7 == "leaf"' "$T/dump" | wc -l)"
for kv in CTRACE_WINDOW_KB=-1 CTRACE_WINDOW_MAX_KB=99999999999999999999 CTRACE_TSC_HZ=0x CTRACE_LOG_FILE=/dev/null/x CTRACE_OVERHEAD=nan,zz; do
	env "$kv" CTRACE_DIR="$T/envs2" LD_PRELOAD="$LIB" "$X/count" 100 >"$T/o" 2>/dev/null
	check "bad $kv: no crash" "0 3" "$? $(wc -l <"$T/o")"
done

# SQL only with bound parameters
# every SQL text formatted at run time, string literals removed: only constants may remain
sqlfmt=$(awk '/snprintf\(sql/ { s = 1 } s { buf = buf $0 } s && /;[ \t]*$/ { print buf; buf = ""; s = 0 }' "$ROOT"/store/*.c |
	sed 's/"[^"]*"//g' | grep -E -- '->|\b(id|spec|name|command|key|value|path|filter|f|r|run|meta)\b')
check "store/: no SQL formatted from data" "" "$sqlfmt"
check "store/: no sqlite3_mprintf" "" "$(grep -n 'sqlite3_v\?mprintf\|sqlite3_snprintf' "$ROOT"/store/*.c)"
cat >"$T/inj.sh" <<'EOF'
#!/bin/sh
exec "$@"
EOF
chmod +x "$T/inj.sh"
INJ="'; DROP TABLE runs; --"
"$CTRACE" record -s "sqlite:$T/inj.db" -m "k=v'\"); DELETE FROM runs; --" -- "$X/count" 5 "0" 3 "$INJ" >/dev/null 2>&1
"$CTRACE" record -s "sqlite:$T/inj.db" -- "$X/count" 6 0 3 "x\" OR 1=1 --" >/dev/null 2>&1
check "quotes in commands: both runs stored" 2 "$(nruns "sqlite:$T/inj.db")"
check "quotes in commands: command kept verbatim" 1 "$("$CTRACE" list --json -s "sqlite:$T/inj.db" | python3 -c '
import json, sys
print(sum(1 for r in json.load(sys.stdin) if r["command"].endswith(sys.argv[1])))' "$INJ")"
"$CTRACE" query -s "sqlite:$T/inj.db" --command "$INJ" --json >"$T/q" 2>&1
check "query with quotes matches exactly one run" 1 "$(grep -c '^    "run_id":' "$T/q")"
"$CTRACE" query -s "sqlite:$T/inj.db" --meta "k=v'\"); DELETE FROM runs; --" --json >"$T/q" 2>&1
check "meta filter with quotes matches exactly one run" 1 "$(grep -c '^    "run_id":' "$T/q")"
check "runs table intact" 2 "$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM runs").fetchone()[0])' "$T/inj.db")"

# exports escape every string: C++ names with < and &, a command with markup
"$CTRACE" record -s "sqlite:$T/x.db" -- "$X/names" "</script><img src=x onerror=alert(1)>&amp" >/dev/null 2>&1
for fmt in svg html; do
	"$REPORT" --format $fmt --store "sqlite:$T/x.db" --out "$T/x.$fmt" >/dev/null 2>"$T/e"
	check "$fmt export written" 0 $?
	check "$fmt export: no raw '<img' or '</script><'" 0 "$(grep -c '<img\|</script><' "$T/x.$fmt")"
	check "$fmt export: no raw 'Box<std'" 0 "$(grep -c 'Box<std' "$T/x.$fmt")"
	check "$fmt export: by_ref(int&, ...) escaped" yes "$(grep -q 'by_ref(int&amp;\|by_ref(int\\u0026' "$T/x.$fmt" && echo yes)"
done
check "svg export is well-formed XML" ok "$(python3 -c '
import sys, xml.dom.minidom
xml.dom.minidom.parse(sys.argv[1]); print("ok")' "$T/x.svg" 2>&1 | tail -n 1)"

# ---- 6. stress -------------------------------------------------------------------------------

"$CTRACE" record -s "sqlite:$T/mt.db" -- "$X/mt" 64 "$N_STRESS" >"$T/o" 2>"$T/e"
check "64 threads x $N_STRESS: program ok" "0 64 threads x $N_STRESS calls" "$? $(cat "$T/o")"
"$REPORT" --json --top 0 --min-percent 0 --store "sqlite:$T/mt.db" >"$T/mt.json" 2>&1
python3 - "$T/mt.json" "$N_STRESS" >"$T/mtcheck" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
leaf = sum(f["calls"] for f in d["functions"] if f["name"] == "leaf")
workers = [t for t in d["threads"] if t["events"] == 2 * n + 2]
print(leaf, len(workers), d["lost_events"])
PY
check "64 threads: leaf entered 64 x N times, 64 threads with 2N+2 events each, none lost" \
	"$((64 * N_STRESS)) 64 0" "$(cat "$T/mtcheck")"

CTRACE_DIR=$T/ft LD_PRELOAD=$LIB "$X/forktree" 10 >"$T/o" 2>"$T/e"
check "fork tree of depth 10: all exit 0" "0 11" "$? $(wc -l <"$T/o")"
FR=$(ls -d "$T"/ft/*/ | head -n 1)
check "fork tree: 11 process files" 11 "$(ls "$FR" | grep -c '^p-.*\.meta$')"
"$CTRACE" dump "$FR" >"$T/ftdump" 2>&1
# expected per pid from the program's own output: level L calls work() 100 (L + 1) times
exp=$(awk '{ print $4, 100 * ($2 + 1) }' "$T/o" | sort)
got=$(awk '$4 == "enter" && $7 == "work" { n[$1]++ } END { for (p in n) print p, n[p] }' "$T/ftdump" | sort)
check "fork tree: exact work() count in every process" "$exp" "$got"
check "fork tree: every process inherits main" 10 "$(awk '$4 == "inherit" && $7 == "main"' "$T/ftdump" | wc -l)"

NL=200000
(ulimit -f 2048 && CTRACE_DIR=$T/fs LD_PRELOAD=$LIB "$X/count" $NL 0 3 >"$T/o" 2>"$T/e")
check "file-size limit: program unharmed" "0 3" "$? $(wc -l <"$T/o")"
"$CTRACE" commit -s "sqlite:$T/fs.db" "$T"/fs/* >/dev/null 2>&1
set -- $(run_counts "sqlite:$T/fs.db")
check "file-size limit: recorded + lost == 2 per call" $((2 * NL + 2)) "$(($1 + ${2:-0}))"
check "file-size limit: events were lost and counted" yes "$([ "${2:-0}" -gt 0 ] && echo yes)"
(ulimit -f 65536 && CTRACE_DIR=$T/fs2 LD_PRELOAD=$LIB "$X/count" $NL 0 3 >/dev/null 2>&1)
"$CTRACE" commit -s "sqlite:$T/fs2.db" "$T"/fs2/* >/dev/null 2>&1
check "file-size limit with room: exact counts, nothing lost" "$((2 * NL + 2)) 0" "$(run_counts "sqlite:$T/fs2.db")"

# ---- 3. fuzz smoke ---------------------------------------------------------------------------

FS=${FUZZ_SECONDS:-5}
if [ "$FS" = 0 ]; then
	skip "fuzz smoke" "FUZZ_SECONDS=0"
elif ! command -v clang >/dev/null 2>&1 || ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
	clang -x c -fsanitize=fuzzer -o "$T/fz" - >/dev/null 2>&1; then
	skip "fuzz smoke" "clang with libFuzzer not available"
else
	# the harnesses' scratch directories (tests/fuzz/fuzz-tmp.h) go under $T, even after a crash
	mkdir -p "$T/fuzztmp"
	TMPDIR=$T/fuzztmp make -C "$ROOT" --no-print-directory BUILD="$B" FUZZ_SECONDS="$FS" fuzz >"$T/fuzz.log" 2>&1
	rc=$?
	for h in "$ROOT"/tests/fuzz/fuzz_*.c; do
		n=$(basename "$h" .c)
		if grep -q "FUZZ .*/$n for" "$T/fuzz.log" && ! grep -q "fuzz: .*/$n failed" "$T/fuzz.log" &&
			[ $rc -eq 0 ]; then
			ok "fuzz $n ran $FS s clean ($(grep -A1 "/$n for" "$T/fuzz.log" | sed -n 's/.*number_of_executed_units: *\([0-9]*\).*/\1/p') runs)"
		elif grep -q "FUZZ .*/$n for" "$T/fuzz.log"; then
			bad "fuzz $n" "$(grep -A1 "fuzz: .*/$n failed" "$T/fuzz.log" | head -n 1); see $B/fuzz/"
		else
			bad "fuzz $n" "did not run: $(tail -n 3 "$T/fuzz.log" | tr '\n' ' ')"
		fi
	done
fi

echo "reliability: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
