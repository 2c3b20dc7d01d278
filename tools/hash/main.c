/* SPDX-License-Identifier: MIT */
/*
 * weft-hash - SHA-256 of every file under the given paths, in the format
 * of GNU sha256sum (so that `sha256sum -c` checks its output).
 *
 * Design. Three kinds of fiber share one runtime:
 *
 *   walkers   one per directory, members of the scope `walks`. A walker
 *             lists its directory in one call on the blocking-call pool
 *             (open, fstat, readdir and, where d_type does not say or a
 *             symlink is to be followed, fstatat: all blocking calls that
 *             must not hold a worker), then starts a walker per
 *             subdirectory and sends each regular file's path into the
 *             channel `jobs`.
 *   hashers   -j N of them, members of `hashers`. Each takes a path from
 *             `jobs`, opens it (wf_file_open) and reads it in chunks of
 *             CHUNK bytes with wf_pread (io_uring or the pool), feeding
 *             the SHA-256 context between reads. So at most N files are
 *             open and N x CHUNK bytes are being read at once; one file is
 *             hashed in order by one fiber, different files by different
 *             fibers, which idle workers steal, so they hash in parallel.
 *   progress  when stderr is a terminal, a line redrawn four times a
 *             second.
 *
 * The operands (argv, or the names of --files-from) are stat'ed by one
 * feeder call on the blocking pool, which starts walkers for directories
 * and sends the other names into `jobs` (a plain thread may send: it
 * blocks while the channel is full, as a fiber would park).
 *
 * Termination: the main fiber awaits the feeder, then waits for `walks`
 * (a walker starts its children before it returns, so the scope cannot
 * run empty while work remains), closes `jobs`, and waits for `hashers`,
 * which return once the channel is closed and drained.
 *
 * Symlinks: operands are followed (stat); during the walk, symlinks are
 * skipped unless -L, as `find -type f` does. With -L every directory is
 * checked against those on its path (device and inode) before it is
 * entered, which catches loops through symlinks.
 *
 * Results are kept in an array guarded by `res_lock` and printed sorted
 * by name (strcmp: byte order, as `LC_ALL=C sort`) at the end, or printed
 * as they complete with --unordered. Per-file errors go to stderr at
 * once and make the exit status 1.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <weft.h>

#include "../numarg.h"

/* Exit statuses (see usage()). */
enum { EXIT_OK = 0, EXIT_FILES = 1, EXIT_USAGE = 2 };

/* Bytes one pread asks for; a hasher's buffer. */
#define CHUNK      ((size_t)256 * 1024)
#define DIGEST_LEN 32

static struct {
    int inflight;     /* -j: hashers, hence files open at once */
    bool unordered;   /* --unordered */
    bool follow;      /* -L */
    const char *from; /* --files-from, NULL: the operands */
    int delim;        /* '\n', or '\0' with -0 */
    char **operands;
    int noperands;
    bool progress; /* stderr is a terminal */
} opt = {.inflight = 32, .delim = '\n'};

static struct wf_chan *jobs;   /* char * paths to hash; owned by the receiver */
static struct wf_scope *walks; /* the walkers */
static atomic_int status;      /* EXIT_OK, or EXIT_FILES after an error */
static atomic_size_t files_done; /* for the progress line */
static atomic_ullong bytes_done;

struct result {
    char *path;
    unsigned char md[DIGEST_LEN];
};

/* Protected by res_lock. */
static struct wf_mutex res_lock;
static struct result *results;
static size_t nresults, results_cap;

/* A directory entered, kept until the end: walkers below it read the
 * chain of parents to find loops. */
struct dirnode {
    struct dirnode *parent;
    dev_t dev;
    ino_t ino;
    char *path;
    struct dirnode *all_next; /* every node, for freeing */
};
static _Atomic(struct dirnode *) all_dirs;

/* ---- errors and output -------------------------------------------------- */

static void report(const char *name, const char *reason)
{
    /* One fprintf: stderr is unbuffered, glibc writes it in one go. */
    fprintf(stderr, "%sweft-hash: %s: %s\n", opt.progress ? "\r\033[K" : "",
            name, reason);
    atomic_store_explicit(&status, EXIT_FILES, memory_order_relaxed);
}

