#!/bin/sh
# SPDX-License-Identifier: MIT
# The ctrace benchmark suite (`make bench`): runs every workload built by bench/setup.sh under
# six modes in interleaved rounds (plain build, instrumented build with glibc's no-op hooks, the
# ring and file floors of bench/floor.c, ctrace, uftrace record), then commits and reports the
# ctrace runs, prints Markdown tables with medians, per-call overheads and PASS/MISS per target,
# and appends them to bench/results/YYYY-MM-DD.md. docs/performance.md explains the method.
#
# Knobs: BENCH_ROUNDS (5; 3 with BENCH_QUICK=1), BENCH_QUICK=1 (smaller sizes, ~3 minutes,
# results go to bench/work/ unless BENCH_SAVE=1), BENCH_POST_ROUNDS (rounds whose ctrace run is
# also committed: 2, quick 1), BENCH_WORKLOADS, BENCH_MODES, BUILD (build), BENCH_WORK.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$ROOT/bench"
WORK=${BENCH_WORK:-$BENCH/work}
BUILD_DIR=${BUILD:-build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	ROUNDS=${BENCH_ROUNDS:-3}
	POST_ROUNDS=${BENCH_POST_ROUNDS:-1}
else
	ROUNDS=${BENCH_ROUNDS:-5}
	POST_ROUNDS=${BENCH_POST_ROUNDS:-2}
fi
WORKLOADS=${BENCH_WORKLOADS:-fib smallfns threads1 threads2 lua sqlite zstd}
MODES=${BENCH_MODES:-plain noop ring file ctrace uftrace}

log() { echo "bench: $*" >&2; }

sh "$BENCH/setup.sh"

BIN="$WORK/bin"
RUNS="$WORK/runs"
TIMEIT="$BIN/timeit -R"
DATA="$WORK/data.tsv"
rm -rf "$RUNS"
mkdir -p "$RUNS"
: >"$DATA"

CTRACE_SO="$BUILD_DIR/libctrace.so"
CTRACE="$BUILD_DIR/ctrace"
CTRACE_REPORT="$BUILD_DIR/ctrace-report"
HAVE_CTRACE=0
[ -f "$CTRACE_SO" ] && HAVE_CTRACE=1
HAVE_COMMIT=0
[ $HAVE_CTRACE = 1 ] && [ -x "$CTRACE" ] && HAVE_COMMIT=1
HAVE_REPORT=0
[ $HAVE_COMMIT = 1 ] && [ -x "$CTRACE_REPORT" ] && HAVE_REPORT=1
HAVE_UFTRACE=0
command -v uftrace >/dev/null 2>&1 && HAVE_UFTRACE=1
[ $HAVE_CTRACE = 1 ] || log "no '$CTRACE_SO': ctrace columns read n/a"
[ $HAVE_CTRACE = 0 ] || [ $HAVE_COMMIT = 1 ] || log "no '$CTRACE': commit columns read n/a"
[ $HAVE_UFTRACE = 1 ] || log "no uftrace: uftrace columns read n/a"

# Workload command lines (V = plain | inst). Sizes: the no-op build runs ~0.1-0.3 s full, a
# quarter of that quick; the tracers take 3-20 times longer (docs/performance.md).
wl_cmd() { # wl_cmd W V
	if [ "$QUICK" = 1 ]; then
		case $1 in
		fib) echo "$BIN/fib.$2 33" ;;
		smallfns) echo "$BIN/smallfns.$2 150000" ;;
		threads1) echo "$BIN/threads.$2 1 100000" ;;
		threads2) echo "$BIN/threads.$2 2 100000" ;;
		lua) echo "$BIN/lua.$2 $BENCH/bench.lua 1" ;;
		sqlite) echo "$BIN/speedtest1.$2 --memdb --size 3" ;;
		zstd) echo "$BIN/zstd.$2 -T2 -q -f $WORK/zstd-input-quick -o $RUNS/out.zst" ;;
		esac
	else
		case $1 in
		fib) echo "$BIN/fib.$2 36" ;;
		smallfns) echo "$BIN/smallfns.$2 600000" ;;
		threads1) echo "$BIN/threads.$2 1 400000" ;;
		threads2) echo "$BIN/threads.$2 2 400000" ;;
		lua) echo "$BIN/lua.$2 $BENCH/bench.lua 2" ;;
		sqlite) echo "$BIN/speedtest1.$2 --memdb --size 10" ;;
		zstd) echo "$BIN/zstd.$2 -T2 -q -f $WORK/zstd-input-full -o $RUNS/out.zst" ;;
		esac
	fi
}
wl_threads() { case $1 in threads2 | zstd) echo 2 ;; *) echo 1 ;; esac; }

