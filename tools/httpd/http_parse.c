/* SPDX-License-Identifier: MIT */
/*
 * The request parser of weft-httpd (http_parse.h), written from RFC 9110
 * and RFC 9112. It parses a whole head at once and keeps no state between
 * calls: the server calls it again on the grown buffer when it returns
 * HTTP_INCOMPLETE. Heads are bounded (a few KiB), so rescanning costs
 * less than carrying a state machine across reads, and a parser without
 * state is what the fuzzer can check exhaustively.
 *
 * Strictness is on the side of refusing: a request that two readers
 * could understand differently (whitespace before a colon, a folded
 * line, both Content-Length and Transfer-Encoding, two different
 * lengths, a bare CR or LF) gets 400 instead of a guess, so that nothing in
 * front of the server can be smuggled past it.
 */
#define _DEFAULT_SOURCE /* timegm, gmtime_r */
#include "http_parse.h"

#include <string.h>
#include <time.h>

static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
        (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static bool eq_nocase(const char *a, size_t n, const char *b)
{
    if (strlen(b) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return false;
    return true;
}

/* The line starting at p (n bytes available): its length without the
 * CR LF, with *next just past it; -1 when no terminator is within n
 * bytes; -2 for a CR not followed by LF or an LF without its CR (a bare
 * LF is refused: a proxy in front that passes it could see other line
 * ends than this parser, the start of request smuggling). */
static long line_end(const char *p, size_t n, size_t *next)
{
    const char *lf = memchr(p, '\n', n);
    size_t end = lf ? (size_t)(lf - p) : n;
    const char *cr = memchr(p, '\r', end);
    if (cr && (size_t)(cr - p) + 1 < end)
        return -2; /* a CR inside the line */
    if (!lf) {
        /* a trailing CR may still be followed by LF */
        return -1;
    }
    if (end == 0 || p[end - 1] != '\r')
        return -2; /* a bare LF */
    *next = end + 1;
    return (long)(end - 1);
}

static const struct {
    const char *name;
    enum http_method m;
} methods[] = {
    {"GET", HTTP_GET},     {"HEAD", HTTP_HEAD},     {"POST", HTTP_POST},
    {"PUT", HTTP_PUT},     {"DELETE", HTTP_DELETE}, {"OPTIONS", HTTP_OPTIONS},
    {"PATCH", HTTP_PATCH}, {"TRACE", HTTP_TRACE},   {"CONNECT", HTTP_CONNECT},
};

static int parse_request_line(const char *p, size_t n, struct http_request *r)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i >= n || p[i] != ' ')
        return -400;
    r->method_str = p;
    r->method_len = i;
    r->method = HTTP_UNKNOWN;
    for (size_t k = 0; k < sizeof methods / sizeof methods[0]; k++)
        if (strlen(methods[k].name) == i && memcmp(methods[k].name, p, i) == 0)
            r->method = methods[k].m;
    size_t t = ++i;
    while (i < n && (unsigned char)p[i] > 0x20 && (unsigned char)p[i] < 0x7f)
        i++;
    if (i == t || i >= n || p[i] != ' ')
        return -400;
    r->target = p + t;
    r->target_len = i - t;
    i++;
    /* HTTP-version = "HTTP/" DIGIT "." DIGIT */
    if (n - i != 8 || memcmp(p + i, "HTTP/", 5) != 0 || p[i + 6] != '.' ||
        p[i + 5] < '0' || p[i + 5] > '9' || p[i + 7] < '0' || p[i + 7] > '9')
        return -400;
    if (p[i + 5] != '1')
        return -505;
    r->minor = p[i + 7] == '0' ? 0 : 1;
    if (r->method == HTTP_UNKNOWN)
        return -501;
    /* origin-form; absolute-form reduced to its path; "*" for OPTIONS */
    if (r->target[0] == '/')
        return 0;
    if (r->target_len == 1 && r->target[0] == '*' && r->method == HTTP_OPTIONS)
        return 0;
    if (r->method == HTTP_CONNECT)
        return 0; /* authority-form; the server refuses the method */
    static const char *schemes[] = {"http://", "https://"};
    for (int s = 0; s < 2; s++) {
        size_t sl = strlen(schemes[s]);
        if (r->target_len > sl && eq_nocase(r->target, sl, schemes[s])) {
            const char *path = memchr(r->target + sl, '/', r->target_len - sl);
            if (!path) {
                r->target = "/";
                r->target_len = 1;
            } else {
                r->target_len -= (size_t)(path - r->target);
                r->target = path;
            }
            return 0;
        }
    }
    return -400;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static int parse_header(const char *p, size_t n, struct http_header *h)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i >= n || p[i] != ':')
        return -400;
    h->name = p;
    h->name_len = i;
    i++;
    while (i < n && is_ows(p[i]))
        i++;
    size_t end = n;
    while (end > i && is_ows(p[end - 1]))
        end--;
    for (size_t k = i; k < end; k++) {
        unsigned char c = (unsigned char)p[k];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return -400;
    }
    h->value = p + i;
    h->value_len = end - i;
    return 0;
}