/* Append one sha256sum line for (md, name) to the buffer b (room for
 * 2 * DIGEST_LEN + 4 + 2 * strlen(name) bytes). Names with a backslash,
 * newline or carriage return are escaped as GNU coreutils 9 does: the line
 * starts with a backslash and those become \\, \n and \r. */
static size_t format_line(char *b, const unsigned char *md, const char *name)
{
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    bool esc = strpbrk(name, "\\\n\r") != NULL;
    if (esc)
        b[k++] = '\\';
    for (int i = 0; i < DIGEST_LEN; i++) {
        b[k++] = hex[md[i] >> 4];
        b[k++] = hex[md[i] & 15];
    }
    b[k++] = ' ';
    b[k++] = ' ';
    for (const char *p = name; *p; p++) {
        if (esc && (*p == '\\' || *p == '\n' || *p == '\r')) {
            b[k++] = '\\';
            b[k++] = *p == '\\' ? '\\' : *p == '\n' ? 'n' : 'r';
        } else {
            b[k++] = *p;
        }
    }
    b[k++] = '\n';
    return k;
}

static void print_one(const unsigned char *md, const char *name)
{
    size_t room = 2 * DIGEST_LEN + 4 + 2 * strlen(name);
    char small[512];
    char *b = room <= sizeof small ? small : malloc(room);
    if (!b) {
        report(name, strerror(ENOMEM));
        return;
    }
    /* One fwrite per line: the stream's lock keeps lines whole. */
    fwrite(b, 1, format_line(b, md, name), stdout);
    if (b != small)
        free(b);
}

static void add_result(char *path, const unsigned char *md)
{
    if (opt.unordered) {
        print_one(md, path);
        free(path);
        return;
    }
    wf_mutex_lock(&res_lock, WF_FOREVER);
    if (nresults == results_cap) {
        size_t cap = results_cap ? 2 * results_cap : 1024;
        struct result *r = realloc(results, cap * sizeof *r);
        if (!r) {
            wf_mutex_unlock(&res_lock);
            report(path, strerror(ENOMEM));
            free(path);
            return;
        }
        results = r;
        results_cap = cap;
    }
    results[nresults].path = path;
    memcpy(results[nresults].md, md, DIGEST_LEN);
    nresults++;
    wf_mutex_unlock(&res_lock);
}

static int cmp_result(const void *a, const void *b)
{
    return strcmp(((const struct result *)a)->path,
                  ((const struct result *)b)->path);
}

/* Pool call: print the sorted results (stdout may block). */
static void *print_all(void *arg)
{
    (void)arg;
    qsort(results, nresults, sizeof *results, cmp_result);
    for (size_t i = 0; i < nresults; i++)
        print_one(results[i].md, results[i].path);
    fflush(stdout);
    return NULL;
}

/* ---- hashing ------------------------------------------------------------ */

struct stream {
    int fd;
    EVP_MD_CTX *ctx;
    unsigned char *buf;
    int err;
};

/* Pool call: hash what read(2) gives until end of file, for operands that
 * pread cannot read (a pipe, a terminal). */
static void *hash_stream(void *arg)
{
    struct stream *s = arg;
    for (;;) {
        ssize_t n = read(s->fd, s->buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            s->err = -errno;
            break;
        }
        if (n == 0)
            break;
        EVP_DigestUpdate(s->ctx, s->buf, (size_t)n);
        atomic_fetch_add_explicit(&bytes_done, (unsigned long long)n,
                                  memory_order_relaxed);
    }
    return NULL;
}

/* SHA-256 of the file at path into md. Returns 0 or a negative errno. */
static int hash_file(const char *path, EVP_MD_CTX *ctx, unsigned char *buf,
                     unsigned char *md)
{
    int fd = wf_file_open(path, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    int err = 0;
    if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        err = -ENOMEM;
        goto out_close;
    }
    for (off_t off = 0;;) {
        ssize_t n = wf_pread(fd, buf, CHUNK, off);
        if (n == -ESPIPE && off == 0) {
            struct stream s = {fd, ctx, buf, 0};
            struct wf_future *f;
            err = wf_blocking(&f, hash_stream, &s);
            if (err < 0)
                goto out_close;
            /* No deadline, and no fiber here is ever cancelled: the
             * pool call is over when the await returns. */
            wf_future_await(f, WF_FOREVER);
            wf_future_release(f);
            err = s.err;
            break;
        }
        if (n < 0) {
            err = (int)n;
            break;
        }
        if (n == 0)
            break;
        EVP_DigestUpdate(ctx, buf, (size_t)n);
        off += n;
        atomic_fetch_add_explicit(&bytes_done, (unsigned long long)n,
                                  memory_order_relaxed);
    }
    if (err == 0 && !EVP_DigestFinal_ex(ctx, md, NULL))
        err = -ENOMEM;
out_close:
    wf_close(fd);
    return err;
}

