/* SPDX-License-Identifier: MIT */
/*
 * One connection of weft-httpd: a fiber that reads requests with a
 * buffered reader, answers them in order through a buffered writer, and
 * sends file bodies with wf_sendfile (the socket is non-blocking; a full
 * socket buffer parks the fiber on the reactor's writability wait, so a
 * slow reader never holds a worker).
 *
 * The loop: wait for a request's first byte (idle timeout), then for its
 * whole head (header timeout, from the first byte: a client that sends a
 * byte a second runs out of it), parse, answer. Answers go into the
 * writer and are flushed only when no further request is already
 * buffered, so pipelined requests leave in one send, in order. A body
 * sent with a request is read and dropped before the answer (the server
 * serves no method that takes one) so the next request is found; one
 * over --max-body is refused with 413 and the connection closed.
 *
 * Errors that close the connection (400, 408, 413, 414, 431, 501, 505)
 * close it "lingering": the answer is flushed, the write side shut, and
 * what the client still sends is read and dropped for a moment, so the
 * kernel does not reset the connection (dropping the answer) because
 * unread bytes were left.
 *
 * Files: the decoded path (http_decode_path refuses "..", encoded
 * slashes and NULs) is appended to the root's real path and resolved
 * with realpath(3); the result must be the root or lie under it, which
 * catches symbolic links that lead out. A directory serves its
 * index.html. The metadata calls (realpath, open, fstat) run on the
 * worker: for a local file system they are page-cache lookups, cheaper
 * than a hop to the blocking pool. (Between realpath and open a link
 * could be swapped by someone who can write inside the root; open uses
 * O_NOFOLLOW on the resolved name, which closes the last step of it.)
 */
#define _GNU_SOURCE /* realpath, O_NOFOLLOW */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <weft.h>
#include <weft/io.h>

#include "httpd.h"

struct cx {
    struct conn *c;
    struct wf_bufreader *r;
    struct wf_bufwriter *w;
    int64_t wdl; /* write deadline of the answer being sent */
    /* the request being answered, for the log and the headers */
    const struct http_request *req;
    bool keep;   /* keep the connection after this answer */
    bool linger; /* close lingering (an error left input unread) */
    int status;
    int64_t sent;
};

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 416:
        return "Range Not Satisfiable";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

static const struct {
    const char *ext, *type;
} types[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"ico", "image/vnd.microsoft.icon"},
    {"pdf", "application/pdf"},
    {"wasm", "application/wasm"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
};

