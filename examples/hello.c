/* SPDX-License-Identifier: MIT */
/*
 * hello.c - the smallest useful weft program.
 *
 * main() hands control to the runtime with wf_run(); the main fiber starts
 * a few fibers, each of which sleeps a little (parking only itself, never
 * its worker thread) and returns a greeting that the main fiber collects
 * with wf_join().
 *
 * Build against an installed weft:
 *   cc hello.c $(pkg-config --cflags --libs weft) -o hello
 * or with CMake: see examples/consumer/CMakeLists.txt.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

#define NFIBERS 4

static const char *const greetings[NFIBERS] = {
    "hello", "bonjour", "hola", "hallo",
};

static void *greet(void *arg)
{
    intptr_t i = (intptr_t)arg;
    /* Later fibers sleep longer, so they finish in order. */
    wf_sleep((int64_t)(i + 1) * WF_MSEC);
    return (void *)greetings[i];
}

static void *main_fiber(void *arg)
{
    struct wf_fiber f[NFIBERS];
    (void)arg;

    for (intptr_t i = 0; i < NFIBERS; i++) {
        int err = wf_go(&f[i], greet, (void *)i);
        if (err < 0) {
            fprintf(stderr, "wf_go: %s\n", wf_strerror(err));
            exit(1);
        }
    }
    for (int i = 0; i < NFIBERS; i++) {
        void *msg;
        int err = wf_join(f[i], &msg, WF_FOREVER);
        if (err < 0) {
            fprintf(stderr, "wf_join: %s\n", wf_strerror(err));
            exit(1);
        }
        printf("fiber %d says %s\n", i, (const char *)msg);
    }
    return NULL;
}

int main(void)
{
    int err = wf_run(NULL, main_fiber, NULL, NULL);
    if (err < 0) {
        fprintf(stderr, "wf_run: %s\n", wf_strerror(err));
        return 1;
    }
    printf("weft %d.%d.%d: %d fibers joined\n", WEFT_VERSION_MAJOR,
           WEFT_VERSION_MINOR, WEFT_VERSION_PATCH, NFIBERS);
    return 0;
}
