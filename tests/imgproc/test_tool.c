/* SPDX-License-Identifier: MIT */
/*
 * tests/imgproc/test_tool.c - the weft-imgproc program, run as a child
 * process on files the test writes itself: format round trips, each
 * operation's output against ref.h's serial reference, corrupt and
 * truncated files (exit 1 and one line naming the file, never a signal),
 * directory mode with failing files among good ones, usage errors.
 * The tool is linked here only to ask whether it has PNG (img_have_png).
 */
#include "img.h"
#include "ref.h"
#include "wtest.h"

#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];
static char errbuf[8192]; /* the last run's stderr */

static void make_dir(void)
{
    strcpy(dir, "/tmp/wimg.XXXXXX");
    if (!mkdtemp(dir))
        WT_FAIL("mkdtemp");
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        WT_FAIL("%s", cmd);
}

static const char *path(const char *name)
{
    static char bufs[8][256];
    static int next;
    char *p = bufs[next++ % 8];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

/* Run the tool with the NULL-terminated arguments; returns its exit
 * status, or fails the test if it died of a signal. Its stderr is left
 * in errbuf. */
static int tool(const char *arg0, ...)
{
    const char *argv[32] = {WIMG_TOOL};
    int n = 1;
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a && n < 31; a = va_arg(ap, const char *))
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    const char *errpath = path("stderr.txt");
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int nul = open("/dev/null", O_WRONLY);
        dup2(fd, 2);
        dup2(nul, 1);
        setenv("WEFT_WORKERS", "3", 1);
        execv(WIMG_TOOL, (char **)argv);
        _exit(127);
    }
    int st;
    WT_CHECK(waitpid(pid, &st, 0) == pid);
    FILE *f = fopen(errpath, "r");
    size_t got = f ? fread(errbuf, 1, sizeof errbuf - 1, f) : 0;
    errbuf[got] = 0;
    if (f)
        fclose(f);
    if (WIFSIGNALED(st))
        WT_FAIL("%s %s: killed by signal %d; stderr: %s", argv[1],
                n > 2 ? argv[2] : "", WTERMSIG(st), errbuf);
    return WEXITSTATUS(st);
}

static void write_bytes(const char *p, const void *b, size_t n)
{
    FILE *f = fopen(p, "wb");
    WT_CHECK(f && fwrite(b, 1, n, f) == n && fclose(f) == 0);
}

static uint8_t *read_bytes(const char *p, size_t *n)
{
    FILE *f = fopen(p, "rb");
    WT_CHECK(f != NULL);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n + 1);
    WT_CHECK(fread(b, 1, *n, f) == *n);
    fclose(f);
    return b;
}

static void check_same(const struct rimg *want, const char *file, int tol)
{
    struct rimg got;
    if (ref_read_pnm(file, &got) < 0)
        WT_FAIL("%s: not a PNM file as the tool writes them", file);
    int d = ref_maxdiff(want, got.w, got.h, got.c, got.p);
    if (d > tol)
        WT_FAIL("%s: %ldx%ldx%d differs from the reference (%ldx%ldx%d) by %d "
                "(tolerance %d)",
                file, got.w, got.h, got.c, want->w, want->h, want->c, d, tol);
    free(got.p);
}

WT_CASE(roundtrip_formats)
{
    make_dir();
    static const long shapes[][2] = {{1, 1}, {1, 9}, {9, 1}, {13, 7}, {97, 89}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int c = 1; c <= 3; c += 2) {
            struct rimg src =
                ref_generate(shapes[i][0], shapes[i][1], c, (uint32_t)i);
            WT_CHECK(ref_write_pnm(path("in.pnm"), &src) == 0);
            /* PNM -> PNM unchanged */
            WT_CHECK_EQ(tool(path("in.pnm"), path("same.pnm"), NULL), 0);
            check_same(&src, path("same.pnm"), 0);
            if (img_have_png) {
                WT_CHECK_EQ(tool(path("in.pnm"), path("x.png"), NULL), 0);
                WT_CHECK_EQ(tool(path("x.png"), path("back.pnm"), NULL), 0);
                check_same(&src, path("back.pnm"), 0);
            }
            /* .ppm replicates grey, .pgm converts colour to grey */
            WT_CHECK_EQ(tool(path("in.pnm"), path("c.ppm"), NULL), 0);
            WT_CHECK_EQ(tool(path("in.pnm"), path("g.pgm"), NULL), 0);
            struct rimg g = ref_grayscale(&src);
            check_same(&g, path("g.pgm"), 0);
            struct rimg rgb = rimg_new(src.w, src.h, 3);
            for (long k = 0; k < src.w * src.h; k++)
                for (int ch = 0; ch < 3; ch++)
                    rgb.p[3 * k + ch] = c == 3 ? src.p[3 * k + ch] : src.p[k];
            check_same(&rgb, path("c.ppm"), 0);
            free(rgb.p);
            free(g.p);
            free(src.p);
        }
    remove_dir();
}

