/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the query filter parsers of the CLI (tools/cli.c: durations and
 * times, as `ctrace query --since/--min-duration` parse them) and for filter matching
 * (store/store.c ctr_filter_match). The input is split at NULs into: since, until, min
 * duration, max duration, command substring, function name, then KEY=VALUE metadata pairs.
 * A parser must accept or return CTR_EUSAGE; never crash or read out of bounds.
 * Built by `make fuzz`; seeds in tests/fuzz/corpus/filter/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/fmt.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *field[16], *p;
	size_t n = 0;
	struct ctr_filter f;
	struct ctr_kv meta[8], run_meta[2] = {{"k", "v"}, {"host", "ci"}};
	struct ctr_function fn[2] = {
	    {.name = "main", .linkage_name = ""},
	    {.name = "ns::Box<int>::get() const", .linkage_name = "_ZNK2ns3BoxIiE3getEv"}};
	struct ctr_run run = {.id = "20260101T000000-abcdef",
			      .command = "./prog --flag x",
			      .start_unix_ns = 1767225600000000000,
			      .duration_ns = 1500000,
			      .meta = run_meta,
			      .n_meta = 2,
			      .functions = fn,
			      .n_functions = 2};
	uint64_t d;
	int64_t t;

	if (size > 4096 || !(buf = malloc(size + 1)))
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (p = buf; n < 16 && p <= buf + size; p += strlen(p) + 1)
		field[n++] = p;
	memset(&f, 0, sizeof(f));
	for (size_t i = 0; i < n; i++) {
		int rc = 0;

		switch (i) {
		case 0:
			rc = ctr_parse_time(field[i], &t);
			if (!rc)
				f.since_unix_ns = t;
			break;
		case 1:
			rc = ctr_parse_time(field[i], &t);
			if (!rc)
				f.until_unix_ns = t;
			break;
		case 2:
			rc = ctr_parse_duration(field[i], &d);
			if (!rc)
				f.min_duration_ns = d;
			break;
		case 3:
			rc = ctr_parse_duration(field[i], &d);
			if (!rc)
				f.max_duration_ns = d;
			break;
		case 4:
			f.command = field[i];
			break;
		case 5:
			f.function = field[i];
			break;
		default: {
			char *eq = strchr(field[i], '=');

			if (eq && f.n_meta < 8) {
				*eq = '\0';
				meta[f.n_meta].key = field[i];
				meta[f.n_meta++].value = eq + 1;
				f.meta = meta;
			}
		}
		}
		if (rc != 0 && rc != CTR_EUSAGE)
			abort();
	}
	(void)ctr_filter_match(&f, &run);
	{
		char out[64];

		ctr_fmt_ns(out, sizeof(out), f.min_duration_ns);
		if (!memchr(out, '\0', sizeof(out)))
			abort();
	}
	free(buf);
	return 0;
}
