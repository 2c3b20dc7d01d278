/* SPDX-License-Identifier: MIT */
/*
 * Buffered streams (weft/io.h): a reader and a writer over a descriptor,
 * made of wf_read / wf_writev, so they wait, time out and are cancelled
 * as those calls are.
 *
 * Reader. One buffer of `cap` bytes holds the unread bytes at
 * [pos, end). A call that needs more moves them to the front (only when
 * the free tail is too short for what it waits for) and reads into the
 * rest. Calls that fail never consume: read_until and peek leave every
 * byte buffered, read_full reports through *got what it already copied
 * out. End of stream is remembered (`eof`) so that a later call does not
 * read again: a socket's end is final, and for a file it is "end for
 * now", which a new reader can see past.
 *
 * Writer. Bytes gather in the buffer until the next one does not fit;
 * then the buffer and the new bytes leave in one writev, and only the
 * tail that fits is copied in. A failed send leaves the unsent bytes of
 * the buffer at its front (they were taken before) and reports how many
 * of the caller's bytes were taken.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "weft/io.h"

#include "common/fault.h"

struct wf_bufreader {
    int fd;
    bool eof;
    size_t cap, pos, end;
    unsigned char *buf;
};

struct wf_bufwriter {
    int fd;
    size_t cap, len;
    unsigned char *buf;
};

/* A stream's buffer of *cap bytes (0: the default, stored back). */
static unsigned char *buffer(size_t *cap)
{
    if (*cap == 0)
        *cap = WF_BUFIO_DEFAULT;
    return wf__malloc(*cap);
}

int wf_bufreader_new(struct wf_bufreader **out, int fd, size_t cap)
{
    if (!out || fd < 0)
        return WF_EINVAL;
    struct wf_bufreader *r = wf__calloc(1, sizeof *r);
    if (!r || !(r->buf = buffer(&cap))) {
        free(r);
        return WF_ENOMEM;
    }
    r->fd = fd;
    r->cap = cap;
    *out = r;
    return 0;
}

void wf_bufreader_free(struct wf_bufreader *r)
{
    if (!r)
        return;
    free(r->buf);
    free(r);
}

size_t wf_bufreader_buffered(const struct wf_bufreader *r)
{
    return r->end - r->pos;
}

/* Read once more into the buffer, making room for at least `want`
 * buffered bytes in all (want <= cap). Returns the count read, 0 at end
 * of stream, or an error. */
static ssize_t fill(struct wf_bufreader *r, size_t want, int64_t deadline)
{
    if (r->eof)
        return 0;
    if (r->pos > 0 && (r->end == r->pos || r->pos + want > r->cap)) {
        memmove(r->buf, r->buf + r->pos, r->end - r->pos);
        r->end -= r->pos;
        r->pos = 0;
    }
    if (r->end == r->cap)
        return 0; /* unreachable: callers ask for at most cap bytes */
    ssize_t n = wf_read(r->fd, r->buf + r->end, r->cap - r->end, deadline);
    if (n > 0)
        r->end += (size_t)n;
    else if (n == 0)
        r->eof = true;
    return n;
}

ssize_t wf_bufreader_read(struct wf_bufreader *r, void *buf, size_t n,
                          int64_t deadline)
{
    if (n == 0)
        return 0;
    if (r->end == r->pos) {
        if (r->eof)
            return 0;
        if (n >= r->cap) {
            ssize_t k = wf_read(r->fd, buf, n, deadline);
            if (k == 0)
                r->eof = true;
            return k;
        }
        ssize_t k = fill(r, 1, deadline);
        if (k <= 0)
            return k;
    }
    size_t have = r->end - r->pos;
    if (n > have)
        n = have;
    memcpy(buf, r->buf + r->pos, n);
    r->pos += n;
    return (ssize_t)n;
}

ssize_t wf_bufreader_read_full(struct wf_bufreader *r, void *buf, size_t n,
                               size_t *got, int64_t deadline)
{
    size_t done = 0;
    ssize_t k = 0;
    if (n > SSIZE_MAX) {
        k = WF_EINVAL;
        goto out;
    }
    while (done < n) {
        k = wf_bufreader_read(r, (unsigned char *)buf + done, n - done,
                              deadline);
        if (k <= 0)
            break;
        done += (size_t)k;
    }
    if (k == 0 && done < n)
        k = done == 0 ? 0 : WF_ENODATA;
    else if (k >= 0)
        k = (ssize_t)n;
out:
    if (got)
        *got = done;
    return k;
}