static const char *content_type(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot + 1, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

/* ---- writing ------------------------------------------------------------- */

/* A header block under construction; what does not fit marks it
 * `over` (never sent cut short). */
struct hbuf {
    char b[2048];
    size_t n;
    bool over;
};

static void hput(struct hbuf *h, const char *s, size_t n)
{
    if (n > sizeof h->b - h->n) {
        h->over = true;
        return;
    }
    memcpy(h->b + h->n, s, n);
    h->n += n;
}

static void hstr(struct hbuf *h, const char *s)
{
    hput(h, s, strlen(s));
}

static void hnum(struct hbuf *h, int64_t x)
{
    char d[24];
    int n = snprintf(d, sizeof d, "%lld", (long long)x);
    hput(h, d, (size_t)n);
}

/* Status line and the headers every answer has. */
static void head_start(struct cx *x, struct hbuf *h, int status)
{
    char date[30];
    x->status = status;
    if (atomic_load_explicit(&srv.stopping, memory_order_relaxed))
        x->keep = false; /* a stop is on: this is the last answer */
    h->n = 0;
    h->over = false;
    hstr(h, "HTTP/1.1 ");
    hnum(h, status);
    hstr(h, " ");
    hstr(h, reason(status));
    hstr(h, "\r\nServer: weft-httpd\r\nDate: ");
    httpd_date(date);
    hput(h, date, 29);
    hstr(h, "\r\n");
    if (!x->keep)
        hstr(h, "Connection: close\r\n");
    else if (x->req && x->req->minor == 0)
        hstr(h, "Connection: keep-alive\r\n");
}

/* Send a finished header block (and what follows it in h). */
static int send_head(struct cx *x, const struct hbuf *h)
{
    if (h->over)
        return -EOVERFLOW; /* a bug of this file: close rather than lie */
    ssize_t r = wf_bufwriter_write(x->w, h->b, h->n, NULL, x->wdl);
    return r < 0 ? (int)r : 0;
}

/* A short answer with a text body (none for HEAD). */
static int simple(struct cx *x, int status, const char *extra)
{
    struct hbuf h;
    char body[128];
    int bn = snprintf(body, sizeof body, "%d %s\n", status, reason(status));
    head_start(x, &h, status);
    if (extra)
        hstr(&h, extra);
    hstr(&h, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: ");
    hnum(&h, bn);
    hstr(&h, "\r\n\r\n");
    bool head = x->req && x->req->method == HTTP_HEAD;
    if (!head && status != 304)
        hput(&h, body, (size_t)bn);
    x->sent = head ? 0 : bn;
    return send_head(x, &h);
}

static const char plaintext_body[] = "Hello, World!";

static int plaintext(struct cx *x)
{
    struct hbuf h;
    head_start(x, &h, 200);
    hstr(&h, "Content-Type: text/plain\r\nContent-Length: 13\r\n\r\n");
    if (x->req->method != HTTP_HEAD) {
        hput(&h, plaintext_body, 13);
        x->sent = 13;
    }
    return send_head(x, &h);
}

/* ---- files -------------------------------------------------------------- */

/* Open the file for decoded path p under the root: returns the
 * descriptor with *st and real (the file's resolved name) filled, or a
 * negated status (-301: a directory named without its '/'). */
static int open_under_root(const char *p, struct stat *st, char real[PATH_MAX])
{
    char full[PATH_MAX + 16];
    size_t rl = strlen(srv.root);
    if (rl + strlen(p) + sizeof "/index.html" > sizeof full)
        return -414;
    memcpy(full, srv.root, rl);
    strcpy(full + rl, p);
    for (int pass = 0; pass < 2; pass++) {
        if (!realpath(full, real))
            return errno == EACCES ? -403 : -404;
        size_t n = strlen(real);
        /* the root itself, or below it: "/srv/www" must not admit
         * "/srv/www-private" */
        if (strncmp(real, srv.root, rl) != 0 ||
            (n > rl && real[rl] != '/' && rl > 0))
            return -403;
        if (stat(real, st) != 0)
            return -404;
        if (S_ISDIR(st->st_mode)) {
            if (pass == 1)
                return -404;
            size_t pl = strlen(p);
            if (pl == 0 || p[pl - 1] != '/')
                return -301;
            strcpy(full + strlen(full), "index.html");
            continue;
        }
        if (!S_ISREG(st->st_mode))
            return -404;
        /* O_NONBLOCK: a FIFO swapped in since the stat must not block
         * the worker in open (fstat below then refuses it); for a
         * regular file the flag changes nothing */
        int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
            return errno == EACCES ? -403 : -404;
        if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
            close(fd);
            return -404;
        }
        return fd;
    }
    return -404;
}

static int serve_file(struct cx *x, const char *path)
{
    struct stat st;
    char real[PATH_MAX];
    int fd = open_under_root(path, &st, real);
    if (fd == -301) {
        /* From the decoded path (query and fragment already cut off),
         * with its leading slashes collapsed to one ("//host/" would name
         * a host to a browser), encoded again: a decoded name may hold
         * any byte (a CR LF would start a header of the client's). */
        static const char hex[] = "0123456789ABCDEF";
        while (path[0] == '/' && path[1] == '/')
            path++;
        size_t pl = strlen(path);
        if (pl > 1024)
            return simple(x, 414, NULL);
        char extra[3 * 1024 + 32];
        size_t o = (size_t)snprintf(extra, sizeof extra, "Location: ");
        for (size_t i = 0; i < pl; i++) {
            unsigned char c = (unsigned char)path[i];
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                (c >= '0' && c <= '9') ||
                (c && strchr("/-._~!$&'()*+,;=:@", c))) {
                extra[o++] = (char)c;
            } else {
                extra[o++] = '%';
                extra[o++] = hex[c >> 4];
                extra[o++] = hex[c & 15];
            }
        }
        memcpy(extra + o, "/\r\n", 4);
        return simple(x, 301, extra);
    }
    if (fd < 0)
        return simple(x, -fd, NULL);
    int64_t size = (int64_t)st.st_size;
    int64_t mtime = (int64_t)st.st_mtime;
    char lm[30];
    http_format_date(mtime, lm);
    size_t vl;
    const char *v = http_header_get(x->req, "if-modified-since", &vl);
    if (v) {
        int64_t since = http_parse_date(v, vl);
        if (since >= 0 && mtime <= since) {
            close(fd);
            struct hbuf h;
            head_start(x, &h, 304);
            hstr(&h, "Last-Modified: ");
            hput(&h, lm, 29);
            hstr(&h, "\r\n\r\n");
            x->sent = 0;
            return send_head(x, &h);
        }
    }
    int64_t first = 0, last = size - 1;
    int status = 200;
    v = http_header_get(x->req, "range", &vl);
    if (v) {
        /* If-Range (RFC 9110, 13.1.5): the range holds only while the
         * file is the one the client has, named by its Last-Modified
         * date exactly; an entity tag (none is sent here) or any other
         * date asks for the whole file. */
        size_t il;
        const char *iv = http_header_get(x->req, "if-range", &il);
        if (iv && (il == 0 || iv[0] == '"' ||
                   (il > 1 && iv[0] == 'W' && iv[1] == '/') ||
                   http_parse_date(iv, il) != mtime))
            v = NULL;
    }
    if (v) {
        int rr = http_parse_range(v, vl, size, &first, &last);
        if (rr < 0) {
            close(fd);
            char extra[64];
            snprintf(extra, sizeof extra, "Content-Range: bytes */%lld\r\n",
                     (long long)size);
            return simple(x, 416, extra);
        }
        if (rr == 0) {
            first = 0;
            last = size - 1;
        } else {
            status = 206;
        }
    }
    int64_t len = size == 0 ? 0 : last - first + 1;
    struct hbuf h;
    head_start(x, &h, status);
    hstr(&h, "Content-Type: ");
    hstr(&h, content_type(real));
    hstr(&h, "\r\nLast-Modified: ");
    hput(&h, lm, 29);
    hstr(&h, "\r\nAccept-Ranges: bytes\r\n");
    if (status == 206) {
        hstr(&h, "Content-Range: bytes ");
        hnum(&h, first);
        hstr(&h, "-");
        hnum(&h, last);
        hstr(&h, "/");
        hnum(&h, size);
        hstr(&h, "\r\n");
    }
    hstr(&h, "Content-Length: ");
    hnum(&h, len);
    hstr(&h, "\r\n\r\n");
    int err = send_head(x, &h);
    if (err || x->req->method == HTTP_HEAD || len == 0) {
        close(fd);
        return err;
    }
    /* headers out first, then the file straight from the page cache */
    err = wf_bufwriter_flush(x->w, x->wdl);
    off_t off = (off_t)first;
    int64_t end = first + len;
    while (!err && off < end) {
        ssize_t k =
            wf_sendfile(x->c->fd, fd, &off, (size_t)(end - off), x->wdl);
        if (k < 0)
            err = (int)k;
        else if (k == 0)
            err = -EIO; /* the file shrank: the promised length is a lie */
        else {
            /* --write-timeout bounds the time without progress, not the
             * whole body: a large file to a slow but steady client must
             * not be cut short */
            x->sent += k;
            x->wdl = wf_deadline_in(srv.o.write_timeout);
        }
    }
    close(fd);
    return err;
}

