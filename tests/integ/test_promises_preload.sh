#!/bin/sh
# SPDX-License-Identifier: MIT
# What the preload promises a traced program (issue 16, docs/recording.md "What the preload
# promises"): its descriptors are left alone (dup2 over 3..15, closing every descriptor), its
# own getenv/setenv are not called, dlopen resolves through its DT_RUNPATH, a planted .tsc-hz
# neither hangs nor fools it, vfork and raw clone children are handled, setuid programs see
# nothing of ctrace, `ctrace ctl` never kills; and the option table (issue 10): one set of
# limits for `ctrace record` and the preload, rejections visible in the run.
#
# usage: tests/integ/test_promises_preload.sh [BUILD_DIR]    prints "ok NAME" / "FAIL NAME: why"
# Root is used, when available, for a tmpfs (full disk), another user (setpriv, uid 65534) and
# a setuid-root program with a setuid copy of the preload in the system library directory
# (removed at exit); those checks print "skip" lines otherwise. CTRACE_KEEP_TMP=1 keeps the
# scratch directory.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
B=$(cd "${1:-build}" && pwd)
CTRACE=$B/ctrace
REPORT=$B/ctrace-report
LIB=$B/libctrace.so
P=$HERE/progs_rel
T=$(mktemp -d /tmp/ctrace-prom.XXXXXX)
. "$HERE/lib/common.sh"
skip() { echo "skip $1: $2"; }
MOUNTS=
SYSLIB=
PIDS=
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for m in $MOUNTS; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
	[ -n "$SYSLIB" ] && rm -f "$SYSLIB"
	chmod -R u+rwX "$T" 2>/dev/null
	if [ -n "${CTRACE_KEEP_TMP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
unset CTRACE_TSC_HZ CTRACE_RUN_DIR CTRACE_DIR CTRACE_DEPTH CTRACE_SAMPLE_RATE CTRACE_LOG_FILE \
	CTRACE_FILTER CTRACE_EXCLUDE CTRACE_MODULE CTRACE_MIN_DURATION CTRACE_SAMPLE CTRACE_START
IS_ROOT=0
[ "$(id -u)" = 0 ] && IS_ROOT=1
AS=
if [ "$IS_ROOT" = 1 ] && command -v setpriv >/dev/null 2>&1; then
	AS="setpriv --reuid=65534 --regid=65534 --clear-groups"
fi

# Enters of function NAME in the dump FILE, of process PID when given.
count() { # file name [pid]
	awk -v n="$2" -v p="${3:-}" '$4 == "enter" && $7 == n && (p == "" || $1 == p)' "$1" | wc -l
}
# "EVENTS LOST" of the only run of store CONN.
run_counts() {
	"$CTRACE" list --json -s "$1" 2>/dev/null | python3 -c '
import json, sys
r = json.load(sys.stdin)
print("%d %d" % (r[0]["events"], r[0]["lost_events"]) if r else "none")'
}
# Calls of NAME in the only run of store CONN, from ctrace-report (symbolized).
calls_of() { # conn name
	"$REPORT" --json --top 0 --min-percent 0 --store "$1" 2>/dev/null | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except ValueError:
    print("no-report"); sys.exit()
print(sum(f["calls"] for f in d["functions"] if f["name"] == sys.argv[1]))' "$2"
}
# The only run directory under DIR.
one_run() { ls -d "$1"/*/ 2>/dev/null | head -n 1; }

command -v python3 >/dev/null 2>&1 || { bad "setup" "python3 is needed"; exit 1; }
F="-O0 -g -finstrument-functions"
X=$T/bin
mkdir -p "$X/plugins"
gcc $F -o "$X/fdlayout" "$P/fdlayout.c" &&
	gcc $F -rdynamic -o "$X/envdef" "$P/envdef.c" &&
	gcc $F -shared -fPIC -o "$X/plugins/libplug.so" "$P/plug.c" &&
	gcc $F -o "$X/plugmain" "$P/plugmain.c" -ldl -Wl,--enable-new-dtags,-rpath,'$ORIGIN/plugins' &&
	gcc $F -o "$X/vforker" "$P/vforker.c" &&
	gcc $F -o "$X/cloner" "$P/cloner.c" &&
	gcc $F -o "$X/waiter" "$P/waiter.c" &&
	gcc $F -o "$X/secure" "$P/secure.c" &&
	gcc $F -o "$X/count" "$P/count.c" || { bad "build" "compilation failed"; exit 1; }
chmod 755 "$T" "$X"
cd "$T" || exit 1

# ---- 1. descriptors: the program's layout over 3..15 stays the program's -------------------

N=100000
CTRACE_WINDOW_KB=64 CTRACE_DIR=$T/fd1 LD_PRELOAD=$LIB "$X/fdlayout" "$T/fd1.data" $N >/dev/null 2>"$T/e"
check "dup2 over 3..15: program status" 0 $?
printf 'fd %d\n' 3 4 5 6 7 8 9 10 11 12 13 14 15 >"$T/fd.want"
check "dup2 over 3..15: its file holds exactly its 13 lines" "" "$(cmp "$T/fd.want" "$T/fd1.data" 2>&1)"
"$CTRACE" commit -s "sqlite:$T/fd1.db" "$T"/fd1/* >/dev/null 2>&1
check "dup2 over 3..15: every event recorded, none lost" "$((2 * N + 2)) 0" "$(run_counts "sqlite:$T/fd1.db")"
check "dup2 over 3..15: the preload's descriptors are high" 0 \
	"$(CTRACE_DIR=$T/fd1b LD_PRELOAD=$LIB sh -c 'ls -l /proc/$$/fd' | awk '$NF ~ /ctrace/ && $(NF-2) < 64' | wc -l)"

# ---- 6. a program that closes every descriptor loses nothing; what is lost is reported -------

CTRACE_WINDOW_KB=64 CTRACE_DIR=$T/fd2 LD_PRELOAD=$LIB "$X/fdlayout" "$T/fd2.data" $N close >/dev/null 2>"$T/e"
check "closes every descriptor: program status" 0 $?
"$CTRACE" commit -s "sqlite:$T/fd2.db" "$T"/fd2/* >/dev/null 2>&1
check "closes every descriptor: every event recorded, none lost" "$((2 * N + 2)) 0" "$(run_counts "sqlite:$T/fd2.db")"
check "closes every descriptor: no 'counting lost events'" 0 "$(grep -c 'counting lost events' "$T/e")"
if [ "$IS_ROOT" = 1 ] && mkdir -p "$T/full" && mount -t tmpfs -o size=1m tmpfs "$T/full" 2>/dev/null; then
	MOUNTS="$T/full"
	N2=400000
	CTRACE_WINDOW_KB=64 CTRACE_DIR=$T/full LD_PRELOAD=$LIB "$X/fdlayout" "$T/fd3.data" $N2 close >/dev/null 2>"$T/e"
	check "closes every descriptor, full disk: program status" 0 $?
	"$CTRACE" commit -s "sqlite:$T/fd3.db" "$T"/full/*/ >/dev/null 2>&1
	set -- $(run_counts "sqlite:$T/fd3.db")
	check "closes every descriptor, full disk: recorded + lost == 2 per call" $((2 * N2 + 2)) "$((${1:-0} + ${2:-0}))"
	check "closes every descriptor, full disk: the loss reaches lost_events" yes "$([ "${2:-0}" -gt 0 ] && echo yes)"
else
	skip "closes every descriptor, full disk" "cannot mount a tmpfs (not root?)"
fi

# ---- 3. a program with getenv/setenv of its own (bash) ------------------------------------

HOME_TEST=here CTRACE_DIR=$T/env LD_PRELOAD=$LIB "$X/envdef" 500 >"$T/o" 2>"$T/e"
check "own getenv/setenv: program status and its getenv" "0 HOME_TEST=here" "$? $(cat "$T/o")"
check "own getenv/setenv: the run is where CTRACE_DIR says" 1 "$(ls "$T/env" 2>/dev/null | wc -l)"
"$CTRACE" commit -s "sqlite:$T/env.db" "$T"/env/*/ >/dev/null 2>&1
check "own getenv/setenv: leaf x500 recorded" 500 "$(calls_of "sqlite:$T/env.db" leaf)"
"$CTRACE" record -d "$T/env2" -s "sqlite:$T/env2.db" -- "$X/envdef" 300 >/dev/null 2>&1
check "own getenv/setenv under ctrace record: leaf x300" "0 300" "$? $(calls_of "sqlite:$T/env2.db" leaf)"
check "own getenv/setenv: nothing logged" "" "$(cat "$T/e")"
BASH_BIN=$(command -v bash)
if [ -n "$BASH_BIN" ] && nm -D "$BASH_BIN" 2>/dev/null | grep -q ' T getenv$'; then
	CTRACE_DIR=$T/bash LD_PRELOAD=$LIB "$BASH_BIN" -c "'$X/count' 10 >/dev/null 2>&1; '$X/count' 5 >/dev/null 2>&1"
	check "bash (exports getenv/setenv): one run under CTRACE_DIR, both programs in it" "1 2" \
		"$(ls "$T/bash" 2>/dev/null | wc -l) $(ls "$T"/bash/*/ 2>/dev/null | grep -c '^p-.*-1\.meta$')"
	"$CTRACE" commit -s "sqlite:$T/bash.db" "$T"/bash/*/ >/dev/null 2>&1
	check "bash (exports getenv/setenv): leaf x15 recorded" 15 "$(calls_of "sqlite:$T/bash.db" leaf)"
else
	skip "bash with its own getenv" "this bash does not export getenv"
fi

# ---- 4. dlopen through the program's DT_RUNPATH -------------------------------------------

"$X/plugmain" 10 >/dev/null 2>&1
check "DT_RUNPATH plugin: loads without the preload (control)" 0 $?
"$CTRACE" record -d "$T/dl" -s "sqlite:$T/dl.db" --keep -- "$X/plugmain" 10 >/dev/null 2>"$T/e"
check "DT_RUNPATH plugin: loads under the preload" "0 0" "$? $(grep -c 'dlopen failed' "$T/e")"
check "DT_RUNPATH plugin: plug_fn x10 symbolized" 10 "$(calls_of "sqlite:$T/dl.db" plug_fn)"
check "DT_RUNPATH plugin: plug_helper x10 symbolized" 10 "$(calls_of "sqlite:$T/dl.db" plug_helper)"
run=$(one_run "$T/dl")
check "DT_RUNPATH plugin: module map loads and unloads it" "1 1" \
	"$(grep -c '^L .*/plugins/libplug.so$' "$run"/p-*.maps) $(grep -c '^U ' "$run"/p-*.maps)"
CTRACE_FILTER=plug_fn CTRACE_DIR=$T/dlf LD_PRELOAD=$LIB "$X/plugmain" 7 >/dev/null 2>&1
"$CTRACE" commit -s "sqlite:$T/dlf.db" "$T"/dlf/*/ >/dev/null 2>&1
check "DT_RUNPATH plugin: --filter on a plugin function applies" "7 7" \
	"$(calls_of "sqlite:$T/dlf.db" plug_fn) $(calls_of "sqlite:$T/dlf.db" plug_helper)"

# ---- 5. a planted .tsc-hz -----------------------------------------------------------------

if grep -qw constant_tsc /proc/cpuinfo 2>/dev/null; then
	mkdir -p "$T/fifo"
	mkfifo "$T/fifo/.tsc-hz"
	timeout 20 env CTRACE_DIR=$T/fifo LD_PRELOAD=$LIB "$X/count" 10 >/dev/null 2>&1
	check "FIFO .tsc-hz: traced program does not hang" 0 $?
	timeout 30 "$CTRACE" record -d "$T/fifo" -s "sqlite:$T/fifo.db" -- "$X/count" 10 >/dev/null 2>&1
	check "FIFO .tsc-hz: ctrace record does not hang" 0 $?
	check "FIFO .tsc-hz: replaced by a regular cache file" yes "$([ -f "$T/fifo/.tsc-hz" ] && echo yes)"
	bid=$(cat /proc/sys/kernel/random/boot_id)
	mkdir -p "$T/planted" "$T/bogus"
	echo "$bid 1000000" >"$T/planted/.tsc-hz"
	[ "$IS_ROOT" = 1 ] && chown 65534 "$T/planted/.tsc-hz"
	CTRACE_DIR=$T/planted LD_PRELOAD=$LIB "$X/count" 10 >/dev/null 2>&1
	hz=$(sed -n 's/^ticks_per_sec=//p' "$(one_run "$T/planted")"/p-*.meta)
	if [ "$IS_ROOT" = 1 ]; then
		check "another user's .tsc-hz: not trusted" yes "$([ "${hz:-0}" -gt 100000000 ] && echo yes)"
	else
		skip "another user's .tsc-hz" "needs root to chown"
	fi
	echo "$bid 1000000" >"$T/bogus/.tsc-hz"
	CTRACE_DIR=$T/bogus LD_PRELOAD=$LIB "$X/count" 10 >/dev/null 2>&1
	hz=$(sed -n 's/^ticks_per_sec=//p' "$(one_run "$T/bogus")"/p-*.meta)
	check "own .tsc-hz far from a quick measurement: not trusted" yes "$([ "${hz:-0}" -gt 100000000 ] && echo yes)"
	CTRACE_DIR=$T/bogus LD_PRELOAD=$LIB "$X/count" 10 >/dev/null 2>&1
	hz2=$(sed -n 's/^ticks_per_sec=//p' "$(ls -d "$T"/bogus/*/ | tail -n 1)"/p-*.meta)
	check "a good .tsc-hz is written back and used" "$hz" "$hz2"
