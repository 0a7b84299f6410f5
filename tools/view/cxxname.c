/* SPDX-License-Identifier: MIT */
/*
 * Shortened C++ names (cxxname.h): a scanner over demangled names that tracks nesting of
 * <>, (), {} and [] (operator names aside), and the per-run table of display names.
 */
#include "cxxname.h"

#include <stdlib.h>
#include <string.h>

#include "../../common/cxxsplit.h"
#include "../../common/hash.h"
#include "../../common/hmap.h"

/* Length of an operator name's symbol at @s (just after "operator"), so that "operator<" or
 * "operator()" are not taken for a template or a parameter list. */
static size_t op_len(const char *s)
{
	static const char *const ops[] = {"<<=", ">>=", "<=>", "->*", "()", "[]", "<<", ">>",
					  "<=",	 ">=",	"->",  "<",   ">",  "(",  "["};

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strncmp(s, ops[i], strlen(ops[i])))
			return strlen(ops[i]);
	return 0;
}

static int is_operator_at(const char *full, const char *p)
{
	return p - full >= 8 && !strncmp(p - 8, "operator", 8);
}

struct out {
	char *buf;
	size_t n, len;
};

static void put(struct out *o, const char *s, size_t len)
{
	for (size_t i = 0; i < len && o->len + 1 < o->n; i++)
		o->buf[o->len++] = s[i];
	o->buf[o->len] = '\0';
}

/* Copies [@s, @end) with "(anonymous namespace)" as "(anon)", template arguments as "<...>"
 * unless @keep_tpl, and lambda parameter lists dropped unless @keep_params. */
static void elide(struct out *o, const char *full, const char *s, const char *end, int keep_tpl,
		  int keep_params)
{
	for (const char *p = s; p < end; p++) {
		if (!strncmp(p, "(anonymous namespace)", 21)) {
			put(o, "(anon)", 6);
			p += 20;
			continue;
		}
		if (is_operator_at(full, p) && op_len(p)) {
			put(o, p, op_len(p));
			p += op_len(p) - 1;
			continue;
		}
		if (*p == '<' && !keep_tpl) {
			int d = 0;
			const char *q = p;

			for (; q < end; q++) {
				if (*q == '<')
					d++;
				else if (*q == '>' && --d == 0)
					break;
			}
			put(o, "<...>", 5);
			p = q < end ? q : end - 1;
			continue;
		}
		if (!keep_params && !strncmp(p, "{lambda(", 8)) {
			const char *q = p + 7;
			int d = 0;

			for (; q < end; q++) {
				if (*q == '(')
					d++;
				else if (*q == ')' && --d == 0)
					break;
			}
			put(o, "{lambda", 7);
			p = q < end ? q : end - 1;
			continue;
		}
		put(o, p, 1);
	}
}

char *ctr_cxx_shorten(const char *full, int level, char *buf, size_t n)
{
	struct out o = {buf, n, 0};
	const char *close = NULL, *params = NULL, *start, *end;
	size_t at_name, at_params, at_end;
	int keep_tpl, keep_params;

	if (!n)
		return buf;
	buf[0] = '\0';
	if (!full)
		return buf;
	/* the qualified name and parameter list, as --exclude matches them (common/cxxsplit.h) */
	start = full;
	if (ctr_cxxsplit_name(full, &at_name, &at_params, &at_end) == 0) {
		start = full + at_name;
		params = full + at_params;
		close = full + at_end - 1;
	}
	end = params ? params : full + strlen(full);
	keep_tpl = level >= 3;
	keep_params = level == 2 || level >= 4;
	elide(&o, full, start, end, keep_tpl, keep_params);
	if (params && keep_params)
		elide(&o, full, params, close + 1, keep_tpl, keep_params);
	if (params && close[1]) {
		/* keep " const" and "[clone .cold]" after the parameters */
		const char *tail = close + 1;

		if (keep_params || !strncmp(tail, " [clone", 7))
			put(&o, tail, strlen(tail));
		else if (strstr(tail, "[clone"))
			put(&o, strstr(tail, "[clone") - 1, strlen(strstr(tail, "[clone")) + 1);
	}
	return buf;
}

const char *ctr_cxx_variant(const char *l)
{
	static const struct {
		const char *code, *name;
	} v[] = {{"D0E", "deleting"}, {"D1E", "complete"}, {"D2E", "base"}, {"C1E", "complete"},
		 {"C2E", "base"},     {"C1I", "complete"}, {"C2I", "base"}};
	const char *best = NULL, *name = "";

	if (!l || strncmp(l, "_Z", 2))
		return "";
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		const char *p = strstr(l, v[i].code);

		while (p) { /* the last occurrence: the innermost name */
			if (!best || p > best) {
				best = p;
				name = v[i].name;
			}
			p = strstr(p + 1, v[i].code);
		}
	}
	return name;
}

static struct {
	const struct ctr_run *run;
	char **names;
	size_t n;
} attached[CTR_CXX_RUNS];

