/* SPDX-License-Identifier: MIT */
/*
 * http_parse.h - weft-httpd's HTTP/1.x request parser: bytes in, a
 * request or a status code out. No I/O and no allocation: the request
 * points into the caller's buffer, so it is valid while that is.
 */
#ifndef WEFT_HTTP_PARSE_H
#define WEFT_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Methods this server knows by name; HTTP_UNKNOWN is any other token. */
enum http_method {
    HTTP_UNKNOWN,
    HTTP_GET,
    HTTP_HEAD,
    HTTP_POST,
    HTTP_PUT,
    HTTP_DELETE,
    HTTP_OPTIONS,
    HTTP_PATCH,
    HTTP_TRACE,
    HTTP_CONNECT,
};

#define HTTP_MAX_HEADERS 64

struct http_header {
    const char *name, *value; /* not NUL-terminated */
    size_t name_len, value_len;
};

struct http_request {
    enum http_method method;
    const char *method_str; /* the token as sent */
    size_t method_len;
    const char *target; /* the request target, origin-form ("/a?b") */
    size_t target_len;
    int minor; /* HTTP/1.<minor>: 0 or 1 */
    size_t nheaders;
    struct http_header headers[HTTP_MAX_HEADERS];
    /* From the headers: */
    bool keep_alive;        /* the client allows another request */
    int64_t content_length; /* -1: none */
    bool chunked;           /* Transfer-Encoding: chunked */
};

struct http_limits {
    size_t max_line; /* request line, terminator included */
    size_t max_head; /* request line and headers, blank line included */
};

/* Outcomes besides a head's length (> 0). */
#define HTTP_INCOMPLETE 0 /* no complete head yet: read more and call again */

/* Parse the request head at the start of buf[0..len): returns its length
 * (through the blank line) and fills *req; HTTP_INCOMPLETE when the head
 * is not complete within len bytes and no limit is passed yet; else the
 * negated status to answer, after which the connection must close:
 * -400 malformed (bad tokens, control bytes, NUL, a bare CR or LF, folded
 * lines, a missing or doubled Host in HTTP/1.1, conflicting lengths),
 * -414 the request line passes max_line, -431 the head passes max_head or
 * has over HTTP_MAX_HEADERS headers, -501 an unknown method or a transfer
 * coding other than chunked, -505 an HTTP major version other than 1.
 * Lines end in CRLF; only the empty lines before a request may end in a
 * bare LF. */
int http_parse_request(const char *buf, size_t len,
                       const struct http_limits *lim, struct http_request *req);

/* After the head req was parsed from (at from) was copied to to: point
 * req's strings into the copy, without parsing it again. */
void http_request_move(struct http_request *req, const char *from,
                       const char *to);

/* The value of header `name` (case-insensitive), or NULL; *len gets its
 * length. The first one wins. */
const char *http_header_get(const struct http_request *req, const char *name,
                            size_t *len);

/* The size of a chunk from its size line (without CRLF; extensions
 * ignored), or -1 when malformed or over 2^60. */
int64_t http_parse_chunk_size(const char *line, size_t len);

/* Decode the path of an origin-form target (the part before '?') into
 * out (cap bytes, NUL-terminated): percent-decoding, and refusing what
 * could leave the document root or confuse a file name. Returns the
 * length, or -400 for a bad escape, a NUL (raw or %00), an encoded '/'
 * (%2F) or '\\', a "." or ".." segment (raw or encoded), a path not
 * starting with '/', or one longer than cap - 1. Runs of '/' are kept. */
int http_decode_path(const char *target, size_t len, char *out, size_t cap);

/* A single byte range "bytes=a-b", "bytes=a-" or "bytes=-n" against a
 * file of `size` bytes: returns 1 with [*first, *last] (inclusive),
 * 0 when the header should be ignored (malformed, several ranges: serve
 * the whole file), -416 when it cannot be satisfied. */
int http_parse_range(const char *v, size_t len, int64_t size, int64_t *first,
                     int64_t *last);

/* An HTTP date (IMF-fixdate, RFC 850 or asctime form) as seconds since
 * the epoch, or -1. */
int64_t http_parse_date(const char *v, size_t len);

/* Format t as IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"): 29 bytes
 * and a NUL into out[30]. */
void http_format_date(int64_t t, char out[30]);

#endif
