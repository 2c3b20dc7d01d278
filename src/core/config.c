/* SPDX-License-Identifier: MIT */
/*
 * The WEFT_* environment variables: one table, one parser per kind of
 * value, one error line. Design in config.h; here the forms.
 *
 * Every variable is a row of `vars` below: its name, the kind of value it
 * takes, the field of struct wf__env it sets, its range and the accepted
 * form as the error line states it. Adding a variable is adding a row
 * (and the field it sets); README.md's configuration table lists the same
 * rows and must say the same.
 *
 * Forms, exact (no spaces, no signs but a count's '-', nothing after the
 * value); letters in either case:
 *   count     decimal digits, a leading '-' where the range allows it;
 *   pow2      a count that is a power of two;
 *   size      decimal digits, optionally followed by k, m or g (powers of
 *             1024), which may be followed by b or ib ("512k", "512KiB",
 *             "512kb"); a plain number may end in b ("4096b");
 *   duration  decimal digits followed by ns, us, ms or s; without a unit
 *             the row's unit (WEFT_STALL_MS: milliseconds);
 *   boolean   1, true, yes, on / 0, false, no, off;
 *   name      one of the row's names;
 *   signal    a signal's name with or without SIG (QUIT, SIGUSR1; either
 *             case) or its number, one that wf__config_signal_ok takes;
 *             0, off or none for no signal.
 *   path      any value (a file name; whether it can be written is for
 *             the part that opens it to say, through wf__config_reject).
 * An empty value counts as unset (`WEFT_IO= prog` is a common way to
 * clear a variable for one command). Fractions ("1.5s") are not taken:
 * every range here is whole units, and a parser that rounds would accept
 * values it then does not use.
 *
 * The value in an error line is quoted as given, except that bytes
 * outside printable ASCII are written as \xNN and a long value is cut,
 * so that the report stays one line.
 *
 * wf__config_read_env runs in wf_init while the runtime is STARTING; the
 * values that later parts read are kept in atomics (relaxed: each is a
 * setting of its own, published with nothing else; the reactor reads its
 * after the runtime's RUNNING store anyway), because the blocking pool's
 * size may be asked for from any thread at any time.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "core_int.h"

enum kind { COUNT, POW2, SIZE, DURATION, BOOLEAN, NAME, SIGNAL, PATH };

struct var {
    const char *name;
    enum kind kind;
    size_t at, width;        /* the field of struct wf__env it sets */
    int64_t min, max;        /* COUNT, POW2, SIZE (bytes), DURATION (ns) */
    bool zero_is_off;        /* 0 is taken too, and stored as -1 */
    int64_t unit;            /* DURATION: a bare number's unit, in ns */
    const char *const *names; /* NAME: index = value stored */
    const char *form;        /* what the error line says is expected */
};

#define FIELD(f) offsetof(struct wf__env, f), sizeof(((struct wf__env *)0)->f)

static const char *const io_names[] = {"auto", "epoll", "uring", NULL};

