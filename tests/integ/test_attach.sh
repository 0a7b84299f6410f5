#!/bin/sh
# SPDX-License-Identifier: MIT
# `ctrace attach PID` / `ctrace detach PID` (docs/attach.md) on tests/integ/progs/attachprog.c,
# built with gcc and clang and started without ctrace: 4 threads (main blocked in read(2) at
# attach, 3 workers, one taking SIGUSR1 now and then), driven through a FIFO so the calls made
# inside the window are known exactly. Checks the window's per-thread counts and inherited
# frames, that the program's output, status and process state (fds, threads, signal handlers
# and masks, environment, cwd, limits) are those of an untraced run, 50 attach/detach cycles,
# recording options, and every error case (a clear message, a stable code, within a second,
# the process not left stopped). Prints ok/FAIL lines.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
ROOT=$(cd "$HERE/../.." && pwd)
B=$(cd "${1:-$ROOT/build}" && pwd)
T=$(mktemp -d /tmp/ctrace-attach.XXXXXX)
C=$B/ctrace
R=$B/ctrace-report
PROGS=
cleanup() {
	for p in $PROGS; do kill -9 "$p" 2>/dev/null; done
	exec 3>&- 4>&-
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
cd "$T" || exit 1

# waitfor FILE REGEX [SECONDS]: until FILE has a line matching REGEX (0), or the time is up (1)
waitfor() {
	n=$(((${3:-30}) * 50))
	while [ "$n" -gt 0 ]; do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.02
		n=$((n - 1))
	done
	return 1
}
# start NAME BIN [ARGS]: the program on a FIFO (written through fd 3) -> $pid, NAME.out
start() {
	name=$1
	shift
	rm -f "$T/$name.fifo"
	mkfifo "$T/$name.fifo"
	"$@" <"$T/$name.fifo" >"$T/$name.out" 2>"$T/$name.err" &
	pid=$!
	PROGS="$PROGS $pid"
	exec 3>"$T/$name.fifo"
	waitfor "$T/$name.out" '^ready' || bad "$name: start" "no ready line"
}
# cmd NAME N LINE: sends LINE and waits for the program's Nth answer line
cmd() {
	echo "$3" >&3
	n=0
	while [ "$n" -lt 1500 ] && [ "$(wc -l <"$T/$1.out")" -lt "$2" ]; do
		sleep 0.02
		n=$((n + 1))
	done
}
# finish: quit, close the FIFO, wait -> $status
finish() {
	echo quit >&3
	exec 3>&-
	wait "$pid"
	status=$?
}
# state PID: what the program must have the same after a detach
state() {
	printf 'fds=%s threads=%s\n' "$(ls /proc/$1/fd | wc -l)" "$(ls /proc/$1/task | wc -l)"
	for t in /proc/$1/task/*; do grep -E '^(SigBlk|SigIgn|SigCgt|State)' "$t/status"; done
	readlink /proc/$1/cwd
	md5sum </proc/$1/environ
	md5sum </proc/$1/limits
}
# field TID EVENT FUNC: events in the dump
count() { awk -v t="$1" -v e="$2" -v f="$3" '$2 == t && $4 == e && $7 == f { n++ } END { print n + 0 }' "$T/$name.dump"; }
inherits() { awk -v t="$1" '$2 == t && $4 == "inherit" { printf "%s%s", s, $7; s = " " }' "$T/$name.dump"; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
notstopped() { awk '{ print ($3 == "T" || $3 == "t") ? "stopped" : "running" }' "/proc/$1/stat"; }

for cc in gcc clang; do
	$cc -O2 -g -finstrument-functions -pthread -o ap-$cc "$HERE/progs/attachprog.c" ||
		{ bad "$cc build" "failed"; continue; }

	# the untraced reference
	start ref-$cc ./ap-$cc
	cmd ref-$cc 2 "go 1000"
	cmd ref-$cc 3 "go 500"
	cmd ref-$cc 4 "go 300"
	finish
	ref_status=$status

	# the same, attached for the "go 500" only
	name=a-$cc
	start $name ./ap-$cc
	cmd $name 2 "go 1000"
	before=$(state $pid)
	"$C" attach -d "$T/$name.d" --store "sqlite:$T/$name.db" --keep "$pid" 2>"$T/$name.att" &
	att=$!
	waitfor "$T/$name.att" 'attached to' 10
	check "$cc: attach message" "ctrace: attached to $pid (4 threads)" "$(grep 'attached to' "$T/$name.att")"
	cmd $name 3 "go 500"
	"$C" detach "$pid" 2>"$T/$name.det"
	check "$cc: detach exits 0" 0 "$?"
	wait "$att"
	check "$cc: attach exits 0 once committed" "0 1" "$? $(grep -c 'committed to' "$T/$name.att")"
	check "$cc: process state after detach" "$before" "$(state $pid)"
	cmd $name 4 "go 300"
	finish
	check "$cc: exit status as untraced" "$ref_status" "$status"
	check "$cc: output as untraced" "$(cat "$T/ref-$cc.out")" "$(cat "$T/$name.out")"
	dir=$(ls -d "$T/$name.d"/*/ | head -n 1)
	"$C" dump "$dir" >"$T/$name.dump"
	tids=$(awk '{ print $2 }' "$T/$name.dump" | sort -un)
	check "$cc: every thread in the run" 4 "$(echo "$tids" | wc -w)"
	a=
	for t in $tids; do [ "$t" != "$pid" ] && a="$a $(count "$t" enter work_a)/$(count "$t" enter work_b)"; done
	check "$cc: each worker's window calls exactly" " 500/500 500/500 500/500" "$a"
	check "$cc: main thread: one command in the window" "1 1" "$(count "$pid" enter handle) $(count "$pid" exit handle)"
	check "$cc: SIGUSR1 handler calls in the window" 5 "$(awk '$4 == "enter" && $7 == "on_usr1"' "$T/$name.dump" | wc -l)"
	check "$cc: main's inherited frames" "main read_line" "$(inherits "$pid")"
	w=
	for t in $tids; do [ "$t" != "$pid" ] && w="$w|$(inherits "$t")"; done
	check "$cc: workers' inherited frames" "|worker_main wait_go|worker_main wait_go|worker_main wait_go" "$w"
	check "$cc: nothing before or after the window" 0 "$(awk '$4 == "enter" && $7 == "work_a"' "$T/$name.dump" | wc -l | awk '{ print $1 - 1500 }')"
	"$R" --store "sqlite:$T/$name.db" --json >"$T/$name.json"
	check "$cc: run metadata attached=true, window ordered" "true 1" "$(python3 -c "
import json; m = json.load(open('$T/$name.json'))['metadata']
print(m.get('attached'), int(int(m['attach.start_real_ns']) < int(m['attach.end_real_ns'])))")"
	check "$cc: calls in the store" 1500 "$(python3 -c "
import json; d = json.load(open('$T/$name.json'))
print(sum(f['calls'] for f in d['functions'] if f['name'] == 'work_a'))")"
done

# ---- objects dlopened in the window: patched before the program calls into them
for l in x y z; do
	gcc -O2 -g -finstrument-functions -shared -fPIC -Dlib_fn=${l}_fn -Dlib_helper=${l}_helper \
		-o "$T/libdl$l.so" "$HERE/progs/dl_lib.c" || bad "dl lib $l build" "failed"
done
name=dl
start $name env LD_LIBRARY_PATH="$T" ./ap-gcc
"$C" attach -d "$T/dl.d" --store "sqlite:$T/dl.db" --keep "$pid" 2>"$T/dl.att" &
att=$!
waitfor "$T/dl.att" 'attached to' 10
cmd $name 2 "dl $T/libdlx.so x_fn 400"
cmd $name 3 "dl libdly.so y_fn 300" # a bare name: glibc's search from the program's frame
"$C" detach "$pid" 2>/dev/null
wait "$att"
check "dlopen in the window: attach commits, exit 0" 0 "$?"
cmd $name 4 "dl $T/libdlx.so x_fn 5"
"$C" dump "$(ls -d "$T/dl.d"/*/ | head -n 1)" >"$T/dl.dump"
check "dlopen by path in the window: every call, exactly" "400 400" "$(count "$pid" enter x_fn) $(count "$pid" enter x_helper)"
check "dlopen by bare name: every call after its dlsym, exactly" "300 300" "$(count "$pid" enter y_fn) $(count "$pid" exit y_helper)"
"$R" --store "sqlite:$T/dl.db" --json >"$T/dl.json"
check "dlopen in the window: symbolized in the store" "x_fn=400 y_helper=300" "$(python3 -c "
import json; d = {f['name']: f['calls'] for f in json.load(open('$T/dl.json'))['functions']}
print('x_fn=%s y_helper=%s' % (d.get('x_fn'), d.get('y_helper')))")"
# a second window: the slots were given back, and are taken again for a new object
"$C" attach -d "$T/dl2.d" --no-commit "$pid" 2>"$T/dl2.att" &
att=$!
waitfor "$T/dl2.att" 'attached to' 10
cmd $name 5 "dl $T/libdlz.so z_fn 200"
cmd $name 6 "dl $T/libdlx.so x_fn 100"
"$C" detach "$pid" 2>/dev/null
wait "$att"
"$C" dump "$(ls -d "$T/dl2.d"/*/ | head -n 1)" >"$T/dl.dump"
check "dlopen, second window: the new object and the old one" "200 100" "$(count "$pid" enter z_fn) $(count "$pid" enter x_fn)"
cmd $name 7 "dl $T/libdlz.so z_fn 10"
finish
check "dlopen windows: the program's answers and status" "dl x_fn called|dl y_fn called|dl x_fn called|dl z_fn called|dl x_fn called|dl z_fn called|3" \
	"$(sed -n '2,7p' "$T/dl.out" | paste -sd'|')|$status"

# ---- 50 attach/detach cycles: the process stays healthy
name=cyc
start $name ./ap-gcc
cycpid=$pid
cmd $name 2 "go 10"
first=
i=0
lines=2
okc=0
while [ $i -lt 50 ]; do
	: >"$T/cyc.att" # no line of the last cycle may look like this one's
	"$C" attach -d "$T/cyc.d" --no-commit "$pid" 2>"$T/cyc.att" &
	att=$!
	waitfor "$T/cyc.att" 'attached to' 10
	lines=$((lines + 1))
	cmd $name $lines "go 10"
	"$C" detach "$pid" 2>>"$T/cyc.errs"
	if wait "$att"; then okc=$((okc + 1)); else cat "$T/cyc.att" >>"$T/cyc.errs"; fi
	rm -rf "$T/cyc.d"
	s=$(grep -E '^(VmRSS)' /proc/$pid/status | awk '{ print $2 }')
	[ $i -eq 4 ] && rss5=$s && first=$(state $pid)
	i=$((i + 1))
done
check "50 cycles: every attach and detach succeeded" 50 "$okc"
[ "$okc" = 50 ] || sed 's/^/    /' "$T/cyc.errs"
check "50 cycles: fds, threads, masks, env, cwd, limits stable" "$first" "$(state $pid)"
check "50 cycles: RSS stable (KiB grown after cycle 5 under 1024)" 1 "$([ $((s - rss5)) -lt 1024 ] && echo 1)"
lines=$((lines + 1))
cmd $name $lines "go 10"
check "50 cycles: the program counted every call" "done a=1560 b=1560 usr1=0" "$(sed -n "${lines}p" "$T/cyc.out")"

# ---- recording options
opt() { # NAME OPTIONS...: one window of "go 200" with OPTIONS -> NAME.dump, NAME.json
	name=$1
	shift
	"$C" attach -d "$T/$name.d" --store "sqlite:$T/$name.db" --keep "$@" "$pid" 2>"$T/$name.att" &
	att=$!
	waitfor "$T/$name.att" 'attached to' 10
	lines=$((lines + 1))
	cmd cyc $lines "go 200"
	"$C" detach "$pid" 2>/dev/null
	wait "$att"
	astatus=$?
	"$C" dump "$(ls -d "$T/$name.d"/*/ | head -n 1)" >"$T/$name.dump" 2>/dev/null
}
ev() { awk -v f="$2" '$4 == "enter" && $7 == f' "$T/$1.dump" | wc -l; }
opt oexcl --exclude work_b
check "--exclude work_b: work_a kept, work_b not" "0 600 0" "$astatus $(ev oexcl work_a) $(ev oexcl work_b)"
opt ofilt --filter work_b
check "--filter work_b: only work_b" "600 0" "$(ev ofilt work_b) $(ev ofilt work_a)"
opt odepth --depth 2
check "--depth 2: work_a at depth 2, work_b beyond" "600 0" "$(ev odepth work_a) $(ev odepth work_b)"
opt omin --min-duration 1s
check "--min-duration 1s: the short calls dropped" "0 0" "$(ev omin work_a) $(ev omin work_b)"
opt osamp --sample 100
check "--sample 100: 1 in 100 calls of work_a" 6 "$(ev osamp work_a)"
opt omax --max-size 4K
check "--max-size 4K: events counted as lost" 1 "$(grep -c 'max-size reached' "$T/omax.att")"
opt oring --ring 1M --trigger-slower 'handle:1us'
check "--ring --trigger-slower: a snapshot of the slow handle" 1 "$(grep -c 'snapshot 1 (slower' "$T/oring.att")"
check "--ring: the snapshot at detach committed" 1 "$(grep -c 'committed to' "$T/oring.att" | awk '{ print ($1 >= 2) }')"

# ---- the other ends of a window: --duration, ^C, the program's exit
t0=$(date +%s%N)
"$C" attach -d "$T/dur.d" --no-commit --duration 300ms "$pid" 2>"$T/dur.att"
check "--duration 300ms: ends by itself, exit 0" "0 1" "$? $(grep -c "detached from $pid" "$T/dur.att")"
check "--duration 300ms: not before 300 ms" 1 "$([ "$(ms_since "$t0")" -ge 300 ] && echo 1)"
"$C" attach -d "$T/int.d" --no-commit "$pid" 2>"$T/int.att" &
att=$!
waitfor "$T/int.att" 'attached to' 10
kill -INT "$att"
wait "$att"
check "SIGINT (^C) of ctrace attach: detaches, exit 0" "0 1" "$? $(grep -c "detached from $pid" "$T/int.att")"
lines=$((lines + 1))
cmd cyc $lines "go 1"
check "after --duration and ^C: the process answers" 1 "$(sed -n "${lines}p" "$T/cyc.out" | grep -c '^done')"

exec 4>&3
name=ex
start $name ./ap-gcc
"$C" attach -d "$T/ex.d" --store "sqlite:$T/ex.db" "$pid" 2>"$T/ex.att" &
att=$!
waitfor "$T/ex.att" 'attached to' 10
cmd $name 2 "go 100"
finish
check "program exits in the window: its status" 3 "$status"
wait "$att"
check "program exits in the window: ctrace attach commits, exit 0" "0 1" "$? $(grep -c 'committed to' "$T/ex.att")"
"$R" --store "sqlite:$T/ex.db" --json >"$T/ex.json"
check "program exits in the window: attach.end=exit, calls kept" "exit 300" "$(python3 -c "
import json; d = json.load(open('$T/ex.json'))
print(d['metadata'].get('attach.end'), sum(f['calls'] for f in d['functions'] if f['name'] == 'work_a'))")"
exec 3>&4 4>&-
pid=$cycpid

# ---- a thread in epoll_wait (EINTR after any stop): left running, no EINTR
exec 4>&3
name=ep
start $name ./ap-gcc 3 epoll
"$C" attach -d "$T/ep.d" --no-commit "$pid" 2>"$T/ep.att" &
att=$!
waitfor "$T/ep.att" 'attached to' 10
cmd $name 2 "go 10"
"$C" detach "$pid" 2>/dev/null
wait "$att"
check "epoll_wait thread: attach and detach succeed" 0 "$?"
cmd $name 3 "go 10"
finish
check "epoll_wait thread: no EINTR, status 3" "0 3" "$(grep -c EINTR "$T/ep.out") $status"
exec 3>&4 4>&-
pid=$cycpid

# ---- errors: a clear message, a stable code, within a second, the process running on
err() { # NAME CODE PID [OPTIONS]: ctrace attach fails with CODE
	n=$1
	code=$2
	p=$3
	shift 3
	t0=$(date +%s%N)
	"$C" attach -d "$T/err.d" --store "sqlite:$T/err.db" "$@" "$p" >"$T/$n.out" 2>"$T/$n.err"
	st=$?
	ms=$(ms_since "$t0")
	check "error $n: exit 1, $code, within 1 s" "1 1 1" "$st $(grep -c "$code" "$T/$n.err") $([ "$ms" -lt 1000 ] && echo 1 || echo "$ms ms")"
}
"$C" attach -d "$T/hold.d" --no-commit "$pid" 2>"$T/hold.att" &
hold=$!
waitfor "$T/hold.att" 'attached to' 10
err second CTRACE_E_EXISTS "$pid"
check "error second: names the holder" 1 "$(grep -c "attached already (by ctrace $hold" "$T/second.err")"
"$C" detach "$pid" 2>/dev/null
wait "$hold"
check "error second: the first attach unharmed" 0 "$?"
check "error cases: the process not left stopped" running "$(notstopped "$pid")"
lines=$((lines + 1))
cmd cyc $lines "go 1"
check "error cases: the process answers" 1 "$(sed -n "${lines}p" "$T/cyc.out" | grep -c '^done')"

sh -c 'exit 0' &
gone=$!
wait $gone
err missing CTRACE_E_NOT_FOUND "$gone"
check "error missing: names the pid" 1 "$(grep -c "no process $gone" "$T/missing.err")"
"$C" attach 12x 2>"$T/notapid.err"
check "error not a pid: exit 2, CTRACE_E_USAGE" "2 1" "$? $(grep -c CTRACE_E_USAGE "$T/notapid.err")"

gcc -O2 -pthread -o plain "$HERE/progs/attachprog.c"
exec 4>&3
start plain ./plain
err plain CTRACE_E_TARGET "$pid"
check "error plain: says -finstrument-functions" 1 "$(grep -c 'finstrument-functions' "$T/plain.err")"
check "error plain: not stopped, no preload mapped" "running 0" "$(notstopped "$pid") $(grep -c libctrace /proc/$pid/maps)"
finish

if gcc -O2 -static -finstrument-functions -pthread -o static "$HERE/progs/attachprog.c" 2>/dev/null; then
	start static ./static
	err static CTRACE_E_TARGET "$pid"
	check "error static: says static" 1 "$(grep -c 'static binary' "$T/static.err")"
	check "error static: not stopped" running "$(notstopped "$pid")"
	finish
else
	echo "skip error static: no static libc to build with"
fi

# the zombie's parent must never reap it: a shell may reap a finished background job before
# its exec (a race CI lost), python does not without a wait
python3 -c '
import os, sys, time
pid = os.fork()
if pid == 0:
    fd = os.open("/dev/null", os.O_RDWR)
    os.dup2(fd, 0)
    os.dup2(fd, 1)
    os.execv("./ap-gcc", ["ap-gcc"])
open("zpid.tmp", "w").write("%d\n" % pid)
os.rename("zpid.tmp", "zpid")
time.sleep(30)' &
shpid=$!
PROGS="$PROGS $shpid"
waitfor zpid . 5
zp=$(cat zpid)
n=0
while [ "$(awk '{ print $3 }' /proc/$zp/stat 2>/dev/null)" != Z ] && [ $n -lt 500 ]; do sleep 0.02; n=$((n + 1)); done
zst=$(awk '{ print $3 }' /proc/$zp/stat 2>/dev/null)
err zombie CTRACE_E_TARGET "$zp"
check "error zombie: says zombie" 1 "$(grep -c zombie "$T/zombie.err")"
grep -q zombie "$T/zombie.err" || echo "note zombie: state '$zst' before, ctrace said: $(cat "$T/zombie.err")"
kill "$shpid" 2>/dev/null

start rec "$C" record -d "$T/rec.d" --store "sqlite:$T/rec.db" -- ./ap-gcc
rp=$(pgrep -P "$pid" -x ap-gcc)
err underrecord CTRACE_E_EXISTS "$rp"
check "error underrecord: says ctrace record" 1 "$(grep -c 'ctrace record' "$T/underrecord.err")"
check "error underrecord: not stopped" running "$(notstopped "$rp")"
finish
check "error underrecord: the record goes on and commits" 3 "$status"

if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	mkdir -p "$T/nob" && chown 65534 "$T/nob"
	exec 3>&4
	t0=$(date +%s%N)
	setpriv --reuid=65534 --regid=65534 --clear-groups "$C" attach -d "$T/nob/d" --store "sqlite:$T/nob/s.db" "$cycpid" >/dev/null 2>"$T/other.err"
	st=$?
	check "error other user: exit 1, CTRACE_E_PERM, within 1 s" "1 1 1" "$st $(grep -c CTRACE_E_PERM "$T/other.err") $([ "$(ms_since "$t0")" -lt 1000 ] && echo 1)"
	check "error other user: says another user" 1 "$(grep -c 'another user' "$T/other.err")"
else
	echo "skip error other user: needs root and setpriv"
fi
if [ -r /proc/sys/kernel/yama/ptrace_scope ] && [ "$(cat /proc/sys/kernel/yama/ptrace_scope)" -ge 1 ] && [ "$(id -u)" = 0 ]; then
	mkdir -p "$T/nob" && chown 65534 "$T/nob"
	setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "sleep 30 & echo \$! >$T/nob/p; wait" &
	waitfor "$T/nob/p" . 5
	setpriv --reuid=65534 --regid=65534 --clear-groups "$C" attach -d "$T/nob/d" "$(cat "$T/nob/p")" 2>"$T/yama.err"
	check "error Yama: names ptrace_scope" 1 "$(grep -c 'ptrace_scope' "$T/yama.err")"
	kill "$(cat "$T/nob/p")"
else
	echo "skip error Yama: this kernel has no Yama ptrace_scope >= 1 (the message is checked by hand)"
fi
exec 3>&4 4>&-
name=cyc
pid=$cycpid
check "after everything: the process not stopped" running "$(notstopped "$pid")"
finish
check "after everything: exit status 3" 3 "$status"
summary attach
