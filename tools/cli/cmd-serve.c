/* SPDX-License-Identifier: MIT */
/*
 * `ctrace serve`: parses the options, starts the server of serve/serve.h, prints its URL and
 * waits for SIGINT or SIGTERM (blocked in every thread, taken with sigwait), then stops it.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../serve/serve.h"
#include "cli.h"
#include "cmds.h"

static void serve_usage(void)
{
	printf("usage: ctrace serve [--store CONN] [--listen ADDR:PORT | --port N] [--token T]\n"
	       "                    [--max-connections N] [--timeout S] [--cache-runs N]\n\n"
	       "Serves the viewer and its JSON API over the store, read-only (docs/serve.md).\n"
	       "  --listen ADDR:PORT   default %s; an address other than the loopback\n"
	       "                       needs --token (port 0: any free port)\n"
	       "  --port N             the loopback address on port N (127.0.0.1:N)\n"
	       "  --token T            required on every request: 'Authorization: Bearer T'\n"
	       "                       or ?token=T (also $CTRACE_SERVE_TOKEN)\n"
	       "  --max-connections N  concurrent connections (default 64)\n"
	       "  --timeout S          idle connection timeout in seconds (default 30)\n"
	       "  --cache-runs N       runs kept loaded with their timeline index (default 2)\n",
	       CTR_SERVE_LISTEN_DEFAULT);
}

static int parse_uint(const char *s, unsigned max, unsigned *v)
{
	char *end;
	unsigned long x = strtoul(s, &end, 10);

	if (!*s || *end || *s == '-' || x < 1 || x > max)
		return -1;
	*v = (unsigned)x;
	return 0;
}

int ctr_cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"store", required_argument, NULL, 's'},
	    {"listen", required_argument, NULL, 'l'},
	    {"port", required_argument, NULL, 'p'},
	    {"token", required_argument, NULL, 't'},
	    {"max-connections", required_argument, NULL, 'c'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"cache-runs", required_argument, NULL, 'C'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct ctr_serve_opts o;
	struct ctr_server *srv = NULL;
	struct ctr_err e;
	sigset_t set;
	char port_listen[32];
	unsigned long port;
	char *end;
	int c, sig = 0, have_port = 0, have_listen = 0;

	ctr_serve_opts_init(&o);
	ctr_err_clear(&e);
	o.token = getenv("CTRACE_SERVE_TOKEN");
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:l:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.store = optarg;
			break;
		case 'l':
			o.listen = optarg;
			have_listen = 1;
			break;
		case 'p':
			errno = 0;
			port = strtoul(optarg, &end, 10);
			if (!*optarg || *end || *optarg == '-' || errno || port > 65535)
				return ctr_cli_usage("ctrace serve",
						     "--port wants 0..65535, not '%s'", optarg);
			snprintf(port_listen, sizeof(port_listen), "127.0.0.1:%lu", port);
			o.listen = port_listen;
			have_port = 1;
			break;
		case 't':
			o.token = optarg;
			break;
		case 'c':
			if (parse_uint(optarg, 4096, &o.max_conns))
				return ctr_cli_usage("ctrace serve",
						     "--max-connections wants 1..4096");
			break;
		case 'T':
			if (parse_uint(optarg, 3600, &o.timeout_s))
				return ctr_cli_usage("ctrace serve",
						     "--timeout wants 1..3600 seconds");
			break;
		case 'C':
			if (parse_uint(optarg, 64, &o.cache_runs))
				return ctr_cli_usage("ctrace serve", "--cache-runs wants 1..64");
			break;
		case 'h':
			serve_usage();
			return 0;
		default:
			return ctr_cli_usage("ctrace serve", "bad option");
		}
	}
	if (optind < argc)
		return ctr_cli_usage("ctrace serve", "unexpected argument '%s'", argv[optind]);
	if (have_port && have_listen)
		return ctr_cli_usage("ctrace serve",
				     "give --listen ADDR:PORT or --port N, not both");
	if (o.token && !*o.token)
		o.token = NULL;
	/* Block the stop signals before the server's threads exist, so they inherit the mask and
	 * only sigwait below takes them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (ctr_serve_start(&srv, &o, &e))
		return ctr_cli_fail("ctrace serve", &e);
	fprintf(stderr, "ctrace serve: %s on %s%s (Ctrl-C stops)\n", ctr_serve_url(srv),
		o.store ? o.store : ctr_store_default(), o.token ? ", token required" : "");
	fflush(stderr);
	sigwait(&set, &sig);
	fprintf(stderr, "ctrace serve: stopping (%s)\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	ctr_serve_stop(srv);
	return 0;
}
