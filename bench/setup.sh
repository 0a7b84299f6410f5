#!/bin/sh
# SPDX-License-Identifier: MIT
# Prepares the benchmark workloads under bench/work/ (idempotent): fetches the lua5.4, sqlite3
# and libzstd Debian source packages through a temporary deb-src list (the system's apt
# configuration is left untouched), builds every workload twice (plain -O2 -g and with
# -finstrument-functions), builds the floor and counting preloads, and installs uftrace when
# it is missing. Knobs: BENCH_WORK (default bench/work), CC (default gcc), BENCH_ONLY (the
# source workloads to prepare, default "lua zstd sqlite"; set, it also skips uftrace).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$ROOT/bench"
WORK=${BENCH_WORK:-$BENCH/work}
CC=${CC:-gcc}
NICE="nice -n 10"
SRC="$WORK/src"
BIN="$WORK/bin"
BASE_CFLAGS="-O2 -g"
INST_CFLAGS="-O2 -g -finstrument-functions"

mkdir -p "$SRC" "$BIN"
say() { echo "bench/setup: $*"; }
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

# --- tools ---------------------------------------------------------------------------------
if [ -z "${BENCH_ONLY:-}" ] && ! command -v uftrace >/dev/null 2>&1; then
	say "installing uftrace"
	$SUDO apt-get install -y -qq --no-install-recommends uftrace >/dev/null ||
		say "cannot install uftrace; its columns will read n/a"
fi

# --- Debian source packages ----------------------------------------------------------------
APTDIR="$WORK/apt"
apt_src() {
	apt-get -q -o Dir::Etc::SourceList="$APTDIR/deb-src.sources" \
		-o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$APTDIR/lists" \
		-o Dir::Cache="$APTDIR/cache" -o APT::Sandbox::User=root "$@"
}
apt_cache() {
	apt-cache -q -o Dir::Etc::SourceList="$APTDIR/deb-src.sources" \
		-o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$APTDIR/lists" \
		-o Dir::Cache="$APTDIR/cache" "$@"
}
fetch() { # fetch PKG DIRGLOB: 0 with the unpacked tree in $TREE, or 1
	TREE=$(find "$SRC" -maxdepth 1 -type d -name "$2" | sort | tail -n 1)
	[ -n "$TREE" ] && return 0
	if [ ! -f "$APTDIR/updated" ]; then
		mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial"
		src=/etc/apt/sources.list.d/debian.sources
		if [ -f "$src" ]; then
			sed 's/^Types:.*/Types: deb-src/' "$src" >"$APTDIR/deb-src.sources"
		else # one-line format
			grep -h '^deb ' /etc/apt/sources.list 2>/dev/null |
				sed 's/^deb /deb-src /' >"$APTDIR/deb-src.sources" || return 1
		fi
		say "apt-get update (temporary deb-src list)"
		apt_src update >/dev/null || return 1
		touch "$APTDIR/updated"
	fi
	say "fetching source package $1"
	dsc=
	if ! (cd "$SRC" && apt_src source --download-only "$1" >/dev/null 2>&1); then
		# the newest version may be listed but not served (a security update's pool
		# 404s here): try the others the lists name, newest first
		got=0
		for v in $(apt_cache showsrc "$1" 2>/dev/null | sed -n 's/^Version: //p' | sort -r -V); do
			say "retrying $1=$v"
			if (cd "$SRC" && apt_src source --download-only "$1=$v" >/dev/null 2>&1); then
				got=1
				dsc="$SRC/$1_${v#*:}.dsc"
				break
			fi
		done
		[ $got = 1 ] || return 1
	fi
	[ -n "$dsc" ] || dsc=$(ls "$SRC"/"$1"_*.dsc | sort | tail -n 1)
	(cd "$SRC" && dpkg-source -q --no-check -x "$dsc" >/dev/null) || return 1
	TREE=$(find "$SRC" -maxdepth 1 -type d -name "$2" | sort | tail -n 1)
	[ -n "$TREE" ]
}

# --- preloads and micro workloads ----------------------------------------------------------
build_if() { # build_if OUT SRC... -- CMD: run CMD when OUT is older than any SRC
	out=$1
	shift
	stale=0
	[ -e "$out" ] || stale=1
	while [ "$1" != "--" ]; do
		[ "$1" -nt "$out" ] && stale=1
		shift
	done
	shift
	[ $stale = 1 ] || return 0
	"$@"
}

build_if "$BIN/floor.so" "$BENCH/floor.c" -- \
	$NICE $CC -O2 -fPIC -shared -Wall -Wextra -o "$BIN/floor.so" "$BENCH/floor.c" -lpthread
build_if "$BIN/count.so" "$BENCH/count.c" -- \
	$NICE $CC -O2 -fPIC -shared -Wall -Wextra -o "$BIN/count.so" "$BENCH/count.c" -lpthread
build_if "$BIN/timeit" "$BENCH/timeit.c" -- \
	$NICE $CC -O2 -Wall -Wextra -o "$BIN/timeit" "$BENCH/timeit.c"

