/* SPDX-License-Identifier: MIT */
/*
 * tools/trace_stats.c - the figures of a trace and the text summary.
 *
 * Utilisation is over the trace span (earliest event to latest end), the
 * same denominator for every worker, so that a worker that started late
 * or whose early events were dropped shows as less used rather than as
 * busy over a shorter window.
 *
 * Time parked: each fiber's slices are taken in time order (an index
 * sorted by fiber id, then ts); a slice that ended with end "park" counts
 * the gap to the same fiber's next slice, wherever it ran, or to the trace
 * end when the fiber never ran again. A negative gap (overlapping slices
 * of one fiber: clocks of two workers disagreeing) counts as 0.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "trace_int.h"

/* qsort, which may not be given a NULL array even when it is empty. */
static void sort_n(void *base, size_t n, size_t size,
                   int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(base, n, size, cmp);
}

struct by_fiber {
    const struct wtr_slice *s;
};

static int cmp_by_fiber(const void *a, const void *b)
{
    const struct wtr_slice *x = ((const struct by_fiber *)a)->s;
    const struct wtr_slice *y = ((const struct by_fiber *)b)->s;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x < y ? -1 : x > y; /* stable: the sorted order of the trace */
}

static int cmp_park(const void *a, const void *b)
{
    const struct wtr_park_stats *x = a, *y = b;
    if (x->ns != y->ns)
        return x->ns > y->ns ? -1 : 1;
    return strcmp(x->reason, y->reason);
}

/* Whether slice a ranks before b among the longest: longer, then earlier,
 * then by worker. */
static int longer(const struct wtr_long_slice *a,
                  const struct wtr_long_slice *b)
{
    if (a->dur != b->dur)
        return a->dur > b->dur;
    if (a->ts != b->ts)
        return a->ts < b->ts;
    return a->worker < b->worker;
}

static void consider_long(struct wtr_stats *st, const struct wtr_trace *t,
                          const struct wtr_slice *s)
{
    struct wtr_long_slice c;
    c.kind = (enum wtr_kind)s->kind;
    c.fiber = s->id;
    c.name = wtr_str(t, s->name);
    c.worker = t->tracks[s->track].worker;
    c.ts = s->ts;
    c.dur = s->dur;
    int n = st->nlongest;
    if (n == WTR_LONGEST && !longer(&c, &st->longest[n - 1]))
        return;
    if (n < WTR_LONGEST)
        n = ++st->nlongest;
    int i = n - 1;
    while (i > 0 && longer(&c, &st->longest[i - 1])) {
        st->longest[i] = st->longest[i - 1];
        i--;
    }
    st->longest[i] = c;
}

