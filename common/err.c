/* SPDX-License-Identifier: MIT */
/* Structured error records: see err.h. */
#include "err.h"

#include <stdio.h>
#include <string.h>

void ctr_err_clear(struct ctr_err *e)
{
	if (!e)
		return;
	memset(e, 0, sizeof(*e));
	e->offset = -1;
}

int ctr_err_set(struct ctr_err *e, int code, int sys_errno, const char *fmt, ...)
{
	va_list ap;

	if (!e || e->code)
		return code;
	e->code = code;
	e->sys_errno = sys_errno;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

void ctr_err_ctx(struct ctr_err *e, const char *path, const char *run_id, long long offset)
{
	if (!e)
		return;
	if (path)
		snprintf(e->path, sizeof(e->path), "%s", path);
	if (run_id)
		snprintf(e->run_id, sizeof(e->run_id), "%s", run_id);
	if (offset >= 0)
		e->offset = offset;
}

static const struct {
	int code;
	const char *name;
	const char *kind;
} codes[] = {
    {CTR_OK, "CTRACE_OK", "ok"},
    {CTR_EUSAGE, "CTRACE_E_USAGE", "usage"},
    {CTR_EIO, "CTRACE_E_IO", "io"},
    {CTR_EFORMAT, "CTRACE_E_FORMAT", "format"},
    {CTR_EVERSION, "CTRACE_E_VERSION", "version"},
    {CTR_ESYMBOL, "CTRACE_E_SYMBOL", "symbol"},
    {CTR_ESTORE, "CTRACE_E_STORE", "store"},
    {CTR_ENOTFOUND, "CTRACE_E_NOT_FOUND", "not_found"},
    {CTR_ENOEVENTS, "CTRACE_E_NO_EVENTS", "no_events"},
    {CTR_ENOMEM, "CTRACE_E_NOMEM", "nomem"},
    {CTR_EEXIST, "CTRACE_E_EXISTS", "exists"},
    {CTR_EINTERNAL, "CTRACE_E_INTERNAL", "internal"},
    {CTR_EAUTH, "CTRACE_E_AUTH", "auth"},
    {CTR_EPERM, "CTRACE_E_PERM", "perm"},
    {CTR_ETARGET, "CTRACE_E_TARGET", "target"},
};

const char *ctr_err_name(int code)
{
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].code == code)
			return codes[i].name;
	return "CTRACE_E_UNKNOWN";
}

const char *ctr_err_kind(int code)
{
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].code == code)
			return codes[i].kind;
	return "unknown";
}
