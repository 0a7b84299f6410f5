/* SPDX-License-Identifier: MIT */
/*
 * The floor of any PostgreSQL command on this machine, for bench/pgsql.sh: a C program linked
 * with libpq (so its start-up loads libpq's dependency chain, as a ctrace command does when it
 * opens a PostgreSQL store) that, given a connection string, connects (the server starts a
 * backend), runs SQL if given, and disconnects. Without a connection string it only starts
 * and exits. Exit status 0, or 1 with libpq's message when the connection or the statement
 * fails. The connection string comes last, as --store does for ctrace in the bench.
 * Usage: pgfloor [-q SQL] [CONNINFO]
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	const char *sql = NULL;
	PGconn *c;
	PGresult *r;
	int ret = 0, a = 1;

	if (argc > 2 && !strcmp(argv[1], "-q")) {
		sql = argv[2];
		a = 3;
	}
	if (a >= argc)
		return PQlibVersion() > 0 ? 0 : 1;
	c = PQconnectdb(argv[a]);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pgfloor: %s", PQerrorMessage(c));
		ret = 1;
	} else if (sql) {
		r = PQexec(c, sql);
		if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
			fprintf(stderr, "pgfloor: %s", PQerrorMessage(c));
			ret = 1;
		}
		PQclear(r);
	}
	PQfinish(c);
	return ret;
}