/* ---- requests ------------------------------------------------------------ */

static int answer(struct cx *x)
{
    const struct http_request *q = x->req;
    char path[PATH_MAX];
    x->sent = 0;
    if (q->method != HTTP_GET && q->method != HTTP_HEAD)
        return simple(x, 405, "Allow: GET, HEAD\r\n");
    int n = http_decode_path(q->target, q->target_len, path, sizeof path);
    if (n < 0) {
        x->keep = false;
        return simple(x, 400, NULL);
    }
    if (strcmp(path, "/plaintext") == 0)
        return plaintext(x);
    if (!srv.has_root)
        return simple(x, 404, NULL);
    return serve_file(x, path);
}

static void access_log(struct cx *x)
{
    if (!srv.log)
        return;
    char date[30];
    httpd_date(date);
    const struct http_request *q = x->req;
    pthread_mutex_lock(&srv.log_lock);
    if (q)
        fprintf(srv.log, "%s - - [%s] \"%.*s %.*s HTTP/1.%d\" %d %lld\n",
                x->c->peer, date, (int)q->method_len, q->method_str,
                (int)q->target_len, q->target, q->minor, x->status,
                (long long)x->sent);
    else
        fprintf(srv.log, "%s - - [%s] \"-\" %d %lld\n", x->c->peer, date,
                x->status, (long long)x->sent);
    pthread_mutex_unlock(&srv.log_lock);
}

