/* SPDX-License-Identifier: MIT */
/*
 * test_tracefile: the SVG timeline (wtr_svg, weft-trace -o). Each picture is
 * checked to be well-formed XML with xmllint (the cases skip when it is
 * missing), and its lanes, shapes and captions are counted with XPath.
 * The large trace is generated here at test time (gen_trace), never
 * committed.
 */
#include "trace_test.h"

/* Writes a synthetic trace of exactly `events` events: `workers` workers
 * running short fiber slices (50 ns to 3 us) with tasks and idle
 * stretches, steals, overlapping I/O operations, marks on a plain thread
 * and up to `flows` wake flows (two events each). Workers' events are
 * interleaved, so the file is not sorted by time. Deterministic. */
static void gen_trace(const char *path, long events, int workers, long flows)
{
    static const char *const reasons[] = {"chan", "mutex", "sleep",
                                          "io",   "join",  "future"};
    FILE *f = fopen(path, "w");
    WT_CHECK(f != NULL);
    int64_t *now = calloc((size_t)workers, sizeof *now);
    WT_CHECK(now != NULL);
    uint64_t seed = 12345;
    long n = 0, nflows = 0;
    int64_t io_now = 0;
    fprintf(f,
            "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"weft_trace\":1,"
            "\"workers\":%d,\"dropped\":0,\"events\":%ld},\n"
            "\"traceEvents\":[\n",
            workers, events);
    for (int w = 0; w < workers && n < events; w++, n++)
        fprintf(f,
                "{\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"name\":\"thread_name\","
                "\"args\":{\"name\":\"worker %d\"}},\n",
                w + 1, w);
    for (long i = 0; n < events; i++) {
        int w = (int)(i % workers);
        uint64_t r = wt_rand(&seed);
        int64_t ts = now[w];
        const char *sep = n + 1 < events ? ",\n" : "\n";
        if (r % 20 == 0) {
            int64_t dur = 1000 + (int64_t)(r >> 8) % 50000;
            fprintf(f,
                    "{\"ph\":\"X\",\"pid\":1,\"tid\":%d,\"ts\":%.3f,"
                    "\"dur\":%.3f,\"cat\":\"idle\",\"name\":\"idle\"}%s",
                    w + 1, ts / 1e3, dur / 1e3, sep);
            now[w] += dur;
        } else if (r % 20 == 1) {
            int64_t dur = 200 + (int64_t)(r >> 8) % 5000;
            fprintf(f,
                    "{\"ph\":\"X\",\"pid\":1,\"tid\":%d,\"ts\":%.3f,"
                    "\"dur\":%.3f,\"cat\":\"task\",\"name\":\"tasks\","
                    "\"args\":{\"tasks\":%d}}%s",
                    w + 1, ts / 1e3, dur / 1e3, (int)(r >> 40) % 64 + 1, sep);
            now[w] += dur;
        } else if (r % 20 == 2) {
            fprintf(f,
                    "{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":%d,"
                    "\"ts\":%.3f,\"cat\":\"steal\",\"name\":\"steal\","
                    "\"args\":{\"from\":%d}}%s",
                    w + 1, ts / 1e3, (w + 1) % workers, sep);
        } else if (r % 20 == 3) {
            int64_t dur = 1000 + (int64_t)(r >> 8) % 200000;
            if (io_now < ts)
                io_now = ts;
            fprintf(f,
                    "{\"ph\":\"X\",\"pid\":1,\"tid\":1000,\"ts\":%.3f,"
                    "\"dur\":%.3f,\"cat\":\"io\",\"name\":\"read\","
                    "\"args\":{\"fd\":%d,\"res\":%d}}%s",
                    io_now / 1e3, dur / 1e3, (int)(r >> 32) % 100 + 3,
                    (int)(r >> 20) % 4096, sep);
            io_now += 300;
        } else if (r % 20 == 4 && n + 2 < events && nflows < flows) {
            int to = (int)((r >> 16) % (uint64_t)workers);
            fprintf(f,
                    "{\"ph\":\"s\",\"pid\":1,\"tid\":%d,\"ts\":%.3f,"
                    "\"cat\":\"wake\",\"name\":\"wake\",\"id\":%ld},\n"
                    "{\"ph\":\"f\",\"bp\":\"e\",\"pid\":1,\"tid\":%d,"
                    "\"ts\":%.3f,\"cat\":\"wake\",\"name\":\"wake\","
                    "\"id\":%ld}%s",
                    w + 1, ts / 1e3, nflows, to + 1, (now[to] + 10) / 1e3,
                    nflows, sep);
            nflows++;
            n++;
        } else if (r % 1000 == 5) {
            fprintf(f,
                    "{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":2000,"
                    "\"ts\":%.3f,\"cat\":\"mark\",\"name\":\"checkpoint\"}%s",
                    ts / 1e3, sep);
        } else {
            int64_t dur = 50 + (int64_t)(r >> 8) % 3000;
            long fib = (long)((r >> 24) % 5000);
            bool park = (r >> 50) % 4 != 0;
            fprintf(f,
                    "{\"ph\":\"X\",\"pid\":1,\"tid\":%d,\"ts\":%.3f,"
                    "\"dur\":%.3f,\"cat\":\"fiber\",\"name\":\"fiber %ld\","
                    "\"args\":{\"fiber\":%ld,\"name\":\"\",\"end\":\"%s\","
                    "\"reason\":\"%s\"}}%s",
                    w + 1, ts / 1e3, dur / 1e3, fib, fib,
                    park ? "park" : "yield", park ? reasons[(r >> 44) % 6] : "",
                    sep);
            now[w] += dur + 20;
        }
        n++;
    }
    fprintf(f, "]}\n");
    free(now);
    WT_CHECK(fclose(f) == 0);
}