WT_CASE(operations_match_reference)
{
    make_dir();
    struct rimg src = ref_generate(97, 89, 3, 5);
    WT_CHECK(ref_write_pnm(path("in.ppm"), &src) == 0);
    char in[256]; /* path()'s buffers are reused */
    snprintf(in, sizeof in, "%s",
             img_have_png ? path("in.png") : path("in.ppm"));
    if (img_have_png)
        WT_CHECK_EQ(tool(path("in.ppm"), in, NULL), 0);

    struct rimg want = ref_grayscale(&src);
    WT_CHECK_EQ(tool(in, path("o.pnm"), "grayscale", NULL), 0);
    check_same(&want, path("o.pnm"), 0);
    free(want.p);

    want = ref_sobel(&src);
    WT_CHECK_EQ(tool(in, path("o.pnm"), "sobel", NULL), 0);
    check_same(&want, path("o.pnm"), 0);
    free(want.p);

    want = ref_sharpen(&src);
    WT_CHECK_EQ(tool(in, path("o.pnm"), "sharpen", NULL), 0);
    check_same(&want, path("o.pnm"), 0);
    free(want.p);

    want = ref_blur(&src, 1.5);
    WT_CHECK_EQ(tool(in, path("o.pnm"), "blur=1.5", NULL), 0);
    check_same(&want, path("o.pnm"), REF_FLOAT_TOLERANCE);
    free(want.p);

    want = ref_resize(&src, 31, 150);
    WT_CHECK_EQ(tool(in, path("o.pnm"), "resize=31x150", NULL), 0);
    check_same(&want, path("o.pnm"), REF_FLOAT_TOLERANCE);
    free(want.p);

    /* in order: sharpen, then sobel (integers all the way: exact) */
    struct rimg a = ref_sharpen(&src);
    want = ref_sobel(&a);
    WT_CHECK_EQ(tool(in, path("o.pnm"), "sharpen", "sobel", NULL), 0);
    check_same(&want, path("o.pnm"), 0);
    free(want.p);
    free(a.p);
    free(src.p);
    remove_dir();
}

/* Exit 1 and a message naming the file; never a signal (tool() fails the
 * test on one). */
static void expect_error(const char *file, const char *want)
{
    int rc = tool(file, path("out.ppm"), "blur=1", NULL);
    if (rc != 1 || !strstr(errbuf, "weft-imgproc: ") || !strstr(errbuf, file) ||
        (want && !strstr(errbuf, want)))
        WT_FAIL("%s: exit %d, stderr '%s' (want exit 1 and '%s')", file, rc,
                errbuf, want ? want : "");
}

