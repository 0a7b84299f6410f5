#!/bin/sh
# SPDX-License-Identifier: MIT
# The PostgreSQL store from the command line (issue 14): concurrent commits of the same runs
# from separate processes, kill -9 during commits (x20), export sqlite -> postgres -> jsonl with
# identical reports, idempotent export/import, query --host/--build-id, `ctrace trend` finding a
# planted 2x slowdown (the same series from every backend), and connection errors that name
# the host but never the password. Uses
# the server of $CTRACE_TEST_PG (tests/run-all.sh starts one) or starts its own (tests/pg.sh).
# Prints ok/FAIL lines.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
. "$HERE/../pg.sh"
B=$(cd "${1:-build}" && pwd)
T=$(mktemp -d /tmp/ctrace-pgsql.XXXXXX)
own_server=0
cleanup() {
	[ "$own_server" = 1 ] && ctr_pg_stop
	rm -rf "$T"
}
trap cleanup EXIT
if [ -z "${CTRACE_TEST_PG:-}" ]; then
	ctr_pg_start || { bad "postgresql server" "cannot start one (tests/pg.sh)"; summary test_pgsql; exit 1; }
	own_server=1
fi
C=$B/ctrace
R=$B/ctrace-report
ADMIN=$CTRACE_TEST_PG
QUERY=${CTRACE_TEST_PG#*\?}         # host=DIR&user=postgres
SOCK=$(echo "$QUERY" | sed -n 's/.*host=\([^&]*\).*/\1/p')
pg() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
newdb() { # NAME: a fresh database, prints its connection string
	pg "$ADMIN" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1 ${2:-}" >/dev/null
	echo "postgresql:///$1?$QUERY"
}
cd "$T" || exit 1
gcc -O2 -g -finstrument-functions -o fibn "$HERE/progs/fibn.c" &&
	gcc -O2 -g -finstrument-functions -o scale "$HERE/progs/scale.c" &&
	gcc -O0 -g -finstrument-functions -o deep "$HERE/progs/deep.c" || { bad build gcc; exit 1; }

# ---- 4 concurrent commits of the same runs from separate processes ----
P=$(newdb ct_conc)
for i in 1 2 3 4; do "$C" record -n -d raw --meta n=$i -- ./fibn 18 >/dev/null 2>&1; done
for i in 1 2 3 4; do "$C" commit --keep --store "$P" raw/*/ 2>"c$i.err" & done
wait
check "4 concurrent commits: 4 runs" 4 "$(pg "$P" -c 'SELECT count(*) FROM ctrace.runs')"
check "4 concurrent commits: each id once" 0 "$(pg "$P" -c 'SELECT count(*) FROM (SELECT id FROM ctrace.runs GROUP BY id HAVING count(*) > 1) d')"
# a run another commit stored first is reported, not an error: "already committed ... not saved twice"
check "4 concurrent commits: no errors" "" "$(cat c1.err c2.err c3.err c4.err | grep CTRACE_E | grep -v 'already committed to .*(CTRACE_E_EXISTS): not saved twice')"
"$C" commit --keep --store sqlite:conc.db raw/*/ 2>/dev/null
same=0
for id in $(ls raw); do
	"$R" --store "$P" "$id" --tree >a.txt 2>&1
	"$R" --store sqlite:conc.db "$id" --tree >b.txt 2>&1
	cmp -s a.txt b.txt && same=$((same + 1))
done
check "4 concurrent commits: every run whole (reports as from sqlite)" 4 "$same"
rm -rf raw

# ---- kill -9 during a commit ----
P=$(newdb ct_kill)
"$C" record -n -d big -- ./fibn 32 >/dev/null 2>&1
dir=$(ls -d big/*/)
sum0=$(cd "$dir" && cat * | cksum)
REF=$(newdb ct_kill_time)
t0=$(date +%s%N)
"$C" commit --keep --store "$REF" "$dir" 2>/dev/null
ms=$((($(date +%s%N) - t0) / 1000000))
"$R" --store "$REF" latest --top 0 >ref.txt 2>&1
"$C" list --store "$P" >/dev/null 2>&1 # the schema (a kill during its creation leaves none)
kills=0
half=0
for k in $(seq 20); do
	"$C" commit --keep --store "$P" "$dir" >/dev/null 2>&1 &
	pid=$!
	sleep "$(awk -v ms="$ms" -v k="$k" 'BEGIN { printf "%.3f", ms * k / 30 / 1000 }')"
	if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
	wait "$pid" 2>/dev/null
	# Either nothing, or (the kill came after COMMIT) the whole run.
	if [ "$(pg "$P" -c 'SELECT count(*) FROM ctrace.runs')" != 0 ]; then
		"$R" --store "$P" latest --top 0 >got.txt 2>&1
		cmp -s ref.txt got.txt || half=$((half + 1))
	fi
	pg "$P" -c 'DELETE FROM ctrace.runs' >/dev/null
done
echo "# commit of fib(32) takes $ms ms; $kills of 20 commits killed"
[ "$kills" -ge 15 ] && ok "kill -9 during commit: $kills commits killed" || bad "kill -9 during commit" "only $kills commits were still running when killed"
check "kill -9 during commit: the run is never half there" 0 "$half"
check "kill -9 during commit: no rows left behind" 0 "$(pg "$P" -c 'SELECT (SELECT count(*) FROM ctrace.nodes) + (SELECT count(*) FROM ctrace.chunks) + (SELECT count(*) FROM ctrace.run_meta)')"
check "kill -9 during commit: raw run intact" "$sum0" "$(cd "$dir" && cat * | cksum)"
"$C" commit --store "$P" "$dir" 2>/dev/null
check "commit after the kills stores the run" 1 "$(pg "$P" -c 'SELECT count(*) FROM ctrace.runs')"
check "no transaction left open by the killed commits" 0 "$(pg "$ADMIN" -c "SELECT count(*) FROM pg_stat_activity WHERE datname = 'ct_kill' AND state LIKE 'idle in transaction%'")"

# ---- export sqlite -> postgres -> jsonl (fib runs: --tree of deep.c is slow in tools/view/) ----
P=$(newdb ct_export)
"$C" record -s sqlite:a.db --meta branch=main -- ./fibn 22 >/dev/null 2>&1
"$C" record -s sqlite:a.db --meta branch=dev -- ./fibn 19 >/dev/null 2>&1
"$C" export --store sqlite:a.db --to "$P" 2>/dev/null
"$C" export --store "$P" --to jsonl:out.jsonl 2>/dev/null
"$C" export --store sqlite:a.db --to "$P" 2>exp2.err
check "export into postgres twice: still 2 runs" 2 "$(pg "$P" -c 'SELECT count(*) FROM ctrace.runs')"
"$C" import --store "$P" jsonl:out.jsonl 2>/dev/null
check "import from jsonl into postgres is idempotent" 2 "$(pg "$P" -c 'SELECT count(*) FROM ctrace.runs')"
"$C" import --store "$P" sqlite:a.db 2>/dev/null
check "import from sqlite into postgres is idempotent" 2 "$(pg "$P" -c 'SELECT count(*) FROM ctrace.runs')"
same=0
for id in $("$C" list --store sqlite:a.db --json | python3 -c 'import json,sys; print(" ".join(r["run_id"] for r in json.load(sys.stdin)))'); do
	for view in "" --tree "--json"; do
		"$R" --store sqlite:a.db "$id" $view >a.txt 2>&1
		"$R" --store "$P" "$id" $view >p.txt 2>&1
		"$R" --store jsonl:out.jsonl "$id" $view >j.txt 2>&1
		cmp -s a.txt p.txt && cmp -s a.txt j.txt && same=$((same + 1))
	done
done
check "sqlite -> postgres -> jsonl: identical ctrace-report output (flat, tree, json)" 6 "$same"
"$C" show --store "$P" latest --format chrome --out p.json 2>/dev/null
"$C" show --store sqlite:a.db latest --format chrome --out a.json 2>/dev/null
cmp -s a.json p.json && ok "timeline (chrome export) identical from postgres" || bad "timeline from postgres" "chrome exports differ"

# ---- provenance and the --host / --build-id filters ----
bid=$(readelf -n fibn | awk '/Build ID/ { print $3 }')
check "query --build-id on postgres" "./fibn 19 ./fibn 22" "$("$C" query --store "$P" --build-id "$bid" --json | python3 -c 'import json,sys; print(" ".join(r["command"] for r in json.load(sys.stdin)))')"
check "query --build-id of another binary" 0 "$("$C" query --store "$P" --build-id "$(readelf -n scale | awk '/Build ID/ { print $3 }')" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
check "query --host on postgres" 2 "$("$C" query --store "$P" --host "$(hostname)" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
check "query --host other on postgres" 0 "$("$C" query --store "$P" --host no-such-host --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
check "query --build-id on sqlite" "./fibn 19 ./fibn 22" "$("$C" query --store sqlite:a.db --build-id "$bid" --json | python3 -c 'import json,sys; print(" ".join(r["command"] for r in json.load(sys.stdin)))')"
check "query --meta on postgres (jsonb)" "./fibn 19" "$("$C" query --store "$P" --meta branch=dev --json | python3 -c 'import json,sys; print(" ".join(r["command"] for r in json.load(sys.stdin)))')"
check "run metadata has host.kernel, host.cpu, build.compiler, build.id" "$(uname -r) 1 1 $bid" "$(pg "$P" -c "SELECT concat_ws(' ', metadata->>'host.kernel', (metadata ? 'host.cpu')::int, (metadata->>'build.compiler' LIKE '%GCC%')::int, metadata->>'build.id') FROM ctrace.runs WHERE command = './fibn 22'")"

# ---- trend: a planted 2x slowdown at the 6th run ----
P=$(newdb ct_trend)
i=0
for a in 4 4 4 4 4 8 8 8; do # 4 sleeps of 10 ms in step() per run, then 8
	i=$((i + 1))
	"$C" record -s "$P" --meta branch=main --meta commit=c$i -- ./scale $a >/dev/null 2>&1
done
jumps() { "$C" trend step --store "$P" "$@" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join(str(i + 1) for i, r in enumerate(d["runs"]) if r["jump"]))'; }
check "trend --metric calls: jump at run 6 only" 6 "$(jumps --metric calls)"
# step() sleeps 10 ms a call, so its self time doubles at run 6 however loaded the machine is.
check "trend (self time): the 2x slowdown is marked at run 6 only" 6 "$(jumps)"
check "trend: 8 rows, oldest first, with commit metadata" "c1 c8 8" "$("$C" trend step --store "$P" --json | python3 -c '
import json, sys
r = json.load(sys.stdin)["runs"]
print(r[0]["metadata"]["commit"], r[-1]["metadata"]["commit"], len(r))')"
"$C" trend step --store "$P" >trend.txt 2>&1
check "trend text marks one jump for calls" 1 "$("$C" trend step --store "$P" --metric calls | grep -c '<< jump')"
check "trend --meta filter" 1 "$("$C" trend step --store "$P" --meta commit=c1 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["runs"]))')"
"$C" trend step --store "$P" --metric bogus >/dev/null 2>&1
check "trend --metric bogus is a usage error" 2 "$?"
# the same series from every backend (the store computes the metric: SQL or a scan)
"$C" export --store "$P" --to sqlite:trend.db 2>/dev/null
"$C" export --store "$P" --to jsonl:trend.jsonl 2>/dev/null
same=0
for m in self total calls; do
	"$C" trend step --store "$P" --metric $m --json >tp.json 2>&1
	"$C" trend step --store sqlite:trend.db --metric $m --json >ts.json 2>&1
	"$C" trend step --store jsonl:trend.jsonl --metric $m --json >tj.json 2>&1
	cmp -s tp.json ts.json && cmp -s tp.json tj.json && same=$((same + 1))
done
check "trend: identical series from postgres, sqlite and jsonl (self, total, calls)" 3 "$same"

# ---- connection errors: name the host, never the password ----
PW=Wr0ng-s3cret-pw
pg "$ADMIN" -c "DROP ROLE IF EXISTS ctrace_pw" -c "CREATE ROLE ctrace_pw LOGIN PASSWORD 'Right-pw-42'" >/dev/null 2>&1
newdb ct_pw "OWNER ctrace_pw" >/dev/null
"$C" list --store "postgresql://ctrace_pw:$PW@/ct_pw?host=$SOCK" >out.txt 2>err.txt
rc=$?
check "wrong password: exit 1" 1 "$rc"
grep -q CTRACE_E_STORE err.txt && grep -q "$SOCK" err.txt && ok "wrong password: CTRACE_E_STORE naming the host" || bad "wrong password message" "$(cat err.txt)"
grep -q "$PW" err.txt out.txt && bad "wrong password" "the password is in the output: $(cat err.txt)" || ok "wrong password: the password is not shown"
"$C" list --store "postgresql:///ct_pw?host=$SOCK&user=ctrace_pw&password=$PW" --json-errors >/dev/null 2>err.txt
grep -q "$PW" err.txt && bad "password= parameter" "shown: $(cat err.txt)" || ok "password= parameter not shown (nor in --json-errors)"
"$C" list --store "postgresql://nobody@/postgres?host=$T/no-server" >/dev/null 2>err.txt
check "no server: exit 1" 1 "$?"
grep -q CTRACE_E_STORE err.txt && grep -q "$T/no-server" err.txt && ok "no server: CTRACE_E_STORE naming the host" || bad "no server message" "$(cat err.txt)"
"$C" list --store "postgresql:///no_such_db?$QUERY" >/dev/null 2>err.txt
check "unknown database: exit 1" 1 "$?"
grep -q CTRACE_E_STORE err.txt && grep -q no_such_db err.txt && grep -q "$SOCK" err.txt && ok "unknown database: CTRACE_E_STORE naming host and database" || bad "unknown database message" "$(cat err.txt)"
# libpq is loaded on the first PostgreSQL store: without a usable one that store fails clearly
# (and never with the password), the others work
mkdir nolibpq && : >nolibpq/libpq.so.5
LD_LIBRARY_PATH=$T/nolibpq "$C" list --store "postgresql://ctrace_pw:$PW@/ct_pw?host=$SOCK" >out.txt 2>err.txt
check "no usable libpq: exit 1" 1 "$?"
grep -q CTRACE_E_STORE err.txt && grep -q libpq5 err.txt && ! grep -q "$PW" err.txt out.txt &&
	ok "no usable libpq: CTRACE_E_STORE naming libpq5, not the password" || bad "no usable libpq" "$(cat err.txt)"
LD_LIBRARY_PATH=$T/nolibpq "$C" list --store sqlite:nolibpq.db >/dev/null 2>err.txt
check "no usable libpq: a SQLite store works" 0 "$?"
GOOD="postgresql://ctrace_pw:Right-pw-42@/ct_pw?host=$SOCK"
"$C" record -s "$GOOD" -- ./deep >/dev/null 2>err.txt
check "the right password works" 1 "$("$C" list --store "$GOOD" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
grep -q "Right-pw-42" err.txt && bad "commit message" "shows the password: $(cat err.txt)" || ok "commit message names ctrace_pw@host without the password"
grep -q "ctrace_pw@$SOCK:5432/ct_pw" err.txt || bad "commit message target" "$(cat err.txt)"
"$C" list --store "$GOOD" --json >/dev/null 2>&1 && ok "list with the right password" || bad "list with the right password" "failed"
# libpq's own files work as usual: a password from $PGPASSFILE, a connection from a service
printf '*:*:*:ctrace_pw:Right-pw-42\n' >pgpass
chmod 600 pgpass
check "password from \$PGPASSFILE" 1 "$(PGPASSFILE=$T/pgpass "$C" list --store "postgresql://ctrace_pw@/ct_pw?host=$SOCK" --json 2>&1 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>&1)"
printf '[ctr]\nhost=%s\nuser=ctrace_pw\ndbname=ct_pw\n' "$SOCK" >services.conf
check "connection from a service (\$PGSERVICEFILE)" 1 "$(PGSERVICEFILE=$T/services.conf PGPASSFILE=$T/pgpass "$C" list --store "postgresql://?service=ctr" --json 2>&1 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>&1)"
PGSERVICEFILE=$T/services.conf "$C" list --store "postgresql://?service=ctr" >/dev/null 2>err.txt
grep -q CTRACE_E_STORE err.txt && grep -q "ctrace_pw@$SOCK:5432/ct_pw" err.txt && ok "a service without the password: CTRACE_E_STORE naming what the service resolved" || bad "service without password" "$(cat err.txt)"
check "no password in the run's metadata" 0 "$("$C" show --store "$GOOD" latest --format json 2>/dev/null | grep -c Right-pw-42)"

for db in ct_conc ct_kill ct_kill_time ct_export ct_trend ct_pw; do
	pg "$ADMIN" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
done
pg "$ADMIN" -c "DROP ROLE IF EXISTS ctrace_pw" >/dev/null 2>&1
summary test_pgsql
