/* SPDX-License-Identifier: MIT */
/*
 * src/common/fault.h - fault injection: every allocation, mapping, thread
 * creation, io_uring setup or submission and descriptor creation weft
 * makes goes through one wrapper here, so that a test can make the Nth of
 * them fail (docs/RELIABILITY.md, "Fault injection").
 *
 * Built with -DWEFT_FAULT=ON (CMake), the wrappers first ask
 * wf__fault_hit(kind), which counts the call and says whether it must
 * fail; the failure is what the system would report (NULL with ENOMEM,
 * MAP_FAILED with ENOMEM, EAGAIN from pthread_create, -1 with EMFILE,
 * -ENOMEM from io_uring setup, -EAGAIN from a submission). Without the
 * option wf__fault_hit is a constant false and every wrapper is the plain
 * call.
 *
 * Arming (fault builds only), read once at the first counted call:
 *   WEFT_FAULT_AT=N      the Nth counted call fails (1 is the first);
 *   WEFT_FAULT_FROM=N    the Nth and every later counted call fails;
 *   WEFT_FAULT_SITES=k,k which kinds are counted: alloc, mmap, thread,
 *                        uring, fd (default: all);
 *   WEFT_FAULT_REPORT=1  print the number of counted calls at exit.
 * Each injected failure prints one line on stderr naming its call number,
 * kind and caller. Tests re-arm through wf__fault_arm (fault_test.h).
 */
#ifndef WEFT_COMMON_FAULT_H
#define WEFT_COMMON_FAULT_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

enum wf__fault_kind {
    WF__FAULT_ALLOC,  /* malloc, calloc, realloc, aligned_alloc, strdup */
    WF__FAULT_MMAP,   /* mmap of stacks, task stacks, signal stacks, rings */
    WF__FAULT_THREAD, /* pthread_create: workers, monitor, reactor, pool */
    WF__FAULT_URING,  /* io_uring setup and submission */
    WF__FAULT_FD,     /* open, socket, accept, epoll, eventfd, signalfd */
    WF__FAULT_NKINDS
};

#ifdef WEFT_FAULT_ENABLED
bool wf__fault_hit(enum wf__fault_kind kind);
#else
static inline bool wf__fault_hit(enum wf__fault_kind kind)
{
    (void)kind;
    return false;
}
#endif

static inline __attribute__((always_inline)) void *wf__malloc(size_t n)
{
    if (wf__fault_hit(WF__FAULT_ALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    return malloc(n);
}

static inline __attribute__((always_inline)) void *wf__calloc(size_t n,
                                                              size_t size)
{
    if (wf__fault_hit(WF__FAULT_ALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    return calloc(n, size);
}

static inline __attribute__((always_inline)) void *wf__realloc(void *p,
                                                               size_t n)
{
    if (wf__fault_hit(WF__FAULT_ALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, n);
}

static inline __attribute__((always_inline)) void *
wf__aligned_alloc(size_t align, size_t n)
{
    if (wf__fault_hit(WF__FAULT_ALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    return aligned_alloc(align, n);
}

static inline __attribute__((always_inline)) char *wf__strdup(const char *s)
{
    if (wf__fault_hit(WF__FAULT_ALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    return strdup(s);
}

static inline __attribute__((always_inline)) void *
wf__mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (wf__fault_hit(WF__FAULT_MMAP)) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    return mmap(addr, len, prot, flags, fd, off);
}

static inline __attribute__((always_inline)) int
wf__pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *),
                   void *arg)
{
    if (wf__fault_hit(WF__FAULT_THREAD))
        return EAGAIN;
    return pthread_create(t, a, fn, arg);
}

/* A descriptor-creating call, spelled at the call site:
 * `int fd = wf__fd(open(path, flags));`. The call is not made when the
 * fault hits; the result is -1 with errno EMFILE. */
#define wf__fd(call) \
    (wf__fault_hit(WF__FAULT_FD) ? (errno = EMFILE, -1) : (call))

/* Same for io_uring calls that return a negative errno: `call` is not made
 * when the fault hits, and `fail` (say -ENOMEM, -EAGAIN) is the result. */
#define wf__uring(call, fail) (wf__fault_hit(WF__FAULT_URING) ? (fail) : (call))

#endif
