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
#include <stdbool.h>
#include <sys/uio.h>
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

/* Whether this file system answers non-blocking buffered reads
 * (preadv2 RWF_NOWAIT; tmpfs does not): where it does not, every read
 * goes the long way and the cases below say so and check only the data. */
static bool nowait_reads(int f)
{
    char b[1];
    struct iovec v = {b, 1};
    return preadv2(f, &v, 1, 0, RWF_NOWAIT) >= 0 || errno == EAGAIN;
}

static uint64_t parks_now(void)
{
    struct wf_stats st;
    WT_CHECK(wf_stats(&st, NULL, 0) >= 0);
    return st.total.parks;
}

/* A new file at `path` holding data[0..n) = i * mul + add; its
 * descriptor (wf_file_open). */
static int filled_file(unsigned char *data, size_t n, unsigned mul,
                       unsigned add)
{
    make_path();
    int f = wf_file_open(path, O_RDWR | O_CREAT, 0600);
    WT_CHECK(f >= 0);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * mul + add);
    WT_CHECK_EQ(wf_pwrite(f, data, n, 0), (ssize_t)n);
    return f;
}

/* A read the page cache holds is answered on the calling worker: the
 * fiber does not park (before, each read parked on the pool or the
 * ring). */
static void *cached_main(void *arg)
{
    (void)arg;
    static unsigned char data[64 * 1024];
    int f = filled_file(data, sizeof data, 7, 1);
    bool nowait = nowait_reads(f);
    uint64_t before = parks_now();
    unsigned char b[4096];
    for (int i = 0; i < 100; i++) {
        size_t off = (size_t)(i * 613) % (sizeof data - sizeof b);
        WT_CHECK_EQ(wf_pread(f, b, sizeof b, (off_t)off), (ssize_t)sizeof b);
        WT_CHECK(memcmp(b, data + off, sizeof b) == 0);
    }
    /* End of file: short, then 0. */
    WT_CHECK_EQ(wf_pread(f, b, sizeof b, (off_t)sizeof data - 10), 10);
    WT_CHECK_EQ(wf_pread(f, b, sizeof b, (off_t)sizeof data), 0);
    uint64_t parks = parks_now() - before;
    if (nowait)
        WT_CHECK_EQ(parks, 0);
    else
        fprintf(stderr,
                "note: no RWF_NOWAIT reads on this file system; "
                "%llu parks\n",
                (unsigned long long)parks);
    WT_CHECK_EQ(wf_close(f), 0);
    unlink(path);
    return NULL;
}

WT_CASE(cached_read_does_not_park)
{
    run_main(1, cached_main, NULL);
}

/* A cached read larger than the most the worker copies itself (1 MiB):
 * the whole count with the right bytes, the rest read the long way (the
 * fiber parks for it) rather than the worker copying megabytes while the
 * fibers queued on it wait. The pool's one thread is held by a job until
 * another fiber, which can run only once this one parks (1 worker),
 * releases it: the long way must park, whatever the timing. */
static atomic_bool hold_pool;

static void *pool_holder(void *arg)
{
    while (atomic_load(&hold_pool))
        usleep(100);
    return arg;
}

static void *pool_releaser(void *arg)
{
    atomic_store(&hold_pool, false);
    return arg;
}