/* Content-Length: digits only; -1 when malformed. Values past 10^18
 * read as INT64_MAX (over any body limit). */
static int64_t parse_length(const char *v, size_t n)
{
    if (n == 0)
        return -1;
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        if (x > INT64_C(100000000000000000) ||
            (x == INT64_C(100000000000000000) && v[i] != '0'))
            x = INT64_MAX; /* the next digit would pass 10^18 */
        else
            x = x * 10 + (v[i] - '0');
    }
    return x;
}

/* Whether the comma-separated list v holds token tok. */
static bool list_has(const char *v, size_t n, const char *tok)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (is_ows(v[i]) || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && is_ows(v[e - 1]))
            e--;
        if (e > s && eq_nocase(v + s, e - s, tok))
            return true;
    }
    return false;
}

static int derive(struct http_request *r)
{
    int hosts = 0;
    bool has_te = false;
    r->content_length = -1;
    r->chunked = false;
    r->keep_alive = r->minor >= 1;
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct http_header *h = &r->headers[i];
        if (eq_nocase(h->name, h->name_len, "host")) {
            hosts++;
        } else if (eq_nocase(h->name, h->name_len, "content-length")) {
            int64_t x = parse_length(h->value, h->value_len);
            if (x < 0 || (r->content_length >= 0 && x != r->content_length))
                return -400;
            r->content_length = x;
        } else if (eq_nocase(h->name, h->name_len, "transfer-encoding")) {
            if (has_te)
                return -400;
            has_te = true;
            if (!eq_nocase(h->value, h->value_len, "chunked"))
                return -501; /* a coding this server does not decode */
            r->chunked = true;
        } else if (eq_nocase(h->name, h->name_len, "connection")) {
            if (list_has(h->value, h->value_len, "close"))
                r->keep_alive = false;
            else if (list_has(h->value, h->value_len, "keep-alive"))
                r->keep_alive = true;
        }
    }
    if (hosts > 1 || (r->minor >= 1 && hosts == 0))
        return -400;
    if (has_te && (r->content_length >= 0 || r->minor == 0))
        return -400;
    return 0;
}

int http_parse_request(const char *buf, size_t len,
                       const struct http_limits *lim, struct http_request *req)
{
    size_t pos = 0, next = 0;
    /* Empty lines before a request are ignored (RFC 9112, 2.2). */
    while (pos < len && (buf[pos] == '\r' || buf[pos] == '\n')) {
        if (buf[pos] == '\r' && (pos + 1 >= len || buf[pos + 1] != '\n'))
            return pos + 1 >= len ? HTTP_INCOMPLETE : -400;
        pos += buf[pos] == '\r' ? 2 : 1;
        if (pos > lim->max_line)
            return -400;
    }
    size_t avail = len - pos;
    long n = line_end(buf + pos, avail, &next);
    if (n == -2)
        return -400;
    if (n == -1) {
        if (memchr(buf + pos, '\0', avail))
            return -400;
        return avail >= lim->max_line ? -414 : HTTP_INCOMPLETE;
    }
    if (next > lim->max_line)
        return -414;
    if (memchr(buf + pos, '\0', (size_t)n))
        return -400;
    int err = parse_request_line(buf + pos, (size_t)n, req);
    if (err)
        return err;
    pos += next;
    req->nheaders = 0;
    for (;;) {
        if (pos > lim->max_head)
            return -431;
        avail = len - pos;
        n = line_end(buf + pos, avail, &next);
        if (n == -2)
            return -400;
        if (n == -1) {
            if (memchr(buf + pos, '\0', avail))
                return -400;
            return len >= lim->max_head ? -431 : HTTP_INCOMPLETE;
        }
        if (pos + next > lim->max_head)
            return -431;
        if (n == 0) {
            pos += next;
            break;
        }
        if (is_ows(buf[pos]))
            return -400; /* obs-fold, or whitespace before the first name */
        if (req->nheaders == HTTP_MAX_HEADERS)
            return -431;
        err = parse_header(buf + pos, (size_t)n, &req->headers[req->nheaders]);
        if (err)
            return err;
        req->nheaders++;
        pos += next;
    }
    err = derive(req);
    if (err)
        return err;
    return (int)pos;
}