/* The y coordinates of the shapes of class `cls` in the lane group whose
 * class is `lane`, distinct ones counted. */
static int distinct_rows(const char *svg, const char *lane, const char *cls)
{
    char open[64], pat[64];
    int ys[64], ny = 0;
    snprintf(open, sizeof open, "<g class=\"%s\"", lane);
    snprintf(pat, sizeof pat, "<rect class=\"%s\" x=\"", cls);
    const char *p = strstr(svg, open);
    WT_CHECK(p != NULL);
    const char *end = strstr(p, "</g>");
    while ((p = strstr(p, pat)) && p < end) {
        double x;
        int y;
        WT_CHECK(sscanf(p + strlen(pat) - 3, "x=\"%lf\" y=\"%d\"", &x, &y) ==
                 2);
        int k = 0;
        while (k < ny && ys[k] != y)
            k++;
        if (k == ny && ny < 64)
            ys[ny++] = y;
        p++;
    }
    return ny;
}

/* Four workers (worker 3 idle throughout: no event at all), overlapping
 * I/O, nested spans on a plain thread, three wake flows, and names that
 * need escaping. Every slice is wider than a pixel. */
static const char small[] =
    "{\"otherData\":{\"weft_trace\":1,\"workers\":4,\"dropped\":2,"
    "\"events\":19},\"traceEvents\":[\n"
    "{\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":0,\"dur\":30,\"cat\":\"fiber\","
    "\"name\":\"<b> & co\",\"args\":{\"fiber\":42,\"name\":\"<b> & co\","
    "\"end\":\"park\",\"reason\":\"chan\"}},\n"
    "{\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":30,\"dur\":20,\"cat\":\"task\","
    "\"name\":\"tasks\",\"args\":{\"tasks\":3}},\n"
    "{\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":50,\"dur\":50,\"cat\":\"idle\","
    "\"name\":\"idle\"},\n"
    "{\"ph\":\"X\",\"pid\":1,\"tid\":2,\"ts\":10,\"dur\":40,\"cat\":\"fiber\","
    "\"name\":\"bad \xff\xfe utf8\",\"args\":{\"fiber\":7,\"name\":\"bad "
    "\xff\xfe utf8\",\"end\":\"yield\"}},\n"
    "{\"ph\":\"X\",\"pid\":1,\"tid\":3,\"ts\":40,\"dur\":40,\"cat\":\"fiber\","
    "\"name\":\"fiber 42\",\"args\":{\"fiber\":42,\"end\":\"exit\"}},\n"
    "{\"ph\":\"X\",\"pid\":1,\"tid\":1000,\"ts\":5,\"dur\":30,\"cat\":\"io\","
    "\"name\":\"read\",\"args\":{\"fd\":5,\"res\":10}},\n"
    "{\"ph\":\"X\",\"pid\":1,\"tid\":1000,\"ts\":10,\"dur\":30,\"cat\":\"io\","
    "\"name\":\"write\",\"args\":{\"fd\":6,\"res\":10}},\n"
    "{\"ph\":\"X\",\"pid\":1,\"tid\":1000,\"ts\":15,\"dur\":30,\"cat\":\"io\","
    "\"name\":\"recv\",\"args\":{\"fd\":7,\"res\":-11}},\n"
    "{\"ph\":\"X\",\"pid\":1,\"tid\":1000,\"ts\":60,\"dur\":10,\"cat\":\"io\","
    "\"name\":\"send\",\"args\":{\"fd\":7,\"res\":4}},\n"
    "{\"ph\":\"X\",\"pid\":1,\"tid\":2000,\"ts\":0,\"dur\":100,\"cat\":"
    "\"span\","
    "\"name\":\"outer\"},\n"
    "{\"ph\":\"X\",\"pid\":1,\"tid\":2000,\"ts\":10,\"dur\":40,\"cat\":"
    "\"span\","
    "\"name\":\"inner 1\"},\n"
    "{\"ph\":\"X\",\"pid\":1,\"tid\":2000,\"ts\":60,\"dur\":30,\"cat\":"
    "\"span\","
    "\"name\":\"inner 2\"},\n"
    "{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":2,\"ts\":9,\"cat\":\"steal\","
    "\"name\":\"steal\",\"args\":{\"from\":0}},\n"
    "{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":2000,\"ts\":55,"
    "\"cat\":\"mark\",\"name\":\"half way\"},\n"
    "{\"ph\":\"s\",\"pid\":1,\"tid\":1,\"ts\":20,\"cat\":\"wake\","
    "\"name\":\"wake\",\"id\":1},\n"
    "{\"ph\":\"f\",\"bp\":\"e\",\"pid\":1,\"tid\":3,\"ts\":40,"
    "\"cat\":\"wake\",\"name\":\"wake\",\"id\":1},\n"
    "{\"ph\":\"s\",\"pid\":1,\"tid\":1000,\"ts\":35,\"cat\":\"wake\","
    "\"name\":\"wake\",\"id\":2},\n"
    "{\"ph\":\"f\",\"bp\":\"e\",\"pid\":1,\"tid\":2,\"ts\":10,"
    "\"cat\":\"wake\",\"name\":\"wake\",\"id\":2},\n"
    "{\"ph\":\"s\",\"pid\":1,\"tid\":2000,\"ts\":50,\"cat\":\"wake\","
    "\"name\":\"wake\",\"id\":\"x3\"},\n"
    "{\"ph\":\"f\",\"bp\":\"e\",\"pid\":1,\"tid\":1,\"ts\":0,"
    "\"cat\":\"wake\",\"name\":\"wake\",\"id\":\"x3\"}\n"
    "]}\n";

