/* SPDX-License-Identifier: MIT */
/*
 * weft-imgproc - image operations on PNG, PGM and PPM files, one file or a
 * directory of them, on weft (see usage() below, or --help).
 *
 * Everything runs in fibers of one runtime (wf_run). A file is read and
 * written with weft's file calls (wf_file_open, wf_pread, wf_pwrite: on
 * io_uring, or on the blocking-call pool), which park only the calling
 * fiber; the operations split each image into tiles with
 * wf_parallel_for_2d, which parks the calling fiber until the tiles are
 * done. In directory mode one fiber per image runs in a scope that is a
 * join set, at most -j of them at once, so while one image's tiles keep
 * the workers busy, others are being read or written. The scope is also
 * the error group: a file that fails records its error there (without
 * FAILFAST: the other files go on), prints one line naming itself, and
 * the exit status is 1 once every file has been tried.
 *
 * Decoding and encoding run in the file's fiber, serially: a PNG's zlib
 * stream cannot be split, and in directory mode the other images supply
 * the parallelism.
 */
#define _GNU_SOURCE
#include "../numarg.h"
#include "img.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <weft.h>

enum op_kind { OP_GRAY, OP_BLUR, OP_SOBEL, OP_RESIZE, OP_SHARPEN };

struct op {
    enum op_kind kind;
    double sigma;
    long w, h;
};

struct args {
    int dir_mode;
    int jobs;
    const char *in, *out;
    struct op *ops;
    int nops;
};

static void usage(FILE *f)
{
    fprintf(
        f,
        "NAME\n"
        "    weft-imgproc - blur, sharpen, resize, grey and edge-detect "
        "images\n"
        "    in parallel with weft\n"
        "\n"
        "SYNOPSIS\n"
        "    weft-imgproc [-j N] IN OUT [OP...]\n"
        "    weft-imgproc -d [-j N] INDIR OUTDIR [OP...]\n"
        "    weft-imgproc --help\n"
        "\n"
        "DESCRIPTION\n"
        "    Reads IN, applies each OP in the order given, writes OUT. Input\n"
        "    formats are recognised by content: PNG (any depth and colour\n"
        "    type: 16-bit samples keep their high byte, palettes are\n"
        "    expanded, alpha is dropped) and binary PGM (P5) / PPM (P6) with\n"
        "    maxval 255; PNM header comments are allowed. The output format\n"
        "    follows OUT's extension: .png, .pnm (grey or colour as the\n"
        "    image is), .pgm (colour converted to grey) or .ppm (grey\n"
        "    replicated to RGB). With no OP the file is only converted.\n"
        "    Images are limited to 2^20 pixels per side and 2^30 samples,\n"
        "    input files to 1.125 GiB.\n"
        "    A build without libpng refuses PNG files with a message saying\n"
        "    so (this one: %s).\n"
        "\n"
        "    Operations (each split into tiles run by wf_parallel_for_2d):\n"
        "    grayscale   Y = (77 R + 150 G + 29 B + 128) >> 8 (integers).\n"
        "    blur=SIGMA  separable Gaussian, 0 < SIGMA <= 64, kernel radius\n"
        "                ceil(3 SIGMA), edges clamped; float arithmetic, each\n"
        "                result rounded half up and clamped to 0..255.\n"
        "    sobel       gradient magnitude of the grey image,\n"
        "                min(255, floor(sqrt(Gx^2 + Gy^2))), edges clamped\n"
        "                (integers); the result is grey.\n"
        "    resize=WxH  bilinear, pixel centres aligned, float arithmetic\n"
        "                rounded half up.\n"
        "    sharpen     3x3 kernel [0 -1 0; -1 5 -1; 0 -1 0] per channel,\n"
        "                edges clamped, clamped to 0..255 (integers).\n"
        "\n"
        "    With -d, every regular file in INDIR named *.png, *.ppm, *.pgm\n"
        "    or *.pnm (case-insensitive; other files are ignored) is\n"
        "    processed into OUTDIR under the same name and format. OUTDIR is\n"
        "    created if missing. Images are handled concurrently, one fiber\n"
        "    each: some are read or written through weft's file I/O while\n"
        "    others compute. A file that fails is reported on stderr and the\n"
        "    others are still processed.\n"
        "\n"
        "OPTIONS\n"
        "    -d          directory mode (see above).\n"
        "    -j N        directory mode: at most N images in flight at once\n"
        "                (1 to 1024; default 4).\n"
        "    -h, --help  print this text and exit.\n"
        "    The number of worker threads is WEFT_WORKERS (default: one per\n"
        "    CPU).\n"
        "\n"
        "EXIT STATUS\n"
        "    0  every image was processed.\n"
        "    1  an image could not be read, decoded, processed or written\n"
        "       (in directory mode: at least one; the others were done).\n"
        "    2  bad usage: unknown option or operation, bad argument, or\n"
        "       (with -d) OUTDIR the same directory as INDIR.\n"
        "\n"
        "EXAMPLES\n"
        "    weft-imgproc photo.png out.png blur=2.5 sharpen\n"
        "    weft-imgproc scan.ppm edges.pgm grayscale sobel\n"
        "    weft-imgproc in.png small.ppm resize=320x240\n"
        "    WEFT_WORKERS=2 weft-imgproc -d -j 8 photos/ thumbs/ "
        "resize=160x120\n",
        img_have_png ? "with PNG support" : "without PNG support");
}

