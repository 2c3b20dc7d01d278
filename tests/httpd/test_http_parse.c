/* SPDX-License-Identifier: MIT */
/*
 * tests/httpd/test_http_parse.c - weft-httpd's request parser
 * (tools/httpd/http_parse.h) in process: well-formed heads in pieces,
 * every refusal with its status, paths that try to leave the root,
 * ranges, dates; and every input in tests/httpd/crashes (inputs the
 * fuzzer once crashed on) and tests/httpd/corpus (its seeds) must parse
 * without a crash, at least one seed as a whole request.
 */
#include "http_parse.h"

#include "wtest.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

static const struct http_limits lim = {256, 1024};

static int parse(const char *s, struct http_request *r)
{
    return http_parse_request(s, strlen(s), &lim, r);
}

static bool eqs(const char *p, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(p, s, n) == 0;
}

WT_CASE(simple_get)
{
    struct http_request r;
    const char *s = "GET /a/b?x=1 HTTP/1.1\r\nHost: h\r\nX-A:  v  \r\n\r\nNEXT";
    int n = parse(s, &r);
    WT_CHECK_EQ(n, (int)(strlen(s) - 4));
    WT_CHECK_EQ(r.method, HTTP_GET);
    WT_CHECK(eqs(r.target, r.target_len, "/a/b?x=1"));
    WT_CHECK_EQ(r.minor, 1);
    WT_CHECK_EQ(r.nheaders, 2);
    size_t vl;
    const char *v = http_header_get(&r, "x-a", &vl);
    WT_CHECK(v && eqs(v, vl, "v"));
    WT_CHECK(r.keep_alive);
    WT_CHECK_EQ(r.content_length, -1);
    WT_CHECK(!http_header_get(&r, "none", &vl));
}

/* Every prefix of a valid head is incomplete, never an error. */
WT_CASE(prefixes_incomplete)
{
    const char *s = "\r\n\nPOST /up HTTP/1.0\r\nContent-Length: 5\r\n"
                    "Connection: keep-alive\r\n\r\n";
    struct http_request r;
    size_t len = strlen(s);
    for (size_t i = 0; i < len; i++)
        WT_CHECK_EQ(http_parse_request(s, i, &lim, &r), HTTP_INCOMPLETE);
    WT_CHECK_EQ(http_parse_request(s, len, &lim, &r), (int)len);
    WT_CHECK_EQ(r.method, HTTP_POST);
    WT_CHECK_EQ(r.minor, 0);
    WT_CHECK_EQ(r.content_length, 5);
    WT_CHECK(r.keep_alive);
}

WT_CASE(keep_alive_rules)
{
    struct http_request r;
    WT_CHECK(parse("GET / HTTP/1.0\r\n\r\n", &r) > 0);
    WT_CHECK(!r.keep_alive);
    WT_CHECK(
        parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n",
              &r) > 0);
    WT_CHECK(!r.keep_alive);
    WT_CHECK(
        parse("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
              &r) > 0);
    WT_CHECK(r.chunked);
    WT_CHECK(parse("GET http://example.com HTTP/1.1\r\nHost: a\r\n\r\n", &r) >
             0);
    WT_CHECK(eqs(r.target, r.target_len, "/"));
    WT_CHECK(parse("GET http://example.com/x/y HTTP/1.1\r\nHost: a\r\n\r\n",
                   &r) > 0);
    WT_CHECK(eqs(r.target, r.target_len, "/x/y"));
    WT_CHECK(parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &r) > 0);
    /* HTTP/1.9 is a 1.x this server answers as 1.1 */
    WT_CHECK(parse("GET / HTTP/1.9\r\nHost: a\r\n\r\n", &r) > 0);
    WT_CHECK_EQ(r.minor, 1);
}

