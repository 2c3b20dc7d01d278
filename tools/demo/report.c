/* SPDX-License-Identifier: MIT */
/*
 * tools/demo/report.c - what weft-demo says about its measurements: the
 * why-line of each variant, the terminal table, the CSV and the HTML
 * report.
 *
 * The why-lines are built from the numbers of the run (wall and CPU time,
 * the workload's sizes, the other variants of the same workload), never
 * from what the variant was expected to do, so a machine where a model
 * loses says so.
 *
 * The HTML report is one self-contained file: inline CSS, no script, no
 * external resource. Each variant has a <section> of its own, and each
 * workload ends with its variants' timelines side by side: SVG drawn from
 * a traced run of each variant (tools/trace_svg.h) and inlined, with a
 * link to the trace file beside the report.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "demo.h"
#include "trace_model.h"
#include "trace_svg.h"

const char *workload_title(enum workload w)
{
    switch (w) {
    case WL_IO:
        return "I/O-bound";
    case WL_CPU:
        return "CPU-bound";
    default:
        return "Mixed, server-like";
    }
}

static double ms(int64_t ns)
{
    return (double)ns / 1e6;
}

void workload_setup(const struct params *p, enum workload w, char *buf,
                    size_t n)
{
    long inflight;
    switch (w) {
    case WL_IO:
        inflight = p->inflight < p->requests ? p->inflight : p->requests;
        snprintf(buf, n,
                 "%ld requests to a loopback server, %g ms latency each, "
                 "%ld in flight",
                 p->requests, ms(p->latency_ns), inflight);
        break;
    case WL_CPU:
        snprintf(buf, n,
                 "Mandelbrot %d x %d, at most %d iterations a pixel; "
                 "answer: checksum of the iteration counts",
                 p->size, p->size, p->max_iter);
        break;
    default:
        inflight =
            p->inflight < p->mixed_requests ? p->inflight : p->mixed_requests;
        snprintf(buf, n,
                 "%ld requests, each %g ms latency, then %d Mandelbrot rows "
                 "of %d pixels; %ld in flight",
                 p->mixed_requests, ms(p->latency_ns), p->mixed_rows,
                 p->mixed_width, inflight);
        break;
    }
}

const char *workload_lesson(enum workload w)
{
    switch (w) {
    case WL_IO:
        return "The work is waiting. Concurrency wins: fibers (or futures "
               "with callbacks) keep many requests in flight on one worker, "
               "so their waits overlap. More workers add little, because a "
               "wait does not get shorter with more cores.";
    case WL_CPU:
        return "The work is computing. Fibers on one worker interleave but "
               "never run at once, so they gain nothing; parallelism "
               "(wf_parallel_for, tasks on every worker) divides the time "
               "by the number of cores.";
    default:
        return "Each request waits, then computes. Fibers hide the waits, "
               "and only more workers divide the computing; splitting each "
               "request's computing with wf_parallel_for helps where cores "
               "would otherwise be idle.";
    }
}

/* "1.23 s", "45.6 ms", "789 us". */
static const char *fmt_time(double s, char *buf, size_t n)
{
    if (s >= 1.0)
        snprintf(buf, n, "%.2f s", s);
    else if (s >= 0.01)
        snprintf(buf, n, "%.1f ms", s * 1e3);
    else if (s >= 0.001)
        snprintf(buf, n, "%.2f ms", s * 1e3);
    else
        snprintf(buf, n, "%.0f us", s * 1e6);
    return buf;
}

static const struct result *find(const struct result *rs, int n,
                                 const char *key)
{
    for (int i = 0; i < n; i++)
        if (strcmp(rs[i].key, key) == 0)
            return &rs[i];
    return NULL;
}

static double busy(const struct result *r)
{
    return r->wall_s > 0 ? r->cpu_s / r->wall_s : 0;
}

/* What the process lost to other programs, if it lost much: ", and was
 * off the CPU 40% of the time (load average 3.9)", else "". */
static const char *starved(const struct params *p, double got, double want,
                           char *buf, size_t n)
{
    buf[0] = 0;
    if (got < 0.85 * want)
        snprintf(buf, n,
                 "; only %.2f of the %.0f cores it could use were busy: "
                 "other programs had the rest (load average %.1f)",
                 got, want, p->load);
    return buf;
}