static void *big_cached_main(void *arg)
{
    (void)arg;
    enum { BIG = 4 << 20 };
    unsigned char *data = malloc(BIG), *b = malloc(BIG);
    WT_CHECK(data && b);
    int f = filled_file(data, BIG, 11, 3);
    bool nowait = nowait_reads(f);
    atomic_store(&hold_pool, true);
    struct wf_future *hold;
    WT_CHECK_EQ(wf_blocking(&hold, pool_holder, NULL), 0);
    struct wf_fiber rel;
    WT_CHECK_EQ(wf_go(&rel, pool_releaser, NULL), 0);
    uint64_t before = parks_now();
    WT_CHECK_EQ(wf_pread(f, b, BIG, 0), BIG);
    uint64_t parks = parks_now() - before;
    WT_CHECK_EQ(wf_join(rel, NULL, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_future_wait(hold, WF_FOREVER), 0);
    wf_future_release(hold);
    WT_CHECK(memcmp(b, data, BIG) == 0);
    if (nowait)
        WT_CHECK(parks >= 1);
    free(data);
    free(b);
    WT_CHECK_EQ(wf_close(f), 0);
    unlink(path);
    return NULL;
}

WT_CASE(big_cached_read_leaves_the_worker)
{
    wf_blocking_set_threads(1);
    run_main(1, big_cached_main, NULL);
}

/* A read whose first page is cached and whose second is not: the cached
 * part is kept and the rest read the long way, one full count with the
 * right bytes (a pread stops short only at the end of the file). */
static void *part_cached_main(void *arg)
{
    (void)arg;
    static unsigned char data[256 * 1024];
    int f = filled_file(data, sizeof data, 13, 5);
    WT_CHECK_EQ(wf_fsync(f), 0);
    bool nowait = nowait_reads(f);
    int evicted = 0;
    for (int round = 0; round < 20; round++) {
        /* Drop the file from the cache, then bring back its first page:
         * a read of pages 0-15 finds page 0 cached and the rest (those
         * the kernel really dropped) not. */
        WT_CHECK_EQ(posix_fadvise(f, 0, 0, POSIX_FADV_RANDOM), 0);
        WT_CHECK_EQ(posix_fadvise(f, 0, 0, POSIX_FADV_DONTNEED), 0);
        char one;
        WT_CHECK_EQ(pread(f, &one, 1, 0), 1);
        char probe[1];
        struct iovec v = {probe, 1};
        if (nowait && preadv2(f, &v, 1, 4096 * 8, RWF_NOWAIT) < 0 &&
            errno == EAGAIN)
            evicted++;
        static unsigned char b[16 * 4096];
        WT_CHECK_EQ(wf_pread(f, b, sizeof b, 0), (ssize_t)sizeof b);
        WT_CHECK(memcmp(b, data, sizeof b) == 0);
    }
    if (nowait && evicted == 0)
        fprintf(stderr, "note: the kernel kept the file cached; the "
                        "part-cached path was not reached\n");
    WT_CHECK_EQ(wf_close(f), 0);
    unlink(path);
    return NULL;
}

WT_CASE(part_cached_read_whole)
{
    run_main(2, part_cached_main, NULL);
}

/* O_DIRECT reads skip the page cache: they go to io_uring where the
 * reactor has it (the pool otherwise); aligned buffers, whole blocks. */
static void *direct_main(void *arg)
{
    (void)arg;
    make_path();
    int f = wf_file_open(path, O_RDWR | O_CREAT | O_DIRECT, 0600);
    if (f == -EINVAL) {
        fprintf(stderr, "note: no O_DIRECT on this file system\n");
        unlink(path);
        return NULL;
    }
    WT_CHECK(f >= 0);
    enum { BLK = 4096, NBLK = 16 };
    unsigned char *w = aligned_alloc(BLK, BLK * NBLK);
    unsigned char *r = aligned_alloc(BLK, BLK);
    WT_CHECK(w && r);
    for (size_t i = 0; i < BLK * NBLK; i++)
        w[i] = (unsigned char)(i * 31 + 3);
    WT_CHECK_EQ(wf_pwrite(f, w, BLK * NBLK, 0), BLK * NBLK);
    for (int k = NBLK - 1; k >= 0; k--) {
        WT_CHECK_EQ(wf_pread(f, r, BLK, (off_t)k * BLK), BLK);
        WT_CHECK(memcmp(r, w + (size_t)k * BLK, BLK) == 0);
    }
    WT_CHECK_EQ(wf_pread(f, r, BLK, (off_t)BLK * NBLK), 0);
    free(w);
    free(r);
    WT_CHECK_EQ(wf_close(f), 0);
    unlink(path);
    return NULL;
}

WT_CASE(direct_reads)
{
    run_main(2, direct_main, NULL);
}

WT_MAIN()
