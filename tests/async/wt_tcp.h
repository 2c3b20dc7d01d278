/* SPDX-License-Identifier: MIT */
/*
 * tests/async/wt_tcp.h - a connected TCP pair on loopback, for the I/O
 * tests (from a fiber or a plain thread while a runtime runs).
 */
#ifndef WEFT_TESTS_WT_TCP_H
#define WEFT_TESTS_WT_TCP_H

#include <weft.h>
#include <weft/io.h>

#include "wtest.h"

/* *a the client side, *b the server side; the listener is closed. */
static inline void tcp_pair(int *a, int *b)
{
    int l = wf_tcp_listen("127.0.0.1", 0, 16);
    WT_CHECK(l >= 0);
    int port = wf_local_port(l);
    WT_CHECK(port > 0);
    *a = wf_tcp_connect("127.0.0.1", port, WF_FOREVER);
    WT_CHECK(*a >= 0);
    *b = wf_accept(l, NULL, NULL, WF_FOREVER);
    WT_CHECK(*b >= 0);
    WT_CHECK_EQ(wf_close(l), 0);
}

#endif