static void explain_io(const struct params *p, struct result *r,
                       const struct result *rs, int n)
{
    char a[32], b[32], c[32];
    double lat = (double)p->latency_ns / 1e9;
    long inflight = p->inflight < p->requests ? p->inflight : p->requests;
    long rounds = (p->requests + inflight - 1) / inflight;
    if (r->model == MODEL_BLOCKING) {
        double ideal = (double)p->requests * lat;
        snprintf(r->why, sizeof r->why,
                 "wall %s = %.2f x (%ld requests x %g ms = %s): waits one "
                 "at a time; CPU %.0f%% of wall: the thread sleeps in read()",
                 fmt_time(r->wall_s, a, sizeof a), r->wall_s / ideal,
                 p->requests, lat * 1e3, fmt_time(ideal, b, sizeof b),
                 100 * busy(r));
        return;
    }
    double ideal = (double)rounds * lat;
    const struct result *one = find(rs, n, "io-fibers-1");
    if (r->model == MODEL_FIBERS && r->workers > 1 && one) {
        double ratio = r->wall_s / one->wall_s;
        snprintf(r->why, sizeof r->why,
                 "wall x%.2f of fibers on 1 worker with %d workers: "
                 "%s, the waits, not the CPU (%s), set the time",
                 ratio, r->workers, ratio > 0.75 ? "no real gain" : "some gain",
                 fmt_time(r->cpu_s, c, sizeof c));
        return;
    }
    snprintf(r->why, sizeof r->why,
             "wall %s = %.2f x (%ld round%s of %ld in flight x %g ms = %s): "
             "the waits overlap%s; CPU %s",
             fmt_time(r->wall_s, a, sizeof a), r->wall_s / ideal, rounds,
             rounds == 1 ? "" : "s", inflight, lat * 1e3,
             fmt_time(ideal, b, sizeof b),
             r->model == MODEL_FUTURES
                 ? ", and no fiber of ours waits: callbacks chain the steps"
                 : " while each fiber waits for its own reply",
             fmt_time(r->cpu_s, c, sizeof c));
}

static void explain_cpu(const struct params *p, struct result *r,
                        const struct result *serial)
{
    char a[32], st[160];
    if (r->model == MODEL_SERIAL) {
        snprintf(r->why, sizeof r->why,
                 "CPU %s = wall x %.2f: one core computes every row%s",
                 fmt_time(r->cpu_s, a, sizeof a), busy(r),
                 starved(p, busy(r), 1, st, sizeof st));
    } else if (r->model == MODEL_CPU_FIBERS) {
        snprintf(r->why, sizeof r->why,
                 "wall x%.2f of serial, CPU = wall x %.2f: one worker runs "
                 "one fiber at a time; fibers give concurrency, not "
                 "parallelism",
                 serial ? r->wall_s / serial->wall_s : 0.0, busy(r));
    } else if (r->workers > 1) {
        int cores = r->workers < p->cpus ? r->workers : p->cpus;
        snprintf(r->why, sizeof r->why,
                 "CPU = wall x %.2f: %d workers compute rows at once "
                 "(speedup %.2f, ideal %d)%s",
                 busy(r), r->workers, r->speedup, cores,
                 starved(p, busy(r), cores, st, sizeof st));
    } else {
        snprintf(r->why, sizeof r->why,
                 "one worker (CPU = wall x %.2f): no other core to hand rows "
                 "to, so no gain",
                 busy(r));
    }
}

