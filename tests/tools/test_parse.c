/* SPDX-License-Identifier: MIT */
/*
 * test_tracefile: the trace file reader (tools/trace_model.h) on good and bad
 * input, in process (so that ASan sees the parser) and through the
 * weft-trace program (exit status and message). The summary and SVG cases
 * are in test_summary.c and test_svg.c.
 */
#include "trace_test.h"

static const char good[] =
    "{\"otherData\":{\"weft_trace\":1,\"workers\":2,\"dropped\":0,"
    "\"events\":4},\n"
    "\"traceEvents\":[\n"
    "{\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":1.500,\"dur\":2.250,"
    "\"cat\":\"fiber\",\"name\":\"f\\u00e9 \\ud83d\\ude00\","
    "\"args\":{\"fiber\":3,\"name\":\"n\",\"end\":\"park\","
    "\"reason\":\"chan\"}},\n"
    "{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":2,\"ts\":0.001,"
    "\"cat\":\"steal\",\"name\":\"steal\",\"args\":{\"from\":0}},\n"
    "{\"ph\":\"B\",\"pid\":1,\"tid\":2,\"ts\":0},\n"
    "{\"ph\":\"X\",\"pid\":1,\"tid\":2,\"ts\":0,\"dur\":1e1,"
    "\"cat\":\"idle\",\"name\":\"idle\",\"extra\":[null,true,false,-0.5e-3,"
    "{\"a\":[]},\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]}\n"
    "]}\n";

WT_CASE(load_good)
{
    struct wtr_trace *t = tt_load(good);
    struct wtr_stats st;
    WT_CHECK_EQ(wtr_stats_compute(t, &st), 0);
    WT_CHECK_EQ(st.events, 4);
    WT_CHECK_EQ(st.slices, 2);
    WT_CHECK_EQ(st.instants, 1);
    WT_CHECK_EQ(st.ignored, 1);
    WT_CHECK_EQ(st.nworkers, 2);
    WT_CHECK_EQ(st.t0, 0);
    WT_CHECK_EQ(st.t1, 10000); /* 1e1 us */
    WT_CHECK_EQ(st.workers[0].fiber_ns, 2250);
    WT_CHECK_EQ(st.workers[1].idle_ns, 10000);
    WT_CHECK_EQ(st.steals, 1);
    WT_CHECK_EQ(st.nlongest, 1);
    WT_CHECK_EQ(st.longest[0].ts, 1500);
    WT_CHECK(strcmp(st.longest[0].name, "f\xc3\xa9 \xf0\x9f\x98\x80") == 0);
    WT_CHECK_EQ(st.nreasons, 1);
    WT_CHECK(strcmp(st.parked[0].reason, "chan") == 0);
    WT_CHECK_EQ(st.parked[0].ns, 10000 - 3750); /* to the trace end */
    wtr_stats_free(&st);
    wtr_free(t);
}

/* The bare-array form and an empty trace load too. */
WT_CASE(load_forms)
{
    struct wtr_trace *t = tt_load(
        "[{\"ph\":\"X\",\"tid\":1,\"ts\":5,\"dur\":1,\"cat\":\"task\"}]");
    struct wtr_stats st;
    WT_CHECK_EQ(wtr_stats_compute(t, &st), 0);
    WT_CHECK_EQ(st.slices, 1);
    WT_CHECK_EQ(st.nworkers, 1);
    WT_CHECK_EQ(st.has_other, 0);
    wtr_stats_free(&st);
    wtr_free(t);

    t = tt_load(" {\"traceEvents\" : [ ] } ");
    WT_CHECK_EQ(wtr_stats_compute(t, &st), 0);
    WT_CHECK_EQ(st.events, 0);
    WT_CHECK_EQ(st.nworkers, 0);
    WT_CHECK_EQ(st.t1 - st.t0, 0);
    wtr_stats_free(&st);
    FILE *f = tmpfile();
    WT_CHECK(f != NULL);
    WT_CHECK_EQ(wtr_summary(t, f), 0);
    WT_CHECK_EQ(wtr_svg(t, f, NULL), 0);
    fclose(f);
    wtr_free(t);
}

struct bad {
    const char *text;
    const char *msg; /* expected message after "test.json: " */
};

/* A deep nest of n '[' inside an event's args. */
static char *deep(int n, int closed)
{
    const char *head = "{\"traceEvents\":[{\"ph\":\"X\",\"args\":";
    size_t hl = strlen(head);
    char *s = malloc(hl + 2 * (size_t)n + 8);
    WT_CHECK(s != NULL);
    memcpy(s, head, hl);
    memset(s + hl, '[', (size_t)n);
    size_t l = hl + (size_t)n;
    if (closed) {
        memset(s + l, ']', (size_t)n);
        l += (size_t)n;
        memcpy(s + l, "}]}", 3);
        l += 3;
    }
    s[l] = '\0';
    return s;
}

