/* SPDX-License-Identifier: MIT */
/*
 * Durations, wall-clock times and counts in the forms people type and read ("1.5ms",
 * "2026-11-21", "12.3 k"). Shared by every stage that prints or parses them; pure functions,
 * thread-safe, no allocation.
 */
#ifndef CTR_FMT_H
#define CTR_FMT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* "250" (ns), "10us", "1.5ms", "2s", "1m" -> ns. 0 or CTR_EUSAGE. */
int ctr_parse_duration(const char *s, uint64_t *ns);
/* "4096", "64K", "1.5M", "2G" (also KiB/MiB/GiB, k/m/g; powers of 1024) -> bytes. 0 or
 * CTR_EUSAGE. */
int ctr_parse_size(const char *s, uint64_t *bytes);
/* "2026-11-21", "2026-11-21T10:00:00" (UTC), "@1700000000" (unix s), "-2h" (relative to now)
 * -> unix ns. 0 or CTR_EUSAGE. */
int ctr_parse_time(const char *s, int64_t *unix_ns);
/* Human duration with 3 significant digits: "812 ns", "1.23 us", "45.6 ms", "2.00 s". */
void ctr_fmt_ns(char *buf, size_t n, uint64_t ns);
/* "1234", "12.3 k", "2.6 M", "1.1 G". */
void ctr_fmt_count(char *buf, size_t n, uint64_t v);

/* Length a UTF-8 sequence starting with byte @c must have (1..4); 0 when @c cannot start one. */
size_t ctr_utf8_lead_len(unsigned char c);
/* Length (1..4) of the valid UTF-8 sequence at @s, 0 when the bytes there are not one (bad lead
 * or continuation byte, overlong form, surrogate, above U+10FFFF). Reads no further than the
 * first byte that is not a continuation byte, so a NUL-terminated string is safe. */
size_t ctr_utf8_seq(const unsigned char *s);

/*
 * A stream that writes to @out with every byte a terminal could act on made visible: C0
 * controls other than newline and tab, DEL, C1 controls (U+0080..U+009F) and bytes that are
 * not valid UTF-8 are written as "\xNN"; valid UTF-8 text passes unchanged. For text reports
 * whose names, command lines and attributes come from the traced program. fclose() of the
 * returned stream flushes it and leaves @out open. NULL when out of memory.
 */
FILE *ctr_fmt_visible_stream(FILE *out);

#endif