else
	skip "planted .tsc-hz" "no constant TSC"
fi

# ---- 7 and 17. vfork + _exit, raw clone without CLONE_VM ----------------------------------

"$CTRACE" record -d "$T/vf" -s "sqlite:$T/vf.db" -- "$X/vforker" 300 400 >/dev/null 2>&1
check "vfork + _exit child: parent's leaf x700 recorded" "0 700" "$? $(calls_of "sqlite:$T/vf.db" leaf)"
check "vfork + _exit child: nothing lost" "$((2 * 700 + 2)) 0" "$(run_counts "sqlite:$T/vf.db")"
"$CTRACE" record -d "$T/vfe" -s "sqlite:$T/vfe.db" -- "$X/vforker" 30 40 exec >/dev/null 2>&1
check "vfork + exec child: parent's leaf x70 recorded" "0 70" "$? $(calls_of "sqlite:$T/vfe.db" leaf)"

"$CTRACE" record -d "$T/cl" -s "sqlite:$T/cl.db" --keep -- "$X/cloner" 100 250 50 >/dev/null 2>&1
check "raw clone child: status" 0 $?
run=$(one_run "$T/cl")
"$CTRACE" dump "$run" >"$T/cl.dump" 2>/dev/null
parent=$(awk '$4 == "enter" && $7 == "main" { print $1; exit }' "$T/cl.dump")
child=$(awk -v p="$parent" '$4 == "enter" && $7 == "child" && $1 != p { print $1; exit }' "$T/cl.dump")
check "raw clone child: a process of the run" 2 "$(ls "$run" | grep -c '^p-.*\.meta$')"
check "raw clone child: leaf x250 in the child" 250 "$(count "$T/cl.dump" leaf "${child:-none}")"
check "raw clone child: leaf x150 in the parent" 150 "$(count "$T/cl.dump" leaf "$parent")"
check "raw clone child: its ppid and exit status" "$parent 3" \
	"$(sed -n 's/^ppid=//p' "$run/p-${child:-none}-0.meta" 2>/dev/null) $(sed -n 's/^exit_status=//p' "$run/p-${child:-none}-0.meta" 2>/dev/null)"