static const struct bad bads[] = {
    {"", "line 1: empty file"},
    {" \n\n\t", "line 3: empty file"},
    {"{\"traceEvents\":[{\"ph\":\"X\"", "line 1: unexpected end of file"},
    {"{\"traceEvents\":[{\"ph\":\"X", "end of file inside a string"},
    {"{\"traceEvents\":[\n", "line 2: unexpected end of file"},
    {"{\"traceEvents\":{}}",
     "line 1: \"traceEvents\" is an object, an array expected"},
    {"{\"traceEvents\":[1]}", "trace event is a number, an object expected"},
    {"{\"traceEvents\":[{}]}", "trace event without \"ph\""},
    {"{\"traceEvents\":[{\"ph\":5}]}", "\"ph\" is a number, a string"},
    {"{\"traceEvents\":[\n{\"ph\":\"X\",\"tid\":1,\n\"ts\":\"1\",\"dur\":1}]}",
     "line 3: \"ts\" is a string, a number expected"},
    {"{\"traceEvents\":[{\"ph\":\"X\",\"tid\":1,\"ts\":1}]}",
     "missing \"dur\""},
    {"{\"traceEvents\":[{\"ph\":\"X\",\"tid\":1,\"ts\":1,\"dur\":-1}]}",
     "\"dur\" is out of range"},
    {"{\"traceEvents\":[{\"ph\":\"X\",\"tid\":1,\"ts\":1e999,\"dur\":1}]}",
     "\"ts\" is out of range"},
    {"{\"traceEvents\":[{\"ph\":\"X\",\"tid\":1.5,\"ts\":1,\"dur\":1}]}",
     "\"tid\" is not an integer"},
    {"{\"traceEvents\":[{\"ph\":\"X\",\"tid\":1,\"ts\":1,\"dur\":1,"
     "\"args\":[]}]}",
     "\"args\" is an array, an object expected"},
    {"{\"traceEvents\":[{\"ph\":\"X\",\"tid\":1,\"ts\":1,\"dur\":1,"
     "\"cat\":\"fiber\",\"args\":{\"fiber\":\"7\"}}]}",
     "\"args.fiber\" is a string, a number expected"},
    {"{\"traceEvents\":[{\"ph\":\"X\",\"tid\":1,\"ts\":1,\"dur\":1,"
     "\"cat\":\"fiber\",\"args\":{\"end\":1}}]}",
     "\"args.end\" is a number, a string expected"},
    {"{\"traceEvents\":[{\"ph\":\"s\",\"tid\":1,\"ts\":1}]}",
     "flow event without \"id\""},
    {"{\"otherData\":[],\"traceEvents\":[]}",
     "\"otherData\" is an array, an object expected"},
    {"{\"otherData\":{\"dropped\":\"3\"},\"traceEvents\":[]}",
     "\"otherData.dropped\" is a string"},
    {"{}", "no \"traceEvents\" member"},
    {"42", "unexpected '4', a JSON object"},
    {"{\"traceEvents\":[]} x", "unexpected 'x', nothing expected after"},
    {"{\"traceEvents\":[]}{}", "nothing expected after"},
    {"{\"traceEvents\":[tru]}", "a JSON value expected"},
    {"{\"traceEvents\":[nul]}", "a JSON value expected"},
    {"{\"traceEvents\":[{\"a\":01}]}", "',' or '}' expected in an object"},
    {"{\"traceEvents\":[-]}", "a digit expected in a number"},
    {"{\"traceEvents\":[1.]}", "a digit expected after '.'"},
    {"{\"traceEvents\":[1e+]}", "a digit expected in the exponent"},
    {"{\"traceEvents\":[+1]}", "a JSON value expected"},
    {"{\"traceEvents\":[{\"a\":[1,]}]}", "a JSON value expected"},
    {"{\"traceEvents\":[{\"a\" 1}]}", "':' expected"},
    {"{\"traceEvents\":[{1:2}]}", "a member name in quotes expected"},
    {"{\"traceEvents\":[{\"a\":1,}]}", "a member name in quotes expected"},
    {"{\"traceEvents\":[\"\\x\"]}", "bad escape '\\x'"},
    {"{\"traceEvents\":[\"\\u12G4\"]}", "bad \\u escape"},
    {"{\"traceEvents\":[\"\\u12\"]}", "bad \\u escape"},
    {"{\"traceEvents\":[\"\\u0000\"]}", "\\u0000 (NUL)"},
    {"{\"traceEvents\":[\"a\nb\"]}", "line 1: control character 0x0a"},
    {"{\"traceEvents\":[\"\\", "end of file inside a string"},
    {"{\"traceEvents\":[\x01]}", "unexpected byte 0x01"},
    {"\xef\xbb\xbf{}", "unexpected byte 0xef"},
};