#define LANE(c) "//" TT_EL("g") "[@class='lane " c "']"
#define LANES   "//" TT_EL("g") "[starts-with(@class,'lane ')]"
#define SLICES  "/" TT_EL("rect") "[starts-with(@class,'k-')]"

WT_CASE(svg_small)
{
    const char *in = tt_path("small.json"), *out = tt_path("small.svg");
    tt_need_xmllint();
    tt_write(in, small, strlen(small));
    WT_CHECK_EQ(tt_tool(in, "-o", out, NULL, NULL, NULL), 0);
    tt_check_xml(out);
    /* One lane per worker, the idle one included; one I/O, one thread. */
    WT_CHECK_EQ(tt_xpath(out, "count(" LANE("worker") ")"), 4);
    WT_CHECK_EQ(tt_xpath(out, "count(" LANE("io") ")"), 1);
    WT_CHECK_EQ(tt_xpath(out, "count(" LANE("thread") ")"), 1);
    WT_CHECK_EQ(tt_xpath(out, "count(" LANES ")"), 6);
    /* Every slice drawn on its own, with its details on hover. */
    WT_CHECK_EQ(tt_xpath(out, "count(" LANES SLICES ")"), 12);
    WT_CHECK_EQ(tt_xpath(out, "count(" LANES SLICES "/" TT_EL("title") ")"),
                12);
    WT_CHECK_EQ(tt_xpath(out, "count(" LANE("worker") "[4]" SLICES ")"), 0);
    WT_CHECK_EQ(tt_xpath(out, "count(" LANE("io") SLICES ")"), 4);
    WT_CHECK_EQ(tt_xpath(out, "count(//" TT_EL("path") "[@class='st'])"), 2);
    WT_CHECK_EQ(tt_xpath(out, "count(" LANE("thread") "/" TT_EL(
                                  "rect") "[@class='mk'])"),
                1);
    /* The three wake arrows, and nothing merged at this size. */
    WT_CHECK_EQ(tt_xpath(out, "count(//" TT_EL("g") "[@class='flows']/" TT_EL(
                                  "line") ")"),
                3);
    WT_CHECK_EQ(tt_xpath(out, "count(//*[contains(@class,'merged')])"), 0);
    WT_CHECK_EQ(tt_xpath(out, "count(//*[contains(@class,'flows-omitted')])"),
                0);
    WT_CHECK_EQ(tt_xpath(out, "count(/" TT_EL("svg") "[@width='1200'])"), 1);

    char *svg = tt_read(out, NULL);
    /* Three I/O operations overlap: three rows; nested spans: two. */
    WT_CHECK_EQ(distinct_rows(svg, "lane io", "k-io"), 3);
    WT_CHECK_EQ(distinct_rows(svg, "lane thread", "k-span"), 2);
    WT_CHECK_EQ(distinct_rows(svg, "lane worker", "k-fiber"), 1);
    /* Names escaped and invalid UTF-8 replaced. */
    TT_CONTAINS(svg, "<title>&lt;b&gt; &amp; co (fiber 42)\nworker 0: "
                     "30.000 us at 0 ns\nend: park (chan)</title>");
    TT_CONTAINS(svg, "<title>bad \xef\xbf\xbd\xef\xbf\xbd utf8 (fiber 7)");
    TT_CONTAINS(svg, "<title>recv fd 7 res -11\nI/O: 30.000 us at "
                     "15.000 us</title>");
    /* Axis in us (the span is 100 us), with ticks; the dropped caption. */
    TT_CONTAINS(svg, ">0 us</text>");
    TT_CONTAINS(svg, ">100 us</text>");
    TT_CONTAINS(svg, "2 events dropped by the tracer");
    free(svg);

    WT_CHECK_EQ(tt_tool(in, "--width", "2000", "-o", out, NULL), 0);
    tt_check_xml(out);
    WT_CHECK_EQ(tt_xpath(out, "count(/" TT_EL("svg") "[@width='2000'])"), 1);
}

