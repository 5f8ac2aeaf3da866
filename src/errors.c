/* dl_strerror() and the per-thread message of the last failure. */
#define _POSIX_C_SOURCE 200809L /* the XSI strerror_r that returns int */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log_internal.h"

static _Thread_local char last_error[256];

const char *dl_strerror(int err)
{
    if (err == 0)
        return "Success";
    if (err > 0)
        return "Not an error code (positive value)";
    /* strerror() is not thread-safe: use a per-thread buffer. */
    static _Thread_local char buf[128];
    if (strerror_r(-err, buf, sizeof buf) != 0)
        snprintf(buf, sizeof buf, "Unknown error %d", -err);
    return buf;
}

const char *dl_last_error(void)
{
    return last_error;
}

void dl__clear_error(void)
{
    last_error[0] = '\0';
}

static void vset_error(const char *fmt, va_list ap)
{
    vsnprintf(last_error, sizeof last_error, fmt, ap);
}

void dl__set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset_error(fmt, ap);
    va_end(ap);
}

void dl_log_errorf(dl_log *log, const char *fmt, ...)
{
    (void)log; /* the message belongs to the calling thread's last call */
    va_list ap;
    va_start(ap, fmt);
    vset_error(fmt, ap);
    va_end(ap);
}