static void *hasher(void *arg)
{
    (void)arg;
    unsigned char *buf = malloc(CHUNK);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    char *path;
    while (wf_chan_recv(jobs, &path, WF_FOREVER) == 0) {
        unsigned char md[DIGEST_LEN];
        int err = buf && ctx ? hash_file(path, ctx, buf, md) : -ENOMEM;
        atomic_fetch_add_explicit(&files_done, 1, memory_order_relaxed);
        if (err < 0) {
            report(path, strerror(-err));
            free(path);
        } else {
            add_result(path, md);
        }
    }
    EVP_MD_CTX_free(ctx);
    free(buf);
    return NULL;
}

/* ---- walking ------------------------------------------------------------ */

enum kind { K_FILE, K_DIR, K_SKIP, K_ERR };

struct entry {
    char *name;
    enum kind kind;
    int err; /* K_ERR: negative errno */
};

/* One directory's listing, filled by list_dir on the pool. */
struct listing {
    const char *path;
    struct dirnode *parent;
    int err;              /* opening or reading failed */
    struct dirnode *loop; /* the ancestor it is the same directory as */
    dev_t dev;
    ino_t ino;
    struct entry *ents;
    size_t n, cap;
};

static enum kind kind_of(mode_t m)
{
    return S_ISREG(m) ? K_FILE : S_ISDIR(m) ? K_DIR : K_SKIP;
}

static int add_entry(struct listing *l, const char *name, enum kind k, int err)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        struct entry *e = realloc(l->ents, cap * sizeof *e);
        if (!e)
            return -ENOMEM;
        l->ents = e;
        l->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return -ENOMEM;
    l->ents[l->n++] = (struct entry){copy, k, err};
    return 0;
}

/* Pool call: list l->path. */
static void *list_dir(void *arg)
{
    struct listing *l = arg;
    int fd = open(l->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        l->err = -errno;
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        l->err = -errno;
        close(fd);
        return NULL;
    }
    l->dev = st.st_dev;
    l->ino = st.st_ino;
    for (struct dirnode *a = l->parent; a; a = a->parent) {
        if (a->dev == st.st_dev && a->ino == st.st_ino) {
            l->loop = a;
            close(fd);
            return NULL;
        }
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        l->err = -errno;
        close(fd);
        return NULL;
    }
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            l->err = -errno;
            break;
        }
        const char *nm = e->d_name;
        if (nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0)))
            continue;
        enum kind k;
        int err = 0;
        if (e->d_type == DT_REG) {
            k = K_FILE;
        } else if (e->d_type == DT_DIR) {
            k = K_DIR;
        } else if (e->d_type == DT_UNKNOWN ||
                   (e->d_type == DT_LNK && opt.follow)) {
            int flags = opt.follow ? 0 : AT_SYMLINK_NOFOLLOW;
            if (fstatat(dirfd(d), nm, &st, flags) < 0) {
                k = K_ERR;
                err = -errno;
            } else {
                k = kind_of(st.st_mode);
            }
        } else {
            k = K_SKIP; /* a symlink without -L, a device, a fifo... */
        }
        if (k != K_SKIP && add_entry(l, nm, k, err) < 0) {
            l->err = -ENOMEM;
            break;
        }
    }
    closedir(d);
    return NULL;
}

struct walkarg {
    char *path; /* becomes the dirnode's */
    struct dirnode *parent;
};

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    bool slash = a > 0 && dir[a - 1] != '/';
    char *p = malloc(a + slash + b + 1);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    if (slash)
        p[a] = '/';
    memcpy(p + a + slash, name, b + 1);
    return p;
}

static void *walk(void *arg);

