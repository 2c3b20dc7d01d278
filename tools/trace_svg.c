/* SPDX-License-Identifier: MIT */
/*
 * tools/trace_svg.c - the SVG timeline of a loaded trace.
 *
 * Two passes over each lane's slices (sorted by time, trace_model.c):
 *
 * 1. Rows. Each slice goes to the first row of its lane whose last slice
 *    has ended by its start (first fit, so nested spans stack like a flame
 *    graph and concurrent I/O spreads out). A worker runs one thing at a
 *    time, so its lane has one row; other lanes have at most
 *    WTR_SVG_MAX_ROWS. When no row is free, the slice goes to the row that
 *    frees first and is drawn clipped: it starts where that row's last
 *    shape ends.
 *
 * 2. Shapes. Per row, a slice at least a pixel wide is a rectangle of its
 *    own with its details in a <title>. A narrower one goes into the bucket
 *    of its pixel column; a full bucket becomes one 1-px rectangle coloured
 *    by the kind with most time in it, and adjacent buckets of the same
 *    colour grow one rectangle instead of starting another. A bucket of a
 *    single slice is drawn as that slice (1 px wide, its own title).
 *
 * Wide shapes in a row do not overlap (a wide slice starts at or after the
 * previous wide one's end) and merged ones take whole columns, so a row has
 * at most about two shapes per pixel column: the output is bounded by width
 * x rows x lanes, whatever the number of events. Instants are drawn at
 * most once per pixel column (steals: per triangle width), kind and lane
 * for the same reason.
 *
 * Everything is written with fprintf to a stdio stream; the caller's
 * buffering is used as is. Text from the trace goes through xml_text(),
 * which escapes markup and replaces what XML cannot carry (invalid UTF-8,
 * control characters).
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "trace_int.h"
#include "trace_svg.h"

#define LEFT    112 /* lane labels */
#define RIGHT   24
#define ROW_H   14
#define PAD     3 /* above and below a lane's rows */
#define GAP     3 /* between lanes */
#define AXIS_H  26
#define TITLE_H 22
#define STEAL_W 5 /* a steal's triangle is this wide */

/* The kinds in the legend, and the CSS class of each. */
static const char *const kind_class[WTR_NKINDS] = {
    "k-fiber", "k-task", "k-io", "k-idle", "k-span", "k-other"};
static const char *const kind_legend[WTR_NKINDS] = {
    "fiber", "tasks", "I/O in flight", "idle (parked worker)", "span", "other"};

struct svg {
    FILE *out;
    const struct wtr_trace *t;
    const char *prefix;
    int width, pw; /* picture and plot widths */
    int64_t t0, span;
    double scale; /* px per ns */
    long merged_slices, merged_shapes, clipped;
};

/* ---- text -------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (1..4), 0 if invalid. */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        unsigned cp = (c & 0x0f) << 12 | (s[1] & 0x3fu) << 6 | (s[2] & 0x3fu);
        if (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000) || cp >= 0xfffe)
            return 0; /* overlong, surrogate, or not a character in XML */
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
            (s[3] & 0xc0) != 0x80)
            return 0;
        unsigned cp = (c & 0x07) << 18 | (s[1] & 0x3fu) << 12 |
                      (s[2] & 0x3fu) << 6 | (s[3] & 0x3fu);
        return cp >= 0x10000 && cp <= 0x10ffff ? 4 : 0;
    }
    return 0;
}

/* Writes s as XML character data or attribute text. */
static void xml_text(FILE *out, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned c = *s;
        int n;
        switch (c) {
        case '&':
            fputs("&amp;", out);
            s++;
            continue;
        case '<':
            fputs("&lt;", out);
            s++;
            continue;
        case '>':
            fputs("&gt;", out);
            s++;
            continue;
        case '"':
            fputs("&quot;", out);
            s++;
            continue;
        default:
            break;
        }
        if (c < 0x20 && c != '\t' && c != '\n') {
            fputc('?', out);
            s++;
            continue;
        }
        n = utf8_len(s);
        if (n == 0) {
            fputs("\xef\xbf\xbd", out); /* U+FFFD */
            s++;
            continue;
        }
        fwrite(s, 1, (size_t)n, out);
        s += n;
    }
}