/* Read and drop n bytes of the request. Returns 0, -EPIPE when the
 * stream ends first, or the read's error. */
static int skip(struct cx *x, int64_t n, int64_t deadline)
{
    char scratch[4096];
    while (n > 0) {
        size_t want = n < (int64_t)sizeof scratch ? (size_t)n : sizeof scratch;
        ssize_t k = wf_bufreader_read(x->r, scratch, want, deadline);
        if (k <= 0)
            return k == 0 ? -EPIPE : (int)k;
        n -= k;
    }
    return 0;
}

/* Read and drop the request's body. Returns 0, or a negated status to
 * answer (413, 400), or an I/O error (the connection just closes). */
static int drop_body(struct cx *x, const struct http_request *q,
                     int64_t deadline)
{
    int64_t total = 0;
    if (q->content_length > 0) {
        if (q->content_length > srv.o.max_body)
            return -413;
        return skip(x, q->content_length, deadline);
    }
    if (!q->chunked)
        return 0;
    /* the reader's buffer holds --max-header bytes, which may be less */
    size_t lmax = srv.o.max_head < 1024 ? srv.o.max_head : 1024;
    for (;;) {
        const char *line;
        ssize_t k = wf_bufreader_read_line(x->r, lmax, &line, deadline);
        if (k == WF_EMSGSIZE)
            return -400;
        if (k <= 0)
            return k == 0 || k == WF_ENODATA ? -EPIPE : (int)k;
        /* lines end in CR LF: a bare LF is refused, as in the head */
        size_t ll = (size_t)k - 1;
        if (ll == 0 || line[ll - 1] != '\r')
            return -400;
        ll--;
        int64_t size = http_parse_chunk_size(line, ll);
        if (size < 0)
            return -400;
        total += size;
        if (total > srv.o.max_body)
            return -413;
        if (size == 0)
            break;
        int err = skip(x, size, deadline);
        if (err)
            return err;
        k = wf_bufreader_read_line(x->r, lmax, &line, deadline);
        if (k == 2 && line[0] == '\r')
            continue;
        if (k == WF_ETIMEDOUT)
            return (int)k;
        return k <= 0 && k != WF_EMSGSIZE && k != WF_ENODATA ? -EPIPE : -400;
    }
    /* trailers, up to the blank line */
    for (int i = 0; i < HTTP_MAX_HEADERS + 1; i++) {
        const char *line;
        ssize_t k = wf_bufreader_read_line(x->r, lmax, &line, deadline);
        if (k <= 0)
            return k == WF_EMSGSIZE    ? -431
                   : k == WF_ETIMEDOUT ? (int)k
                                       : -EPIPE;
        if (k == 2 && line[0] == '\r')
            return 0;
        if (k < 2 || line[k - 2] != '\r')
            return -400; /* a bare LF */
    }
    return -431;
}

/* Mark the connection idle (true) or busy; false when a stop is on and
 * the connection should close instead of waiting for a request. */
static bool set_idle(struct conn *c, bool idle)
{
    pthread_mutex_lock(&srv.lock);
    bool stopping = atomic_load_explicit(&srv.stopping, memory_order_relaxed);
    c->idle = idle;
    pthread_mutex_unlock(&srv.lock);
    return !(idle && stopping);
}

/* Send the answers still buffered (those to pipelined requests). */
static int flush_pending(struct cx *x)
{
    if (wf_bufwriter_buffered(x->w) == 0)
        return 0;
    return wf_bufwriter_flush(x->w, wf_deadline_in(srv.o.write_timeout));
}

/* Close after an error answer: shut the write side, read and drop what
 * the client still sends for a moment (at most 1 MiB), then close. */
static void linger_close(struct cx *x)
{
    char scratch[4096];
    wf_sock_shutdown(x->c->fd, SHUT_WR);
    int64_t dl = wf_deadline_in(WF_SEC);
    size_t total = 0;
    while (total < ((size_t)1 << 20)) {
        ssize_t k = wf_bufreader_read(x->r, scratch, sizeof scratch, dl);
        if (k <= 0)
            break;
        total += (size_t)k;
    }
}