int wtr_stats_compute(const struct wtr_trace *t, struct wtr_stats *st)
{
    memset(st, 0, sizeof *st);
    st->t0 = t->t0;
    st->t1 = t->t1;
    st->events = t->events;
    st->ignored = t->ignored;
    st->slices = (long)t->nslices;
    st->instants = (long)t->ninstants;
    st->flows = (long)t->nflows;
    st->has_other = t->has_other;
    st->dropped = t->dropped > 0 ? t->dropped : 0;
    st->events_said = t->events_said;
    st->nworkers = t->nworkers;
    st->workers = calloc((size_t)t->nworkers + 1, sizeof *st->workers);
    if (!st->workers)
        return -ENOMEM;

    int64_t span = t->t1 - t->t0;
    size_t nfiber = 0;
    for (int k = 0; k < t->ntracks; k++) {
        const struct wtr_track *tr = &t->tracks[k];
        struct wtr_worker_stats *w =
            tr->type == WTR_TRACK_WORKER ? &st->workers[tr->worker] : NULL;
        if (w)
            w->worker = tr->worker;
        for (size_t i = tr->first; i < tr->first + tr->count; i++) {
            const struct wtr_slice *s = &t->slices[i];
            switch (s->kind) {
            case WTR_FIBER:
                nfiber++;
                if (w) {
                    w->fiber_ns += s->dur;
                    w->fiber_slices++;
                }
                consider_long(st, t, s);
                break;
            case WTR_TASK:
                if (w) {
                    w->task_ns += s->dur;
                    w->task_slices++;
                }
                consider_long(st, t, s);
                break;
            case WTR_IDLE:
                if (w)
                    w->idle_ns += s->dur;
                break;
            case WTR_IO:
                st->io_ops++;
                st->io_ns += s->dur;
                break;
            default:
                break;
            }
        }
        for (size_t i = tr->ifirst; i < tr->ifirst + tr->icount; i++) {
            if (t->instants[i].cat != WTR_I_STEAL)
                continue;
            st->steals++;
            if (w)
                w->steals++;
        }
        if (w && span > 0) {
            w->busy_pct =
                100.0 * (double)(w->fiber_ns + w->task_ns) / (double)span;
            w->idle_pct = 100.0 * (double)w->idle_ns / (double)span;
        }
    }

    /* Parked time: the fiber slices with an id, by fiber and time. */
    struct by_fiber *idx = malloc(nfiber * sizeof *idx + 1);
    int64_t *park_ns = calloc(t->nstr, sizeof *park_ns);
    long *parks = calloc(t->nstr, sizeof *parks);
    if (!idx || !park_ns || !parks) {
        free(idx);
        free(park_ns);
        free(parks);
        wtr_stats_free(st);
        return -ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < t->nslices; i++)
        if (t->slices[i].kind == WTR_FIBER && t->slices[i].id >= 0)
            idx[n++].s = &t->slices[i];
    sort_n(idx, n, sizeof *idx, cmp_by_fiber);
    for (size_t i = 0; i < n; i++) {
        const struct wtr_slice *s = idx[i].s;
        if (!t->s_park || s->end != t->s_park)
            continue;
        int64_t end = s->ts + s->dur;
        int64_t next =
            i + 1 < n && idx[i + 1].s->id == s->id ? idx[i + 1].s->ts : t->t1;
        park_ns[s->reason] += next > end ? next - end : 0;
        parks[s->reason]++;
    }
    for (uint32_t r = 0; r < t->nstr; r++)
        st->nreasons += parks[r] > 0;
    st->parked = calloc((size_t)st->nreasons + 1, sizeof *st->parked);
    if (!st->parked) {
        free(idx);
        free(park_ns);
        free(parks);
        wtr_stats_free(st);
        return -ENOMEM;
    }
    int k = 0;
    for (uint32_t r = 0; r < t->nstr; r++) {
        if (!parks[r])
            continue;
        st->parked[k].reason = wtr_str(t, r);
        st->parked[k].ns = park_ns[r];
        st->parked[k].parks = parks[r];
        k++;
    }
    sort_n(st->parked, (size_t)st->nreasons, sizeof *st->parked, cmp_park);
    free(idx);
    free(park_ns);
    free(parks);
    return 0;
}

void wtr_stats_free(struct wtr_stats *st)
{
    free(st->workers);
    free(st->parked);
    st->workers = NULL;
    st->parked = NULL;
}

/* "fiber 12", or "name (fiber 12)" when the slice's name is not the
 * default one. */
static void slice_label(char *buf, size_t len, const struct wtr_long_slice *l)
{
    if (l->kind == WTR_TASK) {
        if (l->fiber >= 0)
            snprintf(buf, len, "tasks (%lld)", (long long)l->fiber);
        else
            snprintf(buf, len, "tasks");
        return;
    }
    char dflt[40];
    snprintf(dflt, sizeof dflt, "fiber %lld", (long long)l->fiber);
    if (l->fiber < 0)
        snprintf(buf, len, "%s", *l->name ? l->name : "fiber ?");
    else if (!*l->name || strcmp(l->name, dflt) == 0)
        snprintf(buf, len, "%s", dflt);
    else
        snprintf(buf, len, "%.200s (%s)", l->name, dflt);
}