/* A worker's many short slices are merged, a column each at most, and the
 * picture says so. */
WT_CASE(svg_merged)
{
    const char *in = tt_path("m.json"), *out = tt_path("m.svg");
    tt_need_xmllint();
    FILE *f = fopen(in, "w");
    WT_CHECK(f != NULL);
    fprintf(f, "{\"traceEvents\":[");
    /* 20000 slices of 100 ns every 150 ns: 3 ms, ~7 per pixel. */
    for (int i = 0; i < 20000; i++)
        fprintf(f,
                "{\"ph\":\"X\",\"tid\":1,\"ts\":%.3f,\"dur\":0.1,"
                "\"cat\":\"%s\",\"args\":{\"fiber\":%d}},",
                i * 0.15, i % 3 ? "fiber" : "task", i);
    /* A long slice on worker 1, drawn whole. */
    fprintf(f, "{\"ph\":\"X\",\"tid\":2,\"ts\":100,\"dur\":2000,"
               "\"cat\":\"fiber\",\"args\":{\"fiber\":1}}]}");
    WT_CHECK(fclose(f) == 0);
    WT_CHECK_EQ(tt_tool(in, "-o", out, NULL, NULL, NULL), 0);
    tt_check_xml(out);
    long shapes = tt_xpath(out, "count(" LANE("worker") "[1]" SLICES ")");
    WT_CHECK(shapes >= 1 && shapes <= 1200);
    /* Fibers have two thirds of the time in every column: one run. */
    WT_CHECK_EQ(tt_xpath(out, "count(" LANE("worker") "[1]/" TT_EL(
                                  "rect") "[@class='k-fiber m'])"),
                1);
    WT_CHECK_EQ(tt_xpath(out, "count(" LANE("worker") "[2]" SLICES ")"), 1);
    WT_CHECK_EQ(tt_xpath(out, "count(//*[contains(@class,'merged')])"), 1);
    char *svg = tt_read(out, NULL);
    TT_CONTAINS(svg, "20000 slices below one pixel merged into 1 shapes");
    free(svg);
}

/* More than --flows arrows: none drawn, and a caption says so. */
WT_CASE(svg_flows_limit)
{
    const char *in = tt_path("f.json"), *out = tt_path("f.svg");
    tt_need_xmllint();
    FILE *f = fopen(in, "w");
    WT_CHECK(f != NULL);
    fprintf(f, "{\"traceEvents\":[");
    for (int i = 0; i < 2500; i++)
        fprintf(f,
                "{\"ph\":\"s\",\"tid\":1,\"ts\":%d,\"id\":%d},"
                "{\"ph\":\"f\",\"tid\":2,\"ts\":%d,\"id\":%d},",
                i, i, i + 1, i);
    fprintf(f, "{\"ph\":\"f\",\"tid\":2,\"ts\":1,\"id\":99999}]}");
    WT_CHECK(fclose(f) == 0);
    WT_CHECK_EQ(tt_tool(in, "-o", out, NULL, NULL, NULL), 0);
    tt_check_xml(out);
    WT_CHECK_EQ(tt_xpath(out, "count(//" TT_EL("g") "[@class='flows'])"), 0);
    char *svg = tt_read(out, NULL);
    TT_CONTAINS(svg, "2500 wake arrows not drawn (more than 2000)");
    free(svg);
    WT_CHECK_EQ(tt_tool(in, "--flows", "2500", "-o", out, NULL), 0);
    tt_check_xml(out);
    WT_CHECK_EQ(tt_xpath(out, "count(//" TT_EL("g") "[@class='flows']/" TT_EL(
                                  "line") ")"),
                2500);
    WT_CHECK_EQ(tt_tool(in, "--flows", "0", "-o", out, NULL), 0);
    svg = tt_read(out, NULL);
    TT_CONTAINS(svg, "2500 wake arrows not drawn<");
    free(svg);
}

