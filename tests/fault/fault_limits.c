/* SPDX-License-Identifier: MIT */
/*
 * tests/fault/fault_limits.c - resource limits and the failures fault
 * injection makes on purpose (docs/RELIABILITY.md, "Fault injection"):
 *
 *   nofile_server         RLIMIT_NOFILE runs out while a server serves:
 *                         accept and open fail with WF_EMFILE, the open
 *                         connections are still served, and the server
 *                         accepts again once descriptors are freed;
 *   address_space         a small RLIMIT_AS: wf_init fails with WF_ENOMEM
 *                         (its task stacks do not fit), a second wf_init
 *                         with small task stacks works, spawning fails with
 *                         WF_ENOMEM once stacks fill the space, and the
 *                         runtime goes on (not under sanitizers: their
 *                         shadow memory needs terabytes of address space);
 *   map_count             vm.max_map_count reached for real: the process's
 *                         mappings are filled up to a few hundred below the
 *                         limit (one reservation split by mprotect; no
 *                         memory used, the sysctl is left alone), then
 *                         fibers are spawned until a stack cannot be mapped:
 *                         WF_ENOMEM, the others run on, freed stacks are
 *                         reused, and spawning works again once mappings
 *                         are freed (not under sanitizers, whose allocators
 *                         need new mappings);
 *   uring_unavailable     io_uring setup fails (fault injection): with
 *                         WEFT_IO=uring a call that has to wait fails
 *                         with the setup's error (WF_ENOMEM) and leaves
 *                         the runtime working, twice; the default
 *                         (epoll) never tries io_uring: the I/O works
 *                         and nothing is said on stderr;
 *   init_signal_stack     the mapping of a worker's signal stack fails
 *                         (fault injection): wf_init fails with WF_ENOMEM
 *                         (it used to start a worker without one, which
 *                         then could not report a stack overflow);
 *   trace_ring_lost       a thread's trace ring cannot be allocated (fault
 *                         injection): wf_trace_stop writes the file and
 *                         returns WF_ENOMEM (it used to return 0, the
 *                         thread's events missing without a word);
 *   mshot_kept_oom        every allocation fails while a multishot
 *                         receive keeps data (WEFT_IO_MSHOT=1): all of it
 *                         is read, in order.
 * Each case runs its runtime in a forked child (limits stay there).
 */
#include "wtest.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <weft.h>

#include "wt_fault.h"

#define CHILD_SECONDS 60

static FILE *child_log(void)
{
    FILE *log = tmpfile();
    WT_CHECK(log != NULL);
    return log;
}

/* Run fn in a child that must exit 0; its output is shown if not. */
static void in_child(void (*fn)(long, void *), long arg, FILE *log)
{
    int st = wt_fault_fork(CHILD_SECONDS, log, fn, arg, NULL);
    if (st != 0) {
        wt_fault_dump(log);
        WT_FAIL("the child %s", wt_fault_status(st));
    }
}

static int highest_fd(void)
{
    int hi = -1;
    DIR *d = opendir("/proc/self/fd");
    WT_CHECK(d != NULL);
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && atoi(e->d_name) > hi)
            hi = atoi(e->d_name);
    closedir(d);
    return hi;
}

/* ---- RLIMIT_NOFILE ------------------------------------------------------- */

#define NCLIENTS 5
#define ROOM     3 /* descriptors left for accepted connections */

static struct {
    int lfd;
    atomic_int accepted, emfile, served, open_conns;
    atomic_bool stop;
} srv;

static void *echo(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[64];
    ssize_t n;
    while ((n = wf_read(fd, buf, sizeof buf, wf_now() + 20 * WF_SEC)) > 0) {
        WT_CHECK_EQ(wf_write_all(fd, buf, (size_t)n, NULL, WF_FOREVER), n);
        atomic_fetch_add(&srv.served, 1);
    }
    WT_CHECK_EQ(wf_close(fd), 0);
    atomic_fetch_sub(&srv.open_conns, 1);
    return NULL;
}

