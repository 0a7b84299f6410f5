/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for connection-string parsing and run-spec resolution: the input is split
 * at its first NUL into a connection string and a run spec. Runs in a private temporary
 * directory, since a bare path or "sqlite:X" creates a database file.
 * Build from the repository root: clang -g -O1 -fsanitize=fuzzer,address,undefined
 *   -D_GNU_SOURCE -I. tests/fuzz/fuzz_connstr.c plus every .c file of store/ and common/,
 *   linked with -ljansson -lsqlite3 -lzstd -lm.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz-tmp.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int in_tmp;
	char *buf, *spec, id[CTR_RUN_ID_MAX];
	struct ctr_store *s = NULL;
	struct ctr_err e;

	if (!in_tmp) {
		if (chdir(fuzz_tmpdir("connstr")) < 0)
			abort();
		in_tmp = 1;
	}
	if (size > 256 || !(buf = malloc(size + 2)))
		return 0;
	memcpy(buf, data, size);
	buf[size] = buf[size + 1] = '\0';
	spec = buf + strlen(buf) + 1;
	/* keep files inside the directory: no '/' in paths, no huge names */
	if (!strchr(buf, '/')) {
		ctr_err_clear(&e);
		if (ctr_store_open(&s, buf, &e) == 0) {
			if (ctr_store_resolve(s, spec, id, &e) == 0 &&
			    !memchr(id, '\0', sizeof(id)))
				abort();
			ctr_store_close(s);
		} else if (e.code == 0 || !e.msg[0]) {
			abort(); /* every failure explains itself */
		}
	}
	free(buf);
	return 0;
}