/* ---- the time axis ----------------------------------------------------- */

struct unit {
    int64_t div;
    const char *name;
};

static struct unit unit_for(int64_t span)
{
    if (span < 1000)
        return (struct unit){1, "ns"};
    if (span < 1000000)
        return (struct unit){1000, "us"};
    if (span < 1000000000)
        return (struct unit){1000000, "ms"};
    return (struct unit){1000000000, "s"};
}

/* A tick step of 1, 2 or 5 times a power of ten, about every 100 px. */
static int64_t tick_step(int64_t span, int pw)
{
    int64_t want = span / (pw / 100 > 1 ? pw / 100 : 1);
    int64_t mag = 1;
    while (mag <= want / 10)
        mag *= 10;
    for (;;) {
        if (mag >= want)
            return mag;
        if (2 * mag >= want)
            return 2 * mag;
        if (5 * mag >= want)
            return 5 * mag;
        mag *= 10;
    }
}

static int decimals_for(int64_t step, int64_t div)
{
    int d = 0;
    while (step < div && d < 9) {
        step *= 10;
        d++;
    }
    return d;
}

static double px(const struct svg *g, int64_t ts)
{
    double x = (double)(ts - g->t0) * g->scale;
    return x < 0 ? 0 : x > g->pw ? g->pw : x;
}

static void draw_axis(struct svg *g, int top, int lanes_bottom)
{
    FILE *out = g->out;
    struct unit u = unit_for(g->span);
    int64_t step = tick_step(g->span, g->pw);
    int dec = decimals_for(step, u.div);
    /* The first tick at a multiple of the step, in the file's time. */
    int64_t first = g->t0 >= 0 ? (g->t0 + step - 1) / step * step
                               : -((-g->t0) / step * step);
    int axis_y = top + AXIS_H - 6;
    fprintf(out, "<g class=\"axis\">\n");
    fprintf(out,
            "<line class=\"ax\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n",
            LEFT, axis_y, LEFT + g->pw, axis_y);
    for (int64_t tk = first; tk <= g->t0 + g->span; tk += step) {
        double x = LEFT + px(g, tk);
        fprintf(out,
                "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" "
                "y2=\"%d\"/>",
                x, axis_y - 3, x, lanes_bottom);
        fprintf(out, "<text class=\"tk\" x=\"%.1f\" y=\"%d\">%.*f %s</text>\n",
                x, axis_y - 6, dec, (double)tk / (double)u.div, u.name);
    }
    fprintf(out, "</g>\n");
}

/* ---- slices ------------------------------------------------------------ */

static void lane_name(const struct wtr_trace *t, const struct wtr_track *tr,
                      char *buf, size_t len)
{
    if (tr->name) {
        snprintf(buf, len, "%s", wtr_str(t, tr->name));
        return;
    }
    switch (tr->type) {
    case WTR_TRACK_WORKER:
        snprintf(buf, len, "worker %d", tr->worker);
        break;
    case WTR_TRACK_IO:
        snprintf(buf, len, "I/O");
        break;
    case WTR_TRACK_THREAD:
        snprintf(buf, len, "thread %d", tr->tid - WTR_TID_THREAD);
        break;
    default:
        snprintf(buf, len, "tid %d", tr->tid);
        break;
    }
}