static void *acceptor(void *arg)
{
    (void)arg;
    while (!atomic_load(&srv.stop)) {
        int fd = wf_accept(srv.lfd, NULL, NULL, wf_now() + 10 * WF_MSEC);
        if (fd == WF_EMFILE) {
            atomic_fetch_add(&srv.emfile, 1);
            wf_sleep(WF_MSEC); /* the connection stays pending: retry */
            continue;
        }
        if (fd == WF_ETIMEDOUT)
            continue;
        WT_CHECK(fd >= 0);
        atomic_fetch_add(&srv.accepted, 1);
        atomic_fetch_add(&srv.open_conns, 1);
        WT_CHECK_EQ(wf_go(NULL, echo, (void *)(intptr_t)fd), 0);
    }
    return NULL;
}

/* One echo round trip on a plain blocking client socket. */
static void round_trip(int c, char tag)
{
    char out[8] = {'p', 'i', 'n', 'g', tag}, in[8];
    WT_CHECK_EQ(write(c, out, 5), 5);
    size_t got = 0;
    while (got < 5) {
        ssize_t n = read(c, in + got, 5 - got);
        WT_CHECK(n > 0);
        got += (size_t)n;
    }
    WT_CHECK(memcmp(in, out, 5) == 0);
}

static void wait_for(atomic_int *v, int want)
{
    int64_t end = wf_now() + 20 * WF_SEC;
    while (atomic_load(v) != want) {
        if (wf_now() > end)
            WT_FAIL("waited for %d, have %d", want, atomic_load(v));
        wf_sleep(WF_MSEC);
    }
}

static void *nofile_main(void *arg)
{
    (void)arg;
    srv.lfd = wf_tcp_listen("127.0.0.1", 0, 16);
    WT_CHECK(srv.lfd >= 0);
    int port = wf_local_port(srv.lfd);
    struct wf_fiber af;
    WT_CHECK_EQ(wf_go(&af, acceptor, NULL), 0);
    /* Client sockets exist before the limit; connect needs no new one. */
    int cl[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++) {
        cl[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        WT_CHECK(cl[i] >= 0);
    }
    /* The reactor's descriptors (the poll's, its wake-up's) are opened
     * when the acceptor first waits: wait for that before the limit is
     * lowered. (A 5 ms nap was not a handshake: on a loaded machine the
     * acceptor ran only after the clients had connected, so its accepts
     * did not wait, and the first echo fiber's read had to start the
     * reactor under the lowered limit: WF_EMFILE, the connection closed,
     * a failed round trip.) */
    for (int64_t end = wf_now() + 20 * WF_SEC; !wf_io_backend();) {
        if (wf_now() > end)
            WT_FAIL("the acceptor has not started the reactor in 20 s");
        wf_sleep(WF_MSEC);
    }

    /* Fill the free numbers below the highest open one, so that exactly
     * ROOM more descriptors can be opened under the limit. */
    int hi = highest_fd(), holes[1024], nholes = 0;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        WT_CHECK(fd >= 0 && nholes < 1024);
        if (fd > hi) {
            close(fd);
            break;
        }
        holes[nholes++] = fd;
    }
    struct rlimit old, low;
    WT_CHECK_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = (rlim_t)hi + 1 + ROOM;
    WT_CHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);

    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < NCLIENTS; i++)
        WT_CHECK_EQ(connect(cl[i], (struct sockaddr *)&sa, sizeof sa), 0);
    wait_for(&srv.accepted, ROOM);
    while (atomic_load(&srv.emfile) == 0)
        wf_sleep(WF_MSEC);
    /* Out of descriptors: opening a file fails too, with an error. */
    WT_CHECK_EQ(wf_file_open("/dev/null", O_RDONLY, 0), WF_EMFILE);
    /* The open connections are served meanwhile. */
    for (int i = 0; i < ROOM; i++)
        round_trip(cl[i], (char)('a' + i));
    WT_CHECK_EQ(atomic_load(&srv.accepted), ROOM);

    /* Free descriptors: the server accepts the waiting clients. */
    close(cl[0]);
    close(cl[1]);
    wait_for(&srv.accepted, ROOM + 2);
    round_trip(cl[3], 'x');
    round_trip(cl[4], 'y');

    WT_CHECK_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
    for (int i = 2; i < NCLIENTS; i++)
        close(cl[i]);
    for (int i = 0; i < nholes; i++)
        close(holes[i]);
    wait_for(&srv.open_conns, 0);
    atomic_store(&srv.stop, true);
    WT_CHECK_EQ(wf_join(af, NULL, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_close(srv.lfd), 0);
    printf("nofile: %d accepts failed with WF_EMFILE while %d connections "
           "were served\n",
           atomic_load(&srv.emfile), ROOM);
    return NULL;
}

