/* SPDX-License-Identifier: MIT */
/*
 * The parts of a demangled C++ function name, found without allocating (header-only: the
 * preload matches --exclude/--filter globs with it). A demangled template function carries its
 * return type ("void std::allocator_traits<...>::construct<...>(...)") and every function its
 * parameter list, but people write the qualified name: `std::*` must match both.
 */
#ifndef CTR_CXXSPLIT_H
#define CTR_CXXSPLIT_H

#include <stddef.h>
#include <string.h>

/* Characters of an operator's symbol or conversion type after "operator" at @s ("<<", "()",
 * "[]", "->*", " new", " delete", " unsigned int", " bool"): not brackets, not a space that ends
 * a return type. */
static inline size_t ctr_cxxsplit_op_len(const char *s)
{
	size_t n = 0;

	if ((s[0] == '(' && s[1] == ')') || (s[0] == '[' && s[1] == ']'))
		return 2;
	if (s[0] == ' ') {
		while (s[n] == ' ' || s[n] == ':' || s[n] == '*' || s[n] == '&' ||
		       (s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
		       (s[n] >= '0' && s[n] <= '9') || s[n] == '_')
			n++;
		return n;
	}
	/* the longest operator token: "operator!=<int*>" is != with template arguments */
	static const char *const ops[] = {
	    "<=>", "<<=", ">>=", "->*", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "++",
	    "--",  "->",  "+=",	 "-=",	"*=", "/=", "%=", "^=", "&=", "|=", "<",  ">",	"=",
	    "!",   "+",	  "-",	 "*",	"/",  "%",  "^",  "&",	"|",  "~",  ","};
	for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]) && !n; k++)
		if (!strncmp(s, ops[k], strlen(ops[k])))
			n = strlen(ops[k]);
	if (n && s[n] == ' ' && s[n + 1] == '<')
		n++; /* "operator< <int>": the space before template arguments */
	return n;
}

static inline int ctr_cxxsplit_ident(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

/*
 * Splits demangled name @dm: [*name, *params) is the qualified name (no return type),
 * [*params, *end) the parameter list with its parentheses (no trailing " const", " &", ...).
 * Returns 0, or -1 when @dm has no parameter list (a C name, a variable) or its brackets do
 * not balance; the outputs are then 0, len, len.
 */
static inline int ctr_cxxsplit_name(const char *dm, size_t *name, size_t *params, size_t *end)
{
	size_t len = strlen(dm), i, depth = 0, space = 0, open = len, close = len, start = 0;

	*name = 0;
	*params = *end = len;
	for (i = 0; i < len; i++) {
		char c = dm[i];

		if (c == 'o' && (i == 0 || !ctr_cxxsplit_ident(dm[i - 1])) &&
		    !strncmp(dm + i, "operator", 8) && !ctr_cxxsplit_ident(dm[i + 8])) {
			i += 8 + ctr_cxxsplit_op_len(dm + i + 8) - 1;
			continue;
		}
		if (c == '<' || c == '(' || c == '[' || c == '{') {
			if (c == '(' && depth == 0) {
				open = i; /* the last top-level group is the parameter list */
				start = space;
			}
			depth++;
		} else if (c == '>' || c == ')' || c == ']' || c == '}') {
			if (depth == 0)
				return -1;
			if (--depth == 0 && c == ')')
				close = i + 1;
		} else if (c == ' ' && depth == 0) {
			space = i + 1; /* before the name: the end of a return type */
		}
	}
	if (depth != 0 || open == len || close <= open)
		return -1;
	*name = start;
	*params = open;
	*end = close;
	return 0;
}

#endif
