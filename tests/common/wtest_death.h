/* SPDX-License-Identifier: MIT */
/*
 * tests/common/wtest_death.h - death tests: run a case of this test
 * program in a child process that must die abnormally, and look at what
 * it wrote on stderr.
 */
#ifndef WTEST_DEATH_H
#define WTEST_DEATH_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wtest.h"

/* Runs fn(arg) in a forked child whose stderr is a pipe, and waits for
 * it; fn should not return (a child that returns exits with 0). Returns
 * what the child wrote on stderr (the first 64 KiB, malloc'd: the caller
 * frees it) and its wait status in *status. */
static inline char *wt_child_stderr(void (*fn)(void *), void *arg, int *status)
{
    int p[2];
    WT_CHECK_EQ(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    WT_CHECK(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        fn(arg);
        _exit(0);
    }
    close(p[1]);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap + 1);
    WT_CHECK(out != NULL);
    for (;;) {
        ssize_t n = read(p[0], out + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == cap) { /* keep the first 64 KiB, drain the rest */
            char sink[4096];
            while (read(p[0], sink, sizeof sink) > 0) {
            }
            break;
        }
    }
    out[len] = '\0';
    close(p[0]);
    WT_CHECK_EQ(waitpid(pid, status, 0), pid);
    return out;
}

struct wt_exec_case {
    const char *prog, *child_case, *env_name, *mode;
};

static inline void wt_exec_case(void *arg)
{
    const struct wt_exec_case *e = arg;
    setenv(e->env_name, e->mode, 1);
    execl("/proc/self/exe", e->prog, e->child_case, (char *)NULL);
    _exit(127);
}

/* Runs `/proc/self/exe CHILD_CASE` with ENV_NAME=MODE in the environment
 * (the child case reads it). The child must die of SIGABRT, or exit with
 * a status other than 0, 3 ("the fault went unnoticed"), 77 and 127, and
 * must not report a FAIL. Returns its stderr (the first 64 KiB, malloc'd:
 * the caller frees it), after echoing it to this process's stderr. */
static inline char *wt_death(const char *prog, const char *child_case,
                             const char *env_name, const char *mode)
{
    struct wt_exec_case e = {prog, child_case, env_name, mode};
    int st = 0;
    if (wt_under_valgrind()) /* /proc/self/exe is valgrind's loader */
        WT_SKIP("re-executes itself: not under valgrind");
    char *out = wt_child_stderr(wt_exec_case, &e, &st);
    fprintf(stderr, "---- child stderr (%s) ----\n%s---- end ----\n", mode, out);
    if (WIFSIGNALED(st)) {
        if (WTERMSIG(st) != SIGABRT)
            WT_FAIL("child died of signal %d (%s), want SIGABRT", WTERMSIG(st),
                    strsignal(WTERMSIG(st)));
    } else {
        WT_CHECK(WIFEXITED(st));
        int code = WEXITSTATUS(st);
        if (code == 0 || code == 3 || code == 77 || code == 127)
            WT_FAIL("child exited with %d, want an abnormal death", code);
    }
    WT_CHECK(strstr(out, "FAIL:") == NULL);
    return out;
}

#endif
