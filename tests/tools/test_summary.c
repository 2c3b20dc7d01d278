/* SPDX-License-Identifier: MIT */
/*
 * test_tracefile: the figures of a trace (wtr_stats_compute, wtr_summary) on
 * small synthetic traces whose every figure is worked out by hand below.
 */
#include "trace_test.h"

/* Three workers (the third never runs anything), times in us, span 0 ..
 * 1000:
 *
 *   worker 0: fiber 1 0-100 park chan, fiber 2 100-300 park chan,
 *             tasks 300-400, idle 400-600, fiber 1 600-650 park "",
 *             fiber 4 650-700 yield (its reason is not a park's)
 *   worker 1: fiber 1 200-250 park sleep, fiber 3 "net" 250-750 park io,
 *             idle 750-1000
 *   I/O:      read 100-200
 *   steals:   one by worker 0, two by worker 1
 *
 * Busy: worker 0 400 fiber + 100 task of 1000 = 50 %, idle 20 %;
 * worker 1 550 fiber = 55 %, idle 25 %; worker 2 0 %.
 * Parked: chan 100 (fiber 1, to its run at 200) + 700 (fiber 2, to the
 * end) = 800 in 2 parks; sleep 350 (fiber 1, 250 to 600); "" 350
 * (fiber 1, 650 to the end); io 250 (fiber 3, 750 to the end). */
static const char *const events_a[] = {
    "{\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":0.000,\"dur\":100.000,"
    "\"cat\":\"fiber\",\"name\":\"fiber 1\",\"args\":{\"fiber\":1,"
    "\"name\":\"\",\"end\":\"park\",\"reason\":\"chan\"}}",
    "{\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":100.000,\"dur\":200.000,"
    "\"cat\":\"fiber\",\"name\":\"fiber 2\",\"args\":{\"fiber\":2,"
    "\"name\":\"\",\"end\":\"park\",\"reason\":\"chan\"}}",
    "{\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":300.000,\"dur\":100.000,"
    "\"cat\":\"task\",\"name\":\"tasks\",\"args\":{\"tasks\":5}}",
    "{\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":400.000,\"dur\":200.000,"
    "\"cat\":\"idle\",\"name\":\"idle\",\"args\":{}}",
    "{\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":600.000,\"dur\":50.000,"
    "\"cat\":\"fiber\",\"name\":\"fiber 1\",\"args\":{\"fiber\":1,"
    "\"name\":\"\",\"end\":\"park\",\"reason\":\"\"}}",
    "{\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":650.000,\"dur\":50.000,"
    "\"cat\":\"fiber\",\"name\":\"fiber 4\",\"args\":{\"fiber\":4,"
    "\"name\":\"\",\"end\":\"yield\",\"reason\":\"chan\"}}",
    "{\"ph\":\"X\",\"pid\":1,\"tid\":2,\"ts\":200.000,\"dur\":50.000,"
    "\"cat\":\"fiber\",\"name\":\"fiber 1\",\"args\":{\"fiber\":1,"
    "\"name\":\"\",\"end\":\"park\",\"reason\":\"sleep\"}}",
    "{\"ph\":\"X\",\"pid\":1,\"tid\":2,\"ts\":250.000,\"dur\":500.000,"
    "\"cat\":\"fiber\",\"name\":\"net\",\"args\":{\"fiber\":3,"
    "\"name\":\"net\",\"end\":\"park\",\"reason\":\"io\"}}",
    "{\"ph\":\"X\",\"pid\":1,\"tid\":2,\"ts\":750.000,\"dur\":250.000,"
    "\"cat\":\"idle\",\"name\":\"idle\"}",
    "{\"ph\":\"X\",\"pid\":1,\"tid\":1000,\"ts\":100.000,\"dur\":100.000,"
    "\"cat\":\"io\",\"name\":\"read\",\"args\":{\"fd\":7,\"res\":512}}",
    "{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":1,\"ts\":99.000,"
    "\"cat\":\"steal\",\"name\":\"steal\",\"args\":{\"from\":1}}",
    "{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":2,\"ts\":199.000,"
    "\"cat\":\"steal\",\"name\":\"steal\",\"args\":{\"from\":0}}",
    "{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":2,\"ts\":249.000,"
    "\"cat\":\"steal\",\"name\":\"steal\",\"args\":{\"from\":0}}",
    "{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":2,\"ts\":300.000,"
    "\"cat\":\"spawn\",\"name\":\"spawn\",\"args\":{\"fiber\":9}}",
    "{\"ph\":\"M\",\"pid\":1,\"tid\":1,\"name\":\"thread_name\","
    "\"args\":{\"name\":\"worker 0\"}}",
    "{\"ph\":\"M\",\"pid\":1,\"tid\":1,\"name\":\"thread_sort_index\","
    "\"args\":{\"sort_index\":1}}",
};
#define NEVENTS_A (sizeof events_a / sizeof events_a[0])