/* The table. Keep README.md's configuration table in step. */
static const struct var vars[] = {
    {"WEFT_WORKERS", COUNT, FIELD(workers), 1, WF__WORKERS_MAX, false, 0, NULL,
     "a whole number of workers from 1 to 4096"},
    {"WEFT_STACK_SIZE", SIZE, FIELD(stack_size), 1, WF__STACK_MAX, false, 0,
     NULL,
     "a size from 1 to 1g bytes, such as 262144, 256k or 256KiB "
     "(suffix k, m or g in either case, optionally followed by b or ib)"},
    {"WEFT_TASK_STACK_SIZE", SIZE, FIELD(task_stack_size),
     (int64_t)WF__TASK_STACK_MIN, (int64_t)WF__TASK_STACK_MAX, false, 0, NULL,
     "a size from 64k to 64g bytes, such as 1g, 4096m or 2GiB "
     "(suffix k, m or g in either case, optionally followed by b or ib)"},
    {"WEFT_GUARDED_STACKS", COUNT, FIELD(guarded_stacks), -1, WF__GUARDED_MAX,
     true, 0, NULL,
     "a whole number of stacks from 1 to 1073741824, "
     "or 0 or -1 for none"},
    {"WEFT_STALL_MS", DURATION, FIELD(stall_ns), WF__STALL_MIN_NS,
     WF__STALL_MAX_NS, true, WF_MSEC, NULL,
     "0 (no reports) or a duration from 1ms to 3600s: whole milliseconds, "
     "or a whole number with a unit ns, us, ms or s"},
    {"WEFT_DEBUG_MIGRATE", BOOLEAN, FIELD(debug_migrate), 0, 1, false, 0, NULL,
     "1, true, yes, on, or 0, false, no, off"},
    {"WEFT_IO", NAME, FIELD(io), 0, 0, false, 0, io_names,
     "auto, epoll or uring"},
    {"WEFT_IO_RINGS", BOOLEAN, FIELD(io_rings), 0, 1, false, 0, NULL,
     "1, true, yes, on, or 0, false, no, off"},
    {"WEFT_IO_MSHOT", BOOLEAN, FIELD(io_mshot), 0, 1, false, 0, NULL,
     "1, true, yes, on, or 0, false, no, off"},
    {"WEFT_IO_MSHOT_BUFS", POW2, FIELD(io_mshot_bufs), 1, 32768, false, 0, NULL,
     "a power of two from 1 to 32768 (buffers of 4 KiB per ring)"},
    {"WEFT_BLOCKING_THREADS", COUNT, FIELD(blocking_threads), 1,
     WF__BLOCKING_MAX, false, 0, NULL,
     "a whole number of threads from 1 to 4096"},
    {"WEFT_DUMP_SIGNAL", SIGNAL, FIELD(dump_signal), 1, WF__SIGNAL_MAX, true, 0,
     NULL,
     "a signal to dump the fibers on, such as QUIT, SIGUSR1 or 10 "
     "(not KILL, STOP, SEGV, BUS, ILL, FPE, ABRT), or 0/off"},
    {"WEFT_DEADLOCK_MS", DURATION, FIELD(deadlock_ns), WF__DEADLOCK_MIN_NS,
     WF__DEADLOCK_MAX_NS, true, WF_MSEC, NULL,
     "0 (off) or a duration from 1ms to 3600s: whole milliseconds, "
     "or a whole number with a unit ns, us, ms or s"},
    {"WEFT_TRACE", PATH, FIELD(trace), 0, 0, false, 0, NULL,
     "a file name to write the trace to"},
    {"WEFT_TRACE_EVENTS", COUNT, FIELD(trace_events), 16, 268435456, false, 0,
     NULL, "a whole number of events per thread from 16 to 268435456"},
};

static atomic_int cur_io;
static atomic_bool cur_rings;
static atomic_bool cur_mshot;
static atomic_long cur_mshot_bufs;
static atomic_long cur_blocking;

/* ---- forms ------------------------------------------------------------- */

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Whether s equals word (lower case) in either case. */
static bool same_word(const char *s, const char *word)
{
    while (*s && lower(*s) == *word) {
        s++;
        word++;
    }
    return *s == '\0' && *word == '\0';
}