/* Start a walker for path (taken over). Any thread. */
static void start_walk(char *path, struct dirnode *parent)
{
    struct walkarg *w = malloc(sizeof *w);
    int err = w ? 0 : -ENOMEM;
    if (w) {
        *w = (struct walkarg){path, parent};
        err = wf_scope_go(walks, NULL, walk, w);
    }
    if (err < 0) {
        report(path, wf_strerror(err));
        free(path);
        free(w);
    }
}

/* Hand path (taken over) to the hashers. Any thread. */
static void send_file(char *path)
{
    int err = wf_chan_send(jobs, &path, WF_FOREVER);
    if (err < 0) {
        report(path, wf_strerror(err));
        free(path);
    }
}

static void *walk(void *arg)
{
    struct walkarg *w = arg;
    struct listing *l = calloc(1, sizeof *l);
    struct wf_future *f = NULL;
    int err = l ? 0 : -ENOMEM;
    if (l) {
        l->path = w->path;
        l->parent = w->parent;
        err = wf_blocking(&f, list_dir, l);
    }
    if (err == 0) {
        /* No deadline, and walkers are never cancelled: the listing is
         * complete when the await returns. */
        wf_future_await(f, WF_FOREVER);
        wf_future_release(f);
        err = l->err;
    }
    struct dirnode *node = NULL;
    if (l && l->loop) {
        char msg[64 + PATH_MAX];
        snprintf(msg, sizeof msg, "directory loop: the same directory as '%s'",
                 l->loop->path);
        report(w->path, msg);
    } else if (l && (l->n > 0 || err == 0)) {
        node = malloc(sizeof *node);
        if (node) {
            *node = (struct dirnode){w->parent, l->dev, l->ino, w->path, NULL};
            struct dirnode *head =
                atomic_load_explicit(&all_dirs, memory_order_relaxed);
            do
                node->all_next = head;
            while (!atomic_compare_exchange_weak_explicit(
                &all_dirs, &head, node,
                memory_order_release, /* pairs with main()'s load */
                memory_order_relaxed));
        } else {
            err = -ENOMEM;
        }
    }
    if (err < 0)
        report(w->path, strerror(-err));
    /* Directories first, so that their listings run while files queue;
     * then the files, which may park while the channel is full. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; node && i < l->n; i++) {
            struct entry *e = &l->ents[i];
            if ((pass == 0) != (e->kind != K_FILE))
                continue;
            /* Starting a walker never switches, so a directory of many
             * subdirectories would keep the worker (and under TSan each
             * start is slow enough for a stall report): let the
             * neighbours run now and then. */
            if (i % 64 == 63)
                wf_yield();
            char *child = join(w->path, e->name);
            if (!child)
                report(w->path, strerror(ENOMEM));
            else if (e->kind == K_ERR)
                report(child, strerror(-e->err));
            else if (e->kind == K_DIR)
                start_walk(child, node);
            else
                send_file(child);
            if (e->kind == K_ERR)
                free(child);
        }
    }
    for (size_t i = 0; l && i < l->n; i++)
        free(l->ents[i].name);
    if (!node)
        free(w->path);
    if (l)
        free(l->ents);
    free(l);
    free(w);
    return NULL;
}

/* ---- operands ------------------------------------------------------------ */

/* An operand: followed if a symlink; a directory is walked, anything else
 * hashed. Runs on the pool (stat blocks). */
static void operand(const char *name)
{
    struct stat st;
    if (name[0] == 0) {
        report("''", "invalid zero-length file name");
        return;
    }
    if (stat(name, &st) < 0) {
        report(name, strerror(errno));
        return;
    }
    char *path = strdup(name);
    if (!path) {
        report(name, strerror(ENOMEM));
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        /* "dir/" walks as "dir", so names read "dir/x" as find prints. */
        size_t n = strlen(path);
        while (n > 1 && path[n - 1] == '/')
            path[--n] = 0;
        start_walk(path, NULL);
    } else {
        send_file(path);
    }
}