static void nofile_child(long arg, void *unused)
{
    (void)arg;
    (void)unused;
    struct wf_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.workers = 2;
    /* On this plain thread, not as a fiber: the client side blocks in
     * connect(2) and read(2), which would stop a worker, and a fiber sent
     * to that worker's inbox would wait for it (under
     * WEFT_DEBUG_MIGRATE every fiber a worker wakes goes to the other
     * worker's inbox: a hang once the workers poll for I/O). */
    WT_CHECK_EQ(wf_init(&cfg), 0);
    WT_CHECK(nofile_main(NULL) == NULL);
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK_EQ(wf_shutdown_discarded(), 0);
    exit(0);
}

WT_CASE(nofile_server)
{
    FILE *log = child_log();
    in_child(nofile_child, 0, log);
    wt_fault_dump(log);
}

/* ---- blocked fibers until something runs out ------------------------------ */

static struct wf_chan *gate;

static void *blocked(void *arg)
{
    (void)arg;
    char c;
    int rc = wf_chan_recv(gate, &c, WF_FOREVER);
    return (void *)(intptr_t)(rc == 0 || rc == WF_EPIPE ? 0 : rc);
}

#define MAX_FIBERS 200000

/* Spawn blocked fibers into f[] until wf_go fails; returns how many. */
static long spawn_until_full(struct wf_fiber *f, int *err)
{
    long n = 0;
    while (n < MAX_FIBERS) {
        int rc = wf_go(&f[n], blocked, NULL);
        if (rc != 0) {
            *err = rc;
            return n;
        }
        n++;
    }
    WT_FAIL("%d fibers spawned without running out", MAX_FIBERS);
}

/* Let k of the blocked fibers finish, join them (their stacks go back to
 * the runtime's caches) and spawn k new ones in their place. */
static void recycle(struct wf_fiber *f, long n, long k)
{
    for (long i = 0; i < k; i++)
        WT_CHECK_EQ(wf_chan_send(gate, "x", WF_FOREVER), 0);
    /* Whichever fibers took the values have returned; join in order and
     * respawn as slots free up. */
    long joined = 0;
    for (long i = 0; i < n && joined < k; i++) {
        void *res = NULL;
        if (wf_join(f[i], &res, wf_now() + WF_MSEC) != 0)
            continue; /* still blocked (the join keeps its handle) */
        WT_CHECK_EQ((intptr_t)res, 0);
        WT_CHECK_EQ(wf_go(&f[i], blocked, NULL), 0);
        joined++;
    }
    WT_CHECK_EQ(joined, k);
}

static void release_all(struct wf_fiber *f, long n)
{
    WT_CHECK_EQ(wf_chan_close(gate), 0);
    for (long i = 0; i < n; i++) {
        void *res = NULL;
        WT_CHECK_EQ(wf_join(f[i], &res, WF_FOREVER), 0);
        WT_CHECK_EQ((intptr_t)res, 0);
    }
    wf_chan_release(gate);
}

