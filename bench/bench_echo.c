/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_echo.c - weft-bench's `echo` group: a TCP echo server on
 * fibers (one fiber a connection, wf_read then wf_write_all) on loopback,
 * driven by the load generator of echo_load.h on a plain thread of the
 * same process. bench/peers/echo_client.c drives the libuv and Go echo
 * servers with the same generator.
 *
 *   echo_rtt_us:  one connection, one 64-byte message in flight, mean
 *                 round trip in microseconds over 2 s;
 *   echo_krps:    1,000 connections, one message in flight on each,
 *                 thousands of round trips a second over 3 s.
 *
 * The worker count follows WEFT_WORKERS (default: one per CPU). The
 * client's thread shares the CPUs with the workers, as the peers' client
 * shares them with their servers.
 */
#include <pthread.h>
#include <stdio.h>

#include "weft.h"
#include "weft/io.h"
#include "bench_echo.h"
#include "echo_load.h"

static void *echo_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    for (;;) {
        ssize_t n = wf_read(fd, buf, sizeof buf, WF_FOREVER);
        if (n <= 0)
            break;
        if (wf_write_all(fd, buf, (size_t)n, NULL, WF_FOREVER) < 0)
            break;
    }
    wf_close(fd);
    return NULL;
}

static void *echo_accept(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int fd = wf_accept(lfd, NULL, NULL, WF_FOREVER);
        if (fd == WF_EBADF || fd == WF_ECANCELED || fd == WF_ESHUTDOWN)
            break;
        if (fd < 0)
            continue; /* EMFILE and friends: the connection stays queued */
        struct wf_fiber f;
        if (wf_go(&f, echo_conn, (void *)(intptr_t)fd) < 0) {
            wf_close(fd);
            continue;
        }
        wf_detach(f);
    }
    return NULL;
}

struct client {
    int port, conns;
    double seconds;
    struct echo_result res;
    int rc;
    struct wf_event done;
};

static void *client_thread(void *arg)
{
    struct client *c = arg;
    c->rc = echo_load(c->port, c->conns, c->seconds, &c->res);
    wf_event_set(&c->done);
    return NULL;
}

/* Run one load on a plain thread while this fiber waits. */
static int drive(int port, int conns, double seconds, struct echo_result *out)
{
    struct client c = {.port = port, .conns = conns, .seconds = seconds};
    wf_event_init(&c.done);
    pthread_t t;
    if (pthread_create(&t, NULL, client_thread, &c) != 0)
        return -1;
    wf_event_wait(&c.done, WF_FOREVER);
    pthread_join(t, NULL); /* it has set the event: about to return */
    wf_event_destroy(&c.done);
    if (c.rc < 0) {
        fprintf(stderr, "weft-bench: echo: load with %d connections: %s\n",
                conns, wf_strerror(c.rc));
        return -1;
    }
    *out = c.res;
    return 0;
}

static void *echo_main(void *arg)
{
    (void)arg;
    int lfd = wf_tcp_listen("127.0.0.1", 0, 4096);
    if (lfd < 0) {
        fprintf(stderr, "weft-bench: echo: listen: %s\n", wf_strerror(lfd));
        return (void *)1;
    }
    int port = wf_local_port(lfd);
    struct wf_fiber acc;
    if (wf_go(&acc, echo_accept, (void *)(intptr_t)lfd) < 0)
        return (void *)1;
    struct echo_result one, many;
    int bad = drive(port, 1, 2.0, &one) || drive(port, 1000, 3.0, &many);
    wf_cancel(acc);
    wf_join(acc, NULL, WF_FOREVER);
    wf_close(lfd);
    if (bad)
        return (void *)1;
    printf("echo_rtt_us %.2f us\n", one.rtt_us);
    printf("echo_krps %.2f krps\n", many.krps);
    fflush(stdout);
    return NULL;
}

int group_echo(void)
{
    echo_raise_nofile();
    void *res = NULL;
    int err = wf_run(NULL, echo_main, NULL, &res);
    return err < 0 || res != NULL;
}