check "raw clone: nothing lost" 0 "$(run_counts "sqlite:$T/cl.db" | cut -d' ' -f2)"

# ---- 2. ctrace ctl never kills ------------------------------------------------------------

# starts waiter in the background with the given environment; sets $wpid
start_waiter() { # go-file env...
	go=$1
	shift
	env "$@" "$X/waiter" "$go" >/dev/null 2>&1 &
	wpid=$!
	PIDS="$PIDS $wpid"
	sleep 0.4
}
# lets the waiter finish; sets $wrc to its exit status
end_waiter() { # go-file
	touch "$1"
	wait "$wpid"
	wrc=$?
}
start_waiter "$T/go1" CTRACE_SAMPLE_RATE=0 LD_PRELOAD=$LIB
"$CTRACE" ctl "$wpid" on 2>"$T/e"
rc=$?
end_waiter "$T/go1"
check "ctl on a preloaded process not sampled: it survives" "0 0" "$rc $wrc"
touch "$T/notadir"
start_waiter "$T/go2" CTRACE_DIR=$T/notadir/x LD_PRELOAD=$LIB
"$CTRACE" ctl "$wpid" off 2>"$T/e"
rc=$?
end_waiter "$T/go2"
check "ctl on a preloaded process with an unusable CTRACE_DIR: it survives" "0 0" "$rc $wrc"
mkdir -p "$T/fake"
cp "$(gcc -print-file-name=libm.so.6)" "$T/fake/libctrace.so" 2>/dev/null ||
	cp /lib/x86_64-linux-gnu/libm.so.6 "$T/fake/libctrace.so"