ssize_t wf_bufreader_read_until(struct wf_bufreader *r, int delim, size_t max,
                                const char **out, int64_t deadline)
{
    if (!out || max == 0 || max > r->cap)
        return WF_EINVAL;
    size_t scanned = 0; /* bytes from pos known to hold no delim */
    for (;;) {
        size_t have = r->end - r->pos;
        size_t lim = have < max ? have : max;
        const unsigned char *p = r->buf + r->pos;
        const unsigned char *hit =
            memchr(p + scanned, (unsigned char)delim, lim - scanned);
        if (hit) {
            size_t len = (size_t)(hit - p) + 1;
            *out = (const char *)p;
            r->pos += len;
            return (ssize_t)len;
        }
        scanned = lim;
        if (lim == max)
            return WF_EMSGSIZE;
        ssize_t k = fill(r, max, deadline);
        if (k < 0)
            return k;
        if (k == 0)
            return have == 0 ? 0 : WF_ENODATA;
    }
}

ssize_t wf_bufreader_read_line(struct wf_bufreader *r, size_t max,
                               const char **out, int64_t deadline)
{
    return wf_bufreader_read_until(r, '\n', max, out, deadline);
}

ssize_t wf_bufreader_peek(struct wf_bufreader *r, size_t n, const void **out,
                          int64_t deadline)
{
    if (!out || n == 0 || n > r->cap)
        return WF_EINVAL;
    while (r->end - r->pos < n) {
        ssize_t k = fill(r, n, deadline);
        if (k < 0)
            return k;
        if (k == 0)
            break;
    }
    *out = r->buf + r->pos;
    return (ssize_t)(r->end - r->pos);
}

int wf_bufreader_consume(struct wf_bufreader *r, size_t n)
{
    if (n > r->end - r->pos)
        return WF_EINVAL;
    r->pos += n;
    return 0;
}

int wf_bufwriter_new(struct wf_bufwriter **out, int fd, size_t cap)
{
    if (!out || fd < 0)
        return WF_EINVAL;
    struct wf_bufwriter *w = wf__calloc(1, sizeof *w);
    if (!w || !(w->buf = buffer(&cap))) {
        free(w);
        return WF_ENOMEM;
    }
    w->fd = fd;
    w->cap = cap;
    *out = w;
    return 0;
}

size_t wf_bufwriter_free(struct wf_bufwriter *w)
{
    if (!w)
        return 0;
    size_t dropped = w->len;
    free(w->buf);
    free(w);
    return dropped;
}

size_t wf_bufwriter_buffered(const struct wf_bufwriter *w)
{
    return w->len;
}

/* The buffer lost its first n bytes to the descriptor. */
static void sent(struct wf_bufwriter *w, size_t n)
{
    memmove(w->buf, w->buf + n, w->len - n);
    w->len -= n;
}

ssize_t wf_bufwriter_write(struct wf_bufwriter *w, const void *buf, size_t n,
                           size_t *taken, int64_t deadline)
{
    const unsigned char *p = buf;
    size_t done = 0;
    ssize_t k = 0;
    if (n > SSIZE_MAX) {
        k = WF_EINVAL;
        goto out;
    }
    /* Send while what is left does not fit beside what is buffered, or
     * is a buffer's size or more (copying it in would gain nothing). */
    while (w->len + (n - done) > w->cap || n - done >= w->cap) {
        struct iovec iov[2] = {{w->buf, w->len},
                               {(void *)(p + done), n - done}};
        int first = w->len ? 0 : 1;
        k = wf_writev(w->fd, iov + first, 2 - first, deadline);
        if (k < 0)
            goto out;
        size_t m = (size_t)k;
        size_t from_buf = m < w->len ? m : w->len;
        sent(w, from_buf);
        done += m - from_buf;
    }
    memcpy(w->buf + w->len, p + done, n - done);
    w->len += n - done;
    done = n;
    k = (ssize_t)n;
out:
    if (taken)
        *taken = done;
    return k;
}

int wf_bufwriter_flush(struct wf_bufwriter *w, int64_t deadline)
{
    size_t done;
    ssize_t k = wf_write_all(w->fd, w->buf, w->len, &done, deadline);
    sent(w, done); /* what was written leaves the buffer, even on error */
    return k < 0 ? (int)k : 0;
}
