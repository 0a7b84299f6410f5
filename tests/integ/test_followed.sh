#!/bin/sh
# SPDX-License-Identifier: MIT
# What a run follows (docs/recording.md, What is followed), with gcc and clang: objects loaded
# at run time (dlopen through relative paths and LD_LIBRARY_PATH=., a dlclose and a dlopen of
# another library at the same base, a C++ library linking another through $ORIGIN): exact
# names and counts per library, module list with build-ids and load/unload times; exec and
# spawn with an environment of the program's own through every entry point: three processes
# with their calls, and one with --no-follow-exec; fork children with and without calls of
# their own: both count their inherited frames. Prints ok/FAIL lines.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
B=$(cd "${1:-build}" && pwd)
T=$(mktemp -d /tmp/ctrace-followed.XXXXXX)
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
P=$HERE/progs

# calls STORE F...: the calls of each function F (flat profile name) in the latest run
calls() {
	s=$1
	shift
	"$B/ctrace-report" --store "$s" --min-percent 0 --top 0 >"$T/flat" 2>&1
	for f in "$@"; do
		awk -v n="$f" '$NF == n { c += $1 } END { printf "%d ", c }' "$T/flat"
	done
}
# procs STORE: the processes of the latest run
procs() { "$B/ctrace" show --store "$1" latest 2>/dev/null | grep -c '^  pid '; }

