/* SPDX-License-Identifier: MIT */
/*
 * Folded stacks (Brendan Gregg's flamegraph.pl / speedscope / inferno input): one line per
 * distinct stack with its self time.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/hash.h"
#include "../../common/libcall.h"
#include "../../store/timeline.h"
#include "../view/report.h"
#include "export-int.h"

static int folded_name(char **buf, size_t *len, size_t *cap, const char *name)
{
	size_t n = strlen(name);

	if (*len + n + 2 > *cap) {
		size_t ncap = (*cap + n + 2) * 2;
		char *nb = realloc(*buf, ncap);

		if (!nb)
			return -1;
		*buf = nb;
		*cap = ncap;
	}
	if (*len)
		(*buf)[(*len)++] = ';';
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		/* ';' separates frames and a newline ends the line: keep both out of names. */
		(*buf)[(*len)++] = c == ';' ? ':' : (c == '\n' || c == '\r') ? ' ' : c;
	}
	(*buf)[*len] = 0;
	return 0;
}

int ctr_export_folded(FILE *out, const struct ctr_run *run, const struct ctr_export_opts *o,
		      struct ctr_err *e)
{
	struct ft_tree t;
	struct {
		uint32_t node;
		size_t len;
	} *st = NULL;
	size_t sp = 0, blen = 0, bcap = 256;
	char *buf = malloc(bcap), name[256], lib[272];
	const char *nm;
	int ret = ctr_ft_build(&t, run, o->raw_times, o->thread_prefix, e);

	if (ret) {
		free(buf);
		return ret;
	}
	st = malloc(t.len * sizeof(*st));
	if (!st || !buf) {
		ret = ctr_err_set(e, CTR_ENOMEM, ENOMEM, "out of memory writing folded stacks");
		goto out;
	}
	/* Depth-first with an explicit stack (recursion can be deep); each sibling group is
	 * reversed after pushing so that the output follows the sorted order. */
	for (uint32_t k = t.n[0].first_child; k != CTR_NONE; k = t.n[k].next_sibling)
		st[sp++] = (typeof(*st)){k, 0};
	/* Reverse the roots pushed so the first sorted root is popped first. */
	for (size_t i = 0; i < sp / 2; i++) {
		typeof(*st) tmp = st[i];

		st[i] = st[sp - 1 - i];
		st[sp - 1 - i] = tmp;
	}
	while (sp) {
		uint32_t v = st[--sp].node;
		size_t before;

		blen = st[sp].len;
		nm = ctr_ft_name(run, &t.n[v], name, sizeof(name));
		if (ctr_name_is_libcall(nm)) { /* flamegraph.pl's annotation, as _[k] for kernel */
			snprintf(lib, sizeof(lib), "%s_[lib]", nm);
			nm = lib;
		}
		if (folded_name(&buf, &blen, &bcap, nm)) {
			ret = ctr_err_set(e, CTR_ENOMEM, ENOMEM,
					  "out of memory writing folded stacks");
			goto out;
		}
		if (t.n[v].self)
			fprintf(out, "%s %" PRIu64 "\n", buf, t.n[v].self);
		before = sp;
		for (uint32_t k = t.n[v].first_child; k != CTR_NONE; k = t.n[k].next_sibling)
			st[sp++] = (typeof(*st)){k, blen};
		for (size_t i = 0; i < (sp - before) / 2; i++) {
			typeof(*st) tmp = st[before + i];

			st[before + i] = st[sp - 1 - i];
			st[sp - 1 - i] = tmp;
		}
	}
	ret = ctr_export_status(out, e);
out:
	free(st);
	free(buf);
	ctr_ft_release(&t);
	return ret;
}
