/* SPDX-License-Identifier: MIT */
/*
 * tests/async/test_file.c - file I/O at offsets (weft/io.h): random-offset
 * reads and writes from several fibers checked against a reference copy
 * in memory, fsync, a missing file's error, bad arguments, a plain
 * thread's calls, and a cancelled fiber's call still completing. Run with
 * WEFT_IO=epoll (files on the blocking pool) and WEFT_IO=uring (reads,
 * writes and fsync through io_uring).
 */
#include <weft.h>
#include <weft/io.h>

#include "wtest_rt.h"
#include "wt_backend.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <sys/stat.h>

#define FILE_SIZE (1 << 20)
#define NFIBERS 8
#define REGION (FILE_SIZE / NFIBERS)

static char path[64];
static unsigned char *ref;
static int fd;

static void make_path(void)
{
    snprintf(path, sizeof path, "/tmp/weft-test-file-%d", (int)getpid());
    unlink(path);
}

static void *region_fiber(void *arg)
{
    long k = (long)P2U(arg);
    uint64_t seed = wt_seed() + (uint64_t)k;
    unsigned char buf[4096];
    for (int i = 0; i < scaled(400); i++) {
        size_t len = 1 + (size_t)(wt_rand(&seed) % sizeof buf);
        off_t off = (off_t)(k * REGION) +
                    (off_t)(wt_rand(&seed) % (REGION - len));
        if (wt_rand(&seed) % 2) {
            for (size_t j = 0; j < len; j++)
                buf[j] = (unsigned char)wt_rand(&seed);
            WT_CHECK_EQ(wf_pwrite(fd, buf, len, off), (ssize_t)len);
            memcpy(ref + off, buf, len);
        } else {
            WT_CHECK_EQ(wf_pread(fd, buf, len, off), (ssize_t)len);
            WT_CHECK(memcmp(buf, ref + off, len) == 0);
        }
        if (i % 100 == 0)
            WT_CHECK_EQ(wf_fsync(fd), 0);
    }
    return NULL;
}