int wtr_summary(const struct wtr_trace *t, FILE *out)
{
    struct wtr_stats st;
    char a[32], b[32], c[32];
    int rc = wtr_stats_compute(t, &st);
    if (rc < 0)
        return rc;

    wtr_format_ns(a, sizeof a, st.t1 - st.t0);
    wtr_format_ns(b, sizeof b, st.t0);
    wtr_format_ns(c, sizeof c, st.t1);
    fprintf(out, "span: %s (from %s to %s)\n", a, b, c);
    fprintf(out, "events: %ld (%ld slices, %ld instants, %ld wake flows",
            st.events, st.slices, st.instants, st.flows);
    if (st.ignored)
        fprintf(out, ", %ld of other phases ignored", st.ignored);
    fprintf(out, ")\n");
    if (st.events_said >= 0 && st.events_said != st.events)
        fprintf(out, "otherData says %lld events: the file holds %ld\n",
                st.events_said, st.events);
    if (st.has_other) {
        fprintf(out, "dropped events: %lld", st.dropped);
        if (st.dropped)
            fprintf(out, " (the trace misses its oldest events: rings were "
                         "full)");
        fprintf(out, "\n");
    } else {
        fprintf(out, "dropped events: unknown (no otherData)\n");
    }

    fprintf(out, "\nworkers: %d\n", st.nworkers);
    if (st.nworkers) {
        fprintf(out, "  %-10s %7s %7s %7s %7s %9s %7s\n", "worker", "busy",
                "fiber", "task", "idle", "switches", "steals");
        int64_t span = st.t1 - st.t0;
        for (int w = 0; w < st.nworkers; w++) {
            const struct wtr_worker_stats *ws = &st.workers[w];
            double f =
                span > 0 ? 100.0 * (double)ws->fiber_ns / (double)span : 0;
            double k =
                span > 0 ? 100.0 * (double)ws->task_ns / (double)span : 0;
            char name[24];
            snprintf(name, sizeof name, "worker %d", w);
            fprintf(out, "  %-10s %6.1f%% %6.1f%% %6.1f%% %6.1f%% %9ld %7ld\n",
                    name, ws->busy_pct, f, k, ws->idle_pct, ws->fiber_slices,
                    ws->steals);
        }
    }
    fprintf(out, "steals: %ld\n", st.steals);
    if (st.io_ops) {
        wtr_format_ns(a, sizeof a, st.io_ns);
        fprintf(out, "I/O operations: %ld, %s in flight in all\n", st.io_ops,
                a);
    }

    fprintf(out, "\ntime parked by reason (from a park to the fiber's next "
                 "run or the trace end):\n");
    if (!st.nreasons)
        fprintf(out, "  (no fiber slice ended with a park)\n");
    for (int i = 0; i < st.nreasons; i++) {
        wtr_format_ns(a, sizeof a, st.parked[i].ns);
        fprintf(out, "  %-10s %14s %9ld parks\n",
                *st.parked[i].reason ? st.parked[i].reason : "(none)", a,
                st.parked[i].parks);
    }

    fprintf(out, "\nlongest slices:\n");
    if (!st.nlongest)
        fprintf(out, "  (no fiber or task slice)\n");
    for (int i = 0; i < st.nlongest; i++) {
        const struct wtr_long_slice *l = &st.longest[i];
        char what[256], where[24];
        slice_label(what, sizeof what, l);
        if (l->worker >= 0)
            snprintf(where, sizeof where, "worker %d", l->worker);
        else
            snprintf(where, sizeof where, "-");
        wtr_format_ns(a, sizeof a, l->dur);
        wtr_format_ns(b, sizeof b, l->ts);
        fprintf(out, "  %2d. %14s  %-10s at %-14s %s\n", i + 1, a, where, b,
                what);
    }
    wtr_stats_free(&st);
    fflush(out);
    return ferror(out) ? -EIO : 0;
}
