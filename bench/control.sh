#!/bin/sh
# SPDX-License-Identifier: MIT
# Cost of not recording (issue "Control"): per call, over the plain build, of an excluded
# function (--exclude, all functions of the workload), a dormant process (CTRACE_START=off) and
# a process not sampled (CTRACE_SAMPLE_RATE=0), against glibc's no-op hook. Interleaved rounds,
# medians of CPU time (user+sys: steadier than wall time on a shared machine).
# usage: bench/control.sh [BUILD_DIR]     needs bench/setup.sh's binaries in bench/work/bin
set -u
BENCH=$(cd "$(dirname "$0")" && pwd)
B=$(cd "${1:-$BENCH/../build}" && pwd)
BIN=${BENCH_WORK:-$BENCH/work}/bin
ROUNDS=${BENCH_ROUNDS:-5}
T=$(mktemp -d /tmp/ctrace-ctl.XXXXXX)
trap 'rm -rf "$T"' EXIT
[ -x "$BIN/timeit" ] && [ -x "$BIN/fib.inst" ] || { echo "run bench/setup.sh first" >&2; exit 1; }
SO=$B/libctrace.so
run() { # WORKLOAD MODE
	case $1 in
	fib) cmd="$BIN/fib.inst 33"; plain="$BIN/fib.plain 33"; excl="fib" ;;
	smallfns) cmd="$BIN/smallfns.inst 300000"; plain="$BIN/smallfns.plain 300000"; excl="leaf*" ;;
	esac
	case $2 in
	plain) set -- $plain ;;
	noop) set -- $cmd ;;
	exclude) set -- -e LD_PRELOAD="$SO" -e CTRACE_DIR="$T/d" -e CTRACE_EXCLUDE="$excl" -- $cmd ;;
	dormant) set -- -e LD_PRELOAD="$SO" -e CTRACE_DIR="$T/d" -e CTRACE_START=off -- $cmd ;;
	rate0) set -- -e LD_PRELOAD="$SO" -e CTRACE_DIR="$T/d" -e CTRACE_SAMPLE_RATE=0 -- $cmd ;;
	esac
	case $1 in -e) ;; *) set -- -- "$@" ;; esac
	rm -rf "$T/d"
	# shellcheck disable=SC2086
	(cd "$BIN" && ./timeit -o "$T/t" -R "$@" >/dev/null 2>&1)
	tail -n 1 "$T/t" | awk '{ print $2 }' # cpu seconds
}
calls_of() {
	rm -f "$T/count"
	(cd "$BIN" && ./timeit -o "$T/t" -e LD_PRELOAD="$BIN/count.so" -e BENCH_COUNT_OUT="$T/count" -- $1 >/dev/null 2>&1)
	awk '{ n += $2 } END { print n + 0 }' "$T/count"
}
echo "| workload | calls | no-op hook ns/call | excluded | dormant | sample-rate 0 |"
echo "|---|---:|---:|---:|---:|---:|"
fails=0
for w in fib smallfns; do
	case $w in fib) calls=$(calls_of "$BIN/fib.inst 33") ;; smallfns) calls=$(calls_of "$BIN/smallfns.inst 300000") ;; esac
	: >"$T/data"
	r=1
	while [ $r -le "$ROUNDS" ]; do
		for m in plain noop exclude dormant rate0; do
			echo "$m $(run $w $m)" >>"$T/data"
		done
		r=$((r + 1))
	done
	line=$(awk -v calls="$calls" -v w="$w" '
		{ v[$1, ++n[$1]] = $2 }
		function med(m,   i, j, k, t, a) {
			k = n[m]; for (i = 1; i <= k; i++) a[i] = v[m, i]
			for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
			return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
		}
		END {
			p = med("plain"); hook = (med("noop") - p) * 1e9 / calls
			printf "| %s | %d | %.2f |", w, calls, hook
			split("exclude dormant rate0", ms, " "); split("1.5 1.2 1.2", lim, " ")
			for (i = 1; i <= 3; i++) {
				c = (med(ms[i]) - p) * 1e9 / calls; r = c / hook
				printf " %.2f ns (%.2fx, %s) |", c, r, r <= lim[i] ? "PASS" : "MISS"
				if (r > lim[i]) bad++
			}
			printf "\n"; exit bad
		}' "$T/data")
	fails=$((fails + $?))
	echo "$line"
done
echo
echo "targets: excluded <= 1.5x the no-op hook; dormant and sample-rate 0 <= 1.2x"
[ "$fails" -eq 0 ]