/* Pool call: every operand, from argv or from --files-from. */
static void *feed(void *arg)
{
    (void)arg;
    if (!opt.from) {
        for (int i = 0; i < opt.noperands; i++)
            operand(opt.operands[i]);
        return NULL;
    }
    FILE *in = strcmp(opt.from, "-") == 0 ? stdin : fopen(opt.from, "r");
    if (!in) {
        report(opt.from, strerror(errno));
        return NULL;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getdelim(&line, &cap, opt.delim, in)) > 0) {
        if (line[n - 1] == opt.delim)
            line[--n] = 0;
        operand(line);
    }
    if (ferror(in))
        report(opt.from, strerror(errno));
    free(line);
    if (in != stdin)
        fclose(in);
    return NULL;
}

/* ---- progress and main ---------------------------------------------------- */

static void *progress(void *arg)
{
    (void)arg;
    while (wf_sleep(250 * WF_MSEC) == 0) {
        fprintf(
            stderr, "\r\033[Kweft-hash: %zu files, %.1f MiB",
            atomic_load_explicit(&files_done, memory_order_relaxed),
            (double)atomic_load_explicit(&bytes_done, memory_order_relaxed) /
                (1024.0 * 1024.0));
    }
    return NULL;
}

static void *run(void *arg)
{
    (void)arg;
    struct wf_scope *hashers = NULL, *ui = NULL;
    struct wf_future *f;
    int err = wf_chan_create(&jobs, sizeof(char *), 2 * (size_t)opt.inflight);
    if (err == 0)
        err = wf_scope_open(&walks);
    if (err == 0)
        err = wf_scope_open(&hashers);
    if (err == 0 && opt.progress && wf_scope_open(&ui) == 0)
        wf_scope_go(ui, NULL, progress, NULL);
    for (int i = 0; err == 0 && i < opt.inflight; i++)
        err = wf_scope_go(hashers, NULL, hasher, NULL);
    if (err == 0)
        err = wf_blocking(&f, feed, NULL);
    if (err < 0) {
        fprintf(stderr, "weft-hash: %s\n", wf_strerror(err));
        exit(EXIT_USAGE);
    }
    wf_future_await(f, WF_FOREVER);
    wf_future_release(f);
    wf_scope_wait(walks, WF_FOREVER);
    wf_scope_close(walks);
    wf_chan_close(jobs);
    wf_scope_wait(hashers, WF_FOREVER);
    wf_scope_close(hashers);
    if (ui) {
        wf_scope_close(ui);
        fprintf(stderr, "\r\033[K");
    }
    wf_chan_release(jobs);
    if (!opt.unordered && wf_blocking(&f, print_all, NULL) == 0) {
        wf_future_await(f, WF_FOREVER);
        wf_future_release(f);
    }
    return NULL;
}

