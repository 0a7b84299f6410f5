#!/bin/sh
# SPDX-License-Identifier: MIT
# The contracts written once: the run's JSON form (store/runjson) is the same in every JSON
# output and survives bytes that are not UTF-8; text reports show terminal control bytes
# instead of sending them; --out files are written all or nothing; the option table's limits
# (one set, shared with the preload) are a usage error at the CLI. Prints ok/FAIL lines.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
B=$(cd "${1:-build}" && pwd)
T=$(mktemp -d /tmp/ctrace-contracts.XXXXXX)
MNT=
cleanup() {
	[ -n "$MNT" ] && umount "$MNT" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
[ -n "${CTRACE_KEEP_TMP:-}" ] && trap - EXIT
C=$B/ctrace
R=$B/ctrace-report
cd "$T" || exit 1
cat >attrs.c <<'EOF'
#include "ctrace.h"
static int leaf(int x) { return x + 1; }
int main(void)
{
	int s = 0;
	CTRACE_SCOPE("phase\033]0;owned\007");
	ctrace_attr_str("path", "/tmp/\377\376bad\033[2J");
	for (int i = 0; i < 10; i++)
		s += leaf(i);
	return s == 55 ? 0 : 1;
}
EOF
gcc -O0 -g -finstrument-functions -I"$HERE/../../instrument" -o attrs attrs.c || {
	bad build "gcc attrs.c"
	exit 1
}
ESC=$(printf '\033')
ARG=$(printf 'a\033[31mred\377z')
S=sqlite:$T/s.db
J=jsonl:$T/s.jsonl
"$C" record --store "$S" -- ./attrs "$ARG" >/dev/null 2>"$T/rec.err"
check "record a run with ESC and a non-UTF-8 byte in argv and attributes" 0 $?
"$C" export --to "$J" --store "$S" >/dev/null 2>&1
check "export to JSONL" 0 $?

# JSON outputs: each parses, carries the command (U+FFFD for the bad byte) and the same keys.
py_keys() { # FILE WHAT: prints the command and the sorted summary keys of a JSON output
	python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
if sys.argv[2] == "list":
    d = d[0]
keys = ["run_id", "command", "host", "cwd", "start_unix_ns", "duration_ns", "exit_status",
        "signal", "crashed", "events", "lost_events", "metadata"]
missing = [k for k in keys if k not in d]
print(repr(d.get("command")), "missing:%s" % ",".join(missing) if missing else "all-keys")
PY
}

want=$(python3 -c "print(repr('./attrs a\x1b[31mred\ufffdz'), 'all-keys')")
for store in "$S" "$J"; do
	"$C" list --json --store "$store" >list.json 2>/dev/null
	check "list --json ($store) keeps the command" "$want" "$(py_keys list.json list)"
	"$R" --json --store "$store" >rep.json 2>/dev/null
	check "ctrace-report --json ($store) parses, same keys" "$want" "$(py_keys rep.json one)"
	"$C" show --store "$store" --format json --out show.json 2>/dev/null
	check "show --format json ($store) exits 0" 0 $?
	check "show --format json ($store) same keys" "$want" "$(py_keys show.json one)"
done
for f in chrome otlp; do
	"$C" show --store "$S" --format $f --out x.$f 2>/dev/null
	check "show --format $f with bad bytes exits 0" 0 $?
	python3 -c "import json,sys; json.load(open(sys.argv[1], encoding='utf-8'))" x.$f 2>/dev/null
	check "show --format $f output parses as UTF-8 JSON" 0 $?
done
check "the span attribute reaches the chrome export" 1 \
	"$(python3 -c "import json,sys; d=json.load(open('x.chrome')); print(sum(1 for e in d['traceEvents'] if e.get('args',{}).get('path','').startswith('/tmp/\ufffd')))" 2>/dev/null)"

# Text views: no raw ESC from the program, shown as \x1b.
"$C" list --store "$S" >list.txt 2>&1
check "list text: no raw ESC" 0 "$(grep -c "$ESC" list.txt)"
check "list text: ESC shown as \\x1b" 1 "$(grep -c 'a\\x1b\[31mred\\xffz' list.txt)"
for v in "" --tree --threads "--callers leaf"; do
	# shellcheck disable=SC2086
	"$R" --store "$S" $v >view.txt 2>&1
	check "ctrace-report $v: no raw ESC" 0 "$(grep -c "$ESC" view.txt)"
done
"$R" --store "$S" --tree --min-percent 0 >view.txt 2>&1
check "tree shows the span name escaped" 1 "$(grep -c 'phase\\x1b\]0;owned\\x07' view.txt)"
"$C" show --store "$S" >view.txt 2>&1
check "show summary: no raw ESC" 0 "$(grep -c "$ESC" view.txt)"

# --out is all or nothing: a failed export leaves an existing file untouched, and no temp file.
if [ "$(id -u)" = 0 ] && mkdir -p "$T/full" && mount -t tmpfs -o size=16k tmpfs "$T/full" 2>/dev/null; then
	MNT=$T/full
	echo old >"$T/full/out.json"
	dd if=/dev/zero of="$T/full/fill" bs=1k count=12 2>/dev/null
	"$C" show --store "$S" --format json --chunks --out "$T/full/out.json" 2>err.txt
	check "export onto a full disk fails with CTRACE_E_IO" "1 1" "$? $(grep -c CTRACE_E_IO err.txt)"
	check "the earlier --out file is untouched" old "$(cat "$T/full/out.json")"
	check "no temporary file left" 2 "$(ls -A "$T/full" | wc -l)"
else
	echo "skip --out on a full disk: needs root for a tmpfs"
fi
"$C" show --store "$S" --format json --out "$T/nodir/x.json" 2>err.txt
check "--out into a missing directory: CTRACE_E_IO, exit 1" "1 1" "$? $(grep -c CTRACE_E_IO err.txt)"

# --out onto something that is not a regular file is written directly (never replaced), and
# through a symlink the link stays and its target gets the export.
mkfifo "$T/fifo"
cat "$T/fifo" >"$T/fifo.out" &
"$C" show --store "$S" --format folded --out "$T/fifo" 2>/dev/null
check "--out onto a FIFO exits 0" 0 $?
wait
check "the FIFO is still a FIFO and got the export" "yes yes" \
	"$([ -p "$T/fifo" ] && echo yes) $(grep -q '^main' "$T/fifo.out" && echo yes)"
echo old >"$T/target.txt"
ln -s target.txt "$T/link.txt"
"$C" show --store "$S" --format folded --out "$T/link.txt" 2>/dev/null
check "--out through a symlink keeps the link, writes its target" "yes yes" \
	"$([ -L "$T/link.txt" ] && echo yes) $(grep -q '^main' "$T/target.txt" && echo yes)"

summary contracts