WT_CASE(bad_files_fail_clearly)
{
    make_dir();
    static const struct {
        const char *bytes, *want;
    } bad[] = {
        {"", "empty file"},
        {"GIF89a", "unknown image format"},
        {"P3\n1 1\n255\n0 0 0\n", "P3"},
        {"P6\n# c\n2 2\n65535\nabcdefghijklmnopqrstuvwx", "maxval 65535"},
        {"P6\n0 7\n255\n", "zero"},
        {"P5\n1048576 1048576\n255\nab", "too large"},
        {"P6\n4294967297 1\n255\nab", "too large"},
        {"P6\n3 3\n255\nabc", "truncated"},
        {"\x89PNG\r\n\x1a\n", "bad PNG"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_bytes(path("bad.ppm"), bad[i].bytes, strlen(bad[i].bytes));
        expect_error(path("bad.ppm"),
                     img_have_png || i != 8 ? bad[i].want : "PNG");
    }
    expect_error(path("missing.ppm"), "cannot open");
    /* 2 GiB (sparse): refused before it is read */
    write_bytes(path("huge.ppm"), "P6\n40000 40000\n255\n", 20);
    WT_CHECK(truncate(path("huge.ppm"), (off_t)1 << 31) == 0);
    expect_error(path("huge.ppm"), "file too large");
    remove_dir();
}

/* A valid file cut at many lengths, and with bytes flipped. */
static void mangle(const char *name, int png)
{
    struct rimg src = ref_generate(13, 7, 3, 11);
    WT_CHECK(ref_write_pnm(path("src.ppm"), &src) == 0);
    free(src.p);
    if (png)
        WT_CHECK_EQ(tool(path("src.ppm"), path(name), NULL), 0);
    else
        WT_CHECK_EQ(tool(path("src.ppm"), path(name), "sharpen", NULL), 0);
    size_t len;
    uint8_t *b = read_bytes(path(name), &len);
    size_t step = len / 60 + 1;
    for (size_t n = 0; n < len; n += (n < 64 ? 1 : step)) {
        write_bytes(path("cut.bin"), b, n);
        expect_error(path("cut.bin"), NULL);
    }
    uint32_t s = 12345;
    for (int k = 0; k < 60; k++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        size_t at = k < 40 ? (size_t)k % len : s % len;
        b[at] ^= (uint8_t)(1u << (s % 8));
        write_bytes(path("flip.bin"), b, len);
        int rc = tool(path("flip.bin"), path("out.ppm"), NULL);
        if (rc != 0 && (rc != 1 || !strstr(errbuf, "flip.bin")))
            WT_FAIL("flipped byte %zu: exit %d, stderr '%s'", at, rc, errbuf);
        b[at] ^= (uint8_t)(1u << (s % 8));
    }
    free(b);
}

WT_CASE(truncated_and_flipped_files)
{
    make_dir();
    mangle("v.ppm", 0);
    mangle("v.pgm", 0);
    if (img_have_png)
        mangle("v.png", 1);
    remove_dir();
}

WT_CASE(directory_mode_reports_each_failure)
{
    make_dir();
    WT_CHECK(mkdir(path("in"), 0755) == 0);
    struct rimg imgs[8];
    char name[64];
    for (int i = 0; i < 8; i++) {
        imgs[i] =
            ref_generate(20 + 7 * i, 11 + 5 * i, i % 2 ? 3 : 1, (uint32_t)i);
        snprintf(name, sizeof name, "in/img%d.pnm", i);
        WT_CHECK(ref_write_pnm(path(name), &imgs[i]) == 0);
        if (img_have_png && i % 3 == 0) { /* some as PNG */
            char png[64];
            snprintf(png, sizeof png, "in/img%d.png", i);
            WT_CHECK_EQ(tool(path(name), path(png), NULL), 0);
            unlink(path(name));
        }
    }
    write_bytes(path("in/broken.ppm"), "P6\n5 5\n255\nxyz", 15);
    write_bytes(path("in/wrong.pgm"), "P5\n1 1\n16\nx", 11);
    write_bytes(path("in/notes.txt"), "not an image", 12);
    int rc = tool("-d", "-j", "3", path("in"), path("out"), "sharpen", "sobel",
                  NULL);
    WT_CHECK_EQ(rc, 1);
    if (!strstr(errbuf, "broken.ppm: truncated") ||
        !strstr(errbuf, "wrong.pgm: unsupported") ||
        !strstr(errbuf, "2 of 10 file(s) failed") ||
        strstr(errbuf, "notes.txt"))
        WT_FAIL("stderr: %s", errbuf);
    for (int i = 0; i < 8; i++) {
        struct rimg a = ref_sharpen(&imgs[i]);
        struct rimg want = ref_sobel(&a);
        snprintf(name, sizeof name, "out/img%d.pnm", i);
        if (img_have_png && i % 3 == 0) {
            char png[64];
            snprintf(png, sizeof png, "out/img%d.png", i);
            WT_CHECK_EQ(tool(path(png), path(name), NULL), 0);
        }
        check_same(&want, path(name), 0);
        free(want.p);
        free(a.p);
        free(imgs[i].p);
    }
    /* all good: exit 0; -j 1 as well */
    unlink(path("in/broken.ppm"));
    unlink(path("in/wrong.pgm"));
    WT_CHECK_EQ(
        tool("-d", "-j", "1", path("in"), path("out2"), "grayscale", NULL), 0);
    WT_CHECK_EQ(tool("-d", path("in"), path("out3"), "blur=0.8", NULL), 0);
    /* the same directory twice: refused, nothing touched */
    WT_CHECK_EQ(tool("-d", path("in"), path("in/."), "sobel", NULL), 2);
    WT_CHECK(strstr(errbuf, "same directory") != NULL);
    /* missing input directory */
    WT_CHECK_EQ(tool("-d", path("nope"), path("out4"), NULL), 1);
    WT_CHECK(strstr(errbuf, "nope") != NULL);
    remove_dir();
}

WT_CASE(usage_errors)
{
    make_dir();
    struct rimg src = ref_generate(3, 3, 1, 1);
    WT_CHECK(ref_write_pnm(path("in.pgm"), &src) == 0);
    free(src.p);
    static const char *const ops[] = {
        "blur", "blur=0", "blur=-1", "blur=x", "blur=65", "resize=0x5",
        "resize=5", "resize=5x", "resize=-5x5", "resize=2000000x1", "emboss",
        "blur=1e999",
        /* digits only (tools/numarg.h): a blank, sign or exponent is
         * refused wherever it stands */
        "resize=3x\t4", "resize=\t3x4", "resize=+3x4", "blur= 1", "blur=+1",
        "blur=1e0", "blur=0x1p0"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        int rc = tool(path("in.pgm"), path("o.pgm"), ops[i], NULL);
        if (rc != 2 || !strstr(errbuf, ops[i]))
            WT_FAIL("%s: exit %d, stderr '%s'", ops[i], rc, errbuf);
    }
    WT_CHECK_EQ(tool(path("in.pgm"), NULL), 2);
    WT_CHECK_EQ(tool("-x", path("in.pgm"), path("o.pgm"), NULL), 2);
    WT_CHECK_EQ(tool("-j", "0", "-d", path("a"), path("b"), NULL), 2);
    WT_CHECK_EQ(tool("-j", "\t2", "-d", path("a"), path("b"), NULL), 2);
    WT_CHECK_EQ(tool(path("in.pgm"), path("o.jpg"), NULL), 2);
    WT_CHECK(strstr(errbuf, "unknown output format") != NULL);
    remove_dir();
}

WT_MAIN()