for m in fib smallfns threads; do
	for v in plain inst; do
		fl=$BASE_CFLAGS
		[ $v = inst ] && fl=$INST_CFLAGS
		build_if "$BIN/$m.$v" "$BENCH/micro/$m.c" -- \
			$NICE $CC $fl -Wall -o "$BIN/$m.$v" "$BENCH/micro/$m.c" -lpthread
	done
done

# --- Lua 5.4 -------------------------------------------------------------------------------
build_lua() {
	LUA_TREE=$TREE
	LUA_SRCS=$(ls "$LUA_TREE"/src/*.c | grep -v '/luac\.c$')
	if [ ! -f "$LUA_TREE/src/lua5.4-deb-multiarch.h" ]; then # written by debian/rules normally
		printf '#ifndef _LUA_DEB_MULTIARCH_\n#define _LUA_DEB_MULTIARCH_\n#define DEB_HOST_MULTIARCH "%s"\n#endif\n' \
			"$(gcc -print-multiarch)" >"$LUA_TREE/src/lua5.4-deb-multiarch.h"
	fi
	for v in plain inst; do
		fl=$BASE_CFLAGS
		[ $v = inst ] && fl=$INST_CFLAGS
		out="$BIN/lua.$v"
		[ -x "$out" ] && continue
		say "building lua ($v)"
		$NICE $CC $fl -std=gnu99 -DLUA_COMPAT_5_3 -DLUA_USE_LINUX \
			-D'luai_makeseed(L)=0u' -D'l_randomizePivot()=0u' \
			-o "$out" $LUA_SRCS -lm -ldl
	done
}

# --- SQLite speedtest1 ---------------------------------------------------------------------
build_sqlite() {
	SQL_TREE=$TREE
	if [ ! -f "$SQL_TREE/bld/sqlite3.c" ]; then
		say "generating the sqlite3 amalgamation"
		mkdir -p "$SQL_TREE/bld"
		(cd "$SQL_TREE/bld" && $NICE ../configure --disable-tcl >/dev/null &&
			$NICE make -s sqlite3.c >/dev/null)
	fi
	for v in plain inst; do
		fl=$BASE_CFLAGS
		[ $v = inst ] && fl=$INST_CFLAGS
		out="$BIN/speedtest1.$v"
		[ -x "$out" ] && continue
		say "building speedtest1 ($v)"
		$NICE $CC $fl -DSQLITE_THREADSAFE=0 -DSQLITE_OMIT_LOAD_EXTENSION -I"$SQL_TREE/bld" \
			-o "$out" "$SQL_TREE/test/speedtest1.c" "$SQL_TREE/bld/sqlite3.c" -lm
	done
}

# --- zstd CLI ------------------------------------------------------------------------------
build_zstd() {
	ZSTD_TREE=$TREE
	for v in plain inst; do
		fl=$BASE_CFLAGS
		[ $v = inst ] && fl=$INST_CFLAGS
		out="$BIN/zstd.$v"
		[ -x "$out" ] && continue
		say "building zstd ($v)"
		$NICE make -s -C "$ZSTD_TREE/programs" clean >/dev/null
		$NICE make -s -C "$ZSTD_TREE/programs" zstd CFLAGS="$fl" HAVE_ZLIB=0 HAVE_LZMA=0 \
			HAVE_LZ4=0 >/dev/null
		cp "$ZSTD_TREE/programs/zstd" "$out"
	done
	$NICE make -s -C "$ZSTD_TREE/programs" clean >/dev/null 2>&1 || true
}

# A source package that cannot be fetched (no network) only drops its workload.
for p in lua5.4:lua libzstd:zstd sqlite3:sqlite; do
	case " ${BENCH_ONLY:-lua zstd sqlite} " in *" ${p#*:} "*) ;; *) continue ;; esac
	pkg=${p%%:*}
	if fetch "$pkg" "$pkg-*"; then
		build_${p#*:}
	else
		say "cannot fetch source package '$pkg'; skipping its workload"
	fi
done

# A deterministic, compressible input for zstd (text-like records from a fixed LCG).
gen_input() { # gen_input FILE MB
	[ -f "$1" ] && [ "$(stat -c %s "$1")" -eq $(($2 * 1048576)) ] && return 0
	awk -v mb="$2" 'BEGIN {
		x = 12345; n = mb * 1048576; out = 0 # exact in doubles: x < 2^32, 69069 < 2^17
		split("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu", w, " ")
		while (out < n) {
			x = (x * 69069 + 1) % 4294967296
			line = sprintf("%08d %s %s %d\n", out / 64, w[int(x / 65536) % 12 + 1], w[int(x / 7) % 12 + 1], x % 1000)
			printf "%s", line; out += length(line)
		}
	}' | head -c $(($2 * 1048576)) >"$1"
}
gen_input "$WORK/zstd-input-full" 3
gen_input "$WORK/zstd-input-quick" 1

say "ready: $(ls "$BIN" | tr '\n' ' ')"
