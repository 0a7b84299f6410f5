/* SPDX-License-Identifier: MIT */
/*
 * Private helpers of the report views (report-util.c), shared by report.c and the view files
 * beside it.
 */
#ifndef CTR_VIEW_REPORT_INT_H
#define CTR_VIEW_REPORT_INT_H

#include <stdio.h>

#include "../../common/err.h"
#include "../../store/store.h"

/* 0, or CTR_EIO (filling @e) when writing to @out failed. */
int ctr_report_status(FILE *out, struct ctr_err *e);

/* "SIGSEGV" for @sig (or "signal N" for one without a name), written into @buf of @n bytes. */
const char *ctr_report_sig_name(int sig, char *buf, size_t n);

/* The most threads of @run alive at one time (from their start and end), 0 when out of memory. */
size_t ctr_report_max_alive(const struct ctr_run *run);

#endif