static int parse_long(const char *s, long lo, long hi, long *out,
                      const char **end)
{
    return numarg_long(s, lo, hi, out, end) ? 0 : -1;
}

static int parse_op(const char *s, struct op *op)
{
    const char *end;
    if (!strcmp(s, "grayscale") || !strcmp(s, "greyscale")) {
        op->kind = OP_GRAY;
    } else if (!strcmp(s, "sobel")) {
        op->kind = OP_SOBEL;
    } else if (!strcmp(s, "sharpen")) {
        op->kind = OP_SHARPEN;
    } else if (!strncmp(s, "blur=", 5)) {
        op->kind = OP_BLUR;
        if (!numarg_fraction(s + 5, 0.0, 64.0, &op->sigma)) {
            fprintf(stderr,
                    "weft-imgproc: %s: SIGMA must be a number in (0, 64]\n", s);
            return -1;
        }
    } else if (!strncmp(s, "resize=", 7)) {
        op->kind = OP_RESIZE;
        if (parse_long(s + 7, 1, IMG_MAX_DIM, &op->w, &end) < 0 ||
            *end != 'x' ||
            parse_long(end + 1, 1, IMG_MAX_DIM, &op->h, &end) < 0 || *end) {
            fprintf(stderr,
                    "weft-imgproc: %s: expected resize=WxH, W and H from 1 to "
                    "%ld\n",
                    s, IMG_MAX_DIM);
            return -1;
        }
    } else {
        fprintf(stderr, "weft-imgproc: unknown operation '%s' (see --help)\n",
                s);
        return -1;
    }
    return 0;
}

static int apply_ops(struct img *im, const struct op *ops, int n, char *err)
{
    for (int i = 0; i < n; i++) {
        struct img next = {0, 0, 0, NULL};
        int rc;
        switch (ops[i].kind) {
        case OP_GRAY:
            rc = op_grayscale(im, &next, err);
            break;
        case OP_BLUR:
            rc = op_blur(im, &next, ops[i].sigma, err);
            break;
        case OP_SOBEL:
            rc = op_sobel(im, &next, err);
            break;
        case OP_RESIZE:
            rc = op_resize(im, &next, ops[i].w, ops[i].h, err);
            break;
        default:
            rc = op_sharpen(im, &next, err);
            break;
        }
        if (rc < 0)
            return -1;
        img_free(im);
        *im = next;
    }
    return 0;
}

/* Largest input file: the largest image's samples and room for a PNG's
 * overhead (stored deflate blocks, filter bytes, other chunks). */
#define MAX_FILE (IMG_MAX_SAMPLES + IMG_MAX_SAMPLES / 8)

/* The whole file, through wf_pread. A file over MAX_FILE bytes is refused
 * before reading (a regular file) or once that much has been read
 * (anything else, e.g. /dev/zero). */
