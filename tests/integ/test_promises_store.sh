#!/bin/sh
# SPDX-License-Identifier: MIT
# Issue 16, the commit and store promises, attacked as root against a test user's files: run
# directories swapped for a symlink during a commit, foreign or planted ./ctrace.data, planted
# symlinks / FIFOs / /dev/zero in a run directory, store symlinks and modes, concurrent JSONL
# commits, over-long run ids, foreign and read-only SQLite stores, reversed module ranges and
# time going backwards. Needs root (it creates a test user and removes it at the end); prints
# "skip" lines otherwise. usage: tests/integ/test_promises_store.sh [BUILD_DIR]
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
B=$(cd "${1:-build}" && pwd)
C=$B/ctrace
REPORT=$B/ctrace-report
T=$(mktemp -d /tmp/ctrace-promises.XXXXXX)
TU=
cleanup() {
	[ -n "$TU" ] && userdel "$TU" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
skip() { echo "skip $1: $2"; }
# How root asks to commit a user's run; CTRACE_TEST_FOREIGN= (empty) runs the attacks against a
# ctrace from before the flag existed.
FOREIGN=${CTRACE_TEST_FOREIGN---allow-foreign-owner}

if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null 2>&1 || ! command -v useradd >/dev/null 2>&1; then
	skip "promises store" "needs root, setpriv and useradd"
	# ---- metadata keys cannot forge other fields (issue 24): a newline, '=' or nothing ----
nl='
'
"$C" --json-errors record -s "sqlite:$T/m24.db" -d "$T/m24" -m "x${nl}host=EVIL" -- ./count 10 >/dev/null 2>"$T/e"
check "record -m with a newline in the key: usage error, nothing recorded" "2 CTRACE_E_USAGE 0" \
	"$? $(code "$T/e") $(ls "$T/m24" 2>/dev/null | wc -l)"
"$C" record -s "sqlite:$T/m24.db" -d "$T/m24" -m "=v" -- ./count 10 >/dev/null 2>&1
check "record -m with an empty key: usage error" 2 "$?"
"$C" record -s "sqlite:$T/m24.db" -d "$T/m24" -m "a b=c=d" -- ./count 10 >/dev/null 2>&1
check "a key with a space and a value with '=' are kept as given" "0 a b=c=d" \
	"$? $("$C" show -s "sqlite:$T/m24.db" latest | sed -n 's/^  \(a b=.*\)/\1/p')"
R=$(raw_run "$T/m24raw" 10)
"$C" --json-errors commit -s "sqlite:$T/m24.db" --meta "k${nl}host=EVIL" "$R" >/dev/null 2>"$T/e"
check "commit --meta with a newline in the key: usage error, the run kept raw" "2 CTRACE_E_USAGE yes" \
	"$? $(code "$T/e") $([ -f "$R/run.meta" ] && echo yes)"
CTRACE_META="ok=1,x${nl}host=EVIL=2" "$C" record -s "sqlite:$T/m25.db" -d "$T/m25" -- ./count 10 >/dev/null 2>&1
check "CTRACE_META: a key with a newline is dropped, the host stays real" "ok=1 $(hostname)" \
	"$("$C" show -s "sqlite:$T/m25.db" latest | sed -n 's/^  \(ok=.*\)/\1/p') $("$C" list --json -s "sqlite:$T/m25.db" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["host"])')"
"$C" export -s "sqlite:$T/m25.db" --to "jsonl:$T/m25.jsonl" >/dev/null 2>&1
python3 - "$T/m25.jsonl" <<'PY'
import json, sys
p = sys.argv[1]
lines = open(p).read().splitlines()
out = []
for l in lines:
    d = json.loads(l)
    if isinstance(d, dict) and "metadata" in d:
        d["metadata"]["x\nhost"] = "EVIL"
    out.append(json.dumps(d))
open(p, "w").write("\n".join(out) + "\n")
PY
"$C" --json-errors import -s "sqlite:$T/m26.db" "jsonl:$T/m25.jsonl" >/dev/null 2>"$T/e"
check "import of a run with a control character in a key: CTRACE_E_FORMAT, nothing stored" "1 CTRACE_E_FORMAT 0" \
	"$? $(code "$T/e") $(nruns "sqlite:$T/m26.db")"

# ---- a store written by something else: a call tree that is not a tree (issue 24) ----
R=$(raw_run "$T/t24raw" 10)
"$C" commit -s "jsonl:$T/t24.jsonl" "$R" >/dev/null 2>&1
for bad in self cycle negative; do
	python3 - "$T/t24.jsonl" "$T/t24-$bad.jsonl" "$bad" <<'PY'
import json, sys
src, dst, bad = sys.argv[1:]
out = []
for l in open(src).read().splitlines():
    d = json.loads(l)
    if isinstance(d, dict) and len(d.get("nodes", [])) >= 2:
        n = d["nodes"]  # rows [id, parent, thread, function, ...] or objects
        key = lambda k: k if isinstance(n[0], list) else ("id", "parent")[k]
        if bad == "self":
            n[1][key(1)] = 1
        elif bad == "cycle":  # main's child is main's parent
            n[0][key(1)] = 1
            n[1][key(1)] = 0
        else:
            n[0][key(0)] = -1
    out.append(json.dumps(d))
open(dst, "w").write("\n".join(out) + "\n")
PY
	"$C" --json-errors import -s "sqlite:$T/t24-$bad.db" "jsonl:$T/t24-$bad.jsonl" >/dev/null 2>"$T/e"
	check "import of a node that is $bad: CTRACE_E_FORMAT, nothing stored" "1 CTRACE_E_FORMAT 0" \
		"$? $(code "$T/e") $(nruns "sqlite:$T/t24-$bad.db")"
	"$B/ctrace-report" --json-errors -s "jsonl:$T/t24-$bad.jsonl" --graph main >/dev/null 2>"$T/e"
	check "--graph on a store holding that node: CTRACE_E_FORMAT (no crash, no hang)" "1 CTRACE_E_FORMAT" "$? $(code "$T/e")"
done

# ---- commands that only read leave an empty file as it is (issue 24) ----
for cmd in list query show "trend main" exclusions replay; do
	: >"$T/zero.db"
	"$C" --json-errors $cmd --store "sqlite:$T/zero.db" >/dev/null 2>"$T/e"
	check "$cmd on a 0-byte store: CTRACE_E_NOT_FOUND, the file still 0 bytes" "1 CTRACE_E_NOT_FOUND 0" \
		"$? $(code "$T/e") $(stat -c %s "$T/zero.db")"
done
: >"$T/zero.db"
"$B/ctrace-report" -s "sqlite:$T/zero.db" >/dev/null 2>&1
check "ctrace-report on a 0-byte store leaves it 0 bytes" "1 0" "$? $(stat -c %s "$T/zero.db")"
timeout 10 "$C" serve -s "sqlite:$T/zero.db" --port 0 >/dev/null 2>"$T/e"
check "serve on a 0-byte store refuses and leaves it 0 bytes" "1 1 0" "$? $(grep -c 'empty file' "$T/e") $(stat -c %s "$T/zero.db")"

summary "promises store"
	exit 0
fi
TU=ctrps$$
useradd -M -N -d /nonexistent -s /bin/false "$TU" >/dev/null 2>&1 || { bad "setup" "cannot create test user $TU"; TU=; exit 1; }
TUID=$(id -u "$TU")
AS="setpriv --reuid=$TUID --regid=$(id -g "$TU") --clear-groups"
chmod 755 "$T"
cd "$T" || exit 1
gcc -O0 -g -finstrument-functions -o count "$HERE/progs_rel/count.c" || { bad "build" "gcc"; exit 1; }
chmod 755 count

# The error_code of the JSON trailer on stderr file $1.
code() { grep '^{' "$1" | tail -n 1 | sed -n 's/.*"error_code":"\([A-Z_]*\)".*/\1/p'; }
# Records a raw run of count N into parent directory $1 (not committed); prints its directory.
raw_run() { # parent n
	"$C" record -n -d "$1" -- ./count "$2" >/dev/null 2>&1
	ls -d "$1"/*/ | grep -v '/\.' | tail -n 1 | sed 's:/$::'
}
nruns() { "$C" list --json -s "$1" 2>/dev/null | grep -c '^    "run_id":'; }
# A user-owned copy: a raw run moved into the test user's directory $1 and given to the user.
user_run() { # dir n
	mkdir -p "$1"
	r=$(raw_run "$T/rawtmp" "$2")
	mv "$r" "$1/"
	chown -R "$TU" "$1"
	echo "$1/$(basename "$r")"
}

# ---- 8. foreign run directories, swapped directories, foreign ./ctrace.data -----------------
mkdir -p "$T/rawtmp"
U=$T/u
mkdir -p "$U"
chown "$TU" "$U"
R=$(user_run "$U/ctrace.data" 1000)
"$C" --json-errors commit -s "sqlite:$T/s8.db" "$R" 2>"$T/e" >/dev/null
check "root commit of a user's run: refused without --allow-foreign-owner" "1 CTRACE_E_IO yes" "$? $(code "$T/e") $([ -f "$R/run.meta" ] && echo yes)"
"$C" commit $FOREIGN -s "sqlite:$T/s8.db" "$R" 2>"$T/e" >/dev/null
check "root commit of a user's run with --allow-foreign-owner" "0 1" "$? $(nruns "sqlite:$T/s8.db")"
check "a committed run directory is removed completely (no hidden leftover)" 0 "$(ls -A "$U/ctrace.data" | wc -l)"

# the user swaps the directory for a symlink to a root-owned directory while root commits
mkdir -p "$T/victim"
for f in a b c run.meta; do echo "precious $f" >"$T/victim/$f"; done
R=$(user_run "$U/ctrace.data" 3000000)
"$C" commit $FOREIGN -s "sqlite:$T/s8b.db" "$R" >/dev/null 2>"$T/e" &
cpid=$!
i=0
while [ $i -lt 2000 ] && ! grep -q '\.ev' /proc/$cpid/maps 2>/dev/null; do i=$((i + 1)); sleep 0.01; done
$AS sh -c "mv '$R' '$U/moved' && ln -s '$T/victim' '$R'"
wait $cpid
check "directory swapped for a symlink during commit: victim files all kept" "4" "$(ls "$T/victim" | wc -l)"
check "directory swapped during commit: the symlink itself left alone" "yes" "$([ -L "$R" ] && echo yes)"

# root records where another user made ./ctrace.data (or where anyone may write it)
mkdir -p "$U/w1"
chown "$TU" "$U/w1"
$AS mkdir -m 0777 "$U/w1/ctrace.data"
(cd "$U/w1" && "$C" --json-errors record -s "sqlite:$T/s8c.db" -- "$T/count" 10 >"$T/o" 2>"$T/e")
check "record into a ./ctrace.data owned by another user: refused, program not run" "1 CTRACE_E_IO 0" "$? $(code "$T/e") $(wc -l <"$T/o")"
check "record into a foreign ./ctrace.data: nothing created there" 0 "$(ls -A "$U/w1/ctrace.data" | wc -l)"
mkdir -p "$T/w2/ctrace.data"
chmod 0777 "$T/w2/ctrace.data"
(cd "$T/w2" && "$C" --json-errors record -s "sqlite:$T/s8c.db" -- "$T/count" 10 >/dev/null 2>"$T/e")
check "record into a world-writable, non-sticky ./ctrace.data: refused" "1 CTRACE_E_IO" "$? $(code "$T/e")"
chmod 1777 "$T/w2/ctrace.data"
(cd "$T/w2" && "$C" record -s "sqlite:$T/s8c.db" -- "$T/count" 10 >/dev/null 2>&1)
check "record into a sticky world-writable ./ctrace.data: allowed" "0 1" "$? $(nruns "sqlite:$T/s8c.db")"
mkdir -p "$U/w3"
chown "$TU" "$U/w3"
$AS sh -c "cd '$U/w3' && '$C' record -n -- '$T/count' 10" >/dev/null 2>&1
(cd "$U/w3" && "$C" --json-errors commit -s "sqlite:$T/s8c.db" >/dev/null 2>"$T/e")
check "commit of every run in a foreign ./ctrace.data: refused, runs kept" "1 CTRACE_E_IO 1" "$? $(code "$T/e") $(ls "$U/w3/ctrace.data" | wc -l)"

# ---- 9, 10. planted symlinks, FIFOs, /dev/zero and oversized files in a run directory --------
# $1: what to plant; the run is the user's and root commits it with --allow-foreign-owner
planted() { # name file-suffix how
	R=$(user_run "$U/p9" 1000)
	P=$(basename "$(ls "$R"/p-*.meta | head -n 1)" .meta)
	rm -f "$R/$P.$2"
	case $3 in
	shadow) ln -s /etc/shadow "$R/$P.$2" ;;
	zero) ln -s /dev/zero "$R/$P.$2" ;;
	fifo) mkfifo "$R/$P.$2" ;;
	big) head -c 2000000 /dev/zero | tr '\0' x >"$R/$P.$2" ;;
	rootown) echo "signal=11" >"$R/$P.$2" && chown root "$R/$P.$2" ;;
	esac
	[ "$3" = rootown ] || chown -h "$TU" "$R/$P.$2"
	rm -f "$T/s9.db"
	timeout 30 "$C" --json-errors commit $FOREIGN -s "sqlite:$T/s9.db" "$R" >/dev/null 2>"$T/e"
	rc=$?
	check "$1: refused with CTRACE_E_FORMAT, no hang" "1 CTRACE_E_FORMAT" "$rc $(code "$T/e")"
	check "$1: nothing stored, raw directory kept" "0 yes" "$(nruns "sqlite:$T/s9.db") $([ -f "$R/run.meta" ] && echo yes)"
	rm -rf "$U/p9"
}
planted "crash file symlinked to /etc/shadow" crash shadow
if [ -f "$T/s9.db" ] && python3 -c '
import sqlite3, sys
first = open("/etc/shadow").readline().strip()
rows = sqlite3.connect(sys.argv[1]).execute("SELECT coalesce(backtrace, \"\") FROM processes").fetchall()
sys.exit(0 if any(first in r[0] for r in rows) else 1)' "$T/s9.db" 2>/dev/null; then
	bad "crash file symlinked to /etc/shadow: not in the store" "found in $T/s9.db"
else
	ok "crash file symlinked to /etc/shadow: not in the store"
fi
planted "crash file symlinked to /dev/zero" crash zero
planted "crash file is a FIFO" crash fifo
planted "module map is a FIFO" maps fifo
planted "crash file over its 1 MiB cap" crash big
planted "crash file owned by root in a user's run" crash rootown

# ---- 11. store modes and symlinks ------------------------------------------------------------
mkdir -p "$T/m11"
R=$(raw_run "$T/m11/raw" 1000)
(umask 022 && "$C" commit --keep -s "sqlite:$T/m11/s.db" "$R" >/dev/null 2>&1)
(umask 022 && "$C" commit --keep -s "jsonl:$T/m11/s.jsonl" "$R" >/dev/null 2>&1)
check "new SQLite and JSONL stores are 0600 under umask 022" "600 600" "$(stat -c %a "$T/m11/s.db") $(stat -c %a "$T/m11/s.jsonl")"
python3 -c '
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1]); c.execute("SELECT count(*) FROM runs").fetchall()
open(sys.argv[1] + ".held", "w").close(); time.sleep(4)' "$T/m11/s.db" &
hpid=$!
i=0
while [ $i -lt 300 ] && [ ! -e "$T/m11/s.db.held" ]; do i=$((i + 1)); sleep 0.01; done
check "its -wal and -shm are 0600" "600 600" "$(stat -c %a "$T/m11/s.db-wal" 2>&1) $(stat -c %a "$T/m11/s.db-shm" 2>&1)"
kill $hpid 2>/dev/null
wait $hpid 2>/dev/null

# planted links to stores root could write: the default ./ctrace.db and $CTRACE_STORE
mkdir -p "$T/m11/cwd"
cp "$T/m11/s.db" "$T/m11/victim.db"
cp "$T/m11/s.jsonl" "$T/m11/victim.jsonl"
cp "$T/m11/victim.db" "$T/m11/victim.db.orig"
cp "$T/m11/victim.jsonl" "$T/m11/victim.jsonl.orig"
ln -s "$T/m11/victim.db" "$T/m11/cwd/ctrace.db"
ln -s "$T/m11/victim.jsonl" "$T/m11/cwd/runs.jsonl"
chown -h "$TU" "$T/m11/cwd/ctrace.db" "$T/m11/cwd/runs.jsonl"
R2=$(raw_run "$T/m11/raw2" 1000)
(cd "$T/m11/cwd" && "$C" --json-errors commit --keep "$R2" >/dev/null 2>"$T/e")
check "default store ./ctrace.db planted as a symlink: refused" "1 CTRACE_E_STORE" "$? $(code "$T/e")"
(cd "$T/m11/cwd" && CTRACE_STORE=jsonl:runs.jsonl "$C" --json-errors commit --keep "$R2" >/dev/null 2>"$T/e")
check "\$CTRACE_STORE naming a symlink (jsonl): refused" "1 CTRACE_E_STORE" "$? $(code "$T/e")"
check "planted store symlinks: their targets untouched" "yes yes" "$(cmp -s "$T/m11/victim.db" "$T/m11/victim.db.orig" && echo yes) $(cmp -s "$T/m11/victim.jsonl" "$T/m11/victim.jsonl.orig" && echo yes)"
rm -f "$T/m11/cwd/ctrace.db"
ln -s "$T/m11/victim.db" "$T/m11/cwd/ctrace.db"
(cd "$T/m11/cwd" && "$C" --json-errors list >/dev/null 2>"$T/e")
check "default store symlinked by root itself: still refused (only --store may name a link)" "1 CTRACE_E_STORE" "$? $(code "$T/e")"
ln -s "$T/m11/s.db" "$T/m11/mine.db"
"$C" list -s "sqlite:$T/m11/mine.db" >/dev/null 2>&1
check "--store naming a symlink the caller owns: used" 0 "$?"
ln -s "$T/m11/s.db" "$T/m11/theirs.db"
chown -h "$TU" "$T/m11/theirs.db"
"$C" --json-errors list -s "sqlite:$T/m11/theirs.db" >/dev/null 2>"$T/e"
check "--store naming a symlink owned by another user: refused" "1 CTRACE_E_STORE" "$? $(code "$T/e")"

# ---- 14. two concurrent commits of one run into a JSONL store -------------------------------
R=$(raw_run "$T/raw14" 1500000)
okc=0
for round in 1 2 3; do
	rm -f "$T/s14.jsonl"
	"$C" --json-errors commit --keep -s "jsonl:$T/s14.jsonl" "$R" >/dev/null 2>"$T/e1" &
	p1=$!
	"$C" --json-errors commit --keep -s "jsonl:$T/s14.jsonl" "$R" >/dev/null 2>"$T/e2" &
	p2=$!
	wait $p1
	r1=$?
	wait $p2
	r2=$?
	[ "$r1 $r2 $(wc -l <"$T/s14.jsonl")" = "0 0 1" ] && okc=$((okc + 1))
done
check "concurrent JSONL commits of one run: both succeed, one copy (3 rounds)" 3 "$okc"

# ---- 15. over-long and unsafe run ids --------------------------------------------------------
R=$(raw_run "$T/raw15" 1000)
long=run-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
cp -a "$R" "$T/raw15/one"
cp -a "$R" "$T/raw15/two"
echo "id=${long}-one" >>"$T/raw15/one/run.meta"
echo "id=${long}-two" >>"$T/raw15/two/run.meta"
"$C" --json-errors commit -s "sqlite:$T/s15.db" "$T/raw15/one" >/dev/null 2>"$T/e"
r1="$? $(code "$T/e")"
"$C" --json-errors commit -s "sqlite:$T/s15.db" "$T/raw15/two" >/dev/null 2>"$T/e"
check "run ids over 47 bytes: CTRACE_E_FORMAT" "1 CTRACE_E_FORMAT 1 CTRACE_E_FORMAT" "$r1 $? $(code "$T/e")"
check "run ids over 47 bytes: nothing stored, both raw directories kept" "0 yes" "$(nruns "sqlite:$T/s15.db") $([ -f "$T/raw15/one/run.meta" ] && [ -f "$T/raw15/two/run.meta" ] && echo yes)"
cp -a "$R" "$T/raw15/three"
echo "id=../../x" >>"$T/raw15/three/run.meta"
"$C" --json-errors commit -s "sqlite:$T/s15.db" "$T/raw15/three" >/dev/null 2>"$T/e"
check "run id with a slash: CTRACE_E_FORMAT" "1 CTRACE_E_FORMAT" "$? $(code "$T/e")"

# ---- 16. foreign, empty, missing and read-only SQLite files ----------------------------------
python3 -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1]); c.execute("CREATE TABLE t (x)"); c.execute("INSERT INTO t VALUES (1)"); c.commit()' "$T/other.db"
cp "$T/other.db" "$T/other.orig"
"$C" --json-errors list -s "sqlite:$T/other.db" >/dev/null 2>"$T/e"
check "foreign SQLite file: list refused with CTRACE_E_STORE" "1 CTRACE_E_STORE" "$? $(code "$T/e")"
"$C" --json-errors commit --keep -s "sqlite:$T/other.db" "$R" >/dev/null 2>"$T/e"
check "foreign SQLite file: commit refused with CTRACE_E_STORE" "1 CTRACE_E_STORE" "$? $(code "$T/e")"
check "foreign SQLite file: byte-identical, no -wal" "yes no" "$(cmp -s "$T/other.db" "$T/other.orig" && echo yes) $([ -e "$T/other.db-wal" ] && echo yes || echo no)"
: >"$T/empty.db"
"$C" commit --keep -s "sqlite:$T/empty.db" "$R" >/dev/null 2>&1
check "empty file: initialized as a store" "0 1" "$? $(nruns "sqlite:$T/empty.db")"
"$C" commit --keep -s "sqlite:$T/missing.db" "$R" >/dev/null 2>&1
check "missing file: created as a store" "0 1" "$? $(nruns "sqlite:$T/missing.db")"

# another user's store, readable: listed and reported, not modified
mkdir -p "$T/ro"
"$C" commit --keep -s "sqlite:$T/ro/s.db" "$R" >/dev/null 2>&1
chmod 0644 "$T/ro/s.db"
cp "$T/ro/s.db" "$T/ro.orig"
n=$($AS "$C" list --json -s "sqlite:$T/ro/s.db" 2>"$T/e" | grep -c '^    "run_id":')
check "another user's readable store: listed" "1" "$n"
$AS "$REPORT" --store "sqlite:$T/ro/s.db" latest >"$T/o" 2>"$T/e"
check "another user's readable store: reported" "0 yes" "$? $(grep -q leaf "$T/o" && echo yes)"
check "another user's readable store: byte-identical" yes "$(cmp -s "$T/ro/s.db" "$T/ro.orig" && echo yes)"
# a read-only store in rollback-journal mode: reading it never switches it to WAL
mkdir -p "$T/ro2"
cp "$T/ro.orig" "$T/ro2/s.db"
python3 -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("PRAGMA journal_mode=DELETE").fetchall()' "$T/ro2/s.db"
chown -R "$TU" "$T/ro2"
chmod 0444 "$T/ro2/s.db"
cp "$T/ro2/s.db" "$T/ro2.orig"
$AS "$C" list -s "sqlite:$T/ro2/s.db" >/dev/null 2>"$T/e"
check "read-only store of the caller: listed" 0 "$?"
check "read-only store: byte-identical, not switched to WAL" "yes no" "$(cmp -s "$T/ro2/s.db" "$T/ro2.orig" && echo yes) $([ -e "$T/ro2/s.db-wal" ] && echo yes || echo no)"

# ---- 17. reversed module ranges, time going backwards ---------------------------------------
R=$(raw_run "$T/raw17" 1000)
cp -a "$R" "$T/raw17/maps"
for m in "$T"/raw17/maps/p-*.maps; do
	awk '$1 == "L" && !done { t = $3; $3 = $4; $4 = t; done = 1 } { print }' "$m" >"$m.new" && mv "$m.new" "$m"
done
"$C" --json-errors commit -s "sqlite:$T/s17.db" "$T/raw17/maps" >/dev/null 2>"$T/e"
check "module map line with start >= end: CTRACE_E_FORMAT" "1 CTRACE_E_FORMAT" "$? $(code "$T/e")"
cp -a "$R" "$T/raw17/back"
python3 - "$T/raw17/back" <<'PY'
import glob, os, struct, sys
d = sys.argv[1]
ev = glob.glob(d + "/t-*.ev")[0]
hdr = bytearray(open(ev, "rb").read(128))
start = int(open(glob.glob(d + "/p-*.maps")[0]).readline().split()[2], 16)
tps = struct.unpack_from("<Q", hdr, 32)[0]
t0 = struct.unpack_from("<Q", hdr, 40)[0] + tps  # one second in
def ext(kind, nw, arg=0): return (arg << 16) | (nw << 8) | (kind << 2)
def u64(v): return [v & 0xFFFFFFFF, v >> 32]
w = [ext(1, 2)] + u64(t0) + [ext(2, 2, 1)] + u64(start + 0x10)
w += [(1 << 2) | 2, (10 << 1) | 1]
w += [ext(1, 2)] + u64(t0 - tps // 2)  # half a second back
w += [(1 << 2) | 2, (10 << 1) | 1] * 8
body = struct.pack("<%dI" % len(w), *w)
struct.pack_into("<I", hdr, 12, struct.unpack_from("<I", hdr, 12)[0] | 2)  # closed
struct.pack_into("<Q", hdr, 48, 128 + len(body))
open(ev, "wb").write(bytes(hdr) + body)
PY
"$C" --json-errors commit -s "sqlite:$T/s17.db" "$T/raw17/back" >/dev/null 2>"$T/e"
check "time record going backwards: CTRACE_E_FORMAT" "1 CTRACE_E_FORMAT" "$? $(code "$T/e")"
check "time going backwards: nothing stored, raw directory kept" "0 yes" "$(nruns "sqlite:$T/s17.db") $([ -f "$T/raw17/back/run.meta" ] && echo yes)"

# ---- metadata keys cannot forge other fields (issue 24): a newline, '=' or nothing ----
nl='
'
"$C" --json-errors record -s "sqlite:$T/m24.db" -d "$T/m24" -m "x${nl}host=EVIL" -- ./count 10 >/dev/null 2>"$T/e"
check "record -m with a newline in the key: usage error, nothing recorded" "2 CTRACE_E_USAGE 0" \
	"$? $(code "$T/e") $(ls "$T/m24" 2>/dev/null | wc -l)"
"$C" record -s "sqlite:$T/m24.db" -d "$T/m24" -m "=v" -- ./count 10 >/dev/null 2>&1
check "record -m with an empty key: usage error" 2 "$?"
"$C" record -s "sqlite:$T/m24.db" -d "$T/m24" -m "a b=c=d" -- ./count 10 >/dev/null 2>&1
check "a key with a space and a value with '=' are kept as given" "0 a b=c=d" \
	"$? $("$C" show -s "sqlite:$T/m24.db" latest | sed -n 's/^  \(a b=.*\)/\1/p')"
R=$(raw_run "$T/m24raw" 10)
"$C" --json-errors commit -s "sqlite:$T/m24.db" --meta "k${nl}host=EVIL" "$R" >/dev/null 2>"$T/e"
check "commit --meta with a newline in the key: usage error, the run kept raw" "2 CTRACE_E_USAGE yes" \
	"$? $(code "$T/e") $([ -f "$R/run.meta" ] && echo yes)"
CTRACE_META="ok=1,x${nl}host=EVIL=2" "$C" record -s "sqlite:$T/m25.db" -d "$T/m25" -- ./count 10 >/dev/null 2>&1
check "CTRACE_META: a key with a newline is dropped, the host stays real" "ok=1 $(hostname)" \
	"$("$C" show -s "sqlite:$T/m25.db" latest | sed -n 's/^  \(ok=.*\)/\1/p') $("$C" list --json -s "sqlite:$T/m25.db" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["host"])')"
"$C" export -s "sqlite:$T/m25.db" --to "jsonl:$T/m25.jsonl" >/dev/null 2>&1
python3 - "$T/m25.jsonl" <<'PY'
import json, sys
p = sys.argv[1]
lines = open(p).read().splitlines()
out = []
for l in lines:
    d = json.loads(l)
    if isinstance(d, dict) and "metadata" in d:
        d["metadata"]["x\nhost"] = "EVIL"
    out.append(json.dumps(d))
open(p, "w").write("\n".join(out) + "\n")
PY
"$C" --json-errors import -s "sqlite:$T/m26.db" "jsonl:$T/m25.jsonl" >/dev/null 2>"$T/e"
check "import of a run with a control character in a key: CTRACE_E_FORMAT, nothing stored" "1 CTRACE_E_FORMAT 0" \
	"$? $(code "$T/e") $(nruns "sqlite:$T/m26.db")"

# ---- a store written by something else: a call tree that is not a tree (issue 24) ----
R=$(raw_run "$T/t24raw" 10)
"$C" commit -s "jsonl:$T/t24.jsonl" "$R" >/dev/null 2>&1
for bad in self cycle negative; do
	python3 - "$T/t24.jsonl" "$T/t24-$bad.jsonl" "$bad" <<'PY'
import json, sys
src, dst, bad = sys.argv[1:]
out = []
for l in open(src).read().splitlines():
    d = json.loads(l)
    if isinstance(d, dict) and len(d.get("nodes", [])) >= 2:
        n = d["nodes"]  # rows [id, parent, thread, function, ...] or objects
        key = lambda k: k if isinstance(n[0], list) else ("id", "parent")[k]
        if bad == "self":
            n[1][key(1)] = 1
        elif bad == "cycle":  # main's child is main's parent
            n[0][key(1)] = 1
            n[1][key(1)] = 0
        else:
            n[0][key(0)] = -1
    out.append(json.dumps(d))
open(dst, "w").write("\n".join(out) + "\n")
PY
	"$C" --json-errors import -s "sqlite:$T/t24-$bad.db" "jsonl:$T/t24-$bad.jsonl" >/dev/null 2>"$T/e"
	check "import of a node that is $bad: CTRACE_E_FORMAT, nothing stored" "1 CTRACE_E_FORMAT 0" \
		"$? $(code "$T/e") $(nruns "sqlite:$T/t24-$bad.db")"
	"$B/ctrace-report" --json-errors -s "jsonl:$T/t24-$bad.jsonl" --graph main >/dev/null 2>"$T/e"
	check "--graph on a store holding that node: CTRACE_E_FORMAT (no crash, no hang)" "1 CTRACE_E_FORMAT" "$? $(code "$T/e")"
done

# ---- commands that only read leave an empty file as it is (issue 24) ----
for cmd in list query show "trend main" exclusions replay; do
	: >"$T/zero.db"
	"$C" --json-errors $cmd --store "sqlite:$T/zero.db" >/dev/null 2>"$T/e"
	check "$cmd on a 0-byte store: CTRACE_E_NOT_FOUND, the file still 0 bytes" "1 CTRACE_E_NOT_FOUND 0" \
		"$? $(code "$T/e") $(stat -c %s "$T/zero.db")"
done
: >"$T/zero.db"
"$B/ctrace-report" -s "sqlite:$T/zero.db" >/dev/null 2>&1
check "ctrace-report on a 0-byte store leaves it 0 bytes" "1 0" "$? $(stat -c %s "$T/zero.db")"
timeout 10 "$C" serve -s "sqlite:$T/zero.db" --port 0 >/dev/null 2>"$T/e"
check "serve on a 0-byte store refuses and leaves it 0 bytes" "1 1 0" "$? $(grep -c 'empty file' "$T/e") $(stat -c %s "$T/zero.db")"

summary "promises store"
