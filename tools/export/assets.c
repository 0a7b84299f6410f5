/* SPDX-License-Identifier: MIT */
/*
 * The HTML page's stylesheet and script, kept as real files under export/assets/ (so they can be
 * read, linted and diffed as CSS and JavaScript) and embedded into the binary at build time with
 * the assembler's .incbin, NUL-terminated. The Makefile makes this object depend on the files;
 * paths are relative to the repository root, where every build runs.
 */
#include "export-int.h"

#define CTR_ASSET(sym, path)                                                                       \
	__asm__(".pushsection .rodata\n"                                                           \
		".globl " #sym "\n"                                                                \
		".type " #sym ", @object\n"                                                        \
		".balign 16\n" #sym ":\n"                                                          \
		".incbin \"" path "\"\n"                                                           \
		".byte 0\n"                                                                        \
		".size " #sym ", . - " #sym "\n"                                                   \
		".popsection\n")

CTR_ASSET(ctr_asset_viewer_css, "tools/export/assets/viewer.css");
CTR_ASSET(ctr_asset_viewer_js, "tools/export/assets/viewer.js");