WT_CASE(refusals)
{
    static const struct {
        const char *req;
        int status;
    } cases[] = {
        {"GET / HTTP/1.1\r\n\r\n", -400},                       /* no Host */
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", -400}, /* two */
        {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", -400},
        {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\n Host: a\r\n\r\n", -400},
        /* a bare LF ends no line (leading empty lines excepted) */
        {"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nHost: a\r\n\n", -400},
        {"GET / HTTP/1.1\nHost: a\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", -400},
        {"GET / HTTP/1.1\rHost: a\r\n\r\n", -400},
        {"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
         "Content-Length: 2\r\n\r\n",
         -400},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
         "Transfer-Encoding: chunked\r\n\r\n",
         -400},
        {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", -501},
        {"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", -400},
        {"GET relative HTTP/1.1\r\nHost: a\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\n: empty\r\n\r\n", -400},
        {"GET / HTTP/11\r\nHost: a\r\n\r\n", -400},
        {"GET / FTP/1.1\r\nHost: a\r\n\r\n", -400},
        {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", -505},
        {"GET / HTTP/0.9\r\nHost: a\r\n\r\n", -505},
        {"BREW / HTTP/1.1\r\nHost: a\r\n\r\n", -501},
        {"get / HTTP/1.1\r\nHost: a\r\n\r\n",
         -501}, /* methods are case-sensitive */
        {" GET / HTTP/1.1\r\nHost: a\r\n\r\n", -400},
        {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", -400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct http_request r;
        int n = parse(cases[i].req, &r);
        if (n != cases[i].status)
            WT_FAIL("case %zu (%s): got %d, want %d", i, cases[i].req, n,
                    cases[i].status);
    }
    /* a NUL anywhere */
    struct http_request r;
    const char nul[] = "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n";
    WT_CHECK_EQ(http_parse_request(nul, sizeof nul - 1, &lim, &r), -400);
    const char nul2[] = "GET / HTTP/1.1\r\nHost: a\0\r\n\r\n";
    WT_CHECK_EQ(http_parse_request(nul2, sizeof nul2 - 1, &lim, &r), -400);
    const char nul3[] = "GET / HTTP/1.1\r\nHo\0";
    WT_CHECK_EQ(http_parse_request(nul3, sizeof nul3 - 1, &lim, &r), -400);
}

WT_CASE(limits)
{
    char buf[4096];
    struct http_request r;
    /* request line: 414 as soon as the limit passes, terminator or not */
    memset(buf, 'a', sizeof buf);
    memcpy(buf, "GET /", 5);
    WT_CHECK_EQ(http_parse_request(buf, 255, &lim, &r), HTTP_INCOMPLETE);
    WT_CHECK_EQ(http_parse_request(buf, 256, &lim, &r), -414);
    int n =
        snprintf(buf, sizeof buf, "GET /%0250d HTTP/1.1\r\nHost: a\r\n\r\n", 0);
    WT_CHECK_EQ(http_parse_request(buf, (size_t)n, &lim, &r), -414);
    /* head: 431 */
    n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    memset(buf + n, 'b', sizeof buf - (size_t)n);
    WT_CHECK_EQ(http_parse_request(buf, 1023, &lim, &r), HTTP_INCOMPLETE);
    WT_CHECK_EQ(http_parse_request(buf, 1024, &lim, &r), -431);
    WT_CHECK_EQ(http_parse_request(buf, sizeof buf, &lim, &r), -431);
    /* a complete head one byte over */
    n = snprintf(buf, sizeof buf,
                 "GET / HTTP/1.1\r\nHost: a\r\nX: %0*d\r\n\r\n", 1024 - 32 + 1,
                 0);
    WT_CHECK_EQ(n, 1025);
    WT_CHECK_EQ(http_parse_request(buf, (size_t)n, &lim, &r), -431);
    n = snprintf(buf, sizeof buf,
                 "GET / HTTP/1.1\r\nHost: a\r\nX: %0*d\r\n\r\n", 1024 - 32, 0);
    WT_CHECK_EQ(http_parse_request(buf, (size_t)n, &lim, &r), 1024);
    /* too many headers */
    struct http_limits big = {256, 4096};
    n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < HTTP_MAX_HEADERS; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "H%d: v\r\n", i);
    n += snprintf(buf + n, sizeof buf - (size_t)n, "\r\n");
    WT_CHECK_EQ(http_parse_request(buf, (size_t)n, &big, &r), -431);
}

WT_CASE(paths)
{
    char out[64];
    WT_CHECK_EQ(http_decode_path("/a%20b/c.txt?q=..", 17, out, sizeof out), 10);
    WT_CHECK(strcmp(out, "/a b/c.txt") == 0);
    WT_CHECK_EQ(http_decode_path("/", 1, out, sizeof out), 1);
    WT_CHECK_EQ(http_decode_path("/a..b/.c", 8, out, sizeof out), 8);
    static const char *bad[] = {
        "/..",
        "/../etc/passwd",
        "/a/../../b",
        "/a/..",
        "/./a",
        "/a/.",
        "/%2e%2e/x",
        "/%2E%2E",
        "/.%2e/x",
        "/a%2fb",
        "/a%2F..%2Fb",
        "/a%5cb",
        "/a%00b",
        "/a%0",
        "/a%zz",
        "relative",
        "",
        "/%",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (http_decode_path(bad[i], strlen(bad[i]), out, sizeof out) != -400)
            WT_FAIL("path %s was accepted", bad[i]);
    /* too long for the output */
    char longp[100];
    memset(longp, 'x', sizeof longp);
    longp[0] = '/';
    WT_CHECK_EQ(http_decode_path(longp, sizeof longp, out, sizeof out), -400);
}

WT_CASE(ranges)
{
    int64_t a, b;
    WT_CHECK_EQ(http_parse_range("bytes=0-9", 9, 100, &a, &b), 1);
    WT_CHECK(a == 0 && b == 9);
    WT_CHECK_EQ(http_parse_range("bytes=90-", 9, 100, &a, &b), 1);
    WT_CHECK(a == 90 && b == 99);
    WT_CHECK_EQ(http_parse_range("bytes=-10", 9, 100, &a, &b), 1);
    WT_CHECK(a == 90 && b == 99);
    WT_CHECK_EQ(http_parse_range("bytes=-1000", 11, 100, &a, &b), 1);
    WT_CHECK(a == 0 && b == 99);
    WT_CHECK_EQ(http_parse_range("bytes=50-1000", 13, 100, &a, &b), 1);
    WT_CHECK(a == 50 && b == 99);
    WT_CHECK_EQ(http_parse_range("bytes=100-", 10, 100, &a, &b), -416);
    WT_CHECK_EQ(http_parse_range("bytes=-0", 8, 100, &a, &b), -416);
    WT_CHECK_EQ(http_parse_range("bytes=0-1,5-6", 13, 100, &a, &b), 0);
    WT_CHECK_EQ(http_parse_range("bytes=9-1", 9, 100, &a, &b), 0);
    WT_CHECK_EQ(http_parse_range("items=0-1", 9, 100, &a, &b), 0);
    WT_CHECK_EQ(http_parse_range("bytes=x-1", 9, 100, &a, &b), 0);
    WT_CHECK_EQ(
        http_parse_range("bytes=0-99999999999999999999", 28, 100, &a, &b), 0);
}

WT_CASE(dates)
{
    char d[30];
    http_format_date(784111777, d);
    WT_CHECK(strcmp(d, "Sun, 06 Nov 1994 08:49:37 GMT") == 0);
    WT_CHECK_EQ(http_parse_date(d, 29), 784111777);
    WT_CHECK_EQ(http_parse_date("Sunday, 06-Nov-94 08:49:37 GMT", 30),
                784111777);
    WT_CHECK_EQ(http_parse_date("Sun Nov  6 08:49:37 1994", 24), 784111777);
    WT_CHECK_EQ(http_parse_date("Sun, 06 Nov 1994 08:49:37 XYZ", 29), -1);
    WT_CHECK_EQ(http_parse_date("Sun, 06 Foo 1994 08:49:37 GMT", 29), -1);
    WT_CHECK_EQ(http_parse_date("yesterday", 9), -1);
    WT_CHECK_EQ(http_parse_chunk_size("1a", 2), 26);
    WT_CHECK_EQ(http_parse_chunk_size("0;ext=1", 7), 0);
    WT_CHECK_EQ(http_parse_chunk_size("", 0), -1);
    WT_CHECK_EQ(http_parse_chunk_size("g", 1), -1);
    WT_CHECK_EQ(http_parse_chunk_size("ffffffffffffffffff", 18), -1);
}

/* A parsed head moved to a copy reads the same from the copy alone. */
WT_CASE(move_to_copy)
{
    char a[] = "PUT /x?y HTTP/1.1\r\nHost: h\r\nX-A: v\r\n"
               "Content-Length: 3\r\n\r\n";
    char b[sizeof a];
    struct http_request r;
    int len = parse(a, &r);
    WT_CHECK_EQ(len, (int)strlen(a));
    memcpy(b, a, sizeof a);
    http_request_move(&r, a, b);
    memset(a, '#', sizeof a - 1); /* the original is gone */
    size_t vl;
    WT_CHECK(eqs(r.method_str, r.method_len, "PUT"));
    WT_CHECK(eqs(r.target, r.target_len, "/x?y"));
    const char *v = http_header_get(&r, "x-a", &vl);
    WT_CHECK(v && eqs(v, vl, "v"));
    v = http_header_get(&r, "host", &vl);
    WT_CHECK(v && eqs(v, vl, "h"));
    WT_CHECK_EQ(r.content_length, 3);
}

/* Content-Length reads exactly up to 10^18, and as INT64_MAX past it. */
WT_CASE(length_saturates)
{
    static const struct {
        const char *v;
        int64_t x;
    } cases[] = {
        {"999999999999999999", INT64_C(999999999999999999)},
        {"1000000000000000000", INT64_C(1000000000000000000)},
        {"1000000000000000001", INT64_MAX},
        {"1000000000000000009", INT64_MAX},
        {"99999999999999999999999", INT64_MAX},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char req[128];
        snprintf(req, sizeof req,
                 "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %s\r\n\r\n",
                 cases[i].v);
        struct http_request r;
        WT_CHECK_EQ(parse(req, &r), (int)strlen(req));
        WT_CHECK_EQ(r.content_length, cases[i].x);
    }
}

/* Parse the file at dir/name as a head; returns the parser's result
 * (checked to be one it may give) and sets *len to the file's size. */
static int parse_file(const char *dir, const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    WT_CHECK(f != NULL);
    static char buf[1 << 16];
    *len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    struct http_request r;
    struct http_limits l = {256, 2048};
    int rc = http_parse_request(buf, *len, &l, &r);
    WT_CHECK(rc <= (int)*len);
    WT_CHECK(rc >= 0 || rc == -400 || rc == -414 || rc == -431 || rc == -501 ||
             rc == -505);
    char out[512];
    if (rc > 0) {
        WT_CHECK(r.target_len > 0 && r.target_len < (size_t)rc);
        (void)http_decode_path(r.target, r.target_len, out, sizeof out);
    }
    (void)http_decode_path(buf, *len, out, 64);
    return rc;
}

/* The fuzzer's inputs: those it once crashed on (crashes/, its README
 * aside) must parse without a crash, and so must the seed corpus
 * (corpus/), of which at least one is a whole valid request: a test
 * that reads nothing, or only junk, fails. */
WT_CASE(fuzz_regressions)
{
    const char *dirs[] = {WT_CRASH_DIR, WT_CORPUS_DIR};
    int crashes = 0, seeds = 0, valid = 0;
    for (int k = 0; k < 2; k++) {
        DIR *d = opendir(dirs[k]);
        WT_CHECK(d != NULL);
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.' || strcmp(e->d_name, "README") == 0)
                continue;
            size_t len;
            int rc = parse_file(dirs[k], e->d_name, &len);
            if (k == 0) {
                crashes++;
            } else {
                seeds++;
                valid += rc > 0;
            }
        }
        closedir(d);
    }
    printf("%d crash input(s), %d corpus input(s), %d valid\n", crashes, seeds,
           valid);
    WT_CHECK(seeds > 0);
    WT_CHECK(valid > 0);
}

WT_MAIN()
