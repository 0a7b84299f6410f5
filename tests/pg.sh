# SPDX-License-Identifier: MIT
# A throwaway PostgreSQL server for the tests (sourced, not run). ctr_pg_start installs the
# `postgresql` package with apt-get when no initdb is found (/usr/lib/postgresql/*/bin), runs
# initdb into a new temporary directory and starts the server listening only on a Unix socket
# in that directory (no TCP), as the `postgres` system user when run as root (the server
# refuses root). It exports CTRACE_TEST_PG=postgresql:///postgres?host=DIR&user=postgres (the
# unit tests create their own databases through it) and CTR_PG_DIR. Role ctrace_pw may only
# log in with a password (scram-sha-256), for the wrong-password tests. ctr_pg_stop stops the
# server and removes the directory; callers set a trap for it. A start that fails stops what it
# started and removes its directory itself. $CTR_PG_OPTS replaces the
# durability shortcuts (fsync=off, full_page_writes=off) the tests use; bench/ sets it empty.

ctr_pg_find() {
	for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
			CTR_PG_BIN=$d
			return 0
		fi
	done
	return 1
}

ctr_pg_as() { # runs a command as the server's owner
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ctr_pg_start() {
	if ! ctr_pg_find; then
		echo "pg: initdb not found, installing postgresql" >&2
		SUDO=
		[ "$(id -u)" = 0 ] || SUDO=sudo
		$SUDO apt-get update -qq >/dev/null 2>&1
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
			postgresql >/dev/null 2>&1 || { echo "pg: cannot install postgresql" >&2; return 1; }
		ctr_pg_find || { echo "pg: no initdb after installing postgresql" >&2; return 1; }
	fi
	CTR_PG_DIR=$(mktemp -d /tmp/ctrace-pg.XXXXXX) || return 1
	chmod 0755 "$CTR_PG_DIR"
	[ "$(id -u)" = 0 ] && chown postgres "$CTR_PG_DIR"
	if ! ctr_pg_as "$CTR_PG_BIN/initdb" -D "$CTR_PG_DIR/data" -U postgres -A trust -E UTF8 \
		--no-locale >"$CTR_PG_DIR/initdb.log" 2>&1; then
		echo "pg: initdb failed:" >&2
		tail -n 5 "$CTR_PG_DIR/initdb.log" >&2
		ctr_pg_stop
		return 1
	fi
	ctr_pg_as sh -c "printf '%s\n' 'local all ctrace_pw scram-sha-256' 'local all all trust' \
		>'$CTR_PG_DIR/data/pg_hba.conf'"
	if ! ctr_pg_as "$CTR_PG_BIN/pg_ctl" -D "$CTR_PG_DIR/data" -l "$CTR_PG_DIR/server.log" -w \
		-t 60 -o "-c listen_addresses='' -c unix_socket_directories='$CTR_PG_DIR' \
		${CTR_PG_OPTS--c fsync=off -c full_page_writes=off} -c max_connections=60" start >/dev/null 2>&1; then
		echo "pg: the server did not start:" >&2
		tail -n 5 "$CTR_PG_DIR/server.log" >&2
		ctr_pg_stop # a server still starting after the timeout is stopped too
		return 1
	fi
	export CTR_PG_DIR CTR_PG_BIN
	export CTRACE_TEST_PG="postgresql:///postgres?host=$CTR_PG_DIR&user=postgres"
}

ctr_pg_stop() {
	[ -n "${CTR_PG_DIR:-}" ] || return 0
	[ -d "$CTR_PG_DIR/data" ] &&
		ctr_pg_as "$CTR_PG_BIN/pg_ctl" -D "$CTR_PG_DIR/data" -m immediate -w stop >/dev/null 2>&1
	rm -rf "$CTR_PG_DIR"
	CTR_PG_DIR=
}
