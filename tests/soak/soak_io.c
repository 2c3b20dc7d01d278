/* SPDX-License-Identifier: MIT */
/*
 * tests/soak/soak_io.c - the soak's I/O workloads: loopback sockets with random
 * disconnects, temporary files (weft-soak.c says what each checks).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "soak.h"

/* ---- sockets on loopback ------------------------------------------------------ */

enum { SK_CLIENTS = 12, SK_EXCHANGES = 6, SK_MAX_MSG = 32 * 1024 };

/* Every socket wait but the one meant to time out: long enough that only
 * a lost wake-up (or a peer that never answers: a bug) reaches it, even
 * under a sanitizer on a loaded machine. */
#define SK_WAIT (60 * WF_SEC)

struct sk_round {
    int lfd, port;
    atomic_bool stop; /* every client has finished */
    atomic_uint next_id;
    atomic_long connected, accepted, handled, disconnects, exchanges, cancelled;
};

struct sk_conn {
    struct sk_round *r;
    int fd;
};

/* Echo length-prefixed messages until the peer goes away: end of stream
 * or a reset, at a message's start or in its middle. */
static void *sk_handler(void *arg)
{
    struct sk_conn *c = arg;
    unsigned char *buf = malloc(SK_MAX_MSG);
    CHECK(buf != NULL);
    while (buf) {
        uint32_t len;
        ssize_t n = wf_read(c->fd, &len, sizeof len, wf_deadline_in(SK_WAIT));
        if (n != (ssize_t)sizeof len)
            break; /* 0: the client closed; < 0: reset; short: gave up */
        if (len > SK_MAX_MSG) {
            violation(__FILE__, __LINE__, "message length %u", len);
            break;
        }
        size_t got = 0;
        while (got < len) {
            n = wf_read(c->fd, buf + got, len - got, wf_deadline_in(SK_WAIT));
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        if (got < len)
            break;
        if (wf_write_all(c->fd, buf, len, NULL, wf_deadline_in(SK_WAIT)) < 0)
            break;
    }
    free(buf);
    MUST(wf_close(c->fd));
    atomic_fetch_add(&c->r->handled, 1);
    free(c);
    return NULL;
}

static void sk_spawn_handler(struct sk_round *r, struct wf_scope *hs, int fd)
{
    struct sk_conn *c = malloc(sizeof *c);
    CHECK(c != NULL);
    atomic_fetch_add(&r->accepted, 1);
    if (!c) {
        wf_close(fd);
        atomic_fetch_add(&r->handled, 1);
        return;
    }
    c->r = r;
    c->fd = fd;
    spawn_in(hs, sk_handler, c);
}

/* Accept (with short deadlines) until told to stop, then take what is
 * still queued without waiting, and wait for the handlers: they end by
 * themselves, every client having closed its side. */
static void *sk_server(void *arg)
{
    struct sk_round *r = arg;
    struct wf_scope *hs;
    MUST(wf_scope_open(&hs));
    int fd;
    while (!atomic_load(&r->stop)) {
        fd = wf_accept(r->lfd, NULL, NULL, wf_deadline_in(2 * WF_MSEC));
        if (fd >= 0)
            sk_spawn_handler(r, hs, fd);
        else
            CHECK_EQ(fd, WF_ETIMEDOUT);
    }
    while ((fd = wf_accept(r->lfd, NULL, NULL, 0)) >= 0)
        sk_spawn_handler(r, hs, fd);
    CHECK_EQ(fd, WF_ETIMEDOUT);
    scope_finish(hs);
    return NULL;
}

/* Blocks in a read nobody answers, until cancelled. */
static void *sk_reader(void *arg)
{
    struct sk_conn *c = arg;
    char b;
    ssize_t n = wf_read(c->fd, &b, 1, WF_FOREVER);
    CHECK_EQ(n, WF_ECANCELED);
    if (n == WF_ECANCELED)
        atomic_fetch_add(&c->r->cancelled, 1);
    return NULL;
}

/* Exchanges up to SK_EXCHANGES echoed messages; about one client in three
 * leaves early: in the middle of a message, with a reset, after a read
 * that timed out, or after cancelling a fiber blocked in a read. */
static void *sk_client(void *arg)
{
    struct sk_round *r = arg;
    uint64_t s = seed_for(7, atomic_fetch_add(&r->next_id, 1));
    int fd = wf_tcp_connect("127.0.0.1", r->port, wf_deadline_in(SK_WAIT));
    MUST(fd);
    if (fd < 0)
        return NULL;
    atomic_fetch_add(&r->connected, 1);
    unsigned char *out = malloc(SK_MAX_MSG), *in = malloc(SK_MAX_MSG);
    CHECK(out && in);
    for (int x = 0; out && in && x < SK_EXCHANGES; x++) {
        uint32_t len = 1 + (uint32_t)(rnd(&s) % SK_MAX_MSG);
        for (uint32_t i = 0; i < len; i++)
            out[i] = (unsigned char)rnd(&s);
        unsigned how = (unsigned)(rnd(&s) % 24);
        if (how == 0) { /* disconnect in the middle of a message */
            MUST(wf_write_all(fd, &len, sizeof len, NULL,
                              wf_deadline_in(SK_WAIT)));
            MUST(wf_write_all(fd, out, len / 2, NULL, wf_deadline_in(SK_WAIT)));
            atomic_fetch_add(&r->disconnects, 1);
            break;
        }
        if (how == 1) { /* reset the connection (SO_LINGER 0) */
            struct linger lg = {1, 0};
            CHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
            atomic_fetch_add(&r->disconnects, 1);
            break;
        }
        if (how == 2) { /* wait for an echo that cannot come: a deadline */
            MUST(wf_write_all(fd, &len, sizeof len, NULL,
                              wf_deadline_in(SK_WAIT)));
            MUST(wf_write_all(fd, out, len - 1, NULL, wf_deadline_in(SK_WAIT)));
            CHECK_EQ(wf_read(fd, in, 1, wf_deadline_in(200 * WF_USEC)),
                     WF_ETIMEDOUT);
            atomic_fetch_add(&r->disconnects, 1);
            break;
        }
        if (how == 3) { /* cancel a fiber blocked in a read */
            struct sk_conn c = {r, fd};
            struct wf_fiber rd;
            int rc = wf_go(&rd, sk_reader, &c);
            MUST(rc);
            if (rc == 0) {
                atomic_fetch_add(&tally.fibers, 1);
                wf_sleep((int64_t)(rnd(&s) % 500) * WF_USEC);
                MUST(wf_cancel(rd));
                MUST(wf_join(rd, NULL, WF_FOREVER));
            }
            atomic_fetch_add(&r->disconnects, 1);
            break;
        }
        MUST(wf_write_all(fd, &len, sizeof len, NULL, wf_deadline_in(SK_WAIT)));
        MUST(wf_write_all(fd, out, len, NULL, wf_deadline_in(SK_WAIT)));
        size_t got = 0;
        while (got < len) {
            ssize_t n =
                wf_read(fd, in + got, len - got, wf_deadline_in(SK_WAIT));
            MUST(n);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        CHECK_EQ(got, len);
        CHECK(memcmp(in, out, len) == 0);
        atomic_fetch_add(&r->exchanges, 1);
    }
    free(out);
    free(in);
    MUST(wf_close(fd));
    return NULL;
}

void *w_sockets(void *unused)
{
    struct sk_round r = {0};
    r.lfd = wf_tcp_listen("127.0.0.1", 0, 128);
    MUST(r.lfd);
    if (r.lfd < 0)
        return unused;
    r.port = wf_local_port(r.lfd);
    MUST(r.port);
    struct wf_fiber server;
    MUST(wf_go(&server, sk_server, &r));
    atomic_fetch_add(&tally.fibers, 1);
    struct wf_scope *cs;
    MUST(wf_scope_open(&cs));
    for (int i = 0; i < SK_CLIENTS; i++)
        spawn_in(cs, sk_client, &r);
    scope_finish(cs);
    atomic_store(&r.stop, true);
    MUST(wf_join(server, NULL, WF_FOREVER));
    MUST(wf_close(r.lfd));
    CHECK_EQ(atomic_load(&r.connected), SK_CLIENTS);
    CHECK_EQ(atomic_load(&r.accepted), atomic_load(&r.connected));
    CHECK_EQ(atomic_load(&r.handled), atomic_load(&r.accepted));
    atomic_fetch_add(&tally.conns, atomic_load(&r.accepted));
    atomic_fetch_add(&tally.disconnects, atomic_load(&r.disconnects));
    atomic_fetch_add(&tally.exchanges, atomic_load(&r.exchanges));
    atomic_fetch_add(&tally.cancelled, atomic_load(&r.cancelled));
    return unused;
}

/* ---- files ------------------------------------------------------------------- */

enum { FI_FILES = 4, FI_BLOCKS = 32, FI_BLOCK = 4096 };

static void fi_fill(unsigned char *b, uint64_t tag)
{
    uint64_t s = tag;
    for (size_t i = 0; i < FI_BLOCK; i += 8) {
        uint64_t v = rnd(&s);
        memcpy(b + i, &v, 8);
    }
}

static void *fi_fiber(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    uint64_t s = seed_for(8, id);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/r%d-f%u", g_dir, g_round, id);
    int fd = wf_file_open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    MUST(fd);
    if (fd < 0)
        return NULL;
    int order[FI_BLOCKS];
    for (int i = 0; i < FI_BLOCKS; i++)
        order[i] = i;
    for (int i = FI_BLOCKS - 1; i > 0; i--) { /* shuffled block order */
        int j = (int)(rnd(&s) % (uint64_t)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    uint64_t tag0 = rnd(&s);
    unsigned char *b = malloc(FI_BLOCK), *c = malloc(FI_BLOCK);
    CHECK(b && c);
    for (int i = 0; b && c && i < FI_BLOCKS; i++) {
        int k = order[i];
        fi_fill(b, tag0 + (uint64_t)k);
        CHECK_EQ(wf_pwrite(fd, b, FI_BLOCK, (off_t)k * FI_BLOCK), FI_BLOCK);
    }
    MUST(wf_fsync(fd));
    for (int k = 0; b && c && k < FI_BLOCKS; k++) {
        fi_fill(b, tag0 + (uint64_t)k);
        CHECK_EQ(wf_pread(fd, c, FI_BLOCK, (off_t)k * FI_BLOCK), FI_BLOCK);
        CHECK(memcmp(b, c, FI_BLOCK) == 0);
    }
    if (c)
        CHECK_EQ(wf_pread(fd, c, FI_BLOCK, (off_t)FI_BLOCKS * FI_BLOCK), 0);
    free(b);
    free(c);
    MUST(wf_close(fd));
    CHECK_EQ(unlink(path), 0);
    atomic_fetch_add(&tally.file_bytes, 2L * FI_BLOCKS * FI_BLOCK);
    return NULL;
}

void *w_files(void *unused)
{
    run_fibers(fi_fiber, FI_FILES);
    return unused;
}