/* The <title> of one slice. */
static void slice_title(struct svg *g, const struct wtr_slice *s)
{
    const struct wtr_trace *t = g->t;
    FILE *out = g->out;
    char a[32], b[32], lane[128];
    const char *name = wtr_str(t, s->name);
    fputs("<title>", out);
    switch (s->kind) {
    case WTR_FIBER:
        if (s->label && s->id >= 0) {
            xml_text(out, wtr_str(t, s->label));
            fprintf(out, " (fiber %lld)", (long long)s->id);
        } else if (s->id >= 0) {
            fprintf(out, "fiber %lld", (long long)s->id);
        } else {
            xml_text(out, *name ? name : "fiber");
        }
        break;
    case WTR_TASK:
        if (s->id >= 0)
            fprintf(out, "%lld task%s", (long long)s->id,
                    s->id == 1 ? "" : "s");
        else
            fputs("tasks", out);
        break;
    case WTR_IO:
        xml_text(out, *name ? name : "I/O");
        if (s->id >= 0)
            fprintf(out, " fd %lld", (long long)s->id);
        fprintf(out, " res %lld", (long long)s->res);
        break;
    case WTR_IDLE:
        fputs("idle", out);
        break;
    default:
        xml_text(out, *name ? name : wtr_kind_name((enum wtr_kind)s->kind));
        break;
    }
    lane_name(t, &t->tracks[s->track], lane, sizeof lane);
    wtr_format_ns(a, sizeof a, s->dur);
    wtr_format_ns(b, sizeof b, s->ts);
    fputs("\n", out);
    xml_text(out, lane);
    fprintf(out, ": %s at %s", a, b);
    if (s->kind == WTR_FIBER && s->end) {
        fputs("\nend: ", out);
        xml_text(out, wtr_str(t, s->end));
        if (s->reason && s->end == t->s_park) {
            fputs(" (", out);
            xml_text(out, wtr_str(t, s->reason));
            fputs(")", out);
        }
    }
    fputs("</title>", out);
}

/* The drawing state of one row of a lane. */
struct row {
    double last_x1; /* where the last wide shape ends */
    /* the bucket: narrow slices in pixel column bcol */
    long bcol, bcount;
    int64_t bns[WTR_NKINDS];
    long bkind[WTR_NKINDS];
    const struct wtr_slice *bfirst;
    double bx;
    /* the run: merged columns [rx0, rx1) of kind rkind */
    bool run;
    long rx0, rx1, rcount;
    int rkind;
    int64_t rns[WTR_NKINDS];
};

static void flush_run(struct svg *g, struct row *r, int y)
{
    if (!r->run)
        return;
    FILE *out = g->out;
    int64_t total = 0;
    fprintf(out,
            "<rect class=\"%s m\" x=\"%ld\" y=\"%d\" width=\"%ld\" "
            "height=\"%d\"><title>%ld slices merged (%ld px):",
            kind_class[r->rkind], LEFT + r->rx0, y, r->rx1 - r->rx0, ROW_H - 1,
            r->rcount, r->rx1 - r->rx0);
    for (int k = 0; k < WTR_NKINDS; k++)
        total += r->rns[k];
    for (int k = 0, first = 1; k < WTR_NKINDS; k++) {
        if (!r->rns[k])
            continue;
        fprintf(out, "%s %s %.0f%%", first ? "" : ",", wtr_kind_name(k),
                total ? 100.0 * (double)r->rns[k] / (double)total : 0.0);
        first = 0;
    }
    fputs("</title></rect>\n", out);
    g->merged_slices += r->rcount;
    g->merged_shapes++;
    r->run = false;
}

static void draw_rect(struct svg *g, const struct wtr_slice *s, double x,
                      double w, int y)
{
    fprintf(g->out,
            "<rect class=\"%s\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
            "height=\"%d\">",
            kind_class[s->kind], LEFT + x, y, w, ROW_H - 1);
    slice_title(g, s);
    fputs("</rect>\n", g->out);
}

static void flush_bucket(struct svg *g, struct row *r, int y)
{
    if (!r->bcount)
        return;
    if (r->bcount == 1) {
        flush_run(g, r, y);
        double x = r->bx > g->pw - 1 ? g->pw - 1 : r->bx;
        draw_rect(g, r->bfirst, x, 1, y);
        r->bcount = 0;
        return;
    }
    int dom = 0;
    for (int k = 1; k < WTR_NKINDS; k++)
        if (r->bns[k] > r->bns[dom] ||
            (r->bns[k] == r->bns[dom] && r->bkind[k] > r->bkind[dom]))
            dom = k;
    if (!r->run || r->rkind != dom || r->rx1 != r->bcol) {
        flush_run(g, r, y);
        r->run = true;
        r->rx0 = r->bcol;
        r->rkind = dom;
        r->rcount = 0;
        memset(r->rns, 0, sizeof r->rns);
    }
    r->rx1 = r->bcol + 1;
    r->rcount += r->bcount;
    for (int k = 0; k < WTR_NKINDS; k++)
        r->rns[k] += r->bns[k];
    r->bcount = 0;
}

