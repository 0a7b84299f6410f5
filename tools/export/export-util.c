/* SPDX-License-Identifier: MIT */
/*
 * The escaping and small writers every export format shares (export-int.h): XML and JSON
 * escaping, a function's exported name, microseconds, the stream's final status, and the
 * protocol buffers message builder of the Perfetto export. Below the
 * format files and the dispatch of export.c, calling neither.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "export-int.h"

void ctr_export_xml_escape(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", out);
			break;
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		case '\'':
			fputs("&#39;", out);
			break;
		default:
			/* Control characters are not allowed in XML 1.0. */
			if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n')
				fputc('?', out);
			else
				fputc(*s, out);
		}
	}
}

static void json_escape_n(FILE *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			fputc('\\', out);
			fputc(c, out);
		} else if (c == '\n') {
			fputs("\\n", out);
		} else if (c == '\t') {
			fputs("\\t", out);
		} else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
			fprintf(out, "\\u%04x", c);
		} else if (c == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
			   ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9)) {
			fprintf(out, "\\u%04x", (unsigned char)s[i + 2] == 0xA8 ? 0x2028 : 0x2029);
			i += 2;
		} else if (c >= 0x80) {
			/* Pass valid UTF-8 sequences; replace stray bytes so the output parses. */
			size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
			size_t k;

			for (k = 1; len && k < len; k++)
				if (i + k >= n || ((unsigned char)s[i + k] & 0xC0) != 0x80)
					len = 0;
			if (!len || c > 0xF4) {
				fputs("\\ufffd", out);
			} else {
				fwrite(s + i, 1, len, out);
				i += len - 1;
			}
		} else {
			fputc(c, out);
		}
	}
}

void ctr_export_json_escape(FILE *out, const char *s)
{
	if (s)
		json_escape_n(out, s, strlen(s));
}

void ctr_export_jq(FILE *out, const char *s)
{
	fputc('"', out);
	ctr_export_json_escape(out, s);
	fputc('"', out);
}

int ctr_export_status(FILE *out, struct ctr_err *e)
{
	if (ferror(out))
		return ctr_err_set(e, CTR_EIO, errno, "cannot write the export: %s",
				   strerror(errno));
	return 0;
}

const char *ctr_export_fn_name(const struct ctr_run *run, uint32_t fid)
{
	if (fid >= run->n_functions || !run->functions[fid].name)
		return "?";
	return run->functions[fid].name;
}

void ctr_export_fmt_us(FILE *out, uint64_t ns)
{
	fprintf(out, "%" PRIu64 ".%03u", ns / 1000, (unsigned)(ns % 1000));
}

/* Room for @n more bytes; 0, or -1 (and @failed set) when out of memory. */
static int pb_room(struct ctr_pb *pb, size_t n)
{
	unsigned char *nd;
	size_t ncap;

	if (pb->failed)
		return -1;
	if (pb->len + n <= pb->cap)
		return 0;
	ncap = pb->cap ? pb->cap : 256;
	while (ncap < pb->len + n)
		ncap *= 2;
	nd = realloc(pb->d, ncap);
	if (!nd) {
		pb->failed = 1;
		return -1;
	}
	pb->d = nd;
	pb->cap = ncap;
	return 0;
}

void ctr_pb_varint(struct ctr_pb *pb, uint32_t field, uint64_t v)
{
	if (pb_room(pb, 20))
		return;
	pb->len =
	    (size_t)(ctr_pb_put(ctr_pb_put(pb->d + pb->len, (uint64_t)field << 3), v) - pb->d);
}

void ctr_pb_bytes(struct ctr_pb *pb, uint32_t field, const void *data, size_t n)
{
	if (pb_room(pb, 20 + n))
		return;
	pb->len =
	    (size_t)(ctr_pb_put(ctr_pb_put(pb->d + pb->len, (uint64_t)field << 3 | 2), n) - pb->d);
	if (n)
		memcpy(pb->d + pb->len, data, n);
	pb->len += n;
}

void ctr_pb_str(struct ctr_pb *pb, uint32_t field, const char *s)
{
	ctr_pb_bytes(pb, field, s ? s : "", s ? strlen(s) : 0);
}

/* The length is reserved as 5 bytes (up to 4 GiB) and shrunk to its minimal varint on close. */
size_t ctr_pb_open(struct ctr_pb *pb, uint32_t field)
{
	if (pb_room(pb, 15))
		return 0;
	pb->len = (size_t)(ctr_pb_put(pb->d + pb->len, (uint64_t)field << 3 | 2) - pb->d);
	pb->len += 5;
	return pb->len;
}

void ctr_pb_close(struct ctr_pb *pb, size_t mark)
{
	unsigned char v[10];
	size_t body, n;

	if (pb->failed || mark < 5 || mark > pb->len)
		return;
	body = pb->len - mark;
	n = (size_t)(ctr_pb_put(v, body) - v);
	memmove(pb->d + mark - 5 + n, pb->d + mark, body);
	memcpy(pb->d + mark - 5, v, n);
	pb->len -= 5 - n;
}

void ctr_pb_release(struct ctr_pb *pb)
{
	free(pb->d);
	memset(pb, 0, sizeof(*pb));
}