static void names_free(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

/* Functions whose @key (per function) is shared by another function with a different full
 * name get 1 in @dup. */
static int mark_dups(const struct ctr_run *run, char **key, unsigned char *dup, int by_full)
{
	struct ctr_hmap m = {0};
	int ret = 0;

	for (size_t i = 0; i < run->n_functions; i++) {
		uint64_t h = ctr_hash_bytes(key[i], strlen(key[i]), CTR_HASH_SEED) | 1;
		uint32_t *v;

		for (;; h = h * 31 + 2) {
			if (!(v = ctr_hmap_get(&m, h)))
				break;
			if (!strcmp(key[*v], key[i]))
				break;
		}
		if (!v) {
			if (ctr_hmap_put(&m, h, (uint32_t)i)) {
				ret = CTR_ENOMEM;
				break;
			}
			continue;
		}
		const char *a = run->functions[*v].name, *b = run->functions[i].name;

		if (by_full || !a || !b || strcmp(a, b)) {
			dup[i] = 1;
			dup[*v] = 1;
		}
	}
	ctr_hmap_free(&m);
	return ret;
}

static char *with_suffix(const char *name, const char *suffix)
{
	size_t a = strlen(name), b = strlen(suffix);
	char *s = malloc(a + b + 4);

	if (!s)
		return NULL;
	memcpy(s, name, a);
	if (b) {
		s[a] = ' ';
		s[a + 1] = '[';
		memcpy(s + a + 2, suffix, b);
		s[a + b + 2] = ']';
		a += b + 3;
	}
	s[a] = '\0';
	return s;
}

/* The display names: level 1, then levels 2, 3, 4 for the ambiguous ones, and the full name
 * for those still ambiguous;
 * then variant suffixes where the full names of distinct symbols coincide (or D0). */
static int build_names(const struct ctr_run *run, int full, char **names, unsigned char *dup)
{
	char buf[2048];
	int ret;

	for (size_t i = 0; i < run->n_functions; i++) {
		const struct ctr_function *f = &run->functions[i];
		const char *nm = f->name ? f->name : "?";

		names[i] = strdup(full || f->kind != CTR_FN_FUNCTION
				      ? nm
				      : ctr_cxx_shorten(nm, 1, buf, sizeof(buf)));
		if (!names[i])
			return CTR_ENOMEM;
	}
	for (int level = 2; !full && level <= 5; level++) {
		memset(dup, 0, run->n_functions);
		if ((ret = mark_dups(run, names, dup, 0)))
			return ret;
		for (size_t i = 0; i < run->n_functions; i++) {
			if (!dup[i])
				continue;
			const char *nm = run->functions[i].name ? run->functions[i].name : "?";
			char *s =
			    strdup(level < 5 ? ctr_cxx_shorten(nm, level, buf, sizeof(buf)) : nm);

			if (!s)
				return CTR_ENOMEM;
			free(names[i]);
			names[i] = s;
		}
	}
	memset(dup, 0, run->n_functions);
	if ((ret = mark_dups(run, names, dup, 1)))
		return ret;
	for (size_t i = 0; i < run->n_functions; i++) {
		const char *v = ctr_cxx_variant(run->functions[i].linkage_name);

		if (!*v || (!dup[i] && strcmp(v, "deleting")))
			continue;
		char *s = with_suffix(names[i], v);

		if (!s)
			return CTR_ENOMEM;
		free(names[i]);
		names[i] = s;
	}
	return 0;
}

int ctr_cxx_attach(const struct ctr_run *run, int full, struct ctr_err *e)
{
	size_t slot = CTR_CXX_RUNS;
	char **names = NULL;
	unsigned char *dup = NULL;
	int ret = CTR_ENOMEM;

	ctr_cxx_detach(run);
	for (size_t i = 0; i < CTR_CXX_RUNS && slot == CTR_CXX_RUNS; i++)
		if (!attached[i].run)
			slot = i;
	if (slot == CTR_CXX_RUNS)
		return ctr_err_set(e, CTR_EINTERNAL, 0, "too many runs with display names");
	if (!run->n_functions)
		return 0;
	names = calloc(run->n_functions, sizeof(*names));
	dup = calloc(run->n_functions, 1);
	if (!names || !dup || (ret = build_names(run, full, names, dup))) {
		names_free(names, run->n_functions);
		free(dup);
		return ctr_err_set(e, ret ? ret : CTR_ENOMEM, 0, "out of memory naming functions");
	}
	free(dup);
	attached[slot].names = names;
	attached[slot].n = run->n_functions;
	/* published last: a reader on another thread (ctrace serve) that finds the run sees its
	 * names; attach and detach themselves are serialized by the caller */
	__atomic_store_n(&attached[slot].run, run, __ATOMIC_RELEASE);
	return 0;
}

void ctr_cxx_detach(const struct ctr_run *run)
{
	for (size_t i = 0; i < CTR_CXX_RUNS; i++)
		if (attached[i].run == run) {
			__atomic_store_n(&attached[i].run, NULL, __ATOMIC_RELEASE);
			names_free(attached[i].names, attached[i].n);
			attached[i].names = NULL;
			attached[i].n = 0;
		}
}

const char *ctr_cxx_display(const struct ctr_run *run, uint32_t fid)
{
	if (!run || fid >= run->n_functions)
		return "?";
	for (size_t i = 0; i < CTR_CXX_RUNS; i++)
		if (__atomic_load_n(&attached[i].run, __ATOMIC_ACQUIRE) == run &&
		    fid < attached[i].n)
			return attached[i].names[fid];
	return run->functions[fid].name ? run->functions[fid].name : "?";
}
