/* Out of file descriptors, the daemon refuses new clients cleanly and does
 * not spin: a daemon with a low RLIMIT_NOFILE and more clients than
 * descriptors. It keeps descriptors in reserve for its own work (state files,
 * log devices), so it serves as many clients as the rest leaves room for and
 * refuses the others with -EAGAIN; every client gets an answer, the daemon's
 * CPU time over the episode stays small (before, the acceptor looped on
 * accept() failing with EMFILE, and a loaded run could leave clients without
 * an answer once a CTR's state file took the acceptor's spare descriptor),
 * and a new client is served once others have left. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "daemon_fixture.h"
#include "hostile_client.h"
#include "raw_client.h"

TEST_MAIN_DEFINITIONS

#define NOFILE 24  /* the daemon needs ~10 for itself */
#define CLIENTS 40 /* more than it has descriptors for */
#define WINDOW_MS 1000

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    static struct daemon_fx fx = {.nofile = NOFILE};
    const char *extra[] = {"-j", "1", NULL};
    if (daemon_start(&fx, argv[1], extra) < 0)
        return 1;

    double cpu0 = process_cpu_seconds(fx.pid);
    int64_t t0 = mono_ms();
    /* 0 = no answer yet, 1 = served, 2 = refused at the door (-EAGAIN), 3 = its
     * CTR failed for want of a descriptor (the session's state file), 4 = other */
    int fds[CLIENTS], state[CLIENTS];
    static const char ctr[] = "1024 core 8";
    for (int i = 0; i < CLIENTS; i++) {
        fds[i] = daemon_connect(&fx);
        CHECK(fds[i] >= 0);
        char uuid[32];
        snprintf(uuid, sizeof uuid, "emfile-%d", i);
        /* (a refused client may find the connection closed already) */
        (void)raw_send(fds[i], DLW_CTR, uuid, 1, 1, ctr, sizeof ctr);
        state[i] = 0;
    }
    /* Collect every answer, bounded. */
    int pending = CLIENTS;
    while (pending && mono_ms() - t0 < 5000) {
        struct pollfd p[CLIENTS];
        for (int i = 0; i < CLIENTS; i++)
            p[i] = (struct pollfd){.fd = state[i] ? -1 : fds[i], .events = POLLIN};
        if (poll(p, CLIENTS, 100) <= 0)
            continue;
        for (int i = 0; i < CLIENTS; i++) {
            if (!p[i].revents)
                continue;
            struct dlw_header h;
            char buf[512];
            int r = raw_recv(fds[i], &h, buf, sizeof buf);
            if (r == 1 && h.request_type == DLW_CTR && h.error == 0)
                state[i] = 1;
            else if (r == 1 && h.request_type == 0 && h.error == -EAGAIN)
                state[i] = 2;
            else if (r == 1 && h.request_type == DLW_CTR && (h.error == -EMFILE || h.error == -ENFILE))
                state[i] = 3; /* accepted, but its CTR could not get a descriptor (state file) */
            else
                state[i] = 4;
            if (state[i] == 4)
                fprintf(stderr, "client %d: reply %d, type %u, error %d\n", i, r,
                        r == 1 ? h.request_type : 0, r == 1 ? h.error : 0);
            pending--;
        }
    }
    /* The measurement window: every client holds its connection. */
    poll(NULL, 0, WINDOW_MS);
    double cpu = process_cpu_seconds(fx.pid) - cpu0;
    double wall = (double)(mono_ms() - t0) / 1000.0;
    int served = 0, refused = 0, ctr_failed = 0;
    for (int i = 0; i < CLIENTS; i++) {
        served += state[i] == 1;
        refused += state[i] == 2;
        ctr_failed += state[i] == 3;
    }
    printf("RLIMIT_NOFILE %d, %d clients: %d served, %d refused, %d CTRs out of descriptors, "
           "%d without an answer; daemon CPU %.2f s in %.2f s\n",
           NOFILE, CLIENTS, served, refused, ctr_failed, CLIENTS - served - refused - ctr_failed,
           cpu, wall);
    /* Some clients got past the door (whether their CTR then found a
     * descriptor for its state file depends on how many connections were
     * accepted first), others were refused at it. */
    CHECK(served + ctr_failed >= 1);
    CHECK(refused >= 1);
    CHECK_EQ(served + refused + ctr_failed, CLIENTS); /* every client had an answer */
    CHECK(cpu >= 0 && cpu < 0.25 * wall);

    /* Once the served clients leave, a new client is served. */
    for (int i = 0; i < CLIENTS; i++)
        close(fds[i]);
    int ok = 0;
    int64_t end = mono_ms() + 5000;
    for (uint64_t luid = 1; !ok && mono_ms() < end; luid++) {
        int fd = daemon_connect(&fx), was_refused = 1;
        ok = fd >= 0 && ctr_or_refusal(fd, "emfile-after", luid, &was_refused) == 0 &&
             !was_refused;
        close(fd);
        if (!ok)
            poll(NULL, 0, 20); /* retry: the daemon handles the closes asynchronously */
    }
    CHECK(ok);
    CHECK_EQ(daemon_stop(&fx), 0);
    daemon_cleanup(&fx);
    return test_exit_status("test_emfile");
}