/* Decimal digits at *s (at least one); false past INT64_MAX. */
static bool digits(const char **s, int64_t *out)
{
    const char *p = *s;
    int64_t v = 0;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        int d = *p - '0';
        if (v > (INT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *s = p;
    *out = v;
    return true;
}

static bool times(int64_t v, int64_t mul, int64_t *out)
{
    if (v > INT64_MAX / mul)
        return false;
    *out = v * mul;
    return true;
}

static bool parse_count(const char *s, int64_t *out)
{
    bool neg = *s == '-';
    int64_t v;
    if (neg)
        s++;
    if (!digits(&s, &v) || *s)
        return false;
    *out = neg ? -v : v;
    return true;
}

static bool parse_size(const char *s, int64_t *out)
{
    int64_t v, mul = 1;
    if (!digits(&s, &v))
        return false;
    switch (lower(*s)) {
    case 'k':
        mul = INT64_C(1) << 10;
        break;
    case 'm':
        mul = INT64_C(1) << 20;
        break;
    case 'g':
        mul = INT64_C(1) << 30;
        break;
    default:
        break;
    }
    if (mul > 1) {
        s++;
        if (lower(*s) == 'i' && lower(s[1]) == 'b')
            s++;
    }
    if (lower(*s) == 'b')
        s++;
    return *s == '\0' && times(v, mul, out);
}

static bool parse_duration(const char *s, int64_t unit, int64_t *out)
{
    static const struct {
        const char *name;
        int64_t ns;
    } units[] = {{"ns", 1}, {"us", WF_USEC}, {"ms", WF_MSEC}, {"s", WF_SEC}};
    int64_t v;
    if (!digits(&s, &v))
        return false;
    if (*s) {
        size_t i = 0;
        while (i < sizeof units / sizeof units[0] && !same_word(s, units[i].name))
            i++;
        if (i == sizeof units / sizeof units[0])
            return false;
        unit = units[i].ns;
    }
    return times(v, unit, out);
}

static bool parse_boolean(const char *s, int64_t *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (same_word(s, yes[i]) || same_word(s, no[i])) {
            *out = same_word(s, yes[i]);
            return true;
        }
    }
    return false;
}

static bool parse_name(const char *s, const char *const *names, int64_t *out)
{
    for (int i = 0; names[i]; i++) {
        if (same_word(s, names[i])) {
            *out = i;
            return true;
        }
    }
    return false;
}

static const struct {
    const char *name;
    int sig;
} signames[] = {
    {"hup", SIGHUP},     {"int", SIGINT},       {"quit", SIGQUIT},
    {"usr1", SIGUSR1},   {"usr2", SIGUSR2},     {"pipe", SIGPIPE},
    {"alrm", SIGALRM},   {"term", SIGTERM},     {"chld", SIGCHLD},
    {"cont", SIGCONT},   {"tstp", SIGTSTP},     {"ttin", SIGTTIN},
    {"ttou", SIGTTOU},   {"urg", SIGURG},       {"xcpu", SIGXCPU},
    {"xfsz", SIGXFSZ},   {"vtalrm", SIGVTALRM}, {"prof", SIGPROF},
    {"winch", SIGWINCH}, {"io", SIGIO},         {"pwr", SIGPWR},
    {"sys", SIGSYS},     {"trap", SIGTRAP},     {"stkflt", SIGSTKFLT},
    {"poll", SIGPOLL},
};

bool wf__config_signal_ok(int sig)
{
    return sig >= 1 && sig <= WF__SIGNAL_MAX && sig != SIGKILL &&
           sig != SIGSTOP && sig != SIGSEGV && sig != SIGBUS && sig != SIGILL &&
           sig != SIGFPE && sig != SIGABRT &&
           !(sig > SIGSYS && sig < SIGRTMIN) && sig <= SIGRTMAX;
}

/* A signal: "off", "none", "0", a number, or a name with or without SIG. */
static bool parse_signal(const char *s, int64_t *out)
{
    if (same_word(s, "off") || same_word(s, "none")) {
        *out = 0;
        return true;
    }
    if (*s >= '0' && *s <= '9')
        return parse_count(s, out);
    if (lower(s[0]) == 's' && lower(s[1]) == 'i' && lower(s[2]) == 'g')
        s += 3;
    for (size_t i = 0; i < sizeof signames / sizeof signames[0]; i++) {
        if (same_word(s, signames[i].name)) {
            *out = signames[i].sig;
            return true;
        }
    }
    return false;
}

/* Parse s as v says and check the range; the value to store in *out. */
static bool parse(const struct var *v, const char *s, int64_t *out)
{
    bool ok = false;
    switch (v->kind) {
    case COUNT:
        ok = parse_count(s, out);
        break;
    case POW2:
        ok = parse_count(s, out) && *out > 0 && (*out & (*out - 1)) == 0;
        break;
    case SIZE:
        ok = parse_size(s, out);
        break;
    case DURATION:
        ok = parse_duration(s, v->unit, out);
        break;
    case BOOLEAN:
        return parse_boolean(s, out);
    case NAME:
        return parse_name(s, v->names, out);
    case SIGNAL:
        ok = parse_signal(s, out);
        if (ok && *out != 0 && !wf__config_signal_ok((int)*out))
            return false;
        break;
    case PATH:
        return true; /* stored as the string itself (store) */
    }
    if (!ok)
        return false;
    if (*out == 0 && v->zero_is_off) {
        *out = -1;
        return true;
    }
    return *out >= v->min && *out <= v->max;
}

static void store(const struct var *v, struct wf__env *env, int64_t val)
{
    char *p = (char *)env + v->at;
    switch (v->kind) {
    case COUNT:
    case POW2:
        WF_ASSERT(v->width == sizeof(long));
        *(long *)(void *)p = (long)val;
        break;
    case SIZE:
        WF_ASSERT(v->width == sizeof(size_t));
        *(size_t *)(void *)p = (size_t)val;
        break;
    case DURATION:
        WF_ASSERT(v->width == sizeof(int64_t));
        *(int64_t *)(void *)p = val;
        break;
    case BOOLEAN:
        WF_ASSERT(v->width == sizeof(bool));
        *(bool *)(void *)p = val != 0;
        break;
    case NAME:
    case SIGNAL:
        WF_ASSERT(v->width == sizeof(int));
        *(int *)(void *)p = (int)val;
        break;
    case PATH:
        break; /* read_var stores the string */
    }
}

/* "weft: NAME=VALUE: PREFIX FORM", one line, one write. */
static void complain_as(const struct var *v, const char *value,
                        const char *prefix, const char *form)
{
    enum { SHOWN = 64 };
    char shown[SHOWN * 4 + 4];
    size_t n = 0, i;
    for (i = 0; value[i] && i < SHOWN; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c >= 0x20 && c < 0x7f) {
            shown[n++] = (char)c;
        } else {
            snprintf(shown + n, 5, "\\x%02x", c);
            n += 4;
        }
    }
    if (value[i]) {
        memcpy(shown + n, "...", 3);
        n += 3;
    }
    shown[n] = '\0';
    char line[1024];
    snprintf(line, sizeof line, "weft: %s=%s: %s%s\n", v->name, shown, prefix,
             form);
    fputs(line, stderr);
}