start_waiter "$T/go3" LD_PRELOAD=$T/fake/libctrace.so
"$CTRACE" ctl "$wpid" on 2>"$T/e"
rc=$?
end_waiter "$T/go3"
check "ctl on a libctrace.so that announces no handler: refused, it survives" "1 0" "$rc $wrc"
check "ctl refusal says why" 1 "$(grep -c 'does not handle' "$T/e")"
if [ -n "$AS" ]; then
	start_waiter "$T/go4" CTRACE_START=off CTRACE_DIR=$T/rootruns LD_PRELOAD=$LIB
	chmod 755 "$B" 2>/dev/null
	$AS "$CTRACE" ctl "$wpid" on 2>"$T/e"
	rc=$?
	end_waiter "$T/go4"
	check "ctl by another user: refused, the process survives" "1 0" "$rc $wrc"
	check "ctl by another user: says not permitted" 1 "$(grep -c 'another user' "$T/e")"
	mkdir -p "$T/nobody" && chown 65534 "$T/nobody"
	(cd "$T/nobody" && $AS env CTRACE_START=off LD_PRELOAD=$LIB "$X/waiter" "$T/nobody/go" >/dev/null 2>&1) &
	wpid=$!
	sleep 0.5
	npid=$(pgrep -n -f "$X/waiter $T/nobody/go")
	"$CTRACE" ctl "${npid:-0}" on 2>"$T/e"
	check "ctl by root on another user's process: allowed" 0 $?
	touch "$T/nobody/go"
	wait "$wpid"
	check "ctl by root on another user's process: it survives" 0 $?
