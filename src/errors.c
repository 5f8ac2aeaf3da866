/* dl_strerror() and the per-thread message of the last failure. */
#define _POSIX_C_SOURCE 200809L /* the XSI strerror_r that returns int */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log_internal.h"

static _Thread_local char last_error[256];

/* Messages for the codes this library returns, as constant strings so two
 * calls in one expression never share a buffer. */
static const struct {
    int code;
    const char *text;
} messages[] = {
    {EINVAL, "Invalid argument"},
    {ERANGE, "Region out of range"},
    {ENOMEM, "Out of memory"},
    {ENOENT, "No such log type, file or log"},
    {EEXIST, "Already exists"},
    {EBUSY, "Busy (still in use)"},
    {EIO, "Input/output error"},
    {ENOSPC, "No space left (buffer or device too small)"},
    {EWOULDBLOCK, "Would block"},
    {E2BIG, "Too many arguments or too large"},
    {ETIMEDOUT, "Timed out"},
    {ECONNREFUSED, "Connection refused"},
    {ENOTCONN, "Not connected"},
    {EPROTO, "Protocol error"},
    {EBADMSG, "Bad message or corrupt log"},
    {EACCES, "Permission denied"},
    {EPERM, "Operation not permitted"},
    {ENOTSUP, "Not supported"},
    {EROFS, "Read-only"},
    {ESTALE, "Log failed earlier (sticky failure)"},
};

const char *dl_strerror(int err)
{
    if (err == 0)
        return "Success";
    if (err > 0)
        return "Not an error code (positive value)";
    for (size_t i = 0; i < sizeof messages / sizeof messages[0]; i++)
        if (messages[i].code == -err)
            return messages[i].text;
    /* Anything else: the system's text, in a per-thread buffer. */
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

/* The one way the library records a message (log_internal.h). */
void dl__set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset_error(fmt, ap);
    va_end(ap);
}

/* The same for types built outside the library (they cannot see dl__ names). */
void dl_log_errorf(dl_log *log, const char *fmt, ...)
{
    (void)log; /* the message belongs to the calling thread's last call */
    va_list ap;
    va_start(ap, fmt);
    vset_error(fmt, ap);
    va_end(ap);
}
