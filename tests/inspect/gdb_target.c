/* SPDX-License-Identifier: MIT */
/*
 * A program for gdb_test.sh: two named fibers park on a channel nobody
 * sends on, then main calls inspect_gdb_stop(), where gdb breaks, and
 * afterwards releases them (closing the channel) and ends cleanly.
 */
#include <stdatomic.h>
#include <string.h>

#include <weft.h>

#include "stack_shown.h"

void *gdb_receiver(void *arg);
void inspect_gdb_stop(void);

__attribute__((noinline)) void *gdb_receiver(void *arg)
{
    int v;
    wf_chan_recv(arg, &v, WF_FOREVER);
    return NULL;
}

static atomic_int stopped;

__attribute__((noinline)) void inspect_gdb_stop(void)
{
    atomic_store(&stopped, 1); /* gdb breaks here */
}

static void *main_fiber(void *arg)
{
    (void)arg;
    struct wf_chan *ch;
    if (wf_chan_create(&ch, sizeof(int), 0) != 0)
        return (void *)1;
    struct wf_fiber f[2];
    const char *names[2] = {"gdb-recv-a", "gdb-recv-b"};
    for (int i = 0; i < 2; i++) {
        struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
        o.name = names[i];
        if (wf_go_opts(&f[i], &o, gdb_receiver, ch) != 0)
            return (void *)1;
    }
    for (;;) { /* until both are parked */
        struct wf_fiber_info in[8];
        int n = wf_fibers_list(in, 8, NULL), parked = 0;
        for (int i = 0; i < n; i++)
            parked += in[i].state == WF_FIBER_PARKED &&
                      strncmp(in[i].name, "gdb-recv", 8) == 0;
        if (parked == 2 && wt_stack_shown(names[0]) && wt_stack_shown(names[1]))
            break;
        wf_sleep(WF_MSEC);
    }
    inspect_gdb_stop();
    wf_chan_close(ch);
    for (int i = 0; i < 2; i++)
        wf_join(f[i], NULL, WF_FOREVER);
    wf_chan_release(ch);
    return NULL;
}

int main(void)
{
    struct wf_config c;
    memset(&c, 0, sizeof c);
    c.workers = 2;
    void *res = (void *)1;
    return wf_run(&c, main_fiber, NULL, &res) == 0 && res == NULL ? 0 : 1;
}