else
	skip "ctl by another user" "needs root and setpriv"
fi

# ---- 12. setuid: nothing at all -----------------------------------------------------------

if [ -n "$AS" ] && [ -d /usr/lib/x86_64-linux-gnu ]; then
	mkdir -p "$T/suid" "$T/suidruns" "$T/suidlog"
	chmod 755 "$T/suid"
	chmod 1777 "$T/suidruns"
	cp "$X/secure" "$T/suid/secure"
	chown root:root "$T/suid/secure"
	chmod 4755 "$T/suid/secure"
	name=libctrace-promises-$$.so
	SYSLIB=/usr/lib/x86_64-linux-gnu/$name
	cp "$LIB" "$SYSLIB" && chown root:root "$SYSLIB" && chmod 4755 "$SYSLIB"
	(cd "$T/suidruns" && $AS env LD_PRELOAD=$name CTRACE_DIR=$T/suidruns \
		CTRACE_LOG_FILE=$T/suidlog/log CTRACE_LOG=debug "$T/suid/secure" >"$T/suid.out" 2>"$T/suid.err")
	check "setuid program: runs as usual, with the preload mapped" "7 mapped=1" \
		"$? $(cut -d' ' -f1 "$T/suid.out")"
	check "setuid program: no handler installed" "ctl=0 segv=0" "$(cut -d' ' -f2,3 "$T/suid.out")"
	check "setuid program: CTRACE_LOG_FILE not created" no "$([ -e "$T/suidlog/log" ] && echo yes || echo no)"
	check "setuid program: no run directory, nothing logged" "0 0" \
		"$(ls "$T/suidruns" | wc -l) $(wc -c <"$T/suid.err")"
	rm -f "$SYSLIB"
	SYSLIB=