/* The API for pages that embed several pictures. */
WT_CASE(svg_api)
{
    struct wtr_trace *t = tt_load(small);
    struct wtr_svg_opts o;
    memset(&o, 0, sizeof o);
    o.fragment = 1;
    o.id_prefix = "run-2";
    o.title = "A & B";
    const char *out = tt_path("frag.svg");
    FILE *f = fopen(out, "w");
    WT_CHECK(f != NULL);
    WT_CHECK_EQ(wtr_svg(t, f, &o), 0);
    WT_CHECK(fclose(f) == 0);
    char *svg = tt_read(out, NULL);
    WT_CHECK(strncmp(svg, "<svg ", 5) == 0);
    TT_CONTAINS(svg, " id=\"run-2\" ");
    TT_CONTAINS(svg, "url(#run-2-arrow)");
    TT_CONTAINS(svg, ">A &amp; B</text>");
    free(svg);
    if (tt_xmllint())
        tt_check_xml(out);
    f = tmpfile();
    WT_CHECK(f != NULL);
    o.width = 299;
    WT_CHECK_EQ(wtr_svg(t, f, &o), -EINVAL);
    o.width = 0;
    o.id_prefix = "a\"b";
    WT_CHECK_EQ(wtr_svg(t, f, &o), -EINVAL);
    fclose(f);
    wtr_free(t);
}

/* 1,000,000 events: the SVG stays small, says what it merged and left
 * out, and the summary adds up. */
WT_CASE(svg_million)
{
    const char *in = tt_path("big.json"), *out = tt_path("big.svg");
    const long events = 1000000;
    tt_need_xmllint();
    gen_trace(in, events, 8, 30000);
    WT_CHECK_EQ(tt_tool(in, "-o", out, NULL, NULL, NULL), 0);
    size_t len;
    char *svg = tt_read(out, &len);
    printf("1,000,000 events: SVG of %zu bytes\n", len);
    WT_CHECK(len < 3 * 1024 * 1024);
    TT_CONTAINS(svg, " slices below one pixel merged into ");
    TT_CONTAINS(svg, "30000 wake arrows not drawn (more than 2000)");
    TT_CONTAINS(svg, ">1000000 events, 8 workers, span ");
    free(svg);
    tt_check_xml(out);
    WT_CHECK_EQ(tt_xpath(out, "count(" LANE("worker") ")"), 8);
    WT_CHECK_EQ(tt_xpath(out, "count(" LANE("io") ")"), 1);
    WT_CHECK_EQ(tt_xpath(out, "count(" LANE("thread") ")"), 1);

    struct wtr_trace *t;
    struct wtr_stats st;
    char err[256];
    WT_CHECK_EQ(wtr_load(in, &t, err, sizeof err), 0);
    WT_CHECK_EQ(wtr_stats_compute(t, &st), 0);
    WT_CHECK_EQ(st.events, events);
    WT_CHECK_EQ(st.slices + st.instants + 2 * st.flows + st.nworkers, events);
    WT_CHECK_EQ(st.flows, 30000);
    WT_CHECK_EQ(st.nlongest, WTR_LONGEST);
    long switches = 0, steals = 0;
    for (int w = 0; w < st.nworkers; w++) {
        switches += st.workers[w].fiber_slices;
        steals += st.workers[w].steals;
        WT_CHECK(st.workers[w].busy_pct > 0 && st.workers[w].busy_pct < 100);
    }
    WT_CHECK_EQ(steals, st.steals);
    WT_CHECK(switches > events / 2);
    wtr_stats_free(&st);
    wtr_free(t);
    WT_CHECK_EQ(tt_tool(in, NULL, NULL, NULL, NULL, NULL), 0);
}
