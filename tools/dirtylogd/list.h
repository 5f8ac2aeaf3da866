/* ADMIN_LIST (docs/protocol.md, "ADMIN_LIST"): what the daemon hosts, page
 * by page, for `dirtylogd --list`. The request layer's handler (request.c
 * calls it); the encoding is shared with the admin client (admin.c). */
#ifndef DLD_LIST_H
#define DLD_LIST_H

#include <stdint.h>

#include "request.h"

#define DLD_LIST_VERSION 1u
#define DLD_LIST_HEAD 12u         /* version, records, cursor length */
#define DLD_LIST_LOG_FIXED 72u    /* a log record before its strings */
#define DLD_LIST_SESSION 48u      /* a session record */
#define DLD_LIST_CURSOR_FIXED 14u /* a cursor before its uuid */
#define DLD_LIST_TABLE_MAX 2048u  /* table bytes in a log record (longer: cut, flagged) */
#define DLD_LIST_REASON_MAX 1024u /* refusal bytes in a log record */

enum { DLD_LIST_KIND_LOG = 1, DLD_LIST_KIND_SESSION = 2 };

/* Flags of a log record. */
enum {
    DLD_LOGF_REFUSED = 1u << 0,   /* not hosted: its state could not be restored */
    DLD_LOGF_CREATING = 1u << 1,  /* a CTR is creating it right now */
    DLD_LOGF_GRACE = 1u << 2,     /* after a restart: clears held until clients return */
    DLD_LOGF_RELEASED = 1u << 3,  /* an operator released clients of it */
    DLD_LOGF_CONTINUED = 1u << 4, /* repeated on a later page: no strings, more sessions */
    DLD_LOGF_TABLE_CUT = 1u << 5,
    DLD_LOGF_REASON_CUT = 1u << 6,
    DLD_LOGF_NO_COUNTS = 1u << 7, /* no log (refused, creating): the counts are 0 */
};

/* Flags of a session record. */
enum {
    DLD_SESF_ATTACHED = 1u << 0, /* on a connection now */
    DLD_SESF_AWAITED = 1u << 1,  /* known before a restart, not back yet */
};

/* Flags of a cursor. */
enum { DLD_CURSOR_INSIDE = 1u << 0 };

/* The ADMIN_LIST handler: one page of what the peer may see. */
int dld__list(struct dld_server *srv, const struct dld_request *rq, struct dld_reply *rp);

#endif
