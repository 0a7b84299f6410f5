/* SPDX-License-Identifier: MIT */
/*
 * `ctrace serve`: a read-only HTTP server over a trace store (docs/serve.md). It serves the
 * viewer page (export/viewer.h, the same frontend as the static HTML export) at / and a JSON
 * API under /api/: the run list with the `ctrace query` filters, a run as `ctrace-report
 * --json --top 0`, a thread's timeline at the detail a screen shows (export/tlindex.h) and the
 * diff of two runs. Built on libmicrohttpd; every limit (connections, request size, response
 * size, idle time) is bounded and stated in the options.
 */
#ifndef CTR_SERVE_H
#define CTR_SERVE_H

#include <stddef.h>

#include "../../common/err.h"

#define CTR_SERVE_LISTEN_DEFAULT "127.0.0.1:7878"

struct ctr_serve_opts {
	const char *store;   /* connection string; NULL = ctr_store_default() */
	const char *listen;  /* "ADDR:PORT" ("[V6]:PORT"); NULL = CTR_SERVE_LISTEN_DEFAULT */
	const char *token;   /* required on every request when set; NULL = none */
	unsigned max_conns;  /* concurrent connections; 0 = 64 */
	unsigned timeout_s;  /* idle connection timeout; 0 = 30 */
	size_t max_response; /* bytes of one answer; 0 = 256 MiB */
	unsigned cache_runs; /* runs kept loaded (with their timeline index); 0 = 2 */
	size_t max_request;  /* bytes of one request's header; 0 = 32 KiB */
};

struct ctr_server;

/* Sets the defaults (all zero / NULL). */
void ctr_serve_opts_init(struct ctr_serve_opts *o);

/*
 * Opens the store and starts listening; requests are served by libmicrohttpd's threads until
 * ctr_serve_stop(). CTR_EUSAGE for a bad --listen or a non-loopback address without a token,
 * CTR_EIO when the address cannot be bound, store errors as the store returns them. *@out is
 * the caller's. Call with SIGINT/SIGTERM blocked if the caller waits for them with sigwait(3):
 * the server's threads inherit the mask.
 */
int ctr_serve_start(struct ctr_server **out, const struct ctr_serve_opts *o, struct ctr_err *e);

/* "http://127.0.0.1:7878/" with the port actually bound. Borrowed until ctr_serve_stop(). */
const char *ctr_serve_url(const struct ctr_server *s);

/* Stops listening, waits for the requests in flight, closes the store and frees @s (accepts
 * NULL). */
void ctr_serve_stop(struct ctr_server *s);

#endif