/* Answer status, log it, and close lingering: for requests the
 * connection cannot go on after. */
static void refuse(struct cx *x, int status)
{
    x->keep = false;
    if (simple(x, status, NULL) == 0)
        wf_bufwriter_flush(x->w, x->wdl);
    access_log(x);
    linger_close(x);
}

static void serve(struct cx *x)
{
    struct conn *c = x->c;
    const struct httpd_opts *o = &srv.o;
    for (;;) {
        const void *p;
        ssize_t n;
        x->req = NULL;
        x->keep = true;
        if (wf_bufreader_buffered(x->r) == 0) {
            if (!set_idle(c, true))
                return;
            n = wf_bufreader_peek(x->r, 1, &p, wf_deadline_in(o->idle_timeout));
            set_idle(c, false);
            if (n <= 0)
                return; /* closed, idle too long, stopped */
        }
        int64_t hdl = wf_deadline_in(o->header_timeout);
        x->wdl = WF_FOREVER;
        struct http_request req;
        struct http_limits lim = {o->max_line, o->max_head};
        int len = HTTP_INCOMPLETE;
        size_t want = 1;
        for (;;) {
            n = wf_bufreader_peek(x->r, want, &p, hdl);
            if (n <= 0)
                break;
            len = http_parse_request(p, (size_t)n, &lim, &req);
            if (len != HTTP_INCOMPLETE)
                break;
            if ((size_t)n >= o->max_head) {
                len = -431;
                break;
            }
            if ((size_t)n < want) { /* the stream ended inside the head */
                n = 0;
                break;
            }
            want = (size_t)n + 1;
            /* answers to earlier pipelined requests leave before the
             * wait: the client may wait for them before it sends more */
            if (flush_pending(x) != 0)
                return;
        }
        x->wdl = wf_deadline_in(o->write_timeout);
        int err = 0;
        if (n == WF_ETIMEDOUT) {
            refuse(x, 408);
            return;
        }
        if (n <= 0) { /* closed mid-head, cancelled, stopped */
            flush_pending(x);
            return;
        }
        if (len < 0) {
            refuse(x, -len);
            return;
        }
        x->req = &req;
        x->keep = req.keep_alive;
        /* a body over the limit is refused before it is read */
        if (req.content_length > o->max_body) {
            refuse(x, 413);
            return;
        }
        /* A body is read (and dropped) before the answer, so that one
         * over the limit gets 413 as the only answer. The head moves to
         * a copy first: reading the body may move the reader's buffer,
         * which req points into. */
        char *copy = NULL;
        if (req.content_length > 0 || req.chunked) {
            copy = malloc((size_t)len);
            if (!copy)
                return;
            memcpy(copy, p, (size_t)len);
            http_request_move(&req, p, copy);
            wf_bufreader_consume(x->r, (size_t)len);
            err = flush_pending(x);
            if (!err)
                err = drop_body(x, &req, hdl);
            if (err == WF_ETIMEDOUT)
                err = -408; /* as for a head that does not come */
            if (err == -413 || err == -400 || err == -431 || err == -408) {
                refuse(x, -err);
                free(copy);
                return;
            }
            if (err) {
                free(copy);
                return;
            }
        }
        err = answer(x);
        access_log(x);
        /* without a body the head stayed buffered until here: req
         * points into it */
        if (!copy)
            wf_bufreader_consume(x->r, (size_t)len);
        free(copy);
        x->req = NULL;
        if (err)
            return;
        if (!x->keep) {
            if (wf_bufwriter_flush(x->w, x->wdl) == 0)
                linger_close(x);
            return;
        }
        /* pipelined requests already here are answered before a flush */
        if (wf_bufreader_buffered(x->r) == 0 &&
            wf_bufwriter_flush(x->w, x->wdl) != 0)
            return;
    }
}

void *httpd_conn_main(void *arg)
{
    struct conn *c = arg;
    struct cx x;
    memset(&x, 0, sizeof x);
    x.c = c;
    if (wf_bufreader_new(&x.r, c->fd, srv.o.max_head) == 0 &&
        wf_bufwriter_new(&x.w, c->fd, 16384) == 0)
        serve(&x);
    wf_bufreader_free(x.r);
    wf_bufwriter_free(x.w);
    httpd_conn_drop(c);
    return NULL;
}