static void complain(const struct var *v, const char *value)
{
    complain_as(v, value, "expected ", v->form);
}

/* ---- the entry points -------------------------------------------------- */

/* Take value s (NULL: unset) for v into its field of *out. */
static int take_value(const struct var *v, const char *s, struct wf__env *out)
{
    int64_t val;
    if (!s || !*s)
        return 0;
    if (!parse(v, s, &val)) {
        complain(v, s);
        return WF_EINVAL;
    }
    if (v->kind == PATH)
        *(const char **)(void *)((char *)out + v->at) = s;
    else
        store(v, out, val);
    return 0;
}

static const struct var *find_var(const char *name)
{
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (strcmp(vars[i].name, name) == 0)
            return &vars[i];
    return NULL;
}

static int read_var(const struct var *v, struct wf__env *out)
{
    return take_value(v, getenv(v->name), out);
}

int wf__config_parse(const char *name, const char *value, struct wf__env *out)
{
    const struct var *v = find_var(name);
    return v ? take_value(v, value, out) : WF_ESRCH;
}

const char *wf__config_name(size_t i)
{
    return i < sizeof vars / sizeof vars[0] ? vars[i].name : NULL;
}

int wf__config_read_var(const char *name, struct wf__env *out)
{
    const struct var *v = find_var(name);
    if (!v)
        WF_PANIC("no variable %s in the table", name);
    return read_var(v, out);
}

int wf__config_read_env(struct wf__env *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        int err = read_var(&vars[i], out);
        if (err)
            return err;
    }
    /* relaxed: settings on their own, no pair (see the top) */
    atomic_store_explicit(&cur_io, out->io, memory_order_relaxed);
    atomic_store_explicit(&cur_rings, out->io_rings, memory_order_relaxed);
    atomic_store_explicit(&cur_mshot, out->io_mshot, memory_order_relaxed);
    atomic_store_explicit(&cur_mshot_bufs, out->io_mshot_bufs,
                          memory_order_relaxed);
    atomic_store_explicit(&cur_blocking, out->blocking_threads,
                          memory_order_relaxed);
    return 0;
}

void wf__config_reject(const char *name, const char *why)
{
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *s = getenv(vars[i].name);
        if (strcmp(vars[i].name, name) == 0 && s)
            complain_as(&vars[i], s, "", why);
    }
}

int wf__config_io(void)
{
    /* relaxed: the reactor starts after wf_init's release of RUNNING */
    return atomic_load_explicit(&cur_io, memory_order_relaxed);
}

long wf__config_blocking_threads(void)
{
    /* relaxed: a setting on its own, no pair */
    return atomic_load_explicit(&cur_blocking, memory_order_relaxed);
}

bool wf__config_io_rings(void)
{
    /* relaxed: as cur_io */
    return atomic_load_explicit(&cur_rings, memory_order_relaxed);
}

bool wf__config_io_mshot(void)
{
    /* relaxed: as cur_io */
    return atomic_load_explicit(&cur_mshot, memory_order_relaxed);
}

long wf__config_io_mshot_bufs(void)
{
    /* relaxed: as cur_io */
    return atomic_load_explicit(&cur_mshot_bufs, memory_order_relaxed);
}