static void draw_slice(struct svg *g, struct row *r, const struct wtr_slice *s,
                       int y)
{
    double x0 = px(g, s->ts), x1 = px(g, s->ts + s->dur);
    if (x0 < r->last_x1)
        x0 = r->last_x1;
    if (x1 - x0 >= 1.0) {
        flush_bucket(g, r, y);
        flush_run(g, r, y);
        draw_rect(g, s, x0, x1 - x0, y);
        r->last_x1 = x1;
        return;
    }
    long col = (long)x0;
    if (col >= g->pw)
        col = g->pw - 1;
    if (r->bcount && col != r->bcol)
        flush_bucket(g, r, y);
    if (!r->bcount) {
        r->bcol = col;
        r->bfirst = s;
        r->bx = x0;
        memset(r->bns, 0, sizeof r->bns);
        memset(r->bkind, 0, sizeof r->bkind);
    }
    r->bcount++;
    r->bns[s->kind] += s->dur;
    r->bkind[s->kind]++;
}

/* ---- instants ---------------------------------------------------------- */

struct mark_run {
    long col, count;
    const struct wtr_instant *first;
};

static void flush_mark(struct svg *g, struct mark_run *m, int y, int h)
{
    if (!m->count)
        return;
    const struct wtr_instant *in = m->first;
    const struct wtr_trace *t = g->t;
    FILE *out = g->out;
    char ts[32];
    wtr_format_ns(ts, sizeof ts, in->ts);
    double x = LEFT + m->col + 0.5;
    if (in->cat == WTR_I_STEAL)
        fprintf(out, "<path class=\"st\" d=\"M%.1f %dh%dl%.1f %dz\"><title>",
                x - 0.5, y, STEAL_W, -STEAL_W / 2.0, STEAL_W);
    else
        fprintf(out,
                "<rect class=\"mk\" x=\"%.1f\" y=\"%d\" width=\"1\" "
                "height=\"%d\"><title>",
                x - 0.5, y, h);
    if (m->count > 1) {
        fprintf(out, "%ld %s from %s", m->count,
                in->cat == WTR_I_STEAL ? "steals" : "marks", ts);
    } else if (in->cat == WTR_I_STEAL) {
        if (in->arg >= 0)
            fprintf(out, "steal from worker %lld at %s", (long long)in->arg,
                    ts);
        else
            fprintf(out, "steal at %s", ts);
    } else {
        fputs("mark ", out);
        xml_text(out, wtr_str(t, in->name));
        fprintf(out, " at %s", ts);
    }
    fputs(in->cat == WTR_I_STEAL ? "</title></path>\n" : "</title></rect>\n",
          out);
    m->count = 0;
}

static void draw_instants(struct svg *g, const struct wtr_track *tr, int y,
                          int h)
{
    struct mark_run steal = {0, 0, NULL}, mark = {0, 0, NULL};
    for (size_t i = tr->ifirst; i < tr->ifirst + tr->icount; i++) {
        const struct wtr_instant *in = &g->t->instants[i];
        struct mark_run *m;
        if (in->cat == WTR_I_STEAL)
            m = &steal;
        else if (in->cat == WTR_I_MARK)
            m = &mark;
        else
            continue; /* timers and spawns: too many to show usefully */
        long col = (long)px(g, in->ts);
        if (col >= g->pw)
            col = g->pw - 1;
        if (m == &steal)
            col -= col % STEAL_W; /* one triangle per its width */
        if (m->count && m->col != col)
            flush_mark(g, m, y, h);
        if (!m->count) {
            m->col = col;
            m->first = in;
        }
        m->count++;
    }
    flush_mark(g, &steal, y, h);
    flush_mark(g, &mark, y, h);
}

/* ---- the picture ------------------------------------------------------- */

static const char *lane_class(const struct wtr_track *tr)
{
    static const char *const c[] = {"lane worker", "lane io", "lane thread",
                                    "lane other"};
    return c[tr->type];
}