void http_request_move(struct http_request *req, const char *from,
                       const char *to)
{
    req->method_str = to + (req->method_str - from);
    req->target = to + (req->target - from);
    for (size_t i = 0; i < req->nheaders; i++) {
        struct http_header *h = &req->headers[i];
        h->name = to + (h->name - from);
        h->value = to + (h->value - from);
    }
}

const char *http_header_get(const struct http_request *req, const char *name,
                            size_t *len)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        if (eq_nocase(h->name, h->name_len, name)) {
            *len = h->value_len;
            return h->value;
        }
    }
    return NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)lower((unsigned char)c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int http_decode_path(const char *target, size_t len, char *out, size_t cap)
{
    if (len == 0 || target[0] != '/' || cap == 0)
        return -400;
    size_t o = 0;
    for (size_t i = 0; i < len && target[i] != '?' && target[i] != '#'; i++) {
        char c = target[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -400;
            int hi = hexval(target[i + 1]), lo = hexval(target[i + 2]);
            if (hi < 0 || lo < 0)
                return -400;
            c = (char)(hi * 16 + lo);
            i += 2;
            if (c == '/' || c == '\\')
                return -400;
        }
        if (c == '\0')
            return -400;
        if (o + 1 >= cap)
            return -400;
        out[o++] = c;
    }
    out[o] = '\0';
    /* no "." or ".." segment, however it was spelt */
    for (size_t s = 0; s < o;) {
        size_t e = s + 1;
        while (e < o && out[e] != '/')
            e++;
        size_t seg = e - s - 1;
        if ((seg == 1 && out[s + 1] == '.') ||
            (seg == 2 && out[s + 1] == '.' && out[s + 2] == '.'))
            return -400;
        s = e;
    }
    return (int)o;
}

/* A decimal number in v[*i..n): >= 0, or -1 when absent or too long. */
static int64_t number(const char *v, size_t n, size_t *i)
{
    size_t s = *i;
    int64_t x = 0;
    while (*i < n && v[*i] >= '0' && v[*i] <= '9') {
        if (*i - s >= 18)
            return -1;
        x = x * 10 + (v[*i] - '0');
        (*i)++;
    }
    return *i == s ? -1 : x;
}

int http_parse_range(const char *v, size_t len, int64_t size, int64_t *first,
                     int64_t *last)
{
    if (len < 6 || !eq_nocase(v, 6, "bytes="))
        return 0;
    size_t i = 6;
    while (i < len && is_ows(v[i]))
        i++;
    if (memchr(v + i, ',', len - i))
        return 0; /* several ranges: the whole file instead */
    int64_t a = -1, b = -1;
    if (i < len && v[i] == '-') {
        i++;
        b = number(v, len, &i);
        if (b < 0)
            return 0;
    } else {
        a = number(v, len, &i);
        if (a < 0 || i >= len || v[i] != '-')
            return 0;
        i++;
        if (i < len && v[i] >= '0' && v[i] <= '9') {
            b = number(v, len, &i);
            if (b < 0 || b < a)
                return 0;
        }
    }
    while (i < len && is_ows(v[i]))
        i++;
    if (i != len)
        return 0;
    if (a < 0) { /* suffix: the last b bytes */
        if (b == 0 || size == 0)
            return -416;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return 1;
    }
    if (a >= size)
        return -416;
    *first = a;
    *last = b < 0 || b >= size ? size - 1 : b;
    return 1;
}

static const char wdays[7][4] = {"Sun", "Mon", "Tue", "Wed",
                                 "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static int month_of(const char *p)
{
    for (int m = 0; m < 12; m++)
        if (memcmp(p, months[m], 3) == 0)
            return m;
    return -1;
}

/* n decimal digits at p, or -1. */
static int digits(const char *p, int n)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        x = x * 10 + (p[i] - '0');
    }
    return x;
}

