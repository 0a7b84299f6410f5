/* SPDX-License-Identifier: MIT */
/*
 * Run ids: "YYYYMMDDTHHMMSS-xxxxxx" (UTC start second, 24 random bits), also the name of the
 * raw run directory (docs/format.md). Header-only so the preload, which links no ctrace
 * library, and the tools make them the same way.
 */
#ifndef CTR_RUNID_H
#define CTR_RUNID_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Writes a new run id into @id (at least 23 bytes). Callers retry on a name collision. */
static inline void ctr_run_id_make(char *id, size_t n)
{
	struct timespec ts;
	struct tm tm;
	unsigned char rnd[3] = {0};

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
		uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 20);

		memcpy(rnd, &x, 3);
	}
	snprintf(id, n, "%04d%02d%02dT%02d%02d%02d-%02x%02x%02x", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, rnd[0], rnd[1], rnd[2]);
}

#endif