static void *random_main(void *arg)
{
    (void)arg;
    make_path();
    fd = wf_file_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    WT_CHECK(fd >= 0);
    ref = calloc(FILE_SIZE, 1);
    WT_CHECK(ref);
    /* size the file: a write at the end */
    WT_CHECK_EQ(wf_pwrite(fd, "", 1, FILE_SIZE - 1), 1);
    struct wf_fiber f[NFIBERS];
    for (long k = 0; k < NFIBERS; k++)
        WT_CHECK_EQ(wf_go(&f[k], region_fiber, U2P(k)), 0);
    for (int k = 0; k < NFIBERS; k++)
        WT_CHECK_EQ(wf_join(f[k], NULL, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_fsync(fd), 0);
    /* file operations went through io_uring when it is the backend */
    const char *want = getenv("WEFT_IO"), *be = wf_io_backend();
    if (want && strcmp(want, "uring") == 0)
        WT_CHECK(be && strcmp(be, "uring") == 0);
    /* the whole file against the reference */
    unsigned char *all = malloc(FILE_SIZE);
    WT_CHECK(all);
    size_t got = 0;
    while (got < FILE_SIZE) {
        ssize_t r = wf_pread(fd, all + got, FILE_SIZE - got, (off_t)got);
        WT_CHECK(r > 0);
        got += (size_t)r;
    }
    WT_CHECK(memcmp(all, ref, FILE_SIZE) == 0);
    char c;
    WT_CHECK_EQ(wf_pread(fd, &c, 1, FILE_SIZE), 0); /* end of file */
    free(all);
    free(ref);
    WT_CHECK_EQ(wf_close(fd), 0);
    unlink(path);
    return NULL;
}

WT_CASE(random_offsets)
{
    wf_blocking_set_threads(4);
    run_main(2, random_main, NULL);
}

static void *errors_main(void *arg)
{
    (void)arg;
    char buf[8];
    make_path();
    WT_CHECK_EQ(wf_file_open(path, O_RDONLY, 0), -ENOENT);
    WT_CHECK_EQ(wf_file_open(NULL, O_RDONLY, 0), WF_EINVAL);
    WT_CHECK_EQ(wf_pread(-1, buf, 1, 0), WF_EBADF);
    WT_CHECK_EQ(wf_pread(1 << 29, buf, 1, 0), WF_EBADF);
    WT_CHECK_EQ(wf_fsync(-1), WF_EBADF);
    int f = wf_file_open(path, O_RDWR | O_CREAT, 0600);
    WT_CHECK(f >= 0);
    WT_CHECK_EQ(wf_pwrite(f, buf, 1, -1), WF_EINVAL);
    WT_CHECK_EQ(wf_close(f), 0);
    /* read-only descriptor: the system call's error comes back */
    f = wf_file_open(path, O_RDONLY, 0);
    WT_CHECK(f >= 0);
    WT_CHECK_EQ(wf_pwrite(f, "x", 1, 0), WF_EBADF);
    WT_CHECK_EQ(wf_close(f), 0);
    unlink(path);
    return NULL;
}

WT_CASE(errors) { run_main(2, errors_main, NULL); }

static void *cancelled_main(void *arg)
{
    (void)arg;
    make_path();
    int f = wf_file_open(path, O_RDWR | O_CREAT, 0600);
    WT_CHECK(f >= 0);
    WT_CHECK_EQ(wf_cancel(wf_self()), 0);
    WT_CHECK(wf_cancelled());
    /* a file call is not interrupted by cancellation */
    WT_CHECK_EQ(wf_pwrite(f, "abc", 3, 10), 3);
    char b[3];
    WT_CHECK_EQ(wf_pread(f, b, 3, 10), 3);
    WT_CHECK(memcmp(b, "abc", 3) == 0);
    WT_CHECK_EQ(wf_close(f), 0);
    unlink(path);
    return NULL;
}

WT_CASE(cancelled_fiber) { run_main(2, cancelled_main, NULL); }

WT_CASE(plain_thread)
{
    make_path();
    WT_CHECK_EQ(wf_file_open(path, O_RDWR | O_CREAT, 0600), WF_ESHUTDOWN);
    struct wf_config c = config(1);
    WT_CHECK_EQ(wf_init(&c), 0);
    int f = wf_file_open(path, O_RDWR | O_CREAT, 0600);
    WT_CHECK(f >= 0);
    WT_CHECK_EQ(wf_pwrite(f, "hello", 5, 0), 5);
    WT_CHECK_EQ(wf_fsync(f), 0);
    char b[5];
    WT_CHECK_EQ(wf_pread(f, b, 5, 0), 5);
    WT_CHECK(memcmp(b, "hello", 5) == 0);
    WT_CHECK_EQ(wf_close(f), 0);
    shutdown_clean();
    unlink(path);
}

/* File calls from inside a blocking-pool call (fn may make any call a
 * plain thread may), with a pool of one thread: they must not need a
 * second pool thread. */
static void *pool_job(void *arg)
{
    (void)arg;
    int f = wf_file_open(path, O_RDWR | O_CREAT, 0600);
    WT_CHECK(f >= 0);
    WT_CHECK_EQ(wf_pwrite(f, "pool", 4, 0), 4);
    WT_CHECK_EQ(wf_fsync(f), 0);
    char b[4];
    WT_CHECK_EQ(wf_pread(f, b, 4, 0), 4);
    WT_CHECK(memcmp(b, "pool", 4) == 0);
    WT_CHECK_EQ(wf_close(f), 0);
    return U2P(1);
}

WT_CASE(from_pool_job)
{
    make_path();
    wf_blocking_set_threads(1);
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    struct wf_future *f;
    WT_CHECK_EQ(wf_blocking(&f, pool_job, NULL), 0);
    int rc = wf_future_wait(f, wf_deadline_in(5 * WF_SEC));
    if (rc != 0)
        WT_FAIL("the pool job's file calls did not finish (%d)", rc);
    void *v = NULL;
    WT_CHECK_EQ(wf_future_result(f, &v), 0);
    WT_CHECK_EQ(P2U(v), 1);
    wf_future_release(f);
    shutdown_clean();
    unlink(path);
}

WT_MAIN()