/* Run fn(f) as a fiber of the runtime just started, stop the runtime,
 * free f and end the child. */
static void run_and_exit(wf_fiber_fn *fn, struct wf_fiber *f)
{
    struct wf_fiber m;
    WT_CHECK_EQ(wf_go(&m, fn, f), 0);
    WT_CHECK_EQ(wf_join(m, NULL, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK_EQ(wf_shutdown_discarded(), 0);
    free(f);
    exit(0);
}

/* ---- RLIMIT_AS ------------------------------------------------------------- */

static long vm_size(void)
{
    FILE *s = fopen("/proc/self/status", "r");
    WT_CHECK(s != NULL);
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, s))
        if (sscanf(line, "VmSize: %ld kB", &kb) == 1)
            break;
    fclose(s);
    WT_CHECK(kb > 0);
    return kb * 1024;
}

/* In a fiber on the only worker: a fiber's stack goes back to its
 * worker's cache, where this fiber's spawns look first. */
static void *as_main(void *arg)
{
    struct wf_fiber *f = arg;
    WT_CHECK_EQ(wf_chan_create(&gate, 1, 0), 0);
    int err = 0;
    long n = spawn_until_full(f, &err);
    printf("address space: wf_init with 1 GiB task stacks failed with "
           "WF_ENOMEM; %ld fibers, then wf_go: %s\n",
           n, wf_strerror(err));
    WT_CHECK_EQ(err, WF_ENOMEM);
    WT_CHECK(n > 100);
    recycle(f, n, 10); /* the runtime still runs fibers, stacks reused */
    release_all(f, n);
    return NULL;
}

static void as_child(long arg, void *unused)
{
    (void)arg;
    (void)unused;
    struct wf_fiber *f = calloc(MAX_FIBERS, sizeof *f);
    WT_CHECK(f != NULL);
    struct rlimit lim;
    WT_CHECK_EQ(getrlimit(RLIMIT_AS, &lim), 0);
    lim.rlim_cur = (rlim_t)vm_size() + ((rlim_t)256 << 20);
    WT_CHECK_EQ(setrlimit(RLIMIT_AS, &lim), 0);

    struct wf_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.workers = 1; /* 1 GiB of task stack: cannot fit */
    WT_CHECK_EQ(wf_init(&cfg), WF_ENOMEM);
    cfg.task_stack_size = 1 << 20;
    WT_CHECK_EQ(wf_init(&cfg), 0);
    run_and_exit(as_main, f);
}

WT_CASE(address_space)
{
    if (wt_sanitized())
        WT_SKIP("sanitizers reserve terabytes of shadow memory: no small "
                "RLIMIT_AS");
    FILE *log = child_log();
    in_child(as_child, 0, log);
    wt_fault_dump(log);
}

/* ---- vm.max_map_count ------------------------------------------------------ */

static long read_long(const char *path)
{
    FILE *s = fopen(path, "r");
    if (!s)
        return -1;
    long v = -1;
    if (fscanf(s, "%ld", &v) != 1)
        v = -1;
    fclose(s);
    return v;
}

static long count_maps(void)
{
    FILE *s = fopen("/proc/self/maps", "r");
    WT_CHECK(s != NULL);
    long n = 0;
    int c;
    while ((c = getc(s)) != EOF)
        n += c == '\n';
    fclose(s);
    return n;
}

#define HEADROOM 400 /* mappings left for the fibers' stacks */

static struct {
    long max, before; /* the limit; mappings after the filler */
    char *fill;
    size_t len;
} maps;

/* Fill the mappings up to HEADROOM below the limit: one reservation,
 * every other page made readable, so each mprotect splits off two. */
