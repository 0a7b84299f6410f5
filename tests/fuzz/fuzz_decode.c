/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the raw trace reader: the event word decoder (common/decode.c) and the
 * run directory reader + commit path (tools/rundir.c, tools/commit.c). The first input byte
 * picks what the rest becomes:
 *   0: one thread's event stream, decoded whole and again fed in two pieces;
 *   1: a whole event file (header included) of a run whose metadata is valid;
 *   2: the body of an event file behind a valid header;
 *   3: run.meta, p-1-0.meta and p-1-0.maps texts (NUL separated) beside a small valid event file.
 * Modes 1-3 write a run directory in a private temporary directory and commit it into a memory
 * store. Any input must give 0 or a CTR_E* code with a message: never a crash, a leak or an
 * out-of-bounds access.
 * Built by `make fuzz` (clang -fsanitize=fuzzer,address,undefined, with every common/, store/
 * and tools/ source compiled with the same flags); seeds in tests/fuzz/corpus/decode/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/decode.h"
#include "fuzz-tmp.h"
#include "store/store.h"
#include "tools/ingest/commit.h"
#include "tools/ingest/rundir.h"

static char dir[PATH_MAX];

static const char run_meta[] = "ctrace-run 1\nid=20260101T000000-f0220f\nroot_pid=1\n"
			       "command=fuzz\nhost=h\ncwd=/\nstart_real_ns=1000\n";
static const char proc_meta[] = "ctrace-proc 1\npid=1\nppid=0\ngen=0\nexe=/nonexistent\n"
				"command=fuzz\nclock=monotonic\nticks_per_sec=1000000000\n"
				"start_ticks=0\nstart_real_ns=1000\n";
static const char proc_maps[] = "L 0 1000 200000 - /nonexistent/fuzz-module\n";

/* Every failure must say what it is. */
static void check_err(int rc, const struct ctr_err *e)
{
	if (rc > 0 || (rc < 0 && (e->code != rc || !e->msg[0]))) {
		fprintf(stderr, "fuzz_decode: returned %d, error code %d, message '%s'\n", rc,
			e->code, e->msg);
		abort();
	}
}

static void decode_all(const uint8_t *data, size_t size, size_t split)
{
	struct ctr_decoder d;
	struct ctr_event ev;
	struct ctr_err e;
	uint32_t *words;
	size_t n = size / 4, cut = split % (n + 1);
	int rc = 0;

	/* aligned copies: the decoder reads 32-bit words */
	words = malloc(n * 4 + 4);
	if (!words)
		return;
	memcpy(words, data, n * 4);
	for (int pass = 0; pass < 2 * CTR_EV_VERSION; pass++) {
		size_t c = pass % 2 ? cut : n;
		size_t pieces[2][2] = {{0, c}, {c, n}};

		ctr_err_clear(&e);
		ctr_decoder_init(&d);
		ctr_decoder_set_version(&d, 1 + (unsigned)pass / 2, NULL); /* every word encoding */
		for (int p = 0; p < 2 && rc >= 0; p++) {
			uint32_t depth_seen = 0;

			ctr_decoder_feed(&d, words + pieces[p][0],
					 (pieces[p][1] - pieces[p][0]) * 4);
			while ((rc = ctr_decoder_next(&d, &ev, &e)) > 0) {
				if (ev.type < CTR_EV_ENTER || ev.type > CTR_EV_OFFCPU)
					abort();
				/* strings lie inside the input */
				if (ev.str && ev.len &&
				    ((const char *)ev.str < (const char *)words ||
				     (const char *)ev.str + ev.len > (const char *)(words + n)))
					abort();
				if (ev.str2 && ev.len2 &&
				    ((const char *)ev.str2 < (const char *)words ||
				     (const char *)ev.str2 + ev.len2 > (const char *)(words + n)))
					abort();
				depth_seen = ev.depth;
			}
			(void)depth_seen;
			check_err(rc, &e);
		}
		ctr_decoder_release(&d);
		rc = 0;
	}
	free(words);
}

