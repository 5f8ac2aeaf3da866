/* What the request layer's files share (never the transports): the log
 * table and log creation (server.c), sessions and the shared-log
 * bookkeeping (session.c), restarts and grace (restart.c). request.c
 * dispatches to them. Locking: srv->lock guards the log table, L->lock
 * one log's sessions, marks and recoveries (always srv->lock first). */
#ifndef DLD_SERVER_INTERNAL_H
#define DLD_SERVER_INTERNAL_H

#include "request.h"
#include "server.h"

#define SAY(srv, level, ...)                      \
    do {                                          \
        if ((srv)->logf)                          \
            (srv)->logf((level), __VA_ARGS__);    \
    } while (0)

/* The request layer's short name for dld_reply_fail (request.h). */
#define fail dld_reply_fail

#define DLD_CTR_MAX DLD_STATE_MAX_CTR /* largest constructor string */

/* What marks cost the daemon (charged per log and per owner uid, checked
 * before a request is applied). A hosted core log keeps a 4 KiB bitmap leaf
 * per 32 Ki-region group a mark ever touched, plus interior nodes on its
 * path (576 bytes each, a few levels): 8 KiB per group covers both. Each
 * session mark is an entry in the session's and the log's hash maps
 * (17 bytes a slot, at most half full, in two maps): 96 bytes. */
#define GROUP_SHIFT 15
#define GROUP_COST 8192u
#define ENTRY_COST 96u

/* ---- the log table and log creation (server.c) ---- */

/* A new table entry (not yet published), or NULL. */
struct dld_log *dld__new_log(const char *uuid);
void dld__publish_log(struct dld_server *srv, struct dld_log *L);
void dld__destroy_log(struct dld_log *L);
/* Find a log and pin it (busy) so it outlives the request; NULL if none. */
struct dld_log *dld__acquire_log(struct dld_server *srv, const char *uuid);
/* Unpin; the last user of a log without sessions destroys it. */
void dld__release_log(struct dld_server *srv, struct dld_log *L);
/* Create the log a constructor string names (no lock held: slow for a large
 * disk log). 0, or -errno with the reason in rp. */
int dld__create_hosted_log(const struct dld_server *srv, const char *uuid, const char *ctr,
                           dl_log **log, struct dld_reply *rp);
/* The log a CTR names, created if new (owned by the peer's uid): returned
 * pinned in *out. Takes *ctr (malloc'ed) when it creates the log. */
int dld__open_log(struct dld_server *srv, const struct dld_peer *peer, const char *uuid,
                  char **ctr, struct dld_log **out, struct dld_reply *rp);

/* ---- sessions and the shared-log bookkeeping (session.c; under L->lock) ---- */

struct dld_session *dld__find_session(struct dld_log *L, uint64_t luid);
/* A session with no marks (not linked anywhere), or NULL. */
struct dld_session *dld__new_session(uint64_t luid, uint32_t uid);
void dld__free_session(struct dld_session *s);
/* Attach the peer's connection to its session (luid) of L, creating and
 * persisting the session if new. */
int dld__session_attach(struct dld_server *srv, struct dld_log *L, const struct dld_peer *peer,
                        uint64_t luid, struct dld_reply *rp);
/* Forget a session: its marks stop counting (the regions stay dirty in the
 * log until a clear) and its recoveries are handed back. */
void dld__drop_session(struct dld_server *srv, struct dld_log *L, struct dld_session *s);
/* Charge bytes to L and its owner: 0, or -EDQUOT/-ENOMEM with a message. */
int dld__charge(struct dld_server *srv, struct dld_log *L, uint64_t bytes, struct dld_reply *rp);
/* Give back bytes an earlier charge took from L and its owner. */
void dld__uncharge(struct dld_server *srv, struct dld_log *L, uint64_t bytes);
/* Charge a MARK batch (p, len: checked regions) before applying it; nothing
 * changes on failure. */
int dld__charge_marks(struct dld_server *srv, struct dld_log *L, struct dld_session *s,
                      const uint8_t *p, size_t len, struct dld_reply *rp);
/* Make room so that marking n regions cannot fail half-way. */
int dld__reserve_marks(struct dld_log *L, struct dld_session *s, size_t n);
int dld__session_mark(struct dld_log *L, struct dld_session *s, uint64_t r);
/* A region is cleared in the log only when no client still has it marked. */
int dld__session_clear(struct dld_server *srv, struct dld_log *L, struct dld_session *s,
                       uint64_t r);

/* ---- restarts: grace and held clears (restart.c; under L->lock) ---- */

/* A session listed before a restart finished reattaching (its RESUME or
 * FLUSH after CTR), or was dropped: the last one ends the grace. */
void dld__session_back(struct dld_server *srv, struct dld_log *L, struct dld_session *s);
/* Clear a region in the log, unless a grace period holds the clear. */
int dld__log_clear(struct dld_log *L, uint64_t r);
/* Room (and quota) for the clears of a request that a grace may hold. */
int dld__reserve_clears(struct dld_server *srv, struct dld_log *L, const uint8_t *p, size_t len,
                        struct dld_reply *rp);

#endif