for cc in gcc clang; do
	case $cc in gcc) CXX=g++ ;; *) CXX=clang++ ;; esac
	if ! command -v $cc >/dev/null 2>&1 || ! command -v $CXX >/dev/null 2>&1; then
		bad "$cc" "$cc or $CXX not installed"
		continue
	fi
	D=$T/$cc
	F="-O0 -g -finstrument-functions"
	mkdir -p "$D/sub"
	(cd "$D" &&
		$cc $F -shared -fPIC -o libfldep.so "$P/follow_dldep.c" &&
		$cc $F -shared -fPIC -DL=a -o libfla.so "$P/follow_dlx.c" &&
		$cc $F -shared -fPIC -DL=b -o libflb.so "$P/follow_dlx.c" &&
		$cc $F -shared -fPIC -DL=c -o libflc.so "$P/follow_dlx.c" &&
		$CXX $F -shared -fPIC -o sub/libflcxi.so "$P/follow_cxi.cc" &&
		$CXX $F -shared -fPIC -o sub/libflcxo.so "$P/follow_cxo.cc" -Lsub -lflcxi \
			-Wl,-rpath,'$ORIGIN' &&
		$cc $F -o fdl "$P/follow_dl.c" -L. -lfldep -ldl &&
		$cc $F -o fspawn "$P/follow_spawn.c" &&
		$cc $F -o ffork "$P/follow_fork.c") || { bad "$cc build" "compilation failed"; continue; }

	# ---- 1. dlopen'd objects ------------------------------------------------------------
	S=sqlite:$D/dl.db
	out=$(cd "$D" && LD_LIBRARY_PATH=. "$B/ctrace" record -d "$D/data" -s "$S" -- ./fdl 2>"$D/dl.err")
	check "$cc dlopen: status, libflc.so mapped at libfla.so's base" "0 same-base 1" "$? $out"
	check "$cc dlopen: calls per library (dep a a b b c c cx run twice)" "2 3 3 5 5 7 7 1 1 4 " \
		"$(calls "$S" dep_fn dla_fn dla_leaf dlb_fn dlb_leaf dlc_fn dlc_leaf cx_entry \
			flw::Outer::run flw::Inner::twice)"
	check "$cc dlopen: no function left unnamed" 0 "$(grep -c ' 0x[0-9a-f]*$' "$T/flat")"
	"$B/ctrace" show --store "$S" latest --functions --modules --json >"$D/list.json" 2>&1
	for l in libfldep.so libfla.so libflb.so libflc.so sub/libflcxo.so sub/libflcxi.so; do
		readelf -n "$D/$l" | awk '/Build ID/ { print $3 }'
	done >"$D/bids"
	got=$(python3 - "$D" "$D/list.json" "$D/bids" <<'PY'
import json, sys
d, lst, bids = sys.argv[1], json.load(open(sys.argv[2])), open(sys.argv[3]).read().split()
libs = ["libfldep.so", "libfla.so", "libflb.so", "libflc.so", "sub/libflcxo.so", "sub/libflcxi.so"]
mods = {m["path"]: m for m in lst["modules"]}
out = []
for l, b in zip(libs, bids):
    m = mods.get(d + "/" + l)
    out.append("%s:%s" % (l, "missing" if m is None else "ok" if m["build_id"] == b else "bad-build-id"))
print(" ".join(out))
a, c = mods.get(d + "/libfla.so"), mods.get(d + "/libflc.so")
if a and c:
    print("same base" if a["base"] == c["base"] else "bases differ",
          "a loaded, unloaded" if 0 < a["loaded_ns"] <= a["unloaded_ns"] else "a: %d %d" % (a["loaded_ns"], a["unloaded_ns"]),
          "c after a" if c["loaded_ns"] >= a["unloaded_ns"] >= 0 and c["unloaded_ns"] == -1 else "c: %d %d" % (c["loaded_ns"], c["unloaded_ns"]),
          "dep at start" if mods[d + "/libfldep.so"]["loaded_ns"] == 0 and mods[d + "/libfldep.so"]["unloaded_ns"] == -1 else "dep wrong")
where = {f["name"]: lst["modules"][f["module"]]["path"][len(d) + 1:] for f in lst["functions"]
         if f.get("module") is not None and f["module"] < len(lst["modules"])}
print(" ".join("%s@%s" % (f, where.get(f, "?")) for f in
               ["dla_fn", "dlc_fn", "dlb_leaf", "dep_fn", "flw::Outer::run(int)", "flw::Inner::twice(int)"]))
PY
)
	check "$cc dlopen: every library in the module list with its build-id" \
		"libfldep.so:ok libfla.so:ok libflb.so:ok libflc.so:ok sub/libflcxo.so:ok sub/libflcxi.so:ok" \
		"$(echo "$got" | sed -n 1p)"
	check "$cc dlopen: load and unload times" "same base a loaded, unloaded c after a dep at start" \
		"$(echo "$got" | sed -n 2p)"
	check "$cc dlopen: each function in the library mapped at the time of its calls (C++ demangled)" \
		"dla_fn@libfla.so dlc_fn@libflc.so dlb_leaf@libflb.so dep_fn@libfldep.so flw::Outer::run(int)@sub/libflcxo.so flw::Inner::twice(int)@sub/libflcxi.so" \
		"$(echo "$got" | sed -n 3p)"
	(cd "$D" && LD_LIBRARY_PATH=. "$B/ctrace" record -d "$D/data" -s "$S" --filter 'dlb_*' -- ./fdl >/dev/null 2>&1)
	check "$cc dlopen: --filter matches a library found through LD_LIBRARY_PATH=." "0 5 5 0 " \
		"$(calls "$S" main dlb_fn dlb_leaf dla_fn)"

	# ---- 2. exec and spawn with the program's own environment -------------------------
	S=sqlite:$D/spawn.db
	# the parent, the spawned program and the image it execs; the exec forms run in a fork
	# child of the parent, a fourth process (its first image)
	for entry in posix_spawn posix_spawnp execve execvpe execle fexecve execveat; do
		case $entry in posix_spawn*) n=3 ;; *) n=4 ;; esac
		"$B/ctrace" record -d "$D/data" -s "$S" -- "$D/fspawn" $entry >/dev/null 2>"$D/sp.err"
		check "$cc $entry, own environment: status, processes, top mid leaf" "0 $n 1 3 4 " \
			"$? $(procs "$S") $(calls "$S" top mid leaf)"
	done
	FOLLOW_PRELOAD=$D/libfldep.so "$B/ctrace" record -d "$D/data" -s "$S" -- "$D/fspawn" \
		posix_spawn >/dev/null 2>"$D/sp.err"
	check "$cc posix_spawn, own LD_PRELOAD: kept, ctrace prepended; processes, top mid leaf" \
		"0 3 1 3 4 " "$? $(procs "$S") $(calls "$S" top mid leaf)"
	"$B/ctrace" record --no-follow-exec -d "$D/data" -s "$S" -- "$D/fspawn" posix_spawn \
		>/dev/null 2>"$D/sp.err"
	check "$cc --no-follow-exec: the spawned programs run untraced" "0 1 1 0 0 " \
		"$? $(procs "$S") $(calls "$S" top mid leaf)"
	check "$cc --no-follow-exec: saved with the run" 1 \
		"$("$B/ctrace" show --store "$S" latest | grep -c '^  option.no_follow_exec=on$')"

	# ---- 3. fork children with and without calls ---------------------------------------
	S=sqlite:$D/fork.db
	"$B/ctrace" record -d "$D/data" -s "$S" -- "$D/ffork" >/dev/null 2>"$D/fork.err"
	check "$cc fork: status, processes, main quiet busy work (inherited frames counted in both children)" \
		"0 3 3 2 2 3 " "$? $(procs "$S") $(calls "$S" main quiet busy work)"
done
summary followed
