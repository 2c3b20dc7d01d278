/* SPDX-License-Identifier: MIT */
/*
 * tools/trace_model.c - reads a weft trace file into a struct wtr_trace.
 *
 * The whole file is read into one buffer, which the JSON parser then works
 * on in place: a string is decoded over its own bytes (decoding never makes
 * it longer) and NUL-terminated where its closing quote was, so strings
 * cost no allocation while an event is converted.
 *
 * The parser is recursive descent with a depth limit (WTR_MAX_DEPTH), so no
 * input can exhaust the stack. It does not build a tree of the whole file:
 * a 1,000,000-event trace would need some 15 million nodes. Instead the
 * top-level object is walked member by member, and each element of
 * traceEvents is parsed into a small tree in an arena, converted into the
 * compact records of trace_int.h (slice, instant, flow end, track
 * metadata), and the arena is reset for the next one. Memory is thus the
 * file plus the compact arrays plus one event's tree.
 *
 * Line numbers for messages are counted while skipping white space (a JSON
 * string cannot hold a raw newline), and each tree node keeps the line it
 * started on, so a field of the wrong type is reported where it is.
 *
 * Strings that outlive the file buffer (names, end and reason) are interned
 * into one pool with an open-addressing table, so a million slices of the
 * same fiber share one copy and comparisons are integer ones.
 */
#define _POSIX_C_SOURCE 200809L /* fileno, fstat */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trace_int.h"

/* qsort, which may not be given a NULL array even when it is empty. */
static void sort_n(void *base, size_t n, size_t size,
                   int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(base, n, size, cmp);
}

/* ---- JSON trees in an arena -------------------------------------------- */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jnode {
    enum jtype type;
    int line;
    const char *key;    /* member name when inside an object */
    struct jnode *next; /* next element or member */
    union {
        double num;
        int boolean;
        struct {
            const char *s; /* NUL-terminated, in the file buffer */
            size_t len;
        } str;
        struct jnode *kids; /* first element or member */
    } u;
};

#define CHUNK_NODES 1024

struct chunk {
    struct chunk *next;
    struct jnode nodes[CHUNK_NODES];
};

/* Chunks are kept when the arena is reset and reused by the next event. */
struct arena {
    struct chunk *first, *cur;
    size_t used; /* nodes used in cur */
};

/* ---- the parse state --------------------------------------------------- */

struct tidmap {
    int32_t *tid;
    int32_t *idx; /* -1: empty slot */
    size_t cap;   /* power of two */
};

struct parser {
    char *p, *end; /* *end == '\0' */
    int line;
    const char *name;
    char *err;
    size_t errlen;
    int rc; /* the first error's code, 0 while all is well */
    struct arena ar;

    struct wtr_trace *t;
    size_t slices_cap, instants_cap, tracks_cap;
    struct tidmap tids;
    /* interning */
    size_t pool_len, pool_cap, str_cap;
    uint32_t *slots; /* id + 1, 0 empty */
    size_t slots_cap;
    /* flow ends before pairing */
    struct flow_end {
        int64_t id, ts;
        int32_t track;
        uint8_t start; /* 1: "s", 0: "f" */
    } * fends;
    size_t nfends, fends_cap;
};