else
	skip "setuid program" "needs root and setpriv"
fi

# ---- issue 10: one option table -----------------------------------------------------------

"$CTRACE" record -d "$T/o1" -s "sqlite:$T/o1.db" --depth 16777217 -- "$X/count" 10 >/dev/null 2>"$T/e"
check "record --depth 16777217: usage error" 2 $?
check "record --depth 16777217: the message" 1 "$(grep -c '^ctrace record: CTRACE_E_USAGE: --depth wants 1..16777216' "$T/e")"
check "record --depth 16777217: records nothing" 0 "$(ls "$T/o1" 2>/dev/null | wc -l)"
"$CTRACE" record -d "$T/o2" -s "sqlite:$T/o2.db" --depth 16777216 -- "$X/count" 10 >/dev/null 2>&1
check "record --depth 16777216: recorded" "0 10" "$? $(calls_of "sqlite:$T/o2.db" leaf)"
"$CTRACE" record -d "$T/o3" -s "sqlite:$T/o3.db" --depth 20000000 -- "$X/count" 10 >/dev/null 2>&1
check "record --depth 20000000 (accepted before): usage error" 2 $?
CTRACE_DEPTH=16777217 "$CTRACE" record -d "$T/o4" -s "sqlite:$T/o4.db" -- "$X/count" 10 >/dev/null 2>"$T/e"
check "CTRACE_DEPTH=16777217 given to ctrace record: usage error" "2 1" "$? $(grep -c 'CTRACE_DEPTH wants' "$T/e")"
for bad in "--sample 0" "--sample-rate 1.5" "--min-duration 10parsecs" "--start maybe"; do
	"$CTRACE" record -d "$T/o5" -s "sqlite:$T/o5.db" $bad -- "$X/count" 10 >/dev/null 2>"$T/e"
	check "record $bad: usage error" "2 1" "$? $(grep -c '^ctrace record: CTRACE_E_USAGE: ' "$T/e")"
done
CTRACE_DEPTH=16777217 CTRACE_DIR=$T/o6 LD_PRELOAD=$LIB "$X/count" 10 >/dev/null 2>"$T/e"
check "CTRACE_DEPTH=16777217 with LD_PRELOAD: program fine, preload logs the rejection" "0 1" \
	"$? $(grep -c "invalid CTRACE_DEPTH='16777217': wants 1..16777216" "$T/e")"
check "CTRACE_DEPTH=16777217 with LD_PRELOAD: option_error in the run" 1 \
	"$(cat "$T"/o6/*/p-*.meta | grep -c '^option_error=CTRACE_DEPTH=')"
"$CTRACE" commit -s "sqlite:$T/o6.db" "$T"/o6/*/ >/dev/null 2>&1
check "CTRACE_DEPTH=16777217 with LD_PRELOAD: option_error in the committed run, no option.depth" "1 0" \
	"$(sqlite3 "$T/o6.db" "select count(*) from run_meta where key = 'option_error' and value like 'CTRACE_DEPTH=%'") $(sqlite3 "$T/o6.db" "select count(*) from run_meta where key = 'option.depth'")"
CTRACE_DEPTH=16777216 CTRACE_DIR=$T/o7 LD_PRELOAD=$LIB "$X/count" 10 >/dev/null 2>"$T/e"
check "CTRACE_DEPTH=16777216 with LD_PRELOAD: accepted" "0 0" "$? $(cat "$T"/o7/*/p-*.meta | grep -c '^option_error')"
check "--help lists every option of the table with its variable" "$(grep -c '^	X(' "$HERE/../../common/options.h")" \
	"$("$CTRACE" record --help | grep -c '(CTRACE_[A-Z_]*)$')"

summary "promises-preload"
