/* SPDX-License-Identifier: MIT */
/*
 * bench/peers/echo_client.c - the `echo` load generator (bench/echo_load.h)
 * as a program, for the libuv and Go echo servers.
 *
 *   echo_client PREFIX PORT    prints PREFIX_echo_rtt_us (1 connection,
 *                              2 s) and PREFIX_echo_krps (1,000
 *                              connections, 3 s)
 *
 * Build: cc -O2 -I bench -o echo_client bench/peers/echo_client.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "echo_load.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: echo_client PREFIX PORT\n");
        return 2;
    }
    echo_raise_nofile();
    int port = atoi(argv[2]);
    struct echo_result one, many;
    int rc = echo_load(port, 1, 2.0, &one);
    if (rc == 0)
        rc = echo_load(port, 1000, 3.0, &many);
    if (rc < 0) {
        fprintf(stderr, "echo_client: %s\n", strerror(-rc));
        return 1;
    }
    printf("%s_echo_rtt_us %.2f us\n", argv[1], one.rtt_us);
    printf("%s_echo_krps %.2f krps\n", argv[1], many.krps);
    return 0;
}