# Appends "W KIND ROUND wall cpu rss status bytes" to $DATA; KIND is a mode or a post step.
record() { # record W KIND ROUND BYTES TIMEFILE (TIMEFILE "" when the run failed)
	if [ -s "$5" ]; then
		echo "$1 $2 $3 $(tail -n 1 "$5") $4" >>"$DATA"
	else
		echo "$1 $2 $3 0 0 0 125 $4" >>"$DATA"
	fi
	# only the timing file itself: a failed run once passed /dev/null here, and removed it
	[ -f "$5" ] && rm -f "$5"
	return 0
}
disk_bytes() { du -s --block-size=1 "$1" 2>/dev/null | cut -f1; }
file_bytes() { # sum of the apparent sizes of FILE, FILE-wal, FILE-journal
	n=0
	for f in "$1" "$1-wal" "$1-journal"; do
		[ -f "$f" ] && n=$((n + $(stat -c %s "$f")))
	done
	echo $n
}
ev_bytes() { # event bytes of a raw run directory: its t-*.ev files less their 128-byte headers
	n=0
	for f in "$1"/t-*.ev; do
		[ -f "$f" ] && n=$((n + $(stat -c %s "$f") - 128))
	done
	echo $n
}
run_dir_of() { # the raw run directory under CTRACE_DIR (itself or a child holding run.meta)
	if [ -f "$1/run.meta" ]; then
		echo "$1"
	else
		m=$(find "$1" -maxdepth 3 -name run.meta 2>/dev/null | head -n 1)
		[ -n "$m" ] && dirname "$m"
	fi
	return 0
}
# Times "uftrace report" (the first round only: it is slow) and ctrace commit + report.
post_uftrace() { # post_uftrace W ROUND DIR
	[ "$2" = 1 ] || return 0
	$TIMEIT -o "$RUNS/t" -- uftrace report -d "$3" || true
	record "$1" ureport 1 0 "$RUNS/t"
}
post_ctrace() { # post_ctrace W ROUND RUNDIR: commit into a fresh store, time 3 reports
	[ $HAVE_COMMIT = 1 ] && [ "$2" -le "$POST_ROUNDS" ] || return 0
	db="$RUNS/store.$1.db"
	rm -f "$db" "$db-wal" "$db-journal"
	$TIMEIT -o "$RUNS/t" -- "$CTRACE" commit --store "sqlite:$db" "$3" 2>"$RUNS/err" ||
		{ log "$1: ctrace commit failed:"; cat "$RUNS/err" >&2; }
	record "$1" commit "$2" "$(file_bytes "$db")" "$RUNS/t"
	if [ $HAVE_REPORT = 1 ] && [ "$2" = 1 ]; then
		for rep in 1 2 3; do
			$TIMEIT -o "$RUNS/t" -- "$CTRACE_REPORT" --store "sqlite:$db" ||
				log "$1: ctrace-report failed"
			record "$1" report "$rep" 0 "$RUNS/t"
		done
	fi
	rm -f "$db" "$db-wal" "$db-journal"
}

run_mode() { # run_mode W MODE ROUND
	w=$1
	mode=$2
	r=$3
	tf="$RUNS/t"
	out="$RUNS/$w.$mode"
	rm -rf "$out"
	case $mode in
	plain)
		$TIMEIT -o "$tf" -- $(wl_cmd "$w" plain) || true
		record "$w" "$mode" "$r" 0 "$tf"
		;;
	noop)
		$TIMEIT -o "$tf" -- $(wl_cmd "$w" inst) || true
		record "$w" "$mode" "$r" 0 "$tf"
		;;
	ring)
		$TIMEIT -o "$tf" -e LD_PRELOAD="$BIN/floor.so" -e BENCH_FLOOR=ring -- \
			$(wl_cmd "$w" inst) || true
		record "$w" "$mode" "$r" 0 "$tf"
		;;
	file)
		mkdir -p "$out"
		$TIMEIT -o "$tf" -e LD_PRELOAD="$BIN/floor.so" -e BENCH_FLOOR=file \
			-e BENCH_FLOOR_DIR="$out" -- $(wl_cmd "$w" inst) || true
		record "$w" "$mode" "$r" "$(disk_bytes "$out")" "$tf"
		;;
	ctrace)
		[ $HAVE_CTRACE = 1 ] || return 0
		mkdir -p "$out"
		$TIMEIT -o "$tf" -e LD_PRELOAD="$CTRACE_SO" -e CTRACE_DIR="$out" -- \
			$(wl_cmd "$w" inst) || log "$w: ctrace run failed"
		rd=$(run_dir_of "$out")
		if [ -n "$rd" ]; then
			record "$w" "$mode" "$r" "$(disk_bytes "$rd")" "$tf"
			# event bytes alone (no metadata, no block rounding): the format's bytes per call
			echo "$w evbytes $r 0 0 0 0 $(ev_bytes "$rd")" >>"$DATA"
			post_ctrace "$w" "$r" "$rd"
		else
			log "$w: no run directory under '$out'"
			record "$w" "$mode" "$r" 0 ""
		fi
		;;
	uftrace)
		[ $HAVE_UFTRACE = 1 ] || return 0
		$TIMEIT -o "$tf" -- uftrace record --no-libcall -d "$out" \
			$(wl_cmd "$w" inst) || log "$w: uftrace record failed"
		record "$w" "$mode" "$r" "$(disk_bytes "$out")" "$tf"
		post_uftrace "$w" "$r" "$out"
		;;
	esac
	rm -rf "$out" "$RUNS/out.zst"
}

