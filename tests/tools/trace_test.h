/* SPDX-License-Identifier: MIT */
/*
 * tests/tools/trace_test.h - helpers of the weft-trace tests: scratch
 * files, running the weft-trace program, and xmllint.
 *
 * Each case runs in its own process (wtest.h) and writes its files into a
 * directory of its own under $TMPDIR (or /tmp), removed when it exits.
 * WTR_TOOL is the path of the weft-trace program (set by CMake).
 */
#ifndef WEFT_TESTS_TRACE_TEST_H
#define WEFT_TESTS_TRACE_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "wtest.h"

#include "trace_model.h"
#include "trace_svg.h"

static char tt_dir[256];

static int tt_remove(const char *path, const struct stat *sb, int flag,
                     struct FTW *ftw)
{
    if (remove(path) != 0)
        fprintf(stderr, "could not remove %s: %s\n", path, strerror(errno));
    return 0;
}

static void tt_cleanup(void)
{
    if (tt_dir[0])
        nftw(tt_dir, tt_remove, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes the path of scratch file `name` into b (512 bytes). */
static inline const char *tt_path_in(char *b, const char *name)
{
    if (!tt_dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(tt_dir, sizeof tt_dir, "%s/weft-trace-test-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(tt_dir))
            WT_FAIL("mkdtemp %s: %s", tt_dir, strerror(errno));
        atexit(tt_cleanup);
    }
    snprintf(b, 512, "%s/%s", tt_dir, name);
    return b;
}

/* The path of scratch file `name`, in one of 32 static buffers used in
 * turn: it stays valid for the next 31 calls (the helpers below keep
 * their own). */
static inline const char *tt_path(const char *name)
{
    static char bufs[32][512];
    static int next;
    return tt_path_in(bufs[next++ % 32], name);
}

static inline void tt_write(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    WT_CHECK(f != NULL);
    WT_CHECK(fwrite(text, 1, len, f) == len);
    WT_CHECK(fclose(f) == 0);
}

/* The whole file, NUL-terminated; *len its length (may be NULL). */
static inline char *tt_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    WT_CHECK(f != NULL && buf != NULL);
    for (;;) {
        if (n + 1 == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            WT_CHECK(buf != NULL);
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        if (r == 0)
            break;
        n += r;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* Loads text as a trace, failing the test on error. */
static inline struct wtr_trace *tt_load(const char *text)
{
    struct wtr_trace *t;
    char err[256];
    int rc = wtr_load_mem("test.json", text, strlen(text), &t, err, sizeof err);
    if (rc < 0)
        WT_FAIL("wtr_load_mem: %d: %s", rc, err);
    return t;
}

/* Runs argv (NULL-terminated) with stdout and stderr into files; returns
 * its exit status (128 + signal when killed). */
static inline int tt_run(char *const argv[], const char *out_path,
                         const char *err_path)
{
    fflush(NULL);
    pid_t pid = fork();
    WT_CHECK(pid >= 0);
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    WT_CHECK(waitpid(pid, &st, 0) == pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Runs weft-trace with up to 6 arguments; its stdout and stderr are left
 * in tt_path("out.txt") and tt_path("err.txt"). */
static inline int tt_tool(const char *a0, const char *a1, const char *a2,
                          const char *a3, const char *a4, const char *a5)
{
    char *argv[] = {(char *)WTR_TOOL, (char *)a0, (char *)a1, (char *)a2,
                    (char *)a3,       (char *)a4, (char *)a5, NULL};
    static char o[512], e[512];
    return tt_run(argv, tt_path_in(o, "out.txt"), tt_path_in(e, "err.txt"));
}

/* Where xmllint is, or NULL. */
static inline const char *tt_xmllint(void)
{
    static char path[1024];
    const char *p = getenv("PATH");
    while (p && *p) {
        const char *c = strchr(p, ':');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        snprintf(path, sizeof path, "%.*s/xmllint", (int)n, p);
        if (n && access(path, X_OK) == 0)
            return path;
        p = c ? c + 1 : NULL;
    }
    return NULL;
}

static inline const char *tt_need_xmllint(void)
{
    const char *x = tt_xmllint();
    if (!x)
        WT_SKIP("xmllint not found in PATH (Debian package libxml2-utils; "
                "scripts/test.sh installs it): cannot check the SVG");
    return x;
}

/* Fails unless file is well-formed XML. */
static inline void tt_check_xml(const char *file)
{
    char *argv[] = {(char *)tt_need_xmllint(), (char *)"--noout",
                    (char *)"--huge", (char *)file, NULL};
    static char xo[512], xe[512];
    int rc = tt_run(argv, tt_path_in(xo, "xml.out"), tt_path_in(xe, "xml.err"));
    if (rc != 0) {
        char *e = tt_read(xe, NULL);
        WT_FAIL("xmllint --noout %s: exit %d:\n%.2000s", file, rc, e);
    }
}

/* The number xmllint --xpath gives for expr (a count() or number()). */
static inline long tt_xpath(const char *file, const char *expr)
{
    char *argv[] = {(char *)tt_need_xmllint(),
                    (char *)"--huge",
                    (char *)"--xpath",
                    (char *)expr,
                    (char *)file,
                    NULL};
    static char xo[512], xe[512];
    int rc = tt_run(argv, tt_path_in(xo, "xml.out"), tt_path_in(xe, "xml.err"));
    char *o = tt_read(xo, NULL);
    char *end;
    long v = strtol(o, &end, 10);
    if (rc != 0 || end == o)
        WT_FAIL("xmllint --xpath \"%s\" %s: exit %d, output '%s'", expr, file,
                rc, o);
    free(o);
    return v;
}

/* XPath of the elements named `el` (the SVG namespace is the default
 * one, so names are matched with local-name()). */
#define TT_EL(el) "*[local-name()='" el "']"

/* Checks that `hay` contains `needle`, printing the start of hay if not. */
#define TT_CONTAINS(hay, needle)                                     \
    do {                                                             \
        if (!strstr((hay), (needle)))                                \
            WT_FAIL("'%s' not found in:\n%.3000s", (needle), (hay)); \
    } while (0)

#endif
