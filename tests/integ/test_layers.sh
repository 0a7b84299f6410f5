#!/bin/sh
# SPDX-License-Identifier: MIT
# The architecture, checked: the top level is the one the design names (preload, instrument, store,
# tools, tests, Makefile, docs, plus common/ and bench/); the pipeline stages (common -> store ->
# tools/ingest -> tools/view -> tools/export -> tools/serve -> tools/cli, the Makefile's STAGES)
# only use the stages before them, by include and by symbol; the
# preload and instrument/ use nothing of ctrace but common/'s header-only files; the tree is
# formatted with the committed .clang-format; no function anywhere is longer than 150 lines and
# none on the tools side longer than about 120.
#
# usage: tests/integ/test_layers.sh [BUILD_DIR]     prints "ok NAME" / "FAIL NAME: why"
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
B=$(cd "${1:-build}" && pwd)
. "$HERE/lib/common.sh"
cd "$ROOT" || exit 1
ONE_WAY="common store tools/ingest tools/view tools/export tools/serve tools/cli"

STAGES=$(sed -n 's/^STAGES := //p' Makefile)
check "Makefile names the stages" "common store tools/ingest tools/view tools/export tools/serve tools/cli" "$STAGES"

# The top level: nothing but what the design names (files starting with a dot aside).
top=$(git ls-files 2>/dev/null | sed -n 's#^\([^./][^/]*\)/.*#\1#p; s#^\([^./][^/]*\)$#\1#p' | sort -u | tr '\n' ' ')
check "the top level is the design's" "Makefile README.md bench common docs instrument preload store tests tools " "$top"

# Includes: a file in stage N may include another stage's header only for stages before or equal
# to N; an include path is resolved against the including file's folder to find its stage.
rank() { i=0; for s in $STAGES; do [ "$s" = "$1" ] && { echo $i; return; }; i=$((i + 1)); done; echo 99; }
up=
for s in $STAGES; do
	r=$(rank "$s")
	for f in "$s"/*.c "$s"/*.h; do
		[ -f "$f" ] || continue
		for inc in $(sed -n 's/^#include "\(\.\.\/[^"]*\)".*/\1/p' "$f"); do
			target=$(realpath -m --relative-to="$ROOT" "$s/$inc")
			st=${target%/*}
			[ "$(rank "$st")" -le "$r" ] || up="$up $f->$st"
		done
	done
done
check "no stage includes a later one" "" "$up"

# The preload links no ctrace library: it may include only header-only files of common/.
bad_pre=
for f in preload/*.c preload/*.h instrument/*.h; do
	for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
		case $inc in
		../common/format.h | ../common/runid.h | ../common/options.h | ../common/hash.h | ../common/cxxsplit.h | preload-int.h) ;;
		*) bad_pre="$bad_pre $f:$inc" ;;
		esac
	done
done
check "preload includes only header-only common/ files" "" "$bad_pre"
n=$(nm -D --defined-only "$B/libctrace.so" 2>/dev/null | grep -c ' T ctr_')
check "libctrace.so exports no ctr_ library symbol" 0 "$n"

# Symbols: what a stage's archive leaves undefined must not be defined by a later stage.
defs() { nm -g --defined-only "$B/libctr${1##*/}.a" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort -u; }
undefs() { nm -g --undefined-only "$B/libctr${1##*/}.a" 2>/dev/null | awk '{ print $NF }' | sort -u; }
upsym=
for s in $STAGES; do
	r=$(rank "$s")
	[ -f "$B/libctr${s##*/}.a" ] || { bad "archive libctr${s##*/}.a" "missing in $B"; continue; }
	undefs "$s" >"$B/.layers-u"
	for t in $STAGES; do
		[ "$(rank "$t")" -gt "$r" ] || continue
		x=$(defs "$t" | comm -12 - "$B/.layers-u" | head -n 3 | tr '\n' ' ')
		[ -n "$x" ] && upsym="$upsym $s->$t($x)"
	done