WT_CASE(load_errors)
{
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        struct wtr_trace *t = (struct wtr_trace *)1;
        char err[256];
        int rc = wtr_load_mem("test.json", bads[i].text, strlen(bads[i].text),
                              &t, err, sizeof err);
        if (rc != -EINVAL || t != NULL)
            WT_FAIL("case %zu (%s): rc %d", i, bads[i].text, rc);
        if (strncmp(err, "test.json: line ", 16) != 0 ||
            !strstr(err, bads[i].msg))
            WT_FAIL("case %zu: message '%s', wanted '%s'", i, err, bads[i].msg);
    }
    /* A NUL byte inside the text. */
    struct wtr_trace *t;
    char err[256];
    WT_CHECK_EQ(wtr_load_mem("test.json", "{\"traceEvents\":[\0]}", 19, &t, err,
                             sizeof err),
                -EINVAL);
    TT_CONTAINS(err, "unexpected byte 0x00");
    /* A message is truncated to the buffer, and no buffer is fine. */
    WT_CHECK_EQ(wtr_load_mem("test.json", "", 0, &t, err, 12), -EINVAL);
    WT_CHECK_EQ(strlen(err), 11);
    WT_CHECK_EQ(wtr_load_mem("test.json", "", 0, &t, NULL, 0), -EINVAL);
}

/* WTR_MAX_DEPTH levels load; one more is an error, as is a nest deep
 * enough to overflow the stack of a parser without a limit. */
WT_CASE(load_depth)
{
    struct wtr_trace *t;
    char err[256];
    /* The object is level 1, traceEvents 2, the event 3, args 4. */
    char *s = deep(WTR_MAX_DEPTH - 3, 1);
    WT_CHECK_EQ(wtr_load_mem("test.json", s, strlen(s), &t, err, sizeof err),
                -EINVAL);
    TT_CONTAINS(err, "missing \"ts\""); /* nesting fine, event not */
    free(s);
    s = deep(WTR_MAX_DEPTH - 2, 1);
    WT_CHECK_EQ(wtr_load_mem("test.json", s, strlen(s), &t, err, sizeof err),
                -EINVAL);
    TT_CONTAINS(err, "nesting deeper than 64 levels");
    free(s);
    s = deep(1000000, 0);
    WT_CHECK_EQ(wtr_load_mem("test.json", s, strlen(s), &t, err, sizeof err),
                -EINVAL);
    TT_CONTAINS(err, "nesting deeper than 64 levels");
    free(s);
}

/* Every prefix of a good trace is an error, never a crash; so is every
 * flip of one byte that breaks it (the others may load). */
WT_CASE(load_truncated_and_flipped)
{
    size_t len = strlen(good);
    char *buf = malloc(len + 1);
    WT_CHECK(buf != NULL);
    for (size_t n = 0; n < len - 1; n++) {
        struct wtr_trace *t;
        int rc = wtr_load_mem("test.json", good, n, &t, NULL, 0);
        if (rc != -EINVAL)
            WT_FAIL("prefix of %zu bytes: rc %d", n, rc);
    }
    uint64_t seed = wt_seed();
    static const char junk[] = "{}[]\",:\\0123456789eE.-+tfnu \n\x01\xff";
    long loaded = 0;
    for (int i = 0; i < 20000; i++) {
        struct wtr_trace *t;
        memcpy(buf, good, len + 1);
        size_t at = wt_rand(&seed) % len;
        buf[at] = junk[wt_rand(&seed) % (sizeof junk - 1)];
        int rc = wtr_load_mem("test.json", buf, len, &t, NULL, 0);
        WT_CHECK(rc == 0 || rc == -EINVAL);
        if (rc == 0) {
            FILE *f = tmpfile();
            WT_CHECK(f != NULL);
            WT_CHECK_EQ(wtr_summary(t, f), 0);
            WT_CHECK_EQ(wtr_svg(t, f, NULL), 0);
            fclose(f);
            wtr_free(t);
            loaded++;
        }
    }
    WT_CHECK(loaded > 0 && loaded < 20000);
    free(buf);
}

WT_CASE(load_file)
{
    struct wtr_trace *t;
    char err[512];
    const char *p = tt_path("good.json");
    tt_write(p, good, strlen(good));
    WT_CHECK_EQ(wtr_load(p, &t, err, sizeof err), 0);
    wtr_free(t);
    p = tt_path("nonexistent.json");
    WT_CHECK_EQ(wtr_load(p, &t, err, sizeof err), -ENOENT);
    WT_CHECK(t == NULL);
    TT_CONTAINS(err, "nonexistent.json: No such file or directory");
    WT_CHECK_EQ(wtr_load(tt_path(""), &t, err, sizeof err), -EISDIR);
}