static void write_style(struct svg *g)
{
    const char *p = g->prefix;
    FILE *out = g->out;
    fprintf(out, "<style>\n");
    fprintf(out, "#%s text{font:11px sans-serif;fill:#222}\n", p);
    fprintf(out, "#%s .ln{text-anchor:end}\n", p);
    fprintf(out, "#%s .tk{text-anchor:middle;fill:#555}\n", p);
    fprintf(out, "#%s .ttl{font-size:14px;font-weight:bold}\n", p);
    fprintf(out, "#%s .cap{fill:#555}\n", p);
    fprintf(out, "#%s .bg{fill:#f4f4f4}\n", p);
    fprintf(out, "#%s .ax{stroke:#888}\n", p);
    fprintf(out, "#%s .grid{stroke:#ddd;stroke-width:0.5}\n", p);
    fprintf(out, "#%s .k-fiber{fill:#4e79a7}\n", p);
    fprintf(out, "#%s .k-task{fill:#59a14f}\n", p);
    fprintf(out, "#%s .k-io{fill:#f28e2b}\n", p);
    fprintf(out, "#%s .k-idle{fill:#cfcfcf}\n", p);
    fprintf(out, "#%s .k-span{fill:#b07aa1}\n", p);
    fprintf(out, "#%s .k-other{fill:#9c755f}\n", p);
    fprintf(out, "#%s .m{opacity:0.8}\n", p);
    fprintf(out, "#%s .st{fill:#e15759}\n", p);
    fprintf(out, "#%s .mk{fill:#000}\n", p);
    fprintf(out, "#%s .fl{stroke:#333;stroke-width:0.6;opacity:0.6}\n", p);
    fprintf(out, "#%s rect:hover,#%s path:hover{stroke:#000}\n", p, p);
    fprintf(out, "</style>\n");
}