/* The trace, its events in the order perm gives (NULL: as listed). */
static char *trace_a(const size_t *perm)
{
    size_t cap = 256;
    for (size_t i = 0; i < NEVENTS_A; i++)
        cap += strlen(events_a[i]) + 2;
    char *s = malloc(cap);
    WT_CHECK(s != NULL);
    strcpy(s, "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"weft_trace\":1,"
              "\"workers\":3,\"dropped\":7,\"events\":16},\n"
              "\"traceEvents\":[\n");
    for (size_t i = 0; i < NEVENTS_A; i++) {
        strcat(s, events_a[perm ? perm[i] : i]);
        strcat(s, i + 1 < NEVENTS_A ? ",\n" : "\n");
    }
    strcat(s, "]}\n");
    return s;
}

static void check_a(const struct wtr_stats *st)
{
    WT_CHECK_EQ(st->t0, 0);
    WT_CHECK_EQ(st->t1, 1000000);
    WT_CHECK_EQ(st->events, (long)NEVENTS_A);
    WT_CHECK_EQ(st->dropped, 7);
    WT_CHECK_EQ(st->nworkers, 3);
    const struct wtr_worker_stats *w = st->workers;
    WT_CHECK_EQ(w[0].fiber_ns, 400000);
    WT_CHECK_EQ(w[0].task_ns, 100000);
    WT_CHECK_EQ(w[0].idle_ns, 200000);
    WT_CHECK_EQ(w[0].fiber_slices, 4);
    WT_CHECK_EQ(w[0].task_slices, 1);
    WT_CHECK_EQ(w[0].steals, 1);
    WT_CHECK(w[0].busy_pct == 50.0 && w[0].idle_pct == 20.0);
    WT_CHECK_EQ(w[1].fiber_ns, 550000);
    WT_CHECK_EQ(w[1].task_ns, 0);
    WT_CHECK_EQ(w[1].idle_ns, 250000);
    WT_CHECK_EQ(w[1].fiber_slices, 2);
    WT_CHECK_EQ(w[1].steals, 2);
    WT_CHECK(w[1].busy_pct == 55.0 && w[1].idle_pct == 25.0);
    WT_CHECK_EQ(w[2].fiber_ns + w[2].task_ns + w[2].idle_ns, 0);
    WT_CHECK_EQ(w[2].fiber_slices + w[2].steals, 0);
    WT_CHECK(w[2].busy_pct == 0.0);
    WT_CHECK_EQ(st->steals, 3);
    WT_CHECK_EQ(st->io_ops, 1);
    WT_CHECK_EQ(st->io_ns, 100000);

    WT_CHECK_EQ(st->nreasons, 4);
    WT_CHECK(strcmp(st->parked[0].reason, "chan") == 0);
    WT_CHECK_EQ(st->parked[0].ns, 800000);
    WT_CHECK_EQ(st->parked[0].parks, 2);
    /* Equal times: by name, "" first. */
    WT_CHECK(strcmp(st->parked[1].reason, "") == 0);
    WT_CHECK_EQ(st->parked[1].ns, 350000);
    WT_CHECK(strcmp(st->parked[2].reason, "sleep") == 0);
    WT_CHECK_EQ(st->parked[2].ns, 350000);
    WT_CHECK(strcmp(st->parked[3].reason, "io") == 0);
    WT_CHECK_EQ(st->parked[3].ns, 250000);
    WT_CHECK_EQ(st->parked[3].parks, 1);

    /* The hog first; equal durations by start time. */
    WT_CHECK_EQ(st->nlongest, 7);
    WT_CHECK_EQ(st->longest[0].fiber, 3);
    WT_CHECK_EQ(st->longest[0].worker, 1);
    WT_CHECK_EQ(st->longest[0].dur, 500000);
    WT_CHECK(strcmp(st->longest[0].name, "net") == 0);
    WT_CHECK_EQ(st->longest[1].fiber, 2);
    WT_CHECK_EQ(st->longest[2].fiber, 1);
    WT_CHECK_EQ(st->longest[2].ts, 0);
    WT_CHECK_EQ(st->longest[3].kind, WTR_TASK);
    WT_CHECK_EQ(st->longest[3].fiber, 5); /* the task count */
    WT_CHECK_EQ(st->longest[4].ts, 200000);
    WT_CHECK_EQ(st->longest[4].worker, 1);
    WT_CHECK_EQ(st->longest[5].ts, 600000);
    WT_CHECK_EQ(st->longest[6].fiber, 4);
}