done
rm -f "$B/.layers-u"
check "no stage calls a later one" "" "$upsym"

# One direction inside each folder: no files of one folder call each other in a loop (shared
# helpers sit in a file below the code that uses them, the dispatch on top). An edge a.o -> b.o is
# a symbol a.o leaves undefined that b.o defines; a strongly connected set of two or more files
# is a finding.
loops=
for dir in $ONE_WAY; do
	case $dir in
	preload) od=$B/obj/pic/preload ;;
	*) od=$B/obj/host/$dir ;;
	esac
	for o in "$od"/*.o; do
		nm -g --defined-only "$o" | awk -v f="${o##*/}" 'NF == 3 { print "D", $3, f }'
		nm -g --undefined-only "$o" | awk -v f="${o##*/}" '{ print "U", $NF, f }'
	done >"$B/.layers-e"
	x=$(python3 - "$dir" "$B/.layers-e" <<'PY'
import sys, collections
d, path = sys.argv[1], sys.argv[2]
defs, uses, g = {}, [], collections.defaultdict(set)
for line in open(path):
    k, sym, f = line.split()
    if k == "D":
        defs[sym] = f
    else:
        uses.append((f, sym))
for f, sym in uses:
    if sym in defs and defs[sym] != f:
        g[f].add(defs[sym])
index, low, stack, on, out = {}, {}, [], set(), []
def visit(v):  # Tarjan's strongly connected components, iterative
    work = [(v, iter(sorted(g[v])))]
    index[v] = low[v] = len(index); stack.append(v); on.add(v)
    while work:
        u, it = work[-1]
        w = next(it, None)
        if w is not None:
            if w not in index:
                index[w] = low[w] = len(index); stack.append(w); on.add(w)
                work.append((w, iter(sorted(g[w]))))
            elif w in on:
                low[u] = min(low[u], index[w])
            continue
        work.pop()
        if work:
            low[work[-1][0]] = min(low[work[-1][0]], low[u])
        if low[u] == index[u]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == u:
                    break
            if len(comp) > 1:
                out.append(d + ":" + ",".join(sorted(comp)))
for v in sorted(list(g)):
    if v not in index:
        visit(v)
print(" ".join(out))
PY
)
	[ -n "$x" ] && loops="$loops $x"
done
rm -f "$B/.layers-e"
check "no files of one folder call each other in a loop" "" "$loops"

# Formatting: the committed .clang-format applied to every C source (make fmt fixes it).
if command -v clang-format >/dev/null 2>&1; then
	unformatted=
	for f in $(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*'); do
		clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || unformatted="$unformatted $f"
	done
	check "every C file is formatted (make fmt)" "" "$unformatted"
else
	bad "clang-format" "not installed (make deps installs it)"
fi

# Function length on the tools side: a function body longer than LIMIT lines is a finding.
LIMIT=120
long=$(awk -v lim=$LIMIT '
	/^[a-z].*\(/ && !/;[ \t]*$/ { name = $0; sub(/\(.*/, "", name); sub(/.*[ *]/, "", name); start = FNR }
	/^}/ { if (start && FNR - start > lim) printf " %s:%s(%d)", FILENAME, name, FNR - start; start = 0 }
	' store/*.c tools/*/*.c)
check "no function over $LIMIT lines in the tools side" "" "$long"
long=$(awk -v lim=150 '
	/^[a-z].*\(/ && !/;[ \t]*$/ { name = $0; sub(/\(.*/, "", name); sub(/.*[ *]/, "", name); start = FNR }
	/^}/ { if (start && FNR - start > lim) printf " %s:%s(%d)", FILENAME, name, FNR - start; start = 0 }
	' common/*.c store/*.c tools/*/*.c preload/*.c)
check "no function over 150 lines anywhere" "" "$long"

summary layers