static void explain_mixed(const struct params *p, struct result *r,
                          const struct result *rs, int n)
{
    char a[32], b[32], c[32];
    const struct result *seq = find(rs, n, "mixed-sequential");
    const struct result *all = find(rs, n, "mixed-fibers-all");
    double per = seq ? seq->cpu_s / (double)p->mixed_requests : 0;
    long inflight =
        p->inflight < p->mixed_requests ? p->inflight : p->mixed_requests;
    long rounds = (p->mixed_requests + inflight - 1) / inflight;
    /* Cores idle for the waits are not cores lost to other programs. */
    bool waits = (double)rounds * (double)p->latency_ns / 1e9 > 0.5 * r->wall_s;
    if (r->model == MODEL_BLOCKING) {
        double ideal =
            (double)p->mixed_requests * ((double)p->latency_ns / 1e9 + per);
        snprintf(r->why, sizeof r->why,
                 "wall %s = %.2f x (%ld x (%g ms wait + %s compute) = %s): "
                 "each request waits, then computes, one at a time",
                 fmt_time(r->wall_s, a, sizeof a),
                 ideal > 0 ? r->wall_s / ideal : 0.0, p->mixed_requests,
                 ms(p->latency_ns), fmt_time(per, b, sizeof b),
                 fmt_time(ideal, c, sizeof c));
    } else if (r->model == MODEL_FIBERS && r->workers == 1) {
        snprintf(r->why, sizeof r->why,
                 "wall %s, CPU %s (%.2f cores busy): the waits overlap, but "
                 "one core does all the computing",
                 fmt_time(r->wall_s, a, sizeof a),
                 fmt_time(r->cpu_s, b, sizeof b), busy(r));
    } else if (r->model == MODEL_FIBERS) {
        char st[160];
        int cores = r->workers < p->cpus ? r->workers : p->cpus;
        snprintf(r->why, sizeof r->why,
                 "CPU = wall x %.2f: the waits overlap and %d workers "
                 "compute at once%s",
                 busy(r), r->workers,
                 starved(p, busy(r), cores, st, sizeof st));
    } else {
        char st[160];
        int cores = r->workers < p->cpus ? r->workers : p->cpus;
        double ratio = all ? r->wall_s / all->wall_s : 1.0;
        snprintf(r->why, sizeof r->why,
                 "CPU = wall x %.2f, wall x%.2f of plain fibers on all "
                 "workers: %s (CPU %s vs %s)%s",
                 busy(r), ratio,
                 ratio > 1.05   ? "the cores were already busy with requests "
                                  "in flight; splitting rows adds tasks, not "
                                  "cores"
                 : ratio < 0.95 ? "splitting each request's rows fills cores "
                                  "that the waits left idle"
                                : "on par: the requests in flight already kept "
                                  "the cores busy",
                 fmt_time(r->cpu_s, b, sizeof b),
                 fmt_time(all ? all->cpu_s : 0, c, sizeof c),
                 waits ? "" : starved(p, busy(r), cores, st, sizeof st));
    }
}

void explain(const struct params *p, struct result *rs, int n)
{
    const struct result *serial = find(rs, n, "cpu-serial");
    for (int i = 0; i < n; i++) {
        switch (rs[i].workload) {
        case WL_IO:
            explain_io(p, &rs[i], rs, n);
            break;
        case WL_CPU:
            explain_cpu(p, &rs[i], serial);
            break;
        default:
            explain_mixed(p, &rs[i], rs, n);
            break;
        }
    }
}

/* ---- terminal and CSV --------------------------------------------------------- */

void print_table(FILE *out, const struct params *p, const struct result *rs,
                 int n)
{
    char setup[256], a[32], b[32];
    fprintf(out,
            "weft-demo: %d CPUs online, %d workers for \"all "
            "workers\", load average %.2f at the start\n",
            p->cpus, p->workers, p->load);
    for (int w = 0; w < WL_COUNT; w++) {
        workload_setup(p, (enum workload)w, setup, sizeof setup);
        fprintf(out, "\n%s: %s\n", workload_title((enum workload)w), setup);
        fprintf(out, "  %-46s %7s %10s %10s %8s  %-16s\n", "variant", "workers",
                "wall", "CPU", "speedup", "answer");
        for (int i = 0; i < n; i++) {
            const struct result *r = &rs[i];
            if ((int)r->workload != w)
                continue;
            fprintf(out, "%c %-46s %7d %10s %10s %7.2fx  %016llx\n",
                    r->best ? '*' : ' ', r->label, r->workers,
                    fmt_time(r->wall_s, a, sizeof a),
                    fmt_time(r->cpu_s, b, sizeof b), r->speedup,
                    (unsigned long long)r->answer);
            fprintf(out, "      %s\n", r->why);
        }
    }
    fprintf(out, "\n* fastest variant of its workload; speedup: over the "
                 "first variant of the workload\n");
}

void print_csv(FILE *out, const struct result *rs, int n)
{
    fprintf(out, "workload,variant,workers,wall_s,cpu_s,speedup,answer,best\n");
    for (int i = 0; i < n; i++) {
        const struct result *r = &rs[i];
        fprintf(out, "%s,%s,%d,%.6f,%.6f,%.3f,%016llx,%d\n",
                r->workload == WL_IO    ? "io"
                : r->workload == WL_CPU ? "cpu"
                                        : "mixed",
                r->key, r->workers, r->wall_s, r->cpu_s, r->speedup,
                (unsigned long long)r->answer, r->best ? 1 : 0);
    }
}

/* ---- HTML ----------------------------------------------------------------------- */