static int64_t make_time(int year, int mon, int day, int h, int m, int s)
{
    if (year < 1970 || mon < 0 || day < 1 || day > 31 || h > 23 || m > 59 ||
        s > 60 || h < 0 || m < 0 || s < 0)
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = year - 1900;
    tm.tm_mon = mon;
    tm.tm_mday = day;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = s;
    return (int64_t)timegm(&tm);
}

/* "08:49:37" at p. */
static bool clock_of(const char *p, int *h, int *m, int *s)
{
    if (p[2] != ':' || p[5] != ':')
        return false;
    *h = digits(p, 2);
    *m = digits(p + 3, 2);
    *s = digits(p + 6, 2);
    return *h >= 0 && *m >= 0 && *s >= 0;
}

int64_t http_parse_date(const char *v, size_t len)
{
    int h, m, s;
    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    if (len == 29 && v[3] == ',' && v[4] == ' ' && v[7] == ' ' &&
        v[11] == ' ' && v[16] == ' ' && memcmp(v + 25, " GMT", 4) == 0) {
        int mon = month_of(v + 8);
        if (mon < 0 || !clock_of(v + 17, &h, &m, &s))
            return -1;
        return make_time(digits(v + 12, 4), mon, digits(v + 5, 2), h, m, s);
    }
    /* asctime: "Sun Nov  6 08:49:37 1994" */
    if (len == 24 && v[3] == ' ' && v[7] == ' ' && v[10] == ' ' &&
        v[19] == ' ') {
        int mon = month_of(v + 4);
        int day = v[8] == ' ' ? digits(v + 9, 1) : digits(v + 8, 2);
        if (mon < 0 || !clock_of(v + 11, &h, &m, &s))
            return -1;
        return make_time(digits(v + 20, 4), mon, day, h, m, s);
    }
    /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
    const char *c = memchr(v, ',', len);
    if (c && (size_t)(c - v) + 24 == len && c[1] == ' ' && c[4] == '-' &&
        c[8] == '-' && c[11] == ' ' && memcmp(c + 20, " GMT", 4) == 0) {
        int mon = month_of(c + 5);
        int yy = digits(c + 9, 2);
        if (mon < 0 || yy < 0 || !clock_of(c + 12, &h, &m, &s))
            return -1;
        return make_time(yy < 70 ? 2000 + yy : 1900 + yy, mon, digits(c + 2, 2),
                         h, m, s);
    }
    return -1;
}

static void put2(char *p, int x)
{
    p[0] = (char)('0' + x / 10 % 10);
    p[1] = (char)('0' + x % 10);
}

void http_format_date(int64_t t, char out[30])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    memcpy(out, wdays[tm.tm_wday], 3);
    out[3] = ',';
    out[4] = ' ';
    put2(out + 5, tm.tm_mday);
    out[7] = ' ';
    memcpy(out + 8, months[tm.tm_mon], 3);
    out[11] = ' ';
    int y = tm.tm_year + 1900;
    put2(out + 12, y / 100);
    put2(out + 14, y % 100);
    out[16] = ' ';
    put2(out + 17, tm.tm_hour);
    out[19] = ':';
    put2(out + 20, tm.tm_min);
    out[22] = ':';
    put2(out + 23, tm.tm_sec);
    memcpy(out + 25, " GMT", 5);
}

int64_t http_parse_chunk_size(const char *line, size_t len)
{
    size_t i = 0;
    int64_t x = 0;
    while (i < len && hexval(line[i]) >= 0) {
        if (i >= 15)
            return -1;
        x = x * 16 + hexval(line[i]);
        i++;
    }
    if (i == 0)
        return -1;
    /* chunk extensions (";name=value") are ignored; anything else is not */
    while (i < len && is_ows(line[i]))
        i++;
    if (i < len && line[i] != ';')
        return -1;
    for (; i < len; i++)
        if ((unsigned char)line[i] < 0x20 && line[i] != '\t')
            return -1;
    return x;
}
