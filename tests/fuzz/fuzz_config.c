/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_config.c - the WEFT_* variable parser (src/core/config.c,
 * through wf__config_parse) against a reference parser written here from
 * the forms that config.c's header and README.md state.
 *
 * Input: the first byte picks the variable (modulo the table's size), the
 * rest is the value (cut at a NUL). Checked for every input:
 *   - the parser accepts exactly the values the reference accepts (its
 *     signal names are the C library's, sigabbrev_np, not a copy of
 *     config.c's table), and
 *     stores the value the reference computes (-1 for an "off" value);
 *   - an accepted value writes nothing on stderr; a refused one writes
 *     exactly one line, "weft: NAME=...: expected ...\n";
 *   - an accepted value written back in a canonical form (decimal, with
 *     "ns" for durations, the name for WEFT_IO) is accepted again with the
 *     same result, and so is the value with its letters' case swapped.
 */
#include "fuzz.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/config.h"

enum kind { COUNT, POW2, SIZE, DURATION, BOOLEAN, NAME, SIGNAL, PATH };

/* The reference: each variable's kind and range, from README.md's table. */
static const struct ref {
    const char *name;
    enum kind kind;
    int64_t min, max;
    bool zero_is_off;
    int64_t unit;
} refs[] = {
    {"WEFT_WORKERS", COUNT, 1, 4096, false, 0},
    {"WEFT_STACK_SIZE", SIZE, 1, INT64_C(1) << 30, false, 0},
    {"WEFT_TASK_STACK_SIZE", SIZE, INT64_C(64) << 10, INT64_C(64) << 30, false,
     0},
    {"WEFT_GUARDED_STACKS", COUNT, -1, INT64_C(1) << 30, true, 0},
    {"WEFT_STALL_MS", DURATION, WF_MSEC, 3600 * WF_SEC, true, WF_MSEC},
    {"WEFT_DEBUG_MIGRATE", BOOLEAN, 0, 1, false, 0},
    {"WEFT_IO", NAME, 0, 2, false, 0},
    {"WEFT_IO_RINGS", BOOLEAN, 0, 1, false, 0},
    {"WEFT_IO_MSHOT", BOOLEAN, 0, 1, false, 0},
    {"WEFT_IO_MSHOT_BUFS", POW2, 1, 32768, false, 0},
    {"WEFT_BLOCKING_THREADS", COUNT, 1, 4096, false, 0},
    {"WEFT_DUMP_SIGNAL", SIGNAL, 1, 64, true, 0},
    {"WEFT_DEADLOCK_MS", DURATION, WF_MSEC, 3600 * WF_SEC, true, WF_MSEC},
    {"WEFT_TRACE", PATH, 0, 0, false, 0},
    {"WEFT_TRACE_EVENTS", COUNT, 16, 268435456, false, 0},
};
#define NREFS (sizeof refs / sizeof refs[0])

static const char *const io_names[] = {"auto", "epoll", "uring"};

static int low(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static bool eq_nocase(const char *a, const char *b)
{
    while (*a && *b && low((unsigned char)*a) == low((unsigned char)*b)) {
        a++;
        b++;
    }
    return !*a && !*b;
}

/* Unsigned decimal digits at *s, at least one, fitting int64_t. */
static bool ref_digits(const char **s, int64_t *v)
{
    const char *p = *s;
    uint64_t acc = 0;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t d = (uint64_t)(*p - '0');
        /* Checked before the step: acc * 10 + d could wrap (2^64 wraps
         * to 0, which the reference then took for zero). */
        if (acc > ((uint64_t)INT64_MAX - d) / 10)
            return false;
        acc = acc * 10 + d;
    }
    *s = p;
    *v = (int64_t)acc;
    return true;
}

static bool ref_mul(int64_t v, int64_t m, int64_t *out)
{
    if (m != 0 && v > INT64_MAX / m)
        return false;
    *out = v * m;
    return true;
}

static bool ref_signal_ok(int64_t sig)
{
    static const int bad[] = {SIGKILL, SIGSTOP, SIGSEGV, SIGBUS,
                              SIGILL,  SIGFPE,  SIGABRT};
    if (sig < 1 || sig > 64 || sig > SIGRTMAX)
        return false;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (sig == bad[i])
            return false;
    return !(sig > SIGSYS && sig < SIGRTMIN);
}

/* The signal called `name` (without SIG, either case), 0 for none: the C
 * library's names of the signals below the real-time ones
 * (sigabbrev_np), and IO, Linux's other name of POLL. */
static int ref_signal_named(const char *name)
{
    if (eq_nocase(name, "io"))
        return SIGIO;
    for (int sig = 1; sig < SIGRTMIN; sig++) {
        const char *n = sigabbrev_np(sig);
        if (n && eq_nocase(name, n))
            return sig;
    }
    return 0;
}

/* What the reference makes of s: false (refused) or the stored value. */
static bool ref_parse(const struct ref *r, const char *s, int64_t *out)
{
    int64_t v = 0;
    switch (r->kind) {
    case COUNT: {
        bool neg = *s == '-';
        if (neg)
            s++;
        if (!ref_digits(&s, &v) || *s)
            return false;
        if (neg)
            v = -v;
        break;
    }
    case POW2: /* a count that is a power of two */
        if (*s == '-' || !ref_digits(&s, &v) || *s)
            return false;
        for (int64_t rest = v; rest > 1; rest /= 2)
            if (rest % 2)
                return false; /* an odd factor */
        if (v == 0)
            return false;
        break;
    case SIZE: {
        int64_t mul = 1;
        if (!ref_digits(&s, &v))
            return false;
        int c = low((unsigned char)*s);
        if (c == 'k' || c == 'm' || c == 'g') {
            mul = INT64_C(1) << (c == 'k' ? 10 : c == 'm' ? 20 : 30);
            s++;
            if (eq_nocase(s, "ib") || eq_nocase(s, "b"))
                s += strlen(s);
        } else if (eq_nocase(s, "b")) {
            s++;
        }
        if (*s || !ref_mul(v, mul, &v))
            return false;
        break;
    }
    case DURATION: {
        int64_t unit = r->unit;
        if (!ref_digits(&s, &v))
            return false;
        if (*s) {
            if (eq_nocase(s, "ns"))
                unit = 1;
            else if (eq_nocase(s, "us"))
                unit = WF_USEC;
            else if (eq_nocase(s, "ms"))
                unit = WF_MSEC;
            else if (eq_nocase(s, "s"))
                unit = WF_SEC;
            else
                return false;
        }
        if (!ref_mul(v, unit, &v))
            return false;
        break;
    }
    case BOOLEAN: {
        static const char *const t[] = {"1", "true", "yes", "on"};
        static const char *const f[] = {"0", "false", "no", "off"};
        for (int i = 0; i < 4; i++) {
            if (eq_nocase(s, t[i]) || eq_nocase(s, f[i])) {
                *out = eq_nocase(s, t[i]);
                return true;
            }
        }
        return false;
    }
    case NAME:
        for (int i = 0; i < 3; i++) {
            if (eq_nocase(s, io_names[i])) {
                *out = i;
                return true;
            }
        }
        return false;
    case SIGNAL: {
        if (eq_nocase(s, "off") || eq_nocase(s, "none")) {
            *out = -1;
            return true;
        }
        if (*s >= '0' && *s <= '9') {
            if (!ref_digits(&s, &v) || *s)
                return false;
        } else {
            if (low((unsigned char)s[0]) == 's' &&
                low((unsigned char)s[1]) == 'i' &&
                low((unsigned char)s[2]) == 'g')
                s += 3;
            v = ref_signal_named(s);
            if (v == 0)
                return false;
        }
        if (v == 0) {
            *out = -1;
            return true;
        }
        if (!ref_signal_ok(v))
            return false;
        *out = v;
        return true;
    }
    case PATH:
        *out = 0;
        return true;
    }
    if (v == 0 && r->zero_is_off) {
        *out = -1;
        return true;
    }
    *out = v;
    return v >= r->min && v <= r->max;
}

/* The field of e that r's variable sets, widened. */
static int64_t field(const struct ref *r, const struct wf__env *e)
{
    const char *n = r->name;
    if (!strcmp(n, "WEFT_WORKERS"))
        return e->workers;
    if (!strcmp(n, "WEFT_STACK_SIZE"))
        return (int64_t)e->stack_size;
    if (!strcmp(n, "WEFT_TASK_STACK_SIZE"))
        return (int64_t)e->task_stack_size;
    if (!strcmp(n, "WEFT_GUARDED_STACKS"))
        return e->guarded_stacks;
    if (!strcmp(n, "WEFT_STALL_MS"))
        return e->stall_ns;
    if (!strcmp(n, "WEFT_DEBUG_MIGRATE"))
        return e->debug_migrate;
    if (!strcmp(n, "WEFT_IO"))
        return e->io;
    if (!strcmp(n, "WEFT_IO_RINGS"))
        return e->io_rings;
    if (!strcmp(n, "WEFT_IO_MSHOT"))
        return e->io_mshot;
    if (!strcmp(n, "WEFT_IO_MSHOT_BUFS"))
        return e->io_mshot_bufs;
    if (!strcmp(n, "WEFT_BLOCKING_THREADS"))
        return e->blocking_threads;
    if (!strcmp(n, "WEFT_DUMP_SIGNAL"))
        return e->dump_signal;
    if (!strcmp(n, "WEFT_DEADLOCK_MS"))
        return e->deadlock_ns;
    if (!strcmp(n, "WEFT_TRACE_EVENTS"))
        return e->trace_events;
    return 0;
}

/* stderr goes to a memory file around each parse, so that the error
 * line can be checked. */
static int err_fd = -1;

static int parse_captured(const struct ref *r, const char *value,
                          struct wf__env *e, char *line, size_t cap)
{
    if (err_fd < 0) {
        err_fd = memfd_create("fuzz_config_stderr", 0);
        FZ_CHECK(err_fd >= 0, "memfd_create: %d", errno);
    }
    fflush(stderr);
    int saved = dup(2);
    FZ_CHECK(saved >= 0 && ftruncate(err_fd, 0) == 0 &&
                 lseek(err_fd, 0, SEEK_SET) == 0 && dup2(err_fd, 2) == 2,
             "redirecting stderr");
    memset(e, 0, sizeof *e);
    int rc = wf__config_parse(r->name, value, e);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(err_fd, line, cap - 1, 0);
    FZ_CHECK(n >= 0, "reading stderr back");
    line[n] = '\0';
    return rc;
}

/* Parse `value` as r's variable; check it against the reference and
 * return whether it was accepted (the stored value in *stored). */
static bool check_value(const struct ref *r, const char *value, int64_t *stored)
{
    static char line[4096];
    struct wf__env e;
    int rc = parse_captured(r, value, &e, line, sizeof line);
    int64_t want = 0;
    bool ok = !*value || ref_parse(r, value, &want);
    if (!*value)
        want = 0; /* empty: unset, the field stays 0 */
    FZ_CHECK(rc == 0 || rc == WF_EINVAL, "%s=%s: result %d", r->name, value,
             rc);
    FZ_CHECK((rc == 0) == ok, "%s=%s: parser %s, reference %s", r->name, value,
             rc == 0 ? "accepts" : "refuses", ok ? "accepts" : "refuses");
    if (rc == 0) {
        FZ_CHECK(line[0] == '\0', "%s=%s accepted, but said: %s", r->name,
                 value, line);
        if (r->kind == PATH) {
            FZ_CHECK(e.trace == (*value ? value : NULL),
                     "WEFT_TRACE not stored");
        } else {
            FZ_CHECK(field(r, &e) == want,
                     "%s=%s: stored %" PRId64 ", reference %" PRId64, r->name,
                     value, field(r, &e), want);
        }
        *stored = want;
        return true;
    }
    size_t len = strlen(line), pre = strlen(r->name) + 7;
    FZ_CHECK(len > pre && !strncmp(line, "weft: ", 6) &&
                 !strncmp(line + 6, r->name, strlen(r->name)) &&
                 line[pre - 1] == '=' && line[len - 1] == '\n' &&
                 strchr(line, '\n') == line + len - 1 &&
                 strstr(line, ": expected "),
             "%s: refused with a bad line: %s", r->name, line);
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const struct ref *r = &refs[data[0] % NREFS];
    FZ_CHECK(wf__config_name(data[0] % NREFS) &&
                 !strcmp(wf__config_name(data[0] % NREFS), r->name),
             "the table's variable %u is not %s", data[0] % (unsigned)NREFS,
             r->name);
    FZ_CHECK(wf__config_name(NREFS) == NULL, "the table has more variables");
    char value[256];
    size_t n = size - 1 < sizeof value - 1 ? size - 1 : sizeof value - 1;
    memcpy(value, data + 1, n);
    value[n] = '\0';

    int64_t v;
    if (!check_value(r, value, &v) || !*value || r->kind == PATH)
        return 0;

    /* The same value with its letters' case swapped. */
    char swapped[256], canon[64];
    for (size_t i = 0; i <= n; i++) {
        char c = value[i];
        swapped[i] = (char)(c >= 'a' && c <= 'z'   ? c - 'a' + 'A'
                            : c >= 'A' && c <= 'Z' ? c - 'A' + 'a'
                                                   : c);
    }
    int64_t again;
    FZ_CHECK(check_value(r, swapped, &again) && again == v,
             "%s=%s: swapping case changed the result", r->name, value);

    /* A canonical spelling of the stored value. */
    int64_t shown = v == -1 && r->zero_is_off ? 0 : v;
    if (r->kind == NAME)
        snprintf(canon, sizeof canon, "%s", io_names[shown]);
    else if (r->kind == DURATION)
        snprintf(canon, sizeof canon, "%" PRId64 "ns", shown);
    else
        snprintf(canon, sizeof canon, "%" PRId64, shown);
    FZ_CHECK(check_value(r, canon, &again) && again == v,
             "%s=%s: its canonical form %s reads differently", r->name, value,
             canon);
    return 0;
}