static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static const char *wl_id(enum workload w)
{
    return w == WL_IO ? "io" : w == WL_CPU ? "cpu" : "mixed";
}

int draw_timeline(const char *dir, const struct result *r)
{
    char path[4096], err[256];
    snprintf(path, sizeof path, "%s/%s.json", dir, r->key);
    struct wtr_trace *t;
    int rc = wtr_load(path, &t, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "weft-demo: %s\n", err);
        return rc;
    }
    snprintf(path, sizeof path, "%s/%s.svg", dir, r->key);
    FILE *f = fopen(path, "w");
    if (!f) {
        rc = -errno;
        fprintf(stderr, "weft-demo: %s: %s\n", path, strerror(errno));
        wtr_free(t);
        return rc;
    }
    struct wtr_svg_opts o = {0};
    o.width = 640;
    o.fragment = 1;
    o.id_prefix = r->key; /* ids stay apart on the one page */
    rc = wtr_svg(t, f, &o);
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    if (rc < 0)
        fprintf(stderr, "weft-demo: %s: %s\n", path, strerror(-rc));
    wtr_free(t);
    return rc;
}

/* Copy DIR/KEY.svg into the page; false if it is not there. */
static bool inline_svg(FILE *html, const char *dir, const struct result *r)
{
    char path[4096], buf[8192];
    snprintf(path, sizeof path, "%s/%s.svg", dir, r->key);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, got, html);
    fclose(f);
    return true;
}

/* The timelines of workload w's variants, side by side. */
static void timelines(FILE *html, const char *dir, const struct result *rs,
                      int n, enum workload w)
{
    fputs("<div class=\"timelines\">\n", html);
    for (int i = 0; i < n; i++) {
        const struct result *r = &rs[i];
        if (r->workload != w)
            continue;
        fprintf(html, "<figure class=\"timeline\" id=\"timeline-%s\">", r->key);
        bool drawn = inline_svg(html, dir, r);
        fputs("<figcaption>", html);
        esc(html, r->label);
        if (drawn)
            fprintf(html,
                    ": a lane per worker (and the plain thread&rsquo;s "
                    "spans); hover a slice for its fiber. Trace: <a "
                    "href=\"%s.json\">%s.json</a> (Perfetto, "
                    "chrome://tracing).",
                    r->key, r->key);
        else
            fputs(": no timeline (its trace could not be drawn).", html);
        fputs("</figcaption></figure>\n", html);
    }
    fputs("</div>\n", html);
}

static const char css[] =
    "body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;"
    "max-width:70em;padding:0 1em;color:#1d2329;background:#fff}"
    "h1{font-size:1.6em;margin-bottom:.2em}"
    "h2{margin-top:1.8em;border-bottom:2px solid #d9e1e8;padding-bottom:.2em}"
    "h3{font-size:1.05em;margin:1.2em 0 .3em}"
    "p.setup{color:#46525d;margin:.2em 0}"
    "table{border-collapse:collapse;width:100%;margin:1em 0}"
    "th,td{padding:.35em .6em;border-bottom:1px solid #d9e1e8;"
    "text-align:right;white-space:nowrap}"
    "th{background:#eef3f7}"
    "td.l,th.l{text-align:left}"
    "td.why{text-align:left;white-space:normal;color:#46525d;"
    "font-size:.92em}"
    "tr.wl td{background:#f6f8fa;font-weight:600;text-align:left}"
    "tr.best td{background:#e5f5e0}"
    "code,.answer{font-family:ui-monospace,monospace;font-size:.92em}"
    ".bar{display:inline-block;height:.8em;background:#3b7dd8;"
    "vertical-align:middle;margin-right:.4em}"
    "tr.best .bar{background:#2f9e44}"
    "section.variant{border-left:4px solid #d9e1e8;padding:.1em 1em;"
    "margin:1em 0}"
    "section.variant.best{border-left-color:#2f9e44}"
    "div.timelines{display:grid;grid-template-columns:repeat(auto-fill,"
    "minmax(30em,1fr));gap:1em;margin:1em 0}"
    "figure.timeline{margin:0;overflow-x:auto}"
    "figure.timeline svg{max-width:100%;height:auto}"
    "figure.timeline figcaption{font-size:.9em;color:#46525d}";

