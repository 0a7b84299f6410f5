/* SPDX-License-Identifier: MIT */
/*
 * Structured errors shared by every ctrace library and tool. A library call returns 0 or a
 * negative CTR_E* code and, when given one, fills a struct ctr_err with the code, the errno
 * that caused it, a one-line message and context (path, run id, offset). Only a tool's main()
 * prints an error and picks the exit status.
 */
#ifndef CTR_ERR_H
#define CTR_ERR_H

#include <stdarg.h>
#include <stddef.h>

/* Stable codes; the names printed to users are "CTRACE_E_<NAME>" (see docs/errors.md). */
enum ctr_code {
	CTR_OK = 0,
	CTR_EUSAGE = -1,    /* bad command line or option value */
	CTR_EIO = -2,	    /* a read, write, open or mmap failed */
	CTR_EFORMAT = -3,   /* input is not a valid ctrace file / record */
	CTR_EVERSION = -4,  /* input is from an unsupported (newer) format or schema version */
	CTR_ESYMBOL = -5,   /* symbolization failed (missing binary, build-id mismatch) */
	CTR_ESTORE = -6,    /* the trace store failed (corrupt, read-only, busy) */
	CTR_ENOTFOUND = -7, /* a run, function or file that was asked for does not exist */
	CTR_ENOEVENTS = -8, /* a run recorded no events */
	CTR_ENOMEM = -9,    /* an allocation failed */
	CTR_EEXIST = -10,   /* the object already exists (e.g. run committed twice) */
	CTR_EAUTH = -12,    /* ctrace serve: no/wrong token, or a foreign Host */
	CTR_EPERM = -13,    /* ctrace attach: ptrace refused (another user's process, Yama) */
	CTR_ETARGET = -14,  /* ctrace attach: a process that cannot be traced (zombie, static,
			     * not built with -finstrument-functions) */
	CTR_EINTERNAL = -11 /* a bug in ctrace */
};

#define CTR_ERR_MSG_MAX 512
#define CTR_ERR_CTX_MAX 256

struct ctr_err {
	int code;		    /* enum ctr_code, 0 when no error */
	int sys_errno;		    /* errno at the failure, 0 if none */
	char msg[CTR_ERR_MSG_MAX];  /* lowercase, no full stop: "cannot open 'x': No such file" */
	char path[CTR_ERR_CTX_MAX]; /* context: file concerned, "" if none */
	char run_id[64];	    /* context: run concerned, "" if none */
	long long offset;	    /* context: byte offset in path, -1 if none */
};

/* Clears @e (may be NULL). */
void ctr_err_clear(struct ctr_err *e);

/*
 * Records an error in @e (may be NULL: then only the code is returned) and returns @code, so
 * callers can write `return ctr_err_set(e, CTR_EIO, errno, "cannot open '%s': %s", p,
 * strerror(errno));`. Keeps the first error: a second call on an @e that already holds one only
 * returns @code.
 */
int ctr_err_set(struct ctr_err *e, int code, int sys_errno, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Sets the path / run id / offset context of @e (may be NULL). */
void ctr_err_ctx(struct ctr_err *e, const char *path, const char *run_id, long long offset);

/* "CTRACE_E_IO" for CTR_EIO; "CTRACE_E_UNKNOWN" for anything else. Static storage. */
const char *ctr_err_name(int code);

/* "io", "format", ...: the kind of the code, for the JSON error trailer. Static storage. */
const char *ctr_err_kind(int code);

#endif