static int write_file(const char *name, const void *data, size_t size)
{
	char path[PATH_MAX + 32];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return -1;
	if (size && fwrite(data, 1, size, f) != size) {
		fclose(f);
		return -1;
	}
	return fclose(f);
}

static void valid_header(struct ctr_ev_hdr *h)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, CTR_EV_MAGIC, 8);
	h->version = CTR_EV_VERSION;
	h->hdr_size = CTR_EV_HDR_SIZE;
	h->pid = 1;
	h->tid = 1;
	h->ticks_per_sec = 1000000000;
	memcpy(h->name, "fuzz", 4);
}

static void commit_dir(void)
{
	struct ctr_store *s = NULL;
	struct ctr_rawrun *r = NULL;
	struct ctr_commit_opts o = {.keep = 1};
	char id[CTR_RUN_ID_MAX];
	struct ctr_err e;
	int rc;

	ctr_err_clear(&e);
	rc = ctr_rawrun_open(dir, &r, &e);
	check_err(rc, &e);
	ctr_rawrun_free(r);
	ctr_err_clear(&e);
	if (ctr_store_open(&s, "memory:", &e))
		abort();
	rc = ctr_commit_dir(s, dir, &o, id, &e);
	check_err(rc, &e);
	if (rc == 0) { /* whatever committed must load back */
		struct ctr_run *run = NULL;

		ctr_err_clear(&e);
		if (ctr_store_load(s, id, CTR_LOAD_TIMELINE, &run, &e) != 0)
			abort();
		ctr_run_free(run);
	}
	ctr_store_close(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctr_ev_hdr h;
	unsigned char *buf;

	if (!dir[0])
		snprintf(dir, sizeof(dir), "%s", fuzz_tmpdir("decode"));
	if (size < 1 || size > (1u << 20))
		return 0;
	switch (data[0] % 4) {
	case 0:
		decode_all(data + 1, size - 1, size > 1 ? data[1] * 16u : 0);
		return 0;
	case 1:
		write_file("t-1-0-1.ev", data + 1, size - 1);
		break;
	case 2:
		valid_header(&h);
		buf = malloc(sizeof(h) + size);
		if (!buf)
			return 0;
		memcpy(buf, &h, sizeof(h));
		memcpy(buf + sizeof(h), data + 1, size - 1);
		write_file("t-1-0-1.ev", buf, sizeof(h) + size - 1);
		free(buf);
		break;
	case 3: {
		/* NUL-separated texts; the missing ones are left out of the directory */
		const char *p = (const char *)data + 1, *end = (const char *)data + size;
		const char *names[3] = {"run.meta", "p-1-0.meta", "p-1-0.maps"};
		uint32_t body[] = {ctr_w_ext(CTR_X_TIME, 2, 0),
				   5,
				   0,
				   ctr_w_ext(CTR_X_DEFINE, 2, 1),
				   0x1100,
				   0,
				   ctr_w_enter(1, 3),
				   ctr_w2_exit(4)};

		for (int i = 0; i < 3; i++) {
			const char *nul = memchr(p, 0, (size_t)(end - p));
			size_t len = nul ? (size_t)(nul - p) : (size_t)(end - p);

			if (p < end)
				write_file(names[i], p, len);
			p += len + 1;
			if (p > end)
				p = end;
		}
		valid_header(&h);
		buf = malloc(sizeof(h) + sizeof(body));
		if (!buf)
			return 0;
		memcpy(buf, &h, sizeof(h));
		memcpy(buf + sizeof(h), body, sizeof(body));
		write_file("t-1-0-1.ev", buf, sizeof(h) + sizeof(body));
		free(buf);
		commit_dir();
		goto clean;
	}
	}
	write_file("run.meta", run_meta, sizeof(run_meta) - 1);
	write_file("p-1-0.meta", proc_meta, sizeof(proc_meta) - 1);
	write_file("p-1-0.maps", proc_maps, sizeof(proc_maps) - 1);
	commit_dir();
clean : {
	const char *names[] = {"run.meta", "p-1-0.meta", "p-1-0.maps", "t-1-0-1.ev"};
	char path[PATH_MAX + 32];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
}
	return 0;
}