static void html_row(FILE *f, const struct result *r, double max_wall)
{
    char a[32], b[32];
    int width = max_wall > 0 ? (int)lround(160.0 * r->wall_s / max_wall) : 0;
    fprintf(f, "<tr class=\"variant%s\" data-variant=\"%s\">",
            r->best ? " best" : "", r->key);
    fputs("<td class=\"l\">", f);
    esc(f, r->label);
    fprintf(f, "%s</td><td>%d</td>", r->best ? " &#9733;" : "", r->workers);
    fprintf(f,
            "<td class=\"l\"><span class=\"bar\" style=\"width:%dpx\">"
            "</span>%s</td>",
            width < 1 ? 1 : width, fmt_time(r->wall_s, a, sizeof a));
    fprintf(f, "<td>%s</td><td>%.2fx</td>", fmt_time(r->cpu_s, b, sizeof b),
            r->speedup);
    fprintf(f, "<td class=\"answer\">%016llx</td></tr>\n",
            (unsigned long long)r->answer);
}

int write_html(const char *dir, const struct params *p, const struct result *rs,
               int n, bool with_timelines)
{
    if (mkdir(dir, 0777) < 0 && errno != EEXIST)
        return -errno;
    char path[4096];
    snprintf(path, sizeof path, "%s/index.html", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;

    char setup[256], stamp[64];
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M", localtime_r(&now, &tm));

    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<title>weft-demo: which concurrency model wins</title>\n<style>",
          f);
    fputs(css, f);
    fputs("</style></head><body>\n", f);
    fputs("<h1>weft-demo: which concurrency model wins, and why</h1>\n", f);
    fprintf(f,
            "<p class=\"setup\">%s; %d CPUs online, %d workers for "
            "&ldquo;all workers&rdquo;, load average %.2f at the start. Wall "
            "and CPU time are measured over each "
            "variant's work; speedup is over the first variant of the "
            "workload; &#9733; marks the fastest.</p>\n",
            stamp, p->cpus, p->workers, p->load);

    fputs("<table id=\"results\"><thead><tr><th class=\"l\">variant</th>"
          "<th>workers</th><th class=\"l\">wall</th><th>CPU</th>"
          "<th>speedup</th><th>answer</th></tr></thead><tbody>\n",
          f);
    for (int w = 0; w < WL_COUNT; w++) {
        double max_wall = 0;
        for (int i = 0; i < n; i++)
            if ((int)rs[i].workload == w && rs[i].wall_s > max_wall)
                max_wall = rs[i].wall_s;
        fprintf(f,
                "<tr class=\"wl\"><td colspan=\"6\"><a href=\"#%s\">%s"
                "</a></td></tr>\n",
                wl_id((enum workload)w), workload_title((enum workload)w));
        for (int i = 0; i < n; i++)
            if ((int)rs[i].workload == w)
                html_row(f, &rs[i], max_wall);
    }
    fputs("</tbody></table>\n", f);

    for (int w = 0; w < WL_COUNT; w++) {
        workload_setup(p, (enum workload)w, setup, sizeof setup);
        fprintf(f, "<h2 id=\"%s\">%s</h2>\n<p class=\"setup\">",
                wl_id((enum workload)w), workload_title((enum workload)w));
        esc(f, setup);
        fputs("</p>\n<p>", f);
        esc(f, workload_lesson((enum workload)w));
        fputs("</p>\n", f);
        for (int i = 0; i < n; i++) {
            const struct result *r = &rs[i];
            if ((int)r->workload != w)
                continue;
            char a[32], b[32];
            fprintf(f, "<section class=\"variant%s\" id=\"%s\"><h3>",
                    r->best ? " best" : "", r->key);
            esc(f, r->label);
            fprintf(f, " &mdash; %d worker%s%s</h3>\n", r->workers,
                    r->workers == 1 ? "" : "s",
                    r->best ? " &#9733; fastest" : "");
            fprintf(f, "<p>wall %s, CPU %s, speedup %.2fx. ",
                    fmt_time(r->wall_s, a, sizeof a),
                    fmt_time(r->cpu_s, b, sizeof b), r->speedup);
            esc(f, r->why);
            fputs(".</p>\n", f);
            fputs("</section>\n", f);
        }
        if (with_timelines) {
            fputs("<h3>Timelines</h3>\n<p class=\"setup\">Each variant "
                  "run once more with tracing on (its figures above are "
                  "from the untraced run).</p>\n",
                  f);
            timelines(f, dir, rs, n, (enum workload)w);
        }
    }
    fputs("</body></html>\n", f);
    if (fclose(f) != 0)
        return -errno;
    return 0;
}