static int read_file(const char *path, uint8_t **out, size_t *len, char *err)
{
    int fd = wf_file_open(path, O_RDONLY, 0);
    if (fd < 0) {
        snprintf(err, IMG_ERRLEN, "cannot open: %s", wf_strerror(fd));
        return -1;
    }
    struct stat st;
    size_t cap = 65536, n = 0;
    uint8_t *buf = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        if ((uintmax_t)st.st_size > MAX_FILE) {
            snprintf(err, IMG_ERRLEN, "file too large: %jd bytes (at most %zu)",
                     (intmax_t)st.st_size, MAX_FILE);
            goto out_free;
        }
        cap = (size_t)st.st_size + 1; /* +1: see EOF without growing */
    }
    buf = malloc(cap);
    if (!buf)
        goto out_nomem;
    for (;;) {
        if (n == cap) {
            if (cap > MAX_FILE) {
                snprintf(err, IMG_ERRLEN, "file too large (over %zu bytes)",
                         MAX_FILE);
                goto out_free;
            }
            size_t ncap = cap * 2 > MAX_FILE + 1 ? MAX_FILE + 1 : cap * 2;
            uint8_t *b = realloc(buf, ncap);
            if (!b)
                goto out_nomem;
            buf = b;
            cap = ncap;
        }
        ssize_t r = wf_pread(fd, buf + n, cap - n, (off_t)n);
        if (r < 0) {
            snprintf(err, IMG_ERRLEN, "read error: %s", wf_strerror((int)r));
            goto out_free;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    wf_close(fd);
    *out = buf;
    *len = n;
    return 0;

out_nomem:
    snprintf(err, IMG_ERRLEN, "out of memory reading the file");
out_free:
    free(buf);
    wf_close(fd);
    return -1;
}

static int write_file(const char *path, const uint8_t *buf, size_t len,
                      char *err)
{
    int fd = wf_file_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        snprintf(err, IMG_ERRLEN, "cannot create: %s", wf_strerror(fd));
        return -1;
    }
    size_t n = 0;
    while (n < len) {
        ssize_t r = wf_pwrite(fd, buf + n, len - n, (off_t)n);
        if (r <= 0) {
            snprintf(err, IMG_ERRLEN, "write error: %s",
                     r < 0 ? wf_strerror((int)r) : "no progress");
            wf_close(fd);
            return -1;
        }
        n += (size_t)r;
    }
    int rc = wf_close(fd);
    if (rc < 0) {
        snprintf(err, IMG_ERRLEN, "close: %s", wf_strerror(rc));
        return -1;
    }
    return 0;
}

/* Read, decode, apply, encode, write one file. On error, one line on
 * stderr names the file (the input, or the output when writing failed)
 * and the reason. */
static int process(const char *in, const char *out, const struct op *ops,
                   int nops)
{
    enum img_format fmt = img_format_of_name(out);
    uint8_t *buf = NULL, *enc = NULL;
    size_t len = 0, enclen = 0;
    struct img im = {0, 0, 0, NULL};
    char why[IMG_ERRLEN];
    int rc = -1;
    if (fmt == IMG_UNKNOWN) {
        fprintf(
            stderr,
            "weft-imgproc: %s: unknown output format (name must end in .png, "
            ".ppm, .pgm or .pnm)\n",
            out);
        return -1;
    }
    if (read_file(in, &buf, &len, why) < 0 ||
        img_decode(buf, len, &im, why) < 0) {
        fprintf(stderr, "weft-imgproc: %s: %s\n", in, why);
        goto out;
    }
    free(buf);
    buf = NULL;
    if (apply_ops(&im, ops, nops, why) < 0) {
        fprintf(stderr, "weft-imgproc: %s: %s\n", in, why);
        goto out;
    }
    if (img_encode(&im, fmt, &enc, &enclen, why) < 0 ||
        write_file(out, enc, enclen, why) < 0) {
        fprintf(stderr, "weft-imgproc: %s: %s\n", out, why);
        goto out;
    }
    rc = 0;
out:
    free(enc);
    img_free(&im);
    free(buf);
    return rc;
}

/* ---- directory mode ----------------------------------------------------- */

struct job {
    char *in, *out;
    const struct args *a;
};

static void *job_fiber(void *arg)
{
    struct job *j = arg;
    int rc = process(j->in, j->out, j->a->ops, j->a->nops);
    if (rc < 0)
        wf_scope_fail(NULL, WF_EINVAL);
    return (void *)(intptr_t)(rc < 0);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* The image files of dir, sorted; *count of them. */
static char **list_dir(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "weft-imgproc: %s: %s\n", dir, strerror(errno));
        return NULL;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (img_format_of_name(e->d_name) == IMG_UNKNOWN)
            continue;
        char *full = join_path(dir, e->d_name);
        struct stat st;
        int regular = full && stat(full, &st) == 0 && S_ISREG(st.st_mode);
        free(full);
        if (!regular)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, cap * sizeof *names);
            if (!nn)
                goto out_nomem;
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name)))
            goto out_nomem;
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    *count = n;
    if (!names)
        names = malloc(sizeof *names);
    return names;

out_nomem:
    fprintf(stderr, "weft-imgproc: out of memory listing %s\n", dir);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return NULL;
}