WT_CASE(summary_figures)
{
    char *s = trace_a(NULL);
    struct wtr_trace *t = tt_load(s);
    struct wtr_stats st;
    WT_CHECK_EQ(wtr_stats_compute(t, &st), 0);
    check_a(&st);
    wtr_stats_free(&st);
    wtr_free(t);
    free(s);
}

/* Events come in any order: reversed and shuffled give the same figures. */
WT_CASE(summary_unsorted)
{
    size_t perm[NEVENTS_A];
    uint64_t seed = wt_seed();
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < NEVENTS_A; i++)
            perm[i] = round == 0 ? NEVENTS_A - 1 - i : i;
        if (round > 0)
            for (size_t i = NEVENTS_A - 1; i > 0; i--) {
                size_t j = wt_rand(&seed) % (i + 1), x = perm[i];
                perm[i] = perm[j];
                perm[j] = x;
            }
        char *s = trace_a(perm);
        struct wtr_trace *t = tt_load(s);
        struct wtr_stats st;
        WT_CHECK_EQ(wtr_stats_compute(t, &st), 0);
        check_a(&st);
        wtr_stats_free(&st);
        wtr_free(t);
        free(s);
    }
}

/* The printed summary, through the program. */
WT_CASE(summary_text)
{
    char *s = trace_a(NULL);
    const char *p = tt_path("a.json");
    tt_write(p, s, strlen(s));
    free(s);
    WT_CHECK_EQ(tt_tool(p, NULL, NULL, NULL, NULL, NULL), 0);
    char *o = tt_read(tt_path("out.txt"), NULL);
    TT_CONTAINS(o, "span: 1.000 ms (from 0 ns to 1.000 ms)\n");
    TT_CONTAINS(o, "events: 16 (10 slices, 4 instants, 0 wake flows)\n");
    TT_CONTAINS(o, "dropped events: 7 ");
    WT_CHECK(strstr(o, "otherData says") == NULL);
    TT_CONTAINS(o, "workers: 3\n");
    TT_CONTAINS(o, "  worker        busy   fiber    task    idle  switches  "
                   "steals\n");
    TT_CONTAINS(o, "  worker 0     50.0%   40.0%   10.0%   20.0%         4"
                   "       1\n");
    TT_CONTAINS(o, "  worker 1     55.0%   55.0%    0.0%   25.0%         2"
                   "       2\n");
    TT_CONTAINS(o, "  worker 2      0.0%    0.0%    0.0%    0.0%         0"
                   "       0\n");
    TT_CONTAINS(o, "steals: 3\n");
    TT_CONTAINS(o, "I/O operations: 1, 100.000 us in flight in all\n");
    TT_CONTAINS(o, "  chan           800.000 us         2 parks\n"
                   "  (none)         350.000 us         1 parks\n"
                   "  sleep          350.000 us         1 parks\n"
                   "  io             250.000 us         1 parks\n");
    TT_CONTAINS(o, "   1.     500.000 us  worker 1   at 250.000 us     "
                   "net (fiber 3)\n");
    TT_CONTAINS(o, "   2.     200.000 us  worker 0   at 100.000 us     "
                   "fiber 2\n");
    TT_CONTAINS(o, "   4.     100.000 us  worker 0   at 300.000 us     "
                   "tasks (5)\n");
    WT_CHECK(strstr(o, "   8. ") == NULL);
    free(o);
    o = tt_read(tt_path("err.txt"), NULL);
    WT_CHECK_EQ(strlen(o), 0);
    free(o);
}