START=$(date +%s)
LOAD0=$(cut -d ' ' -f 1 /proc/loadavg)
for w in $WORKLOADS; do
	rm -f "$RUNS/count"
	$TIMEIT -o "$RUNS/t" -e LD_PRELOAD="$BIN/count.so" -e BENCH_COUNT_OUT="$RUNS/count" -- \
		$(wl_cmd "$w" inst) || log "$w: count run failed"
	rm -f "$RUNS/t"
	calls=$(awk '{ n += $2 } END { print n + 0 }' "$RUNS/count" 2>/dev/null || echo 0)
	echo "$w calls 0 0 0 0 0 $calls" >>"$DATA"
	log "$w: $calls calls, $ROUNDS rounds"
	r=1
	while [ $r -le "$ROUNDS" ]; do
		# Rotate the mode order every round so no mode always follows the same one.
		set -- $MODES
		i=1
		while [ $i -lt "$r" ]; do
			first=$1
			shift
			set -- "$@" "$first"
			i=$((i + 1))
		done
		for mode in "$@"; do
			run_mode "$w" "$mode" "$r"
		done
		r=$((r + 1))
	done
done

# The report latency target is stated for a 10 M-call run: fib(33) makes 11.4 M calls.
if [ $HAVE_REPORT = 1 ]; then
	out="$RUNS/r10m"
	rm -rf "$out"
	mkdir -p "$out"
	$TIMEIT -o "$RUNS/t" -e LD_PRELOAD="$CTRACE_SO" -e CTRACE_DIR="$out" -- \
		"$BIN/fib.inst" 33 || true
	rm -f "$RUNS/t"
	rd=$(run_dir_of "$out")
	db="$RUNS/store.r10m.db"
	rm -f "$db"*
	if [ -n "$rd" ] && "$CTRACE" commit --store "sqlite:$db" "$rd" >/dev/null 2>&1; then
		for rep in 1 2 3; do
			$TIMEIT -o "$RUNS/t" -- "$CTRACE_REPORT" --store "sqlite:$db" || true
			record r10m report "$rep" 0 "$RUNS/t"
		done
	fi
	rm -rf "$out" "$db"*
fi
ELAPSED=$(($(date +%s) - START))

# --- summary ---------------------------------------------------------------------------------
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)
[ -z "$(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1)" ] || COMMIT="$COMMIT (dirty)"
CPU=$(grep -m 1 'model name' /proc/cpuinfo | sed 's/.*: //')
KIND=full
[ "$QUICK" = 1 ] && KIND="quick (smoke)"
TABLE="$WORK/summary.md"
{
	echo "## $(date -u '+%Y-%m-%d %H:%M') UTC, $KIND"
	echo
	echo "commit $COMMIT; $(nproc) CPUs, $CPU; $(uname -r); $ROUNDS interleaved rounds;" \
		"bench time ${ELAPSED} s; load average $LOAD0 at start, $(cut -d ' ' -f 1 /proc/loadavg)" \
		"at end; uftrace $(uftrace --version 2>/dev/null | awk '{ print $2; exit }')"
	echo
	awk -v threads="$(for w in $WORKLOADS; do printf '%s=%s ' "$w" "$(wl_threads "$w")"; done)" \
		-f "$BENCH/summary.awk" "$DATA"
	if [ -x "$ROOT/build/ctrace" ]; then
		echo
		echo "### Timing fidelity (compensated times vs the truth; target 2% / 10 ns)"
		echo
		{ sh "$BENCH/fidelity/run.sh" "$ROOT/build" 2 10 || true; } |
			sed 's/^ok   fidelity$/PASS fidelity/; s/^FAIL fidelity/MISS fidelity/'
		echo
		echo "### Cost of not recording (per call over the plain build, CPU time)"
		echo
		BENCH_ROUNDS=$ROUNDS sh "$BENCH/control.sh" "$ROOT/build" || true
	fi
} >"$TABLE"
cat "$TABLE"

if [ "$QUICK" = 1 ] && [ "${BENCH_SAVE:-0}" != 1 ]; then
	RES="$WORK/results-quick.md"
else
	mkdir -p "$BENCH/results"
	RES="$BENCH/results/$(date -u +%Y-%m-%d).md"
fi
[ -s "$RES" ] || printf '# ctrace benchmark results\n\nAppended by bench/run.sh; method in docs/performance.md.\n' >"$RES"
{
	echo
	cat "$TABLE"
} >>"$RES"
log "results appended to '${RES#"$ROOT"/}'"
rm -rf "$RUNS"