static void fill_maps(void)
{
    long page = sysconf(_SC_PAGESIZE);
    long splits = (maps.max - count_maps() - HEADROOM) / 2;
    WT_CHECK(splits > 0);
    maps.len = (size_t)(2 * splits + 1) * (size_t)page;
    maps.fill = mmap(NULL, maps.len, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    WT_CHECK(maps.fill != MAP_FAILED);
    for (long i = 0; i < splits; i++)
        WT_CHECK_EQ(
            mprotect(maps.fill + (2 * i + 1) * page, (size_t)page, PROT_READ),
            0);
    maps.before = count_maps();
}

static void *maps_main(void *arg)
{
    struct wf_fiber *f = arg;
    long max = maps.max;
    WT_CHECK_EQ(wf_chan_create(&gate, 1, 0), 0);
    int err = 0;
    long n = spawn_until_full(f, &err);
    long at_limit = count_maps();
    printf("map count: limit %ld, %ld mappings after the filler, %ld fibers "
           "spawned, then wf_go: %s with %ld mappings\n",
           max, maps.before, n, wf_strerror(err), at_limit);
    WT_CHECK_EQ(err, WF_ENOMEM);
    WT_CHECK(n > 10);
    WT_CHECK(at_limit > max - 10);
    recycle(f, n, 5); /* freed stacks are reused without new mappings */
    WT_CHECK_EQ(munmap(maps.fill, maps.len), 0);
    /* Mappings free again: new stacks can be mapped. */
    for (int i = 0; i < 10; i++)
        WT_CHECK_EQ(wf_go(&f[n++], blocked, NULL), 0);
    release_all(f, n);
    return NULL;
}

static void maps_child(long max, void *unused)
{
    (void)unused;
    struct wf_fiber *f = calloc(MAX_FIBERS, sizeof *f);
    WT_CHECK(f != NULL);
    struct wf_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.workers = 1;               /* see as_main */
    cfg.guarded_stacks = 1L << 30; /* every stack guarded: two mappings */
    cfg.stall_ns = -1; /* reading 65,000 lines of /proc/self/maps is slow */
    WT_CHECK_EQ(wf_init(&cfg), 0);
    maps.max = max;
    fill_maps();
    run_and_exit(maps_main, f);
}

WT_CASE(map_count)
{
    if (wt_sanitized())
        WT_SKIP("sanitizer allocators map memory as they go: cannot run "
                "at vm.max_map_count");
    long max = read_long("/proc/sys/vm/max_map_count");
    if (max <= 0)
        WT_SKIP("no /proc/sys/vm/max_map_count");
    if (max > 1000000)
        WT_SKIP("vm.max_map_count is %ld: too many mappings to fill", max);
    FILE *log = child_log();
    in_child(maps_child, max, log);
    wt_fault_dump(log);
}

/* ---- io_uring unavailable ------------------------------------------------ */

/* A non-blocking Unix stream pair for the I/O cases below. */
static void socket_pair(int sv[2])
{
    WT_CHECK_EQ(
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv),
        0);
}

static void *nothing(void *arg)
{
    return arg;
}

static void *io_main(void *arg)
{
    (void)arg;
    int sv[2];
    socket_pair(sv);
    char buf[8];
    /* Nothing to read yet: the read waits on the reactor. */
    WT_CHECK_EQ(wf_read(sv[0], buf, sizeof buf, wf_now() + 20 * WF_MSEC),
                WF_ETIMEDOUT);
    WT_CHECK_EQ(wf_write_all(sv[1], "ok", 2, NULL, WF_FOREVER), 2);
    WT_CHECK_EQ(wf_read(sv[0], buf, sizeof buf, WF_FOREVER), 2);
    WT_CHECK(memcmp(buf, "ok", 2) == 0);
    WT_CHECK(wf_io_backend() && strcmp(wf_io_backend(), "epoll") == 0);
    int fd = wf_file_open("/proc/self/status", O_RDONLY, 0);
    WT_CHECK(fd >= 0);
    WT_CHECK(wf_pread(fd, buf, sizeof buf, 0) > 0);
    WT_CHECK_EQ(wf_close(fd), 0);
    WT_CHECK_EQ(wf_close(sv[0]), 0);
    WT_CHECK_EQ(wf_close(sv[1]), 0);
    return NULL;
}