static void usage(FILE *out)
{
    fputs(
        "NAME\n"
        "    weft-hash - SHA-256 of every file under the given paths, in "
        "parallel\n"
        "\n"
        "SYNOPSIS\n"
        "    weft-hash [-L] [-j N] [--unordered] PATH...\n"
        "    weft-hash [-L] [-j N] [--unordered] [-0] --files-from FILE\n"
        "\n"
        "DESCRIPTION\n"
        "    Prints the SHA-256 digest (OpenSSL's libcrypto) of every regular "
        "file\n"
        "    named or found under the directories named, one line per file in "
        "the\n"
        "    format of GNU sha256sum, so that `sha256sum -c` checks the "
        "output:\n"
        "    64 hex digits, two spaces, the name. A name that contains a "
        "backslash,\n"
        "    a newline or a carriage return is escaped as sha256sum does: the "
        "line\n"
        "    starts with a backslash and those characters read \\\\, \\n and "
        "\\r.\n"
        "    Names of files found in a directory are the directory's name, a "
        "slash\n"
        "    and the entry's name, as find(1) prints them. Lines are sorted by "
        "name\n"
        "    (byte order, as LC_ALL=C sort) unless --unordered.\n"
        "\n"
        "    Directories are walked by concurrent fibers of the weft runtime, "
        "with\n"
        "    readdir and stat on its blocking-call pool; files are read in "
        "chunks\n"
        "    of 256 KiB through weft's asynchronous file I/O (from the page "
        "cache\n"
        "    on the worker, else the pool), each file hashed in order by one "
        "fiber\n"
        "    and different files in parallel on all workers (WEFT_WORKERS "
        "sets\n"
        "    their number; the default is one per CPU).\n"
        "\n"
        "    Symlinks named as operands are followed. Symlinks met while "
        "walking\n"
        "    are skipped (neither hashed nor entered, as `find -type f` does)\n"
        "    unless -L is given. Other non-regular files met while walking "
        "(fifos,\n"
        "    devices, sockets) are skipped; named as operands they are read "
        "to\n"
        "    their end.\n"
        "\n"
        "    A file that cannot be hashed (unreadable, vanished since the walk "
        "saw\n"
        "    it, a directory loop, a dangling symlink with -L) is reported on\n"
        "    stderr as `weft-hash: NAME: reason`; every other file is still "
        "hashed.\n"
        "    When stderr is a terminal a progress line is drawn there.\n"
        "\n"
        "OPTIONS\n"
        "    -j N, --inflight N\n"
        "        Hash at most N files at once (default 32): at most N files "
        "are\n"
        "        open and N x 256 KiB bytes being read.\n"
        "    -L, --dereference\n"
        "        Follow every symlink met while walking. Each directory is "
        "compared\n"
        "        (device and inode) with those on its path; a loop is reported "
        "as\n"
        "        an error and not entered.\n"
        "    --unordered\n"
        "        Print each line as its file completes, not sorted.\n"
        "    --files-from FILE\n"
        "        Read the names to hash from FILE (- for stdin), one per "
        "line,\n"
        "        instead of the operands. Directories among them are walked.\n"
        "    -0, --null\n"
        "        With --files-from: names end with a NUL byte, not a newline.\n"
        "    -h, --help\n"
        "        Print this page and exit.\n"
        "\n"
        "EXIT STATUS\n"
        "    0   every file was hashed\n"
        "    1   some file could not be hashed (reported on stderr)\n"
        "    2   bad usage, or the runtime could not start\n"
        "\n"
        "EXAMPLES\n"
        "    weft-hash src > SUMS && sha256sum -c --quiet SUMS\n"
        "    find . -name '*.iso' -print0 | weft-hash -0 --files-from -\n"
        "    weft-hash -L -j 64 --unordered /data\n",
        out);
}

int main(int argc, char **argv)
{
    enum { OPT_UNORDERED = 256, OPT_FILES_FROM };
    static const struct option longs[] = {
        {"inflight", required_argument, NULL, 'j'},
        {"dereference", no_argument, NULL, 'L'},
        {"unordered", no_argument, NULL, OPT_UNORDERED},
        {"files-from", required_argument, NULL, OPT_FILES_FROM},
        {"null", no_argument, NULL, '0'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "j:L0h", longs, NULL)) != -1) {
        switch (c) {
        case 'j': {
            long v;
            if (!numarg_long(optarg, 1, 4096, &v, NULL)) {
                fprintf(stderr,
                        "weft-hash: -j wants a number from 1 to 4096\n");
                return EXIT_USAGE;
            }
            opt.inflight = (int)v;
            break;
        }
        case 'L':
            opt.follow = true;
            break;
        case '0':
            opt.delim = 0;
            break;
        case OPT_UNORDERED:
            opt.unordered = true;
            break;
        case OPT_FILES_FROM:
            opt.from = optarg;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            fprintf(stderr, "Try 'weft-hash --help'.\n");
            return EXIT_USAGE;
        }
    }
    opt.operands = argv + optind;
    opt.noperands = argc - optind;
    if (opt.from ? opt.noperands > 0 : opt.noperands == 0) {
        fprintf(
            stderr,
            opt.from
                ? "weft-hash: operands and --files-from exclude each other\n"
                : "weft-hash: no path given; try 'weft-hash --help'\n");
        return EXIT_USAGE;
    }
    opt.progress = isatty(STDERR_FILENO);
    if (wf_mutex_init(&res_lock) < 0)
        return EXIT_USAGE;
    int err = wf_run(NULL, run, NULL, NULL);
    if (err < 0) {
        fprintf(stderr, "weft-hash: cannot start the runtime: %s\n",
                wf_strerror(err));
        return EXIT_USAGE;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "weft-hash: write error: %s\n", strerror(errno));
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < nresults; i++)
        free(results[i].path);
    free(results);
    for (struct dirnode *n = atomic_load(&all_dirs), *next; n; n = next) {
        next = n->all_next;
        free(n->path);
        free(n);
    }
    wf_mutex_destroy(&res_lock);
    return atomic_load(&status);
}
