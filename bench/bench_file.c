/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_file.c - weft-bench's `file` group: 4 KiB reads at random
 * 4 KiB-aligned offsets of a 1 GiB file, 64 in flight (64 fibers, each
 * calling wf_pread in a loop), for 3 s after a 0.5 s warm-up.
 *
 *   file_kiops   thousands of reads a second
 *
 * The file is WEFT_BENCH_FILE, default /tmp/weft-bench-1g (made once,
 * filled with non-zero bytes; reused while its size is right). Reads are
 * buffered and the descriptor is advised random access (no read-ahead),
 * as fio does for random reads. Two cases:
 *   - warm (default): the file is read whole first, so every read hits
 *     the page cache; compare.sh runs fio with --invalidate=0 beside it;
 *   - cold (WEFT_BENCH_FILE_COLD=1): the file's cached pages are dropped
 *     at the start (posix_fadvise DONTNEED, what fio's default
 *     --invalidate=1 does), so reads go to the disk until the pages come
 *     back.
 * The same shape as fio's randread, bs=4k, iodepth=64 (io_uring) or 64
 * psync jobs. The I/O backend follows WEFT_IO (default: epoll).
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "weft.h"
#include "weft/io.h"
#include "bench_file.h"

#define FILE_SIZE (INT64_C(1) << 30)
#define BLOCK 4096
#define DEPTH 64

static struct {
    int fd;
    _Atomic int64_t start, stop; /* counting window */
    atomic_long reads;
    atomic_int failed;
} fb;

static const char *file_path(void)
{
    const char *p = getenv("WEFT_BENCH_FILE");
    return p && *p ? p : "/tmp/weft-bench-1g";
}

/* Make the file if it is missing or the wrong size. 0 or -1. */
static int make_file(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && st.st_size == FILE_SIZE)
        return 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    char *buf = malloc(1 << 20);
    if (!buf) {
        close(fd);
        return -1;
    }
    memset(buf, 0x5a, 1 << 20);
    for (int64_t off = 0; off < FILE_SIZE; off += 1 << 20)
        if (pwrite(fd, buf, 1 << 20, off) != 1 << 20) {
            free(buf);
            close(fd);
            return -1;
        }
    free(buf);
    fsync(fd);
    close(fd);
    return 0;
}

static void *reader(void *arg)
{
    uint64_t x = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
    char buf[BLOCK];
    for (;;) {
        int64_t now = wf_now();
        if (now >= atomic_load_explicit(&fb.stop, memory_order_relaxed))
            break;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        off_t off = (off_t)((x * 0x2545F4914F6CDD1Dull) % (FILE_SIZE / BLOCK)) * BLOCK;
        ssize_t n = wf_pread(fb.fd, buf, BLOCK, off);
        if (n != BLOCK) {
            atomic_store(&fb.failed, 1);
            break;
        }
        if (now >= atomic_load_explicit(&fb.start, memory_order_relaxed))
            atomic_fetch_add_explicit(&fb.reads, 1, memory_order_relaxed);
    }
    return NULL;
}

/* Read the whole file once, so that the measured reads find it cached
 * (plain preads of a MiB from this fiber: only a warm-up). */
static int warm(int fd)
{
    char *buf = malloc(1 << 20);
    if (!buf)
        return -1;
    for (int64_t off = 0; off < FILE_SIZE; off += 1 << 20)
        if (pread(fd, buf, 1 << 20, off) != 1 << 20) {
            fprintf(stderr, "weft-bench: file: warm-up read failed\n");
            free(buf);
            return -1;
        }
    free(buf);
    return 0;
}

static void *file_main(void *arg)
{
    (void)arg;
    fb.fd = wf_file_open(file_path(), O_RDONLY, 0);
    if (fb.fd < 0) {
        fprintf(stderr, "weft-bench: file: open %s: %s\n", file_path(),
                wf_strerror(fb.fd));
        return (void *)1;
    }
    const char *cold = getenv("WEFT_BENCH_FILE_COLD");
    bool is_cold = cold && strcmp(cold, "1") == 0;
    if (posix_fadvise(fb.fd, 0, 0, POSIX_FADV_RANDOM) != 0 ||
        (is_cold && posix_fadvise(fb.fd, 0, 0, POSIX_FADV_DONTNEED) != 0))
        fprintf(stderr, "weft-bench: file: posix_fadvise failed\n");
    if (!is_cold && warm(fb.fd) < 0)
        return (void *)1;
    int64_t t = wf_now();
    atomic_store(&fb.start, t + 500 * WF_MSEC);
    atomic_store(&fb.stop, t + 3500 * WF_MSEC);
    struct wf_fiber f[DEPTH];
    for (int i = 0; i < DEPTH; i++)
        if (wf_go(&f[i], reader, (void *)(uintptr_t)(i + 1)) < 0)
            return (void *)1;
    for (int i = 0; i < DEPTH; i++)
        wf_join(f[i], NULL, WF_FOREVER);
    wf_close(fb.fd);
    if (atomic_load(&fb.failed)) {
        fprintf(stderr, "weft-bench: file: a read failed\n");
        return (void *)1;
    }
    printf("file_kiops %.2f kiops\n", (double)atomic_load(&fb.reads) / 3.0 / 1e3);
    fprintf(stderr, "weft-bench: file: backend %s, %s\n", wf_io_backend(),
            is_cold ? "cold" : "warm");
    fflush(stdout);
    return NULL;
}

int group_file(void)
{
    if (make_file(file_path()) < 0) {
        fprintf(stderr, "weft-bench: file: cannot make %s\n", file_path());
        return 1;
    }
    void *res = NULL;
    int err = wf_run(NULL, file_main, NULL, &res);
    return err < 0 || res != NULL;
}