/* The program: exit 1 and "weft-trace: FILE: line L: ..." on a bad file,
 * 2 on bad usage, and a man page for --help. */
WT_CASE(cli_errors)
{
    const char *p = tt_path("bad.json");
    char want[600];
    char *e;
    tt_write(p, "{\"traceEvents\":[\n{\"ph\":\"X\",", 27);
    WT_CHECK_EQ(tt_tool(p, NULL, NULL, NULL, NULL, NULL), 1);
    e = tt_read(tt_path("err.txt"), NULL);
    snprintf(want, sizeof want,
             "weft-trace: %s: line 2: unexpected end of "
             "file",
             p);
    if (strncmp(e, want, strlen(want)) != 0)
        WT_FAIL("stderr '%s', wanted '%s...'", e, want);
    free(e);
    WT_CHECK_EQ(tt_tool(p, "-o", tt_path("bad.svg"), NULL, NULL, NULL), 1);

    tt_write(p, "", 0);
    WT_CHECK_EQ(tt_tool(p, NULL, NULL, NULL, NULL, NULL), 1);
    e = tt_read(tt_path("err.txt"), NULL);
    TT_CONTAINS(e, ": line 1: empty file");
    free(e);

    char *d = deep(200000, 0);
    tt_write(p, d, strlen(d));
    free(d);
    WT_CHECK_EQ(tt_tool(p, "-o", tt_path("bad.svg"), NULL, NULL, NULL), 1);
    e = tt_read(tt_path("err.txt"), NULL);
    TT_CONTAINS(e, "nesting deeper than 64 levels");
    free(e);

    WT_CHECK_EQ(tt_tool(tt_path("none.json"), NULL, NULL, NULL, NULL, NULL), 1);
    e = tt_read(tt_path("err.txt"), NULL);
    TT_CONTAINS(e, "No such file or directory");
    free(e);

    p = tt_path("good.json");
    tt_write(p, good, strlen(good));
    WT_CHECK_EQ(tt_tool(p, NULL, NULL, NULL, NULL, NULL), 0);
    e = tt_read(tt_path("out.txt"), NULL);
    /* good says 4 events and holds 4; the summary notes a difference. */
    WT_CHECK(strstr(e, "otherData says") == NULL);
    free(e);
    WT_CHECK_EQ(tt_tool(NULL, NULL, NULL, NULL, NULL, NULL), 2);
    WT_CHECK_EQ(tt_tool("--bogus", p, NULL, NULL, NULL, NULL), 2);
    WT_CHECK_EQ(tt_tool(p, p, NULL, NULL, NULL, NULL), 2);
    WT_CHECK_EQ(tt_tool(p, "-o", NULL, NULL, NULL, NULL), 2);
    WT_CHECK_EQ(tt_tool(p, "--width", "299", "-o", "x.svg", NULL), 2);
    WT_CHECK_EQ(tt_tool(p, "--width", "12x", "-o", "x.svg", NULL), 2);
    e = tt_read(tt_path("err.txt"), NULL);
    TT_CONTAINS(e, "--width wants an integer from 300 to 100000, not '12x'");
    free(e);
    /* Digits only, as weft's other programs (tools/numarg.h): strtol's
     * blanks and signs were taken in front, not behind. */
    WT_CHECK_EQ(tt_tool(p, "--width", " 400", "-o", "x.svg", NULL), 2);
    WT_CHECK_EQ(tt_tool(p, "--width", "+400", "-o", "x.svg", NULL), 2);
    WT_CHECK_EQ(tt_tool(p, "--flows", "\t5", "-o", "x.svg", NULL), 2);
    /* An output that cannot be written. */
    WT_CHECK_EQ(tt_tool(p, "-o", "/nonexistent/dir/x.svg", NULL, NULL, NULL),
                1);
    e = tt_read(tt_path("err.txt"), NULL);
    TT_CONTAINS(e, "weft-trace: /nonexistent/dir/x.svg: No such file");
    free(e);
}

WT_CASE(cli_help)
{
    WT_CHECK_EQ(tt_tool("--help", NULL, NULL, NULL, NULL, NULL), 0);
    char *o = tt_read(tt_path("out.txt"), NULL);
    const char *sections[] = {"NAME\n",    "SYNOPSIS\n",    "DESCRIPTION\n",
                              "OPTIONS\n", "EXIT STATUS\n", "EXAMPLES\n"};
    const char *prev = o;
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        const char *at = strstr(o, sections[i]);
        WT_CHECK(at != NULL && at >= prev);
        prev = at;
    }
    TT_CONTAINS(o, "--width PX");
    free(o);
}

WT_MAIN()
