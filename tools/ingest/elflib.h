/* SPDX-License-Identifier: MIT */
/*
 * elfutils (libdw and the libelf it brings) opened on first use rather than linked: with libz,
 * liblzma and libbz2 that is five libraries every ctrace command loaded at start-up, about 4 ms
 * on the development VM, for the symbolizer and the provenance reader, which only commits and
 * records use (docs/performance.md). The functions used are listed once here; a file that
 * includes this header after the elfutils headers calls them by their usual names, through
 * the table, once ctr_elflib_load() has succeeded.
 */
#ifndef CTR_ELFLIB_H
#define CTR_ELFLIB_H

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <libelf.h>

#include "../../common/err.h"

#define CTR_ELFLIB_FUNCS(X)                                                                        \
	X(dwarf_attr_integrate)                                                                    \
	X(dwarf_child)                                                                             \
	X(dwarf_cu_die)                                                                            \
	X(dwarf_decl_file)                                                                         \
	X(dwarf_decl_line)                                                                         \
	X(dwarf_diename)                                                                           \
	X(dwarf_dieoffset)                                                                         \
	X(dwarf_filesrc)                                                                           \
	X(dwarf_formstring)                                                                        \
	X(dwarf_formudata)                                                                         \
	X(dwarf_get_units)                                                                         \
	X(dwarf_getscopes)                                                                         \
	X(dwarf_getsrc_die)                                                                        \
	X(dwarf_getsrcfiles)                                                                       \
	X(dwarf_hasattr)                                                                           \
	X(dwarf_lineno)                                                                            \
	X(dwarf_linesrc)                                                                           \
	X(dwarf_lowpc)                                                                             \
	X(dwarf_ranges)                                                                            \
	X(dwarf_siblingof)                                                                         \
	X(dwarf_tag)                                                                               \
	X(dwfl_begin)                                                                              \
	X(dwfl_build_id_find_elf)                                                                  \
	X(dwfl_end)                                                                                \
	X(dwfl_errmsg)                                                                             \
	X(dwfl_module_addrdie)                                                                     \
	X(dwfl_module_addrinfo)                                                                    \
	X(dwfl_module_build_id)                                                                    \
	X(dwfl_module_getdwarf)                                                                    \
	X(dwfl_module_getelf)                                                                      \
	X(dwfl_module_getsym)                                                                      \
	X(dwfl_module_getsymtab)                                                                   \
	X(dwfl_module_info)                                                                        \
	X(dwfl_offline_section_address)                                                            \
	X(dwfl_report_begin)                                                                       \
	X(dwfl_report_elf)                                                                         \
	X(dwfl_report_end)                                                                         \
	X(dwfl_standard_find_debuginfo)                                                            \
	X(elf_begin)                                                                               \
	X(elf_end)                                                                                 \
	X(elf_getdata)                                                                             \
	X(elf_getphdrnum)                                                                          \
	X(elf_kind)                                                                                \
	X(elf_getshdrstrndx)                                                                       \
	X(elf_nextscn)                                                                             \
	X(elf_strptr)                                                                              \
	X(elf_version)                                                                             \
	X(gelf_getnote)                                                                            \
	X(gelf_getphdr)                                                                            \
	X(gelf_getshdr)

struct ctr_elflib {
#define X(f) __typeof__(f) *f;
	CTR_ELFLIB_FUNCS(X)
#undef X
};

/* The table; filled by ctr_elflib_load(), never changed after. */
extern struct ctr_elflib ctr_elflib;

/*
 * Loads libdw.so.1 (and through it libelf.so.1) once per process; thread-safe. 0 when every
 * function of the table is there; else CTR_ESYMBOL naming the Debian package, and the same on
 * every later call. @e may be NULL.
 */
int ctr_elflib_load(struct ctr_err *e);

#ifndef CTR_ELFLIB_IMPL
#define dwarf_attr_integrate ctr_elflib.dwarf_attr_integrate
#define dwarf_child ctr_elflib.dwarf_child
#define dwarf_cu_die ctr_elflib.dwarf_cu_die
#define dwarf_decl_file ctr_elflib.dwarf_decl_file
#define dwarf_decl_line ctr_elflib.dwarf_decl_line
#define dwarf_diename ctr_elflib.dwarf_diename
#define dwarf_dieoffset ctr_elflib.dwarf_dieoffset
#define dwarf_filesrc ctr_elflib.dwarf_filesrc
#define dwarf_formstring ctr_elflib.dwarf_formstring
#define dwarf_formudata ctr_elflib.dwarf_formudata
#define dwarf_get_units ctr_elflib.dwarf_get_units
#define dwarf_getscopes ctr_elflib.dwarf_getscopes
#define dwarf_getsrc_die ctr_elflib.dwarf_getsrc_die
#define dwarf_getsrcfiles ctr_elflib.dwarf_getsrcfiles
#define dwarf_hasattr ctr_elflib.dwarf_hasattr
#define dwarf_lineno ctr_elflib.dwarf_lineno
#define dwarf_linesrc ctr_elflib.dwarf_linesrc
#define dwarf_lowpc ctr_elflib.dwarf_lowpc
#define dwarf_ranges ctr_elflib.dwarf_ranges
#define dwarf_siblingof ctr_elflib.dwarf_siblingof
#define dwarf_tag ctr_elflib.dwarf_tag
#define dwfl_begin ctr_elflib.dwfl_begin
#define dwfl_build_id_find_elf ctr_elflib.dwfl_build_id_find_elf
#define dwfl_end ctr_elflib.dwfl_end
#define dwfl_errmsg ctr_elflib.dwfl_errmsg
#define dwfl_module_addrdie ctr_elflib.dwfl_module_addrdie
#define dwfl_module_addrinfo ctr_elflib.dwfl_module_addrinfo
#define dwfl_module_build_id ctr_elflib.dwfl_module_build_id
#define dwfl_module_getdwarf ctr_elflib.dwfl_module_getdwarf
#define dwfl_module_getelf ctr_elflib.dwfl_module_getelf
#define dwfl_module_getsym ctr_elflib.dwfl_module_getsym
#define dwfl_module_getsymtab ctr_elflib.dwfl_module_getsymtab
#define dwfl_module_info ctr_elflib.dwfl_module_info
#define dwfl_offline_section_address ctr_elflib.dwfl_offline_section_address
#define dwfl_report_begin ctr_elflib.dwfl_report_begin
#define dwfl_report_elf ctr_elflib.dwfl_report_elf
#define dwfl_report_end ctr_elflib.dwfl_report_end
#define dwfl_standard_find_debuginfo ctr_elflib.dwfl_standard_find_debuginfo
#define elf_begin ctr_elflib.elf_begin
#define elf_end ctr_elflib.elf_end
#define elf_getdata ctr_elflib.elf_getdata
#define elf_getphdrnum ctr_elflib.elf_getphdrnum
#define elf_kind ctr_elflib.elf_kind
#define elf_getshdrstrndx ctr_elflib.elf_getshdrstrndx
#define elf_nextscn ctr_elflib.elf_nextscn
#define elf_strptr ctr_elflib.elf_strptr
#define elf_version ctr_elflib.elf_version
#define gelf_getnote ctr_elflib.gelf_getnote
#define gelf_getphdr ctr_elflib.gelf_getphdr
#define gelf_getshdr ctr_elflib.gelf_getshdr
#endif

#endif
