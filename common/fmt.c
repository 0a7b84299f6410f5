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
#include "options.h"

int ctr_parse_duration(const char *s, uint64_t *ns)
{
	/* one parser for the CLI and the preload's CTRACE_MIN_DURATION (header-only there) */
	return ctr_opt_parse_duration(s, ns) ? CTR_EUSAGE : 0;
}

int ctr_parse_size(const char *s, uint64_t *bytes)
{
	static const struct {
		const char *unit;
		double mult;
	} units[] = {{"", 1},
		     {"B", 1},
		     {"K", 1024.0},
		     {"KiB", 1024.0},
		     {"k", 1024.0},
		     {"KB", 1024.0},
		     {"M", 1048576.0},
		     {"MiB", 1048576.0},
		     {"m", 1048576.0},
		     {"MB", 1048576.0},
		     {"G", 1073741824.0},
		     {"GiB", 1073741824.0},
		     {"g", 1073741824.0},
		     {"GB", 1073741824.0}};
	char *end;
	double v;

	if (!s || !*s || *s == '-' || *s == '+')
		return CTR_EUSAGE;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !(v >= 0))
		return CTR_EUSAGE;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcmp(end, units[i].unit)) {
			v *= units[i].mult;
			if (v >= 18446744073709551615.0)
				return CTR_EUSAGE;
			*bytes = (uint64_t)v;
			return 0;
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

struct visible {
	FILE *out;
	unsigned char pend[4]; /* an incomplete UTF-8 sequence at the end of the last write */
	size_t n_pend;
};

size_t ctr_utf8_lead_len(unsigned char c)
{
	return c < 0x80			? 1
	       : c >= 0xC2 && c <= 0xDF ? 2
	       : c >= 0xE0 && c <= 0xEF ? 3
	       : c >= 0xF0 && c <= 0xF4 ? 4
					: 0;
}

size_t ctr_utf8_seq(const unsigned char *s)
{
	size_t n = ctr_utf8_lead_len(s[0]);
	uint32_t cp = n == 2 ? s[0] & 0x1Fu : n == 3 ? s[0] & 0x0Fu : s[0] & 0x07u;

	if (n <= 1)
		return n;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3Fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0; /* overlong, out of range or surrogate */
	return n;
}

/* 1 if the @n bytes at @s are one valid UTF-8 sequence that is not a C1 control
 * (U+0080..U+009F, which terminals act on). */
static int seq_ok(const unsigned char *s, size_t n)
{
	return ctr_utf8_seq(s) == n && !(s[0] == 0xC2 && s[1] < 0xA0);
}

static void put_escaped(FILE *out, unsigned char c)
{
	fprintf(out, "\\x%02x", c);
}

/* Writes @b[0..n) made visible; unless @final, a sequence cut at the end waits in @v->pend. */
static void visible_put(struct visible *v, const unsigned char *b, size_t n, int final)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = b[i];
		size_t len = ctr_utf8_lead_len(c), run = i;

		while (run < n &&
		       ((b[run] >= 0x20 && b[run] < 0x7F) || b[run] == '\n' || b[run] == '\t'))
			run++;
		if (run > i) { /* plain text: one write */
			fwrite(b + i, 1, run - i, v->out);
			i = run;
			continue;
		}

		if (len == 1) {
			if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F)
				put_escaped(v->out, c);
			else
				fputc(c, v->out);
			i++;
		} else if (!len) {
			put_escaped(v->out, c);
			i++;
		} else if (i + len > n && !final) {
			memcpy(v->pend, b + i, n - i);
			v->n_pend = n - i;
			return;
		} else if (i + len <= n && seq_ok(b + i, len)) {
			fwrite(b + i, 1, len, v->out);
			i += len;
		} else {
			put_escaped(v->out, c);
			i++;
		}
	}
}

static ssize_t visible_write(void *cookie, const char *buf, size_t size)
{
	struct visible *v = cookie;
	unsigned char tmp[8];
	size_t take = 0;

	if (v->n_pend) { /* complete the pending sequence first */
		size_t len = ctr_utf8_lead_len(v->pend[0]);

		take = len - v->n_pend < size ? len - v->n_pend : size;
		memcpy(tmp, v->pend, v->n_pend);
		memcpy(tmp + v->n_pend, buf, take);
		if (v->n_pend + take < len) {
			memcpy(v->pend, tmp, v->n_pend + take);
			v->n_pend += take;
			return (ssize_t)size;
		}
		v->n_pend = 0;
		visible_put(v, tmp, len, 1);
	}
	visible_put(v, (const unsigned char *)buf + take, size - take, 0);
	return ferror(v->out) ? -1 : (ssize_t)size;
}

static int visible_close(void *cookie)
{
	struct visible *v = cookie;
	int ret;

	visible_put(v, v->pend, v->n_pend, 1);
	ret = fflush(v->out) ? -1 : 0;
	free(v);
	return ret;
}

FILE *ctr_fmt_visible_stream(FILE *out)
{
	cookie_io_functions_t io = {.write = visible_write, .close = visible_close};
	struct visible *v = calloc(1, sizeof(*v));
	FILE *f;

	if (!v)
		return NULL;
	v->out = out;
	if (!(f = fopencookie(v, "w", io)))
		free(v);
	return f;
}
