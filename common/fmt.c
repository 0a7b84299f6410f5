/* SPDX-License-Identifier: MIT */
/* Durations, times and counts as people write and read them: see fmt.h. */
#include "fmt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"

int ctr_parse_duration(const char *s, uint64_t *ns)
{
	static const struct {
		const char *unit;
		double mul;
	} units[] = {{"ns", 1},	  {"us", 1e3},	 {"ms", 1e6},	{"s", 1e9},
		     {"m", 60e9}, {"min", 60e9}, {"h", 3600e9}, {"", 1}};
	char *end;
	double v;

	if (!s || !*s)
		return CTR_EUSAGE;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0 || v != v)
		return CTR_EUSAGE;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			double r = v * units[i].mul;

			if (r > 1.8e19)
				return CTR_EUSAGE;
			*ns = (uint64_t)(r + 0.5);
			return 0;
		}
	}
	return CTR_EUSAGE;
}

int ctr_parse_time(const char *s, int64_t *unix_ns)
{
	struct tm tm;
	const char *end;
	uint64_t d;

	if (!s || !*s)
		return CTR_EUSAGE;
	if (s[0] == '-') { /* relative to now */
		struct timespec now;

		int64_t now_ns;

		if (ctr_parse_duration(s + 1, &d))
			return CTR_EUSAGE;
		clock_gettime(CLOCK_REALTIME, &now);
		now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
		if (d > (uint64_t)now_ns) /* before 1970: not a time any run has */
			return CTR_EUSAGE;
		*unix_ns = now_ns - (int64_t)d;
		return 0;
	}
	if (s[0] == '@') {
		char *e2;
		double v;

		errno = 0;
		v = strtod(s + 1, &e2);
		if (errno || e2 == s + 1 || *e2 || !(v > -9.2e9 && v < 9.2e9)) /* int64 ns range */
			return CTR_EUSAGE;
		*unix_ns = (int64_t)(v * 1e9);
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
	}
	if (!end) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%d", &tm);
	}
	if (!end || (*end && strcmp(end, "Z") != 0))
		return CTR_EUSAGE;
	{
		time_t tt = timegm(&tm);

		if (tt > (time_t)(INT64_MAX / 1000000000) || tt < (time_t)(INT64_MIN / 1000000000))
			return CTR_EUSAGE; /* outside what ns since the epoch can hold */
		*unix_ns = (int64_t)tt * 1000000000;
	}
	return 0;
}

void ctr_fmt_ns(char *buf, size_t n, uint64_t ns)
{
	static const struct {
		double div;
		const char *unit;
	} u[] = {{1e9, "s"}, {1e6, "ms"}, {1e3, "us"}};
	double v;

	for (size_t i = 0; i < 3; i++) {
		if ((double)ns >= u[i].div) {
			v = (double)ns / u[i].div;
			snprintf(buf, n,
				 v >= 100  ? "%.0f %s"
				 : v >= 10 ? "%.1f %s"
					   : "%.2f %s",
				 v, u[i].unit);
			return;
		}
	}
	snprintf(buf, n, "%llu ns", (unsigned long long)ns);
}

void ctr_fmt_count(char *buf, size_t n, uint64_t v)
{
	if (v < 10000)
		snprintf(buf, n, "%" PRIu64, v);
	else if (v < 1000000)
		snprintf(buf, n, "%.1f k", v / 1e3);
	else if (v < 1000000000)
		snprintf(buf, n, "%.1f M", v / 1e6);
	else
		snprintf(buf, n, "%.1f G", v / 1e9);
}
