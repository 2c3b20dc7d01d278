/* SPDX-License-Identifier: MIT */
/*
 * tests/core/test_budget.c - the cooperative budget: a fiber whose
 * blocking calls all complete (or time out) at once still lets the other
 * fibers of its worker run, once every WF__COOP_BUDGET (128) such calls.
 *
 * On one worker, a companion fiber counts how often it gets to run while
 * the fiber under test makes 1,000 calls that never have to wait: it must
 * have run at least 1000 / 128 - 1 times in between. Without the budget it
 * never runs until the loop ends.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include <weft.h>

#include "wtest_fiber.h"

#define CALLS 1000
#define MIN_TURNS (CALLS / 128 - 1)

static atomic_long turns;
static atomic_int stop;

static void *companion(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        atomic_fetch_add(&turns, 1);
        wf_yield();
    }
    return NULL;
}

/* Run body (which makes CALLS calls that never wait) next to the
 * companion on one worker; returns the companion's turns during it. */
static long turns_during(void (*body)(void))
{
    struct wf_fiber c = go(companion, NULL);
    wf_yield(); /* let it start */
    long before = atomic_load(&turns);
    body();
    long during = atomic_load(&turns) - before;
    atomic_store(&stop, 1);
    join(c);
    return during;
}

struct job {
    void (*body)(void);
    long during;
};

static void *job_main(void *arg)
{
    struct job *j = arg;
    j->during = turns_during(j->body);
    return NULL;
}

static void check_body(void (*body)(void))
{
    struct job j = {body, 0};
    run_main(1, job_main, &j);
    if (j.during < MIN_TURNS)
        WT_FAIL("the companion ran %ld times during %d calls (want >= %d)",
                j.during, CALLS, MIN_TURNS);
}

/* ---- channels ------------------------------------------------------------------ */

static void chan_sends(void)
{
    struct wf_chan *c;
    WT_CHECK_EQ(wf_chan_create(&c, sizeof(int), CALLS), 0);
    for (int i = 0; i < CALLS; i++)
        WT_CHECK_EQ(wf_chan_send(c, &i, WF_FOREVER), 0);
    wf_chan_release(c);
}

WT_CASE(chan_send_never_waits)
{
    check_body(chan_sends);
}

static void chan_timeouts(void)
{
    struct wf_chan *c;
    int v;
    WT_CHECK_EQ(wf_chan_create(&c, sizeof(int), 0), 0);
    for (int i = 0; i < CALLS; i++)
        WT_CHECK_EQ(wf_chan_recv(c, &v, wf_now()), WF_ETIMEDOUT);
    wf_chan_release(c);
}

WT_CASE(chan_timeouts_at_once)
{
    check_body(chan_timeouts);
}

static void select_ready(void)
{
    struct wf_chan *c;
    WT_CHECK_EQ(wf_chan_create(&c, sizeof(int), 1), 0);
    int v = 0;
    for (int i = 0; i < CALLS; i++) {
        struct wf_select_case cs[1] = {
            {.chan = c, .op = i % 2 ? WF_CHAN_RECV : WF_CHAN_SEND, .elem = &v}};
        WT_CHECK_EQ(wf_select(cs, 1, WF_FOREVER), 0);
    }
    wf_chan_release(c);
}

WT_CASE(select_never_waits)
{
    check_body(select_ready);
}

/* ---- other blocking calls ------------------------------------------------------ */

static void sleeps_past(void)
{
    for (int i = 0; i < CALLS; i++)
        WT_CHECK_EQ(wf_sleep_until(wf_now() - 1), 0);
}

WT_CASE(sleep_past_deadline)
{
    check_body(sleeps_past);
}

static void mutex_uncontended(void)
{
    struct wf_mutex m;
    WT_CHECK_EQ(wf_mutex_init(&m), 0);
    for (int i = 0; i < CALLS; i++) {
        WT_CHECK_EQ(wf_mutex_lock(&m, WF_FOREVER), 0);
        WT_CHECK_EQ(wf_mutex_unlock(&m), 0);
    }
}

WT_CASE(mutex_never_waits)
{
    check_body(mutex_uncontended);
}

static void futures_done(void)
{
    struct wf_promise *p;
    struct wf_future *f;
    WT_CHECK_EQ(wf_promise_create(&p, &f), 0);
    WT_CHECK_EQ(wf_promise_complete(p, NULL), 0);
    for (int i = 0; i < CALLS; i++)
        WT_CHECK_EQ(wf_future_await(f, WF_FOREVER), 0);
    wf_future_release(f);
}

WT_CASE(future_already_done)
{
    check_body(futures_done);
}

/* ---- an accept loop under a burst of connections -------------------------------- */

static int lfd;
static int clients[CALLS];

static void accepts(void)
{
    for (int i = 0; i < CALLS; i++) {
        int fd = wf_accept(lfd, NULL, NULL, WF_FOREVER);
        WT_CHECK(fd >= 0);
        WT_CHECK_EQ(wf_close(fd), 0);
    }
}

WT_CASE(accept_burst)
{
    lfd = wf_tcp_listen("127.0.0.1", 0, CALLS + 64);
    WT_CHECK(lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_port = htons((uint16_t)wf_local_port(lfd));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* The whole burst is queued before the accept loop starts. */
    for (int i = 0; i < CALLS; i++) {
        clients[i] = socket(AF_INET, SOCK_STREAM, 0);
        WT_CHECK(clients[i] >= 0);
        WT_CHECK_EQ(connect(clients[i], (struct sockaddr *)&a, sizeof a), 0);
    }
    check_body(accepts);
    for (int i = 0; i < CALLS; i++)
        close(clients[i]);
    close(lfd);
}

WT_MAIN()
