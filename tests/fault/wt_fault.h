/* SPDX-License-Identifier: MIT */
/*
 * tests/fault/wt_fault.h - what the fault tests share: running a function
 * in a forked child under a time limit with its stderr in a log, naming
 * how a child ended, counting open descriptors.
 */
#ifndef WEFT_TESTS_WT_FAULT_H
#define WEFT_TESTS_WT_FAULT_H

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fault.h"
#include "common/fault_test.h"
#include "wtest.h"

#define WT_FAULT_ALL ((1u << WF__FAULT_NKINDS) - 1)

/* Skip the case in a build without fault injection. */
static inline void wt_fault_require(void)
{
    if (wf__fault_calls() < 0)
        WT_SKIP("built without -DWEFT_FAULT=ON");
}

/* Open descriptors of this process. */
static inline int wt_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own */
}

/* Fork; the child runs fn(at, arg) with stderr (and stdout) going to log,
 * truncated first, and must exit 0 within `seconds`. Returns the wait
 * status, or -1 if it was killed for the time. */
static inline int wt_fault_fork(int seconds, FILE *log,
                                void (*fn)(long, void *), long at, void *arg)
{
    fflush(stdout);
    fflush(stderr);
    if (ftruncate(fileno(log), 0) != 0)
        WT_FAIL("ftruncate: %s", strerror(errno));
    rewind(log);
    pid_t pid = fork();
    if (pid < 0)
        WT_FAIL("fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(fileno(log), 1);
        dup2(fileno(log), 2);
        alarm((unsigned)seconds); /* SIGALRM ends a hung child */
        fn(at, arg);
        exit(0);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
        return -1;
    return st;
}

static inline const char *wt_fault_status(int st)
{
    static char buf[64];
    if (st == -1)
        return "hung (killed after its time limit)";
    if (WIFSIGNALED(st))
        snprintf(buf, sizeof buf, "died of signal %d", WTERMSIG(st));
    else
        snprintf(buf, sizeof buf, "exited with %d", WEXITSTATUS(st));
    return buf;
}

/* Copy the child's log to stderr. */
static inline void wt_fault_dump(FILE *log)
{
    fflush(log);
    rewind(log);
    char line[512];
    fprintf(stderr, "---- the child's output:\n");
    while (fgets(line, sizeof line, log))
        fputs(line, stderr);
    fprintf(stderr, "----\n");
}

#endif