static bool valid_prefix(const char *p)
{
    if (!*p || strlen(p) > 64)
        return false;
    for (; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            return false;
    return true;
}

int wtr_svg(const struct wtr_trace *t, FILE *out, const struct wtr_svg_opts *o)
{
    struct wtr_svg_opts dflt;
    struct svg g;
    if (!o) {
        memset(&dflt, 0, sizeof dflt);
        o = &dflt;
    }
    memset(&g, 0, sizeof g);
    g.out = out;
    g.t = t;
    g.width = o->width ? o->width : WTR_SVG_WIDTH;
    if (g.width < WTR_SVG_MIN_WIDTH || g.width > WTR_SVG_MAX_WIDTH)
        return -EINVAL;
    g.prefix = o->id_prefix ? o->id_prefix : "wtr";
    if (!valid_prefix(g.prefix))
        return -EINVAL;
    int max_flows = o->max_flows ? o->max_flows : WTR_SVG_MAX_FLOWS;
    g.pw = g.width - LEFT - RIGHT;
    g.t0 = t->t0;
    g.span = t->t1 - t->t0 > 0 ? t->t1 - t->t0 : 1000;
    g.scale = (double)g.pw / (double)g.span;

    /* Pass 1: rows. */
    uint8_t *rowof = malloc(t->nslices + 1);
    int *nrows = malloc(((size_t)t->ntracks + 1) * sizeof *nrows);
    int *lane_y = malloc(((size_t)t->ntracks + 1) * sizeof *lane_y);
    if (!rowof || !nrows || !lane_y) {
        free(rowof);
        free(nrows);
        free(lane_y);
        return -ENOMEM;
    }
    for (int k = 0; k < t->ntracks; k++) {
        const struct wtr_track *tr = &t->tracks[k];
        int cap = tr->type == WTR_TRACK_WORKER ? 1 : WTR_SVG_MAX_ROWS;
        int64_t end[WTR_SVG_MAX_ROWS];
        int n = 0;
        for (size_t i = tr->first; i < tr->first + tr->count; i++) {
            const struct wtr_slice *s = &t->slices[i];
            int r = 0;
            while (r < n && end[r] > s->ts)
                r++;
            if (r == n) {
                if (n < cap) {
                    end[n++] = s->ts;
                } else {
                    r = 0;
                    for (int q = 1; q < n; q++)
                        if (end[q] < end[r])
                            r = q;
                    g.clipped++;
                }
            }
            if (s->ts + s->dur > end[r])
                end[r] = s->ts + s->dur;
            rowof[i] = (uint8_t)r;
        }
        nrows[k] = n ? n : 1;
    }

    /* Layout. */
    int top = o->title ? TITLE_H : 4;
    int y = top + AXIS_H;
    for (int k = 0; k < t->ntracks; k++) {
        lane_y[k] = y;
        y += nrows[k] * ROW_H + 2 * PAD + GAP;
    }
    int lanes_bottom = y;
    int legend_y = lanes_bottom + 16;
    /* The legend's entries, in order, wrapped onto as many lines as the
     * width needs: their left edges and lines (x, line). */
    int lwidth[WTR_NKINDS + 3], lx_at[WTR_NKINDS + 3], lline[WTR_NKINDS + 3];
    int nleg = 0, nlines = 1;
    for (int k = 0; k < WTR_NKINDS; k++)
        if (k != WTR_OTHER)
            lwidth[nleg++] = 24 + 7 * (int)strlen(kind_legend[k]);
    lwidth[nleg++] = 56; /* steal */
    lwidth[nleg++] = 50; /* mark */
    lwidth[nleg++] = 56; /* wake */
    for (int i = 0, x = LEFT; i < nleg; i++) {
        if (x > LEFT && x + lwidth[i] > g.width - 4) {
            x = LEFT;
            nlines++;
        }
        lx_at[i] = x;
        lline[i] = nlines - 1;
        x += lwidth[i];
    }
    bool flows = t->nflows && max_flows > 0 && t->nflows <= (size_t)max_flows;
    /* Room for the captions: the counts, the merged slices (known only
     * once drawn: room is kept), then those known now. */
    int ncaps = 2 + (g.clipped > 0) + (t->nflows && !flows) + (t->dropped > 0);
    int height = legend_y + 14 * nlines + ncaps * 15 + 6;

    if (!o->fragment)
        fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"%s\" "
            "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n",
            g.prefix, g.width, height, g.width, height);
    write_style(&g);
    fprintf(out,
            "<defs><marker id=\"%s-arrow\" viewBox=\"0 0 6 6\" refX=\"6\" "
            "refY=\"3\" markerWidth=\"5\" markerHeight=\"5\" "
            "orient=\"auto\"><path d=\"M0 0L6 3L0 6z\" fill=\"#333\"/>"
            "</marker></defs>\n",
            g.prefix);
    fprintf(out,
            "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" "
            "fill=\"#fff\"/>\n",
            g.width, height);
    if (o->title) {
        fprintf(out, "<text class=\"ttl\" x=\"8\" y=\"16\">");
        xml_text(out, o->title);
        fprintf(out, "</text>\n");
    }
    draw_axis(&g, top, lanes_bottom - GAP);

    /* Pass 2: the lanes. */
    for (int k = 0; k < t->ntracks; k++) {
        const struct wtr_track *tr = &t->tracks[k];
        char name[128];
        int h = nrows[k] * ROW_H + 2 * PAD;
        struct row rows[WTR_SVG_MAX_ROWS];
        lane_name(t, tr, name, sizeof name);
        fprintf(out, "<g class=\"%s\" data-tid=\"%d\">\n", lane_class(tr),
                tr->tid);
        fprintf(out,
                "<rect class=\"bg\" x=\"%d\" y=\"%d\" width=\"%d\" "
                "height=\"%d\"/>",
                LEFT, lane_y[k], g.pw, h);
        fprintf(out, "<text class=\"ln\" x=\"%d\" y=\"%d\">", LEFT - 6,
                lane_y[k] + h / 2 + 4);
        xml_text(out, name);
        fprintf(out, "</text>\n");
        memset(rows, 0, sizeof rows);
        for (size_t i = tr->first; i < tr->first + tr->count; i++)
            draw_slice(&g, &rows[rowof[i]], &t->slices[i],
                       lane_y[k] + PAD + rowof[i] * ROW_H);
        for (int r = 0; r < nrows[k]; r++) {
            int ry = lane_y[k] + PAD + r * ROW_H;
            flush_bucket(&g, &rows[r], ry);
            flush_run(&g, &rows[r], ry);
        }
        draw_instants(&g, tr, lane_y[k], h);
        fprintf(out, "</g>\n");
    }

    /* Wake arrows, from the waker's lane to the run they caused. */
    if (flows) {
        fprintf(out, "<g class=\"flows\">\n");
        for (size_t i = 0; i < t->nflows; i++) {
            const struct wtr_flow *f = &t->flows[i];
            fprintf(out,
                    "<line class=\"fl\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" "
                    "y2=\"%d\" marker-end=\"url(#%s-arrow)\"/>\n",
                    LEFT + px(&g, f->ts0), lane_y[f->track0] + PAD + ROW_H / 2,
                    LEFT + px(&g, f->ts1), lane_y[f->track1] + PAD + ROW_H / 2,
                    g.prefix);
        }
        fprintf(out, "</g>\n");
    }

    /* The legend. */
    fprintf(out, "<g class=\"legend\">\n");
    int li = 0;
    for (int k = 0; k < WTR_NKINDS; k++) {
        if (k == WTR_OTHER)
            continue;
        int lx = lx_at[li], ly = legend_y + 14 * lline[li];
        li++;
        fprintf(out,
                "<rect class=\"%s\" x=\"%d\" y=\"%d\" width=\"12\" "
                "height=\"10\"/><text x=\"%d\" y=\"%d\">%s</text>\n",
                kind_class[k], lx, ly, lx + 16, ly + 9, kind_legend[k]);
    }
    int lx = lx_at[li], ly = legend_y + 14 * lline[li];
    li++;
    fprintf(out,
            "<path class=\"st\" d=\"M%d %dh8l-4 8z\"/><text x=\"%d\" "
            "y=\"%d\">steal</text>\n",
            lx, ly + 1, lx + 14, ly + 9);
    lx = lx_at[li];
    ly = legend_y + 14 * lline[li];
    li++;
    fprintf(out,
            "<rect class=\"mk\" x=\"%d\" y=\"%d\" width=\"1\" height=\"10\"/>"
            "<text x=\"%d\" y=\"%d\">mark</text>\n",
            lx + 3, ly, lx + 10, ly + 9);
    lx = lx_at[li];
    ly = legend_y + 14 * lline[li];
    fprintf(out,
            "<line class=\"fl\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
            "marker-end=\"url(#%s-arrow)\"/><text x=\"%d\" y=\"%d\">wake"
            "</text>\n",
            lx, ly + 5, lx + 18, ly + 5, g.prefix, lx + 24, ly + 9);
    fprintf(out, "</g>\n");

    /* Captions: what the picture leaves out or simplifies. */
    int cy = legend_y + 14 * nlines + 15;
    char a[32], b[32];
    wtr_format_ns(a, sizeof a, t->t1 - t->t0);
    fprintf(out, "<g class=\"captions\">\n");
    fprintf(out,
            "<text class=\"cap\" x=\"%d\" y=\"%d\">%ld events, %d workers, "
            "span %s</text>\n",
            LEFT, cy, t->events, t->nworkers, a);
    cy += 15;
    if (g.merged_slices) {
        fprintf(out,
                "<text class=\"cap merged\" x=\"%d\" y=\"%d\">%ld slices "
                "below one pixel merged into %ld shapes (one per pixel column "
                "and lane row, coloured by the kind with most time "
                "there)</text>\n",
                LEFT, cy, g.merged_slices, g.merged_shapes);
        cy += 15;
    }
    if (g.clipped) {
        fprintf(out,
                "<text class=\"cap\" x=\"%d\" y=\"%d\">%ld slices overlapping "
                "a full lane drawn clipped (a worker lane has one row, others "
                "at most %d)</text>\n",
                LEFT, cy, g.clipped, WTR_SVG_MAX_ROWS);
        cy += 15;
    }
    if (t->nflows && !flows) {
        if (max_flows > 0)
            snprintf(b, sizeof b, " (more than %d)", max_flows);
        else
            b[0] = '\0';
        fprintf(out,
                "<text class=\"cap flows-omitted\" x=\"%d\" y=\"%d\">%zu wake "
                "arrows not drawn%s</text>\n",
                LEFT, cy, t->nflows, b);
        cy += 15;
    }
    if (t->dropped > 0) {
        fprintf(out,
                "<text class=\"cap\" x=\"%d\" y=\"%d\">%lld events dropped "
                "by the tracer (rings full): the oldest are missing</text>\n",
                LEFT, cy, t->dropped);
        cy += 15;
    }
    fprintf(out, "</g>\n</svg>\n");
    free(rowof);
    free(nrows);
    free(lane_y);
    fflush(out);
    return ferror(out) ? -EIO : 0;
}
