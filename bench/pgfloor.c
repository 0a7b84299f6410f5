/* SPDX-License-Identifier: MIT */
/*
 * The floor of any PostgreSQL command on this machine, for bench/pgsql.sh: a C program linked
 * with libpq (so its start-up loads libpq's dependency chain, as a ctrace command does when it
 * opens a PostgreSQL store) that, given a connection string, connects (the server starts a
 * backend), runs SQL if given, and disconnects. Without arguments it only starts and exits.
 * Exit status 0, or 1 with libpq's message when the connection or the statement fails.
 * Usage: pgfloor [CONNINFO [SQL]]
 */
#include <libpq-fe.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	PGconn *c;
	PGresult *r;
	int ret = 0;

	if (argc < 2)
		return PQlibVersion() > 0 ? 0 : 1;
	c = PQconnectdb(argv[1]);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pgfloor: %s", PQerrorMessage(c));
		ret = 1;
	} else if (argc > 2) {
		r = PQexec(c, argv[2]);
		if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
			fprintf(stderr, "pgfloor: %s", PQerrorMessage(c));
			ret = 1;
		}
		PQclear(r);
	}
	PQfinish(c);
	return ret;
}
