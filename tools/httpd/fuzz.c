/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target of weft-httpd's request parser: every function of
 * http_parse.h on the input, with the properties the server relies on
 * checked (a head's length within the input, pointers inside it, a
 * decoded path that cannot climb out of the root, ranges inside the
 * file). A violated property aborts, which libFuzzer reports as a crash.
 */
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

#define CHECK(c)     \
    do {             \
        if (!(c))    \
            abort(); \
    } while (0)

static void inside(const char *p, size_t n, const char *b, size_t len)
{
    CHECK(p >= b || n <= 1); /* "/" for an absolute-form target */
    if (p >= b)
        CHECK(p + n <= b + len);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    /* a copy of exactly `size` bytes: reads past it are ASan's to see */
    char *b = malloc(size ? size : 1);
    if (!b)
        return 0;
    memcpy(b, data, size);
    struct http_limits lim = {256, 2048};
    struct http_request r;
    int n = http_parse_request(b, size, &lim, &r);
    CHECK(n <= (int)size && n <= (int)lim.max_head);
    if (n > 0) {
        CHECK(r.minor == 0 || r.minor == 1);
        CHECK(r.nheaders <= HTTP_MAX_HEADERS);
        inside(r.target, r.target_len, b, size);
        for (size_t i = 0; i < r.nheaders; i++) {
            inside(r.headers[i].name, r.headers[i].name_len, b, size);
            inside(r.headers[i].value, r.headers[i].value_len, b, size);
            CHECK(r.headers[i].name_len > 0);
        }
        char path[512];
        int pl = http_decode_path(r.target, r.target_len, path, sizeof path);
        if (pl >= 0) {
            CHECK((size_t)pl == strlen(path) && path[0] == '/');
            CHECK(!strstr(path, "/../") && !strstr(path, "/./"));
            CHECK(strcmp(path + (pl >= 3 ? pl - 3 : 0), "/..") != 0);
            CHECK(strcmp(path + (pl >= 2 ? pl - 2 : 0), "/.") != 0);
        }
        size_t vl;
        const char *v = http_header_get(&r, "range", &vl);
        if (v) {
            int64_t first, last;
            for (int64_t fs = 0; fs < 3000; fs = fs * 3 + 1) {
                int rr = http_parse_range(v, vl, fs, &first, &last);
                CHECK(rr == 1 || rr == 0 || rr == -416);
                if (rr == 1)
                    CHECK(first >= 0 && first <= last && last < fs);
            }
        }
        v = http_header_get(&r, "if-modified-since", &vl);
        if (v)
            (void)http_parse_date(v, vl);
    } else {
        CHECK(n == HTTP_INCOMPLETE || n == -400 || n == -414 || n == -431 ||
              n == -501 || n == -505);
    }
    /* the helpers on the raw input too */
    char path[64];
    int pl = http_decode_path(b, size, path, sizeof path);
    CHECK(pl < (int)sizeof path);
    (void)http_parse_date(b, size);
    (void)http_parse_chunk_size(b, size);
    int64_t first, last;
    if (http_parse_range(b, size, 100, &first, &last) == 1)
        CHECK(first >= 0 && first <= last && last < 100);
    free(b);
    return 0;
}