static int fail(struct parser *ps, int line, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Records the first error: "NAME: line L: message". Returns rc. */
static int fail(struct parser *ps, int line, int rc, const char *fmt, ...)
{
    if (ps->rc)
        return ps->rc;
    ps->rc = rc;
    if (ps->errlen) {
        int n = snprintf(ps->err, ps->errlen, "%s: line %d: ", ps->name, line);
        if (n >= 0 && (size_t)n < ps->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return rc;
}

static int nomem(struct parser *ps)
{
    return fail(ps, ps->line, -ENOMEM, "out of memory");
}

static struct jnode *node_new(struct parser *ps, enum jtype type)
{
    struct arena *a = &ps->ar;
    if (!a->cur || a->used == CHUNK_NODES) {
        struct chunk *c = a->cur ? a->cur->next : a->first;
        if (!c) {
            c = malloc(sizeof *c);
            if (!c) {
                nomem(ps);
                return NULL;
            }
            c->next = NULL;
            if (a->cur)
                a->cur->next = c;
            else
                a->first = c;
        }
        a->cur = c;
        a->used = 0;
    }
    struct jnode *n = &a->cur->nodes[a->used++];
    memset(n, 0, sizeof *n);
    n->type = type;
    n->line = ps->line;
    return n;
}

static void arena_reset(struct arena *a)
{
    a->cur = NULL;
    a->used = 0;
}

static void arena_free(struct arena *a)
{
    struct chunk *c = a->first;
    while (c) {
        struct chunk *n = c->next;
        free(c);
        c = n;
    }
    a->first = a->cur = NULL;
}

/* ---- the JSON parser --------------------------------------------------- */

static void skip_ws(struct parser *ps)
{
    char *p = ps->p;
    for (;;) {
        char c = *p;
        if (c == ' ' || c == '\t' || c == '\r') {
            p++;
        } else if (c == '\n') {
            ps->line++;
            p++;
        } else {
            break;
        }
    }
    ps->p = p;
}

static bool at_end(const struct parser *ps)
{
    return ps->p >= ps->end;
}

/* What to call the character at p in a message. */
static const char *describe(const struct parser *ps, char *buf, size_t len)
{
    unsigned char c = (unsigned char)*ps->p;
    if (at_end(ps))
        return "end of file";
    if (c >= 0x21 && c < 0x7f)
        snprintf(buf, len, "'%c'", c);
    else
        snprintf(buf, len, "byte 0x%02x", c);
    return buf;
}

static int unexpected(struct parser *ps, const char *wanted)
{
    char b[16];
    if (at_end(ps))
        return fail(ps, ps->line, -EINVAL, "unexpected end of file, %s",
                    wanted);
    return fail(ps, ps->line, -EINVAL, "unexpected %s, %s",
                describe(ps, b, sizeof b), wanted);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int read_hex4(struct parser *ps, const char *r, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = r + i < ps->end ? hexval(r[i]) : -1;
        if (h < 0)
            return fail(ps, ps->line, -EINVAL,
                        "bad \\u escape in string (4 hex digits expected)");
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return 0;
}

static char *put_utf8(char *w, unsigned cp)
{
    if (cp < 0x80) {
        *w++ = (char)cp;
    } else if (cp < 0x800) {
        *w++ = (char)(0xc0 | cp >> 6);
        *w++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *w++ = (char)(0xe0 | cp >> 12);
        *w++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *w++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *w++ = (char)(0xf0 | cp >> 18);
        *w++ = (char)(0x80 | (cp >> 12 & 0x3f));
        *w++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *w++ = (char)(0x80 | (cp & 0x3f));
    }
    return w;
}

/* Parses the string starting at the opening quote at ps->p; decodes it in
 * place. Bytes above 0x7f are kept as they are (the SVG writer replaces
 * invalid UTF-8). */
static int parse_string(struct parser *ps, const char **s, size_t *len)
{
    char *r = ps->p + 1, *w = r, *start = r;
    for (;;) {
        if (r >= ps->end)
            return fail(ps, ps->line, -EINVAL,
                        "unexpected end of file inside a string");
        unsigned char c = (unsigned char)*r;
        if (c == '"')
            break;
        if (c < 0x20)
            return fail(ps, ps->line, -EINVAL,
                        "control character 0x%02x inside a string "
                        "(must be escaped)",
                        c);
        if (c != '\\') {
            *w++ = (char)c;
            r++;
            continue;
        }
        if (r + 1 >= ps->end)
            return fail(ps, ps->line, -EINVAL,
                        "unexpected end of file inside a string");
        char e = r[1];
        r += 2;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            *w++ = e;
            break;
        case 'b':
            *w++ = '\b';
            break;
        case 'f':
            *w++ = '\f';
            break;
        case 'n':
            *w++ = '\n';
            break;
        case 'r':
            *w++ = '\r';
            break;
        case 't':
            *w++ = '\t';
            break;
        case 'u': {
            unsigned cp = 0, lo = 0; /* set by read_hex4 when it succeeds */
            if (read_hex4(ps, r, &cp) < 0)
                return ps->rc;
            r += 4;
            if (cp >= 0xd800 && cp < 0xdc00) {
                /* A high surrogate: a low one should follow. */
                if (r + 1 < ps->end && r[0] == '\\' && r[1] == 'u') {
                    if (read_hex4(ps, r + 2, &lo) < 0)
                        return ps->rc;
                    if (lo >= 0xdc00 && lo < 0xe000) {
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        r += 6;
                    } else {
                        cp = 0xfffd;
                    }
                } else {
                    cp = 0xfffd;
                }
            } else if (cp >= 0xdc00 && cp < 0xe000) {
                cp = 0xfffd; /* a lone low surrogate */
            }
            if (cp == 0)
                return fail(ps, ps->line, -EINVAL,
                            "\\u0000 (NUL) inside a string is not supported");
            /* At most 4 bytes out for at least 6 read: w stays behind r. */
            w = put_utf8(w, cp);
            break;
        }
        default:
            return fail(
                ps, ps->line, -EINVAL, "bad escape '\\%c' in string",
                (unsigned char)e >= 0x21 && (unsigned char)e < 0x7f ? e : '?');
        }
    }
    *w = '\0'; /* w <= r: only bytes already read are overwritten */
    *s = start;
    *len = (size_t)(w - start);
    ps->p = r + 1;
    return 0;
}

/* An object member's name and its colon, at ps->p (after white space):
 * the name in *key, *klen. Returns 0, or ps->rc after the error. */
static int member_name(struct parser *ps, const char **key, size_t *klen)
{
    if (at_end(ps) || *ps->p != '"')
        return unexpected(ps, "a member name in quotes expected");
    if (parse_string(ps, key, klen) < 0)
        return ps->rc;
    skip_ws(ps);
    if (at_end(ps) || *ps->p != ':')
        return unexpected(ps, "':' expected after a member name");
    ps->p++;
    return 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int parse_number(struct parser *ps, double *out)
{
    char *p = ps->p, *start = p;
    if (*p == '-')
        p++;
    if (*p == '0') {
        p++;
    } else if (is_digit(*p)) {
        while (is_digit(*p))
            p++;
    } else {
        ps->p = p;
        return unexpected(ps, "a digit expected in a number");
    }
    if (*p == '.') {
        p++;
        if (!is_digit(*p)) {
            ps->p = p;
            return unexpected(ps, "a digit expected after '.'");
        }
        while (is_digit(*p))
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!is_digit(*p)) {
            ps->p = p;
            return unexpected(ps, "a digit expected in the exponent");
        }
        while (is_digit(*p))
            p++;
    }
    /* The grammar is checked; strtod reads exactly these bytes (the
     * character after them is not part of a number). The tools never call
     * setlocale, so the decimal point is '.'. */
    *out = strtod(start, NULL);
    ps->p = p;
    return 0;
}

static int parse_literal(struct parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return unexpected(ps, "a JSON value expected");
    ps->p += n;
    return 0;
}

static int parse_value(struct parser *ps, int depth, struct jnode **out);

/* Parses the members of an object or elements of an array after its
 * opening bracket. */
static int parse_container(struct parser *ps, int depth, struct jnode *n)
{
    bool obj = n->type == J_OBJ;
    char close = obj ? '}' : ']';
    struct jnode **tail = &n->u.kids;
    ps->p++;
    skip_ws(ps);
    if (*ps->p == close && !at_end(ps)) {
        ps->p++;
        return 0;
    }
    for (;;) {
        const char *key = NULL;
        size_t klen;
        struct jnode *kid;
        skip_ws(ps);
        if (obj) {
            if (member_name(ps, &key, &klen) < 0)
                return ps->rc;
        }
        if (parse_value(ps, depth + 1, &kid) < 0)
            return ps->rc;
        kid->key = key;
        *tail = kid;
        tail = &kid->next;
        skip_ws(ps);
        if (!at_end(ps) && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (!at_end(ps) && *ps->p == close) {
            ps->p++;
            return 0;
        }
        return unexpected(ps, obj ? "',' or '}' expected in an object"
                                  : "',' or ']' expected in an array");
    }
}

/* depth: the nesting level the value is at (top level 1). */
static int parse_value(struct parser *ps, int depth, struct jnode **out)
{
    struct jnode *n;
    skip_ws(ps);
    if (at_end(ps))
        return unexpected(ps, "a JSON value expected");
    char c = *ps->p;
    switch (c) {
    case '{':
    case '[':
        if (depth > WTR_MAX_DEPTH)
            return fail(ps, ps->line, -EINVAL, "nesting deeper than %d levels",
                        WTR_MAX_DEPTH);
        n = node_new(ps, c == '{' ? J_OBJ : J_ARR);
        if (!n)
            return ps->rc;
        *out = n;
        return parse_container(ps, depth, n);
    case '"':
        n = node_new(ps, J_STR);
        if (!n)
            return ps->rc;
        *out = n;
        return parse_string(ps, &n->u.str.s, &n->u.str.len);
    case 't':
    case 'f':
        n = node_new(ps, J_BOOL);
        if (!n)
            return ps->rc;
        *out = n;
        n->u.boolean = c == 't';
        return parse_literal(ps, c == 't' ? "true" : "false");
    case 'n':
        n = node_new(ps, J_NULL);
        if (!n)
            return ps->rc;
        *out = n;
        return parse_literal(ps, "null");
    default:
        if (c != '-' && !is_digit(c))
            return unexpected(ps, "a JSON value expected");
        n = node_new(ps, J_NUM);
        if (!n)
            return ps->rc;
        *out = n;
        return parse_number(ps, &n->u.num);
    }
}

/* ---- interning --------------------------------------------------------- */

static uint32_t hash_bytes(const char *s, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

static int intern_grow(struct parser *ps)
{
    struct wtr_trace *t = ps->t;
    size_t cap = ps->slots_cap ? ps->slots_cap * 2 : 1024;
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return nomem(ps);
    for (uint32_t id = 0; id < t->nstr; id++) {
        const char *s = wtr_str(t, id);
        size_t i = hash_bytes(s, strlen(s)) & (cap - 1);
        while (slots[i])
            i = (i + 1) & (cap - 1);
        slots[i] = id + 1;
    }
    free(ps->slots);
    ps->slots = slots;
    ps->slots_cap = cap;
    return 0;
}

/* The id of the string s (len bytes, no NUL inside), added if new. */
static int intern(struct parser *ps, const char *s, size_t len, uint32_t *id)
{
    struct wtr_trace *t = ps->t;
    if (len == 0) {
        *id = 0;
        return 0;
    }
    if ((t->nstr + 1) * 2 > ps->slots_cap && intern_grow(ps) < 0)
        return ps->rc;
    size_t i = hash_bytes(s, len) & (ps->slots_cap - 1);
    while (ps->slots[i]) {
        uint32_t k = ps->slots[i] - 1;
        const char *o = wtr_str(t, k);
        if (strncmp(o, s, len) == 0 && o[len] == '\0') {
            *id = k;
            return 0;
        }
        i = (i + 1) & (ps->slots_cap - 1);
    }
    if (ps->pool_len + len + 1 > UINT32_MAX || t->nstr == UINT32_MAX - 1)
        return fail(ps, ps->line, -EINVAL, "too many distinct strings");
    if (ps->pool_len + len + 1 > ps->pool_cap) {
        size_t cap = ps->pool_cap * 2 + len + 1;
        char *pool = realloc(t->pool, cap);
        if (!pool)
            return nomem(ps);
        t->pool = pool;
        ps->pool_cap = cap;
    }
    if (t->nstr == ps->str_cap) {
        size_t cap = ps->str_cap * 2;
        uint32_t *off = realloc(t->str_off, cap * sizeof *off);
        if (!off)
            return nomem(ps);
        t->str_off = off;
        ps->str_cap = cap;
    }
    memcpy(t->pool + ps->pool_len, s, len);
    t->pool[ps->pool_len + len] = '\0';
    t->str_off[t->nstr] = (uint32_t)ps->pool_len;
    ps->pool_len += len + 1;
    ps->slots[i] = t->nstr + 1;
    *id = t->nstr++;
    return 0;
}

/* ---- tracks ------------------------------------------------------------ */

static int track_of(struct parser *ps, int32_t tid, int32_t *out)
{
    struct wtr_trace *t = ps->t;
    struct tidmap *m = &ps->tids;
    if ((size_t)(t->ntracks + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        int32_t *tids = malloc(cap * sizeof *tids);
        int32_t *idx = malloc(cap * sizeof *idx);
        if (!tids || !idx) {
            free(tids);
            free(idx);
            return nomem(ps);
        }
        for (size_t i = 0; i < cap; i++)
            idx[i] = -1;
        for (int k = 0; k < t->ntracks; k++) {
            size_t i = ((uint32_t)t->tracks[k].tid * 2654435761u) & (cap - 1);
            while (idx[i] >= 0)
                i = (i + 1) & (cap - 1);
            tids[i] = t->tracks[k].tid;
            idx[i] = k;
        }
        free(m->tid);
        free(m->idx);
        m->tid = tids;
        m->idx = idx;
        m->cap = cap;
    }
    size_t i = ((uint32_t)tid * 2654435761u) & (m->cap - 1);
    while (m->idx[i] >= 0) {
        if (m->tid[i] == tid) {
            *out = m->idx[i];
            return 0;
        }
        i = (i + 1) & (m->cap - 1);
    }
    if ((size_t)t->ntracks == ps->tracks_cap) {
        size_t cap = ps->tracks_cap ? ps->tracks_cap * 2 : 16;
        struct wtr_track *tr = realloc(t->tracks, cap * sizeof *tr);
        if (!tr)
            return nomem(ps);
        t->tracks = tr;
        ps->tracks_cap = cap;
    }
    struct wtr_track *tr = &t->tracks[t->ntracks];
    memset(tr, 0, sizeof *tr);
    tr->tid = tid;
    tr->sort = tid;
    tr->worker = -1;
    if (tid >= 1 && tid < WTR_TID_IO) {
        tr->type = WTR_TRACK_WORKER;
        tr->worker = tid - 1;
    } else if (tid == WTR_TID_IO) {
        tr->type = WTR_TRACK_IO;
    } else if (tid >= WTR_TID_THREAD) {
        tr->type = WTR_TRACK_THREAD;
    } else {
        tr->type = WTR_TRACK_OTHER;
    }
    m->tid[i] = tid;
    m->idx[i] = t->ntracks;
    *out = t->ntracks++;
    return 0;
}

/* ---- converting one event ---------------------------------------------- */

static const struct jnode *member(const struct jnode *obj, const char *key)
{
    if (!obj || obj->type != J_OBJ)
        return NULL;
    const struct jnode *found = NULL;
    for (const struct jnode *k = obj->u.kids; k; k = k->next)
        if (strcmp(k->key, key) == 0)
            found = k; /* the last of duplicate members wins */
    return found;
}

static const char *type_name(enum jtype type)
{
    static const char *const names[] = {"null",     "a boolean", "a number",
                                        "a string", "an array",  "an object"};
    return names[type];
}

static int wrong_type(struct parser *ps, const struct jnode *n,
                      const char *where, const char *key, const char *want)
{
    return fail(ps, n->line, -EINVAL, "\"%s%s\" is %s, %s expected", where, key,
                type_name(n->type), want);
}

/* A number member; absent: *out = dflt, unless required. */
static int get_num(struct parser *ps, const struct jnode *obj,
                   const char *where, const char *key, bool required,
                   double dflt, double *out)
{
    const struct jnode *n = member(obj, key);
    if (!n) {
        if (required)
            return fail(ps, obj->line, -EINVAL, "missing \"%s%s\"", where, key);
        *out = dflt;
        return 0;
    }
    if (n->type != J_NUM)
        return wrong_type(ps, n, where, key, "a number");
    if (!isfinite(n->u.num))
        return fail(ps, n->line, -EINVAL, "\"%s%s\" is out of range", where,
                    key);
    *out = n->u.num;
    return 0;
}

/* An integer member within [lo, hi]. */
static int get_int(struct parser *ps, const struct jnode *obj,
                   const char *where, const char *key, bool required,
                   int64_t dflt, double lo, double hi, int64_t *out)
{
    double v;
    if (!required && !member(obj, key)) {
        *out = dflt;
        return 0;
    }
    if (get_num(ps, obj, where, key, true, 0, &v) < 0)
        return ps->rc;
    if (v < lo || v > hi || v != floor(v)) {
        const struct jnode *n = member(obj, key);
        return fail(ps, n ? n->line : obj->line, -EINVAL,
                    "\"%s%s\" is not an integer in [%.0f, %.0f]", where, key,
                    lo, hi);
    }
    *out = (int64_t)v;
    return 0;
}

/* A time in microseconds, stored as ns. A trace of 10^12 us (11 days) is
 * beyond what a tracer writes; the bound keeps sums of durations well
 * inside int64. */
static int get_time(struct parser *ps, const struct jnode *obj, const char *key,
                    bool negative_ok, int64_t *out)
{
    double v;
    if (get_num(ps, obj, "", key, true, 0, &v) < 0)
        return ps->rc;
    if (v > 1e12 || v < (negative_ok ? -1e12 : 0)) {
        const struct jnode *n = member(obj, key);
        return fail(ps, n->line, -EINVAL, "\"%s\" is out of range (%g us)", key,
                    v);
    }
    *out = llround(v * 1000.0);
    return 0;
}

/* A string member interned; absent: 0 (""). */
static int get_str(struct parser *ps, const struct jnode *obj,
                   const char *where, const char *key, uint32_t *id)
{
    const struct jnode *n = member(obj, key);
    *id = 0;
    if (!n)
        return 0;
    if (n->type != J_STR)
        return wrong_type(ps, n, where, key, "a string");
    if (strlen(n->u.str.s) != n->u.str.len)
        return fail(ps, n->line, -EINVAL, "NUL inside \"%s\"", key);
    return intern(ps, n->u.str.s, n->u.str.len, id);
}

/* The raw string of a member, NULL when absent; error if not a string. */
static int get_raw(struct parser *ps, const struct jnode *obj,
                   const char *where, const char *key, const char **s)
{
    const struct jnode *n = member(obj, key);
    *s = NULL;
    if (!n)
        return 0;
    if (n->type != J_STR)
        return wrong_type(ps, n, where, key, "a string");
    *s = n->u.str.s;
    return 0;
}

static int get_args(struct parser *ps, const struct jnode *ev,
                    const struct jnode **args)
{
    const struct jnode *a = member(ev, "args");
    *args = NULL;
    if (!a)
        return 0;
    if (a->type != J_OBJ)
        return wrong_type(ps, a, "", "args", "an object");
    *args = a;
    return 0;
}

static int grow(struct parser *ps, void **arr, size_t *cap, size_t n,
                size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 1024;
    void *p = realloc(*arr, c * size);
    if (!p)
        return nomem(ps);
    *arr = p;
    *cap = c;
    return 0;
}

static int get_tid(struct parser *ps, const struct jnode *ev, int32_t *track)
{
    int64_t tid;
    if (get_int(ps, ev, "", "tid", true, 0, -2147483648.0, 2147483647.0, &tid) <
        0)
        return ps->rc;
    return track_of(ps, (int32_t)tid, track);
}

static int add_slice(struct parser *ps, const struct jnode *ev)
{
    struct wtr_trace *t = ps->t;
    const struct jnode *args;
    const char *cat;
    struct wtr_slice s;
    memset(&s, 0, sizeof s);
    s.id = -1;
    s.res = -1;
    if (get_time(ps, ev, "ts", true, &s.ts) < 0 ||
        get_time(ps, ev, "dur", false, &s.dur) < 0 ||
        get_tid(ps, ev, &s.track) < 0 || get_raw(ps, ev, "", "cat", &cat) < 0 ||
        get_str(ps, ev, "", "name", &s.name) < 0 || get_args(ps, ev, &args) < 0)
        return ps->rc;
    cat = cat ? cat : "";
    if (strcmp(cat, "fiber") == 0) {
        s.kind = WTR_FIBER;
        if (args && (get_int(ps, args, "args.", "fiber", false, -1, -1, 9.0e15,
                             &s.id) < 0 ||
                     get_str(ps, args, "args.", "name", &s.label) < 0 ||
                     get_str(ps, args, "args.", "end", &s.end) < 0 ||
                     get_str(ps, args, "args.", "reason", &s.reason) < 0))
            return ps->rc;
    } else if (strcmp(cat, "task") == 0) {
        s.kind = WTR_TASK;
        if (args && get_int(ps, args, "args.", "tasks", false, -1, -1, 9.0e15,
                            &s.id) < 0)
            return ps->rc;
    } else if (strcmp(cat, "io") == 0) {
        s.kind = WTR_IO;
        if (args && (get_int(ps, args, "args.", "fd", false, -1, -9.0e15,
                             9.0e15, &s.id) < 0 ||
                     get_int(ps, args, "args.", "res", false, -1, -9.0e15,
                             9.0e15, &s.res) < 0))
            return ps->rc;
    } else if (strcmp(cat, "idle") == 0) {
        s.kind = WTR_IDLE;
    } else if (strcmp(cat, "span") == 0) {
        s.kind = WTR_SPAN;
    } else {
        s.kind = WTR_OTHER;
    }
    if (grow(ps, (void **)&t->slices, &ps->slices_cap, t->nslices, sizeof s) <
        0)
        return ps->rc;
    t->slices[t->nslices++] = s;
    return 0;
}

static int add_instant(struct parser *ps, const struct jnode *ev)
{
    struct wtr_trace *t = ps->t;
    const struct jnode *args;
    const char *cat;
    struct wtr_instant in;
    memset(&in, 0, sizeof in);
    in.arg = -1;
    if (get_time(ps, ev, "ts", true, &in.ts) < 0 ||
        get_tid(ps, ev, &in.track) < 0 ||
        get_raw(ps, ev, "", "cat", &cat) < 0 ||
        get_str(ps, ev, "", "name", &in.name) < 0 ||
        get_args(ps, ev, &args) < 0)
        return ps->rc;
    cat = cat ? cat : "";
    if (strcmp(cat, "mark") == 0) {
        in.cat = WTR_I_MARK;
    } else if (strcmp(cat, "steal") == 0) {
        in.cat = WTR_I_STEAL;
        if (args &&
            get_int(ps, args, "args.", "from", false, -1, -1, 1e9, &in.arg) < 0)
            return ps->rc;
    } else if (strcmp(cat, "timer") == 0) {
        in.cat = WTR_I_TIMER;
    } else if (strcmp(cat, "spawn") == 0) {
        in.cat = WTR_I_SPAWN;
        if (args && get_int(ps, args, "args.", "fiber", false, -1, -1, 9.0e15,
                            &in.arg) < 0)
            return ps->rc;
    } else {
        in.cat = WTR_I_OTHER;
    }
    if (grow(ps, (void **)&t->instants, &ps->instants_cap, t->ninstants,
             sizeof in) < 0)
        return ps->rc;
    t->instants[t->ninstants++] = in;
    return 0;
}

static int add_flow_end(struct parser *ps, const struct jnode *ev, int start)
{
    struct flow_end fe;
    const struct jnode *idn = member(ev, "id");
    memset(&fe, 0, sizeof fe);
    fe.start = (uint8_t)start;
    if (get_time(ps, ev, "ts", true, &fe.ts) < 0 ||
        get_tid(ps, ev, &fe.track) < 0)
        return ps->rc;
    if (!idn)
        return fail(ps, ev->line, -EINVAL, "flow event without \"id\"");
    if (idn->type == J_STR) {
        /* Chrome allows string ids: give them ids of their own below 0. */
        uint32_t sid;
        if (intern(ps, idn->u.str.s, strlen(idn->u.str.s), &sid) < 0)
            return ps->rc;
        fe.id = -1 - (int64_t)sid;
    } else if (get_int(ps, ev, "", "id", true, 0, 0, 9.0e15, &fe.id) < 0) {
        return ps->rc;
    }
    if (grow(ps, (void **)&ps->fends, &ps->fends_cap, ps->nfends, sizeof fe) <
        0)
        return ps->rc;
    ps->fends[ps->nfends++] = fe;
    return 0;
}

static int add_meta(struct parser *ps, const struct jnode *ev)
{
    const char *name;
    const struct jnode *args;
    int32_t track;
    if (get_raw(ps, ev, "", "name", &name) < 0 || get_args(ps, ev, &args) < 0)
        return ps->rc;
    if (!name || !args)
        return 0;
    if (strcmp(name, "thread_name") == 0) {
        uint32_t id;
        if (get_tid(ps, ev, &track) < 0 ||
            get_str(ps, args, "args.", "name", &id) < 0)
            return ps->rc;
        ps->t->tracks[track].name = id;
    } else if (strcmp(name, "thread_sort_index") == 0) {
        int64_t v;
        if (get_tid(ps, ev, &track) < 0 ||
            get_int(ps, args, "args.", "sort_index", true, 0, -2147483648.0,
                    2147483647.0, &v) < 0)
            return ps->rc;
        ps->t->tracks[track].sort = (int32_t)v;
    }
    return 0;
}

static int add_event(struct parser *ps, const struct jnode *ev)
{
    const char *ph;
    ps->t->events++;
    if (ev->type != J_OBJ)
        return fail(ps, ev->line, -EINVAL,
                    "trace event is %s, an object expected",
                    type_name(ev->type));
    if (get_raw(ps, ev, "", "ph", &ph) < 0)
        return ps->rc;
    if (!ph)
        return fail(ps, ev->line, -EINVAL, "trace event without \"ph\"");
    if (strcmp(ph, "X") == 0)
        return add_slice(ps, ev);
    if (strcmp(ph, "i") == 0 || strcmp(ph, "I") == 0)
        return add_instant(ps, ev);
    if (strcmp(ph, "s") == 0)
        return add_flow_end(ps, ev, 1);
    if (strcmp(ph, "f") == 0)
        return add_flow_end(ps, ev, 0);
    if (strcmp(ph, "M") == 0)
        return add_meta(ps, ev);
    ps->t->ignored++;
    return 0;
}

static int read_other(struct parser *ps, const struct jnode *o)
{
    struct wtr_trace *t = ps->t;
    int64_t v;
    if (o->type != J_OBJ)
        return wrong_type(ps, o, "", "otherData", "an object");
    t->has_other = 1;
    if (get_int(ps, o, "otherData.", "workers", false, -1, 0, 998, &v) < 0)
        return ps->rc;
    t->other_workers = v;
    if (get_int(ps, o, "otherData.", "dropped", false, -1, 0, 9.0e15, &v) < 0)
        return ps->rc;
    t->dropped = v;
    if (get_int(ps, o, "otherData.", "events", false, -1, 0, 9.0e15, &v) < 0)
        return ps->rc;
    t->events_said = v;
    return 0;
}

/* traceEvents: each element is parsed, converted and forgotten. */
static int parse_events(struct parser *ps)
{
    int line = ps->line;
    skip_ws(ps);
    if (at_end(ps) || *ps->p != '[') {
        struct jnode *n;
        if (parse_value(ps, 2, &n) < 0)
            return ps->rc;
        return fail(ps, line, -EINVAL,
                    "\"traceEvents\" is %s, an array "
                    "expected",
                    type_name(n->type));
    }
    ps->p++;
    skip_ws(ps);
    if (!at_end(ps) && *ps->p == ']') {
        ps->p++;
        return 0;
    }
    for (;;) {
        struct jnode *ev;
        arena_reset(&ps->ar);
        if (parse_value(ps, 3, &ev) < 0 || add_event(ps, ev) < 0)
            return ps->rc;
        skip_ws(ps);
        if (!at_end(ps) && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (!at_end(ps) && *ps->p == ']') {
            ps->p++;
            return 0;
        }
        return unexpected(ps, "',' or ']' expected in traceEvents");
    }
}

static int parse_top(struct parser *ps)
{
    skip_ws(ps);
    if (at_end(ps))
        return fail(ps, ps->line, -EINVAL,
                    "empty file, a JSON object "
                    "with \"traceEvents\" expected");
    if (*ps->p == '[') {
        /* The bare array form: the events alone. */
        if (parse_events(ps) < 0)
            return ps->rc;
    } else if (*ps->p == '{') {
        bool seen = false;
        ps->p++;
        skip_ws(ps);
        if (!at_end(ps) && *ps->p == '}') {
            ps->p++;
        } else {
            for (;;) {
                const char *key;
                size_t klen;
                skip_ws(ps);
                if (member_name(ps, &key, &klen) < 0)
                    return ps->rc;
                if (strcmp(key, "traceEvents") == 0) {
                    if (parse_events(ps) < 0)
                        return ps->rc;
                    seen = true;
                } else {
                    struct jnode *n;
                    arena_reset(&ps->ar);
                    if (parse_value(ps, 2, &n) < 0)
                        return ps->rc;
                    if (strcmp(key, "otherData") == 0 && read_other(ps, n) < 0)
                        return ps->rc;
                }
                skip_ws(ps);
                if (!at_end(ps) && *ps->p == ',') {
                    ps->p++;
                    continue;
                }
                if (!at_end(ps) && *ps->p == '}') {
                    ps->p++;
                    break;
                }
                return unexpected(ps, "',' or '}' expected in an object");
            }
        }
        if (!seen)
            return fail(ps, ps->line, -EINVAL,
                        "no \"traceEvents\" member: not a trace file");
    } else {
        return unexpected(ps, "a JSON object with \"traceEvents\" expected");
    }
    skip_ws(ps);
    if (!at_end(ps))
        return unexpected(ps, "nothing expected after the trace");
    return 0;
}

/* ---- after the parse: pair flows, order tracks and events -------------- */

static int cmp_fend(const void *a, const void *b)
{
    const struct flow_end *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    if (x->start != y->start)
        return x->start > y->start ? -1 : 1; /* "s" first */
    return x->ts < y->ts ? -1 : x->ts > y->ts;
}

static int pair_flows(struct parser *ps)
{
    struct wtr_trace *t = ps->t;
    if (!ps->nfends)
        return 0;
    sort_n(ps->fends, ps->nfends, sizeof *ps->fends, cmp_fend);
    t->flows = malloc(ps->nfends / 2 * sizeof *t->flows + 1);
    if (!t->flows)
        return nomem(ps);
    for (size_t i = 0; i < ps->nfends;) {
        struct flow_end *a = &ps->fends[i];
        if (i + 1 < ps->nfends && a->start && !a[1].start && a[1].id == a->id) {
            struct wtr_flow *f = &t->flows[t->nflows++];
            f->ts0 = a->ts;
            f->track0 = a->track;
            f->ts1 = a[1].ts;
            f->track1 = a[1].track;
            i += 2;
        } else {
            t->unpaired_flows++;
            i++;
        }
    }
    return 0;
}

static int group_of(const struct wtr_track *tr)
{
    return tr->type; /* workers, I/O, threads, others */
}

static int cmp_track(const void *a, const void *b)
{
    const struct wtr_track *x = a, *y = b;
    if (group_of(x) != group_of(y))
        return group_of(x) - group_of(y);
    if (x->type == WTR_TRACK_WORKER)
        return x->worker - y->worker;
    if (x->sort != y->sort)
        return x->sort < y->sort ? -1 : 1;
    return x->tid < y->tid ? -1 : x->tid > y->tid;
}

static int cmp_slice(const void *a, const void *b)
{
    const struct wtr_slice *x = a, *y = b;
    if (x->track != y->track)
        return x->track < y->track ? -1 : 1;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    if (x->dur != y->dur)
        return x->dur > y->dur ? -1 : 1; /* an enclosing span first */
    return 0;
}

static int cmp_instant(const void *a, const void *b)
{
    const struct wtr_instant *x = a, *y = b;
    if (x->track != y->track)
        return x->track < y->track ? -1 : 1;
    return x->ts < y->ts ? -1 : x->ts > y->ts;
}

/* Adds the empty worker tracks otherData.workers promises (so that every
 * worker has its lane), sorts tracks and renumbers the events' tracks. */
static int finish(struct parser *ps)
{
    struct wtr_trace *t = ps->t;
    int32_t dummy;
    int maxw = (int)(t->other_workers > 0 ? t->other_workers : 0);
    for (int k = 0; k < t->ntracks; k++)
        if (t->tracks[k].type == WTR_TRACK_WORKER &&
            t->tracks[k].worker + 1 > maxw)
            maxw = t->tracks[k].worker + 1;
    for (int w = 0; w < maxw; w++)
        if (track_of(ps, w + 1, &dummy) < 0)
            return ps->rc;
    t->nworkers = maxw;

    /* Sort the tracks, remembering where each went. */
    int n = t->ntracks;
    int32_t *newidx = malloc((size_t)n * sizeof *newidx + 1);
    struct wtr_track *sorted = malloc((size_t)n * sizeof *sorted + 1);
    if (!newidx || !sorted) {
        free(newidx);
        free(sorted);
        return nomem(ps);
    }
    if (n)
        memcpy(sorted, t->tracks, (size_t)n * sizeof *sorted);
    for (int k = 0; k < n; k++)
        sorted[k].first = (size_t)k; /* the old index, for the mapping */
    sort_n(sorted, (size_t)n, sizeof *sorted, cmp_track);
    for (int k = 0; k < n; k++) {
        newidx[sorted[k].first] = k;
        sorted[k].first = sorted[k].count = 0;
    }
    free(t->tracks);
    t->tracks = sorted;
    for (size_t i = 0; i < t->nslices; i++)
        t->slices[i].track = newidx[t->slices[i].track];
    for (size_t i = 0; i < t->ninstants; i++)
        t->instants[i].track = newidx[t->instants[i].track];
    for (size_t i = 0; i < t->nflows; i++) {
        t->flows[i].track0 = newidx[t->flows[i].track0];
        t->flows[i].track1 = newidx[t->flows[i].track1];
    }
    free(newidx);

    sort_n(t->slices, t->nslices, sizeof *t->slices, cmp_slice);
    sort_n(t->instants, t->ninstants, sizeof *t->instants, cmp_instant);
    for (size_t i = 0; i < t->nslices; i++) {
        struct wtr_track *tr = &t->tracks[t->slices[i].track];
        if (!tr->count)
            tr->first = i;
        tr->count++;
    }
    for (size_t i = 0; i < t->ninstants; i++) {
        struct wtr_track *tr = &t->tracks[t->instants[i].track];
        if (!tr->icount)
            tr->ifirst = i;
        tr->icount++;
    }

    /* The span. */
    bool any = false;
    int64_t t0 = 0, t1 = 0;
#define SEE(a, b)             \
    do {                      \
        if (!any || (a) < t0) \
            t0 = (a);         \
        if (!any || (b) > t1) \
            t1 = (b);         \
        any = true;           \
    } while (0)
    for (size_t i = 0; i < t->nslices; i++)
        SEE(t->slices[i].ts, t->slices[i].ts + t->slices[i].dur);
    for (size_t i = 0; i < t->ninstants; i++)
        SEE(t->instants[i].ts, t->instants[i].ts);
    for (size_t i = 0; i < t->nflows; i++) {
        SEE(t->flows[i].ts0, t->flows[i].ts0);
        SEE(t->flows[i].ts1, t->flows[i].ts1);
    }
#undef SEE
    t->t0 = t0;
    t->t1 = t1;

    uint32_t park = 0;
    const char *kpark = "park";
    size_t i = hash_bytes(kpark, 4) & (ps->slots_cap - 1);
    while (ps->slots_cap && ps->slots[i]) {
        if (strcmp(wtr_str(t, ps->slots[i] - 1), kpark) == 0) {
            park = ps->slots[i] - 1;
            break;
        }
        i = (i + 1) & (ps->slots_cap - 1);
    }
    t->s_park = park;
    return 0;
}

/* ---- loading ----------------------------------------------------------- */

/* Parses buf (len bytes, buf[len] == '\0'), which it modifies. */
static int load_buffer(const char *name, char *buf, size_t len,
                       struct wtr_trace **out, char *err, size_t errlen)
{
    struct parser ps;
    struct wtr_trace *t = calloc(1, sizeof *t);
    memset(&ps, 0, sizeof ps);
    ps.p = buf;
    ps.end = buf + len;
    ps.line = 1;
    ps.name = name;
    ps.err = err;
    ps.errlen = errlen;
    if (!t)
        return fail(&ps, 1, -ENOMEM, "out of memory");
    ps.t = t;
    t->other_workers = t->dropped = t->events_said = -1;
    /* String 0 is "". */
    ps.pool_cap = 4096;
    ps.str_cap = 256;
    t->pool = malloc(ps.pool_cap);
    t->str_off = malloc(ps.str_cap * sizeof *t->str_off);
    if (!t->pool || !t->str_off) {
        nomem(&ps);
        goto out;
    }
    t->pool[0] = '\0';
    t->str_off[0] = 0;
    ps.pool_len = 1;
    t->nstr = 1;
    if (intern_grow(&ps) < 0 || parse_top(&ps) < 0 || pair_flows(&ps) < 0 ||
        finish(&ps) < 0)
        goto out;
out:
    arena_free(&ps.ar);
    free(ps.slots);
    free(ps.tids.tid);
    free(ps.tids.idx);
    free(ps.fends);
    if (ps.rc) {
        wtr_free(t);
        *out = NULL;
        return ps.rc;
    }
    *out = t;
    return 0;
}

static int io_error(const char *name, int e, char *err, size_t errlen)
{
    if (errlen)
        snprintf(err, errlen, "%s: %s", name, strerror(e));
    return -e;
}

int wtr_load(const char *path, struct wtr_trace **out, char *err, size_t errlen)
{
    bool std = strcmp(path, "-") == 0;
    FILE *f = std ? stdin : fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0, hint = 0;
    int rc;
    *out = NULL;
    if (!f)
        return io_error(path, errno, err, errlen);
    /* Size the buffer from the file's length where it has one. */
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            rc = io_error(path, EISDIR, err, errlen);
            goto out;
        }
        if (S_ISREG(sb.st_mode) && sb.st_size > 0)
            hint = (size_t)sb.st_size + 1;
    }
    for (;;) {
        if (len + 1 >= cap) {
            size_t c = cap ? cap * 2 : hint > 65536 ? hint : 65536;
            char *b = realloc(buf, c);
            if (!b) {
                rc = io_error(path, ENOMEM, err, errlen);
                goto out;
            }
            buf = b;
            cap = c;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        rc = io_error(path, errno ? errno : EIO, err, errlen);
        goto out;
    }
    buf[len] = '\0';
    rc = load_buffer(path, buf, len, out, err, errlen);
out:
    free(buf);
    if (!std)
        fclose(f);
    return rc;
}

int wtr_load_mem(const char *name, const char *text, size_t len,
                 struct wtr_trace **out, char *err, size_t errlen)
{
    char *buf = malloc(len + 1);
    *out = NULL;
    if (!buf)
        return io_error(name, ENOMEM, err, errlen);
    if (len)
        memcpy(buf, text, len);
    buf[len] = '\0';
    int rc = load_buffer(name, buf, len, out, err, errlen);
    free(buf);
    return rc;
}

void wtr_free(struct wtr_trace *t)
{
    if (!t)
        return;
    free(t->tracks);
    free(t->slices);
    free(t->instants);
    free(t->flows);
    free(t->pool);
    free(t->str_off);
    free(t);
}

const char *wtr_kind_name(enum wtr_kind k)
{
    static const char *const names[WTR_NKINDS] = {"fiber", "task", "io",
                                                  "idle",  "span", "other"};
    return (unsigned)k < WTR_NKINDS ? names[k] : "other";
}

void wtr_format_ns(char *buf, size_t len, int64_t ns)
{
    int64_t a = ns < 0 ? -ns : ns;
    if (a < 1000)
        snprintf(buf, len, "%lld ns", (long long)ns);
    else if (a < 1000000)
        snprintf(buf, len, "%.3f us", (double)ns / 1e3);
    else if (a < 1000000000)
        snprintf(buf, len, "%.3f ms", (double)ns / 1e6);
    else
        snprintf(buf, len, "%.3f s", (double)ns / 1e9);
}