static int run_dir(const struct args *a)
{
    size_t n = 0;
    char **names = list_dir(a->in, &n);
    if (!names)
        return 1;
    if (mkdir(a->out, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "weft-imgproc: %s: %s\n", a->out, strerror(errno));
        free(names);
        return 1;
    }
    struct stat si, so_;
    if (stat(a->in, &si) == 0 && stat(a->out, &so_) == 0 &&
        si.st_dev == so_.st_dev && si.st_ino == so_.st_ino) {
        /* Each output would replace its input. */
        fprintf(stderr, "weft-imgproc: %s and %s are the same directory\n",
                a->in, a->out);
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return 2;
    }
    struct job *jobs = calloc(n ? n : 1, sizeof *jobs);
    struct wf_scope *s = NULL;
    struct wf_scope_opts so = WF_SCOPE_OPTS_INIT;
    so.flags = WF_SCOPE_JOINSET;
    int status = 0, rc;
    size_t failed = 0, running = 0;
    if (!jobs || (rc = wf_scope_open_ex(&s, &so)) < 0) {
        fprintf(stderr, "weft-imgproc: cannot start: out of memory\n");
        status = 1;
        goto out_free;
    }
    for (size_t i = 0; i <= n; i++) {
        /* Take finished files while at the cap, and all of them at the end. */
        while (running > 0 && (running >= (size_t)a->jobs || i == n)) {
            void *res;
            rc = wf_scope_next(s, NULL, &res, WF_FOREVER);
            if (rc < 0)
                break;
            running--;
            failed += (size_t)(intptr_t)res;
        }
        if (i == n)
            break;
        jobs[i].a = a;
        jobs[i].in = join_path(a->in, names[i]);
        jobs[i].out = join_path(a->out, names[i]);
        if (!jobs[i].in || !jobs[i].out ||
            (rc = wf_scope_go(s, NULL, job_fiber, &jobs[i])) < 0) {
            fprintf(stderr, "weft-imgproc: %s: cannot start: out of memory\n",
                    names[i]);
            failed++;
            continue;
        }
        running++;
    }
    rc = wf_scope_close(s); /* the error group's first failure, if any */
    if (failed || rc < 0) {
        fprintf(stderr, "weft-imgproc: %zu of %zu file(s) failed\n", failed, n);
        status = 1;
    }
out_free:
    for (size_t i = 0; i < n; i++) {
        if (jobs) {
            free(jobs[i].in);
            free(jobs[i].out);
        }
        free(names[i]);
    }
    free(jobs);
    free(names);
    return status;
}

static void *main_fiber(void *arg)
{
    const struct args *a = arg;
    if (a->dir_mode)
        return (void *)(intptr_t)run_dir(a);
    return (void *)(intptr_t)(process(a->in, a->out, a->ops, a->nops) < 0);
}

int main(int argc, char **argv)
{
    struct args a = {0, 4, NULL, NULL, NULL, 0};
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "-d")) {
            a.dir_mode = 1;
        } else if (!strcmp(argv[i], "-j") && i + 1 < argc) {
            long j;
            const char *end;
            if (parse_long(argv[++i], 1, 1024, &j, &end) < 0 || *end) {
                fprintf(stderr,
                        "weft-imgproc: -j takes a number from 1 to 1024\n");
                return 2;
            }
            a.jobs = (int)j;
        } else if (!strcmp(argv[i], "--")) {
            i++;
            break;
        } else {
            fprintf(stderr, "weft-imgproc: unknown option '%s' (see --help)\n",
                    argv[i]);
            return 2;
        }
    }
    if (argc - i < 2) {
        fprintf(
            stderr,
            "usage: weft-imgproc [-d] [-j N] IN OUT [OP...] (see --help)\n");
        return 2;
    }
    a.in = argv[i];
    a.out = argv[i + 1];
    a.nops = argc - i - 2;
    a.ops = calloc((size_t)(a.nops ? a.nops : 1), sizeof *a.ops);
    if (!a.ops)
        return 1;
    for (int k = 0; k < a.nops; k++)
        if (parse_op(argv[i + 2 + k], &a.ops[k]) < 0) {
            free(a.ops);
            return 2;
        }
    if (!a.dir_mode && img_format_of_name(a.out) == IMG_UNKNOWN) {
        fprintf(
            stderr,
            "weft-imgproc: %s: unknown output format (name must end in .png, "
            ".ppm, .pgm or .pnm)\n",
            a.out);
        free(a.ops);
        return 2;
    }
    struct wf_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.stack_size = (size_t)1 << 20; /* libpng and zlib in every file fiber */
    /* Decoding a large PNG keeps a fiber on its worker for a second or
     * more by design (see the top of this file): not a stall to report. */
    cfg.stall_ns = -1;
    void *res = NULL;
    int rc = wf_run(&cfg, main_fiber, &a, &res);
    free(a.ops);
    if (rc < 0) {
        fprintf(stderr, "weft-imgproc: wf_run: %s\n", wf_strerror(rc));
        return 1;
    }
    return (int)(intptr_t)res;
}