/* WEFT_IO=uring whose setup fails: a read that has to wait gets the
 * setup's error, twice (the reactor tries again at the next wait), and
 * the runtime goes on (a sleep, a spawn). */
static void *forced_main(void *arg)
{
    (void)arg;
    int sv[2];
    socket_pair(sv);
    char buf[8];
    for (int i = 0; i < 2; i++)
        WT_CHECK_EQ(wf_read(sv[0], buf, sizeof buf, wf_now() + 20 * WF_MSEC),
                    WF_ENOMEM);
    WT_CHECK(wf_io_backend() == NULL);
    WT_CHECK_EQ(wf_sleep(WF_MSEC), 0);
    struct wf_fiber f;
    WT_CHECK_EQ(wf_go(&f, nothing, NULL), 0);
    WT_CHECK_EQ(wf_join(f, NULL, WF_FOREVER), 0);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void uring_child(long arg, void *unused)
{
    (void)arg;
    (void)unused;
    wf__fault_arm(1, true, 1u << WF__FAULT_URING); /* every setup fails */
    setenv("WEFT_IO", "uring", 1);
    WT_CHECK_EQ(wf_run(NULL, forced_main, NULL, NULL), 0);
    unsetenv("WEFT_IO"); /* auto: epoll, io_uring is never tried */
    for (int round = 0; round < 2; round++)
        WT_CHECK_EQ(wf_run(NULL, io_main, NULL, NULL), 0);
    exit(0);
}

WT_CASE(uring_unavailable)
{
    wt_fault_require();
#ifndef WT_HAVE_URING
    WT_SKIP("built without io_uring (liburing)");
#endif
    FILE *log = child_log();
    in_child(uring_child, 0, log);
    rewind(log);
    char line[512];
    int said = 0, setups = 0;
    while (fgets(line, sizeof line, log)) {
        if (strncmp(line, "weft: fault: ", 13) == 0)
            setups += strstr(line, "(uring)") != NULL;
        else if (strncmp(line, "weft: ", 6) == 0)
            said += strstr(line, "uring") || strstr(line, "epoll");
    }
    wt_fault_dump(log);
    /* The two forced waits tried to set io_uring up; the default never. */
    WT_CHECK_EQ(setups, 2);
    WT_CHECK_EQ(said, 0);
}

/* ---- a worker's signal stack ------------------------------------------------ */

WT_CASE(init_signal_stack)
{
    wt_fault_require();
    struct wf_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.workers = 1;
    /* wf_init maps the worker's task stack, then its signal stack. */
    wf__fault_arm(2, false, 1u << WF__FAULT_MMAP);
    WT_CHECK_EQ(wf_init(&cfg), WF_ENOMEM);
    WT_CHECK_EQ(wf__fault_failed(), 1);
    wf__fault_arm(0, false, 0);
    void *res = NULL;
    WT_CHECK_EQ(wf_run(&cfg, nothing, (void *)7, &res), 0);
    WT_CHECK_EQ((intptr_t)res, 7);
}

/* ---- a thread's trace ring ------------------------------------------------- */

static void *mark(void *arg)
{
    wf_trace_mark("from a new thread"); /* allocates the thread's ring */
    return arg;
}

WT_CASE(trace_ring_lost)
{
    wt_fault_require();
    char path[64];
    snprintf(path, sizeof path, "/tmp/weft-fault-trace-%d", (int)getpid());
    for (int lose = 0; lose < 2; lose++) {
        WT_CHECK_EQ(wf_trace_start(path), 0);
        wf__fault_arm(lose, false, 1u << WF__FAULT_ALLOC);
        pthread_t t;
        WT_CHECK_EQ(pthread_create(&t, NULL, mark, NULL), 0);
        WT_CHECK_EQ(pthread_join(t, NULL), 0);
        WT_CHECK_EQ(wf__fault_failed(), lose);
        wf__fault_arm(0, false, 0);
        WT_CHECK_EQ(wf_trace_stop(), lose ? WF_ENOMEM : 0);
        struct stat st;
        WT_CHECK_EQ(stat(path, &st), 0);
        WT_CHECK(st.st_size > 0); /* written, with or without the thread */
    }
    unlink(path);
}

/* ---- a multishot receive's kept data while allocations fail ---------------- */

#define MS_N (6 * 4096 + 77) /* more buffers than a fresh queue has room for */

static unsigned char ms_pat(size_t i)
{
    return (unsigned char)(i * 7 + (i >> 8));
}

/* Data the multishot keeps while every allocation fails is all read, in
 * order (its queue used to grow with malloc in the completion handler:
 * a failure dropped a buffer's data and ended the stream with WF_ENOMEM
 * while the multishot went on). */
static void *ms_oom_main(void *arg)
{
    (void)arg;
    if (!wf_io_rings()) {
        printf("SKIP: no ring here\n");
        return NULL;
    }
    int sv[2];
    socket_pair(sv);
    WT_CHECK_EQ(wf_fd_register(sv[0]), 0);
    char c;
    WT_CHECK_EQ(write(sv[1], "!", 1), 1);
    WT_CHECK_EQ(wf_read(sv[0], &c, 1, wf_deadline_in(20 * WF_SEC)), 1);
    static unsigned char out[MS_N], in[MS_N];
    for (size_t i = 0; i < MS_N; i++)
        out[i] = ms_pat(i);
    wf__fault_arm(1, true, 1u << WF__FAULT_ALLOC); /* every one fails */
    WT_CHECK_EQ(write(sv[1], out, MS_N), MS_N);
    /* Wait until the multishot has taken it all (the socket is empty). */
    int64_t end = wf_deadline_in(20 * WF_SEC);
    for (;;) {
        int q = -1;
        WT_CHECK_EQ(ioctl(sv[0], FIONREAD, &q), 0);
        if (q == 0)
            break;
        WT_CHECK(wf_now() < end);
        (void)wf_sleep(WF_MSEC);
    }
    /* Read it with allocations still failing: the completions may wait
     * in the ring's queue until a read reaps them. */
    size_t got = 0;
    while (got < MS_N) {
        ssize_t r =
            wf_read(sv[0], in + got, MS_N - got, wf_deadline_in(20 * WF_SEC));
        if (r <= 0)
            WT_FAIL("read after %zu bytes: %zd", got, r);
        got += (size_t)r;
    }
    long failed = wf__fault_failed();
    wf__fault_arm(0, false, 0);
    printf("allocations failed while the data was kept: %ld\n", failed);
    WT_CHECK(memcmp(in, out, MS_N) == 0);
    WT_CHECK_EQ(wf_close(sv[0]), 0);
    close(sv[1]);
    return NULL;
}

static void ms_oom_child(long arg, void *unused)
{
    (void)arg;
    (void)unused;
    setenv("WEFT_IO", "epoll", 1);
    setenv("WEFT_IO_RINGS", "1", 1);
    setenv("WEFT_IO_MSHOT", "1", 1);
    struct wf_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.workers = 1;
    WT_CHECK_EQ(wf_run(&cfg, ms_oom_main, NULL, NULL), 0);
    exit(0);
}

WT_CASE(mshot_kept_oom)
{
    wt_fault_require();
#ifndef WT_HAVE_URING
    WT_SKIP("built without io_uring (liburing)");
#endif
    FILE *log = child_log();
    in_child(ms_oom_child, 0, log);
    rewind(log);
    char line[512];
    bool skip = false;
    while (fgets(line, sizeof line, log))
        skip |= strncmp(line, "SKIP:", 5) == 0;
    wt_fault_dump(log);
    if (skip)
        WT_SKIP("no io_uring ring here");
}

WT_MAIN()