/* Only the ten longest are listed, longest first. */
WT_CASE(summary_longest_ten)
{
    char *s = malloc(64 * 1024);
    WT_CHECK(s != NULL);
    int n = sprintf(s, "{\"traceEvents\":[");
    int64_t ts = 0;
    for (int f = 1; f <= 25; f++) {
        /* Fiber f runs f us, the odd ones on worker 1. */
        n += sprintf(s + n,
                     "%s{\"ph\":\"X\",\"tid\":%d,\"ts\":%lld.000,"
                     "\"dur\":%d.000,\"cat\":\"fiber\",\"name\":\"fiber %d\","
                     "\"args\":{\"fiber\":%d,\"end\":\"yield\"}}",
                     f > 1 ? "," : "", 1 + (f % 2), (long long)ts, f, f, f);
        ts += 100;
    }
    /* A task slice as long as fiber 20, later: it ranks after it. */
    n += sprintf(s + n, ",{\"ph\":\"X\",\"tid\":1,\"ts\":5000,\"dur\":20,"
                        "\"cat\":\"task\",\"name\":\"tasks\"}]}");
    struct wtr_trace *t = tt_load(s);
    struct wtr_stats st;
    WT_CHECK_EQ(wtr_stats_compute(t, &st), 0);
    WT_CHECK_EQ(st.nlongest, WTR_LONGEST);
    int want[WTR_LONGEST] = {25, 24, 23, 22, 21, 20, -1, 19, 18, 17};
    for (int i = 0; i < WTR_LONGEST; i++) {
        if (want[i] < 0) {
            WT_CHECK_EQ(st.longest[i].kind, WTR_TASK);
            WT_CHECK_EQ(st.longest[i].worker, 0);
            continue;
        }
        WT_CHECK_EQ(st.longest[i].kind, WTR_FIBER);
        WT_CHECK_EQ(st.longest[i].fiber, want[i]);
        WT_CHECK_EQ(st.longest[i].dur, want[i] * 1000);
        WT_CHECK_EQ(st.longest[i].worker, want[i] % 2);
    }
    WT_CHECK_EQ(st.workers[0].fiber_slices + st.workers[1].fiber_slices, 25);
    wtr_stats_free(&st);
    wtr_free(t);
    free(s);
}

/* A fiber parked on a worker resumes on another: the gap runs across
 * workers; one that overlaps its next slice (clocks disagreeing) counts
 * 0; a trace without otherData says its dropped count is unknown. */
WT_CASE(summary_park_edges)
{
    struct wtr_trace *t = tt_load(
        "[{\"ph\":\"X\",\"tid\":1,\"ts\":0,\"dur\":10,\"cat\":\"fiber\","
        "\"args\":{\"fiber\":1,\"end\":\"park\",\"reason\":\"mutex\"}},"
        "{\"ph\":\"X\",\"tid\":2,\"ts\":30,\"dur\":10,\"cat\":\"fiber\","
        "\"args\":{\"fiber\":1,\"end\":\"park\",\"reason\":\"mutex\"}},"
        "{\"ph\":\"X\",\"tid\":1,\"ts\":39.5,\"dur\":10,\"cat\":\"fiber\","
        "\"args\":{\"fiber\":1,\"end\":\"exit\"}},"
        "{\"ph\":\"X\",\"tid\":3,\"ts\":0,\"dur\":60,\"cat\":\"fiber\","
        "\"args\":{\"fiber\":2,\"end\":\"park\",\"reason\":\"future\"}}]");
    struct wtr_stats st;
    WT_CHECK_EQ(wtr_stats_compute(t, &st), 0);
    WT_CHECK_EQ(st.nworkers, 3);
    WT_CHECK_EQ(st.nreasons, 2);
    WT_CHECK(strcmp(st.parked[0].reason, "mutex") == 0);
    WT_CHECK_EQ(st.parked[0].ns, 20000);
    WT_CHECK_EQ(st.parked[0].parks, 2);
    WT_CHECK(strcmp(st.parked[1].reason, "future") == 0);
    WT_CHECK_EQ(st.parked[1].ns, 0); /* parked at the very end */
    WT_CHECK_EQ(st.has_other, 0);
    wtr_stats_free(&st);
    FILE *f = tmpfile();
    WT_CHECK(f != NULL);
    WT_CHECK_EQ(wtr_summary(t, f), 0);
    rewind(f);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    TT_CONTAINS(buf, "dropped events: unknown (no otherData)\n");
    fclose(f);
    wtr_free(t);

    /* A file that holds fewer events than otherData counted. */
    t = tt_load("{\"otherData\":{\"events\":5},\"traceEvents\":[]}");
    f = tmpfile();
    WT_CHECK(f != NULL);
    WT_CHECK_EQ(wtr_summary(t, f), 0);
    rewind(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    TT_CONTAINS(buf, "otherData says 5 events: the file holds 0\n");
    TT_CONTAINS(buf, "dropped events: 0\n");
    fclose(f);
    wtr_free(t);
}
